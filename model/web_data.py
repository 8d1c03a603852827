"""Web-domain corpus from Debian's own packages (issue 22): `python -m model.web_data --dest DIR`.

Each package listed in --packages (default model/configs/web_packages.txt) is fetched with `apt-get download`
(kept in --debs), unpacked with `dpkg-deb -x`, and its German and French gettext catalogs (any `*.mo` under a
`{de,fr}/LC_MESSAGES` folder, such as usr/share/locale's or LibreOffice's, or named like WordPress's `de_DE.mo`)
are read with polib. A pair is kept when it is translated and singular (a compiled .mo holds no fuzzy
entries), once menu accelerators (`_File`, `&File`) and runs of whitespace are gone, 2-400 characters long with
a length ratio within 1/3-3, and has letters on both sides. English strings are deduplicated per language.
Placeholders (`%s`, `{name}`, ...) become the stand-in number the service shows the model in their place
(nmt_core/spans.py), on both sides, so that the model learns to carry them; a pair whose sides hold different
placeholders is dropped.

Held-out discipline: pairs are split by English string (the same string never sits in two splits): 1% valid,
1% test; the packages in --test-packages go whole to a UI test slice, so that it holds catalogs the model never
trained on. Written:

  DEST/web.en-{de,fr}.tsv                      training pairs (English, translation)
  DEST/heldout/{valid,test}/ui.en-{de,fr}.tsv  held out by English string
  DEST/heldout/ui_test/ui.en-{de,fr}.tsv       whole held-out catalogs
  DEST/manifest.json                           per package: version, license, catalogs, pairs kept

Nothing here is committed: the corpus is rebuilt by this command on any Debian machine.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath

import polib

from model.dataset import DEFAULT_WEB_DATA_DIR
from nmt_core.spans import STAND_IN, pattern_spans

LANGUAGES = ("de", "fr")
DEFAULT_PACKAGES = Path(__file__).resolve().parent / "configs" / "web_packages.txt"
# Menu accelerators: LibreOffice's ~ anywhere (S~ubject), &File but not &amp;, and GTK's _ at a word's start or
# inside a word (redu_zieren), unless the word is an identifier (snake_case) that both sides of the pair share.
_TILDE = re.compile(r"~(?=\w)")
_AMPERSAND = re.compile(r"(?<![\w&])&(?=\w)(?!#?\w{1,8};)")
_UNDERSCORED = re.compile(r"\w*_\w*")
_MNEMONIC = re.compile(r"^_(?=[^\W_])|(?<=[^\W\d_])_(?=[^\W\d_])")
_LANG_CODES = {"de": "de", "de_DE": "de", "fr": "fr", "fr_FR": "fr"}  # not de_CH (no ß) or fr_CA
_STEM_LANGUAGE = re.compile(r"(?:^|-)(de_DE|fr_FR)$")  # WordPress: admin-de_DE.mo
# Product-name variables that a catalog fills in at run time (LibreOffice): the name itself, so the model copies it.
_PRODUCT_NAMES = {"%PRODUCTNAME": "LibreOffice"}
_SPACE = re.compile(r"\s+")
_LETTER = re.compile(r"[^\W\d_]")


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
    text = _AMPERSAND.sub("", _TILDE.sub("", text))

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


def acceptable(source: str, target: str) -> bool:
    if not (2 <= len(source) <= 400 and 2 <= len(target) <= 400):
        return False
    if not (_LETTER.search(source) and _LETTER.search(target)):
        return False
    return 1 / 3 <= len(target) / len(source) <= 3


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


def catalog_pairs(path: Path) -> Iterator[tuple[str, str]]:
    """(English, translation) of one compiled catalog: translated singular entries, cleaned, filtered, with
    placeholders as stand-ins."""
    for entry in polib.mofile(str(path)):
        if entry.msgid_plural or not entry.msgstr or entry.obsolete:
            continue
        source, target = clean_pair(entry.msgid, entry.msgstr)
        if source == target or not acceptable(source, target):
            continue
        pair = with_stand_ins(source, target)
        if pair is not None:
            yield pair


def unpacked_catalogs(deb: Path, workdir: Path) -> tuple[dict[str, list[Path]], str, str]:
    """The package's catalogs per language, its version and its license (from its copyright file)."""
    subprocess.run(["dpkg-deb", "-x", str(deb), str(workdir)], check=True, capture_output=True)
    version = subprocess.run(
        ["dpkg-deb", "-f", str(deb), "Version"], check=True, capture_output=True, text=True
    ).stdout.strip()
    catalogs: dict[str, list[Path]] = {lang: [] for lang in LANGUAGES}
    for path in sorted(workdir.rglob("*.mo")):
        lang = catalog_language(PurePosixPath(path.relative_to(workdir).as_posix()))
        if lang is not None:
            catalogs[lang].append(path)
    return catalogs, version, _license(workdir)


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


