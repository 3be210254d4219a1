"""Deprecated: the compute of Secs. 2-3 moved to :mod:`flowstage_lib.experiments`.

Kept only as re-exports for modules that still import it (``stages.py``, ``practices.py``,
owned by the Sec. 4/5 redesign); delete once nothing imports ``flowstage_lib.twostage``.
"""

from flowstage_lib.experiments.curves import (  # noqa: F401
    DATA_SEED_OFFSET,
    curves_for,
    synthetic_curves,
    t_grid,
)
from flowstage_lib.experiments.sec2_oracle import (  # noqa: F401
    QUERY_SEED_OFFSET,
    theorem_check,
    toy_mixture_2d,
)
from flowstage_lib.experiments.sec2_sampling import TRAJ_SEED_OFFSET, oracle_trajectories  # noqa: F401
from flowstage_lib.experiments.sec3_collapse import collapse_dimension, data_spread  # noqa: F401
from flowstage_lib.experiments.theorem21 import (  # noqa: F401
    PATHS,
    bayes_mc_velocity,
    joint_mc_velocity,
    typo_velocity,
)
