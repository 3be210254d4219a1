"""The on-disk cache: keys, atomic writes, checksums, concurrent writers."""

import errno
import hashlib
import io
import multiprocessing as mp
import os
import pickle
import stat
import warnings

import numpy as np
import pytest
import torch

from flowstage_lib.tooling import cache


@pytest.fixture(autouse=True)
def _tmp_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FLOWSTAGE_CACHE", str(tmp_path))


def test_key_depends_on_params_and_tensors():
    a = cache.cache_key("k", {"n": 1, "x": torch.zeros(3)})
    assert a == cache.cache_key("k", {"x": torch.zeros(3), "n": 1})  # order-free
    assert a != cache.cache_key("k", {"n": 2, "x": torch.zeros(3)})
    assert a != cache.cache_key("k", {"n": 1, "x": torch.ones(3)})
    assert a != cache.cache_key("other", {"n": 1, "x": torch.zeros(3)})
    assert a != cache.cache_key("k", {"n": 1.0, "x": torch.zeros(3)})  # 1 vs 1.0 differ


def test_cached_computes_once():
    calls = []

    def compute():
        calls.append(1)
        return {"v": torch.arange(4.0)}

    first = cache.cached("unit", {"a": 1}, compute)
    second = cache.cached("unit", {"a": 1}, compute)
    assert len(calls) == 1
    assert torch.equal(first["v"], second["v"])


