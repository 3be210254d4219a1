"""What every Sec. 4 experiment shares: the sampling velocity."""

from __future__ import annotations

from flowstage_lib.solver import CFGVelocity, ModelVelocity


def velocity(result, cfg_scale: float = 1.0):
    """The sampling velocity of a trained model: conditional (``cfg_scale = 1``) or guided on
    every step, v_u + w (v_c - v_u) (:class:`~flowstage_lib.solver.CFGVelocity`)."""
    if cfg_scale == 1.0:
        return ModelVelocity(result.model)
    return CFGVelocity(result.model, cfg_scale)
