"""``flowstage analyze`` from the command line, and its 2-process (gloo) equality."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from flowstage_lib.tooling.cli import main

ROOT = Path(__file__).resolve().parents[2]  # the repository


def _files(tmp_path, n=240, d=10):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, n)
    x = (rng.normal(size=(3, d))[y] * 2 + rng.normal(size=(n, d))).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    return tmp_path / "x.npy", tmp_path / "y.npy"


def test_cli_writes_json_png_html(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FLOWSTAGE_CACHE", str(tmp_path / "cache"))
    x, y = _files(tmp_path)
    out = tmp_path / "out"
    args = [
        "analyze",
        str(x),
        "--labels",
        str(y),
        "--convention",
        "sd3",
        "--out",
        str(out),
        "--queries",
        "8",
        "--times",
        "8",
        "--no-progress",
    ]
    assert main(args) == 0
    d = json.loads((out / "analysis.json").read_text())
    assert d["convention"] == "sd3" and d["time_name"] == "sigma"
    assert d["times"][0] == 1.0  # t = 0 is sigma = 1
    assert set(d["transfer"]) >= {"shift", "cfg_short", "cfg_wide", "note"}
    assert (out / "analysis.png").stat().st_size > 1000
    assert "data:image/png;base64," in (out / "analysis.html").read_text()
    assert "k =" in capsys.readouterr().out


def test_cli_error_is_one_line(tmp_path, capsys):
    x, _ = _files(tmp_path)
    np.save(tmp_path / "short.npy", np.zeros(5, dtype=np.int64))
    assert (
        main(
            [
                "analyze",
                str(x),
                "--labels",
                str(tmp_path / "short.npy"),
                "--out",
                str(tmp_path / "o"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "short.npy" in err and "labels must have shape" in err


def _run(cmd, tmp_path):
    env = dict(
        os.environ,
        PYTHONPATH=str(ROOT),
        OMP_NUM_THREADS="1",
        FLOWSTAGE_CACHE=str(tmp_path / "cache"),
    )
    res = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]


@pytest.mark.slow
def test_two_processes_equal_one(tmp_path):
    x, y = _files(tmp_path, n=301)
    common = [
        str(x),
        "--labels",
        str(y),
        "--queries",
        "6",
        "--times",
        "6",
        "--float64",
        "--chunk-rows",
        "29",
        "--no-progress",
    ]
    _run([sys.executable, "-m", "flowstage_lib.analyze", *common, "--out", "one"], tmp_path)
    _run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node",
            "2",
            "--master_port",
            "29517",
            "-m",
            "flowstage_lib.tooling.cli",
            "analyze",
            *common,
            "--out",
            "two",
        ],
        tmp_path,
    )
    one = json.loads((tmp_path / "one" / "analysis.json").read_text())
    two = json.loads((tmp_path / "two" / "analysis.json").read_text())
    assert one["processes"] == 1 and two["processes"] == 2
    for key in ("unconditional", "conditional"):
        for f in ("top1", "mse", "entropy"):
            np.testing.assert_allclose(two[key][f], one[key][f], rtol=1e-6, atol=1e-12)
    assert one["calibration"]["k"] == pytest.approx(two["calibration"]["k"], rel=1e-6)
