"""Download the public corpora on a user's machine: `python -m model.data [--dest DIR] [--corpora LIST]`.

Corpora (`--corpora`, comma-separated; default: all of them):
  multi30k  Multi30k task 1 (raw, gzip) from its GitHub repository: multi30k/{split}.{lang}.gz
  tatoeba   Tatoeba English–French as packaged by manythings.org (zip, turned into a gzip TSV):
            tatoeba/eng-fra.tsv.gz
  general   what model/configs/general_en_de_fr.yaml adds to Multi30k: Tatoeba en-de and en-fr
            (general/tatoeba-eng-{deu,fra}.tsv.gz) and the WMT news test sets 2008–2018 from the
            WMT19 development archive (general/news-en-{de,fr}.{en,de,fr}.gz, line-aligned)

Files already present are kept. The base URLs are options so that the command can be pointed at a
mirror (and tested against a local server).
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import html
import io
import re
import tarfile
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from tqdm import tqdm

MULTI30K_URL = "https://github.com/multi30k/dataset/raw/master/data/task1/raw"
TATOEBA_URL = "https://www.manythings.org/anki"
WMT_URL = "https://data.statmt.org/wmt19/translation-task/dev.tgz"
MULTI30K_SPLITS = ("train", "val", "test_2016_flickr")
MULTI30K_LANGS = ("en", "de", "fr", "cs")
TATOEBA_ARCHIVE = "fra-eng.zip"
TATOEBA_MEMBER = "fra.txt"
TATOEBA_FILE = "tatoeba/eng-fra.tsv.gz"
GENERAL_DIR = "general"
GENERAL_TATOEBA_LANGS = ("deu", "fra")
CORPORA = ("multi30k", "tatoeba", "general")
CHUNK = 1 << 16

# WMT news test sets per language paired with English, in the order they are concatenated (the order
# of ../shared/data/general/). newstest2008 is named news-test2008 in the WMT archives.
NEWS_SETS: dict[str, tuple[str, ...]] = {
    "de": ("newstest2008", "newssyscomb2009", *(f"newstest{year}" for year in range(2009, 2019))),
    "fr": (
        "newstest2008",
        "newssyscomb2009",
        *(f"newstest{year}" for year in range(2009, 2015)),
        "newsdiscusstest2015",
    ),
}
NEWS_ALIASES = {"newstest2008": ("newstest2008", "news-test2008")}
_SEG = re.compile(r"<seg\b[^>]*>(.*?)</seg>", re.IGNORECASE)


class CorpusError(RuntimeError):
    """A downloaded archive lacks a set we need or holds one whose sides do not line up."""


@dataclass(frozen=True)
class Download:
    url: str
    dest: Path


def fetch(url: str, dest: Path, timeout: float = 60.0) -> Path:
    """Stream one URL to dest with a progress bar; written atomically."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part")
    request = urllib.request.Request(url, headers={"User-Agent": "gnmt-translate-data/1"})
    with urllib.request.urlopen(request, timeout=timeout) as response, tmp.open("wb") as out:
        total = int(response.headers.get("Content-Length") or 0) or None
        with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name, leave=False) as bar:
            while chunk := response.read(CHUNK):
                out.write(chunk)
                bar.update(len(chunk))
    tmp.replace(dest)
    return dest


@contextlib.contextmanager
def fetched(url: str, dest: Path) -> Iterator[Path]:
    """A downloaded archive that is deleted once read (or reading failed): only what we derive is kept."""
    try:
        yield fetch(url, dest)
    finally:
        dest.unlink(missing_ok=True)


@contextlib.contextmanager
def _atomic(dest: Path) -> Iterator[Path]:
    """A temporary path renamed to dest on success, so that an interrupted run never leaves a file
    that the next run would keep as if it were complete."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part")
    try:
        yield tmp
        tmp.replace(dest)
    finally:
        tmp.unlink(missing_ok=True)


def multi30k_downloads(base_url: str, dest: Path) -> list[Download]:
    return [
        Download(f"{base_url}/{split}.{lang}.gz", dest / "multi30k" / f"{split}.{lang}.gz")
        for split in MULTI30K_SPLITS
        for lang in MULTI30K_LANGS
    ]


def tatoeba_names(lang: str) -> tuple[str, str]:
    """manythings.org's archive and member for one language (ISO 639-3): `deu` -> deu-eng.zip, deu.txt."""
    return f"{lang}-eng.zip", f"{lang}.txt"


