"""Every metrics test writes its caches (classifiers, sample sets) under its own tmp_path."""

import pytest


@pytest.fixture(autouse=True)
def _tmp_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FLOWSTAGE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("FLOWSTAGE_NO_CACHE", raising=False)
