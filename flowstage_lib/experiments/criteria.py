"""Every verdict rule of the book, written before its numbers are seen.

One function per claim, named after the paper's figure or table (``fig2b_...``, ``table1_...``);
its docstring states the test. Each returns a :class:`Verdict`. Two kinds of claim are kept apart:

- ``identity``: a property of the formula (e.g. the oracle's end points are training points).
  It is *checked*; a failure means the code is wrong, not that the paper failed to reproduce.
- ``model``: a claim about data, trained models or samplers, which can be reproduced or not.

Every rule has unit tests in ``tests/test_criteria.py`` on synthetic inputs that show it can
pass and can fail. No rule is chosen among alternatives by which agrees with the paper.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = ["KINDS", "Verdict", "verdict", "tally"]

KINDS = ("identity", "model")
# Verdict words. "checked" / "failed" are for identities; the rest for model claims.
WORDS = ("reproduced", "partly", "not reproduced", "out of reach here", "checked", "failed")


@dataclass(frozen=True)
class Verdict:
    """The outcome of one criterion.

    Attributes:
        claim_id: stable id, e.g. ``"fig3a_larger_D_earlier"``.
        kind: ``"identity"`` or ``"model"`` (see the module docstring).
        verdict: one of :data:`WORDS`.
        test: the rule, in a sentence (the criterion's docstring summary).
        evidence: the numbers the rule looked at, formatted.
    """

    claim_id: str
    kind: str
    verdict: str
    test: str
    evidence: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind {self.kind!r} is not one of {KINDS}")
        if self.verdict not in WORDS:
            raise ValueError(f"verdict {self.verdict!r} is not one of {WORDS}")
        if self.kind == "identity" and self.verdict not in ("checked", "failed"):
            raise ValueError(f"an identity is 'checked' or 'failed', not {self.verdict!r}")

    def __str__(self) -> str:
        return self.verdict


def verdict(flags: Mapping[str, bool] | Iterable[bool]) -> str:
    """The one rule that turns sub-tests into a word: all pass -> ``"reproduced"``, some ->
    ``"partly"``, none -> ``"not reproduced"``. An empty set of sub-tests is an error."""
    values = [bool(v) for v in (flags.values() if isinstance(flags, Mapping) else flags)]
    if not values:
        raise ValueError("verdict() needs at least one sub-test")
    n = sum(values)
    if n == len(values):
        return "reproduced"
    return "partly" if n else "not reproduced"


def identity_word(ok: bool) -> str:
    """``"checked"`` when the identity holds, ``"failed"`` when it does not (a bug)."""
    return "checked" if bool(ok) else "failed"


def tally(verdicts: Iterable[Verdict]) -> dict[str, dict[str, int]]:
    """Counts per kind and word: ``{"identity": {"checked": 6}, "model": {"partly": 3, ...}}``."""
    out: dict[str, dict[str, int]] = {k: {} for k in KINDS}
    for v in verdicts:
        out[v.kind][v.verdict] = out[v.kind].get(v.verdict, 0) + 1
    return out


# ---------------- Section 2 (Theorem 2.1, oracle)


def _summary(fn) -> str:
    """The first paragraph of ``fn``'s docstring, on one line: the criterion's test."""
    return " ".join((fn.__doc__ or "").strip().split("\n\n")[0].split())


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


# ---------------- Section 3 (Figs. 2-3)


def fig2a_mse_concentrated_early(
    share_synthetic: float, share_real: Iterable[float], min_share: float = 0.8
) -> Verdict:
    """Fig. 2a: the gap MSE(u*, x1 - x0) is concentrated in t <= 0.1: at least 80% of the area
    under the MSE curve on [0, 0.99] lies in t <= 0.1, on the synthetic set of the paper's size
    (sub-test 1) and on every real data set (sub-test 2; fails when there is none);
    :func:`verdict` of the two."""
    share_real = [float(s) for s in share_real]
    flags = {
        "synthetic": bool(share_synthetic >= min_share),
        "real": len(share_real) > 0 and all(s >= min_share for s in share_real),
    }
    return Verdict(
        "fig2a_mse_concentrated_early",
        "model",
        verdict(flags),
        _summary(fig2a_mse_concentrated_early),
        f"synthetic {share_synthetic:.2f}; real {', '.join(f'{s:.2f}' for s in share_real)}",
    )


def fig2b_top1_saturates_early(
    t99_synthetic: float, t99_real: Iterable[float], t_max: float = 0.2
) -> Verdict:
    """Fig. 2b: the top-1 posterior weight saturates just after t = 0.1: it reaches 0.99 by
    t = 0.2 on the synthetic set of the paper's size (sub-test 1) and on every real data set
    (sub-test 2; a set that never reaches 0.99, or no set, fails); :func:`verdict` of the two."""
    t99_real = [float(t) for t in t99_real]
    flags = {
        "synthetic": bool(t99_synthetic <= t_max),
        "real": len(t99_real) > 0 and all(t <= t_max for t in t99_real),
    }
    return Verdict(
        "fig2b_top1_saturates_early",
        "model",
        verdict(flags),
        _summary(fig2b_top1_saturates_early),
        f"t_0.99: synthetic {t99_synthetic:.3g}; real {', '.join(f'{t:.3g}' for t in t99_real)}",
    )


def _two_stages(t, top1, mse) -> bool:
    import numpy as np

    from flowstage_lib.transition import crossing_times

    t, top1, mse = (np.asarray(v, dtype=float) for v in (t, top1, mse))
    t99 = crossing_times(t, top1, (0.99,))[0.99]
    return bool(top1[1] < 0.5 and np.isfinite(t99) and np.all(mse[t >= t99] <= 0.05 * mse[0]))


def fig2_two_stages(curves: Mapping[str, Mapping[str, Iterable[float]]]) -> Verdict:
    """Figs. 2a-b: the target has two stages on every data set: a mixture first (mean top-1
    weight below 0.5 at the first t > 0 of the grid, which starts at t = 0), then one point
    owns the posterior (top-1 reaches 0.99 before the grid's end) and the oracle meets the CFM
    target (MSE at most 5% of its t = 0 value from then on); :func:`verdict` over the sets.

    Args:
        curves: {data set: {"t": (T,), "top1": (T,), "mse": (T,)}}, t[0] = 0.
    """
    flags = {k: _two_stages(c["t"], c["top1"], c["mse"]) for k, c in curves.items()}
    return Verdict(
        "fig2_two_stages",
        "model",
        verdict(flags),
        _summary(fig2_two_stages),
        "; ".join(f"{k}: {'yes' if v else 'no'}" for k, v in flags.items()),
    )


def _monotone_flags(by_key: Mapping[float, Mapping[float, float]], sign: int) -> dict:
    """Per level: do the crossing times move strictly in the direction ``sign`` along the
    sorted keys (all finite)?"""
    import numpy as np

    keys = sorted(by_key)
    if len(keys) < 2:
        raise ValueError("a trend needs crossing times for at least two values")
    levels = list(by_key[keys[0]])
    out = {}
    for level in levels:
        ts = np.array([by_key[k][level] for k in keys], dtype=float)
        out[level] = bool(np.all(np.isfinite(ts))) and bool(np.all(sign * np.diff(ts) > 0))
    return out


def fig3a_larger_D_earlier(crossings_by_D: Mapping[int, Mapping[float, float]]) -> Verdict:
    """Fig. 3a: larger D saturates earlier: the crossing times t_0.5, t_0.9, t_0.99 of the
    mean top-1 weight each decrease strictly with D (one sub-test per level);
    :func:`verdict` of the sub-tests.

    Args:
        crossings_by_D: {D: {level: t_level}} (NaN: never reached, which fails).
    """
    flags = _monotone_flags(crossings_by_D, -1)
    return Verdict(
        "fig3a_larger_D_earlier",
        "model",
        verdict(flags),
        _summary(fig3a_larger_D_earlier),
        "; ".join(f"{lv}: {'yes' if ok else 'no'}" for lv, ok in flags.items()),
    )


def fig3b_larger_N_later(crossings_by_N: Mapping[int, Mapping[float, float]]) -> Verdict:
    """Fig. 3b: larger N delays saturation: the crossing times t_0.5, t_0.9, t_0.99 of the
    mean top-1 weight each increase strictly with N (one sub-test per level);
    :func:`verdict` of the sub-tests.

    Args:
        crossings_by_N: {N: {level: t_level}} (NaN: never reached, which fails).
    """
    flags = _monotone_flags(crossings_by_N, +1)
    return Verdict(
        "fig3b_larger_N_later",
        "model",
        verdict(flags),
        _summary(fig3b_larger_N_later),
        "; ".join(f"{lv}: {'yes' if ok else 'no'}" for lv, ok in flags.items()),
    )


def collapse_time_predicts_t05(t05: float, t_c: float, rel_tol: float = 0.25) -> Verdict:
    """Beyond the paper: the collapse time t_c of Biroli et al. predicts the measured
    half-collapse t_0.5 of a data set: |t_0.5 - t_c| / t_c <= 25%."""
    if not t_c > 0:
        raise ValueError(f"t_c must be > 0, got {t_c}")
    err = (t05 - t_c) / t_c
    return Verdict(
        "collapse_time_predicts_t05",
        "model",
        "reproduced" if abs(err) <= rel_tol else "not reproduced",
        _summary(collapse_time_predicts_t05),
        f"t_0.5 = {t05:.3g}, t_c = {t_c:.3g}, relative error {err:+.0%}",
    )


# ---------------- Section 4 (Figs. 4-7, 13, Table 1)

# ---------------- Section 5 (Tables 2-3, Figs. 8-12)
