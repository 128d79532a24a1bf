"""The HTTP server: the JSON API under /api, with the chat UI mounted on the same app.

    /            chat and collection (Gradio, `assistant.ui`)
    /embed/      the chat alone, for an iframe in a wiki
    /api/...     ask, search, articles, feedback, health (JSON; admin routes need `Authorization: Bearer`)
    /docs        OpenAPI

Every error is one JSON shape, `{"error": {"status": 404, "message": "..."}}`, with the message of
the `AssistantError` behind it. Who may frame `/embed` or call the API from another origin is the
`embed_origins` setting; by default nobody but this origin.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import math
import os
import re
import secrets
import sys
from collections.abc import Callable
from typing import Any, Literal

import anyio
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders, UploadFile
from starlette.exceptions import HTTPException
from starlette.routing import Match

from assistant import __version__
from assistant.config import Settings
from assistant.errors import (
    AssistantError, IndexLocked, IndexMismatch, IndexNotBuilt, InputError, LLMError, NotFound, without_paths,
)
from assistant.feedback import Feedback
from assistant.limits import RateLimiter
from assistant.service import Assistant
from assistant.sources import MAX_UPLOAD_FILES, SUPPORTED_SUFFIXES
from assistant.types import Answer, Citation, Turn

log = logging.getLogger(__name__)

# First match wins, so subclasses come before AssistantError.
STATUS = (
    (IndexNotBuilt, 503), (IndexMismatch, 503), (IndexLocked, 409), (NotFound, 404),
    (InputError, 400), (LLMError, 502), (AssistantError, 400),
)
MB = 1024 * 1024
JSON_BODY_LIMIT = MB  # a question is at most 2000 characters; 1 MB leaves room for long histories
MULTIPART_SLACK = 16 * 1024  # part headers and boundaries: about 200 bytes a file, up to 20 files
# The cookie that lets the page's own upload requests (Gradio's /gradio_api/upload, which a
# browser sends without our Authorization header) prove the admin token.
UPLOAD_COOKIE = "assistant_admin"
_ORIGIN = re.compile(r"https?://[A-Za-z0-9.-]+(:\d{1,5})?")
_UNSAFE_NAME = re.compile(r"[/\\\x00-\x1f]|^\.|\.\.")


# ── schemas (the trust boundary) ────────────────────────────────────────────────────────────


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TurnIn(_In):
    question: str = Field(max_length=2000)
    answer: str = Field("", max_length=20_000)


class AskIn(_In):
    question: str = Field(min_length=1, max_length=2000, examples=["who is Alexander Golts?"])
    history: list[TurnIn] = Field([], max_length=50, description="earlier turns, oldest first, for follow-ups")
    # Strict: "3", 3.0 and true are refused, not read as 3 (or 1); "yes" is not true.
    top_k: StrictInt | None = Field(None, ge=1, le=50, description="passages to retrieve (default: the server's top_k)")
    stream: StrictBool = Field(False, description="answer as server-sent events: `token` pieces, then one `answer`")


class SearchIn(_In):
    query: str = Field(min_length=1, max_length=2000, examples=["Russian volunteers in Syria"])
    top_k: StrictInt | None = Field(None, ge=1, le=50)


class UrlIn(_In):
    url: str = Field(pattern=r"^https?://\S+$", max_length=2000, examples=["https://example.com/article.html"])


class PassageOut(BaseModel):
    rank: int
    article_id: str
    chunk_id: str
    title: str
    url: str | None
    text: str
    start: int
    end: int
    score: float


class AnswerOut(BaseModel):
    id: Any = None
    question: str
    answer: str
    abstained: bool
    citations: list[Citation]  # the dataclass itself: one definition of a citation
    passages: list[PassageOut]
    timing_ms: dict[str, float]
    unsupported: list[str] = []
    note: str | None = None


class SearchOut(BaseModel):
    query: str
    passages: list[PassageOut]


class ArticleOut(BaseModel):
    id: str
    title: str
    url: str | None
    chunks: int


class ReportOut(BaseModel):
    added: int
    updated: int
    unchanged: int
    failed: int
    removed: int
    chunks: int
    total_chunks: int
    seconds: float
    errors: list[str]


class FeedbackIn(_In):
    vote: Literal["up", "down"]
    comment: str = Field("", max_length=2000)
    question: str = Field(min_length=1, max_length=2000)
    answer: str = Field(max_length=20_000)
    citations: list[Citation] = Field([], max_length=50)


class HealthOut(BaseModel):
    status: str
    version: str
    articles: int
    chunks: int
    admin: bool
    index: dict[str, Any]


class ErrorBody(BaseModel):
    status: int
    message: str


class ErrorOut(BaseModel):
    error: ErrorBody


def _errors(*codes: int) -> dict:
    return {code: {"model": ErrorOut} for code in codes}


# ── the app ─────────────────────────────────────────────────────────────────────────────────


def create_app(assistant: Assistant, *, admin_token: str | None = None, ui: bool = True) -> FastAPI:
    """The API, with the chat at / and /embed unless `ui` is False.

    Args:
        assistant: the one service every route calls.
        admin_token: enables POST/DELETE /api/articles, GET /api/feedback and the UI's upload
            panel; None = the `admin_token` setting (ASSISTANT_ADMIN_TOKEN), which unset is off.
        ui: mount the Gradio pages (tests of the API alone skip the second it takes).
    """
    settings = assistant.settings
    if admin_token is None and settings.admin_token is not None:
        admin_token = settings.admin_token.get_secret_value() or None
    origins = _checked_origins(settings.embed_origins)
    app = FastAPI(
        title="Article assistant",
        version=__version__,
        description="Ask questions about the indexed articles; every answer cites the sentences it comes from.",
        docs_url=None,  # served below from local files: FastAPI's default page loads Swagger UI from a CDN
        lifespan=_say_whether_admin_is_on,  # at start-up, whatever starts it: serve, app.py, `uvicorn app:app`
    )
    _add_offline_docs(app)
    app.add_middleware(BodyLimitMiddleware, upload_mb=settings.max_upload_mb)
    app.add_middleware(PageUploadMiddleware, admin_token=admin_token)
    app.add_middleware(EdgeMiddleware, embed_origins=origins)
    # Gradio adds no CORS headers of its own when the parent app has this middleware.
    app.add_middleware(
        CORSMiddleware, allow_origins=origins, allow_methods=["GET", "POST", "DELETE"],
        allow_headers=["*"],  # Gradio's web component sends headers of its own
    )
    # Only the admin sees where the index lives in an error ("no index at /srv/qa/index"); anyone else its name.
    _add_error_handlers(app, lambda request, message: message if _sent_token(request.headers, admin_token)
                        else without_paths(message, assistant.index.root))
    app.state.admin = admin_token is not None  # for the start-up line that says so
    admin = _admin_dependency(admin_token)
    # Answering is CPU-bound (the query embedding above all): more at once than cores only adds
    # contention. With 16 clients on 2 cores this raised throughput 7% and cut p95 latency 16%.
    cpu = anyio.CapacityLimiter(os.cpu_count() or 1)
    limiter = RateLimiter(settings.rate_limit, settings.rate_limit_burst)

    def rate_limit(what: str):
        """A dependency spending one of the client's tokens (shared by questions and votes), else 429."""
        def limited(request: Request) -> None:
            wait = math.ceil(limiter.wait(request.client.host if request.client else ""))  # never too early
            if wait:
                raise HTTPException(429, f"too many {what} from this address; try again in {wait} s "
                                         "(ASSISTANT_RATE_LIMIT)", headers={"Retry-After": str(wait)})
        return limited

    rate_limited = rate_limit("questions")

    async def answering(function, *args) -> Any:
        """Run a question on a worker thread; 503 past the request timeout (the thread finishes alone)."""
        timeout = settings.request_timeout
        with anyio.move_on_after(timeout) as scope:
            return await anyio.to_thread.run_sync(function, *args, limiter=cpu, abandon_on_cancel=True)
        if scope.cancelled_caught:
            raise HTTPException(503, f"the answer took longer than {timeout:g} s (ASSISTANT_REQUEST_TIMEOUT); "
                                     "try again, or ask a narrower question")

    @app.post("/api/ask", response_model=AnswerOut, responses=_errors(400, 413, 429, 503), tags=["answers"],
              dependencies=[Depends(rate_limited)])
    async def ask(body: AskIn) -> Any:
        """A cited answer, or `abstained: true` with related passages.

        Pass the earlier turns of a conversation as `history` so follow-up questions resolve.
        With `"stream": true` the reply is `text/event-stream`: `event: token` with `{"text"}` as
        the answer is produced, then one `event: answer` with the Answer JSON, whose `answer`
        replaces the streamed text (citations may be renumbered or dropped when verified).
        """
        history = [Turn(t.question, t.answer) for t in body.history]
        if not body.stream:
            answer = await answering(assistant.ask, body.question, history, body.top_k)
            return answer.to_dict()
        pieces = assistant.stream(body.question, history, body.top_k)
        # Take the first piece before answering 200, so a bad question or a missing index gets
        # its proper status and the one error shape rather than a broken stream.
        first = await answering(next, pieces)
        return StreamingResponse(_events(first, pieces), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    @app.post("/api/search", response_model=SearchOut, responses=_errors(400, 413, 429, 503), tags=["answers"],
              dependencies=[Depends(rate_limited)])
    async def search(body: SearchIn) -> dict:
        """Passages for a query, best first (no answer)."""
        passages = await answering(assistant.search, body.query, body.top_k)
        return {"query": body.query, "passages": [p.to_dict() for p in passages]}

    @app.get("/api/articles", response_model=list[ArticleOut], responses=_errors(503), tags=["collection"])
    def articles() -> list[dict]:
        """Every indexed article: id, title, url, number of chunks."""
        return assistant.articles()

    @app.post(
        "/api/articles", response_model=ReportOut, dependencies=[Depends(admin)], tags=["collection"],
        responses=_errors(400, 401, 403, 409, 413, 415),
        openapi_extra={"requestBody": {"required": True, "content": {
            "multipart/form-data": {"schema": {"type": "object", "properties": {
                "file": {"type": "array", "items": {"type": "string", "format": "binary"}}}}},
            "application/json": {"schema": UrlIn.model_json_schema()},
        }}},
    )
    async def add_articles(request: Request) -> dict:
        """Ingest uploaded files (multipart field `file`, repeatable) or a URL (`{"url": ...}`).

        Unreadable inputs are listed in `errors`; when nothing at all could be read the answer is 400.
        """
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type == "multipart/form-data":
            report = await run_in_threadpool(assistant.add, await _uploads(request))
        elif media_type == "application/json":
            try:
                body = UrlIn.model_validate_json(await request.body())
            except ValidationError as exc:
                raise HTTPException(400, _describe(exc.errors())) from None
            report = await run_in_threadpool(assistant.add, (), body.url)
        else:
            got = media_type or "no content type"
            raise HTTPException(415, f"send multipart/form-data with files, or JSON {{\"url\": ...}}; got '{got}'")
        return report.to_dict()

    @app.post("/api/admin/session", status_code=204, dependencies=[Depends(admin)], tags=["collection"],
              responses=_errors(401, 403))
    def admin_session(request: Request) -> Response:
        """Let this browser upload files through the page: sets an HttpOnly, SameSite=Strict cookie."""
        response = Response(status_code=204)
        response.set_cookie(UPLOAD_COOKIE, upload_cookie(admin_token), httponly=True, samesite="strict",
                            path=(request.scope.get("root_path", "") or "") + "/")
        return response

    @app.delete("/api/articles/{article_id:path}", response_model=ReportOut, dependencies=[Depends(admin)],
                responses=_errors(401, 403, 404, 409), tags=["collection"])
    def remove_article(article_id: str) -> dict:
        """Remove one article and its chunks."""
        return assistant.remove([article_id]).to_dict()

    # Votes spend the same tokens as questions: a script posting votes in a loop fills the store's disk.
    @app.post("/api/feedback", status_code=201, response_model=Feedback, responses=_errors(400, 413, 429),
              tags=["feedback"], dependencies=[Depends(rate_limit("votes"))])
    def add_feedback(body: FeedbackIn) -> dict:
        """A reader's vote on an answer (what the chat's Helpful / Not helpful buttons send)."""
        return assistant.feedback(body.vote, body.question, body.answer,
                                  [c.to_dict() for c in body.citations], body.comment).to_dict()

    @app.get("/api/feedback", response_model=list[Feedback], dependencies=[Depends(admin)],
             responses=_errors(401, 403), tags=["feedback"])
    def list_feedback() -> list[dict]:
        """Every vote, newest first, with the question, answer, citations and index version (admin)."""
        return [entry.to_dict() for entry in assistant.feedback_entries()]

    @app.get("/api/health", response_model=HealthOut, responses=_errors(503), tags=["service"])
    def health() -> dict:
        """Ready when the index loads: its manifest, counts and the server version."""
        assistant.retriever()  # loads and checks the index as a question does: the same 503 if it cannot
        info = assistant.info()
        info.pop("index")  # the absolute path on the server's disk is nobody's business anonymously
        return {"status": "ok", "version": __version__, "articles": info["articles"], "chunks": info["chunks"],
                "admin": admin_token is not None, "index": info}

    @app.api_route("/api/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
    def no_such_endpoint(request: Request) -> None:
        """Keep unknown /api paths out of the chat app mounted at /, so they get the JSON error shape."""
        allowed = sorted({
            method for route in app.router.routes if route is not no_such_route
            for method in getattr(route, "methods", ()) if route.matches(request.scope)[0] is Match.PARTIAL
        })
        if allowed:
            raise HTTPException(405, f"{request.method} is not allowed here; use {', '.join(allowed)}",
                                headers={"Allow": ", ".join(allowed)})
        raise HTTPException(404, f"no endpoint {request.url.path}; see /docs for the API")

    no_such_route = app.router.routes[-1]
    if ui:
        from assistant import ui as chat_ui

        chat_ui.mount(app, assistant, admin_token=admin_token, limiter=limiter)
    return app


def serve(settings: Settings, *, host: str = "127.0.0.1", port: int = 7860, root_path: str = "",
          admin_token_env: str | None = None) -> None:
    """Build the assistant and the app, load the index and model, and serve until interrupted.

    The admin token is the `admin_token` setting (ASSISTANT_ADMIN_TOKEN), or the variable that
    `admin_token_env` names.
    """
    token = None
    if admin_token_env:
        token = os.environ.get(admin_token_env) or None
        if token is None:
            print(f"${admin_token_env} is not set; falling back to ASSISTANT_ADMIN_TOKEN", file=sys.stderr)
    assistant = Assistant(settings)
    run(create_app(assistant, admin_token=token), assistant, host=host, port=port, root_path=root_path)


def run(app: FastAPI, assistant: Assistant, *, host: str, port: int, root_path: str = "") -> None:
    """Warm the model and index (so the first question is not the slow one), then run uvicorn."""
    import uvicorn

    try:
        assistant.search("warm up", 1)
    except AssistantError as exc:  # serve anyway: /api/health and the UI say what is wrong
        log.warning("%s", exc)
    uvicorn.run(app, host=host, port=port, root_path=root_path.rstrip("/"), log_level="info")


@contextlib.asynccontextmanager
async def _say_whether_admin_is_on(app: FastAPI):
    """The one start-up line saying whether admin is on, printed by every entry point (the app's lifespan)."""
    print("admin: on (adding and removing articles, and reading feedback, need the admin token)"
          if app.state.admin else
          "admin: off (set ASSISTANT_ADMIN_TOKEN to turn on adding and removing articles)", file=sys.stderr, flush=True)
    yield


# ── edges: auth, errors, headers, body limits ───────────────────────────────────────────────


def _admin_dependency(admin_token: str | None):
    bearer = HTTPBearer(auto_error=False, description="the admin token: the server's ASSISTANT_ADMIN_TOKEN "
                                                      "(or the variable `assistant serve --admin-token-env` names)")

    def admin(credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
        if admin_token is None:
            raise HTTPException(403, "admin is off on this server; to turn it on, start it (`make run`, "
                                     "`python app.py` or `assistant serve`) with a token in $ASSISTANT_ADMIN_TOKEN")
        if credentials is None:
            raise HTTPException(401, "this endpoint needs the admin token: send 'Authorization: Bearer <token>'",
                                headers={"WWW-Authenticate": "Bearer"})
        if not secrets.compare_digest(credentials.credentials.encode(), admin_token.encode()):
            raise HTTPException(403, "wrong admin token")

    return admin


def _sent_token(headers, admin_token: str | None) -> bool:
    """Whether a request carries `Authorization: Bearer <the admin token>` (constant-time compare)."""
    bearer = headers.get("authorization", "")
    return (admin_token is not None and bearer[:7].lower() == "bearer "
            and secrets.compare_digest(bearer[7:].strip().encode(), admin_token.encode()))


def upload_cookie(admin_token: str) -> str:
    """The upload cookie's value: derived from the token, so the token itself never sits in a cookie."""
    return hmac.new(admin_token.encode(), b"assistant page upload", hashlib.sha256).hexdigest()


async def _uploads(request: Request) -> list[tuple[str, bytes]]:
    """The uploaded files as (name, bytes); refuses unsafe names and unknown types."""
    form = await request.form(max_files=MAX_UPLOAD_FILES, max_fields=5)
    files = [v for _, v in form.multi_items() if isinstance(v, UploadFile)]
    if not files:
        raise HTTPException(400, "no file in the upload; send one or more files in the multipart field 'file'")
    named = []
    for upload in files:
        name = upload.filename or ""
        if not name or _UNSAFE_NAME.search(name):
            raise HTTPException(400, f"file name {name!r} is not a plain file name; send the name without folders")
        suffix = os.path.splitext(name)[1].lower()
        if suffix not in SUPPORTED_SUFFIXES:
            raise HTTPException(415, f"{name}: unsupported file type '{suffix or 'none'}' "
                                     f"(supported: {', '.join(sorted(SUPPORTED_SUFFIXES))})")
        named.append((name, await upload.read()))
    await form.close()
    return named


def _add_offline_docs(app: FastAPI) -> None:
    """OpenAPI at /docs with Swagger UI's files from the fastapi-offline package, so it works offline.

    Only its static files are used (Swagger UI 5, which reads FastAPI's OpenAPI 3.1).
    """
    from pathlib import Path

    import fastapi_offline
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.staticfiles import StaticFiles

    static = Path(fastapi_offline.__file__).parent / "static"
    app.mount("/docs/static", StaticFiles(directory=str(static)), name="swagger-ui")

    @app.get("/docs", include_in_schema=False)
    def docs(request: Request) -> Any:
        root = request.scope.get("root_path", "").rstrip("/")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}", title=f"{app.title} API",
            swagger_js_url=f"{root}/docs/static/swagger-ui-bundle.js",
            swagger_css_url=f"{root}/docs/static/swagger-ui.css",
            swagger_favicon_url=f"{root}/docs/static/favicon.png",
        )


def _add_error_handlers(app: FastAPI, shown: Callable[[Request, str], str]) -> None:
    """One JSON error shape; `shown(request, message)` is what this caller may read of an AssistantError."""

    def error(status: int, message: str, headers: dict | None = None) -> JSONResponse:
        return JSONResponse({"error": {"status": status, "message": message}}, status, headers=headers)

    @app.exception_handler(AssistantError)
    async def assistant_error(request: Request, exc: AssistantError) -> JSONResponse:
        return error(next(code for kind, code in STATUS if isinstance(exc, kind)), shown(request, str(exc)))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return error(exc.status_code, str(exc.detail), exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error(400, _describe(exc.errors()))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error in %s %s", request.method, request.url.path)
        return error(500, f"internal error ({type(exc).__name__}); the server log has the details")


def _describe(errors: list[dict]) -> str:
    """Pydantic's errors as one line: "question: String should have at least 1 character"."""
    parts = []
    for e in errors:
        where = ".".join(str(p) for p in e.get("loc", ()) if p != "body")
        parts.append(f"{where}: {e.get('msg', 'invalid')}" if where else str(e.get("msg", "invalid")))
    return "; ".join(parts) or "invalid request"


def _checked_origins(origins: list[str]) -> list[str]:
    """Origins as they go into a CSP header; anything else could smuggle in a directive."""
    for origin in origins:
        if not _ORIGIN.fullmatch(origin):
            raise AssistantError(
                f"embed origin {origin!r} is not an origin like https://wiki.example.com (scheme, host, "
                "optional port; no path); fix ASSISTANT_EMBED_ORIGINS"
            )
    return [o.rstrip("/") for o in origins]


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
        from starlette.requests import HTTPConnection

        connection = HTTPConnection(scope)
        if _sent_token(connection.headers, self.admin_token):
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


def _events(first: str | Answer, rest) -> Any:
    """Server-sent events for a streamed answer: `token` pieces, then the final `answer`."""

    def event(item: str | Answer) -> str:
        if isinstance(item, Answer):
            return f"event: answer\ndata: {json.dumps(item.to_dict(), ensure_ascii=False)}\n\n"
        return f"event: token\ndata: {json.dumps({'text': item}, ensure_ascii=False)}\n\n"

    yield event(first)
    try:
        for item in rest:
            yield event(item)
    except AssistantError as exc:  # after the 200 is sent, an error can only be an event
        yield f"event: error\ndata: {json.dumps({'error': {'status': 500, 'message': str(exc)}})}\n\n"
