"""Criteria of Section 5 / appendix B (Tables 2-3, Figs. 8-12). See ``criteria``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from flowstage_lib.experiments.criteria._core import (
    Verdict,
    _isclose,
    _isnan,
    verdict,
)


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
