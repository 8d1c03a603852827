"""Streaming, cancel on disconnect and priorities (issue 20), against a real `python -m service` process: events
arrive as texts finish and equal the non-streamed answer; a client that leaves at any stage takes its sentences
out of the queue and the running batch; bulk work never holds the rows interactive work needs."""

from __future__ import annotations

import json
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.service_support import (
    ServiceProcess,
    assert_error_shape,
    make_model_dir,
    metric_value,
    service_process,
    unique_tag,
)

CANCELLED = 'nmt_cancelled_sentences_total{priority="interactive"}'
STEPS = "nmt_decoder_step_seconds_count"


def sse_events(lines: Iterator[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(event name, data) per server-sent event; the name is "message" when the event has none."""
    name = "message"
    for line in lines:
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: "):
            yield name, json.loads(line.removeprefix("data: "))
            name = "message"


def metrics(base: str) -> str:
    return httpx.get(f"{base}/metrics", timeout=10).text


def wait_for(condition: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def long_sentences(count: int) -> list[str]:
    """Sentences that keep the tiny model busy for many steps, each unique (never a cache hit)."""
    words = "the man with the red hat walks along the river and the dog runs after the ball"
    return [f"{words} {unique_tag(3)}" for _ in range(count)]


@pytest.fixture(scope="module")
def server(tiny_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    root = tmp_path_factory.mktemp("streaming")
    # Few rows per step, so that a long request stays in the queue and in the batch for many steps.
    with service_process(
        make_model_dir(tiny_bundle, root), root / "server.log", MAX_BATCH_ROWS="8", MAX_TEXT_CHARS="20000"
    ) as service:
        yield service


def test_a_stream_sends_each_text_once_as_it_finishes_and_equals_the_plain_answer(server: ServiceProcess) -> None:
    base = server.base
    texts = [f"the dog {i} runs in the park {unique_tag(2)}" for i in range(12)]
    texts[5] = f"a dog {unique_tag(1)}"  # the shortest: decoded ahead of the others (the head start)
    warm = [texts[3], texts[7]]
    httpx.post(f"{base}/v1/translate", json={"text": warm, "source": "en", "target": "de"}, timeout=30)
    body = {"text": texts, "source": "en", "target": "de", "stream": True}
    with httpx.stream("POST", f"{base}/v1/translate", json=body, timeout=60) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = list(sse_events(response.iter_lines()))
    names = [name for name, _ in events]
    assert names == ["message"] * len(texts) + ["done"]
    items = [data for name, data in events if name == "message"]
    assert sorted(item["index"] for item in items) == list(range(len(texts)))  # each index exactly once
    # the cache hits and the head start's text (the shortest, decoded alone) before every other text
    assert {item["index"] for item in items[:3]} == {3, 5, 7}
    assert all(item["cached"] == (item["index"] != 5) for item in items[:3])
    done = events[-1][1]
    assert done["count"] == len(texts) and done["model"]["id"] == "tiny"
    assert 0 < done["timings"]["first_ms"] <= done["timings"]["total_ms"]
    plain = httpx.post(f"{base}/v1/translate", json={**body, "stream": False}, timeout=60).json()["translations"]
    assert [item["text"] for item in sorted(items, key=lambda i: i["index"])] == [t["text"] for t in plain]


def test_accept_header_streams_and_bad_requests_answer_before_any_stream(server: ServiceProcess) -> None:
    base = server.base
    body = {"text": ["a <b>big</b> dog", "<i>the</i> cat"], "source": "en", "target": "de", "format": "html"}
    headers = {"accept": "text/event-stream"}
    with httpx.stream("POST", f"{base}/v1/translate", json=body, headers=headers, timeout=30) as response:
        events = list(sse_events(response.iter_lines()))
    assert [name for name, _ in events] == ["message", "message", "done"]
    assert all("<" in data["text"] and data["segments"] >= 1 for _, data in events[:2])  # tags placed, then sent
    refused = httpx.post(f"{base}/v1/translate", json={**body, "target": "zz", "stream": True}, timeout=30)
    assert_error_shape(refused, 400, "unknown_direction")
    empty = httpx.post(f"{base}/v1/translate", json={"text": [], "source": "en", "target": "de", "stream": True})
    assert empty.status_code == 422 and empty.headers["content-type"].startswith("application/json")


def test_leaving_a_stream_after_the_first_event_cancels_the_rest_at_once(server: ServiceProcess) -> None:
    base = server.base
    before = metric_value(metrics(base), CANCELLED)
    body = {"text": long_sentences(128), "source": "en", "target": "de", "stream": True, "options": {"beam_size": 4}}
    with httpx.stream("POST", f"{base}/v1/translate", json=body, timeout=60) as response:
        assert response.status_code == 200
        first = next(sse_events(response.iter_lines()))
        assert first[0] == "message"
        steps_at_close = metric_value(metrics(base), STEPS)
    assert wait_for(lambda: metric_value(metrics(base), CANCELLED) - before >= 64)
    exposition = metrics(base)
    assert metric_value(exposition, STEPS) - steps_at_close <= 4  # withdrawn at the next steps, not decoded on
    assert wait_for(lambda: metric_value(metrics(base), "nmt_queue_depth") == 0)
    started = time.monotonic()
    quick = httpx.post(f"{base}/v1/translate", json={"text": "a cat", "source": "en", "target": "de"}, timeout=30)
    assert quick.status_code == 200 and time.monotonic() - started < 5


def test_a_plain_request_whose_client_leaves_is_cancelled(server: ServiceProcess) -> None:
    base = server.base
    before = metric_value(metrics(base), CANCELLED)
    # beam 8 on 8 rows: one sentence at a time, so most are still waiting when the client leaves
    body = {"text": long_sentences(128), "source": "en", "target": "de", "options": {"beam_size": 8}}
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{base}/v1/translate", json=body, timeout=httpx.Timeout(30, read=0.2))
    assert wait_for(lambda: metric_value(metrics(base), CANCELLED) - before >= 64)
    assert wait_for(lambda: metric_value(metrics(base), "nmt_queue_depth") == 0)


@pytest.fixture(scope="module")
def narrow_server(tiny_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    """Two rows a step: 128 sentences take the tiny model a few seconds, so a client that leaves after 0.2 s
    leaves most of them behind whatever the machine's speed (at 8 rows the whole request took 0.37 s)."""
    root = tmp_path_factory.mktemp("streaming-narrow")
    with service_process(
        make_model_dir(tiny_bundle, root), root / "server.log", MAX_BATCH_ROWS="2", MAX_TEXT_CHARS="20000"
    ) as service:
        yield service


def test_a_libretranslate_client_that_leaves_is_cancelled_too(narrow_server: ServiceProcess) -> None:
    base = narrow_server.base
    assert wait_for(lambda: _idle(base))
    before = metric_value(metrics(base), CANCELLED)
    body = {"q": long_sentences(128), "source": "en", "target": "de", "alternatives": 0}
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{base}/translate", json=body, timeout=httpx.Timeout(30, read=0.2))
    assert wait_for(lambda: metric_value(metrics(base), CANCELLED) - before >= 64)


def test_leaving_during_html_placement_harms_nothing(server: ServiceProcess) -> None:
    base = server.base
    page = "".join(f"<p>the <b>man</b> with the <i>red</i> hat {unique_tag(2)} walks <a href='#'>home</a></p>" * 3)
    body = {"text": [page] * 40, "source": "en", "target": "de", "format": "html", "stream": True}
    with httpx.stream("POST", f"{base}/v1/translate", json=body, timeout=60) as response:
        assert next(sse_events(response.iter_lines()))[0] == "message"  # placed, sent; the others mid-way
    assert wait_for(lambda: _idle(base))
    again = httpx.post(f"{base}/v1/translate", json={**body, "stream": False, "text": [page]}, timeout=60)
    assert again.status_code == 200 and "<b>" in again.json()["translations"][0]["text"]
    log = server.log_path.read_text()
    assert "Traceback" not in log and "ERROR" not in log


def test_a_queued_request_whose_client_leaves_is_never_decoded(tiny_bundle: Path, tmp_path: Path) -> None:
    # A wide static window keeps the request queued until long after its client left.
    env = {"BATCHING_MODE": "static", "STATIC_MAX_BATCH": "100", "STATIC_MAX_WAIT_MS": "1500"}
    with service_process(make_model_dir(tiny_bundle, tmp_path), tmp_path / "queued.log", **env) as svc:
        body = {"text": [f"a dog {unique_tag(2)}" for _ in range(5)], "source": "en", "target": "de"}
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(f"{svc.base}/v1/translate", json=body, timeout=httpx.Timeout(30, read=0.3))
        assert wait_for(lambda: metric_value(metrics(svc.base), CANCELLED) == 5)
        time.sleep(1.5)  # past the window: nothing is left to decode
        assert metric_value(metrics(svc.base), STEPS) == 0


def test_shared_sentences_stay_while_another_request_waits(server: ServiceProcess) -> None:
    base = server.base
    texts = long_sentences(64)
    body = {"text": texts, "source": "en", "target": "de", "options": {"beam_size": 4}}
    assert wait_for(lambda: _idle(base))  # what earlier tests withdrew is counted by now
    before = metric_value(metrics(base), CANCELLED)
    results: list[httpx.Response] = []
    patient = threading.Thread(target=lambda: results.append(httpx.post(f"{base}/v1/translate", json=body, timeout=60)))
    patient.start()
    assert wait_for(lambda: metric_value(metrics(base), "nmt_queue_depth") > 0)  # its sentences are in flight
    with pytest.raises(httpx.ReadTimeout):  # the same sentences, abandoned: they are the patient request's too
        httpx.post(
            f"{base}/v1/translate",
            json={"text": texts, "source": "en", "target": "de"},
            timeout=httpx.Timeout(30, read=0.1),
        )
    patient.join()
    assert results[0].status_code == 200 and len(results[0].json()["translations"]) == 64
    assert metric_value(metrics(base), CANCELLED) == before


def test_a_client_that_never_reads_holds_no_decoder_rows(server: ServiceProcess) -> None:
    base = server.base
    payload = json.dumps({"text": long_sentences(32), "source": "en", "target": "de", "stream": True}).encode()
    head = (
        f"POST /v1/translate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server.port)) as silent:
        silent.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        silent.sendall(head + payload)  # and never reads a byte of the answer
        assert wait_for(lambda: metric_value(metrics(base), "nmt_queue_depth") == 0, timeout=60)
        assert wait_for(lambda: _idle(base), timeout=60)
        quick = httpx.post(f"{base}/v1/translate", json={"text": "a dog", "source": "en", "target": "de"}, timeout=30)
        assert quick.status_code == 200


def _idle(base: str) -> bool:
    """No sentence waits and the last steps ran: the silent client's work is done, its results buffered."""
    first = metric_value(metrics(base), STEPS)
    time.sleep(0.2)
    return metric_value(metrics(base), STEPS) == first


def test_bulk_work_leaves_rows_for_interactive_requests(server: ServiceProcess) -> None:
    base = server.base
    bulk_done: list[float] = []

    def bulk() -> None:
        body = {"text": long_sentences(64), "source": "en", "target": "de", "priority": "bulk"}
        response = httpx.post(f"{base}/v1/translate", json=body, timeout=120)
        assert response.status_code == 200
        bulk_done.append(time.monotonic())

    worker = threading.Thread(target=bulk)
    worker.start()
    assert wait_for(lambda: metric_value(metrics(base), 'nmt_queue_depth_by_priority{priority="bulk"}') > 0)
    started = time.monotonic()
    short = httpx.post(
        f"{base}/v1/translate", json={"text": f"a dog {unique_tag(2)}", "source": "en", "target": "de"}, timeout=60
    )
    interactive_s = time.monotonic() - started
    assert short.status_code == 200
    worker.join()
    assert bulk_done and started + interactive_s < bulk_done[0]  # the short request did not wait for the bulk one
    exposition = metrics(base)
    assert metric_value(exposition, 'nmt_queue_wait_seconds_count{priority="bulk"}') >= 64


def test_sigterm_lets_open_streams_finish(tiny_bundle: Path, tmp_path: Path) -> None:
    with service_process(make_model_dir(tiny_bundle, tmp_path), tmp_path / "drain.log", DRAIN_TIMEOUT_S="30") as svc:
        body = {"text": long_sentences(24), "source": "en", "target": "de", "stream": True}
        with httpx.stream("POST", f"{svc.base}/v1/translate", json=body, timeout=60) as response:
            lines = response.iter_lines()
            events = [next(sse_events(lines))]
            svc.popen.send_signal(signal.SIGTERM)
            events += list(sse_events(lines))
        assert [name for name, _ in events] == ["message"] * 24 + ["done"]
        assert svc.popen.wait(timeout=30) == 0


def test_stream_and_priority_are_in_the_openapi_schema(server: ServiceProcess) -> None:
    schema = httpx.get(f"{server.base}/openapi.json", timeout=10).json()
    fields = schema["components"]["schemas"]["TranslateRequest"]["properties"]
    assert fields["stream"]["type"] == "boolean"
    assert "bulk" in json.dumps(fields["priority"])
    assert "text/event-stream" in json.dumps(schema["paths"]["/v1/translate"]["post"]["responses"]["200"])
