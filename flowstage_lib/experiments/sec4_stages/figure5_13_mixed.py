"""Figs. 5 / 13 / 14: mixed sampling (the oracle before t_switch, the model after) and the
memorization of its samples (paper: novel for t_switch <= 0.2, copies after)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from flowstage_lib.data import ImageData, default_device
from flowstage_lib.experiments import criteria
from flowstage_lib.experiments._models import model_id, module_fingerprint
from flowstage_lib.experiments._shared import (
    Comparison,
    Transition,
    balanced_labels,
    from_u8,
    to_u8,
)
from flowstage_lib.experiments.sec4_stages._common import oracle_for, to_pixels, velocity
from flowstage_lib.experiments.sec4_stages.distances import thumbnails
from flowstage_lib.metrics import (
    FeatureClassifier,
    bootstrap_mean_ci,
    memorization,
    nearest_neighbours,
    wilson_interval,
)
from flowstage_lib.oracle import OracleVelocity
from flowstage_lib.oracle.transition import first_crossing
from flowstage_lib.solver import MixedVelocity, sample
from flowstage_lib.tooling import cache

__all__ = [
    "mixed_sampling",
    "LAYOUT_COPY_QUANTILE",
    "layout_nearest",
    "layout_threshold",
    "layout_copies",
    "Figure13",
    "figure13_memorization",
    "figure5_13_comparison",
]

#: A sample copies a training image's *layout* when its low-pass (7 x 7 thumbnail) distance to
#: the nearest training thumbnail is below this quantile of the same distance for unseen real
#: images (the held-out split): a real image the models never saw is a "layout copy" with
#: probability 0.05 (Fig. 13's threshold, fixed before any number was seen).
LAYOUT_COPY_QUANTILE = 0.05


def mixed_sampling(
    result,
    train: ImageData,
    classifier: FeatureClassifier,
    t_switch: float,
    n: int,
    cfg_scale: float = 1.0,
    n_steps: int = 50,
    seed: int = 0,
    oracle: OracleVelocity | None = None,
) -> dict:
    """Mixed sampling (Fig. 5 / 13 / 14): the class-conditional oracle of ``train`` for
    t < t_switch, the model after; each sample tested for memorization against ``train``.

    The noise depends only on ``seed``: sample i starts from the same x0 for every t_switch,
    so a row of Fig. 5 follows one noise. t_switch = 0 is the pure model, 1 the pure oracle.
    ``train`` is in pixels; for a calibrated model (trained on k x1) the oracle runs on k x1
    (``oracle``, if given, is checked for that: :func:`._common.oracle_for`) and the samples
    are divided by k before the memorization test. Cached.

    Returns:
        dict with ``x`` (n, *shape) uint8, ``y`` (n,), the
        :class:`~flowstage_lib.metrics.MemorizationResult` fields ``nn_index``, ``d1``, ``d2``,
        ``memorized`` (d1 < d2 / 3), ``feat_dist``, ``structural`` (n,), and ``seconds``.
    """
    shape = tuple(result.spec.input_shape)
    K = int(result.spec.num_classes)
    params = {
        "model": model_id(result),
        "classifier": module_fingerprint(classifier),
        "train": train.x,
        "labels": train.y,
        "t_switch": float(t_switch),
        "n": n,
        "cfg_scale": float(cfg_scale),
        "n_steps": n_steps,
        "seed": seed,
    }

    def compute() -> dict:
        t0 = time.time()
        orc = oracle_for(result, train, default_device(), check=oracle)  # on k x1
        fn = MixedVelocity(orc, velocity(result, cfg_scale), float(t_switch))
        y = balanced_labels(n, K)
        x = sample(fn, n, shape, y=y, n_steps=n_steps, seed=seed).x1
        x = to_pixels(result, x).clamp(-1, 1)  # (n, *shape) pixels
        mem = memorization(x, train.x, classifier)
        fields = ("nn_index", "d1", "d2", "memorized", "feat_dist", "structural")
        out = {"x": to_u8(x), "y": y, **{k: getattr(mem, k) for k in fields}}
        return {**out, "seconds": time.time() - t0}

    return cache.cached("sec4_mixed", params, compute)


def layout_nearest(x: torch.Tensor, train_x: torch.Tensor) -> torch.Tensor:
    """(B,) low-pass layout distance of images x (B, C, H, W) to the nearest training image:
    the RMS difference of 7 x 7 thumbnails (:func:`~.distances.thumbnails`), nearest neighbour
    searched among the thumbnails of ``train_x`` (N, C, H, W) (Fig. 13's layout similarity, a
    stand-in for the paper's DINO-feature MSE that needs no network)."""
    a, b = thumbnails(x), thumbnails(train_x)
    d = nearest_neighbours(a, b, k=1).dist[:, 0]  # (B,) L2 over the thumbnail's pixels
    return d / float(a[0].numel()) ** 0.5


def layout_threshold(
    heldout_x: torch.Tensor, train_x: torch.Tensor, q: float = LAYOUT_COPY_QUANTILE
) -> float:
    """The layout-copy threshold: the ``q`` quantile of :func:`layout_nearest` over unseen real
    images ``heldout_x`` (M, C, H, W) against ``train_x``."""
    if not 0 < q < 1:
        raise ValueError(f"q must lie in (0, 1), got {q}")
    return float(np.quantile(layout_nearest(heldout_x, train_x).numpy(), q))


def layout_copies(d: torch.Tensor, threshold: float) -> torch.Tensor:
    """(B,) bool: layout distances d (B,) (:func:`layout_nearest`) below ``threshold``."""
    return d < threshold


@dataclass(frozen=True)
class Figure13:
    """Memorization against t_switch (Fig. 13), S switch times.

    Attributes:
        t_switch: (S,) increasing.
        memorized: (S,) fraction memorized; memorized_ci: (S, 2) Wilson interval.
        structural: (S, 3) feature-map MSE to the nearest training image: mean, low, high.
        layout: (S, 3) low-pass distance to the nearest training thumbnail (mean, 95% CI);
        layout_copy: (S,) fraction below ``threshold`` (:func:`layout_copies`);
        layout_copy_ci: (S, 2) Wilson interval; threshold: the layout-copy threshold;
        t_layout_copy: where ``layout_copy`` crosses 0.5 (interpolated).
        match: (S,) fraction whose nearest training image is the oracle-alone one;
        match_ci: (S, 2).
        t_drop, t_10, t_90: where ``memorized`` crosses 0.5, 0.1, 0.9 (interpolated);
        t_commit: where ``match`` crosses 0.5; t_struct: where the structural distance falls
        half-way from its first to its last value.
        max_low, min_high: max memorized at t_switch <= 0.2, min at t_switch >= 0.3;
        oracle_frac: memorized at the largest t_switch; has_oracle_alone: that is 1.
    """

    t_switch: np.ndarray
    memorized: np.ndarray
    memorized_ci: np.ndarray
    structural: np.ndarray
    layout: np.ndarray
    layout_copy: np.ndarray
    layout_copy_ci: np.ndarray
    threshold: float
    t_layout_copy: float
    match: np.ndarray
    match_ci: np.ndarray
    t_drop: float
    t_10: float
    t_90: float
    t_commit: float
    t_struct: float
    max_low: float
    min_high: float
    oracle_frac: float
    has_oracle_alone: bool


def figure13_memorization(
    mixed: dict[float, dict], n: int, train_x: torch.Tensor, heldout_x: torch.Tensor
) -> Figure13:
    """Analyse {t_switch: :func:`mixed_sampling`} (n samples each) for Figs. 5 and 13; the
    layout similarity is measured against ``train_x`` and calibrated on ``heldout_x``."""
    sw = sorted(mixed)
    thr = layout_threshold(heldout_x, train_x)
    lay = [layout_nearest(from_u8(mixed[s]["x"]), train_x) for s in sw]  # (n,) each
    copies = [layout_copies(d, thr) for d in lay]
    lay_frac = np.array([float(c.float().mean()) for c in copies])
    mem = [mixed[s]["memorized"] for s in sw]
    frac = np.array([float(m.float().mean()) for m in mem])
    nn_orc = mixed[sw[-1]]["nn_index"]  # the training image the oracle alone retrieves
    hits = [mixed[s]["nn_index"] == nn_orc for s in sw]
    match = np.array([float(h.float().mean()) for h in hits])
    struct = np.array([bootstrap_mean_ci(mixed[s]["structural"], n_boot=500, seed=0) for s in sw])
    s_mid = 0.5 * (struct[0, 0] + struct[-1, 0])
    t = np.array(sw)
    return Figure13(
        t_switch=t,
        memorized=frac,
        memorized_ci=np.array([wilson_interval(int(m.sum()), n) for m in mem]),
        structural=struct,
        layout=np.array([bootstrap_mean_ci(d, n_boot=500, seed=0) for d in lay]),
        layout_copy=lay_frac,
        layout_copy_ci=np.array([wilson_interval(int(c.sum()), n) for c in copies]),
        threshold=thr,
        t_layout_copy=first_crossing(t, lay_frac, 0.5, "above"),
        match=match,
        match_ci=np.array([wilson_interval(int(h.sum()), n) for h in hits]),
        t_drop=first_crossing(t, frac, 0.5, "above"),
        t_10=first_crossing(t, frac, 0.1, "above"),
        t_90=first_crossing(t, frac, 0.9, "above"),
        t_commit=first_crossing(t, match, 0.5, "above"),
        t_struct=first_crossing(t, struct[:, 0], s_mid, "below"),
        max_low=max(f for s, f in zip(sw, frac, strict=True) if s <= 0.2),
        min_high=min(f for s, f in zip(sw, frac, strict=True) if s >= 0.3),
        oracle_frac=float(frac[-1]),
        has_oracle_alone=sw[-1] == 1.0,
    )


def _sentences(f: Figure13, t09: float) -> dict:
    near = "within 0.1 of" if abs(f.t_commit - t09) <= 0.1 else "more than 0.1 away from"
    commit = (
        f"From t_switch = {f.t_commit:.3f} on, most samples keep the oracle's image as "
        f"their nearest training image: {near} our transition."
    )
    if f.t_drop > 0.25 or not np.isfinite(f.t_drop):
        copy = (
            "But keeping the image is not copying it: the strict criterion d1 < d2/3 also needs "
            "the model to refine back to the training image pixel by pixel. A large model trained "
            "long on ImageNet does that (it has memorized its training set); our small models, "
            "trained for minutes, refine into a nearby new image unless the oracle has brought "
            "the sample almost all the way (a late t_switch)."
        )
    else:
        copy = "Once the oracle has chosen an image, the model copies it, as in the paper."
    return {"commit_sentence": commit, "copy_sentence": copy}


def _table(f: Figure13, tr: Transition, v13) -> pd.DataFrame:
    ok = ["ok" if x else "fails" for x in criteria.fig5_parts(f.max_low, f.min_high)]
    orc = criteria.fig5_oracle_alone_retrieves(f.oracle_frac).verdict if f.has_oracle_alone else "-"
    lo, hi = tr.t09_interval
    rates = "; ".join(
        f"{t:g}: {r:.2f} [{c[0]:.2f}, {c[1]:.2f}]"
        for t, r, c in zip(f.t_switch, f.layout_copy, f.layout_copy_ci, strict=True)
    )
    rows = [
        ("max memorized fraction, t_switch <= 0.2", "novel samples", f"{f.max_low:.2f}", ok[0]),
        ("min memorized fraction, t_switch >= 0.3", "training images", f"{f.min_high:.2f}", ok[1]),
        ("memorized fraction, oracle alone (identity)", "retrieves a training image",
         f"{f.oracle_frac:.2f}", orc),
        ("layout-copy rate per t_switch [95% Wilson]", "sharp drop of the DINO MSE after ~0.1",
         f"{rates}; t_0.9 = {tr.t09:.3f} [{lo:.3f}, {hi:.3f}]", v13.verdict),
        ("t_switch where the layout-copy rate crosses 50%", "~0.1", f"{f.t_layout_copy:.3f}",
         "-"),
        ("t_drop (pixel-copy fraction crosses 50%)", "~0.1 (target), ~0.2 (model)",
         f"{f.t_drop:.3f} (10% -> 90%: {f.t_10:.3f} -> {f.t_90:.3f})", "-"),
        ("t_switch where the feature-map distance halves", "-", f"{f.t_struct:.3f}", "-"),
        ("t_switch from which >= 50% keep the oracle's training image as nearest", "-",
         f"{f.t_commit:.3f}", "-"),
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=["quantity", "paper", "ours", "verdict"])


def figure5_13_comparison(f: Figure13, tr: Transition) -> Comparison:
    """Figs. 5 and 13 against the paper (criteria
    :func:`~flowstage_lib.experiments.criteria.fig5_novel_then_training_images` on the
    pixel-copy rate, :func:`~flowstage_lib.experiments.criteria.
    fig13_layout_memorization_after_switch` on the layout-copy rate and t_0.9's interval;
    ``tr``: our transition with its interval, ``transition(..., n_boot=...)``)."""
    t09 = tr.t09
    v5 = criteria.fig5_novel_then_training_images(f.max_low, f.min_high)
    v13 = criteria.fig13_layout_memorization_after_switch(
        list(f.t_switch), f.layout_copy_ci.tolist(), tr.t09_interval
    )
    glue = {
        "v5": v5.verdict,
        "v13": v13.verdict,
        "max_low": f.max_low,
        "min_high": f.min_high,
        "orc_frac": f.oracle_frac,
        "t_drop": f.t_drop,
        "t_10": f.t_10,
        "t_90": f.t_90,
        "t_struct": f.t_struct,
        "t_commit": f.t_commit,
        "t_layout_copy": f.t_layout_copy,
        "layout_threshold": f.threshold,
        "drop_width": f.t_90 - f.t_10,
        **_sentences(f, t09),
    }
    claims = [
        (
            "Oracle then model: t_switch <= 0.2 gives novel samples, later switches reproduce "
            "training images",
            "Fig. 5 / 14 (ImageNet)",
            f"memorized: at most {f.max_low:.2f} for t_s <= 0.2, as low as {f.min_high:.2f} for "
            f"t_s >= 0.3, {f.oracle_frac:.2f} for the oracle alone; the oracle's training image "
            f"stays the nearest for >= 50% of samples from t_s = {f.t_commit:.2f}",
            v5,
        ),
        (
            "The layout distance to the nearest training image drops sharply once t_switch "
            "passes ~0.1 (memorized layouts)",
            "Fig. 13: sharp drop of the DINO-feature MSE after t_switch ~ 0.1",
            f"layout-copy rate crosses 50% at t_switch = {f.t_layout_copy:.3f}; "
            f"{v13.evidence}; criterion: {v13.test}",
            v13,
        ),
    ]
    if f.has_oracle_alone:  # t_switch = 1 was run: the oracle alone, an identity
        claims.append(
            (
                "Sampling with the oracle all the way ends on a training image",
                "Fig. 5: oracle-only sampling reproduces training images",
                f"memorized fraction at t_switch = 1: {f.oracle_frac:.3f}",
                criteria.fig5_oracle_alone_retrieves(f.oracle_frac),
            )
        )
    return Comparison(_table(f, tr, v13), glue, claims)
