"""The chat's HTML (assistant.serve.html), the article view, the collection panel and the Gradio `/chat`
endpoint, driven by gradio_client."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest

from conftest import live_server, make_assistant
from assistant.serve import html as web
from assistant.serve.middleware import AdminToken
from assistant.types import Answer, Article, Chunk, Citation, Passage

GOLTS = "who is Alexander Golts?"
EVIL = (
    "Made by <img src=x onerror=\"alert('img')\"> and <script>alert('s')</script>, "
    "see [the manual](javascript:alert('link')) or ![m](http://127.0.0.1:9/m.png) **bold** $$x^2$$ https://e.com."
)
ALLOWED_TAGS = {"div", "sup", "span", "a", "mark", "ul", "li", "code", "p", "table", "thead", "tbody", "tr", "th", "td",
                "button", "details", "summary"}
ALLOWED_ATTRIBUTES = {"class", "href", "target", "rel", "type"}
SITE = "https://wiki.example.org/assistant/"


def _answer(text: str, *, title: str = "Russian volunteers", url: str | None = "https://news.example.org/a") -> Answer:
    """An answer citing sentence [10, 10 + len(text)) of a one-chunk article."""
    article_text = f"Preamble. {text} Afterword."
    chunk = Chunk("a-1", 0, 0, len(article_text), article_text)
    quote_start = article_text.index(text)
    citation = Citation(1, "a-1", title, url, chunk.id, text, quote_start, quote_start + len(text))
    passage = Passage(1, chunk, title, url, 0.5)
    return Answer("q?", f"{text.rstrip('.')} [1].", False, (citation,), (passage,))


class _Markup(HTMLParser):
    """Every tag and attribute a browser would build from a string."""

    def __init__(self, markup: str):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text = ""
        self.feed(markup)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text += data


def test_an_answer_links_each_marker_to_its_sentence_and_shows_each_source_with_the_quote_highlighted():
    markup = web.answer_html(_answer("Golts is a Moscow-based military expert."), SITE)

    cited = f"{SITE}articles/a-1?start=10&amp;end=50#cited"
    assert f'<sup><a class="qa-marker" href="{cited}" target="_blank" rel="noopener">[1]</a></sup>' in markup
    assert '<mark class="qa-q-1">Golts is a Moscow&#45;based military expert.</mark>' in markup
    parsed = _Markup(markup)
    assert "Preamble. Golts is a Moscow-based military expert. Afterword." in parsed.text
    assert ("a", {"class": "qa-title", "href": html.unescape(cited), "target": "_blank", "rel": "noopener"}) in parsed.tags
    assert ("a", {"class": "qa-original", "href": "https://news.example.org/a", "target": "_blank",
                  "rel": "noopener noreferrer nofollow"}) in parsed.tags
    assert "a-1 · characters 10–50" in _folded(markup)  # ids and offsets only behind "Details"


def _folded(markup: str) -> str:
    """The text inside the message's <details> toggles."""
    return " ".join(_Markup(m).text for m in re.findall(r"<details.*?</details>", markup))


def test_a_passage_cited_twice_is_one_source_card_with_both_sentences_marked():
    first, second = "Golts is an expert.", "He lives in Moscow."
    text = f"Preamble. {first} {second} Afterword."
    chunk = Chunk("a-1", 0, 0, len(text), text)
    citations = tuple(Citation(n, "a-1", "Volunteers", None, chunk.id, quote, text.index(quote),
                               text.index(quote) + len(quote)) for n, quote in ((1, first), (2, second)))
    answer = Answer("q?", "Golts is an expert [1]. He lives in Moscow [2].", False, citations,
                    (Passage(1, chunk, "Volunteers", None, 0.5),))

    markup = web.answer_html(answer)

    assert markup.count('class="qa-source ') == 1 and 'class="qa-source qa-src-1 qa-src-2"' in markup
    assert '<mark class="qa-q-1">Golts is an expert.</mark> <mark class="qa-q-2">He lives in Moscow.</mark>' in markup
    assert "a-1 · characters 10–29, 30–49" in _folded(markup)


