"""Fig. 6: refinement of unseen images: re-noise to t_resume and resume sampling (paper: from
t_resume >= 0.2 the global layout is kept and details change)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from flowstage_lib.data import ImageData
from flowstage_lib.experiments import criteria
from flowstage_lib.experiments._models import model_id, module_fingerprint
from flowstage_lib.experiments._shared import Comparison, balanced_labels, from_u8, to_u8
from flowstage_lib.experiments.sec4_stages import distances as dist
from flowstage_lib.experiments.sec4_stages._common import to_model_space, to_pixels, velocity
from flowstage_lib.metrics import FeatureClassifier, bootstrap_mean_ci, memorization
from flowstage_lib.oracle.transition import first_crossing
from flowstage_lib.solver import renoise_and_resume
from flowstage_lib.tooling import cache

__all__ = [
    "paired_sources",
    "refinement",
    "Figure6",
    "figure6_refinement",
    "figure6_table",
    "figure6_comparison",
]


def paired_sources(y: torch.Tensor, labels: torch.Tensor, K: int) -> tuple:
    """For requested classes y (n,): (idx, partner) (n,) indices into ``labels``; request i
    takes the next unused image of its class, its partner an image of the same class from the
    second half of the class's pool.

    Raises:
        ValueError: a class has fewer than twice the requested images.
    """
    pools = {c: torch.nonzero(labels == c).squeeze(1) for c in range(K)}
    need = {c: int((y == c).sum()) for c in range(K)}
    for c in range(K):
        if len(pools[c]) < 2 * need[c]:
            raise ValueError(f"class {c} has {len(pools[c])} images, need {2 * need[c]}")
    used = dict.fromkeys(range(K), 0)
    idx, partner = [], []
    for c in y.tolist():
        idx.append(int(pools[c][used[c]]))
        partner.append(int(pools[c][need[c] + used[c]]))
        used[c] += 1
    return torch.tensor(idx), torch.tensor(partner)


def _to_source(classifier, x: torch.Tensor, src: torch.Tensor, m_src, f_src) -> dict:
    """(n,) distances of images x to their sources src (n, C, H, W)."""
    return {
        "structural": dist.structural(dist.feature_maps(classifier, x), m_src),
        "pixel": dist.rms(x, src),
        "feature": (dist.features(classifier, x) - f_src).norm(dim=1),
        "thumbnail": dist.thumbnail_distance(x, src),
    }


def _resume_all(result, classifier, src, y, train, ts, cfg_scale, n_steps, seed) -> dict:
    """Re-noise src to every t in ts (same eps: one generator seed) and resume; stack the
    distances to the source, class agreement and memorization: (R, n) each, x (R, n, ...)."""
    m_src, f_src = dist.feature_maps(classifier, src), dist.features(classifier, src)
    fn = velocity(result, cfg_scale)
    src_k = to_model_space(result, src)  # k x1: the model's space (calibrated setting)
    acc: dict[str, list] = {}
    for t in ts:
        steps = max(1, round(n_steps * (1 - t)))  # the step size of an n_steps sampler
        g = torch.Generator().manual_seed(seed)
        x = renoise_and_resume(fn, src_k, t, steps, generator=g, y=y)
        x = to_pixels(result, x).clamp(-1, 1)  # (n, *shape) pixels
        row = {"x": to_u8(x), **_to_source(classifier, x, src, m_src, f_src)}
        row["agree"] = dist.predict(classifier, x) == y
        row["memorized"] = memorization(x, train.x).memorized
        for k, v in row.items():
            acc.setdefault(k, []).append(v)
    return {k: torch.stack(v) for k, v in acc.items()}


def refinement_size(n: int, images: ImageData) -> tuple[int, str]:
    """How many unseen images Fig. 6 can use: ``n``, or fewer when ``images`` has too few per
    class (each query takes two images of its class, balanced over classes: see
    :func:`paired_sources`). Returns ``(n_used, note)``; the note is "" when nothing changed and
    otherwise says why ``n`` was scaled down (e.g. the MNIST test files were deleted and the
    mnist5k held-out split, 50 per class, stands in)."""
    K = int(images.num_classes)
    per_class = int(torch.bincount(images.y.long(), minlength=K).min())
    n_max = K * (per_class // 2)
    if n <= n_max:
        return n, ""
    if n_max == 0:
        raise ValueError(
            f"n_refine: the unseen images have {per_class} per class; Fig. 6 needs at least 2"
        )
    return n_max, (
        f"n_refine scaled down from {n} to {n_max}: the unseen images hold {per_class} per "
        f"class, and each of the {K} classes needs two per query"
    )


def refinement(
    result,
    images: ImageData,
    train: ImageData,
    classifier: FeatureClassifier,
    t_resume: Sequence[float],
    n: int,
    cfg_scale: float = 1.0,
    n_steps: int = 50,
    seed: int = 0,
) -> dict:
    """Refinement on unseen images (Fig. 6).

    ``n`` class-balanced images of ``images`` (:func:`paired_sources`) are re-noised as
    x_t = t x1 + (1 - t) eps with the same eps for every t_resume and integrated to t = 1 with
    round(n_steps (1 - t_resume)) Euler steps, conditioned on their label. The reference scale
    is the distance between the source and another unseen image of its class (``baseline_*``).
    A calibrated model (trained on k x1) re-noises k x1 and its results are divided by k
    before they are measured. Cached.

    Returns:
        dict with ``t_resume`` (R,), ``source`` (n, *shape) uint8, ``y`` (n,), ``x``
        (R, n, *shape) uint8, ``structural`` / ``pixel`` / ``feature`` / ``thumbnail`` (R, n)
        distances to the source, ``agree`` (R, n) bool, ``memorized`` (R, n) bool (against
        ``train``), ``baseline_structural`` / ``_pixel`` / ``_feature`` / ``_thumbnail``
        (n,), ``seconds``.
    """
    K = int(result.spec.num_classes)
    ts = [float(t) for t in t_resume]
    params = {
        "model": model_id(result),
        "classifier": module_fingerprint(classifier),
        "images": images.x,
        "labels": images.y,
        "train": train.x,
        "t_resume": ts,
        "n": n,
        "cfg_scale": float(cfg_scale),
        "n_steps": n_steps,
        "seed": seed,
    }

    def compute() -> dict:
        t0 = time.time()
        y = balanced_labels(n, K)
        idx, partner = paired_sources(y, images.y, K)
        src, ref = images.x[idx], images.x[partner]  # (n, *shape), class y
        m_src, f_src = dist.feature_maps(classifier, src), dist.features(classifier, src)
        base = _to_source(classifier, ref, src, m_src, f_src)
        out = {"t_resume": torch.tensor(ts, dtype=torch.float64), "source": to_u8(src), "y": y}
        out.update({f"baseline_{k}": v for k, v in base.items()})
        out.update(_resume_all(result, classifier, src, y, train, ts, cfg_scale, n_steps, seed))
        return {**out, "seconds": time.time() - t0}

    return cache.cached("sec4_refinement", params, compute)


@dataclass(frozen=True)
class Figure6:
    """Layout preservation against t_resume (Fig. 6b), R resume times.

    Attributes:
        t_resume: (R,).
        layout, thumbnail, pixel: (R, 3) mean, low, high of the distance to the source divided
            by the mean same-class pair distance (1 = as different as a new image).
        agree: {judge: (R,) fraction the judge labels with the source's class} (the panel's
            judges, :mod:`flowstage_lib.metrics.judge.panel`); memorized: (R,) fraction copied
            from training (d1 < d2 / 3).
        t_keep, t_keep_thumb: first t_resume where the layout / thumbnail distance <= 0.5.
        worst_late: max relative layout distance at t_resume >= 0.2; pixel_at_02: relative
            pixel distance at t_resume = 0.2 (NaN if not run).
        agree_late_min: the lowest of ``agree`` over judges and t_resume >= 0.2.
        acc_source, acc_noisy: the lower of the judges' accuracies on the sources, clean and
            with N(0, 0.1^2) pixel noise; speckle: background RMS of the images resumed from
            the last t.
    """

    t_resume: np.ndarray
    layout: np.ndarray
    thumbnail: np.ndarray
    pixel: np.ndarray
    agree: dict
    memorized: np.ndarray
    t_keep: float
    t_keep_thumb: float
    worst_late: float
    pixel_at_02: float
    agree_late_min: float
    acc_source: float
    acc_noisy: float
    speckle: float


def _rel_ci(d: torch.Tensor, base: torch.Tensor) -> np.ndarray:
    """(R, 3) bootstrap mean interval of d (R, n) / mean(base)."""
    rel = (d / base.mean()).numpy()
    return np.array([bootstrap_mean_ci(r, n_boot=500, seed=0) for r in rel])


def _judged(panel, rf: dict, seed: int) -> tuple[dict, float, float]:
    """Per judge: (R,) fraction of resumed images labelled with the source's class; and the
    lowest judge accuracy on the sources, clean and with N(0, 0.1^2) pixel noise."""
    y, src = rf["y"], from_u8(rf["source"])
    g = torch.Generator().manual_seed(seed)
    noisy = (src + 0.1 * torch.randn(src.shape, generator=g)).clamp(-1, 1)
    agree = {
        j.name: np.array([float(j.correct(from_u8(x), y).mean()) for x in rf["x"]])
        for j in panel.judges
    }
    acc_src = min(float(j.correct(src, y).mean()) for j in panel.judges)
    acc_noisy = min(float(j.correct(noisy, y).mean()) for j in panel.judges)
    return agree, acc_src, acc_noisy


def figure6_refinement(rf: dict, panel, seed: int) -> Figure6:
    """Analyse :func:`refinement` (Fig. 6b); class agreement is judged by ``panel``'s judges
    (:class:`~flowstage_lib.metrics.judge.panel.Panel`), not by the layout network."""
    tr = rf["t_resume"].numpy()
    rl = _rel_ci(rf["structural"], rf["baseline_structural"])  # (R, 3)
    rp = _rel_ci(rf["pixel"], rf["baseline_pixel"])
    rth = _rel_ci(rf["thumbnail"], rf["baseline_thumbnail"])
    agree, acc_src, acc_noisy = _judged(panel, rf, seed)
    at = {float(t): k for k, t in enumerate(tr)}
    late = [t for t in at if t >= 0.2 - 1e-9]
    bg = from_u8(rf["source"]) < -0.99  # background pixels of the sources
    lowest = np.min(np.stack(list(agree.values())), axis=0)  # (R,)
    return Figure6(
        t_resume=tr,
        layout=rl,
        thumbnail=rth,
        pixel=rp,
        agree=agree,
        memorized=rf["memorized"].float().mean(1).numpy(),
        t_keep=first_crossing(tr, rl[:, 0], 0.5, "below"),
        t_keep_thumb=first_crossing(tr, rth[:, 0], 0.5, "below"),
        worst_late=max(rl[at[t], 0] for t in late) if late else float("nan"),
        pixel_at_02=rp[at[0.2], 0] if 0.2 in at else float("nan"),
        agree_late_min=float(min(lowest[at[t]] for t in late)) if late else float("nan"),
        acc_source=acc_src,
        acc_noisy=acc_noisy,
        speckle=float((from_u8(rf["x"][-1])[bg] + 1).pow(2).mean().sqrt()),
    )


def figure6_table(f: Figure6) -> pd.DataFrame:
    """Fig. 6's numbers per t_resume."""
    return pd.DataFrame(
        {
            "t_resume": f.t_resume,
            "layout distance (rel.)": f.layout[:, 0],
            "thumbnail distance (rel.)": f.thumbnail[:, 0],
            "pixel distance (rel.)": f.pixel[:, 0],
            **{f"class kept (judge {j})": a for j, a in f.agree.items()},
            "memorized (d1 < d2/3)": f.memorized,
        }
    )


