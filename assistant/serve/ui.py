"""The chat pages (Gradio), mounted on the API's FastAPI app by `mount`, and the article view.

    /               Chat (streaming answers, sources under each) | Collection (search the articles;
                    with the admin token also upload, fetch a URL, remove)
    /embed/         the chat alone, compact, for an iframe: no admin controls, nothing secret in the page
    /articles/{id}  one article, the cited sentence (?start=&end=) highlighted: where a citation leads
    /entities/{id}  one person or organisation: descriptions, quotations, every mention by article

Both chats are thin presenters over one `Assistant`; answers are rendered to HTML by `assistant.serve.html`,
which keeps every article string inert. What Gradio does not do (links from a citation to its
source, focus and scrolling after an answer, copy, feedback, export) is `static/chat.js`. A
mistake (an empty question, a wrong token) is a message in the page, never an error that leaves
the chat disabled.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from importlib.resources import files
from pathlib import Path
from typing import Any

import gradio as gr
from fastapi import Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from starlette.routing import Mount

from assistant.errors import AssistantError, NotAuthorized, NotFound, without_paths
from assistant.ingest.parsers import SUPPORTED_SUFFIXES
from assistant.limits import MAX_QUESTION_CHARS, MAX_UPLOAD_FILES, RateLimiter
from assistant.serve import html
from assistant.serve.gradio_guard import GradioGuard, arm, private_upload_folder
from assistant.serve.access import Access, Reader
from assistant.serve.middleware import AdminToken, NotFoundPage
from assistant.service import Assistant
from assistant.types import Answer, Turn

log = logging.getLogger(__name__)

EXAMPLES = [
    "who is Alexander Golts?",
    "How many applications does the recruiter's group receive per day?",
    "Why is Syria less appealing to Russian volunteers than Ukraine?",
]
# System fonts: the default theme fetches Google Fonts, which an offline server cannot reach.
# A destructive button ("Remove selected…", variant="stop") is filled red: Soft's own is white on the
# white panel, without a border, and read as a card rather than a button. Light: white on #b91c1c
# (6.5:1), the button 6.5:1 on the panel; dark: #111827 on #f87171 (6.6:1), the button 5.8:1 on the
# panel (a control's boundary needs 3:1; #b91c1c there was 2.3:1).
THEME = gr.themes.Soft(
    primary_hue="indigo", neutral_hue="slate",
    font=["Inter", "ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "sans-serif"],
    font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "monospace"],
).set(
    button_cancel_background_fill="#b91c1c", button_cancel_background_fill_dark="#f87171",
    button_cancel_background_fill_hover="#991b1b", button_cancel_background_fill_hover_dark="#fca5a5",
    button_cancel_border_color="#991b1b", button_cancel_border_color_dark="#fca5a5",
    button_cancel_border_color_hover="#7f1d1d", button_cancel_border_color_hover_dark="#fecaca",
    button_cancel_text_color="#ffffff", button_cancel_text_color_dark="#111827",
    button_cancel_text_color_hover="#ffffff", button_cancel_text_color_hover_dark="#111827",
)
# Loads the `<gradio-app>` element from ./assets/, which the /embed app serves.
WEB_COMPONENT = Path(gr.__file__).parent / "templates" / "frontend" / "gradio.js"
STATIC = files("assistant") / "static"  # package data: chat.js, the styles, unlock.js
# In a frame every pixel counts: no page margins (after html.CSS).
EMBED_CSS = (STATIC / "embed.css").read_text(encoding="utf-8")
# Questions answered at once per page; the work is CPU-bound and the model is shared.
CHAT_CONCURRENCY = 4
EMPTY_QUESTION = "Type a question about the articles first."
# Uploaded files live in Gradio's temporary folder until ingested (then removed); any left are
# removed hourly and when the server stops: (every, older than) in seconds.
DELETE_UPLOADS = (3600, 3600)
# Page uploads go through Gradio's route, which needs the admin cookie (gradio_guard, middleware.AdminToken):
# the token typed here gets it from /api/admin/session before the file input is enabled.
# Gradio's queue looks for work every 1 ms while idle, and for progress every 10 ms: with two pages
# an idle server spent 6-9% of a core on it. No setting changes these (`queue()` re-creates the same
# loop); 20 ms and 100 ms (about Gradio's own values on Windows) cost a question at most 20 ms.
QUEUE_POLL_S = (0.02, 0.1)
# Sends the typed admin token for the upload cookie, then hands it on to the Python handler.
UNLOCK_JS = (STATIC / "unlock.js").read_text(encoding="utf-8")


def mount(app, assistant: Assistant, *, admin: AdminToken, access: Access, limiter: RateLimiter) -> None:
    """Mount the article view, /embed and then / (a mount at / catches every path, so it goes last).

    Each page sits behind a `GradioGuard`, with Gradio's own path checks armed, and its uploads in a
    folder private to this process (removed when the app stops: see `api.create_app`'s lifespan).
    """
    max_file_size = f"{int(assistant.settings.max_upload_mb * 1024)}kb"
    # No footer: its "Use via API" opens Gradio's own page; the header links the project's /docs.
    common = {"theme": THEME, "ssr_mode": False, "pwa": False, "run_history": False, "footer_links": [],
              "js": (STATIC / "chat.js").read_text(encoding="utf-8"), "allowed_paths": [], "blocked_paths": []}
    uploads = private_upload_folder()  # before any page is built: Gradio reads it then
    app.state.upload_folder = uploads
    # Relative, so it also lands right under a proxy's sub-path: /tools/assistant/embed -> .../embed/
    app.add_api_route("/embed", lambda: RedirectResponse("embed/"), methods=["GET", "HEAD"], include_in_schema=False)
    # Gradio's web component, served from here so a wiki needs no CDN: <script src=".../embed/gradio.js">
    app.add_api_route("/embed/gradio.js", lambda: FileResponse(WEB_COMPONENT, media_type="text/javascript"),
                      methods=["GET", "HEAD"], include_in_schema=False)
    app.add_api_route("/articles/{article_id:path}", _article_view(assistant, access), methods=["GET", "HEAD"],
                      include_in_schema=False, response_class=HTMLResponse)
    app.add_api_route("/entities/{entity_id}", _entity_view(assistant, access), methods=["GET", "HEAD"],
                      include_in_schema=False, response_class=HTMLResponse)
    app.add_middleware(NotFoundPage)
    pages = [(embed_page(assistant, access, limiter), "/embed", False, {"css": html.CSS + EMBED_CSS}),
             (chat_page(assistant, access, admin=admin, limiter=limiter), "/", True,
              {"css": html.CSS, "max_file_size": max_file_size})]
    for page, path, takes_files, options in pages:
        gr.mount_gradio_app(app, page, path=path, **common, **options)
        arm(page)
        _guard(app, path, GradioGuard, files=takes_files, admin=admin, upload_folder=uploads)


def _guard(app, path: str, guard, **options) -> None:
    """Wrap the Gradio app just mounted at `path` (the last route of that path) in `guard`."""
    mounted = next(route for route in reversed(app.router.routes)
                   if isinstance(route, Mount) and route.path == path.rstrip("/"))
    mounted.app = guard(mounted.app, **options)


def chat_page(assistant: Assistant, access: Access | None = None, *, admin: AdminToken | None = None,
              limiter: RateLimiter | None = None) -> gr.Blocks:
    """The full page: chat, and the collection with admin controls when a token is configured."""
    admin = admin or AdminToken(None)
    access = access or Access(assistant.settings, assistant.access, admin)
    with gr.Blocks(title="Ask the articles", analytics_enabled=False, fill_height=True,
                   delete_cache=DELETE_UPLOADS) as page:
        gr.HTML(
            '<header class="qa-header"><h1>Ask the articles</h1><a class="qa-api" href="docs" target="_blank">'
            "HTTP API</a><p>Answers quote the indexed articles, and every sentence cites its source. When the "
            "articles don't say, the assistant says so.</p></header>"
        )
        with gr.Tabs(elem_classes=["qa-tabs"]):
            with gr.Tab("Chat", id="chat", elem_classes=["qa-chat-tab"]):
                _chat(page, assistant, access, limiter, mount="", autofocus=True)
            with gr.Tab("Collection", id="collection", elem_classes=["qa-collection-tab"]):
                _collection(page, assistant, access, admin)
    return _idle_quietly(page)


def embed_page(assistant: Assistant, access: Access | None = None, limiter: RateLimiter | None = None) -> gr.Blocks:
    """The chat alone, sized to its frame; `?collection=NAME` narrows it to one readable collection."""
    access = access or Access(assistant.settings, assistant.access, AdminToken(None))
    with gr.Blocks(title="Ask the articles", analytics_enabled=False, fill_height=True, fill_width=True) as page:
        # autofocus off: a frame that takes focus scrolls the wiki page
        _chat(page, assistant, access, limiter, mount="/embed", autofocus=False)
    return _idle_quietly(page)


def _idle_quietly(page: gr.Blocks) -> gr.Blocks:
    """Slow the page queue's idle polling to QUEUE_POLL_S (the one use of Gradio's queue internals).

    Checked against gradio 6.31.0: `Blocks.__init__` makes `_queue` (a `queueing.Queue`), whose
    `start_processing` sleeps `sleep_when_free` and `start_progress_updates`
    `progress_update_sleep_when_free` between looks while there is nothing to do.
    """
    queue = page._queue
    if not hasattr(queue, "sleep_when_free"):  # another Gradio: leave it be (test_ui says so)
        log.warning("gradio %s has no queue.sleep_when_free; its idle polling is unchanged", gr.__version__)
        return page
    queue.sleep_when_free, queue.progress_update_sleep_when_free = QUEUE_POLL_S
    return page


# ── chat ────────────────────────────────────────────────────────────────────────────────────


def _chat(page: gr.Blocks, assistant: Assistant, access: Access, limiter: RateLimiter | None, *, mount: str,
          autofocus: bool) -> gr.ChatInterface:
    def respond(message: str, history: list[dict], request: gr.Request) -> Iterator[str]:
        """Stream the answer text, then the full message with its sources; a failure is a message too."""
        if not str(message or "").strip():  # the page's validator stops these; /chat callers get the hint
            yield html.message_html(EMPTY_QUESTION)
            return
        wait = limiter.wait(request.client.host if request and request.client else "") if limiter else 0
        if wait:  # a message, not gr.Error: an error would leave the chat disabled
            yield html.message_html(f"Too many questions from this address; ask again in {wait:.0f} s.", kind="error")
            return
        text = ""
        try:
            # the page's own query (Gradio's client sends it with each question): /embed/?collection=NAME
            only = request.query_params.get("collection") if request and request.request else None
            scope = assistant.scope(_reader(access, request).granted, only)
            for item in assistant.stream(message, turns(history), scope=scope):
                if isinstance(item, Answer):
                    yield html.answer_html(item, _site(request, mount))
                else:
                    text += item
                    yield html.partial_html(text)
        except AssistantError as exc:  # readers are anonymous: no server paths
            yield html.message_html(without_paths(str(exc), assistant.index.root), kind="error")
        except Exception as exc:
            log.exception("the chat failed")
            yield html.message_html(f"Something went wrong on the server ({type(exc).__name__}); "
                                   "its log has the details.", kind="error")

    export = gr.Button("Export", size="sm", render=False, elem_classes=["qa-export"])
    chatbot = gr.Chatbot(
        height=None, min_height=160, scale=1, show_label=False, feedback_options=None,
        buttons=[export],  # no Gradio copy button: it copies the message's HTML; ours copies text
        autoscroll=False,  # chat.js scrolls to the start of the answer, not the end of its sources
        latex_delimiters=[],  # "$$" in an article is text, not a formula
        placeholder="Ask a question about the indexed articles.", elem_classes=["qa-chat"],
    )
    chat = gr.ChatInterface(
        respond, chatbot=chatbot, examples=EXAMPLES, api_name="chat", concurrency_limit=CHAT_CONCURRENCY,
        textbox=gr.Textbox(placeholder="Ask about the articles…", label="Question", show_label=False,
                           autofocus=autofocus, max_length=MAX_QUESTION_CHARS, submit_btn=True,
                           elem_classes=["qa-question"]),
        validator=lambda message: gr.validate(bool(str(message or "").strip()), EMPTY_QUESTION),
        fill_height=True, flagging_mode="never",
        # No progress tracker: it announces an untranslated "common.complete" to screen readers after
        # every answer, while the streaming answer in the chat log already says that it is working.
        show_progress="hidden",
    )
    export.click(None, js="() => window.assistantChat.exportMarkdown()")
    # The conversation survives a reload: kept in the browser's localStorage, written on every
    # change once the saved one is back (the empty chat a page starts with would overwrite it).
    # Each chat keeps its own: keyed by the mount and by the name a wiki page gives its frame
    # (`/embed/?conversation=desk`, or the iframe's name), so two embeds on one page don't share one.
    base = json.dumps(f"assistant-conversation{mount.replace('/', '-')}")
    key = (f"({base} + ((n) => n ? '-' + n : '')(new URLSearchParams(location.search).get('conversation')"
           " || window.name || ''))")
    restore = (f"() => {{ const key = {key}; (window.assistantSaved ??= new Set()).add(key);"
               " try { return [JSON.parse(localStorage.getItem(key) || '[]')]; } catch { return [[]]; } }")
    save = (f"(history) => {{ const key = {key}; if (window.assistantSaved?.has(key))"
            " try { localStorage.setItem(key, JSON.stringify(history)); } catch {} return []; }")
    page.load(None, None, chatbot, js=restore).then(lambda history: history, chatbot, chat.chatbot_state,
                                                    api_visibility="private")
    chatbot.change(None, chatbot, None, js=save)
    return chat


def _site(request: gr.Request | None, mount: str) -> str:
    """This server's public base URL ("https://host/tools/assistant/") as the request reached it.

    Links in answers are absolute because Gradio's web component renders them into the wiki's own
    page, where a relative link would point into the wiki.
    """
    from gradio.route_utils import get_root_url

    if request is None or request.request is None:
        return ""
    path = request.request.url.path
    route = path[path.find("/gradio_api/"):] if "/gradio_api/" in path else path
    return get_root_url(request.request, route, None).removesuffix(mount) + "/"


def turns(history: list[dict]) -> list[Turn]:
    """Chat history (Gradio messages) as the service's turns: each question with the answer text."""
    out: list[Turn] = []
    for message in history:
        text = _text(message.get("content"))
        if message.get("role") == "user":
            out.append(Turn(text))
        elif message.get("role") == "assistant" and out and not out[-1].answer:
            out[-1] = Turn(out[-1].question, html.plain_answer(text))
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


