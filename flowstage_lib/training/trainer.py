"""Training velocity networks by flow matching (paper Table 4 recipe), resumable bit-for-bit.

Recipe: rectified flow x_t = t x1 + (1 - t) x0, t ~ U[0, 1], x0 ~ N(0, I);
AdamW betas (0.9, 0.995), constant learning rate, EMA of the weights, gradient clipping 1.0,
label drop 0.1 (the null class ``num_classes`` trains the unconditional branch for CFG).

Two regression targets (``TrainConfig.target``):

- ``"cfm"``: the conditional target u(x_t | x1) = x1 - x0 (standard flow matching).
- ``"oracle"``: the closed-form oracle velocity u*(x_t, t | y) of Theorem 2.1 over the training
  set (appendix B, Fig. 10), class-conditional for labelled rows and unconditional for rows
  whose label was dropped (:mod:`.losses`).

Whatever the target, every logged batch records the per-t-bin MSE of the model's prediction
against *both* targets (the curves of Fig. 7a / 9 / 10; the oracle is class-conditional on
the training data).

Caching and resumption (:mod:`.checkpoints`): checkpoints (model, EMA, optimizer, RNG,
history) live in the cache under a key that hashes (spec, config without ``steps`` /
``checkpoint_every``, data fingerprint, the requested device type (the profile's, not the
machine's), the source of the training code's import closure: models, paths, data,
training; :func:`flowstage_lib.tooling.cache.cache_key`). Because nothing in a run depends on
the total number of steps (constant learning rate), a run of 2N steps *continues* the N-step
run of the same key; an interrupted run resumes from its latest checkpoint and ends
bit-for-bit where an uninterrupted run ends (``tests/training``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from flowstage_lib.models import ModelSpec, bf16_autocast, build_model
from flowstage_lib.tooling import cache
from flowstage_lib.tooling.progress import tqdm
from flowstage_lib.training.checkpoints import (
    NO_CHECKPOINT,
    list_checkpoints,
    load_snapshots,
    resume,
    run_key,
    save_checkpoint,
    snapshot_path,
)
from flowstage_lib.training.losses import bin_losses, build_oracle, oracle_targets
from flowstage_lib.training.state import (
    TrainState,
    cpu_state,
    ema_update,
    fresh_state,
    resolve_device,
)

__all__ = ["TrainConfig", "TrainResult", "train", "load_or_train"]


@dataclass(frozen=True)
class TrainConfig:
    """Training hyper-parameters (defaults: Table 4 where it applies, CPU-sized otherwise).

    The paper trains at lr 1e-4, batch 512, EMA 0.9999 for hundreds of thousands of steps.
    For runs of a few thousand steps on a CPU we use lr 1e-3, batch 128 and EMA 0.999 with the
    usual warm-up ``min(decay, (1 + k) / (10 + k))`` so that short runs are not dominated by
    the random init. Measured on the cpu-ladder B model (residual MLP, 6.9 M params), class
    accuracy at CFG 1 after 3000 / 6000 steps: lr 5e-4 82% / 91%, 1e-3 85% / 90%, 2e-3 88% /
    93% (GPU sweep in fp32, 500 samples, +-2%); 1e-3 is the stable middle. The ``gpu`` zoo
    profile (DiT) uses 2e-4 at batch 256, close to the paper.
    """

    steps: int = 2000  # optimizer steps (a longer run continues a shorter one)
    batch_size: int = 128  # paper: 512
    lr: float = 1e-3  # constant; paper: 1e-4
    betas: tuple[float, float] = (0.9, 0.995)  # Table 4
    weight_decay: float = 0.0  # AdamW decoupled weight decay
    ema_decay: float = 0.999  # paper: 0.9999 (for ~100x more steps)
    ema_warmup: bool = True  # decay_k = min(ema_decay, (1 + k) / (10 + k))
    grad_clip: float = 1.0  # max global grad norm (Table 4); 0 = off
    label_drop: float = 0.1  # P(label -> null class) for CFG (Table 4)
    target: str = "cfm"  # "cfm" (x1 - x0) | "oracle" (u*(x_t, t | y), appendix B)
    seed: int = 0  # model init and every random draw of the run
    log_every: int = 100  # history every k steps (per-t-bin losses vs both targets)
    n_t_bins: int = 10  # equal-width t bins of the per-t losses
    log_oracle: bool = True  # compute the oracle-target loss on logged batches
    snapshot_every: int = 0  # EMA snapshots every k steps (FD-over-training); 0 = none
    checkpoint_every: int = 500  # checkpoint every k steps (and at the end); 0 = no cache
    amp: bool = True  # bf16 autocast on CUDA and on CPUs with native bf16 (models.cpu_bf16)
    device: str | None = None  # None = CUDA if available, else CPU

    def __post_init__(self):
        if self.target not in ("cfm", "oracle"):
            raise ValueError(f"target must be 'cfm' or 'oracle', got {self.target!r}")
        if not 0.0 <= self.label_drop <= 1.0:
            raise ValueError(f"label_drop must be in [0, 1], got {self.label_drop}")
        if self.steps < 0 or self.batch_size < 1 or self.log_every < 1 or self.n_t_bins < 1:
            raise ValueError("steps >= 0, batch_size >= 1, log_every >= 1, n_t_bins >= 1")
        object.__setattr__(self, "betas", tuple(float(b) for b in self.betas))


@dataclass
class TrainResult:
    """A trained model and its record.

    Attributes:
        model: the network with the EMA weights, in eval mode, on the training device.
        ema_state: the EMA state dict (CPU tensors).
        history: dict of lists, one entry per logged step: ``step``, ``loss`` (mean training
            loss since the previous log), ``seconds``, ``bin_count`` / ``bin_loss_cfm`` /
            ``bin_loss_oracle`` (per t bin, NaN for an empty bin), plus ``t_edges``
            (n_t_bins + 1 bin edges). Fig. 7a / 9 / 10 plot the bin losses.
        snapshots: [(step, ema_state_dict), ...] every ``cfg.snapshot_every`` steps.
        seconds: wall-clock training time summed over all resumed segments.
        spec, cfg: what was trained.
        key: the run's cache key ('' when trained without the cache).
    """

    model: nn.Module
    ema_state: dict[str, torch.Tensor]
    history: dict[str, Any]
    snapshots: list[tuple[int, dict[str, torch.Tensor]]]
    seconds: float
    spec: ModelSpec | None = None
    cfg: TrainConfig | None = None
    key: str = ""

    @property
    def steps(self) -> int:
        return self.cfg.steps if self.cfg is not None else 0

    def snapshot_model(self, step: int) -> nn.Module:
        """A fresh model (eval mode, same device) with the EMA weights of snapshot ``step``."""
        for s, state in self.snapshots:
            if s == step:
                m = build_model(self.spec).to(next(self.model.parameters()).device)
                m.load_state_dict(state)
                return m.eval()
        raise KeyError(f"no snapshot at step {step}; have {[s for s, _ in self.snapshots]}")


# --------------------------------------------------------------------------------------
# one segment of a run (one call of train): setup/resume, one step, checkpoint, result
# --------------------------------------------------------------------------------------


@dataclass
class _Segment:
    """What one call of :func:`train` holds besides the :class:`TrainState`: the data on the
    device, the lazily built oracle, the cache key and whether the cache still takes writes,
    and the EMA snapshots taken in this segment."""

    spec: ModelSpec
    cfg: TrainConfig
    data: Any
    device: torch.device
    key: str  # '' without the cache
    can_save: bool
    x_all: torch.Tensor  # (N, *shape)
    y_all: torch.Tensor | None  # (N,) or None (unconditional model)
    oracle: Any = None
    snaps: dict[int, dict[str, torch.Tensor]] = field(default_factory=dict)
    t_start: float = field(default_factory=time.perf_counter)

    def elapsed(self, st: TrainState) -> float:
        """Training seconds over all segments of the run."""
        return st.seconds + time.perf_counter() - self.t_start


def _setup(spec: ModelSpec, data, cfg: TrainConfig) -> tuple[_Segment, TrainState]:
    """Check the data against the spec, then resume from the latest checkpoint of the run's
    key (or start fresh); the data go to the training device."""
    device = resolve_device(cfg)
    shape = tuple(data.x.shape[1:])
    if tuple(spec.input_shape) != shape:
        raise ValueError(f"spec.input_shape {spec.input_shape} != data shape {shape}")
    use_cache = cfg.checkpoint_every > 0 and os.environ.get("FLOWSTAGE_NO_CACHE") != "1"
    key = run_key(spec, data, cfg) if use_cache else ""
    st = resume(key, spec, cfg, device) if use_cache else fresh_state(spec, cfg, device)
    seg = _Segment(
        spec=spec,
        cfg=cfg,
        data=data,
        device=device,
        key=key,
        can_save=use_cache,
        x_all=data.x.to(device),
        y_all=data.y.to(device) if spec.num_classes > 0 else None,
    )
    return seg, st


def _draw_batch(seg: _Segment, gen: torch.Generator):
    """One batch, every draw from the run's CPU generator in a fixed order (resumable,
    portable): (x_t, t, y, u_cfm) with x_t, u_cfm (B, *shape), t (B,), y (B,) or None."""
    B, K, dev = seg.cfg.batch_size, seg.spec.num_classes, seg.device
    shape = tuple(seg.x_all.shape[1:])
    idx = torch.randint(0, seg.x_all.shape[0], (B,), generator=gen)
    x0 = torch.randn((B, *shape), generator=gen).to(dev)  # (B, *shape)
    t = torch.rand((B,), generator=gen).to(dev)  # (B,) U[0, 1)
    drop = (torch.rand((B,), generator=gen) < seg.cfg.label_drop).to(dev)  # (B,)
    x1 = seg.x_all[idx.to(dev)]  # (B, *shape)
    y = None
    if seg.y_all is not None:
        y = torch.where(drop, torch.full_like(drop, K, dtype=torch.long), seg.y_all[idx.to(dev)])
    tb = t.view(B, *([1] * len(shape)))
    x_t = tb * x1 + (1 - tb) * x0  # rectified flow, (B, *shape)
    return x_t, t, y, x1 - x0


def _oracle_target(seg: _Segment, x_t, t, y) -> torch.Tensor:
    """u*(x_t, t | y) of the batch (the oracle over the training set is built once)."""
    if seg.oracle is None:
        seg.oracle = build_oracle(seg.data, seg.device)
    with torch.no_grad():
        return oracle_targets(seg.oracle, x_t, t, y, seg.spec.num_classes)


def _step(seg: _Segment, st: TrainState, bar) -> None:
    """One optimizer step (AdamW, clipping, EMA with warm-up) on a fresh batch; on a logging
    step the per-t-bin losses against both targets go to ``st.history``."""
    cfg = seg.cfg
    x_t, t, y, u_cfm = _draw_batch(seg, st.gen)
    log_now = (st.step + 1) % cfg.log_every == 0 or st.step + 1 == cfg.steps
    need_oracle = cfg.target == "oracle" or (cfg.log_oracle and log_now)
    u_orc = _oracle_target(seg, x_t, t, y) if need_oracle else None
    target = u_orc if cfg.target == "oracle" else u_cfm

    with bf16_autocast(seg.device, cfg.amp):  # the network only; the oracle target is fp32
        pred = st.model(x_t, t, y)  # (B, *shape)
    pred = pred.float()
    loss = F.mse_loss(pred, target) * getattr(st.model, "loss_weight", 1.0)  # Preconditioned
    st.opt.zero_grad(set_to_none=True)
    loss.backward()
    if cfg.grad_clip > 0:
        nn.utils.clip_grad_norm_(st.model.parameters(), cfg.grad_clip)
    st.opt.step()
    st.step += 1
    k = st.step
    decay = min(cfg.ema_decay, (1 + k) / (10 + k)) if cfg.ema_warmup else cfg.ema_decay
    ema_update(st.ema, st.model, decay)
    st.acc_loss += float(loss.detach())
    st.acc_n += 1
    if log_now:
        _log(seg, st, bin_losses(pred, u_cfm, u_orc, t, cfg.n_t_bins))
        bar.set_postfix(loss=f"{st.history['loss'][-1]:.4f}")


def _log(seg: _Segment, st: TrainState, bins: tuple[list, list, list]) -> None:
    """Append one logged step to the history and restart the loss average."""
    b_cfm, cnt, b_orc = bins
    h = st.history
    h["step"].append(st.step)
    h["loss"].append(st.acc_loss / max(st.acc_n, 1))
    h["seconds"].append(seg.elapsed(st))
    h["bin_count"].append(cnt)
    h["bin_loss_cfm"].append(b_cfm)
    h["bin_loss_oracle"].append(b_orc)
    st.acc_loss, st.acc_n = 0.0, 0


def _snapshot(seg: _Segment, st: TrainState) -> None:
    """Keep (and cache) the EMA weights of this step (FD over training)."""
    seg.snaps[st.step] = cpu_state(st.ema)
    if seg.can_save:
        seg.can_save = cache.try_save(
            seg.snaps[st.step], snapshot_path(seg.key, st.step), consequence=NO_CHECKPOINT
        )
    st.snap_steps.append(st.step)


def _checkpoint(seg: _Segment, st: TrainState, final: bool) -> None:
    """Checkpoint the run unless the cache is off or refused a write earlier."""
    if seg.can_save:
        seg.can_save = save_checkpoint(st, seg.key, seg.spec, seg.cfg, seg.elapsed(st), final)


def _result(seg: _Segment, st: TrainState) -> TrainResult:
    """The EMA weights in the model (eval mode, no grad) and the run's record."""
    snapshots = load_snapshots(seg.key, st.snap_steps, seg.snaps)
    st.model.load_state_dict(st.ema.state_dict())
    st.model.eval().requires_grad_(False)
    return TrainResult(
        model=st.model,
        ema_state=cpu_state(st.ema),
        history=st.history,
        snapshots=snapshots,
        seconds=seg.elapsed(st),
        spec=seg.spec,
        cfg=seg.cfg,
        key=seg.key,
    )


