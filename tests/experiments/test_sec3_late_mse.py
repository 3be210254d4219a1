"""Fig. 2a near t -> 1 in float32 and float64 (flowstage_lib.experiments.sec3_late_mse)."""

import matplotlib
import numpy as np
import pytest
import torch

from flowstage_lib.data import ImageData
from flowstage_lib.experiments import criteria, plots_sec3
from flowstage_lib.experiments import sec3_late_mse as L

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def _tmp_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FLOWSTAGE_CACHE", str(tmp_path / "cache"))


def _data(n=60, d=16, classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % classes
    x = torch.randn(classes, d, generator=g)[y] + 0.7 * torch.randn(n, d, generator=g)
    return ImageData(x.reshape(n, 1, 4, 4), y, "toy", num_classes=classes)


def _brute_mse(data, n_queries, seed, t):
    """MSE(u*, x1 - x0) from the definition in float64, one query and one t at a time, for
    the queries of late_mse (x1 = uniform rows, x0 float32 normal, one torch generator)."""
    gen = torch.Generator().manual_seed(seed)
    idx = torch.randint(0, data.N, (n_queries,), generator=gen).numpy()
    x = data.x.reshape(data.N, -1).double().numpy()
    x0 = torch.randn((n_queries, x.shape[1]), generator=gen).double().numpy()
    y = data.y.numpy()
    out = []
    for tt in t:
        errs = []
        for q, i in enumerate(idx):
            xs = x[y == y[i]]
            xt = tt * x[i] + (1 - tt) * x0[q]
            lg = -((xt - tt * xs) ** 2).sum(1) / (2 * (1 - tt) ** 2)
            g = np.exp(lg - lg.max())
            g /= g.sum()
            u = (g @ xs - xt) / (1 - tt)
            errs.append(((u - (x[i] - x0[q])) ** 2).mean())
        out.append(np.mean(errs))
    return np.array(out)


def test_both_dtypes_are_the_definition_where_rounding_is_small():
    d = _data()
    t = [0.05, 0.2, 0.4]  # before the posterior collapses (then both sit on rounding floors)
    r = L.late_mse(d, 12, seed=1, t=t, device=torch.device("cpu"))
    ref = _brute_mse(d, 12, 1, t)
    assert ref.min() > 1e-3 * r.mse0
    np.testing.assert_allclose(r.mse64, ref, rtol=1e-10)
    np.testing.assert_allclose(r.mse32, ref, rtol=1e-3)
    assert r.mse0 == pytest.approx(_brute_mse(d, 12, 1, [0.0])[0], rel=1e-12)
    assert r.n_queries == 12 and r.mse64.shape == (3,)


def test_near_one_float32_sits_on_its_rounding_floor():
    # the posterior is one-hot: the exact MSE is ~0; float32's floor is ~1e17 x float64's
    d = _data()
    r = L.late_mse(d, 8, seed=0, device=torch.device("cpu"))
    assert np.all(r.mse64 / r.mse0 < 1e-20)
    assert np.all(r.mse32 > 1e8 * r.mse64) and r.mse32[-1] > r.mse32[0]
    assert criteria.late_rise(r.mse32, r.mse0) < 1e-6


def test_late_curves_cache_cap_table_glue_and_plot(monkeypatch):
    sets = {"toy": _data()}
    late = L.late_curves(sets, 500, seed=0, t=[0.9, 0.99])
    assert late["toy"].n_queries == L.LATE_QUERIES
    monkeypatch.setattr(L, "late_mse", lambda *a, **k: 1 / 0)
    again = L.late_curves(sets, 500, seed=0, t=[0.9, 0.99])  # read from the cache
    np.testing.assert_array_equal(again["toy"].mse32, late["toy"].mse32)
    tab = L.late_table(late)
    assert tab["rise float64"].iloc[0] < 1e-20 and tab["t"].iloc[0] == "0.9 -> 0.99"
    v = criteria.fig2a_late_rise_exact({k: c.as_dict() for k, c in late.items()})
    g = L.late_glue(late, v)
    assert g["late_verdict"] == "checked" and g["late_n_queries"] == L.LATE_QUERIES
    assert g["late_eps_ratio2"] == pytest.approx(2.88e17, rel=0.01)
    assert len(plots_sec3.late_mse_figure(late).axes) == 1


def test_late_data_adds_the_synthetic_set():
    sets = L.late_data({"toy": _data()}, "syn", D=8, N=5, seed=0)
    assert list(sets) == ["toy", "syn"] and sets["syn"].x.reshape(5, -1).shape == (5, 8)


def test_errors_name_the_parameter():
    with pytest.raises(ValueError, match="t must be"):
        L.late_mse(_data(), 4, 0, t=[0.5, 1.0])
    with pytest.raises(ValueError, match="n_queries"):
        L.late_mse(_data(), 0, 0)
