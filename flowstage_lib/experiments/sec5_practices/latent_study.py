"""The models of Figs. 9, 10 and 12: latent spaces (Sec. 5.3), models trained in them or on the
oracle target (App. B), and their checkpoints' losses and sample quality over training."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch

from flowstage_lib.experiments._models import model_id, module_fingerprint
from flowstage_lib.experiments.sec5_practices.scoring import describe, score_sampler
from flowstage_lib.metrics import evaluate
from flowstage_lib.path import shifted_grid
from flowstage_lib.solver import ModelVelocity
from flowstage_lib.tooling import cache
from flowstage_lib.training import oracle_loss_per_t, zoo

__all__ = [
    "latent_spaces",
    "space_id",
    "study_model",
    "loss_over_training",
    "excess_variation",
    "fd_over_training",
    "checkpoint_samples",
    "memorized_fraction",
    "share_lower",
]


def latent_spaces(data, classifier, steps: int, seed: int = 0) -> dict:
    """The two latent spaces of Sec. 5.3 (cached): ``"recon"`` (reconstruction only, the
    SD-VAE analogue) and ``"aligned"`` (plus feature alignment to ``classifier``, the VA-VAE
    analogue), both trained for ``steps`` steps on ``data``."""
    from flowstage_lib.models.latent import train_autoencoder

    return {
        kind: train_autoencoder(
            data, kind, classifier=classifier, steps=steps, seed=seed, progress=False
        )[0]
        for kind in ("recon", "aligned")
    }


def space_id(space) -> str:
    """Identity of a LatentSpace: its autoencoder's weights and its latent statistics."""
    stats = torch.cat([space.mean.flatten(), space.std.flatten()]).float().cpu()
    return f"{module_fingerprint(space.autoencoder)}:{cache.tensor_fingerprint(stats)}"


def study_model(profile: str, size: str, space=None, target: str = "cfm", data="mnist5k"):
    """A zoo model of ``profile`` (budget 1): on pixels (``space=None``, shared with Section 4)
    or in a latent space (:func:`flowstage_lib.training.zoo.get_model` with ``latent=space``;
    a DiT keeps its patch size on 4x7x7 latents, see :class:`flowstage_lib.models.DiT`)."""
    return zoo.get_model(profile, size, target, 1, data, latent=space, progress=False)


def _checkpoints(result) -> list[tuple[int, torch.nn.Module]]:
    """[(step, model)]: every EMA snapshot, plus the final model if it is not a snapshot."""
    out = [(s, result.snapshot_model(s)) for s, _ in result.snapshots]
    if not out or out[-1][0] != result.steps:
        out.append((result.steps, result.model))
    return out


def loss_over_training(result, data, t_grid: Sequence[float], n: int, seed: int) -> dict:
    """Fig. 9: MSE of each training checkpoint against the (class-conditional) oracle and the
    CFM target on a t grid (the same n pairs at every t and checkpoint). Cached.

    Returns:
        dict: steps (S,), t (T,), oracle (S x T nested lists), cfm (S x T).
    """
    params = {
        "model": model_id(result),
        "snapshots": [s for s, _ in result.snapshots],
        "data": data.x,
        "labels": data.y,
        "t": [float(t) for t in t_grid],
        "n": n,
        "seed": seed,
    }

    def compute() -> dict:
        from flowstage_lib.oracle import OracleVelocity

        dev = next(result.model.parameters()).device
        oracle = OracleVelocity(data.x, labels=data.y, device=dev)
        steps, orc, cfm = [], [], []
        for s, m in _checkpoints(result):
            c = oracle_loss_per_t(m, data, t_grid, n=n, seed=seed, oracle=oracle)
            steps.append(s)
            orc.append(c.oracle.tolist())
            cfm.append(c.cfm.tolist())
        return {"steps": steps, "t": [float(t) for t in t_grid], "oracle": orc, "cfm": cfm}

    return cache.cached(
        "sec5_loss_over_training",
        params,
        compute,
    )


def excess_variation(t: Sequence[float], y: Sequence[float], t_min: float = 0.0) -> float:
    """Bumps and dips of a curve on t >= t_min: sum |diff log y| - |log y_end - log y_start|.
    Zero for a monotone curve; Fig. 9's "smoother refinement-stage curve" means smaller."""
    t, y = np.asarray(t, dtype=np.float64), np.asarray(y, dtype=np.float64)
    ly = np.log(y[t >= t_min])
    if ly.size < 2:
        return math.nan
    return float(np.abs(np.diff(ly)).sum() - abs(ly[-1] - ly[0]))


def fd_over_training(
    result,
    ev: evaluate.Evaluator,
    n: int,
    n_steps: int,
    seed: int,
    decode: Callable | None = None,
    extra: dict | None = None,
    n_boot: int = 200,
) -> list[dict]:
    """Figs. 10 / 12: FD (bootstrap interval) and class accuracy of ``n`` conditional samples
    (no guidance) of every training checkpoint; ``decode``: latent -> pixels for a latent model
    (its autoencoder's identity goes in ``extra``).

    Returns:
        list of dicts: step, fd, fd_low, fd_high, accuracy, n, seconds.
    """
    shape, K = result.spec.input_shape, result.spec.num_classes
    rows = []
    for s, m in _checkpoints(result):
        # run key + step identify a checkpoint: a resumed (longer) run is bit-exact
        d = describe(result.key, n_steps=n_steps, snapshot=s, **(extra or {}))
        sc = score_sampler(
            ev,
            ModelVelocity(m),
            d,
            n,
            shape,
            K,
            grid=shifted_grid(n_steps, 1.0),
            seed=seed,
            decode=decode,
            n_boot=n_boot,
        )
        rows.append({"step": s, **sc})
    return rows


def checkpoint_samples(
    result,
    step: int,
    n: int,
    n_steps: int,
    seed: int,
    decode: Callable | None = None,
    extra: dict | None = None,
) -> dict:
    """The (cached) sample set behind one point of :func:`fd_over_training` (same arguments,
    same cache entry): dict x (n, C, H, W) pixels, y, seconds."""
    model = dict(_checkpoints(result))[step]
    d = describe(result.key, n_steps=n_steps, snapshot=step, **(extra or {}))
    return evaluate.sample_set(
        ModelVelocity(model),
        d,
        n,
        tuple(result.spec.input_shape),
        result.spec.num_classes,
        grid=shifted_grid(n_steps, 1.0),
        seed=seed,
        decode=decode,
    )


def memorized_fraction(x: torch.Tensor, reference: torch.Tensor) -> float:
    """Share of images x (B, C, H, W) whose nearest reference image (pixel L2) is three times
    closer than the second nearest (Gu et al.). For a latent model pass the *decoded
    reconstructions* of the training images as ``reference``."""
    from flowstage_lib.metrics import memorization

    return float(memorization(x, reference).memorized.double().mean())


def share_lower(a: Sequence[float], b: Sequence[float]) -> float:
    """Share of positions where a < b (e.g. aligned FD below reconstruction-only FD)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float((a < b).mean())
