"""The native contrast of Table 3 (issue 14, item 5): does the clock identity hold for trained
models under guidance?

For every executed row of Table 3 (CFG scale w on [a, b) of the calibrated clock; the first row
without guidance), the native (k = 1) main model samples on the mapped grid
timestep_shift(grid, k) with guidance on the mapped interval [shift(a, k), shift(b, k)), and the
calibrated main model on the plain uniform grid with guidance on [a, b), with the same noise
and labels (:func:`~flowstage_lib.experiments.clock_check.native_on_mapped_grid`; exact for the
oracle). Per model, Table 3's three pre-registered criteria are applied exactly as in
:func:`~.table3_cfg_interval.table3` (:func:`~.table3_cfg_interval.table3_verdicts` on a
:class:`~.table3_cfg_interval.Table3` built from that model's own rows: each guided row's paired
FD difference to its own unguided row, and [.1, b] against [0, b]), per judge and combined. A
row whose interval endpoint sits within rounding of a grid time cannot guide the same steps in
both clocks: it is skipped with the reason, and a claim that needs it is not judged. A contrast:
it decides no claim of the paper.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from flowstage_lib.experiments import criteria
from flowstage_lib.experiments.clock_check import native_on_mapped_grid
from flowstage_lib.experiments.sec5_practices.clock_contrast import ROLES
from flowstage_lib.experiments.sec5_practices.scoring import judged_set, paired
from flowstage_lib.experiments.sec5_practices.table2_shift import ci
from flowstage_lib.experiments.sec5_practices.table3_cfg_interval import (
    CLAIMS,
    NAMES,
    Table3,
    table3_verdicts,
)
from flowstage_lib.path import uniform_grid
from flowstage_lib.tooling.progress import tqdm

__all__ = [
    "ClockContrast3",
    "table3_clock_check",
    "clock_check3_table",
    "clock_check3_text",
    "show_clock_check3",
]

_ROW_KEYS = ("label", "a", "b", "run_a", "run_b")
_SHORT = {
    "c1": "best short interval at the transition",
    "c2": "excluding [0, 0.1] helps",
    "c3": "best wide interval in early-mid refinement",
}


@dataclass
class ClockContrast3:
    """Table 3 in both clocks.

    Attributes:
        rows: Table 3's executed rows (label, a, b, run_a, run_b; calibrated clock).
        k: the data scale; n: samples per row; scale: the CFG scale w.
        t_interval: the 95% interval of the transition (criterion c1).
        scores: {role: {label: {judge: panel scores}}}, role "native" (mapped grid) or
            "calibrated" (plain grid).
        between: {label: {judge: paired differences native - calibrated}}.
        verdicts: {role: {claim: {judge: Verdict, "both": Verdict}}} for the judged claims.
        skipped: {label: why} of the rows not run (an endpoint within rounding of a grid time).
        untested: {claim: why} of the claims not judged (they need a skipped row).
    """

    rows: list
    k: float
    n: int
    scale: float
    t_interval: tuple
    scores: dict
    between: dict
    verdicts: dict
    skipped: dict
    untested: dict

    @property
    def judges(self) -> list[str]:
        return list(next(iter(self.scores["native"].values())))

    def agree(self, claim: str, judge: str = "both") -> bool | None:
        """Whether both models get the same word for ``claim`` from ``judge`` (None: the claim
        was not judged)."""
        if claim in self.untested:
            return None
        v = self.verdicts
        return v["native"][claim][judge].verdict == v["calibrated"][claim][judge].verdict


def _is_guided(r: dict) -> bool:
    return not math.isnan(float(r["run_a"]))


def _needs(rows: list[dict], claim: str) -> set[str]:
    """The row labels a claim's criterion reads (besides the unguided row)."""
    guided = [r for r in rows if _is_guided(r)]
    if claim == "c1":  # every 0.1-wide row
        return {r["label"] for r in guided if abs(r["b"] - r["a"] - 0.1) < 1e-9}
    if claim == "c3":  # every row at least 0.2 wide
        return {r["label"] for r in guided if r["b"] - r["a"] >= 0.2 - 1e-9}
    return {lab for p in criteria.TABLE3_PAIRS for lab in p}


