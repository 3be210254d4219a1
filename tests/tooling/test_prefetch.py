"""The zoo prefetch (issue 14, item 6): longest-first schedule with budget chains kept in one
worker, the same get_model calls (and cache keys) as the sections, errors that name the model,
the ``prefetch_workers`` setting, and a real run in 2 spawned workers that fills a cache."""

import inspect
import math

import pytest
import torch

from flowstage_lib.data import load_dataset
from flowstage_lib.experiments import calibration
from flowstage_lib.experiments.sec4_stages import compute as sec4_compute
from flowstage_lib.experiments.sec4_stages import setting as sec4_setting
from flowstage_lib.experiments.sec5_practices import compute as sec5_compute
from flowstage_lib.experiments.sec5_practices import figure9_12_latent as f912
from flowstage_lib.experiments.sec5_practices import latent_study
from flowstage_lib.metrics import evaluate
from flowstage_lib.metrics.judge import panel as judge_panel
from flowstage_lib.tooling import check, prefetch
from flowstage_lib.tooling.book import ProfileError, load_profile
from flowstage_lib.tooling.compute import params_for
from flowstage_lib.tooling.devices import active_profile
from flowstage_lib.training import trainer, zoo

K = 1.7  # a stand-in data scale (the calibration itself is tested in tests/analyze)
GET_MODEL = inspect.signature(zoo.get_model)  # before any test replaces get_model


# -- schedule -------------------------------------------------------------------------------


def test_longest_first_on_the_first_free_worker():
    s = prefetch.greedy_schedule([3.0, 10.0, 4.0, 6.0, 5.0], 2)
    # 10 -> w0; 6 -> w1; 5 -> w1 (6 < 10); 4 -> w0 (10 < 11); 3 -> w1 (11 < 14)
    assert s.workers == [[1, 2], [3, 4, 0]]
    assert s.finish == [14.0, 14.0] and s.makespan == 14.0
    assert prefetch.greedy_schedule([5.0, 1.0], 1).workers == [[0, 1]]
    assert prefetch.greedy_schedule([], 2).makespan == 0.0
    assert prefetch.greedy_schedule([2.0], 3).makespan == 2.0  # idle workers cost nothing


def test_cpu_plan_keeps_the_budget_chain_in_one_job_and_reports_the_makespan():
    table = load_profile("cpu")
    jobs = {(j.size, j.target, j.space): j for j in prefetch.zoo_jobs(table, "cpu")}
    chain = jobs[("B", "cfm", "pixels x k")]
    long = table["sec4_stages"]["long_budget"]
    assert long >= 4  # issue 14: the cpu ladder's long budget is at least 4x
    assert chain.budgets == (1, long)  # B x4 continues B x1: one worker trains both, in order
    assert all(sp in ("pixels", "pixels x k") for _, _, sp in jobs)  # latent ones: sections
    rate = table["estimates"]["train_steps_per_s"]
    steps = table["zoo"]["train"]["steps"]
    assert chain.seconds == pytest.approx(long * steps / rate["B"])
    oracle_speed = table["estimates"].get("oracle_target_speed", prefetch.ORACLE_TARGET_SPEED)
    assert jobs[("S", "oracle", "pixels x k")].seconds == pytest.approx(
        steps / (rate["S"] * oracle_speed)
    )
    assert ("B", "cfm", "pixels") in jobs  # Sec. 5's native cross-check model
    report = check.check_profile("cpu")
    seconds, basis = report.estimates["zoo prefetch"]
    costs = [j.seconds for j in jobs.values()]
    # independent re-derivation of the 2-worker longest-first makespan
    lanes = [0.0, 0.0]
    for c in sorted(costs, reverse=True):
        lanes[lanes.index(min(lanes))] += c
    speed = table["estimates"]["worker_speed"]  # measured: each of 2 workers' share
    assert 0 < speed <= 1 and seconds == pytest.approx(max(lanes) / speed)
    assert max(costs) <= seconds < sum(costs) / speed
    assert "2 workers" in basis and "makespan" in basis
    assert (f"{speed:g}x" in basis) if speed < 1 else ("not modelled" in basis)
    # the prefetched models' training is no longer added to the sections
    assert "zoo training" not in report.estimates["sec4_stages"][1]
    assert "zoo prefetch" in report.render()


@pytest.mark.parametrize("speed", [0, -0.5, 1.5, float("nan")])
def test_bad_worker_speed_is_named(monkeypatch, speed):
    table = load_profile("cpu")
    table["estimates"] = {**table["estimates"], "worker_speed": speed}
    with pytest.raises(ValueError, match="worker_speed"):
        prefetch.plan_prefetch(table, "cpu", check.check_profile("cpu").models, 2)


# -- the setting ----------------------------------------------------------------------------


@pytest.mark.parametrize("value", [-1, 1.5, "2", True, None])
def test_bad_prefetch_workers_are_named(value):
    table = {**load_profile("smoke"), "prefetch_workers": value}
    findings, row, _ = check._check_prefetch(table, "smoke", [])
    assert [f.level for f in findings] == ["error"] and row is None
    assert "prefetch_workers" in findings[0].message and repr(value) in findings[0].message
    with pytest.raises(ProfileError, match="prefetch_workers"):
        prefetch.prefetch_zoo("smoke", table=table)


