"""The encoder and the format-2 decoder step in ONNX Runtime, with IO binding for the recurrent state.

A step's h/c/feed outputs are bound as the next step's inputs as they are (OrtValues): on CUDA they
stay on the device between steps, and only the top-k ids, their log-probs and the attention rows
come back to the host. The per-sentence encoder outputs are uploaded once per version (admission or
compaction), not per step. On the CPU the same path runs on the CPU execution provider.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from nmt_core.backend import Encoded, SourceMemory, StepInputs, StepOutput
from nmt_core.bundle import DECODER_INPUTS, DECODER_OUTPUTS, ENCODER_INPUTS, ENCODER_OUTPUTS, VOCAB_SIZE_KEY

log = logging.getLogger(__name__)

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
_STATE = ("h", "c", "feed")
_STATE_OUTPUTS = ("h_out", "c_out", "feed_out")
_HOST_OUTPUTS = ("topk_log_probs", "topk_ids", "attention")


def session_options(intra_threads: int | None = None) -> ort.SessionOptions:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = intra_threads or min(4, os.cpu_count() or 1)
    options.inter_op_num_threads = 1
    # Spinning worker threads fight the Python thread that runs the search between steps for the
    # few cores a CPU replica has; without spinning, greedy decoding of a test set ran 1.6x faster
    # (docs/benchmarks.md).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


def preferred_providers(device: str = "auto") -> list[str]:
    """CUDA first when the installed build has it (and it was not refused), CPU always as the fallback."""
    available = ort.get_available_providers()
    if device != "cpu" and CUDA in available:
        return [CUDA, CPU]
    return [CPU]


@dataclass(frozen=True)
class DeviceState:
    """The previous step's h, c and feed, where the step left them."""

    values: tuple[Any, ...]  # OrtValues for h_out, c_out, feed_out


class OnnxBackend:
    def __init__(
        self, encoder_path: str | Path, decoder_path: str | Path, device: str = "auto", intra_threads: int | None = None
    ):
        options = session_options(intra_threads)
        providers = preferred_providers(device)
        self.encoder = ort.InferenceSession(str(encoder_path), options, providers=providers)
        self.decoder = ort.InferenceSession(str(decoder_path), options, providers=providers)
        self.provider = self.decoder.get_providers()[0]
        self.device_type = "cuda" if self.provider == CUDA else "cpu"
        names = tuple(i.name for i in self.decoder.get_inputs())
        if names != DECODER_INPUTS:
            raise ValueError(f"{decoder_path}: not a format-2 decoder step (inputs {list(names)})")
        shapes = {i.name: i.shape for i in self.decoder.get_inputs()}
        self._empty_state = {
            name: np.zeros((0, *(int(d) for d in shapes[name][1:])), dtype=np.float32) for name in _STATE
        }
        self.vocab_size = int(self.decoder.get_modelmeta().custom_metadata_map[VOCAB_SIZE_KEY])
        self._binding = self.decoder.io_binding()
        self._sources_version = -1
        self._sources: dict[str, Any] = {}
        log.info("ONNX Runtime provider for %s: %s", Path(decoder_path).parent.name, self.provider)

    def encode(self, src_ids: np.ndarray, src_lengths: np.ndarray) -> Encoded:
        feeds = dict(zip(ENCODER_INPUTS, (src_ids.astype(np.int64), src_lengths.astype(np.int64))))
        outputs = dict(zip(ENCODER_OUTPUTS, self.encoder.run(None, feeds)))
        return Encoded(
            outputs["memory"], outputs["keys"], outputs["src_mask"], outputs["h"], outputs["c"], outputs["feed"]
        )

    def _bind_sources(self, sources: SourceMemory) -> None:
        if sources.version == self._sources_version:
            return
        arrays = {"memory": sources.memory, "keys": sources.keys, "src_mask": sources.src_mask}
        if self.device_type == "cpu":
            self._sources = arrays
        else:  # uploaded once per version; steps in between reuse the device copy
            self._sources = {
                n: ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(a), "cuda", 0) for n, a in arrays.items()
            }
        self._sources_version = sources.version

    def step(self, state: DeviceState | None, inputs: StepInputs) -> tuple[DeviceState, StepOutput]:
        binding = self._binding
        binding.clear_binding_inputs()
        binding.clear_binding_outputs()
        binding.bind_cpu_input("prev_tokens", inputs.prev_tokens)
        binding.bind_cpu_input("parents", inputs.parents)
        binding.bind_cpu_input("row_sentence", inputs.row_sentence)
        binding.bind_cpu_input("k", np.array([inputs.k], dtype=np.int64))
        for index, name in enumerate(_STATE):
            if state is None:
                binding.bind_cpu_input(name, self._empty_state[name])
            else:
                binding.bind_ortvalue_input(name, state.values[index])
            fresh = getattr(inputs.fresh, name) if inputs.fresh is not None else self._empty_state[name]
            binding.bind_cpu_input(f"{name}_fresh", np.ascontiguousarray(fresh))
        self._bind_sources(inputs.sources)
        for name, value in self._sources.items():
            if isinstance(value, np.ndarray):
                binding.bind_cpu_input(name, np.ascontiguousarray(value))
            else:
                binding.bind_ortvalue_input(name, value)
        for name in _HOST_OUTPUTS:
            binding.bind_output(name, "cpu")
        for name in _STATE_OUTPUTS:
            binding.bind_output(name, self.device_type)
        self.decoder.run_with_iobinding(binding)
        values = dict(zip((*_HOST_OUTPUTS, *_STATE_OUTPUTS), binding.get_outputs()))
        output = StepOutput(values["topk_log_probs"].numpy(), values["topk_ids"].numpy(), values["attention"].numpy())
        return DeviceState(tuple(values[name] for name in _STATE_OUTPUTS)), output


assert set(_HOST_OUTPUTS) | set(_STATE_OUTPUTS) == set(DECODER_OUTPUTS)
