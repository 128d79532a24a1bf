"""The pages in a real browser: Debian's Chromium driven by Playwright, against a real server.

Screenshots go to tests/artifacts/ (not in git) for a person to look at: `desktop-*` at 1280x800,
`sidebar-*` in a 400x600 wiki frame, `phone-*` at 390x844.
"""

from __future__ import annotations

import http.server
import json
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conftest import live_server, make_assistant
from assistant.serve.api import create_app

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
pytestmark = [
    pytest.mark.slow, pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is missing (make chromium)"),
]

TOKEN = "browser-admin-token-9c2e"
WEB = Path(__file__).parent / "data" / "web"
ARTIFACTS = Path(__file__).parent / "artifacts"
GOLTS = "who is Alexander Golts?"
LIGHT = "How far can the light be seen?"
TIMEOUT = 30_000  # ms; answers take well under a second, a loaded CI machine may be slow to paint
DESKTOP, SIDEBAR, PHONE = {"width": 1280, "height": 800}, {"width": 400, "height": 600}, {"width": 390, "height": 844}


class Wiki(http.server.ThreadingHTTPServer):
    """A static wiki serving the pages in tests/data/web: / is wiki.html, which frames /embed/."""

    assistant_url = ""

    def __init__(self):
        wiki = self

        class Page(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                page = WEB / (self.path.strip("/") or "wiki.html")
                if page.suffix != ".html" or page.parent != WEB or not page.exists():
                    self.send_error(404)
                    return
                body = page.read_text().replace("ASSISTANT_URL", wiki.assistant_url).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", 0), Page)

    @property
    def port(self) -> int:
        return self.server_address[1]


@pytest.fixture(scope="module")
def wiki() -> Iterator[Wiki]:
    with Wiki() as site:
        threading.Thread(target=site.serve_forever, daemon=True).start()
        yield site
        site.shutdown()


@pytest.fixture(scope="module")
def index(sample_index, tmp_path_factory) -> Path:
    index = tmp_path_factory.mktemp("browser") / "index"
    shutil.copytree(sample_index, index)
    return index


@pytest.fixture(scope="module")
def app_url(index, real_embedder, wiki) -> Iterator[str]:
    """The assistant, embeddable by the wiki's origin, with the XSS and lighthouse articles added through the admin API."""
    assistant = make_assistant(index, real_embedder, embed_origins=[f"http://127.0.0.1:{wiki.port}"])
    with live_server(create_app(assistant, admin_token=TOKEN)) as url:
        wiki.assistant_url = url
        for article in (WEB / "xss-article.md", WEB / "lighthouse.txt"):
            report = httpx.post(f"{url}/api/articles", files={"file": (article.name, article.read_bytes())},
                                headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60)
            assert report.json()["added"] == 1, report.text
        yield url


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def new_page(browser):
    """Fresh pages (own storage, given viewport) that record every dialog: an alert() fired by article text lands there."""
    contexts = []

    def make(viewport=None, **options):
        context = browser.new_context(viewport=viewport or {"width": 1200, "height": 900}, **options)
        context.set_default_timeout(TIMEOUT)
        contexts.append(context)
        page = context.new_page()
        page.dialogs = []
        page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
        return page

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page):
    return new_page()


def screenshot(page, name: str, *, full_page: bool = True) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full_page)


def ask(where, question: str):
    """Type a question into the chat (a page or a frame) and return the finished answer message."""
    before = where.locator(".qa").count()
    box = where.locator(".qa-question textarea")
    box.fill(question)
    box.press("Enter")
    return finished(where, before)


def finished(where, before: int):
    """The answer message after the first `before` ones, once its sources or related reading are in."""
    from playwright.sync_api import expect

    message = where.locator(".qa").nth(before)
    expect(message.locator(".qa-sources, .qa-related").first).to_be_visible()
    return message


def test_asking_an_example_question_shows_the_cited_answer_and_its_highlighted_source(page, app_url):
    from playwright.sync_api import expect

    page.goto(app_url)
    page.locator("button.example", has_text=GOLTS).click()
    message = finished(page, 0)

    expect(message.locator(".qa-answer")).to_have_text(re.compile(r"^Alexander Golts is a Moscow-based military expert \[1\]\."))
    expect(message.locator(".qa-marker").first).to_have_text("[1]")
    source = message.locator(".qa-source").first
    expect(source.locator(".qa-n")).to_have_text("1")
    expect(source.locator(".qa-id")).to_be_hidden()  # ids and offsets wait behind "Details"
    source.get_by_text("Details").click()
    expect(source.locator(".qa-id")).to_contain_text("russian-volunteers-syria · characters")
    expect(source.locator("mark").first).to_have_text(re.compile(r"says Alexander Golts, a Moscow-based military expert\.$"))
    expect(source.locator(".qa-passage")).to_contain_text("Would-be fighters")  # the quote sits inside its passage
    assert source.locator("mark").first.evaluate("m => getComputedStyle(m).backgroundColor") == "rgb(253, 230, 138)"
    screenshot(page, "chat-golts")


