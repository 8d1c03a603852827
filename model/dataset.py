"""From a config's corpora to framed id sequences: read, hold out, clean, filter, mix, encode."""

from __future__ import annotations

import argparse
import os
import random
from collections import defaultdict
from dataclasses import dataclass, replace
from pathlib import Path

from model.batching import Example
from model.config import CorpusSpec, ExperimentConfig, load_config
from model.corpus import Pair, clean_pairs, expand_rows, pairs_of, read_parallel, with_title_case_sources
from model.holdout import hold_out, normalized
from model.langid import filter_by_language
from model.vocabulary import adopt_sentencepiece, train_sentencepiece
from nmt_core.bundle import SENTENCEPIECE_FILE
from nmt_core.vocabulary import Vocabulary

DEFAULT_DATA_DIR = "../shared/data"
DEFAULT_WEB_DATA_DIR = "data/web"  # python -m model.web_data's default --dest
HELDOUT_DIR = "heldout"  # in the run folder: the slices cut from training corpora, as source<TAB>reference


def resolve_path(path: str) -> str:
    """Config paths may use ${DATA_DIR} (the shared corpora beside the checkout by default) and ${WEB_DATA_DIR}
    (the web-domain corpus that model.web_data builds)."""
    os.environ.setdefault("DATA_DIR", DEFAULT_DATA_DIR)
    os.environ.setdefault("WEB_DATA_DIR", DEFAULT_WEB_DATA_DIR)
    return os.path.expandvars(path)


def _resolved(spec: CorpusSpec) -> CorpusSpec:
    return replace(spec, paths={k: resolve_path(v) for k, v in spec.paths.items()})


def read_corpora(specs: list[CorpusSpec]) -> list[Pair]:
    return [pair for spec in specs for pair in pairs_of(_resolved(spec))]


def slice_label(pair: Pair) -> str:
    """Validation and reports are kept per domain and direction: "news en-de", or "en-de" without a domain."""
    return f"{pair.domain} {pair.direction}" if pair.domain else pair.direction


@dataclass
class CorpusSlices:
    spec: CorpusSpec
    train: list[Pair]
    valid: list[Pair]
    test: list[Pair]
    held_sentences: frozenset[str]


def slice_corpus(spec: CorpusSpec) -> CorpusSlices:
    columns = read_parallel(_resolved(spec))
    rows = hold_out(columns, spec.valid_sentences, spec.test_sentences)
    return CorpusSlices(
        spec,
        list(expand_rows(spec, columns, rows.train)),
        list(expand_rows(spec, columns, rows.valid)),
        list(expand_rows(spec, columns, rows.test)),
        rows.sentences,
    )


def upsample(pairs: list[Pair], weight: float, seed: int) -> list[Pair]:
    """`weight` copies of every pair: whole copies, then a seeded sample for the fraction."""
    whole, fraction = int(weight), weight - int(weight)
    extra = random.Random(seed).sample(pairs, round(fraction * len(pairs))) if fraction > 0 else []
    return pairs * whole + extra


@dataclass
class PreparedData:
    vocab: Vocabulary
    train: list[Example]
    valid: dict[str, list[Pair]]  # slice label ("news en-de") -> raw pairs, for BLEU
    valid_examples: list[Example]
    directions: list[str]
    languages: list[str]


def encode_pairs(pairs: list[Pair], vocab: Vocabulary) -> list[Example]:
    sources = vocab.encode_pieces_batch(p.source for p in pairs)
    targets = vocab.encode_pieces_batch(p.target for p in pairs)
    return [
        Example(vocab.frame_source(src, vocab.tag_id(pair.target_lang)), vocab.frame_target(tgt))
        for pair, src, tgt in zip(pairs, sources, targets)
    ]


