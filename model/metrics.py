"""BLEU as sacreBLEU reports it and as the Multi30k literature reports it."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from sacrebleu.metrics import BLEU, CHRF
from sacremoses import MosesTokenizer


@lru_cache(maxsize=8)
def _moses(lang: str) -> MosesTokenizer:
    return MosesTokenizer(lang=lang)


def moses_lower(texts: Sequence[str], lang: str) -> list[str]:
    tokenizer = _moses(lang)
    return [tokenizer.tokenize(t.lower(), escape=False, return_str=True) for t in texts]


def score(hypotheses: Sequence[str], references: Sequence[str], target_lang: str) -> dict[str, float]:
    """sacreBLEU (cased, detokenized, 13a; its `zh` tokenizer into Chinese), chrF, and BLEU on lowercased
    Moses-tokenized text (multi-bleu.perl style, how published Multi30k figures are computed)."""
    hyps, refs = list(hypotheses), [list(references)]
    bleu_metric = BLEU(trg_lang=target_lang)  # picks the zh tokenizer for Chinese, 13a otherwise
    bleu = bleu_metric.corpus_score(hyps, refs)
    chrf = CHRF().corpus_score(hyps, refs)
    tokenized = BLEU(tokenize="none", force=True).corpus_score(
        moses_lower(hyps, target_lang), [moses_lower(references, target_lang)]
    )
    return {
        "sacrebleu": round(bleu.score, 2),
        "chrf": round(chrf.score, 2),
        "bleu_lc_tok": round(tokenized.score, 2),
        "sacrebleu_signature": str(bleu_metric.get_signature()),  # type: ignore[dict-item]
    }
