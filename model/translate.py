"""Translate files or stdin with a checkpoint or a bundle.

echo "A dog runs." | python -m model.translate models/general-en-de-fr --target de
python -m model.translate runs/x/best.pt --target fr --input in.txt --output out.txt --beam-size 5
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from model.backends import open_model
from nmt_core.offline import detokenize, translate_offline


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path, help="checkpoint file or bundle folder")
    parser.add_argument("--target", required=True, help="target language code")
    parser.add_argument("--source", help="source language code: its direction's default search settings, if any")
    parser.add_argument("--input", type=Path, help="one sentence per line (default: stdin)")
    parser.add_argument("--output", type=Path, help="default: stdout")
    parser.add_argument("--beam-size", type=int)
    parser.add_argument("--length-penalty", type=float)
    parser.add_argument("--coverage-penalty", type=float)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    loaded = open_model(args.model, args.device)
    lines = (args.input.read_text(encoding="utf-8") if args.input else sys.stdin.read()).splitlines()
    direction = f"{args.source}-{args.target}" if args.source else None
    options = loaded.options(direction, args.beam_size, args.length_penalty, args.coverage_penalty)
    outputs = detokenize(
        loaded.vocab, translate_offline(loaded.backend, loaded.vocab, lines, args.target, options, args.batch_size)
    )
    text = "\n".join(outputs) + ("\n" if outputs else "")
    if args.output:
        args.output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
