"""One identity for a trained model, used by every experiment's cache key (Secs. 4 and 5).

``TrainResult.key`` names a training *run*, which a longer budget continues: the 1x and 2x models
of Fig. 7b share it, so the identity adds the step count. A model trained outside the cache has
no key; its weights decide.
"""

from __future__ import annotations

from flowstage_lib.models import module_fingerprint  # the one copy, re-exported

__all__ = ["model_id", "module_fingerprint"]


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
