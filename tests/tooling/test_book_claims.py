"""Results.claim keeps identities of the math apart from model claims and records the rule
behind every verdict (tooling.book)."""

import pandas as pd
import pytest

from flowstage_lib.tooling.book import Results

RULE = "top-1 >= 0.9 within the window"


def test_claim_kinds(tmp_path, monkeypatch):
    monkeypatch.setenv("FLOWSTAGE_RESULTS", str(tmp_path))
    R = Results("sec2_oracle", "smoke")
    # a claims.csv from before the kind column: its rows become model claims
    old = {"id": "old", "section": "sec2_oracle", "claim": "c", "paper": "p", "ours": "o"}
    pd.DataFrame([{**old, "verdict": "partly"}]).to_csv(R.dir / "claims.csv", index=False)
    R.claim("thm", "c", "p", "o", "checked", kind="identity", criterion=RULE)
    R.claim("fig", "c", "p", "o", "reproduced", criterion=RULE)
    got = pd.read_csv(R.dir / "claims.csv")
    assert dict(zip(got.id, got.kind, strict=True)) == {
        "old": "model",
        "thm": "identity",
        "fig": "model",
    }
    with pytest.raises(ValueError, match="identity"):
        R.claim("x", "c", "p", "o", "reproduced", kind="identity", criterion=RULE)
    with pytest.raises(ValueError, match="model"):
        R.claim("x", "c", "p", "o", "checked", criterion=RULE)
    with pytest.raises(ValueError, match="kind"):
        R.claim("x", "c", "p", "o", "checked", kind="formula", criterion=RULE)


def test_claim_records_its_criterion(tmp_path, monkeypatch):
    monkeypatch.setenv("FLOWSTAGE_RESULTS", str(tmp_path))
    R = Results("sec3_two_stage", "smoke")
    R.claim("a", "c", "p", "o", "partly", criterion=RULE)
    R.claim("b", "c", "p", "o", "reproduced", criterion="another rule")
    R.claim("a", "c", "p", "o", "reproduced", criterion=RULE)  # re-recording replaces it
    got = pd.read_csv(R.dir / "claims.csv", keep_default_na=False)
    assert list(got.columns)[-1] == "criterion"
    assert dict(zip(got.id, got.criterion, strict=True)) == {"b": "another rule", "a": RULE}
    with pytest.raises(TypeError, match="criterion"):
        R.claim("x", "c", "p", "o", "partly")  # the rule is required
    for bad in ("", "   "):
        with pytest.raises(ValueError, match="criterion of claim 'x'"):
            R.claim("x", "c", "p", "o", "partly", criterion=bad)
