"""People and organisations an article names, what it says they are, and what they said: by rules.

Pure functions over an article's text and its sentence spans (sentences.py), every result a span
of the text, so a profile cites the exact characters as answers do. Rules, not a statistical
tagger: spaCy's English pipelines install from GitHub releases, not from the package index, so
their files could not be checked against upstream here; the rules follow how news English names
and describes people:

    names         runs of capitalised words ("Alexander Golts", "Bashar al-Assad"), a title or an
                  honorific split off ("Defence Minister Ivan Sokolov", "Mr. Golts"); one word is a
                  name only as the surname of a full name introduced earlier in the same article
    descriptions  apposition  "Alexander Golts, a Moscow-based military expert, said"
                  copula      "Petrova was the institute's deputy director." / ", who is ..."
                  activity    "Okafor, who heads Northwind Shipping Company,"
                  role        "military analyst Alexander Golts", "Defence Minister Ivan Sokolov"
    statements    a quotation with its speaker: '“...,” says X' '“...,” X said' 'X said: “...”'
                  '“...,” he said' (the last person named before it), and unquoted sentences
                  '..., according to X.' 'X said (that) ...'

Measured on tests/data/entities (20 news-style articles, their expected profiles beside them):
see tests/test_entities.py and `bench/entities.py`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

Span = tuple[int, int]

PERSON, ORGANISATION = "person", "organisation"

_UPPER = "A-ZÀ-ÖØ-Þ"
_WORD = rf"(?:al-|el-)?[{_UPPER}][\w’'-]*"
# Inside a name, between capitalised words: "Bashar al-Assad" is one word; "Ludwig van Beethoven".
_PARTICLE = r"(?:van|von|de|der|den|da|di|du|del|la|le|bin|ibn)"
_NAME_RUN = re.compile(rf"{_WORD}(?:\.(?=\s+{_WORD}))?(?:\s+(?:{_PARTICLE}\s+)?{_WORD})*")
_POSSESSIVE = re.compile(r"['’]s?$")
HONORIFICS = {"mr", "mrs", "ms", "miss", "dr", "prof", "sir", "dame", "gen", "col", "capt", "lt", "sgt", "rev"}
# Capitalised words that name a role when they stand before a name: "Defence Minister Ivan Sokolov".
TITLES = {
    "president", "minister", "secretary", "senator", "governor", "mayor", "general", "chancellor", "king",
    "queen", "prince", "princess", "pope", "director", "chairman", "chairwoman", "chief", "professor", "judge",
    "ambassador", "commissioner", "spokesman", "spokeswoman", "ceo", "premier", "colonel", "captain", "coach",
    "admiral", "inspector", "sheikh", "archbishop", "bishop", "editor", "economist", "analyst", "founder",
}
# Lower-case nouns that end a role: "military analyst", "deputy editor", "chief executive".
ROLES = TITLES | {
    "expert", "analyst", "researcher", "scientist", "lawyer", "attorney", "official", "diplomat", "commander",
    "head", "executive", "manager", "owner", "reporter", "journalist", "correspondent", "writer", "author",
    "historian", "activist", "politician", "lawmaker", "candidate", "leader", "deputy", "envoy", "adviser",
    "advisor", "consultant", "strategist", "engineer", "doctor", "physician", "surgeon", "teacher", "player",
    "striker", "footballer", "singer", "actor", "actress", "artist", "musician", "producer", "banker", "investor",
    "entrepreneur", "trader", "farmer", "critic", "commentator", "observer", "curator", "architect", "designer",
    "prosecutor", "officer", "soldier", "pilot", "chef", "partner", "member", "fellow", "lecturer", "dean",
    "rector", "regulator", "negotiator", "veteran", "volunteer", "recruiter", "organiser", "organizer",
    "campaigner", "glaciologist", "climatologist", "physicist", "biologist", "geologist", "meteorologist",
    "sociologist", "psychologist", "demographer", "pollster", "spokesperson", "administrator", "coordinator",
    "runner", "champion", "athlete", "marathoner", "skipper", "chair", "operator", "think-tank", "tank",
    "organisation", "organization", "company", "firm", "group", "institute", "union", "agency", "ministry",
}
# Capitalised before a name, these are its role ("Marathoner Maria Petrova"), not part of it.
_TITLED = TITLES | (ROLES - {"union", "agency", "ministry", "company", "firm", "group", "institute", "tank",
                             "organisation", "organization", "operator", "member", "partner", "chair", "head"})
# A name ending in one of these words is an organisation's ("Baltic Energy Institute").
ORG_WORDS = {
    "ministry", "bank", "institute", "university", "party", "agency", "company", "corporation", "corp", "inc",
    "ltd", "group", "council", "committee", "commission", "foundation", "times", "post", "news", "journal",
    "force", "forces", "army", "navy", "union", "association", "office", "department", "court", "parliament",
    "assembly", "fund", "organization", "organisation", "center", "centre", "society", "network", "bureau",
    "service", "services", "federation", "league", "club", "airlines", "motors", "industries", "holdings",
    "partners", "press", "school", "college", "museum", "hospital", "authority", "board", "lines", "shipping",
    "energy", "review", "gazette", "tribune", "herald", "telegraph", "guardian", "reuters", "institution",
}
# Capitalised at a sentence's start only: a run that begins with one does not begin with it.
_LEADING = {
    "the", "a", "an", "but", "and", "or", "yet", "still", "so", "in", "on", "at", "for", "by", "from", "to",
    "of", "with", "after", "before", "when", "while", "if", "as", "since", "despite", "although", "though",
    "however", "meanwhile", "now", "then", "this", "that", "these", "those", "his", "her", "their", "its",
    "our", "my", "it", "he", "she", "they", "we", "i", "you", "there", "here", "last", "next", "every",
    "according", "asked", "under", "over", "during", "like", "unlike", "speaking", "writing", "today",
    "yesterday", "former",
    "several", "some", "many", "most", "all", "both", "each", "another", "other", "one", "two", "three",
}
_WEEKDAYS = {"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"}
_MONTHS = {"january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
           "november", "december"}
_SAID = (r"(?:says|said|added|adds|told\s+[^,.“”\"]{1,40}?|warned|warns|explained|explains|argued|argues|insisted|"
        r"insists|noted|notes|wrote|writes|recalled|recalls|continued|continues|concluded|concludes)")
_COPULA = r"(?:is|was|has\s+been|had\s+been|remains|remained|became|becomes|serves\s+as|served\s+as)"
# Verbs that say what someone does for a living; not "ran" or "led", which more often tell what happened.
_ACTIVITY = (r"(?:heads|headed|leads|runs|chairs|chaired|founded|co-founded|directs|directed|manages|owns|"
            r"teaches|coaches|advises|represents)")
# A description: an article and up to 18 words, or a role phrase; stops at a clause's punctuation.
_DETERMINED = r"(?:a|an|the|one\s+of\s+the|one\s+of)\s+[^,;:()“”\"—]{2,160}?"
_ROLE_PHRASE = (r"(?:(?:former|deputy|acting|senior|chief|vice|assistant|associate|executive|managing|"
               r"general|interim|[a-z][\w’'-]*)\s+){0,4}[a-z][\w’'-]*(?:\s+(?:of|at|for|in)\s+[^,;:()“”\"—]{2,100}?)?")
_APPOSITION = re.compile(rf"(?<!\s)\s*,\s*(?P<d>{_DETERMINED}|{_ROLE_PHRASE})\s*(?=[,;:)—]|\.\s*$|\.[”\"]|$)")
_CLAUSE = rf"(?P<v>{_COPULA}|{_ACTIVITY})\s+(?P<d>[^,;:()“”\"—]{{2,160}}?)\s*(?=[,;:)—]|\.\s*$|$)"
_WHO = re.compile(rf"(?<!\s)\s*,\s*who\s+{_CLAUSE}")
_MAIN = re.compile(rf"(?<!\s)\s+{_CLAUSE}")
_TOKEN = re.compile(r"[\w’'-]+|[^\w\s’'-]")
_ROLE_WINDOW = 120  # characters before a name read for its role: six words
_NOT_DESCRIPTION = re.compile(r"^(?:a\s+(?:bit|little|lot)|the\s+(?:one|same|first\s+to|last\s+to)|"
                              r"an?\s+(?:statement|interview|speech|letter|email|report))\b", re.I)
_VERBISH = re.compile(r"\b(?:said|says|told|added|announced|warned|believes|believed|thinks|thought|expects|"
                      r"would|will|could|should|can|may|might|must|did|does|do|had|has|have|not|no)\b", re.I)
_QUOTE = re.compile(r"“[^“”]{1,4000}”|\"[^\"\n]{1,4000}\"")
_PRONOUN_SAID = re.compile(rf"^\s*(?:[,.?!]\s*)?(?P<p>he|she)\s+{_SAID}\b", re.I)
_PRONOUN_BEFORE = re.compile(rf"\b(?P<p>he|she)\s+{_SAID}\s*(?:[,:]\s*)?$", re.I)
_ACCORDING = re.compile(r"\baccording\s+to\s+(?:the\s+)?$", re.I)
_MAX_DESCRIPTION_WORDS = 18
_NOT_IN_ROLE = {"says", "said", "told", "to", "by", "with", "and", "or", "but", "according", "added", "warned",
                "from", "for", "of", "in", "on", "at", "as", "than", "that", "which", "who", "is", "was", "were",
                "are", "be", "been", "asked", "wrote", "writes", "when", "while", "after", "before", "his", "her",
                "their", "its"}
_RELATIVE = re.compile(r"(?<!\s)\s+(?:who|which|that|whose|where)\b")


@dataclass(frozen=True)
class Name:
    """One person or organisation as an article names it in full; `key` is the same in every
    article that names them so (see `entity_key`)."""

    key: str
    name: str
    kind: str  # PERSON or ORGANISATION


@dataclass(frozen=True)
class Mention:
    """A name in the text (a full name, a surname, "Mr. Golts"), resolved to its entity."""

    key: str
    start: int
    end: int


@dataclass(frozen=True)
class Description:
    """What the article says an entity is: `text[start:end]`, in `sentence`; `verb` joins name and
    description in a profile ("is", "was", "heads")."""

    key: str
    start: int
    end: int
    sentence: Span
    form: str  # apposition, copula, activity, role
    verb: str


@dataclass(frozen=True)
class Statement:
    """What an entity said: a quotation (or an attributed sentence) at `text[start:end]`, in `sentence`."""

    key: str
    start: int
    end: int
    sentence: Span


@dataclass(frozen=True)
class ArticleEntities:
    """Everything one article says about the people and organisations it names."""

    names: tuple[Name, ...] = ()
    mentions: tuple[Mention, ...] = ()
    descriptions: tuple[Description, ...] = ()
    statements: tuple[Statement, ...] = ()


def entity_key(name: str) -> str:
    """The id of the entity a full name names: 'Alexander Golts' -> 'alexander-golts'.

    The same full name in two articles is one entity; two names sharing a surname never are.
    """
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "-", folded).strip("-")


def name_forms(name: str) -> tuple[str, str]:
    """(the whole name, its last word), lower case: what a question may call an entity."""
    words = name.split()
    return name.lower(), words[-1].lower() if words else ""


def extract(text: str, sentences: Sequence[Span]) -> ArticleEntities:
    """The names, mentions, descriptions and statements of an article's text."""
    found = _Resolver(text)
    runs = [(span, found.resolve(span)) for span in sentences]
    described: dict[tuple[str, str], Description] = {}  # one of each wording per entity and article
    for span, names in runs:
        for d in _describe(text, span, names):
            described.setdefault((d.key, text[d.start:d.end].lower()), d)
    descriptions = list(described.values())
    statements = _statements(text, runs, found)
    return ArticleEntities(tuple(found.names.values()), tuple(found.mentions), tuple(descriptions),
                           tuple(statements))


