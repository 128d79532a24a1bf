"""`assistant ingest --ray`: parsing, chunking and embedding as a Ray Data pipeline.

    source_units(PATH...)  ->  parse (a Ray task per file or URL)  ->  split and embed (a pool of
    Ray actors, each loading the model once)  ->  this process: the Indexer's own loop writes what
    arrives, in input order, to the configured store (FAISS segments or Milvus)

Writing stays in one process because the catalog has one writer (the index lock); it is the cheap
part (about 3% of a local ingest: rows, postings and a segment per 1,024 chunks), while the model
forward pass is ~90% and spreads over as many workers as the cluster has CPUs. What the workers
produce is what the local path computes (the same `Indexer.split` and `Indexer.embed`), and the
writer batches it into the same segments, so both paths build the same chunks with the same ids
and embeddings equal within float tolerance (tests/test_ray_ingest.py).

An article already indexed at its content hash is recognised by the parse task (from a sorted
array of 128-bit digests of (id, hash) the writer puts in the object store once: 16 bytes an
article, 160 MB at 10 million) and travels on as a small `Unchanged` marker, never embedded.

Every Ray node needs this package installed (same version) and must be able to read the input
paths (a shared filesystem or object store mount); URLs are fetched by the workers.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
from collections.abc import Iterable, Iterator

import numpy as np

from assistant.config import Settings
from assistant.errors import AssistantError, IndexUnavailable, InputError
from assistant.ingest.fetch import Fetch
from assistant.ingest.indexer import Indexer, Item, Prepared, Unchanged, indexer_for
from assistant.ingest.sources import read_unit, source_units
from assistant.store.directory import IndexDir
from assistant.types import Article

# Articles per embedding call on a worker: 64 squad2 articles are ~75 chunks, enough for full
# batches of 32 after the embedder sorts them by length, and a batch's results come back to the
# writer soon enough that it never waits long (the pipeline keeps a few batches in flight).
ARTICLES_PER_BATCH = 64


def prepare(inputs: Iterable[str], settings: Settings, indexer: Indexer, fetch: Fetch | None = None,
            address: str | None = None, *, rebuild: bool = False, workers: int | None = None) -> Iterator[Item]:
    """Parse, split and embed `inputs` on Ray; yields what `Indexer.ingest` writes, in input order.

    Lazy: nothing runs until the Indexer iterates it, under its lock, so the digests of what is
    indexed are read while no other writer can change them. Starts a local Ray (all this
    machine's CPUs) unless one is running or `address` names a cluster; stops only one it started.
    `workers` = embedding actors (default: one per CPU of the cluster, each with one thread).
    """
    import ray

    if address and not address.startswith("ray://") and address != "auto":
        _check_listening(address)
    started = not ray.is_initialized()  # else this process's Ray (a test's) is used as it is
    if started:
        _start(address)
    try:
        yield from _pipeline(list(inputs), settings, _known(indexer, rebuild), fetch or Fetch(), workers)
    finally:
        if started:
            ray.shutdown()


def _start(address: str | None) -> None:
    import ray

    try:
        if address:
            ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
        else:
            ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False,
                     logging_level=logging.WARNING)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = f"the Ray cluster at {address}" if address else "a local Ray"
        raise AssistantError(f"could not start or reach {where}: {' '.join(str(exc).split())}; check "
                             "--ray-address (HOST:6379, or ray://HOST:10001) and that the cluster runs") from None


def _check_listening(address: str) -> None:
    """Fail in one line, at once, when nothing listens at a HOST:PORT cluster address: Ray itself
    retries for about a minute, logging each try."""
    import socket

    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise AssistantError(f"--ray-address {address!r} is not HOST:PORT (the head node's GCS port, 6379 by "
                             "default) or ray://HOST:PORT")
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as exc:
        raise AssistantError(f"no Ray cluster answers at {address} ({exc.strerror or exc}); start one with "
                             "`ray start --head` there, or fix --ray-address") from None


def _pipeline(inputs: list[str], settings: Settings, known: np.ndarray, fetch: Fetch,
              workers: int | None) -> Iterator[Item]:
    import ray
    import ray.data

    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True  # the writer must see the inputs' order
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    units = [{"item": item, "under": under or ""} for item, under in source_units(inputs)]
    if not units:
        return
    cpus = int(ray.cluster_resources().get("CPU", 1))
    workers = max(1, workers or cpus)
    dataset = (
        ray.data.from_items(units, override_num_blocks=min(len(units), 4 * cpus))
        # num_cpus=0: the embedding actors hold every CPU for their lifetime (a task asking for one
        # would wait for ever); parsing costs ~2% of the embedding, so it shares their cores.
        .flat_map(_parse, fn_kwargs={"fetch": fetch, "known": known}, num_cpus=0)  # type: ignore[arg-type]  # ray's types omit fn_kwargs
        .map_batches(_Prepare, fn_constructor_kwargs={"settings": settings}, batch_size=ARTICLES_PER_BATCH,
                     compute=ray.data.ActorPoolStrategy(size=workers), num_cpus=1)
    )
    for row in dataset.iter_rows():
        yield pickle.loads(row["blob"])


def _known(indexer: Indexer, rebuild: bool) -> np.ndarray:
    """Sorted 128-bit digests of (id, content hash) of every indexed article ([] for a rebuild)."""
    index: IndexDir = indexer.index
    if rebuild or not index.exists():
        return np.array([], dtype="S16")
    try:
        with index.catalog() as catalog:
            rows = catalog.db.execute("SELECT id, content_hash FROM articles").fetchall()
    except IndexUnavailable:  # an index of the previous format: everything is read again
        return np.array([], dtype="S16")
    return np.sort(np.array([_digest(i, h) for i, h in rows], dtype="S16"))


def _digest(article_id: str, content_hash: str) -> bytes:
    return hashlib.sha256(f"{article_id}\0{content_hash}".encode()).digest()[:16]


def _parse(unit: dict, fetch: Fetch, known: np.ndarray) -> list[dict]:
    """One file or URL -> its articles (or errors), each pickled; indexed ones as `Unchanged`."""
    rows = []
    for result in read_unit(unit["item"], unit["under"] or None, fetch=fetch):
        item: Article | InputError | Unchanged = result
        if isinstance(result, Article) and len(known):
            digest = np.array(_digest(result.id, result.content_hash), dtype="S16")
            at = int(np.searchsorted(known, digest))
            if at < len(known) and known[at] == digest:
                item = Unchanged(result.id, result.source)
        rows.append({"blob": pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL)})
    return rows


class _Prepare:
    """A Ray actor: the settings' embedder and chunker, loaded once, split and embed articles."""

    def __init__(self, settings: Settings):
        from assistant.embed.factory import load_embedder

        embedder = load_embedder(settings.model, settings.embed_batch_size, settings.embed_backend, threads=1)
        self.indexer = indexer_for(IndexDir(settings.index), embedder, settings)

    def __call__(self, batch: dict) -> dict:
        items: list = [pickle.loads(blob) for blob in batch["blob"]]
        split = {}
        for i, item in enumerate(items):
            if isinstance(item, Article):
                stored = self.indexer.split(item)
                if not isinstance(stored, InputError):  # else the writer splits it again and reports it
                    split[i] = stored
        if split:
            chunk_vectors, sentence_vectors = self.indexer.embed(list(split.values()))
            chunk_at = sentence_at = 0
            for i, stored in split.items():
                chunks, sentences = len(stored.chunks), len(stored.sentences)
                items[i] = Prepared(stored, chunk_vectors[chunk_at : chunk_at + chunks],
                                    sentence_vectors[sentence_at : sentence_at + sentences])
                chunk_at, sentence_at = chunk_at + chunks, sentence_at + sentences
        blobs = np.empty(len(items), dtype=object)
        blobs[:] = [pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL) for item in items]
        return {"blob": blobs}