def test_a_follow_up_uses_the_conversation_and_clear_starts_over(page, app_url):
    from playwright.sync_api import expect

    page.goto(app_url)
    ask(page, GOLTS)
    follow_up = ask(page, "what does he ask about fighting for Assad?")

    expect(follow_up.locator(".qa-source mark").first).to_contain_text("Golts")
    screenshot(page, "chat-follow-up")
    page.get_by_role("button", name="Clear").click()
    expect(page.locator(".qa")).to_have_count(0)
    expect(page.locator("button.example", has_text=GOLTS)).to_be_visible()


def test_an_unanswerable_question_on_an_indexed_subject_shows_related_reading(page, app_url):
    from playwright.sync_api import expect

    page.goto(app_url)
    message = ask(page, "What did Alexander Golts eat for breakfast?")

    expect(message.locator(".qa-answer")).to_have_text("The indexed articles don't answer this question.")
    expect(message.locator(".qa-related .qa-label")).to_have_text("Related reading (not an answer)")
    expect(message.locator(".qa-sources")).to_have_count(0)
    titles = message.locator(".qa-related li > .qa-title").all_text_contents()
    assert titles == ["Russian volunteers syria"]  # the article about him, once; not the lighthouse or the reactor
    screenshot(page, "chat-abstained")


def test_a_question_on_no_indexed_subject_says_nothing_is_about_it_and_lists_no_reading(page, app_url):
    from playwright.sync_api import expect

    page.goto(app_url)
    for question in ("what is the capital of Peru?", "What is the boiling point of liquid nitrogen?"):
        message = ask(page, question)
        expect(message.locator(".qa-answer")).to_have_text("The indexed articles don't answer this question.")
        expect(message.locator(".qa-related")).to_have_text("Nothing in the indexed articles is about this.")
        expect(message.locator(".qa-related li")).to_have_count(0)
    screenshot(page, "chat-nothing-related")


def test_html_and_markdown_in_an_article_show_as_text_in_answers_sources_and_the_collection(page, app_url):
    from playwright.sync_api import expect

    page.goto(app_url)
    questions = {
        "Who designed the Zorblax reactor?": "<img src=x onerror=\"alert('img')\">",
        "What did the sign in the control room read?": "<script>alert('script')</script>",
        # Markdown is stored as its text: the link's words without its javascript: address, no ** or _.
        "What were visitors told before entering the turbine hall?": "told to read the safety manual before",
        "How did operators log shutdowns?":
            "<a href=\"javascript:alert('anchor')\">a red pen</a> and bold italic code $$x^2$$",
        "When did the Zorblax reactor close?": "<iframe src=\"javascript:alert('frame')\"></iframe>",
    }
    for question, shown in questions.items():
        if page.locator(".qa").count():
            page.get_by_role("button", name="Clear").click()  # each its own conversation, not a follow-up
        message = ask(page, question)
        expect(message.locator(".qa-answer")).to_contain_text(shown)
        expect(message.locator(".qa-title").first).to_contain_text("<script>alert('title')</script>")
        expect(message.locator(".qa-passage").filter(has_text=shown).first).to_be_visible()
    screenshot(page, "chat-xss-as-text")

    page.get_by_role("tab", name="Collection").first.click()
    expect(page.locator(".qa-articles")).to_contain_text("<img src=x onerror=\"alert('title')\"> The Zorblax reactor")
    screenshot(page, "collection-xss-as-text")

    chat = page.locator(".qa-chat, .qa-collection")
    assert chat.locator("img, script, iframe, a[href^='javascript'], strong, em, .katex").count() == 0
    assert page.locator(".qa a.qa-original").count() == 0  # the article's url is javascript:, so no link to it
    page.wait_for_timeout(500)  # give an injected onerror handler time to fire
    assert page.dialogs == []

    page.goto(f"{app_url}/articles/xss-article")  # the article view shows the same text, as text
    expect(page.locator("h1")).to_have_text("<img src=x onerror=\"alert('title')\"> The Zorblax reactor <script>alert('title')</script>")
    expect(page.locator(".text")).to_contain_text("<iframe src=\"javascript:alert('frame')\"></iframe>")
    text = page.locator(".text").inner_text()
    assert text.startswith("The Zorblax reactor was designed")  # its "# The Zorblax reactor" is in the title
    assert "](" not in text and "**" not in text and "javascript:alert('link')" not in text
    assert page.locator("main img, main script, main iframe, a[href^='javascript']").count() == 0
    page.wait_for_timeout(500)
    assert page.dialogs == []


