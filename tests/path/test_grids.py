"""Time grids (path.grids): uniform, shifted (Table 2, Eq. 8), stage-wise (Table 1), the
log-linear evaluation grid (Figs. 2-3), grid checks."""

import math

import numpy as np
import pytest
import torch

import flowstage_lib.path as path_pkg
from flowstage_lib.path import (
    check_grid,
    log_linear_grid,
    shifted_grid,
    stagewise_grid,
    uniform_grid,
)


def test_uniform_grid():
    g = uniform_grid(50)
    assert g.shape == (51,) and g.dtype == torch.float64
    assert g[0] == 0.0 and g[-1] == 1.0
    assert torch.allclose(g.diff(), torch.full((50,), 0.02, dtype=torch.float64))


@pytest.mark.parametrize("s", [0.1, 0.3, 0.5, 0.7, 1.0, 2.0, 4.0])
def test_shifted_grid_endpoints_and_monotone(s):
    g = shifted_grid(50, s)
    assert g[0].item() == 0.0 and g[-1].item() == 1.0  # exactly
    assert bool((g.diff() > 0).all())
    u = uniform_grid(50)
    ref = s * u / (1 + (s - 1) * u)  # Table 2's formula, independently
    assert torch.allclose(g, ref, atol=1e-15)
    if s < 1:  # more steps early (navigation)
        assert bool((g[1:-1] < u[1:-1]).all())
    if s == 1.0:
        assert torch.allclose(g, u)


def test_stagewise_grid():
    g = stagewise_grid(25, 25, 0.2)
    assert g.shape == (51,)
    assert (g == 0.2).sum() == 1 and (g <= 0.2).sum() == 26
    assert torch.allclose(g[:26].diff(), torch.full((25,), 0.2 / 25, dtype=torch.float64))
    assert torch.allclose(g[25:].diff(), torch.full((25,), 0.8 / 25, dtype=torch.float64))
    with pytest.raises(ValueError):
        stagewise_grid(5, 5, 1.0)


def test_uniform_grid_on_a_sub_interval():
    """Fig. 6's resume grid: n uniform steps on [t_start, 1], both ends exact."""
    g = uniform_grid(6, t_start=0.4)
    assert g.shape == (7,) and g.dtype == torch.float64
    assert g[0].item() == 0.4 and g[-1].item() == 1.0
    ref = [0.4 + 0.1 * k for k in range(7)]  # (1 - 0.4) / 6 = 0.1
    assert g.tolist() == pytest.approx(ref, abs=1e-15)
    with pytest.raises(ValueError, match=r"t_start must be in \[0, 1\), got 1.0"):
        uniform_grid(4, t_start=1.0)


@pytest.mark.parametrize(
    "n, err, match",
    [
        (0, ValueError, "n_steps must be >= 1, got 0"),
        (2.0, TypeError, "n_steps must be an integer"),
        (True, TypeError, "n_steps must be an integer"),
    ],
)
def test_grids_name_a_bad_step_count(n, err, match):
    for build in (uniform_grid, lambda k: shifted_grid(k, 0.5)):
        with pytest.raises(err, match=match):
            build(n)
    assert uniform_grid(np.int64(3)).shape == (4,)  # numpy integers are counts too


def test_log_linear_grid_against_its_definition():
    """t = 0, n_log geometric points from t_min below t_split, n_lin linear to t_max."""
    t = log_linear_grid(4, 3, t_min=1e-3, t_split=0.2, t_max=0.8)
    ratio = (0.2 / 1e-3) ** (1 / 4)  # geometric step: 4 points, t_split excluded
    geo = [1e-3 * ratio**k for k in range(4)]
    lin = [0.2, 0.5, 0.8]
    assert t == pytest.approx([0.0, *geo, *lin], abs=1e-6)
    assert all(round(v, 6) == v for v in t)  # rounded to 6 decimals (stable cache keys)
    assert math.isclose(t[2] / t[1], ratio, rel_tol=1e-3)  # up to the rounding
    assert len(log_linear_grid(24, 16)) == 41 and log_linear_grid(24, 16)[-1] == 0.99


@pytest.mark.parametrize(
    "kwargs, err, match",
    [
        ({"n_log": 0}, ValueError, "n_log must be >= 1"),
        ({"n_lin": 2.5}, TypeError, "n_lin must be an integer"),
        ({"t_min": 0.0}, ValueError, "need 0 < t_min < t_split <= t_max < 1"),
        ({"t_split": 0.995}, ValueError, "t_split=0.995"),
        ({"t_max": 1.0}, ValueError, "t_max=1.0"),
    ],
)
def test_log_linear_grid_names_bad_arguments(kwargs, err, match):
    with pytest.raises(err, match=match):
        log_linear_grid(**{"n_log": 4, "n_lin": 3, **kwargs})


def test_check_grid():
    assert check_grid(torch.tensor([0.0, 0.5, 1.0])) == [0.0, 0.5, 1.0]
    assert check_grid([0.2, 0.3]) == [0.2, 0.3]
    with pytest.raises(ValueError, match="at least 2 points"):
        check_grid([0.5])
    with pytest.raises(ValueError, match="strictly increasing"):
        check_grid([0.0, 0.5, 0.5, 1.0])
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\], got \[-0.1, 1.0\]"):
        check_grid([-0.1, 1.0])


def test_every_grid_is_exported_from_path_and_solver_and_curves():
    """One implementation, importable where callers use it (path, solver, curves.t_grid)."""
    from flowstage_lib import solver
    from flowstage_lib.experiments import curves

    for name in ("uniform_grid", "shifted_grid", "stagewise_grid", "log_linear_grid"):
        assert name in path_pkg.__all__
    for name in ("uniform_grid", "shifted_grid", "stagewise_grid"):
        assert getattr(solver, name) is getattr(path_pkg, name)
    assert curves.t_grid is log_linear_grid
