"""``flowstage check --profile P`` (also ``flowstage book --profile P --check``): in seconds,
without training or sampling, validate every section's parameters for profile P against this
machine and print the plan.

What is checked (each problem is an ``error`` that names the section and the parameter):

- every section of the table of contents has an entry in the profile, and every profile value
  is a parameter the section's notebook declares;
- every value passes the rules of ``-p`` overrides
  (:func:`~flowstage_lib.tooling.book.check_overrides`: counts >= 1, seeds >= 0, times in
  [0, 1], shifts and scales > 0);
- the data sets each section reads exist here, with enough images per class for what the
  section draws from them (e.g. Sec. 4's ``n_refine`` unseen images, two per query, balanced
  over classes);
- the zoo models a section asks for exist in the profile's ladder.

The plan lists the models the zoo will train (parameters, steps, whether the cache already
holds them) and an estimated time per section: the section's last measured time on this
machine when a build has run here (``_build/<profile>/timings.json``), else the reference time
of ``profiles/<profile>.yml``'s ``estimates`` (measured on the 2-core reference machine), plus the
training of every zoo model not yet in the cache at the profile's measured steps/s.
"""

from __future__ import annotations

import ast
import contextlib
import json
import math
import os
from dataclasses import dataclass, field

from flowstage_lib.tooling.book import (
    REPO_ROOT,
    SETTINGS_KEYS,
    ProfileError,
    check_overrides,
    load_profile,
)

__all__ = ["Finding", "ModelPlan", "CheckReport", "check_profile"]

OPTIONAL_DATASETS = {"fashion_mnist"}  # Sec. 3 skips and names a data set that is not installed


@dataclass
class Finding:
    """One line of the check: ``level`` is "ok", "note" (works, but differently) or "error"."""

    section: str
    level: str
    message: str


@dataclass
class ModelPlan:
    """A zoo network a profile's build trains (or loads)."""

    name: str  # e.g. "mlp-B (cfm, budget 2)"
    params: int  # parameters
    steps: int  # training steps
    cached: bool  # the final checkpoint is already in the cache
    est_seconds: float  # 0 when cached
    used_by: list[str] = field(default_factory=list)


@dataclass
class CheckReport:
    profile: str
    findings: list[Finding]
    models: list[ModelPlan]
    estimates: dict[str, tuple[float, str]]  # section -> (seconds, basis)

    @property
    def ok(self) -> bool:
        return not any(f.level == "error" for f in self.findings)

    def render(self) -> str:
        lines = [f"flowstage check --profile {self.profile}"]
        for f in self.findings:
            if f.level != "ok":
                lines.append(f"  {f.level.upper():5s} {f.section}: {f.message}")
        n_ok = sum(f.level == "ok" for f in self.findings)
        lines.append(f"  {n_ok} checks passed")
        if self.models:
            lines.append("models the zoo trains (or loads from the cache):")
            for m in self.models:
                state = (
                    "cached"
                    if m.cached
                    else f"train, ~{m.est_seconds / 60:.1f} min"
                    if math.isfinite(m.est_seconds)
                    else "train, speed not measured"
                )
                lines.append(
                    f"  {m.name:34s} {m.params / 1e6:6.2f} M params {m.steps:6d} steps  "
                    f"{state:18s} used by {', '.join(m.used_by)}"
                )
        lines.append("estimated time per section:")
        total = 0.0
        for sec, (sec_s, basis) in self.estimates.items():
            total += sec_s if math.isfinite(sec_s) else 0.0
            shown = f"{sec_s / 60:6.1f} min" if math.isfinite(sec_s) else "   unknown"
            lines.append(f"  {sec:22s} {shown}  ({basis})")
        lines.append(f"  {'total':22s} {total / 60:6.1f} min")
        lines.append("OK" if self.ok else "FAILED: fix the errors above before building")
        return "\n".join(lines)


