"""Every Section 4 / 5 criterion of flowstage_lib.experiments.criteria on synthetic inputs: one
that passes and one that fails (a criterion that cannot fail tests nothing)."""

import math

import pytest

from flowstage_lib.experiments import criteria as C

NAN = math.nan


def _word(v):
    assert isinstance(v, C.Verdict)
    return v.verdict


# ---------------------------------------------------------------- Section 4


@pytest.mark.parametrize(
    "t_layout,t09_ci,word",
    [
        (0.25, (0.55, 0.65), "reproduced"),  # within 0.1 of the paper's 0.2
        (0.45, (0.5, 0.6), "partly"),  # within 0.1 of our transition's interval
        (0.68, (0.45, 0.6), "partly"),  # beyond the point, within 0.1 of the interval's end
        (0.7, (0.25, 0.35), "not reproduced"),
        (NAN, (0.25, 0.35), "not reproduced"),  # never settles
    ],
)
def test_fig4_layout(t_layout, t09_ci, word):
    v = C.fig4_layout_settles_near_0_2(t_layout, t09_ci)
    assert (v.claim_id, v.kind, _word(v)) == ("fig4_layout", "model", word)


@pytest.mark.parametrize(
    "t_layout,layout_ci,t09,t09_ci,word",
    [
        (0.45, (0.40, 0.50), 0.30, (0.28, 0.33), "reproduced"),  # later, resolved
        (0.34, (0.29, 0.40), 0.30, (0.28, 0.33), "partly"),  # later, intervals overlap
        (0.25, (0.20, 0.30), 0.30, (0.28, 0.33), "not reproduced"),  # earlier
        (NAN, (NAN, NAN), 0.30, (0.28, 0.33), "not reproduced"),
    ],
)
def test_fig4_model_lags_target(t_layout, layout_ci, t09, t09_ci, word):
    v = C.fig4_model_lags_target(t_layout, layout_ci, t09, t09_ci)
    assert (v.claim_id, v.kind, _word(v)) == ("fig4_model_lags_target", "model", word)


def test_fig4_blob():
    assert _word(C.fig4_blob_at_t0(0.2)) == "reproduced"
    assert _word(C.fig4_blob_at_t0(0.21)) == "not reproduced"


def test_fig5_mixed():
    assert _word(C.fig5_novel_then_training_images(0.05, 0.95)) == "reproduced"
    assert _word(C.fig5_novel_then_training_images(0.0, 0.0)) == "partly"
    assert _word(C.fig5_novel_then_training_images(0.11, 0.95)) == "partly"
    assert _word(C.fig5_novel_then_training_images(0.5, 0.5)) == "not reproduced"
    # the oracle alone is an identity: checked or failed, never a reproduced finding
    v = C.fig5_oracle_alone_retrieves(0.995)
    assert (v.kind, v.verdict) == ("identity", "checked")
    assert C.fig5_oracle_alone_retrieves(0.98).verdict == "failed"


SW = [0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 1.0]


def _rates(t_rise: float) -> list[tuple[float, float]]:
    """Wilson-like intervals of a layout-copy rate that jumps from ~0.05 to ~0.95 at t_rise."""
    return [(0.01, 0.1) if t < t_rise else (0.9, 0.99) for t in SW]


@pytest.mark.parametrize(
    "t_rise,t09_ci,word",
    [
        (0.12, (0.3, 0.36), "reproduced"),  # rises inside the paper's window [0.1, 0.2]
        (0.3, (0.28, 0.34), "partly"),  # rises inside our transition's interval only
        (0.6, (0.28, 0.34), "not reproduced"),  # rises after both windows
        (0.0, (0.28, 0.34), "not reproduced"),  # copies even before: no drop at all
        (0.3, (NAN, NAN), "not reproduced"),  # no interval: nothing to compare
    ],
)
def test_fig13_drop(t_rise, t09_ci, word):
    v = C.fig13_layout_memorization_after_switch(SW, _rates(t_rise), t09_ci)
    assert (v.claim_id, v.kind, _word(v)) == ("fig13_drop", "model", word)


