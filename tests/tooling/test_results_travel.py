"""Results that travel (issue 15): what `flowstage compute --profile gpu-quick` writes keys on
the profile's device (cuda), wherever it ran, so the book renders it on a machine without a
GPU from the cache alone (FLOWSTAGE_CACHE_STRICT: a cache miss fails). Here the compute runs
on this CPU machine with the gpu-quick keys, which is the folder a GPU machine would write
(tensors are saved on the CPU: test_compute.py::test_tensors_are_stored_on_the_cpu)."""

import json
import os
import subprocess
import sys

import pytest

TINY = ["-p", "D_values", "[16]", "-p", "N_values", "[20]", "-p", "spreads", "[1.0]",
        "-p", "t_frames", "[0.0, 0.5]", "-p", "n_queries", "4"]  # fmt: skip


def _env(tmp_path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWSTAGE_")}
    env.update(
        OMP_NUM_THREADS="1",
        FLOWSTAGE_CACHE=str(tmp_path / "cache"),
        FLOWSTAGE_RESULTS=str(tmp_path / "results"),
        **extra,
    )
    return env


def _flowstage(args, env):
    run = subprocess.run(
        [sys.executable, "-m", "flowstage_lib", *args],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    return run


@pytest.mark.slow  # two interpreters with torch and one kernel: ~30-90 s on the 2-core machine
def test_a_gpu_profile_results_folder_renders_on_a_cpu_machine(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: its keys would be the GPU's own")
    _flowstage(["compute", "explorer", "--profile", "gpu-quick", *TINY], _env(tmp_path))
    (prov,) = (tmp_path / "results").glob("*/gpu-quick/explorer/provenance.json")
    compute = json.loads(prov.read_text())["compute"]
    assert compute["key_device"] == "cuda" and compute["device"].startswith("cpu")
    out = tmp_path / "explorer.ipynb"
    strict = _env(tmp_path, FLOWSTAGE_CACHE_STRICT="1")
    _flowstage(["run", "explorer", "--profile", "gpu-quick", *TINY, "-o", str(out)], strict)
    nb = json.loads(out.read_text())
    assert nb["metadata"]["flowstage"]["status"] == "ok"
    errors = [o for c in nb["cells"] for o in c.get("outputs", []) if o["output_type"] == "error"]
    assert not errors
