"""Sampler: grids, Euler against closed forms (float64), composite velocities (Fig. 5,
Table 1-3, Fig. 6)."""

import math

import numpy as np
import pytest
import torch

from flowstage_lib.models import ModelSpec, build_model
from flowstage_lib.oracle import OracleVelocity
from flowstage_lib.solver import (
    CFGVelocity,
    MixedVelocity,
    ModelVelocity,
    StageSwapVelocity,
    euler_sample,
    predict_x1,
    renoise_and_resume,
    sample,
    shifted_grid,
    stagewise_grid,
    uniform_grid,
)

GRIDS = [uniform_grid(7), shifted_grid(9, 0.5), shifted_grid(5, 3.0), stagewise_grid(3, 4, 0.2)]


def _model(num_classes=3, seed=0):
    torch.manual_seed(seed)
    m = build_model(ModelSpec("mlp", "S", (1, 4, 4), num_classes, {"width": 32, "depth": 2}))
    for p in m.parameters():  # move away from the zero init so outputs depend on inputs
        torch.nn.init.normal_(p, std=0.2)
    return m.eval()


# ------------------------------------------------------------------ grids


def test_uniform_grid():
    g = uniform_grid(50)
    assert g.shape == (51,) and g.dtype == torch.float64
    assert g[0] == 0.0 and g[-1] == 1.0
    assert torch.allclose(g.diff(), torch.full((50,), 0.02, dtype=torch.float64))


@pytest.mark.parametrize("s", [0.1, 0.3, 0.5, 0.7, 1.0, 2.0, 4.0])
def test_shifted_grid_endpoints_and_monotone(s):
    g = shifted_grid(50, s)
    assert g[0].item() == 0.0 and g[-1].item() == 1.0  # exactly
    assert bool((g.diff() > 0).all())
    u = uniform_grid(50)
    ref = s * u / (1 + (s - 1) * u)  # Table 2's formula, independently
    assert torch.allclose(g, ref, atol=1e-15)
    if s < 1:  # more steps early (navigation)
        assert bool((g[1:-1] < u[1:-1]).all())
    if s == 1.0:
        assert torch.allclose(g, u)


def test_stagewise_grid():
    g = stagewise_grid(25, 25, 0.2)
    assert g.shape == (51,)
    assert (g == 0.2).sum() == 1 and (g <= 0.2).sum() == 26
    assert torch.allclose(g[:26].diff(), torch.full((25,), 0.2 / 25, dtype=torch.float64))
    assert torch.allclose(g[25:].diff(), torch.full((25,), 0.8 / 25, dtype=torch.float64))
    with pytest.raises(ValueError):
        stagewise_grid(5, 5, 1.0)


# ------------------------------------------------------------------ Euler


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


def test_sample_batching_and_labels():
    m = _model()
    f = ModelVelocity(m)
    a = sample(f, 10, (1, 4, 4), y=1, n_steps=5, seed=3, batch_size=10, device="cpu").x1
    b = sample(f, 10, (1, 4, 4), y=1, n_steps=5, seed=3, batch_size=3, device="cpu").x1
    assert a.shape == (10, 1, 4, 4) and torch.allclose(a, b, atol=1e-5)
    r = sample(
        f, 7, (1, 4, 4), y=torch.arange(7) % 3, n_steps=4, batch_size=4, record=True, device="cpu"
    )
    assert r.x1_hat.shape == (4, 7, 1, 4, 4) and r.v_norm.shape == (4, 7)


# ------------------------------------------------------------------ composites


def _toy_data(n=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, 4, 4, generator=g, dtype=torch.float64)
    y = torch.arange(n) % 3
    return x, y