def test_a_wiki_page_embeds_the_chat_in_an_iframe_and_questions_work_there(page, app_url, wiki):
    from playwright.sync_api import expect

    page.goto(f"http://127.0.0.1:{wiki.port}/")
    frame = page.frame_locator("iframe#assistant")
    message = ask(frame, GOLTS)

    expect(message.locator(".qa-answer")).to_contain_text("Alexander Golts is a Moscow-based military expert")
    expect(message.locator(".qa-source mark").first).to_contain_text("says Alexander Golts")
    expect(frame.get_by_text("Admin token")).to_have_count(0)
    expect(frame.get_by_role("tab", name="Collection")).to_have_count(0)
    screenshot(page, "wiki-embed")


def test_two_embeds_on_one_wiki_page_keep_their_own_conversations(page, app_url, wiki):
    from playwright.sync_api import expect

    page.set_viewport_size(DESKTOP)
    page.goto(f"http://127.0.0.1:{wiki.port}/wiki-two-embeds.html")
    desk, sidebar = page.frame_locator("iframe#desk"), page.frame_locator("iframe#sidebar")
    expect(sidebar.locator("button.example").first).to_be_visible()
    ask(desk, GOLTS)
    page.reload()

    expect(desk.locator(".qa .qa-answer")).to_contain_text("Alexander Golts")  # still there after a reload
    expect(sidebar.locator("button.example").first).to_be_visible()
    expect(sidebar.locator(".qa")).to_have_count(0)  # and only there
    ask(sidebar, LIGHT)
    page.reload()
    expect(sidebar.locator(".qa .qa-answer")).to_contain_text("18 nautical miles")
    expect(desk.locator(".qa")).to_have_count(1)
    screenshot(page, "wiki-two-embeds")


def test_a_wiki_page_can_use_gradios_web_component_served_by_the_assistant(page, app_url, wiki):
    from playwright.sync_api import expect

    page.goto(f"http://127.0.0.1:{wiki.port}/wiki-web-component.html")
    page.locator("gradio-app button.example", has_text=GOLTS).click()
    message = finished(page, 0)

    expect(message.locator(".qa-source mark").first).to_contain_text("says Alexander Golts")
    screenshot(page, "wiki-web-component")


def test_a_page_on_an_origin_not_in_embed_origins_cannot_frame_the_chat(page, app_url, wiki):
    page.goto(f"http://localhost:{wiki.port}/")  # same site, but localhost is not the allowed 127.0.0.1 origin
    frame = next(f for f in page.frames if f is not page.main_frame)
    deadline = time.monotonic() + TIMEOUT / 1000
    while frame.url in ("", "about:blank") and time.monotonic() < deadline:
        page.wait_for_timeout(100)

    assert frame.url == "chrome-error://chromewebdata/"  # Chromium's page for a refused frame


def test_admin_panel_refuses_a_wrong_token_readably_and_adds_an_upload_with_the_right_one(page, app_url, tmp_path):
    from playwright.sync_api import expect

    article = tmp_path / "glaciers.txt"
    article.write_text("Glaciers of Norway\nThe Jostedal glacier is the largest glacier in continental Europe.\n")
    page.goto(app_url)
    page.get_by_role("tab", name="Collection").first.click()
    expect(page.get_by_label("Admin token")).to_be_hidden()  # closed for readers: it is only a locked form to them
    page.get_by_text("Add or remove articles (admin)").click()
    expect(page.get_by_text("Upload files (enter the admin token above to unlock)")).to_be_visible()
    page.get_by_label("Admin token").fill("not the token")
    page.get_by_label("Admin token").press("Enter")
    expect(page.locator(".qa-status")).to_have_text(re.compile(r"^Wrong admin token"))  # at once, before Add
    page.get_by_role("button", name="Add to the index").click()
    expect(page.locator(".qa-status")).to_have_text(re.compile(r"^Wrong admin token"))
    expect(page.get_by_text("Traceback")).to_have_count(0)
    expect(page.locator(".qa-admin .error, .qa-collection-tab .error")).to_have_count(0)  # no widget marked "Error"
    expect(page.locator("input[type=file]")).to_have_count(0)  # uploading stays locked

    page.get_by_label("Admin token").fill(TOKEN)
    page.get_by_label("Admin token").press("Enter")  # sets the upload cookie, unlocks the file input
    expect(page.locator(".qa-status")).to_have_text(re.compile(r"^Unlocked"))
    page.locator("input[type=file]").set_input_files(str(article))
    page.get_by_label("…or fetch a URL").fill("<img src=x onerror=alert('url')>")
    page.get_by_role("button", name="Add to the index").click()
    expect(page.get_by_text("'<img src=x onerror=alert('url')>' is not a web address")).to_be_visible()

    page.get_by_label("…or fetch a URL").fill("")
    page.get_by_role("button", name="Add to the index").click()
    expect(page.locator(".qa-status").first).to_contain_text("Added 1, updated 0, unchanged 0, failed 0")
    expect(page.locator(".qa-articles")).to_contain_text("Glaciers of Norway")
    page.get_by_label("Search articles").fill("glacier norway")
    expect(page.locator(".qa-articles tbody tr")).to_have_count(1)
    expect(page.locator(".qa-count")).to_contain_text("1 article, 1 chunk (of 4 articles)")
    screenshot(page, "collection-admin")
    assert page.dialogs == [] and page.locator("img[src=x]").count() == 0

    page.get_by_label("Remove articles").click()
    page.get_by_role("option", name="Glaciers of Norway (glaciers)").click()
    page.get_by_role("button", name="Remove selected…").click()
    expect(page.locator(".qa-confirm")).to_contain_text("Remove 1 article and its chunks from the index: Glaciers of Norway (glaciers)?")
    expect(page.locator(".qa-articles")).to_contain_text("Glaciers of Norway")  # not yet
    page.get_by_role("button", name="Yes, remove them").click()
    expect(page.locator(".qa-status").first).to_contain_text("Removed 1 article: Glaciers of Norway (glaciers)")
    expect(page.locator(".qa-confirm")).to_be_hidden()
    expect(page.locator(".qa-empty")).to_have_text("No articles match.")


