"""Writing an `AnalysisResult`: a JSON of the numbers, a PNG of the curves (Fig. 2a / 2b) and a
self-contained HTML page embedding both."""

from __future__ import annotations

import base64
import html
import json
import os
import tempfile
from pathlib import Path

__all__ = ["plot", "summary_rows", "write_report"]


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def plot(result, path: Path) -> None:
    """Top-1 weight and MSE-to-CFM-target curves vs time in the result's convention."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    d = result.to_dict()
    t = d["times"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8), constrained_layout=True)
    for key, color in (("unconditional", "C0"), ("conditional", "C1")):
        c = d[key]
        if c is None:
            continue
        ax1.plot(t, c["top1"], color=color, label=key)
        ax2.plot(t, c["mse"], color=color, label=key)
        x9 = c["crossings"]["0.9"]
        if x9["t"] == x9["t"]:
            ax1.axvspan(x9["lo"], x9["hi"], color=color, alpha=0.15)
            ax1.axvline(x9["t"], color=color, ls=":", lw=1)
        ax1.axvline(c["predicted_transition"], color=color, ls="--", lw=1)
    ax1.axvline(d["calibration"]["paper_crossing"], color="k", lw=1, label="paper's t = 0.1")
    name = d["time_name"] + ("" if d["convention"] == "ours" else f" ({d['convention']})")
    ax1.set(
        xlabel=name,
        ylabel="top-1 posterior weight",
        ylim=(0, 1.02),
        title="top-1 weight (dotted: 0.9 crossing; dashed: predicted)",
    )
    ax2.set(xlabel=name, ylabel="MSE(u*, x1 - x0)", yscale="log", title="MSE to the CFM target")
    top = max(max(d[k]["mse"]) for k in ("unconditional", "conditional") if d[k] is not None)
    ax2.set_ylim(bottom=max(top * 1e-8, 1e-300))  # a one-hot posterior gives MSE ~ 0
    ax1.legend(fontsize=8)
    fig.suptitle(f"{Path(d['data']).name}: N = {d['N']}, D = {d['D']}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)


def summary_rows(d: dict) -> list[tuple[str, str]]:
    """(quantity, value [interval]) rows of an analysis JSON ``d``: the crossings, the
    predicted collapse time, the data scale k and the transferred practices."""
    tn = d["time_name"]
    rows = []
    for key in ("unconditional", "conditional"):
        c = d[key]
        if c is None:
            continue
        for lv, x in c["crossings"].items():
            rows.append(
                (f"{key} top-1 = {lv} at {tn}", f"{x['t']:.4g} [{x['lo']:.4g}, {x['hi']:.4g}]")
            )
        rows.append((f"{key} predicted collapse {tn}", f"{c['predicted_transition']:.4g}"))
    cal = d["calibration"]
    rows.append(
        (
            "data scale k (paper's setting = k x data)",
            f"{cal['k']:.4g} [{cal['k_interval'][0]:.4g}, {cal['k_interval'][1]:.4g}]",
        )
    )
    tr = d["transfer"]
    if "shift" in tr:
        rows.append((f"transferred shift ({d['convention']})", f"{tr['shift']['value']:.4g}"))
        for name in ("cfg_short", "cfg_wide"):
            iv = tr[name]
            rows.append(
                (
                    f"transferred CFG interval ({name}, paper {iv['paper']})",
                    f"{iv['name']} in [{iv['lo']:.4g}, {iv['hi']:.4g}]",
                )
            )
    return rows


def write_report(result, out: str | os.PathLike) -> dict:
    """Write ``analysis.json``, ``analysis.png`` and ``analysis.html`` into ``out``.

    Returns:
        {"json": path, "png": path, "html": path}.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    d = result.to_dict()
    paths = {k: out / f"analysis.{k}" for k in ("json", "png", "html")}
    _atomic_write(paths["json"], json.dumps(d, indent=1, allow_nan=True).encode())
    plot(result, paths["png"])
    img = base64.b64encode(paths["png"].read_bytes()).decode()
    rows = "".join(
        f"<tr><td>{html.escape(a)}</td><td>{html.escape(b)}</td></tr>" for a, b in summary_rows(d)
    )
    note = html.escape(d["transfer"].get("note", ""))
    page = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>flowstage analyze: {html.escape(d['data'])}</title></head><body>"
        f"<h1>Transition of {html.escape(d['data'])}</h1>"
        f"<p>Convention: {d['convention']} ({d['time_name']}).</p>"
        f"<img alt='curves' src='data:image/png;base64,{img}'>"
        f"<table border='1' cellpadding='4'>{rows}</table><p><em>{note}</em></p>"
        f"<details><summary>all numbers (JSON)</summary><pre>"
        f"{html.escape(json.dumps(d, indent=1))}</pre></details></body></html>"
    )
    _atomic_write(paths["html"], page.encode())
    return {k: str(v) for k, v in paths.items()}