def test_the_answer_travels_with_its_message_as_json_for_copy_export_and_feedback():
    answer = _answer(EVIL)
    data = re.search(r'<span class="qa-data">(.*?)</span>', web.answer_html(answer, SITE)).group(1)

    parsed = json.loads(html.unescape(data))
    assert (parsed["question"], parsed["answer"], parsed["feedback"]) == ("q?", answer.answer, f"{SITE}api/feedback")
    assert parsed["citations"][0]["quote"] == EVIL
    assert parsed["citations"][0]["href"] == f"{SITE}articles/a-1?start=10&end={10 + len(EVIL)}#cited"


def test_article_text_titles_and_urls_cannot_add_markup_or_markdown():
    markup = web.answer_html(_answer(EVIL, title=EVIL, url="javascript:alert('url')"))

    parsed = _Markup(markup)
    assert {tag for tag, _ in parsed.tags} <= ALLOWED_TAGS
    assert all(set(attrs) <= ALLOWED_ATTRIBUTES for _, attrs in parsed.tags)
    # The only links lead to the article view; the article's own url was javascript:.
    assert all(attrs["href"].startswith("articles/a-1") for _, attrs in parsed.tags if "href" in attrs)
    assert EVIL in parsed.text  # shown verbatim, as text
    # Nothing a markdown or LaTeX renderer would act on survives as a raw character.
    assert not set("[]()*_$`!:<>") & set(_raw_text(markup))


def _raw_text(markup: str) -> str:
    """The markup minus its tags and our own markers: what came from the article, as a parser sees it."""
    return re.sub(r"<[^>]*>", "", re.sub(r'<a class="qa-marker"[^>]*>\[\d+\]</a>', "", markup))


@pytest.mark.parametrize("url, href", [
    ("https://example.com/a?b=1&c=2", "https://example.com/a?b=1&amp;c=2"),
    ("http://example.com", "http://example.com"),
    ("javascript:alert(1)", None),
    (" JavaScript:alert(1)", None),
    ("data:text/html,<script>alert(1)</script>", None),
    ("//evil.example.com/x", None),
    ("https:/no-host", None),
    (None, None),
])
def test_only_http_urls_become_links(url, href):
    assert web.safe_href(url) == href


def test_an_abstention_says_so_plainly_and_lists_related_reading_not_sources():
    passage = _answer("Some sentence.").passages[0]
    markup = web.answer_html(Answer("q?", "The indexed articles don't answer this question.", True, (), (passage,)))

    text = _Markup(markup).text
    assert text.startswith("The indexed articles don't answer this question.")
    assert "Related reading (not an answer)" in text and "Sources" not in text
    assert "Preamble. Some sentence. Afterword." in text


def test_related_reading_is_at_most_three_passages_one_per_article():
    def passage(article: str, ordinal: int) -> Passage:
        return Passage(ordinal, Chunk(article, ordinal, 0, 5, f"{article} text {ordinal}"), f"Title {article}", None, 0.1)

    passages = tuple(passage(a, i) for i, a in enumerate("aabcdd"))
    markup = web.answer_html(Answer("q?", "The indexed articles don't answer this question.", True, (), passages))

    assert re.findall(r'class="qa-title"[^>]*>([^<]*)<', markup) == ["Title a", "Title b", "Title c"]


def test_sentences_no_source_supports_and_notes_are_shown_apart_from_the_answer():
    from dataclasses import replace

    answer = replace(_answer("Golts is an expert."), unsupported=("He was born in <b>1950</b>.",),
                     note="the LLM did not answer; this is the offline answer")
    parsed = _Markup(web.answer_html(answer))

    assert "Not supported by the sources" in parsed.text and "He was born in <b>1950</b>." in parsed.text
    assert "Note: the LLM did not answer; this is the offline answer" in parsed.text
    assert web.plain_answer(web.answer_html(answer)) == answer.answer


def test_an_abstention_shows_its_note_too_escaped():
    note = f"Searched for “who is {EVIL}?”."
    answer = Answer("q?", "The indexed articles don't answer this question.", True, note=note)
    markup = web.answer_html(answer)
    parsed = _Markup(markup)

    assert {tag for tag, _ in parsed.tags} <= ALLOWED_TAGS
    assert f"Note: {note}" in parsed.text
    assert web.plain_answer(markup) == answer.answer