@dataclass(frozen=True)
class _Found:
    """A name in one sentence: its entity, where the name is, and a role written before it."""

    key: str
    start: int
    end: int
    begin: int  # where the run began, with its title or honorific ("Mr. Golts")
    title: Span | None = None  # "Defence Minister" before "Ivan Sokolov"


class _Resolver:
    """Turns the capitalised runs of one article into entities, a surname into the full name before it."""

    def __init__(self, text: str):
        self.text = text
        self.names: dict[str, Name] = {}
        self.mentions: list[Mention] = []
        self.by_last: dict[str, str] = {}  # surname -> the key of the latest full name with it

    def resolve(self, sentence: Span) -> list[_Found]:
        """The names in one sentence, in order; sentences must come in text order."""
        found: list[_Found] = []
        for run in _NAME_RUN.finditer(self.text, sentence[0], sentence[1]):
            item = self._one(run.start(), run.end())
            if item is not None:
                found.append(item)
                self.mentions.append(Mention(item.key, item.start, item.end))
        return found

    def _one(self, start: int, end: int) -> _Found | None:
        words = [(m.start() + start, m.end() + start) for m in re.finditer(r"\S+", self.text[start:end])]
        # A possessive ends the name: "Petrova's institute".
        s, e = words[-1]
        if (p := _POSSESSIVE.search(self.text, s, e)) and e - s > 2:
            words[-1] = (s, p.start())
        honorific = False
        while words and self._word(words[0]).rstrip(".").lower() in _LEADING | HONORIFICS | _MONTHS | _WEEKDAYS:
            honorific = honorific or self._word(words[0]).rstrip(".").lower() in HONORIFICS
            words = words[1:]
        while words and self._word(words[-1]).lower() in _WEEKDAYS | _MONTHS:  # "visited Moscow Tuesday"
            words = words[:-1]
        if not words:
            return None
        title = None
        titled = [i for i, w in enumerate(words[:-1]) if self._word(w).lower() in _TITLED]
        if titled and len(words) - titled[-1] - 1 >= 1:
            title = (words[0][0], words[titled[-1]][1])
            words = words[titled[-1] + 1:]
            honorific = True
        begin = start
        start, end = words[0][0], words[-1][1]
        name = self.text[start:end]
        if len(words) == 1:
            key = self.by_last.get(name.lower())
            return _Found(key, start, end, begin, title) if key else None
        key = entity_key(name)
        if not key or any(w.isdigit() for w in name.split()):
            return None
        kind = ORGANISATION if any(self._word(w).lower() in ORG_WORDS for w in words) else PERSON
        if key not in self.names:
            self.names[key] = Name(key, name, kind)
        if kind == PERSON or honorific:
            self.by_last[name.split()[-1].lower()] = key
        return _Found(key, start, end, begin, title)

    def _word(self, span: Span) -> str:
        return self.text[span[0]:span[1]]

    def kind(self, key: str) -> str:
        return self.names[key].kind if key in self.names else PERSON


