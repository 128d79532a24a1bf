"""The pages in a real browser: Debian's Chromium driven by Playwright, against a real server.

Screenshots go to tests/artifacts/ (not in git) for a person to look at.
"""

from __future__ import annotations

import http.server
import re
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conftest import live_server, make_assistant
from assistant.api import create_app

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
TIMEOUT = 30_000  # ms; answers take well under a second, a loaded CI machine may be slow to paint




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
def app_url(sample_index, real_embedder, tmp_path_factory, wiki) -> Iterator[str]:
    """The assistant, embeddable by the wiki's origin, with the XSS article added through the admin API."""
    index = tmp_path_factory.mktemp("browser") / "index"
    shutil.copytree(sample_index, index)
    assistant = make_assistant(index, real_embedder, embed_origins=[f"http://127.0.0.1:{wiki.port}"])
    with live_server(create_app(assistant, admin_token=TOKEN)) as url:
        wiki.assistant_url = url
        article = WEB / "xss-article.md"
        report = httpx.post(f"{url}/api/articles", files={"file": (article.name, article.read_bytes())},
                            headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60)
        assert report.json()["added"] == 1, report.text
        yield url


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    """A fresh page that records every dialog (an alert() fired by article text would land here)."""
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    context.set_default_timeout(TIMEOUT)
    page = context.new_page()
    page.dialogs = []
    page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
    yield page
    context.close()


def screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


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
    expect(source.locator(".qa-id")).to_contain_text("russian-volunteers-syria")
    expect(source.locator("mark")).to_have_text(re.compile(r"says Alexander Golts, a Moscow-based military expert\.$"))
    expect(source.locator(".qa-passage")).to_contain_text("Would-be fighters")  # the quote sits inside its passage
    assert source.locator("mark").evaluate("m => getComputedStyle(m).backgroundColor") == "rgb(253, 230, 138)"
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


def test_an_unanswerable_question_says_so_and_shows_related_reading(page, app_url):
    from playwright.sync_api import expect

    page.goto(app_url)
    message = ask(page, "What is the boiling point of liquid nitrogen?")

    expect(message.locator(".qa-answer")).to_have_text("The indexed articles don't answer this question.")
    expect(message.locator(".qa-related .qa-label")).to_have_text("Related reading (not an answer)")
    expect(message.locator(".qa-sources")).to_have_count(0)
    screenshot(page, "chat-abstained")


def test_html_and_markdown_in_an_article_show_as_text_in_answers_sources_and_the_collection(page, app_url):
    from playwright.sync_api import expect

    page.goto(app_url)
    questions = {
        "Who designed the Zorblax reactor?": "<img src=x onerror=\"alert('img')\">",
        "What did the sign in the control room read?": "<script>alert('script')</script>",
        "What were visitors told before entering the turbine hall?": "[read the safety manual](javascript:alert('link'))",
        "How did operators log shutdowns?": "<a href=\"javascript:alert('anchor')\">a red pen</a> and **bold** _italic_ `code` $$x^2$$",
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
    assert page.locator(".qa a.qa-title").count() == 0  # the article's url is javascript:, so no link
    page.wait_for_timeout(500)  # give an injected onerror handler time to fire
    assert page.dialogs == []


def test_a_wiki_page_embeds_the_chat_in_an_iframe_and_questions_work_there(page, app_url, wiki):
    from playwright.sync_api import expect

    page.goto(f"http://127.0.0.1:{wiki.port}/")
    frame = page.frame_locator("iframe#assistant")
    message = ask(frame, GOLTS)

    expect(message.locator(".qa-answer")).to_contain_text("Alexander Golts is a Moscow-based military expert")
    expect(message.locator(".qa-source mark")).to_contain_text("says Alexander Golts")
    expect(frame.get_by_text("Admin token")).to_have_count(0)
    expect(frame.get_by_role("tab", name="Collection")).to_have_count(0)
    screenshot(page, "wiki-embed")


def test_a_wiki_page_can_use_gradios_web_component_served_by_the_assistant(page, app_url, wiki):
    from playwright.sync_api import expect

    page.goto(f"http://127.0.0.1:{wiki.port}/wiki-web-component.html")
    page.locator("gradio-app button.example", has_text=GOLTS).click()
    message = finished(page, 0)

    expect(message.locator(".qa-source mark")).to_contain_text("says Alexander Golts")
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
    page.get_by_label("Admin token").fill("not the token")
    page.get_by_label("Admin token").press("Enter")
    page.get_by_role("button", name="Add to the index").click()
    expect(page.get_by_text("Wrong or missing admin token.")).to_be_visible()
    expect(page.get_by_text("Traceback")).to_have_count(0)
    expect(page.locator("input[type=file]")).to_have_count(0)  # uploading stays locked

    page.get_by_label("Admin token").fill(TOKEN)
    page.get_by_label("Admin token").press("Enter")  # sets the upload cookie, unlocks the file input
    page.locator("input[type=file]").set_input_files(str(article))
    page.get_by_label("…or fetch a URL").fill("<img src=x onerror=alert('url')>")
    page.get_by_role("button", name="Add to the index").click()
    expect(page.get_by_text("'<img src=x onerror=alert('url')>' is not a web address")).to_be_visible()

    page.get_by_label("…or fetch a URL").fill("")
    page.get_by_role("button", name="Add to the index").click()
    expect(page.locator(".qa-status").first).to_contain_text("Added 1, updated 0, unchanged 0, failed 0")
    expect(page.locator(".qa-articles")).to_contain_text("Glaciers of Norway")
    screenshot(page, "collection-admin")
    assert page.dialogs == [] and page.locator("img[src=x]").count() == 0


def test_the_openapi_page_renders_without_internet(page, app_url):
    from playwright.sync_api import expect

    requested = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(f"{app_url}/docs")

    expect(page.locator(".opblock-summary-path", has_text="/api/ask").first).to_be_visible(timeout=TIMEOUT)
    assert all(url.startswith(app_url) for url in requested)  # every asset from this server
    screenshot(page, "openapi-docs")
