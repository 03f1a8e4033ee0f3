"""Regressions for what `experiments/hostile_inputs.py` found: each bad input is a named error (or a reported row)."""

from __future__ import annotations

import json
import re

import gymnasium as gym
import pytest

from musicgym.catalog import load_catalog

CATALOG = "synthetic-300"


# ------------------------------------------------------------------------------------------ envs
@pytest.mark.parametrize("env_id", ["MusicGym/TasteCatalog-v0", "MusicGym/PreferenceCatalog-v0",
                                    "MusicGym/SessionCatalog-v0"])
@pytest.mark.parametrize("kw,error,match", [
    ({"k": 0}, ValueError, "k"), ({"k": "20"}, TypeError, "k"),
    ({"n_random": -1}, ValueError, "n_random"), ({"n_random": float("nan")}, TypeError, "n_random"),
])
def test_catalog_mode_still_checks_k_and_n_random(env_id, kw, error, match):
    with pytest.raises(error, match=match):
        gym.make(env_id, catalog=CATALOG, **kw)
    gym.make(env_id, catalog=CATALOG, k=10, n_random=2)  # valid values stay accepted (a sweep's env_kwargs)


@pytest.mark.parametrize("env_id", ["MusicGym/TasteCatalog-v0", "MusicGym/SessionCatalog-v0"])
def test_catalog_mode_takes_the_default_k_on_a_catalog_smaller_than_it(env_id):
    env = gym.make(env_id, catalog="synthetic-12")  # k=20 is unused in catalog mode: no "k must be <= 12"
    env.reset(seed=0)
    env.step(0)


def test_session_catalog_mode_checks_n_recent():
    with pytest.raises(ValueError, match="n_recent must be an integer from 0 to k=20"):
        gym.make("MusicGym/SessionCatalog-v0", catalog=CATALOG, n_recent=25)


@pytest.mark.parametrize("kw,match", [({"like_threshold": 1.5}, "like_threshold"),
                                      ({"like_threshold": -0.5}, "like_threshold"),
                                      ({"reward_scale": 0}, "reward_scale")])
def test_playlist_listener_ranges(kw, match):
    with pytest.raises(ValueError, match=match):
        gym.make("MusicGym/Playlist-v0", catalog=CATALOG, **kw)


@pytest.mark.parametrize("horizon,error", [(-1, ValueError), ("3", TypeError), (0, ValueError)])
def test_plan_horizon_is_checked(horizon, error):
    with pytest.raises(error, match="plan_horizon"):
        gym.make("MusicGym/PlaylistPOMDP-v0", catalog=CATALOG, plan=True, plan_horizon=horizon)


def test_preferences_that_are_not_numbers_are_named():
    env = gym.make("MusicGym/Preference-v0", catalog=CATALOG)
    with pytest.raises(ValueError, match="preferences must be 21 numbers"):
        env.reset(seed=0, options={"preferences": "rock"})


# ------------------------------------------------------------------------------------------ vector env
def _vec():
    return gym.make_vec("MusicGym/Preference-v0", num_envs=3, vectorization_mode="vector_entry_point",
                        catalog=CATALOG)


@pytest.mark.parametrize("seeds,error", [([0, "a", 2], TypeError), ([0, -1, 2], ValueError),
                                         ([0.5, 1, 2], TypeError)])
def test_vector_seed_lists_hold_non_negative_ints(seeds, error):
    with pytest.raises(error, match=r"seed\[\d\]"):
        _vec().reset(seed=seeds)
    _vec().reset(seed=[0, None, 2])


@pytest.mark.parametrize("state", [{}, None, {"core": {}}])
def test_set_state_refuses_what_is_not_a_snapshot(state):
    with pytest.raises(ValueError, match="snapshot from get_state"):
        _vec().set_state(state)


# ------------------------------------------------------------------------------------------ agents
def test_agent_seed_below_zero_is_named():
    from musicgym import agents

    with pytest.raises(ValueError, match="agent 'item_cf': seed must be an integer >= 0, got -1"):
        agents.make("item_cf", "MusicGym/Preference-v0", seed=-1, env_kwargs={"catalog": CATALOG})


def test_posterior_greedy_checks_learn_and_save(tmp_path):
    from musicgym import agents

    agent = agents.make("posterior_greedy", "MusicGym/Preference-v0", env_kwargs={"catalog": CATALOG})
    for steps, error in ((-5, ValueError), ("100", TypeError), (None, TypeError)):
        with pytest.raises(error, match="learn\\(total_timesteps\\)"):
            agent.learn(steps)
    with pytest.raises(ValueError, match="empty path"):
        agent.save("")
    (tmp_path / "f").write_text("x")
    with pytest.raises(ValueError, match="is a file, not a directory"):
        agent.save(tmp_path / "f" / "agent")
    agent.save(tmp_path / "ok")
    assert type(agents.load(tmp_path / "ok")).__name__ == "PosteriorGreedyPolicy"


# ------------------------------------------------------------------------------------------ loaders
def _mpd(tmp_path, tracks):
    p = tmp_path / "mpd.json"
    p.write_text(json.dumps({"playlists": [{"name": "x", "pid": 0, "tracks": tracks}]}))
    return p


