from __future__ import annotations

import numpy as np
import pytest

from musicgym.index import CandidateIndex, recall_at_k


def brute(vectors, q, k, metric):
    if metric == "l2":
        s = ((vectors[None] - q[:, None]) ** 2).sum(-1)
        return np.argsort(s, axis=1, kind="stable")[:, :k], np.sort(s, axis=1)[:, :k]
    s = q @ vectors.T
    return np.argsort(-s, axis=1, kind="stable")[:, :k], -np.sort(-s, axis=1)[:, :k]


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    return rng.random((500, 6)).astype(np.float32), rng.random((20, 6)).astype(np.float32)


@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_flat_is_exact(data, metric):
    x, q = data
    idx = CandidateIndex(x, metric=metric, kind="flat")
    ids, scores = idx.search(q, 7)
    want_ids, want_scores = brute(x, q, 7, metric)
    assert np.array_equal(ids, want_ids)
    assert np.allclose(scores, want_scores, atol=1e-4)
    assert idx.higher_is_better == (metric != "l2")


def test_cosine_normalises(data):
    x, q = data
    idx = CandidateIndex(x, metric="cosine", kind="flat")
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    qn = q / np.linalg.norm(q, axis=1, keepdims=True)
    ids, scores = idx.search(q * 3.0, 5)
    want_ids, want_scores = brute(xn, qn, 5, "ip")
    assert np.array_equal(ids, want_ids) and np.allclose(scores, want_scores, atol=1e-5)


@pytest.mark.parametrize("kind", ["flat", "hnsw", "dedup"])
def test_per_row_exclusion(data, kind):
    x, q = data
    if kind == "dedup":
        x = np.round(x[:, :2] * 3).astype(np.float32)  # 16 distinct vectors among 500 rows
        q = q[:, :2]
    idx = CandidateIndex(x, metric="l2", kind=kind)
    plain, _ = idx.search(q[:2], 10)
    excl = [plain[0, :5], plain[1, [0, 2, 4]]]
    ids, _ = idx.search(q[:2], 10, exclude=excl)
    for row, ex in enumerate(excl):
        assert not set(ex.tolist()) & set(ids[row].tolist())
        assert len(set(ids[row].tolist())) == 10
    # padded (B, E) form gives the same answer
    pad = np.full((2, 5), -1)
    pad[0, :5] = excl[0]
    pad[1, :3] = excl[1]
    assert np.array_equal(idx.search(q[:2], 10, exclude=pad)[0], ids)


def test_exhausted_catalog_pads_with_minus_one():
    x = np.eye(4, dtype=np.float32)
    idx = CandidateIndex(x, metric="l2", kind="flat")
    ids, scores = idx.search(x[0], 4, exclude=[[0, 1]])
    assert sorted(ids[0, :2].tolist()) == [2, 3] and ids[0, 2:].tolist() == [-1, -1]
    assert np.isnan(scores[0, 2:]).all()


def test_neighbour_table_excludes_self(data):
    x, _ = data
    idx = CandidateIndex(x, metric="l2", kind="flat")
    table = idx.neighbours(4)
    want, _ = brute(x, x, 5, "l2")
    assert table.shape == (500, 4)
    assert not (table == np.arange(500)[:, None]).any()
    assert np.array_equal(table, want[:, 1:])
    assert idx.neighbours(4) is table


def test_dedup_exact_on_attributes(default_catalog):
    idx = CandidateIndex.for_catalog(default_catalog, "attributes")
    assert idx.kind == "dedup"
    exact = CandidateIndex(default_catalog.attributes, metric="ip", kind="flat")
    prefs = np.random.default_rng(1).uniform(-1, 1, (300, 21)).astype(np.float32)
    assert recall_at_k(idx, exact, prefs, 10) == 1.0
    assert recall_at_k(idx, exact, default_catalog.attributes[:300], 10) == 1.0


@pytest.mark.parametrize("space", ["latent", "taste"])
def test_hnsw_recall_on_default_catalog(default_catalog, space):
    shared = CandidateIndex.for_catalog(default_catalog, space)
    hnsw = CandidateIndex(shared.vectors, metric=shared.metric, kind="hnsw")
    q = shared.vectors[np.random.default_rng(0).choice(len(shared), 1_000, replace=False)]
    assert recall_at_k(hnsw, shared, q, 10) >= 0.99


def test_one_shared_instance_per_catalog_and_space(default_catalog):
    a = CandidateIndex.for_catalog(default_catalog, "taste")
    assert CandidateIndex.for_catalog(default_catalog, "taste") is a
    assert CandidateIndex.for_catalog(default_catalog, "latent") is not a


@pytest.mark.parametrize("kind", ["flat", "hnsw"])
def test_save_load_roundtrip(data, tmp_path, kind):
    x, q = data
    idx = CandidateIndex(x, metric="ip", kind=kind)
    idx.save(tmp_path / "i.faiss")
    back = CandidateIndex.load(tmp_path / "i.faiss", vectors=x)
    assert back.kind == kind
    assert np.array_equal(back.search(q, 5)[0], idx.search(q, 5)[0])
    with pytest.raises(ValueError, match="index holds"):
        CandidateIndex.load(tmp_path / "i.faiss", vectors=x[:10])


