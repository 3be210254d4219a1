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
