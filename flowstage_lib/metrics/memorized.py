"""Memorization of generated samples (paper Fig. 5 / 13, Gu et al. criterion).

A sample is memorized when its nearest training image (pixel L2) is three times closer than
the second nearest, ``d1 < d2 / 3``. The DINO patch-feature MSE of Fig. 13 is replaced by the
mean squared difference of the feature classifier's intermediate feature maps
(:func:`feature_map_mse`, the ``structural`` distance).

Example::

    mem = memorization(samples, train.x, clf)        # MemorizationResult
    mem.fraction, mem.fraction_ci()
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch

from flowstage_lib.data import ImageData
from flowstage_lib.metrics.classifier import FeatureClassifier, extract_features
from flowstage_lib.metrics.intervals import wilson_interval

__all__ = [
    "Neighbours",
    "nearest_neighbours",
    "feature_map_mse",
    "MemorizationResult",
    "memorization",
]


class Neighbours(NamedTuple):
    """k nearest training images: ``dist`` (B, k) pixel L2 ascending, ``index`` (B, k)."""

    dist: torch.Tensor
    index: torch.Tensor


def _as_tensor(x, name: str) -> torch.Tensor:
    if isinstance(x, ImageData):
        x = x.x
    if not isinstance(x, torch.Tensor):
        x = torch.as_tensor(np.asarray(x))
    if x.ndim < 2:
        raise ValueError(f"{name} must be (B, ...) items, got shape {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} contains NaN/inf")
    return x


@torch.no_grad()
def nearest_neighbours(
    samples, train_x, k: int = 2, batch_size: int = 256, candidates: int = 8
) -> Neighbours:
    """k nearest training items of each sample in pixel L2 (paper Fig. 5 / 13).

    Distances are first ranked in float32 matmul form ``|a|^2 - 2 a.b + |b|^2`` (batched over
    samples), then the ``k + candidates`` best are re-measured exactly in float64 as
    ``|a - b|`` and re-sorted, so an exact copy of a training image has distance exactly 0.

    Args:
        samples: (B, C, H, W) (or (B, D)) tensor.
        train_x: (N, C, H, W) tensor or ImageData with the same item shape, N >= k.
        k: neighbours per sample.

    Returns:
        Neighbours(dist (B, k) float32, index (B, k) int64), on the CPU.
    """
    s = _as_tensor(samples, "samples")
    t = _as_tensor(train_x, "train_x")
    if s.shape[1:] != t.shape[1:]:
        raise ValueError(
            f"samples items have shape {tuple(s.shape[1:])} but train_x items have "
            f"{tuple(t.shape[1:])}"
        )
    if not 1 <= k <= len(t):
        raise ValueError(f"k must lie in [1, len(train_x)={len(t)}], got {k}")
    s = s.reshape(len(s), -1).float()  # (B, D), on the samples' device
    t = t.reshape(len(t), -1).float().to(s.device)  # (N, D)
    t_sq = (t * t).sum(1)  # (N,)
    m = min(len(t), k + candidates)
    dists, idxs = [], []
    for i in range(0, len(s), batch_size):
        a = s[i : i + batch_size]  # (b, D)
        d2 = (a * a).sum(1, keepdim=True) - 2 * a @ t.T + t_sq  # (b, N)
        cand = d2.topk(m, dim=1, largest=False).indices  # (b, m)
        exact = (a.double()[:, None, :] - t[cand].double()).pow(2).sum(-1).sqrt()  # (b, m)
        d, order = exact.sort(dim=1)
        dists.append(d[:, :k].float().cpu())
        idxs.append(cand.gather(1, order)[:, :k].cpu())
    return Neighbours(torch.cat(dists), torch.cat(idxs))


def feature_map_mse(ma: torch.Tensor, mb: torch.Tensor) -> torch.Tensor:
    """(B,) mean squared difference of two stacks of feature maps ma, mb (B, C', h, w): the
    ``structural`` distance, our analogue of the paper's DINO patch-feature MSE (Fig. 13)."""
    if ma.shape != mb.shape:
        raise ValueError(f"ma has shape {tuple(ma.shape)} but mb has {tuple(mb.shape)}")
    return (ma - mb).pow(2).flatten(1).mean(1)


@dataclass
class MemorizationResult:
    """Per-sample memorization diagnostics (paper Fig. 5 / 13, Gu et al. criterion).

    Attributes:
        nn_index: (B,) index of the nearest training image.
        d1, d2: (B,) pixel L2 distance to the nearest / second nearest training image.
        memorized: (B,) bool, ``d1 < ratio * d2`` (ratio = 1/3).
        feat_dist: (B,) L2 distance in classifier features to the nearest image (or None).
        structural: (B,) mean squared difference of classifier feature maps between the sample
            and its nearest image, the analogue of the paper's DINO-feature MSE (or None).
    """

    nn_index: torch.Tensor
    d1: torch.Tensor
    d2: torch.Tensor
    memorized: torch.Tensor
    feat_dist: torch.Tensor | None = None
    structural: torch.Tensor | None = None

    @property
    def fraction(self) -> float:
        """Fraction of samples memorized."""
        return float(self.memorized.float().mean())

    def fraction_ci(self, level: float = 0.95) -> tuple[float, float]:
        """Wilson interval of the memorized fraction."""
        return wilson_interval(int(self.memorized.sum()), len(self.memorized), level)


def memorization(
    samples, train_x, classifier: FeatureClassifier | None = None, ratio: float = 1 / 3
) -> MemorizationResult:
    """Memorization test of generated samples against the training set (paper Fig. 5 / 13).

    Args:
        samples: (B, C, H, W) generated images (normalised like ``train_x``).
        train_x: (N, C, H, W) training images (tensor or ImageData), N >= 2.
        classifier: if given, also the feature distance and the feature-map MSE to the NN.
        ratio: memorized when ``d1 < ratio * d2`` (Gu et al.: 1/3).
    """
    nb = nearest_neighbours(samples, train_x, k=2)
    d1, d2 = nb.dist[:, 0], nb.dist[:, 1]  # (B,), (B,)
    nn_index = nb.index[:, 0]  # (B,)
    feat_dist = structural = None
    if classifier is not None:
        s = _as_tensor(samples, "samples").float()
        nn_imgs = _as_tensor(train_x, "train_x")[nn_index].float()  # (B, C, H, W)
        fa, fb = extract_features(classifier, s), extract_features(classifier, nn_imgs)
        feat_dist = (fa - fb).norm(dim=1)  # (B,)
        ma = extract_features(classifier, s, maps=True)  # (B, C', h, w)
        mb = extract_features(classifier, nn_imgs, maps=True)
        structural = feature_map_mse(ma, mb)  # (B,)
    return MemorizationResult(nn_index, d1, d2, d1 < ratio * d2, feat_dist, structural)
