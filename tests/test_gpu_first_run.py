"""A GPU replica's first run without a GPU (issue 26): the CUDA branches, exercised on the CPU.

- The precision follows the provider ONNX Runtime really gave: a build that lists CUDA but cannot start it
  (no GPU visible, an old driver) fails start-up under DEVICE=cuda with a message saying why, and serves the
  bundle's CPU precision (int8) with a warning under DEVICE=auto, never the fp32 graphs meant for the GPU.
- TF32 is off in the CUDA provider's options unless asked for, and the cache key (model_version) names the
  device class wherever results can differ.
- `pip install ".[gpu]"` resolves onnxruntime-gpu and never the CPU onnxruntime (a dry-run resolution).
- The recurrent state's OrtValue/IO-binding path (the one CUDA takes) runs on the CPU provider through
  buffer growth past its first 64 rows and gives the plain path's tokens.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import onnxruntime as ort
import pytest

import nmt_core.onnx_backend as onnx_backend
from nmt_core.bundle import BundleError, load_bundle
from nmt_core.offline import decode_batch
from nmt_core.onnx_backend import CPU, CUDA, OnnxBackend, provider_options
from nmt_core.search import SearchOptions
from nmt_core.vocabulary import Vocabulary
from service.engine.backends import Engine

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def int8_bundle(tiny_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from model.quantize import quantize_bundle

    calibration = [("the dog runs", "de"), ("a man sits on the red car", "de"), ("the cat", "de")]
    out = tmp_path_factory.mktemp("gpu-first-run") / "tiny"
    return quantize_bundle(tiny_bundle, out, cpu_default=True, calibration=calibration)


@pytest.fixture
def cuda_listed_but_absent(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the GPU image sees without --gpus: the build lists CUDA, sessions fall back to the CPU."""
    monkeypatch.setattr(ort, "get_available_providers", lambda: [CUDA, CPU])
    real_session = ort.InferenceSession

    def session(path: str, options: ort.SessionOptions, providers: list[object]) -> ort.InferenceSession:
        return real_session(path, options, providers=[CPU])  # as ORT falls back when CUDA cannot start

    monkeypatch.setattr(onnx_backend.ort, "InferenceSession", session)


def test_device_cuda_fails_loud_when_cuda_cannot_start(int8_bundle: Path, cuda_listed_but_absent: None) -> None:
    with pytest.raises(BundleError, match=r"DEVICE=cuda but ONNX Runtime could not start CUDA.*--gpus"):
        Engine.load(int8_bundle, "cuda", 1)


def test_device_cuda_without_the_cuda_build_says_what_to_install(int8_bundle: Path) -> None:
    assert CUDA not in ort.get_available_providers()  # the CPU build CI runs
    with pytest.raises(BundleError, match=r"no CUDA provider \(install \.\[gpu\]\)"):
        Engine.load(int8_bundle, "cuda", 1)


def test_device_auto_that_lands_on_the_cpu_serves_int8_and_warns(
    int8_bundle: Path, cuda_listed_but_absent: None, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="service.engine.backends"):
        model = Engine.load(int8_bundle, "auto", 1).models[0]
    assert model.provider == CPU and model.precision == "int8"  # not the fp32 graphs meant for the GPU
    assert model.model_version.endswith("+int8")
    assert "could not start; serving on the CPU" in caplog.text


def test_tf32_is_off_unless_asked_and_the_version_names_the_device() -> None:
    assert provider_options([CUDA, CPU]) == [(CUDA, {"use_tf32": "0"}), CPU]
    assert provider_options([CUDA, CPU], tf32=True) == [(CUDA, {"use_tf32": "1"}), CPU]
    assert provider_options([CPU], tf32=True) == [CPU]


def test_the_cache_key_names_the_device_class(int8_bundle: Path) -> None:
    model = Engine.load(int8_bundle, "cpu", 1, "fp32").models[0]
    version = load_bundle(int8_bundle).manifest.model_version
    assert model.model_version == version
    model.backend.provider = CUDA
    assert model.model_version == f"{version}+cuda"
    model.tf32 = True
    assert model.model_version == f"{version}+cuda-tf32"


@pytest.mark.parametrize(
    ("extra", "wanted", "refused"),
    [("gpu", "onnxruntime-gpu", "onnxruntime"), ("serve", "onnxruntime", "onnxruntime-gpu")],
)
def test_the_extras_cannot_install_both_runtimes(tmp_path: Path, extra: str, wanted: str, refused: str) -> None:
    report = tmp_path / "report.json"
    command = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "-q"]
    subprocess.run([*command, "--report", str(report), f".[{extra}]"], cwd=ROOT, check=True, timeout=300)
    names = {item["metadata"]["name"].lower() for item in json.loads(report.read_text())["install"]}
    assert wanted in names and refused not in names


def test_the_io_binding_state_path_grows_past_64_rows_and_matches(int8_bundle: Path) -> None:
    """The OrtValue state of the CUDA path, on the CPU provider: 30 sentences at beam 4 (120 rows) outgrow the
    64-row buffers; tokens equal those of each sentence decoded on its own."""
    bundle = load_bundle(int8_bundle)
    vocab = Vocabulary(bundle.sentencepiece_path)
    backend = OnnxBackend(*bundle.graph_paths("int8"), device="cpu", intra_threads=1)
    backend.ortvalue_state = True  # the state buffers become OrtValues bound by pointer, as on a GPU
    words = ["dog", "cat", "man", "woman", "car", "ball", "tree", "house"]
    texts = [" ".join(words[(i + j) % len(words)] for j in range(1 + i % 6)) for i in range(30)]
    sources = [vocab.source(text, "de") for text in texts]
    options = SearchOptions(beam_size=4)
    plain = OnnxBackend(*bundle.graph_paths("int8"), device="cpu", intra_threads=1)
    expected = [decode_batch(plain, [s], options)[0].tokens for s in sources]
    assert [h.tokens for h in decode_batch(backend, sources, options)] == expected
    assert all(len(t) > 0 for t in expected)


@pytest.mark.gpu
@pytest.mark.skipif(CUDA not in ort.get_available_providers(), reason="needs onnxruntime-gpu and a GPU")
def test_gpu_smoke_more_than_64_rows_match_the_cpu(int8_bundle: Path) -> None:
    """Where a GPU is present (`pytest -m gpu`): the fp32 graphs on CUDA decode 30 sentences at beam 4 (120
    rows, past the first buffer growth) to the CPU's tokens."""
    bundle = load_bundle(int8_bundle)
    vocab = Vocabulary(bundle.sentencepiece_path)
    gpu = OnnxBackend(*bundle.graph_paths(), device="cuda", intra_threads=1)
    if gpu.provider != CUDA:
        pytest.fail(f"CUDA is installed but the session runs on {gpu.provider}")
    cpu = OnnxBackend(*bundle.graph_paths(), device="cpu", intra_threads=1)
    sources = [vocab.source(f"the dog {i} runs to the car", "de") for i in range(30)]
    options = SearchOptions(beam_size=4)
    assert [h.tokens for h in decode_batch(gpu, sources, options)] == [
        h.tokens for h in decode_batch(cpu, sources, options)
    ]
