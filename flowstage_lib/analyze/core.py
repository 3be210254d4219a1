"""`analyze`: where is a data set's navigation -> refinement transition, and what does that
say about the timestep shift and the CFG interval (paper Sec. 3, Fig. 2; Sec. 5, Tables 2-3)?
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from flowstage_lib.analyze import conventions as cv
from flowstage_lib.analyze.calibrate import Calibration, calibration_from_crossings
from flowstage_lib.analyze.curves import QueryStats, bootstrap_crossings, query_stats
from flowstage_lib.analyze.distributed import rank_world
from flowstage_lib.analyze.stream import label_index, open_data
from flowstage_lib.oracle.transition import collapse_time

__all__ = ["CurveSummary", "measure", "reference_stats", "time_grid"]

LEVELS = (0.5, 0.9, 0.99)


@dataclass
class CurveSummary:
    """Mean oracle curves along t (our convention) and their crossings (Fig. 2a / 2b).

    Attributes:
        t: (T,) times; top1, mse, entropy: (T,) means over queries; *_se: standard errors.
        crossings: {level: (t*, lo, hi)} first crossing of the mean top-1 curve with a
            bootstrap interval over queries.
        n_rows: N (unconditional) or the mean class size N_y (conditional).
        n_queries: number of queries.
        predicted_t: collapse time t_c(D, n_rows, spread) (`transition.collapse_time`).
        spread: the per-coordinate standard deviation used for the prediction.
    """

    t: np.ndarray
    top1: np.ndarray
    top1_se: np.ndarray
    mse: np.ndarray
    mse_se: np.ndarray
    entropy: np.ndarray
    crossings: dict
    n_rows: float
    n_queries: int
    predicted_t: float
    spread: float
    stats: QueryStats | None = field(default=None, repr=False)


def _summary(qs: QueryStats, levels, n_boot, seed, n_rows, dim, spread) -> CurveSummary:
    q = qs.top1.shape[0]
    se = (lambda a: a.std(0, ddof=1) / math.sqrt(q)) if q > 1 else (lambda a: a[0] * np.nan)
    return CurveSummary(
        t=qs.t,
        top1=qs.top1.mean(0),
        top1_se=se(qs.top1),
        mse=qs.mse.mean(0),
        mse_se=se(qs.mse),
        entropy=qs.entropy.mean(0),
        crossings=bootstrap_crossings(qs.t, qs.top1, levels, n_boot, seed),
        n_rows=float(n_rows),
        n_queries=q,
        predicted_t=collapse_time(dim, max(1, round(n_rows)), spread) if spread > 0 else math.nan,
        spread=spread,
        stats=qs,
    )


def reference_stats(source, labels=None, max_rows: int = 4096):
    """(mu (D,) float64, spread, within-class spread) from up to ``max_rows`` evenly spaced rows.

    mu is only the streaming reference point (any value is exact; near the data is precise);
    spread = sqrt(mean per-coordinate variance), the within-class one around class means.
    """
    idx = np.unique(np.linspace(0, source.n - 1, min(source.n, max_rows)).astype(np.int64))
    x = source.take(idx)  # (m, D) float64
    mu = x.mean(0)
    spread = math.sqrt(((x - mu) ** 2).mean())
    within = math.nan
    if labels is not None:
        order = np.argsort(labels[idx], kind="stable")
        x, y = x[order], labels[idx][order]
        starts = np.flatnonzero(np.r_[True, y[1:] != y[:-1]])
        counts = np.diff(np.r_[starts, y.size])
        means = np.add.reduceat(x, starts, axis=0) / counts[:, None]  # (C', D)
        x -= np.repeat(means, counts, axis=0)
        dof = max(1, (x.shape[0] - counts.size)) * x.shape[1]  # unbiased within classes
        within = math.sqrt((x**2).sum() / dof)
    return torch.from_numpy(mu), spread, within


def time_grid(times, t_max: float = 0.98) -> np.ndarray:
    """The t grid of `measure`: ``times`` uniform points on [0, t_max] (an integer >= 3), or
    ``times`` itself (a sequence of >= 2 strictly increasing times in [0, 1); t_max unused)."""
    if isinstance(times, (int, np.integer)) and not isinstance(times, bool):
        if times < 3:
            raise ValueError(f"times must be an integer >= 3, got {times!r}")
        if not 0.0 < t_max < 1.0:
            raise ValueError(f"t_max must lie in (0, 1), got {t_max}")
        return np.linspace(0.0, t_max, int(times))
    try:
        grid = np.asarray(times, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"times must be an integer or a sequence of times, got {times!r}") from None
    if grid.ndim != 1 or grid.size < 2:
        raise ValueError(f"times: a grid needs at least 2 times, got shape {grid.shape}")
    if not (np.all(np.diff(grid) > 0) and grid[0] >= 0.0 and grid[-1] < 1.0):
        raise ValueError("times: a grid must be strictly increasing in [0, 1)")
    return grid


def measure(
    data,
    labels=None,
    queries: int = 256,
    class_queries: int | None = None,
    times: int = 32,
    t_max: float = 0.98,
    seed: int = 0,
    levels=LEVELS,
    n_boot: int = 200,
    unconditional: bool = True,
    classes=None,
    dtype: torch.dtype = torch.float32,
    chunk_rows: int | None = None,
    progress: bool = True,
) -> dict:
    """Measure the unconditional and (with labels) class-conditional curves; see `analyze`."""
    if not (isinstance(queries, int) and queries >= 2):
        raise ValueError(f"queries must be an integer >= 2, got {queries!r}")
    grid = time_grid(times, t_max)
    source = open_data(data)
    lab, index = (None, None) if labels is None else label_index(labels, source.n)
    mu, spread, within = reference_stats(source, lab)
    show = progress and rank_world()[0] == 0
    kw = dict(mu=mu, dtype=dtype, chunk_rows=chunk_rows)
    out = {
        "source": source,
        "t": grid,
        "spread": spread,
        "spread_within": within,
        "unconditional": None,
        "conditional": None,
        "n_classes": 0,
    }
    if unconditional:
        qs = query_stats(source, grid, queries, seed, progress=show, desc="unconditional", **kw)
        out["unconditional"] = _summary(qs, levels, n_boot, seed, source.n, source.dim, spread)
    if index is not None:
        chosen = index.classes if classes is None else np.asarray(classes, dtype=np.int64)
        for c in chosen:
            index.rows(int(c))  # fails early, naming an empty class
        per = class_queries or max(2, -(-queries // chosen.size))
        parts = []
        for c in tqdm(chosen.tolist(), desc="class-conditional", disable=not show):
            parts.append(
                query_stats(source, grid, per, seed * 1_000_003 + c, rows=index.rows(c), **kw)
            )
        n_y = float(np.mean([index.count(c) for c in chosen.tolist()]))
        qs = QueryStats.concat(parts)
        out["conditional"] = _summary(qs, levels, n_boot, seed, n_y, source.dim, within)
        out["n_classes"] = int(chosen.size)
    return out


def transfer(cal: Calibration, paper: dict) -> dict:
    """The paper's best shift and CFG intervals moved by the data scale k (our convention).

    On data k x1 (whose transition sits at the paper's t = 0.1) a grid point t corresponds to
    tau = timestep_shift(t, k) on x1, and shifts compose, so the paper's shift s becomes k s and
    its interval [a, b] becomes [shift(a, k), shift(b, k)].
    """
    from flowstage_lib.path import timestep_shift

    k, (k_lo, k_hi) = cal.k, cal.k_interval
    if not math.isfinite(k):
        return {}

    def move(s_k, a):
        return float(timestep_shift(a, s_k)) if math.isfinite(s_k) else math.nan

    out = {"shift": (k * paper["shift"], k_lo * paper["shift"], k_hi * paper["shift"])}
    for name in ("cfg_short", "cfg_wide"):
        a, b = paper[name]
        out[name] = tuple((move(kk, a), move(kk, b)) for kk in (k, k_lo, k_hi))
    return out


def in_convention(crossings: dict, convention: str) -> dict:
    """{level: (t*, lo, hi)} written in ``convention`` (interval ends sorted)."""
    out = {}
    for lv, (est, lo, hi) in crossings.items():
        a, b = cv.time_to(lo, convention), cv.time_to(hi, convention)
        out[lv] = (cv.time_to(est, convention), min(a, b), max(a, b))
    return out


def calibration_of(m: dict, level=0.9, target_t=0.1) -> Calibration:
    """Calibration from the class-conditional curve when measured, else the unconditional."""
    cond = m["conditional"] is not None
    summary = m["conditional"] if cond else m["unconditional"]
    return calibration_from_crossings(summary.crossings, level, target_t, cond)