def _describe(text: str, sentence: Span, names: list[_Found]) -> list[Description]:
    """The descriptions of the names in one sentence."""
    out: list[Description] = []
    end = sentence[1]
    for n in names:
        if n.title is not None:
            out.append(Description(n.key, *n.title, sentence, "role", "is"))
        role = _role_before(text, sentence[0], n.start)
        if n.title is None and role and not _inside_quote(text, sentence, n.start):
            out.append(Description(n.key, *role, sentence, "role", "is"))
        for pattern, form in ((_WHO, "copula"), (_APPOSITION, "apposition"), (_MAIN, "copula")):
            m = pattern.match(text, n.end, end)
            if m is None:
                continue
            d_start, d_end = m.span("d")
            if relative := _RELATIVE.search(text, d_start, d_end):  # 'a judge who has heard ...' -> 'a judge'
                d_end = relative.start()
            phrase = text[d_start:d_end]
            if not _is_description(phrase, form, m.groupdict().get("v")):
                continue
            verb = " ".join(m.group("v").split()) if m.groupdict().get("v") else "is"
            if pattern is _MAIN and not _is_subject(text, sentence, n):
                continue
            if verb in ("serves as", "served as", "has been", "had been", "remains", "remained", "became",
                        "becomes"):
                verb = "was" if verb.startswith(("served", "had", "remained", "became")) else "is"
            kind = form if re.fullmatch(_COPULA, verb) or verb == "is" else "activity"
            out.append(Description(n.key, d_start, d_end, sentence, kind, verb))
            break
    return out


