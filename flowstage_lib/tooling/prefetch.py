"""Train the model zoo up front on every core, then let the sections load it (issue 14, item 6).

Each zoo model otherwise trains in the section that first asks for it, one after another, with
one torch thread (a profile's ``cpu_threads: 1``: two threads in one process were measured
slower under contention), so half of a 2-core machine idles while the zoo trains.
:func:`prefetch_zoo` trains (or finds cached) every *pixel-space* model the profile's sections
ask for (:func:`zoo_jobs`, from the plan of ``flowstage check``) in ``prefetch_workers``
processes of one thread each, with the get_model arguments the sections use, so the sections
then load them from the cache. Latent-space models (they need the autoencoders first) are left
to the sections.

Schedule (:func:`greedy_schedule`): jobs start longest first (the plan's estimate) on the first
free worker. A budget-b run continues the budget-(b-1) run of the same key, so a model's budget
chain (e.g. B x1 then B x2) is one job: one worker trains its budgets in order.

Sec. 4's calibrated models train on k x1 (:func:`~flowstage_lib.experiments.calibration.
setting_scale`): k is computed (and cached) once in the parent, on the data Sec. 4 calibrates
on, and passed to the workers.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from flowstage_lib.tooling.book import ProfileError

__all__ = [
    "KEY",
    "PrefetchError",
    "ZooJob",
    "Schedule",
    "PrefetchReport",
    "check_workers",
    "greedy_schedule",
    "zoo_jobs",
    "train_rate",
    "ORACLE_TARGET_SPEED",
    "plan_prefetch",
    "prefetch_zoo",
    "run_prefetch",
]

KEY = "prefetch_workers"  # the profile's top-level setting
PIXEL_SPACES = {"pixels": False, "pixels x k": True}  # space of the plan -> trained on k x1


class PrefetchError(RuntimeError):
    """A zoo model failed to train in a prefetch worker (the message names the model)."""


@dataclass(frozen=True)
class ZooJob:
    """One worker's unit: a zoo model and its budgets, trained in this order.

    ``space``: "pixels" (native, ``data_scale=None``) or "pixels x k" (calibrated).
    ``seconds``: the plan's estimate of the whole chain (nan when the speed is unknown)."""

    size: str
    target: str
    space: str
    budgets: tuple[int, ...]
    sections: tuple[str, ...]
    seconds: float = math.nan

    @property
    def scaled(self) -> bool:
        return PIXEL_SPACES[self.space]

    def model_name(self, family: str, budget: int) -> str:
        """The plan's name of one budget (as ``flowstage check`` prints it)."""
        return f"{family}-{self.size} ({self.target}, budget {budget}, {self.space})"

    def names(self, family: str) -> list[str]:
        return [self.model_name(family, b) for b in self.budgets]


@dataclass
class Schedule:
    """Greedy list schedule: ``workers[w]`` the job indices worker w runs, in order;
    ``finish[w]`` its end time; ``makespan`` the last end time (same unit as the costs)."""

    workers: list[list[int]]
    finish: list[float]
    makespan: float


@dataclass
class PrefetchReport:
    """What :func:`prefetch_zoo` did: ``models`` [(plan name, wall seconds)] in finishing order,
    ``cached`` the plan names found in the cache (not started), ``wall`` its wall time."""

    profile: str
    workers: int
    models: list[tuple[str, float]] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)
    wall: float = 0.0


