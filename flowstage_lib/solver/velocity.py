"""Velocity functions and the solver's argument checks.

A *velocity function* is any callable ``velocity_fn(x, t, y) -> v`` with x (B, *shape),
t (B,) and y (B,) int64 labels or None; networks are wrapped by :class:`ModelVelocity`, the
oracle :class:`~flowstage_lib.oracle.OracleVelocity` qualifies through its ``velocity``
method (:func:`as_velocity` does both).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from flowstage_lib.models import bf16_autocast, eval_mode

__all__ = ["VelocityFn", "ModelVelocity", "as_velocity"]

VelocityFn = Callable[[torch.Tensor, torch.Tensor, "torch.Tensor | None"], torch.Tensor]


# --------------------------------------------------------------------------------------
# argument checks (cheap: once per call, never per step)
# --------------------------------------------------------------------------------------


def _count(value, name: str, minimum: int = 1) -> int:
    """``value`` as an int >= minimum (Python or numpy integer), else a clear error."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    return int(value)


def _labels(y, n: int, name: str = "y") -> torch.Tensor | None:
    """None, or (n,) int64 labels from an int, a numpy integer, a list or an integer tensor."""
    if y is None:
        return None
    if isinstance(y, (int, np.integer)) and not isinstance(y, bool):
        return torch.full((n,), int(y), dtype=torch.long)
    if isinstance(y, (list, tuple, np.ndarray)):
        y = torch.as_tensor(np.asarray(y))
    if not isinstance(y, torch.Tensor):
        raise TypeError(
            f"{name} must be None, an int or (n,) integer labels, got {type(y).__name__}"
        )
    if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
        raise TypeError(f"{name} must hold integer labels, got dtype {y.dtype}")
    if y.ndim == 0:
        return y.long().expand(n)
    if tuple(y.shape) != (n,):
        raise ValueError(
            f"{name} must hold one label per sample, shape ({n},), got {tuple(y.shape)}"
        )
    return y.long()


def _reset(velocity_fn) -> None:
    """Start of a sampling run: velocity functions that record (``CFGVelocity``) start over."""
    reset = getattr(velocity_fn, "reset", None)
    if callable(reset):
        reset()


# --------------------------------------------------------------------------------------
# velocity functions
# --------------------------------------------------------------------------------------


class ModelVelocity:
    """A network as a velocity function (no grad, float32 in and out, evaluated in eval mode;
    the caller's train/eval mode is restored after every call). On CUDA, and on a CPU with
    native bf16 (:func:`~flowstage_lib.models.cpu_bf16`), the forward runs under bf16 autocast
    unless ``amp=False`` (as in training, ``TrainConfig.amp``); elsewhere it is plain fp32. The
    sampler's state x stays in x's dtype either way.

    ``y = None`` asks a class-conditional model for its unconditional (null-class) velocity.
    """

    def __init__(self, model: nn.Module, amp: bool = True):
        self.model = model
        self.amp = bool(amp)
        self.num_classes = getattr(model, "num_classes", 0)

    @torch.no_grad()
    def __call__(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None):
        dev = next(self.model.parameters()).device
        with eval_mode(self.model), bf16_autocast(dev, self.amp):
            v = self.model(x.to(dev, torch.float32), t.to(dev, torch.float32), y)
        return v.to(device=x.device, dtype=x.dtype)


class _OracleFn:
    """Adapter: OracleVelocity.velocity(x_t, t, y) with the output cast back to x."""

    def __init__(self, oracle):
        self.oracle = oracle

    def __call__(self, x, t, y=None):
        return self.oracle.velocity(x, t, y).to(device=x.device, dtype=x.dtype)


def as_velocity(obj) -> VelocityFn:
    """A network -> :class:`ModelVelocity`; an ``OracleVelocity`` -> its ``velocity`` (output
    cast to x's dtype and device); any other callable as is; else a TypeError."""
    if isinstance(obj, nn.Module):
        return ModelVelocity(obj)
    if hasattr(obj, "velocity") and callable(obj.velocity):
        return _OracleFn(obj)
    if callable(obj):
        return obj
    raise TypeError(f"not a velocity function: {type(obj).__name__}")
