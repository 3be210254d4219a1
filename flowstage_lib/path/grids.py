"""Time grids 0 <= t_0 < ... < t_n <= 1 of the library (t = 0 noise, t = 1 data).

- :func:`uniform_grid`: the paper's default Euler grid (Table 4: 50 uniform steps), also on
  a sub-interval [t_start, 1] (re-noise and resume, Fig. 6);
- :func:`shifted_grid`: the uniform grid through the timestep shift of Table 2 (Eq. 8);
- :func:`stagewise_grid`: separate step budgets for the two stages (Table 1);
- :func:`log_linear_grid`: evaluation times dense near t = 0 (the stage curves, Figs. 2-3);
- :func:`check_grid`: validation of a user grid (strictly increasing, inside [0, 1]).

The sampling grids are float64 tensors of n_steps + 1 points; an Euler solver evaluates the
velocity at t_0 .. t_{n-1} only.
"""

from __future__ import annotations

import numpy as np
import torch

from flowstage_lib.path.affine import timestep_shift

__all__ = [
    "uniform_grid",
    "shifted_grid",
    "stagewise_grid",
    "log_linear_grid",
    "check_grid",
]


def _steps(n_steps, name: str = "n_steps") -> int:
    if isinstance(n_steps, bool) or not isinstance(n_steps, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {type(n_steps).__name__} {n_steps!r}")
    if n_steps < 1:
        raise ValueError(f"{name} must be >= 1, got {n_steps}")
    return int(n_steps)


def uniform_grid(n_steps: int, t_start: float = 0.0) -> torch.Tensor:
    """Uniform grid t_start = t_0 < ... < t_n = 1: (n_steps + 1,) float64.

    t_start = 0 is the paper's default 50-step Euler sampler (Table 4); t_start > 0 resumes
    from a re-noised image (Fig. 6).
    """
    n_steps = _steps(n_steps)
    if not 0.0 <= t_start < 1.0:
        raise ValueError(f"t_start must be in [0, 1), got {t_start}")
    return torch.linspace(float(t_start), 1.0, n_steps + 1, dtype=torch.float64)


def shifted_grid(n_steps: int, s: float) -> torch.Tensor:
    """Uniform grid mapped through the timestep shift t_m = s t / (1 + (s - 1) t) (Table 2,
    Eq. 8): (n_steps + 1,) float64.

    s < 1 puts more steps early (navigation stage), s > 1 late; s = 1 is uniform. The paper
    finds s = 0.5 best at NFE 50 (gFID 12.23 vs 12.99 uniform). Endpoints stay exactly 0, 1.
    """
    return timestep_shift(uniform_grid(n_steps), s)


def stagewise_grid(n1: int, n2: int, t_split: float) -> torch.Tensor:
    """n1 uniform steps on [0, t_split] then n2 on [t_split, 1] (Table 1: 25 + 25 steps with
    t_split 0.1 or 0.2): (n1 + n2 + 1,) float64 (t_split appears once)."""
    if not 0.0 < t_split < 1.0:
        raise ValueError(f"t_split must be in (0, 1), got {t_split}")
    if n1 < 1 or n2 < 1:
        raise ValueError(f"n1, n2 must be >= 1, got {n1}, {n2}")
    a = torch.linspace(0.0, t_split, n1 + 1, dtype=torch.float64)
    b = torch.linspace(t_split, 1.0, n2 + 1, dtype=torch.float64)
    return torch.cat([a, b[1:]])


def log_linear_grid(
    n_log: int, n_lin: int, t_min: float = 1e-3, t_split: float = 0.2, t_max: float = 0.99
) -> list[float]:
    """Evaluation times dense near t = 0 (the stage curves of Figs. 2-3): t = 0, ``n_log``
    geometric points in [t_min, t_split) and ``n_lin`` linear points in [t_split, t_max],
    rounded to 6 decimals; (1 + n_log + n_lin,) floats."""
    if not 0.0 < t_min < t_split <= t_max < 1.0:
        raise ValueError(
            f"need 0 < t_min < t_split <= t_max < 1, got t_min={t_min}, t_split={t_split}, "
            f"t_max={t_max}"
        )
    a = np.geomspace(t_min, t_split, _steps(n_log, "n_log"), endpoint=False)
    b = np.linspace(t_split, t_max, _steps(n_lin, "n_lin"))
    return [0.0] + [round(float(v), 6) for v in np.concatenate([a, b])]


def check_grid(grid) -> list[float]:
    """``grid`` as a list of floats after checking it: at least 2 points, strictly increasing,
    inside [0, 1]; else a ValueError naming the problem."""
    g = torch.as_tensor(grid, dtype=torch.float64).flatten()
    if g.numel() < 2:
        raise ValueError("a time grid needs at least 2 points")
    if not bool((g[1:] > g[:-1]).all()):
        raise ValueError("the time grid must be strictly increasing")
    if float(g[0]) < 0.0 or float(g[-1]) > 1.0:
        raise ValueError(f"the time grid must lie in [0, 1], got [{float(g[0])}, {float(g[-1])}]")
    return g.tolist()
