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


def _isnan(x: float) -> bool:
    return x != x


def _isclose(a: float, b: float, abs_tol: float = 1e-9) -> bool:
    return abs(a - b) <= max(abs_tol, 1e-9 * max(abs(a), abs(b)))


def _near(a: float, b: float, tol: float) -> bool:
    """|a - b| <= tol (False when either is NaN)."""
    return bool(abs(a - b) <= tol)


def fig4_layout_settles_near_0_2(t_layout: float, t09: float) -> Verdict:
    """Fig. 4 / 15: the intermediate predictions settle their layout near t = 0.2.

    Test: t_layout (the layout distance to the final sample falls to 25% of its t = 0 value)
    within 0.1 of the paper's 0.2 -> reproduced; else within 0.1 of our transition t_0.9 ->
    partly (the same mechanism at our data's transition); else not reproduced.
    """
    from flowstage_lib.experiments import paper

    if _near(t_layout, paper.FIG4_LAYOUT_T, 0.1):
        word = "reproduced"
    elif _near(t_layout, t09, 0.1):
        word = "partly"
    else:
        word = "not reproduced"
    return Verdict(
        "fig4_layout",
        "model",
        word,
        "|t_layout - 0.2| <= 0.1: reproduced; |t_layout - t_0.9| <= 0.1: partly",
        f"t_layout = {t_layout:.3f}, t_0.9 = {t09:.3f}",
    )


def fig4_blob_at_t0(blob_ratio: float) -> Verdict:
    """Fig. 4 / 15: at t = 0 the prediction is a class-mean blob.

    Test: the within-class spread of x1_hat(0) (RMS pixel distance to the class average) is at
    most 20% of that of the final samples -> reproduced, else not reproduced.
    """
    ok = bool(blob_ratio <= 0.2)
    return Verdict(
        "fig4_blob",
        "model",
        "reproduced" if ok else "not reproduced",
        "spread of x1_hat(0) <= 0.2 x spread of the final samples",
        f"ratio = {blob_ratio:.2f}",
    )


def fig5_parts(
    max_low: float, min_high: float, oracle_frac: float, has_oracle_alone: bool
) -> list[bool]:
    """The three sub-tests of :func:`fig5_novel_then_training_images`."""
    return [max_low <= 0.1, min_high >= 0.9, bool(has_oracle_alone) and oracle_frac >= 0.99]


def fig5_novel_then_training_images(
    max_low: float, min_high: float, oracle_frac: float, has_oracle_alone: bool
) -> Verdict:
    """Fig. 5 / 14: oracle then model gives novel samples for t_switch <= 0.2 and training
    images for later switches.

    Test, three sub-tests under :func:`verdict`: (i) at most 10% memorized at every
    t_switch <= 0.2 (``max_low``); (ii) at least 90% at every t_switch >= 0.3 (``min_high``);
    (iii) t_switch = 1 was run and the oracle alone memorizes at least 99%.
    """
    flags = fig5_parts(max_low, min_high, oracle_frac, has_oracle_alone)
    return Verdict(
        "fig5_mixed",
        "model",
        verdict(flags),
        "max memorized (t_s <= 0.2) <= 0.1; min memorized (t_s >= 0.3) >= 0.9; oracle >= 0.99",
        f"{max_low:.2f}, {min_high:.2f}, {oracle_frac:.2f}",
    )


def fig13_memorization_drops_after_switch(t_drop: float, t09: float) -> Verdict:
    """Fig. 13: memorization drops sharply when switching to the model before t ~ 0.1-0.2.

    Test: t_drop (the memorized fraction crosses 50%, interpolated in t_switch) in
    [0.1, 0.25] -> reproduced; else within 0.1 of our transition t_0.9 -> partly; else (NaN
    included) not reproduced.
    """
    if 0.1 <= t_drop <= 0.25:
        word = "reproduced"
    elif _near(t_drop, t09, 0.1):
        word = "partly"
    else:
        word = "not reproduced"
    return Verdict(
        "fig13_drop",
        "model",
        word,
        "0.1 <= t_drop <= 0.25: reproduced; |t_drop - t_0.9| <= 0.1: partly",
        f"t_drop = {t_drop:.3f}, t_0.9 = {t09:.3f}",
    )


