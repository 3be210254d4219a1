"""Section 2 of the book: the oracle field on the 2-D mixture and sampling with it.

- :func:`oracle_field`: u*(x, t) (Eq. 19) and its top-1 posterior weight on a grid;
- :func:`oracle_trajectories`: Euler paths of the oracle from noise;
- :func:`retrieval_table`: where they end (Fig. 5: the oracle retrieves training samples).

Every result is cached (key: the inputs and the package's source). Plots: :mod:`.plots_sec2`.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import torch

from flowstage_lib.experiments.theorem21 import PATHS
from flowstage_lib.oracle import OracleVelocity
from flowstage_lib.path import uniform_grid
from flowstage_lib.tooling.cache import cached

__all__ = [
    "TRAJ_SEED_OFFSET",
    "RETRIEVAL_CAPTION",
    "oracle_field",
    "oracle_trajectories",
    "retrieval_table",
]

# The trajectories' draws use seed + TRAJ_SEED_OFFSET, a stream apart from the data's and the
# Monte Carlo queries' (sec2_oracle.QUERY_SEED_OFFSET).
TRAJ_SEED_OFFSET = 2_000_003
RETRIEVAL_CAPTION = (
    "*On a point: end point within `tol` of a training point (cond.: of the requested class); "
    "points reached: how many distinct training points the trajectories end on.*"
)


#: Half-width of the square on which the 2-D oracle field is drawn (Sec. 2 and the explorer).
FIELD_EXTENT = 3.5


def _field(x, times, extent, n_grid, path) -> dict:
    oracle = OracleVelocity(x, path=PATHS[path], dtype=torch.float64)
    grid = torch.linspace(-extent, extent, n_grid, dtype=torch.float64)  # (G,)
    gy, gx = torch.meshgrid(grid, grid, indexing="ij")
    pts = torch.stack([gx.reshape(-1), gy.reshape(-1)], 1)  # (G*G, 2)
    us, tops = [], []
    for t in times:
        st = oracle.stats(pts, float(t))
        A, B = oracle.path.oracle_coefficients(float(t))
        us.append((A * st.mean + B * pts).reshape(n_grid, n_grid, 2))
        tops.append(st.top1.reshape(n_grid, n_grid))
    return {"grid": grid, "u": torch.stack(us), "top1": torch.stack(tops), "t": list(times)}


def oracle_field(
    x: torch.Tensor,
    times: Sequence[float],
    extent: float,
    n_grid: int,
    path: str = "rectified flow",
) -> dict:
    """The unconditional oracle field u*(x, t) (Eq. 19) and its top-1 posterior weight on an
    n_grid^2 grid of [-extent, extent]^2, for each t (cached).

    Args:
        x: (N, 2) float64 training points.

    Returns:
        dict: grid (G,) float64, u (T, G, G, 2), top1 (T, G, G) (row = second coordinate),
        t (T,) list of floats.
    """
    times = [float(t) for t in times]
    return cached(
        "sec2_field",
        {"x": x, "times": times, "n_grid": n_grid, "extent": extent, "path": path},
        lambda: _field(x, times, extent, n_grid, path),
    )


def _trajectories(x, y, n_traj, n_steps, seed, conditional, path) -> dict:
    g = torch.Generator().manual_seed(int(seed) + TRAJ_SEED_OFFSET)
    oracle = OracleVelocity(x, y, path=PATHS[path], dtype=torch.float64)
    z = torch.randn(n_traj, x.shape[1], generator=g, dtype=torch.float64)  # (B, 2)
    yq = torch.randint(int(y.max()) + 1, (n_traj,), generator=g) if conditional else None
    ts = uniform_grid(n_steps)  # (n_steps + 1,) float64
    traj = [z]
    for k in range(n_steps):
        dt = float(ts[k + 1] - ts[k])
        z = z + dt * oracle.velocity(z, float(ts[k]), yq)
        traj.append(z)
    d = torch.cdist(z, x)  # (B, N)
    two = d.topk(2, dim=1, largest=False)
    return {
        "traj": torch.stack(traj),
        "y": yq if conditional else torch.full((n_traj,), -1),
        "nearest": two.indices[:, 0],
        "dist": two.values[:, 0],
        "second": two.values[:, 1],
    }


def oracle_trajectories(
    x: torch.Tensor,
    y: torch.Tensor,
    n_traj: int,
    n_steps: int,
    seed: int,
    conditional: bool,
    path: str = "rectified flow",
) -> dict:
    """Euler trajectories of the oracle from noise, on the uniform grid t_k = k / n_steps
    (the velocity is evaluated at t_0..t_{n-1} < 1, never at the singular t = 1); cached.

    Returns:
        dict: traj (n_steps + 1, B, 2), y (B,) requested labels (-1 unconditional),
        nearest (B,) index of the nearest training point of the end point, dist (B,) its
        distance, second (B,) distance to the second nearest. Draws use seed + TRAJ_SEED_OFFSET.
    """
    params = {"x": x, "y": y, "n_traj": n_traj, "n_steps": n_steps, "seed": seed}
    return cached(
        "sec2_trajectories",
        {**params, "conditional": conditional, "path": path},
        lambda: _trajectories(x, y, n_traj, n_steps, seed, conditional, path),
    )


def retrieval_table(
    x: torch.Tensor, y: torch.Tensor, n_traj: int, steps: Sequence[int], seed: int, tol: float
) -> pd.DataFrame:
    """Where the oracle's Euler trajectories end (Fig. 5: the oracle retrieves training points).

    One row per step count: the fraction of end points within ``tol`` of a training point
    (class-conditional: of the requested class), how many distinct points they reach and the
    median distance, unconditional and class-conditional.
    """
    rows = []
    for n_steps in steps:
        row = {"Euler steps": n_steps}
        for conditional, name in ((False, "uncond."), (True, "cond.")):
            tr = oracle_trajectories(x, y, n_traj, n_steps, seed, conditional)
            on = tr["dist"] < tol
            if conditional:
                on = on & (y[tr["nearest"]] == tr["y"])
            row[f"{name}: on a point"] = float(on.double().mean())
            row[f"{name}: points reached"] = int(tr["nearest"][on].unique().numel())
            row[f"{name}: median distance"] = float(tr["dist"].median())
        rows.append(row)
    return pd.DataFrame(rows)


def compute(P) -> None:
    """Section 2 without the notebook (``flowstage compute sec2_oracle``): the cached Theorem 2.1
    check, oracle field and trajectories at parameters ``P``, with the notebook's arguments."""
    from flowstage_lib.experiments.sec2_oracle import theorem_check, toy_mixture_2d
    from flowstage_lib.tooling.progress import stage

    x, y = toy_mixture_2d(seed=P.seed)
    with stage("theorem check"):
        theorem_check(
            x, y, P.mc_times, P.n_queries, P.n_mc, P.n_pairs, P.h_rel, P.joint_max_t, P.seed
        )
    with stage("field"):
        oracle_field(x, P.field_times, FIELD_EXTENT, P.n_grid)
    with stage("trajectories"):
        retrieval_table(x, y, P.n_traj, P.euler_steps, P.seed, P.tol)
        for cond in (False, True):
            oracle_trajectories(x, y, P.n_traj, max(P.euler_steps), P.seed, cond)
