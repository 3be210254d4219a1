"""The book pipeline: profiles, parameter checks, resume, loud failures."""

import json

import nbformat
import pytest

from flowstage_lib.tooling import book, cli


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
            if section in (*book.SETTINGS_KEYS, "prefetch_workers"):  # library settings
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

    from flowstage_lib.tooling.book import Results, View, write_provenance

    monkeypatch.setenv("FLOWSTAGE_RESULTS", str(tmp_path))
    p = write_provenance(
        "sec2_oracle", "smoke", types.SimpleNamespace(seed=3, profile="smoke"), 2, stage="compute"
    )
    prov = json.loads(p.read_text())["compute"]
    assert p == tmp_path / "smoke" / "sec2_oracle" / "provenance.json"
    assert prov["profile"] == "smoke" and prov["parameters"] == {"seed": 3}
    assert prov["torch"] == torch.__version__ and prov["wall_seconds"] == 2
    assert prov["device"].startswith(("cpu", "cuda"))
    assert prov["git_commit"] is None or len(prov["git_commit"]) == 40
    write_provenance("sec2_oracle", "smoke", {"seed": 3}, 1)  # the render keeps the compute
    assert set(json.loads(p.read_text())) == {"compute", "render"}
    view = View(Results("sec3_two_stage", "smoke"))
    assert view.timed("part", lambda a: a + 1, 1) == 2
    prov = json.loads(view.finish({"seed": 0}).read_text())["render"]
    assert set(prov["part_seconds"]) == {"part"} and prov["wall_seconds"] >= 0


# ------------------------------------------------------------------ overrides (issue 12)


def test_profile_is_not_an_override_and_names_the_option(tmp_book, monkeypatch):
    _notebook(tmp_book / "book" / "demo.ipynb")
    ran = []
    monkeypatch.setattr("papermill.execute_notebook", lambda *a, **k: ran.append(1))
    with pytest.raises(book.ProfileError, match=r"'profile' is not an overridable.*--profile gpu"):
        cli.execute("demo", "smoke", tmp_book / "out.ipynb", {"profile": "gpu"})
    assert not ran
    code = cli.main(["run", "sec3_two_stage", "--profile", "smoke", "-p", "profile", "gpu"])
    assert code == 2 and not ran


@pytest.mark.parametrize(
    "name, text, match",
    [
        ("n_queries", "notanumber", r"'n_queries' = 'notanumber' \(str\): expected an integer"),
        ("n_queries", "-5", r"'n_queries' = -5 \(int\): expected an integer >= 1"),
        ("n_queries", "1e3", r"'n_queries' = 1000.0 \(float\): expected an integer"),
        ("n_queries", "true", r"'n_queries' = True \(bool\): expected an integer"),
        ("seed", "-1", r"'seed' = -1 \(int\): expected an integer >= 0"),
        ("n_t_lin", "0", r"expected an integer >= 1 \(a count\)"),
        ("synthetic_D", "2.5", r"'synthetic_D' = 2.5 \(float\): expected an integer"),
        ("datasets", "digits", r"'datasets' = 'digits': expected a non-empty list"),
        ("fig3_dims", "[64, -1]", r"'fig3_dims' = \[64, -1\].* of an integer >= 1"),
        ("fig3_ns", "[]", r"'fig3_ns' = \[\]: expected a non-empty list"),
    ],
)
def test_overrides_are_checked_before_papermill(monkeypatch, capsys, tmp_path, name, text, match):
    monkeypatch.setenv("FLOWSTAGE_RESULTS", str(tmp_path))  # main() sets it for custom runs
    ran = []
    monkeypatch.setattr("papermill.execute_notebook", lambda *a, **k: ran.append(1))
    args = ["run", "sec3_two_stage", "--profile", "smoke", "-p", name, text]
    assert cli.main(args) == 2 and not ran
    err = capsys.readouterr().err
    assert err.startswith("flowstage: error: sec3_two_stage: parameter ")
    assert err.count("\n") == 1  # one line, no traceback
    with pytest.raises(book.ProfileError, match=match):
        book.check_overrides("sec3_two_stage", "smoke", {name: cli._parse_value(text)})


@pytest.mark.parametrize(
    "section, name, text, match",
    [
        ("sec2_oracle", "mc_times", "[0.0, 1.5]", r"of a time in \[0, 1\]"),
        ("sec2_oracle", "joint_max_t", "-0.1", r"expected a time in \[0, 1\]"),
        ("sec2_oracle", "h_rel", "0", r"expected a number > 0"),
        ("sec2_oracle", "tol", ".nan", r"expected a finite number"),
        ("sec5_practices", "cfg_scale", "-2", r"expected a number > 0"),
        ("sec5_practices", "study_size", "3", r"expected a string like 'S'"),
    ],
)
def test_override_ranges(section, name, text, match):
    with pytest.raises(book.ProfileError, match=rf"^{section}: parameter '{name}' = .*{match}"):
        book.check_overrides(section, "cpu", {name: cli._parse_value(text)})


def test_valid_overrides_pass():
    ok = {"n_queries": 512, "seed": 0, "datasets": ["digits"], "fig3_dims": [64]}
    book.check_overrides("sec3_two_stage", "smoke", ok)
    # an int where a float is expected, 1e3 read as a float, null = the profile's value
    book.check_overrides("sec2_oracle", "smoke", {"h_rel": 1, "mc_times": [0, 0.5], "tol": None})
    assert cli._parse_value("1e3") == 1000.0 and isinstance(cli._parse_value("1e3"), float)
    assert cli._parse_value("S") == "S" and cli._parse_value("[1, 2]") == [1, 2]
    book.check_overrides("sec4_stages", "smoke", {"cfg_scale": 2.5})  # null in the profile
