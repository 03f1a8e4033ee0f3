"""SessionListener: the Listener protocol, determinism, its response model's consistency and its named terms."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from musicgym.catalog import Catalog, CatalogError, Playlists, synthetic
from musicgym.listeners.base import Listener, check_response
from musicgym.listeners.session import (
    _EXPECTED,
    DEFAULT_PARAMS_PATH,
    OUTCOMES,
    TERMS,
    SessionListener,
    SessionParams,
    _respond,
    load_params,
    population,
)


@pytest.fixture(scope="module")
def catalog(default_catalog):
    return default_catalog


def ready(catalog, num, seed=0, **kw):
    """A listener set up for `num` sessions, listeners drawn, each started on its chosen track."""
    listener = SessionListener(**kw)
    listener.setup(catalog, num)
    rng = np.random.default_rng(seed)
    rows = np.arange(num)
    listener.sample(rng, rows)
    listener.start(rows, listener.initial_tracks(rows)[:, None])
    return listener, rng, rows


def play(listener, rng, rows, tracks):
    res = listener.respond(rng, rows, tracks)
    listener.update(rows, tracks, res)
    return res


# ---------------------------------------------------------------------------------------------------- protocol
def test_respond_returns_the_reward_and_every_component_with_one_value_per_row(catalog):
    listener, rng, rows = ready(catalog, 5)
    res = listener.respond(rng, rows, rng.integers(0, len(catalog), 5))
    check_response(listener, res, 5)
    assert set(listener.components) >= {*OUTCOMES, "fraction_heard", "minutes", "liked", "left"}
    assert {f"term_{t}" for t in TERMS} <= set(listener.components)
    assert all(np.shape(res[k]) == (5,) for k in ("reward", *listener.components))
    assert listener.observation_dim == 0 and listener.observe(rows).shape == (5, 0)
    assert listener.is_terminal(rows).dtype == bool and listener.is_terminal(rows).shape == (5,)


def test_expected_reward_takes_one_track_or_k_candidates_per_row(catalog):
    listener, rng, rows = ready(catalog, 4)
    cand = rng.integers(0, len(catalog), (4, 7))
    many = listener.expected_reward(rows, cand)
    assert many.shape == (4, 7)
    np.testing.assert_array_equal(listener.expected_reward(rows, cand[:, 2]), many[:, 2])
    probs = listener.outcome_probabilities(rows, cand)
    assert probs.shape == (4, 7, 4) and np.allclose(probs.sum(-1), 1.0) and (probs >= 0).all()


def test_a_tracks_expected_reward_is_the_same_number_alone_in_a_block_and_in_its_response(catalog):
    """Scores come in blocks (`_block_terms`): a track's must not depend on the tracks scored beside it, and
    the response's own expected reward (the fused step's regret) must be `expected_reward`'s, bit for bit."""
    n = 300
    listener, rng, rows = ready(catalog, n, seed=3)
    for _ in range(12):  # history, satiation and familiarity in play, a replay among the candidates
        play(listener, rng, rows, rng.integers(0, len(catalog), n))
    cand = rng.integers(0, len(catalog), (n, 23))
    cand[:, 5] = listener._buf_i[rows, 0, 2]
    many = listener.expected_reward(rows, cand)
    for j in range(cand.shape[1]):
        np.testing.assert_array_equal(listener.expected_reward(rows, cand[:, j]), many[:, j])
        np.testing.assert_array_equal(listener.expected_reward(rows[1:3], cand[1:3, j]), many[1:3, j])
    out = _respond(rows, cand[:, 5], rng.random((n, 3)), listener._sess_f, listener._sess_i, listener._buf_i,
                   listener._buf_w, listener._trk, listener._trk_int, listener._par, True)
    np.testing.assert_array_equal(out[:, _EXPECTED], many[:, 5])


def test_best_tracks_is_the_argmax_of_expected_reward_over_the_catalog_minus_the_excluded():
    cat = synthetic(600, seed=5)
    listener, rng, rows = ready(cat, 3)
    play(listener, rng, rows, rng.integers(0, len(cat), 3))
    exclude = np.array([[1, 2, -1], [-1, -1, -1], [5, 6, 7]])
    best, value = listener.best_tracks(rows, exclude)
    ref_best, ref_value = Listener.best_tracks(listener, rows, exclude)  # the protocol's generic scan
    np.testing.assert_array_equal(best, ref_best)
    np.testing.assert_allclose(value, ref_value, rtol=1e-12)


