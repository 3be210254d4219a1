"""Table 1: one model per stage. Stage-swapped sampling (model a for t < t_split, model b
after), scored by Frechet distance with bootstrap intervals; paired differences between rows
(paper: a weak stage-1 model costs little, a weak stage-2 model a lot)."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import torch

from flowstage_lib.data import default_device
from flowstage_lib.experiments import criteria, paper
from flowstage_lib.experiments._models import model_id
from flowstage_lib.experiments._shared import Comparison, balanced_labels, from_u8, to_u8
from flowstage_lib.path import stagewise_grid
from flowstage_lib.solver import ModelVelocity, euler_sample, sample
from flowstage_lib.tooling import cache

__all__ = [
    "stage_swap_samples",
    "stage_swap_table",
    "paired_fd_difference",
    "swap_costs",
    "table1_pairs",
    "Table1",
    "table1",
    "table1_rows",
    "table1_comparison",
    "table1_paper_costs",
]


def stage_swap_samples(
    models: dict[str, Any],
    pairs: Sequence[tuple[str, str]],
    splits: Sequence[float],
    n: int,
    n1: int = 25,
    n2: int = 25,
    seed: int = 0,
    batch_size: int = 500,
) -> dict[tuple, dict]:
    """Stage-swapped samples (Table 1): model ``a`` for t < split, model ``b`` after, n1 + n2
    uniform Euler steps on [0, split] and [split, 1] (:func:`~flowstage_lib.solver.
    stagewise_grid`), no guidance, class-balanced labels.

    Every row starts from the same noise (``seed``): rows are paired. Rows that share a stage-1
    model and a split share its stage-1 trajectory, integrated once (the same Euler updates as
    :class:`~flowstage_lib.solver.StageSwapVelocity` over the whole grid). Cached (uint8) per
    row.

    Args:
        models: name -> TrainResult; pairs: (stage-1 name, stage-2 name);
        splits: t_split values (paper: 0.1, 0.2); n: samples per row (paper: 50,000);
        n1, n2: Euler steps before / after the split (paper: 25 + 25).

    Returns:
        {(split, a, b): {"x": (n, *shape) uint8, "y": (n,), "seconds"}}.
    """
    out = {}
    memo: dict[tuple[str, float], torch.Tensor] = {}  # (stage-1 name, split) -> x at split
    for split in splits:
        for a, b in pairs:
            params = {"stage1": model_id(models[a]), "stage2": model_id(models[b])}
            params.update({"split": float(split), "n1": n1, "n2": n2, "n": n, "seed": seed})
            params["shape"] = list(models[a].spec.input_shape)
            args = (models, a, b, float(split), n1, n2, n, seed, batch_size, memo)
            out[(float(split), a, b)] = cache.cached(
                "sec4_stage_swap", params, lambda args=args: _swap_samples(*args)
            )
    return out


def _swap_samples(models, a, b, split, n1, n2, n, seed, batch_size, memo) -> dict:
    """One Table 1 row: stage 1 with ``models[a]`` (shared through ``memo``), then stage 2."""
    t0 = time.time()
    ra, rb = models[a], models[b]
    grid = stagewise_grid(n1, n2, split)
    y = balanced_labels(n, int(ra.spec.num_classes))  # (n,)
    if (a, split) not in memo:  # Euler on [0, split] from the seeded noise
        shape = tuple(ra.spec.input_shape)
        memo[(a, split)] = sample(
            ModelVelocity(ra.model),
            n,
            shape,
            y=y,
            grid=grid[: n1 + 1],
            seed=seed,
            batch_size=batch_size,
        ).x1
    x_s = memo[(a, split)]  # (n, *shape) at t = split
    dev = default_device()
    fn = ModelVelocity(rb.model)
    parts = [
        euler_sample(
            fn, x_s[i : i + batch_size].to(dev), grid[n1:], y[i : i + batch_size].to(dev)
        ).x1.cpu()
        for i in range(0, n, batch_size)
    ]
    return {"x": to_u8(torch.cat(parts)), "y": y, "seconds": time.time() - t0}


def stage_swap_table(samples: dict[tuple, dict], evaluator, n_boot: int = 200, seed: int = 0):
    """Score the rows of :func:`stage_swap_samples`: FD in classifier features to the training
    split with a 95% bootstrap interval, and class accuracy.

    Returns:
        One dict per row: split, stage1, stage2, fd, fd_low, fd_high, accuracy, n, seconds.
    """
    rows = []
    for (split, a, b), s in samples.items():
        sc = evaluator.score(from_u8(s["x"]), s["y"], n_boot=n_boot, seed=seed)
        rows.append(
            {
                "split": split,
                "stage1": a,
                "stage2": b,
                "fd": sc.fd,
                "fd_low": sc.fd_low,
                "fd_high": sc.fd_high,
                "accuracy": sc.accuracy,
                "n": sc.n,
                "seconds": s["seconds"],
            }
        )
    return rows


def paired_fd_difference(evaluator, x_a, x_b, n_boot: int = 200, seed: int = 0, level=0.95):
    """FD(x_a) - FD(x_b) against the training features, with a *paired* bootstrap interval.

    Row i of x_a (n, C, H, W) and of x_b shares noise and label (:func:`stage_swap_samples`),
    so both are resampled with the same indices: the interval measures the noise of the
    difference, much smaller than that of each FD
    (:meth:`~flowstage_lib.metrics.evaluate.Evaluator.paired_difference`).

    Returns:
        (difference, low, high) at ``level`` (percentile interval shifted to the estimate).
    """
    return evaluator.paired_difference(x_a, x_b, n_boot, seed, level).as_tuple()


def swap_costs(rows: Sequence[dict], strong: str, weak: str) -> list[dict]:
    """Per split: the FD cost of a weak stage-1 model (weak/strong - strong/strong) and of a
    weak stage-2 model (strong/weak - strong/strong); ``ordering``: the first is smaller;
    ``separated``: the FD intervals of weak/strong and strong/weak do not overlap.

    Returns:
        One dict per split: split, cost_stage1, cost_stage2, ordering, separated, fd_strong,
        fd_weak (weak/weak; NaN if not run).
    """
    out = []
    for split in sorted({r["split"] for r in rows}):
        cell = {(r["stage1"], r["stage2"]): r for r in rows if r["split"] == split}
        ss, ws, sw = cell[(strong, strong)], cell[(weak, strong)], cell[(strong, weak)]
        c1, c2 = ws["fd"] - ss["fd"], sw["fd"] - ss["fd"]
        ww = cell[(weak, weak)]["fd"] if (weak, weak) in cell else math.nan
        out.append(
            {
                "split": split,
                "cost_stage1": c1,
                "cost_stage2": c2,
                "ordering": bool(c1 < c2),
                "separated": bool(ws["fd_high"] < sw["fd_low"]),
                "fd_strong": ss["fd"],
                "fd_weak": ww,
            }
        )
    return out


def table1_pairs(weak: str, strong: str) -> list[tuple[str, str]]:
    """Table 1's rows per split: strong/strong, weak/strong, strong/weak, weak/weak."""
    return [(strong, strong), (weak, strong), (strong, weak), (weak, weak)]


