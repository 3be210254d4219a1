"""Shared test set-up."""

import os

import pytest
import torch

# Unit tests check the math in fp32: networks run without bf16 autocast on the CPU even where
# it has native bf16 (the book's default there). The bf16 path has its own tests, which set
# FLOWSTAGE_CPU_BF16=1, and `make test`'s smoke compute and nbval run it on such a CPU.
os.environ.setdefault("FLOWSTAGE_CPU_BF16", "0")


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    """One intra-op thread: on a shared 2-core machine, 2 OpenMP threads on small ops are
    ~10x slower (spin-waits under contention); results do not depend on it."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
