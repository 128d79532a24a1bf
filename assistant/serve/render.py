"""How answers look in a terminal. (The web UI renders from the same Answer fields.)"""

from __future__ import annotations

import textwrap

from assistant.types import Answer


def answer_text(answer: Answer) -> str:
    """The answer, then its numbered sources with the quoted sentence; or related reading."""
    lines = [answer.answer, ""]
    if answer.abstained:
        if answer.passages:
            lines.append("Related passages (not an answer):")
            for p in answer.passages:
                lines.append(f"  - {p.title} ({p.chunk.article_id}){' ' + p.url if p.url else ''}")
                lines.append(textwrap.indent(textwrap.shorten(p.chunk.text, 160), "      "))
        if answer.note:
            lines += ["", f"Note: {answer.note}"]
        return "\n".join(lines).rstrip()
    lines.append("Sources:")
    for c in answer.citations:
        url = f" {c.url}" if c.url else ""
        lines.append(f"  [{c.n}] {c.title} ({c.article_id}, characters {c.start}-{c.end}){url}")
        lines.append(textwrap.indent(textwrap.fill(c.quote, 96), "      "))
    if answer.unsupported:
        lines += ["", "Not supported by the sources:"] + [f"  - {s}" for s in answer.unsupported]
    if answer.note:
        lines += ["", f"Note: {answer.note}"]
    return "\n".join(lines).rstrip()
