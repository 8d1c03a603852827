"""Web-domain corpus from Debian's own packages (issue 22): `python -m model.web_data --dest DIR`.

Each package listed in --packages (default model/configs/web_packages.txt) is fetched with `apt-get download`
(kept in --debs), unpacked with `dpkg-deb -x`, and its German and French gettext catalogs (any `*.mo` under a
`{de,fr}/LC_MESSAGES` folder, such as usr/share/locale's or LibreOffice's, or named like WordPress's `de_DE.mo`)
are read with polib.

With --languages zh (issue 25), zh_CN catalogs are read (CJK accelerators such as 文件(_F) removed, a Han
character weighed as three letters in the length ratio, a translation without Han characters dropped) and
every translation is converted to Simplified characters with OpenCC. --help-text adds LibreOffice's help
aligned with the English help by paragraph id (model/doc_data.py, domain `help`), --manuals Debian's
translated manuals aligned block by block (model/doc_data.py, domain `docs`), and --tatoeba LANG=PATH writes
Tatoeba's pairs with the translation converted (DEST/tatoeba.en-LANG.tsv; the training config holds its slices
out).

A pair is kept when it is translated and singular (a compiled .mo holds no fuzzy
entries), once menu accelerators (`_File`, `&File`) and runs of whitespace are gone, 2-400 characters long with
a length ratio within 1/3-3, and has letters on both sides. English strings are deduplicated per language.
Placeholders (`%s`, `{name}`, ...) become the stand-in number the service shows the model in their place
(nmt_core/spans.py), on both sides, so that the model learns to carry them; a pair whose sides hold different
placeholders is dropped.

Held-out discipline: pairs are split by English string (the same string never sits in two splits): 1% valid,
1% test; the packages in --test-packages go to a UI test slice, less the strings that training packages also
translate, so that it holds what is particular to programs the model never trained on. A string that
COMMON_PACKAGES or more training packages translate ("Save", "Cancel") always trains: holding it out would
leave the model without the words every program shows. Written:

  DEST/web.en-{de,fr}.tsv                      training pairs (English, translation)
  DEST/common.en-{de,fr}.tsv                   the training pairs of common strings, to be weighed up
  DEST/heldout/{valid,test}/ui.en-{de,fr}.tsv  held out by English string
  DEST/heldout/ui_test/ui.en-{de,fr}.tsv       whole held-out catalogs
  DEST/manifest.json                           per package: version, license, catalogs, pairs kept

Nothing here is committed: the corpus is rebuilt by this command on any Debian machine.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import re
import subprocess
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path, PurePosixPath

import polib

from model.dataset import DEFAULT_WEB_DATA_DIR
from model.doc_data import HELP_PACKAGES, HELP_ROOT, MANUALS, Manual, aligned_blocks, aligned_paragraphs
from model.simplified import CONVERSION, to_simplified
from nmt_core.scripts import HAN_CHARACTER
from nmt_core.spans import STAND_IN, pattern_spans

LANGUAGES = ("de", "fr")  # the default --languages; zh (issue 25) is asked for by name
DEFAULT_PACKAGES = Path(__file__).resolve().parent / "configs" / "web_packages.txt"
# Menu accelerators: LibreOffice's ~ anywhere (S~ubject), &File but not &amp;, and GTK's _ at a word's start or
# inside a word (redu_zieren), unless the word is an identifier (snake_case) that both sides of the pair share.
_TILDE = re.compile(r"~(?=\w)")
_AMPERSAND = re.compile(r"(?<![\w&])&(?=\w)(?!#?\w{1,8};)")
_UNDERSCORED = re.compile(r"\w*_\w*")
_MNEMONIC = re.compile(r"^_(?=[^\W_])|(?<=[^\W\d_])_(?=[^\W\d_])")
# Not de_CH (no ß), fr_CA or zh_TW/zh_HK (Traditional script).
_LANG_CODES = {"de": "de", "de_DE": "de", "fr": "fr", "fr_FR": "fr", "zh_CN": "zh", "zh_Hans": "zh"}
_STEM_LANGUAGE = re.compile(r"(?:^|-)(de_DE|fr_FR|zh_CN)$")  # WordPress: admin-de_DE.mo
# CJK catalogs put the accelerator after the label in brackets: 文件(_F), 打开(&O)...
_BRACKETED_ACCELERATOR = re.compile(r"\s?[(（][_&~][A-Za-z0-9][)）]")
# Product-name variables that a catalog fills in at run time (LibreOffice): the name itself, so the model copies it.
_PRODUCT_NAMES = {"%PRODUCTNAME": "LibreOffice"}
_SPACE = re.compile(r"\s+")
_LETTER = re.compile(r"[^\W\d_]")
# A Han character carries about as much as three Latin ones (a word of English is ~5 letters, of Chinese ~1.7
# characters), so lengths are compared with each Han character counted three times.
HAN_WEIGHT = 3
# A UI string that this many training packages translate is everyday vocabulary ("Save", "Cancel", "Page 42"):
# it always trains, and once more in DEST/common.en-LANG.tsv, which the training config weighs up (a string is
# kept once per language otherwise, so the words every program shows were as rare as any other).
COMMON_PACKAGES = 3
# A translation in these languages must be written in their script (a zh catalog's copied English is no pair).
_SCRIPT_OF = {"zh": HAN_CHARACTER}


@dataclass
class PackageRecord:
    package: str
    version: str = ""
    license: str = ""
    catalogs: list[str] = field(default_factory=list)
    pairs: dict[str, int] = field(default_factory=dict)
    error: str = ""


def clean(text: str, identifiers: frozenset[str] = frozenset()) -> str:
    """A UI string as a sentence: accelerator marks and line breaks gone, spaces collapsed, product names filled.
    Words in `identifiers` keep their underscores."""
    for variable, name in _PRODUCT_NAMES.items():
        text = text.replace(variable, name)
    text = _AMPERSAND.sub("", _TILDE.sub("", _BRACKETED_ACCELERATOR.sub("", text)))

    def unmarked(word: re.Match[str]) -> str:
        found = word.group()
        return found if found in identifiers or found.count("_") != 1 else _MNEMONIC.sub("", found)

    return _SPACE.sub(" ", _UNDERSCORED.sub(unmarked, text)).strip()


def clean_pair(source: str, target: str) -> tuple[str, str]:
    """Both sides cleaned; an underscored word found on both sides is an identifier, not a mnemonic."""
    shared = frozenset(_UNDERSCORED.findall(source)) & frozenset(_UNDERSCORED.findall(target))
    return clean(source, shared), clean(target, shared)


def catalog_language(path: PurePosixPath) -> str | None:
    """de or fr when a compiled catalog's path says so: .../de/LC_MESSAGES/x.mo, or a file named like de_DE.mo."""
    parts = path.parts
    if "LC_MESSAGES" in parts[:-1]:
        at = parts.index("LC_MESSAGES")
        return _LANG_CODES.get(parts[at - 1]) if at else None
    found = _STEM_LANGUAGE.search(path.stem)
    return _LANG_CODES[found.group(1)] if found else None


