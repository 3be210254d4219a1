"""flowstage: the reproducible companion to "From Navigation to Refinement: Revealing the
Two-Stage Nature of Flow-based Diffusion Models through Oracle Velocity" (arXiv 2512.02826).

Convention: t = 0 is noise N(0, I), t = 1 is data; rectified flow x_t = t x1 + (1 - t) x0.
"""

__version__ = "0.1.0"

from flowstage_lib.oracle import OracleVelocity  # noqa: E402
from flowstage_lib.path import (  # noqa: E402
    AffinePath,
    CosinePath,
    RectifiedFlowPath,
    timestep_shift,
)

__all__ = [
    "__version__",
    "AffinePath",
    "CosinePath",
    "RectifiedFlowPath",
    "OracleVelocity",
    "timestep_shift",
]
