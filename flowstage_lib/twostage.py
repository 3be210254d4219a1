"""Compute behind the book's Sections 2 and 3 (plotting lives in the notebooks).

Section 2 (Theorem 2.1, appendix Eq. 19), on a small labelled 2-D mixture:

- :func:`toy_mixture_2d`: the data set.
- :func:`bayes_mc_velocity`: E[u | x_t] by Monte Carlo through Bayes' rule (draw x1 from the
  data, infer x0 from the path, weight by the prior density of x0) -- no A_t, B_t, no softmax.
- :func:`joint_mc_velocity`: E[u | x_t] by regression on samples of the coupling (x0, x1),
  i.e. what the CFM loss sees -- a local linear fit of u = alpha' x1 + sigma' x0 on x_t near x_t.
- :func:`theorem_check`: both estimators against :class:`~flowstage_lib.OracleVelocity` (and
  against the main text's Eq. 6 with its sigma_t^2 typo) on a grid of t, paths, conditioning.
- :func:`oracle_field`, :func:`oracle_trajectories`: the field on a grid and Euler paths.

Section 3 (Figs. 2-3) wraps :func:`flowstage_lib.transition.stage_curves` with the cache:

- :func:`t_grid`: a grid dense near t = 0 (geomspace + linspace).
- :func:`curves_for`: cached stage curves (MSE to x1 - x0, top-1 weight, entropy) of a data set;
  :func:`synthetic_curves`: the same for unit-Gaussian clouds (Fig. 3), generated on a miss.
- :func:`data_spread`: the per-dimension spread and effective dimension used by the
  collapse-time prediction on real data; :func:`collapse_dimension` inverts that prediction.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from flowstage_lib.cache import cached
from flowstage_lib.data import ImageData, default_device, synthetic_gaussian
from flowstage_lib.oracle import OracleVelocity
from flowstage_lib.path import AffinePath, CosinePath, RectifiedFlowPath
from flowstage_lib.transition import stage_curves

__all__ = [
    "PATHS",
    "toy_mixture_2d",
    "bayes_mc_velocity",
    "joint_mc_velocity",
    "typo_velocity",
    "theorem_check",
    "oracle_field",
    "oracle_trajectories",
    "t_grid",
    "curves_for",
    "synthetic_curves",
    "data_spread",
    "collapse_dimension",
]

PATHS: dict[str, AffinePath] = {"rectified flow": RectifiedFlowPath(), "cosine": CosinePath()}

# Offsets that give every random draw its own stream. With one seed for both, torch's generator
# would hand the queries a shifted copy of the data's own draws: e.g. for synthetic_gaussian(D=256)
# and 256 queries, stage_curves' noise x0 equals the next training point exactly (randint takes 256
# values, one row), and the posterior "collapses" at t ~ 0.03 instead of ~0.17.
QUERY_SEED_OFFSET = 1_000_003
TRAJ_SEED_OFFSET = 2_000_003
DATA_SEED_OFFSET = 3_000_017


# ============================================================================ Section 2


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


def _coefs(path: AffinePath, t: float) -> tuple[float, float, float, float]:
    return (
        float(path.alpha(t)),
        float(path.sigma(t)),
        float(path.d_alpha(t)),
        float(path.d_sigma(t)),
    )


def bayes_mc_velocity(
    data: torch.Tensor,
    path: AffinePath,
    x_t: torch.Tensor,
    t: float,
    n_mc: int,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """E[u | x_t] by self-normalised importance sampling over the data (Bayes' rule).

    For each query q: draw x1^(m) uniformly from ``data`` (m = 1..n_mc), set
    x0^(m) = (q - alpha_t x1^(m)) / sigma_t (the only x0 that reaches q), weight it by the prior
    density w_m = N(x0^(m); 0, I), and average the CFM target u^(m) = alpha'_t x1^(m) +
    sigma'_t x0^(m). Uses neither A_t, B_t nor the softmax of Theorem 2.1.

    Args:
        data: (N, D) the training points (the class subset for a conditional query).
        x_t: (B, D) queries, t in [0, 1).

    Returns:
        (estimate (B, D), standard error (B, D)); the SE is the delta-method SE of a ratio.
    """
    a, s, da, ds = _coefs(path, t)
    b, _ = x_t.shape
    idx = torch.randint(len(data), (b, n_mc), generator=generator)  # (B, M)
    x1 = data[idx]  # (B, M, D)
    x0 = (x_t.unsqueeze(1) - a * x1) / s  # (B, M, D)
    logw = -0.5 * x0.square().sum(-1)  # (B, M)
    w = torch.softmax(logw, dim=1)  # (B, M) normalised weights
    u = da * x1 + ds * x0  # (B, M, D)
    est = (w.unsqueeze(-1) * u).sum(1)  # (B, D)
    se = (w.square().unsqueeze(-1) * (u - est.unsqueeze(1)).square()).sum(1).sqrt()  # (B, D)
    return est, se


def joint_mc_velocity(
    data: torch.Tensor,
    path: AffinePath,
    x_t: torch.Tensor,
    t: float,
    n_pairs: int,
    h: float,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """E[u | x_t] by regression on samples of the coupling: what the CFM loss sees.

    Draw ``n_pairs`` pairs x1 ~ data, x0 ~ N(0, I), form x_t' = alpha_t x1 + sigma_t x0 and the
    target u = alpha'_t x1 + sigma'_t x0; for each query q keep the pairs with
    ||x_t' - q|| < h and fit u ~ c + J (x_t' - q) by least squares (local linear regression:
    the intercept c estimates E[u | x_t = q] with an O(h^2) bias from curvature only).

    Returns:
        (estimate (B, D), OLS standard error of the intercept (B, D), accepted pairs (B,)).
    """
    a, s, da, ds = _coefs(path, t)
    b, d = x_t.shape
    x1 = data[torch.randint(len(data), (n_pairs,), generator=generator)]  # (M, D)
    x0 = torch.randn(x1.shape, generator=generator, dtype=data.dtype)  # (M, D)
    xt = a * x1 + s * x0  # (M, D)
    u = da * x1 + ds * x0  # (M, D)
    est = torch.full((b, d), float("nan"), dtype=data.dtype)
    se = torch.full((b, d), float("nan"), dtype=data.dtype)
    near = torch.cdist(xt, x_t) < h  # (M, B)
    n_acc = near.sum(0)  # (B,)
    for j in range(b):
        n = int(n_acc[j])
        if n < 4 * (d + 1):
            continue
        keep = near[:, j].nonzero().squeeze(1)  # (n,)
        dx = (xt[keep] - x_t[j]) / h  # (n, D)
        X = torch.cat([torch.ones(n, 1, dtype=data.dtype), dx], 1)  # (n, 1 + D)
        U = u[keep]  # (n, D)
        coef = torch.linalg.lstsq(X, U).solution  # (1 + D, D)
        res = U - X @ coef
        s2 = res.square().sum(0) / (n - d - 1)  # (D,)
        cov00 = torch.linalg.inv(X.T @ X)[0, 0]
        est[j], se[j] = coef[0], (s2 * cov00).sqrt()
    return est, se, n_acc


def typo_velocity(oracle: OracleVelocity, x_t: torch.Tensor, t: float, y=None) -> torch.Tensor:
    """The main text's Eq. 6 as printed (sigma_t^2 in the denominators of A_t and B_t):
    A = alpha' - alpha sigma' / sigma^2, B = sigma' / sigma^2. Wrong for sigma_t != 1."""
    a, s, da, ds = _coefs(oracle.path, t)
    mean = oracle.posterior_mean(x_t, t, y)
    return (da - a * ds / s**2) * mean + (ds / s**2) * x_t


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
) -> dict:
    """Theorem 2.1 against two Monte Carlo estimates of E[u | x_t] (Section 2 of the book).

    For every path, conditioning (unconditional / class-conditional) and t: ``n_queries`` query
    points x_t drawn from the path's marginal (conditional: from class y), the oracle u*
    (float64), the Eq. 6 typo version, the Bayes-rule MC estimate (``n_mc`` draws, all t) and
    the joint-sample regression (``n_pairs`` pairs, radius h = ``h_rel`` * sigma_t, only for
    t <= ``joint_max_t``: once one training point dominates the posterior, every accepted pair
    comes from it, the targets are exactly linear in x_t and the regression's SE vanishes,
    while a competitor of small weight that no pair hit still shifts the true mean).

    Returns:
        dict of equal-length lists, one row per (path, conditioning, t, query, component):
        path, conditional, t, query, comp, oracle, typo, bayes, bayes_se, joint, joint_se,
        joint_n. Random draws use seed + QUERY_SEED_OFFSET (a stream apart from the data's).
    """
    rows: dict[str, list] = {
        k: []
        for k in (
            "path",
            "conditional",
            "t",
            "query",
            "comp",
            "oracle",
            "typo",
            "bayes",
            "bayes_se",
            "joint",
            "joint_se",
            "joint_n",
        )
    }
    g = torch.Generator().manual_seed(int(seed) + QUERY_SEED_OFFSET)
    classes = sorted(set(y.tolist()))
    for pname in paths:
        path = PATHS[pname]
        oracle = OracleVelocity(x, y, path=path, dtype=torch.float64)
        for conditional in (False, True):
            for t in times:
                a, s, _, _ = _coefs(path, t)
                i = torch.randint(len(x), (n_queries,), generator=g)  # (Q,)
                q = a * x[i] + s * torch.randn(
                    n_queries, x.shape[1], generator=g, dtype=x.dtype
                )  # (Q, 2)
                yq = y[i] if conditional else None
                u = oracle.velocity(q, t, yq)  # (Q, 2)
                ut = typo_velocity(oracle, q, t, yq)
                bayes = torch.empty_like(q)
                bse = torch.empty_like(q)
                joint = torch.full_like(q, float("nan"))
                jse = torch.full_like(q, float("nan"))
                jn = torch.zeros(n_queries, dtype=torch.long)
                groups = (
                    [(c, (y[i] == c).nonzero().squeeze(1)) for c in classes]
                    if conditional
                    else [(None, torch.arange(n_queries))]
                )
                for c, rows_c in groups:
                    if len(rows_c) == 0:
                        continue
                    pool = x if c is None else x[y == c]
                    bayes[rows_c], bse[rows_c] = bayes_mc_velocity(
                        pool, path, q[rows_c], t, n_mc, g
                    )
                    if t <= joint_max_t:
                        e, se, n = joint_mc_velocity(
                            pool, path, q[rows_c], t, n_pairs // len(groups), h_rel * s, g
                        )
                        joint[rows_c], jse[rows_c], jn[rows_c] = e, se, n
                for j in range(n_queries):
                    for k in range(x.shape[1]):
                        rows["path"].append(pname)
                        rows["conditional"].append(conditional)
                        rows["t"].append(float(t))
                        rows["query"].append(j)
                        rows["comp"].append(k)
                        rows["oracle"].append(float(u[j, k]))
                        rows["typo"].append(float(ut[j, k]))
                        rows["bayes"].append(float(bayes[j, k]))
                        rows["bayes_se"].append(float(bse[j, k]))
                        rows["joint"].append(float(joint[j, k]))
                        rows["joint_se"].append(float(jse[j, k]))
                        rows["joint_n"].append(int(jn[j]))
    return rows


