"""Soak: mixed load against a real server for a long while, sampling its resident memory.

A memory leak or an unbounded cache shows as RSS that keeps growing once the server is warm,
which a 10-second benchmark cannot see. The server runs as bench/load.py starts it (`python -m
service`, cache on: the in-process tier only, bounded by --cache-mb, small enough to fill early)
and wrk (one C thread, so the client does not take the server's CPU) rotates through a prepared
list of requests:

  plain text  a hot set of sentences (cache hits), distinct ones (misses that keep the cache
              evicting), multi-sentence paragraphs
  HTML        tests/fixtures/html and tests/fixtures/pages, `format: "html"`
  LibreTranslate  POST /translate as JSON and as a form, source auto now and then
  errors      bad JSON (422), text over MAX_TEXT_CHARS (413), an unknown direction (400), and
              their LibreTranslate equivalents (400)

Every --sample-s seconds the server's VmRSS is read from /proc. The result (JSON on stdout and in
--out) gives RSS at the start, at a quarter of the run (5 minutes of 20), at the end, the growth
over the last three quarters (target: at most 5%), throughput, latency and the status-code mix.

  python bench/soak.py --model-dir models --minutes 20 --out artifacts/soak.json
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load import ROOT, emit_text, server  # bench/ is not a package

DATA = ROOT.parent / "shared" / "data" / "multi30k"
FIXTURES = ROOT / "tests" / "fixtures"
GROWTH_TARGET_PCT = 5.0

# One request a line: path, content type and body separated by tabs (JSON and form bodies hold none).
# Statuses are counted in wrk's thread and read back in `done`, which runs in another Lua state.
SOAK_SCRIPT = """
local requests, count, index = {}, 0, 0
for line in io.lines(os.getenv("SOAK_REQUESTS")) do
  local path, ctype, body = line:match("^([^\\t]*)\\t([^\\t]*)\\t(.*)$")
  count = count + 1
  requests[count] = wrk.format("POST", path, {["Content-Type"] = ctype}, body)
end
statuses = {}
local threads = {}
function setup(thread) table.insert(threads, thread) end
function request()
  index = index % count + 1
  return requests[index]
end
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end
function done(summary, latency, reqs)
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do io.write(string.format("STATUS %d %d\\n", status, n)) end
  end
