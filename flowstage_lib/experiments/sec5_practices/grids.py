"""Time grids of Sec. 5: where a grid's Euler steps go (Table 2) and moving the paper's CFG
intervals to our transition with the timestep-shift map (Table 3)."""

from __future__ import annotations

import torch

from flowstage_lib.path import timestep_shift

__all__ = ["step_share", "snr_factor", "place_interval", "fig11_shares", "fig11_text"]


def step_share(grid, lo: float = 0.0, hi: float = 0.2) -> float:
    """Share of the Euler steps of ``grid`` spent in [lo, hi) (Table 2's "steps in [0, 0.2]").

    An Euler step k goes from t_k to t_{k+1} and evaluates the velocity at t_k; it counts when
    lo <= t_k < hi. With 50 steps: s = 4.0 gives 3 / 50 = 6%, s = 0.1 gives 36 / 50 = 72%, the
    two ends of the paper's column.

    Args:
        grid: (n + 1,) increasing times.
        lo, hi: the window.
    """
    g = torch.as_tensor(grid, dtype=torch.float64).flatten()
    starts = g[:-1]  # (n,) evaluation times
    return float(((starts >= lo) & (starts < hi)).double().mean())


def snr_factor(t_from: float, t_to: float) -> float:
    """The timestep-shift factor k with ``timestep_shift(t_from, k) = t_to``.

    The shift multiplies the signal-to-noise ratio t / (1 - t) by k (Table 2's formula), so
    k = snr(t_to) / snr(t_from). Used to move the paper's CFG intervals, stated relative to its
    transition at t = 0.1, to our measured transition; the map keeps 0 and 1.
    """
    for name, v in (("t_from", t_from), ("t_to", t_to)):
        if not 0.0 < v < 1.0:
            raise ValueError(f"{name} must be in (0, 1), got {v}")
    return (t_to / (1 - t_to)) / (t_from / (1 - t_from))


def place_interval(interval: tuple[float, float] | None, k: float) -> tuple[float, float] | None:
    """Map a CFG interval [a, b] through ``timestep_shift(., k)`` (None stays None; k = 1 is the
    identity: the paper's absolute placement)."""
    if interval is None:
        return None
    a, b = interval
    return (round(float(timestep_shift(a, k)), 6), round(float(timestep_shift(b, k)), 6))


def fig11_shares(shifts, n_steps: int = 50, lo: float = 0.0, hi: float = 0.2) -> list[dict]:
    """Fig. 11 / Table 2's column: the share of the ``n_steps`` Euler steps of the shifted
    grid that start in [lo, hi), for every shift, beside the paper's printed percentage.

    Returns:
        list of dicts: s, ours (:func:`step_share`), paper (``paper.TABLE2_SHARE``, NaN where
        the paper prints none), agree (ours rounds to the paper's whole percent).
    """
    from flowstage_lib.experiments import paper
    from flowstage_lib.path import shifted_grid

    out = []
    for s in shifts:
        ours = step_share(shifted_grid(n_steps, float(s)), lo, hi)
        p = paper.TABLE2_SHARE.get(float(s), float("nan"))
        out.append({"s": float(s), "ours": ours, "paper": p, "agree": round(ours, 2) == p})
    return out


def fig11_text(rows: list[dict]) -> str:
    """A sentence on how our step shares (:func:`fig11_shares`) match the paper's column."""
    printed = [r for r in rows if r["paper"] == r["paper"]]
    off = [r for r in printed if not r["agree"]]
    head = f"Our step shares match the paper's printed ones for {len(printed) - len(off)} of "
    head += f"{len(printed)} shifts"
    if not off:
        return head + "."
    return (
        head
        + "; "
        + ", ".join(
            f"s = {r['s']:g}: {r['ours']:.0%} here, {r['paper']:.0%} in the paper" for r in off
        )
        + " (counting the steps that start in [0, 0.2) of a 50-step grid)."
    )
