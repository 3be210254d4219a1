"""Metrics: Frechet distance (vs an independent float64 re-derivation), bootstrap interval,
nearest neighbours / memorization (vs brute force), the feature classifier (tiny, cached)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from flowstage_lib.data import ImageData, load_dataset
from flowstage_lib.metrics import (
    ClassifierReport,
    FeatureClassifier,
    bootstrap_mean_ci,
    class_accuracy,
    extract_features,
    frechet_distance,
    frechet_distance_ci,
    get_classifier,
    memorization,
    nearest_neighbours,
    wilson_interval,
)


@pytest.fixture(autouse=True)
def _tmp_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FLOWSTAGE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("FLOWSTAGE_NO_CACHE", raising=False)


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


# ----------------------------------------------------------------------------- neighbours


def _brute(samples, train):
    d = torch.cdist(samples.flatten(1).double(), train.flatten(1).double())  # (B, N)
    return d.sort(dim=1)


def test_nearest_neighbours_vs_brute_force():
    g = torch.Generator().manual_seed(0)
    train = torch.rand(300, 1, 6, 6, generator=g) * 2 - 1
    samples = torch.rand(37, 1, 6, 6, generator=g) * 2 - 1
    nb = nearest_neighbours(samples, train, k=3, batch_size=16)
    d, i = _brute(samples, train)
    assert nb.dist.shape == (37, 3) and nb.index.shape == (37, 3)
    assert torch.equal(nb.index, i[:, :3])
    assert torch.allclose(nb.dist.double(), d[:, :3], atol=1e-6)
    dist, index = nb  # unpacks like a tuple
    assert torch.equal(index, nb.index)


def test_training_image_memorized_noise_not():
    train = load_dataset("mnist5k", "heldout").x  # (500, 1, 28, 28)
    g = torch.Generator().manual_seed(0)
    noise = torch.rand(3, 1, 28, 28, generator=g) * 2 - 1
    samples = torch.cat([train[[7, 123]], noise])  # 2 copies + 3 noise images
    res = memorization(samples, train)
    assert res.d1[:2].eq(0).all() and res.nn_index[:2].tolist() == [7, 123]
    assert res.memorized.tolist() == [True, True, False, False, False]
    assert (res.d2 >= res.d1).all() and res.feat_dist is None
    assert np.isclose(res.fraction, 0.4)
    lo, hi = res.fraction_ci()
    assert lo < 0.4 < hi


def test_memorization_with_classifier_features():
    train = load_dataset("mnist5k", "heldout").x[:100]
    clf = FeatureClassifier(1, 10, width=4).eval()
    samples = torch.cat([train[:2], torch.rand(2, 1, 28, 28) * 2 - 1])
    res = memorization(samples, train, clf)
    assert res.feat_dist.shape == (4,) and res.structural.shape == (4,)
    assert torch.allclose(res.feat_dist[:2], torch.zeros(2), atol=1e-5)
    assert res.structural[:2].abs().max() < 1e-8 and (res.structural[2:] > 0).all()


def test_neighbour_bad_inputs():
    with pytest.raises(ValueError, match="samples items have shape"):
        nearest_neighbours(torch.zeros(2, 1, 4, 4), torch.zeros(5, 1, 5, 5))
    with pytest.raises(ValueError, match="samples contains NaN"):
        nearest_neighbours(torch.full((2, 3), float("nan")), torch.zeros(5, 3))
    with pytest.raises(ValueError, match="k must"):
        nearest_neighbours(torch.zeros(2, 3), torch.zeros(1, 3), k=2)


# ----------------------------------------------------------------------------- intervals


def test_wilson_and_bootstrap():
    lo, hi = wilson_interval(0, 20)
    assert lo == 0.0 and 0.1 < hi < 0.2  # Wilson: 0 / 20 -> [0, 0.161]
    lo, hi = wilson_interval(50, 100)
    assert np.isclose(lo, 0.4038, atol=1e-3) and np.isclose(hi, 0.5962, atol=1e-3)
    m, lo, hi = bootstrap_mean_ci(np.arange(100.0), n_boot=500)
    assert lo < m == 49.5 < hi
    with pytest.raises(ValueError, match="successes"):
        wilson_interval(5, 4)


# ----------------------------------------------------------------------------- classifier


@pytest.mark.parametrize("size", [(28, 28), (8, 8), (1, 1)])
def test_classifier_shapes(size):
    clf = FeatureClassifier(3, 7, width=4, image_size=size)
    x = torch.randn(5, 3, *size)
    assert clf(x).shape == (5, 7) and clf.features(x).shape == (5, 16)
    assert clf.feature_maps(x).shape[:2] == (5, 8)
    if size == (28, 28):
        assert clf.feature_maps(x).shape[2:] == (7, 7)


@pytest.fixture
def one_thread():
    """Tiny training runs are faster on one thread when the CPU is shared."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_get_classifier_learns_and_caches(tmp_path, one_thread):
    full = load_dataset("digits")
    train, held = full.subset(slice(0, 1500), "digits/first"), full.subset(slice(1500, None))
    kw = dict(steps=150, width=8, batch_size=64, progress=False, heldout=held)
    clf, rep = get_classifier(train, **kw)
    assert isinstance(rep, ClassifierReport) and rep.steps == 150 and rep.seconds > 0
    assert rep.heldout_accuracy > 0.6 and rep.train_accuracy > 0.6  # chance is 0.1
    assert not clf.training
    assert np.isclose(class_accuracy(clf, held.x, held.y), rep.heldout_accuracy)
    assert list((tmp_path / "cache" / "classifier").glob("*.pt"))
    clf2, rep2 = get_classifier(train, **kw)  # from the cache: same weights, same report
    assert rep2 == rep
    assert torch.equal(extract_features(clf2, held.x[:10]), extract_features(clf, held.x[:10]))


def test_class_accuracy_bad_input():
    clf = FeatureClassifier(1, 10, width=4)
    with pytest.raises(ValueError, match="y has 3"):
        class_accuracy(clf, torch.zeros(4, 1, 28, 28), torch.zeros(3, dtype=torch.long))


def test_imagedata_accepted_as_train_x():
    d = ImageData(torch.randn(6, 1, 3, 3), torch.zeros(6, dtype=torch.long), "t", 1)
    nb = nearest_neighbours(d.x[:2], d, k=2)
    assert nb.index[:, 0].tolist() == [0, 1]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_paths():
    full = load_dataset("digits")
    clf, rep = get_classifier(full.subset(slice(0, 1500)), steps=50, width=8, progress=False)
    assert next(clf.parameters()).is_cuda and rep.device == "cuda"
    train = load_dataset("mnist5k", "heldout").x
    samples = train[:3].cuda()
    nb = nearest_neighbours(samples, train, k=2)
    assert nb.index[:, 0].tolist() == [0, 1, 2] and nb.dist[:, 0].eq(0).all()
    res = memorization(samples, train, FeatureClassifier(1, 10, width=4).cuda())
    assert res.memorized.all() and res.structural.abs().max() < 1e-6
