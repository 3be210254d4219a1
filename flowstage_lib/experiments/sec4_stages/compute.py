"""Section 4's computation without the notebook (``flowstage compute sec4_stages``): every
cached call ``book/sec4_stages.ipynb`` makes, with the same arguments, so the book then renders
from the warm cache (``FLOWSTAGE_CACHE_STRICT=1`` makes any miss an error)."""

from __future__ import annotations

from flowstage_lib.data import default_device, heldout_images
from flowstage_lib.experiments.calibration import calibrated_scale, setting_scale
from flowstage_lib.experiments.sample_sets import export_sample_sets
from flowstage_lib.experiments.sec4_stages._common import oracle_for, scaled
from flowstage_lib.experiments.sec4_stages.figure4_intermediate import intermediate_predictions
from flowstage_lib.experiments.sec4_stages.figure5_13_mixed import mixed_sampling
from flowstage_lib.experiments.sec4_stages.figure6_refinement import refinement, refinement_size
from flowstage_lib.experiments.sec4_stages.figure7_loss import loss_curve, loss_grid
from flowstage_lib.experiments.sec4_stages.setting import load_models, load_scorers
from flowstage_lib.experiments.sec4_stages.table1_stage_swap import (
    stage_swap_samples,
    table1,
    table1_pairs,
    table1_sample_rows,
)
from flowstage_lib.tooling.progress import stage
from flowstage_lib.training.zoo import ZOO_PRESETS

__all__ = ["compute"]


def compute(P) -> None:
    """Fill the cache for Section 4 at parameters ``P`` (:func:`section_params`)."""
    from flowstage_lib.experiments._shared import transition

    preset = ZOO_PRESETS[P.profile]
    cfg = float(P.cfg_scale if P.cfg_scale is not None else preset.cfg_scale)
    main = preset.main_size
    with stage("classifier and judges (train or load)"):
        ev, panel = load_scorers(P.profile, P.n_boot, P.seed)
    train, clf = ev.train, ev.classifier
    with stage("calibration (data scale k from the oracle's top-1 crossing)"):
        calibrated_scale(P, train)
        k = setting_scale(P, train)  # None in the native setting
    with stage("models (train or load)"):
        M = load_models(P.profile, P.sizes, main, P.long_budget, P.table1_models, k)
    held, _ = heldout_images("mnist5k")
    with stage("transition (oracle top-1 curve on the models' data, bootstrap interval)"):
        transition(scaled(M[main], train), P.n_queries, P.seed, n_boot=P.n_boot)
    with stage("Fig. 4 (intermediate predictions)"):
        intermediate_predictions(M[main], clf, P.n_layout, cfg, P.n_steps, P.seed)
    switches = sorted({float(s) for s in P.fig13_switches} | {float(s) for s in P.fig5_switches})
    oracle = oracle_for(M[main], train, default_device())  # on k x1
    with stage("Figs. 5 / 13 (mixed sampling)"):
        for ts in switches:
            mixed_sampling(M[main], train, clf, ts, P.n_mem, cfg, P.n_steps, P.seed, oracle=oracle)
    n_refine, _ = refinement_size(P.n_refine, held)
    with stage("Fig. 6 (refinement)"):
        refinement(M[main], held, train, clf, P.resume_times, n_refine, cfg, P.n_steps, P.seed)
    tg = loss_grid(P.loss_t_points)
    dev = next(M[main].model.parameters()).device
    oracle_m = oracle_for(M[main], train, dev)
    with stage("Fig. 7 (loss per t)"):
        for r in M.values():
            loss_curve(r, train, tg, P.n_loss, P.seed, oracle=oracle_m)
    weak, strong = P.table1_models
    with stage("Table 1 (stage-swap sampling, scores)"):
        swap = stage_swap_samples(
            M, table1_pairs(weak, strong), P.table1_splits, P.n_fd, *P.table1_steps, seed=P.seed
        )
        table1(swap, panel, weak, strong)
    rows = table1_sample_rows(swap, M, tuple(P.table1_steps), P.seed)
    export_sample_sets("sec4_stages", P.profile, "table1", rows)
