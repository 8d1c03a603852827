"""docker-compose.yml, its Prometheus config and the Grafana dashboard, validated offline."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy_helpers import (
    COMPOSE_DIR,
    DEFAULT_DRAIN_TIMEOUT_S,
    DRAIN_EXIT_MARGIN_S,
    HISTOGRAMS,
    METRIC_NAMES,
    METRICS_PATH,
    ROOT,
    SERVICE_PORT,
    env_file,
    load_yaml,
    tool,
)

COMPOSE_FILE = ROOT / "docker-compose.yml"
DASHBOARD = COMPOSE_DIR / "grafana" / "dashboards" / "nmt.json"
DATASOURCES = COMPOSE_DIR / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
DASHBOARD_PROVIDERS = COMPOSE_DIR / "grafana" / "provisioning" / "dashboards" / "nmt.yml"


def check_compose_schema(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = load_yaml(COMPOSE_FILE)
    assert isinstance(data, dict)
    return data


class UnsetVariableError(ValueError):
    """A `${VAR:?message}` (or `${VAR?message}`) whose variable is unset: compose refuses the file."""


INTERPOLATION = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?)([-?])([^}]*))?\}")


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's variable substitution: ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?err}, ${VAR?err}, $$.

    With the colon, an empty variable counts as unset (compose's rule)."""

    def substitute(match: re.Match[str]) -> str:
        name, colon, operator, argument = match.groups()
        if name is None:
            return "$"
        value = env.get(name)
        unset = value is None or (colon == ":" and value == "")
        if operator == "-" and unset:
            return str(argument)
        if operator == "?" and unset:
            raise UnsetVariableError(f"{name}: {argument}")
        return value or ""

    return INTERPOLATION.sub(substitute, text)


def host_ip(port: str | int | dict[str, Any], env: dict[str, str]) -> str | None:
    """The host address a `ports:` entry publishes on (short or long syntax); None means every interface."""
    if isinstance(port, dict):
        address = port.get("host_ip")
        return None if address is None else interpolate(str(address), env)
    spec = interpolate(str(port), env).split("/")[0]
    if spec.startswith("["):  # [::1]:8000:8000
        return spec[1 : spec.index("]")]
    parts = spec.split(":")
    return parts[0] if len(parts) == 3 else None


def published_ports(compose: dict[str, Any]) -> list[tuple[str, str | int | dict[str, Any]]]:
    return [(name, port) for name, service in compose["services"].items() for port in service.get("ports", [])]


def seconds(duration: str) -> float:
    match = re.fullmatch(r"(\d+)(ms|s|m)", duration)
    assert match, duration
    return int(match.group(1)) * {"ms": 0.001, "s": 1, "m": 60}[match.group(2)]


def test_compose_file_matches_the_compose_spec() -> None:
    done = check_compose_schema(COMPOSE_FILE)
    assert done.returncode == 0, done.stdout + done.stderr


def test_compose_spec_check_rejects_an_unknown_service_key(tmp_path: Path, compose: dict[str, Any]) -> None:
    broken = json.loads(json.dumps(compose))
    broken["services"]["redis"]["restart_policy"] = "always"  # not a compose key
    bad = tmp_path / "docker-compose.yml"
    bad.write_text(yaml.safe_dump(broken))
    assert check_compose_schema(bad).returncode != 0


def test_gpu_api_reserves_an_nvidia_gpu(compose: dict[str, Any]) -> None:
    api = compose["services"]["api"]
    assert api["build"]["target"] == "gpu"
    devices = api["deploy"]["resources"]["reservations"]["devices"]
    assert any(d.get("driver") == "nvidia" and "gpu" in d.get("capabilities", []) for d in devices)
    assert api["environment"]["DEVICE"] == "cuda"


def test_cpu_variant_is_a_profile_that_answers_as_api(compose: dict[str, Any]) -> None:
    cpu = compose["services"]["api-cpu"]
    assert cpu["build"]["target"] == "cpu"
    assert "cpu" in cpu["profiles"] and "gpu" in compose["services"]["api"]["profiles"]
    assert "api" in cpu["networks"]["default"]["aliases"]
    assert "deploy" not in cpu
    assert cpu["environment"]["DEVICE"] == "cpu"


