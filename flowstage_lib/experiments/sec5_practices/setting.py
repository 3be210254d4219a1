"""The setting of Section 5: main model, judges, our transition and the FD floor."""

from __future__ import annotations

import pandas as pd

from flowstage_lib.experiments.sec5_practices.table2_shift import ci
from flowstage_lib.models import count_params

__all__ = ["setting_table"]


def setting_table(base, panel, main: str, tr, k_rel: float, floor: dict) -> pd.DataFrame:
    """One row per item of the setting (model, judges, transition with its interval, shift
    factor, floor per judge). ``tr``: a :class:`~flowstage_lib.experiments._shared.Transition`
    with intervals; ``floor``: {judge: scores} of real images
    (:func:`~.scoring.judged_reference`)."""
    lo, hi = tr.t09_interval
    rows = [
        (
            f"main model {main} ({base.spec.family})",
            f"{count_params(base.model) / 1e6:.2f} M parameters, {base.cfg.steps} steps, batch "
            f"{base.cfg.batch_size}, trained in {base.seconds:.0f} s",
        ),
        *[
            (
                f"judge {j.name} ({j.report.arch})",
                f"{j.report.steps} steps, {j.report.heldout_accuracy:.1%} on "
                f"{j.report.heldout_name}",
            )
            for j in panel.judges
        ],
        (
            "our transition t_0.9 [95% CI] (class-conditional top-1 weight)",
            f"{tr.t09:.3f} [{lo:.3f}, {hi:.3f}]",
        ),  # fmt: skip
        ("shift factor k of the pre-registered placement", f"{k_rel:.2f}"),
        *[
            (f"FD of {v['n']} real training images, judge {j} (floor)", ci(v))
            for j, v in floor.items()
        ],
    ]
    return pd.DataFrame(rows, columns=["item", "value"])
