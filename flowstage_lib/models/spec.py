"""A model's hashable description (:class:`ModelSpec`) and what every caller needs around a
network: :func:`build_model`, :func:`count_params`, :func:`eval_mode`, the one state-dict
fingerprint (:func:`module_fingerprint`) and the one :func:`default_device`."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from flowstage_lib.models.dit import DIT_SIZES, DiT
from flowstage_lib.models.mlp import MLP_SIZES, TINY_SIZES, MLPFlow, TinyMLP
from flowstage_lib.models.precondition import Preconditioned
from flowstage_lib.tooling import cache
from flowstage_lib.tooling.devices import cpu_bf16, run_device

__all__ = [
    "ModelSpec",
    "build_model",
    "count_params",
    "default_device",
    "eval_mode",
    "bf16_autocast",
    "cpu_bf16",
    "module_fingerprint",
]


def default_device() -> torch.device:
    """Where the library runs: ``$FLOWSTAGE_DEVICE`` when set (``--device``), else CUDA when
    available, else CPU (everything in the library runs on CPU). Cache keys hold
    :func:`~flowstage_lib.tooling.devices.key_device` instead, the profile's device."""
    return run_device()


def bf16_autocast(device: torch.device | str, enabled: bool = True) -> AbstractContextManager:
    """bf16 autocast for a network's forward on CUDA, and on a CPU with native bf16
    (:func:`cpu_bf16`); elsewhere nothing: the forward stays fp32, exactly as without it.
    Wrap only networks, never the oracle (its logits need fp32 / fp64: Theorem 2.1's softmax
    loses precision as t -> 1)."""
    device = torch.device(device)
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    if enabled and device.type == "cpu" and cpu_bf16():
        return torch.autocast("cpu", dtype=torch.bfloat16)
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
    of a network's weights in cache keys. A submodule whose output also depends on plain
    numbers (e.g. :class:`~flowstage_lib.models.precondition.Preconditioned`'s k) declares them
    in ``identity_params()``, and they are hashed with its name; a network without such
    submodules keeps the fingerprint of its state dict alone."""
    if not isinstance(module, nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    h = hashlib.sha256()
    for name, v in sorted(module.state_dict().items()):
        h.update(name.encode())
        h.update(cache.tensor_fingerprint(v.reshape(-1)).encode())
    for name, sub in module.named_modules():
        if callable(getattr(sub, "identity_params", None)):
            h.update(f"{name}:{sorted(sub.identity_params().items())!r}".encode())
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
        data_scale: k, the factor the training data are multiplied by (the calibrated setting
            of issue 14: samples live in k-space and are divided by k before scoring).
        sigma_data: root mean square per coordinate of the unscaled data; > 0 wraps the
            network in :class:`~flowstage_lib.models.precondition.Preconditioned` (unit-scale
            input and output), 0 = no preconditioning. At the defaults (k = 1, 0) the spec,
            its dict and so every cache key are those of a spec without these fields.
    """

    family: str = "mlp"  # "dit" | "mlp" | "tiny"
    size: str = "B"  # "S" | "B" | "L"
    input_shape: tuple[int, ...] = (1, 28, 28)
    num_classes: int = 10  # 0 = unconditional
    overrides: dict = field(default_factory=dict)  # e.g. {"width": 256}
    data_scale: float = 1.0  # k: trained on k * x1 (issue 14)
    sigma_data: float = 0.0  # > 0: preconditioned (models/precondition.py); 0 = plain

    def __post_init__(self):
        if self.family not in _FAMILIES:
            raise ValueError(f"unknown family {self.family!r}; one of {sorted(_FAMILIES)}")
        if self.size not in _FAMILIES[self.family][1]:
            raise ValueError(f"unknown {self.family} size {self.size!r}")
        object.__setattr__(self, "input_shape", tuple(int(s) for s in self.input_shape))
        for name in ("data_scale", "sigma_data"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise TypeError(f"ModelSpec.{name} must be a real number, got {v!r}")
            object.__setattr__(self, name, float(v))
        if not (math.isfinite(self.data_scale) and self.data_scale > 0):
            raise ValueError(f"ModelSpec.data_scale must be finite and > 0, got {self.data_scale}")
        if not (math.isfinite(self.sigma_data) and self.sigma_data >= 0):
            raise ValueError(f"ModelSpec.sigma_data must be finite and >= 0, got {self.sigma_data}")

    def kwargs(self) -> dict[str, Any]:
        """The constructor keyword arguments: the ladder entry updated by ``overrides``."""
        return {**_FAMILIES[self.family][1][self.size], **self.overrides}

    def to_dict(self) -> dict[str, Any]:
        """The spec as plain data (the cache keys' view): ``data_scale`` / ``sigma_data`` appear
        only when they differ from 1 / 0, so a native spec keys exactly as before them."""
        d = asdict(self)
        d["input_shape"] = list(self.input_shape)
        if d["data_scale"] == 1.0:
            del d["data_scale"]
        if d["sigma_data"] == 0.0:
            del d["sigma_data"]
        return d


def build_model(spec: ModelSpec) -> nn.Module:
    """Build the network of ``spec`` (on CPU, float32, train mode); preconditioned
    (:class:`~flowstage_lib.models.precondition.Preconditioned`) when ``spec.sigma_data > 0``."""
    cls, _ = _FAMILIES[spec.family]
    net = cls(spec.input_shape, num_classes=spec.num_classes, **spec.kwargs())
    if spec.sigma_data > 0:
        return Preconditioned(net, spec.data_scale, spec.sigma_data)
    return net


def count_params(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (only those with requires_grad when ``trainable_only``)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
