"""LibreTranslate-compatible API: POST /translate, POST /detect, GET /languages, GET /frontend/settings.

Existing clients (libretranslatepy, deep-translator, browser extensions, the LibreTranslate web UI) send
parameters as JSON, as a form body (urlencoded or multipart) or in the query string, and expect errors as
`{"error": "message"}` with LibreTranslate's status codes. Those conventions hold on these routes only; the
native /v1 routes keep the service's own error shape. Translation goes through `translate_texts`, so the
cache, batching and HTML handling are the native API's.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Coroutine
from typing import Any, cast
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from nmt_core.languages import canonical_language
from service.api.documents import result_response, submit, translated_name, wait_for
from service.api.native import get_runtime, get_translator
from service.api.streaming import unless_disconnected
from service.documents.formats import SUPPORTED
from service.edge.auth import header_key, key_matches
from service.edge.http_errors import http_headers
from service.engine.formats import FORMATS, TextFormat, check_texts, text_problem, translate_texts
from service.engine.glossaries import owner_of, request_glossary
from service.engine.runtime import Runtime
from service.engine.translator import Translator
from service.errors import (
    BadDocument,
    Forbidden,
    InvalidRequest,
    NotFound,
    Overloaded,
    PayloadTooLarge,
    RateLimited,
    ServiceError,
    Unauthorized,
    UnknownDirection,
    UnsupportedDocument,
)
from service.settings import Settings
from service.text.detection import Detection, LazyDetector, detect_within, language_name
from service.validation import AUTO_SOURCE, TranslationOptions, check_segments, check_terms

log = logging.getLogger(__name__)

AUTO = AUTO_SOURCE
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
_OTHER_FIELDS = 16  # source, target, format, api_key, alternatives … beside the repeated q


class LibreError(Exception):
    """An error answered as LibreTranslate does: `{"error": message}` with `status`."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}

    def response(self) -> JSONResponse:
        return JSONResponse({"error": self.message}, status_code=self.status, headers=self.headers)


def from_service_error(exc: ServiceError) -> LibreError:
    """The service's errors in LibreTranslate's vocabulary: limits and bad input are 400, a spent rate limit
    and a full queue are 429 ("Slowdown", as LibreTranslate's own limiter says), not ready / shutting down stay
    503, anything the engine could not finish is 500."""
    headers = http_headers(exc)
    if isinstance(exc, UnknownDirection):
        return LibreError(400, exc.message)
    if isinstance(exc, InvalidRequest | PayloadTooLarge | BadDocument | UnsupportedDocument):
        return LibreError(400, f"Invalid request: {exc.message}")
    if isinstance(exc, Unauthorized):
        return LibreError(400, exc.message, headers)
    if isinstance(exc, Forbidden):
        return LibreError(403, exc.message)
    if isinstance(exc, NotFound):
        return LibreError(404, exc.message)
    if isinstance(exc, RateLimited) or type(exc) is Overloaded:
        return LibreError(429, f"Slowdown: {exc.message}", headers)
    if isinstance(exc, Overloaded):  # not ready, shutting down
        return LibreError(503, exc.message, headers)
    return LibreError(500, f"Cannot translate text: {exc.message}")


