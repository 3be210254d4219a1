"""Scores of sample sets: the feature classifier, Frechet distance (with bootstrap and paired
intervals), class accuracy, memorization (:mod:`.scores`), and the evaluator shared by the
Section 4-5 experiments (:mod:`.evaluate`)."""

from flowstage_lib.metrics.scores import *  # noqa: F403
from flowstage_lib.metrics.scores import __all__  # noqa: F401
