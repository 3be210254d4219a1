"""The setting of Section 5: main model, classifier, our transition and the FD floor."""

from __future__ import annotations

import pandas as pd

from flowstage_lib.experiments.sec5_practices.table2_shift import ci
from flowstage_lib.models import count_params

__all__ = ["setting_table"]


def setting_table(base, ev, main: str, t09: float, k_rel: float, floor: dict) -> pd.DataFrame:
    """One row per item of the setting (model, classifier, transition, shift factor, floor)."""
    rows = [
        (
            f"main model {main} ({base.spec.family})",
            f"{count_params(base.model) / 1e6:.2f} M parameters, {base.cfg.steps} steps, batch "
            f"{base.cfg.batch_size}, trained in {base.seconds:.0f} s",
        ),
        (
            "feature classifier",
            f"{ev.report.steps} steps, {ev.report.heldout_accuracy:.1%} on "
            f"{ev.report.heldout_name}",
        ),
        ("our transition t_0.9 (class-conditional top-1 weight)", f"{t09:.3f}"),
        ("shift factor k of the relative placement", f"{k_rel:.2f}"),
        (f"FD of {floor['n']} real unseen images (floor)", ci(floor)),
    ]
    return pd.DataFrame(rows, columns=["item", "value"])
