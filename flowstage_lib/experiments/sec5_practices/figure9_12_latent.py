"""Figs. 9 and 12 (Sec. 5.3): the same flow in pixels and in two latent spaces; the paper: the
aligned space converges faster (Fig. 12) and has a smoother refinement-stage loss (Fig. 9).

Fig. 12's FD curves and floors are scored by both judges (:mod:`flowstage_lib.metrics.judge`;
the curves plot judge A, judge B is stored beside it), and its verdict reads the *paired*
differences FD(aligned) - FD(recon) per checkpoint (the two latent flows sample from the same
latent noise and labels). The "aligned" autoencoder aligns to the old ``metrics.classifier``
network, which is not a judge, so the space is not aligned to what scores it (issue 13)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from flowstage_lib.experiments._shared import transition
from flowstage_lib.experiments.sec5_practices import latent_study as ls
from flowstage_lib.experiments.sec5_practices.scoring import border_rms

__all__ = [
    "SPACES",
    "build_spaces",
    "calibrate_spaces",
    "study_models",
    "space_transitions",
    "latent_table",
    "losses",
    "fd_curves",
    "floors",
    "final_memorized",
    "Figure9_12",
    "figure9_12",
]

SPACES = ("pixels", "recon", "aligned")


def build_spaces(train, classifier, ae_steps: int, seed: int, panel=None) -> tuple[dict, dict]:
    """({"recon", "aligned": LatentSpace}, {space: ImageData of ``train``}), pixels included.
    ``classifier``: what "aligned" aligns to (not a judge; with ``panel``, checked by
    :func:`~.latent_study.check_alignment_not_a_judge`)."""
    if panel is not None:
        ls.check_alignment_not_a_judge(classifier, panel)
    spaces = ls.latent_spaces(train, classifier, ae_steps, seed)
    return spaces, {"pixels": train, **{k: s.to_image_data(train) for k, s in spaces.items()}}


def calibrate_spaces(P, data: dict, setting) -> tuple[dict, dict]:
    """Each space in the setting of Section 5 (issue 14): ({space: data scale k or None},
    {space: the flows' training data, k times the space's own}).

    ``data``: {space: ImageData} of :func:`build_spaces` (unscaled); ``setting``:
    :class:`~.setting.Setting5`. Calibrated: each latent space is calibrated by the same rule
    on its own latents (:func:`~flowstage_lib.experiments.calibration.calibrated_scale` with
    :func:`~.setting.calibration_inputs`: its class-conditional top-1 curve crosses 0.9 at
    ``calibration_target_t``), pixels take the setting's k (the same computation). Native:
    every k is None and the data is unchanged."""
    from flowstage_lib.data import scale_data
    from flowstage_lib.experiments.calibration import calibrated_scale
    from flowstage_lib.experiments.sec5_practices.setting import calibration_inputs

    if setting.k is None:
        return {k: None for k in data}, dict(data)
    params = calibration_inputs(P)
    scales = {
        k: setting.k if k == "pixels" else calibrated_scale(params, d, section=P.section).k
        for k, d in data.items()
    }
    return scales, {k: scale_data(d, scales[k]) for k, d in data.items()}


def study_models(profile: str, size: str, spaces: dict, scales: dict | None = None) -> dict:
    """{space: TrainResult} of the study size in pixels and in each latent space; ``scales``:
    {space: data scale k or None} (:func:`calibrate_spaces`; None: all native)."""
    k = scales or {}
    return {
        "pixels": ls.study_model(profile, size, data_scale=k.get("pixels")),
        **{
            n: ls.study_model(profile, size, space=s, data_scale=k.get(n))
            for n, s in spaces.items()
        },
    }


def space_transitions(data: dict, n_queries: int, n_t_log: int, n_t_lin: int, seed: int) -> dict:
    """{space: t_0.9 of its own training data} (Section 3's transition, per space)."""
    return {
        k: transition(d, n_queries, seed, n_t_log, n_t_lin, (0.9,)).t09 for k, d in data.items()
    }


def latent_table(
    spaces: dict, trans: dict, shape, scales: dict | None = None
) -> tuple[pd.DataFrame, dict]:
    """The autoencoders' reconstruction, probe and alignment, each space's data scale k
    (``scales``, :func:`calibrate_spaces`; None / missing: 1) and transition on the flows'
    data; plus the values the text glues."""
    ks = {n: float(v) if v is not None else 1.0 for n, v in (scales or {}).items()}
    from flowstage_lib.models.latent import reconstruction_table

    ae = reconstruction_table(spaces).reset_index()
    rows = [
        {
            "latent": r["latent"],
            "latent shape": "x".join(map(str, r["latent_shape"])),
            "recon. MSE (held-out)": r["recon_mse_heldout"],
            "PSNR (dB)": r["psnr_heldout"],
            "linear-probe accuracy": r["linear_probe_accuracy"],
            "alignment cos": r["align_cos"],
            "training (s)": r["seconds"],
            "data scale k": ks.get(r["latent"], 1.0),
            "transition t_0.9": trans[r["latent"]],
        }
        for _, r in ae.iterrows()
    ]
    rows.append(
        {
            "latent": "pixels",
            "latent shape": "x".join(map(str, shape)),
            "recon. MSE (held-out)": 0.0,
            "PSNR (dB)": math.inf,
            "linear-probe accuracy": math.nan,
            "alignment cos": math.nan,
            "training (s)": 0.0,
            "data scale k": ks.get("pixels", 1.0),
            "transition t_0.9": trans["pixels"],
        }
    )
    probe = ae.set_index("latent")["linear_probe_accuracy"]
    glue = {
        "probe_recon": float(probe.loc["recon"]),
        "probe_aligned": float(probe.loc["aligned"]),
        "tr_recon": trans["recon"],
        "tr_aligned": trans["aligned"],
        "tr_pixels": trans["pixels"],
    }
    return pd.DataFrame(rows), glue


def losses(models: dict, data: dict, n_t: int, n: int, seed: int) -> dict:
    """{space: :func:`~.latent_study.loss_over_training`} on n_t points of [0, 0.975]."""
    t_grid = [round(float(v), 6) for v in np.linspace(0.0, 0.975, n_t)]
    return {k: ls.loss_over_training(models[k], data[k], t_grid, n, seed) for k in SPACES}


def _extra(k: str, spaces: dict) -> dict:
    return {} if k == "pixels" else {"latent": k, "ae": ls.space_id(spaces[k])}


def fd_curves(
    models, spaces, ev, n: int, n_steps: int, seed: int, n_boot: int = 200, *, panel=None
) -> dict:
    """{space: FD over training} (Fig. 12, :func:`~.latent_study.fd_over_training`), latent
    samples decoded, scored by ``panel`` (required, here or as ``ev``; an old evaluator as
    ``ev`` and ``n_boot`` are ignored: ``panel.n_boot`` applies). The aligned rows carry
    ``paired``: FD(aligned) - FD(recon) per judge."""
    panel = ls.require_panel(panel if panel is not None else ev, "fd_curves")
    out = {}
    for k in SPACES:
        dec = spaces[k].decode if k in spaces else None
        against = (models["recon"], spaces["recon"].decode, _extra("recon", spaces))
        out[k] = ls.fd_over_training(
            models[k],
            None,
            n,
            n_steps,
            seed,
            decode=dec,
            extra=_extra(k, spaces) or None,
            panel=panel,
            against=against if k == "aligned" else None,
        )
    return out


def floors(ev, spaces: dict, held, n: int, n_boot: int = 200, seed: int = 0, *, panel=None):
    """Both judges' FD of n real unseen images (drawn with ``seed``): through each autoencoder
    and as they are ("real"); rows of :func:`~.latent_study.judged_row`. ``panel`` required,
    here or as ``ev`` (an old evaluator as ``ev`` and ``n_boot`` are ignored). Under the cpu
    profile the judges' reference is the whole MNIST test set, so "real" drawn from it is a
    lower bound."""
    panel = ls.require_panel(panel if panel is not None else ev, "floors")
    if len(held.x) < n:
        raise ValueError(f"held has {len(held.x)} images, fewer than n = {n}")
    idx = torch.randperm(len(held.x), generator=torch.Generator().manual_seed(seed))[:n]
    x, y = held.x[idx], held.y[idx]
    out = {k: ls.judged_row(panel.score(s.decode(s.encode(x)).cpu(), y)) for k, s in spaces.items()}
    out["real"] = ls.judged_row(panel.score(x, y))
    return out


def final_memorized(models, spaces, train_x, n: int, n_steps: int, seed: int) -> tuple:
    """({space: memorized share of the final samples}, {space: frame speckle}); latent samples
    against the decoded reconstructions of the training images."""
    mem, speck = {}, {}
    for k in SPACES:
        m = models[k]
        if k == "pixels":
            x = ls.checkpoint_samples(m, m.steps, n, n_steps, seed)["x"]
            mem[k] = ls.memorized_fraction(x, train_x)
        else:
            sp = spaces[k]
            x = ls.checkpoint_samples(
                m, m.steps, n, n_steps, seed, decode=sp.decode, extra=_extra(k, spaces)
            )["x"]
            mem[k] = ls.memorized_fraction(x, sp.decode(sp.encode(train_x)))
        speck[k] = border_rms(x)
    return mem, speck


@dataclass(frozen=True)
class Figure9_12:
    """Fig. 12: ``paired12`` {judge: [{step, delta, low, high}]}: paired FD(aligned) - FD(recon)
    per checkpoint (what the verdict reads); ``share12`` (``share12_early``): share of
    (first-half) checkpoints where judge A's FD(aligned) < FD(recon), point values (shown, not
    tested); ``final`` {space: last row}. Fig. 9: ``excess`` {space: excess variation of log L
    on t >= that space's t_0.9, per checkpoint}; ``smooth_share``: share of second-half
    checkpoints where aligned < recon (point values, shown); ``paired9``: [{step, delta, low,
    high}] excess(aligned) - excess(recon) with its paired bootstrap interval over the loss
    pairs, per checkpoint (what the verdict reads). ``memorized``, ``speckle``: final samples."""

    share12: float
    share12_early: float
    final: dict
    excess: dict
    smooth_share: float
    memorized: dict
    speckle: dict
    paired12: dict = field(default_factory=dict)
    paired9: list = field(default_factory=list)


def figure9_12(
    fdc: dict,
    loss: dict,
    trans: dict,
    memorized: dict,
    speckle: dict,
    n_boot: int = 200,
    seed: int = 0,
) -> Figure9_12:
    """Analyse :func:`fd_curves` (aligned rows with ``paired``), :func:`losses` (Fig. 9's
    paired bootstrap over the loss pairs: ``n_boot`` resamples, ``seed``) and
    :func:`final_memorized`."""
    fd = {k: [r["fd"] for r in fdc[k]] for k in SPACES}
    half = len(fdc["recon"]) // 2
    m = len(loss["recon"]["steps"])
    excess = {
        k: [ls.excess_variation(loss[k]["t"], loss[k]["oracle"][j], trans[k]) for j in range(m)]
        for k in SPACES
    }
    late = range(m // 2, m)
    judges = list(fdc["aligned"][0].get("paired", {}))
    return Figure9_12(
        share12=ls.share_lower(fd["aligned"], fd["recon"]),
        share12_early=ls.share_lower(fd["aligned"][:half], fd["recon"][:half]),
        final={k: fdc[k][-1] for k in SPACES},
        excess=excess,
        smooth_share=float(np.mean([excess["aligned"][j] < excess["recon"][j] for j in late])),
        memorized=memorized,
        speckle=speckle,
        paired12={j: ls.paired_fd(fdc["aligned"], j) for j in judges},
        paired9=ls.paired_excess(
            loss["aligned"], loss["recon"], trans["aligned"], trans["recon"], n_boot, seed
        ),
    )
