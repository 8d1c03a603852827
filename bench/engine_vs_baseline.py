"""The engine against an earlier commit, over real HTTP with wrk, in one run (issue: batched decoder).

Starts `python -m service` from this tree and from a `git worktree` of BASELINE (its own code and its
own shipped bundle), cache off, and alternates them round by round so machine noise hits both alike.
Per system: 1 and 64 closed-loop clients at the bundle's default beam and greedy. For this tree it also
reads the scheduler's counters from /metrics around each measurement: the share of its busy time spent
inside ONNX Runtime (decode efficiency) and the rows per decoder step.

  python bench/engine_vs_baseline.py --baseline 8b8e36d --rounds 3 --seconds 10 --out artifacts/engine.json
  python bench/engine_vs_baseline.py --alone general-en-de-fr --rounds 3 --seconds 10
                                        # every shipped bundle served against that one alone (issue 25)
  python bench/engine_vs_baseline.py --sweep-rows 128,256,384,512,768 --sweep-tokens 4096,8192,16384 \
      --rounds 1 --seconds 8            # admission budgets, this tree only
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load import DEFAULT_DATA, ROOT, read_sentences, server, wrk_closed_loop

COUNTERS = ("nmt_scheduler_busy_seconds_total", "nmt_scheduler_onnx_seconds_total")


def scrape(base: str) -> dict[str, float]:
    """The scheduler's counters and the rows-per-step histogram's sum and count."""
    values: dict[str, float] = {}
    for line in httpx.get(f"{base}/metrics", timeout=10).text.splitlines():
        name, _, value = line.partition(" ")
        if name in (*COUNTERS, "nmt_batch_rows_sum", "nmt_batch_rows_count"):
            values[name] = float(value)
    return values


def worktree(ref: str) -> Path:
    path = Path("/tmp") / f"nmt-baseline-{ref}"
    if not path.exists():
        subprocess.run(["git", "worktree", "add", "--detach", str(path), ref], cwd=ROOT, check=True)
    return path


def idle_p50(base: str, sentence: str, args: argparse.Namespace, requests: int = 200) -> dict[str, Any]:
    """One short sentence at a time on an otherwise idle server, at the bundle's default beam: p50 latency."""
    host, port = base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port))
    body = json.dumps({"text": sentence, "source": args.source, "target": args.target})
    times = []
    for _ in range(requests):
        start = time.perf_counter()
        connection.request("POST", "/v1/translate", body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        times.append(time.perf_counter() - start)
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}")
    connection.close()
    return {
        "idle_p50_ms": round(statistics.median(times) * 1e3, 2),
        "sentence": sentence,
        "beam": "default",
        "concurrency": "idle",
    }


def run_system(
    args: argparse.Namespace,
    name: str,
    cwd: Path,
    env: dict[str, str],
    sentences: list[str],
    model_dir: Path | None = None,
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    settings = argparse.Namespace(model_dir=model_dir or cwd / "models", device="cpu")
    command = [
        sys.executable,
        "-c",
        "import sys; sys.path.insert(0, '.'); import runpy; runpy.run_module('service', run_name='__main__')",
    ]
    with server(settings, {"CACHE_MEMORY_MB": "0", "BATCHING_MODE": "continuous", **env}, command, cwd=cwd) as base:
        wrk_closed_loop(base, sentences, 8, 2, None, args.source, args.target)  # warm-up
        idle = idle_p50(base, min(sentences[:200], key=len), args)
        idle.update(system=name)
        print(json.dumps(idle), file=sys.stderr, flush=True)
        rows.append(idle)
        for beam in args.beams:
            for concurrency in args.concurrency:
                before = scrape(base)
                result = wrk_closed_loop(base, sentences, concurrency, args.seconds, beam, args.source, args.target)
                after = scrape(base)
                delta = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in after}
                if delta.get(COUNTERS[0]):
                    result["decode_efficiency"] = round(delta[COUNTERS[1]] / delta[COUNTERS[0]], 3)
                if delta.get("nmt_batch_rows_count"):
                    result["rows_per_step"] = round(delta["nmt_batch_rows_sum"] / delta["nmt_batch_rows_count"], 1)
                result.update(system=name, beam=beam or "default")
                print(json.dumps(result), file=sys.stderr, flush=True)
                rows.append(result)
    return rows


def summarize(results: list[dict[str, Any]]) -> dict[str, Any]:
    table: dict[str, dict[str, Any]] = {}
    for system in sorted({r["system"] for r in results}):
        idle = [r["idle_p50_ms"] for r in results if r["system"] == system and "idle_p50_ms" in r]
        if idle:
            table[f"{system} idle"] = {"idle_p50_ms": statistics.median(idle), "runs": len(idle)}
    loaded = [r for r in results if "sentences_per_s" in r]
    for key in sorted({(r["system"], str(r["beam"]), r["concurrency"]) for r in loaded}):
        runs = [r for r in loaded if (r["system"], str(r["beam"]), r["concurrency"]) == key]
        cell: dict[str, Any] = {
            "sentences_per_s": statistics.median(r["sentences_per_s"] for r in runs),
            "p50_ms": statistics.median(r["p50_ms"] for r in runs),
            "p99_ms": statistics.median(r["p99_ms"] for r in runs),
            "failures": sum(r["failures"] for r in runs),
            "runs": len(runs),
        }
        for extra in ("decode_efficiency", "rows_per_step"):
            if any(extra in r for r in runs):
                cell[extra] = statistics.median(r[extra] for r in runs if extra in r)
        table[f"{key[0]} beam={key[1]} c={key[2]}"] = cell
    return table


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", default=None, help="git ref to compare with (e.g. 8b8e36d)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--source", default="en")
    parser.add_argument("--target", default="de")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--concurrency", type=lambda s: [int(x) for x in s.split(",")], default=[1, 64])
    parser.add_argument(
        "--beams", type=lambda s: [None if x == "default" else int(x) for x in s.split(",")], default=[None, 1]
    )
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for this tree's server")
    parser.add_argument("--sweep-rows", type=lambda s: s.split(","), default=None)
    parser.add_argument("--sweep-tokens", type=lambda s: s.split(","), default=["16384"])
    parser.add_argument("--alone", help="a shipped bundle: this tree serving it alone against serving every bundle")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    sentences = read_sentences(args.data)
    env = dict(item.split("=", 1) for item in args.env)
    results: list[dict[str, Any]] = []
    for _ in range(args.rounds):
        if args.sweep_rows:
            for rows in args.sweep_rows:
                for tokens in args.sweep_tokens:
                    budget = {"MAX_BATCH_ROWS": rows, "MAX_BATCH_TOKENS": tokens}
                    results += run_system(args, f"rows={rows},tokens={tokens}", ROOT, {**env, **budget}, sentences)
            continue
        results += run_system(args, "this tree", ROOT, env, sentences)
        if args.alone:
            with tempfile.TemporaryDirectory() as alone:
                (Path(alone) / args.alone).symlink_to(ROOT / "models" / args.alone)
                results += run_system(args, f"{args.alone} alone", ROOT, env, sentences, Path(alone))
        if args.baseline:
            results += run_system(args, f"baseline {args.baseline}", worktree(args.baseline), {}, sentences)
    summary = summarize(results)
    text = json.dumps({"summary": summary, "runs": results}, indent=2)
    print(json.dumps(summary, indent=2))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
