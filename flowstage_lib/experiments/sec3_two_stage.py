"""Section 3 of the book: the two-stage target (Figs. 2-3).

- :func:`load_real`: the real data sets of Fig. 2 (absent ones named, not fatal).
- :func:`figure2_curves`, :func:`figure2_table`: the class-conditional oracle's MSE to the CFM
  target and top-1 posterior weight along t (Fig. 2a-b; real data measured by
  :func:`flowstage_lib.analyze.analyze`), and their crossing times;
  :func:`figure2_summary` the numbers the Fig. 2 criteria test.
- :func:`figure3`: the same on unit-Gaussian data for several D and N (Fig. 3a-b).
- Sentences and comparison tables that depend on the results (glued into the notebook).

The collapse-time prediction (beyond the paper) is in :mod:`.sec3_collapse`; the verdict rules
in :mod:`.criteria`; the plots in :mod:`.plots_sec3`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from flowstage_lib.data import ImageData, load_arrays, load_dataset
from flowstage_lib.experiments import criteria, paper
from flowstage_lib.experiments.curves import analyze_curves, crossings, synthetic_curves

__all__ = [
    "LABELS",
    "load_real",
    "availability_note",
    "synthetic_label",
    "figure2_curves",
    "mse_share",
    "figure2_table",
    "Figure2Summary",
    "figure2_summary",
    "shape_sentence",
    "real_sentence",
    "figure2_comparison",
    "Figure3",
    "figure3",
    "figure3_comparison",
    "figure3_glue",
]

LABELS = {
    "mnist5k": "MNIST-5k",
    "fashion_mnist": "Fashion-MNIST",
    "digits": "digits",
    "mnist_test": "MNIST test",
}


def load_real(
    names: Sequence[str], latents_path: str | None = None
) -> tuple[dict[str, ImageData], list[str]]:
    """The real data sets of Fig. 2 by display label, plus the names not installed here (and
    the reader's own latents, when ``latents_path`` is given)."""
    real, absent = {}, []
    for name in names:
        try:
            real[LABELS.get(name, name)] = load_dataset(name)
        except FileNotFoundError:  # not installed here: named by availability_note
            absent.append(name)
    if latents_path is not None:
        real[f"your data ({Path(latents_path).name})"] = load_arrays(latents_path)
    return real, absent


def availability_note(absent: Sequence[str]) -> str:
    """A Markdown sentence naming the data sets that are not installed (and how to get them)."""
    notes = []
    if "fashion_mnist" in absent:
        notes.append(
            "**Fashion-MNIST is not installed on this machine** and is left out. Install "
            "it with `apt-get install dataset-fashion-mnist` (Debian / Ubuntu), or point "
            "`$FLOWSTAGE_FASHION_DIR` at a folder with its idx files, and re-run."
        )
    others = [a for a in absent if a != "fashion_mnist"]
    if others:
        notes.append(f"Not available here and left out: {', '.join(others)}.")
    return " ".join(notes) if notes else "Every requested data set is present."


def synthetic_label(D: int, N: int) -> str:
    """Display label of the unit-Gaussian set of Fig. 2."""
    return f"Gaussian D={D}, N={N}"


def figure2_curves(
    real: dict[str, ImageData], t: Sequence[float], n_queries: int, seed: int, D: int, N: int
) -> dict[str, dict]:
    """Fig. 2 curves: the class-conditional oracle on every real set, measured by
    :func:`flowstage_lib.analyze.analyze` (what ``flowstage analyze`` reports), then
    unit-Gaussian data of dimension ``D`` with ``N`` points (one class); {label: curve}
    (see :mod:`.curves`)."""
    out = {label: analyze_curves(d, t, n_queries, seed) for label, d in real.items()}
    out[synthetic_label(D, N)] = synthetic_curves(D, N, t, n_queries, seed)
    return out


def mse_share(curve: dict, t_end: float = paper.SPLIT_T) -> float:
    """Share of the area under MSE(t) on [0, t_max] (t_max: the grid's end) that lies in
    [0, t_end] (Fig. 2a), by the trapezoid rule on 4001 points of the interpolated curve."""
    tt = np.linspace(0.0, curve["t"][-1], 4001)
    m = np.interp(tt, curve["t"], curve["mse"])
    return float(np.trapezoid(m[tt <= t_end], tt[tt <= t_end]) / np.trapezoid(m, tt))


def figure2_table(curves: dict[str, dict]) -> pd.DataFrame:
    """One row per data set: D, N per class, t_0.5, t_0.9 (the stage split), t_0.99 and the MSE
    share in t <= 0.1."""
    rows = []
    for label, c in curves.items():
        cr = crossings(c)
        rows.append(
            {
                "data": label,
                "D": c["D"],
                "N per class": round(c["N"]),
                "t_0.5": cr[0.5],
                "t_0.9 (split)": cr[0.9],
                "t_0.99": cr[0.99],
                "MSE share in t <= 0.1": mse_share(c),
            }
        )
    return pd.DataFrame(rows)


@dataclass
class Figure2Summary:
    """The numbers the Fig. 2 criteria test (synthetic set of the paper's size vs real data).

    Attributes:
        share_syn, share_real: MSE share in t <= 0.1 (Fig. 2a), real: one per real set.
        t99_syn, t99_real: first t with top-1 >= 0.99 (Fig. 2b); t9_syn: the synthetic split.
        late: real sets that saturate only after t = 0.2, as "name (t_0.99)" strings.
    """

    share_syn: float
    share_real: list[float]
    t99_syn: float
    t99_real: list[float]
    t9_syn: float
    late: list[str]

    @property
    def share_real_min(self) -> float:
        return float(np.nanmin(self.share_real)) if self.share_real else float("nan")

    @property
    def t99_real_max(self) -> float:
        return float(np.nanmax(self.t99_real)) if self.t99_real else float("nan")


def figure2_summary(table: pd.DataFrame, syn_label: str) -> Figure2Summary:
    """Split :func:`figure2_table` into the synthetic row and the real rows."""
    syn = table[table.data == syn_label].iloc[0]
    real = table[table.data != syn_label]
    return Figure2Summary(
        share_syn=float(syn["MSE share in t <= 0.1"]),
        share_real=[float(v) for v in real["MSE share in t <= 0.1"]],
        t99_syn=float(syn["t_0.99"]),
        t99_real=[float(v) for v in real["t_0.99"]],
        t9_syn=float(syn["t_0.9 (split)"]),
        late=[
            f"{r.data} ({r['t_0.99']:.2f})" for _, r in real.iterrows() if not r["t_0.99"] <= 0.2
        ],
    )


def shape_sentence(curves: dict[str, dict]) -> str:
    """Where the two stages show (criterion :func:`.criteria.fig2_two_stages` per data set)."""
    ok = {k: criteria.fig2_two_stages({k: c}).verdict == "reproduced" for k, c in curves.items()}
    if all(ok.values()):
        return f"on all {len(ok)} data sets"
    missing = ", ".join(k for k, v in ok.items() if not v)
    return f"on {sum(ok.values())} of {len(ok)} data sets (not on: {missing})"


def real_sentence(s: Figure2Summary) -> str:
    """What the real data sets do relative to the paper's saturation by t = 0.2."""
    if not s.share_real:
        return "No real data set was available."
    if s.late:
        return (
            f"The real data sets that saturate only after t = 0.2 are: {', '.join(s.late)}; the "
            "last section compares their switch with the collapse time computed from their "
            "dimension, size and spread."
        )
    return "Every real data set also saturates by t = 0.2."


def figure2_comparison(
    s: Figure2Summary, table: pd.DataFrame, syn_label: str, verdict_2a: str, verdict_2b: str
) -> pd.DataFrame:
    """The paper's Fig. 2 statements beside ours, with the verdicts."""
    splits = "; ".join(f"{r.data}: {r['t_0.9 (split)']:.3f}" for _, r in table.iterrows())
    return pd.DataFrame(
        [
            {
                "quantity": "share of the MSE area in t <= 0.1 (Fig. 2a)",
                "paper": "concentrated in [0, 0.1]",
                "ours": f"{syn_label}: {s.share_syn:.2f}; real data: >= {s.share_real_min:.2f}",
                "verdict": verdict_2a,
            },
            {
                "quantity": "t where top-1 >= 0.99 (Fig. 2b)",
                "paper": "just after 0.1",
                "ours": f"{syn_label}: {s.t99_syn:.3f}; real data: <= {s.t99_real_max:.2f}",
                "verdict": verdict_2b,
            },
            {
                "quantity": "stage split t_0.9",
                "paper": "~0.1 (ImageNet, VA-VAE)",
                "ours": splits,
                "verdict": "(compared in the last section)",
            },
        ]
    )


@dataclass
class Figure3:
    """Fig. 3 on unit-Gaussian data (one class).

    Attributes:
        by_D: {D: curve} at N = N_a (Fig. 3a); by_N: {N: curve} at D = D_b (Fig. 3b).
        crossings_by_D, crossings_by_N: {key: {level: t_level}}.
        table: one row per curve: panel, D, N, t_0.5, t_0.9, t_0.99, predicted t_c.
    """

    by_D: dict[int, dict]
    by_N: dict[int, dict]
    crossings_by_D: dict[int, dict[float, float]]
    crossings_by_N: dict[int, dict[float, float]]
    table: pd.DataFrame


def figure3(
    t: Sequence[float],
    dims: Sequence[int],
    dims_N: int,
    ns: Sequence[int],
    ns_D: int,
    n_queries: int,
    seed: int,
) -> Figure3:
    """Fig. 3: top-1 curves for D in ``dims`` at N = ``dims_N`` (a) and N in ``ns`` at
    D = ``ns_D`` (b), their crossing times and the predicted collapse times t_c."""
    from flowstage_lib.oracle.transition import collapse_time

    by_D = {D: synthetic_curves(D, dims_N, t, n_queries, seed) for D in dims}
    by_N = {N: synthetic_curves(ns_D, N, t, n_queries, seed) for N in ns}
    cr_D = {D: crossings(c) for D, c in by_D.items()}
    cr_N = {N: crossings(c) for N, c in by_N.items()}
    rows = []
    for panel, dct, cr in (("3a", by_D, cr_D), ("3b", by_N, cr_N)):
        for key, c in dct.items():
            rows.append(
                {"panel": panel, "D": c["D"], "N": c["N"], "t_0.5": cr[key][0.5],
                 "t_0.9": cr[key][0.9], "t_0.99": cr[key][0.99],
                 "predicted t_c": collapse_time(c["D"], c["N"], 1.0)}
            )  # fmt: skip
    return Figure3(by_D, by_N, cr_D, cr_N, pd.DataFrame(rows))


def figure3_comparison(
    f: Figure3, v3a: criteria.Verdict, v3b: criteria.Verdict, dims_N: int, ns_D: int
) -> pd.DataFrame:
    """The paper's Fig. 3 statements beside our t_0.9 per D and per N, with the verdicts."""
    keys_D, keys_N = sorted(f.by_D), sorted(f.by_N)
    t9_D = ", ".join(f"{f.crossings_by_D[k][0.9]:.3f}" for k in keys_D)
    t9_N = ", ".join(f"{f.crossings_by_N[k][0.9]:.3f}" for k in keys_N)
    return pd.DataFrame(
        [
            {
                "quantity": f"t_0.9 for D = {', '.join(map(str, keys_D))} (N = {dims_N})",
                "paper": "larger D saturates earlier (Fig. 3a)",
                "ours": f"{t9_D} (strictly decreasing at levels {v3a.evidence})",
                "verdict": v3a.verdict,
            },
            {
                "quantity": f"t_0.9 for N = {', '.join(map(str, keys_N))} (D = {ns_D})",
                "paper": "larger N delays saturation (Fig. 3b)",
                "ours": f"{t9_N} (strictly increasing at levels {v3b.evidence})",
                "verdict": v3b.verdict,
            },
        ]
    )


def compute(P) -> None:
    """Section 3 without the notebook (``flowstage compute sec3_two_stage``): the cached curves
    of Figs. 2 and 3 and of Fig. 2a's late window at parameters ``P``, with the notebook's
    arguments (the clock calibration caches nothing)."""
    from flowstage_lib.experiments.curves import t_grid
    from flowstage_lib.experiments.sec3_late_mse import late_for
    from flowstage_lib.tooling.progress import stage

    real, _ = load_real(P.datasets, getattr(P, "latents_path", None))
    t = t_grid(P.n_t_log, P.n_t_lin)
    with stage("Fig. 2 curves"):
        figure2_curves(real, t, P.n_queries, P.seed, P.synthetic_D, P.synthetic_N)
    with stage("Fig. 3 curves"):
        figure3(t, P.fig3_dims, P.fig3_dims_N, P.fig3_ns, P.fig3_ns_D, P.n_queries, P.seed)
    with stage("Fig. 2a near t -> 1, float32 and float64"):
        late_for(real, synthetic_label(P.synthetic_D, P.synthetic_N), P)


def record_figure2_claims(results, f2, SYN, v2a, v2b) -> None:
    """Record this figure's claims in ``results`` (a ``tooling.book.Results``)."""
    results.claim(
        "fig2a_mse_early",
        "The gap between the oracle velocity and the CFM target is concentrated in t in [0, 0.1]",
        "Fig. 2a: divergence concentrated in [0, 0.1] (ImageNet)",
        f"share of the MSE area in t <= 0.1: {f2.share_syn:.2f} ({SYN}), >= "
        f"{f2.share_real_min:.2f} on real data",
        v2a.verdict,
        kind=v2a.kind,
        criterion=v2a.test,
    )
    results.claim(
        "fig2b_saturation",
        "The top-1 posterior weight saturates to 1 just after t = 0.1",
        "Fig. 2b: saturation just after t = 0.1 (ImageNet)",
        f"top-1 >= 0.99 at t = {f2.t99_syn:.3f} ({SYN}); real data up to t = {f2.t99_real_max:.2f}",
        v2b.verdict,
        kind=v2b.kind,
        criterion=v2b.test,
    )


def figure3_glue(f: Figure3, v3a: criteria.Verdict, v3b: criteria.Verdict) -> dict:
    """The numbers the notebook's Fig. 3 paragraph reads: verdicts, first and last t_0.9."""
    keys_D, keys_N = sorted(f.by_D), sorted(f.by_N)
    t9_D = [f.crossings_by_D[k][0.9] for k in keys_D]
    t9_N = [f.crossings_by_N[k][0.9] for k in keys_N]
    return {
        "verdict_3a": v3a.verdict, "verdict_3b": v3b.verdict,
        "t9_D_first": t9_D[0], "t9_D_last": t9_D[-1], "t9_N_first": t9_N[0],
        "t9_N_last": t9_N[-1], "D_first": keys_D[0], "D_last": keys_D[-1],
        "N_first": keys_N[0], "N_last": keys_N[-1],
    }  # fmt: skip


def record_figure3_claims(results, f: Figure3, v3a, v3b) -> None:
    """Record this figure's claims in ``results`` (a ``tooling.book.Results``)."""
    keys_D, keys_N = sorted(f.by_D), sorted(f.by_N)
    t9_D = [f.crossings_by_D[k][0.9] for k in keys_D]
    t9_N = [f.crossings_by_N[k][0.9] for k in keys_N]
    results.claim(
        "fig3a_dimension",
        "Larger data dimension D makes the top-1 weight saturate earlier",
        "Fig. 3a (synthetic Gaussian)",
        f"t_0.9 = {', '.join(f'{v:.3f}' for v in t9_D)} for D = {', '.join(map(str, keys_D))}",
        v3a.verdict,
        kind=v3a.kind,
        criterion=v3a.test,
    )
    results.claim(
        "fig3b_size",
        "More training points N delay the saturation of the top-1 weight",
        "Fig. 3b (synthetic Gaussian)",
        f"t_0.9 = {', '.join(f'{v:.3f}' for v in t9_N)} for N = {', '.join(map(str, keys_N))}",
        v3b.verdict,
        kind=v3b.kind,
        criterion=v3b.test,
    )
