"""Sampling and scoring shared by Tables 2-3 and Figs. 10, 12: one cached sample set per
described sampler, scored by Frechet distance (bootstrap interval) and class accuracy."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from flowstage_lib.experiments._models import model_id
from flowstage_lib.metrics import evaluate
from flowstage_lib.path import shifted_grid
from flowstage_lib.solver import CFGVelocity, ModelVelocity
from flowstage_lib.tooling import cache

__all__ = [
    "score_sampler",
    "reference_fd",
    "guided_velocity",
    "describe",
    "sample_images",
    "border_rms",
]


def _fd_row(score: evaluate.SampleScore) -> dict:
    return {
        "fd": float(score.fd),
        "fd_low": float(score.fd_low),
        "fd_high": float(score.fd_high),
        "accuracy": float(score.accuracy),
        "n": int(score.n),
    }


def score_sampler(
    ev: evaluate.Evaluator,
    velocity_fn: Callable,
    describe: dict,
    n: int,
    shape: Sequence[int],
    num_classes: int,
    grid=None,
    seed: int = 0,
    decode: Callable | None = None,
    n_boot: int = 200,
) -> dict:
    """Sample (cached by :func:`~flowstage_lib.metrics.evaluate.sample_set`) and score
    (cached here):
    Frechet distance in classifier features with a bootstrap interval, class accuracy.

    Returns:
        dict: fd, fd_low, fd_high, accuracy, n, seconds (sampling time of the filling run).
    """
    grid_key = None if grid is None else [round(float(t), 8) for t in grid]
    params = {"describe": describe, "n": n, "shape": list(shape), "grid": grid_key, "seed": seed}
    params.update({"decode": decode is not None, "n_boot": n_boot, "ref": ev.ref_feats})

    def compute() -> dict:
        s = evaluate.sample_set(
            velocity_fn,
            describe,
            n,
            tuple(shape),
            num_classes,
            grid=grid,
            seed=seed,
            decode=decode,
        )
        row = _fd_row(ev.score(s["x"], s["y"], n_boot=n_boot, seed=seed))
        return {**row, "seconds": float(s["seconds"])}

    return cache.cached("sec5_score", params, compute)


def reference_fd(
    ev: evaluate.Evaluator,
    x: torch.Tensor,
    y: torch.Tensor,
    n: int,
    n_boot: int = 200,
    seed: int = 0,
) -> dict:
    """Frechet distance of ``n`` real images x (N, C, H, W), labels y (N,) to the training
    split: the floor that finite-sample bias puts under every sample set of size ``n``."""
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(x), generator=g)[: min(n, len(x))]
    params = {"x": x[idx], "y": y[idx], "n_boot": n_boot, "ref": ev.ref_feats, "seed": seed}
    return cache.cached(
        "sec5_reference_fd",
        params,
        lambda: _fd_row(ev.score(x[idx], y[idx], n_boot=n_boot, seed=seed)),
    )


def guided_velocity(model, scale: float, interval) -> Callable:
    """CFG with ``scale`` on the half-open ``interval`` [a, b) (None or scale 1: no guidance)."""
    if interval is None or scale == 1.0:
        return ModelVelocity(model)
    return CFGVelocity(model, scale, interval)


def describe(
    key: str, shift: float = 1.0, scale: float = 1.0, interval=None, n_steps: int = 50, **extra
) -> dict:
    """The sample-set description shared by Tables 2 and 3 (so Table 3's "none" row *is*
    Table 2's s = 1 row, as in the paper)."""
    guided = interval is not None and scale != 1.0
    return {
        "model": key,
        "shift": float(shift),
        "nfe": int(n_steps),
        "cfg_scale": float(scale) if guided else 1.0,
        "cfg_interval": [round(float(v), 6) for v in interval] if guided else None,
        **extra,
    }


def sample_images(
    result, n: int, n_steps: int, seed: int, shift: float = 1.0, scale: float = 1.0, interval=None
) -> dict:
    """The (cached) sample set of one row of Table 2 / 3: dict x (n, C, H, W) pixels, y,
    seconds. ``interval`` is the executed (placed) interval; the same arguments as the row
    give the same cache entry."""
    return evaluate.sample_set(
        guided_velocity(result.model, scale, interval),
        describe(model_id(result), shift, scale, interval, n_steps),
        n,
        tuple(result.spec.input_shape),
        result.spec.num_classes,
        grid=shifted_grid(n_steps, shift),
        seed=seed,
    )


def border_rms(x: torch.Tensor, width: int = 3, background: float = -1.0) -> float:
    """Root mean square deviation from the background value of the ``width``-pixel frame of
    images x (B, C, H, W): the speckle a sampler leaves where MNIST digits never are (0 for
    real MNIST images, whose frame is black = -1)."""
    m = torch.ones(x.shape[-2:], dtype=torch.bool)
    m[width:-width, width:-width] = False
    return float((x[..., m] - background).pow(2).mean().sqrt())
