"""Benchmark of `flowstage analyze` on data larger than memory (issue: ImageNet-size latents).

Generates synthetic ImageNet-size float16 latents (N = 1,281,167 x D = 4096 = 10.5 GB at
``--scale 1``; 1000 classes of ~1281 rows each, labels in random order so that a class's rows
are scattered over the file) into ``--dir`` (removed afterwards unless ``--keep``), then

1. runs the class-conditional curves (``analyze(..., unconditional=False)``) for ``--classes``
   classes at ``--queries`` queries x ``--times`` times per class, and reports the wall time and
   the peak anonymous memory (RssAnon sampled every 0.1 s: the process's own memory, i.e. above
   the page cache that holds the memory-mapped file; VmHWM, which counts mapped file pages
   too, is printed beside it);
2. baseline, same run: the in-memory `OracleVelocity` on the same queries for the first
   ``--baseline-classes`` classes (class rows loaded into memory, one oracle per class), with
   the time per class of both and the largest difference of the top-1 weights;
3. the 1 -> 2 process ratio (torchrun, gloo, one thread per process) on a smaller set
   (``--ratio-n`` rows x ``--ratio-d``), against the same command in one process;
4. old vs new kernel, same run (`factor_ratio`): per class, the time of
   `analyze.curves.query_stats` with the logits of every (query, t) row from its own matmul
   row (``factor=False``, the kernel before the factoring) and from the pairs' 2 Q inner
   products (``factor=True``, what `analyze` runs), on ``--factor-classes`` classes of
   ``--factor-rows`` rows x ``--dim`` (default 1281 x 4096, an ImageNet class), same queries,
   interleaved, median of ``--factor-repeats`` repeats per class, and their ratio.

Usage::

    nice -n 15 python benchmarks/bench_analyze.py --scale 0.01 --classes 20   # quick
    nice -n 15 python benchmarks/bench_analyze.py                             # the full size
    nice -n 15 python benchmarks/bench_analyze.py --factor-only               # 4. alone (~2 min)

Every process runs one torch thread (OMP_NUM_THREADS=1): the machine is shared.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from tqdm.auto import tqdm  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

IMAGENET_N, IMAGENET_D, IMAGENET_C = 1_281_167, 4096, 1000


def _status(field: str) -> int:
    """A /proc/self/status field in bytes (0 if absent)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


class PeakAnon:
    """Samples RssAnon (memory not backed by files) in a thread; .peak in bytes."""

    def __init__(self, every: float = 0.1):
        self.every, self.peak, self._stop = every, _status("RssAnon"), threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, _status("RssAnon"))
            time.sleep(self.every)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, _status("RssAnon"))


