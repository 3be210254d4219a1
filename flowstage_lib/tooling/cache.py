"""Content-addressed, atomic, checksummed on-disk cache.

Expensive results (trained models, oracle curves, sample sets) are stored under
``cache_dir()`` in files named by a hash of *everything that changes their content*:
the caller's parameters, the data fingerprint, and the source of the code that computes
them -- the static import closure (:func:`~flowstage_lib.tooling.closure.import_closure`)
of the module that calls :func:`cached` / :func:`cache_key`, found from the call stack, so
no hand-kept list of modules can miss a dependency, and an edit elsewhere (a plot, a
criterion) keeps the entry. A caller outside the package (``__main__``, a notebook, a test)
or a closure holding a dynamic import keys on the whole ``flowstage_lib`` package, as does
``FLOWSTAGE_CACHE_KEY=package``. Writes
are atomic (temporary file + ``os.replace``, mode ``0o666 & ~umask``), every file carries a
SHA-256 of its payload, and a file that cannot be loaded for any reason (truncated,
corrupted, unreadable) is reported, deleted and recomputed -- never used.

Payloads are loaded with ``torch.load(weights_only=True)``: store dicts / lists / tuples of
tensors, Python numbers, strings, bytes, bools and None only. :func:`save` converts numpy
scalars to Python numbers and refuses anything else (numpy arrays, arbitrary classes) with a
``TypeError`` naming where it sits, so a payload that could never be read back is never
written.

A cache that cannot be written (read-only or full disk) never throws finished work away:
:func:`cached` warns once per folder and returns the computed value.

Environment: ``FLOWSTAGE_CACHE`` moves the cache folder (default ``<repo>/data/cache``);
``FLOWSTAGE_NO_CACHE=1`` always recomputes and stores nothing; ``FLOWSTAGE_CACHE_KEY``
is ``closure`` (default) or ``package`` (key every entry on the whole package's source).

Example::

    from flowstage_lib.tooling.cache import cached
    curve = cached("top1_curve", {"D": 4096, "N": 1400, "seed": 0},
                   lambda: {"t": t, "top1": top1})
"""

from __future__ import annotations

import collections
import hashlib
import io
import json
import os
import tempfile
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

__all__ = [
    "CacheCorruptError",
    "CacheMiss",
    "cache_dir",
    "cache_key",
    "cache_path",
    "save",
    "try_save",
    "load",
    "cached",
    "import_closure",
    "key_files",
    "source_hash",
    "tensor_fingerprint",
]

T = TypeVar("T")
_MAGIC = b"FLOWSTAGE-CACHE-1\n"
from flowstage_lib._repo import REPO_ROOT as _REPO_ROOT  # noqa: E402
from flowstage_lib.tooling import closure as _closure  # noqa: E402
from flowstage_lib.tooling.closure import captured_files, import_closure, key_files  # noqa: E402

_PACKAGE = ("flowstage_lib",)
_WARNED: set[str] = set()  # folders already reported as unwritable
_SRC_MEMO: dict[tuple, str] = {}  # (file, mtime, size) tuple -> source hash


class CacheCorruptError(RuntimeError):
    """A cache file is truncated or its checksum does not match its payload."""


def cache_dir() -> Path:
    """The cache folder: ``$FLOWSTAGE_CACHE`` or ``<repo>/data/cache`` (ignored by git),
    created if possible (if not, reads find nothing and writes warn: see :func:`try_save`)."""
    d = Path(os.environ.get("FLOWSTAGE_CACHE", _REPO_ROOT / "data" / "cache"))
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError:
        pass
    return d


def _source_files(name: str) -> tuple[Path, list[Path]]:
    root = _closure.package_root(name)
    path = _closure.module_file(root, name)
    if path is None:
        raise ValueError(f"modules: {name!r} has no source file below {root}")
    files = sorted(path.parent.rglob("*.py")) if path.name == "__init__.py" else [path]
    return root.parent, files


def _files_hash(listing: list[tuple[Path, Path]]) -> str:
    """SHA-256 (16 hex) of (path relative to ``base``, bytes) of each ``(base, file)``,
    memoized on the files' (mtime, size)."""
    memo = []
    for base, f in sorted(listing, key=lambda bf: bf[1]):
        st = f.stat()
        memo.append((base, f, st.st_mtime_ns, st.st_size))
    memo = tuple(memo)
    if memo not in _SRC_MEMO:
        h = hashlib.sha256()
        for base, f, _, _ in memo:
            h.update(str(f.relative_to(base)).encode())
            h.update(f.read_bytes())
        if len(_SRC_MEMO) > 256:
            _SRC_MEMO.clear()
        _SRC_MEMO[memo] = h.hexdigest()[:16]
    return _SRC_MEMO[memo]


def source_hash(modules: Iterable[str] = _PACKAGE) -> str:
    """SHA-256 (16 hex) of the source files of the named modules / packages.

    A package name hashes every ``.py`` file below it; a module name hashes its file.
    Memoized on the files' (mtime, size): an edit gives a new hash.
    """
    listing = []
    for name in sorted(set(modules)):
        root, files = _source_files(name)
        listing += [(root, f) for f in files]
    return _files_hash(listing)


