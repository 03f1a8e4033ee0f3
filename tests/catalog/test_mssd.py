from __future__ import annotations

import json

import numpy as np
import pytest

from musicgym.catalog import CatalogError, MSSDLog, load_mssd_log
from musicgym.catalog.mssd import MSSD_COLUMNS
from tests.conftest import shared


def play(session, pos, length, s1=0, s2=0, s3=0, ns=1, start="trackdone", **over):
    row = dict(zip(MSSD_COLUMNS, [session, pos, length, f"t_{session}{pos}", s1, s2, s3, ns, 0, 1, 0, 0, 0, 0, "true", 12,
                                  "2018-07-15", "true", "radio", start, "trackdone"], strict=True))
    row.update(over)
    return ",".join(str(row[c]) for c in MSSD_COLUMNS)


def write(tmp_path, rows, header=",".join(MSSD_COLUMNS), name="log.csv"):
    p = tmp_path / name
    p.write_text("\n".join([header, *rows]) + "\n")
    return p


def test_the_public_sample_loads_and_gives_its_statistics():
    log = load_mssd_log(shared("mssd_skip_sample/very_small.csv"))
    assert isinstance(log, MSSDLog) and len(log.plays) == 201 and log.n_sessions == 11
    assert log.report.dropped == [] and log.report.changed == []
    p = log.plays
    assert log.skip_rates()["skip_2"] == pytest.approx(82 / 201)  # 0.41 as the sample's README says
    assert list(p["session_position"].iloc[:20]) == list(range(1, 21))
    by_pos = log.skip_rate_by_position()
    for k in (1, 11, 20):
        assert by_pos[k] == pytest.approx(p.loc[p["session_position"] == k, "skip_2"].mean())
    # sessions of length 11, 15, 15 and eight of 20
    hazard = log.session_end_hazard()
    assert hazard[11] == pytest.approx(1 / 11) and hazard[15] == pytest.approx(2 / 10) and hazard[20] == 1.0
    assert hazard.drop([11, 15, 20]).eq(0).all()
    json.dumps(log.calibration_targets())


def test_skip_after_previous_by_both_readings():
    log = load_mssd_log(shared("mssd_skip_sample/very_small.csv"))
    rows = log.plays.to_dict("records")
    pairs = [(a, b) for a, b in zip(rows, rows[1:], strict=False)
             if a["session_id"] == b["session_id"] and b["session_position"] == a["session_position"] + 1]
    after = log.skip_after_previous()
    by_prev = [b["skip_2"] for a, b in pairs if a["skip_2"]]
    by_fwd = [b["skip_2"] for a, b in pairs if b["hist_user_behavior_reason_start"] == "fwdbtn"]
    assert after.loc["previous skip_2", "p_skip_2_after_skip"] == pytest.approx(np.mean(by_prev))
    assert after.loc["reason_start fwdbtn", "p_skip_2_after_skip"] == pytest.approx(np.mean(by_fwd))
    assert after.loc["previous skip_2", "n_after_skip"] + after.loc["previous skip_2", "n_after_no_skip"] == len(pairs)
    # in this sample a skip is followed by a skip far more often than a play to the end is
    assert (after["p_skip_2_after_skip"] > after["p_skip_2_after_no_skip"] + 0.3).all()