def fig6_parts(worst_late: float, pixel_at_02: float) -> list[bool]:
    """The two sub-tests of :func:`fig6_refinement_keeps_layout`."""
    return [bool(worst_late <= 0.5), bool(pixel_at_02 >= 0.1)]


def fig6_refinement_keeps_layout(worst_late: float, pixel_at_02: float) -> Verdict:
    """Fig. 6: re-noising unseen images to t_resume >= 0.2 and resuming keeps the global layout
    and changes details.

    Test, two sub-tests under :func:`verdict`: (i) the relative layout distance is at most 0.5
    at every t_resume >= 0.2 (``worst_late``, its maximum); (ii) at t_resume = 0.2 the
    relative pixel distance is at least 0.1 (NaN when 0.2 was not run: fails).
    """
    flags = fig6_parts(worst_late, pixel_at_02)
    return Verdict(
        "fig6_refinement",
        "model",
        verdict(flags),
        "max relative layout distance (t >= 0.2) <= 0.5; relative pixel distance at 0.2 >= 0.1",
        f"{worst_late:.2f}, {pixel_at_02:.2f}",
    )


def fig7a_gap_only_in_navigation(share_nav: float) -> Verdict:
    """Fig. 7a: the losses against the CFM and the oracle target differ only in navigation.

    Their difference is E||u* - (x1 - x0)||^2 whatever the model (u* = E[x1 - x0 | x_t]): a
    property of the formula and the data, hence an *identity*. Test: at least 80% of the area
    between the two curves lies in t <= t_0.9 (``share_nav``) -> checked, else failed.
    """
    return Verdict(
        "fig7a_targets",
        "identity",
        identity_word(share_nav >= 0.8),
        "share of the CFM - oracle gap in t <= t_0.9 >= 0.8",
        f"share = {share_nav:.2f}",
    )


def fig7a_oracle_loss_shape(
    loss_at_0: float, loss_max: float, t_peak: float, t09: float, loss_end: float, mid_min: float
) -> Verdict:
    """Fig. 7a: the oracle loss is ~0 at t -> 0, peaks at the transition and rises near t = 1.

    Test, three sub-tests under :func:`verdict`: (i) loss at t = 0 at most 25% of its maximum;
    (ii) the maximum over t <= 0.9 (``t_peak``) within 0.1 of t_0.9; (iii) the loss at the last
    t above its minimum over t in [0.4, 0.9] (``mid_min``).
    """
    flags = [loss_at_0 <= 0.25 * loss_max, _near(t_peak, t09, 0.1), loss_end > mid_min]
    return Verdict(
        "fig7a_shape",
        "model",
        verdict(flags),
        "L(0) <= 0.25 max L; |t_peak - t_0.9| <= 0.1; L(end) > min L on [0.4, 0.9]",
        f"L(0)/max {loss_at_0 / loss_max:.2f}, t_peak {t_peak:.2f}, end/min "
        f"{loss_end / mid_min:.2f}",
    )


def fig7b_parts(
    spread_nav: float, spread_ref: float, ref_loss: Mapping[str, float], main: str, long: str
) -> list[bool]:
    """The two sub-tests of :func:`fig7b_sizes_separate_in_refinement`."""
    sizes = [s for s in ("S", "B", "L") if s in ref_loss]
    ordered = all(ref_loss[a] > ref_loss[b] for a, b in zip(sizes, sizes[1:], strict=False))
    return [spread_nav < spread_ref, ordered and ref_loss[long] < ref_loss[main]]


