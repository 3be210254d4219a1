"""Figures of Section 5 (compute lives in the sibling modules; these only draw)."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np

from flowstage_lib.experiments import paper
from flowstage_lib.tooling import plotting

__all__ = [
    "table2_figure",
    "table3_figure",
    "samples_figure",
    "figure8",
    "figure9",
    "figure12",
    "figure10",
]

SPACE_COLORS = {"pixels": "0.35", "recon": "C1", "aligned": "C2"}


def mark_stages(ax, t_ours: float, label: bool = True) -> None:
    """Shade our navigation stage [0, t_0.9); dotted: the paper's transition."""
    ax.axvspan(
        0,
        t_ours,
        color=plotting.STAGE_COLORS["navigation"],
        alpha=0.5,
        lw=0,
        label="our navigation stage" if label else None,
    )
    ax.axvline(
        paper.TRANSITION_T,
        color=plotting.PAPER_COLOR,
        ls=":",
        lw=1.2,
        label="paper's transition (0.1)" if label else None,
    )


def _shift_axis(ax, s_) -> None:
    ax.set_xscale("log")
    ax.set_xticks(sorted(s_))
    ax.set_xticklabels([f"{s:g}" for s in sorted(s_)])
    ax.minorticks_off()
    ax.invert_xaxis()


JUDGE_COLORS = {"A": plotting.OURS_COLOR, "B": "C3"}


def _rel(d: dict, base: float) -> tuple[float, list[float]]:
    """1 + delta / base and its (2,) asymmetric error bar, of a paired difference d."""
    v = 1 + d["delta"] / base
    return v, [(d["delta"] - d["low"]) / base, (d["high"] - d["delta"]) / base]


def table2_figure(t, t09: float):
    """Table 2: (a) each judge's FD relative to s = 1 (paired 95% intervals) and the paper's
    gFID, (b) where the steps go (the paper's column, Fig. 11)."""
    s_ = np.array([r["s"] for r in t.rows])
    p1 = paper.TABLE2_GFID[1.0]
    paper2 = np.array([paper.TABLE2_GFID.get(s, np.nan) for s in s_]) / p1
    fig, axes = plt.subplots(1, 2, figsize=(10.5, 3.7), layout="constrained")
    ax = axes[0]
    for k, j in enumerate(t.verdicts):
        if j == "both":
            continue
        fd1 = t.scores[t.rows[[r["s"] for r in t.rows].index(1.0)]["label"]][j]["fd"]
        zero = {"delta": 0.0, "low": 0.0, "high": 0.0}
        vals = [_rel(t.diffs.get(s, {j: {"fd": zero}})[j]["fd"], fd1) for s in s_]
        ax.errorbar(s_ * (1.04 if k else 0.96), [v for v, _ in vals],
                    yerr=np.array([e for _, e in vals]).T, fmt="o-", capsize=3,
                    color=JUDGE_COLORS.get(j), label=f"ours, judge {j} (paired CI)")  # fmt: skip
    ax.plot(s_, paper2, "s--", color=plotting.PAPER_COLOR, label="paper: gFID")
    ax.axhline(1.0, color="k", lw=0.6)
    _shift_axis(ax, s_)
    ax.set(
        xlabel="timestep shift s  (more navigation steps to the right)",
        ylabel="distance / its value at s = 1",
        title="(a) sample quality vs shift (Table 2)",
    )
    ax.legend(fontsize=8)
    ax = axes[1]
    ax.plot(
        s_,
        [r["share_02"] for r in t.rows],
        "o-",
        color=plotting.PAPER_COLOR,
        label="steps in [0, 0.2)  (paper's column)",
    )
    ax.plot(
        s_,
        [r["share_nav"] for r in t.rows],
        "o-",
        color=plotting.OURS_COLOR,
        label=f"steps in our navigation [0, {t09:.2f})",
    )
    ax.plot(
        list(paper.TABLE2_SHARE),
        list(paper.TABLE2_SHARE.values()),
        "kx",
        ms=9,
        mew=1.5,
        label="paper's column (Fig. 11)",
    )
    _shift_axis(ax, s_)
    ax.set_ylim(0, 1.05)
    ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:.0%}"))
    ax.set(
        xlabel="timestep shift s", ylabel="share of the Euler steps", title="(b) where the steps go"
    )
    ax.legend(fontsize=8, loc="upper left")
    return fig


