"""Table 1: one model per stage. Stage-swapped sampling (model a for t < t_split, model b
after), scored by both judges of :mod:`flowstage_lib.metrics.judge.panel` (FD and class
accuracy with 95% intervals, KID, precision / recall), with paired differences between rows
that share noise and labels (paper: a weak stage-1 model costs little, a weak stage-2 model a
lot)."""

from __future__ import annotations

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
from flowstage_lib.experiments.sec4_stages._common import data_scale, to_pixels
from flowstage_lib.metrics.judge.panel import agreement, ranks
from flowstage_lib.path import stagewise_grid
from flowstage_lib.solver import ModelVelocity, euler_sample, sample
from flowstage_lib.tooling import cache
from flowstage_lib.tooling.progress import tqdm

__all__ = [
    "stage_swap_samples",
    "table1_pairs",
    "Table1",
    "table1",
    "table1_costs",
    "table1_rows",
    "table1_detail",
    "table1_ranking",
    "table1_show",
    "table1_comparison",
    "table1_paper_costs",
    "table1_sample_rows",
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
    :class:`~flowstage_lib.solver.StageSwapVelocity` over the whole grid). Calibrated models
    (all of one data scale k) sample in k-space; the samples are divided by k before they are
    stored and scored. Cached (uint8) per row.

    Args:
        models: name -> TrainResult; pairs: (stage-1 name, stage-2 name);
        splits: t_split values (paper: 0.1, 0.2); n: samples per row (paper: 50,000);
        n1, n2: Euler steps before / after the split (paper: 25 + 25).

    Returns:
        {(split, a, b): {"x": (n, *shape) uint8, "y": (n,), "seconds"}}.
    """
    for a, b in pairs:  # one trajectory: both models in the same space (checked before caching)
        if data_scale(models[a]) != data_scale(models[b]):
            raise ValueError(
                f"Table 1: models {a!r} and {b!r} have data scales {data_scale(models[a]):g} and "
                f"{data_scale(models[b]):g}; a stage swap needs one space"
            )
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
        for i in tqdm(range(0, n, batch_size), desc=f"stage 2 ({a}/{b}, split {split:g})")
    ]
    x = to_pixels(rb, torch.cat(parts))  # (n, *shape): k-space / k, before any judge
    return {"x": to_u8(x), "y": y, "seconds": time.time() - t0}


def table1_pairs(weak: str, strong: str) -> list[tuple[str, str]]:
    """Table 1's rows per split: strong/strong, weak/strong, strong/weak, weak/weak."""
    return [(strong, strong), (weak, strong), (strong, weak), (weak, weak)]


#: The paired differences of one split: name -> (row a, row b) as indices into
#: :func:`table1_pairs` (delta = score(a) - score(b)).
_DIFFS = {"stage1": (1, 0), "stage2": (2, 0), "both": (3, 0), "stage2 - stage1": (2, 1)}


@dataclass
class Table1:
    """Table 1 scored by a panel of judges.

    Attributes:
        scores: {(split, stage 1, stage 2): :meth:`Panel.score` dict {judge: {fd, fd_low, ...}}}.
        paired: {(split, name): :meth:`Panel.compare` dict {judge: {"fd": {delta, low, high},
            "accuracy": ...}}}, name in ``"stage1"`` (weak/strong - strong/strong),
            ``"stage2"`` (strong/weak - strong/strong), ``"both"`` (weak/weak -
            strong/strong), ``"stage2 - stage1"`` (strong/weak - weak/strong).
        strong, weak: the two model names; judges: the judges' names.
    """

    scores: dict
    paired: dict
    strong: str
    weak: str
    judges: list

    @property
    def pairs(self) -> list[tuple[str, str]]:
        """The four rows per split: strong/strong, weak/strong, strong/weak, weak/weak."""
        return table1_pairs(self.weak, self.strong)

    @property
    def splits(self) -> list[float]:
        return sorted({k[0] for k in self.scores})


def _check_paired(samples: dict, split: float, pairs) -> torch.Tensor:
    """The labels every row of ``split`` shares (rows are paired: same seed, same labels)."""
    ys = [samples[(split, *p)]["y"] for p in pairs]
    if any(y.shape != ys[0].shape or not torch.equal(y, ys[0]) for y in ys[1:]):
        raise ValueError(f"Table 1 rows at split {split} do not share their labels: not paired")
    return ys[0]


