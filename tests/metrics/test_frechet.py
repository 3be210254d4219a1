"""The one Frechet distance: vs an independent float64 re-derivation with scipy.linalg.sqrtm,
its bootstrap interval, and the paired difference of Table 1 (re-derived resample by resample)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from flowstage_lib.metrics import (
    FrechetReference,
    frechet_distance,
    frechet_distance_ci,
    paired_frechet_difference,
)


def _closed_form_fd(mu1, s1, mu2, s2) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1^{1/2} S2 S1^{1/2})^{1/2}) via scipy.linalg.sqrtm."""
    r1 = scipy.linalg.sqrtm(s1).real
    cross = scipy.linalg.sqrtm(r1 @ s2 @ r1).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * cross))


def _random_spd(F: int, rng) -> np.ndarray:
    a = rng.normal(size=(F, F))
    return a @ a.T / F + 0.1 * np.eye(F)


# ----------------------------------------------------------------------------- Frechet


def test_fd_self_is_zero():
    f = torch.randn(300, 16)
    assert abs(frechet_distance(f, f)) < 1e-8


@pytest.mark.parametrize("F", [2, 8, 32])
@pytest.mark.parametrize("seed", [0, 1])
def test_fd_matches_closed_form_of_sample_statistics(F, seed):
    rng = np.random.default_rng(seed)
    mu1, mu2 = rng.normal(size=F), rng.normal(size=F)
    a = rng.multivariate_normal(mu1, _random_spd(F, rng), size=400)
    b = rng.multivariate_normal(mu2, _random_spd(F, rng), size=300)
    ref = _closed_form_fd(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))
    assert np.isclose(frechet_distance(a, b), ref, rtol=1e-8, atol=1e-8)
    # symmetric in its arguments
    assert np.isclose(frechet_distance(b, a), ref, rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("F", [3, 10])
def test_fd_converges_to_population_value(F):
    rng = np.random.default_rng(F)
    mu1, mu2 = rng.normal(size=F), rng.normal(size=F)
    s1, s2 = _random_spd(F, rng), _random_spd(F, rng)
    a = rng.multivariate_normal(mu1, s1, size=100_000)
    b = rng.multivariate_normal(mu2, s2, size=100_000)
    truth = _closed_form_fd(mu1, s1, mu2, s2)
    assert np.isclose(frechet_distance(a, b), truth, rtol=0.02, atol=0.01)


def test_fd_commuting_diagonal_case():
    # diagonal covariances: d^2 = |mu1 - mu2|^2 + sum (sqrt(v1) - sqrt(v2))^2, exactly
    v1, v2 = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 1.0])
    mu1, mu2 = np.zeros(3), np.array([1.0, 2.0, 0.0])
    truth = 5.0 + ((np.sqrt(v1) - np.sqrt(v2)) ** 2).sum()
    assert np.isclose(_closed_form_fd(mu1, np.diag(v1), mu2, np.diag(v2)), truth)
    rng = np.random.default_rng(0)
    a = rng.normal(size=(200_000, 3)) * np.sqrt(v1) + mu1
    b = rng.normal(size=(200_000, 3)) * np.sqrt(v2) + mu2
    assert np.isclose(frechet_distance(a, b), truth, rtol=0.02)


def test_fd_grows_monotonically_with_noise():
    g = torch.Generator().manual_seed(0)
    ref = torch.randn(2000, 8, generator=g)
    base = torch.randn(2000, 8, generator=g)
    noise = torch.randn(2000, 8, generator=g)
    fds = [frechet_distance(base + s * noise, ref) for s in (0.0, 0.25, 0.5, 1.0, 2.0)]
    assert all(x < y for x, y in zip(fds, fds[1:], strict=False)), fds


def test_fd_ci_contains_estimate_and_shrinks_with_n():
    g = torch.Generator().manual_seed(0)
    ref = torch.randn(2000, 6, generator=g)
    small = torch.randn(200, 6, generator=g) + 0.3
    res = frechet_distance_ci(small, ref, n_boot=100)
    assert np.isclose(res.fd, frechet_distance(small, ref))
    assert res.low <= res.fd <= res.high and res.high > res.low
    big = frechet_distance_ci(torch.randn(2000, 6, generator=g) + 0.3, ref, n_boot=100)
    assert big.high - big.low < res.high - res.low
    assert big.low <= big.fd <= big.high and res.level == 0.95 and res.n_boot == 100


def test_fd_bad_inputs():
    a = torch.randn(10, 4)
    with pytest.raises(ValueError, match="feats_b has 5"):
        frechet_distance(a, torch.randn(10, 5))
    with pytest.raises(ValueError, match="feats_a needs at least 2"):
        frechet_distance(a[:1], a)
    with pytest.raises(ValueError, match="feats_b contains NaN"):
        frechet_distance(a, torch.full((10, 4), float("nan")))
    with pytest.raises(ValueError, match="feats_a must be a \\(B, F\\)"):
        frechet_distance(a[0], a)
    with pytest.raises(ValueError, match="n_boot"):
        frechet_distance_ci(a, a, n_boot=1)


