"""musicgym.realism: statistics of logs, targets and their sources, simulation, calibration and the report."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from musicgym.listeners.session import DEFAULT_PARAMS_PATH, SCHEMA_VERSION, SessionListener, SessionParams, load_params
from musicgym.realism import measure
from musicgym.realism.calibrate import FREE, Simulator, calibrate
from musicgym.realism.report import policy_comparison, realism_report
from musicgym.realism.simulate import behaviour_per_session, behaviour_sequences, behaviour_statistics, simulate
from musicgym.realism.stats import STATISTICS, plays_from_mssd, statistics
from musicgym.realism.targets import (
    BEHAVIOUR_TARGETS,
    LASTFM_ARTIST_REPEAT,
    LASTFM_LENGTH_MEDIAN,
    LASTFM_REACH,
    LASTFM_TRACK_REPEAT,
    LISTENER_TARGETS,
    MPD_TRANSITION_RATIO,
    MSSD_RATES,
    SHUFFLE_SHARE,
    TT_TRANSITION_RATIO,
    Target,
    targets_from_mssd,
)
from tests.conftest import shared


def mssd_log(sessions: list[list[tuple[bool, bool, bool, bool]]], reason_start: bool = False) -> pd.DataFrame:
    """An MSSD-format log: per session a list of (skip_1, skip_2, skip_3, not_skipped) plays."""
    rows = []
    for s, plays in enumerate(sessions):
        for k, (a, b, c, d) in enumerate(plays):
            row = {"session_id": f"s{s}", "session_position": k + 1, "session_length": len(plays),
                   "skip_1": a, "skip_2": b, "skip_3": c, "not_skipped": d}
            if reason_start:
                row["hist_user_behavior_reason_start"] = "fwdbtn" if k and plays[k - 1][1] else "trackdone"
            rows.append(row)
    return pd.DataFrame(rows)


SKIP = (True, True, True, False)
PLAY = (False, False, False, True)
LATE = (False, False, True, False)


# ---------------------------------------------------------------------------------------------------- statistics
def test_statistics_of_a_hand_made_mssd_log():
    # session a: 10 plays, skips at positions 1 and 2; session b: 12 plays, all heard but a late skip at 12
    a = [SKIP, SKIP] + [PLAY] * 8
    b = [PLAY] * 11 + [LATE]
    st = statistics(plays_from_mssd(mssd_log([a, b])))
    assert st["skip_1"] == pytest.approx(2 / 22) and st["skip_3"] == pytest.approx(3 / 22)
    assert st["not_skipped"] == pytest.approx(19 / 22)
    assert st["skip_2@1"] == 0.5 and st["skip_2@2"] == 0.5 and st["skip_2@3"] == 0.0
    assert np.isnan(st["skip_2@13"])
    # plays at positions >= 2 after a skip_2: only session a's position 2 (skipped) and 3 (played); no other
    # play is a skip_2 (b's late skip is skip_3 only)
    assert st["skip_2_after_skip"] == 0.5 and st["skip_2_after_play"] == 0.0
    assert st["end@10"] == 0.5 and st["end@11"] == 0.0 and st["end@12"] == 1.0 and np.isnan(st["end@13"])
    assert set(st) == set(STATISTICS)


def test_a_session_cut_at_20_plays_does_not_end_there():
    st = statistics(plays_from_mssd(mssd_log([[PLAY] * 20])))
    assert all(st[f"end@{k}"] == 0.0 for k in range(10, 20))


def test_sessions_shorter_than_10_plays_count_only_in_reach():
    st = statistics(plays_from_mssd(mssd_log([[SKIP] * 5, [PLAY] * 10])))
    assert st["skip_2"] == 0.0 and st["reach@5"] == 1.0 and st["reach@10"] == 0.5


def test_the_forward_button_marks_plays_after_a_skip_when_the_log_has_it():
    log = mssd_log([[SKIP, PLAY, SKIP, SKIP, PLAY] + [PLAY] * 5], reason_start=True)
    log.loc[1, "hist_user_behavior_reason_start"] = "clickrow"  # the user picked the track after the skip
    # started by the forward button: positions 4 (skipped) and 5 (played)
    assert statistics(plays_from_mssd(log))["skip_2_after_skip"] == 0.5
    # without the column, a play after a skip_2 counts: positions 2, 4 and 5
    no_column = log.drop(columns="hist_user_behavior_reason_start")
    assert statistics(plays_from_mssd(no_column))["skip_2_after_skip"] == pytest.approx(1 / 3)


def test_a_log_missing_a_column_or_repeating_a_position_is_an_error():
    log = mssd_log([[PLAY] * 10])
    with pytest.raises(ValueError, match="missing"):
        plays_from_mssd(log.drop(columns="skip_3"))
    with pytest.raises(ValueError, match="repeats"):
        plays_from_mssd(pd.concat([log, log.iloc[:1]]))
    bad = log.astype({"skip_1": object})
    bad.loc[0, "skip_1"] = "maybe"
    with pytest.raises(ValueError, match="boolean"):
        plays_from_mssd(bad)


def test_statistics_of_the_real_mssd_sample():
    log = pd.read_csv(shared(measure.MSSD_SAMPLE))
    st = statistics(plays_from_mssd(log))
    assert st["skip_2"] == pytest.approx(log["skip_2"].mean())
    after = (log["hist_user_behavior_reason_start"] == "fwdbtn") & (log["session_position"] > 1)
    assert st["skip_2_after_skip"] == pytest.approx(log.loc[after, "skip_2"].mean())


# ---------------------------------------------------------------------------------------------------- targets
def test_every_target_has_a_source_a_tolerance_and_a_statistic():
    names = [t.name for t in LISTENER_TARGETS]
    assert len(names) == len(set(names)) and set(names) <= set(STATISTICS)
    for t in (*LISTENER_TARGETS, *BEHAVIOUR_TARGETS):
        assert t.tolerance > 0 and len(t.source) > 20 and 0 <= t.value
    rates = {t.name: t.value for t in LISTENER_TARGETS if t.name in MSSD_RATES}
    assert rates == MSSD_RATES


def test_targets_from_your_own_log_widen_tolerances_to_its_sample_size():
    log = pd.read_csv(shared(measure.MSSD_SAMPLE))
    targets = {t.name: t for t in targets_from_mssd(log)}
    assert not any(n.startswith("reach@") for n in targets)
    assert targets["skip_2"].value == pytest.approx(log["skip_2"].mean())
    assert targets["skip_2"].tolerance == pytest.approx(2 * np.sqrt(0.408 * 0.592 / 201), abs=1e-3)
    assert targets["end@11"].tolerance > 0.02


def test_the_data_derived_constants_are_what_measure_computes_from_the_data():
    lastfm = measure.lastfm_sessions(shared(measure.LASTFM_SAMPLE))
    for k, v in LASTFM_REACH.items():
        assert lastfm[f"reach@{k}"] == pytest.approx(v, abs=5e-4)
    assert lastfm["length_median"] == LASTFM_LENGTH_MEDIAN
    assert lastfm["artist_repeat_rate"] == pytest.approx(LASTFM_ARTIST_REPEAT, abs=5e-5)
    assert lastfm["track_repeat_rate"] == pytest.approx(LASTFM_TRACK_REPEAT, abs=5e-5)
    mssd = measure.mssd_sample(shared(measure.MSSD_SAMPLE))
    assert mssd["shuffle_share"] == pytest.approx(SHUFFLE_SHARE, abs=5e-4)
    tt = measure.playlist_transitions(shared(measure.TIDYTUESDAY), shared(measure.MPD_SLICE))
    assert tt["tidytuesday_ratio"] == pytest.approx(TT_TRANSITION_RATIO, abs=5e-4)
    assert tt["mpd_ratio"] == pytest.approx(MPD_TRANSITION_RATIO, abs=5e-4)


def test_lastfm_sessions_split_at_20_minute_gaps(tmp_path):
    rows = [("u", "2009-01-01T10:00:00Z", "", "A", "", "x"), ("u", "2009-01-01T10:05:00Z", "", "A", "", "y"),
            ("u", "2009-01-01T10:09:00Z", "", "B", "", "x"), ("u", "2009-01-01T11:00:00Z", "", "A", "", "x")]
    path = tmp_path / "log.tsv"
    path.write_text("".join("\t".join(r) + "\n" for r in rows[::-1]))  # Last.fm logs run newest first
    got = measure.lastfm_sessions(path)
    assert got["sessions"] == 2 and got["length_median"] == 2.0 and got["reach@3"] == 0.5
    assert got["artist_repeat_rate"] == 0.25 and got["track_repeat_rate"] == 0.0


def test_transition_ratio_is_1_for_random_order_and_small_for_sorted_order():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5000, 1))
    shuffled = [rng.permutation(5000)[:100] for _ in range(50)]
    walk = [np.argsort(x[:, 0])[i : i + 100] for i in range(0, 5000, 100)]
    assert measure.transition_ratio(x, shuffled) == pytest.approx(1.0, abs=0.05)
    assert measure.transition_ratio(x, walk) < 0.05


def test_measure_skips_absent_files(tmp_path, capsys):
    measure.main([str(tmp_path)])
    out = capsys.readouterr().out
    assert out.count("skipped") == 3


# ---------------------------------------------------------------------------------------------------- simulation
def test_the_behaviour_policy_plays_the_source_playlist_in_order_unless_shuffled(small_catalog):
    listener = SessionListener()
    listener.setup(small_catalog, 300)
    listener.sample(np.random.default_rng(0), np.arange(300))
    seq = behaviour_sequences(listener, np.random.default_rng(1), 5, shuffle_share=0.0)
    pls = listener.pop.playlists
    for s in range(300):
        pl = pls[listener.source_playlist[s]]
        assert list(seq[s, : min(5, len(pl))]) == list(pl[:5])
    shuffled = behaviour_sequences(listener, np.random.default_rng(1), 5, shuffle_share=1.0)
    in_order = [list(shuffled[s]) == list(pls[listener.source_playlist[s]][:5]) for s in range(300)]
    assert np.mean(in_order) < 0.1


def test_smooth_and_sampled_statistics_agree(default_catalog):
    sim = simulate(SessionListener(), default_catalog, 4000, seed=5, max_len=20)
    smooth, sampled = statistics(sim.plays(smooth=True)), statistics(sim.plays(smooth=False))
    for name in ("skip_1", "skip_2", "skip_3", "not_skipped", "skip_2_after_skip", "reach@5", "reach@10"):
        assert smooth[name] == pytest.approx(sampled[name], abs=0.03), name
    assert (sim.length >= 1).all() and (sim.length <= 20).all()


def test_behaviour_statistics_of_sessions_and_of_a_resample(default_catalog):
    sim = simulate(SessionListener(), default_catalog, 300, seed=0, max_len=30)
    per = behaviour_per_session(sim, default_catalog)
    full = behaviour_statistics(per)
    assert set(full) == {t.name for t in BEHAVIOUR_TARGETS}
    assert full == behaviour_statistics(per, np.arange(300))
    assert 0 < full["transition_ratio"] < 1 and 0 <= full["artist_repeat_rate"] < 1


# ---------------------------------------------------------------------------------------------------- calibration
def test_the_shipped_fit_belongs_to_the_default_catalog_and_meets_its_targets(default_catalog):
    doc = json.loads(DEFAULT_PARAMS_PATH.read_text())
    assert doc["schema_version"] == SCHEMA_VERSION and doc["seed"] == 0
    assert doc["catalog"]["fingerprint"] == default_catalog.fingerprint
    assert {t["name"] for t in doc["targets"]} == {t.name for t in LISTENER_TARGETS}
    assert all(t["within"] for t in doc["targets"])
    assert set(doc["free"]) == set(FREE)


@pytest.mark.slow
def test_the_shipped_fit_reproduces_its_recorded_simulated_values(default_catalog):
    doc = json.loads(DEFAULT_PARAMS_PATH.read_text())
    stats = Simulator(default_catalog, n_sessions=doc["simulation"]["sessions"], seed=doc["seed"]).statistics(
        load_params())
    for t in doc["targets"]:
        assert stats[t["name"]] == pytest.approx(t["simulated"], abs=1e-6), t["name"]


def test_calibrate_moves_a_displaced_parameter_back_and_writes_a_readable_fit(small_catalog, tmp_path):
    start = load_params().with_values(cut_2=load_params().cut_2 + 1.0, cut_3=load_params().cut_3 + 1.0)
    sim = Simulator(small_catalog, n_sessions=600, seed=0)
    truth = sim.statistics(load_params())
    targets = [Target(n, truth[n], 0.03, "the model itself") for n in ("skip_1", "skip_2", "skip_3")]
    out = tmp_path / "fit.json"
    doc = calibrate(small_catalog, targets, n_sessions=600, free=["gap_2"], base=start, max_evaluations=30, out=out)
    assert doc["params"]["cut_2"] == pytest.approx(load_params().cut_2, abs=0.15)
    assert doc["fit_error"]["targets_within"] == 3
    assert load_params(out) == SessionParams.from_dict(doc["params"])
    assert doc["catalog"]["fingerprint"] == small_catalog.fingerprint
    assert SessionListener(out).params.cut_2 == doc["params"]["cut_2"]


def test_calibrate_takes_your_mssd_log_as_targets(small_catalog):
    rng = np.random.default_rng(0)
    sessions = [[SKIP if rng.random() < 0.6 else PLAY for _ in range(rng.integers(10, 21))] for _ in range(60)]
    doc = calibrate(small_catalog, mssd_log(sessions), n_sessions=300, free=["cut_1"], max_evaluations=4)
    names = {t["name"] for t in doc["targets"]}
    assert "skip_2" in names and not any(n.startswith("reach@") for n in names)


def test_calibrate_errors_name_the_free_parameters(small_catalog):
    with pytest.raises(ValueError, match="accepted"):
        calibrate(small_catalog, free=["cut_9"])
    with pytest.raises(ValueError, match="weight > 0"):
        calibrate(small_catalog, BEHAVIOUR_TARGETS)


# ---------------------------------------------------------------------------------------------------- report
def test_the_report_tables_every_target_with_a_confidence_interval_and_plots(default_catalog, tmp_path):
    rep = realism_report(default_catalog, n_sessions=1500, n_boot=30, max_len=30)
    tab = rep.table
    assert len(tab) == len(LISTENER_TARGETS) + len(BEHAVIOUR_TARGETS)
    ok = tab[np.isfinite(tab["simulated"])]
    assert ((ok["ci_low"] <= ok["simulated"] + 1e-12) & (ok["simulated"] <= ok["ci_high"] + 1e-12)).all()
    assert (tab["within"] == ((tab["simulated"] - tab["real"]).abs() <= tab["tolerance"])).all()
    paths = rep.write(tmp_path)
    assert {p.name for p in paths} == {"realism.md", "realism.csv", "realism_skip_by_position.png",
                                       "realism_session_length.png"}
    assert all(p.stat().st_size > 0 for p in paths)
    assert "listener targets within tolerance" in (tmp_path / "realism.md").read_text()


@pytest.mark.slow
def test_the_report_runs_on_the_tidytuesday_catalog(tmp_path):
    from musicgym.catalog import load_catalog

    cat = load_catalog(str(shared(measure.TIDYTUESDAY)))
    rep = realism_report(cat, n_sessions=1000, n_boot=20)
    assert np.isfinite(rep.table.loc[rep.table["kind"] == "listener", "simulated"]).all()
    rep.write(tmp_path)


def test_the_policy_comparison_ranks_random_behaviour_and_greedy_by_skips(small_catalog):
    tab = policy_comparison(small_catalog, n_sessions=400, n_greedy=40, max_len=10).set_index("policy")
    assert tab.loc["random", "skip_2"] > tab.loc["behaviour", "skip_2"] > tab.loc["greedy", "skip_2"]
    assert tab.loc["greedy", "minutes"] > tab.loc["random", "minutes"]
