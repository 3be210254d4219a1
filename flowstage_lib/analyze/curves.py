"""Per-query oracle statistics along t, streamed (Sec. 3, Fig. 2a / 2b), and their crossings.

For each query, x1 is a data row, x0 ~ N(0, I) and x_t = t x1 + (1 - t) x0 (rectified flow,
our convention); the same (x1, x0) pair is used at every t of the grid. At each (query, t) the
exact oracle gives the top-1 posterior weight max_i gamma_i, the entropy, and the squared error
of u* = (E[x1 | x_t] - x_t) / (1 - t) to the CFM target x1 - x0 (mean over dimensions), which
is ||E[x1 | x_t] - x1||^2 / (D (1 - t)^2) since x_t = x0 + t (x1 - x0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from flowstage_lib.analyze.distributed import all_merge, shard
from flowstage_lib.analyze.kernel import PairQueries, stream_partial
from flowstage_lib.oracle.transition import crossing_times
from flowstage_lib.path import RectifiedFlowPath

__all__ = ["QueryStats", "bootstrap_crossings", "query_stats"]

_PATH = RectifiedFlowPath()


@dataclass
class QueryStats:
    """Oracle statistics of Q queries at T times (our convention), float64.

    Attributes:
        t: (T,) times.
        top1: (Q, T) top-1 posterior weight.
        mse: (Q, T) mean squared error of u* to the CFM target x1 - x0.
        entropy: (Q, T) posterior entropy (nats).
        top1_index: (Q, T) data row of the top-1 weight.
        source_index: (Q,) data row of each query's x1.
    """

    t: np.ndarray
    top1: np.ndarray
    mse: np.ndarray
    entropy: np.ndarray
    top1_index: np.ndarray
    source_index: np.ndarray

    @staticmethod
    def concat(parts: list[QueryStats]) -> QueryStats:
        cat = {
            k: np.concatenate([getattr(p, k) for p in parts])
            for k in ("top1", "mse", "entropy", "top1_index", "source_index")
        }
        return QueryStats(t=parts[0].t, **cat)


def query_stats(
    source,
    t_grid: np.ndarray,
    queries: int,
    seed: int,
    mu: torch.Tensor,
    rows: np.ndarray | None = None,
    dtype: torch.dtype = torch.float32,
    chunk_rows: int | None = None,
    max_batch: int | None = None,
    progress: bool = False,
    desc: str = "oracle",
    factor: bool = True,
) -> QueryStats:
    """Exact oracle statistics for ``queries`` queries drawn from ``rows`` (all rows if None),
    the posterior running over the same rows (a class for class-conditional curves).

    Rows are sharded over torch.distributed ranks when a process group is running.

    Args:
        source: a RowSource.
        t_grid: (T,) times in [0, 1).
        queries: Q, number of (x1, x0) pairs.
        seed: seed of the query draw (same on every rank).
        mu: (D,) float64 reference point (`kernel` docstring).
        max_batch: query rows (Q T) per streaming pass (default: 2^26 / D, ~256 MiB in float32).
        factor: logits of all T times from the pairs' 2 Q inner products
            (`kernel.PairQueries`); False: one matmul row per (query, t) (the general path,
            same numbers up to float rounding; kept as the benchmark's baseline).
    """
    t_grid = np.asarray(t_grid, dtype=np.float64)
    pool = np.arange(source.n) if rows is None else rows
    gen = torch.Generator().manual_seed(int(seed))
    pick = torch.randint(0, pool.size, (queries,), generator=gen).numpy()
    src = pool[pick]  # (Q,) data rows of x1
    x1 = torch.from_numpy(source.take(src))  # (Q, D) float64
    x0 = torch.randn(x1.shape, generator=gen, dtype=torch.float64)
    mine = shard(rows if rows is not None else source.n)  # this rank's rows
    nt = t_grid.size
    x1c = (x1 - mu).to(dtype)  # (Q, D) centred x1 - mu
    x0d = x0.to(dtype)
    q_t = torch.from_numpy(np.repeat(np.arange(queries), nt))  # (Q T,) query of each row
    tt = torch.from_numpy(np.tile(t_grid, queries))  # (Q T,) time of each row
    step = max_batch or max(nt, (1 << 26) // source.dim)
    out = {k: [] for k in ("top1", "mse", "entropy", "top1_index")}
    for s in range(0, queries * nt, step):
        sl = slice(s, s + step)
        t_b, q_b = tt[sl], q_t[sl]
        alpha, sigma = _PATH.alpha(t_b), _PATH.sigma(t_b)  # (B,) float64
        # x_t - alpha_t mu = t (x1 - mu) + (1 - t) x0: the batch's pairs (a contiguous range)
        first, last = int(q_b[0]), int(q_b[-1]) + 1
        xc = PairQueries(x1c[first:last], x0d[first:last], q_b - first)
        if not factor:
            xc = xc.dense(alpha, sigma)  # (B, D) compute dtype
        part = stream_partial(
            source, xc, alpha, sigma, mu, mine, dtype, chunk_rows, progress=progress, desc=desc
        )
        part = all_merge(part)
        del xc
        # u* - (x1 - x0) = (E[x1 | x_t] - x_t) / (1 - t) - (x1 - x0) = (E[x1 | x_t] - x1) / (1 - t)
        err = (part.mean - x1c[q_b]).square().mean(1).double()  # (B,)
        out["mse"].append(err / sigma**2)
        out["top1"].append(part.top1.double())
        out["entropy"].append(part.entropy.double())
        out["top1_index"].append(part.top1_index)
    res = {k: torch.cat(v).reshape(queries, nt).numpy() for k, v in out.items()}
    return QueryStats(t=t_grid, source_index=src, **res)


def bootstrap_crossings(
    t: np.ndarray,
    top1: np.ndarray,
    levels=(0.5, 0.9, 0.99),
    n_boot: int = 200,
    seed: int = 0,
    ci: float = 0.95,
) -> dict[float, tuple[float, float, float]]:
    """First crossing of the mean top-1 curve of each level, with a bootstrap interval.

    Queries (rows of ``top1``, (Q, T)) are resampled with replacement ``n_boot`` times; the
    interval is the central ``ci`` percentile range of the resampled crossing times (those
    that cross; NaN if fewer than half do).

    Returns:
        {level: (t*, lo, hi)} in the times of ``t``.
    """
    est = crossing_times(t, top1.mean(0), levels)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, top1.shape[0], size=(n_boot, top1.shape[0]))
    boots = [crossing_times(t, top1[i].mean(0), levels) for i in idx]
    q = (1 - ci) / 2 * 100
    out = {}
    for lv in levels:
        v = np.array([b[lv] for b in boots])
        v = v[np.isfinite(v)]
        if v.size < max(1, n_boot // 2):
            out[lv] = (est[lv], math.nan, math.nan)
        else:
            out[lv] = (est[lv], float(np.percentile(v, q)), float(np.percentile(v, 100 - q)))
    return out
