"""MLP velocity networks: :class:`MLPFlow`, a residual MLP with adaLN-Zero conditioning (the
``cpu`` profile's workhorse: recognizable class-conditional MNIST digits in ~3 minutes), and
:class:`TinyMLP` for 2-D toy data (Gaussian mixtures)."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from flowstage_lib.models.conditioning import (
    LabelEmbedder,
    TimestepEmbedder,
    _modulate,
    _null_labels,
    timestep_embedding,
)

__all__ = ["MLP_SIZES", "TINY_SIZES", "MLPFlow", "TinyMLP"]


#: Residual-MLP ladder (the ``cpu`` profile's S / B / L): ``depth`` adaLN-Zero residual blocks
#: of width ``width`` (hidden ``width * mlp_ratio``), conditioning width ``cond_dim``.
#: Params for 1x28x28 inputs, 10 classes: S 2.93 M, B 6.91 M, L 24.34 M: L / S = 8.3x (issue 14
#: asks >= 8x; the paper's B to XL is ~5x). Sized by measured speed (bf16 autocast, 1 thread,
#: batch 128, this project's 2-core VM; ``benchmarks/README.md``): in the cold build's prefetch
#: workers S 36.4, B 15.9, L 4.73 steps/s, so 4000 steps take ~2, 4 and 14 min. Width stays
#: >= 768: below D = 784 (512) the MLP stalls at ~20% class accuracy (an input bottleneck).
#: The earlier ladder (S 768 x 2, 4.41 M; L 1024 x 3, 10.93 M) spanned 2.5x.
MLP_SIZES: dict[str, dict[str, Any]] = {
    "S": dict(width=768, depth=1, mlp_ratio=1.0, cond_dim=128),  # 2.93 M params
    "B": dict(width=1024, depth=2, mlp_ratio=1.0, cond_dim=128),  # 6.91 M params
    "L": dict(width=2048, depth=2, mlp_ratio=1.0, cond_dim=256),  # 24.34 M params
}


class MLPBlock(nn.Module):
    """Pre-norm residual MLP block with adaLN-Zero conditioning:
    ``x + gate(c) * MLP(LN(x) (1 + scale(c)) + shift(c))``; zero-init gate regressor."""

    def __init__(self, width: int, hidden: int, cond_dim: int):
        super().__init__()
        self.norm = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.fc1, self.fc2 = nn.Linear(width, hidden), nn.Linear(hidden, width)
        self.ada = nn.Linear(cond_dim, 3 * width)
        nn.init.zeros_(self.ada.weight)
        nn.init.zeros_(self.ada.bias)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        # x (B, width), c (B, cond_dim) already SiLU-activated
        shift, scale, gate = self.ada(c).chunk(3, dim=-1)  # (B, width) each
        h = self.fc2(F.silu(self.fc1(_modulate(self.norm(x), shift, scale))))  # (B, width)
        return x + gate * h


class MLPFlow(nn.Module):
    """Residual MLP velocity field on flattened inputs (the ``cpu`` profile's model).

    ``x (B, *shape) -> flatten (B, D) -> Linear -> depth x adaLN-Zero residual blocks ->
    final adaLN -> Linear (zero-init) -> (B, *shape)``, conditioned on
    ``c = emb_t(t) + emb_y(y)`` (sinusoidal time embedding + MLP, class table with a null row).
    Zero output at init, like the DiT.

    Args:
        input_shape: per-sample shape, e.g. (1, 28, 28) or (2,).
        num_classes: real classes (0 = unconditional); null class = ``num_classes``.
        width, depth, mlp_ratio: see :data:`MLP_SIZES`.
        cond_dim: width of the conditioning vector (default ``min(width, 512)``).
    """

    def __init__(
        self,
        input_shape: tuple[int, ...],
        num_classes: int = 10,
        width: int = 1024,
        depth: int = 2,
        mlp_ratio: float = 1.0,
        cond_dim: int | None = None,
    ):
        super().__init__()
        self.input_shape, self.num_classes = tuple(input_shape), num_classes
        D = math.prod(self.input_shape)
        cond_dim = cond_dim or min(width, 512)
        self.inp = nn.Linear(D, width)
        self.t_embed = TimestepEmbedder(cond_dim)
        self.y_embed = LabelEmbedder(num_classes, cond_dim) if num_classes > 0 else None
        self.blocks = nn.ModuleList(
            MLPBlock(width, int(width * mlp_ratio), cond_dim) for _ in range(depth)
        )
        self.norm = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.final_ada = nn.Linear(cond_dim, 2 * width)
        self.out = nn.Linear(width, D)
        for lin in (self.final_ada, self.out):
            nn.init.zeros_(lin.weight)
            nn.init.zeros_(lin.bias)

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None):
        B = x.shape[0]
        t = torch.as_tensor(t, dtype=torch.float32, device=x.device).expand(B)
        c = self.t_embed(t)  # (B, cond)
        if self.y_embed is not None:
            c = c + self.y_embed(_null_labels(y, B, self.num_classes, x.device))
        c = F.silu(c)
        h = self.inp(x.reshape(B, -1))  # (B, width)
        for blk in self.blocks:
            h = blk(h, c)
        shift, scale = self.final_ada(c).chunk(2, dim=-1)
        out = self.out(_modulate(self.norm(h), shift, scale))  # (B, D)
        return out.reshape(B, *self.input_shape)


#: TinyMLP sizes (hidden width, layers) for 2-D / low-D toy data.
TINY_SIZES: dict[str, dict[str, Any]] = {
    "S": dict(hidden=64, layers=3),
    "B": dict(hidden=128, layers=3),
    "L": dict(hidden=256, layers=4),
}


class TinyMLP(nn.Module):
    """Plain SiLU MLP on ``[x, emb_t(t), emb_y(y)]`` for 2-D toy data (Gaussian mixtures).

    Args:
        input_shape: e.g. (2,).
        num_classes: 0 = unconditional; otherwise null class = ``num_classes``.
        hidden, layers: width and number of hidden layers.
        t_dim: width of the sinusoidal time features.
    """

    def __init__(
        self,
        input_shape: tuple[int, ...] = (2,),
        num_classes: int = 0,
        hidden: int = 128,
        layers: int = 3,
        t_dim: int = 32,
    ):
        super().__init__()
        self.input_shape, self.num_classes, self.t_dim = tuple(input_shape), num_classes, t_dim
        D = math.prod(self.input_shape)
        self.y_embed = nn.Embedding(num_classes + 1, t_dim) if num_classes > 0 else None
        dims = [D + t_dim * (2 if num_classes > 0 else 1)] + [hidden] * layers
        mods: list[nn.Module] = []
        for a, b in zip(dims[:-1], dims[1:], strict=True):
            mods += [nn.Linear(a, b), nn.SiLU()]
        self.net = nn.Sequential(*mods, nn.Linear(hidden, D))

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None):
        B = x.shape[0]
        t = torch.as_tensor(t, dtype=torch.float32, device=x.device).expand(B)
        feats = [x.reshape(B, -1), timestep_embedding(100.0 * t, self.t_dim)]
        if self.y_embed is not None:
            feats.append(self.y_embed(_null_labels(y, B, self.num_classes, x.device)))
        return self.net(torch.cat(feats, dim=-1)).reshape(B, *self.input_shape)