@dataclass
class Table1:
    """Table 1 scored: ``rows`` (:func:`stage_swap_table`), ``paired`` {(split, pair or
    "stage2 - stage1"): (difference, low, high)} of paired FD differences (pair - strong/strong;
    strong/weak - weak/strong), ``costs`` (:func:`swap_costs`), and the two model names."""

    rows: list
    paired: dict
    costs: list
    strong: str
    weak: str

    @property
    def pairs(self) -> list[tuple[str, str]]:
        """The four rows per split: strong/strong, weak/strong, strong/weak, weak/weak."""
        return table1_pairs(self.weak, self.strong)


def table1(samples: dict, evaluator, weak: str, strong: str, n_boot: int, seed: int) -> Table1:
    """Score :func:`stage_swap_samples` run on :attr:`Table1.pairs` (Table 1)."""
    out = Table1(stage_swap_table(samples, evaluator, n_boot, seed), {}, [], strong, weak)
    ss = (strong, strong)
    for split in sorted({k[0] for k in samples}):
        x = {p: from_u8(samples[(split, *p)]["x"]) for p in out.pairs}
        for p in out.pairs[1:]:
            out.paired[(split, p)] = paired_fd_difference(evaluator, x[p], x[ss], n_boot, seed)
        out.paired[(split, "stage2 - stage1")] = paired_fd_difference(
            evaluator, x[(strong, weak)], x[(weak, strong)], n_boot, seed
        )
    out.costs = swap_costs(out.rows, strong, weak)
    return out


