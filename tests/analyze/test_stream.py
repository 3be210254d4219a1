"""Streaming over memory maps and shards equals the in-memory oracle; exact partial merges;
the cached label index; clear errors."""

import math

import numpy as np
import pytest
import torch

from flowstage_lib.analyze import analyze
from flowstage_lib.analyze.curves import query_stats
from flowstage_lib.analyze.kernel import Partial, empty_partial, merge, stream_partial
from flowstage_lib.analyze.stream import LabelIndex, label_index, open_data
from flowstage_lib.oracle import OracleVelocity


def _data(n=300, d=12, seed=0, classes=4):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    x = rng.normal(size=(classes, d))[y] * 2 + rng.normal(size=(n, d))
    return x, y


def _partial_by_definition(x1, xt, t, rows):
    """Partial over ``rows`` from the definition (float64, mu = 0)."""
    d2 = ((xt[:, None, :] - t * x1[None, rows]) ** 2).sum(-1)
    lg = (-d2 + (xt**2).sum(1, keepdims=True)) / (2 * (1 - t) ** 2)  # the oracle's logits
    ln = np.logaddexp.reduce(lg, axis=1)
    g = np.exp(lg - ln[:, None])
    return Partial(
        *(
            torch.from_numpy(np.asarray(a))
            for a in (ln, g @ x1[rows], g.max(1), rows[g.argmax(1)], -(g * np.log(g)).sum(1))
        )
    )


