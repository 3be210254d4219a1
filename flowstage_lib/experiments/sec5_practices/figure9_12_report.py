"""Figs. 9 and 12 against the paper: the verdicts (through
:mod:`flowstage_lib.experiments.criteria`, once per judge and combined by
``both_judges``) and the comparison table of a :class:`~.figure9_12_latent.Figure9_12`."""

from __future__ import annotations

import pandas as pd

from flowstage_lib.experiments import criteria
from flowstage_lib.experiments._shared import Comparison
from flowstage_lib.experiments.sec5_practices.figure9_12_latent import SPACES, Figure9_12

__all__ = ["figure12_verdicts", "figure9_12_comparison"]


def _late9(f: Figure9_12) -> list:
    """The second half of Fig. 9's paired rows (the refinement-stage test's checkpoints)."""
    return f.paired9[len(f.paired9) // 2 :]


def _d9(f: Figure9_12) -> str:
    p = criteria.fig9_parts(_late9(f))
    return (
        f"interval below 0 at {p['lower']}/{p['n']} second-half checkpoints, above 0 at "
        f"{p['higher']}; last {_ci(f.paired9[-1])}"
    )


def _ci(d: dict) -> str:
    return f"{d['delta']:+.2f} [{d['low']:+.2f}, {d['high']:+.2f}]"


def figure12_verdicts(f: Figure9_12) -> tuple:
    """({judge: Verdict}, both_judges Verdict) of ``fig12_aligned_converges_faster``."""
    if not f.paired12:
        raise ValueError("no paired differences: call fd_curves(..., panel=panel)")
    by = {j: criteria.fig12_aligned_converges_faster(p) for j, p in f.paired12.items()}
    return by, criteria.both_judges(by)


def _mem_sentence(f: Figure9_12) -> str:
    mem, sp = f.memorized, f.speckle
    txt = (
        f"{mem['recon']:.1%} (recon) and {mem['aligned']:.1%} (aligned) of the final samples "
        f"are memorized by the d1 < d2 / 3 test against the decoded training latents (pixels: "
        f"{mem['pixels']:.1%})"
    )
    if max(mem["recon"], mem["aligned"]) < 0.05:
        return (
            f"The latent flows are not copying their training set ({txt}): in D = 196 "
            f"normalised latents the same MLP learns much faster than on 784 pixels (frame "
            f"speckle of the final samples: pixels {sp['pixels']:.3f}, recon "
            f"{sp['recon']:.3f}, aligned {sp['aligned']:.3f})."
        )
    return (
        f"Part of the latent samples are copies of training images ({txt}), which flatters "
        f"a distance measured against the training split."
    )


def _fd12(f: Figure9_12, j: str) -> str:
    p = criteria.fig12_parts(f.paired12[j])
    return (
        f"judge {j}: below 0 at {p['lower']}/{p['n']} ({p['lower_early']}/{p['n_early']} "
        f"of the first half), above 0 at {p['higher']}; last {_ci(f.paired12[j][-1])}"
    )


def _final(f: Figure9_12, j: str) -> str:
    return " / ".join(f"{f.final[k]['judges'][j]['fd']:.2f}" for k in SPACES)


def _judge_glue(f: Figure9_12, by12: dict) -> dict:
    """Per judge j: v12_j, d12_j, d12_last_j, fd_fin_j (pixels / recon / aligned)."""
    out = {}
    for j in f.paired12:
        out[f"v12_{j}"] = by12[j].verdict
        out[f"d12_{j}"] = _fd12(f, j)
        out[f"d12_last_{j}"] = _ci(f.paired12[j][-1])
        out[f"fd_fin_{j}"] = _final(f, j)
    return out


def figure9_12_comparison(f: Figure9_12, n_checkpoints: int, floor: dict) -> Comparison:
    """Figs. 9 and 12 against the paper: ``fig12_aligned_converges_faster`` once per judge on
    the paired differences, combined by ``both_judges``; ``fig9_aligned_smoother_refinement``
    on the second-half paired excess variations (no judge scores a loss curve)."""
    by12, v12 = figure12_verdicts(f)
    v9 = criteria.fig9_aligned_smoother_refinement(_late9(f))
    fin, js = f.final, list(f.paired12)
    rows = [
        (
            f"paired FD(aligned) - FD(recon), 95% CI, {n_checkpoints} checkpoints",
            "aligned lower throughout",
            "; ".join(_fd12(f, j) for j in js),
            v12.verdict,
        ),
        (
            "final FD: pixels / recon / aligned",
            "-",
            "; ".join(f"judge {j}: {_final(f, j)}" for j in js),
            "-",
        ),
        (
            "memorized share of the final samples (d1 < d2 / 3)",
            "-",
            " / ".join(f"{f.memorized[k]:.1%}" for k in SPACES),
            "-",
        ),
        (
            "bumps and dips of log L(t) in refinement, final checkpoint (pixels / recon / aligned)",
            "aligned smoother",
            " / ".join(f"{f.excess[k][-1]:.3f}" for k in SPACES),
            "-",
        ),
        (
            "paired excess(aligned) - excess(recon), 95% CI over the loss pairs",
            "aligned smoother",
            f"{_d9(f)} (point values: aligned smoother at {f.smooth_share:.0%})",
            v9.verdict,
        ),
    ]
    glue = {
        "v12": v12.verdict,
        "v9": v9.verdict,
        "share12": f.share12,
        "share12_early": f.share12_early,
        "smooth_share": f.smooth_share,
        "d9": _d9(f),
        "fd_fin_pix": fin["pixels"]["fd"],
        "fd_fin_recon": fin["recon"]["fd"],
        "fd_fin_aligned": fin["aligned"]["fd"],
        "floor_recon": floor["recon"]["fd"],
        "floor_aligned": floor["aligned"]["fd"],
        "mem_recon": f.memorized["recon"],
        "mem_aligned": f.memorized["aligned"],
        "mem_pixels": f.memorized["pixels"],
        "mem_sentence": _mem_sentence(f),
    }
    glue.update(_judge_glue(f, by12))
    claims = [
        (
            "A semantically aligned latent space converges faster (gFID over training) than a "
            "reconstruction-only one",
            "Fig. 12: VA-VAE below SD-VAE",
            "paired FD(aligned) - FD(recon): "
            + "; ".join(_fd12(f, j) for j in js)
            + " ("
            + ", ".join(f"judge {j}: {by12[j].verdict}" for j in js)
            + ")",
            v12,
        ),
        (
            "The aligned latent space has a smoother oracle loss in the refinement stage",
            "Fig. 9: VA-VAE curve smoother than SD-VAE",
            f"paired excess(aligned) - excess(recon): {_d9(f)} (final point values: "
            f"{f.excess['aligned'][-1]:.3f} vs {f.excess['recon'][-1]:.3f})",
            v9,
        ),
    ]
    table = pd.DataFrame(rows, columns=["quantity", "paper", "ours", "verdict"])
    return Comparison(table, glue, claims)