def _check_rows(rows) -> list[dict]:
    rows = [dict(r) for r in rows]
    if not rows or _is_guided(rows[0]):
        raise ValueError("rows must be Table 3's executed rows, the first without guidance")
    bad = [r.get("label", i) for i, r in enumerate(rows) if any(k not in r for k in _ROW_KEYS)]
    if bad:
        raise ValueError(f"rows {bad} lack one of {_ROW_KEYS}")
    return rows


def _sample(native, calibrated, rows, scale, n, n_steps, seed, k, shape, K, describe):
    """{role: {label: sample set}} and {label: why} of the skipped rows."""
    sets, skipped = {r: {} for r in ROLES}, {}
    for r in tqdm(rows, desc="Table 3 cross-check", disable=True):
        w, iv = (float(scale), (r["run_a"], r["run_b"])) if _is_guided(r) else (1.0, (0.0, 1.0))
        try:
            pair = native_on_mapped_grid(native, calibrated, n, shape, K, data_scale=k,
                                         grid=uniform_grid(n_steps), n_steps=n_steps,
                                         cfg_scale=w, cfg_interval=iv, seed=seed,
                                         describe=describe)  # fmt: skip
        except ValueError as e:
            if "within rounding of a grid time" not in str(e):
                raise
            skipped[r["label"]] = str(e)
            continue
        sets["native"][r["label"]], sets["calibrated"][r["label"]] = pair.native, pair.calibrated
    return sets, skipped


def _model_table(panel, sets: dict, rows: list[dict], t_interval) -> Table3:
    """One model's :class:`Table3` (its own rows, paired differences and pairs)."""
    none = rows[0]["label"]
    run = [r for r in rows if r["label"] in sets]
    scores = {r["label"]: judged_set(panel, sets[r["label"]]) for r in run}
    diffs = {
        r["label"]: paired(panel, sets[r["label"]], sets[none]) for r in run if _is_guided(r)
    }  # fmt: skip
    pairs = {(a, b): paired(panel, sets[b], sets[a]) for a, b in criteria.TABLE3_PAIRS
             if a in sets and b in sets}  # fmt: skip
    return Table3(run, scores, diffs, pairs, math.nan, math.nan, tuple(t_interval), {}, run,
                  scores, 0)  # fmt: skip


def table3_clock_check(native, calibrated, panel, rows, scale: float, n: int, n_steps: int,
                       seed: int, t_interval, *, data_scale=None, shape=None, num_classes=None,
                       describe=None) -> ClockContrast3 | None:  # fmt: skip
    """Sample and score both models on every row of Table 3 (cached sample sets, rows paired
    within and across the models), apply Table 3's three criteria per model and judge.

    Args:
        native: the k = 1 main model (``TrainResult``); calibrated: the main model on k x1
            (either may be a velocity, e.g. an oracle, given ``data_scale``, ``shape``,
            ``num_classes`` and ``describe`` as for ``native_on_mapped_grid``).
        panel: the judges; rows: Table 3's executed rows (``Table3.rows``); scale: the CFG
            scale; n, n_steps, seed: samples per row, Euler steps (uniform grid), noise seed.
        t_interval: the 95% interval of the transition (``Table3.t_interval``), finite.

    Returns:
        :class:`ClockContrast3`, or None when ``calibrated`` is itself native (k = 1).
    """
    spec = getattr(calibrated, "spec", None)
    k = float(data_scale if data_scale is not None else getattr(spec, "data_scale", 1.0))
    if k == 1.0:
        return None
    rows = _check_rows(rows)
    t_interval = tuple(float(v) for v in t_interval)
    if len(t_interval) != 2 or not all(math.isfinite(v) for v in t_interval):
        raise ValueError(f"t_interval must be a finite (low, high), got {t_interval}")
    shape = tuple(shape if shape is not None else spec.input_shape)
    K = num_classes if num_classes is not None else spec.num_classes
    sets, skipped = _sample(native, calibrated, rows, scale, n, n_steps, seed, k, shape, K,
                            describe)  # fmt: skip
    if rows[0]["label"] in skipped:
        raise ValueError("the unguided row cannot be skipped")
    untested = {c: "needs skipped row(s) " + ", ".join(sorted(_needs(rows, c) & set(skipped)))
                for c in CLAIMS if _needs(rows, c) & set(skipped)}  # fmt: skip
    claims = [c for c in CLAIMS if c not in untested]
    tables = {r: _model_table(panel, sets[r], rows, t_interval) for r in ROLES}
    verdicts = {r: table3_verdicts(tables[r], claims) for r in ROLES}
    scores = {r: tables[r].scores for r in ROLES}
    between = {lab: paired(panel, sets["native"][lab], sets["calibrated"][lab])
               for lab in sets["native"]}  # fmt: skip
    return ClockContrast3(rows, k, n, float(scale), t_interval, scores, between, verdicts,
                          skipped, untested)  # fmt: skip


