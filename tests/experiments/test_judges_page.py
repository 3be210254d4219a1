"""The judges' page: its table and its sentence say whether each judge meets the targets."""

from types import SimpleNamespace

import pytest

from flowstage_lib.experiments import judges
from flowstage_lib.metrics.judge.robustness import RobustnessReport


def _row(name, clean, noise):
    rep = RobustnessReport(
        judge=name,
        clean=clean,
        noise_0_1=noise,
        noise_0_2=noise,
        noise_0_3=noise,
        blur=clean,
        shift=clean,
        rotate=clean,
        n=10_000,
        clean_ci=(clean - 0.002, clean + 0.002),
        noise_0_2_ci=(noise - 0.002, noise + 0.002),
        meets_targets=clean >= 0.99 and noise >= 0.95,
        data_note="MNIST test set",
    )
    report = SimpleNamespace(
        arch="vgg", parameters=72_666, steps=3000, heldout_accuracy=0.996, heldout_name="heldout"
    )
    return judges.JudgeRow(SimpleNamespace(name=name, report=report), rep)


def test_both_targets_met_and_missed():
    ok, bad = _row("A", 0.993, 0.992), _row("B", 0.97, 0.37)
    table = judges.judges_table([ok, bad])
    assert list(table["targets met"]) == ["yes", "no"]
    assert table.loc[0, "noise sigma 0.2"] == "99.20% [99.00%, 99.40%]"
    text = judges.judges_text([ok, bad])
    assert "Judge A meets both targets" in text
    assert "Judge B misses the targets (clean 97.0% < 99%; sigma 0.2 37.0% < 95%)" in text


def test_n_images_must_be_a_count():
    with pytest.raises(ValueError, match="n_images must be an integer >= 1"):
        judges.judge_reports("smoke", 0)
