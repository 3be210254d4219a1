"""Judge scores re-derived independently in float64: KID, k-NN PRDC, paired differences."""

import itertools

import numpy as np
import pytest
from sklearn.metrics.pairwise import polynomial_kernel
from sklearn.neighbors import NearestNeighbors

from flowstage_lib.metrics import frechet_distance
from flowstage_lib.metrics.judge import kendall_tau
from flowstage_lib.metrics.judge.scores import (
    fd_score,
    kid,
    knn_radii,
    mean_score,
    mmd2_unbiased,
    paired_difference,
    prdc,
)

# ----------------------------------------------------------------------------- KID


def _mmd2_loops(x, y):
    """Unbiased MMD^2 with k(u, v) = (u.v / d + 1)^3, by explicit loops over pairs."""
    d = x.shape[1]

    def k(u, v):
        return (sum(float(u[i]) * float(v[i]) for i in range(d)) / d + 1.0) ** 3

    m, n = len(x), len(y)
    sxx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    syy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    sxy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return sxx + syy - 2 * sxy


@pytest.mark.parametrize("m,n,d,shift", [(5, 7, 3, 0.0), (6, 6, 2, 1.5), (4, 9, 5, -0.7)])
def test_mmd2_unbiased_matches_loops(m, n, d, shift):
    rng = np.random.default_rng(m * 100 + n)
    x, y = rng.normal(size=(m, d)), rng.normal(size=(n, d)) + shift
    assert mmd2_unbiased(x, y) == pytest.approx(_mmd2_loops(x, y), rel=1e-12, abs=1e-12)


def test_mmd2_matches_sklearn_kernel():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(30, 4)), rng.normal(size=(40, 4)) * 1.3
    kern = lambda a, b: polynomial_kernel(a, b, degree=3, gamma=1 / 4, coef0=1)  # noqa: E731
    kxx, kyy = kern(x, x), kern(y, y)
    ref = (
        (kxx.sum() - np.trace(kxx)) / (30 * 29)
        + (kyy.sum() - np.trace(kyy)) / (40 * 39)
        - 2 * kern(x, y).mean()
    )
    assert mmd2_unbiased(x, y) == pytest.approx(ref, rel=1e-12)


def test_kid_with_full_subsets_is_the_full_estimate():
    """subset_size >= n: every subset is a permutation of all rows, so each estimate equals
    the loop value and the spread is 0."""
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(8, 3)), rng.normal(size=(8, 3)) + 0.5
    res = kid(x, y, subset_size=50, n_subsets=5)
    assert res.subset_size == 8
    assert res.kid == pytest.approx(_mmd2_loops(x, y), rel=1e-10)
    assert res.std == pytest.approx(0, abs=1e-12)


def test_mmd2_is_unbiased_under_the_null():
    """Same distribution: the unbiased estimate averages to 0; the biased V-statistic does not
    (so the test can tell them apart)."""
    rng = np.random.default_rng(3)
    vals, biased = [], []

    def z(a, b):
        return ((a @ b.T / 2 + 1) ** 3).mean()

    for _ in range(1000):
        x, y = rng.normal(size=(8, 2)), rng.normal(size=(8, 2))
        vals.append(mmd2_unbiased(x, y))
        biased.append(z(x, x) + z(y, y) - 2 * z(x, y))
    se = np.std(vals) / np.sqrt(len(vals))
    assert abs(np.mean(vals)) < 4 * se
    assert np.mean(biased) > 4 * np.std(biased) / np.sqrt(len(biased))


def test_kid_standard_error_matches_the_spread_over_repeats():
    """``se`` against the spread of kid over independent draws of both sets (away from null)."""
    rng = np.random.default_rng(4)
    kids, ses = [], []
    for rep in range(25):
        a, b = rng.normal(size=(300, 4)) + 0.4, rng.normal(size=(300, 4))
        r = kid(a, b, subset_size=100, n_subsets=30, seed=rep)
        kids.append(r.kid)
        ses.append(r.se)
    ratio = np.mean(ses) / np.std(kids, ddof=1)
    assert 0.7 < ratio < 2.0, ratio


def test_kid_rejects_bad_input():
    with pytest.raises(ValueError, match="feats_b has 3"):
        kid(np.zeros((5, 2)), np.zeros((5, 3)))
    with pytest.raises(ValueError, match="subset_size"):
        kid(np.zeros((5, 2)), np.zeros((5, 2)), subset_size=1)
    with pytest.raises(ValueError, match="NaN"):
        kid(np.full((5, 2), np.nan), np.zeros((5, 2)))


# ----------------------------------------------------------------------------- PRDC


def _prdc_loops(real, fake, k):
    def dist(u, v):
        return float(np.sqrt(sum((float(a) - float(b)) ** 2 for a, b in zip(u, v, strict=True))))

    def radii(s):
        return [
            sorted(dist(s[i], s[j]) for j in range(len(s)) if j != i)[k - 1] for i in range(len(s))
        ]

    rr, fr = radii(real), radii(fake)
    N, M = len(real), len(fake)
    prec = np.mean([any(dist(f, real[i]) <= rr[i] for i in range(N)) for f in fake])
    rec = np.mean([any(dist(r, fake[j]) <= fr[j] for j in range(M)) for r in real])
    dens = sum(dist(f, real[i]) <= rr[i] for f in fake for i in range(N)) / (k * M)
    cov = np.mean([min(dist(real[i], f) for f in fake) <= rr[i] for i in range(N)])
    return prec, rec, dens, cov


