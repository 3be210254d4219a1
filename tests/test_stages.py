"""Section 4 compute (flowstage_lib.stages): criteria helpers and the experiments' invariants
on a tiny synthetic data set (8 x 8 images, 3 classes) with untrained networks."""

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from flowstage_lib import stages
from flowstage_lib.data import ImageData
from flowstage_lib.evaluate import Evaluator
from flowstage_lib.metrics import FeatureClassifier, extract_features
from flowstage_lib.model import ModelSpec, build_model
from flowstage_lib.oracle import OracleVelocity
from flowstage_lib.sampler import ModelVelocity, sample

SHAPE = (1, 8, 8)
K = 3


@pytest.fixture(autouse=True)
def _env(monkeypatch, tmp_path):
    """A private cache, and one intra-op thread (2 OpenMP threads on small ops are ~10x slower
    on a shared 2-core machine)."""
    monkeypatch.setenv("FLOWSTAGE_CACHE", str(tmp_path))
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _data(n_per_class=8, seed=0, name="toy/train"):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand((K * n_per_class, *SHAPE), generator=g) * 2 - 1  # (N, 1, 8, 8) in [-1, 1]
    y = torch.arange(K).repeat_interleave(n_per_class)
    return ImageData(x=x, y=y, name=name, kind="pixels", num_classes=K)


def _result(seed=0, key="", steps=None):
    torch.manual_seed(seed)
    spec = ModelSpec("mlp", "S", SHAPE, K, {"width": 32, "depth": 1})
    m = build_model(spec)
    for p in m.parameters():  # away from the zero init: outputs depend on x, t, y
        torch.nn.init.normal_(p, std=0.05)
    cfg = SimpleNamespace(steps=steps) if steps is not None else None
    return SimpleNamespace(model=m.eval(), spec=spec, key=key, cfg=cfg)


def _classifier(seed=0):
    torch.manual_seed(seed)
    return FeatureClassifier(1, K, width=4, image_size=(8, 8)).eval()


# ----------------------------------------------------------------------------- helpers


@pytest.mark.parametrize("direction,y,level,expected", [
    ("below", [1.0, 0.6, 0.2, 0.0], 0.4, 1.5),   # between t = 1 (0.6) and t = 2 (0.2)
    ("below", [0.3, 0.2, 0.1, 0.0], 0.5, 0.0),   # already below at t[0]
    ("below", [1.0, 0.9, 0.8, 0.7], 0.5, math.nan),
    ("above", [0.0, 0.0, 1.0, 1.0], 0.5, 1.5),
    ("above", [0.0, 0.25, 0.5, 1.0], 0.5, 2.0),  # reaches the level exactly on the grid
])
def test_first_crossing(direction, y, level, expected):
    got = stages.first_crossing([0.0, 1.0, 2.0, 3.0], y, level, direction)
    if math.isnan(expected):
        assert math.isnan(got)
    else:
        assert got == pytest.approx(expected)


def test_first_crossing_rejects_bad_input():
    with pytest.raises(ValueError, match="increasing"):
        stages.first_crossing([0.0, 0.0], [1.0, 0.0], 0.5)
    with pytest.raises(ValueError, match="same length"):
        stages.first_crossing([0.0, 1.0], [1.0], 0.5)
    with pytest.raises(ValueError, match="direction"):
        stages.first_crossing([0.0, 1.0], [1.0, 0.0], 0.5, "down")


def test_verdict():
    assert stages.verdict(2, 2) == "reproduced"
    assert stages.verdict(1, 3) == "partly"
    assert stages.verdict(0, 2) == "not reproduced"
    with pytest.raises(ValueError):
        stages.verdict(3, 2)


def test_swap_costs():
    def row(split, a, b, fd, half=0.5):
        return {"split": split, "stage1": a, "stage2": b, "fd": fd, "fd_low": fd - half,
                "fd_high": fd + half}

    rows = [row(0.1, "L", "L", 3.0), row(0.1, "S", "L", 4.0), row(0.1, "L", "S", 11.0),
            row(0.1, "S", "S", 12.0),
            row(0.2, "L", "L", 3.0), row(0.2, "S", "L", 5.0, half=2.0),
            row(0.2, "L", "S", 6.0, half=2.0), row(0.2, "S", "S", 9.0)]
    c = {r["split"]: r for r in stages.swap_costs(rows, strong="L", weak="S")}
    assert c[0.1]["cost_stage1"] == pytest.approx(1.0)
    assert c[0.1]["cost_stage2"] == pytest.approx(8.0)
    assert c[0.1]["ordering"] and c[0.1]["separated"]
    assert c[0.1]["fd_weak"] == 12.0
    assert c[0.2]["ordering"] and not c[0.2]["separated"]  # intervals [3, 7] and [4, 8] overlap


