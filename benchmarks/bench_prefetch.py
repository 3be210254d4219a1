"""Benchmark of the zoo prefetch (issue 14, item 6): two zoo-like training runs one after
another in one process with 1 torch thread (what the sections do) against the same two runs in
2 spawned worker processes with 1 thread each (what :func:`flowstage_lib.tooling.prefetch.
prefetch_zoo` does).

Each run is :func:`flowstage_lib.training.trainer.train` (the zoo's trainer: forward, backward,
AdamW, EMA) of a profile's model (default: the cpu profile's mlp-S at its batch size) on random
MNIST-shaped data (N = 1024, 10 classes), ``--steps`` steps, no cache. Printed per repeat and as
medians over ``--repeats``:

- serial: both runs in this process, 1 thread;
- parallel: both runs submitted to an already started 2-process pool (1 thread each);
- pool start: spawning the 2 workers (importing torch and the library), paid once per build;
- ratios serial / parallel, without and with the pool start.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/bench_prefetch.py --steps 300 --repeats 3

A 2-core machine shared with other processes gives contended figures; quote them with the load.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import time
from concurrent.futures import ProcessPoolExecutor, wait

import torch

N_IMAGES, N_CLASSES = 1024, 10


def _one_thread() -> None:
    os.environ["FLOWSTAGE_NO_CACHE"] = "1"
    torch.set_num_threads(1)


def _data(seed: int):
    from flowstage_lib.data.images import ImageData

    g = torch.Generator().manual_seed(seed)
    x = torch.rand(N_IMAGES, 1, 28, 28, generator=g) * 2 - 1
    y = torch.randint(0, N_CLASSES, (N_IMAGES,), generator=g)
    return ImageData(x, y, f"random/{seed}", N_CLASSES)


def run(profile: str, size: str, steps: int, seed: int) -> float:
    """One zoo-like training run; returns its wall seconds (in the calling process)."""
    from dataclasses import replace

    from flowstage_lib.training.trainer import train
    from flowstage_lib.training.zoo import ZOO_PRESETS, zoo_spec

    _one_thread()
    data = _data(seed)
    cfg = replace(ZOO_PRESETS[profile].train, steps=steps, checkpoint_every=0, seed=seed)
    t0 = time.perf_counter()
    train(zoo_spec(profile, size, data), data, cfg, progress=False)
    return time.perf_counter() - t0


def _noop() -> int:
    time.sleep(0.5)  # long enough that both workers take one
    return os.getpid()


def one_repeat(args) -> tuple[float, float, float]:
    """(serial s, parallel s with a started pool, pool start s)."""
    t0 = time.perf_counter()
    for seed in (0, 1):
        run(args.profile, args.size, args.steps, seed)
    serial = time.perf_counter() - t0
    t0 = time.perf_counter()
    with ProcessPoolExecutor(2, mp.get_context("spawn"), _one_thread) as ex:
        pids = {f.result() for f in [ex.submit(_noop) for _ in range(2)]}
        start = time.perf_counter() - t0 - 0.5
        if len(pids) != 2:
            raise RuntimeError("the pool did not start 2 workers")
        t0 = time.perf_counter()
        futs = [ex.submit(run, args.profile, args.size, args.steps, seed) for seed in (0, 1)]
        wait(futs)
        for f in futs:
            f.result()
        parallel = time.perf_counter() - t0
    return serial, parallel, start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--size", default="S")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    if args.steps < 1 or args.repeats < 2:
        raise SystemExit("--steps must be >= 1 and --repeats >= 2 (medians)")
    _one_thread()
    print(f"two {args.profile} mlp-{args.size} runs of {args.steps} steps, random MNIST-shaped "
          f"data; {os.cpu_count()} cores; load average {os.getloadavg()}")  # fmt: skip
    rows = []
    for i in range(args.repeats):
        rows.append(one_repeat(args))
        s, p, st = rows[-1]
        print(f"repeat {i}: serial {s:.2f} s, parallel {p:.2f} s, pool start {st:.2f} s")
    s, p, st = (statistics.median(c) for c in zip(*rows, strict=True))
    print(f"median: serial {s:.2f} s (1 process, 1 thread), parallel {p:.2f} s (2 processes x 1 "
          f"thread), pool start {st:.2f} s")  # fmt: skip
    print(f"serial / parallel: {s / p:.2f} (pool started), {s / (p + st):.2f} (with its start)")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
