"""The streaming kernel's chunk sizing (flowstage_lib.oracle.kernel, issue 15 item 5): 64 MiB of
logits on CPU as before; on CUDA a share of the free device memory (queried through a
monkeypatched ``torch.cuda.mem_get_info``: no GPU is needed)."""

import pytest
import torch

from flowstage_lib import OracleVelocity
from flowstage_lib.oracle import kernel, velocity

MiB, GiB = 2**20, 2**30


def test_cpu_budget_is_unchanged():
    assert kernel.default_chunk_bytes(torch.device("cpu")) == 64 * MiB
    assert kernel.default_chunk_bytes("cpu") == 64 * MiB
    # B = 256 float32 queries: 64 MiB / (256 * 4 bytes) rows, as before the split
    assert kernel.chunk_rows(256, torch.float32, 64 * MiB) == 65536
    assert kernel.chunk_rows(10**6, torch.float64, 64 * MiB) == 256  # floor


@pytest.mark.parametrize(
    "free,expected",
    [
        (140 * GiB, 1 * GiB),  # an idle H200: capped at CUDA_CHUNK_CAP
        (4 * GiB, 256 * MiB),  # 1/16 of the free memory
        (512 * MiB, 64 * MiB),  # never below the CPU budget
    ],
)
def test_cuda_budget_follows_free_memory(monkeypatch, free, expected):
    seen = []

    def fake_mem_get_info(device=None):
        seen.append(device)
        return free, 141 * GiB

    monkeypatch.setattr(torch.cuda, "mem_get_info", fake_mem_get_info)
    assert kernel.default_chunk_bytes(torch.device("cuda", 1)) == expected
    assert seen == [torch.device("cuda", 1)]  # the oracle's own device is asked


def test_cuda_budget_streams_n_1e5_in_one_chunk(monkeypatch):
    """The shapes where the 64 MiB default lost to the naive form (issue 15): with the free
    memory of an idle H200 the whole data of N = 1e5 fits one chunk."""
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (140 * GiB, 141 * GiB))
    budget = kernel.default_chunk_bytes(torch.device("cuda"))
    for b in (256, 512, 2048):
        assert kernel.chunk_rows(b, torch.float32, budget) >= 100_000
    assert kernel.chunk_rows(256, torch.float32, kernel.CPU_CHUNK_BYTES) < 100_000


def test_oracle_fixes_the_budget_of_its_device_at_construction(monkeypatch):
    calls = []

    def fake_default(device):
        calls.append(device)
        return 1000 * 8 * 3  # 1000 rows for 3 float64 queries

    monkeypatch.setattr(velocity, "default_chunk_bytes", fake_default)
    data = torch.randn(5000, 4, dtype=torch.float64)
    orc = OracleVelocity(data, dtype=torch.float64)
    assert calls == [torch.device("cpu")]
    assert orc.chunk_bytes == 24000 and orc._chunk(3) == 1000
    orc.velocity(data[:3] * 0.5, 0.5)
    assert len(calls) == 1  # not re-queried per call: results do not depend on the load
    given = OracleVelocity(data, dtype=torch.float64, chunk_bytes=8 * 3 * 300)
    assert given.chunk_bytes == 7200 and given._chunk(3) == 300 and len(calls) == 1


def test_default_oracle_on_cpu_uses_64_mib():
    orc = OracleVelocity(torch.randn(10, 3))
    assert orc.chunk_bytes == 64 * MiB and orc._chunk(256) == 65536


def test_bad_chunk_bytes():
    with pytest.raises(ValueError, match=r"^chunk_bytes must"):
        OracleVelocity(torch.zeros(4, 2), chunk_bytes=0)
