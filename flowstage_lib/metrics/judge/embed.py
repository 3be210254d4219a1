"""One pass of a judge network per image set: features and predicted classes together.

Scoring a sample set (:meth:`~flowstage_lib.metrics.judge.Judge.score`: FD, KID, PRDC,
accuracy) and comparing it with another row of its table
(:meth:`~flowstage_lib.metrics.judge.Judge.compare`) all read the same two outputs of the
network. Computed separately they ran the network up to four times per set and judge, which
was most of Table 1's scoring time on the cpu profile (``benchmarks/judge_embed.py``).
:func:`embed` runs it once and remembers the last few sets by their fingerprint (the bytes,
dtype and shape of the tensor), so the results are those of a fresh pass, bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from flowstage_lib.models import eval_mode
from flowstage_lib.tooling.cache import tensor_fingerprint

__all__ = ["Embedding", "embed", "MEMO_SETS"]

#: How many image sets a judge remembers (each costs (B, F + 1) numbers: 0.7 MB at B = 5000).
MEMO_SETS = 16


@dataclass(frozen=True)
class Embedding:
    """A judge's view of an image set.

    Attributes:
        features: (B, F) float32 features (the FD / KID / PRDC space).
        pred: (B,) int64 predicted classes (argmax of the logits).
    """

    features: torch.Tensor
    pred: torch.Tensor


@torch.no_grad()
def _run(network: nn.Module, x: torch.Tensor, batch_size: int) -> Embedding:
    dev = next(network.parameters()).device
    feats, preds = [], []
    with eval_mode(network):
        for i in range(0, len(x), batch_size):
            f, logits = network.features_and_logits(x[i : i + batch_size].float().to(dev))
            feats.append(f.cpu())
            preds.append(logits.argmax(1).cpu())
    if not feats:
        raise ValueError("x is empty")
    return Embedding(torch.cat(feats), torch.cat(preds))


def embed(network: nn.Module, x: torch.Tensor, memo: dict, batch_size: int = 1000) -> Embedding:
    """Features and predicted classes of images x (B, C, H, W) under ``network`` (a module
    with ``features_and_logits``), looked up in / added to ``memo`` (at most
    :data:`MEMO_SETS` sets, oldest dropped first). The memo belongs to one network whose
    weights do not change (a trained judge)."""
    if not isinstance(x, torch.Tensor) or x.ndim != 4:
        raise ValueError(
            f"x must be a (B, C, H, W) tensor, got shape {tuple(getattr(x, 'shape', ()))}"
        )
    key = tensor_fingerprint(x)
    hit = memo.get(key)
    if hit is None:
        hit = _run(network, x, batch_size)
        while len(memo) >= MEMO_SETS:
            memo.pop(next(iter(memo)))
        memo[key] = hit
    return hit
