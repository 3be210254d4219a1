"""Every Section 2-3 criterion can pass and can fail (flowstage_lib.experiments.criteria)."""

import math

import numpy as np
import pytest

from flowstage_lib.experiments import criteria as C

NAN = float("nan")


def test_bonferroni_bound():
    assert C.bonferroni_bound(1, 0.05) == pytest.approx(1.959964, abs=1e-5)
    assert C.bonferroni_bound(192) == pytest.approx(4.05, abs=0.01)  # the smoke book's bound
    with pytest.raises(ValueError, match="n_tests"):
        C.bonferroni_bound(0)


def test_theorem21_matches_monte_carlo():
    rng = np.random.default_rng(0)
    z = np.concatenate([rng.standard_normal(200), [NAN] * 50])  # NaN: estimator not run
    v = C.theorem21_matches_monte_carlo(z)
    assert (v.kind, v.verdict) == ("identity", "checked") and "of 200" in v.evidence
    z[0] = 6.0  # above the bound for 200 tests (~4.05)
    assert C.theorem21_matches_monte_carlo(z).verdict == "failed"
    with pytest.raises(ValueError, match="nothing was tested"):
        C.theorem21_matches_monte_carlo([NAN])


def test_eq6_as_printed_rejected():
    t = [0.0, 0.1, 0.6]
    v = C.eq6_as_printed_rejected(t, [0.5, 30.0, 50.0], z_star=4.0)
    assert (v.kind, v.verdict) == ("identity", "checked")  # small |z| at t = 0 is allowed
    assert C.eq6_as_printed_rejected(t, [0.5, 3.0, 50.0], z_star=4.0).verdict == "failed"
    assert C.eq6_as_printed_rejected([0.0], [50.0], z_star=4.0).verdict == "failed"  # no t >= .1
    with pytest.raises(ValueError, match="shape"):
        C.eq6_as_printed_rejected(t, [1.0], z_star=4.0)


def test_fig5_oracle_retrieves_training_points():
    v = C.fig5_oracle_retrieves_training_points(1.0, 0.99)
    assert (v.kind, v.verdict) == ("identity", "checked")
    assert C.fig5_oracle_retrieves_training_points(1.0, 0.98).verdict == "failed"


def test_fig2a_mse_concentrated_early():
    v = C.fig2a_mse_concentrated_early(0.9, [0.85, 0.8])
    assert (v.kind, v.verdict) == ("model", "reproduced")
    assert C.fig2a_mse_concentrated_early(0.9, [0.85, 0.1]).verdict == "partly"
    assert C.fig2a_mse_concentrated_early(0.5, [0.85]).verdict == "partly"
    assert C.fig2a_mse_concentrated_early(0.9, []).verdict == "partly"  # no real data
    assert C.fig2a_mse_concentrated_early(0.5, [0.1]).verdict == "not reproduced"


def test_fig2b_top1_saturates_early():
    v = C.fig2b_top1_saturates_early(0.15, [0.2, 0.1])
    assert (v.kind, v.verdict) == ("model", "reproduced")
    assert C.fig2b_top1_saturates_early(0.15, [0.75]).verdict == "partly"
    assert C.fig2b_top1_saturates_early(0.15, [0.1, NAN]).verdict == "partly"  # never saturates
    assert C.fig2b_top1_saturates_early(NAN, [0.75]).verdict == "not reproduced"


def _curve(top1_first=0.02, reaches=True, mse_late=0.0):
    t = [0.0, 0.001, 0.1, 0.5, 0.99]
    top1 = [0.01, top1_first, 0.5, 0.995 if reaches else 0.9, 1.0 if reaches else 0.95]
    return {"t": t, "top1": top1, "mse": [1.0, 1.0, 0.5, mse_late, mse_late]}


def test_fig2_two_stages():
    v = C.fig2_two_stages({"a": _curve(), "b": _curve()})
    assert (v.kind, v.verdict) == ("model", "reproduced")
    assert C.fig2_two_stages({"a": _curve(), "b": _curve(top1_first=0.6)}).verdict == "partly"
    assert C.fig2_two_stages({"a": _curve(reaches=False)}).verdict == "not reproduced"
    assert C.fig2_two_stages({"a": _curve(mse_late=0.06)}).verdict == "not reproduced"


