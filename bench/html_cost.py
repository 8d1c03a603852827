"""What HTML placement costs on pages shaped to be expensive, for this tree and, with --baseline, an
earlier checkout in the same run (security issue: superlinear HTML work).

Each shape goes through `translate_html` with a word-for-word aligned "translator" (upper-casing), so the
time is the markup work alone. The baseline runs in its own interpreter with the baseline tree first on
sys.path; medians of --repeat runs.

  python bench/html_cost.py --baseline /tmp/nmt-baseline-8b8e36d
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load import ROOT, emit

SHAPES = {
    "inline tags, 20 KB (<b>w</b> x 2300)": "<p>" + "<b>w</b> " * 2_300 + "</p>",
    "250 nested <b> around 3,000 words": "<p>" + "<b>" * 250 + "word " * 3_000 + "</b>" * 250 + "</p>",
    "empty inline tags, 40 KB": "<p>" + "w <b></b>" * 4_400 + "</p>",
    "title on every word, 20 KB": "<p>" + '<span title="t">w</span> ' * 800 + "</p>",
    "images between words, 80 KB": "<p>" + "w <img src=x> " * 5_700 + "</p>",
    "icons before the text, 74 KB": "<p>" + "<img src=x> " * 5_700 + "text here</p>",
}

MEASURE = """
import asyncio, json, statistics, sys, time
from dataclasses import dataclass
from service.text.markup import translate_html

@dataclass
class Aligned:
    text: str
    source_pieces: list
    target_pieces: list
    alignment: list

async def upper(segments):
    out = []
    for segment in segments:
        words = segment.split()
        pieces = ["\\u2581" + w for w in words]
        out.append(Aligned(segment.upper(), pieces, [p.upper() for p in pieces], list(range(len(words)))))
    return out

shapes, repeat = json.loads(sys.stdin.read()), int(sys.argv[1])
result = {}
for name, html in shapes.items():
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        asyncio.run(translate_html(html, upper))
        times.append(time.perf_counter() - start)
    result[name] = round(statistics.median(times) * 1e3, 1)
print(json.dumps(result))
"""


def measure(tree: Path, repeat: int) -> dict[str, float]:
    output = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import sys; sys.path.insert(0, {str(tree)!r})\n" + MEASURE,
            str(repeat),
        ],
        input=json.dumps(SHAPES),
        capture_output=True,
        text=True,
        check=True,
        cwd=tree,
    ).stdout
    return dict(json.loads(output.splitlines()[-1]))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", type=Path, help="an earlier checkout (git worktree) to compare with")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    result: dict[str, dict[str, float]] = {"this tree (ms)": measure(ROOT, args.repeat)}
    if args.baseline:
        result["baseline (ms)"] = measure(args.baseline, args.repeat)
    emit(result, args.out)


if __name__ == "__main__":
    main()
