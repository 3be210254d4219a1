"""One pass per image set (:mod:`flowstage_lib.metrics.judge.embed`): the memo returns what a
fresh pass returns, stays bounded, and the judge's scores read it."""

import pytest
import torch

from flowstage_lib.metrics.judge import Judge, JudgeConfig
from flowstage_lib.metrics.judge.embed import MEMO_SETS, embed
from flowstage_lib.metrics.judge.networks import PoolJudge, VGGJudge
from flowstage_lib.metrics.judge.scores import knn_radii


@pytest.fixture(params=["vgg", "pool"])
def net(request):
    torch.manual_seed(0)
    n = VGGJudge(width=2) if request.param == "vgg" else PoolJudge(width=2, fc=8)
    return n.train()  # embed must switch to eval mode itself (BN, dropout)


def test_one_pass_equals_separate_calls(net):
    x = torch.rand(37, 1, 28, 28) * 2 - 1
    e = embed(net, x, {}, batch_size=10)
    net.eval()
    with torch.no_grad():
        f, logits = net.features(x), net.logits(x)
    torch.testing.assert_close(e.features, f, rtol=1e-5, atol=1e-6)
    assert torch.equal(e.pred, logits.argmax(1))


def test_mode_restored_and_memo_hit(net):
    x = torch.rand(8, 1, 28, 28) * 2 - 1
    memo = {}
    a = embed(net, x, memo)
    assert net.training  # eval_mode restored train mode
    b = embed(net, x.clone(), memo)  # same bytes: a hit, the very same object
    assert a is b and len(memo) == 1
    c = embed(net, x + 1e-3, memo)
    assert c is not a and len(memo) == 2


def test_memo_is_bounded(net):
    memo = {}
    for i in range(MEMO_SETS + 3):
        embed(net, torch.full((2, 1, 28, 28), i / 100), memo)
    assert len(memo) == MEMO_SETS


def test_bad_input_names_x(net):
    with pytest.raises(ValueError, match="x must be a"):
        embed(net, torch.zeros(28, 28), {})
    with pytest.raises(ValueError, match="x is empty"):
        embed(net, torch.zeros(0, 1, 28, 28), {})


def test_judge_scores_match_fresh_network_passes():
    torch.manual_seed(1)
    net = VGGJudge(width=2).eval()
    ref = torch.randn(60, 8)
    j = Judge("A", net, JudgeConfig(), None, ref, knn_radii(ref, 3), "t", 3)
    x, y = torch.rand(40, 1, 28, 28) * 2 - 1, torch.randint(0, 10, (40,))
    with torch.no_grad():
        want = (net.logits(x).argmax(1) == y).float()
    assert torch.equal(j.correct(x, y), want)
    assert j.score(x, y).accuracy == pytest.approx(float(want.mean()))
    assert len(j._memo) == 1  # score and correct shared one pass
