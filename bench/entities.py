"""Recall and precision of the entity extraction on tests/data/entities, as one table.

    .venv/bin/python bench/entities.py [ARTICLES_DIR] [EXPECTED_JSON]

A description counts once per entity and wording (an activity with its verb: "heads the union").
Recall: the expected descriptions found for the right entity. Precision: the descriptions found
that are expected for that entity (one given to a namesake, or to nobody, is wrong). Quotes: each
expected quotation found, and found with its expected speaker.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

from assistant.errors import InputError  # noqa: E402
from assistant.ingest.sources import read_sources  # noqa: E402
from assistant.text.entities import extract  # noqa: E402
from assistant.text.sentences import sentence_spans  # noqa: E402

DATA = ROOT / "tests" / "data" / "entities"


@dataclass(frozen=True)
class Scores:
    """What the extraction found against what was expected, per entity and overall."""

    expected: dict[str, set[str]]
    found: dict[str, set[str]]
    quotes: int  # expected quotations
    quotes_found: int  # found, with any speaker
    quotes_right: int  # found with the expected speaker

    @property
    def recall(self) -> float:
        total = sum(len(v) for v in self.expected.values())
        return sum(len(self.found.get(k, set()) & v) for k, v in self.expected.items()) / total

    @property
    def precision(self) -> float:
        total = sum(len(v) for v in self.found.values())
        right = sum(len(v & self.expected.get(k, set())) for k, v in self.found.items())
        return right / total if total else 1.0


def wording(text: str, verb: str) -> str:
    """How a description is compared: lower case, one blank, with its verb unless is/was."""
    said = " ".join(text.split()).lower()
    return said if verb in ("is", "was") else f"{verb} {said}"


def measure(articles: Path = DATA / "articles", expected_file: Path = DATA / "expected.json") -> Scores:
    expected_data = json.loads(expected_file.read_text())
    expected = {k: {wording(d, "is") for d in v["descriptions"]} for k, v in expected_data["entities"].items()}
    found: dict[str, set[str]] = defaultdict(set)
    said: list[tuple[str, str]] = []  # (quotation text, speaker)
    for article in read_sources([str(articles)]):
        assert not isinstance(article, InputError), article
        text = article.text
        result = extract(text, sentence_spans(text))
        for d in result.descriptions:
            found[d.key].add(wording(text[d.start:d.end], d.verb))
        said += [(text[s.start:s.end], s.key) for s in result.statements]
    quotes = expected_data["quotes"]
    hits = [[speaker for quote, speaker in said if q["snippet"] in quote] for q in quotes]
    return Scores(expected, dict(found), len(quotes), sum(bool(h) for h in hits),
                  sum(h == [q["speaker"]] for h, q in zip(hits, quotes)))


def main(argv: list[str]) -> None:
    scores = measure(*(Path(a) for a in argv[:2])) if argv else measure()
    print(f"{'entity':28} {'expected':>8} {'found':>6} {'right':>6}")
    for key in sorted(set(scores.expected) | set(scores.found)):
        want, got = scores.expected.get(key, set()), scores.found.get(key, set())
        print(f"{key:28} {len(want):8} {len(got):6} {len(want & got):6}")
        for wrong in sorted(got - want):
            print(f"{'':4}not expected: {wrong}")
        for missed in sorted(want - got):
            print(f"{'':4}missed: {missed}")
    print(f"descriptions: recall {scores.recall:.3f}, precision {scores.precision:.3f}")
    print(f"quotations: {scores.quotes_found}/{scores.quotes} found, {scores.quotes_right}/{scores.quotes} "
          "with the right speaker")


if __name__ == "__main__":
    main(sys.argv[1:])
