"""The closed-form oracle velocity (Theorem 2.1, appendix Eq. 19) against independent
re-derivations in float64, Monte Carlo, and its limits (input validation: test_checks.py)."""

import math

import numpy as np
import pytest
import torch

from flowstage_lib import CosinePath, OracleVelocity, RectifiedFlowPath
from flowstage_lib.oracle import OracleStats

F64 = torch.float64


T_GRID = [0.0, 1e-3, 0.05, 0.1, 0.5, 0.9, 0.999]

# (alpha, sigma, alpha', sigma') written again here, independently of flowstage_lib.path.
SCHEDULES = {
    "rectified": lambda t: (t, 1 - t, 1.0, -1.0),
    "cosine": lambda t: (
        math.sin(math.pi * t / 2),
        math.cos(math.pi * t / 2),
        math.pi / 2 * math.cos(math.pi * t / 2),
        -math.pi / 2 * math.sin(math.pi * t / 2),
    ),
}
PATHS = {"rectified": RectifiedFlowPath, "cosine": CosinePath}


def reference(data, labels, x_t, t, y, schedule):
    """Theorem 2.1 the slow way: pairwise distances, explicit softmax, float64.

    Returns (u (B, D), gamma (B, N)); gamma is 0 outside class y[b] when y is given.
    """
    a, s, da, ds = schedule(t)
    x = x_t.reshape(len(x_t), -1).to(F64)  # (B, D)
    X = data.reshape(len(data), -1).to(F64)  # (N, D)
    d2 = ((x[:, None, :] - a * X[None, :, :]) ** 2).sum(-1)  # (B, N)
    logits = -d2 / (2 * s**2)
    if y is not None:
        logits = logits.masked_fill(labels[None, :] != y[:, None], -math.inf)
    logits = logits - logits.max(dim=1, keepdim=True).values
    w = logits.exp()
    gamma = w / w.sum(dim=1, keepdim=True)  # (B, N)
    mean = gamma @ X  # (B, D) E[x1 | x_t]
    u = (da - a * ds / s) * mean + (ds / s) * x  # Eq. 19
    return u, gamma


def make_data(n, d, seed, offset=1.5):
    g = torch.Generator().manual_seed(seed)
    data = torch.randn(n, d, generator=g, dtype=F64) * 1.3 + offset  # non-zero mean
    labels = torch.randperm(n, generator=g) % 3  # 3 classes, all non-empty
    return data, labels, g


def queries(data, labels, t, schedule, g, b=9):
    """Points on the path from training points, plus points midway between two training
    points (mixed posteriors), plus far-away points."""
    a, s, _, _ = schedule(t)
    n, d = data.shape
    i = torch.randint(0, n, (b,), generator=g)
    j = torch.randint(0, n, (b,), generator=g)
    x0 = torch.randn(b, d, generator=g, dtype=F64)
    on_path = a * data[i] + s * x0
    midway = a * (data[i] + data[j]) / 2 + 1e-3 * s * x0
    far = 5 * x0
    x = torch.cat([on_path, midway, far])  # (3b, D)
    return x, labels[torch.cat([i, i, j])]


