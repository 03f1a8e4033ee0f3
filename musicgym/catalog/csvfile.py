"""Delimited text files (CSV) as a table of string columns, every row with its physical line number.

`read_table` is the one reader of the feature-CSV and MSSD loaders. It

* decodes the file (`musicgym.catalog.textfile`: UTF-8 with or without BOM, or a named encoding);
* detects the delimiter from the header line (comma, semicolon, tab or pipe) and notes one that is not a comma;
* drops, and reports with its line number, every row whose field count differs from the header's;
* notices a file that may be cut short. A last row without its end-of-line is kept as read when it
  has the header's field count (many complete files lack the final end-of-line, e.g. every Kaggle
  "hit predictor" file), and listed in ``report.changed`` with its last value, which a cut would have
  shortened (``236765`` read as ``236``); a last row cut inside a quoted field is dropped;
* gives each row the file line where it starts, right after blank lines (skipped, not rows) and
  quoted fields that hold line breaks.

Files without quote characters are split with numpy and parsed by pandas' C parser; files with quotes
are read with Python's `csv` module, which knows where each quoted record starts and ends.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from musicgym.catalog.model import CatalogError
from musicgym.catalog.report import LoadReport
from musicgym.catalog.textfile import DELIMITERS, count_in_lines, decode, detect_delimiter, split_lines

OPEN_END = "the file ends without an end-of-line, so this last line may be cut short (a truncated file?)"
_CUT = "\x00cut inside quotes"  # the fields of a record cut inside its quotes
CUT_IN_QUOTES = "the file ends inside this line's quoted field, so the line is cut short (a truncated file?)"


@dataclass
class Table:
    """The well-formed rows of a delimited file.

    Attributes:
        columns: the header's names (stripped; a repeated name gets a ``.1``, ``.2`` suffix as in pandas).
        rows: one string column per header name, one row per well-formed record.
        lines: int64, the file line where each row starts (the header is line 1).
        sep: the delimiter.
    """

    columns: list[str]
    rows: pd.DataFrame
    lines: np.ndarray
    sep: str


def read_table(path: Path, report: LoadReport, errors: str = "report", encoding: str | None = None) -> Table:
    """Read a delimited text file; malformed rows are dropped into `report` (or raise with ``errors="raise"``).

    Raises:
        FileNotFoundError: no such file.
        CatalogError: an empty file, a file without data rows, bytes that are not text in its encoding,
            NUL bytes, a quoted field never closed, or (``errors="raise"``) the first malformed row.
    """
    if not path.exists():
        raise FileNotFoundError(f"catalog file not found: {path}")
    data = path.read_bytes()
    text, _ = decode(path, data, encoding)
    if not text.strip():
        raise CatalogError(f"{path}: the file is empty (no header, no rows)")
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise CatalogError(
            f"{path}: line {line} holds a NUL byte: not a text file, or UTF-16 text without a byte-order mark "
            "(then name it: load_catalog(..., encoding='utf-16-le'))"
        )
    sep = detect_delimiter(re.split(r"\r\n|\r|\n", text.lstrip("\r\n"), maxsplit=1)[0])
    open_end = not text.endswith(("\n", "\r"))
    if '"' in text:
        header, records = _records_csv_module(path, text, sep, open_end)
        keep = [_check(path, r, k == len(records) - 1 and open_end, len(header), sep, report, errors)
                for k, r in enumerate(records)]
        good = [r[2] for r, k in zip(records, keep, strict=True) if k]
        rows = pd.DataFrame(good, columns=range(len(header)), dtype=object) if good else None
        lines = np.array([r[0] for r, k in zip(records, keep, strict=True) if k], dtype=np.int64)
        n_rows = len(records)
    else:
        header, rows, lines, n_rows = _records_fast(path, text, sep, open_end, report, errors)
    report.rows_read += n_rows
    if sep != ",":
        report.note(f"{path.name}: {DELIMITERS[sep]}-separated (detected from the header line)")
    if n_rows == 0:
        raise CatalogError(f"{path}: the file has a header but no data rows")
    columns = _names(header)
    if rows is None or len(rows) == 0:
        rows = pd.DataFrame({c: pd.Series([], dtype=object) for c in range(len(columns))})
    rows.columns = columns
    return Table(columns, rows.astype(str).reset_index(drop=True), lines, sep)


def _names(header: list[str]) -> list[str]:
    """Stripped header names, an empty one as ``unnamed_<i>``, a repeated one with a ``.1``, ``.2``... suffix."""
    names: list[str] = []
    for i, h in enumerate(header):
        base = h.strip() or f"unnamed_{i}"
        name, k = base, 0
        while name in names:
            k += 1
            name = f"{base}.{k}"
        names.append(name)
    return names


#: (first line, last line, fields) of one record
_Record = tuple[int, int, list[str]]


def _records_csv_module(path: Path, text: str, sep: str, open_end: bool) -> tuple[list[str], list[_Record]]:
    """The header and the data records; raises where a quoted field is never closed over several lines."""
    try:
        records, in_quotes = _csv_records(text, sep, strict=True)
    except csv.Error:  # strict quoting refused (e.g. `"a"b`): read as leniently as pandas does
        try:
            records, in_quotes = _csv_records(text, sep, strict=False)
        except csv.Error as e:
            raise CatalogError(f"{path}: malformed CSV: {e}") from None
    if in_quotes:
        first, last, _ = records[-1]
        if not open_end or last > first:
            raise CatalogError(
                f"{path}: malformed CSV: the quoted field opened at line {first} is never closed; it runs over "
                f"lines {first}-{last} to the end of the file (a stray quote, or a file cut inside a quoted field)"
            )
    records = [r for r in records if r[2]]  # blank lines are not rows
    if not records:
        raise CatalogError(f"{path}: the file is empty (no header, no rows)")
    return records[0][2], records[1:]


def _csv_records(text: str, sep: str, strict: bool) -> tuple[list[_Record], bool]:
    """All records, and whether the last one ends inside an open quoted field (only detected when strict)."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep, strict=strict)
    records: list[_Record] = []
    prev = 0
    try:
        for fields in reader:
            records.append((prev + 1, reader.line_num, fields))
            prev = reader.line_num
    except csv.Error as e:
        if strict and "unexpected end of data" in str(e):
            records.append((prev + 1, reader.line_num, [_CUT]))
            return records, True
        raise csv.Error(f"line {prev + 1}: {e}") from None
    return records, False