def check_workers(value: Any, name: str = KEY) -> int:
    """``value`` as a worker count (an integer >= 0; 0 = off), else a ProfileError naming it."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ProfileError(f"{name} must be an integer >= 0 (0: no prefetch), got {value!r}")
    return value


def greedy_schedule(costs: Sequence[float], workers: int) -> Schedule:
    """Longest-first list scheduling of jobs with ``costs`` (seconds) on ``workers``: each job,
    in decreasing cost (ties: plan order), starts on the worker that frees up first (lowest
    index on ties), which is what a process pool does with jobs submitted in that order."""
    check_workers(workers, "workers")
    if workers == 0:
        raise ValueError("workers must be >= 1 to schedule jobs")
    order = sorted(range(len(costs)), key=lambda i: -costs[i])
    lanes, finish = [[] for _ in range(workers)], [0.0] * workers
    for i in order:
        w = min(range(workers), key=lambda j: (finish[j], j))
        lanes[w].append(i)
        finish[w] += float(costs[i])
    return Schedule(lanes, finish, max(finish) if finish else 0.0)


#: Speed of oracle-target training relative to the CFM target where a profile does not state
#: its measured ``estimates.oracle_target_speed`` (the oracle's softmax over the data per batch).
ORACLE_TARGET_SPEED = 0.5


def train_rate(table: dict, size: str, target: str) -> float:
    """The plan's 1-thread training steps/s of ``size`` for ``target`` ("cfm" | "oracle"):
    ``estimates.train_steps_per_s[size]``, times ``estimates.oracle_target_speed`` (default
    :data:`ORACLE_TARGET_SPEED`) for the oracle target; NaN where no speed is measured. The
    one rate that ``flowstage check`` and the prefetch schedule both use."""
    est = table.get("estimates") or {}
    rate = float((est.get("train_steps_per_s") or {}).get(size, math.nan))
    if target == "oracle":
        speed = float(est.get("oracle_target_speed", ORACLE_TARGET_SPEED))
        if not 0.0 < speed <= 1.0:
            raise ValueError(f"estimates.oracle_target_speed must be in (0, 1], got {speed!r}")
        rate *= speed
    return rate


def _job_seconds(table: dict, profile: str, size: str, target: str, budget: int) -> float:
    """The plan's training estimate of a whole chain up to ``budget`` at the profile's measured
    1-thread steps/s (:func:`train_rate`)."""
    from flowstage_lib.training.zoo import zoo_config

    return zoo_config(profile, target, budget, size).steps / train_rate(table, size, target)


def zoo_jobs(table: dict, profile: str, sections: Sequence[str] | None = None) -> list[ZooJob]:
    """The pixel-space zoo models the profile's ``sections`` (None: all) ask for, one job per
    (size, target, space) with its budgets in order, from the plan of ``flowstage check``."""
    from flowstage_lib.tooling.check import _zoo_requests

    chains: dict[tuple[str, str, str], tuple[set[int], list[str]]] = {}
    for size, target, budget, space, sec in _zoo_requests(table, profile):
        if space not in PIXEL_SPACES or (sections is not None and sec not in sections):
            continue
        budgets, secs = chains.setdefault((size, target, space), (set(), []))
        budgets.add(int(budget))
        if sec not in secs:
            secs.append(sec)
    return [
        ZooJob(size, target, space, tuple(sorted(b)), tuple(s),
               _job_seconds(table, profile, size, target, max(b)))
        for (size, target, space), (b, s) in chains.items()
    ]  # fmt: skip


def plan_prefetch(table: dict, profile: str, models: list, workers: int) -> tuple[tuple, set]:
    """``flowstage check``'s prefetch row: ((seconds, basis), names of the prefetched models).
    ``models``: the check's ModelPlans (their ``est_seconds`` is 0 when cached). Seconds: the
    greedy schedule's makespan of the jobs at the measured 1-thread steps/s."""
    from flowstage_lib.training.zoo import ZOO_PRESETS

    family = ZOO_PRESETS[profile].family
    est = {m.name: m.est_seconds for m in models}
    jobs = [j for j in zoo_jobs(table, profile) if all(n in est for n in j.names(family))]
    costs = [sum(est[n] for n in j.names(family)) for j in jobs]
    names = {n for j in jobs for n in j.names(family)}
    n_models = len(names)
    if not all(math.isfinite(c) for c in costs):
        return (math.nan, f"{n_models} models on {workers} workers, speed not measured"), names
    s = greedy_schedule(costs, workers)
    speed = float((table.get("estimates") or {}).get("worker_speed", 1.0))
    if not (math.isfinite(speed) and 0 < speed <= 1):
        raise ValueError(f"estimates.worker_speed must be in (0, 1], got {speed!r}")
    slow = (
        f"each worker at {speed:g}x of a lone process's speed (measured)"
        if speed < 1 and workers > 1
        else "slowdown of workers sharing the machine not modelled"
    )
    basis = (
        f"{n_models} pixel-space models in {len(jobs)} jobs on {workers} workers x 1 thread: "
        f"longest-first schedule's makespan at the measured 1-thread steps/s (serial "
        f"{sum(costs) / 60:.1f} min; {slow})"
    )
    return (s.makespan / (speed if workers > 1 else 1.0), basis), names


