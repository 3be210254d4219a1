"""Book plumbing: profiles, notebook parameters, results folders, figure/table export.

Every section notebook has a cell tagged ``parameters`` that declares its parameter names,
all ``None`` except ``profile``::

    profile = os.environ.get("FLOWSTAGE_PROFILE", "cpu")  # smoke | cpu | gpu | gpu-quick
    n_queries = None   # None = take the profile's value
    seed = None

and then calls ``P = section_params("sec3_two_stage", profile, globals())``. The values live in
one place, ``flowstage_lib/tooling/profiles/<profile>.yml`` (a mapping section -> parameters);
papermill ``-p name value`` (or ``flowstage run ... -p name value``) overrides any of them.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import yaml

__all__ = [
    "PROFILES",
    "REPO_ROOT",
    "ProfileError",
    "load_profile",
    "section_params",
    "check_overrides",
    "results_dir",
    "save_figure",
    "save_table",
    "Results",
    "VERDICTS",
    "SETTINGS_KEYS",
    "ProfileSetting",
    "IDENTITY_VERDICTS",
    "View",
    "provenance",
    "write_provenance",
]

from flowstage_lib._repo import REPO_ROOT  # noqa: E402

PROFILE_DIR = Path(__file__).resolve().parent / "profiles"
PROFILES = ("smoke", "cpu", "gpu", "gpu-quick")
VERDICTS = ("reproduced", "partly", "not reproduced", "out of reach here")
IDENTITY_VERDICTS = ("checked", "failed")  # for claims of kind "identity" (a property of a formula)


class ProfileError(ValueError):
    """Unknown profile, unknown section or unknown parameter."""


def load_profile(profile: str) -> dict[str, dict[str, Any]]:
    """The profile's parameter file: ``{section: {name: value}}``."""
    if profile not in PROFILES:
        raise ProfileError(f"unknown profile {profile!r}: choose one of {', '.join(PROFILES)}")
    with open(PROFILE_DIR / f"{profile}.yml") as f:
        return yaml.safe_load(f) or {}


#: Top-level keys of a profile file that are library settings, not sections' parameters.
SETTINGS_KEYS = ("zoo", "classifier_steps", "judge_steps", "estimates", "device")


class ProfileSetting(Mapping):
    """``{profile: value}`` of one library setting kept in ``profiles/<profile>.yml`` (e.g.
    ``classifier_steps``), read when first asked for; ``convert`` turns the YAML value into the
    library's object (e.g. a ``ZooPreset``)."""

    def __init__(self, key: str, convert=None):
        self.key, self.convert, self._values = key, convert, {}

    def __getitem__(self, profile: str):
        if profile not in PROFILES:
            raise KeyError(profile)
        if profile not in self._values:
            table = load_profile(profile)
            if self.key not in table:
                raise ProfileError(f"profiles/{profile}.yml has no {self.key!r} setting")
            value = table[self.key]
            self._values[profile] = self.convert(value) if self.convert else value
        return self._values[profile]

    def __iter__(self):
        return iter(PROFILES)

    def __len__(self) -> int:
        return len(PROFILES)


def section_params(section: str, profile: str, namespace: dict[str, Any]) -> SimpleNamespace:
    """Resolve a notebook's parameters: a value given in ``namespace`` (the notebook's
    globals after papermill's injection) wins; ``None`` takes the profile's value.

    Raises:
        ProfileError: unknown profile or section, a profile value the notebook does not
            declare, or a declared parameter that the profile lacks and nobody set.
    """
    table = load_profile(profile)
    if section not in table:
        raise ProfileError(f"profile {profile!r} has no section {section!r}")
    values = dict(table[section])
    for name in values:
        if name not in namespace:
            raise ProfileError(
                f"notebook {section}: profile {profile!r} sets {name!r}, which the "
                "notebook's parameters cell does not declare"
            )
        given = namespace[name]
        if given is not None:
            values[name] = given
    values["profile"] = profile
    values["section"] = section
    return SimpleNamespace(**values)


