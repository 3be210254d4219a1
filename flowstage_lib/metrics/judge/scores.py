"""Scores of a sample set in a judge's features, and paired differences (issue 13, items 1, 3).

All scores take features, (B, F) tensors or arrays, and work in float64:

- Frechet distance: :func:`flowstage_lib.metrics.frechet_distance` (reused, not copied).
- KID (Binkowski et al. 2018, "Demystifying MMD GANs"): the unbiased estimate of MMD^2 with the
  cubic polynomial kernel ``k(x, y) = (x.y / F + 1)^3``, averaged over random subsets like
  ``torchmetrics.image.KernelInceptionDistance`` (:func:`kid`).
- k-NN precision / recall (Kynkaanniemi et al. 2019) and density / coverage (Naeem et al.
  2020), from k-th nearest-neighbour balls (:func:`prdc`).
- :func:`paired_difference`: the difference of any score between two sample sets drawn with
  the same noise and labels, with a bootstrap interval that resamples the *same* rows of both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from flowstage_lib.metrics.frechet import _check_feats as _feats

__all__ = [
    "KIDResult",
    "kid",
    "mmd2_unbiased",
    "PRDCResult",
    "knn_radii",
    "prdc",
    "PairedDifference",
    "paired_difference",
    "mean_score",
    "fd_score",
]


def _same_width(a: np.ndarray, b: np.ndarray, na: str, nb: str) -> None:
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"{na} has {a.shape[1]} features but {nb} has {b.shape[1]}")


# ----------------------------------------------------------------------------- KID


def _poly(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    k = a @ b.T / a.shape[1] + 1.0  # (m, n)
    return k * k * k  # not k ** 3: numpy's float power is ~8x slower than two products


def mmd2_unbiased(x, y) -> float:
    """Unbiased MMD^2 with the KID kernel ``k(u, v) = (u.v / F + 1)^3``.

    .. math::
        \\widehat{\\mathrm{MMD}}^2_u = \\frac{\\sum_{i \\ne j} k(x_i, x_j)}{m(m-1)}
            + \\frac{\\sum_{i \\ne j} k(y_i, y_j)}{n(n-1)} - \\frac{2}{mn} \\sum_{i,j} k(x_i, y_j)

    Args:
        x: (m, F) features, m >= 2.
        y: (n, F) features, n >= 2.
    """
    x, y = _feats(x, "x"), _feats(y, "y")
    _same_width(x, y, "x", "y")
    m, n = len(x), len(y)
    kxx, kyy = _poly(x, x), _poly(y, y)
    sxx = (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
    syy = (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
    return float(sxx + syy - 2 * _poly(x, y).mean())


@dataclass
class KIDResult:
    """Kernel Inception (here: judge) distance.

    Attributes:
        kid: mean of the unbiased MMD^2 over the subsets (an unbiased estimate of MMD^2).
        std: standard deviation of the subset estimates (what torchmetrics calls ``kid_std``).
        se: standard error of ``kid``: ``std * sqrt(m / n + 1 / n_subsets)`` with m the subset
            size and n the smaller set's size (the variance of the unbiased estimate falls like
            1/m away from the null; near the null it falls faster, so ``se`` is conservative).
        subset_size, n_subsets: m and the number of subsets.
    """

    kid: float
    std: float
    se: float
    subset_size: int
    n_subsets: int


def kid(feats_a, feats_b, subset_size: int = 1000, n_subsets: int = 100, seed: int = 0):
    """KID between two feature sets, torchmetrics-style: ``n_subsets`` random subsets of
    ``min(subset_size, n_a, n_b)`` rows drawn without replacement from each set.

    Args:
        feats_a: (n_a, F) features (e.g. generated samples).
        feats_b: (n_b, F) features (reference).
        subset_size: m (clipped to the smaller set).
        n_subsets: number of subsets (>= 2 for a spread).
        seed: subset draws.

    Returns:
        KIDResult(kid, std, se, subset_size, n_subsets).
    """
    a, b = _feats(feats_a, "feats_a"), _feats(feats_b, "feats_b")
    _same_width(a, b, "feats_a", "feats_b")
    if subset_size < 2 or n_subsets < 2:
        raise ValueError(f"subset_size and n_subsets must be >= 2, got {subset_size}, {n_subsets}")
    m = min(subset_size, len(a), len(b))
    rng = np.random.default_rng(seed)
    vals = np.empty(n_subsets)
    for i in range(n_subsets):
        ia, ib = rng.choice(len(a), m, replace=False), rng.choice(len(b), m, replace=False)
        vals[i] = mmd2_unbiased(a[ia], b[ib])
    std = float(vals.std(ddof=1))
    se = std * float(np.sqrt(m / min(len(a), len(b)) + 1 / n_subsets))
    return KIDResult(float(vals.mean()), std, se, m, n_subsets)


# ----------------------------------------------------------------------------- PRDC


def _dists(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d2 = (a * a).sum(1)[:, None] - 2 * a @ b.T + (b * b).sum(1)[None]  # (m, n)
    return np.sqrt(np.clip(d2, 0, None))


def knn_radii(feats, k: int = 5, chunk: int = 2048) -> np.ndarray:
    """(N,) distance of each row to its k-th nearest *other* row (the k-NN ball radius)."""
    f = _feats(feats, "feats")
    if not 1 <= k < len(f):
        raise ValueError(f"k must lie in [1, {len(f) - 1}] for {len(f)} rows, got {k}")
    out = np.empty(len(f))
    for i in range(0, len(f), chunk):
        d = _dists(f[i : i + chunk], f)  # (c, N); the row itself is at distance ~0
        out[i : i + chunk] = np.partition(d, k, axis=1)[:, k]
    return out


@dataclass
class PRDCResult:
    """k-NN precision/recall (Kynkaanniemi et al. 2019) and density/coverage (Naeem et al. 2020).

    Attributes:
        precision: fraction of fake rows inside some real row's k-NN ball.
        recall: fraction of real rows inside some fake row's k-NN ball.
        density: mean number of real balls containing a fake row, divided by k.
        coverage: fraction of real rows whose ball contains some fake row.
        k: neighbourhood size.
    """

    precision: float
    recall: float
    density: float
    coverage: float
    k: int


def prdc(real, fake, k: int = 5, real_radii=None, chunk: int = 1024) -> PRDCResult:
    """Precision, recall, density and coverage of ``fake`` (M, F) w.r.t. ``real`` (N, F).

    Args:
        real: (N, F) reference features.
        fake: (M, F) generated features.
        k: neighbourhood size (Kynkaanniemi et al. use 3; Naeem et al. 5).
        real_radii: (N,) precomputed :func:`knn_radii` of ``real`` with the same k (optional).

    Returns:
        PRDCResult.
    """
    r, f = _feats(real, "real", k + 1), _feats(fake, "fake", k + 1)
    _same_width(r, f, "real", "fake")
    rr = knn_radii(r, k) if real_radii is None else np.asarray(real_radii, dtype=np.float64)
    if rr.shape != (len(r),):
        raise ValueError(f"real_radii must have shape ({len(r)},), got {rr.shape}")
    fr = knn_radii(f, k)  # (M,)
    in_real = np.zeros(len(f), bool)  # fake j inside some real ball
    in_fake = np.zeros(len(r), bool)  # real i inside some fake ball
    nearest_fake = np.full(len(r), np.inf)  # (N,)
    count = 0
    for j in range(0, len(f), chunk):
        d = _dists(f[j : j + chunk], r)  # (c, N)
        within = d <= rr[None]
        in_real[j : j + chunk] = within.any(1)
        count += int(within.sum())
        in_fake |= (d <= fr[j : j + chunk, None]).any(0)
        nearest_fake = np.minimum(nearest_fake, d.min(0))
    return PRDCResult(
        precision=float(in_real.mean()),
        recall=float(in_fake.mean()),
        density=count / (k * len(f)),
        coverage=float((nearest_fake <= rr).mean()),
        k=k,
    )


# ----------------------------------------------------------------------------- paired


@dataclass
class PairedDifference:
    """``delta = score(a) - score(b)`` with a bootstrap interval [low, high] at ``level``.

    Attributes:
        delta: the difference on the full sets.
        low, high: interval (bootstrap percentiles re-centred on ``delta``).
        score_a, score_b: the two scores on the full sets.
        n_boot, level: bootstrap size and level.
        paired: whether rows were resampled jointly (same indices in a and b).
    """

    delta: float
    low: float
    high: float
    score_a: float
    score_b: float
    n_boot: int
    level: float
    paired: bool

    @property
    def excludes_zero(self) -> bool:
        """The interval lies entirely on one side of 0 (a resolved difference)."""
        return self.low > 0 or self.high < 0


def fd_score(ref_feats) -> Callable[[np.ndarray], float]:
    """``score(x) = frechet_distance(x, ref_feats)`` with the reference statistics computed once
    (for bootstraps, which score hundreds of resampled sets against one reference).

    Uses the one Frechet formula of the package (:class:`flowstage_lib.metrics.frechet.
    FrechetReference`), not a copy.
    """
    from flowstage_lib.metrics.frechet import FrechetReference

    r = _feats(ref_feats, "ref_feats")
    ref = FrechetReference(r, "ref_feats")

    def score(x) -> float:
        f = _feats(x, "x")
        _same_width(f, r, "x", "ref_feats")
        return ref.distance(ref.check(f, "x"))

    return score


def mean_score(x, ref=None) -> float:
    """Mean of a (B,) or (B, 1) per-sample score (e.g. correct-class indicators)."""
    return float(np.asarray(x, dtype=np.float64).mean())


def paired_difference(
    score_fn: Callable,
    a,
    b,
    ref=None,
    n_boot: int = 200,
    seed: int = 0,
    level: float = 0.95,
    paired: bool = True,
) -> PairedDifference:
    """Bootstrap the difference of a score between two sample sets made with the same noise.

    Row i of ``a`` and row i of ``b`` come from the same noise and label (two samplers, one
    seed), so their scores share most of their sampling noise. Each bootstrap draw takes one
    index vector and scores ``a[idx]`` and ``b[idx]``; the shared noise cancels in the
    difference. ``paired=False`` resamples the two sets independently (for sets that share
    nothing). The interval is the percentile spread of the bootstrap differences placed around
    ``delta``: ``[delta + q_lo - mean, delta + q_hi - mean]``, as in
    :func:`flowstage_lib.metrics.frechet_distance_ci` (resampling biases FD-like scores).

    Args:
        score_fn: ``score_fn(x, ref) -> float`` (``ref`` omitted when None), e.g.
            ``flowstage_lib.metrics.frechet_distance`` or ``lambda x, r: kid(x, r).kid``.
        a, b: (B, ...) per-sample features of the two sets, same B, rows paired.
        ref: fixed reference (e.g. (N, F) reference features), or None.
        n_boot: bootstrap draws (>= 2).
        seed: resampling seed.
        level: interval level in (0, 1).
        paired: resample the same indices in a and b (True) or independent ones.

    Returns:
        PairedDifference.
    """
    a, b = np.asarray(_np(a)), np.asarray(_np(b))
    if len(a) != len(b) or len(a) < 2:
        raise ValueError(
            f"a and b must have the same number (>= 2) of rows, got {len(a)}, {len(b)}"
        )
    if n_boot < 2:
        raise ValueError(f"n_boot must be >= 2, got {n_boot}")
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    if not callable(score_fn):
        raise TypeError(f"score_fn must be callable, got {type(score_fn).__name__}")

    def score(x) -> float:
        return float(score_fn(x) if ref is None else score_fn(x, ref))

    sa, sb = score(a), score(b)
    rng = np.random.default_rng(seed)
    boots = np.empty(n_boot)
    for i in range(n_boot):
        ia = rng.integers(0, len(a), len(a))
        ib = ia if paired else rng.integers(0, len(b), len(b))
        boots[i] = score(a[ia]) - score(b[ib])
    q_lo, q_hi = np.quantile(boots, [(1 - level) / 2, (1 + level) / 2])
    delta, centre = sa - sb, boots.mean()
    return PairedDifference(
        delta, delta + q_lo - centre, delta + q_hi - centre, sa, sb, n_boot, level, paired
    )


def _np(x):
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().double().numpy()
    return x
