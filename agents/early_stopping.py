"""The training loop the neural reference policies share: epochs, validation NDCG@10, early stopping.

After every epoch the policy ranks its held-out validation queries; training stops when their
NDCG@10 has not improved for `patience` epochs, after `max_epochs`, or once `max_seconds` have
passed, and the best epoch's weights are restored (the last epoch's when there is nothing to
validate on).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
from musicgym.agents.hyperparams import Int, Real, Spec
from torch import nn

#: the hyperparameters of this loop (and of the torch threads it trains on), as the policies that use it
#: declare them
EARLY_STOPPING_SPECS: dict[str, Spec] = {
    "max_epochs": Int(1),
    "patience": Int(1),
    "val_frac": Real(0, 1, high_open=True),
    "max_seconds": Real(0, low_open=True),
    "torch_threads": Int(1),
}


def train_with_early_stopping(
    policy: Any,
    net: nn.Module,
    run_epoch: Callable[[], float],
    val_queries: list[np.ndarray],
    val_targets: list[np.ndarray],
    val_titles: list[str] | None = None,
) -> list[dict[str, float]]:
    """Train `net` epoch by epoch with ``run_epoch()`` (it returns the epoch's mean loss).

    `policy` ranks the validation queries (``policy._rank``) and holds ``max_epochs``, ``patience``
    and ``max_seconds`` in ``policy.hp``. Leaves `net` in eval mode with the best weights.

    Returns:
        One ``{"epoch", "loss", "val_ndcg@10"}`` row per epoch (NaN without validation queries).
    """
    from musicgym.offline import ndcg_at_k

    hp = policy.hp
    best, best_state, stale, t0 = -1.0, None, 0, time.perf_counter()
    history: list[dict[str, float]] = []
    for epoch in range(int(hp["max_epochs"])):
        net.train()
        loss = run_epoch()
        score = float("nan")
        if val_queries:
            ranked = policy._rank(val_queries, 10, val_titles)
            score = float(np.mean([ndcg_at_k(r, t, 10) for r, t in zip(ranked, val_targets, strict=True)]))
        history.append({"epoch": epoch + 1, "loss": loss, "val_ndcg@10": score})
        if not val_queries or score > best:
            best, stale = score, 0
            best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
        else:
            stale += 1
        if stale >= int(hp["patience"]) or time.perf_counter() - t0 > float(hp["max_seconds"]):
            break
    net.load_state_dict(best_state)
    net.eval()
    return history
