"""Benchmark: sampling cost of Tables 2 and 3 (Sec. 5) on the cpu profile's main model.

Times ``n`` class-balanced samples of the main zoo model (its architecture; the weights do not
change the cost) with 50 Euler steps, exactly as :func:`flowstage_lib.metrics.evaluate.sample_set`
draws them: unguided (Table 2's rows, Table 3's "none"), and with CFG on [0, 1) (two network
calls per step: the most expensive row of Table 3). Prints seconds per row and the CFG /
unguided ratio measured in the same run, and the per-row seconds scaled to ``--scale-to``
samples (what ``estimates.section_seconds`` in the profile needs).

Usage::

    OMP_NUM_THREADS=1 nice -n 19 python benchmarks/bench_sec5_sampling.py --threads 1

On a shared machine the figures are upper bounds for a quiet one; say so when quoting them.
"""

from __future__ import annotations

import argparse
import time

import torch

from flowstage_lib.models import build_model
from flowstage_lib.path import shifted_grid
from flowstage_lib.solver import CFGVelocity, ModelVelocity, sample
from flowstage_lib.training.zoo import ZOO_PRESETS, zoo_spec


class _Shape:
    """A stand-in data set: only the shape and class count matter to ``zoo_spec``."""

    def __init__(self, shape, num_classes):
        self.x = torch.zeros(1, *shape)
        self.num_classes = num_classes


def _time(velocity, n, shape, y, grid, repeats) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        sample(velocity, n, shape, y=y, grid=grid, seed=0, batch_size=500)
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--n", type=int, default=500, help="samples per row")
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--scale", type=float, default=2.5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--scale-to", type=int, default=5000)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    preset = ZOO_PRESETS[a.profile]
    shape, K = (1, 28, 28), 10
    model = build_model(zoo_spec(a.profile, preset.main_size, _Shape(shape, K))).eval()
    y = torch.arange(a.n) % K
    grid = shifted_grid(a.steps, 1.0)
    plain = _time(ModelVelocity(model), a.n, shape, y, grid, a.repeats)
    cfg = _time(CFGVelocity(model, a.scale, (0.0, 1.0)), a.n, shape, y, grid, a.repeats)
    f = a.scale_to / a.n
    print(f"profile {a.profile}, model {preset.family}-{preset.main_size}, {a.threads} thread(s)")
    print(f"{a.n} samples, {a.steps} Euler steps, best of {a.repeats}:")
    print(f"  unguided      {plain:7.2f} s   ({a.scale_to}: {plain * f:7.1f} s)")
    print(f"  CFG on [0, 1) {cfg:7.2f} s   ({a.scale_to}: {cfg * f:7.1f} s)")
    print(f"  ratio CFG / unguided: {cfg / plain:.2f}")


if __name__ == "__main__":
    main()