def _role_before(text: str, start: int, at: int) -> Span | None:
    """The role written right before a name: 'says energy economist Anna Petrova' -> 'energy economist'.

    Read backwards from the name over at most five words, up to a determiner (kept) or any word
    that cannot be part of a role (a verb of speech, a preposition: dropped).
    """
    base = max(start, at - _ROLE_WINDOW)
    tokens = [t.span() for t in _TOKEN.finditer(text, base, at)]
    words: list[Span] = []
    for a, b in reversed(tokens):  # the words right before the name, up to punctuation
        if not (text[a].isalnum() or text[a] in "’'-") or len(words) == 6:
            break
        words.insert(0, (a, b))
    if not words or text[words[-1][1]:at].strip() or text[words[-1][0]:words[-1][1]] not in ROLES:
        return None
    first = len(words) - 1
    for i in range(len(words) - 2, max(-1, len(words) - 6), -1):
        word = text[words[i][0]:words[i][1]]
        if word.lower() in ("the", "a", "an"):
            first = i
            break
        if word.lower() in _NOT_IN_ROLE or (word[:1].isupper() and word.lower() in _LEADING):
            break
        first = i
    return words[first][0], words[-1][1]


def _is_role(phrase: str) -> bool:
    """Lower-case words before a name that end in a role noun: 'military analyst', 'the energy economist'."""
    words = phrase.split()
    last = words[-1].lower()
    if last not in ROLES or not words[-1].islower():
        return False
    return not any(w.lower() in {"says", "said", "to", "by", "with", "and", "or", "told", "according"}
                   for w in words)