class LibreRoute(APIRoute):
    """Turns every failure inside these routes (dependencies included) into LibreTranslate's error shape."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except LibreError as exc:
                return exc.response()
            except ServiceError as exc:
                return from_service_error(exc).response()
            except RequestValidationError as exc:
                return LibreError(400, f"Invalid request: {exc.errors()}").response()
            except StarletteHTTPException as exc:
                return LibreError(exc.status_code, str(exc.detail), dict(exc.headers or {})).response()
            except Exception:
                log.exception("unhandled error in a LibreTranslate route")
                return LibreError(500, "Cannot translate text: internal server error").response()

        return route


router = APIRouter(route_class=LibreRoute, tags=["libretranslate"])


def _libre_errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI for LibreTranslate's error answers: `{"error": "message"}`."""
    schema = {"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]}
    meaning = {
        400: "Invalid request, unsupported language or format, or a key required",
        403: "Wrong API key",
        404: "No such translated file, or it expired",
        408: "Request body not received in time",
        413: "Request body over the limit",
        429: "Rate limit spent or queue full (Slowdown); see Retry-After",
        500: "The text could not be translated",
        503: "Models loading or the server shutting down; see Retry-After",
    }
    return {
        status: {"description": meaning[status], "content": {"application/json": {"schema": schema}}}
        for status in statuses
    }


_POST_ERRORS = _libre_errors(400, 403, 408, 413, 429, 500, 503)
_GET_ERRORS = _libre_errors(503)
_DOWNLOAD_ERRORS: dict[int | str, dict[str, Any]] = {
    **_libre_errors(404, 503),
    200: {
        "description": "The translated file",
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    },
}


def libre_shape(path: str, code: str, message: str, status: int) -> dict[str, Any] | None:
    """LibreTranslate's error body for its own paths (None elsewhere), for errors raised before routing."""
    return {"error": message} if path in LIBRE_PATHS or path.startswith(DOWNLOADS) else None


async def get_detector(request: Request) -> LazyDetector:
    detector: LazyDetector = request.app.state.detector
    return detector


async def read_params(request: Request) -> dict[str, Any]:
    """Query string, then a JSON object or form body on top (a repeated form/query key becomes a list)."""
    params: dict[str, Any] = {}
    for key in request.query_params:
        values = request.query_params.getlist(key)
        params[key] = values[0] if len(values) == 1 else values
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json" or content_type.endswith("+json"):
        try:
            data = await request.json()
        except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser's stack
            raise LibreError(400, "Invalid JSON format") from None
        if not isinstance(data, dict):
            raise LibreError(400, "Invalid JSON format")
        params.update(data)
    elif content_type in _FORM_TYPES:
        # No file parts (nothing is spooled to disk), and no more fields than a translation can use.
        settings: Settings = request.app.state.settings
        form = await request.form(
            max_files=0, max_fields=settings.max_segments + _OTHER_FIELDS, max_part_size=settings.body_limit
        )
        for key in form:
            texts = [v for v in form.getlist(key) if isinstance(v, str)]
            if texts:
                params[key] = texts[0] if len(texts) == 1 else texts
    return params


async def authorized_params(request: Request, settings: Settings) -> dict[str, Any]:
    """The request's parameters, with the key checked first: a key in the query string or a header is
    checked before the body is read; only a key sent in the body needs the (size-limited) body read."""
    outside = request.query_params.get("api_key") or header_key(request)
    if settings.api_key_list and outside:
        check_api_key({"api_key": outside}, settings)
    params = await read_params(request)
    if not outside:
        check_api_key(params, settings)
    return params


def check_api_key(params: dict[str, Any], settings: Settings) -> None:
    """With API_KEYS set, a key is required: missing -> 400 (as LibreTranslate asks for one), wrong -> 403."""
    keys = settings.api_key_list
    if not keys:
        return
    given = params.get("api_key")
    if not given:
        raise LibreError(400, "Please contact the server operator to get an API key")
    if not isinstance(given, str) or not key_matches(given, keys):
        raise LibreError(403, "Invalid API key")


def _required(params: dict[str, Any], name: str) -> Any:
    value = params.get(name)
    if not value:
        raise LibreError(400, f"Invalid request: missing {name} parameter")
    return value


def _string(params: dict[str, Any], name: str, default: str | None = None) -> str:
    value = params.get(name, default) if default is not None else _required(params, name)
    if not isinstance(value, str):
        raise LibreError(400, f"Invalid request: {name} must be a string")
    return value.strip()


def _flag(params: dict[str, Any], name: str, default: bool) -> bool:
    """A boolean parameter as JSON (true/false) or a form/query string ("true", "false", "1", "0")."""
    value = params.get(name, default)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "1", "yes", "false", "0", "no"):
        return value.strip().lower() in ("true", "1", "yes")
    raise LibreError(400, f"Invalid request: {name} must be true or false")


