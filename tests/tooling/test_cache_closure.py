"""Cache keys cover the import closure of the module that computes an entry (not the whole
package): an edit outside the closure keeps the key, one inside changes it."""

import functools
import hashlib
import importlib
import json
import sys
import uuid
from pathlib import Path

import pytest
import torch

import flowstage_lib
from flowstage_lib.models import ModelSpec
from flowstage_lib.tooling import cache, closure
from flowstage_lib.training import TrainConfig, checkpoints

ROOT = Path(flowstage_lib.__file__).resolve().parent


@pytest.fixture(autouse=True)
def _env(tmp_path, monkeypatch):
    monkeypatch.setenv("FLOWSTAGE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("FLOWSTAGE_CACHE_KEY", raising=False)


FAKE = {
    "__init__.py": "",
    "a.py": (
        "from {P} import b\n"
        "\n"
        "def key(**kw):\n"
        "    from flowstage_lib.tooling import cache\n"
        "    return cache.cache_key('k', {{'n': 1}}, **kw)\n"
        "\n"
        "def stored(compute):\n"
        "    from flowstage_lib.tooling import cache\n"
        "    return cache.cached('k', {{'n': 1}}, compute)\n"
        "\n"
        "def late():\n"
        "    if b.X:\n"
        "        from .sub import deep  # function-local, relative, under a conditional\n"
    ),
    "b.py": "import os\nX = 1\n",
    "c.py": (
        "def work(calls):\n    calls.append(1)\n    return {'v': 1}\n\n"
        "class Velocity:\n    def __call__(self, calls):\n        return work(calls)\n"
    ),
    "sub/__init__.py": "",
    "sub/deep.py": "Y = 2\n",
    "sub/other.py": "Z = 3\n",
    "pick.py": "from {P}.sub import deep, other\n",
    "dyn.py": "import importlib\n\ndef load(name):\n    return importlib.import_module(name)\n",
    "uses_dyn.py": "from {P} import dyn\n",
    "lit.py": "import importlib\n\nM = importlib.import_module('{P}.b')\n",
    "dunder.py": "def f(n):\n    return __import__(n)\n",
    "missing.py": "from {P} import b\nfrom {P}.nowhere import thing\n",
    "later.py": "from {P} import future  # an attribute today, a submodule tomorrow\n",
}


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """A small package tree ``P`` on sys.path, standing in for flowstage_lib."""
    name = f"fakepkg_{uuid.uuid4().hex[:8]}"
    root = tmp_path / "src" / name
    for rel, text in FAKE.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text.replace("{P}", name).replace("{{", "{").replace("}}", "}"))
    monkeypatch.syspath_prepend(str(tmp_path / "src"))
    monkeypatch.setattr(closure, "OWN_ROOT", root.resolve())
    closure._package_file.cache_clear()
    yield name, root.resolve()
    closure._package_file.cache_clear()
    for m in [m for m in sys.modules if m.split(".")[0] == name]:
        del sys.modules[m]


def _rel(files, root):
    return {str(f.relative_to(root)) for f in files}


def _edit(path: Path, text: str = "\nEDITED = 12345\n") -> None:
    path.write_text(path.read_text() + text)  # longer: a new size whatever the mtime


# ------------------------------------------------------------------ the closure


def test_closure_follows_local_relative_and_submodule_imports(fake):
    name, root = fake
    got = _rel(closure.import_closure(f"{name}.a"), root)
    # b (module level), sub/deep via a function-local relative import, parents' __init__
    assert got == {"__init__.py", "a.py", "b.py", "sub/__init__.py", "sub/deep.py"}
    # `from pkg.sub import deep, other`: both submodules and the package they sit in
    got = _rel(closure.import_closure(f"{name}.pick"), root)
    assert got == {"__init__.py", "pick.py", "sub/__init__.py", "sub/deep.py", "sub/other.py"}


