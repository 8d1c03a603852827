"""Limits at the edge of a real `python -m service`: body size and receive deadlines, slow clients,
the connection cap, keys checked before bodies, secrets kept out of the access log, and `--help`."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.service_support import ROOT, ServiceProcess, make_model_dir, service_process

KEY = "edge-secret-key"
BODY_LIMIT = 8192
MAX_CONNECTIONS = 8


@pytest.fixture(scope="module")
def server(tiny_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    workdir = tmp_path_factory.mktemp("edge")
    with service_process(
        make_model_dir(tiny_bundle, workdir),
        workdir / "server.log",
        MAX_BODY_BYTES=str(BODY_LIMIT),
        HEADER_TIMEOUT_S="1",
        BODY_TIMEOUT_S="1",
        MAX_CONNECTIONS=str(MAX_CONNECTIONS),
        API_KEYS=KEY,
    ) as service:
        yield service


def connect(server: ServiceProcess) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    return sock


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of one response (Content-Length framed), or status 0 if the peer closed."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return 0, {}, data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(lines[0].split()[1]), headers, body


def request_head(path: str, length: int | None, **headers: str) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: test", "Content-Type: application/json"]
    lines += [f"{k.replace('_', '-')}: {v}" for k, v in headers.items()]
    lines.append(f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_a_declared_body_over_the_limit_is_refused_before_it_is_sent(server: ServiceProcess) -> None:
    for path, headers in (("/v1/translate", {"X_API_Key": KEY}), (f"/translate?api_key={KEY}", {})):
        with connect(server) as sock:
            start = time.perf_counter()
            sock.sendall(request_head(path, 50_000_000, **headers) + b'{"text": "')
            status, response_headers, body = read_response(sock)  # answered with 49.99 MB never sent
            elapsed = time.perf_counter() - start
        assert status == 413 and response_headers.get("connection") == "close"
        assert elapsed < 1.0
        error = json.loads(body)["error"]
        if path == "/v1/translate":
            assert error["code"] == "body_too_large" and error["status"] == 413
        else:
            assert isinstance(error, str) and str(BODY_LIMIT) in error  # LibreTranslate's shape


def test_a_streamed_body_is_cut_off_at_the_limit(server: ServiceProcess) -> None:
    for path in ("/v1/translate", "/translate"):
        with connect(server) as sock:
            sock.sendall(request_head(path, None, X_API_Key=KEY))
            chunk = b"a" * 4096
            sent = 0
            sock.settimeout(0.5)
            status = 0
            while sent < 200 * len(chunk):
                try:
                    sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                except (BrokenPipeError, ConnectionResetError):
                    break
                sent += len(chunk)
                try:
                    sock.settimeout(0.05)
                    status, _, body = read_response(sock)
                    break
                except TimeoutError:
                    continue
            sock.settimeout(5)
            if status == 0:
                status, _, body = read_response(sock)
        assert status == 413, body
        assert sent <= BODY_LIMIT + 4 * len(chunk)  # answered as soon as the limit was passed


def test_a_body_sent_too_slowly_gets_408(server: ServiceProcess) -> None:
    with connect(server) as sock:
        sock.sendall(request_head("/v1/translate", 200, X_API_Key=KEY) + b'{"text": "a')
        start = time.perf_counter()
        status, _, body = read_response(sock)
    assert status == 408 and json.loads(body)["error"]["code"] == "body_timeout"
    assert 0.8 < time.perf_counter() - start < 5


def test_headers_sent_too_slowly_close_the_connection(server: ServiceProcess) -> None:
    with connect(server) as sock:
        sock.sendall(b"POST /v1/translate HTTP/1.1\r\nHost: te")
        start = time.perf_counter()
        assert sock.recv(1024) == b""  # closed by the server
        assert 0.8 < time.perf_counter() - start < 5
    with connect(server) as idle:
        start = time.perf_counter()
        assert idle.recv(1024) == b""  # a connection that never sends anything is closed too
        assert time.perf_counter() - start < 5
    assert httpx.get(f"{server.base}/healthz").status_code == 200


def edge_refusals(server: ServiceProcess, reason: str) -> float:
    """nmt_edge_refusals_total for one reason, read from the server's /metrics."""
    text = httpx.get(f"{server.base}/metrics").text
    series = f'nmt_edge_refusals_total{{reason="{reason}"}} '
    return sum(float(line.removeprefix(series)) for line in text.splitlines() if line.startswith(series))