def test_the_openapi_page_renders_without_internet(page, app_url):
    from playwright.sync_api import expect

    requested = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(f"{app_url}/docs")

    expect(page.locator(".opblock-summary-path", has_text="/api/ask").first).to_be_visible(timeout=TIMEOUT)
    assert all(url.startswith(app_url) for url in requested)  # every asset from this server
    screenshot(page, "openapi-docs")


# ── the chat people use every day (issue 11) ───────────────────────────────────────────────


def _visible_in(where, inner, outer) -> bool:
    """Whether element `inner` is fully inside `outer`'s box (the message list, the viewport)."""
    a, b = inner.bounding_box(), outer.bounding_box()
    return a is not None and b is not None and b["y"] - 1 <= a["y"] and a["y"] + a["height"] <= b["y"] + b["height"] + 1


def test_an_empty_enter_is_a_hint_and_the_chat_keeps_working(page, app_url):
    from playwright.sync_api import expect

    for path in ("", "/embed/"):
        page.goto(f"{app_url}{path}")
        expect(page.locator("button.example").first).to_be_visible()  # the chat is rendered and wired
        box = page.locator(".qa-question textarea")
        box.press("Enter")
        box.fill("   ")
        box.press("Enter")
        expect(page.get_by_text("Type a question about the articles first.")).to_be_visible()
        expect(box).to_be_enabled()
        expect(page.locator(".qa-chat .error")).to_have_count(0)  # no "Error" pill
        message = ask(page, GOLTS)
        expect(message.locator(".qa-answer")).to_contain_text("Alexander Golts is a Moscow-based military expert")


def test_in_a_400x600_sidebar_frame_the_chat_scrolls_and_the_question_box_stays_in_view(page, app_url, wiki):
    from playwright.sync_api import expect

    page.set_viewport_size(DESKTOP)
    page.goto(f"http://127.0.0.1:{wiki.port}/wiki-sidebar.html")
    frame = page.frame_locator("iframe#assistant")
    inside = page.frame(url=re.compile(r"/embed/"))
    for question in (GOLTS, LIGHT, "Why is Syria less appealing to Russian volunteers than Ukraine?"):
        message = ask(frame, question)
        box = frame.locator(".qa-question textarea")
        assert inside.evaluate("document.documentElement.scrollHeight") == 600  # the page is the frame
        assert _visible_in(frame, box, page.locator("iframe#assistant"))
        assert _visible_in(frame, message.locator(".qa-answer"), frame.locator(".qa-chat .bubble-wrap"))
        expect(box).to_be_focused()
    page.locator("iframe#assistant").screenshot(path=str(ARTIFACTS / "sidebar-chat.png"))


def test_on_a_phone_the_answer_starts_in_view_after_answering(new_page, app_url):
    page = new_page(PHONE, is_mobile=True, has_touch=True)
    page.goto(app_url)
    ask(page, GOLTS)
    message = ask(page, "Why is Syria less appealing to Russian volunteers than Ukraine?")

    first_line = message.locator(".qa-answer")
    listing = page.locator(".qa-chat .bubble-wrap")
    top = first_line.bounding_box()["y"]
    assert listing.bounding_box()["y"] <= top <= listing.bounding_box()["y"] + 200  # near the top, not above it
    assert page.evaluate("document.documentElement.scrollHeight") == PHONE["height"]
    assert _visible_in(page, page.locator(".qa-question textarea"), listing.locator("xpath=/ancestor::body"))
    screenshot(page, "phone-chat", full_page=False)
    page.get_by_role("tab", name="Collection").click()
    screenshot(page, "phone-collection", full_page=False)


