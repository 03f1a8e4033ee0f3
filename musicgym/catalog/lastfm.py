r"""Last.fm-1K listening logs: ``userid \t timestamp \t artist id \t artist \t track id \t track`` (no header).

Each line is one play; the timestamp is ISO 8601 (``2009-05-04T23:08:57Z``). Fields are not quoted
(track names may hold quote characters). A line is dropped and reported with its number when it does
not have 6 tab-separated fields, holds a NUL byte, has an empty user id or track name, or a timestamp
that is not ISO 8601 or lies in the future (after tomorrow, UTC). A last line without its end-of-line
is kept as read and listed in ``report.changed`` (the file may have been cut inside it).

Plays are sorted by user and time (stable, so plays in the same second keep their file order) and
split into listening sessions wherever two consecutive plays of a user are more than
`session_gap_minutes` apart. A track is identified by its MusicBrainz id, or by "artist - track" where
the log has no id; its name and artist are those of its first play in that order.

Speed: the log is read in blocks of 16 MB. numpy finds the lines and counts their fields, pyarrow's
CSV reader (pandas' C parser where pyarrow is not installed) splits the well-formed lines, pyarrow's
ISO 8601 cast (pandas for other timestamp forms) reads the times, and sessions are cut with numpy on
integer codes. Measured on a synthetic 1-million-line log on a 2-core machine shared with other jobs
(so CPU time is the figure that holds): 1.9 s of CPU with pyarrow, about 520,000 lines per CPU-second
(1.9 s wall at best), and 5.0 s with pandas' parser, against 1,350 lines per CPU-second for the
line-by-line loader this replaces. The 19 million lines of Last.fm-1K take about 40 s instead of 4 hours.
"""

from __future__ import annotations

import csv
import io
from functools import lru_cache
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd

from musicgym.catalog.csvfile import OPEN_END
from musicgym.catalog.join import attach_features, id_only_tracks, report_missing_features
from musicgym.catalog.model import Catalog, CatalogError, Playlists
from musicgym.catalog.report import LoadReport
from musicgym.catalog.textfile import count_in_lines, locate_decode_error, split_lines, utf8_blocks

LASTFM_FIELDS = ("userid", "timestamp", "artist_id", "artist", "track_id", "track")
#: "auto" uses pyarrow's CSV reader when it is installed, "pandas" always pandas' C parser (same output)
ENGINE = "auto"
#: the timestamp form of Last.fm-1K, which pyarrow converts exactly as pandas does
CANONICAL_TIME = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$"


@lru_cache(maxsize=1)
def _pyarrow_csv() -> ModuleType | None:
    try:
        import pyarrow.csv
    except ImportError:
        return None
    return pyarrow.csv


def _check_separator(path: Path, buf: bytes) -> None:
    """Refuse a file whose first line has no tab but another delimiter (a CSV passed as a Last.fm log)."""
    first = buf.lstrip(b"\r\n").split(b"\n", 1)[0]
    if first and b"\t" not in first:
        for sep, word in ((b",", "comma"), (b";", "semicolon"), (b"|", "pipe")):
            if sep in first:
                raise CatalogError(
                    f"{path}: line 1 has no tab but {first.count(sep)} {word}s: this file looks {word}-separated, "
                    "and Last.fm-1K logs are tab-separated (userid, timestamp, artist id, artist, track id, track)"
                )


def _parse(path: Path, codec: str, body: bytes, n: int) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """The six string columns of `n` well-formed lines, their times in microseconds, and which times are not read.

    With pyarrow, the timestamps of the canonical form (`CANONICAL_TIME`) are converted by pyarrow's
    ISO 8601 cast, which accepts and rejects exactly what pandas does for that form (if it meets an
    invalid date such as Feb 30, the whole block goes to pandas). The others are left to pandas.
    """
    micros, todo = np.zeros(n, dtype=np.int64), np.ones(n, dtype=bool)
    if n == 0:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in LASTFM_FIELDS}), micros, todo
    pc = _pyarrow_csv() if ENGINE == "auto" else None
    try:
        if pc is not None:
            import pyarrow as pa
            import pyarrow.compute as pac

            try:
                table = pc.read_csv(
                    io.BytesIO(body),
                    read_options=pc.ReadOptions(column_names=list(LASTFM_FIELDS)),
                    parse_options=pc.ParseOptions(delimiter="\t", quote_char=False, double_quote=False),
                    convert_options=pc.ConvertOptions(
                        column_types={c: pa.string() for c in LASTFM_FIELDS}, strings_can_be_null=False
                    ),
                )
            except pa.ArrowInvalid as e:
                body.decode("utf-8")  # a decoding error is the usual cause: name its line
                raise CatalogError(f"{path}: could not read the well-formed lines: {e}") from None
            stamps = table["timestamp"]
            canonical = pac.match_substring_regex(stamps, CANONICAL_TIME)
            try:
                micros[canonical.to_numpy()] = (
                    pac.cast(stamps.filter(canonical), pa.timestamp("us", tz="UTC")).cast(pa.int64()).to_numpy()
                )
                todo = ~canonical.to_numpy()
            except pa.ArrowInvalid:
                pass
            df = table.to_pandas(types_mapper=pd.ArrowDtype)
        else:
            df = pd.read_csv(
                io.BytesIO(body), sep="\t", header=None, names=list(LASTFM_FIELDS), dtype=str, na_filter=False,
                quoting=csv.QUOTE_NONE, skip_blank_lines=False, engine="c", encoding="utf-8",
            )
    except UnicodeDecodeError:
        raise locate_decode_error(path, codec) from None
    if len(df) != n:
        raise CatalogError(f"{path}: {n} well-formed lines but {len(df)} rows were parsed")
    return df, micros, todo


