"""Fig. 8: the norm of the predicted velocity (paper: peaks near t = 0.4) and the divergence of
conditional and unconditional predictions (paper: they diverge quickly) along sampling."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from flowstage_lib.experiments import criteria, paper
from flowstage_lib.experiments._models import model_id
from flowstage_lib.experiments._shared import Comparison
from flowstage_lib.metrics.evaluate import balanced_labels
from flowstage_lib.solver import CFGVelocity, sample
from flowstage_lib.tooling import cache

__all__ = ["velocity_profile", "peak_time", "rise_time", "Figure8", "figure8", "figure8_comparison"]


def velocity_profile(
    result, n: int, n_steps: int, seed: int, scale: float = 1.0, interval=(0.0, 1.0)
) -> dict:
    """Fig. 8: along ``n`` class-conditional sampling trajectories (guidance ``scale`` on
    ``interval``), the norm of the velocity the sampler integrates and the divergence
    ||v_c - v_u|| at every step, divided by sqrt(D) (RMS per dimension). Cached.

    Returns:
        dict of lists over the n_steps evaluation times: t, v_mean, v_q10, v_q90, div_mean,
        div_q10, div_q90, and D.
    """
    shape, K = result.spec.input_shape, result.spec.num_classes
    params = {
        "model": model_id(result),
        "n": n,
        "n_steps": n_steps,
        "seed": seed,
        "scale": float(scale),
        "interval": list(interval),
    }

    def compute() -> dict:
        fn = CFGVelocity(result.model, scale, tuple(interval), record=True)
        r = sample(
            fn,
            n,
            shape,
            y=balanced_labels(n, K),
            n_steps=n_steps,
            seed=seed,
            batch_size=n,
            record=True,
        )
        D = math.prod(shape)
        v = r.v_norm / math.sqrt(D)  # (n_steps, n)
        div = torch.stack([d for _, d in fn.records]) / math.sqrt(D)  # (n_steps, n)
        q = torch.tensor([0.1, 0.9], dtype=torch.float64)
        vq, dq = torch.quantile(v, q, dim=1), torch.quantile(div, q, dim=1)
        return {
            "t": r.t.tolist(),
            "v_mean": v.mean(1).tolist(),
            "v_q10": vq[0].tolist(),
            "v_q90": vq[1].tolist(),
            "div_mean": div.mean(1).tolist(),
            "div_q10": dq[0].tolist(),
            "div_q90": dq[1].tolist(),
            "D": D,
        }

    return cache.cached("sec5_velocity_profile", params, compute)


def peak_time(t: Sequence[float], y: Sequence[float], rel: float = 0.01) -> float:
    """Where ``y`` peaks: the argmax time if the maximum is interior and exceeds both end
    values by more than ``rel`` (relative); NaN when the curve has no interior peak."""
    t, y = np.asarray(t, dtype=np.float64), np.asarray(y, dtype=np.float64)
    i = int(np.argmax(y))
    if i in (0, len(y) - 1) or y[i] <= (1 + rel) * max(y[0], y[-1]):
        return math.nan
    return float(t[i])


def rise_time(t: Sequence[float], y: Sequence[float], frac: float = 0.9) -> float:
    """First time ``y`` reaches ``frac`` of its maximum."""
    t, y = np.asarray(t, dtype=np.float64), np.asarray(y, dtype=np.float64)
    return float(t[int(np.nonzero(y >= frac * y.max())[0][0])])


@dataclass(frozen=True)
class Figure8:
    """Fig. 8's numbers. ``peak``/``peak_guided``: interior peak of the mean velocity norm
    without / with guidance (NaN: none); ``rise``: where the divergence reaches 90% of its
    maximum, ``div_peak`` its argmax; ``v_ratio``: max norm / larger end value; ``v_limit``:
    the exact t -> 1 limit sqrt(E[x1^2] + 1) of the norm; ``v_start``, ``v_end``: the norm at
    the first and last step; ``div_start_frac``, ``div_end_frac``: divergence at the first / last
    step over its maximum; ``dx1_end_frac``: (1 - t)||v_c - v_u|| at the last step over its max."""

    peak: float
    peak_guided: float
    rise: float
    div_peak: float
    v_ratio: float
    v_limit: float
    v_start: float
    v_end: float
    div_start_frac: float
    div_end_frac: float
    dx1_end_frac: float


def figure8(plain: dict, guided: dict, train_x: torch.Tensor) -> Figure8:
    """Analyse two :func:`velocity_profile` runs (no guidance, guided) with the training
    images train_x (N, C, H, W)."""
    t, v, div = np.asarray(plain["t"]), plain["v_mean"], np.asarray(plain["div_mean"])
    dx1 = (1 - t) * div  # difference of the predicted clean images
    return Figure8(
        peak=peak_time(t, v),
        peak_guided=peak_time(guided["t"], guided["v_mean"]),
        rise=rise_time(t, div, 0.9),
        div_peak=float(t[int(np.argmax(div))]),
        v_ratio=max(v) / max(v[0], v[-1]),
        v_limit=math.sqrt(float(train_x.pow(2).mean()) + 1.0),
        v_start=v[0],
        v_end=v[-1],
        div_start_frac=float(div[0] / div.max()),
        div_end_frac=float(div[-1] / div.max()),
        dx1_end_frac=float(dx1[-1] / dx1.max()),
    )


def _peak_text(x: float) -> str:
    return "no interior peak" if math.isnan(x) else f"peak at t = {x:.2f}"


def figure8_comparison(f: Figure8, t09: float, scale: float) -> Comparison:
    """Fig. 8 against the paper (criteria ``fig8a_velocity_peak_near_0_4``,
    ``fig8b_predictions_diverge_quickly``)."""
    va = criteria.fig8a_velocity_peak_near_0_4(f.peak)
    vb = criteria.fig8b_predictions_diverge_quickly(f.rise, t09)
    if f.div_end_frac <= 0.5:
        tail = (
            f"It decays through refinement (to {f.div_end_frac:.0%} of its maximum at the "
            f"last step) and the predicted clean images (dashed) converge: guidance has its "
            f"leverage in the navigation stage."
        )
    else:
        tail = (
            f"It stays at {f.div_end_frac:.0%} of its maximum at the last step; the predicted "
            f"clean images (dashed) differ by {f.dx1_end_frac:.0%} of their largest "
            f"difference there."
        )
    peaks = f"{_peak_text(f.peak)} (CFG {scale:g}: {_peak_text(f.peak_guided)})"
    rows = [
        (
            "norm of the predicted velocity",
            f"peaks near t = {paper.VELOCITY_PEAK_T}",
            f"{peaks}; max / end value {f.v_ratio:.2f}",
            va.verdict,
        ),
        (
            "||v_c - v_u|| reaches 90% of its maximum",
            "diverge quickly",
            f"t = {f.rise:.2f} (maximum at t = {f.div_peak:.2f}; transition {t09:.2f})",
            vb.verdict,
        ),
    ]
    glue = {
        "v8a": va.verdict,
        "v8b": vb.verdict,
        "peak1": _peak_text(f.peak),
        "peakg": _peak_text(f.peak_guided),
        "rise8": f.rise,
        "div_peak": f.div_peak,
        "v_ratio": f.v_ratio,
        "v_limit": f.v_limit,
        "v_end": f.v_end,
        "v_start": f.v_start,
        "div_start_frac": f.div_start_frac,
        "div_tail": tail,
    }
    claims = [
        (
            "The norm of the predicted velocity peaks near t = 0.4",
            "Fig. 8a: peak near t = 0.4",
            f"{peaks}; our transition {t09:.2f}",
            va,
        ),
        (
            "Conditional and unconditional predictions diverge quickly",
            "Fig. 8b",
            f"||v_c - v_u|| reaches 90% of its maximum at t = {f.rise:.2f} (transition {t09:.2f})",
            vb,
        ),
    ]
    table = pd.DataFrame(rows, columns=["quantity", "paper", "ours", "verdict"])
    return Comparison(table, glue, claims)
