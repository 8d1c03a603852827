"""Load generator: starts a real server per batching mode and measures throughput and latency.

Scenarios (JSON on stdout, and to --out):
  load    closed-loop clients (--concurrency, a list sweeps) each sending single sentences, per mode;
          --plot writes throughput vs p99 latency for the modes.
  cached  the same sentences twice (second pass served from the cache) vs a bare FastAPI endpoint.
  idle    p50 latency of one short sentence over HTTP vs the engine's own decode time.

Example (tiny smoke run):
  python bench/load.py --model-dir models --requests 50 --concurrency 1,8 --plot artifacts/bench.png
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gzip
import http.client
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "multi30k" / "test_2016_flickr.en.gz"


def read_sentences(path: Path, limit: int | None = None) -> list[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:  # type: ignore[operator]
        lines = [line.strip() for line in handle if line.strip()]
    return lines[:limit] if limit else lines


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def server(
    args: argparse.Namespace, env_overrides: dict[str, str], command: list[str] | None = None, cwd: Path = ROOT
) -> Iterator[str]:
    """A real HTTP server in a subprocess, ready before the context is entered; killed on exit."""
    port = free_port()
    # A developer's shell must not add a shared cache or API keys (every request would get a 401).
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "API_KEYS")},
        "MODEL_DIR": str(args.model_dir),
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "DEVICE": args.device,
        "LOG_LEVEL": "warning",
        "MAX_QUEUE": "100000",
        **env_overrides,
    }
    command = command or [sys.executable, "-m", "service"]
    command = [part.replace("{port}", str(port)) for part in command]
    process = subprocess.Popen(command, cwd=cwd, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"server exited with {process.returncode}")
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        else:
            raise RuntimeError("server did not become ready")
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def closed_loop(
    base: str,
    sentences: list[str],
    concurrency: int,
    requests: int,
    beam_size: int | None,
    source: str,
    target: str,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """`concurrency` clients, each sending one sentence and waiting for the answer before the next; `extra`
    fields (a glossary, say) go into every request."""
    latencies: list[float] = []
    failures = 0
    counter = iter(range(requests))
    options = {"beam_size": beam_size} if beam_size else {}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as client:

        async def worker() -> None:
            nonlocal failures
            for index in counter:
                body = {
                    "text": sentences[index % len(sentences)],
                    "source": source,
                    "target": target,
                    "options": options,
                    **(extra or {}),
                }
                start = time.perf_counter()
                response = await client.post("/v1/translate", json=body)
                latencies.append(time.perf_counter() - start)
                failures += response.status_code != 200

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    return {
        "concurrency": concurrency,
        "requests": requests,
        "failures": failures,
        "sentences_per_s": round(requests / elapsed, 2),
        "p50_ms": round(percentile(latencies, 0.5) * 1e3, 2),
        "p99_ms": round(percentile(latencies, 0.99) * 1e3, 2),
        "elapsed_s": round(elapsed, 2),
    }


WRK_SCRIPT = """
local bodies, count, index = {}, 0, 0
for line in io.lines(os.getenv("WRK_BODIES")) do count = count + 1; bodies[count] = line end
function request()
  index = index % count + 1
  return wrk.format("POST", "/v1/translate", {["Content-Type"] = "application/json"}, bodies[index])
