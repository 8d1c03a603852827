"""Streaming, cancellation and priorities (issue 20), against a real `python -m service` on the shipped model.

    python bench/streaming.py --out runs/streaming.json

Three measurements, each on a server of its own (no cache, so every request decodes):
- first: a 64-text streamed request of news sentences: time to the first event over time to `done` (median of
  --repeats requests of fresh sentences); every index once, and every text equal to a plain request's; the time
  to `done` over the plain request's time (what the head start of the shortest text costs);
- cancel: a 128-text streamed request of long sentences, closed after its first event: decoder steps between the
  close and 64 sentences withdrawn (nmt_cancelled_sentences_total), and a short request's latency right after
  against the same request on the idle server;
- priority: interactive p50 latency (--clients closed-loop clients sending one short sentence each time) on an idle
  server and while a bulk request of 500 sentences runs; the bulk request must still finish.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from load import ROOT, emit, percentile, read_sentences, server

NEWS = ROOT.parent / "shared" / "data" / "general" / "news-en-de.en.gz"
CANCELLED = "nmt_cancelled_sentences_total"
STEPS = "nmt_decoder_step_seconds_count"


def metric(base: str, name: str) -> float:
    """The sum of a metric's samples over its labels (0 when absent)."""
    text = httpx.get(f"{base}/metrics", timeout=10).text
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.split("{")[0].split(" ")[0] == name)


def events(response: httpx.Response) -> Any:
    name = "message"
    for line in response.iter_lines():
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: "):
            yield name, json.loads(line.removeprefix("data: ")), time.perf_counter()
            name = "message"


def first_result(base: str, pool: list[str], repeats: int) -> dict[str, Any]:
    ratios, costs, exact = [], [], True
    for r in range(repeats):
        texts = pool[r * 64 : (r + 1) * 64]
        body = {"text": texts, "source": "en", "target": "de", "stream": True}
        started = time.perf_counter()
        with httpx.stream("POST", f"{base}/v1/translate", json=body, timeout=600) as response:
            got = list(events(response))
        first, done = got[0][2] - started, got[-1][2] - started
        ratios.append(first / done)
        items = {data["index"]: data["text"] for name, data, _ in got if name == "message"}
        started = time.perf_counter()
        plain = httpx.post(f"{base}/v1/translate", json={**body, "stream": False}, timeout=600).json()
        costs.append(done / (time.perf_counter() - started))  # the stream's `done` over the plain answer's time
        exact &= sorted(items) == list(range(64)) and [items[i] for i in range(64)] == [
            t["text"] for t in plain["translations"]
        ]
    return {
        "first_over_done_median": round(statistics.median(ratios), 3),
        "ratios": ratios,
        "done_over_plain_median": round(statistics.median(costs), 3),
        "exact": exact,
    }


def short_latency(base: str, text: str, count: int = 7) -> float:
    times = []
    for i in range(count):
        started = time.perf_counter()
        httpx.post(f"{base}/v1/translate", json={"text": f"{text} {i}", "source": "en", "target": "de"}, timeout=60)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def cancel(base: str, pool: list[str]) -> dict[str, Any]:
    idle = short_latency(base, "Where is the station?")
    long = [s for s in pool if len(s) > 150][:128]
    before = metric(base, CANCELLED)
    body = {"text": long, "source": "en", "target": "de", "stream": True}
    with httpx.stream("POST", f"{base}/v1/translate", json=body, timeout=600) as response:
        next(events(response))
        steps_at_close = metric(base, STEPS)
    deadline = time.monotonic() + 30
    while metric(base, CANCELLED) - before < 64 and time.monotonic() < deadline:
        time.sleep(0.005)
    steps = metric(base, STEPS) - steps_at_close
    cancelled = metric(base, CANCELLED) - before
    after = short_latency(base, "Where is the museum?")
    return {
        "cancelled": cancelled,
        "steps_until_64_cancelled": steps,
        "short_idle_s": round(idle, 4),
        "short_after_cancel_s": round(after, 4),
        "after_over_idle": round(after / idle, 2),
    }


def interactive_p50(base: str, clients: int, seconds: float, tag: str) -> tuple[float, int]:
    latencies: list[float] = []
    stop = time.monotonic() + seconds

    def client(k: int) -> None:
        with httpx.Client(timeout=120) as http:
            i = 0
            while time.monotonic() < stop:
                text = f"Click here to sign in {tag} {k} {i}."
                started = time.perf_counter()
                http.post(f"{base}/v1/translate", json={"text": text, "source": "en", "target": "de"})
                latencies.append(time.perf_counter() - started)
                i += 1

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return percentile(latencies, 0.5), len(latencies)


def priority(base: str, pool: list[str], clients: int, seconds: float) -> dict[str, Any]:
    idle, idle_n = interactive_p50(base, clients, seconds, "idle")
    bulk_texts = pool[:500]
    finished: list[float] = []

    def bulk(part: list[str]) -> None:
        body = {"text": part, "source": "en", "target": "de", "priority": "bulk"}
        response = httpx.post(f"{base}/v1/translate", json=body, timeout=1200)
        assert response.status_code == 200, response.text
        finished.append(time.perf_counter())

    started = time.perf_counter()
    parts = [bulk_texts[i : i + 125] for i in range(0, 500, 125)]  # MAX_SEGMENTS is 128
    workers = [threading.Thread(target=bulk, args=(part,)) for part in parts]
    for w in workers:
        w.start()
    time.sleep(1.0)
    busy, busy_n = interactive_p50(base, clients, seconds, "busy")
    for w in workers:
        w.join()
    return {
        "idle_p50_s": round(idle, 4),
        "with_bulk_p50_s": round(busy, 4),
        "ratio": round(busy / idle, 2),
        "requests": [idle_n, busy_n],
        "bulk_finished": len(finished) == len(parts),
        "bulk_s": round(max(finished) - started, 1) if finished else None,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path, default=ROOT / "models")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--news", type=Path, default=NEWS)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--only", choices=["first", "cancel", "priority"], action="append", help="(repeatable)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    parts = args.only or ["first", "cancel", "priority"]
    news = read_sentences(args.news)[-5000:]  # the corpus' last lines: fresh to every earlier run's cache
    env = {"CACHE_MEMORY_MB": "0", "MAX_TEXT_CHARS": "200000"}
    result: dict[str, Any] = {}
    if "first" in parts:
        with server(args, env) as base:
            result["first"] = first_result(base, news, args.repeats)
    if "cancel" in parts:
        with server(args, env) as base:
            result["cancel"] = cancel(base, news[1000:])
    if "priority" in parts:
        with server(args, env) as base:
            result["priority"] = priority(base, news[2000:], args.clients, args.seconds)
    emit(result, args.out)


if __name__ == "__main__":
    main()
