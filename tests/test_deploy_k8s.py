"""Each kustomize overlay renders with a real kustomize and validates strictly; the manifests agree
with the service's contract (port, probes, drain) and with each other (selectors, names)."""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate.utils as kv
import pytest

from tests.deploy_helpers import (
    DEFAULT_DRAIN_TIMEOUT_S,
    DRAIN_EXIT_MARGIN_S,
    K8S,
    KUBERNETES_VERSIONS,
    LIVENESS_PATH,
    METRICS_PATH,
    READINESS_PATH,
    ROOT,
    SCHEMAS,
    SERVICE_PORT,
    load_yaml,
    load_yaml_all,
    render,
)

OVERLAYS = ("gpu", "cpu")
# Custom resources have no schema in kubernetes-validate (it warns and passes them): each one
# we ship is validated against a schema transcribed from its CRD instead, never skipped.
CRD_SCHEMAS = {("monitoring.coreos.com/v1", "ServiceMonitor"): SCHEMAS / "servicemonitor-monitoring-v1.json"}
EXPECTED = {
    ("ConfigMap", "nmt-config"),
    ("Deployment", "nmt-api"),
    ("Service", "nmt-api"),
    ("HorizontalPodAutoscaler", "nmt-api"),
    ("PodDisruptionBudget", "nmt-api"),
    ("ServiceMonitor", "nmt-api"),
    ("Deployment", "nmt-redis"),
    ("Service", "nmt-redis"),
    ("NetworkPolicy", "nmt-redis"),
}
# API keys are credentials: the api container reads them from this Secret, which the operator creates
# (docs/deploy.md); optional, so a cluster without keys still starts the pods, with the API open.
API_KEYS_SECRET_REF = {"name": "nmt-api-keys", "key": "API_KEYS", "optional": True}

Resource = dict[str, Any]


def validate_strictly(resource: Resource) -> None:
    """kubernetes-validate --strict for built-in kinds at every version; CRD schemas for the rest."""
    key = (resource["apiVersion"], resource["kind"])
    if key in CRD_SCHEMAS:
        schema = json.loads(CRD_SCHEMAS[key].read_text())
        jsonschema.Draft202012Validator(schema).validate(resource)
        return
    for version in KUBERNETES_VERSIONS:
        try:
            kv.validate(resource, version, strict=True)
        except kv.SchemaNotFoundError as missing:
            pytest.fail(f"no schema for {key} at {version}: add its CRD schema to CRD_SCHEMAS ({missing.message})")
        except kv.ValidationError as error:
            where = ".".join(str(p) for p in error.path)
            pytest.fail(f"{resource['kind']}/{resource['metadata']['name']} at {version}: {where}: {error.message}")


