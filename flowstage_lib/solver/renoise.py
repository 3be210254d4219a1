"""Re-noise a clean image to t_resume and integrate back to t = 1 (Fig. 6: the refinement
stage on unseen data)."""

from __future__ import annotations

import numpy as np
import torch

from flowstage_lib.path import uniform_grid
from flowstage_lib.solver.euler import euler_sample
from flowstage_lib.solver.velocity import _count, as_velocity

__all__ = ["renoise_and_resume"]


@torch.no_grad()
def renoise_and_resume(
    velocity_fn,
    x1: torch.Tensor,
    t_resume: float,
    n_steps: int,
    generator: torch.Generator | None = None,
    y: torch.Tensor | int | None = None,
) -> torch.Tensor:
    """Re-noise clean images to t_resume and integrate back to t = 1 (Fig. 6, refinement on
    unseen data): x_t = t x1 + (1 - t) eps, eps ~ N(0, I), then ``n_steps`` uniform Euler
    steps on [t_resume, 1]. For t_resume >= 0.2 the paper sees the layout kept and the details
    changed.

    Args:
        velocity_fn: a velocity function or network.
        x1: (B, *shape) clean images.
        t_resume: in [0, 1); 0 is sampling from scratch.
        n_steps: Euler steps on [t_resume, 1].
        generator: CPU generator for eps (default: a fresh one seeded 0).
        y: optional labels.

    Returns:
        (B, *shape) the resumed samples, x1's device and dtype.
    """
    if isinstance(t_resume, bool) or not isinstance(t_resume, (int, float, np.floating)):
        raise TypeError(f"t_resume must be a float in [0, 1), got {type(t_resume).__name__}")
    if not 0.0 <= t_resume < 1.0:
        raise ValueError(f"t_resume must be in [0, 1), got {t_resume}")
    n_steps = _count(n_steps, "n_steps")
    if not isinstance(x1, torch.Tensor) or x1.ndim < 1:
        raise TypeError(f"x1 must be a (B, *shape) tensor, got {type(x1).__name__}")
    g = generator if generator is not None else torch.Generator().manual_seed(0)
    eps = torch.randn(x1.shape, generator=g, dtype=torch.float32).to(x1.device, x1.dtype)
    x_t = t_resume * x1 + (1 - t_resume) * eps
    grid = uniform_grid(n_steps, t_start=t_resume)
    return euler_sample(as_velocity(velocity_fn), x_t, grid, y).x1
