"""`LoadReport`: what a loader read, what it dropped and why. Nothing is dropped silently."""

from __future__ import annotations

import copy
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class Dropped:
    """One dropped row: where it was (line number in the file, 1-based, header = line 1) and why."""

    line: int | None
    reason: str


@dataclass
class LoadReport:
    """What a loader read from `source`: counts, every dropped row with its reason, and notes."""

    source: str
    rows_read: int = 0
    dropped: list[Dropped] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def drop(self, line: int | None, reason: str) -> None:
        """Record one dropped row."""
        self.dropped.append(Dropped(line, reason))

    def note(self, text: str) -> None:
        """Record something the user should know that dropped nothing (e.g. a filled-in missing name)."""
        self.notes.append(text)

    def copy(self) -> LoadReport:
        """A deep copy."""
        return copy.deepcopy(self)

    def summary(self, max_lines: int = 10) -> str:
        """Human-readable lines: counts, reasons grouped, the first `max_lines` dropped rows."""
        out = [f"load report for {self.source}: {self.rows_read} rows read, {len(self.dropped)} dropped"]
        if self.dropped:
            reasons = Counter(d.reason.split(":")[0] for d in self.dropped)
            for reason, n in reasons.most_common():
                out.append(f"  {n} x {reason}")
            for d in self.dropped[:max_lines]:
                where = f"line {d.line}" if d.line is not None else "-"
                out.append(f"    {where}: {d.reason}")
            if len(self.dropped) > max_lines:
                out.append(f"    ... and {len(self.dropped) - max_lines} more (see catalog.report.dropped)")
        for n in self.notes:
            out.append(f"  note: {n}")
        return "\n".join(out)
