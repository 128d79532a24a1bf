"""The HTTP API, used as a client would: httpx against a real uvicorn server on 127.0.0.1."""

from __future__ import annotations

import functools
import html
import json
import http.server
import re
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from conftest import live_server, make_assistant
from fakes import HashEmbedder, drip
from assistant.serve.api import create_app, uvicorn_options
from assistant.errors import AssistantError
from assistant.types import Article

pytestmark = pytest.mark.slow

TOKEN = "test-admin-token-5b1f"
DATA = Path(__file__).parent / "data"
XSS_ARTICLE = DATA / "web" / "xss-article.md"
ANSWER_KEYS = {"id", "question", "answer", "abstained", "citations", "passages", "timing_ms", "unsupported", "answer_id"}




@pytest.fixture(scope="module")
def api(sample_index, real_embedder, tmp_path_factory) -> Iterator[httpx.Client]:
    """A server with the admin token over a copy of the sample index (these tests add and remove articles)."""
    index = tmp_path_factory.mktemp("api") / "index"
    shutil.copytree(sample_index, index)
    # 127.0.0.1 is where the test web sites run; every other internal address stays refused.
    # Rate limiting off: this module's ~40 requests from one address outrun a burst of 20 on a
    # quiet machine (a 429 on a vote, once); the limit has servers of its own below.
    assistant = make_assistant(index, real_embedder, max_upload_mb=0.05, fetch_allow_hosts=["127.0.0.1"],
                               rate_limit=0)
    with live_server(create_app(assistant, admin_token=TOKEN)) as url, httpx.Client(base_url=url, timeout=60) as client:
        yield client


def admin(token: str = TOKEN) -> dict:
    return {"Authorization": f"Bearer {token}"}


