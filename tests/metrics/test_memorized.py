"""Nearest neighbours and memorization (Fig. 5 / 13) vs brute force; the feature-map MSE."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from flowstage_lib.data import ImageData, load_dataset
from flowstage_lib.metrics import (
    FeatureClassifier,
    feature_map_mse,
    memorization,
    nearest_neighbours,
)


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


def test_imagedata_accepted_as_train_x():
    d = ImageData(torch.randn(6, 1, 3, 3), torch.zeros(6, dtype=torch.long), "t", 1)
    nb = nearest_neighbours(d.x[:2], d, k=2)
    assert nb.index[:, 0].tolist() == [0, 1]


def test_feature_map_mse_by_definition():
    g = torch.Generator().manual_seed(0)
    ma, mb = torch.randn(3, 2, 4, 4, generator=g), torch.randn(3, 2, 4, 4, generator=g)
    ref = [float(((ma[i].double() - mb[i].double()) ** 2).sum()) / 32 for i in range(3)]
    assert feature_map_mse(ma, mb).tolist() == pytest.approx(ref, rel=1e-6)
    with pytest.raises(ValueError, match="ma has shape"):
        feature_map_mse(ma, mb[:2])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_neighbours_and_memorization():
    train = load_dataset("mnist5k", "heldout").x
    samples = train[:3].cuda()
    nb = nearest_neighbours(samples, train, k=2)
    assert nb.index[:, 0].tolist() == [0, 1, 2] and nb.dist[:, 0].eq(0).all()
    res = memorization(samples, train, FeatureClassifier(1, 10, width=4).cuda())
    assert res.memorized.all() and res.structural.abs().max() < 1e-6
