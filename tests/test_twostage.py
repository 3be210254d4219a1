"""Compute helpers of the book's Sections 2 and 3 (flowstage_lib.twostage)."""

import math

import numpy as np
import pytest
import torch

from flowstage_lib import OracleVelocity, twostage
from flowstage_lib.data import load_dataset, synthetic_gaussian
from flowstage_lib.transition import collapse_time


@pytest.fixture(autouse=True)
def _tmp_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FLOWSTAGE_CACHE", str(tmp_path / "cache"))


def _queries(x, path, t, n, seed=0):
    g = torch.Generator().manual_seed(seed)
    i = torch.randint(len(x), (n,), generator=g)
    return float(path.alpha(t)) * x[i] + float(path.sigma(t)) * torch.randn(
        n, x.shape[1], generator=g, dtype=x.dtype)


def test_toy_mixture_shapes_and_labels():
    x, y = twostage.toy_mixture_2d(num_classes=3, n_per_class=4, seed=0)
    assert x.shape == (12, 2) and x.dtype == torch.float64
    assert y.tolist() == [0] * 4 + [1] * 4 + [2] * 4


@pytest.mark.parametrize("path_name", ["rectified flow", "cosine"])
@pytest.mark.parametrize("t", [0.0, 0.3, 0.8])
def test_bayes_mc_matches_eq19(path_name, t):
    x, _ = twostage.toy_mixture_2d()
    path = twostage.PATHS[path_name]
    q = _queries(x, path, t, 6)
    est, se = twostage.bayes_mc_velocity(x, path, q, t, 20000, torch.Generator().manual_seed(1))
    u = OracleVelocity(x, path=path, dtype=torch.float64).velocity(q, t)
    z = (est - u).abs() / (se + 1e-8 * (1 + u.abs()))
    assert z.max() < 5, z


def test_joint_mc_matches_eq19_early():
    x, _ = twostage.toy_mixture_2d()
    path = twostage.PATHS["rectified flow"]
    t = 0.1
    q = _queries(x, path, t, 4)
    est, se, n = twostage.joint_mc_velocity(x, path, q, t, 400_000, 0.15 * 0.9,
                                            torch.Generator().manual_seed(2))
    u = OracleVelocity(x, path=path, dtype=torch.float64).velocity(q, t)
    ok = torch.isfinite(se[:, 0])
    assert ok.any() and (n[ok] >= 12).all()
    assert ((est[ok] - u[ok]).abs() / se[ok]).max() < 5


def test_eq6_typo_only_agrees_at_t0():
    x, _ = twostage.toy_mixture_2d()
    oracle = OracleVelocity(x, path=twostage.PATHS["rectified flow"], dtype=torch.float64)
    q = torch.randn(5, 2, dtype=torch.float64)
    assert torch.allclose(twostage.typo_velocity(oracle, q, 0.0), oracle.velocity(q, 0.0))
    assert not torch.allclose(twostage.typo_velocity(oracle, q, 0.5), oracle.velocity(q, 0.5))


def test_theorem_check_rows():
    x, y = twostage.toy_mixture_2d()
    rows = twostage.theorem_check(x, y, [0.0, 0.9], n_queries=2, n_mc=500, n_pairs=20000,
                                  h_rel=0.15, joint_max_t=0.3, seed=0, paths=("cosine",))
    n = 2 * 2 * 2 * 2  # conditioning x t x queries x components
    assert all(len(v) == n for v in rows.values())
    late = [j for j, t in enumerate(rows["t"]) if t == 0.9]
    assert all(math.isnan(rows["joint"][j]) for j in late)  # joint estimator not run late


@pytest.mark.parametrize("conditional", [False, True])
def test_oracle_trajectories_end_on_training_points(conditional):
    x, y = twostage.toy_mixture_2d()
    tr = twostage.oracle_trajectories(x, y, n_traj=20, n_steps=100, seed=0,
                                      conditional=conditional)
    assert tr["traj"].shape == (101, 20, 2)
    assert (tr["dist"] < 1e-3).all()
    if conditional:
        assert (y[tr["nearest"]] == tr["y"]).all()


def test_oracle_field_shapes():
    x, y = twostage.toy_mixture_2d()
    f = twostage.oracle_field(x, y, [0.1, 0.9], extent=3.0, n_grid=7)
    assert f["u"].shape == (2, 7, 7, 2) and f["top1"].shape == (2, 7, 7)
    assert f["top1"][1].mean() > f["top1"][0].mean()


def test_t_grid():
    t = twostage.t_grid(8, 5)
    assert t[0] == 0.0 and t[-1] == 0.99 and len(t) == 14
    assert np.all(np.diff(t) > 0)


def test_collapse_dimension_inverts_collapse_time():
    D = twostage.collapse_dimension(0.1, 1400, 1.0)
    assert collapse_time(round(D), 1400, 1.0) == pytest.approx(0.1, rel=1e-3)


def test_data_spread_isotropic():
    d = synthetic_gaussian(16, 4000, num_classes=2, spread=0.5, seed=3)
    s = twostage.data_spread(d)
    assert s["D"] == 16 and s["N"] == 4000
    assert s["spread"] == pytest.approx(0.5, rel=0.02)
    assert s["D_eff"] == pytest.approx(16, rel=0.03)


def test_data_spread_real_data_is_low_dimensional():
    s = twostage.data_spread(load_dataset("digits"))
    assert s["D"] == 64 and s["D_eff"] < 32


def test_synthetic_curves_query_stream_is_not_the_data_stream():
    # regression: with one seed for data and queries, D = 256 and 256 queries gave noise equal
    # to training points and a posterior "collapsed" at t = 0.05 (truth: top-1 ~ 0.01)
    c = twostage.synthetic_curves(256, 300, [0.05], n_queries=256, seed=0)
    assert c["top1"][0] < 0.2
    with pytest.raises(ValueError, match="data_seed"):
        twostage.synthetic_curves(16, 10, [0.1], n_queries=4, seed=5, data_seed=5)


def test_curves_for_is_cached(monkeypatch):
    d = load_dataset("digits")
    a = twostage.curves_for(d, [0.0, 0.5], n_queries=8, seed=0)

    def recompute(*args, **kwargs):
        raise AssertionError("curves_for recomputed instead of reading the cache")

    monkeypatch.setattr(twostage, "_curves", recompute)
    b = twostage.curves_for(d, [0.0, 0.5], n_queries=8, seed=0)  # must be a cache hit
    assert a == b and a["N"] == pytest.approx(179.7, abs=0.1) and a["D"] == 64
