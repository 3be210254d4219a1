"""Section 2 of the book: Theorem 2.1 (appendix Eq. 19) checked by Monte Carlo, the oracle field
and oracle sampling, on a small labelled 2-D mixture.

- :func:`toy_mixture_2d`: the data set.
- :func:`theorem_check`: the oracle u* (Eq. 19), Eq. 6 as printed and two Monte Carlo estimates
  of E[u | x_t] (:mod:`flowstage_lib.oracle.montecarlo`), per path, conditioning, t, query and
  component;
  :func:`theorem_summary` turns them into standardised differences z and tables.
- The field and sampling with it: :mod:`.sec2_sampling`.

Every result is cached (key: the inputs and the package's source). Plots: :mod:`.plots_sec2`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from flowstage_lib.experiments import criteria
from flowstage_lib.experiments.theorem21 import PATHS, typo_velocity
from flowstage_lib.oracle import OracleVelocity, bayes_mc_velocity, joint_mc_velocity, schedule_at
from flowstage_lib.tooling.cache import cached

__all__ = [
    "QUERY_SEED_OFFSET",
    "toy_mixture_2d",
    "theorem_check",
    "TheoremCheck",
    "theorem_summary",
    "theorem_reason",
    "theorem_comparison",
]

# Offsets that give every random draw its own stream (see experiments.curves.DATA_SEED_OFFSET:
# one seed for data and queries makes the query noise a copy of training points).
QUERY_SEED_OFFSET = 1_000_003
COLUMNS = (
    "path", "conditional", "t", "query", "comp", "oracle", "typo",
    "bayes", "bayes_se", "joint", "joint_se", "joint_n",
)  # fmt: skip


def toy_mixture_2d(
    num_classes: int = 3,
    n_per_class: int = 4,
    radius: float = 2.0,
    spread: float = 0.6,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """A small labelled 2-D data set: ``n_per_class`` points around each of ``num_classes``
    centres on a circle of radius ``radius`` (Gaussian jitter ``spread``).

    Returns:
        (x (N, 2) float64, y (N,) int64), sorted by class.
    """
    g = torch.Generator().manual_seed(int(seed))
    ang = math.pi / 2 + 2 * math.pi * torch.arange(num_classes, dtype=torch.float64) / num_classes
    centres = radius * torch.stack([ang.cos(), ang.sin()], 1)  # (K, 2)
    x = centres.repeat_interleave(n_per_class, 0)  # (N, 2)
    x = x + spread * torch.randn(x.shape, generator=g, dtype=torch.float64)
    y = torch.arange(num_classes).repeat_interleave(n_per_class)  # (N,)
    return x, y


def _mc_block(x, y, path, t, q, idx, conditional, n_mc, n_pairs, h, joint, g) -> dict:
    """Both Monte Carlo estimates for the queries q (Q, D) of one (path, conditioning, t);
    class-conditional queries are estimated class by class (pool = the query's class)."""
    n = len(q)
    out = {
        "bayes": torch.empty_like(q),
        "bayes_se": torch.empty_like(q),
        "joint": torch.full_like(q, float("nan")),
        "joint_se": torch.full_like(q, float("nan")),
        "joint_n": torch.zeros(n, dtype=torch.long),
    }
    classes = sorted(set(y.tolist()))
    groups = (
        [(c, (y[idx] == c).nonzero().squeeze(1)) for c in classes]
        if conditional
        else [(None, torch.arange(n))]
    )
    for c, rows in groups:
        if len(rows) == 0:
            continue
        pool = x if c is None else x[y == c]
        out["bayes"][rows], out["bayes_se"][rows] = bayes_mc_velocity(
            pool, path, q[rows], t, n_mc, g
        )
        if joint:
            e, se, k = joint_mc_velocity(pool, path, q[rows], t, n_pairs // len(groups), h, g)
            out["joint"][rows], out["joint_se"][rows], out["joint_n"][rows] = e, se, k
    return out


def _theorem_rows(x, y, times, n_queries, n_mc, n_pairs, h_rel, joint_max_t, seed, paths):
    rows: dict[str, list] = {k: [] for k in COLUMNS}
    g = torch.Generator().manual_seed(int(seed) + QUERY_SEED_OFFSET)
    for pname in paths:
        path = PATHS[pname]
        oracle = OracleVelocity(x, y, path=path, dtype=torch.float64)
        for conditional in (False, True):
            for t in times:
                a, s, _, _ = schedule_at(path, t)
                i = torch.randint(len(x), (n_queries,), generator=g)  # (Q,)
                noise = torch.randn(n_queries, x.shape[1], generator=g, dtype=x.dtype)
                q = a * x[i] + s * noise  # (Q, D)
                yq = y[i] if conditional else None
                est = {"oracle": oracle.velocity(q, t, yq), "typo": typo_velocity(oracle, q, t, yq)}
                est |= _mc_block(
                    x, y, path, t, q, i, conditional, n_mc, n_pairs, h_rel * s, t <= joint_max_t, g
                )
                for j in range(n_queries):
                    for k in range(x.shape[1]):
                        rows["path"].append(pname)
                        rows["conditional"].append(conditional)
                        rows["t"].append(float(t))
                        rows["query"].append(j)
                        rows["comp"].append(k)
                        for name in COLUMNS[5:-1]:
                            rows[name].append(float(est[name][j, k]))
                        rows["joint_n"].append(int(est["joint_n"][j]))
    return rows


def theorem_check(
    x: torch.Tensor,
    y: torch.Tensor,
    times: Sequence[float],
    n_queries: int,
    n_mc: int,
    n_pairs: int,
    h_rel: float,
    joint_max_t: float,
    seed: int,
    paths: Sequence[str] = ("rectified flow", "cosine"),
) -> dict[str, list]:
    """Theorem 2.1 (Eq. 19) against two Monte Carlo estimates of E[u | x_t] (cached).

    For every path, conditioning (unconditional / class-conditional) and t: ``n_queries`` query
    points x_t drawn from the path's marginal (conditional: from class y), the oracle u*
    (float64), the Eq. 6 typo version, the Bayes-rule MC estimate (``n_mc`` draws, all t) and
    the joint-sample regression (``n_pairs`` pairs, radius h = ``h_rel`` * sigma_t, only for
    t <= ``joint_max_t``: once one training point dominates the posterior, every accepted pair
    comes from it, the targets are exactly linear in x_t and the regression's SE vanishes,
    while a competitor of small weight that no pair hit still shifts the true mean).

    Args:
        x: (N, D) float64 data; y: (N,) labels.

    Returns:
        dict of equal-length lists, one row per (path, conditioning, t, query, component):
        path, conditional, t, query, comp, oracle, typo, bayes, bayes_se, joint, joint_se,
        joint_n. Random draws use seed + QUERY_SEED_OFFSET (a stream apart from the data's).
    """
    args = (list(times), n_queries, n_mc, n_pairs, h_rel, joint_max_t, seed, list(paths))
    keys = ("mc_times", "n_queries", "n_mc", "n_pairs", "h_rel", "joint_max_t", "seed", "paths")
    return cached(
        "sec2_theorem_check",
        {"x": x, "y": y, **dict(zip(keys, args, strict=True))},
        lambda: _theorem_rows(x, y, *args),
    )


@dataclass
class TheoremCheck:
    """Theorem 2.1 vs Monte Carlo, summarised.

    Attributes:
        mc: one row per (path, conditioning, t, query, component), with the standardised
            differences z_bayes, z_joint (Eq. 19 vs each estimator; NaN: not run) and z_eq6.
        full: max |z| per (path, conditioning, t); by_t: max |z| per t.
        n_tests: number of finite z of Eq. 19; z_star: its two-sided Bonferroni bound (1%).
        z19: all z of Eq. 19 (Bayes and joint; NaN where not run).
        max_z19, max_z6: largest |z| of Eq. 19 and of Eq. 6 as printed; n_over: how many
            |z| of Eq. 19 exceed z_star.
        min_z6_late: the smallest per-t max |z| of Eq. 6 at t >= 0.1 (the t range of
            :func:`.criteria.eq6_as_printed_rejected`; NaN when no t is tested there).
        z_sd_bayes, z_sd_joint: std of z where the SE is not negligible (calibration, ~1).
        n_joint_skipped: joint-regression components left out (too few accepted pairs).
    """

    mc: pd.DataFrame
    full: pd.DataFrame
    by_t: pd.DataFrame
    z19: np.ndarray
    n_tests: int
    z_star: float
    max_z19: float
    n_over: int
    max_z6: float
    min_z6_late: float
    z_sd_bayes: float
    z_sd_joint: float
    n_joint_skipped: int


def _max_abs(v) -> float:
    return float(np.nanmax(np.abs(v))) if np.isfinite(v).any() else float("nan")


_AGG = {
    "max abs(z), Eq. 19, Bayes MC": ("z_bayes", _max_abs),
    "max abs(z), Eq. 19, joint MC": ("z_joint", _max_abs),
    "max abs(z), Eq. 6 as printed": ("z_eq6", _max_abs),
    "median SE (Bayes MC)": ("bayes_se", "median"),
}


def theorem_summary(rows: dict[str, list], joint_max_t: float) -> TheoremCheck:
    """Standardised differences z = (MC - u*) / sqrt(SE^2 + eps^2), eps = 1e-8 (1 + |u*|) (eps
    only matters where the posterior is one-hot and the SE vanishes), and their tables."""
    mc = pd.DataFrame(rows)
    floor = 1e-8 * (1 + mc.oracle.abs())
    mc["z_bayes"] = (mc.bayes - mc.oracle) / np.sqrt(mc.bayes_se**2 + floor**2)
    mc["z_joint"] = (mc.joint - mc.oracle) / np.sqrt(mc.joint_se**2 + floor**2)  # NaN: not run
    mc["z_eq6"] = (mc.bayes - mc.typo) / np.sqrt(mc.bayes_se**2 + floor**2)
    mc["conditioning"] = np.where(mc.conditional, "class-conditional", "unconditional")
    full_agg = {**_AGG, "min accepted pairs (joint MC)": ("joint_n", "min")}
    groups = ["path", "conditioning", "t"]
    full = mc.groupby(groups, sort=False).agg(**full_agg).reset_index()
    by_t = mc.groupby("t").agg(**_AGG).reset_index()
    z19 = np.concatenate([mc.z_bayes.to_numpy(), mc.z_joint.to_numpy()])
    n_tests = int(mc.z_bayes.notna().sum() + mc.z_joint.notna().sum())
    z_star = criteria.bonferroni_bound(n_tests)
    late = by_t.loc[by_t.t >= 0.1, "max abs(z), Eq. 6 as printed"]
    return TheoremCheck(
        mc=mc,
        full=full,
        by_t=by_t,
        z19=z19,
        n_tests=n_tests,
        z_star=z_star,
        max_z19=float(np.nanmax(np.abs(z19))),
        n_over=int((np.abs(z19) > z_star).sum()),
        max_z6=float(by_t["max abs(z), Eq. 6 as printed"].max()),
        min_z6_late=float(late.min()) if len(late) else float("nan"),
        z_sd_bayes=float(mc.loc[mc.bayes_se > 1e-6, "z_bayes"].std()),
        z_sd_joint=float(mc.z_joint.std()),
        n_joint_skipped=int(((mc.t <= joint_max_t) & mc.z_joint.isna()).sum()),
    )


def theorem_reason(check: TheoremCheck, ok: bool, t_max: float) -> str:
    """The sentence that explains the Theorem 2.1 verdict (glued into the text)."""
    if ok:
        return (
            "both Monte Carlo estimates agree with Eq. 19 within their standard errors, for "
            f"both paths, with and without conditioning, from t = 0 to t = {t_max:g}"
        )
    mc = check.mc
    worst = mc.loc[mc[["z_bayes", "z_joint"]].abs().max(axis=1).idxmax()]
    return (
        f"{check.n_over} of {check.n_tests} values of abs(z) exceed the bound; the largest is at "
        f"{worst.path}, {worst.conditioning}, t = {worst.t:g}"
    )


def theorem_comparison(check: TheoremCheck, verdict_thm: str, eq6_rejected: bool) -> pd.DataFrame:
    """Eq. 19 and the main text's Eq. 6 beside our Monte Carlo check, with the verdicts."""
    ours_thm = (
        f"max abs(z) = {check.max_z19:.2f} over {check.n_tests} comparisons "
        f"(bound {check.z_star:.2f})"
    )
    return pd.DataFrame(
        [
            {
                "quantity": "E[u ∣ x_t] on a finite data set (Thm. 2.1)",
                "paper": "Eq. 19: A_t = α'_t − α_t σ'_t / σ_t, B_t = σ'_t / σ_t",
                "ours": ours_thm,
                "verdict": verdict_thm,
            },
            {
                "quantity": "Eq. 6 as printed (σ_t² in A_t, B_t)",
                "paper": "main text (a typo)",
                "ours": f"smallest per-t max abs(z) for t >= 0.1: {check.min_z6_late:.3g}",
                "verdict": "rejected" if eq6_rejected else "not rejected",
            },
        ]
    )
