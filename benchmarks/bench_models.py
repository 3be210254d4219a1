"""Benchmark of the zoo's velocity networks (model.py / train.py / sampler.py).

For every size of a zoo profile's ladder this prints:

- parameters;
- training steps/s at the profile's batch size (forward, backward, grad clip, AdamW, EMA --
  the step of :func:`flowstage_lib.training.trainer.train`, on random data) and the minutes the
  profile's step budget would take at that rate;
- sampling images/s with 50 Euler steps (plain conditional velocity, CFG 1);
- achieved GFLOP/s of training (FLOPs counted by ``torch.utils.flop_counter`` for one forward,
  x3 for forward + backward) and its ratio to this machine's float32 (CPU) / bf16 (CUDA)
  matmul throughput measured in the same run (a 1024^3 or 4096^3 product).

Networks run as the library runs them (:func:`flowstage_lib.models.bf16_autocast`): bf16
autocast on CUDA and on a CPU with native bf16 (AMX / AVX512-BF16), else fp32.
``--compare-precision`` times every size on the CPU both ways (``FLOWSTAGE_CPU_BF16`` = 0 and
1, the fp32 run is the baseline) and prints the bf16 / fp32 ratios.

Usage::

    python benchmarks/bench_models.py                      # cpu profile, CPU
    python benchmarks/bench_models.py --profile gpu --device cuda
    python benchmarks/bench_models.py --threads 1          # e.g. on a busy shared machine
    python benchmarks/bench_models.py --threads 1 --compare-precision   # CPU: bf16 vs fp32

On a shared 2-core machine the numbers are contended by other processes; say so when quoting
them. With other processes busy, ``--threads 1`` is often several times faster than 2 threads
(OpenMP spin-waits).
"""

from __future__ import annotations

import argparse
import os
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from flowstage_lib.models import bf16_autocast, build_model, count_params, cpu_bf16
from flowstage_lib.solver import ModelVelocity, sample
from flowstage_lib.tooling.devices import CPU_BF16_ENV
from flowstage_lib.training import ema_update
from flowstage_lib.training.zoo import ZOO_PRESETS, zoo_spec


class _Shape:
    """A stand-in data set: only the shape and class count matter to ``zoo_spec``."""

    def __init__(self, shape, num_classes):
        self.x = torch.zeros(1, *shape)
        self.num_classes = num_classes


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def matmul_gflops(device: torch.device, repeats: int = 10) -> float:
    """Measured dense matmul throughput: fp32 1024^3 on CPU, bf16 4096^3 on CUDA."""
    n, dtype = (4096, torch.bfloat16) if device.type == "cuda" else (1024, torch.float32)
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(repeats):
        a @ b
    _sync(device)
    return 2 * n**3 * repeats / (time.perf_counter() - t0) / 1e9


def forward_flops(model, shape, num_classes, device) -> int:
    x = torch.randn(1, *shape, device=device)
    t = torch.rand(1, device=device)
    y = torch.zeros(1, dtype=torch.long, device=device) if num_classes else None
    with FlopCounterMode(display=False) as fc, torch.no_grad():
        model(x, t, y)
    return fc.get_total_flops()


