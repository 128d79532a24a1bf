"""The entity index in the catalog: who each article names, describes and quotes, read and written.

Its rows hang off an article's key like its chunks do, and are written and deleted by the same
Catalog calls, so an article's names are added, replaced and removed in the article's own
transaction. An entity (one full name: text/entities.py) has a row while some article names it.

Every read takes `readable`, the ids of the articles the reader may see (None: all), applied in
the query: a profile never counts, cites or lists an article outside it.

Catalogs written before the entity index lack its tables; a reader finds nothing in them (today's
answers), a writer creates them, and `assistant compact` indexes the articles not yet indexed
(`unindexed`, then `add`).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass

from assistant.limits import MAX_ENTITY_MATCHES, MAX_PROFILE_ARTICLES, MAX_PROFILE_FACTS
from assistant.store.format import ENTITY_SCHEMA
from assistant.text.entities import ArticleEntities, name_forms
from assistant.types import Chunk, EntityArticle, EntityRef

MENTION_CONTEXT_CHARS = 80  # characters of text either side of a mention, for the entity page
QUOTE = "quote"  # the form of a statement's row; a description's is its form (apposition, copula, ...)


@dataclass(frozen=True)
class Fact:
    """A description or a statement of an entity in one article; `EntityIndex.cited` reads the
    sentence and chunk a citation of it needs (only for the few cited)."""

    article: int  # the article's catalog key
    article_id: str
    title: str
    url: str | None
    published: str | None
    form: str  # apposition, copula, activity, role, or QUOTE
    verb: str
    start: int
    end: int
    text: str  # article.text[start:end]
    sentence_start: int
    sentence_end: int


class EntityIndex:
    """The entity rows of one catalog connection."""

    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def create(self) -> None:
        """Create the tables if missing: a catalog written before them is upgraded by its next writer."""
        self.db.executescript(ENTITY_SCHEMA)

    def present(self) -> bool:
        return self.db.execute("SELECT 1 FROM sqlite_master WHERE name = 'entities'").fetchone() is not None

    # --- writes (inside the catalog's transaction) -------------------------------------------

    def add(self, article: int, text: str, found: ArticleEntities) -> None:
        """The rows of one article (its catalog key and text), marked indexed even when it names nobody.

        A fact's words are kept in its row: a profile reads hundreds of them, and slicing each out
        of its article's text (overflow pages) made reading the median entity's 14 ms.
        """
        self.db.executemany(
            "INSERT OR IGNORE INTO entities (id, name, kind, lower_name, last_word) VALUES (?, ?, ?, ?, ?)",
            [(n.key, n.name, n.kind, *name_forms(n.name)) for n in found.names],
        )
        self.db.executemany("INSERT INTO entity_mentions (article, entity, start_char, end_char) VALUES (?, ?, ?, ?)",
                            [(article, m.key, m.start, m.end) for m in found.mentions])
        self.db.executemany(
            "INSERT INTO entity_facts (article, entity, form, verb, start_char, end_char, sentence_start, sentence_end,"
            " phrase) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(article, d.key, d.form, d.verb, d.start, d.end, *d.sentence, text[d.start:d.end])
             for d in found.descriptions]
            + [(article, s.key, QUOTE, "said", s.start, s.end, *s.sentence, text[s.start:s.end])
               for s in found.statements],
        )
        self.db.execute("INSERT OR IGNORE INTO entity_articles (article) VALUES (?)", (article,))

    def delete(self, article: int) -> None:
        """An article's rows, and the entities no other article names."""
        if not self.present():
            return
        named = [r[0] for r in self.db.execute("SELECT DISTINCT entity FROM entity_mentions WHERE article = ?",
                                               (article,))]
        for table in ("entity_mentions", "entity_facts", "entity_articles"):
            self.db.execute(f"DELETE FROM {table} WHERE article = ?", (article,))
        self.db.executemany(
            "DELETE FROM entities WHERE id = ? AND NOT EXISTS (SELECT 1 FROM entity_mentions WHERE entity = ?)",
            [(e, e) for e in named],
        )

    def unindexed(self) -> list[int]:
        """Keys of the articles whose names are not indexed yet (ingested before the entity index)."""
        return [r[0] for r in self.db.execute(
            "SELECT key FROM articles WHERE key NOT IN (SELECT article FROM entity_articles) ORDER BY key")]

    # --- reads ------------------------------------------------------------------------------

    def find(self, name: str, readable: frozenset[str] | None = None, *, contains: bool = False,
             limit: int = MAX_ENTITY_MATCHES) -> list[EntityRef]:
        """Entities a name may mean: the whole name, or its last word ('Golts'), case aside; with
        `contains`, any name holding it (a search box). Most mentioned first."""
        whole, last = name_forms(" ".join(name.split()))
        if not whole or not self.present():
            return []
        if contains:
            where, args = "e.lower_name LIKE ? ESCAPE '\\'", [f"%{_like(whole)}%"]
        elif " " in whole:
            where, args = "e.lower_name = ?", [whole]
        else:
            where, args = "(e.lower_name = ? OR e.last_word = ?)", [whole, last]
        scope, scope_args = _readable(readable)
        rows = self.db.execute(
            "SELECT e.id, e.name, e.kind, count(DISTINCT m.article) AS n FROM entities e"
            f" JOIN entity_mentions m ON m.entity = e.id{_articles(readable)}"
            f" WHERE {where}{scope} GROUP BY e.id ORDER BY n DESC, e.name LIMIT ?",
            [*args, *scope_args, limit],
        ).fetchall()
        return [EntityRef(i, n, k, c) for i, n, k, c in rows]

    def entity(self, entity_id: str, readable: frozenset[str] | None = None) -> EntityRef | None:
        """One entity with the number of readable articles naming it; None if none does."""
        if not self.present():
            return None
        scope, scope_args = _readable(readable)
        row = self.db.execute(
            "SELECT e.id, e.name, e.kind, count(DISTINCT m.article) FROM entities e"
            f" JOIN entity_mentions m ON m.entity = e.id{_articles(readable)}"
            f" WHERE e.id = ?{scope} GROUP BY e.id",
            [entity_id, *scope_args],
        ).fetchone()
        return EntityRef(*row) if row else None

    def facts(self, entity_id: str, readable: frozenset[str] | None = None) -> list[Fact]:
        """The descriptions and statements of an entity (the newest MAX_PROFILE_FACTS), newest article
        first, in text order within one."""
        if not self.present():
            return []
        scope, scope_args = _readable(readable)
        rows = self.db.execute(
            "SELECT a.key, a.id, a.title, a.url, a.published, f.form, f.verb, f.start_char, f.end_char, f.phrase,"
            " f.sentence_start, f.sentence_end FROM entity_facts f JOIN articles a ON a.key = f.article"
            f" WHERE f.entity = ?{scope}"
            " ORDER BY a.published IS NULL, a.published DESC, a.key DESC, f.start_char LIMIT ?",
            [entity_id, *scope_args, MAX_PROFILE_FACTS],
        ).fetchall()
        return [Fact(*row) for row in rows]

    def cited(self, fact: Fact) -> tuple[Chunk, str]:
        """The chunk holding a fact's sentence (the first, where chunks overlap) and the sentence."""
        ordinal, start, end, chunk_text, sentence = self.db.execute(
            "SELECT c.ordinal, c.start_char, c.end_char, substr(a.text, c.start_char + 1, c.end_char - c.start_char),"
            " substr(a.text, ? + 1, ? - ?) FROM chunks c JOIN articles a ON a.key = c.article"
            " WHERE c.article = ? AND c.start_char <= ? AND c.end_char >= ? ORDER BY c.ordinal LIMIT 1",
            (fact.sentence_start, fact.sentence_end, fact.sentence_start, fact.article, fact.sentence_start,
             fact.sentence_end),
        ).fetchone()
        return Chunk(fact.article_id, ordinal, start, end, chunk_text), sentence

    def mentions(self, entity_id: str, readable: frozenset[str] | None = None, *,
                 limit: int = MAX_PROFILE_ARTICLES, contexts: bool = True) -> list[EntityArticle]:
        """The newest `limit` articles naming an entity, each with its mentions' spans and, with
        `contexts`, the text around each (the entity page); without, only the first mention."""
        if not self.present():
            return []
        scope, scope_args = _readable(readable)
        c = MENTION_CONTEXT_CHARS
        found = (
            "json_group_array(json_array(m.start_char, m.end_char,"
            f" substr(a.text, max(m.start_char - {c}, 0) + 1, m.start_char - max(m.start_char - {c}, 0)),"
            " substr(a.text, m.start_char + 1, m.end_char - m.start_char),"
            f" substr(a.text, m.end_char + 1, {c})))"
        ) if contexts else "json_array(json_array(min(m.start_char), m.end_char))"  # SQLite: end of the min row
        order = "ORDER BY a.published IS NULL, a.published DESC, a.key DESC"
        # The newest articles first, then their mentions: contexts read for those only.
        rows = self.db.execute(
            "WITH chosen AS (SELECT a.key FROM entity_mentions m JOIN articles a ON a.key = m.article"
            f" WHERE m.entity = ?{scope} GROUP BY a.key {order} LIMIT ?)"
            f" SELECT a.id, a.title, a.url, a.published, {found}"
            " FROM entity_mentions m JOIN articles a ON a.key = m.article"
            f" WHERE m.entity = ? AND m.article IN chosen GROUP BY a.key {order}",
            [entity_id, *scope_args, limit, entity_id],
        ).fetchall()
        out = []
        for i, t, u, p, spans in rows:
            ordered = sorted(json.loads(spans))
            out.append(EntityArticle(i, t, u, p, tuple((s, e) for s, e, *_ in ordered),
                                     tuple((before, name, after) for _, _, before, name, after in ordered)
                                     if contexts else ()))
        return out


def _readable(readable: frozenset[str] | None) -> tuple[str, list[str]]:
    """The clause keeping only readable articles (alias `a`), and its argument."""
    if readable is None:
        return "", []
    return " AND a.id IN (SELECT value FROM json_each(?))", [json.dumps(sorted(readable))]


def _articles(readable: frozenset[str] | None) -> str:
    """The join to the articles a count needs only to filter them: 250 ms saved counting the
    8,538 articles of the most named entity of a 100,000-chunk store."""
    return "" if readable is None else " JOIN articles a ON a.key = m.article"


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")