def _glossary_param(value: Any) -> tuple[Any, str | None]:
    """`glossary` as (inline entries, stored id): an object, a JSON object in a form field, or an id."""
    if value is None or value == "":
        return None, None
    if isinstance(value, str) and value.lstrip().startswith("{"):
        try:
            return json.loads(value), None
        except (ValueError, RecursionError):
            raise LibreError(400, "Invalid request: glossary: not a JSON object") from None
    if isinstance(value, str):
        return None, value
    return value, None


def _alternatives(params: dict[str, Any]) -> int:
    try:
        return max(0, int(params.get("alternatives") or 0))
    except (TypeError, ValueError, OverflowError):  # OverflowError: Infinity, 1e400
        raise LibreError(400, "Invalid request: alternatives parameter is not a number") from None


def _texts(q: Any, settings: Settings) -> list[str]:
    """The native API's gate (the request's limits), answered in LibreTranslate's shape."""
    texts = q if isinstance(q, list) else [q]
    if not all(isinstance(text, str) for text in texts):
        raise LibreError(400, "Invalid request: q must be a string or a list of strings")
    if len(texts) > settings.max_segments:
        raise LibreError(400, f"Invalid request: request ({len(texts)}) exceeds text limit ({settings.max_segments})")
    chars = sum(len(text) for text in texts)
    if chars > settings.max_text_chars:
        raise LibreError(400, f"Invalid request: request ({chars}) exceeds text limit ({settings.max_text_chars})")
    check_segments(texts, settings)
    return texts


def _item_error(error: ServiceError) -> dict[str, str]:
    """One text's failure in LibreTranslate's words, with the native API's stable code beside it."""
    return {"error": from_service_error(error).message, "code": error.code}


def _label(code: str) -> str:
    return f"{language_name(code)} ({code})"


def _pairs(translator: Translator) -> dict[str, list[str]]:
    """Every language the loaded bundles know, with the targets it can be translated into."""
    pairs: dict[str, list[str]] = {}
    for source, target, _ in translator.engine.directions():
        pairs.setdefault(source, []).append(target)
        pairs.setdefault(target, [])
    return {code: sorted(targets) for code, targets in sorted(pairs.items())}


async def _detect(detector: LazyDetector, text: str, settings: Settings) -> list[Detection]:
    """Candidates, best first: lingua looks at the first DETECT_MAX_CHARS characters, in a bounded pool of
    worker threads, within DETECT_TIMEOUT_S (past it DeadlineExceeded, a 500 in LibreTranslate's terms)."""
    detections = await detect_within(detector, text, settings)
    if not detections:
        raise LibreError(400, "no language can be detected: no model is loaded")
    return detections


def _detected(detection: Detection) -> dict[str, Any]:
    return {"confidence": detection.confidence, "language": detection.language}


async def _rate_limit(request: Request, runtime: Runtime, params: dict[str, Any], texts: list[str]) -> None:
    """Charged with the key authorized_params checked: the query/header one if sent, else the body's."""
    if runtime.limiter.enabled:
        outside = request.query_params.get("api_key") or header_key(request)
        key = outside or params.get("api_key")
        await runtime.limiter.check(request, [key] if isinstance(key, str) else [], sum(len(t) for t in texts))


