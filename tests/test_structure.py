"""The redesign's limits hold for the whole package: no module over 400 lines, no function
over 80 lines (def line to the end of its body, docstring included)."""

import ast
from pathlib import Path

import flowstage_lib

PACKAGE = Path(flowstage_lib.__file__).resolve().parent
MAX_MODULE, MAX_FUNCTION = 400, 80


def _modules():
    return sorted(PACKAGE.rglob("*.py"))


def long_functions(path: Path, limit: int = MAX_FUNCTION) -> list[str]:
    tree = ast.parse(path.read_text())
    return [
        f"{path.name}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1})"
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno - node.lineno + 1 > limit
    ]


def test_no_module_over_400_lines():
    long = [
        f"{p.relative_to(PACKAGE)} ({n})"
        for p in _modules()
        if (n := len(p.read_text().splitlines())) > MAX_MODULE
    ]
    assert not long, long


def test_no_function_over_80_lines():
    long = [f for p in _modules() for f in long_functions(p)]
    assert not long, long


def test_the_check_can_fail(tmp_path):
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION))  # def + 80 lines = 81
    (tmp_path / "m.py").write_text(f"def f():\n{body}\n\n\ndef g():\n    pass\n")
    assert long_functions(tmp_path / "m.py") == ["m.py:1 f (81)"]
