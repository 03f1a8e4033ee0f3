from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from musicgym.catalog import ATTRIBUTE_NAMES, Catalog, CatalogError, Playlists
from musicgym.catalog.model import COLUMNS


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
