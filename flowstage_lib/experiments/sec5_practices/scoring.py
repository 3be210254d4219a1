"""Sampling and scoring shared by Tables 2-3 and Figs. 10, 12: one cached sample set per
described sampler, scored by both judges of the panel (issue 13:
:mod:`flowstage_lib.metrics.judge.panel`): FD with its bootstrap interval, class accuracy with
its Wilson interval, KID, precision / recall, and paired differences between rows drawn with the
same noise and labels. The old evaluator's :func:`score_sampler` / :func:`reference_fd` stay for
Figs. 10 and 12 until they move to :func:`judged_sampler` / :func:`judged_reference`."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pandas as pd
import torch

from flowstage_lib.experiments._models import model_id
from flowstage_lib.metrics import evaluate
from flowstage_lib.metrics.judge.panel import Panel, agreement, ranks
from flowstage_lib.path import shifted_grid
from flowstage_lib.solver import CFGVelocity, ModelVelocity
from flowstage_lib.tooling import cache

__all__ = [
    "judged_set",
    "judged_sampler",
    "judged_reference",
    "paired",
    "judged_table",
    "detail_table",
    "ranking",
    "show_judged",
    "score_sampler",
    "reference_fd",
    "guided_velocity",
    "describe",
    "sample_images",
    "border_rms",
]


def _fd_row(score: evaluate.SampleScore) -> dict:
    return {
        "fd": float(score.fd),
        "fd_low": float(score.fd_low),
        "fd_high": float(score.fd_high),
        "accuracy": float(score.accuracy),
        "n": int(score.n),
    }


def score_sampler(
    ev: evaluate.Evaluator,
    velocity_fn: Callable,
    describe: dict,
    n: int,
    shape: Sequence[int],
    num_classes: int,
    grid=None,
    seed: int = 0,
    decode: Callable | None = None,
    n_boot: int = 200,
) -> dict:
    """Sample (cached by :func:`~flowstage_lib.metrics.evaluate.sample_set`) and score
    (cached here):
    Frechet distance in classifier features with a bootstrap interval, class accuracy.

    Returns:
        dict: fd, fd_low, fd_high, accuracy, n, seconds (sampling time of the filling run).
    """
    grid_key = None if grid is None else [round(float(t), 8) for t in grid]
    params = {"describe": describe, "n": n, "shape": list(shape), "grid": grid_key, "seed": seed}
    params.update({"decode": decode is not None, "n_boot": n_boot, "ref": ev.ref_feats})

    def compute() -> dict:
        s = evaluate.sample_set(
            velocity_fn,
            describe,
            n,
            tuple(shape),
            num_classes,
            grid=grid,
            seed=seed,
            decode=decode,
        )
        row = _fd_row(ev.score(s["x"], s["y"], n_boot=n_boot, seed=seed))
        return {**row, "seconds": float(s["seconds"])}

    return cache.cached("sec5_score", params, compute)


def reference_fd(
    ev: evaluate.Evaluator,
    x: torch.Tensor,
    y: torch.Tensor,
    n: int,
    n_boot: int = 200,
    seed: int = 0,
) -> dict:
    """Frechet distance of ``n`` real images x (N, C, H, W), labels y (N,) to the training
    split: the floor that finite-sample bias puts under every sample set of size ``n``."""
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(x), generator=g)[: min(n, len(x))]
    params = {"x": x[idx], "y": y[idx], "n_boot": n_boot, "ref": ev.ref_feats, "seed": seed}
    return cache.cached(
        "sec5_reference_fd",
        params,
        lambda: _fd_row(ev.score(x[idx], y[idx], n_boot=n_boot, seed=seed)),
    )


def guided_velocity(model, scale: float, interval) -> Callable:
    """CFG with ``scale`` on the half-open ``interval`` [a, b) (None or scale 1: no guidance)."""
    if interval is None or scale == 1.0:
        return ModelVelocity(model)
    return CFGVelocity(model, scale, interval)


def describe(
    key: str, shift: float = 1.0, scale: float = 1.0, interval=None, n_steps: int = 50, **extra
) -> dict:
    """The sample-set description shared by Tables 2 and 3 (so Table 3's "none" row *is*
    Table 2's s = 1 row, as in the paper)."""
    guided = interval is not None and scale != 1.0
    return {
        "model": key,
        "shift": float(shift),
        "nfe": int(n_steps),
        "cfg_scale": float(scale) if guided else 1.0,
        "cfg_interval": [round(float(v), 6) for v in interval] if guided else None,
        **extra,
    }


def sample_images(
    result, n: int, n_steps: int, seed: int, shift: float = 1.0, scale: float = 1.0, interval=None
) -> dict:
    """The (cached) sample set of one row of Table 2 / 3: dict x (n, C, H, W) pixels, y,
    seconds. ``interval`` is the executed (placed) interval; the same arguments as the row
    give the same cache entry. A model of the calibrated setting (``spec.data_scale`` = k)
    samples in k-space: its samples are divided by k before they are returned (and before any
    judge sees them; :func:`~flowstage_lib.training.zoo.zoo_decode`)."""
    from flowstage_lib.training.zoo import zoo_decode

    return evaluate.sample_set(
        guided_velocity(result.model, scale, interval),
        describe(model_id(result), shift, scale, interval, n_steps),
        n,
        tuple(result.spec.input_shape),
        result.spec.num_classes,
        grid=shifted_grid(n_steps, shift),
        seed=seed,
        decode=zoo_decode(result),
    )


def border_rms(x: torch.Tensor, width: int = 3, background: float = -1.0) -> float:
    """Root mean square deviation from the background value of the ``width``-pixel frame of
    images x (B, C, H, W): the speckle a sampler leaves where MNIST digits never are (0 for
    real MNIST images, whose frame is black = -1)."""
    m = torch.ones(x.shape[-2:], dtype=torch.bool)
    m[width:-width, width:-width] = False
    return float((x[..., m] - background).pow(2).mean().sqrt())


# ----------------------------------------------------------------------------- judged (panel)


def judged_set(panel: Panel, s: dict) -> dict[str, dict]:
    """Both judges' scores of one sample set ``s`` (dict x (n, C, H, W), y (n,), as
    :func:`~flowstage_lib.metrics.evaluate.sample_set` returns): {judge: {fd, fd_low, fd_high,
    kid, kid_se, precision, recall, density, coverage, accuracy, acc_low, acc_high, n}}."""
    return panel.score(s["x"], s["y"])


def judged_sampler(
    panel: Panel,
    velocity_fn: Callable,
    describe: dict,
    n: int,
    shape: Sequence[int],
    num_classes: int,
    grid=None,
    seed: int = 0,
    decode: Callable | None = None,
) -> dict[str, dict]:
    """:func:`score_sampler` judged by the panel: sample (cached by
    :func:`~flowstage_lib.metrics.evaluate.sample_set`, the same entry as
    :func:`score_sampler`'s) and score under both judges (cached by the panel)."""
    s = evaluate.sample_set(
        velocity_fn, describe, n, tuple(shape), num_classes, grid=grid, seed=seed, decode=decode
    )
    return judged_set(panel, s)


def judged_reference(
    panel: Panel, x: torch.Tensor, y: torch.Tensor, n: int, seed: int = 0
) -> dict[str, dict]:
    """Both judges' scores of ``n`` real images drawn from x (N, C, H, W), y (N,): the floor
    that finite-sample bias (and the gap between these images and the judges' held-out
    reference) puts under every sample set of size ``n``."""
    if n < 2:
        raise ValueError(f"n must be >= 2, got {n}")
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(x), generator=g)[: min(n, len(x))]
    return panel.score(x[idx], y[idx])


