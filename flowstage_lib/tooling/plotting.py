"""One look for every figure of the book, and small drawing helpers (plotting only, no compute)."""

from __future__ import annotations

import matplotlib as mpl
import torch

__all__ = ["setup", "image_grid", "PAPER_COLOR", "OURS_COLOR", "STAGE_COLORS"]

PAPER_COLOR = "#7f7f7f"
OURS_COLOR = "#1f77b4"
STAGE_COLORS = {"navigation": "#fde0c5", "refinement": "#d5e8d4"}


def setup(seed: int | None = None) -> None:
    """Matplotlib rcParams for the book. Touches no random state: every draw in the library
    takes its seed explicitly. (``seed`` is accepted and ignored, for old callers.)"""
    mpl.rcParams.update(
        {
            "figure.dpi": 110,
            "savefig.dpi": 150,
            "figure.figsize": (6.4, 3.6),
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "font.size": 10,
            "legend.frameon": False,
            "image.cmap": "gray",
        }
    )


def image_grid(ax, images, nrow: int, pad: int = 1, value_range=(-1.0, 1.0), title=None):
    """Draw a (B, C, H, W) batch as a grid of ``nrow`` rows on ``ax`` (C = 1 or 3)."""
    x = torch.as_tensor(images).detach().float().cpu()
    lo, hi = value_range
    x = ((x - lo) / (hi - lo)).clamp(0, 1)
    b, c, h, w = x.shape
    ncol = -(-b // nrow)
    canvas = torch.ones(c, nrow * (h + pad) + pad, ncol * (w + pad) + pad)
    for i in range(b):
        r, q = divmod(i, ncol)
        canvas[
            :,
            pad + r * (h + pad) : pad + r * (h + pad) + h,
            pad + q * (w + pad) : pad + q * (w + pad) + w,
        ] = x[i]
    img = canvas.permute(1, 2, 0).squeeze(-1).numpy()
    ax.imshow(img, cmap="gray" if c == 1 else None, vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    if title:
        ax.set_title(title)
    return ax
