"""The data contract: :class:`ImageData` (every experiment's input) and the one uint8 codec.

Pixels live where the paper puts the data distribution (t = 1): ``x = u8 / 127.5 - 1`` in
[-1, 1]. :func:`to_u8` / :func:`from_u8` are that map and its inverse (what the caches store);
:func:`normalise` is the same affine map for any level range (digits' 0..16 uses ``scale=8``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import torch

__all__ = ["ImageData", "U8_SCALE", "normalise", "to_u8", "from_u8"]

#: Half the uint8 range: ``x = u8 / U8_SCALE - 1`` maps 0..255 onto [-1, 1].
U8_SCALE = 127.5


def normalise(values: torch.Tensor, scale: float = U8_SCALE) -> torch.Tensor:
    """Pixel levels 0..2*scale -> float32 in [-1, 1]: ``x = values / scale - 1`` (a new tensor).

    Args:
        values: any shape, any real dtype (uint8 pixels: ``scale = 127.5``; 0..16: ``8``).
        scale: half the level range.
    """
    return values.to(torch.float32, copy=True).div_(scale).sub_(1.0)


def to_u8(x: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] (clamped) -> uint8 on the CPU (what the caches store); any shape."""
    return ((x.detach().float().cpu().clamp(-1, 1) + 1) * U8_SCALE).round().to(torch.uint8)


def from_u8(u8: torch.Tensor) -> torch.Tensor:
    """uint8 -> float32 images in [-1, 1] (the inverse of :func:`to_u8`); any shape."""
    if not isinstance(u8, torch.Tensor) or u8.dtype != torch.uint8:
        got = u8.dtype if isinstance(u8, torch.Tensor) else type(u8).__name__
        raise TypeError(f"from_u8 expects a uint8 tensor, got {got}")
    return normalise(u8)


@dataclass
class ImageData:
    """A labelled set of images / latents / points, the input of every experiment.

    Attributes:
        x: (N, C, H, W) float32, normalised (pixels in [-1, 1]; latents as produced).
        y: (N,) int64 labels in [0, num_classes).
        name: ``"<source>/<split>"``, e.g. ``"mnist5k/train"``.
        num_classes: number of classes (the class-conditional oracle of the paper uses the
            subset with label y).
        kind: ``"pixels"`` | ``"latent"`` | ``"synthetic"``.
        decoder: optional callable mapping latents (B, C, H, W) to normalised pixels
            (set by :meth:`flowstage_lib.models.latent.LatentSpace.to_image_data`); used by
            :meth:`to_pixels` for ``kind="latent"``.
    """

    x: torch.Tensor
    y: torch.Tensor
    name: str
    num_classes: int
    kind: str = "pixels"
    decoder: Callable[[torch.Tensor], torch.Tensor] | None = field(
        default=None, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if not isinstance(self.x, torch.Tensor) or self.x.ndim != 4:
            raise ValueError(f"ImageData.x must be a (N, C, H, W) tensor, got {_desc(self.x)}")
        if self.x.dtype != torch.float32:
            raise ValueError(f"ImageData.x must be float32, got {self.x.dtype}")
        if not isinstance(self.y, torch.Tensor) or self.y.ndim != 1:
            raise ValueError(f"ImageData.y must be a (N,) tensor, got {_desc(self.y)}")
        if self.y.dtype != torch.int64:
            raise ValueError(f"ImageData.y must be int64, got {self.y.dtype}")
        if len(self.y) != len(self.x):
            raise ValueError(
                f"ImageData {self.name!r}: labels length mismatch, x has {len(self.x)} rows "
                f"and y has {len(self.y)}"
            )
        if self.kind not in ("pixels", "latent", "synthetic"):
            raise ValueError(f"ImageData.kind must be pixels|latent|synthetic, got {self.kind!r}")
        if self.num_classes < 1:
            raise ValueError(f"ImageData.num_classes must be >= 1, got {self.num_classes}")
        if len(self.y) and (int(self.y.min()) < 0 or int(self.y.max()) >= self.num_classes):
            raise ValueError(
                f"ImageData {self.name!r}: labels must lie in [0, {self.num_classes}), got "
                f"[{int(self.y.min())}, {int(self.y.max())}]"
            )

    def __repr__(self) -> str:
        return (
            f"ImageData(name={self.name!r}, kind={self.kind!r}, N={self.N}, shape={self.shape}, "
            f"num_classes={self.num_classes})"
        )

    # -- shape helpers
    @property
    def shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one item."""
        return tuple(self.x.shape[1:])  # type: ignore[return-value]

    @property
    def D(self) -> int:
        """Dimension C * H * W (the paper's D)."""
        c, h, w = self.shape
        return c * h * w

    @property
    def N(self) -> int:
        """Number of items."""
        return len(self.x)

    def __len__(self) -> int:
        return self.N

    def class_counts(self) -> torch.Tensor:
        """(num_classes,) int64 number of items per class."""
        return torch.bincount(self.y, minlength=self.num_classes)

    # -- conversions
    def to_pixels(self, x: torch.Tensor | None = None) -> torch.Tensor:
        """Map normalised items to [0, 1] pixels (the inverse of ``u8 / 127.5 - 1``).

        Args:
            x: (B, C, H, W) items in this data's space; defaults to ``self.x``.

        Returns:
            (B, C', H', W') float in [0, 1] (clamped). Latents are decoded first with
            ``self.decoder``; synthetic points are mapped with the same affine formula
            (a display convention only).
        """
        x = self.x if x is None else x
        if self.kind == "latent":
            if self.decoder is None:
                raise ValueError(
                    f"{self.name!r} holds latents without a decoder: decode with "
                    "LatentSpace.decode(z) (or build it with LatentSpace.to_image_data)"
                )
            x = self.decoder(x)
        return ((x.float() + 1.0) / 2.0).clamp(0.0, 1.0)

    def subset(self, idx: torch.Tensor | Sequence[int] | slice, name: str | None = None):
        """A new :class:`ImageData` with the rows ``idx`` (index tensor / list / mask / slice)."""
        if not isinstance(idx, slice):
            idx = torch.as_tensor(idx)
            if idx.dtype == torch.bool:
                idx = idx.nonzero().squeeze(1)
            idx = idx.long()
        return replace(self, x=self.x[idx], y=self.y[idx], name=name or self.name)

    def by_class(self, c: int) -> ImageData:
        """The items with label ``c`` (what the class-conditional oracle averages over)."""
        if not 0 <= int(c) < self.num_classes:
            raise ValueError(f"class c={c} not in [0, {self.num_classes})")
        return self.subset(self.y == int(c), name=f"{self.name}[y={int(c)}]")


def _desc(a) -> str:
    return f"{type(a).__name__} of shape {tuple(getattr(a, 'shape', ()))}"


def _check_finite(arr: np.ndarray | torch.Tensor, what: str, chunk: int = 4096) -> None:
    """Raise ValueError naming ``what`` if ``arr`` holds NaN / inf (chunked: memmap friendly)."""
    n = len(arr)
    for i in range(0, max(n, 1), chunk):
        part = np.asarray(arr[i : i + chunk])
        if part.dtype.kind == "f" and not np.isfinite(part).all():
            bad = int((~np.isfinite(part)).sum())
            raise ValueError(f"{what} contains {bad} NaN/inf value(s) (rows {i}..{i + chunk})")
