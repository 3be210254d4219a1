"""Fig. 10 (App. B): training on the oracle target u*(x_t, t | y) instead of x1 - x0; the
paper: a slight early advantage, then the FD curves overlap."""

from __future__ import annotations

import pandas as pd

from flowstage_lib.experiments import criteria
from flowstage_lib.experiments._shared import Comparison
from flowstage_lib.experiments.sec5_practices.table2_shift import ci

__all__ = ["figure10_comparison"]


def figure10_comparison(fd_oracle: list, fd_cfm: list, seconds: tuple[float, float]) -> Comparison:
    """Fig. 10 against the paper on FD-over-training rows of the oracle-target and CFM models
    (criterion ``fig10_oracle_target_early_advantage``); ``seconds``: their training times."""
    v = criteria.fig10_oracle_target_early_advantage(fd_oracle, fd_cfm)
    n_early = max(1, len(fd_oracle) // 4)
    early, late = criteria.fig10_parts(fd_oracle, fd_cfm)
    fo, fc, lo, lc = fd_oracle[0], fd_cfm[0], fd_oracle[-1], fd_cfm[-1]
    rows = [
        (
            "FD, oracle vs CFM, first quarter of the checkpoints",
            "oracle slightly lower",
            "; ".join(
                f"step {o['step']}: {ci(o)} vs {ci(c)}"
                for o, c in zip(fd_oracle[:n_early], fd_cfm[:n_early], strict=True)
            ),
            early,
        ),
        (
            "intervals overlap at every checkpoint of the second half",
            "overlap",
            f"last (step {lo['step']}): oracle {ci(lo)} vs CFM {ci(lc)}",
            late,
        ),
        ("oracle-model training time", "-", f"{seconds[0]:.0f} s (CFM: {seconds[1]:.0f} s)", "-"),
    ]
    glue = {
        "v10": v.verdict,
        "early10": "yes" if early else "no",
        "late10": "yes" if late else "no",
        "fo_first": fo["fd"],
        "fc_first": fc["fd"],
        "fo_last": lo["fd"],
        "fc_last": lc["fd"],
        "step_first": fo["step"],
        "step_last": lo["step"],
        "early_sig": "outside" if fo["fd_high"] < fc["fd_low"] else "within",
    }
    claim = (
        "Training on the oracle target gives a slight early advantage, then the FD curves "
        "overlap with the CFM target's",
        "Fig. 10 (appendix B)",
        f"step {fo['step']}: {fo['fd']:.2f} vs {fc['fd']:.2f}; step {lo['step']}: "
        f"{lo['fd']:.2f} vs {lc['fd']:.2f} (oracle vs CFM)",
        v,
    )
    table = pd.DataFrame(rows, columns=["quantity", "paper", "ours", "holds"])
    return Comparison(table, glue, [claim])
