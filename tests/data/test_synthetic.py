"""Synthetic Gaussian clouds (paper Fig. 3)."""

from __future__ import annotations

import pytest
import torch

from flowstage_lib.data import synthetic_gaussian


@pytest.mark.parametrize("layout,shape", [("channels", (16, 1, 1)), ("row", (1, 1, 16))])
def test_synthetic_gaussian(layout, shape):
    d = synthetic_gaussian(16, 500, num_classes=3, spread=2.0, seed=1, layout=layout)
    assert d.shape == shape and d.N == 1500 and d.kind == "synthetic" and d.D == 16
    assert d.class_counts().tolist() == [500] * 3
    flat = d.x.flatten(1)
    assert abs(float(flat.std()) - 2.0) < 0.05 and abs(float(flat.mean())) < 0.05
    again = synthetic_gaussian(16, 500, num_classes=3, spread=2.0, seed=1, layout=layout)
    assert torch.equal(again.x, d.x)
    with pytest.raises(ValueError, match="layout"):
        synthetic_gaussian(4, 4, layout="grid")
    with pytest.raises(ValueError, match="spread"):
        synthetic_gaussian(4, 4, spread=0.0)
