"""Section 3, Fig. 2a near t -> 1: is the rise of the MSE real or float32 rounding? (issue 13)

The paper's Fig. 2a shows MSE(u*, x1 - x0) rising again as t -> 1. For the same queries we
compute it on a late window twice:

- float32, the library's path: :class:`flowstage_lib.oracle.OracleVelocity` in float32 and the
  path's x_t and x1 - x0 in float32, as :func:`flowstage_lib.oracle.transition.stage_curves`
  does;
- float64, an independent re-derivation in numpy (not the library's kernel):
  gamma_j = softmax_j(-||x_t - t x_j||^2 / (2 (1 - t)^2)) over the query's class and
  u* = (E[x1 | x_t] - x_t) / (1 - t) (Theorem 2.1 for rectified flow).

The verdict rule is :func:`.criteria.fig2a_late_rise_exact`; the plot
:func:`.plots_sec3.late_mse_figure`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from flowstage_lib.data import ImageData, default_device
from flowstage_lib.experiments import criteria
from flowstage_lib.tooling.cache import cached

__all__ = [
    "LATE_T",
    "LATE_QUERIES",
    "EPS_RATIO2",
    "LateMSE",
    "late_mse",
    "late_data",
    "late_curves",
    "late_for",
    "late_table",
    "late_glue",
    "record_late_claim",
]

LATE_T = tuple(float(v) for v in 1.0 - np.geomspace(0.1, 1e-3, 10))  # t in [0.9, 0.999]
LATE_QUERIES = 64  # at most this many queries (the curves are rounding floors, not noisy means)
# Rounding of (E[x1 | x_t] - x_t) / (1 - t) leaves an MSE floor ~ (eps |x| / (1 - t))^2: two
# floors of the same origin differ by (eps_32 / eps_64)^2 ~ 2.9e17.
EPS_RATIO2 = float(np.finfo(np.float32).eps / np.finfo(np.float64).eps) ** 2


@dataclass
class LateMSE:
    """MSE(u*, x1 - x0) of one data set on the late window, same queries in both dtypes.

    Attributes:
        t: (K,) times; mse32, mse64: (K,) means over queries and dimensions (float32 library
            path, float64 re-derivation); mse0: the float64 MSE at t = 0 (the scale);
        n_queries: Q.
    """

    t: np.ndarray
    mse32: np.ndarray
    mse64: np.ndarray
    mse0: float
    n_queries: int

    def as_dict(self) -> dict:
        """Plain lists and numbers (what the cache stores and the criterion reads)."""
        d = {k: getattr(self, k).tolist() for k in ("t", "mse32", "mse64")}
        return {**d, "mse0": self.mse0, "n_queries": self.n_queries}

    @classmethod
    def from_dict(cls, d: dict) -> LateMSE:
        arrays = {k: np.asarray(d[k], dtype=np.float64) for k in ("t", "mse32", "mse64")}
        return cls(**arrays, mse0=float(d["mse0"]), n_queries=int(d["n_queries"]))


def _queries(data: ImageData, n_queries: int, seed: int):
    """Query rows (Q,), x1 (Q, D) and x0 (Q, D), float32 values (exact in float64 too)."""
    gen = torch.Generator().manual_seed(int(seed))
    idx = torch.randint(0, data.N, (n_queries,), generator=gen)
    x1 = data.x.reshape(data.N, -1)[idx].float()
    x0 = torch.randn(x1.shape, generator=gen, dtype=torch.float32)
    return idx, x1, x0


def _mse32(data: ImageData, idx, x1, x0, t: Sequence[float], conditional: bool, device):
    """float32 through the library: x_t and x1 - x0 from the path, u* from the oracle."""
    from flowstage_lib.oracle import OracleVelocity

    oracle = OracleVelocity(
        data.x, data.y if conditional else None, dtype=torch.float32, device=device
    )
    y = data.y[idx].to(device) if conditional else None
    shape = (len(idx), *data.x.shape[1:])
    a, b = x1.reshape(shape).to(device), x0.reshape(shape).to(device)
    out = []
    for tt in t:
        ps = oracle.path.sample(b, a, tt)
        u = oracle.velocity(ps.x_t, tt, y)
        out.append((u - ps.dx_t).square().flatten(1).mean(1).double().mean().item())
    return np.asarray(out)


def _mse64(x: np.ndarray, rows_of, x1: np.ndarray, x0: np.ndarray, t: Sequence[float]):
    """float64 from the definition, per query: with d_j = x_j - x1 over the query's rows,
    ||x_t - t x_j||^2 = (1-t)^2 ||x0||^2 - 2 t (1-t) <x0, d_j> + t^2 ||d_j||^2 (exact), so
    logit_j = (2 t (1-t) <x0, d_j> - t^2 ||d_j||^2) / (2 (1-t)^2) + const; E = x1 + sum gamma d."""
    tt = np.asarray(t, dtype=np.float64)[:, None]  # (K, 1)
    err = np.zeros((len(x1), tt.size))
    for q in range(len(x1)):
        d = x[rows_of(q)] - x1[q]  # (n, D)
        lg = (2 * tt * (1 - tt) * (d @ x0[q]) - tt**2 * (d * d).sum(1)) / (2 * (1 - tt) ** 2)
        g = np.exp(lg - lg.max(1, keepdims=True))  # (K, n)
        g /= g.sum(1, keepdims=True)
        e = x1[q] + g @ d  # (K, D): E[x1 | x_t]
        xt = tt * x1[q] + (1 - tt) * x0[q]
        u = (e - xt) / (1 - tt)  # u* = (E[x1 | x_t] - x_t) / (1 - t)
        err[q] = ((u - (x1[q] - x0[q])) ** 2).mean(1)
    return err.mean(0)


def late_mse(
    data: ImageData,
    n_queries: int,
    seed: int,
    t: Sequence[float] = LATE_T,
    conditional: bool = True,
    device: torch.device | None = None,
) -> LateMSE:
    """Both late MSE curves of ``data`` for ``n_queries`` queries (x1 a uniform training row,
    x0 ~ N(0, I) drawn in float32 and used exactly in both dtypes), class-conditional oracle by
    default, on times ``t`` in (0, 1)."""
    t = [float(v) for v in t]
    if not t or not all(0.0 < v < 1.0 for v in t):
        raise ValueError(f"t must be times in (0, 1), got {t!r}")
    if n_queries < 1:
        raise ValueError(f"n_queries must be >= 1, got {n_queries}")
    idx, x1, x0 = _queries(data, n_queries, seed)
    m32 = _mse32(data, idx, x1, x0, t, conditional, device or default_device())
    x, y = data.x.reshape(data.N, -1).double().numpy(), data.y.numpy()
    yq = y[idx.numpy()]
    rows = {int(c): np.flatnonzero(y == c) for c in np.unique(yq)} if conditional else None
    all_rows = np.arange(data.N)

    def rows_of(q):
        return rows[int(yq[q])] if conditional else all_rows

    a, b = x1.double().numpy(), x0.double().numpy()
    m64 = _mse64(x, rows_of, a, b, t)
    mse0 = _mse64(x, rows_of, a, b, [0.0])[0]
    return LateMSE(np.asarray(t), m32, m64, float(mse0), int(n_queries))


def late_data(real: dict[str, ImageData], label: str, D: int, N: int, seed: int) -> dict:
    """The Fig. 2 data sets: ``real`` plus the unit-Gaussian set (D, N, one class) under
    ``label``, drawn as :func:`.curves.synthetic_curves` draws it."""
    from flowstage_lib.data import synthetic_gaussian
    from flowstage_lib.experiments.curves import DATA_SEED_OFFSET

    syn = synthetic_gaussian(D, N, num_classes=1, spread=1.0, seed=seed + DATA_SEED_OFFSET)
    return {**real, label: syn}


def late_curves(
    data_sets: dict[str, ImageData], n_queries: int, seed: int, t: Sequence[float] = LATE_T
) -> dict[str, LateMSE]:
    """Cached :func:`late_mse` per data set with min(n_queries, LATE_QUERIES) queries,
    {label: LateMSE} (key: data, labels, queries, seed, t, device)."""
    device = default_device()
    n_queries = min(int(n_queries), LATE_QUERIES)
    out = {}
    for label, d in data_sets.items():
        params = {"data": d.x, "labels": d.y, "n_queries": n_queries, "seed": seed,
                  "t": list(t), "device": device.type}  # fmt: skip
        out[label] = LateMSE.from_dict(
            cached(
                "late_mse",
                params,
                lambda d=d: late_mse(d, n_queries, seed, t, device=device).as_dict(),
            )
        )
    return out


def late_for(real: dict[str, ImageData], syn_label: str, P) -> dict[str, LateMSE]:
    """:func:`late_curves` of the Fig. 2 data sets (:func:`late_data`) at the section's
    parameters ``P`` (synthetic_D, synthetic_N, n_queries, seed)."""
    sets = late_data(real, syn_label, P.synthetic_D, P.synthetic_N, P.seed)
    return late_curves(sets, P.n_queries, P.seed)


def late_table(late: dict[str, LateMSE]) -> pd.DataFrame:
    """One row per data set: MSE / MSE(0) at the window's ends in both dtypes, the rise
    (:func:`.criteria.late_rise`) of each curve, and their ratio at the window's end (about
    :data:`EPS_RATIO2` when both are rounding floors)."""
    rows = []
    for label, c in late.items():
        rows.append(
            {"data": label, "t": f"{c.t[0]:.3g} -> {c.t[-1]:.4g}",
             "float32 first": c.mse32[0] / c.mse0, "float32 last": c.mse32[-1] / c.mse0,
             "float64 first": c.mse64[0] / c.mse0, "float64 last": c.mse64[-1] / c.mse0,
             "rise float32": criteria.late_rise(c.mse32, c.mse0),
             "rise float64": criteria.late_rise(c.mse64, c.mse0),
             "float32 / float64 last": c.mse32[-1] / c.mse64[-1]}
        )  # fmt: skip
    return pd.DataFrame(rows)


def late_glue(late: dict[str, LateMSE], v: criteria.Verdict) -> dict:
    """The numbers the notebook's paragraph reads: the verdict, the largest rise of each dtype,
    the float32 curve's range, and the smallest / largest float32 / float64 ratio at the end."""
    table = late_table(late)
    ratio = table["float32 / float64 last"]
    return {
        "late_verdict": v.verdict,
        "late_rise32": float(table["rise float32"].max()),
        "late_rise64": float(table["rise float64"].max()),
        "late_first32": float(table["float32 first"].max()),
        "late_last32": float(table["float32 last"].max()),
        "late_ratio_lo": float(ratio.min()),
        "late_ratio_hi": float(ratio.max()),
        "late_eps_ratio2": EPS_RATIO2,
        "late_n_queries": next(iter(late.values())).n_queries,
    }


def record_late_claim(results, v: criteria.Verdict) -> None:
    """Record the late-window check in ``results`` (a ``tooling.book.Results``)."""
    results.claim(
        v.claim_id,
        "The exact MSE(u*, x1 - x0) does not rise near t -> 1 (the rise is rounding)",
        "Fig. 2a: a small rise of the MSE as t -> 1 (attributed to the shrinking 2 sigma_t^2)",
        v.evidence,
        v.verdict,
        kind=v.kind,
        criterion=v.test,
    )
