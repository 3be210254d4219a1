"""The figures of Section 3 (plotting only; the numbers come from :mod:`.sec3_two_stage` and
:mod:`.sec3_collapse`)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import numpy as np
import pandas as pd

from flowstage_lib.experiments import paper
from flowstage_lib.experiments.curves import crossings
from flowstage_lib.tooling import plotting

__all__ = ["figure2", "figure3", "late_mse_figure", "prediction_figure"]


def _paper_split(ax, t_first: float) -> None:
    ax.set_xscale("log")
    ax.set_xlim(t_first, 1)
    ax.axvline(paper.SPLIT_T, color=plotting.PAPER_COLOR, lw=6, alpha=0.25)
    ax.set_xlabel("t (log scale)")


def figure2(curves: dict[str, dict], t_c: dict[str, float]):
    """Fig. 2: (a) MSE(u*, x1 - x0) over its t = 0 value, (b) mean top-1 weight (+-2 SE) with
    the stage split t_0.9 (dots) and the predicted collapse time t_c (dashed), log t axis."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.9), layout="constrained")
    for i, (label, c) in enumerate(curves.items()):
        t = np.asarray(c["t"])[1:]  # t = 0 is off a log axis
        mse = np.asarray(c["mse"])
        top1, se = np.asarray(c["top1"])[1:], np.asarray(c["top1_se"])[1:]
        col = f"C{i}"
        axes[0].plot(t, mse[1:] / mse[0], color=col, label=label)
        axes[1].plot(t, top1, color=col, label=label)
        axes[1].fill_between(t, top1 - 2 * se, top1 + 2 * se, color=col, alpha=0.2, lw=0)
        t9 = crossings(c)[0.9]
        if np.isfinite(t9):
            axes[1].plot([t9], [0.9], "o", color=col, ms=5)
        axes[1].axvline(t_c[label], color=col, ls="--", lw=1, alpha=0.8)
    for ax in axes:
        _paper_split(ax, next(iter(curves.values()))["t"][1])
    axes[0].set_ylabel(r"MSE$(u^*, x_1 - x_0)$ / its value at $t = 0$")
    axes[0].set_title("(a) oracle vs CFM target (Fig. 2a)")
    axes[0].legend(fontsize=8, loc="lower left")
    axes[1].set_ylabel("mean top-1 posterior weight (±2 SE)")
    axes[1].set_title("(b) top-1 posterior weight (Fig. 2b)")
    axes[1].plot([], [], color=plotting.PAPER_COLOR, lw=6, alpha=0.25,
                 label="paper's split (ImageNet)")  # fmt: skip
    axes[1].plot([], [], "ko", ms=5, label="stage split $t_{0.9}$")
    axes[1].plot([], [], "k--", lw=1, label="predicted collapse $t_c$")
    axes[1].legend(fontsize=8, loc="upper left")
    return fig


def figure3(by_D: dict[int, dict], by_N: dict[int, dict], dims_N: int, ns_D: int):
    """Fig. 3: the mean top-1 weight for several D at N = ``dims_N`` (a) and several N at
    D = ``ns_D`` (b), with the predicted collapse times (dashed)."""
    from flowstage_lib.oracle.transition import collapse_time

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.9), layout="constrained", sharey=True)
    panels = (
        (axes[0], by_D, "D = {}", f"(a) N = {dims_N}: larger D saturates earlier"),
        (axes[1], by_N, "N = {}", f"(b) D = {ns_D}: larger N saturates later"),
    )
    for ax, dct, fmt, title in panels:
        keys = sorted(dct)
        for i, key in enumerate(keys):
            c = dct[key]
            col = plt.get_cmap("viridis")(i / max(len(keys) - 1, 1) * 0.85)
            ax.plot(np.asarray(c["t"])[1:], np.asarray(c["top1"])[1:], color=col,
                    label=fmt.format(key))  # fmt: skip
            ax.axvline(collapse_time(c["D"], c["N"], 1.0), color=col, ls="--", lw=1)
        _paper_split(ax, dct[keys[0]]["t"][1])
        ax.set_title(title)
        ax.plot([], [], "k--", lw=1, label="predicted $t_c$")
        ax.plot([], [], color=plotting.PAPER_COLOR, lw=6, alpha=0.25,
                label="paper's split (ImageNet)")  # fmt: skip
        ax.legend(fontsize=8, loc="upper left")
    axes[0].set_ylabel("mean top-1 posterior weight")
    return fig


