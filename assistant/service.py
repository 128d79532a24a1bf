"""The composition root: settings -> concrete embedder, index, retriever, answerer.

CLI, HTTP API and UI are thin presenters over one `Assistant`. Collaborators can be passed in
(tests inject a fake embedder or LLM); otherwise they are built lazily from settings, so commands
that only read the manifest never load the model.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Literal

import numpy as np

from assistant.answer import profile
from assistant.answer.chat import condense
from assistant.answer.citations import stream_pieces
from assistant.answer.decision import on_subject
from assistant.answer.extractive import ExtractiveAnswerer, cite
from assistant.answer.reader import Reader
from assistant.config import Settings
from assistant.embed.base import Embedder
from assistant.embed.factory import load_embedder
from assistant.errors import AssistantError, InputError, NotFound
from assistant.ingest.fetch import Fetch
from assistant.ingest.indexer import Indexer, IngestReport, indexer_for
from assistant.ingest.sources import read_sources, read_upload
from assistant.ingest.sync import due, next_run, parse_every, sync_source
from assistant.limits import MAX_QUESTION_CHARS, MB
from assistant.llm.client import LLM, llm_from_settings
from assistant.llm.grounding import GroundedAnswerer
from assistant.llm.prompts import Prompts
from assistant.retrieve.retriever import Retriever, Scoped
from assistant.retrieve.spelling import respelled
from assistant.store.access import AccessStore, Token, collection_name, expiry
from assistant.store.directory import IndexDir
from assistant.store.feedback import Feedback, FeedbackStore
from assistant.store.sources import Run, Source, SourceStore
from assistant.store.vectors import VectorStore
from assistant.store.format import DEFAULT_COLLECTION
from assistant.types import EVERYTHING, Answer, Article, EntityRef, Passage, Profile, Scope, Turn


class Assistant:
    """Everything a user can do with one index."""

    def __init__(self, settings: Settings | None = None, *, embedder: Embedder | None = None,
                 llm: LLM | None = None, reader: Reader | None = None):
        self.settings = settings or Settings()
        llm = llm if llm is not None else llm_from_settings(self.settings)
        # Prompts are read and checked here, so a broken template stops start-up, not a question.
        self._grounded = GroundedAnswerer(llm, Prompts.load(self.settings.prompts)) if llm else None
        self.index = IndexDir(self.settings.index, VectorStore(self.settings.store, self.settings.milvus_uri))
        self._embedder = embedder
        self.reader = reader or Reader()  # the same for every index version; loads on first question
        self._loaded: tuple[str, tuple[Retriever, ExtractiveAnswerer]] | None = None  # version name, pair
        self._lock = threading.Lock()
        self._syncing = threading.Lock()  # one sync at a time in this process (the scheduler's, an admin's)
        self.sync_wake = threading.Event()  # set when a source is added: the scheduler looks at once

    @property
    def embedder(self) -> Embedder:
        with self._lock:
            if self._embedder is None:
                s = self.settings
                self._embedder = load_embedder(s.model, s.embed_batch_size, s.embed_backend)
            return self._embedder

    # --- write path -------------------------------------------------------------------------

    @property
    def fetch(self) -> Fetch:
        s = self.settings
        return Fetch(timeout=s.fetch_timeout, max_bytes=int(s.max_upload_mb * MB),
                     allow_hosts=frozenset(h.lower() for h in s.fetch_allow_hosts), deadline=s.fetch_deadline)

    def indexer(self) -> Indexer:
        return indexer_for(self.index, self.embedder, self.settings)

    def ingest(self, inputs: Iterable[str], *, rebuild: bool = False, progress: bool = False,
               ray: bool = False, ray_address: str | None = None, collection: str | None = None) -> IngestReport:
        """Read files, directories or URLs and index every good article (in `collection`, if given).

        `ray`: parse, split and embed them in a Ray Data pipeline (a local Ray, or the cluster at
        `ray_address`); this process writes what it yields, as it would have written its own.
        """
        if ray or ray_address:
            from assistant.ingest.ray_pipeline import prepare

            indexer = self.indexer()
            items = prepare(list(inputs), self.settings, indexer, self.fetch, ray_address, rebuild=rebuild)
            return indexer.ingest(items, rebuild=rebuild, progress=progress, collection=_named(collection))
        return self.ingest_articles(read_sources(inputs, fetch=self.fetch), rebuild=rebuild, progress=progress,
                                    collection=collection)

    def ingest_articles(self, items: Iterable[Article | InputError], *, rebuild: bool = False,
                        progress: bool = False, collection: str | None = None) -> IngestReport:
        return self.indexer().ingest(items, rebuild=rebuild, progress=progress, collection=_named(collection))

    def add(self, uploads: Sequence[tuple[str, bytes]] = (), url: str | None = None, *,
            progress: bool = False, cancel: threading.Event | None = None,
            collection: str | None = None) -> IngestReport:
        """Index uploaded files (name, bytes) and a web page: what the API and the admin panel add.

        AssistantError, with every input's error and nothing written, when none of them could be
        read: an ingest of nothing would still create an empty index where there was none. Setting
        `cancel` (the API does when its client hangs up) stops the page's fetch.
        """
        items = [item for name, data in uploads for item in read_upload(name, data)]
        if url:
            items += read_sources([url], fetch=replace(self.fetch, cancel=cancel))
        if not any(isinstance(item, Article) for item in items):
            raise AssistantError("; ".join(map(str, items)) or "nothing to add: no file and no URL")
        return self.ingest_articles(items, progress=progress, collection=collection)

    def remove(self, ids: Sequence[str]) -> IngestReport:
        return self.indexer().remove(ids)

    def compact(self) -> tuple[int, int, float]:
        """Merge every segment into one: (segments before, after, seconds)."""
        return self.indexer().compact()

    # --- sync: feeds, sitemaps, pages and folders kept current ----------------------------------

    @functools.cached_property
    def sync_state(self) -> SourceStore:
        return SourceStore(self.index.root)

    def add_source(self, locations: Sequence[str], *, collection: str = "default", every: str | float = "1h",
                   remove_missing: bool = False, robots: bool = True, folders: bool = True) -> Source:
        """A source to sync: one feed, sitemap or page URL, several page URLs, or (`folders`) a folder.

        Folders only where `folders` is true (the CLI): through the API anyone with the token
        could otherwise index any file the server can read.
        """
        locations = [str(x).strip() for x in locations if str(x).strip()]
        if not locations:
            raise AssistantError("give a feed, sitemap or page URL, or a folder")
        urls = [x for x in locations if x.lower().startswith(("http://", "https://"))]
        seconds = parse_every(every)
        add = functools.partial(self.sync_state.add, collection=collection_name(collection or DEFAULT_COLLECTION),
                                every=seconds,
                                remove_missing=remove_missing, robots=robots)
        if len(urls) == len(locations):
            source = add("url", urls[0]) if len(urls) == 1 else add("pages", "\n".join(dict.fromkeys(urls)))
            self.sync_wake.set()
            return source
        if len(locations) > 1:
            raise AssistantError("give one folder, or one or more http(s) URLs, not both")
        if not folders:
            raise AssistantError(f"{locations[0]!r} is not an http(s) URL; folders can be added from the command "
                                 "line only (`assistant sources add PATH`)")
        folder = Path(locations[0]).expanduser().resolve()
        if not folder.is_dir():
            raise AssistantError(f"{locations[0]}: no such folder, and not an http(s) URL")
        source = add("folder", str(folder))
        self.sync_wake.set()
        return source

    def sources(self) -> list[dict]:
        """Every source with its last run (None before the first)."""
        state = self.sync_state
        rows = []
        for source in state.sources():
            runs = state.runs(source.id, 1)
            rows.append({**source.to_dict(), "last_run": runs[0].to_dict() if runs else None})
        return rows

    def remove_source(self, source_id: int) -> Source:
        """Stop syncing a source; the articles it brought stay (remove them with `assistant remove`)."""
        return self.sync_state.remove(source_id)

    def sync(self, source_id: int | None = None) -> list[Run]:
        """Run one source, or every source, now (whether due or not)."""
        state = self.sync_state
        sources = [state.get(source_id)] if source_id is not None else state.sources()
        return [self._sync_one(source) for source in sources]

    def sync_due(self) -> float:
        """Run every source whose time has come; seconds until the next is due (what the scheduler sleeps)."""
        for source in due(self.sync_state.sources(), time.time()):
            self._sync_one(source)
        upcoming = [s.next_run for s in self.sync_state.sources()]
        return max(0.0, min(upcoming) - time.time()) if upcoming else float("inf")

    def _sync_one(self, source: Source) -> Run:
        def write(articles: list[Article], gone: list[str]) -> IngestReport:
            # one transaction, so a kill -9 leaves no half sync; in the source's collection from the first commit
            return self.indexer().ingest(articles, remove=gone, whole=True, collection=source.collection)

        with self._syncing:
            run = sync_source(source, self.sync_state, self.fetch, write, host_delay=self.settings.sync_host_delay)
            failures, at = next_run(self.sync_state.get(source.id), run.error is not None, time.time())
            self.sync_state.schedule(source.id, failures, at)
        return run

    # --- read path --------------------------------------------------------------------------

    def info(self) -> dict:
        manifest = self.index.manifest().to_dict()
        manifest["index"] = str(self.index.root)
        return manifest

    def article(self, article_id: str, scope: Scope = EVERYTHING) -> Article:
        """One indexed article with its whole text (for the article view); NotFound if not indexed,
        and the very same NotFound if `scope` may not read it (its existence is not for this reader)."""
        with self.index.catalog() as catalog:
            stored = catalog.article(article_id)
            readable = stored is not None and scope.readable(catalog.collections_of(article_id))
        if stored is None or not readable:
            raise NotFound(f"no article with id {article_id!r} in this index; it may have been removed")
        return stored.article

    def articles(self, scope: Scope = EVERYTHING) -> list[dict]:
        """id, title, url, chunks and collections of each article `scope` may read."""
        with self.index.catalog() as catalog:
            return catalog.listing(scope)

    def counts(self, scope: Scope = EVERYTHING) -> tuple[int, int]:
        """(articles, chunks) that `scope` may read."""
        if scope.everything:
            manifest = self.index.manifest()
            return manifest.articles, manifest.chunks
        rows = self.articles(scope)
        return len(rows), sum(r["chunks"] for r in rows)

    # --- collections and who may read them ----------------------------------------------------

    @functools.cached_property
    def access(self) -> AccessStore:
        """Restricted collections and read tokens, beside the index (they outlive a rebuild)."""
        return AccessStore(self.index.root)

    def scope(self, granted: frozenset[str] | None, only: str | None = None) -> Scope:
        """What a reader granted these restricted collections may read (None: the admin, all of them);
        `only` narrows it to one collection, which must be readable to show anything."""
        hidden = frozenset() if granted is None else self.access.restricted() - granted
        return Scope(hidden, collection_name(only) if only else None)

    def collections(self) -> list[dict]:
        """Each collection: its articles and chunks, whether it is restricted, the tokens that read it."""
        with self.index.catalog() as catalog:
            counts = catalog.collection_counts()
        restricted = self.access.restricted()
        tokens = [t for t in self.access.tokens() if t.active(time.time())]
        names = sorted(set(counts) | restricted)
        groups = self.settings.group_collections
        return [{"name": name, "articles": counts.get(name, (0, 0))[0], "chunks": counts.get(name, (0, 0))[1],
                 "restricted": name in restricted, "tokens": sum(name in t.collections for t in tokens),
                 "groups": sorted(g for g, granted in groups.items() if name in granted)} for name in names]

    def restrict(self, name: str, restricted: bool = True) -> None:
        self.access.restrict(name, restricted)

    def move(self, article_ids: Sequence[str], collection: str) -> IngestReport:
        """Put indexed articles in `collection` alone: rows only, nothing re-embedded."""
        return self.indexer().move(article_ids, [collection_name(collection)])

    def create_token(self, collections: Sequence[str], expires: str | None = None) -> tuple[Token, str]:
        """A read token for `collections` (shown once), valid until `expires` (30d, 12h, 2027-01-31)."""
        return self.access.create_token(list(collections), expiry(expires, time.time()))

    def tokens(self) -> list[Token]:
        return self.access.tokens()

    def revoke_token(self, token_id: int) -> Token:
        return self.access.revoke(token_id)

    @functools.cached_property
    def votes(self) -> FeedbackStore:
        """Readers' votes, and the key that signs the answers they vote on."""
        return FeedbackStore(self.index.root, int(self.settings.feedback_max_mb * MB))

    def feedback(self, answer_id: str, vote: Literal["up", "down"], question: str, answer: str,
                 citations: list[dict], comment: str = "") -> Feedback:
        """Record a reader's vote on an answer this server gave, with the index version live now."""
        version = self.index.version() if self.index.exists() else None
        return self.votes.add(answer_id, vote, question, answer, citations, comment, version)

    def feedback_entries(self) -> list[Feedback]:
        return self.votes.entries()

    def _issued(self, answer: Answer) -> Answer:
        """The answer with the id a vote on it must carry."""
        cited = [c.to_dict() for c in answer.citations]
        return replace(answer, answer_id=self.votes.sign(answer.question, answer.answer, cited))

    def retriever(self) -> Retriever:
        """The retriever for the live version, reloaded when an ingest has swapped it."""
        return self._live()[0]

    def _live(self) -> tuple[Retriever, ExtractiveAnswerer]:
        """The live store's retriever and answerer, as one pair.

        A rebuild swaps in a new store directory, and the pair is built again for it; ordinary
        ingests commit into the same store, which the retriever follows by itself (see
        Retriever.snapshot, which pins one commit for a whole answer).
        """
        live = self.index.current()
        with self._lock:
            loaded = self._loaded
        if loaded is not None and loaded[0] == live.name:
            return loaded[1]
        with self.index.catalog() as catalog:
            catalog.manifest().check(self.embedder.name, self.settings.chunking(), self.index.root,
                                     self.index.vectors.kind)
        retriever = Retriever(live, self.embedder, self.index.vectors)
        pair = (retriever, ExtractiveAnswerer(retriever, self.reader))
        with self._lock:
            self._loaded = (live.name, pair)
        return pair

    def search(self, query: str, top_k: int | None = None, scope: Scope = EVERYTHING) -> list[Passage]:
        """Passages for a query that `scope` may read, best first."""
        return self.retrieve(query, top_k, scope)[2]

    def retrieve(self, query: str, top_k: int | None = None,
                 scope: Scope = EVERYTHING) -> tuple[str, np.ndarray, list[Passage]]:
        """The query as searched (see `_retrieve`), its vector and its passages, best first."""
        retriever = self._reader(scope)[0]
        with retriever.snapshot():
            return self._retrieve(retriever, _clean(query), top_k or self.settings.top_k)

    def _reader(self, scope: Scope) -> tuple[Retriever | Scoped, ExtractiveAnswerer]:
        """The live retriever and answerer as `scope` sees them: filtered before ranking, in every
        search and statistic; the plain pair when it reads everything (the default path)."""
        retriever, answerer = self._live()
        if scope.everything:
            return retriever, answerer
        scoped = retriever.scoped(scope)
        return scoped, ExtractiveAnswerer(scoped, self.reader, answerer.calibration)

    def _retrieve(self, retriever: Retriever | Scoped, query: str,
                  top_k: int) -> tuple[str, np.ndarray, list[Passage]]:
        """The query as searched, its vector and its passages.

        A query with a misspelled word is searched again as its passages spell it (see
        `spelling.respelled`); answers keep the question as asked.
        """
        vector = self.embedder.embed([query])[0]
        passages = retriever.search(query, top_k, vector)
        if self.settings.respell and (fixed := respelled(query, passages, retriever.document_frequency)) != query:
            query, vector = fixed, self.embedder.embed([fixed])[0]
            passages = retriever.search(query, top_k, vector)
        return query, vector, passages

    # --- people and organisations (the entity index) ----------------------------------------------

    def entities(self, query: str, scope: Scope = EVERYTHING) -> list[EntityRef]:
        """People and organisations whose name holds `query`, most mentioned first, as `scope` reads them."""
        query = _clean(query)
        with self.index.catalog() as catalog, catalog.snapshot():
            return catalog.entities.find(query, catalog.readable_ids(scope), contains=True)

    def entity(self, entity_id: str, scope: Scope = EVERYTHING) -> Profile:
        """One entity's whole profile; NotFound if no article `scope` may read names it."""
        with self.index.catalog() as catalog, catalog.snapshot():
            readable = catalog.readable_ids(scope)
            ref = catalog.entities.entity(entity_id, readable)
            if ref is None:
                raise NotFound(f"no person or organisation with id {entity_id!r} in this index; "
                               "search for the name with `assistant who NAME`")
            return profile.build(ref, catalog.entities, readable)

    def who(self, name: str, scope: Scope = EVERYTHING) -> Answer:
        """`assistant who NAME`: the profile of the one entity of that name, or the question which."""
        name = _clean(name)
        answer = self._profile(f"who is {name}?", scope)
        if answer is None:
            raise NotFound(f"no article describes a person or organisation named {name!r}; "
                           "try the full name, or `assistant ask` a question about them")
        return answer

    def _profile(self, question: str, scope: Scope = EVERYTHING) -> Answer | None:
        """A who-is question about a known entity answered from the entity index (answer/profile.py),
        from the articles `scope` may read; None for every other question, which takes the retrieval path."""
        if profile.asked(question) is None:
            return None
        began = time.perf_counter()
        # Through the live retriever, so a who-is question is refused as every question is when the
        # index cannot serve (other settings, its Milvus collection missing), and reads one commit.
        retriever = self.retriever()
        with retriever.snapshot():
            answer = profile.answer(question, retriever.entities, retriever.readable_ids(scope))
        if answer is None:
            return None
        ms = (time.perf_counter() - began) * 1000
        return self._issued(replace(answer, timing_ms={"retrieve": 0.0, "answer": ms, "total": ms}))

    def ask(self, question: str, history: Sequence[Turn] = (), top_k: int | None = None,
            scope: Scope = EVERYTHING) -> Answer:
        """A cited answer from the offline answerer, or an abstention with related passages, from
        what `scope` may read.

        A who-is question about a person or organisation the index knows is answered with their
        profile across every article `scope` may read (`_profile`), by either answerer.
        """
        if (profiled := self._profile(_clean(question), scope)) is not None:
            return profiled
        if self._grounded:  # the LLM answer is the stream's last item
            *_, answer = self.stream(question, history, top_k, scope)
            assert isinstance(answer, Answer)  # a stream ends with its Answer
            return answer
        question = _clean(question)
        query = condense(question, history)
        retriever, answerer = self._reader(scope)
        return self._issued(_related(self._answer_offline(question, query, top_k, retriever, answerer), query,
                                     retriever))

    def _answer_offline(self, question: str, query: str, top_k: int | None, retriever: Retriever | Scoped,
                        answerer: ExtractiveAnswerer) -> Answer:
        """Retrieve for the (condensed) `query` and answer it extractively, timing both steps.

        A query other than the question (names a follow-up borrowed, a respelled word) is named in
        the answer's note, so the reader sees what was searched.
        """
        began = time.perf_counter()
        with retriever.snapshot():
            searched, vector, passages = self._retrieve(retriever, query, top_k or self.settings.top_k)
            retrieved = time.perf_counter()
            draft = answerer.draft(searched, vector, passages)
        text, citations = cite(draft)
        done = time.perf_counter()
        timing = {
            "retrieve": (retrieved - began) * 1000, "answer": (done - retrieved) * 1000, "total": (done - began) * 1000,
        }
        note = f"Searched for “{searched}”." if searched != question else None
        return Answer(question, text, draft.abstained, citations, tuple(passages), timing, note=note)

    def stream(self, question: str, history: Sequence[Turn] = (), top_k: int | None = None,
               scope: Scope = EVERYTHING) -> Iterator[str | Answer]:
        """The answer as text pieces to show while it is produced, then the final Answer.

        The offline answerer has its answer at once, so it yields it sentence by sentence; an LLM
        backend yields each sentence once it is whole and verified, never the model's raw text.
        The last item is always the Answer.
        """
        profiled = self._profile(_clean(question), scope)
        if self._grounded and profiled is None:
            yield from self._stream_llm(question, history, top_k, scope)
            return
        answer = profiled or self.ask(question, history, top_k, scope)
        for piece in stream_pieces(answer.answer) if not answer.abstained else [answer.answer]:
            yield piece + " "
        yield answer

    def _stream_llm(self, question: str, history: Sequence[Turn], top_k: int | None,
                    scope: Scope) -> Iterator[str | Answer]:
        """The LLM's verified sentences, then its Answer; the offline answer (with a note) if it fails.
        The prompt holds only passages `scope` may read: they come from its filtered search."""
        grounded = self._grounded
        assert grounded is not None, "only called with an LLM"
        began = time.perf_counter()
        query = grounded.condense(_clean(question), history)
        retriever, answerer = self._reader(scope)
        offline = self._answer_offline(query.question, query.search, top_k, retriever, answerer)
        for item in grounded.stream(query, list(offline.passages), retriever, self.embedder, offline):
            if isinstance(item, Answer):
                total = (time.perf_counter() - began) * 1000
                retrieve = offline.timing_ms["retrieve"]
                item = self._issued(_related(replace(item, timing_ms={"retrieve": retrieve, "answer": total - retrieve,
                                                                     "total": total}), query.search, retriever))
            yield item


def _related(answer: Answer, query: str, retriever: Retriever | Scoped) -> Answer:
    """An abstention keeps as related reading only the passages on the question's subject (`on_subject`)."""
    if not answer.abstained:
        return answer
    return replace(answer, passages=tuple(on_subject(query, answer.passages, retriever.idf)))


def _named(collection: str | None) -> str | None:
    return collection_name(collection) if collection else None


def _clean(question: str) -> str:
    question = " ".join(str(question).split())
    if not question:
        raise AssistantError("the question is empty; type a question about the indexed articles")
    if len(question) > MAX_QUESTION_CHARS:
        raise AssistantError(f"the question is {len(question)} characters long; keep it under {MAX_QUESTION_CHARS}")
    return question
