"""The factored logits of `flowstage analyze` (queries x_t = t x1 + (1 - t) x0 from their
pairs' inner products, `oracle.kernel.stream_pairs`): exact in float64 against an independent
re-derivation, and in float32 as accurate as the per-row matmul (`oracle.kernel.stream`)."""

import numpy as np
import pytest
import torch

from flowstage_lib.analyze.curves import query_stats
from flowstage_lib.analyze.kernel import PairQueries
from flowstage_lib.analyze.stream import open_data
from flowstage_lib.oracle import OracleVelocity

T_GRID = np.array([0.0, 0.05, 0.2, 0.4, 0.6, 0.8, 0.9, 0.95])


def _draw(pool: np.ndarray, queries: int, seed: int, x: np.ndarray):
    """query_stats' draw of the (x1, x0) pairs, re-derived: (x1 (Q, D), x0 (Q, D))."""
    gen = torch.Generator().manual_seed(seed)
    pick = torch.randint(0, pool.size, (queries,), generator=gen).numpy()
    x1 = x[pool[pick]]
    x0 = torch.randn(x1.shape, generator=gen, dtype=torch.float64).numpy()
    return x1, x0


def _direct(x1, x0, t, y):
    """Independent float64 definition at one (x1, x0, t) over training rows y (N, D):
    gamma_i = softmax_i(-||x_t - t y_i||^2 / (2 (1 - t)^2)) (Theorem 2.1, rectified flow),
    its max, entropy, and mean((u* - (x1 - x0))^2) with u* = (E[x1 | x_t] - x_t) / (1 - t)."""
    xt = t * x1 + (1 - t) * x0
    lg = -((xt - t * y) ** 2).sum(1) / (2 * (1 - t) ** 2)
    g = np.exp(lg - lg.max())
    g /= g.sum()
    u = (g @ y - xt) / (1 - t)
    ent = -(g[g > 0] * np.log(g[g > 0])).sum()
    return g, g.max(), ent, ((u - (x1 - x0)) ** 2).mean()


def _small(n=60, d=7, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)) * 1.5 + rng.normal(size=d)