@router.post("/translate", responses=_POST_ERRORS)
async def translate(
    request: Request,
    runtime: Runtime = Depends(get_runtime),
    translator: Translator = Depends(get_translator),
    detector: LazyDetector = Depends(get_detector),
) -> JSONResponse:
    """Translate `q` (a string or a list) from `source` (or `auto`) into `target`; `format` text or html.

    Returns `translatedText` (same shape as `q`), `detectedLanguage` when source is auto (one detection over
    all texts, repeated per text, as LibreTranslate does) and, when `alternatives` > 0, that many distinct
    runner-up translations per text from the beam (fewer when the beam holds fewer).
    """
    settings = runtime.settings
    params = await authorized_params(request, settings)
    q = _required(params, "q")
    source = canonical_language(_string(params, "source"))
    target = canonical_language(_string(params, "target"))
    alternatives = _alternatives(params)
    text_format = _string(params, "format", "text") or "text"
    if text_format not in FORMATS:
        raise LibreError(400, f"{text_format} format is not supported")
    texts = _texts(q, settings)
    await _rate_limit(request, runtime, params, texts)
    detection: Detection | None = None
    if source == AUTO:
        readable = (text for text in texts if text_problem(text, "text") is None)  # a broken text has no say
        detection = (await _detect(detector, "\n".join(readable), settings))[0]
        source = detection.language
    pairs = _pairs(translator)
    if source not in pairs:
        raise LibreError(400, f"{source} is not supported")
    if target not in pairs:
        raise LibreError(400, f"{target} is not supported")
    if detection is not None and source == target:  # detected in the target language: nothing to translate
        return JSONResponse(_answer(q, texts, detection))
    if target not in pairs[source]:
        raise LibreError(400, f"{_label(target)} is not available as a target language from {_label(source)}")
    # LibreTranslate never refuses `alternatives`: answer as many as the model's beam holds (its beam
    # is not widened, which would change the best translation); HTML gets empty lists.
    options = None
    if alternatives > 0 and text_format == "text":
        model = translator.engine.resolve(source, target)
        beam = translator.decoding_for(model, None, source, target).search.beam_size
        options = TranslationOptions(alternatives=min(alternatives, beam - 1)) if beam > 1 else None
    protect = _flag(params, "protect", default=True)
    terms = params.get("do_not_translate") or []
    literals = check_terms(terms if isinstance(terms, list) else [terms], settings)
    inline, glossary_id = _glossary_param(params.get("glossary"))
    key = request.query_params.get("api_key") or header_key(request) or params.get("api_key")
    owner = owner_of(key if isinstance(key, str) else "")
    glossary = await request_glossary(
        runtime.glossaries, owner if settings.api_key_list else "", source, target, inline, glossary_id, settings
    )
    results = await unless_disconnected(  # a client that leaves takes its sentences with it
        request,
        translate_texts(
            translator, source, target, texts, cast(TextFormat, text_format), options, protect, literals, glossary
        ),
    )
    if not isinstance(q, list) and results[0].error is not None:
        raise results[0].error  # one text: its failure is the request's
    body = _answer(q, [r.text for r in results], detection)
    if any(r.error is not None for r in results):  # beside translatedText, which then holds the text as sent
        body["errors"] = [None if r.error is None else _item_error(r.error) for r in results]
    if glossary:  # beside translatedText, as the native API's applied_terms
        applied = [[{"source": s, "target": t} for s, t in r.applied_terms] for r in results]
        body["appliedTerms"] = applied if isinstance(q, list) else applied[0]
    if alternatives > 0:
        found = [r.alternatives for r in results]
        body["alternatives"] = found if isinstance(q, list) else found[0]
    return JSONResponse(body)


def _answer(q: Any, translated: list[str], detection: Detection | None) -> dict[str, Any]:
    """translatedText in the shape of `q`, and detectedLanguage when the source was detected."""
    body: dict[str, Any] = {"translatedText": translated if isinstance(q, list) else translated[0]}
    if detection is not None:
        found = _detected(detection)
        body["detectedLanguage"] = [found] * len(translated) if isinstance(q, list) else found
    return body


@router.post("/detect", responses=_POST_ERRORS)
async def detect(
    request: Request,
    runtime: Runtime = Depends(get_runtime),
    detector: LazyDetector = Depends(get_detector),
) -> JSONResponse:
    """Candidate languages for `q`, best first: `[{"confidence": 0-100, "language": code}]`, restricted to
    the source languages of the loaded models."""
    params = await authorized_params(request, runtime.settings)
    texts = _texts(_required(params, "q"), runtime.settings)
    check_texts(texts, "text")
    await _rate_limit(request, runtime, params, texts)
    text = "\n".join(texts)
    return JSONResponse([_detected(d) for d in await _detect(detector, text, runtime.settings)])


