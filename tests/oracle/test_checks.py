"""Input validation of the oracle velocity (flowstage_lib.oracle.checks): bad data, labels,
options, x_t, t, y and k are refused with an error naming the parameter."""

import math

import numpy as np
import pytest
import torch

from flowstage_lib import OracleVelocity

F64 = torch.float64


def make_data(n, d, seed, offset=1.5):
    g = torch.Generator().manual_seed(seed)
    data = torch.randn(n, d, generator=g, dtype=F64) * 1.3 + offset  # non-zero mean
    labels = torch.randperm(n, generator=g) % 3  # 3 classes, all non-empty
    return data, labels, g


@pytest.fixture(scope="module")
def small():
    data, labels, _ = make_data(12, 3, seed=11)
    return data, labels, OracleVelocity(data, labels, dtype=F64)


@pytest.mark.parametrize(
    "t", [1.0, 1.5, -0.1, float("nan"), float("inf"), torch.tensor([0.5, 1.0, 0.2, 0.1])]
)
def test_bad_t(small, t):
    _, _, oracle = small
    with pytest.raises(ValueError, match=r"^t must"):
        oracle.velocity(torch.zeros(4, 3, dtype=F64), t)


def test_bad_t_shape_and_type(small):
    _, _, oracle = small
    with pytest.raises(ValueError, match=r"^t must"):
        oracle.velocity(torch.zeros(4, 3, dtype=F64), torch.full((5,), 0.5))
    with pytest.raises(TypeError, match=r"^t must"):
        oracle.velocity(torch.zeros(4, 3, dtype=F64), "0.5")
    with pytest.raises(TypeError, match=r"^t must"):
        oracle.velocity(torch.zeros(4, 3, dtype=F64), True)


@pytest.mark.parametrize(
    "x",
    [
        torch.zeros(4, 4, dtype=F64),
        torch.zeros(4, dtype=F64),
        torch.zeros(4, 3, 1, dtype=F64),
        torch.tensor([[0.0, math.nan, 0.0]]),
        torch.tensor([[0.0, math.inf, 0.0]]),
    ],
)
def test_bad_x_t(small, x):
    _, _, oracle = small
    for call in (oracle.velocity, oracle.posterior_mean, oracle.stats):
        with pytest.raises(ValueError, match=r"^x_t\b"):
            call(x, 0.5)
    with pytest.raises(TypeError, match=r"^x_t must"):
        oracle.velocity([[0.0, 0.0, 0.0]], 0.5)


@pytest.mark.parametrize(
    "data",
    [
        torch.zeros(0, 3),
        torch.zeros(5, 0),
        torch.tensor([[0.0, math.nan]]),
        torch.tensor([[0.0, 1.0], [math.inf, 1.0]]),
        np.array([[0.0, -np.inf]]),
    ],
)
def test_bad_data(data):
    with pytest.raises(ValueError, match=r"^data\b"):
        OracleVelocity(data)


def test_bad_data_type():
    with pytest.raises(TypeError, match=r"^data must"):
        OracleVelocity([[0.0, 1.0]])


def test_bad_labels():
    data = torch.zeros(6, 2)
    with pytest.raises(ValueError, match=r"^labels must"):
        OracleVelocity(data, labels=torch.arange(5))
    with pytest.raises(ValueError, match=r"^labels must"):
        OracleVelocity(data, labels=torch.zeros(6, 1, dtype=torch.long))
    with pytest.raises(TypeError, match=r"^labels must"):
        OracleVelocity(data, labels=torch.zeros(6))


