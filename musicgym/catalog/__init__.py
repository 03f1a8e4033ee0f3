"""Catalogs: the data model, loaders for real formats, the embedded default and a synthetic generator.

One public entry, `load_catalog`, takes a preset name, a path (or several), or a `Catalog`.
`load_mssd_log` reads Spotify's Music Streaming Sessions Dataset logs (skips, session ends) for calibration.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path

from musicgym.catalog.attributes import ATTRIBUTE_NAMES
from musicgym.catalog.default import load_default
from musicgym.catalog.model import (
    AUDIO_FEATURES,
    FEATURES_11,
    TASTE_FEATURES,
    Catalog,
    CatalogError,
    Playlists,
)
from musicgym.catalog.mssd import MSSDLog, load_mssd_log
from musicgym.catalog.report import LoadReport
from musicgym.catalog.synthetic import synthetic
from musicgym.catalog.textfile import check_encoding

__all__ = [
    "ATTRIBUTE_NAMES",
    "AUDIO_FEATURES",
    "FEATURES_11",
    "TASTE_FEATURES",
    "Catalog",
    "CatalogError",
    "LoadReport",
    "MSSDLog",
    "Playlists",
    "load_catalog",
    "load_mssd_log",
    "synthetic",
    "PRESETS",
]

#: Preset names accepted by `load_catalog` (plus any ``synthetic-<N>``, ``synthetic-<N>k``, ``-<N>m``).
PRESETS = ("default", "synthetic-20k", "synthetic-100k", "synthetic-1m")
_SYNTH = re.compile(r"^synthetic-(\d+)([km]?)$")
_cache: dict[tuple, Catalog] = {}
_lock = threading.Lock()


def _synthetic_size(name: str) -> int | None:
    m = _SYNTH.match(name.lower())
    if not m:
        return None
    return int(m.group(1)) * {"": 1, "k": 1_000, "m": 1_000_000}[m.group(2)]


def _paths(spec: str | Path | list) -> list[Path]:
    items = spec if isinstance(spec, (list, tuple)) else [spec]
    if not items:
        raise CatalogError("catalog: an empty list of files")
    out: list[Path] = []
    for item in items:
        if not isinstance(item, (str, Path)):
            raise TypeError(f"catalog files must be paths (str or Path), got {item!r} ({type(item).__name__})")
        p = Path(item).expanduser()
        if p.is_dir():
            # README / licence files beside the data are not data.
            files = sorted(
                f
                for f in p.iterdir()
                if f.suffix.lower() in (".csv", ".json", ".tsv", ".txt")
                and not f.stem.upper().startswith(("README", "LICENSE", "LICENCE"))
            )
            if not files:
                raise CatalogError(f"{p}: directory holds no .csv, .json or .tsv files")
            out.extend(files)
        elif not p.exists():
            raise FileNotFoundError(
                f"catalog {str(item)!r}: no such file or directory, and not a preset name "
                f"(presets: {', '.join(PRESETS)}, or synthetic-<N>)"
            )
        else:
            out.append(p)
    return out


def load_catalog(
    spec: str | Path | list | Catalog = "default",
    *,
    features: str | Path | Catalog | None = None,
    errors: str = "report",
    session_gap_minutes: float = 20.0,
    seed: int = 0,
    encoding: str | None = None,
) -> Catalog:
    """Load a catalog by preset name, from files, or pass a `Catalog` through.

    Args:
        spec: ``"default"`` (the embedded 20k-track catalog), ``"synthetic-100k"`` / ``"synthetic-1m"``
            / ``"synthetic-<N>"`` (generated with `seed`), a path to a Spotify feature ``.csv``, an MPD
            ``.json`` slice or a Last.fm-1K ``.tsv`` log, a directory of such files, a list of paths,
            or a `Catalog` (returned as is).
        features: for MPD / Last.fm files, which carry no audio features: a feature CSV (or `Catalog`)
            to join by track id, then by (artist, name).
        errors: ``"report"`` skips unusable rows and lists each in ``catalog.report``; ``"raise"``
            stops at the first one.
        session_gap_minutes: Last.fm logs are split into sessions at gaps longer than this.
        seed: seed for synthetic presets.
        encoding: the text encoding of the files. None (the default) reads UTF-8, with or without a
            byte-order mark, and UTF-16 / UTF-32 files that start with one; name any other encoding
            (e.g. ``"latin-1"``): it is never guessed.

    Returns:
        The catalog. Preset and file catalogs are cached per process, so every env on the same
        catalog shares one object (and so one set of candidate indexes).

    Raises:
        FileNotFoundError: the path does not exist (and is not a preset name).
        CatalogError: malformed file, missing required column, conflicting duplicate ids, empty file,
            bytes that are not text in the file's encoding. Every message names the file.
        TypeError, ValueError: an argument of the wrong type or value (naming the argument).
    """
    if isinstance(spec, Catalog):
        return spec
    if not isinstance(spec, (str, Path, list, tuple)):
        raise TypeError(
            f"catalog must be a preset name, a path, a list of paths or a Catalog, got {type(spec).__name__}"
        )
    if errors not in ("report", "raise"):
        raise ValueError(f"errors must be 'report' or 'raise', got {errors!r}")
    check_encoding(encoding)
    if features is not None and not isinstance(features, (str, Path, Catalog)):
        raise TypeError(f"features must be a feature CSV path or a Catalog, got {features!r} "
                        f"({type(features).__name__})")
    if isinstance(spec, str) and not Path(spec).expanduser().exists():
        name = spec.lower()
        size = _synthetic_size(name)
        if name == "default":
            key: tuple = ("default",)
        elif size is not None:
            key = ("synthetic", size, seed)
        else:
            raise CatalogError(
                f"unknown catalog {spec!r}: not a file and not a preset; presets are {', '.join(PRESETS)} "
                "or synthetic-<N> (e.g. synthetic-5000, synthetic-250k)"
            )
        with _lock:
            if key not in _cache:
                _cache[key] = load_default() if name == "default" else synthetic(size, seed=seed)
            return _cache[key]
    paths = _paths(spec)
    feature_cat = load_catalog(features, errors=errors, encoding=encoding) if features is not None else None
    key = (
        tuple((str(p.resolve()), p.stat().st_mtime_ns, p.stat().st_size) for p in paths),
        feature_cat.fingerprint if feature_cat else None,
        errors,
        session_gap_minutes,
        encoding,
    )
    with _lock:
        if key in _cache:
            return _cache[key]
    items = spec if isinstance(spec, (list, tuple)) else [spec]
    name = Path(items[0]).name if len(items) == 1 else f"{Path(items[0]).name} (+{len(items) - 1} more)"
    cat = _load_files(paths, feature_cat, errors, session_gap_minutes, name, encoding)
    with _lock:
        return _cache.setdefault(key, cat)


def _load_files(
    paths: list[Path], features: Catalog | None, errors: str, gap: float, name: str, encoding: str | None
) -> Catalog:
    from musicgym.catalog.csv_loader import load_feature_csv
    from musicgym.catalog.lastfm import load_lastfm_tsv
    from musicgym.catalog.mpd import load_mpd_json

    kinds = {p.suffix.lower() for p in paths}
    if len(kinds) > 1:
        raise CatalogError(f"mixed file kinds {sorted(kinds)}; load one format at a time (features= joins CSVs)")
    kind = kinds.pop()
    if kind == ".csv":
        if features is not None:
            raise CatalogError("features= is for MPD JSON and Last.fm logs; a feature CSV already has features")
        return load_feature_csv(paths, errors=errors, name=name, encoding=encoding)
    if kind == ".json":
        return load_mpd_json(paths, features=features, name=name, encoding=encoding)
    if kind in (".tsv", ".txt"):
        return load_lastfm_tsv(paths, session_gap_minutes=gap, features=features, errors=errors, name=name,
                               encoding=encoding)
    raise CatalogError(f"unsupported file type {kind!r}: expected .csv (Spotify features), .json (MPD), .tsv (Last.fm)")