@router.get("/languages", responses=_GET_ERRORS)
async def languages(translator: Translator = Depends(get_translator)) -> JSONResponse:
    """`[{"code", "name", "targets"}]` for every language of the loaded models."""
    return JSONResponse(
        [
            {"code": code, "name": language_name(code), "targets": targets}
            for code, targets in _pairs(translator).items()
        ]
    )


@router.get("/frontend/settings", responses=_GET_ERRORS)
async def frontend_settings(
    runtime: Runtime = Depends(get_runtime),
    translator: Translator = Depends(get_translator),
) -> JSONResponse:
    """What a LibreTranslate front end needs to configure itself (limits, keys, default languages)."""
    settings = runtime.settings
    pairs = _pairs(translator)
    source = settings.frontend_language_source
    source = source if source == AUTO or source in pairs else AUTO
    targets = sorted({t for ts in pairs.values() for t in ts})
    target = settings.frontend_language_target
    if target not in targets:
        target = next((t for t in targets if t != "en"), targets[0] if targets else "")
    keys = bool(settings.api_key_list)
    return JSONResponse(
        {
            "charLimit": settings.max_text_chars,
            "frontendTimeout": settings.frontend_timeout_ms,
            "apiKeys": keys,
            "keyRequired": keys,
            "suggestions": False,
            "filesTranslation": True,
            "supportedFilesFormat": list(SUPPORTED),
            "language": {
                "source": {"code": source, "name": "Auto Detect" if source == AUTO else language_name(source)},
                "target": {"code": target, "name": language_name(target)},
            },
        }
    )


@router.post("/translate_file", responses=_POST_ERRORS)
async def translate_file(request: Request, runtime: Runtime = Depends(get_runtime)) -> JSONResponse:
    """Translate a file (multipart `file`, `source`, `target`, `api_key`) as a document job, waiting for it;
    `translatedFileUrl` downloads the result until DOCUMENT_TTL_S after it finished."""
    settings = runtime.settings
    outside = request.query_params.get("api_key") or header_key(request)
    if settings.api_key_list and outside:
        check_api_key({"api_key": outside}, settings)
    try:
        form = await request.form(max_files=1, max_fields=_OTHER_FIELDS, max_part_size=settings.max_document_bytes + 1)
    except StarletteHTTPException as exc:
        raise LibreError(400, f"Invalid request: {exc.detail}") from None
    params: dict[str, Any] = {k: v for k in form if isinstance(v := form.get(k), str)}
    if not outside:
        check_api_key(params, settings)
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise LibreError(400, "Invalid request: missing file parameter")
    source = canonical_language(_string(params, "source", AUTO) or AUTO)
    target = canonical_language(_string(params, "target"))
    key = outside or params.get("api_key") or ""
    owner = owner_of(key) if settings.api_key_list else ""
    job, document_key = await submit(request, upload, source, target, None, [], {}, owner)
    job = await wait_for(request, job.id)
    if job.status == "error":
        error = job.error or {}
        raise LibreError(int(error.get("status", 500)), str(error.get("message", "the file could not be translated")))
    name = quote(f"{job.id}.{document_key}.{translated_name(job)}", safe="")
    return JSONResponse({"translatedFileUrl": f"{str(request.base_url).rstrip('/')}/download_file/{name}"})


@router.get("/download_file/{name}", responses=_DOWNLOAD_ERRORS, response_class=Response)
async def download_file(request: Request, name: str, runtime: Runtime = Depends(get_runtime)) -> Response:
    """A file /translate_file translated; its name holds the job's id and key."""
    job_id, _, rest = name.partition(".")
    key, _, _ = rest.partition(".")
    job = await runtime.documents.get(job_id)
    if job is None or not key or not job.opens_with(key):
        raise LibreError(404, "file not found")
    return await result_response(request, job)


LIBRE_PATHS = frozenset(route.path for route in router.routes if isinstance(route, APIRoute))
DOWNLOADS = "/download_file/"  # its paths hold a file name