@pytest.mark.parametrize("name", ["api", "api-cpu"])
def test_api_services_wire_port_redis_models_and_drain(compose: dict[str, Any], name: str) -> None:
    api = compose["services"][name]
    assert any(str(p).endswith(f":{SERVICE_PORT}") for p in api["ports"])
    assert api["environment"]["REDIS_URL"].startswith("redis://redis:6379")
    assert api["depends_on"]["redis"]["condition"] == "service_healthy"
    assert any(v.split(":")[1] == "/app/models" for v in api["volumes"])
    settings: dict[str, str] = {}
    for entry in api["env_file"]:
        settings |= env_file(ROOT / entry["path"])
    assert settings["PORT"] == str(SERVICE_PORT) and settings["HOST"] == "0.0.0.0"
    drain = int(settings.get("DRAIN_TIMEOUT_S", DEFAULT_DRAIN_TIMEOUT_S))
    assert seconds(api["stop_grace_period"]) >= drain + DRAIN_EXIT_MARGIN_S


def test_redis_is_an_lru_cache_without_persistence(compose: dict[str, Any]) -> None:
    command = compose["services"]["redis"]["command"]
    flags = dict(zip(command[1::2], command[2::2], strict=True))
    assert flags["--save"] == "" and flags["--appendonly"] == "no"
    assert flags["--maxmemory-policy"] == "allkeys-lru"
    assert re.fullmatch(r"\d+[kmg]b", flags["--maxmemory"])
    assert "volumes" not in compose["services"]["redis"]


