"""Table 2 (Sec. 5.1): timestep shift. One row per shift s of the Euler grid (no guidance),
judged by both judges of the panel; the paper: a moderate shift toward navigation (s < 1) is
best, extremes hurt. The verdict is taken on the paired FD differences FD(s) - FD(1) (every row
shares the noise and labels of the uniform grid's row)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from flowstage_lib.experiments import criteria, paper
from flowstage_lib.experiments._models import model_id
from flowstage_lib.experiments._shared import Comparison
from flowstage_lib.experiments.sec5_practices.grids import step_share
from flowstage_lib.experiments.sec5_practices.scoring import (
    border_rms,
    judged_set,
    judged_table,
    paired,
    sample_images,
)
from flowstage_lib.metrics.judge.panel import Panel
from flowstage_lib.path import shifted_grid

__all__ = [
    "table2_rows",
    "Table2",
    "table2",
    "table2_table",
    "table2_comparison",
    "table2_export",
    "ci",
    "label2",
]


def ci(r: dict, fmt: str = ".2f") -> str:
    """``"fd [low, high]"`` of a scored row."""
    return f"{r['fd']:{fmt}} [{r['fd_low']:{fmt}}, {r['fd_high']:{fmt}}]"


def label2(s: float) -> str:
    """Table 2's row label of shift ``s``."""
    return f"s = {float(s):g}"


def table2_rows(shifts: Sequence[float], n_steps: int, t_transition: float) -> list[dict]:
    """Table 2's grid columns: one row per timestep shift s (``n_steps`` Euler steps).

    Returns:
        list of dicts: s, label, share_02 (steps in [0, 0.2)), share_nav (steps in [0, our
        transition)), paper_fd.
    """
    rows = []
    for s in shifts:
        grid = shifted_grid(n_steps, float(s))
        rows.append(
            {
                "s": float(s),
                "label": label2(s),
                "share_02": step_share(grid, 0.0, 0.2),
                "share_nav": step_share(grid, 0.0, t_transition),
                "paper_fd": paper.TABLE2_GFID.get(float(s), math.nan),
            }
        )
    return rows


@dataclass
class Table2:
    """Table 2 judged.

    Attributes:
        rows: :func:`table2_rows`.
        scores: {label: {judge: panel scores}} (:func:`~.scoring.judged_set`).
        diffs: {s: {judge: {"fd": {delta, low, high, a, b}, "accuracy": ...}}}, the paired
            differences row - (s = 1) for every s != 1.
        speckle: {s: frame RMS of the samples} (:func:`~.scoring.border_rms`).
        verdicts: {judge: Verdict} and ``"both"`` (:func:`criteria.both_judges`).
    """

    rows: list
    scores: dict
    diffs: dict
    speckle: dict
    verdicts: dict

    @property
    def by_s(self) -> dict[float, dict]:
        return {r["s"]: r for r in self.rows}

    def fd(self, judge: str) -> dict[float, float]:
        """{s: FD under ``judge``}."""
        return {r["s"]: self.scores[r["label"]][judge]["fd"] for r in self.rows}

    def fd_diffs(self, judge: str) -> dict[float, dict]:
        """{s: paired FD difference FD(s) - FD(1) under ``judge``} (the criterion's input)."""
        return {s: d[judge]["fd"] for s, d in self.diffs.items()}


def table2(
    result, panel: Panel, shifts, n: int, n_steps: int, seed: int, t_transition: float
) -> Table2:
    """Sample every row (cached), score it under both judges, take the paired differences
    against s = 1 and apply :func:`criteria.table2_moderate_shift_is_best` per judge."""
    if 1.0 not in [float(s) for s in shifts]:
        raise ValueError(f"shifts must contain the uniform grid s = 1.0, got {list(shifts)}")
    rows = table2_rows(shifts, n_steps, t_transition)
    base = sample_images(result, n, n_steps, seed, shift=1.0)
    scores, diffs, speckle = {}, {}, {}
    for r in rows:
        s = sample_images(result, n, n_steps, seed, shift=r["s"])
        scores[r["label"]] = judged_set(panel, s)
        speckle[r["s"]] = border_rms(s["x"])
        if r["s"] != 1.0:
            diffs[r["s"]] = paired(panel, s, base)
    t = Table2(rows, scores, diffs, speckle, {})
    by = {j: criteria.table2_moderate_shift_is_best(t.fd_diffs(j)) for j in panel.names}
    t.verdicts = {**by, "both": criteria.both_judges(by)}
    return t