def test_connections_beyond_the_cap_get_503(server: ServiceProcess) -> None:
    counted = edge_refusals(server, "connection_cap")
    held = [connect(server) for _ in range(MAX_CONNECTIONS)]
    try:
        time.sleep(0.1)
        answers = {}
        for path in ("/v1/translate", "/translate"):  # the native API, and LibreTranslate's
            with connect(server) as sock:
                sock.sendall(f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
                answers[path] = read_response(sock)
                assert sock.recv(1024) == b""  # and the connection is closed, as uvicorn's own 503 does
        for path, (status, headers, body) in answers.items():
            assert status == 503 and headers["content-type"] == "application/json", (path, headers, body)
            assert int(headers["retry-after"]) >= 1
        native = json.loads(answers["/v1/translate"][2])["error"]
        assert native["code"] == "overloaded" and native["status"] == 503 and "connections" in native["message"]
        assert isinstance(json.loads(answers["/translate"][2])["error"], str)  # LibreTranslate's {"error": "..."}
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.2)
    assert httpx.get(f"{server.base}/healthz").status_code == 200
    assert edge_refusals(server, "connection_cap") == counted + 2


def test_a_request_that_is_not_http_gets_a_json_400(server: ServiceProcess) -> None:
    counted = edge_refusals(server, "invalid_http")
    for request in (b"BREW /healthz HTTP/1.1\r\nHost: test\r\n\r\n", b"\x16\x03\x01\x00\xa5 not http at all\r\n\r\n"):
        with connect(server) as sock:
            sock.sendall(request)
            status, headers, body = read_response(sock)
            assert sock.recv(1024) == b""  # closed: nothing after a broken request can be framed
        assert status == 400 and headers["content-type"] == "application/json", (request, headers, body)
        error = json.loads(body)["error"]
        assert error["code"] == "invalid_http" and error["status"] == 400
    assert httpx.get(f"{server.base}/healthz").status_code == 200
    # pipelined behind a request still being answered, a broken one must not pass for that request's answer
    with connect(server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\nBREW /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
        status, _, _ = read_response(sock)
    assert status in (0, 200)
    assert edge_refusals(server, "invalid_http") == counted + 3


def test_an_upgrade_request_is_plain_http_to_the_app(server: ServiceProcess) -> None:
    upgrade = "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    for path, expected in (("/healthz", 200), ("/nope", 404)):
        with connect(server) as sock:
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: test\r\n{upgrade}Sec-WebSocket-Version: 13\r\n\r\n".encode())
            status, headers, body = read_response(sock)
        assert status == expected and headers["content-type"] == "application/json", (path, status, headers, body)
    assert json.loads(body)["error"]["code"] == "not_found"


def test_a_wrong_key_is_refused_before_the_body_is_read(server: ServiceProcess) -> None:
    for path, headers in (("/v1/translate", {"X_API_Key": "wrong"}), ("/translate?api_key=wrong", {})):
        with connect(server) as sock:
            sock.sendall(request_head(path, 5000, **headers))  # no body at all: the answer cannot wait for it
            status, _, _ = read_response(sock)
        assert status == 403


def test_multipart_file_parts_are_refused(server: ServiceProcess) -> None:
    response = httpx.post(
        f"{server.base}/translate",
        data={"q": "the dog", "source": "en", "target": "de", "api_key": KEY},
        files={"file": ("page.txt", b"x" * 1000)},
    )
    assert response.status_code == 400 and "files" in response.json()["error"].lower()
    form = httpx.post(
        f"{server.base}/translate",
        files={"q": (None, b"the dog"), "source": (None, b"en"), "target": (None, b"de"), "api_key": (None, KEY)},
    )
    assert form.status_code == 200, form.text


def test_keys_in_the_query_string_stay_out_of_the_access_log(server: ServiceProcess) -> None:
    response = httpx.post(f"{server.base}/translate?api_key={KEY}&source=en&target=de", data={"q": "the dog"})
    assert response.status_code == 200, response.text
    time.sleep(0.2)
    log = server.log_path.read_text()
    assert "api_key=REDACTED&source=en" in log
    assert KEY not in log


def test_help_prints_the_settings_and_exits() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "service", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    for name in ("MODEL_DIR", "MAX_BODY_BYTES", "HEADER_TIMEOUT_S", "MAX_CONNECTIONS", "API_KEYS"):
        assert name in result.stdout
    assert "Uvicorn running" not in result.stdout + result.stderr
