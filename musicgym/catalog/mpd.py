"""Spotify Million Playlist Dataset (MPD) slices: ``{"info": {...}, "playlists": [...]}``.

A playlist is an object with a ``tracks`` list (and ``name``, ``pid``); a track entry is an object with
``pos`` (a whole number from 0) and ``track_uri`` (``spotify:track:<id>``), and optionally
``track_name``, ``artist_name``, ``album_name`` (strings). Each playlist's tracks are ordered by
``pos`` (entries that share a ``pos`` as listed, in ``report.changed``), repeats kept once (noted).

Every entry is checked: one that is not an object, or lacks a valid ``track_uri`` or ``pos`` (e.g. a
number where the URI should be, a string or null where the position should be) is dropped and
reported with its place (file, playlist pid, entry number). A name that is not a string is read as
text where it is a number or boolean, left empty otherwise, and listed in ``report.changed``. A
playlist left without usable entries is dropped (reported). The file may start with a UTF-8 BOM.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import numpy as np

from musicgym.catalog.join import attach_features, id_only_tracks, report_missing_features
from musicgym.catalog.model import Catalog, CatalogError, Playlists
from musicgym.catalog.report import LoadReport
from musicgym.catalog.textfile import decode
from musicgym.catalog.values import SPOTIFY_ID

TRACK_URI = re.compile(r"spotify:track:[0-9A-Za-z]+")
_PREFIX = "spotify:track:"
_KINDS = {str: "a string", bool: "a boolean", int: "a number", float: "a number", list: "a list", dict: "an object"}


def _describe(value: object) -> str:
    if value is None:
        return "null"
    text = repr(value)
    text = text if len(text) <= 60 else text[:57] + "..."
    return f"{text} ({_KINDS.get(type(value), type(value).__name__)})"


def read_json(path: Path, encoding: str | None = None) -> object:
    """Parse a JSON file (UTF-8 with or without BOM, or `encoding`); any failure is a `CatalogError` naming it."""
    if not path.exists():
        raise FileNotFoundError(f"playlist file not found: {path}")
    text, _ = decode(path, path.read_bytes(), encoding)
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        cut = e.pos >= len(text.rstrip()) or e.msg.startswith("Unterminated string")
        raise CatalogError(
            f"{path}: invalid JSON at line {e.lineno}, column {e.colno}: {e.msg}"
            + (" (the text ends inside it: a truncated file?)" if cut else "")
        ) from None
    except RecursionError:
        raise CatalogError(f"{path}: invalid JSON: nested too deeply to read") from None
    except ValueError as e:  # e.g. an integer of more digits than Python converts
        raise CatalogError(f"{path}: invalid JSON: {e}") from None


def _entry_problem(t: object) -> str | None:
    """Why a track entry cannot be used, or None."""
    if not isinstance(t, dict):
        return f"is {_describe(t)}, not an object"
    uri, pos = t.get("track_uri"), t.get("pos")
    if uri is None:
        return "has no track_uri"
    if not isinstance(uri, str):
        return f"has track_uri {_describe(uri)}, not a Spotify track URI 'spotify:track:<id>'"
    if not TRACK_URI.fullmatch(uri):
        return f"has track_uri {uri[:60]!r}, not a Spotify track URI 'spotify:track:<id>'"
    if "pos" not in t:
        return "has no pos"
    if isinstance(pos, bool) or not isinstance(pos, int) or pos < 0:
        return f"has pos {_describe(pos)}, not a position (a whole number from 0)"
    return None


def _text(t: dict, field: str, where: str, report: LoadReport) -> str:
    v = t.get(field)
    if v is None or isinstance(v, str):
        return v or ""
    out = str(v) if isinstance(v, (int, float)) else ""
    report.change(None, f"{where}: {field} is {_describe(v)}, not a string (read as {out!r})")
    return out


def load_mpd_json(
    paths: list[Path], features: Catalog | None = None, name: str | None = None, encoding: str | None = None
) -> Catalog:
    """Load MPD slices as one `Catalog` of id-only tracks (features joined from `features` if given)."""
    report = LoadReport(source=", ".join(str(p) for p in paths))
    ids: dict[str, int] = {}
    names: list[str] = []
    artists: list[str] = []
    albums: list[str] = []
    pls: list[np.ndarray] = []
    titles: list[str] = []
    repeats = 0
    for path in paths:
        doc = read_json(path, encoding)
        if not isinstance(doc, dict) or not isinstance(doc.get("playlists"), list):
            raise CatalogError(f"{path}: not an MPD slice: expected an object with a 'playlists' list")
        for k, pl in enumerate(doc["playlists"]):
            report.rows_read += 1
            pid = pl.get("pid") if isinstance(pl, dict) else None
            where = (f"{path.name}: playlist pid {pid} (#{k})" if isinstance(pid, int) and not isinstance(pid, bool)
                     else f"{path.name}: playlist #{k}")
            if not isinstance(pl, dict) or not isinstance(pl.get("tracks"), list):
                report.drop(None, f"{where} has no 'tracks' list")
                continue
            entries = []
            for j, t in enumerate(pl["tracks"]):
                problem = _entry_problem(t)
                if problem is not None:
                    report.drop(None, f"{where}, track entry #{j} {problem}")
                else:
                    entries.append((t["pos"], j, t))
            entries.sort(key=lambda e: (e[0], e[1]))
            shared = [p for p, n in Counter(e[0] for e in entries).items() if n > 1]
            if shared:
                report.change(None, f"{where}: {len(shared)} pos value(s) given to more than one track entry "
                                    f"(first {shared[0]}); those entries are ordered as listed")
            rows = []
            for _, j, t in entries:
                tid = t["track_uri"][len(_PREFIX) :]
                if tid not in ids:
                    ids[tid] = len(names)
                    at = f"{where}, track entry #{j}"
                    names.append(_text(t, "track_name", at, report))
                    artists.append(_text(t, "artist_name", at, report))
                    albums.append(_text(t, "album_name", at, report))
                rows.append(ids[tid])
            unique = list(dict.fromkeys(rows))
            repeats += len(rows) - len(unique)
            if not unique:
                report.drop(None, f"{where} has no usable track entries")
                continue
            pls.append(np.array(unique, dtype=np.int64))
            title = pl.get("name")
            if title is not None and not isinstance(title, str):
                report.change(None, f"{where}: name is {_describe(title)}, not a string (title left empty)")
            titles.append(title if isinstance(title, str) else "")
    if not names:
        raise CatalogError(f"{report.source}: no usable tracks in any playlist\n{report.summary()}")
    if repeats:
        report.note(f"{repeats} track entries repeat a track within the same playlist (kept once)")
    odd = sum(1 for tid in ids if not SPOTIFY_ID.fullmatch(tid))
    if odd:
        report.note(f"{odd} track URIs have ids that are not 22 letters or digits as Spotify's are (kept)")
    tracks = id_only_tracks(list(ids), names, artists, albums)
    if features is not None:
        tracks = attach_features(tracks, features, report)
    report_missing_features(tracks, report)
    return Catalog(tracks, Playlists(pls, titles, ordered=False), name=name or paths[0].name, report=report)
