"""Cached stage curves (flowstage_lib.experiments.curves)."""

import numpy as np
import pytest
import torch

from flowstage_lib.data import ImageData, load_dataset
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


def _labelled(n=120, d=16, classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % classes
    x = torch.randn(classes, d, generator=g)[y] + 0.5 * torch.randn(n, d, generator=g)
    return ImageData(x.reshape(n, 1, 4, 4).float(), y, "labelled", num_classes=classes)


def _float64_class_curves(x, y, t, per, seed):
    """Independent float64 re-derivation of the class-conditional curves of analyze for the
    same queries (its draw: per class c, a torch generator seeded seed * 1_000_003 + c picks
    ``per`` rows of c by randint over the class's ascending rows, then x0 ~ N(0, I) in
    float64); gamma_j = softmax_j(-||x_t - t x_j||^2 / (2 (1 - t)^2)) over class c and
    u* = (E[x1 | x_t] - x_t) / (1 - t)."""
    top1, mse = [], []
    for c in np.unique(y):
        rows = np.flatnonzero(y == c)
        gen = torch.Generator().manual_seed(seed * 1_000_003 + int(c))
        pick = torch.randint(0, rows.size, (per,), generator=gen).numpy()
        x1 = x[rows[pick]]
        x0 = torch.randn(x1.shape, generator=gen, dtype=torch.float64).numpy()
        per_t = []
        for tt in t:
            xt = tt * x1 + (1 - tt) * x0
            d2 = ((xt[:, None, :] - tt * x[rows][None]) ** 2).sum(-1)
            lg = -d2 / (2 * (1 - tt) ** 2)
            g = np.exp(lg - lg.max(1, keepdims=True))
            g /= g.sum(1, keepdims=True)
            u = (g @ x[rows] - xt) / (1 - tt)
            per_t.append((g.max(1), ((u - (x1 - x0)) ** 2).mean(1)))
        top1.append(np.stack([a for a, _ in per_t], 1))
        mse.append(np.stack([b for _, b in per_t], 1))
    return np.concatenate(top1).mean(0), np.concatenate(mse).mean(0)


def test_analyze_curves_match_float64_and_curves_for():
    # Sec. 3's real-data curves come from analyze: same numbers as an independent float64
    # computation for the same queries, and (other queries) within 4 SE of curves_for
    d = _labelled()
    t = [0.0, 0.1, 0.3, 0.6, 0.9]
    a = curves.analyze_curves(d, t, n_queries=60, seed=3)  # 20 queries per class
    x = d.x.reshape(d.N, -1).double().numpy()
    top1, mse = _float64_class_curves(x, d.y.numpy(), t, 20, 3)
    np.testing.assert_allclose(a["top1"], top1, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(a["mse"], mse, rtol=1e-4, atol=1e-7)
    assert a["t"] == t and a["N"] == 40 and a["D"] == 16
    assert [r[0] for r in a["crossings_ci"]] == list(curves.LEVELS)
    b = curves.curves_for(d, t, n_queries=60, seed=3)
    for k in ("top1", "mse"):
        se = np.hypot(a[f"{k}_se"], b[f"{k}_se"])
        assert np.all(np.abs(np.subtract(a[k], b[k])) <= 4 * se + 1e-6), k


def test_analyze_curves_unconditional_and_cached(monkeypatch):
    d = _labelled()
    a = curves.analyze_curves(d, [0.0, 0.5], n_queries=8, seed=0, conditional=False)
    assert a["N"] == d.N and a["top1"][0] == pytest.approx(1 / d.N)
    monkeypatch.setattr(curves, "_analyze_curves", lambda *a, **k: 1 / 0)
    b = curves.analyze_curves(d, [0.0, 0.5], n_queries=8, seed=0, conditional=False)
    assert b["top1"] == a["top1"]  # the cache (computing would raise)
    np.testing.assert_equal(b["crossings_ci"], a["crossings_ci"])  # NaN where not crossed
