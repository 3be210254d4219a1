"""Independent Monte Carlo estimators of Theorem 2.1 (flowstage_lib.oracle.montecarlo) and Eq. 6
as printed (flowstage_lib.experiments.theorem21)."""

import pytest
import torch

from flowstage_lib import OracleVelocity
from flowstage_lib.experiments.sec2_oracle import toy_mixture_2d
from flowstage_lib.experiments.theorem21 import PATHS, typo_velocity
from flowstage_lib.oracle import bayes_mc_velocity, joint_mc_velocity


def _queries(x, path, t, n, seed=0):
    g = torch.Generator().manual_seed(seed)
    i = torch.randint(len(x), (n,), generator=g)
    noise = torch.randn(n, x.shape[1], generator=g, dtype=x.dtype)
    return float(path.alpha(t)) * x[i] + float(path.sigma(t)) * noise


@pytest.mark.parametrize("path_name", ["rectified flow", "cosine"])
@pytest.mark.parametrize("t", [0.0, 0.3, 0.8])
def test_bayes_mc_matches_eq19(path_name, t):
    x, _ = toy_mixture_2d()
    path = PATHS[path_name]
    q = _queries(x, path, t, 6)
    est, se = bayes_mc_velocity(x, path, q, t, 20000, torch.Generator().manual_seed(1))
    u = OracleVelocity(x, path=path, dtype=torch.float64).velocity(q, t)
    z = (est - u).abs() / (se + 1e-8 * (1 + u.abs()))
    assert z.max() < 5, z


def test_joint_mc_matches_eq19_early():
    x, _ = toy_mixture_2d()
    path = PATHS["rectified flow"]
    t = 0.1
    q = _queries(x, path, t, 4)
    est, se, n = joint_mc_velocity(
        x, path, q, t, 400_000, 0.15 * 0.9, torch.Generator().manual_seed(2)
    )
    u = OracleVelocity(x, path=path, dtype=torch.float64).velocity(q, t)
    ok = torch.isfinite(se[:, 0])
    assert ok.any() and (n[ok] >= 12).all()
    assert ((est[ok] - u[ok]).abs() / se[ok]).max() < 5


def test_eq6_typo_only_agrees_at_t0():
    x, _ = toy_mixture_2d()
    oracle = OracleVelocity(x, path=PATHS["rectified flow"], dtype=torch.float64)
    q = torch.randn(5, 2, dtype=torch.float64)
    assert torch.allclose(typo_velocity(oracle, q, 0.0), oracle.velocity(q, 0.0))
    assert not torch.allclose(typo_velocity(oracle, q, 0.5), oracle.velocity(q, 0.5))