def test_focus_returns_to_the_box_after_each_answer_and_controls_have_names(new_page, app_url):
    from playwright.sync_api import expect

    page = new_page(DESKTOP)
    page.goto(app_url)
    box = page.get_by_role("textbox", name="Question")
    ask(page, GOLTS)
    expect(box).to_be_focused()
    ask(page, LIGHT)
    expect(box).to_be_focused()
    expect(page.get_by_role("button", name="Send question")).to_be_visible()
    page.keyboard.press("Shift+Tab")  # a keyboard user sees where focus is
    focused = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert focused != "none"
    label = page.locator('[data-testid="bot"]').last.get_attribute("aria-label")
    assert label.startswith("Answer: Its new lamp") and "<" not in label  # text, not escaped HTML
    screenshot(page, "desktop-chat", full_page=False)


def test_copy_gives_the_answer_as_text_with_its_sources_as_a_numbered_list(new_page, app_url):
    page = new_page(DESKTOP, permissions=["clipboard-read", "clipboard-write"])
    page.goto(app_url)
    message = ask(page, GOLTS)
    message.get_by_role("button", name="Copy").click()

    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.startswith("Alexander Golts is a Moscow-based military expert [1].\n")  # then its profile's other lines
    assert "\n\nSources:\n1. Russian volunteers syria: “" in copied
    assert "<" not in copied and f"{app_url}/articles/russian-volunteers-syria?start=" in copied


def test_a_citation_previews_its_quote_leads_to_its_source_and_to_the_article_with_the_sentence_highlighted(page, app_url):
    from playwright.sync_api import expect

    page.goto(app_url)
    message = ask(page, "Why is Syria less appealing to Russian volunteers than Ukraine?")
    marker = message.locator(".qa-marker").first

    card = message.locator(".qa-src-1")
    quote = card.locator(".qa-q-1").text_content()

    marker.hover()
    expect(page.locator(".qa-tip")).to_contain_text("Russian volunteers syria")
    expect(page.locator(".qa-tip")).to_contain_text(quote)
    marker.click()
    expect(card).to_be_focused()
    expect(card).to_have_class(re.compile(r"qa-flash"))

    with page.expect_popup() as opened:
        card.locator(".qa-title").click()
    article = opened.value
    expect(article).to_have_url(re.compile(r"/articles/russian-volunteers-syria\?start=\d+&end=\d+#cited$"))
    cited = article.locator("mark#cited")
    expect(cited).to_have_text(quote)
    expect(cited).to_be_in_viewport()
    assert cited.evaluate("m => getComputedStyle(m).backgroundColor") == "rgb(253, 230, 138)"
    article.set_viewport_size(DESKTOP)
    screenshot(article, "desktop-article", full_page=False)


def test_a_plain_text_headline_is_the_title_and_its_date_and_author_are_shown_not_quoted(page, app_url):
    from playwright.sync_api import expect

    page.goto(app_url)
    message = ask(page, "who led the restoration?")

    expect(message.locator(".qa-answer")).to_have_text(re.compile(r"^The restoration was led by Maria Santos"))
    expect(message.locator(".qa-title").first).to_have_text("Cape Light restoration led by village volunteers")
    page.goto(message.locator(".qa-title").first.get_attribute("href"))
    expect(page.locator(".meta")).to_have_text("Jane Doe · 2019-05-02")
    expect(page.locator(".text")).not_to_contain_text("published:")


def test_a_follow_up_borrows_from_the_turn_it_refers_to_and_says_what_it_searched(page, app_url):
    from playwright.sync_api import expect

    page.goto(app_url)
    ask(page, GOLTS)
    ask(page, "When did the Zorblax reactor close?")
    message = ask(page, "where is he based?")  # "he" is Golts, not the reactor asked about in between

    expect(message.locator(".qa-answer")).to_contain_text("Moscow-based")
    expect(message.locator(".qa-note")).to_have_text("Note: Searched for “where is he based? (Alexander Golts)”.")
    message = ask(page, "when was it designed?")  # "it" is the latest thing: the reactor
    expect(message.locator(".qa-answer")).to_contain_text("1987")
    expect(message.locator(".qa-note")).to_contain_text("(Zorblax)")
    screenshot(page, "chat-follow-up-referent")


