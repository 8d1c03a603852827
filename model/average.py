"""Average the weights of several checkpoints of one run: `python -m model.average A.pt B.pt ... --out avg.pt`.

The last few checkpoints of an annealed run sit around the same optimum; their mean usually
translates a little better than any one of them (Junczys-Dowmunt et al., 2016; Vaswani et al.,
2017). Checkpoints must share the vocabulary and the network (dims); the result keeps the config,
vocabulary and progress of the last one given, no optimizer state (it is for export, not for
resuming) and, as metrics, only the steps averaged: evaluate it before recording figures.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import torch

from model.checkpoint import Checkpoint, load_checkpoint, save_checkpoint


def average_checkpoints(paths: list[Path]) -> Checkpoint:
    if not paths:
        raise ValueError("give at least one checkpoint")
    checkpoints = [load_checkpoint(path) for path in paths]
    last = checkpoints[-1]
    shapes = {name: tensor.shape for name, tensor in last.model_state.items()}
    for path, checkpoint in zip(paths, checkpoints):
        same = (
            checkpoint.sentencepiece == last.sentencepiece
            and checkpoint.config.model == last.config.model
            and {name: tensor.shape for name, tensor in checkpoint.model_state.items()} == shapes
        )
        if not same:
            raise ValueError(f"{path} does not share {paths[-1]}'s vocabulary and network")
    state = {
        name: torch.stack([c.model_state[name].float() for c in checkpoints]).mean(0).to(tensor.dtype)
        for name, tensor in last.model_state.items()
    }
    steps = [c.progress.get("step") for c in checkpoints]
    return replace(last, model_state=state, optimizer_state=None, metrics={"averaged_steps": steps})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoints", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    averaged = average_checkpoints(args.checkpoints)
    save_checkpoint(averaged, args.out)
    print(json.dumps({"out": str(args.out), **averaged.metrics}))


if __name__ == "__main__":
    main()
