"""Input checks of the oracle velocity (Theorem 2.1): the data x1 and labels at construction,
the queries x_t, times t and labels y at each call.

Each check returns the input converted to what the kernel expects (tensors on the oracle's
device, in its compute dtype) or raises a ValueError / TypeError naming the parameter.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from flowstage_lib.path import AffinePath, RectifiedFlowPath

__all__ = [
    "is_int",
    "check_data",
    "check_options",
    "check_labels",
    "check_x",
    "check_t",
    "check_y",
]

_FLOATS = (torch.float32, torch.float64)


def is_int(k) -> bool:
    """True for a Python or numpy integer (not a bool)."""
    return isinstance(k, (int, np.integer)) and not isinstance(k, bool)


def check_data(data) -> torch.Tensor:
    """The training set x1 as a detached (N, *shape) real tensor with N >= 1."""
    if isinstance(data, np.ndarray):
        data = torch.from_numpy(data)
    if not isinstance(data, torch.Tensor):
        raise TypeError(f"data must be a torch tensor or numpy array, got {type(data).__name__}")
    if data.ndim < 1 or data.shape[0] == 0 or data.numel() == 0:
        raise ValueError(
            f"data must be a non-empty (N, *shape) array, got shape {tuple(data.shape)}"
        )
    if data.is_complex() or data.dtype == torch.bool:
        raise TypeError(f"data must be real-valued, got dtype {data.dtype}")
    if data.is_meta:
        raise ValueError("data is a meta tensor (it holds no values); pass real data")
    return data.detach()


def check_options(
    data: torch.Tensor,
    path: AffinePath | None,
    chunk_size: int | None,
    dtype: torch.dtype | None,
    chunk_bytes: int | None,
) -> tuple[AffinePath, torch.dtype]:
    """Check the constructor's options; return (path, compute dtype) with defaults filled in
    (`RectifiedFlowPath()`; the data's dtype if float32/float64, else float32)."""
    if dtype is None:
        dtype = data.dtype if data.dtype in _FLOATS else torch.float32
    if dtype not in _FLOATS:
        raise TypeError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
    if path is None:
        path = RectifiedFlowPath()
    if not isinstance(path, AffinePath):
        raise TypeError(f"path must be an AffinePath, got {type(path).__name__}")
    if chunk_size is not None and (not is_int(chunk_size) or chunk_size < 1):
        raise ValueError(f"chunk_size must be a positive integer or None, got {chunk_size!r}")
    if chunk_bytes is not None and (not is_int(chunk_bytes) or chunk_bytes < 1):
        raise ValueError(f"chunk_bytes must be a positive integer or None, got {chunk_bytes!r}")
    return path, dtype


def check_labels(labels, n: int) -> torch.Tensor:
    """Integer class labels, (N,) int64 on the CPU."""
    if isinstance(labels, np.ndarray):
        labels = torch.from_numpy(labels)
    labels = torch.as_tensor(labels)
    if labels.is_meta:
        raise ValueError("labels is a meta tensor (it holds no values)")
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise TypeError(f"labels must be integers, got dtype {labels.dtype}")
    if labels.ndim != 1 or labels.shape[0] != n:
        raise ValueError(
            f"labels must have shape (N,) = ({n},) like data, got {tuple(labels.shape)}"
        )
    return labels.cpu().long()


def check_x(
    x_t, data_shape: tuple[int, ...], device: torch.device, dtype: torch.dtype
) -> torch.Tensor:
    """Queries x_t, (B, *data_shape), flattened to (B, D) on `device` in `dtype`."""
    if isinstance(x_t, np.ndarray):
        x_t = torch.from_numpy(x_t)
    if not isinstance(x_t, torch.Tensor):
        raise TypeError(f"x_t must be a torch tensor or numpy array, got {type(x_t).__name__}")
    if x_t.is_complex() or x_t.dtype == torch.bool:
        raise TypeError(f"x_t must be real-valued, got dtype {x_t.dtype}")
    if x_t.is_meta:
        raise ValueError("x_t is a meta tensor (it holds no values)")
    x_t = x_t.detach()  # the oracle is not differentiable: its outputs carry no grad
    if x_t.ndim != 1 + len(data_shape) or tuple(x_t.shape[1:]) != data_shape:
        shape = ", ".join(map(str, data_shape))
        raise ValueError(
            f"x_t must have shape (B, *data_shape) = (B, {shape}), got {tuple(x_t.shape)}"
        )
    x = x_t.to(device, dtype).reshape(x_t.shape[0], math.prod(data_shape))  # (B, D)
    if not torch.isfinite(x).all():
        raise ValueError("x_t contains NaN or inf")
    return x


def _check_float_t(t) -> float:
    t = float(t)
    if not math.isfinite(t):
        raise ValueError(f"t must be finite, got {t}")
    if not 0.0 <= t < 1.0:
        raise ValueError(f"t must lie in [0, 1) (t = 1 is singular: sigma_1 = 0), got {t}")
    return t


def check_t(t, b: int, device: torch.device) -> float | torch.Tensor:
    """A float (one time for the batch) or a (B,) float64 tensor on `device`, in [0, 1)."""
    if isinstance(t, bool):
        raise TypeError("t must be a float or a tensor, got bool")
    if isinstance(t, (torch.Tensor, np.ndarray)):
        tt = torch.as_tensor(t).detach()
        if tt.is_meta:
            raise ValueError("t is a meta tensor (it holds no values)")
        if tt.ndim == 0:
            t = tt.item()
        elif tuple(tt.shape) != (b,):
            raise ValueError(f"t must be a float or a (B,) = ({b},) tensor, got {tuple(tt.shape)}")
    elif not isinstance(t, (int, float, np.integer, np.floating)):
        raise TypeError(f"t must be a float or a tensor, got {type(t).__name__}")
    if not isinstance(t, torch.Tensor):
        return _check_float_t(t)
    tt = tt.to(device, torch.float64)
    if not torch.isfinite(tt).all():
        raise ValueError("t must be finite, got NaN or inf")
    bad = (tt < 0) | (tt >= 1)
    if bool(bad.any()):
        raise ValueError(
            f"t must lie in [0, 1) (t = 1 is singular: sigma_1 = 0), got {tt[bad][0].item()}"
        )
    return tt  # (B,) float64


def check_y(y, b: int, classes: dict[int, tuple[int, int]] | None) -> torch.Tensor | None:
    """Labels of the queries: None, or (B,) int64 on the CPU, each a key of `classes`."""
    if y is None:
        return None
    if classes is None:
        raise ValueError("y was given but the oracle was built without labels")
    if is_int(y):
        yy = torch.full((b,), int(y), dtype=torch.long)
    elif isinstance(y, (torch.Tensor, np.ndarray)):
        yy = torch.as_tensor(y)
        if yy.is_meta:
            raise ValueError("y is a meta tensor (it holds no values)")
        if yy.is_floating_point() or yy.is_complex() or yy.dtype == torch.bool:
            raise TypeError(f"y must hold integer labels, got dtype {yy.dtype}")
        yy = yy.cpu().long()
        if yy.ndim == 0:
            yy = yy.expand(b)
        elif tuple(yy.shape) != (b,):
            raise ValueError(f"y must be an int or a (B,) = ({b},) tensor, got {tuple(yy.shape)}")
    else:
        raise TypeError(f"y must be an int or an integer tensor, got {type(y).__name__}")
    for c in torch.unique(yy).tolist():
        if c not in classes:
            raise ValueError(f"y = {c}: no training samples with this label")
    return yy