def test_a_follow_up_that_stands_alone_is_answered_as_if_asked_alone(page, app_url):
    from playwright.sync_api import expect

    page.goto(app_url)
    ask(page, GOLTS)
    message = ask(page, LIGHT)

    expect(message.locator(".qa-answer")).to_contain_text("18 nautical miles")
    expect(message.locator(".qa-answer")).not_to_contain_text("Golts")
    expect(message.locator(".qa-answer")).not_to_contain_text("fighter")


def test_the_conversation_survives_a_reload_can_be_exported_as_markdown_and_cleared(page, app_url):
    from playwright.sync_api import expect

    page.goto(app_url)
    ask(page, GOLTS)
    page.reload()
    expect(page.locator(".qa .qa-answer")).to_contain_text("Alexander Golts is a Moscow-based military expert")
    follow_up = ask(page, "what does he ask about fighting for Assad?")  # the restored turns still count
    expect(follow_up.locator(".qa-source mark").first).to_contain_text("Golts")

    with page.expect_download() as download:
        page.get_by_role("button", name="Export").click()
    markdown = Path(download.value.path()).read_text()
    assert markdown.startswith("# Ask the articles: conversation\n\n## who is Alexander Golts?\n")
    assert "1. [Russian volunteers syria](" in markdown and "Sources:" in markdown

    page.get_by_role("button", name="Clear").click()
    expect(page.locator(".qa")).to_have_count(0)
    page.reload()
    expect(page.locator("button.example", has_text=GOLTS)).to_be_visible()
    expect(page.locator(".qa")).to_have_count(0)


def test_feedback_on_an_answer_is_stored_and_listed_for_the_admin(page, app_url, index):
    from playwright.sync_api import expect

    page.goto(app_url)
    message = ask(page, GOLTS)
    message.get_by_role("button", name="Not helpful").click()
    message.get_by_label("What was good or wrong? (optional)").fill("Say what he is known for")
    message.get_by_role("button", name="Send comment").click()
    expect(message.get_by_role("status")).to_have_text("Thank you: your feedback was sent.")

    listed = httpx.get(f"{app_url}/api/feedback", headers={"Authorization": f"Bearer {TOKEN}"}).json()
    entry = next(e for e in listed if e["comment"] == "Say what he is known for")
    assert (entry["vote"], entry["question"]) == ("down", GOLTS)
    assert entry["answer"].startswith("Alexander Golts is a Moscow-based military expert [1].")
    assert entry["citations"][0]["article_id"] == "russian-volunteers-syria" and re.fullmatch(r"store-[\w-]+@\d+", entry["index_version"])
    cli = subprocess.run([sys.executable, "-m", "assistant", "feedback", "--json", "--index", str(index)],
                         capture_output=True, text=True, check=True)
    assert any(e["comment"] == "Say what he is known for" for e in json.loads(cli.stdout))


def test_a_click_on_a_vote_stores_it_at_once_and_a_comment_updates_the_same_entry(page, app_url):
    from playwright.sync_api import expect

    def entries() -> list[dict]:
        listed = httpx.get(f"{app_url}/api/feedback", headers={"Authorization": f"Bearer {TOKEN}"}).json()
        return [e for e in listed if e["question"] == "Why is Syria less appealing to Russian volunteers than Ukraine?"]

    page.goto(app_url)
    message = ask(page, "Why is Syria less appealing to Russian volunteers than Ukraine?")
    before = len(entries())
    message.get_by_role("button", name="Helpful", exact=True).click()
    expect(message.get_by_role("status")).to_contain_text("your vote was recorded")
    voted = entries()
    assert len(voted) == before + 1 and voted[0]["vote"] == "up" and voted[0]["comment"] == ""

    message.get_by_label("What was good or wrong? (optional)").fill("Clear and cited")
    message.get_by_role("button", name="Send comment").click()
    expect(message.get_by_role("status")).to_have_text("Thank you: your feedback was sent.")
    commented = entries()
    assert len(commented) == before + 1 and (commented[0]["id"], commented[0]["comment"]) == (voted[0]["id"],
                                                                                           "Clear and cited")


def test_screen_readers_hear_no_untranslated_label_and_quotes_are_not_doubled(page, app_url):
    from playwright.sync_api import expect

    page.goto(app_url)
    message = ask(page, GOLTS)
    expect(message.locator(".qa-answer")).to_contain_text("Alexander Golts")
    page.wait_for_timeout(500)
    assert "common." not in page.locator("body").inner_text()
    live = page.locator("[aria-live], [role=status]").all_inner_texts()
    assert not any("common." in text for text in live)
    message.locator(".qa-marker").first.hover()
    expect(page.locator("#qa-tip")).to_be_visible()
    tip = page.locator("#qa-tip span").inner_text()
    assert tip.startswith("“How can you") and not tip.startswith("““")
    copied = page.evaluate("() => window.assistantChat.asText(JSON.parse(document.querySelector('.qa-data')"
                           "?.textContent || 'null') ?? {answer: '', citations: []})")
    assert "““" not in copied


