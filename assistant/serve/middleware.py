"""The ASGI middleware around the API and the pages: headers, one parsing rule, body limits, 404 pages.

Middleware, not routes, because it must also cover what Gradio mounts: its routes take bodies of
any size, and its 404s are JSON. Each class wraps the whole app once: `api.create_app` adds the
first three, `ui.mount` the 404 page (only the pages need it); what may reach Gradio at all is
`gradio_guard`'s. `AdminToken` is the admin token with its limit on wrong guesses, shared by both.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import secrets
import time
from collections.abc import Callable

from fastapi.responses import JSONResponse
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection

from assistant.limits import ADMIN_GUESSES, JSON_BODY_LIMIT, MAX_UPLOAD_FILES, MB, MULTIPART_SLACK, RateLimiter
from assistant.serve import html

# The cookie that lets the page's own upload requests (Gradio's /gradio_api/upload, which a
# browser sends without our Authorization header) prove the admin token.
UPLOAD_COOKIE = "assistant_admin"
# Headers two layers could read differently when sent twice (the guard one, Gradio the other).
SINGLE_HEADERS = (b"content-type", b"content-length", b"transfer-encoding")


# The ASGI scope key `TrustedProxies` sets to the proxy's address when a request came through one:
# identity headers are believed only then (serve/access.py).
PROXY = "assistant.proxy"


def client_of(scope) -> str:
    """The client's address as the server saw it (a trusted proxy's X-Forwarded-For only; see `TrustedProxies`)."""
    client = scope.get("client")
    return str(client[0]) if client else ""


class TrustedProxies:
    """X-Forwarded-For and -Proto believed from the configured proxy addresses only, and the proxy
    noted in the scope (`PROXY`).

    Done here rather than by uvicorn's `--proxy-headers`, which replaces the client's address and
    so forgets that the request came through the proxy: identity headers need both, the client's
    address for the rate limits and the proxy's to be believed at all. The client is the rightmost
    address of X-Forwarded-For that is not itself a trusted proxy (a client can prepend any address
    it likes, not append one).
    """

    def __init__(self, app, *, proxies: list[str]):
        self.app = app
        self.proxies = frozenset(proxies)

    async def __call__(self, scope, receive, send):
        peer = client_of(scope)
        if scope["type"] not in ("http", "websocket") or peer not in self.proxies:
            return await self.app(scope, receive, send)
        scope = dict(scope)
        scope[PROXY] = peer
        headers = [(name.lower(), value.decode("latin-1")) for name, value in scope["headers"]]
        hops = [h.strip() for name, value in headers if name == b"x-forwarded-for"
                for h in value.split(",") if h.strip()]
        client = next((h for h in reversed(hops) if h not in self.proxies), hops[0] if hops else None)
        if client:
            scope["client"] = (client, 0)
        proto = next((v.strip() for name, v in headers if name == b"x-forwarded-proto"), None)
        if proto in ("http", "https"):
            scope["scheme"] = proto if scope["type"] == "http" else proto.replace("http", "ws")
        await self.app(scope, receive, send)


def sent_token(headers, admin_token: str | None) -> bool:
    """Whether a request carries `Authorization: Bearer <the admin token>` (constant-time compare)."""
    bearer = headers.get("authorization", "")
    return (admin_token is not None and bearer[:7].lower() == "bearer "
            and secrets.compare_digest(bearer[7:].strip().encode(), admin_token.encode()))


def upload_cookie(admin_token: str) -> str:
    """The upload cookie's value: derived from the token, so the token itself never sits in a cookie."""
    return hmac.new(admin_token.encode(), b"assistant page upload", hashlib.sha256).hexdigest()