def table2_table(t: Table2) -> pd.DataFrame:
    """Table 2: the grid columns and the paper's gFID beside both judges' FD and accuracy
    with intervals, the paired FD difference to s = 1, and the frame speckle."""
    judged = judged_table(
        t.scores, {r["label"]: t.diffs.get(r["s"], {}) for r in t.rows}, label2(1.0)
    )
    grid = pd.DataFrame(
        [
            {
                "steps in [0, 0.2)": f"{r['share_02']:.0%}",
                "steps in our navigation": f"{r['share_nav']:.0%}",
                "paper gFID": r["paper_fd"],
                "border speckle": t.speckle[r["s"]],
            }
            for r in t.rows
        ]
    )
    return pd.concat([judged.iloc[:, :1], grid, judged.iloc[:, 1:]], axis=1)


def table2_export(result, shifts, n: int, n_steps: int, seed: int) -> list[dict]:
    """Table 2's sample sets as rows for
    :func:`~flowstage_lib.experiments.sample_sets.export_sample_sets`."""
    return [
        {
            "row": label2(s),
            **sample_images(result, n, n_steps, seed, shift=float(s)),
            "sampler": f"Euler, {n_steps} steps, no guidance",
            "model": model_id(result),
            "grid": f"{n_steps} steps, timestep shift {float(s):g}",
            "seed": seed,
        }
        for s in shifts
    ]


def _paper_text() -> tuple[str, str, str]:
    g = paper.TABLE2_GFID
    best = min(g, key=g.get)
    hi, lo = max(g), min(g)
    return (
        f"{best:g} ({g[best]:.2f} vs {g[1.0]:.2f} uniform)",
        f"x{g[hi] / g[1.0]:.2f}, x{g[lo] / g[1.0]:.2f}",
        f"Table 2: best s = {best:g} (gFID {g[best]:.2f} vs {g[1.0]:.2f} at s = 1); "
        f"s = {hi:g}: {g[hi]:.2f}, s = {lo:g}: {g[lo]:.2f}",
    )


def _dfd(d: dict) -> str:
    return f"{d['delta']:+.2f} [{d['low']:+.2f}, {d['high']:+.2f}]"


def _ours(t: Table2, j: str) -> str:
    best, *_ = criteria.table2_parts(t.fd_diffs(j))
    d = t.fd_diffs(j)
    hi, lo = max(d), min(d)
    b = _dfd(d[best]) if best != 1.0 else "+0"
    return (
        f"judge {j}: best s = {best:g} (dFD {b}), s = {hi:g}: {_dfd(d[hi])}, "
        f"s = {lo:g}: {_dfd(d[lo])}"
    )


def table2_comparison(t: Table2, n_steps: int) -> Comparison:
    """Table 2 against the paper: each judge's best shift and extremes as paired FD
    differences to s = 1, and the verdict of
    :func:`~flowstage_lib.experiments.criteria.table2_moderate_shift_is_best` per judge and
    combined (:func:`~flowstage_lib.experiments.criteria.both_judges`)."""
    judges = [j for j in t.verdicts if j != "both"]
    p_best, p_ext, p_claim = _paper_text()
    rows = [("best shift and the extremes, FD(s) - FD(1) [95% CI]", p_claim, _ours(t, j),
             t.verdicts[j].verdict) for j in judges]  # fmt: skip
    rows.append(("both judges", p_best, "", t.verdicts["both"].verdict))
    best = {j: criteria.table2_parts(t.fd_diffs(j))[0] for j in judges}
    by = t.by_s
    glue = {
        "v2": t.verdicts["both"].verdict,
        "v2_words": ", ".join(f"judge {j}: {t.verdicts[j].verdict}" for j in judges),
        "best_s": " / ".join(f"{best[j]:g} ({j})" for j in judges),
        "best_s_a": best[judges[0]],
        "uniform_nav": by[1.0]["share_nav"],
        "best_nav": by[best[judges[0]]]["share_nav"],
        "paper_best_nav": step_share(shifted_grid(n_steps, 0.5), 0.0, paper.TRANSITION_T),
        "paper_uniform_nav": step_share(shifted_grid(n_steps, 1.0), 0.0, paper.TRANSITION_T),
        "speckle1": t.speckle[1.0],
        "speckle_lo": t.speckle[min(by)],
        "s_lo": min(by),
    }
    claim = (
        "A moderate timestep shift toward navigation (s < 1) is best at NFE 50; extreme shifts "
        "hurt",
        p_claim,
        "; ".join(f"{_ours(t, j)}: {t.verdicts[j].verdict}" for j in judges),
        t.verdicts["both"],
    )
    table = pd.DataFrame(rows, columns=["quantity", "paper", "ours", "holds"])
    return Comparison(table, glue, [claim])
