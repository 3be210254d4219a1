"""Affine probability paths x_t = alpha_t x1 + sigma_t x0 (paper Sec. 2, Eq. 1-3).

Convention: t = 0 is the prior x0 ~ N(0, I), t = 1 is data x1. The conditional (CFM) target
is the path's time derivative

.. math::

    x_t = \\alpha_t x_1 + \\sigma_t x_0, \\qquad
    \\dot x_t = \\dot\\alpha_t x_1 + \\dot\\sigma_t x_0 .

Rectified flow (alpha = t, sigma = 1 - t) gives the familiar target x1 - x0.

Every schedule method accepts a Python float, a numpy array or a torch tensor and returns the
same kind of object, so the same path serves scalar book-keeping and batched tensors.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np
import torch

__all__ = [
    "AffinePath",
    "CosinePath",
    "PathSample",
    "RectifiedFlowPath",
    "timestep_shift",
]

Time = float | np.ndarray | torch.Tensor


def _sin(t: Time) -> Time:
    if isinstance(t, torch.Tensor):
        return torch.sin(t)
    if isinstance(t, np.ndarray):
        return np.sin(t)
    return math.sin(t)


def _cos(t: Time) -> Time:
    if isinstance(t, torch.Tensor):
        return torch.cos(t)
    if isinstance(t, np.ndarray):
        return np.cos(t)
    return math.cos(t)


def _full_like(t: Time, value: float) -> Time:
    if isinstance(t, torch.Tensor):
        dtype = t.dtype if t.is_floating_point() else torch.get_default_dtype()
        return torch.full_like(t, value, dtype=dtype)
    if isinstance(t, np.ndarray):
        return np.full_like(t, value, dtype=np.result_type(t.dtype, np.float64))
    return float(value)


def _expand_like(coef: Time, x: torch.Tensor) -> torch.Tensor | float:
    """Broadcast a float or (B,) coefficient against x of shape (B, *shape)."""
    if isinstance(coef, torch.Tensor):
        if coef.ndim == 0:
            return coef.to(x.dtype)
        if coef.ndim != 1 or coef.shape[0] != x.shape[0]:
            raise ValueError(
                f"t must be a float, a 0-d tensor or a (B,) tensor with B = {x.shape[0]}, "
                f"got shape {tuple(coef.shape)}"
            )
        return coef.to(device=x.device, dtype=x.dtype).reshape(-1, *([1] * (x.ndim - 1)))
    return float(coef)


@dataclass
class PathSample:
    """A point on the path and its conditional velocity (Eq. 2-3).

    Attributes:
        x_t: alpha_t x1 + sigma_t x0, shape (B, *shape).
        dx_t: the CFM target alpha'_t x1 + sigma'_t x0 (x1 - x0 for rectified flow), (B, *shape).
        x0: the noise sample, (B, *shape).
        x1: the data sample, (B, *shape).
        t: the time, a float or a (B,) tensor.
    """

    x_t: torch.Tensor
    dx_t: torch.Tensor
    x0: torch.Tensor
    x1: torch.Tensor
    t: float | torch.Tensor


class AffinePath(ABC):
    """Affine Gaussian path x_t = alpha_t x1 + sigma_t x0 with alpha_0 = 0, sigma_0 = 1,
    alpha_1 = 1, sigma_1 = 0.

    Subclasses define the schedule and its derivatives; they must accept floats, numpy arrays
    and torch tensors.
    """

    @abstractmethod
    def alpha(self, t: Time) -> Time:
        """Signal coefficient alpha_t."""

    @abstractmethod
    def sigma(self, t: Time) -> Time:
        """Noise coefficient sigma_t."""

    @abstractmethod
    def d_alpha(self, t: Time) -> Time:
        """Time derivative alpha'_t."""

    @abstractmethod
    def d_sigma(self, t: Time) -> Time:
        """Time derivative sigma'_t."""

    def sample(self, x0: torch.Tensor, x1: torch.Tensor, t: float | torch.Tensor) -> PathSample:
        """Point on the path and its CFM target (Eq. 2-3).

        Args:
            x0: noise, (B, *shape).
            x1: data, (B, *shape).
            t: a float or a (B,) tensor in [0, 1].

        Returns:
            PathSample with x_t = alpha_t x1 + sigma_t x0 and dx_t = alpha'_t x1 + sigma'_t x0.
        """
        if x0.shape != x1.shape:
            raise ValueError(f"x0 and x1 must have the same shape, got {x0.shape} and {x1.shape}")
        a = _expand_like(self.alpha(t), x1)  # float or (B, 1, ..., 1)
        s = _expand_like(self.sigma(t), x1)
        da = _expand_like(self.d_alpha(t), x1)
        ds = _expand_like(self.d_sigma(t), x1)
        x_t = a * x1 + s * x0  # (B, *shape)
        dx_t = da * x1 + ds * x0  # (B, *shape)
        return PathSample(x_t=x_t, dx_t=dx_t, x0=x0, x1=x1, t=t)

    def oracle_coefficients(self, t: Time) -> tuple[Time, Time]:
        """Coefficients of Theorem 2.1 (appendix Eq. 19): u* = A_t E[x1 | x_t] + B_t x_t.

        A_t = alpha'_t - alpha_t sigma'_t / sigma_t and B_t = sigma'_t / sigma_t. (The main
        text's Eq. 6 prints sigma_t^2 in both denominators: a typo; Eq. 19 is right.)
        Singular at t = 1 (sigma_1 = 0).
        """
        a, s, da, ds = self.alpha(t), self.sigma(t), self.d_alpha(t), self.d_sigma(t)
        return da - a * ds / s, ds / s

    def x1_to_velocity(self, x1: torch.Tensor, x_t: torch.Tensor, t: float | torch.Tensor):
        """Velocity whose one-step extrapolation to t = 1 is x1: u = A_t x1 + B_t x_t (Eq. 19).

        With x1 = E[x1 | x_t] this is the oracle velocity u*. Shapes (B, *shape).
        """
        A, B = self.oracle_coefficients(t)
        return _expand_like(A, x_t) * x1 + _expand_like(B, x_t) * x_t

    def velocity_to_x1(self, u: torch.Tensor, x_t: torch.Tensor, t: float | torch.Tensor):
        """Inverse of `x1_to_velocity`: the intermediate prediction x1_hat (Fig. 4 / 15).

        For rectified flow x1_hat = x_t + (1 - t) u. Shapes (B, *shape).
        """
        A, B = self.oracle_coefficients(t)
        return (u - _expand_like(B, x_t) * x_t) / _expand_like(A, x_t)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class RectifiedFlowPath(AffinePath):
    """Rectified flow / conditional OT path: alpha_t = t, sigma_t = 1 - t, target x1 - x0."""

    def alpha(self, t: Time) -> Time:
        return t * 1.0

    def sigma(self, t: Time) -> Time:
        return 1.0 - t

    def d_alpha(self, t: Time) -> Time:
        return _full_like(t, 1.0)

    def d_sigma(self, t: Time) -> Time:
        return _full_like(t, -1.0)


