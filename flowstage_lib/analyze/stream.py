"""Data larger than memory: row sources over arrays, memory-mapped .npy files and shard folders,
and a cached label index so class-conditional work reads only its class's rows.

A `RowSource` never loads a file whole: a .npy file is memory-mapped (``np.load(mmap_mode="r")``)
and read in row blocks; a folder of .npy shards is one logical array (shards in sorted file-name
order, same trailing shape and dtype). A .npz archive cannot be memory-mapped (zip members) and
is read into memory. Every block is converted to float64 and checked for NaN / inf as it is read,
so a bad value is reported with its file and rows.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from flowstage_lib.tooling.cache import cache_dir

__all__ = ["LabelIndex", "RowSource", "label_index", "load_labels", "open_data"]


def _load_array(path: Path, what: str) -> np.ndarray:
    """np.load a .npy (memory-mapped) or .npz (its only / 'x' / 'data' array) file."""
    if not path.exists():
        raise FileNotFoundError(f"{what} file {path} does not exist")
    with open(path, "rb") as f:
        magic = f.read(6)
    if magic != b"\x93NUMPY" and not magic.startswith(b"PK"):
        raise ValueError(f"{what} file {path} is not a .npy/.npz array (no NumPy header)")
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise ValueError(f"{what} file {path} is not a .npy/.npz array ({err})") from None
    if isinstance(arr, np.lib.npyio.NpzFile):
        with arr:
            keys = list(arr.keys())
            key = next((k for k in ("x", "data", "latents") if k in keys), None)
            if key is None and len(keys) == 1:
                key = keys[0]
            if key is None:
                raise ValueError(
                    f"{what} file {path} holds arrays {keys}: name one 'x' or keep only one"
                )
            arr = arr[key]
    if arr.dtype == object or arr.dtype.fields is not None:
        raise ValueError(f"{what} file {path} is not a numeric array (dtype {arr.dtype})")
    return arr


def _file_id(path: Path) -> tuple[str, int, int]:
    st = path.stat()
    return (str(path.resolve()), int(st.st_size), int(st.st_mtime_ns))


class RowSource:
    """An (N, *shape) data set read by rows, from memory, a memory-mapped file or shards.

    Attributes:
        name: what error messages call it (the file or folder).
        n: number of rows N.
        shape: shape of one row, e.g. (4, 32, 32); dim = prod(shape) = D.
        identity: tuple of (path, size, mtime_ns) of the files ((), in memory).
    """

    def __init__(self, parts: list[np.ndarray], name: str, identity: tuple = ()):
        first = parts[0]
        for p, a in enumerate(parts):
            if a.ndim < 2:
                raise ValueError(
                    f"{name}: data must have shape (N, D) or (N, *shape), got {a.shape}"
                )
            if a.shape[1:] != first.shape[1:] or a.dtype != first.dtype:
                raise ValueError(
                    f"{name}: shard {p} has shape {a.shape} / dtype {a.dtype}, the first "
                    f"{first.shape} / {first.dtype}: shards must agree"
                )
            if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
                raise TypeError(f"{name}: data must be real numbers, got dtype {a.dtype}")
        self.parts = parts
        self.name = name
        self.identity = identity
        self.shape = tuple(first.shape[1:])
        self.dim = int(np.prod(self.shape))
        self.offsets = np.cumsum([0] + [a.shape[0] for a in parts])  # (P + 1,)
        self.n = int(self.offsets[-1])
        if self.n == 0 or self.dim == 0:
            raise ValueError(f"{name}: data is empty (shape ({self.n}, {self.shape}))")

    def _checked(self, block: np.ndarray, where: str) -> np.ndarray:
        out = np.asarray(block, dtype=np.float64).reshape(-1, self.dim)
        if not np.isfinite(out).all():
            raise ValueError(f"{self.name}: {where} contain NaN or inf")
        return out

    def read(self, lo: int, hi: int) -> np.ndarray:
        """Rows [lo, hi) as a (hi - lo, D) float64 array."""
        blocks = []
        for p, a in enumerate(self.parts):
            s, e = max(lo, self.offsets[p]), min(hi, self.offsets[p + 1])
            if s < e:
                blocks.append(a[s - self.offsets[p] : e - self.offsets[p]])
        block = np.concatenate(blocks) if len(blocks) > 1 else blocks[0]
        return self._checked(block, f"rows {lo}..{hi - 1}")

    def take(self, index: np.ndarray) -> np.ndarray:
        """Rows ``index`` (sorted ascending reads best from disk) as a (len, D) float64 array."""
        index = np.asarray(index, dtype=np.int64)
        part = np.searchsorted(self.offsets, index, side="right") - 1  # (len,)
        out = np.empty((index.size, self.dim), dtype=np.float64)
        for p in np.unique(part):
            sel = part == p
            rows = self.parts[p][index[sel] - self.offsets[p]]
            out[sel] = rows.reshape(-1, self.dim)
        if not np.isfinite(out).all():
            bad = index[~np.isfinite(out).all(1)][0]
            raise ValueError(f"{self.name}: row {bad} contains NaN or inf")
        return out


def open_data(data) -> RowSource:
    """A `RowSource` for an array, a tensor, a .npy / .npz file or a folder of .npy shards."""
    if isinstance(data, torch.Tensor):
        data = data.detach().cpu().numpy()
    if isinstance(data, np.ndarray):
        return RowSource([data], "data")
    if not isinstance(data, (str, os.PathLike)):
        raise TypeError(f"data must be an array or a path, got {type(data).__name__}")
    path = Path(data)
    if path.is_dir():
        files = sorted(path.glob("*.npy"))
        if not files:
            raise ValueError(f"data folder {path} holds no .npy shards")
        parts = [_load_array(f, "data shard") for f in files]
        return RowSource(parts, str(path), tuple(_file_id(f) for f in files))
    return RowSource([_load_array(path, "data")], str(path), (_file_id(path),))


def load_labels(labels, n: int, name: str = "labels") -> np.ndarray:
    """Integer labels (N,) from an array or a .npy / .npz file, checked against N rows."""
    if isinstance(labels, (str, os.PathLike)):
        name = str(labels)
        labels = _load_array(Path(labels), "labels")
    if isinstance(labels, torch.Tensor):
        labels = labels.detach().cpu().numpy()
    labels = np.asarray(labels)
    if not np.issubdtype(labels.dtype, np.integer):
        if np.issubdtype(labels.dtype, np.floating) and np.all(np.mod(labels, 1) == 0):
            labels = labels.astype(np.int64)
        else:
            raise TypeError(f"{name}: labels must be integers, got dtype {labels.dtype}")
    if labels.ndim != 1 or labels.shape[0] != n:
        raise ValueError(
            f"{name}: labels must have shape (N,) = ({n},) like the data, got {labels.shape}"
        )
    return labels.astype(np.int64, copy=False)


@dataclass
class LabelIndex:
    """Rows of each class: ``rows(c) = order[starts[j]:starts[j + 1]]`` for c = classes[j].

    Attributes:
        classes: (C,) sorted class labels.
        starts: (C + 1,) offsets into order.
        order: (N,) row indices sorted by label (ascending rows within a class).
    """

    classes: np.ndarray
    starts: np.ndarray
    order: np.ndarray

    @classmethod
    def build(cls, labels: np.ndarray) -> LabelIndex:
        order = np.argsort(labels, kind="stable")
        classes, counts = np.unique(labels[order], return_counts=True)
        starts = np.concatenate([[0], np.cumsum(counts)])
        return cls(classes, starts.astype(np.int64), order.astype(np.int64))

    def rows(self, c: int) -> np.ndarray:
        j = np.searchsorted(self.classes, c)
        if j >= self.classes.size or self.classes[j] != c:
            raise ValueError(f"class {c} has no rows in the labels (an empty class)")
        return self.order[self.starts[j] : self.starts[j + 1]]

    def count(self, c: int) -> int:
        return int(self.rows(c).size)


def _index_path(labels_file: Path, n: int) -> Path:
    key = hashlib.sha256(repr((_file_id(labels_file), n, "label-index-1")).encode())
    return cache_dir() / "label_index" / f"{key.hexdigest()[:24]}.npz"


def label_index(labels, n: int) -> tuple[np.ndarray, LabelIndex]:
    """(labels (N,), LabelIndex). From a file, the index is built once and cached (atomic
    write, keyed by the file's path, size and mtime and by N)."""
    arr = load_labels(labels, n)
    if not isinstance(labels, (str, os.PathLike)):
        return arr, LabelIndex.build(arr)
    path = _index_path(Path(labels), n)
    if path.exists():
        try:
            with np.load(path) as z:
                return arr, LabelIndex(z["classes"], z["starts"], z["order"])
        except (OSError, ValueError, KeyError):
            path.unlink(missing_ok=True)  # corrupt: rebuild
    index = LabelIndex.build(arr)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp.npz")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, classes=index.classes, starts=index.starts, order=index.order)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return arr, index