def tensor_fingerprint(x: torch.Tensor) -> str:
    """SHA-256 (16 hex) of a tensor's dtype, shape and bytes (a data set's identity)."""
    x = x.detach().cpu().contiguous()
    h = hashlib.sha256(f"{x.dtype}{tuple(x.shape)}".encode())
    h.update(x.view(torch.uint8).numpy().tobytes() if x.numel() else b"")
    return h.hexdigest()[:16]


def _canonical(obj: Any) -> Any:
    if isinstance(obj, (np.generic, np.ndarray)) and np.ndim(obj) == 0:
        obj = obj.item()  # numpy scalar / 0-d array -> the Python number
    if isinstance(obj, dict):
        return {str(k): _canonical(v) for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))}
    if isinstance(obj, (list, tuple)):
        return [_canonical(v) for v in obj]
    if isinstance(obj, torch.Tensor):
        return "tensor:" + tensor_fingerprint(obj)
    if isinstance(obj, np.ndarray) and obj.dtype.kind in "biufc":
        return "tensor:" + tensor_fingerprint(torch.from_numpy(np.ascontiguousarray(obj)))
    if isinstance(obj, float):
        return repr(obj)
    if isinstance(obj, (int, str, bool)) or obj is None:
        return obj
    if hasattr(obj, "__dataclass_fields__"):
        return {"__class__": type(obj).__name__, **_canonical(obj.__dict__)}
    return repr(obj)


def cache_key(kind: str, params: dict, modules: Iterable[str] | None = None) -> str:
    """Hash of ``kind``, ``params`` (canonical JSON; tensors and numpy arrays by fingerprint,
    numpy scalars as Python numbers) and the source of the code that computes the entry
    (:func:`key_files`): the import closure of ``modules`` when given, else of the calling
    module (a caller outside ``flowstage_lib``, or ``FLOWSTAGE_CACHE_KEY=package``: the whole
    package, the key of earlier versions), and the arithmetic
    (:func:`~flowstage_lib.tooling.devices.numerics`: bf16 networks on the CPU or not). Any
    change to any of them gives a new key.
    """
    return _key(kind, params, key_files(modules))


