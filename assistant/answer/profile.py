"""Who-is answers from the entity index: every article's description of a person, merged and cited.

Answers "who is/was X?", "tell me about X" and "what does/did X say (about Y)?" when X names an
entity in the index; any other question (or an X the index does not know, or knows nothing about)
returns None and takes the retrieval path unchanged. Retrieval reads the best few passages, which
for a person quoted across years of articles is one or two of them; the index has them all.

Paraphrases merge: a description whose content words are all in another's ("a military expert",
"a Moscow-based military expert") is said once, in the fuller wording, citing each article that
says it (the newest MAX_LINE_CITATIONS).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from assistant.answer.citations import number, strip_markers
from assistant.limits import MAX_ANSWER_LINES, MAX_LINE_CITATIONS, MAX_LISTED_ARTICLES
from assistant.store.entities import QUOTE, EntityIndex, Fact
from assistant.text.terms import terms
from assistant.types import Answer, Citation, EntityRef, Passage, Profile, ProfileLine, Quote

_WHO = re.compile(r"^(?:who\s+(?:is|was|are|were)|who['’]s|tell\s+me\s+(?:more\s+)?about|"
                  r"what\s+do\s+(?:you|we)\s+know\s+about)\s+(?P<x>[^?!]{1,200}?)[\s?.!]*$", re.I)
_SAYS = re.compile(r"^what\s+(?:does|did|has|do)\s+(?P<x>[^?!]{1,200}?)\s+(?:say|said|think|thought)"
                   r"(?:\s+(?:about|on|of)\s+(?P<y>[^?!]{1,200}?))?[\s?.!]*$", re.I)
_HONORIFIC = re.compile(r"^(?:the|mr|mrs|ms|miss|dr|prof|professor)\.?\s+", re.I)
_PRONOUNS = {"he", "she", "they", "it", "him", "her", "them", "you", "we", "i", "this", "that", "this person"}


@dataclass(frozen=True)
class Asked:
    """A question about a person or organisation: who they are, or what they said (about `topic`)."""

    name: str
    says: bool
    topic: str = ""


def asked(question: str) -> Asked | None:
    """What a who-is or what-does-X-say question asks about; None for any other question."""
    question = " ".join(question.split())
    if m := _SAYS.match(question):
        found = Asked(_name(m.group("x")), True, m.group("y") or "")
    elif m := _WHO.match(question):
        found = Asked(_name(m.group("x")), False)
    else:
        return None
    # "what does he say?" follows up an earlier turn: the retrieval path borrows the name (chat.py).
    return None if found.name.lower() in _PRONOUNS else found


def _name(text: str) -> str:
    """'Mr. Golts' -> 'Golts'; "Golts's" -> 'Golts'."""
    return re.sub(r"['’]s?$", "", _HONORIFIC.sub("", text.strip()))


def answer(question: str, entities: EntityIndex, readable: frozenset[str] | None = None) -> Answer | None:
    """The profile answer to a who-is question about a known entity; None to answer it as today."""
    ask = asked(question)
    if ask is None or not ask.name:
        return None
    found = entities.find(ask.name, readable)
    if not found:
        return None
    if len(found) > 1:
        return _which(question, ask, found, entities, readable)
    # Only what the answer says is cited: its descriptions, or its quotations.
    profile, passages = _build(found[0], entities, readable, ask.topic, not ask.says, ask.says)
    lines = profile.quotes if ask.says else profile.descriptions
    if not lines:
        return None
    said = [_say(profile.entity.name, line, i, ask.says) for i, line in enumerate(lines)]
    count = profile.entity.articles
    listed = "; ".join(a.title + (f" ({a.published[:10]})" if a.published else "")
                       for a in profile.articles[:MAX_LISTED_ARTICLES])
    more = f"; and {count - MAX_LISTED_ARTICLES} more" if count > MAX_LISTED_ARTICLES else ""
    said.append(f"Mentioned in {count} article{'s' if count != 1 else ''}: {listed}{more}.")
    # One line each: the chat's card and the terminal show them so.
    return Answer(question, "\n".join(said), False, profile.citations, passages, profile=profile)


def build(entity: EntityRef, entities: EntityIndex, readable: frozenset[str] | None = None) -> Profile:
    """An entity's profile: merged descriptions, then quotations, newest first, all cited."""
    return _build(entity, entities, readable)[0]


def _build(entity: EntityRef, entities: EntityIndex, readable: frozenset[str] | None, topic: str = "",
           described: bool = True, quoted: bool = True) -> tuple[Profile, tuple[Passage, ...]]:
    """The profile (its descriptions, its quotations on `topic` first, or both) and the passages
    its citations quote."""
    facts = entities.facts(entity.id, readable)
    descriptions = _merged([f for f in facts if f.form != QUOTE]) if described else []
    quotes = [[f] for f in _on_topic([f for f in facts if f.form == QUOTE], topic)] if quoted else []
    if not (described and quoted):  # an answer: its newest lines (the page shows all)
        descriptions, quotes = descriptions[:MAX_ANSWER_LINES], quotes[:MAX_ANSWER_LINES]
    groups = descriptions + quotes
    cited = [_cited(group) for group in groups]
    numbers, citations, passages = _cite([f for group in cited for f in group], entities)
    at = iter(numbers)
    lines = [ProfileLine(_predicate(group[0]), tuple(dict.fromkeys(next(at) for _ in chosen)), _newest(group))
             for group, chosen in zip(groups, cited)]
    # An answer lists a few articles; the entity page, with every mention's context, many more.
    articles = (entities.mentions(entity.id, readable) if described and quoted else
                entities.mentions(entity.id, readable, limit=MAX_LISTED_ARTICLES, contexts=False))
    profile = Profile(entity, tuple(lines[:len(descriptions)]), tuple(lines[len(descriptions):]), citations,
                      tuple(articles))
    return profile, passages


