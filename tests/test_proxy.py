"""`assistant serve --root-path /tools/assistant` behind a reverse proxy that strips that prefix.

The proxy is nginx when Debian's is installed, and always a small Python proxy process (this
file, run as a script), so the test runs everywhere. Both pass the chat's event stream through
unbuffered, as a deployment must.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

PREFIX = "/tools/assistant"
TOKEN = "proxy-admin-token-77d1"
NGINX = "/usr/sbin/nginx"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(__file__).parent / "artifacts"
pytestmark = pytest.mark.slow

# What docs/EMBEDDING.md tells people to put in their nginx server block.
NGINX_CONF = """
daemon off;
master_process off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location {prefix}/ {{
            proxy_pass http://127.0.0.1:{upstream}/;
            proxy_http_version 1.1;
            proxy_buffering off;
            proxy_read_timeout 300s;
            client_max_body_size 25m;
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }}
    }}
}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, process: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, f"{process.args[0]} exited with {process.returncode}"
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {seconds} s")


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="module")
def app_port(sample_index, tmp_path_factory) -> Iterator[int]:
    """The real command, `assistant serve --root-path /tools/assistant`, over a copy of the sample index."""
    index = tmp_path_factory.mktemp("proxy") / "index"
    shutil.copytree(sample_index, index)
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PROXY_TEST_TOKEN": TOKEN, "ASSISTANT_TRUSTED_PROXIES": '["127.0.0.1"]'}
    command = [sys.executable, "-m", "assistant", "serve", "--index", str(index), "--port", str(port),
               "--root-path", PREFIX, "--admin-token-env", "PROXY_TEST_TOKEN"]
    log = (tmp_path_factory.getbasetemp() / "proxy-app.log").open("w")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(f"http://127.0.0.1:{port}/api/health", process)
        yield port
    finally:
        stop(process)


@pytest.fixture(scope="module", params=["nginx", "python"])
def proxy(request, app_port, tmp_path_factory) -> Iterator[str]:
    """The public base URL, http://127.0.0.1:PORT/tools/assistant, through one of the proxies."""
    port = free_port()
    if request.param == "nginx":
        if not Path(NGINX).exists():
            pytest.skip(f"{NGINX} is not installed (apt-get install nginx); the Python proxy still runs")
        directory = tmp_path_factory.mktemp("nginx")
        conf = directory / "nginx.conf"
        conf.write_text(NGINX_CONF.format(dir=directory, port=port, prefix=PREFIX, upstream=app_port))
        command = [NGINX, "-p", str(directory), "-c", str(conf)]
    else:
        command = [sys.executable, __file__, str(port), f"http://127.0.0.1:{app_port}", PREFIX]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}{PREFIX}"
    try:
        wait_for(f"{base}/api/health", process, seconds=30)
        yield base
    finally:
        stop(process)


def test_the_api_answers_through_the_proxy(proxy):
    health = httpx.get(f"{proxy}/api/health").json()
    answer = httpx.post(f"{proxy}/api/ask", json={"question": "who is Alexander Golts?"}, timeout=60).json()

    assert health["status"] == "ok" and health["admin"] is True
    assert answer["answer"].startswith("Alexander Golts is a Moscow-based military expert [1].")


def test_admin_requests_carry_the_token_through_the_proxy(proxy):
    auth = {"Authorization": f"Bearer {TOKEN}"}
    name = f"proxy-note-{proxy.split(':')[2].split('/')[0]}.txt"  # one article per proxy

    assert httpx.post(f"{proxy}/api/articles", files={"file": (name, b"Note\nA short note.")}).status_code == 401
    added = httpx.post(f"{proxy}/api/articles", files={"file": (name, b"Note\nA short note.")}, headers=auth, timeout=60)
    assert added.status_code == 200 and added.json()["added"] == 1
    removed = httpx.delete(f"{proxy}/api/articles/{Path(name).stem}", headers=auth, timeout=60)
    assert removed.status_code == 200 and removed.json()["removed"] == 1


def test_openapi_docs_point_at_the_sub_path(proxy):
    docs = httpx.get(f"{proxy}/docs").text

    assert f"'{PREFIX}/openapi.json'" in docs
    assert "/api/ask" in httpx.get(f"{proxy}/openapi.json").json()["paths"]


@pytest.mark.browser
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is missing (make chromium)")
def test_the_chat_and_the_embed_view_work_under_the_sub_path_in_a_browser(proxy, request):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.set_default_timeout(30_000)
        outside = []  # requests that escaped the sub-path would 404 in a real deployment
        page.on("request", lambda r: outside.append(r.url) if not r.url.startswith((proxy, "data:", "blob:")) else None)
        for path in ("/", "/embed"):
            page.goto(proxy + path)
            page.locator("button.example", has_text="who is Alexander Golts?").click()
            message = page.locator(".qa").first
            expect(message.locator(".qa-source mark").first).to_contain_text("says Alexander Golts")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"proxy-embed-{request.node.callspec.id}.png"))
        browser.close()

    assert outside == []


# ── the Python proxy, run as `python tests/test_proxy.py PORT UPSTREAM PREFIX` ─────────────


def proxy_app(upstream: str, prefix: str):
    """An ASGI reverse proxy: PREFIX/x -> UPSTREAM/x, streaming both ways, like nginx's proxy_pass."""
    client = httpx.AsyncClient(base_url=upstream, timeout=httpx.Timeout(300, connect=10))
    hop_by_hop = {b"connection", b"keep-alive", b"transfer-encoding", b"upgrade", b"te", b"trailer"}

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        path = scope["path"]
        if not path.startswith(prefix + "/"):
            await send({"type": "http.response.start", "status": 404, "headers": []})
            await send({"type": "http.response.body", "body": b"not under the proxied prefix"})
            return

        async def body():
            while True:
                message = await receive()
                yield message.get("body", b"")
                if not message.get("more_body"):
                    break

        headers = [(k, v) for k, v in scope["headers"] if k not in hop_by_hop]
        headers.append((b"x-forwarded-proto", scope["scheme"].encode()))
        target = path[len(prefix):] + (f"?{scope['query_string'].decode()}" if scope["query_string"] else "")
        request = client.build_request(scope["method"], target, headers=headers, content=body())
        response = await client.send(request, stream=True)
        try:
            await send({"type": "http.response.start", "status": response.status_code,
                        "headers": [(k, v) for k, v in response.headers.raw if k.lower() not in hop_by_hop]})
            async for chunk in response.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        finally:
            await response.aclose()

    return app


if __name__ == "__main__":
    import uvicorn

    listen, upstream, prefix = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    uvicorn.run(proxy_app(upstream, prefix), host="127.0.0.1", port=listen, log_level="warning",
                timeout_graceful_shutdown=1)