def oracle_field(
    x: torch.Tensor,
    y: torch.Tensor | None,
    times: Sequence[float],
    extent: float,
    n_grid: int,
    path: str = "rectified flow",
) -> dict:
    """The oracle field u*(x, t) and its top-1 posterior weight on an n_grid^2 grid of
    [-extent, extent]^2, for each t (unconditional: ``y`` only labels the picture).

    Returns:
        dict: grid (G,) float64, u (T, G, G, 2), top1 (T, G, G) (row = second coordinate).
    """
    oracle = OracleVelocity(x, path=PATHS[path], dtype=torch.float64)
    grid = torch.linspace(-extent, extent, n_grid, dtype=torch.float64)  # (G,)
    gy, gx = torch.meshgrid(grid, grid, indexing="ij")
    pts = torch.stack([gx.reshape(-1), gy.reshape(-1)], 1)  # (G*G, 2)
    us, tops = [], []
    for t in times:
        st = oracle.stats(pts, float(t))
        A, B = oracle.path.oracle_coefficients(float(t))
        us.append((A * st.mean + B * pts).reshape(n_grid, n_grid, 2))
        tops.append(st.top1.reshape(n_grid, n_grid))
    return {
        "grid": grid,
        "u": torch.stack(us),
        "top1": torch.stack(tops),
        "t": [float(t) for t in times],
    }