def error_of(response: httpx.Response, status: int) -> str:
    """The message of the one error shape, after checking the status."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and body["error"]["status"] == status
    return body["error"]["message"]


# ── answers ─────────────────────────────────────────────────────────────────────────────────


def test_ask_returns_the_answer_json_with_checkable_citations(api):
    answer = api.post("/api/ask", json={"question": "who is Alexander Golts?"}).json()

    assert set(answer) - {"note", "profile"} == ANSWER_KEYS
    assert answer["answer"].startswith("Alexander Golts is a Moscow-based military expert [1].")
    assert {int(n) for n in re.findall(r"\[(\d+)\]", answer["answer"])} == {c["n"] for c in answer["citations"]}
    assert "says Alexander Golts, a Moscow-based military expert." in answer["citations"][0]["quote"]
    assert [p["rank"] for p in answer["passages"]] == list(range(1, len(answer["passages"]) + 1))


def test_stream_true_sends_tokens_then_the_final_answer_as_server_sent_events(api):
    with api.stream("POST", "/api/ask", json={"question": "who is Alexander Golts?", "stream": True}) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        body = "".join(response.iter_text())

    events = [(m.group(1), json.loads(m.group(2))) for m in re.finditer(r"event: (\w+)\ndata: (.*)\n\n", body)]
    kinds = [kind for kind, _ in events]
    assert kinds[-1] == "answer" and set(kinds[:-1]) == {"token"}
    streamed = "".join(data["text"] for _, data in events[:-1])
    final = events[-1][1]
    assert set(final) - {"note", "profile"} == ANSWER_KEYS
    assert streamed.strip() == final["answer"] and final["answer"].startswith("Alexander Golts is")


def test_a_follow_up_uses_the_history_and_top_k_limits_passages(api):
    history = [{"question": "who is Alexander Golts?", "answer": "Alexander Golts is a Moscow-based military expert [1]."}]
    answer = api.post("/api/ask", json={"question": "what does he ask about fighting for Assad?",
                                        "history": history, "top_k": 2}).json()

    assert not answer["abstained"]
    assert any("Golts" in c["quote"] for c in answer["citations"])
    assert len(answer["passages"]) <= 2


def test_a_question_the_articles_do_not_answer_abstains_with_related_reading_only_on_its_subject(api):
    unrelated = api.post("/api/ask", json={"question": "What is the boiling point of liquid nitrogen?"}).json()
    related = api.post("/api/ask", json={"question": "What did Alexander Golts eat for breakfast?"}).json()

    assert unrelated["abstained"] and unrelated["citations"] == [] and unrelated["passages"] == []
    assert related["abstained"] and related["citations"] == []
    assert related["passages"] and all("Golts" in p["text"] for p in related["passages"])


def test_search_returns_passages_best_first(api):
    body = api.post("/api/search", json={"query": "Golts", "top_k": 3}).json()

    assert body["query"] == "Golts"
    assert 1 <= len(body["passages"]) <= 3
    assert any("Golts" in p["text"] for p in body["passages"])


def test_articles_and_health_describe_the_index(api):
    articles = api.get("/api/articles").json()
    health = api.get("/api/health").json()

    assert {"id": "russian-volunteers-syria", "title": articles[0]["title"], "url": None, "chunks": 5,
            "collections": ["default"]} in articles
    assert health["status"] == "ok" and health["version"] and health["admin"] is True
    assert health["articles"] == len(articles) and health["chunks"] >= 5
    assert health["index"]["model"] == "all-MiniLM-L6-v2@onnx-int8" and "chunking" in health["index"]
    assert "index" not in health["index"] and "/tmp" not in json.dumps(health)  # no path of the server's disk


@pytest.mark.parametrize("body, expected", [
    ({"question": ""}, "question: String should have at least 1 character"),
    ({}, "question: Field required"),
    ({"question": "x", "top_k": 0}, "top_k: Input should be greater than or equal to 1"),
    ({"question": "x", "colour": "blue"}, "colour: Extra inputs are not permitted"),
    ({"question": "x", "history": [{"answer": "y"}]}, "history.0.question: Field required"),
    ({"question": "   "}, "the question is empty"),
    ({"question": "x", "top_k": "3"}, "top_k: Input should be a valid integer"),
    ({"question": "x", "top_k": True}, "top_k: Input should be a valid integer"),
    ({"question": "x", "top_k": 3.0}, "top_k: Input should be a valid integer"),
    ({"question": "x", "stream": "yes"}, "stream: Input should be a valid boolean"),
    ({"question": "x", "stream": 1}, "stream: Input should be a valid boolean"),
])
def test_bad_input_is_400_with_a_message_naming_the_field(api, body, expected):
    assert expected in error_of(api.post("/api/ask", json=body), 400)


def test_malformed_json_and_oversized_bodies_are_refused(api):
    assert "JSON" in error_of(api.post("/api/ask", content=b"{not json", headers={"Content-Type": "application/json"}), 400)
    huge = {"question": "x", "history": [{"question": "q", "answer": "a" * 20_000}] * 60}
    assert error_of(api.post("/api/ask", json=huge), 413) == "the request body is larger than 1 MB"
    chunked = iter([b'{"question": "', b"x" * 600_000, b"x" * 600_000, b'"}'])  # no Content-Length
    assert error_of(api.post("/api/ask", content=chunked, headers={"Content-Type": "application/json"}), 413)


def test_unknown_endpoints_and_methods_get_the_json_error_shape(api):
    assert "no endpoint /api/nope" in error_of(api.get("/api/nope"), 404)
    response = api.get("/api/ask")
    assert "use POST" in error_of(response, 405) and response.headers["Allow"] == "POST"


def test_openapi_documents_the_api(api):
    paths = api.get("/openapi.json").json()["paths"]

    assert {"/api/ask", "/api/search", "/api/articles", "/api/articles/{article_id}", "/api/health"} <= set(paths)
    assert "multipart/form-data" in paths["/api/articles"]["post"]["requestBody"]["content"]
    docs = api.get("/docs").text
    assert "/docs/static/swagger-ui-bundle.js" in docs and "cdn" not in docs  # works offline
    assert api.get("/docs/static/swagger-ui-bundle.js").status_code == 200


# ── the collection, with and without the admin token ────────────────────────────────────────


def test_adding_and_removing_articles_needs_the_admin_token(api):
    upload = {"file": ("a.txt", b"Some text.")}

    response = api.post("/api/articles", files=upload)
    assert "Authorization: Bearer" in error_of(response, 401) and response.headers["WWW-Authenticate"] == "Bearer"
    assert error_of(api.post("/api/articles", files=upload, headers=admin("wrong")), 403) == "wrong admin token"
    assert error_of(api.delete("/api/articles/russian-volunteers-syria"), 401)
    assert error_of(api.delete("/api/articles/russian-volunteers-syria", headers=admin("wrong")), 403)
    assert len(api.get("/api/articles").json()) == 1


def test_an_uploaded_article_is_answerable_and_its_text_comes_back_verbatim_then_removed(api):
    report = api.post("/api/articles", files={"file": (XSS_ARTICLE.name, XSS_ARTICLE.read_bytes(), "text/markdown")},
                      headers=admin())
    assert report.status_code == 200, report.text
    assert report.json()["added"] == 1 and report.json()["errors"] == []

    answer = api.post("/api/ask", json={"question": "Who designed the Zorblax reactor?"}).json()
    # JSON consumers get the article's text as it is; escaping is the renderer's job (see docs/EMBEDDING.md).
    assert "<img src=x onerror=\"alert('img')\">" in answer["answer"]
    assert answer["citations"][0]["url"] == "javascript:alert('url')"

    removed = api.delete("/api/articles/xss-article", headers=admin())
    assert removed.status_code == 200 and removed.json()["removed"] == 1
    assert "no article with id 'xss-article'" in error_of(api.delete("/api/articles/xss-article", headers=admin()), 404)


KEEPERS_MD = """# The last lighthouse keepers

For three centuries, keepers trimmed the wicks and wound the clockwork of Britain's lighthouses by hand.

