"""`flowstage compute` runs without the book toolchain and records provenance; a cache miss
under FLOWSTAGE_CACHE_STRICT is an error that says what to run."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from flowstage_lib.tooling import cache
from flowstage_lib.tooling.book import REPO_ROOT, ProfileError
from flowstage_lib.tooling.compute import COMPUTE, params_for

TOOLCHAIN = ("papermill", "nbformat", "nbclient", "nbval", "jupyter_book", "jupyter_client",
             "jupyter_core", "myst_nb", "sphinx", "IPython", "ipykernel", "ipywidgets")  # fmt: skip

BLOCKER = textwrap.dedent(
    """
    import importlib.abc, sys
    BLOCKED = set(sys.argv[1].split(","))
    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"{name} is part of the book toolchain (blocked in this test)")
    sys.meta_path.insert(0, Block())
    from flowstage_lib.tooling.cli import main
    sys.exit(main(sys.argv[2:]))
    """
)


@pytest.mark.slow
def test_compute_runs_without_the_book_toolchain(tmp_path):
    env = dict(
        os.environ,
        FLOWSTAGE_CACHE=str(tmp_path / "cache"),
        FLOWSTAGE_RESULTS=str(tmp_path / "results"),
        PYTHONPATH=str(REPO_ROOT),
        OMP_NUM_THREADS="1",
    )
    args = ["compute", "sec3_two_stage", "--profile", "smoke"]
    run = subprocess.run(
        [sys.executable, "-c", BLOCKER, ",".join(TOOLCHAIN), *args],
        env=env, capture_output=True, text=True, cwd=tmp_path, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    assert "time per section (smoke)" in run.stdout
    assert "[sec3_two_stage] | Fig. 2 curves" in run.stderr  # progress reached the terminal
    prov = json.loads(
        (tmp_path / "results" / "smoke" / "sec3_two_stage" / "provenance.json").read_text()
    )
    assert prov["compute"]["profile"] == "smoke" and prov["compute"]["wall_seconds"] > 0
    assert list((tmp_path / "cache").rglob("*.pt")), "compute filled the cache"


def test_the_blocker_blocks(tmp_path):
    """The test above can fail: an import of the toolchain under the blocker is an error."""
    code = BLOCKER.replace("from flowstage_lib.tooling.cli import main", "import papermill")
    run = subprocess.run([sys.executable, "-c", code, "papermill"], capture_output=True, text=True)
    assert run.returncode != 0 and "book toolchain" in run.stderr


def test_every_section_with_a_compute_step_exists():
    from flowstage_lib.tooling.cli import sections

    assert set(COMPUTE) <= set(sections())


def test_params_for_checks_overrides():
    P = params_for("sec3_two_stage", "smoke", {"n_queries": 4})
    assert P.n_queries == 4 and P.profile == "smoke"
    with pytest.raises(ProfileError, match="n_queries"):
        params_for("sec3_two_stage", "smoke", {"n_queries": -1})
    with pytest.raises(ProfileError, match="no parameter 'nope'"):
        params_for("sec3_two_stage", "smoke", {"nope": 1})


def test_strict_cache_refuses_to_compute(tmp_path, monkeypatch):
    monkeypatch.setenv("FLOWSTAGE_CACHE", str(tmp_path))
    assert cache.cached("demo", {"a": 1}, lambda: 7) == 7  # fills the entry
    monkeypatch.setenv("FLOWSTAGE_CACHE_STRICT", "1")
    assert cache.cached("demo", {"a": 1}, lambda: 8) == 7  # a hit is read
    with pytest.raises(cache.CacheMiss, match="flowstage compute"):
        cache.cached("demo", {"a": 2}, lambda: 9)


def test_tensors_are_stored_on_the_cpu():
    """Results computed on a GPU load on a CPU-only machine: tensors are moved to the CPU
    before saving (and loaded with map_location="cpu"); a CPU tensor is stored as it is."""
    import torch

    t = torch.ones(2)
    assert cache._storable({"x": t})["x"] is t


@pytest.mark.slow
def test_offline_script_runs_the_compute_path(tmp_path):
    """scripts/offline_compute.sh (what a GPU node without network runs), here on the CPU."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWSTAGE_")}
    env.update(OMP_NUM_THREADS="1", PATH=f"{os.path.dirname(sys.executable)}:{env['PATH']}")
    run = subprocess.run(
        [str(REPO_ROOT / "scripts" / "offline_compute.sh"), "smoke", str(tmp_path), "explorer"],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert "cuda False" in (tmp_path / "environment.txt").read_text()
    prov = json.loads((tmp_path / "results" / "smoke" / "explorer" / "provenance.json").read_text())
    assert prov["compute"]["device"].startswith("cpu")
    assert list((tmp_path / "cache").rglob("*.pt"))