def test_the_listener_leaves_after_the_response_that_says_so_and_a_new_listener_is_back(catalog):
    listener, rng, rows = ready(catalog, 400)
    res = play(listener, rng, rows, rng.integers(0, len(catalog), 400))
    np.testing.assert_array_equal(listener.is_terminal(rows), res["left"] > 0)
    assert 0 < (res["left"] > 0).sum() < 400
    listener.sample(rng, rows)
    assert not listener.is_terminal(rows).any()


def test_the_state_attributes_hold_the_whole_session_state(catalog):
    """Restoring them (an env snapshot) replays the same responses from the same generator state."""
    listener, rng, rows = ready(catalog, 6)
    for _ in range(3):
        play(listener, rng, rows, rng.integers(0, len(catalog), 6))
    saved = {k: np.array(getattr(listener, k), copy=True) for k in listener.state_attributes}
    tracks = rng.integers(0, len(catalog), (4, 6))
    runs = []
    for _ in range(2):
        for k, v in saved.items():
            getattr(listener, k)[...] = v
        gen = np.random.default_rng(9)
        runs.append([play(listener, gen, rows, t) for t in tracks] + [listener.expected_reward(rows, tracks.T)])
    for a, b in zip(runs[0][:-1], runs[1][:-1], strict=True):
        for k in a:
            np.testing.assert_array_equal(a[k], b[k])
    np.testing.assert_array_equal(runs[0][-1], runs[1][-1])


# ---------------------------------------------------------------------------------------------------- randomness
def test_same_seed_gives_identical_responses_and_the_global_rng_is_untouched(catalog):
    state = np.random.get_state()[1].copy()
    runs = []
    for _ in range(2):
        listener, rng, rows = ready(catalog, 8, seed=3)
        runs.append([play(listener, rng, rows, rng.integers(0, len(catalog), 8)) for _ in range(6)])
    for a, b in zip(*runs, strict=True):
        for k in a:
            np.testing.assert_array_equal(a[k], b[k])
    np.testing.assert_array_equal(np.random.get_state()[1], state)


def test_outcome_frequencies_match_the_model_probabilities(catalog):
    # 20,000 sessions each answer one track: per outcome, the count of sampled outcomes minus the sum of
    # their probabilities, over its standard deviation sqrt(sum p(1 - p)), is standard normal if respond
    # samples from outcome_probabilities; |z| < 4 fails a correct sampler with probability 6e-5.
    n = 20_000
    listener, rng, rows = ready(catalog, n, seed=11)
    for _ in range(3):
        play(listener, rng, rows, rng.integers(0, len(catalog), n))
    tracks = rng.integers(0, len(catalog), n)
    probs = listener.outcome_probabilities(rows, tracks)
    expected = listener.expected_reward(rows, tracks)
    res = listener.respond(rng, rows, tracks)
    outcome = 3 - (res["skip_1"] + res["skip_2"] + res["skip_3"]).astype(int)
    for c in range(4):
        hit = outcome == c
        p = probs[:, c]
        z = (hit.sum() - p.sum()) / np.sqrt((p * (1 - p)).sum())
        assert abs(z) < 4, (OUTCOMES[c], z)
    z = (res["reward"] - expected).sum() / np.sqrt(((res["reward"] - expected) ** 2).sum())
    assert abs(z) < 4
    h = res["leave_probability"]
    assert abs(((res["left"] > 0).sum() - h.sum()) / np.sqrt((h * (1 - h)).sum())) < 4


def test_outcomes_are_nested_and_the_fraction_heard_lies_in_the_outcomes_range(catalog):
    listener, rng, rows = ready(catalog, 3000)
    res = play(listener, rng, rows, rng.integers(0, len(catalog), 3000))
    s1, s2, s3, done = (res[k] > 0 for k in OUTCOMES)
    assert (s2 >= s1).all() and (s3 >= s2).all() and (done == ~s3).all()
    f, p = res["fraction_heard"], listener.params
    assert (f[s1] < p.skip_1_fraction).all()
    assert ((f[s2 & ~s1] >= p.skip_1_fraction) & (f[s2 & ~s1] < p.skip_2_fraction)).all()
    assert ((f[s3 & ~s2] >= p.skip_2_fraction) & (f[s3 & ~s2] < 1)).all()
    assert (f[done] == 1).all()
    assert (res["liked"][~done] == 0).all() and res["liked"][done].sum() > 0
    minutes = listener.pop.minutes
    assert res["minutes"] == pytest.approx(f * minutes[listener._sess_i[rows, 1]], rel=1e-6)
    assert (res["reward"] == res["minutes"]).all()