## THE NUMBERS BEHIND THE CUTS

In 1960 the service still employed **412 keepers** at 64 stations; by 1998 it employed none.
The budget for staffing fell by [nine tenths](https://example.org/budget) over those decades.

## Automation Ends a Centuries-Old Trade

Automatic lamps, first fitted at *North Foreland* in 1983, made the keepers' trade redundant.
"""


def test_a_markdown_article_is_quoted_and_shown_as_text_and_its_sub_headings_are_never_answers(api):
    report = api.post("/api/articles", files={"file": ("keepers.md", KEEPERS_MD.encode(), "text/markdown")},
                      headers=admin())
    assert report.json()["added"] == 1, report.text
    try:
        answer = api.post("/api/ask", json={"question": "How many keepers did the service employ in 1960?"}).json()
        assert answer["answer"] == ("In 1960 the service still employed 412 keepers at 64 stations; "
                                    "by 1998 it employed none [1].")
        [citation] = answer["citations"]
        page = api.get(f"/articles/keepers?start={citation['start']}&end={citation['end']}")
        # The offsets point into the plain text: the page marks exactly the quoted sentence.
        assert f'<mark id="cited">{citation["quote"]}</mark>' in page.text
        text = html.unescape(page.text.split('<div class="text">')[1].split("</div>")[0])
        assert text.startswith("For three centuries")  # the title is the h1, not repeated under it
        assert page.text.count("The last lighthouse keepers") == 2  # <title> and <h1>
        assert "THE NUMBERS BEHIND THE CUTS" in text and not re.search(r"[#*]|\]\(", text)
        assert all("#" not in p["text"] and "**" not in p["text"] for p in answer["passages"])

        # The questions a sub-heading matches word for word: before, the heading itself was "the answer".
        for question in ("What are the numbers behind the cuts?", "How did automation end the centuries-old trade?"):
            quotes = [c["quote"] for c in api.post("/api/ask", json={"question": question}).json()["citations"]]
            assert not {"THE NUMBERS BEHIND THE CUTS", "Automation Ends a Centuries-Old Trade"} & set(quotes), quotes
    finally:
        api.delete("/api/articles/keepers", headers=admin())


@pytest.mark.parametrize("name, status, expected", [
    ("../../etc/passwd.txt", 400, "not a plain file name"),
    ("..\\secret.md", 400, "not a plain file name"),
    (".hidden.txt", 400, "not a plain file name"),
    ("run.exe", 415, "unsupported file type '.exe'"),
    ("noext", 415, "unsupported file type 'none'"),
])
def test_uploads_with_unsafe_names_or_types_are_refused(api, name, status, expected):
    assert expected in error_of(api.post("/api/articles", files={"file": (name, b"text")}, headers=admin()), status)


def test_uploads_over_the_size_limit_are_413(api):
    big = b"Words of an article. " * 4000  # 84 KB > max_upload_mb=0.05

    message = error_of(api.post("/api/articles", files={"file": ("big.txt", big)}, headers=admin()), 413)
    assert message == "the upload is larger than 0.05 MB, this server's limit (ASSISTANT_MAX_UPLOAD_MB)"


def test_an_upload_that_cannot_be_read_is_400_naming_the_file(api):
    message = error_of(api.post("/api/articles", files={"file": ("empty.txt", b"  \n")}, headers=admin()), 400)
    assert message == "empty.txt: empty file"


@pytest.fixture(scope="module")
def article_site() -> Iterator[str]:
    """A local web site serving tests/data/sources, for ingesting by URL without the internet."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(DATA / "sources"))
    handler.log_message = lambda *args: None
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as site:
        threading.Thread(target=site.serve_forever, daemon=True).start()
        yield f"http://127.0.0.1:{site.server_address[1]}"
        site.shutdown()


def test_an_article_can_be_ingested_by_url(api, article_site):
    report = api.post("/api/articles", json={"url": f"{article_site}/article.html"}, headers=admin())

    assert report.status_code == 200, report.text
    assert report.json()["added"] == 1
    ids = [a["id"] for a in api.get("/api/articles").json()]
    assert f"127-0-0-1-{article_site.rsplit(':', 1)[1]}-article-html" in ids
    assert "url: String should match pattern" in error_of(api.post("/api/articles", json={"url": "ftp://x"}, headers=admin()), 400)
    assert "could not fetch: HTTP 404" in error_of(
        api.post("/api/articles", json={"url": f"{article_site}/missing.html"}, headers=admin()), 400)
    assert error_of(api.post("/api/articles", content=b"x", headers={**admin(), "Content-Type": "text/plain"}), 415)


@pytest.mark.parametrize("url, says", [
    ("http://localhost:{port}/article.html", "not a public address (localhost is 127.0.0.1, loopback); an intranet "
                                             "host can be allowed in ASSISTANT_FETCH_ALLOW_HOSTS"),
    ("http://169.254.169.254/latest/meta-data/", "not a public address (169.254.169.254 is link-local); "),
    ("http://[::ffff:169.254.169.254]/",
     "not a public address (::ffff:169.254.169.254 is 169.254.169.254, link-local)"),
    ("http://10.0.0.1/", "not a public address (10.0.0.1 is private)"),
    ("http://127.0.0.1:1/x", "unreachable (connection refused)"),  # 127.0.0.1 is allowed here: connected to
    ("http://no-such-host.invalid/", "the host name no-such-host.invalid has no address (DNS lookup failed)"),
])
def test_url_ingest_cannot_reach_inside_the_network_and_says_which_problem_it_met(api, article_site, url, says):
    url = url.format(port=article_site.rsplit(":", 1)[1])

    message = error_of(api.post("/api/articles", json={"url": url}, headers=admin()), 400)

    assert message.startswith(f"{url}: could not fetch: {says}")


@contextmanager
def dripping_page() -> Iterator[tuple[str, threading.Event]]:
    """A page on 127.0.0.1 sending a byte every half second for a minute, and an event set when its client hangs up."""
    hung_up = threading.Event()

    class Drip(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            drip(self, hung_up)

        def log_message(self, *args):
            pass

    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), Drip) as site:
        threading.Thread(target=site.serve_forever, daemon=True).start()
        yield f"http://127.0.0.1:{site.server_address[1]}/page", hung_up
        site.shutdown()


