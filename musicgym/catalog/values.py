"""Parsing and checking single values the loaders read: numbers, years, booleans and Spotify track ids.

Each function works on a whole column (a pandas Series of strings) at once.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable

import numpy as np
import pandas as pd

#: a Spotify track id: 22 base-62 characters
SPOTIFY_ID = re.compile(r"[0-9A-Za-z]{22}")
#: release years outside [YEAR_MIN, current year + 1] are not believed (set unknown and reported)
YEAR_MIN = 1900
#: a column of ids counts as Spotify ids when at least this share of them are
SPOTIFY_MAJORITY = 0.9
_DECIMAL = re.compile(r"\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*")
_TRUE = frozenset({"true", "1"})
_FALSE = frozenset({"false", "0"})


class RowFlags:
    """Marks rows bad with the first reason found for each; a reason is built only for the rows it flags.

    Attributes:
        bad: bool per row.
        reasons: the reason per row ("" where none).
    """

    def __init__(self, n: int) -> None:
        self.bad = np.zeros(n, dtype=bool)
        self.reasons = [""] * n

    def __call__(self, mask: np.ndarray, reason: str | Callable[[int], str]) -> None:
        """Flag the rows of `mask` not flagged yet with `reason` (a string, or a function of the row)."""
        new = np.flatnonzero(np.asarray(mask, dtype=bool) & ~self.bad)
        for i in new:
            self.reasons[i] = reason if isinstance(reason, str) else reason(int(i))
        self.bad[new] = True


def year_max() -> int:
    """The latest release year believed: next year (albums are announced ahead of release)."""
    return datetime.date.today().year + 1


def parse_float(text: pd.Series) -> pd.Series:
    """Decimal strings to float64, NaN where unparsable; correctly rounded on every pandas version.

    pandas before 3.1 parses some strings of more than 15 significant digits (e.g. ``%.17g`` output) one
    unit in the last place off, and reads an exponent beyond the float range (``1e999``) as unparsable
    where later versions read infinity; decimal strings of that kind are parsed again with Python's
    correctly rounded `float`, so that every version gives the same numbers.
    """
    text = pd.Series(text, copy=False)
    obj = text.to_numpy(dtype=object)
    num = np.asarray(pd.to_numeric(obj, errors="coerce"), dtype=np.float64)
    again = text.str.contains(r"[eE]|.{16}", regex=True).to_numpy(bool)
    for i in np.flatnonzero(again):
        if _DECIMAL.fullmatch(obj[i]):
            num[i] = float(obj[i])
    return pd.Series(num, index=text.index)


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


def track_id_problems(ids: pd.Series, column: str) -> tuple[pd.Series, np.ndarray]:
    """Normalise Spotify track ids and say what is wrong with each one that cannot be a track id.

    ``spotify:track:<id>`` URIs and ``https://open.spotify.com/track/<id>`` links become ``<id>``.
    A problem is: an empty id; whitespace or control characters inside; a Spotify URI of another kind
    (album, artist...); a track URI whose id is not letters and digits; or, in a column whose ids are
    Spotify ids (at least `SPOTIFY_MAJORITY` of them), an id that is not one (e.g. ``12345`` among
    22-character ids).

    Returns:
        (ids, problems): the normalised ids, and an object array with a reason per row ("" where fine).
    """
    text = ids.astype(str).to_numpy(dtype=object)
    s = ids.astype(str).str.strip()
    plain = s.str.fullmatch(r"[0-9A-Za-z]+").to_numpy(bool)  # most ids: nothing to normalise or explain
    problems = np.full(len(s), "", dtype=object)
    if not plain.all():
        other = s[~plain]
        link = other.str.extract(r"^https?://open\.spotify\.com/(?:intl-[A-Za-z-]+/)?track/([^/?#\s]*)", expand=False)
        other = other.where(link.isna(), "spotify:track:" + link.fillna(""))
        kind = other.str.extract(r"^spotify:([^:]*):", expand=False).fillna("")
        other = other.where(kind != "track", other.str.slice(len("spotify:track:")))
        s = s.copy()
        s[~plain] = other
        for i, k, v, space in zip(np.flatnonzero(~plain), kind, other,
                                  other.str.contains(r"[\s\x00-\x1f\x7f]", regex=True), strict=True):
            if v == "":
                problems[i] = f"empty track id in column '{column}'"
            elif space:
                problems[i] = f"track id in column '{column}' holds whitespace: {text[i]!r}"
            elif k not in ("", "track"):
                problems[i] = f"not a track URI in column '{column}' (a Spotify {k} URI): {text[i]!r}"
            elif k == "track" and not re.fullmatch(r"[0-9A-Za-z]+", v):
                problems[i] = (f"malformed Spotify track URI in column '{column}' (expected letters and digits "
                               f"after spotify:track:): {text[i]!r}")
    bare = s.str.fullmatch(SPOTIFY_ID.pattern).to_numpy(bool)
    filled = (s != "").to_numpy(bool)
    if filled.any() and bare[filled].mean() >= SPOTIFY_MAJORITY:
        for i in np.flatnonzero(~bare & (problems == "")):
            problems[i] = (f"not a Spotify track id in column '{column}' (the column's other ids have 22 letters "
                           f"or digits): {text[i]!r}")
    return s, problems