def _lines(buf: bytes, starts: np.ndarray, ends: np.ndarray, idx: np.ndarray) -> bytes:
    """Lines `idx` of `buf`, each ended by a line feed; runs of consecutive lines are copied in one slice each."""
    if idx.size == 0:
        return b""
    run_first = np.flatnonzero(np.diff(idx, prepend=-2) != 1)
    run_last = np.append(run_first[1:] - 1, idx.size - 1)
    return b"\n".join(buf[starts[idx[a]] : ends[idx[b]]] for a, b in zip(run_first, run_last, strict=True)) + b"\n"


def _read_block(
    path: Path, codec: str, buf: bytes, first_line: int, report: LoadReport, errors: str
) -> tuple[dict[str, object], int]:
    """The plays of one block of whole lines (the last block may end without an end-of-line)."""
    starts, ends, rest = split_lines(buf)
    open_end = rest < len(buf)
    if open_end:
        starts, ends = np.append(starts, rest), np.append(ends, len(buf))
    n = len(starts)
    line_no = first_line + np.arange(n)
    fields = np.where(ends == starts, 0, count_in_lines(buf, 9, starts, ends) + 1)
    nul = count_in_lines(buf, 0, starts, ends) > 0
    width = fields == len(LASTFM_FIELDS)
    bad: list[tuple[int, str]] = [
        (int(line_no[i]), f"expected {len(LASTFM_FIELDS)} tab-separated fields, found {fields[i]}"
         + (f"; {OPEN_END}" if open_end and i == n - 1 else ""))
        for i in np.flatnonzero(~width)
    ] + [(int(line_no[i]), "holds a NUL byte") for i in np.flatnonzero(nul & width)]
    idx = np.flatnonzero(width & ~nul)
    df, micros, todo = _parse(path, codec, _lines(buf, starts, ends, idx), idx.size)
    empty = ((df["userid"] == "") | (df["track"] == "")).to_numpy(bool)
    no_time = np.zeros(len(df), dtype=bool)
    if todo.any():
        time = pd.to_datetime(df["timestamp"][todo], utc=True, errors="coerce", format="ISO8601")
        micros[todo] = time.dt.tz_convert(None).to_numpy(dtype="datetime64[us]").view(np.int64)  # NaT: not kept
        no_time[todo] = time.isna().to_numpy(bool)
    no_time &= ~empty
    # a play after tomorrow (UTC) has a wrong timestamp: its place in the sessions cannot be known
    tomorrow = (np.datetime64("now", "us") + np.timedelta64(1, "D")).astype(np.int64)
    future = ~(empty | no_time) & (micros > tomorrow)
    bad += [(int(line_no[idx[i]]), "empty user id or track name") for i in np.flatnonzero(empty)]
    bad += [(int(line_no[idx[i]]), f"unparsable timestamp {df['timestamp'].iat[i]!r}") for i in np.flatnonzero(no_time)]
    bad += [(int(line_no[idx[i]]), f"timestamp {df['timestamp'].iat[i]!r} is in the future")
            for i in np.flatnonzero(future)]
    bad.sort()
    if bad and errors == "raise":
        raise CatalogError(f"{path}, line {bad[0][0]}: {bad[0][1]}")
    for line, reason in bad:
        report.drop(line, f"{reason} ({path.name})")
    no_time |= future
    keep = ~(empty | no_time)
    if open_end and idx.size and idx[-1] == n - 1 and keep[-1]:
        report.change(int(line_no[-1]), f"{OPEN_END}: kept as read, check its track name {df['track'].iat[-1]!r} "
                                        f"({path.name})")
    no_id = (df["track_id"] == "").to_numpy(bool)
    alt = (df["artist"][no_id] + " - " + df["track"][no_id]) if no_id.any() else df["track_id"][no_id]
    return {"userid": df["userid"], "us": micros, "track_id": df["track_id"], "alt": alt, "no_id": no_id,
            "artist": df["artist"], "track": df["track"], "keep": keep}, n