def late_mse_figure(late: dict, rel_tol: float = 1e-3):
    """Fig. 2a near t -> 1: MSE(u*, x1 - x0) over its t = 0 value against 1 - t (log-log),
    float32 library path (solid) and float64 re-derivation (dashed), same queries; the dotted
    line is the criterion's threshold. ``late``: {label: :class:`.sec3_late_mse.LateMSE`}."""
    fig, ax = plt.subplots(figsize=(6.2, 3.9), layout="constrained")
    for i, (label, c) in enumerate(late.items()):
        x = 1.0 - np.asarray(c.t)
        for m, ls, dt in ((c.mse32, "-", "float32"), (c.mse64, "--", "float64")):
            y = np.asarray(m) / c.mse0
            ax.plot(x, np.where(y > 0, y, np.nan), ls, color=f"C{i}", label=f"{label}, {dt}")
    ax.axhline(rel_tol, color="k", ls=":", lw=1, label="criterion: a visible rise")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.invert_xaxis()  # t grows to the right
    ax.set_xlabel("1 - t (log scale; t -> 1 to the right)")
    ax.set_ylabel(r"MSE$(u^*, x_1 - x_0)$ / its value at $t = 0$")
    ax.legend(fontsize=7, ncol=2, loc="center left")
    return fig


def prediction_figure(pred: pd.DataFrame):
    """Measured t_0.5 against the predicted t_c (log-log, +-25% band): synthetic sets, real sets
    with (D, s) and with (D_eff, s_eff). ``pred``: :func:`.sec3_collapse.prediction_table`."""
    fig, ax = plt.subplots(figsize=(5.2, 4.2), layout="constrained")
    lo = 0.7 * min(pred[["t_c", "t_0.5", "t_c (D_eff)"]].min())
    hi = 1.4 * max(pred[["t_c", "t_0.5", "t_c (D_eff)"]].max())
    xx = np.geomspace(lo, hi, 50)
    ax.plot(xx, xx, "k-", lw=0.8, label="measured = predicted")
    ax.fill_between(xx, 0.75 * xx, 1.25 * xx, color="0.85", label="±25%")
    syn, rl = pred[pred.kind == "synthetic"], pred[pred.kind == "real"]
    ax.scatter(syn["t_c"], syn["t_0.5"], color="C0", label="synthetic Gaussian", zorder=3)
    ax.scatter(rl["t_c"], rl["t_0.5"], color="C3", marker="s", label="real data, D and s",
               zorder=3)  # fmt: skip
    ax.scatter(rl["t_c (D_eff)"], rl["t_0.5"], facecolor="none", edgecolor="C3", marker="s",
               label="real data, $D_{eff}$ and $s_{eff}$", zorder=3)  # fmt: skip
    for _, r in rl.iterrows():
        ax.annotate(r.data, (r["t_c"], r["t_0.5"]), fontsize=7, xytext=(4, -10),
                    textcoords="offset points")  # fmt: skip
    ticks = [v for v in (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0) if lo <= v <= hi]
    ax.set_xscale("log")
    ax.set_yscale("log")
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_locator(mticker.FixedLocator(ticks))
        axis.set_major_formatter(mticker.FormatStrFormatter("%g"))
        axis.set_minor_formatter(mticker.NullFormatter())
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_xlabel("predicted collapse time $t_c$")
    ax.set_ylabel("measured $t_{0.5}$")
    ax.legend(fontsize=7, loc="upper left")
    return fig
