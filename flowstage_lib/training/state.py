"""The state of a training run: what a checkpoint stores and what one optimizer step moves
(model, EMA of the weights, AdamW, the run's random generator, the logged history)."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from flowstage_lib.models import ModelSpec, build_model, default_device

if TYPE_CHECKING:
    from flowstage_lib.training.trainer import TrainConfig

__all__ = ["TrainState", "fresh_state", "ema_update"]


@dataclass
class TrainState:
    """A training run at step ``step`` (everything needed to continue it bit-for-bit).

    Attributes:
        model: the trained network (train mode, on the training device).
        ema: the EMA copy of ``model`` (eval mode, no grad).
        opt: the AdamW optimizer of ``model``.
        gen: CPU generator of every random draw of the run (batches, noise, t, label drop).
        history: the logged curves (see :class:`~flowstage_lib.training.TrainResult`).
        snap_steps: steps of the EMA snapshots taken so far.
        step: optimizer steps done.
        seconds: training seconds of the earlier segments of the run (before this resume).
        acc_loss, acc_n: sum and count of the training losses since the last log.
    """

    model: nn.Module
    ema: nn.Module
    opt: torch.optim.Optimizer
    gen: torch.Generator
    history: dict[str, Any]
    snap_steps: list[int]
    step: int = 0
    seconds: float = 0.0
    acc_loss: float = 0.0
    acc_n: int = 0


def resolve_device(cfg: TrainConfig) -> torch.device:
    """``cfg.device``, or CUDA when available, else CPU."""
    return torch.device(cfg.device) if cfg.device is not None else default_device()


def empty_history(cfg: TrainConfig) -> dict[str, Any]:
    """History with no logged step yet; ``t_edges`` are the n_t_bins + 1 bin edges."""
    edges = [i / cfg.n_t_bins for i in range(cfg.n_t_bins + 1)]
    keys = ("step", "loss", "seconds", "bin_count", "bin_loss_cfm", "bin_loss_oracle")
    return {"t_edges": edges, **{k: [] for k in keys}}


def fresh_state(spec: ModelSpec, cfg: TrainConfig, device: torch.device) -> TrainState:
    """Step 0 of the run: model initialised from ``cfg.seed`` (the global RNG is left
    untouched), its EMA copy, AdamW (Table 4 betas) and the run's generator."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        model = build_model(spec)
    model = model.to(device).train()
    ema = copy.deepcopy(model).requires_grad_(False).eval()
    opt = torch.optim.AdamW(
        model.parameters(), lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay
    )
    gen = torch.Generator().manual_seed(cfg.seed)  # every draw of the run (CPU, portable)
    return TrainState(model, ema, opt, gen, empty_history(cfg), [])


def cpu_state(module: nn.Module) -> dict[str, torch.Tensor]:
    """A detached CPU copy of ``module.state_dict()``."""
    return {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}


@torch.no_grad()
def ema_update(ema: nn.Module, model: nn.Module, decay: float) -> None:
    """ema <- decay * ema + (1 - decay) * model, for parameters and float buffers."""
    pe, p = list(ema.parameters()), [q.detach() for q in model.parameters()]
    assert len(pe) == len(p), "ema and model differ"
    torch._foreach_lerp_(pe, p, 1.0 - decay)  # one fused op per device (bit-equal to lerp_)
    for be, b in zip(ema.buffers(), model.buffers(), strict=True):
        if be.is_floating_point():
            be.copy_(b)
