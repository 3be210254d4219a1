"""Velocity networks v_theta(x_t, t, y) for rectified flow (the learned counterpart of the
oracle velocity u*(x_t, t | y) of Theorem 2.1).

Every network has the same call signature::

    v = model(x, t, y)  # x (B, *shape), t (B,) float in [0, 1], y (B,) int64 -> (B, *shape)

``y == num_classes`` is the *null class* (the unconditional branch used by classifier-free
guidance, trained by label dropping, Table 4); a model built with ``num_classes = 0`` is
unconditional and ignores ``y`` (``None`` is accepted).

Three families:

- :class:`DiT`: a LightningDiT-style class-conditional transformer (patchify, 2-D sin-cos
  position embedding, timestep + class embedding, adaLN-Zero blocks, final adaLN layer,
  unpatchify; optional QK-norm, SwiGLU and RMSNorm as in LightningDiT). The paper trains
  LightningDiT S/B/XL (Table 4); :data:`DIT_SIZES` is that ladder scaled down (see there).
  It is the ``gpu`` profile's model: on the 2-core CPU a DiT does not learn in minutes
  (``shared/notes/feasibility.md``).
- :class:`MLPFlow`: a residual MLP on flattened images with adaLN-Zero conditioning; the
  ``cpu`` profile's workhorse (recognizable class-conditional MNIST digits in ~3 minutes).
- :class:`TinyMLP`: a small MLP for 2-D toy data (Gaussian mixtures).

:class:`ModelSpec` + :func:`build_model` build any of them from a hashable description
(what the cache keys on).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "DIT_SIZES",
    "MLP_SIZES",
    "TINY_SIZES",
    "DiT",
    "MLPFlow",
    "TinyMLP",
    "ModelSpec",
    "build_model",
    "count_params",
    "timestep_embedding",
    "default_device",
    "eval_mode",
]


def default_device() -> torch.device:
    """CUDA when available, else CPU (everything in the library runs on CPU)."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@contextmanager
def eval_mode(module: nn.Module) -> Iterator[nn.Module]:
    """Put ``module`` in eval mode for the block and restore the caller's train/eval mode of
    every submodule afterwards (also on error)."""
    modes = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        yield module
    finally:
        for m, training in modes:
            m.training = training


# --------------------------------------------------------------------------------------
# Shared building blocks
# --------------------------------------------------------------------------------------


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


class RMSNorm(nn.Module):
    """Root-mean-square norm (LightningDiT's ``use_rmsnorm``)."""

    def __init__(self, dim: int, eps: float = 1e-6, affine: bool = True):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim)) if affine else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return x * self.weight if self.weight is not None else x


def _norm(dim: int, rms: bool, affine: bool) -> nn.Module:
    if rms:
        return RMSNorm(dim, affine=affine)
    return nn.LayerNorm(dim, elementwise_affine=affine, eps=1e-6)


# --------------------------------------------------------------------------------------
# DiT (LightningDiT-style)
# --------------------------------------------------------------------------------------

#: DiT ladder, scaled down from the paper's LightningDiT (Table 4; depth / width / heads):
#: S 12/384/6, B 12/768/12, XL 28/1152/16. Ours (for 28x28 images, patch 2 = 196 tokens):
#: ``S`` = half the paper's S width and depth (6/192/3), ``B`` = the paper's S (12/384/6),
#: ``L`` (our stand-in for the paper's XL; "L" because it is far smaller) = 16/512/8.
#: Parameter ratio S:B:L ~ 1 : 8 : 19, the paper's S:B:XL ~ 1 : 4 : 20.
DIT_SIZES: dict[str, dict[str, Any]] = {
    "S": dict(depth=6, width=192, heads=3, patch=2),
    "B": dict(depth=12, width=384, heads=6, patch=2),
    "L": dict(depth=16, width=512, heads=8, patch=2),
}


