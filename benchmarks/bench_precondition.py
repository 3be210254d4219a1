"""Benchmark: does preconditioning (issue 14, the calibrated setting) change the cost of a
training step, and how does it change the gradient norm that the trainer clips at 1.0?

For one zoo rung (default: the cpu profile's B) it trains, interleaved ``--repeats`` times,

- ``plain``: today's model on x (k = 1, no preconditioning) -- the baseline;
- ``precond``: the :class:`~flowstage_lib.models.Preconditioned` model on k x (``--k``);

through :func:`flowstage_lib.training.train` (no cache, no oracle logging) and prints the median
ms / step of each and the ratio precond / plain (expected ~1: two elementwise products per
call). Then it records the pre-clip gradient norm of every step of one run of each of
``plain``, ``scaled`` (the plain model on k x, no preconditioning) and ``precond``: the median
norm and the share of steps the trainer's ``grad_clip`` rescales (the loss on k x is
c_out^2 = (k sigma_d)^2 + 1 times the unit-scale loss, so its gradients are too).

Data: ``mnist5k/train`` when it loads, else random pixels of the same shape (say which).

Usage::

    nice -n 15 python benchmarks/bench_precondition.py --threads 1 --steps 200 --repeats 3
    python benchmarks/bench_precondition.py --device cuda --steps 500

Quote figures only from an idle machine, and say what else was running.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ["FLOWSTAGE_NO_CACHE"] = "1"  # timing runs never read or write the cache

import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flowstage_lib.data import ImageData, scale_data  # noqa: E402
from flowstage_lib.models import data_rms  # noqa: E402
from flowstage_lib.training import train  # noqa: E402
from flowstage_lib.training.zoo import zoo_config, zoo_spec  # noqa: E402


def _data() -> tuple[ImageData, str]:
    try:
        from flowstage_lib.data import load_dataset

        return load_dataset("mnist5k", "train"), "mnist5k/train"
    except Exception as err:  # noqa: BLE001 -- any missing data: fall back, and say so
        g = torch.Generator().manual_seed(0)
        x = torch.rand(4500, 1, 28, 28, generator=g) * 2 - 1
        return ImageData(x, torch.arange(4500) % 10, "random/train", 10), f"random ({err})"


def _variants(args, data):
    k, sigma = args.k, data_rms(data.x)
    scaled = scale_data(data, k)
    spec = zoo_spec(args.profile, args.size, data)
    pre = zoo_spec(args.profile, args.size, data, data_scale=k, sigma_data=sigma)
    return {"plain": (spec, data), "scaled": (spec, scaled), "precond": (pre, scaled)}, sigma


def _cfg(args):
    """The profile's recipe, ``--steps`` long, without cache, oracle logging or snapshots."""
    return replace(
        zoo_config(args.profile, size=args.size),
        steps=args.steps,
        checkpoint_every=0,
        log_oracle=False,
        log_every=args.steps,
        snapshot_every=0,
        device=args.device,
    )


def time_steps(args, variants) -> dict[str, list[float]]:
    """ms / step of plain and precond, interleaved over repeats."""
    out: dict[str, list[float]] = {"plain": [], "precond": []}
    for _ in range(args.repeats):
        for name in out:
            spec, data = variants[name]
            r = train(spec, data, _cfg(args), progress=False)
            out[name].append(1e3 * r.seconds / args.steps)
    return out


def grad_norms(args, variants) -> dict[str, list[float]]:
    """Pre-clip gradient norm of every step of one run of each variant."""
    real, norms = torch.nn.utils.clip_grad_norm_, []

    def recording(params, max_norm, *a, **kw):
        n = real(params, max_norm, *a, **kw)
        norms.append(float(n))
        return n

    out = {}
    torch.nn.utils.clip_grad_norm_ = recording
    try:
        for name, (spec, data) in variants.items():
            norms = []
            train(spec, data, _cfg(args), progress=False)
            out[name] = norms
    finally:
        torch.nn.utils.clip_grad_norm_ = real
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--profile", default="cpu")
    p.add_argument("--size", default="B")
    p.add_argument("--k", type=float, default=4.25)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    data, source = _data()
    variants, sigma = _variants(args, data)
    print(f"data {source}; k = {args.k}, sigma_data = {sigma}; {args.profile}-{args.size}")
    print(f"device {args.device}, {args.threads} thread(s), {args.steps} steps x {args.repeats}")
    ms = time_steps(args, variants)
    med = {n: statistics.median(v) for n, v in ms.items()}
    for n, v in ms.items():
        print(f"{n:8s} ms/step median {med[n]:8.2f}  runs {[round(x, 2) for x in v]}")
    print(f"ratio precond / plain: {med['precond'] / med['plain']:.3f}")
    clip = _cfg(args).grad_clip
    for n, v in grad_norms(args, variants).items():
        share = sum(x > clip for x in v) / len(v)
        print(f"{n:8s} grad norm median {statistics.median(v):9.3f}  clipped {share:6.1%}")


if __name__ == "__main__":
    main()
