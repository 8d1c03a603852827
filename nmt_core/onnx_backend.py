"""The encoder and the format-2 decoder step in ONNX Runtime, with IO binding for the recurrent state.

A step's h/c/feed outputs are bound as the next step's inputs as they are (OrtValues): on CUDA they
stay on the device between steps, and only the top-k ids, their log-probs and the attention rows
come back to the host. The per-sentence encoder outputs are uploaded once per version (admission or
compaction), not per step. On the CPU the same path runs on the CPU execution provider.
"""

from __future__ import annotations

import logging
import os
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
_MIN_CAPACITY = 64  # rows the state buffers start with


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
    """CUDA first when the installed build has it (and it was not refused), CPU always as the fallback.

    That CUDA is listed only says the build has it: whether a session really runs on it (a GPU visible, a
    driver new enough, CUDA and cuDNN libraries found) shows only in the session's own providers."""
    available = ort.get_available_providers()
    if device != "cpu" and CUDA in available:
        return [CUDA, CPU]
    return [CPU]


def provider_options(providers: list[str], tf32: bool = False) -> list[str | tuple[str, dict[str, str]]]:
    """The providers with their options: TF32 off on CUDA unless asked for (it is on by default in the CUDA
    provider, and Ampere and newer GPUs then answer differently from the CPU beyond the export's tolerance)."""
    return [(CUDA, {"use_tf32": "1" if tf32 else "0"}) if name == CUDA else name for name in providers]


class DeviceState:
    """The recurrent state in preallocated buffers: two of each (h, c, feed), used in turn.

    A step reads the previous state from one buffer and writes the next into the other, bound by
    pointer (no allocation per step; on CUDA nothing leaves the device). Buffers grow by doubling when
    the batch outgrows them, which copies the current state once.
    """

    def __init__(self, shapes: dict[str, tuple[int, ...]], device_type: str, capacity: int, ortvalues: bool = False):
        self.shapes = shapes  # per-row shape of h, c, feed
        self.device_type = device_type
        self.ortvalues = ortvalues or device_type != "cpu"  # OrtValues on CUDA; on the CPU only to test that path
        self.capacity = 0
        self.buffers: list[dict[str, Any]] = []
        self.current = 0  # which of the two buffers holds the state
        self.rows = 0
        self._allocate(capacity)

    def _new(self, name: str, rows: int) -> Any:
        shape = (rows, *self.shapes[name])
        if not self.ortvalues:
            return np.empty(shape, np.float32)
        return ort.OrtValue.ortvalue_from_shape_and_type(shape, np.float32, self.device_type, 0)

    def _allocate(self, capacity: int) -> None:
        fresh = [{name: self._new(name, capacity) for name in _STATE} for _ in range(2)]
        if self.buffers and self.rows:
            for name in _STATE:  # keep the live state
                old = self.buffers[self.current][name]
                if not self.ortvalues:
                    fresh[self.current][name][: self.rows] = old[: self.rows]
                else:
                    host = old.numpy()[: self.rows]
                    fresh[self.current][name] = ort.OrtValue.ortvalue_from_numpy(
                        np.concatenate([host, np.empty((capacity - self.rows, *self.shapes[name]), np.float32)]),
                        self.device_type,
                        0,
                    )
        self.buffers, self.capacity = fresh, capacity

    def reserve(self, rows: int) -> None:
        if rows > self.capacity:
            self._allocate(max(rows, 2 * self.capacity))

    def pointer(self, which: int, name: str) -> int:
        buffer = self.buffers[which][name]
        return int(buffer.ctypes.data) if isinstance(buffer, np.ndarray) else int(buffer.data_ptr())


