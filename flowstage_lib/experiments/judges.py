"""The judges' page of the book (issue 13, item 1): the two networks that score every sample set
of Secs. 4-5, and how well each holds up on corrupted held-out digits.

The targets (:data:`~flowstage_lib.metrics.judge.robustness.CLEAN_TARGET`,
:data:`~flowstage_lib.metrics.judge.robustness.NOISE_TARGET`) are a quality gate of our
yardstick, not a claim of the paper, so they do not enter ``claims.csv``. Each report is cached
by the judge's weights, the number of images and the seed.

Example::

    rows = judge_reports("cpu", n_images=10_000, seed=0)   # [JudgeRow(judge, robustness), ...]
    judges_table(rows); judges_text(rows)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import pandas as pd

from flowstage_lib.metrics.judge import Judge, get_judges
from flowstage_lib.metrics.judge.robustness import (
    CLEAN_TARGET,
    NOISE_TARGET,
    RobustnessReport,
    robustness_report,
)
from flowstage_lib.models import module_fingerprint
from flowstage_lib.tooling.cache import cached

__all__ = ["JudgeRow", "judge_reports", "judges_table", "judges_text", "compute"]


@dataclass
class JudgeRow:
    """One judge and its robustness on ``robustness.n`` held-out images."""

    judge: Judge
    robustness: RobustnessReport


def judge_reports(profile: str, n_images: int, seed: int = 0) -> list[JudgeRow]:
    """Judges A and B of ``profile`` (trained once, cached) with their robustness reports on the
    first ``n_images`` held-out images (all of them when there are fewer)."""
    if int(n_images) < 1:
        raise ValueError(f"n_images must be an integer >= 1, got {n_images!r}")
    rows = []
    for judge in get_judges(profile):
        key = {
            "judge": judge.name,
            "weights": module_fingerprint(judge.network),
            "n": int(n_images),
            "seed": int(seed),
        }
        rep = cached(
            "judge_robustness",
            key,
            lambda j=judge: asdict(robustness_report(j, n=int(n_images), seed=seed)),
        )
        rows.append(JudgeRow(judge, RobustnessReport(**rep)))
    return rows


def _pct(p: float, ci: tuple[float, float] | None = None) -> str:
    return f"{p:.2%}" + (f" [{ci[0]:.2%}, {ci[1]:.2%}]" if ci else "")


def judges_table(rows: list[JudgeRow]) -> pd.DataFrame:
    """One row per judge: architecture, size, training, and accuracy clean and corrupted (95%
    Wilson intervals where a target applies)."""
    out = []
    for r in rows:
        t, b = r.judge.report, r.robustness
        out.append(
            {
                "judge": r.judge.name,
                "architecture": t.arch,
                "parameters": t.parameters,
                "training steps": t.steps,
                "held-out accuracy": f"{t.heldout_accuracy:.2%} ({t.heldout_name})",
                "clean": _pct(b.clean, b.clean_ci),
                "noise sigma 0.1": _pct(b.noise_0_1),
                "noise sigma 0.2": _pct(b.noise_0_2, b.noise_0_2_ci),
                "noise sigma 0.3": _pct(b.noise_0_3),
                "blur 1 px": _pct(b.blur),
                "shift <= 2 px": _pct(b.shift),
                "rotate <= 10 deg": _pct(b.rotate),
                "images": b.n,
                "targets met": "yes" if b.meets_targets else "no",
            }
        )
    return pd.DataFrame(out)


def judges_text(rows: list[JudgeRow]) -> str:
    """A sentence per judge: the targets met, or each shortfall with its number."""
    goal = f"clean >= {CLEAN_TARGET:.0%}, >= {NOISE_TARGET:.0%} under N(0, 0.2^2) pixel noise"
    parts = []
    for r in rows:
        b = r.robustness
        if b.meets_targets:
            parts.append(f"Judge {r.judge.name} meets both targets ({goal}).")
            continue
        miss = []
        if b.clean < CLEAN_TARGET:
            miss.append(f"clean {b.clean:.1%} < {CLEAN_TARGET:.0%}")
        if b.noise_0_2 < NOISE_TARGET:
            miss.append(f"sigma 0.2 {b.noise_0_2:.1%} < {NOISE_TARGET:.0%}")
        parts.append(
            f"Judge {r.judge.name} misses the targets ({'; '.join(miss)}) after "
            f"{r.judge.report.steps} training steps: its scores in this profile exercise the "
            "code, they do not measure sample quality."
        )
    return " ".join(parts)


def compute(P) -> None:
    """The page without the notebook (``flowstage compute judges``): both judges and their
    robustness reports at parameters ``P``."""
    judge_reports(P.profile, P.n_images, P.seed)
