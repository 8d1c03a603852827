"""Average the weights of several checkpoints of one run: `python -m model.average A.pt B.pt ... --out avg.pt`.

The last few checkpoints of an annealed run sit around the same optimum; their mean usually
translates a little better than any one of them (Junczys-Dowmunt et al., 2016; Vaswani et al.,
2017). With `--weights`, a weighted mean interpolates between models: a model fine-tuned from
another, mixed back with it, keeps more of what fine-tuning made it forget (Wortsman et al., 2022,
WiSE-FT). A member may be a bundle folder (its graphs' weights, as a warm start reads them), for a
stage whose first model survives only as a bundle.

Members must share the vocabulary and the network (dims); the result keeps the config, vocabulary
and progress of the last checkpoint given, no optimizer state (it is for export, not for resuming)
and, as metrics, only the steps and weights averaged: evaluate it before recording figures.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import torch

from model.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from model.warm_start import bundle_model_state
from nmt_core.bundle import SENTENCEPIECE_FILE
from nmt_core.vocabulary import Vocabulary


def _member(path: Path, template: Checkpoint) -> Checkpoint:
    """A checkpoint, or a bundle read into the template checkpoint's shape (refused if its vocabulary differs)."""
    if not path.is_dir():
        return load_checkpoint(path)
    vocab = Vocabulary(path / SENTENCEPIECE_FILE).processor.serialized_model_proto()
    if vocab != template.sentencepiece:
        raise ValueError(f"{path} does not share the checkpoints' vocabulary and network")
    state = bundle_model_state(path, template.model_state)
    return replace(template, model_state=state, progress={"step": None, "bundle": str(path)})


def average_checkpoints(paths: list[Path], weights: list[float] | None = None) -> Checkpoint:
    checkpoint_paths = [path for path in paths if not path.is_dir()]
    if not checkpoint_paths:
        raise ValueError("give at least one checkpoint (bundles may join one, not replace it)")
    weights = weights if weights is not None else [1.0] * len(paths)
    if len(weights) != len(paths) or any(w < 0 for w in weights) or sum(weights) <= 0:
        raise ValueError("give one non-negative weight per member, not all zero")
    last = load_checkpoint(checkpoint_paths[-1])
    members = [last if path is checkpoint_paths[-1] else _member(path, last) for path in paths]
    shapes = {name: tensor.shape for name, tensor in last.model_state.items()}
    for path, member in zip(paths, members):
        same = (
            member.sentencepiece == last.sentencepiece
            and member.config.model == last.config.model
            and {name: tensor.shape for name, tensor in member.model_state.items()} == shapes
        )
        if not same:
            raise ValueError(f"{path} does not share {checkpoint_paths[-1]}'s vocabulary and network")
    share = torch.tensor(weights, dtype=torch.float64) / sum(weights)
    state = {
        name: torch.einsum("m,m...->...", share, torch.stack([m.model_state[name].double() for m in members])).to(
            tensor.dtype
        )
        for name, tensor in last.model_state.items()
    }
    metrics = {"averaged_steps": [m.progress.get("step") for m in members]}
    if len(set(weights)) > 1:
        metrics["weights"] = [round(float(w), 6) for w in share]
    return replace(last, model_state=state, optimizer_state=None, metrics=metrics)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoints", nargs="+", type=Path, help="checkpoints, or bundle folders beside one")
    parser.add_argument("--weights", help="comma-separated, one per member (normalised); default: equal")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    weights = [float(w) for w in args.weights.split(",")] if args.weights else None
    averaged = average_checkpoints(args.checkpoints, weights)
    save_checkpoint(averaged, args.out)
    print(json.dumps({"out": str(args.out), **averaged.metrics}))


if __name__ == "__main__":
    main()
