"""Training of the judges on the mnist5k training split, with augmentation, cached.

A judge is trained on ``load_dataset("mnist5k", "train")`` only; no flow model and no
autoencoder uses it (they train on their own). Training is AdamW with a one-cycle learning
rate and label smoothing 0.05; every batch goes through :func:`augment_batch`. The result is
cached (:func:`flowstage_lib.tooling.cache.cached`, atomic, checksummed) under a key holding the
architecture, width, steps, seed, batch size, learning rate, augmentation, the data's
fingerprint and the source of this subpackage.

Example::

    net, report = get_judge_network(JudgeConfig("vgg", steps=JUDGE_STEPS["cpu"]))
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace

import torch
import torch.nn as nn
import torch.nn.functional as F

from flowstage_lib.data import ImageData, default_device, heldout_for, load_dataset
from flowstage_lib.metrics import class_accuracy
from flowstage_lib.metrics.judge.augment import AugmentConfig, augment_batch
from flowstage_lib.metrics.judge.networks import build_network
from flowstage_lib.tooling import cache
from flowstage_lib.tooling.book import ProfileSetting
from flowstage_lib.tooling.devices import key_device
from flowstage_lib.tooling.progress import tqdm

__all__ = ["JUDGE_STEPS", "JudgeConfig", "TrainReport", "train_judge", "get_judge_network"]

#: Optimisation steps per profile (smoke: seconds and a poor judge; cpu/gpu: see the report).
JUDGE_STEPS = ProfileSetting("judge_steps")  # ``judge_steps`` in profiles/<profile>.yml


@dataclass(frozen=True)
class JudgeConfig:
    """Everything that decides a trained judge (all of it is in the cache key).

    Attributes:
        arch: ``"vgg"`` (judge A) or ``"pool"`` (judge B).
        width: base channel width w.
        steps: optimisation steps.
        seed: initialisation, batch order and augmentation draws.
        batch_size, lr, weight_decay, label_smoothing: optimiser settings.
        augment: augmentation (None: no augmentation).
        data: name of the training source (its ``"train"`` split is used).
    """

    arch: str = "vgg"
    width: int = 16
    steps: int = 3000
    seed: int = 0
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 1e-4
    label_smoothing: float = 0.05
    augment: AugmentConfig | None = field(default_factory=AugmentConfig)
    data: str = "mnist5k"

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1:
            raise ValueError(
                f"steps and batch_size must be >= 1, got {self.steps}, {self.batch_size}"
            )
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")


@dataclass
class TrainReport:
    """How a judge was trained and how well it fits.

    Attributes:
        arch: architecture name.
        steps: optimisation steps.
        seconds: training wall-clock time of the run that filled the cache.
        cpu_seconds: CPU time of this process during training (the wall time on a shared
            machine says more about the other tenants than about the judge).
        train_accuracy: accuracy on the (clean) training images.
        heldout_accuracy: accuracy on the source's held-out split (NaN if none).
        heldout_name: which images ``heldout_accuracy`` was measured on.
        parameters: number of trainable parameters.
        device: where it was trained.
    """

    arch: str
    steps: int
    seconds: float
    cpu_seconds: float
    train_accuracy: float
    heldout_accuracy: float
    heldout_name: str
    parameters: int
    device: str


def _make(config: JudgeConfig, data: ImageData) -> nn.Module:
    C, H, W = data.shape
    return build_network(config.arch, C, data.num_classes, config.width, (H, W))


def train_judge(
    data: ImageData, config: JudgeConfig, progress: bool = True, device=None
) -> tuple[nn.Module, float, float]:
    """Train a judge on ``data`` (uncached). Returns (network in eval mode, wall s, CPU s)."""
    if data.kind != "pixels":
        raise ValueError(f"judges train on pixel images, got data.kind={data.kind!r}")
    device = torch.device(device) if device is not None else default_device()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        net = _make(config, data).to(device)
    opt = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=config.lr, total_steps=config.steps)
    g = torch.Generator().manual_seed(config.seed)
    t0, c0 = time.perf_counter(), time.process_time()
    net.train()
    bar = tqdm(range(config.steps), desc=f"judge {config.arch}", disable=not progress)
    # dropout draws from the global generator: seeded here, so the weights do not depend on
    # what the process ran before (judge B trained alone or after judge A: the same network)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed + 1)
        for _ in bar:
            idx = torch.randint(0, data.N, (config.batch_size,), generator=g)
            x, y = data.x[idx], data.y[idx]  # (B, C, H, W), (B,)
            if config.augment is not None:
                x = augment_batch(x, g, config.augment)
            loss = F.cross_entropy(
                net(x.to(device)), y.to(device), label_smoothing=config.label_smoothing
            )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    return net.eval(), time.perf_counter() - t0, time.process_time() - c0


def get_judge_network(
    config: JudgeConfig, data: ImageData | None = None, progress: bool = True
) -> tuple[nn.Module, TrainReport]:
    """The judge network for ``config``, trained once and cached.

    Args:
        config: architecture, steps, seed, augmentation, ...
        data: training images (default: ``load_dataset(config.data, "train")``).
        progress: tqdm bar while training.

    Returns:
        (network in eval mode on the default device, TrainReport).
    """
    if not isinstance(config, JudgeConfig):
        raise TypeError(f"config must be a JudgeConfig, got {type(config).__name__}")
    data = load_dataset(config.data, "train") if data is None else data
    heldout = heldout_for(data)
    device = default_device()
    params = {
        "config": asdict(config),
        "data": cache.tensor_fingerprint(data.x),
        "labels": cache.tensor_fingerprint(data.y),
        "data_name": data.name,
        "heldout": cache.tensor_fingerprint(heldout.x) if heldout is not None else None,
        "device": key_device(),  # the profile's device, not this machine's (results travel)
    }

    def compute() -> dict:
        net, seconds, cpu_seconds = train_judge(data, config, progress, device)
        report = TrainReport(
            arch=config.arch,
            steps=config.steps,
            seconds=seconds,
            cpu_seconds=cpu_seconds,
            train_accuracy=class_accuracy(net, data.x, data.y),
            heldout_accuracy=(
                class_accuracy(net, heldout.x, heldout.y) if heldout is not None else float("nan")
            ),
            heldout_name=heldout.name if heldout is not None else "",
            parameters=sum(p.numel() for p in net.parameters()),
            device=device.type,
        )
        state = {k: v.cpu() for k, v in net.state_dict().items()}
        return {"state_dict": state, "report": asdict(report)}

    blob = cache.cached("judge", params, compute)
    net = _make(config, data)
    net.load_state_dict(blob["state_dict"])
    return net.to(device).eval(), TrainReport(**blob["report"])


def with_steps(config: JudgeConfig, steps: int) -> JudgeConfig:
    """``config`` with ``steps`` replaced (profiles differ only in steps)."""
    return replace(config, steps=int(steps))
