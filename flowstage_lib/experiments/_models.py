"""One identity for a trained model, used by every experiment's cache key (Secs. 4 and 5).

``TrainResult.key`` names a training *run*, which a longer budget continues: the 1x and 2x models
of Fig. 7b share it, so the identity adds the step count. A model trained outside the cache has
no key; its weights decide.
"""

from __future__ import annotations

import hashlib

import torch

from flowstage_lib.tooling import cache

__all__ = ["model_id", "module_fingerprint"]


def module_fingerprint(module: torch.nn.Module) -> str:
    """SHA-256 (16 hex) of a network's state dict (names, shapes, values)."""
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    h = hashlib.sha256()
    for name, v in sorted(module.state_dict().items()):
        h.update(name.encode())
        h.update(cache.tensor_fingerprint(v.reshape(-1)).encode())
    return h.hexdigest()[:16]


def model_id(result) -> str:
    """Cache identity of a trained model's final weights.

    ``"<run key>@<steps>"`` when the model was trained through the cache (``result.key`` and
    ``result.cfg.steps``), else ``"weights:<fingerprint>"`` of ``result.model``.
    """
    key = getattr(result, "key", "")
    cfg = getattr(result, "cfg", None)
    if key and cfg is not None:
        return f"{key}@{int(cfg.steps)}"
    if not hasattr(result, "model"):
        raise TypeError("result must have .model (and .key, .cfg.steps when cached)")
    return "weights:" + module_fingerprint(result.model)