def weighted_length(text: str) -> int:
    """Length with each Han character counted as HAN_WEIGHT letters, so that ratios hold across scripts."""
    return len(text) + (HAN_WEIGHT - 1) * len(HAN_CHARACTER.findall(text))


def acceptable(source: str, target: str, lang: str = "") -> bool:
    if not (2 <= len(source) <= 400 and 2 <= len(target) <= 400):
        return False
    if not (_LETTER.search(source) and _LETTER.search(target)):
        return False
    script = _SCRIPT_OF.get(lang)
    if script is not None and not script.search(target):
        return False
    return 1 / 3 <= weighted_length(target) / weighted_length(source) <= 3


def in_script(text: str, lang: str) -> str:
    """The translation side as the bundle writes it: Simplified characters for zh."""
    return to_simplified(text) if lang == "zh" else text


def with_stand_ins(source: str, target: str) -> tuple[str, str] | None:
    """The pair as the model sees such text in service: each placeholder as the stand-in number (nmt_core/spans.py),
    so that it learns to carry it to the right place. None when the two sides do not hold the same placeholders
    (a translation that drops or adds one teaches the wrong thing)."""
    sides = []
    for text in (source, target):
        found = [f for f in pattern_spans(text) if f.kind == "placeholder"]
        sides.append((found, Counter(text[f.start : f.end] for f in found)))
    if sides[0][1] != sides[1][1]:
        return None
    out = []
    for text, (found, _) in zip((source, target), sides, strict=True):
        for f in reversed(found):
            text = text[: f.start] + STAND_IN + text[f.end :]
        out.append(text)
    return out[0], out[1]


def kept_pair(source: str, target: str, lang: str) -> tuple[str, str] | None:
    """A (English, translation) pair cleaned, filtered, in the target's script, with placeholders as stand-ins;
    None when it is not worth training on."""
    source, target = clean_pair(source, in_script(target, lang))
    if source == target or not acceptable(source, target, lang):
        return None
    return with_stand_ins(source, target)