def test_oracle_all_the_way_lands_on_training_samples():
    """t_switch = 1 follows Theorem 2.1's oracle to t = 1: retrieves training samples (Fig. 5),
    of the requested class when conditional."""
    x, y = _toy_data()
    oracle = OracleVelocity(x, labels=y, dtype=torch.float64)
    mixed = MixedVelocity(oracle, _model(), t_switch=1.0)
    x0 = torch.randn(9, 1, 4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    labels = torch.arange(9) % 3
    out = euler_sample(mixed, x0, uniform_grid(50), labels).x1
    d = torch.cdist(out.flatten(1), x.flatten(1))  # (9, N)
    nn_d, nn_i = d.min(1)
    assert float(nn_d.max()) < 1e-6
    assert torch.equal(y[nn_i], labels)
    out_u = euler_sample(mixed, x0, uniform_grid(50), None).x1  # unconditional oracle
    assert float(torch.cdist(out_u.flatten(1), x.flatten(1)).min(1).values.max()) < 1e-6


def test_mixed_t_switch_zero_is_pure_model_exactly():
    x, y = _toy_data()
    m = _model()
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


def test_stage_swap_identical_models_equals_one_model():
    m = _model()
    x0 = torch.randn(6, 1, 4, 4)
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    grid = stagewise_grid(5, 5, 0.2)
    a = euler_sample(StageSwapVelocity(m, m, 0.2), x0, grid, labels).x1
    b = euler_sample(ModelVelocity(m), x0, grid, labels).x1
    assert torch.equal(a, b)
    # and different models really are swapped at t_split
    m2 = _model(seed=1)
    sw = StageSwapVelocity(m, m2, 0.2)
    xx, yy = torch.randn(2, 1, 4, 4), torch.tensor([0, 1])
    for tv, ref in ((0.1999, m), (0.2, m2)):
        t = torch.full((2,), tv)
        assert torch.equal(sw(xx, t, yy), ModelVelocity(ref)(xx, t, yy))


class _CondUncond(torch.nn.Module):
    """v_c = 1, v_u = 0 everywhere (null class = 3)."""

    num_classes = 3

    def __init__(self):
        super().__init__()
        self.p = torch.nn.Parameter(torch.zeros(()))

    def forward(self, x, t, y):
        return (y != self.num_classes).to(x.dtype).view(-1, *([1] * (x.ndim - 1))).expand_as(x)


@pytest.mark.parametrize("interval", [(0.1, 0.2), (0.0, 0.1), (0.3, 1.0)])
def test_cfg_interval_switches_exactly_at_bounds(interval):
    a, b = interval
    w = 2.5
    cfg = CFGVelocity(_CondUncond(), w, interval)
    eps = 1e-6
    ts = [a, a - eps, b - eps, b, 0.5]
    t = torch.tensor([max(v, 0.0) for v in ts], dtype=torch.float64)
    out = cfg(torch.zeros(5, 2, dtype=torch.float64), t, torch.zeros(5, dtype=torch.long))[:, 0]
    expect = [w if (a <= tv < b) else 1.0 for tv in t.tolist()]
    assert out.tolist() == expect
    assert out[0] == w  # on at t = a
    if b < 1:
        assert out[3] == 1.0  # off at t = b
    assert out[2] == w  # on just below b


def test_cfg_formula_and_conventions():
    m = _model()
    x, t, y = torch.randn(4, 1, 4, 4), torch.full((4,), 0.5), torch.tensor([0, 1, 2, 0])
    vc, vu = m(x, t, y), m(x, t, torch.full((4,), 3))
    w = 2.5
    out = CFGVelocity(m, w)(x, t, y)
    assert torch.allclose(out, vu + w * (vc - vu), atol=1e-5)
    w_fm = w - 1  # flow_matching: (1 + w') v_c - w' v_u
    assert torch.allclose(out, (1 + w_fm) * vc - w_fm * vu, atol=1e-5)
    assert torch.equal(CFGVelocity(m, 1.0)(x, t, y), ModelVelocity(m)(x, t, y))
    # outside the interval: conditional velocity
    assert torch.allclose(CFGVelocity(m, w, (0.6, 0.9))(x, t, y), vc, atol=1e-6)


def test_cfg_records_divergence():
    cfg = CFGVelocity(_CondUncond(), 2.0, (0.5, 1.0), record=True)
    euler_sample(cfg, torch.zeros(3, 4), uniform_grid(4), torch.zeros(3, dtype=torch.long))
    t, div = cfg.divergence_curve()
    assert t.tolist() == [0.0, 0.25, 0.5, 0.75]
    assert torch.allclose(div, torch.full((4,), 2.0, dtype=torch.float64))  # ||1 - 0|| in 4-D


def test_renoise_and_resume():
    x1 = torch.randn(3, 5, dtype=torch.float64)
    c = torch.full((5,), 0.5, dtype=torch.float64)
    g = torch.Generator().manual_seed(7)
    out = renoise_and_resume(lambda x, t, y: c.expand_as(x), x1, 0.4, 6, generator=g)
    eps = torch.randn(x1.shape, generator=torch.Generator().manual_seed(7)).double()
    assert torch.allclose(out, 0.4 * x1 + 0.6 * eps + 0.6 * c, atol=1e-6)  # constant field
    # single-point oracle brings any re-noised image to the point
    target = torch.randn(1, 5, dtype=torch.float64)
    out = renoise_and_resume(lambda x, t, y: (target - x) / (1 - t[:, None]), x1, 0.2, 4)
    assert torch.allclose(out, target.expand(3, 5), atol=1e-12)
    with pytest.raises(ValueError):
        renoise_and_resume(lambda x, t, y: x, x1, 1.0, 4)


# ------------------------------------------------------------------ bad arguments (issue 12)


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
def test_sample_names_bad_arguments(kwargs, err, match):
    args = {"n": 4, "batch_size": 2, "n_steps": 3, "seed": 0, **kwargs}
    with pytest.raises(err, match=match):
        sample(ModelVelocity(_model()), shape=(1, 4, 4), device="cpu", **args)


def test_sample_accepts_lists_and_numpy_labels():
    f = ModelVelocity(_model())
    ref = sample(f, 4, (1, 4, 4), y=torch.tensor([0, 1, 2, 0]), n_steps=3, device="cpu").x1
    as_list = sample(f, 4, (1, 4, 4), y=[0, 1, 2, 0], n_steps=3, device="cpu").x1
    as_np = sample(f, 4, (1, 4, 4), y=np.array([0, 1, 2, 0]), n_steps=3, device="cpu").x1
    assert torch.equal(ref, as_list) and torch.equal(ref, as_np)
    one = sample(f, 4, (1, 4, 4), y=1, n_steps=3, device="cpu").x1
    assert torch.equal(one, sample(f, 4, (1, 4, 4), y=np.int64(1), n_steps=3, device="cpu").x1)


def test_euler_sample_names_wrong_label_length():
    with pytest.raises(ValueError, match=r"y must hold one label per sample, shape \(3,\)"):
        euler_sample(lambda x, t, y: x, torch.zeros(3, 2), uniform_grid(2), torch.tensor([0, 1]))


def test_cfg_scale_must_be_finite():
    with pytest.raises(ValueError, match="scale must be a finite number, got nan"):
        CFGVelocity(_model(), float("nan"))
    with pytest.raises(TypeError, match="scale must be a real number"):
        CFGVelocity(_model(), "2.5")


def test_cfg_refuses_what_it_cannot_guide():
    x, _ = _toy_data()
    with pytest.raises(ValueError, match="built without labels.*no conditional velocity"):
        CFGVelocity(OracleVelocity(x, dtype=torch.float64), 2.5)
    with pytest.raises(ValueError, match=r"unconditional \(num_classes = 0\)"):
        CFGVelocity(_model(num_classes=0), 2.5)


def test_cfg_guides_the_oracle_conditional_against_unconditional():
    x, y = _toy_data()
    orc = OracleVelocity(x, labels=y, dtype=torch.float64)
    xt = torch.randn(6, 1, 4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    t, labels, w = torch.full((6,), 0.3, dtype=torch.float64), torch.arange(6) % 3, 2.5

    # independent float64 re-derivation of u*(x | y) and u*(x) for rectified flow
    def u_star(xq, keep):
        d = ((xq.flatten(1)[:, None] - 0.3 * x.flatten(1)[None]) ** 2).sum(-1)  # (B, N)
        logit = torch.where(keep, -d / (2 * 0.7**2), -math.inf)
        mean = (torch.softmax(logit, 1) @ x.flatten(1)).view_as(xq)
        return (mean - xq) / 0.7

    v_c = u_star(xt, y[None] == labels[:, None])
    v_u = u_star(xt, torch.ones(6, len(x), dtype=torch.bool))
    out = CFGVelocity(orc, w)(xt, t, labels)
    assert torch.allclose(out, v_u + w * (v_c - v_u), atol=1e-10)
    assert not torch.allclose(out, v_c, atol=1e-3)  # guidance really acts


def test_cfg_records_cover_one_run_only():
    cfg = CFGVelocity(_CondUncond(), 2.0, (0.5, 1.0), record=True)
    y = torch.zeros(3, dtype=torch.long)
    for _ in range(3):
        euler_sample(cfg, torch.zeros(3, 4), uniform_grid(4), y)
        assert len(cfg.records) == 4
    for _ in range(2):
        sample(cfg, 6, (4,), y=0, n_steps=4, batch_size=3, device="cpu")
        assert len(cfg.records) == 8  # 4 steps x 2 batches of this run
    t, div = cfg.divergence_curve()
    assert t.tolist() == [0.0, 0.25, 0.5, 0.75] and div.shape == (4,)


def test_model_velocity_restores_the_callers_mode():
    m = _model().train()
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


@pytest.mark.parametrize(
    "kwargs, err, match",
    [
        ({"n_steps": 0}, ValueError, "n_steps must be an integer >= 1, got 0"),
        ({"n_steps": 2.5}, TypeError, "n_steps must be an integer"),
        ({"t_resume": "0.5"}, TypeError, "t_resume must be a float"),
    ],
)
def test_renoise_and_resume_names_bad_arguments(kwargs, err, match):
    args = {"t_resume": 0.5, "n_steps": 4, **kwargs}
    with pytest.raises(err, match=match):
        renoise_and_resume(lambda x, t, y: x, torch.zeros(2, 3), **args)
