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


def test_model_velocity_on_the_cpu_is_plain_fp32():
    """bf16 autocast is for CUDA only: on the CPU the forward is the model's own fp32 call."""
    m = _Probe()
    x, t, y = torch.randn(2, 1, 4, 4), torch.full((2,), 0.5), torch.tensor([0, 1])
    v = ModelVelocity(m)(x, t, y)  # amp on by default
    assert m.seen == [(False, torch.float32)]
    with torch.no_grad():
        assert torch.equal(v, m(x, t, y))  # bit for bit
    assert torch.equal(ModelVelocity(m, amp=False)(x, t, y), v)


def test_bf16_autocast_is_for_cuda_only():
    from flowstage_lib.models import bf16_autocast

    assert not isinstance(bf16_autocast("cpu"), torch.autocast)
    assert not isinstance(bf16_autocast("cuda", enabled=False), torch.autocast)
    with pytest.warns(UserWarning) if not torch.cuda.is_available() else _nothing():
        ctx = bf16_autocast(torch.device("cuda", 0))
    assert isinstance(ctx, torch.autocast) and ctx.fast_dtype == torch.bfloat16


def _nothing():
    import contextlib

    return contextlib.nullcontext()