def catalog_pairs(path: Path, lang: str = "") -> Iterator[tuple[str, str]]:
    """(English, translation) of one compiled catalog's translated singular entries, as kept_pair keeps them."""
    for entry in polib.mofile(str(path)):
        if entry.msgid_plural or not entry.msgstr or entry.obsolete:
            continue
        pair = kept_pair(entry.msgid, entry.msgstr, lang)
        if pair is not None:
            yield pair


def unpacked_catalogs(
    deb: Path, workdir: Path, languages: Iterable[str] = LANGUAGES
) -> tuple[dict[str, list[Path]], str, str]:
    """The package's catalogs per language, its version and its license (from its copyright file)."""
    version = unpack(deb, workdir)
    catalogs: dict[str, list[Path]] = {lang: [] for lang in languages}
    for path in sorted(workdir.rglob("*.mo")):
        lang = catalog_language(PurePosixPath(path.relative_to(workdir).as_posix()))
        if lang in catalogs:
            catalogs[lang].append(path)
    return catalogs, version, _license(workdir)


def unpack(deb: Path, workdir: Path) -> str:
    """The package's files under workdir; its version."""
    subprocess.run(["dpkg-deb", "-x", str(deb), str(workdir)], check=True, capture_output=True)
    return subprocess.run(
        ["dpkg-deb", "-f", str(deb), "Version"], check=True, capture_output=True, text=True
    ).stdout.strip()


def _license(root: Path) -> str:
    for copyright_file in sorted(root.glob("usr/share/doc/*/copyright")):
        for line in copyright_file.read_text(errors="replace").splitlines():
            if line.startswith("License:") and line.split(":", 1)[1].strip():
                return line.split(":", 1)[1].strip()
        return "see usr/share/doc/*/copyright"
    return "unknown"


def download(package: str, debs: Path) -> Path:
    """The package's .deb in `debs`, fetched with apt-get download when not there yet."""
    debs.mkdir(parents=True, exist_ok=True)
    found = sorted(debs.glob(f"{package}_*.deb"))
    if not found:
        subprocess.run(["apt-get", "download", package], cwd=debs, check=True, capture_output=True)
        found = sorted(debs.glob(f"{package}_*.deb"))
    if not found:
        raise FileNotFoundError(f"apt-get download {package} left no .deb")
    return found[-1]


def split_of(source: str) -> str:
    """valid, test or train, by a hash of the English string (stable across runs and machines)."""
    bucket = int(hashlib.sha256(source.encode()).hexdigest()[:8], 16) % 100
    return "valid" if bucket == 0 else "test" if bucket == 1 else "train"


@dataclass
class Corpus:
    """Pairs per (domain, slice, language), English strings deduplicated within each, and for each UI string the
    training packages (not --test-packages) that hold it."""

    pairs: dict[tuple[str, str, str], dict[str, str]] = field(default_factory=dict)
    packages: dict[tuple[str, str], set[str]] = field(default_factory=dict)

    def add(self, domain: str, where: str, lang: str, source: str, target: str, package: str = "") -> bool:
        if package and where != "ui_test":
            self.packages.setdefault((lang, source), set()).add(package)
        slot = self.pairs.setdefault((domain, where, lang), {})
        if source in slot:
            return False
        slot[source] = target
        return True

    def common(self, lang: str) -> set[str]:
        """English strings that COMMON_PACKAGES or more training packages translate into `lang`."""
        return {s for (language, s), held in self.packages.items() if language == lang and len(held) >= COMMON_PACKAGES}

    def settled(self) -> Corpus:
        """The slices as written: a string that the training packages hold is ordinary vocabulary of other
        programs, so it leaves the whole held-out catalogs (ui_test) and trains; a common string ("Save",
        "Cancel") always trains, whatever its hash; the held-out slices keep the rest. Training slots go first,
        so a string's training translation is the one a training package gave."""
        settled = Corpus(packages=self.packages)
        for (domain, where, lang), pairs in sorted(self.pairs.items(), key=lambda item: item[0][1] != "train"):
            common = self.common(lang) if domain == "ui" and where in ("valid", "test") else set()
            for source, target in pairs.items():
                trains = (where == "ui_test" and (lang, source) in self.packages) or source in common
                slot = settled.pairs.setdefault((domain, "train" if trains else where, lang), {})
                slot.setdefault(source, target)
        return settled