def _is_description(phrase: str, form: str, verb: str | None) -> bool:
    words = phrase.split()
    if not words or len(words) > _MAX_DESCRIPTION_WORDS or _NOT_DESCRIPTION.match(phrase):
        return False
    if verb and re.fullmatch(_ACTIVITY, verb):
        return True
    if words[0].lower() in ("who", "which", "that", "whose"):
        return False
    if _VERBISH.search(phrase):
        return False
    first = words[0].lower()
    if first in ("a", "an", "the", "one"):
        return len(words) > 1
    # No article: a role phrase ('deputy editor of Ezhednevny Zhurnal'), its head a role noun.
    head = re.split(r"(?<!\s)\s+(?:of|at|for|in)\s+", phrase, maxsplit=1)[0].split()
    return head[-1].lower() in ROLES and all(w.islower() or "-" in w for w in head)


def _is_subject(text: str, sentence: Span, n: _Found) -> bool:
    """The name (with its title or honorific) begins its sentence, after at most a conjunction: 'But Golts is'."""
    lead = text[sentence[0]:n.begin].strip().lower().rstrip(",")
    return lead in ("", "but", "and", "yet", "still", "now", "today", "however", "meanwhile")


def _inside_quote(text: str, sentence: Span, at: int) -> bool:
    before = text[sentence[0]:at]
    return before.count("“") > before.count("”") or before.count('"') % 2 == 1