@pytest.mark.parametrize("k,shift,seed", [(2, 0.0, 0), (3, 0.8, 1), (5, -0.4, 2)])
def test_prdc_matches_loops(k, shift, seed):
    rng = np.random.default_rng(seed)
    real, fake = rng.normal(size=(14, 3)), rng.normal(size=(11, 3)) * 1.4 + shift
    res = prdc(real, fake, k=k, chunk=4)
    p, r, d, c = _prdc_loops(real, fake, k)
    assert (res.precision, res.recall, res.coverage) == pytest.approx((p, r, c), abs=1e-12)
    assert res.density == pytest.approx(d, abs=1e-12)


def test_knn_radii_match_sklearn():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(60, 4))
    dist, _ = NearestNeighbors(n_neighbors=4).fit(x).kneighbors(x)  # column 0 is the point
    np.testing.assert_allclose(knn_radii(x, 3, chunk=7), dist[:, 3], rtol=1e-9)


def test_prdc_of_a_set_with_itself_is_perfect():
    x = np.random.default_rng(6).normal(size=(40, 3))
    res = prdc(x, x, k=3)
    assert (res.precision, res.recall, res.coverage) == (1.0, 1.0, 1.0)


def test_prdc_rejects_bad_radii():
    x = np.random.default_rng(7).normal(size=(10, 2))
    with pytest.raises(ValueError, match="real_radii"):
        prdc(x, x, k=2, real_radii=np.ones(3))


# ----------------------------------------------------------------------------- paired


def _pair(rng, n, delta, noise=0.2):
    z = rng.normal(size=(n, 3))  # shared noise: the same seed in both samplers
    a = z + delta + noise * rng.normal(size=(n, 3))
    b = z + noise * rng.normal(size=(n, 3))
    return a, b


def test_paired_interval_covers_the_true_difference():
    rng = np.random.default_rng(8)
    hits = 0
    for rep in range(60):
        a, b = _pair(rng, 200, 0.3)
        res = paired_difference(lambda x: x[:, 0].mean(), a, b, n_boot=200, seed=rep)
        hits += res.low <= 0.3 <= res.high
        assert res.delta == pytest.approx(a[:, 0].mean() - b[:, 0].mean())
    assert hits / 60 >= 0.85


def test_pairing_narrows_the_interval():
    rng = np.random.default_rng(9)
    a, b = _pair(rng, 300, 0.1)
    ref = rng.normal(size=(1000, 3))
    # mean: the shared noise cancels entirely; FD: its covariance part is shared in part
    for fn, ratio in ((lambda x, r: x[:, 0].mean(), 0.5), (frechet_distance, 0.8)):
        p = paired_difference(fn, a, b, ref, n_boot=200, seed=0)
        u = paired_difference(fn, a, b, ref, n_boot=200, seed=0, paired=False)
        assert p.delta == pytest.approx(u.delta)
        assert (p.high - p.low) < ratio * (u.high - u.low)
        assert p.excludes_zero


def test_paired_accuracy_difference_with_mean_score():
    a = np.array([1, 1, 1, 0] * 25, dtype=float)
    b = np.array([1, 1, 0, 0] * 25, dtype=float)
    res = paired_difference(mean_score, a, b, n_boot=100)
    assert res.delta == pytest.approx(0.25)
    assert res.low <= 0.25 <= res.high


def test_paired_difference_rejects_bad_input():
    with pytest.raises(ValueError, match="same number"):
        paired_difference(mean_score, np.ones(5), np.ones(6))
    with pytest.raises(ValueError, match="n_boot"):
        paired_difference(mean_score, np.ones(5), np.ones(5), n_boot=1)
    with pytest.raises(TypeError, match="score_fn"):
        paired_difference(3, np.ones(5), np.ones(5))


# ----------------------------------------------------------------------------- Kendall


def test_kendall_tau_matches_pair_count():
    rng = np.random.default_rng(10)
    a, b = rng.normal(size=9), rng.normal(size=9)
    pairs = list(itertools.combinations(range(9), 2))
    s = sum(np.sign(a[i] - a[j]) * np.sign(b[i] - b[j]) for i, j in pairs)
    assert kendall_tau(a, b).tau == pytest.approx(s / len(pairs))
    assert kendall_tau(a, a).tau == pytest.approx(1.0)
    assert kendall_tau(a, -a).tau == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="same length"):
        kendall_tau([1, 2, 3], [1, 2])


def test_fd_score_equals_frechet_distance():
    rng = np.random.default_rng(11)
    ref, x = rng.normal(size=(200, 4)), rng.normal(size=(100, 4)) * 1.2 + 0.3
    assert fd_score(ref)(x) == pytest.approx(frechet_distance(x, ref), rel=1e-12)
    with pytest.raises(ValueError, match="x has 3 features"):
        fd_score(ref)(x[:, :3])
