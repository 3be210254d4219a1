"""Intervals: Wilson (vs its closed form at known points), the bootstrap of a mean, the
shifted percentile interval (vs a direct float64 re-derivation)."""

from __future__ import annotations

import numpy as np
import pytest

from flowstage_lib.metrics import bootstrap_mean_ci, shifted_percentile_interval, wilson_interval


def test_wilson_and_bootstrap():
    lo, hi = wilson_interval(0, 20)
    assert lo == 0.0 and 0.1 < hi < 0.2  # Wilson: 0 / 20 -> [0, 0.161]
    lo, hi = wilson_interval(50, 100)
    assert np.isclose(lo, 0.4038, atol=1e-3) and np.isclose(hi, 0.5962, atol=1e-3)
    m, lo, hi = bootstrap_mean_ci(np.arange(100.0), n_boot=500)
    assert lo < m == 49.5 < hi
    with pytest.raises(ValueError, match="successes"):
        wilson_interval(5, 4)


def test_bootstrap_mean_ci_is_the_percentile_interval_of_resampled_means():
    v = np.arange(11.0) ** 2
    m, lo, hi = bootstrap_mean_ci(v, n_boot=40, seed=7, level=0.8)
    rng = np.random.default_rng(7)
    idx = rng.integers(0, 11, (40, 11))  # the same draws, re-derived by hand
    means = np.array([sum(v[j] for j in row) / 11 for row in idx])
    assert m == pytest.approx(v.mean())
    assert (lo, hi) == pytest.approx(tuple(np.percentile(means, [10, 90])), rel=1e-12)


def test_shifted_percentile_interval_is_placed_around_the_estimate():
    boots = np.array([1.0, 2.0, 3.0, 4.0, 10.0])
    lo, hi = shifted_percentile_interval(0.5, boots, level=0.5)
    # quantiles 0.25 / 0.75 of the five values: 2 and 4; their mean: 4
    assert (lo, hi) == pytest.approx((0.5 + 2 - 4, 0.5 + 4 - 4))


@pytest.mark.parametrize("level", [0.0, 1.0, 1.5])
def test_interval_levels_are_checked(level):
    with pytest.raises(ValueError, match="level"):
        wilson_interval(1, 2, level=level)
    with pytest.raises(ValueError, match="level"):
        bootstrap_mean_ci(np.ones(3), level=level)
    with pytest.raises(ValueError, match="level"):
        shifted_percentile_interval(0.0, np.ones(3), level=level)


def test_bootstrap_mean_ci_bad_input():
    with pytest.raises(ValueError, match="non-empty 1-D"):
        bootstrap_mean_ci(np.ones((2, 2)))
    with pytest.raises(ValueError, match="n_boot"):
        bootstrap_mean_ci(np.ones(3), n_boot=1)
