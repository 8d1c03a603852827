"""/v1/glossaries: stored glossaries, shaped like DeepL's (entries as an object, or as TSV/CSV text)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from service.api.native import ERROR_RESPONSES, key_owner, ready_translator
from service.edge.auth import KeyedRoute
from service.engine.glossaries import StoredGlossary, checked_glossary, new_glossary
from service.engine.runtime import Runtime
from service.errors import InvalidRequest
from service.text.glossary import parse_entries
from service.validation import LanguageCode

router = APIRouter(tags=["glossaries"], route_class=KeyedRoute)

_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: ERROR_RESPONSES[status] for status in (400, 401, 403, 404, 413, 422, 503)
}


class GlossaryRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, examples=["UI terms"])
    source: LanguageCode = Field(examples=["en"])
    target: LanguageCode = Field(examples=["de"])
    entries: dict[str, Any] | str = Field(
        description="source term -> target term, or DeepL-style text: one `source<TAB>target` line (tsv) or"
        " `source,target` line (csv) per entry",
        examples=[{"sign in": "anmelden", "cookie": "Cookie"}],
    )
    entries_format: Literal["tsv", "csv"] = Field(default="tsv", description="how text `entries` are written")


class GlossaryInfo(BaseModel):
    glossary_id: str
    name: str
    source: str
    target: str
    entry_count: int
    created: str = Field(description="creation time, ISO 8601 UTC")


class GlossaryWithEntries(GlossaryInfo):
    entries: dict[str, str]


class GlossaryList(BaseModel):
    glossaries: list[GlossaryInfo]


def _info(glossary: StoredGlossary) -> GlossaryInfo:
    return GlossaryInfo(
        glossary_id=glossary.glossary_id,
        name=glossary.name,
        source=glossary.source,
        target=glossary.target,
        entry_count=glossary.entry_count,
        created=glossary.created,
    )


@router.post("/v1/glossaries", status_code=201, response_model=GlossaryInfo, responses=_RESPONSES)
async def create_glossary(body: GlossaryRequest, request: Request) -> GlossaryInfo:
    """Store a glossary for later requests (`glossary_id`); with API_KEYS on, only this key can see or use it."""
    runtime: Runtime = request.app.state.runtime
    settings = runtime.settings
    ready_translator(runtime).engine.resolve(body.source, body.target)  # 400 for a direction nobody serves
    raw = parse_entries(body.entries, body.entries_format) if isinstance(body.entries, str) else body.entries
    glossary = await checked_glossary(raw, settings, field="entries")
    if not glossary:
        raise InvalidRequest("entries: a glossary needs at least one entry", code="invalid_glossary")
    stored = new_glossary(body.name, body.source, body.target, dict(glossary.entries))
    await runtime.glossaries.create(key_owner(request, settings), stored)
    return _info(stored)


@router.get("/v1/glossaries", response_model=GlossaryList, responses=_RESPONSES)
async def list_glossaries(request: Request) -> GlossaryList:
    runtime: Runtime = request.app.state.runtime
    found = await runtime.glossaries.list(key_owner(request, runtime.settings))
    return GlossaryList(glossaries=[_info(g) for g in found])


@router.get("/v1/glossaries/{glossary_id}", response_model=GlossaryWithEntries, responses=_RESPONSES)
async def get_glossary(glossary_id: str, request: Request) -> GlossaryWithEntries:
    runtime: Runtime = request.app.state.runtime
    found = await runtime.glossaries.get(key_owner(request, runtime.settings), glossary_id)
    return GlossaryWithEntries(**_info(found).model_dump(), entries=found.entries)


@router.delete("/v1/glossaries/{glossary_id}", status_code=204, response_class=Response, responses=_RESPONSES)
async def delete_glossary(glossary_id: str, request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    await runtime.glossaries.delete(key_owner(request, runtime.settings), glossary_id)
    return Response(status_code=204)
