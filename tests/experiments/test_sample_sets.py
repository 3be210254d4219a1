"""Exported sample sets: uint8 .npz per row plus index.csv, read back exactly."""

import csv

import pytest
import torch

from flowstage_lib.data import to_u8
from flowstage_lib.experiments.sample_sets import (
    INDEX_COLUMNS,
    export_sample_sets,
    load_sample_set,
    samples_dir,
)


def _row(label, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(6, 1, 4, 4, generator=g) * 2 - 1
    return {"row": label, "x": x, "y": torch.arange(6) % 3, "sampler": "Euler",
            "model": "mlp-B", "grid": "50 steps, shift 1", "seed": seed}  # fmt: skip


def test_export_then_load_round_trips(tmp_path, monkeypatch):
    monkeypatch.setenv("FLOWSTAGE_RESULTS", str(tmp_path))
    rows = [_row("s=1"), _row("[0.1, 0.2] / CFG 2.5", 1)]
    index = export_sample_sets("sec5_practices", "smoke", "table2", rows)
    assert index == samples_dir("sec5_practices", "smoke", "table2") / "index.csv"
    assert str(index).startswith(str(tmp_path))
    with open(index) as f:
        lines = list(csv.DictReader(f))
    assert tuple(lines[0]) == INDEX_COLUMNS and [r["row"] for r in lines] == ["s=1", rows[1]["row"]]
    for r, line in zip(rows, lines, strict=True):
        x, y = load_sample_set(index.parent / line["file"])
        assert torch.equal(to_u8(x), to_u8(r["x"])) and torch.equal(y, r["y"])
        assert int(line["n"]) == 6 and int(line["seed"]) == r["seed"]
    assert not list(index.parent.glob(".tmp-*"))  # atomic writes leave no temporaries


def test_export_rejects_bad_rows(tmp_path, monkeypatch):
    monkeypatch.setenv("FLOWSTAGE_RESULTS", str(tmp_path))
    with pytest.raises(ValueError, match="empty"):
        export_sample_sets("s", "smoke", "t", [])
    bad = _row("a")
    del bad["grid"]
    with pytest.raises(ValueError, match=r"rows\[0\] lacks \['grid'\]"):
        export_sample_sets("s", "smoke", "t", [bad])
    with pytest.raises(ValueError, match="x must be"):
        export_sample_sets("s", "smoke", "t", [{**_row("a"), "y": torch.zeros(2)}])
    with pytest.raises(ValueError, match="table must be"):
        samples_dir("s", "smoke", "../up")
    with pytest.raises(FileNotFoundError, match="no sample set"):
        load_sample_set(tmp_path / "missing.npz")