def _data_scale(table: dict) -> float | None:
    """k of Sec. 4's models (None in the native setting): ``setting_scale`` on the data Sec. 4
    calibrates on (``get_evaluator(profile).train`` = mnist5k's train split), with Sec. 4's
    profile parameters; cached, so Sec. 4 then finds it."""
    from flowstage_lib.data import load_dataset
    from flowstage_lib.experiments.calibration import calibrated_scale, setting_scale

    params = dict(table["sec4_stages"])
    train = load_dataset("mnist5k", "train")
    calibrated_scale(params, train)
    return setting_scale(params, train)


def _is_cached(profile: str, job: ZooJob, k: float | None) -> bool:
    """The job's last budget has a final checkpoint in the cache (the key of get_model)."""
    from flowstage_lib.data.scaled import scale_data
    from flowstage_lib.models import data_rms
    from flowstage_lib.training import run_key
    from flowstage_lib.training.checkpoints import list_checkpoints
    from flowstage_lib.training.zoo import ZOO_PRESETS, zoo_config, zoo_data, zoo_spec

    ds = zoo_data("mnist5k", None, ZOO_PRESETS[profile].split)
    scale, sigma = 1.0, 0.0
    if job.scaled:
        sigma, ds, scale = data_rms(ds.x), scale_data(ds, k), float(k)
    spec = zoo_spec(profile, job.size, ds, data_scale=scale, sigma_data=sigma)
    cfg = zoo_config(profile, job.target, job.budgets[-1], job.size)
    ckpts = list_checkpoints(run_key(spec, ds, cfg))
    return any(final and step >= cfg.steps for step, final, _ in ckpts)


def _cost(job: ZooJob) -> float:
    """The job's estimate for ordering; without a measured speed, its budget (divided by
    :data:`ORACLE_TARGET_SPEED` for the oracle target), so longer chains still go first."""
    if math.isfinite(job.seconds):
        return job.seconds
    return float(max(job.budgets)) / (ORACLE_TARGET_SPEED if job.target == "oracle" else 1.0)


def _init_worker(env: dict[str, str]) -> None:
    import torch

    os.environ.update(env)
    torch.set_num_threads(1)


def _train_job(profile: str, job: ZooJob, k: float | None, progress: bool) -> list:
    """In a worker: get_model for each budget of ``job``, as the sections call it. Returns
    [(plan name, wall seconds)]; an error is re-raised as PrefetchError naming the model."""
    from flowstage_lib.tooling.progress import note
    from flowstage_lib.training.zoo import ZOO_PRESETS, get_model

    family = ZOO_PRESETS[profile].family if profile in ZOO_PRESETS else "?"
    out = []
    for b in job.budgets:
        name, t0 = job.model_name(family, b), time.time()
        try:
            get_model(profile, job.size, job.target, b, progress=progress,
                      data_scale=k if job.scaled else None)  # fmt: skip
        except Exception as err:
            raise PrefetchError(
                f"zoo prefetch: {name} failed: {type(err).__name__}: {err}"
            ) from err
        out.append((name, time.time() - t0))
        note(f"{name}: ready in {out[-1][1]:.1f} s (pid {os.getpid()})")
    return out


def _run_pool(profile: str, jobs: list[ZooJob], k, workers: int, progress: bool, report) -> None:
    import multiprocessing as mp
    from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait

    from flowstage_lib.tooling.progress import ENV
    from flowstage_lib.training.zoo import ZOO_PRESETS

    env = {n: v for n, v in os.environ.items() if n.startswith("FLOWSTAGE_")}
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    ordered = [jobs[i] for i in greedy_schedule([_cost(j) for j in jobs], 1).workers[0]]
    ex = ProcessPoolExecutor(min(workers, len(jobs)), mp.get_context("spawn"), _init_worker, (env,))
    try:
        of = {ex.submit(_train_job, profile, j, k, progress): j for j in ordered}
        pending = set(of)
        while pending:
            done, pending = wait(pending, return_when=FIRST_EXCEPTION)
            for f in done:
                err = f.exception()
                if not isinstance(err, PrefetchError | type(None)):  # e.g. a worker was killed
                    names = ", ".join(of[f].names(ZOO_PRESETS[profile].family))
                    raise PrefetchError(f"zoo prefetch: {names}: {err!r}") from err
                for name, sec in f.result():  # raises the worker's PrefetchError
                    report.models.append((name, sec))
                    if progress and not os.environ.get(ENV):
                        print(f"[flowstage] prefetch: {name} ready in {sec:.1f} s", flush=True)
    except BaseException:
        for p in list((getattr(ex, "_processes", None) or {}).values()):
            p.terminate()  # a running job would otherwise go on for minutes
        ex.shutdown(wait=False, cancel_futures=True)
        raise
    ex.shutdown(wait=True)