def table3_figure(t, scale: float, t09: float):
    """Table 3: (a) all 22 rows relative to no guidance (pre-registered placement: paired 95%
    intervals per judge; absolute placement: points, contrast), (b) the short rows along t."""
    labels = [r["label"] for r in t.rows]
    paper3 = np.array([r["paper_fd"] for r in t.rows])
    zero = {"delta": 0.0, "low": 0.0, "high": 0.0}
    fig, axes = plt.subplots(
        1, 2, figsize=(11.5, 6.2), layout="constrained", gridspec_kw={"width_ratios": [1.25, 1]}
    )
    ax, yy = axes[0], np.arange(len(labels))[::-1]
    ax.plot(paper3 / paper3[0], yy, "s", color=plotting.PAPER_COLOR, label="paper (gFID)")
    short = [
        i
        for i, r in enumerate(t.rows)
        if not math.isnan(r["a"]) and abs(r["b"] - r["a"] - 0.1) < 1e-9
    ]
    for off, j in zip((0.2, -0.2), t.judges, strict=False):
        f0 = t.scores["none"][j]["fd"]
        vals = [_rel(t.diffs.get(lab, {j: {"fd": zero}})[j]["fd"], f0) for lab in labels]
        ax.errorbar([v for v, _ in vals], yy + off, xerr=np.array([e for _, e in vals]).T,
                    fmt="o", ms=4, color=JUDGE_COLORS.get(j), capsize=2,
                    label=f"ours, relative (judge {j})")  # fmt: skip
        fa = np.array([t.abs_scores[lab][j]["fd"] for lab in labels])
        ax.plot(fa / fa[0], yy + off / 2, "x", ms=4, color=JUDGE_COLORS.get(j), alpha=0.6,
                label=f"absolute times, contrast (judge {j})")  # fmt: skip
        if off > 0:
            pa = np.array([t.rows[i]["a"] for i in short])
            axes[1].plot(pa + 0.05, paper3[short] / paper3[0], "s--",
                         color=plotting.PAPER_COLOR, label="paper (at its times)")  # fmt: skip
        rr = [t.rows[i] for i in short]
        mid = np.array([(r["run_a"] + r["run_b"]) / 2 for r in rr])
        v2 = [vals[i] for i in short]
        axes[1].errorbar(mid, [v for v, _ in v2], yerr=np.array([e for _, e in v2]).T, fmt="o-",
                         ms=4, color=JUDGE_COLORS.get(j), capsize=2,
                         label=f"ours, judge {j} (at executed times)")  # fmt: skip
    ax.axvline(1.0, color="k", lw=0.6)
    ax.set_yticks(yy, labels)
    ax.set(xlabel="distance / its value without guidance",
           title=f"(a) all 22 intervals (scale {scale:g})")  # fmt: skip
    ax.legend(fontsize=7, loc="lower right")
    ax = axes[1]
    mark_stages(ax, t09)
    ax.axvspan(*t.t_interval, color="0.5", alpha=0.15, lw=0, label="95% interval of t_0.9")
    ax.axhline(1.0, color="k", lw=0.6)
    ax.set_xlim(0, 1)
    ax.set(
        xlabel="midpoint of the 0.1-wide interval (paper: [a, a + 0.1])",
        ylabel="distance / its value without guidance",
        title="(b) short intervals along t (pre-registered placement)",
    )
    ax.legend(fontsize=8, loc="lower right")
    return fig


def samples_figure(sets: dict, n_show: int):
    """One row of samples per titled sample set."""
    fig, axes = plt.subplots(
        len(sets), 1, figsize=(9, 0.72 * len(sets) + 0.2), layout="constrained"
    )
    for ax, (title, s) in zip(np.atleast_1d(axes), sets.items(), strict=True):
        plotting.image_grid(ax, s["x"][:n_show], nrow=1)
        ax.set_title(title, fontsize=9, loc="left")
        for spine in ax.spines.values():
            spine.set_visible(False)
    return fig


