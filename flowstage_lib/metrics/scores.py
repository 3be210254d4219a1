"""Sample-quality and memorization metrics in the features of a classifier we train.

No Inception-v3 weights exist offline, so the paper's gFID (Tables 1-3, Fig. 12) is replaced
by a **Frechet distance in classifier features**: the same formula as FID, computed in the
penultimate (global-average-pooled) features of a small CNN :class:`FeatureClassifier` that the
library trains on the data set itself (:func:`get_classifier`, cached). Its numbers are *not*
comparable with FID values; only differences between settings are.

Memorization follows the paper's Fig. 5 / 13 and Gu et al.: a sample is memorized when its
nearest training image (pixel L2) is three times closer than the second nearest,
``d1 < d2 / 3``. The DINO patch-feature MSE of Fig. 13 is replaced by the mean squared
difference of the classifier's intermediate feature maps (``structural``).

Example::

    clf, report = get_classifier(load_dataset("mnist5k", "train"))
    fa, fb = extract_features(clf, samples), extract_features(clf, reference)
    res = frechet_distance_ci(fa, fb)               # FrechetResult(fd, low, high)
    mem = memorization(samples, train.x, clf)        # MemorizationResult
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import NamedTuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from flowstage_lib.data import ImageData, heldout_for, load_dataset
from flowstage_lib.models import default_device, eval_mode
from flowstage_lib.tooling import cache
from flowstage_lib.tooling.progress import tqdm

__all__ = [
    "FeatureClassifier",
    "ClassifierReport",
    "get_classifier",
    "train_classifier",
    "extract_features",
    "class_accuracy",
    "frechet_distance",
    "FrechetResult",
    "frechet_distance_ci",
    "Neighbours",
    "nearest_neighbours",
    "MemorizationResult",
    "memorization",
    "wilson_interval",
    "bootstrap_mean_ci",
    "augment",
]


# ----------------------------------------------------------------------------- classifier


def _block(cin: int, cout: int, n: int) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for i in range(n):
        layers += [
            nn.Conv2d(cin if i == 0 else cout, cout, 3, padding=1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
        ]
    return layers


class FeatureClassifier(nn.Module):
    """Small CNN: our stand-in for Inception (features) and DINO (feature maps).

    Architecture (width w): [conv-BN-ReLU x2, w] -> pool -> [conv-BN-ReLU x2, 2w] -> pool
    -> ``feature_maps`` -> [conv-BN-ReLU, 4w] -> global average pool -> ``features`` (4w)
    -> linear -> logits. A 2x2 max pool is applied only while the side is >= 4, so any
    (C, H, W) works (28x28 -> 7x7 maps; 8x8 digits -> 2x2 maps).

    Args:
        in_channels: C of the input.
        num_classes: number of logits.
        width: w above (16 -> ~36k parameters, 64-d features).
        image_size: (H, W) of the input (decides the pooling).
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 10,
        width: int = 16,
        image_size: tuple[int, int] = (28, 28),
    ):
        super().__init__()
        self.config = {
            "in_channels": int(in_channels),
            "num_classes": int(num_classes),
            "width": int(width),
            "image_size": [int(image_size[0]), int(image_size[1])],
        }
        h = min(image_size)
        pool1 = [nn.MaxPool2d(2)] if h >= 4 else []
        h = h // 2 if pool1 else h
        pool2 = [nn.MaxPool2d(2)] if h >= 4 else []
        self.block1 = nn.Sequential(*_block(in_channels, width, 2), *pool1)
        self.block2 = nn.Sequential(*_block(width, 2 * width, 2), *pool2)
        self.block3 = nn.Sequential(*_block(2 * width, 4 * width, 1), nn.AdaptiveAvgPool2d(1))
        self.head = nn.Linear(4 * width, num_classes)
        self.feature_dim = 4 * width

    def feature_maps(self, x: torch.Tensor) -> torch.Tensor:
        """Intermediate conv features (B, 2w, h, w): the DINO patch-feature analogue (Fig. 13)."""
        return self.block2(self.block1(x))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features (B, 4w): what the Frechet distance is computed in."""
        return self.block3(self.feature_maps(x)).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (B, num_classes)."""
        return self.head(self.features(x))


@dataclass
class ClassifierReport:
    """How good the feature classifier is.

    Attributes:
        heldout_accuracy: accuracy on the held-out split of the training source (NaN if none).
        train_accuracy: accuracy on the training images.
        steps: optimisation steps.
        seconds: wall-clock training time (of the run that filled the cache).
        test_accuracy: accuracy on an official test set (MNIST test set for mnist5k) or None.
        heldout_name / test_name: which data sets those accuracies were measured on.
    """

    heldout_accuracy: float
    train_accuracy: float
    steps: int
    seconds: float
    test_accuracy: float | None = None
    heldout_name: str = ""
    test_name: str = ""
    device: str = "cpu"


