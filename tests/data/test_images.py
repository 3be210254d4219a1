"""ImageData (the data contract) and the one uint8 codec."""

from __future__ import annotations

import pytest
import torch

from flowstage_lib.data import ImageData, load_dataset


def test_subset_by_class_and_repr():
    d = load_dataset("mnist5k", "heldout")
    c3 = d.by_class(3)
    assert c3.N == 50 and (c3.y == 3).all() and c3.num_classes == 10
    s = d.subset([0, 2, 4])
    assert s.N == 3 and torch.equal(s.x[1], d.x[2])
    assert d.subset(slice(0, 5)).N == 5
    assert "N=500" in repr(d)
    with pytest.raises(ValueError, match="class"):
        d.by_class(10)


def test_imagedata_validation():
    x, y = torch.zeros(4, 1, 2, 2), torch.zeros(4, dtype=torch.long)
    with pytest.raises(ValueError, match="labels length mismatch"):
        ImageData(x, y[:3], "t", 1)
    with pytest.raises(ValueError, match="float32"):
        ImageData(x.double(), y, "t", 1)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        ImageData(x[:, 0], y, "t", 1)
    with pytest.raises(ValueError, match="labels must lie"):
        ImageData(x, y + 3, "t", 2)
    with pytest.raises(ValueError, match="decoder"):
        ImageData(x, y, "t", 1, kind="latent").to_pixels()
    lat = ImageData(x, y, "t", 1, kind="latent", decoder=lambda z: z * 0 + 1)
    assert lat.to_pixels().eq(1).all()