def paired(panel: Panel, s_a: dict, s_b: dict) -> dict[str, dict]:
    """Paired differences a - b of two sample sets drawn with the same noise and labels
    (the same ``seed`` and ``n`` of :func:`~flowstage_lib.metrics.evaluate.sample_set`):
    {judge: {"fd": {delta, low, high, a, b}, "accuracy": {...}}} (:meth:`Panel.compare`)."""
    if not torch.equal(s_a["y"], s_b["y"]):
        raise ValueError("s_a and s_b are not paired: their labels differ")
    return panel.compare(s_a["x"], s_b["x"], s_a["y"])


def _ci(v: float, lo: float, hi: float, fmt: str) -> str:
    return f"{v:{fmt}} [{lo:{fmt}}, {hi:{fmt}}]"


def judged_table(
    scores: dict[str, dict], diffs: dict[str, dict] | None = None, base: str = ""
) -> pd.DataFrame:
    """One row per table row: each judge's FD [95% CI] and class accuracy [95% CI], and with
    ``diffs`` ({row: :func:`paired` against the ``base`` row}) the paired FD difference."""
    out = []
    for row, sc in scores.items():
        r = {"row": row}
        for j, v in sc.items():
            r[f"{j}: FD [95% CI]"] = _ci(v["fd"], v["fd_low"], v["fd_high"], ".2f")
            r[f"{j}: accuracy [95% CI]"] = _ci(v["accuracy"], v["acc_low"], v["acc_high"], ".1%")
        for j in sc:
            d = (diffs or {}).get(row, {}).get(j, {}).get("fd")
            if diffs is not None:
                r[f"{j}: FD - FD({base}) [95% CI]"] = (
                    _ci(d["delta"], d["low"], d["high"], "+.2f") if d else "-"
                )
        out.append(r)
    return pd.DataFrame(out)


def detail_table(scores: dict[str, dict]) -> pd.DataFrame:
    """One row per table row and judge: KID +- its standard error, precision, recall,
    density, coverage (k-NN, Kynkaanniemi et al. / Naeem et al.)."""
    return pd.DataFrame(
        [
            {
                "row": row, "judge": j,
                "KID (x 1e3)": f"{1e3 * v['kid']:.2f} +- {1e3 * v['kid_se']:.2f}",
                "precision": v["precision"], "recall": v["recall"], "density": v["density"],
                "coverage": v["coverage"], "n": v["n"],
            }
            for row, sc in scores.items()
            for j, v in sc.items()
        ]
    )  # fmt: skip


def ranking(scores: dict[str, dict]) -> tuple[pd.DataFrame, str]:
    """Each judge's FD ranking of the rows (1 = best) and their agreement in a sentence
    (Kendall tau-b with its p-value)."""
    rk = ranks(scores)
    tab = pd.DataFrame(
        {"row": list(scores), **{f"rank, judge {j}": list(r.values()) for j, r in rk.items()}}
    )
    kt = agreement(scores)
    text = (
        f"Judges {' and '.join(rk)} rank the {kt.n} rows with Kendall tau = {kt.tau:.2f} "
        f"(p = {kt.p_value:.2g})."
    )
    return tab, text


def show_judged(view, name: str, scores: dict[str, dict]) -> str:
    """Show a judged table's detail (KID, precision / recall: ``<name>_detail``) and both
    judges' rankings (``<name>_ranks``); glue and return their agreement sentence
    (``<name>_agreement``). ``view``: a :class:`flowstage_lib.tooling.book.View`."""
    tab, text = ranking(scores)
    view.show(detail_table(scores), f"{name}_detail")
    view.show(tab, f"{name}_ranks")
    view.glue(**{f"{name}_agreement": text})
    return text
