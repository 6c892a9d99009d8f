"""Static files under versioned URLs: `/static/<version>/<path>`, where the version is a digest of every file
shipped, so a deploy changes every URL and a browser may keep what it fetched for a year."""

from __future__ import annotations

import hashlib
import mimetypes
from functools import cache
from pathlib import Path

from litestar import Response, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath

STATIC_DIR = Path(__file__).parent / "static"
LONG_CACHE = "public, max-age=31536000, immutable"
TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}


@cache
def asset_version() -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in STATIC_DIR.rglob("*") if p.is_file()):
        digest.update(path.relative_to(STATIC_DIR).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def static_url(path: str) -> str:
    return f"/static/{asset_version()}/{path}"


@cache
def _read(relative: str) -> tuple[bytes, str] | None:
    path = (STATIC_DIR / relative).resolve()
    if not path.is_relative_to(STATIC_DIR.resolve()) or not path.is_file():
        return None
    media_type = TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return path.read_bytes(), media_type


@get("/static/{version:str}/{path:path}", include_in_schema=False, sync_to_thread=False)
def static_file(version: FromPath[str], path: FromPath[str]) -> Response[bytes]:
    """A file of the current version is cached for a year; an old version's URL still answers (a page loaded
    before a deploy keeps working) but is not cached, since its content is the current one."""
    found = _read(path.lstrip("/"))
    if found is None:
        raise NotFoundException()
    body, media_type = found
    cache_control = LONG_CACHE if version == asset_version() else "no-cache"
    headers = {"Cache-Control": cache_control, "X-Content-Type-Options": "nosniff"}
    return Response(body, media_type=media_type, headers=headers)