end
"""
_WRK_LATENCY = re.compile(r"^\s+(50|99)(?:\.000)?%\s+([\d.]+)(us|ms|s)\s*$", re.M)
_UNIT = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def read_lines(path: Path, limit: int) -> list[str]:
    if not path.exists():
        return []
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        lines: list[str] = []
        for line in handle:
            if line.strip():
                lines.append(line.strip())
            if len(lines) >= limit:
                break
    return lines


def sentence_pools(distinct: int) -> tuple[list[str], list[str]]:
    """A hot set (repeated: cache hits) and distinct sentences (misses); generated when the data is absent."""
    hot = read_lines(DATA / "test_2016_flickr.en.gz", 300)
    fresh = read_lines(DATA / "train.en.gz", distinct)
    if not hot:
        hot = [f"A man in a blue shirt is standing on ladder number {i}." for i in range(300)]
    if len(fresh) < distinct:
        fresh += [
            f"Two dogs play with ball {i} in the snow near the old red house." for i in range(distinct - len(fresh))
        ]
    return hot, fresh


def html_pages() -> list[str]:
    return [p.read_text(encoding="utf-8") for p in sorted((FIXTURES / "html").glob("*.html"))] + [
        p.read_text(encoding="utf-8") for p in sorted((FIXTURES / "pages").glob("*.html"))
    ]


def build_requests(args: argparse.Namespace) -> tuple[list[tuple[str, str, str]], dict[str, int]]:
    """The rotation: (path, content type, body) per request and how many of each kind one cycle holds.

    A cycle of 20 slots: 8 hot sentences, 4 distinct ones, 2 paragraphs, 2 HTML pages, 2
    LibreTranslate calls and 2 errors. The distinct pool is long enough that one cycle through
    it outlasts a cache of --cache-mb, so the tier keeps evicting for the whole run.
    """
    hot, fresh = sentence_pools(args.distinct)
    pages = html_pages()
    source, target = args.source, args.target
    too_long = "word " * (args.max_text_chars // 5 + 10)

    def native(text: str | list[str], fmt: str = "text", src: str = source) -> tuple[str, str, str]:
        body = {"text": text, "source": src, "target": target, "format": fmt}
        return ("/v1/translate", "application/json", json.dumps(body, ensure_ascii=False))

    def libre_json(q: str, src: str = source) -> tuple[str, str, str]:
        return ("/translate", "application/json", json.dumps({"q": q, "source": src, "target": target}))

    def libre_form(q: str) -> tuple[str, str, str]:
        return (
            "/translate",
            "application/x-www-form-urlencoded",
            urlencode({"q": q, "source": source, "target": target}),
        )

    errors = [
        ("/v1/translate", "application/json", '{"text": "unterminated, "source": "en"'),
        native(too_long),
        native("A sentence.", src="xx"),
        ("/translate", "application/json", '{"q": "broken'),
        libre_json("A sentence.", src="xx"),
        native(""),
    ]
    requests: list[tuple[str, str, str]] = []
    kinds = {"plain_hot": 0, "plain_distinct": 0, "paragraph": 0, "html": 0, "libretranslate": 0, "error": 0}
    cycles = (len(fresh) + 3) // 4
    for cycle in range(cycles):
        slots = [
            *(("plain_hot", native(hot[(cycle * 8 + i) % len(hot)])) for i in range(8)),
            *(("plain_distinct", native(fresh[(cycle * 4 + i) % len(fresh)])) for i in range(4)),
            ("paragraph", native(" ".join(hot[(cycle + i) % len(hot)] for i in range(4)))),
            ("paragraph", native("\n\n".join([hot[(cycle * 3) % len(hot)], fresh[(cycle * 7) % len(fresh)]]))),
            ("html", native(pages[(cycle * 2) % len(pages)], "html")),
            ("html", native([pages[(cycle * 2 + 1) % len(pages)]], "html")),
            ("libretranslate", libre_json(hot[(cycle * 5) % len(hot)], "auto" if cycle % 4 == 0 else source)),
            ("libretranslate", libre_form(fresh[(cycle * 4 + 2) % len(fresh)])),
            ("error", errors[(cycle * 2) % len(errors)]),
            ("error", errors[(cycle * 2 + 1) % len(errors)]),
        ]
        for kind, item in slots:
            kinds[kind] += 1
            requests.append(item)
    return requests, kinds


def server_pid(parent: int) -> int:
    """The `python -m service` child of this process (bench/load.py's `server` does not hand it out)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == parent and b"-m" in cmdline and b"service" in cmdline:
            return int(entry.name)
    raise RuntimeError("server process not found")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


class Sampler(threading.Thread):
    """VmRSS every `interval` seconds, as (seconds since start, MB)."""

    def __init__(self, pid: int, interval: float):
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.samples: list[tuple[float, float]] = []
        self.stop = threading.Event()
        self.start_time = time.monotonic()

    def run(self) -> None:
        while True:
            self.samples.append((round(time.monotonic() - self.start_time, 1), round(rss_mb(self.pid), 1)))
            if self.stop.wait(self.interval):
                return


def at(samples: list[tuple[float, float]], seconds: float) -> float:
    """RSS of the sample nearest to `seconds` into the run."""
    return min(samples, key=lambda s: abs(s[0] - seconds))[1]


def run_wrk(base: str, requests: list[tuple[str, str, str]], args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        listing = Path(tmp) / "requests.tsv"
        listing.write_text("".join(f"{path}\t{ctype}\t{body}\n" for path, ctype, body in requests), encoding="utf-8")
        script = Path(tmp) / "soak.lua"
        script.write_text(SOAK_SCRIPT)
        command = ["wrk", "-t1", f"-c{args.connections}", f"-d{int(args.minutes * 60)}s", "--timeout", "60s"]
        output = subprocess.run(
            [*command, "--latency", "-s", str(script), base],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "SOAK_REQUESTS": str(listing)},
        ).stdout
    latency = {q: float(v) * _UNIT[unit] for q, v, unit in _WRK_LATENCY.findall(output)}
    statuses = {int(s): int(n) for s, n in re.findall(r"^STATUS (\d+) (\d+)$", output, re.M)}
    errors = re.search(r"Socket errors: .*", output)
    return {
        "requests": int(re.search(r"(\d+) requests in", output).group(1)),  # type: ignore[union-attr]
        "requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),  # type: ignore[union-attr]
        "p50_ms": round(latency.get("50", float("nan")), 2),
        "p99_ms": round(latency.get("99", float("nan")), 2),
        "status_codes": {str(s): statuses[s] for s in sorted(statuses)},
        "socket_errors": errors.group(0) if errors else "",
    }


def cache_counters(base: str) -> dict[str, float]:
    text = httpx.get(f"{base}/metrics", timeout=10).text
    found = re.findall(r'^nmt_cache_(hits|misses)_total\{tier="memory"\} ([\d.e+]+)$', text, re.M)
    return {f"memory_{name}": float(value) for name, value in found}


def soak(args: argparse.Namespace) -> dict[str, Any]:
    requests, kinds = build_requests(args)
    env = {"CACHE_MEMORY_MB": str(args.cache_mb), "MAX_TEXT_CHARS": str(args.max_text_chars)}
    with server(args, env) as base:
        pid = server_pid(os.getpid())
        idle = rss_mb(pid)
        sampler = Sampler(pid, args.sample_s)
        sampler.start()
        try:
            load = run_wrk(base, requests, args)
        finally:
            sampler.stop.set()
            sampler.join()
        counters = cache_counters(base)
    samples = sampler.samples
    duration = args.minutes * 60
    quarter, end = at(samples, duration / 4), samples[-1][1]
    growth = (end - quarter) / quarter * 100
    return {
        "benchmark": "soak",
        "minutes": args.minutes,
        "connections": args.connections,
        "cache_memory_mb": args.cache_mb,
        "rotation": {"requests": len(requests), "per_20": {k: round(v * 20 / len(requests)) for k, v in kinds.items()}},
        "rss_mb": {
            "idle_before_load": round(idle, 1),
            "start": samples[0][1],
            "quarter": quarter,
            "quarter_at_s": round(duration / 4, 1),
            "end": end,
            "max": max(mb for _, mb in samples),
        },
        "growth_last_three_quarters_pct": round(growth, 2),
        "growth_target_pct": GROWTH_TARGET_PCT,
        "growth_within_target": growth <= GROWTH_TARGET_PCT,
        **load,
        "cache": counters,
        "rss_samples": samples,  # (seconds into the run, MB)
    }


def emit(result: dict[str, Any], out: Path | None) -> None:
    """The JSON on stdout and, with --out, in that file; the RSS series on one line."""
    samples = json.dumps(result["rss_samples"], separators=(",", ":"))
    emit_text(json.dumps({**result, "rss_samples": "__SAMPLES__"}, indent=2).replace('"__SAMPLES__"', samples), out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path, default=ROOT / "models")
    parser.add_argument("--minutes", type=float, default=20)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--cache-mb", type=float, default=16, help="CACHE_MEMORY_MB: small, so it fills early")
    parser.add_argument("--distinct", type=int, default=29000, help="distinct sentences (cache misses) in the rotation")
    parser.add_argument("--max-text-chars", type=int, default=10_000)
    parser.add_argument("--sample-s", type=float, default=5)
    parser.add_argument("--source", default="en")
    parser.add_argument("--target", default="de")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args(argv)
    emit(soak(args), args.out)


if __name__ == "__main__":
    main()
