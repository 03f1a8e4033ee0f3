r"""Reading data files as text: encodings, byte-order marks, line ends and delimiters.

Every loader reads its files through here, so that an encoding problem is a `CatalogError` that names
the file, the line and the column, and so that each loader can tell whether the file's last line has
its end-of-line (a file cut short in its last line, e.g. by an interrupted download, has none).

Encodings: with ``encoding=None`` a file is read as UTF-8, with or without a byte-order mark (BOM); a
file that starts with a UTF-16 or UTF-32 BOM is read as UTF-16 / UTF-32. Any other encoding must be
named (``load_catalog(..., encoding="latin-1")``): it is never guessed, since a wrong guess would
silently change names. Lines end at ``\n``, ``\r\n`` or a lone ``\r``, as Python's `csv` reads them.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from musicgym.catalog.model import CatalogError

#: byte-order marks, longest first (a UTF-32-LE BOM starts with the UTF-16-LE one)
BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
#: delimiters `detect_delimiter` tries, with the words used in messages
DELIMITERS: dict[str, str] = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
_HINT = "save the file as UTF-8, or name its encoding: load_catalog(..., encoding='latin-1')"


def check_encoding(encoding: str | None) -> None:
    """Raise ValueError unless `encoding` is None or a codec Python knows."""
    if encoding is None:
        return
    if not isinstance(encoding, str):
        raise TypeError(f"encoding must be a codec name such as 'latin-1' or None, got {encoding!r}")
    try:
        codecs.lookup(encoding)
    except LookupError as e:
        raise ValueError(f"encoding {encoding!r} is not a codec Python knows (e.g. 'utf-8', 'latin-1')") from e


def resolve_encoding(head: bytes, encoding: str | None) -> str:
    """The codec to read a file that starts with `head`: its BOM's, else `encoding`, else UTF-8."""
    for bom, codec in BOMS:
        if head.startswith(bom):
            return codec
    return "utf-8" if encoding is None else encoding


def ascii_compatible(codec: str) -> bool:
    """Whether `codec` writes line ends, tabs and ASCII delimiters as single ASCII bytes."""
    if codecs.lookup(codec).name == "utf-8-sig":
        return True
    try:
        return "\n\r\t,;|\"az".encode(codec) == b"\n\r\t,;|\"az"
    except UnicodeError:
        return False


def decode(path: Path, data: bytes, encoding: str | None) -> tuple[str, str]:
    """Decode a whole file; returns (text, codec). A BOM is removed; bad bytes raise `CatalogError`."""
    codec = resolve_encoding(data[:4], encoding)
    try:
        return data.decode(codec), codec
    except UnicodeDecodeError as e:
        raise decode_error(path, data, codec, e) from None


def decode_error(
    path: Path, data: bytes, codec: str, e: UnicodeDecodeError, lines_before: int = 0
) -> CatalogError:
    """A `CatalogError` naming the file, line, column and bytes where `data` stops being `codec` text.

    `lines_before` is the number of lines of the file before `data` (when `data` is a piece of it).
    """
    prefix = data[: e.start]
    if ascii_compatible(codec):
        line = lines_before + prefix.count(b"\n") + 1
        column = e.start - (prefix.rfind(b"\n") + 1) + 1
    else:
        text = prefix.decode(codec, errors="replace")
        line = text.count("\n") + 1
        column = len(text) - (text.rfind("\n") + 1) + 1
    bad = data[e.start : min(e.end, e.start + 4)].hex(" ")
    name = "UTF-8" if codecs.lookup(codec).name.startswith("utf-8") else codec
    hint = _HINT if name == "UTF-8" else f"check that {codec!r} is the file's encoding"
    return CatalogError(
        f"{path}: not valid {name} text: byte(s) {bad} at line {line}, column {column} ({e.reason}); {hint}"
    )


def locate_decode_error(path: Path, codec: str) -> CatalogError:
    """Find the first undecodable byte of a (possibly large) file: the error path of `utf8_blocks`' readers."""
    if not ascii_compatible(codec):
        data = path.read_bytes()
        try:
            data.decode(codec)
        except UnicodeDecodeError as e:
            return decode_error(path, data, codec, e)
        return CatalogError(f"{path}: not valid {codec} text")
    lines_before, skip = 0, len(codecs.BOM_UTF8) if codec == "utf-8-sig" else 0
    with path.open("rb") as fh:
        fh.seek(skip)
        rest = b""
        while True:
            block = fh.read(1 << 22)
            chunk = rest + block
            cut = chunk.rfind(b"\n") + 1 if block else len(chunk)
            piece, rest = chunk[:cut], chunk[cut:]
            try:
                piece.decode("utf-8" if codec == "utf-8-sig" else codec)
            except UnicodeDecodeError as e:
                return decode_error(path, piece, codec, e, lines_before)
            lines_before += piece.count(b"\n")
            if not block:
                return CatalogError(f"{path}: not valid {codec} text")


