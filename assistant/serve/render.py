"""How answers look in a terminal, and what a terminal must not be sent. (The web UI renders from
the same Answer fields.)"""

from __future__ import annotations

import re
import textwrap

from assistant.answer.decision import NOTHING_RELATED
from assistant.types import Answer

# What a terminal acts on rather than shows: C0 controls but tab and newline (ESC starts colour,
# cursor, erase, title and OSC 8 link sequences; CR overwrites a line), DEL, the C1 controls (U+009B
# is CSI by itself to some terminals), and the bidirectional marks, overrides and isolates, which
# show text in another order than it is stored.
_UNSHOWABLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def for_terminal(text: str) -> str:
    """`text` with each character a terminal would act on written as its escape: "\\u001b]0;x\\u0007".

    Titles, ids, comments and answers are written by whoever could add an article or vote; shown
    raw, "\\x1b]0;...\\x07" retitles the window and "\\x1b[2K" erases the line before it. JSON
    already writes C0 so, and stays valid JSON with the rest written so too.
    """
    return _UNSHOWABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def answer_text(answer: Answer) -> str:
    """The answer, then its numbered sources with the quoted sentence; or related reading.

    A profile (a who-is answer, a description or quotation a line) ends with the articles that
    mention its entity, by id, for `assistant ask` about one of them.
    """
    lines = [answer.answer, ""]
    if answer.abstained:
        if answer.passages:
            lines.append("Related passages (not an answer):")
            for p in answer.passages:
                lines.append(f"  - {p.title} ({p.chunk.article_id}){' ' + p.url if p.url else ''}")
                lines.append(textwrap.indent(textwrap.shorten(p.chunk.text, 160), "      "))
        else:
            lines.append(NOTHING_RELATED)
        if answer.note:
            lines += ["", f"Note: {answer.note}"]
        return "\n".join(lines).rstrip()
    lines.append("Sources:")
    for c in answer.citations:
        url = f" {c.url}" if c.url else ""
        lines.append(f"  [{c.n}] {c.title} ({c.article_id}, characters {c.start}-{c.end}){url}")
        lines.append(textwrap.indent(textwrap.fill(c.quote, 96), "      "))
    if answer.profile is not None:
        lines += ["", f"Articles that mention {answer.profile.entity.name}:"]
        lines += [f"  {a.id}  {a.published or '-'}  {a.title}" for a in answer.profile.articles]
    if answer.unsupported:
        lines += ["", "Not supported by the sources:"] + [f"  - {s}" for s in answer.unsupported]
    if answer.note:
        lines += ["", f"Note: {answer.note}"]
    return "\n".join(lines).rstrip()
