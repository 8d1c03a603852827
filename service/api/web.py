"""The browser-facing files: the front page at `/`, `service/static/` at `/static`, and the extension's
page-translation core at `/static/translate-core.js` (served from `extension/`, so the code exists once)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

SERVICE_DIR = Path(__file__).resolve().parent.parent
ROOT = SERVICE_DIR.parent
STATIC_DIR = SERVICE_DIR / "static"
# A source checkout serves the extension's own file; an installed package (the image) gets a copy in static/.
CORE_JS = next(
    (path for path in (ROOT / "extension" / "translate-core.js", STATIC_DIR / "translate-core.js") if path.is_file()),
    ROOT / "extension" / "translate-core.js",
)

router = APIRouter(tags=["web"])


@router.get("/", include_in_schema=False)
async def index() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html")


@router.get("/static/translate-core.js", include_in_schema=False)
async def translate_core() -> FileResponse:
    return FileResponse(CORE_JS, media_type="text/javascript")


def install_web(app: FastAPI) -> None:
    """Routes before the mount: a mount at /static would otherwise answer /static/translate-core.js."""
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
