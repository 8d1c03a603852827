"""Every environment variable the deployment files give the service is one it reads, with a value it accepts.

The service ignores unknown variables (so a typo like `DRAIN_TIMOUT_S` would silently keep the default)
and validates values only when it starts; this test loads what docker-compose, the kustomize renders
and the Dockerfile set and passes it through the service's real `Settings`, so neither kind of
mistake reaches a cluster. It also checks the routes the manifests probe exist in the real app.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Iterator, Mapping
from typing import Any
from unittest import mock

import pytest
from pydantic import ValidationError

from service.api.native import router
from service.settings import Settings
from tests.deploy_helpers import (
    K8S,
    LIVENESS_PATH,
    METRICS_PATH,
    READINESS_PATH,
    ROOT,
    dockerfile_stages,
    env_file,
    load_yaml,
    render,
)

# The only variables our images set that are not service settings: the shell's, the interpreter's, apt's.
NOT_SERVICE_SETTINGS = frozenset({"PATH", "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED"})
SERVICE_IMAGE = "nmt-translate:"
DOCUMENTATION = ROOT / "docs" / "configuration.md"

Resource = dict[str, Any]


def service_settings(env: Mapping[str, str]) -> Settings:
    """The Settings the service would build in a process whose environment holds `env` (and no other
    service variable from the test's own environment). Raises ValueError for an unknown name."""
    unknown = sorted(name for name in env if name.lower() not in Settings.model_fields)
    if unknown:
        raise ValueError(f"not service settings (see service/settings.py): {unknown}")
    outside = {name: value for name, value in os.environ.items() if name.lower() not in Settings.model_fields}
    with mock.patch.dict(os.environ, {**outside, **env}, clear=True):
        return Settings()


def compose_environment(entries: Any) -> dict[str, str]:
    """A compose `environment:` block, as a mapping or as a list of KEY=VALUE strings."""
    if isinstance(entries, list):
        return dict(entry.split("=", 1) for entry in entries)
    return {key: "" if value is None else str(value) for key, value in (entries or {}).items()}


def compose_sources() -> dict[str, dict[str, str]]:
    """Per API service of docker-compose.yml: its env files, overridden by its `environment` (compose's order)."""
    compose = load_yaml(ROOT / "docker-compose.yml")
    sources = {}
    for name, service in compose["services"].items():
        if not str(service.get("image", "")).startswith(SERVICE_IMAGE):
            continue
        env: dict[str, str] = {}
        for entry in service.get("env_file", []):
            env |= env_file(ROOT / (entry["path"] if isinstance(entry, dict) else entry))
        env |= compose_environment(service.get("environment"))
        assert not any("${" in value for value in env.values()), f"{name}: interpolation is not resolved here"
        sources[f"docker-compose.yml:{name}"] = env
    return sources


def k8s_api_containers() -> Iterator[tuple[str, Resource, dict[str, dict[str, str]]]]:
    """Per kustomization and API container: where it is, the container, and the rendered ConfigMaps' data."""
    kustomizations = [K8S / "base", *sorted(p for p in (K8S / "overlays").iterdir() if p.is_dir())]
    for directory in kustomizations:
        resources = render(directory)
        config_maps = {r["metadata"]["name"]: r.get("data", {}) for r in resources if r["kind"] == "ConfigMap"}
        for deployment in (r for r in resources if r["kind"] == "Deployment"):
            for container in deployment["spec"]["template"]["spec"]["containers"]:
                if container["image"].startswith(SERVICE_IMAGE):
                    where = f"{directory.relative_to(ROOT)}:{deployment['metadata']['name']}/{container['name']}"
                    yield where, container, config_maps


def k8s_sources() -> dict[str, dict[str, str]]:
    """Per kustomization and API container: its envFrom ConfigMaps, overridden by its literal `env`.

    Variables from a Secret (`valueFrom.secretKeyRef`, e.g. API_KEYS) have no value in the repo to check:
    they are left out here and checked by name in test_secret_variables_are_documented_service_settings."""
    sources = {}
    for where, container, config_maps in k8s_api_containers():
        env: dict[str, str] = {}
        for source in container.get("envFrom", []):
            assert set(source) == {"configMapRef"}, f"{where}: only ConfigMaps are checked here"
            env |= config_maps[source["configMapRef"]["name"]]
        for variable in container.get("env", []):
            if set(variable.get("valueFrom", {})) == {"secretKeyRef"}:
                env.pop(variable["name"], None)  # `env` overrides envFrom: the ConfigMap's value is not used
                continue
            assert "value" in variable, f"{where}: {variable['name']} has no literal value to check"
            env[variable["name"]] = variable["value"]
        sources[where] = env
    return sources


def k8s_secret_variables() -> dict[str, set[str]]:
    """Per kustomization and API container: the names of the variables it reads from a Secret."""
    return {
        where: {v["name"] for v in container.get("env", []) if "secretKeyRef" in v.get("valueFrom", {})}
        for where, container, _ in k8s_api_containers()
    }


def dockerfile_sources() -> dict[str, dict[str, str]]:
    """Per runtime stage of the Dockerfile: its ENV settings, NOT_SERVICE_SETTINGS left out."""
    sources = {}
    for stage, body in dockerfile_stages((ROOT / "Dockerfile").read_text()).items():
        if stage not in ("cpu", "gpu"):
            continue
        env: dict[str, str] = {}
        for instruction in re.findall(r"^ENV\s+((?:.*\\\n)*.*)$", body, flags=re.MULTILINE):
            for pair in shlex.split(instruction.replace("\\\n", " ")):
                name, equals, value = pair.partition("=")
                assert equals, f"Dockerfile {stage}: use ENV KEY=VALUE ({pair})"
                env[name] = value
        sources[f"Dockerfile:{stage}"] = {k: v for k, v in env.items() if k not in NOT_SERVICE_SETTINGS}
    return sources


LOADERS = {"compose": compose_sources, "k8s": k8s_sources, "dockerfile": dockerfile_sources}
EXPECTED_SOURCES = {
    "compose": {"docker-compose.yml:api", "docker-compose.yml:api-cpu"},
    "k8s": {f"deploy/k8s/{kustomization}:nmt-api/api" for kustomization in ("base", "overlays/cpu", "overlays/gpu")},
    "dockerfile": {"Dockerfile:cpu", "Dockerfile:gpu"},
}


@pytest.mark.parametrize("kind", list(LOADERS))
def test_deployment_env_is_valid_service_settings(kind: str) -> None:
    sources = LOADERS[kind]()
    assert set(sources) >= EXPECTED_SOURCES[kind], "an API service or container is no longer recognised"
    documented = DOCUMENTATION.read_text()
    for where, env in sources.items():
        assert env, f"{where} sets no service settings"
        try:
            settings = service_settings(env)
        except ValueError as error:  # pydantic's ValidationError is a ValueError
            pytest.fail(f"{where}: {error}")
        for name, value in env.items():
            assert name == name.upper(), f"{where}: {name} (the documented names are upper case)"
            assert f"| `{name}` |" in documented, f"{where}: {name} is not in docs/configuration.md"
            parsed = getattr(settings, name.lower())  # the value reached its field, not a default
            assert str(parsed) == value or parsed == type(parsed)(value), f"{where}: {name}={value!r} -> {parsed!r}"


def test_secret_variables_are_documented_service_settings() -> None:
    secrets = k8s_secret_variables()
    assert set(secrets) >= EXPECTED_SOURCES["k8s"], "an API container is no longer recognised"
    documented = DOCUMENTATION.read_text()
    for where, names in secrets.items():
        for name in names:
            assert name == name.upper() and name.lower() in Settings.model_fields, f"{where}: {name}"
            assert f"| `{name}` |" in documented, f"{where}: {name} is not in docs/configuration.md"


def test_the_check_rejects_a_misspelt_name() -> None:
    with pytest.raises(ValueError, match="DRAIN_TIMOUT_S"):
        service_settings({"DRAIN_TIMOUT_S": "20"})


@pytest.mark.parametrize(
    ("name", "value"),
    [("DEVICE", "gpu"), ("PORT", "80a"), ("PORT", "70000"), ("BATCHING_MODE", "dynamic"), ("DRAIN_TIMEOUT_S", "-1")],
)
def test_the_check_rejects_a_bad_value(name: str, value: str) -> None:
    with pytest.raises(ValidationError):
        service_settings({name: value})


def test_the_check_ignores_the_test_runners_own_service_variables() -> None:
    with mock.patch.dict(os.environ, {"DEVICE": "gpu", "PORT": "1"}):
        settings = service_settings({"HOST": "0.0.0.0"})
    assert (settings.device, settings.port) == ("auto", 8000)


def test_probed_and_scraped_paths_are_routes_of_the_service() -> None:
    routes: dict[str | None, set[str]] = {
        getattr(route, "path", None): getattr(route, "methods", set()) for route in router.routes
    }
    for path in (LIVENESS_PATH, READINESS_PATH, METRICS_PATH):
        assert "GET" in routes.get(path, set()), path
