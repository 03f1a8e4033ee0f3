"""Item-based collaborative filtering over a catalog's playlists or listening sessions.

Two tracks are similar when they appear in the same playlists: cosine similarity of their columns
in the (playlists x tracks) binary matrix, computed with sparse matrices (never a dense N x N) and
pruned to each track's `top_k` most similar tracks. A history's score for a track is the sum of the
track's similarities to the history's tracks.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import sparse

from musicgym.catalog import Catalog, Playlists


class ItemCF:
    """Sparse item-item cosine similarity fitted on `catalog.playlists`.

    Args:
        catalog: a catalog with playlists or sessions.
        top_k: neighbours kept per track.
    """

    def __init__(self, catalog: Catalog, top_k: int = 100) -> None:
        if not any(len(p) for p in catalog.playlists.tracks):
            raise ValueError(
                f"item-based CF needs a catalog with playlists or listening sessions; {catalog.name!r} has none"
            )
        self._fit(catalog.playlists, len(catalog), top_k)

    @classmethod
    def from_playlists(cls, playlists: Playlists, n_tracks: int, top_k: int = 100) -> ItemCF:
        """Fit on `playlists` over a catalog of `n_tracks` (e.g. a train split)."""
        self = cls.__new__(cls)
        self._fit(playlists, n_tracks, top_k)
        return self

    def _fit(self, playlists: Playlists, n: int, top_k: int) -> None:
        x = binary_rows([p for p in playlists.tracks if len(p)], n)
        norms = np.sqrt(np.asarray(x.sum(axis=0)).ravel())
        xn = x @ sparse.diags(1.0 / np.where(norms > 0, norms, 1.0))
        sim = (xn.T @ xn).tocsr()
        sim.setdiag(0.0)
        sim.eliminate_zeros()
        self.sim = _prune_rows(sim, top_k)
        self.popularity = np.asarray(x.sum(axis=0)).ravel()
        self.n = n

    def state(self) -> dict[str, Any]:
        """The fitted similarities and popularity as plain arrays (for a data-only agent file)."""
        return {"sim": csr_state(self.sim), "popularity": self.popularity, "n": int(self.n)}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> ItemCF:
        """An ItemCF from `state` (ValueError if its parts do not fit together)."""
        self = cls.__new__(cls)
        self.n = int(state["n"])
        self.sim = csr_from_state(state["sim"])
        self.popularity = np.asarray(state["popularity"])
        if self.sim.shape != (self.n, self.n) or self.popularity.shape != (self.n,):
            raise ValueError(f"item-CF state: similarity {self.sim.shape} and popularity {self.popularity.shape} "
                             f"for {self.n} tracks")
        return self

    def scores(self, histories: np.ndarray) -> np.ndarray:
        """(B, N) dense scores of every track for B histories ((B, H) rows, -1 padded)."""
        b = len(histories)
        r, c = np.nonzero(histories >= 0)
        h = sparse.csr_matrix((np.ones(len(r), np.float32), (r, histories[r, c])), shape=(b, self.n))
        return np.asarray((h @ self.sim).todense())

    def tie_broken_scores(self, histories: np.ndarray) -> np.ndarray:
        """`scores` plus a tiny popularity term: ties (and histories with no evidence) go to popular tracks."""
        return self.scores(histories) + 1e-6 * self.popularity / max(self.popularity.max(), 1.0)

    def top(self, histories: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
        """The `m` best unplayed tracks per history and their scores; popular tracks fill rows with too few."""
        ids, sc = top_unplayed(self.tie_broken_scores(histories), histories, m)
        return ids, np.where(ids >= 0, sc, 0.0).astype(np.float32)


def csr_state(m: sparse.csr_matrix) -> dict[str, Any]:
    """A CSR matrix as its arrays and shape (data only)."""
    m = sparse.csr_matrix(m)
    return {"data": m.data, "indices": m.indices, "indptr": m.indptr, "shape": [int(x) for x in m.shape]}


def csr_from_state(state: dict[str, Any]) -> sparse.csr_matrix:
    """Invert `csr_state` (scipy checks that the arrays fit together: a ValueError if not)."""
    shape = tuple(int(x) for x in state["shape"])
    m = sparse.csr_matrix((np.asarray(state["data"]), np.asarray(state["indices"]), np.asarray(state["indptr"])),
                          shape=shape)
    m.check_format(full_check=True)
    return m


def binary_rows(lists: list[np.ndarray], n: int) -> sparse.csr_matrix:
    """(len(lists), n) 0/1 matrix: row i marks the tracks of ``lists[i]`` (a track listed twice counts once)."""
    rows = np.repeat(np.arange(len(lists)), [len(x) for x in lists])
    cols = np.concatenate(lists) if lists else np.zeros(0, np.int64)
    m = sparse.csr_matrix((np.ones(len(cols), np.float32), (rows, cols)), shape=(len(lists), n))
    m.data[:] = 1.0
    return m


def top_unplayed(scores: np.ndarray, histories: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The `k` best-scored tracks per row that are not in that row of `histories` ((B, H), -1 padded).

    Equal scores rank by track id (`top_rows`), so the result is the same on every machine.

    Returns:
        ``(ids, scores)``, each (B, k), best first; ids -1 (scores -inf) where fewer tracks remain.
    """
    s = np.array(scores, dtype=np.float64)
    played = histories >= 0
    s[np.nonzero(played)[0], histories[played]] = -np.inf
    ids = top_rows(s, min(k, s.shape[1]))
    sc = np.take_along_axis(s, ids, 1)
    return np.where(np.isfinite(sc), ids, -1), sc


def top_rows(s: np.ndarray, k: int) -> np.ndarray:
    """(B, k) column ids of the `k` largest values of each row of `s` (no NaN), best first, equal values by id.

    ``np.argpartition`` alone would do the selection, but which of several equal values at the k-th
    place it keeps is the introselect's choice: it differs between NumPy versions and between CPUs
    (NumPy 2 selects with AVX-512 code where the CPU has it). Popularity counts and co-occurrence
    similarities tie often: the likely reason why the reference policies' rows of the quick board
    differed on a 16-core GPU machine while the envs' own rows matched. Only the k-th value is taken
    from the partition (a value is the same whichever element holds it); the columns are then chosen
    by (value, id).
    """
    b, n = s.shape
    if k <= 0:
        return np.zeros((b, 0), dtype=np.int64)
    kth = -np.partition(-s, k - 1, axis=1)[:, k - 1 : k]
    above = s > kth
    ties = s == kth
    chosen = above | (ties & (np.cumsum(ties, axis=1) <= k - above.sum(axis=1, keepdims=True)))
    cols = np.nonzero(chosen)[1].reshape(b, k)  # each row's chosen columns in id order
    order = np.argsort(-np.take_along_axis(s, cols, 1), axis=1, kind="stable")
    return np.take_along_axis(cols, order, 1)


def _prune_rows(m: sparse.csr_matrix, k: int) -> sparse.csr_matrix:
    """Keep the k largest entries of each row; of equal ones, those of the lowest column ids (`top_rows`)."""
    indptr, data, indices = m.indptr, m.data, m.indices
    keep = np.zeros(len(data), dtype=bool)
    for i in range(m.shape[0]):
        s, e = indptr[i], indptr[i + 1]
        if e - s <= k:
            keep[s:e] = True
        else:
            top = np.lexsort((indices[s:e], -data[s:e]))[:k]  # by similarity, equal ones by track id
            keep[s + top] = True
    rows = np.repeat(np.arange(m.shape[0]), np.diff(indptr))
    return sparse.csr_matrix((data[keep], (rows[keep], indices[keep])), shape=m.shape)
