"""Cached stage curves (flowstage_lib.experiments.curves)."""

import numpy as np
import pytest

from flowstage_lib.data import load_dataset
from flowstage_lib.experiments import curves


@pytest.fixture(autouse=True)
def _tmp_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FLOWSTAGE_CACHE", str(tmp_path / "cache"))


def test_t_grid():
    t = curves.t_grid(8, 5)
    assert t[0] == 0.0 and t[-1] == 0.99 and len(t) == 14
    assert np.all(np.diff(t) > 0)


def test_synthetic_curves_query_stream_is_not_the_data_stream():
    # regression: with one seed for data and queries, D = 256 and 256 queries gave noise equal
    # to training points and a posterior "collapsed" at t = 0.05 (truth: top-1 ~ 0.01)
    c = curves.synthetic_curves(256, 300, [0.05], n_queries=256, seed=0)
    assert c["top1"][0] < 0.2
    with pytest.raises(ValueError, match="data_seed"):
        curves.synthetic_curves(16, 10, [0.1], n_queries=4, seed=5, data_seed=5)


def test_curves_for_second_call_is_a_cache_hit(monkeypatch):
    d = load_dataset("digits")
    a = curves.curves_for(d, [0.0, 0.5], n_queries=8, seed=0)
    assert a["N"] == pytest.approx(179.7, abs=0.1) and a["D"] == 64

    def boom(*args, **kwargs):
        raise AssertionError("recomputed instead of reading the cache")

    monkeypatch.setattr(curves, "_curves", boom)
    assert curves.curves_for(d, [0.0, 0.5], n_queries=8, seed=0) == a
    with pytest.raises(AssertionError, match="recomputed"):  # a new key does compute
        curves.curves_for(d, [0.0, 0.5], n_queries=8, seed=1)


def test_crossings_by_interpolation():
    c = {"t": [0.0, 0.1, 0.2], "top1": [0.0, 0.5, 1.0]}
    cr = curves.crossings(c)
    assert cr[0.5] == pytest.approx(0.1) and cr[0.9] == pytest.approx(0.18)
    assert cr[0.99] == pytest.approx(0.198)
    assert np.isnan(curves.crossings({"t": [0.0, 1.0], "top1": [0.0, 0.4]})[0.5])
