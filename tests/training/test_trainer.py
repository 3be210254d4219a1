"""Training: loss goes down, bit-exact resumption and continuation, label drop, oracle target,
per-t diagnostics (Fig. 7a / 10)."""

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from flowstage_lib.models import ModelSpec
from flowstage_lib.oracle import OracleVelocity
from flowstage_lib.training import TrainConfig, load_or_train, oracle_loss_per_t, run_key, train
from flowstage_lib.training import state as state_mod
from flowstage_lib.training.checkpoints import list_checkpoints
from flowstage_lib.training.losses import oracle_targets


def gaussian_mixture(n=400, k=4, seed=0):
    """k well separated 2-D Gaussian modes on a circle, labelled by mode."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % k
    ang = 2 * math.pi * y.double() / k
    centers = torch.stack([torch.cos(ang), torch.sin(ang)], 1) * 2.0
    x = (centers + 0.15 * torch.randn(n, 2, generator=g, dtype=torch.float64)).float()
    return SimpleNamespace(x=x, y=y, num_classes=k)


TOY_SPEC = ModelSpec("tiny", "S", (2,), 4, {"hidden": 32, "layers": 2})
FAST = dict(batch_size=64, lr=3e-3, log_every=5, checkpoint_every=0)


@pytest.fixture(autouse=True)
def _tmp_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("FLOWSTAGE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("FLOWSTAGE_NO_CACHE", raising=False)


def test_training_on_gaussian_mixture_lowers_the_loss():
    data = gaussian_mixture()
    cfg = TrainConfig(steps=300, **{**FAST, "log_every": 25}, device="cpu", log_oracle=False)
    res = train(TOY_SPEC, data, cfg, progress=False)
    h = res.history
    assert h["step"][-1] == 300 and len(h["step"]) == 12
    assert h["loss"][-1] < 0.6 * h["loss"][0]
    # the EMA model is in eval mode and fits the oracle much better than the zero-ish init
    t_grid = [0.05, 0.3, 0.6, 0.9]
    before = train(TOY_SPEC, data, TrainConfig(steps=0, **FAST), progress=False).model
    c0 = oracle_loss_per_t(before, data, t_grid, n=256)
    c1 = oracle_loss_per_t(res.model, data, t_grid, n=256)
    assert not res.model.training
    assert float(c1.oracle.mean()) < 0.5 * float(c0.oracle.mean())
    assert c1.t.tolist() == t_grid and c1.cfm.shape == (4,)


def test_history_records_per_t_bins_against_both_targets():
    data = gaussian_mixture()
    cfg = TrainConfig(steps=10, **FAST, n_t_bins=5, snapshot_every=5)
    res = train(TOY_SPEC, data, cfg, progress=False)
    h = res.history
    assert h["step"] == [5, 10] and len(h["t_edges"]) == 6
    for row in h["bin_count"]:
        assert sum(row) == 64
    for key in ("bin_loss_cfm", "bin_loss_oracle"):
        assert len(h[key]) == 2 and len(h[key][0]) == 5
        assert all(math.isnan(v) or v >= 0 for v in h[key][0])
    assert [s for s, _ in res.snapshots] == [5, 10]
    assert torch.equal(res.snapshots[-1][1]["net.0.weight"], res.ema_state["net.0.weight"])
    m5 = res.snapshot_model(5)
    assert not torch.equal(m5.net[0].weight, res.model.net[0].weight.cpu())


def _states_equal(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _hist_equal(a, b):
    keys = ("step", "loss", "bin_count", "bin_loss_cfm", "bin_loss_oracle")
    return all(
        torch.equal(
            torch.tensor(a[k], dtype=torch.float64).nan_to_num(-1.0),
            torch.tensor(b[k], dtype=torch.float64).nan_to_num(-1.0),
        )
        for k in keys
    )


def test_resumed_run_equals_uninterrupted_bit_for_bit(monkeypatch, tmp_path):
    data = gaussian_mixture()
    spec = ModelSpec("mlp", "S", (2,), 4, {"width": 32, "depth": 2})
    cfg = TrainConfig(steps=30, **{**FAST, "checkpoint_every": 10}, snapshot_every=15)

    monkeypatch.setenv("FLOWSTAGE_CACHE", str(tmp_path / "a"))
    ref = train(spec, data, cfg, progress=False)

    monkeypatch.setenv("FLOWSTAGE_CACHE", str(tmp_path / "b"))

    def crash(step):
        if step == 17:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(spec, data, cfg, progress=False, callback=crash)
    files = sorted(p.name for p in (tmp_path / "b" / "train" / run_key(spec, data, cfg)).iterdir())
    assert files == ["step00000010.pt"]  # the latest periodic checkpoint only
    steps_run = []
    res = train(spec, data, cfg, progress=False, callback=steps_run.append)
    assert steps_run[0] == 11  # resumed from step 10
    assert _states_equal(res.ema_state, ref.ema_state)
    assert _states_equal(res.model.state_dict(), ref.model.state_dict())
    assert _hist_equal(res.history, ref.history)
    assert [s for s, _ in res.snapshots] == [15, 30]
    assert all(_states_equal(a[1], b[1]) for a, b in zip(res.snapshots, ref.snapshots, strict=True))

    # continuation: a 20-step run, then the 30-step run continues it (zoo budget 1x -> 2x)
    monkeypatch.setenv("FLOWSTAGE_CACHE", str(tmp_path / "c"))
    short = train(spec, data, TrainConfig(**{**cfg.__dict__, "steps": 20}), progress=False)
    steps_run.clear()
    long = train(spec, data, cfg, progress=False, callback=steps_run.append)
    assert steps_run == list(range(21, 31))
    assert _states_equal(long.ema_state, ref.ema_state)
    assert _hist_equal(long.history, ref.history)
    # the 20-step result stays available (its end-of-run checkpoint is kept)
    again = train(spec, data, TrainConfig(**{**cfg.__dict__, "steps": 20}), progress=False)
    assert _states_equal(again.ema_state, short.ema_state)


def test_load_or_train_caches():
    data = gaussian_mixture()
    cfg = TrainConfig(steps=8, **FAST)
    a = load_or_train(TOY_SPEC, data, cfg, progress=False)
    calls = []
    b = train(
        TOY_SPEC,
        data,
        TrainConfig(**{**cfg.__dict__, "checkpoint_every": 2}),
        progress=False,
        callback=calls.append,
    )
    assert calls == [] and _states_equal(a.ema_state, b.ema_state)
    # another seed is another run
    assert run_key(TOY_SPEC, data, cfg) != run_key(TOY_SPEC, data, TrainConfig(steps=8, seed=1))
    assert run_key(TOY_SPEC, data, cfg) == run_key(
        TOY_SPEC, data, TrainConfig(**{**cfg.__dict__, "steps": 99, "checkpoint_every": 7})
    )


class _Recorder(torch.nn.Module):
    """Stand-in network that records the labels it is trained on."""

    def __init__(self, shape, num_classes, **_):
        super().__init__()
        self.num_classes = num_classes
        self.w = torch.nn.Parameter(torch.zeros(()))
        self.seen = []

    def forward(self, x, t, y):
        if self.training:
            self.seen.append(y.clone())
        return self.w * x


@pytest.mark.parametrize("rate", [0.0, 0.1, 1.0])
def test_label_drop_rate(monkeypatch, rate):
    made = []

    def fake_build(spec):
        made.append(_Recorder(spec.input_shape, spec.num_classes))
        return made[-1]

    monkeypatch.setattr(state_mod, "build_model", fake_build)
    data = gaussian_mixture()
    cfg = TrainConfig(
        steps=20,
        batch_size=250,
        label_drop=rate,
        checkpoint_every=0,
        log_oracle=False,
        ema_decay=0.0,
        log_every=100,
    )
    train(TOY_SPEC, data, cfg, progress=False)
    y = torch.cat(made[0].seen)  # 5000 labels
    frac = float((y == 4).float().mean())
    sd = math.sqrt(max(rate * (1 - rate), 1e-12) / len(y))
    assert abs(frac - rate) <= 4 * sd + 1e-12
    assert bool(((y >= 0) & (y <= 4)).all())


def test_oracle_targets_mix_conditional_and_null_rows():
    data = gaussian_mixture(n=40)
    orc = OracleVelocity(data.x, labels=data.y)
    x_t, t = torch.randn(6, 2), torch.full((6,), 0.3)
    y = torch.tensor([0, 4, 1, 4, 3, 2])
    out = oracle_targets(orc, x_t, t, y, 4)
    cond = orc.velocity(x_t, t, torch.tensor([0, 0, 1, 0, 3, 2]))
    unc = orc.velocity(x_t, t)
    null = y == 4
    assert torch.allclose(out[~null], cond[~null], atol=1e-5)
    assert torch.allclose(out[null], unc[null], atol=1e-5)  # batch-size rounding only


def test_oracle_target_training_and_perfect_model():
    data = gaussian_mixture()
    cfg = TrainConfig(steps=10, **FAST, target="oracle")
    res = train(TOY_SPEC, data, cfg, progress=False)
    assert len(res.history["loss"]) == 2 and math.isfinite(res.history["loss"][-1])

    orc = OracleVelocity(data.x, labels=data.y)

    class OracleNet(torch.nn.Module):
        num_classes = 4

        def __init__(self):
            super().__init__()
            self.p = torch.nn.Parameter(torch.zeros(()))

        def forward(self, x, t, y):
            return orc.velocity(x, t, y)

    curve = oracle_loss_per_t(OracleNet(), data, [0.0, 0.5, 0.9], n=64, oracle=orc)
    assert float(curve.oracle.abs().max()) < 1e-10
    assert bool((curve.cfm > 0).all())


# ------------------------------------------------------------------ issue 12: cache failures


def test_unwritable_cache_warns_and_training_goes_on(tmp_path, monkeypatch):
    from flowstage_lib.tooling import cache

    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("FLOWSTAGE_CACHE", str(blocker / "cache"))
    monkeypatch.setattr(cache, "_WARNED", set())
    data = gaussian_mixture()
    cfg = TrainConfig(steps=12, **{**FAST, "checkpoint_every": 3, "snapshot_every": 4})
    with pytest.warns(RuntimeWarning, match="cannot write to .*training goes on without"):
        res = train(TOY_SPEC, data, cfg, progress=False)
    assert res.history["step"][-1] == 12 and [s for s, _ in res.snapshots] == [4, 8, 12]
    monkeypatch.setenv("FLOWSTAGE_NO_CACHE", "1")
    ref = train(TOY_SPEC, data, cfg, progress=False)
    assert _states_equal(res.ema_state, ref.ema_state)  # the same run, just not stored


def test_corrupt_checkpoint_is_reported_then_retrained(monkeypatch):
    from flowstage_lib.tooling import cache

    data = gaussian_mixture()
    cfg = TrainConfig(steps=6, **{**FAST, "checkpoint_every": 3})
    first = train(TOY_SPEC, data, cfg, progress=False)
    (path,) = [p for s, fin, p in list_checkpoints(first.key) if fin]
    real_load = cache.load

    def bad_load(p):  # checksum fine, content unreadable (e.g. an old torch's pickle)
        if p == path:
            raise RuntimeError("Weights only load failed")
        return real_load(p)

    monkeypatch.setattr(cache, "load", bad_load)
    calls = []
    with pytest.warns(
        RuntimeWarning, match=r"checkpoint .*final00000006.pt is corrupt .*retrain"
    ) as rec:
        again = train(TOY_SPEC, data, cfg, progress=False, callback=calls.append)
    assert rec[0].filename == __file__  # the warning points at the caller of train
    assert calls == [1, 2, 3, 4, 5, 6]  # retrained (the only checkpoint was the bad one)
    assert _states_equal(again.ema_state, first.ema_state)
    assert [s for s, fin, _ in list_checkpoints(first.key) if fin] == [6]  # rewritten


def test_amp_leaves_the_cpu_path_unchanged_without_native_bf16(monkeypatch):
    """Where the CPU has no native bf16 (``FLOWSTAGE_CPU_BF16=0`` stands in for one), ``amp``
    changes nothing: a run with it is bit-for-bit the fp32 run."""
    monkeypatch.setenv("FLOWSTAGE_CPU_BF16", "0")
    data = gaussian_mixture()
    runs = [
        train(TOY_SPEC, data, TrainConfig(steps=6, **FAST, amp=amp, device="cpu"), progress=False)
        for amp in (True, False)
    ]
    a, b = (r.ema_state for r in runs)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert runs[0].history["loss"] == runs[1].history["loss"]


def test_amp_runs_the_network_in_bf16_on_a_cpu_with_native_bf16(monkeypatch):
    """With native bf16 (forced by ``FLOWSTAGE_CPU_BF16=1``) the forward runs under autocast:
    the run differs from the fp32 run in the last bits, learns as well, and is cached under
    another key (the keys hold the numerics)."""
    from flowstage_lib.training.checkpoints import run_key

    data = gaussian_mixture()
    cfg = TrainConfig(steps=6, **FAST, device="cpu")
    runs, keys = {}, {}
    for flag in ("0", "1"):
        monkeypatch.setenv("FLOWSTAGE_CPU_BF16", flag)
        runs[flag] = train(TOY_SPEC, data, cfg, progress=False)
        keys[flag] = run_key(TOY_SPEC, data, cfg)
    assert keys["0"] != keys["1"]
    l0, l1 = (np.asarray(runs[f].history["loss"]) for f in ("0", "1"))
    assert not np.array_equal(l0, l1)
    assert np.allclose(l0, l1, rtol=0.05)  # bf16 rounding, not another trajectory


def test_the_oracle_target_is_computed_outside_autocast(monkeypatch):
    """Where autocast is on (CUDA; here forced on the CPU), it wraps the network only: the
    oracle target (Theorem 2.1's softmax) stays in full precision."""
    from flowstage_lib.training import trainer as trainer_mod

    monkeypatch.setattr(
        trainer_mod, "bf16_autocast", lambda dev, on: torch.autocast("cpu", dtype=torch.bfloat16)
    )
    seen = []
    real = trainer_mod.oracle_targets

    def spy(*args, **kwargs):
        seen.append(torch.is_autocast_enabled("cpu"))
        out = real(*args, **kwargs)
        seen.append(out.dtype)
        return out

    monkeypatch.setattr(trainer_mod, "oracle_targets", spy)
    cfg = TrainConfig(steps=2, **FAST, target="oracle", device="cpu")
    train(TOY_SPEC, gaussian_mixture(), cfg, progress=False)
    assert seen and seen[0::2] == [False] * (len(seen) // 2)
    assert set(seen[1::2]) == {torch.float32}