def table1(samples: dict, panel, weak: str, strong: str) -> Table1:
    """Score :func:`stage_swap_samples` run on :func:`table1_pairs` with ``panel``
    (:class:`~flowstage_lib.metrics.judge.panel.Panel`): every row, and the paired differences
    of :data:`_DIFFS` at every split (rows share the seed's noise and the labels, checked)."""
    pairs = table1_pairs(weak, strong)
    out = Table1({}, {}, strong, weak, list(panel.names))
    for split in sorted({k[0] for k in samples}):
        y = _check_paired(samples, split, pairs)
        x = {p: from_u8(samples[(split, *p)]["x"]) for p in pairs}
        for p in pairs:
            out.scores[(split, *p)] = panel.score(x[p], y)
        for name, (a, b) in _DIFFS.items():
            out.paired[(split, name)] = panel.compare(x[pairs[a]], x[pairs[b]], y)
    return out


def table1_costs(t: Table1, judge: str) -> dict[float, dict[str, tuple]]:
    """{split: {"stage1", "stage2", "stage2 - stage1": (delta, low, high)}}: judge ``judge``'s
    paired FD differences (the input of
    :func:`~flowstage_lib.experiments.criteria.table1_weak_stage1_costs_little`)."""
    out = {}
    for split in t.splits:
        d = {n: t.paired[(split, n)][judge]["fd"] for n in ("stage1", "stage2", "stage2 - stage1")}
        out[split] = {n: (v["delta"], v["low"], v["high"]) for n, v in d.items()}
    return out


def _as_paper(t: Table1) -> dict[str, str]:
    """Our model name -> the paper's (strong -> XL, weak -> B)."""
    return {t.strong: paper.TABLE1_STRONG, t.weak: paper.TABLE1_WEAK}


def _row_name(split: float, a: str, b: str) -> str:
    return f"{split:g}: {a}/{b}"


def _ranks(t: Table1) -> dict:
    return ranks({_row_name(*k): s for k, s in t.scores.items()})


def table1_rows(t: Table1) -> pd.DataFrame:
    """Table 1, ours beside the paper's gFID: per row and judge FD [95% CI], class accuracy
    [95% Wilson interval] and the judge's FD rank (1 = best)."""
    name, rk = _as_paper(t), _ranks(t)
    rows = []
    for (split, a, b), sc in t.scores.items():
        row = {"split": split, "stage 1 / stage 2": f"{a}/{b}"}
        for j in t.judges:
            s = sc[j]
            row[f"FD {j} [95% CI]"] = f"{s['fd']:.3g} [{s['fd_low']:.3g}, {s['fd_high']:.3g}]"
            row[f"accuracy {j} [95% CI]"] = (
                f"{s['accuracy']:.1%} [{s['acc_low']:.1%}, {s['acc_high']:.1%}]"
            )
            row[f"rank {j}"] = rk[j][_row_name(split, a, b)]
        key = (round(split, 3), name[a], name[b])
        row["paper"] = f"{key[1]}/{key[2]}"
        row["paper gFID"] = paper.TABLE1_GFID.get(key, float("nan"))
        rows.append(row)
    return pd.DataFrame(rows)


def table1_detail(t: Table1) -> pd.DataFrame:
    """Table 1's detail: per row and judge KID +- its standard error, precision, recall."""
    rows = []
    for (split, a, b), sc in t.scores.items():
        row = {"split": split, "stage 1 / stage 2": f"{a}/{b}", "n": sc[t.judges[0]]["n"]}
        for j in t.judges:
            s = sc[j]
            row[f"KID {j}"] = f"{s['kid']:.4f} +- {s['kid_se']:.4f}"
            row[f"precision {j}"] = s["precision"]
            row[f"recall {j}"] = s["recall"]
        rows.append(row)
    return pd.DataFrame(rows)


def table1_ranking(t: Table1) -> str:
    """Each judge's FD ranking of Table 1's rows (best first) and their Kendall tau."""
    rk = _ranks(t)
    order = {j: " < ".join(sorted(r, key=r.get)) for j, r in rk.items()}
    tau = agreement({_row_name(*k): s for k, s in t.scores.items()})
    lines = [f"judge {j} (FD, best first): {o}" for j, o in order.items()]
    return "; ".join(lines) + f". Kendall tau = {tau.tau:.2f} (p = {tau.p_value:.2g}, {tau.n} rows)"