def oracle_trajectories(
    x: torch.Tensor,
    y: torch.Tensor,
    n_traj: int,
    n_steps: int,
    seed: int,
    conditional: bool,
    path: str = "rectified flow",
) -> dict:
    """Euler trajectories of the oracle from noise, on the uniform grid t_k = k / n_steps
    (the velocity is evaluated at t_0..t_{n-1} < 1, never at the singular t = 1).

    Returns:
        dict: traj (n_steps + 1, B, 2), y (B,) requested labels (-1 unconditional),
        nearest (B,) index of the nearest training point of the end point, dist (B,) its
        distance, second (B,) distance to the second nearest. Draws use seed + TRAJ_SEED_OFFSET.
    """
    g = torch.Generator().manual_seed(int(seed) + TRAJ_SEED_OFFSET)
    oracle = OracleVelocity(x, y, path=PATHS[path], dtype=torch.float64)
    z = torch.randn(n_traj, x.shape[1], generator=g, dtype=torch.float64)  # (B, 2)
    yq = torch.randint(int(y.max()) + 1, (n_traj,), generator=g) if conditional else None
    ts = torch.linspace(0, 1, n_steps + 1, dtype=torch.float64)
    traj = [z]
    for k in range(n_steps):
        dt = float(ts[k + 1] - ts[k])
        z = z + dt * oracle.velocity(z, float(ts[k]), yq)
        traj.append(z)
    d = torch.cdist(z, x)  # (B, N)
    two = d.topk(2, dim=1, largest=False)
    return {
        "traj": torch.stack(traj),
        "y": yq if conditional else torch.full((n_traj,), -1),
        "nearest": two.indices[:, 0],
        "dist": two.values[:, 0],
        "second": two.values[:, 1],
    }


