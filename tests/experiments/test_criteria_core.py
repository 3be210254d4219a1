"""The rule that combines one claim's verdicts under both judges (issue 13, item 2)."""

import pytest

from flowstage_lib.experiments import criteria as C


def _v(word, claim="table2_shift", kind="model"):
    return C.Verdict(claim, kind, word, "test", f"evidence {word}")


@pytest.mark.parametrize(
    "a,b,word",
    [
        ("reproduced", "reproduced", "reproduced"),  # both agree: it counts
        ("reproduced", "partly", "partly"),  # the weaker word wins
        ("partly", "not reproduced", "not reproduced"),
        ("not reproduced", "reproduced", "not reproduced"),
    ],
)
def test_both_judges_keeps_the_weaker_word(a, b, word):
    v = C.both_judges({"A": _v(a), "B": _v(b)})
    assert v.verdict == word and v.kind == "model" and v.claim_id == "table2_shift"
    assert f"judge A: {a}" in v.evidence and f"judge B: {b}" in v.evidence


def test_both_judges_rejects_mixed_inputs():
    with pytest.raises(ValueError, match="at least one"):
        C.both_judges({})
    with pytest.raises(ValueError, match="different claims"):
        C.both_judges({"A": _v("partly"), "B": _v("partly", claim="other")})
    with pytest.raises(ValueError, match="model-claim"):
        C.both_judges({"A": _v("checked", kind="identity"), "B": _v("checked", kind="identity")})