def test_mpd_entries_sharing_a_pos_are_reported(tmp_path):
    t = [{"pos": 0, "track_uri": f"spotify:track:T{i}", "track_name": f"S{i}", "artist_name": "A"} for i in range(2)]
    cat = load_catalog(_mpd(tmp_path, t))
    assert len(cat) == 2
    assert any("pos value(s) given to more than one track entry" in c.reason for c in cat.report.changed)


def test_features_of_the_wrong_type_is_named(tmp_path):
    t = [{"pos": 0, "track_uri": "spotify:track:T0", "track_name": "S", "artist_name": "A"}]
    with pytest.raises(TypeError, match="features must be"):
        load_catalog(_mpd(tmp_path, t), features=123)


def test_lastfm_timestamp_in_the_future_is_dropped_and_reported(tmp_path):
    p = tmp_path / "log.tsv"
    p.write_text("u1\t2009-05-04T10:00:00Z\tA1\tArtist\tT1\tOne\n"
                 "u1\t3020-05-04T10:04:00Z\tA1\tArtist\tT2\tTwo\n")
    cat = load_catalog(p)
    assert len(cat) == 1
    assert [(d.line, d.reason) for d in cat.report.dropped] == [(2, "timestamp '3020-05-04T10:04:00Z' is in the "
                                                                     "future (log.tsv)")]


# ------------------------------------------------------------------------------------------ CLI and sweeps
def _cli(argv, capsys):
    from musicgym.experiments.cli import main

    try:
        code = main(argv)
    except SystemExit as e:
        code = e.code
    return code, capsys.readouterr().err


@pytest.mark.parametrize("argv,match", [
    (["sweep", "{dir}/ok.yml", "--workers", "0"], "--workers: must be a positive integer"),
    (["sweep", "{dir}/ok.yml", "--wait", "nan"], "--wait: must be a number of seconds"),
    (["sweep", "{dir}/ok.yml", "--wait", "-5"], "--wait: must be a number of seconds"),
    (["bench", "--agent-steps", "-1"], "--agent-steps: must be a positive integer"),
    (["calibrate", "--max-evaluations", "-1"], "--max-evaluations: must be a positive integer"),
    (["sweep", "{dir}"], "is a directory, not a sweep file"),
    (["sweep", "{dir}/empty.yml"], "empty.yml is empty"),
    (["sweep", "{dir}/steps.yml"], r"total_timesteps must be an integer >= 0 \(random on MusicGym/Preference-v0\), got 'lots'"),
    (["sweep", "{dir}/hp.yml"], r"hyperparams of ah_dqn on MusicGym/Preference-v0: agent 'ah_dqn': gamma"),
    (["sweep", "{dir}/hp-name.yml"], r"unknown hyperparameter\(s\) \['colour'\]"),
    (["sweep", "{dir}/seeds.yml"], "seeds must be distinct integers"),
    (["sweep", "{dir}/ok.yml", "--runs", ""], "out: the runs directory must be a non-empty path"),
    (["sweep", "{dir}/ok.yml", "--runs", "{dir}/ok.yml/runs"], "is a file, not a directory"),
    (["realism", "--catalogs", "nope"], "unknown catalog 'nope'"),
    (["realism", "--out", "{dir}/ok.yml/x"], "--out .* is a file, not a directory"),
])
def test_cli_refuses_with_one_line(argv, match, tmp_path, capsys, monkeypatch):
    from musicgym.experiments import cli

    monkeypatch.setattr(cli, "_run_and_publish", lambda *a: pytest.fail("the bad arguments were accepted"))
    head = "agents: [{agent}]\nenvs: [MusicGym/Preference-v0]\nout: " + str(tmp_path / "runs") + "\n"
    files = {"ok": head.format(agent="random"), "empty": "", "steps": head.format(agent="random") + "total_timesteps: lots\n",
             "hp": head.format(agent="ah_dqn") + "hyperparams: {ah_dqn: {gamma: [7]}}\n",
             "hp-name": head.format(agent="ah_dqn") + "hyperparams: {ah_dqn: {colour: [1]}}\n",
             "seeds": head.format(agent="random") + "seeds: [0, 0]\n"}
    for name, text in files.items():
        (tmp_path / f"{name}.yml").write_text(text)
    code, err = _cli([a.format(dir=tmp_path) for a in argv], capsys)
    assert code != 0 and "Traceback" not in err
    assert re.search(match, err.strip().splitlines()[-1]), err


def test_a_valid_sweep_still_loads(tmp_path):
    from musicgym.experiments.sweep import load_sweep

    (tmp_path / "s.yml").write_text(f"agents: [random, ah_dqn]\nenvs: [MusicGym/Preference-v0]\nseeds: [0, 3]\n"
                                    f"out: {tmp_path / 'runs'}\nhyperparams: {{ah_dqn: {{gamma: [0.9, 0.99]}}}}\n")
    sweep = load_sweep(tmp_path / "s.yml")
    assert len(sweep.specs) == 2 + 4
