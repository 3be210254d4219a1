"""Section 5's computation without the notebook (``flowstage compute sec5_practices``): every
cached call ``book/sec5_practices.ipynb`` makes, with the same arguments, so the book then
renders from the warm cache (``FLOWSTAGE_CACHE_STRICT=1`` makes any miss an error)."""

from __future__ import annotations

import torch

from flowstage_lib.data import heldout_images
from flowstage_lib.experiments import paper
from flowstage_lib.experiments._shared import transition
from flowstage_lib.experiments.sec5_practices import figure9_12_latent as f912
from flowstage_lib.experiments.sec5_practices.figure8_velocity import velocity_profile
from flowstage_lib.experiments.sec5_practices.grids import snr_factor
from flowstage_lib.experiments.sec5_practices.latent_study import fd_over_training, study_model
from flowstage_lib.experiments.sec5_practices.scoring import reference_fd
from flowstage_lib.experiments.sec5_practices.table2_shift import table2, table2_comparison
from flowstage_lib.experiments.sec5_practices.table3_cfg_interval import table3, table3_samples
from flowstage_lib.metrics import evaluate
from flowstage_lib.tooling.progress import stage
from flowstage_lib.training import zoo

__all__ = ["compute"]


def compute(P) -> None:
    """Fill the cache for Section 5 at parameters ``P`` (:func:`section_params`)."""
    if P.cpu_threads:
        torch.set_num_threads(int(P.cpu_threads))
    main = zoo.ZOO_PRESETS[P.profile].main_size
    with stage("main model and classifier (train or load)"):
        base = zoo.get_model(P.profile, main, progress=False)
        ev = evaluate.get_evaluator(P.profile, progress=False)
    train = ev.train
    with stage("transition (oracle top-1 curve)"):
        t_tr = transition(train, P.n_queries, P.seed, P.n_t_log, P.n_t_lin).t09
    k_rel = snr_factor(paper.TRANSITION_T, t_tr)
    held, _ = heldout_images("mnist5k")
    with stage("reference FD of real images"):
        reference_fd(ev, held.x, held.y, P.n_samples, P.n_boot, P.seed)
    with stage("Table 2 (sample and score)"):
        t2 = table2(base, ev, P.shifts, P.n_samples, P.n_steps, P.seed, t_tr, P.n_boot)
    with stage("Table 3 (sample and score)"):
        t3 = table3(base, ev, P.cfg_scale, P.n_samples, P.n_steps, P.seed, k_rel, t_tr, P.n_boot)
        best_s = table2_comparison(t2, P.n_steps).glue["best_s"]
        table3_samples(base, t3, P.cfg_scale, P.n_samples, P.n_steps, P.seed, best_s)
    with stage("Fig. 8 (recorded sampling)"):
        for w in (1.0, float(P.cfg_scale)):
            velocity_profile(base, P.n_fig8, P.n_steps, P.seed, scale=w)
    with stage("Figs. 9 / 12 (latent spaces)"):
        spaces, data_of = f912.build_spaces(train, ev.classifier, P.ae_steps, P.seed)
        models = f912.study_models(P.profile, P.study_size, spaces)
        f912.space_transitions(data_of, P.n_queries, P.n_t_log, P.n_t_lin, P.seed)
        f912.losses(models, data_of, P.n_loss_t, P.n_loss, P.seed)
        f912.fd_curves(models, spaces, ev, P.n_train_fd, P.n_steps, P.seed, P.n_boot)
        f912.floors(ev, spaces, held, P.n_train_fd, P.n_boot, P.seed)
        f912.final_memorized(models, spaces, train.x, P.n_train_fd, P.n_steps, P.seed)
    with stage("Fig. 10 (oracle target)"):
        orc = study_model(P.profile, P.study_size, target="oracle")
        fd_over_training(orc, ev, P.n_train_fd, P.n_steps, P.seed, n_boot=P.n_boot)
