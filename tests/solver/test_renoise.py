"""Re-noise and resume (Fig. 6)."""

import pytest
import torch

from flowstage_lib.solver import (
    renoise_and_resume,
)


def test_renoise_and_resume():
    x1 = torch.randn(3, 5, dtype=torch.float64)
    c = torch.full((5,), 0.5, dtype=torch.float64)
    g = torch.Generator().manual_seed(7)
    out = renoise_and_resume(lambda x, t, y: c.expand_as(x), x1, 0.4, 6, generator=g)
    eps = torch.randn(x1.shape, generator=torch.Generator().manual_seed(7)).double()
    assert torch.allclose(out, 0.4 * x1 + 0.6 * eps + 0.6 * c, atol=1e-6)  # constant field
    # single-point oracle brings any re-noised image to the point
    target = torch.randn(1, 5, dtype=torch.float64)
    out = renoise_and_resume(lambda x, t, y: (target - x) / (1 - t[:, None]), x1, 0.2, 4)
    assert torch.allclose(out, target.expand(3, 5), atol=1e-12)
    with pytest.raises(ValueError):
        renoise_and_resume(lambda x, t, y: x, x1, 1.0, 4)


@pytest.mark.parametrize(
    "kwargs, err, match",
    [
        ({"n_steps": 0}, ValueError, "n_steps must be an integer >= 1, got 0"),
        ({"n_steps": 2.5}, TypeError, "n_steps must be an integer"),
        ({"t_resume": "0.5"}, TypeError, "t_resume must be a float"),
    ],
)
def test_renoise_and_resume_names_bad_arguments(kwargs, err, match):
    args = {"t_resume": 0.5, "n_steps": 4, **kwargs}
    with pytest.raises(err, match=match):
        renoise_and_resume(lambda x, t, y: x, torch.zeros(2, 3), **args)