def sincos_pos_embed_2d(width: int, gh: int, gw: int) -> torch.Tensor:
    """Fixed 2-D sin-cos position embedding (MAE / DiT): (gh * gw, width)."""
    assert width % 4 == 0, "sin-cos 2-D position embedding needs width % 4 == 0"
    ys, xs = torch.meshgrid(
        torch.arange(gh, dtype=torch.float32), torch.arange(gw, dtype=torch.float32), indexing="ij"
    )
    q = width // 4
    omega = 1.0 / 10000 ** (torch.arange(q, dtype=torch.float32) / q)  # (q,)
    out = []
    for pos in (xs.reshape(-1), ys.reshape(-1)):  # (T,)
        a = pos[:, None] * omega[None]  # (T, q)
        out += [torch.sin(a), torch.cos(a)]
    return torch.cat(out, dim=1)  # (T, width)


class Attention(nn.Module):
    """Multi-head self-attention with optional QK-norm (LightningDiT ``use_qknorm``)."""

    def __init__(self, width: int, heads: int, qk_norm: bool, rms: bool):
        super().__init__()
        assert width % heads == 0, f"width {width} not divisible by heads {heads}"
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        hd = width // heads
        self.q_norm = _norm(hd, rms, True) if qk_norm else nn.Identity()
        self.k_norm = _norm(hd, rms, True) if qk_norm else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        qkv = self.qkv(x).reshape(B, T, 3, self.heads, C // self.heads)  # (B, T, 3, nh, hs)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, nh, T, hs)
        q, k = self.q_norm(q), self.k_norm(k)
        y = F.scaled_dot_product_attention(q, k, v)  # (B, nh, T, hs)
        return self.proj(y.transpose(1, 2).reshape(B, T, C))  # (B, T, C)


class FeedForward(nn.Module):
    """GELU(tanh) MLP, or SwiGLU with the same parameter count (LightningDiT ``use_swiglu``)."""

    def __init__(self, width: int, ratio: float, swiglu: bool):
        super().__init__()
        self.swiglu = swiglu
        hidden = int(width * ratio)
        if swiglu:
            hidden = int(2 * hidden / 3)
            self.w12 = nn.Linear(width, 2 * hidden)
            self.w3 = nn.Linear(hidden, width)
        else:
            self.fc1, self.fc2 = nn.Linear(width, hidden), nn.Linear(hidden, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.swiglu:
            a, b = self.w12(x).chunk(2, dim=-1)
            return self.w3(F.silu(a) * b)
        return self.fc2(F.gelu(self.fc1(x), approximate="tanh"))


class DiTBlock(nn.Module):
    """adaLN-Zero transformer block (DiT Fig. 3): the conditioning c regresses
    (shift, scale, gate) for the attention and the MLP branch; the regressor is zero-initialized
    so every block starts as the identity."""

    def __init__(self, width, heads, mlp_ratio, qk_norm, swiglu, rms):
        super().__init__()
        self.norm1 = _norm(width, rms, False)
        self.attn = Attention(width, heads, qk_norm, rms)
        self.norm2 = _norm(width, rms, False)
        self.mlp = FeedForward(width, mlp_ratio, swiglu)
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(width, 6 * width))
        nn.init.zeros_(self.ada[-1].weight)
        nn.init.zeros_(self.ada[-1].bias)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        # x (B, T, C), c (B, C)
        s1, sc1, g1, s2, sc2, g2 = self.ada(c).chunk(6, dim=-1)  # each (B, C)
        x = x + g1[:, None] * self.attn(_modulate(self.norm1(x), s1, sc1))
        x = x + g2[:, None] * self.mlp(_modulate(self.norm2(x), s2, sc2))
        return x


class FinalLayer(nn.Module):
    """Final adaLN (shift, scale) + linear to patch pixels; both zero-initialized, so the
    whole network outputs exactly 0 at init (adaLN-Zero)."""

    def __init__(self, width: int, out_dim: int, rms: bool):
        super().__init__()
        self.norm = _norm(width, rms, False)
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(width, 2 * width))
        self.linear = nn.Linear(width, out_dim)
        for lin in (self.ada[-1], self.linear):
            nn.init.zeros_(lin.weight)
            nn.init.zeros_(lin.bias)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        shift, scale = self.ada(c).chunk(2, dim=-1)  # (B, C) each
        return self.linear(_modulate(self.norm(x), shift, scale))


