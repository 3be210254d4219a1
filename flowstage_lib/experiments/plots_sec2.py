"""The figures of Section 2 (plotting only; the numbers come from :mod:`.sec2_oracle`)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

__all__ = ["CLASS_COLORS", "mc_check_figure", "oracle_field_figure", "trajectories_figure"]

CLASS_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd"]
_Z_SERIES = (
    ("z_bayes", "Eq. 19 vs Bayes MC", "o", "C0"),
    ("z_joint", "Eq. 19 vs joint MC", "^", "C1"),
    ("z_eq6", "Eq. 6 as printed vs Bayes MC", "x", "C3"),
)


def mc_check_figure(mc: pd.DataFrame, z_star: float, jitter_seed: int = 0, lo: float = 1e-3):
    """(a) Bayes MC minus u* per query and component with +-2 SE, (b) |z| of Eq. 19 against both
    estimators and of Eq. 6 as printed, with the Bonferroni bound; one column per t (points
    jittered with ``jitter_seed``). ``mc``: :attr:`.sec2_oracle.TheoremCheck.mc`."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), layout="constrained")
    times = sorted(mc.t.unique())
    pos = {t: i for i, t in enumerate(times)}
    jit = np.random.default_rng(jitter_seed).uniform(-0.25, 0.25, len(mc))
    ax = axes[0]
    for path, marker in (("rectified flow", "o"), ("cosine", "s")):
        m = (mc.path == path).to_numpy()
        ax.errorbar(mc.t[m].map(pos) + jit[m], (mc.bayes - mc.oracle)[m],
                    yerr=2 * mc.bayes_se[m], fmt=marker, ms=3, lw=0.8, alpha=0.7,
                    label=f"{path}")  # fmt: skip
    ax.axhline(0, color="k", lw=0.8)
    ax.set_ylabel("Bayes MC $-$ oracle $u^*$ (±2 SE)")
    ax.set_title("(a) Monte Carlo minus Eq. 19, per query and component")
    ax.legend(loc="upper right")
    ax = axes[1]
    for col, label, marker, color in _Z_SERIES:
        ok = mc[col].notna().to_numpy()
        ax.scatter(mc.t[ok].map(pos) + jit[ok], np.maximum(mc[col][ok].abs(), lo), s=10,
                   marker=marker, color=color, alpha=0.6, label=label)  # fmt: skip
    ax.axhline(z_star, color="k", ls="--", lw=1, label=f"Bonferroni bound $z^*$ = {z_star:.2f}")
    ax.set_yscale("log")
    ax.set_ylabel(f"|z| (values below {lo:g} drawn at {lo:g})")
    ax.set_title("(b) standardised differences")
    ax.legend(loc="upper left", fontsize=8)
    for ax in axes:
        ax.set_xticks(range(len(times)), [f"{t:g}" for t in times])
        ax.set_xlabel("t")
    return fig


def _training_points(ax, x: torch.Tensor, y: torch.Tensor, **kw) -> None:
    for c in range(int(y.max()) + 1):
        p = x[y == c].numpy()
        ax.scatter(p[:, 0], p[:, 1], color=CLASS_COLORS[c], edgecolor="k", lw=0.6, zorder=3,
                   **kw)  # fmt: skip


def oracle_field_figure(field: dict, x: torch.Tensor, y: torch.Tensor, extent: float):
    """Streamlines of u*(x, t) over its top-1 posterior weight (colour), one panel per t, with
    the training points. ``field``: :func:`.sec2_sampling.oracle_field`."""
    g = field["grid"].numpy()
    times = field["t"]
    top1_mean = field["top1"].mean(dim=(1, 2)).tolist()
    fig, axes = plt.subplots(1, len(times), figsize=(3.1 * len(times), 3.4),
                             layout="constrained", sharey=True)  # fmt: skip
    for k, (ax, t) in enumerate(zip(np.atleast_1d(axes), times, strict=True)):
        im = ax.imshow(field["top1"][k].numpy(), origin="lower", extent=(-extent, extent) * 2,
                       vmin=0, vmax=1, cmap="viridis", interpolation="bilinear")  # fmt: skip
        u = field["u"][k].numpy()
        ax.streamplot(g, g, u[..., 0], u[..., 1], color="white", density=0.8, linewidth=0.6,
                      arrowsize=0.7)  # fmt: skip
        _training_points(ax, x, y, s=22)
        ax.set_xlim(-extent, extent)
        ax.set_ylim(-extent, extent)
        ax.set_aspect("equal")
        ax.grid(False)
        ax.set_title(f"t = {t:g}, mean top-1 = {top1_mean[k]:.2f}")
    fig.colorbar(im, ax=axes, shrink=0.8, label="top-1 posterior weight")
    return fig


def trajectories_figure(x: torch.Tensor, y: torch.Tensor, uncond: dict, cond: dict):
    """Oracle Euler trajectories from noise, unconditional (colour: the class of the end point)
    and class-conditional (colour: the requested y).

    Args:
        uncond, cond: outputs of :func:`.sec2_sampling.oracle_trajectories`.
    """
    fig, axes = plt.subplots(1, 2, figsize=(9, 4.2), layout="constrained", sharey=True)
    titles = ("unconditional $u^*(x, t)$ (colour: end point)",
              "class-conditional $u^*(x, t \\mid y)$ (colour: y)")  # fmt: skip
    for ax, tr, title, conditional in zip(axes, (uncond, cond), titles, (False, True), strict=True):
        traj = tr["traj"].numpy()  # (n + 1, B, 2)
        for b in range(traj.shape[1]):
            c = int(tr["y"][b]) if conditional else int(y[tr["nearest"][b]])
            ax.plot(traj[:, b, 0], traj[:, b, 1], color=CLASS_COLORS[c], lw=0.5, alpha=0.35)
        ax.scatter(traj[0, :, 0], traj[0, :, 1], s=4, color="k", alpha=0.4, label="start (noise)")
        for c in range(int(y.max()) + 1):
            p = x[y == c].numpy()
            ax.scatter(p[:, 0], p[:, 1], s=60, marker="*", color=CLASS_COLORS[c], edgecolor="k",
                       lw=0.6, zorder=3, label=f"training points, class {c}")  # fmt: skip
        ax.set_aspect("equal")
        ax.set_title(title)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=int(y.max()) + 2, fontsize=8)
    return fig
