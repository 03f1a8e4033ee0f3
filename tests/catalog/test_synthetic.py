from __future__ import annotations

import numpy as np
import pytest

from musicgym.catalog import CatalogError, synthetic
from musicgym.catalog.default import DEFAULT_SEED, DEFAULT_SIZE
from musicgym.catalog.synthetic import calibration


def test_same_seed_same_catalog_other_seed_differs():
    a, b, c = synthetic(1_000, seed=1), synthetic(1_000, seed=1), synthetic(1_000, seed=2)
    assert a.fingerprint == b.fingerprint
    assert a.fingerprint != c.fingerprint


def test_embedded_default_is_the_generator_output(default_catalog):
    regenerated = synthetic(DEFAULT_SIZE, seed=DEFAULT_SEED)
    assert default_catalog.fingerprint == regenerated.fingerprint == default_catalog.stored_fingerprint


def test_calibrated_marginals(default_catalog):
    """Each subgenre's feature medians match the real medians the generator was calibrated to."""
    cal = calibration()
    t = default_catalog.tracks
    for sub, info in cal["subgenres"].items():
        part = t[t["subgenre"] == sub]
        assert len(part) > 100
        for col in ("danceability", "energy", "valence", "acousticness", "tempo", "popularity"):
            q = info["quantiles"][col]
            iqr = q[24] - q[8]
            assert abs(part[col].median() - q[16]) < 0.25 * iqr + 1e-6, (sub, col)


def test_real_correlation_kept(default_catalog):
    # energy and loudness are strongly correlated in real Spotify data (about 0.68 in tidytuesday)
    t = default_catalog.tracks
    assert np.corrcoef(t["energy"], t["loudness"])[0, 1] > 0.5
    assert np.corrcoef(t["energy"], t["acousticness"])[0, 1] < -0.3


def test_artists_albums_popularity_skew(default_catalog):
    t = default_catalog.tracks
    per_artist = t["artist"].value_counts()
    assert per_artist.max() >= 20 and (per_artist == 1).mean() > 0.4
    assert t.groupby(["artist", "album"])["year"].nunique().max() == 1
    assert (t["popularity"] < 10).mean() > 0.05 and (t["popularity"] > 80).mean() < 0.05


def test_playlists_coherent_with_titles(default_catalog):
    c = default_catalog
    genres = c.tracks["genre"].to_numpy()
    purity = [np.unique(genres[p], return_counts=True)[1].max() / len(p) for p in c.playlists.tracks]
    assert np.mean(purity) > 0.95
    assert all(c.playlists.titles)
    assert 4_000 == len(c.playlists) and all(5 <= len(p) <= 60 for p in c.playlists.tracks)
    assert all(len(set(p.tolist())) == len(p) for p in c.playlists.tracks)


@pytest.mark.parametrize("n", [0, 5, 2.5, -1])
def test_bad_sizes(n):
    with pytest.raises(CatalogError, match="n_tracks"):
        synthetic(n)


@pytest.mark.slow
def test_scales_to_a_million_tracks():
    c = synthetic(1_000_000, seed=0, n_playlists=100)
    assert len(c) == 1_000_000 and c.tracks["track_id"].is_unique