def utf8_blocks(path: Path, encoding: str | None, block_bytes: int = 1 << 24) -> tuple[str, Iterator[bytes]]:
    """The file's codec, and the file as UTF-8 bytes in blocks of whole lines (the last may lack its end-of-line).

    A UTF-8 file (BOM removed) is passed on as read, not validated here: its reader checks the text it
    parses and calls `locate_decode_error` on failure. A file in another encoding is decoded (errors
    raise a `CatalogError` naming line and column) and encoded as UTF-8.
    """
    with path.open("rb") as fh:
        codec = resolve_encoding(fh.read(4), encoding)
    if codecs.lookup(codec).name in ("utf-8", "utf-8-sig"):
        return codec, _binary_blocks(path, len(codecs.BOM_UTF8) if codec == "utf-8-sig" else 0, block_bytes)
    return codec, _decoded_blocks(path, codec, block_bytes)


def _binary_blocks(path: Path, skip: int, block_bytes: int) -> Iterator[bytes]:
    with path.open("rb") as fh:
        fh.seek(skip)
        rest = b""
        while block := fh.read(block_bytes):
            chunk = rest + block
            cut = chunk.rfind(b"\n") + 1
            if cut:
                yield chunk[:cut]
            rest = chunk[cut:]
    if rest:
        yield rest


def _decoded_blocks(path: Path, codec: str, block_chars: int) -> Iterator[bytes]:
    rest = ""
    with path.open(encoding=codec, errors="strict", newline="") as fh:
        while True:
            try:
                text = fh.read(block_chars)
            except UnicodeDecodeError:
                raise locate_decode_error(path, codec) from None
            if not text:
                break
            text = rest + text
            cut = text.rfind("\n") + 1
            if cut:
                yield text[:cut].encode("utf-8")
            rest = text[cut:]
    if rest:
        yield rest.encode("utf-8")


def split_lines(buf: bytes) -> tuple[np.ndarray, np.ndarray, int]:
    """Where each complete line of `buf` starts and its content ends (end-of-line excluded).

    Returns:
        (starts, ends, rest): int64 arrays over the complete lines, and the offset of an unterminated
        last line (``len(buf)`` if the buffer ends with an end-of-line).
    """
    a = np.frombuffer(buf, np.uint8)
    terms = np.flatnonzero(a == 10)
    has_cr = buf.find(b"\r") >= 0
    if has_cr:
        cr = np.flatnonzero(a == 13)
        after = cr + 1
        lone = cr[(after >= a.size) | (a[np.minimum(after, a.size - 1)] != 10)]
        terms = np.union1d(terms, lone)
    starts = np.concatenate([[0], terms[:-1] + 1]).astype(np.int64) if terms.size else np.zeros(0, np.int64)
    ends = terms.astype(np.int64)
    if has_cr:  # a \r\n line ends before its \r
        crlf = (a[ends] == 10) & (ends > starts) & (a[np.maximum(ends - 1, 0)] == 13)
        ends = ends - crlf
    rest = int(terms[-1]) + 1 if terms.size else 0
    return starts, ends, rest


def count_in_lines(buf: bytes, byte: int, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """How many times `byte` occurs in each line [start, end) of `buf` (lines in order, not overlapping)."""
    if starts.size == 0 or buf.find(bytes([byte])) < 0:
        return np.zeros(starts.size, dtype=np.int64)
    pos = np.flatnonzero(np.frombuffer(buf, np.uint8) == byte)
    return np.searchsorted(pos, ends) - np.searchsorted(pos, starts)


def detect_delimiter(header: str) -> str:
    """The delimiter of `DELIMITERS` that splits a header line into the most fields (comma on a tie)."""
    best, n_best = ",", 1
    for d in DELIMITERS:
        try:
            n = len(next(csv.reader([header], delimiter=d), []))
        except csv.Error:
            continue
        if n > n_best:
            best, n_best = d, n
    return best
