"""A memory of the session for MusicGym's torch agents: the last observation heads and a GRU over them.

On the hard track the listener is hidden (``PlaylistPOMDP-v0``: a new listener every episode;
``PreferenceHidden-v0``: preferences shown only through rewards; ``Session-v0``: a listener who skips
and leaves), so what the current observation shows is not all the session has told the agent: which
tracks were heard to the end, which rewards followed which attributes. ``ah_dqn`` and
``actor_critic`` take two hyperparameters for that:

* ``history`` (default 0: off, the agents exactly as without it: same networks, same random draws,
  same weights, same files): the number L of past observation heads (the part of the observation
  before the candidate slots, ``obs[:, :env.head_dim]``) the agent keeps per session;
* ``history_hidden`` (default 64): the width E of the GRU that encodes them.

`HistoryStack` keeps, for n sessions, the heads of the L observations before the current one, oldest
first, zeros where the episode had not started yet (a session's stack is zeroed when its episode ends
and at ``predict``'s ``episode_start``). `HistoryEncoder` reads a stack with a one-layer GRU and
returns its last hidden state (E numbers); the networks read ``[current head, encoding]`` wherever
they read the head without a history (``actor_critic``'s MLP and track policies and its value network
read ``[observation, encoding]``). The encoder trains end to end through the agent's losses.

Why the heads and not whole observations: the head is what the session has shown (the last tracks'
features and the listener's feedback); the candidate slots change every step and say nothing about
the listener. Why a window and not a recurrent state carried along: a replay buffer can store a
window with each transition and an update can re-encode it with today's weights (R2D2's stored
recurrent states go stale); the episodes are short (9 to 50 steps), so a window of 8 covers most of
what is informative at little cost.

``ah_dqn`` takes two more (`MEMORY_HYPERPARAMS`; with their defaults, today's memory above):

* ``history_played`` (default False): each head the agent reads, keeps in its stack and stores in its
  replay buffer is the observation's head with the features of the track last played beside it (the
  track that head's feedback is about; ``info["history"]``'s last at ``predict``, the agent's own
  action while training). On PreferenceHidden-v0 the head shows the mean attributes of the last 5
  tracks and the last reward, so without it the reward is never beside the attributes it rewarded;
  with it each step of the stack is a (track attributes, reward) pair, a linear bandit's observation.
* ``history_encoder`` (default ``"gru"``): ``"deepsets"`` reads the stack and the current head as a set
  (`SetEncoder`: the mean of an MLP of each non-empty step, and the share of the window filled): order
  does not matter, and the sums a linear bandit's estimate is built from (reward x attributes,
  attribute products) are one pooled MLP away. ``"ridge"`` (with ``history_played``) reads the same set
  through `RidgeEncoder`: ridge regressions of learned readouts of the heads on the played tracks'
  features, the estimate itself as the encoding (``history_hidden`` unused).

``predict(obs, state=None, episode_start=None)`` follows SB3's recurrent convention: `state` is the
(B, L, head_dim) stack to pass back at the next step (`next_state`), None starts a fresh one (an
episode's start), and ``episode_start`` True zeroes a session's stack; `musicgym.evaluate` passes
both back every step. ``action_scores`` takes the same optional `state`; the callers that rate single
logged steps (``musicgym play``, the off-policy estimates) pass none, so they see the agent at an
episode's start, and fine-tuning from logs (`musicgym.agents.finetune`) refuses an agent with a history.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from musicgym.agents.hyperparams import Bool, Choice, Int, Spec
from torch import nn

#: the hyperparameters an agent with a history takes, and their defaults
HISTORY_HYPERPARAMS: dict[str, Any] = {"history": 0, "history_hidden": 64}
HISTORY_SPECS: dict[str, Spec] = {"history": Int(0), "history_hidden": Int(1)}


class HistoryStack:
    """The heads of the last `length` observations of `n` sessions, oldest first (module docstring).

    Args:
        n: number of sessions.
        length: the window L (>= 1).
        head_dim: width of an observation head.
    """

    def __init__(self, n: int, length: int, head_dim: int) -> None:
        if length < 1:
            raise ValueError(f"a history stack needs length >= 1, got {length}")
        #: (n, length, head_dim) float32: session b's heads, oldest first, zeros before its episode's start
        self.data = np.zeros((n, length, head_dim), np.float32)

    def push(self, heads: np.ndarray) -> None:
        """Append each session's (n, head_dim) head as its newest; the oldest falls out of the window."""
        self.data = next_state(self.data, heads)

    def reset(self, mask: np.ndarray | None = None) -> None:
        """Zero the stacks of the sessions where `mask` is True (all of them when None): a new episode."""
        if mask is None:
            self.data[:] = 0.0
        else:
            self.data[np.asarray(mask, dtype=bool)] = 0.0

    def state(self) -> np.ndarray:
        """A copy of the stacks (for a checkpoint)."""
        return self.data.copy()

    def load(self, data: np.ndarray) -> None:
        """Continue from `state`'s copy (stacks of the same shape)."""
        data = np.asarray(data, dtype=np.float32)
        if data.shape != self.data.shape:
            raise ValueError(f"history stack snapshot of shape {data.shape}, this one is {self.data.shape}")
        self.data = data.copy()


