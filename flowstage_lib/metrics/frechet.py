"""The one Frechet distance of the package, in float64: a point value, its bootstrap interval,
and the paired difference of two sample sets against the same reference (Table 1).

No Inception-v3 weights exist offline, so the paper's gFID (Tables 1-3, Fig. 12) is replaced by
the same formula computed in the features of our classifier
(:func:`flowstage_lib.metrics.extract_features`). Its numbers are not comparable with FID
values; only differences between settings are.

Every Frechet number goes through :class:`FrechetReference`: the reference statistics
(mean, covariance, covariance square root) are computed once, then any feature set is scored
against them.

Example::

    fd = frechet_distance(feats_samples, feats_train)                  # float
    res = frechet_distance_ci(feats_samples, feats_train)              # FrechetResult
    pd = paired_frechet_difference(feats_a, feats_b, feats_train)      # PairedFrechetResult
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from flowstage_lib.metrics.intervals import shifted_percentile_interval

__all__ = [
    "frechet_distance",
    "FrechetReference",
    "FrechetResult",
    "frechet_distance_ci",
    "PairedFrechetResult",
    "paired_frechet_difference",
]


def _check_feats(f, name: str, min_rows: int = 2) -> np.ndarray:
    """``f`` as a float64 (B, F) array with B >= ``min_rows`` finite rows, else ValueError."""
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


def _check_boot(n_boot: int, level: float) -> None:
    if n_boot < 2:
        raise ValueError(f"n_boot must be >= 2, got {n_boot}")
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")


def _sqrtm_psd(s: np.ndarray) -> np.ndarray:
    """Symmetric PSD square root (F, F) by eigendecomposition (negative round-off clipped)."""
    w, v = np.linalg.eigh((s + s.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def _stats(f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean (F,) and unbiased covariance (F, F) of features f (B, F)."""
    mu = f.mean(0)
    fc = f - mu
    return mu, fc.T @ fc / (len(f) - 1)


class FrechetReference:
    """Gaussian statistics of reference features, against which feature sets are scored.

    .. math::
        d^2(a, r) = \\|\\mu_a - \\mu_r\\|^2 + \\mathrm{Tr}\\big(\\Sigma_a + \\Sigma_r
              - 2 (\\Sigma_r^{1/2} \\Sigma_a \\Sigma_r^{1/2})^{1/2}\\big)

    ``Tr (S_a S_r)^{1/2} = Tr (S_r^{1/2} S_a S_r^{1/2})^{1/2}``, the trace of the square root
    of a symmetric PSD matrix: its eigenvalues are real, so no imaginary parts arise
    (``scipy.linalg.sqrtm(S_a S_r)`` gives the same trace).

    Args:
        feats: (N, F) reference features (tensor or array), N >= 2.
        name: the parameter name used in error messages.
    """

    def __init__(self, feats, name: str = "feats_b"):
        r = _check_feats(feats, name)
        self.name = name
        self.dim = r.shape[1]
        self.mu, cov = _stats(r)  # (F,), (F, F)
        self.sqrt_cov = _sqrtm_psd(cov)  # Sigma_r^{1/2}, computed once
        self.trace = np.trace(cov)

    def check(self, feats, name: str = "feats_a") -> np.ndarray:
        """``feats`` as float64 (B, F) with this reference's F, else ValueError."""
        f = _check_feats(feats, name)
        if f.shape[1] != self.dim:
            raise ValueError(f"{name} has {f.shape[1]} features but {self.name} has {self.dim}")
        return f

    def distance(self, f: np.ndarray) -> float:
        """Squared Frechet distance (>= 0) of checked float64 features f (B, F) to the reference."""
        mu, cov = _stats(f)
        m = self.sqrt_cov @ cov @ self.sqrt_cov
        ev = np.linalg.eigvalsh((m + m.T) / 2)
        tr_cross = np.sqrt(np.clip(ev, 0, None)).sum()
        fd = float(((mu - self.mu) ** 2).sum() + np.trace(cov) + self.trace - 2 * tr_cross)
        return max(fd, 0.0)


