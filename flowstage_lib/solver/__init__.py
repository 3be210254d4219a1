"""Euler sampling of a velocity field over a time grid (:mod:`.euler`), classifier-free
guidance with the two-sided interval of Table 3 (:mod:`.guidance`), time-split velocities
(oracle -> model, stage swap: Table 1, Figs. 5, 13; :mod:`.split`), re-noise-and-resume
(Fig. 6; :mod:`.renoise`) and the velocity-function protocol (:mod:`.velocity`).

The time grids live in :mod:`flowstage_lib.path.grids`; they are re-exported here because
every sampling call takes one.
"""

from flowstage_lib.path.grids import shifted_grid, stagewise_grid, uniform_grid
from flowstage_lib.solver.euler import SampleResult, euler_sample, predict_x1, sample
from flowstage_lib.solver.guidance import CFGVelocity
from flowstage_lib.solver.renoise import renoise_and_resume
from flowstage_lib.solver.split import MixedVelocity, StageSwapVelocity
from flowstage_lib.solver.velocity import ModelVelocity, VelocityFn, as_velocity

__all__ = [
    "SampleResult",
    "uniform_grid",
    "shifted_grid",
    "stagewise_grid",
    "euler_sample",
    "sample",
    "predict_x1",
    "ModelVelocity",
    "CFGVelocity",
    "MixedVelocity",
    "StageSwapVelocity",
    "renoise_and_resume",
    "VelocityFn",
    "as_velocity",
]
