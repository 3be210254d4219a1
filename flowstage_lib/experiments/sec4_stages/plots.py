"""Figures of Section 4 (compute lives in the sibling modules; these only draw)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import numpy as np
import torch
from matplotlib.patches import Patch

from flowstage_lib.experiments import paper
from flowstage_lib.experiments._shared import from_u8
from flowstage_lib.tooling import plotting

__all__ = ["figure4", "figure5", "figure13", "figure6", "figure7", "table1_figure"]

MEMORIZED, NOVEL = "#d62728", "#2ca02c"


def band(ax, x, lo, hi, color) -> None:
    """A 95% interval band around a curve."""
    ax.fill_between(x, lo, hi, color=color, alpha=0.2, lw=0)


def mark_times(ax, ours=None, paper_t=paper.TABLE1_SPLITS, label=True) -> None:
    """Grey: the paper's times; dashed: our transition t_0.9."""
    for i, tp in enumerate(paper_t):
        lab = "paper's split (ImageNet)" if label and i == 0 else None
        ax.axvline(tp, color=plotting.PAPER_COLOR, lw=5, alpha=0.25, label=lab)
    if ours is not None and np.isfinite(ours):
        lab = "our transition $t_{0.9}$" if label else None
        ax.axvline(ours, color="k", ls="--", lw=1, label=lab)


def _strip(ax, frames: torch.Tensor, rows: int, labels: list[str]) -> None:
    """Rows x columns of uint8 images frames (rows, cols, C, H, W), columns labelled."""
    plotting.image_grid(ax, from_u8(frames.flatten(0, 1)), nrow=rows)
    h = frames.shape[-1] + 1
    ax.set_xticks([h * (i + 0.5) for i in range(len(labels))], labels, fontsize=8)


def figure4(ip: dict, f, rows: int, t09: float, title: str):
    """Fig. 4: (a) x1_hat(t) at t = 0, 0.1, ..., 0.9 and the final sample; (b) distances."""
    show_t = [round(0.1 * k, 1) for k in range(10)]
    cols = [int(np.argmin(np.abs(f.t - tt))) for tt in show_t]
    frames = torch.stack([ip["x1_hat"][c, :rows] for c in cols] + [ip["x1"][:rows]], 1)
    fig, axes = plt.subplots(
        1,
        2,
        figsize=(12, 0.52 * rows + 1.2),
        layout="constrained",
        gridspec_kw={"width_ratios": [1.55, 1]},
    )
    _strip(axes[0], frames, rows, [f"{t:.1f}" for t in show_t] + ["1 (final)"])
    h = frames.shape[-1] + 1
    axes[0].set_yticks(
        [h * (i + 0.5) for i in range(rows)], [str(int(c)) for c in ip["y"][:rows]], fontsize=8
    )
    axes[0].set_xlabel(r"t of the prediction $\hat x_1(t) = x_t + (1 - t)\,v$")
    axes[0].set_ylabel("class")
    axes[0].set_title(f"(a) intermediate predictions, {title}")
    ax = axes[1]
    ax.plot(
        f.t, f.rel_structural, color=plotting.OURS_COLOR, label="layout distance (feature maps)"
    )
    band(ax, f.t, f.structural_ci[:, 0], f.structural_ci[:, 1], plotting.OURS_COLOR)
    ax.plot(f.t, f.rel_thumbnail, color="C4", ls="--", label="7 x 7 thumbnail distance")
    ax.plot(f.t, f.rel_pixel, color="C1", label="pixel RMS distance")
    mark_times(ax, t09, paper_t=(paper.FIG4_LAYOUT_T,))
    if np.isfinite(f.t_layout):
        ax.plot(
            [f.t_layout],
            [0.25],
            "o",
            color=plotting.OURS_COLOR,
            ms=6,
            label=r"$t_\mathrm{layout}$ (25% level)",
        )
    ax.set(
        xlabel="t",
        title="(b) when does the layout settle?",
        xlim=(0, 1),
        ylim=(0, 1.05),
        ylabel=r"distance of $\hat x_1(t)$ to the final sample / value at t = 0",
    )
    ax.legend(fontsize=8)
    return fig


def figure5(mixed: dict, train_x: torch.Tensor, switches, rows: int):
    """Fig. 5: each cell a mixed sample and its nearest training image; red = memorized."""
    fig, axes = plt.subplots(
        rows,
        len(switches),
        figsize=(1.45 * len(switches), 0.8 * rows + 0.6),
        layout="constrained",
        squeeze=False,
    )
    for j, ts in enumerate(switches):
        r = mixed[ts]
        for i in range(rows):
            gap = torch.ones(1, r["x"].shape[-2], 2)
            pair = torch.cat([from_u8(r["x"][i]), gap, train_x[int(r["nn_index"][i])]], -1)
            ax = axes[i, j]
            plotting.image_grid(ax, pair[None], nrow=1, pad=0)
            for side in ax.spines.values():
                side.set(
                    visible=True, color=MEMORIZED if bool(r["memorized"][i]) else NOVEL, linewidth=2
                )
            if i == 0:
                ax.set_title(f"$t_s$ = {ts:g}", fontsize=9)
            if j == 0:
                ax.set_ylabel(f"class {int(r['y'][i])}", fontsize=8)
    fig.legend(
        handles=[
            Patch(edgecolor=MEMORIZED, facecolor="none", lw=2, label="memorized ($d_1 < d_2/3$)"),
            Patch(edgecolor=NOVEL, facecolor="none", lw=2, label="novel"),
        ],
        loc="outside lower center",
        ncol=2,
        fontsize=8,
    )
    fig.suptitle(
        "Mixed sampling: oracle for t < $t_s$, model after  "
        "(left: sample, right: its nearest training image)",
        fontsize=10,
    )
    return fig


