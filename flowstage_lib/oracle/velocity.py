"""Closed-form oracle velocity of a finite training set (paper Theorem 2.1, appendix Eq. 19).

For a data set {x1_i}, i = 1..N (uniform over i), x0 ~ N(0, I) and an affine path
x_t = alpha_t x1 + sigma_t x0, the minimiser of the CFM loss is

.. math::

    u^*(x_t, t) = A_t \\sum_i \\gamma_i(x_t, t)\\, x_{1,i} + B_t x_t, \\qquad
    A_t = \\dot\\alpha_t - \\alpha_t \\dot\\sigma_t / \\sigma_t, \\quad
    B_t = \\dot\\sigma_t / \\sigma_t,

    \\gamma_i = \\mathrm{softmax}_i\\big(-\\|x_t - \\alpha_t x_{1,i}\\|^2 / (2\\sigma_t^2)\\big).

(The main text's Eq. 6 prints sigma_t^2 in the denominators of A_t and B_t: a typo; the
appendix Eq. 19, implemented here, has sigma_t.) sum_i gamma_i x1_i = E[x1 | x_t] is a
Nadaraya-Watson estimate, i.e. one attention head with query x_t and keys = values = x1_i:
the ||x_t||^2 term cancels in the softmax and

    logit_i = (alpha_t <x_t, x1_i> - alpha_t^2 ||x1_i||^2 / 2) / sigma_t^2.

`OracleVelocity` evaluates this exactly (no truncation to nearest neighbours) by streaming over
chunks of the data with an online softmax (:mod:`flowstage_lib.oracle.kernel`: running offset,
normaliser, weighted sum, top-k and entropy), so memory is O(B * chunk + B * D) beyond the stored
data whatever N is, and the work is two matmuls per chunk (4 B N D flops in all). It stores one
copy of the data in the compute dtype, sorted by label and centred, as rows
[x1_i - mu, ||x1_i - mu||^2, 1] (:mod:`flowstage_lib.oracle.store`) so that the logit bias and
the softmax normaliser come out of the matmuls. Inputs are checked by
:mod:`flowstage_lib.oracle.checks`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from flowstage_lib.oracle.checks import (
    check_data,
    check_labels,
    check_options,
    check_t,
    check_x,
    check_y,
    is_int,
)
from flowstage_lib.oracle.kernel import (
    CPU_CHUNK_BYTES,
    StreamResult,
    as_column,
    chunk_rows,
    default_chunk_bytes,
    stream,
    stream_pairs,
)
from flowstage_lib.oracle.store import augmented_rows, sort_by_label
from flowstage_lib.path import AffinePath

__all__ = ["OracleStats", "OracleVelocity"]


@dataclass
class OracleStats:
    """Posterior summaries of one streaming pass (Sec. 3, Fig. 2b / 3).

    Attributes:
        mean: E[x1 | x_t] = sum_i gamma_i x1_i, shape (B, *shape).
        top1: max_i gamma_i, the top-1 posterior weight, (B,).
        top1_index: argmax_i gamma_i, an index into the full data set (original order), (B,).
        entropy: -sum_i gamma_i log gamma_i in nats, (B,); 0 when the posterior is one-hot,
            log N (log N_y) when it is uniform.
    """

    mean: torch.Tensor
    top1: torch.Tensor
    top1_index: torch.Tensor
    entropy: torch.Tensor


class OracleVelocity:
    """Exact oracle velocity u*(x_t, t [| y]) of a finite data set (Theorem 2.1, Eq. 19).

    Args:
        data: training set x1, (N, *shape) tensor or numpy array.
        labels: optional integer class labels, (N,). Needed for class-conditional queries
            u*(x_t, t | y), which use the same formula over the subset with label y.
        path: the affine path (default `RectifiedFlowPath()`).
        chunk_size: data rows per streaming step; default: sized so the (B, chunk) logits
            buffer takes about `chunk_bytes`.
        dtype: compute dtype, torch.float32 or torch.float64 (default: the data's floating
            dtype if float32/float64, else float32). Use float64 for exact work near t = 1.
        device: where the data is stored and everything is computed (default: the data's
            device). CUDA works.
        center: store the data centred on its mean (exact: distances are shift invariant when
            x_t is shifted by alpha_t * mean) -- this shrinks ||x1_i|| and hence the fp32
            rounding error of the logits. The oracle always keeps its own copy of the data
            (N x (D + 2) values, padded to a multiple of 16 for D >= 64); the caller may drop
            theirs.
        chunk_bytes: memory budget of the logits buffer when `chunk_size` is None; default
            (None): 64 MiB on CPU, a share of the free memory on CUDA
            (:func:`flowstage_lib.oracle.kernel.default_chunk_bytes`), fixed at construction.

    Numerical note (fp32 near t -> 1):
        The logits are differences of terms of size ~ alpha_t^2 R^2 / sigma_t^2 (R: norm of
        the centred data points, R^2 ~ D for unit-variance data) computed in the compute dtype,
        so their absolute rounding error is about eps * alpha_t (||x_t|| R + alpha_t R^2) /
        sigma_t^2 -- it grows like 1 / (1 - t)^2 for rectified flow. gamma_i inherits that
        error as a relative error, and the velocity multiplies it by A_t ~ 1 / (1 - t). With
        fp32 (eps = 6e-8), D = 3072 and t = 0.99 this is O(1): fp32 weights are only
        trustworthy there once the posterior is already one-hot (which, in high dimension, it
        is well before). Use ``dtype=torch.float64`` (eps = 1e-16) for exact work near t = 1.
        `tests/oracle/test_velocity.py::test_fp32_error_bound` checks the bound.

    Shapes: queries x_t are (B, *shape); outputs are in the compute dtype on `device`.
    """

    def __init__(
        self,
        data,
        labels=None,
        path: AffinePath | None = None,
        chunk_size: int | None = None,
        dtype: torch.dtype | None = None,
        device: str | torch.device | None = None,
        center: bool = True,
        chunk_bytes: int | None = None,
    ):
        data = check_data(data)
        self.path, self.dtype = check_options(data, path, chunk_size, dtype, chunk_bytes)
        self.device = torch.device(device) if device is not None else data.device
        self.chunk_size = None if chunk_size is None else int(chunk_size)
        self.data_shape = tuple(data.shape[1:])
        self.num_samples = n = data.shape[0]
        self.dim = math.prod(self.data_shape)
        # Labels: sort the data by label once so that each class is a contiguous slice.
        self._perm = None  # (N,) sorted position -> original index
        self.classes: dict[int, tuple[int, int]] | None = None  # label -> [start, end)
        if labels is not None:
            self._perm, self.classes = sort_by_label(check_labels(labels, n), self.device)
        copy_bytes = CPU_CHUNK_BYTES if chunk_bytes is None else int(chunk_bytes)
        flat = data.reshape(n, self.dim)  # (N, D), a view when possible
        aug, mu = augmented_rows(flat, self._perm, center, self.dtype, self.device, copy_bytes)
        self._aug = aug  # (N, D') compute dtype, sorted by label, centred
        self._mu = mu.to(self.dtype)  # (D,)
        self.data_mean = mu.to(self.dtype).reshape(self.data_shape)  # (*shape)
        # after the copy, so that a CUDA budget counts the stored data as used
        self.chunk_bytes = (
            default_chunk_bytes(self.device) if chunk_bytes is None else int(chunk_bytes)
        )

    # ------------------------------------------------------------------ streaming core
    def _chunk(self, b: int) -> int:
        """Data rows per streaming step for a batch of b queries."""
        if self.chunk_size is not None:
            return self.chunk_size
        return chunk_rows(b, self.dtype, self.chunk_bytes)

    def _stream(
        self,
        xc: torch.Tensor,
        alpha: float | torch.Tensor,
        sigma: float | torch.Tensor,
        lo: int,
        hi: int,
        k: int = 1,
        entropy: bool = False,
        index: bool = False,
    ) -> StreamResult:
        """One online-softmax pass over the stored rows [lo, hi) (:func:`.kernel.stream`).

        Args:
            xc: centred queries x_t - alpha_t mu, (b, D) compute dtype.
            alpha, sigma: floats or (b,) float64 schedule values.
        """
        chunk = self._chunk(xc.shape[0])
        return stream(self._aug, xc, alpha, sigma, lo, hi, chunk, k, entropy, index)

    def _stream_pairs(
        self,
        x1c: torch.Tensor,
        x0: torch.Tensor,
        owner: torch.Tensor,
        ratio: torch.Tensor,
        lo: int,
        hi: int,
        k: int = 1,
        entropy: bool = False,
        index: bool = False,
    ) -> StreamResult:
        """:meth:`_stream` of queries alpha_t (x1_p - mu) + sigma_t x0_p from the P pairs'
        inner products (:func:`.kernel.stream_pairs`).

        Args:
            x1c: (P, D) x1_p - mu; x0: (P, D); compute dtype. owner: (b,) int64 pair of each
                query row; ratio: (b,) float64 alpha_t / sigma_t.
        """
        chunk = self._chunk(owner.shape[0])
        return stream_pairs(self._aug, x1c, x0, owner, ratio, lo, hi, chunk, k, entropy, index)

    def _groups(
        self, yy: torch.Tensor | None, b: int
    ) -> list[tuple[torch.Tensor | None, int, int]]:
        """(rows of the batch or None for all, lo, hi) per label present in the batch."""
        if yy is None:
            return [(None, 0, self.num_samples)]
        groups = []
        for c in torch.unique(yy).tolist():
            rows = (yy == c).nonzero().squeeze(1).to(self.device)
            lo, hi = self.classes[c]
            groups.append((None if rows.numel() == b else rows, lo, hi))
        return groups

    def _run(self, x_t, t, y, k: int = 1, entropy: bool = False, index: bool = False):
        """Validate, group the batch by label, stream each group; return (x, tt, parts)."""
        x = check_x(x_t, self.data_shape, self.device, self.dtype)  # (B, D)
        b = x.shape[0]
        tt = check_t(t, b, self.device)  # float or (B,)
        yy = check_y(y, b, self.classes)
        alpha, sigma = self.path.alpha(tt), self.path.sigma(tt)  # float or (B,) float64
        if not (sigma > 0 if isinstance(sigma, float) else bool((sigma > 0).all())):
            raise ValueError("t must give sigma_t > 0 for this path (t = 1 is singular)")
        if b == 0:
            return x, tt, []
        xc = x - as_column(alpha, self.dtype) * self._mu  # (B, D) centred
        groups = self._groups(yy, b)
        n_min = min(hi - lo for _, lo, hi in groups)
        if k > n_min:
            raise ValueError(f"k = {k} exceeds the number of candidate samples ({n_min})")
        parts = []
        for rows, lo, hi in groups:
            if rows is None:
                res = self._stream(xc, alpha, sigma, lo, hi, k, entropy, index)
            else:
                a_r, s_r = (v if isinstance(v, float) else v[rows] for v in (alpha, sigma))
                res = self._stream(xc[rows], a_r, s_r, lo, hi, k, entropy, index)
            parts.append((rows, res))
        return x, tt, parts

    def _gather(self, b: int, parts, field: str) -> torch.Tensor:
        """Assemble a per-row field from the label groups into a (B, *trailing) tensor."""
        if len(parts) == 1 and parts[0][0] is None:
            return getattr(parts[0][1], field)
        first = getattr(parts[0][1], field)
        out = torch.empty((b, *first.shape[1:]), dtype=first.dtype, device=self.device)
        for rows, res in parts:
            out[rows] = getattr(res, field)
        return out

    def _original_index(self, pos: torch.Tensor) -> torch.Tensor:
        return pos if self._perm is None else self._perm[pos]

    # ------------------------------------------------------------------ public API
    def posterior_mean(self, x_t, t, y=None) -> torch.Tensor:
        """E[x1 | x_t] = sum_i gamma_i x1_i (Eq. 19), the Nadaraya-Watson estimate.

        Args:
            x_t: (B, *shape) points on the path.
            t: float or (B,) tensor in [0, 1).
            y: optional int or (B,) labels (class-conditional posterior over label y).

        Returns:
            (B, *shape) posterior mean.
        """
        x, _, parts = self._run(x_t, t, y)
        b = x.shape[0]
        if b == 0:
            return x.reshape(0, *self.data_shape)
        mean = self._gather(b, parts, "mean_c") + self._mu  # (B, D)
        return mean.reshape(b, *self.data_shape)

    def velocity(self, x_t, t, y=None) -> torch.Tensor:
        """Oracle velocity u*(x_t, t [| y]) = A_t E[x1 | x_t] + B_t x_t (Theorem 2.1, Eq. 19).

        A_t = alpha'_t - alpha_t sigma'_t / sigma_t, B_t = sigma'_t / sigma_t; for rectified
        flow u* = (E[x1 | x_t] - x_t) / (1 - t).

        Args:
            x_t: (B, *shape) points on the path.
            t: float or (B,) tensor in [0, 1).
            y: optional int or (B,) labels.

        Returns:
            (B, *shape) velocity, compute dtype.
        """
        x, tt, parts = self._run(x_t, t, y)
        b = x.shape[0]
        if b == 0:
            return x.reshape(0, *self.data_shape)
        mean = self._gather(b, parts, "mean_c") + self._mu  # (B, D)
        A, B = self.path.oracle_coefficients(tt)  # float or (B,) float64
        u = as_column(A, self.dtype) * mean + as_column(B, self.dtype) * x  # (B, D)
        return u.reshape(b, *self.data_shape)

    __call__ = velocity

    def top_weights(self, x_t, t, k: int = 1, y=None) -> tuple[torch.Tensor, torch.Tensor]:
        """The k largest posterior weights gamma_i and their data indices (Fig. 2b / 3).

        Args:
            x_t: (B, *shape).
            t: float or (B,) tensor in [0, 1).
            k: how many, 1 <= k <= N (N_y for conditional queries).
            y: optional int or (B,) labels.

        Returns:
            (values, indices), each (B, k), values descending; indices index the full data
            set in its original order (also for class-conditional queries).
        """
        if not is_int(k):
            raise TypeError(f"k must be an int, got {type(k).__name__}")
        if k < 1 or k > self.num_samples:
            raise ValueError(f"k must satisfy 1 <= k <= N = {self.num_samples}, got k = {k}")
        x, _, parts = self._run(x_t, t, y, k=k, index=True)
        b = x.shape[0]
        if b == 0:
            empty = torch.empty(0, k, device=self.device)
            return empty.to(self.dtype), empty.long()
        if k == 1:
            vals = self._gather(b, parts, "top1").unsqueeze(1)  # (B, 1)
            pos = self._gather(b, parts, "top1_pos").unsqueeze(1)
        else:
            vals = self._gather(b, parts, "topk")  # (B, k)
            pos = self._gather(b, parts, "topk_pos")
        return vals, self._original_index(pos)

    def stats(self, x_t, t, y=None) -> OracleStats:
        """Posterior mean, top-1 weight and index, and entropy in one streaming pass (Sec. 3).

        Args:
            x_t: (B, *shape).
            t: float or (B,) tensor in [0, 1).
            y: optional int or (B,) labels.

        Returns:
            OracleStats(mean (B, *shape), top1 (B,), top1_index (B,), entropy (B,)).
        """
        x, _, parts = self._run(x_t, t, y, entropy=True, index=True)
        b = x.shape[0]
        if b == 0:
            z = torch.empty(0, dtype=self.dtype, device=self.device)
            return OracleStats(x.reshape(0, *self.data_shape), z, z.long(), z)
        mean = self._gather(b, parts, "mean_c") + self._mu
        return OracleStats(
            mean=mean.reshape(b, *self.data_shape),
            top1=self._gather(b, parts, "top1"),
            top1_index=self._original_index(self._gather(b, parts, "top1_pos")),
            entropy=self._gather(b, parts, "entropy"),
        )

    def __repr__(self) -> str:
        ncls = "none" if self.classes is None else len(self.classes)
        return (
            f"OracleVelocity(N={self.num_samples}, shape={self.data_shape}, classes={ncls}, "
            f"path={self.path!r}, dtype={self.dtype}, device={self.device})"
        )
