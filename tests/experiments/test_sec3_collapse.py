"""Collapse-time prediction of Section 3 (flowstage_lib.experiments.sec3_collapse)."""

import pytest

from flowstage_lib.data import load_dataset, synthetic_gaussian
from flowstage_lib.experiments import paper, sec3_collapse
from flowstage_lib.oracle.transition import collapse_time


def test_collapse_dimension_inverts_collapse_time():
    D = sec3_collapse.collapse_dimension(0.1, 1400, 1.0)
    assert collapse_time(round(D), 1400, 1.0) == pytest.approx(0.1, rel=1e-3)
    with pytest.raises(ValueError, match="t_c"):
        sec3_collapse.collapse_dimension(1.0, 1400)
    with pytest.raises(ValueError, match="N"):
        sec3_collapse.collapse_dimension(0.1, 1)


def test_data_spread_isotropic():
    d = synthetic_gaussian(16, 4000, num_classes=2, spread=0.5, seed=3)
    s = sec3_collapse.data_spread(d)
    assert s["D"] == 16 and s["N"] == 4000
    assert s["spread"] == pytest.approx(0.5, rel=0.02)
    assert s["D_eff"] == pytest.approx(16, rel=0.03)


def test_data_spread_real_data_is_low_dimensional():
    s = sec3_collapse.data_spread(load_dataset("digits"))
    assert s["D"] == 64 and s["D_eff"] < 32


def _curve(D, N, t05):
    # a top-1 curve that crosses 0.5 at t05, 0.9 at 2 t05 and 0.99 at 3 t05
    return {"D": D, "N": N, "t": [0.0, t05, 2 * t05, 3 * t05], "top1": [0.0, 0.5, 0.9, 0.99]}


def test_prediction_table_and_summary():
    tc = collapse_time(256, 200, 1.0)
    ok, off = _curve(256, 200, 0.9 * tc), _curve(64, 200, 0.3)
    pred = sec3_collapse.prediction_table([ok, off, ok], {}, {})
    assert len(pred) == 2  # the repeated (D, N) is listed once
    assert list(pred.holds) == [True, abs(0.3 / collapse_time(64, 200) - 1) <= 0.25]
    assert pred["rel. error"].iloc[0] == pytest.approx(-0.1)
    s = sec3_collapse.prediction_summary(pred)
    assert s.syn_total == 2 and s.ratio_min == pytest.approx(3.0)
    assert s.real_text == "No real data set was available."
    assert s.tc_paper_D == collapse_time(paper.IMAGENET_D, paper.IMAGENET_N_PER_CLASS, 1.0)