# ----------------------------------------------------------------------------- paired difference


def _sqrtm_trace_fd(a: np.ndarray, r: np.ndarray) -> float:
    """FD by the other textbook form, Tr(S_a + S_r - 2 (S_a S_r)^{1/2}), scipy's sqrtm of the
    (non-symmetric) product, covariances by np.cov: shares no code with the library."""
    sa, sr = np.cov(a, rowvar=False), np.cov(r, rowvar=False)
    cross = scipy.linalg.sqrtm(sa @ sr)
    d = float(((a.mean(0) - r.mean(0)) ** 2).sum() + np.trace(sa) + np.trace(sr))
    return d - 2 * float(np.trace(cross).real)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_paired_difference_rederived_in_float64(seed):
    rng = np.random.default_rng(100 + seed)
    # tiny, yet (checked below) every resample keeps >= 3 distinct rows: full-rank covariances,
    # where scipy's sqrtm is accurate to round-off (on singular ones only to ~sqrt(eps))
    n, F, n_boot, level = 12, 2, 25, 0.9
    ref = rng.normal(size=(30, F)) * [1.0, 2.0]
    fa = rng.normal(size=(n, F)) + 0.7
    fb = fa + 0.4 * rng.normal(size=(n, F))  # paired with fa row by row
    res = paired_frechet_difference(fa, fb, ref, n_boot=n_boot, seed=seed, level=level)
    # the point value, and each resample with the documented draws (one index vector per
    # resample, shared by both sets), by the sqrtm form
    diff = _sqrtm_trace_fd(fa, ref) - _sqrtm_trace_fd(fb, ref)
    draws = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):
        idx = draws.integers(0, n, n)
        assert len(np.unique(idx)) >= 3
        boots.append(_sqrtm_trace_fd(fa[idx], ref) - _sqrtm_trace_fd(fb[idx], ref))
    lo_q, hi_q = np.percentile(boots, [5, 95])
    mean = sum(boots) / n_boot
    assert res.difference == pytest.approx(diff, rel=1e-9, abs=1e-10)
    assert res.low == pytest.approx(diff + lo_q - mean, rel=1e-9, abs=1e-10)
    assert res.high == pytest.approx(diff + hi_q - mean, rel=1e-9, abs=1e-10)
    assert (res.n_boot, res.level) == (n_boot, level) and res.as_tuple()[0] == res.difference


def test_paired_difference_of_a_set_with_itself_is_exactly_zero():
    g = torch.Generator().manual_seed(0)
    ref, fa = torch.randn(50, 4, generator=g), torch.randn(20, 4, generator=g)
    assert paired_frechet_difference(fa, fa, ref, n_boot=10).as_tuple() == (0.0, 0.0, 0.0)


def test_paired_interval_is_narrower_than_the_unpaired_ones():
    g = torch.Generator().manual_seed(1)
    ref = torch.randn(2000, 5, generator=g)
    fa = torch.randn(300, 5, generator=g) * 1.2
    fb = fa + 0.05 * torch.randn(300, 5, generator=g)  # almost the same samples
    p = paired_frechet_difference(fa, fb, ref, n_boot=100)
    ca, cb = frechet_distance_ci(fa, ref, n_boot=100), frechet_distance_ci(fb, ref, n_boot=100)
    assert p.difference == pytest.approx(ca.fd - cb.fd, rel=1e-12)
    assert p.high - p.low < 0.25 * min(ca.high - ca.low, cb.high - cb.low)


def test_paired_difference_bad_inputs():
    a = torch.randn(10, 4)
    with pytest.raises(ValueError, match="same size"):
        paired_frechet_difference(a, a[:5], a)
    with pytest.raises(ValueError, match="feats_b has 3 features but feats_ref has 4"):
        paired_frechet_difference(a, a[:, :3], a)
    with pytest.raises(ValueError, match="feats_ref contains NaN"):
        paired_frechet_difference(a, a, torch.full((10, 4), float("nan")))
    with pytest.raises(ValueError, match="n_boot"):
        paired_frechet_difference(a, a, a, n_boot=0)
    with pytest.raises(ValueError, match="level"):
        paired_frechet_difference(a, a, a, level=1.0)


def test_reference_is_reused_across_feature_sets():
    g = torch.Generator().manual_seed(2)
    ref_feats = torch.randn(100, 3, generator=g)
    ref = FrechetReference(ref_feats, "reference")
    for shift in (0.0, 0.5):
        f = torch.randn(40, 3, generator=g) + shift
        assert ref.distance(ref.check(f)) == pytest.approx(frechet_distance(f, ref_feats))
    with pytest.raises(ValueError, match="feats_a has 2 features but reference has 3"):
        ref.check(torch.zeros(4, 2))