def augment(x: torch.Tensor, generator: torch.Generator, shift: float = 2.0, rot_deg=10.0):
    """Random affine jitter of pixel images in [-1, 1] (shift in pixels, rotation, +-10% scale).

    The background value -1 is used outside the image.
    """
    B, _, H, W = x.shape
    dev = x.device
    u = torch.rand(B, 4, generator=generator).to(dev) * 2 - 1  # (B, 4) in [-1, 1]
    ang = u[:, 0] * math.radians(rot_deg)
    scale = 1 + 0.1 * u[:, 1]
    tx, ty = u[:, 2] * shift * 2 / W, u[:, 3] * shift * 2 / H
    cos, sin = torch.cos(ang) / scale, torch.sin(ang) / scale
    theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)  # (B, H, W, 2)
    return F.grid_sample(x + 1, grid, align_corners=False, padding_mode="zeros") - 1


@torch.no_grad()
def _batched(fn, x: torch.Tensor, batch_size: int, device) -> torch.Tensor:
    outs = [fn(x[i : i + batch_size].to(device)).cpu() for i in range(0, len(x), batch_size)]
    return torch.cat(outs) if outs else torch.zeros(0)


def _model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def class_accuracy(
    classifier: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1000
) -> float:
    """Fraction of ``x`` (B, C, H, W) the classifier labels ``y`` (B,) (conditional samples'
    class accuracy)."""
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} rows but y has {len(y)}")
    if len(x) == 0:
        raise ValueError("x is empty")
    with eval_mode(classifier):
        logits = _batched(classifier, x.float(), batch_size, _model_device(classifier))  # (B, K)
    return float((logits.argmax(1) == y.cpu()).double().mean())


def extract_features(
    classifier: FeatureClassifier, x: torch.Tensor, batch_size: int = 1000, maps: bool = False
) -> torch.Tensor:
    """Classifier features (B, F) of images x (B, C, H, W) (or feature maps when ``maps``),
    computed in eval mode; the classifier's train/eval mode is restored afterwards."""
    fn = classifier.feature_maps if maps else classifier.features
    with eval_mode(classifier):
        return _batched(fn, x.float(), batch_size, _model_device(classifier))


def train_classifier(
    data: ImageData,
    steps: int = 2000,
    batch_size: int = 64,
    lr: float = 3e-3,
    width: int = 16,
    seed: int = 0,
    augmentation: bool = True,
    progress: bool = True,
    device: torch.device | str | None = None,
) -> tuple[FeatureClassifier, float]:
    """Train a :class:`FeatureClassifier` on ``data`` (uncached). Returns (model, seconds).

    AdamW (weight decay 1e-4), one-cycle learning rate, cross-entropy with label smoothing
    0.05, random affine jitter on pixel data.
    """
    device = torch.device(device) if device is not None else default_device()
    C, H, W = data.shape
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = FeatureClassifier(C, data.num_classes, width, (H, W)).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(steps, 1))
    g = torch.Generator().manual_seed(seed)
    x_all, y_all = data.x, data.y
    t0 = time.perf_counter()
    model.train()
    for _ in tqdm(range(steps), desc=f"classifier {data.name}", disable=not progress):
        idx = torch.randint(0, data.N, (batch_size,), generator=g)
        x, y = x_all[idx].to(device), y_all[idx].to(device)  # (B, C, H, W), (B,)
        if augmentation and data.kind == "pixels" and min(H, W) >= 8:
            x = augment(x, g)
        loss = F.cross_entropy(model(x), y, label_smoothing=0.05)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    model.eval()
    return model, time.perf_counter() - t0