# Ranges of override values (checked before a notebook runs; types come from the profiles).
# Integers are counts (>= 1) unless listed here; floats must be finite.
_TIMES = {  # times / fractions of the flow in [0, 1]
    "mc_times", "field_times", "joint_max_t", "t_frames", "fig5_switches", "fig13_switches",
    "resume_times", "table1_splits",
}  # fmt: skip
_POSITIVE = {"h_rel", "tol", "spreads", "shifts", "cfg_scale"}  # floats > 0
_OPEN_TIMES = {"calibration_target_t"}  # times in (0, 1), ends excluded
_CHOICES = {"setting": ("calibrated", "native")}  # strings from a fixed set
_NON_NEGATIVE_INT = {"seed"}
_KIND = {bool: "a bool (true / false)", int: "an integer", float: "a number", str: "a string"}


def _profile_example(section: str, name: str, profile: str) -> Any:
    """The value of ``name`` in ``profile``, else the first non-null one in another profile
    (what the type is inferred from)."""
    for prof in (profile, *PROFILES):
        value = load_profile(prof).get(section, {}).get(name)
        if value is not None:
            return value
    return None


def _value_problem(name: str, value: Any, example: Any) -> str | None:
    """What is wrong with one (scalar) override value, or None."""
    kind = type(example)
    ok_types = (int, float) if kind is float else (kind,)
    if isinstance(value, bool) != (kind is bool) or not isinstance(value, ok_types):
        hint = ""
        if kind is int and isinstance(value, float) and value.is_integer():
            hint = f" (write {int(value)})"
        return f"{_KIND.get(kind, kind.__name__)} like {example!r}{hint}"
    if isinstance(value, float) and not math.isfinite(value):
        return "a finite number"
    if name in _TIMES and not 0.0 <= value <= 1.0:
        return "a time in [0, 1]"
    if name in _OPEN_TIMES and not 0.0 < value < 1.0:
        return "a time in (0, 1)"
    if name in _CHOICES and value not in _CHOICES[name]:
        return "one of " + ", ".join(repr(c) for c in _CHOICES[name])
    if name in _POSITIVE and not value > 0:
        return "a number > 0"
    if kind is int and name in _NON_NEGATIVE_INT and value < 0:
        return "an integer >= 0"
    if kind is int and name not in _NON_NEGATIVE_INT and value < 1:
        return "an integer >= 1 (a count)"
    return None


def check_overrides(section: str, profile: str, overrides: dict[str, Any]) -> None:
    """Check ``-p NAME VALUE`` overrides against the profiles before anything runs: the type
    of the profile's value (an int is fine where a float is expected; lists element-wise),
    counts >= 1, seeds >= 0, times in [0, 1] (``calibration_target_t`` in (0, 1)), scales > 0,
    ``setting`` one of calibrated / native. ``None`` (take the profile's value)
    is always fine; ``profile`` is not a parameter (``--profile`` chooses it).

    Raises:
        ProfileError: naming the section, the parameter, the value and what was expected.
    """
    load_profile(profile)
    if "profile" in overrides:
        raise ProfileError(
            f"{section}: 'profile' is not an overridable parameter (got -p profile "
            f"{overrides['profile']!r}); choose the profile with --profile, e.g. "
            f"--profile {overrides['profile']}"
        )
    for name, value in overrides.items():
        example = _profile_example(section, name, profile)
        if value is None or example is None:
            continue
        if isinstance(example, list):
            items = value if isinstance(value, list) else None
            want = next((x for x in example if x is not None), None)
            problems = ["a list"] if items is None or not items else []
            if items and want is not None:
                problems += [p for p in (_value_problem(name, v, want) for v in items) if p]
            if problems:
                raise ProfileError(
                    f"{section}: parameter {name!r} = {value!r}: expected a non-empty list "
                    f"like {example!r}" + (f" of {problems[0]}" if problems[0] != "a list" else "")
                )
            continue
        problem = _value_problem(name, value, example)
        if problem:
            raise ProfileError(
                f"{section}: parameter {name!r} = {value!r} ({type(value).__name__}): "
                f"expected {problem}"
            )


