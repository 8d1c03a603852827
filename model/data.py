"""Download the public corpora on a user's machine: `python -m model.data [--dest DIR]`.

Multi30k task 1 (raw, gzip) from its GitHub repository and the Tatoeba
English–French pairs as packaged by manythings.org (zip, turned into a gzip
TSV). Files already present are kept. The base URLs are options so that the
command can be pointed at a mirror (and tested against a local server).
"""

from __future__ import annotations

import argparse
import gzip
import io
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

MULTI30K_URL = "https://github.com/multi30k/dataset/raw/master/data/task1/raw"
TATOEBA_URL = "https://www.manythings.org/anki"
MULTI30K_SPLITS = ("train", "val", "test_2016_flickr")
MULTI30K_LANGS = ("en", "de", "fr", "cs")
TATOEBA_ARCHIVE = "fra-eng.zip"
TATOEBA_MEMBER = "fra.txt"
TATOEBA_FILE = "tatoeba/eng-fra.tsv.gz"
CHUNK = 1 << 16


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


def multi30k_downloads(base_url: str, dest: Path) -> list[Download]:
    return [
        Download(f"{base_url}/{split}.{lang}.gz", dest / "multi30k" / f"{split}.{lang}.gz")
        for split in MULTI30K_SPLITS
        for lang in MULTI30K_LANGS
    ]


def tatoeba_to_tsv(archive: Path, dest: Path) -> Path:
    """manythings.org lines are `English<TAB>French<TAB>attribution`; keep the first two columns."""
    with zipfile.ZipFile(archive) as bundle, bundle.open(TATOEBA_MEMBER) as member:
        lines = io.TextIOWrapper(member, encoding="utf-8")
        dest.parent.mkdir(parents=True, exist_ok=True)
        with gzip.open(dest, "wt", encoding="utf-8") as out:
            for line in lines:
                cells = line.rstrip("\n").split("\t")
                if len(cells) >= 2:
                    out.write(f"{cells[0]}\t{cells[1]}\n")
    return dest


def download_all(dest: Path, multi30k_url: str = MULTI30K_URL, tatoeba_url: str | None = TATOEBA_URL) -> list[Path]:
    written: list[Path] = []
    for item in tqdm(multi30k_downloads(multi30k_url, dest), desc="multi30k", unit="file"):
        if not item.dest.exists():
            written.append(fetch(item.url, item.dest))
    if tatoeba_url:
        tsv = dest / TATOEBA_FILE
        if not tsv.exists():
            archive = fetch(f"{tatoeba_url}/{TATOEBA_ARCHIVE}", dest / "tatoeba" / TATOEBA_ARCHIVE)
            written.append(tatoeba_to_tsv(archive, tsv))
            archive.unlink()
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dest", type=Path, default=Path("data"), help="folder to fill (default: ./data)")
    parser.add_argument("--multi30k-url", default=MULTI30K_URL)
    parser.add_argument("--tatoeba-url", default=TATOEBA_URL)
    parser.add_argument("--skip-tatoeba", action="store_true")
    args = parser.parse_args(argv)
    written = download_all(args.dest, args.multi30k_url, None if args.skip_tatoeba else args.tatoeba_url)
    print(f"{len(written)} files written under {args.dest}; point DATA_DIR at it to train")


if __name__ == "__main__":
    main()