def test_flowstage_check_fails_on_a_bad_prefetch_workers(monkeypatch):
    table = {**load_profile("smoke"), "prefetch_workers": -2}
    monkeypatch.setattr(check, "load_profile", lambda profile: table)
    report = check.check_profile("smoke")
    assert not report.ok and "prefetch_workers" in report.render()


def test_profiles_set_prefetch_workers():
    got = {p: load_profile(p)["prefetch_workers"] for p in ("smoke", "cpu", "gpu", "gpu-quick")}
    assert got == {"smoke": 0, "cpu": 2, "gpu": 0, "gpu-quick": 0}
    _, row, names = check._check_prefetch(load_profile("smoke"), "smoke", [])
    assert row is None and names == set()  # off: the plan is unchanged
    assert prefetch.run_prefetch("smoke", ["sec4_stages", "sec5_practices"]) == {}


# -- the same get_model calls as the sections -------------------------------------------------


def _normalized(args, kwargs) -> tuple:
    """A get_model call with defaults filled in, without ``progress`` (not part of the key)."""
    bound = GET_MODEL.bind(*args, **kwargs)
    bound.apply_defaults()
    a = dict(bound.arguments)
    a.pop("progress")
    return tuple(sorted(a.items(), key=lambda kv: kv[0]))


class _Stop(Exception):
    pass


def _stop(*args, **kwargs):
    raise _Stop


def _section_calls(monkeypatch, profile: str) -> tuple[set, list]:
    """get_model calls of Secs. 4 and 5's compute code (stopped right after their models)."""
    calls, scale_args = set(), []

    def record(*args, **kwargs):
        calls.add(_normalized(args, kwargs))
        return type("R", (), {})()

    def fake_setting_scale(P, data):
        scale_args.append((P, data))
        return K

    monkeypatch.setattr(sec4_setting, "get_model", record)
    monkeypatch.setattr(zoo, "get_model", record)
    monkeypatch.setattr(evaluate, "get_classifier", lambda *a, **k: (None, None))
    monkeypatch.setattr(evaluate, "extract_features", lambda *a, **k: None)
    monkeypatch.setattr(judge_panel, "get_panel", lambda *a, **k: None)
    monkeypatch.setattr(sec4_compute, "calibrated_scale", lambda P, data: None)
    monkeypatch.setattr(sec4_compute, "setting_scale", fake_setting_scale)
    monkeypatch.setattr(sec4_compute, "heldout_images", _stop)  # the first call after the models
    with pytest.raises(_Stop):
        sec4_compute.compute(params_for("sec4_stages", profile))
    from flowstage_lib.experiments.sec5_practices import setting as sec5_setting

    P = params_for("sec5_practices", profile)
    train = load_dataset("mnist5k", "train")
    monkeypatch.setattr(evaluate, "get_evaluator", lambda *a, **k: type("E", (), {"train": train}))
    monkeypatch.setattr(sec5_setting, "calibrated_scale", lambda *a, **k: _Cal(K))
    monkeypatch.setattr(sec5_compute, "get_panel", _stop)  # the first call after the main model
    with pytest.raises(_Stop):
        sec5_compute.compute(P)
    k = K if P.setting == "calibrated" else None
    if k is not None:  # Table 2's cross-check, as compute.py asks (the native main model)
        zoo.get_model(P.profile, zoo.ZOO_PRESETS[P.profile].main_size, progress=False)
    # Figs. 9 / 10's pixel models, as compute.py asks
    f912.study_models(P.profile, P.study_size, {}, {"pixels": k})
    latent_study.study_model(P.profile, P.study_size, target="oracle", data_scale=k)
    return calls, scale_args


class _Cal:
    """A stand-in calibration: only k is read before the main model."""

    def __init__(self, k):
        self.k = k


def test_prefetch_asks_get_model_for_exactly_the_sections_keys(monkeypatch):
    section_calls, scale_args = _section_calls(monkeypatch, "smoke")
    pre_calls, pre_scale = set(), []

    def record(*args, **kwargs):
        pre_calls.add(_normalized(args, kwargs))

    def in_process(profile, jobs, k, workers, progress, report):
        for j in jobs:  # what each worker runs, here without a pool
            prefetch._train_job(profile, j, k, progress)

    monkeypatch.setattr(zoo, "get_model", record)
    monkeypatch.setattr(calibration, "calibrated_scale", lambda P, data: None)
    monkeypatch.setattr(calibration, "setting_scale", lambda P, d: pre_scale.append((P, d)) or K)
    monkeypatch.setattr(prefetch, "_is_cached", lambda *a: False)
    monkeypatch.setattr(prefetch, "_run_pool", in_process)
    prefetch.prefetch_zoo("smoke", workers=2, progress=False)
    # the sections' pixel-space models (Sec. 5's latent ones are not asked for here)
    assert pre_calls == section_calls
    assert any(dict(c)["data_scale"] == K for c in pre_calls)
    assert any(dict(c)["target"] == "oracle" for c in pre_calls)
    # k is computed once, on Sec. 4's data and parameters
    assert len(pre_scale) == 1 and len(scale_args) == 1
    (p_pre, d_pre), (p_sec, d_sec) = pre_scale[0], scale_args[0]
    assert torch.equal(d_pre.x, d_sec.x) and torch.equal(d_pre.y, d_sec.y)
    assert vars(calibration.calibration_params(p_pre)) == vars(
        calibration.calibration_params(p_sec)
    )


