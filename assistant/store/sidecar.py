"""The small SQLite files beside the stores (sources.sqlite3, access.sqlite3): a connection a transaction.

They outlive a rebuild, are written rarely and read by several processes (the server, the CLI,
a sync loop), so nothing is held open between calls.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path


@contextmanager
def transaction(path: Path, schema: str) -> Iterator[sqlite3.Connection]:
    """A connection to `path` (its tables made from `schema` if missing) for one transaction,
    committed when the block ends without an error, rolled back otherwise."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(path, timeout=10)) as db:
        db.executescript(schema)
        with db:
            yield db