@pytest.mark.parametrize("damage", ["truncate", "flip", "header"])
def test_corrupted_file_is_detected_and_recomputed(damage):
    value = {"v": torch.arange(1000.0)}
    cache.cached("unit", {"a": 2}, lambda: value)
    path = cache.cache_path("unit", cache.cache_key("unit", {"a": 2}))
    raw = bytearray(path.read_bytes())
    if damage == "truncate":
        raw = raw[: len(raw) // 2]
    elif damage == "flip":
        raw[-10] ^= 0xFF
    else:
        raw[:5] = b"XXXXX"
    path.write_bytes(bytes(raw))
    with pytest.raises(cache.CacheCorruptError):
        cache.load(path)
    calls = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = cache.cached("unit", {"a": 2}, lambda: calls.append(1) or value)
    assert torch.equal(out["v"], value["v"])
    assert calls == [1], "a corrupted cache file must be recomputed, never used"
    assert any("recomputing" in str(w.message) for w in caught)
    assert torch.equal(cache.load(path)["v"], value["v"])


class Evil:
    """An arbitrary class: a pickled instance must never be loaded from a cache file."""


def test_weights_only_loading_refuses_arbitrary_objects(tmp_path):
    path = tmp_path / "evil.pt"
    with pytest.raises(TypeError, match=r"obj\['obj'\] is a .*Evil.*weights-only loader"):
        cache.save({"obj": Evil()}, path)
    assert not path.exists() and not list(tmp_path.glob("*.tmp"))
    # a file written by someone else holding a pickled object is still refused at load time
    buf = io.BytesIO()
    torch.save({"obj": Evil()}, buf)
    payload = buf.getvalue()
    digest = hashlib.sha256(payload).hexdigest().encode()
    path.write_bytes(cache._MAGIC + digest + b"\n" + payload)
    with pytest.raises(Exception, match="(?i)weights"):
        cache.load(path)


def _writer(path, seed, n):
    torch.manual_seed(seed)
    for _ in range(n):
        cache.save({"v": torch.full((20000,), float(seed))}, path)


@pytest.mark.slow
def test_concurrent_writers_never_leave_a_corrupt_file(tmp_path):
    path = tmp_path / "shared.pt"
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(path, s, 20)) for s in (1, 2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    value = cache.load(path)["v"]
    assert value.unique().numel() == 1 and value[0].item() in (1.0, 2.0)
    assert not list(tmp_path.glob("*.tmp")), "temporary files must not be left behind"


# ------------------------------------------------------------------ keys: the code's source


def test_modules_key_on_their_closure_a_test_caller_on_the_whole_package(monkeypatch):
    """(tests/tooling/test_cache_closure.py tests the closures themselves.)"""
    a = cache.cache_key("k", {"n": 1}, modules=("flowstage_lib.oracle",))
    assert a != cache.cache_key("k", {"n": 1})  # a test is no package module: whole package
    assert a != cache.cache_key("k", {"n": 1}, modules=("flowstage_lib.training",))
    monkeypatch.setenv("FLOWSTAGE_CACHE_KEY", "package")
    assert cache.cache_key("k", {"n": 1}, modules=("flowstage_lib.oracle",)) == cache.cache_key(
        "k", {"n": 1}
    )


def test_source_hash_sees_an_edit_of_any_package_file(tmp_path, monkeypatch):
    pkg = tmp_path / "fakepkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "deep.py").write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    h1 = cache.source_hash(("fakepkg",))
    (pkg / "sub" / "deep.py").write_text("X = 22\n")
    assert cache.source_hash(("fakepkg",)) != h1


def test_numpy_scalars_key_like_python_numbers():
    base = cache.cache_key("k", {"n": 3, "s": 0.5, "b": True})
    assert (
        cache.cache_key("k", {"n": np.int64(3), "s": np.float64(0.5), "b": np.bool_(True)}) == base
    )
    assert cache.cache_key("k", {"n": np.array(3), "s": np.float32(0.5), "b": True}) == base
    # arrays key by content, not by their (abbreviated) repr
    big = np.zeros(5000)
    other = big.copy()
    other[2500] = 1.0
    assert cache.cache_key("k", {"a": big}) != cache.cache_key("k", {"a": other})


# ------------------------------------------------------------------ a cache hit is a hit


def test_cache_hit_returns_the_stored_value_not_a_recomputation():
    values = iter([{"v": torch.tensor(1.0)}, {"v": torch.tensor(2.0)}])
    first = cache.cached("hit", {"a": 1}, lambda: next(values))
    second = cache.cached("hit", {"a": 1}, lambda: next(values))
    assert float(first["v"]) == float(second["v"]) == 1.0  # a recomputation would give 2.0


# ------------------------------------------------------------------ poisoning (item 3)


def test_numpy_scalars_are_stored_as_python_numbers_and_read_back():
    calls = []

    def compute():
        calls.append(1)
        return {"fd": np.float64(1.5), "n": np.int64(3), "arr0": np.array(2.0), "ok": np.bool_(1)}

    first = cache.cached("np", {"a": 1}, compute)
    again = cache.cached("np", {"a": 1}, compute)  # the rerun reads the file back
    assert calls == [1]
    assert again == {"fd": 1.5, "n": 3, "arr0": 2.0, "ok": True} == first
    assert type(again["fd"]) is float and type(again["n"]) is int


def test_numpy_arrays_are_refused_at_save_time(tmp_path):
    with pytest.raises(TypeError, match=r"obj\['rows'\]\[1\] is a numpy.ndarray .*from_numpy"):
        cache.save({"rows": [torch.zeros(2), np.zeros(2)]}, tmp_path / "a.pt")


def test_an_unloadable_entry_is_removed_and_recomputed(monkeypatch):
    cache.cached("bad", {"a": 1}, lambda: {"v": torch.tensor(1.0)})
    path = cache.cache_path("bad", cache.cache_key("bad", {"a": 1}))
    real_load = torch.load

    def failing_load(*a, **k):  # a valid checksum but an unreadable payload
        raise pickle.UnpicklingError("Weights only load failed")

    monkeypatch.setattr(torch, "load", failing_load)
    with pytest.warns(RuntimeWarning, match="UnpicklingError.*removing it and recomputing"):
        out = cache.cached("bad", {"a": 1}, lambda: {"v": torch.tensor(2.0)})
    monkeypatch.setattr(torch, "load", real_load)
    assert float(out["v"]) == 2.0
    assert float(cache.load(path)["v"]) == 2.0  # the bad entry was replaced


# ------------------------------------------------------------------ unwritable cache (item 1)


def test_unwritable_cache_folder_warns_once_and_returns_the_value(tmp_path, monkeypatch):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("FLOWSTAGE_CACHE", str(blocker / "cache"))
    monkeypatch.setattr(cache, "_WARNED", set())
    with pytest.warns(RuntimeWarning, match=r"cannot write to .*a_file/cache \(.*\)"):
        out = cache.cached("w", {"a": 1}, lambda: {"v": torch.tensor(3.0)})
    assert float(out["v"]) == 3.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once per folder
        out = cache.cached("w", {"a": 2}, lambda: {"v": torch.tensor(4.0)})
    assert float(out["v"]) == 4.0


def test_full_disk_warns_and_returns_the_value(tmp_path, monkeypatch):
    monkeypatch.setattr(cache, "_WARNED", set())

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(cache.os, "fsync", full)
    with pytest.warns(RuntimeWarning, match=r"cannot write to .*\(No space left on device\)"):
        out = cache.cached("full", {"a": 1}, lambda: {"v": torch.tensor(5.0)})
    assert float(out["v"]) == 5.0
    assert not list(tmp_path.rglob("*.tmp")) and not list(tmp_path.rglob("*.pt"))
    with pytest.raises(OSError):  # the low-level save still raises
        cache.save({"v": 1}, tmp_path / "x.pt")


# ------------------------------------------------------------------ file mode (item 10)


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_cache_files_respect_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        path = cache.save({"v": 1}, tmp_path / "m.pt")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
