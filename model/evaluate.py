"""Score a checkpoint or bundle on a test set; prints JSON.

    python -m model.evaluate models/general-en-de-fr --source test.en.gz --reference test.de.gz --target de

Reports sacreBLEU (cased, detokenized, 13a), chrF, and BLEU on lowercased
Moses-tokenized text (how published Multi30k figures are computed).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from tqdm import tqdm

from model.backends import OfflineModel, open_model
from model.corpus import read_lines
from model.dataset import resolve_path
from model.metrics import score
from nmt_core.offline import detokenize, translate_offline
from nmt_core.search import SearchOptions


def evaluate(
    model: Path,
    source: Path,
    reference: Path,
    target: str,
    beam_size: int | None = None,
    device: str = "cpu",
    batch_size: int = 64,
    hypotheses_out: Path | None = None,
    length_penalty: float | None = None,
    source_lang: str | None = None,
) -> dict[str, object]:
    """`source_lang` picks the direction's own default search settings where the bundle has them."""
    loaded = open_model(model, device)
    sources, references = read_lines(source), read_lines(reference)
    if len(sources) != len(references):
        raise SystemExit(f"{source} has {len(sources)} lines but {reference} has {len(references)}")
    options = loaded.options(f"{source_lang}-{target}" if source_lang else None, beam_size, length_penalty)
    result = translate_and_score(loaded, sources, references, target, options, batch_size, hypotheses_out)
    return {"model": str(model), **result}


def translate_and_score(
    loaded: OfflineModel,
    sources: list[str],
    references: list[str],
    target: str,
    options: SearchOptions,
    batch_size: int = 64,
    hypotheses_out: Path | None = None,
) -> dict[str, Any]:
    """Translate with an already opened model and score: report and tune_decoding reuse one model."""
    started = time.perf_counter()
    with tqdm(total=len(sources), desc=f"translate ({loaded.kind}, beam {options.beam_size})", unit="sent") as bar:
        hyps = detokenize(
            loaded.vocab,
            translate_offline(loaded.backend, loaded.vocab, sources, target, options, batch_size, on_batch=bar.update),
        )
    seconds = time.perf_counter() - started
    if hypotheses_out:
        hypotheses_out.write_text("\n".join(hyps) + "\n", encoding="utf-8")
    return {
        "backend": loaded.kind,
        "target": target,
        "beam_size": options.beam_size,
        "length_penalty": options.length_penalty,
        "sentences": len(sources),
        "seconds": round(seconds, 2),
        **score(hyps, references, target),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path, help="checkpoint file or bundle folder")
    parser.add_argument("--source", required=True)
    parser.add_argument("--reference", required=True)
    parser.add_argument("--target", required=True)
    parser.add_argument("--source-lang", help="the source's language: its direction's default search settings, if any")
    parser.add_argument("--beam-size", type=int)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--hypotheses", type=Path, help="also write the translations here")
    args = parser.parse_args(argv)
    result = evaluate(
        args.model,
        Path(resolve_path(args.source)),
        Path(resolve_path(args.reference)),
        args.target,
        args.beam_size,
        args.device,
        args.batch_size,
        args.hypotheses,
        source_lang=args.source_lang,
    )
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