def fig7b_sizes_separate_in_refinement(
    spread_nav: float, spread_ref: float, ref_loss: Mapping[str, float], main: str, long: str
) -> Verdict:
    """Fig. 7b: model sizes and budgets coincide in navigation and separate in refinement.

    Test, two sub-tests under :func:`verdict`: (i) the mean relative spread across models,
    (max - min) / mean per t, is smaller in navigation than in refinement; (ii) the mean
    refinement oracle loss ``ref_loss`` is ordered S > B > L (the sizes present) and the
    longer run ``long`` is below its 1x run ``main``.
    """
    flags = fig7b_parts(spread_nav, spread_ref, ref_loss, main, long)
    return Verdict(
        "fig7b_sizes",
        "model",
        verdict(flags),
        "relative spread: navigation < refinement; refinement loss L < B < S, longer < 1x",
        f"spread {spread_nav:.2f} vs {spread_ref:.2f}",
    )


def table1_weak_stage1_costs_little(holds: Mapping[float, bool]) -> Verdict:
    """Table 1: a weak stage-1 (navigation) model costs little, a weak stage-2 model a lot.

    ``holds``: {split: the claim holds there}, where it holds when the cost of a weak stage 2,
    FD(strong/weak) - FD(strong/strong), exceeds that of a weak stage 1, FD(weak/strong) -
    FD(strong/strong), *and* the paired 95% bootstrap interval of FD(strong/weak) -
    FD(weak/strong) lies above 0. Test: :func:`verdict` over the paper's splits 0.1 and 0.2
    that were run; none of them run -> not reproduced.
    """
    from flowstage_lib.experiments import paper

    at = {s: bool(h) for s, h in holds.items() if round(float(s), 3) in paper.TABLE1_SPLITS}
    word = verdict(at) if at else "not reproduced"
    return Verdict(
        "table1_stage_swap",
        "model",
        word,
        "at split 0.1 and 0.2: cost(weak stage 2) > cost(weak stage 1), paired CI above 0",
        ", ".join(f"split {s:g}: {h}" for s, h in at.items()),
    )


# ---------------- Section 5 (Tables 2-3, Figs. 8-12)


def table2_parts(fd: Mapping[float, float]) -> tuple[float, bool, bool, bool]:
    """(best s, A, B, C) of :func:`table2_moderate_shift_is_best`."""
    from flowstage_lib.experiments import paper

    if 1.0 not in fd:
        raise ValueError("fd must contain the uniform grid s = 1.0")
    best = min(fd, key=fd.get)
    c = fd[max(fd)] > fd[1.0] and fd[min(fd)] > fd[1.0]
    return best, best < 1.0, best in paper.TABLE2_MODERATE, c


def table2_moderate_shift_is_best(fd: Mapping[float, float]) -> Verdict:
    """Table 2: a moderate timestep shift toward navigation (s < 1) is best; extremes hurt.

    ``fd``: {s: FD}, must contain s = 1. Sub-tests: (A) the lowest FD is at s < 1; (B) at a
    moderate s in ``paper.TABLE2_MODERATE`` (0.7, 0.5, 0.3); (C) both extremes of the table
    (largest and smallest s) are worse than s = 1. Reproduced if A, B and C; partly if A holds
    but B or C fails; not reproduced if A fails.
    """
    best, a, b, c = table2_parts(fd)
    word = "reproduced" if a and b and c else "partly" if a else "not reproduced"
    return Verdict(
        "table2_shift",
        "model",
        word,
        "(A) best s < 1; (B) best s moderate; (C) both extremes worse than s = 1",
        f"best s = {best:g}; A: {a}, B: {b}, C: {c}",
    )


def _is_short(r: Mapping) -> bool:
    return not _isnan(r["a"]) and _isclose(r["b"] - r["a"], 0.1, abs_tol=1e-9)


