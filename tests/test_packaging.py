"""environment.yml (conda) and pyproject.toml (pip) must list the same dependencies.

No conda exists on this machine to resolve environment.yml, so the drift check is a parse.
"""

import re
from pathlib import Path

import tomllib
import yaml

ROOT = Path(__file__).resolve().parent.parent
CONDA_NAMES = {"pytorch": "torch"}  # conda package name -> PyPI name


def _split(req: str) -> tuple[str, str]:
    m = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", req)
    assert m, req
    return m.group(1).lower().replace("_", "-"), m.group(2).replace(" ", "")


def _pip_requirements() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = project["dependencies"] + [d for extra in project["optional-dependencies"].values()
                                      for d in extra]  # fmt: skip
    return dict(_split(d) for d in deps)


def _conda_requirements() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    out = {}
    for dep in env["dependencies"]:
        items = dep["pip"] if isinstance(dep, dict) else [dep]
        for item in items:
            name, spec = _split(item)
            name = CONDA_NAMES.get(name, name)
            if name not in ("python", "pip"):
                out[name] = spec
    return out


def test_environment_yml_matches_pyproject():
    pip, conda = _pip_requirements(), _conda_requirements()
    assert set(pip) == set(conda), (
        f"only in pyproject: {sorted(set(pip) - set(conda))}; "
        f"only in environment.yml: {sorted(set(conda) - set(pip))}"
    )
    for name in pip:
        assert pip[name] == conda[name], f"{name}: pyproject {pip[name]!r} != conda {conda[name]!r}"


def test_drift_is_detected(tmp_path, monkeypatch):
    """The check above can fail: a dependency missing on one side is reported."""
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    env["dependencies"] = [d for d in env["dependencies"] if d != "tqdm>=4.66"]
    (tmp_path / "environment.yml").write_text(yaml.safe_dump(env))
    (tmp_path / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text())
    monkeypatch.setitem(globals(), "ROOT", tmp_path)
    assert "tqdm" not in _conda_requirements()
    assert "tqdm" in _pip_requirements()


def test_torch_pin_in_install_path():
    """The install path pins the CPU wheel on disk; a bare `torch` would pull a CUDA build."""
    makefile = (ROOT / "Makefile").read_text()
    assert "TORCH_SPEC ?= torch==2.13.0" in makefile
    assert "+cpu" not in makefile


def test_the_library_does_not_depend_on_the_book_toolchain():
    """`flowstage compute` needs only the core list; the toolchain lives in the extras."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = {_split(d)[0] for d in project["dependencies"]}
    assert core >= {"torch", "numpy", "scipy", "pyyaml", "tqdm", "pandas"}
    toolchain = {"papermill", "jupyter-book", "nbval", "ipykernel", "ipywidgets", "pytest"}
    assert not core & toolchain
    extras = {_split(d)[0] for e in project["optional-dependencies"].values() for d in e}
    assert toolchain <= extras
