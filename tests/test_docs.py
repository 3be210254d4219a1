"""The code on the book's API page runs as written (smoke-sized models, temporary cache)."""

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # builds / executes the book: part of make test, not of -m "not slow"

ROOT = Path(__file__).resolve().parent.parent


def _blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


def test_api_page_snippets_run(tmp_path, monkeypatch):
    monkeypatch.setenv("FLOWSTAGE_CACHE", str(tmp_path))
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        namespace: dict = {}
        blocks = _blocks(ROOT / "book" / "api.md")
        assert len(blocks) >= 3
        for block in blocks:  # one namespace: later blocks use earlier names, like a reader
            exec(compile(block, "book/api.md", "exec"), namespace)
    finally:
        torch.set_num_threads(threads)
    assert namespace["score"].n == 20
    assert namespace["x_swap"].shape == (20, 1, 28, 28)


def test_readme_snippet_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("FLOWSTAGE_CACHE", str(tmp_path))
    namespace: dict = {}
    for block in _blocks(ROOT / "README.md"):
        exec(compile(block, "README.md", "exec"), namespace)
    assert namespace["u"].shape == (8, 1, 28, 28)