def test_a_new_submodule_is_seen_at_once(fake):
    name, root = fake
    assert _rel(closure.import_closure(f"{name}.later"), root) == {"__init__.py", "later.py"}
    (root / "future.py").write_text("W = 4\n")
    got = _rel(closure.import_closure(f"{name}.later"), root)
    assert got == {"__init__.py", "later.py", "future.py"}
    (root / "future.py").unlink()
    assert _rel(closure.import_closure(f"{name}.later"), root) == {"__init__.py", "later.py"}


def test_dynamic_import_falls_back_to_the_whole_package(fake):
    name, root = fake
    everything = _rel(root.rglob("*.py"), root)
    for mod in ("dyn", "uses_dyn", "dunder"):  # in the file itself or in one it imports
        assert _rel(closure.import_closure(f"{name}.{mod}"), root) == everything, mod
    # a literal target is followed like an import: no fallback
    assert _rel(closure.import_closure(f"{name}.lit"), root) == {"__init__.py", "lit.py", "b.py"}


def test_an_unresolvable_package_import_falls_back_to_the_whole_package(fake):
    name, root = fake
    assert closure.import_closure(f"{name}.missing") == frozenset(root.rglob("*.py"))


def test_zoo_closure_has_what_training_runs_and_no_criteria_or_plots():
    got = _rel(closure.import_closure("flowstage_lib.training.zoo"), ROOT)
    assert len(got) < len(list(ROOT.rglob("*.py")))
    for f in ("training/zoo.py", "training/trainer.py", "training/checkpoints.py",
              "training/losses.py", "models/__init__.py", "models/spec.py", "models/mlp.py",
              "models/dit.py", "models/latent.py", "path/affine.py", "data/scaled.py",
              "data/__init__.py", "__init__.py", "tooling/cache.py"):  # fmt: skip
        assert f in got, f
    assert not [f for f in got if f.startswith("experiments/criteria/")]
    assert not [f for f in got if "plot" in f]


def test_every_package_import_resolves_to_a_file():
    """No silent miss: each file parses and each flowstage_lib import names a real module
    (a miss would make its closure the whole package, safely but uselessly)."""
    files = sorted(ROOT.rglob("*.py"))
    assert len(files) > 50
    for f in files:
        scan = closure.scan_imports(ROOT, f)  # raises on a syntax error
        for module, names in scan.imports:
            if module.split(".")[0] != "flowstage_lib":
                continue
            parts = module.split(".")
            for i in range(1, len(parts) + 1):
                prefix = ".".join(parts[:i])
                assert closure.module_file(ROOT, prefix) is not None, f"{f}: {prefix}"
            for n in names:  # a name is a submodule or something the module defines
                mod = importlib.import_module(module)
                assert closure.module_file(ROOT, f"{module}.{n}") or hasattr(mod, n), (f, n)
        if f.name != "compute.py":  # the section runner imports by name, on purpose
            assert not scan.dynamic, f
            assert closure._file_deps(ROOT, f) is not None, f  # no whole-package fallback


# ------------------------------------------------------------------ keys


def test_edit_outside_the_closure_keeps_the_key_inside_changes_it(fake):
    name, root = fake
    a = importlib.import_module(f"{name}.a")
    first = a.key()  # the caller (a.py) is inferred from the stack
    assert first == a.key(modules=(f"{name}.a",)) == cache.cache_key("k", {"n": 1}, (f"{name}.a",))
    _edit(root / "c.py")
    _edit(root / "sub" / "other.py")
    assert a.key() == first
    _edit(root / "sub" / "deep.py")  # reached only through a function-local import
    second = a.key()
    assert second != first
    _edit(root / "__init__.py")  # a parent package runs on every import
    assert a.key() != second


def test_cached_also_keys_the_module_defining_compute(fake):
    name, root = fake
    a = importlib.import_module(f"{name}.a")
    c = importlib.import_module(f"{name}.c")  # not imported by a.py
    calls = []
    compute = functools.partial(c.work, calls)
    assert a.stored(compute) == a.stored(compute) == {"v": 1}
    assert len(calls) == 1  # the second call is a hit
    _edit(root / "b.py")  # in a.py's closure
    a.stored(compute)
    assert len(calls) == 2
    _edit(root / "c.py")  # only in the closure of the module defining `compute`
    a.stored(compute)
    assert len(calls) == 3


