"""Data sets as one small dataclass (:class:`ImageData`, :mod:`.images`, with the one uint8
codec): MNIST-5k, the MNIST test set shipped in ``data/mnist``, Fashion-MNIST and digits
(:mod:`.datasets`, idx files in :mod:`.idx`, splits in :mod:`.splits`), synthetic Gaussian
clouds (:mod:`.synthetic`) and a user's own arrays (:mod:`.arrays`).

Every source loads into an :class:`ImageData` with ``x`` of shape (N, C, H, W), float32,
normalised so that the flow's data distribution lives where the paper puts it (t = 1):
pixels are ``x = u8 / 127.5 - 1`` in [-1, 1], latents are kept as produced, synthetic clouds
are unit Gaussians (the paper's Fig. 3 setting). :mod:`.scaled` gives the data scaled by k of
the calibrated setting and the map back (:func:`scale_data`, :func:`calibrated_decode`).
"""

from flowstage_lib.data.arrays import load_arrays
from flowstage_lib.data.datasets import (
    KNOWN_DATASETS,
    available_datasets,
    heldout_for,
    heldout_images,
    load_dataset,
)
from flowstage_lib.data.idx import read_idx
from flowstage_lib.data.images import U8_SCALE, ImageData, from_u8, normalise, to_u8
from flowstage_lib.data.scaled import CalibratedDecode, calibrated_decode, scale_data
from flowstage_lib.data.splits import stratified_split
from flowstage_lib.data.synthetic import synthetic_gaussian
from flowstage_lib.models.spec import default_device  # the one copy, re-exported

__all__ = [
    "ImageData",
    "KNOWN_DATASETS",
    "load_dataset",
    "available_datasets",
    "heldout_images",
    "heldout_for",
    "stratified_split",
    "synthetic_gaussian",
    "load_arrays",
    "read_idx",
    "default_device",
    "U8_SCALE",
    "normalise",
    "to_u8",
    "from_u8",
    "CalibratedDecode",
    "calibrated_decode",
    "scale_data",
]
