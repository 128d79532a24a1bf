"""The leak suite: with a public collection and two restricted ones, alpha and bravo, a reader of
alpha never receives a word, title, id, count, respelling or citation that only bravo holds, through
any route or the chat, with the offline answerer or an LLM; identity headers count only from a
trusted proxy; a revoked or expired token reads nothing restricted.

Each test first shows that the admin, asking the same, does get bravo's text: the question reaches
it, so its absence for the reader is the filter's doing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest
from conftest import live_server, make_assistant
from fakes import HashEmbedder
from llm_server import Reply, ScriptedServer

from assistant.types import Article

ADMIN = "access-admin-token"
PUBLIC = Article("golts", "Golts profile", "Alexander Golts is a Moscow-based military expert. "
                 "Golts writes about the army and its budget.", source="golts.txt")
ALPHA = Article("alpha-plan", "Alpha plan", "The Quasar project budget was approved by Golts in May. "
                "The Quasar merger costs four million roubles. Ivo Brandt, an auditor, checked the figures.",
                 source="alpha.txt")
BRAVO = Article("bravo-memo", "Bravo memo", "The Zephyrine merger was signed by Golts in June. "
                "The Zephyrine merger pays nine million roubles. Ivo Brandt, the treasurer, signed the memo.",
                 source="bravo.txt")
# What only bravo holds: its rare word, its id and title, and what counting it would show.
SECRETS = ("zephyrine", "bravo-memo", "bravo memo", "nine million", "treasurer")
QUESTION = "Which merger did Golts sign, and what does the merger pay?"  # reaches bravo: "merger", "pays"
TEAM_HEADERS = {"X-Forwarded-User": "ann", "X-Forwarded-Groups": "staff, team-alpha"}


def leaked(text: str) -> list[str]:
    return [s for s in SECRETS if s in text.lower()]


def build(root, **settings):
    """The three collections, a token for alpha and the group that reads it."""
    assistant = make_assistant(root / "index", HashEmbedder(), rate_limit=0, admin_token=ADMIN,
                               group_collections={"team-alpha": ["alpha"], "user:carl": ["alpha"]}, **settings)
    assistant.ingest_articles([PUBLIC])
    assistant.ingest_articles([ALPHA], collection="alpha")
    assistant.ingest_articles([BRAVO], collection="bravo")
    assistant.restrict("alpha")
    assistant.restrict("bravo")
    return assistant


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[tuple[httpx.Client, dict]]:
    """A live server (chat pages included) whose proxy is 127.0.0.1; 127.0.0.2 is any other client."""
    from assistant.serve.api import create_app

    assistant = build(tmp_path_factory.mktemp("access"), trusted_proxies=["127.0.0.1"])
    _, alpha = assistant.create_token(["alpha"])
    revoked_token, revoked = assistant.create_token(["alpha", "bravo"])
    assistant.revoke_token(revoked_token.id)
    _, expired = assistant.create_token(["bravo"], "1m")
    with assistant.access._db() as db:  # an expiry in the past, without waiting a minute
        db.execute("UPDATE tokens SET expires = '2020-01-01T00:00:00Z' WHERE collections LIKE '%bravo%'")
    tokens = {"alpha": alpha, "revoked": revoked, "expired": expired}
    with live_server(create_app(assistant)) as url, httpx.Client(base_url=url, timeout=60) as client:
        yield client, tokens


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def api_texts(client: httpx.Client, headers: dict, question: str = QUESTION) -> dict[str, str]:
    """Every API route a reader can call, as text: ask (plain, streamed, as a follow-up), search, articles, health."""
    history = [{"question": "who is Golts?", "answer": "Alexander Golts is a Moscow-based military expert [1]."}]
    out = {
        "ask": client.post("/api/ask", json={"question": question}, headers=headers).text,
        "stream": client.post("/api/ask", json={"question": question, "stream": True}, headers=headers).text,
        "follow-up": client.post("/api/ask", json={"question": "which merger did he sign?", "history": history},
                                 headers=headers).text,
        "search": client.post("/api/search", json={"query": question, "top_k": 10}, headers=headers).text,
        "articles": client.get("/api/articles", headers=headers).text,
        "health": client.get("/api/health", headers=headers).text,
    }
    for name in ("ask", "search"):  # narrowing to bravo by name gives nothing either
        body = {"question": question} if name == "ask" else {"query": question}
        out[f"{name} bravo"] = client.post(f"/api/{name}", json={**body, "collection": "bravo"}, headers=headers).text
    return out


def chat_text(client: httpx.Client, headers: dict, mount: str = "", question: str = QUESTION, query: str = "") -> str:
    """The chat's answer (Gradio's named endpoint, as its page calls it) as the server streamed it."""
    started = client.post(f"{mount}/gradio_api/call/chat{query}", json={"data": [question, []]}, headers=headers)
    assert started.status_code == 200, started.text
    event = started.json()["event_id"]
    lines: list[str] = []
    with client.stream("GET", f"{mount}/gradio_api/call/chat/{event}", headers=headers, timeout=60) as stream:
        for line in stream.iter_lines():
            lines.append(line)
            if len(lines) > 1 and lines[-2].startswith(("event: complete", "event: error")):
                break
    return "\n".join(lines)


def counts(client: httpx.Client, headers: dict) -> tuple[int, int]:
    health = client.get("/api/health", headers=headers).json()
    return health["articles"], health["index"]["articles"]


def test_the_admin_reaches_bravo_with_the_same_questions(site):
    client, _ = site
    texts = api_texts(client, bearer(ADMIN))
    assert all(leaked(texts[name]) for name in ("ask", "stream", "search", "articles"))
    assert leaked(chat_text(client, bearer(ADMIN)))
    assert counts(client, bearer(ADMIN)) == (3, 3)


@pytest.mark.parametrize("who", ["token", "group", "user", "anonymous"])
def test_a_reader_of_alpha_receives_nothing_only_bravo_holds_through_any_route(site, who):
    client, tokens = site
    headers = {"token": bearer(tokens["alpha"]), "group": TEAM_HEADERS, "user": {"X-Forwarded-User": "carl"},
               "anonymous": {}}[who]
    texts = api_texts(client, headers)
    assert {name: leaked(text) for name, text in texts.items() if leaked(text)} == {}
    readable = 2 if who != "anonymous" else 1
    assert counts(client, headers) == (readable, readable)
    found = {p["article_id"] for p in json.loads(texts["search"])["passages"]}
    assert found == ({"golts", "alpha-plan"} if who != "anonymous" else {"golts"})  # alpha through token or group
    assert json.loads(texts["search bravo"])["passages"] == []


@pytest.mark.parametrize("mount", ["", "/embed"])
def test_the_chats_answer_a_reader_of_alpha_from_what_it_may_read(site, mount):
    client, tokens = site
    for headers in (bearer(tokens["alpha"]), TEAM_HEADERS, {}):
        assert leaked(chat_text(client, headers, mount)) == []
    assert leaked(chat_text(client, bearer(ADMIN), mount))
    narrowed = chat_text(client, bearer(ADMIN), mount, query="?collection=alpha")  # /embed/?collection=alpha
    assert leaked(narrowed) == [] and "alpha-plan" in narrowed


@pytest.mark.parametrize("who", ["token", "group", "anonymous"])
def test_a_profile_holds_only_what_the_reader_may_read(site, who):
    """Ivo Brandt is an auditor in alpha and the treasurer in bravo: a reader of alpha meets the auditor."""
    client, tokens = site
    headers = {"token": bearer(tokens["alpha"]), "group": TEAM_HEADERS, "anonymous": {}}[who]
    admin = client.get("/api/entities", params={"q": "Brandt"}, headers=bearer(ADMIN)).json()
    assert [(e["id"], e["articles"]) for e in admin] == [("ivo-brandt", 2)]
    assert "treasurer" in client.get("/api/entities/ivo-brandt", headers=bearer(ADMIN)).text
    found = client.get("/api/entities", params={"q": "Brandt"}, headers=headers).json()
    profile = client.get("/api/entities/ivo-brandt", headers=headers)
    page = client.get("/entities/ivo-brandt", headers={"Accept": "text/html", **headers})
    texts = {"entities": json.dumps(found), "profile": profile.text, "page": page.text,
             "ask": client.post("/api/ask", json={"question": "who is Ivo Brandt?"}, headers=headers).text,
             "chat": chat_text(client, headers, question="who is Ivo Brandt?")}
    assert {name: leaked(text) for name, text in texts.items() if leaked(text)} == {}
    if who == "anonymous":  # no article it may read names him: as if no one did
        missing = client.get("/entities/ivo-brandx", headers={"Accept": "text/html"})
        assert found == [] and profile.status_code == page.status_code == missing.status_code == 404
        assert page.text.replace("ivo-brandt", "ID") == missing.text.replace("ivo-brandx", "ID")
    else:
        assert [(e["id"], e["articles"]) for e in found] == [("ivo-brandt", 1)]
        assert "an auditor" in profile.json()["descriptions"][0]["text"] and "auditor" in texts["chat"]


def test_a_question_is_never_respelled_toward_a_word_only_bravo_holds(site):
    client, tokens = site
    question = "What does the Zephirine merger pay?"  # one letter off bravo's word
    admin = client.post("/api/ask", json={"question": question}, headers=bearer(ADMIN)).json()
    assert "Zephyrine" in (admin["note"] or "")  # respelled as bravo spells it
    for headers in (bearer(tokens["alpha"]), TEAM_HEADERS, {}):
        answer = client.post("/api/ask", json={"question": question}, headers=headers).text
        assert leaked(answer) == []
        assert leaked(chat_text(client, headers, question=question)) == []


def test_a_restricted_article_is_not_found_word_for_word_as_a_missing_one(site):
    client, tokens = site
    page = {"Accept": "text/html"}
    assert client.get("/articles/bravo-memo", headers={**page, **bearer(ADMIN)}).status_code == 200
    for headers in (bearer(tokens["alpha"]), TEAM_HEADERS, {}):
        hidden = client.get("/articles/bravo-memo", headers={**page, **headers})
        missing = client.get("/articles/bravo-memx", headers={**page, **headers})
        assert hidden.status_code == missing.status_code == 404
        assert hidden.text.replace("bravo-memo", "ID") == missing.text.replace("bravo-memx", "ID")
    assert client.get("/articles/alpha-plan", headers={**page, **bearer(tokens["alpha"])}).status_code == 200
    assert client.get("/articles/alpha-plan", headers=page).status_code == 404


def test_identity_headers_from_an_untrusted_address_are_ignored(site):
    client, _ = site
    with httpx.Client(base_url=str(client.base_url), timeout=60,
                      transport=httpx.HTTPTransport(local_address="127.0.0.2")) as other:
        spoofed = {**TEAM_HEADERS, "X-Forwarded-Groups": "team-alpha,team-bravo"}
        found = {p["article_id"] for p in other.post("/api/search", json={"query": QUESTION, "top_k": 10},
                                                      headers=spoofed).json()["passages"]}
        assert found == {"golts"}
        assert counts(other, spoofed) == (1, 1)
        assert "alpha-plan" not in chat_text(other, spoofed)
    trusted = {p["article_id"] for p in client.post("/api/search", json={"query": QUESTION, "top_k": 10},
                                                     headers=TEAM_HEADERS).json()["passages"]}
    assert trusted == {"golts", "alpha-plan"}  # the same headers from the proxy's address count


@pytest.mark.parametrize("kind", ["revoked", "expired"])
def test_a_revoked_or_expired_token_reads_nothing_restricted(site, kind):
    client, tokens = site
    headers = bearer(tokens[kind])
    for response in (client.post("/api/search", json={"query": QUESTION}, headers=headers),
                     client.post("/api/ask", json={"question": QUESTION}, headers=headers),
                     client.get("/api/articles", headers=headers)):
        assert response.status_code == 401
        assert "read token is unknown, revoked or expired" in response.json()["error"]["message"]
        assert leaked(response.text) == [] and "alpha-plan" not in response.text
    assert leaked(chat_text(client, headers)) == []
    page = client.get("/articles/bravo-memo", headers={"Accept": "text/html", **headers})
    assert page.status_code == 401 and leaked(page.text.replace("bravo-memo", "")) == []


def test_the_llm_is_prompted_with_readable_passages_only(tmp_path):
    from fastapi.testclient import TestClient

    from assistant.serve.api import create_app

    with ScriptedServer() as llm:
        llm.script(Reply("Golts approved a budget [1]."))
        assistant = build(tmp_path, llm="openai", llm_base_url=llm.openai_url, llm_model="scripted")
        _, alpha = assistant.create_token(["alpha"])
        with TestClient(create_app(assistant, ui=False)) as client:
            client.post("/api/ask", json={"question": QUESTION}, headers=bearer(ADMIN))
            assert leaked(json.dumps(llm.requests))  # the admin's prompt holds bravo's passage
            llm.requests.clear()
            texts = {name: text for name, text in api_texts(client, bearer(alpha)).items()
                     if name in ("ask", "stream", "follow-up", "ask bravo")}
        assert llm.requests and leaked(json.dumps(llm.requests)) == []
        assert {name: leaked(text) for name, text in texts.items() if leaked(text)} == {}
        assert "Quasar" in json.dumps(llm.requests)  # alpha's passage reached the model


def test_an_expiring_token_works_until_it_expires(tmp_path):
    assistant = build(tmp_path)
    _, secret = assistant.create_token(["alpha"], "1m")
    assert assistant.access.grants(secret) == frozenset({"alpha"})
    assistant.access.clock = lambda: time.time() + 61
    assert assistant.access.grants(secret) is None


def test_the_collection_tab_lists_only_what_the_reader_may_read(tmp_path):
    from gradio import Request as GradioRequest
    from starlette.requests import Request

    from assistant.serve.middleware import AdminToken
    from assistant.serve.ui import chat_page

    assistant = build(tmp_path)
    _, alpha = assistant.create_token(["alpha"])
    page = chat_page(assistant, admin=AdminToken(ADMIN))
    listing = next(f.fn for f in page.fns.values() if getattr(f.fn, "__name__", "") == "listing")

    def shown(headers: dict) -> str:
        scope = {"type": "http", "method": "POST", "path": "/gradio_api/queue/join", "query_string": b"",
                 "client": ("10.0.0.7", 1), "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]}
        table, _ = listing("", "Title", GradioRequest(request=Request(scope)))
        return table

    assert leaked(shown(bearer(ADMIN)))
    reader = shown(bearer(alpha))
    assert leaked(reader) == [] and "alpha-plan" in reader
    assert leaked(shown({})) == [] and "alpha-plan" not in shown({})


def test_the_admin_s_page_cookie_reads_everything_as_the_token_does(site):
    client, _ = site
    with httpx.Client(base_url=str(client.base_url), timeout=60) as browser:
        assert leaked(browser.get("/api/articles").text) == []
        browser.cookies.set("assistant_admin", "forged")
        assert leaked(browser.get("/api/articles").text) == []
        browser.cookies.clear()
        assert browser.post("/api/admin/session", headers=bearer(ADMIN)).status_code == 204  # unlocks the page
        assert leaked(browser.get("/api/articles").text)
        assert leaked(chat_text(browser, {}))
