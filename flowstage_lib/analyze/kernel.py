"""Exact merge of partial online-softmax statistics (Theorem 2.1 streamed over data blocks).

Each block of rows is handed to the oracle's own streaming kernel (`OracleVelocity._stream`,
no second copy of Eq. 19); its result for a query batch over rows S_j is a `Partial`:
L_j = log sum_{i in S_j} exp(l_i), the block posterior mean M_j, top-1 weight and entropy of
the block posterior g^(j). With w_j = exp(L_j - L), L = log sum_j exp(L_j), the full posterior
is gamma_i = w_j g_i^(j) for i in S_j, so exactly

    E[x1 | x_t] = sum_j w_j M_j,   max_i gamma_i = max_j w_j top1_j,
    H = -sum_i gamma_i log gamma_i = sum_j w_j (H_j - log w_j).

Queries built from (x1, x0) pairs (`PairQueries`, what `curves.query_stats` draws) stream
through `OracleVelocity._stream_pairs`: the logits at every time come from the 2P pair inner
products (`oracle.kernel.stream_pairs`), a 2P x D matmul per block instead of one of B x D.

All blocks use one reference point mu (logits of the centred rows x1_i - mu): the logits then
differ from the uncentred ones by a per-query constant that cancels in every formula above.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from flowstage_lib.oracle import OracleVelocity

__all__ = [
    "PairQueries",
    "Partial",
    "block_partial",
    "empty_partial",
    "merge",
    "stream_partial",
]


@dataclass
class Partial:
    """Online-softmax statistics of a query batch over a subset of the data rows.

    Attributes:
        log_norm: (B,) log-sum-exp of the logits over the subset.
        mean: (B, D) posterior mean over the subset, minus mu.
        top1: (B,) top-1 weight within the subset.
        top1_index: (B,) int64 row index (in the data file) of the top-1 row.
        entropy: (B,) posterior entropy within the subset (nats).
    """

    log_norm: torch.Tensor
    mean: torch.Tensor
    top1: torch.Tensor
    top1_index: torch.Tensor
    entropy: torch.Tensor

    def to_list(self) -> list[torch.Tensor]:
        return [self.log_norm, self.mean, self.top1, self.top1_index, self.entropy]


@dataclass
class PairQueries:
    """B centred queries on straight lines through P pairs (rectified flow, Eq. 1):
    x_t - alpha_t mu = alpha_t (x1_p - mu) + sigma_t x0_p for p = owner[b].

    Attributes:
        x1c: (P, D) x1_p - mu, compute dtype.
        x0: (P, D) the pairs' noise, compute dtype.
        owner: (B,) int64 pair of each query row, in [0, P).
    """

    x1c: torch.Tensor
    x0: torch.Tensor
    owner: torch.Tensor

    def __post_init__(self):
        p = self.x1c.shape[0]
        if self.x1c.ndim != 2 or self.x1c.shape != self.x0.shape:
            raise ValueError(
                f"x1c and x0 must both be (P, D), got {tuple(self.x1c.shape)} and "
                f"{tuple(self.x0.shape)}"
            )
        o = self.owner
        if o.ndim != 1 or o.dtype != torch.long:
            raise ValueError(f"owner must be a (B,) int64 tensor, got {o.dtype} {tuple(o.shape)}")
        if o.numel() and not (0 <= int(o.min()) and int(o.max()) < p):
            raise ValueError(f"owner must index the P = {p} pairs, got values outside [0, {p})")

    @property
    def shape(self) -> tuple[int, int]:
        """(B, D), as a dense query batch."""
        return (self.owner.shape[0], self.x1c.shape[1])

    @property
    def dtype(self) -> torch.dtype:
        return self.x1c.dtype

    def dense(self, alpha: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        """(B, D) centred queries alpha_t (x1_p - mu) + sigma_t x0_p in the compute dtype.

        Args:
            alpha, sigma: (B,) float64 schedule values of each row.
        """
        dt = self.dtype
        a, s = alpha.to(dt).unsqueeze(1), sigma.to(dt).unsqueeze(1)
        return self.x1c[self.owner] * a + self.x0[self.owner] * s


def merge(a: Partial | None, b: Partial | None) -> Partial | None:
    """Exact merge of two partials over disjoint row subsets (see the module docstring).

    Ties of the top-1 weight keep ``a``'s row (the earlier block).
    """
    if a is None or b is None:
        return b if a is None else a
    big = torch.logaddexp(a.log_norm, b.log_norm)  # (B,)
    wa, wb = torch.exp(a.log_norm - big), torch.exp(b.log_norm - big)  # (B,) sum to 1
    ga, gb = wa * a.top1, wb * b.top1
    take_b = gb > ga
    ent = wa * a.entropy + wb * b.entropy - torch.special.xlogy(wa, wa)
    ent = ent - torch.special.xlogy(wb, wb)
    return Partial(
        log_norm=big,
        mean=wa.unsqueeze(1) * a.mean + wb.unsqueeze(1) * b.mean,
        top1=torch.where(take_b, gb, ga),
        top1_index=torch.where(take_b, b.top1_index, a.top1_index),
        entropy=ent.clamp_min(0),
    )


def empty_partial(b: int, d: int, dtype: torch.dtype) -> Partial:
    """The partial of an empty row set (log_norm = -inf): merge(empty, p) == p."""
    z = torch.zeros(b, dtype=dtype)
    return Partial(
        torch.full((b,), -torch.inf, dtype=dtype),
        torch.zeros(b, d, dtype=dtype),
        z,
        torch.full((b,), -1, dtype=torch.long),
        z.clone(),
    )


def block_partial(
    block: np.ndarray,
    index: np.ndarray,
    xc: torch.Tensor | PairQueries,
    alpha: torch.Tensor,
    sigma: torch.Tensor,
    mu: torch.Tensor,
    dtype: torch.dtype,
) -> Partial:
    """Statistics of queries over one block of rows, by the oracle's streaming kernel.

    Args:
        block: (c, D) float64 rows x1_i.
        index: (c,) their row indices in the data.
        xc: (B, D) centred queries x_t - alpha_t mu, compute dtype, or `PairQueries`
            (the same queries, streamed from the pairs' inner products).
        alpha, sigma: (B,) float64 schedule values at each query's t.
        mu: (D,) float64 reference point.
        dtype: compute dtype (float32 / float64).
    """
    rows = torch.from_numpy(block) - mu  # (c, D) float64
    oracle = OracleVelocity(rows, center=False, dtype=dtype)
    n = rows.shape[0]
    if isinstance(xc, PairQueries):
        ratio = alpha / sigma  # (B,) float64
        st = oracle._stream_pairs(xc.x1c, xc.x0, xc.owner, ratio, 0, n, entropy=True, index=True)
    else:
        st = oracle._stream(xc, alpha, sigma, 0, n, entropy=True, index=True)
    return Partial(
        log_norm=st.log_norm,
        mean=st.mean_c,
        top1=st.top1,
        top1_index=torch.from_numpy(np.asarray(index, dtype=np.int64))[st.top1_pos],
        entropy=st.entropy,
    )


def stream_partial(
    source,
    xc: torch.Tensor | PairQueries,
    alpha: torch.Tensor,
    sigma: torch.Tensor,
    mu: torch.Tensor,
    rows: np.ndarray | None = None,
    dtype: torch.dtype = torch.float32,
    chunk_rows: int | None = None,
    progress: bool = False,
    desc: str = "rows",
) -> Partial:
    """Stream a query batch over the rows of a `RowSource` (all, or the sorted ``rows``),
    block by block, merging exactly. Memory: one block plus O(B D), whatever N is.

    Args:
        source: a RowSource.
        xc: (B, D) centred queries, or `PairQueries`; alpha, sigma: (B,) float64;
            mu: (D,) float64.
        rows: optional (M,) sorted row indices (a class, or a rank's shard).
        chunk_rows: rows per block (default: about 128 MiB of float64).
    """
    total = source.n if rows is None else int(rows.size)
    if total == 0:  # a rank's empty shard: the neutral element of `merge`
        return empty_partial(xc.shape[0], xc.shape[1], xc.dtype)
    step = chunk_rows or max(256, (1 << 24) // source.dim)
    acc = None
    bar = tqdm(total=total, desc=desc, unit="row", disable=not progress, leave=False)
    for s in range(0, total, step):
        e = min(s + step, total)
        index = np.arange(s, e) if rows is None else rows[s:e]
        if index[-1] - index[0] + 1 == index.size:  # contiguous: a slice, not a gather
            block = source.read(int(index[0]), int(index[-1]) + 1)
        else:
            block = source.take(index)
        acc = merge(acc, block_partial(block, index, xc, alpha, sigma, mu, dtype))
        bar.update(e - s)
    bar.close()
    return acc
