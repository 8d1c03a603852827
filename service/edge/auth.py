"""API keys (`API_KEYS`): one check for every front-end, so a key opens the same doors everywhere.

The native API takes the key as `X-API-Key: KEY` or `Authorization: Bearer KEY`; the
LibreTranslate-compatible API takes LibreTranslate's `api_key` parameter (see libretranslate.py).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from fastapi.security import APIKeyHeader, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param

from service.errors import Forbidden, Unauthorized

# Used for their OpenAPI models (and names) only: KeyedRoute reads the headers itself.
API_KEY_HEADER = APIKeyHeader(name="X-API-Key", description="one of the server's API_KEYS")
BEARER = HTTPBearer(description="one of the server's API_KEYS as a bearer token")


def key_matches(given: str, keys: Sequence[str]) -> bool:
    """Digests first: compare_digest on raw strings returns early on a length mismatch."""
    digest = hashlib.sha256(given.encode()).digest()
    return any(hmac.compare_digest(digest, hashlib.sha256(key.encode()).digest()) for key in keys)


def header_keys(request: Request) -> list[str]:
    """Keys sent as `X-API-Key` or `Authorization: Bearer`, in that order."""
    scheme, token = get_authorization_scheme_param(request.headers.get("authorization"))
    return [
        k for k in (request.headers.get(API_KEY_HEADER.model.name), token if scheme.lower() == "bearer" else "") if k
    ]


def header_key(request: Request) -> str:
    return next(iter(header_keys(request)), "")


def check_key_headers(request: Request, keys: Sequence[str]) -> None:
    """No keys configured: open. Otherwise a missing key is 401 and a wrong one 403; either header may hold it."""
    if not keys:
        return
    given = header_keys(request)
    if not given:
        raise Unauthorized("an API key is required: send X-API-Key or Authorization: Bearer")
    if not any(key_matches(candidate, keys) for candidate in given):
        raise Forbidden("invalid API key")


_KEYED = "x-api-keys"  # marks a keyed operation in the generated schema, for document_keys


class KeyedRoute(APIRoute):
    """A route that needs an API key when API_KEYS is set, checked before FastAPI reads the body (a caller
    without a key costs no parsing) and without a dependency (which the hot route avoids for its CPU cost)."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any):
        kwargs["openapi_extra"] = {**(kwargs.get("openapi_extra") or {}), _KEYED: True}
        super().__init__(path, endpoint, **kwargs)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            check_key_headers(request, request.app.state.settings.api_key_list)
            return await handler(request)

        return route


def document_keys(app: FastAPI, keys_required: bool) -> None:
    """With keys required, declare both header schemes on the keyed operations (so /docs offers "Authorize")."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            schemes = {
                s.scheme_name: s.model.model_dump(mode="json", by_alias=True, exclude_none=True)
                for s in (API_KEY_HEADER, BEARER)
            }
            if keys_required:
                schema.setdefault("components", {})["securitySchemes"] = schemes
            for operations in schema.get("paths", {}).values():
                for operation in operations.values():
                    if operation.pop(_KEYED, False) and keys_required:
                        operation["security"] = [{name: []} for name in schemes]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
