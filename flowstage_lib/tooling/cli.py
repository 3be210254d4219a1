"""The ``flowstage`` command (also ``python -m flowstage_lib``).

    flowstage list                                   sections and profiles
    flowstage run SECTION [--profile P] [-p NAME VALUE ...] [--device D]  re-run one section
    flowstage compute SECTION... | --all [--profile P] [-p NAME VALUE ...] [--device D]
    flowstage book [--profile P] [--force] [--no-html] [--from-cache] [--device D]
    flowstage check [--profile P|all]                        validate a profile, print the plan
    flowstage analyze DATA [--labels L] [--convention C]     where is your data's transition

``book`` executes each section notebook once with papermill into a staging copy of the book
(``_build/<profile>/src``) and builds the HTML from those executed notebooks (Jupyter Book 1.x
with ``execute_notebooks: off``, warnings as errors): nothing runs twice. A section whose
staged notebook was executed from the same notebook, parameters and library source is not run
again, so a build killed midway resumes from the finished sections.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from flowstage_lib.tooling import progress
from flowstage_lib.tooling.book import (
    PROFILES,
    REPO_ROOT,
    ProfileError,
    check_overrides,
    load_profile,
)
from flowstage_lib.tooling.devices import DEVICE_ENV, DEVICE_HELP, DeviceError, requested_device
from flowstage_lib.tooling.prefetch import run_prefetch
from flowstage_lib.tooling.progress import time_table

BOOK_DIR = REPO_ROOT / "book"
BUILD_DIR = REPO_ROOT / "_build"


def sections() -> list[str]:
    """Section notebooks in table-of-contents order (stems of ``book/*.ipynb`` in _toc.yml)."""
    toc = yaml.safe_load((REPO_ROOT / "_toc.yml").read_text())
    files = [toc["root"]] + [entry["file"] for entry in _toc_entries(toc)]
    out = []
    for f in files:
        p = REPO_ROOT / f
        nb = p.with_suffix(".ipynb") if p.suffix == "" else p
        if nb.suffix == ".ipynb" and nb.exists():
            out.append(nb.stem)
    return out


def _toc_entries(toc: dict) -> list[dict]:
    entries = []
    for key in ("chapters", "parts"):
        for item in toc.get(key, []):
            if "file" in item:
                entries.append(item)
            for sub in item.get("chapters", []) + item.get("sections", []):
                entries.append(sub)
    return entries


def _notebook(section: str) -> Path:
    nb = BOOK_DIR / f"{section}.ipynb"
    if not nb.exists():
        raise ProfileError(f"unknown section {section!r}: choose one of {', '.join(sections())}")
    return nb


def _declared_parameters(nb: Path) -> set[str]:
    import papermill

    return set(papermill.inspect_notebook(str(nb)).keys())


def check_parameters(section: str, overrides: dict[str, Any]) -> None:
    """Raise a clear error for a parameter the section's notebook does not declare."""
    declared = _declared_parameters(_notebook(section))
    unknown = sorted(set(overrides) - declared)
    if unknown:
        raise ProfileError(
            f"notebook {section}.ipynb has no parameter {', '.join(map(repr, unknown))}; "
            f"its parameters are: {', '.join(sorted(declared))}"
        )


def _stage_hash(section: str, profile: str, overrides: dict[str, Any]) -> str:
    from flowstage_lib.tooling.cache import source_hash

    h = hashlib.sha256(_notebook(section).read_bytes())
    h.update(
        json.dumps(
            [profile, load_profile(profile).get(section), overrides], sort_keys=True, default=str
        ).encode()
    )
    h.update(source_hash(("flowstage_lib",)).encode())
    h.update(os.environ.get(DEVICE_ENV, "").encode())  # --device changes what runs and keys
    return h.hexdigest()[:24]


def execute(
    section: str,
    profile: str,
    out: Path,
    overrides: dict[str, Any] | None = None,
    force: bool = False,
) -> bool:
    """Execute one section notebook with papermill into ``out``. Returns False when a finished
    execution with the same inputs is already there (resume), True when it ran."""
    import papermill

    overrides = dict(overrides or {})
    load_profile(profile)  # validates the profile name
    check_overrides(section, profile, overrides)  # types and ranges, before any kernel starts
    check_parameters(section, overrides)
    key = _stage_hash(section, profile, overrides)
    if out.exists() and not force:
        meta = json.loads(out.read_text()).get("metadata", {}).get("flowstage", {})
        if meta.get("hash") == key and meta.get("status") == "ok":
            return False
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.stem + ".running.ipynb")
    env = {  # inherited by the kernel
        "FLOWSTAGE_PROFILE": profile,
        "FLOWSTAGE_SECTION": section,
        progress.ENV: str(out.with_name(out.stem + ".progress.txt")),
    }
    env_before = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        with progress.ProgressTail(Path(env[progress.ENV])):
            papermill.execute_notebook(
                str(_notebook(section)),
                str(tmp),
                parameters={"profile": profile, **overrides},
                cwd=str(BOOK_DIR),
                kernel_name="python3",
                progress_bar=False,  # cell counts say little; the kernel's own lines follow
            )
    finally:
        for k, v in env_before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    nb = json.loads(tmp.read_text())
    for cell in nb["cells"]:  # the book shows parameters folded ("show code cell source")
        tags = cell.setdefault("metadata", {}).setdefault("tags", [])
        if {"parameters", "injected-parameters"} & set(tags) and "hide-input" not in tags:
            tags.append("hide-input")
    nb.setdefault("metadata", {})["flowstage"] = {
        "hash": key,
        "status": "ok",
        "profile": profile,
        "overrides": overrides,
    }
    tmp.write_text(json.dumps(nb, indent=1))
    os.replace(tmp, out)
    return True


def build_book(
    profile: str, force=False, html=True, only: list | None = None, prefetch=True
) -> Path:
    """Execute every section (resuming finished ones) and build the HTML book; ``prefetch``:
    first train the zoo in the profile's ``prefetch_workers`` processes (:mod:`.prefetch`)."""
    stage = BUILD_DIR / profile / "src"
    (stage / "book").mkdir(parents=True, exist_ok=True)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy2(REPO_ROOT / name, stage / name)
    for p in BOOK_DIR.iterdir():  # pages, images, static files (not the notebooks)
        if p.suffix == ".ipynb" or p.name.startswith((".", "_build")):
            continue
        dst = stage / "book" / p.name
        if p.is_dir():
            shutil.copytree(p, dst, dirs_exist_ok=True)
        else:
            shutil.copy2(p, dst)
    todo = only or sections()
    # The report page reads the claims every other section writes: execute it last.
    todo = [s for s in todo if s != "report"] + [s for s in todo if s == "report"]
    tail = BUILD_DIR / profile / "prefetch.progress.txt"
    timings = run_prefetch(profile, todo, tail=tail) if prefetch else {}
    for i, section in enumerate(todo, 1):
        t0 = time.time()
        print(f"[flowstage] ({i}/{len(todo)}) {section} [{profile}]", flush=True)
        ran = execute(
            section,
            profile,
            stage / "book" / f"{section}.ipynb",
            force=force or section == "report",
        )  # the report reads fresh claims
        timings[section] = time.time() - t0
        print(
            f"[flowstage] {section}: {'executed' if ran else 'up to date (resumed)'} "
            f"in {timings[section]:.1f} s",
            flush=True,
        )
    (BUILD_DIR / profile / "timings.json").write_text(json.dumps(timings, indent=1))
    print(time_table(timings, profile), flush=True)
    if not html:
        return stage
    jb = shutil.which("jupyter-book", path=str(Path(sys.executable).parent)) or shutil.which(
        "jupyter-book"
    )
    if jb is None:
        raise ProfileError("jupyter-book is not installed: run `make book` (it installs it)")
    cmd = [
        jb,
        "build",
        str(stage),
        "--path-output",
        str(BUILD_DIR / profile),
        "-W",
        "-n",
        "--keep-going",
    ]
    print("[flowstage]", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)
    index = BUILD_DIR / profile / "_build" / "html" / "index.html"
    print(f"[flowstage] book written: {index}", flush=True)
    return index


def refresh_outputs(section: str) -> Path:
    """Store, in the committed notebook, the smoke-profile outputs of the cells tagged
    ``nbval-check-output`` (what nbval compares) and no other output."""
    import nbformat

    src = _notebook(section)
    out = BUILD_DIR / "refresh" / f"{section}.ipynb"
    execute(section, "smoke", out, force=True)
    executed = nbformat.read(out, as_version=4)
    nb = nbformat.read(src, as_version=4)
    done_cells = [
        c
        for c in executed.cells  # papermill adds an injected-parameters cell
        if "injected-parameters" not in c.metadata.get("tags", [])
    ]
    for cell, done in zip(nb.cells, done_cells, strict=True):
        if cell.cell_type != "code":
            continue
        keep = "nbval-check-output" in cell.metadata.get("tags", [])
        cell.outputs = done.outputs if keep else []
        cell.execution_count = done.execution_count if keep else None
    nbformat.write(nb, src)
    return src


def _parse_value(text: str) -> Any:
    """A ``-p`` value as YAML, plus what YAML 1.1 leaves a string: ``1e3`` is a float."""
    value = yaml.safe_load(text)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    return value


def _param_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-p",
        "--param",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="override a parameter (YAML value)",
    )
    p.add_argument("--device", metavar="D", help=DEVICE_HELP)


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="flowstage", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list", help="list sections and profiles")
    r = sub.add_parser("run", help="re-run one section notebook with papermill")
    r.add_argument("section")
    r.add_argument("--profile", default="cpu")
    _param_option(r)
    r.add_argument("-o", "--output", help="executed notebook path")
    k = sub.add_parser("compute", help="run sections' experiments without the book toolchain")
    k.add_argument("sections", nargs="*", help="sections to compute (default with --all: every)")
    k.add_argument("--all", action="store_true", help="every section that has a compute step")
    k.add_argument("--profile", default="cpu")
    _param_option(k)
    k.add_argument("--no-prefetch", action="store_true", help="do not train the zoo up front")
    b = sub.add_parser("book", help="execute every section and build the HTML book")
    b.add_argument("--profile", default="cpu")
    b.add_argument("--force", action="store_true", help="re-execute finished sections")
    b.add_argument("--no-html", action="store_true", help="execute only")
    b.add_argument("--only", nargs="+", help="execute only these sections")
    b.add_argument("--device", metavar="D", help=DEVICE_HELP)
    b.add_argument("--no-prefetch", action="store_true", help="do not train the zoo up front")
    b.add_argument("--check", action="store_true", help="only validate the profile, print the plan")
    b.add_argument(
        "--from-cache",
        action="store_true",
        help="render from what `flowstage compute` stored; a cache miss is an error",
    )
    c = sub.add_parser("check", help="validate a profile's parameters, data, models; the plan")
    c.add_argument("--profile", default="cpu", help="a profile, or 'all'")
    f = sub.add_parser("refresh-outputs", help="store smoke outputs of nbval-check-output cells")
    f.add_argument("sections", nargs="*")
    from flowstage_lib.analyze import cli as analyze_cli

    analyze_cli.add_parser(sub)
    return ap


def _custom_results(overrides: dict[str, Any]) -> None:
    """Results of a run with overrides never overwrite the profile's: ``<results>/custom-<hash>``
    (``<results>``: ``$FLOWSTAGE_RESULTS`` or ``<repo>/results``)."""
    if overrides:
        tag = hashlib.sha256(json.dumps(overrides, sort_keys=True).encode()).hexdigest()[:8]
        root = os.environ.get("FLOWSTAGE_RESULTS", str(REPO_ROOT / "results"))
        os.environ["FLOWSTAGE_RESULTS"] = str(Path(root) / f"custom-{tag}")


def _compute(args) -> None:
    from flowstage_lib.tooling.compute import COMPUTE, compute_section

    todo = list(COMPUTE) if args.all else args.sections
    if not todo:
        raise ProfileError(f"name the sections to compute ({', '.join(COMPUTE)}) or --all")
    overrides = {k: _parse_value(v) for k, v in args.param}
    _custom_results(overrides)
    with progress.ProgressTail(BUILD_DIR / "compute" / "progress.txt"):
        os.environ[progress.ENV] = str(BUILD_DIR / "compute" / "progress.txt")
        try:
            timings = {} if args.no_prefetch else run_prefetch(args.profile, todo, overrides)
            for section in todo:
                os.environ["FLOWSTAGE_SECTION"] = section
                t0 = time.time()
                compute_section(section, args.profile, overrides)
                timings[section] = time.time() - t0
        finally:
            os.environ.pop(progress.ENV, None)
            os.environ.pop("FLOWSTAGE_SECTION", None)
    print(time_table(timings, args.profile), flush=True)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.cmd == "analyze":
        from flowstage_lib.analyze import cli as analyze_cli

        return analyze_cli.run(args)
    try:
        with requested_device(getattr(args, "device", None), "--device"):
            if args.cmd == "list":
                print("sections:", *sections(), sep="\n  ")
                print("profiles:", *PROFILES, sep="\n  ")
                for prof in PROFILES:
                    for sec, params in load_profile(prof).items():
                        print(f"  {prof}/{sec}: {params}")
            elif args.cmd == "run":
                overrides = {k: _parse_value(v) for k, v in args.param}
                _custom_results(overrides)
                runs = BUILD_DIR / "runs" / args.profile
                out = Path(args.output or runs / f"{args.section}.ipynb")
                execute(args.section, args.profile, out, overrides, force=True)
                print(f"[flowstage] executed notebook: {out}")
                res = Path(os.environ.get("FLOWSTAGE_RESULTS", REPO_ROOT / "results"))
                print(f"[flowstage] figures and tables: {res / args.profile / args.section}")
            elif args.cmd == "compute":
                _compute(args)
            elif args.cmd == "check" or (args.cmd == "book" and args.check):
                from flowstage_lib.tooling.check import check_profile

                profiles = PROFILES if args.profile == "all" else (args.profile,)
                reports = [check_profile(p) for p in profiles]
                print("\n\n".join(r.render() for r in reports))
                return 0 if all(r.ok for r in reports) else 1
            elif args.cmd == "book":
                if args.from_cache:  # inherited by the kernels
                    os.environ["FLOWSTAGE_CACHE_STRICT"] = "1"
                pre = not (args.no_prefetch or args.from_cache)  # from the cache: nothing trains
                build_book(args.profile, args.force, not args.no_html, args.only, pre)
            elif args.cmd == "refresh-outputs":
                for section in args.sections or sections():
                    print(f"[flowstage] refreshed {refresh_outputs(section)}")
    except (ProfileError, DeviceError) as err:
        print(f"flowstage: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
