"""Static import closure of a module: the package source files it can execute.

A cache entry depends on the code that computes it. That code is found without a hand-kept
list: from the module that computes the entry, every ``import`` / ``from ... import``
anywhere in its syntax tree (module level, inside functions, under any conditional, ``try``
blocks and ``if TYPE_CHECKING:`` included) is followed, transitively, within the module's
top-level package. For each imported module the closure holds its file and the
``__init__.py`` of every parent package (Python executes them); ``from pkg import name``
where ``name`` is a submodule holds that submodule; relative imports are resolved.

Safe defaults -- the closure becomes the whole package (every ``.py`` file below the
top-level package) when a file of the closure

- calls ``importlib.import_module`` / ``__import__`` with anything but a literal string
  naming an absolute module (a literal is followed like an ``import``), or
- imports a module of the package that has no file (a relative import climbing out of the
  package, a misspelled or deleted module).

Scans are memoized on each file's (path, mtime, size); a closure on the (mtime, size) of the
files it read and the entries of the folders it listed, so an edit, a new submodule or a
removed one is seen by the next call.

Example::

    files = import_closure("flowstage_lib.training.trainer")  # frozenset of Paths
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import inspect
import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "ImportScan",
    "scan_imports",
    "import_closure",
    "file_closure",
    "key_files",
    "module_file",
    "package_root",
    "whole_package",
    "caller_file",
    "captured_files",
    "hash_base",
]

OWN_ROOT = Path(__file__).resolve().parents[1]  # .../flowstage_lib
# frames skipped when looking for the module that computes a cache entry
_HERE = {Path(__file__).resolve(), Path(__file__).with_name("cache.py").resolve()}
_DYNAMIC = {"import_module", "__import__"}


@dataclass(frozen=True)
class ImportScan:
    """What one source file imports: absolute module names ``imports`` (each with the names
    ``from`` imported from it, which may be submodules), and whether it holds a dynamic
    import that cannot be followed (``dynamic``)."""

    imports: tuple[tuple[str, tuple[str, ...]], ...]
    dynamic: bool


_SCANS: dict[tuple[Path, int, int], ImportScan] = {}
_CLOSURES: dict[tuple[Path, Path], tuple] = {}  # (root, file) -> (signature, inputs, files)


def package_root(module: str) -> Path:
    """The folder of ``module``'s top-level package (found without importing it).

    Raises:
        ValueError: ``module`` names no importable top-level package.
    """
    top = module.split(".")[0]
    if top == OWN_ROOT.name:
        return OWN_ROOT
    spec = importlib.util.find_spec(top) if top else None
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(f"modules: {module!r} is not in an importable package")
    return Path(list(spec.submodule_search_locations)[0]).resolve()


def module_file(root: Path, module: str) -> Path | None:
    """The file that defines ``module`` below the package folder ``root`` (a package's
    ``__init__.py``), or None when there is none."""
    return _finder(root)(module)


def _module_name(root: Path, file: Path) -> tuple[str, str]:
    """(module name, package the file's relative imports start from) of ``file``."""
    rel = file.relative_to(root.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
        return ".".join(parts), ".".join(parts)
    return ".".join(parts), ".".join(parts[:-1])


def _dynamic_target(node: ast.Call) -> str | None:
    """The absolute module a dynamic import names as a literal, '' when it names something
    that cannot be resolved statically, None when ``node`` is no dynamic import."""
    f = node.func
    name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
    if name not in _DYNAMIC:
        return None
    arg = node.args[0] if node.args else None
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and arg.value[:1] != ".":
        return arg.value
    return ""


def scan_imports(root: Path, file: Path) -> ImportScan:
    """The imports of ``file`` (below package folder ``root``), relative ones made absolute.

    Raises:
        SyntaxError: ``file`` does not parse.
    """
    st = file.stat()
    memo = (file, st.st_mtime_ns, st.st_size)
    if memo not in _SCANS:
        _, package = _module_name(root, file)
        imports: list[tuple[str, tuple[str, ...]]] = []
        dynamic = False
        for node in ast.walk(ast.parse(file.read_bytes(), filename=str(file))):
            if isinstance(node, ast.Import):
                imports += [(a.name, ()) for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    up = package.split(".")
                    keep = len(up) - (node.level - 1)
                    # climbing out of the top-level package: unresolvable (whole package)
                    base = ".".join(up[:keep]) if keep > 0 else f"{root.name}.<outside>"
                    base = f"{base}.{node.module}" if node.module else base
                else:
                    base = node.module or ""
                imports.append((base, tuple(a.name for a in node.names if a.name != "*")))
            elif isinstance(node, ast.Call) and (target := _dynamic_target(node)) is not None:
                if target:
                    imports.append((target, ()))
                else:
                    dynamic = True
        _SCANS[memo] = ImportScan(tuple(imports), dynamic)
    return _SCANS[memo]


def _finder(root: Path) -> Callable[[str], Path | None]:
    """:func:`module_file` below ``root`` from folder listings read once per closure (so a
    new or deleted file is seen by the next closure)."""
    listings: dict[str, frozenset[str]] = {}
    memo: dict[str, Path | None] = {}

    def names(folder: str) -> frozenset[str]:
        if folder not in listings:
            try:
                listings[folder] = frozenset(os.listdir(folder))
            except OSError:
                listings[folder] = frozenset()
        return listings[folder]

    def find(module: str) -> Path | None:
        if module not in memo:
            parts, found = module.split("."), None
            folder = os.path.join(root, *parts[1:-1])
            if parts[0] != root.name:
                pass
            elif len(parts) == 1:
                found = "__init__.py" in names(folder) and os.path.join(folder, "__init__.py")
            elif parts[-1] in names(folder) and "__init__.py" in names(
                sub := os.path.join(folder, parts[-1])
            ):
                found = os.path.join(sub, "__init__.py")
            elif f"{parts[-1]}.py" in names(folder):
                found = os.path.join(folder, f"{parts[-1]}.py")
            memo[module] = Path(found) if found else None
        return memo[module]

    find.folders = listings  # what the closure depends on besides the files it reads
    return find


def _with_parents(root: Path, module: str, find=None) -> list[Path] | None:
    """Files executed by ``import module``: each parent package's ``__init__.py`` and the
    module's own file; None when one of them is missing."""
    parts = module.split(".")
    find = find or _finder(root)
    files = [find(".".join(parts[:i])) for i in range(1, len(parts) + 1)]
    return None if None in files else files


def whole_package(root: Path) -> frozenset[Path]:
    """Every ``.py`` file below the package folder ``root``."""
    return frozenset(root.rglob("*.py"))


def _file_deps(root: Path, file: Path, find=None) -> list[Path] | None:
    """The package files ``file`` imports directly; None when it must fall back to the whole
    package (a dynamic import, or a package module without a file)."""
    try:
        scan = scan_imports(root, file)
    except (SyntaxError, ValueError):  # a file that does not parse: be safe
        return None
    if scan.dynamic:
        return None
    find = find or _finder(root)
    out: list[Path] = []
    for module, names in scan.imports:
        if module.split(".")[0] != root.name:
            continue  # another package (torch, numpy, ...): not ours to hash
        files = _with_parents(root, module, find)
        if files is None:
            return None
        out += files
        out += [f for n in names if (f := find(f"{module}.{n}")) is not None]
    return out


def _entries(folder: str) -> frozenset[str] | None:
    try:
        return frozenset(os.listdir(folder))
    except OSError:
        return None  # absent: its creation changes the signature


def _signature(files, folders) -> tuple | None:
    """(mtime, size) of ``files`` and the entries of ``folders`` (a file added or removed,
    a folder created), or None when a file is gone."""
    try:
        files = tuple((f, (st := os.stat(f)).st_mtime_ns, st.st_size) for f in files)
    except OSError:
        return None
    return files + tuple((d, _entries(d)) for d in folders)


def file_closure(root: Path, file: Path) -> frozenset[Path]:
    """The files below package folder ``root`` that running ``file`` can execute: ``file``,
    its parent packages' ``__init__.py``, and everything they import, transitively; the
    whole package when any of them holds an import that cannot be followed. Memoized on the
    (mtime, size) of the files read and the entries of the folders listed."""
    root, file = root.resolve(), Path(file).resolve()
    memo = _CLOSURES.get((root, file))
    if memo is not None and memo[0] is not None and _signature(*memo[1]) == memo[0]:
        return memo[2] if memo[2] is not None else whole_package(root)
    mod, _ = _module_name(root, file)
    find = _finder(root)
    start = _with_parents(root, mod, find) or [file]
    seen: set[Path] = set(start)
    todo, read = list(start), []
    while todo:
        read.append(todo.pop())
        deps = _file_deps(root, read[-1], find)
        if deps is None:
            seen = None
            break
        for f in deps:
            if f not in seen:
                seen.add(f)
                todo.append(f)
    inputs = (tuple(read), tuple(find.folders))
    _CLOSURES[(root, file)] = (
        _signature(*inputs),
        inputs,
        None if seen is None else frozenset(seen),
    )
    return whole_package(root) if seen is None else frozenset(seen)


def import_closure(module: str) -> frozenset[Path]:
    """The source files of ``module``'s top-level package that importing ``module`` can
    execute (see the module docstring); e.g. ``import_closure("flowstage_lib.training.zoo")``.

    Raises:
        ValueError: ``module`` does not resolve to a file of an importable package.
    """
    root = package_root(module)
    file = module_file(root, module)
    if file is None:
        raise ValueError(f"modules: {module!r} has no source file below {root}")
    return file_closure(root, file)


# ------------------------------------------------ which files key a cache entry


@functools.lru_cache(maxsize=1024)
def _resolved(filename: str) -> Path:
    return Path(filename).resolve()


@functools.lru_cache(maxsize=1024)
def _package_file(filename: str) -> Path | None:
    """``filename`` resolved when it is a source file of ``flowstage_lib``, else None."""
    p = _resolved(filename)
    return p if p.suffix == ".py" and p.is_relative_to(OWN_ROOT) and p.is_file() else None


def caller_file() -> Path | None:
    """The package file of the first frame outside ``tooling/cache.py`` and this module (the
    module that computes a cache entry), or None when that frame is not a package file
    (``__main__``, a notebook cell, a test: the whole package keys the entry)."""
    frame = sys._getframe(1)
    while frame is not None and _resolved(frame.f_code.co_filename) in _HERE:
        frame = frame.f_back
    return None if frame is None else _package_file(frame.f_code.co_filename)


def _cell(c) -> Any:
    try:
        return c.cell_contents
    except ValueError:  # an empty cell (a name not yet assigned)
        return None


def _children(v: Any) -> list:
    """What a value captures: cells and defaults of a function, a partial's function and
    arguments, a bound method's instance, a container's items, a package object's fields."""
    if isinstance(v, functools.partial):
        return [v.func, *v.args, *v.keywords.values()]
    if inspect.ismethod(v):
        return [v.__func__, v.__self__]
    if inspect.isfunction(v):
        cells = [_cell(c) for c in v.__closure__ or ()]
        return cells + list(v.__defaults__ or ()) + list((v.__kwdefaults__ or {}).values())
    if isinstance(v, (list, tuple, set, frozenset)):
        return list(v)[:64]
    if isinstance(v, dict):
        return list(v.values())[:64]
    return list(getattr(v, "__dict__", {}).values())[:64] if _type_file(v) else []


def _type_file(v: Any) -> Path | None:
    code = getattr(v, "__code__", None)  # a function: where it is written; else its class's
    mod = v if inspect.ismodule(v) else sys.modules.get(type(v).__module__)
    f = code.co_filename if code else getattr(mod, "__file__", "")
    return _package_file(f) if f else None


def captured_files(fn: Any, depth: int = 3) -> set[Path]:
    """The package files that define ``fn`` and what it captures, ``depth`` levels deep
    (:func:`_children`; a function by its code, an object by its class): an injected
    velocity function, model or judge keys a cache entry with the code of its module."""
    out: set[Path] = set()
    todo, seen = [(fn, depth)], set()
    while todo:
        v, d = todo.pop()
        if id(v) in seen or isinstance(v, (str, bytes, int, float, type(None))):
            continue
        seen.add(id(v))
        if (f := _type_file(v)) is not None:
            out.add(f)
        if d > 0:
            try:
                todo += [(c, d - 1) for c in _children(v)]
            except (ValueError, TypeError):  # an empty cell, an odd object: its own file only
                pass
    return out


def key_files(modules: Iterable[str] | None = None) -> frozenset[Path]:
    """The source files a cache key hashes: the union of the import closures of
    ``modules``; when None, the closure of the calling module (the first frame outside this
    module); the whole package when the caller is not a package file or
    ``FLOWSTAGE_CACHE_KEY=package``.

    Raises:
        ValueError: ``FLOWSTAGE_CACHE_KEY`` is not ``closure`` / ``package``, or a name in
            ``modules`` has no source file.
    """
    mode = os.environ.get("FLOWSTAGE_CACHE_KEY", "closure")
    if mode not in ("closure", "package"):
        raise ValueError(f"FLOWSTAGE_CACHE_KEY must be 'closure' or 'package', got {mode!r}")
    if mode == "package":
        return whole_package(OWN_ROOT)
    if isinstance(modules, str):
        raise TypeError(f"modules must be an iterable of module names, got the str {modules!r}")
    if modules is not None:
        modules = list(modules)
        if not modules:
            raise ValueError("modules must name at least one module (or be None: the caller's)")
        return frozenset().union(*(import_closure(m) for m in modules))
    caller = caller_file()
    if caller is None:
        return whole_package(OWN_ROOT)
    return file_closure(OWN_ROOT, caller)


@functools.lru_cache(maxsize=256)
def hash_base(folder: Path) -> Path:
    """The folder above the top-level package holding ``folder`` (paths hash relative to it)."""
    while (folder / "__init__.py").is_file():
        folder = folder.parent
    return folder