def test_the_fraction_reward_is_the_fraction_heard(catalog):
    listener, rng, rows = ready(catalog, 50, reward="fraction")
    res = play(listener, rng, rows, rng.integers(0, len(catalog), 50))
    np.testing.assert_array_equal(res["reward"], res["fraction_heard"])
    assert listener.reward_range == (0.0, 1.0)


def test_time_advances_by_the_minutes_heard(catalog):
    listener, rng, rows = ready(catalog, 6)
    before = listener._sess_f[:, 1].copy()
    res = play(listener, rng, rows, rng.integers(0, len(catalog), 6))
    np.testing.assert_allclose(listener._sess_f[:, 1] - before, res["minutes"])


# ---------------------------------------------------------------------------------------------------- the terms
def _artist_with_tracks(catalog, n):
    counts = catalog.tracks["artist"].value_counts()
    artist = counts.index[counts >= n][0]
    return np.flatnonzero(catalog.tracks["artist"].to_numpy() == artist)[:n]


def _penalty_of_satiation(catalog, sequence, artist_tracks):
    """Mean drop in expected reward of `artist_tracks` at their turn in `sequence` caused by artist satiation."""
    values = {}
    for sat in (0.0, load_params().artist_satiation):
        listener = SessionListener({"artist_satiation": sat})
        listener.setup(catalog, 1)
        rows = np.array([0])
        listener.sample(np.random.default_rng(0), rows)
        got = []
        for t in sequence:
            if t in artist_tracks:
                got.append(listener.expected_reward(rows, np.array([t]))[0])
            listener.start(rows, np.array([[t]]))  # heard to the end
        values[sat] = np.mean(got)
    return values[0.0] - values[load_params().artist_satiation]


def test_ten_tracks_of_one_artist_in_a_row_are_worse_than_the_same_tracks_spread_out(catalog):
    tracks = _artist_with_tracks(catalog, 10)
    rng = np.random.default_rng(1)
    others = rng.choice(np.setdiff1d(np.arange(len(catalog)), tracks), 40, replace=False)
    in_a_row = list(tracks) + list(others)
    spread = [x for i, t in enumerate(tracks) for x in (t, *others[4 * i : 4 * i + 4])]
    row_penalty = _penalty_of_satiation(catalog, in_a_row, set(tracks))
    spread_penalty = _penalty_of_satiation(catalog, spread, set(tracks))
    assert row_penalty > spread_penalty > 0
    assert row_penalty > 2 * spread_penalty


def test_satiation_decays_with_the_minutes_listened_since(catalog):
    listener, _, rows = ready(catalog, 1)
    t = _artist_with_tracks(catalog, 2)
    listener.start(rows, t[:1][None])
    soon = listener.respond(np.random.default_rng(0), rows, t[1:2])["term_satiation"][0]
    fillers = np.setdiff1d(np.arange(200), t)[:20]
    listener.start(rows, fillers[None])  # about an hour of other tracks
    later = listener.respond(np.random.default_rng(0), rows, t[1:2])["term_satiation"][0]
    assert soon < later < 0


def test_a_replay_right_away_bores_and_a_replay_after_a_while_pleases(catalog):
    listener, _, rows = ready(catalog, 1)
    track = np.array([listener.initial_tracks(rows)[0]])
    right_away = listener.respond(np.random.default_rng(0), rows, track)["term_familiarity"][0]
    fresh = listener.respond(np.random.default_rng(0), rows, np.array([(track[0] + 1) % len(catalog)]))
    listener.start(rows, np.arange(1000, 1005)[None])  # about a quarter of an hour of other tracks
    later = listener.respond(np.random.default_rng(0), rows, track)["term_familiarity"][0]
    assert right_away < 0 == fresh["term_familiarity"][0] < later


def test_a_skip_makes_the_next_skip_likelier(catalog):
    # two copies of one listener hear the same track; one skipped it, the other heard it to the end
    probs, moods = [], []
    for skipped in (1.0, 0.0):
        listener, rng, rows = ready(catalog, 1, seed=4)
        t = np.array([7])
        res = dict(listener.respond(rng, rows, t))
        res.update(skip_2=np.array([skipped]), minutes=np.array([1.0]), left=np.array([0.0]))
        listener.update(rows, t, res)
        probs.append(listener.outcome_probabilities(rows, np.array([8]))[0, :2].sum())
        moods.append(listener.respond(rng, rows, np.array([8]))["term_mood"][0])
    assert probs[0] > probs[1] and moods[0] < moods[1] == 0


