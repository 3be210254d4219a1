"""Section 5's computation: :func:`compute` runs every experiment of
``book/sec5_practices.ipynb`` and returns them (:class:`Sec5Run`); the notebook calls it and
only plots, tabulates and concludes, and ``flowstage compute sec5_practices`` calls it without
the notebook, so both run the same calls with the same arguments (the book then renders from
the warm cache; ``FLOWSTAGE_CACHE_STRICT=1`` makes any miss an error)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from flowstage_lib.data import heldout_images
from flowstage_lib.experiments._shared import transition
from flowstage_lib.experiments.sample_sets import export_sample_sets
from flowstage_lib.experiments.sec5_practices import figure9_12_latent as f912
from flowstage_lib.experiments.sec5_practices.clock_contrast import table2_clock_check
from flowstage_lib.experiments.sec5_practices.clock_contrast3 import table3_clock_check
from flowstage_lib.experiments.sec5_practices.figure8_velocity import figure8, velocity_profile
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
    table3_comparison,
    table3_export,
    table3_samples,
)
from flowstage_lib.metrics import evaluate
from flowstage_lib.metrics.judge.panel import get_panel
from flowstage_lib.tooling.progress import stage
from flowstage_lib.training import zoo

__all__ = ["LatentStudy", "Sec5Run", "compute", "export_tables"]


@dataclass
class LatentStudy:
    """Figs. 9 / 12: the autoencoder latent spaces (``spaces``), each space's data scale and
    scaled training data (``scales``, ``data_k``; pixels included), the study models and their
    transitions (``models``, ``trans_s``), oracle losses per t (``losses``), judged FD curves
    over training (``fdc``), autoencoder floors (``floor12``), final memorization and border
    speckle (``mem12``, ``speck12``) and the analysis (``f12``)."""

    spaces: dict
    scales: dict
    data_k: dict
    models: dict
    trans_s: dict
    losses: dict
    fdc: dict
    floor12: Any
    mem12: Any
    speck12: Any
    f12: Any


@dataclass
class Sec5Run:
    """Everything Section 5 computes at parameters ``P`` (the notebook's view reads these).

    Attributes:
        main, ev, train, S: the main model's size, the evaluator (training split, the network
            "aligned" aligns to), the setting (k, the models' data, calibration).
        base, native: the main model (on k x1) and the native one of the cross-checks (None in
            the native setting); panel: both judges.
        tr, k_rel, held, floor: the transition, Table 3's placement factor, the unseen images,
            the judged FD of real images.
        T2, CC, c2: Table 2, its clock cross-check, its comparison; T3, CC3, c3, sets, index:
            Table 3, its cross-check, comparison, sample sets shown and the exported index.
        prof, f8: Fig. 8's recorded profiles {guidance scale: ...} and their analysis.
        latent: Figs. 9 / 12 (:class:`LatentStudy`).
        orc, fd_orc: Fig. 10's oracle-target model and its FD over training.
        times: wall seconds of each part (the notebook's timing table and provenance).
    """

    main: str
    ev: Any
    train: Any
    S: Any
    base: Any
    native: Any
    panel: Any
    tr: Any
    k_rel: float
    held: Any
    floor: Any
    T2: Any
    CC: Any
    c2: Any
    T3: Any
    CC3: Any
    c3: Any
    sets: Any
    index: dict
    prof: dict
    f8: Any
    latent: LatentStudy
    orc: Any
    fd_orc: Any
    times: dict[str, float] = field(default_factory=dict)


def compute(P) -> Sec5Run:
    """Run Section 5 at parameters ``P`` (:func:`section_params`), filling the cache."""
    if P.cpu_threads:  # measured on the shared 2-core machine: 1 thread samples ~5x faster
        torch.set_num_threads(int(P.cpu_threads))
    main = zoo.ZOO_PRESETS[P.profile].main_size
    times: dict[str, float] = {}
    with stage("classifier (train or load)", times):
        ev = evaluate.get_evaluator(P.profile, progress=False)
    train = ev.train
    with stage("calibration (Section 4's data scale k)", times):
        S = calibrated_setting(P, train)
    with stage("main model (train or load)", times):
        base = zoo.get_model(P.profile, main, progress=False, data_scale=S.k)
    with stage("judges A and B (train or load)", times):
        panel = get_panel(P.profile, P.n_boot, P.seed, progress=False)
    with stage("transition (oracle top-1 curve)", times):
        tr = transition(S.data, P.n_queries, P.seed, P.n_t_log, P.n_t_lin, n_boot=P.n_boot)
    k_rel = placement_factor(tr)
    held, _ = heldout_images("mnist5k")
    with stage("reference FD of real images", times):
        floor = judged_reference(panel, train.x, train.y, P.n_samples, P.seed)
    with stage("Table 2 (sample and score)", times):
        t2 = table2(base, panel, P.shifts, P.n_samples, P.n_steps, P.seed, tr.t09)
        c2 = table2_comparison(t2, P.n_steps)
    with stage("Table 2 cross-check (native model on the mapped grid)", times):
        native = zoo.get_model(P.profile, main, progress=False) if S.k is not None else None
        cc = table2_clock_check(native, base, panel, P.shifts, P.n_clock_check, P.n_steps,
                                P.seed)  # fmt: skip
    with stage("Table 3 (sample and score)", times):
        t3 = table3(base, panel, P.cfg_scale, P.n_samples, P.n_steps, P.seed, k_rel, tr.t09,
                    tr.t09_interval, P.n_samples_absolute)  # fmt: skip
        sets = table3_samples(base, t3, P.cfg_scale, P.n_samples, P.n_steps, P.seed,
                              c2.glue["best_s_a"])  # fmt: skip
    with stage("export the sample sets of Tables 2 and 3", times):
        index = export_tables(P, base, k_rel)
    with stage("Table 3 cross-check (native model on the mapped grid)", times):
        cc3 = table3_clock_check(native, base, panel, t3.rows, P.cfg_scale, P.n_clock_check,
                                 P.n_steps, P.seed, t3.t_interval)  # fmt: skip
    with stage("Fig. 8 (recorded sampling)", times):
        prof = {w: velocity_profile(base, P.n_fig8, P.n_steps, P.seed, scale=w)
                for w in (1.0, float(P.cfg_scale))}  # fmt: skip
        f8 = figure8(prof[1.0], prof[float(P.cfg_scale)], S.data.x)  # the models' data
    with stage("Figs. 9 / 12 (latent spaces)", times):
        latent = _latent_study(P, ev, S, panel, held)
    with stage("Fig. 10 (oracle target)", times):
        orc = study_model(P.profile, P.study_size, target="oracle", data_scale=S.k)
        fd_orc = fd_over_training(orc, panel, P.n_train_fd, P.n_steps, P.seed,
                                  against=latent.models["pixels"])  # fmt: skip
    return Sec5Run(
        main=main, ev=ev, train=train, S=S, base=base, native=native, panel=panel, tr=tr,
        k_rel=k_rel, held=held, floor=floor, T2=t2, CC=cc, c2=c2, T3=t3, CC3=cc3,
        c3=table3_comparison(t3), sets=sets, index=index, prof=prof, f8=f8, latent=latent,
        orc=orc, fd_orc=fd_orc, times=times,
    )  # fmt: skip


def _latent_study(P, ev, S, panel, held) -> LatentStudy:
    """Figs. 9 / 12 at parameters ``P`` (:class:`LatentStudy`)."""
    train = ev.train
    spaces, data_of = f912.build_spaces(train, ev.classifier, P.ae_steps, P.seed, panel)
    scales, data_k = f912.calibrate_spaces(P, data_of, S)
    models = f912.study_models(P.profile, P.study_size, spaces, scales)
    trans_s = f912.space_transitions(data_k, P.n_queries, P.n_t_log, P.n_t_lin, P.seed)
    losses = f912.losses(models, data_k, P.n_loss_t, P.n_loss, P.seed)
    fdc = f912.fd_curves(models, spaces, panel, P.n_train_fd, P.n_steps, P.seed, P.n_boot)
    floor12 = f912.floors(panel, spaces, held, P.n_train_fd, P.n_boot, P.seed)
    mem12, speck12 = f912.final_memorized(models, spaces, train.x, P.n_train_fd, P.n_steps,
                                          P.seed)  # fmt: skip
    f12 = f912.figure9_12(fdc, losses, trans_s, mem12, speck12, P.n_boot, P.seed)
    return LatentStudy(spaces, scales, data_k, models, trans_s, losses, fdc, floor12, mem12,
                       speck12, f12)  # fmt: skip


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