# ── the article view ─────────────────────────────────────────────────────────────────────


def _reader(access: Access, request: gr.Request | None) -> Reader:
    """Who asks, from the request behind a Gradio event (serve/access.py); anonymous without one."""
    if request is None or request.request is None:
        return Reader()
    return access.reader(request.request.scope)


def _article_view(assistant: Assistant, access: Access):
    def article(request: Request, article_id: str, start: int | None = None, end: int | None = None) -> HTMLResponse:
        """The article a citation points at, its sentence highlighted (an HTML page, not API); one the
        reader may not read is "not found", word for word as a missing one."""
        home = "../" * article_id.count("/") + "../"  # back to / from /articles/<id>, under any sub-path

        def render() -> str:
            found = assistant.article(article_id, assistant.scope(access.reader(request.scope).granted))
            return html.article_page(found, start, end, home=home)

        return _page(assistant, home, render)

    return article


def _entity_view(assistant: Assistant, access: Access):
    def entity(request: Request, entity_id: str) -> HTMLResponse:
        """One person's or organisation's page: descriptions, quotations, every mention by article,
        from the articles the reader may read (one named only in others is "not found")."""
        home = "../"  # back to / from /entities/<id>, under any sub-path

        def render() -> str:
            profile = assistant.entity(entity_id, assistant.scope(access.reader(request.scope).granted))
            return html.entity_page(profile, home=home)

        return _page(assistant, home, render)

    return entity


