"""The transition's bootstrap interval over oracle queries (issue 13, item 3): point and
interval from one analyze_curves call, the same queries (issue 16)."""

import math

import numpy as np
import pytest

from flowstage_lib.data import synthetic_gaussian
from flowstage_lib.experiments import curves
from flowstage_lib.experiments._shared import transition, transition_interval
from flowstage_lib.experiments.curves import t_grid


@pytest.fixture(autouse=True)
def tmp_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FLOWSTAGE_CACHE", str(tmp_path))
    monkeypatch.delenv("FLOWSTAGE_NO_CACHE", raising=False)
    return tmp_path


def _top1_f64(x1s, pool, t, rng):
    """Independent float64 re-derivation: mean over queries of max_i gamma_i at each t."""
    out = np.zeros((len(x1s), len(t)))
    for q, x1 in enumerate(x1s):
        x0 = rng.standard_normal(x1.shape)
        for j, tt in enumerate(t):
            xt = tt * x1 + (1 - tt) * x0
            logw = -((xt - tt * pool) ** 2).sum(1) / (2 * (1 - tt) ** 2)
            w = np.exp(logw - logw.max())
            out[q, j] = w.max() / w.sum()
    return out


def test_interval_brackets_the_crossing_of_an_independent_float64_curve():
    data = synthetic_gaussian(D=64, N_per_class=40, num_classes=2, seed=0)
    grid = t_grid(8, 8)
    low, high = transition_interval(data, grid, 64, seed=0, n_boot=100)[0.9]
    assert 0 < low <= high < 1
    x = data.x.flatten(1).double().numpy()
    rng = np.random.default_rng(1)
    curves = []
    for c in (0, 1):
        pool = x[data.y.numpy() == c]
        curves.append(_top1_f64(pool[rng.integers(0, len(pool), 64)], pool, grid, rng))
    mean = np.concatenate(curves).mean(0)
    t_ref = grid[int(np.argmax(mean >= 0.9))]  # first grid time at or above 0.9
    step = max(np.diff(grid[max(0, np.argmax(mean >= 0.9) - 1) :][:2]))
    assert low - step <= t_ref <= high + step  # other queries, same crossing up to one step


def test_transition_carries_the_interval_and_is_cached(tmp_cache):
    data = synthetic_gaussian(D=64, N_per_class=40, num_classes=2, seed=0)
    tr = transition(data, 32, 0, 6, 6, n_boot=50)
    low, high = tr.t09_interval
    assert low <= high and math.isfinite(tr.t09)
    assert len(list((tmp_cache / "analyze_curves").iterdir())) == 1
    assert transition(data, 32, 0, 6, 6, n_boot=50).intervals == tr.intervals
    with pytest.raises(ValueError, match="no intervals"):
        _ = transition(data, 32, 0, 6, 6).t09_interval
    for bad in (1, 0, -3):
        with pytest.raises(ValueError, match="n_boot"):
            transition_interval(data, t_grid(6, 6), 32, 0, n_boot=bad)
    with pytest.raises(ValueError, match="n_boot"):
        transition(data, 32, 0, 6, 6, n_boot=1)
    with pytest.raises(ValueError, match="levels"):
        transition(data, 32, 0, 6, 6, levels=(0.8,), n_boot=50)
    assert transition(data, 32, 0, 6, 6, levels=(0.8,)).crossings[0.8] <= tr.t09  # no interval


def test_point_and_interval_come_from_the_same_queries(monkeypatch):
    # one analyze run gives both: the point is the crossing of its queries' mean top-1 curve,
    # the interval the bootstrap over those queries; so the point lies inside its interval
    data = synthetic_gaussian(D=64, N_per_class=40, num_classes=2, seed=0)
    runs = []
    real = curves._analyze_curves

    def spy(*a, **k):
        runs.append(a)
        return real(*a, **k)

    monkeypatch.setattr(curves, "_analyze_curves", spy)
    tr = transition(data, 32, 0, 6, 6, n_boot=50)
    assert len(runs) == 1  # point and interval: one oracle run
    ref = curves.analyze_curves(data, t_grid(6, 6), 32, 0, n_boot=50)
    assert len(runs) == 1 and tr.top1 == ref["top1"] and tr.t == ref["t"]
    for lv, t_lv, lo, hi in ref["crossings_ci"]:
        assert tr.crossings[lv] == pytest.approx(t_lv, nan_ok=True)
        assert tr.intervals[lv] == pytest.approx((lo, hi), nan_ok=True)
    low, high = tr.t09_interval
    assert low <= tr.t09 <= high
    assert transition_interval(data, t_grid(6, 6), 32, 0, (0.9,), n_boot=50) == {
        0.9: tr.t09_interval
    }
    assert len(runs) == 1
