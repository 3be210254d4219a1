"""``flowstage analyze``: the navigation -> refinement transition of *your* data, at any scale.

    from flowstage_lib.analyze import analyze
    res = analyze("latents.npy", labels="labels.npy", convention="sd3")
    res.to_dict()["transfer"]

Measures with the exact streamed oracle (Theorem 2.1) the top-1 posterior weight and the
MSE-to-CFM-target curves along t (Fig. 2a / 2b), unconditional and class-conditional, their
crossings t_0.5 / t_0.9 / t_0.99 with bootstrap intervals, the collapse time predicted from
(D, N, spread), the data scale k that puts the class-conditional 0.9 crossing at the paper's
t = 0.1 (`calibrate`), and the paper's best timestep shift (Table 2) and CFG intervals
(Table 3) carried over by k -- a transfer of the paper's findings, not a guarantee. Every time
is written in the chosen convention (`conventions`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from flowstage_lib.analyze import conventions as cv
from flowstage_lib.analyze.calibrate import Calibration, calibrate_scale, clock_identity
from flowstage_lib.analyze.core import (
    LEVELS,
    CurveSummary,
    calibration_of,
    in_convention,
    measure,
    transfer,
)
from flowstage_lib.analyze.distributed import rank_world
from flowstage_lib.experiments import paper

__all__ = ["PAPER", "AnalysisResult", "Calibration", "analyze", "calibrate_scale", "clock_identity"]

# The paper's setting and best practices (LightningDiT B/1 on ImageNet latents, gFID@50K), read
# from the one module that holds the paper's numbers (experiments/paper.py, cited there):
PAPER = {
    "target_t": paper.TRANSITION_T,  # Fig. 2b: class-conditional top-1 ~ 0.9 from t = 0.1 on
    "level": paper.TRANSITION_LEVEL,
    "shift": paper.TABLE2_BEST_SHIFT,  # Table 2: best shift s = 0.5, NFE 50, no CFG
    "cfg_short": paper.TABLE3_BEST_SHORT,  # Table 3: best short interval [0.1, 0.2], scale 2.5
    "cfg_wide": paper.TABLE3_BEST_WIDE,  # Table 3: best interval [0.1, 0.6], scale 2.5
}
CAVEAT = (
    "A transfer of the paper's findings by the data-scale identity (the oracle's clock), not a "
    "guarantee: a trained model's errors, the loss weighting and the guidance scale are not "
    "covered by the identity."
)


@dataclass
class AnalysisResult:
    """Everything `analyze` measured. Times in the attributes are ours (t = 0 noise);
    `to_dict` writes them in ``convention``.

    Attributes:
        name: the data's name (file or folder). n, shape, dim: N, one row's shape, D.
        convention: the convention of `to_dict` ("ours", "lightningdit", "sd3",
            "flow_matching").
        unconditional / conditional: CurveSummary or None.
        n_classes: classes analysed (0 without labels).
        spread / spread_within: per-coordinate standard deviation (within classes).
        calibration: the data scale k (class-conditional when labels are given).
        transfer: {"shift": (s, lo, hi), "cfg_short": ((a, b), lo, hi), "cfg_wide": ...},
            our convention.
    """

    name: str
    n: int
    shape: tuple
    dim: int
    convention: str
    unconditional: CurveSummary | None
    conditional: CurveSummary | None
    n_classes: int
    spread: float
    spread_within: float
    calibration: Calibration
    transfer: dict
    processes: int = 1

    def _curve(self, s: CurveSummary | None) -> dict | None:
        if s is None:
            return None
        conv = self.convention
        cross = in_convention(s.crossings, conv)
        return {
            "top1": s.top1.tolist(),
            "top1_se": s.top1_se.tolist(),
            "mse": s.mse.tolist(),
            "mse_se": s.mse_se.tolist(),
            "entropy": s.entropy.tolist(),
            "crossings": {
                str(lv): dict(zip(("t", "lo", "hi"), v, strict=True)) for lv, v in cross.items()
            },
            "predicted_transition": cv.time_to(s.predicted_t, conv),
            "predicted_from": {"D": self.dim, "N": s.n_rows, "spread": s.spread},
            "n_queries": s.n_queries,
        }

    def _transfer(self) -> dict:
        conv, tr = self.convention, self.transfer
        if not tr:
            return {"note": "no crossing of the anchoring level: nothing to transfer"}
        s, lo, hi = tr["shift"]
        shifts = sorted(cv.shift_to(v, conv) for v in (lo, hi) if math.isfinite(v))
        out = {
            "shift": {
                "value": cv.shift_to(s, conv),
                "interval": shifts,
                "ours": s,
                "paper": PAPER["shift"],
                "grid_50_steps_head": cv.shifted_grid(51, s, conv)[:6],
            },
            "note": CAVEAT,
        }
        for name in ("cfg_short", "cfg_wide"):
            (a, b), lo_ab, hi_ab = tr[name]
            out[name] = cv.interval_to(a, b, conv)
            out[name]["paper"] = list(PAPER[name])
            out[name]["from_k_interval"] = [
                cv.interval_to(*ab, conv)
                for ab in (lo_ab, hi_ab)
                if all(math.isfinite(v) for v in ab)
            ]
        return out

    def to_dict(self) -> dict:
        """JSON-ready numbers, every time and shift in ``self.convention``."""
        conv, cal = self.convention, self.calibration
        t = (self.conditional or self.unconditional).t
        return {
            "data": self.name,
            "N": self.n,
            "shape": list(self.shape),
            "D": self.dim,
            "n_classes": self.n_classes,
            "processes": self.processes,
            "convention": conv,
            "time_name": cv.time_name(conv),
            "times": [cv.time_to(v, conv) for v in t.tolist()],
            "spread": self.spread,
            "spread_within": self.spread_within,
            "unconditional": self._curve(self.unconditional),
            "conditional": self._curve(self.conditional),
            "calibration": {
                "k": cal.k,
                "k_interval": list(cal.k_interval),
                "level": cal.level,
                "conditional": cal.conditional,
                "paper_crossing": cv.time_to(cal.target_t, conv),
                "crossing": cv.time_to(cal.t_cross, conv),
                "k_by_level": {str(lv): list(v) for lv, v in cal.k_by_level.items()},
                "meaning": f"the data times k has its top-1 = {cal.level} crossing at the "
                f"paper's t = {cal.target_t} (k > 1: lower SNR than the paper's setting)",
            },
            "transfer": self._transfer(),
        }


def analyze(
    data,
    labels=None,
    convention: str = "ours",
    queries: int = 256,
    class_queries: int | None = None,
    times: int | Sequence[float] = 32,
    t_max: float = 0.98,
    seed: int = 0,
    n_boot: int = 200,
    unconditional: bool = True,
    classes=None,
    dtype: torch.dtype = torch.float32,
    chunk_rows: int | None = None,
    progress: bool = True,
) -> AnalysisResult:
    """Measure the transition of a data set and transfer the paper's practices to it.

    Args:
        data: (N, *shape) array / tensor, a .npy (memory-mapped, float16/32/64 or integer),
            a .npz, or a folder of .npy shards. Never loaded whole (except .npz).
        labels: optional (N,) integer labels (array or .npy / .npz): adds class-conditional
            curves (the paper's Fig. 2 setting), used for the calibration.
        convention: how `AnalysisResult.to_dict` writes times and shifts.
        queries: unconditional queries; class_queries: queries per class (default
            ceil(queries / C), at least 2).
        times: points of the uniform grid on [0, t_max] (our t), or the grid itself (a
            sequence of strictly increasing times in [0, 1), e.g. the book's log-linear grid).
        n_boot: bootstrap resamples of the queries for the crossing intervals.
        unconditional: also measure the unconditional curves (a pass over all N rows).
        classes: only these classes (default: all).
        dtype: compute dtype (float32, or float64 for exact work near t = 1).
        chunk_rows: rows per streamed block.

    Runs sharded over torch.distributed ranks when a process group is initialised.
    """
    cv.check_convention(convention)
    if labels is None and not unconditional:
        raise ValueError("unconditional=False needs labels (nothing would be measured)")
    m = measure(
        data,
        labels,
        queries,
        class_queries,
        times,
        t_max,
        seed,
        LEVELS,
        n_boot,
        unconditional,
        classes,
        dtype,
        chunk_rows,
        progress,
    )
    cal = calibration_of(m, PAPER["level"], PAPER["target_t"])
    src = m["source"]
    return AnalysisResult(
        name=src.name,
        n=src.n,
        shape=src.shape,
        dim=src.dim,
        convention=convention,
        unconditional=m["unconditional"],
        conditional=m["conditional"],
        n_classes=m["n_classes"],
        spread=m["spread"],
        spread_within=m["spread_within"],
        calibration=cal,
        transfer=transfer(cal, PAPER),
        processes=rank_world()[1],
    )
