"""Run-level statistics (rliable's protocol) on hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest
from musicgym.experiments.stats import interval, iqm, performance_profile, probability_of_improvement


def test_iqm_is_the_mean_of_the_middle_half():
    assert iqm(np.arange(8.0)) == pytest.approx(np.mean([2, 3, 4, 5]))
    assert iqm(np.array([[0.0, 100.0], [1.0, 2.0]])) == pytest.approx(1.5)  # all entries, outliers trimmed
    assert np.isnan(iqm(np.array([])))


def test_the_bootstrap_resamples_runs_within_each_task():
    # task 0: every run scores 1; task 1: every run scores 0. A stratified replicate keeps one
    # half of the pooled runs at 1 and the other at 0, so the mean never moves (a pooled bootstrap would)
    scores = np.array([[1.0, 0.0]] * 6)
    point, lo, hi = interval(scores, np.mean, reps=500)
    assert point == lo == hi == 0.5
    point, lo, hi = interval(np.random.default_rng(0).normal(size=(10, 3)), reps=500)
    assert lo < point < hi


def test_tasks_may_have_different_numbers_of_runs_and_nan_gives_nan():
    point, lo, hi = interval([[0.2, 0.4, 0.6], [0.5, 0.7]], np.mean, reps=200)
    assert point == pytest.approx(np.mean([0.2, 0.4, 0.6, 0.5, 0.7])) and lo <= point <= hi
    assert all(np.isnan(v) for v in interval([[0.1, np.nan]], reps=10))


def test_probability_of_improvement_counts_pairs_and_ties():
    x = np.array([[1.0], [2.0]])
    y = np.array([[1.0], [0.0]])
    # pairs (1,1) tie, (1,0) win, (2,1) win, (2,0) win: (3 + 0.5) / 4
    p, lo, hi = probability_of_improvement(x, y, reps=200)
    assert p == pytest.approx(3.5 / 4) and lo <= p <= hi
    assert probability_of_improvement(y, y, reps=50)[0] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="tasks"):
        probability_of_improvement(np.zeros((2, 2)), np.zeros((2, 3)))


def test_performance_profile():
    prof = performance_profile(np.array([[0.1, 0.5], [0.9, 0.3]]), np.array([0.0, 0.4, 1.0]))
    assert prof.tolist() == [1.0, 0.5, 0.0]
