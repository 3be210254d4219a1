"""The oracle's copy of the data (Theorem 2.1): sorted by label, centred, as augmented rows.

Each row is [x1_i - mu, ||x1_i - mu||^2, 1, 0 ...] in the compute dtype (width D' = D + 2,
padded to a multiple of 16 when D >= 64), so that the bias of the logits
-alpha_t^2 ||x1_i - mu||^2 / (2 sigma_t^2) and the softmax normaliser sum_i p_i come out of the
kernel's two matmuls (:mod:`flowstage_lib.oracle.kernel`) instead of extra passes over the
(B, chunk) logits. Sorting by label makes each class a contiguous slice (u*(x_t, t | y)).
"""

from __future__ import annotations

import torch

__all__ = ["augmented_rows", "sort_by_label"]


def sort_by_label(
    labels: torch.Tensor, device: torch.device
) -> tuple[torch.Tensor, dict[int, tuple[int, int]]]:
    """Stable sort of (N,) int64 labels.

    Returns:
        (perm (N,) on `device`: sorted position -> original index,
         classes: label -> [start, end) slice of the sorted data).
    """
    sorted_labels, perm = torch.sort(labels, stable=True)
    uniq, counts = torch.unique_consecutive(sorted_labels, return_counts=True)
    ends = torch.cumsum(counts, 0)
    classes = {int(c): (int(e - k), int(e)) for c, k, e in zip(uniq, counts, ends, strict=True)}
    return perm.to(device), classes


def _mean(flat: torch.Tensor, rows: int, device: torch.device) -> torch.Tensor:
    """(D,) float64 mean of the (N, D) rows, summed `rows` rows at a time."""
    n, d = flat.shape
    mu = torch.zeros(d, dtype=torch.float64, device=device)
    for s in range(0, n, rows):
        mu += flat[s : s + rows].to(device, torch.float64).sum(0)
    return mu / n


def _overflow(src: torch.Tensor, mu: torch.Tensor, dtype: torch.dtype) -> ValueError:
    big = float((src - mu).abs().max())
    return ValueError(
        f"data overflow the compute dtype {dtype}: values (centred) up to {big:.3g} "
        f"and squared norms up to {float((src - mu).square().sum(1).max()):.3g} "
        f"exceed its range (max {torch.finfo(dtype).max:.3g}); rescale the data or "
        "use dtype=torch.float64"
    )


def augmented_rows(
    flat: torch.Tensor,
    perm: torch.Tensor | None,
    center: bool,
    dtype: torch.dtype,
    device: torch.device,
    copy_bytes: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Copy the data (in chunks of about `copy_bytes`, checking finiteness on the way).

    Args:
        flat: (N, D) data x1 (the caller's tensor: never modified).
        perm: (N,) sorted position -> original index, or None (keep the order).
        center: subtract the data mean mu (else mu = 0).

    Returns:
        (aug (N, D') in `dtype` on `device`, mu (D,) float64).
    """
    n, d = flat.shape
    itemsize = torch.finfo(dtype).bits // 8
    rows = max(1, copy_bytes // max(1, d * itemsize))
    mu = _mean(flat, rows, device) if center else torch.zeros(d, dtype=torch.float64, device=device)
    width = d + 2 if d < 64 else -(-(d + 2) // 16) * 16
    aug = torch.zeros((n, width), dtype=dtype, device=device)  # (N, D')
    perm_src = None if perm is None else perm.to(flat.device)
    for s in range(0, n, rows):
        e = min(s + rows, n)
        src = flat[s:e] if perm_src is None else flat[perm_src[s:e]]
        src = src.to(device, torch.float64)  # (rows, D)
        if not torch.isfinite(src).all():
            raise ValueError("data contains NaN or inf")
        aug[s:e, :d] = src - mu  # never in place: src may be the caller's tensor
        aug[s:e, d] = aug[s:e, :d].to(torch.float64).square().sum(1)  # of the stored values
        aug[s:e, d + 1] = 1.0
        if not torch.isfinite(aug[s:e, : d + 1]).all():
            raise _overflow(src, mu, dtype)
    return aug, mu
