from __future__ import annotations

import numpy as np
import pytest

from musicgym.catalog import CatalogError
from musicgym.catalog.textfile import decode, detect_delimiter, split_lines, utf8_blocks


def test_split_lines_knows_every_line_end():
    buf = b"a\nb\r\nc\rd\r\n\ne"
    starts, ends, rest = split_lines(buf)
    assert [buf[s:e] for s, e in zip(starts, ends, strict=True)] == [b"a", b"b", b"c", b"d", b""]
    assert buf[rest:] == b"e"
    assert split_lines(b"x\n")[2] == 2 and split_lines(b"")[0].size == 0


@pytest.mark.parametrize("header,sep", [("a,b;c", ","), ("a;b;c,d", ";"), ("a\tb\tc", "\t"), ("a|b|c", "|"), ("abc", ","),
                                        ('"a;b",c', ",")])
def test_detect_delimiter(header, sep):
    assert detect_delimiter(header) == sep


def test_decode_errors_name_line_and_column(tmp_path):
    with pytest.raises(CatalogError, match=r"f\.csv: not valid UTF-8 text: byte\(s\) ff at line 2, column 3"):
        decode(tmp_path / "f.csv", b"ab\ncd\xffe\n", None)
    with pytest.raises(CatalogError, match=r"f\.csv: not valid utf-16 text.*line 2, column 2"):
        decode(tmp_path / "f.csv", "a\nb".encode("utf-16") + b"\x00\xd8", None)
    assert decode(tmp_path / "f.csv", "\ufeffé".encode(), None) == ("é", "utf-8-sig")


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "latin-1"])
@pytest.mark.parametrize("block", [1, 3, 64])
def test_utf8_blocks_are_whole_lines_whatever_the_block_size(tmp_path, encoding, block):
    text = "ab\nсd\n\n坂本\r\nlast" if encoding != "latin-1" else "ab\ncd\n\né\r\nlast"
    p = tmp_path / "f.txt"
    p.write_bytes(text.encode(encoding))
    _, blocks = utf8_blocks(p, "latin-1" if encoding == "latin-1" else None, block_bytes=block)
    blocks = list(blocks)
    assert all(b.endswith(b"\n") for b in blocks[:-1])
    assert b"".join(blocks).decode() == text


def test_utf8_blocks_error_names_the_line_of_a_bad_byte_in_a_large_file(tmp_path):
    p = tmp_path / "big.tsv"
    p.write_bytes(b"ok line\n" * 700_000 + b"bad \xe9 line\n")
    codec, blocks = utf8_blocks(p, None)
    from musicgym.catalog.textfile import locate_decode_error

    err = locate_decode_error(p, codec)
    assert "at line 700001, column 5" in str(err)
    assert np.sum([len(b) for b in blocks]) == p.stat().st_size
