"""Interaction logs: one JSON object per line, one line per answered recommendation.

Written by ``musicgym play`` and read by ``musicgym finetune`` and the off-policy estimators. Each
record holds:

* ``session`` (id), ``step`` (0-based within the session), ``time`` (ISO 8601, UTC);
* ``env_id``, ``catalog`` (the catalog's fingerprint), ``agent`` (name or checkpoint path);
* ``obs`` (the observation the agent saw), ``candidates`` (catalog rows behind the action slots),
  ``scores`` (the agent's probabilities or Q-values of the slots, or null), ``propensity`` (the
  probability with which the action shown was chosen), ``action`` (slot index), ``track`` (row);
* ``feedback`` (``percentage_listened`` 0..1, ``liked``, and ``preferences`` where the env has them),
  ``reward`` (as the env computed it from that feedback), ``done`` (the session ended after it).

`LogWriter` appends, flushes and fsyncs every record, so a crash or a kill loses at most the answer
being typed. `read_log` reports a truncated last line (the trace of such a kill) instead of taking it,
and stops at any other malformed line with its number.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REQUIRED = ("session", "step", "env_id", "catalog", "obs", "candidates", "action", "track", "propensity",
            "feedback", "reward", "done")


class LogError(ValueError):
    """A log that cannot be used (the message names the file, line and problem)."""


class LogWriter:
    """Append-only JSON Lines writer, durable per record."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - kept open for the session

    def append(self, record: dict[str, Any]) -> None:
        """Write one record and make it durable before returning."""
        missing = [k for k in REQUIRED if k not in record]
        if missing:
            raise LogError(f"log record lacks {missing}")
        self._fh.write(json.dumps(record, default=_plain) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        """Close the file."""
        self._fh.close()

    def __enter__(self) -> LogWriter:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _plain(x: Any) -> Any:
    if hasattr(x, "tolist"):
        return x.tolist()
    if hasattr(x, "item"):
        return x.item()
    raise TypeError(f"cannot log a {type(x).__name__}")


@dataclass
class Log:
    """Records read from one or more files, and what was not taken."""

    records: list[dict[str, Any]] = field(default_factory=list)
    truncated: list[str] = field(default_factory=list)

    def sessions(self) -> list[list[dict[str, Any]]]:
        """Records grouped by session (in file order), each sorted by step."""
        groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for r in self.records:
            groups[r["session"]].append(r)
        return [sorted(g, key=lambda r: r["step"]) for g in groups.values()]

    def check(self, env_id: str, fingerprint: str) -> None:
        """LogError unless every record comes from `env_id` on the catalog with `fingerprint`."""
        for r in self.records:
            if r["env_id"] != env_id:
                raise LogError(f"log session {r['session']} is from {r['env_id']}, not {env_id}")
            if r["catalog"] != fingerprint:
                raise LogError(f"log session {r['session']} is from catalog {r['catalog']}, not this agent's "
                               f"catalog {fingerprint}")


def read_log(*paths: str | Path) -> Log:
    """Read JSON Lines logs.

    A truncated last line is reported in ``Log.truncated``, not taken; any other malformed line or a
    record without the required fields is a LogError naming it.
    """
    log = Log()
    if not paths:
        raise LogError("no log files given")
    for path in paths:
        path = Path(path)
        if not path.exists():
            raise LogError(f"log file not found: {path}")
        text = path.read_text(encoding="utf-8")
        lines = text.split("\n")
        complete = text.endswith("\n") or not text
        for i, line in enumerate(lines, 1):
            if not line.strip():
                continue
            last = i == len(lines)  # only an unterminated final line can be a torn write
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                if last and not complete:
                    log.truncated.append(f"{path}:{i}: truncated last line ({len(line)} characters) not taken")
                    continue
                raise LogError(f"{path}:{i}: not a JSON record ({e.msg})") from e
            if last and not complete:
                log.truncated.append(f"{path}:{i}: last line has no newline; not taken")
                continue
            if not isinstance(rec, dict):
                raise LogError(f"{path}:{i}: a record must be a JSON object")
            missing = [k for k in REQUIRED if k not in rec]
            if missing:
                raise LogError(f"{path}:{i}: record lacks {missing}")
            log.records.append(rec)
    return log
