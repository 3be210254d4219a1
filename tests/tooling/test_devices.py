"""Cache keys hold the device the profile requests, not the machine's: a result the gpu
profile computed on a GPU is found by a CPU-only machine rendering the gpu profile; an explicit
--device / FLOWSTAGE_DEVICE runs and keys on that device instead."""

import json
import os
import sys
import types

import pytest
import torch

from flowstage_lib.data import ImageData
from flowstage_lib.experiments import curves
from flowstage_lib.metrics import classifier
from flowstage_lib.models import ModelSpec
from flowstage_lib.tooling import cache, cli, compute, devices
from flowstage_lib.tooling.book import PROFILES, ProfileError, load_profile
from flowstage_lib.training import TrainConfig, run_key


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch, tmp_path):
    for name in (devices.DEVICE_ENV, devices.PROFILE_ENV, "FLOWSTAGE_CACHE_STRICT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FLOWSTAGE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("FLOWSTAGE_RESULTS", str(tmp_path / "results"))


def _machine(monkeypatch, cuda: bool) -> None:
    """Pretend this machine has (or lacks) a GPU."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)


def _data() -> ImageData:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(12, 1, 4, 4, generator=g)
    return ImageData(x=x, y=torch.arange(12) % 3, name="toy", num_classes=3)


class _Captured(Exception):
    def __init__(self, kind, params):
        self.kind, self.params = kind, params


def _captured_key(monkeypatch, call) -> str:
    """The cache key of the first cached call ``call()`` makes (nothing is computed)."""

    def fake(kind, params, compute, modules=None):
        raise _Captured(kind, params)

    monkeypatch.setattr(curves, "cached", fake)
    monkeypatch.setattr(cache, "cached", fake)
    with pytest.raises(_Captured) as got:
        call()
    return cache.cache_key(got.value.kind, got.value.params)


def _keys_on_both_machines(monkeypatch, key_fn) -> tuple[str, str]:
    """(key on a CPU-only machine, key on a GPU machine)."""
    _machine(monkeypatch, False)
    on_cpu = key_fn()
    _machine(monkeypatch, True)
    on_gpu = key_fn()
    return on_cpu, on_gpu


SPEC = ModelSpec("tiny", "S", (1, 4, 4), 3, {"hidden": 8, "layers": 1})
KEYS = {
    "run_key": lambda mp: run_key(SPEC, _data(), TrainConfig(steps=5)),
    "curves_for": lambda mp: _captured_key(
        mp, lambda: curves.curves_for(_data(), [0.1, 0.5], n_queries=4, seed=0)
    ),
    "synthetic_curves": lambda mp: _captured_key(
        mp, lambda: curves.synthetic_curves(8, 20, [0.1, 0.5], n_queries=4, seed=0)
    ),
    "classifier": lambda mp: _captured_key(
        mp, lambda: classifier.get_classifier(_data(), steps=1, progress=False)
    ),
    "autoencoder": lambda mp: _captured_key(mp, _autoencoder_call),
    "judge": lambda mp: _captured_key(mp, _judge_call),
}


def _judge_call():
    from flowstage_lib.metrics.judge import JudgeConfig
    from flowstage_lib.metrics.judge.train import get_judge_network

    get_judge_network(JudgeConfig(steps=1, batch_size=4), data=_data(), progress=False)


def _autoencoder_call():
    from flowstage_lib.models.latent import train_autoencoder

    train_autoencoder(_data(), kind="recon", steps=1, progress=False)


@pytest.mark.parametrize("name", sorted(KEYS))
def test_a_gpu_profile_key_is_the_same_on_a_cpu_machine(monkeypatch, name):
    monkeypatch.setenv(devices.PROFILE_ENV, "gpu")
    on_cpu, on_gpu = _keys_on_both_machines(monkeypatch, lambda: KEYS[name](monkeypatch))
    assert on_cpu == on_gpu, f"{name}: the gpu profile's key depends on the machine"


@pytest.mark.parametrize("name", sorted(KEYS))
def test_the_key_differs_when_the_requested_device_differs(monkeypatch, name):
    _machine(monkeypatch, False)
    keys = {}
    for profile in ("cpu", "gpu"):
        monkeypatch.setenv(devices.PROFILE_ENV, profile)
        keys[profile] = KEYS[name](monkeypatch)
    assert keys["cpu"] != keys["gpu"], f"{name}: the requested device is not in the key"
    monkeypatch.setenv(devices.DEVICE_ENV, "cpu")  # --device cpu under the gpu profile
    assert KEYS[name](monkeypatch) == keys["cpu"]


def test_an_explicit_train_device_keys_the_run(monkeypatch):
    monkeypatch.setenv(devices.PROFILE_ENV, "gpu")
    _machine(monkeypatch, False)
    explicit = run_key(SPEC, _data(), TrainConfig(steps=5, device="cpu"))
    monkeypatch.setenv(devices.PROFILE_ENV, "cpu")
    assert explicit == run_key(SPEC, _data(), TrainConfig(steps=5))


def test_every_profile_requests_a_device():
    want = {"smoke": "cpu", "cpu": "cpu", "gpu": "cuda", "gpu-quick": "cuda"}
    assert {p: devices.REQUESTED_DEVICE[p] for p in PROFILES} == want
    assert all(load_profile(p)["device"] == want[p] for p in PROFILES)


def test_key_device_precedence(monkeypatch):
    _machine(monkeypatch, True)
    assert devices.key_device() == "cuda"  # no profile, no override: the machine
    assert devices.key_device("smoke") == "cpu"  # the profile's request, not the machine
    monkeypatch.setenv(devices.PROFILE_ENV, "smoke")
    assert devices.key_device() == "cpu" and devices.key_device("gpu") == "cuda"
    monkeypatch.setenv(devices.DEVICE_ENV, "cuda:1")  # the override wins (its type)
    assert devices.key_device("smoke") == "cuda"
    assert devices.run_device() == torch.device("cuda:1")


def test_run_device_is_the_machine_unless_overridden(monkeypatch):
    monkeypatch.setenv(devices.PROFILE_ENV, "gpu")  # the profile does not move the work
    _machine(monkeypatch, False)
    assert devices.run_device() == torch.device("cpu")
    _machine(monkeypatch, True)
    assert devices.run_device() == torch.device("cuda")
    monkeypatch.setenv(devices.DEVICE_ENV, "cpu")
    assert devices.run_device() == torch.device("cpu")


@pytest.mark.parametrize("text", ["gpu0", "", "mps", "cuda:x"])
def test_a_bad_device_is_named(monkeypatch, text):
    with pytest.raises(devices.DeviceError, match="FLOWSTAGE_DEVICE"):
        devices.parse_device(text)


def test_cuda_asked_for_without_cuda_is_an_error(monkeypatch):
    _machine(monkeypatch, False)
    monkeypatch.setenv(devices.DEVICE_ENV, "cuda")
    with pytest.raises(devices.DeviceError, match="no CUDA here"):
        devices.run_device()


def test_an_unknown_active_profile_is_named(monkeypatch):
    monkeypatch.setenv(devices.PROFILE_ENV, "laptop")
    with pytest.raises(ProfileError, match="'laptop'.*FLOWSTAGE_PROFILE"):
        devices.key_device()


@pytest.mark.parametrize("text, match", [("gpu0", "is not a device"), ("cuda", "no CUDA here")])
def test_cli_device_errors_are_one_line(monkeypatch, capsys, text, match):
    _machine(monkeypatch, False)
    assert cli.main(["compute", "explorer", "--profile", "smoke", "--device", text]) == 2
    err = capsys.readouterr().err
    assert err.startswith("flowstage: error: --device ") and match in err
    assert err.count("\n") == 1
    assert devices.DEVICE_ENV not in os.environ  # restored


def test_compute_keys_on_the_profile_and_records_both_devices(monkeypatch, tmp_path):
    _machine(monkeypatch, False)
    seen = []
    fake = types.ModuleType("fake_section_compute")
    fake.compute = lambda P: seen.append((devices.key_device(), devices.run_device().type))
    monkeypatch.setitem(sys.modules, fake.__name__, fake)
    monkeypatch.setitem(compute.COMPUTE, "explorer", fake.__name__)
    compute.compute_section("explorer", "gpu")
    assert seen == [("cuda", "cpu")]  # keys: the gpu profile's; work: this CPU machine
    assert devices.PROFILE_ENV not in os.environ  # restored afterwards
    prov = json.loads((tmp_path / "results" / "gpu" / "explorer" / "provenance.json").read_text())
    assert prov["compute"]["key_device"] == "cuda"
    assert prov["compute"]["device"].startswith("cpu")


def test_cli_device_reaches_the_compute(monkeypatch, tmp_path):
    seen = []
    fake = types.ModuleType("fake_section_compute2")
    fake.compute = lambda P: seen.append(devices.key_device())
    monkeypatch.setitem(sys.modules, fake.__name__, fake)
    monkeypatch.setitem(compute.COMPUTE, "explorer", fake.__name__)
    assert cli.main(["compute", "explorer", "--profile", "gpu", "--device", "cpu"]) == 0
    assert cli.main(["compute", "explorer", "--profile", "gpu-quick"]) == 0
    assert seen == ["cpu", "cuda"]


def test_a_device_override_re_executes_staged_notebooks(monkeypatch):
    plain = cli._stage_hash("explorer", "gpu", {})
    monkeypatch.setenv(devices.DEVICE_ENV, "cpu")
    assert cli._stage_hash("explorer", "gpu", {}) != plain