def test_model_key_includes_the_budget():
    r = _result()
    a = SimpleNamespace(model=r.model, key="run", cfg=SimpleNamespace(steps=100))
    b = SimpleNamespace(model=r.model, key="run", cfg=SimpleNamespace(steps=200))
    assert stages.model_key(a) == "run@100" and stages.model_key(a) != stages.model_key(b)
    # without a run key: the weights decide
    k0 = stages.model_key(_result(seed=0))
    assert k0.startswith("weights:")
    assert k0 == stages.model_key(_result(seed=0)) != stages.model_key(_result(seed=1))


def test_u8_round_trip():
    x = torch.linspace(-1.2, 1.2, 50)
    back = stages.from_u8(stages.to_u8(x))
    assert back.min() == -1 and back.max() == 1
    assert (back - x.clamp(-1, 1)).abs().max() <= 1 / 127.5


# ----------------------------------------------------------------------------- experiments


def test_intermediate_predictions_end_at_the_final_sample():
    r, clf = _result(), _classifier()
    out = stages.intermediate_predictions(r, clf, n=6, cfg_scale=1.0, n_steps=5, seed=0)
    assert out["t"].tolist() == pytest.approx([0.0, 0.2, 0.4, 0.6, 0.8])
    assert out["x1_hat"].shape == (5, 6, *SHAPE) and out["x1_hat"].dtype == torch.uint8
    assert out["y"].tolist() == [0, 1, 2, 0, 1, 2]
    # the last prediction x_t + (1 - t) v at t = 1 - dt is the last Euler step itself
    assert out["pixel"][-1].max() < 1e-5
    assert out["structural"][-1].max() < 1e-8
    assert bool(out["agree"][-1].all())
    ref = sample(ModelVelocity(r.model), 6, SHAPE, y=out["y"], n_steps=5, seed=0).x1
    assert torch.equal(out["x1"], stages.to_u8(ref))


def test_mixed_sampling_endpoints():
    train, r, clf = _data(), _result(), _classifier()
    orc = OracleVelocity(train.x, labels=train.y)
    oracle_only = stages.mixed_sampling(r, train, clf, 1.0, n=6, n_steps=10, oracle=orc)
    # the oracle alone lands on a training image of the requested class
    assert bool(oracle_only["memorized"].all())
    assert oracle_only["d1"].max() < 1e-4
    assert oracle_only["structural"].max() < 1e-8
    assert torch.equal(train.y[oracle_only["nn_index"]], oracle_only["y"])
    model_only = stages.mixed_sampling(r, train, clf, 0.0, n=6, n_steps=10, oracle=orc)
    ref = sample(ModelVelocity(r.model), 6, SHAPE, y=model_only["y"], n_steps=10, seed=0).x1
    assert torch.equal(model_only["x"], stages.to_u8(ref))  # t_switch = 0 is the model alone
    again = stages.mixed_sampling(r, train, clf, 0.0, n=6, n_steps=10, oracle=orc)  # cached
    assert torch.equal(again["x"], model_only["x"]) and again["seconds"] == model_only["seconds"]


def test_refinement_pairs_sources_and_keeps_late_layouts():
    images, train, r, clf = _data(seed=1, name="toy/heldout"), _data(), _result(), _classifier()
    out = stages.refinement(r, images, train, clf, [0.0, 0.5, 0.95], n=6, n_steps=20)
    src = stages.from_u8(out["source"])
    for i in range(6):  # every source is an image of its requested class
        match = (images.x - src[i]).flatten(1).abs().max(1).values < 1 / 127.5
        assert bool(match.any()) and int(images.y[match][0]) == int(out["y"][i])
    assert out["x"].shape == (3, 6, *SHAPE)
    assert bool((out["baseline_pixel"] > 0).all())  # the partner is another image
    px = out["pixel"].mean(1)
    assert px[2] < px[1] < px[0]  # the later we resume, the closer to the source


class _OracleNet(torch.nn.Module):
    """The oracle as a 'network' (for oracle_loss_per_t): its oracle loss is zero."""

    def __init__(self, data):
        super().__init__()
        self.dummy = torch.nn.Parameter(torch.zeros(()))
        self.oracle = OracleVelocity(data.x, labels=data.y)
        self.num_classes = K

    def forward(self, x, t, y):
        return self.oracle.velocity(x, t, y).float()