def test_bind_mounted_files_exist(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./") and source != "./models":
                assert (ROOT / source).exists(), f"{name}: {source}"


@pytest.mark.parametrize("env", [{}, {"API_PORT": "18000", "PROMETHEUS_PORT": "19090", "GRAFANA_PORT": "13000"}])
def test_every_published_port_is_bound_to_localhost(compose: dict[str, Any], env: dict[str, str]) -> None:
    ports = published_ports(compose)
    assert {name for name, _ in ports} == {"api", "api-cpu", "prometheus", "grafana"}
    for name, port in ports:
        assert host_ip(port, env) == "127.0.0.1", f"{name}: {port} is published on every interface"
    assert "ports" not in compose["services"]["redis"], "Redis is reached on the compose network only"


@pytest.mark.parametrize(
    ("port", "address"),
    [
        ("${API_PORT:-8000}:8000", None),
        ("8000", None),
        ("0.0.0.0:${API_PORT:-8000}:8000", "0.0.0.0"),
        ("127.0.0.1:${API_PORT:-8000}:8000/tcp", "127.0.0.1"),
        ("[::1]:8000:8000", "::1"),
        ({"target": 8000, "published": "8000"}, None),
        ({"target": 8000, "published": "8000", "host_ip": "127.0.0.1"}, "127.0.0.1"),
    ],
)
def test_host_ip_tells_a_localhost_bind_from_an_open_one(port: str | dict[str, Any], address: str | None) -> None:
    assert host_ip(port, {}) == address


def test_interpolation_follows_compose_rules() -> None:
    assert interpolate("${A:-d}/${A-d}/$${A}", {}) == "d/d/${A}"
    assert interpolate("${A:-d}/${A-d}", {"A": ""}) == "d/"
    assert interpolate("${A:?need A}", {"A": "x"}) == "x"
    assert interpolate("${A?need A}", {"A": ""}) == ""
    with pytest.raises(UnsetVariableError, match="need A"):
        interpolate("${A:?need A}", {"A": ""})


def test_grafana_has_no_default_password_and_no_anonymous_access(compose: dict[str, Any]) -> None:
    environment = compose["services"]["grafana"]["environment"]
    assert isinstance(environment, dict), "a mapping, so each setting is read by name"
    password = str(environment["GF_SECURITY_ADMIN_PASSWORD"])
    for unset in ({}, {"GRAFANA_ADMIN_PASSWORD": ""}):
        with pytest.raises(UnsetVariableError):
            interpolate(password, unset)
    assert interpolate(password, {"GRAFANA_ADMIN_PASSWORD": "pw-from-the-operator"}) == "pw-from-the-operator"
    assert str(environment["GF_AUTH_ANONYMOUS_ENABLED"]).lower() == "false"
    assert not [k for k in environment if k.startswith("GF_AUTH_ANONYMOUS_") and k != "GF_AUTH_ANONYMOUS_ENABLED"]
    # Nothing mounted into Grafana turns anonymous access back on (grafana.ini, provisioning files).
    mounted = [ROOT / v.split(":")[0] for v in compose["services"]["grafana"]["volumes"]]
    for path in (f for m in mounted for f in ([m] if m.is_file() else m.rglob("*")) if f.is_file()):
        assert "anonymous" not in path.read_text().lower(), path


def test_prometheus_scrapes_the_api(compose: dict[str, Any]) -> None:
    mounted = [v for v in compose["services"]["prometheus"]["volumes"] if v.endswith("/prometheus.yml:ro")]
    assert mounted, "prometheus.yml is mounted"
    config = load_yaml(ROOT / mounted[0].split(":")[0])
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    api = jobs["nmt-api"]
    assert api.get("metrics_path", "/metrics") == METRICS_PATH
    targets = [t for group in api["static_configs"] for t in group["targets"]]
    assert f"api:{SERVICE_PORT}" in targets


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    data = json.loads(DASHBOARD.read_text())
    assert isinstance(data, dict)
    return data


def expressions(dashboard: dict[str, Any]) -> list[str]:
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


def metric_names(expr: str) -> set[str]:
    names = set()
    for token in re.findall(r"\bnmt_[a-z_]+", expr):
        base = re.sub(r"_(bucket|sum|count)$", "", token)
        names.add(base if base in HISTOGRAMS else token)
    return names


def test_dashboard_only_uses_metrics_the_service_exports(dashboard: dict[str, Any]) -> None:
    used = set().union(*(metric_names(e) for e in expressions(dashboard)))
    assert used, "the dashboard queries nmt_* metrics"
    assert used <= METRIC_NAMES, used - METRIC_NAMES
    for expr in expressions(dashboard):
        for token in re.findall(r"\b(nmt_[a-z_]+)_(?:bucket|sum|count)\b", expr):
            assert token in HISTOGRAMS, f"{token} is not a histogram: {expr}"


def test_metric_name_check_catches_a_typo() -> None:
    assert metric_names("rate(nmt_request_total[1m])") - METRIC_NAMES == {"nmt_request_total"}


@pytest.mark.parametrize(
    ("topic", "needle"),
    [
        ("request rate", "rate(nmt_requests_total"),
        ("latency percentiles", "nmt_request_duration_seconds_bucket"),
        ("batch occupancy", "nmt_batch_rows"),
        ("cache hit ratio", "nmt_cache_misses_total"),
        ("queue depth", "nmt_queue_depth"),
        ("execution provider", "provider"),
    ],
)
def test_dashboard_covers(dashboard: dict[str, Any], topic: str, needle: str) -> None:
    assert any(needle in expr for expr in expressions(dashboard)), topic


def test_latency_panel_has_three_percentiles(dashboard: dict[str, Any]) -> None:
    quantiles = {
        q
        for expr in expressions(dashboard)
        if "nmt_request_duration_seconds_bucket" in expr
        for q in re.findall(r"histogram_quantile\((0\.\d+)", expr)
    }
    assert {"0.5", "0.95", "0.99"} <= quantiles


def test_provider_comes_from_model_info(dashboard: dict[str, Any]) -> None:
    assert any("nmt_model_info" in e and "provider" in e for e in expressions(dashboard))


def test_dashboard_uses_the_provisioned_datasource(dashboard: dict[str, Any]) -> None:
    datasources = load_yaml(DATASOURCES)["datasources"]
    uids = {d["uid"] for d in datasources}
    assert any(d["url"] == "http://prometheus:9090" for d in datasources)
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] in uids, panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] in uids


def test_dashboard_provider_points_at_the_mounted_folder(compose: dict[str, Any]) -> None:
    path = load_yaml(DASHBOARD_PROVIDERS)["providers"][0]["options"]["path"]
    mounts = {}
    for volume in compose["services"]["grafana"]["volumes"]:
        host, container = volume.split(":")[:2]
        mounts[container] = (ROOT / host).resolve()
    assert mounts[path] == DASHBOARD.parent.resolve()
    assert mounts["/etc/grafana/provisioning"] == DATASOURCES.parent.parent.resolve()
    ids = [panel["id"] for panel in json.loads(DASHBOARD.read_text())["panels"]]
    assert len(ids) == len(set(ids))
