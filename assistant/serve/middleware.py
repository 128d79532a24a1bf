"""The ASGI middleware around the API and the pages: headers, page uploads, body limits, 404 pages.

Middleware, not routes, because it must also cover what Gradio mounts: its upload routes accept
files from anyone, and its 404s are JSON. Each class wraps the whole app once: `api.create_app` adds
the first three, `ui.mount` the 404 page (only the pages need it).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from fastapi.responses import JSONResponse
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection

from assistant.ingest.sources import MAX_UPLOAD_FILES
from assistant.serve import html

MB = 1024 * 1024
JSON_BODY_LIMIT = MB  # a question is at most 2000 characters; 1 MB leaves room for long histories
MULTIPART_SLACK = 16 * 1024  # part headers and boundaries: about 200 bytes a file, up to 20 files
# The cookie that lets the page's own upload requests (Gradio's /gradio_api/upload, which a
# browser sends without our Authorization header) prove the admin token.
UPLOAD_COOKIE = "assistant_admin"


def sent_token(headers, admin_token: str | None) -> bool:
    """Whether a request carries `Authorization: Bearer <the admin token>` (constant-time compare)."""
    bearer = headers.get("authorization", "")
    return (admin_token is not None and bearer[:7].lower() == "bearer "
            and secrets.compare_digest(bearer[7:].strip().encode(), admin_token.encode()))


def upload_cookie(admin_token: str) -> str:
    """The upload cookie's value: derived from the token, so the token itself never sits in a cookie."""
    return hmac.new(admin_token.encode(), b"assistant page upload", hashlib.sha256).hexdigest()


class EdgeMiddleware:
    """Framing and content-type headers on every response, the mounted pages' included.

    `/embed` may be framed by the configured origins; everything else only by this origin (the
    main page has admin controls, which must not be clickjacked).
    """

    def __init__(self, app, *, embed_origins: list[str]):
        self.app = app
        self.embed_ancestors = " ".join(["'self'", *embed_origins])

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope["path"].removeprefix(scope.get("root_path", "")) or "/"
        embed = path == "/embed" or path.startswith("/embed/")
        ancestors = self.embed_ancestors if embed else "'self'"

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["X-Content-Type-Options"] = "nosniff"
                headers["Referrer-Policy"] = "same-origin"
                headers["Content-Security-Policy"] = f"frame-ancestors {ancestors}"
                if ancestors == "'self'":  # for browsers that predate frame-ancestors
                    headers["X-Frame-Options"] = "SAMEORIGIN"
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _is_page_upload(scope) -> bool:
    """A multipart POST to the mounted pages: Gradio's /gradio_api/upload and its other file routes."""
    path = scope["path"].removeprefix(scope.get("root_path", ""))
    content_type = dict(scope["headers"]).get(b"content-type", b"").lower()
    return (scope["method"] == "POST" and not path.startswith("/api/")
            and content_type.startswith(b"multipart/form-data"))


def _refuse(status: int, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": {"status": status, "message": message}}, status,
                        headers={"Connection": "close", **(headers or {})})


class PageUploadMiddleware:
    """Gradio's own upload routes need the admin token too, and /embed has none at all.

    Gradio accepts files on every mounted page (`POST /gradio_api/upload`, `/embed/gradio_api/upload`)
    from anyone: 100 MB went in through /embed without a token. Here a page upload needs the admin
    token, as `Authorization: Bearer` or as the cookie `POST /api/admin/session` sets; /embed, which
    faces a wiki and has no file input, refuses them all.
    """

    def __init__(self, app, *, admin_token: str | None):
        self.app = app
        self.admin_token = admin_token

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not _is_page_upload(scope):
            return await self.app(scope, receive, send)
        path = scope["path"].removeprefix(scope.get("root_path", ""))
        if path == "/embed" or path.startswith("/embed/"):
            return await _refuse(404, "the embed page takes no uploads")(scope, receive, send)
        if self.admin_token is None:
            return await _refuse(403, "uploading is off on this server (no admin token)")(scope, receive, send)
        if not self._authorized(scope):
            return await _refuse(401, "uploading needs the admin token: enter it in the Collection tab, "
                                      "or send 'Authorization: Bearer <token>'",
                                 {"WWW-Authenticate": "Bearer"})(scope, receive, send)
        await self.app(scope, receive, send)

    def _authorized(self, scope) -> bool:
        assert self.admin_token is not None  # checked by the caller
        connection = HTTPConnection(scope)
        if sent_token(connection.headers, self.admin_token):
            return True
        cookie = connection.cookies.get(UPLOAD_COOKIE, "")
        return secrets.compare_digest(cookie.encode(), upload_cookie(self.admin_token).encode())


