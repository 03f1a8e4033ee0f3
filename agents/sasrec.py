"""SASRec: Self-Attentive Sequential Recommendation (Kang & McAuley, ICDM 2018), in torch.

A causal transformer reads the last `max_len` tracks of a listening sequence; the hidden state at
position t, dotted with the item embeddings, scores the track that comes next. Defaults follow the
sequential-recommendation project MusicGym reproduces (2 layers, 2 heads, 64-d embeddings) and the
paper (learned positional embeddings, pre-LayerNorm blocks, dropout 0.2, one sampled negative per
positive with binary cross-entropy, batch 128) except the learning rate: Adam 3e-3 (on the default
catalog 1e-3 had learned nothing by the time early stopping ended training; 3e-3 gave the best
validation NDCG@10).

Training holds out `val_frac` of the fitted playlists (by playlist) and stops early when their
next-item NDCG@10 has not improved for `patience` epochs; the best epoch's weights are kept. An
empty history has no sequence to read: it gets the popularity ranking (documented fallback).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from musicgym.agents.early_stopping import EARLY_STOPPING_SPECS, train_with_early_stopping
from musicgym.agents.hyperparams import Int, Real, Spec
from musicgym.agents.reference import RankingPolicy
from torch import nn

from musicgym.catalog import Playlists


class SASRecNet(nn.Module):
    """Item + position embeddings, `n_layers` causal pre-LN transformer blocks, final LayerNorm.

    Item ids are catalog rows + 1; 0 is padding (sequences are left-padded, most recent last).
    """

    def __init__(self, n_items: int, max_len: int, dim: int, heads: int, layers: int, dropout: float):
        super().__init__()
        self.item = nn.Embedding(n_items + 1, dim, padding_idx=0)
        self.pos = nn.Embedding(max_len, dim)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(
            nn.TransformerEncoderLayer(dim, heads, dim_feedforward=dim, dropout=dropout, activation="relu",
                                       batch_first=True, norm_first=True)
            for _ in range(layers)
        )  # fmt: skip
        self.norm = nn.LayerNorm(dim)
        self.heads = heads
        causal = torch.triu(torch.ones(max_len, max_len, dtype=torch.bool), diagonal=1)
        self.register_buffer("causal", causal, persistent=False)
        nn.init.xavier_normal_(self.item.weight[1:])

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        """(B, L) item ids -> (B, L, dim) hidden states (pad positions are zeros)."""
        b, length = seq.shape
        keep = (seq > 0).unsqueeze(-1).float()
        pos = torch.arange(length, device=seq.device)
        x = self.item(seq) * self.item.embedding_dim**0.5 + self.pos(pos)[None]
        x = self.drop(x) * keep
        # causal, and no attending to padding -- except a position to itself, so no row is all-masked
        pad_key = (seq == 0)[:, None, :] & ~torch.eye(length, dtype=torch.bool, device=seq.device)[None]
        blocked = self.causal[:length, :length][None] | pad_key
        mask = blocked.repeat_interleave(self.heads, dim=0)
        for block in self.blocks:
            x = block(x, src_mask=mask) * keep
        return self.norm(x) * keep


def left_pad(seqs: list[np.ndarray], max_len: int) -> np.ndarray:
    """(len(seqs), max_len) int64: the last max_len items of each sequence (ids + 1), left-padded with 0."""
    out = np.zeros((len(seqs), max_len), dtype=np.int64)
    for i, s in enumerate(seqs):
        s = np.asarray(s[-max_len:], dtype=np.int64) + 1
        if len(s):
            out[i, -len(s) :] = s
    return out


class SASRecPolicy(RankingPolicy):
    """SASRec reference policy (see module docstring)."""

    name = "sasrec"
    HYPERPARAMS: ClassVar[dict[str, Any]] = {
        **RankingPolicy.HYPERPARAMS,
        "dim": 64,
        "heads": 2,
        "layers": 2,
        "max_len": 50,
        "dropout": 0.2,
        "lr": 3e-3,
        "batch_size": 128,
        "max_epochs": 200,
        "patience": 10,
        "val_frac": 0.1,
        "max_seconds": 100.0,
        "torch_threads": 1,
    }
    HYPERPARAM_SPECS: ClassVar[dict[str, Spec]] = {
        "dim": Int(1),
        "heads": Int(1),
        "layers": Int(1),
        "max_len": Int(1),
        "dropout": Real(0, 1, high_open=True),
        "lr": Real(0, low_open=True),
        "batch_size": Int(1),
        **EARLY_STOPPING_SPECS,
    }

    def __init__(self, env: Any, seed: int = 0, env_kwargs: dict[str, Any] | None = None, **hyperparams: Any):
        super().__init__(env, seed, env_kwargs, **hyperparams)
        if self.hp["dim"] % self.hp["heads"]:
            raise ValueError(f"agent 'sasrec': dim ({self.hp['dim']}) must be divisible by heads ({self.hp['heads']})")

    def _build_net(self) -> SASRecNet:
        hp = self.hp
        return SASRecNet(self.n, int(hp["max_len"]), int(hp["dim"]), int(hp["heads"]), int(hp["layers"]),
                         float(hp["dropout"])).to(self.device)

    def _fit(self, playlists: Playlists) -> None:
        from musicgym.offline import holdout

        hp = self.hp
        torch.set_num_threads(int(hp["torch_threads"]))
        torch.manual_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        self.popularity = np.bincount(np.concatenate([np.unique(p) for p in playlists.tracks if len(p)]),
                                      minlength=self.n).astype(np.float64)
        self.net = self._build_net()
        rest, val_q, val_t, _ = holdout(playlists, float(hp["val_frac"]), rng)
        train = [p for p in rest.tracks if len(p) >= 2]
        if not train:
            raise ValueError("agent 'sasrec' needs playlists or sessions of 2 or more tracks to fit on")
        max_len, dev = int(hp["max_len"]), self.device
        x = torch.as_tensor(left_pad([s[:-1] for s in train], max_len), device=dev)
        pos = torch.as_tensor(left_pad([s[1:] for s in train], max_len), device=dev)
        opt = torch.optim.Adam(self.net.parameters(), lr=float(hp["lr"]), betas=(0.9, 0.98))
        bce = nn.BCEWithLogitsLoss(reduction="none")
        bs = int(hp["batch_size"])

        def run_epoch() -> float:
            order = torch.as_tensor(rng.permutation(len(train)), device=dev)
            total = 0.0
            for start in range(0, len(train), bs):
                idx = order[start : start + bs]
                xb, pb = x[idx], pos[idx]
                nb = torch.as_tensor(rng.integers(1, self.n + 1, size=tuple(pb.shape)), device=dev)
                h = self.net(xb)
                emb = self.net.item
                lp = (h * emb(pb)).sum(-1)
                ln = (h * emb(nb)).sum(-1)
                m = (pb > 0).float()
                loss = ((bce(lp, torch.ones_like(lp)) + bce(ln, torch.zeros_like(ln))) * m).sum() / m.sum()
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(idx)
            return total / len(train)

        self.history = train_with_early_stopping(self, self.net, run_epoch, val_q, val_t)

    @torch.no_grad()
    def scores(self, histories: np.ndarray, titles: list[str] | None = None) -> np.ndarray:
        """(B, N) next-track scores; rows with an empty history get popularity."""
        was_training = self.net.training
        self.net.eval()
        seqs = [row[row >= 0] for row in histories]
        out = np.empty((len(seqs), self.n), dtype=np.float64)
        for start in range(0, len(seqs), 256):
            chunk = seqs[start : start + 256]
            h = self.net(torch.as_tensor(left_pad(chunk, int(self.hp["max_len"])), device=self.device))[:, -1]
            out[start : start + len(chunk)] = (h @ self.net.item.weight[1:].T).double().cpu().numpy()
        empty = np.array([len(s) == 0 for s in seqs])
        out[empty] = self.popularity
        self.net.train(was_training)
        return out

    def _state(self) -> Any:
        return {"net": self.net.state_dict(), "popularity": self.popularity, "history": self.history}

    def _set_state(self, state: Any) -> None:
        self.net = self._build_net()
        self.net.load_state_dict(state["net"])
        self.net.eval()
        self.popularity = np.asarray(state["popularity"], dtype=np.float64)
        if self.popularity.shape != (self.n,):
            raise ValueError(f"popularity of {self.popularity.shape} tracks, the catalog has {self.n}")
        self.history = state["history"]
