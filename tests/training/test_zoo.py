"""Zoo: presets are consistent; budget 2 continues budget 1 (shared training)."""

import pytest
import torch

from flowstage_lib.models import build_model, count_params
from flowstage_lib.training.zoo import ZOO_PRESETS, get_model, zoo_config, zoo_spec


@pytest.fixture(autouse=True)
def _env(monkeypatch, tmp_path):
    monkeypatch.setenv("FLOWSTAGE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("FLOWSTAGE_NO_CACHE", raising=False)
    n = torch.get_num_threads()
    torch.set_num_threads(1)  # see tests/test_train.py: faster on a shared machine
    yield
    torch.set_num_threads(n)


class _Shape:
    x = torch.zeros(1, 1, 28, 28)
    num_classes = 10


@pytest.mark.parametrize("profile", sorted(ZOO_PRESETS))
def test_presets_build_and_ladders_grow(profile):
    p = ZOO_PRESETS[profile]
    assert set(p.sizes) == {"S", "B", "L"} and p.main_size in p.sizes
    if p.family == "dit":  # building DiT-L takes seconds: compare depth x width^2
        kw = [zoo_spec(profile, s, _Shape).kwargs() for s in ("S", "B", "L")]
        n = [k["depth"] * k["width"] ** 2 for k in kw]
    else:
        n = [count_params(build_model(zoo_spec(profile, s, _Shape))) for s in ("S", "B", "L")]
    assert n[0] < n[1] < n[2]
    c2 = zoo_config(profile, "oracle", 2)
    assert c2.steps == 2 * p.train.steps and c2.target == "oracle"
    with pytest.raises(ValueError):
        zoo_config(profile, budget=0)


@pytest.mark.slow  # trains two smoke models (~7-9 s on the shared 2-core machine)
def test_budget_two_continues_budget_one():
    one = get_model("smoke", "S", progress=False)
    two = get_model("smoke", "S", budget=2, progress=False)
    steps = ZOO_PRESETS["smoke"].train.steps
    assert two.history["step"][-1] == 2 * steps
    snap = dict(two.snapshots)[steps]  # the 2x run's state at 1x steps is the 1x model
    assert all(torch.equal(snap[k], one.ema_state[k]) for k in snap)
    assert two.history["loss"][: len(one.history["loss"])] == one.history["loss"]
    again = get_model("smoke", "S", progress=False)  # cached: same weights
    assert all(torch.equal(again.ema_state[k], one.ema_state[k]) for k in one.ema_state)


def test_train_by_size_replaces_the_recipe_for_that_size_only():
    from flowstage_lib.training.zoo import _preset_from_profile

    z = {
        "family": "mlp",
        "sizes": {"S": {}, "L": {}},
        "train": {"steps": 10, "lr": 1e-3},
        "train_by_size": {"S": {"lr": 2e-3}},
    }
    p = _preset_from_profile(z)
    assert p.train_by_size == {"S": {"lr": 2e-3}} and p.train.lr == 1e-3
    with pytest.raises(ValueError, match=r"train_by_size: size 'XL'"):
        _preset_from_profile({**z, "train_by_size": {"XL": {"lr": 1.0}}})
    with pytest.raises(ValueError, match=r"train_by_size.S: unknown or fixed.*'steps'"):
        _preset_from_profile({**z, "train_by_size": {"S": {"steps": 5}}})
    with pytest.raises(ValueError, match=r"train_by_size.S: unknown or fixed.*'lrr'"):
        _preset_from_profile({**z, "train_by_size": {"S": {"lrr": 5}}})
    # the cpu profile: lr falls with width (S, B at 2e-3; L at the base 1e-3)
    cpu = ZOO_PRESETS["cpu"]
    assert zoo_config("cpu", "cfm", 1, "B").lr == 2e-3 == zoo_config("cpu", "oracle", 4, "S").lr
    assert zoo_config("cpu", "cfm", 1, "L").lr == cpu.train.lr == 1e-3
    assert zoo_config("cpu", "cfm", 4, "B").steps == 4 * cpu.train.steps
    with pytest.raises(ValueError, match="not 'XL'"):
        zoo_config("cpu", size="XL")