def build(packages: Iterable[str], debs: Path, dest: Path, test_packages: set[str]) -> list[PackageRecord]:
    """Collect every package's pairs and write the corpus, the held-out slices and the manifest."""
    chosen: dict[tuple[str, str], dict[str, str]] = {}  # (slice, lang) -> English -> translation
    records = []
    for package in packages:
        record = PackageRecord(package)
        records.append(record)
        try:
            deb = download(package, debs)
            with tempfile.TemporaryDirectory() as workdir:
                catalogs, record.version, record.license = unpacked_catalogs(deb, Path(workdir))
                for lang, paths in catalogs.items():
                    kept = 0
                    for path in paths:
                        record.catalogs.append(path.relative_to(workdir).as_posix())
                        for source, target in catalog_pairs(path):
                            where = "ui_test" if package in test_packages else split_of(source)
                            slot = chosen.setdefault((where, lang), {})
                            if source not in slot:
                                slot[source] = target
                                kept += 1
                    record.pairs[lang] = kept
        except (subprocess.CalledProcessError, FileNotFoundError, OSError, ValueError) as exc:
            record.error = f"{type(exc).__name__}: {exc}"
    _write(chosen, dest, records)
    return records


def _write(chosen: dict[tuple[str, str], dict[str, str]], dest: Path, records: list[PackageRecord]) -> None:
    held_out = {s for (where, _), pairs in chosen.items() if where != "train" for s in pairs}
    for (where, lang), pairs in sorted(chosen.items()):
        if where == "train":
            path = dest / f"web.en-{lang}.tsv"
            pairs = {s: t for s, t in pairs.items() if s not in held_out}  # a held-out string never trains
        else:
            path = dest / "heldout" / where / f"ui.en-{lang}.tsv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"{s}\t{t}\n" for s, t in sorted(pairs.items())), encoding="utf-8")
    manifest = {
        "sources": [asdict(r) for r in records],
        "filters": "translated singular entries; accelerators removed; 2-400 chars; length ratio 1/3-3; letters;"
        " placeholders as the stand-in " + STAND_IN + ", pairs whose sides hold different placeholders dropped",
        "split": "by English string: sha256 % 100 == 0 valid, == 1 test; --test-packages whole to ui_test",
    }
    (dest / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")


def read_packages(path: Path) -> list[str]:
    return [line.split("#")[0].strip() for line in path.read_text().splitlines() if line.split("#")[0].strip()]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--packages", type=Path, default=DEFAULT_PACKAGES, help="one Debian package per line")
    parser.add_argument("--test-packages", default="", help="comma-separated packages held out whole (UI test)")
    parser.add_argument("--debs", type=Path, default=Path("data/debs"), help="where .deb files are kept")
    parser.add_argument("--dest", type=Path, default=Path(DEFAULT_WEB_DATA_DIR))
    args = parser.parse_args(argv)
    test_packages = {p.strip() for p in args.test_packages.split(",") if p.strip()}
    records = build(read_packages(args.packages), args.debs, args.dest, test_packages)
    for record in records:
        status = record.error or ", ".join(f"{lang} {n}" for lang, n in record.pairs.items())
        print(f"{record.package} {record.version}: {status}")


if __name__ == "__main__":
    main()
