"""Section 5 in the calibrated setting of Section 4 (issue 14): the same k as Section 4 (the same
calibration cache entry), samples divided by k before any judge, each latent space calibrated
on its own latents, and Table 3's placement rule. Tiny synthetic data and untrained
(preconditioned) networks; each test fails without the behaviour it names."""

import math
from types import SimpleNamespace

import pytest
import torch

from flowstage_lib.analyze.calibrate import Calibration
from flowstage_lib.data import ImageData, calibrated_decode
from flowstage_lib.experiments import calibration
from flowstage_lib.experiments import sec5_practices as sec5
from flowstage_lib.experiments.sec5_practices import latent_study, setting
from flowstage_lib.metrics import evaluate
from flowstage_lib.models import ModelSpec, build_model
from flowstage_lib.path import shifted_grid
from flowstage_lib.solver import ModelVelocity
from flowstage_lib.tooling.book import load_profile

SHAPE = (1, 8, 8)
K = 3
KS = 4.0  # the data scale k of the "calibrated" models


@pytest.fixture(autouse=True)
def _env(monkeypatch, tmp_path):
    monkeypatch.setenv("FLOWSTAGE_CACHE", str(tmp_path))
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _data(n_per_class=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(K, *SHAPE, generator=g)
    y = torch.arange(K).repeat_interleave(n_per_class)
    x = (centres[y] + 0.3 * torch.randn(len(y), *SHAPE, generator=g)).clamp(-1, 1).float()
    return ImageData(x=x, y=y, name="toy/train", kind="pixels", num_classes=K)


def _result(k=KS, key="toy-model"):
    torch.manual_seed(0)
    spec = ModelSpec("mlp", "S", SHAPE, K, {"width": 32, "depth": 1}, data_scale=k, sigma_data=0.58)
    m = build_model(spec)
    for p in m.parameters():
        torch.nn.init.normal_(p, std=0.05)
    return SimpleNamespace(model=m.eval(), spec=spec, key=key, cfg=None, snapshots=[], steps=3)


def _tr(t09, lo, hi):
    return SimpleNamespace(t09=t09, t09_interval=(lo, hi))


def test_placement_is_absolute_only_when_the_transition_interval_holds_0_1():
    assert sec5.placement_factor(_tr(0.104, 0.09, 0.12)) == 1.0
    k = sec5.placement_factor(_tr(0.33, 0.31, 0.35))  # native MNIST-5k: relative placement
    assert k == pytest.approx(sec5.snr_factor(0.1, 0.33))
    assert sec5.placement_factor(_tr(0.13, 0.11, 0.15)) == pytest.approx(sec5.snr_factor(0.1, 0.13))
    nan = sec5.placement_factor(_tr(0.1, math.nan, math.nan))  # no interval: relative stays
    assert nan == pytest.approx(sec5.snr_factor(0.1, 0.1)) and nan == pytest.approx(1.0)
    assert sec5.placement_factor(_tr(0.12, math.nan, math.nan)) != 1.0


def test_table2_3_samples_are_divided_by_k_before_the_judges():
    r = _result()
    s = sec5.sample_images(r, 12, 4, 0)
    desc = sec5.scoring.describe(sec5.model_id(r), n_steps=4)
    args = (ModelVelocity(r.model), desc, 12, SHAPE, K)
    kw = dict(grid=shifted_grid(4, 1.0), seed=0)
    raw = evaluate.sample_set(*args, **kw)  # k-space, clamped to the pixel range
    want = evaluate.sample_set(*args, decode=calibrated_decode(KS), **kw)
    assert torch.equal(s["x"], want["x"]) and not torch.equal(s["x"], raw["x"])
    native = _result(k=1.0, key="toy-native")
    assert sec5.sample_images(native, 12, 4, 0)["x"].shape == (12, *SHAPE)


def test_checkpoint_samples_divide_by_k_then_decode():
    r = _result()
    seen = []

    def decoder(z):
        seen.append(z)
        return z

    out = latent_study.checkpoint_samples(r, 3, 6, 4, 0, decode=decoder)
    plain = latent_study.checkpoint_samples(_result(k=1.0, key="toy-native"), 3, 6, 4, 0)
    assert seen and out["x"].shape == plain["x"].shape == (6, *SHAPE)
    # the decoder saw x / k: an untrained net's samples are O(1) in k-space, so O(1 / k) here
    assert float(seen[0].abs().max()) < 2.0


def test_section5_reuses_section4_calibration_cache_entry(monkeypatch):
    train = _data()
    calls = []
    real = calibration.calibrate_scale

    def counting(*a, **k):
        calls.append(k)
        return real(*a, **k)

    monkeypatch.setattr(calibration, "calibrate_scale", counting)
    s4 = dict(load_profile("smoke")["sec4_stages"])
    cal4 = calibration.calibrated_scale(s4, train)
    P = SimpleNamespace(profile="smoke", section="sec5_practices", setting="calibrated",
                        calibration_target_t=0.1, n_queries=999, n_boot=7, seed=5)  # fmt: skip
    S = sec5.calibrated_setting(P, train)
    assert len(calls) == 1  # the second call hit Section 4's cache entry
    assert S.k == cal4.k and S.scale == cal4.k and S.setting == "calibrated"
    assert torch.allclose(S.data.x, cal4.k * train.x)
    native = sec5.calibrated_setting(SimpleNamespace(**{**vars(P), "setting": "native"}), train)
    assert native.k is None and native.data is train and native.scale == 1.0
    with pytest.raises(ValueError, match="setting"):
        sec5.calibrated_setting(SimpleNamespace(**{**vars(P), "setting": "both"}), train)


def _cal(k):
    return Calibration(k, (k, k), 0.9, 0.1, 0.3, (0.3, 0.3), {})


def test_each_latent_space_is_calibrated_on_its_own_latents(monkeypatch):
    train = _data()
    lat = ImageData(x=train.x[:, :, :4, :4] * 0.5, y=train.y, name="lat", num_classes=K)
    seen = {}

    def fake(params, data, section="sec4_stages", **_):
        seen[data.name] = params
        return _cal(2.0 if data.name == "lat" else 99.0)

    monkeypatch.setattr(calibration, "calibrated_scale", fake)
    S = setting.Setting5("calibrated", _cal(KS), KS, train)
    P = SimpleNamespace(profile="smoke", section="sec5_practices", setting="calibrated",
                        calibration_target_t=0.1)  # fmt: skip
    scales, data_k = sec5.calibrate_spaces(P, {"pixels": train, "recon": lat}, S)
    assert scales == {"pixels": KS, "recon": 2.0} and set(seen) == {"lat"}
    assert seen["lat"]["n_queries"] == load_profile("smoke")["sec4_stages"]["n_queries"]
    assert torch.allclose(data_k["recon"].x, 2.0 * lat.x)
    assert torch.allclose(data_k["pixels"].x, KS * train.x)
    nat = setting.Setting5("native", _cal(KS), None, train)
    scales, data_k = sec5.calibrate_spaces(P, {"pixels": train, "recon": lat}, nat)
    assert scales == {"pixels": None, "recon": None} and data_k["recon"] is lat


def test_study_models_train_each_space_at_its_scale(monkeypatch):
    got = []
    monkeypatch.setattr(latent_study.zoo, "get_model", lambda *a, **k: got.append((a, k)) or k)
    out = sec5.study_models("smoke", "S", {"recon": "R"}, {"pixels": KS, "recon": 2.0})
    assert out["pixels"]["data_scale"] == KS and out["recon"]["data_scale"] == 2.0
    assert out["recon"]["latent"] == "R" and out["pixels"]["latent"] is None
    orc = sec5.study_model("smoke", "S", target="oracle", data_scale=KS)
    assert orc["data_scale"] == KS and got[-1][0][2] == "oracle"
    assert sec5.study_models("smoke", "S", {})["pixels"]["data_scale"] is None


def test_why_text_says_where_table3_ran():
    args = (False, 0.1, 0.5, 1.0, 0, 0.5, 0.104, False)
    assert "paper's own intervals" in sec5.why_text(*args, placement=1.0)
    assert "moved to our transition" in sec5.why_text(*args, placement=2.0)
    assert "moved to our transition" in sec5.why_text(*args)


def _panel(data):
    from flowstage_lib.metrics.judge import Judge, JudgeConfig
    from flowstage_lib.metrics.judge.networks import PoolJudge, VGGJudge
    from flowstage_lib.metrics.judge.panel import Panel
    from flowstage_lib.metrics.judge.scores import knn_radii

    torch.manual_seed(0)
    judges = []
    nets = (("A", VGGJudge(1, K, width=2)), ("B", PoolJudge(1, K, 2, fc=8, image_size=(8, 8))))
    for name, net in nets:
        net = net.eval()
        ref = net.features(data.x).detach()
        judges.append(Judge(name, net, JudgeConfig(), None, ref, knn_radii(ref, 3), "t", K))
    return Panel(tuple(judges), n_boot=8, seed=0)


def test_table2_clock_check_contrasts_both_clocks():
    data, native, calib = _data(), _result(k=1.0, key="toy-native"), _result()
    panel = _panel(data)
    c = sec5.table2_clock_check(native, calib, panel, [2.0, 1.0, 0.5], n=12, n_steps=4, seed=0)
    assert c.k == KS and set(c.verdicts) == {"native", "calibrated"}
    assert all(set(v) == {"A", "B", "both"} for v in c.verdicts.values())
    for s in c.shifts:
        d = c.between[s]["A"]["fd"]
        assert d["delta"] == pytest.approx(d["a"] - d["b"])
        assert d["a"] == pytest.approx(c.scores["native"][s]["A"]["fd"], rel=1e-4)
    tab = sec5.clock_check_table(c)
    assert len(tab) == 4 and tab.row.iloc[-1] == "Table 2 verdict"
    assert ("agree" if c.agree() else "differ") in sec5.clock_check_text(c)
    assert sec5.table2_clock_check(native, native, panel, [1.0], 12, 4, 0) is None
    assert "native" in sec5.clock_check_text(None)
    with pytest.raises(ValueError, match="s = 1.0"):
        sec5.table2_clock_check(native, calib, panel, [2.0], 12, 4, 0)
