"""Section 3 experiments (flowstage_lib.experiments.sec3_two_stage)."""

import matplotlib
import numpy as np
import pytest

from flowstage_lib.experiments import criteria, plots_sec3
from flowstage_lib.experiments import sec3_two_stage as s3

matplotlib.use("Agg")


def _curve(D, N, t99, mse_late=0.0):
    t = [0.0, 0.001, 0.05, 0.1, t99, 0.99]
    return {"D": D, "N": N, "t": t, "top1": [0.01, 0.02, 0.5, 0.9, 0.99, 1.0],
            "top1_se": [0.0] * 6, "mse": [2.0, 1.9, 1.0, 0.2, mse_late, mse_late]}  # fmt: skip


def test_mse_share_of_a_constant_curve():
    c = {"t": [0.0, 0.5, 0.99], "mse": [1.0, 1.0, 1.0]}
    assert s3.mse_share(c, 0.1) == pytest.approx(0.1 / 0.99, abs=1e-3)
    c = {"t": [0.0, 0.1, 0.99], "mse": [1.0, 0.0, 0.0]}  # triangle: all area in t <= 0.1
    assert s3.mse_share(c, 0.1) == pytest.approx(1.0)


def test_figure2_table_summary_and_sentences():
    curves = {"real A": _curve(64, 100, 0.5), "Gaussian D=8, N=2": _curve(8, 2, 0.15)}
    tab = s3.figure2_table(curves)
    assert list(tab.data) == list(curves) and tab["t_0.99"].tolist() == [0.5, 0.15]
    s = s3.figure2_summary(tab, "Gaussian D=8, N=2")
    assert s.t99_syn == 0.15 and s.t99_real == [0.5] and s.late == ["real A (0.50)"]
    assert "real A (0.50)" in s3.real_sentence(s)
    assert s3.shape_sentence(curves) == "on all 2 data sets"
    curves["flat"] = {**_curve(8, 2, 0.15), "top1": [0.01] * 6}
    assert s3.shape_sentence(curves) == "on 2 of 3 data sets (not on: flat)"
    cmp = s3.figure2_comparison(s, tab, "Gaussian D=8, N=2", "partly", "partly")
    assert list(cmp.verdict[:2]) == ["partly", "partly"]
    fig = plots_sec3.figure2(curves, {k: 0.1 for k in curves})
    assert len(fig.axes) == 2


def test_figure3_comparison_uses_the_verdicts():
    by_D = {8: _curve(8, 2, 0.3), 16: _curve(16, 2, 0.2)}
    cr = {k: {0.5: 0.05, 0.9: 0.1, 0.99: c["t"][4]} for k, c in by_D.items()}
    f3 = s3.Figure3(by_D, by_D, cr, cr, table=None)
    v3a, v3b = criteria.fig3a_larger_D_earlier(cr), criteria.fig3b_larger_N_later(cr)
    cmp = s3.figure3_comparison(f3, v3a, v3b, 2, 8)
    assert list(cmp.verdict) == [v3a.verdict, v3b.verdict] == ["partly", "not reproduced"]
    assert "0.100, 0.100" in cmp.ours[0]
    assert len(plots_sec3.figure3(by_D, by_D, 2, 8).axes) == 2
    g = s3.figure3_glue(f3, v3a, v3b)
    assert (g["D_first"], g["D_last"], g["t9_D_first"], g["verdict_3b"]) == (
        8, 16, 0.1, "not reproduced"
    )  # fmt: skip

    class _Results:
        def __init__(self):
            self.rows = []

        def claim(self, *args, **kwargs):
            self.rows.append((args, kwargs))

    r = _Results()
    s3.record_figure3_claims(r, f3, v3a, v3b)
    assert [a[0] for a, _ in r.rows] == ["fig3a_dimension", "fig3b_size"]
    assert "t_0.9 = 0.100, 0.100 for D = 8, 16" == r.rows[0][0][3]


def test_availability_note():
    assert s3.availability_note([]) == "Every requested data set is present."
    note = s3.availability_note(["fashion_mnist", "other"])
    assert "Fashion-MNIST is not installed" in note and "left out: other" in note
    assert np.isfinite(s3.mse_share({"t": [0.0, 1.0], "mse": [1.0, 1.0]}))
