"""Document jobs over HTTP (docs/documents.md): DeepL's shape (upload, poll, download) and LibreTranslate's
/translate_file (which waits for the job) with /download_file.

A file is read once at upload, so that a bad one (not its format, corrupt, encrypted, a zip bomb, too many
paragraphs) is refused at once with a 4xx; the job itself runs later, as bulk work, on whichever replica's worker
takes it. A wrong key answers exactly as an unknown id does (404).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import PurePath
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.datastructures import UploadFile as StarletteUpload

from nmt_core.languages import canonical_language
from service.api.native import ERROR_RESPONSES, key_owner, ready_translator
from service.api.streaming import unless_disconnected
from service.documents.formats import SUPPORTED, extract, format_of
from service.documents.jobs import Job, new_job
from service.documents.worker import limits_of
from service.edge.auth import KeyedRoute
from service.engine.runtime import Runtime
from service.errors import DeadlineExceeded, DocumentNotReady, InvalidRequest, NotFound, PayloadTooLarge
from service.metrics import DOCUMENT_JOBS, DOCUMENT_QUEUE_DEPTH
from service.validation import AUTO_SOURCE, check_terms

router = APIRouter(route_class=KeyedRoute, tags=["documents"])


def _error(status: int, code: str, description: str) -> dict[int | str, dict[str, object]]:
    example = {"error": {"code": code, "message": "…", "status": status}}
    return {status: {"description": description, "content": {"application/json": {"example": example}}}}


DOCUMENT_RESPONSES: dict[int | str, dict[str, object]] = {
    **ERROR_RESPONSES,
    **_error(404, "document_not_found", "No document with this id and key, or its result expired"),
    **_error(409, "document_not_ready", "The result was asked for before the job was done"),
    **_error(415, "unsupported_format", "The file's format is not one of those supported (PDF, say)"),
}
RESULT_RESPONSES: dict[int | str, dict[str, object]] = {
    **DOCUMENT_RESPONSES,
    200: {
        "description": "The translated file, in the format it came in",
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    },
}
DOCUMENT_PATHS = ("/v1/documents", "/translate_file")


class DocumentHandle(BaseModel):
    document_id: str
    document_key: str = Field(description="needed to see the job and fetch its result; shown only once")


class Progress(BaseModel):
    segments_done: int
    segments_total: int


class DocumentStatus(BaseModel):
    document_id: str
    status: str = Field(examples=["queued", "translating", "done", "error"])
    progress: Progress
    seconds_remaining: float | None = None
    characters: int
    filename: str
    detected_language: str | None = None
    error: dict[str, Any] | None = None


async def _upload(file: StarletteUpload, limit: int) -> bytes:
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLarge(f"the file is larger than {limit} bytes (MAX_DOCUMENT_BYTES)", code="document_too_large")
    return data


async def submit(
    request: Request,
    file: StarletteUpload,
    source: str,
    target: str,
    glossary_id: str | None,
    do_not_translate: list[Any],
    options: dict[str, Any],
    owner: str,
) -> tuple[Job, str]:
    """Check the file and the direction, then queue the job; its handle (id, key)."""
    runtime: Runtime = request.app.state.runtime
    settings = runtime.settings
    translator = ready_translator(runtime)
    name = PurePath(file.filename or "").name
    format_of(name)  # 415 before the upload is read
    data = await _upload(file, settings.max_document_bytes)
    if source != AUTO_SOURCE:
        translator.engine.resolve(source, target)
    literals = check_terms(do_not_translate, settings)
    extracted = await asyncio.to_thread(extract, name, data, limits_of(settings))
    if not extracted.units:
        raise InvalidRequest("the document holds no text to translate", code="empty_document")
    job, key = new_job(
        filename=name,
        extension=format_of(name).extension,
        source=source,
        target=target,
        owner=owner,
        options={
            "glossary_id": glossary_id,
            "do_not_translate": list(literals),
            "protect": options.get("protect", True),
        },
        segments_total=len(extracted.units),
    )
    await runtime.documents.submit(job, data)
    DOCUMENT_JOBS.labels("queued").inc()
    DOCUMENT_QUEUE_DEPTH.set(await runtime.documents.depth())
    return job, key


def _options(raw: str | None) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        raise InvalidRequest("options: not a JSON object", code="invalid_request") from None
    if not isinstance(value, dict):
        raise InvalidRequest("options: not a JSON object", code="invalid_request")
    return value


def _terms(raw: str | None) -> list[Any]:
    """do_not_translate as a JSON list, or one term per line."""
    if not raw:
        return []
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        return [line.strip() for line in raw.splitlines() if line.strip()]
    return value if isinstance(value, list) else [value]


@router.post("/v1/documents", status_code=202, response_model=DocumentHandle, responses=DOCUMENT_RESPONSES)
async def create_document(
    request: Request,
    file: Annotated[UploadFile, File(description="the document: " + ", ".join(SUPPORTED))],
    target: Annotated[str, Form()],
    source: Annotated[str, Form()] = AUTO_SOURCE,
    glossary_id: Annotated[str | None, Form()] = None,
    do_not_translate: Annotated[str | None, Form(description="a JSON list, or one term per line")] = None,
    options: Annotated[str | None, Form(description='a JSON object, e.g. {"protect": false}')] = None,
) -> DocumentHandle:
    """Upload a document to translate as a job; poll its status, then download the result with its key."""
    runtime: Runtime = request.app.state.runtime
    owner = key_owner(request, runtime.settings)
    source, target = canonical_language(source), canonical_language(target)
    job, key = await submit(
        request, file, source, target, glossary_id, _terms(do_not_translate), _options(options), owner
    )
    return DocumentHandle(document_id=job.id, document_key=key)


async def _job(request: Request, document_id: str, document_key: str) -> Job:
    runtime: Runtime = request.app.state.runtime
    job = await runtime.documents.get(document_id)
    if job is None or not job.opens_with(document_key):
        raise NotFound("no document with this id and key (or its result expired)", code="document_not_found")
    return job


def status_of(job: Job) -> DocumentStatus:
    return DocumentStatus(
        document_id=job.id,
        status=job.status,
        progress=Progress(segments_done=job.segments_done, segments_total=job.segments_total),
        seconds_remaining=job.seconds_remaining(),
        characters=job.characters,
        filename=job.filename,
        detected_language=job.detected_language,
        error=job.error,
    )


@router.get("/v1/documents/{document_id}", response_model=DocumentStatus, responses=DOCUMENT_RESPONSES)
async def document_status(request: Request, document_id: str, document_key: str) -> DocumentStatus:
    return status_of(await _job(request, document_id, document_key))


def translated_name(job: Job) -> str:
    stem = PurePath(job.filename).stem or "document"
    return f"{stem}.{job.target}{job.extension}"


async def result_response(request: Request, job: Job) -> Response:
    runtime: Runtime = request.app.state.runtime
    if job.status != "done":
        raise DocumentNotReady(f"the document is {job.status}, not done yet")
    data = await runtime.documents.result(job.id)
    if data is None:
        raise NotFound("the result expired", code="document_not_found")
    name = translated_name(job)
    return Response(
        data,
        media_type=format_of(job.filename).media_type,
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name, safe='')}"},
    )


@router.get("/v1/documents/{document_id}/result", responses=RESULT_RESPONSES, response_class=Response)
async def document_result(request: Request, document_id: str, document_key: str) -> Response:
    """The translated file, in the format it came in, until DOCUMENT_TTL_S after the job finished."""
    return await result_response(request, await _job(request, document_id, document_key))


async def wait_for(request: Request, job_id: str, poll_s: float = 0.2) -> Job:
    """Until the job is done or failed (LibreTranslate's /translate_file answers only then), within
    BULK_TIMEOUT_S and while the client stays (the job goes on if it leaves; its result expires unfetched)."""
    runtime: Runtime = request.app.state.runtime

    async def finished() -> Job:
        while True:
            job = await runtime.documents.get(job_id)
            if job is None:
                raise NotFound("the document job expired", code="document_not_found")
            if job.status in ("done", "error"):
                return job
            await asyncio.sleep(poll_s)

    try:
        async with asyncio.timeout(runtime.settings.bulk_timeout_s):
            return await unless_disconnected(request, finished())
    except TimeoutError:
        raise DeadlineExceeded("the document was not translated within BULK_TIMEOUT_S") from None


def error_response(job: Job) -> JSONResponse:
    error = job.error or {"code": "internal_error", "message": "the document failed", "status": 500}
    return JSONResponse({"error": error}, status_code=int(error.get("status", 500)))
