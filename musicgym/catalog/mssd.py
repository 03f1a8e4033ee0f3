"""Spotify Music Streaming Sessions Dataset (MSSD) logs: skips and session ends, as calibration targets.

Brost, Mehrotra and Jehan, "The Music Streaming Sessions Dataset", WWW 2019. A log file (``log_*.csv``
of the training set, ``log_mini.csv``) has one row per play, in the public schema `MSSD_COLUMNS`:
the session, the play's position in it (1..session_length), the track, four nested skip labels
(``skip_1``: played very briefly, ``skip_2``: briefly, ``skip_3``: most of the track,
``not_skipped``: played to the end), and context (pauses, seeks, shuffle, hour, date, premium,
context type, why the play started and ended).

`load_mssd_log` reads the file through `musicgym.catalog.csvfile.read_table` (encodings, delimiter,
rows of the wrong width, a cut-short last line) and checks every row; a row is dropped, and
reported with its line and the reason, when:

* a required column (`REQUIRED`) is empty, or a boolean is not ``true/false/0/1`` (any case);
* ``session_position`` / ``session_length`` is not a whole number from 1, or the position exceeds the
  length; a count (seeks) is not a whole number from 0; ``hour_of_day`` is not a whole hour 0..23;
* the skip labels contradict each other: they nest, ``skip_1`` => ``skip_2`` => ``skip_3``, and a
  play ``not_skipped`` has no skip;
* its ``session_length`` differs from that of its session's first row, or its position repeats one
  already read in the session.

Sessions missing some positions are kept and noted. `MSSDLog` holds the checked plays, sorted by
session id and position, and the statistics the listener models are calibrated to.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from musicgym.catalog.csvfile import read_table
from musicgym.catalog.model import CatalogError
from musicgym.catalog.report import LoadReport
from musicgym.catalog.values import RowFlags, parse_bool, parse_float

#: the public schema of the training-set logs, in its order
MSSD_COLUMNS: tuple[str, ...] = (
    "session_id", "session_position", "session_length", "track_id_clean", "skip_1", "skip_2", "skip_3",
    "not_skipped", "context_switch", "no_pause_before_play", "short_pause_before_play", "long_pause_before_play",
    "hist_user_behavior_n_seekfwd", "hist_user_behavior_n_seekback", "hist_user_behavior_is_shuffle",
    "hour_of_day", "date", "premium", "context_type", "hist_user_behavior_reason_start",
    "hist_user_behavior_reason_end",
)  # fmt: skip
#: the columns the checks and statistics need
REQUIRED: tuple[str, ...] = MSSD_COLUMNS[:8] + ("hist_user_behavior_reason_start",)
BOOLEANS: tuple[str, ...] = ("skip_1", "skip_2", "skip_3", "not_skipped", "context_switch", "no_pause_before_play",
                             "short_pause_before_play", "long_pause_before_play", "hist_user_behavior_is_shuffle",
                             "premium")
SKIPS: tuple[str, ...] = ("skip_1", "skip_2", "skip_3", "not_skipped")
#: whole-number columns: (lowest, highest)
WHOLE: dict[str, tuple[int, float]] = {
    "session_position": (1, np.inf), "session_length": (1, np.inf), "hist_user_behavior_n_seekfwd": (0, np.inf),
    "hist_user_behavior_n_seekback": (0, np.inf), "hour_of_day": (0, 23),
}  # fmt: skip
#: ``hist_user_behavior_reason_start`` of a play that began because the user skipped the previous one
FORWARD = "fwdbtn"


@dataclass
class MSSDLog:
    """A checked MSSD log and its calibration statistics.

    Attributes:
        plays: one row per play, sorted by ``session_id`` and ``session_position``; booleans as bool,
            whole numbers as int64, other columns as strings; ``_line`` is the row's line in its file.
        report: what was read, dropped (with line and reason) and noted.
    """

    plays: pd.DataFrame
    report: LoadReport

    @property
    def n_sessions(self) -> int:
        """Number of sessions."""
        return int(self.plays["session_id"].nunique())

    def skip_rates(self) -> dict[str, float]:
        """Share of plays with each skip label (``skip_1``, ``skip_2``, ``skip_3``, ``not_skipped``)."""
        return {c: float(self.plays[c].mean()) for c in SKIPS}

    def skip_rate_by_position(self, max_position: int = 20) -> pd.Series:
        """``skip_2`` rate of the plays at each session position 1..`max_position` (NaN where there are none)."""
        rate = self.plays.groupby("session_position")["skip_2"].mean()
        return rate.reindex(pd.RangeIndex(1, max_position + 1, name="session_position")).rename("skip_2_rate")

    def skip_after_previous(self) -> pd.DataFrame:
        """P(skip_2 | previous play skipped) and P(skip_2 | previous not skipped), by two readings of "skipped".

        Over the plays whose previous position in the same session is in the log: ``previous skip_2``
        reads the previous row's ``skip_2``; ``reason_start fwdbtn`` reads this play's
        ``hist_user_behavior_reason_start == "fwdbtn"`` (it started because the user forwarded the
        previous one). Rows: the two readings; columns: the two probabilities and their counts.
        """
        p = self.plays
        same_session = p["session_id"] == p["session_id"].shift()
        prev_ok = (same_session & (p["session_position"] == p["session_position"].shift() + 1)).to_numpy()
        skip2 = p["skip_2"].to_numpy()
        readings = {
            "previous skip_2": np.r_[False, skip2[:-1]],
            "reason_start fwdbtn": (p["hist_user_behavior_reason_start"] == FORWARD).to_numpy(),
        }
        rows = {}
        for name, skipped in readings.items():
            after, not_after = prev_ok & skipped, prev_ok & ~skipped
            rows[name] = {
                "p_skip_2_after_skip": float(skip2[after].mean()) if after.any() else np.nan,
                "p_skip_2_after_no_skip": float(skip2[not_after].mean()) if not_after.any() else np.nan,
                "n_after_skip": int(after.sum()),
                "n_after_no_skip": int(not_after.sum()),
            }
        return pd.DataFrame.from_dict(rows, orient="index")

    def session_end_hazard(self, max_position: int = 20) -> pd.Series:
        """For k = 1..`max_position`: of the sessions that reached position k, the share that ended there.

        A session's length is its ``session_length`` (which the log states even where positions are missing).
        """
        lengths = self.plays.groupby("session_id")["session_length"].first().to_numpy()
        k = np.arange(1, max_position + 1)
        reached = (lengths[None, :] >= k[:, None]).sum(1)
        ended = (lengths[None, :] == k[:, None]).sum(1)
        hazard = np.where(reached > 0, ended / np.maximum(reached, 1), np.nan)
        return pd.Series(hazard, index=pd.Index(k, name="session_position"), name="end_hazard")

    def calibration_targets(self, max_position: int = 20) -> dict:
        """Every statistic above as plain JSON-able numbers (NaN as None)."""

        def clean(values: list) -> list:
            return [None if isinstance(v, float) and np.isnan(v) else v for v in values]

        after = self.skip_after_previous()
        return {
            "plays": len(self.plays),
            "sessions": self.n_sessions,
            "skip_rates": self.skip_rates(),
            "skip_2_rate_by_position": clean(self.skip_rate_by_position(max_position).tolist()),
            "skip_2_after_previous": {k: dict(zip(after.columns, clean(list(v)), strict=True))
                                      for k, v in after.iterrows()},
            "session_end_hazard": clean(self.session_end_hazard(max_position).tolist()),
        }


def load_mssd_log(path: str | Path | list, errors: str = "report", encoding: str | None = None) -> MSSDLog:
    """Read and check one or more MSSD log CSVs (see the module docstring for every check).

    Args:
        path: a log file, or a list of them (each holds whole sessions).
        errors: ``"report"`` drops bad rows and lists each in the report; ``"raise"`` stops at the first.
        encoding: the files' text encoding (None: UTF-8, with or without BOM; see `load_catalog`).

    Raises:
        FileNotFoundError: no such file.
        CatalogError: a required column is missing, the file is empty or unreadable, every row was
            dropped, or (``errors="raise"``) the first bad row; each message names the file.
    """
    if errors not in ("report", "raise"):
        raise ValueError(f"errors must be 'report' or 'raise', got {errors!r}")
    paths = [Path(p) for p in (path if isinstance(path, (list, tuple)) else [path])]
    report = LoadReport(source=", ".join(str(p) for p in paths))
    frames = [_read_one(p, report, errors, encoding) for p in paths]
    plays = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    plays = _session_checks(plays, report, errors)
    if len(plays) == 0:
        raise CatalogError(f"{report.source}: every row was dropped\n{report.summary()}")
    plays = plays.sort_values(["session_id", "session_position"], kind="stable").reset_index(drop=True)
    positions = plays.groupby("session_id")["session_position"].agg(["size", "max"])
    lengths = plays.groupby("session_id")["session_length"].first()
    gaps = int((positions["size"] < lengths).sum())
    if gaps:
        report.note(f"{gaps} of {len(lengths)} sessions miss some of their positions (kept; the end hazard "
                    "uses session_length)")
    return MSSDLog(plays, report)


def _read_one(path: Path, report: LoadReport, errors: str, encoding: str | None) -> pd.DataFrame:
    """The checked plays of one file (all columns stripped and parsed in one pass each, reasons built lazily)."""
    table = read_table(path, report, errors, encoding)
    lower = {c.lower(): c for c in table.columns}
    missing = [c for c in REQUIRED if c not in lower]
    if missing:
        raise CatalogError(f"{path}: not an MSSD log: missing column(s) {missing}; columns present: {table.columns}")
    names = [c for c in MSSD_COLUMNS if c in lower]
    n = len(table.rows)
    flat = table.rows.loc[:, [lower[c] for c in names]].to_numpy(dtype=object).ravel(order="F")
    text = dict(zip(names, pd.Series(flat, dtype=object).str.strip().to_numpy(dtype=object).reshape(len(names), n),
                    strict=True))
    out: dict[str, np.ndarray] = dict(text)
    flag = RowFlags(n)
    for c in REQUIRED:
        flag(text[c] == "", f"empty {c}")
    whole_cols = [c for c in WHOLE if c in text]
    nums = parse_float(pd.Series(np.concatenate([text[c] for c in whole_cols]), dtype=object)).to_numpy(np.float64)
    for c, num in zip(whole_cols, nums.reshape(len(whole_cols), n), strict=True):
        out[c] = _whole(num, text[c], c, flag)
    bool_cols = [c for c in BOOLEANS if c in text]
    bools = parse_bool(pd.Series(np.concatenate([text[c] for c in bool_cols]), dtype=object)).to_numpy(np.float64)
    for c, b in zip(bool_cols, bools.reshape(len(bool_cols), n), strict=True):
        flag(np.isnan(b), lambda i, c=c: f"{c} is not true/false/0/1: {text[c][i]!r}")
        out[c] = b == 1.0
    flag(out["session_position"] > out["session_length"], lambda i: f"session_position {out['session_position'][i]} "
         f"is beyond session_length {out['session_length'][i]}")
    s1, s2, s3, ns = (out[c] for c in SKIPS)
    flag(s1 & ~s2, "skip_1 is true but skip_2 false (skip_1 implies skip_2 implies skip_3)")
    flag(s2 & ~s3, "skip_2 is true but skip_3 false (skip_1 implies skip_2 implies skip_3)")
    flag(ns & s3, "not_skipped is true but skip_3 is true too")
    bad = np.flatnonzero(flag.bad)
    if bad.size and errors == "raise":
        raise CatalogError(f"{path}, line {table.lines[bad[0]]}: {flag.reasons[bad[0]]}")
    for i in bad:
        report.drop(int(table.lines[i]), f"{flag.reasons[i]} ({path.name})")
    keep = ~flag.bad
    frame = pd.DataFrame({c: v[keep] for c, v in out.items()})
    frame["_line"] = table.lines[keep]
    frame["_file"] = str(path)
    return frame


def _whole(num: np.ndarray, text: np.ndarray, column: str, flag: RowFlags) -> np.ndarray:
    """A whole-number column as int64 (-1 where flagged: not a whole number in `WHOLE`'s range)."""
    lo, hi = WHOLE[column]
    with np.errstate(invalid="ignore"):
        whole = (num >= lo) & (num <= hi) & (num == np.round(num)) & (np.abs(num) < 2**53)
    upto = "" if hi == np.inf else f" to {int(hi)}"
    flag(~whole, lambda i: f"{column} is not a whole number from {lo}{upto}: {text[i]!r}")
    return np.where(whole, num, -1).astype(np.int64)


def _session_checks(plays: pd.DataFrame, report: LoadReport, errors: str) -> pd.DataFrame:
    """Drop rows whose session_length differs from their session's first row, and repeated positions."""
    if len(plays) == 0:
        return plays
    first_length = plays.groupby("session_id", sort=False)["session_length"].transform("first")
    wrong = (plays["session_length"] != first_length).to_numpy(bool)
    repeat = np.zeros(len(plays), dtype=bool)
    repeat[~wrong] = plays[~wrong].duplicated(["session_id", "session_position"]).to_numpy(bool)
    bad = []
    for i in np.flatnonzero(wrong):
        bad.append((i, f"session_length {plays['session_length'].iat[i]} differs from "
                       f"{first_length.iat[i]}, that of the session's first row"))
    for i in np.flatnonzero(repeat):
        bad.append((i, f"session {plays['session_id'].iat[i]!r} repeats position {plays['session_position'].iat[i]}"))
    bad.sort()
    if bad and errors == "raise":
        i, why = bad[0]
        raise CatalogError(f"{plays['_file'].iat[i]}, line {plays['_line'].iat[i]}: {why}")
    for i, why in bad:
        report.drop(int(plays["_line"].iat[i]), f"{why} ({Path(plays['_file'].iat[i]).name})")
    return plays[~(wrong | repeat)]
