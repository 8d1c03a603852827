"""Corpus reading, cleaning, bucketing and the download command against a local HTTP server."""

from __future__ import annotations

import gzip
import http.server
import io
import threading
import zipfile
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from model.batching import Example, collate, make_batches
from model.config import CorpusSpec
from model.corpus import Pair, clean_pairs, pairs_of, whitespace_length
from model.data import MULTI30K_LANGS, MULTI30K_SPLITS, TATOEBA_ARCHIVE, TATOEBA_MEMBER, download_all
from model.dataset import upsample
from model.holdout import hold_out, normalized
from model.langid import filter_by_language
from nmt_core.bundle import DEFAULT_SPECIAL_IDS


def test_reads_gzip_pairs_and_tsv(tmp_path: Path) -> None:
    with gzip.open(tmp_path / "a.en.gz", "wt") as f:
        f.write("one\ntwo\n")
    (tmp_path / "a.de").write_text("eins\nzwei\n")
    (tmp_path / "b.tsv").write_text("hello\tbonjour\nbye\tsalut\n")
    pair_spec = CorpusSpec(kind="pair", paths={"en": str(tmp_path / "a.en.gz"), "de": str(tmp_path / "a.de")})
    pairs = list(pairs_of(pair_spec))
    assert {(p.direction, p.source, p.target) for p in pairs} == {
        ("en-de", "one", "eins"),
        ("en-de", "two", "zwei"),
        ("de-en", "eins", "one"),
        ("de-en", "zwei", "two"),
    }
    tsv_spec = CorpusSpec(
        kind="tsv", paths={"tsv": str(tmp_path / "b.tsv")}, columns=["en", "fr"], directions=["fr-en"]
    )
    assert [(p.source, p.target) for p in pairs_of(tsv_spec)] == [("bonjour", "hello"), ("salut", "bye")]


def test_misaligned_files_are_refused(tmp_path: Path) -> None:
    (tmp_path / "x.en").write_text("a\nb\n")
    (tmp_path / "x.de").write_text("a\n")
    with pytest.raises(ValueError, match="not line-aligned"):
        list(pairs_of(CorpusSpec(paths={"en": str(tmp_path / "x.en"), "de": str(tmp_path / "x.de")})))


def test_cleaning_drops_empty_long_ratio_and_duplicates() -> None:
    def pair(src: str, tgt: str) -> Pair:
        return Pair("en", "de", src, tgt)

    raw = [
        pair("a b c", "x y z"),
        pair("", "x"),
        pair("a b c", "x y z"),
        pair("w " * 20, "x y"),
        pair("one two three four five six", "eins"),
        pair("short", "kurz"),
        pair("w " * 50, "w " * 50),
    ]
    kept = clean_pairs(raw, whitespace_length, max_tokens=40, max_ratio=3.0)
    assert kept == [pair("a b c", "x y z"), pair("short", "kurz")]


