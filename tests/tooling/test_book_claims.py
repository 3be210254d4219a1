"""Results.claim keeps identities of the math apart from model claims (tooling.book)."""

import pandas as pd
import pytest

from flowstage_lib.tooling.book import Results


def test_claim_kinds(tmp_path, monkeypatch):
    monkeypatch.setenv("FLOWSTAGE_RESULTS", str(tmp_path))
    R = Results("sec2_oracle", "smoke")
    # a claims.csv from before the kind column: its rows become model claims
    old = {"id": "old", "section": "sec2_oracle", "claim": "c", "paper": "p", "ours": "o"}
    pd.DataFrame([{**old, "verdict": "partly"}]).to_csv(R.dir / "claims.csv", index=False)
    R.claim("thm", "c", "p", "o", "checked", kind="identity")
    R.claim("fig", "c", "p", "o", "reproduced")
    got = pd.read_csv(R.dir / "claims.csv")
    assert dict(zip(got.id, got.kind, strict=True)) == {
        "old": "model",
        "thm": "identity",
        "fig": "model",
    }
    with pytest.raises(ValueError, match="identity"):
        R.claim("x", "c", "p", "o", "reproduced", kind="identity")
    with pytest.raises(ValueError, match="model"):
        R.claim("x", "c", "p", "o", "checked")
    with pytest.raises(ValueError, match="kind"):
        R.claim("x", "c", "p", "o", "checked", kind="formula")
