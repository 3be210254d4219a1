"""Specs, ladders, parameter counts, the one state-dict fingerprint and the one default device."""

import ast
from pathlib import Path

import pytest
import torch

import flowstage_lib
from flowstage_lib.models import (
    DIT_SIZES,
    MLP_SIZES,
    MLPFlow,
    ModelSpec,
    TinyMLP,
    build_model,
    count_params,
    default_device,
    module_fingerprint,
)


def test_ladders_grow_and_spec_roundtrip():
    for sizes in (DIT_SIZES, MLP_SIZES):
        assert list(sizes) == ["S", "B", "L"]
    # params grow along the ladders (DiT by depth x width^2: building DiT-L takes seconds)
    n = {s: count_params(build_model(ModelSpec("mlp", s))) for s in MLP_SIZES}
    d = {s: DIT_SIZES[s]["depth"] * DIT_SIZES[s]["width"] ** 2 for s in DIT_SIZES}
    assert n["S"] < n["B"] < n["L"] and d["S"] < d["B"] < d["L"]
    assert 2.9e6 < n["S"] < 3.0e6 and 6.8e6 < n["B"] < 7.0e6 and 24.2e6 < n["L"] < 24.5e6
    assert n["L"] / n["S"] >= 8  # issue 14: the cpu ladder spans at least 8x in parameters
    spec = ModelSpec("mlp", "B", [1, 8, 8], 10, {"width": 32})
    assert spec.input_shape == (1, 8, 8) and spec.kwargs()["width"] == 32
    assert isinstance(build_model(spec), MLPFlow)
    assert isinstance(build_model(ModelSpec("tiny", "S", (2,), 0)), TinyMLP)
    with pytest.raises(ValueError):
        ModelSpec("cnn")
    with pytest.raises(ValueError):
        ModelSpec("mlp", "XXL")


def test_count_params():
    m = torch.nn.Linear(3, 2)
    assert count_params(m) == 8
    m.bias.requires_grad_(False)
    assert count_params(m, trainable_only=True) == 6 and count_params(m) == 8


def _small_mlp(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_model(ModelSpec("mlp", "S", (1, 4, 4), 3, {"width": 8, "cond_dim": 8}))


def test_module_fingerprint_follows_the_weights():
    a, b = _small_mlp(0), _small_mlp(0)
    fp = module_fingerprint(a)
    assert len(fp) == 16 and int(fp, 16) >= 0
    assert module_fingerprint(b) == fp  # same seed, same weights: same identity
    assert module_fingerprint(_small_mlp(1)) != fp  # other weights
    with torch.no_grad():
        next(b.parameters()).view(-1)[0] += 1e-6  # one value, barely
    assert module_fingerprint(b) != fp
    assert module_fingerprint(_small_mlp(0).double()) != fp  # same values, another dtype
    a.train()
    assert module_fingerprint(a.eval()) == fp  # the mode is not part of the weights
    # names count: the same tensor under another name is another network
    w = torch.ones(2, 2)
    x, y = torch.nn.Module(), torch.nn.Module()
    x.register_buffer("p", w)
    y.register_buffer("q", w)
    assert module_fingerprint(x) != module_fingerprint(y)
    with pytest.raises(TypeError, match="module"):
        module_fingerprint({"p": w})


def test_default_device(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert default_device() == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert default_device() == torch.device("cuda")


def test_one_default_device_and_one_fingerprint_in_the_package():
    """Each is defined once (models/spec.py); the old homes re-export the same object."""
    from flowstage_lib import data
    from flowstage_lib.experiments import _models

    assert data.default_device is default_device
    assert _models.module_fingerprint is module_fingerprint
    names = {"default_device", "_default_device", "module_fingerprint", "_state_fingerprint"}
    root = Path(flowstage_lib.__file__).parent
    homes = {}
    for p in root.rglob("*.py"):
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.FunctionDef) and node.name in names:
                homes.setdefault(node.name, []).append(p.relative_to(root).as_posix())
    assert homes == {"default_device": ["models/spec.py"], "module_fingerprint": ["models/spec.py"]}


def test_module_fingerprint_sees_the_preconditioning_scale():
    """The same weights wrapped with another data scale k (or sigma_data) are another model;
    the bare network's fingerprint is that of its state dict alone, as before."""
    from flowstage_lib.models.precondition import Preconditioned

    net = _small_mlp(0)
    bare = module_fingerprint(net)
    a, b = Preconditioned(net, 4.0, 0.5), Preconditioned(net, 2.0, 0.5)
    assert module_fingerprint(a) != module_fingerprint(b)
    assert module_fingerprint(a) != module_fingerprint(Preconditioned(net, 4.0, 0.6))
    assert module_fingerprint(a) == module_fingerprint(Preconditioned(_small_mlp(0), 4.0, 0.5))
    assert module_fingerprint(net) == bare
