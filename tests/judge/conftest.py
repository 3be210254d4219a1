"""Fixtures shared by the judge tests."""

import pytest


@pytest.fixture()
def tmp_cache(tmp_path, monkeypatch):
    """A fresh, enabled cache folder for one test."""
    monkeypatch.setenv("FLOWSTAGE_CACHE", str(tmp_path))
    monkeypatch.delenv("FLOWSTAGE_NO_CACHE", raising=False)
    return tmp_path
