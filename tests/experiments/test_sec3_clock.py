"""The clock calibration of Sec. 3: k moves the measured crossing to the paper's time."""

import math

import pytest

from flowstage_lib.experiments import paper, sec3_clock
from flowstage_lib.path import timestep_shift


@pytest.fixture(autouse=True)
def _tmp_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FLOWSTAGE_CACHE", str(tmp_path / "cache"))


def test_k_maps_the_paper_time_onto_our_crossing():
    cal = sec3_clock.clock_calibration(n_queries=20, seed=0)
    # tau = shift(t, k): on data k x1 at the paper's t, the clock of x1 reads our crossing
    assert timestep_shift(paper.TRANSITION_T, cal.k) == pytest.approx(cal.t_cross, rel=1e-6)
    assert cal.k_interval[0] <= cal.k <= cal.k_interval[1] and cal.k > 1
    table = sec3_clock.clock_table(cal)
    assert table["anchor (top-1 level at t = 0.1)"].tolist() == [0.5, 0.9, 0.99]
    k = table.set_index("anchor (top-1 level at t = 0.1)")["k"]
    assert math.isclose(k[0.9], cal.k) and k[0.5] < k[0.9] <= k[0.99]
