"""Classifier-free guidance on a time interval: the two-sided CFG interval of Table 3 and
the guidance divergence ||v_c - v_u|| of Fig. 8b."""

from __future__ import annotations

import math

import numpy as np
import torch

from flowstage_lib.solver.velocity import _OracleFn, as_velocity

__all__ = ["CFGVelocity"]


def _num_classes(model, fn) -> int:
    """Classes of the velocity to guide (0 = unconditional); a ValueError when 0."""
    oracle = isinstance(fn, _OracleFn)
    if oracle:
        k = len(fn.oracle.classes or {})
    else:
        k = getattr(model, "num_classes", None)
        if k is None:
            k = getattr(fn, "num_classes", 0)
    if not k:
        what = (
            "the oracle was built without labels"
            if oracle
            else f"{type(model).__name__} is unconditional (num_classes = 0)"
        )
        raise ValueError(
            f"CFGVelocity: {what}, so there is no conditional velocity to guide; use a "
            "class-conditional model or OracleVelocity(data, labels=...)"
        )
    return k


class CFGVelocity:
    """Classifier-free guidance on a time interval (Table 3; LightningDiT convention).

    .. math::

        v = v_u + w\\,(v_c - v_u) \\ (a \\le t < b), \\qquad v = v_c \\ \\text{otherwise},

    with v_c = v(x, t, y), v_u = v(x, t, null). w = 1 is plain conditional sampling. The
    flow_matching example writes (1 + w') v_c - w' v_u: the same with w = 1 + w'.

    Boundary convention: the interval is half-open, [a, b): guidance is ON at t = a and OFF at
    t = b (so Table 3's adjacent intervals [.1, .2] and [.2, .3] never both guide the step at
    t = 0.2); b = 1 covers every step since t = 1 is never evaluated. LightningDiT's own
    interval is one-sided (t >= a) and guides 3 of 32 latent channels; the paper's two-sided
    interval over all channels is implemented here.

    The oracle is guided too: for an ``OracleVelocity`` built with labels, v_c is the
    class-conditional oracle u*(x, t | y) and v_u the unconditional one u*(x, t) (Theorem
    2.1 over the whole data set).

    Args:
        model: class-conditional network (``num_classes > 0``; null class = num_classes), a
            velocity function with a ``num_classes`` attribute accepting null labels, or an
            ``OracleVelocity`` built with labels.
        scale: guidance scale w (paper: 1.0 and 2.5), a finite number.
        interval: (a, b), 0 <= a <= b <= 1.
        record: store the per-sample divergence ||v_c - v_u|| at every call (Fig. 8b) in
            ``self.records`` (this evaluates v_u at every step, also outside the interval).
            :func:`~flowstage_lib.solver.sample` and
            :func:`~flowstage_lib.solver.euler_sample` clear the records when they start
            (:meth:`reset`), so they hold the last sampling run only.

    Raises:
        ValueError: the velocity is not class-conditional (nothing to guide), a non-finite
            scale, or a bad interval.
    """

    def __init__(
        self,
        model,
        scale: float,
        interval: tuple[float, float] = (0.0, 1.0),
        record: bool = False,
    ):
        a, b = float(interval[0]), float(interval[1])
        if not 0.0 <= a <= b <= 1.0:
            raise ValueError(f"interval must satisfy 0 <= a <= b <= 1, got {interval}")
        if isinstance(scale, bool) or not isinstance(scale, (int, float, np.integer, np.floating)):
            raise TypeError(f"CFGVelocity: scale must be a real number, got {type(scale).__name__}")
        if not math.isfinite(float(scale)):
            raise ValueError(f"CFGVelocity: scale must be a finite number, got {scale}")
        self.fn = as_velocity(model)
        self._oracle = isinstance(self.fn, _OracleFn)
        self.num_classes = _num_classes(model, self.fn)
        self.scale, self.interval, self.record = float(scale), (a, b), record
        self.records: list[tuple[float, torch.Tensor]] = []  # (t, ||v_c - v_u|| (B,))

    def reset(self) -> None:
        """Forget the records (called by ``sample`` / ``euler_sample`` at the start)."""
        self.records = []

    def _both(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor):
        """(v_c, v_u): one batched call with the null class, or two oracle calls."""
        if self._oracle:
            return self.fn(x, t, y), self.fn(x, t, None)
        null = torch.full_like(y, self.num_classes)
        both = self.fn(torch.cat([x, x]), torch.cat([t, t]), torch.cat([y, null]))  # (2B, ...)
        return both.chunk(2)

    def active(self, t: torch.Tensor) -> torch.Tensor:
        """(B,) bool: where guidance applies, a <= t < b."""
        a, b = self.interval
        return (t >= a) & (t < b)

    def __call__(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None):
        """Guided velocity (B, *shape) at x (B, *shape), t (B,), y (B,) or None."""
        if y is None:
            return self.fn(x, t, y)  # unconditional sampling: nothing to guide
        on = self.active(t)  # (B,)
        need_u = self.record or (self.scale != 1.0 and bool(on.any()))
        if not need_u:
            return self.fn(x, t, y)
        v_c, v_u = self._both(x, t, y)
        if self.record:
            div = (v_c - v_u).flatten(1).double().norm(dim=1).cpu()  # (B,)
            self.records.append((float(t[0]), div))
        w = torch.where(on, self.scale, 1.0).to(x.dtype).view(-1, *([1] * (x.ndim - 1)))
        return v_u + w * (v_c - v_u)

    def divergence_curve(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(t (K,), mean ||v_c - v_u|| (K,)) over the recorded calls, grouped by t (Fig. 8b)."""
        by_t: dict[float, list[torch.Tensor]] = {}
        for t, d in self.records:
            by_t.setdefault(t, []).append(d)
        ts = sorted(by_t)
        means = [torch.cat(by_t[t]).mean() for t in ts]
        return torch.tensor(ts, dtype=torch.float64), torch.stack(means).double()