class OnnxBackend:
    def __init__(
        self,
        encoder_path: str | Path,
        decoder_path: str | Path,
        device: str = "auto",
        intra_threads: int | None = None,
        tf32: bool = False,
    ):
        options = session_options(intra_threads)
        providers = provider_options(preferred_providers(device), tf32)
        self.encoder = ort.InferenceSession(str(encoder_path), options, providers=providers)
        self.decoder = ort.InferenceSession(str(decoder_path), options, providers=providers)
        self.provider = self.decoder.get_providers()[0]
        self.device_type = "cuda" if self.provider == CUDA else "cpu"
        self.ortvalue_state = self.device_type != "cpu"  # tests set it on the CPU to run the CUDA path there
        names = tuple(i.name for i in self.decoder.get_inputs())
        if names != DECODER_INPUTS:
            raise ValueError(f"{decoder_path}: not a format-2 decoder step (inputs {list(names)})")
        shapes = {i.name: i.shape for i in self.decoder.get_inputs()}
        self._row_shapes = {name: tuple(int(d) for d in shapes[name][1:]) for name in _STATE}
        self._empty_state = {name: np.zeros((0, *self._row_shapes[name]), dtype=np.float32) for name in _STATE}
        self.vocab_size = int(self.decoder.get_modelmeta().custom_metadata_map[VOCAB_SIZE_KEY])
        # Inputs are rebound only when they change: binding costs a few microseconds a tensor, a visible
        # share of a small greedy step.
        self._binding = self.decoder.io_binding()
        self._sources_version = -1
        self._fresh_bound = True  # nothing bound yet: bind the empty rows on the first step
        self._k = np.zeros(1, dtype=np.int64)
        log.info("ONNX Runtime provider for %s: %s", Path(decoder_path).parent.name, self.provider)

    def encode(self, src_ids: np.ndarray, src_lengths: np.ndarray) -> Encoded:
        feeds = dict(zip(ENCODER_INPUTS, (src_ids.astype(np.int64), src_lengths.astype(np.int64))))
        outputs = dict(zip(ENCODER_OUTPUTS, self.encoder.run(None, feeds)))
        return Encoded(
            outputs["memory"], outputs["keys"], outputs["src_mask"], outputs["h"], outputs["c"], outputs["feed"]
        )

    def _bind_sources(self, sources: SourceMemory) -> None:
        """Bound per version: written at admission or compaction, read by every step in between."""
        if sources.version == self._sources_version:
            return
        arrays = {"memory": sources.memory, "keys": sources.keys, "src_mask": sources.src_mask}
        for name, array in arrays.items():
            if self.device_type == "cpu":
                self._binding.bind_cpu_input(name, np.ascontiguousarray(array))
            else:  # uploaded once per version; the steps in between read the device copy
                device = ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(array), self.device_type, 0)
                self._binding.bind_ortvalue_input(name, device)
        self._sources_version = sources.version

    def _bind_fresh(self, fresh: Encoded | None) -> None:
        if fresh is None and not self._fresh_bound:
            return  # the empty fresh rows are still bound
        for name in _STATE:
            array = getattr(fresh, name) if fresh is not None else self._empty_state[name]
            self._binding.bind_cpu_input(f"{name}_fresh", np.ascontiguousarray(array))
        self._fresh_bound = fresh is not None

    def step(self, state: DeviceState | None, inputs: StepInputs) -> tuple[DeviceState, StepOutput]:
        rows = len(inputs.prev_tokens)
        if state is None:
            state = DeviceState(self._row_shapes, self.device_type, max(_MIN_CAPACITY, rows), self.ortvalue_state)
        state.reserve(rows)
        binding = self._binding
        binding.bind_cpu_input("prev_tokens", inputs.prev_tokens)
        binding.bind_cpu_input("parents", inputs.parents)
        binding.bind_cpu_input("row_sentence", inputs.row_sentence)
        if self._k[0] != inputs.k:
            self._k = np.array([inputs.k], dtype=np.int64)
            binding.bind_cpu_input("k", self._k)
        source, target = state.current, 1 - state.current
        for name in _STATE:
            shape = (state.rows, *self._row_shapes[name])
            binding.bind_input(name, self.device_type, 0, np.float32, shape, state.pointer(source, name))
            out_shape = (rows, *self._row_shapes[name])
            binding.bind_output(f"{name}_out", self.device_type, 0, np.float32, out_shape, state.pointer(target, name))
        self._bind_fresh(inputs.fresh)
        self._bind_sources(inputs.sources)
        for name in _HOST_OUTPUTS:  # rebound each run: ORT keeps the last run's outputs bound, with their shapes
            binding.bind_output(name, "cpu")
        self.decoder.run_with_iobinding(binding)
        values = binding.get_outputs()
        host = dict(zip(_HOST_OUTPUTS, values[-len(_HOST_OUTPUTS) :]))
        state.current, state.rows = target, rows
        output = StepOutput(host["topk_log_probs"].numpy(), host["topk_ids"].numpy(), host["attention"].numpy())
        return state, output


assert set(_HOST_OUTPUTS) | set(_STATE_OUTPUTS) == set(DECODER_OUTPUTS)
