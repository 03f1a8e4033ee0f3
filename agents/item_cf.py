"""Item-based collaborative filtering over a catalog's playlists or listening sessions.

Two tracks are similar when they appear in the same playlists: cosine similarity of their columns
in the (playlists x tracks) binary matrix, computed with sparse matrices (never a dense N x N) and
pruned to each track's `top_k` most similar tracks. A history's score for a track is the sum of the
track's similarities to the history's tracks.
"""

from __future__ import annotations

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
        pls = [p for p in playlists.tracks if len(p)]
        rows = np.repeat(np.arange(len(pls)), [len(p) for p in pls])
        cols = np.concatenate(pls)
        x = sparse.csr_matrix((np.ones(len(cols), np.float32), (rows, cols)), shape=(len(pls), n))
        x.data[:] = 1.0  # a track twice in one session counts once
        norms = np.sqrt(np.asarray(x.sum(axis=0)).ravel())
        xn = x @ sparse.diags(1.0 / np.where(norms > 0, norms, 1.0))
        sim = (xn.T @ xn).tocsr()
        sim.setdiag(0.0)
        sim.eliminate_zeros()
        self.sim = _prune_rows(sim, top_k)
        self.popularity = np.asarray(x.sum(axis=0)).ravel()
        self.n = n

    def scores(self, histories: np.ndarray) -> np.ndarray:
        """(B, N) dense scores of every track for B histories ((B, H) rows, -1 padded)."""
        b = len(histories)
        r, c = np.nonzero(histories >= 0)
        h = sparse.csr_matrix((np.ones(len(r), np.float32), (r, histories[r, c])), shape=(b, self.n))
        return np.asarray((h @ self.sim).todense())

    def top(self, histories: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
        """The `m` best unplayed tracks per history and their scores; popular tracks fill rows with too few."""
        s = self.scores(histories)
        s += 1e-6 * self.popularity / max(self.popularity.max(), 1.0)  # tie-break (and fill) by popularity
        played = histories >= 0
        s[np.nonzero(played)[0], histories[played]] = -np.inf
        m = min(m, self.n)
        part = np.argpartition(-s, m - 1, axis=1)[:, :m]
        order = np.argsort(-np.take_along_axis(s, part, 1), axis=1, kind="stable")
        ids = np.take_along_axis(part, order, 1)
        sc = np.take_along_axis(s, ids, 1)
        ids = np.where(np.isfinite(sc), ids, -1)
        return ids, np.where(np.isfinite(sc), sc, 0.0).astype(np.float32)


def _prune_rows(m: sparse.csr_matrix, k: int) -> sparse.csr_matrix:
    """Keep the k largest entries of each row."""
    indptr, data, indices = m.indptr, m.data, m.indices
    keep = np.zeros(len(data), dtype=bool)
    for i in range(m.shape[0]):
        s, e = indptr[i], indptr[i + 1]
        if e - s <= k:
            keep[s:e] = True
        else:
            top = np.argpartition(-data[s:e], k - 1)[:k]
            keep[s + top] = True
    rows = np.repeat(np.arange(m.shape[0]), np.diff(indptr))
    return sparse.csr_matrix((data[keep], (rows[keep], indices[keep])), shape=m.shape)
