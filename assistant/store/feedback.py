"""Readers' votes on answers, kept in SQLite in the index directory: how a wiki owner finds what is wrong.

    index/feedback.sqlite3   one row per vote: time, up/down, comment, the question, the answer,
                             its citations (JSON) and the index version that answered

It sits beside the versions, not in one, so rebuilding or updating the index keeps it. SQLite
because votes arrive from many requests at once and must survive a crash; each call opens its
own connection, which makes the store safe to share between threads.
"""

from __future__ import annotations

import json
import sqlite3
import time
from contextlib import closing
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from assistant.store.format import FEEDBACK

_SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time TEXT NOT NULL,
    vote TEXT NOT NULL CHECK (vote IN ('up', 'down')),
    comment TEXT NOT NULL,
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    citations TEXT NOT NULL,
    index_version TEXT
)
"""
_COLUMNS = "id, time, vote, comment, question, answer, citations, index_version"


@dataclass(frozen=True)
class Feedback:
    """One vote on one answer, with what was answered so it can be judged later."""

    id: int
    time: str  # UTC, ISO 8601
    vote: Literal["up", "down"]
    comment: str
    question: str
    answer: str
    citations: list[dict]
    index_version: str | None

    def to_dict(self) -> dict:
        return asdict(self)


class FeedbackStore:
    """Append and list votes in `<index>/feedback.sqlite3` (created on the first vote)."""

    def __init__(self, index_root: Path):
        self.path = Path(index_root) / FEEDBACK

    def add(self, vote: Literal["up", "down"], question: str, answer: str, citations: list[dict], comment: str = "",
            index_version: str | None = None) -> Feedback:
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        row = (now, vote, comment, question, answer, json.dumps(citations, ensure_ascii=False), index_version)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as db, db:
            cursor = db.execute(f"INSERT INTO feedback ({_COLUMNS.removeprefix('id, ')}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                                row)
        assert cursor.lastrowid is not None  # an INSERT sets it
        return Feedback(cursor.lastrowid, now, vote, comment, question, answer, citations, index_version)

    def entries(self) -> list[Feedback]:
        """Every vote, newest first; none before the first."""
        if not self.path.exists():
            return []
        with closing(self._connect()) as db:
            rows = db.execute(f"SELECT {_COLUMNS} FROM feedback ORDER BY id DESC").fetchall()
        return [Feedback(i, at, vote, comment, question, answer, json.loads(citations), version)
                for i, at, vote, comment, question, answer, citations, version in rows]

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=10)
        db.execute(_SCHEMA)
        return db