def test_merge_is_exact():
    x, _ = _data()
    rng = np.random.default_rng(3)
    xt, t = rng.normal(size=(6, 12)), 0.55
    parts = np.array_split(rng.permutation(300), 3)
    full = _partial_by_definition(x, xt, t, np.arange(300))
    acc = empty_partial(6, 12, torch.float64)
    for r in parts:
        acc = merge(acc, _partial_by_definition(x, xt, t, np.sort(r)))
    for a, b in zip(acc.to_list(), full.to_list(), strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
@pytest.mark.parametrize("layout", ["memmap", "shards"])
def test_stream_equals_in_memory_oracle(tmp_path, dtype, layout):
    x, _ = _data()
    x = x.astype(dtype)
    if layout == "memmap":
        np.save(tmp_path / "x.npy", x)
        src = open_data(tmp_path / "x.npy")
        assert isinstance(src.parts[0], np.memmap)
    else:
        for i, part in enumerate(np.array_split(x, 3)):
            np.save(tmp_path / f"s{i:02d}.npy", part)
        src = open_data(tmp_path)
        assert len(src.parts) == 3 and src.n == 300
    oracle = OracleVelocity(torch.from_numpy(x.astype(np.float64)), dtype=torch.float64)
    rng = np.random.default_rng(1)
    xt = torch.from_numpy(rng.normal(size=(5, 12)))
    t = torch.full((5,), 0.6, dtype=torch.float64)
    mu = torch.from_numpy(x[:50].astype(np.float64).mean(0))
    p = stream_partial(src, xt - t[:, None] * mu, t, 1 - t, mu, dtype=torch.float64, chunk_rows=37)
    st = oracle.stats(xt, 0.6)
    np.testing.assert_allclose((p.mean + mu).numpy(), st.mean.numpy(), atol=1e-10)
    np.testing.assert_allclose(p.top1.numpy(), st.top1.numpy(), atol=1e-12)
    np.testing.assert_array_equal(p.top1_index.numpy(), st.top1_index.numpy())
    np.testing.assert_allclose(p.entropy.numpy(), st.entropy.numpy(), atol=1e-10)


def test_class_conditional_query_stats_match_naive_definition(tmp_path):
    x, y = _data()
    np.save(tmp_path / "x.npy", x)
    src = open_data(tmp_path / "x.npy")
    _, index = label_index(y, src.n)
    rows = index.rows(2)
    grid = np.array([0.0, 0.3, 0.7])
    mu = torch.zeros(12, dtype=torch.float64)
    qs = query_stats(src, grid, 4, seed=5, mu=mu, rows=rows, dtype=torch.float64, chunk_rows=16)
    gen = torch.Generator().manual_seed(5)  # the documented query draw, re-derived
    pick = torch.randint(0, rows.size, (4,), generator=gen).numpy()
    x1 = x[rows[pick]]
    x0 = torch.randn(x1.shape, generator=gen, dtype=torch.float64).numpy()
    assert (y[qs.source_index] == 2).all()
    for j, t in enumerate(grid):
        xt = t * x1 + (1 - t) * x0
        ref = _partial_by_definition(x, xt, t, rows)
        u = (ref.mean.numpy() - xt) / (1 - t)
        np.testing.assert_allclose(qs.top1[:, j], ref.top1.numpy(), atol=1e-12)
        np.testing.assert_allclose(
            qs.mse[:, j], ((u - (x1 - x0)) ** 2).mean(1), rtol=1e-9, atol=1e-12
        )
        np.testing.assert_allclose(qs.entropy[:, j], ref.entropy.numpy(), atol=1e-9)
    assert qs.top1[:, 0] == pytest.approx(1 / rows.size)


def test_label_index_is_cached_by_file_identity(tmp_path, monkeypatch):
    monkeypatch.setenv("FLOWSTAGE_CACHE", str(tmp_path / "cache"))
    _, y = _data()
    np.save(tmp_path / "y.npy", y)
    _, idx = label_index(tmp_path / "y.npy", 300)
    assert list((tmp_path / "cache" / "label_index").glob("*.npz"))
    np.testing.assert_array_equal(np.sort(idx.rows(1)), np.nonzero(y == 1)[0])

    def boom(*a):
        raise AssertionError("rebuilt")

    monkeypatch.setattr(LabelIndex, "build", classmethod(boom))
    _, again = label_index(tmp_path / "y.npy", 300)  # from the cache
    np.testing.assert_array_equal(again.order, idx.order)
    np.save(tmp_path / "y.npy", np.zeros(300, dtype=np.int64))  # new content: new key
    with pytest.raises(AssertionError, match="rebuilt"):
        label_index(tmp_path / "y.npy", 300)


def test_analyze_small_end_to_end():
    x, y = _data(n=400, d=16)
    res = analyze(x, y, queries=16, times=12, n_boot=20, progress=False)
    d = res.to_dict()
    assert d["conditional"]["crossings"]["0.9"]["lo"] <= d["conditional"]["crossings"]["0.9"]["t"]
    assert 0 < d["conditional"]["predicted_transition"] < 1
    assert len(d["times"]) == 12 and res.n_classes == 4
    assert d["transfer"]["shift"]["ours"] == pytest.approx(res.calibration.k * 0.5)
    sd3 = analyze(x, y, convention="sd3", queries=16, times=12, n_boot=20, progress=False)
    assert sd3.to_dict()["times"][1] == pytest.approx(1 - d["times"][1])
    assert sd3.to_dict()["transfer"]["shift"]["value"] == pytest.approx(
        1 / (res.calibration.k * 0.5)
    )


def test_analyze_on_a_given_grid():
    # the book's log-linear grid (Sec. 3): times may be the grid itself
    x, y = _data(n=200, d=8)
    grid = [0.0, 0.001, 0.01, 0.1, 0.5, 0.99]
    res = analyze(x, y, queries=8, times=grid, n_boot=10, unconditional=False, progress=False)
    assert res.conditional.t.tolist() == grid and res.unconditional is None
    assert res.conditional.top1[0] == pytest.approx(1 / 50, rel=0.2)  # ~ 1 / N_y at t = 0
    for bad, msg in (([0.1, 0.1], "increasing"), ([0.0, 1.0], r"\[0, 1\)"), ([0.5], "2 times")):
        with pytest.raises(ValueError, match=msg):
            analyze(x, y, queries=8, times=bad, progress=False)
    with pytest.raises(ValueError, match="times must be an integer >= 3"):
        analyze(x, y, queries=8, times=2, progress=False)
    with pytest.raises(TypeError, match="times must be"):
        analyze(x, y, queries=8, times="many", progress=False)


def test_errors_name_the_file_and_the_problem(tmp_path):
    np.save(tmp_path / "flat.npy", np.ones(10))
    with pytest.raises(ValueError, match=r"flat.npy: data must have shape \(N, D\)"):
        analyze(tmp_path / "flat.npy", progress=False)
    x, y = _data()
    x[7, 3] = np.nan
    np.save(tmp_path / "nan.npy", x)
    with pytest.raises(ValueError, match=r"nan.npy: .*NaN or inf"):
        analyze(tmp_path / "nan.npy", queries=4, times=4, progress=False)
    x, y = _data()
    with pytest.raises(ValueError, match=r"labels must have shape \(N,\) = \(300,\)"):
        analyze(x, y[:-1], progress=False)
    with pytest.raises(ValueError, match="class 99 has no rows"):
        analyze(x, y, classes=[99], progress=False)
    (tmp_path / "text.npy").write_text("not an array")
    with pytest.raises(ValueError, match="text.npy is not a .npy/.npz array"):
        analyze(tmp_path / "text.npy", progress=False)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        analyze(tmp_path / "missing.npy", progress=False)
    with pytest.raises(TypeError, match="labels must be integers"):
        analyze(x, y + 0.5, progress=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no .npy shards"):
        analyze(tmp_path / "empty", progress=False)
    with pytest.raises(ValueError, match="convention must be one of"):
        analyze(x, convention="edm", progress=False)
    assert math.isfinite(open_data(x).read(0, 2).sum())


def test_class_queries_read_only_their_rows_in_bounded_blocks(tmp_path, monkeypatch):
    x, y = _data(n=500)
    np.save(tmp_path / "x.npy", x.astype(np.float32))
    src = open_data(tmp_path / "x.npy")
    _, index = label_index(y, src.n)
    seen = []
    take, read = src.take, src.read
    monkeypatch.setattr(src, "take", lambda i: (seen.append(np.asarray(i)), take(i))[1])
    monkeypatch.setattr(
        src, "read", lambda lo, hi: (seen.append(np.arange(lo, hi)), read(lo, hi))[1]
    )
    mu = torch.zeros(12, dtype=torch.float64)
    query_stats(src, np.array([0.2, 0.5]), 3, 0, mu, rows=index.rows(1), chunk_rows=20)
    rows_read = np.concatenate(seen)
    assert set(rows_read.tolist()) <= set(index.rows(1).tolist())
    assert max(s.size for s in seen) <= 20


def test_npz_and_integer_data_are_accepted(tmp_path):
    x, y = _data(n=120)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    src = open_data(tmp_path / "d.npz")
    np.testing.assert_allclose(src.read(0, 120), x)
    np.savez(tmp_path / "two.npz", a=x, b=x)
    with pytest.raises(ValueError, match="name one 'x'"):
        open_data(tmp_path / "two.npz")
    ints = open_data(np.arange(12, dtype=np.uint8).reshape(3, 4))
    assert ints.read(0, 3).dtype == np.float64
