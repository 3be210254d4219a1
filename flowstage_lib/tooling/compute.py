"""``flowstage compute SECTION... --profile P [-p NAME VALUE]``: run a section's experiments
without the book toolchain (no papermill, Jupyter or Sphinx: the library's core dependencies
only), filling the cache and writing ``provenance.json`` into the section's results folder.
``flowstage book --from-cache`` then renders every figure and table from that cache and
computes nothing (a miss is an error), e.g. on a CPU machine from a cache a GPU machine filled:
cache keys hold the device the profile requests, not the machine's
(:mod:`flowstage_lib.tooling.devices`).

Each section's ``compute(P)`` makes exactly the cached calls of its notebook (same functions,
same arguments): Secs. 4 and 5's notebooks call it and read its result (``Sec4Run``,
``Sec5Run``); the test suite checks every section by rendering the smoke book under
``FLOWSTAGE_CACHE_STRICT=1`` after ``flowstage compute --all``.
"""

from __future__ import annotations

import importlib
import time
from types import SimpleNamespace
from typing import Any

from flowstage_lib.tooling.book import (
    ProfileError,
    check_overrides,
    load_profile,
    section_params,
    write_provenance,
)
from flowstage_lib.tooling.devices import active_profile, key_device, run_device
from flowstage_lib.tooling.progress import note

__all__ = ["COMPUTE", "compute_section"]

#: section -> module whose ``compute(P)`` fills its cache. The report reads claims only, and
#: the "analyze your data" page runs ``flowstage analyze`` itself (the command is its compute).
COMPUTE = {
    "sec2_oracle": "flowstage_lib.experiments.sec2_sampling",
    "sec3_two_stage": "flowstage_lib.experiments.sec3_two_stage",
    "explorer": "flowstage_lib.experiments.explorer",
    "judges": "flowstage_lib.experiments.judges",
    "sec4_stages": "flowstage_lib.experiments.sec4_stages.compute",
    "sec5_practices": "flowstage_lib.experiments.sec5_practices.compute",
}


def params_for(section: str, profile: str, overrides: dict[str, Any] | None = None):
    """The section's parameters under ``profile`` with ``-p`` overrides (checked first)."""
    overrides = dict(overrides or {})
    check_overrides(section, profile, overrides)
    table = load_profile(profile)
    if section not in table:
        raise ProfileError(f"profile {profile!r} has no section {section!r}")
    namespace = {name: None for name in table[section]}
    unknown = sorted(set(overrides) - set(namespace))
    if unknown:
        raise ProfileError(
            f"{section}: no parameter {', '.join(map(repr, unknown))}; its parameters are: "
            f"{', '.join(sorted(namespace))}"
        )
    namespace.update(overrides)
    return section_params(section, profile, namespace)


def compute_section(
    section: str, profile: str, overrides: dict[str, Any] | None = None
) -> SimpleNamespace:
    """Run ``section``'s compute at ``profile`` (+ overrides); returns its parameters."""
    if section not in COMPUTE:
        raise ProfileError(
            f"section {section!r} has no compute step; choose from {', '.join(COMPUTE)}"
        )
    P = params_for(section, profile, overrides)
    with active_profile(profile):  # cache keys hold the profile's device (tooling/devices)
        device = run_device()
        t0 = time.time()
        note(f"compute {section} [{profile}] on {device} (cache keys: {key_device()}) ...")
        importlib.import_module(COMPUTE[section]).compute(P)
        wall = time.time() - t0
        write_provenance(section, profile, P, wall, stage="compute")
    note(f"compute {section}: done in {wall:.1f} s")
    return P
