"""The feature classifier: shapes, training and caching (tiny), class accuracy, predictions."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from flowstage_lib.data import load_dataset
from flowstage_lib.experiments.sec4_stages import distances
from flowstage_lib.metrics import (
    ClassifierReport,
    FeatureClassifier,
    class_accuracy,
    extract_features,
    get_classifier,
    predict_classes,
)


@pytest.mark.parametrize("size", [(28, 28), (8, 8), (1, 1)])
def test_classifier_shapes(size):
    clf = FeatureClassifier(3, 7, width=4, image_size=size)
    x = torch.randn(5, 3, *size)
    assert clf(x).shape == (5, 7) and clf.features(x).shape == (5, 16)
    assert clf.feature_maps(x).shape[:2] == (5, 8)
    if size == (28, 28):
        assert clf.feature_maps(x).shape[2:] == (7, 7)


@pytest.mark.slow
def test_get_classifier_learns_and_caches(tmp_path):
    full = load_dataset("digits")
    train, held = full.subset(slice(0, 1500), "digits/first"), full.subset(slice(1500, None))
    kw = dict(steps=150, width=8, batch_size=64, progress=False, heldout=held)
    clf, rep = get_classifier(train, **kw)
    assert isinstance(rep, ClassifierReport) and rep.steps == 150 and rep.seconds > 0
    assert rep.heldout_accuracy > 0.6 and rep.train_accuracy > 0.6  # chance is 0.1
    assert not clf.training
    assert np.isclose(class_accuracy(clf, held.x, held.y), rep.heldout_accuracy)
    assert list((tmp_path / "cache" / "classifier").glob("*.pt"))
    clf2, rep2 = get_classifier(train, **kw)  # from the cache: same weights, same report
    assert rep2 == rep
    assert torch.equal(extract_features(clf2, held.x[:10]), extract_features(clf, held.x[:10]))


def test_class_accuracy_bad_input():
    clf = FeatureClassifier(1, 10, width=4)
    with pytest.raises(ValueError, match="y has 3"):
        class_accuracy(clf, torch.zeros(4, 1, 28, 28), torch.zeros(3, dtype=torch.long))


def test_predictions_match_the_logits_and_keep_the_mode():
    torch.manual_seed(0)
    clf = FeatureClassifier(1, 10, width=4, image_size=(8, 8)).eval()
    x = torch.rand(7, 1, 8, 8) * 4 - 2  # partly outside [-1, 1]
    with torch.no_grad():
        ref = clf(x).argmax(1)  # (7,)
        ref_clamped = clf(x.clamp(-1, 1)).argmax(1)
    clf.train()  # the caller's mode is restored; BatchNorm runs in eval mode inside
    assert torch.equal(predict_classes(clf, x, batch_size=3), ref) and clf.training
    assert torch.equal(distances.predict(clf, x), ref_clamped) and clf.training
    assert class_accuracy(clf, x, ref) == 1.0 and clf.training


@pytest.mark.slow
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_classifier():
    full = load_dataset("digits")
    clf, rep = get_classifier(full.subset(slice(0, 1500)), steps=50, width=8, progress=False)
    assert next(clf.parameters()).is_cuda and rep.device == "cuda"
