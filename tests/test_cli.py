"""The book pipeline: profiles, parameter checks, resume, loud failures."""

import json

import nbformat
import pytest

from flowstage_lib import book, cli


def _notebook(path, body="x = 1 + a\nprint(x)"):
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("profile = 'cpu'\na = 1")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, path)


@pytest.fixture
def tmp_book(tmp_path, monkeypatch):
    (tmp_path / "book").mkdir()
    monkeypatch.setattr(cli, "BOOK_DIR", tmp_path / "book")
    monkeypatch.setattr(cli, "BUILD_DIR", tmp_path / "_build")
    monkeypatch.setenv("FLOWSTAGE_RESULTS", str(tmp_path / "results"))
    return tmp_path


def test_unknown_profile_is_named():
    with pytest.raises(book.ProfileError, match="'laptop'"):
        book.load_profile("laptop")
    assert cli.main(["book", "--profile", "laptop"]) == 2


def test_every_profile_lists_the_same_sections_and_parameters():
    tables = {p: book.load_profile(p) for p in book.PROFILES}
    for p, table in tables.items():
        assert set(table) == set(tables["cpu"]), p
        for section, params in table.items():
            if section == "estimates":  # measured plan figures, not parameters (see check.py)
                continue
            assert set(params) == set(tables["cpu"][section]), (p, section)


def test_profiles_cover_every_section_notebook():
    for section in cli.sections():
        declared = cli._declared_parameters(cli.BOOK_DIR / f"{section}.ipynb")
        for p in book.PROFILES:
            params = book.load_profile(p).get(section)
            assert params is not None, f"profile {p} lacks section {section}"
            assert set(params) <= declared, (p, section, set(params) - declared)


def test_section_params_resolution(monkeypatch):
    monkeypatch.setattr(book, "load_profile", lambda p: {"s": {"a": 1, "b": 2}})
    got = book.section_params("s", "cpu", {"a": None, "b": 5})
    assert (got.a, got.b, got.profile) == (1, 5, "cpu")
    with pytest.raises(book.ProfileError, match="'b'"):
        book.section_params("s", "cpu", {"a": None})
    with pytest.raises(book.ProfileError, match="no section 'other'"):
        book.section_params("other", "cpu", {})


def test_unknown_parameter_names_notebook_and_parameter(tmp_book):
    _notebook(tmp_book / "book" / "demo.ipynb")
    with pytest.raises(book.ProfileError, match=r"demo\.ipynb.*'nope'"):
        cli.check_parameters("demo", {"nope": 3})
    cli.check_parameters("demo", {"a": 3})
    with pytest.raises(book.ProfileError, match="unknown section 'absent'"):
        cli.check_parameters("absent", {})


def test_execute_resumes_and_reruns_on_change(tmp_book):
    _notebook(tmp_book / "book" / "demo.ipynb")
    out = tmp_book / "_build" / "demo.ipynb"
    assert cli.execute("demo", "smoke", out, {"a": 2}) is True
    nb = json.loads(out.read_text())
    assert nb["metadata"]["flowstage"]["status"] == "ok"
    assert "3" in json.dumps(nb["cells"])
    assert cli.execute("demo", "smoke", out, {"a": 2}) is False  # finished: resumed
    assert cli.execute("demo", "smoke", out, {"a": 3}) is True  # parameters changed


def test_failing_notebook_fails_loudly(tmp_book):
    import papermill

    _notebook(tmp_book / "book" / "bad.ipynb", body="raise RuntimeError('boom')")
    out = tmp_book / "_build" / "bad.ipynb"
    with pytest.raises(papermill.PapermillExecutionError, match="boom"):
        cli.execute("bad", "smoke", out)
    assert not out.exists(), "a failed section must not look finished"


def test_killed_book_build_resumes_from_finished_sections(tmp_book, monkeypatch):
    """A build that dies in its second section re-executes only that section when restarted."""
    import papermill

    flag = tmp_book / "fail-once"
    flag.write_text("1")
    _notebook(tmp_book / "book" / "first.ipynb")
    _notebook(
        tmp_book / "book" / "second.ipynb",
        body=f"import pathlib\nif pathlib.Path({str(flag)!r}).exists(): raise SystemExit('killed')",
    )
    monkeypatch.setattr(cli, "sections", lambda: ["first", "second"])
    with pytest.raises(papermill.PapermillExecutionError):
        cli.build_book("smoke", html=False)
    staged = tmp_book / "_build" / "smoke" / "src" / "book"
    first_mtime = (staged / "first.ipynb").stat().st_mtime_ns
    assert not (staged / "second.ipynb").exists()
    flag.unlink()
    cli.build_book("smoke", html=False)
    assert (staged / "first.ipynb").stat().st_mtime_ns == first_mtime, "finished section re-ran"
    assert (
        json.loads((staged / "second.ipynb").read_text())["metadata"]["flowstage"]["status"] == "ok"
    )


def test_results_folders_record_their_provenance(tmp_path, monkeypatch):
    import json
    import types

    import torch

    from flowstage_lib.book import Results, View, write_provenance

    monkeypatch.setenv("FLOWSTAGE_RESULTS", str(tmp_path))
    p = write_provenance("sec2_oracle", "smoke", types.SimpleNamespace(seed=3, profile="smoke"), 2)
    prov = json.loads(p.read_text())
    assert p == tmp_path / "smoke" / "sec2_oracle" / "provenance.json"
    assert prov["profile"] == "smoke" and prov["parameters"] == {"seed": 3}
    assert prov["torch"] == torch.__version__ and prov["wall_seconds"] == 2
    assert prov["device"].startswith(("cpu", "cuda"))
    assert prov["git_commit"] is None or len(prov["git_commit"]) == 40
    view = View(Results("sec3_two_stage", "smoke"))
    assert view.timed("part", lambda a: a + 1, 1) == 2
    prov = json.loads(view.finish({"seed": 0}).read_text())
    assert set(prov["part_seconds"]) == {"part"} and prov["wall_seconds"] >= 0
