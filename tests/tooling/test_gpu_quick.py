"""scripts/gpu_quick.sh: the gpu-quick compute on a machine without network; here the same
code path on the CPU (--device cpu) at tiny sizes, and the refusal to run without CUDA."""

import json
import os
import subprocess
import sys

import pytest

from flowstage_lib.tooling.book import REPO_ROOT, load_profile

SCRIPT = REPO_ROOT / "scripts" / "gpu_quick.sh"
TINY = ["-p", "D_values", "[16]", "-p", "N_values", "[20]", "-p", "spreads", "[1.0]",
        "-p", "t_frames", "[0.0, 0.5]", "-p", "n_queries", "4"]  # fmt: skip


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWSTAGE_")}
    env.update(OMP_NUM_THREADS="1", PATH=f"{os.path.dirname(sys.executable)}:{env['PATH']}")
    return env


def test_tiny_sizes_are_overrides_of_the_gpu_quick_section():
    assert {TINY[i] for i in range(1, len(TINY), 3)} <= set(load_profile("gpu-quick")["explorer"])


@pytest.mark.slow  # 16-75 s on the shared 2-core machine (interpreters with torch, an explorer)
def test_gpu_quick_script_runs_the_compute_path_on_the_cpu(tmp_path):
    run = subprocess.run(
        [str(SCRIPT), str(tmp_path), "explorer", *TINY, "--device", "cpu"],
        env=_env(), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    (prov_path,) = (tmp_path / "results").glob("custom-*/gpu-quick/explorer/provenance.json")
    prov = json.loads(prov_path.read_text())["compute"]
    assert prov["profile"] == "gpu-quick" and prov["device"].startswith("cpu")
    assert prov["key_device"] == "cpu"  # --device cpu: kept apart from the profile's cuda keys
    assert prov["parameters"]["D_values"] == [16]
    summary = json.loads((tmp_path / "gpu_quick.json").read_text())
    assert summary["device_override"] == "cpu" and summary["wall_seconds"] >= 0
    assert "time per section (gpu-quick)" in (tmp_path / "compute.log").read_text()
    assert list((tmp_path / "cache").rglob("*.pt")), "the compute filled OUTDIR/cache"
    assert not (REPO_ROOT / "results" / prov_path.parent.parent.parent.name).exists()


def test_gpu_quick_script_refuses_a_machine_without_cuda(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    run = subprocess.run(
        [str(SCRIPT), str(tmp_path / "out")], env=_env(), capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert run.returncode == 2
    assert "no CUDA" in run.stderr and "--device cpu" in run.stderr
    assert not (tmp_path / "out").exists()  # nothing started