def test_fig13_drop_needs_resolved_rates_on_both_sides():
    wide = [(0.3, 0.7)] * len(SW)  # unresolved everywhere: neither < 0.5 nor >= 0.5
    assert not C.fig13_drop_across(SW, wide, (0.1, 0.2))
    assert not C.fig13_drop_across(SW, _rates(0.12), (0.0, 0.2))  # no t_switch before 0.0
    assert C.fig13_drop_across(SW, _rates(0.12), (0.1, 0.2))
    coarse = [0.0, 0.5, 1.0]  # the drop could lie anywhere in (0, 0.5): not placed
    assert not C.fig13_drop_across(coarse, [(0.0, 0.1), (0.9, 1.0), (0.9, 1.0)], (0.1, 0.2))


def test_fig6_refinement():
    assert _word(C.fig6_refinement_keeps_layout(0.4, 0.2)) == "reproduced"
    assert _word(C.fig6_refinement_keeps_layout(3.4, 1.15)) == "partly"
    assert _word(C.fig6_refinement_keeps_layout(0.6, NAN)) == "not reproduced"


def test_fig7a_gap_is_an_identity():
    v = C.fig7a_gap_only_in_navigation(0.92)
    assert (v.kind, v.verdict) == ("identity", "checked")
    assert C.fig7a_gap_only_in_navigation(0.6).verdict == "failed"


def test_fig7a_shape():
    good = dict(
        loss_at_0=0.1,
        loss_max=1.0,
        t_peak=0.3,
        t09_interval=(0.25, 0.27),
        loss_end=0.8,
        mid_min=0.5,
    )
    assert _word(C.fig7a_oracle_loss_shape(**good)) == "reproduced"
    assert _word(C.fig7a_oracle_loss_shape(**{**good, "t_peak": 0.84})) == "partly"
    bad = dict(
        loss_at_0=0.9,
        loss_max=1.0,
        t_peak=0.8,
        t09_interval=(0.25, 0.33),
        loss_end=0.4,
        mid_min=0.5,
    )
    assert _word(C.fig7a_oracle_loss_shape(**bad)) == "not reproduced"


def test_fig7b_sizes():
    ordered = {"S": 1.3, "B": 1.2, "L": 1.1, "B x2": 1.15}
    assert _word(C.fig7b_sizes_separate_in_refinement(0.05, 0.07, ordered, "B", "B x2")) == (
        "reproduced"
    )
    assert _word(C.fig7b_sizes_separate_in_refinement(0.1, 0.07, ordered, "B", "B x2")) == (
        "partly"
    )
    swapped = {"S": 1.1, "B": 1.2, "L": 1.3, "B x2": 1.25}
    assert _word(C.fig7b_sizes_separate_in_refinement(0.1, 0.07, swapped, "B", "B x2")) == (
        "not reproduced"
    )


def _t1(s1=(0.5, -0.2, 1.2), s2=(8.0, 7.0, 9.0), s21=None):
    s21 = s21 or (s2[0] - s1[0], s2[1] - s1[2], s2[2] - s1[1])
    return {"stage1": s1, "stage2": s2, "stage2 - stage1": s21}


def test_table1():
    good = _t1()  # stage-1 cost includes 0, stage 2 costs far more
    nearly = _t1(s1=(2.0, 1.5, 2.5))  # low 1.5 <= 8 / 3: nearly includes 0
    costly = _t1(s1=(5.0, 4.0, 6.0), s21=(3.0, 1.0, 5.0))  # stage 1 costs a lot (4 > 8 / 3)
    same = _t1(s1=(8.0, 7.0, 9.0), s21=(0.0, -0.5, 0.5))  # both cost the same
    assert _word(C.table1_weak_stage1_costs_little({0.1: good, 0.2: nearly})) == "reproduced"
    assert _word(C.table1_weak_stage1_costs_little({0.1: good, 0.2: costly})) == "partly"
    assert _word(C.table1_weak_stage1_costs_little({0.1: same, 0.2: same})) == "not reproduced"
    # only the paper's splits count; none of them run -> not reproduced
    assert _word(C.table1_weak_stage1_costs_little({0.1: good, 0.3: same})) == "reproduced"
    assert _word(C.table1_weak_stage1_costs_little({0.3: good})) == "not reproduced"


