"""Readers' votes on answers, kept in SQLite in the index directory: how a wiki owner finds what is wrong.

    index/feedback.sqlite3   one row per answer voted on: time, up/down, comment, the question, the
                             answer, its citations (JSON), the index version, and the answer's id;
                             and the key that signs answer ids

A vote counts only on an answer this server gave: each answer carries an `answer_id` (a nonce and
an HMAC of the question, answer and citations under the store's key), so a vote cannot invent an
answer of a megabyte, and a second vote on the same answer (the comment after the click) updates
its row rather than adding one. The store stops taking new rows past its size cap.

It sits beside the versions, not in one, so rebuilding or updating the index keeps it. SQLite
because votes arrive from many requests at once and must survive a crash; each call opens its
own connection, which makes the store safe to share between threads.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import sqlite3
import threading
import time
from contextlib import closing
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from assistant.errors import AssistantError
from assistant.limits import MB
from assistant.store.format import FEEDBACK

log = logging.getLogger(__name__)

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
);
CREATE TABLE IF NOT EXISTS signing (key TEXT NOT NULL);
"""
# Format 2 adds the answer id; stores from before keep their rows (answer_id NULL).
_MIGRATE = ["ALTER TABLE feedback ADD COLUMN answer_id TEXT",
            "CREATE UNIQUE INDEX IF NOT EXISTS feedback_answer ON feedback (answer_id)"]
_COLUMNS = "id, time, vote, comment, question, answer, citations, index_version"
_NONCE = 16  # hex characters before the signature's


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
    """Sign answers, and keep votes on them in `<index>/feedback.sqlite3` (created on first use).

    Args:
        index_root: the index directory.
        max_bytes: past this size the store takes no new answers' votes (updates still go in).
    """

    def __init__(self, index_root: Path, max_bytes: int = 50 * MB):
        self.path = Path(index_root) / FEEDBACK
        self.max_bytes = max_bytes
        self._key: bytes | None = None
        self._lock = threading.Lock()

    def sign(self, question: str, answer: str, citations: list[dict]) -> str:
        """A fresh id for an answer given now: a nonce and its HMAC with what was answered."""
        nonce = secrets.token_hex(_NONCE // 2)
        return nonce + self._mac(nonce, question, answer, citations)

    def add(self, answer_id: str, vote: Literal["up", "down"], question: str, answer: str, citations: list[dict],
            comment: str = "", index_version: str | None = None) -> Feedback:
        """Record a vote on the answer `answer_id` names, or update the vote already there.

        Raises AssistantError when the id is not one this store signed for exactly this answer, or when
        the store is full.
        """
        nonce, mac = answer_id[:_NONCE], answer_id[_NONCE:]
        if len(answer_id) <= _NONCE or not hmac.compare_digest(mac, self._mac(nonce, question, answer, citations)):
            raise AssistantError("the vote is not on an answer this server gave (its answer_id does not match); "
                             "vote on an answer as /api/ask returned it")
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        cited = json.dumps(citations, ensure_ascii=False)
        with closing(self._connect()) as db, db:
            known = db.execute("SELECT 1 FROM feedback WHERE answer_id = ?", (answer_id,)).fetchone()
            if not known and self.path.stat().st_size > self.max_bytes:
                raise AssistantError(f"the feedback store is full ({self.max_bytes // MB} MB, "
                                 "ASSISTANT_FEEDBACK_MAX_MB); an admin can read it with `assistant feedback` "
                                 "and move it aside")
            db.execute(
                "INSERT INTO feedback (time, vote, comment, question, answer, citations, index_version, answer_id)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (answer_id) DO UPDATE SET time = excluded.time,"
                " vote = excluded.vote, comment = CASE WHEN excluded.comment != '' THEN excluded.comment"
                " ELSE comment END", (now, vote, comment, question, answer, cited, index_version, answer_id))
            row = db.execute(f"SELECT {_COLUMNS} FROM feedback WHERE answer_id = ?", (answer_id,)).fetchone()
        return _entry(row)

    def entries(self) -> list[Feedback]:
        """Every vote, newest first; none before the first."""
        if not self.path.exists():
            return []
        with closing(self._connect()) as db:
            rows = db.execute(f"SELECT {_COLUMNS} FROM feedback ORDER BY id DESC").fetchall()
        return [_entry(row) for row in rows]

    def _mac(self, nonce: str, question: str, answer: str, citations: list[dict]) -> str:
        signed = json.dumps([nonce, question, answer, [[c.get(k) for k in ("article_id", "chunk_id", "start", "end",
                                                                           "quote")] for c in citations]],
                            ensure_ascii=False)
        return hmac.new(self._signing_key(), signed.encode(), hashlib.sha256).hexdigest()[:32]

    def _signing_key(self) -> bytes:
        """The store's key, made on first use; one for this process alone where the index cannot be written."""
        with self._lock:
            if self._key is None:
                try:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                    with closing(self._connect()) as db, db:
                        row = db.execute("SELECT key FROM signing").fetchone()
                        if row is None:
                            row = (secrets.token_hex(32),)
                            db.execute("INSERT INTO signing (key) VALUES (?)", row)
                    self._key = bytes.fromhex(row[0])
                except (OSError, sqlite3.Error) as exc:
                    log.warning("feedback: %s cannot be written (%s); answer ids last until a restart", self.path, exc)
                    self._key = secrets.token_bytes(32)
            return self._key

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=10)
        db.executescript(_SCHEMA)
        columns = {row[1] for row in db.execute("PRAGMA table_info(feedback)")}
        if "answer_id" not in columns:
            try:
                for statement in _MIGRATE:
                    db.execute(statement)
                db.commit()
            except sqlite3.OperationalError:  # another connection migrated it first
                db.rollback()
        return db


def _entry(row: tuple) -> Feedback:
    i, at, vote, comment, question, answer, citations, version = row
    return Feedback(i, at, vote, comment, question, answer, json.loads(citations), version)
