"""Compute behind Section 5 (good practices) and Appendix B of the paper (plotting lives in the
notebook ``book/sec5_practices.ipynb``).

- **Table 2** (Sec. 5.1, timestep shift): :func:`step_share`, :func:`table2_rows`,
  :func:`table2_verdict`.
- **Table 3** (Sec. 5.2, CFG interval): :data:`PAPER_TABLE3`, :func:`snr_factor`,
  :func:`place_interval` (the paper's intervals moved to our transition time),
  :func:`table3_rows`, :func:`table3_claims`, :func:`spearman`.
- **Fig. 8** (velocity norm and conditional / unconditional divergence along sampling
  trajectories): :func:`velocity_profile`, :func:`peak_time`, :func:`rise_time`.
- **Figs. 9 / 12** (Sec. 5.3, latent spaces): :func:`latent_spaces`, :func:`study_model`,
  :func:`loss_over_training`, :func:`excess_variation`, :func:`fd_over_training`.
- **Fig. 10** (appendix B, oracle vs CFM target): :func:`fd_over_training`,
  :func:`fig10_verdict`.
- :func:`transition_time`: our navigation -> refinement transition (class-conditional top-1
  posterior weight crossing 0.9), the yardstick for the "relative placement" of Table 3.

Every expensive result is cached: sample sets by :func:`flowstage_lib.evaluate.sample_set`,
their scores, loss curves and velocity profiles by :func:`flowstage_lib.cache.cached`, models by
:mod:`flowstage_lib.zoo` / :func:`flowstage_lib.train.load_or_train`. The verdict functions are
pure: ``tests/test_practices.py`` feeds them the paper's own numbers, which must reproduce the
paper's claims.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch

from flowstage_lib import cache, evaluate, zoo
from flowstage_lib.path import timestep_shift
from flowstage_lib.sampler import CFGVelocity, ModelVelocity, sample, shifted_grid
from flowstage_lib.train import load_or_train, oracle_loss_per_t

__all__ = [
    "PAPER_TRANSITION",
    "PAPER_TABLE2",
    "PAPER_TABLE2_SHARE",
    "PAPER_TABLE3",
    "PAPER_VELOCITY_PEAK",
    "model_id",
    "step_share",
    "snr_factor",
    "place_interval",
    "transition_time",
    "score_sampler",
    "table2_rows",
    "table2_verdict",
    "border_rms",
    "table3_rows",
    "table3_claims",
    "spearman",
    "velocity_profile",
    "peak_time",
    "rise_time",
    "latent_spaces",
    "space_id",
    "study_model",
    "loss_over_training",
    "excess_variation",
    "fd_over_training",
    "reference_fd",
    "fig10_verdict",
    "share_lower",
    "checkpoint_samples",
    "memorized_fraction",
    "sample_images",
]

#: The paper's navigation -> refinement transition on ImageNet (Fig. 2b: the top-1 posterior
#: weight saturates just after t = 0.1).
PAPER_TRANSITION = 0.1

#: Table 2: gFID@50K of LightningDiT-B/1, NFE 50, no CFG, per timestep shift s.
PAPER_TABLE2 = {4.0: 18.89, 2.0: 14.82, 1.0: 12.99, 0.7: 12.46, 0.5: 12.23, 0.3: 12.66, 0.1: 19.91}

#: Table 2's column "steps in [0, 0.2]": the two ends the paper prints (s = 4.0 and s = 0.1).
PAPER_TABLE2_SHARE = {4.0: 0.06, 0.1: 0.72}

#: Table 3: (row label, two-sided interval [a, b] or None = no guidance, gFID), scale 2.5.
PAPER_TABLE3: list[tuple[str, tuple[float, float] | None, float]] = [
    ("none", None, 12.99),
    ("[0, 1]", (0.0, 1.0), 10.79),
    ("[0, .1]", (0.0, 0.1), 6.33),
    ("[.1, .2]", (0.1, 0.2), 5.21),
    ("[.2, .3]", (0.2, 0.3), 7.70),
    ("[.3, .4]", (0.3, 0.4), 9.39),
    ("[.4, .5]", (0.4, 0.5), 10.39),
    ("[.5, .6]", (0.5, 0.6), 10.59),
    ("[.6, .7]", (0.6, 0.7), 11.06),
    ("[.7, .8]", (0.7, 0.8), 11.38),
    ("[.8, .9]", (0.8, 0.9), 11.64),
    ("[.9, 1]", (0.9, 1.0), 12.20),
    ("[0, .2]", (0.0, 0.2), 6.62),
    ("[0, .4]", (0.0, 0.4), 8.03),
    ("[0, .6]", (0.0, 0.6), 9.19),
    ("[0, .8]", (0.0, 0.8), 10.14),
    ("[.1, .3]", (0.1, 0.3), 3.54),
    ("[.1, .4]", (0.1, 0.4), 4.16),
    ("[.1, .5]", (0.1, 0.5), 2.82),
    ("[.1, .6]", (0.1, 0.6), 2.80),
    ("[.1, .7]", (0.1, 0.7), 2.86),
    ("[.1, .8]", (0.1, 0.8), 2.97),
]

#: Fig. 8a: the norm of the predicted velocity peaks near t = 0.4.
PAPER_VELOCITY_PEAK = 0.4

_SCORE_MODULES = ("flowstage_lib.metrics", "flowstage_lib.evaluate", "flowstage_lib.sampler")


# ============================================================================ time grids


def step_share(grid, lo: float = 0.0, hi: float = 0.2) -> float:
    """Share of the Euler steps of ``grid`` spent in [lo, hi) (Table 2's "steps in [0, 0.2]").

    An Euler step k goes from t_k to t_{k+1} and evaluates the velocity at t_k; it counts when
    lo <= t_k < hi. With 50 steps: s = 4.0 gives 3 / 50 = 6%, s = 0.1 gives 36 / 50 = 72%,
    the two ends of the paper's column.

    Args:
        grid: (n + 1,) increasing times.
        lo, hi: the window.
    """
    g = torch.as_tensor(grid, dtype=torch.float64).flatten()
    starts = g[:-1]  # (n,) evaluation times
    return float(((starts >= lo) & (starts < hi)).double().mean())


def snr_factor(t_from: float, t_to: float) -> float:
    """The timestep-shift factor k with ``timestep_shift(t_from, k) = t_to``.

    The shift multiplies the signal-to-noise ratio t / (1 - t) by k (Table 2's formula), so
    k = snr(t_to) / snr(t_from). Used to move the paper's CFG intervals, stated relative to its
    transition at t = 0.1, to our measured transition: both transitions then sit at the same
    point of the map and the map keeps 0 and 1.
    """
    for name, v in (("t_from", t_from), ("t_to", t_to)):
        if not 0.0 < v < 1.0:
            raise ValueError(f"{name} must be in (0, 1), got {v}")
    return (t_to / (1 - t_to)) / (t_from / (1 - t_from))


def place_interval(interval: tuple[float, float] | None, k: float) -> tuple[float, float] | None:
    """Map a CFG interval [a, b] through ``timestep_shift(., k)`` (None stays None; k = 1 is the
    identity: the paper's absolute placement)."""
    if interval is None:
        return None
    a, b = interval
    return (round(float(timestep_shift(a, k)), 6), round(float(timestep_shift(b, k)), 6))


def transition_time(data, n_queries: int, n_t_log: int, n_t_lin: int, seed: int,
                    level: float = 0.9) -> dict:
    """Our navigation -> refinement transition on ``data``: the first t where the mean
    class-conditional top-1 posterior weight reaches ``level`` (Section 3's stage split,
    cached by :func:`flowstage_lib.twostage.curves_for`).

    Returns:
        dict: ``t_transition`` and the curve ``t``, ``top1`` (lists).
    """
    from flowstage_lib.transition import crossing_times
    from flowstage_lib.twostage import curves_for, t_grid

    c = curves_for(data, t_grid(n_t_log, n_t_lin), n_queries, seed)
    t_tr = crossing_times(c["t"], c["top1"], (level,))[level]
    return {"t_transition": float(t_tr), "t": list(c["t"]), "top1": list(c["top1"])}


# ============================================================================ scoring


def _fd_row(score: evaluate.SampleScore) -> dict:
    return {"fd": float(score.fd), "fd_low": float(score.fd_low), "fd_high": float(score.fd_high),
            "accuracy": float(score.accuracy), "n": int(score.n)}


def score_sampler(
    ev: evaluate.Evaluator,
    velocity_fn: Callable,
    describe: dict,
    n: int,
    shape: Sequence[int],
    num_classes: int,
    grid=None,
    seed: int = 0,
    decode: Callable | None = None,
    n_boot: int = 200,
) -> dict:
    """Sample (cached by :func:`~flowstage_lib.evaluate.sample_set`) and score (cached here):
    Fréchet distance in classifier features with a bootstrap interval, class accuracy.

    Returns:
        dict: fd, fd_low, fd_high, accuracy, n, seconds (sampling time of the filling run).
    """
    grid_key = None if grid is None else [round(float(t), 8) for t in grid]
    params = {"describe": describe, "n": n, "shape": list(shape), "grid": grid_key, "seed": seed,
              "decode": decode is not None, "n_boot": n_boot, "ref": ev.ref_feats}

    def compute() -> dict:
        s = evaluate.sample_set(velocity_fn, describe, n, tuple(shape), num_classes, grid=grid,
                                seed=seed, decode=decode)
        return {**_fd_row(ev.score(s["x"], s["y"], n_boot=n_boot, seed=seed)),
                "seconds": float(s["seconds"])}

    return cache.cached("sec5_score", params, compute, modules=_SCORE_MODULES)


def reference_fd(ev: evaluate.Evaluator, x: torch.Tensor, y: torch.Tensor, n: int,
                 n_boot: int = 200, seed: int = 0) -> dict:
    """Fréchet distance of ``n`` real images (x, y) to the training split: the floor that
    finite-sample bias puts under every sample set of size ``n``."""
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(x), generator=g)[: min(n, len(x))]
    params = {"x": x[idx], "y": y[idx], "n_boot": n_boot, "ref": ev.ref_feats, "seed": seed}
    return cache.cached("sec5_reference_fd", params,
                        lambda: _fd_row(ev.score(x[idx], y[idx], n_boot=n_boot, seed=seed)),
                        modules=("flowstage_lib.metrics",))


def _velocity(model, scale: float, interval) -> Callable:
    if interval is None or scale == 1.0:
        return ModelVelocity(model)
    return CFGVelocity(model, scale, interval)


def model_id(result) -> str:
    """Identity of a trained model's final weights: its run key *and* its step count.

    ``TrainResult.key`` leaves the number of steps out on purpose (a longer run continues a
    shorter one under the same key), so the budget-1 and budget-2 models, or a model before and
    after the zoo preset's step count changes, share a key: keying samples on the key alone
    would hand one model's cached samples to the other."""
    return f"{result.key}@{result.steps}"


def _describe(key: str, shift: float = 1.0, scale: float = 1.0, interval=None,
              n_steps: int = 50, **extra) -> dict:
    """The sample-set description shared by Tables 2 and 3 (so Table 3's "none" row *is*
    Table 2's s = 1 row, as in the paper)."""
    guided = interval is not None and scale != 1.0
    return {"model": key, "shift": float(shift), "nfe": int(n_steps),
            "cfg_scale": float(scale) if guided else 1.0,
            "cfg_interval": [round(float(v), 6) for v in interval] if guided else None, **extra}


# ============================================================================ Table 2


def table2_rows(result, ev: evaluate.Evaluator, shifts: Sequence[float], n: int, n_steps: int,
                seed: int, t_transition: float, n_boot: int = 200) -> list[dict]:
    """Table 2: one row per timestep shift s (no guidance, ``n_steps`` Euler steps).

    Returns:
        list of dicts: s, share_02 (steps in [0, 0.2]), share_nav (steps in [0, our
        transition)), fd, fd_low, fd_high, accuracy, n, seconds, paper_fd.
    """
    shape, K = result.spec.input_shape, result.spec.num_classes
    rows = []
    for s in shifts:
        grid = shifted_grid(n_steps, float(s))
        d = _describe(model_id(result), s, n_steps=n_steps)
        sc = score_sampler(ev, ModelVelocity(result.model), d, n, shape, K, grid=grid, seed=seed,
                           n_boot=n_boot)
        rows.append({"s": float(s), "share_02": step_share(grid, 0.0, 0.2),
                     "share_nav": step_share(grid, 0.0, t_transition), **sc,
                     "paper_fd": PAPER_TABLE2.get(float(s), math.nan)})
    return rows


def table2_verdict(fd: dict[float, float], moderate=(0.7, 0.5, 0.3)) -> dict:
    """Table 2's claim, "a moderate shift toward navigation (s < 1) is best, extremes hurt".

    Criterion: (A) the lowest FD is at a shift toward navigation, s < 1; (B) it is at a
    moderate s in ``moderate``; (C) both extremes of the table (its largest and smallest s) are
    worse than s = 1. Reproduced if A, B and C; partly if A holds but B or C fails; not
    reproduced if A fails.

    Args:
        fd: {s: FD}; must contain 1.0.
    """
    best = min(fd, key=fd.get)
    hi, lo = max(fd), min(fd)
    a = best < 1.0
    b = best in moderate
    c = fd[hi] > fd[1.0] and fd[lo] > fd[1.0]
    verdict = "reproduced" if a and b and c else "partly" if a else "not reproduced"
    return {"best_s": best, "toward_navigation": a, "moderate_best": b, "extremes_hurt": c,
            "verdict": verdict}


def border_rms(x: torch.Tensor, width: int = 3, background: float = -1.0) -> float:
    """Root mean square deviation from the background value of the ``width``-pixel frame of
    images x (B, C, H, W): the speckle noise a sampler leaves where MNIST digits never are
    (0 for real MNIST images, whose frame is black = -1)."""
    m = torch.ones(x.shape[-2:], dtype=torch.bool)
    m[width:-width, width:-width] = False
    return float((x[..., m] - background).pow(2).mean().sqrt())


# ============================================================================ Table 3


def table3_rows(result, ev: evaluate.Evaluator, scale: float, n: int, n_steps: int, seed: int,
                k: float = 1.0, rows=PAPER_TABLE3, n_boot: int = 200) -> list[dict]:
    """Table 3: one row per CFG interval (two-sided, half-open [a, b), scale ``scale``).

    Args:
        k: placement: the paper's interval [a, b] is run on [shift(a, k), shift(b, k)]
            (:func:`place_interval`); 1 = the paper's absolute times.

    Returns:
        list of dicts: label, a, b (paper's), run_a, run_b (executed), fd, fd_low, fd_high,
        accuracy, n, seconds, paper_fd.
    """
    shape, K = result.spec.input_shape, result.spec.num_classes
    out = []
    for label, interval, paper in rows:
        run = place_interval(interval, k)
        sc = score_sampler(ev, _velocity(result.model, scale, run),
                           _describe(model_id(result), 1.0, scale, run, n_steps), n, shape, K,
                           grid=shifted_grid(n_steps, 1.0), seed=seed, n_boot=n_boot)
        a, b = interval if interval is not None else (math.nan, math.nan)
        ra, rb = run if run is not None else (math.nan, math.nan)
        out.append({"label": label, "a": a, "b": b, "run_a": ra, "run_b": rb, **sc,
                    "paper_fd": paper})
    return out


def _is_short(a: float, b: float) -> bool:
    return math.isclose(b - a, 0.1, abs_tol=1e-9)


def table3_claims(rows: Sequence[dict], t_transition: float, key: str = "fd") -> dict:
    """The three claims of Table 3, tested on ``rows`` (dicts with label, a, b, run_a, run_b
    and ``key``; a, b are the paper's interval, run_a, run_b the executed one).

    Criteria (stated in the paper's row labels; ``t_transition`` in executed times):

    1. *The best short interval sits at the transition*: among the ten 0.1-wide rows, the one
       with the lowest FD is the row whose executed interval [run_a, run_b) (half-open, as the
       guidance) contains the transition, i.e. starts at it or spans it (reproduced); it is a
       neighbour of that row (partly); otherwise not reproduced.
    2. *Excluding [0, 0.1] helps wide intervals*: for b in {0.2, 0.4, 0.6, 0.8}, FD([.1, b]) <
       FD([0, b]). Reproduced 4 / 4, partly 2-3, not reproduced 0-1.
    3. *The best wide interval spans early-mid refinement*: among the rows at least 0.2 wide,
       the best starts at the paper's transition (a = 0.1) and ends at b in [0.5, 0.8]
       (reproduced); starts at 0.1 only (partly); otherwise not reproduced.

    Returns:
        dict with best_short, best_wide (labels), pairs_better (int), verdicts c1, c2, c3.
    """
    by = {r["label"]: r for r in rows}
    short = [r for r in rows if not math.isnan(r["a"]) and _is_short(r["a"], r["b"])]
    short.sort(key=lambda r: r["a"])
    best_s = min(short, key=lambda r: r[key])
    tol = 1e-6  # executed intervals are rounded to 6 decimals (place_interval)
    contains = [i for i, r in enumerate(short)
                if r["run_a"] - tol <= t_transition < r["run_b"] - tol]
    i_best = short.index(best_s)
    if i_best in contains:
        c1 = "reproduced"
    elif any(abs(i_best - i) == 1 for i in contains):
        c1 = "partly"
    else:
        c1 = "not reproduced"

    pairs = 0
    for lab0, lab1 in (("[0, .2]", "[.1, .2]"), ("[0, .4]", "[.1, .4]"),
                       ("[0, .6]", "[.1, .6]"), ("[0, .8]", "[.1, .8]")):
        pairs += int(by[lab1][key] < by[lab0][key])
    c2 = "reproduced" if pairs == 4 else "partly" if pairs >= 2 else "not reproduced"

    wide = [r for r in rows if not math.isnan(r["a"]) and r["b"] - r["a"] >= 0.2 - 1e-9]
    best_w = min(wide, key=lambda r: r[key])
    starts = math.isclose(best_w["a"], PAPER_TRANSITION)
    ends = 0.5 - 1e-9 <= best_w["b"] <= 0.8 + 1e-9
    c3 = "reproduced" if starts and ends else "partly" if starts else "not reproduced"
    return {"best_short": best_s["label"], "best_wide": best_w["label"], "pairs_better": pairs,
            "c1": c1, "c2": c2, "c3": c3}


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman rank correlation of two equal-length sequences (average ranks for ties)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1 or a.size < 2:
        raise ValueError(f"need two 1-D sequences of one length >= 2, got {a.shape}, {b.shape}")

    def rank(v):
        order = np.argsort(v, kind="mergesort")
        r = np.empty(len(v))
        r[order] = np.arange(len(v), dtype=np.float64)
        for val in np.unique(v):  # average ranks of ties
            m = v == val
            r[m] = r[m].mean()
        return r

    ra, rb = rank(a), rank(b)
    return float(np.corrcoef(ra, rb)[0, 1])


# ============================================================================ Fig. 8


def velocity_profile(result, n: int, n_steps: int, seed: int, scale: float = 1.0,
                     interval=(0.0, 1.0)) -> dict:
    """Fig. 8: along ``n`` class-conditional sampling trajectories (guidance ``scale`` on
    ``interval``), the norm of the velocity the sampler integrates and the divergence
    ||v_c - v_u|| between the conditional and unconditional predictions at every step.

    Norms are divided by sqrt(D) (root mean square per dimension). Cached.

    Returns:
        dict of lists over the n_steps evaluation times: t, v_mean, v_q10, v_q90, div_mean,
        div_q10, div_q90, and D.
    """
    shape, K = result.spec.input_shape, result.spec.num_classes
    params = {"model": model_id(result), "n": n, "n_steps": n_steps, "seed": seed,
              "scale": float(scale), "interval": list(interval)}

    def compute() -> dict:
        fn = CFGVelocity(result.model, scale, tuple(interval), record=True)
        r = sample(fn, n, shape, y=evaluate.balanced_labels(n, K), n_steps=n_steps, seed=seed,
                   batch_size=n, record=True)
        D = math.prod(shape)
        v = r.v_norm / math.sqrt(D)  # (n_steps, n)
        div = torch.stack([d for _, d in fn.records]) / math.sqrt(D)  # (n_steps, n)
        q = torch.tensor([0.1, 0.9], dtype=torch.float64)
        vq, dq = torch.quantile(v, q, dim=1), torch.quantile(div, q, dim=1)
        return {"t": r.t.tolist(), "v_mean": v.mean(1).tolist(), "v_q10": vq[0].tolist(),
                "v_q90": vq[1].tolist(), "div_mean": div.mean(1).tolist(),
                "div_q10": dq[0].tolist(), "div_q90": dq[1].tolist(), "D": D}

    return cache.cached("sec5_velocity_profile", params, compute,
                        modules=("flowstage_lib.sampler",))


def peak_time(t: Sequence[float], y: Sequence[float], rel: float = 0.01) -> float:
    """Where ``y`` peaks: the argmax time if the maximum is interior and exceeds both end
    values by more than ``rel`` (relative); NaN when the curve has no interior peak."""
    t, y = np.asarray(t, dtype=np.float64), np.asarray(y, dtype=np.float64)
    i = int(np.argmax(y))
    if i in (0, len(y) - 1) or y[i] <= (1 + rel) * max(y[0], y[-1]):
        return math.nan
    return float(t[i])


def rise_time(t: Sequence[float], y: Sequence[float], frac: float = 0.9) -> float:
    """First time ``y`` reaches ``frac`` of its maximum."""
    t, y = np.asarray(t, dtype=np.float64), np.asarray(y, dtype=np.float64)
    return float(t[int(np.nonzero(y >= frac * y.max())[0][0])])


# ============================================================================ Figs. 9, 10, 12


def latent_spaces(data, classifier, steps: int, seed: int = 0) -> dict:
    """The two latent spaces of Sec. 5.3 (cached): ``"recon"`` (reconstruction only, the
    SD-VAE analogue) and ``"aligned"`` (plus feature alignment to ``classifier``, the VA-VAE
    analogue), both trained for ``steps`` steps on ``data``."""
    from flowstage_lib.latent import train_autoencoder

    return {kind: train_autoencoder(data, kind, classifier=classifier, steps=steps, seed=seed,
                                    progress=False)[0]
            for kind in ("recon", "aligned")}


def space_id(space) -> str:
    """Fingerprint of a LatentSpace (autoencoder weights and latent statistics)."""
    sd = space.autoencoder.state_dict()
    flat = torch.cat([v.detach().float().flatten().cpu() for v in sd.values()]
                     + [space.mean.flatten(), space.std.flatten()])
    return cache.tensor_fingerprint(flat)


def study_model(profile: str, size: str, space=None, target: str = "cfm", data="mnist5k"):
    """A zoo model of ``profile`` (budget 1): on pixels (``space=None``, shared with Section 4
    through :func:`flowstage_lib.zoo.get_model`) or in a latent space.

    In a latent space of side h (7 for 28x28 images) a DiT whose patch does not divide h gets
    patch 1 (every other setting of the zoo preset is kept).
    """
    if space is None:
        return zoo.get_model(profile, size, target, 1, data, progress=False)
    zdata = zoo.zoo_data(data, space, zoo.ZOO_PRESETS[profile].split)
    spec = zoo.zoo_spec(profile, size, zdata)
    patch = spec.kwargs().get("patch")
    if patch is not None and any(s % patch for s in spec.input_shape[1:]):
        from dataclasses import replace

        spec = replace(spec, overrides={**spec.overrides, "patch": 1})
    return load_or_train(spec, zdata, zoo.zoo_config(profile, target, 1), progress=False)


def _checkpoints(result) -> list[tuple[int, torch.nn.Module]]:
    """[(step, model)]: every EMA snapshot, plus the final model if it is not a snapshot."""
    out = [(s, result.snapshot_model(s)) for s, _ in result.snapshots]
    if not out or out[-1][0] != result.steps:
        out.append((result.steps, result.model))
    return out


def loss_over_training(result, data, t_grid: Sequence[float], n: int, seed: int) -> dict:
    """Fig. 9: MSE of each training checkpoint against the (class-conditional) oracle and the
    CFM target on a t grid (:func:`flowstage_lib.train.oracle_loss_per_t`, the same n pairs at
    every t and every checkpoint). Cached.

    Returns:
        dict: steps (S,), t (T,), oracle (S x T nested lists), cfm (S x T).
    """
    params = {"model": model_id(result), "snapshots": [s for s, _ in result.snapshots],
              "data": data.x, "labels": data.y, "t": [float(t) for t in t_grid], "n": n,
              "seed": seed}

    def compute() -> dict:
        from flowstage_lib.oracle import OracleVelocity

        dev = next(result.model.parameters()).device
        oracle = OracleVelocity(data.x, labels=data.y, device=dev)
        steps, orc, cfm = [], [], []
        for s, m in _checkpoints(result):
            c = oracle_loss_per_t(m, data, t_grid, n=n, seed=seed, oracle=oracle)
            steps.append(s)
            orc.append(c.oracle.tolist())
            cfm.append(c.cfm.tolist())
        return {"steps": steps, "t": [float(t) for t in t_grid], "oracle": orc, "cfm": cfm}

    return cache.cached("sec5_loss_over_training", params, compute,
                        modules=("flowstage_lib.train", "flowstage_lib.oracle"))


def excess_variation(t: Sequence[float], y: Sequence[float], t_min: float = 0.0) -> float:
    """Bumps and dips of a curve on t >= t_min: the total variation of log y minus its net
    change, sum |diff log y| - |log y_end - log y_start|. Zero for a monotone curve; Fig. 9's
    "smoother refinement-stage curve" means a smaller value."""
    t, y = np.asarray(t, dtype=np.float64), np.asarray(y, dtype=np.float64)
    ly = np.log(y[t >= t_min])
    if ly.size < 2:
        return math.nan
    return float(np.abs(np.diff(ly)).sum() - abs(ly[-1] - ly[0]))


def fd_over_training(result, ev: evaluate.Evaluator, n: int, n_steps: int, seed: int,
                     decode: Callable | None = None, extra: dict | None = None,
                     n_boot: int = 200) -> list[dict]:
    """Figs. 10 / 12: Fréchet distance (bootstrap interval) and class accuracy of ``n``
    conditional samples (no guidance) of every training checkpoint of ``result``.

    Args:
        decode: latent -> pixels for a latent model (its autoencoder identity goes in
            ``extra``, which joins the sample-set description).

    Returns:
        list of dicts: step, fd, fd_low, fd_high, accuracy, n, seconds.
    """
    shape, K = result.spec.input_shape, result.spec.num_classes
    rows = []
    for s, m in _checkpoints(result):
        # run key + step identify a checkpoint: a resumed (longer) run is bit-exact
        d = _describe(result.key, n_steps=n_steps, snapshot=s, **(extra or {}))
        sc = score_sampler(ev, ModelVelocity(m), d, n, shape, K, grid=shifted_grid(n_steps, 1.0),
                           seed=seed, decode=decode, n_boot=n_boot)
        rows.append({"step": s, **sc})
    return rows


def checkpoint_samples(result, step: int, n: int, n_steps: int, seed: int,
                       decode: Callable | None = None, extra: dict | None = None) -> dict:
    """The (cached) sample set behind one point of :func:`fd_over_training` (same arguments
    give the same cache entry): dict x (n, C, H, W) pixels, y, seconds."""
    model = dict(_checkpoints(result))[step]
    d = _describe(result.key, n_steps=n_steps, snapshot=step, **(extra or {}))
    return evaluate.sample_set(ModelVelocity(model), d, n, tuple(result.spec.input_shape),
                               result.spec.num_classes, grid=shifted_grid(n_steps, 1.0),
                               seed=seed, decode=decode)


def memorized_fraction(x: torch.Tensor, reference: torch.Tensor) -> float:
    """Share of images x (B, C, H, W) whose nearest reference image (pixel L2) is three times
    closer than the second nearest (Gu et al.; :func:`flowstage_lib.metrics.memorization`).
    For a latent model pass the *decoded reconstructions* of the training images as
    ``reference``: a memorized latent decodes to exactly such a reconstruction."""
    from flowstage_lib.metrics import memorization

    return float(memorization(x, reference).memorized.double().mean())


def share_lower(a: Sequence[float], b: Sequence[float]) -> float:
    """Share of positions where a < b (e.g. aligned FD below reconstruction-only FD)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float((a < b).mean())


def fig10_verdict(oracle_rows: Sequence[dict], cfm_rows: Sequence[dict]) -> dict:
    """Appendix B's claim, "the oracle target gives a slight early advantage, then the curves
    overlap", on FD-over-training rows of the two models (same steps).

    Criterion: (A) *early advantage*: at the first quarter of the checkpoints (at least one),
    FD(oracle) < FD(CFM); (B) *overlap*: at every checkpoint of the second half the two
    bootstrap intervals overlap. Reproduced if A and B, partly if one, not reproduced if neither.
    """
    if [r["step"] for r in oracle_rows] != [r["step"] for r in cfm_rows]:
        raise ValueError("the two runs must have the same checkpoints")
    m = len(oracle_rows)
    early = range(max(1, m // 4))
    late = range(m // 2, m)
    a = all(oracle_rows[i]["fd"] < cfm_rows[i]["fd"] for i in early)
    b = all(oracle_rows[i]["fd_low"] <= cfm_rows[i]["fd_high"]
            and cfm_rows[i]["fd_low"] <= oracle_rows[i]["fd_high"] for i in late)
    verdict = "reproduced" if a and b else "partly" if a or b else "not reproduced"
    return {"early_advantage": a, "late_overlap": b, "verdict": verdict,
            "n_early": len(early), "n_late": len(late)}


def sample_images(result, n: int, n_steps: int, seed: int, shift: float = 1.0,
                  scale: float = 1.0, interval=None) -> dict:
    """The (cached) sample set of one row of Table 2 / 3: dict x (n, C, H, W) pixels, y, seconds.

    ``interval`` is the executed interval (already placed); the same arguments as the row give
    the same cache entry."""
    return evaluate.sample_set(_velocity(result.model, scale, interval),
                               _describe(model_id(result), shift, scale, interval, n_steps), n,
                               tuple(result.spec.input_shape), result.spec.num_classes,
                               grid=shifted_grid(n_steps, shift), seed=seed)
