"""API keys (`API_KEYS`): one check for every front-end, so a key opens the same doors everywhere.

The native API takes the key as `X-API-Key: KEY` or `Authorization: Bearer KEY`; the
LibreTranslate-compatible API takes LibreTranslate's `api_key` parameter (see libretranslate.py).
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from typing import Annotated

from fastapi import Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from service.errors import Forbidden, Unauthorized

api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="one of the server's API_KEYS")
bearer = HTTPBearer(auto_error=False, description="one of the server's API_KEYS as a bearer token")


def key_matches(given: str, keys: Sequence[str]) -> bool:
    """Constant-time per key, so response timing does not reveal how much of a key was right."""
    return any(hmac.compare_digest(given.encode(), key.encode()) for key in keys)


async def require_api_key(
    request: Request,
    header_key: Annotated[str | None, Security(api_key_header)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
) -> None:
    """No keys configured: open. Otherwise a missing key is 401 and a wrong one 403."""
    keys = request.app.state.runtime.settings.api_key_list
    if not keys:
        return
    given = header_key or (credentials.credentials if credentials else None)
    if not given:
        raise Unauthorized("an API key is required: send X-API-Key or Authorization: Bearer")
    if not key_matches(given, keys):
        raise Forbidden("invalid API key")
