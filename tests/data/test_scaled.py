"""Data scaled by k (the calibrated setting of issue 14) and the map back to what is scored."""

import pytest
import torch

from flowstage_lib.data import ImageData, calibrated_decode, scale_data


def _data(kind="pixels", decoder=None):
    x = torch.linspace(-1, 1, 6 * 4).reshape(6, 1, 2, 2)
    return ImageData(x, torch.arange(6) % 2, "toy/train", 2, kind=kind, decoder=decoder)


def test_scale_data_multiplies_and_decodes_back():
    d = _data()
    s = scale_data(d, 4.25)
    assert torch.equal(s.x, (d.x.double() * 4.25).float()) and torch.equal(s.y, d.y)
    assert s.name == "toy/train*4.25" and s.num_classes == 2 and s.kind == "latent"
    assert torch.allclose(s.decoder(s.x), d.x, atol=1e-7)  # back to the pixels
    assert torch.allclose(s.to_pixels(), d.to_pixels(), atol=1e-7)
    assert d.kind == "pixels" and d.decoder is None  # the original is untouched
    # latents: divide by k, then the latent decoder
    lat = scale_data(_data("latent", decoder=lambda z: 2 * z), 3.0)
    assert torch.allclose(lat.decoder(lat.x), 2 * _data().x, atol=1e-6)
    syn = scale_data(_data("synthetic"), 2.0)
    assert syn.kind == "synthetic" and syn.decoder is None


def test_calibrated_decode():
    x = torch.tensor([[3.0, -6.0]])
    assert torch.equal(calibrated_decode(3.0)(x), torch.tensor([[1.0, -2.0]]))
    assert torch.equal(calibrated_decode(3.0, then=lambda z: z + 1)(x), torch.tensor([[2.0, -1.0]]))
    assert "data_scale=3.0" in repr(calibrated_decode(3.0))
    with pytest.raises(ValueError, match="data_scale"):
        calibrated_decode(0.0)
    with pytest.raises(TypeError, match="data_scale"):
        scale_data(_data(), "2")
    with pytest.raises(TypeError, match="then"):
        calibrated_decode(2.0, then=3)
    with pytest.raises(TypeError, match="ImageData"):
        scale_data(torch.zeros(2, 1, 2, 2), 2.0)
