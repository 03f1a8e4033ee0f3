"""The statistics of a session log, measured one way on real MSSD logs and on simulated sessions.

A log is `Plays`: per session and position, the probability of each graded outcome, the probability
that the session ends after the play, and whether the previous track was skipped. A real log (or a
sampled simulation) gives 0/1 indicators; a simulation may give the model's own probabilities instead
(Rao-Blackwellised: the same expectations with less noise and smooth in the parameters, which is what
the calibration's optimiser needs). `statistics` then measures every statistic in the "MSSD view": as
the MSSD was sampled (sessions of 10 to 20 plays; Brost et al., WWW 2019), a play counts with the
probability that its session reached max(position, 10) plays, and only the first 20 positions count.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

#: MSSD's session lengths: sessions of 10 to 20 plays (longer ones cut at 20).
MIN_LENGTH, MAX_LENGTH = 10, 20
#: Positions whose skip rate is a statistic ("skip_2@1" ... "skip_2@20").
POSITIONS = tuple(range(1, MAX_LENGTH + 1))
#: Positions whose end-of-session hazard is a statistic ("end@10" ... "end@19").
HAZARD_POSITIONS = tuple(range(MIN_LENGTH, MAX_LENGTH))
#: Positions whose share of sessions reaching them is a statistic ("reach@2" ...), over all sessions
#: (not the MSSD view: an MSSD log, which holds sessions of 10+ plays only, cannot measure them).
REACH_POSITIONS = (2, 3, 5, 10)
#: Every statistic `statistics` returns, in table order.
STATISTICS: tuple[str, ...] = (
    "skip_1", "skip_2", "skip_3", "not_skipped",
    *(f"skip_2@{k}" for k in POSITIONS),
    "skip_2_after_skip", "skip_2_after_play",
    *(f"end@{k}" for k in HAZARD_POSITIONS),
    *(f"reach@{k}" for k in REACH_POSITIONS),
)  # fmt: skip
_OUTCOME_COLUMNS = ("skip_1", "skip_2", "skip_3", "not_skipped")


@dataclass
class Plays:
    """The plays of S sessions, up to L positions each.

    Attributes:
        prob: (S, L, 4) P(skip_1), P(skip_2), P(skip_3), P(not_skipped) of each play (0/1 for a real log).
        hazard: (S, L) P(the session ends after this play) (0/1 for a real log).
        after_skip: (S, L) 1 where the previous track was skipped (MSSD: the play was started by the
            forward button), else 0; 0 at the first position.
        valid: (S, L) bool, the play is in the log.
    """

    prob: np.ndarray
    hazard: np.ndarray
    after_skip: np.ndarray
    valid: np.ndarray

    def __len__(self) -> int:
        return self.prob.shape[0]

    def take(self, sessions: np.ndarray) -> Plays:
        """The plays of `sessions` (indices, repeats allowed: a bootstrap resample)."""
        return Plays(self.prob[sessions], self.hazard[sessions], self.after_skip[sessions], self.valid[sessions])


def statistics(plays: Plays) -> dict[str, float]:
    """Every statistic of `STATISTICS` (NaN where no play counts), in the MSSD view (module docstring).

    The exception, ``reach@k``, is the share of all sessions that reached play k.
    """
    n_pos = min(plays.prob.shape[1], MAX_LENGTH)
    valid = plays.valid[:, :n_pos].astype(np.float64)
    h = np.where(valid > 0, plays.hazard[:, :n_pos], 0.0)
    # survival[s, k]: P(session s reached position k + 1)
    survival = np.cumprod(np.concatenate([np.ones((len(plays), 1)), 1.0 - h[:, :-1]], axis=1), axis=1) * valid
    prob = plays.prob[:, :n_pos]
    out: dict[str, float] = {}
    if n_pos >= MIN_LENGTH:
        reach = survival[:, MIN_LENGTH - 1 : MIN_LENGTH]
        weight = np.concatenate([np.broadcast_to(reach, (len(plays), MIN_LENGTH - 1)), survival[:, MIN_LENGTH - 1 :]],
                                axis=1) * valid
    else:
        weight = np.zeros_like(valid)
    total = weight.sum()
    for c, name in enumerate(_OUTCOME_COLUMNS):
        out[name] = float((weight * prob[:, :, c]).sum() / total) if total > 0 else np.nan
    wk = weight.sum(axis=0)
    p2 = prob[:, :, 1]
    skip_at = (weight * p2).sum(axis=0) / np.where(wk > 0, wk, 1.0)
    for k in POSITIONS:
        out[f"skip_2@{k}"] = float(skip_at[k - 1]) if k <= n_pos and wk[k - 1] > 0 else np.nan
    a = plays.after_skip[:, 1:n_pos]
    w = weight[:, 1:]
    for name, mask in (("skip_2_after_skip", a), ("skip_2_after_play", 1.0 - a)):
        den = (w * mask).sum()
        out[name] = float((w * mask * p2[:, 1:]).sum() / den) if den > 0 else np.nan
    for k in HAZARD_POSITIONS:
        if k <= n_pos:
            s = survival[:, k - 1]
            out[f"end@{k}"] = float((s * h[:, k - 1]).sum() / s.sum()) if s.sum() > 0 else np.nan
        else:
            out[f"end@{k}"] = np.nan
    for k in REACH_POSITIONS:
        out[f"reach@{k}"] = float(survival[:, k - 1].mean()) if k <= n_pos else np.nan
    return out


def plays_from_mssd(log: pd.DataFrame) -> Plays:
    """`Plays` of an MSSD-format log.

    The log has the columns of MSSD's ``log_*.csv``: session_id, session_position, skip_1, skip_2,
    skip_3, not_skipped and, if present, hist_user_behavior_reason_start.
    A play counts as "after a skip" when it was started by the forward button (``reason_start ==
    "fwdbtn"``), or, in a log without that column, when the previous play has skip_2. The session's
    last play ends it, unless it is at position 20 (MSSD cuts sessions there).

    Raises:
        ValueError: a required column is missing, or a position repeats within a session.
    """
    need = ("session_id", "session_position", *_OUTCOME_COLUMNS)
    missing = [c for c in need if c not in log.columns]
    if missing:
        raise ValueError(f"an MSSD log needs the columns {list(need)}; missing {missing}")
    df = log.sort_values(["session_id", "session_position"], kind="stable")
    if df.duplicated(["session_id", "session_position"]).any():
        raise ValueError("the MSSD log repeats a session_position within a session")
    sid, sessions = pd.factorize(df["session_id"])
    pos = df["session_position"].to_numpy(np.int64)
    if (pos < 1).any():
        raise ValueError("session_position counts from 1")
    n_s, n_l = len(sessions), int(pos.max())
    prob = np.zeros((n_s, n_l, 4))
    for c, name in enumerate(_OUTCOME_COLUMNS):
        prob[sid, pos - 1, c] = _as_bool(df[name], name)
    valid = np.zeros((n_s, n_l), dtype=bool)
    valid[sid, pos - 1] = True
    after = np.zeros((n_s, n_l))
    if "hist_user_behavior_reason_start" in df.columns:
        after[sid, pos - 1] = (df["hist_user_behavior_reason_start"].astype(str) == "fwdbtn").to_numpy()
    else:
        after[:, 1:] = prob[:, :-1, 1] * valid[:, :-1]
    after[:, 0] = 0.0
    length = valid.sum(axis=1)
    hazard = np.zeros((n_s, n_l))
    ends = length < MAX_LENGTH
    hazard[np.flatnonzero(ends), length[ends] - 1] = 1.0
    return Plays(prob, hazard, after, valid)


def _as_bool(col: pd.Series, name: str) -> np.ndarray:
    if col.dtype == bool:
        return col.to_numpy(np.float64)
    text = col.astype(str).str.strip().str.lower()
    ok = text.isin(["true", "false", "1", "0", "1.0", "0.0"])
    if not ok.all():
        raise ValueError(f"MSSD column {name!r} must be boolean; found {col[~ok].iloc[0]!r}")
    return text.isin(["true", "1", "1.0"]).to_numpy(np.float64)