def declared_parameters(section: str) -> set[str]:
    """Names assigned in the notebook's cell tagged ``parameters`` (read without papermill)."""
    nb = json.loads((REPO_ROOT / "book" / f"{section}.ipynb").read_text())
    for cell in nb["cells"]:
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            src = "".join(cell["source"])
            tree = ast.parse("\n".join(ln for ln in src.splitlines() if not ln.startswith("%")))
            return {
                t.id
                for node in ast.walk(tree)
                if isinstance(node, ast.Assign | ast.AnnAssign)
                for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
                if isinstance(t, ast.Name)
            }
    return set()


def _per_class(y) -> dict[int, int]:
    import torch

    counts = torch.bincount(torch.as_tensor(y).long())
    return {c: int(n) for c, n in enumerate(counts.tolist())}


def _check_parameters(profile: str, table: dict, sections: list[str]) -> list[Finding]:
    out = []
    for sec in sections:
        if sec not in table:
            out.append(Finding(sec, "error", f"profile {profile!r} has no entry for this section"))
            continue
        declared = declared_parameters(sec)
        values = dict(table[sec] or {})
        for name in sorted(set(values) - declared):
            out.append(Finding(sec, "error", f"{name!r} is set but not declared"))
        try:  # the same type and range rules as `-p NAME VALUE` overrides
            check_overrides(sec, profile, values)
        except ProfileError as err:
            out.append(Finding(sec, "error", str(err).removeprefix(f"{sec}: ")))
        out.append(Finding(sec, "ok", "parameters declared and in range"))
    for sec in sorted(set(table) - set(sections)):
        out.append(Finding(sec, "error", "profile has an entry for a section that is not in _toc"))
    return out


def _check_data(table: dict) -> list[Finding]:
    """Data sets and their per-class sizes against what the sections draw from them."""
    from flowstage_lib.data import heldout_images, load_dataset

    out = []
    for name in (table.get("sec3_two_stage") or {}).get("datasets", []) or []:
        try:
            ds = load_dataset(name)
            cls = _per_class(ds.y)
            out.append(
                Finding(
                    "sec3_two_stage",
                    "ok",
                    f"{name}: {ds.N} images, >= {min(cls.values())} per class",
                )  # fmt: skip
            )
        except FileNotFoundError as err:
            level = "note" if name in OPTIONAL_DATASETS else "error"
            out.append(Finding("sec3_two_stage", level, f"data set {name!r} is absent: {err}"))
    sec4 = table.get("sec4_stages") or {}
    if sec4:
        held, held_note = heldout_images("mnist5k")
        cls = _per_class(held.y)
        k = len(cls)
        n_refine = int(sec4.get("n_refine") or 0)
        need = 2 * math.ceil(n_refine / k)  # a query and its partner per image, balanced
        have = min(cls.values())
        fallback = "held-out split" in held_note
        # On the held-out split (the MNIST test files deleted) Sec. 4 scales n_refine down to
        # what the split holds and says so; with the test set present a shortfall is an error.
        level = "ok" if need <= have else ("note" if fallback else "error")
        out.append(
            Finding(
                "sec4_stages",
                level,
                f"n_refine = {n_refine} unseen images need {need} per class; {held_note} has "
                f"{have} per class"
                + {"ok": "", "error": " (lower n_refine)", "note": " (scaled down)"}[level],
            )
        )
        if fallback:
            out.append(Finding("sec4_stages", "note", held_note))
    return out


