"""The HTTP server: the JSON API under /api, with the chat UI mounted on the same app.

    /            chat and collection (Gradio, `assistant.serve.ui`)
    /embed/      the chat alone, for an iframe in a wiki
    /api/...     ask, search, articles, feedback, health (JSON; admin routes need `Authorization: Bearer`)
    /docs        OpenAPI

The routes live on one `APIRouter`; what they share (the assistant, the admin token, the rate
limiter) is a `Server` that `create_app` puts in `app.state` and dependencies hand to each route.
Every error is one JSON shape, `{"error": {"status": 404, "message": "..."}}`, with the message of
the `AssistantError` behind it. Who may frame `/embed` or call the API from another origin is the
`embed_origins` setting; by default nobody but this origin.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import math
import os
import re
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.routing import Match

from assistant import __version__
from assistant.config import Settings
from assistant.errors import (
    AssistantError, IndexLocked, IndexMismatch, IndexNotBuilt, LLMError, NotAuthorized, NotFound, without_paths,
)
from assistant.ingest.parsers import SUPPORTED_SUFFIXES
from assistant.limits import MAX_QUESTION_CHARS, MAX_UPLOAD_FILES, RateLimiter
from assistant.serve.access import Access, Reader
from assistant.serve.middleware import (
    UPLOAD_COOKIE, AdminToken, BodyLimitMiddleware, EdgeMiddleware, SingleHeaders, TrustedProxies, client_of,
    sent_token, upload_cookie,
)
from assistant.serve.gradio_guard import remove_upload_folder
from assistant.serve.schemas import (
    AnswerOut, ArticleOut, AskIn, EntityOut, FeedbackIn, HealthOut, ProfileOut, ReportOut, RunOut, SearchIn, SearchOut,
    SourceIn, SourceOut, UrlIn, errors,
)
from assistant.service import Assistant
from assistant.store.feedback import Feedback
from assistant.types import Answer, Turn

log = logging.getLogger(__name__)

# First match wins, so subclasses come before AssistantError.
STATUS = (
    (IndexNotBuilt, 503), (IndexMismatch, 503), (IndexLocked, 409), (NotFound, 404), (NotAuthorized, 401),
    (LLMError, 502), (AssistantError, 400),
)
_ORIGIN = re.compile(r"https?://[A-Za-z0-9.-]+(:\d{1,5})?")
_UNSAFE_NAME = re.compile(r"[/\\\x00-\x1f]|^\.|\.\.")


# ── what the routes share, and the dependencies that hand it to them ────────────────────────


@dataclass(frozen=True)
class Server:
    """One app's collaborators, built by `create_app` and kept in `app.state.server`."""

    assistant: Assistant
    admin: AdminToken  # its token None: admin is off
    access: Access  # who may read which collection (serve/access.py)
    limiter: RateLimiter
    # Answering is CPU-bound (the query embedding above all): more at once than cores only adds
    # contention. With 16 clients on 2 cores this raised throughput 7% and cut p95 latency 16%.
    cpu: anyio.CapacityLimiter


def server(request: Request) -> Server:
    return request.app.state.server


ServerDep = Annotated[Server, Depends(server)]
_BEARER = HTTPBearer(auto_error=False, description="the admin token: the server's ASSISTANT_ADMIN_TOKEN "
                                                   "(or the variable `assistant serve --admin-token-env` names)")


def admin(request: Request, server: ServerDep,
          credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)]) -> None:
    """Only for whoever sends `Authorization: Bearer <the admin token>`: else 401, 403 with admin off
    or a wrong token, and 429 once a client has guessed wrong too often (middleware.AdminToken)."""
    if server.admin.token is None:
        raise HTTPException(403, "admin is off on this server; to turn it on, start it (`make run`, "
                                 "`python app.py` or `assistant serve`) with a token in $ASSISTANT_ADMIN_TOKEN")
    client = client_of(request.scope)
    if locked := server.admin.lockout(client):
        raise HTTPException(429, locked[1], headers={"Retry-After": str(locked[0])})
    if credentials is None:
        raise HTTPException(401, "this endpoint needs the admin token: send 'Authorization: Bearer <token>'",
                            headers={"WWW-Authenticate": "Bearer"})
    if not server.admin.check(credentials.credentials, client):
        raise HTTPException(403, "wrong admin token")


