"""Compute behind the book's Section 4 and appendix F / G (plotting lives in the notebook).

Every function below runs one of the paper's experiments on trained zoo models
(:func:`flowstage_lib.zoo.get_model`) and is cached: the key holds the models' cache keys
(``TrainResult.key``), the feature classifier's weights, the data's fingerprint, every setting,
and the source of the modules that produce the numbers.

- :func:`intermediate_predictions`: x1_hat = x_t + (1 - t) v along Euler trajectories and how
  far each is from the final sample (Fig. 4 / 15: "the layout settles near t = 0.2").
- :func:`mixed_sampling`: oracle before t_switch, model after, with the memorization test of
  every sample (Fig. 5 / 13 / 14).
- :func:`refinement`: re-noise unseen images to t_resume and resume (Fig. 6).
- :func:`loss_curve`: a model's MSE against the oracle and the CFM target per t (Fig. 7a / 7b).
- :func:`stage_swap_samples`, :func:`stage_swap_table`, :func:`paired_fd_difference`: one
  model per stage, Frechet distance with bootstrap intervals (Table 1).
- :func:`transition`: where the class-conditional top-1 posterior weight of the training set
  crosses 0.5 / 0.9 / 0.99 (our navigation -> refinement split, Section 3).

Small pure helpers (:func:`first_crossing`, :func:`swap_costs`, :func:`verdict`) hold the
criteria the notebook states in words, so that the tests can check them.

Distances. ``structural`` is the mean squared difference of the feature classifier's
intermediate (7 x 7) feature maps (:meth:`~flowstage_lib.metrics.FeatureClassifier.feature_maps`),
our stand-in for the paper's DINO patch-feature MSE (Fig. 13); it compares *layouts*: where the
strokes are. Images are clamped to [-1, 1] before any classifier sees them.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch

from flowstage_lib import cache
from flowstage_lib.data import ImageData, default_device
from flowstage_lib.metrics import FeatureClassifier, extract_features, memorization
from flowstage_lib.oracle import OracleVelocity
from flowstage_lib.sampler import (
    CFGVelocity,
    MixedVelocity,
    ModelVelocity,
    euler_sample,
    renoise_and_resume,
    sample,
    stagewise_grid,
)
from flowstage_lib.transition import first_crossing  # re-exported: (t, y, level, direction)

__all__ = [
    "MODULES",
    "model_key",
    "module_fingerprint",
    "velocity",
    "to_u8",
    "thumbnail_distance",
    "from_u8",
    "transition",
    "first_crossing",
    "intermediate_predictions",
    "mixed_sampling",
    "refinement",
    "loss_curve",
    "stage_swap_samples",
    "stage_swap_table",
    "paired_fd_difference",
    "swap_costs",
    "verdict",
]

#: Library modules whose source is part of every cache key of this module.
MODULES = (
    "flowstage_lib.stages",
    "flowstage_lib.sampler",
    "flowstage_lib.oracle",
    "flowstage_lib.metrics",
)


# ----------------------------------------------------------------------------- helpers


def module_fingerprint(module: torch.nn.Module) -> str:
    """SHA-256 (16 hex) of a network's state dict (names, shapes, values)."""
    h = hashlib.sha256()
    for name, v in sorted(module.state_dict().items()):
        h.update(name.encode())
        h.update(cache.tensor_fingerprint(v.reshape(-1)).encode())
    return h.hexdigest()[:16]


def model_key(result) -> str:
    """Cache identity of a trained model: ``TrainResult.key`` *and its number of steps*, else
    the fingerprint of its weights (a model that was not trained through the cache).

    ``TrainResult.key`` names the training *run*, which a longer budget continues: the 1x and
    2x models of Fig. 7b share it, so the step count must be part of the identity.
    """
    key = getattr(result, "key", "")
    cfg = getattr(result, "cfg", None)
    if key and cfg is not None:
        return f"{key}@{int(cfg.steps)}"
    return "weights:" + module_fingerprint(result.model)


def velocity(result, cfg_scale: float = 1.0):
    """The sampling velocity of a trained model: conditional (``cfg_scale = 1``) or guided on
    every step, v_u + w (v_c - v_u) (:class:`~flowstage_lib.sampler.CFGVelocity`)."""
    if cfg_scale == 1.0:
        return ModelVelocity(result.model)
    return CFGVelocity(result.model, cfg_scale)


