"""The chat pages (Gradio), mounted on the API's FastAPI app by `mount`.

    /        Chat (streaming answers, sources under each) | Collection (articles; with the admin
             token also upload, fetch a URL, remove)
    /embed/  the chat alone, compact, for an iframe: no admin controls, nothing secret in the page

Both are thin presenters over one `Assistant`; answers are rendered to HTML by `assistant.web`,
which keeps every article string inert. Errors reach the page as `gr.Error` messages.
"""

from __future__ import annotations

import html
import logging
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import gradio as gr
from fastapi.responses import FileResponse, RedirectResponse

from assistant import web
from assistant.errors import AssistantError
from assistant.limits import RateLimiter
from assistant.service import Assistant
from assistant.sources import MAX_UPLOAD_FILES, SUPPORTED_SUFFIXES
from assistant.types import Answer, Turn

log = logging.getLogger(__name__)

EXAMPLES = [
    "who is Alexander Golts?",
    "How many applications does the recruiter's group receive per day?",
    "Why is Syria less appealing to Russian volunteers than Ukraine?",
]
# System fonts: the default theme fetches Google Fonts, which an offline server cannot reach.
THEME = gr.themes.Soft(
    primary_hue="indigo", neutral_hue="slate",
    font=["Inter", "ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "sans-serif"],
    font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "monospace"],
)
# Loads the `<gradio-app>` element from ./assets/, which the /embed app serves.
WEB_COMPONENT = Path(gr.__file__).parent / "templates" / "frontend" / "gradio.js"
# In a frame every pixel counts: no page margins, the chat fills the frame's height.
EMBED_CSS = ".gradio-container .main { padding: 6px 8px !important; }"
# Questions answered at once per page; the work is CPU-bound and the model is shared.
CHAT_CONCURRENCY = 4
# Uploaded files live in Gradio's temporary folder until ingested (then removed); any left are
# removed hourly and when the server stops: (every, older than) in seconds.
DELETE_UPLOADS = (3600, 3600)
# Page uploads go through Gradio's route, which needs the admin cookie (see api.PageUploadMiddleware):
# the token typed here gets it from /api/admin/session before the file input is enabled.
UNLOCK_JS = """async (token) => {
  const root = (window.gradio_config?.root || "").replace(/\\/$/, "");
  if (token) await fetch(root + "/api/admin/session", {method: "POST", headers: {Authorization: "Bearer " + token}});
  return token;
}"""


def mount(app, assistant: Assistant, *, admin_token: str | None, limiter: RateLimiter) -> None:
    """Mount /embed and then / (a mount at / catches every path, so it goes last)."""
    max_file_size = f"{int(assistant.settings.max_upload_mb * 1024)}kb"
    common = {"theme": THEME, "ssr_mode": False, "pwa": False, "run_history": False}
    # Relative, so it also lands right under a proxy's sub-path: /tools/assistant/embed -> .../embed/
    app.add_api_route("/embed", lambda: RedirectResponse("embed/"), methods=["GET", "HEAD"], include_in_schema=False)
    # Gradio's web component, served from here so a wiki needs no CDN: <script src=".../embed/gradio.js">
    app.add_api_route("/embed/gradio.js", lambda: FileResponse(WEB_COMPONENT, media_type="text/javascript"),
                      methods=["GET", "HEAD"], include_in_schema=False)
    gr.mount_gradio_app(app, embed_page(assistant, limiter), path="/embed", footer_links=[], css=web.CSS + EMBED_CSS,
                        **common)
    gr.mount_gradio_app(app, chat_page(assistant, admin_token=admin_token, limiter=limiter), path="/", css=web.CSS,
                        footer_links=["api", "settings"], max_file_size=max_file_size, **common)


