"""Training velocity networks by flow matching, with the paper's per-t loss diagnostics.

Recipe (paper Table 4): rectified flow x_t = t x1 + (1 - t) x0, t ~ U[0, 1], x0 ~ N(0, I);
AdamW betas (0.9, 0.995), constant learning rate, EMA of the weights, gradient clipping 1.0,
label drop 0.1 (the null class ``num_classes`` trains the unconditional branch for CFG).

Two regression targets (``TrainConfig.target``):

- ``"cfm"``: the conditional target u(x_t | x1) = x1 - x0 (standard flow matching).
- ``"oracle"``: the closed-form oracle velocity u*(x_t, t | y) of Theorem 2.1 over the training
  set (appendix B, Fig. 10), class-conditional for labelled rows and unconditional for rows
  whose label was dropped.

Whatever the target, every logged batch records the per-t-bin MSE of the model's prediction
against *both* targets (the curves of Fig. 7a / 9 / 10; the oracle is class-conditional on
the training data).

Caching and resumption: checkpoints (model, EMA, optimizer, RNG, history) live in the cache
under a key that hashes (spec, config without ``steps`` / ``checkpoint_every``, data
fingerprint, device type, source of ``model.py`` and ``train.py`` -- plus ``oracle.py`` /
``path.py`` for the oracle target). Because nothing in a run depends on the total number of
steps (constant learning rate), a run of 2N steps *continues* the N-step run of the same key;
an interrupted run resumes from its latest checkpoint and ends bit-for-bit where an
uninterrupted run ends (``tests/test_train.py``).
"""

from __future__ import annotations

import copy
import math
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from flowstage_lib.models import ModelSpec, build_model, default_device
from flowstage_lib.tooling import cache
from flowstage_lib.tooling.progress import tqdm

__all__ = [
    "TrainConfig",
    "TrainResult",
    "LossCurve",
    "train",
    "load_or_train",
    "oracle_loss_per_t",
    "run_key",
    "ema_update",
]


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
    amp: bool = True  # bf16 autocast on CUDA (ignored on CPU, which stays fp32)
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
# helpers
# --------------------------------------------------------------------------------------


def _resolve_device(cfg: TrainConfig) -> torch.device:
    return torch.device(cfg.device) if cfg.device is not None else default_device()


def run_key(spec: ModelSpec, data, cfg: TrainConfig) -> str:
    """Cache key of a training run: everything that determines its trajectory, *except*
    ``steps`` and ``checkpoint_every`` (so a longer run continues a shorter one)."""
    c = asdict(cfg)
    for k in ("steps", "checkpoint_every", "device"):
        c.pop(k)
    params = {
        "spec": spec.to_dict(),
        "cfg": c,
        "data_x": cache.tensor_fingerprint(data.x),
        "data_y": cache.tensor_fingerprint(data.y),
        "device": _resolve_device(cfg).type,
    }
    return cache.cache_key("train", params)  # keyed on the whole package's source


def _ckpt_dir(key: str):
    return cache.cache_dir() / "train" / key


def _list_ckpts(key: str) -> list[tuple[int, bool, Any]]:
    """[(step, is_final, path)] of the run's checkpoints, ascending by step."""
    d = _ckpt_dir(key)
    out = []
    if d.exists():
        for p in d.glob("*.pt"):
            stem = p.stem
            for prefix, final in (("final", True), ("step", False)):
                if stem.startswith(prefix) and stem[len(prefix) :].isdigit():
                    out.append((int(stem[len(prefix) :]), final, p))
    return sorted(out, key=lambda r: (r[0], r[1]))


def _snap_path(key: str, step: int):
    return cache.cache_dir() / "train_snap" / key / f"step{step:08d}.pt"


def _cpu_state(module: nn.Module) -> dict[str, torch.Tensor]:
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


