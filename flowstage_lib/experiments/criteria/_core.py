"""Every verdict rule of the book, written before its numbers are seen.

One function per claim, named after the paper's figure or table (``fig2b_...``, ``table1_...``);
its docstring states the test. Each returns a :class:`Verdict`. Two kinds of claim are kept apart:

- ``identity``: a property of the formula (e.g. the oracle's end points are training points).
  It is *checked*; a failure means the code is wrong, not that the paper failed to reproduce.
- ``model``: a claim about data, trained models or samplers, which can be reproduced or not.

Every rule has unit tests in ``tests/experiments/test_criteria_sec*.py`` on synthetic inputs
that show it can pass and can fail. No rule is chosen among alternatives by which agrees
with the paper.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = ["KINDS", "WORDS", "Verdict", "verdict", "identity_word", "tally", "both_judges"]

KINDS = ("identity", "model")
# Verdict words. "checked" / "failed" are for identities; the rest for model claims.
WORDS = ("reproduced", "partly", "not reproduced", "out of reach here", "checked", "failed")


@dataclass(frozen=True)
class Verdict:
    """The outcome of one criterion.

    Attributes:
        claim_id: stable id, e.g. ``"fig3a_larger_D_earlier"``.
        kind: ``"identity"`` or ``"model"`` (see the module docstring).
        verdict: one of :data:`WORDS`.
        test: the rule, in a sentence (the criterion's docstring summary).
        evidence: the numbers the rule looked at, formatted.
    """

    claim_id: str
    kind: str
    verdict: str
    test: str
    evidence: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind {self.kind!r} is not one of {KINDS}")
        if self.verdict not in WORDS:
            raise ValueError(f"verdict {self.verdict!r} is not one of {WORDS}")
        if self.kind == "identity" and self.verdict not in ("checked", "failed"):
            raise ValueError(f"an identity is 'checked' or 'failed', not {self.verdict!r}")

    def __str__(self) -> str:
        return self.verdict


def verdict(flags: Mapping[str, bool] | Iterable[bool]) -> str:
    """The one rule that turns sub-tests into a word: all pass -> ``"reproduced"``, some ->
    ``"partly"``, none -> ``"not reproduced"``. An empty set of sub-tests is an error."""
    values = [bool(v) for v in (flags.values() if isinstance(flags, Mapping) else flags)]
    if not values:
        raise ValueError("verdict() needs at least one sub-test")
    n = sum(values)
    if n == len(values):
        return "reproduced"
    return "partly" if n else "not reproduced"


#: Model-claim words from strongest to weakest (:func:`both_judges` keeps the weaker).
_ORDER = ("reproduced", "partly", "not reproduced")


def both_judges(by_judge: Mapping[str, Verdict]) -> Verdict:
    """One model claim judged under several judges: it counts only as far as *all* agree.

    ``by_judge``: {judge name: the claim's Verdict under that judge} (same claim id, kind
    ``"model"``). The result keeps the weakest word (reproduced > partly > not reproduced), so
    a claim is reproduced only when every judge says so (issue 13, item 2); the evidence lists
    each judge's word and evidence.
    """
    vs = list(by_judge.values())
    if not vs:
        raise ValueError("both_judges() needs at least one judge's verdict")
    ids = {v.claim_id for v in vs}
    if len(ids) != 1:
        raise ValueError(f"verdicts of different claims: {sorted(ids)}")
    bad = [v.verdict for v in vs if v.kind != "model" or v.verdict not in _ORDER]
    if bad:
        raise ValueError(f"both_judges() combines model-claim verdicts only, got {bad}")
    word = max((v.verdict for v in vs), key=_ORDER.index)
    evidence = "; ".join(
        f"judge {name}: {v.verdict} ({v.evidence})" for name, v in by_judge.items()
    )
    return Verdict(vs[0].claim_id, "model", word, vs[0].test, evidence)


def identity_word(ok: bool) -> str:
    """``"checked"`` when the identity holds, ``"failed"`` when it does not (a bug)."""
    return "checked" if bool(ok) else "failed"


def tally(verdicts: Iterable[Verdict]) -> dict[str, dict[str, int]]:
    """Counts per kind and word: ``{"identity": {"checked": 6}, "model": {"partly": 3, ...}}``."""
    out: dict[str, dict[str, int]] = {k: {} for k in KINDS}
    for v in verdicts:
        out[v.kind][v.verdict] = out[v.kind].get(v.verdict, 0) + 1
    return out


def _summary(fn) -> str:
    """The first paragraph of ``fn``'s docstring, on one line: the criterion's test."""
    return " ".join((fn.__doc__ or "").strip().split("\n\n")[0].split())


def _isnan(x: float) -> bool:
    return x != x


def _isclose(a: float, b: float, abs_tol: float = 1e-9) -> bool:
    return abs(a - b) <= max(abs_tol, 1e-9 * max(abs(a), abs(b)))


def _near(a: float, b: float, tol: float) -> bool:
    """|a - b| <= tol (False when either is NaN)."""
    return bool(abs(a - b) <= tol)
