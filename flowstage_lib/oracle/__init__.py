"""The oracle velocity u*(x_t, t | y) of Theorem 2.1 (Eq. 19), computed exactly by streaming
over the data, and the theory of where its navigation -> refinement transition sits
(:mod:`flowstage_lib.oracle.transition`)."""

from flowstage_lib.oracle.velocity import *  # noqa: F403
from flowstage_lib.oracle.velocity import __all__  # noqa: F401
