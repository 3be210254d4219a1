"""Eq. 6 of the main text as printed, beside Theorem 2.1 (appendix Eq. 19), for the book's Sec. 2.

- :data:`PATHS`: the two affine paths the book checks the theorem on;
- :func:`typo_velocity`: the main text's Eq. 6 as printed (sigma_t^2 in A_t and B_t), which the
  book shows to be wrong.

The independent Monte Carlo estimators of the theorem are in
:mod:`flowstage_lib.oracle.montecarlo`.
"""

from __future__ import annotations

import torch

from flowstage_lib.oracle import OracleVelocity, schedule_at
from flowstage_lib.path import AffinePath, CosinePath, RectifiedFlowPath

__all__ = ["PATHS", "typo_velocity"]

PATHS: dict[str, AffinePath] = {"rectified flow": RectifiedFlowPath(), "cosine": CosinePath()}


def typo_velocity(oracle: OracleVelocity, x_t: torch.Tensor, t: float, y=None) -> torch.Tensor:
    """The main text's Eq. 6 as printed (sigma_t^2 in the denominators of A_t and B_t):
    A = alpha' - alpha sigma' / sigma^2, B = sigma' / sigma^2. Wrong for sigma_t != 1.

    Args:
        x_t: (B, D) queries; y: (B,) labels or None.

    Returns:
        (B, D) the velocity of Eq. 6 as printed.
    """
    a, s, da, ds = schedule_at(oracle.path, t)
    mean = oracle.posterior_mean(x_t, t, y)
    return (da - a * ds / s**2) * mean + (ds / s**2) * x_t
