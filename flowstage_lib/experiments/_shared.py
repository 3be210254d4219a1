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
    "transition_interval",
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
        intervals: {level: (low, high)} 95% bootstrap interval of each crossing over the
            queries (:func:`transition_interval`; empty when not computed).
    """

    t: list[float]
    top1: list[float]
    crossings: dict[float, float] = field(default_factory=dict)
    intervals: dict[float, tuple[float, float]] = field(default_factory=dict)

    @property
    def t09(self) -> float:
        """t_0.9: our navigation -> refinement transition."""
        return float(self.crossings[0.9])

    @property
    def t09_interval(self) -> tuple[float, float]:
        """(low, high) 95% bootstrap interval of :attr:`t09` over the oracle queries."""
        if 0.9 not in self.intervals:
            raise ValueError("this Transition has no intervals: use transition(..., n_boot=...)")
        return self.intervals[0.9]


def transition(
    data,
    n_queries: int = 256,
    seed: int = 0,
    n_t_log: int = 24,
    n_t_lin: int = 16,
    levels: Iterable[float] = (0.5, 0.9, 0.99),
    n_boot: int = 0,
) -> Transition:
    """Our transition on ``data``, with bootstrap intervals of the crossings when ``n_boot`` > 0.

    Point and interval come from one cached :func:`flowstage_lib.experiments.curves.
    analyze_curves` call (the class-conditional curves of ``flowstage analyze`` on the grid
    :func:`flowstage_lib.experiments.curves.t_grid` ``(n_t_log, n_t_lin)``): the crossings of
    the mean top-1 curve of its queries, and the bootstrap over those same queries. Without
    ``n_boot`` the call uses analyze_curves' default resamples (the cache entry of Sec. 3's
    curves when data, grid, queries and seed agree), and the result carries no intervals.

    Args:
        data: :class:`flowstage_lib.data.ImageData` (x (N, C, H, W), labels y (N,)).
        n_queries: total queries (split evenly over the classes).
        levels: top-1 levels of the crossings (intervals: levels of ``curves.LEVELS`` only).
        n_boot: 0 (no intervals) or >= 2 bootstrap resamples.
    """
    from flowstage_lib.experiments import curves
    from flowstage_lib.oracle.transition import crossing_times

    levels = tuple(float(v) for v in levels)
    grid = curves.t_grid(n_t_log, n_t_lin)
    c = _conditional_curves(data, grid, n_queries, seed, levels if n_boot else (), n_boot)
    iv = _intervals(c, levels) if n_boot else {}
    t, top1 = list(c["t"]), list(c["top1"])
    return Transition(t, top1, crossing_times(c["t"], c["top1"], levels), iv)


def transition_interval(
    data, t, n_queries: int, seed: int, levels: Iterable[float] = (0.9,), n_boot: int = 200
) -> dict[float, tuple[float, float]]:
    """95% bootstrap intervals of the class-conditional crossings over the oracle queries.

    The interval of :func:`transition` on the grid ``t``: the per-query top-1 curves of
    :func:`flowstage_lib.experiments.curves.analyze_curves` (``flowstage analyze``:
    max(2, ceil(n_queries / K)) queries per class, posterior over the query's class, float32)
    resampled with replacement (:func:`flowstage_lib.analyze.curves.bootstrap_crossings`), the
    same queries whose mean curve gives the crossing.

    Args:
        data: :class:`flowstage_lib.data.ImageData` (x (N, C, H, W), labels y (N,)).
        t: (T,) times; n_queries: total queries (split evenly over the K classes).
        levels: levels of ``curves.LEVELS``; n_boot: >= 2 resamples.

    Returns:
        {level: (low, high)} (NaN when fewer than half of the resamples cross).
    """
    levels = tuple(float(v) for v in levels)
    if n_boot == 0:
        raise ValueError("n_boot must be >= 2, got 0")
    return _intervals(_conditional_curves(data, t, n_queries, seed, levels, n_boot), levels)


def _conditional_curves(data, t, n_queries: int, seed: int, levels: tuple, n_boot: int) -> dict:
    """analyze_curves' class-conditional curve dict, after checking n_boot and ``levels``
    (those that need an interval)."""
    from flowstage_lib.experiments import curves

    if isinstance(n_boot, bool) or not isinstance(n_boot, int) or n_boot == 1 or n_boot < 0:
        raise ValueError(f"n_boot must be >= 2 (or 0: no intervals), got {n_boot!r}")
    missing = [lv for lv in levels if lv not in curves.LEVELS]
    if missing:
        raise ValueError(
            f"levels {missing}: intervals exist only at curves.LEVELS = {curves.LEVELS}"
        )
    if n_boot:
        return curves.analyze_curves(data, t, n_queries, seed, n_boot=n_boot)
    return curves.analyze_curves(data, t, n_queries, seed)


def _intervals(curve: dict, levels: tuple) -> dict[float, tuple[float, float]]:
    """{level: (low, high)} from an analyze_curves dict's crossings_ci."""
    ci = {float(lv): (float(lo), float(hi)) for lv, _, lo, hi in curve["crossings_ci"]}
    return {lv: ci[lv] for lv in levels}


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
            results.claim(v.claim_id, claim, paper, ours, v.verdict, kind=v.kind, criterion=v.test)

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
