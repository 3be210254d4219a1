"""Section 4 in the calibrated setting (issue 14): models trained on k x1 sample in k-space, the
oracle runs on k x1, and every image is divided by k before it is measured. Tiny synthetic data
(8 x 8, 3 classes) and untrained (preconditioned) networks; each test fails without the map."""

from types import SimpleNamespace

import pytest
import torch

from flowstage_lib.data import ImageData
from flowstage_lib.experiments import sec4_stages as sec4
from flowstage_lib.metrics import FeatureClassifier
from flowstage_lib.models import ModelSpec, Preconditioned, build_model
from flowstage_lib.oracle import OracleVelocity
from flowstage_lib.solver import ModelVelocity, sample

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


def _data(n_per_class=8, seed=0, name="toy/train"):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand((K * n_per_class, *SHAPE), generator=g) * 2 - 1  # (N, 1, 8, 8) in [-1, 1]
    y = torch.arange(K).repeat_interleave(n_per_class)
    return ImageData(x=x, y=y, name=name, kind="pixels", num_classes=K)


def _result(k=KS, seed=0, key=""):
    torch.manual_seed(seed)
    spec = ModelSpec("mlp", "S", SHAPE, K, {"width": 32, "depth": 1}, data_scale=k, sigma_data=0.58)
    m = build_model(spec)
    for p in m.parameters():
        torch.nn.init.normal_(p, std=0.05)
    return SimpleNamespace(model=m.eval(), spec=spec, key=key, cfg=None)


def _classifier(seed=0):
    torch.manual_seed(seed)
    return FeatureClassifier(1, K, width=4, image_size=(8, 8)).eval()


def test_helpers_map_between_the_spaces():
    r, train = _result(), _data()
    assert isinstance(r.model, Preconditioned) and sec4.data_scale(r) == KS
    x = torch.randn(2, *SHAPE)
    assert torch.equal(sec4.to_pixels(r, sec4.to_model_space(r, x)), x)
    assert torch.allclose(sec4.scaled(r, train).x, KS * train.x)
    native = SimpleNamespace(model=None)  # no spec: k = 1, every map is the identity
    assert sec4.to_pixels(native, x) is x and sec4.scaled(native, train) is train
    orc = sec4.oracle_for(r, train)
    assert sec4.oracle_for(r, train, check=orc) is orc
    with pytest.raises(ValueError, match="another scale"):
        sec4.oracle_for(r, train, check=OracleVelocity(train.x, labels=train.y))


def test_intermediate_predictions_are_divided_by_k():
    r, clf = _result(), _classifier()
    out = sec4.intermediate_predictions(r, clf, n=6, cfg_scale=1.0, n_steps=5, seed=0)
    ref = sample(ModelVelocity(r.model), 6, SHAPE, y=out["y"], n_steps=5, seed=0).x1
    assert torch.equal(out["x1"], sec4.to_u8(ref / KS))
    assert out["pixel"][-1].max() < 1e-5  # the last prediction is the (pixel) sample


def test_mixed_sampling_oracle_alone_lands_on_a_training_image():
    train, r, clf = _data(), _result(), _classifier()
    orc = sec4.oracle_for(r, train)  # on k x1
    out = sec4.mixed_sampling(r, train, clf, 1.0, n=6, n_steps=10, oracle=orc)
    assert bool(out["memorized"].all()) and out["d1"].max() < 1e-4  # in pixels, after / k
    assert torch.equal(train.y[out["nn_index"]], out["y"])
    with pytest.raises(ValueError, match="another scale"):  # a pixel-space oracle is refused
        sec4.mixed_sampling(r, train, clf, 0.5, n=6, n_steps=10, oracle=OracleVelocity(train.x))


def test_refinement_renoises_k_x1_and_returns_pixels():
    images, train, r, clf = _data(seed=1, name="toy/heldout"), _data(), _result(), _classifier()
    out = sec4.refinement(r, images, train, clf, [0.0, 0.97], n=6, n_steps=20)
    px = out["pixel"].mean(1) / out["baseline_pixel"].mean()
    assert px[1] < 0.2 < px[0]  # resumed late: back at the source, in pixels


class _OracleNet(torch.nn.Module):
    """The oracle of k x1 as a 'network': its oracle loss is zero on k x1."""

    def __init__(self, data):
        super().__init__()
        self.dummy = torch.nn.Parameter(torch.zeros(()))
        self.oracle = OracleVelocity(KS * data.x, labels=data.y)
        self.num_classes = K

    def forward(self, x, t, y):
        return self.oracle.velocity(x, t, y).float()


def test_loss_curve_runs_on_k_x1():
    train = _data()
    r = SimpleNamespace(
        model=_OracleNet(train),
        spec=SimpleNamespace(data_scale=KS),
        key="oracle-net-k",
        cfg=SimpleNamespace(steps=1),
    )
    c = sec4.loss_curve(r, train, [0.0, 0.3, 0.9], n=48, seed=0)
    assert max(abs(v) for v in c["oracle"]) < 1e-8
    assert 0.2 * KS**2 < c["cfm"][0] < 0.45 * KS**2  # within-class variance of k x1 (k^2 / 3)


def test_stage_swap_divides_by_k_and_refuses_mixed_scales():
    r = _result()
    s = sec4.stage_swap_samples({"S": r, "L": r}, [("S", "L")], [0.5], n=6, n1=3, n2=3)
    x = s[(0.5, "S", "L")]["x"]
    from flowstage_lib.path import stagewise_grid

    ref = sample(ModelVelocity(r.model), 6, SHAPE, y=s[(0.5, "S", "L")]["y"],
                 grid=stagewise_grid(3, 3, 0.5), seed=0).x1  # fmt: skip
    assert (sec4.from_u8(x) - (ref / KS).clamp(-1, 1)).abs().max() < 2 / 255 + 1e-6
    with pytest.raises(ValueError, match="data scales"):
        sec4.stage_swap_samples({"S": r, "N": _result(k=1.5)}, [("S", "N")], [0.5], n=6, n1=3, n2=3)
