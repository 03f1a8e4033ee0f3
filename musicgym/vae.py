"""The VAE track encoder of the PPO listener project: 11 audio features -> 5-D latent, scaled to [0, 1].

The model: encoder MLP 11 -> 64 -> 64 -> (mu, log-variance) of a 5-D Gaussian, reparameterised sample,
decoder MLP 5 -> 64 -> 64 -> 11 with a sigmoid (features are min-max scaled to [0, 1]). The loss is the
summed squared reconstruction error plus ``beta`` times the KL divergence to N(0, I). A track's latent
is the posterior mean, min-max scaled to [0, 1] over the catalog it was trained on (as the project did).

Weights are cached per catalog fingerprint in the user cache directory (`musicgym.paths.cache_dir`, or
``cache_dir=``), and the default catalog's weights ship in ``assets/vae_default.pt``.

Training for a new catalog takes a minute or more on a CPU, so it says so on stderr: one line naming the
catalog and the expected time (the first epoch's time x the epochs), and a tqdm bar over the epochs
when stderr is a terminal. ``MUSICGYM_QUIET=1`` silences both. Neither touches a random number
generator: the weights are the same with or without them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from musicgym.catalog import Catalog
from musicgym.paths import ASSETS, cache_dir

log = logging.getLogger(__name__)
SHIPPED = ASSETS / "vae_default.pt"


@dataclass(frozen=True)
class VAEConfig:
    """Hyperparameters of the VAE and its training run."""

    input_dim: int = 11
    latent_dim: int = 5
    hidden: int = 64
    beta: float = 0.01
    epochs: int = 40
    batch_size: int = 256
    lr: float = 2e-3
    seed: int = 0
    #: larger catalogs train on a seeded random subsample of this many rows (latents cover all rows)
    max_train_rows: int = 50_000


class VAE(nn.Module):
    """Variational autoencoder over min-max scaled audio features."""

    def __init__(self, cfg: VAEConfig = VAEConfig()) -> None:
        super().__init__()
        self.cfg = cfg
        h = cfg.hidden
        self.encoder = nn.Sequential(nn.Linear(cfg.input_dim, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU())
        self.mu = nn.Linear(h, cfg.latent_dim)
        self.logvar = nn.Linear(h, cfg.latent_dim)
        self.decoder = nn.Sequential(
            nn.Linear(cfg.latent_dim, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU(),
            nn.Linear(h, cfg.input_dim), nn.Sigmoid(),
        )  # fmt: skip
        self.register_buffer("lat_lo", torch.zeros(cfg.latent_dim))
        self.register_buffer("lat_hi", torch.ones(cfg.latent_dim))

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean and log-variance."""
        h = self.encoder(x)
        return self.mu(h), self.logvar(h)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None):
        """Reconstruction, mean, log-variance (one reparameterised sample)."""
        mu, logvar = self.encode(x)
        eps = torch.randn(mu.shape, generator=generator)
        z = mu + eps * torch.exp(0.5 * logvar)
        return self.decoder(z), mu, logvar

    @torch.no_grad()
    def latents(self, x: np.ndarray) -> np.ndarray:
        """(N, latent_dim) float32 posterior means scaled to [0, 1] with the training catalog's range."""
        mu, _ = self.encode(torch.as_tensor(x, dtype=torch.float32))
        span = torch.where(self.lat_hi > self.lat_lo, self.lat_hi - self.lat_lo, torch.ones_like(self.lat_hi))
        return ((mu - self.lat_lo) / span).clamp(0.0, 1.0).numpy().astype(np.float32)

    @torch.no_grad()
    def reconstruct(self, x: np.ndarray) -> np.ndarray:
        """Decode the posterior mean (deterministic reconstruction)."""
        mu, _ = self.encode(torch.as_tensor(x, dtype=torch.float32))
        return self.decoder(mu).numpy()


def _quiet() -> bool:
    """Whether ``MUSICGYM_QUIET=1`` asks training to say nothing."""
    return os.environ.get("MUSICGYM_QUIET") == "1"


def _say(message: str) -> None:
    """One line on stderr (above a progress bar, if one is shown)."""
    try:
        from tqdm import tqdm
    except ImportError:
        print(message, file=sys.stderr, flush=True)
    else:
        tqdm.write(message, file=sys.stderr)


def _epochs(n: int, desc: str) -> Iterable[int]:
    """``range(n)``, shown as a tqdm bar on stderr when it is a terminal and not `_quiet`."""
    try:
        from tqdm import tqdm
    except ImportError:  # tqdm comes with torch in the agents extra; a torch installed alone shows no bar
        return range(n)
    terminal = sys.stderr is not None and sys.stderr.isatty()
    return tqdm(range(n), desc=desc, unit="epoch", file=sys.stderr, leave=False, disable=_quiet() or not terminal)


