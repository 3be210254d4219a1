"""Classifier-free guidance on a two-sided time interval (Table 3, Fig. 8b)."""

import math

import pytest
import torch

from flowstage_lib.oracle import OracleVelocity
from flowstage_lib.path import uniform_grid
from flowstage_lib.solver import (
    CFGVelocity,
    ModelVelocity,
    euler_sample,
    sample,
)


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


def test_cfg_formula_and_conventions(make_model):
    m = make_model()
    x, t, y = torch.randn(4, 1, 4, 4), torch.full((4,), 0.5), torch.tensor([0, 1, 2, 0])
    vc, vu = m(x, t, y), m(x, t, torch.full((4,), 3))
    w = 2.5
    out = CFGVelocity(m, w)(x, t, y)
    # CFGVelocity evaluates v_c and v_u in one batch of 2B rows: fp32 GEMMs of another batch
    # size round differently (~1e-5 relative here), hence the tolerance; a wrong formula is O(1)
    tol = {"rtol": 1e-4, "atol": 1e-4}
    assert torch.allclose(out, vu + w * (vc - vu), **tol)
    w_fm = w - 1  # flow_matching: (1 + w') v_c - w' v_u
    assert torch.allclose(out, (1 + w_fm) * vc - w_fm * vu, **tol)
    assert torch.equal(CFGVelocity(m, 1.0)(x, t, y), ModelVelocity(m)(x, t, y))
    # outside the interval: conditional velocity
    assert torch.allclose(CFGVelocity(m, w, (0.6, 0.9))(x, t, y), vc, **tol)


def test_cfg_records_divergence():
    cfg = CFGVelocity(_CondUncond(), 2.0, (0.5, 1.0), record=True)
    euler_sample(cfg, torch.zeros(3, 4), uniform_grid(4), torch.zeros(3, dtype=torch.long))
    t, div = cfg.divergence_curve()
    assert t.tolist() == [0.0, 0.25, 0.5, 0.75]
    assert torch.allclose(div, torch.full((4,), 2.0, dtype=torch.float64))  # ||1 - 0|| in 4-D


def test_cfg_scale_must_be_finite(make_model):
    with pytest.raises(ValueError, match="scale must be a finite number, got nan"):
        CFGVelocity(make_model(), float("nan"))
    with pytest.raises(TypeError, match="scale must be a real number"):
        CFGVelocity(make_model(), "2.5")


def test_cfg_refuses_what_it_cannot_guide(make_model, toy_data):
    x, _ = toy_data
    with pytest.raises(ValueError, match="built without labels.*no conditional velocity"):
        CFGVelocity(OracleVelocity(x, dtype=torch.float64), 2.5)
    with pytest.raises(ValueError, match=r"unconditional \(num_classes = 0\)"):
        CFGVelocity(make_model(num_classes=0), 2.5)


def test_cfg_guides_the_oracle_conditional_against_unconditional(toy_data):
    x, y = toy_data
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
