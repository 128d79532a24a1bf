"""The one gate in front of each mounted Gradio page: the routes the chat uses, text only, no files.

Mounted with `gr.mount_gradio_app` rather than `launch()`, Gradio skips its own allowed-path
checks: a chat message naming `{"path": "/proc/self/environ", "meta": {"_type": "gradio.FileData"}}`
was copied into Gradio's cache and served back to anyone (the admin token and the LLM key with it).
Gradio also carries routes these pages never call (recording, "vibe" editing, run history, custom
components, a proxy, monitoring). So each page is wrapped, and a request reaches Gradio only when:

    its method and route are on ROUTES (else 404)
    it uploads or reads files (`/gradio_api/upload`, `/gradio_api/file=`) only on the main page,
        and only with the admin token (else 404 on /embed, 401 elsewhere)
    its JSON body names no file (a dict with a "path", or Gradio's FileData marker), except the
        admin's own uploads, which must lie in this process's upload folder (else 400)

Bodies are already bounded by `middleware.BodyLimitMiddleware` outside; Gradio's own path checks
are turned on too (`arm`), so this is the first of two locks, not the only one.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from assistant.serve.middleware import AdminToken, client_of, refuse

# Method -> (exact routes, prefixes under which any route passes). Checked against gradio 6.31.0's
# frontend: what the page, the web component and gradio_client call. HEAD is checked as GET.
ROUTES: dict[str, tuple[frozenset[str], tuple[str, ...]]] = {
    "GET": (frozenset({"", "/", "/config", "/config/", "/theme.css", "/robots.txt", "/favicon.ico",
                       "/gradio_api/info", "/gradio_api/info/", "/gradio_api/app_id", "/gradio_api/queue/data",
                       "/gradio_api/startup-events", "/gradio_api/upload_progress"}),
            ("/assets/", "/static/", "/svelte/", "/gradio_api/heartbeat/", "/gradio_api/call/", "/gradio_api/file=")),
    "POST": (frozenset({"/gradio_api/queue/join", "/gradio_api/cancel", "/gradio_api/reset", "/gradio_api/reset/",
                        "/gradio_api/upload"}),
             ("/gradio_api/run/", "/gradio_api/call/", "/gradio_api/api/")),
}
FILE_ROUTES = ("/gradio_api/upload", "/gradio_api/upload_progress", "/gradio_api/file=")
UPLOAD_FOLDER_PREFIX = "assistant-gradio-"


class GradioGuard:
    """Wraps one mounted Gradio app (see the module docstring for what passes).

    Args:
        app: the Gradio ASGI app.
        files: whether this page takes the admin's uploads at all (False for /embed, which faces a wiki).
        admin: the admin token, proven by `Authorization: Bearer` or the cookie `POST /api/admin/session` sets.
        upload_folder: where Gradio keeps uploads; the only place an admin's request may name a file in.
    """

    def __init__(self, app, *, files: bool, admin: AdminToken, upload_folder: Path):
        self.app = app
        self.files = files
        self.admin = admin
        self.upload_folder = upload_folder

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        route = route_of(scope)
        if not allowed(scope["method"], route):
            return await refuse(404, f"there is no {scope['method']} {route or '/'} on this page")(scope, receive, send)
        problem = self._files_refused(scope) if route.startswith(FILE_ROUTES) else None
        if problem:
            return await problem(scope, receive, send)
        if scope["method"] != "POST" or route == "/gradio_api/upload":
            return await self.app(scope, receive, send)
        body = await read_body(receive)
        named = self._named_file(body, scope)
        if named:
            return await refuse(400, named)(scope, receive, send)
        await self.app(scope, replay(body), send)

    def _files_refused(self, scope):
        """The refusal of an upload or file read, or None when the admin sent it to a page that takes files."""
        if not self.files:
            return refuse(404, "the embed page takes no uploads")
        if self.admin.token is None:
            return refuse(403, "uploading is off on this server (no admin token)")
        client = client_of(scope)
        if locked := self.admin.lockout(client):
            return refuse(429, locked[1], {"Retry-After": str(locked[0])})
        if not self.admin.proven(scope, client):
            return refuse(401, "uploading needs the admin token: enter it in the Collection tab, "
                               "or send 'Authorization: Bearer <token>'", {"WWW-Authenticate": "Bearer"})
        return None

    def _named_file(self, body: bytes, scope) -> str | None:
        """Why the body may not go on, or None: it names no file, or only the admin's own uploads.

        The admin's proof is checked only for a body that names a file, so a reader's questions
        never count as guesses of the token (a stale upload cookie would otherwise lock them out).
        """
        try:
            paths = list(named_files(json.loads(body))) if body else []
        except ValueError:  # not JSON: Gradio reads only JSON here, so it refuses it too
            return None
        if not paths:
            return None
        if not (self.files and self.admin.proven(scope, client_of(scope))):
            return "this page takes text only: a request may not name a file"
        if not all(_inside(path, self.upload_folder) for path in paths):
            return "a file named in a request must be one uploaded to this page"
        return None


def route_of(scope) -> str:
    """The path inside the mounted page ("/gradio_api/queue/join"), whatever prefix it is mounted at."""
    path, root = scope["path"], scope.get("root_path", "")
    return path[len(root):] if root and path.startswith(root) else path


def allowed(method: str, route: str) -> bool:
    exact, prefixes = ROUTES.get("GET" if method == "HEAD" else method, (frozenset(), ()))
    return route in exact or route.startswith(prefixes)


def named_files(data: Any) -> Iterator[str]:
    """Every file a JSON value names the way Gradio reads one: a dict with a "path", or FileData's marker."""
    stack = [data]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            meta = value.get("meta")
            if "path" in value or (isinstance(meta, dict) and "_type" in meta):
                yield str(value.get("path", ""))
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)


