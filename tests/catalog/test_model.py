from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from musicgym.catalog import ATTRIBUTE_NAMES, Catalog, CatalogError, Playlists
from musicgym.catalog.model import COLUMNS, canonical_floats


def frame(**over):
    base = dict(
        track_id=["a", "b"], name=["A", "B"], artist=["x", "y"], album=["", ""], genre=["rock", "pop"],
        subgenre=["", ""], popularity=[10.0, 90.0], year=[1985.0, 2021.0], danceability=[0.8, 0.2],
        energy=[0.9, 0.1], key=[1.0, 2.0], loudness=[-5.0, -20.0], mode=[1.0, 0.0], speechiness=[0.5, 0.03],
        acousticness=[0.1, 0.9], instrumentalness=[0.0, 0.7], liveness=[0.9, 0.1], valence=[0.7, 0.2],
        tempo=[140.0, 80.0], duration_ms=[2e5, 3e5],
    )
    base.update(over)
    return pd.DataFrame(base)


def test_views_shapes_and_ranges(default_catalog):
    c = default_catalog
    assert c.features_11.shape == (len(c), 11) and c.taste_features.shape == (len(c), 9)
    for v in (c.features_11, c.taste_features):
        assert v.dtype == np.float32 and v.min() == 0.0 and v.max() == 1.0
    assert set(np.unique(c.attributes)) == {0.0, 1.0}


def test_attribute_rules_by_hand():
    c = Catalog(frame())
    a = dict(zip(ATTRIBUTE_NAMES, c.attributes[0], strict=True))
    b = dict(zip(ATTRIBUTE_NAMES, c.attributes[1], strict=True))
    assert a["1980s"] == 1 and b["2020s"] == 1 and a["2020s"] == 0
    assert a["rock"] == 1 and b["pop"] == 1 and a["pop"] == 0
    assert (a["danceable"], a["high_energy"], a["live"], a["speechy"], a["fast"], a["happy"]) == (1, 1, 1, 1, 1, 1)
    assert (b["acoustic"], b["instrumental"], b["sad"]) == (1, 1, 1)
    assert (a["acoustic"], a["sad"], b["happy"], b["fast"]) == (0, 0, 0, 0)


def test_fingerprint_stable_and_sensitive():
    assert Catalog(frame()).fingerprint == Catalog(frame()).fingerprint
    assert Catalog(frame()).fingerprint != Catalog(frame(tempo=[140.0, 81.0])).fingerprint
    assert Catalog(frame()).fingerprint != Catalog(frame(), Playlists([np.array([0, 1])])).fingerprint


def test_bad_catalogs():
    with pytest.raises(CatalogError, match="missing columns"):
        Catalog(frame().drop(columns=["tempo"]))
    with pytest.raises(CatalogError, match="duplicate track ids"):
        Catalog(frame(track_id=["a", "a"]))
    with pytest.raises(CatalogError, match="infinite"):
        Catalog(frame(tempo=[np.inf, 1.0]))
    with pytest.raises(CatalogError, match="outside 0..1"):
        Catalog(frame(), Playlists([np.array([0, 5])]))
    with pytest.raises(CatalogError, match="no tracks"):
        Catalog(pd.DataFrame(columns=list(COLUMNS)))


def test_missing_features_named():
    c = Catalog(frame(energy=[0.9, np.nan]))
    assert c.has_features.tolist() == [True, False]
    with pytest.raises(CatalogError, match="lacks them for 1 of 2"):
        _ = c.taste_features
    assert len(c.with_features_only()) == 1


def test_fingerprint_ignores_last_bit_differences_but_not_real_ones():
    """Another parser, BLAS or libm may change the last bit of a feature; the fingerprint must not move."""
    base = Catalog(frame()).fingerprint
    for direction in (np.inf, -np.inf):
        f = frame()
        for c in ("danceability", "tempo", "loudness", "duration_ms", "year"):
            f[c] = np.nextafter(f[c].to_numpy(np.float64), direction)
        assert Catalog(f).fingerprint == base
    assert Catalog(frame(tempo=[140.0001, 80.0])).fingerprint != base
    assert Catalog(frame(duration_ms=[2e5 + 1, 3e5])).fingerprint != base


def test_canonical_floats_keep_values_of_nine_digits_bit_for_bit():
    rng = np.random.default_rng(0)
    digits = rng.integers(1, 10**9, size=2000)
    exponents = rng.integers(-12, 8, size=2000)
    x = np.array([float(f"{d}e{e}") for d, e in zip(digits, exponents, strict=True)]) * rng.choice([-1, 1], size=2000)
    assert np.array_equal(canonical_floats(x), x)
    assert np.array_equal(canonical_floats(np.nextafter(x, np.inf)), x)
    assert np.array_equal(canonical_floats(np.nextafter(x, -np.inf)), x)
    special = canonical_floats(np.array([-0.0, np.nan, -np.nan, np.inf, 0.1 + 0.2]))
    assert special.tobytes() == np.array([0.0, np.nan, np.nan, np.inf, 0.3]).tobytes()


def test_the_default_catalog_keeps_its_fingerprint(default_catalog):
    # the rounding introduced for the fingerprint must not change the shipped default's (assets hold it)
    assert default_catalog.fingerprint == "ee7cd428f2a0fc46" == default_catalog.stored_fingerprint


def test_require_tracks_and_playlists_name_what_needs_them():
    c = Catalog(frame())
    c.require_tracks(2, "x")
    with pytest.raises(CatalogError, match=r"Preference-v0 with k=20 needs at least 20 tracks, but catalog 'catalog' has 2"):
        c.require_tracks(20, "Preference-v0 with k=20")
    with pytest.raises(CatalogError, match=r"Playlist-v0 needs at least 1 playlists or sessions, but catalog 'catalog' has 0"):
        c.require_playlists(1, "Playlist-v0")
    Catalog(frame(), Playlists([np.array([0, 1])])).require_playlists(1, "Playlist-v0")
    one = Catalog(frame().iloc[:1])
    with pytest.raises(CatalogError, match="has 1; load a larger catalog"):
        one.require_tracks(2, "Taste-v0")
    assert one.features_11.shape == (1, 11) and not one.features_11.any()


def test_the_default_catalog_is_read_back_bit_for_bit(default_catalog):
    """Its 17-digit numbers are parsed correctly rounded (pandas before 3.1 was one unit off for 46,503 of them)."""
    import csv
    import gzip

    from musicgym.catalog.default import DEFAULT_DIR
    from musicgym.catalog.model import AUDIO_FEATURES

    with gzip.open(DEFAULT_DIR / "tracks.csv.gz", "rt", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    want = np.array([[float(r[c]) for c in AUDIO_FEATURES] for r in rows])
    assert np.array_equal(default_catalog.tracks.loc[:, list(AUDIO_FEATURES)].to_numpy(np.float64), want)
