"""Unit-Gaussian point clouds of any D and N: the paper's Fig. 3 setting."""

from __future__ import annotations

import numpy as np
import torch

from flowstage_lib.data.images import ImageData

__all__ = ["synthetic_gaussian"]


def synthetic_gaussian(
    D: int,
    N_per_class: int,
    num_classes: int = 1,
    spread: float = 1.0,
    seed: int = 0,
    layout: str = "channels",
) -> ImageData:
    """Unit-Gaussian point clouds: the paper's Fig. 3 setting (top-1 weight vs D and N).

    Every point is drawn iid from N(0, spread^2 I_D); labels split the points into
    ``num_classes`` groups of ``N_per_class`` (a class-conditional oracle then sees
    N = N_per_class points in D dimensions, like the paper's ~1400 images per class).

    Args:
        D: dimension.
        N_per_class: points per class.
        num_classes: number of label groups.
        spread: standard deviation of each coordinate.
        seed: seed of the data (a stream distinct from any sampler seeded with the same int).
        layout: ``"channels"`` -> items of shape (D, 1, 1); ``"row"`` -> (1, 1, D).

    Returns:
        ImageData(kind="synthetic"), x (num_classes * N_per_class, ...), y sorted by class.
    """
    if D < 1 or N_per_class < 1 or num_classes < 1:
        raise ValueError(
            f"D, N_per_class, num_classes must be >= 1, got {D}, {N_per_class}, {num_classes}"
        )
    if not spread > 0:
        raise ValueError(f"spread must be > 0, got {spread}")
    shape = {"channels": (D, 1, 1), "row": (1, 1, D)}.get(layout)
    if shape is None:
        raise ValueError(f"layout must be 'channels' or 'row', got {layout!r}")
    # A stream of its own: a query sampler seeded with the same integer (e.g. stage_curves(
    # seed=s)) must not redraw the training points as its noise.
    g = torch.Generator().manual_seed(
        int(np.random.SeedSequence([int(seed), 0x5EED]).generate_state(1)[0])
    )
    n = N_per_class * num_classes
    x = torch.randn(n, D, generator=g, dtype=torch.float32).mul_(spread)  # (N, D)
    y = torch.arange(num_classes).repeat_interleave(N_per_class)  # (N,)
    name = f"gaussian/D{D}_N{N_per_class}x{num_classes}_s{spread:g}_seed{seed}"
    return ImageData(x=x.view(n, *shape), y=y, name=name, num_classes=num_classes, kind="synthetic")
