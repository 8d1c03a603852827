"""HTTP routes. Other front-ends (HTML, LibreTranslate) add their own routers and reuse
`get_translator`, which hands them the shared `Translator` (and 503s while not ready)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from service.api.streaming import EVENT_STREAM, EventStream, event, unless_disconnected
from service.edge.auth import KeyedRoute, header_key, header_keys
from service.edge.http_errors import http_status
from service.engine.backends import LoadedModel
from service.engine.formats import TextResult, text_problem, translate_texts
from service.engine.glossaries import owner_of, request_glossary
from service.engine.runtime import Runtime
from service.engine.translator import Translator, launch_gate
from service.errors import EngineFailure, NotReady, ServiceError, ShuttingDown, UnknownDirection
from service.settings import Settings
from service.text.detection import detect_within
from service.text.glossary import EMPTY as GLOSSARY_NONE
from service.text.glossary import Glossary
from service.validation import (
    AUTO_SOURCE,
    AppliedTerm,
    ItemError,
    LanguagePair,
    LanguagesResponse,
    ModelRef,
    ServedModel,
    TranslateRequest,
    TranslateResponse,
    Translation,
    check_segments,
    check_terms,
)

router = APIRouter()
log = logging.getLogger(__name__)

HEAD_START_S = 0.1
"""A streamed request's shortest text is decoded ahead of its other texts, which follow when it lands or after
this long at most. Alone it takes a few cheap decoder steps, so the first event comes at once instead of after
the shortest text's steps at the whole request's batch size (bench/streaming.py: the cost to `done`)."""

ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    status: {
        "description": description,
        "content": {"application/json": {"example": {"error": {"code": code, "message": "…", "status": status}}}},
    }
    for status, code, description in [
        (400, "unknown_direction", "No loaded model serves this direction"),
        (401, "unauthorized", "API_KEYS is set and no key was sent"),
        (403, "forbidden", "The key sent is not one of API_KEYS"),
        (404, "glossary_not_found", "glossary_id names no glossary of this key"),
        (413, "too_many_segments", "Too many segments or too much text; a single html text beyond the caps"),
        (
            422,
            "invalid_request",
            "Malformed request, empty text or options beyond server limits; a single text"
            " that is not valid Unicode or holds a character HTML cannot",
        ),
        (429, "rate_limited", "A requests or characters per minute limit is spent; see Retry-After"),
        (
            500,
            "text_failed",
            "A single text could not be processed (a fault of ours, logged); in a list, only that text's `error`",
        ),
        (503, "overloaded", "Queue full, MAX_CONNECTIONS open, or shutting down; see Retry-After"),
        (504, "deadline_exceeded", "Not translated within REQUEST_TIMEOUT_S"),
    ]
}


# Dependencies are coroutines: FastAPI runs plain `def` dependencies in a thread pool, a
# thread hop per request that cost more CPU than the whole route under load.
async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def get_translator(runtime: Runtime = Depends(get_runtime)) -> Translator:
    return ready_translator(runtime)


def ready_translator(runtime: Runtime) -> Translator:
    if runtime.draining:
        raise ShuttingDown("the server is shutting down")
    if not runtime.ready:
        raise NotReady("models are still loading")
    return runtime.translator


async def translate(body: TranslateRequest, request: Request) -> Response:
    """Translate one text or a list of segments; each is split into sentences, cached and batched per sentence.

    With `format: "html"` each text is an HTML fragment or document: its text runs and title/alt/placeholder
    values are translated (through the same cache and batching) and inline tags follow their words.

    In a list, a text that cannot be translated by itself comes back as sent with its own `error`; the
    others are translated. A single text's failure is the request's error.
    """
    # The hottest route resolves its state directly: FastAPI's dependency machinery was a fifth
    # of the CPU time of a cached translation.
    runtime: Runtime = request.app.state.runtime
    translator = ready_translator(runtime)
    segments = body.segments
    check_segments(segments, runtime.settings)
    if runtime.limiter.enabled:
        await runtime.limiter.check(request, header_keys(request), sum(len(s) for s in segments))
    detected = None
    streamed = body.stream or EVENT_STREAM in request.headers.get("accept", "")
    if body.source == AUTO_SOURCE:
        detected = await _detected_source(request, segments, runtime.settings)
        body = body.model_copy(update={"source": detected})
        if detected == body.target:
            return _as_sent(translator, body, segments, streamed)
    model = translator.engine.resolve(body.source, body.target)
    literals = check_terms(body.do_not_translate, runtime.settings)
    glossary = await request_glossary(
        runtime.glossaries,
        key_owner(request, runtime.settings),
        body.source,
        body.target,
        body.glossary,
        body.glossary_id,
        runtime.settings,
    )
    if streamed:
        events = _stream(translator, body, segments, literals, glossary, model, detected)
        return EventStream(events, translator.timeout_for(body.priority))
    results = await unless_disconnected(request, _translated(translator, body, segments, literals, glossary))
    if isinstance(body.text, str) and results[0].error is not None:
        raise results[0].error  # one text: its failure is the request's
    answer = TranslateResponse(
        translations=[_translation(r, body, glossary) for r in results],
        model=ModelRef(id=model.model_id, version=model.model_version),
        detected_language=detected,
    )
    # Serialised here: returning the model would make FastAPI validate it a second time.
    return Response(answer.model_dump_json(exclude_none=True), media_type="application/json")


def _as_sent(translator: Translator, body: TranslateRequest, segments: list[str], streamed: bool) -> Response:
    """Texts detected in the target language come back as sent: nothing to translate, which is no error (a page
    translator sends whatever a page holds, and one 400 would stop the whole page)."""
    model = next((m for s, t, m in translator.engine.directions() if body.target in (s, t)), None)
    if model is None:
        raise UnknownDirection(f"no model translates into {body.target!r}")
    results = [TextResult(text, False, 0, 0) for text in segments]
    items = [_translation(result, body, GLOSSARY_NONE) for result in results]
    ref = ModelRef(id=model.model_id, version=model.model_version)
    if not streamed:
        answer = TranslateResponse(translations=items, model=ref, detected_language=body.source)
        return Response(answer.model_dump_json(exclude_none=True), media_type="application/json")

    async def events() -> AsyncIterator[bytes]:
        for index, item in enumerate(items):
            yield event({"index": index, **item.model_dump(exclude_none=True)})
        yield _done(model, len(items), 0.0, 0.0, body.source)

    return EventStream(events(), translator.timeout_for(body.priority))


def _done(model: LoadedModel, count: int, first_s: float, total_s: float, detected: str | None) -> bytes:
    """The `done` event closing a stream: the model, the count of texts and the times to the first event and end."""
    summary: dict[str, object] = {
        "model": {"id": model.model_id, "version": model.model_version},
        "count": count,
        "timings": {"first_ms": round(first_s * 1000, 1), "total_ms": round(total_s * 1000, 1)},
    }
    if detected is not None:
        summary["detected_language"] = detected
    return event(summary, "done")


async def _detected_source(request: Request, texts: list[str], settings: Settings) -> str:
    """The language of the request's texts, by one detection over all of them (as LibreTranslate's route does)."""
    readable = "\n".join(text for text in texts if text_problem(text, "text") is None)  # a broken text has no say
    detections = await detect_within(request.app.state.detector, readable, settings)
    if not detections:
        raise UnknownDirection("no language can be detected: no model is loaded")
    return detections[0].language


async def _translated(
    translator: Translator,
    body: TranslateRequest,
    texts: list[str],
    literals: tuple[str, ...],
    glossary: Glossary,
    first_index: int = 0,
) -> list[TextResult]:
    """`texts` of the request translated with its direction, format, options and priority."""
    return await translate_texts(
        translator,
        body.source,
        body.target,
        texts,
        body.format,
        body.options,
        body.protect,
        literals,
        glossary,
        body.priority,
        first_index=first_index,
    )


def _fresh(task: asyncio.Future[list[TextResult]]) -> bool:
    """Whether a finished text was decoded (not answered from the cache, nor failed)."""
    return task.cancelled() or task.exception() is not None or not task.result()[0].cached


def _translation(result: TextResult, body: TranslateRequest, glossary: Glossary) -> Translation:
    html = body.format == "html"
    return Translation(
        text=result.text,
        cached=result.cached,
        segments=result.segments if html else None,
        cached_segments=result.cached_segments if html else None,
        alternatives=result.alternatives if body.options.alternatives else None,
        applied_terms=[AppliedTerm(source=s, target=t) for s, t in result.applied_terms] if glossary else None,
        error=_item_error(result.error),
    )


async def _stream(
    translator: Translator,
    body: TranslateRequest,
    segments: list[str],
    literals: tuple[str, ...],
    glossary: Glossary,
    model: LoadedModel,
    detected: str | None,
) -> AsyncIterator[bytes]:
    """One event per text as soon as it is final (cache hits first, the shortest text with a head start), then
    `done`; `error` ends the stream early when the request as a whole fails (overload, deadline, shutdown).
    Leaving cancels what is not done."""
    started = time.monotonic()
    first_s: float | None = None

    def start(index: int) -> asyncio.Task[list[TextResult]]:
        text = [segments[index]]
        return asyncio.ensure_future(_translated(translator, body, text, literals, glossary, first_index=index))

    lead = min(range(len(segments)), key=lambda i: len(segments[i]))
    gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def open_gate(*_: object) -> None:
        if not gate.done():
            gate.set_result(None)

    held = launch_gate.set(gate)  # the other texts: cache hits answer now, the rest decode after the lead
    try:  # started before the lead, so that their cache lookups run before the lead's decoding can end
        pending = {start(index): index for index in range(len(segments)) if index != lead}
    finally:
        launch_gate.reset(held)
    first = start(lead)
    pending[first] = lead
    first.add_done_callback(open_gate)
    timer = asyncio.get_running_loop().call_later(HEAD_START_S, open_gate)
    try:
        while pending:
            done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in sorted(done, key=lambda t: (_fresh(t), pending[t])):  # what the cache answered first
                index = pending.pop(task)
                try:
                    (result,) = task.result()
                    item = _translation(result, body, glossary).model_dump(exclude_none=True)
                except Exception as exc:
                    failure = exc if isinstance(exc, ServiceError) else _unexpected(exc)
                    yield event({"error": _error_shape(failure).model_dump()}, "error")
                    return
                first_s = first_s if first_s is not None else time.monotonic() - started
                yield event({"index": index, **item})
        yield _done(model, len(segments), first_s or 0.0, time.monotonic() - started, detected)
    finally:
        timer.cancel()
        open_gate()
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)


def key_owner(request: Request, settings: Settings) -> str:
    """Whose stored glossaries a request sees: its API key's when keys are on (checked before), else everyone's."""
    return owner_of(header_key(request)) if settings.api_key_list else ""


def served(model: LoadedModel) -> ServedModel:
    return ServedModel(
        id=model.model_id, version=model.model_version, provider=model.provider, precision=model.precision
    )


def _item_error(error: ServiceError | None) -> ItemError | None:
    return None if error is None else _error_shape(error)


def _error_shape(error: ServiceError) -> ItemError:
    return ItemError(code=error.code, message=error.message, status=http_status(error))


def _unexpected(exc: Exception) -> ServiceError:
    """A fault of ours after the stream started: logged with its traceback, sent in the usual shape."""
    log.error("a streamed translation failed", exc_info=exc)
    return EngineFailure(f"the translation failed: {type(exc).__name__}, a fault of the server, logged there")


STREAM_RESPONSE: dict[int | str, dict[str, object]] = {
    200: {
        "description": "JSON, or with `stream` (or `Accept: text/event-stream`) server-sent events: one `data:`"
        " event per text as it is done ({index, text, cached, ...}), then `event: done` ({model, count, timings}),"
        " or `event: error` ({error}) if the request fails after the stream started",
        # One parsed event (OpenAPI 3.2's generic shape for text/event-stream): its data is one line of JSON.
        "content": {
            "text/event-stream": {
                "schema": {
                    "type": "object",
                    "required": ["data"],
                    "properties": {
                        "event": {"type": "string", "enum": ["message", "done", "error"]},
                        "data": {"type": "string", "contentMediaType": "application/json"},
                    },
                }
            }
        },
    }
}

router.add_api_route(
    "/v1/translate",
    translate,
    methods=["POST"],
    response_model=TranslateResponse,
    response_model_exclude_none=True,
    responses={**STREAM_RESPONSE, **ERROR_RESPONSES},
    tags=["translate"],
    route_class_override=KeyedRoute,
)


@router.get("/v1/languages", response_model=LanguagesResponse, tags=["translate"])
async def languages(translator: Translator = Depends(get_translator)) -> LanguagesResponse:
    return LanguagesResponse(
        directions=[
            LanguagePair(source=source, target=target, model=served(m))
            for source, target, m in translator.engine.directions()
        ]
    )


@router.get("/healthz", tags=["ops"])
async def healthz() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@router.get("/readyz", tags=["ops"], responses={503: ERROR_RESPONSES[503]})
async def readyz(runtime: Runtime = Depends(get_runtime)) -> JSONResponse:
    """Readiness: models loaded and warm, scheduler running, not draining; the models as this replica runs
    them (provider and precision), so that a GPU replica serving from the CPU shows at a glance."""
    if runtime.ready and runtime.engine is not None:
        models = [served(m).model_dump() for m in runtime.engine.models]
        return JSONResponse({"status": "ready", "models": models})
    reason = "draining" if runtime.draining else "starting"
    return JSONResponse(
        {"error": {"code": "not_ready", "message": reason, "status": 503}},
        status_code=503,
        headers={"Retry-After": "1"},
    )


@router.get(
    "/metrics",
    tags=["ops"],
    response_class=Response,
    responses={
        200: {"description": "Prometheus text format", "content": {"text/plain": {"schema": {"type": "string"}}}}
    },
)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
