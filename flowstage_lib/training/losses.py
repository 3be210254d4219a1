"""Flow-matching losses against the oracle: the oracle target of training (appendix B,
Fig. 10), the per-t-bin losses logged during training, and a trained model's MSE per t
against u* and x1 - x0 (:func:`oracle_loss_per_t`, Figs. 7a / 7b / 9)."""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn

__all__ = ["LossCurve", "oracle_loss_per_t", "oracle_targets", "bin_losses"]


def build_oracle(data, device):
    """Theorem 2.1's oracle over the training set ``data`` (with its labels)."""
    from flowstage_lib.oracle import OracleVelocity

    return OracleVelocity(data.x, labels=data.y, device=device)


def oracle_targets(oracle, x_t, t, y, num_classes: int) -> torch.Tensor:
    """u*(x_t, t | y) for labelled rows, u*(x_t, t) for null-class rows (Theorem 2.1).

    x_t (B, *shape), t (B,), y (B,) with null class ``num_classes``, or None -> (B, *shape).
    """
    if y is None or oracle.classes is None:
        return oracle.velocity(x_t, t)
    out = torch.empty_like(x_t)
    null = y == num_classes
    if (~null).any():
        out[~null] = oracle.velocity(x_t[~null], t[~null], y[~null]).to(x_t.dtype)
    if null.any():
        out[null] = oracle.velocity(x_t[null], t[null]).to(x_t.dtype)
    return out


def _bin_means(per_sample: torch.Tensor, t: torch.Tensor, n_bins: int):
    """Per-bin mean of per-sample losses over equal-width t bins: (mean list, count list);
    NaN for an empty bin. per_sample, t (B,)."""
    idx = (t * n_bins).long().clamp_(0, n_bins - 1).cpu()
    v = per_sample.detach().double().cpu()
    cnt = torch.bincount(idx, minlength=n_bins)
    tot = torch.zeros(n_bins, dtype=torch.float64).index_add_(0, idx, v)
    mean = torch.where(cnt > 0, tot / cnt.clamp_min(1), torch.full_like(tot, math.nan))
    return mean.tolist(), cnt.tolist()


@torch.no_grad()
def bin_losses(pred, u_cfm, u_orc, t, n_bins: int) -> tuple[list, list, list]:
    """The logged per-t-bin MSE of a batch (Figs. 7a / 9 / 10): (against x1 - x0, count,
    against u* or NaNs when ``u_orc`` is None). pred, u_cfm, u_orc (B, *shape); t (B,)."""
    per_cfm = (pred - u_cfm).pow(2).flatten(1).mean(1)  # (B,)
    b_cfm, cnt = _bin_means(per_cfm, t, n_bins)
    if u_orc is None:
        return b_cfm, cnt, [math.nan] * n_bins
    per_orc = (pred - u_orc).pow(2).flatten(1).mean(1)  # (B,)
    return b_cfm, cnt, _bin_means(per_orc, t, n_bins)[0]


class LossCurve(NamedTuple):
    """MSE of a model per t (Fig. 7a / 7b / 9): ``t`` (T,), ``oracle`` (T,) against
    u*(x_t, t | y), ``cfm`` (T,) against x1 - x0; numpy-free float64 tensors.
    ``oracle_pairs`` (T, n): the per-pair oracle MSE (``per_pair=True``; else None), whose
    mean over pairs is ``oracle``: what a bootstrap over the pairs resamples (Fig. 9)."""

    t: torch.Tensor
    oracle: torch.Tensor
    cfm: torch.Tensor
    oracle_pairs: torch.Tensor | None = None


@torch.no_grad()
def oracle_loss_per_t(
    model: nn.Module,
    data,
    t_grid,
    n: int = 256,
    seed: int = 0,
    conditional: bool = True,
    batch_size: int = 256,
    oracle=None,
    per_pair: bool = False,
) -> LossCurve:
    """Evaluate a trained model's MSE against the oracle and the CFM target on a t grid.

    The same n pairs (x1 from ``data``, x0 ~ N(0, I)) are used at every t (common random
    numbers: the curve is smooth in t). The oracle is Theorem 2.1 over ``data``
    (class-conditional on the row's label when ``conditional``, else unconditional with the
    model queried on the null class).

    Args:
        model: velocity network ``model(x, t, y)``.
        data: ``ImageData``-like training set (the oracle's data and the x1 source).
        t_grid: iterable of times in [0, 1).
        n: pairs per t.
        seed: seed of the pairs.
        conditional: class-conditional (label y) or unconditional (null class).
        batch_size: rows per forward.
        oracle: optional prebuilt ``OracleVelocity`` over ``data`` (with labels).
        per_pair: also return the (T, n) per-pair oracle MSE (``LossCurve.oracle_pairs``).

    Returns:
        LossCurve(t, oracle, cfm[, oracle_pairs]), each (T,) float64 (pairs: (T, n)).
    """
    device = next(model.parameters()).device
    was = model.training
    model.eval()
    if oracle is None:
        oracle = build_oracle(data, device)
    K = getattr(model, "num_classes", 0)
    g = torch.Generator().manual_seed(seed)
    idx = torch.randint(0, data.x.shape[0], (n,), generator=g)
    x1_all = data.x[idx]  # (n, *shape)
    x0_all = torch.randn(x1_all.shape, generator=g)
    y_all = data.y[idx] if (conditional and K > 0) else None
    ts = torch.as_tensor(list(t_grid), dtype=torch.float64)
    mse_o = torch.zeros(len(ts), dtype=torch.float64)
    mse_c = torch.zeros(len(ts), dtype=torch.float64)
    pairs = torch.zeros(len(ts), n, dtype=torch.float64) if per_pair else None
    for j, tv in enumerate(ts.tolist()):
        for s in range(0, n, batch_size):
            x1 = x1_all[s : s + batch_size].to(device)
            x0 = x0_all[s : s + batch_size].to(device)
            b = x1.shape[0]
            t = torch.full((b,), tv, dtype=torch.float32, device=device)
            x_t = tv * x1 + (1 - tv) * x0
            y = y_all[s : s + batch_size].to(device) if y_all is not None else None
            y_model = y if y is not None else (torch.full((b,), K, device=device) if K else None)
            v = model(x_t, t, y_model).float()
            u = oracle.velocity(x_t, t, y).to(v.dtype)
            err = (v - u).pow(2).flatten(1).mean(1).double().cpu()  # (b,) per pair
            mse_o[j] += err.sum()
            if pairs is not None:
                pairs[j, s : s + b] = err
            mse_c[j] += (v - (x1 - x0)).pow(2).flatten(1).mean(1).double().sum().cpu()
    model.train(was)
    return LossCurve(ts, mse_o / n, mse_c / n, pairs)