def _sentences(f: Figure6, t09: float) -> dict:
    def near(t: float) -> bool:
        return bool(np.isfinite(t) and abs(t - t09) <= 0.1)

    n_near = near(f.t_keep) + near(f.t_keep_thumb)
    keep = ("Neither is", "One of them is", "Both are")[
        n_near
    ] + " within 0.1 of our transition t_0.9."
    if f.memorized.max() <= 0.05:
        mem = (
            "The model refines the unseen image it is given instead of snapping to its "
            "training set: refinement generalizes."
        )
    else:
        mem = "Some resumed images snap to a training image: refinement partly memorizes."
    return {"keep_sentence": keep, "mem6_sentence": mem}


def figure6_comparison(f: Figure6, t09: float) -> Comparison:
    """Fig. 6 against the paper (criterion
    :func:`~flowstage_lib.experiments.criteria.fig6_refinement_keeps_layout`)."""
    v6 = criteria.fig6_refinement_keeps_layout(f.worst_late, f.pixel_at_02)
    ok = ["ok" if x else "fails" for x in criteria.fig6_parts(f.worst_late, f.pixel_at_02)]
    rows = [
        (
            "max relative layout distance, t_resume >= 0.2",
            "layout kept",
            f"{f.worst_late:.2f}",
            ok[0],
        ),
        (
            "relative pixel distance at t_resume = 0.2",
            "details change",
            f"{f.pixel_at_02:.2f}",
            ok[1],
        ),
        (
            "t_resume from which the layout distance <= 0.5",
            "0.2",
            f"{f.t_keep:.3f} (thumbnails: {f.t_keep_thumb:.3f}; transition t_0.9 = {t09:.3f})",
            v6.verdict,
        ),
    ]
    glue = {
        "t_keep": f.t_keep,
        "t_keep_thumb": f.t_keep_thumb,
        "acc_src": f.acc_source,
        "acc_noisy": f.acc_noisy,
        "speckle": f.speckle,
        "t_last": float(f.t_resume[-1]),
        "v6": v6.verdict,
        "worst_late": f.worst_late,
        "pix_02": f.pixel_at_02,
        "mem6_max": float(f.memorized.max()),
        "agree6_min_late": f.agree_late_min,
        **_sentences(f, t09),
    }
    claim = (
        "Re-noising unseen images to t_resume >= 0.2 and resuming keeps the global layout and "
        "changes details",
        "Fig. 6 (ImageNet validation images)",
        f"relative layout distance <= {f.worst_late:.2f} for t_resume >= 0.2 (0.5 = criterion); "
        f"pixel distance at 0.2: {f.pixel_at_02:.2f}",
        v6,
    )
    table = pd.DataFrame(rows, columns=["quantity", "paper", "ours", "verdict"])
    return Comparison(table, glue, [claim])
