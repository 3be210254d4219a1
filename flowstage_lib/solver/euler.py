"""Euler sampling of the flow ODE dx/dt = v(x, t) from t = 0 (noise) to t = 1 (data) over a
time grid (Table 4: 50 uniform steps; grids in :mod:`flowstage_lib.path.grids`).

The Euler solver never evaluates t = 1 (where the oracle is singular): on a grid
t_0 < ... < t_n = 1 it evaluates v at t_0 .. t_{n-1} only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from flowstage_lib.models import default_device
from flowstage_lib.path import check_grid, uniform_grid
from flowstage_lib.solver.velocity import VelocityFn, _count, _labels, _reset
from flowstage_lib.tooling.progress import tqdm

__all__ = ["SampleResult", "predict_x1", "euler_sample", "sample"]


def predict_x1(x_t: torch.Tensor, t: torch.Tensor | float, v: torch.Tensor) -> torch.Tensor:
    """One Euler step to t = 1: x1_hat = x_t + (1 - t) v (the intermediate predictions of
    Fig. 4 / 15). x_t, v (B, *shape); t float or (B,)."""
    t = torch.as_tensor(t, dtype=x_t.dtype, device=x_t.device)
    if t.ndim == 1:
        t = t.view(-1, *([1] * (x_t.ndim - 1)))
    return x_t + (1 - t) * v


@dataclass
class SampleResult:
    """Output of :func:`euler_sample` / :func:`sample`.

    Attributes:
        x1: (B, *shape) final samples (t = 1).
        t: (n_steps,) float64 times at which v was evaluated (when recorded).
        x1_hat: (n_steps, B, *shape) one-step predictions x_t + (1 - t) v (Fig. 4), CPU.
        v_norm: (n_steps, B) per-sample L2 norm ||v(x_t, t)|| (Fig. 8a), CPU float64.
        extras: anything a velocity function recorded (e.g. CFG divergence, Fig. 8b).
    """

    x1: torch.Tensor
    t: torch.Tensor | None = None
    x1_hat: torch.Tensor | None = None
    v_norm: torch.Tensor | None = None
    extras: dict[str, Any] = field(default_factory=dict)


@torch.no_grad()
def euler_sample(
    velocity_fn: VelocityFn,
    x0: torch.Tensor,
    grid,
    y: torch.Tensor | int | None = None,
    record: bool = False,
    progress: bool = False,
) -> SampleResult:
    """Explicit Euler on the flow ODE over ``grid`` (Table 4: 50 uniform steps).

    .. math::

        x_{k+1} = x_k + (t_{k+1} - t_k)\\, v(x_k, t_k, y), \\qquad k = 0, \\dots, n - 1.

    v is evaluated at t_0 .. t_{n-1} only, never at t_n (= 1 for a full grid).

    Args:
        velocity_fn: ``velocity_fn(x (B, *shape), t (B,), y (B,) | None) -> (B, *shape)``;
            t is passed in x's dtype and device.
        x0: (B, *shape) starting points at t_0 (noise for t_0 = 0).
        grid: increasing times in [0, 1] (see :mod:`flowstage_lib.path.grids`).
        y: None, an int or (B,) labels, passed through to ``velocity_fn``.
        record: keep t, x1_hat and ||v|| of every step (Fig. 4, Fig. 8a).
        progress: tqdm bar over steps.

    Returns:
        :class:`SampleResult` (x1 in x0's dtype and device).
    """
    if not isinstance(x0, torch.Tensor) or x0.ndim < 1:
        raise TypeError(f"x0 must be a (B, *shape) tensor, got {type(x0).__name__}")
    y = _labels(y, x0.shape[0])
    _reset(velocity_fn)
    return _euler(velocity_fn, x0, check_grid(grid), y, record, progress)


def _euler(velocity_fn, x0, ts: list[float], y, record: bool, progress: bool = False):
    """:func:`euler_sample` on checked arguments (ts a list of floats, y None or (B,))."""
    x = x0.clone()
    B = x.shape[0]
    y = None if y is None else y.to(x.device)
    rec_t, rec_x1, rec_v = [], [], []
    for k in tqdm(range(len(ts) - 1), disable=not progress, desc="euler"):
        t = torch.full((B,), ts[k], dtype=x.dtype, device=x.device)  # (B,)
        v = velocity_fn(x, t, y).to(x.dtype)  # (B, *shape)
        if record:
            rec_t.append(ts[k])
            rec_x1.append(predict_x1(x, ts[k], v).cpu())
            rec_v.append(v.flatten(1).double().norm(dim=1).cpu())
        x = x + (ts[k + 1] - ts[k]) * v
    if not record:
        return SampleResult(x)
    return SampleResult(
        x1=x,
        t=torch.tensor(rec_t, dtype=torch.float64),
        x1_hat=torch.stack(rec_x1),
        v_norm=torch.stack(rec_v),
    )


@torch.no_grad()
def sample(
    velocity_fn: VelocityFn,
    n: int,
    shape: Sequence[int],
    y: torch.Tensor | int | None = None,
    grid=None,
    n_steps: int = 50,
    seed: int = 0,
    batch_size: int = 500,
    device: torch.device | str | None = None,
    record: bool = False,
    progress: bool = False,
) -> SampleResult:
    """Draw ``n`` samples in batches (Euler, default 50 uniform steps as in Table 4).

    The noise x0 ~ N(0, I) for all n samples is drawn at once from a CPU generator seeded
    with ``seed``, so the samples do not depend on ``batch_size`` or the device (up to
    floating-point differences of batched kernels).

    Args:
        velocity_fn: see :func:`euler_sample`.
        n: number of samples.
        shape: per-sample shape, e.g. (1, 28, 28).
        y: None (unconditional), an int, or (n,) labels.
        grid: time grid (default ``uniform_grid(n_steps)``).
        n_steps: steps of the default grid.
        seed: seed of the noise.
        batch_size: rows per Euler batch (memory bound).
        device: where to integrate (default CUDA if available).
        record: see :func:`euler_sample` (records are concatenated along the batch, on CPU).
        progress: tqdm bar over batches.

    Returns:
        :class:`SampleResult` with x1 (n, *shape) on CPU.
    """
    n, batch_size, seed = _count(n, "n"), _count(batch_size, "batch_size"), _count(seed, "seed", 0)
    shape = tuple(_count(s, f"shape[{i}]") for i, s in enumerate(shape))
    device = torch.device(device) if device is not None else default_device()
    ts = check_grid(uniform_grid(_count(n_steps, "n_steps")) if grid is None else grid)
    y = _labels(y, n)
    g = torch.Generator().manual_seed(seed)
    x0 = torch.randn((n, *shape), generator=g)  # (n, *shape)
    _reset(velocity_fn)  # records of a guided velocity cover this run only
    parts = []
    for s in tqdm(range(0, n, batch_size), disable=not progress, desc="sample"):
        yb = None if y is None else y[s : s + batch_size].to(device)
        r = _euler(velocity_fn, x0[s : s + batch_size].to(device), ts, yb, record)
        r.x1 = r.x1.cpu()
        parts.append(r)
    out = SampleResult(torch.cat([p.x1 for p in parts]))
    if record:
        out.t = parts[0].t
        out.x1_hat = torch.cat([p.x1_hat for p in parts], dim=1)
        out.v_norm = torch.cat([p.v_norm for p in parts], dim=1)
    return out