def test_malformed_rows_are_dropped_with_line_and_reason(tmp_path):
    rows = [
        play("a", 1, 3, 1, 1, 1, 0),
        play("a", 2, 3, 0, 1, 1, 0, start="fwdbtn"),
        play("a", 3, 3, skip_2="maybe"),                  # line 4
        play("b", 0, 2),                                  # line 5
        play("b", 3, 2),                                  # line 6
        play("b", 1, 2, 1, 0, 1, 0),                      # line 7: skip_1 without skip_2
        play("b", 1, 2, 0, 0, 1, 1),                      # line 8: not_skipped and skip_3
        play("b", 1, 2),
        play("b", 2, 4),                                  # line 10: another session_length
        play("b", 1, 2),                                  # line 11: position repeats
        play("", 2, 2),                                   # line 12
        play("b", 2, 2, hour_of_day=24),                  # line 13
        play("b", 2, 2, 0, 0, 0, "1"),
    ]
    log = load_mssd_log(write(tmp_path, rows))
    reasons = {d.line: d.reason.removesuffix(" (log.csv)") for d in log.report.dropped}
    assert reasons == {
        4: "skip_2 is not true/false/0/1: 'maybe'",
        5: "session_position is not a whole number from 1: '0'",
        6: "session_position 3 is beyond session_length 2",
        7: "skip_1 is true but skip_2 false (skip_1 implies skip_2 implies skip_3)",
        8: "not_skipped is true but skip_3 is true too",
        10: "session_length 4 differs from 2, that of the session's first row",
        11: "session 'b' repeats position 1",
        12: "empty session_id",
        13: "hour_of_day is not a whole number from 0 to 23: '24'",
    }
    assert log.plays[["session_id", "session_position"]].values.tolist() == [["a", 1], ["a", 2], ["b", 1], ["b", 2]]
    assert log.skip_rates() == {"skip_1": 0.25, "skip_2": 0.5, "skip_3": 0.5, "not_skipped": 0.5}
    assert any("1 of 2 sessions miss some of their positions" in n for n in log.report.notes)
    after = log.skip_after_previous()
    assert after.loc["previous skip_2"].tolist() == [1.0, 0.0, 1, 1]
    assert after.loc["reason_start fwdbtn"].tolist() == [1.0, 0.0, 1, 1]
    # session b (length 2) ends at 2, session a (length 3, position 3 dropped) at 3; none reaches 4
    np.testing.assert_array_equal(log.session_end_hazard(4).to_numpy(), [0.0, 0.5, 1.0, np.nan])


def test_raise_mode_stops_at_the_first_bad_row(tmp_path):
    with pytest.raises(CatalogError, match=r"log\.csv, line 3: skip_2 is true but skip_3 false"):
        load_mssd_log(write(tmp_path, [play("a", 1, 2), play("a", 2, 2, 0, 1, 0, 0)]), errors="raise")


def test_missing_columns_are_named(tmp_path):
    header = ",".join(c for c in MSSD_COLUMNS if c not in ("skip_2", "hist_user_behavior_reason_start"))
    with pytest.raises(CatalogError, match=r"log\.csv: not an MSSD log: missing column\(s\) \['skip_2', 'hist_user_behavior_reason_start'\]"):
        load_mssd_log(write(tmp_path, ["x"], header=header))


def test_optional_columns_may_be_absent_and_rows_are_sorted(tmp_path):
    header = ",".join(MSSD_COLUMNS[:8] + ("hist_user_behavior_reason_start",))
    rows = ["b,1,1,t1,False,False,False,True,trackdone", "a,2,2,t2,1,1,1,0,fwdbtn", "a,1,2,t3,0,0,0,1,clickrow"]
    log = load_mssd_log(write(tmp_path, rows, header=header))
    assert log.plays["session_id"].tolist() == ["a", "a", "b"] and log.plays["session_position"].tolist() == [1, 2, 1]
    assert log.plays["skip_1"].dtype == bool and log.report.dropped == []


def test_semicolon_separated_and_cut_short_logs(tmp_path):
    p = tmp_path / "log.csv"
    p.write_text("\n".join([";".join(MSSD_COLUMNS), play("a", 1, 2).replace(",", ";"), play("a", 2, 2).replace(",", ";")]))
    log = load_mssd_log(p)
    assert len(log.plays) == 2 and any("semicolon-separated" in n for n in log.report.notes)
    assert [c.line for c in log.report.changed] == [3]


def test_every_row_dropped_is_an_error_naming_the_file(tmp_path):
    with pytest.raises(CatalogError, match=r"log\.csv: every row was dropped"):
        load_mssd_log(write(tmp_path, [play("a", 5, 2)]))


@pytest.mark.parametrize("value", ["inf", "1e300", "-inf", "nan", "9007199254740993"])
def test_huge_or_infinite_positions_are_dropped_not_crashing(tmp_path, value):
    log = load_mssd_log(write(tmp_path, [play("a", 1, 1), play("a", value, 1)]))
    assert len(log.plays) == 1
    (d,) = log.report.dropped
    assert d.line == 3 and "session_position is not a whole number from 1" in d.reason