def test_gamma_of_pair_queries_equals_the_definition_in_float64():
    y = _small()
    n = y.shape[0]
    x1, x0 = y[[3, 17, 40]], np.random.default_rng(1).normal(size=(3, y.shape[1]))
    owner = torch.tensor([0, 0, 1, 1, 2, 2, 2, 0], dtype=torch.long)
    tt = torch.tensor([0.0, 0.3, 0.5, 0.9, 0.1, 0.7, 0.95, 0.99], dtype=torch.float64)
    # small chunks: the offset moves between chunks (lazy rescaling) at large t
    oracle = OracleVelocity(torch.from_numpy(y), dtype=torch.float64, chunk_size=13)
    mu = oracle._mu
    x1c = torch.from_numpy(x1) - mu
    st = oracle._stream_pairs(
        x1c, torch.from_numpy(x0), owner, tt / (1 - tt), 0, n, k=n, entropy=True, index=True
    )
    for b in range(owner.numel()):
        p, t = int(owner[b]), float(tt[b])
        g, top1, ent, _ = _direct(x1[p], x0[p], t, y)
        gamma = np.zeros(n)
        gamma[st.topk_pos[b].numpy()] = st.topk[b].numpy()
        np.testing.assert_allclose(gamma, g, rtol=1e-10, atol=1e-300)
        assert float(st.top1[b]) == pytest.approx(top1, rel=1e-10)
        assert int(st.top1_pos[b]) == int(np.argmax(g))
        assert float(st.entropy[b]) == pytest.approx(ent, rel=1e-9, abs=1e-12)
        np.testing.assert_allclose((st.mean_c[b] + mu).numpy(), g @ y, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("classes", [False, True])
def test_query_stats_equal_the_definition_in_float64(classes):
    y = _small(n=80, d=9, seed=2)
    labels = np.arange(80) % 3
    rows = np.flatnonzero(labels == 1) if classes else None
    pool = np.arange(80) if rows is None else rows
    mu = torch.from_numpy(y.mean(0) + 0.3)  # any reference point is exact
    qs = query_stats(
        open_data(y), T_GRID, 6, 5, mu, rows=rows, dtype=torch.float64, chunk_rows=11
    )  # blocks of 11 rows: exact merges across blocks
    x1, x0 = _draw(pool, 6, 5, y)
    for q in range(6):
        for j, t in enumerate(T_GRID):
            _, top1, ent, mse = _direct(x1[q], x0[q], t, y[pool])
            assert qs.top1[q, j] == pytest.approx(top1, rel=1e-10)
            assert qs.entropy[q, j] == pytest.approx(ent, rel=1e-9, abs=1e-12)
            assert qs.mse[q, j] == pytest.approx(mse, rel=1e-9, abs=1e-14)


def test_query_stats_use_the_pair_inner_products(monkeypatch):
    # the factored path is what query_stats runs by default; factor=False the per-row one
    calls = {"pairs": 0, "rows": 0}
    pairs, rows = OracleVelocity._stream_pairs, OracleVelocity._stream

    def spy_pairs(self, *a, **k):
        calls["pairs"] += 1
        return pairs(self, *a, **k)

    def spy_rows(self, *a, **k):
        calls["rows"] += 1
        return rows(self, *a, **k)

    monkeypatch.setattr(OracleVelocity, "_stream_pairs", spy_pairs)
    monkeypatch.setattr(OracleVelocity, "_stream", spy_rows)
    y = _small()
    mu = torch.from_numpy(y.mean(0))
    a = query_stats(open_data(y), T_GRID, 4, 0, mu, dtype=torch.float64)
    assert calls == {"pairs": 1, "rows": 0}
    b = query_stats(open_data(y), T_GRID, 4, 0, mu, dtype=torch.float64, factor=False)
    assert calls == {"pairs": 1, "rows": 1}
    for k in ("top1", "mse", "entropy"):
        np.testing.assert_allclose(getattr(a, k), getattr(b, k), rtol=1e-11, atol=1e-15)
    np.testing.assert_array_equal(a.top1_index, b.top1_index)


def test_batches_split_inside_a_query():
    # max_batch not a multiple of T: a query's times span two batches
    y = _small()
    mu = torch.from_numpy(y.mean(0))
    a = query_stats(open_data(y), T_GRID, 5, 1, mu, dtype=torch.float64, max_batch=11)
    b = query_stats(open_data(y), T_GRID, 5, 1, mu, dtype=torch.float64)
    for k in ("top1", "mse", "entropy"):
        np.testing.assert_allclose(getattr(a, k), getattr(b, k), rtol=1e-12, atol=1e-15)


def test_float32_error_is_at_rounding_level_like_the_per_row_kernel(monkeypatch, tmp_path):
    # MNIST scale (D = 784, N = 5000 of the shipped MNIST test digits in [-1, 1]), float32
    # against float64, factored and per-row. The logits' float32 rounding is ~ eps rho^2 R^2
    # (`OracleVelocity`'s numerical note: eps = 6e-8, rho = t / (1 - t), R^2 ~ 250 here, so
    # ~1e-5 at t = 0.4); measured: max |top1 error| 1.5e-6, entropy 9e-6, mse 1e-7 for both
    # paths. Tolerances: top1 1e-5, entropy 1e-4 (nats), mse 1e-6 absolute, and the factored
    # error at most 3x the per-row one (+ 1e-8): the combination adds no error of its own size.
    monkeypatch.setenv("FLOWSTAGE_CACHE", str(tmp_path))
    from flowstage_lib.data import load_dataset

    x = load_dataset("mnist_test").x[:5000].reshape(5000, -1).double().numpy()
    src = open_data(x)
    mu = torch.from_numpy(x.mean(0))
    kw = dict(t_grid=T_GRID, queries=16, seed=0, mu=mu)
    ref = query_stats(src, dtype=torch.float64, **kw)
    new = query_stats(src, dtype=torch.float32, **kw)
    old = query_stats(src, dtype=torch.float32, factor=False, **kw)
    for k, tol in (("top1", 1e-5), ("entropy", 1e-4), ("mse", 1e-6)):
        e_new = np.abs(getattr(new, k) - getattr(ref, k)).max()
        e_old = np.abs(getattr(old, k) - getattr(ref, k)).max()
        assert e_new < tol and e_old < tol, (k, e_new, e_old)
        assert e_new <= 3 * e_old + 1e-8, (k, e_new, e_old)


def test_pair_queries_errors():
    z = torch.zeros(3, 4)
    with pytest.raises(ValueError, match="x1c and x0"):
        PairQueries(z, torch.zeros(3, 5), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match="owner"):
        PairQueries(z, z, torch.zeros(2))
    with pytest.raises(ValueError, match="owner"):
        PairQueries(z, z, torch.tensor([0, 3]))
