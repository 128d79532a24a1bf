"""HTML for the chat page: an answer with numbered markers, its sources, related reading, the collection.

Everything that comes from an article (text, title, url, id) is untrusted, and so is the answer,
whose sentences are quoted from articles. Each such string goes through `inert`: HTML-escaped,
and the characters markdown or LaTeX act on (`[ ] ( ) * _ ` $ : ...`) written as numeric
character references. So a message shows as text whether the chat renders it as HTML or as
markdown: `<img onerror=...>` stays visible text, `[x](javascript:...)` never becomes a link.
Links are emitted only for http(s) urls. A message is one HTML block with no blank line in it,
because a blank line would end the block and hand the rest to the markdown parser.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from assistant.types import MARKER, Answer, Citation, Passage, markers

# Characters that start markdown syntax (emphasis, links, images, code, headings, tables,
# strikethrough, autolinks after ':'), LaTeX ('$', '\'), or HTML ('<', '>', '&', quotes).
_ACTIVE = {c: f"&#{ord(c)};" for c in "&<>\"'`*_[](){}#!|~$\\:=+-"}
_ANSWER = re.compile(r'<div class="qa-answer">(.*?)</div>', re.S)
_TAG = re.compile(r"<[^<>]*>")  # not [^>]*: every "<" of "<<<<..." would scan to the end
_SPACE = re.compile(r"\s+")  # newlines too: a message must not contain a blank line
# Characters of passage context shown either side of a quoted sentence (about 35 words).
CONTEXT_CHARS = 220


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
    return html.escape(url.strip(), quote=True)


def answer_html(answer: Answer) -> str:
    """The whole chat message: the answer with markers, then its sources or related reading."""
    if answer.abstained:
        body = _related(answer.passages)
        return f'<div class="qa qa-abstained">{_answer_div(answer.answer, ())}{body}</div>'
    sources = "".join(_source(c, answer.passages) for c in answer.citations)
    unsupported = "".join(f"<li>{inert(s)}</li>" for s in answer.unsupported)
    if unsupported:  # sentences an LLM wrote that no passage supports: shown apart, never as the answer
        label = '<div class="qa-label">Not supported by the sources</div>'
        unsupported = f'<div class="qa-related">{label}<ul>{unsupported}</ul></div>'
    note = f'<div class="qa-note">Note: {inert(answer.note)}</div>' if answer.note else ""
    return (
        f'<div class="qa">{_answer_div(answer.answer, answer.citations)}'
        f'<div class="qa-sources"><div class="qa-label">Sources</div>{sources}</div>{unsupported}{note}</div>'
    )


def partial_html(text: str) -> str:
    """An answer still streaming in: its text so far, markers styled, no sources yet."""
    return f'<div class="qa qa-streaming">{_answer_div(text, markers(text))}</div>'


def plain_answer(message: str) -> str:
    """The answer text of a message made by `answer_html` (for follow-up questions); else the text."""
    match = _ANSWER.search(message)
    return html.unescape(_TAG.sub("", match.group(1) if match else message)).strip()


def articles_html(rows: Iterable[dict]) -> str:
    """The collection as a table: title (linked), id, chunks."""
    rows = list(rows)
    if not rows:
        return '<p class="qa-empty">No articles are indexed yet.</p>'
    body = "".join(
        f"<tr><td>{_title(r['title'], r.get('url'))}</td><td><code>{inert(r['id'])}</code></td>"
        f'<td class="qa-num">{int(r["chunks"])}</td></tr>'
        for r in rows
    )
    total = sum(int(r["chunks"]) for r in rows)
    return (
        f'<table class="qa-articles"><thead><tr><th>Title</th><th>Id</th><th class="qa-num">Chunks</th></tr>'
        f'</thead><tbody>{body}</tbody></table>'
        f'<p class="qa-count">{len(rows)} article{"s" if len(rows) != 1 else ""}, {total} chunks</p>'
    )


def message_html(text: str, *, kind: str = "info") -> str:
    """A status line (ingest report, error) built from untrusted pieces such as file names."""
    return f'<div class="qa-status qa-{kind}">{inert(text)}</div>'


# ── pieces ──────────────────────────────────────────────────────────────────────────────────


def _answer_div(text: str, cited: Iterable[Citation] | Iterable[int]) -> str:
    """Answer text with its `[n]` markers as badges; a `[n]` that cites nothing stays text."""
    numbers = {c if isinstance(c, int) else c.n for c in cited}
    out, last = [], 0
    for match in MARKER.finditer(text):
        if int(match.group(1)) in numbers:
            out += [inert(text[last : match.start()]), f'<sup class="qa-marker">[{int(match.group(1))}]</sup>']
            last = match.end()
    out.append(inert(text[last:]))
    return f'<div class="qa-answer">{"".join(out).strip()}</div>'


def _source(citation: Citation, passages: Iterable[Passage]) -> str:
    passage = next((p for p in passages if p.chunk.id == citation.chunk_id), None)
    where = f"{inert(citation.article_id)} · characters {citation.start}–{citation.end}"
    return (
        f'<div class="qa-source"><div class="qa-source-head"><span class="qa-n">{citation.n}</span>'
        f'{_title(citation.title, citation.url)}<span class="qa-id">{where}</span></div>'
        f'<div class="qa-passage">{_highlighted(citation, passage)}</div></div>'
    )


def _highlighted(citation: Citation, passage: Passage | None) -> str:
    """The quoted sentence marked inside the passage it came from, with some context either side."""
    quote = f"<mark>{inert(citation.quote)}</mark>"
    if passage is None:
        return quote
    text, offset = passage.chunk.text, passage.chunk.start
    start, end = citation.start - offset, citation.end - offset
    if not (0 <= start <= end <= len(text)) or text[start:end] != citation.quote:
        return quote
    before, after = text[:start], text[end:]
    if len(before) > CONTEXT_CHARS:
        before = "… " + before[-CONTEXT_CHARS:].split(" ", 1)[-1]
    if len(after) > CONTEXT_CHARS:
        after = after[:CONTEXT_CHARS].rsplit(" ", 1)[0] + " …"
    return f"{inert(before)}{quote}{inert(after)}".strip()


def _related(passages: Iterable[Passage]) -> str:
    items = "".join(
        f'<li>{_title(p.title, p.url)}<span class="qa-id">{inert(p.chunk.article_id)}</span>'
        f'<div class="qa-snippet">{inert(_shorten(p.chunk.text, 2 * CONTEXT_CHARS))}</div></li>'
        for p in passages
    )
    if not items:
        return ""
    return f'<div class="qa-related"><div class="qa-label">Related reading (not an answer)</div><ul>{items}</ul></div>'


def _title(title: str, url: str | None) -> str:
    href = safe_href(url)
    if href is None:
        return f'<span class="qa-title">{inert(title)}</span>'
    return f'<a class="qa-title" href="{href}" target="_blank" rel="noopener noreferrer nofollow">{inert(title)}</a>'


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " …"


# The page's styles for the classes above; Gradio's theme variables keep dark mode readable.
CSS = """
.qa-header { padding: 6px 2px 2px; }
.qa-header h1 { font-size: 1.6rem; font-weight: 700; margin: 0 0 4px; letter-spacing: -0.01em; }
.qa-header p { margin: 0; color: var(--body-text-color-subdued); max-width: 52rem; }
.qa-header a { white-space: nowrap; }
.qa-chat button.example { border: 1px solid var(--border-color-primary); border-radius: 12px;
  background: var(--background-fill-secondary); padding: 10px 14px; }