def chat_page(assistant: Assistant, *, admin_token: str | None = None, limiter: RateLimiter | None = None) -> gr.Blocks:
    """The full page: chat, and the collection with admin controls when a token is configured."""
    with gr.Blocks(title="Ask the articles", analytics_enabled=False, fill_height=True,
                   delete_cache=DELETE_UPLOADS) as page:
        gr.HTML(
            '<header class="qa-header"><h1>Ask the articles</h1><p>Answers quote the indexed articles, and every '
            "sentence cites its source. When the articles don't say, the assistant says so."
            ' <a href="docs" target="_blank">HTTP API</a></p></header>'
        )
        with gr.Tabs():
            with gr.Tab("Chat", id="chat"):
                _chat(assistant, limiter, height="calc(100vh - 330px)", autofocus=True)
            with gr.Tab("Collection", id="collection"):
                _collection(page, assistant, admin_token)
    return page


def embed_page(assistant: Assistant, limiter: RateLimiter | None = None) -> gr.Blocks:
    """The chat alone, sized to its frame."""
    with gr.Blocks(title="Ask the articles", analytics_enabled=False, fill_height=True, fill_width=True) as page:
        _chat(assistant, limiter, height=None, autofocus=False)
    return page


# ── chat ────────────────────────────────────────────────────────────────────────────────────


def _chat(assistant: Assistant, limiter: RateLimiter | None, *, height, autofocus: bool) -> gr.ChatInterface:
    def respond(message: str, history: list[dict], request: gr.Request) -> Iterator[str]:
        """Stream the answer text, then the full message with its sources."""
        wait = limiter.wait(request.client.host if request and request.client else "") if limiter else 0
        if wait:
            raise _error(f"Too many questions from this address; ask again in {wait:.0f} s.")
        text = ""
        with _readable_errors():
            for item in assistant.stream(message, turns(history)):
                if isinstance(item, Answer):
                    yield web.answer_html(item)
                else:
                    text += item
                    yield web.partial_html(text)

    chatbot = gr.Chatbot(
        height=height, min_height=360, scale=1, show_label=False, buttons=["copy"], feedback_options=None,
        latex_delimiters=[],  # "$$" in an article is text, not a formula
        placeholder="Ask a question about the indexed articles.", elem_classes=["qa-chat"],
    )
    return gr.ChatInterface(
        respond, chatbot=chatbot, examples=EXAMPLES, api_name="chat", concurrency_limit=CHAT_CONCURRENCY,
        textbox=gr.Textbox(placeholder="Ask about the articles…", show_label=False, autofocus=autofocus,
                           max_length=2000, submit_btn=True, elem_classes=["qa-question"]),
        fill_height=True, flagging_mode="never",
    )


def turns(history: list[dict]) -> list[Turn]:
    """Chat history (Gradio messages) as the service's turns: each question with the answer text."""
    out: list[Turn] = []
    for message in history:
        text = _text(message.get("content"))
        if message.get("role") == "user":
            out.append(Turn(text))
        elif message.get("role") == "assistant" and out and not out[-1].answer:
            out[-1] = Turn(out[-1].question, web.plain_answer(text))
    return out


def _text(content) -> str:
    """A message's text, whether Gradio gives a string or a list of content parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        return str(content.get("text", ""))
    if isinstance(content, list):
        return " ".join(_text(part) for part in content)
    return ""


@contextmanager
def _readable_errors() -> Iterator[None]:
    """Turn failures into messages on the page instead of stack traces."""
    try:
        yield
    except AssistantError as exc:
        raise _error(str(exc)) from None
    except Exception as exc:
        log.exception("the chat failed")
        raise _error(f"Something went wrong on the server ({type(exc).__name__}); its log has the details.") from None


def _error(message: str) -> gr.Error:
    """A message for the page's error toast, which renders HTML: names and URLs in it stay text."""
    return gr.Error(html.escape(message), print_exception=False)


# ── collection ──────────────────────────────────────────────────────────────────────────────


