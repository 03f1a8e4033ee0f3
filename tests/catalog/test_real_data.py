"""The loaders on the real public data in ../shared/data (skipped where it is absent)."""

from __future__ import annotations

import pytest

from musicgym.catalog import CatalogError, load_catalog
from tests.conftest import shared


def test_tidytuesday_csv():
    cat = load_catalog(shared("tidytuesday_spotify_songs/spotify_songs.csv"))
    assert len(cat) == 28_356
    assert len(cat.playlists) == 471
    assert cat.report.dropped == []
    assert set(cat.tracks["genre"]) == {"edm", "rap", "pop", "r&b", "latin", "rock"}
    assert cat.attributes.shape == (28_356, 21)


def test_hit_predictor_directory():
    cat = load_catalog(shared("spotify_hit_predictor_decades"))
    assert len(cat) == 40_560  # 41,106 rows, 40,560 unique URIs
    assert cat.tracks["year"].min() == 1960 and cat.tracks["year"].max() == 2010


def test_ppo_project_features():
    cat = load_catalog(shared("kaustikr_ppo/filtered_artist_data.csv"))
    assert len(cat) == 1_478
    assert cat.tracks["artist"].nunique() == 23


def test_lastfm_sample_sessions():
    cat = load_catalog(shared("lastfm1k_sample/userid-timestamp-artid-artname-traid-traname.tsv"))
    assert len(cat.playlists) == 375  # as the data's README counts at a 20-minute gap
    assert sum(len(s) for s in cat.playlists.tracks) == 5_000


def test_mpd_slice_and_truncated_copy():
    cat = load_catalog(shared("mpd_slice0_partial/mpd.slice.0-999.first_complete_playlists.json"))
    assert len(cat.playlists) == 37
    assert sum(len(p) for p in cat.playlists.tracks) <= 2_023
    with pytest.raises(CatalogError, match="invalid JSON"):
        load_catalog(shared("mpd_slice0_partial/mpd.slice.0-999.truncated_1MiB.json"))
