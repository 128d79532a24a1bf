"""VectorIndex: exact below the threshold, IVF-PQ with exact re-rank above; the same answers."""

import numpy as np

from assistant.store.vector_index import VectorIndex


def unit(n: int, d: int = 32, seed: int = 0) -> np.ndarray:
    rows = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_below_the_threshold_search_is_exact():
    rows = unit(200)
    index = VectorIndex.build(rows, threshold=1_000)
    assert not index.approximate and len(index) == 200
    scores, found = index.search(rows[7], 5)
    assert found.shape == (1, 5) and found[0, 0] == 7
    assert np.allclose(scores[0], np.sort(rows @ rows[7])[::-1][:5], atol=2e-3)


def test_above_the_threshold_the_approximate_index_finds_the_same_top_result():
    rows = unit(3_000)
    exact = VectorIndex.build(rows, threshold=10_000)
    approximate = VectorIndex.build(rows, threshold=1_000)
    assert approximate.approximate and not exact.approximate
    queries = rows[:50] + 0.05 * unit(50, seed=1)
    assert (approximate.search(queries, 1)[1] == exact.search(queries, 1)[1]).all()


def test_exclude_skips_positions_on_both_paths():
    rows = unit(3_000)
    for threshold in (10_000, 1_000):
        index = VectorIndex.build(rows, threshold=threshold)
        _, found = index.search(rows[:3], 10, exclude=np.array([0, 1, 2]))
        assert not np.isin(found, [0, 1, 2]).any()


def test_fewer_rows_than_k_are_padded_with_minus_one():
    index = VectorIndex.build(unit(3))
    scores, found = index.search(unit(1, seed=2)[0], 5, exclude=np.array([1]))
    assert sorted(found[0, :2]) == [0, 2] and (found[0, 2:] == -1).all() and np.isinf(scores[0, 2:]).all()


def test_save_and_load_round_trip(tmp_path):
    rows = unit(3_000)
    for threshold, name in ((10_000, "exact"), (1_000, "approximate")):
        index = VectorIndex.build(rows, threshold=threshold)
        (tmp_path / name).mkdir()
        index.save(tmp_path / name)
        loaded = VectorIndex.load(tmp_path / name)
        assert loaded.approximate == index.approximate and len(loaded) == 3_000
        assert (loaded.search(rows[:20], 3)[1] == index.search(rows[:20], 3)[1]).all()
        assert np.abs(loaded.vectors().astype(np.float32) - rows).max() < 1e-3  # float16 on disk


def test_excluding_almost_everything_leaves_only_the_rest():
    rows = unit(3_000)
    keep = np.arange(0, 3_000, 300)  # 10 rows survive
    for threshold in (10_000, 1_000):
        index = VectorIndex.build(rows, threshold=threshold)
        _, found = index.search(rows[:5], 20, exclude=np.setdiff1d(np.arange(3_000), keep), nprobe=10_000)
        assert set(found.ravel()) - {-1} <= set(keep) and (found[:, 10:] == -1).all()
