"""The Dockerfile lints clean and builds what the service needs: no torch, non-root, healthcheck."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.deploy_helpers import READINESS_PATH, ROOT, SERVICE_PORT, tool
from tests.deploy_helpers import dockerfile_instructions as instructions
from tests.deploy_helpers import dockerfile_stages as stages

DOCKERFILE = ROOT / "Dockerfile"


def hadolint(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("hadolint"), "--no-color", "--failure-threshold", "style", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_hadolint_reports_nothing() -> None:
    done = hadolint(DOCKERFILE)
    assert done.returncode == 0 and done.stdout.strip() == "", done.stdout + done.stderr


def test_hadolint_does_flag_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get update && apt-get install -y curl\nRUN cd /tmp\n")
    done = hadolint(bad)
    assert done.returncode != 0
    assert "DL3007" in done.stdout  # :latest tag


def test_runtime_stages_exist_and_gpu_is_the_default() -> None:
    text = DOCKERFILE.read_text()
    names = list(stages(text))
    assert {"cpu", "gpu"} <= set(names)
    assert names[-1] == "gpu", "a plain `docker build` should produce the GPU image"


@pytest.mark.parametrize("stage", ["cpu", "gpu"])
def test_runtime_stage_is_non_root_healthchecked_and_serves_the_port(stage: str) -> None:
    body = stages(DOCKERFILE.read_text())[stage]
    users = re.findall(r"^USER\s+(\S+)", body, flags=re.MULTILINE)
    assert users and not users[-1].startswith(("root", "0")), users
    health = re.search(r"^HEALTHCHECK .*?CMD (.+)$", body, flags=re.MULTILINE | re.DOTALL)
    assert health is not None
    assert '"python"' in health.group(1) and READINESS_PATH in health.group(1)
    assert "curl" not in body and "wget" not in body
    assert re.search(rf"^EXPOSE\s+{SERVICE_PORT}\b", body, flags=re.MULTILINE)
    assert re.search(r"^ENV [^\n]*\\\n(?:.*\\\n)*\s*HOST=0\.0\.0\.0", body, flags=re.MULTILINE)
    assert re.search(r"COPY .*models/ /app/models/", body)
    assert re.search(r'^CMD \["python", "-m", "service"\]', body, flags=re.MULTILINE)


def test_only_serving_dependencies_are_installed() -> None:
    text = instructions(DOCKERFILE.read_text())
    installs = re.findall(r'pip install "\.\[([^\]]+)\]"', text)
    assert installs, "the image installs the project with its extras"
    extras = {extra.strip() for group in installs for extra in group.split(",")}
    assert extras <= {"serve", "gpu"}, extras
    assert "torch" not in text


def test_gpu_base_matches_onnxruntime_gpu_cuda_major() -> None:
    """onnxruntime-gpu 1.3x wheels are built for CUDA 13 and cuDNN 9 (see the Dockerfile comment)."""
    match = re.search(
        r"^ARG CUDA_IMAGE=nvidia/cuda:(\d+)\.\d+\.\d+-cudnn-runtime-ubuntu\d+\.\d+$",
        DOCKERFILE.read_text(),
        flags=re.MULTILINE,
    )
    assert match is not None
    assert match.group(1) == "13"
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'"onnxruntime-gpu==1\.3\d\.\d+"', pyproject), "re-check the CUDA major if the pin moves"


def test_dockerignore_keeps_the_context_small_but_complete() -> None:
    ignored = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".venv", "runs", "data", ".pytest_cache", "tests"} <= ignored
    for needed in ("service", "model", "models", "pyproject.toml", "README.md"):
        assert needed not in ignored, needed
