"""Section 4's computation: :func:`compute` runs every experiment of
``book/sec4_stages.ipynb`` and returns them (:class:`Sec4Run`); the notebook calls it and only
plots, tabulates and concludes, and ``flowstage compute sec4_stages`` calls it without the
notebook, so both run the same calls with the same arguments (the book then renders from the
warm cache; ``FLOWSTAGE_CACHE_STRICT=1`` makes any miss an error)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flowstage_lib.data import default_device, heldout_images
from flowstage_lib.experiments.calibration import calibrated_scale, setting_scale
from flowstage_lib.experiments.sample_sets import export_sample_sets
from flowstage_lib.experiments.sec4_stages._common import oracle_for, scaled
from flowstage_lib.experiments.sec4_stages.figure4_intermediate import (
    figure4,
    intermediate_predictions,
)
from flowstage_lib.experiments.sec4_stages.figure5_13_mixed import (
    figure13_memorization,
    mixed_sampling,
)
from flowstage_lib.experiments.sec4_stages.figure6_refinement import (
    figure6_refinement,
    refinement,
    refinement_size,
)
from flowstage_lib.experiments.sec4_stages.figure7_loss import figure7_loss, loss_curve, loss_grid
from flowstage_lib.experiments.sec4_stages.ladder import ladder_samples, ladder_scores
from flowstage_lib.experiments.sec4_stages.setting import load_models, load_scorers
from flowstage_lib.experiments.sec4_stages.table1_stage_swap import (
    stage_swap_samples,
    table1,
    table1_pairs,
    table1_sample_rows,
)
from flowstage_lib.tooling.progress import stage
from flowstage_lib.training.zoo import ZOO_PRESETS

__all__ = ["Sec4Run", "compute"]


@dataclass
class Sec4Run:
    """Everything Section 4 computes at parameters ``P`` (the notebook's view reads these).

    Attributes:
        cfg, main, long: guidance scale of Figs. 4-6 / 13, the main model size, the long-budget
            model's name ("B x4").
        ev, panel, train, clf: the evaluator (training split, layout network) and both judges.
        cal, k: the calibration (data scale k with its interval) and the k the models use
            (None in the native setting).
        M: {name: TrainResult} of every model; held, held_note: the unseen images.
        ladder: {name: both judges' scores} of every model alone at CFG 1 (the models table).
        trans, t09, t05, t099: the oracle's transition on the models' data and its crossings.
        ip, f4: Fig. 4's intermediate predictions and their analysis.
        switches, mixed, f13: Figs. 5 / 13's t_switch values, samples and analysis.
        n_refine, refine_note, rf, f6: Fig. 6's image count (and why it shrank), run, analysis.
        curves, f7: Fig. 7's loss curves per model and their analysis.
        swap, t1: Table 1's stage-swap samples and its judged table.
        times: wall seconds of each part (the notebook's timing table and provenance).
    """

    cfg: float
    main: str
    long: str
    ev: Any
    panel: Any
    train: Any
    clf: Any
    cal: Any
    k: float | None
    M: dict
    ladder: dict
    held: Any
    held_note: str
    trans: Any
    ip: dict
    f4: Any
    switches: list[float]
    mixed: dict
    f13: Any
    n_refine: int
    refine_note: str
    rf: dict
    f6: Any
    curves: dict
    f7: Any
    swap: dict
    t1: Any
    times: dict[str, float] = field(default_factory=dict)

    @property
    def t09(self) -> float:
        return self.trans.crossings[0.9]

    @property
    def t05(self) -> float:
        return self.trans.crossings[0.5]

    @property
    def t099(self) -> float:
        return self.trans.crossings[0.99]


def compute(P) -> Sec4Run:
    """Run Section 4 at parameters ``P`` (:func:`section_params`), filling the cache."""
    from flowstage_lib.experiments._shared import transition

    preset = ZOO_PRESETS[P.profile]
    cfg = float(P.cfg_scale if P.cfg_scale is not None else preset.cfg_scale)
    main = preset.main_size
    times: dict[str, float] = {}
    with stage("classifier and judges (train or load)", times):
        ev, panel = load_scorers(P.profile, P.n_boot, P.seed)
    train, clf = ev.train, ev.classifier
    with stage("calibration (data scale k from the oracle's top-1 crossing)", times):
        cal = calibrated_scale(P, train)
        k = setting_scale(P, train)  # None in the native setting
    with stage("models (train or load)", times):
        M = load_models(P.profile, P.sizes, main, P.long_budget, P.table1_models, k)
    held, held_note = heldout_images("mnist5k")
    with stage("models alone at CFG 1 (sampling, both judges)", times):
        ladder = ladder_scores(ladder_samples(M, P.n_ladder, P.n_steps, P.seed), panel)
    with stage("transition (oracle top-1 curve on the models' data, bootstrap interval)", times):
        trans = transition(scaled(M[main], train), P.n_queries, P.seed, n_boot=P.n_boot)
    t09 = trans.crossings[0.9]
    with stage("Fig. 4 (intermediate predictions)", times):
        ip = intermediate_predictions(M[main], clf, P.n_layout, cfg, P.n_steps, P.seed)
        f4 = figure4(ip)
    switches = sorted({float(s) for s in P.fig13_switches} | {float(s) for s in P.fig5_switches})
    oracle = oracle_for(M[main], train, default_device())  # on k x1
    with stage("Figs. 5 / 13 (mixed sampling)", times):
        mixed = {
            ts: mixed_sampling(
                M[main], train, clf, ts, P.n_mem, cfg, P.n_steps, P.seed, oracle=oracle
            )
            for ts in switches
        }
        f13 = figure13_memorization(mixed, P.n_mem, train.x, held.x)
    n_refine, refine_note = refinement_size(P.n_refine, held)  # fewer without the test set
    with stage("Fig. 6 (refinement)", times):
        rf = refinement(M[main], held, train, clf, P.resume_times, n_refine, cfg, P.n_steps, P.seed)
        f6 = figure6_refinement(rf, panel, P.seed)
    tg = loss_grid(P.loss_t_points)
    dev = next(M[main].model.parameters()).device
    oracle_m = oracle_for(M[main], train, dev)
    with stage("Fig. 7 (loss per t)", times):
        curves = {
            name: loss_curve(r, train, tg, P.n_loss, P.seed, oracle=oracle_m)
            for name, r in M.items()
        }
        f7 = figure7_loss(curves, main, t09)
    weak, strong = P.table1_models
    with stage("Table 1 (stage-swap sampling, both judges, paired bootstrap)", times):
        swap = stage_swap_samples(
            M, table1_pairs(weak, strong), P.table1_splits, P.n_fd, *P.table1_steps, seed=P.seed
        )
        t1 = table1(swap, panel, weak, strong)
    rows = table1_sample_rows(swap, M, tuple(P.table1_steps), P.seed)
    export_sample_sets("sec4_stages", P.profile, "table1", rows)
    return Sec4Run(
        cfg=cfg, main=main, long=f"{main} x{P.long_budget}", ev=ev, panel=panel, train=train,
        clf=clf, cal=cal, k=k, M=M, ladder=ladder, held=held, held_note=held_note, trans=trans,
        ip=ip, f4=f4, switches=switches, mixed=mixed, f13=f13, n_refine=n_refine,
        refine_note=refine_note, rf=rf, f6=f6, curves=curves, f7=f7, swap=swap, t1=t1, times=times,
    )  # fmt: skip
