"""Time-split velocities: oracle -> model (Fig. 5 / 13) and stage swap (Table 1)."""

import torch

from flowstage_lib.oracle import OracleVelocity
from flowstage_lib.path import stagewise_grid, uniform_grid
from flowstage_lib.solver import (
    MixedVelocity,
    ModelVelocity,
    StageSwapVelocity,
    euler_sample,
)


def test_oracle_all_the_way_lands_on_training_samples(make_model, toy_data):
    """t_switch = 1 follows Theorem 2.1's oracle to t = 1: retrieves training samples (Fig. 5),
    of the requested class when conditional."""
    x, y = toy_data
    oracle = OracleVelocity(x, labels=y, dtype=torch.float64)
    mixed = MixedVelocity(oracle, make_model(), t_switch=1.0)
    x0 = torch.randn(9, 1, 4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    labels = torch.arange(9) % 3
    out = euler_sample(mixed, x0, uniform_grid(50), labels).x1
    d = torch.cdist(out.flatten(1), x.flatten(1))  # (9, N)
    nn_d, nn_i = d.min(1)
    assert float(nn_d.max()) < 1e-6
    assert torch.equal(y[nn_i], labels)
    out_u = euler_sample(mixed, x0, uniform_grid(50), None).x1  # unconditional oracle
    assert float(torch.cdist(out_u.flatten(1), x.flatten(1)).min(1).values.max()) < 1e-6


def test_mixed_t_switch_zero_is_pure_model_exactly(make_model):
    m = make_model()
    calls = []

    def oracle(x_, t_, y_):
        calls.append(1)
        return torch.zeros_like(x_)

    x0 = torch.randn(5, 1, 4, 4)
    labels = torch.tensor([0, 1, 2, 0, 1])
    a = euler_sample(MixedVelocity(oracle, m, 0.0), x0, uniform_grid(10), labels).x1
    b = euler_sample(ModelVelocity(m), x0, uniform_grid(10), labels).x1
    assert torch.equal(a, b) and not calls


def test_mixed_switches_per_row():
    fa = lambda x, t, y: torch.full_like(x, 1.0)  # noqa: E731
    fb = lambda x, t, y: torch.full_like(x, 2.0)  # noqa: E731
    mv = MixedVelocity(fa, fb, 0.3)
    t = torch.tensor([0.0, 0.2999, 0.3, 0.9])
    out = mv(torch.zeros(4, 2), t, None)
    assert out[:, 0].tolist() == [1.0, 1.0, 2.0, 2.0]


def test_stage_swap_identical_models_equals_one_model(make_model):
    m = make_model()
    x0 = torch.randn(6, 1, 4, 4)
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    grid = stagewise_grid(5, 5, 0.2)
    a = euler_sample(StageSwapVelocity(m, m, 0.2), x0, grid, labels).x1
    b = euler_sample(ModelVelocity(m), x0, grid, labels).x1
    assert torch.equal(a, b)
    # and different models really are swapped at t_split
    m2 = make_model(seed=1)
    sw = StageSwapVelocity(m, m2, 0.2)
    xx, yy = torch.randn(2, 1, 4, 4), torch.tensor([0, 1])
    for tv, ref in ((0.1999, m), (0.2, m2)):
        t = torch.full((2,), tv)
        assert torch.equal(sw(xx, t, yy), ModelVelocity(ref)(xx, t, yy))