def _collection(page: gr.Blocks, assistant: Assistant, admin_token: str | None) -> None:
    def listing():
        try:
            rows = assistant.articles()
        except AssistantError as exc:  # no index yet, or one built with other settings
            return web.message_html(str(exc), kind="error"), gr.update(choices=[])
        choices = [(f"{r['title']} ({r['id']})", r["id"]) for r in rows]
        return web.articles_html(rows), gr.update(choices=choices, value=[])

    table = gr.HTML(elem_classes=["qa-collection"])
    refresh = gr.Button("Refresh", size="sm", variant="secondary", elem_classes=["qa-refresh"])
    if admin_token is None:
        gr.Markdown("Adding and removing articles is off on this server. To turn it on, start `make run` "
                    "(app.py) with a secret token in `$ASSISTANT_ADMIN_TOKEN`, or "
                    "`assistant serve --admin-token-env NAME` with one in `$NAME`.",
                    elem_classes=["qa-muted"])
        ids = gr.Dropdown(visible=False, multiselect=True)
        page.load(listing, outputs=[table, ids], api_visibility="private")
        refresh.click(listing, outputs=[table, ids], api_visibility="private")
        return

    with gr.Accordion("Add or remove articles (admin)", open=True):
        token = gr.Textbox(label="Admin token", type="password",
                           placeholder="the server's admin token (Enter unlocks uploading)")
        with gr.Row():
            files = gr.File(label="Upload files", file_count="multiple", type="filepath", height=150,
                            file_types=sorted(SUPPORTED_SUFFIXES), interactive=False)
            with gr.Column():
                url = gr.Textbox(label="…or fetch a URL", placeholder="https://example.com/article.html")
                add = gr.Button("Add to the index", variant="primary")
        with gr.Row():
            ids = gr.Dropdown(label="Remove articles", multiselect=True, choices=[], scale=3)
            remove = gr.Button("Remove selected", variant="stop", scale=1, elem_classes=["qa-remove"])
        status = gr.HTML(elem_classes=["qa-status-box"])

    def valid(given: str) -> bool:
        return bool(given) and secrets.compare_digest(given.encode(), admin_token.encode())

    def check(given: str) -> None:
        if not valid(given):
            raise _error("Wrong or missing admin token.")

    def unlock(given):
        return gr.update(interactive=valid(given))

    def ingest(given, paths, link, progress=gr.Progress(track_tqdm=True)):
        check(given)
        paths, link = paths or [], (link or "").strip()
        if not paths and not link:
            raise _error("Choose files to upload or enter a URL first.")
        if link and not link.lower().startswith(("http://", "https://")):  # not a path on the server
            raise _error(f"'{link}' is not a web address; enter one that starts with https://")
        if len(paths) > MAX_UPLOAD_FILES:
            raise _error(f"Choose at most {MAX_UPLOAD_FILES} files at once.")
        progress(0, desc="Reading")
        try:
            uploads = [(Path(path).name, Path(path).read_bytes()) for path in paths]
        finally:  # the files are read: nothing of them stays on the server's disk
            for path in paths:
                Path(path).unlink(missing_ok=True)
        with _readable_errors():
            report = assistant.add(uploads, link or None, progress=True)
        summary = (f"Added {report.added}, updated {report.updated}, unchanged {report.unchanged}, "
                   f"failed {report.failed}; chunks embedded: {report.chunks}, in the index: {report.total_chunks}.")
        message = web.message_html(summary, kind="ok") + "".join(
            web.message_html(str(e), kind="error") for e in report.errors)
        return (message, *listing(), None, "")

    def drop(given, chosen):
        check(given)
        if not chosen:
            raise _error("Choose the articles to remove first.")
        with _readable_errors():
            report = assistant.remove(chosen)
        message = web.message_html(f"Removed {report.removed}; chunks left in the index: {report.total_chunks}.",
                                   kind="ok")
        return (message, *listing())

    page.load(listing, outputs=[table, ids], api_visibility="private")
    refresh.click(listing, outputs=[table, ids], api_visibility="private")
    for unlocked in (token.submit, token.blur):
        unlocked(unlock, [token], [files], js=UNLOCK_JS, api_visibility="private")
    add.click(ingest, [token, files, url], [status, table, ids, files, url], api_visibility="private",
              concurrency_limit=1)
    remove.click(drop, [token, ids], [status, table, ids], api_visibility="private", concurrency_limit=1)

