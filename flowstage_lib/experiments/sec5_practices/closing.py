"""The closing of Section 5: every claim of Sections 4 and 5 and why our numbers differ."""

from __future__ import annotations

import pandas as pd

__all__ = ["all_claims", "why_text"]


def all_claims(results, profile: str) -> tuple[pd.DataFrame, str, pd.DataFrame]:
    """(claims of Sec. 4 and Sec. 5 with a section column, a note on Sec. 4's source, Sec. 5's
    own claims) from the results folders of ``results``
    (a :class:`flowstage_lib.tooling.book.Results` of Section 5)."""
    sec4_path = results.dir.parent / "sec4_stages" / "claims.csv"
    parts = []
    if sec4_path.exists():
        parts.append(pd.read_csv(sec4_path).assign(section="4"))
        note = f"Section 4: {len(parts[0])} claims from {sec4_path.parent.name}/claims.csv."
    else:
        note = (
            f"**Section 4 has not been run with the {profile!r} profile on this machine** "
            "(no sec4_stages/claims.csv): run `flowstage run sec4_stages --profile "
            f"{profile}` and re-run this chapter to complete the table."
        )
    own = pd.read_csv(results.dir / "claims.csv")
    own = own[own.section == results.section]
    parts.append(own.assign(section="5 / App. B"))
    cols = ["section", "claim", "paper", "ours", "verdict"]
    return pd.concat(parts, ignore_index=True)[cols], note, own


def why_text(
    t2_best_is_smallest: bool,
    s_lo: float,
    v_end: float,
    v_limit: float,
    n_start0: int,
    acc_none: float,
    t09: float,
    better: str,
    near_floor: bool,
) -> str:
    """The differences of our models that explain the verdicts, in a sentence."""
    why = []
    if t2_best_is_smallest:
        why.append(
            f"their velocity is least accurate late in refinement (Fig. 8a: it ends at "
            f"{v_end:.2f} instead of {v_limit:.2f}, leaving speckle), so fewer late steps "
            f"help and the extreme shift s = {s_lo:g} wins Table 2"
        )
    if n_start0 >= 3:
        why.append(
            f"unguided, they get the class right for only {acc_none:.0%} of the samples, "
            f"so guidance pays off where the class is decided, early in navigation, and "
            f"starting it at 0 helps ({n_start0} of 4 wide rows; Table 3)"
        )
    why.append(
        f"our navigation stage ends at t_0.9 = {t09:.2f} instead of about 0.1, which is "
        f"why Table 3 is run in two placements (the {better} one explains our table "
        f"better)"
    )
    if near_floor:
        why.append(
            "both latent flows end within 25% of their autoencoder's reconstruction "
            "floor, which leaves little room for one space to converge faster (Fig. 12)"
        )
    return (
        "Differences of our models that explain the verdicts: "
        + "; ".join(f"({i}) {w}" for i, w in enumerate(why, 1))
        + "."
    )
