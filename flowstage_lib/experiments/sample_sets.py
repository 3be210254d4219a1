"""Every table's sample sets, exported so a reader can re-score them (issue 13, item 7).

A reader who doubts our judges checks a table without rerunning anything: each row's samples
are written as one uint8 ``.npz`` (``x`` (n, C, H, W) uint8 pixels, 0 = black; ``y`` (n,) int64
labels) beside the section's results, with an ``index.csv`` that names each row's sampler,
model, grid and seed::

    results/<profile>/<section>/samples/<table>/index.csv
    results/<profile>/<section>/samples/<table>/00_s=4.npz, 01_s=2.npz, ...

Re-scoring with any metric::

    import pandas as pd
    from flowstage_lib.experiments.sample_sets import load_sample_set
    index = pd.read_csv(".../samples/table2/index.csv")
    for row in index.itertuples():
        x, y = load_sample_set(index_dir / row.file)    # x (n, C, H, W) float in [-1, 1]
        print(row.row, my_metric(x, y))
"""

from __future__ import annotations

import csv
import io
import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from flowstage_lib.data import from_u8, to_u8
from flowstage_lib.tooling.book import results_dir

__all__ = ["INDEX_COLUMNS", "export_sample_sets", "load_sample_set", "samples_dir"]

#: Columns of ``index.csv`` (``row`` is the table's row label; ``file`` is relative).
INDEX_COLUMNS = ("file", "row", "sampler", "model", "grid", "seed", "n")
_REQUIRED = ("row", "x", "y", "sampler", "model", "grid", "seed")


def samples_dir(section: str, profile: str, table: str) -> Path:
    """``results/<profile>/<section>/samples/<table>`` (``$FLOWSTAGE_RESULTS`` honoured)."""
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", table):
        raise ValueError(f"table must be a plain name (letters, digits, _ . -), got {table!r}")
    return results_dir(section, profile) / "samples" / table


def _slug(i: int, label: str) -> str:
    return f"{i:02d}_" + (re.sub(r"[^A-Za-z0-9.=+-]+", "_", label).strip("_") or "row") + ".npz"


def _atomic_bytes(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def export_sample_sets(section: str, profile: str, table: str, rows: Sequence[dict]) -> Path:
    """Write each row's samples as uint8 ``.npz`` and an ``index.csv`` (atomic writes).

    Args:
        section, profile: where the results live (:func:`samples_dir`).
        table: the table's name, e.g. ``"table2"``.
        rows: dicts with ``row`` (label), ``x`` (n, C, H, W) pixels in [-1, 1] (float or
            uint8), ``y`` (n,) labels, ``sampler`` (e.g. ``"Euler, CFG 2.5 on [0.1, 0.2)"``),
            ``model``, ``grid`` (e.g. ``"50 steps, shift 0.5"``), ``seed``.

    Returns:
        The path of ``index.csv``.
    """
    if not rows:
        raise ValueError("rows is empty: nothing to export")
    out = samples_dir(section, profile, table)
    out.mkdir(parents=True, exist_ok=True)
    lines = []
    for i, r in enumerate(rows):
        missing = [k for k in _REQUIRED if k not in r]
        if missing:
            raise ValueError(f"rows[{i}] lacks {missing}")
        x, y = r["x"], torch.as_tensor(r["y"])
        if not isinstance(x, torch.Tensor) or x.ndim != 4 or y.shape != (len(x),):
            raise ValueError(f"rows[{i}]: x must be (n, C, H, W) with y (n,), got "
                             f"{tuple(getattr(x, 'shape', ()))}, {tuple(y.shape)}")  # fmt: skip
        u8 = x if x.dtype == torch.uint8 else to_u8(x)
        buf = io.BytesIO()
        np.savez_compressed(buf, x=u8.numpy(), y=y.long().numpy())
        name = _slug(i, str(r["row"]))
        _atomic_bytes(out / name, buf.getvalue())
        lines.append([name, r["row"], r["sampler"], r["model"], r["grid"], r["seed"], len(x)])
    text = io.StringIO()
    w = csv.writer(text)
    w.writerow(INDEX_COLUMNS)
    w.writerows(lines)
    _atomic_bytes(out / "index.csv", text.getvalue().encode())
    return out / "index.csv"


def load_sample_set(path: str | Path) -> tuple[torch.Tensor, torch.Tensor]:
    """(x (n, C, H, W) float32 in [-1, 1], y (n,) int64) of one exported ``.npz``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no sample set at {path}")
    with np.load(path) as f:
        if "x" not in f or "y" not in f or f["x"].dtype != np.uint8:
            raise ValueError(f"{path} is not an exported sample set (uint8 x and y)")
        return from_u8(torch.from_numpy(f["x"])), torch.from_numpy(f["y"])
