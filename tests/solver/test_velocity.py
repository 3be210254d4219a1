"""Velocity functions: ModelVelocity, as_velocity."""

import torch

from flowstage_lib.solver import (
    ModelVelocity,
)


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
