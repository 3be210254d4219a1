"""Section 5's computation without the notebook (``flowstage compute sec5_practices``): every
cached call ``book/sec5_practices.ipynb`` makes, with the same arguments, so the book then
renders from the warm cache (``FLOWSTAGE_CACHE_STRICT=1`` makes any miss an error)."""

from __future__ import annotations

import torch

from flowstage_lib.data import heldout_images
from flowstage_lib.experiments._shared import transition
from flowstage_lib.experiments.sample_sets import export_sample_sets
from flowstage_lib.experiments.sec5_practices import figure9_12_latent as f912
from flowstage_lib.experiments.sec5_practices.clock_contrast import table2_clock_check
from flowstage_lib.experiments.sec5_practices.clock_contrast3 import table3_clock_check
from flowstage_lib.experiments.sec5_practices.figure8_velocity import velocity_profile
from flowstage_lib.experiments.sec5_practices.latent_study import fd_over_training, study_model
from flowstage_lib.experiments.sec5_practices.scoring import judged_reference
from flowstage_lib.experiments.sec5_practices.setting import calibrated_setting, placement_factor
from flowstage_lib.experiments.sec5_practices.table2_shift import (
    table2,
    table2_comparison,
    table2_export,
)
from flowstage_lib.experiments.sec5_practices.table3_cfg_interval import (
    table3,
    table3_export,
    table3_samples,
)
from flowstage_lib.metrics import evaluate
from flowstage_lib.metrics.judge.panel import get_panel
from flowstage_lib.tooling.progress import stage
from flowstage_lib.training import zoo

__all__ = ["compute", "export_tables"]


def compute(P) -> None:
    """Fill the cache for Section 5 at parameters ``P`` (:func:`section_params`)."""
    if P.cpu_threads:
        torch.set_num_threads(int(P.cpu_threads))
    main = zoo.ZOO_PRESETS[P.profile].main_size
    with stage("classifier (train or load)"):
        ev = evaluate.get_evaluator(P.profile, progress=False)
    train = ev.train
    with stage("calibration (Section 4's data scale k)"):
        S = calibrated_setting(P, train)
    with stage("main model (train or load)"):
        base = zoo.get_model(P.profile, main, progress=False, data_scale=S.k)
    with stage("judges A and B (train or load)"):
        panel = get_panel(P.profile, P.n_boot, P.seed, progress=False)
    with stage("transition (oracle top-1 curve)"):
        tr = transition(S.data, P.n_queries, P.seed, P.n_t_log, P.n_t_lin, n_boot=P.n_boot)
    k_rel = placement_factor(tr)
    held, _ = heldout_images("mnist5k")
    with stage("reference FD of real images"):
        judged_reference(panel, train.x, train.y, P.n_samples, P.seed)
    with stage("Table 2 (sample and score)"):
        t2 = table2(base, panel, P.shifts, P.n_samples, P.n_steps, P.seed, tr.t09)
    with stage("Table 2 cross-check (native model on the mapped grid)"):
        native = zoo.get_model(P.profile, main, progress=False) if S.k is not None else None
        table2_clock_check(native, base, panel, P.shifts, P.n_clock_check, P.n_steps, P.seed)
    with stage("Table 3 (sample and score)"):
        t3 = table3(base, panel, P.cfg_scale, P.n_samples, P.n_steps, P.seed, k_rel, tr.t09,
                    tr.t09_interval, P.n_samples_absolute)  # fmt: skip
        best_s = table2_comparison(t2, P.n_steps).glue["best_s_a"]
        table3_samples(base, t3, P.cfg_scale, P.n_samples, P.n_steps, P.seed, best_s)
    with stage("export the sample sets of Tables 2 and 3"):
        export_tables(P, base, k_rel)
    with stage("Table 3 cross-check (native model on the mapped grid)"):
        table3_clock_check(native, base, panel, t3.rows, P.cfg_scale, P.n_clock_check,
                           P.n_steps, P.seed, t3.t_interval)  # fmt: skip
    with stage("Fig. 8 (recorded sampling)"):
        for w in (1.0, float(P.cfg_scale)):
            velocity_profile(base, P.n_fig8, P.n_steps, P.seed, scale=w)
    with stage("Figs. 9 / 12 (latent spaces)"):
        spaces, data_of = f912.build_spaces(train, ev.classifier, P.ae_steps, P.seed, panel)
        scales, data_k = f912.calibrate_spaces(P, data_of, S)
        models = f912.study_models(P.profile, P.study_size, spaces, scales)
        f912.space_transitions(data_k, P.n_queries, P.n_t_log, P.n_t_lin, P.seed)
        f912.losses(models, data_k, P.n_loss_t, P.n_loss, P.seed)
        f912.fd_curves(models, spaces, panel, P.n_train_fd, P.n_steps, P.seed, P.n_boot)
        f912.floors(panel, spaces, held, P.n_train_fd, P.n_boot, P.seed)
        f912.final_memorized(models, spaces, train.x, P.n_train_fd, P.n_steps, P.seed)
    with stage("Fig. 10 (oracle target)"):
        orc = study_model(P.profile, P.study_size, target="oracle", data_scale=S.k)
        fd_over_training(orc, panel, P.n_train_fd, P.n_steps, P.seed, against=models["pixels"])


def export_tables(P, result, k_rel: float) -> dict:
    """Write Tables 2 and 3's sample sets (the verdicts' placement ``k_rel`` and, when it is
    not 1, the absolute contrast) under ``results/<profile>/sec5_practices/samples/``
    (issue 13, item 7).

    Returns:
        {table: path of its index.csv}.
    """
    n, m, steps, seed, w = P.n_samples, P.n_samples_absolute, P.n_steps, P.seed, P.cfg_scale
    parts = {
        "table2": table2_export(result, P.shifts, n, steps, seed),
        "table3": table3_export(result, w, n, steps, seed, k_rel),
    }
    if k_rel != 1.0:  # the absolute contrast (with k_rel = 1 it is "table3" itself)
        parts["table3_absolute"] = table3_export(result, w, m, steps, seed, 1.0)
    return {
        name: export_sample_sets(P.section, P.profile, name, rows) for name, rows in parts.items()
    }
