"""The embedded default catalog: 20,000 synthetic tracks shipped in ``assets/default_catalog/``.

It is `synthetic(20_000, seed=0)` written to disk once (``python -m musicgym.catalog.default``), so
that loading it needs neither the generator's time nor any file from outside the package. A test
checks that regenerating it gives the same fingerprint.

Numbers are written with 17 significant digits and read back with `values.parse_float`, which rounds
them correctly on every pandas version (the C parser of pandas before 3.1 read 46,503 of the 240,000
feature values one unit in the last place off, and the fingerprint changed with it).
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd

from musicgym.catalog.model import AUDIO_FEATURES, COLUMNS, Catalog, CatalogError, Playlists
from musicgym.catalog.report import LoadReport
from musicgym.catalog.values import parse_float
from musicgym.paths import ASSETS

DEFAULT_SIZE = 20_000
DEFAULT_SEED = 0
DEFAULT_DIR = ASSETS / "default_catalog"


def write_default(directory: Path = DEFAULT_DIR) -> Catalog:
    """Generate the default catalog and write ``tracks.csv.gz`` and ``playlists.json.gz``."""
    from musicgym.catalog.synthetic import synthetic

    cat = synthetic(DEFAULT_SIZE, seed=DEFAULT_SEED)
    directory.mkdir(parents=True, exist_ok=True)
    with gzip.open(directory / "tracks.csv.gz", "wt", encoding="utf-8", compresslevel=9) as fh:
        cat.tracks.to_csv(fh, index=False, float_format="%.17g")
    doc = {
        "titles": cat.playlists.titles,
        "ordered": cat.playlists.ordered,
        "tracks": [p.tolist() for p in cat.playlists.tracks],
        "fingerprint": cat.fingerprint,
    }
    with gzip.open(directory / "playlists.json.gz", "wt", encoding="utf-8", compresslevel=9) as fh:
        json.dump(doc, fh, separators=(",", ":"))
    return cat


def load_default(directory: Path = DEFAULT_DIR) -> Catalog:
    """Load the embedded default catalog (offline, no files from outside the package)."""
    tracks_path, pl_path = directory / "tracks.csv.gz", directory / "playlists.json.gz"
    if not tracks_path.exists() or not pl_path.exists():
        raise CatalogError(
            f"the embedded default catalog is missing from {directory}; reinstall musicgym or run "
            "`python -m musicgym.catalog.default` to regenerate it"
        )
    tracks = pd.read_csv(tracks_path, dtype=str, keep_default_na=False)
    for c in (*AUDIO_FEATURES, "popularity", "year"):
        tracks[c] = parse_float(tracks[c]).to_numpy(np.float64)
    with gzip.open(pl_path, "rt", encoding="utf-8") as fh:
        doc = json.load(fh)
    playlists = Playlists(doc["tracks"], doc["titles"], ordered=doc["ordered"])
    report = LoadReport(source=str(directory), rows_read=len(tracks))
    cat = Catalog(tracks.loc[:, list(COLUMNS)], playlists, name="default", report=report)
    cat.__dict__["stored_fingerprint"] = doc["fingerprint"]
    return cat


if __name__ == "__main__":
    c = write_default()
    print(f"wrote {DEFAULT_DIR}: {c!r}, fingerprint {c.fingerprint}")
