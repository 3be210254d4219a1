"""The setting of Section 4: the zoo models it compares and a line about the classifier."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from flowstage_lib.models import count_params
from flowstage_lib.training.zoo import get_model

__all__ = ["load_models", "models_table", "classifier_note", "model_labels"]


def load_models(
    profile: str, sizes: Sequence[str], main: str, long_budget: int, table1_models: Sequence[str]
) -> dict:
    """{name: TrainResult}: every size of Fig. 7b (budget 1), ``"<main> x<long_budget>"``
    (the longer run of Fig. 7b) and Table 1's models, from the shared zoo."""
    ms = {s: get_model(profile, s, progress=False) for s in sizes}
    ms[f"{main} x{long_budget}"] = get_model(profile, main, budget=long_budget, progress=False)
    for s in table1_models:
        if s not in ms:
            ms[s] = get_model(profile, s, progress=False)
    return ms


def models_table(models: dict) -> pd.DataFrame:
    """One row per model: size, parameters, steps, batch, training time, cache key."""
    return pd.DataFrame(
        [
            {
                "model": name,
                "size": r.spec.size,
                "parameters (M)": count_params(r.model) / 1e6,
                "steps": r.cfg.steps,
                "batch": r.cfg.batch_size,
                "training time (s)": r.seconds,
                "cache key": r.key,
            }
            for name, r in models.items()
        ]
    )


def classifier_note(ev, held_note: str) -> str:
    """The feature classifier's training and accuracy, and where Fig. 6's images come from."""
    rep = ev.report
    return (
        f"Feature classifier: {rep.steps} steps, accuracy {rep.heldout_accuracy:.1%} "
        f"on {rep.heldout_name}, {rep.test_accuracy or float('nan'):.1%} on "
        f"{rep.test_name or 'no test set'}. Unseen images of Fig. 6: {held_note}."
    )


def model_labels(models: dict) -> dict[str, str]:
    """Legend text per model: name (parameters, steps)."""
    return {
        name: f"{name} ({count_params(r.model) / 1e6:.1f} M, {r.cfg.steps} steps)"
        for name, r in models.items()
    }