def frechet_distance(feats_a, feats_b) -> float:
    """Frechet distance between Gaussians fitted to two feature sets, in float64.

    Used in place of the paper's gFID (Tables 1-3): compute it in
    :func:`~flowstage_lib.metrics.extract_features` features. Formula: :class:`FrechetReference`.

    Args:
        feats_a: (B_a, F) features (tensor or array), B_a >= 2.
        feats_b: (B_b, F) features, B_b >= 2.

    Returns:
        The squared Frechet distance (>= 0), like FID; symmetric in its arguments.
    """
    a = _check_feats(feats_a, "feats_a")
    ref = FrechetReference(feats_b, "feats_b")
    return ref.distance(ref.check(a, "feats_a"))


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

    ``feats_a`` (B, F) (e.g. generated samples) is resampled with replacement ``n_boot``
    times; ``feats_b`` (N, F) (the reference) is held fixed. Resampling duplicates rows, which
    biases the bootstrap FDs upward, so the interval is
    :func:`~flowstage_lib.metrics.intervals.shifted_percentile_interval` (low clipped at 0):
    it measures the sampling noise of ``fd`` (not its finite-sample bias, which depends on B).

    Returns:
        FrechetResult(fd, low, high, n_boot, level).
    """
    a = _check_feats(feats_a, "feats_a")
    ref = FrechetReference(feats_b, "feats_b")
    a = ref.check(a, "feats_a")
    _check_boot(n_boot, level)
    fd = ref.distance(a)
    rng = np.random.default_rng(seed)
    boots = np.empty(n_boot)
    for i in range(n_boot):
        boots[i] = ref.distance(a[rng.integers(0, len(a), len(a))])
    low, high = shifted_percentile_interval(fd, boots, level)
    return FrechetResult(fd=fd, low=max(low, 0.0), high=high, n_boot=n_boot, level=level)


@dataclass
class PairedFrechetResult:
    """FD(a) - FD(b) against one reference, with a paired bootstrap interval [low, high]."""

    difference: float
    low: float
    high: float
    n_boot: int = 0
    level: float = 0.95

    def as_tuple(self) -> tuple[float, float, float]:
        """(difference, low, high)."""
        return self.difference, self.low, self.high


def paired_frechet_difference(
    feats_a, feats_b, feats_ref, n_boot: int = 200, seed: int = 0, level: float = 0.95
) -> PairedFrechetResult:
    """FD(a, ref) - FD(b, ref), with a *paired* bootstrap interval (Table 1).

    Row i of ``feats_a`` (n, F) and of ``feats_b`` (n, F) come from the same noise and label,
    so both are resampled with the same indices: the interval measures the noise of the
    difference, much smaller than that of each FD. The interval is
    :func:`~flowstage_lib.metrics.intervals.shifted_percentile_interval` (not clipped: a
    difference may be negative).

    Args:
        feats_a, feats_b: (n, F) paired features; feats_ref: (N, F) reference features.
        n_boot, seed, level: resamples, their seed, coverage.
    """
    ref = FrechetReference(feats_ref, "feats_ref")
    fa, fb = ref.check(feats_a, "feats_a"), ref.check(feats_b, "feats_b")
    if len(fa) != len(fb):
        raise ValueError(f"paired sets must have the same size, got {len(fa)}, {len(fb)}")
    _check_boot(n_boot, level)
    diff = ref.distance(fa) - ref.distance(fb)
    rng = np.random.default_rng(seed)
    boots = np.empty(n_boot)
    for k in range(n_boot):
        idx = rng.integers(0, len(fa), len(fa))
        boots[k] = ref.distance(fa[idx]) - ref.distance(fb[idx])
    low, high = shifted_percentile_interval(diff, boots, level)
    return PairedFrechetResult(float(diff), low, high, n_boot, level)
