"""Where MusicGym finds its shipped assets and keeps its cache."""

from __future__ import annotations

import os
from pathlib import Path

#: The shipped ``assets/`` folder: ``musicgym/assets`` in an installed wheel, the repository's
#: top-level ``assets/`` in a checkout (and an editable install).
ASSETS = next(
    (p for p in (Path(__file__).resolve().parent / "assets", Path(__file__).resolve().parents[1] / "assets")
     if p.is_dir()),
    Path(__file__).resolve().parents[1] / "assets",
)


def cache_dir() -> Path:
    """The user cache directory: ``$MUSICGYM_CACHE``, else ``$XDG_CACHE_HOME/musicgym``, else ``~/.cache/musicgym``."""
    env = os.environ.get("MUSICGYM_CACHE")
    if env:
        path = Path(env).expanduser()
    else:
        base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        path = Path(base) / "musicgym"
    path.mkdir(parents=True, exist_ok=True)
    return path
