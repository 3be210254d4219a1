"""The calibrated setting (flowstage_lib.experiments.calibration): k from a crossing known in
closed form, the k formula against an independent float64 root, parameters, cache, settings."""

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from numpy.polynomial.hermite_e import hermegauss

from flowstage_lib.analyze.calibrate import k_from_crossing
from flowstage_lib.data import ImageData
from flowstage_lib.experiments import calibration as C
from flowstage_lib.tooling.book import ProfileError, check_overrides


@pytest.fixture(autouse=True)
def _env(monkeypatch, tmp_path):
    monkeypatch.setenv("FLOWSTAGE_CACHE", str(tmp_path))
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _params(**kw):
    p = dict(setting="calibrated", calibration_target_t=0.1, n_queries=4000, n_boot=100, seed=0)
    return SimpleNamespace(**{**p, **kw})


def _pairs(A: float) -> ImageData:
    """Two classes of two 1-D points each, +-A around their centre (0 and 10)."""
    x = torch.tensor([A, -A, 10 + A, 10 - A], dtype=torch.float64).reshape(4, 1, 1, 1)
    return ImageData(
        x=x.float(), y=torch.tensor([0, 0, 1, 1]), name="pairs", kind="synthetic", num_classes=2
    )


def _mean_top1(t: float, A: float) -> float:
    """Mean top-1 posterior weight for two points +-A, in closed form up to a 1-D Gaussian
    integral (float64 Gauss-Hermite): a query from +A has x_t ~ N(t A, (1 - t)^2) and the
    posterior log-odds 2 t A x_t / (1 - t)^2, so top-1 = sigmoid(|log-odds|)."""
    z, w = hermegauss(80)
    w = w / w.sum()
    xt = t * A + (1 - t) * z
    s = 2 * t * A * np.abs(xt) / (1 - t) ** 2
    return float((w / (1 + np.exp(-s))).sum())


def _crossing(A: float, level: float = 0.9) -> float:
    lo, hi = 1e-9, 0.999
    for _ in range(200):  # bisection: the mean top-1 weight increases in t
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if _mean_top1(mid, A) < level else (lo, mid)
    return 0.5 * (lo + hi)


def _k_by_root(t_cross: float, target: float) -> float:
    """k with k a / (1 + (k - 1) a) = t_cross, by float64 bisection (not the closed form)."""
    lo, hi = 1e-6, 1e6
    for _ in range(300):
        mid = math.sqrt(lo * hi)
        tau = mid * target / (1 + (mid - 1) * target)
        lo, hi = (mid, hi) if tau < t_cross else (lo, mid)
    return math.sqrt(lo * hi)


@pytest.mark.parametrize("t_cross,target", [(0.33, 0.1), (0.05, 0.1), (0.6, 0.25), (0.1, 0.1)])
def test_k_formula_against_an_independent_root(t_cross, target):
    assert k_from_crossing(t_cross, target) == pytest.approx(_k_by_root(t_cross, target), 1e-9)


def test_k_from_a_crossing_known_in_closed_form():
    A = 2.0
    t_true = _crossing(A)  # 0.391
    k_true = _k_by_root(t_true, 0.1)
    cal = C.calibrated_scale(_params(), _pairs(A))
    assert cal.t_cross == pytest.approx(t_true, abs=0.01)
    assert cal.k == pytest.approx(k_true, rel=0.04)
    # the test can fail: another spread moves the crossing by more than the tolerance
    assert abs(_k_by_root(_crossing(1.2 * A), 0.1) - cal.k) > 0.04 * k_true
    assert cal.k_interval[0] <= cal.k <= cal.k_interval[1]
    assert cal.k < cal.k_by_level[0.99][0]
    assert math.isnan(cal.k_by_level[0.5][0])  # two points: top-1 >= 0.5 from t = 0, no k
    assert (cal.level, cal.target_t, cal.conditional) == (0.9, 0.1, True)


def test_calibration_is_cached_and_keyed_by_the_target(monkeypatch):
    data = _pairs(2.0)
    p = _params(n_queries=200, n_boot=20)
    first = C.calibrated_scale(p, data)

    def computed(*a, **k):
        raise RuntimeError("computed, not cached")

    monkeypatch.setattr(C, "calibrate_scale", computed)
    again = C.calibrated_scale(p, data)
    assert (again.k, again.k_interval, again.k_by_level[0.99]) == (
        first.k,
        first.k_interval,
        first.k_by_level[0.99],
    )
    with pytest.raises(RuntimeError, match="computed"):  # another target: another key
        C.calibrated_scale(_params(n_queries=200, n_boot=20, calibration_target_t=0.2), data)


def test_setting_scale_native_is_none_and_calibrated_is_k():
    data, p = _pairs(2.0), _params(n_queries=200, n_boot=20)
    assert C.setting_scale(_params(setting="native"), data) is None
    assert C.setting_scale(p, data) == C.calibrated_scale(p, data).k


def test_table_and_glue_report_every_level():
    cal = C.calibrated_scale(_params(n_queries=200, n_boot=20), _pairs(2.0))
    tab = C.calibration_table(cal)
    assert tab.level.tolist() == [0.5, 0.9, 0.99]
    assert tab.used.tolist() == ["shown only", "yes", "shown only"]
    g = C.calibration_glue(cal, "native")
    assert g["data_scale"] == 1.0 and g["cal_k"] == cal.k
    assert g["cal_k"] < g["cal_k099"] and math.isnan(g["cal_k05"])
    assert C.calibration_glue(cal, "calibrated")["data_scale"] == cal.k


@pytest.mark.parametrize(
    "kw,match",
    [
        ({"setting": "scaled"}, "setting must be one of calibrated, native"),
        ({"calibration_target_t": 1.0}, "calibration_target_t must lie in"),
        ({"calibration_target_t": "0.1"}, "calibration_target_t must be a number"),
        ({"calibration_target_t": None}, "calibration_target_t"),
        ({"n_queries": 1}, "n_queries must be an integer"),
    ],
)
def test_bad_parameters_are_named(kw, match):
    with pytest.raises((ValueError, TypeError), match=match):
        C.calibrated_scale(_params(**kw), _pairs(2.0))


def test_profiles_carry_the_setting():
    for profile in ("smoke", "cpu", "gpu", "gpu-quick"):
        p = C.calibration_params(profile)
        assert (p.setting, p.target_t) == ("calibrated", 0.1)


def test_overrides_of_the_setting_are_checked():
    check_overrides("sec4_stages", "smoke", {"setting": "native", "calibration_target_t": 0.2})
    with pytest.raises(ProfileError, match="'setting'.*one of 'calibrated', 'native'"):
        check_overrides("sec4_stages", "smoke", {"setting": "scaled"})
    with pytest.raises(ProfileError, match=r"'calibration_target_t'.*\(0, 1\)"):
        check_overrides("sec4_stages", "smoke", {"calibration_target_t": 0.0})
