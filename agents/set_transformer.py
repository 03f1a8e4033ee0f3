"""The title-conditioned set transformer of the Brown "Algo-Rhythms" playlist-continuation project.

Architecture (defaults as in the project: 64-d, 4 heads, 3 SABs, dropout 0.1):

* **Song encoder**: an MLP over the track's 11 audio features (`Catalog.features_11`, plus a flag for
  tracks without features) added to a learned id embedding for the `vocab_size` (30,000) most frequent
  tracks of the training playlists; rarer tracks share one out-of-vocabulary embedding.
* **Title encoder**: the project used the Universal Sentence Encoder, which needs a download. Here it
  is scikit-learn's `HashingVectorizer` (character 2-4-grams within words, 4,096 buckets, L2
  normalised; no vocabulary to fit, nothing to download) followed by a learned linear projection to 64-d.
* **Set transformer** (Lee et al. 2019): 3 Set Attention Blocks over the playlist's songs, then
  Pooling by Multihead Attention with one seed vector. A learned start element is always in the set,
  so an empty playlist is a valid input. The playlist vector is the pooled vector plus the title vector.
* **Output layer**: logits over the vocabulary. The output weight of a track is its own learned
  vector (shared out-of-vocabulary vector for rare tracks) plus a linear map of its audio features, so
  tracks outside the vocabulary still get distinct scores.

Training is a denoising autoencoder: each epoch hides a random 10-50% of every playlist (at least one
track, leaving at least one) and asks the model to score the whole playlist above sampled negatives,
with the project's hybrid WARP loss: for each positive, 50 uniformly sampled catalog tracks (tracks of
the same playlist excluded); the hinge ``max(0, margin - s_pos + s_neg)`` of the violating negatives
is averaged and weighted by ``L(r) = H_r`` (the r-th harmonic number) of the estimated rank
``r = floor(violations * (N - 1) / 50)`` (Weston et al. 2011); positives the model saw in its input
weigh 0.5 (reconstruction), hidden ones 1.0 (recommendation). Adam 3e-4; batches of up to 32
playlists of similar length (bucketed by length, batch order shuffled). `val_frac` of the playlists
is held out and training stops when their NDCG@10 has not improved for `patience` epochs (best
weights kept), after `max_epochs`, or after `max_seconds`.

Inference: ``rank`` (top-k, as every reference policy) and ``sample`` (autoregressive top-p /
nucleus sampling, one track at a time, as the project's ``predict.py``).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from musicgym.agents.early_stopping import EARLY_STOPPING_SPECS, train_with_early_stopping
from musicgym.agents.hyperparams import Int, Real, Spec
from musicgym.agents.reference import RankingPolicy, _pad
from sklearn.feature_extraction.text import HashingVectorizer
from torch import nn

from musicgym.catalog import Playlists
from musicgym.catalog.model import FEATURES_11

TITLE_BUCKETS = 4096
_TITLES = HashingVectorizer(analyzer="char_wb", ngram_range=(2, 4), n_features=TITLE_BUCKETS,
                            alternate_sign=False, norm="l2", lowercase=True)
EULER_GAMMA = 0.5772156649015329


def encode_titles(titles: list[str]) -> torch.Tensor:
    """(B, 4096) hashed character n-grams of the titles (all zeros for an empty title)."""
    return torch.from_numpy(_TITLES.transform([t or "" for t in titles]).toarray().astype(np.float32))


class MAB(nn.Module):
    """Multihead attention block: H = LN(Q + MHA(Q, K, K)); out = LN(H + rFF(H))."""

    def __init__(self, dim: int, heads: int, dropout: float):
        super().__init__()
        self.att = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.ff = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Dropout(dropout), nn.Linear(dim, dim))
        self.ln1, self.ln2 = nn.LayerNorm(dim), nn.LayerNorm(dim)

    def forward(self, q: torch.Tensor, k: torch.Tensor, pad: torch.Tensor) -> torch.Tensor:
        h = self.ln1(q + self.att(q, k, k, key_padding_mask=pad, need_weights=False)[0])
        return self.ln2(h + self.ff(h))


class SetTransformerNet(nn.Module):
    """Song encoder, title encoder, 3 SABs + PMA, factorised output layer (see module docstring)."""

    def __init__(self, features: np.ndarray, vocab_of: np.ndarray, vocab_size: int, dim: int, heads: int,
                 n_sab: int, dropout: float):
        super().__init__()
        self.register_buffer("features", torch.from_numpy(features), persistent=False)
        self.register_buffer("vocab_of", torch.from_numpy(vocab_of), persistent=False)
        f = features.shape[1]
        self.song_mlp = nn.Sequential(nn.Linear(f, dim), nn.ReLU(), nn.Linear(dim, dim))
        self.song_id = nn.Embedding(vocab_size + 1, dim)
        self.title = nn.Linear(TITLE_BUCKETS, dim)
        self.start = nn.Parameter(torch.randn(1, 1, dim) * 0.1)
        self.sabs = nn.ModuleList(MAB(dim, heads, dropout) for _ in range(n_sab))
        self.seed = nn.Parameter(torch.randn(1, 1, dim) * 0.1)
        self.pma_ff = nn.Sequential(nn.Linear(dim, dim), nn.ReLU())
        self.pma = MAB(dim, heads, dropout)
        self.out_id = nn.Embedding(vocab_size + 1, dim)
        self.out_feat = nn.Linear(f, dim)
        self.out_bias = nn.Embedding(vocab_size + 1, 1)
        nn.init.normal_(self.song_id.weight, std=0.05)
        nn.init.normal_(self.out_id.weight, std=0.05)
        nn.init.zeros_(self.out_bias.weight)

    def playlist(self, tracks: torch.Tensor, titles: torch.Tensor) -> torch.Tensor:
        """(B, L) catalog rows (-1 pads) and (B, 4096) hashed titles -> (B, dim) playlist vectors."""
        valid = tracks >= 0
        t = tracks.clamp(min=0)
        x = self.song_mlp(self.features[t]) + self.song_id(self.vocab_of[t])
        x = torch.cat([self.start.expand(len(x), 1, -1), x], dim=1)
        pad = torch.cat([torch.zeros(len(x), 1, dtype=torch.bool, device=tracks.device), ~valid], dim=1)
        for sab in self.sabs:
            x = sab(x, x, pad)
        pooled = self.pma(self.seed.expand(len(x), 1, -1), self.pma_ff(x), pad)[:, 0]
        return pooled + self.title(titles)

    def output_weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, dim) output vectors and (N,) biases of every catalog track."""
        v = self.vocab_of
        return self.out_id(v) + self.out_feat(self.features), self.out_bias(v)[:, 0]

    def forward(self, tracks: torch.Tensor, titles: torch.Tensor) -> torch.Tensor:
        """(B, N) logits over the catalog."""
        w, b = self.output_weights()
        return self.playlist(tracks, titles) @ w.T + b