def _zoo_requests(table: dict, profile: str) -> list[tuple[str, str, int, str, str]]:
    """(size, target, budget, space, section) of every zoo network the sections ask for."""
    from flowstage_lib.training.zoo import ZOO_PRESETS

    main = ZOO_PRESETS[profile].main_size
    out = []
    s4 = table.get("sec4_stages") or {}
    # The calibrated setting trains on k x1 (k computed at build time): models of their own.
    sp4 = "pixels x k" if s4.get("setting") == "calibrated" else "pixels"
    for size in s4.get("sizes", []) or []:
        out.append((size, "cfm", 1, sp4, "sec4_stages"))
    if s4:
        out.append((main, "cfm", int(s4.get("long_budget") or 1), sp4, "sec4_stages"))
        for size in s4.get("table1_models", []) or []:
            out.append((size, "cfm", 1, sp4, "sec4_stages"))
    s5 = table.get("sec5_practices") or {}
    if s5:
        study = s5.get("study_size") or main
        # Sec. 5 reuses Sec. 4's k (experiments/sec5_practices/setting.py) for its pixel models
        sp5 = "pixels x k" if s5.get("setting") == "calibrated" else "pixels"
        out.append((main, "cfm", 1, sp5, "sec5_practices"))
        if sp5 != "pixels":  # Table 2's cross-check: the native main model on the mapped grid
            out.append((main, "cfm", 1, "pixels", "sec5_practices"))
        out.append((study, "cfm", 1, sp5, "sec5_practices"))
        out.append((study, "oracle", 1, sp5, "sec5_practices"))
        for space in ("recon", "aligned"):
            out.append((study, "cfm", 1, space, "sec5_practices"))
    return out


@contextlib.contextmanager
def _cache_only():
    """Within: a cache miss raises ``CacheMiss`` instead of computing (the check computes
    nothing)."""
    before = os.environ.get("FLOWSTAGE_CACHE_STRICT")
    os.environ["FLOWSTAGE_CACHE_STRICT"] = "1"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("FLOWSTAGE_CACHE_STRICT", None)
        else:
            os.environ["FLOWSTAGE_CACHE_STRICT"] = before


def _cached_scale(table: dict) -> float | None:
    """Sec. 4's data scale k when a build has already computed it (read from the cache, never
    computed here: it takes an oracle sweep), else None."""
    from flowstage_lib.tooling.cache import CacheMiss
    from flowstage_lib.tooling.prefetch import _data_scale

    if not table.get("sec4_stages"):
        return None
    with _cache_only():
        try:
            return _data_scale(table)
        except (CacheMiss, ValueError, TypeError, KeyError):  # bad parameters: reported above
            return None


def _scaled_cached(profile: str, size: str, target: str, budget: int, k: float) -> bool:
    """Whether the zoo's model on k x1 has its final checkpoint (the prefetch's test)."""
    from flowstage_lib.tooling.prefetch import ZooJob, _is_cached

    return _is_cached(profile, ZooJob(size, target, "pixels x k", (budget,), ()), k)


