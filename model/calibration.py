"""Calibrate int8 activation ranges: run the fp32 graphs over validation text and record, for each tensor that
int8 quantizes, the lowest and highest value it takes (model/static_quantization.py turns them into scales).

The decoder is calibrated where it runs: inside the batched decoder, step by step, through a backend that
also runs a copy of the fp32 step graph whose extra outputs are those tensors.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper

from nmt_core.backend import StepInputs
from nmt_core.bundle import DEFAULT_SPECIAL_IDS, ENCODER_INPUTS, SpecialIds
from nmt_core.offline import decode_batch
from nmt_core.onnx_backend import DeviceState, OnnxBackend, StepOutput, session_options
from nmt_core.search import SearchOptions, pad_batch

Ranges = dict[str, tuple[float, float]]

_STATE = ("h", "c", "feed")


def _probe_session(graph_path: Path, names: Sequence[str]) -> ort.InferenceSession:
    """The graph with `names` as extra outputs (those that are outputs already are read as they are)."""
    model = onnx.load(str(graph_path))
    outputs = {o.name for o in model.graph.output}
    model.graph.output.extend(
        helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in names if n not in outputs
    )
    return ort.InferenceSession(model.SerializeToString(), session_options(1), providers=["CPUExecutionProvider"])


def _record(ranges: Ranges, names: Sequence[str], values: Sequence[np.ndarray]) -> None:
    for name, value in zip(names, values, strict=True):
        if value.size:
            low, high = ranges.get(name, (np.inf, -np.inf))
            ranges[name] = (min(low, float(value.min())), max(high, float(value.max())))


class _ProbingBackend(OnnxBackend):
    """An fp32 backend that, before each step, runs the probe copy of the step on the same inputs."""

    def __init__(self, encoder: Path, decoder: Path, names: Sequence[str], ranges: Ranges):
        super().__init__(encoder, decoder, device="cpu", intra_threads=1)
        self.names = list(names)
        self.ranges = ranges
        self.probe = _probe_session(decoder, self.names)
        self.outputs = [o.name for o in self.probe.get_outputs()]

    def step(self, state: DeviceState | None, inputs: StepInputs) -> tuple[DeviceState, StepOutput]:
        feeds: dict[str, np.ndarray] = {
            "prev_tokens": inputs.prev_tokens,
            "parents": inputs.parents,
            "row_sentence": inputs.row_sentence,
            "k": np.array([inputs.k], np.int64),
            "memory": inputs.sources.memory,
            "keys": inputs.sources.keys,
            "src_mask": inputs.sources.src_mask,
        }
        for name in _STATE:
            rows = state.rows if state is not None else 0
            previous = state.buffers[state.current][name][:rows] if state is not None else None
            feeds[name] = np.asarray(previous) if previous is not None else self._empty_state[name]
            feeds[f"{name}_fresh"] = (
                getattr(inputs.fresh, name) if inputs.fresh is not None else self._empty_state[name]
            )
        values = dict(zip(self.outputs, self.probe.run(None, feeds), strict=True))
        _record(self.ranges, self.names, [values[n] for n in self.names])
        return super().step(state, inputs)


def activation_ranges(
    encoder: Path,
    decoder: Path,
    encoder_names: Sequence[str],
    decoder_names: Sequence[str],
    sources: Sequence[list[int]],
    specials: SpecialIds = DEFAULT_SPECIAL_IDS,
    options: SearchOptions | None = None,
) -> Ranges:
    """Lowest and highest value of each named tensor of the fp32 graphs, over `sources` (framed source ids)
    encoded and decoded as the service does (beam 4 by default: runner-up hypotheses are calibrated too)."""
    ranges: Ranges = {}
    if encoder_names:
        probe = _probe_session(encoder, encoder_names)
        outputs = [o.name for o in probe.get_outputs()]
        for start in range(0, len(sources), 32):
            ids, lengths = pad_batch(list(sources[start : start + 32]), specials.pad)
            values = dict(zip(outputs, probe.run(None, dict(zip(ENCODER_INPUTS, (ids, lengths)))), strict=True))
            _record(ranges, encoder_names, [values[n] for n in encoder_names])
    if decoder_names:
        backend = _ProbingBackend(encoder, decoder, decoder_names, ranges)
        decode_batch(backend, sources, options or SearchOptions(beam_size=4), specials)
    missing = [n for n in (*encoder_names, *decoder_names) if n not in ranges]
    if missing:
        raise ValueError(f"calibration never saw {missing}")
    return ranges
