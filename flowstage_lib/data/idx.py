"""The idx file format (MNIST / Fashion-MNIST) and the MD5 checks of the MNIST test files."""

from __future__ import annotations

import functools
import gzip
import hashlib
import os
import struct
from pathlib import Path

import numpy as np

__all__ = ["read_idx", "MNIST_TEST_MD5"]

# Canonical MD5s of the MNIST test files (used when no MD5SUMS file lies beside them).
MNIST_TEST_MD5 = {
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an idx file (the MNIST / Fashion-MNIST format), gzipped or not.

    Header: two zero bytes, a type code (0x08 = uint8), the number of dimensions, then one
    big-endian int32 per dimension. Returns a uint8 array of that shape.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f"{path}: not a uint8 idx file (magic {raw[:4].hex()})")
    ndim = raw[3]
    dims = struct.unpack(f">{ndim}i", raw[4 : 4 + 4 * ndim])
    body = raw[4 + 4 * ndim :]
    if len(body) != int(np.prod(dims)):
        raise ValueError(
            f"{path}: header says {dims} = {int(np.prod(dims))} bytes, got {len(body)}"
        )
    return np.frombuffer(body, dtype=np.uint8).reshape(dims)


@functools.lru_cache(maxsize=16)
def _md5(path: str, mtime: float, size: int) -> str:
    """MD5 hex digest of a file (memoised on its path, modification time and size)."""
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


def _verify_md5(path: Path, expected: str) -> None:
    """Raise ValueError naming ``path`` when its MD5 is not ``expected``."""
    st = path.stat()
    got = _md5(str(path), st.st_mtime, st.st_size)
    if got != expected:
        raise ValueError(
            f"{path}: MD5 {got} does not match the expected {expected} (corrupt or wrong file; "
            "replace it with the canonical MNIST file)"
        )


def _read_md5sums(d: Path) -> dict[str, str]:
    """File name -> MD5 from ``d/MD5SUMS`` (``md5sum`` format), else :data:`MNIST_TEST_MD5`."""
    f = d / "MD5SUMS"
    if not f.exists():
        return dict(MNIST_TEST_MD5)
    out = {}
    for line in f.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2:
            out[parts[1].lstrip("*")] = parts[0].lower()
    return out


def _find(d: Path, stem: str) -> Path | None:
    """``d/<stem>.gz`` or ``d/<stem>``, whichever exists first; None when neither does."""
    for p in (d / f"{stem}.gz", d / stem):
        if p.exists():
            return p
    return None


def _idx_pair(imgs: Path, labs: Path) -> tuple[np.ndarray, np.ndarray]:
    """(N, H, W) uint8 images and (N,) labels in 0..9 from two idx files, checked together."""
    images, labels = read_idx(imgs), read_idx(labs)
    if images.ndim != 3 or labels.ndim != 1:
        raise ValueError(f"{imgs}: expected (N, H, W) images and (N,) labels")
    if len(images) != len(labels):
        raise ValueError(
            f"labels length mismatch: {imgs.name} has {len(images)} images, "
            f"{labs.name} has {len(labels)} labels"
        )
    if labels.max(initial=0) > 9:
        raise ValueError(f"{labs}: labels must lie in 0..9, got max {labels.max()}")
    return images, labels
