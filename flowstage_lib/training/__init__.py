"""Flow-matching training (CFM or oracle target), checkpoints and resume (:mod:`.trainer`),
and the book's shared model zoo (:mod:`.zoo`)."""

from flowstage_lib.training.trainer import *  # noqa: F403
from flowstage_lib.training.trainer import __all__  # noqa: F401