def warp_loss(logits: torch.Tensor, pos: torch.Tensor, weight: torch.Tensor, negatives: torch.Tensor,
              in_playlist: torch.Tensor, margin: float) -> torch.Tensor:
    """The hybrid WARP loss (module docstring).

    Args:
        logits: (B, N) scores of every track.
        pos: (B, P) positive tracks (-1 pads).
        weight: (B, P) per-positive weights (0.5 seen, 1.0 hidden, 0 pads).
        negatives: (B, P, M) sampled tracks.
        in_playlist: (B, N) True for the playlist's own tracks (never counted as negatives).
        margin: hinge margin.
    """
    n = logits.shape[1]
    s_pos = logits.gather(1, pos.clamp(min=0))
    s_neg = logits.gather(1, negatives.flatten(1)).view_as(negatives)
    is_neg = ~in_playlist.gather(1, negatives.flatten(1)).view_as(negatives)
    hinge = torch.relu(margin - s_pos[..., None] + s_neg) * is_neg
    viol = (hinge > 0).float()
    n_viol = viol.sum(-1)
    rank = torch.floor(n_viol * (n - 1) / negatives.shape[-1])
    harmonic = torch.where(rank > 0, torch.digamma(rank + 1) + EULER_GAMMA, torch.zeros_like(rank))
    per_pos = harmonic * hinge.sum(-1) / n_viol.clamp(min=1)
    return (per_pos * weight).sum() / weight.sum().clamp(min=1e-9)


