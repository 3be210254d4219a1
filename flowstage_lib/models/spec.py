"""A model's hashable description (:class:`ModelSpec`) and what every caller needs around a
network: :func:`build_model`, :func:`count_params`, :func:`eval_mode`, the one state-dict
fingerprint (:func:`module_fingerprint`) and the one :func:`default_device`."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from flowstage_lib.models.dit import DIT_SIZES, DiT
from flowstage_lib.models.mlp import MLP_SIZES, TINY_SIZES, MLPFlow, TinyMLP
from flowstage_lib.tooling import cache
from flowstage_lib.tooling.devices import run_device

__all__ = [
    "ModelSpec",
    "build_model",
    "count_params",
    "default_device",
    "eval_mode",
    "bf16_autocast",
    "module_fingerprint",
]


def default_device() -> torch.device:
    """Where the library runs: ``$FLOWSTAGE_DEVICE`` when set (``--device``), else CUDA when
    available, else CPU (everything in the library runs on CPU). Cache keys hold
    :func:`~flowstage_lib.tooling.devices.key_device` instead, the profile's device."""
    return run_device()


def bf16_autocast(device: torch.device | str, enabled: bool = True) -> AbstractContextManager:
    """bf16 autocast for a network's forward on CUDA; on any other device (the CPU) nothing:
    the forward stays fp32, exactly as without it. Wrap only networks, never the oracle
    (its logits need fp32 / fp64: Theorem 2.1's softmax loses precision as t -> 1)."""
    device = torch.device(device)
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return nullcontext()


@contextmanager
def eval_mode(module: nn.Module) -> Iterator[nn.Module]:
    """Put ``module`` in eval mode for the block and restore the caller's train/eval mode of
    every submodule afterwards (also on error)."""
    modes = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        yield module
    finally:
        for m, training in modes:
            m.training = training


def module_fingerprint(module: nn.Module) -> str:
    """SHA-256 (16 hex) of a network's state dict (names, dtypes, shapes, values): the identity
    of a network's weights in cache keys."""
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    h = hashlib.sha256()
    for name, v in sorted(module.state_dict().items()):
        h.update(name.encode())
        h.update(cache.tensor_fingerprint(v.reshape(-1)).encode())
    return h.hexdigest()[:16]


_FAMILIES = {"dit": (DiT, DIT_SIZES), "mlp": (MLPFlow, MLP_SIZES), "tiny": (TinyMLP, TINY_SIZES)}


@dataclass(frozen=True)
class ModelSpec:
    """A model's full description (what :func:`build_model` builds and the cache keys on).

    Attributes:
        family: "dit" | "mlp" | "tiny".
        size: a key of the family's ladder ("S" | "B" | "L").
        input_shape: per-sample shape, e.g. (1, 28, 28).
        num_classes: real classes (0 = unconditional); the null class is ``num_classes``.
        overrides: keyword arguments that replace the ladder's entries (e.g. ``{"depth": 2}``).
    """

    family: str = "mlp"  # "dit" | "mlp" | "tiny"
    size: str = "B"  # "S" | "B" | "L"
    input_shape: tuple[int, ...] = (1, 28, 28)
    num_classes: int = 10  # 0 = unconditional
    overrides: dict = field(default_factory=dict)  # e.g. {"width": 256}

    def __post_init__(self):
        if self.family not in _FAMILIES:
            raise ValueError(f"unknown family {self.family!r}; one of {sorted(_FAMILIES)}")
        if self.size not in _FAMILIES[self.family][1]:
            raise ValueError(f"unknown {self.family} size {self.size!r}")
        object.__setattr__(self, "input_shape", tuple(int(s) for s in self.input_shape))

    def kwargs(self) -> dict[str, Any]:
        """The constructor keyword arguments: the ladder entry updated by ``overrides``."""
        return {**_FAMILIES[self.family][1][self.size], **self.overrides}

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["input_shape"] = list(self.input_shape)
        return d


def build_model(spec: ModelSpec) -> nn.Module:
    """Build the network of ``spec`` (on CPU, float32, train mode)."""
    cls, _ = _FAMILIES[spec.family]
    return cls(spec.input_shape, num_classes=spec.num_classes, **spec.kwargs())


def count_params(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (only those with requires_grad when ``trainable_only``)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
