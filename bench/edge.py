"""How fast the edge refuses an oversized body, and that it reads none of it (security issue).

Starts `python -m service`, then N times: open a connection, send headers declaring a body of
--declared-mb and the first KB of it, and time the 413. Also streams a chunked body until the server
answers and reports how many bytes it had accepted by then. JSON on stdout (and --out).

  python bench/edge.py --requests 50
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load import ROOT, emit, server


def head(path: str, length: int | None) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: bench", "Content-Type: application/json"]
    lines.append(f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def status_of(sock: socket.socket) -> int:
    data = b""
    while b"\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            return 0
        data += chunk
    return int(data.split()[1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--declared-mb", type=int, default=50)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    settings = argparse.Namespace(model_dir=ROOT / "models", device="cpu")
    result: dict[str, object] = {}
    with server(settings, {}) as base:
        host, port = base.removeprefix("http://").split(":")
        times = []
        for _ in range(args.requests):
            with socket.create_connection((host, int(port))) as sock:
                start = time.perf_counter()
                sock.sendall(head("/v1/translate", args.declared_mb << 20) + b"x" * 1024)
                status = status_of(sock)
                times.append(time.perf_counter() - start)
                assert status == 413, status
        result["declared_body_413_ms"] = {
            "p50": round(statistics.median(times) * 1e3, 2),
            "max": round(max(times) * 1e3, 2),
            "requests": args.requests,
        }
        with socket.create_connection((host, int(port))) as sock:
            sock.sendall(head("/v1/translate", None))
            sock.settimeout(0.02)
            sent, chunk, status = 0, b"a" * 4096, 0
            while not status and sent < 64 << 20:
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
                try:
                    status = status_of(sock)
                except TimeoutError:
                    continue
        result["streamed_body"] = {"status": status, "bytes_sent_before_the_answer": sent}
    emit(result, args.out)


if __name__ == "__main__":
    main()