# ---------------------------------------------------------------------------------------------------- policies
def test_random_tracks_are_skipped_more_and_the_hidden_taste_less_than_the_behaviour_policy(catalog):
    from musicgym.realism.simulate import simulate
    from musicgym.realism.stats import statistics

    def skip_rate(policy, n):
        sim = simulate(SessionListener(reward="fraction"), catalog, n, seed=2, policy=policy, max_len=10)
        return statistics(sim.plays(smooth=True))["skip_2"]

    behaviour = skip_rate("behaviour", 2000)
    assert skip_rate("random", 2000) > behaviour + 0.2
    assert skip_rate("greedy", 100) < behaviour - 0.05


# ---------------------------------------------------------------------------------------------------- parameters
def test_the_default_listener_loads_the_shipped_fit():
    doc = json.loads(DEFAULT_PARAMS_PATH.read_text())
    assert SessionListener().params == SessionParams.from_dict(doc["params"]) == load_params()


def test_a_dict_of_parameters_overrides_the_shipped_fit():
    p = SessionListener({"mood_weight": 0.0}).params
    assert p.mood_weight == 0.0 and p.cut_1 == load_params().cut_1


def test_parameter_errors_name_what_is_accepted(tmp_path):
    with pytest.raises(ValueError, match="accepted"):
        SessionParams.from_dict({"mood_wieght": 1.0})
    with pytest.raises(ValueError, match="cut_1 < cut_2 < cut_3"):
        SessionParams(cut_1=1.0, cut_2=0.5)
    with pytest.raises(ValueError, match="mood_decay"):
        SessionParams(mood_decay=1.0)
    with pytest.raises(ValueError, match="reward must be one of"):
        SessionListener(reward="seconds")
    with pytest.raises(ValueError, match="history"):
        SessionListener(history=0)
    bad = tmp_path / "old.json"
    bad.write_text(json.dumps({"schema_version": 0, "params": {}}))
    with pytest.raises(ValueError, match="schema_version"):
        load_params(bad)
    with pytest.raises(FileNotFoundError):
        load_params(tmp_path / "missing.json")


# ---------------------------------------------------------------------------------------------------- catalogs
def _tiny(playlists, artists):
    cat = synthetic(30, seed=1)
    df = cat.tracks.copy()
    df["artist"] = artists
    return Catalog(df, Playlists(playlists), name="tiny")


def test_a_catalog_without_playlists_draws_listeners_from_its_artists():
    cat = _tiny([], [f"a{i // 3}" for i in range(30)])
    pop = population(cat)
    assert pop.from_artists and len(pop.playlists) == 10
    listener, rng, rows = ready(cat, 2)
    assert np.isfinite(play(listener, rng, rows, np.array([0, 1]))["reward"]).all()


def test_a_catalog_without_playlists_or_repeated_artists_is_an_error():
    with pytest.raises(CatalogError, match="no playlist"):
        population(_tiny([], [f"a{i}" for i in range(30)]))


def test_the_track_table_holds_features_minutes_artist_and_genre_in_one_aligned_row(catalog):
    pop = population(catalog)
    rows = pop.track_rows
    assert rows.shape == (len(catalog), 16) and rows.ctypes.data % 64 == 0
    np.testing.assert_array_equal(rows[:, :9], pop.features)
    np.testing.assert_array_equal(rows.view(np.int32)[:, 10], pop.artist)
    np.testing.assert_array_equal(rows.view(np.int32)[:, 11], pop.genre)
    assert pd.Series(pop.genre).nunique() == catalog.tracks["genre"].nunique()


def test_feedback_text_names_the_outcome_the_time_heard_and_leaving():
    listener = SessionListener()
    res = {"skip_1": 0.0, "skip_2": 1.0, "skip_3": 1.0, "not_skipped": 0.0, "liked": 0.0, "minutes": 0.75, "left": 1.0}
    assert listener.feedback_text(res) == "skipped early (0:45 heard), then left"
    res.update(skip_2=0.0, skip_3=0.0, not_skipped=1.0, liked=1.0, minutes=3.5, left=0.0)
    assert listener.feedback_text(res) == "played to the end, liked (3:30 heard)"


def test_the_session_starts_on_the_listeners_chosen_track_unless_the_env_draws_it(catalog):
    listener, _, rows = ready(catalog, 3)
    first = [int(listener.pop.playlists[s][0]) for s in listener.source_playlist]
    assert listener.initial_tracks(rows).tolist() == first
    assert SessionListener(start_from_taste=False).initial_tracks(rows) is None