def test_batches_respect_the_token_budget_and_bucket_by_length() -> None:
    examples = [Example([5] * (n % 23 + 2), [6] * (n % 17 + 2)) for n in range(500)]
    batches = make_batches(examples, max_tokens=200, seed=3)
    assert sorted(i for b in batches for i in b) == list(range(500))
    for indices in batches:
        batch = collate(examples, indices)
        assert batch.src_ids.numel() <= 200 or len(indices) == 1
        assert batch.tgt_in.numel() <= 200 or len(indices) == 1
        assert (batch.tgt_in[:, 0] == DEFAULT_SPECIAL_IDS.bos).all()
    # bucketing: padding stays far below what random batching would waste
    padded = sum(collate(examples, b).tgt_out.numel() for b in batches)
    real = sum(len(e.target) for e in examples)
    assert padded < 1.3 * real
    # reproducible from the seed, different across epochs
    assert make_batches(examples, 200, seed=3) == batches
    assert make_batches(examples, 200, seed=3, epoch=1) != batches


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture()
def mirror(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A local HTTP server laid out like the public hosts."""
    root = tmp_path / "mirror"
    (root / "multi30k").mkdir(parents=True)
    for split in MULTI30K_SPLITS:
        for lang in MULTI30K_LANGS:
            with gzip.open(root / "multi30k" / f"{split}.{lang}.gz", "wt") as f:
                f.write(f"{split} sentence in {lang}\n")
    (root / "tatoeba").mkdir()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(TATOEBA_MEMBER, "Go.\tVa !\tCC-BY 2.0 (France) Attribution: tatoeba.org\nRun!\tCours !\tx\n")
    (root / "tatoeba" / TATOEBA_ARCHIVE).write_bytes(buffer.getvalue())
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()


def test_download_command_fetches_everything(mirror: tuple[str, Path], tmp_path: Path) -> None:
    base, _ = mirror
    dest = tmp_path / "data"
    written = download_all(dest, f"{base}/multi30k", f"{base}/tatoeba")
    assert len(written) == len(MULTI30K_SPLITS) * len(MULTI30K_LANGS) + 1
    with gzip.open(dest / "multi30k" / "val.fr.gz", "rt") as f:
        assert f.read() == "val sentence in fr\n"
    with gzip.open(dest / "tatoeba" / "eng-fra.tsv.gz", "rt") as f:
        assert f.read().splitlines() == ["Go.\tVa !", "Run!\tCours !"]
    assert download_all(dest, f"{base}/multi30k", f"{base}/tatoeba") == []  # nothing fetched twice


def test_download_reports_a_missing_file(mirror: tuple[str, Path], tmp_path: Path) -> None:
    base, root = mirror
    (root / "multi30k" / "val.cs.gz").unlink()
    with pytest.raises(Exception, match="404"):
        download_all(tmp_path / "data", f"{base}/multi30k", None)
    assert not list((tmp_path / "data").rglob("*.part"))


def test_hold_out_keeps_every_translation_of_a_sentence_on_one_side() -> None:
    english = [f"sentence {i % 40}" for i in range(120)]  # three translations of each of 40 sentences
    german = [f"Satz {i % 40} v{i // 40}" for i in range(120)]
    rows = hold_out({"en": english, "de": german}, valid_sentences=5, test_sentences=7)
    assert len(rows.valid) == 5 and len(rows.test) == 7
    held = {english[r] for r in rows.valid + rows.test}
    assert len(held) == 12
    assert not any(english[r] in held for r in rows.train)
    assert len(rows.train) == 120 - 3 * 12
    assert {normalized(german[r]) for r in range(120) if english[r] in held} <= rows.sentences
    # the slices depend on the text only, not on row order
    again = hold_out({"en": english[::-1], "de": german[::-1]}, valid_sentences=5, test_sentences=7)
    assert {english[::-1][r] for r in again.valid} == {english[r] for r in rows.valid}


def test_upsampling_repeats_whole_copies_and_samples_the_fraction() -> None:
    pairs = [Pair("en", "de", f"s{i}", f"t{i}") for i in range(10)]
    assert upsample(pairs, 1.0, seed=1) == pairs
    doubled = upsample(pairs, 2.5, seed=1)
    assert len(doubled) == 25 and doubled[:20] == pairs + pairs and set(doubled[20:]) <= set(pairs)
    assert len(set(doubled[20:])) == 5


def test_language_filter_drops_pairs_in_the_wrong_language() -> None:
    pairs = [
        Pair("en", "de", "The weather is lovely today and we are going for a walk.", "Das Wetter ist heute schön."),
        Pair("en", "de", "The weather is lovely today and we are going for a walk.", "The weather is lovely today."),
        Pair("en", "fr", "Where is the railway station, please?", "Où est la gare, s'il vous plaît ?"),
        Pair("en", "fr", "Wo ist bitte der Bahnhof in dieser Stadt?", "Où est la gare, s'il vous plaît ?"),
    ]
    kept = filter_by_language(pairs, 0.05)
    assert kept == [pairs[0], pairs[2]]
    assert filter_by_language(pairs, 0.0) == pairs


def test_mixed_config_holds_out_per_domain_and_never_trains_on_held_out_text(tmp_path: Path) -> None:
    from model.config import ExperimentConfig
    from model.dataset import prepare_data

    english = [f"the {w} number {i} is here" for i, w in enumerate(["dog", "cat", "bird", "fish"] * 30)]
    german = [f"der {w} nummer {i} ist hier" for i, w in enumerate(["Hund", "Katze", "Vogel", "Fisch"] * 30)]
    with gzip.open(tmp_path / "news.en.gz", "wt") as f:
        f.write("\n".join(english) + "\n")
    with gzip.open(tmp_path / "news.de.gz", "wt") as f:
        f.write("\n".join(german) + "\n")
    # the same sentences again as a second domain: held-out news text must not be trained on from there
    (tmp_path / "chat.tsv").write_text("".join(f"{e}\t{d}\n" for e, d in zip(english, german)))
    config = ExperimentConfig()
    config.vocab.size = 60
    config.data.train = [
        CorpusSpec(
            kind="pair",
            domain="news",
            paths={"en": str(tmp_path / "news.en.gz"), "de": str(tmp_path / "news.de.gz")},
            valid_sentences=10,
            test_sentences=15,
            weight=2.0,
        ),
        CorpusSpec(kind="tsv", domain="chat", paths={"tsv": str(tmp_path / "chat.tsv")}, columns=["en", "de"]),
    ]
    data = prepare_data(config, tmp_path / "run")
    assert sorted(data.valid) == ["news de-en", "news en-de"]
    assert all(len(pairs) == 10 for pairs in data.valid.values())
    test_files = sorted(p.name for p in (tmp_path / "run" / "heldout" / "test").iterdir())
    assert test_files == ["news.de-en.tsv", "news.en-de.tsv"]
    held = {p.source for pairs in data.valid.values() for p in pairs}
    held |= {line.split("\t")[0] for line in (tmp_path / "run/heldout/test/news.en-de.tsv").read_text().splitlines()}
    assert len(held) == 10 + 10 + 15  # valid en and de sources, test en sources
    train_sources = {data.vocab.processor.decode(example.source[1:-1]) for example in data.train}
    assert not train_sources & held
    # 95 remaining sentences x 2 directions: news twice, chat once
    assert len(data.train) == 95 * 2 * 2 + 95 * 2