def test_cached_keys_the_code_of_what_compute_captures(fake):
    """A lambda written outside the package that captures an object whose class lives in
    c.py (an injected velocity function, say): c.py keys the entry."""
    name, root = fake
    a = importlib.import_module(f"{name}.a")
    c = importlib.import_module(f"{name}.c")
    calls, fields = [], {"velocity": c.Velocity()}
    assert closure.captured_files(lambda: fields["velocity"](calls)) == {root / "c.py"}
    a.stored(lambda: fields["velocity"](calls))
    a.stored(lambda: fields["velocity"](calls))
    assert len(calls) == 1
    _edit(root / "c.py")
    a.stored(lambda: fields["velocity"](calls))
    assert len(calls) == 2


def test_package_callers_key_on_their_own_closure_not_on_tooling(monkeypatch):
    """run_key -> cache_key: the train key is inferred from training/checkpoints.py (whose
    closure holds trainer.py and losses.py, through training/__init__.py), not tooling/."""
    seen = []
    real = closure.file_closure
    monkeypatch.setattr(closure, "file_closure", lambda r, f: seen.append(f) or real(r, f))
    cache.cache_key("k", {})  # a test is no package file: the whole package, no closure
    assert seen == []

    class Data:
        x, y = torch.zeros(4, 1, 4, 4), torch.tensor([0, 1, 2, 0])

    spec = ModelSpec("tiny", "S", (1, 4, 4), 3, {"hidden": 8, "layers": 1})
    key = checkpoints.run_key(spec, Data, TrainConfig(steps=5, device="cpu"))
    assert seen == [ROOT / "training" / "checkpoints.py"]
    files = closure.import_closure("flowstage_lib.training.checkpoints")
    assert {ROOT / "training" / "trainer.py", ROOT / "training" / "losses.py"} <= files
    monkeypatch.setenv("FLOWSTAGE_CACHE_KEY", "package")
    assert checkpoints.run_key(spec, Data, TrainConfig(steps=5, device="cpu")) != key


def test_callers_outside_the_package_and_the_env_override_key_on_the_whole_package(
    monkeypatch,
):
    from flowstage_lib import __version__

    old = json.dumps(  # the key before closures: kind, params, the whole package's source
        {"kind": "k", "params": {"n": 1}, "src": cache.source_hash(("flowstage_lib",)),
         "v": __version__},
        sort_keys=True,
    )  # fmt: skip
    old = hashlib.sha256(old.encode()).hexdigest()[:24]
    assert cache.cache_key("k", {"n": 1}) == old  # a test module is outside the package
    narrow = cache.cache_key("k", {"n": 1}, modules=("flowstage_lib.path.affine",))
    assert narrow != old
    monkeypatch.setenv("FLOWSTAGE_CACHE_KEY", "package")
    assert cache.cache_key("k", {"n": 1}, modules=("flowstage_lib.path.affine",)) == old
    monkeypatch.setenv("FLOWSTAGE_CACHE_KEY", "closure")
    assert cache.cache_key("k", {"n": 1}, modules=("flowstage_lib.path.affine",)) == narrow
    monkeypatch.setenv("FLOWSTAGE_CACHE_KEY", "everything")
    with pytest.raises(ValueError, match="FLOWSTAGE_CACHE_KEY"):
        cache.cache_key("k", {"n": 1})


def test_bad_modules_are_refused_naming_the_parameter():
    with pytest.raises(TypeError, match="modules"):
        cache.cache_key("k", {}, modules="flowstage_lib.path")
    with pytest.raises(ValueError, match="modules"):
        cache.cache_key("k", {}, modules=())
    with pytest.raises(ValueError, match="modules"):
        cache.cache_key("k", {}, modules=("flowstage_lib.no_such_module",))
    with pytest.raises(ValueError, match="modules"):
        cache.cache_key("k", {}, modules=("no_such_package_xyz.mod",))
