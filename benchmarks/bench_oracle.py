"""Benchmark of the streaming oracle (`OracleVelocity.velocity`, Theorem 2.1 / Eq. 19).

For each shape (B queries, N data points, D dims) this prints:

- wall time of one `velocity` call (best of `--repeats`) and GFLOP/s counted as 4 B N D
  (two matmuls: logits and weighted sum);
- the ratio to the device's matmul throughput in the same precision (``--dtype``; on CUDA
  with TF32 as torch has it, reported in the header), measured in the same process on the
  same shapes and operands the oracle uses per chunk ((B x D') @ (D' x chunk) and
  (B x chunk) @ (chunk x D'), flops counted on D), before and after the oracle (the best of
  the two: the ratio errs low on a loaded machine);
- the same for a naive implementation (full (B, N) distance matrix via torch.cdist, softmax,
  weighted sum), skipped where it would need more than `--naive-limit-gb`;
- peak memory above the data: every case runs in a fresh subprocess; on CPU the peak RSS
  (VmHWM, reset through /proc/self/clear_refs before each timed call; glibc is told to return
  freed buffers) minus the RSS before the call; on CUDA torch.cuda.max_memory_allocated minus
  the memory allocated before it. For the naive baseline "the data" is the caller's tensor;
  for the oracle it is the oracle's own stored copy ("stored" column, N x D' with
  D' = D + 2 padded), the caller's tensor having been dropped after construction.

Usage::

    python benchmarks/bench_oracle.py                 # the two smaller shapes, CPU
    python benchmarks/bench_oracle.py --big           # and N = 1e6 (3 GB of data)
    python benchmarks/bench_oracle.py --device cuda --big --chunk-sweep
    python benchmarks/bench_oracle.py --device auto --dtype float64   # CUDA when available

The oracle is built with ``center=False`` on random data (already centred) at t = 0.5, with its
default chunk size for the device (:func:`flowstage_lib.oracle.kernel.default_chunk_bytes`);
``--chunk-sweep`` also times other chunk sizes, among them the 64 MiB CPU budget.
`N = 1e6, D = 784` is 3.1 GB of data in float32 (6.2 GB while the oracle copies it).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time

import torch

from flowstage_lib.oracle import OracleVelocity
from flowstage_lib.oracle.kernel import CPU_CHUNK_BYTES, chunk_rows

SHAPES = [(512, 16384, 3072), (256, 100_000, 784)]
BIG = (256, 1_000_000, 784)
DTYPES = {"float32": torch.float32, "float64": torch.float64}


def resolve_device(name: str) -> str:
    """``auto``: cuda when available, else cpu; ``cuda[:i]`` without CUDA: a clear error."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if torch.device(name).type == "cuda" and not torch.cuda.is_available():
        raise SystemExit(f"--device {name}: this torch has no usable CUDA device; use cpu or auto")
    return name


def matmul_precision(device: str, dtype: torch.dtype) -> str:
    """The matmul precision the oracle and the reference both run in."""
    if torch.device(device).type == "cuda" and dtype == torch.float32:
        tf32 = torch.backends.cuda.matmul.allow_tf32
        return f"float32 ({'TF32 allowed' if tf32 else 'no TF32'})"
    return str(dtype).removeprefix("torch.")


