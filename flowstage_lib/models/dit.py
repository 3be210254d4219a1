"""The LightningDiT-style class-conditional transformer (the paper's model family, Table 4):
patchify, 2-D sin-cos position embedding, timestep + class embedding, adaLN-Zero blocks, final
adaLN layer, unpatchify; optional QK-norm, SwiGLU and RMSNorm as in LightningDiT.

It is the ``gpu`` profile's model: on the 2-core CPU a DiT does not learn in minutes
(``shared/notes/feasibility.md``).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from flowstage_lib.models.conditioning import (
    LabelEmbedder,
    TimestepEmbedder,
    _modulate,
    _null_labels,
)

__all__ = ["DIT_SIZES", "DiT", "sincos_pos_embed_2d"]


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