class BodyLimitMiddleware:
    """Refuse request bodies under /api, and uploads to the pages, beyond a limit (413).

    A declared Content-Length over the limit is refused before reading; otherwise the bytes are
    counted as they arrive, so a chunked body without a length is cut off too. A page upload may
    also hold at most MAX_UPLOAD_FILES files, counted by multipart boundaries as they arrive. (Starlette's
    own limiter answers in plain text, outside the one JSON error shape.)
    """

    def __init__(self, app, *, upload_mb: float):
        self.app = app
        self.upload_mb = upload_mb

    async def __call__(self, scope, receive, send):
        path = scope["path"].removeprefix(scope.get("root_path", "")) if scope["type"] == "http" else ""
        page_upload = bool(path) and _is_page_upload(scope)
        if not path.startswith("/api/") and not page_upload:
            return await self.app(scope, receive, send)
        if page_upload or (path == "/api/articles" and scope["method"] == "POST"):
            limit = int(self.upload_mb * MB) + MULTIPART_SLACK
            message = f"the upload is larger than {self.upload_mb:g} MB, this server's limit (ASSISTANT_MAX_UPLOAD_MB)"
        else:
            limit, message = JSON_BODY_LIMIT, f"the request body is larger than {JSON_BODY_LIMIT // MB} MB"
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            return await _refuse(413, message)(scope, receive, send)
        boundary = _boundary(scope) if page_upload else None
        received, parts, tail = 0, 0, b""

        async def counted():
            nonlocal received, parts, tail
            event = await receive()
            chunk = event.get("body", b"")
            received += len(chunk)
            if received > limit:
                raise HTTPException(413, message)  # FastAPI passes it on to the JSON error handler
            if boundary:
                window = tail + chunk
                parts += window.count(boundary)
                tail = window[-(len(boundary) - 1):]
                if parts > MAX_UPLOAD_FILES + 1:  # n parts have n + 1 boundaries
                    raise HTTPException(413, f"more than {MAX_UPLOAD_FILES} files in one upload")
            return event

        await self.app(scope, counted, send)


def _boundary(scope) -> bytes | None:
    """The multipart boundary of a request, as it appears between parts ('--' + boundary)."""
    content_type = dict(scope["headers"]).get(b"content-type", b"")
    match = re.search(rb'boundary="?([^";]+)', content_type)
    return b"--" + match.group(1) if match else None


class NotFoundPage:
    """A browser that asks for a path that is not here gets a small HTML page, not `{"detail":"Not Found"}`.

    Only GET requests that accept HTML, outside /api: API clients keep the one JSON error shape.
    The headers set inside (framing, nosniff) are kept; only the body and its type change.
    """

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        path = scope["path"].removeprefix(scope.get("root_path", "")) if scope["type"] == "http" else ""
        accept = dict(scope.get("headers", ())).get(b"accept", b"")
        if (scope["type"] != "http" or scope["method"] not in ("GET", "HEAD") or b"text/html" not in accept
                or path == "/api" or path.startswith("/api/")):
            return await self.app(scope, receive, send)
        replaced = False

        async def send_page(message):
            nonlocal replaced
            if message["type"] == "http.response.start" and message["status"] == 404:
                headers = MutableHeaders(scope=message)
                if headers.get("content-type", "").startswith("application/json"):
                    replaced = True
                    home = "../" * (path.count("/") - 1) or "./"
                    body = html.not_found_page(f"There is no page at {path}.", home=home).encode()
                    headers["content-type"] = "text/html; charset=utf-8"
                    headers["content-length"] = str(len(body))
                    await send(message)
                    await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})
                    return
            if not replaced:
                await send(message)

        await self.app(scope, receive, send_page)