def reader(request: Request, server: ServerDep) -> Reader:
    """Who asks (serve/access.py): 401 for a read token that is unknown, revoked or expired."""
    return server.access.reader(request.scope)


ReaderDep = Annotated[Reader, Depends(reader)]


class RateLimited:
    """A dependency spending one of the client's tokens (shared by questions and votes), else 429."""

    def __init__(self, what: str):
        self.what = what

    def __call__(self, request: Request, server: ServerDep) -> None:
        wait = math.ceil(server.limiter.wait(client_of(request.scope)))  # never too early
        if wait:
            raise HTTPException(429, f"too many {self.what} from this address; try again in {wait} s "
                                     "(ASSISTANT_RATE_LIMIT)", headers={"Retry-After": str(wait)})


async def answering(server: Server, function: Callable[..., Any], *args: Any) -> Any:
    """Run a question on a worker thread; 503 past the request timeout (the thread finishes alone)."""
    timeout = server.assistant.settings.request_timeout
    with anyio.move_on_after(timeout) as scope:
        return await anyio.to_thread.run_sync(function, *args, limiter=server.cpu, abandon_on_cancel=True)
    if scope.cancelled_caught:
        raise HTTPException(503, f"the answer took longer than {timeout:g} s (ASSISTANT_REQUEST_TIMEOUT); "
                                 "try again, or ask a narrower question")


async def _cancelled_if_gone(request: Request, function: Callable[..., Any], *args: Any) -> Any:
    """`function(*args, cancel=event)` on a worker thread, `event` set if the client hangs up.

    uvicorn lets a route run on after its client has gone; a URL fetch would go on for the rest of
    its deadline, and its ingest after it, for nobody.
    """
    cancel = threading.Event()

    async def watch() -> None:
        while not await request.is_disconnected():
            await anyio.sleep(0.2)
        cancel.set()

    result: Any = None
    failure: Exception | None = None
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(watch)
        try:
            result = await run_in_threadpool(function, *args, cancel=cancel)
        except Exception as exc:  # noqa: BLE001 - raised below, outside the group, which would wrap it
            failure = exc
        tasks.cancel_scope.cancel()
    if failure is not None:
        raise failure
    return result


# ── routes ──────────────────────────────────────────────────────────────────────────────────

router = APIRouter(prefix="/api")
QUESTIONS = Depends(RateLimited("questions"))


@router.post("/ask", response_model=AnswerOut, responses=errors(400, 413, 429, 503), tags=["answers"],
             dependencies=[QUESTIONS])
