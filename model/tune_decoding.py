"""Pick a bundle's default beam size and length penalty on the validation set, never on test.

    python -m model.tune_decoding models/general-en-de-fr --out runs/decoding.json

Every (beam, alpha) pair of the grid decodes every direction's validation sentences; the pair
with the best mean lowercased-tokenized BLEU wins (ties go to the smaller beam, which is
cheaper to serve). `python -m model.export ... --decoding runs/decoding.json` writes the
winner into the manifest, so the service, `model.report` and the model card all use it.
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
from nmt_core.bundle import DecodingDefaults


def grid_search(
    model: Path,
    directions: list[str],
    beams: list[int],
    alphas: list[float],
    valid_set: str = MULTI30K_VALID,
    max_sentences: int | None = None,
    heldout: Path | None = None,
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
            options = loaded.options(beam, length_penalty=alpha)
            by_slice = {}
            for piece in slices:
                result = translate_and_score(loaded, piece.sources, piece.references, piece.target_lang, options)
                by_slice[piece.label] = result["bleu_lc_tok"]
            mean = round(sum(by_slice.values()) / len(by_slice), 2)
            grid.append({"beam_size": beam, "length_penalty": alpha, "mean_bleu_lc_tok": mean, **by_slice})
            print(json.dumps(grid[-1]), flush=True)
    best = max(grid, key=lambda row: (row["mean_bleu_lc_tok"], -row["beam_size"]))
    defaults = DecodingDefaults(beam_size=best["beam_size"], length_penalty=best["length_penalty"])
    return {"decoding": asdict(defaults), "selected_on": selected_on, "grid": grid}


def defaults_from_file(path: Path) -> DecodingDefaults:
    """The `decoding` block a tuning run wrote."""
    return DecodingDefaults(**json.loads(path.read_text())["decoding"])


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
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    result = grid_search(
        args.model,
        args.directions.split(","),
        _numbers(args.beams, int),
        _numbers(args.alphas, float),
        max_sentences=args.max_sentences,
        heldout=args.heldout,
    )
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["decoding"]))


if __name__ == "__main__":
    main()