def figure13(f, trans, t09: float):
    """Fig. 13: (a) low-pass layout distance to the nearest training image, (b) layout- and
    pixel-copy rates and the oracle's top-1 weight."""
    sw = f.t_switch
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), layout="constrained")
    ax = axes[0]
    ax.plot(
        sw,
        f.layout[:, 0],
        "o-",
        ms=3,
        color=plotting.OURS_COLOR,
        label="7 x 7 thumbnail RMS to the nearest training thumbnail",
    )
    band(ax, sw, f.layout[:, 1], f.layout[:, 2], plotting.OURS_COLOR)
    ax.axhline(f.threshold, color="k", ls=":", lw=1, label="layout-copy threshold")
    mark_times(ax, t09)
    ax.set(
        xlabel=r"$t_\mathrm{switch}$ (oracle before, model after)",
        ylabel="layout distance (mean, 95% CI)",
        title="(a) layout distance to the nearest training image (Fig. 13)",
    )
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8, loc="lower left", frameon=True, framealpha=0.95, edgecolor="none")
    ax = axes[1]
    ax.plot(sw, f.layout_copy, "D-", ms=3, color="C2", label="layout copied (below threshold)")
    band(ax, sw, f.layout_copy_ci[:, 0], f.layout_copy_ci[:, 1], "C2")
    ax = axes[1]
    ax.plot(
        sw, f.memorized, "o-", ms=3, color=MEMORIZED, label="fraction memorized ($d_1 < d_2/3$)"
    )
    band(ax, sw, f.memorized_ci[:, 0], f.memorized_ci[:, 1], MEMORIZED)
    ax.plot(
        sw, f.match, "s-", ms=3, color="C4", label="nearest training image = the oracle's choice"
    )
    band(ax, sw, f.match_ci[:, 0], f.match_ci[:, 1], "C4")
    ax.plot(
        np.asarray(trans.t),
        trans.top1,
        color="k",
        lw=1,
        alpha=0.6,
        label="oracle mean top-1 weight at t (Section 3)",
    )
    mark_times(ax, t09, label=False)
    if np.isfinite(f.t_drop):
        ax.plot([f.t_drop], [0.5], "ko", ms=6, mfc="w", label=r"$t_\mathrm{drop}$ (50%)")
    ax.set(
        xlabel=r"$t_\mathrm{switch}$ (for the top-1 curve: $t$)",
        ylabel="fraction (95% Wilson interval)",
        title="(b) memorization vs the oracle's collapse",
        ylim=(-0.02, 1.02),
    )
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2)
    for a in axes:
        a.set_xlim(0, 1)
    return fig


def figure6(rf: dict, f, resume_times, rows: int, t09: float):
    """Fig. 6: (a) unseen images re-noised and resumed; (b) layout preservation."""
    show = [t for t in resume_times if t > 0] or list(resume_times)
    idx = [int(np.argmin(np.abs(f.t_resume - t))) for t in show]
    frames = torch.stack([rf["source"][:rows]] + [rf["x"][k, :rows] for k in idx], 1)
    fig, axes = plt.subplots(1, 2, figsize=(12, 0.55 * rows + 1.3), layout="constrained")
    _strip(axes[0], frames, rows, ["source"] + [f"{t:g}" for t in show])
    axes[0].set_yticks([])
    axes[0].set(xlabel=r"$t_\mathrm{resume}$", title="(a) unseen images, re-noised and resumed")
    ax, tr = axes[1], f.t_resume
    for d, style, color, label in (
        (f.layout, "o-", plotting.OURS_COLOR, "layout (feature maps)"),
        (f.thumbnail, "d--", "C4", "layout (7 x 7 thumbnails)"),
        (f.pixel, "s-", "C1", "pixels (RMS)"),
    ):
        ax.plot(tr, d[:, 0], style, ms=3, color=color, label=label)
        band(ax, tr, d[:, 1], d[:, 2], color)
    for k, (j, a) in enumerate(f.agree.items()):
        ax.plot(tr, 1 - a, ("^:", "v:")[k % 2], ms=3, color=f"C{2 + 3 * k}",
                label=f"judge {j} disagrees with label")  # fmt: skip
    ax.axhline(0.5, color="k", lw=0.8, ls=":")
    mark_times(ax, t09, paper_t=(paper.FIG4_LAYOUT_T,))
    ax.set(
        xlabel=r"$t_\mathrm{resume}$",
        title="(b) layout preservation",
        ylabel="distance to the source / same-class pair distance",
        xlim=(0, min(1.0, float(tr.max()) + 0.05)),
    )
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8)
    return fig


