"""`flowstage check`: every profile validates on this machine; a parameter that cannot work
fails the check with a message that names the section and the parameter."""

import pytest

from flowstage_lib.tooling import check
from flowstage_lib.tooling.book import PROFILES, load_profile
from flowstage_lib.tooling.cli import main


@pytest.mark.parametrize("profile", PROFILES)
def test_every_profile_passes_the_check(profile):
    report = check.check_profile(profile)
    assert report.ok, report.render()
    assert report.models, "the plan lists the zoo's models"
    assert set(report.estimates) >= {"sec2_oracle", "sec4_stages"}


def _patched(monkeypatch, section, name, value):
    table = load_profile("smoke")
    table[section] = {**table[section], name: value}
    monkeypatch.setattr(check, "load_profile", lambda profile: table)


def test_too_many_unseen_images_is_an_error(monkeypatch):
    _patched(monkeypatch, "sec4_stages", "n_refine", 100_000)
    report = check.check_profile("smoke")
    assert not report.ok
    assert any(f.section == "sec4_stages" and "n_refine" in f.message for f in report.findings)


def test_unseen_images_scale_down_without_the_test_set(monkeypatch, tmp_path):
    monkeypatch.setenv("FLOWSTAGE_MNIST_DIR", str(tmp_path))  # the MNIST test files "deleted"
    _patched(monkeypatch, "sec4_stages", "n_refine", 300)
    report = check.check_profile("smoke")
    assert report.ok, report.render()
    assert any(f.level == "note" and "scaled down" in f.message for f in report.findings)


@pytest.mark.parametrize(
    ("section", "name", "value", "words"),
    [
        ("sec4_stages", "n_fd", 0, "expected an integer >= 1"),
        ("sec4_stages", "table1_splits", [0.1, 1.5], "time in [0, 1]"),
        ("sec5_practices", "shifts", [1.0, -2.0], "> 0"),
        ("sec4_stages", "sizes", ["S", "XXL"], "not in the smoke ladder"),
        ("sec3_two_stage", "no_such_parameter", 1, "not declared"),
        ("sec4_stages", "setting", "scaled", "one of 'calibrated', 'native'"),
        ("sec4_stages", "calibration_target_t", 1.0, "a time in (0, 1)"),
    ],
)
def test_bad_values_fail_the_check(monkeypatch, section, name, value, words):
    _patched(monkeypatch, section, name, value)
    report = check.check_profile("smoke")
    assert not report.ok
    assert any(words in f.message for f in report.findings if f.level == "error"), report.render()


def test_cli_check_exit_codes(monkeypatch, capsys):
    assert main(["check", "--profile", "smoke"]) == 0
    assert "estimated time per section" in capsys.readouterr().out
    _patched(monkeypatch, "sec4_stages", "n_mem", -1)
    assert main(["book", "--profile", "smoke", "--check"]) == 1
    assert "parameter 'n_mem' = -1 (int): expected an integer >= 1" in capsys.readouterr().out


def test_mnist_test_set_ships_inside_the_repository(monkeypatch):
    from flowstage_lib.data import datasets as data
    from flowstage_lib.tooling.book import REPO_ROOT

    monkeypatch.delenv("FLOWSTAGE_MNIST_DIR", raising=False)
    d = data._mnist_dir()
    assert d.resolve().is_relative_to(REPO_ROOT.resolve())
    ds = data.load_dataset("mnist_test", "test")
    assert ds.N == 10_000


def test_calibrated_models_are_planned_apart_from_the_native_ones(monkeypatch):
    """Calibrated models train on k x1: planned apart from native ones. Sec. 5 shares Sec. 4's
    calibrated main model and asks for the native one only for its Table 2 cross-check."""
    plan = {m.name: m.used_by for m in check.check_profile("smoke").models}
    assert plan["mlp-B (cfm, budget 1, pixels x k)"] == ["sec4_stages", "sec5_practices"]
    assert plan["mlp-B (cfm, budget 1, pixels)"] == ["sec5_practices"]  # the cross-check
    _patched(monkeypatch, "sec4_stages", "setting", "native")
    plan = {m.name: m.used_by for m in check.check_profile("smoke").models}
    assert plan["mlp-B (cfm, budget 1, pixels)"] == ["sec4_stages", "sec5_practices"]
    table = load_profile("smoke")  # both sections native: no k-scaled model at all
    for sec in ("sec4_stages", "sec5_practices"):
        table[sec] = {**table[sec], "setting": "native"}
    monkeypatch.setattr(check, "load_profile", lambda profile: table)
    plan = {m.name: m.used_by for m in check.check_profile("smoke").models}
    assert not any("pixels x k" in name for name in plan)


def test_calibrated_models_read_k_from_the_cache_never_compute_it(monkeypatch, tmp_path):
    """The plan knows whether a k-scaled model is trained once a build has cached Sec. 4's k;
    before that it plans it as untrained, and the check computes nothing (no oracle sweep)."""
    monkeypatch.setenv("FLOWSTAGE_CACHE", str(tmp_path))
    monkeypatch.delenv("FLOWSTAGE_CACHE_STRICT", raising=False)
    table = load_profile("smoke")
    assert check._cached_scale(table) is None
    assert not (tmp_path / "calibrated_scale").exists()  # nothing computed, nothing written
    assert "FLOWSTAGE_CACHE_STRICT" not in __import__("os").environ  # the toggle is undone

    from flowstage_lib.tooling.prefetch import _data_scale

    k = _data_scale(table)  # what a build does first (cached)
    assert check._cached_scale(table) == k
    asked = []

    def scaled_cached(profile, size, target, budget, k_):
        asked.append((size, target, budget, k_))
        return True

    monkeypatch.setattr(check, "_scaled_cached", scaled_cached)
    plan = {m.name: m for m in check.check_profile("smoke").models}
    m = plan["mlp-B (cfm, budget 1, pixels x k)"]
    assert m.cached and m.est_seconds == 0.0
    assert ("B", "cfm", 1, k) in asked and all(a[3] == k for a in asked)