def _which(question: str, ask: Asked, found: list[EntityRef], entities: EntityIndex,
           readable: frozenset[str] | None) -> Answer:
    """Several entities answer to the name: one description of each, and the question which."""
    firsts: list[tuple[EntityRef, Fact | None]] = []
    for ref in found:
        described = _merged([f for f in entities.facts(ref.id, readable) if f.form != QUOTE])
        firsts.append((ref, described[0][0] if described else None))
    numbers, citations, passages = _cite([f for _, f in firsts if f is not None], entities)
    at = iter(numbers)
    parts = []
    for ref, fact in firsts:
        named = f"{ref.name} ({ref.articles} article{'s' if ref.articles != 1 else ''})"
        parts.append(f"{named}, who {_predicate(fact)} [{next(at)}]" if fact is not None else named)
    text = f"“{ask.name}” may mean {len(found)} people or organisations: {'; '.join(parts)}. Which one do you mean?"
    return Answer(question, text, False, citations, passages)


def _cited(group: list[Fact]) -> list[Fact]:
    """The facts a line cites: its wording's own, then the newest others, one per article, at most
    MAX_LINE_CITATIONS."""
    chosen: dict[int, Fact] = {group[0].article: group[0]}
    for fact in sorted(group[1:], key=lambda f: f.published or "", reverse=True):  # undated last
        chosen.setdefault(fact.article, fact)
    return list(chosen.values())[:MAX_LINE_CITATIONS]


def _cite(facts: Sequence[Fact], entities: EntityIndex) -> tuple[list[int], tuple[Citation, ...],
                                                                 tuple[Passage, ...]]:
    """Citation numbers of the facts' sentences, the citations, and the chunks they quote as passages."""
    quotes = []
    for f in facts:
        chunk, sentence = entities.cited(f)
        quotes.append(Quote(Passage(0, chunk, f.title, f.url, 0.0), f.sentence_start, f.sentence_end, sentence))
    numbers, citations = number(quotes)
    chunks = {q.passage.chunk.id: q.passage for q in quotes}
    passages = tuple(Passage(rank, p.chunk, p.title, p.url, 1.0) for rank, p in enumerate(chunks.values(), 1))
    return numbers, citations, passages


def _merged(facts: Sequence[Fact]) -> list[list[Fact]]:
    """Descriptions grouped by paraphrase, the fullest wording first in each, newest group first.

    A description joins the group of the first fuller one whose content words include all of its
    own ("military expert" joins "a Moscow-based military expert"); `facts` come newest first.
    """
    keyed = [(f, frozenset(terms(f"{f.verb} {f.text}" if f.form == "activity" else f.text))) for f in facts]
    order = sorted(range(len(keyed)), key=lambda i: (-len(keyed[i][1]), -len(keyed[i][0].text), i))
    groups: list[tuple[frozenset[str], list[int]]] = []
    for i in order:
        words = keyed[i][1]
        home = next((g for g in groups if words <= g[0]), None)
        if home is None:
            groups.append((words, [i]))
        else:
            home[1].append(i)
    # Groups in the order their newest member came (facts come newest first).
    return [[keyed[i][0] for i in members] for _, members in sorted(groups, key=lambda g: min(g[1]))]


def _on_topic(quotes: list[Fact], topic: str) -> list[Fact]:
    """Quotations about `topic` first (sharing a content word with it), each side newest first."""
    wanted = set(terms(topic))
    if not wanted:
        return quotes
    return sorted(quotes, key=lambda f: not wanted & set(terms(f.text)))


def _predicate(fact: Fact) -> str:
    """What follows the name: 'is a military analyst', 'heads the union', 'was the author', or a quotation."""
    text = strip_markers(" ".join(fact.text.split()))
    if fact.form == QUOTE:
        return text
    if fact.form == "role":
        if " " not in text or fact.start == fact.sentence_start:  # 'Judge'; 'Climate scientist' opening a sentence
            text = text[:1].lower() + text[1:]
        if text[:1].islower() and text.split()[0] not in ("a", "an", "the"):
            text = ("an " if text[0] in "aeiou" else "a ") + text
    return f"{fact.verb} {text}"


def _say(name: str, line: ProfileLine, i: int, says: bool) -> str:
    """One sentence of the answer: 'Alexander Golts is a Moscow-based military expert [1].'"""
    date = f" ({line.published[:10]})" if line.published else ""
    marks = "".join(f"[{n}]" for n in line.citations)
    if says:
        return f"{line.text}{date} {marks}"
    text = f"is also described as {line.text[3:]}" if i and line.text.startswith("is ") else line.text
    return f"{name} {text}{date} {marks}."


def _newest(group: list[Fact]) -> str | None:
    dates = [f.published for f in group if f.published]
    return max(dates) if dates else None
