"""Euler sampling of a velocity field over a time grid, classifier-free guidance (two-sided
interval, Table 3), time-split velocities (oracle -> model, stage swap: Table 1, Figs. 5, 13)
and re-noise-and-resume (Fig. 6)."""

from flowstage_lib.solver.sampler import *  # noqa: F403
from flowstage_lib.solver.sampler import __all__  # noqa: F401
