"""The book's shared, cached models: train once, share between Sections 4 and 5.

``get_model(profile, size, target, budget)`` returns a :class:`~flowstage_lib.training.TrainResult`
for one rung of a profile's model ladder. Training goes through
:func:`~flowstage_lib.training.load_or_train`, so a model is trained once per cache (key: spec,
config, data fingerprint, the profile's device, model/train source) and every notebook that
asks for it afterwards loads it in a second.

Profiles (:data:`ZOO_PRESETS`):

- ``"smoke"``: tiny residual MLPs, 60 steps: seconds; exercises every code path.
- ``"cpu"``: the residual-MLP ladder S / B / L on ``mnist5k`` (train split, 4500 images),
  sized by measurement on this 2-core machine (the figures are in ``profiles/cpu.yml``);
  a DiT does not learn in minutes on this CPU (``shared/notes/feasibility.md``).
- ``"gpu-quick"``: the gpu ladder's S and B, 800 steps: the under-8-minute GPU tier (sized by
  estimate; see ``profiles/gpu-quick.yml``).
- ``"gpu"``: the LightningDiT-style DiT ladder (:data:`~flowstage_lib.models.DIT_SIZES`), patch
  2 on 28x28, bf16, a paper-like learning rate; about 10 minutes per model on one H100.

Compute budgets (Fig. 7b / 9: "longer = lower loss in refinement"): ``budget=k`` trains
``k x`` the preset's steps, and it *continues* the ``(k-1) x`` run (constant learning rate,
identical random stream): the 1x model is exactly the 1x-step state of the 2x run.

The calibrated setting (issue 14): ``get_model(..., data_scale=k)`` trains on k x1
(:func:`~flowstage_lib.data.scale_data`) a model preconditioned to unit-scale input and output
(:class:`~flowstage_lib.models.Preconditioned`, ``sigma_data`` = the RMS of the unscaled
training set); its samples live in k-space and go through
:func:`~flowstage_lib.data.calibrated_decode` (``zoo_decode``) before they are scored.
``data_scale=None`` (the default) is the native setting, unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

from flowstage_lib.data.scaled import CalibratedDecode, calibrated_decode, scale_data
from flowstage_lib.models import ModelSpec, data_rms
from flowstage_lib.tooling.book import ProfileSetting
from flowstage_lib.training.trainer import TrainConfig, TrainResult, load_or_train

__all__ = [
    "ZooPreset",
    "ZOO_PRESETS",
    "zoo_data",
    "zoo_spec",
    "zoo_config",
    "zoo_decode",
    "get_model",
]


@dataclass(frozen=True)
class ZooPreset:
    """One profile's model ladder and training recipe.

    Attributes:
        family: model family of :func:`~flowstage_lib.models.build_model` ("mlp" | "dit").
        sizes: size -> ``ModelSpec.overrides`` (on top of the family's ladder).
        train: the 1x-budget :class:`~flowstage_lib.training.TrainConfig` (target set per call).
        train_by_size: size -> TrainConfig fields that replace ``train``'s for that size (e.g.
            the cpu ladder's learning rate, which falls with width).
        main_size: the model the book uses when one model is enough.
        cfg_scale: the guidance scale the book uses for "CFG" samples of this profile
            (chosen by measurement; CFG 1 = plain conditional sampling).
        split: the data split models are trained on.
        notes: measured figures / reasons.
    """

    family: str
    sizes: dict[str, dict[str, Any]]
    train: TrainConfig
    train_by_size: dict[str, dict[str, Any]] = field(default_factory=dict)
    main_size: str = "B"
    cfg_scale: float = 1.0
    split: str = "train"
    notes: str = ""


def _preset_from_profile(z: dict[str, Any]) -> ZooPreset:
    """A ``zoo:`` block of ``profiles/<profile>.yml`` as a :class:`ZooPreset`."""
    sizes = {k: dict(v or {}) for k, v in z["sizes"].items()}
    by_size = {k: dict(v or {}) for k, v in (z.get("train_by_size") or {}).items()}
    known = {f.name for f in fields(TrainConfig)} - {"steps", "target"}
    for size, over in by_size.items():
        if size not in sizes:
            raise ValueError(f"zoo.train_by_size: size {size!r} is not in zoo.sizes {list(sizes)}")
        if set(over) - known:
            raise ValueError(
                f"zoo.train_by_size.{size}: unknown or fixed TrainConfig fields "
                f"{sorted(set(over) - known)} (steps and target come from the budget and the call)"
            )
    return ZooPreset(
        family=z["family"],
        sizes=sizes,
        train=TrainConfig(**z["train"]),
        train_by_size=by_size,
        main_size=z.get("main_size", "B"),
        cfg_scale=float(z.get("cfg_scale", 1.0)),
        split=z.get("split", "train"),
        notes=z.get("notes", ""),
    )


#: Each profile's ladder and recipe, from the ``zoo:`` block of ``profiles/<profile>.yml``
#: (its comments hold the measured figures behind the choices).
ZOO_PRESETS = ProfileSetting("zoo", _preset_from_profile)


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


def zoo_spec(
    profile: str, size: str, data, data_scale: float = 1.0, sigma_data: float = 0.0
) -> ModelSpec:
    """The :class:`~flowstage_lib.models.ModelSpec` of ``profile``'s ``size`` for ``data``
    (``data_scale`` / ``sigma_data``: see :class:`~flowstage_lib.models.ModelSpec`)."""
    p = _preset(profile, size)
    return ModelSpec(
        family=p.family,
        size=size,
        input_shape=tuple(data.x.shape[1:]),
        num_classes=int(data.num_classes),
        overrides=dict(p.sizes[size]),
        data_scale=data_scale,
        sigma_data=sigma_data,
    )


def zoo_config(
    profile: str, target: str = "cfm", budget: int = 1, size: str | None = None
) -> TrainConfig:
    """``profile``'s training config for ``target`` ("cfm" | "oracle"), ``budget`` (x steps)
    and ``size`` (its ``train_by_size`` fields, if any; None: the profile's ``train``)."""
    if budget < 1 or int(budget) != budget:
        raise ValueError(f"budget must be a positive integer, got {budget}")
    p = _preset(profile, size)
    base = replace(p.train, **p.train_by_size.get(size, {}))
    return replace(base, target=target, steps=base.steps * int(budget))


def _preset(profile: str, size: str | None = None) -> ZooPreset:
    """``profile``'s preset; with ``size``, checked to be one of its ladder's sizes."""
    if profile not in ZOO_PRESETS:
        raise ValueError(f"unknown profile {profile!r}; one of {list(ZOO_PRESETS)}")
    p = ZOO_PRESETS[profile]
    if size is not None and size not in p.sizes:
        raise ValueError(f"profile {profile!r} has sizes {list(p.sizes)}, not {size!r}")
    return p


def get_model(
    profile: str,
    size: str = "B",
    target: str = "cfm",
    budget: int = 1,
    data="mnist5k",
    latent=None,
    progress: bool = True,
    data_scale: float | None = None,
) -> TrainResult:
    """A zoo model, trained once (cached) and shared by every notebook.

    Args:
        profile: "smoke" | "cpu" | "gpu" | "gpu-quick" (:data:`ZOO_PRESETS`).
        size: "S" | "B" | "L" (the profile's ladder; ``ZOO_PRESETS[profile].main_size`` is the
            book's default model).
        target: "cfm" (x1 - x0) or "oracle" (Theorem 2.1 target, appendix B / Fig. 10).
        budget: compute budget in multiples of the preset's steps (Fig. 7b: 1 and 2); a
            budget-k run continues the budget-(k-1) run, which is trained first if needed.
        data: data set name (its ``split`` of the preset) or an ``ImageData``.
        latent: see :func:`zoo_data` (Fig. 9 / 12: ``"recon"`` vs ``"aligned"``).
        progress: tqdm bars.
        data_scale: None (native setting, as before) or k > 0: train on k x1 (the training set,
            latents included, multiplied by k) a preconditioned model (``spec.data_scale = k``,
            ``spec.sigma_data`` = RMS of the unscaled set); its samples are in k-space: score
            them through ``zoo_decode(result)``. k = 1 gives the preconditioned native model
            (not the same as None). The cache key changes with k.

    Returns:
        :class:`~flowstage_lib.training.TrainResult` (EMA model in eval mode, history with the
        per-t losses vs both targets, EMA snapshots for FD-over-training curves).
    """
    p = _preset(profile)
    ds = zoo_data(data, latent, p.split)
    k, sigma = 1.0, 0.0  # native: today's spec and cache keys
    if data_scale is not None:
        sigma = data_rms(ds.x)  # RMS of the unscaled set
        ds = scale_data(ds, data_scale)  # checks data_scale
        k = float(data_scale)
    spec = zoo_spec(profile, size, ds, data_scale=k, sigma_data=sigma)
    result = None
    for b in range(1, int(budget) + 1):  # each budget's end state is kept in the cache
        result = load_or_train(spec, ds, zoo_config(profile, target, b, size), progress=progress)
    return result


def zoo_decode(result: TrainResult, then=None) -> CalibratedDecode | None:
    """What maps ``result``'s samples to what is scored: None for a native model without
    ``then`` (samples are pixels), else ``x / k`` then ``then`` (a latent decoder), with k =
    ``result.spec.data_scale`` (1 for a native model)."""
    k = result.spec.data_scale if result.spec is not None else 1.0
    if k == 1.0 and then is None:
        return None
    return calibrated_decode(k, then)
