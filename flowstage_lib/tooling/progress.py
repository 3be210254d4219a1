"""Progress that reaches the terminal, even from inside a notebook kernel.

Library loops use :func:`tqdm` from here instead of ``tqdm.auto``. Used directly (a script, a
REPL, a notebook opened by hand), it *is* ``tqdm.auto.tqdm``. Under ``flowstage book`` /
``flowstage run`` the notebooks execute in a papermill kernel whose output never reaches the
terminal, and the book should not show progress bars either; there the command sets
``$FLOWSTAGE_PROGRESS_FILE`` and every bar (whatever its ``disable=``) writes plain-text lines to
that file, at most one every :data:`MIN_INTERVAL` seconds per bar, which the command prints as
they come (:class:`ProgressTail`). :func:`stage` names what the bars belong to ("Table 1",
"training the zoo"), so a line reads::

    [sec4_stages] Table 1 | train mlp-L:  45%|####5    | 1800/4000 [04:10<05:06, 7.2it/s]
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm as _auto_tqdm
from tqdm.std import tqdm as _std_tqdm

__all__ = ["ENV", "MIN_INTERVAL", "tqdm", "stage", "note", "ProgressTail", "time_table"]

ENV = "FLOWSTAGE_PROGRESS_FILE"
MIN_INTERVAL = 10.0  # seconds between two lines of one bar in the progress file
_stage: list[str] = []


def _file() -> Path | None:
    p = os.environ.get(ENV)
    return Path(p) if p else None


def _prefix() -> str:
    sec = os.environ.get("FLOWSTAGE_SECTION", "")
    parts = ([f"[{sec}]"] if sec else []) + ([" / ".join(_stage)] if _stage else [])
    return " ".join(parts)


class _LineFile:
    """A text sink for tqdm that appends whole lines (prefixed) to the progress file."""

    def write(self, s: str) -> None:
        for part in s.replace("\r", "\n").split("\n"):
            part = part.strip()
            if part:
                note(part)

    def flush(self) -> None:
        pass


class _FileBar(_std_tqdm):
    """A plain-text bar for the progress file. Only the outermost bar is shown (an Euler loop
    inside a sampling loop stays quiet), and only once it has run for ``MIN_INTERVAL``."""

    active = 0

    def __init__(self, *args: Any, **kwargs: Any):
        nested = _FileBar.active > 0
        kwargs.update(
            disable=nested,
            file=_LineFile(),
            mininterval=MIN_INTERVAL,
            maxinterval=10 * MIN_INTERVAL,
            delay=MIN_INTERVAL,
            ascii=True,
            dynamic_ncols=False,
            ncols=110,
        )
        self._counted = not nested
        _FileBar.active += self._counted
        super().__init__(*args, **kwargs)

    def close(self) -> None:
        if getattr(self, "_counted", False):
            _FileBar.active -= 1
            self._counted = False
        super().close()


def tqdm(*args: Any, **kwargs: Any):
    """``tqdm.auto.tqdm``, or, under ``$FLOWSTAGE_PROGRESS_FILE``, a plain-text bar written to
    that file whatever ``disable`` says (the notebook then shows no bar)."""
    if _file() is None:
        return _auto_tqdm(*args, **kwargs)
    return _FileBar(*args, **kwargs)


def note(message: str) -> None:
    """Append one line to the progress file (no-op without ``$FLOWSTAGE_PROGRESS_FILE``)."""
    path = _file()
    if path is None:
        return
    line = f"{_prefix()} | {message}" if _prefix() else message
    with open(path, "a", encoding="utf-8") as f:  # one short write per line: atomic enough
        f.write(line + "\n")


@contextlib.contextmanager
def stage(name: str, times: dict[str, float] | None = None) -> Iterator[None]:
    """Name the work inside (nested stages join with " / "); writes a start and an end line,
    and adds the wall seconds to ``times[name]`` when a dict is given."""
    t0 = time.time()
    note(f"{name} ...")
    _stage.append(name)
    try:
        yield
    finally:
        _stage.pop()
        dt = time.time() - t0
        note(f"{name}: done in {dt:.1f} s")
        if times is not None:
            times[name] = times.get(name, 0.0) + dt


class ProgressTail:
    """Print the lines appended to a progress file while a block runs (a daemon thread)::

    with ProgressTail(path):
        papermill.execute_notebook(...)  # the kernel writes to ``path``
    """

    def __init__(self, path: Path, out=None, poll: float = 0.5):
        self.path, self.poll = Path(path), poll
        self.out = out
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._pos = 0

    def __enter__(self) -> ProgressTail:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text("")
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._drain()

    def _drain(self) -> None:
        import sys

        out = self.out or sys.stderr
        try:
            with open(self.path, "rb") as f:
                f.seek(self._pos)
                chunk = f.read()
        except FileNotFoundError:
            return
        cut = chunk.rfind(b"\n") + 1  # keep a partial last line for the next read
        self._pos += cut
        for line in chunk[:cut].decode("utf-8", "replace").splitlines():
            print(f"  {line}", file=out, flush=True)

    def _run(self) -> None:
        while not self._stop.wait(self.poll):
            self._drain()


def time_table(timings: dict[str, float], profile: str) -> str:
    """The per-section wall-time table printed at the end of a build."""
    width = max([len(s) for s in timings] + [7])
    rows = [f"[flowstage] time per section ({profile}):"]
    rows += [f"  {s:<{width}}  {t:8.1f} s  ({t / 60:5.1f} min)" for s, t in timings.items()]
    total = sum(timings.values())
    rows.append(f"  {'total':<{width}}  {total:8.1f} s  ({total / 60:5.1f} min)")
    return "\n".join(rows)
