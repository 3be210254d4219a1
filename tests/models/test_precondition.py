"""Preconditioning of the calibrated setting (issue 14): unit-scale input and output, built from
the spec, and a native spec that builds and keys exactly as before."""

import math

import pytest
import torch

from flowstage_lib.models import (
    MLP_SIZES,
    MLPFlow,
    ModelSpec,
    Preconditioned,
    build_model,
    data_rms,
)
from flowstage_lib.models.precondition import input_scale, output_scale
from flowstage_lib.solver import CFGVelocity, ModelVelocity
from flowstage_lib.tooling import cache
from flowstage_lib.training import TrainConfig, run_key

SMALL = dict(family="mlp", size="S", input_shape=(1, 4, 4), num_classes=3)
OVR = {"width": 8, "cond_dim": 8}


class _Data:
    x = torch.linspace(-1, 1, 5 * 16).reshape(5, 1, 4, 4)
    y = torch.tensor([0, 1, 2, 0, 1])


def test_native_spec_builds_and_keys_as_before(monkeypatch, tmp_path):
    monkeypatch.setenv("FLOWSTAGE_CACHE", str(tmp_path))
    spec = ModelSpec(**SMALL, overrides=OVR)
    # the dict (and so every cache key) has exactly the keys it had before the new fields
    old = {"family": "mlp", "size": "S", "input_shape": [1, 4, 4], "num_classes": 3}
    assert spec.to_dict() == {**old, "overrides": OVR}
    cfg = TrainConfig(device="cpu")
    params = {  # run_key's params written out by hand, with the old spec dict
        "spec": {**old, "overrides": OVR},
        "cfg": {
            k: v for k, v in vars(cfg).items() if k not in ("steps", "checkpoint_every", "device")
        },
        "data_x": cache.tensor_fingerprint(_Data.x),
        "data_y": cache.tensor_fingerprint(_Data.y),
        "device": "cpu",
    }
    computed_in = ("flowstage_lib.training.checkpoints",)  # the module run_key keys from
    assert run_key(spec, _Data, cfg) == cache.cache_key("train", params, modules=computed_in)
    # ... and builds the plain network, weight for weight
    torch.manual_seed(0)
    m = build_model(spec)
    torch.manual_seed(0)
    depth = MLP_SIZES["S"]["depth"]  # the ladder's S, with OVR's width and cond_dim
    ref = MLPFlow((1, 4, 4), num_classes=3, width=8, depth=depth, mlp_ratio=1.0, cond_dim=8)
    assert type(m) is MLPFlow
    assert m.state_dict().keys() == ref.state_dict().keys()
    assert all(torch.equal(v, ref.state_dict()[k]) for k, v in m.state_dict().items())
    # the key moves with k and with sigma_data
    keys = {
        run_key(ModelSpec(**SMALL, overrides=OVR, data_scale=k, sigma_data=s), _Data, cfg)
        for k, s in ((1.0, 0.0), (4.0, 0.5), (4.25, 0.5), (4.0, 0.6), (1.0, 0.5))
    }
    assert len(keys) == 5


def test_spec_rejects_bad_scales():
    for bad in (0.0, -1.0, math.inf, math.nan):
        with pytest.raises(ValueError, match="data_scale"):
            ModelSpec(**SMALL, data_scale=bad)
    with pytest.raises(ValueError, match="sigma_data"):
        ModelSpec(**SMALL, sigma_data=-0.1)
    with pytest.raises(TypeError, match="data_scale"):
        ModelSpec(**SMALL, data_scale="4")
    net = build_model(ModelSpec(**SMALL, overrides=OVR))
    with pytest.raises(ValueError, match="sigma_data"):
        Preconditioned(net, 4.0, 0.0)
    with pytest.raises(ValueError, match="x must"):
        data_rms(torch.zeros(0))