class SetTransformerPolicy(RankingPolicy):
    """Title-conditioned set transformer reference policy (see module docstring)."""

    name = "set_transformer"
    HYPERPARAMS: ClassVar[dict[str, Any]] = {
        **RankingPolicy.HYPERPARAMS,
        "dim": 64,
        "heads": 4,
        "n_sab": 3,
        "dropout": 0.1,
        "vocab_size": 30_000,
        "lr": 3e-4,
        "batch_size": 32,
        "negatives": 50,
        "margin": 1.0,
        "seen_weight": 0.5,
        "hidden_weight": 1.0,
        "hide_min": 0.1,
        "hide_max": 0.5,
        "max_len": 100,
        "max_epochs": 100,
        "patience": 5,
        "val_frac": 0.1,
        "max_seconds": 100.0,
        "torch_threads": 1,
    }
    HYPERPARAM_SPECS: ClassVar[dict[str, Spec]] = {
        "dim": Int(1),
        "heads": Int(1),
        "n_sab": Int(1),
        "dropout": Real(0, 1, high_open=True),
        "vocab_size": Int(1),
        "lr": Real(0, low_open=True),
        "batch_size": Int(1),
        "negatives": Int(1),
        "margin": Real(0),
        "seen_weight": Real(0),
        "hidden_weight": Real(0),
        "hide_min": Real(0, 1, low_open=True, high_open=True),
        "hide_max": Real(0, 1, low_open=True, high_open=True),
        "max_len": Int(1),
        **EARLY_STOPPING_SPECS,
    }

    def __init__(self, env: Any, seed: int = 0, env_kwargs: dict[str, Any] | None = None, **hyperparams: Any):
        super().__init__(env, seed, env_kwargs, **hyperparams)
        hp = self.hp
        if hp["dim"] % hp["heads"]:
            raise ValueError(f"agent 'set_transformer': dim ({hp['dim']}) must be divisible by heads ({hp['heads']})")
        if not hp["hide_min"] <= hp["hide_max"]:
            raise ValueError(
                f"agent 'set_transformer': need 0 < hide_min <= hide_max < 1, got {hp['hide_min']}, {hp['hide_max']}"
            )

    def _features(self) -> np.ndarray:
        """(N, 12): the 11 features min-max scaled over the tracks that have them (0.5 where missing) + a flag."""
        x = self.catalog.tracks.loc[:, list(FEATURES_11)].to_numpy(np.float64)
        known = np.isfinite(x).all(axis=1)
        if known.any():
            lo, hi = x[known].min(axis=0), x[known].max(axis=0)
            x = (x - lo) / np.where(hi > lo, hi - lo, 1.0)
        x = np.where(known[:, None] & np.isfinite(x), x, 0.5)
        return np.hstack([x, known[:, None]]).astype(np.float32)

    def _build_net(self, vocab_of: np.ndarray) -> SetTransformerNet:
        hp = self.hp
        return SetTransformerNet(self._features(), vocab_of, int(vocab_of.max()), int(hp["dim"]), int(hp["heads"]),
                                 int(hp["n_sab"]), float(hp["dropout"])).to(self.device)

    def _fit(self, playlists: Playlists) -> None:
        from musicgym.offline import holdout

        hp = self.hp
        torch.set_num_threads(int(hp["torch_threads"]))
        torch.manual_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        rest, val_q, val_t, val_titles = holdout(playlists, float(hp["val_frac"]), rng)
        counts = np.bincount(np.concatenate([np.unique(p) for p in rest.tracks if len(p)] or [np.zeros(0, int)]),
                             minlength=self.n)
        top = np.argsort(-counts, kind="stable")[: int(hp["vocab_size"])]
        top = top[counts[top] > 0]
        vocab_of = np.zeros(self.n, dtype=np.int64)
        vocab_of[top] = np.arange(1, len(top) + 1)
        self.vocab_of = vocab_of
        self.net = self._build_net(vocab_of)
        train = [(p, t) for p, t in zip(rest.tracks, rest.titles, strict=True) if len(p) >= 2]
        if not train:
            raise ValueError("agent 'set_transformer' needs playlists of 2 or more tracks to fit on")
        titles = encode_titles([t for _, t in train]).to(self.device)
        opt = torch.optim.Adam(self.net.parameters(), lr=float(hp["lr"]))

        def run_epoch() -> float:
            total = 0.0
            for batch in self._buckets([len(p) for p, _ in train], rng):
                loss = self._batch_loss([train[i][0] for i in batch], titles[batch], rng)
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(batch)
            return total / len(train)

        self.history = train_with_early_stopping(self, self.net, run_epoch, val_q, val_t, val_titles)

    def _buckets(self, lengths: list[int], rng: np.random.Generator) -> list[np.ndarray]:
        """Batches of up to `batch_size` playlists of similar length, in a shuffled order."""
        order = np.lexsort((rng.random(len(lengths)), np.minimum(lengths, int(self.hp["max_len"]))))
        bs = int(self.hp["batch_size"])
        batches = [order[i : i + bs] for i in range(0, len(order), bs)]
        return [batches[i] for i in rng.permutation(len(batches))]

    def _batch_loss(self, tracks: list[np.ndarray], titles: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        hp = self.hp
        max_len = int(hp["max_len"])
        seen, pos, weight = [], [], []
        for p in tracks:
            p = np.unique(p)
            if len(p) > max_len:
                p = rng.choice(p, max_len, replace=False)
            share = rng.uniform(float(hp["hide_min"]), float(hp["hide_max"]))
            n_hide = min(len(p) - 1, max(1, int(round(share * len(p)))))
            hide = np.zeros(len(p), dtype=bool)
            hide[rng.choice(len(p), n_hide, replace=False)] = True
            seen.append(p[~hide])
            pos.append(p)
            weight.append(np.where(hide, float(hp["hidden_weight"]), float(hp["seen_weight"])))
        dev = self.device
        x = torch.as_tensor(_pad(seen), device=dev)
        pos_np = _pad(pos)
        w_np = np.zeros(pos_np.shape, dtype=np.float32)
        for i, wi in enumerate(weight):
            w_np[i, : len(wi)] = wi
        pos_t, w = torch.as_tensor(pos_np, device=dev), torch.as_tensor(w_np, device=dev)
        in_pl = torch.zeros(len(tracks), self.n, dtype=torch.bool, device=dev)
        rows, cols = torch.nonzero(pos_t >= 0, as_tuple=True)
        in_pl[rows, pos_t[rows, cols]] = True
        neg = torch.as_tensor(rng.integers(0, self.n, size=(*pos_t.shape, int(hp["negatives"]))), device=dev)
        logits = self.net(x, titles)
        return warp_loss(logits, pos_t, w, neg, in_pl, float(hp["margin"]))

    @torch.no_grad()
    def scores(self, histories: np.ndarray, titles: list[str] | None = None) -> np.ndarray:
        """(B, N) logits for (B, H) histories (-1 padded) and their titles (none: empty titles)."""
        was_training = self.net.training
        self.net.eval()
        titles = [""] * len(histories) if titles is None else list(titles)
        w, b = self.net.output_weights()
        out = np.empty((len(histories), self.n), dtype=np.float64)
        for s in range(0, len(histories), 256):
            h = torch.as_tensor(np.asarray(histories[s : s + 256], dtype=np.int64), device=self.device)
            z = self.net.playlist(h, encode_titles(titles[s : s + 256]).to(self.device))
            out[s : s + len(h)] = (z @ w.T + b).double().cpu().numpy()
        self.net.train(was_training)
        return out

    def sample(self, history: np.ndarray, n: int, title: str = "", top_p: float = 0.9, temperature: float = 1.0,
               rng: np.random.Generator | None = None) -> np.ndarray:
        """`n` tracks drawn one at a time by nucleus (top-p) sampling, each appended to the playlist.

        Each draw keeps the smallest set of unplayed tracks whose softmax probability reaches `top_p`
        and samples among them; `rng` (default: one seeded with the agent's seed) makes it repeatable.
        """
        self._check_fitted()
        if not 0 < top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {top_p}")
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        rng = np.random.default_rng(self.seed) if rng is None else rng
        playlist = [int(t) for t in np.asarray(history, dtype=np.int64)]
        self._check_history(np.asarray(playlist, dtype=np.int64))
        out = []
        for _ in range(n):
            s = self.scores(np.asarray([playlist or [-1]]), [title])[0] / temperature
            s[playlist] = -np.inf
            if not np.isfinite(s).any():
                break
            order = np.argsort(-s, kind="stable")
            p = np.exp(s[order] - s[order[0]])
            p /= p.sum()
            keep = int(np.searchsorted(np.cumsum(p), top_p) + 1)
            pick = int(order[rng.choice(keep, p=p[:keep] / p[:keep].sum())])
            playlist.append(pick)
            out.append(pick)
        return np.asarray(out, dtype=np.int64)

    def _state(self) -> Any:
        return {"net": self.net.state_dict(), "vocab_of": self.vocab_of, "history": self.history}

    def _set_state(self, state: Any) -> None:
        self.vocab_of = np.asarray(state["vocab_of"], dtype=np.int64)
        if self.vocab_of.shape != (self.n,):
            raise ValueError(f"vocabulary of {self.vocab_of.shape} tracks, the catalog has {self.n}")
        self.net = self._build_net(self.vocab_of)
        self.net.load_state_dict(state["net"])
        self.net.eval()
        self.history = state["history"]


__all__ = ["SetTransformerPolicy", "encode_titles", "warp_loss"]
