"""docs/EMBEDDING.md's SSO set-up, run as written: nginx asks a sign-in service about each request
(`auth_request`) and passes the reader's user and groups to the assistant, which answers each
reader from the collections their groups may read.

The nginx block is read from the document itself, so the document cannot drift from what is
tested; only its two upstream addresses are replaced by this test's ports. The sign-in service is a
stand-in with oauth2-proxy's `/oauth2/auth` contract: 202 with `X-Auth-Request-User` and
`X-Auth-Request-Groups` for a signed-in cookie, 401 otherwise.
"""

from __future__ import annotations

import re
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from conftest import live_server, make_assistant
from fakes import HashEmbedder
from test_access import SECRETS, chat_text, leaked
from test_proxy import NGINX, free_port, stop, wait_for

from assistant.types import Article

pytestmark = pytest.mark.slow
DOC = Path(__file__).resolve().parent.parent / "docs" / "EMBEDDING.md"
PUBLIC = Article("golts", "Golts profile", "Alexander Golts is a Moscow-based military expert.", source="g.txt")
LEGAL = Article("bravo-memo", "Bravo memo", "The Zephyrine merger was signed by Golts in June.", source="b.txt")
QUESTION = "Which merger did Golts sign?"
SESSIONS = {"ann": "legal-team,staff", "bob": "staff"}  # sign-in cookie -> groups


def documented_block() -> str:
    """The nginx block of section 8a, as the document gives it."""
    section = DOC.read_text(encoding="utf-8").split("### 8a.", 1)[1]
    return re.search(r"```nginx\n(.*?)```", section, re.S).group(1)


class SignIn(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        user = (self.headers.get("Cookie") or "").removeprefix("sso=")
        if self.path.startswith("/oauth2/auth") and user in SESSIONS:
            self.send_response(202)
            self.send_header("X-Auth-Request-User", user)
            self.send_header("X-Auth-Request-Groups", SESSIONS[user])
        else:
            self.send_response(401 if self.path.startswith("/oauth2/auth") else 403)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def proxy(tmp_path_factory) -> Iterator[str]:
    from assistant.serve.api import create_app

    if not Path(NGINX).exists():
        pytest.skip(f"{NGINX} is not installed (apt-get install nginx)")
    root = tmp_path_factory.mktemp("sso")
    assistant = make_assistant(root / "index", HashEmbedder(), rate_limit=0, trusted_proxies=["127.0.0.1"],
                               group_collections={"legal-team": ["legal"]})
    assistant.ingest_articles([PUBLIC])
    assistant.ingest_articles([LEGAL], collection="legal")
    assistant.restrict("legal")
    sign_in = ThreadingHTTPServer(("127.0.0.1", 0), SignIn)
    threading.Thread(target=sign_in.serve_forever, daemon=True).start()
    with live_server(create_app(assistant)) as app:
        port = free_port()
        block = (documented_block().replace("127.0.0.1:7860", app.removeprefix("http://"))
                 .replace("127.0.0.1:4180", f"127.0.0.1:{sign_in.server_address[1]}"))
        conf = root / "nginx.conf"
        conf.write_text(f"""daemon off; master_process off; pid {root}/nginx.pid; error_log {root}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {root}/body; proxy_temp_path {root}/proxy; fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi; scgi_temp_path {root}/scgi;
    server {{
        listen 127.0.0.1:{port};
{block}
    }}
}}
""")
        nginx = subprocess.Popen([NGINX, "-p", str(root), "-c", str(conf)])
        try:
            wait_for(f"http://127.0.0.1:{port}/oauth2/sign_in", nginx, 30)
            yield f"http://127.0.0.1:{port}/tools/assistant"
        finally:
            stop(nginx)
            sign_in.shutdown()


def search(proxy: str, cookie: str | None, headers: dict | None = None) -> httpx.Response:
    cookies = {"sso": cookie} if cookie else None
    return httpx.post(f"{proxy}/api/search", json={"query": QUESTION, "top_k": 10}, cookies=cookies,
                      headers=headers or {}, timeout=60)


def test_a_reader_in_the_legal_group_reads_the_legal_collection_through_the_proxy(proxy):
    found = search(proxy, "ann").json()["passages"]
    assert {p["article_id"] for p in found} == {"golts", "bravo-memo"}
    with httpx.Client(base_url=proxy, cookies={"sso": "ann"}, timeout=60) as client:
        assert leaked(chat_text(client, {}, "/embed"))  # the chat, as the wiki's frame asks it


def test_a_reader_outside_the_group_reads_only_the_public_collection_whatever_headers_they_send(proxy):
    spoofed = {"X-Forwarded-User": "ann", "X-Forwarded-Groups": "legal-team"}  # replaced by the proxy
    for headers in ({}, spoofed):
        response = search(proxy, "bob", headers)
        assert {p["article_id"] for p in response.json()["passages"]} == {"golts"}
        assert leaked(response.text) == []
    with httpx.Client(base_url=proxy, cookies={"sso": "bob"}, timeout=60) as client:
        assert leaked(chat_text(client, spoofed, "/embed")) == []


def test_without_signing_in_nothing_reaches_the_assistant(proxy):
    response = search(proxy, None, {"X-Forwarded-Groups": "legal-team"})
    assert response.status_code == 403 and not any(s in response.text.lower() for s in SECRETS)