def figure8(profiles: dict, t09: float):
    """Fig. 8: (a) velocity norm per guidance scale, (b) ||v_c - v_u|| without guidance."""
    fig, axes = plt.subplots(1, 2, figsize=(10.5, 3.7), layout="constrained")
    ax = axes[0]
    for (w, p), col in zip(profiles.items(), (plotting.OURS_COLOR, "C3"), strict=False):
        t = np.asarray(p["t"])
        ax.plot(
            t, p["v_mean"], color=col, label="no guidance" if w == 1.0 else f"CFG {w:g} on [0, 1]"
        )
        ax.fill_between(t, p["v_q10"], p["v_q90"], color=col, alpha=0.15, lw=0)
    ax.axvline(
        paper.VELOCITY_PEAK_T,
        color=plotting.PAPER_COLOR,
        lw=6,
        alpha=0.3,
        label="paper's peak (~0.4)",
    )
    mark_stages(ax, t09)
    ax.set(
        xlim=(0, 1),
        xlabel="t",
        ylabel=r"$\|v(x_t, t)\| / \sqrt{D}$  (mean, 10-90%)",
        title="(a) norm of the predicted velocity (Fig. 8a)",
    )
    ax.legend(fontsize=8)
    ax, p = axes[1], profiles[1.0]
    t = np.asarray(p["t"])
    ax.plot(t, p["div_mean"], color=plotting.OURS_COLOR, label=r"$\|v_c - v_u\|$")
    ax.fill_between(t, p["div_q10"], p["div_q90"], color=plotting.OURS_COLOR, alpha=0.15, lw=0)
    ax.plot(
        t,
        (1 - t) * np.asarray(p["div_mean"]),
        "--",
        color=plotting.OURS_COLOR,
        label=r"$(1 - t)\,\|v_c - v_u\| = \|\hat x_{1,c} - \hat x_{1,u}\|$",
    )
    mark_stages(ax, t09, label=False)
    ax.set(
        xlim=(0, 1),
        xlabel="t",
        ylabel=r"divergence / $\sqrt{D}$",
        title="(b) conditional vs unconditional (Fig. 8b)",
    )
    ax.legend(fontsize=8)
    return fig


def figure9(losses: dict, trans: dict):
    """Fig. 9: the oracle loss per t of every checkpoint, per space."""
    fig, axes = plt.subplots(1, len(losses), figsize=(12, 3.7), layout="constrained")
    cmap = plt.get_cmap("viridis")
    for ax, (k, L) in zip(axes, losses.items(), strict=True):
        steps = L["steps"]
        for j, (s, curve) in enumerate(zip(steps, L["oracle"], strict=True)):
            ax.plot(
                L["t"],
                curve,
                color=cmap(j / max(len(steps) - 1, 1)),
                lw=1.2,
                label=f"step {s}" if j in (0, len(steps) - 1) else None,
            )
        ax.axvspan(
            0,
            trans[k],
            color=plotting.STAGE_COLORS["navigation"],
            alpha=0.5,
            lw=0,
            label="navigation (this space)",
        )
        ax.set(
            yscale="log",
            xlim=(0, 1),
            xlabel="t",
            title=f"{k}" + ("" if k == "pixels" else " latent"),
        )
        ax.legend(fontsize=7, loc="upper left")
    axes[0].set_ylabel("MSE to the oracle velocity (per dim.)")
    fig.suptitle("Fig. 9: oracle loss per t over training (colour: training step)", fontsize=10)
    return fig


def _fd_curve(ax, rows, color, label, marker="o-") -> None:
    st = [r["step"] for r in rows]
    ax.plot(st, [r["fd"] for r in rows], marker, color=color, ms=4, label=label)
    ax.fill_between(
        st, [r["fd_low"] for r in rows], [r["fd_high"] for r in rows], color=color, alpha=0.2, lw=0
    )


def figure12(fdc: dict, floor: dict, n: int):
    """Fig. 12: FD over training per space, with the autoencoder and real-image floors."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.9), layout="constrained")
    for ax, ks, log in ((axes[0], list(fdc), True), (axes[1], ["recon", "aligned"], False)):
        for k in ks:
            _fd_curve(ax, fdc[k], SPACE_COLORS[k], k)
            if k in floor:
                ax.axhline(
                    floor[k]["fd"],
                    color=SPACE_COLORS[k],
                    ls=":",
                    lw=1.2,
                    label=f"{k}: autoencoder reconstructions of real images",
                )
        ax.axhline(floor["real"]["fd"], color="k", ls=":", lw=1.2, label="real unseen images")
        if log:
            ax.set_yscale("log")
        else:
            ax.set_ylim(0, None)
        ax.set(xlabel="training step", ylabel=f"FD of {n} samples (95% CI)")
    axes[0].set_title("(a) all spaces (log scale)")
    axes[1].set_title("(b) the two latent spaces")
    axes[0].legend(fontsize=7, loc="center right")
    axes[1].legend(fontsize=7, loc="upper right")
    fig.suptitle("Fig. 12: sample quality over training, per space", fontsize=10)
    return fig


def figure10(fd_cfm: list, fd_oracle: list, n: int, size: str):
    """Fig. 10: FD over training, oracle vs CFM target."""
    fig, ax = plt.subplots(figsize=(6.4, 3.7), layout="constrained")
    _fd_curve(ax, fd_cfm, plotting.OURS_COLOR, "CFM target x1 - x0")
    _fd_curve(ax, fd_oracle, "C3", "oracle target u*")
    ax.set(
        xlabel="training step",
        ylabel=f"FD of {n} samples (95% CI)",
        title=f"Fig. 10: oracle vs CFM target ({size} model, pixels)",
    )
    ax.legend(fontsize=8)
    return fig