def table3_best_short_at_transition(rows: Iterable[Mapping], t_transition: float) -> Verdict:
    """Table 3: the best short CFG interval sits at the stage transition.

    ``rows``: dicts with label, a, b (the paper's interval; NaN for no guidance), run_a,
    run_b (the executed one) and fd. Test: among the 0.1-wide rows, the one with the lowest FD
    is the row whose executed interval [run_a, run_b) contains ``t_transition`` (starts at it
    or spans it; tolerance 1e-6, the rounding of placed intervals) -> reproduced; a neighbour
    of that row -> partly; else not reproduced.
    """
    short = sorted((r for r in rows if _is_short(r)), key=lambda r: r["a"])
    if not short:
        raise ValueError("rows hold no 0.1-wide interval")
    best = min(short, key=lambda r: r["fd"])
    tol = 1e-6
    hits = [i for i, r in enumerate(short) if r["run_a"] - tol <= t_transition < r["run_b"] - tol]
    i = short.index(best)
    if i in hits:
        word = "reproduced"
    elif any(abs(i - j) == 1 for j in hits):
        word = "partly"
    else:
        word = "not reproduced"
    return Verdict(
        "table3_short_at_transition",
        "model",
        word,
        "the best 0.1-wide row contains the transition (reproduced) or neighbours it (partly)",
        f"best short {best['label']}; transition {t_transition:.3f}",
    )


#: Table 3's wide rows with and without [0, 0.1]: ([0, b], [.1, b]).
TABLE3_PAIRS = (
    ("[0, .2]", "[.1, .2]"),
    ("[0, .4]", "[.1, .4]"),
    ("[0, .6]", "[.1, .6]"),
    ("[0, .8]", "[.1, .8]"),
)


def table3_pairs_better(rows: Iterable[Mapping]) -> int:
    """How many b in {0.2, 0.4, 0.6, 0.8} have FD([.1, b]) < FD([0, b]) (0-4)."""
    by = {r["label"]: r for r in rows}
    return sum(int(by[b]["fd"] < by[a]["fd"]) for a, b in TABLE3_PAIRS)


def table3_skipping_first_helps(rows: Iterable[Mapping]) -> Verdict:
    """Table 3: excluding [0, 0.1] from wide CFG intervals helps.

    Test: FD([.1, b]) < FD([0, b]) for b in {0.2, 0.4, 0.6, 0.8}: 4 of 4 -> reproduced, 2-3 ->
    partly, 0-1 -> not reproduced.
    """
    n = table3_pairs_better(rows)
    word = "reproduced" if n == 4 else "partly" if n >= 2 else "not reproduced"
    return Verdict(
        "table3_skip_first", "model", word, "FD([.1, b]) < FD([0, b]) for 4/4 b", f"{n}/4"
    )


def table3_best_wide_row(rows: Iterable[Mapping]) -> Mapping:
    """The row at least 0.2 wide with the lowest FD."""
    wide = [r for r in rows if not _isnan(r["a"]) and r["b"] - r["a"] >= 0.2 - 1e-9]
    return min(wide, key=lambda r: r["fd"])


def table3_best_wide_early_refinement(rows: Iterable[Mapping]) -> Verdict:
    """Table 3: the best wide CFG interval spans early-mid refinement.

    Test: among the rows at least 0.2 wide, the best starts at the paper's transition
    (a = 0.1) and ends at b in [0.5, 0.8] -> reproduced; starts at 0.1 only -> partly; else
    not reproduced.
    """
    from flowstage_lib.experiments import paper

    best = table3_best_wide_row(rows)
    starts = _isclose(best["a"], paper.TRANSITION_T)
    ends = 0.5 - 1e-9 <= best["b"] <= 0.8 + 1e-9
    word = "reproduced" if starts and ends else "partly" if starts else "not reproduced"
    return Verdict(
        "table3_wide",
        "model",
        word,
        "the best row >= 0.2 wide starts at 0.1 and ends in [0.5, 0.8]",
        f"best wide {best['label']}",
    )


def fig8a_velocity_peak_near_0_4(peak_t: float) -> Verdict:
    """Fig. 8a: the norm of the predicted velocity peaks near t = 0.4.

    ``peak_t``: the interior peak of the mean norm (NaN: none, see ``peak_time``). Test: within
    0.1 of 0.4 -> reproduced; an interior peak elsewhere -> partly; none -> not reproduced.
    """
    from flowstage_lib.experiments import paper

    if _isnan(peak_t):
        word = "not reproduced"
    elif abs(peak_t - paper.VELOCITY_PEAK_T) <= 0.1:
        word = "reproduced"
    else:
        word = "partly"
    return Verdict(
        "fig8a_velocity_peak",
        "model",
        word,
        "interior peak within 0.1 of t = 0.4 (reproduced), elsewhere (partly)",
        f"peak at {peak_t:.2f}",
    )


