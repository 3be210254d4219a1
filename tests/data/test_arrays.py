"""A user's own arrays: .npz / .npy files, their labels and every bad input named."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from flowstage_lib.data import load_arrays


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