def write_heldout(run_dir: Path, split: str, pairs: list[Pair]) -> None:
    """Held-out slices as TSV files, so that reports and decoding tuning read exactly what training held out."""
    by_label: dict[str, list[Pair]] = defaultdict(list)
    for pair in pairs:
        by_label[slice_label(pair)].append(pair)
    folder = run_dir / HELDOUT_DIR / split
    folder.mkdir(parents=True, exist_ok=True)
    for label, items in by_label.items():
        lines = (f"{p.source}\t{p.target}\n" for p in items)
        (folder / f"{label.replace(' ', '.')}.tsv").write_text("".join(lines), encoding="utf-8")


def write_heldout_slices(
    config: ExperimentConfig, run_dir: Path, slices: list[CorpusSlices] | None = None
) -> list[Pair]:
    """Write RUN/heldout/{valid,test}/ as training does, and return the validation candidates. Held-out rows
    depend only on the text (model/holdout.py), so this alone gives a run's test slices back, without
    training: `python -m model.dataset CONFIG --heldout-only --out RUN`."""
    slices = slices if slices is not None else [slice_corpus(spec) for spec in config.data.train]
    valid_candidates = read_corpora(config.data.valid) + [p for s in slices for p in s.valid]
    write_heldout(run_dir, "valid", valid_candidates)
    write_heldout(run_dir, "test", [p for s in slices for p in s.test])
    return valid_candidates


def prepare_data(config: ExperimentConfig, run_dir: Path) -> PreparedData:
    slices = [slice_corpus(spec) for spec in config.data.train]
    held = frozenset().union(*(s.held_sentences for s in slices))

    def unseen(pair: Pair) -> bool:
        return not held or (normalized(pair.source) not in held and normalized(pair.target) not in held)

    raw_train = [p for s in slices for p in s.train]
    languages = sorted({p.source_lang for p in raw_train} | {p.target_lang for p in raw_train})
    spm_path = run_dir / SENTENCEPIECE_FILE
    if config.vocab.model:
        adopt_sentencepiece(Path(config.vocab.model), languages, spm_path)
    elif not spm_path.exists():
        sentences = sorted({s for p in raw_train if unseen(p) for s in (p.source, p.target) if s})
        train_sentencepiece(sentences, languages, config.vocab, spm_path, seed=config.train.seed)
    vocab = Vocabulary(spm_path)
    train_pairs: list[Pair] = []
    for index, corpus in enumerate(slices):
        cleaned = clean_pairs(
            [p for p in corpus.train if unseen(p)],
            lambda text: len(vocab.pieces(text)),
            config.data.max_tokens_per_sentence,
            config.data.max_length_ratio,
        )
        filtered = filter_by_language(cleaned, config.data.langid_min_confidence)
        filtered = with_title_case_sources(filtered, corpus.spec.title_case_max_words)
        train_pairs += upsample(filtered, corpus.spec.weight, config.train.seed + index)
    valid_candidates = write_heldout_slices(config, run_dir, slices)
    valid: dict[str, list[Pair]] = defaultdict(list)
    for pair in valid_candidates:
        bucket = valid[slice_label(pair)]
        if (
            pair.source
            and pair.target
            and (config.data.valid_max_pairs is None or len(bucket) < config.data.valid_max_pairs)
        ):
            bucket.append(pair)
    directions = sorted({p.direction for p in train_pairs})
    valid_pairs = [p for pairs in valid.values() for p in pairs]
    return PreparedData(
        vocab, encode_pairs(train_pairs, vocab), dict(valid), encode_pairs(valid_pairs, vocab), directions, languages
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A training config's held-out slices, without training.")
    parser.add_argument("config", type=Path)
    parser.add_argument("--heldout-only", action="store_true", required=True, help="write RUN/heldout/ only")
    parser.add_argument("--out", type=Path, help="the run folder (default: the config's output_dir)")
    args = parser.parse_args(argv)
    config = load_config(args.config)
    run_dir = args.out or Path(config.output_dir)
    write_heldout_slices(config, run_dir)
    for path in sorted((run_dir / HELDOUT_DIR).glob("*/*.tsv")):
        print(f"{path}\t{sum(1 for _ in path.open(encoding='utf-8'))}")


if __name__ == "__main__":
    main()
