"""Section 2 experiments (flowstage_lib.experiments.sec2_oracle)."""

import math

import matplotlib
import numpy as np
import pytest
import torch

from flowstage_lib.experiments import plots_sec2, sec2_oracle, sec2_sampling

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def _tmp_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FLOWSTAGE_CACHE", str(tmp_path / "cache"))


def test_toy_mixture_shapes_and_labels():
    x, y = sec2_oracle.toy_mixture_2d(num_classes=3, n_per_class=4, seed=0)
    assert x.shape == (12, 2) and x.dtype == torch.float64
    assert y.tolist() == [0] * 4 + [1] * 4 + [2] * 4


def _check(**kw):
    x, y = sec2_oracle.toy_mixture_2d()
    args = dict(n_queries=2, n_mc=500, n_pairs=20000, h_rel=0.15, joint_max_t=0.3, seed=0)
    return sec2_oracle.theorem_check(x, y, [0.0, 0.9], **{**args, **kw}, paths=("cosine",))


def test_theorem_check_rows():
    rows = _check()
    n = 2 * 2 * 2 * 2  # conditioning x t x queries x components
    assert all(len(v) == n for v in rows.values())
    late = [j for j, t in enumerate(rows["t"]) if t == 0.9]
    assert all(math.isnan(rows["joint"][j]) for j in late)  # joint estimator not run late


def test_theorem_summary_z_by_hand():
    rows = _check()
    s = sec2_oracle.theorem_summary(rows, joint_max_t=0.3)
    j = 3
    u, b, se = rows["oracle"][j], rows["bayes"][j], rows["bayes_se"][j]
    z = (b - u) / math.sqrt(se**2 + (1e-8 * (1 + abs(u))) ** 2)
    assert s.mc.z_bayes[j] == pytest.approx(z)
    n = sum(not math.isnan(v) for v in rows["bayes"]) + sum(
        not math.isnan(v) for v in rows["joint"]
    )
    assert s.n_tests == n and len(s.z19) == 2 * len(rows["t"])
    assert list(s.by_t.t) == [0.0, 0.9] and s.min_z6_late == s.by_t.iloc[1, 3]
    assert isinstance(sec2_oracle.theorem_reason(s, True, 0.9), str)


@pytest.mark.parametrize("conditional", [False, True])
def test_oracle_trajectories_end_on_training_points(conditional):
    x, y = sec2_oracle.toy_mixture_2d()
    tr = sec2_sampling.oracle_trajectories(x, y, 20, 100, seed=0, conditional=conditional)
    assert tr["traj"].shape == (101, 20, 2)
    assert (tr["dist"] < 1e-3).all()
    if conditional:
        assert (y[tr["nearest"]] == tr["y"]).all()


def test_retrieval_table_counts_end_points():
    x, y = sec2_oracle.toy_mixture_2d()
    tab = sec2_sampling.retrieval_table(x, y, n_traj=20, steps=[1, 100], seed=0, tol=1e-3)
    assert list(tab["Euler steps"]) == [1, 100]
    assert tab["uncond.: on a point"].iloc[1] == 1.0 and tab["cond.: on a point"].iloc[1] == 1.0
    # one Euler step from t = 0 lands on the data mean, on no training point
    assert tab["uncond.: on a point"].iloc[0] == 0.0


def test_oracle_field_shapes():
    x, y = sec2_oracle.toy_mixture_2d()
    f = sec2_sampling.oracle_field(x, [0.1, 0.9], extent=3.0, n_grid=7)
    assert f["u"].shape == (2, 7, 7, 2) and f["top1"].shape == (2, 7, 7)
    assert f["top1"][1].mean() > f["top1"][0].mean()


def test_figures_draw():
    x, y = sec2_oracle.toy_mixture_2d()
    s = sec2_oracle.theorem_summary(_check(), joint_max_t=0.3)
    f = sec2_sampling.oracle_field(x, [0.1, 0.9], extent=3.0, n_grid=7)
    tr = [sec2_sampling.oracle_trajectories(x, y, 5, 10, 0, c) for c in (False, True)]
    figs = [
        plots_sec2.mc_check_figure(s.mc, s.z_star),
        plots_sec2.oracle_field_figure(f, x, y, 3.0),
        plots_sec2.trajectories_figure(x, y, *tr),
    ]
    assert [len(fig.axes) >= 2 for fig in figs] == [True] * 3
    assert np.isfinite(s.z_star)
