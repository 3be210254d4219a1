"""Conversions of times, shifts and CFG intervals, each against a hand-derived value."""

import math

import pytest
import torch

from flowstage_lib.analyze import conventions as cv
from flowstage_lib.path import RectifiedFlowPath, timestep_shift


def test_ours_and_flow_matching_are_identity():
    # flow_matching's CondOTScheduler: alpha_t = t, sigma_t = 1 - t, t = 0 noise -- ours.
    for conv in ("ours", "flow_matching", "lightningdit"):
        assert cv.time_to(0.3, conv) == 0.3
        assert cv.shift_to(0.5, conv) == 0.5
    x0, x1 = torch.zeros(1, 2), torch.ones(1, 2)
    assert torch.allclose(RectifiedFlowPath().sample(x0, x1, 0.3).x_t, torch.full((1, 2), 0.3))


def test_sd3_time_and_shift_by_hand():
    assert cv.time_name("sd3") == "sigma"
    assert cv.time_to(0.25, "sd3") == 0.75  # sigma = 1 - t
    assert cv.time_from(0.75, "sd3") == 0.25
    assert cv.shift_to(1 / 3, "sd3") == pytest.approx(3.0)  # SD3's default S = 3 is s = 1/3
    # By hand: SD3 S = 3 at sigma = 0.5 gives 3 * 0.5 / (1 + 2 * 0.5) = 0.75, i.e. t = 0.25;
    # ours: s = 1/3 at t = 0.5 gives (1/6) / (1/6 + 1/2) = 0.25.
    assert cv.shifted_grid(3, 1 / 3, "sd3") == pytest.approx([1.0, 0.75, 0.0])
    assert cv.shifted_grid(3, 1 / 3, "ours") == pytest.approx([0.0, 0.25, 1.0])
    iv = cv.interval_to(0.1, 0.2, "sd3")
    assert (iv["lo"], iv["hi"]) == pytest.approx((0.8, 0.9))
    assert iv["timesteps"] == pytest.approx([900.0, 800.0])
    assert cv.interval_from(0.8, 0.9, "sd3") == pytest.approx((0.1, 0.2))


def test_sd3_shift_is_our_shift_on_sigma_for_many_values():
    for s in (0.1, 0.3, 0.5, 2.0, 4.0):
        for t in (0.0, 0.1, 0.37, 0.9, 1.0):
            big = cv.shift_to(s, "sd3")
            sigma = 1 - t
            assert 1 - timestep_shift(t, s) == pytest.approx(big * sigma / (1 + (big - 1) * sigma))


def test_lightningdit_grid_and_one_sided_interval_by_hand():
    # LightningDiT default timestep_shift 0.3 at the grid midpoint: 0.15 / 0.65.
    assert cv.shifted_grid(3, 0.3, "lightningdit")[1] == pytest.approx(0.15 / 0.65)
    iv = cv.interval_to(0.1, 0.6, "lightningdit")
    assert iv["cfg_interval_start"] == 0.1 and "one-sided" in iv["note"]


def test_bad_convention_and_values():
    with pytest.raises(ValueError, match="convention must be one of"):
        cv.time_to(0.1, "edm")
    with pytest.raises(ValueError, match="shift s"):
        cv.shift_to(0.0, "ours")
    with pytest.raises(ValueError, match="interval"):
        cv.interval_to(0.5, 0.2, "ours")
    assert math.isnan(cv.time_to(math.nan, "sd3"))
