"""Test-set figures for every direction of a model, greedy and beam: the numbers in docs/models.md.

    python -m model.report models/general-en-de-fr --out runs/report.json

Reads Multi30k test_2016_flickr from $DATA_DIR (default ../shared/data). The JSON
it writes can be passed to `python -m model.export --metrics` to record it in a manifest.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from model.backends import open_model
from model.eval_sets import MULTI30K_TEST, heldout_slices, multi30k_slices
from model.evaluate import translate_and_score
from model.tune_decoding import defaults_from_file
from nmt_core.bundle import FP32, INT8, DecodingPlan


def report(
    model: Path,
    directions: list[str],
    beam_size: int | None = None,
    test_set: str = MULTI30K_TEST,
    length_penalty: float | None = None,
    precision: str = FP32,
    heldout: Path | None = None,
    limit: int | None = None,
    tuned: DecodingPlan | None = None,
) -> dict[str, Any]:
    """Greedy and beam figures per slice: Multi30k test per direction, plus a run's held-out test slices
    (per domain and direction) when `heldout` is given. Beam size and length penalty default to the
    model's (or `tuned`'s), each direction's own where it has them."""
    loaded = open_model(model, precision=precision)
    if tuned is not None:
        loaded.decoding = tuned
    slices = multi30k_slices(directions, test_set, limit)
    if heldout is not None:
        slices += heldout_slices(heldout, directions, limit)
    figures: dict[str, Any] = {}
    for piece in slices:
        figures[piece.label] = {}
        default_beam = loaded.options(piece.direction, beam_size).beam_size
        for beam in dict.fromkeys((1, default_beam)):  # once where the direction's default beam is greedy
            options = loaded.options(piece.direction, beam, length_penalty)
            result = translate_and_score(loaded, piece.sources, piece.references, piece.target_lang, options)
            name = "greedy" if options.beam_size == 1 else f"beam{options.beam_size}"
            keep = ("sacrebleu", "bleu_lc_tok", "chrf", "length_penalty", "seconds", "sentences")
            figures[piece.label][name] = {k: result[k] for k in keep}
            print(json.dumps({"slice": piece.label, "search": name, **figures[piece.label][name]}), flush=True)
    return figures


def markdown_table(figures: dict[str, Any], reference: dict[str, Any] | None = None) -> str:
    """The model card's table; `reference` (e.g. the PyTorch checkpoint's report) adds two columns."""
    header = "| direction | search | sacreBLEU | BLEU (lc, tok) | chrF |"
    rule = "|---|---|---|---|---|"
    if reference:
        header += " PyTorch checkpoint: sacreBLEU | BLEU (lc, tok) |"
        rule += "---|---|"
    rows = [header, rule]
    for direction, searches in figures.items():
        if not isinstance(searches, dict):
            continue
        for search, result in searches.items():
            label = "greedy" if search == "greedy" else search.replace("beam", "beam ")
            lc_tok = f"**{result['bleu_lc_tok']:.2f}**" if search != "greedy" else f"{result['bleu_lc_tok']:.2f}"
            arrow = direction.replace("-", "→")  # a slice label: "en-de" or "news en-de"
            row = f"| {arrow} | {label} | {result['sacrebleu']:.2f} | {lc_tok} | {result['chrf']:.2f} |"
            if reference:
                other = reference[direction][search]
                row += f" {other['sacrebleu']:.2f} | {other['bleu_lc_tok']:.2f} |"
            rows.append(row)
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path, nargs="?", help="checkpoint or bundle")
    parser.add_argument("--directions", default="en-de,de-en,en-fr,fr-en")
    parser.add_argument("--beam-size", type=int, help="default: the model's own (a checkpoint's is 4)")
    parser.add_argument("--length-penalty", type=float, help="default: the model's own (a checkpoint's is 0.6)")
    parser.add_argument(
        "--decoding", type=Path, help="the model's defaults replaced by a tuning run's (bundle-wide, per direction)"
    )
    parser.add_argument("--precision", choices=(FP32, INT8), default=FP32, help="a bundle's graphs to use")
    parser.add_argument("--heldout", type=Path, help="also every DOMAIN.SRC-TGT.tsv slice here (RUN/heldout/test)")
    parser.add_argument("--limit", type=int, help="at most this many sentences per slice")
    parser.add_argument("--out", type=Path)
    parser.add_argument(
        "--markdown", nargs="+", type=Path, metavar="REPORT", help="print the table of saved report(s) and exit"
    )
    args = parser.parse_args(argv)
    if args.markdown:
        reports = [json.loads(path.read_text()) for path in args.markdown]
        print(markdown_table(reports[0], reports[1] if len(reports) > 1 else None))
        return
    if args.model is None:
        parser.error("give a checkpoint or bundle to evaluate, or --markdown REPORT")
    figures = report(
        args.model,
        args.directions.split(","),
        args.beam_size,
        length_penalty=args.length_penalty,
        precision=args.precision,
        heldout=args.heldout,
        limit=args.limit,
        tuned=defaults_from_file(args.decoding) if args.decoding else None,
    )
    test_sets = "multi30k test_2016_flickr" + (f" + held-out slices of {args.heldout}" if args.heldout else "")
    payload = {"test_set": test_sets, **figures}
    if args.out:
        args.out.write_text(json.dumps(payload, indent=2) + "\n")
    print(json.dumps(payload))


if __name__ == "__main__":
    main()
