"""Data scaled by k and the way back (the calibrated setting of issue 14).

Training on k x1 moves the oracle's transition along the clock t -> timestep_shift(t, k)
(:mod:`flowstage_lib.analyze.calibrate`). A model trained there samples in k-space; its
samples are divided by k (and decoded, for latents) *before* anything scores them:
:class:`CalibratedDecode` does that and is what ``decode=`` of
:func:`flowstage_lib.metrics.evaluate.sample_set` takes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

import torch

from flowstage_lib.data.images import ImageData

__all__ = ["CalibratedDecode", "calibrated_decode", "scale_data"]


def _scale(k) -> float:
    if isinstance(k, bool) or not isinstance(k, (int, float)):
        raise TypeError(f"data_scale must be a real number, got {type(k).__name__} {k!r}")
    if not (math.isfinite(float(k)) and k > 0):
        raise ValueError(f"data_scale must be a finite number > 0, got {k}")
    return float(k)


class CalibratedDecode:
    """x (B, *shape) in k-space -> ``then(x / k)`` (``then`` = a latent decoder, or identity).

    Attributes:
        data_scale: k.
        then: None (pixels: x / k are the pixels) or a latent -> pixels decoder.
    """

    def __init__(self, data_scale: float, then: Callable[[torch.Tensor], torch.Tensor] | None):
        self.data_scale = _scale(data_scale)
        if then is not None and not callable(then):
            raise TypeError(f"then must be None or callable, got {type(then).__name__}")
        self.then = then

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        z = x / self.data_scale
        return z if self.then is None else self.then(z)

    def __repr__(self) -> str:
        return f"CalibratedDecode(data_scale={self.data_scale!r}, then={self.then!r})"


def calibrated_decode(data_scale: float, then=None) -> CalibratedDecode:
    """The map from a calibrated model's samples (k-space) to what is scored: ``x / k``, then
    ``then`` (a latent decoder) if given. Use it as ``sample_set(..., decode=...)``."""
    return CalibratedDecode(data_scale, then)


def scale_data(data: ImageData, data_scale: float) -> ImageData:
    """``data`` with x multiplied by k (float32): the training set of the calibrated setting.

    Pixels and latents become ``kind="latent"`` whose decoder divides by k first (so
    ``to_pixels`` still shows the images); synthetic points stay synthetic. Labels, classes
    are kept; the name gets a ``*k`` suffix.
    """
    if not isinstance(data, ImageData):
        raise TypeError(f"data must be an ImageData, got {type(data).__name__}")
    k = _scale(data_scale)
    x = (data.x.double() * k).float()  # (N, C, H, W), one rounding
    name = f"{data.name}*{k:g}"
    if data.kind == "synthetic":
        return replace(data, x=x, name=name)
    then = data.decoder if data.kind == "latent" else None
    return replace(data, x=x, name=name, kind="latent", decoder=calibrated_decode(k, then))
