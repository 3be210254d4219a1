"""The models themselves, judged: every model of Section 4 sampled alone at CFG 1.

Each zoo model (the ladder S < B < L at budget 1 and the main size at the long budget) draws
``n`` class-balanced samples with the plain sampler (``n_steps`` uniform Euler steps, no
guidance), from the same noise and labels for every model (paired rows), divided by the data
scale k before the judges see them. They are the sample sets of
:func:`~flowstage_lib.experiments.sec5_practices.scoring.sample_images` at shift 1 (one cache
entry: the main model's row *is* Table 2's s = 1 row). Both judges score them: class accuracy
with a Wilson interval and FD with a bootstrap interval. The main model's accuracy is held
against issue 14's target (>= 90% at CFG 1 under the judges, :func:`meets_accuracy_target`);
it is a target for the models, not a claim of the paper.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flowstage_lib.experiments.sec5_practices.scoring import sample_images
from flowstage_lib.models import count_params

__all__ = [
    "ACCURACY_TARGET",
    "ladder_samples",
    "ladder_scores",
    "meets_accuracy_target",
    "accuracy_sentence",
    "ladder_sentence",
]

#: Issue 14: "the main model reaches >= 90% class accuracy at CFG 1 under the new judge".
ACCURACY_TARGET = 0.90


def ladder_samples(
    models: Mapping[str, Any], n: int, n_steps: int = 50, seed: int = 0
) -> dict[str, dict]:
    """``n`` samples of every model alone, CFG 1, ``n_steps`` uniform Euler steps, class-balanced
    labels, noise from ``seed`` (the same for every model; cached by
    :func:`~flowstage_lib.experiments.sec5_practices.scoring.sample_images`).

    Returns:
        {name: {"x": (n, *shape) pixels in [-1, 1] (dequantised uint8), "y": (n,), "seconds"}}.
    """
    if int(n) < 1 or int(n_steps) < 1:
        raise ValueError(f"n and n_steps must be >= 1, got n={n!r}, n_steps={n_steps!r}")
    return {name: sample_images(r, int(n), int(n_steps), int(seed)) for name, r in models.items()}


def ladder_scores(samples: Mapping[str, dict], panel) -> dict[str, dict[str, dict]]:
    """{name: :meth:`~flowstage_lib.metrics.judge.panel.Panel.score` dict} of every model's
    samples (both judges: accuracy, acc_low, acc_high, fd, fd_low, fd_high, ...)."""
    return {name: panel.score(s["x"], s["y"]) for name, s in samples.items()}


def meets_accuracy_target(scores: Mapping[str, Mapping], target: float = ACCURACY_TARGET) -> bool:
    """True when every judge's class accuracy (point estimate) is at least ``target``.

    ``scores``: {judge: {"accuracy": float, ...}} (one model's :meth:`Panel.score`)."""
    if not scores:
        raise ValueError("scores must hold at least one judge's scores")
    if not 0.0 < float(target) <= 1.0:
        raise ValueError(f"target must be in (0, 1], got {target!r}")
    return all(float(s["accuracy"]) >= float(target) for s in scores.values())


def accuracy_sentence(scores: Mapping[str, Mapping], main: str, n: int) -> str:
    """The main model's class accuracy at CFG 1 under every judge against the target, and the
    best model when the main one misses it (written by code, so a shortfall is named)."""
    s = scores[main]
    accs = "; ".join(
        f"judge {j} {v['accuracy']:.1%} [{v['acc_low']:.1%}, {v['acc_high']:.1%}]"
        for j, v in s.items()
    )
    met = meets_accuracy_target(s)
    verdict = "met" if met else "not met"
    out = (
        f"Main model {main} at CFG 1 ({n} class-balanced samples, no guidance): {accs}. "
        f"Target (>= {ACCURACY_TARGET:.0%} under every judge): {verdict}."
    )
    best = max(scores, key=lambda m: min(v["accuracy"] for v in scores[m].values()))
    if not met and best != main:
        lo = min(v["accuracy"] for v in scores[best].values())
        out += f" The best model here is {best} ({lo:.1%} under its stricter judge)."
    return out


def ladder_sentence(models: Mapping[str, Any], sizes, main: str, long: str) -> str:
    """The ladder's span: parameters of the largest over the smallest size (budget 1) and the
    long budget's steps over the main model's."""
    n = {s: count_params(models[s].model) for s in sizes}
    small, large = min(n, key=n.get), max(n, key=n.get)
    steps = models[long].cfg.steps / models[main].cfg.steps
    return (
        f"The ladder spans {n[large] / n[small]:.1f}x in parameters ({small} "
        f"{n[small] / 1e6:.2f} M to {large} {n[large] / 1e6:.2f} M; the paper's B to XL is about "
        f"5x) and the long budget {steps:g}x the main model's steps ({long}: "
        f"{models[long].cfg.steps} steps; the paper's is 8x)."
    )
