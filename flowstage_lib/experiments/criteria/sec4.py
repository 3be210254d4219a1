"""Criteria of Section 4 (Figs. 4-7, 13, Table 1). See ``criteria``.

Times. Every absolute time here is the paper's own: 0.2 (Fig. 4 layout, Fig. 6 t_resume, Fig. 5
novel side), 0.3 (Fig. 5 copy side), [0.1, 0.2] (Fig. 13), splits 0.1 / 0.2 (Table 1). The
t_0.9 arguments are our transition measured on the models' training data: in the calibrated
setting (issue 14; data scaled by k so that the oracle's top-1 crosses 0.9 at t = 0.1) it sits
near the paper's 0.1, so the paper's times are tested as printed. It enters only the *partly*
windows, the lag test (Fig. 4), the peak window (Fig. 7a) and Fig. 7's navigation stage.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from flowstage_lib.experiments.criteria._core import (
    Verdict,
    _near,
    identity_word,
    verdict,
)


def _near_interval(t: float, interval: tuple[float, float], tol: float) -> bool:
    """t lies within ``tol`` of the interval [low, high] (False when anything is NaN)."""
    lo, hi = float(interval[0]), float(interval[1])
    return bool(lo - tol <= t <= hi + tol)


def fig4_layout_settles_near_0_2(t_layout: float, t09_interval: tuple[float, float]) -> Verdict:
    """Fig. 4 / 15: the intermediate predictions settle their layout near t = 0.2.

    Test: t_layout (the layout distance to the final sample falls to 25% of its t = 0 value)
    within 0.1 of the paper's 0.2 -> reproduced; else within 0.1 of our transition's 95%
    interval [t_0.9 low, t_0.9 high] (the window carries t_0.9's uncertainty) -> partly (the
    same mechanism at our data's transition); else (NaN included) not reproduced.
    """
    from flowstage_lib.experiments import paper

    if _near(t_layout, paper.FIG4_LAYOUT_T, 0.1):
        word = "reproduced"
    elif _near_interval(t_layout, t09_interval, 0.1):
        word = "partly"
    else:
        word = "not reproduced"
    lo, hi = t09_interval
    return Verdict(
        "fig4_layout",
        "model",
        word,
        "|t_layout - 0.2| <= 0.1: reproduced; within 0.1 of the t_0.9 interval: partly",
        f"t_layout = {t_layout:.3f}, t_0.9 in [{lo:.3f}, {hi:.3f}]",
    )


def fig4_model_lags_target(
    t_layout: float,
    layout_interval: tuple[float, float],
    t09: float,
    t09_interval: tuple[float, float],
) -> Verdict:
    """Figs. 4 and 14: the model's transition lags the target's (the oracle commits to a
    training image near t = 0.1, the model's layout settles near t = 0.2).

    The model's transition is t_layout (Fig. 4's layout curve falls to 25% of its t = 0 value),
    with a 95% bootstrap interval over the layout samples; the target's is the oracle's t_0.9
    with its 95% bootstrap interval over the oracle queries. Two sub-tests under
    :func:`verdict`: (i) direction: t_layout > t_0.9 (point estimates); (ii) resolved: the
    intervals are disjoint with the model's above, layout low > t_0.9 high. Both ->
    reproduced; (i) only -> partly; neither (NaN included) -> not reproduced.
    """
    later = bool(t_layout > t09)
    resolved = bool(layout_interval[0] > t09_interval[1])
    return Verdict(
        "fig4_model_lags_target",
        "model",
        verdict([later, later and resolved]),
        "t_layout > t_0.9; t_layout's 95% interval above t_0.9's",
        f"t_layout = {t_layout:.3f} [{layout_interval[0]:.3f}, {layout_interval[1]:.3f}], "
        f"t_0.9 = {t09:.3f} [{t09_interval[0]:.3f}, {t09_interval[1]:.3f}]",
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


def fig5_parts(max_low: float, min_high: float) -> list[bool]:
    """The two sub-tests of :func:`fig5_novel_then_training_images`."""
    return [max_low <= 0.1, min_high >= 0.9]


def fig5_novel_then_training_images(max_low: float, min_high: float) -> Verdict:
    """Fig. 5 / 14: oracle then model gives novel samples for t_switch <= 0.2 and training
    images for later switches.

    Test, two sub-tests under :func:`verdict`: (i) at most 10% memorized at every
    t_switch <= 0.2 (``max_low``); (ii) at least 90% at every t_switch >= 0.3 (``min_high``).
    The oracle alone (t_switch = 1) is a property of the formula, tested apart by
    :func:`fig5_oracle_alone_retrieves`.
    """
    return Verdict(
        "fig5_mixed",
        "model",
        verdict(fig5_parts(max_low, min_high)),
        "max memorized (t_s <= 0.2) <= 0.1; min memorized (t_s >= 0.3) >= 0.9",
        f"{max_low:.2f}, {min_high:.2f}",
    )


def fig5_oracle_alone_retrieves(oracle_frac: float, min_frac: float = 0.99) -> Verdict:
    """Fig. 5: Euler sampling with the oracle all the way (t_switch = 1) ends on a training
    image for at least 99% of the samples. An identity: the oracle's posterior collapses onto
    one training point (Theorem 2.1), whatever the model."""
    return Verdict(
        "fig5_oracle_alone",
        "identity",
        identity_word(oracle_frac >= min_frac),
        f"memorized fraction of oracle-only samples >= {min_frac:g}",
        f"{oracle_frac:.3f}",
    )


#: The paper's window for Fig. 13's drop: the DINO distance falls after t_switch ~ 0.1 (Fig. 13)
#: and t_switch in (0.2, 1] reproduces training images (Figs. 5 / 14).
FIG13_PAPER_WINDOW = (0.1, 0.2)


def fig13_drop_across(
    t_switch: Sequence[float], copy_ci: Sequence[Sequence[float]], window: tuple[float, float]
) -> bool:
    """The layout-copy rate rises across ``window`` = (low, high): at the last t_switch below
    ``low`` the rate's 95% upper end is below 0.5 (most layouts novel), at the first t_switch
    above ``high`` its 95% lower end is at least 0.5 (most layouts copied). Both t_switch must
    lie within 0.1 of the window (a coarser grid cannot place the drop). False when no
    t_switch lies on one side, or on NaN."""
    lo, hi = float(window[0]), float(window[1])
    before = [k for k, t in enumerate(t_switch) if t < lo]
    after = [k for k, t in enumerate(t_switch) if t > hi]
    if not before or not after:
        return False
    b = max(before, key=lambda k: t_switch[k])
    a = min(after, key=lambda k: t_switch[k])
    close = lo - t_switch[b] <= 0.1 + 1e-9 and t_switch[a] - hi <= 0.1 + 1e-9
    return bool(close and copy_ci[b][1] < 0.5 and copy_ci[a][0] >= 0.5)


def fig13_layout_memorization_after_switch(
    t_switch: Sequence[float],
    copy_ci: Sequence[Sequence[float]],
    t09_interval: tuple[float, float],
) -> Verdict:
    """Fig. 13: the layout distance of mixed samples to their nearest training image drops
    sharply once t_switch passes ~0.1: switched later, the sample keeps a training image's
    layout (memorization); switched earlier, its layout is novel.

    Per t_switch the *layout-copy rate* is the fraction of samples whose low-pass (thumbnail)
    distance to the nearest training image is below the layout threshold (calibrated on unseen
    real images, :func:`flowstage_lib.experiments.sec4_stages.figure5_13_mixed.layout_copies`),
    with its 95% Wilson interval ``copy_ci`` (S, 2). Test (:func:`fig13_drop_across`): the rate
    rises across a window, from an upper end below 0.5 at the last t_switch before it to a
    lower end of at least 0.5 at the first t_switch after it. Across the paper's window
    [0.1, 0.2] -> reproduced; else across our transition's 95% interval [t_0.9 low, t_0.9
    high] -> partly (the same mechanism at our data's transition); else not reproduced.
    """
    if fig13_drop_across(t_switch, copy_ci, FIG13_PAPER_WINDOW):
        word = "reproduced"
    elif fig13_drop_across(t_switch, copy_ci, t09_interval):
        word = "partly"
    else:
        word = "not reproduced"
    rates = ", ".join(
        f"{t:g}: [{c[0]:.2f}, {c[1]:.2f}]" for t, c in zip(t_switch, copy_ci, strict=True)
    )
    return Verdict(
        "fig13_drop",
        "model",
        word,
        "layout-copy rate < 0.5 (95% upper end) before and >= 0.5 (lower end) after the window "
        "[0.1, 0.2]: reproduced; the t_0.9 interval: partly",
        f"t_0.9 in [{t09_interval[0]:.3f}, {t09_interval[1]:.3f}]; rate CI per t_switch {rates}",
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


def fig16_flux_out_of_reach() -> Verdict:
    """Fig. 16: re-noise-and-resume with Flux (a 12B-parameter text-to-image flow) keeps the
    layout from t_resume ~ 0.2. Not testable here: it needs Flux's weights and a GPU, neither
    of which an offline CPU build has; Fig. 6 tests the same claim on our own models. The
    verdict is fixed (no number can change it)."""
    return Verdict(
        "fig16_flux",
        "model",
        "out of reach here",
        "needs the Flux weights (not offline) and a GPU; our models test the claim as Fig. 6",
        "not run",
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
    loss_at_0: float,
    loss_max: float,
    t_peak: float,
    t09_interval: tuple[float, float],
    loss_end: float,
    mid_min: float,
) -> Verdict:
    """Fig. 7a: the oracle loss is ~0 at t -> 0, peaks at the transition and rises near t = 1.

    Test, three sub-tests under :func:`verdict`: (i) loss at t = 0 at most 25% of its maximum;
    (ii) the maximum over t <= 0.9 (``t_peak``) within 0.1 of t_0.9's 95% interval
    ``t09_interval``; (iii) the loss at the last t above its minimum over t in [0.4, 0.9]
    (``mid_min``).
    """
    near = _near_interval(t_peak, t09_interval, 0.1)
    flags = [loss_at_0 <= 0.25 * loss_max, near, loss_end > mid_min]
    return Verdict(
        "fig7a_shape",
        "model",
        verdict(flags),
        "L(0) <= 0.25 max L; t_peak within 0.1 of the t_0.9 interval; L(end) > min L on [0.4, 0.9]",
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


#: "Nearly includes 0" (Table 1): a weak stage 1's cost interval may start above 0 by at most this
#: fraction of a weak stage 2's cost. Fixed from the paper's own table before our numbers: its
#: ratios are 0.77 / 8.32 = 0.09 (split 0.1) and 1.87 / 6.64 = 0.28 (split 0.2), both "little".
TABLE1_NEARLY = 1 / 3


def table1_split_parts(d: Mapping[str, Sequence[float]]) -> list[bool]:
    """The two sub-tests of :func:`table1_weak_stage1_costs_little` at one split.

    ``d``: paired FD differences (delta, low, high) under one judge, rows sharing noise and
    labels: ``"stage1"`` = FD(weak/strong) - FD(strong/strong), ``"stage2"`` =
    FD(strong/weak) - FD(strong/strong), ``"stage2 - stage1"`` = FD(strong/weak) -
    FD(weak/strong). (i) A weak stage 2 costs more than a weak stage 1: the interval of
    ``"stage2 - stage1"`` lies above 0. (ii) A weak stage 1 costs little: its interval includes
    0 or lies below (low <= 0), or nearly includes 0 (low <= :data:`TABLE1_NEARLY` x the
    stage-2 cost's delta).
    """
    s1, s2, s21 = d["stage1"], d["stage2"], d["stage2 - stage1"]
    little = bool(s1[1] <= 0 or s1[1] <= TABLE1_NEARLY * s2[0])
    return [bool(s21[1] > 0), little]


def table1_weak_stage1_costs_little(by_split: Mapping[float, Mapping[str, Sequence]]) -> Verdict:
    """Table 1 under one judge: a weak stage-1 (navigation) model costs little, a weak stage-2
    (refinement) model costs a lot.

    ``by_split``: {split: {"stage1", "stage2", "stage2 - stage1": (delta, low, high)}}, paired
    FD differences with 95% bootstrap intervals (:func:`table1_split_parts`). Test: the two
    sub-tests of :func:`table1_split_parts` at each of the paper's splits 0.1 and 0.2 that was
    run, combined by :func:`verdict`; none of them run -> not reproduced. Judges are combined
    with :func:`~flowstage_lib.experiments.criteria.both_judges`.
    """
    from flowstage_lib.experiments import paper

    at = {s: d for s, d in by_split.items() if round(float(s), 3) in paper.TABLE1_SPLITS}
    flags = [f for d in at.values() for f in table1_split_parts(d)]
    word = verdict(flags) if flags else "not reproduced"

    def fmt(d) -> str:
        return ", ".join(f"{k} {v[0]:+.2f} [{v[1]:+.2f}, {v[2]:+.2f}]" for k, v in d.items())

    return Verdict(
        "table1_stage_swap",
        "model",
        word,
        "at splits 0.1 and 0.2: paired CI of FD(strong/weak) - FD(weak/strong) above 0; "
        "weak stage 1's paired cost CI low end <= 0 or <= 1/3 of the stage-2 cost",
        "; ".join(f"split {s:g}: {fmt(d)}" for s, d in at.items()),
    )