def load_lastfm_tsv(
    paths: list[Path],
    session_gap_minutes: float = 20.0,
    features: Catalog | None = None,
    errors: str = "report",
    name: str | None = None,
    encoding: str | None = None,
) -> Catalog:
    """Load Last.fm-1K style logs as a `Catalog` of id-only tracks and ordered listening sessions."""
    if isinstance(session_gap_minutes, bool) or not isinstance(session_gap_minutes, (int, float)):
        raise TypeError(f"session_gap_minutes must be a number of minutes, got {session_gap_minutes!r}")
    if not session_gap_minutes > 0:
        raise ValueError(f"session_gap_minutes must be positive, got {session_gap_minutes}")
    report = LoadReport(source=", ".join(str(p) for p in paths))
    blocks = []
    for path in paths:
        if not path.exists():
            raise FileNotFoundError(f"listening log not found: {path}")
        lines = 0
        codec, bufs = utf8_blocks(path, encoding)
        for k, buf in enumerate(bufs):
            if k == 0:
                _check_separator(path, buf)
            block, n = _read_block(path, codec, buf, lines + 1, report, errors)
            lines += n
            blocks.append(block)
        if lines == 0:
            raise CatalogError(f"{path}: the file is empty")
        report.rows_read += lines
    plays = {c: _concat([b[c] for b in blocks]) for c in blocks[0]}
    if not plays["keep"].any():
        raise CatalogError(f"{report.source}: every line was dropped\n{report.summary()}")
    return _sessions(plays, session_gap_minutes, features, report, name or paths[0].name)


def _concat(parts: list) -> object:
    if isinstance(parts[0], np.ndarray):
        return np.concatenate(parts)
    return pd.concat(parts, ignore_index=True)


def _track_keys(plays: dict) -> tuple[np.ndarray, np.ndarray]:
    """Each play's track key code, and the keys: the MusicBrainz id, else "artist - track".

    Ids and "artist - track" keys are factorized apart (an id never holds " - "), so that the
    "artist - track" strings are built only for the plays without an id.
    """
    no_id = plays["no_id"]
    id_code, ids = pd.factorize(plays["track_id"])
    alt_code, alts = pd.factorize(plays["alt"]) if len(plays["alt"]) else (np.zeros(0, np.int64), np.zeros(0, object))
    code = id_code.astype(np.int64)
    code[no_id] = len(ids) + alt_code
    return code, np.concatenate([np.asarray(ids, dtype=object), np.asarray(alts, dtype=object)])


def _sessions(plays: dict, gap_minutes: float, features: Catalog | None, report: LoadReport, name: str) -> Catalog:
    """Sort the kept plays by (user, time), stable; cut sessions at gaps; tracks in order of first play.

    Strings are factorized once (dropped lines included) and everything after works on integer codes.
    """
    kept = np.flatnonzero(plays["keep"])
    user_code, users = pd.factorize(plays["userid"], sort=True)
    key_code, keys = _track_keys(plays)
    us = plays["us"][kept]
    order = kept[np.lexsort((us, user_code[kept]))]  # stable: equal (user, time) keep their file order
    sorted_key = key_code[order]
    used = np.flatnonzero(np.bincount(sorted_key, minlength=len(keys)))
    compact = np.full(len(keys), -1, dtype=np.int64)
    compact[used] = np.arange(used.size)
    keys = keys[used]
    sorted_key = compact[sorted_key]
    first_pos = np.full(len(keys), len(order), dtype=np.int64)
    np.minimum.at(first_pos, sorted_key, np.arange(len(order)))
    track_order = np.argsort(first_pos, kind="stable")  # keys by first play in sorted order
    row_of_key = np.empty(len(keys), dtype=np.int64)
    row_of_key[track_order] = np.arange(len(keys))
    rows = row_of_key[sorted_key]
    first_play = order[first_pos[track_order]]
    tracks = id_only_tracks(
        keys[track_order].tolist(),
        plays["track"].iloc[first_play].astype(str).tolist(),
        plays["artist"].iloc[first_play].astype(str).tolist(),
        [""] * len(keys),
    )
    su, st = user_code[order], plays["us"][order]
    cut = (np.diff(su) != 0) | (np.diff(st) / 1e6 > gap_minutes * 60)
    bounds = np.flatnonzero(cut) + 1
    starts = np.concatenate([[0], bounds])
    session_users = np.asarray(users, dtype=object)[su[starts]]
    stamps = np.datetime_as_string(st[starts].astype("datetime64[us]").astype("datetime64[m]"), unit="m")
    titles = [f"{u} {t.replace('T', ' ')}" for u, t in zip(session_users.tolist(), stamps.tolist(), strict=True)]
    ends = np.append(bounds, len(rows))
    pls = [rows[a:b] for a, b in zip(starts.tolist(), ends.tolist(), strict=True)]
    report.note(f"{len(pls)} sessions split at {gap_minutes:g}-minute gaps from {len(order)} plays")
    if features is not None:
        tracks = attach_features(tracks, features, report)
    report_missing_features(tracks, report)
    playlists = Playlists(pls, titles, ordered=True, users=[str(u) for u in session_users])
    return Catalog(tracks, playlists, name=name, report=report)
