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
chunks of the data with an online softmax (running offset, normaliser, weighted sum, top-k and
entropy), so memory is O(B * chunk + B * D) beyond the stored data whatever N is, and the work
is two matmuls per chunk (4 B N D flops in all). It stores one copy of the data in the compute
dtype, sorted by label and centred, as rows [x1_i - mu, ||x1_i - mu||^2, 1] so that the logit
bias and the softmax normaliser come out of the matmuls.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch

from flowstage_lib.path import AffinePath, RectifiedFlowPath

__all__ = ["OracleStats", "OracleVelocity"]

_DEFAULT_CHUNK_BYTES = 64 * 2**20  # logits buffer budget (B x chunk) per streaming step
_LAZY = 10.0  # move the softmax offset only when a logit exceeds it by this much
# exp(l - m) is floored at exp(floor), the smallest normal number being ~e^-87 (fp32) and
# ~e^-708 (fp64): denormals are slow, and weights below e^floor are far below rounding.
_EXP_FLOOR = {torch.float32: -80.0, torch.float64: -700.0}


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


class _Stream(NamedTuple):
    """Raw result of one streaming pass over a contiguous slice of the (sorted) data."""

    mean_c: torch.Tensor  # (b, D) centred posterior mean
    log_norm: torch.Tensor  # (b,) log-sum-exp of the logits
    top1: torch.Tensor  # (b,) top-1 weight
    top1_pos: torch.Tensor  # (b,) its position in the sorted data (if index=True)
    entropy: torch.Tensor | None  # (b,)
    topk: torch.Tensor | None  # (b, k) top-k weights, descending
    topk_pos: torch.Tensor | None  # (b, k) positions in the sorted data