def prefetch_zoo(
    profile: str,
    workers: int | None = None,
    progress: bool = True,
    sections: Sequence[str] | None = None,
    table: dict | None = None,
) -> PrefetchReport:
    """Train (or find cached) every pixel-space zoo model that ``sections`` (None: all) of
    ``profile`` ask for, in ``workers`` spawned processes of one torch thread each.

    Args:
        profile: a profile name.
        workers: processes (None: the profile's ``prefetch_workers``; 0: do nothing).
        progress: the workers' training bars, and one line per finished model.
        sections: only the models these sections ask for.
        table: the profile's table (default ``load_profile(profile)``; overrides merged in).

    Returns:
        :class:`PrefetchReport`.

    Raises:
        ProfileError: a bad worker count (named). PrefetchError: a model failed (named).
    """
    from flowstage_lib.tooling.book import load_profile
    from flowstage_lib.tooling.devices import active_profile
    from flowstage_lib.training.zoo import ZOO_PRESETS

    table = load_profile(profile) if table is None else table
    workers = check_workers(table.get(KEY, 0) if workers is None else workers,
                            KEY if workers is None else "workers")  # fmt: skip
    report, t0 = PrefetchReport(profile, workers), time.time()
    jobs = zoo_jobs(table, profile, sections) if workers else []
    if not jobs:
        return report
    with active_profile(profile):  # cache keys hold the profile's device, as in the sections
        k = _data_scale(table) if any(j.scaled for j in jobs) else None
        family, todo = ZOO_PRESETS[profile].family, []
        for j in jobs:
            if _is_cached(profile, j, k):
                report.cached.extend(j.names(family))
            else:
                todo.append(j)
        if todo:
            _run_pool(profile, todo, k, workers, progress, report)
    report.wall = time.time() - t0
    return report


def run_prefetch(
    profile: str,
    sections: Sequence[str],
    overrides: dict | None = None,
    tail=None,
) -> dict[str, float]:
    """The prefetch phase of ``flowstage book`` / ``flowstage compute`` (before the sections):
    nothing when the profile's ``prefetch_workers`` is 0, else :func:`prefetch_zoo` for the
    models ``sections`` ask for (``-p`` ``overrides`` applied to the sections that declare
    them). Progress lines go to the progress file already set (``flowstage compute``), else
    to ``tail`` (a file printed as it grows). Returns ``{"zoo prefetch": wall seconds}`` (the
    build's time table), or {} when it did not run."""
    from flowstage_lib.tooling import progress as pg
    from flowstage_lib.tooling.book import load_profile

    table = load_profile(profile)
    workers = check_workers(table.get(KEY, 0))
    for sec in sections:
        if isinstance(table.get(sec), dict):
            table[sec].update({n: v for n, v in (overrides or {}).items() if n in table[sec]})
    jobs = zoo_jobs(table, profile, sections) if workers else []
    if not jobs:
        return {}
    print(f"[flowstage] zoo prefetch: {len(jobs)} pixel-space model jobs on {workers} worker "
          "processes x 1 thread (--no-prefetch skips it)", flush=True)  # fmt: skip
    env = {"FLOWSTAGE_SECTION": "prefetch"}
    if not os.environ.get(pg.ENV) and tail is not None:
        env[pg.ENV] = str(tail)
    before = {n: os.environ.get(n) for n in env}
    os.environ.update(env)
    try:
        if pg.ENV in env:
            with pg.ProgressTail(tail):
                report = prefetch_zoo(profile, workers, True, sections, table)
        else:
            report = prefetch_zoo(profile, workers, True, sections, table)
    finally:
        for n, v in before.items():
            if v is None:
                os.environ.pop(n, None)
            else:
                os.environ[n] = v
    print(f"[flowstage] zoo prefetch: {len(report.models)} models trained or loaded, "
          f"{len(report.cached)} found cached, in {report.wall:.1f} s", flush=True)  # fmt: skip
    return {"zoo prefetch": report.wall}