def train(
    spec: ModelSpec,
    data,
    cfg: TrainConfig,
    progress: bool = True,
    callback: Callable[[int], None] | None = None,
) -> TrainResult:
    """Train ``spec`` on ``data`` with flow matching (Table 4 recipe), resuming if possible.

    When ``cfg.checkpoint_every > 0`` (and ``FLOWSTAGE_NO_CACHE`` is not ``1``) the run
    writes checkpoints to the cache every ``checkpoint_every`` steps and at the end, and
    starts from the latest checkpoint of the same run key with step <= ``cfg.steps`` (a
    finished run is just loaded). Older periodic checkpoints are removed; end-of-run
    checkpoints are kept (they are the results that longer runs continue). A checkpoint that
    cannot be loaded is reported (warning), removed, and the run resumes from an earlier one
    or from scratch; a cache that cannot be written is reported once and training goes on
    without checkpoints.

    Args:
        spec: the model to build (:class:`~flowstage_lib.models.ModelSpec`).
        data: an ``ImageData``-like object with ``x`` (N, *shape) float32 and ``y`` (N,) int64.
        cfg: :class:`TrainConfig`.
        progress: show a tqdm bar.
        callback: called as ``callback(step)`` after every optimizer step (tests use it to
            interrupt a run).

    Returns:
        :class:`TrainResult` (EMA model in eval mode).
    """
    seg, st = _setup(spec, data, cfg)
    desc = f"train {spec.family}-{spec.size}"
    bar = tqdm(total=cfg.steps, initial=st.step, disable=not progress, desc=desc)
    seg.t_start = time.perf_counter()
    while st.step < cfg.steps:
        _step(seg, st, bar)
        if cfg.snapshot_every > 0 and st.step % cfg.snapshot_every == 0:
            _snapshot(seg, st)
        bar.update(1)
        if callback is not None:
            callback(st.step)
        if seg.key and st.step % cfg.checkpoint_every == 0 and st.step < cfg.steps:
            _checkpoint(seg, st, final=False)
    bar.close()
    if seg.can_save and not any(s == st.step and fin for s, fin, _ in list_checkpoints(seg.key)):
        _checkpoint(seg, st, final=True)
    return _result(seg, st)


def load_or_train(spec: ModelSpec, data, cfg: TrainConfig, progress: bool = True) -> TrainResult:
    """The cached entry point: load the finished run of (spec, data, cfg) from the cache, or
    train it -- continuing the longest shorter run of the same key, or resuming an
    interrupted one. ``cfg.checkpoint_every = 0`` is replaced by ``max(steps // 4, 1)``."""
    if cfg.checkpoint_every <= 0:
        cfg = replace(cfg, checkpoint_every=max(cfg.steps // 4, 1))
    return train(spec, data, cfg, progress=progress)