def build(
    packages: Iterable[str],
    debs: Path,
    dest: Path,
    test_packages: set[str],
    languages: Iterable[str] = LANGUAGES,
    tatoeba: dict[str, Path] | None = None,
    help_text: bool = False,
    manuals: bool = False,
) -> list[PackageRecord]:
    """Collect every package's pairs (and, when asked, Tatoeba's and LibreOffice's help) and write the corpus,
    the held-out slices and the manifest."""
    languages = tuple(languages)
    corpus = Corpus()
    records = []
    for package in packages:
        record = PackageRecord(package)
        records.append(record)
        try:
            deb = download(package, debs)
            with tempfile.TemporaryDirectory() as workdir:
                catalogs, record.version, record.license = unpacked_catalogs(deb, Path(workdir), languages)
                for lang, paths in catalogs.items():
                    kept = 0
                    for path in paths:
                        record.catalogs.append(path.relative_to(workdir).as_posix())
                        for source, target in catalog_pairs(path, lang):
                            where = "ui_test" if package in test_packages else split_of(source)
                            kept += corpus.add("ui", where, lang, source, target, package)
                    record.pairs[lang] = kept
        except (subprocess.CalledProcessError, FileNotFoundError, OSError, ValueError) as exc:
            record.error = f"{type(exc).__name__}: {exc}"
    if help_text:
        records += help_records(corpus, debs, languages)
    if manuals:
        records += manual_records(corpus, debs, languages)
    converted = {lang: write_tatoeba(lang, path, dest) for lang, path in (tatoeba or {}).items()}
    _write(corpus, dest, records, converted)
    return records


# (English root, translated root, language) -> (English, translation) pairs
Aligner = Callable[[Path, Path, str], Iterable[tuple[str, str]]]


def help_records(corpus: Corpus, debs: Path, languages: Iterable[str]) -> list[PackageRecord]:
    """LibreOffice's help, English beside each language, aligned by paragraph id into the `help` domain."""
    english_package, english_locale = HELP_PACKAGES["en"]

    def align(english: Path, translated: Path, lang: str) -> Iterable[tuple[str, str]]:
        return aligned_paragraphs(english / HELP_ROOT / english_locale, translated / HELP_ROOT / HELP_PACKAGES[lang][1])

    packages = {lang: HELP_PACKAGES[lang][0] for lang in languages}
    how = f"{HELP_ROOT}/<locale> aligned with {english_locale} by paragraph id"
    return aligned_records(corpus, debs, "help", english_package, packages, align, how)


def manual_records(
    corpus: Corpus, debs: Path, languages: Iterable[str], manuals: Iterable[Manual] = MANUALS
) -> list[PackageRecord]:
    """Debian's translated manuals (model/doc_data.py), aligned block by block into the `docs` domain."""
    languages = tuple(languages)
    records = []
    for manual in manuals:
        packages = {lang: manual.packages[lang] for lang in languages if lang in manual.packages}
        if packages:
            how = f"{manual.english_glob} aligned block by block where the page's block sequence agrees"
            align = partial(aligned_blocks, manual=manual)
            records += aligned_records(corpus, debs, "docs", manual.english_package, packages, align, how)
    return records


def aligned_records(
    corpus: Corpus,
    debs: Path,
    domain: str,
    english_package: str,
    packages: dict[str, str],
    align: Aligner,
    how: str,
) -> list[PackageRecord]:
    """An English package unpacked beside each language's package, their pairs kept into `domain`."""
    records = []
    with tempfile.TemporaryDirectory() as workdir:
        english = PackageRecord(english_package)
        records.append(english)
        try:
            english.version = unpack(download(english_package, debs), Path(workdir, "en"))
            english.license = _license(Path(workdir, "en"))
        except (subprocess.CalledProcessError, FileNotFoundError, OSError) as exc:
            english.error = f"{type(exc).__name__}: {exc}"
            return records
        for lang, package in packages.items():
            record = PackageRecord(package)
            records.append(record)
            try:
                record.version = unpack(download(package, debs), Path(workdir, lang))
                record.license = _license(Path(workdir, lang))
                kept = 0
                for source, target in align(Path(workdir, "en"), Path(workdir, lang), lang):
                    pair = kept_pair(source, target, lang)
                    if pair is not None:
                        kept += corpus.add(domain, split_of(pair[0]), lang, *pair)
                record.pairs[lang] = kept
                record.catalogs.append(how)
            except (subprocess.CalledProcessError, FileNotFoundError, OSError) as exc:
                record.error = f"{type(exc).__name__}: {exc}"
    return records