def test_the_answer_text_is_recovered_from_a_message_for_follow_up_questions():
    from assistant.serve.ui import turns

    answer = _answer(EVIL)
    history = [
        {"role": "user", "content": GOLTS},
        {"role": "assistant", "content": [{"type": "text", "text": web.answer_html(answer)}]},
        {"role": "user", "content": "and then?"},
    ]

    assert web.plain_answer(web.answer_html(answer)) == answer.answer
    assert [(t.question, t.answer) for t in turns(history)] == [(GOLTS, answer.answer), ("and then?", "")]


def test_the_collection_lists_titles_as_text():
    markup = web.articles_html([{"id": "x<1>", "title": EVIL, "url": "javascript:alert(1)", "chunks": 3}])

    parsed = _Markup(markup)
    assert {tag for tag, _ in parsed.tags} <= ALLOWED_TAGS and EVIL in parsed.text and "x<1>" in parsed.text
    assert "1 article, 3 chunks" in parsed.text


# ── the collection panel ────────────────────────────────────────────────────────────────────


def _handler(page, name: str):
    """The function a page runs for an event, to call as Gradio does on a click."""
    return next(f.fn for f in page.fns.values() if getattr(f.fn, "__name__", "") == name)


def test_without_an_admin_token_the_page_says_which_setting_turns_adding_on(tmp_path, fake_embedder):
    import gradio as gr
    from assistant.serve.ui import chat_page

    page = chat_page(make_assistant(tmp_path / "index", fake_embedder))

    notes = [b.value for b in page.blocks.values() if isinstance(b, gr.Markdown)]
    assert any("with a secret token in `$ASSISTANT_ADMIN_TOKEN`" in note and "`assistant serve`" in note
               for note in notes)


def test_uploaded_files_are_removed_once_read_and_at_most_20_are_taken(tmp_path, fake_embedder):
    from assistant.serve.ui import chat_page

    assistant = make_assistant(tmp_path / "index", fake_embedder)
    ingest = _handler(chat_page(assistant, admin=AdminToken("token")), "ingest")
    upload = tmp_path / "gradio" / "glaciers.txt"  # where Gradio put the browser's file
    upload.parent.mkdir()
    upload.write_text("Glaciers\nThe Jostedal glacier is the largest in continental Europe.\n")

    ingest("token", [str(upload)], "", "", None)

    assert not upload.exists()
    assert [a["id"] for a in assistant.articles()] == ["glaciers"]
    upload.write_text("Glaciers\nThe Jostedal glacier is the largest in continental Europe.\n")
    ingest("token", [str(upload)], "", "polar", None)  # unchanged: moved into the collection typed
    assert [a["collections"] for a in assistant.articles()] == [["polar"]]
    status, *_ = ingest("token", [str(upload)] * 21, "", "", None)
    assert _Markup(status).text == "Choose at most 20 files at once."


def test_adding_uploads_none_of_which_can_be_read_says_why_and_creates_no_index(tmp_path, fake_embedder):
    from assistant.serve.ui import chat_page

    assistant = make_assistant(tmp_path / "index", fake_embedder)
    ingest = _handler(chat_page(assistant, admin=AdminToken("token")), "ingest")
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n")

    status, *_ = ingest("token", [str(empty)], "", "", None)

    assert _Markup(status).text == "empty.txt: empty file"
    assert not assistant.index.exists()


def test_a_wrong_token_is_one_message_and_nothing_else_changes(tmp_path, fake_embedder):
    from assistant.serve.ui import chat_page

    page = chat_page(make_assistant(tmp_path / "index", fake_embedder), admin=AdminToken("token"))

    upload = tmp_path / "a.txt"
    upload.write_text("Some text.")
    status, files, url = _handler(page, "ingest")("guess", [str(upload)], "", "", None)
    assert "Wrong admin token" in _Markup(status).text
    assert files == url == {"__type__": "update"}  # gr.skip(): the other widgets stay as they were
    assert upload.exists()


def test_removing_asks_first_and_then_says_what_it_removed(tmp_path, fake_embedder):
    from assistant.serve.ui import chat_page

    assistant = make_assistant(tmp_path / "index", fake_embedder)
    assistant.ingest_articles([Article("golts", "Golts", "Alexander Golts is an expert.", source="golts.txt"),
                               Article("assad", "Assad", "Bashar al-Assad is president.", source="assad.txt")])
    page = chat_page(assistant, admin=AdminToken("token"))

    _, confirm, question = _handler(page, "ask_first")("token", ["golts"], None)
    assert confirm["visible"] is True and "Remove 1 article and its chunks" in _Markup(question).text
    assert [r["id"] for r in assistant.articles()] == ["golts", "assad"]  # nothing removed yet

    status, confirm = _handler(page, "drop")("token", ["golts"], None)
    assert _Markup(status).text.startswith("Removed 1 article: Golts (golts); chunks left in the index: 1.")
    assert confirm["visible"] is False and [r["id"] for r in assistant.articles()] == ["assad"]