def test_table1_split_parts_and_both_judges():
    assert C.table1_split_parts(_t1()) == [True, True]
    # the stage-2 - stage-1 difference must be resolved (its interval above 0)
    assert C.table1_split_parts(_t1(s21=(7.5, -0.1, 9.0))) == [False, True]
    assert C.table1_split_parts(_t1(s1=(3.0, 2.9, 3.1))) == [True, False]  # 2.9 > 8 / 3
    a = C.table1_weak_stage1_costs_little({0.1: _t1(), 0.2: _t1()})
    b = C.table1_weak_stage1_costs_little({0.1: _t1(), 0.2: _t1(s1=(5.0, 4.0, 6.0))})
    assert _word(C.both_judges({"A": a, "B": b})) == "partly"


# ---------------------------------------------------------------- Section 5


def _d(delta, half=0.1):
    """A paired difference with a symmetric 95% interval of half-width ``half``."""
    return {"delta": delta, "low": delta - half, "high": delta + half}


def _diffs2(fd, half=0.1, wide=()):
    """Table 2's paired differences FD(s) - FD(1) of {s: FD}; ``wide``: shifts whose interval
    is ten times wider than ``half``."""
    return {s: _d(v - fd[1.0], half * (100 if s in wide else 1)) for s, v in fd.items() if s != 1}


def test_table2_on_the_paper_and_on_counterexamples():
    from flowstage_lib.experiments import paper

    g = paper.TABLE2_GFID
    v = C.table2_moderate_shift_is_best(_diffs2(g))
    assert (v.claim_id, v.verdict) == ("table2_shift", "reproduced")
    assert "best s = 0.5" in v.evidence
    # the same point estimates, but the best row's interval includes 0: A fails
    assert _word(C.table2_moderate_shift_is_best(_diffs2(g, wide=(0.5,)))) == "not reproduced"
    # the extremes are worse, but not resolved: C fails
    assert _word(C.table2_moderate_shift_is_best(_diffs2(g, wide=(4.0, 0.1)))) == "partly"
    best_uniform = {4.0: 2.0, 2.0: 1.5, 1.0: 1.0, 0.7: 1.1, 0.5: 1.2, 0.3: 1.3, 0.1: 2.0}
    assert _word(C.table2_moderate_shift_is_best(_diffs2(best_uniform))) == "not reproduced"
    monotone = {s: s for s in g}  # the smallest s is always best
    assert _word(C.table2_moderate_shift_is_best(_diffs2(monotone))) == "partly"
    with pytest.raises(ValueError, match="both sides"):
        C.table2_moderate_shift_is_best({0.5: _d(-1.0), 0.3: _d(-0.5)})
    with pytest.raises(ValueError, match="delta, low, high"):
        C.table2_moderate_shift_is_best({0.5: {"delta": -1.0}, 2.0: _d(1.0)})


def _paper_rows(fd=None, t_map=lambda t: t, half=0.1):
    """Table 3's rows with the paired difference FD(row) - FD(none) of ``fd`` (default: the
    paper's gFIDs) and a 95% interval of half-width ``half``."""
    from flowstage_lib.experiments import paper

    rows = []
    for label, iv, g in paper.TABLE3:
        a, b = iv if iv is not None else (NAN, NAN)
        ra, rb = (t_map(a), t_map(b)) if iv is not None else (NAN, NAN)
        rows.append(
            {"label": label, "a": a, "b": b, "run_a": ra, "run_b": rb,
             "fd": g if fd is None else fd(label, a, b)}
        )  # fmt: skip
    none = rows[0]["fd"]
    return [{**r, **_d(r["fd"] - none, half)} for r in rows]


def _pairs(rows):
    by = {r["label"]: r for r in rows}
    half = by["[0, .2]"]["high"] - by["[0, .2]"]["delta"]
    return {p: _d(by[p[1]]["fd"] - by[p[0]]["fd"], half) for p in C.TABLE3_PAIRS}


