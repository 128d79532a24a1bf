"""The chat's HTML (assistant.web) and the Gradio `/chat` endpoint, driven by gradio_client."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser

import pytest

from conftest import live_server, make_assistant
from assistant import web
from assistant.types import Answer, Chunk, Citation, Passage

GOLTS = "who is Alexander Golts?"
EVIL = (
    "Made by <img src=x onerror=\"alert('img')\"> and <script>alert('s')</script>, "
    "see [the manual](javascript:alert('link')) or ![m](http://127.0.0.1:9/m.png) **bold** $$x^2$$ https://e.com."
)
ALLOWED_TAGS = {"div", "sup", "span", "a", "mark", "ul", "li", "code", "p", "table", "thead", "tbody", "tr", "th", "td"}
ALLOWED_ATTRIBUTES = {"class", "href", "target", "rel"}


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


def test_an_answer_shows_its_markers_and_each_source_with_the_quote_highlighted_in_its_passage():
    markup = web.answer_html(_answer("Golts is a Moscow-based military expert."))

    assert '<sup class="qa-marker">[1]</sup>' in markup
    assert '<mark>Golts is a Moscow&#45;based military expert.</mark>' in markup
    parsed = _Markup(markup)
    assert "Preamble. Golts is a Moscow-based military expert. Afterword." in parsed.text
    assert ("a", {"class": "qa-title", "href": "https://news.example.org/a", "target": "_blank",
                  "rel": "noopener noreferrer nofollow"}) in parsed.tags
    assert "a-1 · characters 10–50" in parsed.text


def test_article_text_titles_and_urls_cannot_add_markup_or_markdown():
    markup = web.answer_html(_answer(EVIL, title=EVIL, url="javascript:alert('url')"))

    parsed = _Markup(markup)
    assert {tag for tag, _ in parsed.tags} <= ALLOWED_TAGS
    assert all(set(attrs) <= ALLOWED_ATTRIBUTES for _, attrs in parsed.tags)
    assert not any("href" in attrs for _, attrs in parsed.tags)  # the only url was javascript:
    assert EVIL in parsed.text  # shown verbatim, as text
    # Nothing a markdown or LaTeX renderer would act on survives as a raw character.
    assert not set("[]()*_$`!:<>") & set(_raw_text(markup))


def _raw_text(markup: str) -> str:
    """The markup minus its tags and our own markers: what came from the article, as a parser sees it."""
    return re.sub(r"<[^>]*>", "", re.sub(r'<sup class="qa-marker">\[\d+\]</sup>', "", markup))


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


def test_sentences_no_source_supports_and_notes_are_shown_apart_from_the_answer():
    from dataclasses import replace

    answer = replace(_answer("Golts is an expert."), unsupported=("He was born in <b>1950</b>.",),
                     note="the LLM did not answer; this is the offline answer")
    parsed = _Markup(web.answer_html(answer))

    assert "Not supported by the sources" in parsed.text and "He was born in <b>1950</b>." in parsed.text
    assert "Note: the LLM did not answer; this is the offline answer" in parsed.text
    assert web.plain_answer(web.answer_html(answer)) == answer.answer


def test_the_answer_text_is_recovered_from_a_message_for_follow_up_questions():
    from assistant.ui import turns

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


def test_without_an_admin_token_the_page_says_how_to_turn_adding_on_for_either_way_of_starting(tmp_path, fake_embedder):
    import gradio as gr
    from assistant.ui import chat_page

    page = chat_page(make_assistant(tmp_path / "index", fake_embedder))

    notes = [b.value for b in page.blocks.values() if isinstance(b, gr.Markdown)]
    assert any("`make run` (app.py) with a secret token in `$ASSISTANT_ADMIN_TOKEN`" in note  # what app.py reads
               and "`assistant serve --admin-token-env NAME`" in note for note in notes)


def test_uploaded_files_are_removed_once_read_and_at_most_20_are_taken(tmp_path, fake_embedder):
    import gradio as gr
    from assistant.ui import chat_page

    assistant = make_assistant(tmp_path / "index", fake_embedder)
    ingest = _handler(chat_page(assistant, admin_token="token"), "ingest")
    upload = tmp_path / "gradio" / "glaciers.txt"  # where Gradio put the browser's file
    upload.parent.mkdir()
    upload.write_text("Glaciers\nThe Jostedal glacier is the largest in continental Europe.\n")

    ingest("token", [str(upload)], "")

    assert not upload.exists()
    assert [a["id"] for a in assistant.articles()] == ["glaciers"]
    with pytest.raises(gr.Error, match="at most 20 files"):
        ingest("token", [str(upload)] * 21, "")


def test_adding_uploads_none_of_which_can_be_read_is_an_error_and_creates_no_index(tmp_path, fake_embedder):
    import gradio as gr
    from assistant.ui import chat_page

    assistant = make_assistant(tmp_path / "index", fake_embedder)
    ingest = _handler(chat_page(assistant, admin_token="token"), "ingest")
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n")

    with pytest.raises(gr.Error) as refused:
        ingest("token", [str(empty)], "")

    assert refused.value.message == "empty.txt: empty file"
    assert not assistant.index.exists()


# ── the /chat endpoint, as a Python program uses it ─────────────────────────────────────────




@pytest.fixture(scope="module")
def chat_url(sample_index, real_embedder) -> Iterator[str]:
    from assistant.api import create_app

    with live_server(create_app(make_assistant(sample_index, real_embedder))) as url:
        yield url


@pytest.mark.slow
def test_gradio_client_gets_the_cited_answer_from_chat(chat_url):
    from gradio_client import Client

    message = Client(chat_url, verbose=False).predict(GOLTS, api_name="/chat")

    assert "Alexander Golts is a Moscow&#45;based military expert" in message
    assert '<sup class="qa-marker">[1]</sup>' in message
    assert "says Alexander Golts, a Moscow&#45;based military expert.</mark>" in message
    assert web.plain_answer(message).startswith("Alexander Golts is a Moscow-based military expert [1].")


@pytest.mark.slow
def test_the_chat_is_rate_limited_per_client(sample_index, real_embedder):
    from gradio_client import Client

    from assistant.api import create_app

    assistant = make_assistant(sample_index, real_embedder, rate_limit=1, rate_limit_burst=1)
    with live_server(create_app(assistant)) as url:
        client = Client(url, verbose=False)
        client.predict(GOLTS, api_name="/chat")
        with pytest.raises(Exception, match=r"Too many questions from this address; ask again in \d+ s"):
            client.predict(GOLTS, api_name="/chat")


@pytest.mark.slow
def test_gradio_client_gets_a_readable_error_not_a_stack_trace(chat_url):
    from gradio_client import Client

    with pytest.raises(Exception) as caught:
        Client(chat_url, verbose=False).predict("   ", api_name="/chat")

    assert "the question is empty" in str(caught.value)
    assert "Traceback" not in str(caught.value)
