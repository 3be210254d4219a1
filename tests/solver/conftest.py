"""Shared toys of the solver tests: a small class-conditional network and a labelled cloud."""

import pytest
import torch

from flowstage_lib.models import ModelSpec, build_model


def _model(num_classes=3, seed=0):
    torch.manual_seed(seed)
    m = build_model(ModelSpec("mlp", "S", (1, 4, 4), num_classes, {"width": 32, "depth": 2}))
    for p in m.parameters():  # move away from the zero init so outputs depend on inputs
        torch.nn.init.normal_(p, std=0.2)
    return m.eval()


@pytest.fixture
def make_model():
    """``make_model(num_classes=3, seed=0)``: a residual MLP on (1, 4, 4) with random weights."""
    return _model


@pytest.fixture
def toy_data():
    """(x (12, 1, 4, 4) float64, y (12,) labels 0..2)."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(12, 1, 4, 4, generator=g, dtype=torch.float64)
    y = torch.arange(12) % 3
    return x, y