def _as_paper(t: Table1) -> dict[str, str]:
    """Our model name -> the paper's (strong -> XL, weak -> B)."""
    return {t.strong: paper.TABLE1_STRONG, t.weak: paper.TABLE1_WEAK}


def table1_rows(t: Table1) -> pd.DataFrame:
    """Table 1, ours beside the paper's gFID."""
    name = _as_paper(t)
    rows = []
    for r in t.rows:
        key = (round(r["split"], 3), name[r["stage1"]], name[r["stage2"]])
        rows.append(
            {
                "split": r["split"],
                "stage 1 / stage 2": f"{r['stage1']}/{r['stage2']}",
                "FD (ours)": r["fd"],
                "95% CI": f"[{r['fd_low']:.2f}, {r['fd_high']:.2f}]",
                "class accuracy": r["accuracy"],
                "paper": f"{key[1]}/{key[2]}",
                "paper gFID": paper.TABLE1_GFID.get(key, float("nan")),
            }
        )
    return pd.DataFrame(rows)


def table1_comparison(t: Table1) -> Comparison:
    """Table 1's costs against the paper's (criterion
    :func:`~flowstage_lib.experiments.criteria.table1_weak_stage1_costs_little`)."""
    holds, rows = {}, []
    ci_name = "FD(L/S) - FD(S/L), paired 95% CI".replace("L", t.strong).replace("S", t.weak)
    for c in t.costs:
        d21 = t.paired[(c["split"], "stage2 - stage1")]
        ok = bool(c["ordering"] and d21[1] > 0)
        holds[c["split"]] = ok
        in_paper = round(c["split"], 3) in paper.TABLE1_SPLITS
        p = paper.table1_costs(c["split"]) if in_paper else None
        rows.append(
            {
                "split": c["split"],
                "cost of a weak stage 1 (ours)": c["cost_stage1"],
                "cost of a weak stage 2 (ours)": c["cost_stage2"],
                ci_name: f"{d21[0]:.2f} [{d21[1]:.2f}, {d21[2]:.2f}]",
                "paper (B/XL, XL/B)": f"{p[0]:.2f}, {p[1]:.2f}" if p else "-",
                "claim holds": ok,
            }
        )
    v1 = criteria.table1_weak_stage1_costs_little(holds)
    by = {round(c["split"], 3): c for c in t.costs}
    ours = "; ".join(
        f"split {s:g}: weak stage 1 +{c['cost_stage1']:.2f}, weak stage 2 +{c['cost_stage2']:.2f}"
        for s, c in by.items()
    )
    papers = ", ".join(
        f"+{a:.2f} / +{b:.2f}" + (" gFID" if i == 0 else "") + f" (split {s:g})"
        for i, (s, (a, b)) in enumerate((s, paper.table1_costs(s)) for s in paper.TABLE1_SPLITS)
    )
    claim = (
        "A weak stage-1 (navigation) model costs little, a weak stage-2 (refinement) model "
        "costs a lot",
        f"Table 1: {papers}",
        f"FD ({t.weak}/{t.strong} models) {ours}",
        v1,
    )
    glue = {"v1": v1.verdict, "ours_t1": ours, "weak": t.weak, "strong": t.strong}
    return Comparison(pd.DataFrame(rows), glue, [claim])


def table1_paper_costs(t: Table1) -> dict:
    """{pair (ours): [gFID(pair) - gFID(XL/XL) at each paper split]} for Table 1's figure."""
    name = _as_paper(t)
    g, xl = paper.TABLE1_GFID, paper.TABLE1_STRONG
    return {
        p: [g[(s, name[p[0]], name[p[1]])] - g[(s, xl, xl)] for s in paper.TABLE1_SPLITS]
        for p in t.pairs[1:]
    }