def _statements(text: str, runs: list[tuple[Span, list[_Found]]], found: _Resolver) -> list[Statement]:
    """Quotations with their speakers, then unquoted sentences attributed 'according to X' or 'X said'."""
    out: list[Statement] = []
    latest_person: str | None = None  # who "he" or "she" is: the last person named outside a quote
    for span, names in runs:
        outside = [n for n in names if not _inside_quote(text, span, n.start)]
        quotes = list(_QUOTE.finditer(text, span[0], span[1]))
        previous: str | None = None
        for q in quotes:
            speaker = _speaker(text, span, q, outside, found, latest_person) or previous
            if speaker and speaker == previous and out and out[-1].sentence == span:
                out[-1] = Statement(speaker, out[-1].start, q.end(), span)  # '“A,” he said, “B.”': one quotation
            elif speaker:
                out.append(Statement(speaker, q.start(), q.end(), span))
            previous = speaker
        if not quotes:
            speaker = _indirect(text, span, outside)
            if speaker:
                out.append(Statement(speaker, span[0], span[1], span))
        for n in outside:
            if found.kind(n.key) == PERSON:
                latest_person = n.key
    return out


def _speaker(text: str, span: Span, quote: re.Match, names: list[_Found], found: _Resolver,
             latest: str | None) -> str | None:
    """Who said a quotation: a name with a speech verb right after or right before it, or 'he'."""
    after_names = [n for n in names if n.start >= quote.end()]
    before_names = [n for n in names if n.end <= quote.start()]
    tail = text[quote.end():span[1]]
    if after_names:
        n = after_names[0]
        gap = text[quote.end():n.begin]
        # '“...,” says Alexander Golts'   '“...,” Golts said'   '“...,” said military analyst Golts'
        if re.fullmatch(rf"\s*(?:[,.?!]\s*)?{_SAID}\s+(?:[\w’'-]+\s+){{0,4}}?", gap, re.I) and _said_or_role(gap):
            return n.key
        if gap.strip() in ("", ",", ".", "?", "!") and re.match(rf"\s*{_SAID}\b", text[n.end:span[1]], re.I):
            return n.key
    if _PRONOUN_SAID.match(tail) and latest:
        return latest
    head = text[span[0]:quote.start()]
    if before_names:
        n = before_names[-1]
        gap = text[n.end:quote.start()]
        if re.fullmatch(rf"(?:\s*,[^,“”\"]{{1,120}},)?\s+{_SAID}\s*(?:[,:]\s*)?(?:that\s+)?", gap, re.I):
            return n.key
        if _ACCORDING.search(text, span[0], n.start) and gap.strip() in (",", ":"):
            return n.key
    if _PRONOUN_BEFORE.search(head) and latest:
        return latest
    return None


def _said_or_role(gap: str) -> bool:
    """'says ' or 'said military analyst ': a speech verb, then nothing or a role."""
    rest = re.sub(rf"^\s*(?:[,.?!]\s*)?{_SAID}\s*", "", gap, flags=re.I).split()
    return not rest or _is_role(" ".join(rest))


def _indirect(text: str, span: Span, names: list[_Found]) -> str | None:
    """The speaker of an unquoted sentence: '..., according to X.' or 'X said (that) ...' at its start."""
    for n in names:
        if re.search(r"\baccording\s+to\s+(?:the\s+)?(?:[\w’'-]+\s+){0,4}?$", text[span[0]:n.start], re.I):
            lead = text[span[0]:n.start]
            if lead.lower().rstrip().endswith(("according to", "according to the")) or _is_role(
                    re.sub(r"^.*\baccording\s+to\s+(?:the\s+)?", "", lead, flags=re.I | re.S).strip() or "x"):
                return n.key
    if names and _is_subject(text, span, names[0]):
        n = names[0]
        if re.match(rf"(?:\s*,[^,]{{1,120}},)?\s+{_SAID}\s+(?:that\s+)?[a-z]", text[n.end:span[1]], re.I):
            return n.key
    return None
