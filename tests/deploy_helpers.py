"""Shared pieces of the deployment tests: repo paths, the service's public contract, the tools.

The deployment files cannot import the service, but their tests can: the contract they must honour
(default port, drain timeout, metric names) is read from the service itself (`service.settings`,
`service.metrics`), so a renamed metric or a changed default fails the deploy tests instead of
drifting from a copy.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from service import metrics as service_metrics
from service.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
COMPOSE_DIR = DEPLOY / "compose"
SCHEMAS = Path(__file__).resolve().parent / "schemas"

# The service's contract: default port, health routes, drain timeout (DRAIN_TIMEOUT_S default).
SERVICE_PORT: int = Settings.model_fields["port"].default
LIVENESS_PATH = "/healthz"
READINESS_PATH = "/readyz"
METRICS_PATH = "/metrics"
DEFAULT_DRAIN_TIMEOUT_S: float = Settings.model_fields["drain_timeout_s"].default
DRAIN_EXIT_MARGIN_S = 5


def _exported_metrics() -> dict[str, str]:
    """Name as scraped -> type, for every metric service/metrics.py defines (counters gain `_total`)."""
    exported = {}
    for collector in vars(service_metrics).values():
        if isinstance(collector, MetricWrapperBase):
            for family in collector.describe():
                name = f"{family.name}_total" if family.type == "counter" else family.name
                exported[name] = family.type
    return exported


# Every metric the service exports; histograms also appear with _bucket/_sum/_count suffixes.
METRIC_NAMES = frozenset(_exported_metrics())
HISTOGRAMS = frozenset(name for name, kind in _exported_metrics().items() if kind == "histogram")

# Kubernetes versions the rendered manifests are validated against: the oldest we support and
# the newest whose schemas the pinned kubernetes-validate (1.37.0) ships.
KUBERNETES_VERSIONS = ("1.32.0", "1.37.0")


def tool(name: str) -> str:
    """A console script from the test interpreter's environment, else from PATH; fails if absent."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed; `make dev-deps` installs it from pyproject's dev extra")
    return found


def kustomize_command(directory: Path) -> list[str]:
    """A real kustomize: the standalone binary, else the one built into kubectl.

    Debian's `kubernetes-client` package (kubectl 1.20, kustomize v2.0.3) is the oldest renderer
    this repo supports; `make system-deps` installs it when neither tool is present.
    """
    if shutil.which("kustomize"):
        return ["kustomize", "build", str(directory)]
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize", str(directory)]
    pytest.fail("no kustomize renderer: install Debian package kubernetes-client (`make system-deps`)")


def render(directory: Path) -> list[dict[str, Any]]:
    """Render a kustomization with the real tool and parse the resulting resources."""
    done = subprocess.run(kustomize_command(directory), capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, f"kustomize failed for {directory}:\n{done.stderr}"
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def load_yaml_all(path: Path) -> list[Any]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of a compose env file (comments and blanks skipped)."""
    pairs = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            pairs[key.strip()] = value.strip()
    return pairs


def dockerfile_instructions(text: str) -> str:
    """The Dockerfile without its comment lines (comments may mention what the code avoids)."""
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))


def dockerfile_stages(text: str) -> dict[str, str]:
    """Stage name -> the instructions of that stage."""
    text = dockerfile_instructions(text)
    parts = re.split(r"^FROM\s+\S+\s+AS\s+(\S+)\s*$", text, flags=re.MULTILINE | re.IGNORECASE)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts), 2)}
