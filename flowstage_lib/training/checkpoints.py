"""Checkpoints of training runs in the cache: the run key, listing, saving, resuming, and the
EMA snapshots taken along a run (FD over training).

Layout: ``<cache>/train/<key>/step00000500.pt`` (periodic: only the newest is kept) and
``final00002000.pt`` (end of a run: kept, a longer run continues it);
``<cache>/train_snap/<key>/step00000500.pt`` (EMA state dicts). Every write is atomic
(:func:`flowstage_lib.tooling.cache.try_save`).
"""

from __future__ import annotations

import warnings
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from flowstage_lib.models import ModelSpec
from flowstage_lib.tooling import cache
from flowstage_lib.tooling.devices import key_device
from flowstage_lib.training.state import TrainState, cpu_state, fresh_state

if TYPE_CHECKING:
    from flowstage_lib.training.trainer import TrainConfig

__all__ = ["run_key", "list_checkpoints", "save_checkpoint", "resume", "snapshot_path"]

NO_CHECKPOINT = "training goes on without checkpoints (an interrupted run restarts from scratch)"


def run_key(spec: ModelSpec, data, cfg: TrainConfig) -> str:
    """Cache key of a training run: everything that determines its trajectory, *except*
    ``steps`` and ``checkpoint_every`` (so a longer run continues a shorter one). The device
    is ``cfg.device``'s type when set, else the requested one
    (:func:`~flowstage_lib.tooling.devices.key_device`: the profile's, not this machine's)."""
    c = asdict(cfg)
    for k in ("steps", "checkpoint_every", "device"):
        c.pop(k)
    params = {
        "spec": spec.to_dict(),
        "cfg": c,
        "data_x": cache.tensor_fingerprint(data.x),
        "data_y": cache.tensor_fingerprint(data.y),
        "device": torch.device(cfg.device).type if cfg.device is not None else key_device(),
    }
    # keyed on this module's import closure (training, models, paths, data: not experiments)
    return cache.cache_key("train", params)


def _ckpt_dir(key: str) -> Path:
    return cache.cache_dir() / "train" / key


def list_checkpoints(key: str) -> list[tuple[int, bool, Path]]:
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


def snapshot_path(key: str, step: int) -> Path:
    """Where the EMA snapshot of run ``key`` at ``step`` is stored."""
    return cache.cache_dir() / "train_snap" / key / f"step{step:08d}.pt"


def save_checkpoint(
    st: TrainState, key: str, spec: ModelSpec, cfg: TrainConfig, seconds: float, final: bool
) -> bool:
    """Write ``st`` as the periodic (``final=False``) or end-of-run checkpoint, then remove
    the older periodic ones (end-of-run ones are kept). False when the cache refused the
    write (reported once): the caller stops checkpointing."""
    name = f"{'final' if final else 'step'}{st.step:08d}.pt"
    ok = cache.try_save(
        {
            "step": st.step,
            "model": cpu_state(st.model),
            "ema": cpu_state(st.ema),
            "opt": st.opt.state_dict(),
            "gen": st.gen.get_state(),
            "history": st.history,
            "snap_steps": st.snap_steps,
            "seconds": seconds,
            "acc_loss": st.acc_loss,
            "acc_n": st.acc_n,
            "spec": spec.to_dict(),
            "cfg": asdict(cfg),
        },
        _ckpt_dir(key) / name,
        consequence=NO_CHECKPOINT,
    )
    for s, fin, path in list_checkpoints(key):  # keep the newest periodic one + all finals
        if not fin and s < st.step:
            path.unlink(missing_ok=True)
    return ok


def _load_into(st: TrainState, path: Path) -> None:
    """Restore ``st`` in place from the checkpoint at ``path`` (raises if unreadable)."""
    ck = cache.load(path)
    st.model.load_state_dict(ck["model"])
    st.ema.load_state_dict(ck["ema"])
    st.opt.load_state_dict(ck["opt"])
    st.gen.set_state(ck["gen"])
    st.history, st.snap_steps = ck["history"], list(ck["snap_steps"])
    st.step, st.seconds = int(ck["step"]), float(ck["seconds"])
    st.acc_loss, st.acc_n = float(ck["acc_loss"]), int(ck["acc_n"])


def _discard_checkpoint(path: Path, err: Exception) -> None:
    """Warn that a checkpoint cannot be used (naming it and why) and remove it."""
    reason = str(err).splitlines()[0] if str(err) else type(err).__name__
    warnings.warn(
        f"train: checkpoint {path} is corrupt or unreadable ({type(err).__name__}: {reason}); "
        "removing it and retraining from the previous checkpoint (or from scratch)",
        RuntimeWarning,
        stacklevel=5,  # the caller of train (train -> _setup -> resume -> here)
    )
    try:
        path.unlink(missing_ok=True)
    except OSError:
        pass


def resume(key: str, spec: ModelSpec, cfg: TrainConfig, device: torch.device) -> TrainState:
    """The state of the latest readable checkpoint of run ``key`` with step <= ``cfg.steps``,
    or a fresh state. Unreadable checkpoints are reported (warning) and removed."""
    st = fresh_state(spec, cfg, device)
    found = [r for r in list_checkpoints(key) if r[0] <= cfg.steps]
    for _s, _final, path in reversed(found):
        try:
            _load_into(st, path)
            return st
        except Exception as err:  # noqa: BLE001 -- any unreadable checkpoint is corrupt
            _discard_checkpoint(path, err)
            st = fresh_state(spec, cfg, device)  # no half-loaded state
    return st


def load_snapshots(
    key: str, snap_steps: list[int], taken: dict[int, dict[str, torch.Tensor]]
) -> list[tuple[int, dict[str, torch.Tensor]]]:
    """[(step, EMA state dict)] for ``snap_steps``: from ``taken`` (this segment) or the cache
    (earlier segments; skipped when missing or without a key)."""
    out = []
    for s in snap_steps:
        if s in taken:
            out.append((s, taken[s]))
        elif key and snapshot_path(key, s).exists():
            out.append((s, cache.load(snapshot_path(key, s))))
    return out
