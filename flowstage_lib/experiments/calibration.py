"""The calibrated setting of Secs. 4-5 (issue 14): the data scale k, computed at build time.

For rectified flow, scaling the data by k is a change of clock (the derivation is in
:mod:`flowstage_lib.analyze.calibrate`; float64 check: ``tests/analyze/test_calibrate.py``):
with tau = timestep_shift(t, k), every posterior weight on k x1 at time t equals the one on x1
at time tau. So the class-conditional oracle's mean top-1 curve (Fig. 2b) of k x1 crosses 0.9 at
the paper's t = 0.1 when

    timestep_shift(0.1, k) = t*,  i.e.  k = t* (1 - 0.1) / (0.1 (1 - t*)),

t* the crossing on the unscaled training set. :func:`calibrated_scale` measures t* with the
exact streamed oracle (:func:`flowstage_lib.analyze.calibrate.calibrate_scale`), with a
bootstrap interval over the oracle queries, and caches the result; k anchored at the 0.5 and
0.99 crossings is reported too (shown, not used). :func:`setting_scale` turns a section's
``setting`` parameter into the ``data_scale`` of :func:`flowstage_lib.training.zoo.get_model`:
``"calibrated"`` -> k, ``"native"`` -> None (the unscaled models of Sec. 3's contrast).

Section-neutral: any section whose profile entry has ``setting``, ``calibration_target_t``,
``n_queries``, ``n_boot`` and ``seed`` can use it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

import pandas as pd

from flowstage_lib.analyze.calibrate import Calibration, calibrate_scale
from flowstage_lib.path import timestep_shift

__all__ = [
    "SETTINGS",
    "LEVEL",
    "LEVELS",
    "CALIBRATION_TIMES",
    "calibration_params",
    "calibrated_scale",
    "setting_scale",
    "calibration_table",
    "calibration_glue",
]

#: The values of a section's ``setting`` parameter.
SETTINGS = ("calibrated", "native")
#: The anchoring level (paper: the top-1 weight "saturates to 1 beyond t = 0.1", Fig. 2b).
LEVEL = 0.9
#: The levels whose k the book shows beside the one used.
LEVELS = (0.5, 0.9, 0.99)
#: Points of the uniform t grid on [0, 0.98] of the top-1 curve (spacing 0.0156: the crossing
#: is interpolated between grid points, so the grid error of k is far below its interval).
CALIBRATION_TIMES = 64

_KEYS = ("setting", "calibration_target_t", "n_queries", "n_boot", "seed")


def _check_setting(setting: Any) -> str:
    if setting not in SETTINGS:
        raise ValueError(f"setting must be one of {', '.join(SETTINGS)}, got {setting!r}")
    return setting


def _check_target(target_t: Any) -> float:
    if isinstance(target_t, bool) or not isinstance(target_t, (int, float)):
        raise TypeError(
            f"calibration_target_t must be a number in (0, 1), got {type(target_t).__name__} "
            f"{target_t!r}"
        )
    if not (math.isfinite(target_t) and 0.0 < target_t < 1.0):
        raise ValueError(f"calibration_target_t must lie in (0, 1), got {target_t}")
    return float(target_t)


def calibration_params(profile_or_params, section: str = "sec4_stages") -> SimpleNamespace:
    """(setting, calibration_target_t, n_queries, n_boot, seed) of a section, checked.

    Args:
        profile_or_params: a profile name (``"smoke"``, ``"cpu"``, ...; its ``section`` entry
            is read) or a section's parameters (``section_params``'s namespace, or a mapping).
        section: the profile entry read when a profile name is given.

    Raises:
        ValueError / TypeError: naming the parameter that is missing or out of range.
    """
    if isinstance(profile_or_params, str):
        from flowstage_lib.tooling.book import load_profile

        table = load_profile(profile_or_params)
        if section not in table:
            raise ValueError(f"profile {profile_or_params!r} has no section {section!r}")
        values = dict(table[section] or {})
    elif isinstance(profile_or_params, Mapping):
        values = dict(profile_or_params)
    else:
        values = {k: getattr(profile_or_params, k) for k in _KEYS if hasattr(profile_or_params, k)}
    missing = [k for k in _KEYS if values.get(k) is None]
    if missing:
        raise ValueError(f"{section}: the calibration needs the parameter(s) {', '.join(missing)}")
    for name in ("n_queries", "n_boot"):
        v = values[name]
        if isinstance(v, bool) or not isinstance(v, int) or v < 2:
            raise ValueError(f"{name} must be an integer >= 2, got {v!r}")
    return SimpleNamespace(
        setting=_check_setting(values["setting"]),
        target_t=_check_target(values["calibration_target_t"]),
        n_queries=int(values["n_queries"]),
        n_boot=int(values["n_boot"]),
        seed=int(values["seed"]),
    )


def _to_blob(cal: Calibration) -> dict:
    """A Calibration as plain data (what the cache stores)."""
    return {
        "k": cal.k,
        "k_interval": list(cal.k_interval),
        "level": cal.level,
        "target_t": cal.target_t,
        "t_cross": cal.t_cross,
        "t_cross_interval": list(cal.t_cross_interval),
        "k_by_level": [[float(lv), *map(float, v)] for lv, v in sorted(cal.k_by_level.items())],
        "conditional": cal.conditional,
    }


def _from_blob(b: dict) -> Calibration:
    return Calibration(
        k=float(b["k"]),
        k_interval=tuple(b["k_interval"]),
        level=float(b["level"]),
        target_t=float(b["target_t"]),
        t_cross=float(b["t_cross"]),
        t_cross_interval=tuple(b["t_cross_interval"]),
        k_by_level={row[0]: tuple(row[1:]) for row in b["k_by_level"]},
        conditional=bool(b["conditional"]),
    )


def calibrated_scale(
    profile_or_params,
    data,
    section: str = "sec4_stages",
    level: float = LEVEL,
    times: int = CALIBRATION_TIMES,
    progress: bool = False,
) -> Calibration:
    """The data scale k at which the class-conditional oracle's mean top-1 curve on ``data``
    crosses ``level`` (0.9) at the section's ``calibration_target_t`` (paper: 0.1, Fig. 2b).

    Measured on the *unscaled* training set and moved by the clock identity (module docstring);
    ``n_queries`` oracle queries (split over the classes), ``n_boot`` bootstrap resamples of the
    queries and ``seed`` come from the section's parameters. Cached (key: the data, labels and
    every argument). Computed whatever ``setting`` says (the book shows it in both settings).

    Args:
        profile_or_params: see :func:`calibration_params`.
        data: an ``ImageData`` with labels (x (N, *shape), y (N,)): the models' training set.
        level: the anchoring level; ``k_by_level`` has 0.5, 0.9 and 0.99 as well.
        times: points of the uniform t grid on [0, 0.98].

    Returns:
        :class:`~flowstage_lib.analyze.calibrate.Calibration` (k, k_interval, t_cross, ...).

    Raises:
        ValueError: the curve never crosses ``level`` (no k exists), or bad parameters.
    """
    from flowstage_lib.tooling.cache import cached

    p = calibration_params(profile_or_params, section)
    if getattr(data, "y", None) is None or not hasattr(data, "x"):
        raise TypeError(f"data must be a labelled ImageData (x, y), got {type(data).__name__}")
    levels = tuple(sorted(set(LEVELS) | {float(level)}))
    params = {"data": data.x, "labels": data.y, "target_t": p.target_t, "level": float(level)}
    params.update(levels=list(levels), queries=p.n_queries, times=int(times), seed=p.seed)
    params["n_boot"] = p.n_boot

    def compute() -> dict:
        x = data.x.flatten(1).double().numpy()  # (N, D)
        cal = calibrate_scale(
            x,
            data.y.numpy(),
            target_t=p.target_t,
            level=float(level),
            levels=levels,
            queries=p.n_queries,
            times=int(times),
            seed=p.seed,
            n_boot=p.n_boot,
            progress=progress,
        )
        return _to_blob(cal)

    cal = _from_blob(cached("calibrated_scale", params, compute))
    if not (math.isfinite(cal.k) and cal.k > 0):
        raise ValueError(
            f"the class-conditional top-1 curve of {getattr(data, 'name', 'data')} does not "
            f"cross {level} on (0, 0.98] (t* = {cal.t_cross}): no data scale calibrates it"
        )
    return cal


def setting_scale(profile_or_params, data, section: str = "sec4_stages") -> float | None:
    """The ``data_scale`` of the section's models: k of :func:`calibrated_scale` in the
    ``"calibrated"`` setting, None (unscaled, native models) in the ``"native"`` one."""
    p = calibration_params(profile_or_params, section)
    if p.setting == "native":
        return None
    return calibrated_scale(profile_or_params, data, section).k


def calibration_table(cal: Calibration) -> pd.DataFrame:
    """One row per anchoring level: the crossing t* on the unscaled data and the k that puts it
    at the target time, each with its 95% interval; ``used`` marks the anchoring level."""
    rows = []
    for lv, (k, lo, hi) in sorted(cal.k_by_level.items()):
        t = [float(timestep_shift(cal.target_t, v)) if math.isfinite(v) else math.nan
             for v in (k, lo, hi)]  # fmt: skip
        rows.append(
            {
                "level": lv,
                "t* (unscaled) [95% CI]": f"{t[0]:.3f} [{t[1]:.3f}, {t[2]:.3f}]",
                f"k (crossing at t = {cal.target_t:g}) [95% CI]": f"{k:.2f} [{lo:.2f}, {hi:.2f}]",
                "used": "yes" if lv == cal.level else "shown only",
            }
        )
    return pd.DataFrame(rows)


def calibration_glue(cal: Calibration, setting: str) -> dict:
    """The values the book glues: k and its interval, t*, the 0.5 / 0.99 alternatives, and the
    k the models use (1 in the native setting)."""
    k05, k099 = cal.k_by_level.get(0.5, (math.nan,) * 3), cal.k_by_level.get(0.99, (math.nan,) * 3)
    return {
        "setting": _check_setting(setting),
        "cal_k": cal.k,
        "cal_k_lo": cal.k_interval[0],
        "cal_k_hi": cal.k_interval[1],
        "cal_t_cross": cal.t_cross,
        "cal_t_lo": cal.t_cross_interval[0],
        "cal_t_hi": cal.t_cross_interval[1],
        "cal_target": cal.target_t,
        "cal_level": cal.level,
        "cal_k05": k05[0],
        "cal_k099": k099[0],
        "data_scale": cal.k if setting == "calibrated" else 1.0,
    }
