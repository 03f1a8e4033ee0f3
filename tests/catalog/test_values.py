from __future__ import annotations

import numpy as np
import pandas as pd

from musicgym.catalog.values import parse_bool, parse_float, parse_year, track_id_problems


def test_parse_float_is_correctly_rounded_for_seventeen_digit_strings():
    """pandas before 3.1 reads some of these one unit in the last place off; the loaders must not."""
    x = np.random.default_rng(0).random(5000) * np.array([1, 1e3, 1e-5, -300, 2e5])[np.arange(5000) % 5]
    text = pd.Series([f"{v:.17g}" for v in x], dtype=object)
    assert np.array_equal(parse_float(text).to_numpy(), x)


def test_parse_float_marks_what_it_cannot_read():
    got = parse_float(pd.Series(["1", " 2.5 ", "1e3", "x", "", "1,5", "inf", "0x10"]))
    assert got.iloc[:3].tolist() == [1.0, 2.5, 1000.0] and got.iloc[3:6].isna().all() and got.iloc[6] == np.inf
    assert np.isnan(got.iloc[7])


def test_parse_bool_and_year():
    assert parse_bool(pd.Series(["True", "FALSE", "1", "0"])).tolist() == [1.0, 0.0, 1.0, 0.0]
    assert parse_bool(pd.Series(["maybe", "", "yes", "2", "1.0"])).isna().all()
    assert parse_year(pd.Series(["2019-06-14", "1960", "60s", "10s", "?"])).tolist()[:4] == [2019.0, 1960.0, 1960.0, 2010.0]


def test_track_id_problems_name_each_kind():
    ids, problems = track_id_problems(
        pd.Series(["spotify:track:4uLU6hMCjMI75M1A2tKUQC", "", " x ", "spotify:artist:abc", "spotify:track:", "a b",
                   "https://open.spotify.com/intl-de/track/4uLU6hMCjMI75M1A2tKUQC?si=1"]), "id")
    assert ids.tolist()[0] == ids.tolist()[-1] == "4uLU6hMCjMI75M1A2tKUQC" and ids.tolist()[2] == "x"
    assert problems.tolist()[0] == problems.tolist()[2] == problems.tolist()[-1] == ""
    assert "empty track id" in problems[1] and "a Spotify artist URI" in problems[3]
    assert "empty track id" in problems[4] and "holds whitespace" in problems[5]
    _, problems = track_id_problems(pd.Series(["spotify:track:ab-c"]), "uri")
    assert "malformed Spotify track URI in column 'uri'" in problems[0]