def to_u8(x: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] (clamped) -> uint8 (what the cache stores)."""
    return ((x.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def from_u8(u8: torch.Tensor) -> torch.Tensor:
    """uint8 -> float32 images in [-1, 1]."""
    return u8.float() / 127.5 - 1


def _maps(classifier: FeatureClassifier, x: torch.Tensor) -> torch.Tensor:
    """(B, C', h, w) intermediate feature maps of images clamped to [-1, 1]."""
    return extract_features(classifier, x.float().clamp(-1, 1), maps=True)


def _feats(classifier: FeatureClassifier, x: torch.Tensor) -> torch.Tensor:
    return extract_features(classifier, x.float().clamp(-1, 1))


def thumbnail_distance(a: torch.Tensor, b: torch.Tensor, side: int = 7) -> torch.Tensor:
    """(B,) RMS difference of ``side x side`` thumbnails (average pooling) of images a, b
    (B, C, H, W) clamped to [-1, 1]: a layout distance that ignores pixel-level detail and
    background speckle (28 x 28 -> 7 x 7 with 4 x 4 pooling)."""
    k = max(1, a.shape[-1] // side)
    pa = torch.nn.functional.avg_pool2d(a.float().clamp(-1, 1), k)
    pb = torch.nn.functional.avg_pool2d(b.float().clamp(-1, 1), k)
    return (pa - pb).flatten(1).pow(2).mean(1).sqrt()


def _structural(ma: torch.Tensor, mb: torch.Tensor) -> torch.Tensor:
    """(B,) mean squared difference of two stacks of feature maps (the DINO-MSE analogue)."""
    return (ma - mb).pow(2).flatten(1).mean(1)


@torch.no_grad()
def _predict(classifier: FeatureClassifier, x: torch.Tensor) -> torch.Tensor:
    """(B,) argmax class of images clamped to [-1, 1]."""
    dev = next(classifier.parameters()).device
    classifier.eval()
    out = [
        classifier(x[i : i + 1000].float().clamp(-1, 1).to(dev)).argmax(1).cpu()
        for i in range(0, len(x), 1000)
    ]
    return torch.cat(out)


def _oracle(data: ImageData) -> OracleVelocity:
    return OracleVelocity(data.x, labels=data.y, device=default_device())


def _balanced(n: int, num_classes: int) -> torch.Tensor:
    return torch.arange(n) % num_classes  # (n,) 0, 1, ..., K-1, 0, ...


def verdict(n_ok: int, n_total: int) -> str:
    """ "reproduced" if every criterion holds, "partly" if some do, else "not reproduced"."""
    if n_total < 1 or not 0 <= n_ok <= n_total:
        raise ValueError(f"need 0 <= n_ok <= n_total, n_total >= 1; got {n_ok}, {n_total}")
    if n_ok == n_total:
        return "reproduced"
    return "partly" if n_ok > 0 else "not reproduced"


# ----------------------------------------------------------------------------- transition


def transition(
    data: ImageData,
    n_queries: int = 256,
    seed: int = 0,
    n_t_log: int = 24,
    n_t_lin: int = 16,
    levels: Iterable[float] = (0.5, 0.9, 0.99),
) -> dict:
    """Where the class-conditional oracle posterior of ``data`` collapses (Section 3, Fig. 2b).

    Cached through :func:`flowstage_lib.twostage.curves_for` on the grid
    :func:`flowstage_lib.twostage.t_grid` ``(n_t_log, n_t_lin)``.

    Returns:
        dict: ``t``, ``top1`` (lists: the mean top-1 weight curve) and ``crossings``
        {level: t} (:func:`flowstage_lib.transition.crossing_times`).
    """
    from flowstage_lib import twostage
    from flowstage_lib.transition import crossing_times

    grid = twostage.t_grid(n_t_log, n_t_lin)
    c = twostage.curves_for(data, grid, n_queries, seed)
    return {
        "t": list(c["t"]),
        "top1": list(c["top1"]),
        "crossings": crossing_times(c["t"], c["top1"], tuple(levels)),
    }


# ----------------------------------------------------------------------------- Fig. 4 / 15


def intermediate_predictions(
    result,
    classifier: FeatureClassifier,
    n: int,
    cfg_scale: float = 1.0,
    n_steps: int = 50,
    seed: int = 0,
) -> dict:
    """Intermediate predictions x1_hat(t) = x_t + (1 - t) v(x_t, t) along Euler sampling
    (Fig. 4 / 15) and their distance to the final sample, per t.

    Labels are class-balanced (0, 1, ..., K-1, 0, ...); noise from ``seed``.

    Returns:
        dict with
        ``t`` (T,) float64: the times of the Euler steps (0, 1/n_steps, ...);
        ``x1_hat`` (T, n, *shape) uint8; ``x1`` (n, *shape) uint8 (the final samples);
        ``y`` (n,);
        ``structural`` (T, n): feature-map MSE between x1_hat(t) and x1 (layout distance);
        ``feature`` (T, n): L2 distance of classifier features;
        ``pixel`` (T, n): RMS pixel difference; ``thumbnail`` (T, n): RMS difference of 7 x 7
        thumbnails (:func:`thumbnail_distance`);
        ``agree`` (T, n) bool: the classifier gives x1_hat(t) the class it gives x1;
        ``seconds``: compute time of the run that filled the cache.
    """
    shape = tuple(result.spec.input_shape)
    K = int(result.spec.num_classes)
    params = {
        "model": model_key(result),
        "classifier": module_fingerprint(classifier),
        "n": n,
        "cfg_scale": float(cfg_scale),
        "n_steps": n_steps,
        "seed": seed,
        "shape": list(shape),
        "K": K,
    }

    def compute() -> dict:
        t0 = time.time()
        y = _balanced(n, K)
        r = sample(
            velocity(result, cfg_scale), n, shape, y=y, n_steps=n_steps, seed=seed, record=True
        )
        x1 = r.x1.clamp(-1, 1)  # (n, *shape)
        m1, f1, c1 = _maps(classifier, x1), _feats(classifier, x1), _predict(classifier, x1)
        T = r.x1_hat.shape[0]
        st, fe, px, th, ag = (torch.zeros(T, n) for _ in range(5))
        for k in range(T):
            xh = r.x1_hat[k].clamp(-1, 1)  # (n, *shape)
            st[k] = _structural(_maps(classifier, xh), m1)
            fe[k] = (_feats(classifier, xh) - f1).norm(dim=1)
            px[k] = (xh - x1).flatten(1).pow(2).mean(1).sqrt()
            th[k] = thumbnail_distance(xh, x1)
            ag[k] = (_predict(classifier, xh) == c1).float()
        return {
            "t": r.t,
            "x1_hat": to_u8(r.x1_hat),
            "x1": to_u8(x1),
            "y": y,
            "structural": st,
            "feature": fe,
            "pixel": px,
            "thumbnail": th,
            "agree": ag.bool(),
            "seconds": time.time() - t0,
        }

    return cache.cached("sec4_intermediate", params, compute, modules=MODULES)


# ----------------------------------------------------------------------------- Fig. 5 / 13


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

    The noise depends only on ``seed`` (not on t_switch): sample i starts from the same x0 for
    every t_switch, so a row of Fig. 5 follows one noise. t_switch = 0 is the pure model,
    t_switch = 1 the pure oracle (which returns a training image).

    Returns:
        dict with ``x`` (n, *shape) uint8 samples, ``y`` (n,), and the
        :class:`~flowstage_lib.metrics.MemorizationResult` fields ``nn_index``, ``d1``, ``d2``,
        ``memorized`` (d1 < d2 / 3), ``feat_dist``, ``structural`` (n,), plus ``seconds``.
    """
    shape = tuple(result.spec.input_shape)
    K = int(result.spec.num_classes)
    params = {
        "model": model_key(result),
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
        orc = oracle if oracle is not None else _oracle(train)
        fn = MixedVelocity(orc, velocity(result, cfg_scale), float(t_switch))
        y = _balanced(n, K)
        x = sample(fn, n, shape, y=y, n_steps=n_steps, seed=seed).x1.clamp(-1, 1)
        mem = memorization(x, train.x, classifier)
        return {
            "x": to_u8(x),
            "y": y,
            "nn_index": mem.nn_index,
            "d1": mem.d1,
            "d2": mem.d2,
            "memorized": mem.memorized,
            "feat_dist": mem.feat_dist,
            "structural": mem.structural,
            "seconds": time.time() - t0,
        }

    return cache.cached("sec4_mixed", params, compute, modules=MODULES)


# ----------------------------------------------------------------------------- Fig. 6


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
    """Refinement on unseen images (Fig. 6): re-noise to t_resume and resume sampling.

    ``n`` class-balanced images are taken from ``images`` (the first of each class, in
    order); each is re-noised as x_t = t x1 + (1 - t) eps with the *same* eps for every
    t_resume (paired), and integrated to t = 1 with round(n_steps (1 - t_resume)) Euler steps
    (the step size of an ``n_steps`` sampler), conditioned on its true label.

    Layout preservation is measured against the source image; the reference scale is the
    distance between the source and another unseen image of the same class (``baseline_*``).

    Returns:
        dict with ``t_resume`` (R,), ``source`` (n, *shape) uint8, ``y`` (n,),
        ``x`` (R, n, *shape) uint8, ``structural`` / ``pixel`` / ``feature`` / ``thumbnail``
        (R, n) distances to the source, ``agree`` (R, n) bool (the classifier still says y),
        ``memorized`` (R, n) bool (Gu et al. against ``train``), ``baseline_structural`` /
        ``baseline_pixel`` / ``baseline_feature`` / ``baseline_thumbnail`` (n,), ``seconds``.
    """
    K = int(result.spec.num_classes)
    ts = [float(t) for t in t_resume]
    params = {
        "model": model_key(result),
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
        y = _balanced(n, K)
        # request i (class y_i) takes the next unused image of its class; its partner is an
        # image of the same class from the second half of the class's pool
        pools = {c: torch.nonzero(images.y == c).squeeze(1) for c in range(K)}
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
        idx, partner = torch.tensor(idx), torch.tensor(partner)
        src = images.x[idx]  # (n, *shape), class y
        ref = images.x[partner]  # (n, *shape), another image of class y
        m_src, f_src = _maps(classifier, src), _feats(classifier, src)
        out: dict[str, Any] = {
            "t_resume": torch.tensor(ts, dtype=torch.float64),
            "source": to_u8(src),
            "y": y,
            "baseline_structural": _structural(_maps(classifier, ref), m_src),
            "baseline_pixel": (ref - src).flatten(1).pow(2).mean(1).sqrt(),
            "baseline_feature": (_feats(classifier, ref) - f_src).norm(dim=1),
            "baseline_thumbnail": thumbnail_distance(ref, src),
        }
        fn = velocity(result, cfg_scale)
        xs, st, px, fe, th, ag, mem = [], [], [], [], [], [], []
        for t in ts:
            steps = max(1, round(n_steps * (1 - t)))
            g = torch.Generator().manual_seed(seed)
            x = renoise_and_resume(fn, src, t, steps, generator=g, y=y).clamp(-1, 1)
            xs.append(to_u8(x))
            st.append(_structural(_maps(classifier, x), m_src))
            px.append((x - src).flatten(1).pow(2).mean(1).sqrt())
            fe.append((_feats(classifier, x) - f_src).norm(dim=1))
            th.append(thumbnail_distance(x, src))
            ag.append(_predict(classifier, x) == y)
            mem.append(memorization(x, train.x).memorized)
        out.update(
            {
                "x": torch.stack(xs),
                "structural": torch.stack(st),
                "pixel": torch.stack(px),
                "feature": torch.stack(fe),
                "thumbnail": torch.stack(th),
                "agree": torch.stack(ag),
                "memorized": torch.stack(mem),
                "seconds": time.time() - t0,
            }
        )
        return out

    return cache.cached("sec4_refinement", params, compute, modules=MODULES)


# ----------------------------------------------------------------------------- Fig. 7


def loss_curve(
    result,
    data: ImageData,
    t_grid: Sequence[float],
    n: int = 512,
    seed: int = 0,
    oracle: OracleVelocity | None = None,
) -> dict:
    """A trained model's MSE per t against the class-conditional oracle target and against the
    CFM target x1 - x0 (Fig. 7a / 7b), on the same n pairs at every t
    (:func:`flowstage_lib.train.oracle_loss_per_t`), cached per model.

    The gap ``cfm - oracle`` estimates E||u* - (x1 - x0)||^2, which does not depend on the
    model (the cross term vanishes because u* = E[x1 - x0 | x_t]).

    Returns:
        dict of lists ``t``, ``oracle``, ``cfm`` and ``seconds``.
    """
    from flowstage_lib.train import oracle_loss_per_t

    ts = [float(t) for t in t_grid]
    params = {
        "model": model_key(result),
        "data": data.x,
        "labels": data.y,
        "t": ts,
        "n": n,
        "seed": seed,
    }

    def compute() -> dict:
        t0 = time.time()
        orc = (
            oracle
            if oracle is not None
            else OracleVelocity(
                data.x, labels=data.y, device=next(result.model.parameters()).device
            )
        )
        c = oracle_loss_per_t(result.model, data, ts, n=n, seed=seed, oracle=orc)
        return {
            "t": c.t.tolist(),
            "oracle": c.oracle.tolist(),
            "cfm": c.cfm.tolist(),
            "seconds": time.time() - t0,
        }

    return cache.cached(
        "sec4_loss_curve", params, compute, modules=MODULES + ("flowstage_lib.train",)
    )


# ----------------------------------------------------------------------------- Table 1


def stage_swap_samples(
    models: dict[str, Any],
    pairs: Sequence[tuple[str, str]],
    splits: Sequence[float],
    n: int,
    n1: int = 25,
    n2: int = 25,
    seed: int = 0,
    batch_size: int = 500,
) -> dict[tuple, dict]:
    """Stage-swapped samples (Table 1): model ``a`` for t < split, model ``b`` after, n1 + n2
    uniform Euler steps on [0, split] and [split, 1]
    (:func:`~flowstage_lib.sampler.stagewise_grid`), no guidance, class-balanced labels.

    Every row starts from the same noise (``seed``): rows are paired (sample i of every row
    has the same x0 and label). Rows that share a stage-1 model and a split share its stage-1
    trajectory, which is integrated once: the result is the same as
    :class:`~flowstage_lib.sampler.StageSwapVelocity` over the whole grid (the same Euler
    updates in the same order) and saves a quarter of the sampling. Cached (uint8) per row.

    Args:
        models: name -> TrainResult (e.g. {"S": ..., "L": ...}).
        pairs: (stage-1 name, stage-2 name) pairs.
        splits: t_split values (paper: 0.1 and 0.2).
        n: samples per row (paper: 50,000).
        n1, n2: Euler steps before / after the split (paper: 25 + 25).

    Returns:
        {(split, a, b): {"x": (n, *shape) uint8, "y": (n,), "seconds": sampling time of the
        run that filled the cache (a shared stage 1 counted where it ran)}}.
    """
    out = {}
    memo: dict[tuple[str, float], torch.Tensor] = {}  # (stage-1 name, split) -> state at split
    for split in splits:
        for a, b in pairs:
            params = {
                "stage1": model_key(models[a]),
                "stage2": model_key(models[b]),
                "split": float(split),
                "n1": n1,
                "n2": n2,
                "n": n,
                "seed": seed,
                "shape": list(models[a].spec.input_shape),
            }
            out[(float(split), a, b)] = cache.cached(
                "sec4_stage_swap",
                params,
                lambda a=a, b=b, split=split: _swap_samples(
                    models, a, b, float(split), n1, n2, n, seed, batch_size, memo
                ),
                modules=MODULES,
            )
    return out


def _swap_samples(
    models,
    a: str,
    b: str,
    split: float,
    n1: int,
    n2: int,
    n: int,
    seed: int,
    batch_size: int,
    memo: dict,
) -> dict:
    """One Table 1 row: stage 1 with ``models[a]`` (shared through ``memo``), then stage 2."""
    t0 = time.time()
    ra, rb = models[a], models[b]
    grid = stagewise_grid(n1, n2, split)
    y = _balanced(n, int(ra.spec.num_classes))  # (n,)
    if (a, split) not in memo:  # Euler on [0, split] from the seeded noise
        memo[(a, split)] = sample(
            ModelVelocity(ra.model),
            n,
            tuple(ra.spec.input_shape),
            y=y,
            grid=grid[: n1 + 1],
            seed=seed,
            batch_size=batch_size,
        ).x1
    x_s = memo[(a, split)]  # (n, *shape) at t = split
    dev = default_device()
    fn = ModelVelocity(rb.model)
    x = torch.cat(
        [
            euler_sample(
                fn, x_s[i : i + batch_size].to(dev), grid[n1:], y[i : i + batch_size].to(dev)
            ).x1.cpu()
            for i in range(0, n, batch_size)
        ]
    )  # (n, *shape) at t = 1
    return {"x": to_u8(x), "y": y, "seconds": time.time() - t0}


def stage_swap_table(
    samples: dict[tuple, dict], evaluator, n_boot: int = 200, seed: int = 0
) -> list[dict]:
    """Score the rows of :func:`stage_swap_samples`: Frechet distance in classifier features to
    the training split with a 95% bootstrap interval, and class accuracy.

    Returns:
        One dict per row: ``split``, ``stage1``, ``stage2``, ``fd``, ``fd_low``, ``fd_high``,
        ``accuracy``, ``n``, ``seconds``.
    """
    rows = []
    for (split, a, b), s in samples.items():
        score = evaluator.score(from_u8(s["x"]), s["y"], n_boot=n_boot, seed=seed)
        rows.append(
            {
                "split": split,
                "stage1": a,
                "stage2": b,
                "fd": score.fd,
                "fd_low": score.fd_low,
                "fd_high": score.fd_high,
                "accuracy": score.accuracy,
                "n": score.n,
                "seconds": s["seconds"],
            }
        )
    return rows


def paired_fd_difference(
    evaluator,
    x_a: torch.Tensor,
    x_b: torch.Tensor,
    n_boot: int = 200,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float, float]:
    """FD(x_a) - FD(x_b) against the training features, with a *paired* bootstrap interval.

    Row i of x_a and of x_b share their noise and label (:func:`stage_swap_samples`), so both
    sets are resampled with the same indices: the interval measures the noise of the
    difference, which is much smaller than that of each FD.

    Returns:
        (difference, low, high) at ``level`` (percentile interval around the point estimate, as
        :func:`~flowstage_lib.metrics.frechet_distance_ci`).
    """
    if len(x_a) != len(x_b):
        raise ValueError(f"paired sets must have the same size, got {len(x_a)}, {len(x_b)}")
    fa = evaluator.features(x_a.float()).double().numpy()  # (n, F)
    fb = evaluator.features(x_b.float()).double().numpy()
    ref = evaluator.ref_feats.double().numpy()  # (N, F)
    mu_r = ref.mean(0)
    w, v = np.linalg.eigh(np.cov(ref, rowvar=False))
    sqrt_r = (v * np.sqrt(np.clip(w, 0, None))) @ v.T  # Sigma_ref^(1/2), computed once
    tr_r = float(np.trace(np.cov(ref, rowvar=False)))

    def fd(f: np.ndarray) -> float:  # the FID formula against the fixed reference
        c = np.cov(f, rowvar=False)
        m = sqrt_r @ c @ sqrt_r
        tr_cross = np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0, None)).sum()
        return max(float(((f.mean(0) - mu_r) ** 2).sum() + np.trace(c) + tr_r - 2 * tr_cross), 0.0)

    diff = fd(fa) - fd(fb)
    g = np.random.default_rng(seed)
    boots = np.empty(n_boot)
    for k in range(n_boot):
        idx = g.integers(0, len(fa), len(fa))
        boots[k] = fd(fa[idx]) - fd(fb[idx])
    lo, hi = np.quantile(boots, [(1 - level) / 2, (1 + level) / 2])
    centre = boots.mean()
    return float(diff), float(diff + lo - centre), float(diff + hi - centre)


def swap_costs(rows: Sequence[dict], strong: str, weak: str) -> list[dict]:
    """Per split: the FD cost of a weak stage-1 model (weak/strong - strong/strong) and of a
    weak stage-2 model (strong/weak - strong/strong), and whether the paper's ordering holds
    (cost of a weak stage 1 < cost of a weak stage 2; ``separated``: the FD intervals of
    weak/strong and strong/weak do not overlap).

    Returns:
        One dict per split: ``split``, ``cost_stage1``, ``cost_stage2``, ``ordering``,
        ``separated``, ``fd_strong``, ``fd_weak`` (weak/weak).
    """
    out = []
    for split in sorted({r["split"] for r in rows}):
        cell = {(r["stage1"], r["stage2"]): r for r in rows if r["split"] == split}
        ss, ws, sw = cell[(strong, strong)], cell[(weak, strong)], cell[(strong, weak)]
        c1, c2 = ws["fd"] - ss["fd"], sw["fd"] - ss["fd"]
        out.append(
            {
                "split": split,
                "cost_stage1": c1,
                "cost_stage2": c2,
                "ordering": bool(c1 < c2),
                "separated": bool(ws["fd_high"] < sw["fd_low"]),
                "fd_strong": ss["fd"],
                "fd_weak": cell[(weak, weak)]["fd"] if (weak, weak) in cell else math.nan,
            }
        )
    return out
