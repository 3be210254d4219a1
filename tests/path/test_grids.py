"""Time grids (path.grids): uniform, shifted (Table 2, Eq. 8), stage-wise (Table 1), the
log-linear evaluation grid (Figs. 2-3), grid checks."""

import pytest
import torch

from flowstage_lib.path import shifted_grid, stagewise_grid, uniform_grid


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
