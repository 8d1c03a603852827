"""Corpus reading, cleaning, bucketing and the download command against a local HTTP server."""

from __future__ import annotations

import gzip
import html
import http.server
import io
import tarfile
import threading
import zipfile
from collections.abc import Collection, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from model.batching import Example, collate, make_batches
from model.config import CorpusSpec
from model.corpus import Pair, clean_pairs, pairs_of, title_case, whitespace_length, with_title_case_sources
from model.data import (
    MULTI30K_LANGS,
    MULTI30K_SPLITS,
    TATOEBA_ARCHIVE,
    TATOEBA_MEMBER,
    CorpusError,
    download_all,
    main,
)
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
    def __init__(self, *args: Any, requested: list[str], **kwargs: Any) -> None:
        self.requested = requested  # set first: the base class answers the request in __init__
        super().__init__(*args, **kwargs)

    def do_GET(self) -> None:
        self.requested.append(self.path)
        super().do_GET()

    def log_message(self, format: str, *args: object) -> None:
        pass


# The WMT news sets as the fixture archive holds them: multi-way plain text shared by both pairs
# (as the real dev.tgz has for 2008-2013), SGML per pair code for the rest, both forms for some.
NEWS_DE = ["newstest2008", "newssyscomb2009", *(f"newstest{year}" for year in range(2009, 2019))]
NEWS_FR = ["newstest2008", "newssyscomb2009", *(f"newstest{year}" for year in range(2009, 2015)), "newsdiscusstest2015"]
PLAIN_SETS = {"newstest2008", "newssyscomb2009", "newstest2009", "newstest2010", "newstest2012", "newstest2013"}
BOTH_FORMS = {"newstest2009"}  # plain text wins; its SGML copy says so in every sentence
NO_PAIR_CODE = {"newstest2011"}  # old-style SGML names: newstest2011-src.en.sgm


def _news_count(name: str) -> int:
    return 1 + int(name[-1]) % 3  # 1 to 3 sentences, different from one set to the next


def _news_sentence(name: str, pair: str, lang: str, i: int) -> str:
    if name in PLAIN_SETS | NO_PAIR_CODE:  # one file per language, shared by both pairs
        return f"{name} {lang} {i}: R&D <raw>"
    return f'{name} {pair} {lang} {i}: Tom & "Jerry" <3 l\'été'


def _sgm(name: str, lang: str, sentences: list[str]) -> str:
    """WMT SGML: segments escaped, spread over two documents, some with more attributes or padding."""
    segs = []
    for i, text in enumerate(sentences, 1):
        attrs = f'id="{i}"' + (' origlang="de" class="x"' if i % 2 == 0 else "")
        pad = " " if i == 3 else ""
        segs.append(f"<seg {attrs}>{pad}{html.escape(text)}{pad}</seg>")
    docs = [segs[:1], segs[1:]]
    body = "".join(
        f'<doc sysid="ref" docid="d{n}" origlang="en">\n<p>\n' + "\n".join(d) + "\n</p>\n</doc>\n"
        for n, d in enumerate(docs)
    )
    return f'<refset setid="{name}" srclang="any" trglang="{lang}">\n{body}</refset>\n'


def _dev_members() -> dict[str, str]:
    members: dict[str, str] = {}
    for lang, sets in (("de", NEWS_DE), ("fr", NEWS_FR)):
        for name in sets:
            count = _news_count(name)
            if name in PLAIN_SETS:
                file_name = "news-test2008" if name == "newstest2008" else name
                for side in ("en", lang):
                    lines = [_news_sentence(name, "", side, i) for i in range(count)]
                    members[f"dev/{file_name}.{side}"] = "".join(f"{line}\n" for line in lines)
            if name in PLAIN_SETS and name not in BOTH_FORMS:
                continue
            pair = f"en{lang}" if name.endswith(("2015", "2017")) else f"{lang}en"
            roles = {"en": "src", lang: "ref"} if pair.startswith("en") else {"en": "ref", lang: "src"}
            for side, role in roles.items():
                lines = [_news_sentence(name, f"en-{lang}", side, i) for i in range(count)]
                if name in BOTH_FORMS:
                    lines = [f"sgml copy {line}" for line in lines]
                code = "" if name in NO_PAIR_CODE else f"-{pair}"
                members[f"dev/{name}{code}-{role}.{side}.sgm"] = _sgm(name, side, lines)
    # members to pass over: other language pairs, look-alike names, a README
    members["dev/newstest2016-csen-src.cs.sgm"] = _sgm("newstest2016", "cs", ["jiný"])
    members["dev/newstestB2016-enfi-ref.en.sgm"] = _sgm("newstestB2016", "en", ["not this one"])
    members["dev/newstest2012.ru"] = "другой\n"
    members["dev/README"] = "WMT development sets\n"
    return members


