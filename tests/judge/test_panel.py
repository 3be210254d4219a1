"""Panel: both judges on a sample set, paired comparisons, rankings and their agreement."""

import numpy as np
import pytest
import torch

from flowstage_lib.data import ImageData, load_dataset
from flowstage_lib.metrics.judge import Judge, JudgeConfig
from flowstage_lib.metrics.judge.networks import PoolJudge, VGGJudge
from flowstage_lib.metrics.judge.panel import Panel, agreement, ranks
from flowstage_lib.metrics.judge.scores import knn_radii

pytestmark = pytest.mark.usefixtures("tmp_cache")  # tests/judge/conftest.py


@pytest.fixture(scope="module")
def small() -> ImageData:
    return load_dataset("mnist5k", "train").subset(torch.arange(200) * 22)


def _panel(small: ImageData) -> Panel:
    torch.manual_seed(0)
    judges = []
    for name, net in (("A", VGGJudge(width=2).eval()), ("B", PoolJudge(width=2).eval())):
        ref = net.features(small.x[:60]).detach()
        judges.append(Judge(name, net, JudgeConfig(), None, ref, knn_radii(ref, 5), "t", 5))
    return Panel(tuple(judges), n_boot=20, seed=0)


def test_score_has_intervals_for_each_judge(small, tmp_cache):
    panel = _panel(small)
    x, y = small.x[100:160], small.y[100:160]
    s = panel.score(x, y)
    assert set(s) == {"A", "B"}
    for v in s.values():
        assert v["fd_low"] <= v["fd"] <= v["fd_high"] and v["n"] == 60
        assert v["acc_low"] <= v["accuracy"] <= v["acc_high"]
    assert any(tmp_cache.rglob("*")), "scores are cached"
    assert panel.score(x, y) == s  # read back from the cache, same numbers
    u = panel.score(x)
    assert np.isnan(u["A"]["accuracy"]) and np.isnan(u["A"]["acc_low"])
    with pytest.raises(ValueError, match="labels must be"):
        panel.score(x, y[:5])


def test_compare_is_paired_and_zero_on_identical_sets(small):
    panel = _panel(small)
    x, y = small.x[100:160], small.y[100:160]
    same = panel.compare(x, x, y)
    assert same["A"]["fd"]["delta"] == 0 and same["B"]["accuracy"]["delta"] == 0
    g = torch.Generator().manual_seed(0)
    noisy = (x + 0.8 * torch.randn(x.shape, generator=g)).clamp(-1, 1)
    d = panel.compare(noisy, x, y)
    for j in ("A", "B"):
        assert d[j]["fd"]["delta"] == pytest.approx(d[j]["fd"]["a"] - d[j]["fd"]["b"])
        assert d[j]["fd"]["low"] > 0  # heavy noise: a resolved, positive FD difference
    with pytest.raises(ValueError, match="differ in shape"):
        panel.compare(x, x[:10], None)


def _scores(a, b):
    return {
        f"r{i}": {"A": {"fd": u}, "B": {"fd": v}} for i, (u, v) in enumerate(zip(a, b, strict=True))
    }


def test_ranks_and_agreement_pass_and_fail():
    same = _scores([3.0, 1.0, 2.0, 4.0], [30.0, 10.0, 20.0, 40.0])
    assert ranks(same)["A"] == {"r0": 3, "r1": 1, "r2": 2, "r3": 4}
    assert agreement(same).tau == pytest.approx(1.0)
    flipped = _scores([3.0, 1.0, 2.0, 4.0], [2.0, 4.0, 3.0, 1.0])
    assert agreement(flipped).tau == pytest.approx(-1.0)
    acc = {"r0": {"A": {"accuracy": 0.9}, "B": {"accuracy": 0.9}},
           "r1": {"A": {"accuracy": 0.5}, "B": {"accuracy": 0.6}}}  # fmt: skip
    assert ranks(acc, "accuracy")["A"] == {"r0": 1, "r1": 2}  # higher is better
    with pytest.raises(ValueError, match="metric"):
        ranks(same, "speckle")
    with pytest.raises(ValueError, match=">= 2 rows"):
        agreement({"r0": same["r0"]})
    with pytest.raises(ValueError, match="same judges"):
        agreement({"r0": {"A": {"fd": 1.0}}, "r1": {"B": {"fd": 2.0}}})
