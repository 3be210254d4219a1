"""The native contrast of Table 2 (issue 14, item 5): does the clock identity hold for trained
models?

The native (k = 1) main model, sampled on the mapped grid timestep_shift(grid_s, k), against
the calibrated main model (trained on k x1) on the plain shifted grid grid_s, for every shift s
of Table 2, with the same noise and labels (:func:`~flowstage_lib.experiments.clock_check.
native_on_mapped_grid`; exact for the oracle). For trained models the two differ only by what
training learned differently (uniform t weights the noise levels differently in the two
clocks). Per model, Table 2's criterion (:func:`~flowstage_lib.experiments.criteria.
table2_moderate_shift_is_best`) is applied per judge on its own paired differences FD(s) -
FD(1); the report says whether the two models' verdicts agree, and gives the paired difference
FD(native, mapped) - FD(calibrated) per shift. A contrast: it decides no claim of the paper.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from flowstage_lib.experiments import criteria
from flowstage_lib.experiments.clock_check import native_on_mapped_grid
from flowstage_lib.experiments.sec5_practices.scoring import judged_set, paired
from flowstage_lib.experiments.sec5_practices.table2_shift import ci, label2
from flowstage_lib.path import shifted_grid

__all__ = [
    "ClockContrast",
    "table2_clock_check",
    "clock_check_table",
    "clock_check_text",
    "show_clock_check",
]

ROLES = ("native", "calibrated")


@dataclass
class ClockContrast:
    """Table 2 in both clocks.

    Attributes:
        shifts: Table 2's shifts s (the calibrated clock); k: the data scale; n: samples per row.
        scores: {role: {s: {judge: panel scores}}}, role "native" (mapped grid) or
            "calibrated" (plain grid).
        between: {s: {judge: paired differences native - calibrated}}.
        verdicts: {role: {judge: Verdict, "both": Verdict}} of Table 2's criterion.
    """

    shifts: list
    k: float
    n: int
    scores: dict
    between: dict
    verdicts: dict

    @property
    def judges(self) -> list[str]:
        return [j for j in self.verdicts["native"] if j != "both"]

    def agree(self, judge: str = "both") -> bool:
        """Whether the native and the calibrated model get the same word from ``judge``."""
        return self.verdicts["native"][judge].verdict == self.verdicts["calibrated"][judge].verdict


def table2_clock_check(native, calibrated, panel, shifts, n: int, n_steps: int, seed: int):
    """Sample and score both models on every shift (cached sample sets, rows paired within and
    across the models), apply Table 2's criterion per model and judge.

    Args:
        native: the k = 1 main model (``TrainResult``); calibrated: the main model on k x1.
        panel: the judges; shifts: must contain 1.0; n, n_steps, seed: samples per row, Euler
            steps, noise seed.

    Returns:
        :class:`ClockContrast`, or None when ``calibrated`` is itself native (k = 1: nothing
        to contrast).
    """
    k = float(getattr(calibrated.spec, "data_scale", 1.0))
    if k == 1.0:
        return None
    shifts = [float(s) for s in shifts]
    if 1.0 not in shifts:
        raise ValueError(f"shifts must contain the uniform grid s = 1.0, got {shifts}")
    shape, K = tuple(calibrated.spec.input_shape), calibrated.spec.num_classes
    sets = {r: {} for r in ROLES}
    for s in shifts:
        pair = native_on_mapped_grid(native, calibrated, n, shape, K, grid=shifted_grid(n_steps, s),
                                     n_steps=n_steps, seed=seed)  # fmt: skip
        sets["native"][s], sets["calibrated"][s] = pair.native, pair.calibrated
    scores = {r: {s: judged_set(panel, x) for s, x in sets[r].items()} for r in ROLES}
    between = {s: paired(panel, sets["native"][s], sets["calibrated"][s]) for s in shifts}
    verdicts = {}
    for r in ROLES:
        diffs = {s: paired(panel, sets[r][s], sets[r][1.0]) for s in shifts if s != 1.0}
        by = {
            j: criteria.table2_moderate_shift_is_best({s: d[j]["fd"] for s, d in diffs.items()})
            for j in panel.names
        }  # fmt: skip
        verdicts[r] = {**by, "both": criteria.both_judges(by)}
    return ClockContrast(shifts, k, n, scores, between, verdicts)


def clock_check_table(c: ClockContrast) -> pd.DataFrame:
    """One row per shift: each judge's FD [95% CI] of both models and the paired difference
    native - calibrated; a last row with each model's Table 2 verdict per judge."""
    rows = []
    for s in c.shifts:
        r = {"row": label2(s)}
        for j in c.judges:
            for role in ROLES:
                r[f"{j}: FD {role} [95% CI]"] = ci(c.scores[role][s][j])
            d = c.between[s][j]["fd"]
            r[f"{j}: native - calibrated [95% CI]"] = (
                f"{d['delta']:+.2f} [{d['low']:+.2f}, {d['high']:+.2f}]"
            )
        rows.append(r)
    last = {"row": "Table 2 verdict"}
    for j in c.judges:
        for role in ROLES:
            last[f"{j}: FD {role} [95% CI]"] = c.verdicts[role][j].verdict
        last[f"{j}: native - calibrated [95% CI]"] = "agree" if c.agree(j) else "differ"
    return pd.DataFrame([*rows, last])


def clock_check_text(c: ClockContrast | None) -> str:
    """A sentence on the cross-check's outcome (what the book glues)."""
    if c is None:
        return "The models are native (k = 1): there is no calibrated model to contrast."
    words = {r: c.verdicts[r]["both"].verdict for r in ROLES}
    resolved = sum(
        all(c.between[s][j]["fd"]["low"] > 0 or c.between[s][j]["fd"]["high"] < 0 for j in c.judges)
        for s in c.shifts
    )
    return (
        f"On {c.n} samples per row, Table 2's verdict is '{words['native']}' for the native "
        f"model on the mapped grid and '{words['calibrated']}' for the calibrated model on the "
        f"plain grid (k = {c.k:.2f}): the verdicts {'agree' if c.agree() else 'differ'}. The "
        f"two models' FDs differ, resolved under both judges, at {resolved} of "
        f"{len(c.shifts)} shifts: that is what training in one clock or the other changes."
    )


def show_clock_check(view, c: ClockContrast | None) -> str:
    """Show :func:`clock_check_table` (``table2_clock_check``; nothing in the native setting)
    and glue :func:`clock_check_text` as ``clock_text``; return the text. ``view``: a
    :class:`flowstage_lib.tooling.book.View`."""
    if c is not None:
        view.show(clock_check_table(c), "table2_clock_check")
    text = clock_check_text(c)
    view.glue(clock_text=text)
    return text