def _oracle_targets(oracle, x_t, t, y, num_classes: int) -> torch.Tensor:
    """u*(x_t, t | y) for labelled rows, u*(x_t, t) for null-class rows (Theorem 2.1)."""
    if y is None or oracle.classes is None:
        return oracle.velocity(x_t, t)
    out = torch.empty_like(x_t)
    null = y == num_classes
    if (~null).any():
        out[~null] = oracle.velocity(x_t[~null], t[~null], y[~null]).to(x_t.dtype)
    if null.any():
        out[null] = oracle.velocity(x_t[null], t[null]).to(x_t.dtype)
    return out


def _bin_losses(per_sample: torch.Tensor, t: torch.Tensor, n_bins: int):
    """Per-bin mean of per-sample losses over equal-width t bins: (mean list, count list)."""
    idx = (t * n_bins).long().clamp_(0, n_bins - 1).cpu()
    v = per_sample.detach().double().cpu()
    cnt = torch.bincount(idx, minlength=n_bins)
    tot = torch.zeros(n_bins, dtype=torch.float64).index_add_(0, idx, v)
    mean = torch.where(cnt > 0, tot / cnt.clamp_min(1), torch.full_like(tot, math.nan))
    return mean.tolist(), cnt.tolist()


def _build_oracle(data, device):
    from flowstage_lib.oracle import OracleVelocity

    return OracleVelocity(data.x, labels=data.y, device=device)


def _empty_history(cfg: TrainConfig) -> dict[str, Any]:
    edges = [i / cfg.n_t_bins for i in range(cfg.n_t_bins + 1)]
    keys = ("step", "loss", "seconds", "bin_count", "bin_loss_cfm", "bin_loss_oracle")
    return {"t_edges": edges, **{k: [] for k in keys}}


# --------------------------------------------------------------------------------------
# training
# --------------------------------------------------------------------------------------


_NO_CHECKPOINT = "training goes on without checkpoints (an interrupted run restarts from scratch)"