def next_state(stacks: np.ndarray, heads: np.ndarray) -> np.ndarray:
    """(B, L, h) stacks with the (B, h) `heads` appended as the newest entries (a new array)."""
    heads = np.asarray(heads, dtype=np.float32)
    return np.concatenate([stacks[:, 1:], heads[:, None, :]], axis=1)


def initial_state(
    state: Any, episode_start: Any, batch: int, length: int, head_dim: int, agent: str
) -> np.ndarray:
    """The (B, L, h) stacks `predict` acts with: `state` (or zeros when None), zeroed where `episode_start`.

    Raises a ValueError naming `agent` when `state` is not a stack of the expected shape.
    """
    if state is None:
        stacks = np.zeros((batch, length, head_dim), np.float32)
    else:
        try:
            stacks = np.array(state, dtype=np.float32)
        except (TypeError, ValueError) as e:
            raise ValueError(f"agent {agent!r}: state must be the history stack predict returned ({e})") from e
        if stacks.shape != (batch, length, head_dim):
            raise ValueError(f"agent {agent!r}: state of shape {stacks.shape}, expected the history stack "
                             f"{(batch, length, head_dim)} that predict returned (or None at an episode's start)")
    if episode_start is not None:
        start = np.asarray(episode_start, dtype=bool).reshape(-1)
        if start.size not in (1, batch):
            raise ValueError(f"agent {agent!r}: episode_start of {start.size} values for {batch} observations")
        stacks[np.broadcast_to(start, (batch,))] = 0.0
    return stacks


def predict_stacks(
    length: int, heads: np.ndarray, state: Any, episode_start: Any, agent: str
) -> tuple[np.ndarray | None, Any]:
    """For ``predict``: the (B, L, h) stacks to act with, and the state to return (`next_state` of them).

    Without a history (`length` 0): no stacks, and `state` is returned as it came.
    """
    if not length:
        return None, state
    stacks = initial_state(state, episode_start, len(heads), length, heads.shape[1], agent)
    return stacks, next_state(stacks, heads)


class HistoryEncoder(nn.Module):
    """A one-layer GRU over a (B, L, head_dim) stack, oldest first; its last hidden state is the (B, E) encoding.

    Args:
        head_dim: width of an observation head (the GRU's input).
        hidden: E, the width of the encoding.
    """

    def __init__(self, head_dim: int, hidden: int) -> None:
        super().__init__()
        self.gru = nn.GRU(head_dim, hidden, batch_first=True)
        self.out_dim = hidden

    def forward(self, stacks: torch.Tensor) -> torch.Tensor:
        """(B, E): the GRU's hidden state after the newest head."""
        _, h_n = self.gru(stacks)
        return h_n[-1]


class HistoryHyperparams:
    """Mixin for an agent with a history: the hyperparameters and a `describe` unchanged when it is off.

    With ``history=0`` the agent's description (its files' sidecars, its checkpoints' identity) leaves
    ``history`` and ``history_hidden`` out, so that it is the description an agent without these
    hyperparameters wrote: checkpoints written before they existed still resume, and files are the same.
    """

    def describe(self) -> dict[str, Any]:
        """The agent's description; without ``history`` and ``history_hidden`` when the history is off.

        The memory's further options (`MEMORY_HYPERPARAMS`, ``ah_dqn``'s) are left out when the history
        is off too; at their defaults the agent's `OMITTED_AT_DEFAULT` leaves them out.
        """
        out = super().describe()  # type: ignore[misc]
        hp = out["hyperparams"]
        if not hp.get("history"):
            for key in {**HISTORY_HYPERPARAMS, **MEMORY_HYPERPARAMS}:
                hp.pop(key, None)
        return out


