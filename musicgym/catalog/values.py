"""Parsing and checking single values the loaders read: numbers, years, booleans and Spotify track ids.

Each function works on a whole column (a pandas Series of strings) at once.
"""

from __future__ import annotations

import datetime
import re

import numpy as np
import pandas as pd

#: a Spotify track id: 22 base-62 characters
SPOTIFY_ID = re.compile(r"[0-9A-Za-z]{22}")
#: release years outside [YEAR_MIN, current year + 1] are not believed (set unknown and reported)
YEAR_MIN = 1900
#: a column of ids counts as Spotify ids when at least this share of them are
SPOTIFY_MAJORITY = 0.9
_TRUE = frozenset({"true", "1"})
_FALSE = frozenset({"false", "0"})


def year_max() -> int:
    """The latest release year believed: next year (albums are announced ahead of release)."""
    return datetime.date.today().year + 1


def parse_float(text: pd.Series) -> pd.Series:
    """Decimal strings to float64, NaN where unparsable; correctly rounded on every pandas version.

    pandas before 3.1 parses some strings of more than 15 significant digits (e.g. ``%.17g`` output) one
    unit in the last place off; those strings are parsed again with Python's correctly rounded `float`.
    """
    s = text.astype(object)
    num = pd.to_numeric(s, errors="coerce").astype(np.float64)
    text_s = s.where(num.notna(), "").astype(str)
    long = num.notna() & ((text_s.str.len() > 15) | text_s.str.contains("e", case=False, regex=False))
    if long.any():
        num[long] = [float(v) for v in text_s[long]]
    return num


def parse_year(s: pd.Series) -> pd.Series:
    """Years from ``2019-06-14``, ``2019``, ``1960`` or decade labels like ``60s`` / ``1960s``; NaN otherwise."""
    s = s.astype(str).str.strip()
    four = pd.to_numeric(s.str.extract(r"^(\d{4})", expand=False), errors="coerce").astype(float)
    two = pd.to_numeric(s.str.extract(r"^(\d{2})s$", expand=False), errors="coerce").astype(float)
    two = pd.Series(np.where(two < 30, 2000 + two, 1900 + two), index=s.index)
    return four.fillna(two)


def parse_bool(text: pd.Series) -> pd.Series:
    """``true/false`` (any case) or ``1/0`` to a float 1.0 / 0.0; NaN otherwise."""
    s = text.astype(str).str.strip().str.lower()
    return pd.Series(np.where(s.isin(_TRUE), 1.0, np.where(s.isin(_FALSE), 0.0, np.nan)), index=text.index)


def track_id_problems(ids: pd.Series, column: str) -> tuple[pd.Series, pd.Series]:
    """Normalise Spotify track ids and say what is wrong with each one that cannot be a track id.

    ``spotify:track:<id>`` URIs and ``https://open.spotify.com/track/<id>`` links become ``<id>``.
    A problem is: an empty id; whitespace or control characters inside; a Spotify URI of another kind
    (album, artist...); a track URI whose id is not letters and digits; or, in a column whose ids are
    Spotify ids (at least `SPOTIFY_MAJORITY` of them), an id that is not one (e.g. ``12345`` among
    22-character ids).

    Returns:
        (ids, problems): the normalised ids, and a reason per row ("" where the id is fine).
    """
    s = ids.astype(str).str.strip()
    link = s.str.extract(r"^https?://open\.spotify\.com/(?:intl-[A-Za-z-]+/)?track/([^/?#\s]*)", expand=False)
    s = s.where(link.isna(), "spotify:track:" + link.fillna(""))
    kind = s.str.extract(r"^spotify:([^:]*):", expand=False)
    s = s.where(kind != "track", s.str.slice(len("spotify:track:")))
    bare = s.str.fullmatch(SPOTIFY_ID.pattern)
    base62 = s.str.fullmatch(r"[0-9A-Za-z]+")
    problems = pd.Series("", index=ids.index, dtype=object)

    def flag(mask: pd.Series, reason: pd.Series | str) -> None:
        new = mask.fillna(False).astype(bool) & (problems == "")
        problems[new] = reason if isinstance(reason, str) else reason[new]

    quoted = ids.astype(str).map(repr)
    flag(s == "", f"empty track id in column '{column}'")
    flag(s.str.contains(r"[\s\x00-\x1f\x7f]", regex=True), f"track id in column '{column}' holds whitespace: " + quoted)
    flag(kind.notna() & (kind != "track"), f"not a track URI in column '{column}' (a Spotify " + kind.fillna("")
         + " URI): " + quoted)
    flag((kind == "track") & ~base62, f"malformed Spotify track URI in column '{column}' (expected letters and digits "
         "after spotify:track:): " + quoted)
    looks_spotify = bare[s != ""]
    if len(looks_spotify) and looks_spotify.mean() >= SPOTIFY_MAJORITY:
        flag(~bare, f"not a Spotify track id in column '{column}' (the column's other ids have 22 letters or digits): "
             + quoted)
    return s, problems