def _expected_news(lang: str, side: str) -> list[str]:
    sets = NEWS_DE if lang == "de" else NEWS_FR
    return [_news_sentence(name, f"en-{lang}", side, i) for name in sets for i in range(_news_count(name))]


def write_dev_tgz(path: Path, drop: Collection[str] = (), extra_line: Collection[str] = ()) -> None:
    """A small stand-in for the WMT19 dev.tgz; drop leaves members out, extra_line adds a sentence."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        folder = tarfile.TarInfo("dev")
        folder.type = tarfile.DIRTYPE
        tar.addfile(folder)
        for name, text in _dev_members().items():
            if name in drop:
                continue
            if name in extra_line:
                text += "one sentence too many\n"
            data = text.encode("utf-8")
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def _anki_zip(path: Path, member: str, text: str) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(member, text)
    path.write_bytes(buffer.getvalue())


@pytest.fixture()
def requested() -> list[str]:
    """Paths the mirror was asked for, in order."""
    return []


@pytest.fixture()
def mirror(tmp_path: Path, requested: list[str]) -> Iterator[tuple[str, Path]]:
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
    _anki_zip(root / "tatoeba" / "deu-eng.zip", "deu.txt", "Go.\tGeh.\tCC-BY 2.0 (France)\nHi.\tHallo!\tx\n")
    write_dev_tgz(root / "wmt" / "dev.tgz")
    handler = partial(_QuietHandler, requested=requested, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
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


def _read_gz(path: Path) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return f.read().split("\n")[:-1]


GENERAL_FILES = [
    "news-en-de.de.gz",
    "news-en-de.en.gz",
    "news-en-fr.en.gz",
    "news-en-fr.fr.gz",
    "tatoeba-eng-deu.tsv.gz",
    "tatoeba-eng-fra.tsv.gz",
]


def test_download_command_fetches_the_general_corpora(
    mirror: tuple[str, Path], requested: list[str], tmp_path: Path
) -> None:
    base, _ = mirror
    dest = tmp_path / "data"
    urls = (f"{base}/multi30k", f"{base}/tatoeba", f"{base}/wmt/dev.tgz")
    written = download_all(dest, *urls, corpora=["general"])
    assert sorted(p.name for p in written) == GENERAL_FILES
    assert sorted(p.name for p in dest.rglob("*")) == ["general", *GENERAL_FILES]  # archives deleted
    assert sorted(requested) == ["/tatoeba/deu-eng.zip", "/tatoeba/fra-eng.zip", "/wmt/dev.tgz"]
    assert _read_gz(dest / "general" / "tatoeba-eng-deu.tsv.gz") == ["Go.\tGeh.", "Hi.\tHallo!"]
    assert _read_gz(dest / "general" / "tatoeba-eng-fra.tsv.gz") == ["Go.\tVa !", "Run!\tCours !"]
    for lang in ("de", "fr"):
        english = _read_gz(dest / "general" / f"news-en-{lang}.en.gz")
        other = _read_gz(dest / "general" / f"news-en-{lang}.{lang}.gz")
        assert len(english) == len(other)
        # sets in order, line-aligned, SGML unescaped, plain text taken as it is and preferred
        assert english == _expected_news(lang, "en")
        assert other == _expected_news(lang, lang)
    assert english[0] == "newstest2008 en 0: R&D <raw>"
    assert english[-1] == 'newsdiscusstest2015 en-fr en 2: Tom & "Jerry" <3 l\'été'
    assert not any("sgml copy" in line for line in english + other)

    # present files are kept: only the missing one is written, from one more download of the archive
    (dest / "general" / "news-en-fr.fr.gz").unlink()
    with gzip.open(dest / "general" / "news-en-de.en.gz", "wt") as f:
        f.write("kept\n")
    requested.clear()
    assert download_all(dest, *urls, corpora=["general"]) == [dest / "general" / "news-en-fr.fr.gz"]
    assert requested == ["/wmt/dev.tgz"]
    assert _read_gz(dest / "general" / "news-en-fr.fr.gz") == _expected_news("fr", "fr")
    assert _read_gz(dest / "general" / "news-en-de.en.gz") == ["kept"]
    requested.clear()
    assert download_all(dest, *urls, corpora=["general"]) == []
    assert requested == []


def test_tatoeba_and_general_share_one_download_of_the_french_export(
    mirror: tuple[str, Path], requested: list[str], tmp_path: Path
) -> None:
    base, _ = mirror
    dest = tmp_path / "data"
    urls = (f"{base}/multi30k", f"{base}/tatoeba", f"{base}/wmt/dev.tgz")
    written = download_all(dest, *urls, corpora=["tatoeba", "general"])
    assert dest / "tatoeba" / "eng-fra.tsv.gz" in written
    assert _read_gz(dest / "tatoeba" / "eng-fra.tsv.gz") == _read_gz(dest / "general" / "tatoeba-eng-fra.tsv.gz")
    assert requested.count("/tatoeba/fra-eng.zip") == 1
    assert sorted(p.name for p in dest.iterdir()) == ["general", "tatoeba"]


@pytest.mark.parametrize(
    ("drop", "extra_line", "message"),
    [
        (["dev/newstest2017-ende-ref.de.sgm"], [], r"lacks newstest2017 for en-de.*newstest2017-ende-src\.en\.sgm"),
        (["dev/news-test2008.fr"], [], r"lacks newstest2008 for en-fr.*news-test2008"),
        ([], ["dev/newstest2012.de"], r"newstest2012 \(en-de\) is not line-aligned: newstest2012\.en has 3"),
    ],
)
def test_a_missing_or_misaligned_news_set_is_named(
    mirror: tuple[str, Path], tmp_path: Path, drop: list[str], extra_line: list[str], message: str
) -> None:
    base, root = mirror
    write_dev_tgz(root / "wmt" / "dev.tgz", drop=drop, extra_line=extra_line)
    dest = tmp_path / "data"
    with pytest.raises(CorpusError, match=message):
        download_all(dest, f"{base}/multi30k", f"{base}/tatoeba", f"{base}/wmt/dev.tgz", ["general"])
    # nothing half-done: no news file, no archive, no .part left behind
    assert sorted(p.name for p in (dest / "general").iterdir()) == ["tatoeba-eng-deu.tsv.gz", "tatoeba-eng-fra.tsv.gz"]


def test_command_line_chooses_corpora(
    mirror: tuple[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base, root = mirror
    dest = tmp_path / "data"
    urls = [
        "--multi30k-url",
        f"{base}/multi30k",
        "--tatoeba-url",
        f"{base}/tatoeba",
        "--wmt-url",
        f"{base}/wmt/dev.tgz",
    ]
    main(["--dest", str(dest), *urls, "--skip-tatoeba", "--skip-general"])  # the older flag still works
    assert sorted(p.name for p in dest.iterdir()) == ["multi30k"]
    assert "12 files written" in capsys.readouterr().out
    main(["--dest", str(dest), *urls, "--corpora", "tatoeba,general"])
    assert sorted(p.name for p in dest.iterdir()) == ["general", "multi30k", "tatoeba"]
    assert "7 files written" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["--dest", str(dest), *urls, "--corpora", "multi30k,wmt"])
    assert "choose from multi30k,tatoeba,general" in capsys.readouterr().err
    (dest / "general" / "news-en-de.de.gz").unlink()
    write_dev_tgz(root / "wmt" / "dev.tgz", drop=["dev/newstest2014-deen-src.de.sgm"])
    with pytest.raises(SystemExit, match="error: the WMT archive lacks newstest2014 for en-de"):
        main(["--dest", str(dest), *urls, "--corpora", "general"])


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
    # the held-out slices alone, without training, are the same files (how a later session gets them back)
    from model.dataset import write_heldout_slices

    write_heldout_slices(config, tmp_path / "again")
    for split in ("valid", "test"):
        for path in sorted((tmp_path / "run" / "heldout" / split).iterdir()):
            assert (tmp_path / "again" / "heldout" / split / path.name).read_bytes() == path.read_bytes()


def train_other_vocabulary(tmp_path: Path) -> bytes:
    from model.config import VocabConfig
    from model.vocabulary import train_sentencepiece

    sentences = [f"ein {w} sieht {i} the {w} sees" for i, w in enumerate(["x", "y", "z"] * 20)]
    path = train_sentencepiece(sentences, ["de", "en"], VocabConfig(size=30), tmp_path / "other" / "sp.model")
    return path.read_bytes()


def test_a_second_stage_adopts_the_first_stages_vocabulary(tmp_path: Path) -> None:
    from model.config import ExperimentConfig
    from model.dataset import prepare_data
    from nmt_core.bundle import SENTENCEPIECE_FILE

    words = ["dog", "cat", "bird", "fish", "house", "tree", "river", "stone"]
    english = [f"the {w} number {i} is here" for i, w in enumerate(words * 12)]
    german = [f"der {w} nummer {i} ist hier" for i, w in enumerate(words * 12)]
    (tmp_path / "pairs.tsv").write_text("".join(f"{e}\t{d}\n" for e, d in zip(english, german)))
    first = ExperimentConfig()
    first.vocab.size = 60
    first.data.train = [CorpusSpec(kind="tsv", paths={"tsv": str(tmp_path / "pairs.tsv")}, columns=["en", "de"])]
    first_data = prepare_data(first, tmp_path / "first")
    # the second stage's data alone would give another vocabulary (other words, another size)
    (tmp_path / "other.tsv").write_text("".join(f"a {w} sees {i}\tein {w} sieht {i}\n" for i, w in enumerate(words)))
    second = ExperimentConfig()
    second.vocab.size = 40
    second.vocab.model = str(tmp_path / "first")  # a run or bundle folder holding sentencepiece.model
    second.data.train = [CorpusSpec(kind="tsv", paths={"tsv": str(tmp_path / "other.tsv")}, columns=["en", "de"])]
    second_data = prepare_data(second, tmp_path / "second")
    adopted = (tmp_path / "second" / SENTENCEPIECE_FILE).read_bytes()
    assert adopted == (tmp_path / "first" / SENTENCEPIECE_FILE).read_bytes()
    assert len(second_data.vocab) == len(first_data.vocab) > 40
    # resuming the second stage with another vocabulary named would mismatch its checkpoints: refused
    second.vocab.model = str(tmp_path / "third-party.model")
    (tmp_path / "third-party.model").write_bytes(train_other_vocabulary(tmp_path))
    with pytest.raises(ValueError, match="started with another"):
        prepare_data(second, tmp_path / "second")
    # a vocabulary without a training language's tag is refused before anything trains
    (tmp_path / "fr.tsv").write_text("".join(f"the {w}\tle {w}\n" for w in words))
    third = ExperimentConfig()
    third.vocab.model = str(tmp_path / "first" / SENTENCEPIECE_FILE)
    third.data.train = [CorpusSpec(kind="tsv", paths={"tsv": str(tmp_path / "fr.tsv")}, columns=["en", "fr"])]
    with pytest.raises(ValueError, match="no language tag for fr"):
        prepare_data(third, tmp_path / "third")


def test_short_english_sources_also_train_in_title_case() -> None:
    pairs = [
        Pair("en", "de", "delete row", "Zeile löschen", "ui"),
        Pair("en", "de", "Cell 42", "Zelle 42", "ui"),  # already Title Case: no twin
        Pair("en", "de", "open the file in a new window", "die Datei in einem neuen Fenster öffnen", "ui"),
        Pair("de", "en", "Zeile löschen", "delete row", "ui"),  # the English side is the target: no twin
    ]
    assert title_case("save as… pdf") == "Save As… Pdf"
    out = with_title_case_sources(pairs, 4)
    assert out[: len(pairs)] == pairs
    assert out[len(pairs) :] == [Pair("en", "de", "Delete Row", "Zeile löschen", "ui")]
    assert with_title_case_sources(pairs, 0) == pairs
