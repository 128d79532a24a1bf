"""Who/what-is questions answered as a definition built from the sentence's own words."""

from __future__ import annotations

import re


_DEFINE = re.compile(r"^\s*(?:who|what)\s+(?P<verb>is|was|are|were)\s+(?:an?\s+|the\s+)?(?P<x>.+?)\s*\??\s*$", re.I)


# The sentence's own end: a full stop inside one sentence belongs to an abbreviation ("U.S. Army").
_END = r"\.?\s*$"


# News attribution before a titled name: 'says military expert X', 'according to analyst X'.
_SAYS = r"(?:says|said|told|writes|wrote|according to|by)"


def definition(question: str, sentence: str) -> str | None:
    """A who/what-is question answered as a definition, from the forms news writing uses:

    'X, a Moscow-based military expert,'  'X is a military expert.'  'says military expert X'
    -> 'X is a Moscow-based military expert.' Built only from the sentence's words plus the
    connective "is"/"was": the name is the article's own match, so nothing the question presumes
    ("who is the convicted fraudster Alexander Golts?") is repeated as if the article said it.
    """
    m = _DEFINE.match(question)
    if not m:
        return None
    words = m.group("x").split()
    # The subject, then its tails that are names, longest first: "convicted fraudster Alexander
    # Golts" -> "Alexander Golts" -> "Golts".
    for size in range(len(words), 0, -1):
        name = " ".join(words[-size:])
        if size < len(words) and not all(w[:1].isupper() for w in words[-size:]):
            continue
        if name.lower() not in sentence.lower():  # every form quotes the name: no pattern to compile
            continue
        n = re.escape(name)
        for kind, pattern in (
            ("apposition", rf"\b(?P<n>{n})\s*,\s*(?P<d>(?:a|an|the|one of)\s[^,;:!?“”\"()]+?)\s*(?:[,;:!?”\"]|{_END})"),
            ("copula", rf"\b(?P<n>{n})\s+(?P<v>is|was|are|were)\s+(?P<d>[^;:!?“”\"]+?)\s*(?:[;:!?]|{_END})"),
            ("title", rf"\b{_SAYS}\s+(?:the\s+)?(?P<d>(?:[\w’'-]+\s+){{1,5}}?)(?P<n>{n})\b"),
        ):
            found = re.search(pattern, sentence, re.I)
            if not found or (kind == "title" and not _role(found.group("d"), size == 1 < len(words))):
                continue
            described = found.group("d").strip()
            if kind == "title":  # 'military expert' -> 'a military expert'
                described = ("an " if described[0].lower() in "aeiou" else "a ") + described
            verb = found.groupdict().get("v") or m.group("verb")  # else the question's tense and number
            return f"{_cap(found.group('n'))} {verb.lower()} {described}."
    return None


def _role(descriptor: str, partial_name: bool) -> bool:
    """Words before a name describe a role ('military expert') when they end in a lower-case noun.

    Not for a bare last name: before 'Golts' stands 'Alexander', part of the name itself.
    """
    last = descriptor.split()[-1]
    return not partial_name and last.isalpha() and last.islower() and len(last) > 3


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]
