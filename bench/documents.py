"""Document jobs on the shipped model (issue 21): how much of real documents gets translated, how fast, and what a
long job costs interactive users.

    python bench/documents.py --out runs/documents.json

- real: every file of tests/fixtures/documents (python-docx's, python-pptx's and odfpy's test files) as a job:
  units with words whose text changed, read back with the format's own library, and seconds per job, with the
  units that came back as they were listed. --documents DIR takes every .docx/.pptx/.odt/.odp under DIR instead,
  such as all of those projects' test files:
      pip download --no-deps --no-binary :all: python-docx==1.2.0 python-pptx==1.0.2 odfpy==1.4.1 -d runs/sdists
      for f in runs/sdists/*.tar.gz; do tar -xzf "$f" -C runs/sdists; done
      python bench/documents.py --documents runs/sdists --only real
- interactive: p50 latency of --clients closed-loop clients on an idle server, and while a job of --lines news
  sentences translates (bulk priority); the job must finish.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from load import ROOT, emit, read_sentences, server
from streaming import NEWS, interactive_p50

from tests.test_documents import REAL, _docx_units, _odf_units, _pptx_units

READERS = {".docx": _docx_units, ".pptx": _pptx_units, ".odt": _odf_units, ".odp": _odf_units}


def run_job(base: str, name: str, data: bytes) -> tuple[bytes, float]:
    started = time.perf_counter()
    handle = httpx.post(
        f"{base}/v1/documents", files={"file": (name, data)}, data={"source": "en", "target": "de"}, timeout=60
    )
    handle.raise_for_status()
    job, key = handle.json()["document_id"], handle.json()["document_key"]
    while True:
        status = httpx.get(f"{base}/v1/documents/{job}", params={"document_key": key}, timeout=30).json()
        if status["status"] in ("done", "error"):
            break
        time.sleep(0.2)
    if status["status"] != "done":
        raise RuntimeError(f"{name}: {status}")
    result = httpx.get(f"{base}/v1/documents/{job}/result", params={"document_key": key}, timeout=60)
    return result.content, time.perf_counter() - started


def _has_letters(text: str) -> bool:
    return any(c.isalpha() for c in text)


def real_documents(base: str, folder: Path = REAL) -> dict[str, Any]:
    rows: dict[str, dict[str, Any]] = {}
    units, changed = 0, 0
    for path in sorted(folder.rglob("*")):
        if path.suffix not in READERS or path.name == "nasty.odt":
            continue
        name, original = str(path.relative_to(folder)), path.read_bytes()
        try:
            before = READERS[path.suffix](original)
        except Exception as exc:  # a test file its own library cannot read (a deliberately broken one)
            rows[name] = {"skipped": f"{type(exc).__name__}: {exc}"[:120]}
            continue
        wordy = [b[0] for b in before if _has_letters(b[0])]
        units += len(wordy)
        try:
            data, seconds = run_job(base, path.name, original)
        except httpx.HTTPStatusError as exc:  # refused at upload: counted, with every unit untranslated
            rows[name] = {"units": len(wordy), "refused": exc.response.text[:200]}
            continue
        after = READERS[path.suffix](data)
        kept = [b[0] for b, a in zip(before, after, strict=True) if b[0] == a[0] and _has_letters(b[0])]
        translated = len(wordy) - len(kept)
        rows[name] = {
            "units": len(wordy),
            "translated": translated,
            "seconds": round(seconds, 2),
            "unchanged": kept[:40],
        }
        changed += translated
    return {"files": rows, "units": units, "translated": changed, "share": round(changed / max(1, units), 3)}


def interactive(base: str, lines: list[str], clients: int, seconds: float) -> dict[str, Any]:
    idle, idle_n = interactive_p50(base, clients, seconds, "idle")
    done: list[float] = []
    started = time.perf_counter()
    worker = threading.Thread(
        target=lambda: done.append(run_job(base, "long.txt", "\n".join(lines).encode())[1]), daemon=True
    )
    worker.start()
    time.sleep(2.0)  # the job is running
    busy, busy_n = interactive_p50(base, clients, seconds, "busy")
    worker.join(timeout=1800)
    return {
        "idle_p50_s": round(idle, 4),
        "with_document_p50_s": round(busy, 4),
        "ratio": round(busy / idle, 2),
        "requests": [idle_n, busy_n],
        "document_lines": len(lines),
        "document_finished": bool(done),
        "document_s": round(done[0], 1) if done else None,
        "wall_s": round(time.perf_counter() - started, 1),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path, default=ROOT / "models")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--news", type=Path, default=NEWS)
    parser.add_argument("--lines", type=int, default=400)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--documents", type=Path, default=REAL, help="real documents to translate (recursive)")
    parser.add_argument("--only", choices=["real", "interactive"])
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    result: dict[str, Any] = {}
    if args.only != "interactive":
        with server(args, {"CACHE_MEMORY_MB": "0"}) as base:
            result["real"] = real_documents(base, args.documents)
    if args.only == "real":
        emit(result, args.out)
        return
    with server(args, {"CACHE_MEMORY_MB": "0"}) as base:
        lines = read_sentences(args.news)[-(3000 + args.lines) : -3000]
        result["interactive"] = interactive(base, lines, args.clients, args.seconds)
    emit(result, args.out)


if __name__ == "__main__":
    main()