def test_table3_criteria_reproduce_the_paper_from_its_own_numbers():
    rows = _paper_rows()
    assert _word(C.table3_best_short_at_transition(rows, (0.1, 0.1))) == "reproduced"
    assert _word(C.table3_best_short_at_transition(rows, (0.08, 0.12))) == "reproduced"
    assert _word(C.table3_skipping_first_helps(_pairs(rows))) == "reproduced"
    assert _word(C.table3_best_wide_early_refinement(rows)) == "reproduced"
    assert C.table3_pairs_better(_pairs(rows)) == 4
    assert C.table3_best_wide_row(rows)["label"] == "[.1, .6]"
    assert C.table3_best_short_row(rows)["label"] == "[.1, .2]"


def test_table3_criteria_need_resolved_differences():
    rows = _paper_rows(half=20.0)  # the paper's point estimates, intervals all around 0
    assert _word(C.table3_best_short_at_transition(rows, (0.1, 0.1))) == "not reproduced"
    assert _word(C.table3_skipping_first_helps(_pairs(rows))) == "not reproduced"
    assert C.table3_pairs_better(_pairs(rows)) == 0
    assert _word(C.table3_best_wide_early_refinement(rows)) == "not reproduced"
    with pytest.raises(ValueError, match="lacks"):
        C.table3_skipping_first_helps({C.TABLE3_PAIRS[0]: _d(-1.0)})
    with pytest.raises(ValueError, match="low <= high"):
        C.table3_best_short_at_transition(_paper_rows(), (0.2, 0.1))


def test_table3_short_interval_must_contain_the_transition_interval():
    def fd(label, a, b):  # best short interval ending at the transition: a neighbour
        return 1.0 if label == "[0, .1]" else 5.0

    assert _word(C.table3_best_short_at_transition(_paper_rows(fd), (0.1, 0.1))) == "partly"
    assert _word(C.table3_best_short_at_transition(_paper_rows(fd), (0.05, 0.05))) == ("reproduced")
    # the transition's interval reaches back into [0, .1): that row contains it
    assert _word(C.table3_best_short_at_transition(_paper_rows(fd), (0.09, 0.12))) == ("reproduced")
    # a later transition: the paper's numbers at the paper's times miss it (0.35 in [.3, .4])
    rows = _paper_rows()
    assert _word(C.table3_best_short_at_transition(rows, (0.34, 0.36))) == "not reproduced"
    from flowstage_lib.experiments.sec5_practices import snr_factor
    from flowstage_lib.path import timestep_shift

    k = snr_factor(0.1, 0.35)  # moved by the SNR map, they are at the transition again
    moved = _paper_rows(t_map=lambda t: float(timestep_shift(t, k)))
    assert _word(C.table3_best_short_at_transition(moved, (0.34, 0.36))) == "reproduced"


def test_table3_criteria_detect_failures():
    # guidance helps only when it starts at 0 and hurts the longer it is on
    def fd(label, a, b):
        return 20.0 if math.isnan(a) else 10 + 10 * (b - a) - (5 if a == 0.0 else 0)

    rows = _paper_rows(fd)
    assert _word(C.table3_skipping_first_helps(_pairs(rows))) == "not reproduced"
    assert C.table3_pairs_better(_pairs(rows)) == 0
    assert _word(C.table3_best_wide_early_refinement(rows)) == "not reproduced"

    def two_of_four(label, a, b):  # [.1, b] better for b = 0.2, 0.4 only; best wide [.1, .3]
        return {"[.1, .2]": 1, "[.1, .4]": 1, "[.1, .3]": 0.5}.get(label, 5.0)

    rows = _paper_rows(two_of_four)
    assert _word(C.table3_skipping_first_helps(_pairs(rows))) == "partly"
    assert _word(C.table3_best_wide_early_refinement(rows)) == "partly"


def test_fig8a_peak():
    assert _word(C.fig8a_velocity_peak_near_0_4(0.45)) == "reproduced"
    assert _word(C.fig8a_velocity_peak_near_0_4(0.08)) == "partly"
    assert _word(C.fig8a_velocity_peak_near_0_4(NAN)) == "not reproduced"


