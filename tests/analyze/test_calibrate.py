"""The data-scale identity in float64 (independent naive softmax) and the calibration."""

import math

import numpy as np
import pytest
import torch

from flowstage_lib.analyze import calibrate_scale, clock_identity
from flowstage_lib.analyze.calibrate import k_from_crossing
from flowstage_lib.oracle import OracleVelocity
from flowstage_lib.path import timestep_shift


def _naive_gamma(x1, xt, t):
    """Posterior weights by the definition: softmax(-||x_t - t x1_i||^2 / (2 (1 - t)^2))."""
    d2 = ((xt[:, None, :] - t * x1[None]) ** 2).sum(-1)  # (B, N)
    lg = -d2 / (2 * (1 - t) ** 2)
    lg -= lg.max(1, keepdims=True)
    w = np.exp(lg)
    return w / w.sum(1, keepdims=True)


@pytest.mark.parametrize("k", [0.5, 3.0, 7.5])
@pytest.mark.parametrize("t", [0.05, 0.3, 0.8])
def test_scaled_data_is_a_change_of_clock(k, t):
    rng = np.random.default_rng(1)
    x1 = rng.normal(size=(40, 6))
    x0 = rng.normal(size=(5, 6))
    q = x1[rng.integers(0, 40, 5)]
    tau, c = clock_identity(t, k)
    assert tau == pytest.approx(k * t / (1 + (k - 1) * t))
    xt = t * (k * q) + (1 - t) * x0  # on data k x1
    xtau = tau * q + (1 - tau) * x0  # on data x1
    np.testing.assert_allclose(xt, c * xtau, rtol=1e-12)
    np.testing.assert_allclose(_naive_gamma(k * x1, xt, t), _naive_gamma(x1, xtau, tau), atol=1e-12)
    # The oracle (float64) on k x at t against the chain rule of the oracle on x at tau.
    u_k = OracleVelocity(k * x1, dtype=torch.float64).velocity(torch.from_numpy(xt), t).numpy()
    u = OracleVelocity(x1, dtype=torch.float64).velocity(torch.from_numpy(xtau), tau).numpy()
    np.testing.assert_allclose(
        u_k, (k - 1) * xtau + k * (1 - tau) / (1 - t) * u, rtol=1e-9, atol=1e-9
    )


def test_k_from_crossing_by_hand():
    k = k_from_crossing(0.3, 0.1)
    assert k == pytest.approx(0.3 * 0.9 / (0.1 * 0.7))
    assert timestep_shift(0.1, k) == pytest.approx(0.3)
    assert math.isnan(k_from_crossing(math.nan))
    assert math.isnan(k_from_crossing(0.0))  # collapsed at t = 0 already: no scale does it
    with pytest.raises(ValueError, match="target_t"):
        k_from_crossing(0.3, 1.0)


def test_calibrated_data_crosses_at_the_target():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(4, 24)) * 2
    y = rng.integers(0, 4, 800)
    x = centres[y] + rng.normal(size=(800, 24))
    cal = calibrate_scale(x, y, queries=64, times=40, n_boot=50)
    assert cal.k_interval[0] <= cal.k <= cal.k_interval[1]
    assert cal.k_by_level[0.5][0] < cal.k < cal.k_by_level[0.99][0]
    again = calibrate_scale(cal.k * x, y, queries=64, times=40, n_boot=50)
    assert again.t_cross == pytest.approx(0.1, abs=0.01)
    assert again.k == pytest.approx(1.0, abs=0.12)