def get_classifier(
    data: ImageData | str,
    steps: int = 2000,
    seed: int = 0,
    progress: bool = True,
    heldout: ImageData | None = None,
    test: ImageData | None = None,
    batch_size: int = 64,
    lr: float = 3e-3,
    width: int = 16,
    augmentation: bool = True,
) -> tuple[FeatureClassifier, ClassifierReport]:
    """The feature classifier for ``data``, trained once and cached.

    Args:
        data: training images, or a data set name (then its ``"train"`` split is used).
        steps, seed, batch_size, lr, width, augmentation: training settings (all in the key).
        progress: tqdm bar while training.
        heldout: images for ``heldout_accuracy``; default: the complementary held-out split
            when ``data`` is a ``load_dataset(name, "train")`` split, else NaN.
        test: images for ``test_accuracy``; default: the MNIST test set for ``mnist5k`` /
            ``mnist_test`` data, the Fashion-MNIST test set for ``fashion_mnist``, when present.

    Returns:
        (classifier in eval mode on the default device, ClassifierReport). Measured with the
        defaults on mnist5k/train (CPU, ~3 min on 1 contended core): 99.4% on the mnist5k
        held-out split, 99.0% on the MNIST test set.
    """
    if isinstance(data, str):
        data = load_dataset(data, "train")
    if heldout is None:
        heldout = heldout_for(data)
    if test is None:
        test = _default_test(data)
    device = default_device()
    params = {
        "data": cache.tensor_fingerprint(data.x),
        "labels": cache.tensor_fingerprint(data.y),
        "name": data.name,
        "num_classes": data.num_classes,
        "kind": data.kind,
        "heldout": cache.tensor_fingerprint(heldout.x) if heldout is not None else None,
        "test": cache.tensor_fingerprint(test.x) if test is not None else None,
        "steps": steps,
        "seed": seed,
        "batch_size": batch_size,
        "lr": lr,
        "width": width,
        "augmentation": augmentation,
        "device": device.type,
    }

    def compute() -> dict:
        model, seconds = train_classifier(
            data, steps, batch_size, lr, width, seed, augmentation, progress, device
        )
        report = ClassifierReport(
            heldout_accuracy=(
                class_accuracy(model, heldout.x, heldout.y) if heldout is not None else math.nan
            ),
            train_accuracy=class_accuracy(model, data.x, data.y),
            steps=steps,
            seconds=seconds,
            test_accuracy=class_accuracy(model, test.x, test.y) if test is not None else None,
            heldout_name=heldout.name if heldout is not None else "",
            test_name=test.name if test is not None else "",
            device=device.type,
        )
        state = {k: v.cpu() for k, v in model.state_dict().items()}
        return {"state_dict": state, "config": model.config, "report": asdict(report)}

    blob = cache.cached("classifier", params, compute)
    cfg = blob["config"]
    model = FeatureClassifier(
        cfg["in_channels"], cfg["num_classes"], cfg["width"], tuple(cfg["image_size"])
    )
    model.load_state_dict(blob["state_dict"])
    return model.to(device).eval(), ClassifierReport(**blob["report"])


def _default_test(data: ImageData) -> ImageData | None:
    src = data.name.split("/")[0]
    try:
        if src in ("mnist5k", "mnist_test") and not data.name.startswith("mnist_test"):
            return load_dataset("mnist_test", "test")
        if src == "fashion_mnist" and "/test" not in data.name:
            return load_dataset("fashion_mnist", "test")
    except FileNotFoundError:
        return None
    return None


# ----------------------------------------------------------------------------- Frechet


def _check_feats(f, name: str, min_rows: int = 2) -> np.ndarray:
    if isinstance(f, torch.Tensor):
        f = f.detach().cpu().double().numpy()
    f = np.asarray(f, dtype=np.float64)
    if f.ndim != 2:
        raise ValueError(f"{name} must be a (B, F) array of features, got shape {f.shape}")
    if len(f) < min_rows:
        raise ValueError(f"{name} needs at least {min_rows} samples for a covariance, got {len(f)}")
    if not np.isfinite(f).all():
        raise ValueError(f"{name} contains NaN/inf features")
    return f


