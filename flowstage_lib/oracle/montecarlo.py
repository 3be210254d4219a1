"""Independent Monte Carlo estimators of E[u | x_t], to check Theorem 2.1 (appendix Eq. 19).

Neither estimator uses A_t, B_t or the softmax of the theorem:

- :func:`bayes_mc_velocity`: draw x1 from the data, infer x0 from the path, weight by the prior
  density of x0 (Bayes' rule, self-normalised importance sampling);
- :func:`joint_mc_velocity`: regression on samples of the coupling (x0, x1), i.e. what the CFM
  loss sees -- a local linear fit of u = alpha' x1 + sigma' x0 on x_t near the query.
"""

from __future__ import annotations

import torch

from flowstage_lib.path import AffinePath

__all__ = ["schedule_at", "bayes_mc_velocity", "joint_mc_velocity"]


def schedule_at(path: AffinePath, t: float) -> tuple[float, float, float, float]:
    """(alpha_t, sigma_t, alpha'_t, sigma'_t) of ``path`` at ``t`` as Python floats."""
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
    a, s, da, ds = schedule_at(path, t)
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
    the intercept c estimates E[u | x_t = q] with an O(h^2) bias from curvature only). Queries
    with fewer than 4 (D + 1) accepted pairs get NaN.

    Args:
        data: (N, D); x_t: (B, D) queries.

    Returns:
        (estimate (B, D), OLS standard error of the intercept (B, D), accepted pairs (B,)).
    """
    a, s, da, ds = schedule_at(path, t)
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