def fig8b_predictions_diverge_quickly(rise_t: float, t09: float) -> Verdict:
    """Fig. 8b: conditional and unconditional predictions diverge quickly.

    Test: ||v_c - v_u|| reaches 90% of its maximum (``rise_t``) within our navigation stage,
    t <= t_0.9 -> reproduced; by t = 0.5 -> partly; later -> not reproduced.
    """
    word = "reproduced" if rise_t <= t09 else "partly" if rise_t <= 0.5 else "not reproduced"
    return Verdict(
        "fig8b_cfg_divergence",
        "model",
        word,
        "90% of the maximum divergence by t_0.9 (reproduced) or by 0.5 (partly)",
        f"rise at {rise_t:.2f}, t_0.9 = {t09:.2f}",
    )


def fig12_aligned_converges_faster(share_lower: float) -> Verdict:
    """Fig. 12: an aligned latent space converges faster than a reconstruction-only one.

    ``share_lower``: share of training checkpoints with FD(aligned) < FD(recon). Test: >= 0.75
    -> reproduced, >= 0.5 -> partly, else not reproduced.
    """
    word = (
        "reproduced"
        if share_lower >= 0.75
        else "partly"
        if share_lower >= 0.5
        else ("not reproduced")
    )
    return Verdict(
        "fig12_aligned_convergence",
        "model",
        word,
        "FD(aligned) < FD(recon) at >= 75% of checkpoints (>= 50%: partly)",
        f"{share_lower:.0%}",
    )


def fig9_aligned_smoother_refinement(smooth_share: float) -> Verdict:
    """Fig. 9: the aligned latent space has a smoother oracle loss in the refinement stage.

    ``smooth_share``: share of second-half checkpoints where the aligned curve's excess
    variation of log L on t >= t_0.9 is below the recon curve's. Test: all -> reproduced, at
    least half -> partly, else not reproduced.
    """
    word = (
        "reproduced"
        if smooth_share == 1.0
        else "partly"
        if smooth_share >= 0.5
        else ("not reproduced")
    )
    return Verdict(
        "fig9_smooth_refinement",
        "model",
        word,
        "aligned smoother at every second-half checkpoint (at half: partly)",
        f"{smooth_share:.0%}",
    )


def fig10_parts(oracle_rows: Iterable[Mapping], cfm_rows: Iterable[Mapping]) -> list[bool]:
    """[A, B] of :func:`fig10_oracle_target_early_advantage`."""
    o, c = list(oracle_rows), list(cfm_rows)
    if [r["step"] for r in o] != [r["step"] for r in c]:
        raise ValueError("the two runs must have the same checkpoints")
    m = len(o)
    a = all(o[i]["fd"] < c[i]["fd"] for i in range(max(1, m // 4)))
    b = all(
        o[i]["fd_low"] <= c[i]["fd_high"] and c[i]["fd_low"] <= o[i]["fd_high"]
        for i in range(m // 2, m)
    )
    return [a, b]


def fig10_oracle_target_early_advantage(
    oracle_rows: Iterable[Mapping], cfm_rows: Iterable[Mapping]
) -> Verdict:
    """Fig. 10 (App. B): the oracle target gives a slight early advantage, then the FD curves
    overlap, on FD-over-training rows (step, fd, fd_low, fd_high) of the two models.

    Sub-tests under :func:`verdict`: (A) FD(oracle) < FD(CFM) at every checkpoint of the first
    quarter (at least one); (B) the two bootstrap intervals overlap at every checkpoint of the
    second half.
    """
    a, b = fig10_parts(oracle_rows, cfm_rows)
    return Verdict(
        "fig10_oracle_target",
        "model",
        verdict([a, b]),
        "(A) oracle below CFM in the first quarter; (B) intervals overlap in the second half",
        f"A: {a}, B: {b}",
    )
