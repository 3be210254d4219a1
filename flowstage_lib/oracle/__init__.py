"""The oracle velocity u*(x_t, t | y) of Theorem 2.1 (Eq. 19), computed exactly by streaming
over the data (:mod:`.velocity`, on :mod:`.checks`, :mod:`.store` and :mod:`.kernel`), the
independent Monte Carlo estimators that check it (:mod:`.montecarlo`), and the theory of where
its navigation -> refinement transition sits (:mod:`flowstage_lib.oracle.transition`)."""

from flowstage_lib.oracle.montecarlo import *  # noqa: F403
from flowstage_lib.oracle.montecarlo import __all__ as _mc_all
from flowstage_lib.oracle.velocity import *  # noqa: F403
from flowstage_lib.oracle.velocity import __all__ as _velocity_all

__all__ = [*_velocity_all, *_mc_all]