class DiT(nn.Module):
    """LightningDiT-style class-conditional diffusion transformer (the paper's model family,
    Table 4; here on pixels or small latents).

    Pipeline: patchify (conv, stride ``patch``) -> + fixed 2-D sin-cos position embedding ->
    ``depth`` adaLN-Zero blocks conditioned on ``c = emb_t(t) + emb_y(y)`` -> final adaLN layer ->
    unpatchify. Differences from LightningDiT: no RoPE (absolute sin-cos only), no
    auxiliary VA-VAE; QK-norm / SwiGLU / RMSNorm are optional flags (default on as in
    LightningDiT).

    Args:
        input_shape: (C, H, W); a side ``patch`` does not divide is zero-padded (and the
            output cropped), e.g. 4x7x7 latents at patch 2 give 4x4 tokens.
        num_classes: number of real classes (0 = unconditional); the null class is
            ``num_classes``.
        depth, width, heads, patch: transformer size (see :data:`DIT_SIZES`).
        mlp_ratio: hidden width of the MLP / width.
        qk_norm, swiglu, rmsnorm: LightningDiT's architectural tweaks.
    """

    def __init__(
        self,
        input_shape: tuple[int, int, int],
        num_classes: int = 10,
        depth: int = 12,
        width: int = 384,
        heads: int = 6,
        patch: int = 2,
        mlp_ratio: float = 4.0,
        qk_norm: bool = True,
        swiglu: bool = True,
        rmsnorm: bool = True,
    ):
        super().__init__()
        C, H, W = input_shape
        if not (isinstance(patch, int) and patch >= 1):
            raise ValueError(f"patch must be a positive integer, got {patch!r}")
        self.input_shape, self.num_classes, self.patch = tuple(input_shape), num_classes, patch
        # A side that patch does not divide (a 4x7x7 latent at patch 2) is zero-padded at the
        # bottom/right to the next multiple and the output cropped back, so pixel and latent
        # models share one architecture and patch size.
        self.gh, self.gw = -(-H // patch), -(-W // patch)  # ceil
        self.pad = (0, self.gw * patch - W, 0, self.gh * patch - H)  # F.pad order: W then H
        self.x_embed = nn.Conv2d(C, width, kernel_size=patch, stride=patch)
        self.register_buffer(
            "pos_embed", sincos_pos_embed_2d(width, self.gh, self.gw)[None], persistent=False
        )  # (1, T, width)
        self.t_embed = TimestepEmbedder(width)
        self.y_embed = LabelEmbedder(num_classes, width) if num_classes > 0 else None
        self.blocks = nn.ModuleList(
            DiTBlock(width, heads, mlp_ratio, qk_norm, swiglu, rmsnorm) for _ in range(depth)
        )
        self.final = FinalLayer(width, patch * patch * C, rmsnorm)
        self._init_weights()

    def _init_weights(self) -> None:
        # xavier for linear layers (DiT), then re-zero the adaLN-Zero parts
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        w = self.x_embed.weight.data
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))
        nn.init.zeros_(self.x_embed.bias)
        for mlp in (self.t_embed.mlp[0], self.t_embed.mlp[2]):
            nn.init.normal_(mlp.weight, std=0.02)
        if self.y_embed is not None:
            nn.init.normal_(self.y_embed.table.weight, std=0.02)
        for blk in self.blocks:
            nn.init.zeros_(blk.ada[-1].weight)
            nn.init.zeros_(blk.ada[-1].bias)
        for lin in (self.final.ada[-1], self.final.linear):
            nn.init.zeros_(lin.weight)
            nn.init.zeros_(lin.bias)

    def unpatchify(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, p*p*C) -> (B, C, H, W)."""
        B, p, C = x.shape[0], self.patch, self.input_shape[0]
        x = x.reshape(B, self.gh, self.gw, p, p, C)  # (B, gh, gw, p, p, C)
        x = x.permute(0, 5, 1, 3, 2, 4)  # (B, C, gh, p, gw, p)
        H, W = self.input_shape[1:]
        return x.reshape(B, C, self.gh * p, self.gw * p)[:, :, :H, :W]  # crop any padding

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None):
        B = x.shape[0]
        t = torch.as_tensor(t, dtype=torch.float32, device=x.device).expand(B)
        if any(self.pad):
            x = F.pad(x, self.pad)  # (B, C, gh * p, gw * p)
        h = self.x_embed(x).flatten(2).transpose(1, 2) + self.pos_embed  # (B, T, width)
        c = self.t_embed(t)  # (B, width)
        if self.y_embed is not None:
            c = c + self.y_embed(_null_labels(y, B, self.num_classes, x.device))
        for blk in self.blocks:
            h = blk(h, c)  # (B, T, width)
        return self.unpatchify(self.final(h, c))  # (B, C, H, W)


# --------------------------------------------------------------------------------------
# Residual MLP (cpu-profile workhorse)
# --------------------------------------------------------------------------------------

#: Residual-MLP ladder (the ``cpu`` profile's S / B / L): ``depth`` adaLN-Zero residual blocks
#: of width ``width`` (hidden ``width * mlp_ratio``), conditioning width ``cond_dim``. Chosen by
#: measurement (batch 128, lr 1e-3, 3000 steps, 500 class-conditional samples, 50 Euler
#: steps, an independent CNN judge): class accuracy at CFG 1 / CFG 2 of S 67% / 98%,
#: B 85% / 99%, L 88% / 100%; a width below D = 784 (512) stalls at ~20% (input bottleneck).
#: Params for 1x28x28 inputs, 10 classes: S 4.41 M, B 6.91 M, L 10.93 M.
MLP_SIZES: dict[str, dict[str, Any]] = {
    "S": dict(width=768, depth=2, mlp_ratio=1.0, cond_dim=128),  # 4.41 M params
    "B": dict(width=1024, depth=2, mlp_ratio=1.0, cond_dim=128),  # 6.91 M params
    "L": dict(width=1024, depth=3, mlp_ratio=1.0, cond_dim=256),  # 10.93 M params
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


# --------------------------------------------------------------------------------------
# Tiny MLP for 2-D toys
# --------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------
# Specs
# --------------------------------------------------------------------------------------

_FAMILIES = {"dit": (DiT, DIT_SIZES), "mlp": (MLPFlow, MLP_SIZES), "tiny": (TinyMLP, TINY_SIZES)}


@dataclass(frozen=True)
class ModelSpec:
    """A model's full description (what :func:`build_model` builds and the cache keys on).

    Attributes:
        family: "dit" | "mlp" | "tiny".
        size: a key of the family's ladder ("S" | "B" | "L").
        input_shape: per-sample shape, e.g. (1, 28, 28).
        num_classes: real classes (0 = unconditional); the null class is ``num_classes``.
        overrides: keyword arguments that replace the ladder's entries (e.g. ``{"depth": 2}``).
    """

    family: str = "mlp"  # "dit" | "mlp" | "tiny"
    size: str = "B"  # "S" | "B" | "L"
    input_shape: tuple[int, ...] = (1, 28, 28)
    num_classes: int = 10  # 0 = unconditional
    overrides: dict = field(default_factory=dict)  # e.g. {"width": 256}

    def __post_init__(self):
        if self.family not in _FAMILIES:
            raise ValueError(f"unknown family {self.family!r}; one of {sorted(_FAMILIES)}")
        if self.size not in _FAMILIES[self.family][1]:
            raise ValueError(f"unknown {self.family} size {self.size!r}")
        object.__setattr__(self, "input_shape", tuple(int(s) for s in self.input_shape))

    def kwargs(self) -> dict[str, Any]:
        """The constructor keyword arguments: the ladder entry updated by ``overrides``."""
        return {**_FAMILIES[self.family][1][self.size], **self.overrides}

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["input_shape"] = list(self.input_shape)
        return d


def build_model(spec: ModelSpec) -> nn.Module:
    """Build the network of ``spec`` (on CPU, float32, train mode)."""
    cls, _ = _FAMILIES[spec.family]
    return cls(spec.input_shape, num_classes=spec.num_classes, **spec.kwargs())


def count_params(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (only those with requires_grad when ``trainable_only``)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
