"""Both judges on every sample set: scores with intervals, paired differences, agreement.

Issue 13 (items 2-3). A table row is a sample set; :class:`Panel` scores it under judge A and
judge B (:func:`~flowstage_lib.metrics.judge.get_judges`) and compares two rows drawn with the
same noise and labels by *paired* bootstrap differences. Every result is a plain dict (JSON- and
cache-friendly) keyed by judge name::

    panel = get_panel("cpu")
    s = panel.score(x, y)              # {"A": {"fd", "fd_low", "fd_high", "kid", ...}, "B": {...}}
    d = panel.compare(x_a, x_b, y)     # {"A": {"fd": {"delta", "low", "high"}, "accuracy": ...}}
    tau = agreement({"s=1": s1, "s=0.5": s05, ...})   # Kendall tau of the two judges' FD order

Scores are cached by the judge's weights, its reference images, the samples' uint8 pixels and
labels, ``n_boot`` and ``seed`` (the samples are already uint8 in the sample-set cache, so the
key is exact).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch

from flowstage_lib.data import to_u8
from flowstage_lib.metrics.frechet import frechet_distance_ci
from flowstage_lib.metrics.intervals import wilson_interval
from flowstage_lib.metrics.judge import Judge, KendallTau, get_judges, kendall_tau
from flowstage_lib.tooling import cache

__all__ = ["Panel", "get_panel", "agreement", "ranks", "METRICS"]

#: Scores per judge and row, lower-is-better first (what a ranking may use).
METRICS = ("fd", "kid", "precision", "recall", "density", "coverage", "accuracy")


def _key_of(judge: Judge) -> dict:
    from flowstage_lib.metrics.judge import _weights_fingerprint

    return {
        "judge": judge.name,
        "weights": _weights_fingerprint(judge.network),
        "ref": cache.tensor_fingerprint(judge.ref_feats),
        "k": judge.k,
    }


def _check_set(x, y, name: str) -> None:
    if not isinstance(x, torch.Tensor) or x.ndim != 4:
        raise ValueError(
            f"{name} must be a (B, C, H, W) tensor, got shape {tuple(getattr(x, 'shape', ()))}"
        )
    if y is not None and (not isinstance(y, torch.Tensor) or y.shape != (len(x),)):
        raise ValueError(
            f"labels must be a ({len(x)},) tensor matching {name}, got "
            f"{tuple(getattr(y, 'shape', ())) if y is not None else None}"
        )


def _diff(p) -> dict:
    return {"delta": p.delta, "low": p.low, "high": p.high, "a": p.score_a, "b": p.score_b}


@dataclass
class Panel:
    """Judges A and B, with the bootstrap size and seed every interval uses.

    Attributes:
        judges: the judges (two, of different architecture and seed).
        n_boot: bootstrap resamples of every interval.
        seed: bootstrap seed.
    """

    judges: tuple[Judge, ...]
    n_boot: int = 200
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n_boot < 2:
            raise ValueError(f"n_boot must be >= 2, got {self.n_boot}")

    @property
    def names(self) -> list[str]:
        return [j.name for j in self.judges]

    def _one(self, judge: Judge, x: torch.Tensor, y) -> dict:
        s = judge.score(x, y, seed=self.seed)
        fd = frechet_distance_ci(judge.features(x), judge.ref_feats, self.n_boot, self.seed)
        if y is not None:
            hits = int(judge.correct(x, y).sum())
            lo, hi = wilson_interval(hits, len(x))
        else:
            lo = hi = float("nan")
        return {
            "fd": fd.fd, "fd_low": fd.low, "fd_high": fd.high, "kid": s.kid, "kid_se": s.kid_se,
            "precision": s.precision, "recall": s.recall, "density": s.density,
            "coverage": s.coverage, "accuracy": s.accuracy, "acc_low": lo, "acc_high": hi,
            "n": s.n,
        }  # fmt: skip

    def score(self, x: torch.Tensor, y: torch.Tensor | None = None) -> dict[str, dict]:
        """Every judge's scores of images x (B, C, H, W) in [-1, 1], requested labels y (B,).

        Returns:
            {judge: {fd, fd_low, fd_high (bootstrap 95%), kid, kid_se, precision, recall,
            density, coverage, accuracy, acc_low, acc_high (Wilson 95%), n}}.
        """
        _check_set(x, y, "x")
        u8 = to_u8(x)
        out = {}
        for j in self.judges:
            params = {**_key_of(j), "x": cache.tensor_fingerprint(u8), "n_boot": self.n_boot}
            params.update(seed=self.seed, y=None if y is None else cache.tensor_fingerprint(y))
            out[j.name] = cache.cached("judge_score", params, lambda j=j: self._one(j, x, y))
        return out

    def compare(
        self, x_a: torch.Tensor, x_b: torch.Tensor, y: torch.Tensor | None = None
    ) -> dict[str, dict[str, dict]]:
        """Paired differences a - b under every judge: rows i of x_a and x_b (B, C, H, W) come
        from the same noise and label y[i] (:meth:`Judge.compare`).

        Returns:
            {judge: {"fd": {delta, low, high, a, b}, "accuracy": {...} (with y only)}}; an
            interval that excludes 0 is a resolved difference.
        """
        _check_set(x_a, y, "x_a")
        _check_set(x_b, y, "x_b")
        if x_a.shape != x_b.shape:
            raise ValueError(f"x_a {tuple(x_a.shape)} and x_b {tuple(x_b.shape)} differ in shape")
        ua, ub = to_u8(x_a), to_u8(x_b)
        out = {}
        for j in self.judges:
            params = {**_key_of(j), "a": cache.tensor_fingerprint(ua)}
            params.update(b=cache.tensor_fingerprint(ub), n_boot=self.n_boot, seed=self.seed)
            params.update(y=None if y is None else cache.tensor_fingerprint(y))

            def compute(j=j) -> dict:
                res = j.compare(x_a, x_b, y, n_boot=self.n_boot, seed=self.seed)
                return {name: _diff(p) for name, p in res.items()}

            out[j.name] = cache.cached("judge_compare", params, compute)
        return out


def get_panel(profile: str, n_boot: int = 200, seed: int = 0, progress: bool = True) -> Panel:
    """Both judges of ``profile`` (trained once, cached) in a :class:`Panel`."""
    return Panel(get_judges(profile, progress), n_boot, seed)


def _check_rows(scores: Mapping[str, Mapping[str, Mapping]], metric: str) -> list[str]:
    if metric not in METRICS:
        raise ValueError(f"unknown metric={metric!r}; one of {METRICS}")
    if len(scores) < 2:
        raise ValueError(f"need >= 2 rows to rank, got {len(scores)}")
    judges = [sorted(s) for s in scores.values()]
    if any(j != judges[0] for j in judges):
        raise ValueError(f"every row must be scored by the same judges, got {judges}")
    return judges[0]


def ranks(scores: Mapping[str, Mapping[str, Mapping]], metric: str = "fd") -> dict[str, dict]:
    """{judge: {row: rank}} (1 = best; lower is better except for precision, recall, density,
    coverage and accuracy, where higher is better; ties share the lowest rank)."""
    judges = _check_rows(scores, metric)
    sign = 1.0 if metric in ("fd", "kid") else -1.0
    out = {}
    for j in judges:
        v = {row: sign * float(s[j][metric]) for row, s in scores.items()}
        out[j] = {row: 1 + sum(w < v[row] for w in v.values()) for row in v}
    return out


def agreement(scores: Mapping[str, Mapping[str, Mapping]], metric: str = "fd") -> KendallTau:
    """Kendall tau-b between judge A's and judge B's ``metric`` over the rows of one table.

    Args:
        scores: {row: {judge: score dict}} with exactly two judges (:meth:`Panel.score`).
    """
    judges = _check_rows(scores, metric)
    if len(judges) != 2:
        raise ValueError(f"agreement needs exactly two judges, got {judges}")
    a = np.array([float(s[judges[0]][metric]) for s in scores.values()])
    b = np.array([float(s[judges[1]][metric]) for s in scores.values()])
    return kendall_tau(a, b)