def test_scales_at_the_ends_and_unit_rms_in_float64():
    k, r = 4.0, 0.8
    t = torch.tensor([0.0, 1.0], dtype=torch.float64)
    s = input_scale(t, k, r)
    assert s[0].item() == 1.0  # t = 0: pure noise passes as is
    assert s[1].item() == pytest.approx(k * r, rel=1e-15)  # t -> 1: x1 / r
    assert output_scale(k, r) == pytest.approx(
        math.sqrt(11.24), rel=1e-15
    )  # (kr)^2 + 1 = 3.2^2 + 1
    # Monte Carlo on non-centred data (mean 0.5, std 0.3: rms^2 = 0.34), 400k coordinates
    g = torch.Generator().manual_seed(0)
    x1 = 0.5 + 0.3 * torch.randn(100_000, 4, generator=g, dtype=torch.float64)
    r = data_rms(x1, digits=15)
    assert r == pytest.approx(math.sqrt(0.34), rel=3e-3)
    x0 = torch.randn(x1.shape, generator=g, dtype=torch.float64)
    for tv in (0.0, 0.1, 0.5, 0.9, 0.999):
        x_t = tv * k * x1 + (1 - tv) * x0
        unit = x_t / input_scale(torch.tensor(tv, dtype=torch.float64), k, r)
        assert unit.pow(2).mean().sqrt().item() == pytest.approx(1.0, abs=5e-3)
    u = (k * x1 - x0) / output_scale(k, r)
    assert u.pow(2).mean().sqrt().item() == pytest.approx(1.0, abs=5e-3)


def test_preconditioned_forward_and_interfaces():
    spec = ModelSpec(**SMALL, overrides=OVR, data_scale=3.0, sigma_data=0.5)
    torch.manual_seed(0)
    m = build_model(spec)
    assert isinstance(m, Preconditioned) and isinstance(m.net, MLPFlow)
    assert m.num_classes == 3 and m.input_shape == (1, 4, 4)
    assert list(m.buffers()) == [] and all(k.startswith("net.") for k in m.state_dict())
    with torch.no_grad():  # non-zero output layer so the check is not 0 == 0
        for p in m.parameters():
            p.copy_(torch.randn_like(p) * 0.3)
    x = torch.randn(4, 1, 4, 4)
    t = torch.tensor([0.0, 0.3, 0.7, 0.99])
    y = torch.tensor([0, 1, 2, 3])
    s = torch.sqrt((t * 1.5) ** 2 + (1 - t) ** 2).view(4, 1, 1, 1)
    want = math.sqrt(1.5**2 + 1) * m.net(x / s, t, y)
    assert torch.allclose(m(x, t, y), want, rtol=1e-6, atol=1e-6)
    assert torch.allclose(m(x, 0.3, y)[1], m(x, t, y)[1])  # a scalar t broadcasts
    # the samplers take it as they take any network
    v = ModelVelocity(m)(x, t, y)
    assert torch.allclose(v, want, rtol=1e-6, atol=1e-6)
    assert CFGVelocity(m, 2.0)(x, t, y).shape == x.shape


@pytest.mark.parametrize("sigma", [0.0, 0.5])
def test_trainer_optimizes_the_unit_scale_loss(monkeypatch, sigma):
    """The logged (optimized) loss of a preconditioned model is the velocity MSE / c_out^2
    (the per-t bin losses stay in velocity units); a plain model's is the MSE itself."""
    monkeypatch.setenv("FLOWSTAGE_NO_CACHE", "1")
    from flowstage_lib.training import train

    spec = ModelSpec(**SMALL, overrides=OVR, data_scale=3.0, sigma_data=sigma)
    data = type("D", (), {"x": 3.0 * _Data.x, "y": _Data.y, "num_classes": 3})
    cfg = TrainConfig(steps=1, batch_size=64, log_every=1, log_oracle=False, device="cpu")
    h = train(spec, data, cfg, progress=False).history
    cnt = torch.tensor(h["bin_count"][0], dtype=torch.float64)
    per_bin = torch.tensor(h["bin_loss_cfm"][0], dtype=torch.float64).nan_to_num()
    mse = float((cnt * per_bin).sum() / cnt.sum())  # the step's velocity MSE
    weight = 1.0 / (1.5**2 + 1.0) if sigma else 1.0  # 1 / c_out^2, (k sigma)^2 = 2.25
    assert h["loss"][0] == pytest.approx(weight * mse, rel=1e-5)
