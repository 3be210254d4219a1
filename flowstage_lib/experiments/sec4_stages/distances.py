"""Distances between images used by Figs. 4, 6 and 13 (Sec. 4).

``structural`` is the mean squared difference of the feature classifier's intermediate 7 x 7
feature maps (:meth:`~flowstage_lib.metrics.FeatureClassifier.feature_maps`), our stand-in for
the paper's DINO patch-feature MSE (Fig. 13): it compares *layouts*, where the strokes are.
Images are clamped to [-1, 1] before any classifier sees them.
"""

from __future__ import annotations

import torch

from flowstage_lib.metrics import (
    FeatureClassifier,
    extract_features,
    feature_map_mse,
    predict_classes,
)

__all__ = [
    "thumbnails",
    "thumbnail_distance",
    "structural",
    "feature_maps",
    "features",
    "predict",
    "rms",
    "class_spread",
]


def feature_maps(classifier: FeatureClassifier, x: torch.Tensor) -> torch.Tensor:
    """(B, C', h, w) intermediate feature maps of images x (B, C, H, W) clamped to [-1, 1]."""
    return extract_features(classifier, x.float().clamp(-1, 1), maps=True)


def features(classifier: FeatureClassifier, x: torch.Tensor) -> torch.Tensor:
    """(B, F) classifier features of images clamped to [-1, 1]."""
    return extract_features(classifier, x.float().clamp(-1, 1))


#: (B,) mean squared difference of two stacks of feature maps (the DINO-MSE analogue).
structural = feature_map_mse


def rms(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(B,) RMS pixel difference of images a, b (B, C, H, W)."""
    return (a - b).flatten(1).pow(2).mean(1).sqrt()


def thumbnails(x: torch.Tensor, side: int = 7) -> torch.Tensor:
    """(B, C, side, side) low-pass thumbnails (average pooling) of images x (B, C, H, W)
    clamped to [-1, 1] (28 x 28 -> 7 x 7 with 4 x 4 pooling)."""
    if not isinstance(x, torch.Tensor) or x.ndim != 4:
        raise ValueError(f"x must be a (B, C, H, W) tensor, got {tuple(getattr(x, 'shape', ()))}")
    k = max(1, x.shape[-1] // side)
    return torch.nn.functional.avg_pool2d(x.float().clamp(-1, 1), k)


def thumbnail_distance(a: torch.Tensor, b: torch.Tensor, side: int = 7) -> torch.Tensor:
    """(B,) RMS difference of ``side x side`` thumbnails (:func:`thumbnails`) of images a, b
    (B, C, H, W): a layout distance that ignores pixel-level detail and background speckle."""
    return (thumbnails(a, side) - thumbnails(b, side)).flatten(1).pow(2).mean(1).sqrt()


def predict(classifier: FeatureClassifier, x: torch.Tensor) -> torch.Tensor:
    """(B,) argmax class of images clamped to [-1, 1] (the classifier's mode is kept)."""
    return predict_classes(classifier, x.float().clamp(-1, 1))


def class_spread(x: torch.Tensor, y: torch.Tensor) -> float:
    """RMS pixel distance of each image x (B, C, H, W) to its class average, averaged over
    images (Fig. 4's class-mean blob test)."""
    x = x.float().flatten(1)
    out = [(x[y == c] - x[y == c].mean(0)).pow(2).mean(1).sqrt() for c in y.unique()]
    return float(torch.cat(out).mean())
