"""Shared test set-up."""

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    """One intra-op thread: on a shared 2-core machine, 2 OpenMP threads on small ops are
    ~10x slower (spin-waits under contention); results do not depend on it."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
