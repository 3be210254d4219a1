"""``flowstage analyze DATA [--labels LABELS] [--convention C] [--out DIR] ...``.

Also ``python -m flowstage_lib.analyze DATA ...`` and, sharded over processes,
``torchrun --nproc_per_node P -m flowstage_lib.analyze DATA ...``.
"""

from __future__ import annotations

import argparse
import json
import sys

import torch

from flowstage_lib.analyze.conventions import CONVENTIONS

__all__ = ["add_parser", "build_parser", "run"]

HELP = "where is your data's navigation -> refinement transition (and the shift / CFG it implies)"


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("data", help=".npy (memory-mapped), .npz, or a folder of .npy shards")
    p.add_argument("--labels", help="integer labels (N,) as .npy / .npz: class-conditional too")
    p.add_argument(
        "--convention",
        choices=CONVENTIONS,
        default="ours",
        help="write times and shifts as ours (t=0 noise), lightningdit, sd3 "
        "(sigma = 1 - t) or flow_matching",
    )
    p.add_argument("--out", default="analysis", help="output folder (JSON, PNG, HTML)")
    p.add_argument("--queries", type=int, default=256, help="unconditional queries")
    p.add_argument("--class-queries", type=int, default=None, help="queries per class")
    p.add_argument("--times", type=int, default=32, help="points of the t grid")
    p.add_argument("--t-max", type=float, default=0.98, help="last t of the grid (ours)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--classes", type=int, nargs="+", help="only these classes")
    p.add_argument(
        "--no-unconditional",
        action="store_true",
        help="skip the unconditional curves (a pass over all rows)",
    )
    p.add_argument("--float64", action="store_true", help="compute in float64")
    p.add_argument("--chunk-rows", type=int, default=None, help="rows per streamed block")
    p.add_argument("--no-progress", action="store_true")


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``analyze`` on an argparse subparsers object (flowstage_lib/tooling/cli.py)."""
    p = subparsers.add_parser("analyze", help=HELP, description=HELP)
    _arguments(p)
    return p


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="flowstage analyze", description=HELP)
    _arguments(p)
    return p


def run(args: argparse.Namespace) -> int:
    """Run the analysis; rank 0 writes the report. Returns the exit status."""
    from flowstage_lib.analyze import analyze
    from flowstage_lib.analyze.distributed import init_from_env, rank_world
    from flowstage_lib.analyze.report import write_report

    init_from_env()
    try:
        res = analyze(
            args.data,
            labels=args.labels,
            convention=args.convention,
            queries=args.queries,
            class_queries=args.class_queries,
            times=args.times,
            t_max=args.t_max,
            seed=args.seed,
            unconditional=not args.no_unconditional,
            classes=args.classes,
            dtype=torch.float64 if args.float64 else torch.float32,
            chunk_rows=args.chunk_rows,
            progress=not args.no_progress,
        )
    except (ValueError, TypeError, FileNotFoundError) as err:
        print(f"flowstage analyze: error: {err}", file=sys.stderr)
        return 2
    finally:
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.barrier()
    if rank_world()[0] == 0:
        paths = write_report(res, args.out)
        d = res.to_dict()
        cal = d["calibration"]
        print(
            f"[flowstage analyze] k = {cal['k']:.4g} {cal['k_interval']}; "
            f"{d['time_name']} of the 0.9 crossing: {cal['crossing']:.4g}"
        )
        print(
            json.dumps(
                {"transfer": {k: v for k, v in d["transfer"].items() if k != "note"}}, default=str
            )[:2000]
        )
        print(f"[flowstage analyze] wrote {paths['json']}, {paths['png']}, {paths['html']}")
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
    return 0


def main(argv: list[str] | None = None) -> int:
    return run(build_parser().parse_args(argv))
