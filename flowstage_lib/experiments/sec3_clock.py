"""Section 3, the clock identity: a data scale k moves the transition (issue 14, item 1).

For rectified flow on data k x1, x_t = t k x1 + (1 - t) x0 = ((1 - t) / (1 - tau)) x_tau with
tau = k t / (1 + (k - 1) t) = timestep_shift(t, k): every posterior weight gamma_i at time t on
k x1 equals the weight at tau on x1, so scaling the data is a change of clock
(:mod:`flowstage_lib.analyze.calibrate`, tested in float64). This module computes, at build time,
the k that puts our class-conditional top-1 = 0.9 crossing where the paper's is (t = 0.1,
Fig. 2b), with its bootstrap interval, and the k the 0.5 and 0.99 crossings would give.
"""

from __future__ import annotations

import pandas as pd

from flowstage_lib.analyze import calibrate_scale
from flowstage_lib.analyze.calibrate import Calibration
from flowstage_lib.data import load_dataset
from flowstage_lib.experiments import paper

__all__ = ["clock_calibration", "clock_table"]


def clock_calibration(n_queries: int, seed: int, data: str = "mnist5k") -> Calibration:
    """k for ``data``'s training split (the zoo's data), class-conditional, anchored at the
    paper's top-1 = 0.9 at t = 0.1; ``n_queries`` queries in all (split over classes)."""
    train = load_dataset(data, "train")
    x = train.x.reshape(train.N, -1)  # (N, D)
    return calibrate_scale(
        x, train.y, target_t=paper.TRANSITION_T, level=paper.TRANSITION_LEVEL,
        queries=max(int(n_queries), 2 * train.num_classes), seed=seed,
    )  # fmt: skip


def clock_table(cal: Calibration) -> pd.DataFrame:
    """One row per anchoring level: our crossing's k with its interval."""
    rows = [
        {"anchor (top-1 level at t = 0.1)": lv, "k": k, "k low": lo, "k high": hi}
        for lv, (k, lo, hi) in sorted(cal.k_by_level.items())
    ]
    return pd.DataFrame(rows)