end
"""
_WRK_LATENCY = re.compile(r"^\s+(50|99)(?:\.000)?%\s+([\d.]+)(us|ms|s)\s*$", re.M)
_UNIT = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def wrk_closed_loop(
    base: str, sentences: list[str], concurrency: int, seconds: float, beam_size: int | None, source: str, target: str
) -> dict[str, Any]:
    """The same closed loop driven by wrk (C, one thread), so the client does not compete for the CPU.

    A Python client needs about a core of its own at 64 connections on this machine, which
    caps every mode at the client's speed; wrk needs a few percent.
    """
    options = {"beam_size": beam_size} if beam_size else {}
    with tempfile.TemporaryDirectory() as tmp:
        bodies = Path(tmp) / "bodies.jsonl"
        bodies.write_text(
            "\n".join(
                json.dumps({"text": s, "source": source, "target": target, "options": options}) for s in sentences
            )
            + "\n"
        )
        script = Path(tmp) / "post.lua"
        script.write_text(WRK_SCRIPT)
        output = subprocess.run(
            [
                "wrk",
                "-t1",
                f"-c{concurrency}",
                f"-d{int(seconds)}s",
                "--timeout",
                "60s",
                "--latency",
                "-s",
                str(script),
                base,
            ],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "WRK_BODIES": str(bodies)},
        ).stdout
    latency = {q: float(v) * _UNIT[unit] for q, v, unit in _WRK_LATENCY.findall(output)}
    total = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(r"Socket errors: .*", output)
    return {
        "concurrency": concurrency,
        "requests": total,
        "failures": int(non_2xx.group(1)) if non_2xx else 0,
        "socket_errors": errors.group(0) if errors else "",
        "sentences_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),  # type: ignore[union-attr]
        "p50_ms": round(latency["50"], 2),
        "p99_ms": round(latency["99"], 2),
        "elapsed_s": seconds,
        "client": "wrk",
    }


def measure(
    args: argparse.Namespace,
    base: str,
    sentences: list[str],
    concurrency: int,
    requests: int,
    beam_size: int | None = None,
) -> dict[str, Any]:
    """One closed-loop measurement with the chosen client (wrk runs for --seconds instead of --requests)."""
    beam = beam_size if beam_size is not None else args.beam_size
    if args.client == "wrk":
        return wrk_closed_loop(base, sentences, concurrency, args.seconds, beam, args.source, args.target)
    return asyncio.run(closed_loop(base, sentences, concurrency, requests, beam, args.source, args.target))


def mode_env(mode: str, args: argparse.Namespace) -> dict[str, str]:
    return {
        "BATCHING_MODE": mode,
        "CACHE_MEMORY_MB": "0",
        "STATIC_MAX_BATCH": str(args.static_max_batch),
        "STATIC_MAX_WAIT_MS": str(args.static_max_wait_ms),
    }


def scenario_load(args: argparse.Namespace, sentences: list[str]) -> dict[str, Any]:
    results: dict[str, list[dict[str, Any]]] = {}
    for mode in args.modes:
        with server(args, mode_env(mode, args)) as base:
            asyncio.run(closed_loop(base, sentences, 4, 8, args.beam_size, args.source, args.target))  # warm-up
            results[mode] = []
            for concurrency in args.concurrency:
                row = measure(args, base, sentences, concurrency, args.requests)
                print(json.dumps({"mode": mode, **row}), file=sys.stderr)
                results[mode].append(row)
    if args.plot:
        plot(results, Path(args.plot))
    return {"scenario": "load", "modes": results}


def plot(results: dict[str, list[dict[str, Any]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for mode, rows in results.items():
        ax.plot([r["p99_ms"] for r in rows], [r["sentences_per_s"] for r in rows], marker="o", label=mode)
        for r in rows:
            ax.annotate(str(r["concurrency"]), (r["p99_ms"], r["sentences_per_s"]), fontsize=7)
    ax.set_xlabel("p99 latency (ms)")
    ax.set_ylabel("throughput (sentences/s)")
    ax.set_title("Batching modes: throughput vs p99 (labels: concurrency)")
    ax.legend()
    ax.grid(alpha=0.3)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def scenario_cached(args: argparse.Namespace, sentences: list[str]) -> dict[str, Any]:
    concurrency = args.concurrency[-1]
    subset = sentences[: args.requests]
    with server(args, {"BATCHING_MODE": "continuous", "CACHE_MEMORY_MB": "64"}) as base:
        cold = asyncio.run(
            closed_loop(base, subset, concurrency, len(subset), args.beam_size, args.source, args.target)
        )
        warm = measure(args, base, subset, concurrency, len(subset))
    bare_command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--app-dir",
        str(ROOT / "bench"),
        "bare_app:app",
        "--port",
        "{port}",
        "--log-level",
        "warning",
    ]
    with server(args, {}, bare_command) as base:
        bare = measure(args, base, subset, concurrency, len(subset))
    ratio = warm["sentences_per_s"] / bare["sentences_per_s"]
    return {
        "scenario": "cached",
        "cached_over_bare_throughput": round(ratio, 2),
        "first_pass": cold,
        "second_pass_cached": warm,
        "bare_fastapi": bare,
    }


def scenario_idle(args: argparse.Namespace, sentences: list[str]) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    from nmt_core.offline import decode_batch
    from service.engine.backends import Engine

    sentence = min(sentences[:200], key=len)
    engine = Engine.load(args.model_dir, args.device, None)
    model = engine.resolve(args.source, args.target)
    defaults = model.default_options(f"{args.source}-{args.target}")
    beam = args.beam_size or defaults.beam_size
    options = dataclasses.replace(defaults, beam_size=beam)
    source = model.vocab.source(sentence, args.target)
    body = json.dumps({"text": sentence, "source": args.source, "target": args.target, "options": {"beam_size": beam}})
    engine_times: list[float] = []
    http_times: list[float] = []
    with server(args, {"BATCHING_MODE": "continuous", "CACHE_MEMORY_MB": "0"}) as base:
        host, port = base.removeprefix("http://").split(":")
        connection = http.client.HTTPConnection(host, int(port))  # keep-alive, minimal client overhead
        # Alternate the two so that machine noise hits both alike.
        for _ in range(args.requests):
            start = time.perf_counter()
            decode_batch(model.backend, [source], options, model.vocab.specials)
            engine_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            connection.request("POST", "/v1/translate", body, {"Content-Type": "application/json"})
            response = connection.getresponse()
            response.read()
            http_times.append(time.perf_counter() - start)
            if response.status != 200:
                raise RuntimeError(f"HTTP {response.status}")
        connection.close()
    engine_p50 = statistics.median(engine_times) * 1e3
    http_p50 = statistics.median(http_times) * 1e3
    return {
        "scenario": "idle",
        "sentence": sentence,
        "beam_size": beam,
        "requests": args.requests,
        "engine_p50_ms": round(engine_p50, 2),
        "http_p50_ms": round(http_p50, 2),
        "overhead_ms": round(http_p50 - engine_p50, 2),
        "http_over_engine": round(http_p50 / engine_p50, 2),
    }


def emit(result: dict[str, Any], out: Path | None) -> None:
    """Prints a benchmark's JSON result and, with --out, keeps the same text in that file."""
    emit_text(json.dumps(result, indent=2), out)


