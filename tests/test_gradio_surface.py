"""Gradio's routes, both mounts, probed the way an anonymous visitor would: no file the server can
read comes back, nothing uploads, and every body is bounded.

Gradio mounted with `mount_gradio_app` (not `launch()`) skips its own allowed-path checks, so these
tests call every event of both pages with every way a request can name a file.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conftest import live_server, make_assistant

TOKEN = "surface-token"
SECRET = f"secret-{uuid.uuid4().hex}"
MOUNTS = ["", "/embed"]


@pytest.fixture(scope="module")
def secret_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("private") / "server-secret.txt"
    path.write_text(SECRET)
    return path


@pytest.fixture(scope="module")
def site(sample_index, real_embedder, secret_file) -> Iterator[httpx.Client]:
    from assistant.serve.api import create_app

    app = create_app(make_assistant(sample_index, real_embedder, rate_limit=0), admin_token=TOKEN)
    with live_server(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        yield client


def file_data(path: str) -> dict:
    return {"path": path, "meta": {"_type": "gradio.FileData"}, "orig_name": Path(path).name}


def payloads(path: str) -> list:
    """Every shape in which a request's data can carry a file: bare, as a chat message part, in a list."""
    data = file_data(path)
    return [
        data,
        [data],
        [{"role": "user", "content": [{"type": "file", "file": data}]}],
        [{"role": "user", "content": {"path": path}}],
        {"text": "hello", "files": [data]},
        {"path": path, "url": None},
    ]


def events(client: httpx.Client, mount: str) -> list[dict]:
    """Each event of a mounted page: its fn index and how many inputs it takes."""
    config = client.get(f"{mount}/config").json()
    return [{"fn_index": i, "inputs": len(d.get("inputs", [])), "api_name": d.get("api_name")}
            for i, d in enumerate(config["dependencies"])]


def collect(client: httpx.Client, url: str, wanted: int, seconds: float = 20, **params) -> str:
    """A server-sent event stream until `wanted` events completed or `seconds` passed (heartbeats
    keep it open for ever otherwise)."""
    seen, done, deadline = [], 0, time.monotonic() + seconds
    try:
        with client.stream("GET", url, params=params, timeout=seconds) as stream:
            for line in stream.iter_lines():
                seen.append(line)
                done += "process_completed" in line or line.startswith(("event: complete", "event: error"))
                if done >= wanted or time.monotonic() > deadline:
                    break
    except httpx.HTTPError:
        pass
    return "\n".join(seen)


def served_files(client: httpx.Client, text: str) -> list[str]:
    """The bodies of every file URL the server handed back in `text`."""
    urls = set(re.findall(r'"url":\s*"([^"]+)"', text)) | set(re.findall(r"(/[\w/]*gradio_api/file=[^\"\s]+)", text))
    bodies = []
    for url in urls:
        response = client.get(url)
        if response.status_code == 200:
            bodies.append(response.text)
    return bodies


@pytest.mark.slow
@pytest.mark.parametrize("mount", MOUNTS)
@pytest.mark.parametrize("headers", [{}, {"Authorization": f"Bearer {TOKEN}"}], ids=["anonymous", "admin"])
def test_no_event_of_either_page_reads_a_file_it_is_handed(site, mount, headers, secret_file):
    """The admin may name files it uploaded, and only those: Gradio's own check, armed, refuses the rest."""
    leaked = []
    for event in events(site, mount):
        if not event["inputs"]:
            continue
        session = uuid.uuid4().hex
        sent = 0
        for target in (str(secret_file), "/etc/passwd", "/proc/self/environ"):
            for payload in payloads(target):
                for slot in range(event["inputs"]):
                    data = ["hello"] * event["inputs"]
                    data[slot] = payload
                    body = {"data": data, "fn_index": event["fn_index"], "session_hash": session,
                            "event_data": None, "trigger_id": None}
                    response = site.post(f"{mount}/gradio_api/queue/join", json=body, headers=headers)
                    assert response.status_code in (200, 400, 403, 404, 422), response.text
                    sent += response.status_code == 200
        stream = collect(site, f"{mount}/gradio_api/queue/data", sent, session_hash=session) if sent else ""
        for body in [stream, *served_files(site, stream)]:
            if SECRET in body or "root:" in body or "HOME=" in body:
                leaked.append(event)
    assert leaked == []


@pytest.mark.slow
@pytest.mark.parametrize("mount", MOUNTS)
@pytest.mark.parametrize("route", ["run", "call", "api"])
def test_the_named_endpoints_read_no_file_either(site, mount, route, secret_file):
    for payload in payloads(str(secret_file)):
        response = site.post(f"{mount}/gradio_api/{route}/chat", json={"data": [payload, payload]})
        text = response.text
        if route == "call" and response.status_code == 200:
            event = response.json().get("event_id", "")
            text += collect(site, f"{mount}/gradio_api/call/chat/{event}", 1)
        assert SECRET not in text
        assert all(SECRET not in body for body in served_files(site, text))