def tatoeba_to_tsv(archive: Path, dest: Path, member: str = TATOEBA_MEMBER) -> Path:
    """manythings.org lines are `English<TAB>Other<TAB>attribution`; keep the first two columns."""
    with zipfile.ZipFile(archive) as bundle, bundle.open(member) as raw, _atomic(dest) as tmp:
        lines = io.TextIOWrapper(raw, encoding="utf-8")
        with gzip.open(tmp, "wt", encoding="utf-8") as out:
            for line in lines:
                cells = line.rstrip("\n").split("\t")
                if len(cells) >= 2:
                    out.write(f"{cells[0]}\t{cells[1]}\n")
    return dest


def fetch_tatoeba(base_url: str, lang: str, targets: list[Path]) -> list[Path]:
    """Write every missing TSV in targets from one download of the language's export (tatoeba/ and
    general/ both want the French one)."""
    missing = [path for path in targets if not path.exists()]
    if not missing:
        return []
    archive_name, member = tatoeba_names(lang)
    with fetched(f"{base_url}/{archive_name}", missing[0].parent / archive_name) as archive:
        return [tatoeba_to_tsv(archive, path, member) for path in missing]


def news_paths(dest: Path, lang: str) -> dict[str, Path]:
    """The two line-aligned files of one news pair, English first."""
    return {side: dest / GENERAL_DIR / f"news-en-{lang}.{side}.gz" for side in ("en", lang)}


def _one_line(text: str) -> str:
    # Readers split on \r as well as \n (universal newlines): either inside a sentence would shift every
    # later line of one side against the other.
    return text.replace("\r", " ").replace("\n", " ")


def plain_lines(data: str) -> list[str]:
    """One sentence a line. Split on \\n only: str.splitlines also breaks at U+2028 and friends, which
    occur inside WMT sentences."""
    lines = data.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [_one_line(line.removesuffix("\r")) for line in lines]


def sgm_lines(data: str) -> list[str]:
    """The text of each `<seg ...>text</seg>`, XML-unescaped, in file order (documents included)."""
    return [_one_line(html.unescape(match.group(1)).strip()) for match in _SEG.finditer(data)]


def _member_pattern(sets: Collection[str], langs: Collection[str]) -> re.Pattern[str]:
    """File names (without folder) that can hold one side of a wanted set: `newstest2012.de` or
    `newstest2014-deen-src.de.sgm` (older SGML files carry no pair code: `newstest2009-ref.de.sgm`)."""
    names = "|".join(re.escape(alias) for name in sets for alias in NEWS_ALIASES.get(name, (name,)))
    lang = "|".join(re.escape(code) for code in langs)
    return re.compile(rf"^(?:{names})(?:\.(?:{lang})|(?:-[a-z]{{4}})?-(?:src|ref)\.(?:{lang})\.sgm)$")


def read_wmt_archive(archive: Path, langs: Collection[str]) -> dict[str, list[str]]:
    """Sentences of every member that may hold a wanted set side, by file name, in one pass over the
    compressed tar (mode r:gz read in order never seeks back; only the few small members we need are kept)."""
    pattern = _member_pattern({name for lang in langs for name in NEWS_SETS[lang]}, {"en", *langs})
    found: dict[str, list[str]] = {}
    with tarfile.open(archive, "r:gz") as tar:
        for member in tqdm(tar, desc=f"reading {archive.name}", unit=" files", leave=False):
            name = PurePosixPath(member.name).name
            if not member.isfile() or name in found or not pattern.match(name):
                continue
            handle = tar.extractfile(member)
            if handle is None:
                continue
            with handle:
                data = handle.read().decode("utf-8")
            found[name] = sgm_lines(data) if name.endswith(".sgm") else plain_lines(data)
    return found


def news_set(found: dict[str, list[str]], name: str, lang: str) -> tuple[list[str], list[str]]:
    """English and `lang` sides of one test set: plain text when the archive has both sides so, else
    the SGML of one pair code (both directions of these sets hold the same segments)."""
    candidates: list[tuple[str, str]] = []
    for alias in NEWS_ALIASES.get(name, (name,)):
        candidates.append((f"{alias}.en", f"{alias}.{lang}"))
        for code in (f"{lang}en-", f"en{lang}-", ""):
            for en_role, other_role in (("ref", "src"), ("src", "ref")):
                candidates.append((f"{alias}-{code}{en_role}.en.sgm", f"{alias}-{code}{other_role}.{lang}.sgm"))
    for english, other in candidates:
        if english in found and other in found:
            lines_en, lines_other = found[english], found[other]
            if len(lines_en) != len(lines_other):
                raise CorpusError(
                    f"{name} (en-{lang}) is not line-aligned: {english} has {len(lines_en)} sentences, "
                    f"{other} {len(lines_other)}"
                )
            return lines_en, lines_other
    aliases = NEWS_ALIASES.get(name, (name,))
    near = sorted(member for member in found if member.startswith(aliases))
    raise CorpusError(
        f"the WMT archive lacks {name} for en-{lang}: expected NAME.{{en,{lang}}} or "
        f"NAME-{lang}en-{{src,ref}}.{{{lang},en}}.sgm (or en{lang}) with NAME {' or '.join(aliases)}; "
        f"found {', '.join(near) if near else 'no file of it'}"
    )


