"""Time-split velocities: one velocity before a switch time, another after it.

- :class:`MixedVelocity`: the oracle before t_switch, the model after (Figs. 5, 13, 14);
- :class:`StageSwapVelocity`: one model per stage (Table 1).
"""

from __future__ import annotations

import torch

from flowstage_lib.solver.velocity import VelocityFn, _reset, as_velocity

__all__ = ["MixedVelocity", "StageSwapVelocity"]


def _split_by_time(fa: VelocityFn, fb: VelocityFn, t_split: float, x, t, y):
    """fa where t < t_split, fb where t >= t_split (per row; each evaluated only if needed).
    x (B, *shape), t (B,), y (B,) or None -> (B, *shape)."""
    first = t < t_split  # (B,)
    if bool(first.all()):
        return fa(x, t, y)
    if not bool(first.any()):
        return fb(x, t, y)
    out = torch.empty_like(x)
    for mask, fn in ((first, fa), (~first, fb)):
        out[mask] = fn(x[mask], t[mask], None if y is None else y[mask]).to(x.dtype)
    return out


class MixedVelocity:
    """Oracle velocity for t < t_switch, the model for t >= t_switch (Fig. 5 / 13 / 14).

    t_switch = 1 follows the oracle all the way (retrieves a training sample, Theorem 2.1);
    t_switch = 0 is exactly the pure model. The paper finds t_switch in (0.2, 1] reproduces
    training images and t_switch <= 0.2 gives novel samples.

    Args:
        oracle: an ``OracleVelocity`` (its ``velocity`` is used) or a velocity function.
        model: a network (wrapped in :class:`~flowstage_lib.solver.ModelVelocity`) or a
            velocity function (e.g. a :class:`~flowstage_lib.solver.CFGVelocity`).
        t_switch: in [0, 1].
    """

    def __init__(self, oracle, model, t_switch: float):
        if not 0.0 <= t_switch <= 1.0:
            raise ValueError(f"t_switch must be in [0, 1], got {t_switch}")
        self.oracle, self.model, self.t_switch = as_velocity(oracle), as_velocity(model), t_switch

    def reset(self) -> None:
        _reset(self.oracle)
        _reset(self.model)

    def __call__(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None):
        return _split_by_time(self.oracle, self.model, self.t_switch, x, t, y)


class StageSwapVelocity:
    """``model_a`` for t < t_split (navigation), ``model_b`` for t >= t_split (refinement)
    (Table 1: e.g. B/XL = B in stage 1, XL in stage 2, split 0.1 or 0.2, 25 + 25 steps on
    :func:`~flowstage_lib.path.stagewise_grid`).

    Args:
        model_a, model_b: networks or velocity functions.
        t_split: in [0, 1].
    """

    def __init__(self, model_a, model_b, t_split: float):
        if not 0.0 <= t_split <= 1.0:
            raise ValueError(f"t_split must be in [0, 1], got {t_split}")
        self.a, self.b, self.t_split = as_velocity(model_a), as_velocity(model_b), t_split

    def reset(self) -> None:
        _reset(self.a)
        _reset(self.b)

    def __call__(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None):
        return _split_by_time(self.a, self.b, self.t_split, x, t, y)