def results_dir(section: str, profile: str) -> Path:
    """``$FLOWSTAGE_RESULTS`` or ``<repo>/results``, then ``<profile>/<section>``."""
    root = Path(os.environ.get("FLOWSTAGE_RESULTS", REPO_ROOT / "results"))
    d = root / profile / section
    d.mkdir(parents=True, exist_ok=True)
    return d


def save_figure(fig, section: str, profile: str, name: str) -> Path:
    """Write ``fig`` as PNG (150 dpi) and PDF into the section's results folder."""
    d = results_dir(section, profile)
    fig.savefig(d / f"{name}.png", dpi=150, bbox_inches="tight")
    fig.savefig(d / f"{name}.pdf", bbox_inches="tight")
    return d / f"{name}.png"


def save_table(df, section: str, profile: str, name: str) -> Path:
    """Write a pandas DataFrame as CSV and Markdown into the section's results folder."""
    d = results_dir(section, profile)
    df.to_csv(d / f"{name}.csv", index=False)
    (d / f"{name}.md").write_text(df.to_markdown(index=False) + "\n")
    return d / f"{name}.csv"


@dataclass
class Results:
    """Bound ``save_figure`` / ``save_table`` for one (section, profile)."""

    section: str
    profile: str

    @property
    def dir(self) -> Path:
        return results_dir(self.section, self.profile)

    def figure(self, fig, name: str) -> Path:
        return save_figure(fig, self.section, self.profile, name)

    def table(self, df, name: str) -> Path:
        return save_table(df, self.section, self.profile, name)

    def claim(
        self,
        claim_id: str,
        claim: str,
        paper: str,
        ours: str,
        verdict: str,
        kind: str = "model",
        *,
        criterion: str,
    ) -> None:
        """Record one tested claim of the paper in ``claims.csv`` (read by the report page).

        Args:
            claim_id: short stable id, e.g. ``"fig2b_transition"``; re-recording replaces it.
            claim: the paper's claim in a sentence.
            paper: the paper's number(s) or statement.
            ours: our computed number(s), formatted.
            verdict: one of :data:`VERDICTS` (kind ``"model"``) or :data:`IDENTITY_VERDICTS`
                (kind ``"identity"``).
            kind: ``"model"`` (a claim about data, models or samplers) or ``"identity"`` (a
                property of a formula: checked, or failed when the code is wrong).
            criterion: the rule that gave the verdict, in a sentence (a criterion's ``test``,
                fixed before the number was seen); required, non-empty.
        """
        import pandas as pd

        allowed = {"model": VERDICTS, "identity": IDENTITY_VERDICTS}
        if kind not in allowed:
            raise ValueError(f"kind {kind!r} is not one of {tuple(allowed)}")
        if verdict not in allowed[kind]:
            raise ValueError(f"verdict {verdict!r} of a {kind} claim is not one of {allowed[kind]}")
        if not isinstance(criterion, str) or not criterion.strip():
            raise ValueError(f"criterion of claim {claim_id!r} must be a non-empty sentence")
        path = self.dir / "claims.csv"
        rows = pd.read_csv(path, keep_default_na=False).to_dict("records") if path.exists() else []
        rows = [{"kind": "model", "criterion": "", **r} for r in rows if r["id"] != claim_id]
        rows.append(
            {
                "id": claim_id,
                "section": self.section,
                "claim": claim,
                "paper": paper,
                "ours": ours,
                "verdict": verdict,
                "kind": kind,
                "criterion": criterion,
            }
        )
        columns = ["id", "section", "claim", "paper", "ours", "verdict", "kind", "criterion"]
        tmp = path.with_suffix(".tmp")
        pd.DataFrame(rows, columns=columns).to_csv(tmp, index=False)
        os.replace(tmp, path)


from flowstage_lib.tooling.provenance import View, provenance, write_provenance  # noqa: E402
