"""What every Sec. 4 experiment shares: its cache's source modules and the sampling velocity."""

from __future__ import annotations

from flowstage_lib.sampler import CFGVelocity, ModelVelocity

#: Library modules whose source is part of every cache key of Section 4.
MODULES = (
    "flowstage_lib.experiments",
    "flowstage_lib.sampler",
    "flowstage_lib.oracle",
    "flowstage_lib.metrics",
)


def velocity(result, cfg_scale: float = 1.0):
    """The sampling velocity of a trained model: conditional (``cfg_scale = 1``) or guided on
    every step, v_u + w (v_c - v_u) (:class:`~flowstage_lib.sampler.CFGVelocity`)."""
    if cfg_scale == 1.0:
        return ModelVelocity(result.model)
    return CFGVelocity(result.model, cfg_scale)
