"""What real listening logs say: the calibration targets of `SessionListener`, each with its source.

Two kinds of target:

* listener targets (`LISTENER_TARGETS`, the default of `calibrate`: MSSD's, `MSSD_TARGETS`, and the
  Last.fm-1K session survival, `LASTFM_TARGETS`): statistics of the listener's responses and
  leaving, measured by `musicgym.realism.stats` on real logs and on simulated sessions alike; weight
  > 0 enters the calibration, weight 0 is reported only.
* behaviour targets (`BEHAVIOUR_TARGETS`): figures of real listening that also depend on what is
  played (session lengths in scrobbles, repeats, transition smoothness); the report compares them with
  the behaviour policy's simulated sessions, as a check of the simulation setting, not a fit.

Sources:

* [MSSD] Brost, Mehrotra & Jehan, "The Music Streaming Sessions Dataset", WWW 2019. Its public mini
  log (``log_mini.csv``: 167,880 plays in 10,000 sessions): the outcome rates, the skip_2 rate by
  position, and skip_2 after a play started by the forward button (``hist_user_behavior_reason_start
  == "fwdbtn"``) or otherwise. Its full training set (124,950,714 sessions of 10-20 plays): the share
  of sessions that reached play k and ended there, k = 10..19.
* [LFM-2b] Reiter-Haas, Parada-Cabaleiro, Schedl, Motamedi, Tkalcic & Lex, "Predicting Music
  Relistening Behavior Using the ACT-R Framework", RecSys 2021: relistening decays as a power law of
  the time since the last play, exponent about 0.86 for gaps under a week (`SessionParams.decay`).
* [MSSD-201] the 201-play MSSD sample (``mssd_skip_sample/very_small.csv``; 11 sessions): the shuffle
  share of plays (`SHUFFLE_SHARE`) and a check that `stats` reads the real schema.
* [LFM-1K] the first 5,000 plays of Celma's Last.fm-1K log (one heavy user, 375 sessions split at
  20-minute gaps). Last.fm scrobbles a play once half the track or 4 minutes were heard.
* [TT] the tidytuesday 2020-01-21 ``spotify_songs.csv`` (471 playlists, Spotify Web API features) and
  [MPD] 37 Million Playlist Dataset playlists with those features joined (593 of 2,023 tracks).

`musicgym.realism.measure` recomputes the [MSSD-201], [LFM-1K], [TT] and [MPD] figures from the files.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from musicgym.realism.stats import HAZARD_POSITIONS, POSITIONS, STATISTICS, plays_from_mssd, statistics


@dataclass(frozen=True)
class Target:
    """One figure of real listening that a simulation should reproduce.

    Attributes:
        name: the statistic (`stats.STATISTICS`, or a behaviour statistic of `BEHAVIOUR_TARGETS`).
        value: the real figure.
        tolerance: how far the simulated value may lie from it and still count as matching.
        source: where the figure comes from (a key of the module docstring's sources, and how).
        weight: weight in the calibration's least squares (0: reported, not fitted).
    """

    name: str
    value: float
    tolerance: float
    source: str
    weight: float = 1.0


#: [MSSD] mini log: share of plays with each flag (skip_1 implies skip_2 implies skip_3). skip_3 and
#: not_skipped sum to 0.981: 1.9% of plays carry neither flag (in the 201-play sample, 9 such plays,
#: ended by the forward button, the end of playback or the track's end), which a four-outcome model
#: cannot reproduce; both are fitted, so the gap is shared between them.
MSSD_RATES = {"skip_1": 0.422, "skip_2": 0.517, "skip_3": 0.648, "not_skipped": 0.333}
#: [MSSD] mini log: skip_2 rate at session positions 1..10.
MSSD_SKIP_BY_POSITION = (0.377, 0.476, 0.505, 0.530, 0.532, 0.543, 0.540, 0.541, 0.532, 0.516)
#: [MSSD] mini log: positions 11..20 lie "about 0.51-0.55": the band's centre, with the band's half-width
#: plus 0.01 as tolerance.
MSSD_SKIP_LATE = (0.53, 0.03)
#: [MSSD] mini log: skip_2 rate of plays started by the forward button, and of the others (position >= 2).
#: A simulated play counts as started by the forward button when the previous play was skipped (skip_2):
#: the simulation has no other buttons, and in the 201-play sample the skip_2 rate after a skip_2 (0.73)
#: is close to that after the forward button (0.71), while MSSD's skip_2 share (0.517) keeps the two
#: targets consistent with the overall rate (0.517 x 0.76 + 0.483 x 0.29 = 0.53 at positions 2+).
MSSD_SKIP_AFTER_SKIP, MSSD_SKIP_AFTER_PLAY = 0.76, 0.29
#: [MSSD] training set: P(the session ends at play k | it reached k), k = 10..19.
MSSD_END_HAZARD = (0.088, 0.084, 0.081, 0.077, 0.073, 0.069, 0.065, 0.062, 0.058, 0.055)
#: [MSSD-201]: share of plays heard in shuffle mode (11 sessions: a rough figure).
SHUFFLE_SHARE = 0.318
#: Tolerances of the goals: MSSD rates and the position curve within 0.03, hazards within 0.02.
RATE_TOLERANCE, HAZARD_TOLERANCE = 0.03, 0.02


def mssd_targets() -> list[Target]:
    """The listener targets from MSSD (the default of `calibrate` and the report)."""
    src = "MSSD mini log (Brost et al., WWW 2019)"
    out = [Target(k, v, RATE_TOLERANCE, f"{src}: share of plays with {k}") for k, v in MSSD_RATES.items()]
    out += [Target(f"skip_2@{k}", v, RATE_TOLERANCE, f"{src}: skip_2 rate at position {k}")
            for k, v in zip(POSITIONS, MSSD_SKIP_BY_POSITION, strict=False)]
    late, tol = MSSD_SKIP_LATE
    out += [Target(f"skip_2@{k}", late, tol, f"{src}: skip_2 rate at positions 11-20 about 0.51-0.55", weight=0.5)
            for k in POSITIONS[len(MSSD_SKIP_BY_POSITION):]]
    out += [
        Target("skip_2_after_skip", MSSD_SKIP_AFTER_SKIP, RATE_TOLERANCE,
               f"{src}: skip_2 rate of plays started by the forward button (reason_start fwdbtn)"),
        Target("skip_2_after_play", MSSD_SKIP_AFTER_PLAY, RATE_TOLERANCE,
               f"{src}: skip_2 rate of the other plays at position >= 2"),
    ]
    out += [Target(f"end@{k}", v, HAZARD_TOLERANCE,
                   f"MSSD training set (124,950,714 sessions): P(session ends at play {k} | reached {k})")
            for k, v in zip(HAZARD_POSITIONS, MSSD_END_HAZARD, strict=True)]
    return out


#: [LFM-1K] (``python -m musicgym.realism.measure``): share of sessions that reached 2, 3, 5 and 10
#: plays. MSSD holds sessions of 10+ plays only, so these are the only figures on leaving early. Last.fm
#: logs scrobbles (plays heard half way or 4 minutes), so a session's real plays are at least its
#: scrobbles: the shares are lower bounds, tight for a listener who rarely skips. Its hazards are about
#: 0.08 at every length up to 19, close to MSSD's 0.088 at 10.
LASTFM_REACH = {2: 0.917, 3: 0.840, 5: 0.712, 10: 0.461}
#: Tolerance of the Last.fm survival: two binomial standard errors at 375 sessions (0.05 at 0.46).
LASTFM_TOLERANCE = 0.05


def lastfm_targets() -> list[Target]:
    """The Last.fm-1K session survival as listener targets (weight 0.5: one user's sessions)."""
    src = "Last.fm-1K sample (Celma; one user, 375 sessions at 20-minute gaps)"
    return [Target(f"reach@{k}", v, LASTFM_TOLERANCE, f"{src}: share of sessions of {k}+ scrobbles", weight=0.5)
            for k, v in LASTFM_REACH.items()]


#: [LFM-1K] (``python -m musicgym.realism.measure``): median session length in scrobbles (plays heard
#: at least half way or 4 minutes) and the share of sessions of 10 or more; within-session artist and
#: track repeat rates (shares of plays whose artist / track was already played in the session).
LASTFM_LENGTH_MEDIAN, LASTFM_SHARE_10_PLUS = 9.0, LASTFM_REACH[10]
LASTFM_ARTIST_REPEAT, LASTFM_TRACK_REPEAT = 0.8024, 0.2942
#: [TT] / [MPD]: mean RMS distance of z-scored taste features between consecutive playlist tracks over
#: that between random catalog tracks (1 = no smoother than chance).
TT_TRANSITION_RATIO, MPD_TRANSITION_RATIO = 0.8146, 0.7592


def behaviour_targets() -> list[Target]:
    """Behaviour figures of real listening, reported against the behaviour policy's sessions (weight 0)."""
    lfm = "Last.fm-1K sample (Celma; one user, 375 sessions at 20-minute gaps)"
    return [
        Target("scrobbled_length_median", LASTFM_LENGTH_MEDIAN, 3.0,
               f"{lfm}: median session length in scrobbles (plays heard half way or 4 min)", weight=0.0),
        Target("scrobbled_share_10_plus", LASTFM_SHARE_10_PLUS, 0.1,
               f"{lfm}: share of sessions of 10+ scrobbles", weight=0.0),
        Target("artist_repeat_rate", LASTFM_ARTIST_REPEAT, 0.1,
               f"{lfm}: share of plays whose artist was already played in the session", weight=0.0),
        Target("track_repeat_rate", LASTFM_TRACK_REPEAT, 0.1,
               f"{lfm}: share of plays whose track was already played in the session", weight=0.0),
        Target("transition_ratio", (TT_TRANSITION_RATIO + MPD_TRANSITION_RATIO) / 2, 0.1,
               "tidytuesday playlists (0.815) and MPD playlists (0.759): consecutive over random-pair "
               "feature distance", weight=0.0),
    ]


#: The MSSD listener targets.
MSSD_TARGETS: tuple[Target, ...] = tuple(mssd_targets())
#: The Last.fm-1K survival targets.
LASTFM_TARGETS: tuple[Target, ...] = tuple(lastfm_targets())
#: The listener targets of the default calibration and report.
LISTENER_TARGETS: tuple[Target, ...] = MSSD_TARGETS + LASTFM_TARGETS
#: The behaviour targets of the report.
BEHAVIOUR_TARGETS: tuple[Target, ...] = tuple(behaviour_targets())


def targets_from_mssd(log: pd.DataFrame, min_tolerance: float = RATE_TOLERANCE,
                      min_hazard_tolerance: float = HAZARD_TOLERANCE) -> list[Target]:
    """Listener targets measured on your own MSSD-format log (a DataFrame of MSSD's ``log_*.csv`` columns).

    Each statistic of `stats.STATISTICS` becomes a target; its tolerance is the larger of the default
    (0.03, hazards 0.02) and two standard errors of the figure on this log (a binomial standard error
    over the plays or sessions it counts), so a small log asks for no more precision than it has.
    Statistics the log cannot measure (no play counts; ``reach@k``, since MSSD-format logs hold
    sessions of 10+ plays) are left out.
    """
    plays = plays_from_mssd(log)
    stats = statistics(plays)
    n_pos = min(plays.valid.shape[1], 20)
    length = plays.valid.sum(axis=1)
    reached = length >= 10
    counted = plays.valid[:, :n_pos] & (reached[:, None])
    n_plays = max(int(counted.sum()), 1)
    n_at = counted.sum(axis=0)
    after = plays.after_skip[:, 1:n_pos] > 0
    n_after = max(int((counted[:, 1:] & after).sum()), 1)
    n_other = max(int((counted[:, 1:] & ~after).sum()), 1)
    out = []
    for name in STATISTICS:
        v = stats[name]
        if not np.isfinite(v) or name.startswith("reach@"):
            continue
        if name.startswith("end@"):
            k = int(name[4:])
            n = max(int((length >= k).sum()), 1)
            tol, floor = 2 * np.sqrt(v * (1 - v) / n), min_hazard_tolerance
        else:
            n = (n_at[int(name.split("@")[1]) - 1] if "@" in name else
                 n_after if name == "skip_2_after_skip" else n_other if name == "skip_2_after_play" else n_plays)
            tol, floor = 2 * np.sqrt(v * (1 - v) / max(int(n), 1)), min_tolerance
        out.append(Target(name, float(v), float(max(tol, floor)), f"your MSSD-format log ({len(plays)} sessions)"))
    return out