@pytest.mark.parametrize("mount", MOUNTS)
@pytest.mark.parametrize("route", ["file={path}", "file/{path}", "file={path}?download=1", "proxy=file://{path}"])
def test_file_routes_serve_no_file_of_the_server_even_to_the_admin(site, mount, route, secret_file):
    for path in (str(secret_file), "/etc/passwd"):
        for headers in ({}, {"Authorization": f"Bearer {TOKEN}"}):
            response = site.get(f"{mount}/gradio_api/" + route.format(path=path), headers=headers)
            assert response.status_code in (401, 403, 404), response.text[:200]
            assert SECRET not in response.text and "root:" not in response.text


@pytest.mark.parametrize("mount", MOUNTS)
@pytest.mark.parametrize("path", [
    "/gradio_api/process_recording", "/gradio_api/vibe-edit", "/gradio_api/undo-vibe-edit", "/gradio_api/vibe-code",
    "/gradio_api/run-history/records", "/gradio_api/custom_component/x/client/index.js/x",
    "/gradio_api/dev/reload", "/gradio_api/deep_link", "/gradio_api/openapi.json", "/monitoring",
    "/gradio_api/stream/x/close", "/login", "/gradio_api/user",
])
def test_gradio_routes_the_pages_do_not_use_are_not_there(site, mount, path):
    for method in ("GET", "POST"):
        response = site.request(method, f"{mount}{path}", json={} if method == "POST" else None)
        assert response.status_code in (404, 405), f"{method} {mount}{path}: {response.status_code}"


@pytest.mark.parametrize("mount", MOUNTS)
def test_an_upload_with_a_second_content_type_header_is_refused(site, mount):
    body = (b"--b\r\nContent-Disposition: form-data; name=\"files\"; filename=\"a.txt\"\r\n"
            b"Content-Type: text/plain\r\n\r\nsmuggled\r\n--b--\r\n")
    headers = [("Content-Type", "multipart/form-data; boundary=b"), ("Content-Type", "text/plain")]
    response = site.post(f"{mount}/gradio_api/upload", content=body, headers=headers)
    assert response.status_code == 400, response.text
    assert "Content-Type" in response.json()["error"]["message"]


@pytest.mark.parametrize("mount", MOUNTS)
def test_an_upload_whatever_its_content_type_says_needs_the_admin_token(site, mount):
    body = b"--b\r\nContent-Disposition: form-data; name=\"files\"; filename=\"a.txt\"\r\n\r\nx\r\n--b--\r\n"
    for content_type in ("Multipart/Form-Data; boundary=b", "text/plain", "application/json"):
        response = site.post(f"{mount}/gradio_api/upload", content=body, headers={"Content-Type": content_type})
        assert response.status_code in (401, 404), (content_type, response.status_code)


@pytest.mark.parametrize("mount", MOUNTS)
@pytest.mark.parametrize("route", ["/gradio_api/cancel", "/gradio_api/queue/join", "/gradio_api/run/chat"])
def test_every_gradio_json_route_refuses_a_body_over_the_limit_without_echoing_it(site, mount, route):
    big = json.dumps({"event_id": "x" * (5 * 1024 * 1024), "session_hash": "s", "fn_index": 0})
    response = site.post(f"{mount}{route}", content=big, headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert len(response.content) < 2000


def test_the_upload_folder_is_private_to_the_process_and_removed_when_it_stops(sample_index, fake_embedder):
    import os

    from assistant.serve.api import create_app

    app = create_app(make_assistant(sample_index, fake_embedder), admin_token=TOKEN)
    with live_server(app):
        folder = Path(os.environ["GRADIO_TEMP_DIR"])
        assert folder.is_dir() and str(os.getpid()) in folder.name
        assert folder.stat().st_mode & 0o077 == 0  # no one else may read it
        (folder / "left-over.txt").write_text("x")
    assert not folder.exists()


def test_upload_folders_left_by_processes_that_are_gone_are_removed_at_start(tmp_path, monkeypatch):
    import os

    from assistant.serve.gradio_guard import private_upload_folder

    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    monkeypatch.delenv("GRADIO_TEMP_DIR", raising=False)
    gone = tmp_path / "assistant-gradio-999999999-abc"  # no such process
    (gone / "sub").mkdir(parents=True)
    (gone / "sub" / "uploaded.txt").write_text("left from a killed server")
    alive = tmp_path / f"assistant-gradio-{os.getppid()}-abc"  # another server, still running
    alive.mkdir()

    folder = private_upload_folder()

    assert not gone.exists() and alive.exists()
    assert folder.parent == tmp_path and folder.stat().st_mode & 0o077 == 0


def test_questions_sent_with_a_stale_upload_cookie_are_not_counted_as_token_guesses(sample_index, fake_embedder):
    from assistant.serve.api import create_app

    app = create_app(make_assistant(sample_index, fake_embedder, rate_limit=0), admin_token=TOKEN)
    with live_server(app) as url, httpx.Client(base_url=url, cookies={"assistant_admin": "stale"}) as client:
        chat = next(e for e in events(client, "") if e["api_name"] == "chat")
        for _ in range(12):
            body = {"data": ["who is Alexander Golts?", []], "fn_index": chat["fn_index"], "session_hash": "s"}
            assert client.post("/gradio_api/queue/join", json=body).status_code == 200
        admin = client.get("/api/feedback", headers={"Authorization": f"Bearer {TOKEN}"})
        assert admin.status_code == 200, admin.text