def test_a_url_ingest_ends_at_the_fetch_deadline_setting(tmp_path, fake_embedder):
    assistant = make_assistant(tmp_path / "index", fake_embedder, fetch_allow_hosts=["127.0.0.1"], fetch_deadline=2)
    with dripping_page() as (page, _), live_server(create_app(assistant, admin_token=TOKEN, ui=False)) as url:
        began = time.monotonic()
        response = httpx.post(f"{url}/api/articles", json={"url": page}, headers=admin(), timeout=30)

    assert error_of(response, 400) == (f"{page}: could not fetch: the page took longer than 2 s to arrive "
                                       "(ASSISTANT_FETCH_DEADLINE)")
    assert time.monotonic() - began < 10  # the page goes on for a minute


def test_a_url_ingest_stops_fetching_when_its_client_hangs_up(tmp_path, fake_embedder):
    assistant = make_assistant(tmp_path / "index", fake_embedder, fetch_allow_hosts=["127.0.0.1"])
    with dripping_page() as (page, hung_up), live_server(create_app(assistant, admin_token=TOKEN, ui=False)) as url:
        with pytest.raises(httpx.ReadTimeout):  # the client gives up after a second
            httpx.post(f"{url}/api/articles", json={"url": page}, headers=admin(), timeout=1)

        assert hung_up.wait(5)  # the server stopped fetching too, rather than at the 60 s deadline


# ── Gradio's own upload routes ──────────────────────────────────────────────────────────────


def gradio_upload(client: httpx.Client, path: str = "/gradio_api/upload", files: int = 1, size: int = 100, **kw):
    parts = [("files", (f"note{i}.txt", b"x" * size, "text/plain")) for i in range(files)]
    return client.post(path, files=parts, **kw)


def test_the_embed_page_has_no_upload_route_at_all(api):
    for headers in ({}, admin()):
        assert error_of(gradio_upload(api, "/embed/gradio_api/upload", headers=headers), 404)
        assert error_of(gradio_upload(api, "/embed/gradio_api/process_recording", headers=headers), 404)


def test_the_page_upload_route_needs_the_admin_token(api):
    assert "needs the admin token" in error_of(gradio_upload(api), 401)
    assert error_of(gradio_upload(api, headers=admin("wrong")), 401)
    assert error_of(gradio_upload(api, cookies={"assistant_admin": "guess"}), 401)

    response = gradio_upload(api, headers=admin())
    assert response.status_code == 200, response.text
    [stored] = response.json()
    assert Path(stored).read_bytes() == b"x" * 100


def test_the_page_sets_an_upload_cookie_from_the_token_and_the_route_takes_it(api):
    assert error_of(api.post("/api/admin/session"), 401)
    response = api.post("/api/admin/session", headers=admin())
    assert response.status_code == 204
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and TOKEN not in cookie

    value = response.cookies["assistant_admin"]
    assert gradio_upload(api, cookies={"assistant_admin": value}).status_code == 200


def test_page_uploads_obey_the_api_size_and_count_limits(api):
    assert "larger than 0.05 MB" in error_of(gradio_upload(api, size=100_000, headers=admin()), 413)
    too_many = gradio_upload(api, files=21, headers=admin())  # found mid-body, so Gradio's error shape
    assert too_many.status_code == 413 and "more than 20 files" in too_many.text

    def chunked():  # no Content-Length: the bytes are counted as they arrive
        yield b"--b\r\nContent-Disposition: form-data; name=\"files\"; filename=\"a.txt\"\r\n\r\n"
        for _ in range(20):
            yield b"x" * 10_000
    response = api.post("/gradio_api/upload", content=chunked(),
                        headers={**admin(), "Content-Type": "multipart/form-data; boundary=b"})
    assert response.status_code == 413


