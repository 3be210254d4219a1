"""The data-scale identity and the calibration of a data scale to the paper's transition.

Identity (rectified flow). With x_t = t (k x1) + (1 - t) x0 and tau = timestep_shift(t, k)
= k t / (1 + (k - 1) t), one has 1 - tau = (1 - t) / (1 + (k - 1) t) and tau / (1 - tau)
= k t / (1 - t), hence

    x_t = c x_tau,  c = (1 - t) / (1 - tau) = 1 + (k - 1) t,  x_tau = tau x1 + (1 - tau) x0.

The posterior weights gamma_i depend on x_t only through ||x_t - t k x1_i||^2 / (1 - t)^2
= ||x_tau - tau x1_i||^2 / (1 - tau)^2, so gamma_i on k x1 at (x_t, t) equals gamma_i on x1
at (x_tau, tau), and E[k x1 | x_t] = k E[x1 | x_tau]. For the oracle velocities
u_k(x_t, t) = (k m - x_t) / (1 - t) and u(x_tau, tau) = (m - x_tau) / (1 - tau), the chain
rule d/dt (c x_tau) = c' x_tau + c tau' u with c' = k - 1 and c tau' = k (1 - tau) / (1 - t)
gives

    u_k(x_t, t) = (k - 1) x_tau + k (1 - tau) / (1 - t) * u(x_tau, tau).

So a data scale k moves every oracle curve along the clock t -> tau, and the scale that puts a
curve's crossing at a target time t_target is the one with timestep_shift(t_target, k) = t*,
t* the crossing on the unscaled data:

    k = t* (1 - t_target) / (t_target (1 - t*)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from flowstage_lib.path import timestep_shift

__all__ = ["Calibration", "calibrate_scale", "clock_identity", "k_from_crossing"]


def clock_identity(t, k: float):
    """(tau, c): the time tau = timestep_shift(t, k) and factor c with x_t(k x1) = c x_tau(x1)."""
    tau = timestep_shift(t, k)
    return tau, 1.0 + (k - 1.0) * t


def k_from_crossing(t_cross: float, target_t: float = 0.1) -> float:
    """The data scale k with timestep_shift(target_t, k) = t_cross (NaN if t_cross is NaN or 0)."""
    if not 0.0 < target_t < 1.0:
        raise ValueError(f"target_t must lie in (0, 1), got {target_t}")
    if not math.isfinite(t_cross) or t_cross <= 0.0:
        return math.nan  # never crossed, or already at t = 0 (a class of one point): no k
    if t_cross >= 1.0:
        raise ValueError(f"t_cross must lie in [0, 1), got {t_cross}")
    return t_cross * (1.0 - target_t) / (target_t * (1.0 - t_cross))


@dataclass
class Calibration:
    """The data scale that moves the top-1 crossing of ``level`` to ``target_t`` (Fig. 2b).

    Attributes:
        k: the data scale (train / sample on k * x1 to match the paper's clock).
        k_interval: (lo, hi) bootstrap interval over queries.
        level: the anchoring level (paper: 0.9).
        target_t: the paper's crossing time (0.1).
        t_cross: the crossing on the unscaled data, with t_cross_interval.
        k_by_level: {level: (k, lo, hi)} anchored at other levels (0.5, 0.9, 0.99).
        conditional: whether the class-conditional curve was used.
    """

    k: float
    k_interval: tuple[float, float]
    level: float
    target_t: float
    t_cross: float
    t_cross_interval: tuple[float, float]
    k_by_level: dict = field(default_factory=dict)
    conditional: bool = True


def calibration_from_crossings(
    crossings: dict, level: float = 0.9, target_t: float = 0.1, conditional: bool = True
) -> Calibration:
    """A Calibration from {level: (t*, lo, hi)} crossings (e.g. `curves.bootstrap_crossings`).

    k is increasing in t*, so the interval of k is the image of the interval of t*.
    """
    if level not in crossings:
        raise ValueError(f"level {level} is not among the crossings {sorted(crossings)}")
    by = {lv: tuple(k_from_crossing(v, target_t) for v in tri) for lv, tri in crossings.items()}
    est, lo, hi = crossings[level]
    return Calibration(
        k=by[level][0],
        k_interval=(by[level][1], by[level][2]),
        level=level,
        target_t=target_t,
        t_cross=est,
        t_cross_interval=(lo, hi),
        k_by_level=by,
        conditional=conditional,
    )


def calibrate_scale(
    x,
    y=None,
    target_t: float = 0.1,
    level: float = 0.9,
    levels=(0.5, 0.9, 0.99),
    queries: int = 256,
    times: int = 48,
    seed: int = 0,
    n_boot: int = 200,
    progress: bool = False,
) -> Calibration:
    """Data scale k at which the (class-conditional if ``y``) oracle's top-1 curve crosses
    ``level`` at ``target_t`` (paper: 0.9 at t = 0.1, Fig. 2b), with a bootstrap interval.

    The curve is measured once on x (exact streamed oracle) and moved by the identity above;
    ``k_by_level`` reports k anchored at each of ``levels``.

    Args:
        x: (N, *shape) data: an array, or anything `analyze` accepts (a path, shards).
        y: optional (N,) integer labels.
        queries: total queries (split over classes when y is given).
        times: grid points in t.
    """
    from flowstage_lib.analyze.core import measure

    levels = tuple(sorted(set(levels) | {level}))
    m = measure(
        x,
        y,
        queries=queries,
        times=times,
        seed=seed,
        levels=levels,
        n_boot=n_boot,
        unconditional=y is None,
        progress=progress,
    )
    summary = m["conditional"] if y is not None else m["unconditional"]
    return calibration_from_crossings(summary.crossings, level, target_t, y is not None)