def write_tatoeba(lang: str, path: Path, dest: Path) -> dict[str, object]:
    """Tatoeba's pairs as they are (the training config holds its own slices out), the translation in the
    bundle's script; what was read and how many lines the conversion changed are returned for the manifest."""
    rows = converted = 0
    lines = []
    with gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else path.open(encoding="utf-8") as f:
        for line in f:
            english, _, translation = line.rstrip("\n").partition("\t")
            if not english or not translation:
                continue
            rows += 1
            written = in_script(translation, lang)
            converted += written != translation
            lines.append(f"{english}\t{written}\n")
    dest.mkdir(parents=True, exist_ok=True)
    (dest / _file_name("tatoeba", lang)).write_text("".join(lines), encoding="utf-8")
    return {"source": str(path), "rows": rows, "script_converted": converted}


def _file_name(domain: str, lang: str) -> str:
    return f"{'web' if domain == 'ui' else domain}.en-{lang}.tsv"


def _write(corpus: Corpus, dest: Path, records: list[PackageRecord], tatoeba: dict[str, dict[str, object]]) -> None:
    corpus = corpus.settled()
    held_out = {s for (_, where, _), pairs in corpus.pairs.items() if where != "train" for s in pairs}
    for (domain, where, lang), pairs in sorted(corpus.pairs.items()):
        if where == "train":
            path = dest / _file_name(domain, lang)
            pairs = {s: t for s, t in pairs.items() if s not in held_out}  # a held-out string never trains
        else:
            path = dest / "heldout" / where / f"{domain}.en-{lang}.tsv"
        _write_pairs(path, pairs)
        if domain == "ui" and where == "train":
            common = corpus.common(lang)
            _write_pairs(dest / _file_name("common", lang), {s: t for s, t in pairs.items() if s in common})
    manifest = {
        "sources": [asdict(r) for r in records],
        "tatoeba": tatoeba,
        "filters": "translated singular entries; accelerators removed; 2-400 chars; length ratio 1/3-3 with a Han"
        f" character counted {HAN_WEIGHT} times; letters; zh translations in Han script; placeholders as the"
        " stand-in " + STAND_IN + ", pairs whose sides hold different placeholders dropped",
        "script": f"zh translations converted to Simplified with OpenCC {CONVERSION!r}",
        "split": "by English string: sha256 % 100 == 0 valid, == 1 test; --test-packages whole to ui_test, less"
        " the strings that training packages hold; a string that"
        f" {COMMON_PACKAGES}+ training packages hold always trains, and is also written to common.en-LANG.tsv",
    }
    (dest / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")


def _write_pairs(path: Path, pairs: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{s}\t{t}\n" for s, t in sorted(pairs.items())), encoding="utf-8")


def read_packages(path: Path) -> list[str]:
    return [line.split("#")[0].strip() for line in path.read_text().splitlines() if line.split("#")[0].strip()]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--packages", type=Path, default=DEFAULT_PACKAGES, help="one Debian package per line")
    parser.add_argument("--test-packages", default="", help="comma-separated packages held out whole (UI test)")
    parser.add_argument("--debs", type=Path, default=Path("data/debs"), help="where .deb files are kept")
    parser.add_argument("--dest", type=Path, default=Path(DEFAULT_WEB_DATA_DIR))
    parser.add_argument("--languages", default=",".join(LANGUAGES), help="translation languages, e.g. de,fr or zh")
    parser.add_argument(
        "--tatoeba", action="append", default=[], metavar="LANG=PATH", help="a Tatoeba TSV to convert and record"
    )
    parser.add_argument("--help-text", action="store_true", help="add LibreOffice's help, aligned by paragraph id")
    parser.add_argument("--manuals", action="store_true", help="add Debian's translated manuals (model/doc_data.py)")
    args = parser.parse_args(argv)
    test_packages = {p.strip() for p in args.test_packages.split(",") if p.strip()}
    languages = [lang.strip() for lang in args.languages.split(",") if lang.strip()]
    tatoeba = {lang: Path(path) for lang, _, path in (item.partition("=") for item in args.tatoeba)}
    records = build(
        read_packages(args.packages),
        args.debs,
        args.dest,
        test_packages,
        languages,
        tatoeba,
        args.help_text,
        args.manuals,
    )
    for record in records:
        status = record.error or ", ".join(f"{lang} {n}" for lang, n in record.pairs.items())
        print(f"{record.package} {record.version}: {status}")


if __name__ == "__main__":
    main()
