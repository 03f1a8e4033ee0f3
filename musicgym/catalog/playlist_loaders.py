"""Playlist and listening-log formats in one import place: MPD JSON and Last.fm-1K logs.

The loaders live in `musicgym.catalog.mpd` and `musicgym.catalog.lastfm`; features for their id-only
tracks come from `musicgym.catalog.join`.

Neither format carries audio features. Tracks are kept as ids (features NaN) and the report says how
many lack features; pass ``features=`` (a Spotify feature CSV or a `Catalog`) to join them, by track
id first and then by (artist, track name), case-insensitively.
"""

from __future__ import annotations

from musicgym.catalog.join import attach_features
from musicgym.catalog.lastfm import LASTFM_FIELDS, load_lastfm_tsv
from musicgym.catalog.mpd import load_mpd_json

__all__ = ["LASTFM_FIELDS", "attach_features", "load_lastfm_tsv", "load_mpd_json"]
