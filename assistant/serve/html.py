"""HTML for the chat page: an answer with numbered markers, its sources, related reading, the collection.

Everything that comes from an article (text, title, url, id) is untrusted, and so is the answer,
whose sentences are quoted from articles. Each such string goes through `inert`: HTML-escaped,
and the characters markdown or LaTeX act on (`[ ] ( ) * _ ` $ : ...`) written as numeric
character references. So a message shows as text whether the chat renders it as HTML or as
markdown: `<img onerror=...>` stays visible text, `[x](javascript:...)` never becomes a link.
Links are emitted only to this server's article view and to http(s) urls. A message is one HTML
block with no blank line in it, because a blank line would end the block and hand the rest to the markdown parser.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from html import escape, unescape
from importlib.resources import files
from urllib.parse import quote, urlsplit

from assistant.answer.citations import MARKER, markers
from assistant.answer.decision import NOTHING_RELATED
from assistant.limits import MAX_LISTED_ARTICLES
from assistant.types import Answer, Article, Citation, EntityArticle, Passage, Profile, ProfileLine

# Characters that start markdown syntax (emphasis, links, images, code, headings, tables,
# strikethrough, autolinks after ':'), LaTeX ('$', '\'), or HTML ('<', '>', '&', quotes).
_ACTIVE = {c: f"&#{ord(c)};" for c in "&<>\"'`*_[](){}#!|~$\\:=+-"}
_ANSWER = re.compile(r'<div class="qa-answer">(.*?)</div>', re.S)
_TAG = re.compile(r"<[^<>]*>")  # not [^>]*: every "<" of "<<<<..." would scan to the end
_SPACE = re.compile(r"\s+")  # newlines too: a message must not contain a blank line
# Characters of passage context shown either side of a quoted sentence (about 35 words).
CONTEXT_CHARS = 220
# Related reading under an abstention: a few articles to try, not two screens of near-misses.
RELATED_MAX = 3
# Styles, as package data (static/): the server's own pages (an article, a 404), and the chat pages'
# classes written below (Gradio's theme variables keep dark mode readable).
PAGE_CSS = (files("assistant") / "static" / "page.css").read_text(encoding="utf-8")
CSS = (files("assistant") / "static" / "chat.css").read_text(encoding="utf-8")


def inert(text: str) -> str:
    """Untrusted text as HTML that displays exactly that text and nothing else."""
    return "".join(_ACTIVE.get(c, c) for c in _SPACE.sub(" ", str(text)))


def safe_href(url: str | None) -> str | None:
    """The url, escaped for an attribute, if it is http(s); None for javascript:, data: and the rest."""
    if not url:
        return None
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return escape(url.strip(), quote=True)


def answer_html(answer: Answer, site: str = "") -> str:
    """The whole chat message: the answer with linked markers, its sources or related reading, actions.

    Args:
        answer: what the service answered.
        site: this server's base URL ("https://host/tools/assistant/"), so links to the article view
            also work from a wiki page that renders the chat itself (Gradio's web component);
            "" gives relative links.
    """
    actions = ('<div class="qa-actions"><button type="button" class="qa-copy">Copy</button>'
               '<button type="button" class="qa-vote qa-up">Helpful</button>'
               '<button type="button" class="qa-vote qa-down">Not helpful</button></div>')
    data = f'<span class="qa-data">{_data(answer, site)}</span>'
    note = f'<div class="qa-note">Note: {inert(answer.note)}</div>' if answer.note else ""
    if answer.abstained:
        body = _related(answer.passages, site)
        return f'<div class="qa qa-abstained">{_answer_div(answer.answer, (), site)}{body}{note}{actions}{data}</div>'
    unsupported = "".join(f"<li>{inert(s)}</li>" for s in answer.unsupported)
    if unsupported:  # sentences an LLM wrote that no passage supports: shown apart, never as the answer
        label = '<div class="qa-label">Not supported by the sources</div>'
        unsupported = f'<div class="qa-related">{label}<ul>{unsupported}</ul></div>'
    said = _answer_div(answer.answer, answer.citations, site)
    if answer.profile is not None:
        said = _profile_card(answer, answer.profile, site)
    return (
        f'<div class="qa">{said}'
        f'<div class="qa-sources"><div class="qa-label">Sources</div>{_sources(answer, site)}</div>'
        f"{unsupported}{note}{actions}{data}</div>"
    )


def article_href(site: str, article_id: str, start: int | None = None, end: int | None = None) -> str:
    """The article view's URL, at a cited span when given: a stable link a wiki page can use too."""
    url = f"{site}articles/{quote(article_id, safe='/')}"  # 'a/notes' stays a path: proxies often refuse %2F
    if start is not None and end is not None:
        url += f"?start={int(start)}&end={int(end)}#cited"
    return escape(url, quote=True)


def partial_html(text: str) -> str:
    """An answer still streaming in: its text so far, markers styled, no sources yet."""
    return f'<div class="qa qa-streaming">{_answer_div(text, markers(text), "")}</div>'


def plain_answer(message: str) -> str:
    """The answer text of a message made by `answer_html` (for follow-up questions); else the text."""
    match = _ANSWER.search(message)
    return unescape(_TAG.sub("", match.group(1) if match else message)).strip()


def articles_html(rows: Iterable[dict], *, total: int | None = None) -> str:
    """The collection as a table: title (linked to the article view), original link, id, chunks.

    Args:
        rows: the articles to show (already searched and sorted).
        total: how many articles the index has, when `rows` is a search's result.
    """
    rows = list(rows)
    if not rows:
        return f'<p class="qa-empty">{"No articles match." if total else "No articles are indexed yet."}</p>'
    body = "".join(
        f'<tr><td><a class="qa-title" href="{article_href("", r["id"])}" target="_blank" rel="noopener">'
        f"{inert(r['title'])}</a>{_original(r.get('url'))}</td><td><code>{inert(r['id'])}</code></td>"
        f'<td class="qa-num">{int(r["chunks"])}</td></tr>'
        for r in rows
    )
    chunks = sum(int(r["chunks"]) for r in rows)
    count = f'{len(rows)} article{"s" if len(rows) != 1 else ""}, {chunks} chunk{"s" if chunks != 1 else ""}'
    if total is not None and total != len(rows):
        count += f" (of {total} articles)"
    return (
        f'<table class="qa-articles"><thead><tr><th>Title</th><th>Id</th><th class="qa-num">Chunks</th></tr>'
        f'</thead><tbody>{body}</tbody></table><p class="qa-count">{count}</p>'
    )


def sources_html(rows: Iterable[dict]) -> str:
    """The synced sources (Assistant.sources) as a table: what, how often, and the last run with its errors."""
    rows = list(rows)
    if not rows:
        return '<p class="qa-empty">No sources yet: add one with `assistant sources add URL` or POST /api/sources.</p>'

    def last(run: dict | None) -> str:
        if run is None:
            return "never run"
        done = inert(run["finished"] or "did not finish (running, or stopped)")
        counts = (f"added {int(run['added'])}, updated {int(run['updated'])}, removed {int(run['removed'])}, "
                  f"unchanged {int(run['unchanged'])}, failed {int(run['failed'])}; {int(run['requests'])} requests")
        error = f'<div class="qa-error">{inert(run["error"])}</div>' if run["error"] else ""
        pages = "".join(f"<li><code>{inert(e['url'])}</code>: {inert(e['error'])}</li>" for e in run["errors"])
        return (f"{inert(run['started'])} → {done}<br>{counts}{error}"
                + (f"<details><summary>errors</summary><ul>{pages}</ul></details>" if pages else ""))

    def schedule(source: dict) -> str:
        failing = int(source["failures"])
        return f"every {float(source['every']) / 60:g} min" + (f", failed {failing} in a row" if failing else "")

    body = "".join(
        f"<tr><td class=\"qa-num\">{int(r['id'])}</td><td>{inert(r['kind'])}</td>"
        f"<td><code>{'<br>'.join(inert(x) for x in r['location'].splitlines())}</code></td>"
        f"<td>{schedule(r)}</td>"
        f"<td>{last(r['last_run'])}</td></tr>"
        for r in rows
    )
    return ('<table class="qa-articles qa-sources"><thead><tr><th class="qa-num">Id</th><th>Kind</th><th>Source</th>'
            f"<th>Schedule</th><th>Last run</th></tr></thead><tbody>{body}</tbody></table>")


def message_html(text: str, *, kind: str = "info") -> str:
    """A status line (ingest report, error) built from untrusted pieces such as file names."""
    return f'<div class="qa-status qa-{kind}">{inert(text)}</div>'


# ── pieces ──────────────────────────────────────────────────────────────────────────────────


def _answer_div(text: str, cited: Iterable[Citation] | Iterable[int], site: str) -> str:
    """Answer text with its `[n]` markers as links to the cited sentence (`_linked`)."""
    return f'<div class="qa-answer">{_linked(text, cited, site)}</div>'


def _profile_card(answer: Answer, profile: Profile, site: str) -> str:
    """A who-is answer as a card: the entity (linking to its page), a description or quotation a
    line, and the articles that mention it, each linking to the article at its first mention.

    The lines are the answer's own lines (what a follow-up question reads back).
    """
    entity = profile.entity
    count = f"named in {entity.articles} article{'s' if entity.articles != 1 else ''}"
    head = (f'<div class="qa-profile-head"><a class="qa-entity" href="{entity_href(site, entity.id)}" '
            f'target="_blank" rel="noopener">{inert(entity.name)}</a>'
            f'<span class="qa-kind">{inert(entity.kind)} · {count}</span></div>')
    pieces = answer.answer.split("\n")
    said, mentioned = (pieces[:-1], pieces[-1]) if pieces[-1].startswith("Mentioned in ") else (pieces, "")
    lines = "\n".join(f'<span class="qa-line">{_linked(piece, answer.citations, site)}</span>' for piece in said)
    listed = ""
    if mentioned:
        links = "; ".join(_article_link(a, site) for a in profile.articles[:MAX_LISTED_ARTICLES])
        more = entity.articles - MAX_LISTED_ARTICLES
        lead = inert(mentioned.split(":", 1)[0])
        tail = f"; and {more} more" if more > 0 else ""
        listed = f'\n<span class="qa-line qa-mentioned">{lead}: {links}{inert(tail)}.</span>'
    return f'<div class="qa-profile">{head}<div class="qa-answer">{lines}{listed}</div></div>'


def _article_link(article: EntityArticle, site: str) -> str:
    at = article.mentions[0] if article.mentions else (None, None)
    date = f' <span class="qa-date">({inert(article.published[:10])})</span>' if article.published else ""
    return (f'<a class="qa-title" href="{article_href(site, article.id, *at)}" target="_blank" rel="noopener">'
            f"{inert(article.title)}</a>{date}")


def entity_href(site: str, entity_id: str) -> str:
    """The entity page's URL."""
    return escape(f"{site}entities/{quote(entity_id, safe='')}", quote=True)


def _linked(text: str, cited: Iterable[Citation] | Iterable[int], site: str) -> str:
    """Text with its `[n]` markers as links to the cited sentence; a `[n]` that cites nothing stays text.

    The page's script turns a click into a jump to the source card; without it the link opens the
    article view (as a middle click does).
    """
    by_number = {c if isinstance(c, int) else c.n: c for c in cited}
    out, last = [], 0
    for match in MARKER.finditer(text):
        n = int(match.group(1))
        if n in by_number:
            c = by_number[n]
            href = article_href(site, c.article_id, c.start, c.end) if isinstance(c, Citation) else "#"
            out += [inert(text[last : match.start()]),
                    f'<sup><a class="qa-marker" href="{href}" target="_blank" rel="noopener">[{n}]</a></sup>']
            last = match.end()
    out.append(inert(text[last:]))
    return "".join(out).strip()


def _sources(answer: Answer, site: str) -> str:
    """One card per distinct passage, however many of the answer's sentences cite it."""
    groups: dict[str, list[Citation]] = {}
    for citation in answer.citations:
        groups.setdefault(citation.chunk_id, []).append(citation)
    passages = {p.chunk.id: p for p in answer.passages}
    return "".join(_source(group, passages.get(chunk_id), site) for chunk_id, group in groups.items())


def _source(citations: list[Citation], passage: Passage | None, site: str) -> str:
    first = citations[0]
    numbers = "".join(f'<span class="qa-n">{c.n}</span>' for c in citations)
    cards = " ".join(f"qa-src-{c.n}" for c in citations)  # what a marker's click looks for
    href = article_href(site, first.article_id, first.start, first.end)
    spans = ", ".join(f"{c.start}–{c.end}" for c in citations)
    return (
        f'<div class="qa-source {cards}"><div class="qa-source-head">{numbers}'
        f'<a class="qa-title" href="{href}" target="_blank" rel="noopener">{inert(first.title)}</a>'
        f"{_original(first.url)}</div>"
        f'<div class="qa-passage">{_highlighted(citations, passage)}</div>'
        f'{_details(f"{inert(first.article_id)} · characters {spans}")}</div>'
    )


def _highlighted(citations: list[Citation], passage: Passage | None) -> str:
    """The quoted sentences marked inside the passage they came from, with some context either side."""
    spans: dict[tuple[int, int], list[Citation]] = {}
    for c in sorted(citations, key=lambda c: (c.start, c.n)):
        spans.setdefault((c.start, c.end), []).append(c)  # a sentence cited twice is marked once
    marks = [(span, cs[0].quote, f'<mark class="{" ".join(f"qa-q-{c.n}" for c in cs)}">{inert(cs[0].quote)}</mark>')
             for span, cs in spans.items()]
    quotes_alone = " … ".join(mark for *_, mark in marks)
    if passage is None:
        return quotes_alone
    text, offset = passage.chunk.text, passage.chunk.start
    pieces, last = [], None
    for (start, end), quote_text, mark in marks:
        start, end = start - offset, end - offset
        if not ((last or 0) <= start <= end <= len(text)) or text[start:end] != quote_text:
            return quotes_alone  # not in this passage, or overlapping another quote
        between = text[last:start] if last is not None else _trim_start(text[:start])
        pieces += [inert(between), mark]
        last = end
    after = text[last:]
    if len(after) > CONTEXT_CHARS:
        after = after[:CONTEXT_CHARS].rsplit(" ", 1)[0] + " …"
    return ("".join(pieces) + inert(after)).strip()


def _trim_start(before: str) -> str:
    if len(before) <= CONTEXT_CHARS:
        return before
    return "… " + before[-CONTEXT_CHARS:].split(" ", 1)[-1]


def _related(passages: Iterable[Passage], site: str) -> str:
    """At most RELATED_MAX passages, one per article: reading that may help, labelled as not an answer."""
    shown: dict[str, Passage] = {}
    for p in passages:
        if len(shown) < RELATED_MAX:
            shown.setdefault(p.chunk.article_id, p)
    items = "".join(
        f'<li><a class="qa-title" href="{article_href(site, p.chunk.article_id, p.chunk.start, p.chunk.end)}" '
        f'target="_blank" rel="noopener">{inert(p.title)}</a>{_original(p.url)}'
        f'<div class="qa-snippet">{inert(_shorten(p.chunk.text, 2 * CONTEXT_CHARS))}</div>'
        f"{_details(inert(p.chunk.article_id))}</li>"
        for p in shown.values()
    )
    if not items:
        return f'<div class="qa-related qa-nothing">{inert(NOTHING_RELATED)}</div>'
    return f'<div class="qa-related"><div class="qa-label">Related reading (not an answer)</div><ul>{items}</ul></div>'


def _details(text: str) -> str:
    """Ids and offsets, for whoever checks a citation: folded away from the default view."""
    return f'<details class="qa-details"><summary>Details</summary><span class="qa-id">{text}</span></details>'


def _original(url: str | None) -> str:
    """A link to where the article was published, if that is an http(s) URL."""
    href = safe_href(url)
    if href is None:
        return ""
    return f'<a class="qa-original" href="{href}" target="_blank" rel="noopener noreferrer nofollow">original</a>'


def _data(answer: Answer, site: str) -> str:
    """The answer as JSON text for the page's copy, export and feedback buttons (Gradio strips data- attributes)."""
    data = {
        "question": answer.question, "answer": answer.answer, "abstained": answer.abstained,
        "answer_id": answer.answer_id,
        "citations": [c.to_dict() | {"href": unescape(article_href(site, c.article_id, c.start, c.end))}
                      for c in answer.citations],
        "feedback": f"{site}api/feedback",
    }
    return "".join(_ACTIVE.get(c, c) for c in json.dumps(data, ensure_ascii=False))


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " …"


# ── pages of their own ──────────────────────────────────────────────────────────────────────


def article_page(article: Article, start: int | None, end: int | None, *, home: str) -> str:
    """The whole article, the cited span (when it is still there) marked and scrolled to by `#cited`.

    Plain HTML, not a chat message, so `escape` is enough; `white-space: pre-wrap` keeps the
    article's paragraphs without building markup from its text.
    """
    text = article.text
    valid = start is not None and end is not None and 0 <= start < end <= len(text)
    if valid:
        body = (f'{escape(text[:start])}<mark id="cited">{escape(text[start:end])}</mark>'
                f"{escape(text[end:])}")
    else:
        body = escape(text)
    stale = ""
    if start is not None and not valid:
        stale = ('<p class="note">The cited passage is no longer at this place in the article; '
                 "it has changed since the answer was given.</p>")
    meta = [escape(part) for part in (article.author, article.published) if part]
    href = safe_href(article.url)
    if href:
        meta.append(f'<a href="{href}" rel="noopener noreferrer nofollow">original</a>')
    where = f" · characters {start}–{end}" if valid else ""
    return _page(
        article.title,
        f'<p class="back"><a href="{escape(home, quote=True)}">← Ask the articles</a></p>'
        f"<h1>{escape(article.title)}</h1>"
        + (f'<p class="meta">{" · ".join(meta)}</p>' if meta else "")
        + f'{stale}<div class="text">{body}</div>'
        f"<details><summary>Details</summary><code>{escape(article.id)}</code>{where}</details>",
    )


def entity_page(profile: Profile, *, home: str) -> str:
    """One person or organisation: what the articles say they are, what they said, and every
    mention by article, each linking to the article view at that mention."""
    entity = profile.entity
    by_n = {c.n: c for c in profile.citations}

    def cited(line: ProfileLine) -> str:
        date = f'<span class="meta">{escape(line.published[:10])}</span> ' if line.published else ""
        marks = "".join(f'<sup><a href="{_article_at(home, by_n[n].article_id, by_n[n].start, by_n[n].end)}">'
                        f"[{n}]</a></sup>" for n in line.citations if n in by_n)
        return f"<li>{date}{escape(line.text)} {marks}</li>"

    sections = []
    if profile.descriptions:
        sections.append(f"<h2>Described as</h2><ul>{''.join(map(cited, profile.descriptions))}</ul>")
    if profile.quotes:
        sections.append(f"<h2>Said</h2><ul>{''.join(map(cited, profile.quotes))}</ul>")
    articles = []
    for a in profile.articles:
        date = f' <span class="meta">{escape(a.published[:10])}</span>' if a.published else ""
        first = a.mentions[0] if a.mentions else (None, None)
        items = "".join(
            f'<li><a href="{_article_at(home, a.id, s, e)}">{_mention_context(context)}</a></li>'
            for (s, e), context in zip(a.mentions, a.contexts))
        articles.append(f'<li><a href="{_article_at(home, a.id, *first)}">{escape(a.title)}</a>{date}'
                        f"<ul>{items}</ul></li>")
    count = f"{entity.articles} article{'s' if entity.articles != 1 else ''}"
    shown = ("" if len(profile.articles) >= entity.articles else
             f'<p class="meta">The newest {len(profile.articles)} are listed.</p>')
    sections.append(f"<h2>Mentioned in {count}</h2>{shown}<ul>{''.join(articles)}</ul>")
    return _page(
        entity.name,
        f'<p class="back"><a href="{escape(home, quote=True)}">← Ask the articles</a></p>'
        f"<h1>{escape(entity.name)}</h1><p class=\"meta\">{escape(entity.kind)} · named in {count}</p>"
        + "".join(sections)
        + f"<details><summary>Details</summary><code>{escape(entity.id)}</code></details>",
    )


def _article_at(home: str, article_id: str, start: int | None, end: int | None) -> str:
    """The article view's URL from a page under `home`."""
    return article_href(home, article_id, start, end)


def _mention_context(context: tuple[str, str, str]) -> str:
    """A mention in its context, the name marked: '… says <mark>Alexander Golts</mark>, a …'."""
    before, name, after = (_SPACE.sub(" ", part) for part in context)
    return f"…{escape(before)}<mark>{escape(name)}</mark>{escape(after)}…"


def not_found_page(message: str, *, home: str) -> str:
    """A small page for a path (or an article) that is not here, instead of a JSON body in a browser."""
    return _page(
        "Not found",
        f'<h1>Not found</h1><p>{escape(message)}</p>'
        f'<p><a href="{escape(home, quote=True)}">Ask the articles</a> · '
        f'<a href="{escape(home, quote=True)}docs">HTTP API</a></p>',
    )


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)} · Ask the articles</title><style>{PAGE_CSS}</style></head>"
        f"<body><main>{body}</main></body></html>"
    )
