"""Flow-matching training (CFM or oracle target, :mod:`.trainer`), the run state and its
checkpoints and resume (:mod:`.state`, :mod:`.checkpoints`), the losses against the oracle
(:mod:`.losses`: Figs. 7, 9, 10), and the book's shared model zoo (:mod:`.zoo`)."""

from flowstage_lib.training.checkpoints import run_key
from flowstage_lib.training.losses import LossCurve, oracle_loss_per_t
from flowstage_lib.training.state import ema_update
from flowstage_lib.training.trainer import TrainConfig, TrainResult, load_or_train, train

__all__ = [
    "TrainConfig",
    "TrainResult",
    "LossCurve",
    "train",
    "load_or_train",
    "oracle_loss_per_t",
    "run_key",
    "ema_update",
]
