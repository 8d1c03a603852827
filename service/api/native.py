"""HTTP routes. Other front-ends (HTML, LibreTranslate) add their own routers and reuse
`get_translator`, which hands them the shared `Translator` (and 503s while not ready)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from service.edge.auth import KeyedRoute, header_key, header_keys
from service.edge.http_errors import http_status
from service.engine.backends import LoadedModel
from service.engine.formats import translate_texts
from service.engine.glossaries import owner_of, request_glossary
from service.engine.runtime import Runtime
from service.engine.translator import Translator
from service.errors import NotReady, ServiceError, ShuttingDown
from service.settings import Settings
from service.validation import (
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
    results = await translate_texts(
        translator, body.source, body.target, segments, body.format, body.options, body.protect, literals, glossary
    )
    if isinstance(body.text, str) and results[0].error is not None:
        raise results[0].error  # one text: its failure is the request's
    html = body.format == "html"
    alternatives = bool(body.options.alternatives)
    answer = TranslateResponse(
        translations=[
            Translation(
                text=r.text,
                cached=r.cached,
                segments=r.segments if html else None,
                cached_segments=r.cached_segments if html else None,
                alternatives=r.alternatives if alternatives else None,
                applied_terms=[AppliedTerm(source=s, target=t) for s, t in r.applied_terms] if glossary else None,
                error=_item_error(r.error),
            )
            for r in results
        ],
        model=ModelRef(id=model.model_id, version=model.model_version),
    )
    # Serialised here: returning the model would make FastAPI validate it a second time.
    return Response(answer.model_dump_json(exclude_none=True), media_type="application/json")


def key_owner(request: Request, settings: Settings) -> str:
    """Whose stored glossaries a request sees: its API key's when keys are on (checked before), else everyone's."""
    return owner_of(header_key(request)) if settings.api_key_list else ""


def served(model: LoadedModel) -> ServedModel:
    return ServedModel(
        id=model.model_id, version=model.model_version, provider=model.provider, precision=model.precision
    )


def _item_error(error: ServiceError | None) -> ItemError | None:
    return None if error is None else ItemError(code=error.code, message=error.message, status=http_status(error))


router.add_api_route(
    "/v1/translate",
    translate,
    methods=["POST"],
    response_model=TranslateResponse,
    response_model_exclude_none=True,
    responses=ERROR_RESPONSES,
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