def _fresh(spec: ModelSpec, cfg: TrainConfig, device: torch.device):
    """(model, ema, optimizer, generator) at step 0 of the run (seeded by ``cfg.seed``)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        model = build_model(spec)
    model = model.to(device).train()
    ema = copy.deepcopy(model).requires_grad_(False).eval()
    opt = torch.optim.AdamW(
        model.parameters(), lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay
    )
    gen = torch.Generator().manual_seed(cfg.seed)  # every draw of the run (CPU, portable)
    return model, ema, opt, gen


def _discard_checkpoint(path, err: Exception) -> None:
    """Warn that a checkpoint cannot be used (naming it and why) and remove it."""
    reason = str(err).splitlines()[0] if str(err) else type(err).__name__
    warnings.warn(
        f"train: checkpoint {path} is corrupt or unreadable ({type(err).__name__}: {reason}); "
        "removing it and retraining from the previous checkpoint (or from scratch)",
        RuntimeWarning,
        stacklevel=3,
    )
    try:
        path.unlink(missing_ok=True)
    except OSError:
        pass


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
    device = _resolve_device(cfg)
    shape = tuple(data.x.shape[1:])
    if tuple(spec.input_shape) != shape:
        raise ValueError(f"spec.input_shape {spec.input_shape} != data shape {shape}")
    use_cache = cfg.checkpoint_every > 0 and os.environ.get("FLOWSTAGE_NO_CACHE") != "1"
    key = run_key(spec, data, cfg) if use_cache else ""
    K = spec.num_classes

    model, ema, opt, gen = _fresh(spec, cfg, device)
    history = _empty_history(cfg)
    snap_steps: list[int] = []
    step, seconds, acc_loss, acc_n = 0, 0.0, 0.0, 0

    if use_cache:
        found = [r for r in _list_ckpts(key) if r[0] <= cfg.steps]
        for _s, _final, path in reversed(found):
            try:
                ck = cache.load(path)
                model.load_state_dict(ck["model"])
                ema.load_state_dict(ck["ema"])
                opt.load_state_dict(ck["opt"])
                gen.set_state(ck["gen"])
                history, snap_steps = ck["history"], list(ck["snap_steps"])
                step, seconds = int(ck["step"]), float(ck["seconds"])
                acc_loss, acc_n = float(ck["acc_loss"]), int(ck["acc_n"])
                break
            except Exception as err:  # noqa: BLE001 -- any unreadable checkpoint is corrupt
                _discard_checkpoint(path, err)
                model, ema, opt, gen = _fresh(spec, cfg, device)  # no half-loaded state
                history, snap_steps = _empty_history(cfg), []
                step, seconds, acc_loss, acc_n = 0, 0.0, 0.0, 0

    can_save = [use_cache]  # False once the cache refused a write: training goes on

    def checkpoint(final: bool) -> None:
        if not can_save[0]:
            return
        name = f"{'final' if final else 'step'}{step:08d}.pt"
        can_save[0] = cache.try_save(
            {
                "step": step,
                "model": _cpu_state(model),
                "ema": _cpu_state(ema),
                "opt": opt.state_dict(),
                "gen": gen.get_state(),
                "history": history,
                "snap_steps": snap_steps,
                "seconds": elapsed(),
                "acc_loss": acc_loss,
                "acc_n": acc_n,
                "spec": spec.to_dict(),
                "cfg": asdict(cfg),
            },
            _ckpt_dir(key) / name,
            consequence=_NO_CHECKPOINT,
        )
        for s, fin, path in _list_ckpts(key):  # keep the newest periodic one + all finals
            if not fin and s < step:
                path.unlink(missing_ok=True)

    oracle = None
    need_oracle = cfg.target == "oracle" or cfg.log_oracle
    x_all = data.x.to(device)  # (N, *shape)
    y_all = data.y.to(device) if K > 0 else None  # (N,)
    N, B = x_all.shape[0], cfg.batch_size
    amp = cfg.amp and device.type == "cuda"
    bar = tqdm(
        total=cfg.steps, initial=step, disable=not progress, desc=f"train {spec.family}-{spec.size}"
    )
    new_snaps: dict[int, dict[str, torch.Tensor]] = {}  # snapshots taken in this segment
    t_start = time.perf_counter()

    def elapsed() -> float:  # training seconds over all segments
        return seconds + time.perf_counter() - t_start

    while step < cfg.steps:
        # ---- one batch: every draw from the run's generator (on CPU: resumable, portable)
        idx = torch.randint(0, N, (B,), generator=gen)
        x0 = torch.randn((B, *shape), generator=gen).to(device)  # (B, *shape)
        t = torch.rand((B,), generator=gen).to(device)  # (B,) U[0, 1)
        drop = (torch.rand((B,), generator=gen) < cfg.label_drop).to(device)  # (B,)
        x1 = x_all[idx.to(device)]  # (B, *shape)
        y = None
        if y_all is not None:
            y = torch.where(drop, torch.full_like(drop, K, dtype=torch.long), y_all[idx.to(device)])
        tb = t.view(B, *([1] * len(shape)))
        x_t = tb * x1 + (1 - tb) * x0  # rectified flow, (B, *shape)
        u_cfm = x1 - x0  # (B, *shape)
        log_now = (step + 1) % cfg.log_every == 0 or step + 1 == cfg.steps
        u_orc = None
        if need_oracle and (cfg.target == "oracle" or log_now):
            if oracle is None:
                oracle = _build_oracle(data, device)
            with torch.no_grad():
                u_orc = _oracle_targets(oracle, x_t, t, y, K)
        target = u_orc if cfg.target == "oracle" else u_cfm

        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            pred = model(x_t, t, y)  # (B, *shape)
        pred = pred.float()
        loss = F.mse_loss(pred, target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip > 0:
            nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        step += 1
        decay = min(cfg.ema_decay, (1 + step) / (10 + step)) if cfg.ema_warmup else cfg.ema_decay
        ema_update(ema, model, decay)
        acc_loss += float(loss.detach())
        acc_n += 1

        if log_now:
            with torch.no_grad():
                per_cfm = (pred - u_cfm).pow(2).flatten(1).mean(1)  # (B,)
                b_cfm, cnt = _bin_losses(per_cfm, t, cfg.n_t_bins)
                if u_orc is not None:
                    per_orc = (pred - u_orc).pow(2).flatten(1).mean(1)
                    b_orc, _ = _bin_losses(per_orc, t, cfg.n_t_bins)
                else:
                    b_orc = [math.nan] * cfg.n_t_bins
            history["step"].append(step)
            history["loss"].append(acc_loss / max(acc_n, 1))
            history["seconds"].append(elapsed())
            history["bin_count"].append(cnt)
            history["bin_loss_cfm"].append(b_cfm)
            history["bin_loss_oracle"].append(b_orc)
            acc_loss, acc_n = 0.0, 0
            bar.set_postfix(loss=f"{history['loss'][-1]:.4f}")
        if cfg.snapshot_every > 0 and step % cfg.snapshot_every == 0:
            new_snaps[step] = _cpu_state(ema)
            if can_save[0]:
                can_save[0] = cache.try_save(
                    new_snaps[step], _snap_path(key, step), consequence=_NO_CHECKPOINT
                )
            snap_steps.append(step)
        bar.update(1)
        if callback is not None:
            callback(step)
        if use_cache and step % cfg.checkpoint_every == 0 and step < cfg.steps:
            checkpoint(final=False)
    bar.close()
    if can_save[0] and not any(s == step and fin for s, fin, _ in _list_ckpts(key)):
        checkpoint(final=True)

    snapshots = []
    for s in snap_steps:
        if s in new_snaps:
            snapshots.append((s, new_snaps[s]))
        elif use_cache and _snap_path(key, s).exists():
            snapshots.append((s, cache.load(_snap_path(key, s))))
    model.load_state_dict(ema.state_dict())
    model.eval().requires_grad_(False)
    return TrainResult(
        model=model,
        ema_state=_cpu_state(ema),
        history=history,
        snapshots=snapshots,
        seconds=elapsed(),
        spec=spec,
        cfg=cfg,
        key=key,
    )


def load_or_train(spec: ModelSpec, data, cfg: TrainConfig, progress: bool = True) -> TrainResult:
    """The cached entry point: load the finished run of (spec, data, cfg) from the cache, or
    train it -- continuing the longest shorter run of the same key, or resuming an
    interrupted one. ``cfg.checkpoint_every = 0`` is replaced by ``max(steps // 4, 1)``."""
    if cfg.checkpoint_every <= 0:
        cfg = replace(cfg, checkpoint_every=max(cfg.steps // 4, 1))
    return train(spec, data, cfg, progress=progress)


# --------------------------------------------------------------------------------------
# evaluation on a fixed t grid (Fig. 7a / 7b / 9)
# --------------------------------------------------------------------------------------


class LossCurve(NamedTuple):
    """MSE of a model per t (Fig. 7a / 7b / 9): ``t`` (T,), ``oracle`` (T,) against
    u*(x_t, t | y), ``cfm`` (T,) against x1 - x0; numpy-free float64 tensors."""

    t: torch.Tensor
    oracle: torch.Tensor
    cfm: torch.Tensor


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

    Returns:
        LossCurve(t, oracle, cfm), each (T,) float64.
    """
    device = next(model.parameters()).device
    was = model.training
    model.eval()
    if oracle is None:
        oracle = _build_oracle(data, device)
    K = getattr(model, "num_classes", 0)
    g = torch.Generator().manual_seed(seed)
    idx = torch.randint(0, data.x.shape[0], (n,), generator=g)
    x1_all = data.x[idx]  # (n, *shape)
    x0_all = torch.randn(x1_all.shape, generator=g)
    y_all = data.y[idx] if (conditional and K > 0) else None
    ts = torch.as_tensor(list(t_grid), dtype=torch.float64)
    mse_o = torch.zeros(len(ts), dtype=torch.float64)
    mse_c = torch.zeros(len(ts), dtype=torch.float64)
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
            mse_o[j] += (v - u).pow(2).flatten(1).mean(1).double().sum().cpu()
            mse_c[j] += (v - (x1 - x0)).pow(2).flatten(1).mean(1).double().sum().cpu()
    model.train(was)
    return LossCurve(ts, mse_o / n, mse_c / n)