def test_bad_y(small):
    data, _, oracle = small
    x = torch.zeros(4, 3, dtype=F64)
    with pytest.raises(ValueError, match=r"^y = 7: no training samples"):
        oracle.velocity(x, 0.5, y=7)
    with pytest.raises(ValueError, match=r"^y = 9: no training samples"):
        oracle.stats(x, 0.5, y=torch.tensor([0, 1, 9, 2]))
    with pytest.raises(ValueError, match=r"^y must"):
        oracle.velocity(x, 0.5, y=torch.tensor([0, 1]))
    with pytest.raises(TypeError, match=r"^y must"):
        oracle.velocity(x, 0.5, y=torch.tensor([0.0, 1.0, 1.0, 1.0]))
    with pytest.raises(TypeError, match=r"^y must"):
        oracle.velocity(x, 0.5, y="cat")
    unlabelled = OracleVelocity(data, dtype=F64)
    with pytest.raises(ValueError, match=r"^y was given but the oracle was built without labels"):
        unlabelled.velocity(x, 0.5, y=0)


def test_bad_k(small):
    _, labels, oracle = small
    x = torch.zeros(2, 3, dtype=F64)
    with pytest.raises(ValueError, match=r"^k must"):
        oracle.top_weights(x, 0.5, k=13)
    with pytest.raises(ValueError, match=r"^k must"):
        oracle.top_weights(x, 0.5, k=0)
    n_min = int(torch.bincount(labels).min())
    with pytest.raises(ValueError, match=r"^k = \d+ exceeds"):
        oracle.top_weights(x, 0.5, k=n_min + 1, y=int(torch.bincount(labels).argmin()))
    with pytest.raises(TypeError, match=r"^k must"):
        oracle.top_weights(x, 0.5, k=2.0)
    assert oracle.top_weights(x, 0.5, k=12)[0].shape == (2, 12)


def test_bad_constructor_options():
    data = torch.zeros(4, 2)
    with pytest.raises(ValueError, match=r"^chunk_size must"):
        OracleVelocity(data, chunk_size=0)
    with pytest.raises(TypeError, match=r"^dtype must"):
        OracleVelocity(data, dtype=torch.int64)
    with pytest.raises(TypeError, match=r"^path must"):
        OracleVelocity(data, path="rectified")


# ---------------------------------------------------------------------- issue 12


@pytest.mark.parametrize("scale", [1e20, 1e39])
def test_data_beyond_the_compute_dtype_is_refused_at_construction(scale):
    """Finite in float64 but beyond float32 (values, or their squared norms): refused, naming
    the data and the dtype, instead of every later call blaming t."""
    data = torch.randn(8, 16, dtype=F64, generator=torch.Generator().manual_seed(0)) * scale
    with pytest.raises(ValueError, match=r"data overflow the compute dtype torch.float32"):
        OracleVelocity(data, dtype=torch.float32)
    orc = OracleVelocity(data, dtype=F64)  # float64 holds them
    assert torch.isfinite(orc.velocity(data[:2] * 0.5, 0.5)).all()


def test_meta_tensors_are_refused(small):
    data, labels, orc = small
    with pytest.raises(ValueError, match="data is a meta tensor"):
        OracleVelocity(torch.empty(4, 3, device="meta"))
    with pytest.raises(ValueError, match="x_t is a meta tensor"):
        orc.velocity(torch.empty(2, *data.shape[1:], device="meta"), 0.5)
    x = data[:2].clone()
    with pytest.raises(ValueError, match="t is a meta tensor"):
        orc.velocity(x, torch.empty(2, device="meta"))
    with pytest.raises(ValueError, match="y is a meta tensor"):
        orc.velocity(x, 0.5, torch.empty(2, dtype=torch.long, device="meta"))


def test_requires_grad_inputs_work_without_grad(small):
    data, labels, orc = small
    x = (data[:3] * 0.5).clone().requires_grad_(True)
    t = torch.full((3,), 0.4, dtype=F64, requires_grad=True)
    ref = orc.velocity(x.detach(), t.detach(), labels[:3])
    out = orc.velocity(x, t, labels[:3])
    assert torch.equal(out, ref) and not out.requires_grad
    stats = orc.stats(x, 0.4)
    assert not stats.mean.requires_grad
    built = OracleVelocity(data.clone().requires_grad_(True), labels, dtype=F64)
    assert torch.allclose(built.velocity(x, 0.4), orc.velocity(x.detach(), 0.4), atol=1e-12)