def test_the_collection_is_searched_by_title_or_id_and_sorted():
    from assistant.serve.ui import search_articles

    rows = [{"id": "b-golts", "title": "Golts speaks", "chunks": 1}, {"id": "a-syria", "title": "Syria war", "chunks": 3},
            {"id": "c", "title": "Golts in Syria", "chunks": 2}]

    assert [r["id"] for r in search_articles(rows, "golts")] == ["c", "b-golts"]  # by title
    assert [r["id"] for r in search_articles(rows, "SYRIA golts")] == ["c"]
    assert [r["id"] for r in search_articles(rows, "a-syr")] == ["a-syria"]
    assert [r["id"] for r in search_articles(rows, "", "Most chunks")] == ["a-syria", "c", "b-golts"]


# ── the article view ────────────────────────────────────────────────────────────────────────


def test_the_article_view_shows_the_whole_article_with_the_cited_sentence_marked_and_its_metadata():
    article = Article("a-1", EVIL, f"Preamble. {EVIL} Afterword.", url="https://news.example.org/a",
                      published="2019-05-02", author="Jane <Doe>")
    start = article.text.index(EVIL)

    page = web.article_page(article, start, start + len(EVIL), home="../")

    parsed = _Markup(page)
    assert f'<mark id="cited">{html.escape(EVIL)}</mark>' in page
    assert "<script>" not in page.replace("<script>alert", "")  # the title and text are escaped
    assert not any(tag in {"img", "script"} for tag, _ in parsed.tags)
    assert "Jane <Doe> · 2019-05-02" in parsed.text and ("a", {"href": "https://news.example.org/a",
                                                             "rel": "noopener noreferrer nofollow"}) in parsed.tags


def test_the_article_view_says_when_a_citation_no_longer_fits_the_article():
    article = Article("a-1", "Title", "Short now.")

    page = web.article_page(article, 5, 500, home="../")

    assert "<mark" not in page and "The cited passage is no longer at this place" in page


# ── the /chat endpoint, as a Python program uses it ─────────────────────────────────────────




@pytest.fixture(scope="module")
def chat_url(sample_index, real_embedder) -> Iterator[str]:
    from assistant.serve.api import create_app

    with live_server(create_app(make_assistant(sample_index, real_embedder))) as url:
        yield url


@pytest.mark.slow
def test_gradio_client_gets_the_cited_answer_from_chat(chat_url):
    from gradio_client import Client

    message = Client(chat_url, verbose=False).predict(GOLTS, api_name="/chat")

    assert "Alexander Golts is a Moscow&#45;based military expert" in message
    # Absolute links: Gradio's web component shows this message inside a wiki's own page.
    assert re.search(rf'<a class="qa-marker" href="{chat_url}/articles/russian-volunteers-syria\?start=\d+&amp;end=\d+#cited"',
                     message)
    assert "says Alexander Golts, a Moscow&#45;based military expert.</mark>" in message
    assert web.plain_answer(message).startswith("Alexander Golts is a Moscow-based military expert [1].")


@pytest.mark.slow
def test_the_chat_is_rate_limited_per_client(sample_index, real_embedder):
    from gradio_client import Client

    from assistant.serve.api import create_app

    assistant = make_assistant(sample_index, real_embedder, rate_limit=1, rate_limit_burst=1)
    with live_server(create_app(assistant)) as url:
        client = Client(url, verbose=False)
        client.predict(GOLTS, api_name="/chat")
        refused = client.predict(GOLTS, api_name="/chat")  # a message in the chat: an error would disable it

    assert re.fullmatch(r"Too many questions from this address; ask again in \d+ s\.", _Markup(refused).text)


