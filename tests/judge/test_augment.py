"""Judge augmentation: shapes, ranges, and each transform against a direct construction."""

import math

import pytest
import torch

from flowstage_lib.metrics.judge.augment import (
    AugmentConfig,
    add_noise,
    affine_jitter,
    augment_batch,
    gaussian_blur,
)


def _digits(B=6, H=28, W=28, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = -torch.ones(B, 1, H, W)
    x[:, :, 8:20, 10:18] = torch.rand(B, 1, 12, 8, generator=g) * 2 - 1  # a blob in the middle
    return x


def test_augment_batch_shape_range_and_reproducibility():
    x = _digits(16)
    a = augment_batch(x, torch.Generator().manual_seed(1))
    b = augment_batch(x, torch.Generator().manual_seed(1))
    c = augment_batch(x, torch.Generator().manual_seed(2))
    assert a.shape == x.shape and a.dtype == torch.float32
    assert a.min() >= -1 and a.max() <= 1
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert not torch.equal(a, x)


def test_augment_batch_without_clamp_keeps_noise_outside_range():
    cfg = AugmentConfig(p_noise=1.0, p_blur=0.0, p_affine=0.0, clamp=False)
    out = augment_batch(_digits(32), torch.Generator().manual_seed(0), cfg)
    assert out.min() < -1


def test_noise_std_per_sample():
    x = torch.zeros(3, 1, 64, 64)
    out = add_noise(x, torch.tensor([0.0, 0.1, 0.3]), torch.Generator().manual_seed(0))
    std = out.flatten(1).std(1)
    assert std[0] == 0
    assert std[1:].tolist() == pytest.approx([0.1, 0.3], rel=0.05)


def test_noise_levels_drawn_up_to_noise_max():
    """With noise only, each sample's residual std lies in [0, noise_max] and spreads over it."""
    cfg = AugmentConfig(noise_max=0.3, p_noise=1.0, p_blur=0.0, p_affine=0.0, clamp=False)
    x = torch.zeros(200, 1, 28, 28)
    std = augment_batch(x, torch.Generator().manual_seed(3), cfg).flatten(1).std(1)
    assert std.max() <= 0.3 * 1.15 and std.max() > 0.25 and std.min() < 0.05


def test_blur_sigma_zero_is_identity_and_background_stays():
    x = _digits(4)
    assert torch.allclose(gaussian_blur(x, 0.0), x, atol=1e-6)
    blank = -torch.ones(2, 1, 28, 28)
    assert torch.allclose(gaussian_blur(blank, 1.5), blank, atol=1e-6)


def test_blur_matches_direct_2d_convolution():
    """Blur of a single bright pixel = the normalised 2-D Gaussian (outer product) kernel."""
    x = -torch.ones(1, 1, 11, 11)
    x[0, 0, 5, 5] = 1.0  # height 2 above the background
    s = 0.8
    d = torch.arange(-2, 3, dtype=torch.float64)
    k1 = torch.exp(-(d**2) / (2 * s * s))
    k2 = torch.outer(k1, k1) / k1.sum() ** 2  # (5, 5)
    out = gaussian_blur(x, s)[0, 0].double() + 1  # (11, 11) above background
    torch.testing.assert_close(out[3:8, 3:8], 2 * k2, rtol=1e-5, atol=1e-6)
    assert out.sum().item() == pytest.approx(2.0, rel=1e-5)


def test_integer_shift_equals_a_roll():
    x = _digits(2)
    out = affine_jitter(x, torch.tensor([[2.0, 0.0], [0.0, -1.0]]), torch.zeros(2))
    torch.testing.assert_close(out[0], torch.roll(x[0], 2, dims=2), atol=1e-5, rtol=0)
    torch.testing.assert_close(out[1], torch.roll(x[1], -1, dims=1), atol=1e-5, rtol=0)


def test_rotation_by_90_degrees_is_a_transpose_flip():
    x = torch.rand(1, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1
    out = affine_jitter(x, torch.zeros(1, 2), torch.tensor([90.0]))
    rot = torch.rot90(x, k=1, dims=(2, 3))
    rotm = torch.rot90(x, k=-1, dims=(2, 3))
    assert min((out - rot).abs().max(), (out - rotm).abs().max()) < 1e-5
    assert math.isclose(float(out.sum()), float(x.sum()), rel_tol=1e-5)


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match="x must be a"):
        gaussian_blur(torch.zeros(28, 28), 1.0)
    with pytest.raises(ValueError, match="sigma must be"):
        add_noise(torch.zeros(2, 1, 4, 4), torch.zeros(3))
    with pytest.raises(ValueError, match="p_noise"):
        AugmentConfig(p_noise=1.5)
    with pytest.raises(ValueError, match="noise_max"):
        AugmentConfig(noise_max=-0.1)
