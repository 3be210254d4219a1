"""Velocity networks (DiT, MLPFlow, TinyMLP): shapes, adaLN-Zero init, null class, patches."""

import pytest
import torch

from flowstage_lib.models import DiT, ModelSpec, build_model, timestep_embedding

SMALL = {
    "dit": dict(depth=2, width=32, heads=2, patch=2),
    "mlp": dict(width=64, depth=2),
    "tiny": dict(hidden=16, layers=2),
}


@pytest.mark.parametrize(
    "family,shape",
    [("dit", (1, 8, 8)), ("dit", (3, 4, 6)), ("mlp", (1, 8, 8)), ("mlp", (5,)), ("tiny", (2,))],
)
@pytest.mark.parametrize("num_classes", [0, 3])
def test_output_shape(family, shape, num_classes):
    torch.manual_seed(0)
    model = build_model(ModelSpec(family, "S", shape, num_classes, SMALL[family]))
    x = torch.randn(4, *shape)
    t = torch.rand(4)
    y = torch.tensor([0, 1, 2, 3]) if num_classes else None
    assert model(x, t, y).shape == (4, *shape)
    # scalar t broadcasts; y=None means null class / unconditional
    assert model(x, torch.tensor(0.3), None).shape == (4, *shape)


@pytest.mark.parametrize("family", ["dit", "mlp"])
def test_adaln_zero_gives_zero_output_at_init(family):
    torch.manual_seed(0)
    model = build_model(ModelSpec(family, "S", (1, 8, 8), 10, SMALL[family]))
    out = model(torch.randn(3, 1, 8, 8), torch.rand(3), torch.tensor([0, 5, 10]))
    assert torch.equal(out, torch.zeros_like(out))


@pytest.mark.parametrize("family", ["dit", "mlp", "tiny"])
def test_null_class(family):
    """y == num_classes is the null class; y=None is the same; labels beyond are rejected."""
    shape = (2,) if family == "tiny" else (1, 8, 8)
    torch.manual_seed(0)
    model = build_model(ModelSpec(family, "S", shape, 4, SMALL[family]))
    for p in model.parameters():  # leave the zero init so the class embedding matters
        torch.nn.init.normal_(p, std=0.1)
    x, t = torch.randn(2, *shape), torch.rand(2)
    null = model(x, t, torch.full((2,), 4))
    assert torch.allclose(model(x, t, None), null)
    assert not torch.allclose(model(x, t, torch.zeros(2, dtype=torch.long)), null)
    if family != "tiny":
        with pytest.raises(ValueError, match="labels"):
            model(x, t, torch.full((2,), 5))


def test_dit_unpatchify_inverts_patch_layout():
    model = DiT((3, 4, 6), num_classes=0, depth=1, width=16, heads=2, patch=2)
    img = torch.arange(2 * 3 * 4 * 6, dtype=torch.float32).reshape(2, 3, 4, 6)
    # patchify by hand in the unpatchify layout: token (i, j) holds (p, p, C)
    p = 2
    tok = img.reshape(2, 3, 2, p, 3, p).permute(0, 2, 4, 3, 5, 1).reshape(2, 6, p * p * 3)
    assert torch.equal(model.unpatchify(tok), img)


def test_timestep_embedding_matches_formula_float64():
    t = torch.tensor([0.0, 0.25, 1.0])
    e = timestep_embedding(t, 6, max_period=100.0)
    f = torch.tensor([100.0 ** (-k / 3) for k in range(3)], dtype=torch.float64)
    ref = torch.cat([torch.cos(t.double()[:, None] * f), torch.sin(t.double()[:, None] * f)], 1)
    assert torch.allclose(e.double(), ref, atol=1e-6)
    assert timestep_embedding(t, 7).shape == (3, 7)


def test_dit_takes_sides_its_patch_does_not_divide():
    """A 4x7x7 latent at patch 2 is the 8x8 zero-padded input, cropped back (issue: the
    latent DiT needed patch 1)."""
    from flowstage_lib.models import DiT

    torch.manual_seed(0)
    odd = DiT((4, 7, 7), num_classes=3, depth=2, width=32, heads=2, patch=2)
    even = DiT((4, 8, 8), num_classes=3, depth=2, width=32, heads=2, patch=2)
    even.load_state_dict(odd.state_dict())
    for p in odd.parameters():  # leave adaLN-Zero's zero init: make the output non-trivial
        torch.nn.init.normal_(p, std=0.1)
    even.load_state_dict(odd.state_dict())
    x = torch.randn(5, 4, 7, 7, dtype=torch.float32)
    t = torch.rand(5)
    y = torch.tensor([0, 1, 2, 3, 0])  # 3 = the null class
    out = odd(x, t, y)
    assert out.shape == (5, 4, 7, 7)
    ref = even(torch.nn.functional.pad(x, (0, 1, 0, 1)), t, y)[:, :, :7, :7]
    torch.testing.assert_close(out, ref)
    assert out.abs().sum() > 0
    with pytest.raises(ValueError, match="patch must be a positive integer"):
        DiT((1, 28, 28), patch=0)
