"""Where MusicGym finds its shipped assets and keeps its cache."""

from __future__ import annotations

import os
from pathlib import Path

#: The repository's (or installed package's) ``assets/`` folder.
ASSETS = Path(__file__).resolve().parents[1] / "assets"


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