def fetch_news(url: str, dest: Path) -> list[Path]:
    """The WMT news test sets as line-aligned gzip files, one pair of files per language."""
    todo = [lang for lang in NEWS_SETS if not all(path.exists() for path in news_paths(dest, lang).values())]
    if not todo:
        return []
    archive_name = PurePosixPath(urllib.parse.urlparse(url).path).name or "wmt-dev.tgz"
    with fetched(url, dest / GENERAL_DIR / archive_name) as archive:
        found = read_wmt_archive(archive, todo)
    columns: dict[str, dict[str, list[str]]] = {}
    for lang in todo:  # every set is checked before anything is written
        columns[lang] = {"en": [], lang: []}
        for name in NEWS_SETS[lang]:
            english, other = news_set(found, name, lang)
            columns[lang]["en"] += english
            columns[lang][lang] += other
    written: list[Path] = []
    for lang in todo:
        for side, path in news_paths(dest, lang).items():
            if path.exists():
                continue
            with _atomic(path) as tmp, gzip.open(tmp, "wt", encoding="utf-8") as out:
                out.writelines(f"{line}\n" for line in columns[lang][side])
            written.append(path)
    return written


def download_all(
    dest: Path,
    multi30k_url: str = MULTI30K_URL,
    tatoeba_url: str | None = TATOEBA_URL,
    wmt_url: str = WMT_URL,
    corpora: Collection[str] = ("multi30k", "tatoeba"),
) -> list[Path]:
    """Fetch the chosen corpora under dest; returns the files written (present ones are kept).

    The default corpora are those this function fetched before `general` existed; the command asks for
    all of them. `tatoeba_url=None` leaves out `tatoeba` (the older way to skip it).
    """
    unknown = set(corpora) - set(CORPORA)
    if unknown:
        raise ValueError(f"unknown corpora {sorted(unknown)}; choose from {', '.join(CORPORA)}")
    if tatoeba_url is None and "general" in corpora:
        raise ValueError("the general corpora include Tatoeba en-de and en-fr: they need tatoeba_url")
    written: list[Path] = []
    if "multi30k" in corpora:
        for item in tqdm(multi30k_downloads(multi30k_url, dest), desc="multi30k", unit="file"):
            if not item.dest.exists():
                written.append(fetch(item.url, item.dest))
    tatoeba: dict[str, list[Path]] = {}  # language -> TSVs to write from its export
    if "tatoeba" in corpora and tatoeba_url is not None:
        tatoeba.setdefault("fra", []).append(dest / TATOEBA_FILE)
    if "general" in corpora:
        for lang in GENERAL_TATOEBA_LANGS:
            tatoeba.setdefault(lang, []).append(dest / GENERAL_DIR / f"tatoeba-eng-{lang}.tsv.gz")
    if tatoeba_url is not None:
        for lang, targets in tatoeba.items():
            written += fetch_tatoeba(tatoeba_url, lang, targets)
    if "general" in corpora:
        written += fetch_news(wmt_url, dest)
    return written


def _corpora_list(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in CORPORA]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"choose from {','.join(CORPORA)} (got {text!r})")
    return names


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dest", type=Path, default=Path("data"), help="folder to fill (default: ./data)")
    parser.add_argument(
        "--corpora",
        type=_corpora_list,
        default=list(CORPORA),
        help=f"comma-separated list to fetch (default: {','.join(CORPORA)})",
    )
    parser.add_argument("--multi30k-url", default=MULTI30K_URL)
    parser.add_argument("--tatoeba-url", default=TATOEBA_URL, help="serves fra-eng.zip and deu-eng.zip")
    parser.add_argument("--wmt-url", default=WMT_URL, help="the WMT19 development archive (dev.tgz)")
    parser.add_argument("--skip-tatoeba", action="store_true", help="leave tatoeba out of --corpora")
    parser.add_argument("--skip-general", action="store_true", help="leave general out of --corpora")
    args = parser.parse_args(argv)
    skipped = {name for name, skip in (("tatoeba", args.skip_tatoeba), ("general", args.skip_general)) if skip}
    corpora = [name for name in args.corpora if name not in skipped]
    try:
        written = download_all(args.dest, args.multi30k_url, args.tatoeba_url, args.wmt_url, corpora)
    except CorpusError as error:
        raise SystemExit(f"error: {error}") from error
    print(f"{len(written)} files written under {args.dest}; point DATA_DIR at it to train")


if __name__ == "__main__":
    main()