# -- workers ---------------------------------------------------------------------------------


def test_a_worker_error_names_the_model():
    bad = prefetch.ZooJob("XL", "cfm", "pixels", (1,), ("sec4_stages",), 1.0)
    report = prefetch.PrefetchReport("smoke", 1)
    with pytest.raises(prefetch.PrefetchError, match=r"mlp-XL \(cfm, budget 1, pixels\)"):
        prefetch._run_pool("smoke", [bad], None, 1, False, report)


@pytest.mark.slow
def test_two_workers_fill_a_cache_the_section_then_loads(monkeypatch, tmp_path):
    monkeypatch.setenv("FLOWSTAGE_CACHE", str(tmp_path / "cache"))
    table = load_profile("smoke")
    table["sec4_stages"] = {**table["sec4_stages"], "setting": "native", "sizes": ["S", "B"]}
    table["sec4_stages"]["table1_models"] = ["S", "B"]
    report = prefetch.prefetch_zoo("smoke", 2, False, ["sec4_stages"], table)
    names = [n for n, _ in report.models]
    assert sorted(names) == [
        "mlp-B (cfm, budget 1, pixels)",
        "mlp-B (cfm, budget 2, pixels)",
        "mlp-S (cfm, budget 1, pixels)",
    ]
    assert names.index("mlp-B (cfm, budget 1, pixels)") < names.index(
        "mlp-B (cfm, budget 2, pixels)"
    )
    assert all(math.isfinite(s) and s > 0 for _, s in report.models)
    again = prefetch.prefetch_zoo("smoke", 2, False, ["sec4_stages"], table)
    assert again.models == [] and sorted(again.cached) == sorted(names)

    def no_training(*a, **k):
        raise AssertionError("the section trained a model the prefetch should have cached")

    monkeypatch.setattr(trainer, "_step", no_training)
    with active_profile("smoke"):
        ms = sec4_setting.load_models("smoke", ["S", "B"], "B", 2, ["S", "B"], None)
    assert set(ms) == {"S", "B", "B x2"}


# -- the commands ----------------------------------------------------------------------------


def test_book_and_compute_prefetch_unless_told_not_to(monkeypatch, tmp_path):
    from flowstage_lib.tooling import cli, compute

    calls = []
    monkeypatch.setattr(cli, "run_prefetch", lambda *a, **k: calls.append(a) or {})
    monkeypatch.setattr(compute, "compute_section", lambda *a: None)
    monkeypatch.setattr(cli, "execute", lambda *a, **k: False)
    monkeypatch.setattr(cli, "BOOK_DIR", tmp_path / "book")
    monkeypatch.setattr(cli, "BUILD_DIR", tmp_path / "_build")
    (tmp_path / "book").mkdir()
    for name in ("FLOWSTAGE_RESULTS", "FLOWSTAGE_CACHE_STRICT"):  # the commands set them
        monkeypatch.setenv(name, str(tmp_path / "results") if "RESULTS" in name else "")
    assert cli.main(["compute", "sec4_stages", "--profile", "smoke", "-p", "n_fd", "10"]) == 0
    assert calls == [("smoke", ["sec4_stages"], {"n_fd": 10})]
    assert cli.main(["compute", "sec4_stages", "--profile", "smoke", "--no-prefetch"]) == 0
    book = ["book", "--profile", "cpu", "--no-html", "--only", "sec4_stages"]
    assert cli.main(book) == 0
    assert calls[1] == ("cpu", ["sec4_stages"])
    assert cli.main([*book, "--no-prefetch"]) == 0
    assert cli.main([*book, "--from-cache"]) == 0  # renders from the cache: nothing trains
    assert len(calls) == 2


def test_train_rate_scales_the_oracle_target_by_the_profiles_measured_speed():
    """One rate for check and prefetch: the CFM rate as measured, the oracle target's at the
    profile's ``oracle_target_speed`` (default 0.5), NaN without a measurement, and a clear
    error for a speed outside (0, 1]."""
    table = {"estimates": {"train_steps_per_s": {"S": 20.0}}}
    assert prefetch.train_rate(table, "S", "cfm") == 20.0
    assert prefetch.train_rate(table, "S", "oracle") == 20.0 * prefetch.ORACLE_TARGET_SPEED
    table["estimates"]["oracle_target_speed"] = 0.74
    assert prefetch.train_rate(table, "S", "oracle") == pytest.approx(14.8)
    assert math.isnan(prefetch.train_rate(table, "L", "cfm"))
    table["estimates"]["oracle_target_speed"] = 1.5
    with pytest.raises(ValueError, match="estimates.oracle_target_speed must be in"):
        prefetch.train_rate(table, "S", "oracle")