@pytest.mark.parametrize("path_name", sorted(PATHS))
@pytest.mark.parametrize("d,n", [(1, 7), (3, 40), (16, 64)])
@pytest.mark.parametrize("conditional", [False, True])
@pytest.mark.parametrize("chunk", ["small", "large"])
def test_matches_reference(path_name, d, n, conditional, chunk):
    """velocity, posterior_mean, stats, top_weights == the float64 re-derivation on the t grid."""
    schedule = SCHEDULES[path_name]
    data, labels, g = make_data(n, d, seed=d * 100 + n)
    chunk_size = max(1, n // 4) if chunk == "small" else 1000  # several chunks / one chunk
    oracle = OracleVelocity(data, labels, path=PATHS[path_name](), chunk_size=chunk_size, dtype=F64)
    k = min(3, int(torch.bincount(labels).min())) if conditional else 4
    mu = data.mean(0)
    R = (data - mu).norm(dim=1).max().item()
    eps = torch.finfo(F64).eps
    for t in T_GRID:
        a, s, da, ds = schedule(t)
        x, yq = queries(data, labels, t, schedule, g)
        y = yq if conditional else None
        u_ref, gamma = reference(data, labels, x, t, y, schedule)
        mean_ref = gamma @ data
        # documented rounding bound of the logits (see OracleVelocity), with fp64 eps
        xc = (x - a * mu).norm(dim=1).max().item()
        delta = 1e-13 + 4 * eps * (1 + a * (xc * R + a * R**2) / s**2)
        tol_mean = 2 * R * delta
        tol_u = abs(da - a * ds / s) * tol_mean + 1e-12 * (1 + u_ref.abs().max().item())
        msg = f"t={t}"

        torch.testing.assert_close(oracle.velocity(x, t, y), u_ref, rtol=0, atol=tol_u, msg=msg)
        torch.testing.assert_close(oracle(x, t, y), u_ref, rtol=0, atol=tol_u, msg=msg)
        mean = oracle.posterior_mean(x, t, y)
        torch.testing.assert_close(mean, mean_ref, rtol=0, atol=tol_mean, msg=msg)

        st = oracle.stats(x, t, y)
        assert isinstance(st, OracleStats)
        torch.testing.assert_close(st.mean, mean_ref, rtol=0, atol=tol_mean, msg=msg)
        top1, top1_idx = gamma.max(dim=1)
        torch.testing.assert_close(st.top1, top1, rtol=0, atol=delta, msg=msg)
        # the argmax is only defined where it is not a tie
        second = gamma.topk(2, dim=1).values[:, 1] if n > 1 else torch.zeros(len(x), dtype=F64)
        clear = top1 - second > 1e-6
        assert torch.equal(st.top1_index[clear], top1_idx[clear]), msg
        ent = -(gamma * gamma.clamp_min(1e-300).log()).sum(1)
        tol_ent = 1e-10 + delta * (1 + math.log(n)) * 4
        torch.testing.assert_close(st.entropy, ent, rtol=0, atol=tol_ent, msg=msg)

        vals, idx = oracle.top_weights(x, t, k=k, y=y)
        ref_vals = gamma.topk(k, dim=1).values
        torch.testing.assert_close(vals, ref_vals, rtol=0, atol=delta, msg=msg)
        # indices are original-order data indices whose weight is the reported value
        torch.testing.assert_close(gamma.gather(1, idx), vals, rtol=0, atol=delta, msg=msg)
        if conditional:
            assert torch.equal(labels[idx], yq[:, None].expand(-1, k)), msg


def test_default_chunk_numpy_multidim_and_per_row_t():
    g = torch.Generator().manual_seed(3)
    data = torch.randn(50, 2, 3, 4, generator=g, dtype=F64)  # (N, *shape)
    labels = np.arange(50) % 4
    oracle = OracleVelocity(data.numpy(), labels)  # numpy in: float64 compute dtype
    assert oracle.dtype == F64 and oracle.data_shape == (2, 3, 4) and oracle.num_samples == 50
    t = torch.tensor([0.0, 0.2, 0.5, 0.7, 0.95], dtype=F64)
    x = torch.randn(5, 2, 3, 4, generator=g, dtype=F64)
    y = torch.tensor([0, 1, 2, 3, 1])
    u = oracle.velocity(x, t, y)
    assert u.shape == (5, 2, 3, 4)
    sched = SCHEDULES["rectified"]
    for i in range(5):  # per-row t and y == one call per row with a float t
        u_i, _ = reference(
            data, torch.as_tensor(labels), x[i : i + 1], float(t[i]), y[i : i + 1], sched
        )
        torch.testing.assert_close(u[i].reshape(1, -1), u_i, rtol=0, atol=1e-10)
        torch.testing.assert_close(
            oracle.velocity(x[i : i + 1], float(t[i]), int(y[i])), u[i : i + 1]
        )


def test_caller_data_untouched_and_empty_batch():
    data, labels, _ = make_data(20, 4, seed=4)
    before = data.clone()
    oracle = OracleVelocity(data, labels, dtype=F64)
    assert torch.equal(data, before)
    empty = torch.zeros(0, 4, dtype=F64)
    assert oracle.velocity(empty, 0.5).shape == (0, 4)
    assert oracle.stats(empty, 0.5).top1.shape == (0,)
    assert oracle.top_weights(empty, 0.5, k=2)[1].shape == (0, 2)


@pytest.mark.parametrize("path_name", sorted(PATHS))
@pytest.mark.parametrize("t", [0.3, 0.7])
def test_theorem_monte_carlo(path_name, t):
    """Theorem 2.1: u*(x_t) = E[dx_t | x_t], checked against 1e6 (x0, x1) pairs.

    Nadaraya-Watson with a box kernel: in every bin of x_t (width 0.05) the mean of the CFM
    target dx_t must equal the mean of u*(x_t) within the Monte Carlo error (this comparison
    has no smoothing bias, since E[dx_t - u*(x_t) | x_t] = 0 pointwise), and u* at the bin
    centre must be within the error plus the bin's spread of u*. The Eq. 6 typo (sigma^2 in
    A_t, B_t) must fail the same test."""
    schedule = SCHEDULES[path_name]
    a, s, da, ds = schedule(t)
    data = torch.tensor([[-2.0], [-0.5], [1.0], [2.5]], dtype=F64)  # 1-D, N = 4
    g = torch.Generator().manual_seed(5)
    m = 1_000_000
    i = torch.randint(0, 4, (m,), generator=g)
    x0 = torch.randn(m, generator=g, dtype=F64)
    x1 = data[i, 0]
    x_t = a * x1 + s * x0  # (M,)
    target = da * x1 + ds * x0  # (M,) the CFM target
    oracle = OracleVelocity(data, path=PATHS[path_name](), dtype=F64)
    u = oracle.velocity(x_t[:, None], t)[:, 0]  # (M,)
    A, B = da - a * ds / s, ds / s
    mean = (u - B * x_t) / A  # E[x1 | x_t]
    u_typo = (da - a * ds / s**2) * mean + ds / s**2 * x_t  # Eq. 6 as printed

    edges = torch.arange(-3.0, 3.0 + 1e-9, 0.05, dtype=F64)
    nb = len(edges) + 1
    b = torch.bucketize(x_t, edges)  # (M,) bin index

    def per_bin(v):
        return torch.zeros(nb, dtype=F64).index_add_(0, b, v)

    count = per_bin(torch.ones_like(x_t))
    ok = count >= 2000  # bins with enough samples
    ok[0] = ok[-1] = False  # the two unbounded outer bins
    res, res_typo = target - u, target - u_typo
    # Var[dx_t | x_t] = A_t^2 Var[x1 | x_t] (dx_t = A_t x1 + B_t x_t given x_t), with the
    # posterior written out here: the exact standard error even where rare events dominate.
    logw = -((x_t[:, None] - a * data[None, :, 0]) ** 2) / (2 * s**2)  # (M, 4)
    gamma = torch.softmax(logw, dim=1)
    var = A**2 * (gamma @ data[:, 0] ** 2 - (gamma @ data[:, 0]) ** 2).clamp_min(0)  # (M,)
    z = per_bin(res)[ok] / count[ok]  # mean residual per bin
    se = per_bin(var)[ok].sqrt() / count[ok]
    assert ok.sum() >= 20
    chi = z / se  # ~ N(0, 1) per bin
    assert chi.abs().max() < 4.5 and (chi**2).mean() < 2, chi
    chi_typo = per_bin(res_typo)[ok] / count[ok] / se
    assert (chi_typo**2).mean() > 5, "the Eq. 6 typo should be detected"
    # NW estimate E[dx_t | bin] vs u* at the bin centre (up to the bin's spread of u*)
    centres = ((edges[1:] + edges[:-1]) / 2)[ok[1:-1]]
    nw = per_bin(target)[ok] / count[ok]
    u_c = oracle.velocity(centres[:, None], t)[:, 0]
    u_spread = (per_bin(u**2)[ok] / count[ok] - (per_bin(u)[ok] / count[ok]) ** 2).sqrt()
    assert torch.all((nw - u_c).abs() < 4.5 * se + 2 * u_spread + 1e-9)


@pytest.mark.parametrize("conditional", [False, True])
def test_euler_from_noise_ends_on_training_point(conditional):
    data, labels, g = make_data(16, 2, seed=6)
    oracle = OracleVelocity(data, labels, dtype=F64)
    b, steps = 32, 100
    x = torch.randn(b, 2, generator=g, dtype=F64)
    y = torch.arange(b) % 3 if conditional else None
    for k in range(steps):  # t_k = k / steps, never t = 1
        x = x + oracle.velocity(x, k / steps, y) / steps
    dist = torch.cdist(x, data)  # (B, N)
    if conditional:
        dist = dist.masked_fill(labels[None, :] != y[:, None], math.inf)
    assert dist.min(dim=1).values.max() < 1e-6


def test_maximum_in_a_late_chunk():
    """The online softmax moves its offset when a later chunk holds a far larger logit."""
    data, labels, g = make_data(60, 8, seed=12)
    oracle = OracleVelocity(data, labels, dtype=F64, chunk_size=4)
    sched = SCHEDULES["rectified"]
    for t in (0.5, 0.9, 0.999):
        # queries next to the last points: earlier chunks are far worse
        x = t * data[-5:] + (1 - t) * 0.1 * torch.randn(5, 8, generator=g, dtype=F64)
        for y in (None, labels[-5:]):
            u_ref, gamma = reference(data, labels, x, t, y, sched)
            torch.testing.assert_close(oracle.posterior_mean(x, t, y), gamma @ data)
            st = oracle.stats(x, t, y)
            ent = -(gamma * gamma.clamp_min(1e-300).log()).sum(1)
            torch.testing.assert_close(st.entropy, ent, rtol=0, atol=1e-9)
            torch.testing.assert_close(st.top1, gamma.max(1).values)
            assert torch.equal(st.top1_index, torch.arange(55, 60))


@pytest.mark.parametrize("conditional", [False, True])
def test_t0_is_data_mean_minus_x0(conditional):
    data, labels, g = make_data(30, 5, seed=7)
    oracle = OracleVelocity(data, labels, dtype=F64)
    x0 = torch.randn(6, 5, generator=g, dtype=F64)
    if conditional:
        y = torch.tensor([0, 1, 2, 0, 1, 2])
        means = torch.stack([data[labels == c].mean(0) for c in range(3)])[y]
        torch.testing.assert_close(oracle.velocity(x0, 0.0, y), means - x0)
        assert torch.allclose(oracle.stats(x0, 0.0, y).top1, 1.0 / (labels == 0).sum().double())
    else:
        torch.testing.assert_close(oracle.velocity(x0, 0.0), data.mean(0) - x0)
        st = oracle.stats(x0, 0.0)
        torch.testing.assert_close(st.top1, torch.full((6,), 1 / 30, dtype=F64))
        torch.testing.assert_close(st.entropy, torch.full((6,), math.log(30), dtype=F64))


@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_large_t_collapses_on_the_source_point(dtype):
    """Refinement stage: x_t built from x1_i has top-1 weight 1 on i (Fig. 2b)."""
    data, labels, g = make_data(200, 64, seed=8)
    oracle = OracleVelocity(data, labels, dtype=dtype, chunk_size=37)
    i = torch.arange(0, 200, 13)
    t = 0.9
    x_t = t * data[i] + (1 - t) * torch.randn(len(i), 64, generator=g, dtype=F64)
    for y in (None, labels[i]):
        vals, idx = oracle.top_weights(x_t, t, k=1, y=y)
        assert torch.equal(idx[:, 0], i)
        assert torch.all(vals[:, 0] > 1 - 1e-6)
        st = oracle.stats(x_t, t, y)
        assert torch.equal(st.top1_index, i) and torch.all(st.entropy < 1e-4)


def test_fp32_error_bound():
    """fp32 error documented in OracleVelocity: logit error ~ eps alpha (|x_t| R + alpha R^2)
    / sigma^2 (grows like 1 / (1 - t)^2), mean error <= 2R min(1, that); centring helps."""
    data, _, g = make_data(64, 32, seed=9, offset=3.0)
    o64 = OracleVelocity(data, dtype=F64)
    o32 = OracleVelocity(data, dtype=torch.float32)
    o32_raw = OracleVelocity(data, dtype=torch.float32, center=False)
    eps = torch.finfo(torch.float32).eps
    mu = data.mean(0)
    R = (data - mu).norm(dim=1).max().item()
    i, j = torch.arange(32), torch.arange(32, 64)
    errs, raw_errs = {}, {}
    for t in (0.1, 0.5, 0.9, 0.99, 0.999):
        # midway between two training points: a mixed posterior, the worst case
        x = t * (data[i] + data[j]) / 2 + 1e-3 * (1 - t) * torch.randn(
            32, 32, generator=g, dtype=F64
        )
        m64 = o64.posterior_mean(x, t)
        errs[t] = (o32.posterior_mean(x.float(), t).double() - m64).abs().max().item()
        raw_errs[t] = (o32_raw.posterior_mean(x.float(), t).double() - m64).abs().max().item()
        xc = (x - t * mu).norm(dim=1).max().item()
        delta = eps * t * (xc * R + t * R**2) / (1 - t) ** 2
        assert errs[t] <= 2 * R * min(1.0, delta), (t, errs[t], delta)
        # the velocity error is the mean error times A_t = 1 / (1 - t)
        du = (o32.velocity(x.float(), t).double() - o64.velocity(x, t)).abs().max().item()
        assert du <= (errs[t] + 4 * eps * (1 + x.abs().max().item())) / (1 - t) * 1.01
    assert errs[0.5] < 1e-4 and errs[0.99] > 100 * errs[0.5]  # it does grow near t = 1
    assert raw_errs[0.99] > 5 * errs[0.99]  # centring on the data mean helps


def test_fp32_overflow_is_reported():
    g = torch.Generator().manual_seed(13)
    data = torch.randn(10, 300, generator=g) * 1e4
    x = torch.randn(2, 300, generator=g) * 1e4
    with pytest.raises(ValueError, match=r"^t is too close to 1 for torch.float32"):
        OracleVelocity(data, dtype=torch.float32).velocity(x, 1 - 1e-15)
    assert torch.isfinite(OracleVelocity(data, dtype=F64).velocity(x, 1 - 1e-15)).all()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    data, labels, g = make_data(500, 40, seed=10)
    x = torch.randn(17, 40, generator=g, dtype=F64)
    o_cpu = OracleVelocity(data, labels, dtype=F64, chunk_size=64)
    o_gpu = OracleVelocity(data.cuda(), labels, dtype=F64, chunk_size=64)
    for t in (0.0, 0.3, 0.9):
        y = torch.arange(17) % 3
        torch.testing.assert_close(o_gpu.velocity(x.cuda(), t, y).cpu(), o_cpu.velocity(x, t, y))
        st_g, st_c = o_gpu.stats(x.cuda(), t), o_cpu.stats(x, t)
        torch.testing.assert_close(st_g.entropy.cpu(), st_c.entropy)


# ---------------------------------------------------------------------- bad input
