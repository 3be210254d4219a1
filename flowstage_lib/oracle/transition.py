"""Section-3 helpers: where does navigation turn into refinement? (Fig. 2a / 2b / 3).

- `stage_curves` measures, along a grid of t, the divergence MSE(u*, x1 - x0) (Fig. 2a), the
  mean top-1 posterior weight (Fig. 2b / 3) and the posterior entropy of the oracle.
- `crossing_times` reads off when the top-1 curve crosses given levels.
- `collapse_time` / `speciation_time` are the predictions of Biroli, Bonnaire, De Bortoli and
  Mezard ("Dynamical regimes of diffusion models", Nat. Commun. 2024) translated to
  rectified-flow time (see /work/shared/notes/paper.md, "Theory beyond the paper").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from flowstage_lib.oracle import OracleVelocity
from flowstage_lib.tooling.progress import tqdm

__all__ = [
    "StageCurves",
    "collapse_time",
    "crossing_times",
    "first_crossing",
    "speciation_time",
    "stage_curves",
]


def collapse_time(D: int, N: int, spread: float = 1.0) -> float:
    """Collapse time t_c of Biroli et al. in rectified-flow time.

    For N iid points a ~ N(0, spread^2 I_D), the oracle posterior collapses onto one training
    point when the signal-to-noise ratio alpha_t spread / sigma_t = t spread / (1 - t) reaches
    r = sqrt(N^(2/D) - 1) (~ sqrt(2 ln N / D) for D >> ln N), i.e.

        t_c = r / (r + spread).

    N^(2/D) - 1 is computed as expm1(2 ln N / D), accurate for any D.

    Args:
        D: data dimension, >= 1.
        N: number of training points, >= 1 (N = 1 gives t_c = 0).
        spread: per-coordinate standard deviation of the data, > 0.

    Returns:
        t_c in [0, 1).
    """
    if not (isinstance(D, (int, np.integer)) or float(D).is_integer()) or D < 1:
        raise ValueError(f"D must be a positive integer, got {D!r}")
    if N < 1:
        raise ValueError(f"N must be >= 1, got {N!r}")
    if not (spread > 0 and math.isfinite(spread)):
        raise ValueError(f"spread must be a finite number > 0, got {spread!r}")
    r = math.sqrt(math.expm1(2.0 * math.log(N) / D))
    return r / (r + spread)


def speciation_time(cov_top_eigenvalue: float) -> float:
    """Speciation time t_S = 1 / (1 + sqrt(Lambda - 1)) of Biroli et al. in rectified-flow time.

    Lambda is the top eigenvalue of the data covariance (in units where the noise has unit
    variance); classes separate when t / (1 - t) = 1 / sqrt(Lambda - 1).

    Args:
        cov_top_eigenvalue: Lambda >= 1 (Lambda = 1 gives t_S = 1: no speciation).

    Returns:
        t_S in (0, 1].
    """
    lam = float(cov_top_eigenvalue)
    if not (math.isfinite(lam) and lam >= 1.0):
        raise ValueError(f"cov_top_eigenvalue must be a finite number >= 1, got {lam!r}")
    return 1.0 / (1.0 + math.sqrt(lam - 1.0))


@dataclass
class StageCurves:
    """Oracle statistics along t (Sec. 3). Arrays of shape (T,), float64.

    Attributes:
        t: the time grid.
        mse: MSE(u*(x_t, t), x1 - x0) averaged over queries and dimensions (Fig. 2a); the CFM
            target is the path's dx_t (x1 - x0 for rectified flow).
        mse_se: its standard error over queries.
        top1: mean top-1 posterior weight max_i gamma_i (Fig. 2b / 3).
        top1_se: its standard error.
        entropy: mean posterior entropy -sum_i gamma_i log gamma_i (nats).
    """

    t: np.ndarray
    mse: np.ndarray
    mse_se: np.ndarray
    top1: np.ndarray
    top1_se: np.ndarray
    entropy: np.ndarray


def _as_tensor(a) -> torch.Tensor:
    return torch.from_numpy(a) if isinstance(a, np.ndarray) else torch.as_tensor(a)


def _se(v: torch.Tensor) -> float:
    """Standard error of the mean (NaN for a single value)."""
    return v.std().item() / math.sqrt(v.numel()) if v.numel() > 1 else math.nan


def stage_curves(
    oracle: OracleVelocity,
    data,
    labels=None,
    t_grid: Sequence[float] = (0.0, 0.05, 0.1, 0.2, 0.5, 0.9),
    n_queries: int = 256,
    seed: int = 0,
    conditional: bool = True,
    progress: bool = True,
    batch_size: int = 256,
) -> StageCurves:
    """Divergence and posterior concentration of the oracle along t (Fig. 2a, 2b, 3).

    For each query, x1 is drawn from `data` (uniform index), x0 ~ N(0, I) and
    x_t = alpha_t x1 + sigma_t x0 on the oracle's path; the same (x1, x0) pairs are used at
    every t (common random numbers: smoother curves).

    Args:
        oracle: built on the same data (and labels, for conditional curves).
        data: (N, *shape) training set the queries are drawn from.
        labels: (N,) labels; required when `conditional`.
        t_grid: times in [0, 1).
        n_queries: queries per t.
        seed: seed of the query draw.
        conditional: use the class-conditional oracle u*(x_t, t | y) with y the label of x1
            (the paper's Fig. 2 setting).
        progress: show a tqdm bar over t.
        batch_size: queries per oracle call.

    Returns:
        StageCurves with arrays of shape (len(t_grid),).
    """
    data = _as_tensor(data)
    t_grid = np.asarray(t_grid, dtype=np.float64)
    if t_grid.ndim != 1 or t_grid.size == 0:
        raise ValueError("t_grid must be a non-empty 1-D sequence of times")
    if n_queries < 1:
        raise ValueError(f"n_queries must be >= 1, got {n_queries}")
    if conditional and labels is None:
        raise ValueError("labels are required when conditional=True")
    if tuple(data.shape[1:]) != oracle.data_shape or data.shape[0] != oracle.num_samples:
        raise ValueError(
            f"data must be the oracle's training set, shape ({oracle.num_samples}, "
            f"{', '.join(map(str, oracle.data_shape))}), got {tuple(data.shape)}"
        )
    gen = torch.Generator().manual_seed(seed)
    idx = torch.randint(0, data.shape[0], (n_queries,), generator=gen)  # (Q,)
    x1 = data[idx].to(oracle.device, oracle.dtype)  # (Q, *shape)
    x0 = torch.randn(x1.shape, generator=gen, dtype=oracle.dtype).to(oracle.device)
    y = _as_tensor(labels)[idx] if conditional else None  # (Q,)

    cols = {k: [] for k in ("mse", "mse_se", "top1", "top1_se", "entropy")}
    for t in tqdm(t_grid.tolist(), desc="stage_curves", disable=not progress):
        err, top1, ent = [], [], []
        for s in range(0, n_queries, batch_size):
            sl = slice(s, s + batch_size)
            ps = oracle.path.sample(x0[sl], x1[sl], t)
            st = oracle.stats(ps.x_t, t, None if y is None else y[sl])
            u = oracle.path.x1_to_velocity(st.mean, ps.x_t, t)  # u* = A_t E[x1|x_t] + B_t x_t
            err.append((u - ps.dx_t).square().flatten(1).mean(1))  # (b,)
            top1.append(st.top1)
            ent.append(st.entropy)
        err, top1, ent = (torch.cat(v).double().cpu() for v in (err, top1, ent))
        cols["mse"].append(err.mean().item())
        cols["mse_se"].append(_se(err))
        cols["top1"].append(top1.mean().item())
        cols["top1_se"].append(_se(top1))
        cols["entropy"].append(ent.mean().item())
    return StageCurves(t=t_grid, **{k: np.asarray(v, dtype=np.float64) for k, v in cols.items()})


def crossing_times(
    t: Sequence[float], top1: Sequence[float], levels: Sequence[float] = (0.5, 0.9, 0.99)
) -> dict[float, float]:
    """First time the top-1 curve reaches each level (linear interpolation; Fig. 2b / 3).

    Args:
        t: increasing times, (T,).
        top1: curve values at t, (T,).
        levels: thresholds.

    Returns:
        {level: t*} with t* the first crossing (t[0] if the curve starts at or above the level,
        NaN if it never reaches it).
    """
    t = np.asarray(t, dtype=np.float64)
    y = np.asarray(top1, dtype=np.float64)
    if t.ndim != 1 or y.shape != t.shape or t.size == 0:
        raise ValueError(f"t and top1 must be 1-D of the same length, got {t.shape}, {y.shape}")
    if np.any(np.diff(t) <= 0):
        raise ValueError("t must be strictly increasing")
    return {level: first_crossing(t, y, level, "above") for level in levels}


def first_crossing(
    t: Sequence[float], y: Sequence[float], level: float, direction: str = "below"
) -> float:
    """First t at which the curve y(t) reaches ``level``, by linear interpolation.

    Args:
        t: (T,) strictly increasing.
        y: (T,) values.
        level: threshold.
        direction: ``"below"`` (first t with y <= level) or ``"above"`` (y >= level).

    Returns:
        The crossing time; ``t[0]`` if y already satisfies it at t[0]; NaN if never.
    """
    t = np.asarray(t, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if t.ndim != 1 or t.shape != y.shape or t.size == 0:
        raise ValueError(f"t and y must be 1-D of the same length, got {t.shape}, {y.shape}")
    if np.any(np.diff(t) <= 0):
        raise ValueError("t must be strictly increasing")
    if direction not in ("below", "above"):
        raise ValueError(f"direction must be 'below' or 'above', got {direction!r}")
    ok = y <= level if direction == "below" else y >= level
    hit = np.nonzero(ok)[0]
    if hit.size == 0:
        return math.nan
    j = int(hit[0])
    if j == 0:
        return float(t[0])
    frac = (level - y[j - 1]) / (y[j] - y[j - 1])
    return float(t[j - 1] + frac * (t[j] - t[j - 1]))