@pytest.fixture(scope="module", params=OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> tuple[str, list[Resource]]:
    return request.param, render(K8S / "overlays" / request.param)


def find(resources: list[Resource], kind: str, name: str) -> Resource:
    matches = [r for r in resources if r["kind"] == kind and r["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name}: {len(matches)} found"
    return matches[0]


def api_container(resources: list[Resource]) -> Resource:
    containers = find(resources, "Deployment", "nmt-api")["spec"]["template"]["spec"]["containers"]
    return next(c for c in containers if c["name"] == "api")


def config(resources: list[Resource]) -> dict[str, str]:
    data = find(resources, "ConfigMap", "nmt-config")["data"]
    assert isinstance(data, dict)
    return data


def port_number(container: Resource, port: int | str) -> int:
    if isinstance(port, int):
        return port
    return next(int(p["containerPort"]) for p in container["ports"] if p["name"] == port)


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    assert not selector.get("matchExpressions"), "only matchLabels selectors are used here"
    return bool(selector["matchLabels"]) and selector["matchLabels"].items() <= labels.items()


# -- rendering and schema validation ---------------------------------------------------------


def test_overlay_renders_every_expected_resource(overlay: tuple[str, list[Resource]]) -> None:
    _, resources = overlay
    assert {(r["kind"], r["metadata"]["name"]) for r in resources} == EXPECTED


def test_rendered_overlay_validates_strictly(overlay: tuple[str, list[Resource]]) -> None:
    for resource in overlay[1]:
        validate_strictly(resource)


def test_strict_validation_rejects_unknown_fields(overlay: tuple[str, list[Resource]]) -> None:
    _, resources = overlay
    deployment = copy.deepcopy(find(resources, "Deployment", "nmt-api"))
    deployment["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(pytest.fail.Exception, match="readinesProbe"):
        validate_strictly(deployment)
    monitor = copy.deepcopy(find(resources, "ServiceMonitor", "nmt-api"))
    monitor["spec"]["endpoints"][0]["scrape_interval"] = "15s"
    with pytest.raises(jsonschema.ValidationError):
        validate_strictly(monitor)


def test_the_gfd_node_selector_is_an_optional_patch(tmp_path: Path) -> None:
    shutil.copy(K8S / "optional" / "gpu-node-selector.yaml", tmp_path)
    base = os.path.relpath(K8S / "overlays" / "gpu", tmp_path)
    (tmp_path / "kustomization.yaml").write_text(
        f"resources:\n  - {base}\npatches:\n  - path: gpu-node-selector.yaml\n"
    )
    pod = find(render(tmp_path), "Deployment", "nmt-api")["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}


def test_no_kustomization_uses_deprecated_fields() -> None:
    for path in K8S.rglob("kustomization.yaml"):
        assert not {"bases", "patchesStrategicMerge", "patchesJson6902"} & set(load_yaml(path)), path


@pytest.mark.parametrize("name", ["ingress.yaml", "hpa-queue-depth.yaml"])
def test_optional_manifests_validate_strictly(name: str) -> None:
    for resource in load_yaml_all(K8S / "optional" / name):
        validate_strictly(resource)


def test_queue_depth_hpa_patches_an_overlay(tmp_path: Path) -> None:
    """The documented use of hpa-queue-depth.yaml: a patch in an overlay built on gpu."""
    shutil.copy(K8S / "optional" / "hpa-queue-depth.yaml", tmp_path)
    base = os.path.relpath(K8S / "overlays" / "gpu", tmp_path)
    (tmp_path / "kustomization.yaml").write_text(f"resources:\n  - {base}\npatches:\n  - path: hpa-queue-depth.yaml\n")
    resources = render(tmp_path)
    hpa = find(resources, "HorizontalPodAutoscaler", "nmt-api")
    validate_strictly(hpa)
    pods = [m["pods"]["metric"]["name"] for m in hpa["spec"]["metrics"] if m["type"] == "Pods"]
    assert pods == ["nmt_queue_depth"]
    assert any(m["type"] == "Resource" for m in hpa["spec"]["metrics"])
    adapter = load_yaml(K8S / "optional" / "prometheus-adapter-values.yaml")
    published = {rule["name"]["as"] for rule in adapter["rules"]["custom"]}
    assert "nmt_queue_depth" in published
    assert all("nmt_queue_depth" in rule["seriesQuery"] for rule in adapter["rules"]["custom"])


# -- agreement with the service ----------------------------------------------------------------


def test_probes_hit_the_service_health_routes_on_its_port(overlay: tuple[str, list[Resource]]) -> None:
    _, resources = overlay
    api = api_container(resources)
    assert port_number(api, "http") == SERVICE_PORT == int(config(resources)["PORT"])
    assert config(resources)["HOST"] == "0.0.0.0"
    expected = {"startupProbe": LIVENESS_PATH, "readinessProbe": READINESS_PATH, "livenessProbe": LIVENESS_PATH}
    for probe, path in expected.items():
        http = api[probe]["httpGet"]
        assert http["path"] == path, probe
        assert port_number(api, http["port"]) == SERVICE_PORT, probe


def test_grace_period_covers_prestop_and_drain(overlay: tuple[str, list[Resource]]) -> None:
    _, resources = overlay
    pod = find(resources, "Deployment", "nmt-api")["spec"]["template"]["spec"]
    command = api_container(resources)["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    pre_stop = int(command[1])
    drain = int(config(resources).get("DRAIN_TIMEOUT_S", DEFAULT_DRAIN_TIMEOUT_S))
    assert pre_stop > 0
    assert pod["terminationGracePeriodSeconds"] >= pre_stop + drain + DRAIN_EXIT_MARGIN_S


def test_api_pod_is_locked_down(overlay: tuple[str, list[Resource]]) -> None:
    _, resources = overlay
    pod = find(resources, "Deployment", "nmt-api")["spec"]["template"]["spec"]
    api = api_container(resources)
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
    assert api["securityContext"]["readOnlyRootFilesystem"] is True
    assert api["securityContext"]["allowPrivilegeEscalation"] is False
    tmp = next(m for m in api["volumeMounts"] if m["mountPath"] == "/tmp")
    volume = next(v for v in pod["volumes"] if v["name"] == tmp["name"])
    assert "emptyDir" in volume
    for key in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(api["resources"][key]), key


def test_settings_come_from_the_configmap(overlay: tuple[str, list[Resource]]) -> None:
    _, resources = overlay
    refs = [e["configMapRef"]["name"] for e in api_container(resources)["envFrom"]]
    assert refs == ["nmt-config"]
    assert config(resources)["MODEL_DIR"] == "/app/models"


def plain_api_keys(resources: list[Resource]) -> list[str]:
    """Where API_KEYS would be stored in plain configuration: a ConfigMap key, or a literal `env` value."""
    found = []
    for resource in resources:
        name = f"{resource['kind']}/{resource['metadata']['name']}"
        if resource["kind"] == "ConfigMap":
            for field in ("data", "binaryData"):
                if "API_KEYS" in (resource.get(field) or {}):
                    found.append(f"{name} {field}")
        if resource["kind"] == "Deployment":
            for container in resource["spec"]["template"]["spec"]["containers"]:
                for variable in container.get("env", []):
                    if variable["name"] == "API_KEYS" and "valueFrom" not in variable:
                        found.append(f"{name} {container['name']} env")
    return found


def test_api_keys_come_from_a_secret(overlay: tuple[str, list[Resource]]) -> None:
    _, resources = overlay
    variables = [v for v in api_container(resources).get("env", []) if v["name"] == "API_KEYS"]
    assert variables == [{"name": "API_KEYS", "valueFrom": {"secretKeyRef": API_KEYS_SECRET_REF}}]


def test_no_configmap_or_literal_holds_api_keys(overlay: tuple[str, list[Resource]]) -> None:
    _, resources = overlay
    assert plain_api_keys(resources) == []
    assert not any(r["kind"] == "Secret" for r in resources), "the operator creates the Secret, not the overlay"


def test_plain_api_keys_check_finds_a_configmap_key_and_a_literal(overlay: tuple[str, list[Resource]]) -> None:
    _, resources = overlay
    leaky = copy.deepcopy(resources)
    find(leaky, "ConfigMap", "nmt-config")["data"]["API_KEYS"] = "key1"
    api_container(leaky)["env"] = [{"name": "API_KEYS", "value": "key1"}]
    assert plain_api_keys(leaky) == ["ConfigMap/nmt-config data", "Deployment/nmt-api api env"]


def test_docs_give_the_command_that_creates_the_api_keys_secret() -> None:
    docs = (ROOT / "docs" / "deploy.md").read_text()
    command = f"kubectl -n nmt create secret generic {API_KEYS_SECRET_REF['name']}"
    assert f"{command} --from-literal={API_KEYS_SECRET_REF['key']}=" in docs


# -- agreement between resources ---------------------------------------------------------------


def test_selectors_and_names_line_up(overlay: tuple[str, list[Resource]]) -> None:
    _, resources = overlay
    deployment = find(resources, "Deployment", "nmt-api")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert selects(deployment["spec"]["selector"], pod_labels)
    service = find(resources, "Service", "nmt-api")
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert [p["targetPort"] for p in service["spec"]["ports"]] == ["http"]
    assert selects(find(resources, "PodDisruptionBudget", "nmt-api")["spec"]["selector"], pod_labels)
    hpa = find(resources, "HorizontalPodAutoscaler", "nmt-api")["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "nmt-api"}
    assert hpa["minReplicas"] >= 2, "one replica could not survive the PDB-allowed disruption"
    monitor = find(resources, "ServiceMonitor", "nmt-api")["spec"]
    assert selects(monitor["selector"], service["metadata"]["labels"])
    service_ports = {p["name"] for p in service["spec"]["ports"]}
    for endpoint in monitor["endpoints"]:
        assert endpoint["port"] in service_ports and endpoint["path"] == METRICS_PATH


def test_only_api_pods_reach_redis(overlay: tuple[str, list[Resource]]) -> None:
    _, resources = overlay
    redis_pod = find(resources, "Deployment", "nmt-redis")["spec"]["template"]["metadata"]["labels"]
    api_pod = find(resources, "Deployment", "nmt-api")["spec"]["template"]["metadata"]["labels"]
    policy = find(resources, "NetworkPolicy", "nmt-redis")["spec"]
    assert selects(policy["podSelector"], redis_pod)
    assert policy["policyTypes"] == ["Ingress"]
    (rule,) = policy["ingress"]
    (peer,) = rule["from"]
    assert set(peer) == {"podSelector"} and selects(peer["podSelector"], api_pod)
    assert not selects(peer["podSelector"], redis_pod)
    assert [p["port"] for p in rule["ports"]] == [6379]


def test_redis_url_points_at_a_non_persistent_lru_redis(overlay: tuple[str, list[Resource]]) -> None:
    _, resources = overlay
    match = re.fullmatch(r"redis://([a-z0-9-]+):(\d+)/\d+", config(resources)["REDIS_URL"])
    assert match is not None
    service = find(resources, "Service", match.group(1))
    assert int(match.group(2)) in [p["port"] for p in service["spec"]["ports"]]
    redis = find(resources, "Deployment", "nmt-redis")["spec"]["template"]["spec"]["containers"][0]
    args = redis["args"]
    flags = dict(zip(args[::2], args[1::2], strict=True))
    assert flags["--save"] == "" and flags["--appendonly"] == "no"
    assert flags["--maxmemory-policy"] == "allkeys-lru"
    assert redis["securityContext"]["readOnlyRootFilesystem"] is True


# -- overlay-specific scheduling ---------------------------------------------------------------


def test_gpu_overlay_requests_a_gpu_on_gpu_nodes() -> None:
    """The GPU limit places the pods (no GFD-only label required); a rollout needs no spare GPU."""
    resources = render(K8S / "overlays" / "gpu")
    deployment = find(resources, "Deployment", "nmt-api")
    pod = deployment["spec"]["template"]["spec"]
    api = api_container(resources)
    assert api["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert "nodeSelector" not in pod
    rolling = deployment["spec"]["strategy"]["rollingUpdate"]
    assert rolling["maxSurge"] == 0 and rolling["maxUnavailable"] == 1
    assert find(resources, "PodDisruptionBudget", "nmt-api")["spec"]["maxUnavailable"] == 1
    assert any(t["key"] == "nvidia.com/gpu" and t["effect"] == "NoSchedule" for t in pod["tolerations"])
    assert config(resources)["DEVICE"] == "cuda"
    assert api["image"].endswith(":gpu")


def test_cpu_overlay_never_asks_for_a_gpu() -> None:
    resources = render(K8S / "overlays" / "cpu")
    pod = find(resources, "Deployment", "nmt-api")["spec"]["template"]["spec"]
    api = api_container(resources)
    assert "nvidia.com/gpu" not in json.dumps(pod)
    assert config(resources)["DEVICE"] == "cpu"
    assert int(config(resources)["ORT_INTRA_THREADS"]) == int(api["resources"]["limits"]["cpu"])
    assert api["image"].endswith(":cpu")