def test_bad_arguments(data):
    x, q = data
    with pytest.raises(ValueError, match="metric must be one of"):
        CandidateIndex(x, metric="manhattan")
    with pytest.raises(ValueError, match="kind must be one of"):
        CandidateIndex(x, kind="ivf")
    bad = x.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        CandidateIndex(bad)
    idx = CandidateIndex(x)
    with pytest.raises(ValueError, match="k must be >= 1"):
        idx.search(q, 0)
    with pytest.raises(ValueError, match="6 columns"):
        idx.search(q[:, :3], 2)
    with pytest.raises(ValueError, match="exclude has 1 rows but there are 20"):
        idx.search(q, 2, exclude=[[1]])
    with pytest.raises(ValueError, match="space must be one of"):
        CandidateIndex.for_catalog(None, "colour")


def test_neighbour_tables_are_cached_on_disk(tmp_path, monkeypatch, caplog):
    import musicgym

    monkeypatch.setenv("MUSICGYM_CACHE", str(tmp_path))
    monkeypatch.setattr(CandidateIndex, "_shared", {})
    cat = musicgym.load_catalog("synthetic-600")
    table = CandidateIndex.for_catalog(cat, "taste").neighbours(8)
    (path,) = tmp_path.glob("neighbours-*-taste-*-k8.npy")
    assert np.array_equal(np.load(path), table)
    np.save(path, table[:, ::-1].copy())  # a later process reads the file, not a new search
    monkeypatch.setattr(CandidateIndex, "_shared", {})
    assert np.array_equal(CandidateIndex.for_catalog(cat, "taste").neighbours(8), table[:, ::-1])
    path.write_bytes(b"not a table")  # an unreadable file is ignored (with a warning) and rewritten
    monkeypatch.setattr(CandidateIndex, "_shared", {})
    assert np.array_equal(CandidateIndex.for_catalog(cat, "taste").neighbours(8), table)
    assert "ignoring cached neighbour table" in caplog.text and np.array_equal(np.load(path), table)
    assert not list(tmp_path.glob("*.tmp*"))


def _near_ties(n: int = 3_000, d: int = 9, seed: int = 4) -> np.ndarray:
    """Vectors on a coarse grid plus noise at float32 rounding level: many scores a few 1e-8 apart."""
    rng = np.random.default_rng(seed)
    x = np.round(rng.random((n, d)) * 3) / 3 + rng.normal(0, 3e-7, (n, d))
    return x.astype(np.float32)


def _exact_order(vectors, q, k, metric):
    """The reference: float64 scores of the stored float32 vectors, best first, ties by row."""
    v, qq = vectors.astype(np.float64), q.astype(np.float64)
    if metric == "l2":
        key = ((v[None] - qq[:, None]) ** 2).sum(-1)
    else:
        key = -(qq @ v.T)
    return np.stack([np.lexsort((np.arange(len(v)), row))[:k] for row in key])


@pytest.fixture
def blas_threshold():
    """Set FAISS's BLAS threshold for a test (restored afterwards)."""
    import faiss

    before = faiss.cvar.distance_compute_blas_threshold

    def set_(n: int) -> None:
        faiss.cvar.distance_compute_blas_threshold = n

    yield set_
    faiss.cvar.distance_compute_blas_threshold = before


@pytest.mark.parametrize("metric", ["cosine", "l2", "ip"])
def test_results_do_not_depend_on_the_faiss_kernel(blas_threshold, metric):
    """FAISS's BLAS path (batches from 20 queries) and SIMD loop order near-ties differently, and so do
    OpenBLAS's kernels on different CPUs: the index re-ranks exactly, so every path gives the exact order."""
    x = _near_ties()
    q = x[:200] + np.float32(1e-7)
    got = {}
    for path, threshold in (("blas", 20), ("simd", 10**9)):
        blas_threshold(threshold)
        idx = CandidateIndex(x, metric=metric, kind="flat")
        got[path] = (idx.search(q, 16)[0], idx.search(q, 16, exclude=np.arange(200)[:, None])[0], idx.neighbours(16))
    for a, b in zip(got["blas"], got["simd"], strict=True):
        assert np.array_equal(a, b)
    ref = _exact_order(idx.vectors, idx.prepare_queries(q), 16, "l2" if metric == "l2" else "ip")
    assert np.array_equal(got["blas"][0], ref)


@pytest.mark.parametrize("space", ["taste", "latent"])
def test_default_catalog_neighbours_do_not_depend_on_the_faiss_kernel(default_catalog, blas_threshold, space):
    """The neighbour tables of the default catalog (hundreds of near-tied rows in float32) are the same
    through the BLAS path and the SIMD loop: the trajectories of the envs built on them do not depend on
    the CPU (Taste-v0 and Session-v0 did on an AVX-512 machine before the exact re-ranking)."""
    shared = CandidateIndex.for_catalog(default_catalog, space)
    rows = np.arange(0, len(shared), 5)
    tables = []
    for threshold in (20, 10**9):
        blas_threshold(threshold)
        tables.append(shared.search(shared.vectors[rows], 64, exclude=rows[:, None])[0])
    assert np.array_equal(tables[0], tables[1])


@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_dedup_gives_exactly_the_flat_results(metric):
    """Tracks of equal score come in track order whether the index deduplicates vectors or not."""
    rng = np.random.default_rng(5)
    x = np.round(rng.random((3_000, 3)) * 3).astype(np.float32)
    q = rng.random((40, 3)).astype(np.float32)
    dedup, flat = CandidateIndex(x, metric=metric, kind="dedup"), CandidateIndex(x, metric=metric, kind="flat")
    assert np.array_equal(dedup.search(q, 50)[0], flat.search(q, 50)[0])
    assert np.array_equal(dedup.search(x[:40], 300, exclude=np.arange(40)[:, None])[0],
                          flat.search(x[:40], 300, exclude=np.arange(40)[:, None])[0])
    assert np.array_equal(dedup.neighbours(20), flat.neighbours(20))
