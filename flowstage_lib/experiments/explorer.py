"""The explorer page: static slider pages of precomputed top-1 curves (Sec. 3, Fig. 3) and of
the 2-D oracle field (Sec. 2), and a live view that recomputes any (D, N, s, t) in Jupyter.

Compute comes from :mod:`.curves` and :mod:`.sec2_oracle`; this module draws and wires widgets.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np

from flowstage_lib.experiments.curves import synthetic_curves
from flowstage_lib.oracle.transition import collapse_time
from flowstage_lib.path import log_linear_grid as t_grid

__all__ = [
    "T",
    "explorer_curves",
    "curve_figure",
    "field_figure",
    "png",
    "slider_pages",
    "spread_pages",
    "field_pages",
    "live_view",
    "live_widgets",
]

T = t_grid(12, 14, t_min=1e-3, t_split=0.2, t_max=0.98)  # the explorer's time grid


def explorer_curves(
    D_values: Sequence[int], N_values: Sequence[int], spreads: Sequence[float], n_queries, seed
) -> dict[tuple[int, int, float], dict]:
    """{(D, N, s): cached top-1 curve of N iid points of N(0, s^2 I_D)} on the grid :data:`T`."""
    return {
        (D, N, s): synthetic_curves(D, N, T, n_queries, seed, spread=s)
        for s in spreads
        for D in D_values
        for N in N_values
    }


def png(fig) -> bytes:
    """The figure as PNG bytes (90 dpi); closes it."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def curve_figure(curves: dict, D: int, s: float, N_values: Sequence[int]):
    """Mean top-1 weight vs t for every N at (D, s), with the predicted t_c (dashed)."""
    fig, ax = plt.subplots(figsize=(6, 3.4))
    colors = plt.cm.viridis(np.linspace(0.1, 0.85, len(N_values)))
    for N, c in zip(N_values, colors, strict=True):
        cv = curves[(D, N, s)]
        ax.plot(cv["t"], cv["top1"], color=c, lw=1.6, label=f"N = {N}")
        ax.axvline(collapse_time(D, N, s), color=c, ls="--", lw=1)
    ax.set(xlabel="t", ylabel="mean top-1 weight", ylim=(-0.02, 1.02), xlim=(0, 1),
           title=f"D = {D}, spread s = {s}  (dashed: predicted t_c)")  # fmt: skip
    ax.legend(loc="lower right")
    return fig


def field_figure(field: dict, x, y, k: int):
    """Quiver of the oracle field at its k-th time over the top-1 weight (shade), with the
    training points. ``field``: :func:`.sec2_sampling.oracle_field`."""
    g = field["grid"].numpy()
    u = field["u"][k].numpy()
    fig, ax = plt.subplots(figsize=(4.2, 4.2))
    ax.contourf(g, g, field["top1"][k].numpy(), levels=np.linspace(0, 1, 11), cmap="Greens",
                alpha=0.6)  # fmt: skip
    ax.quiver(g, g, u[..., 0], u[..., 1], color="0.25", scale=None)
    ax.scatter(x[:, 0], x[:, 1], c=y, cmap="tab10", s=30, edgecolor="k", zorder=3)
    ax.set(title=f"t = {field['t'][k]:.2f}  (shade: top-1 weight)", xticks=[], yticks=[],
           aspect="equal")  # fmt: skip
    return fig


def slider_pages(images: Sequence[bytes], labels: Sequence[str], description: str):
    """A selection slider over a stack of PNG images, linked in the browser (works statically)."""
    import ipywidgets as W

    slider = W.SelectionSlider(options=[(lab, i) for i, lab in enumerate(labels)],
                               description=description, continuous_update=True)  # fmt: skip
    stack = W.Stack([W.Image(value=b, format="png") for b in images], selected_index=0)
    W.jslink((slider, "index"), (stack, "selected_index"))
    return W.VBox([slider, stack])


def spread_pages(curves: dict, D_values, N_values, spreads):
    """Toggle buttons over spreads, each page a D slider of :func:`curve_figure` images."""
    import ipywidgets as W

    pages = [
        slider_pages([png(curve_figure(curves, D, s, N_values)) for D in D_values],
                     [str(D) for D in D_values], "D")
        for s in spreads
    ]  # fmt: skip
    buttons = W.ToggleButtons(options=[(f"s = {s}", i) for i, s in enumerate(spreads)],
                              description="spread")  # fmt: skip
    outer = W.Stack(pages, selected_index=0)
    W.jslink((buttons, "index"), (outer, "selected_index"))
    return W.VBox([buttons, outer])


def field_pages(field: dict, x, y):
    """A t slider over :func:`field_figure` images, one per time of ``field``."""
    images = [png(field_figure(field, x, y, k)) for k in range(len(field["t"]))]
    return slider_pages(images, [f"{t:.2f}" for t in field["t"]], "t")


#: The live view's first (D, N) and spread: what the page shows before a slider moves.
LIVE_DEFAULT, LIVE_SPREAD = (256, 1000), 1.0


def live_view(n_queries: int, seed: int):
    """A function ``live(D, N, spread, t)`` for ``ipywidgets.interact``: recomputes (cached) the
    top-1 curve of (D, N, s) with min(n_queries, 64) queries and marks t on it."""

    def live(D=LIVE_DEFAULT[0], N=LIVE_DEFAULT[1], spread=LIVE_SPREAD, t=0.1):
        cv = synthetic_curves(D, N, T, min(n_queries, 64), seed, spread=spread)
        fig, ax = plt.subplots(figsize=(6, 3.2))
        ax.plot(cv["t"], cv["top1"], lw=2, label="measured")
        ax.axvline(collapse_time(D, N, spread), ls="--", color="k", label="predicted t_c")
        ax.axvline(t, color="tab:red", lw=1, label=f"t = {t:.2f}")
        top = np.interp(t, cv["t"], cv["top1"])
        ax.set(xlabel="t", ylabel="mean top-1 weight", ylim=(-0.02, 1.02),
               title=f"D={D}, N={N}, s={spread}: top-1 weight at t: {top:.2f}")  # fmt: skip
        ax.legend(loc="lower right")
        plt.show()

    return live


def live_widgets(n_queries: int, seed: int):
    """``ipywidgets.interact`` of :func:`live_view` with sliders for D, N, spread and t."""
    import ipywidgets as W

    no = {"continuous_update": False}
    return W.interact(
        live_view(n_queries, seed),
        D=W.IntSlider(LIVE_DEFAULT[0], 16, 2048, 16, **no),
        N=W.IntSlider(LIVE_DEFAULT[1], 10, 10000, 10, **no),
        spread=W.FloatSlider(LIVE_SPREAD, min=0.25, max=4.0, step=0.25, **no),
        t=W.FloatSlider(0.1, min=0.0, max=0.98, step=0.01, **no),
    )


#: Grid points per axis of the explorer's 2-D field frames.
FIELD_GRID = 21


def compute(P) -> None:
    """The explorer without the notebook (``flowstage compute explorer``): its cached curves
    and field frames at parameters ``P``."""
    from flowstage_lib.experiments.sec2_oracle import toy_mixture_2d
    from flowstage_lib.experiments.sec2_sampling import FIELD_EXTENT, oracle_field

    explorer_curves(P.D_values, P.N_values, P.spreads, P.n_queries, P.seed)
    synthetic_curves(*LIVE_DEFAULT, T, min(P.n_queries, 64), P.seed, spread=LIVE_SPREAD)
    x2, _ = toy_mixture_2d(seed=P.seed)
    oracle_field(x2, P.t_frames, extent=FIELD_EXTENT, n_grid=FIELD_GRID)
