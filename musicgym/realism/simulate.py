"""Simulate listening sessions of a `SessionListener` under a policy, the way an env would drive it.

The behaviour policy stands in for the one that produced the real logs: it plays the listener's
source playlist (the playlist its taste was drawn from: the listener chose it) in its order, or
shuffled in a `SHUFFLE_SHARE` of the sessions, and when the playlist runs out it goes on with further
playlists of the same main genre (MSSD sessions run across contexts). Other policies: ``"random"``
(uniform catalog tracks), ``"greedy"`` (the track of highest expected reward given the hidden
listener, `Listener.best_tracks`, never a track twice) or any callable.

Every session runs all `max_len` steps; a step after the listener left is a "ghost" play that the
sampled view leaves out and the smooth view weighs by the probability that the session was still on
(`stats.Plays`), so the same run serves the env-like check and the calibration.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from musicgym.catalog import Catalog
from musicgym.catalog.model import TASTE_FEATURES
from musicgym.listeners.session import SessionListener
from musicgym.realism.stats import Plays
from musicgym.realism.targets import SHUFFLE_SHARE

#: A policy: (listener, rows, step, tracks played so far (S, step)) -> (S,) catalog rows.
Policy = Callable[[SessionListener, np.ndarray, int, np.ndarray], np.ndarray]
POLICIES = ("behaviour", "random", "greedy")


@dataclass
class SimulatedSessions:
    """S simulated sessions of `max_len` steps (ghost steps after leaving included).

    Attributes:
        tracks: (S, L) catalog rows played.
        outcome: (S, L) int8: 0 skip_1, 1 skip_2 (not skip_1), 2 skip_3 (not skip_2), 3 played to the end.
        prob: (S, L, 4) float32 the model's probabilities of those four outcomes.
        hazard: (S, L) float32 the model's probability of leaving after the play.
        left: (S, L) bool, the sampled leaving.
        fraction: (S, L) fraction heard; minutes: (S, L) minutes heard; reward: (S, L).
        length: (S,) sampled session length (plays up to and including the one after which it left).
    """

    tracks: np.ndarray
    outcome: np.ndarray
    prob: np.ndarray
    hazard: np.ndarray
    left: np.ndarray
    fraction: np.ndarray
    minutes: np.ndarray
    reward: np.ndarray
    length: np.ndarray

    def __len__(self) -> int:
        return self.tracks.shape[0]

    @property
    def valid(self) -> np.ndarray:
        """(S, L) bool: the play happened (it is not a ghost play after the listener left)."""
        return np.arange(self.tracks.shape[1])[None, :] < self.length[:, None]

    def plays(self, smooth: bool = False) -> Plays:
        """The sessions as `stats.Plays`: sampled outcomes and leaving, as in a real log.

        With `smooth`, the model's probabilities over every step instead (Rao-Blackwellised: the same
        expectations, less noise).
        """
        skip2 = self.outcome <= 1
        after = np.zeros(self.outcome.shape)
        after[:, 1:] = skip2[:, :-1]
        if smooth:
            c = np.cumsum(self.prob[:, :, :3], axis=2, dtype=np.float64)
            prob = np.concatenate([c, self.prob[:, :, 3:4].astype(np.float64)], axis=2)
            return Plays(prob, self.hazard.astype(np.float64), after, np.ones(self.outcome.shape, dtype=bool))
        o = self.outcome
        prob = np.stack([o == 0, o <= 1, o <= 2, o == 3], axis=2).astype(np.float64)
        return Plays(prob, self.left.astype(np.float64), after, self.valid)


def behaviour_sequences(listener: SessionListener, rng: np.random.Generator, length: int,
                        shuffle_share: float = SHUFFLE_SHARE) -> np.ndarray:
    """(S, length) tracks of the behaviour policy for the listeners `listener` holds (module docstring)."""
    pop = listener.pop
    playlists = pop.playlists
    main = pop.genre_counts.argmax(axis=1)
    by_genre = {g: np.flatnonzero(main == g) for g in np.unique(main)}
    n = listener.num
    shuffled = rng.random(n) < shuffle_share
    out = np.empty((n, length), dtype=np.int64)
    for s in range(n):
        p = int(listener.source_playlist[s])
        parts, have = [], 0
        while have < length:
            tracks = playlists[p]
            if shuffled[s]:
                tracks = rng.permutation(tracks)
            parts.append(tracks)
            have += len(tracks)
            pool = by_genre[main[p]]
            p = int(pool[rng.integers(len(pool))])
        out[s] = np.concatenate(parts)[:length]
    return out


def simulate(listener: SessionListener, catalog: Catalog, n_sessions: int, seed: int = 0,
             policy: str | Policy = "behaviour", max_len: int = 20, shuffle_share: float = SHUFFLE_SHARE,
             sequences: np.ndarray | None = None) -> SimulatedSessions:
    """Draw `n_sessions` listeners and play them `max_len` tracks each under `policy`.

    Args:
        listener: the listener model (set up here on `catalog` for `n_sessions` sessions).
        catalog: the catalog.
        n_sessions: number of sessions S.
        seed: seeds the listeners, the policy and the responses (three independent streams, so that
            the same seed gives the same listeners and behaviour tracks whatever the parameters).
        policy: ``"behaviour"``, ``"random"``, ``"greedy"`` or a `Policy` callable.
        max_len: steps per session.
        shuffle_share: share of shuffled sessions of the behaviour policy.
        sequences: (S, max_len) behaviour tracks to reuse (from an earlier call with the same seed).

    Returns:
        The sessions.
    """
    if isinstance(policy, str) and policy not in POLICIES:
        raise ValueError(f"policy must be one of {POLICIES} or a callable, got {policy!r}")
    if n_sessions < 1 or max_len < 1:
        raise ValueError(f"n_sessions and max_len must be >= 1, got {n_sessions}, {max_len}")
    listener.setup(catalog, n_sessions)
    listener_rng, policy_rng, response_rng = (np.random.default_rng(s)
                                              for s in np.random.SeedSequence(seed).spawn(3))
    rows = np.arange(n_sessions)
    listener.sample(listener_rng, rows)
    if policy == "behaviour" and sequences is None:
        sequences = behaviour_sequences(listener, policy_rng, max_len, shuffle_share)
    shape = (n_sessions, max_len)
    tracks = np.empty(shape, dtype=np.int64)
    outcome = np.empty(shape, dtype=np.int8)
    prob = np.empty((*shape, 4), dtype=np.float32)
    hazard = np.empty(shape, dtype=np.float32)
    left = np.empty(shape, dtype=bool)
    fraction, minutes, reward = np.empty(shape), np.empty(shape), np.empty(shape)
    for k in range(max_len):
        if policy == "behaviour":
            t = sequences[:, k]
        elif policy == "random":
            t = policy_rng.integers(0, len(catalog), n_sessions)
        elif policy == "greedy":
            t, _ = listener.best_tracks(rows, tracks[:, :k] if k else np.full((n_sessions, 1), -1))
        else:
            t = np.asarray(policy(listener, rows, k, tracks[:, :k]), dtype=np.int64)
        prob[:, k] = listener.outcome_probabilities(rows, t)
        res = listener.respond(response_rng, rows, t)
        listener.update(rows, t, res)
        tracks[:, k] = t
        outcome[:, k] = 3 - (res["skip_1"] + res["skip_2"] + res["skip_3"]).astype(np.int8)
        hazard[:, k] = res["leave_probability"]
        left[:, k] = res["left"] > 0
        fraction[:, k], minutes[:, k], reward[:, k] = res["fraction_heard"], res["minutes"], res["reward"]
    ever = left.any(axis=1)
    length = np.where(ever, left.argmax(axis=1) + 1, max_len)
    return SimulatedSessions(tracks, outcome, prob, hazard, left, fraction, minutes, reward, length)


def behaviour_per_session(sim: SimulatedSessions, catalog: Catalog, seed: int = 0) -> dict[str, np.ndarray]:
    """Per-session sums behind `behaviour_statistics` (so that a bootstrap resamples sessions cheaply).

    Returns (S,) arrays: ``scrobbles`` (plays heard at least half way or 4 minutes: Last.fm's rule),
    ``plays``, ``artist_repeats`` / ``track_repeats`` (plays whose artist / track was already played in
    the session), ``jump_sum`` / ``jumps`` (RMS distance of z-scored taste features between consecutive
    plays, and their count), and the scalar ``random_jump`` (the mean distance between random tracks).
    """
    from musicgym.realism.measure import _rms, _zscore

    valid = sim.valid
    scrobble = ((sim.fraction >= 0.5) | (sim.minutes >= 4.0)) & valid
    artist = pd.factorize(catalog.tracks["artist"].astype(str))[0]
    n = len(sim)
    art_rep, trk_rep = np.zeros(n), np.zeros(n)
    for s in range(n):
        t = sim.tracks[s, : sim.length[s]]
        art_rep[s] = len(t) - len(set(artist[t].tolist()))
        trk_rep[s] = len(t) - len(set(t.tolist()))
    z = _zscore(catalog.tracks.loc[:, list(TASTE_FEATURES)].to_numpy(np.float64))
    pair = valid[:, 1:]
    dist = _rms(z[sim.tracks[:, 1:].ravel()], z[sim.tracks[:, :-1].ravel()]).reshape(pair.shape)
    rng = np.random.default_rng(seed)
    i, j = rng.integers(0, len(catalog), 200_000), rng.integers(0, len(catalog), 200_000)
    return {
        "scrobbles": scrobble.sum(axis=1).astype(np.float64),
        "plays": valid.sum(axis=1).astype(np.float64),
        "artist_repeats": art_rep,
        "track_repeats": trk_rep,
        "jump_sum": (dist * pair).sum(axis=1),
        "jumps": pair.sum(axis=1).astype(np.float64),
        "random_jump": np.array(_rms(z[i], z[j]).mean()),
    }


def behaviour_statistics(per_session: dict[str, np.ndarray], sessions: np.ndarray | None = None) -> dict[str, float]:
    """The `targets.BEHAVIOUR_TARGETS` figures of sampled sessions (`behaviour_per_session`), or of a resample.

    Scrobbled lengths: median and share of 10+ scrobbles; repeat rates: shares of plays whose artist /
    track was already played in the session; transition ratio: mean consecutive over random-pair distance.
    """
    ps = per_session if sessions is None else {k: (v[sessions] if v.ndim else v) for k, v in per_session.items()}
    plays = ps["plays"].sum()
    return {
        "scrobbled_length_median": float(np.median(ps["scrobbles"])),
        "scrobbled_share_10_plus": float((ps["scrobbles"] >= 10).mean()),
        "artist_repeat_rate": float(ps["artist_repeats"].sum() / plays),
        "track_repeat_rate": float(ps["track_repeats"].sum() / plays),
        "transition_ratio": float(ps["jump_sum"].sum() / max(ps["jumps"].sum(), 1.0) / ps["random_jump"]),
    }
