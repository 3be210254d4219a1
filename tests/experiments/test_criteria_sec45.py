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
    "t_layout,t09,word",
    [
        (0.25, 0.6, "reproduced"),  # within 0.1 of the paper's 0.2
        (0.45, 0.5, "partly"),  # near our transition only
        (0.7, 0.3, "not reproduced"),
        (NAN, 0.3, "not reproduced"),  # never settles
    ],
)
def test_fig4_layout(t_layout, t09, word):
    v = C.fig4_layout_settles_near_0_2(t_layout, t09)
    assert (v.claim_id, v.kind, _word(v)) == ("fig4_layout", "model", word)


def test_fig4_blob():
    assert _word(C.fig4_blob_at_t0(0.2)) == "reproduced"
    assert _word(C.fig4_blob_at_t0(0.21)) == "not reproduced"


def test_fig5_mixed():
    assert _word(C.fig5_novel_then_training_images(0.05, 0.95, 1.0, True)) == "reproduced"
    assert _word(C.fig5_novel_then_training_images(0.0, 0.0, 1.0, True)) == "partly"
    # the oracle-alone test needs t_switch = 1 to have been run
    assert _word(C.fig5_novel_then_training_images(0.0, 0.95, 1.0, False)) == "partly"
    assert _word(C.fig5_novel_then_training_images(0.5, 0.5, 0.5, True)) == "not reproduced"


@pytest.mark.parametrize(
    "t_drop,t09,word",
    [
        (0.1, 0.6, "reproduced"),
        (0.25, 0.6, "reproduced"),
        (0.35, 0.3, "partly"),
        (0.75, 0.3, "not reproduced"),
        (NAN, 0.3, "not reproduced"),
    ],
)
def test_fig13_drop(t_drop, t09, word):
    assert _word(C.fig13_memorization_drops_after_switch(t_drop, t09)) == word


def test_fig6_refinement():
    assert _word(C.fig6_refinement_keeps_layout(0.4, 0.2)) == "reproduced"
    assert _word(C.fig6_refinement_keeps_layout(3.4, 1.15)) == "partly"
    assert _word(C.fig6_refinement_keeps_layout(0.6, NAN)) == "not reproduced"


def test_fig7a_gap_is_an_identity():
    v = C.fig7a_gap_only_in_navigation(0.92)
    assert (v.kind, v.verdict) == ("identity", "checked")
    assert C.fig7a_gap_only_in_navigation(0.6).verdict == "failed"


def test_fig7a_shape():
    good = dict(loss_at_0=0.1, loss_max=1.0, t_peak=0.3, t09=0.29, loss_end=0.8, mid_min=0.5)
    assert _word(C.fig7a_oracle_loss_shape(**good)) == "reproduced"
    assert _word(C.fig7a_oracle_loss_shape(**{**good, "t_peak": 0.84})) == "partly"
    bad = dict(loss_at_0=0.9, loss_max=1.0, t_peak=0.8, t09=0.29, loss_end=0.4, mid_min=0.5)
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


def test_table1():
    assert _word(C.table1_weak_stage1_costs_little({0.1: True, 0.2: True})) == "reproduced"
    assert _word(C.table1_weak_stage1_costs_little({0.1: True, 0.2: False})) == "partly"
    assert _word(C.table1_weak_stage1_costs_little({0.1: False, 0.2: False})) == "not reproduced"
    # only the paper's splits count; none of them run -> not reproduced
    assert _word(C.table1_weak_stage1_costs_little({0.1: True, 0.3: False})) == "reproduced"
    assert _word(C.table1_weak_stage1_costs_little({0.3: True})) == "not reproduced"