def train_vae(x: np.ndarray, cfg: VAEConfig = VAEConfig(), name: str | None = None) -> VAE:
    """Train a VAE on `x` (N, 11) in [0, 1]; deterministic for a given `cfg.seed` on CPU.

    Args:
        x: the min-max scaled features.
        cfg: the model and its training run.
        name: what is trained for, e.g. ``"catalog 'songs.csv'"``: once the first epoch is done, one
            line on stderr names it with the expected time (see the module docstring).
    """
    if x.ndim != 2 or x.shape[1] != cfg.input_dim:
        raise ValueError(f"VAE input must be (N, {cfg.input_dim}), got {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("VAE input has NaN or infinite values")
    gen = torch.Generator().manual_seed(cfg.seed)
    torch_state = torch.random.get_rng_state()
    torch.manual_seed(cfg.seed)  # parameter initialisation
    model = VAE(cfg)
    torch.random.set_rng_state(torch_state)
    full = torch.as_tensor(x, dtype=torch.float32)
    data = full
    if len(full) > cfg.max_train_rows:
        data = full[torch.randperm(len(full), generator=gen)[: cfg.max_train_rows]]
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    n = len(data)
    start = time.perf_counter()
    for epoch in _epochs(cfg.epochs, f"VAE of {name}" if name else "VAE"):
        if epoch == 1 and name and not _quiet():
            expected = (time.perf_counter() - start) * cfg.epochs
            _say(f"musicgym: training the VAE encoder of {name} ({len(full):,} tracks, {cfg.epochs} epochs): "
                 f"about {expected:.0f} s")
        perm = torch.randperm(n, generator=gen)
        for i in range(0, n, cfg.batch_size):
            xb = data[perm[i : i + cfg.batch_size]]
            recon, mu, logvar = model(xb, generator=gen)
            rec = ((recon - xb) ** 2).sum(1).mean()
            kl = (-0.5 * (1 + logvar - mu**2 - logvar.exp()).sum(1)).mean()
            loss = rec + cfg.beta * kl
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        mu, _ = model.encode(full)
        model.lat_lo.copy_(mu.min(0).values)
        model.lat_hi.copy_(mu.max(0).values)
    return model


def save_vae(model: VAE, path: Path, fingerprint: str) -> None:
    """Save weights, config and the catalog fingerprint they belong to (atomic rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save({"config": asdict(model.cfg), "state_dict": model.state_dict(), "fingerprint": fingerprint}, tmp)
    tmp.replace(path)


def load_vae(path: Path, fingerprint: str | None = None) -> VAE:
    """Load weights saved by `save_vae`; with `fingerprint`, refuse weights of another catalog."""
    blob = torch.load(path, map_location="cpu", weights_only=True)
    if fingerprint is not None and blob["fingerprint"] != fingerprint:
        raise ValueError(f"{path}: VAE weights are for catalog {blob['fingerprint']}, not {fingerprint}")
    model = VAE(VAEConfig(**blob["config"]))
    model.load_state_dict(blob["state_dict"])
    model.eval()
    return model


_models: dict[tuple[str, VAEConfig], VAE] = {}


def encoder_for(catalog: Catalog, cfg: VAEConfig = VAEConfig(), cache: Path | None = None) -> VAE:
    """The VAE for `catalog`: in memory, else shipped (default catalog), else cached on disk, else trained."""
    key = (catalog.fingerprint, cfg)
    if key in _models:
        return _models[key]
    cfg_hash = hashlib.sha256(json.dumps(asdict(cfg), sort_keys=True).encode()).hexdigest()[:8]
    name = f"vae-{catalog.fingerprint}-{cfg_hash}.pt"
    candidates = [SHIPPED] if cfg == VAEConfig() else []
    cached = (cache or cache_dir()) / name
    candidates.append(cached)
    model = None
    for path in candidates:
        if path.exists():
            try:
                model = load_vae(path, catalog.fingerprint)
                break
            except (ValueError, RuntimeError, KeyError) as e:
                log.debug("not using %s: %s", path, e)
    if model is None:
        catalog.require_features("the VAE encoder")
        model = train_vae(catalog.features_11, cfg, name=f"catalog {catalog.name!r}")
        try:
            save_vae(model, cached, catalog.fingerprint)
        except OSError as e:  # a read-only cache must not stop an env from starting
            log.warning("could not cache VAE weights at %s: %s", cached, e)
    _models[key] = model
    return model


def catalog_latents(catalog: Catalog, cfg: VAEConfig = VAEConfig(), cache: Path | None = None) -> np.ndarray:
    """(N, 5) float32 VAE latents of every track in `catalog` (`musicgym.latents.catalog_latents`, cached)."""
    from musicgym.latents import catalog_latents as cached_latents

    return cached_latents(catalog, None if cfg == VAEConfig() else cfg, cache)
