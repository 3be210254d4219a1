"""Scores of sample sets, one module per measured quantity:

- :mod:`.classifier`: the feature classifier (our Inception/DINO stand-in), its features and
  class accuracy;
- :mod:`.frechet`: the one Frechet distance (float64), its bootstrap interval, and the paired
  difference of two sample sets (Table 1);
- :mod:`.memorized`: nearest training images and the memorization test (Fig. 5 / 13; not
  named ``memorization``, which is the re-exported function);
- :mod:`.intervals`: Wilson and bootstrap intervals;
- :mod:`.evaluate`: sample sets and the evaluator shared by the Section 4-5 experiments
  (imported as ``flowstage_lib.metrics.evaluate``; not re-exported here).
"""

from flowstage_lib.metrics import classifier, frechet, intervals, memorized
from flowstage_lib.metrics.classifier import *  # noqa: F403
from flowstage_lib.metrics.frechet import *  # noqa: F403
from flowstage_lib.metrics.intervals import *  # noqa: F403
from flowstage_lib.metrics.memorized import *  # noqa: F403

__all__ = [
    *classifier.__all__,
    *frechet.__all__,
    *memorized.__all__,
    *intervals.__all__,
]