def _inside(path: str, folder: Path) -> bool:
    try:
        return Path(os.path.realpath(path)).is_relative_to(folder.resolve())
    except (OSError, ValueError):
        return False


async def read_body(receive) -> bytes:
    """The whole request body (its size is already bounded by the body limit outside)."""
    chunks, more = [], True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    return b"".join(chunks)


def replay(body: bytes):
    """A `receive` that hands the app the body it was read from, then waits like the real one."""
    sent = False

    async def receive():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


def private_upload_folder() -> Path:
    """This process's upload folder for Gradio (mode 0700), named in GRADIO_TEMP_DIR before any page is built.

    One per process: Gradio reads the variable when it checks a path, not per page. Folders left by
    processes that are gone (killed mid-upload) are removed here, so nothing uploaded outlives a restart.
    """
    base = Path(tempfile.gettempdir())
    current = os.environ.get("GRADIO_TEMP_DIR", "")
    mine = f"{UPLOAD_FOLDER_PREFIX}{os.getpid()}-"
    if Path(current).name.startswith(mine) and Path(current).is_dir():
        Path(current).chmod(0o700)  # Gradio re-makes it 0755 if another app of this process removed it
        return Path(current)
    for stale in base.glob(f"{UPLOAD_FOLDER_PREFIX}*"):
        pid = stale.name.removeprefix(UPLOAD_FOLDER_PREFIX).split("-")[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)
    folder = Path(tempfile.mkdtemp(prefix=mine, dir=base))  # mkdtemp: 0700, a fresh name
    os.environ["GRADIO_TEMP_DIR"] = str(folder)
    return folder


def remove_upload_folder(folder: Path) -> None:
    """At shutdown: whatever was uploaded and not yet ingested goes."""
    shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def arm(page) -> None:
    """Turn Gradio's own allowed-path checks on for a mounted page.

    gradio 6.31.0 checks a file named in a request (`processing_utils._check_allowed`) only once
    `blocks.has_launched` is True, which `launch()` sets and `mount_gradio_app` does not.
    """
    page.has_launched = True
