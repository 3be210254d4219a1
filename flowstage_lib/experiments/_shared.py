"""Helpers shared by the experiments of Secs. 4 and 5: the uint8 image codec, class-balanced
labels, our navigation -> refinement transition, and recording a section's claims."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import pandas as pd

from flowstage_lib.data import from_u8, to_u8  # the one uint8 codec, re-exported
from flowstage_lib.experiments.criteria import Verdict
from flowstage_lib.metrics.evaluate import balanced_labels  # the one copy, re-exported

__all__ = [
    "to_u8",
    "from_u8",
    "balanced_labels",
    "Transition",
    "transition",
    "Comparison",
    "Summary",
    "summary",
]


@dataclass(frozen=True)
class Transition:
    """Where the class-conditional oracle posterior collapses (Section 3, Fig. 2b).

    Attributes:
        t: (T,) the time grid; top1: (T,) the mean top-1 posterior weight on it.
        crossings: {level: first t where top1 >= level} (NaN if never).
    """

    t: list[float]
    top1: list[float]
    crossings: dict[float, float] = field(default_factory=dict)

    @property
    def t09(self) -> float:
        """t_0.9: our navigation -> refinement transition."""
        return float(self.crossings[0.9])


def transition(
    data,
    n_queries: int = 256,
    seed: int = 0,
    n_t_log: int = 24,
    n_t_lin: int = 16,
    levels: Iterable[float] = (0.5, 0.9, 0.99),
) -> Transition:
    """Our transition on ``data`` (cached by :func:`flowstage_lib.experiments.curves.curves_for`
    on the grid :func:`flowstage_lib.experiments.curves.t_grid` ``(n_t_log, n_t_lin)``)."""
    from flowstage_lib.experiments import curves
    from flowstage_lib.oracle.transition import crossing_times

    c = curves.curves_for(data, curves.t_grid(n_t_log, n_t_lin), n_queries, seed)
    t, top1 = list(c["t"]), list(c["top1"])
    return Transition(t, top1, crossing_times(c["t"], c["top1"], tuple(levels)))


@dataclass
class Comparison:
    """What a notebook shows after a result: the comparison table with the paper, the values
    (numbers and result-dependent sentences) it glues, and its claims with their verdicts.

    Attributes:
        table: one row per compared quantity (quantity, paper, ours, verdict).
        glue: name -> value for ``View.glue``.
        claims: (claim, paper, ours, Verdict) for ``claims.csv`` (the id is the verdict's).
    """

    table: pd.DataFrame
    glue: dict = field(default_factory=dict)
    claims: list = field(default_factory=list)

    def record(self, results) -> None:
        """Write every claim into ``results`` (a :class:`flowstage_lib.tooling.book.Results`)."""
        for claim, paper, ours, v in self.claims:
            results.claim(v.claim_id, claim, paper, ours, v.verdict, kind=v.kind)

    def present(self, view, name: str) -> None:
        """Show the table as results table ``name``, glue the values, record the claims
        (``view``: a :class:`flowstage_lib.tooling.book.View`)."""
        view.show(self.table, name)
        view.glue(self.glue)
        self.record(view.results)

    def verdicts(self) -> dict[str, Verdict]:
        """claim_id -> Verdict."""
        return {c[3].claim_id: c[3] for c in self.claims}


@dataclass
class Summary:
    """A section's closing tables: its ``claims`` (claim, paper, ours, verdict), its
    ``timing`` (part, seconds) and the counts to ``glue``."""

    claims: pd.DataFrame
    timing: pd.DataFrame
    glue: dict


def summary(view, sections: Iterable[str] | None = None) -> Summary:
    """Read ``claims.csv`` of ``view.results`` (rows of ``sections``, default its own) and
    close the run's timing with its total."""
    import time

    res = view.results
    claims = pd.read_csv(res.dir / "claims.csv")
    claims = claims[claims.section.isin(list(sections or [res.section]))]
    view.times["total (this run)"] = time.time() - view.t_start
    timing = pd.DataFrame([{"part": k, "seconds": v} for k, v in view.times.items()])
    glue = {
        "total_s": view.times["total (this run)"],
        "n_claims": len(claims),
        "n_reproduced": int((claims.verdict == "reproduced").sum()),
        "n_partly": int((claims.verdict == "partly").sum()),
        "n_not": int((claims.verdict == "not reproduced").sum()),
    }
    return Summary(claims[["claim", "paper", "ours", "verdict"]], timing, glue)
