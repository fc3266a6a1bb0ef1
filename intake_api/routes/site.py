"""The built static site at `/`, served from `site_dir` (a folder or a symlink swapped per build).

The link is resolved on every request, so a rebuild that swaps it atomically is served
at once and a request never mixes two builds' files. Only files inside the resolved
root are served; directories serve their `index.html`.
"""

from __future__ import annotations

import hashlib
import mimetypes
from pathlib import Path

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from starlette.convertors import Convertor, register_url_convertor

from ..deps import RuntimeDep

router = APIRouter(include_in_schema=False)


class SitePath(Convertor[str]):
    """Any path outside the API's own prefixes, so that /api/... gets a JSON 404 or 405."""

    regex = r"(?!(?:api|open311)(?:/|$)).*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("sitepath", SitePath())

IN_MEMORY_MAX = 4 * 1024 * 1024
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".xml": "application/xml; charset=utf-8",
    ".rss": "application/rss+xml; charset=utf-8",
    ".atom": "application/atom+xml; charset=utf-8",
    ".json": "application/json",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".txt": "text/plain; charset=utf-8",
    ".csv": "text/csv; charset=utf-8",
    ".webmanifest": "application/manifest+json",
    ".woff2": "font/woff2",
    ".wasm": "application/wasm",
}
BUILDING = """<!doctype html>
<html lang="zh"><head><meta charset="utf-8"><meta http-equiv="refresh" content="10">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>站点正在生成 · 12345·首发</title></head>
<body style="font-family:sans-serif;max-width:36em;margin:4em auto;line-height:1.6">
<h1>站点正在生成</h1>
<p>公开网站正在首次生成，请稍候，本页每10秒自动刷新。</p>
<p>接口已经可用：<a href="/docs">/docs</a>（接口文档）、<a href="/healthz">/healthz</a>。</p>
</body></html>
"""
NOT_FOUND_PAGE = """<!doctype html>
<html lang="zh"><head><meta charset="utf-8"><title>页面不存在 · 12345·首发</title></head>
<body style="font-family:sans-serif;max-width:36em;margin:4em auto"><h1>页面不存在</h1>
<p><a href="/">返回首页</a></p></body></html>
"""


def content_type(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in TYPES:
        return TYPES[suffix]
    guessed, _ = mimetypes.guess_type(path.name)
    return guessed or "application/octet-stream"


def _site_root(site_dir: Path) -> Path | None:
    try:
        root = site_dir.resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    return root if (root / "index.html").is_file() else None


def _inside(root: Path, rel: str) -> Path | None:
    """The resolved file or folder for `rel`, or None if it leaves the root."""
    if "\x00" in rel or "\\" in rel:
        return None
    try:
        target = (root / rel.lstrip("/")).resolve()
    except (OSError, RuntimeError, ValueError):
        return None
    return target if target == root or target.is_relative_to(root) else None


def _file(request: Request, path: Path, status: int = 200) -> Response:
    st = path.stat()
    etag = (
        '"'
        + hashlib.sha256(f"{path}:{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()[:32]
        + '"'
    )
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    ctype = content_type(path)
    if status == 200 and request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    if st.st_size > IN_MEMORY_MAX:
        return FileResponse(path, media_type=ctype, headers=headers, status_code=status)
    # Read now: the build this file belongs to may be swapped out a moment later.
    body = path.read_bytes()
    if request.method == "HEAD":
        headers["Content-Length"] = str(len(body))
        body = b""
    return Response(body, status_code=status, media_type=ctype, headers=headers)


@router.api_route("/{path:sitepath}", methods=["GET", "HEAD"])
def site(path: str, request: Request, rt: RuntimeDep) -> Response:
    root = _site_root(rt.settings.site_dir)
    if root is None:
        return HTMLResponse(
            BUILDING, status_code=503, headers={"Retry-After": "10", "Cache-Control": "no-store"}
        )
    target = _inside(root, path)
    try:
        if target is not None and target.is_dir():
            if path and not path.endswith("/"):
                # Relative links in the pages need the trailing slash.
                query = f"?{request.url.query}" if request.url.query else ""
                return RedirectResponse("/" + path.strip("/") + "/" + query, status_code=301)
            target = target / "index.html"
        if target is not None and target.is_file():
            return _file(request, target)
        missing = root / "404.html"
        if missing.is_file():
            return _file(request, missing, status=404)
    except FileNotFoundError:  # the build was swapped away between two steps
        pass
    return HTMLResponse(NOT_FOUND_PAGE, status_code=404)
