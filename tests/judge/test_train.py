"""Judge networks, cached training, Judge.score and the robustness report (tiny, seconds)."""

import numpy as np
import pytest
import torch
import torch.nn as nn

from flowstage_lib.data import ImageData, load_dataset
from flowstage_lib.metrics.judge import Judge, JudgeScore, get_judge
from flowstage_lib.metrics.judge import train as judge_train
from flowstage_lib.metrics.judge.networks import PoolJudge, VGGJudge, build_network
from flowstage_lib.metrics.judge.robustness import RobustnessReport, robustness_report
from flowstage_lib.metrics.judge.scores import knn_radii
from flowstage_lib.metrics.judge.train import JudgeConfig, get_judge_network


@pytest.fixture(scope="module")
def small() -> ImageData:
    return load_dataset("mnist5k", "train").subset(torch.arange(200) * 22)  # every class


@pytest.mark.parametrize("cls,F", [(VGGJudge, 64), (PoolJudge, 128)])
def test_networks_expose_features_and_logits(cls, F):
    net = cls().eval()
    x = torch.zeros(3, 1, 28, 28)
    assert net.features(x).shape == (3, F) and net.logits(x).shape == (3, 10)
    assert net.feature_dim == F
    torch.testing.assert_close(net(x), net.logits(x))


def test_build_network_rejects_unknown_arch():
    with pytest.raises(ValueError, match="arch='resnet'"):
        build_network("resnet", 1, 10, 16, (28, 28))
    with pytest.raises(ValueError, match="divisible by 4"):
        PoolJudge(image_size=(30, 30))


def test_training_is_cached_and_keyed(tmp_cache, small, monkeypatch):
    calls = []
    real = judge_train.train_judge

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(judge_train, "train_judge", counting)
    cfg = JudgeConfig("pool", width=4, steps=3, batch_size=16)
    net1, rep1 = get_judge_network(cfg, data=small, progress=False)
    net2, rep2 = get_judge_network(cfg, data=small, progress=False)
    assert len(calls) == 1  # the second call loaded the cache
    for (k, a), b in zip(net1.state_dict().items(), net2.state_dict().values(), strict=True):
        assert torch.equal(a, b), k
    assert rep1 == rep2 and rep1.steps == 3 and 0 <= rep1.heldout_accuracy <= 1
    assert any((tmp_cache / "judge").glob("*.pt"))
    get_judge_network(JudgeConfig("pool", width=4, steps=3, batch_size=16, seed=1), small, False)
    assert len(calls) == 2  # a new seed is a new key
    get_judge_network(cfg, data=small.subset(slice(0, 100)), progress=False)
    assert len(calls) == 3  # new data is a new key


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="steps"):
        JudgeConfig(steps=0)
    with pytest.raises(TypeError, match="JudgeConfig"):
        get_judge_network({"arch": "vgg"})
    with pytest.raises(ValueError, match="name='C'"):
        get_judge("C")


def _judge(small: ImageData) -> Judge:
    torch.manual_seed(0)
    net = VGGJudge(width=2).eval()
    ref = net.features(small.x[:60]).detach()
    return Judge("A", net, JudgeConfig(), None, ref, knn_radii(ref, 5), "test images", 5)


def test_judge_score_fields(small):
    judge = _judge(small)
    s = judge.score(small.x[100:140], small.y[100:140], kid_subsets=5)
    assert isinstance(s, JudgeScore) and s.n == 40
    for v in (s.precision, s.recall, s.density / 10, s.coverage, s.accuracy):
        assert 0 <= v <= 1
    assert s.fd >= 0 and s.kid_se >= 0 and np.isfinite(s.kid)
    assert judge.correct(small.x[:10], small.y[:10]).shape == (10,)
    with pytest.raises(ValueError, match="x must be"):
        judge.score(small.x[0])


def test_judge_compare_is_paired(small):
    judge = _judge(small)
    xa, y = small.x[100:160], small.y[100:160]
    noisy = (xa + 0.5 * torch.randn(xa.shape, generator=torch.Generator().manual_seed(0))).clamp(
        -1, 1
    )
    same = judge.compare(xa, xa, y, n_boot=50)
    assert same["fd"].delta == 0 and same["fd"].low == same["fd"].high == 0
    res = judge.compare(noisy, xa, y, n_boot=50)
    assert res["fd"].paired and res["fd"].delta == pytest.approx(
        res["fd"].score_a - res["fd"].score_b
    )
    assert set(res) == {"fd", "accuracy"}
    with pytest.raises(ValueError, match="same shape"):
        judge.compare(xa, xa[:5])


class _Lookup(nn.Module):
    """Knows the clean images by heart: right on them, class 0 on anything else."""

    def __init__(self, data: ImageData):
        super().__init__()
        self.x, self.y = data.x.flatten(1), data.y
        self.p = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        d = torch.cdist(x.flatten(1), self.x, compute_mode="donot_use_mm_for_euclid_dist")
        hit = d.min(1).values < 1e-4
        pred = torch.where(hit, self.y[d.argmin(1)], torch.zeros_like(self.y[: len(x)]))
        return nn.functional.one_hot(pred, 10).float()


def test_robustness_report_applies_each_corruption(small):
    data = small.subset(slice(0, 200, 4))
    assert len(data.y.unique()) == 10
    rep = robustness_report(_Lookup(data), data=data)
    assert isinstance(rep, RobustnessReport) and rep.n == 50
    assert rep.clean == 1.0
    frac0 = float((data.y == 0).float().mean())
    for v in (rep.noise_0_1, rep.noise_0_2, rep.noise_0_3, rep.blur, rep.shift, rep.rotate):
        assert v <= frac0 + 0.1  # every corrupted image differs from its clean one
    assert rep.clean_ci[0] < 1.0 <= rep.clean_ci[1] + 1e-12
    assert rep.meets_targets is False
    assert "mnist5k/train" in rep.data_note
    with pytest.raises(ValueError, match="n must be"):
        robustness_report(_Lookup(data), data=data, n=0)


def test_get_judge_end_to_end_with_held_out_reference(tmp_cache, monkeypatch):
    import flowstage_lib.metrics.judge as judge_pkg

    tiny = {"A": JudgeConfig("vgg", width=2, batch_size=8), "B": JudgeConfig("pool", width=2)}
    monkeypatch.setattr(judge_pkg, "JUDGE_CONFIGS", tiny)
    a = get_judge("A", "smoke", progress=False, steps=2)
    assert a.ref_feats.shape == (2000, 8) and len(a.ref_radii) == len(a.ref_feats)
    assert "held-out images" in a.ref_note
    again = get_judge("A", "smoke", progress=False, steps=2)
    torch.testing.assert_close(again.ref_feats, a.ref_feats)


def test_training_does_not_depend_on_what_ran_before(small):
    """Judge B's dropout draws from the global generator: training seeds it, so the weights
    are the same whether or not the process drew random numbers first (e.g. trained judge A)."""
    cfg = JudgeConfig("pool", width=4, steps=4, batch_size=16)
    torch.manual_seed(123)
    a, _, _ = judge_train.train_judge(small, cfg, progress=False, device="cpu")
    torch.manual_seed(456)
    torch.rand(1000)
    b, _, _ = judge_train.train_judge(small, cfg, progress=False, device="cpu")
    for (name, va), vb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(va, vb), name
    state = torch.get_rng_state()
    judge_train.train_judge(small, cfg, progress=False, device="cpu")
    assert torch.equal(torch.get_rng_state(), state)  # the caller's generator is left alone
