"""Deterministic stratified train / held-out splits and the names they give a data set."""

from __future__ import annotations

import re

import torch

__all__ = ["stratified_split", "SPLITS"]

SPLITS = ("all", "train", "heldout", "test")


# ----------------------------------------------------------------------------- splits


def stratified_split(
    y: torch.Tensor, heldout_fraction: float = 0.1, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Deterministic stratified split: ``round(heldout_fraction * n_c)`` of every class held out.

    Args:
        y: (N,) int64 labels.
        heldout_fraction: fraction in [0, 1) of each class to hold out.
        seed: chooses which items (a torch.Generator permutation per class).

    Returns:
        (train_idx, heldout_idx), each sorted ascending, disjoint, covering 0..N-1.
    """
    if not 0.0 <= heldout_fraction < 1.0:
        raise ValueError(f"heldout_fraction must lie in [0, 1), got {heldout_fraction}")
    g = torch.Generator().manual_seed(int(seed))
    held = []
    for c in torch.unique(y).tolist():
        idx = (y == c).nonzero().squeeze(1)
        k = int(round(heldout_fraction * len(idx)))
        held.append(idx[torch.randperm(len(idx), generator=g)[:k]])
    held_idx = torch.cat(held).sort().values if held else torch.zeros(0, dtype=torch.long)
    mask = torch.ones(len(y), dtype=torch.bool)
    mask[held_idx] = False
    return mask.nonzero().squeeze(1), held_idx


def _split_name(name: str, split: str, heldout_fraction: float, seed: int) -> str:
    if split in ("train", "heldout") and (heldout_fraction != 0.1 or seed != 0):
        return f"{name}/{split}[heldout_fraction={heldout_fraction},seed={seed}]"
    return f"{name}/{split}"


#: ``load_dataset(..., "train")`` names: ``"<source>/train"`` plus a non-default split's settings.
_NAME_RE = re.compile(
    r"^(?P<src>[a-z0-9_]+)/(?P<split>train)"
    r"(\[heldout_fraction=(?P<f>[^,]+),seed=(?P<s>-?\d+)\])?$"
)