def _page(assistant: Assistant, home: str, render: Callable[[], str]) -> HTMLResponse:
    """A page of the index, or the not-found page with the status its error calls for."""
    try:
        return HTMLResponse(render())
    except NotFound as exc:
        return HTMLResponse(html.not_found_page(str(exc), home=home), 404)
    except NotAuthorized as exc:  # a read token that is unknown, revoked or expired
        return HTMLResponse(html.not_found_page(str(exc), home=home), 401)
    except AssistantError as exc:  # no index yet, or one built with other settings
        return HTMLResponse(html.not_found_page(without_paths(str(exc), assistant.index.root), home=home), 503)


# ── collection ──────────────────────────────────────────────────────────────────────────────

SORTS = {"Title": lambda r: r["title"].casefold(), "Id": lambda r: r["id"], "Most chunks": lambda r: -int(r["chunks"])}


def search_articles(rows: list[dict], query: str = "", sort: str = "Title") -> list[dict]:
    """The articles whose title or id contains every word of `query`, sorted by `sort`."""
    words = (query or "").casefold().split()
    found = [r for r in rows if all(w in f"{r['title']} {r['id']}".casefold() for w in words)]
    return sorted(found, key=SORTS.get(sort, SORTS["Title"]))


def _collection(page: gr.Blocks, assistant: Assistant, access: Access, admin: AdminToken) -> None:
    """Admin controls first (where an admin looks), then the searchable table everyone sees."""
    if admin.token is None:
        gr.Markdown("Adding and removing articles is off on this server. To turn it on, start it (`make run`, "
                    "`python app.py` or `assistant serve`) with a secret token in `$ASSISTANT_ADMIN_TOKEN`.",
                    elem_classes=["qa-muted"])
        ids, changed = gr.Dropdown(visible=False, multiselect=True), list[Any]()
    else:
        ids, changed = _admin_panel(assistant, admin)
    with gr.Row(equal_height=True):
        query = gr.Textbox(label="Search articles", placeholder="words of a title or id", scale=4,
                           elem_classes=["qa-search"])
        sort = gr.Dropdown(list(SORTS), value="Title", label="Sort by", scale=1, min_width=140)
    table = gr.HTML(elem_classes=["qa-collection"])

    def listing(words: str, order: str, request: gr.Request):
        try:
            rows = assistant.articles(assistant.scope(_reader(access, request).granted))
        except AssistantError as exc:  # no index yet, or one built with other settings; seen by anyone
            return (html.message_html(without_paths(str(exc), assistant.index.root), kind="error"),
                    gr.update(choices=[], value=[]))
        shown = search_articles(rows, words, order)
        choices = [(f"{r['title']} ({r['id']})", r["id"]) for r in search_articles(rows)]
        return html.articles_html(shown, total=len(rows)), gr.update(choices=choices, value=[])

    refresh: dict[str, Any] = {"fn": listing, "inputs": [query, sort], "outputs": [table, ids],
                               "api_visibility": "private"}
    page.load(**refresh)
    query.change(**refresh, trigger_mode="always_last", show_progress="hidden")
    sort.change(**refresh, show_progress="hidden")
    for event in changed:
        event.then(**refresh)


