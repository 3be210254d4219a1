"""benchmarks/bench_oracle.py is device- and precision-aware (issue 15 item 5); nothing timed."""

import importlib.util
from pathlib import Path

import pytest
import torch

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_oracle.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_oracle", _PATH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_device_resolution(bench, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert bench.resolve_device("auto") == "cpu"
    assert bench.resolve_device("cpu") == "cpu"
    with pytest.raises(SystemExit, match="--device cuda:1: this torch has no usable CUDA"):
        bench.resolve_device("cuda:1")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert bench.resolve_device("auto") == "cuda"
    assert bench.resolve_device("cuda:1") == "cuda:1"


def test_matmul_precision_names_tf32_on_cuda(bench):
    assert bench.matmul_precision("cpu", torch.float32) == "float32"
    assert bench.matmul_precision("cuda", torch.float64) == "float64"
    old = torch.backends.cuda.matmul.allow_tf32  # a cuBLAS flag: monkeypatch cannot undo it
    try:
        for flag, name in ((True, "TF32 allowed"), (False, "no TF32")):
            torch.backends.cuda.matmul.allow_tf32 = flag
            assert bench.matmul_precision("cuda", torch.float32) == f"float32 ({name})"
    finally:
        torch.backends.cuda.matmul.allow_tf32 = old


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_case_runs_in_the_requested_precision(bench, dtype):
    r = bench.run_case(4, 600, 8, "cpu", 1, 1.0, sweep=True, dtype=dtype)
    assert r["data_mb"] == 600 * 8 * (4 if dtype == torch.float32 else 8) / 2**20
    assert r["mm_gflops"] > 0 and r["oracle_gflops"] > 0 and r["chunk"] == 600
    assert r["max_abs_diff"] < (1e-4 if dtype == torch.float32 else 1e-10)
