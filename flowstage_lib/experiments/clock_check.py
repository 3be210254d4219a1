"""The cross-check of the calibrated setting (issue 14, item 5): a native (k = 1) model sampled
on the mapped grid against the calibrated model (trained on k x1) on the plain grid.

Why they should agree. Euler on rectified flow is DDIM: with the one-step prediction
x1_hat = x + (1 - t) v and eps_hat = (x - t x1_hat) / (1 - t), one Euler step is
x_{n+1} = t_{n+1} x1_hat + (1 - t_{n+1}) eps_hat. Write x = c x' with c = 1 + (k - 1) t and
tau = timestep_shift(t, k) (so c tau = k t and c (1 - tau) = 1 - t): if the calibrated model's
prediction at (x, t) is k times the native one's at (x', tau), then eps_hat = eps_hat' and the
step maps x_n = c_n x'_n to x_{n+1} = c_{n+1} x'_{n+1}, the native Euler step on the grid
tau. c = 1 at t = 0 (same noise) and c = k at t = 1, so the calibrated samples divided by k are
the native samples on the grid timestep_shift(grid, k) -- exactly, for the oracle
(tests/experiments/test_clock_check.py). Guidance commutes with the map (an affine combination
of velocities with weights summing to 1), and an interval [a, b) in the calibrated clock is
[shift(a, k), shift(b, k)) in the native one. For *trained* models the two differ only by what
training learned differently (the weighting of t by uniform sampling in either clock): the
cross-check measures exactly that.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from flowstage_lib.data.scaled import calibrated_decode
from flowstage_lib.metrics.evaluate import sample_set
from flowstage_lib.models import module_fingerprint
from flowstage_lib.path import check_grid, timestep_shift, uniform_grid
from flowstage_lib.solver import CFGVelocity, as_velocity

__all__ = ["MappedGridPair", "native_on_mapped_grid"]


@dataclass
class MappedGridPair:
    """Both sample sets of the cross-check (row i of each: same noise, same label).

    Attributes:
        native, calibrated: :func:`~flowstage_lib.metrics.evaluate.sample_set` dicts: ``x``
            (n, *shape) in the scored space (pixels; the calibrated set divided by k), ``y``
            (n,), ``seconds``.
        grid_native: (n_steps + 1,) float64, timestep_shift(grid_calibrated, k).
        grid_calibrated: (n_steps + 1,) float64, the plain grid.
        interval_native, interval_calibrated: the CFG interval in each clock.
        cfg_scale: the guidance scale (1 = none).
        data_scale: k.
    """

    native: dict
    calibrated: dict
    grid_native: torch.Tensor
    grid_calibrated: torch.Tensor
    interval_native: tuple[float, float]
    interval_calibrated: tuple[float, float]
    cfg_scale: float
    data_scale: float


def _unwrap(obj, name: str) -> tuple[Any, float | None, str | None]:
    """(velocity object, its spec's data scale or None, an identity or None) of a
    ``TrainResult``, a network or any velocity (e.g. an ``OracleVelocity``)."""
    if hasattr(obj, "model") and hasattr(obj, "spec") and hasattr(obj, "key"):  # TrainResult
        k = obj.spec.data_scale if obj.spec is not None else None
        return obj.model, k, obj.key or module_fingerprint(obj.model)
    if isinstance(obj, nn.Module):
        return obj, None, module_fingerprint(obj)
    if callable(obj) or callable(getattr(obj, "velocity", None)):
        return obj, None, None
    raise TypeError(f"{name} must be a TrainResult, a network or a velocity, got {obj!r}")


def _check_scales(k, k_native, k_calib) -> float:
    """The data scale k: given, or the calibrated model's; the native model's must be 1."""
    if k_native not in (None, 1.0):
        raise ValueError(f"native must be a k = 1 model, its spec has data_scale {k_native}")
    if k is None:
        if k_calib is None:
            raise ValueError("data_scale is required unless calibrated is a TrainResult")
        k = k_calib
    if k_calib is not None and float(k) != k_calib:
        raise ValueError(f"data_scale {k} != the calibrated model's data_scale {k_calib}")
    if isinstance(k, bool) or not isinstance(k, (int, float)) or not (math.isfinite(k) and k > 0):
        raise ValueError(f"data_scale must be a finite number > 0, got {k!r}")
    return float(k)


def _guided(obj, scale: float, interval: tuple[float, float]):
    """The velocity to sample: CFG on ``interval`` when ``scale != 1``, else the model."""
    return as_velocity(obj) if scale == 1.0 else CFGVelocity(obj, scale, interval)


def _same_guided_steps(g_cal, g_nat, i_cal, i_nat) -> None:
    """The mapped interval must guide exactly the steps the plain one guides."""
    on_c = [i_cal[0] <= t < i_cal[1] for t in g_cal[:-1]]
    on_n = [i_nat[0] <= t < i_nat[1] for t in g_nat[:-1]]
    if on_c != on_n:
        raise ValueError(
            f"cfg_interval {i_cal}: an endpoint sits within rounding of a grid time, so the "
            "mapped interval does not guide the same steps; move it off the grid point"
        )


def native_on_mapped_grid(
    native,
    calibrated,
    n: int,
    shape: tuple[int, ...],
    num_classes: int,
    data_scale: float | None = None,
    grid=None,
    n_steps: int = 50,
    cfg_scale: float = 1.0,
    cfg_interval: tuple[float, float] = (0.0, 1.0),
    seed: int = 0,
    decode=None,
    describe: dict | None = None,
    batch_size: int = 500,
) -> MappedGridPair:
    """Sample ``native`` on timestep_shift(grid, k) and ``calibrated`` on ``grid`` with the same
    noise and labels (issue 14 item 5; the identity is in the module docstring).

    Args:
        native: the k = 1 model: a ``TrainResult``, a network, or a velocity (an oracle).
        calibrated: the model trained on k x1 (same kinds); its samples are divided by k.
        n, shape, num_classes: as in :func:`~flowstage_lib.metrics.evaluate.sample_set`
            (class-balanced labels; ``shape`` per sample).
        data_scale: k; default the calibrated ``TrainResult``'s ``spec.data_scale``.
        grid: the calibrated sampler's grid (default ``uniform_grid(n_steps)``; Table 2 passes
            ``shifted_grid(n_steps, s)``, whose mapped grid is the shift s k).
        cfg_scale, cfg_interval: guidance in the calibrated clock (Table 3); the native model
            is guided on the mapped interval.
        seed: noise seed shared by both sets (rows are paired).
        decode: None (pixels) or a latent decoder, applied after the division by k.
        describe: the cache identity of the two samplers (required for velocities that are
            not networks: ``{"native": ..., "calibrated": ...}``); default: model keys.

    Returns:
        :class:`MappedGridPair`.
    """
    v_nat, k_nat, id_nat = _unwrap(native, "native")
    v_cal, k_cal, id_cal = _unwrap(calibrated, "calibrated")
    k = _check_scales(data_scale, k_nat, k_cal)
    if describe is None:
        if id_nat is None or id_cal is None:
            raise ValueError("describe is required when a model is a velocity, not a network")
        describe = {"native": id_nat, "calibrated": id_cal}
    g_cal = torch.tensor(
        check_grid(uniform_grid(n_steps) if grid is None else grid), dtype=torch.float64
    )
    g_nat = timestep_shift(g_cal, k)  # (n_steps + 1,) float64
    a, b = (float(v) for v in cfg_interval)
    i_nat = (float(timestep_shift(a, k)), float(timestep_shift(b, k)))
    if cfg_scale != 1.0:
        _same_guided_steps(g_cal.tolist(), g_nat.tolist(), (a, b), i_nat)
    common = dict(n=n, shape=shape, num_classes=num_classes, seed=seed, batch_size=batch_size)
    tag = {"check": "native_on_mapped_grid", "k": k, "cfg": [float(cfg_scale), a, b]}
    nat = sample_set(
        _guided(v_nat, float(cfg_scale), i_nat),
        {**tag, "role": "native", "model": describe["native"]},
        grid=g_nat,
        decode=decode,
        **common,
    )
    cal = sample_set(
        _guided(v_cal, float(cfg_scale), (a, b)),
        {**tag, "role": "calibrated", "model": describe["calibrated"]},
        grid=g_cal,
        decode=calibrated_decode(k, decode),
        **common,
    )
    return MappedGridPair(nat, cal, g_nat, g_cal, i_nat, (a, b), float(cfg_scale), k)
