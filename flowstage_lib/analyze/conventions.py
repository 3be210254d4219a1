"""Times, shifts and CFG intervals in the conventions of the samplers users run.

Ours (and facebookresearch/flow_matching's ``CondOTScheduler``: alpha_t = t, sigma_t = 1 - t):
t = 0 is noise, t = 1 is data, x_t = t x1 + (1 - t) x0, and a timestep shift maps a grid
point t to ``timestep_shift(t, s) = s t / (1 + (s - 1) t)`` (paper Sec. 5.1, Table 2).

- ``"ours"`` and ``"flow_matching"``: time t, shift s, interval [a, b] as is.
- ``"lightningdit"`` (hustvl/LightningDiT, SiT's linear path): t = 0 noise as ours, grid
  ``linspace(0, 1, n)`` mapped by the same formula when its ``timestep_shift`` > 0 (so s is
  its ``timestep_shift``); its CFG interval is one-sided (guidance on for t >= start), so only
  the lower end a of a two-sided interval can be set there.
- ``"sd3"`` (SD3 / diffusers ``FlowMatchEulerDiscreteScheduler``): sigma = 1 - t is the noise
  level (sigma = 1 noise), the shift acts on sigma, sigma' = S sigma / (1 + (S - 1) sigma),
  and the model's timestep is 1000 sigma. Since
  1 - timestep_shift(t, s) = (1 - t) / (1 + (s - 1) t) = shift_sigma(1 - t, 1 / s),
  a shift s in our convention is S = 1 / s there (SD3's default S = 3 is s = 1/3: more steps
  at high noise, i.e. early); an interval [a, b] in t is [1 - b, 1 - a] in sigma.
"""

from __future__ import annotations

import math

from flowstage_lib.path import timestep_shift

__all__ = [
    "CONVENTIONS",
    "check_convention",
    "interval_from",
    "interval_to",
    "shifted_grid",
    "shift_from",
    "shift_to",
    "time_from",
    "time_name",
    "time_to",
]

CONVENTIONS = ("ours", "lightningdit", "sd3", "flow_matching")


def check_convention(convention: str) -> str:
    """Return ``convention`` or raise a ValueError naming the allowed ones."""
    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {', '.join(CONVENTIONS)}, got {convention!r}")
    return convention


def time_name(convention: str) -> str:
    """The symbol of the convention's time: ``"sigma"`` for SD3, else ``"t"``."""
    return "sigma" if check_convention(convention) == "sd3" else "t"


def time_to(t: float, convention: str) -> float:
    """Our time t (0 noise, 1 data) in ``convention`` (SD3: sigma = 1 - t)."""
    t = float(t)
    if math.isnan(t):
        return t
    return 1.0 - t if check_convention(convention) == "sd3" else t


def time_from(value: float, convention: str) -> float:
    """The inverse of `time_to` (the map is an involution)."""
    return time_to(value, convention)


def shift_to(s: float, convention: str) -> float:
    """Our shift s (t -> s t / (1 + (s - 1) t)) in ``convention`` (SD3: 1 / s on sigma)."""
    s = float(s)
    if not (s > 0 and math.isfinite(s)):
        raise ValueError(f"shift s must be a finite number > 0, got {s}")
    return 1.0 / s if check_convention(convention) == "sd3" else s


def shift_from(value: float, convention: str) -> float:
    """The inverse of `shift_to` (SD3: 1 / S)."""
    return shift_to(value, convention)


def interval_to(a: float, b: float, convention: str) -> dict:
    """A two-sided CFG interval [a, b] in our t, written in ``convention``.

    Returns:
        {"name": time symbol, "lo": .., "hi": .., "note": str}; for LightningDiT also
        ``"cfg_interval_start"`` (its one-sided setting, = a) and for SD3 ``"timesteps"``
        (1000 sigma, hi first).
    """
    if not 0.0 <= a <= b <= 1.0:
        raise ValueError(f"interval must satisfy 0 <= a <= b <= 1, got [{a}, {b}]")
    conv = check_convention(convention)
    if conv == "sd3":
        return {
            "name": "sigma",
            "lo": 1.0 - b,
            "hi": 1.0 - a,
            "timesteps": [1000.0 * (1.0 - a), 1000.0 * (1.0 - b)],
            "note": "guidance for sigma in [lo, hi] (sigma = 1 - t; timestep = 1000 sigma)",
        }
    out = {"name": "t", "lo": float(a), "hi": float(b), "note": "guidance for t in [lo, hi]"}
    if conv == "lightningdit":
        out["cfg_interval_start"] = float(a)
        out["note"] = (
            "LightningDiT's interval is one-sided (guidance on for t >= cfg_interval_start); "
            "the upper end needs a two-sided patch"
        )
    return out


def interval_from(lo: float, hi: float, convention: str) -> tuple[float, float]:
    """A [lo, hi] interval in ``convention``'s time back to our [a, b]."""
    if check_convention(convention) == "sd3":
        return 1.0 - hi, 1.0 - lo
    return float(lo), float(hi)


def shifted_grid(n: int, s: float, convention: str) -> list[float]:
    """The n-point sampling grid with shift s (ours) as the convention's sampler makes it.

    Ours / flow_matching / LightningDiT: timestep_shift(linspace(0, 1, n), s), increasing.
    SD3: sigmas shift_sigma(linspace(1, 0, n), 1 / s), decreasing from 1 to 0.
    """
    if n < 2:
        raise ValueError(f"n must be >= 2, got {n}")
    us = [i / (n - 1) for i in range(n)]
    if check_convention(convention) == "sd3":
        big = shift_to(s, "sd3")
        sig = [1.0 - u for u in us]
        return [big * x / (1.0 + (big - 1.0) * x) for x in sig]
    return [float(timestep_shift(u, s)) for u in us]
