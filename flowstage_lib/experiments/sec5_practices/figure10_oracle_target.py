"""Fig. 10 (App. B): training on the oracle target u*(x_t, t | y) instead of x1 - x0; the
paper: a slight early advantage, then the FD curves overlap.

Both runs are scored by both judges (:mod:`flowstage_lib.metrics.judge`) at every checkpoint;
the verdict reads the *paired* differences FD(oracle) - FD(CFM) (same seed and pixel shape: the
two sample sets share noise and labels), once per judge, combined by ``both_judges``."""

from __future__ import annotations

import pandas as pd

from flowstage_lib.experiments import criteria
from flowstage_lib.experiments._shared import Comparison
from flowstage_lib.experiments.sec5_practices.latent_study import paired_fd

__all__ = ["figure10_verdicts", "figure10_comparison"]


def _ci(r: dict) -> str:
    return f"{r['fd']:.2f} [{r['fd_low']:.2f}, {r['fd_high']:.2f}]"


def _d(p: dict) -> str:
    return f"{p['delta']:+.2f} [{p['low']:+.2f}, {p['high']:+.2f}]"


def figure10_verdicts(fd_oracle: list, fd_cfm: list) -> tuple[dict, dict, criteria.Verdict]:
    """({judge: paired rows}, {judge: Verdict}, both_judges Verdict) of
    ``fig10_oracle_target_early_advantage``; ``fd_oracle``: rows of
    :func:`~.latent_study.fd_over_training` with ``against`` = the CFM run, ``fd_cfm``: the
    CFM run's rows (same checkpoints)."""
    if [r["step"] for r in fd_oracle] != [r["step"] for r in fd_cfm]:
        raise ValueError("fd_oracle and fd_cfm must have the same checkpoints")
    if not fd_oracle or "paired" not in fd_oracle[0]:
        raise ValueError(
            "fd_oracle carries no paired differences: call fd_over_training(..., panel=panel, "
            "against=<the CFM run>)"
        )
    paired = {j: paired_fd(fd_oracle, j) for j in fd_oracle[0]["paired"]}
    by = {j: criteria.fig10_oracle_target_early_advantage(p) for j, p in paired.items()}
    return paired, by, criteria.both_judges(by)


def figure10_comparison(fd_oracle: list, fd_cfm: list, seconds: tuple[float, float]) -> Comparison:
    """Fig. 10 against the paper on FD-over-training rows of the oracle-target and CFM models
    (criterion ``fig10_oracle_target_early_advantage`` per judge); ``seconds``: their
    training times. Point FDs shown are judge A's."""
    paired, by, v = figure10_verdicts(fd_oracle, fd_cfm)
    n_early = max(1, len(fd_oracle) // 4)
    parts = {j: criteria.fig10_parts(p) for j, p in paired.items()}
    fo, fc, lo, lc = fd_oracle[0], fd_cfm[0], fd_oracle[-1], fd_cfm[-1]

    def words(i: int) -> str:
        return ", ".join(f"judge {j}: {'yes' if p[i] else 'no'}" for j, p in parts.items())

    rows = [
        (
            "paired FD(oracle) - FD(CFM), 95% CI, first quarter of the checkpoints",
            "oracle slightly lower (below 0)",
            "; ".join(
                f"judge {j}, step {d['step']}: {_d(d)}"
                for j, p in paired.items()
                for d in p[:n_early]
            ),
            words(0),
        ),
        (
            "paired interval contains 0 at every checkpoint of the second half",
            "overlap",
            "; ".join(
                f"judge {j}, last (step {p[-1]['step']}): {_d(p[-1])}" for j, p in paired.items()
            ),
            words(1),
        ),
        ("oracle-model training time", "-", f"{seconds[0]:.0f} s (CFM: {seconds[1]:.0f} s)", "-"),
    ]
    first_a = paired["A"][0]
    glue = {
        "v10": v.verdict,
        "early10": words(0),
        "late10": words(1),
        "fo_first": fo["fd"],
        "fc_first": fc["fd"],
        "fo_last": lo["fd"],
        "fc_last": lc["fd"],
        "step_first": fo["step"],
        "step_last": lo["step"],
        "early_sig": "outside" if first_a["high"] < 0 or first_a["low"] > 0 else "within",
    }
    for j, p in paired.items():
        glue.update(
            {f"v10_{j}": by[j].verdict, f"d10_first_{j}": _d(p[0]), f"d10_last_{j}": _d(p[-1])}
        )
    claim = (
        "Training on the oracle target gives a slight early advantage, then the FD curves "
        "overlap with the CFM target's",
        "Fig. 10 (appendix B)",
        "paired FD(oracle) - FD(CFM): "
        + "; ".join(
            f"judge {j}: step {p[0]['step']} {_d(p[0])}, step {p[-1]['step']} {_d(p[-1])} "
            f"({by[j].verdict})"
            for j, p in paired.items()
        )
        + f"; judge A's FDs {_ci(fo)} vs {_ci(fc)} at step {fo['step']}",
        v,
    )
    table = pd.DataFrame(rows, columns=["quantity", "paper", "ours", "holds"])
    return Comparison(table, glue, [claim])