def table1_show(view, t: Table1) -> None:
    """Show Table 1 (:func:`table1_rows`), its detail (:func:`table1_detail`) and the judges'
    rankings with their Kendall tau (glued as ``t1_ranking``)."""
    from IPython.display import Markdown, display

    view.show(table1_rows(t), "table1_stage_swap")
    view.show(table1_detail(t), "table1_stage_swap_detail", floatfmt=".3f")
    display(Markdown(f"*Rankings:* {table1_ranking(t)}."))
    view.glue(t1_ranking=table1_ranking(t))


def _fmt(d: tuple) -> str:
    return f"{d[0]:+.2f} [{d[1]:+.2f}, {d[2]:+.2f}]"


def table1_comparison(t: Table1) -> Comparison:
    """Table 1's paired costs against the paper's (criterion
    :func:`~flowstage_lib.experiments.criteria.table1_weak_stage1_costs_little`, once per judge,
    combined by :func:`~flowstage_lib.experiments.criteria.both_judges`).

    Times: the splits are the paper's own, 0.1 and 0.2 (``paper.TABLE1_SPLITS``), which in the
    calibrated setting sit where the paper's do relative to the transition."""
    costs = {j: table1_costs(t, j) for j in t.judges}
    by_judge = {j: criteria.table1_weak_stage1_costs_little(c) for j, c in costs.items()}
    v1 = criteria.both_judges(by_judge)
    rows = []
    for split in t.splits:
        p = paper.table1_costs(split) if round(split, 3) in paper.TABLE1_SPLITS else None
        for j in t.judges:
            c = costs[j][split]
            rows.append(
                {
                    "split": split,
                    "judge": j,
                    "cost of a weak stage 1 (paired FD, 95% CI)": _fmt(c["stage1"]),
                    "cost of a weak stage 2": _fmt(c["stage2"]),
                    "stage 2 - stage 1": _fmt(c["stage2 - stage1"]),
                    "paper (B/XL, XL/B)": f"+{p[0]:.2f}, +{p[1]:.2f}" if p else "-",
                    "sub-tests (2 > 1, 1 little)": ", ".join(
                        "ok" if f else "fails" for f in criteria.table1_split_parts(c)
                    ),
                }
            )
    ours = "; ".join(
        f"judge {j}, split {s:g}: weak stage 1 {_fmt(c['stage1'])}, weak stage 2 "
        f"{_fmt(c['stage2'])}"
        for j, cj in costs.items()
        for s, c in cj.items()
    )
    papers = ", ".join(
        f"+{a:.2f} / +{b:.2f}" + (" gFID" if i == 0 else "") + f" (split {s:g})"
        for i, (s, (a, b)) in enumerate((s, paper.table1_costs(s)) for s in paper.TABLE1_SPLITS)
    )
    claim = (
        "A weak stage-1 (navigation) model costs little, a weak stage-2 (refinement) model "
        "costs a lot",
        f"Table 1: {papers}",
        f"{v1.evidence}; criterion: {v1.test}",
        v1,
    )
    glue = {"v1": v1.verdict, "ours_t1": ours, "weak": t.weak, "strong": t.strong}
    glue.update({f"v1_{j}": v.verdict for j, v in by_judge.items()})
    return Comparison(pd.DataFrame(rows), glue, [claim])


def table1_paper_costs(t: Table1) -> dict:
    """{pair (ours): [gFID(pair) - gFID(XL/XL) at each paper split]} for Table 1's figure."""
    name = _as_paper(t)
    g, xl = paper.TABLE1_GFID, paper.TABLE1_STRONG
    return {
        p: [g[(s, name[p[0]], name[p[1]])] - g[(s, xl, xl)] for s in paper.TABLE1_SPLITS]
        for p in t.pairs[1:]
    }


def table1_sample_rows(samples: dict, models: dict, steps: tuple[int, int], seed: int) -> list:
    """Table 1's rows for :func:`~flowstage_lib.experiments.sample_sets.export_sample_sets`."""
    n1, n2 = steps
    return [
        {
            "row": _row_name(split, a, b),
            "x": s["x"],
            "y": s["y"],
            "sampler": f"Euler, {a} for t < {split:g}, {b} after, no guidance",
            "model": f"{a}/{b} ({model_id(models[a])}, {model_id(models[b])})",
            "grid": f"{n1} uniform steps on [0, {split:g}] + {n2} on [{split:g}, 1]",
            "seed": seed,
        }
        for (split, a, b), s in samples.items()
    ]