def _crossings(*t05):
    return {k: {0.5: t, 0.9: 2 * t, 0.99: 3 * t} for k, t in zip((10, 20, 40), t05, strict=False)}


def test_fig3a_larger_D_earlier():
    v = C.fig3a_larger_D_earlier(_crossings(0.3, 0.2, 0.1))
    assert (v.kind, v.verdict) == ("model", "reproduced")
    mixed = _crossings(0.3, 0.2, 0.1)
    mixed[40][0.99] = 0.9
    assert C.fig3a_larger_D_earlier(mixed).verdict == "partly"
    assert C.fig3a_larger_D_earlier(_crossings(0.1, 0.2, 0.3)).verdict == "not reproduced"
    assert C.fig3a_larger_D_earlier(_crossings(0.3, 0.2, NAN)).verdict == "not reproduced"
    with pytest.raises(ValueError, match="two"):
        C.fig3a_larger_D_earlier(_crossings(0.3))


def test_fig3b_larger_N_later():
    v = C.fig3b_larger_N_later(_crossings(0.1, 0.2, 0.3))
    assert (v.kind, v.verdict) == ("model", "reproduced")
    assert C.fig3b_larger_N_later(_crossings(0.1, 0.2, 0.2)).verdict == "not reproduced"


def test_collapse_time_predicts_t05():
    v = C.collapse_time_predicts_t05(0.12, 0.1)
    assert (v.kind, v.verdict) == ("model", "reproduced")
    assert C.collapse_time_predicts_t05(0.13, 0.1).verdict == "not reproduced"
    assert C.collapse_time_predicts_t05(NAN, 0.1).verdict == "not reproduced"
    with pytest.raises(ValueError, match="t_c"):
        C.collapse_time_predicts_t05(0.1, 0.0)


def test_late_rise():
    assert C.late_rise([3.0, 2.0, 1.0, 0.0], 1.0) == 0.0  # non-increasing
    assert C.late_rise([3.0, 1.0, 2.0, 0.5, 1.5], 2.0) == pytest.approx(0.5)  # 1 -> 2, over 2
    with pytest.raises(ValueError, match="mse0"):
        C.late_rise([1.0], 0.0)
    with pytest.raises(ValueError, match="finite"):
        C.late_rise([1.0, NAN], 1.0)


def test_fig2a_late_rise_exact():
    fall = [1e-3, 1e-9, 0.0, 0.0]  # the exact curve falls to 0
    late = {"a": {"mse32": [1e-3, 1e-9, 1e-9, 1e-8], "mse64": fall, "mse0": 1.0}}
    v = C.fig2a_late_rise_exact(late)
    assert (v.kind, v.verdict) == ("identity", "checked") and "no visible rise" in v.evidence
    late["b"] = {"mse32": [0.0, 0.0, 0.01, 0.05], "mse64": fall, "mse0": 1.0}
    v = C.fig2a_late_rise_exact(late)
    assert (
        v.verdict == "checked"
        and "b: rise float32 0.05, float64 0 (float32 artifact)" in v.evidence
    )
    late["c"] = {"mse32": fall, "mse64": [0.0, 0.0, 0.002, 0.0], "mse0": 1.0}  # 0.2% > 0.1%
    v = C.fig2a_late_rise_exact(late)
    assert v.verdict == "failed" and "(rises in float64)" in v.evidence
    assert C.fig2a_late_rise_exact({"c": {**late["c"], "mse0": 4.0}}).verdict == "checked"
    with pytest.raises(ValueError, match="at least one"):
        C.fig2a_late_rise_exact({})


def test_every_criterion_states_its_test():
    v = C.fig3a_larger_D_earlier(_crossings(0.3, 0.2, 0.1))
    assert v.test.startswith("Fig. 3a: larger D saturates earlier") and "\n" not in v.test
    assert not math.isnan(C.bonferroni_bound(10))
