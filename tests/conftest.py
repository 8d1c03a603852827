from __future__ import annotations

import os

# Tests share two cores with servers they start (and, on a developer's machine, maybe a
# training run): spinning OpenMP threads then slow everything by orders of magnitude.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures import tiny_config, tiny_zh_config
from tests.service_support import shared_redis


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny model trained for a few dozen steps on generated data; returns its best checkpoint."""
    from model.train import train

    workdir = tmp_path_factory.mktemp("tiny")
    return train(tiny_config(workdir))


@pytest.fixture(scope="session")
def tiny_bundle(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model exported (with its parity self-check) to a bundle folder."""
    from model.export import export_bundle

    out = tmp_path_factory.mktemp("bundles") / "tiny-en-de"
    export_bundle(tiny_run, out)
    return out


@pytest.fixture(scope="session")
def tiny_zh_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second tiny bundle, en<->zh on toy Chinese (one character per word, no spaces), trained and exported."""
    from model.export import export_bundle
    from model.train import train

    run = train(tiny_zh_config(tmp_path_factory.mktemp("tiny-zh")))
    out = tmp_path_factory.mktemp("bundles") / "tiny-en-zh"
    export_bundle(run, out)
    return out


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Redis to talk to: the machine's when one answers, else one this session starts (and stops)."""
    url, process = shared_redis(tmp_path_factory.mktemp("redis"))
    yield url
    if process is not None:
        process.kill()
        process.wait()