def generate(folder: Path, n: int, d: int, classes: int, seed: int = 0) -> tuple[Path, Path]:
    """Write x.npy (n, d) float16 = centre[y] + noise, and y.npy (n,) int64, in blocks."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(n) % classes).astype(np.int64)  # ~n / classes per class
    centres = rng.standard_normal((classes, d), dtype=np.float32)
    xf, yf = folder / "x.npy", folder / "y.npy"
    np.save(yf, y)
    out = np.lib.format.open_memmap(xf, mode="w+", dtype=np.float16, shape=(n, d))
    step = 8192
    for s in tqdm(range(0, n, step), desc=f"generate {n} x {d} float16", unit="block"):
        e = min(s + step, n)
        block = rng.standard_normal((e - s, d), dtype=np.float32)
        block += centres[y[s:e]]
        out[s:e] = block
    out.flush()
    del out
    return xf, yf


def run_streamed(xf: Path, yf: Path, classes: int, queries: int, times: int) -> dict:
    from flowstage_lib.analyze import analyze

    t0 = time.perf_counter()
    with PeakAnon() as mem:
        res = analyze(
            xf,
            yf,
            unconditional=False,
            classes=list(range(classes)),
            class_queries=queries,
            times=times,
            n_boot=100,
            progress=True,
        )
    wall = time.perf_counter() - t0
    return {"wall": wall, "peak_anon": mem.peak, "vm_hwm": _status("VmHWM"), "result": res}


def run_baseline(xf: Path, yf: Path, res, classes: int, queries: int, times: int) -> dict:
    """In-memory OracleVelocity per class on the same queries (the streamed draw re-derived)."""
    from flowstage_lib.analyze.stream import label_index, open_data
    from flowstage_lib.oracle import OracleVelocity

    src = open_data(xf)
    _, index = label_index(yf, src.n)
    grid = res.conditional.t
    qs = res.conditional.stats
    wall, diff = 0.0, 0.0
    for c in range(classes):
        rows = index.rows(c)
        gen = torch.Generator().manual_seed(c)  # analyze's seed for class c at seed 0
        pick = torch.randint(0, rows.size, (queries,), generator=gen).numpy()
        x1 = torch.from_numpy(src.take(rows[pick]))
        x0 = torch.randn(x1.shape, generator=gen, dtype=torch.float64)
        tt = torch.from_numpy(np.tile(grid, queries))
        xt = tt[:, None] * x1.repeat_interleave(times, 0) + (
            1 - tt[:, None]
        ) * x0.repeat_interleave(times, 0)
        t0 = time.perf_counter()
        oracle = OracleVelocity(torch.from_numpy(src.take(rows)), dtype=torch.float32)
        st = oracle.stats(xt.float(), tt)
        wall += time.perf_counter() - t0
        ref = qs.top1[c * queries : (c + 1) * queries].reshape(-1)
        diff = max(diff, float(np.abs(st.top1.double().numpy() - ref).max()))
    return {"wall": wall, "per_class": wall / classes, "max_top1_diff": diff}


def process_ratio(folder: Path, n: int, d: int, classes: int, queries: int) -> dict:
    """Wall time of the CLI in 1 process and under torchrun with 2 (gloo), same arguments."""
    xf, yf = generate(folder, n, d, classes, seed=1)
    env = dict(
        os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", FLOWSTAGE_CACHE=str(folder / "cache")
    )
    args = [
        str(xf),
        "--labels",
        str(yf),
        "--class-queries",
        str(queries),
        "--times",
        "16",
        "--no-unconditional",
        "--no-progress",
    ]
    out = {}
    for procs in (1, 2):
        launch = (
            [sys.executable, "-m", "flowstage_lib.analyze"]
            if procs == 1
            else [
                sys.executable,
                "-m",
                "torch.distributed.run",
                "--nproc_per_node",
                "2",
                "--master_port",
                "29533",
                "-m",
                "flowstage_lib.analyze",
            ]
        )
        t0 = time.perf_counter()
        subprocess.run(
            [*launch, *args, "--out", str(folder / f"p{procs}")],
            env=env,
            check=True,
            capture_output=True,
        )
        out[procs] = time.perf_counter() - t0
    out["ratio"] = out[1] / out[2]
    return out


def factor_ratio(
    folder: Path, classes: int, rows: int, d: int, queries: int, times: int, repeats: int
) -> dict:
    """Seconds per class of `query_stats` per-row (old) and factored (new), same data, queries
    and thread; {"old": [median per class], "new": [...], "top1_diff", "mse_rel_diff"} (the
    largest differences of the two kernels' float32 curves)."""
    from flowstage_lib.analyze.core import reference_stats, time_grid
    from flowstage_lib.analyze.curves import query_stats
    from flowstage_lib.analyze.stream import label_index, open_data

    xf, yf = generate(folder, classes * rows, d, classes, seed=2)  # `rows` rows per class
    src = open_data(xf)
    _, index = label_index(yf, src.n)
    mu, _, _ = reference_stats(src)
    grid = time_grid(times)
    secs = {False: np.zeros((classes, repeats)), True: np.zeros((classes, repeats))}
    top1_diff = mse_diff = 0.0
    bar = tqdm(total=classes * repeats, desc="old vs new kernel", unit="class")
    for r in range(repeats):
        for c in range(classes):
            res = {}
            for factor in (False, True) if (r + c) % 2 == 0 else (True, False):  # interleaved
                t0 = time.perf_counter()
                res[factor] = query_stats(
                    src, grid, queries, c, mu, rows=index.rows(c), factor=factor
                )
                secs[factor][c, r] = time.perf_counter() - t0
            old, new = res[False], res[True]
            top1_diff = max(top1_diff, float(np.abs(new.top1 - old.top1).max()))
            # the MSE falls to ~0 after the collapse: differences relative to its largest value
            rel = np.abs(new.mse - old.mse).max() / np.abs(old.mse).max()
            mse_diff = max(mse_diff, float(rel))
            bar.update()
    bar.close()
    return {
        "old": np.median(secs[False], 1),
        "new": np.median(secs[True], 1),
        "top1_diff": top1_diff,
        "mse_rel_diff": mse_diff,
    }


def print_factor_ratio(a, folder: Path) -> None:
    f = factor_ratio(
        folder, a.factor_classes, a.factor_rows, a.dim, a.queries, a.times, a.factor_repeats
    )
    print(
        f"old vs new kernel: {a.factor_classes} classes of {a.factor_rows} rows x {a.dim}, "
        f"{a.queries} queries x {a.times} times, 1 thread, median of {a.factor_repeats} repeats"
    )
    for c, (o, n) in enumerate(zip(f["old"], f["new"], strict=True)):
        print(f"  class {c}: old {o:.2f} s, new {n:.2f} s, old / new = {o / n:.2f}")
    o, n = float(f["old"].mean()), float(f["new"].mean())
    print(
        f"  mean per class: old {o:.2f} s, new {n:.2f} s, old / new = {o / n:.2f}; "
        f"max |top1 new - old| = {f['top1_diff']:.1e}, max |mse new - old| / max mse = "
        f"{f['mse_rel_diff']:.1e}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", default=None, help="where to write the data (default: /tmp)")
    ap.add_argument("--scale", type=float, default=1.0, help="fraction of ImageNet's N")
    ap.add_argument("--dim", type=int, default=IMAGENET_D)
    ap.add_argument("--classes", type=int, default=IMAGENET_C, help="classes to analyse")
    ap.add_argument("--queries", type=int, default=64)
    ap.add_argument("--times", type=int, default=32)
    ap.add_argument("--baseline-classes", type=int, default=5)
    ap.add_argument("--ratio-n", type=int, default=40_000)
    ap.add_argument("--ratio-d", type=int, default=1024)
    ap.add_argument("--skip-ratio", action="store_true")
    ap.add_argument("--factor-classes", type=int, default=3)
    ap.add_argument("--factor-rows", type=int, default=IMAGENET_N // IMAGENET_C)
    ap.add_argument("--factor-repeats", type=int, default=3)
    ap.add_argument("--factor-only", action="store_true", help="only 4. (old vs new kernel)")
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(1)
    folder = Path(a.dir or tempfile.mkdtemp(prefix="flowstage_bench_"))
    os.environ.setdefault("FLOWSTAGE_CACHE", str(folder / "cache"))
    n = max(IMAGENET_C * 2, round(IMAGENET_N * a.scale))
    try:
        if a.factor_only:
            print_factor_ratio(a, folder / "factor")
            return
        t0 = time.perf_counter()
        xf, yf = generate(folder / "data", n, a.dim, IMAGENET_C)
        gen_s = time.perf_counter() - t0
        size = xf.stat().st_size / 2**30
        print(f"data: {n} x {a.dim} float16 = {size:.2f} GiB, generated in {gen_s:.0f} s")
        s = run_streamed(xf, yf, a.classes, a.queries, a.times)
        b = run_baseline(
            xf, yf, s["result"], min(a.baseline_classes, a.classes), a.queries, a.times
        )
        per = s["wall"] / a.classes
        print(
            f"streamed analyze: {a.classes} classes x {a.queries} queries x {a.times} times: "
            f"{s['wall']:.1f} s ({per:.2f} s/class; all 1000 classes: ~{per * 1000 / 60:.1f} "
            f"min); peak RssAnon {s['peak_anon'] / 2**30:.2f} GiB (VmHWM incl. mapped "
            f"file pages {s['vm_hwm'] / 2**30:.2f} GiB)"
        )
        print(
            f"baseline in-memory OracleVelocity per class: {b['per_class']:.2f} s/class; "
            f"streamed / in-memory = {per / b['per_class']:.2f}; max |top1 diff| = "
            f"{b['max_top1_diff']:.2e}"
        )
        if not a.skip_ratio:
            r = process_ratio(folder / "ratio", a.ratio_n, a.ratio_d, 20, 32)
            print(
                f"1 -> 2 processes ({a.ratio_n} x {a.ratio_d}, 20 classes x 32 queries x 16 "
                f"times): 1 proc {r[1]:.1f} s, 2 procs {r[2]:.1f} s, speed-up {r['ratio']:.2f}"
            )
        print_factor_ratio(a, folder / "factor")
    finally:
        if not a.keep:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
