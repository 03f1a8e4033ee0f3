"""How realistic is a simulated listener? Targets from real logs, simulation, calibration and a report.

* `targets`: the figures of real listening (MSSD, Last.fm-1K, real playlists), each with its source;
  `targets_from_mssd` makes targets of your own MSSD-format log.
* `stats`: one way to measure a log, real or simulated (`Plays`, `statistics`).
* `measure`: recomputes the data-derived figures of `targets` from the public samples.
* `simulate`: sessions of a `SessionListener` under the behaviour policy (or any policy).
* `calibrate`: fits the listener's parameters to the targets and writes the versioned JSON.
* `report`: the realism table (simulated value, 95% CI, tolerance, within) and plots.
"""

from musicgym.realism.calibrate import calibrate
from musicgym.realism.simulate import SimulatedSessions, simulate
from musicgym.realism.stats import Plays, plays_from_mssd, statistics
from musicgym.realism.targets import LISTENER_TARGETS, MSSD_TARGETS, Target, targets_from_mssd

__all__ = [
    "LISTENER_TARGETS",
    "MSSD_TARGETS",
    "Plays",
    "SimulatedSessions",
    "Target",
    "calibrate",
    "plays_from_mssd",
    "simulate",
    "statistics",
    "targets_from_mssd",
]
