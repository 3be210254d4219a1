"""The streaming online-softmax kernel of the oracle (Theorem 2.1, appendix Eq. 19 as attention).

For queries x_t (centred: x_t - alpha_t mu) and stored rows [x1_i - mu, ||x1_i - mu||^2, 1]
(:mod:`flowstage_lib.oracle.store`), one pass over a contiguous slice of the rows gives

    log Z = log sum_i exp(l_i),   E[x1 | x_t] - mu = sum_i gamma_i (x1_i - mu),
    max_i gamma_i (and argmax), the k largest gamma_i, H = -sum_i gamma_i log gamma_i,

with logit_i = (alpha_t <x_t, x1_i> - alpha_t^2 ||x1_i||^2 / 2) / sigma_t^2 and
gamma = softmax(logit), holding only a (B, chunk) logits buffer and O(B D) accumulators: a
running offset m, the normaliser and weighted sum (one (B, D') accumulator), the running
max / top-k and the entropy sum (:func:`online_softmax`). Queries on straight lines
x_t = alpha_t x1_p + sigma_t x0_p (:func:`stream_pairs`) get their logits at all times from the
2P inner products of the pairs, combined per time. The default chunk is sized from a memory
budget that adapts to the device (:func:`default_chunk_bytes`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import torch

__all__ = [
    "CPU_CHUNK_BYTES",
    "CUDA_CHUNK_CAP",
    "CUDA_FREE_FRACTION",
    "StreamResult",
    "as_column",
    "augmented_query",
    "chunk_rows",
    "default_chunk_bytes",
    "online_softmax",
    "pair_query",
    "stream",
    "stream_pairs",
]

CPU_CHUNK_BYTES = 64 * 2**20  # logits buffer budget (B x chunk) per streaming step on CPU
CUDA_FREE_FRACTION = 1 / 16  # on CUDA: this fraction of the free device memory ...
CUDA_CHUNK_CAP = 2**30  # ... at most 1 GiB, and at least CPU_CHUNK_BYTES
_LAZY = 10.0  # move the softmax offset only when a logit exceeds it by this much
# exp(l - m) is floored at exp(floor), the smallest normal number being ~e^-87 (fp32) and
# ~e^-708 (fp64): denormals are slow, and weights below e^floor are far below rounding.
_EXP_FLOOR = {torch.float32: -80.0, torch.float64: -700.0}


def default_chunk_bytes(device: torch.device) -> int:
    """Memory budget (bytes) of the (B, chunk) logits buffer when none is given.

    CPU (and other non-CUDA devices): `CPU_CHUNK_BYTES` (64 MiB; larger buffers leave the
    cache and gain nothing). CUDA: `CUDA_FREE_FRACTION` of the device's free memory
    (``torch.cuda.mem_get_info``), clipped to [CPU_CHUNK_BYTES, CUDA_CHUNK_CAP], so that at
    N <= 1e5 a batch of a few hundred queries streams in one or two chunks (a GPU runs many
    small matmuls well below its rate). Unmeasured on a GPU so far.
    """
    device = torch.device(device)
    if device.type != "cuda":
        return CPU_CHUNK_BYTES
    free, _ = torch.cuda.mem_get_info(device)
    return int(min(CUDA_CHUNK_CAP, max(CPU_CHUNK_BYTES, free * CUDA_FREE_FRACTION)))


def chunk_rows(b: int, dtype: torch.dtype, budget: int) -> int:
    """Data rows per streaming step for b queries: the (b, chunk) logits take about `budget`
    bytes, with at least 256 rows."""
    itemsize = torch.finfo(dtype).bits // 8
    return max(256, budget // (max(1, b) * itemsize))


class StreamResult(NamedTuple):
    """Raw result of one streaming pass over a contiguous slice of the (sorted) data."""

    mean_c: torch.Tensor  # (b, D) centred posterior mean
    log_norm: torch.Tensor  # (b,) log-sum-exp of the logits
    top1: torch.Tensor  # (b,) top-1 weight
    top1_pos: torch.Tensor  # (b,) its position in the sorted data (if index=True)
    entropy: torch.Tensor | None  # (b,)
    topk: torch.Tensor | None  # (b, k) top-k weights, descending
    topk_pos: torch.Tensor | None  # (b, k) positions in the sorted data


def as_column(v: float | torch.Tensor, dtype: torch.dtype) -> float | torch.Tensor:
    """A float, or a (b,) tensor as a (b, 1) column in `dtype`."""
    return v if isinstance(v, float) else v.to(dtype).unsqueeze(1)


def augmented_query(
    xc: torch.Tensor, alpha: float | torch.Tensor, sigma: float | torch.Tensor, width: int
) -> torch.Tensor:
    """Queries [alpha / sigma^2 xc, -alpha^2 / (2 sigma^2), -m] as (b, D') rows, so that
    q @ row_i = logit_i - m (the last column, the offset, is set per chunk).

    Args:
        xc: (b, D) centred queries x_t - alpha_t mu, compute dtype.
        alpha, sigma: floats or (b,) float64 schedule values.
        width: D' of the stored rows.
    """
    b, d = xc.shape
    q = torch.zeros(b, width, dtype=xc.dtype, device=xc.device)  # (b, D')
    q[:, :d] = xc * as_column(alpha / sigma**2, xc.dtype)  # alpha / sigma^2 x_t
    negc = -(alpha**2) / (2 * sigma**2)  # times ||x1_i||^2
    q[:, d] = negc if isinstance(negc, float) else negc.to(xc.dtype)
    return q


class _Running:
    """Accumulators of the online softmax over the rows seen so far, for b queries; every
    logit is held as l_i - m (m: the running offset)."""

    def __init__(self, b: int, width: int, d: int, k: int, dt: torch.dtype, dev: torch.device):
        self.d, self.k = d, k
        self.m = torch.zeros(b, dtype=dt, device=dev)  # offset: logits are l_i - m
        self.top = torch.full((b,), -math.inf, dtype=dt, device=dev)  # running max of l - m
        self.top_pos = torch.zeros(b, dtype=torch.long, device=dev)
        self.acc = torch.zeros(b, width, dtype=dt, device=dev)  # (b, D') [sum p x1, ., sum p]
        self.ent = torch.zeros(b, dtype=dt, device=dev)  # sum_i p_i (l_i - m)
        self.tk_val = self.tk_pos = None  # (b, k) running top-k of l_i - m, positions

    def observe(self, logit: torch.Tensor, s: int, index: bool) -> torch.Tensor:
        """Update the running max (and argmax, top-k) with a chunk's (b, c) logits starting at
        row s; return the chunk max (b,)."""
        if index:
            cmax, cidx = logit.max(dim=1)  # (b,)
            self.top_pos = torch.where(cmax > self.top, cidx + s, self.top_pos)
        else:
            cmax = logit.amax(dim=1)  # (b,)
        self.top = torch.maximum(self.top, cmax)
        if self.k > 1:
            v, i = logit.topk(min(self.k, logit.shape[1]), dim=1)  # (b, k')
            v = v if self.tk_val is None else torch.cat([self.tk_val, v], 1)
            i = i + s if self.tk_pos is None else torch.cat([self.tk_pos, i + s], 1)
            self.tk_val, j = v.topk(min(self.k, v.shape[1]), dim=1)
            self.tk_pos = i.gather(1, j)
        return cmax

    def shift(self, logit: torch.Tensor, shift: torch.Tensor, first: bool) -> None:
        """Move the offset m by `shift` (b,): the chunk's logits and the accumulators follow."""
        logit.sub_(shift.unsqueeze(1))
        if not first:  # (accumulators are still 0 on the first chunk)
            rescale = torch.exp(-shift)  # (b,) in (0, e^-_LAZY] or 1
            self.ent = rescale * (self.ent - shift * self.acc[:, self.d + 1])
            self.acc.mul_(rescale.unsqueeze(1))
        self.m = self.m + shift
        self.top = self.top - shift
        if self.tk_val is not None:
            self.tk_val = self.tk_val - shift.unsqueeze(1)

    def result(self, entropy: bool) -> StreamResult:
        d, acc = self.d, self.acc
        norm = acc[:, d + 1]  # (b,) sum_i exp(l_i - m)
        if not bool(torch.isfinite(self.m).all()):
            raise ValueError(
                f"t is too close to 1 for {acc.dtype}: the logits (~ 1 / sigma_t^2) overflow; "
                "use dtype=torch.float64 or a smaller t"
            )
        return StreamResult(
            mean_c=acc[:, :d] / norm.unsqueeze(1),
            log_norm=self.m + torch.log(norm),
            top1=torch.exp(self.top) / norm,
            top1_pos=self.top_pos,
            entropy=(torch.log(norm) - self.ent / norm).clamp_min_(0) if entropy else None,
            topk=None if self.tk_val is None else torch.exp(self.tk_val) / norm.unsqueeze(1),
            topk_pos=self.tk_pos,
        )


def online_softmax(
    aug: torch.Tensor,
    b: int,
    logits: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], None],
    lo: int,
    hi: int,
    chunk: int,
    d: int,
    k: int = 1,
    entropy: bool = False,
    index: bool = False,
) -> StreamResult:
    """One online-softmax pass of b queries over the stored rows [lo, hi) (Eq. 19 as attention).

    Per chunk of c rows X: ``logits(X, m, out)`` writes the shifted logits l_i - m into the
    (b, c) buffer ``out`` (m: the (b,) running offset), then a max, an in-place exp, and one
    matmul accumulates [sum p_i x1_i, ., sum p_i]. The offset m is moved (rescaling the
    accumulators) only on the first chunk and when a chunk's logits exceed it by more than
    `_LAZY` (lazy rescaling), so p_i <= e^_LAZY never overflows; the result is exact for any
    offset.

    Args:
        aug: (N, D') stored rows [x1_i - mu, ||x1_i - mu||^2, 1, 0...], compute dtype.
        b: number of queries; d: D (the data columns of ``aug``).
        chunk: rows per step (see :func:`chunk_rows`).
        k: running top-k size (k = 1 uses the argmax of the max reduction).
        entropy: also accumulate the posterior entropy.
        index: also track the argmax (top-1 position).
    """
    dt, dev = aug.dtype, aug.device
    run = _Running(b, aug.shape[1], d, k, dt, dev)
    n = min(chunk, hi - lo)
    buf = torch.empty(b * n, dtype=dt, device=dev)
    buf2 = torch.empty(b * n, dtype=dt, device=dev) if entropy else None
    floor = _EXP_FLOOR[dt] if dev.type == "cpu" else None  # GPUs: denormals are fast
    sync_free = dev.type != "cpu"  # on accelerators always shift instead of testing
    for s in range(lo, hi, n):
        e = min(s + n, hi)
        c = e - s
        X = aug[s:e]  # (c, D')
        logit = buf[: b * c].view(b, c)  # (b, c) l_i - m
        logits(X, run.m, logit)
        cmax = run.observe(logit, s, index)
        # Move the offset where needed (first chunk: to the chunk max, everywhere).
        shift = cmax if s == lo else torch.where(cmax > _LAZY, cmax, torch.zeros_like(cmax))
        if s == lo or sync_free or bool((shift != 0).any()):
            run.shift(logit, shift, first=s == lo)
        # Floor at e^floor (a normal number): denormal results make exp ~10x slower on
        # x86 CPUs; this changes sum_i p_i by < N e^floor relative, far below rounding.
        if floor is not None:
            logit.clamp_(min=floor)
        if entropy:
            p = buf2[: b * c].view(b, c)
            torch.exp(logit, out=p)
            run.ent += torch.bmm(p.unsqueeze(1), logit.unsqueeze(2)).view(b)  # sum p (l - m)
        else:
            p = logit.exp_()  # (b, c) unnormalised weights, <= e^_LAZY
        run.acc.addmm_(p, X)  # (b, D')
    return run.result(entropy)


