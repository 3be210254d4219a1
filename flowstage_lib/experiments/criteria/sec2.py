"""Criteria of Section 2 (Theorem 2.1, Eq. 6, the oracle's end points). See ``criteria``."""

from __future__ import annotations

from flowstage_lib.experiments.criteria._core import (
    Verdict,
    _summary,
    identity_word,
)


def bonferroni_bound(n_tests: int, alpha: float = 0.01) -> float:
    """The two-sided Bonferroni bound z* = Phi^-1(1 - alpha / (2 n)) for ``n_tests`` z-tests at
    family-wise level ``alpha``."""
    from scipy.stats import norm

    if n_tests < 1:
        raise ValueError(f"n_tests must be >= 1, got {n_tests}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    return float(norm.isf(alpha / (2 * n_tests)))


def theorem21_matches_monte_carlo(z, alpha: float = 0.01) -> Verdict:
    """Theorem 2.1 (appendix Eq. 19) agrees with Monte Carlo: every standardised difference z
    between Eq. 19 and an independent Monte Carlo estimate of E[u | x_t] has |z| <= z*, the
    two-sided Bonferroni bound at family-wise level 1% over the n non-NaN values of z.

    Args:
        z: (n,) standardised differences; NaN entries (estimator not run) are left out.
    """
    import numpy as np

    z = np.asarray(z, dtype=float).ravel()
    z = z[~np.isnan(z)]
    if len(z) == 0:
        raise ValueError("z holds no value: nothing was tested")
    z_star = bonferroni_bound(len(z), alpha)
    n_over = int((np.abs(z) > z_star).sum())
    return Verdict(
        "theorem21_matches_monte_carlo",
        "identity",
        identity_word(n_over == 0),
        _summary(theorem21_matches_monte_carlo),
        f"max |z| = {np.abs(z).max():.3g}; {n_over} of {len(z)} above z* = {z_star:.2f}",
    )


def eq6_as_printed_rejected(t, max_abs_z, z_star: float, t_min: float = 0.1) -> Verdict:
    """The main text's Eq. 6 as printed (sigma_t^2 in A_t and B_t) is rejected by Monte Carlo:
    at every tested t >= 0.1 the largest |z| between Eq. 6 and the Bayes-rule estimate exceeds
    z* (near t = 0, sigma_t ~ 1 and the typo hardly changes the velocity). No t >= 0.1, or a NaN
    there: not rejected.

    Args:
        t: (T,) times; max_abs_z: (T,) the largest |z| of Eq. 6 at each t; z_star: the bound.
    """
    import numpy as np

    t, m = np.asarray(t, dtype=float), np.asarray(max_abs_z, dtype=float)
    if t.shape != m.shape:
        raise ValueError(f"t {t.shape} and max_abs_z {m.shape} differ in shape")
    late = m[t >= t_min]
    ok = len(late) > 0 and bool(np.all(late > z_star))
    low = f"{late.min():.3g}" if len(late) else "none"
    return Verdict(
        "eq6_as_printed_rejected",
        "identity",
        identity_word(ok),
        _summary(eq6_as_printed_rejected),
        f"smallest per-t max |z| for t >= {t_min:g}: {low} (z* = {z_star:.2f})",
    )


def fig5_oracle_retrieves_training_points(
    frac_uncond: float, frac_cond: float, min_frac: float = 0.99
) -> Verdict:
    """Sampling with the oracle all the way retrieves training points (Fig. 5): at least 99% of
    the Euler end points lie on a training point (within tol; class-conditional: of the
    requested class), both unconditionally and class-conditionally."""
    ok = min(frac_uncond, frac_cond) >= min_frac
    return Verdict(
        "fig5_oracle_retrieves_training_points",
        "identity",
        identity_word(ok),
        _summary(fig5_oracle_retrieves_training_points),
        f"on a point: {frac_uncond:.1%} unconditional, {frac_cond:.1%} class-conditional",
    )