def bench_size(profile: str, size: str, device: torch.device, steps: int, n_sample: int):
    preset = ZOO_PRESETS[profile]
    shape, K = (1, 28, 28), 10
    spec = zoo_spec(profile, size, _Shape(shape, K))
    cfg = preset.train
    torch.manual_seed(0)
    model = build_model(spec).to(device).train()
    ema = build_model(spec).to(device).requires_grad_(False)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=cfg.betas)
    B = cfg.batch_size
    x = torch.randn(B, *shape, device=device)
    t = torch.rand(B, device=device)
    y = torch.randint(0, K + 1, (B,), device=device)
    target = torch.randn(B, *shape, device=device)

    def step():
        with bf16_autocast(device, cfg.amp):  # as the trainer runs it
            pred = model(x, t, y)
        loss = (pred.float() - target).pow(2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        ema_update(ema, model, cfg.ema_decay)

    for _ in range(3):
        step()
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(device)
    sps = steps / (time.perf_counter() - t0)

    model.eval()
    yy = torch.arange(n_sample) % K
    sample(ModelVelocity(model), min(n_sample, 8), shape, y=yy[:8], n_steps=2, device=device)
    t0 = time.perf_counter()
    sample(ModelVelocity(model), n_sample, shape, y=yy, n_steps=50, device=device)
    ips = n_sample / (time.perf_counter() - t0)

    flops = 3 * forward_flops(model, shape, K, device) * B  # per training step
    return {
        "size": size,
        "params_M": count_params(model) / 1e6,
        "train_steps_s": sps,
        "budget_min": cfg.steps / sps / 60,
        "sample_img_s": ips,
        "train_gflops": flops * sps / 1e9,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--profile", default="cpu", choices=sorted(ZOO_PRESETS))
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--sizes", default=None, help="comma-separated, default: the whole ladder")
    ap.add_argument("--steps", type=int, default=10, help="timed training steps per size")
    ap.add_argument("--samples", type=int, default=100, help="images sampled per size")
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    ap.add_argument(
        "--compare-precision",
        action="store_true",
        help="CPU: time each size in fp32 and in bf16 autocast, and print the ratios",
    )
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    sizes = args.sizes.split(",") if args.sizes else list(ZOO_PRESETS[args.profile].sizes)
    peak = matmul_gflops(device)
    kind = "bf16 4096^3" if device.type == "cuda" else "fp32 1024^3"
    print(
        f"profile {args.profile}, device {device}, threads {torch.get_num_threads()}, "
        f"matmul baseline ({kind}) {peak:.1f} GFLOP/s"
    )
    if args.compare_precision:
        if device.type != "cpu":
            ap.error("--compare-precision is for the CPU (CUDA always runs bf16)")
        _compare(args, sizes, device)
        return
    print(f"networks in {'bf16 autocast' if device.type == 'cuda' or cpu_bf16() else 'fp32'}")
    hdr = "| size | params (M) | train steps/s | budget (min) | sample img/s | GFLOP/s | / matmul |"
    print(hdr)
    print("|" + "---|" * 7)
    for size in sizes:
        r = bench_size(args.profile, size, device, args.steps, args.samples)
        print(
            f"| {r['size']} | {r['params_M']:.2f} | {r['train_steps_s']:.2f} | "
            f"{r['budget_min']:.1f} | {r['sample_img_s']:.1f} | {r['train_gflops']:.1f} | "
            f"{r['train_gflops'] / peak:.2f} |",
            flush=True,
        )


def _compare(args, sizes, device) -> None:
    """Each size in fp32 (the baseline) then bf16 autocast, back to back, and the ratios."""
    flags = "overridden" if CPU_BF16_ENV in os.environ else cpu_bf16()
    print(f"CPU bf16 flags (amx_bf16 / avx512_bf16) present: {flags}")
    print(
        "| size | fp32 train steps/s | bf16 train steps/s | train x "
        "| fp32 sample img/s | bf16 sample img/s | sample x |"
    )
    print("|" + "---|" * 7)
    before = os.environ.get(CPU_BF16_ENV)
    try:
        for size in sizes:
            r = {}
            for flag in ("0", "1"):
                os.environ[CPU_BF16_ENV] = flag
                r[flag] = bench_size(args.profile, size, device, args.steps, args.samples)
            a, b = r["0"], r["1"]
            print(
                f"| {size} | {a['train_steps_s']:.1f} | {b['train_steps_s']:.1f} | "
                f"{b['train_steps_s'] / a['train_steps_s']:.2f} | {a['sample_img_s']:.0f} | "
                f"{b['sample_img_s']:.0f} | {b['sample_img_s'] / a['sample_img_s']:.2f} |",
                flush=True,
            )
    finally:
        if before is None:
            os.environ.pop(CPU_BF16_ENV, None)
        else:
            os.environ[CPU_BF16_ENV] = before


if __name__ == "__main__":
    main()
