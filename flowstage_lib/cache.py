"""Content-addressed, atomic, checksummed on-disk cache.

Expensive results (trained models, oracle curves, sample sets) are stored under
``cache_dir()`` in files named by a hash of *everything that changes their content*:
the caller's parameters, the data fingerprint, and the source code of the library
modules that produce them. Writes are atomic (temporary file + ``os.replace``), every
file carries a SHA-256 of its payload, and a file whose checksum does not match
(truncated, corrupted) is reported, deleted and recomputed -- never used.

Payloads are loaded with ``torch.load(weights_only=True)``: store dicts / lists of
tensors, Python numbers, strings and bools only (no numpy arrays, no pickled classes).

Example::

    from flowstage_lib.cache import cached
    curve = cached("top1_curve", {"D": 4096, "N": 1400, "seed": 0},
                   lambda: {"t": t, "top1": top1}, modules=("flowstage_lib.oracle",))
"""

from __future__ import annotations

import hashlib
import importlib
import io
import json
import os
import tempfile
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import torch

__all__ = [
    "CacheCorruptError",
    "cache_dir",
    "cache_key",
    "cache_path",
    "save",
    "load",
    "cached",
    "source_hash",
    "tensor_fingerprint",
]

T = TypeVar("T")
_MAGIC = b"FLOWSTAGE-CACHE-1\n"
_REPO_ROOT = Path(__file__).resolve().parent.parent


class CacheCorruptError(RuntimeError):
    """A cache file is truncated or its checksum does not match its payload."""


def cache_dir() -> Path:
    """The cache folder: ``$FLOWSTAGE_CACHE`` or ``<repo>/data/cache`` (ignored by git)."""
    d = Path(os.environ.get("FLOWSTAGE_CACHE", _REPO_ROOT / "data" / "cache"))
    d.mkdir(parents=True, exist_ok=True)
    return d


def source_hash(modules: Iterable[str] = ("flowstage_lib",)) -> str:
    """SHA-256 (16 hex) of the source files of the named modules / packages.

    A package name hashes every ``.py`` file below it; a module name hashes its file.
    """
    h = hashlib.sha256()
    for name in sorted(set(modules)):
        mod = importlib.import_module(name)
        path = Path(mod.__file__)
        files = sorted(path.parent.rglob("*.py")) if path.name == "__init__.py" else [path]
        for f in files:
            h.update(str(f.relative_to(path.parent.parent)).encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:16]


def tensor_fingerprint(x: torch.Tensor) -> str:
    """SHA-256 (16 hex) of a tensor's dtype, shape and bytes (a data set's identity)."""
    x = x.detach().cpu().contiguous()
    h = hashlib.sha256(f"{x.dtype}{tuple(x.shape)}".encode())
    h.update(x.view(torch.uint8).numpy().tobytes() if x.numel() else b"")
    return h.hexdigest()[:16]


def _canonical(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _canonical(v) for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))}
    if isinstance(obj, (list, tuple)):
        return [_canonical(v) for v in obj]
    if isinstance(obj, torch.Tensor):
        return "tensor:" + tensor_fingerprint(obj)
    if isinstance(obj, float):
        return repr(obj)
    if isinstance(obj, (int, str, bool)) or obj is None:
        return obj
    if hasattr(obj, "__dataclass_fields__"):
        return {"__class__": type(obj).__name__, **_canonical(obj.__dict__)}
    return repr(obj)


def cache_key(kind: str, params: dict, modules: Iterable[str] = ("flowstage_lib",)) -> str:
    """Hash of ``kind``, ``params`` (canonical JSON; tensors by fingerprint) and the source
    of ``modules``. Any change to any of them gives a new key."""
    from flowstage_lib import __version__

    blob = json.dumps(
        {"kind": kind, "params": _canonical(params), "src": source_hash(modules), "v": __version__},
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def cache_path(kind: str, key: str, suffix: str = ".pt") -> Path:
    return cache_dir() / kind / f"{key}{suffix}"


def save(obj: Any, path: str | os.PathLike) -> Path:
    """Atomically write ``obj`` (torch-serializable, weights-only safe) with a checksum."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    torch.save(obj, buf)
    payload = buf.getvalue()
    digest = hashlib.sha256(payload).hexdigest().encode()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(_MAGIC + digest + b"\n" + payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


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


def cached(
    kind: str,
    params: dict,
    compute: Callable[[], T],
    modules: Iterable[str] = ("flowstage_lib",),
) -> T:
    """Return the cached result for (kind, params, modules' source) or compute and store it.

    A corrupted cache file is reported with a warning, removed and recomputed.
    Set ``FLOWSTAGE_NO_CACHE=1`` to always recompute (and not store).
    """
    if os.environ.get("FLOWSTAGE_NO_CACHE") == "1":
        return compute()
    path = cache_path(kind, cache_key(kind, params, modules))
    if path.exists():
        try:
            return load(path)
        except CacheCorruptError as err:
            warnings.warn(f"{err}; recomputing", stacklevel=2)
            path.unlink(missing_ok=True)
    value = compute()
    save(value, path)
    return value
