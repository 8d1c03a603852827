"""The encoder and decoder-step graphs in ONNX Runtime, behind the search's Stepper interface."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import onnxruntime as ort

from nmt_core.bundle import DECODER_INPUTS, DECODER_OUTPUTS, ENCODER_INPUTS, ENCODER_OUTPUTS
from nmt_core.search import DecoderState

log = logging.getLogger(__name__)

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"


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


class OnnxStepper:
    def __init__(
        self, encoder_path: str | Path, decoder_path: str | Path, device: str = "auto", intra_threads: int | None = None
    ):
        options = session_options(intra_threads)
        providers = preferred_providers(device)
        self.encoder = ort.InferenceSession(str(encoder_path), options, providers=providers)
        self.decoder = ort.InferenceSession(str(decoder_path), options, providers=providers)
        self.provider = self.decoder.get_providers()[0]
        log.info("ONNX Runtime provider for %s: %s", Path(decoder_path).parent.name, self.provider)

    def encode(self, src_ids: np.ndarray, src_lengths: np.ndarray) -> DecoderState:
        outputs = dict(
            zip(
                ENCODER_OUTPUTS,
                self.encoder.run(
                    None, dict(zip(ENCODER_INPUTS, (src_ids.astype(np.int64), src_lengths.astype(np.int64))))
                ),
            )
        )
        return DecoderState(
            outputs["h"], outputs["c"], outputs["feed"], outputs["memory"], outputs["keys"], outputs["src_mask"]
        )

    def step(self, prev_tokens: np.ndarray, state: DecoderState) -> tuple[np.ndarray, DecoderState, np.ndarray]:
        feeds = dict(
            zip(DECODER_INPUTS, (prev_tokens, state.h, state.c, state.feed, state.memory, state.keys, state.src_mask))
        )
        log_probs, h, c, feed, attention = self.decoder.run(list(DECODER_OUTPUTS), feeds)
        return log_probs, state.with_recurrent(h, c, feed), attention
