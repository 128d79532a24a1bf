"""Every regular expression in the package runs in linear time on adversarial text.

Article text, questions, chat history and LLM replies are untrusted, and one backtracking pattern
freezes the server: the old first-heading pattern took 27.6 s on a 60 KB Markdown file. Patterns
are collected from the source (module-level compiled ones and literal patterns in calls), then run
over pumped strings, `prefix + pump * n + suffix`, the shape that makes a backtracking pattern
quadratic: known attacks first, then ones hypothesis draws from each pattern's own characters.
"""

from __future__ import annotations

import ast
import importlib
import re
import time
from pathlib import Path

import pytest
import regex
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

PACKAGE = Path(__file__).resolve().parent.parent / "assistant"
SIZE = 20_000  # characters of pumped text
# A linear scan of 20,000 characters takes about a millisecond; a quadratic one, seconds
# (the old heading pattern: 3.3 s at this size).
BOUND_S = 0.25
CALLS = {"compile", "search", "match", "fullmatch", "findall", "finditer", "sub", "subn", "split"}


def _flags(node: ast.expr | None) -> int:
    if node is None:
        return 0
    return eval(compile(ast.Expression(node), "<flags>", "eval"), {"re": re, "regex": regex})  # re.I | re.M


def patterns() -> dict[str, re.Pattern]:
    """Every pattern of the package by 'module:line', compiled as the module compiles it."""
    found: dict[str, re.Pattern] = {}
    for path in sorted(p for p in PACKAGE.rglob("*.py") if p.stem != "__main__"):
        name = ".".join(path.relative_to(PACKAGE).with_suffix("").parts).removesuffix(".__init__")
        module = importlib.import_module(f"assistant.{name}")
        for node in ast.walk(ast.parse(path.read_text())):
            # NAME = re.compile(...) at module level, f-string patterns included: take the object.
            if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
                value = getattr(module, node.targets[0].id, None)
                if isinstance(value, (re.Pattern, regex.Pattern)):
                    found[f"{name}:{node.targets[0].id}"] = value
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                  and isinstance(node.func.value, ast.Name) and node.func.value.id in ("re", "regex")
                  and node.func.attr in CALLS and node.args and isinstance(node.args[0], ast.Constant)):
                engine = re if node.func.value.id == "re" else regex
                flags = next((k.value for k in node.keywords if k.arg == "flags"), None)
                if flags is None and node.func.attr == "search" and len(node.args) > 2:
                    flags = node.args[2]
                if flags is None and node.func.attr == "compile" and len(node.args) > 1:
                    flags = node.args[1]
                found.setdefault(f"{name}:{node.lineno}", engine.compile(node.args[0].value, _flags(flags)))
    return found


PATTERNS = patterns()
# Pumped strings that broke patterns of this package, or would have: the heading, markers after
# a run of blanks, tags without an end, a decline phrase with no full stop.
ATTACKS = [
    ("# a", " ", "b"), ("#", " ", ""), ("", " ", "x"), ("", "\t", "x"), ("[1]", " ", "x"),
    ("", "<", ""), ("<", " ", "x"), ("", "< ", ""), ("[1", ", 1", ""), ("", "[1, ", ""),
    ("", "no information ", ""), ("", "A ", "a"), ("Zürich", " ", "x"), ("", "a.", ""),
    ("---\n", "a", ""), ("---\n", "---  x\n", ""), ("", "\n", "x"), ("", "1,", "x"), ("", "]. ", ""),
]


def pumped(prefix: str, pump: str, suffix: str) -> str:
    return prefix + pump * (SIZE // len(pump)) + suffix


def elapsed(pattern, text: str) -> float:
    if isinstance(pattern.pattern, bytes):  # a pattern over raw headers
        text = text.encode("utf-8")
    began = time.perf_counter()
    for _ in pattern.finditer(text):  # every start position: the worst of search, sub and findall
        pass
    return time.perf_counter() - began


def test_the_package_patterns_are_found():
    assert {"text.sentences:_LIST_ITEM", "answer.citations:MARKERS", "answer.decision:DECLINES",
            "serve.html:_TAG"} <= set(PATTERNS)
    assert len(PATTERNS) > 40


@pytest.mark.parametrize("name", sorted(PATTERNS))
def test_known_attacks_run_in_linear_time(name):
    slow = [attack for attack in ATTACKS if elapsed(PATTERNS[name], pumped(*attack)) >= BOUND_S]
    assert slow == [], f"{name} {PATTERNS[name].pattern!r}"


def _alphabet(pattern) -> list[str]:
    """The pattern's literal characters, and the characters its classes usually stand for."""
    return sorted({c for c in str(pattern.pattern) if c.isprintable()} | set(" \t\n.aA1[]<>#,-"))


@pytest.mark.parametrize("name", sorted(PATTERNS))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_pumped_text_from_the_patterns_own_characters_runs_in_linear_time(name, data):
    letters = st.sampled_from(_alphabet(PATTERNS[name]))
    prefix = data.draw(st.text(letters, max_size=4))
    pump = data.draw(st.text(letters, min_size=1, max_size=3))
    suffix = data.draw(st.text(letters, max_size=2))
    assert elapsed(PATTERNS[name], pumped(prefix, pump, suffix)) < BOUND_S, (name, prefix, pump, suffix)
