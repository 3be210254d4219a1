"""What a notebook records besides its figures: the wall time of its parts and where its
results came from (``provenance.json``: profile, parameters, git commit, device, versions,
wall time), and the :class:`View` helper every section notebook uses to time, glue and show."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from flowstage_lib._repo import REPO_ROOT
from flowstage_lib.tooling.book import Results, results_dir

__all__ = ["View", "provenance", "write_provenance"]


class View:
    """What a section notebook does besides calling ``experiments``: time the parts of the run,
    glue numbers into the text and show (and save) tables. One per notebook::

        V = View(Results(P.section, P.profile))
        curves = V.timed("curves", sec3_two_stage.curves, P)
        V.glue(t09=curves.t09)
        V.show(table, "fig3_crossings")
    """

    def __init__(self, results: Results):
        import time

        self.results = results
        self.times: dict[str, float] = {}  # wall-clock seconds of each named part
        self.t_start = time.time()

    def timed(self, name: str, fn, *args, **kwargs):
        """Call ``fn(*args, **kwargs)`` and add its wall time to ``self.times[name]``."""
        from flowstage_lib.tooling.progress import stage

        with stage(name, self.times):  # the terminal of `flowstage book` sees what runs
            return fn(*args, **kwargs)

    def glue(self, values: dict[str, Any] | None = None, **kwargs: Any) -> None:
        """``myst_nb.glue`` every value (numpy scalars as Python numbers), without display."""
        import numpy as np
        from myst_nb import glue

        for k, v in {**(values or {}), **kwargs}.items():
            glue(k, v.item() if isinstance(v, np.generic) else v, display=False)

    def finish(self, params: Any) -> Path:
        """Write the run's ``provenance.json`` (with the wall time since this view was made
        and the time of each named part) into the results folder; the notebook's last call."""
        import json
        import time

        path = write_provenance(
            self.results.section, self.results.profile, params, time.time() - self.t_start
        )
        record = json.loads(path.read_text())
        record["render"]["part_seconds"] = {k: round(v, 2) for k, v in self.times.items()}
        path.write_text(json.dumps(record, indent=1) + "\n")
        return path

    def show(self, df, name: str, floatfmt: str = ".3g") -> None:
        """Save ``df`` as the results table ``name`` and display it as Markdown."""
        from IPython.display import Markdown, display

        self.results.table(df, name)
        display(Markdown(df.to_markdown(index=False, floatfmt=floatfmt)))


def provenance(profile: str, params: dict[str, Any], wall_s: float | None = None) -> dict:
    """Where a results folder came from: profile, parameters, git commit (and whether the
    work tree had uncommitted changes), the device it ran on and the one its cache keys hold
    (:mod:`~flowstage_lib.tooling.devices`), torch/python versions, wall time, date."""
    import datetime
    import platform
    import subprocess

    import torch

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(
                ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    from flowstage_lib.tooling.devices import key_device, numerics, run_device

    status = git("status", "--porcelain", "--untracked-files=no")
    run = run_device()
    if run.type == "cuda":
        device = f"cuda: {torch.cuda.get_device_name(run)}"
    else:
        device = f"cpu: {platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    return {
        "profile": profile,
        "parameters": {k: v for k, v in params.items() if k not in ("profile", "section")},
        "git_commit": git("rev-parse", "HEAD"),
        "git_dirty": None if status is None else bool(status),
        "device": device,  # where it ran
        "key_device": key_device(profile),  # what its cache keys hold (the profile's device)
        "numerics": numerics(profile),  # "cpu-bf16": networks ran under bf16 autocast on the CPU
        "torch": torch.__version__,
        "python": platform.python_version(),
        "torch_threads": torch.get_num_threads(),
        "wall_seconds": None if wall_s is None else round(float(wall_s), 2),
        "finished_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def write_provenance(
    section: str, profile: str, params: Any, wall_s: float | None = None, stage: str = "render"
) -> Path:
    """Record in the section's ``provenance.json`` (atomically) where its results came from:
    ``{"compute": {...}, "render": {...}}``, one entry per stage (``flowstage compute`` writes
    ``compute``; a notebook's :meth:`View.finish` writes ``render``), each as in
    :func:`provenance`. ``params`` is a dict or the ``SimpleNamespace`` of
    :func:`section_params`."""
    import json

    if stage not in ("compute", "render"):
        raise ValueError(f"stage must be 'compute' or 'render', got {stage!r}")
    values = dict(vars(params)) if isinstance(params, SimpleNamespace) else dict(params)
    path = results_dir(section, profile) / "provenance.json"
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        record = {}
    record[stage] = provenance(profile, values, wall_s)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record, indent=1, default=str) + "\n")
    os.replace(tmp, path)
    return path