def _is_int(k) -> bool:
    return isinstance(k, (int, np.integer)) and not isinstance(k, bool)


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
        chunk_bytes: memory budget of the logits buffer when `chunk_size` is None.

    Numerical note (fp32 near t -> 1):
        The logits are differences of terms of size ~ alpha_t^2 R^2 / sigma_t^2 (R: norm of
        the centred data points, R^2 ~ D for unit-variance data) computed in the compute dtype,
        so their absolute rounding error is about eps * alpha_t (||x_t|| R + alpha_t R^2) /
        sigma_t^2 -- it grows like 1 / (1 - t)^2 for rectified flow. gamma_i inherits that
        error as a relative error, and the velocity multiplies it by A_t ~ 1 / (1 - t). With
        fp32 (eps = 6e-8), D = 3072 and t = 0.99 this is O(1): fp32 weights are only
        trustworthy there once the posterior is already one-hot (which, in high dimension, it
        is well before). Use ``dtype=torch.float64`` (eps = 1e-16) for exact work near t = 1.
        `tests/test_oracle.py::test_fp32_error_bound` checks the bound.

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
        chunk_bytes: int = _DEFAULT_CHUNK_BYTES,
    ):
        if isinstance(data, np.ndarray):
            data = torch.from_numpy(data)
        if not isinstance(data, torch.Tensor):
            raise TypeError(
                f"data must be a torch tensor or numpy array, got {type(data).__name__}"
            )
        if data.ndim < 1 or data.shape[0] == 0 or data.numel() == 0:
            raise ValueError(
                f"data must be a non-empty (N, *shape) array, got shape {tuple(data.shape)}"
            )
        if data.is_complex() or data.dtype == torch.bool:
            raise TypeError(f"data must be real-valued, got dtype {data.dtype}")
        if data.is_meta:
            raise ValueError("data is a meta tensor (it holds no values); pass real data")
        data = data.detach()
        if dtype is None:
            dtype = data.dtype if data.dtype in (torch.float32, torch.float64) else torch.float32
        if dtype not in (torch.float32, torch.float64):
            raise TypeError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
        if path is None:
            path = RectifiedFlowPath()
        if not isinstance(path, AffinePath):
            raise TypeError(f"path must be an AffinePath, got {type(path).__name__}")
        if chunk_size is not None and (not _is_int(chunk_size) or chunk_size < 1):
            raise ValueError(f"chunk_size must be a positive integer or None, got {chunk_size!r}")
        if not _is_int(chunk_bytes) or chunk_bytes < 1:
            raise ValueError(f"chunk_bytes must be a positive integer, got {chunk_bytes!r}")

        self.path = path
        self.dtype = dtype
        self.device = torch.device(device) if device is not None else data.device
        self.chunk_size = None if chunk_size is None else int(chunk_size)
        self.chunk_bytes = int(chunk_bytes)
        self.data_shape = tuple(data.shape[1:])
        self.num_samples = n = data.shape[0]
        self.dim = d = math.prod(self.data_shape)
        flat = data.reshape(n, d)  # (N, D), a view when possible

        # Labels: sort the data by label once so that each class is a contiguous slice.
        self._perm = None  # (N,) sorted position -> original index
        self.classes: dict[int, tuple[int, int]] | None = None  # label -> [start, end)
        if labels is not None:
            if isinstance(labels, np.ndarray):
                labels = torch.from_numpy(labels)
            labels = torch.as_tensor(labels)
            if labels.is_meta:
                raise ValueError("labels is a meta tensor (it holds no values)")
            if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
                raise TypeError(f"labels must be integers, got dtype {labels.dtype}")
            if labels.ndim != 1 or labels.shape[0] != n:
                raise ValueError(
                    f"labels must have shape (N,) = ({n},) like data, got {tuple(labels.shape)}"
                )
            sorted_labels, perm = torch.sort(labels.cpu().long(), stable=True)
            uniq, counts = torch.unique_consecutive(sorted_labels, return_counts=True)
            ends = torch.cumsum(counts, 0)
            self.classes = {
                int(c): (int(e - k), int(e)) for c, k, e in zip(uniq, counts, ends, strict=True)
            }
            self._perm = perm.to(self.device)

        # Copy (sorted, centred, in compute dtype) in chunks; check finiteness on the way.
        itemsize = torch.finfo(dtype).bits // 8
        rows = max(1, self.chunk_bytes // max(1, d * itemsize))
        mu = torch.zeros(d, dtype=torch.float64, device=self.device)
        if center:
            for s in range(0, n, rows):
                mu += flat[s : s + rows].to(self.device, torch.float64).sum(0)
            mu /= n
        # Augmented rows [x1_i - mu, ||x1_i - mu||^2, 1, 0 ...] (width padded to a multiple
        # of 16 when D >= 64): the bias of the logits and the softmax normaliser then come out
        # of the two matmuls instead of extra passes over the (B, chunk) logits.
        self._width = d + 2 if d < 64 else -(-(d + 2) // 16) * 16
        aug = torch.zeros((n, self._width), dtype=dtype, device=self.device)  # (N, D')
        perm_src = None if self._perm is None else self._perm.to(flat.device)
        for s in range(0, n, rows):
            e = min(s + rows, n)
            src = flat[s:e] if perm_src is None else flat[perm_src[s:e]]
            src = src.to(self.device, torch.float64)  # (rows, D)
            if not torch.isfinite(src).all():
                raise ValueError("data contains NaN or inf")
            aug[s:e, :d] = src - mu  # never in place: src may be the caller's tensor
            aug[s:e, d] = aug[s:e, :d].to(torch.float64).square().sum(1)  # of the stored values
            aug[s:e, d + 1] = 1.0
            if not torch.isfinite(aug[s:e, : d + 1]).all():
                big = float((src - mu).abs().max())
                raise ValueError(
                    f"data overflow the compute dtype {dtype}: values (centred) up to {big:.3g} "
                    f"and squared norms up to {float((src - mu).square().sum(1).max()):.3g} "
                    f"exceed its range (max {torch.finfo(dtype).max:.3g}); rescale the data or "
                    "use dtype=torch.float64"
                )
        self._aug = aug  # (N, D') compute dtype, sorted by label, centred
        self._mu = mu.to(dtype)  # (D,)
        self.data_mean = mu.to(dtype).reshape(self.data_shape)  # (*shape)

    # ------------------------------------------------------------------ validation
    def _check_x(self, x_t) -> torch.Tensor:
        if isinstance(x_t, np.ndarray):
            x_t = torch.from_numpy(x_t)
        if not isinstance(x_t, torch.Tensor):
            raise TypeError(f"x_t must be a torch tensor or numpy array, got {type(x_t).__name__}")
        if x_t.is_complex() or x_t.dtype == torch.bool:
            raise TypeError(f"x_t must be real-valued, got dtype {x_t.dtype}")
        if x_t.is_meta:
            raise ValueError("x_t is a meta tensor (it holds no values)")
        x_t = x_t.detach()  # the oracle is not differentiable: its outputs carry no grad
        if x_t.ndim != 1 + len(self.data_shape) or tuple(x_t.shape[1:]) != self.data_shape:
            shape = ", ".join(map(str, self.data_shape))
            raise ValueError(
                f"x_t must have shape (B, *data_shape) = (B, {shape}), got {tuple(x_t.shape)}"
            )
        x = x_t.to(self.device, self.dtype).reshape(x_t.shape[0], self.dim)  # (B, D)
        if not torch.isfinite(x).all():
            raise ValueError("x_t contains NaN or inf")
        return x

    def _check_t(self, t, b: int) -> float | torch.Tensor:
        """A float (one time for the batch) or a (B,) float64 tensor, in [0, 1)."""
        if isinstance(t, bool):
            raise TypeError("t must be a float or a tensor, got bool")
        if isinstance(t, (torch.Tensor, np.ndarray)):
            tt = torch.as_tensor(t).detach()
            if tt.is_meta:
                raise ValueError("t is a meta tensor (it holds no values)")
            if tt.ndim == 0:
                t = tt.item()
            elif tuple(tt.shape) != (b,):
                raise ValueError(
                    f"t must be a float or a (B,) = ({b},) tensor, got {tuple(tt.shape)}"
                )
        elif not isinstance(t, (int, float, np.integer, np.floating)):
            raise TypeError(f"t must be a float or a tensor, got {type(t).__name__}")
        if not isinstance(t, torch.Tensor):
            t = float(t)
            if not math.isfinite(t):
                raise ValueError(f"t must be finite, got {t}")
            if not 0.0 <= t < 1.0:
                raise ValueError(f"t must lie in [0, 1) (t = 1 is singular: sigma_1 = 0), got {t}")
            return t
        tt = tt.to(self.device, torch.float64)
        if not torch.isfinite(tt).all():
            raise ValueError("t must be finite, got NaN or inf")
        bad = (tt < 0) | (tt >= 1)
        if bool(bad.any()):
            raise ValueError(
                f"t must lie in [0, 1) (t = 1 is singular: sigma_1 = 0), got {tt[bad][0].item()}"
            )
        return tt  # (B,) float64

    def _check_y(self, y, b: int) -> torch.Tensor | None:
        if y is None:
            return None
        if self.classes is None:
            raise ValueError("y was given but the oracle was built without labels")
        if _is_int(y):
            yy = torch.full((b,), int(y), dtype=torch.long)
        elif isinstance(y, (torch.Tensor, np.ndarray)):
            yy = torch.as_tensor(y)
            if yy.is_meta:
                raise ValueError("y is a meta tensor (it holds no values)")
            if yy.is_floating_point() or yy.is_complex() or yy.dtype == torch.bool:
                raise TypeError(f"y must hold integer labels, got dtype {yy.dtype}")
            yy = yy.cpu().long()
            if yy.ndim == 0:
                yy = yy.expand(b)
            elif tuple(yy.shape) != (b,):
                raise ValueError(
                    f"y must be an int or a (B,) = ({b},) tensor, got {tuple(yy.shape)}"
                )
        else:
            raise TypeError(f"y must be an int or an integer tensor, got {type(y).__name__}")
        for c in torch.unique(yy).tolist():
            if c not in self.classes:
                raise ValueError(f"y = {c}: no training samples with this label")
        return yy

    # ------------------------------------------------------------------ streaming core
    def _chunk(self, b: int) -> int:
        if self.chunk_size is not None:
            return self.chunk_size
        itemsize = torch.finfo(self.dtype).bits // 8
        return max(256, self.chunk_bytes // (b * itemsize))

    def _stream(
        self,
        xc: torch.Tensor,
        alpha: torch.Tensor,
        sigma: torch.Tensor,
        lo: int,
        hi: int,
        k: int = 1,
        entropy: bool = False,
        index: bool = False,
    ) -> _Stream:
        """One online-softmax pass over data rows [lo, hi) (Eq. 19 as attention).

        Per chunk of c rows: one matmul gives the shifted logits l_i - m (the bias
        -alpha^2 ||x1_i||^2 / 2 sigma^2 and the running offset -m ride on the augmented
        columns), a max, an in-place exp, and one matmul accumulates [sum p_i x1_i, ., sum p_i].
        The offset m is moved (rescaling the accumulators) only on the first chunk and when a
        chunk's logits exceed it by more than `_LAZY` (lazy rescaling), so p_i <= e^_LAZY never
        overflows; the result is exact for any offset.

        Args:
            xc: centred queries x_t - alpha_t mu, (b, D) compute dtype.
            alpha, sigma: floats or (b,) float64 schedule values.
            k: running top-k size (k = 1 uses the argmax of the max reduction).
            entropy: also accumulate the posterior entropy.
            index: also track the argmax (top-1 position).
        """
        b, d = xc.shape
        dt, dev = self.dtype, self.device
        q = torch.zeros(b, self._width, dtype=dt, device=dev)  # (b, D') augmented query
        q[:, :d] = xc * self._col(alpha / sigma**2)  # alpha / sigma^2 x_t
        negc = -(alpha**2) / (2 * sigma**2)  # times ||x1_i||^2
        q[:, d] = negc if isinstance(negc, float) else negc.to(dt)
        n = min(self._chunk(b), hi - lo)
        buf = torch.empty(b * n, dtype=dt, device=dev)
        buf2 = torch.empty(b * n, dtype=dt, device=dev) if entropy else None
        m = torch.zeros(b, dtype=dt, device=dev)  # offset: logits are l_i - m
        top = torch.full((b,), -math.inf, dtype=dt, device=dev)  # running max of l_i - m
        top_pos = torch.zeros(b, dtype=torch.long, device=dev)
        acc = torch.zeros(b, self._width, dtype=dt, device=dev)  # (b, D') [sum p x1, ., sum p]
        ent = torch.zeros(b, dtype=dt, device=dev)  # sum_i p_i (l_i - m)
        tk_val = tk_pos = None  # (b, k) running top-k of l_i - m and their positions
        floor = _EXP_FLOOR[dt] if dev.type == "cpu" else None  # GPUs: denormals are fast
        sync_free = dev.type != "cpu"  # on accelerators always shift instead of testing
        for s in range(lo, hi, n):
            e = min(s + n, hi)
            c = e - s
            X = self._aug[s:e]  # (c, D')
            q[:, d + 1] = -m  # times the column of ones
            logit = buf[: b * c].view(b, c)  # (b, c) l_i - m
            torch.mm(q, X.T, out=logit)
            if index:
                cmax, cidx = logit.max(dim=1)  # (b,)
                top_pos = torch.where(cmax > top, cidx + s, top_pos)
            else:
                cmax = logit.amax(dim=1)  # (b,)
            top = torch.maximum(top, cmax)
            if k > 1:
                v, i = logit.topk(min(k, c), dim=1)  # (b, k')
                v = v if tk_val is None else torch.cat([tk_val, v], 1)
                i = i + s if tk_pos is None else torch.cat([tk_pos, i + s], 1)
                tk_val, j = v.topk(min(k, v.shape[1]), dim=1)
                tk_pos = i.gather(1, j)
            # Move the offset where needed (first chunk: to the chunk max, everywhere).
            if s == lo:
                shift = cmax
            else:
                shift = torch.where(cmax > _LAZY, cmax, torch.zeros_like(cmax))
            if s == lo or sync_free or bool((shift != 0).any()):
                logit.sub_(shift.unsqueeze(1))
                if s != lo:  # (accumulators are still 0 on the first chunk)
                    rescale = torch.exp(-shift)  # (b,) in (0, e^-_LAZY] or 1
                    ent = rescale * (ent - shift * acc[:, d + 1])
                    acc.mul_(rescale.unsqueeze(1))
                m = m + shift
                top = top - shift
                if tk_val is not None:
                    tk_val = tk_val - shift.unsqueeze(1)
            # Floor at e^floor (a normal number): denormal results make exp ~10x slower on
            # x86 CPUs; this changes sum_i p_i by < N e^floor relative, far below rounding.
            if floor is not None:
                logit.clamp_(min=floor)
            if entropy:
                p = buf2[: b * c].view(b, c)
                torch.exp(logit, out=p)
                ent += torch.bmm(p.unsqueeze(1), logit.unsqueeze(2)).view(b)  # sum p (l - m)
            else:
                p = logit.exp_()  # (b, c) unnormalised weights, <= e^_LAZY
            acc.addmm_(p, X)  # (b, D')
        norm = acc[:, d + 1]  # (b,) sum_i exp(l_i - m)
        if not bool(torch.isfinite(m).all()):
            raise ValueError(
                f"t is too close to 1 for {self.dtype}: the logits (~ 1 / sigma_t^2) overflow; "
                "use dtype=torch.float64 or a smaller t"
            )
        return _Stream(
            mean_c=acc[:, :d] / norm.unsqueeze(1),
            log_norm=m + torch.log(norm),
            top1=torch.exp(top) / norm,
            top1_pos=top_pos,
            entropy=(torch.log(norm) - ent / norm).clamp_min_(0) if entropy else None,
            topk=None if tk_val is None else torch.exp(tk_val) / norm.unsqueeze(1),
            topk_pos=tk_pos,
        )

    def _run(self, x_t, t, y, k: int = 1, entropy: bool = False, index: bool = False):
        """Validate, group the batch by label, stream each group; return (x, tt, parts)."""
        x = self._check_x(x_t)  # (B, D)
        b = x.shape[0]
        tt = self._check_t(t, b)  # float or (B,)
        yy = self._check_y(y, b)
        alpha, sigma = self.path.alpha(tt), self.path.sigma(tt)  # float or (B,) float64
        if not (sigma > 0 if isinstance(sigma, float) else bool((sigma > 0).all())):
            raise ValueError("t must give sigma_t > 0 for this path (t = 1 is singular)")
        if b == 0:
            return x, tt, []
        xc = x - self._col(alpha) * self._mu  # (B, D) centred
        if yy is None:
            groups = [(None, 0, self.num_samples)]
        else:
            groups = []
            for c in torch.unique(yy).tolist():
                rows = (yy == c).nonzero().squeeze(1).to(self.device)
                lo, hi = self.classes[c]
                groups.append((None if rows.numel() == b else rows, lo, hi))
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

    def _col(self, v: float | torch.Tensor) -> float | torch.Tensor:
        """A float, or a (b,) tensor as a (b, 1) column in the compute dtype."""
        return v if isinstance(v, float) else v.to(self.dtype).unsqueeze(1)

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
        u = self._col(A) * mean + self._col(B) * x  # (B, D)
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
        if not _is_int(k):
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