def _check(path: Path, record: _Record, last_open: bool, width: int, sep: str, report: LoadReport,
           errors: str) -> bool:
    """Whether to keep a record; a dropped one is reported (or raised), a kept open last line listed as changed."""
    first, last, fields = record
    if fields == [_CUT]:
        reason = CUT_IN_QUOTES
    elif len(fields) != width:
        reason = _width_reason(width, len(fields), sep)
        if last > first:
            reason += f" (one record over lines {first}-{last}: a quoted field holds line breaks)"
        if last_open:
            reason += f"; {OPEN_END}"
    else:
        if last_open:
            report.change(first, f"{OPEN_END}: kept as read, check its last value {fields[-1]!r} ({path.name})")
        return True
    _bad(path, first, reason, report, errors)
    return False


def _width_reason(expected: int, found: int, sep: str) -> str:
    return f"expected {expected} {DELIMITERS[sep]}-separated fields (as the header), found {found}"


def _bad(path: Path, line: int, reason: str, report: LoadReport, errors: str) -> None:
    if errors == "raise":
        raise CatalogError(f"{path}, line {line}: {reason}")
    report.drop(line, f"{reason} ({path.name})")


def _records_fast(
    path: Path, text: str, sep: str, open_end: bool, report: LoadReport, errors: str
) -> tuple[list[str], pd.DataFrame | None, np.ndarray, int]:
    """A file without quote characters: lines are records; numpy counts fields, pandas parses the good lines."""
    buf = text.encode("utf-8")
    starts, ends, rest = split_lines(buf)
    if rest < len(buf):
        starts, ends = np.append(starts, rest), np.append(ends, len(buf))
    fields = count_in_lines(buf, ord(sep), starts, ends) + 1
    line_no = np.arange(1, len(starts) + 1)
    blank = ends == starts
    first = int(np.argmax(~blank))
    header = buf[starts[first] : ends[first]].decode("utf-8").split(sep)
    data = np.flatnonzero(~blank & (line_no > first + 1))
    n = len(header)
    last = len(starts) - 1
    keep = np.ones(data.size, dtype=bool)
    for j in np.flatnonzero((fields[data] != n) | (open_end & (data == last))):
        i, line = data[j], int(line_no[data[j]])
        row = buf[starts[i] : ends[i]].decode("utf-8").split(sep)
        keep[j] = _check(path, (line, line, row), open_end and i == last, n, sep, report, errors)
    good = data[keep]
    if good.size == 0:
        return header, None, np.zeros(0, np.int64), int(data.size)
    run_first = np.flatnonzero(np.diff(good, prepend=-2) != 1)  # good lines in runs of consecutive lines
    run_last = np.append(run_first[1:] - 1, good.size - 1)
    body = b"\n".join(buf[starts[good[a]] : ends[good[b]]] for a, b in zip(run_first, run_last, strict=True)) + b"\n"
    try:
        rows = pd.read_csv(
            io.BytesIO(body), sep=sep, header=None, names=list(range(n)), dtype=str, na_filter=False,
            quoting=csv.QUOTE_NONE, skip_blank_lines=False, engine="c", encoding="utf-8",
        )
    except (pd.errors.ParserError, ValueError) as e:
        raise CatalogError(f"{path}: malformed CSV: {e}") from None
    if len(rows) != good.size:
        raise CatalogError(f"{path}: malformed CSV: {good.size} well-formed lines but {len(rows)} rows were parsed")
    return header, rows, line_no[good], int(data.size)
