"""Affine paths and the timestep shift: schedules, derivatives, samples (Sec. 2, Sec. 5.1)."""

import math

import numpy as np
import pytest
import torch

from flowstage_lib.path import CosinePath, PathSample, RectifiedFlowPath, timestep_shift

# Schedules written again here, independently of the library.
SCHEDULES = {
    "rectified": (
        RectifiedFlowPath(),
        lambda t: t,
        lambda t: 1 - t,
        lambda t: 1.0,
        lambda t: -1.0,
    ),
    "cosine": (
        CosinePath(),
        lambda t: math.sin(math.pi * t / 2),
        lambda t: math.cos(math.pi * t / 2),
        lambda t: math.pi / 2 * math.cos(math.pi * t / 2),
        lambda t: -math.pi / 2 * math.sin(math.pi * t / 2),
    ),
}
T_GRID = [0.0, 1e-3, 0.05, 0.1, 0.5, 0.9, 0.999]


@pytest.fixture(params=sorted(SCHEDULES))
def schedule(request):
    return SCHEDULES[request.param]


def test_boundary_values(schedule):
    path = schedule[0]
    assert path.alpha(0.0) == pytest.approx(0.0, abs=1e-15)
    assert path.sigma(0.0) == pytest.approx(1.0)
    assert path.alpha(1.0) == pytest.approx(1.0)
    assert path.sigma(1.0) == pytest.approx(0.0, abs=1e-15)


@pytest.mark.parametrize("t", T_GRID)
def test_schedule_matches_formula(schedule, t):
    path, a, s, da, ds = schedule
    assert path.alpha(t) == pytest.approx(a(t), rel=1e-14, abs=1e-15)
    assert path.sigma(t) == pytest.approx(s(t), rel=1e-14, abs=1e-15)
    assert path.d_alpha(t) == pytest.approx(da(t), rel=1e-14, abs=1e-15)
    assert path.d_sigma(t) == pytest.approx(ds(t), rel=1e-14, abs=1e-15)


@pytest.mark.parametrize("t", [1e-3, 0.05, 0.3, 0.5, 0.9, 0.999])
def test_derivatives_vs_finite_differences(schedule, t):
    path = schedule[0]
    h = 1e-6
    fd_a = (path.alpha(t + h) - path.alpha(t - h)) / (2 * h)
    fd_s = (path.sigma(t + h) - path.sigma(t - h)) / (2 * h)
    assert path.d_alpha(t) == pytest.approx(fd_a, abs=1e-8)
    assert path.d_sigma(t) == pytest.approx(fd_s, abs=1e-8)


def test_types_are_preserved(schedule):
    path = schedule[0]
    tt = torch.tensor(T_GRID, dtype=torch.float64)
    tn = np.array(T_GRID)
    for f in (path.alpha, path.sigma, path.d_alpha, path.d_sigma):
        assert isinstance(f(0.3), float)
        out_t, out_n = f(tt), f(tn)
        assert isinstance(out_t, torch.Tensor) and out_t.shape == tt.shape
        assert out_t.dtype == torch.float64
        assert isinstance(out_n, np.ndarray) and out_n.shape == tn.shape
        np.testing.assert_allclose(out_t.numpy(), out_n, rtol=1e-14)
        np.testing.assert_allclose(out_n, [f(t) for t in T_GRID], rtol=1e-14)


@pytest.mark.parametrize("per_row", [False, True])
def test_sample_matches_alpha_sigma(schedule, per_row):
    path, a, s, da, ds = schedule
    g = torch.Generator().manual_seed(0)
    B = len(T_GRID)
    x0 = torch.randn(B, 3, 4, generator=g, dtype=torch.float64)
    x1 = torch.randn(B, 3, 4, generator=g, dtype=torch.float64)
    if per_row:
        t = torch.tensor(T_GRID, dtype=torch.float64)
        ps = path.sample(x0, x1, t)
        for i, ti in enumerate(T_GRID):
            torch.testing.assert_close(ps.x_t[i], a(ti) * x1[i] + s(ti) * x0[i])
            torch.testing.assert_close(ps.dx_t[i], da(ti) * x1[i] + ds(ti) * x0[i])
    else:
        ps = path.sample(x0, x1, 0.3)
        torch.testing.assert_close(ps.x_t, a(0.3) * x1 + s(0.3) * x0)
        torch.testing.assert_close(ps.dx_t, da(0.3) * x1 + ds(0.3) * x0)
    assert isinstance(ps, PathSample)
    assert ps.x0 is x0 and ps.x1 is x1