def test_loss_curve_of_the_oracle_is_zero_and_cfm_gap_is_the_oracle_variance():
    train = _data()
    r = SimpleNamespace(model=_OracleNet(train), key="oracle-net", cfg=SimpleNamespace(steps=1))
    t = [0.0, 0.3, 0.6, 0.9]
    c = stages.loss_curve(r, train, t, n=48, seed=0)
    assert np.allclose(c["oracle"], 0.0, atol=1e-10)
    # at t = 0 the gap is the within-class variance per dimension: 1/3 for U[-1, 1] pixels
    assert 0.2 < c["cfm"][0] < 0.45
    assert c["cfm"][-1] < 1e-6  # at t = 0.9 the posterior is one-hot: u* = x1 - x0


def test_stage_swap_with_one_model_is_the_model():
    train, r, clf = _data(), _result(), _classifier()
    ev = Evaluator(clf, None, train, extract_features(clf, train.x))
    samples = stages.stage_swap_samples({"S": r, "L": r}, [("L", "L"), ("S", "L"), ("L", "S")],
                                        [0.1, 0.5], n=30, n1=3, n2=3)
    rows = stages.stage_swap_table(samples, ev, n_boot=10)
    assert [(x["split"], x["stage1"], x["stage2"]) for x in rows] == [
        (s, a, b) for s in (0.1, 0.5) for a, b in (("L", "L"), ("S", "L"), ("L", "S"))]
    for s in (0.1, 0.5):
        fds = {x["fd"] for x in rows if x["split"] == s}
        assert len(fds) == 1  # same model in both stages: every pair is the same sampler
    assert all(x["n"] == 30 and x["fd_low"] <= x["fd"] <= x["fd_high"] for x in rows)


def test_stage_swap_shares_stage_one_exactly():
    """Integrating stage 1 once and resuming with each stage-2 model is the same sampler as
    StageSwapVelocity over the whole stage-wise grid."""
    from flowstage_lib.sampler import StageSwapVelocity, stagewise_grid

    train, clf = _data(), _classifier()
    ra, rb = _result(seed=0), _result(seed=1)
    ev = Evaluator(clf, None, train, extract_features(clf, train.x))
    samples = stages.stage_swap_samples({"a": ra, "b": rb}, [("a", "a"), ("a", "b")], [0.3],
                                        n=12, n1=3, n2=4)
    rows = stages.stage_swap_table(samples, ev, n_boot=10)
    y = torch.arange(12) % K
    for (s1, s2), row in zip([(ra, ra), (ra, rb)], rows, strict=True):
        fn = StageSwapVelocity(ModelVelocity(s1.model), ModelVelocity(s2.model), 0.3)
        ref = sample(fn, 12, SHAPE, y=y, grid=stagewise_grid(3, 4, 0.3), seed=0).x1
        score = ev.score(stages.from_u8(stages.to_u8(ref)), y, n_boot=10, seed=0)
        assert row["fd"] == pytest.approx(score.fd, rel=1e-9)
    assert rows[0]["fd"] != rows[1]["fd"]


def test_paired_fd_difference():
    from flowstage_lib.metrics import frechet_distance

    train, clf = _data(), _classifier()
    ev = Evaluator(clf, None, train, extract_features(clf, train.x))
    g = torch.Generator().manual_seed(3)
    xa = torch.rand((40, *SHAPE), generator=g) * 2 - 1
    xb = xa + 0.3 * torch.randn(xa.shape, generator=g)
    d, lo, hi = stages.paired_fd_difference(ev, xa, xa, n_boot=20)
    assert (d, lo, hi) == (0.0, 0.0, 0.0)  # a set against itself, resampled in pairs
    d, lo, hi = stages.paired_fd_difference(ev, xa, xb, n_boot=50)
    ref = frechet_distance(ev.features(xa), ev.ref_feats) - frechet_distance(
        ev.features(xb), ev.ref_feats)
    assert d == pytest.approx(ref) and lo <= d <= hi
    with pytest.raises(ValueError, match="same size"):
        stages.paired_fd_difference(ev, xa, xb[:5])


def test_thumbnail_distance_ignores_detail_within_blocks():
    g = torch.Generator().manual_seed(0)
    a = torch.rand((3, 1, 28, 28), generator=g) * 1.6 - 0.8
    checker = (torch.arange(28)[:, None] + torch.arange(28)[None, :]) % 2 * 2 - 1.0  # +-1
    b = a + 0.1 * checker  # zero mean on every 4 x 4 block
    assert torch.allclose(stages.thumbnail_distance(a, a), torch.zeros(3))
    assert stages.thumbnail_distance(a, b).max() < 1e-6
    assert (b - a).flatten(1).pow(2).mean(1).sqrt().min() > 0.09  # yet the pixels differ
    shifted = torch.roll(a, 8, dims=-1)
    assert stages.thumbnail_distance(a, shifted).min() > 0.05  # a moved layout does not
