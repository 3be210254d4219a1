"""The evaluator and sample sets shared by Secs. 4-5: scores equal the metrics they are made
of, the paired difference goes through the one Frechet code, sample sets are cached."""

from __future__ import annotations

import pytest
import torch

from flowstage_lib.data import ImageData
from flowstage_lib.experiments import _shared
from flowstage_lib.metrics import (
    FeatureClassifier,
    class_accuracy,
    extract_features,
    frechet_distance,
    frechet_distance_ci,
)
from flowstage_lib.metrics.evaluate import Evaluator, balanced_labels, get_evaluator, sample_set

SHAPE = (1, 8, 8)


def _evaluator() -> Evaluator:
    torch.manual_seed(0)
    clf = FeatureClassifier(1, 3, width=4, image_size=SHAPE[1:]).eval()
    g = torch.Generator().manual_seed(1)
    x = torch.rand((60, *SHAPE), generator=g) * 2 - 1
    train = ImageData(x, torch.arange(60) % 3, "t", 3)
    return Evaluator(clf, None, train, extract_features(clf, x))


def test_balanced_labels_is_the_one_copy():
    assert balanced_labels(7, 3).tolist() == [0, 1, 2, 0, 1, 2, 0]
    assert _shared.balanced_labels is balanced_labels
    with pytest.raises(ValueError, match="num_classes"):
        balanced_labels(3, 0)


def test_score_is_frechet_ci_and_class_accuracy():
    ev = _evaluator()
    x = torch.rand((20, *SHAPE), generator=torch.Generator().manual_seed(2)) * 2 - 1
    y = balanced_labels(20, 3)
    s = ev.score(x, y, n_boot=30, seed=4)
    ci = frechet_distance_ci(ev.features(x), ev.ref_feats, n_boot=30, seed=4)
    assert (s.fd, s.fd_low, s.fd_high) == (ci.fd, ci.low, ci.high) and s.n == 20
    assert s.accuracy == class_accuracy(ev.classifier, x, y)
    assert ev.score(x, None, n_boot=30).accuracy != ev.score(x, None, n_boot=30).accuracy  # NaN


def test_paired_difference():
    ev = _evaluator()
    g = torch.Generator().manual_seed(3)
    xa = torch.rand((30, *SHAPE), generator=g) * 2 - 1
    xb = xa + 0.3 * torch.randn(xa.shape, generator=g)
    res = ev.paired_difference(xa, xb, n_boot=40, seed=5)
    ref = frechet_distance(ev.features(xa), ev.ref_feats) - frechet_distance(
        ev.features(xb), ev.ref_feats
    )
    assert res.difference == pytest.approx(ref, rel=1e-12, abs=1e-15)
    assert res.low <= res.difference <= res.high and res.n_boot == 40
    with pytest.raises(ValueError, match="same size"):
        ev.paired_difference(xa, xb[:5])


def test_sample_set_is_balanced_quantised_and_cached():
    calls = []

    def velocity(x, t, y):
        calls.append(len(x))
        return -x  # shrinks towards 0

    kw = dict(n=6, shape=SHAPE, num_classes=3, grid=[0.0, 0.5, 1.0], seed=1, batch_size=4)
    s = sample_set(velocity, {"name": "shrink"}, **kw)
    assert s["x"].shape == (6, *SHAPE) and s["y"].tolist() == [0, 1, 2, 0, 1, 2]
    levels = (s["x"] + 1) * 127.5
    assert torch.allclose(levels, levels.round(), atol=1e-4)  # uint8 levels
    n_calls = len(calls)
    again = sample_set(velocity, {"name": "shrink"}, **kw)  # from the cache: no sampling
    assert len(calls) == n_calls and torch.equal(again["x"], s["x"])
    sample_set(velocity, {"name": "other"}, **kw)  # another description: sampled again
    assert len(calls) > n_calls


def test_get_evaluator_rejects_unknown_profile():
    with pytest.raises(ValueError, match="unknown profile 'laptop'"):
        get_evaluator("laptop")