def test_fig8b_divergence():
    assert _word(C.fig8b_predictions_diverge_quickly(0.2, 0.3)) == "reproduced"
    assert _word(C.fig8b_predictions_diverge_quickly(0.4, 0.3)) == "partly"
    assert _word(C.fig8b_predictions_diverge_quickly(0.8, 0.3)) == "not reproduced"


def _paired(deltas, half=0.5):
    """Paired rows a - b per checkpoint with a symmetric interval of half-width ``half``."""
    return [
        {"step": 100 * (i + 1), "delta": d, "low": d - half, "high": d + half}
        for i, d in enumerate(deltas)
    ]


@pytest.mark.parametrize(
    "deltas,word",
    [
        ([-2, -1, -0.2, 0.1], "reproduced"),  # first half resolved lower, never higher
        ([-2, 0, 0, 0, 0, 0], "partly"),  # 1 of 3 first-half checkpoints: A needs half
        ([-2, -1, 0, 2], "partly"),  # resolved higher once: B fails
        ([0, 0, -1, -1], "partly"),  # lower only late: A fails
        ([0.2, -0.3, 0.4, 0.0], "not reproduced"),  # never resolved
        ([1, 2, 1, 1], "not reproduced"),  # aligned resolved worse
    ],
)
def test_fig12_on_paired_intervals(deltas, word):
    assert _word(C.fig12_aligned_converges_faster(_paired(deltas))) == word


def test_fig12_checks_and_both_judges():
    with pytest.raises(ValueError, match="no checkpoint"):
        C.fig12_aligned_converges_faster([])
    rows = _paired([-1, -1])
    with pytest.raises(ValueError, match="increase"):
        C.fig12_aligned_converges_faster(rows[::-1])
    with pytest.raises(ValueError, match="low <= delta"):
        C.fig12_aligned_converges_faster([{"step": 1, "delta": 0.0, "low": 1.0, "high": 2.0}])
    a = C.fig12_aligned_converges_faster(_paired([-2, -2]))
    b = C.fig12_aligned_converges_faster(_paired([0, -2]))
    v = C.both_judges({"A": a, "B": b})
    assert (a.verdict, b.verdict, v.verdict) == ("reproduced", "partly", "partly")
    assert "judge B: partly" in v.evidence


def test_fig9():
    f = C.fig9_aligned_smoother_refinement
    assert _word(f(_paired([-2, -2]))) == "reproduced"  # resolved smoother at every checkpoint
    assert _word(f(_paired([-2, 0]))) == "partly"  # at half, worse at none
    assert _word(f(_paired([-2, 2]))) == "not reproduced"  # resolved rougher once
    assert _word(f(_paired([0, 0, -2]))) == "not reproduced"  # below half
    with pytest.raises(ValueError, match="no checkpoint"):
        f([])
    with pytest.raises(ValueError, match="low <= delta <= high"):
        f([{"step": 1, "delta": 0.0, "low": 0.1, "high": 0.2}])


def test_fig10_on_paired_intervals():
    f = C.fig10_oracle_target_early_advantage
    # 8 checkpoints: first quarter = 2, second half = 4
    assert _word(f(_paired([-2, -1, -0.2, 0, 0.1, 0, -0.3, 0]))) == "reproduced"
    assert _word(f(_paired([-2, 0, 0, 0, 0, 0, 0, 0]))) == "partly"  # not resolved at step 2
    assert _word(f(_paired([-2, -1, -2, -2, -2, -2, -2, -2]))) == "partly"  # never overlaps
    assert _word(f(_paired([1, 1, -2, -2, -2, 2, 2, 2]))) == "not reproduced"
    assert C.fig10_parts(_paired([-1])) == [True, False]  # one checkpoint: both halves
    with pytest.raises(ValueError, match="increase"):
        f(_paired([-1, -1])[::-1])


def test_fig16_is_out_of_reach_whatever_the_numbers():
    v = C.fig16_flux_out_of_reach()
    assert (v.claim_id, v.kind, v.verdict) == ("fig16_flux", "model", "out of reach here")