def _sqrtm_psd(s: np.ndarray) -> np.ndarray:
    """Symmetric PSD square root by eigendecomposition (negative round-off clipped)."""
    w, v = np.linalg.eigh((s + s.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def _stats(f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mu = f.mean(0)
    fc = f - mu
    return mu, fc.T @ fc / (len(f) - 1)  # (F,), (F, F) unbiased covariance


def _fd_from_stats(mu_a, cov_a, mu_b, sqrt_b, tr_b) -> float:
    # Tr (S_a S_b)^{1/2} = Tr (S_b^{1/2} S_a S_b^{1/2})^{1/2}: symmetric PSD, real eigenvalues.
    m = sqrt_b @ cov_a @ sqrt_b
    ev = np.linalg.eigvalsh((m + m.T) / 2)
    tr_cross = np.sqrt(np.clip(ev, 0, None)).sum()
    fd = float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + tr_b - 2 * tr_cross)
    return max(fd, 0.0)


def frechet_distance(feats_a, feats_b) -> float:
    """Frechet distance between Gaussians fitted to two feature sets, in float64.

    .. math::
        d^2 = \\|\\mu_a - \\mu_b\\|^2 + \\mathrm{Tr}\\big(\\Sigma_a + \\Sigma_b
              - 2 (\\Sigma_b^{1/2} \\Sigma_a \\Sigma_b^{1/2})^{1/2}\\big)

    The matrix square root is taken of a symmetric PSD matrix by eigendecomposition, so no
    imaginary parts arise (``scipy.linalg.sqrtm(S_a S_b)`` gives the same trace). Used in place
    of the paper's gFID (Tables 1-3): compute it in :func:`extract_features` features.

    Args:
        feats_a: (B_a, F) features (tensor or array), B_a >= 2.
        feats_b: (B_b, F) features, B_b >= 2.

    Returns:
        The squared Frechet distance (>= 0), like FID.
    """
    a, b = _check_feats(feats_a, "feats_a"), _check_feats(feats_b, "feats_b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feats_a has {a.shape[1]} features but feats_b has {b.shape[1]}")
    mu_a, cov_a = _stats(a)
    mu_b, cov_b = _stats(b)
    return _fd_from_stats(mu_a, cov_a, mu_b, _sqrtm_psd(cov_b), np.trace(cov_b))


@dataclass
class FrechetResult:
    """Frechet distance with a bootstrap confidence interval [low, high] at ``level``."""

    fd: float
    low: float
    high: float
    n_boot: int = 0
    level: float = 0.95


def frechet_distance_ci(
    feats_a, feats_b, n_boot: int = 200, seed: int = 0, level: float = 0.95
) -> FrechetResult:
    """Frechet distance with a bootstrap interval over the samples of ``feats_a``.

    ``feats_a`` (e.g. generated samples) is resampled with replacement ``n_boot`` times;
    ``feats_b`` (the reference) is held fixed. Resampling duplicates rows, which biases the
    bootstrap FDs upward, so the interval is the bootstrap distribution's percentile spread
    placed around the point estimate: ``[fd + q_lo - mean, fd + q_hi - mean]`` (clipped at 0).
    It measures the sampling noise of ``fd`` (not its finite-sample bias, which depends on B).

    Returns:
        FrechetResult(fd, low, high, n_boot, level).
    """
    a, b = _check_feats(feats_a, "feats_a"), _check_feats(feats_b, "feats_b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feats_a has {a.shape[1]} features but feats_b has {b.shape[1]}")
    if n_boot < 2:
        raise ValueError(f"n_boot must be >= 2, got {n_boot}")
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    mu_b, cov_b = _stats(b)
    sqrt_b, tr_b = _sqrtm_psd(cov_b), np.trace(cov_b)
    mu_a, cov_a = _stats(a)
    fd = _fd_from_stats(mu_a, cov_a, mu_b, sqrt_b, tr_b)
    rng = np.random.default_rng(seed)
    boots = np.empty(n_boot)
    for i in range(n_boot):
        mu_i, cov_i = _stats(a[rng.integers(0, len(a), len(a))])
        boots[i] = _fd_from_stats(mu_i, cov_i, mu_b, sqrt_b, tr_b)
    q_lo, q_hi = np.quantile(boots, [(1 - level) / 2, (1 + level) / 2])
    centre = boots.mean()
    return FrechetResult(
        fd=fd,
        low=max(fd + q_lo - centre, 0.0),
        high=fd + q_hi - centre,
        n_boot=n_boot,
        level=level,
    )


# ----------------------------------------------------------------------------- memorization


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
        structural = (ma - mb).pow(2).flatten(1).mean(1)  # (B,)
    return MemorizationResult(nn_index, d1, d2, d1 < ratio * d2, feat_dist, structural)


# ----------------------------------------------------------------------------- intervals


def _z(level: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf((1 + level) / 2))


def wilson_interval(successes: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (e.g. the memorized fraction)."""
    if n <= 0:
        raise ValueError(f"n must be > 0, got {n}")
    if not 0 <= successes <= n:
        raise ValueError(f"successes must lie in [0, n={n}], got {successes}")
    z = _z(level)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(centre - half, 0.0), min(centre + half, 1.0)


def bootstrap_mean_ci(
    values, n_boot: int = 1000, seed: int = 0, level: float = 0.95
) -> tuple[float, float, float]:
    """(mean, low, high): percentile bootstrap interval of the mean of ``values`` (B,)."""
    v = np.asarray(values.cpu() if isinstance(values, torch.Tensor) else values, dtype=np.float64)
    if v.ndim != 1 or len(v) == 0:
        raise ValueError(f"values must be a non-empty 1-D array, got shape {v.shape}")
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, len(v), (n_boot, len(v)))].mean(1)
    lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return float(v.mean()), float(lo), float(hi)