class AdminToken:
    """The admin token, and how many wrong guesses each client has left.

    A wrong token costs the client one of ADMIN_GUESSES tries a minute; past them every admin
    request from it, right token or not, is 429 until a try comes back, so guessing runs at 10 a
    minute rather than a thousand a second. Shared by the API, the pages' uploads and the admin panel.
    """

    def __init__(self, token: str | None, clock: Callable[[], float] = time.monotonic):
        self.token = token
        self._failures = RateLimiter(ADMIN_GUESSES, ADMIN_GUESSES, clock)

    def lockout(self, client: str) -> tuple[int, str] | None:
        """(seconds, why) while `client` has guessed wrong too often; None while it may try."""
        wait = math.ceil(self._failures.waiting(client))
        return (wait, f"too many wrong admin tokens from this address; try again in {wait} s") if wait else None

    def check(self, given: str, client: str) -> bool:
        """Whether `given` is the token (constant time); a wrong one counts against `client`."""
        return self.token is not None and self._counted(given, self.token, client)

    def proven(self, scope, client: str) -> bool:
        """Whether a request proves the token, as `Authorization: Bearer` or the upload cookie."""
        if self.token is None:
            return False
        connection = HTTPConnection(scope)
        bearer = connection.headers.get("authorization", "")
        if bearer[:7].lower() == "bearer ":
            return self.check(bearer[7:].strip(), client)
        cookie = connection.cookies.get(UPLOAD_COOKIE)
        return cookie is not None and self._counted(cookie, upload_cookie(self.token), client)

    def _counted(self, given: str, expected: str, client: str) -> bool:
        right = secrets.compare_digest(given.encode(), expected.encode())
        if not right:
            self._failures.wait(client)
        return right


def refuse(status: int, message: str, headers: dict | None = None) -> JSONResponse:
    """The one JSON error shape, from middleware (before any route runs)."""
    return JSONResponse({"error": {"status": status, "message": message}}, status,
                        headers={"Connection": "close", **(headers or {})})


class SingleHeaders:
    """Refuse a request with two Content-Type, Content-Length or Transfer-Encoding headers (400).

    The one parsing rule for every layer: with two Content-Type headers the upload guard read the
    last ("text/plain") while Gradio read the first (multipart), and an anonymous upload went in.
    """

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            names = [name.lower() for name, _ in scope["headers"]]
            for name in SINGLE_HEADERS:
                if names.count(name) > 1:
                    message = f"the request has {names.count(name)} {name.decode().title()} headers; send one"
                    return await refuse(400, message)(scope, receive, send)
        await self.app(scope, receive, send)


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


def is_upload(scope) -> bool:
    """A file upload: to /api/articles, or to a page's Gradio upload route (whatever its Content-Type says)."""
    path = scope["path"].removeprefix(scope.get("root_path", ""))
    return scope["method"] == "POST" and (path == "/api/articles" or path.endswith("/gradio_api/upload"))


class BodyLimitMiddleware:
    """Refuse request bodies beyond a limit (413), on every route: the API, the pages, Gradio's own.

    Uploads get the upload limit; anything else JSON_BODY_LIMIT (a question, a vote, a page's
    event), so a 50 MB body to Gradio's /cancel is refused before it is parsed (it was echoed three
    times in a 422). A declared Content-Length over the limit is refused before reading; otherwise
    the bytes are counted as they arrive, so a chunked body without a length is cut off too. A page
    upload may also hold at most MAX_UPLOAD_FILES files, counted by multipart boundaries as they
    arrive. (Starlette's own limiter answers in plain text, outside the one JSON error shape.)
    """

    def __init__(self, app, *, upload_mb: float):
        self.app = app
        self.upload_mb = upload_mb

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        upload = is_upload(scope)
        if upload:
            limit = int(self.upload_mb * MB) + MULTIPART_SLACK
            message = f"the upload is larger than {self.upload_mb:g} MB, this server's limit (ASSISTANT_MAX_UPLOAD_MB)"
        else:
            limit, message = JSON_BODY_LIMIT, f"the request body is larger than {JSON_BODY_LIMIT // MB} MB"
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            return await refuse(413, message)(scope, receive, send)
        boundary = _boundary(scope) if upload else None
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
