"""Pick a bundle's default beam size and length penalty on the validation set, never on test.

    python -m model.tune_decoding models/multi30k-en-de-fr --out runs/decoding.json

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
from model.corpus import read_lines
from model.dataset import resolve_path
from model.evaluate import translate_and_score
from nmt_core.bundle import DecodingDefaults

VALID_SET = "$DATA_DIR/multi30k/val.{lang}.gz"


def grid_search(
    model: Path,
    directions: list[str],
    beams: list[int],
    alphas: list[float],
    valid_set: str = VALID_SET,
    max_sentences: int | None = None,
) -> dict[str, Any]:
    loaded = open_model(model, "cpu")
    texts = {
        lang: read_lines(Path(resolve_path(valid_set.format(lang=lang))))[:max_sentences]
        for lang in {lang for d in directions for lang in d.split("-")}
    }
    grid: list[dict[str, Any]] = []
    for beam in beams:
        for alpha in alphas:
            options = loaded.options(beam, length_penalty=alpha)
            by_direction = {}
            for direction in directions:
                source, target = direction.split("-")
                result = translate_and_score(loaded, texts[source], texts[target], target, options)
                by_direction[direction] = result["bleu_lc_tok"]
            mean = round(sum(by_direction.values()) / len(by_direction), 2)
            grid.append({"beam_size": beam, "length_penalty": alpha, "mean_bleu_lc_tok": mean, **by_direction})
            print(json.dumps(grid[-1]), flush=True)
    best = max(grid, key=lambda row: (row["mean_bleu_lc_tok"], -row["beam_size"]))
    defaults = DecodingDefaults(beam_size=best["beam_size"], length_penalty=best["length_penalty"])
    return {"decoding": asdict(defaults), "selected_on": "multi30k val", "grid": grid}


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
    parser.add_argument("--max-sentences", type=int, help="use only the first N validation sentences")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    result = grid_search(
        args.model,
        args.directions.split(","),
        _numbers(args.beams, int),
        _numbers(args.alphas, float),
        max_sentences=args.max_sentences,
    )
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["decoding"]))


if __name__ == "__main__":
    main()
