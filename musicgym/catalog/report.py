"""`LoadReport`: what a loader read, what it dropped or changed and why. Nothing is dropped silently."""

from __future__ import annotations

import copy
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class Dropped:
    """One dropped row: where it was (line number in the file, 1-based, header = line 1) and why.

    ``line`` is the physical line where the row starts, so it stays right after blank lines and quoted
    fields that hold line breaks; it is None where the format has no lines (JSON entries name their
    playlist and position in `reason` instead).
    """

    line: int | None
    reason: str


@dataclass
class Changed:
    """One row that was kept with a value changed (e.g. a release year out of range set to unknown)."""

    line: int | None
    reason: str


@dataclass
class LoadReport:
    """What a loader read from `source`: counts, every dropped and every changed row with its reason, and notes."""

    source: str
    rows_read: int = 0
    dropped: list[Dropped] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    changed: list[Changed] = field(default_factory=list)

    def drop(self, line: int | None, reason: str) -> None:
        """Record one dropped row."""
        self.dropped.append(Dropped(line, reason))

    def change(self, line: int | None, reason: str) -> None:
        """Record one row kept with a changed value (the reason says which value and what it became)."""
        self.changed.append(Changed(line, reason))

    def note(self, text: str) -> None:
        """Record something the user should know that dropped nothing (e.g. a filled-in missing name)."""
        self.notes.append(text)

    def copy(self) -> LoadReport:
        """A deep copy."""
        return copy.deepcopy(self)

    def summary(self, max_lines: int = 10) -> str:
        """Human-readable lines: counts, reasons grouped, the first `max_lines` dropped and changed rows."""
        out = [
            f"load report for {self.source}: {self.rows_read} rows read, {len(self.dropped)} dropped"
            + (f", {len(self.changed)} changed" if self.changed else "")
        ]
        for what, items in (("dropped", self.dropped), ("changed", self.changed)):
            if not items:
                continue
            if what == "changed":
                out.append("  changed (kept):")
            reasons = Counter(d.reason.split(":")[0] for d in items)
            for reason, n in reasons.most_common():
                out.append(f"  {n} x {reason}")
            for d in items[:max_lines]:
                where = f"line {d.line}" if d.line is not None else "-"
                out.append(f"    {where}: {d.reason}")
            if len(items) > max_lines:
                out.append(f"    ... and {len(items) - max_lines} more (see catalog.report.{what})")
        for n in self.notes:
            out.append(f"  note: {n}")
        return "\n".join(out)
