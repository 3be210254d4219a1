"""Preconditioning for the calibrated setting (issue 14, item 2): a network trained on data
scaled by k sees unit-scale inputs and predicts a unit-scale output.

Why a data scale. For rectified flow, scaling the data by k is a change of clock
(:mod:`flowstage_lib.analyze.calibrate`): with x_t = t k x1 + (1 - t) x0 and
tau = timestep_shift(t, k), x_t = (1 + (k - 1) t) x_tau, so the transition of the data k x1
sits at the time t whose shift is the transition of x1. Training on k x1 with uniform t puts
the paper's share of training time into navigation; but then the network's input x_t and its
target k x1 - x0 are k times larger near t = 1, which changes how well it trains. The
preconditioner removes that (EDM-style input / output scaling, Karras et al. 2022, for the
rectified-flow path).

Derivation. Let r^2 = E ||x1||^2 / D be the mean square per coordinate of the *unscaled* data
(``sigma_data``: the root mean square per coordinate; it equals the per-coordinate std for
centred data, and is what second moments need when the data are not centred, as MNIST's
[-1, 1] pixels with mean ~ -0.7 are not). x0 ~ N(0, I) is independent of x1 with mean 0, so the
cross terms vanish and, per coordinate on average,

    E x_t^2       = (t k r)^2 + (1 - t)^2 =: s(t)^2,
    E (k x1 - x0)^2 = (k r)^2 + 1          =: c_out^2   (the target's mean square; all t).

The preconditioned velocity is

    v(x, t, y) = c_out * F(x / s(t), t, y),

with F the plain network (:func:`flowstage_lib.models.build_model` without preconditioning).
Its input has unit mean square at every t (s(0) = 1: pure noise is passed as is;
s(t -> 1) = k r: the data enter as x1 / r), and F's regression target (k x1 - x0) / c_out has
unit mean square. The loss: MSE(v, k x1 - x0) = c_out^2 MSE(F, (k x1 - x0) / c_out). AdamW
does not see a constant factor, but the trainer's gradient clipping (norm 1.0, Table 4) does:
without a weight every step of a k = 4.25 MNIST run is clipped (its gradients are ~18x those
of the unit-scale loss; ``benchmarks/bench_precondition.py``). So the module carries EDM's loss
weight lambda = 1 / c_out^2 (``loss_weight``), which the trainer multiplies into the MSE: the
optimized loss is the unit-scale MSE of F, the same problem as the native one. (The logged
``loss`` is that weighted loss; the per-t bin losses stay in velocity units.) Cost: two
elementwise products per call.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["Preconditioned", "data_rms", "input_scale", "output_scale"]


def _positive(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    if not (math.isfinite(float(value)) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value}")
    return float(value)


def data_rms(x: torch.Tensor, digits: int = 6) -> float:
    """sigma_data = sqrt(mean(x^2)) over all entries of the *unscaled* data x (N, *shape),
    computed in float64 and rounded to ``digits`` significant digits (a stable cache key)."""
    if not isinstance(x, torch.Tensor) or x.numel() == 0:
        raise ValueError(f"x must be a non-empty tensor, got {type(x).__name__}")
    r = float(x.detach().double().pow(2).mean().sqrt())
    if not (math.isfinite(r) and r > 0):
        raise ValueError(f"the data's root mean square must be finite and > 0, got {r}")
    return float(f"{r:.{digits}g}")


def input_scale(t: torch.Tensor, data_scale: float, sigma_data: float) -> torch.Tensor:
    """s(t) = sqrt((t k sigma_d)^2 + (1 - t)^2), the RMS of x_t on data k x1 (t any shape)."""
    ks = _positive(data_scale, "data_scale") * _positive(sigma_data, "sigma_data")
    return torch.sqrt((t * ks) ** 2 + (1 - t) ** 2)


def output_scale(data_scale: float, sigma_data: float) -> float:
    """c_out = sqrt((k sigma_d)^2 + 1), the RMS of the target k x1 - x0."""
    ks = _positive(data_scale, "data_scale") * _positive(sigma_data, "sigma_data")
    return math.sqrt(ks * ks + 1.0)


class Preconditioned(nn.Module):
    """v(x, t, y) = c_out * net(x / s(t), t, y) (see the module docstring for s, c_out).

    Same call signature and attributes (``input_shape``, ``num_classes``) as the wrapped
    network; its weights are ``net.*`` in the state dict. No buffers: the scales are numbers.
    ``loss_weight`` = 1 / c_out^2 is the trainer's weight of the MSE (module docstring).

    Args:
        net: a flow network ``net(x (B, *shape), t (B,), y) -> (B, *shape)``.
        data_scale: k, the factor the training data were multiplied by.
        sigma_data: root mean square per coordinate of the unscaled data (:func:`data_rms`).
    """

    def __init__(self, net: nn.Module, data_scale: float, sigma_data: float):
        super().__init__()
        self.net = net
        self.data_scale = _positive(data_scale, "data_scale")
        self.sigma_data = _positive(sigma_data, "sigma_data")
        self.c_out = output_scale(self.data_scale, self.sigma_data)
        self.loss_weight = 1.0 / self.c_out**2  # EDM's lambda: the unit-scale MSE of net
        self.input_shape = tuple(getattr(net, "input_shape", ()))
        self.num_classes = getattr(net, "num_classes", 0)

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None):
        B = x.shape[0]
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device).expand(B)  # (B,)
        s = input_scale(t, self.data_scale, self.sigma_data)  # (B,)
        x_in = x / s.view(B, *([1] * (x.ndim - 1)))  # (B, *shape), unit RMS
        return self.c_out * self.net(x_in, t, y)

    def identity_params(self) -> dict[str, float]:
        """The numbers besides the weights that change the output (read by
        :func:`flowstage_lib.models.spec.module_fingerprint`: the same weights wrapped with
        another k are another model)."""
        return {"data_scale": self.data_scale, "sigma_data": self.sigma_data}

    def extra_repr(self) -> str:
        return f"data_scale={self.data_scale:g}, sigma_data={self.sigma_data:g}"
