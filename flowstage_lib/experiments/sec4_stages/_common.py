"""What every Sec. 4 experiment shares: the sampling velocity, and the calibrated setting's
two spaces (issue 14).

A model trained on k x1 (``result.spec.data_scale = k``, :func:`~flowstage_lib.training.zoo.
get_model` with ``data_scale=k``) samples in k-space, and the oracle that stands in for it must
run on the same k x1 (:func:`oracle_for`); every image leaves k-space through :func:`to_pixels`
(divide by k: :func:`~flowstage_lib.training.zoo.zoo_decode`) before a classifier, a judge or an
image distance sees it, and an image enters k-space through :func:`to_model_space` (times k).
A native model (no spec, or k = 1) makes all three the identity.
"""

from __future__ import annotations

import torch

from flowstage_lib.data import ImageData, scale_data
from flowstage_lib.oracle import OracleVelocity
from flowstage_lib.solver import CFGVelocity, ModelVelocity

__all__ = ["velocity", "data_scale", "to_pixels", "to_model_space", "scaled", "oracle_for"]


def velocity(result, cfg_scale: float = 1.0):
    """The sampling velocity of a trained model: conditional (``cfg_scale = 1``) or guided on
    every step, v_u + w (v_c - v_u) (:class:`~flowstage_lib.solver.CFGVelocity`)."""
    if cfg_scale == 1.0:
        return ModelVelocity(result.model)
    return CFGVelocity(result.model, cfg_scale)


def data_scale(result) -> float:
    """k of a trained model: ``result.spec.data_scale`` (1.0 without a spec)."""
    spec = getattr(result, "spec", None)
    return float(getattr(spec, "data_scale", 1.0)) if spec is not None else 1.0


def to_pixels(result, x: torch.Tensor) -> torch.Tensor:
    """A model's samples (B, *shape) in k-space -> pixels: x / k (unchanged when k = 1)."""
    k = data_scale(result)
    return x if k == 1.0 else x / k


def to_model_space(result, x: torch.Tensor) -> torch.Tensor:
    """Pixels (B, *shape) -> the model's k-space: k x (unchanged when k = 1)."""
    k = data_scale(result)
    return x if k == 1.0 else x * k


def scaled(result, data: ImageData) -> ImageData:
    """``data`` as the model was trained on it: :func:`~flowstage_lib.data.scale_data` by k
    (``data`` itself when k = 1)."""
    k = data_scale(result)
    return data if k == 1.0 else scale_data(data, k)


def oracle_for(result, train: ImageData, device=None, check: OracleVelocity | None = None):
    """The class-conditional oracle of ``train`` (pixels) in ``result``'s space: on k x1.

    With ``check`` given, no oracle is built: ``check`` is returned after verifying that it runs
    on data of the model's scale (its data mean equals k times ``train``'s), else ValueError.
    """
    k = data_scale(result)
    if check is not None:
        want = train.x.double().mean(0) * k
        got = check.data_mean.detach().double().cpu().reshape(want.shape)
        if not torch.allclose(got, want, rtol=1e-4, atol=1e-4 * max(1.0, k)):
            raise ValueError(
                f"oracle: it runs on data of another scale than the model's (k = {k:g}); build "
                "it with oracle_for(result, train)"
            )
        return check
    x = train.x if k == 1.0 else scaled(result, train).x
    return OracleVelocity(x, labels=train.y, device=device)
