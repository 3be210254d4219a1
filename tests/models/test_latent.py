"""Latent spaces (paper Sec. 5.3, Fig. 9 / 12 analogue): shapes, normalisation, training
reduces the reconstruction error, the alignment loss, caching. Tiny runs only."""

from __future__ import annotations

import math

import pytest
import torch

from flowstage_lib.data import ImageData, load_dataset
from flowstage_lib.metrics import FeatureClassifier
from flowstage_lib.models.latent import (
    AEReport,
    Autoencoder,
    LatentSpace,
    alignment_loss,
    reconstruction_table,
    train_autoencoder,
)


@pytest.fixture(autouse=True)
def _tmp_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FLOWSTAGE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("FLOWSTAGE_NO_CACHE", raising=False)
    n = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny runs are faster on one thread when the CPU is shared
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def small():
    d = load_dataset("mnist5k", "heldout")  # 500 images, 50 per digit
    return d.subset(slice(0, 400), "small/train"), d.subset(slice(400, None), "small/held")


def test_autoencoder_shapes():
    ae = Autoencoder(1, 4, width=8)
    x = torch.randn(3, 1, 28, 28)
    z = ae.encode(x)
    assert z.shape == (3, 4, 7, 7) and ae.decode(z).shape == x.shape
    assert Autoencoder(3, 2, width=4).encode(torch.randn(2, 3, 8, 8)).shape == (2, 2, 2, 2)


@pytest.mark.slow  # ~20 s on the shared 2-core CPU
def test_training_reduces_reconstruction_error(small):
    train, held = small
    kw = dict(width=8, batch_size=32, progress=False, heldout=held)
    _, r0 = train_autoencoder(train, "recon", steps=0, **kw)
    space, r1 = train_autoencoder(train, "recon", steps=60, **kw)
    assert isinstance(r1, AEReport) and r1.kind == "recon" and r1.latent_shape == (4, 7, 7)
    assert r1.recon_mse_train < 0.7 * r0.recon_mse_train
    assert r1.recon_mse_heldout < 0.7 * r0.recon_mse_heldout
    assert math.isnan(r1.align_cos) and 0.0 <= r1.linear_probe_accuracy <= 1.0
    # encode -> normalised per channel on the training set; decode -> pixels in [-1, 1]
    z = space.encode(train.x)
    assert z.shape == (400, 4, 7, 7)
    assert torch.allclose(z.mean(dim=(0, 2, 3)), torch.zeros(4), atol=1e-4)
    assert torch.allclose(z.std(dim=(0, 2, 3)), torch.ones(4), atol=1e-3)
    x = space.decode(z[:5])
    assert x.shape == (5, 1, 28, 28) and x.min() >= -1 and x.max() <= 1
    assert torch.allclose(x, space.autoencoder(train.x[:5]).clamp(-1, 1), atol=1e-5)
    lat = space.to_image_data(train)
    assert isinstance(lat, ImageData) and lat.kind == "latent" and lat.D == 196
    assert lat.to_pixels(lat.x[:2]).shape == (2, 1, 28, 28)
    assert "recon" in repr(space)


def test_aligned_cached_and_table(small, tmp_path):
    train, held = small
    clf = FeatureClassifier(1, 10, width=4).eval()
    kw = dict(classifier=clf, width=8, batch_size=32, steps=20, progress=False, heldout=held)
    space, rep = train_autoencoder(train, "aligned", **kw)
    assert isinstance(space, LatentSpace) and rep.kind == "aligned"
    assert -1.0 <= rep.align_cos <= 1.0
    assert len(list((tmp_path / "cache" / "autoencoder").glob("*.pt"))) == 1
    space2, rep2 = train_autoencoder(train, "aligned", **kw)  # cache hit
    assert rep2 == rep
    assert torch.equal(space2.encode(held.x[:4]), space.encode(held.x[:4]))
    table = reconstruction_table({"aligned": rep, "aligned again": rep2})
    assert list(table.index) == ["aligned", "aligned again"]
    assert {"recon_mse_train", "recon_mse_heldout", "seconds"} <= set(table.columns)


def test_aligned_spaces_are_keyed_by_the_classifier_weights(small, tmp_path):
    """Two classifiers of the same architecture but other weights give two cache entries;
    the same weights in another object hit the first."""
    train, held = small
    kw = dict(width=4, batch_size=8, steps=0, progress=False, heldout=held)
    torch.manual_seed(0)
    a = FeatureClassifier(1, 10, width=4).eval()
    torch.manual_seed(1)
    b = FeatureClassifier(1, 10, width=4).eval()
    a2 = FeatureClassifier(1, 10, width=4).eval()
    a2.load_state_dict(a.state_dict())
    for clf in (a, b, a2):
        train_autoencoder(train, "aligned", classifier=clf, **kw)
    assert len(list((tmp_path / "cache" / "autoencoder").glob("*.pt"))) == 2


def test_alignment_loss_zero_when_aligned():
    f = torch.randn(2, 6, 7, 7)
    loss, cos = alignment_loss(f, f, m1=0.0, m2=0.0)
    assert loss.abs() < 1e-6 and torch.isclose(cos, torch.tensor(1.0))
    loss2, cos2 = alignment_loss(-f, f, m1=0.0, m2=0.0)
    assert loss2 > 1.0 and cos2 < -0.99
    # feature maps of another size are pooled to the latent grid
    assert alignment_loss(f, torch.randn(2, 6, 14, 14))[0].isfinite()


def test_bad_inputs(small):
    train, _ = small
    with pytest.raises(ValueError, match="kind"):
        train_autoencoder(train, "vae", steps=0, progress=False)
    latent = ImageData(torch.zeros(4, 4, 7, 7), torch.zeros(4, dtype=torch.long), "z", 1, "latent")
    with pytest.raises(ValueError, match="pixel data"):
        train_autoencoder(latent, steps=0, progress=False)
    space, _ = train_autoencoder(train, steps=0, width=4, progress=False)
    with pytest.raises(ValueError, match="z must be"):
        space.decode(torch.zeros(2, 3, 7, 7))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_paths(small):
    train, held = small
    clf = FeatureClassifier(1, 10, width=4).cuda().eval()
    kw = dict(classifier=clf, width=8, steps=5, progress=False, heldout=held)
    space, rep = train_autoencoder(train, "aligned", **kw)
    assert rep.device == "cuda" and space.device.type == "cuda"
    z = space.encode(held.x[:4])  # CPU out
    assert space.decode(z.cuda()).is_cuda and space.decode(z).device.type == "cpu"