def _dfd(d: dict) -> str:
    return f"{d['delta']:+.2f} [{d['low']:+.2f}, {d['high']:+.2f}]"


def clock_check3_table(c: ClockContrast3) -> pd.DataFrame:
    """One row per Table 3 row: each judge's FD [95% CI] of both models and the paired
    difference native - calibrated ("skipped" for a skipped row); then one row per claim with
    each model's verdict per judge and whether the two agree."""
    out = []
    for row in c.rows:
        lab = row["label"]
        r = {"row": lab}
        for j in c.judges:
            for role in ROLES:
                r[f"{j}: FD {role} [95% CI]"] = (
                    ci(c.scores[role][lab][j]) if lab in c.between else "skipped"
                )
            r[f"{j}: native - calibrated [95% CI]"] = (
                _dfd(c.between[lab][j]["fd"]) if lab in c.between else "skipped"
            )
        out.append(r)
    for claim in CLAIMS:
        r = {"row": f"verdict: {NAMES[claim]}"}
        for j in c.judges:
            for role in ROLES:
                r[f"{j}: FD {role} [95% CI]"] = (
                    "not judged" if claim in c.untested else c.verdicts[role][claim][j].verdict
                )
            a = c.agree(claim, j)
            r[f"{j}: native - calibrated [95% CI]"] = (
                "-" if a is None else "agree" if a else "differ"
            )
        out.append(r)
    return pd.DataFrame(out)


def clock_check3_text(c: ClockContrast3 | None) -> str:
    """A sentence on the cross-check's outcome (what the book glues)."""
    if c is None:
        return "The models are native (k = 1): there is no calibrated model to contrast."
    judged = [cl for cl in CLAIMS if cl not in c.untested]
    words = "; ".join(
        f"{_SHORT[cl]}: '{c.verdicts['native'][cl]['both'].verdict}' / "
        f"'{c.verdicts['calibrated'][cl]['both'].verdict}'"
        for cl in judged
    )
    n_agree = sum(bool(c.agree(cl)) for cl in judged)
    split = [f"{_SHORT[cl]} under judge {j}" for cl in judged for j in c.judges
             if not c.agree(cl, j)]  # fmt: skip
    resolved = sum(
        all(c.between[lab][j]["fd"]["low"] > 0 or c.between[lab][j]["fd"]["high"] < 0
            for j in c.judges)
        for lab in c.between
    )  # fmt: skip
    text = (
        f"On {c.n} samples per row (CFG {c.scale:g}, k = {c.k:.2f}), Table 3's verdicts for "
        f"the native model on the mapped grid / the calibrated model on the plain grid: "
        f"{words}. The verdicts agree on {n_agree} of {len(judged)} claims"
        + (f" (per judge they differ on: {'; '.join(split)})" if split else "")
        + f". The two models' FDs differ, resolved under both judges, at {resolved} of "
        f"{len(c.between)} rows."
    )
    if c.skipped:
        text += (
            f" Skipped (an interval endpoint within rounding of a grid time, so the two "
            f"clocks would guide different steps): {', '.join(c.skipped)}; not judged: "
            f"{', '.join(c.untested) or 'none'}."
        )
    return text


def show_clock_check3(view, c: ClockContrast3 | None) -> str:
    """Show :func:`clock_check3_table` (``table3_clock_check``; nothing in the native setting)
    and glue :func:`clock_check3_text` as ``clock3_text``; return the text. ``view``: a
    :class:`flowstage_lib.tooling.book.View`."""
    if c is not None:
        view.show(clock_check3_table(c), "table3_clock_check")
    text = clock_check3_text(c)
    view.glue(clock3_text=text)
    return text