def _rss_mb() -> float:
    """Current resident set size (MB)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _peak_mb() -> float:
    """Peak RSS since the last reset (VmHWM), falling back to ru_maxrss."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class _Mem:
    """Peak memory (MB) of a block above what was in use when it started."""

    def __init__(self, device: torch.device):
        self.device = device

    def __enter__(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.base = torch.cuda.memory_allocated() / 2**20
        else:
            _reset_peak()
            self.base = _rss_mb()
        return self

    def __exit__(self, *exc):
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            self.peak = torch.cuda.max_memory_allocated() / 2**20 - self.base
        else:
            self.peak = max(0.0, _peak_mb() - self.base)


def _timeit(fn, device: torch.device, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return best


def naive_velocity(data: torch.Tensor, x_t: torch.Tensor, t: float) -> torch.Tensor:
    """Baseline: full (B, N) squared distances, softmax, weighted sum (rectified flow)."""
    alpha, sigma = t, 1.0 - t
    d2 = torch.cdist(x_t / alpha, data).square_()  # (B, N) ||x_t/alpha - x1_i||^2
    w = torch.softmax(d2.mul_(-(alpha**2) / (2 * sigma**2)), dim=1)  # (B, N)
    return (w @ data - x_t) / sigma  # (B, D)


def _matmul_gflops(aug: torch.Tensor, b: int, chunk: int, d: int, dev) -> float:
    """Throughput of the oracle's two per-chunk products, (B x D') @ (D' x chunk) and
    (B x chunk) @ (chunk x D'), on the oracle's own operands (its dtype); flops counted on D."""
    xc = aug[:chunk]  # (chunk, D')
    dt = aug.dtype
    q = torch.randn(b, xc.shape[1], device=dev, dtype=dt)
    p = torch.rand(b, chunk, device=dev, dtype=dt)
    out1 = torch.empty(b, chunk, device=dev, dtype=dt)
    out2 = torch.empty(b, xc.shape[1], device=dev, dtype=dt)

    def mm_pair():
        torch.mm(q, xc.T, out=out1)
        torch.mm(p, xc, out=out2)

    mm_pair()
    return 4.0 * b * chunk * d / _timeit(mm_pair, dev, 5) / 1e9


def run_case(
    b: int,
    n: int,
    d: int,
    device: str,
    repeats: int,
    naive_limit_gb: float,
    sweep: bool = False,
    dtype: torch.dtype = torch.float32,
) -> dict:
    dev = torch.device(device)
    torch.manual_seed(0)
    data = torch.randn(n, d, device=dev, dtype=dtype)  # (N, D)
    x_t = torch.randn(b, d, device=dev, dtype=dtype)  # (B, D)
    t = 0.5
    flops = 4.0 * b * n * d
    item = data.element_size()
    res = {"B": b, "N": n, "D": d, "data_mb": n * d * item / 2**20}

    with _Mem(dev) as mem:
        oracle = OracleVelocity(data, dtype=dtype, center=False)
    res["build_mb"] = mem.peak
    res["stored_mb"] = oracle._aug.numel() * item / 2**20
    chunk = min(oracle._chunk(b), n)
    res["chunk"] = chunk
    mm_before = _matmul_gflops(oracle._aug, b, chunk, d, dev)

    naive_gb = 3 * b * n * item / 2**30  # cdist output, softmax output, temporaries
    run_naive = naive_gb <= naive_limit_gb
    if run_naive:
        u_ref = naive_velocity(data, x_t[:8], t)  # also a warm-up
        res["max_abs_diff"] = (oracle.velocity(x_t[:8], t) - u_ref).abs().max().item()
    else:
        res["naive_skip"] = f"needs ~{naive_gb:.1f} GB > {naive_limit_gb:g} GB"
        del data  # the oracle's copy is the data now
    oracle.velocity(x_t[:8], t)  # warm-up

    # Interleave the two timings (best of `repeats` each): a shared machine's load drifts.
    # Memory: peak during each call above what is resident before it.
    best = {"oracle": math.inf, "naive": math.inf}
    peak = {"oracle": 0.0, "naive": 0.0}
    for _ in range(repeats):
        with _Mem(dev) as mem:
            best["oracle"] = min(best["oracle"], _timeit(lambda: oracle.velocity(x_t, t), dev, 1))
        peak["oracle"] = max(peak["oracle"], mem.peak)
        if run_naive:
            with _Mem(dev) as mem:
                s = _timeit(lambda: naive_velocity(data, x_t, t), dev, 1)
            best["naive"] = min(best["naive"], s)
            peak["naive"] = max(peak["naive"], mem.peak)
    for k in ("oracle", "naive") if run_naive else ("oracle",):
        res.update({f"{k}_s": best[k], f"{k}_gflops": flops / best[k] / 1e9, f"{k}_mb": peak[k]})
    # matmul reference before and after: keep the best (the ratio errs low under load)
    res["mm_gflops"] = max(mm_before, _matmul_gflops(oracle._aug, b, chunk, d, dev))

    if sweep and (dev.type != "cpu" or n < 10**6):  # GFLOP/s per chunk size, interleaved
        cpu_chunk = chunk_rows(b, dtype, CPU_CHUNK_BYTES)  # the 64 MiB budget of CPUs
        sizes = sorted({c for c in (4096, 16384, 65536, 262144, cpu_chunk, chunk) if c <= 2 * n})
        times = dict.fromkeys(sizes, math.inf)
        for _ in range(repeats):
            for c in sizes:
                oracle.chunk_size = c
                times[c] = min(times[c], _timeit(lambda: oracle.velocity(x_t, t), dev, 1))
        res["sweep"] = {str(c): flops / v / 1e9 for c, v in times.items()}
    return res


def _row(b: int, n: int, d: int, r: dict) -> str:
    """One table row (and notes) from a case's JSON result."""
    row = (
        f"{b:>4} {n:>8} {d:>5} {r['chunk']:>7} {r['data_mb']:>8.0f} {r['stored_mb']:>7.0f} | "
        f"{r['mm_gflops']:>8.1f} | "
        f"{r['oracle_s']:>8.3f} {r['oracle_gflops']:>6.1f} "
        f"{r['oracle_gflops'] / r['mm_gflops']:>5.2f} {r['oracle_mb']:>8.0f} | "
    )
    if "naive_s" in r:
        row += (
            f"{r['naive_s']:>8.3f} {r['naive_gflops']:>6.1f} "
            f"{r['naive_gflops'] / r['mm_gflops']:>5.2f} {r['naive_mb']:>8.0f} | "
            f"{r['naive_s'] / r['oracle_s']:>6.2f}x"
        )
    else:
        row += f"naive skipped ({r['naive_skip']})"
    if "sweep" in r:
        sweep = ", ".join(f"{c}: {g:.1f}" for c, g in r["sweep"].items())
        row += f"\n      (oracle GF/s by chunk size: {sweep})"
    if "max_abs_diff" in r:
        row += f"\n      (oracle vs naive, 8 queries: max |du| = {r['max_abs_diff']:.2e})"
    return row


def _parse(argv) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cpu", help="cpu, cuda[:i], or auto (cuda if available)")
    ap.add_argument("--dtype", default="float32", choices=sorted(DTYPES))
    ap.add_argument(
        "--big",
        action="store_true",
        help="also run B=256, N=1e6, D=784 (3 GB of data, ~2-4 min on 2 CPU cores)",
    )
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--naive-limit-gb", type=float, default=4.0)
    ap.add_argument(
        "--chunk-sweep", action="store_true", help="also time the oracle for several chunk sizes"
    )
    ap.add_argument("--case", type=int, nargs=3, metavar=("B", "N", "D"), help=argparse.SUPPRESS)
    return ap.parse_args(argv)


def main(argv=None):
    args = _parse(argv)
    device, dtype = resolve_device(args.device), DTYPES[args.dtype]
    if args.case is not None:  # child process: one case, JSON on stdout
        res = run_case(
            *args.case, device, args.repeats, args.naive_limit_gb, args.chunk_sweep, dtype
        )
        print(json.dumps(res))
        return

    shapes = SHAPES + ([BIG] if args.big else [])
    name = torch.cuda.get_device_name(device) if device.startswith("cuda") else "cpu"
    print(
        f"torch {torch.__version__}, device {device} ({name}), threads {torch.get_num_threads()}, "
        f"matmul precision {matmul_precision(device, dtype)}"
    )
    head = (
        f"{'B':>4} {'N':>8} {'D':>5} {'chunk':>7} {'data MB':>8} {'stored':>7} | {'mm GF/s':>8} | "
        f"{'oracle s':>8} {'GF/s':>6} {'/mm':>5} {'MB>data':>8} | "
        f"{'naive s':>8} {'GF/s':>6} {'/mm':>5} {'MB>data':>8} | {'speedup':>7}"
    )
    print(head)
    print("-" * len(head))
    for b, n, d in shapes:
        cmd = [sys.executable, __file__, "--case", str(b), str(n), str(d), "--device", device]
        cmd += ["--dtype", args.dtype, "--repeats", str(args.repeats if n < 10**6 else 2)]
        cmd += ["--naive-limit-gb", str(args.naive_limit_gb)]
        if args.chunk_sweep:
            cmd.append("--chunk-sweep")
        # glibc: serve every allocation >= 128 kB by mmap and return it on free, so that RSS
        # follows the live tensors (otherwise freed buffers stay resident and hide peaks)
        env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="131072")
        out = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if out.returncode != 0:
            print(f"{b:>4} {n:>8} {d:>5} failed:\n{out.stderr[-2000:]}")
            continue
        print(_row(b, n, d, json.loads(out.stdout.strip().splitlines()[-1])), flush=True)


if __name__ == "__main__":
    main()
