"""Pick a bundle's default beam size and length penalty on the validation set, never on test.

    python -m model.tune_decoding models/general-en-de-fr --out runs/decoding.json

Every (beam, alpha) pair of the grid decodes every direction's validation sentences; the pair
with the best mean lowercased-tokenized BLEU wins (ties go to the smaller beam, which is
cheaper to serve). With --per-direction, a direction whose own slices score at least
--min-gain BLEU more (mean over its slices) with another pair gets that pair as its own default;
the margin keeps validation noise out of the manifest. `python -m model.export ... --decoding
runs/decoding.json` writes the winners into the manifest, so the service, `model.report` and the
model card all use them.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from model.backends import open_model
from model.eval_sets import MULTI30K_VALID, heldout_slices, multi30k_slices
from model.evaluate import translate_and_score
from nmt_core.bundle import DecodingDefaults, DecodingPlan

DEFAULT_MIN_GAIN = 0.5  # BLEU; below it a direction keeps the bundle-wide defaults


def direction_winners(
    grid: list[dict[str, Any]], slice_directions: dict[str, str], overall: dict[str, Any], min_gain: float
) -> dict[str, DecodingDefaults]:
    """Directions whose slices' mean BLEU beats the overall winner's by at least `min_gain` with another pair."""

    def mean_for(row: dict[str, Any], direction: str) -> float:
        labels = [label for label, d in slice_directions.items() if d == direction]
        return sum(row[label] for label in labels) / len(labels)

    winners = {}
    for direction in sorted(set(slice_directions.values())):
        best = max(grid, key=lambda row: (mean_for(row, direction), -row["beam_size"]))
        same = (best["beam_size"], best["length_penalty"]) == (overall["beam_size"], overall["length_penalty"])
        if not same and mean_for(best, direction) - mean_for(overall, direction) >= min_gain:
            winners[direction] = DecodingDefaults(beam_size=best["beam_size"], length_penalty=best["length_penalty"])
    return winners


def grid_search(
    model: Path,
    directions: list[str],
    beams: list[int],
    alphas: list[float],
    valid_set: str = MULTI30K_VALID,
    max_sentences: int | None = None,
    heldout: Path | None = None,
    per_direction_gain: float | None = None,
) -> dict[str, Any]:
    """Mean lowercased-tokenized BLEU over the validation slices for every (beam, alpha); the best wins.

    With `heldout` (a run's `heldout/valid` folder, which also holds its Multi30k validation slices) the
    slices are those, so a general-domain model is tuned on every domain it serves, not on captions alone.
    """
    loaded = open_model(model, "cpu")
    if heldout is not None:
        slices = heldout_slices(heldout, directions, max_sentences)
        selected_on = f"held-out validation slices ({', '.join(s.label for s in slices)})"
    else:
        slices = multi30k_slices(directions, valid_set, max_sentences)
        selected_on = "multi30k val"
    grid: list[dict[str, Any]] = []
    for beam in beams:
        for alpha in alphas:
            options = loaded.options(None, beam, alpha)  # the bundle-wide settings around the pair
            by_slice = {}
            for piece in slices:
                result = translate_and_score(loaded, piece.sources, piece.references, piece.target_lang, options)
                by_slice[piece.label] = result["bleu_lc_tok"]
            mean = round(sum(by_slice.values()) / len(by_slice), 2)
            grid.append({"beam_size": beam, "length_penalty": alpha, "mean_bleu_lc_tok": mean, **by_slice})
            print(json.dumps(grid[-1]), flush=True)
    best = max(grid, key=lambda row: (row["mean_bleu_lc_tok"], -row["beam_size"]))
    defaults = DecodingDefaults(beam_size=best["beam_size"], length_penalty=best["length_penalty"])
    result = {"decoding": asdict(defaults), "selected_on": selected_on, "grid": grid}
    if per_direction_gain is not None:
        winners = direction_winners(grid, {s.label: s.direction for s in slices}, best, per_direction_gain)
        result["decoding_by_direction"] = {key: asdict(d) for key, d in winners.items()}
        result["per_direction_min_gain"] = per_direction_gain
    return result


def defaults_from_file(path: Path) -> DecodingPlan:
    """The `decoding` (and any `decoding_by_direction`) blocks a tuning run wrote."""
    data = json.loads(path.read_text())
    if "decoding" not in data:
        raise ValueError(f"{path}: no `decoding` block; write it with `python -m model.tune_decoding --out`")
    return DecodingPlan.from_json(data)


def _numbers(text: str, kind: type) -> list[Any]:
    return [kind(value) for value in text.split(",") if value]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path, help="checkpoint or bundle")
    parser.add_argument("--directions", default="en-de,de-en,en-fr,fr-en")
    parser.add_argument("--beams", default="4,6")
    parser.add_argument("--alphas", default="0.2,0.6,1.0")
    parser.add_argument("--max-sentences", type=int, help="use only the first N validation sentences per slice")
    parser.add_argument("--heldout", type=Path, help="tune on a run's held-out validation slices (RUN/heldout/valid)")
    parser.add_argument(
        "--per-direction", action="store_true", help="also give directions that do better their own defaults"
    )
    parser.add_argument("--min-gain", type=float, default=DEFAULT_MIN_GAIN, help="BLEU a direction must gain")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    result = grid_search(
        args.model,
        args.directions.split(","),
        _numbers(args.beams, int),
        _numbers(args.alphas, float),
        max_sentences=args.max_sentences,
        heldout=args.heldout,
        per_direction_gain=args.min_gain if args.per_direction else None,
    )
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["decoding"]))
    if args.per_direction:
        print(json.dumps({"decoding_by_direction": result["decoding_by_direction"]}))


if __name__ == "__main__":
    main()
