"""A user's own latents / images from ``.npz`` / ``.npy`` files, with their checks."""

from __future__ import annotations

import os
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from flowstage_lib.data.images import ImageData, _check_finite

__all__ = ["load_arrays"]

_F32_MAX = float(np.finfo(np.float32).max)


def _np_read(path: Path, what: str, fn: Callable):
    """Run a numpy read; a truncated / damaged / non-NumPy file names ``path``."""
    try:
        return fn()
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
        raise ValueError(
            f"load_arrays: cannot read {what} from {path} ({type(err).__name__}: {err}); "
            "the file is truncated, damaged or not a NumPy .npy/.npz file"
        ) from err


def _check_user_x(x_np: np.ndarray, path: Path) -> None:
    """Real, at least 1-D, finite and within float32's range (x is stored as float32)."""
    if x_np.ndim == 0:
        raise ValueError(f"load_arrays: array x in {path} is 0-d (a single value); expected rows")
    if x_np.dtype.kind not in "fiub":
        kind = "complex" if x_np.dtype.kind == "c" else "not numeric"
        raise TypeError(
            f"load_arrays: array x in {path} is {kind} ({x_np.dtype}); x must be real numbers"
        )
    _check_finite(x_np, f"{path.name} array x")
    if x_np.dtype.kind == "f" and x_np.dtype.itemsize > 4:
        for i in range(0, len(x_np), 4096):
            top = float(np.abs(np.asarray(x_np[i : i + 4096])).max(initial=0.0))
            if top > _F32_MAX:
                raise ValueError(
                    f"load_arrays: array x in {path} holds values up to {top:.3g} (rows "
                    f"{i}..{min(i + 4096, len(x_np)) - 1}), beyond float32 (max "
                    f"{_F32_MAX:.3g}) in which it is stored; rescale the data"
                )


def _read_user_arrays(path: Path, x_key: str, y_key: str, labels_path) -> tuple:
    """(x, y) numpy arrays of :func:`load_arrays`' file (x memory-mapped for .npy)."""
    if path.suffix == ".npz":
        with open(path, "rb") as fh, _np_read(path, "the archive", lambda: np.load(fh)) as z:
            for k in (x_key, y_key):
                if k not in z.files:
                    raise ValueError(f"{path}: no array {k!r} (has {z.files}); set x_key / y_key")
            x_np = _np_read(path, f"array {x_key!r}", lambda: z[x_key])
            y_np = _np_read(path, f"array {y_key!r}", lambda: z[y_key])
    elif path.suffix == ".npy":
        x_np = _np_read(path, "array x", lambda: np.load(path, mmap_mode="c"))
        if labels_path is None:
            stem = path.name[: -len(".npy")]
            cands = [path.with_name(f"{stem}_labels.npy"), path.with_name(f"{stem}.labels.npy")]
            cands.append(path.with_name("labels.npy"))
            found = [c for c in cands if c.exists()]
            if not found:
                raise FileNotFoundError(
                    f"load_arrays: no labels beside {path}; looked for "
                    f"{', '.join(c.name for c in cands)}; pass labels_path="
                )
            labels_path = found[0]
        y_np = _np_read(Path(labels_path), "the labels", lambda: np.load(labels_path))
    else:
        raise ValueError(f"load_arrays: {path} must be .npz or .npy")
    return x_np, y_np


def load_arrays(
    path: str | os.PathLike,
    x_key: str = "x",
    y_key: str = "y",
    shape: tuple[int, int, int] | None = None,
    labels_path: str | os.PathLike | None = None,
    num_classes: int | None = None,
    kind: str = "latent",
    name: str | None = None,
) -> ImageData:
    """Load a user's own latents / images (e.g. VAE latents of a larger data set).

    Accepted files:

    - ``.npz`` holding arrays ``x_key`` and ``y_key``;
    - ``.npy`` of x with labels in ``labels_path`` or a sibling ``<stem>_labels.npy`` /
      ``<stem>.labels.npy`` / ``labels.npy``. ``.npy`` files are memory-mapped
      (``np.load(mmap_mode="c")``: float32 data stays on disk until touched).

    Args:
        path: the .npz / .npy file.
        x_key, y_key: array names inside an .npz.
        shape: (C, H, W) to reshape flat (N, D) arrays to; default (D, 1, 1) for 2-D arrays,
            (1, H, W) for 3-D arrays, 4-D arrays are kept.
        labels_path: explicit labels .npy file.
        num_classes: default ``max(y) + 1``.
        kind: ImageData kind (``"latent"`` by default).
        name: default ``"<file stem>/all"``.

    Raises:
        FileNotFoundError: the file or its labels are missing.
        ValueError: NaN / inf in x or values beyond float32, a 0-d x, a truncated or damaged
            file, labels length mismatch, labels far beyond the number of rows (pass
            ``num_classes``), bad shapes or keys.
        TypeError: complex or non-numeric x.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"load_arrays: {path} does not exist (check the path parameter)")
    x_np, y_np = _read_user_arrays(path, x_key, y_key, labels_path)
    if y_np.ndim != 1 or y_np.dtype.kind not in "iu":
        raise ValueError(f"labels array y must be 1-D integers, got {y_np.dtype} {y_np.shape}")
    _check_user_x(x_np, path)
    if len(y_np) != len(x_np):
        raise ValueError(
            f"labels length mismatch: x has {len(x_np)} rows and y has {len(y_np)} labels"
        )

    n = len(x_np)
    if shape is not None:
        if int(np.prod(shape)) != int(np.prod(x_np.shape[1:])):
            raise ValueError(f"shape {tuple(shape)} does not fit items of shape {x_np.shape[1:]}")
        target = (n, *shape)
    elif x_np.ndim == 2:
        target = (n, x_np.shape[1], 1, 1)
    elif x_np.ndim == 3:
        target = (n, 1, *x_np.shape[1:])
    elif x_np.ndim == 4:
        target = x_np.shape
    else:
        raise ValueError(f"array x must be 2-, 3- or 4-D, got shape {x_np.shape}")

    if x_np.dtype == np.float32 and isinstance(x_np, np.memmap):
        x = torch.from_numpy(x_np).reshape(target)  # stays memory-mapped (copy-on-write)
    else:
        x = torch.from_numpy(np.ascontiguousarray(x_np, dtype=np.float32)).reshape(target)
    y = torch.from_numpy(np.asarray(y_np).astype(np.int64))
    if len(y) and y.min() < 0:
        raise ValueError(f"labels must be >= 0, got min {int(y.min())}")
    k = num_classes if num_classes is not None else (int(y.max()) + 1 if len(y) else 1)
    if num_classes is None and k > max(n, 1000):
        raise ValueError(
            f"load_arrays: the labels of {path} go up to {k - 1} for {n} rows "
            f"({len(torch.unique(y))} distinct): that would make {k} classes; relabel them "
            "to 0..K-1 or pass num_classes="
        )
    return ImageData(x=x, y=y, name=name or f"{path.stem}/all", num_classes=k, kind=kind)