async def ask(body: AskIn, server: ServerDep, who: ReaderDep) -> Any:
    """A cited answer, or `abstained: true` with related passages.

    Pass the earlier turns of a conversation as `history` so follow-up questions resolve.
    With `"stream": true` the reply is `text/event-stream`: `event: token` with `{"text"}` as
    the answer is produced, then one `event: answer` with the Answer JSON, whose `answer`
    replaces the streamed text (with the offline answer, when the model's reply cannot be used).
    An LLM's answer streams sentence by sentence, each once verified: no token carries text that
    the answer drops.
    """
    assistant = server.assistant
    history = [Turn(t.question, t.answer) for t in body.history]
    scope = assistant.scope(who.granted, body.collection)
    if not body.stream:
        answer = await answering(server, assistant.ask, body.question, history, body.top_k, scope)
        return answer.to_dict()
    pieces = assistant.stream(body.question, history, body.top_k, scope)
    # Take the first piece before answering 200, so a bad question or a missing index gets
    # its proper status and the one error shape rather than a broken stream.
    first = await answering(server, next, pieces)
    return StreamingResponse(_events(first, pieces), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


@router.post("/search", response_model=SearchOut, responses=errors(400, 413, 429, 503), tags=["answers"],
             dependencies=[QUESTIONS])
async def search(body: SearchIn, server: ServerDep, who: ReaderDep) -> dict:
    """Passages for a query, best first (no answer), from the collections the caller may read."""
    scope = server.assistant.scope(who.granted, body.collection)
    passages = await answering(server, server.assistant.search, body.query, body.top_k, scope)
    return {"query": body.query, "passages": [p.to_dict() for p in passages]}


@router.get("/articles", response_model=list[ArticleOut], responses=errors(503), tags=["collection"])
def articles(server: ServerDep, who: ReaderDep) -> list[dict]:
    """Every article the caller may read: id, title, url, number of chunks, collections."""
    return server.assistant.articles(server.assistant.scope(who.granted))


@router.get("/entities", response_model=list[EntityOut],  # type: ignore[valid-type]
            responses=errors(400, 422, 503), tags=["collection"])
def entities(server: ServerDep, who: ReaderDep,
             q: Annotated[str, Query(min_length=1, max_length=MAX_QUESTION_CHARS)]) -> list[dict]:
    """People and organisations whose name holds `q`, most mentioned first, counted over the articles
    the caller may read: id, name, kind, articles."""
    return [e.to_dict() for e in server.assistant.entities(q, server.assistant.scope(who.granted))]


@router.get("/entities/{entity_id}", response_model=ProfileOut, responses=errors(404, 503), tags=["collection"])
def entity(entity_id: str, server: ServerDep, who: ReaderDep) -> dict:
    """One profile from the articles the caller may read: merged descriptions and quotations, newest
    first, cited; every such article naming them. 404, as for no such entity, when none may be read."""
    return server.assistant.entity(entity_id, server.assistant.scope(who.granted)).to_dict()


@router.post(
    "/articles", response_model=ReportOut, dependencies=[Depends(admin)], tags=["collection"],
    responses=errors(400, 401, 403, 409, 413, 415),
    openapi_extra={"requestBody": {"required": True, "content": {
        "multipart/form-data": {"schema": {"type": "object", "properties": {
            "file": {"type": "array", "items": {"type": "string", "format": "binary"}}}}},
        "application/json": {"schema": UrlIn.model_json_schema()},
    }}},
)
async def add_articles(request: Request, server: ServerDep) -> dict:
    """Ingest uploaded files (multipart field `file`, repeatable) or a URL (`{"url": ...}`), into the
    collection named by the field `collection` (default: new articles in `default`).

    Unreadable inputs are listed in `errors`; when nothing at all could be read the answer is 400.
    """
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type == "multipart/form-data":
        uploads, collection = await _uploads(request)
        report = await run_in_threadpool(functools.partial(server.assistant.add, uploads, collection=collection))
    elif media_type == "application/json":
        try:
            body = UrlIn.model_validate_json(await request.body())
        except ValidationError as exc:
            raise HTTPException(400, _describe(exc.errors())) from None
        report = await _cancelled_if_gone(request, functools.partial(server.assistant.add, collection=body.collection),
                                          (), body.url)
    else:
        got = media_type or "no content type"
        raise HTTPException(415, f"send multipart/form-data with files, or JSON {{\"url\": ...}}; got '{got}'")
    return report.to_dict()


@router.post("/admin/session", status_code=204, dependencies=[Depends(admin)], tags=["collection"],
             responses=errors(401, 403))
def admin_session(request: Request, server: ServerDep) -> Response:
    """Let this browser upload files through the page: sets an HttpOnly, SameSite=Strict cookie."""
    assert server.admin.token is not None  # the admin dependency let the request through
    response = Response(status_code=204)
    response.set_cookie(UPLOAD_COOKIE, upload_cookie(server.admin.token), httponly=True, samesite="strict",
                        path=(request.scope.get("root_path", "") or "") + "/")
    return response


@router.delete("/articles/{article_id:path}", response_model=ReportOut, dependencies=[Depends(admin)],
               responses=errors(401, 403, 404, 409), tags=["collection"])
def remove_article(article_id: str, server: ServerDep) -> dict:
    """Remove one article and its chunks."""
    return server.assistant.remove([article_id]).to_dict()


# Sources name intranet hosts and folders on the server's disk: every sources route is the admin's.
@router.get("/sources", response_model=list[SourceOut],  # type: ignore[valid-type]
            dependencies=[Depends(admin)], responses=errors(401, 403),
            tags=["sources"])
def list_sources(server: ServerDep) -> list[dict]:
    """Every synced source with its schedule and its last run (started, finished, counts, first error per page)."""
    return server.assistant.sources()


@router.post("/sources", status_code=201, response_model=SourceOut, dependencies=[Depends(admin)],
             responses=errors(400, 401, 403), tags=["sources"])
def add_source(body: SourceIn, server: ServerDep) -> dict:
    """Sync a feed, sitemap or page URL (or several page URLs) on a schedule; the first run comes soon after."""
    source = server.assistant.add_source(body.urls, collection=body.collection, every=body.every,
                                         remove_missing=body.remove_missing, robots=body.robots, folders=False)
    return {**source.to_dict(), "last_run": None}


@router.delete("/sources/{source_id}", response_model=SourceOut, dependencies=[Depends(admin)],
               responses=errors(401, 403, 404), tags=["sources"])
def remove_source(source_id: int, server: ServerDep) -> dict:
    """Stop syncing a source; the articles it brought stay."""
    return {**server.assistant.remove_source(source_id).to_dict(), "last_run": None}


@router.post("/sources/{source_id}/sync", response_model=RunOut, dependencies=[Depends(admin)],
             responses=errors(401, 403, 404), tags=["sources"])
def sync_source(source_id: int, server: ServerDep) -> dict:
    """Run one source now; its run record (`error` set when the source itself could not be read)."""
    [run] = server.assistant.sync(source_id)
    return run.to_dict()


# Votes spend the same tokens as questions: a script posting votes in a loop fills the store's disk.
@router.post("/feedback", status_code=201, response_model=Feedback, responses=errors(400, 413, 429),
             tags=["feedback"], dependencies=[Depends(RateLimited("votes"))])
def add_feedback(body: FeedbackIn, server: ServerDep) -> dict:
    """A reader's vote on an answer (what the chat's Helpful / Not helpful buttons send)."""
    return server.assistant.feedback(body.answer_id, body.vote, body.question, body.answer,
                                     [c.to_dict() for c in body.citations], body.comment).to_dict()


@router.get("/feedback", response_model=list[Feedback], dependencies=[Depends(admin)],
            responses=errors(401, 403), tags=["feedback"])
def list_feedback(server: ServerDep) -> list[dict]:
    """Every vote, newest first, with the question, answer, citations and index version (admin)."""
    return [entry.to_dict() for entry in server.assistant.feedback_entries()]


@router.get("/health", response_model=HealthOut, responses=errors(503), tags=["service"])
def health(server: ServerDep, who: ReaderDep) -> dict:
    """Ready when the index loads: its manifest, the counts the caller may read, and the server version."""
    server.assistant.retriever()  # loads and checks the index as a question does: the same 503 if it cannot
    info = server.assistant.info()
    info.pop("index")  # the absolute path on the server's disk is nobody's business anonymously
    # what the caller may read: a restricted collection's size is not for everyone
    info["articles"], info["chunks"] = server.assistant.counts(server.assistant.scope(who.granted))
    return {"status": "ok", "version": __version__, "articles": info["articles"], "chunks": info["chunks"],
            "admin": server.admin.token is not None, "index": info}


@router.api_route("/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
def no_such_endpoint(request: Request) -> None:
    """Keep unknown /api paths out of the chat app mounted at /, so they get the JSON error shape."""
    allowed = sorted({
        method for route in router.routes if getattr(route, "endpoint", None) is not no_such_endpoint
        for method in getattr(route, "methods", ()) if route.matches(request.scope)[0] is Match.PARTIAL
    })
    if allowed:
        raise HTTPException(405, f"{request.method} is not allowed here; use {', '.join(allowed)}",
                            headers={"Allow": ", ".join(allowed)})
    raise HTTPException(404, f"no endpoint {request.url.path}; see /docs for the API")


# ── the app ─────────────────────────────────────────────────────────────────────────────────


def create_app(assistant: Assistant, *, admin_token: str | None = None, ui: bool = True,
               sync: bool | None = None) -> FastAPI:
    """The API, with the chat at / and /embed unless `ui` is False.

    Args:
        assistant: the one service every route calls.
        admin_token: enables POST/DELETE /api/articles, GET /api/feedback and the UI's upload
            panel; None = the `admin_token` setting (ASSISTANT_ADMIN_TOKEN), which unset is off.
        ui: mount the Gradio pages (tests of the API alone skip the second it takes).
        sync: run each source on its schedule while the app runs; None = the `sync_in_serve` setting.
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
        exception_handlers=ERROR_HANDLERS,
    )
    limiter = RateLimiter(settings.rate_limit, settings.rate_limit_burst)
    guard = AdminToken(admin_token)
    access = Access(settings, assistant.access, guard)
    app.state.server = Server(assistant, guard, access, limiter, anyio.CapacityLimiter(os.cpu_count() or 1))
    app.state.sync = settings.sync_in_serve if sync is None else sync
    _add_offline_docs(app)
    app.include_router(router)
    app.add_middleware(BodyLimitMiddleware, upload_mb=settings.max_upload_mb)
    app.add_middleware(SingleHeaders)
    app.add_middleware(EdgeMiddleware, embed_origins=origins)
    # Gradio adds no CORS headers of its own when the parent app has this middleware.
    app.add_middleware(
        CORSMiddleware, allow_origins=origins, allow_methods=["GET", "POST", "DELETE"],
        allow_headers=["*"],  # Gradio's web component sends headers of its own
    )
    if ui:
        from assistant.serve import ui as chat_ui

        chat_ui.mount(app, assistant, admin=guard, access=access, limiter=limiter)
    app.add_middleware(TrustedProxies, proxies=settings.trusted_proxies)  # outermost: every layer sees the client
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
    uvicorn.run(app, host=host, port=port, root_path=root_path.rstrip("/"), log_level="info",
                **uvicorn_options(assistant.settings))


def uvicorn_options(settings: Settings) -> dict:
    """uvicorn's own X-Forwarded-For handling off (alone it believes 127.0.0.1): the app's
    `TrustedProxies` believes the configured proxies only, and remembers that a request came through
    one. `uvicorn app:app` needs `--no-proxy-headers` for the same."""
    return {"proxy_headers": False, "forwarded_allow_ips": None}


@contextlib.asynccontextmanager
async def _say_whether_admin_is_on(app: FastAPI):
    """The one start-up line saying whether admin is on, printed by every entry point (the app's lifespan)."""
    print("admin: on (adding and removing articles, and reading feedback, need the admin token)"
          if app.state.server.admin.token is not None else
          "admin: off (set ASSISTANT_ADMIN_TOKEN to turn on adding and removing articles)", file=sys.stderr, flush=True)
    with _scheduled_syncs(app.state.server.assistant, on=app.state.sync):
        yield
    if getattr(app.state, "upload_folder", None):  # the pages' uploads not yet ingested go with the server
        remove_upload_folder(app.state.upload_folder)


@contextlib.contextmanager
def _scheduled_syncs(assistant: Assistant, *, on: bool) -> Iterator[None]:
    """Each source synced on its interval on a thread of its own while the server runs.

    Answering never waits for it: it writes through the indexer (one writer at a time, as an
    upload), and readers follow the commits. Stopped at shutdown, between sources.
    """
    if not on:
        yield
        return
    from assistant.ingest.sync import loop

    stop = threading.Event()
    thread = threading.Thread(target=loop, args=(assistant.sync_due, stop), kwargs={"wake": assistant.sync_wake},
                              name="sync", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        assistant.sync_wake.set()
        thread.join(5)


# ── edges: uploads, docs, errors ────────────────────────────────────────────────────────────


async def _uploads(request: Request) -> tuple[list[tuple[str, bytes]], str | None]:
    """The uploaded files as (name, bytes), and the `collection` field; refuses unsafe names and unknown types."""
    form = await request.form(max_files=MAX_UPLOAD_FILES, max_fields=5)
    files = [v for _, v in form.multi_items() if isinstance(v, UploadFile)]
    collection = form.get("collection")
    if collection is not None and not isinstance(collection, str):
        raise HTTPException(400, "the field 'collection' is a collection's name, not a file")
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
    return named, collection or None


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


def _error(status: int, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": {"status": status, "message": message}}, status, headers=headers)


async def _assistant_error(request: Request, exc: Exception) -> JSONResponse:
    """Only the admin sees where the index lives ("no index at /srv/qa/index"); anyone else its name."""
    server: Server = request.app.state.server
    message = str(exc)
    if not sent_token(request.headers, server.admin.token):
        message = without_paths(message, server.assistant.index.root)
    return _error(next(code for kind, code in STATUS if isinstance(exc, kind)), message)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    return _error(exc.status_code, str(exc.detail), dict(exc.headers or {}) or None)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return _error(400, _describe(exc.errors()))


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error in %s %s", request.method, request.url.path)
    return _error(500, f"internal error ({type(exc).__name__}); the server log has the details")


# One JSON error shape for everything the app answers.
ERROR_HANDLERS: dict[Any, Callable[[Request, Exception], Any]] = {
    AssistantError: _assistant_error, HTTPException: _http_error, RequestValidationError: _validation_error,
    Exception: _unexpected,
}


def _describe(errors: Sequence[Mapping[str, Any]]) -> str:
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


def _events(first: str | Answer, rest: Iterator[str | Answer]) -> Iterator[str]:
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
