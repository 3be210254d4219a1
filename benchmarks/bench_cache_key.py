"""Benchmark of a cache key's cost: the import-closure key against the whole-package key
(``FLOWSTAGE_CACHE_KEY=package``, the baseline: the key before closures), same run.

Prints, per closure module, the number of files it hashes, the median time of one warm
``cache_key`` call (files stat-ed, scans and source hash memoized) and the ratio to the
whole-package key; and the cold cost of the first closure (every file parsed once).

Usage::

    nice -n 10 python benchmarks/bench_cache_key.py [--repeat 200]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

from flowstage_lib.tooling import cache, closure  # noqa: E402

MODULES = (
    "flowstage_lib.training.checkpoints",
    "flowstage_lib.metrics.judge.panel",
    "flowstage_lib.experiments.sec4_stages.figure7_loss",
)


def _median_s(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=200)
    args = ap.parse_args()
    params = {"n": 1, "seed": 0}
    t0 = time.perf_counter()
    closure.import_closure(MODULES[0])
    print(f"cold first closure (parses its files): {1e3 * (time.perf_counter() - t0):.1f} ms")
    os.environ["FLOWSTAGE_CACHE_KEY"] = "package"
    cache.cache_key("k", params, MODULES[:1])  # warm the memo
    base = _median_s(lambda: cache.cache_key("k", params, MODULES[:1]), args.repeat)
    total = len(closure.whole_package(closure.OWN_ROOT))
    print(f"whole package (baseline): {total} files, {1e3 * base:.2f} ms / key")
    os.environ["FLOWSTAGE_CACHE_KEY"] = "closure"
    for m in MODULES:
        cache.cache_key("k", params, (m,))
        t = _median_s(lambda m=m: cache.cache_key("k", params, (m,)), args.repeat)
        n = len(closure.import_closure(m))
        print(f"{m}: {n}/{total} files, {1e3 * t:.2f} ms / key, x{t / base:.2f} baseline")


if __name__ == "__main__":
    main()
