"""flowstage_lib.tooling.plotting: the book's look, without hidden global state."""

import random

import numpy as np
import torch

from flowstage_lib.tooling import plotting


def test_setup_leaves_every_random_state_alone():
    random.seed(1)
    np.random.seed(1)
    torch.manual_seed(1)
    expected = (random.random(), np.random.rand(), torch.rand(()).item())
    random.seed(1)
    np.random.seed(1)
    torch.manual_seed(1)
    plotting.setup(0)  # used to reseed python, numpy and torch with 0
    plotting.setup()
    assert (random.random(), np.random.rand(), torch.rand(()).item()) == expected
