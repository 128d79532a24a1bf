"""One segment's chunk vectors: exact search below a size threshold, IVF-PQ fast scan above, its
shortlist re-scored exactly from float16 rows.

Measured by `bench/scale.py` on 2 shared vCPUs (docs/BENCHMARKS.md, "Scale: vector and keyword
search"). A flat scan of 384-d vectors took 0.4-1.7 ms at 10,000 and 2.0-3.6 ms at 20,000 (one
thread, depending on what else ran), so up to `EXACT_THRESHOLD` = 10,000 rows search is exact.
Above it: an inverted file of `cells(n)` k-means cells (~2 sqrt(n)) holding 4-bit product codes of
4-d pieces (48 bytes a 384-d vector, scanned with SIMD lookup tables: faiss "PQ96x4fs"), searched in
nlist/4 cells; its best `RERANK` candidates are re-scored exactly from the float16 matrix on disk,
memory-mapped so that only the rows read are paged in. At 100,000 rows this gave recall@10 0.957
in 0.4 ms, where 8-bit scalar quantisation (IVF-SQ8, 384 bytes a vector) needed 1.2 ms for 0.951.
HNSW was not measured: a segment merge rebuilds the index, and IVF's build is a k-means on a
sample plus one assignment pass.

On disk (one directory, written by `save`, made atomic by the caller):
  vectors.npy   float16 (n, d) rows in build order (cosine moves < 1e-3): re-ranking and merges
  ivf.faiss     the IVF-PQ index, only above the threshold; memory-mapped on load
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from assistant.store.format import IVF, VECTORS

EXACT_THRESHOLD = 10_000
RERANK = 256  # re-scored exactly; at 1,000,000 recall@10 0.904 with 64, 0.975 with 256, 0.979 with 512, +0.2 ms
PROBE_SHARE = 1 / 4  # nprobe = nlist / 4: recall@10 0.957 at 100,000 clustered vectors (1/8: 0.93)


def cells(n: int) -> int:
    """IVF cells for n vectors: the power of two nearest 2 sqrt(n) (2048 at 1,000,000), so a cell
    holds ~sqrt(n)/2 vectors and training k-means stays under a minute on 2 cores."""
    return 1 << max(4, round(np.log2(2 * np.sqrt(max(n, 1)))))


class VectorIndex:
    """Inner-product search over unit-norm rows; positions are rows in build order."""

    def __init__(self, vectors: np.ndarray, ivf=None):
        import faiss

        self._vectors = vectors  # float16 memory map (approximate) or float32 in memory (exact)
        self._ivf = ivf
        # The last `exclude` array searched with and its bitmap: a reader's view passes the same
        # array question after question, and building the bitmap of 90,000 hidden rows took longer
        # than the search itself. One tuple, swapped whole, so threads never see half of it.
        self._excluded: tuple[np.ndarray, np.ndarray] | None = None
        if ivf is None:  # faiss's flat scan: one SIMD pass per query, no BLAS threads to wake
            self._flat = faiss.IndexFlatIP(vectors.shape[1])
            self._flat.add(vectors)

    @classmethod
    def build(cls, vectors: np.ndarray, threshold: int = EXACT_THRESHOLD, seed: int = 0) -> VectorIndex:
        """Index `vectors` (n, d) unit-norm float32: exact when n <= threshold, else IVF-PQ."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        n, d = vectors.shape
        if n <= threshold:  # rounded as saved, so a reloaded index answers exactly the same
            return cls(vectors.astype(np.float16).astype(np.float32))
        import faiss

        if d % 4:
            raise ValueError(f"approximate search needs a dimension divisible by 4, not {d}")
        nlist = cells(n)
        # 4-bit product quantisation of 4-d pieces, scanned with SIMD lookup tables ("fast scan")
        ivf = faiss.index_factory(d, f"IVF{nlist},PQ{d // 4}x4fs", faiss.METRIC_INNER_PRODUCT)
        inverted = faiss.extract_index_ivf(ivf)
        inverted.cp.niter = 10  # k-means on 2 cores is the build's cost; recall is set by nprobe
        inverted.cp.seed = seed
        sample = np.random.default_rng(seed).choice(n, min(n, 64 * nlist), replace=False)
        ivf.train(vectors[np.sort(sample)])
        ivf.add(vectors)
        inverted.nprobe = max(1, round(nlist * PROBE_SHARE))
        return cls(vectors.astype(np.float16), ivf)

    @property
    def approximate(self) -> bool:
        return self._ivf is not None

    @property
    def nprobe(self) -> int | None:
        """IVF cells searched per query; None when exact."""
        return None if self._ivf is None else self._ivf.nprobe

    def __len__(self) -> int:
        return len(self._vectors)

    def vectors(self) -> np.ndarray:
        """The stored rows (float16 when approximate), in build order: what a merge concatenates."""
        return self._vectors

    def save(self, directory: Path) -> None:
        """Write this index's files into an existing directory."""
        directory = Path(directory)
        np.save(directory / VECTORS, np.asarray(self._vectors, dtype=np.float16))
        if self._ivf is not None:
            import faiss

            faiss.write_index(self._ivf, str(directory / IVF))

    @staticmethod
    def saved_in(directory: Path) -> bool:
        """Whether `save` wrote an index into `directory` (a Milvus store's segments hold none)."""
        return (Path(directory) / VECTORS).is_file()

    @classmethod
    def load(cls, directory: Path) -> VectorIndex:
        """Open a saved index: the IVF codes and float16 rows are memory-mapped, not read."""
        directory = Path(directory)
        vectors = np.load(directory / VECTORS, mmap_mode="r")
        if not (directory / IVF).exists():
            return cls(np.asarray(vectors, dtype=np.float32))
        import faiss

        return cls(vectors, faiss.read_index(str(directory / IVF), faiss.IO_FLAG_MMAP_IFC))

    def search(
        self, query: np.ndarray, k: int, exclude: np.ndarray | None = None, nprobe: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Best k rows by inner product for each query (d,) or (q, d), skipping `exclude` positions;
        `nprobe` overrides the saved number of IVF cells searched (recall against time).

        Returns (scores, rows), both (q, k), best first; rows are -1 (score -inf) where fewer
        than k remain.
        """
        queries = np.ascontiguousarray(np.atleast_2d(query), dtype=np.float32)
        n = len(self)
        if k <= 0 or n == 0:
            return np.full((len(queries), max(k, 0)), -np.inf, np.float32), np.full((len(queries), max(k, 0)), -1)
        import faiss

        exact = self._ivf is None
        # The bitmap and both selectors are locals on purpose: faiss holds raw pointers to them,
        # so they must outlive the search call (an attribute-assigned temporary would be freed).
        bits = inner = selector = None
        if exclude is not None and len(exclude):
            bits = self._bits(exclude)
            inner = faiss.IDSelectorBitmap(n, faiss.swig_ptr(bits))
            selector = faiss.IDSelectorNot(inner)
        if exact:
            params = faiss.SearchParameters(sel=selector)  # type: ignore[call-arg]  # SWIG stubs lack kwargs
        else:
            params = faiss.SearchParametersIVF(sel=selector, nprobe=nprobe or self._ivf.nprobe)  # type: ignore[call-arg]
        if exact:
            scores, rows = self._flat.search(queries, k, params=params)
            return np.where(rows >= 0, scores, -np.inf).astype(np.float32), rows.astype(np.int64)
        _, candidates = self._ivf.search(queries, max(k, RERANK), params=params)
        return _rerank(self._vectors, queries, candidates, k)


    def _bits(self, exclude: np.ndarray) -> np.ndarray:
        """The bitmap of `exclude`, built once per array (the same object: a view's skipped rows)."""
        cached = self._excluded
        if cached is not None and cached[0] is exclude:
            return cached[1]
        bits = _bitmap(len(self), exclude)
        self._excluded = (exclude, bits)
        return bits


def _bitmap(n: int, positions: np.ndarray) -> np.ndarray:
    """faiss IDSelectorBitmap's layout: bit i & 7 of byte i >> 3; O(len(positions)) per query."""
    bits = np.zeros((n + 7) // 8, np.uint8)
    positions = np.asarray(positions, dtype=np.int64)
    positions = positions[(positions >= 0) & (positions < n)]
    np.bitwise_or.at(bits, positions >> 3, (1 << (positions & 7)).astype(np.uint8))
    return bits


def _rerank(vectors: np.ndarray, queries: np.ndarray, candidates: np.ndarray, k: int):
    """Re-score each query's IVF candidates exactly from the float16 rows; best k first."""
    scores = np.full(candidates.shape, -np.inf, np.float32)
    for i, row in enumerate(candidates):
        found = row[row >= 0]
        if len(found):
            order = np.argsort(found)  # ascending rows read the memory map sequentially
            scores[i, : len(found)][order] = vectors[found[order]].astype(np.float32) @ queries[i]
            candidates[i, : len(found)] = found
            candidates[i, len(found) :] = -1
    return _top_rows(scores, candidates, k)


def _top_rows(scores: np.ndarray, rows: np.ndarray, k: int):
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    picked, rows = np.take_along_axis(scores, order, axis=1), np.take_along_axis(rows, order, axis=1)
    return _pad(picked, np.where(np.isfinite(picked), rows, -1), k)


def _pad(scores: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    missing = k - scores.shape[1]
    if missing > 0:
        scores = np.pad(scores, ((0, 0), (0, missing)), constant_values=-np.inf)
        rows = np.pad(rows, ((0, 0), (0, missing)), constant_values=-1)
    return scores, rows.astype(np.int64)
