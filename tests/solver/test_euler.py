"""Euler sampling against closed forms (float64), batching, labels and argument checks."""

import math

import numpy as np
import pytest
import torch

from flowstage_lib.path import shifted_grid, stagewise_grid, uniform_grid
from flowstage_lib.solver import (
    ModelVelocity,
    euler_sample,
    predict_x1,
    sample,
)

GRIDS = [uniform_grid(7), shifted_grid(9, 0.5), shifted_grid(5, 3.0), stagewise_grid(3, 4, 0.2)]


@pytest.mark.parametrize("grid", GRIDS)
def test_euler_never_evaluates_t1(grid):
    seen = []

    def v(x, t, y):
        seen.append(t.clone())
        return torch.zeros_like(x)

    euler_sample(v, torch.zeros(3, 2), grid)
    ts = torch.stack(seen)
    assert len(seen) == len(grid) - 1
    assert torch.allclose(ts[:, 0].double(), grid[:-1]) and bool((ts < 1).all())


@pytest.mark.parametrize("grid", GRIDS)
def test_euler_constant_and_linear_fields_float64(grid):
    x0 = torch.randn(5, 3, dtype=torch.float64)
    c = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    out = euler_sample(lambda x, t, y: c.expand_as(x), x0, grid).x1
    assert torch.allclose(out, x0 + c, atol=1e-14)  # exact for a constant field
    lam = -0.7
    out = euler_sample(lambda x, t, y: lam * x, x0, grid).x1
    prod = math.prod(1 + lam * d for d in grid.diff().tolist())  # discrete closed form
    assert torch.allclose(out, x0 * prod, atol=1e-14)


def test_euler_linear_field_converges_to_exp():
    x0 = torch.ones(1, 1, dtype=torch.float64)
    errs = [
        abs(euler_sample(lambda x, t, y: x, x0, uniform_grid(n)).x1.item() - math.e)
        for n in (50, 100, 200)
    ]
    assert errs[0] / errs[1] == pytest.approx(2.0, rel=0.05)  # first order
    assert errs[1] / errs[2] == pytest.approx(2.0, rel=0.05)


@pytest.mark.parametrize("grid", GRIDS)
def test_euler_single_point_oracle_lands_exactly(grid):
    """u* = (x1 - x_t) / (1 - t) for one data point: Euler telescopes onto x1 on any grid."""
    target = torch.randn(1, 4, dtype=torch.float64)
    x0 = torch.randn(6, 4, dtype=torch.float64)
    t_seen = []

    def v(x, t, y):
        t_seen.append(t)
        return (target - x) / (1 - t[:, None])

    res = euler_sample(v, x0, grid, record=True)
    assert torch.allclose(res.x1, target.expand(6, 4), atol=1e-12)
    # x1_hat = x_t + (1 - t) v is the target at every step (Fig. 4 for N = 1)
    assert torch.allclose(res.x1_hat, target.expand(len(grid) - 1, 6, 4), atol=1e-12)
    assert res.v_norm.shape == (len(grid) - 1, 6) and res.t.shape == (len(grid) - 1,)


def test_predict_x1():
    x, v = torch.randn(2, 3), torch.randn(2, 3)
    assert torch.allclose(predict_x1(x, 0.25, v), x + 0.75 * v)
    assert torch.allclose(predict_x1(x, torch.tensor([0.0, 0.5]), v)[1], x[1] + 0.5 * v[1])


def test_sample_batching_and_labels(make_model):
    m = make_model()
    f = ModelVelocity(m)
    a = sample(f, 10, (1, 4, 4), y=1, n_steps=5, seed=3, batch_size=10, device="cpu").x1
    b = sample(f, 10, (1, 4, 4), y=1, n_steps=5, seed=3, batch_size=3, device="cpu").x1
    assert a.shape == (10, 1, 4, 4) and torch.allclose(a, b, atol=1e-5)
    r = sample(
        f, 7, (1, 4, 4), y=torch.arange(7) % 3, n_steps=4, batch_size=4, record=True, device="cpu"
    )
    assert r.x1_hat.shape == (4, 7, 1, 4, 4) and r.v_norm.shape == (4, 7)


@pytest.mark.parametrize(
    "kwargs, err, match",
    [
        ({"n": 0}, ValueError, "n must be an integer >= 1, got 0"),
        ({"n": 2.5}, TypeError, "n must be an integer"),
        ({"batch_size": 0}, ValueError, "batch_size must be an integer >= 1, got 0"),
        ({"n_steps": 0}, ValueError, "n_steps must be an integer >= 1"),
        ({"n_steps": 2.0}, TypeError, "n_steps must be an integer"),
        ({"seed": -1}, ValueError, "seed must be an integer >= 0"),
        (
            {"y": [0, 1, 2]},
            ValueError,
            r"y must hold one label per sample, shape \(4,\), got \(3,\)",
        ),
        ({"y": torch.zeros(5, dtype=torch.long)}, ValueError, "shape \\(4,\\), got \\(5,\\)"),
        ({"y": torch.zeros(4)}, TypeError, "y must hold integer labels"),
        ({"y": "a"}, TypeError, "y must be None, an int or"),
    ],
)
def test_sample_names_bad_arguments(kwargs, err, match, make_model):
    args = {"n": 4, "batch_size": 2, "n_steps": 3, "seed": 0, **kwargs}
    with pytest.raises(err, match=match):
        sample(ModelVelocity(make_model()), shape=(1, 4, 4), device="cpu", **args)


def test_sample_accepts_lists_and_numpy_labels(make_model):
    f = ModelVelocity(make_model())
    ref = sample(f, 4, (1, 4, 4), y=torch.tensor([0, 1, 2, 0]), n_steps=3, device="cpu").x1
    as_list = sample(f, 4, (1, 4, 4), y=[0, 1, 2, 0], n_steps=3, device="cpu").x1
    as_np = sample(f, 4, (1, 4, 4), y=np.array([0, 1, 2, 0]), n_steps=3, device="cpu").x1
    assert torch.equal(ref, as_list) and torch.equal(ref, as_np)
    one = sample(f, 4, (1, 4, 4), y=1, n_steps=3, device="cpu").x1
    assert torch.equal(one, sample(f, 4, (1, 4, 4), y=np.int64(1), n_steps=3, device="cpu").x1)


def test_euler_sample_names_wrong_label_length():
    with pytest.raises(ValueError, match=r"y must hold one label per sample, shape \(3,\)"):
        euler_sample(lambda x, t, y: x, torch.zeros(3, 2), uniform_grid(2), torch.tensor([0, 1]))