.qa-chat button.example:hover { border-color: var(--color-accent); }
.qa { line-height: 1.55; }
.qa-answer { font-size: 1.02rem; }
.qa-streaming .qa-answer::after { content: "▍"; opacity: .5; margin-left: 2px; }
.qa-marker { font-size: .7em; font-weight: 700; color: var(--color-accent); margin-left: 1px; }
.qa-label { font-size: .72rem; font-weight: 700; letter-spacing: .06em; text-transform: uppercase;
  color: var(--body-text-color-subdued); margin: 0 0 6px; }
.qa-sources, .qa-related { margin-top: 12px; padding-top: 10px; border-top: 1px solid var(--border-color-primary); }
.qa-source + .qa-source { margin-top: 12px; }
.qa-source-head { display: flex; flex-wrap: wrap; align-items: baseline; gap: 4px 8px; }
.qa-n { display: inline-flex; align-items: center; justify-content: center; min-width: 1.45em; height: 1.45em;
  padding: 0 4px; border-radius: 999px; background: var(--color-accent-soft); color: var(--color-accent);
  font-size: .75rem; font-weight: 700; }
.qa-title { font-weight: 600; }
a.qa-title { color: var(--link-text-color); text-decoration: none; }
a.qa-title:hover { text-decoration: underline; }
.qa-id { font-family: var(--font-mono); font-size: .72rem; color: var(--body-text-color-subdued); }
.qa-passage { margin: 6px 0 0; padding: 8px 12px; border: 0; border-left: 3px solid var(--color-accent);
  border-radius: 0 8px 8px 0; background: var(--background-fill-secondary); color: var(--body-text-color-subdued);
  font-size: .9rem; line-height: 1.5; font-style: normal; }
.qa-passage mark { background: #fde68a; color: #111827; padding: 1px 2px; border-radius: 3px; }
.qa-abstained .qa-answer { font-weight: 600; }
.qa-related ul { margin: 0; padding-left: 1.1em; }
.qa-related li { margin: 0 0 8px; }
.qa-related .qa-id { margin-left: 8px; }
.qa-snippet { font-size: .88rem; color: var(--body-text-color-subdued); }
.qa-note { margin-top: 6px; font-size: .85rem; color: var(--body-text-color-subdued); }
.qa-articles { width: 100%; border-collapse: collapse; font-size: .92rem; border: 0 !important; }
.qa-articles tr, .qa-articles th, .qa-articles td { border-left: 0 !important; border-right: 0 !important;
  border-top: 0 !important; }
.qa-articles code { white-space: nowrap; font-size: .82rem; }
.qa-articles th { text-align: left; font-size: .72rem; text-transform: uppercase; letter-spacing: .05em;
  color: var(--body-text-color-subdued); border-bottom: 1px solid var(--border-color-primary); padding: 6px 8px; }
.qa-articles td { border-bottom: 1px solid var(--border-color-primary); padding: 8px; vertical-align: top; }
.qa-num { text-align: right; }
.qa-count, .qa-muted, .qa-empty { color: var(--body-text-color-subdued); font-size: .88rem; }
.qa-status { padding: 6px 10px; border-radius: 6px; margin: 4px 0; font-size: .9rem; }
.qa-ok { background: var(--background-fill-secondary); }
.qa-error { background: #fee2e2; color: #7f1d1d; }
.qa-refresh { max-width: 8rem; }
"""
