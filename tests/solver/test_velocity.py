"""Velocity functions: ModelVelocity, as_velocity."""

import pytest
import torch

from flowstage_lib.oracle import OracleVelocity
from flowstage_lib.solver import ModelVelocity, as_velocity


def test_model_velocity_restores_the_callers_mode(make_model):
    m = make_model().train()
    m.net_part = torch.nn.Dropout(0.5).eval()  # a submodule in its own mode
    f = ModelVelocity(m)
    assert m.training, "wrapping must not switch the model to eval"
    x, t, y = torch.randn(2, 1, 4, 4), torch.full((2,), 0.5), torch.tensor([0, 1])
    seen = []
    hook = m.register_forward_pre_hook(lambda mod, args: seen.append(mod.training))
    f(x, t, y)
    hook.remove()
    assert seen == [False]  # evaluated in eval mode
    assert m.training and not m.net_part.training  # and every mode restored


def test_as_velocity_wraps_networks_and_oracles_and_refuses_the_rest(make_model):
    m = make_model()
    assert isinstance(as_velocity(m), ModelVelocity)
    x = torch.randn(3, 1, 4, 4, dtype=torch.float64)
    orc = OracleVelocity(x, dtype=torch.float64)
    xq, t = torch.randn(2, 1, 4, 4), torch.full((2,), 0.3)
    v = as_velocity(orc)(xq, t, None)
    assert v.dtype == xq.dtype  # cast back to the query's dtype
    assert torch.allclose(v.double(), orc.velocity(xq.double(), t.double()), atol=1e-6)
    f = lambda x, t, y: x  # noqa: E731
    assert as_velocity(f) is f
    with pytest.raises(TypeError, match="not a velocity function: int"):
        as_velocity(3)


class _Probe(torch.nn.Module):
    """A network that records whether its forward ran under autocast and in which dtype."""

    num_classes = 3

    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(16, 16)
        self.seen = []

    def forward(self, x, t, y):
        h = self.lin(x.flatten(1))
        self.seen.append((torch.is_autocast_enabled("cpu"), h.dtype))
        return h.view_as(x) * t.view(-1, 1, 1, 1)


def test_model_velocity_on_a_cpu_without_native_bf16_is_plain_fp32(monkeypatch):
    """Without native bf16 on the CPU the forward is the model's own fp32 call."""
    monkeypatch.setenv("FLOWSTAGE_CPU_BF16", "0")
    m = _Probe()
    x, t, y = torch.randn(2, 1, 4, 4), torch.full((2,), 0.5), torch.tensor([0, 1])
    v = ModelVelocity(m)(x, t, y)  # amp on by default
    assert m.seen == [(False, torch.float32)]
    with torch.no_grad():
        assert torch.equal(v, m(x, t, y))  # bit for bit
    assert torch.equal(ModelVelocity(m, amp=False)(x, t, y), v)


def test_model_velocity_on_a_cpu_with_native_bf16_autocasts(monkeypatch):
    """With native bf16 the forward runs under CPU autocast (unless ``amp=False``); the
    velocity comes back in x's dtype."""
    monkeypatch.setenv("FLOWSTAGE_CPU_BF16", "1")
    m = _Probe()
    x, t, y = torch.randn(2, 1, 4, 4), torch.full((2,), 0.5), torch.tensor([0, 1])
    v = ModelVelocity(m)(x, t, y)
    assert m.seen == [(True, torch.bfloat16)] and v.dtype == torch.float32
    ModelVelocity(m, amp=False)(x, t, y)
    assert m.seen[-1] == (False, torch.float32)


def test_bf16_autocast_per_device(monkeypatch):
    from flowstage_lib.models import bf16_autocast

    monkeypatch.setenv("FLOWSTAGE_CPU_BF16", "0")
    assert not isinstance(bf16_autocast("cpu"), torch.autocast)
    monkeypatch.setenv("FLOWSTAGE_CPU_BF16", "1")
    ctx = bf16_autocast("cpu")
    assert isinstance(ctx, torch.autocast) and ctx.fast_dtype == torch.bfloat16
    assert not isinstance(bf16_autocast("cpu", enabled=False), torch.autocast)
    assert not isinstance(bf16_autocast("cuda", enabled=False), torch.autocast)
    with pytest.warns(UserWarning) if not torch.cuda.is_available() else _nothing():
        ctx = bf16_autocast(torch.device("cuda", 0))
    assert isinstance(ctx, torch.autocast) and ctx.fast_dtype == torch.bfloat16


def test_cpu_bf16_reads_the_cpu_flags_and_the_override(monkeypatch):
    from flowstage_lib.tooling import devices

    monkeypatch.delenv("FLOWSTAGE_CPU_BF16", raising=False)
    monkeypatch.setattr(devices, "_cpu_flags", lambda: frozenset({"avx2", "amx_bf16"}))
    assert devices.cpu_bf16()
    monkeypatch.setattr(devices, "_cpu_flags", lambda: frozenset({"avx2", "fma"}))
    assert not devices.cpu_bf16()
    monkeypatch.setenv("FLOWSTAGE_CPU_BF16", "1")
    assert devices.cpu_bf16()
    monkeypatch.setenv("FLOWSTAGE_CPU_BF16", "yes")
    with pytest.raises(ValueError, match="FLOWSTAGE_CPU_BF16 must be 1"):
        devices.cpu_bf16()


def test_numerics_enter_cache_keys(monkeypatch):
    """A CPU-keyed profile's entries computed with bf16 networks never share a key with fp32
    ones; a CUDA-keyed profile's keys do not depend on this machine's CPU."""
    from flowstage_lib.tooling.cache import cache_key
    from flowstage_lib.tooling.devices import numerics

    keys = {}
    for flag in ("0", "1"):
        monkeypatch.setenv("FLOWSTAGE_CPU_BF16", flag)
        keys[flag] = cache_key("probe", {"a": 1}, modules=["flowstage_lib.solver.velocity"])
        assert numerics("gpu") == "default"
    assert keys["0"] != keys["1"]
    monkeypatch.setenv("FLOWSTAGE_CPU_BF16", "1")
    assert numerics("cpu") == "cpu-bf16"


def _nothing():
    import contextlib

    return contextlib.nullcontext()
