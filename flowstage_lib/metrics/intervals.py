"""Confidence intervals: Wilson (binomial proportions, e.g. the memorized fraction of Fig. 5 /
13), the percentile bootstrap of a mean, and the shifted percentile interval that the Frechet
bootstraps of :mod:`flowstage_lib.metrics.frechet` report.

Example::

    lo, hi = wilson_interval(7, 40)                  # 7 of 40 samples memorized
    mean, lo, hi = bootstrap_mean_ci(distances)      # (B,) values
"""

from __future__ import annotations

import math

import numpy as np
import torch

__all__ = ["wilson_interval", "bootstrap_mean_ci", "shifted_percentile_interval"]


def _check_level(level: float) -> None:
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")


def _z(level: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf((1 + level) / 2))


def wilson_interval(successes: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (e.g. the memorized fraction)."""
    if n <= 0:
        raise ValueError(f"n must be > 0, got {n}")
    if not 0 <= successes <= n:
        raise ValueError(f"successes must lie in [0, n={n}], got {successes}")
    _check_level(level)
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
    if n_boot < 2:
        raise ValueError(f"n_boot must be >= 2, got {n_boot}")
    _check_level(level)
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, len(v), (n_boot, len(v)))].mean(1)
    lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return float(v.mean()), float(lo), float(hi)


def shifted_percentile_interval(
    estimate: float, boots: np.ndarray, level: float = 0.95
) -> tuple[float, float]:
    """The bootstrap distribution's percentile spread placed around the point estimate:
    ``[estimate + q_lo - mean(boots), estimate + q_hi - mean(boots)]``.

    Used where resampling biases the statistic (a Frechet distance of a resample with duplicate
    rows is biased upward): the interval measures the sampling noise of ``estimate``, not its
    finite-sample bias.

    Args:
        estimate: the statistic on the original sample.
        boots: (n_boot,) the statistic on the bootstrap resamples.
        level: coverage of the interval.
    """
    _check_level(level)
    q_lo, q_hi = np.quantile(boots, [(1 - level) / 2, (1 + level) / 2])
    centre = boots.mean()
    return float(estimate + q_lo - centre), float(estimate + q_hi - centre)
