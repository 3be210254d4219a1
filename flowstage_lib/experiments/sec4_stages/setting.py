"""The setting of Section 4: the zoo models it compares and a line about the classifier."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from flowstage_lib.models import count_params
from flowstage_lib.training.zoo import get_model

__all__ = ["load_models", "load_scorers", "models_table", "classifier_note", "model_labels"]


def load_models(
    profile: str,
    sizes: Sequence[str],
    main: str,
    long_budget: int,
    table1_models: Sequence[str],
    data_scale: float | None = None,
) -> dict:
    """{name: TrainResult}: every size of Fig. 7b (budget 1), ``"<main> x<long_budget>"``
    (the longer run of Fig. 7b) and Table 1's models, from the shared zoo.

    ``data_scale``: None (the native setting: trained on x1) or k (the calibrated setting:
    trained and sampled on k x1, preconditioned; :func:`~flowstage_lib.experiments.
    calibration.setting_scale`). Every model of the section shares it."""
    kw = dict(progress=False, data_scale=data_scale)
    ms = {s: get_model(profile, s, **kw) for s in sizes}
    ms[f"{main} x{long_budget}"] = get_model(profile, main, budget=long_budget, **kw)
    for s in table1_models:
        if s not in ms:
            ms[s] = get_model(profile, s, **kw)
    return ms


def load_scorers(profile: str, n_boot: int, seed: int) -> tuple:
    """(ev, panel): the feature classifier's :class:`~flowstage_lib.metrics.evaluate.Evaluator`
    (its training data, and its network as the *layout* feature map of Figs. 4, 6 and 13, never
    as a judge) and the two judges (:func:`~flowstage_lib.metrics.judge.panel.get_panel`)
    that score every sample set of Section 4."""
    from flowstage_lib.metrics.evaluate import get_evaluator
    from flowstage_lib.metrics.judge.panel import get_panel

    return get_evaluator(profile, progress=False), get_panel(profile, n_boot, seed, False)


def models_table(models: dict, scores: dict | None = None) -> pd.DataFrame:
    """One row per model: size, parameters, steps, batch, data scale k, training time, key and,
    with ``scores`` ({name: :meth:`~flowstage_lib.metrics.judge.panel.Panel.score` dict},
    :func:`~flowstage_lib.experiments.sec4_stages.ladder.ladder_scores`), each judge's class
    accuracy at CFG 1 and FD with their 95% intervals."""
    rows = []
    for name, r in models.items():
        row = {
            "model": name,
            "size": r.spec.size,
            "parameters (M)": count_params(r.model) / 1e6,
            "steps": r.cfg.steps,
            "batch": r.cfg.batch_size,
            "data scale k": r.spec.data_scale,
            "training time (s)": r.seconds,
        }
        for judge, s in (scores or {}).get(name, {}).items():
            row[f"{judge}: accuracy, CFG 1 [95% CI]"] = (
                f"{s['accuracy']:.1%} [{s['acc_low']:.1%}, {s['acc_high']:.1%}]"
            )
            row[f"{judge}: FD [95% CI]"] = f"{s['fd']:.3g} [{s['fd_low']:.3g}, {s['fd_high']:.3g}]"
        row["cache key"] = r.key
        rows.append(row)
    return pd.DataFrame(rows)


def classifier_note(ev, held_note: str, panel=None) -> str:
    """The layout network's training and accuracy, the judges, and where Fig. 6's images come
    from."""
    rep = ev.report
    out = (
        f"Layout feature network (the old feature classifier, not a judge): {rep.steps} steps, "
        f"accuracy {rep.heldout_accuracy:.1%} on {rep.heldout_name}. "
    )
    if panel is not None:
        judges = ", ".join(
            f"{j.name} ({j.config.arch}, held-out accuracy {j.report.heldout_accuracy:.1%})"
            for j in panel.judges
        )
        out += f"Judges: {judges}; reference: {panel.judges[0].ref_note}. "
    return out + f"Unseen images of Fig. 6: {held_note}."


def model_labels(models: dict) -> dict[str, str]:
    """Legend text per model: name (parameters, steps)."""
    return {
        name: f"{name} ({count_params(r.model) / 1e6:.1f} M, {r.cfg.steps} steps)"
        for name, r in models.items()
    }
