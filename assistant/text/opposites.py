"""Whether two texts say opposite things: a negation on one side only, a listed opposite, a prefixed one.

One home for the check both the answerer (a question against a sentence, `answer.candidates`) and
the LLM's grounding (a claim against its quote, `contrary`) make.
"""

from __future__ import annotations

import re


LETTERS = re.compile(r"[^\W\d_]+")  # runs of letters in any script ("Zürich", not "Z", "rich")


NEGATION = re.compile(r"\b(not|no|never|none|nor|without|neither|n't|cannot)\b|n't\b", re.I)


_PREFIXES = ("un", "non", "in", "im", "ir", "il", "dis", "ab", "anti", "counter", "mis")


# Opposites SQuAD 2.0's writers swap in to make a question unanswerable ("increased" for "decreased"),
# a general list written before it was measured on any question; see answer.candidates' `contradicts`
# for what it catches.
# An LLM's claims are checked against it too (`contrary`); "much little" was added for them after
# that measure: of squad2-train's questions with "much" or "little", only 2 answerable and 4
# unanswerable ones have a gold sentence with the other word, the most it can change there.
_OPPOSITE_PAIRS = """
increase decrease, increased decreased, increases decreases, more less, most least, before after, first last,
largest smallest, larger smaller, large small, high low, higher lower, highest lowest, north south, northern southern,
east west, eastern western, rise fall, rose fell, win lose, won lost, major minor, early late, earlier later,
earliest latest, maximum minimum, positive negative, internal external, public private, legal illegal, success failure,
successful unsuccessful, accept reject, accepted rejected, allow forbid, allowed forbidden, begin end, began ended,
start end, started ended, strong weak, stronger weaker, old new, older newer, oldest newest, long short, longer shorter,
longest shortest, upper lower, top bottom, inside outside, import export, imports exports, imported exported, rich poor,
richest poorest, wealthy poor, majority minority, same different, supported opposed, support oppose, agree disagree,
true false, above below, over under, open closed, opened closed, best worst, better worse, gain loss, gained lost,
increase reduce, raise lower, raised lowered, add remove, added removed, entered left, enter leave, birth death,
born died, modern ancient, future past, full empty, heavy light, fast slow, faster slower, cheap expensive, hot cold,
warm cool, wet dry, always never, all none, many few, dependent independent, direct indirect, formal informal,
official unofficial, male female, men women, day night, summer winter, spring autumn, fewer more,
much little
"""


# Words of which a sentence saying one cannot answer a question about another: SQuAD 2.0's
# "mutual exclusion" edits ("in *June*" asked of "in July", "*three* ships" of "two ships").
# Chosen on squad2-train: on the first stage's best sentence they made the check fire for no more
# of 1,321 answerable questions and 14 more of 1,216 unanswerable ones; time units (7, 13) and
# continents and colours (none either way) were left out; "may" and "march" are verbs too, and
# each unit has one spelling here ("metres" is no opposite of "meters").
_EXCLUSIVE_SETS = """
january february april june july august september october november december;
monday tuesday wednesday thursday friday saturday sunday;
two three four five six seven eight nine ten eleven twelve twenty hundred thousand million billion trillion;
second third fourth fifth sixth seventh eighth ninth tenth;
meters kilometers miles feet inches pounds kilograms tons
"""


def _opposites(pairs: str, sets: str) -> dict[str, frozenset[str]]:
    """Each listed word's opposites: its pair's other word, the rest of its set."""
    out: dict[str, set[str]] = {}
    groups = [pair.split() for pair in pairs.split(",")] + [group.split() for group in sets.split(";")]
    for group in groups:
        for word in group:
            out.setdefault(word, set()).update(w for w in group if w != word)
    return {word: frozenset(others) for word, others in out.items()}


_OPPOSITES = _opposites(_OPPOSITE_PAIRS, _EXCLUSIVE_SETS)


def flipped(question_words: set[str], sentence_words: set[str]) -> bool:
    """A question word that is a sentence word with a negating prefix added or removed ("abnormal"/"normal")."""
    for word in question_words - sentence_words:
        for prefix in _PREFIXES:
            if word.startswith(prefix) and word[len(prefix):] in sentence_words and len(word) - len(prefix) > 3:
                return True
            if prefix + word in sentence_words and len(word) > 3:
                return True
    return False


def opposed(question_words: set[str], sentence_words: set[str]) -> bool:
    """A question word the sentence lacks whose listed opposite it uses (and the question does not)."""
    return any(w not in sentence_words and (_OPPOSITES.get(w, frozenset()) & sentence_words) - question_words
               for w in question_words)


def contrary(claim: str, source: str) -> bool:
    """Does `claim` say the opposite of `source`, however many words they share?

    A negation on one side only ("does not believe" / "believes"), a listed opposite ("much to gain"
    / "little to gain") or a prefixed one ("legal" / "illegal") in the source instead of the claim's
    word: the checks answer.candidates' `contradicts` makes of a question, made of a model's claim and its quote.
    """
    # An article's curly apostrophe is a model's straight one.
    claim, source = claim.replace("’", "'"), source.replace("’", "'")
    said, read = set(LETTERS.findall(claim.lower())), set(LETTERS.findall(source.lower()))
    return (bool(NEGATION.search(claim)) != bool(NEGATION.search(source))
            or opposed(said, read) or flipped(said, read))
