"""The book's shared, cached models: train once, share between Sections 4 and 5.

``get_model(profile, size, target, budget)`` returns a :class:`~flowstage_lib.training.TrainResult`
for one rung of a profile's model ladder. Training goes through
:func:`~flowstage_lib.training.load_or_train`, so a model is trained once per machine (cache
key: spec, config, data fingerprint, device type, model/train source) and every notebook that
asks for it afterwards loads it in a second.

Profiles (:data:`ZOO_PRESETS`):

- ``"smoke"``: tiny residual MLPs, 60 steps: seconds; exercises every code path.
- ``"cpu"``: the residual-MLP ladder S / B / L on ``mnist5k`` (train split, 4500 images),
  sized by measurement on this 2-core machine (see :data:`ZOO_PRESETS` ``"cpu"`` notes);
  a DiT does not learn in minutes on this CPU (``shared/notes/feasibility.md``).
- ``"gpu"``: the LightningDiT-style DiT ladder (:data:`~flowstage_lib.models.DIT_SIZES`), patch
  2 on 28x28, bf16, a paper-like learning rate; about 10 minutes per model on one H100.

Compute budgets (Fig. 7b / 9: "longer = lower loss in refinement"): ``budget=k`` trains
``k x`` the preset's steps, and it *continues* the ``(k-1) x`` run (constant learning rate,
identical random stream): the 1x model is exactly the 1x-step state of the 2x run.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from flowstage_lib.models import ModelSpec
from flowstage_lib.training.trainer import TrainConfig, TrainResult, load_or_train

__all__ = ["ZooPreset", "ZOO_PRESETS", "zoo_data", "zoo_spec", "zoo_config", "get_model"]


@dataclass(frozen=True)
class ZooPreset:
    """One profile's model ladder and training recipe.

    Attributes:
        family: model family of :func:`~flowstage_lib.models.build_model` ("mlp" | "dit").
        sizes: size -> ``ModelSpec.overrides`` (on top of the family's ladder).
        train: the 1x-budget :class:`~flowstage_lib.training.TrainConfig` (target set per call).
        main_size: the model the book uses when one model is enough.
        cfg_scale: the guidance scale the book uses for "CFG" samples of this profile
            (chosen by measurement; CFG 1 = plain conditional sampling).
        split: the data split models are trained on.
        notes: measured figures / reasons.
    """

    family: str
    sizes: dict[str, dict[str, Any]]
    train: TrainConfig
    main_size: str = "B"
    cfg_scale: float = 1.0
    split: str = "train"
    notes: str = ""


ZOO_PRESETS: dict[str, ZooPreset] = {
    "smoke": ZooPreset(
        family="mlp",
        sizes={
            "S": dict(width=64, depth=1, mlp_ratio=1.0, cond_dim=32),
            "B": dict(width=128, depth=2, mlp_ratio=1.0, cond_dim=64),
            "L": dict(width=256, depth=2, mlp_ratio=1.0, cond_dim=64),
        },
        train=TrainConfig(
            steps=60,
            batch_size=64,
            lr=2e-3,
            ema_decay=0.99,
            log_every=20,
            snapshot_every=30,
            checkpoint_every=30,
        ),
        main_size="B",
        cfg_scale=2.0,
        notes="Seconds per model; samples are blobs. For plumbing only.",
    ),
    "cpu": ZooPreset(
        family="mlp",
        sizes={"S": {}, "B": {}, "L": {}},  # MLP_SIZES: 768x2, 1024x2, 1024x3 (4.4/6.9/10.9 M)
        train=TrainConfig(
            steps=4000,
            batch_size=128,
            lr=1e-3,
            ema_decay=0.999,
            log_every=100,
            snapshot_every=500,
            checkpoint_every=500,
        ),
        main_size="B",
        cfg_scale=2.0,
        notes=(
            "Measured on mnist5k/train, 4000 steps; 500 class-conditional samples (50 per "
            "digit), 50 Euler steps; judge metrics.get_classifier (99.4% held-out); Frechet "
            "distance (FD) in its features vs the 500-image held-out split (500 real training "
            "images: 0.12). Class accuracy at CFG 1 / 1.5 / 2 / 3 and FD: "
            "S 18/31/43/67%, FD 31.7/24.5/19.0/13.6; "
            "B 42/69/86/92%, FD 18.7/12.3/9.1/6.8; "
            "L 49/72/85/92%, FD 16.5/11.1/8.5/6.7. "
            "B at budget 2 (8000 steps): 67% (CFG 1), 96% (CFG 2), FD 9.4 / 3.9. "
            "An independent max-pool CNN judge gives B 88% at CFG 1 and 100% at CFG 2: the "
            "library classifier is noise-sensitive (99.4% -> 37% under N(0, 0.2^2) pixel "
            "noise), so its accuracy mostly measures how clean the samples are. "
            "Training speed with 1 thread on the shared 2-core machine: S 11, B 6.4, L 4.4 "
            "steps/s (6, 10.5 and 15 min for 4000 steps; 2 contended threads were 3-6x slower)."
        ),
    ),
    "gpu": ZooPreset(
        family="dit",
        sizes={"S": {}, "B": {}, "L": {}},  # DIT_SIZES: 6/192/3, 12/384/6, 16/512/8, patch 2
        train=TrainConfig(
            steps=6000,
            batch_size=256,
            lr=2e-4,
            ema_decay=0.9995,
            log_every=250,
            snapshot_every=1000,
            checkpoint_every=1000,
            amp=True,
        ),
        main_size="B",
        cfg_scale=2.0,
        notes=(
            "Measured on one H200 (bf16, batch 256): DiT-S 23 steps/s (kernel-launch bound), "
            "class accuracy after 2000 steps 77% at CFG 1, 95% at CFG 2. B and L not measured; "
            "launch-bound estimates ~12 and ~9 steps/s, i.e. ~8 and ~11 min for 6000 steps."
        ),
    ),
}


def zoo_data(data="mnist5k", latent=None, split: str = "train"):
    """The training set of a zoo model.

    Args:
        data: a data set name for :func:`~flowstage_lib.data.load_dataset` or an ``ImageData``.
        latent: None (pixels); ``"recon"`` / ``"aligned"`` (the
            :func:`~flowstage_lib.models.latent.train_autoencoder` spaces of Fig. 9 / 12, trained on
            the same split, cached); a ``LatentSpace`` (anything with ``to_image_data``); or a
            callable ``ImageData -> ImageData``.
        split: split used when ``data`` is a name.
    """
    from flowstage_lib.data import load_dataset

    ds = load_dataset(data, split) if isinstance(data, str) else data
    if latent is None:
        return ds
    if isinstance(latent, str):
        from flowstage_lib.models.latent import train_autoencoder

        latent, _ = train_autoencoder(ds, kind=latent, progress=False)
    if hasattr(latent, "to_image_data"):
        return latent.to_image_data(ds)
    if callable(latent):
        return latent(ds)
    raise TypeError(f"latent must be None, a str, a LatentSpace or a callable, got {latent!r}")


def zoo_spec(profile: str, size: str, data) -> ModelSpec:
    """The :class:`~flowstage_lib.models.ModelSpec` of ``profile``'s ``size`` for ``data``."""
    p = _preset(profile)
    if size not in p.sizes:
        raise ValueError(f"profile {profile!r} has sizes {list(p.sizes)}, not {size!r}")
    return ModelSpec(
        family=p.family,
        size=size,
        input_shape=tuple(data.x.shape[1:]),
        num_classes=int(data.num_classes),
        overrides=dict(p.sizes[size]),
    )


def zoo_config(profile: str, target: str = "cfm", budget: int = 1) -> TrainConfig:
    """``profile``'s training config for ``target`` ("cfm" | "oracle") and ``budget`` (x steps)."""
    if budget < 1 or int(budget) != budget:
        raise ValueError(f"budget must be a positive integer, got {budget}")
    base = _preset(profile).train
    return replace(base, target=target, steps=base.steps * int(budget))


def _preset(profile: str) -> ZooPreset:
    if profile not in ZOO_PRESETS:
        raise ValueError(f"unknown profile {profile!r}; one of {list(ZOO_PRESETS)}")
    return ZOO_PRESETS[profile]


def get_model(
    profile: str,
    size: str = "B",
    target: str = "cfm",
    budget: int = 1,
    data="mnist5k",
    latent=None,
    progress: bool = True,
) -> TrainResult:
    """A zoo model, trained once (cached) and shared by every notebook.

    Args:
        profile: "smoke" | "cpu" | "gpu" (:data:`ZOO_PRESETS`).
        size: "S" | "B" | "L" (the profile's ladder; ``ZOO_PRESETS[profile].main_size`` is the
            book's default model).
        target: "cfm" (x1 - x0) or "oracle" (Theorem 2.1 target, appendix B / Fig. 10).
        budget: compute budget in multiples of the preset's steps (Fig. 7b: 1 and 2); a
            budget-k run continues the budget-(k-1) run, which is trained first if needed.
        data: data set name (its ``split`` of the preset) or an ``ImageData``.
        latent: see :func:`zoo_data` (Fig. 9 / 12: ``"recon"`` vs ``"aligned"``).
        progress: tqdm bars.

    Returns:
        :class:`~flowstage_lib.training.TrainResult` (EMA model in eval mode, history with the
        per-t losses vs both targets, EMA snapshots for FD-over-training curves).
    """
    p = _preset(profile)
    ds = zoo_data(data, latent, p.split)
    spec = zoo_spec(profile, size, ds)
    result = None
    for b in range(1, int(budget) + 1):  # each budget's end state is kept in the cache
        result = load_or_train(spec, ds, zoo_config(profile, target, b), progress=progress)
    return result