def test_no_gradio_api_footer_and_unknown_pages_get_a_small_html_404(page, app_url):
    from playwright.sync_api import expect

    page.goto(app_url)
    expect(page.locator(".qa-question textarea")).to_be_visible()
    expect(page.get_by_text("Use via API")).to_have_count(0)
    expect(page.get_by_role("link", name="HTTP API")).to_have_attribute("href", "docs")

    response = page.goto(f"{app_url}/no/such/page")
    assert response.status == 404 and response.headers["content-type"].startswith("text/html")
    expect(page.locator("h1")).to_have_text("Not found")
    page.get_by_role("link", name="Ask the articles").click()
    expect(page.locator(".qa-question textarea")).to_be_visible()
    assert httpx.get(f"{app_url}/api/nope", headers={"Accept": "text/html"}).json()["error"]["status"] == 404


# ── accessibility (issue 27) ───────────────────────────────────────────────────────────────


def _serious(page) -> list[str]:
    """axe-core's serious and critical violations on the page, each with the elements it names."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [f"{v['id']} ({v['impact']}): {v['help']}: " + "; ".join(str(n["target"]) + " " + n.get("failureSummary", "").splitlines()[-1]
                                                                 for n in v["nodes"][:8])
            for v in results.response["violations"] if v["impact"] in ("serious", "critical")]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_no_serious_accessibility_violations_with_an_answer_and_its_sources_shown(new_page, app_url, scheme):
    page = new_page(DESKTOP, color_scheme=scheme)
    found = {}
    for path in ("", "/embed/"):
        page.goto(f"{app_url}{path}")
        message = ask(page, "Why is Syria less appealing to Russian volunteers than Ukraine?")
        message.locator(".qa-source .qa-details summary").first.click()
        screenshot(page, f"axe-{scheme}{path.replace('/', '-')}", full_page=False)
        found[path or "/"] = _serious(page)
        href = message.locator(".qa-title").first.get_attribute("href")
    page.goto(href if href.startswith("http") else f"{app_url}/{href.lstrip('/')}")
    screenshot(page, f"axe-{scheme}-article", full_page=False)
    found["/articles"] = _serious(page)
    assert found == {"/": [], "/embed/": [], "/articles": []}, json.dumps(found, indent=1)


def test_a_citation_marker_is_a_tap_target_of_at_least_24px_on_a_phone(new_page, app_url):
    page = new_page(PHONE, is_mobile=True, has_touch=True)
    page.goto(app_url)
    message = ask(page, GOLTS)
    box = message.locator(".qa-marker").first.bounding_box()
    assert box["width"] >= 24 and box["height"] >= 24, box
    assert float(message.locator(".qa-marker").first.evaluate("m => parseFloat(getComputedStyle(m).fontSize)")) >= 12
    screenshot(page, "phone-marker", full_page=False)


def _overlap(a: dict, b: dict) -> bool:
    return a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"] and a["y"] < b["y"] + b["height"] and (
        b["y"] < a["y"] + a["height"])


def test_the_export_and_clear_toolbar_covers_no_message_on_desktop_phone_or_embed(new_page, app_url, wiki):
    for name, viewport, mobile, url, inside in (
            ("desktop", DESKTOP, False, app_url, None),
            ("phone", PHONE, True, app_url, None),
            ("sidebar", DESKTOP, False, f"http://127.0.0.1:{wiki.port}/wiki-sidebar.html", "iframe#assistant")):
        page = new_page(viewport, is_mobile=mobile, has_touch=mobile)
        page.goto(url)
        where = page.frame_locator(inside) if inside else page
        ask(where, GOLTS)
        where.locator(".qa-chat .bubble-wrap").evaluate("list => { list.scrollTop = 0; }")
        toolbar = where.locator(".qa-chat .top-panel").bounding_box()
        rows = [row.bounding_box() for row in where.locator(".qa-chat .message-row").all()]
        assert toolbar and rows and not any(_overlap(toolbar, row) for row in rows), (name, toolbar, rows[0])
        screenshot(page, f"{name}-toolbar", full_page=False)


def _inside(inner: dict, outer: dict) -> bool:
    return (outer["x"] <= inner["x"] and inner["x"] + inner["width"] <= outer["x"] + outer["width"] + 0.5
            and outer["y"] <= inner["y"] and inner["y"] + inner["height"] <= outer["y"] + outer["height"] + 0.5)


@pytest.mark.parametrize("name, viewport, mobile, frame", [
    ("desktop", DESKTOP, False, None), ("phone", PHONE, True, None), ("sidebar", DESKTOP, False, "iframe#assistant")])
def test_the_feedback_form_opens_in_view_and_clear_of_the_scroll_down_arrow(new_page, app_url, wiki, name, viewport,
                                                                           mobile, frame):
    """The form a vote opens (for the optional comment) is scrolled into view, whole, in the message
    list and the window (or frame), and Gradio's scroll-down arrow floats over no part of it: for the
    last answer, and for an earlier one with messages below it (where the arrow shows)."""
    from playwright.sync_api import expect

    page = new_page(viewport, is_mobile=mobile, has_touch=mobile)
    page.goto(f"http://127.0.0.1:{wiki.port}/wiki-sidebar.html" if frame else app_url)
    where = page.frame_locator(frame) if frame else page
    first = ask(where, GOLTS)
    last = ask(where, LIGHT)
    window = page.locator(frame).bounding_box() if frame else {"x": 0, "y": 0, **viewport}
    for which, message in (("last", last), ("earlier", first)):
        message.get_by_role("button", name="Helpful", exact=True).click()
        form = message.locator(".qa-feedback")
        expect(form.get_by_role("status")).to_contain_text("your vote was recorded")
        page.wait_for_timeout(300)  # Gradio shows or hides its arrow on the scroll event
        box = form.bounding_box()
        shown = where.locator(".qa-chat .bubble-wrap").bounding_box()
        assert _inside(box, shown) and _inside(box, window), (which, box, shown)
        arrow = where.get_by_role("button", name="Scroll down")
        if arrow.count():
            assert not _overlap(box, arrow.bounding_box()), (which, box, arrow.bounding_box())
        screenshot(page, f"{name}-feedback-{which}", full_page=False)
    assert where.get_by_role("button", name="Scroll down").count(), "the earlier answer has messages below it"


def _contrast(page, locator, *, against) -> float:
    """The contrast ratio of an element's background against another element's, as WCAG computes it."""
    def luminance(element) -> float:
        colour = element.evaluate("e => getComputedStyle(e).backgroundColor")
        channels = [int(c) / 255 for c in re.findall(r"\d+", colour)[:3]]
        r, g, b = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    lighter, darker = sorted((luminance(locator), luminance(against)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


@pytest.mark.parametrize("name, viewport, scheme", [("desktop", DESKTOP, "light"), ("phone", PHONE, "dark")])
def test_remove_selected_looks_and_works_like_a_button(new_page, app_url, name, viewport, scheme):
    """A filled button as tall as "Add to the index", set off from the panel (at least 3:1, WCAG's floor
    for a control's boundary), reached with Tab and pressed with Enter; it was a 95 px white box on the
    white panel, which read as a card."""
    from playwright.sync_api import expect

    page = new_page(viewport, color_scheme=scheme, is_mobile=name == "phone", has_touch=name == "phone")
    page.goto(app_url)
    page.get_by_role("tab", name="Collection").first.click()
    page.get_by_text("Add or remove articles (admin)").click()
    remove = page.get_by_role("button", name="Remove selected…")
    add = page.get_by_role("button", name="Add to the index")
    remove.scroll_into_view_if_needed()
    assert abs(remove.bounding_box()["height"] - add.bounding_box()["height"]) <= 2, remove.bounding_box()
    assert _contrast(page, remove, against=page.locator(".qa-admin")) >= 3
    screenshot(page, f"{name}-admin-remove", full_page=False)

    page.get_by_label("Admin token").fill(TOKEN)
    page.get_by_label("Remove articles").focus()
    for _ in range(5):  # from the list of articles to the button, by keyboard
        page.keyboard.press("Tab")
        if remove.evaluate("button => document.activeElement === button"):
            break
    assert remove.evaluate("button => document.activeElement === button")
    page.keyboard.press("Enter")
    expect(page.locator(".qa-status")).to_have_text("Choose the articles to remove first.")


@pytest.mark.parametrize("viewport", [DESKTOP, {"width": 1280, "height": 1200}, PHONE])
def test_the_web_component_is_at_most_640px_tall_as_documented_and_scrolls_inside(new_page, app_url, wiki, viewport):
    """docs/EMBEDDING.md: the element takes a height of its own, up to 640 px (it measured 740), and
    the page scrolls around it; the question box stays inside it after an answer."""
    page = new_page(viewport)
    page.goto(f"http://127.0.0.1:{wiki.port}/wiki-web-component.html")
    element = page.locator("gradio-app")
    page.locator("gradio-app .qa-question textarea").wait_for()
    assert element.bounding_box()["height"] <= 640, element.bounding_box()
    ask(page, GOLTS)
    ask(page, LIGHT)
    outer, box = element.bounding_box(), page.locator("gradio-app .qa-question").bounding_box()
    assert outer["height"] <= 640 and box["y"] + box["height"] <= outer["y"] + outer["height"], (outer, box)
    screenshot(page, f"wiki-web-component-{viewport['width']}x{viewport['height']}")
