"""Who may read what, kept beside the index: restricted collections and read tokens.

    index/access.sqlite3   collections (name, restricted), tokens (SHA-256 of the secret, collections,
                           created, expires, revoked)

Beside the stores, as sources.sqlite3 is: a rebuild swaps the store and must not make a restricted
collection public again, nor a revoked token valid. A collection not listed here is public, so an
index built before collections existed serves as one public `default` collection. Which article is
in which collection is in the catalog (format.MEMBERSHIP), since it changes with the articles.

Tokens are shown once, when created, and kept only as their SHA-256: the secret is 256 random
bits, which no dictionary holds, so a slow salted hash would add nothing but time per request.
Each call opens its own connection, so one store serves every thread of the server.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import sqlite3
import time
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from pathlib import Path

from assistant.errors import AssistantError, NotFound
from assistant.limits import MAX_COLLECTION_CHARS
from assistant.store.format import ACCESS, ACCESS_SCHEMA
from assistant.store.sidecar import transaction

TOKEN_PREFIX = "ast_"  # says what a leaked secret is, as GitHub's "ghp_" does
_NAME = re.compile(rf"[a-z0-9][a-z0-9_-]{{0,{MAX_COLLECTION_CHARS - 1}}}")
_DURATION = re.compile(r"(?<!\d)(\d+)\s*([mhdw])")  # (?<!\d): one start per run of digits, linear in search
_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


@dataclass(frozen=True)
class Token:
    """A read token as listed: never its secret."""

    id: int
    collections: tuple[str, ...]
    created: str
    expires: str | None
    revoked: str | None

    def active(self, now: float) -> bool:
        return self.revoked is None and (self.expires is None or _parse(self.expires) > now)

    def to_dict(self) -> dict:
        return asdict(self)


def collection_name(name: str) -> str:
    """A valid collection name, or AssistantError saying what one looks like."""
    if not _NAME.fullmatch(name or ""):
        raise AssistantError(f"collection name {name!r} is not valid: use 1 to {MAX_COLLECTION_CHARS} lower-case "
                             "letters, digits, '-' or '_', starting with a letter or digit")
    return name


def expiry(text: str | None, now: float) -> float | None:
    """When a token given `--expires 30d` (or 12h, 2w, or a date 2027-01-31) stops working; None: never."""
    if not text:
        return None
    if match := _DURATION.fullmatch(text.strip()):
        return now + int(match[1]) * _UNITS[match[2]]
    try:
        return _parse(text.strip() + ("" if "T" in text else "T00:00:00Z"))
    except ValueError:
        raise AssistantError(f"--expires {text!r}: give a duration (30m, 12h, 30d, 2w) "
                             "or a date (2027-01-31)") from None


def _iso(at: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))


def _parse(text: str) -> float:
    import calendar

    return float(calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ")))


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class AccessStore:
    """Restricted collections and read tokens in `<index>/access.sqlite3` (created on first write)."""

    def __init__(self, index_root: Path, clock=time.time):
        self.path = Path(index_root) / ACCESS
        self.clock = clock

    # ── collections ──

    def restricted(self) -> frozenset[str]:
        """The collections only a token, a group or the admin may read."""
        if not self.path.exists():
            return frozenset()
        with self._db() as db:
            return frozenset(r[0] for r in db.execute("SELECT name FROM collections WHERE restricted = 1"))

    def restrict(self, name: str, restricted: bool = True) -> None:
        """Make a collection restricted, or public again."""
        with self._db() as db:
            db.execute("INSERT INTO collections (name, restricted, changed) VALUES (?, ?, ?) ON CONFLICT (name)"
                       " DO UPDATE SET restricted = excluded.restricted, changed = excluded.changed",
                       (collection_name(name), int(restricted), _iso(self.clock())))

    # ── tokens ──

    def create_token(self, collections: list[str], expires: float | None = None) -> tuple[Token, str]:
        """A new read token for `collections`: (its listing, the secret, shown this once)."""
        names = tuple(dict.fromkeys(collection_name(c) for c in collections))
        if not names:
            raise AssistantError("name the collection the token may read: --collection NAME")
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self._db() as db:
            cursor = db.execute("INSERT INTO tokens (hash, collections, created, expires) VALUES (?, ?, ?, ?)",
                                (_hash(secret), json.dumps(names), _iso(self.clock()),
                                 None if expires is None else _iso(expires)))
            token_id = int(cursor.lastrowid or 0)
        return self._token(token_id), secret

    def tokens(self) -> list[Token]:
        if not self.path.exists():
            return []
        with self._db() as db:
            return [_token(row) for row in db.execute(f"SELECT {_TOKEN_COLUMNS} FROM tokens ORDER BY id")]

    def revoke(self, token_id: int) -> Token:
        """Stop a token from reading anything; NotFound if there is no such token."""
        with self._db() as db:
            changed = db.execute("UPDATE tokens SET revoked = coalesce(revoked, ?) WHERE id = ?",
                                 (_iso(self.clock()), token_id)).rowcount
        if not changed:
            raise NotFound(f"no read token {token_id}; see `assistant token list`")
        return self._token(token_id)

    def grants(self, secret: str) -> frozenset[str] | None:
        """The collections a presented secret may read; None if it is no active token."""
        if not secret.startswith(TOKEN_PREFIX) or not self.path.exists():
            return None
        with self._db() as db:
            row = db.execute(f"SELECT {_TOKEN_COLUMNS} FROM tokens WHERE hash = ?", (_hash(secret),)).fetchone()
        token = _token(row) if row else None
        return frozenset(token.collections) if token and token.active(self.clock()) else None

    def _token(self, token_id: int) -> Token:
        with self._db() as db:
            row = db.execute(f"SELECT {_TOKEN_COLUMNS} FROM tokens WHERE id = ?", (token_id,)).fetchone()
        return _token(row)

    def _db(self) -> AbstractContextManager[sqlite3.Connection]:
        return transaction(self.path, ACCESS_SCHEMA)


_TOKEN_COLUMNS = "id, collections, created, expires, revoked"


def _token(row: tuple) -> Token:
    token_id, collections, created, expires, revoked = row
    return Token(token_id, tuple(json.loads(collections)), created, expires, revoked)