def emit_text(text: str, out: Path | None) -> None:
    """Prints an already formatted result and, with --out, keeps the same text in that file."""
    print(text)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", choices=["load", "cached", "idle"], default="load")
    parser.add_argument("--model-dir", type=Path, default=ROOT / "models")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--source", default="en")
    parser.add_argument("--target", default="de")
    parser.add_argument("--modes", type=lambda s: s.split(","), default=["none", "static", "continuous"])
    parser.add_argument("--concurrency", type=lambda s: [int(x) for x in s.split(",")], default=[64])
    parser.add_argument("--requests", type=int, default=1000, help="sentences per measurement (httpx client)")
    parser.add_argument(
        "--client",
        choices=("wrk", "httpx"),
        default="wrk" if shutil.which("wrk") else "httpx",
        help="load generator for the load scenario; wrk (Debian package `wrk`) is the default when installed",
    )
    parser.add_argument("--seconds", type=int, default=10, help="duration of one wrk measurement")
    parser.add_argument("--beam-size", type=int, default=None, help="default: the model's")
    parser.add_argument("--static-max-batch", type=int, default=32)
    parser.add_argument("--static-max-wait-ms", type=float, default=20)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--plot", default=None, help="PNG path for throughput vs p99 (load scenario)")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args(argv)
    sentences = read_sentences(args.data)
    scenarios = {"load": scenario_load, "cached": scenario_cached, "idle": scenario_idle}
    result = scenarios[args.scenario](args, sentences)
    emit(result, args.out)


if __name__ == "__main__":
    main()
