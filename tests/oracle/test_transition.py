"""Section-3 helpers: collapse / speciation times, crossing times, stage curves (Fig. 2, 3)."""

import math

import numpy as np
import pytest
import torch

from flowstage_lib import OracleVelocity
from flowstage_lib.oracle.transition import (
    StageCurves,
    collapse_time,
    crossing_times,
    speciation_time,
    stage_curves,
)


def test_collapse_time_known_values():
    # D = 2, N = 10: N^(2/D) - 1 = 9, r = 3
    assert collapse_time(2, 10) == pytest.approx(0.75, rel=1e-14)
    assert collapse_time(2, 10, spread=3.0) == pytest.approx(0.5, rel=1e-14)
    # D = 4, N = 25: 25^(1/2) - 1 = 4, r = 2
    assert collapse_time(4, 25, spread=2.0) == pytest.approx(0.5, rel=1e-14)
    assert collapse_time(100, 1) == 0.0
    # large D: r ~ sqrt(2 ln N / D), computed stably (naive N**(2/D) - 1 loses digits)
    D, N = 10**9, 10**4
    r = math.sqrt(2 * math.log(N) / D)
    assert collapse_time(D, N) == pytest.approx(r / (r + 1), rel=1e-6)
    # monotone: larger D collapses earlier, larger N later (Fig. 3a / 3b)
    assert collapse_time(8192, 1400) < collapse_time(4096, 1400) < collapse_time(4096, 14000)


@pytest.mark.parametrize(
    "args,name", [((0, 10), "D"), ((2.5, 10), "D"), ((4, 0), "N"), ((4, 10, 0.0), "spread")]
)
def test_collapse_time_bad_input(args, name):
    with pytest.raises(ValueError, match=rf"^{name} must"):
        collapse_time(*args)


def test_speciation_time():
    assert speciation_time(2.0) == pytest.approx(0.5)
    assert speciation_time(5.0) == pytest.approx(1 / 3)
    assert speciation_time(1.0) == 1.0
    for bad in (0.5, float("nan"), float("inf")):
        with pytest.raises(ValueError, match=r"^cov_top_eigenvalue must"):
            speciation_time(bad)


def test_crossing_times_piecewise_linear():
    t = [0.0, 0.1, 0.2, 0.3]
    top1 = [0.1, 0.4, 0.8, 1.0]
    out = crossing_times(t, top1, levels=(0.05, 0.5, 0.9, 0.99, 1.1))
    assert out[0.05] == 0.0  # already above at the first point
    assert out[0.5] == pytest.approx(0.125)
    assert out[0.9] == pytest.approx(0.25)
    assert out[0.99] == pytest.approx(0.295)
    assert math.isnan(out[1.1])  # never reached
    assert set(crossing_times(t, top1)) == {0.5, 0.9, 0.99}


def test_crossing_times_logistic_and_first_crossing():
    t = np.linspace(0, 1, 2001)
    curve = 1 / (1 + np.exp(-(t - 0.3) / 0.02))
    out = crossing_times(t, curve, levels=(0.5, 0.9))
    assert out[0.5] == pytest.approx(0.3, abs=1e-4)
    assert out[0.9] == pytest.approx(0.3 + 0.02 * math.log(9), abs=1e-4)
    # a curve that crosses, dips and crosses again: the first crossing counts
    assert crossing_times([0, 1, 2, 3], [0, 1, 0, 1], levels=(0.5,))[0.5] == 0.5


def test_crossing_times_bad_input():
    with pytest.raises(ValueError, match=r"^t must be strictly increasing"):
        crossing_times([0.0, 0.2, 0.1], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match=r"^t and top1"):
        crossing_times([0.0, 0.1], [0.1, 0.2, 0.3])


def _synthetic(n, d, seed, classes=2):
    g = torch.Generator().manual_seed(seed)
    data = torch.randn(n, d, generator=g, dtype=torch.float64)
    labels = torch.arange(n) % classes
    return data, labels


def test_stage_curves_conditional():
    """top1 rises from 1/N_y at t = 0 to ~1; MSE(u*, x1 - x0) falls to ~0 (Fig. 2a / 2b)."""
    data, labels = _synthetic(32, 16, seed=0)
    oracle = OracleVelocity(data, labels, dtype=torch.float64)
    t_grid = [0.0, 0.05, 0.1, 0.2, 0.4, 0.7, 0.95]
    c = stage_curves(oracle, data, labels, t_grid, n_queries=64, seed=1, progress=False)
    assert isinstance(c, StageCurves)
    for f in ("t", "mse", "mse_se", "top1", "top1_se", "entropy"):
        assert getattr(c, f).shape == (7,) and getattr(c, f).dtype == np.float64
    assert c.top1[0] == pytest.approx(1 / 16)  # uniform over the class at t = 0
    assert c.entropy[0] == pytest.approx(math.log(16))
    assert np.all(np.diff(c.top1) > -0.02) and c.top1[-1] > 0.99
    assert np.all(np.diff(c.entropy) < 0.05) and c.entropy[-1] < 0.05
    # t = 0: u* = class mean - x0, so MSE = E||x1 - mean_y||^2 / D ~ 1 (unit variance)
    assert 0.6 < c.mse[0] < 1.4 and c.mse[-1] < 1e-3
    # (not monotone: MSE = A_t^2 E Var[x1 | x_t] with A_t = 1 / (1 - t) can rise at first)
    assert c.mse[-1] < 1e-3 * c.mse[0]
    assert np.all(c.mse_se >= 0) and np.all(np.isfinite(c.top1_se))
    # deterministic
    c2 = stage_curves(oracle, data, labels, t_grid, n_queries=64, seed=1, progress=False)
    np.testing.assert_array_equal(c.top1, c2.top1)


def test_stage_curves_unconditional_dimension_and_size():
    """Fig. 3: larger D saturates earlier, larger N later; near the predicted t_c."""
    t_grid = np.linspace(0.0, 0.95, 20)
    cross = {}
    for d, n in ((8, 64), (64, 64), (64, 512)):
        data, _ = _synthetic(n, d, seed=d + n)
        oracle = OracleVelocity(data, dtype=torch.float64)
        c = stage_curves(
            oracle, data, None, t_grid, n_queries=48, seed=2, conditional=False, progress=False
        )
        assert c.top1[0] == pytest.approx(1 / n) and c.top1[-1] > 0.95
        cross[d, n] = crossing_times(c.t, c.top1, levels=(0.5,))[0.5]
        assert abs(cross[d, n] - collapse_time(d, n)) < 0.1, (d, n, cross[d, n])
    assert cross[64, 64] < cross[8, 64]
    assert cross[64, 64] < cross[64, 512]


def test_stage_curves_progress_and_errors():
    data, labels = _synthetic(10, 3, seed=3)
    oracle = OracleVelocity(data, labels, dtype=torch.float64)
    c = stage_curves(oracle, data.numpy(), labels.numpy(), [0.5], n_queries=1, progress=True)
    assert math.isnan(c.mse_se[0]) and c.top1.shape == (1,)
    with pytest.raises(ValueError, match=r"^labels are required"):
        stage_curves(oracle, data, None, [0.5], progress=False)
    with pytest.raises(ValueError, match=r"^data must be the oracle's training set"):
        stage_curves(oracle, data[:5], labels[:5], [0.5], progress=False)
    with pytest.raises(ValueError, match=r"^t must"):
        stage_curves(oracle, data, labels, [0.5, 1.0], progress=False)
    with pytest.raises(ValueError, match=r"^n_queries must"):
        stage_curves(oracle, data, labels, [0.5], n_queries=0, progress=False)