def _key(kind: str, params: dict, files: frozenset[Path]) -> str:
    from flowstage_lib import __version__
    from flowstage_lib.tooling.devices import numerics

    entry = {
        "kind": kind,
        "params": _canonical(params),
        "src": _files_hash([(_closure.hash_base(f.parent), f) for f in files]),
        "v": __version__,
    }
    if (arith := numerics()) != "default":  # bf16 networks on the CPU (last bits differ)
        entry["numerics"] = arith  # fp32 keys stay as they were
    blob = json.dumps(entry, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def cache_path(kind: str, key: str, suffix: str = ".pt") -> Path:
    return cache_dir() / kind / f"{key}{suffix}"


# Types torch.load(weights_only=True) reads back (exact types: a subclass such as np.float64
# would be pickled as its own class and refused at load time).
_LEAVES = (bool, int, float, complex, str, bytes, type(None), torch.dtype, torch.device)
_MAPPINGS = (dict, collections.OrderedDict)
_SEQUENCES = (list, tuple, set, torch.Size)


def _storable(obj: Any, where: str = "obj") -> Any:
    """``obj`` with numpy scalars / 0-d arrays as Python numbers; TypeError for anything the
    weights-only loader cannot read back, naming where it sits."""
    if isinstance(obj, torch.Tensor):  # saved on the CPU: results computed on a GPU travel
        return obj.detach().cpu() if obj.device.type != "cpu" else obj
    if type(obj) in _LEAVES:
        return obj
    if isinstance(obj, (np.generic, np.ndarray)) and np.ndim(obj) == 0:
        return obj.item()
    if type(obj) in _MAPPINGS:
        return type(obj)((k, _storable(v, f"{where}[{k!r}]")) for k, v in obj.items())
    if type(obj) in _SEQUENCES:
        items = [_storable(v, f"{where}[{i}]") for i, v in enumerate(obj)]
        return obj if type(obj) is torch.Size else type(obj)(items)
    hint = " (use torch.from_numpy)" if isinstance(obj, np.ndarray) else ""
    raise TypeError(
        f"cache.save: {where} is a {type(obj).__module__}.{type(obj).__qualname__}{hint}, which "
        "the weights-only loader cannot read back; store tensors, Python numbers, str, bytes, "
        "bool, None and dict / list / tuple of them"
    )


def _umask() -> int:
    try:  # Linux: read it without changing it (thread safe)
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def save(obj: Any, path: str | os.PathLike) -> Path:
    """Atomically write ``obj`` (weights-only safe; numpy scalars become Python numbers)
    with a checksum; the file gets mode ``0o666 & ~umask`` like any new file.

    Raises:
        TypeError: ``obj`` holds something the weights-only loader cannot read back.
        OSError: the folder cannot be written (see :func:`try_save`).
    """
    path = Path(path)
    buf = io.BytesIO()
    torch.save(_storable(obj), buf)
    payload = buf.getvalue()
    digest = hashlib.sha256(payload).hexdigest().encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(_MAGIC + digest + b"\n" + payload)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def _warn_unwritable(folder: Path | str, err: OSError, consequence: str) -> None:
    if str(folder) in _WARNED:
        return
    _WARNED.add(str(folder))
    reason = err.strerror or type(err).__name__
    warnings.warn(
        f"flowstage cache: cannot write to {folder} ({reason}); {consequence}. Set "
        "FLOWSTAGE_CACHE to a writable folder, or FLOWSTAGE_NO_CACHE=1 to stop caching",
        RuntimeWarning,
        stacklevel=3,
    )


def try_save(
    obj: Any, path: str | os.PathLike, consequence: str = "the result is returned but not stored"
) -> bool:
    """:func:`save`, but an unwritable cache (read-only, full disk, missing permission) only
    warns -- once per cache folder, naming it and the reason -- and returns False."""
    try:
        save(obj, path)
    except OSError as err:
        root, folder = cache_dir(), Path(path).parent
        _warn_unwritable(root if folder.is_relative_to(root) else folder, err, consequence)
        return False
    return True


def load(path: str | os.PathLike) -> Any:
    """Load a file written by :func:`save`; raise :class:`CacheCorruptError` when the
    header or checksum does not match (truncated or corrupted file)."""
    path = Path(path)
    raw = path.read_bytes()
    if not raw.startswith(_MAGIC):
        raise CacheCorruptError(f"{path}: not a flowstage cache file (bad header)")
    rest = raw[len(_MAGIC) :]
    digest, sep, payload = rest.partition(b"\n")
    if not sep or hashlib.sha256(payload).hexdigest().encode() != digest:
        raise CacheCorruptError(f"{path}: checksum mismatch (truncated or corrupted)")
    return torch.load(io.BytesIO(payload), weights_only=True, map_location="cpu")


def _load_or_discard(path: Path) -> tuple[bool, Any]:
    """(True, value) for a readable entry; (False, None) for a missing one. Any other load
    failure (checksum, unpickling, permissions) is a corrupt entry: warned about, removed."""
    try:
        return True, load(path)
    except FileNotFoundError:
        return False, None
    except Exception as err:  # noqa: BLE001 -- whatever the reason, the entry is unusable
        msg = str(err).splitlines()[0] if str(err) else type(err).__name__
        if not msg.startswith(str(path)):
            msg = f"{path}: {type(err).__name__}: {msg}"
        warnings.warn(f"{msg}; removing it and recomputing", RuntimeWarning, stacklevel=3)
        try:
            path.unlink(missing_ok=True)
        except OSError:
            pass
        return False, None


class CacheMiss(RuntimeError):
    """A cache entry is absent while ``FLOWSTAGE_CACHE_STRICT=1`` forbids computing it."""


def cached(
    kind: str,
    params: dict,
    compute: Callable[[], T],
    modules: Iterable[str] | None = None,
) -> T:
    """Return the cached result for (kind, params, the source of the code that computes it)
    or compute and store it: the key is :func:`cache_key`'s from the same caller, plus the
    import closures of the package modules that define ``compute`` and the functions and
    objects it captures (:func:`~flowstage_lib.tooling.closure.captured_files`: e.g. a
    velocity function or a model built in another module).

    A cache file that cannot be loaded (corrupted, truncated, unreadable) is reported with a
    warning, removed and recomputed. A cache that cannot be written warns once per folder and
    the computed value is returned all the same. Set ``FLOWSTAGE_NO_CACHE=1`` to always
    recompute (and not store). With ``FLOWSTAGE_CACHE_STRICT=1`` a miss raises
    :class:`CacheMiss` instead of computing (``flowstage book --from-cache``: render only what
    ``flowstage compute`` stored). ``modules``: see :func:`cache_key`.
    """
    if os.environ.get("FLOWSTAGE_NO_CACHE") == "1":
        return compute()
    files = key_files(modules)
    for code in captured_files(compute) - files:  # compute's module and what it captures
        files |= _closure.file_closure(_closure.OWN_ROOT, code)
    path = cache_path(kind, _key(kind, params, files))
    if path.exists():
        hit, value = _load_or_discard(path)
        if hit:
            return value
    if os.environ.get("FLOWSTAGE_CACHE_STRICT") == "1":
        raise CacheMiss(
            f"cache miss for {kind!r} under FLOWSTAGE_CACHE_STRICT=1 (rendering from a warm "
            f"cache): {path} is absent. Run `flowstage compute` for this section and profile "
            "with the same parameters first, or unset FLOWSTAGE_CACHE_STRICT to compute here"
        )
    value = compute()
    try_save(value, path)
    return value