def test_rectified_flow_target_is_x1_minus_x0():
    g = torch.Generator().manual_seed(1)
    x0, x1 = torch.randn(2, 5, 7, generator=g, dtype=torch.float64)
    ps = RectifiedFlowPath().sample(x0, x1, torch.rand(5, generator=g, dtype=torch.float64))
    torch.testing.assert_close(ps.dx_t, x1 - x0)


def test_sample_errors():
    path = RectifiedFlowPath()
    with pytest.raises(ValueError, match=r"^x0 and x1"):
        path.sample(torch.zeros(2, 3), torch.zeros(2, 4), 0.5)
    with pytest.raises(ValueError, match=r"^t must"):
        path.sample(torch.zeros(2, 3), torch.zeros(2, 3), torch.zeros(3))


@pytest.mark.parametrize("t", [0.0, 0.1, 0.5, 0.9, 0.999])
def test_oracle_coefficients(schedule, t):
    """Eq. 19: A_t = alpha' - alpha sigma' / sigma, B_t = sigma' / sigma (not sigma^2, Eq. 6)."""
    path, a, s, da, ds = schedule
    A, B = path.oracle_coefficients(t)
    assert A == pytest.approx(da(t) - a(t) * ds(t) / s(t), rel=1e-12)
    assert B == pytest.approx(ds(t) / s(t), rel=1e-12)
    if isinstance(path, RectifiedFlowPath):
        assert A == pytest.approx(1 / (1 - t)) and B == pytest.approx(-1 / (1 - t))
    # The CFM target of a noiseless x1 is reproduced: u(x_t) with E[x1 | x_t] = x1.
    g = torch.Generator().manual_seed(2)
    x0, x1 = torch.randn(2, 4, 3, generator=g, dtype=torch.float64)
    ps = path.sample(x0, x1, t)
    torch.testing.assert_close(path.x1_to_velocity(x1, ps.x_t, t), ps.dx_t)
    torch.testing.assert_close(path.velocity_to_x1(ps.dx_t, ps.x_t, t), x1)


def test_timestep_shift_endpoints_monotone_identity():
    t = torch.linspace(0, 1, 101, dtype=torch.float64)
    for s in (0.1, 0.3, 0.5, 0.7, 1.0, 2.0, 4.0):
        tm = timestep_shift(t, s)
        assert tm[0] == 0 and tm[-1] == pytest.approx(1.0, abs=1e-15)
        assert torch.all(torch.diff(tm) > 0)
        torch.testing.assert_close(tm, s * t / (1 + (s - 1) * t))
        if s < 1:  # more steps near t = 0 (navigation)
            assert torch.all(tm[1:-1] < t[1:-1])
    torch.testing.assert_close(timestep_shift(t, 1.0), t)
    assert timestep_shift(0.0, 0.3) == 0.0 and timestep_shift(1.0, 0.3) == 1.0
    assert timestep_shift(0.5, 2) == pytest.approx(2 / 3)
    np.testing.assert_allclose(timestep_shift(np.array([0.25, 0.5]), 0.5), [1 / 7, 1 / 3])


@pytest.mark.parametrize("s", [0.0, -1.0, float("nan"), float("inf")])
def test_timestep_shift_bad_s(s):
    with pytest.raises(ValueError, match=r"^s must"):
        timestep_shift(0.5, s)


def test_timestep_shift_bad_s_type():
    with pytest.raises(TypeError, match=r"^s must"):
        timestep_shift(0.5, "0.3")


@pytest.mark.parametrize(
    "t, s", [(1.5, 1.0), (2.0, 0.5), (-0.1, 2.0), (float("nan"), 0.5), (np.float64(1.01), 0.5)]
)
def test_timestep_shift_t_outside_unit_interval(t, s):
    with pytest.raises(ValueError, match=r"^t must lie in \[0, 1\], got"):
        timestep_shift(t, s)


@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_timestep_shift_arrays_outside_unit_interval(kind):
    t = [0.0, 0.5, 1.5]
    t = np.array(t) if kind == "numpy" else torch.tensor(t, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"^t must lie in \[0, 1\], got 1.5"):
        timestep_shift(t, 0.5)
    with pytest.raises(TypeError, match=r"^t must be a float"):
        timestep_shift("0.5", 0.5)
