"""Progress reaches the terminal from inside a kernel: bars write plain lines to the
progress file, nested bars stay quiet, and the tail prints what the file receives."""

import io
import time

from flowstage_lib.tooling import progress


def test_without_the_variable_it_is_tqdm_auto(monkeypatch):
    monkeypatch.delenv(progress.ENV, raising=False)
    bar = progress.tqdm(range(3), disable=True)
    assert not isinstance(bar, progress._FileBar)
    assert list(bar) == [0, 1, 2]


def test_bars_write_prefixed_lines_and_nested_bars_stay_quiet(monkeypatch, tmp_path):
    path = tmp_path / "progress.txt"
    monkeypatch.setenv(progress.ENV, str(path))
    monkeypatch.setenv("FLOWSTAGE_SECTION", "sec4_stages")
    monkeypatch.setattr(progress, "MIN_INTERVAL", 0.0)
    with progress.stage("Table 1"):
        outer = progress.tqdm(total=4, desc="train mlp-L", disable=True)  # forced on
        for _ in range(4):
            for _ in progress.tqdm(range(2), desc="euler", disable=True):
                pass
            outer.update(1)
        outer.close()
    lines = path.read_text().splitlines()
    assert lines[0] == "[sec4_stages] | Table 1 ..."
    assert lines[-1].startswith("[sec4_stages] | Table 1: done in")
    bars = [ln for ln in lines if "train mlp-L" in ln]
    assert bars and all(ln.startswith("[sec4_stages] Table 1 | train mlp-L") for ln in bars)
    assert "4/4" in bars[-1]
    assert not any("euler" in ln for ln in lines)
    assert progress._FileBar.active == 0


def test_tail_prints_lines_as_they_arrive(tmp_path):
    path = tmp_path / "p.txt"
    out = io.StringIO()
    with progress.ProgressTail(path, out=out, poll=0.01):
        with open(path, "a") as f:
            f.write("first line\nsecond ")
        time.sleep(0.1)
        assert out.getvalue() == "  first line\n"  # a partial line waits for its end
        with open(path, "a") as f:
            f.write("half\n")
    assert out.getvalue() == "  first line\n  second half\n"
