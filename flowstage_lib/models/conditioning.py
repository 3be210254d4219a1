"""Conditioning shared by every velocity network: sinusoidal time features, the class table
with its null row, and adaLN modulation (DiT / LightningDiT)."""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["timestep_embedding", "TimestepEmbedder", "LabelEmbedder"]


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding of (scaled) times, as in DiT / LightningDiT.

    Args:
        t: (B,) float times (already scaled, e.g. ``1000 * t``).
        dim: embedding width (even or odd; an odd width is zero-padded).
        max_period: the lowest frequency's period.

    Returns:
        (B, dim) float32 embedding ``[cos(t f_k), sin(t f_k)]``.
    """
    half = dim // 2
    freqs = torch.exp(
        -math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half
    )  # (half,)
    args = t.float()[:, None] * freqs[None]  # (B, half)
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)  # (B, 2 half)
    if dim % 2:
        emb = torch.cat([emb, torch.zeros_like(emb[:, :1])], dim=-1)
    return emb


class TimestepEmbedder(nn.Module):
    """t in [0, 1] -> sinusoidal features of ``time_scale * t`` -> 2-layer SiLU MLP (DiT)."""

    def __init__(self, width: int, freq_dim: int = 256, time_scale: float = 1000.0):
        super().__init__()
        self.freq_dim, self.time_scale = freq_dim, time_scale
        self.mlp = nn.Sequential(nn.Linear(freq_dim, width), nn.SiLU(), nn.Linear(width, width))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.mlp(timestep_embedding(self.time_scale * t, self.freq_dim))  # (B, width)


class LabelEmbedder(nn.Module):
    """Class embedding table with one extra row for the null class ``y == num_classes``.

    Label dropping (the CFG training trick, Table 4: rate 0.1) is done by the trainer, which
    replaces labels by ``num_classes``; the model itself never drops labels, so evaluation is
    deterministic.
    """

    def __init__(self, num_classes: int, width: int):
        super().__init__()
        self.num_classes = num_classes
        self.table = nn.Embedding(num_classes + 1, width)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        if y.device.type == "cpu" and (y.min() < 0 or y.max() > self.num_classes):
            raise ValueError(f"labels must lie in [0, {self.num_classes}] (null = num_classes)")
        return self.table(y)  # (B, width)


def _null_labels(y: torch.Tensor | None, batch: int, num_classes: int, device) -> torch.Tensor:
    """``y`` as a (B,) int64 tensor; ``None`` means the null class (unconditional)."""
    if y is None:
        return torch.full((batch,), num_classes, dtype=torch.long, device=device)
    y = torch.as_tensor(y, device=device).long()
    return y.expand(batch) if y.ndim == 0 else y


def _modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """adaLN modulation ``x (1 + scale) + shift``; shift/scale (B, C) broadcast over tokens."""
    if x.ndim == 3:  # (B, T, C)
        shift, scale = shift[:, None], scale[:, None]
    return x * (1 + scale) + shift
