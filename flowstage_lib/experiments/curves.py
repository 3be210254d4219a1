"""The oracle's stage curves along t (Figs. 2-3), cached; shared by Secs. 3, 4 and 5.

- :func:`t_grid`: a grid dense near t = 0 (geomspace + linspace;
  :func:`flowstage_lib.path.log_linear_grid`).
- :func:`analyze_curves`: cached curves (MSE to x1 - x0, top-1 weight, entropy) of a real data
  set measured by :func:`flowstage_lib.analyze.analyze`, the function behind
  ``flowstage analyze`` (Sec. 3's real-data curves), with bootstrap intervals of the crossings.
  Also Secs. 4 and 5's transition and its interval (:func:`flowstage_lib.experiments._shared.
  transition`: one call, same queries).
- :func:`curves_for`: the same curves through
  :func:`flowstage_lib.oracle.transition.stage_curves` (the in-memory oracle, on the profile's
  device); :func:`synthetic_curves`: unit-Gaussian clouds (Figs. 2-3), generated on a miss.
- :func:`crossings`: the times t_0.5, t_0.9, t_0.99 where the mean top-1 weight first reaches
  each level.

A curve is a dict (what the cache stores): name, D, N (mean items per class when conditional)
and equal-length lists t, mse, mse_se, top1, top1_se, entropy
(see :class:`flowstage_lib.oracle.transition.StageCurves`); :func:`analyze_curves` adds
crossings_ci, [[level, t_level, low, high], ...].
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from flowstage_lib.data import ImageData, default_device, synthetic_gaussian
from flowstage_lib.oracle import OracleVelocity
from flowstage_lib.oracle.transition import crossing_times, stage_curves
from flowstage_lib.path import log_linear_grid as t_grid  # the grid of the stage curves
from flowstage_lib.tooling.cache import cached
from flowstage_lib.tooling.devices import key_device

__all__ = [
    "LEVELS",
    "DATA_SEED_OFFSET",
    "t_grid",
    "analyze_curves",
    "curves_for",
    "synthetic_curves",
    "crossings",
]

LEVELS = (0.5, 0.9, 0.99)  # the top-1 levels whose first crossings the book reports

# The data of synthetic_curves use seed + DATA_SEED_OFFSET, a stream apart from the queries'.
# With one seed for both, torch's generator would hand the queries a shifted copy of the data's
# own draws: e.g. for synthetic_gaussian(D=256) and 256 queries, stage_curves' noise x0 equals
# the next training point exactly, and the posterior "collapses" at t ~ 0.03 instead of ~0.17.
DATA_SEED_OFFSET = 3_000_017


def _params(t: Sequence[float], n_queries: int, seed: int, data: ImageData | None, **extra):
    """Cache parameters of a curve: the data's fingerprint (x and labels; None: the data are
    generated from ``extra``), t, n_queries, seed and ``extra`` (conditioning, device, ...)."""
    params = {} if data is None else {"data": data.x, "labels": data.y}
    params.update(t=[float(v) for v in t], n_queries=n_queries, seed=seed, **extra)
    return params


def _curves(
    data: ImageData,
    t: Sequence[float],
    n_queries: int,
    seed: int,
    conditional: bool,
    device: torch.device,
) -> dict:
    oracle = OracleVelocity(data.x, data.y if conditional else None, device=device)
    c = stage_curves(
        oracle,
        data.x,
        data.y,
        list(t),
        n_queries=n_queries,
        seed=seed,
        conditional=conditional,
        progress=False,
    )
    counts = data.class_counts()
    return {
        "name": data.name,
        "D": data.D,
        "N": float(counts[counts > 0].float().mean()) if conditional else data.N,
        "t": c.t.tolist(),
        "mse": c.mse.tolist(),
        "mse_se": c.mse_se.tolist(),
        "top1": c.top1.tolist(),
        "top1_se": c.top1_se.tolist(),
        "entropy": c.entropy.tolist(),
    }


def curves_for(
    data: ImageData, t: Sequence[float], n_queries: int, seed: int, conditional: bool = True
) -> dict:
    """Cached Fig. 2 curves of one data set: MSE(u*, x1 - x0), mean top-1 posterior weight and
    entropy along ``t`` (class-conditional oracle by default: N = images per class).

    The cache key holds the data's fingerprint, t, n_queries, seed, conditioning and the requested
    device (:func:`~flowstage_lib.tooling.devices.key_device`: the profile's, not the machine's).

    Returns:
        a curve dict (see the module docstring), lists of length T = len(t).
    """
    device = default_device()
    params = _params(t, n_queries, seed, data, conditional=conditional, device=key_device())
    return cached(
        "stage_curves", params, lambda: _curves(data, t, n_queries, seed, conditional, device)
    )


def _analyze_curves(
    data: ImageData, t: Sequence[float], n_queries: int, seed: int, conditional: bool, n_boot: int
) -> dict:
    from flowstage_lib.analyze import analyze

    res = analyze(
        data.x.reshape(data.N, -1),
        data.y if conditional else None,
        queries=n_queries,
        times=list(t),
        seed=seed,
        n_boot=n_boot,
        unconditional=not conditional,
        progress=False,
    )
    s = res.conditional if conditional else res.unconditional
    out = {"name": data.name, "D": data.D, "N": s.n_rows if conditional else data.N}
    out.update({k: getattr(s, k).tolist() for k in ("t", "mse", "mse_se", "top1", "top1_se")})
    out["entropy"] = s.entropy.tolist()
    out["crossings_ci"] = [[lv, *map(float, v)] for lv, v in sorted(s.crossings.items())]
    return out


def analyze_curves(
    data: ImageData,
    t: Sequence[float],
    n_queries: int,
    seed: int,
    conditional: bool = True,
    n_boot: int = 200,
) -> dict:
    """Cached Fig. 2 curves of one data set, measured by :func:`flowstage_lib.analyze.analyze`
    (what ``flowstage analyze`` reports) on the grid ``t``: MSE(u*, x1 - x0), mean top-1
    posterior weight and entropy, float32, on CPU.

    Class-conditional (default): max(2, ceil(n_queries / C)) queries per class (C classes),
    the posterior over the query's class; N = mean images per class. Unconditional:
    ``n_queries`` queries over all rows. The cache key holds the data's fingerprint, t,
    n_queries, seed, conditioning and n_boot.

    Returns:
        a curve dict (module docstring) with crossings_ci: the first crossings of the mean
        top-1 curve at :data:`LEVELS` with ``n_boot`` bootstrap intervals over the queries.
    """
    params = _params(t, n_queries, seed, data, conditional=conditional, n_boot=n_boot)
    return cached(
        "analyze_curves",
        params,
        lambda: _analyze_curves(data, t, n_queries, seed, conditional, n_boot),
    )


def synthetic_curves(
    D: int,
    N: int,
    t: Sequence[float],
    n_queries: int,
    seed: int,
    spread: float = 1.0,
    data_seed: int | None = None,
) -> dict:
    """Cached Fig. 3 curves of N iid points from N(0, spread^2 I_D) (generated only on a cache
    miss). Same output as :func:`curves_for` (one class: conditional = unconditional).

    ``seed`` draws the queries; the data use ``data_seed`` (default seed + DATA_SEED_OFFSET),
    which must differ from ``seed`` (one stream for both makes the query noise a copy of
    training points).
    """
    if data_seed is None:
        data_seed = int(seed) + DATA_SEED_OFFSET
    if data_seed == seed:
        raise ValueError("data_seed must differ from seed: queries would reuse the data's draws")
    device = default_device()
    params = _params(
        t, n_queries, seed, None, D=D, N=N, spread=spread, data_seed=data_seed, device=key_device()
    )

    def compute() -> dict:
        data = synthetic_gaussian(D, N, num_classes=1, spread=spread, seed=data_seed)
        return _curves(data, t, n_queries, seed, False, device)

    return cached("synthetic_curves", params, compute)


def crossings(curve: dict, levels: Sequence[float] = LEVELS) -> dict[float, float]:
    """{level: first t where the curve's mean top-1 weight reaches it} (NaN: never)."""
    return crossing_times(curve["t"], curve["top1"], levels)
