"""The clock identity in practice (issue 14): Euler on data k x on the plain grid, divided by k,
is Euler on x on the grid timestep_shift(t, k) (Euler on this path is DDIM); and the cross-check
function pairs the two sample sets with the right grids, intervals and noise."""

import numpy as np
import pytest
import torch

from flowstage_lib.data import ImageData
from flowstage_lib.experiments.clock_check import native_on_mapped_grid
from flowstage_lib.metrics.evaluate import balanced_labels, sample_set
from flowstage_lib.oracle import OracleVelocity
from flowstage_lib.path import shifted_grid, timestep_shift, uniform_grid
from flowstage_lib.solver import CFGVelocity, euler_sample
from flowstage_lib.training.zoo import get_model, zoo_decode


@pytest.fixture(autouse=True)
def _tmp_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("FLOWSTAGE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("FLOWSTAGE_NO_CACHE", raising=False)


def _toy(n=30, d=2, classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % classes
    centres = torch.randn(classes, d, generator=g, dtype=torch.float64)
    x = centres[y] + 0.4 * torch.randn(n, d, generator=g, dtype=torch.float64)
    return x, y


def _own_oracle(x1: np.ndarray, x: np.ndarray, t: float) -> np.ndarray:
    """u*(x, t) = (E[x1 | x_t = x] - x) / (1 - t), written out in numpy float64."""
    d2 = ((x[:, None, :] - t * x1[None]) ** 2).sum(-1) / (2 * (1 - t) ** 2)  # (B, N)
    w = np.exp(-(d2 - d2.min(1, keepdims=True)))
    w /= w.sum(1, keepdims=True)
    return (w @ x1 - x) / (1 - t)


def _own_euler(x1, labels, y, x0, grid, scale=1.0, interval=(0.0, 1.0)):
    """Euler with class-conditional oracle and CFG on [a, b), independent of the library."""
    x = x0.copy()
    for t, t_next in zip(grid[:-1], grid[1:], strict=True):
        v_c = np.stack([_own_oracle(x1[labels == c], x[i : i + 1], t)[0] for i, c in enumerate(y)])
        v = v_c
        if scale != 1.0 and interval[0] <= t < interval[1]:
            v_u = _own_oracle(x1, x, t)
            v = v_u + scale * (v_c - v_u)
        x = x + (t_next - t) * v
    return x


@pytest.mark.parametrize("k", [0.4, 4.25])
def test_euler_on_scaled_data_is_euler_on_the_shifted_grid(k):
    x, lab = _toy()
    g = torch.Generator().manual_seed(1)
    x0 = torch.randn(9, 2, generator=g, dtype=torch.float64)
    y = torch.arange(9) % 3
    plain = uniform_grid(20)
    scaled = OracleVelocity(k * x, labels=lab, dtype=torch.float64)
    native = OracleVelocity(x, labels=lab, dtype=torch.float64)
    for scale, (a, b) in ((1.0, (0.0, 1.0)), (2.5, (0.1, 0.5))):
        v_k = scaled if scale == 1.0 else CFGVelocity(scaled, scale, (a, b))
        i_nat = (timestep_shift(a, k), timestep_shift(b, k))
        v_1 = native if scale == 1.0 else CFGVelocity(native, scale, i_nat)
        x_k = euler_sample(v_k, x0, plain, y).x1  # (9, 2) on k x
        x_1 = euler_sample(v_1, x0, timestep_shift(plain, k), y).x1
        assert torch.allclose(x_k / k, x_1, rtol=0, atol=1e-11), (x_k / k - x_1).abs().max()
        # the same, by an Euler loop and an oracle written out here
        own = _own_euler(
            x.numpy(),
            lab.numpy(),
            y.numpy(),
            x0.numpy(),
            timestep_shift(plain, k).tolist(),
            scale,
            i_nat,
        )
        np.testing.assert_allclose(x_k.numpy() / k, own, rtol=0, atol=1e-10)
        # and the identity is not vacuous: the plain grid on x gives other samples
        x_plain = euler_sample(
            native if scale == 1.0 else CFGVelocity(native, scale, (a, b)), x0, plain, y
        ).x1
        assert (x_plain - x_1).abs().max() > 1e-3


def _images(n=24, classes=3):
    x, y = _toy(n=n, d=4, classes=classes)
    x = (x / x.abs().max() * 0.9).float().reshape(n, 1, 2, 2)
    return ImageData(x=x, y=y, name="toy/train", num_classes=classes)


def test_native_on_mapped_grid_pairs_and_maps_oracles():
    data, k = _images(), 3.0
    native = OracleVelocity(data.x.double(), labels=data.y, dtype=torch.float64)
    calib = OracleVelocity(k * data.x.double(), labels=data.y, dtype=torch.float64)
    common = dict(n=12, shape=(1, 2, 2), num_classes=3, data_scale=k, n_steps=16, seed=3)
    desc = {"native": "oracle x", "calibrated": "oracle 3x"}
    pair = native_on_mapped_grid(
        native, calib, cfg_scale=2.0, cfg_interval=(0.125, 0.5), describe=desc, **common
    )
    assert pair.native["x"].shape == pair.calibrated["x"].shape == (12, 1, 2, 2)
    assert torch.equal(pair.native["y"], balanced_labels(12, 3))
    assert torch.equal(pair.calibrated["y"], pair.native["y"])
    assert pair.grid_calibrated.dtype == torch.float64
    assert torch.equal(pair.grid_calibrated, uniform_grid(16))
    assert torch.allclose(pair.grid_native, 3 * uniform_grid(16) / (1 + 2 * uniform_grid(16)))
    assert pair.interval_native == pytest.approx((0.375 / 1.25, 1.5 / 2.0))
    # the identity: the two sets agree up to the uint8 rounding of the cache
    assert (pair.native["x"] - pair.calibrated["x"]).abs().max() <= 1 / 127.5 + 1e-6
    # without the mapped grid the native samples differ (the check has teeth)
    plain = sample_set(
        CFGVelocity(native, 2.0, (0.125, 0.5)),
        {"plain": 1},
        12,
        (1, 2, 2),
        3,
        grid=uniform_grid(16),
        seed=3,
    )
    assert (plain["x"] - pair.calibrated["x"]).abs().max() > 0.05
    # Table 2: a shifted calibrated grid maps to the composed shift s k
    p2 = native_on_mapped_grid(native, calib, grid=shifted_grid(16, 0.5), describe=desc, **common)
    assert torch.allclose(p2.grid_native, shifted_grid(16, 1.5), atol=1e-15)
    assert (p2.native["x"] - p2.calibrated["x"]).abs().max() <= 1 / 127.5 + 1e-6


def test_native_on_mapped_grid_errors():
    data = _images()
    o = OracleVelocity(data.x, labels=data.y)
    with pytest.raises(ValueError, match="data_scale is required"):
        native_on_mapped_grid(o, o, 4, (1, 2, 2), 3, describe={"native": 1, "calibrated": 2})
    with pytest.raises(ValueError, match="describe"):
        native_on_mapped_grid(o, o, 4, (1, 2, 2), 3, data_scale=2.0)
    with pytest.raises(ValueError, match="data_scale"):
        native_on_mapped_grid(o, o, 4, (1, 2, 2), 3, data_scale=-1.0, describe={})
    with pytest.raises(TypeError, match="native"):
        native_on_mapped_grid(3, o, 4, (1, 2, 2), 3, data_scale=2.0, describe={})


@pytest.mark.slow  # trains two smoke models on 24 toy images (a few seconds)
def test_zoo_calibrated_model_and_cross_check():
    data, k = _images(), 2.5
    nat = get_model("smoke", "S", data=data, progress=False)
    cal = get_model("smoke", "S", data=data, progress=False, data_scale=k)
    assert type(nat.model).__name__ == "MLPFlow" and nat.spec.data_scale == 1.0
    assert type(cal.model).__name__ == "Preconditioned" and cal.spec.data_scale == k
    rms = float(data.x.double().pow(2).mean().sqrt())
    assert cal.spec.sigma_data == pytest.approx(rms, rel=1e-5) and cal.key != nat.key
    assert zoo_decode(nat) is None and zoo_decode(cal).data_scale == k
    again = get_model("smoke", "S", data=data, progress=False, data_scale=k)  # from the cache
    assert all(torch.equal(again.ema_state[n], cal.ema_state[n]) for n in cal.ema_state)
    pair = native_on_mapped_grid(nat, cal, n=6, shape=(1, 2, 2), num_classes=3, n_steps=8)
    assert pair.data_scale == k and pair.native["x"].shape == (6, 1, 2, 2)
    assert torch.equal(pair.native["y"], pair.calibrated["y"])
    with pytest.raises(ValueError, match="native must be a k = 1"):
        native_on_mapped_grid(cal, cal, n=6, shape=(1, 2, 2), num_classes=3)


def test_mapped_interval_must_guide_the_same_steps():
    from flowstage_lib.experiments.clock_check import _same_guided_steps

    g = [0.0, 0.1, 0.2, 1.0]
    _same_guided_steps(g, g, (0.1, 0.2), (0.1, 0.2))  # same steps: fine
    with pytest.raises(ValueError, match="cfg_interval"):  # rounding put 0.1 just inside
        _same_guided_steps(g, g, (0.10000000000000002, 0.2), (0.1, 0.2))