def _check_zoo(table: dict, profile: str) -> tuple[list[Finding], list[ModelPlan]]:
    from flowstage_lib.data import load_dataset
    from flowstage_lib.models import build_model, count_params
    from flowstage_lib.tooling.prefetch import train_rate
    from flowstage_lib.training import run_key
    from flowstage_lib.training.checkpoints import list_checkpoints as _list_ckpts
    from flowstage_lib.training.zoo import ZOO_PRESETS, zoo_config, zoo_spec

    preset = ZOO_PRESETS[profile]
    findings, plans, scale = [], {}, {}
    data = load_dataset("mnist5k", preset.split)
    for size, target, budget, space, sec in _zoo_requests(table, profile):
        if size not in preset.sizes:
            findings.append(
                Finding(
                    sec,
                    "error",
                    f"model size {size!r} is not in the {profile} ladder {list(preset.sizes)}",
                )  # fmt: skip
            )
            continue
        name = f"{preset.family}-{size} ({target}, budget {budget}, {space})"
        if name in plans:
            plans[name].used_by = sorted(set(plans[name].used_by) | {sec})
            continue
        spec = zoo_spec(profile, size, data)
        cfg = zoo_config(profile, target, budget, size)
        cached = False
        if space == "pixels":  # latent models depend on autoencoders the build trains
            ckpts = _list_ckpts(run_key(spec, data, cfg))
            cached = any(final and step >= cfg.steps for step, final, _ in ckpts)
        elif space == "pixels x k":  # known once a build has computed (and cached) Sec. 4's k
            if "k" not in scale:
                scale["k"] = _cached_scale(table)
            k = scale["k"]
            cached = k is not None and _scaled_cached(profile, size, target, budget, k)
        rate = train_rate(table, size, target)
        todo = cfg.steps - (cfg.steps // budget if budget > 1 else 0)  # budget k continues k-1
        est = 0.0 if cached else todo / rate
        n_params = count_params(build_model(spec))
        plans[name] = ModelPlan(name, n_params, cfg.steps, cached, est, [sec])
    findings.append(Finding("zoo", "ok", f"{len(plans)} zoo models planned"))
    return findings, list(plans.values())


def _estimates(
    table: dict, profile: str, models: list[ModelPlan], prefetched: set[str] = frozenset()
) -> dict[str, tuple[float, str]]:
    """Seconds per section (``prefetched``: models the prefetch phase trains, not the section)."""
    from flowstage_lib.tooling.cli import BUILD_DIR, sections

    measured = {}
    tfile = BUILD_DIR / profile / "timings.json"
    if tfile.exists():
        measured = json.loads(tfile.read_text())
    ref = (table.get("estimates") or {}).get("section_seconds", {})
    out = {}
    for sec in sections():
        train = sum(
            m.est_seconds
            for m in models
            if m.used_by and m.used_by[0] == sec and m.name not in prefetched
        )
        if sec in measured and measured[sec] > 1:
            base, basis = float(measured[sec]), "last build here"
        elif sec in ref:
            base, basis = float(ref[sec]), "reference machine, models cached"
        else:
            base, basis = math.nan, "no measurement"
        if train and math.isfinite(train):
            basis += f" + {train / 60:.1f} min of zoo training"
        elif train:
            base, basis = math.nan, basis + " + zoo training at an unmeasured speed"
        out[sec] = (base + train, basis)
    return out


def check_profile(profile: str) -> CheckReport:
    """Validate profile ``profile`` against this machine (see the module docstring)."""
    from flowstage_lib.tooling.cli import sections

    table = load_profile(profile)
    secs = sections()
    # prefetch_workers: a library setting kept out of book.SETTINGS_KEYS for now (book.py is
    # in the import closure of every cache key: editing it would invalidate every cache)
    params = {k: v for k, v in table.items() if k not in (*SETTINGS_KEYS, "prefetch_workers")}
    findings = _check_parameters(profile, params, secs)
    findings += _check_data(params)
    zoo_findings, models = _check_zoo(table, profile)
    findings += zoo_findings
    pre_findings, row, prefetched = _check_prefetch(table, profile, models)
    findings += pre_findings
    estimates = {"zoo prefetch": row} if row else {}
    estimates.update(_estimates(table, profile, models, prefetched))
    return CheckReport(profile, findings, models, estimates)


def _check_prefetch(table: dict, profile: str, models: list[ModelPlan]) -> tuple:
    """(findings, the plan's prefetch row or None, names of the models it trains): the
    ``prefetch_workers`` setting checked; when > 0, the phase's wall time is the longest-first
    schedule's makespan on that many workers (:func:`~flowstage_lib.tooling.prefetch.
    plan_prefetch`)."""
    import os

    from flowstage_lib.tooling.prefetch import KEY, check_workers, plan_prefetch

    try:
        workers = check_workers(table.get(KEY, 0))
    except ProfileError as err:
        return [Finding(KEY, "error", str(err))], None, set()
    out = [Finding(KEY, "ok", f"{KEY} = {workers}")]
    if workers > (os.cpu_count() or 1):
        out.append(Finding(KEY, "note", f"{workers} workers on {os.cpu_count()} cores"))
    if workers == 0:
        return out, None, set()
    row, names = plan_prefetch(table, profile, models, workers)
    return out, row, names
