"""Sharding the data over torch.distributed ranks and merging the partials exactly.

Launch with ``torchrun --nproc_per_node P -m flowstage_lib.analyze DATA ...`` (gloo: the
blocks are streamed on the CPU). Every rank draws the same queries (same seed), streams only its
contiguous share of the rows (of the data, or of one class), and the per-rank `Partial`s are
all-gathered and merged in rank order with `kernel.merge`, which is exact (module docstring of
`kernel`), so P processes give the numbers of one process up to float rounding.
"""

from __future__ import annotations

import os

import numpy as np
import torch
import torch.distributed as dist

from flowstage_lib.analyze.kernel import Partial, merge

__all__ = ["all_merge", "init_from_env", "rank_world", "shard"]


def init_from_env(backend: str | None = None) -> bool:
    """Initialise the default process group when launched by torchrun (WORLD_SIZE > 1).

    Returns:
        True if a process group is (now) initialised.
    """
    if dist.is_available() and dist.is_initialized():
        return True
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    if backend is None:
        backend = "gloo"  # the streamed blocks live on the CPU
    dist.init_process_group(backend=backend)
    return True


def rank_world() -> tuple[int, int]:
    """(rank, world size); (0, 1) outside torch.distributed."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def shard(rows: np.ndarray | int, rank: int | None = None, world: int | None = None):
    """This rank's contiguous share of ``rows`` (an index array, or range(n) for an int).

    Shares differ in size by at most one row and may be empty (more ranks than rows).
    """
    if rank is None or world is None:
        rank, world = rank_world()
    rows = np.arange(rows, dtype=np.int64) if isinstance(rows, (int, np.integer)) else rows
    bounds = np.linspace(0, rows.size, world + 1).round().astype(np.int64)
    return rows[bounds[rank] : bounds[rank + 1]]


def all_merge(p: Partial) -> Partial:
    """Merge every rank's partial (same query batch, disjoint rows) into the full one.

    Single process: returns ``p``. Every rank gets the same result (merged in rank order).
    """
    rank, world = rank_world()
    if world == 1:
        return p
    fields = []
    for tensor in p.to_list():
        bufs = [torch.empty_like(tensor) for _ in range(world)]
        dist.all_gather(bufs, tensor.contiguous())
        fields.append(bufs)
    out = None
    for r in range(world):
        out = merge(out, Partial(*(f[r] for f in fields)))
    return out
