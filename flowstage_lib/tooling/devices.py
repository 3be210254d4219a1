"""Where work runs and which device cache keys name, so that results travel between machines.

Two devices, kept apart on purpose:

- :func:`run_device`: where tensors and networks go. ``$FLOWSTAGE_DEVICE`` when set (the
  override, e.g. ``flowstage compute ... --device cpu``), else CUDA when available, else CPU.
- :func:`key_device`: the device type that cache keys hold. ``$FLOWSTAGE_DEVICE``'s type when
  set, else the ``device:`` setting of the active profile (``cpu`` for smoke and cpu, ``cuda``
  for gpu and gpu-quick), else the run device's type. The active profile is ``profile`` when
  given, else ``$FLOWSTAGE_PROFILE`` (set by ``flowstage compute``, ``run`` and ``book``).

So a result the gpu profile computed on a GPU has the key that a CPU-only machine computes for
the gpu profile, and ``flowstage book --profile gpu --from-cache`` renders it there; without
an override the machine's device never enters a key. Results computed under another
requested device (``--device cpu``) are kept apart from the profile's own. On the CPU, keys
also hold whether networks ran in bf16 (:func:`numerics`, :func:`cpu_bf16`).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from contextlib import contextmanager

import torch

from flowstage_lib.tooling.book import PROFILES, ProfileError, ProfileSetting

__all__ = [
    "DEVICE_ENV",
    "DEVICE_HELP",
    "PROFILE_ENV",
    "REQUESTED_DEVICE",
    "parse_device",
    "run_device",
    "key_device",
    "active_profile",
    "requested_device",
    "DeviceError",
    "CPU_BF16_ENV",
    "cpu_bf16",
    "numerics",
]

DEVICE_ENV = "FLOWSTAGE_DEVICE"
PROFILE_ENV = "FLOWSTAGE_PROFILE"
#: The ``--device`` option of ``flowstage compute``, ``run`` and ``book``.
DEVICE_HELP = (
    "run on D (cpu, cuda, cuda:N) and key cached results on D, apart from the profile's own; "
    "default: run on CUDA when available, else CPU, and key on the profile's `device:` "
    "setting, so results travel between machines. The same as FLOWSTAGE_DEVICE=D"
)


class DeviceError(ValueError):
    """A device that is not cpu / cuda / cuda:N, or CUDA asked for where torch has none."""


def parse_device(text: str, name: str = DEVICE_ENV) -> torch.device:
    """``text`` as a torch device of type cpu or cuda (``"cuda:1"`` allowed); a
    :class:`DeviceError` naming ``name`` otherwise."""
    if not isinstance(text, str) or not text.strip():
        raise DeviceError(f"{name} must name a device (cpu, cuda, cuda:N), got {text!r}")
    try:
        dev = torch.device(text.strip())
    except (RuntimeError, ValueError) as err:
        raise DeviceError(f"{name}={text!r} is not a device (cpu, cuda, cuda:N): {err}") from None
    if dev.type not in ("cpu", "cuda"):
        raise DeviceError(f"{name}={text!r}: only cpu and cuda devices are supported")
    return dev


def _from_profile(value) -> str:
    return parse_device(value, "profiles/<profile>.yml 'device'").type


#: ``{profile: "cpu" | "cuda"}``: the device each profile is meant for (its ``device:`` setting).
REQUESTED_DEVICE = ProfileSetting("device", _from_profile)


def _override() -> torch.device | None:
    text = os.environ.get(DEVICE_ENV)
    return parse_device(text) if text else None


def run_device() -> torch.device:
    """``$FLOWSTAGE_DEVICE`` when set, else CUDA when available, else CPU.

    Raises:
        DeviceError: ``$FLOWSTAGE_DEVICE`` is not a device, or asks for CUDA that this machine
            lacks.
    """
    dev = _override()
    if dev is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise DeviceError(
            f"{DEVICE_ENV}={os.environ[DEVICE_ENV]!r} but torch has no CUDA here "
            f"(torch {torch.__version__}); use --device cpu or unset {DEVICE_ENV}"
        )
    return dev


def key_device(profile: str | None = None) -> str:
    """The device type cache keys hold (see the module docstring): the override's type, else
    the active profile's ``device:`` setting, else the run device's type."""
    dev = _override()
    if dev is not None:
        return dev.type
    profile = profile or os.environ.get(PROFILE_ENV)
    if profile:
        if profile not in PROFILES:
            raise ProfileError(
                f"unknown profile {profile!r} (argument or ${PROFILE_ENV}): choose one of "
                f"{', '.join(PROFILES)}"
            )
        return REQUESTED_DEVICE[profile]
    return run_device().type


#: ``FLOWSTAGE_CPU_BF16``: ``1`` runs networks under bf16 autocast on any CPU, ``0`` never,
#: unset (auto) where the CPU multiplies bf16 natively (:func:`cpu_bf16`).
CPU_BF16_ENV = "FLOWSTAGE_CPU_BF16"
_BF16_FLAGS = ("amx_bf16", "avx512_bf16")  # Intel AMX (Sapphire Rapids on), AVX512-BF16 (Zen 4)


@functools.cache
def _cpu_flags() -> frozenset[str]:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()  # not Linux (macOS, Windows): no probe, so fp32


def cpu_bf16() -> bool:
    """Whether networks run under bf16 autocast on this machine's CPU: ``$FLOWSTAGE_CPU_BF16``
    (``1`` / ``0``) when set, else whether the CPU has native bf16 matrix units (the
    ``amx_bf16`` or ``avx512_bf16`` flag). There, oneDNN's bf16 matmul is several times the
    fp32 rate (``benchmarks/bench_models.py`` measures both); elsewhere bf16 would be emulated
    and slower, so the CPU stays fp32. Cache keys hold the answer
    (:func:`numerics`), as results differ in the last bits."""
    text = os.environ.get(CPU_BF16_ENV, "").strip()
    if text in ("0", "1"):
        return text == "1"
    if text:
        raise ValueError(f"{CPU_BF16_ENV} must be 1 (bf16 on the CPU) or 0 (fp32), got {text!r}")
    return bool(_cpu_flags() & set(_BF16_FLAGS))


def numerics(profile: str | None = None) -> str:
    """What cache keys hold about the arithmetic besides the device: ``"cpu-bf16"`` where the
    keys name the CPU (:func:`key_device`) and networks run there under bf16 autocast
    (:func:`cpu_bf16`), else ``"default"`` (fp32 on the CPU; CUDA's bf16 comes with the
    device). Results that differ in the last bits thus never share a cache entry."""
    return "cpu-bf16" if key_device(profile) == "cpu" and cpu_bf16() else "default"


@contextmanager
def active_profile(profile: str) -> Iterator[None]:
    """Make ``profile`` the active profile (``$FLOWSTAGE_PROFILE``) for the block, restoring
    the caller's value afterwards (also on error)."""
    before = os.environ.get(PROFILE_ENV)
    os.environ[PROFILE_ENV] = profile
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(PROFILE_ENV, None)
        else:
            os.environ[PROFILE_ENV] = before


@contextmanager
def requested_device(text: str | None, name: str = DEVICE_ENV) -> Iterator[None]:
    """Run the block with ``$FLOWSTAGE_DEVICE = text`` (nothing changes for None), checked
    first (a :class:`DeviceError` naming ``name``, e.g. ``"--device"``), restored afterwards.
    Notebook kernels started in the block inherit it."""
    if text is None:
        yield
        return
    before = os.environ.get(DEVICE_ENV)
    os.environ[DEVICE_ENV] = text
    try:
        try:
            run_device()
        except DeviceError as err:
            raise DeviceError(f"{name} {text}: {err}") from None
        yield
    finally:
        if before is None:
            os.environ.pop(DEVICE_ENV, None)
        else:
            os.environ[DEVICE_ENV] = before
