"""Affine probability paths x_t = alpha_t x1 + sigma_t x0 (t = 0 noise, t = 1 data), their
schedules (:mod:`.affine`: rectified flow, the paper's Eq. 1, the cosine path, the timestep
shift of Table 2 / Eq. 8) and every time grid of the library (:mod:`.grids`)."""

from flowstage_lib.path import affine as _affine
from flowstage_lib.path import grids as _grids
from flowstage_lib.path.affine import *  # noqa: F403
from flowstage_lib.path.grids import *  # noqa: F403

__all__ = [*_affine.__all__, *_grids.__all__]