def test_without_an_admin_token_nothing_can_be_uploaded_through_the_page(sample_index, fake_embedder):
    with live_server(create_app(make_assistant(sample_index, fake_embedder))) as url, httpx.Client(base_url=url) as client:
        assert "uploading is off" in error_of(gradio_upload(client, headers=admin()), 403)


def test_files_uploaded_but_never_added_are_removed_when_the_server_stops(tmp_path, sample_index, fake_embedder):
    with live_server(create_app(make_assistant(sample_index, fake_embedder), admin_token=TOKEN)) as url:
        with httpx.Client(base_url=url) as client:
            [stored] = gradio_upload(client, headers=admin()).json()
            assert Path(stored).exists()
    assert not Path(stored).exists()


# ── the edges: pages, headers, configuration ────────────────────────────────────────────────


def test_pages_may_be_framed_only_by_this_origin_by_default(api):
    for path in ("/", "/embed/", "/api/health"):
        headers = api.get(path).headers
        assert headers["Content-Security-Policy"] == "frame-ancestors 'self'", path
        assert headers["X-Frame-Options"] == "SAMEORIGIN", path
        assert headers["X-Content-Type-Options"] == "nosniff"
    preflight = api.options("/api/ask", headers={"Origin": "https://wiki.example.com", "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in preflight.headers


def test_the_embed_view_is_found_with_or_without_the_trailing_slash(api):
    redirect = api.get("/embed", follow_redirects=False)

    assert redirect.status_code == 307 and redirect.headers["Location"] == "embed/"  # relative: proxy-proof
    assert api.get("/embed", follow_redirects=True).status_code == 200
    script = api.get("/embed/gradio.js")  # Gradio's web component, for wikis without internet
    assert script.status_code == 200 and script.headers["Content-Type"].startswith("text/javascript")


def test_the_pages_hold_no_secret_and_the_embed_view_has_no_admin_controls(api):
    main, embed = api.get("/config").text, api.get("/embed/config").text

    assert TOKEN not in main and TOKEN not in embed
    assert "Admin token" in main and "Admin token" not in embed and "Upload files" not in embed


def test_embed_origins_may_frame_the_embed_view_and_call_the_api(sample_index, fake_embedder):
    from fastapi.testclient import TestClient

    wiki = "https://wiki.example.com"
    app = create_app(make_assistant(sample_index, fake_embedder, embed_origins=[wiki]), ui=False)
    with TestClient(app) as client:
        assert client.get("/embed/").headers["Content-Security-Policy"] == f"frame-ancestors 'self' {wiki}"
        assert "X-Frame-Options" not in client.get("/embed/").headers
        assert client.get("/").headers["Content-Security-Policy"] == "frame-ancestors 'self'"
        allowed = client.options("/api/ask", headers={"Origin": wiki, "Access-Control-Request-Method": "POST"})
        assert allowed.headers["access-control-allow-origin"] == wiki
        other = client.options("/api/ask", headers={"Origin": "https://evil.example.com", "Access-Control-Request-Method": "POST"})
        assert "access-control-allow-origin" not in other.headers


@pytest.mark.parametrize("origin", ["*", "https://wiki.example.com/path", "https://a.com; script-src *", "wiki.example.com"])
def test_an_embed_origin_that_is_not_an_origin_is_refused_at_start(sample_index, fake_embedder, origin):
    with pytest.raises(AssistantError, match="not an origin like https://wiki.example.com"):
        create_app(make_assistant(sample_index, fake_embedder, embed_origins=[origin]), ui=False)


def test_without_an_admin_token_the_admin_endpoints_are_off(sample_index, real_embedder):
    from fastapi.testclient import TestClient

    with TestClient(create_app(make_assistant(sample_index, real_embedder), ui=False)) as client:
        message = error_of(client.delete("/api/articles/x", headers=admin()), 403)
        assert "admin is off on this server" in message
        assert "with a token in $ASSISTANT_ADMIN_TOKEN" in message and "`assistant serve`" in message
        assert error_of(client.get("/api/feedback", headers=admin()), 403) == message
        assert client.get("/api/health").json()["admin"] is False


def test_the_admin_token_is_a_setting_every_entry_point_reads(sample_index, real_embedder):
    from fastapi.testclient import TestClient

    app = create_app(make_assistant(sample_index, real_embedder, admin_token="from-the-setting"), ui=False)
    with TestClient(app) as client:
        assert client.get("/api/health").json()["admin"] is True
        assert error_of(client.get("/api/feedback", headers=admin()), 403) == "wrong admin token"
        assert client.get("/api/feedback", headers=admin("from-the-setting")).status_code == 200


def test_an_article_whose_id_has_folders_is_viewed_linked_and_removed_over_http(tmp_path, fake_embedder):
    from fastapi.testclient import TestClient

    for folder, text in (("a", "Alexander Golts is a Moscow-based military expert."), ("b", "Tea is brewed hot.")):
        (tmp_path / "docs" / folder).mkdir(parents=True)
        (tmp_path / "docs" / folder / "notes.txt").write_text(text)
    assistant = make_assistant(tmp_path / "index", fake_embedder)
    assert assistant.ingest([str(tmp_path / "docs")]).added == 2

    with TestClient(create_app(assistant, admin_token=TOKEN)) as client:
        page = client.get("/articles/a/notes")
        assert page.status_code == 200 and "Moscow-based military expert" in page.text
        assert 'href="../../"' in page.text  # back to the chat from two segments down
        answer = client.post("/api/ask", json={"question": "who is Alexander Golts?"}).json()
        assert answer["citations"][0]["article_id"] == "a/notes"
        assert client.delete("/api/articles/a/notes", headers=admin()).json()["removed"] == 1
        assert client.delete("/api/articles/b%2Fnotes", headers=admin()).json()["removed"] == 1  # encoded, too
        assert client.get("/api/articles").json() == []
    from assistant.serve.html import article_href
    assert article_href("https://w/", "a/notes", 1, 2) == "https://w/articles/a/notes?start=1&amp;end=2#cited"


# ── feedback ────────────────────────────────────────────────────────────────────────────────


def vote_on(answer: dict, vote: str = "up", comment: str = "") -> dict:
    """What the chat's buttons send: the answer as it came, with its answer_id."""
    return {"answer_id": answer["answer_id"], "vote": vote, "question": answer["question"],
            "answer": answer["answer"], "citations": answer["citations"], "comment": comment}


def test_feedback_is_stored_with_the_index_version_and_listed_for_the_admin_newest_first(api):
    golts = api.post("/api/ask", json={"question": "who is Alexander Golts?"}).json()
    other = api.post("/api/ask", json={"question": "Why is Syria less appealing than Ukraine?"}).json()
    first = api.post("/api/feedback", json=vote_on(golts))
    second = api.post("/api/feedback", json=vote_on(other, "down", "wrong"))

    assert first.status_code == second.status_code == 201
    assert error_of(api.get("/api/feedback"), 401)
    listed = api.get("/api/feedback", headers=admin()).json()
    assert [e["id"] for e in listed[:2]] == [second.json()["id"], first.json()["id"]]
    entry = listed[1]
    assert (entry["vote"], entry["comment"], entry["citations"]) == ("up", "", golts["citations"])
    assert re.fullmatch(r"store-[\w-]+@\d+", entry["index_version"])  # the store and commit that were live
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", entry["time"])


def test_a_comment_after_the_vote_updates_the_same_entry(api):
    answer = api.post("/api/ask", json={"question": "who is Alexander Golts?"}).json()
    clicked = api.post("/api/feedback", json=vote_on(answer, "down")).json()
    commented = api.post("/api/feedback", json=vote_on(answer, "down", "cite the second quote too")).json()

    assert commented["id"] == clicked["id"] and commented["comment"] == "cite the second quote too"
    assert sum(e["id"] == clicked["id"] for e in api.get("/api/feedback", headers=admin()).json()) == 1


@pytest.mark.parametrize("change, problem", [
    ({"answer": "x" * 19_000}, "not on an answer this server gave"),  # a megabyte of invented answer, say
    ({"question": "another question?"}, "not on an answer this server gave"),
    ({"citations": []}, "not on an answer this server gave"),
    ({"answer_id": "0" * 48}, "not on an answer this server gave"),
    ({"vote": "meh"}, "vote: Input should be 'up' or 'down'"),
    ({"comment": "x" * 2001}, "comment: String should have at most 2000"),
])
def test_a_vote_counts_only_on_an_answer_this_server_gave_as_it_gave_it(api, change, problem):
    answer = api.post("/api/ask", json={"question": "who is Alexander Golts?"}).json()
    assert problem in error_of(api.post("/api/feedback", json=vote_on(answer) | change), 400)
    body = vote_on(answer)
    del body["answer_id"]
    assert "answer_id: Field required" in error_of(api.post("/api/feedback", json=body), 400)


def test_the_feedback_store_takes_no_new_votes_past_its_cap_but_keeps_what_it_has(tmp_path, fake_embedder):
    assistant = make_assistant(tmp_path / "index", fake_embedder, feedback_max_mb=0.05, rate_limit=0)
    assistant.ingest_articles([GOLTS_ARTICLE])
    with live_server(create_app(assistant, ui=False)) as url, httpx.Client(base_url=url) as client:
        answers = [client.post("/api/ask", json={"question": "who is Alexander Golts?"}).json() for _ in range(60)]
        statuses = [client.post("/api/feedback", json=vote_on(a, comment="c" * 1900)).status_code for a in answers]
        assert 201 in statuses and statuses[-1] == 400
        assert "feedback store is full" in error_of(client.post("/api/feedback", json=vote_on(answers[-1])), 400)
        assert client.post("/api/feedback", json=vote_on(answers[0], "down")).status_code == 201  # its own row
    assert (tmp_path / "index" / "feedback.sqlite3").stat().st_size < 2 * 0.05 * 1024 * 1024
    assert len(assistant.feedback_entries()) == statuses.count(201)


GOLTS_ARTICLE = Article("golts", "Golts", "Alexander Golts is a Moscow-based military expert.", source="golts.txt")


def test_each_client_is_rate_limited_on_questions_and_others_still_get_answers(tmp_path, fake_embedder):
    assistant = make_assistant(tmp_path / "index", fake_embedder, rate_limit=6, rate_limit_burst=2)
    assistant.ingest_articles([GOLTS_ARTICLE])
    question = {"question": "who is Alexander Golts?"}
    with live_server(create_app(assistant, ui=False)) as url:
        other = httpx.Client(base_url=url, transport=httpx.HTTPTransport(local_address="127.0.0.2"))
        with httpx.Client(base_url=url) as client, other:
            assert [client.post("/api/ask", json=question).status_code for _ in range(2)] == [200, 200]
            refused = client.post("/api/search", json={"query": "Golts"})
            assert "too many questions from this address" in error_of(refused, 429)
            assert refused.headers["Retry-After"] in ("9", "10")  # 6 a minute: one every 10 s, less the time since
            assert other.post("/api/ask", json=question).status_code == 200


def test_votes_are_rate_limited_per_client_like_questions_whatever_x_forwarded_for_says(tmp_path, fake_embedder):
    assistant = make_assistant(tmp_path / "index", fake_embedder, rate_limit=6, rate_limit_burst=3)
    assistant.ingest_articles([GOLTS_ARTICLE])
    answer = assistant.ask("who is Alexander Golts?").to_dict()
    served = live_server(create_app(assistant, ui=False), **uvicorn_options(assistant.settings))
    with served as url, httpx.Client(base_url=url) as client:
        spoofed = [client.post("/api/feedback", json=vote_on(answer), headers={"X-Forwarded-For": f"10.0.0.{i}"})
                   for i in range(4)]
        assert [r.status_code for r in spoofed] == [201, 201, 201, 429]
        assert "too many votes from this address" in error_of(spoofed[-1], 429)
        assert spoofed[-1].headers["Retry-After"] in ("9", "10")
    assert len(assistant.feedback_entries()) == 1  # three votes on one answer: one entry


def test_the_server_believes_x_forwarded_for_only_from_a_configured_proxy(tmp_path, fake_embedder, monkeypatch):
    import uvicorn

    from assistant.serve import api as api_module

    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: seen.update(options))
    for proxies in ([], ["127.0.0.1"]):
        assistant = make_assistant(tmp_path / f"index{len(proxies)}", fake_embedder, trusted_proxies=proxies,
                                   rate_limit=6, rate_limit_burst=1)
        assistant.ingest_articles([GOLTS_ARTICLE])
        app = create_app(assistant, ui=False)
        api_module.run(app, assistant, host="127.0.0.1", port=0)  # what serve runs: uvicorn's own handling off
        assert (seen["proxy_headers"], seen["forwarded_allow_ips"]) == (False, None)
        with live_server(app, **uvicorn_options(assistant.settings)) as url, httpx.Client(base_url=url) as client:
            codes = [client.post("/api/search", json={"query": "Golts"},
                                 headers={"X-Forwarded-For": f"10.0.0.{i}"}).status_code for i in range(2)]
        # from a trusted proxy, two forwarded clients get a token each; otherwise one client asked twice
        assert codes == ([200, 200] if proxies else [200, 429])


def test_wrong_admin_tokens_are_limited_per_client_and_then_even_the_right_one_waits(tmp_path, fake_embedder):
    assistant = make_assistant(tmp_path / "index", fake_embedder)
    with live_server(create_app(assistant, admin_token=TOKEN)) as url, httpx.Client(base_url=url) as client:
        other = httpx.Client(base_url=url, transport=httpx.HTTPTransport(local_address="127.0.0.2"))
        guesses = [client.get("/api/feedback", headers=admin(f"guess-{i}")).status_code for i in range(12)]
        assert guesses[:10] == [403] * 10 and guesses[10:] == [429, 429]
        locked = client.get("/api/feedback", headers=admin())
        assert "too many wrong admin tokens" in error_of(locked, 429) and int(locked.headers["Retry-After"]) > 0
        cookie = {"assistant_admin": "guess"}
        assert error_of(client.post("/gradio_api/upload", files={"files": ("a.txt", b"x")}, cookies=cookie), 429)
        with other:
            assert other.get("/api/feedback", headers=admin()).status_code == 200  # another client is not locked


class SlowEmbedder(HashEmbedder):
    def embed(self, texts):
        time.sleep(0.5)
        return super().embed(texts)


def test_a_question_over_the_request_timeout_is_503(tmp_path):
    assistant = make_assistant(tmp_path / "index", SlowEmbedder(), request_timeout=0.1)
    assistant.ingest_articles([GOLTS_ARTICLE])
    with live_server(create_app(assistant, ui=False)) as url, httpx.Client(base_url=url) as client:
        # Not a who-is question: those are answered from the entity index, without the slow embedder.
        message = error_of(client.post("/api/ask", json={"question": "Where is Alexander Golts based?"}), 503)
    assert "took longer than 0.1 s (ASSISTANT_REQUEST_TIMEOUT)" in message


def test_without_an_index_questions_get_503_saying_how_to_build_one(tmp_path, fake_embedder):
    from fastapi.testclient import TestClient

    with TestClient(create_app(make_assistant(tmp_path / "none", fake_embedder), ui=False)) as client:
        assert "build one with `assistant ingest" in error_of(client.post("/api/ask", json={"question": "x?"}), 503)
        streamed = client.post("/api/ask", json={"question": "x?", "stream": True})
        assert "build one with `assistant ingest" in error_of(streamed, 503)
        assert "no index at" in error_of(client.get("/api/health"), 503)
        assert error_of(client.get("/api/articles"), 503)


def test_index_errors_name_no_server_path_except_to_the_admin(tmp_path, fake_embedder):
    from fastapi.testclient import TestClient

    index = tmp_path / "srv" / "index"
    with TestClient(create_app(make_assistant(index, fake_embedder), admin_token=TOKEN, ui=False)) as client:
        for anonymous in (client.get("/api/health"), client.post("/api/ask", json={"question": "x?"}),
                          client.get("/api/articles"), client.get("/api/health", headers=admin("wrong"))):
            message = error_of(anonymous, 503)
            assert str(tmp_path) not in message and "no index at index: build one" in message
        assert f"no index at {index}" in error_of(client.get("/api/health", headers=admin()), 503)


def test_health_refuses_an_index_built_with_other_settings_as_questions_do(tmp_path, fake_embedder):
    from fastapi.testclient import TestClient

    make_assistant(tmp_path / "index", fake_embedder).ingest_articles(
        [Article("golts", "Golts", "Alexander Golts is a military expert.", source="golts.txt")])
    other_chunking = make_assistant(tmp_path / "index", fake_embedder, chunk_tokens=64)

    with TestClient(create_app(other_chunking, ui=False)) as client:
        asked = error_of(client.post("/api/ask", json={"question": "who is Alexander Golts?"}), 503)
        assert error_of(client.get("/api/health"), 503) == asked
    assert "was built with chunking" in asked and "--rebuild" in asked and str(tmp_path) not in asked


# ── pages next to the API ───────────────────────────────────────────────────────────────────


def test_a_browser_asking_for_an_unknown_page_gets_html_and_the_api_keeps_its_json(sample_index, fake_embedder):
    from fastapi.testclient import TestClient

    with TestClient(create_app(make_assistant(sample_index, fake_embedder))) as client:
        page = client.get("/no/such/page", headers={"Accept": "text/html"})
        assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
        assert "<h1>Not found</h1>" in page.text and 'href="../../"' in page.text  # back to the chat
        assert page.headers["x-frame-options"] == "SAMEORIGIN"  # the edge headers stay
        assert error_of(client.get("/api/nope", headers={"Accept": "text/html"}), 404)
        assert error_of(client.get("/no/such/page"), 404)  # a script still gets JSON, in the one error shape


def test_the_article_view_is_an_html_page_and_an_unknown_article_a_404_page(sample_index, fake_embedder):
    from fastapi.testclient import TestClient

    with TestClient(create_app(make_assistant(sample_index, fake_embedder))) as client:
        page = client.get("/articles/russian-volunteers-syria", params={"start": 908, "end": 1065})
        assert page.status_code == 200 and '<mark id="cited">“How can you possibly explain' in page.text
        missing = client.get("/articles/nope")
        assert missing.status_code == 404 and "no article with id &#x27;nope&#x27;" in missing.text


def test_an_upload_goes_into_the_collection_its_form_names(tmp_path, fake_embedder):
    from fastapi.testclient import TestClient

    assistant = make_assistant(tmp_path / "index", fake_embedder)
    with TestClient(create_app(assistant, admin_token=TOKEN, ui=False)) as client:
        note = ("memo.txt", b"Memo\nThe board meets on Tuesday.", "text/plain")
        added = client.post("/api/articles", files={"file": note}, data={"collection": "board"}, headers=admin())
        assert added.status_code == 200 and added.json()["added"] == 1
        assert client.get("/api/articles").json()[0]["collections"] == ["board"]
        bad = client.post("/api/articles", files={"file": note}, data={"collection": "Bad Name"}, headers=admin())
        assert "collection name 'Bad Name' is not valid" in error_of(bad, 400)