def stream(
    aug: torch.Tensor,
    xc: torch.Tensor,
    alpha: float | torch.Tensor,
    sigma: float | torch.Tensor,
    lo: int,
    hi: int,
    chunk: int,
    k: int = 1,
    entropy: bool = False,
    index: bool = False,
) -> StreamResult:
    """`online_softmax` of arbitrary queries x_t: per chunk one matmul gives the shifted
    logits l_i - m (the bias -alpha^2 ||x1_i||^2 / 2 sigma^2 and the running offset -m ride on
    the augmented columns).

    Args:
        aug: (N, D') stored rows [x1_i - mu, ||x1_i - mu||^2, 1, 0...], compute dtype.
        xc: centred queries x_t - alpha_t mu, (b, D) compute dtype, on aug's device.
        alpha, sigma: floats or (b,) float64 schedule values.
        lo, hi, chunk, k, entropy, index: as in :func:`online_softmax`.
    """
    b, d = xc.shape
    q = augmented_query(xc, alpha, sigma, aug.shape[1])  # (b, D')

    def logits(X, m, out):
        q[:, d + 1] = -m  # times the column of ones
        torch.mm(q, X.T, out=out)

    return online_softmax(aug, b, logits, lo, hi, chunk, d, k, entropy, index)


def pair_query(x1c: torch.Tensor, x0: torch.Tensor, width: int) -> torch.Tensor:
    """(2P, D') rows [x1_p - mu, -1/2, 0, ...] then [x0_p, 0, 0, ...]: their products with a
    stored row [x1_i - mu, ||x1_i - mu||^2, 1, 0...] are <x1_p - mu, x1_i - mu> -
    ||x1_i - mu||^2 / 2 and <x0_p, x1_i - mu> (:func:`stream_pairs`).

    Args:
        x1c: (P, D) x1_p - mu; x0: (P, D) noise; compute dtype. width: D'.
    """
    p, d = x1c.shape
    q = torch.zeros(2 * p, width, dtype=x1c.dtype, device=x1c.device)  # (2P, D')
    q[:p, :d] = x1c
    q[:p, d] = -0.5
    q[p:, :d] = x0
    return q


