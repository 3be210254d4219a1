"""Training augmentation for the judges: what samplers do to digits (issue 13, item 1).

A sampler's output differs from a training digit by leftover noise (a large last Euler step, a
weak stage-2 model), by blur (an over-smoothed refinement stage) and by small misplacements.
The judges are trained on digits that went through each of these, drawn per sample:

- additive Gaussian noise ``x + sigma * eps``, ``sigma ~ U(0, noise_max)`` (pixels in [-1, 1]),
- Gaussian blur with a per-sample width ``s ~ U(0, blur_max)`` pixels (5x5 separable kernel),
- an affine jitter: shift ``U(-shift, shift)`` pixels per axis and rotation
  ``U(-rot_deg, rot_deg)`` degrees, background -1 outside the image.

Each is applied to a sample with its own probability. Pure torch; no torchvision needed.

Example::

    g = torch.Generator().manual_seed(0)
    xa = augment_batch(x, g, AugmentConfig())      # (B, C, H, W) in [-1, 1]
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = ["AugmentConfig", "add_noise", "gaussian_blur", "affine_jitter", "augment_batch"]


@dataclass(frozen=True)
class AugmentConfig:
    """Augmentation strengths and per-sample probabilities.

    Attributes:
        noise_max: largest noise std (pixel scale [-1, 1]); sigma ~ U(0, noise_max).
        p_noise: probability that a sample gets noise.
        blur_max: largest blur std in pixels; s ~ U(0, blur_max).
        p_blur: probability that a sample is blurred.
        shift: largest shift in pixels per axis.
        rot_deg: largest rotation in degrees.
        p_affine: probability that a sample is shifted and rotated.
        clamp: clamp the result to [-1, 1] (sample sets are stored as clamped uint8 pixels).
    """

    noise_max: float = 0.3
    p_noise: float = 0.6
    blur_max: float = 1.2
    p_blur: float = 0.3
    shift: float = 2.0
    rot_deg: float = 10.0
    p_affine: float = 0.7
    clamp: bool = True

    def __post_init__(self) -> None:
        for name in ("noise_max", "blur_max", "shift", "rot_deg"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"AugmentConfig.{name} must be >= 0, got {getattr(self, name)}")
        for name in ("p_noise", "p_blur", "p_affine"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(
                    f"AugmentConfig.{name} must lie in [0, 1], got {getattr(self, name)}"
                )


def _check_images(x: torch.Tensor) -> None:
    if not isinstance(x, torch.Tensor) or x.ndim != 4:
        raise ValueError(
            f"x must be a (B, C, H, W) tensor, got {type(x).__name__} "
            f"of shape {tuple(getattr(x, 'shape', ()))}"
        )


def _per_sample(value, B: int, name: str) -> torch.Tensor:
    v = torch.as_tensor(value, dtype=torch.float32).reshape(-1)
    if v.numel() == 1:
        v = v.expand(B)
    if v.numel() != B:
        raise ValueError(
            f"{name} must be a scalar or have one entry per sample ({B}), got {v.numel()}"
        )
    if (v < 0).any():
        raise ValueError(f"{name} must be >= 0")
    return v


def add_noise(x: torch.Tensor, sigma, generator: torch.Generator | None = None) -> torch.Tensor:
    """``x + sigma * eps`` with eps ~ N(0, I) drawn on the CPU from ``generator``.

    Args:
        x: (B, C, H, W) images.
        sigma: scalar or (B,) noise std per sample (pixel scale [-1, 1]).

    Returns:
        (B, C, H, W), not clamped.
    """
    _check_images(x)
    s = _per_sample(sigma, len(x), "sigma").to(x.device)  # (B,)
    eps = torch.randn(x.shape, generator=generator).to(x.device)  # (B, C, H, W)
    return x + s[:, None, None, None] * eps


def gaussian_blur(x: torch.Tensor, sigma, radius: int = 2) -> torch.Tensor:
    """Separable Gaussian blur with a per-sample std (pixels); sigma 0 leaves x unchanged.

    The kernel is ``exp(-d^2 / (2 s^2))`` on ``d = -radius..radius``, normalised to sum 1;
    borders are padded with the background -1 (the digit's surroundings).

    Args:
        x: (B, C, H, W) images.
        sigma: scalar or (B,) blur std per sample.
        radius: kernel half-width (kernel size 2 * radius + 1).

    Returns:
        (B, C, H, W) blurred images.
    """
    _check_images(x)
    B, C, H, W = x.shape
    s = _per_sample(sigma, B, "sigma").to(x.device)  # (B,)
    d = torch.arange(-radius, radius + 1, dtype=torch.float32, device=x.device)  # (K,)
    k = torch.exp(-(d[None] ** 2) / (2 * s.clamp_min(1e-4)[:, None] ** 2))  # (B, K)
    k = k / k.sum(1, keepdim=True)
    k = k.repeat_interleave(C, 0)  # (B*C, K): one kernel per (sample, channel)
    z = x.reshape(1, B * C, H, W) + 1  # background 0 so zero padding means -1
    z = F.conv2d(F.pad(z, (radius, radius, 0, 0)), k[:, None, None, :], groups=B * C)
    z = F.conv2d(F.pad(z, (0, 0, radius, radius)), k[:, None, :, None], groups=B * C)
    return z.reshape(B, C, H, W) - 1


def affine_jitter(x: torch.Tensor, shift_px, angle_deg) -> torch.Tensor:
    """Shift by ``shift_px`` (B, 2) pixels (dx, dy) and rotate by ``angle_deg`` (B,) degrees.

    Bilinear resampling; the background -1 fills what comes from outside the image.

    Args:
        x: (B, C, H, W) images in [-1, 1].
        shift_px: (B, 2) shifts in pixels (positive dx moves the digit right).
        angle_deg: (B,) rotation angles in degrees.

    Returns:
        (B, C, H, W).
    """
    _check_images(x)
    B, _, H, W = x.shape
    t = torch.as_tensor(shift_px, dtype=torch.float32).to(x.device).reshape(B, 2)
    ang = torch.as_tensor(angle_deg, dtype=torch.float32).to(x.device).reshape(B) * math.pi / 180
    cos, sin = torch.cos(ang), torch.sin(ang)
    # affine_grid maps output to input coordinates: a shift by +t samples from -t.
    tx, ty = -t[:, 0] * 2 / W, -t[:, 1] * 2 / H
    theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)  # (B, H, W, 2)
    return F.grid_sample(x + 1, grid, align_corners=False, padding_mode="zeros") - 1


def augment_batch(
    x: torch.Tensor, generator: torch.Generator, config: AugmentConfig | None = None
) -> torch.Tensor:
    """One random draw of the judge augmentation per sample (affine, then blur, then noise).

    Args:
        x: (B, C, H, W) pixel images in [-1, 1] (H, W >= 8).
        generator: CPU generator all random draws come from (reproducible per seed).
        config: strengths and probabilities (default :class:`AugmentConfig`).

    Returns:
        (B, C, H, W) augmented images (clamped to [-1, 1] when ``config.clamp``).
    """
    _check_images(x)
    cfg = config or AugmentConfig()
    B = len(x)
    u = torch.rand(B, 9, generator=generator)  # (B, 9) uniforms for every decision
    on_aff, on_blur, on_noise = u[:, 0] < cfg.p_affine, u[:, 1] < cfg.p_blur, u[:, 2] < cfg.p_noise
    shift = (u[:, 3:5] * 2 - 1) * cfg.shift * on_aff[:, None]  # (B, 2)
    angle = (u[:, 5] * 2 - 1) * cfg.rot_deg * on_aff  # (B,)
    out = affine_jitter(x, shift, angle) if cfg.p_affine > 0 else x
    if cfg.p_blur > 0 and cfg.blur_max > 0:
        out = gaussian_blur(out, u[:, 6] * cfg.blur_max * on_blur)
    if cfg.p_noise > 0 and cfg.noise_max > 0:
        out = add_noise(out, u[:, 7] * cfg.noise_max * on_noise, generator)
    return out.clamp(-1, 1) if cfg.clamp else out