# ============================================================================ Section 3

_CURVE_MODULES = (
    "flowstage_lib.data",
    "flowstage_lib.oracle",
    "flowstage_lib.path",
    "flowstage_lib.transition",
    "flowstage_lib.twostage",
)


def t_grid(
    n_log: int, n_lin: int, t_min: float = 1e-3, t_split: float = 0.2, t_max: float = 0.99
) -> list[float]:
    """Times dense near t = 0: t = 0, ``n_log`` geometric points in [t_min, t_split) and
    ``n_lin`` linear points in [t_split, t_max]."""
    a = np.geomspace(t_min, t_split, n_log, endpoint=False)
    b = np.linspace(t_split, t_max, n_lin)
    return [0.0] + [round(float(v), 6) for v in np.concatenate([a, b])]


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

    The cache key holds the data's fingerprint, t, n_queries, seed, conditioning and device.

    Returns:
        dict: name, D, N (mean items per class when conditional), and lists t, mse, mse_se,
        top1, top1_se, entropy (see :class:`flowstage_lib.transition.StageCurves`).
    """
    device = default_device()
    params = {
        "data": data.x,
        "labels": data.y,
        "t": list(t),
        "n_queries": n_queries,
        "seed": seed,
        "conditional": conditional,
        "device": device.type,
    }
    return cached(
        "stage_curves",
        params,
        lambda: _curves(data, t, n_queries, seed, conditional, device),
        modules=_CURVE_MODULES,
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
    which must differ from ``seed`` (see ``QUERY_SEED_OFFSET``: one stream for both makes the
    query noise a copy of training points).
    """
    if data_seed is None:
        data_seed = int(seed) + DATA_SEED_OFFSET
    if data_seed == seed:
        raise ValueError("data_seed must differ from seed: queries would reuse the data's draws")
    device = default_device()
    params = {
        "D": D,
        "N": N,
        "spread": spread,
        "data_seed": data_seed,
        "t": list(t),
        "n_queries": n_queries,
        "seed": seed,
        "device": device.type,
    }

    def compute() -> dict:
        data = synthetic_gaussian(D, N, num_classes=1, spread=spread, seed=data_seed)
        return _curves(data, t, n_queries, seed, False, device)

    return cached("synthetic_curves", params, compute, modules=_CURVE_MODULES)


def data_spread(data: ImageData) -> dict:
    """What the collapse-time prediction needs from a real data set (per class, pooled).

    Every class is centred on its own mean (the class-conditional oracle averages within a
    class); on the pooled centred data X (N, D):

    - ``spread`` = sqrt(||X||_F^2 / (N D)): the root mean per-dimension within-class variance;
    - ``D_eff`` = tr(C)^2 / tr(C^2), C = X^T X / N: the participation ratio of the within-class
      covariance (D for isotropic data, small when the variance lies in few directions);
    - ``spread_eff`` = sqrt(tr(C) / D_eff): the per-direction spread of an isotropic cloud of
      dimension D_eff with the same total variance;
    - ``N`` = mean items per class.

    Returns:
        dict with D, N, spread, D_eff, spread_eff (floats).
    """
    x = data.x.reshape(data.N, -1).double()  # (N, D)
    xc = torch.empty_like(x)
    for c in data.y.unique():
        m = data.y == c
        xc[m] = x[m] - x[m].mean(0)
    n, d = xc.shape
    tr = xc.square().sum() / n  # tr(C)
    gram = xc.T @ xc if d <= n else xc @ xc.T  # same nonzero spectrum
    tr2 = (gram / n).square().sum()  # tr(C^2)
    d_eff = float(tr**2 / tr2)
    counts = data.class_counts()
    return {
        "D": d,
        "N": float(counts[counts > 0].float().mean()),
        "spread": float((tr / d).sqrt()),
        "D_eff": d_eff,
        "spread_eff": float((tr / d_eff).sqrt()),
    }


def collapse_dimension(t_c: float, N: float, spread: float = 1.0) -> float:
    """The dimension D at which the collapse time of N iid points of spread ``spread`` is
    ``t_c``: the inverse in D of :func:`flowstage_lib.transition.collapse_time`.

    From t_c = r / (r + s), r = sqrt(N^(2/D) - 1): r = s t_c / (1 - t_c) and
    D = 2 ln N / ln(1 + r^2).
    """
    if not 0 < t_c < 1:
        raise ValueError(f"t_c must lie in (0, 1), got {t_c}")
    if N <= 1:
        raise ValueError(f"N must be > 1, got {N}")
    r = spread * t_c / (1 - t_c)
    return 2 * math.log(N) / math.log1p(r * r)