class CosinePath(AffinePath):
    """Cosine (trigonometric) path: alpha_t = sin(pi t / 2), sigma_t = cos(pi t / 2)."""

    def alpha(self, t: Time) -> Time:
        return _sin(0.5 * math.pi * t)

    def sigma(self, t: Time) -> Time:
        return _cos(0.5 * math.pi * t)

    def d_alpha(self, t: Time) -> Time:
        return 0.5 * math.pi * _cos(0.5 * math.pi * t)

    def d_sigma(self, t: Time) -> Time:
        return -0.5 * math.pi * _sin(0.5 * math.pi * t)


def _check_unit_times(t: Time) -> None:
    """TypeError unless t is a real float / array / tensor; ValueError unless t in [0, 1]."""
    if isinstance(t, (torch.Tensor, np.ndarray)):
        tt = torch.as_tensor(t)
        if tt.dtype == torch.bool or tt.is_complex():
            raise TypeError(f"t must hold real times in [0, 1], got dtype {tt.dtype}")
        bad = ~((tt >= 0) & (tt <= 1))  # NaN is bad too
        if bool(bad.any()):
            raise ValueError(f"t must lie in [0, 1], got {tt[bad].flatten()[0].item()}")
        return
    if isinstance(t, bool) or not isinstance(t, (int, float, np.floating, np.integer)):
        raise TypeError(f"t must be a float, numpy array or tensor, got {type(t).__name__}")
    if not 0.0 <= float(t) <= 1.0:
        raise ValueError(f"t must lie in [0, 1], got {float(t)}")


def timestep_shift(t: Time, s: float) -> Time:
    """Timestep shift t_m = s t / (1 + (s - 1) t) (paper Sec. 5.1, Table 2; LightningDiT).

    s < 1 spends more of a uniform grid on early (navigation) times, s > 1 on late ones;
    s = 1 is the identity. Maps [0, 1] onto [0, 1] monotonically, 0 -> 0 and 1 -> 1 exactly
    (evaluated as s t / (s t + 1 - t)).

    Args:
        t: times in [0, 1]: a float, numpy array or tensor.
        s: shift factor, s > 0.

    Returns:
        The shifted times, same type (and shape) as t.

    Raises:
        TypeError / ValueError: s not a finite number > 0; t not real or outside [0, 1].
    """
    if isinstance(s, bool) or not isinstance(s, (int, float, np.floating, np.integer)):
        raise TypeError(f"s must be a real number, got {type(s).__name__}")
    s = float(s)
    if not (s > 0 and math.isfinite(s)):
        raise ValueError(f"s must be a finite number > 0, got {s}")
    _check_unit_times(t)
    st = s * t
    return st / (st + (1.0 - t))  # = s t / (1 + (s - 1) t), exact at t = 0 and t = 1
