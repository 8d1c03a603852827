"""How often the model alone carries a placeholder through (issue 22): held-out UI strings whose placeholders the web
data command wrote as the stand-in number (nmt_core/spans.py), sent with `protect: false`, so that nothing but the
model decides. A string counts as copied when its translation holds the stand-in exactly as often as its source.

    python bench/placeholder_copy.py --heldout data/web/heldout/ui_test --out runs/placeholder-copy.json

The held-out strings come from catalogs the model never trained on (model.web_data --test-packages).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from load import ROOT, emit, server

from nmt_core.spans import STAND_IN


def pairs_with_stand_ins(heldout: Path) -> dict[str, list[str]]:
    """Per target language, the held-out English strings that hold the stand-in."""
    found: dict[str, list[str]] = {}
    for path in sorted(heldout.glob("ui.en-*.tsv")):
        target = path.stem.split("-")[-1]
        lines = path.read_text(encoding="utf-8").splitlines()
        found[target] = [line.split("\t")[0] for line in lines if STAND_IN in line.split("\t")[0]]
    return found


def copy_rate(base: str, target: str, sources: list[str]) -> dict[str, Any]:
    copied = 0
    for start in range(0, len(sources), 64):
        batch = sources[start : start + 64]
        body = {"text": batch, "source": "en", "target": target, "protect": False}
        answer = httpx.post(f"{base}/v1/translate", json=body, timeout=300).json()["translations"]
        copied += sum(a["text"].count(STAND_IN) == s.count(STAND_IN) for s, a in zip(batch, answer, strict=True))
    return {"strings": len(sources), "copied": copied, "rate": round(copied / max(1, len(sources)), 3)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path, default=ROOT / "models")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--heldout", type=Path, default=ROOT / "data" / "web" / "heldout" / "ui_test")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    with server(args, {}) as base:
        result = {
            target: copy_rate(base, target, sources) for target, sources in pairs_with_stand_ins(args.heldout).items()
        }
    emit(result, args.out)


if __name__ == "__main__":
    main()
