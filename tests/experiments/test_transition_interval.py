"""The transition's bootstrap interval over oracle queries (issue 13, item 3)."""

import math

import numpy as np
import pytest

from flowstage_lib.data import synthetic_gaussian
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
    assert any(tmp_cache.rglob("*transition_interval*"))
    assert transition(data, 32, 0, 6, 6, n_boot=50).intervals == tr.intervals
    with pytest.raises(ValueError, match="no intervals"):
        _ = transition(data, 32, 0, 6, 6).t09_interval
    with pytest.raises(ValueError, match="n_boot"):
        transition_interval(data, t_grid(6, 6), 32, 0, n_boot=1)
