#!/usr/bin/env bash
# The gpu-quick tier (profiles/gpu-quick.yml: one H100/H200, meant to take under 8 minutes):
# run its experiments on a machine with a CUDA build of torch and no network. Nothing is
# installed and nothing is downloaded; this repository (with data/mnist) and the library's
# dependencies are all it needs (see scripts/offline_compute.sh, which it runs).
#
#   scripts/gpu_quick.sh OUTDIR [SECTION ...] [-p NAME VALUE ...] [--device D]
#
# Default: every section with a compute step, on CUDA (an error if torch has none here).
# `--device cpu` runs the same code path on the CPU (the test suite does, with tiny -p sizes);
# cache keys then hold "cpu" instead of the profile's "cuda", so such results stay apart.
# `-p` overrides put the results under OUTDIR/results/custom-<hash>/ (never the profile's).
#
# Writes OUTDIR/cache (the results, tensors on the CPU), OUTDIR/results/gpu-quick/<section>/
# provenance.json (device, torch, commit, wall time per section), OUTDIR/environment.txt,
# OUTDIR/compute.log (with the time per section) and OUTDIR/gpu_quick.json (the whole run's
# wall time, arguments, GPU). Bring OUTDIR back and render it on any machine, CPU-only too:
#   FLOWSTAGE_CACHE=OUTDIR/cache FLOWSTAGE_RESULTS=OUTDIR/results \
#     flowstage book --profile gpu-quick --from-cache
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:?usage: gpu_quick.sh OUTDIR [SECTION ...] [-p NAME VALUE ...] [--device D]}"
shift
if [ "$#" -eq 0 ] || [ "${1#-}" != "$1" ]; then set -- --all "$@"; fi  # no section named
device=""
prev=""
for a in "$@"; do
  if [ "$prev" = "--device" ]; then device="$a"; fi
  case "$a" in --device=*) device="${a#--device=}" ;; esac
  prev="$a"
done
if [ -z "$device" ]; then
  if ! python3 -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
    echo "gpu_quick.sh: torch has no CUDA on this machine; install a CUDA build of torch, or" \
      "pass --device cpu to run the same path on the CPU" >&2
    exit 2
  fi
fi
mkdir -p "$out"
out="$(cd "$out" && pwd)"
t0="$(date +%s)"
"$repo/scripts/offline_compute.sh" gpu-quick "$out" "$@"
t1="$(date +%s)"
GQ_OUT="$out" GQ_WALL="$((t1 - t0))" GQ_DEVICE="$device" python3 - "$@" <<'PY'
import json, os, subprocess, sys

import torch

smi = None
try:
    smi = subprocess.run(
        ["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
        capture_output=True, text=True, timeout=20,
    ).stdout.strip() or None
except (OSError, subprocess.SubprocessError):
    pass
record = {
    "profile": "gpu-quick",
    "arguments": sys.argv[1:],
    "device_override": os.environ["GQ_DEVICE"] or None,
    "cuda": torch.cuda.is_available(),
    "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    "nvidia_smi": smi,
    "torch": torch.__version__,
    "wall_seconds": int(os.environ["GQ_WALL"]),
    "budget_seconds": 480,
}
path = os.path.join(os.environ["GQ_OUT"], "gpu_quick.json")
with open(path + ".tmp", "w") as f:
    json.dump(record, f, indent=1)
os.replace(path + ".tmp", path)
print(f"gpu-quick: {record['wall_seconds']} s in all (budget 480 s); {path}")
PY