@pytest.mark.slow
def test_an_empty_question_over_chat_gets_the_hint_and_the_next_question_an_answer(chat_url):
    from gradio_client import Client

    client = Client(chat_url, verbose=False)
    for empty in ("", "   \n "):
        assert _Markup(client.predict(empty, api_name="/chat")).text == "Type a question about the articles first."
    assert "Alexander Golts is a Moscow&#45;based military expert" in client.predict(GOLTS, api_name="/chat")


@pytest.mark.slow
def test_without_an_index_the_chat_says_so_without_the_servers_paths(tmp_path, fake_embedder):
    from gradio_client import Client

    from assistant.serve.api import create_app

    with live_server(create_app(make_assistant(tmp_path / "srv" / "index", fake_embedder))) as url:
        said = _Markup(Client(url, verbose=False).predict(GOLTS, api_name="/chat")).text
        article = httpx.get(f"{url}/articles/golts")

    assert said.startswith("no index at index: build one") and str(tmp_path) not in said
    assert article.status_code == 503 and str(tmp_path) not in article.text


def test_the_page_queues_poll_for_work_every_20_ms_not_every_1_ms(tmp_path, fake_embedder):
    from assistant.serve.ui import QUEUE_POLL_S, chat_page, embed_page

    assistant = make_assistant(tmp_path / "index", fake_embedder)
    for page in (chat_page(assistant), embed_page(assistant)):
        # Gradio's internals, checked here so that an upgrade which renames them fails this test.
        assert (page._queue.sleep_when_free, page._queue.progress_update_sleep_when_free) == QUEUE_POLL_S == (0.02, 0.1)


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads CPU time from /proc")
def test_an_idle_server_uses_almost_no_cpu(tmp_path):
    """Was 5.7% of a core (20 s, loaded machine) with Gradio's 1 ms queue polling; about 1% since."""
    import os
    import socket
    import subprocess
    import sys
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "ASSISTANT_INDEX": str(tmp_path / "none"), "HF_HUB_OFFLINE": "1"}
    server = subprocess.Popen([sys.executable, "-m", "assistant", "serve", "--port", str(port)],
                              cwd=Path(__file__).parent.parent, env=env, stderr=subprocess.DEVNULL)

    def cpu_seconds() -> float:
        utime, stime = Path(f"/proc/{server.pid}/stat").read_text().rsplit(")", 1)[1].split()[11:13]
        return (int(utime) + int(stime)) / os.sysconf("SC_CLK_TCK")

    try:
        deadline = time.monotonic() + 180
        while True:
            assert server.poll() is None and time.monotonic() < deadline, "the server did not start"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/", timeout=5).status_code == 200:  # the page, as a reader loads it
                    break
            except httpx.TransportError:
                time.sleep(0.5)
        time.sleep(2)  # let start-up work settle
        began, used = time.monotonic(), cpu_seconds()
        time.sleep(6)
        share = (cpu_seconds() - used) / (time.monotonic() - began)
    finally:
        server.terminate()
        server.wait(30)
    assert share < 0.03, f"{share:.1%} of a core while idle"


def test_the_admin_page_adds_syncs_and_stops_a_source_with_the_token_only(tmp_path, fake_embedder):
    from assistant.serve.ui import chat_page

    page = chat_page(make_assistant(tmp_path / "index", fake_embedder), admin=AdminToken("token"))
    add, sync, stop = (_handler(page, name) for name in ("add_a_source", "sync_a_source", "stop_a_source"))

    assert "Wrong admin token" in _Markup(add("guess", "https://news.example.org/feed.xml", "1h", None)).text
    added = _Markup(add("token", "https://news.example.org/feed.xml", "30m", None)).text
    assert "Added source 1" in added and "news.example.org/feed.xml" in added and "every 30 min" in added
    assert "command line only" in _Markup(add("token", str(tmp_path), "1h", None)).text  # no server folders
    assert "enter the id of a source first" in _Markup(sync("token", None, None)).text
    # A loopback feed is refused by the fetch guard: the run says so, and the page shows the run.
    add("token", "http://127.0.0.1:9/feed.xml", "1h", None)
    synced = _Markup(sync("token", 2, None)).text
    assert synced.startswith("Source 2: added 0") and "127.0.0.1:9/feed.xml" in synced
    stopped = _Markup(stop("token", 1, None)).text
    assert "Source 1 is no longer synced" in stopped and "news.example.org" not in stopped
