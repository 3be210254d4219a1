"""Two judge networks of different design (issue 13, items 1-2).

- :class:`VGGJudge` (judge A): VGG-style, conv-BN-ReLU pairs, max pools, global average pool;
  features are the pooled channels (``4w``).
- :class:`PoolJudge` (judge B): a plain max-pool CNN without batch norm whose features come from
  a fully connected layer on the flattened 7x7 maps (``fc`` units), with dropout.

They differ in normalisation (BN vs none), in what the features summarise (spatial average vs
flattened layout) and in width, so that a ranking both agree on is not an artefact of one
architecture. Both map (B, C, H, W) pixels in [-1, 1] to ``features(x)`` (B, F) and
``logits(x)`` (B, K); ``forward`` is ``logits``.
"""

from __future__ import annotations

import torch
import torch.nn as nn

__all__ = ["VGGJudge", "PoolJudge", "ARCHITECTURES", "build_network"]


def _conv_bn(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]


class VGGJudge(nn.Module):
    """Judge A: [conv-BN-ReLU x2, w] pool [x2, 2w] pool [x2, 4w] GAP -> features (4w) -> linear.

    Args:
        in_channels: C.
        num_classes: K.
        width: w (16 -> 64-d features, ~70k parameters).
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, width: int = 16):
        super().__init__()
        if width < 1 or in_channels < 1 or num_classes < 2:
            raise ValueError(
                f"need width >= 1, in_channels >= 1, num_classes >= 2; got "
                f"{width}, {in_channels}, {num_classes}"
            )
        w = width
        self.body = nn.Sequential(
            *_conv_bn(in_channels, w), *_conv_bn(w, w), nn.MaxPool2d(2),  # (B, w, 14, 14)
            *_conv_bn(w, 2 * w), *_conv_bn(2 * w, 2 * w), nn.MaxPool2d(2),  # (B, 2w, 7, 7)
            *_conv_bn(2 * w, 4 * w), *_conv_bn(4 * w, 4 * w),  # (B, 4w, 7, 7)
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),  # (B, 4w)
        )  # fmt: skip
        self.head = nn.Linear(4 * w, num_classes)
        self.feature_dim = 4 * w

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 4w) pooled features of x (B, C, H, W)."""
        return self.body(x)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """(B, K) class logits."""
        return self.head(self.features(x))

    def features_and_logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """((B, 4w) features, (B, K) logits) of x (B, C, H, W) from one pass of the body."""
        f = self.features(x)
        return f, self.head(f)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits(x)


class PoolJudge(nn.Module):
    """Judge B: conv(w)-ReLU pool conv(2w)-ReLU pool conv(2w)-ReLU -> flatten -> fc -> logits.

    No batch norm; the feature vector is the ReLU output of a fully connected layer on the
    flattened (2w, 7, 7) maps, so it keeps where strokes are (VGGJudge averages it away).

    Args:
        in_channels: C.
        num_classes: K.
        width: w (32 -> 64 channels at 7x7).
        fc: feature dimension F.
        image_size: (H, W), both divisible by 4.
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 10,
        width: int = 32,
        fc: int = 128,
        image_size: tuple[int, int] = (28, 28),
    ):
        super().__init__()
        H, W = image_size
        if H % 4 or W % 4:
            raise ValueError(f"image_size must be divisible by 4, got {image_size}")
        if width < 1 or fc < 1 or in_channels < 1 or num_classes < 2:
            raise ValueError(f"need width, fc, in_channels >= 1, num_classes >= 2; got "
                             f"{width}, {fc}, {in_channels}, {num_classes}")  # fmt: skip
        w = width
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, w, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (B, w, H/2, W/2)
            nn.Conv2d(w, 2 * w, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (B, 2w, H/4, W/4)
            nn.Conv2d(2 * w, 2 * w, 3, padding=1), nn.ReLU(), nn.Flatten(),  # (B, 2w*H*W/16)
            nn.Linear(2 * w * (H // 4) * (W // 4), fc), nn.ReLU(),  # (B, fc)
        )  # fmt: skip
        self.drop = nn.Dropout(0.3)
        self.head = nn.Linear(fc, num_classes)
        self.feature_dim = fc

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, fc) features of x (B, C, H, W)."""
        return self.body(x)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """(B, K) class logits (dropout is active in train mode only)."""
        return self.head(self.drop(self.features(x)))

    def features_and_logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """((B, fc) features, (B, K) logits) of x (B, C, H, W) from one pass of the body."""
        f = self.features(x)
        return f, self.head(self.drop(f))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits(x)


ARCHITECTURES = {"vgg": VGGJudge, "pool": PoolJudge}


def build_network(
    arch: str, in_channels: int, num_classes: int, width: int, image_size: tuple[int, int]
) -> nn.Module:
    """A fresh judge network of architecture ``arch`` (``"vgg"`` or ``"pool"``)."""
    if arch == "vgg":
        return VGGJudge(in_channels, num_classes, width)
    if arch == "pool":
        return PoolJudge(in_channels, num_classes, width, image_size=image_size)
    raise ValueError(f"unknown judge architecture arch={arch!r}; one of {list(ARCHITECTURES)}")
