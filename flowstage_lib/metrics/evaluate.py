"""Sample sets and their scores, shared by the Section 4 and 5 notebooks (Tables 1-3, Figs. 9-12).

The paper scores samplers with gFID@50K in Inception features. No Inception weights exist
offline, so we score with a **Fréchet distance in the features of a classifier the library
trains on the same data** (:func:`flowstage_lib.metrics.get_classifier`), against the training
split, with a bootstrap interval, plus the **class accuracy** of class-conditional samples.

Sample sets are cached as uint8 pixels (4 MB per 5,000 MNIST samples), keyed by a description
of the sampler that the caller gives (model cache key, guidance, grid, ...), the number of
samples and the seed: a table's rows are computed once and re-scored for free.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from flowstage_lib.data import ImageData, from_u8, load_dataset, to_u8
from flowstage_lib.metrics.classifier import (
    ClassifierReport,
    FeatureClassifier,
    class_accuracy,
    extract_features,
    get_classifier,
)
from flowstage_lib.metrics.frechet import (
    PairedFrechetResult,
    frechet_distance_ci,
    paired_frechet_difference,
)
from flowstage_lib.solver import sample
from flowstage_lib.tooling import cache
from flowstage_lib.tooling.book import ProfileSetting

__all__ = [
    "CLASSIFIER_STEPS",
    "Evaluator",
    "SampleScore",
    "balanced_labels",
    "get_evaluator",
    "sample_set",
]

#: Training steps of the feature classifier per profile (``classifier_steps`` in
#: ``profiles/<profile>.yml``; smoke: seconds, not a good classifier).
CLASSIFIER_STEPS = ProfileSetting("classifier_steps")


@dataclass
class SampleScore:
    """Scores of one sample set (the analogue of one cell of Tables 1-3).

    Attributes:
        fd: Fréchet distance to the training split in classifier features.
        fd_low, fd_high: bootstrap interval of ``fd`` (95%).
        accuracy: classifier accuracy w.r.t. the requested labels (NaN if unconditional).
        n: number of samples.
    """

    fd: float
    fd_low: float
    fd_high: float
    accuracy: float
    n: int


@dataclass
class Evaluator:
    """The feature classifier, its report, and the reference features of the training split."""

    classifier: FeatureClassifier
    report: ClassifierReport
    train: ImageData
    ref_feats: torch.Tensor  # (N_train, F)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, F) classifier features of pixel images (B, C, H, W) in [-1, 1]."""
        return extract_features(self.classifier, x)

    def score(
        self, x: torch.Tensor, y: torch.Tensor | None, n_boot: int = 200, seed: int = 0
    ) -> SampleScore:
        """Fréchet distance (bootstrap interval) and class accuracy of images x (B, C, H, W)."""
        fd = frechet_distance_ci(self.features(x), self.ref_feats, n_boot=n_boot, seed=seed)
        acc = class_accuracy(self.classifier, x, y) if y is not None else float("nan")
        return SampleScore(fd.fd, fd.low, fd.high, acc, int(x.shape[0]))

    def paired_difference(
        self,
        x_a: torch.Tensor,
        x_b: torch.Tensor,
        n_boot: int = 200,
        seed: int = 0,
        level: float = 0.95,
    ) -> PairedFrechetResult:
        """FD(x_a) - FD(x_b) to the training split, with a paired bootstrap interval (Table 1):
        rows i of the images x_a, x_b (n, C, H, W) share noise and label
        (:func:`~flowstage_lib.metrics.paired_frechet_difference`)."""
        if len(x_a) != len(x_b):
            raise ValueError(f"paired sets must have the same size, got {len(x_a)}, {len(x_b)}")
        fa, fb = self.features(x_a.float()), self.features(x_b.float())  # (n, F) each
        return paired_frechet_difference(fa, fb, self.ref_feats, n_boot, seed, level)


def get_evaluator(profile: str, data: str = "mnist5k", progress: bool = True) -> Evaluator:
    """The profile's evaluator for ``data`` (classifier trained once, cached)."""
    if profile not in CLASSIFIER_STEPS:
        raise ValueError(f"unknown profile {profile!r}; one of {list(CLASSIFIER_STEPS)}")
    train = load_dataset(data, "train")
    clf, report = get_classifier(train, steps=CLASSIFIER_STEPS[profile], progress=progress)
    return Evaluator(clf, report, train, extract_features(clf, train.x))


def balanced_labels(n: int, num_classes: int) -> torch.Tensor:
    """(n,) labels 0, 1, ..., K-1, 0, 1, ...: every class equally often."""
    if n < 1 or num_classes < 1:
        raise ValueError(f"n and num_classes must be >= 1, got {n}, {num_classes}")
    return torch.arange(n) % num_classes


def sample_set(
    velocity_fn: Callable,
    describe: dict,
    n: int,
    shape: tuple[int, ...],
    num_classes: int,
    grid=None,
    seed: int = 0,
    decode: Callable[[torch.Tensor], torch.Tensor] | None = None,
    batch_size: int = 500,
) -> dict:
    """``n`` class-balanced samples of ``velocity_fn`` (Euler over ``grid``), decoded to pixels
    when ``decode`` is given (latent models), cached as uint8.

    Args:
        velocity_fn: ``v(x, t, y)`` (``ModelVelocity``, ``CFGVelocity``, ``StageSwapVelocity``).
        describe: everything that identifies the sampler (model cache keys, guidance scale and
            interval, grid name; for a latent model, the autoencoder's key too): it is the
            cache key with n, shape, grid and seed.
        n, shape, num_classes: how many samples of which per-sample shape; labels are
            :func:`balanced_labels`.
        grid: Euler time grid (default: 50 uniform steps, Table 4).
        seed: noise seed (the same seed gives the same noise across samplers: paired rows).
        decode: latent -> pixels in [-1, 1], or None.

    Returns:
        dict: ``x`` (n, C, H, W) float32 pixels in [-1, 1] (dequantised from uint8), ``y`` (n,),
        ``seconds`` (sampling time of the run that filled the cache).
    """
    y = balanced_labels(n, num_classes)
    grid_key = None if grid is None else [round(float(t), 8) for t in grid]
    params = {
        "describe": describe,
        "n": n,
        "shape": list(shape),
        "grid": grid_key,
        "seed": seed,
        "decode": decode is not None,
    }

    def compute() -> dict:
        t0 = time.time()
        x = sample(velocity_fn, n, shape, y=y, grid=grid, seed=seed, batch_size=batch_size).x1
        if decode is not None:
            x = torch.cat([decode(x[i : i + batch_size]).cpu() for i in range(0, n, batch_size)])
        return {"x_u8": to_u8(x), "y": y, "seconds": time.time() - t0}

    blob = cache.cached("sample_set", params, compute)
    return {"x": from_u8(blob["x_u8"]), "y": blob["y"], "seconds": blob["seconds"]}