def stream_pairs(
    aug: torch.Tensor,
    x1c: torch.Tensor,
    x0: torch.Tensor,
    owner: torch.Tensor,
    ratio: torch.Tensor,
    lo: int,
    hi: int,
    chunk: int,
    k: int = 1,
    entropy: bool = False,
    index: bool = False,
) -> StreamResult:
    """`online_softmax` of queries on straight lines, x_t - alpha_t mu = alpha_t (x1_p - mu) +
    sigma_t x0_p, from the 2P inner products of the pairs instead of one per query row.

    With r_i = x1_i - mu and rho = alpha_t / sigma_t, the logit (:func:`augmented_query`)
    alpha_t / sigma_t^2 <x_t - alpha_t mu, r_i> - alpha_t^2 ||r_i||^2 / (2 sigma_t^2) is
    rho^2 (<x1_p - mu, r_i> - ||r_i||^2 / 2) + rho <x0_p, r_i>: per chunk one (2P, D') x
    (D', c) matmul (:func:`pair_query`; the bias rides on its -1/2 column) and O(b c) to
    combine, instead of a (b, D') x (D', c) matmul. Each inner product is rounded once in the
    compute dtype, as in :func:`stream`, and rho, rho^2 are formed in float64, so the logits
    carry rounding errors of the same size as :func:`stream`'s.

    Args:
        aug: (N, D') stored rows, compute dtype.
        x1c: (P, D) x1_p - mu; x0: (P, D) the pairs' noise; compute dtype, on aug's device.
        owner: (b,) int64 pair of each query row, in [0, P).
        ratio: (b,) float64 alpha_t / sigma_t of each query row.
        lo, hi, chunk, k, entropy, index: as in :func:`online_softmax`.
    """
    p, d = x1c.shape
    b = owner.shape[0]
    pq = pair_query(x1c, x0, aug.shape[1])  # (2P, D')
    rho = ratio.to(aug.dtype).unsqueeze(1)  # (b, 1)
    rho2 = ratio.square().to(aug.dtype).unsqueeze(1)  # (b, 1), squared in float64

    def logits(X, m, out):
        g = torch.mm(pq, X.T)  # (2P, c): [<x1_p - mu, r_i> - ||r_i||^2 / 2; <x0_p, r_i>]
        torch.index_select(g[:p], 0, owner, out=out)
        out.mul_(rho2)
        out.addcmul_(g[p:].index_select(0, owner), rho)
        out.sub_(m.unsqueeze(1))

    return online_softmax(aug, b, logits, lo, hi, chunk, d, k, entropy, index)