def figure7(f, curves: dict, labels: dict, history: dict, t09: float, main: str):
    """Fig. 7: (a) the main model's loss against both targets, (b) the oracle loss per model.

    ``labels``: model name -> legend text; ``history``: the main model's training history."""
    edges = np.asarray(history["t_edges"])
    last = slice(-5, None)  # the last 5 logged batches
    h_orc = np.nanmean(np.asarray(history["bin_loss_oracle"][last], dtype=float), 0)
    h_cfm = np.nanmean(np.asarray(history["bin_loss_cfm"][last], dtype=float), 0)
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.9), layout="constrained")
    ax, tg = axes[0], f.t
    ax.plot(tg, f.cfm, color="C1", label="vs CFM target $x_1 - x_0$")
    ax.plot(tg, f.oracle, color=plotting.OURS_COLOR, label=r"vs oracle target $u^*(x_t, t \mid y)$")
    ax.fill_between(tg, f.oracle, f.cfm, color="C1", alpha=0.15, lw=0, label="difference")
    ax.stairs(h_cfm, edges, color="C1", ls=":", lw=1, baseline=None)
    ax.stairs(
        h_orc,
        edges,
        color=plotting.OURS_COLOR,
        ls=":",
        lw=1,
        baseline=None,
        label="training batches (last 5 logs)",
    )
    mark_times(ax, t09)
    ax.set(
        xlabel="t",
        ylabel="MSE per dimension",
        yscale="log",
        title=f"(a) model {main}: loss against the two targets (Fig. 7a)",
    )
    ax.legend(fontsize=8)
    ax = axes[1]
    for i, (name, c) in enumerate(curves.items()):
        ax.plot(tg, c["oracle"], color=f"C{i}", ls="--" if "x" in name else "-", label=labels[name])
    mark_times(ax, t09, label=False)
    ax.set(
        xlabel="t",
        ylabel="MSE against the oracle target",
        yscale="log",
        title="(b) sizes and budgets (Fig. 7b)",
    )
    ax.legend(fontsize=8)
    for a in axes:
        a.yaxis.set_major_formatter(mticker.FormatStrFormatter("%g"))
        a.yaxis.set_minor_formatter(mticker.NullFormatter())
    return fig


def table1_figure(t, paper_costs: dict, steps: tuple[int, int]):
    """Table 1 as bars: (a) our paired FD differences to strong/strong under each judge (judge
    B hatched), (b) the paper's."""
    splits = t.splits
    fig, axes = plt.subplots(
        1,
        2,
        figsize=(11, 3.6),
        layout="constrained",
        gridspec_kw={"width_ratios": [max(len(splits), 2), 2]},
    )
    pairs, names = t.pairs[1:], ("stage1", "stage2", "both")
    nb = len(pairs) * len(t.judges)
    width = 0.8 / nb
    paper_names = {t.strong: paper.TABLE1_STRONG, t.weak: paper.TABLE1_WEAK}
    for k, (pair, name) in enumerate(zip(pairs, names, strict=True)):
        for m, j in enumerate(t.judges):
            off = (k * len(t.judges) + m - (nb - 1) / 2) * width
            d = [t.paired[(s, name)][j]["fd"] for s in splits]
            v = np.array([[x["delta"], x["low"], x["high"]] for x in d])  # (splits, 3)
            axes[0].bar(
                np.arange(len(splits)) + off,
                v[:, 0],
                width,
                capsize=2,
                color=f"C{k + 1}",
                hatch="//" if m else None,
                edgecolor="w" if m else None,
                yerr=[v[:, 0] - v[:, 1], v[:, 2] - v[:, 0]],
                label=f"{pair[0]} / {pair[1]} (judge {j})",
            )
        off = (k - (len(pairs) - 1) / 2) * (0.8 / len(pairs))
        axes[1].bar(
            np.arange(len(paper.TABLE1_SPLITS)) + off,
            paper_costs[pair],
            0.8 / len(pairs),
            color=f"C{k + 1}",
            label=f"{paper_names[pair[0]]} / {paper_names[pair[1]]}",
        )
    axes[0].set_xticks(np.arange(len(splits)), [f"split {s:g}" for s in splits])
    axes[0].set(
        ylabel=f"FD - FD({t.strong} / {t.strong})  (paired 95% CI)",
        title=f"(a) ours: cost of a weak model ({steps[0]} + {steps[1]} Euler steps)",
    )
    axes[1].set_xticks(
        np.arange(len(paper.TABLE1_SPLITS)), [f"split {s:g}" for s in paper.TABLE1_SPLITS]
    )
    axes[1].set(ylabel="gFID - gFID(XL / XL)", title="(b) paper, Table 1 (LightningDiT B, XL)")
    for ax in axes:
        ax.axhline(0, color="k", lw=0.8)
        lo_y, hi_y = ax.get_ylim()
        ax.set_ylim(min(lo_y, 0), hi_y * 1.3)
        ax.legend(fontsize=7, title="stage 1 / stage 2", title_fontsize=8, loc="upper left", ncol=3)
    return fig
