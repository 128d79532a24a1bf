"""Prompt templates: text files, checked once when the assistant starts.

Each template is read from the first place that has it: the `prompts` setting's directory
(ASSISTANT_PROMPTS, default `prompts/` in the working directory, where users put edited copies),
else the copy inside the package (`assistant/templates/`, read with importlib.resources, so an
installed wheel has them too). An override directory may hold only the templates it changes.

A template is plain text with `{name}` placeholders (Python's str.format; `{{` and `}}` for a
literal brace). `VARIABLES` says which placeholders each template must use, and nothing else: a
missing file, a missing or unknown variable, or a stray brace fails at start-up with a message that
names the file, instead of on the first question. prompts/README.md documents every variable.

The retrieved passages go into the answer prompt numbered [1]..[k] and fenced between <sources>
and </sources>, which the prompts declare to be data. An article cannot close the fence early: any
<sources> tag inside article text is defused before it is inserted.
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

from assistant.errors import PromptError
from assistant.llm.client import Message
from assistant.types import Passage, Turn

PACKAGED = files("assistant") / "templates"  # the defaults, shipped in the wheel

VARIABLES: dict[str, frozenset[str]] = {
    "answer-system": frozenset({"not_found"}),
    "answer": frozenset({"sources", "history", "question"}),
    "condense-follow-up-question": frozenset({"history", "question"}),
}
HISTORY_TURNS = 3  # earlier turns shown to the model; older ones rarely matter and cost tokens

_FENCE = re.compile(r"<\s*(?:/\s*)?sources\s*>", re.I)  # not \s*/?\s*: two ways to split each blank run


@dataclass(frozen=True)
class Template:
    """One prompt file, already checked: `render` fills exactly the variables it declares."""

    name: str
    path: Path | Traversable
    text: str

    @classmethod
    def load(cls, path: Path | Traversable, variables: frozenset[str]) -> Template:
        """Read and check a template; raises PromptError naming the file on any problem."""
        allowed = ", ".join("{" + v + "}" for v in sorted(variables))
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise PromptError(f"prompt template {path} is missing; reinstall the assistant (or git checkout "
                              f"{path.name}), or write one using {allowed}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise PromptError(f"prompt template {path} cannot be read ({exc}); save it as UTF-8 text") from None
        try:
            placeholders = [(f, spec, conv) for _, f, spec, conv in string.Formatter().parse(text) if f is not None]
        except ValueError as exc:
            raise PromptError(f"prompt template {path} is malformed ({exc}); "
                                 "write {{ and }} for a literal brace") from None
        for field, spec, conv in placeholders:
            if field not in variables or spec or conv:
                shown = "{" + field + (f"!{conv}" if conv else "") + (f":{spec}" if spec else "") + "}"
                raise PromptError(f"prompt template {path} uses {shown}, which is not one of its variables "
                                  f"({allowed}); write {{{{ and }}}} for a literal brace, see prompts/README.md")
        missing = variables - {field for field, _, _ in placeholders}
        if missing:
            raise PromptError(f"prompt template {path} does not use "
                                 f"{', '.join('{' + v + '}' for v in sorted(missing))}; see prompts/README.md")
        return cls(path.name.removesuffix(".txt"), path, text)

    def render(self, **values: str) -> str:
        return self.text.format(**values)


@dataclass(frozen=True)
class Prompts:
    """The templates the LLM answerer uses, loaded and checked together."""

    answer_system: Template
    answer: Template
    condense: Template

    @classmethod
    def load(cls, overrides: Path | None = None, defaults: Path | Traversable = PACKAGED) -> Prompts:
        """Each template from `overrides` if it has that file, else from `defaults` (the package's)."""

        def where(file: str) -> Path | Traversable:
            return overrides / file if overrides is not None and (overrides / file).is_file() else defaults / file

        t = {name: Template.load(where(f"{name}.txt"), variables) for name, variables in VARIABLES.items()}
        return cls(t["answer-system"], t["answer"], t["condense-follow-up-question"])

    def system(self, not_found: str) -> str:
        return self.answer_system.render(not_found=not_found)

    def answer_messages(self, question: str, history: Sequence[Turn], passages: Sequence[Passage],
                        not_found: str) -> list[Message]:
        """System rules, then the numbered, fenced sources, the conversation and the question."""
        user = self.answer.render(sources=sources(passages), history=conversation(history), question=question)
        return [Message("system", self.system(not_found)), Message("user", user)]

    def condense_messages(self, question: str, history: Sequence[Turn]) -> list[Message]:
        return [Message("user", self.condense.render(history=conversation(history), question=question))]


def sources(passages: Sequence[Passage]) -> str:
    """'[1] Title\\npassage text' blocks, numbered in the order given (the citation numbers)."""
    return "\n\n".join(f"[{i}] {_defuse(p.title)}\n{_defuse(p.chunk.text)}" for i, p in enumerate(passages, 1))


def conversation(history: Sequence[Turn]) -> str:
    """The latest turns as 'User: ...' / 'Assistant: ...' lines.

    Callers strip the old answers' citation markers first (citations.strip_markers): an earlier [1]
    pointed at that answer's sources, and left in, the model would copy numbers that now mean
    something else.
    """
    if not history:
        return "(none)"
    lines = []
    for turn in history[-HISTORY_TURNS:]:
        lines.append(f"User: {_defuse(turn.question)}")
        if turn.answer:
            lines.append(f"Assistant: {_defuse(turn.answer)}")
    return "\n".join(lines)


def _defuse(text: str) -> str:
    """Text that cannot open or close the <sources> fence."""
    return _FENCE.sub("(sources tag removed)", text)
