"""Section 3, beyond the paper: does the collapse time of Biroli et al. predict the switch?

t_c = r / (r + s), r = sqrt(N^(2/D) - 1)
(:func:`flowstage_lib.oracle.transition.collapse_time`) for N
iid points of spread s in D dimensions, compared with the measured half-collapse t_0.5 on the
synthetic sets of Figs. 2-3 and on real data (with the within-class spread, and with the
effective dimension D_eff of the within-class covariance).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from flowstage_lib.data import ImageData
from flowstage_lib.experiments import criteria, paper
from flowstage_lib.experiments.curves import crossings
from flowstage_lib.oracle.transition import collapse_time

__all__ = [
    "data_spread",
    "collapse_dimension",
    "figure2_collapse_times",
    "prediction_table",
    "PredictionSummary",
    "prediction_summary",
]

COLUMNS = [
    "data", "D", "N per class", "spread s", "D_eff", "t_c", "t_0.5", "rel. error", "holds",
    "t_c (D_eff)", "rel. error (D_eff)", "t_0.9", "t_0.99",
]  # fmt: skip


def data_spread(data: ImageData) -> dict[str, float]:
    """What the collapse-time prediction needs from a real data set (per class, pooled).

    Every class is centred on its own mean (the class-conditional oracle averages within a
    class); on the pooled centred data X (N, D):

    - ``spread`` = sqrt(||X||_F^2 / (N D)): the root mean per-dimension within-class variance;
    - ``D_eff`` = tr(C)^2 / tr(C^2), C = X^T X / N: the participation ratio of the within-class
      covariance (D for isotropic data, small when the variance lies in few directions);
    - ``spread_eff`` = sqrt(tr(C) / D_eff): the per-direction spread of an isotropic cloud of
      dimension D_eff with the same total variance;
    - ``N`` = mean items per class.

    Returns:
        dict with D, N, spread, D_eff, spread_eff (floats).
    """
    x = data.x.reshape(data.N, -1).double()  # (N, D)
    xc = torch.empty_like(x)
    for c in data.y.unique():
        m = data.y == c
        xc[m] = x[m] - x[m].mean(0)
    n, d = xc.shape
    tr = xc.square().sum() / n  # tr(C)
    gram = xc.T @ xc if d <= n else xc @ xc.T  # same nonzero spectrum
    tr2 = (gram / n).square().sum()  # tr(C^2)
    d_eff = float(tr**2 / tr2)
    counts = data.class_counts()
    return {
        "D": d,
        "N": float(counts[counts > 0].float().mean()),
        "spread": float((tr / d).sqrt()),
        "D_eff": d_eff,
        "spread_eff": float((tr / d_eff).sqrt()),
    }


def collapse_dimension(t_c: float, N: float, spread: float = 1.0) -> float:
    """The dimension D at which the collapse time of N iid points of spread ``spread`` is
    ``t_c``: the inverse in D of :func:`flowstage_lib.oracle.transition.collapse_time`.

    From t_c = r / (r + s), r = sqrt(N^(2/D) - 1): r = s t_c / (1 - t_c) and
    D = 2 ln N / ln(1 + r^2).
    """
    if not 0 < t_c < 1:
        raise ValueError(f"t_c must lie in (0, 1), got {t_c}")
    if N <= 1:
        raise ValueError(f"N must be > 1, got {N}")
    r = spread * t_c / (1 - t_c)
    return 2 * math.log(N) / math.log1p(r * r)


def figure2_collapse_times(
    curves: dict[str, dict], real: dict[str, ImageData], syn_label: str
) -> dict[str, float]:
    """Predicted t_c per Fig. 2 data set: unit spread for the synthetic set, the within-class
    spread (:func:`data_spread`) for real data."""
    out = {}
    for label, c in curves.items():
        if label == syn_label:
            out[label] = collapse_time(c["D"], round(c["N"]), 1.0)
        else:
            s = data_spread(real[label])
            out[label] = collapse_time(s["D"], s["N"], s["spread"])
    return out


def _row(label, kind, D, N, s, d_eff, tc, tc_eff, curve) -> dict:
    cr = crossings(curve)
    return {
        "data": label, "kind": kind, "D": D, "N per class": N, "spread s": s, "D_eff": d_eff,
        "t_c": tc, "t_c (D_eff)": tc_eff, "t_0.5": cr[0.5], "t_0.9": cr[0.9], "t_0.99": cr[0.99],
        "rel. error": (cr[0.5] - tc) / tc, "rel. error (D_eff)": (cr[0.5] - tc_eff) / tc_eff,
        "holds": criteria.collapse_time_predicts_t05(cr[0.5], tc).verdict == "reproduced",
    }  # fmt: skip


def prediction_table(synthetic: list[dict], real: dict[str, ImageData], real_curves: dict):
    """t_c against the measured t_0.5, one row per distinct synthetic (D, N) of ``synthetic``
    (curves) and per real data set (``real_curves[label]`` its curve).

    Returns:
        DataFrame with column ``kind`` ("synthetic" | "real") and :data:`COLUMNS`; ``holds``
        is :func:`.criteria.collapse_time_predicts_t05`.
    """
    rows, seen = [], set()
    for c in synthetic:
        key = (c["D"], round(c["N"]))
        if key in seen:
            continue
        seen.add(key)
        tc = collapse_time(c["D"], c["N"], 1.0)
        label = f"Gaussian D={c['D']}, N={round(c['N'])}"
        rows.append(_row(label, "synthetic", c["D"], c["N"], 1.0, float(c["D"]), tc, tc, c))
    for label, d in real.items():
        s = data_spread(d)
        tc = collapse_time(s["D"], s["N"], s["spread"])
        tc_eff = collapse_time(max(1, round(s["D_eff"])), s["N"], s["spread_eff"])
        rows.append(
            _row(label, "real", s["D"], s["N"], s["spread"], s["D_eff"], tc, tc_eff,
                 real_curves[label])
        )  # fmt: skip
    return pd.DataFrame(rows)[["kind"] + COLUMNS]


@dataclass
class PredictionSummary:
    """What the text says about the prediction (numbers and sentences to glue)."""

    syn_err_max: float
    syn_holds: int
    syn_total: int
    sign_sentence: str
    real_summary: str
    real_text: str
    ratio_min: float
    ratio_max: float
    D_paper: float
    tc_paper_D: float


def _sign_sentence(syn: pd.DataFrame) -> str:
    n_early = int((syn["rel. error"] < 0).sum())
    if n_early == len(syn):
        return (
            f"In all {len(syn)} configurations the measured half-collapse comes before t_c, as "
            "it should: t_c balances the own point against the average total weight of the "
            "others, which rare close points inflate, while the typical total is smaller (an "
            "annealed versus a quenched average)."
        )
    return f"The measured half-collapse comes before t_c in {n_early} of {len(syn)} configurations."


def _real_summary(rp: pd.DataFrame) -> str:
    holds = list(rp.loc[rp.holds, "data"])
    fails = [f"{r.data} ({r['rel. error']:+.0%})" for _, r in rp[~rp.holds].iterrows()]
    if not len(rp):
        return "could not be tested (no real data set available)"
    if not fails:
        return f"holds for every real data set ({', '.join(holds)})"
    if not holds:
        return f"misses for every real data set ({', '.join(fails)})"
    return f"holds for {', '.join(holds)} and misses for {', '.join(fails)}"


def _real_text(rp: pd.DataFrame, summary: str) -> str:
    if not len(rp):
        return "No real data set was available."
    lines = [f"Real data: the prediction {summary}."]
    mn = rp[rp.data == "MNIST-5k"]
    if len(mn) and bool(mn.holds.iloc[0]):
        m = mn.iloc[0]
        tc_unit = collapse_time(int(m.D), m["N per class"], 1.0)
        lines.append(
            f"The formula explains why MNIST-5k switches late: its within-class spread is only "
            f"s = {m['spread s']:.2f} against unit noise, so the signal-to-noise ratio "
            f"t s / (1 - t) reaches r late; with s = 1 its t_c would be {tc_unit:.3f} instead of "
            f"{m.t_c:.3f}."
        )
    shift = float(((rp["t_c (D_eff)"] - rp["t_c"]) / rp["t_c"]).abs().max())
    low = rp.loc[(rp.D_eff / rp.D).idxmin()]
    shape = (
        f"Real images are neither iid nor isotropic (e.g. {low.data}: D_eff = {low.D_eff:.0f} "
        f"for D = {int(low.D)}), yet replacing D and s by D_eff and s_eff moves the prediction "
        f"by at most {shift:.0%} here"
    )
    if shift <= 0.25:
        shape += ": at these sizes the total within-class variance, not its shape, sets the switch."
    else:
        shape += ": the shape of the spectrum matters."
    return " ".join(lines + [shape])


def prediction_summary(pred: pd.DataFrame) -> PredictionSummary:
    """Numbers and sentences about :func:`prediction_table`, plus the paper's ImageNet setting
    read through the formula (Figs. 2-3: D = 8192, N = 1400, split at t = 0.1)."""
    syn, rp = pred[pred.kind == "synthetic"], pred[pred.kind == "real"]
    ratio = (syn["t_0.99"] / syn["t_0.5"]).to_numpy()
    summary = _real_summary(rp)
    return PredictionSummary(
        syn_err_max=float(syn["rel. error"].abs().max()),
        syn_holds=int(syn.holds.sum()),
        syn_total=len(syn),
        sign_sentence=_sign_sentence(syn),
        real_summary=summary,
        real_text=_real_text(rp, summary),
        ratio_min=float(np.min(ratio)),
        ratio_max=float(np.max(ratio)),
        D_paper=collapse_dimension(paper.SPLIT_T, paper.IMAGENET_N_PER_CLASS, 1.0),
        tc_paper_D=collapse_time(paper.IMAGENET_D, paper.IMAGENET_N_PER_CLASS, 1.0),
    )