# ------------------------------------------------------------------------------------------ ah_dqn's options
#: ``ah_dqn``'s further options for its memory, and their defaults (today's memory: heads, a GRU)
MEMORY_HYPERPARAMS: dict[str, Any] = {"history_played": False, "history_encoder": "gru"}
MEMORY_SPECS: dict[str, Spec] = {"history_played": Bool(), "history_encoder": Choice(("gru", "deepsets", "ridge"))}


def last_played(history: Any, agent: str) -> np.ndarray:
    """(B,) the last catalog row of each session's playlist.

    `history` is ``info["history"]`` (1-D for one session, or (B, H) -1 padded for a vector env). Raises
    a ValueError naming `agent` when there is none.
    """
    if history is None:
        raise ValueError(f"agent {agent!r} with history_played reads info['history'] (the tracks played so "
                         f"far): pass info=...")
    h = np.atleast_2d(np.asarray(history, dtype=np.int64))
    n = (h >= 0).sum(1)
    if h.shape[1] == 0 or (n == 0).any():
        raise ValueError(f"agent {agent!r} with history_played: info['history'] has a session with no track")
    return h[np.arange(len(h)), n - 1]


class SetEncoder(nn.Module):
    """DeepSets over a (B, L, w) stack: rho(mean over its non-empty entries of phi(entry), their share of L).

    An entry of all zeros is empty (the stack's padding before an episode's start). The order of the
    entries does not matter: what a linear bandit needs (sums of reward x attributes and of attribute
    products over the episode) is such a pooled sum, which a GRU has to learn to keep step by step.

    Args:
        in_dim: w, the width of an entry.
        hidden: E, the width of phi's output and of the encoding.
    """

    def __init__(self, in_dim: int, hidden: int) -> None:
        super().__init__()
        self.phi = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
        self.rho = nn.Sequential(nn.Linear(hidden + 1, hidden), nn.ReLU())
        self.out_dim = hidden

    def forward(self, stacks: torch.Tensor) -> torch.Tensor:
        """(B, E): the encoding of the non-empty entries of each stack."""
        mask = (stacks != 0).any(-1, keepdim=True).to(stacks.dtype)  # (B, L, 1)
        count = mask.sum(1)  # (B, 1)
        pooled = (self.phi(stacks) * mask).sum(1) / count.clamp(min=1.0)
        return self.rho(torch.cat([pooled, count / stacks.shape[1]], dim=1))


class RidgeEncoder(nn.Module):
    """Ridge regressions of learned readouts of the feedback on the played tracks' features, over a set.

    For ``history_encoder="ridge"`` (with ``history_played``): each non-empty entry of a (B, L, h + d)
    stack is an observation head (h) and the features x of the track played before it (d). `readouts`
    learned linear maps of the head give targets y (on PreferenceHidden-v0 the head's last reward is
    one such map); the encoding is the ridge estimate ``(X^T X + lam I)^-1 X^T Y`` (d x readouts: how
    each feature drives each target this episode, a linear bandit's estimate of the listener) and the
    share of the window filled. The agent reads only its observations and the tracks it played.

    Args:
        head_dim: h, the observation head's width.
        d: the track features' width.
        readouts: the number of learned targets.
        lam: the ridge penalty.
    """

    def __init__(self, head_dim: int, d: int, readouts: int = 4, lam: float = 0.1) -> None:
        super().__init__()
        self.h, self.d, self.lam = head_dim, d, float(lam)
        self.readout = nn.Linear(head_dim, readouts)
        self.out_dim = self.width(d, readouts)

    @staticmethod
    def width(d: int, readouts: int = 4) -> int:
        """The encoding's width for d track features (known before an encoder is made, with no draw)."""
        return d * readouts + 1

    def forward(self, stacks: torch.Tensor) -> torch.Tensor:
        """(B, d * readouts + 1): the ridge estimates, flattened, and the share of the window filled."""
        mask = (stacks != 0).any(-1, keepdim=True).to(stacks.dtype)  # (B, L, 1)
        x = stacks[..., self.h :] * mask
        y = self.readout(stacks[..., : self.h]) * mask
        eye = torch.eye(self.d, dtype=stacks.dtype, device=stacks.device)
        gram = x.transpose(1, 2) @ x + self.lam * eye
        est = torch.linalg.solve(gram, x.transpose(1, 2) @ y)  # (B, d, readouts)
        return torch.cat([est.flatten(1), mask.sum(1) / stacks.shape[1]], dim=1)
