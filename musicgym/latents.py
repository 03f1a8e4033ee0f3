"""Every catalog track's 5-D VAE latent, without importing torch when it can be helped.

`catalog_latents` looks, in order, in memory, at the latents shipped for the embedded default catalog
(``assets/vae_default_latents.npy``, computed by the shipped encoder ``assets/vae_default.pt``), and at
latents cached for the catalog's fingerprint in the user cache (``latents-<fingerprint>-<config>.npy``).
Only a catalog seen for the first time needs the encoder itself (`musicgym.vae`, which needs torch:
``pip install "musicgym[agents]"``): it is loaded or trained, and its latents are cached as ``.npy``.
So ``pip install musicgym`` (no extras) runs every env on the default catalog, and on any catalog whose
latents are in the cache.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from musicgym.catalog import Catalog
from musicgym.paths import ASSETS, cache_dir

log = logging.getLogger(__name__)
SHIPPED_LATENTS = ASSETS / "vae_default_latents.npy"
#: the fingerprint of the catalog the shipped latents belong to (the embedded default)
SHIPPED_FINGERPRINT_FILE = ASSETS / "vae_default_latents.json"
LATENT_DIM = 5

_latents: dict[tuple[str, str], np.ndarray] = {}


def _config_hash(cfg: Any) -> str:
    fields = asdict(cfg) if cfg is not None else {}
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:8]


def _read(path: Path, n: int) -> np.ndarray | None:
    try:
        z = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        log.warning("not using cached latents %s: %s", path, e)
        return None
    if z.shape != (n, LATENT_DIM) or z.dtype != np.float32 or not np.isfinite(z).all():
        log.warning("not using cached latents %s: shape %s, dtype %s", path, z.shape, z.dtype)
        return None
    return z


def _shipped(catalog: Catalog) -> np.ndarray | None:
    if not SHIPPED_LATENTS.is_file() or not SHIPPED_FINGERPRINT_FILE.is_file():
        return None
    if json.loads(SHIPPED_FINGERPRINT_FILE.read_text())["fingerprint"] != catalog.fingerprint:
        return None
    return _read(SHIPPED_LATENTS, len(catalog))


def catalog_latents(catalog: Catalog, cfg: Any = None, cache: Path | None = None) -> np.ndarray:
    """(N, 5) float32 VAE latents of every track in `catalog`, scaled to [0, 1].

    Args:
        catalog: the catalog.
        cfg: a `musicgym.vae.VAEConfig` (None: the default configuration).
        cache: the cache folder (default `musicgym.paths.cache_dir`).

    Raises:
        ImportError: the catalog's latents are neither shipped nor cached and torch, which trains the
            encoder, is not installed (the message says which extra to install).
    """
    default_cfg = cfg is None
    if default_cfg:
        key = (catalog.fingerprint, "default")
    else:
        key = (catalog.fingerprint, _config_hash(cfg))
    if key in _latents:
        return _latents[key]
    z = _shipped(catalog) if default_cfg else None
    cached = (cache or cache_dir()) / f"latents-{catalog.fingerprint}-{key[1]}.npy"
    if z is None and cached.is_file():
        z = _read(cached, len(catalog))
    if z is None:
        try:
            from musicgym import vae
        except ImportError as e:
            raise ImportError(
                f"catalog {catalog.name!r} (fingerprint {catalog.fingerprint}) has no cached VAE latents, and "
                f"training its VAE encoder needs torch ({e}); install it with: pip install \"musicgym[agents]\""
            ) from e
        z = vae.encoder_for(catalog, cfg or vae.VAEConfig(), cache).latents(catalog.features_11)
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            tmp = cached.with_name(cached.name + ".tmp.npy")
            np.save(tmp, z)
            tmp.replace(cached)
        except OSError as e:  # a read-only cache must not stop an env from starting
            log.warning("could not cache VAE latents at %s: %s", cached, e)
    _latents[key] = z
    return z


def write_shipped_latents() -> None:
    """Recompute the embedded default catalog's latents with the shipped encoder (after regenerating it)."""
    from musicgym.catalog import load_catalog
    from musicgym.vae import encoder_for

    cat = load_catalog("default")
    z = encoder_for(cat).latents(cat.features_11)
    np.save(SHIPPED_LATENTS, z)
    SHIPPED_FINGERPRINT_FILE.write_text(json.dumps({"fingerprint": cat.fingerprint}) + "\n")


if __name__ == "__main__":
    write_shipped_latents()
    print(f"wrote {SHIPPED_LATENTS}")
