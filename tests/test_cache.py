"""The on-disk cache: keys, atomic writes, checksums, concurrent writers."""

import multiprocessing as mp
import warnings

import pytest
import torch

from flowstage_lib import cache


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
    cache.save({"obj": Evil()}, path)
    with pytest.raises(Exception, match="(?i)weights"):
        cache.load(path)


def _writer(path, seed, n):
    torch.manual_seed(seed)
    for _ in range(n):
        cache.save({"v": torch.full((20000,), float(seed))}, path)


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
