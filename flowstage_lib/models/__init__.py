"""Flow networks v_theta(x_t, t, y) for rectified flow (the learned counterpart of the oracle
velocity u*(x_t, t | y) of Theorem 2.1).

Every network has the same call signature::

    v = model(x, t, y)  # x (B, *shape), t (B,) float in [0, 1], y (B,) int64 -> (B, *shape)

``y == num_classes`` is the *null class* (the unconditional branch used by classifier-free
guidance, trained by label dropping, Table 4); a model built with ``num_classes = 0`` is
unconditional and ignores ``y`` (``None`` is accepted).

- :mod:`.dit`: :class:`DiT`, LightningDiT-style (the ``gpu`` profile's model).
- :mod:`.mlp`: :class:`MLPFlow` (the ``cpu`` profile's workhorse) and :class:`TinyMLP` (2-D toys).
- :mod:`.conditioning`: time / class embeddings and adaLN modulation shared by all three.
- :mod:`.spec`: :class:`ModelSpec` + :func:`build_model` (a hashable description, what the cache
  keys on), :func:`count_params`, :func:`eval_mode`, :func:`module_fingerprint`,
  :func:`default_device`, :func:`bf16_autocast` (the forward on CUDA and on CPUs with native
  bf16, :func:`cpu_bf16`; never the oracle).
- :mod:`.autoencoder` and :mod:`.latent`: the autoencoder latent spaces of Figs. 9 and 12
  (imported from their modules: ``from flowstage_lib.models.latent import train_autoencoder``).
- :mod:`.precondition`: :class:`Preconditioned` (unit-scale input / output for a model trained
  on data scaled by k, the calibrated setting of issue 14; built by :func:`build_model` when
  ``ModelSpec.sigma_data > 0``), :func:`data_rms`.
"""

from flowstage_lib.models.conditioning import timestep_embedding
from flowstage_lib.models.dit import DIT_SIZES, DiT
from flowstage_lib.models.mlp import MLP_SIZES, TINY_SIZES, MLPFlow, TinyMLP
from flowstage_lib.models.precondition import Preconditioned, data_rms
from flowstage_lib.models.spec import (
    ModelSpec,
    bf16_autocast,
    build_model,
    count_params,
    cpu_bf16,
    default_device,
    eval_mode,
    module_fingerprint,
)

__all__ = [
    "DIT_SIZES",
    "MLP_SIZES",
    "TINY_SIZES",
    "DiT",
    "MLPFlow",
    "TinyMLP",
    "Preconditioned",
    "data_rms",
    "ModelSpec",
    "build_model",
    "count_params",
    "timestep_embedding",
    "default_device",
    "eval_mode",
    "bf16_autocast",
    "cpu_bf16",
    "module_fingerprint",
]