def _admin_panel(assistant: Assistant, admin: AdminToken) -> tuple[gr.Dropdown, list]:
    """Upload, fetch, remove (asking first). Every outcome, a wrong token included, is one status line.

    Returns the removal dropdown and the events after which the table is listed again.
    """
    # Closed: most visitors are readers, for whom the panel is only a locked form.
    with gr.Accordion("Add or remove articles (admin)", open=False, elem_classes=["qa-admin"]):
        token = gr.Textbox(label="Admin token", type="password",
                           placeholder="the server's admin token (Enter unlocks uploading)")
        with gr.Row():
            files = gr.File(label="Upload files (enter the admin token above to unlock)", file_count="multiple",
                            type="filepath", height=120,
                            file_types=sorted(SUPPORTED_SUFFIXES), interactive=False)
            with gr.Column():
                url = gr.Textbox(label="…or fetch a URL", placeholder="https://example.com/article.html")
                where = gr.Textbox(label="Into the collection", placeholder="default (or where each one already is)")
                add = gr.Button("Add to the index", variant="primary")
        with gr.Row(equal_height=True):
            ids = gr.Dropdown(label="Remove articles", multiselect=True, choices=[], scale=3)
            # min_width: on a phone the button takes a line of its own rather than two lines of text
            remove = gr.Button("Remove selected…", variant="stop", scale=1, min_width=200, elem_classes=["qa-remove"])
        with gr.Row(visible=False, elem_classes=["qa-confirm"]) as confirm:
            question = gr.HTML()
            yes = gr.Button("Yes, remove them", variant="stop", scale=0, min_width=160)
            no = gr.Button("Cancel", variant="secondary", scale=0, min_width=100)
        status = gr.HTML(elem_classes=["qa-status-box"])
        with gr.Accordion("Synced sources (admin)", open=False, elem_classes=["qa-sources-panel"]):
            with gr.Row(equal_height=True):
                location = gr.Textbox(label="Feed, sitemap or page URL", scale=4,
                                      placeholder="https://example.com/feed.xml (folders: `assistant sources add`)")
                every = gr.Textbox(label="Every", value="1h", scale=1, min_width=90)
                add_source = gr.Button("Add source", variant="primary", scale=1)
            with gr.Row(equal_height=True):
                source_id = gr.Number(label="Source id", precision=0, minimum=1, scale=1, min_width=90)
                sync_now = gr.Button("Sync now", variant="secondary", scale=1)
                stop = gr.Button("Stop syncing it", variant="stop", scale=1)
                show = gr.Button("Show sources and their last run", variant="secondary", scale=2)
            sources = gr.HTML()

    def wrong(given: str, request: gr.Request | None) -> str | None:
        """The one message for a missing, wrong or too often guessed token, or None when it is right."""
        client = request.client.host if request and request.client else ""
        if locked := admin.lockout(client):
            return f"{locked[1].capitalize()}. Nothing was changed."
        if not given:
            return "Enter the admin token first (the value of ASSISTANT_ADMIN_TOKEN on the server)."
        if not admin.check(given, client):
            return "Wrong admin token: it does not match this server's ASSISTANT_ADMIN_TOKEN. Nothing was changed."
        return None

    def error(message: str) -> str:
        return html.message_html(message, kind="error")

    def unlock(given: str, request: gr.Request):
        """The file input unlocked by the right token; a wrong one says so at once (Enter or leaving the box)."""
        if not given:
            return gr.update(interactive=False), gr.skip()
        problem = wrong(given, request)
        if problem:
            return gr.update(interactive=False), error(problem)
        return gr.update(interactive=True), html.message_html("Unlocked: choose files to upload or enter a URL.",
                                                              kind="ok")

    def ingest(given, paths, link, collection, request: gr.Request, progress=gr.Progress(track_tqdm=True)):
        paths, link = paths or [], (link or "").strip()
        problem = wrong(given, request)
        if problem is None and not paths and not link:
            problem = "Choose files to upload or enter a URL first."
        if problem is None and link and not link.lower().startswith(("http://", "https://")):  # not a server path
            problem = f"'{link}' is not a web address; enter one that starts with https://"
        if problem is None and len(paths) > MAX_UPLOAD_FILES:
            problem = f"Choose at most {MAX_UPLOAD_FILES} files at once."
        if problem:
            return error(problem), gr.skip(), gr.skip()
        progress(0, desc="Reading")
        try:
            uploads = [(Path(path).name, Path(path).read_bytes()) for path in paths]
        finally:  # the files are read: nothing of them stays on the server's disk
            for path in paths:
                Path(path).unlink(missing_ok=True)
        try:
            report = assistant.add(uploads, link or None, progress=True, collection=(collection or "").strip() or None)
        except AssistantError as exc:
            return error(str(exc)), gr.skip(), gr.skip()
        summary = (f"Added {report.added}, updated {report.updated}, unchanged {report.unchanged}, "
                   f"failed {report.failed}; chunks embedded: {report.chunks}, in the index: {report.total_chunks}.")
        notes = "".join(html.message_html(f"Replaced: {note}", kind="warn") for note in report.replaced)
        return (html.message_html(summary, kind="ok") + notes + "".join(error(str(e)) for e in report.errors), None, "")

    def ask_first(given, chosen, request: gr.Request):
        problem = wrong(given, request) or (None if chosen else "Choose the articles to remove first.")
        if problem:
            return error(problem), gr.update(visible=False), gr.skip()
        names = _names(assistant, chosen)
        one = len(chosen) == 1
        prompt = (f"Remove {len(chosen)} article{'' if one else 's'} and {'its' if one else 'their'} chunks from "
                  f"the index: {names}? To undo, add the files again.")
        return "", gr.update(visible=True), html.message_html(prompt, kind="warn")

    def drop(given, chosen, request: gr.Request):
        problem = wrong(given, request) or (None if chosen else "Choose the articles to remove first.")
        if problem:
            return error(problem), gr.update(visible=False)
        names = _names(assistant, chosen)
        try:
            report = assistant.remove(chosen)
        except AssistantError as exc:
            return error(str(exc)), gr.update(visible=False)
        done = (f"Removed {report.removed} article{'s' if report.removed != 1 else ''}: {names}; "
                f"chunks left in the index: {report.total_chunks}.")
        return html.message_html(done, kind="ok"), gr.update(visible=False)

    def list_sources(given, request: gr.Request):
        problem = wrong(given, request)
        return error(problem) if problem else html.sources_html(assistant.sources())

    def on_sources(given: str, request: gr.Request | None, act) -> str:
        """`act()` for the admin, then the sources listed with what it did; any problem is one message."""
        problem = wrong(given, request)
        if problem:
            return error(problem)
        try:
            done = act()
        except AssistantError as exc:
            return error(str(exc))
        return html.message_html(done, kind="ok") + html.sources_html(assistant.sources())

    def add_a_source(given, where, how_often, request: gr.Request):
        def act() -> str:
            source = assistant.add_source([where], every=how_often or "1h", folders=False)
            return f"Added source {source.id}: it syncs within a minute, then every {source.every / 60:g} min."
        return on_sources(given, request, act)

    def sync_a_source(given, number, request: gr.Request):
        def act() -> str:
            runs = assistant.sync(_source_number(number))
            return "; ".join(f"Source {r.source}: added {r.added}, updated {r.updated}, removed {r.removed}, "
                             f"failed {r.failed}" for r in runs) or "Nothing to sync."
        return on_sources(given, request, act)

    def stop_a_source(given, number, request: gr.Request):
        def act() -> str:
            source = assistant.remove_source(_source_number(number))
            return f"Source {source.id} is no longer synced; the articles it brought stay."
        return on_sources(given, request, act)

    show.click(list_sources, [token], [sources], api_visibility="private")
    add_source.click(add_a_source, [token, location, every], [sources], api_visibility="private")
    sync_now.click(sync_a_source, [token, source_id], [sources], api_visibility="private", concurrency_limit=1)
    stop.click(stop_a_source, [token, source_id], [sources], api_visibility="private")
    for unlocked in (token.submit, token.blur):
        unlocked(unlock, [token], [files, status], js=UNLOCK_JS,
                 api_visibility="private")
    added = add.click(ingest, [token, files, url, where], [status, files, url], api_visibility="private",
                      concurrency_limit=1)
    remove.click(ask_first, [token, ids], [status, confirm, question], api_visibility="private")
    removed = yes.click(drop, [token, ids], [status, confirm], api_visibility="private", concurrency_limit=1)
    no.click(lambda: gr.update(visible=False), None, confirm, api_visibility="private")
    return ids, [added, removed]


def _source_number(number) -> int:
    if number is None or int(number) < 1:
        raise AssistantError("enter the id of a source first (the Id column of the list)")
    return int(number)


def _names(assistant: Assistant, ids: list[str]) -> str:
    """'Title (id), Title (id)' for a message; an id that is not indexed is named as itself."""
    try:
        titles = {r["id"]: r["title"] for r in assistant.articles()}
    except AssistantError:
        titles = {}
    return ", ".join(f"{titles[i]} ({i})" if i in titles else i for i in ids)
