#!/usr/bin/env bash
# The GPU benchmarks, in one command on a lent device machine (no network there): installs the kit
# that scripts/gpu-kit.sh prepared (gpu-kit/, carried in parts), checks that onnxruntime really runs
# the CUDA provider, then measures raw onnxruntime and the service on CUDA. Results go to $OUT (the
# device tool brings them back) or bench/results/gpu/ where OUT is unset.
#
#   bash bench/gpu_bench.sh [SECONDS]     # SECONDS per load, default 5: about 3 minutes in all
#
# What it writes: gpu.txt (nvidia-smi), providers.txt (onnxruntime's version, file and providers),
# onnx_throughput-space-cuda.json, service_throughput-space-cuda.json and the printed tables in
# gpu_bench.log. Any step failing stops the script with the step named.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_LOAD=${1:-5}
KIT=gpu-kit
OUT=${OUT:-bench/results/gpu}
mkdir -p "$OUT"
exec > >(tee -a "$OUT/gpu_bench.log") 2>&1
step() { echo; echo "== $*"; }

step "GPU"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"

step "onnxruntime-gpu wheel from its parts"
name=$(cat "$KIT/ort/NAME")
cat "$KIT"/ort/part-* > "/tmp/$name"
(cd /tmp && sha256sum -c "$OLDPWD/$KIT/ort/SHA256SUMS")

step "the kit's packages, ahead of the machine's python3 (PyTorch's, with the NVIDIA CUDA 13 wheels)"
# --target and PYTHONPATH rather than a venv: python3 there is itself a venv, and a venv made from it
# would see the base interpreter's packages, not PyTorch's. --no-deps: the kit lists exactly what
# python3 lacks; the imports below check that nothing is missing. The kit's onnxruntime (the GPU
# build) comes first on the path, ahead of the CPU build installed there.
PY=${PYTHON:-python3}
rm -rf /tmp/lf-site  # a second try on a warm machine starts clean
$PY -m pip install --quiet --no-index --no-deps --target /tmp/lf-site "$KIT"/wheels/*.whl "/tmp/$name"
export PYTHONPATH=/tmp/lf-site:$PWD
# onnxruntime's CUDA provider library has no RUNPATH: it finds cuBLAS, cuDNN, cuFFT, cuRAND and the
# runtime in the NVIDIA wheels' lib folders (as the Dockerfile's LD_LIBRARY_PATH does)
nvidia=$($PY -c 'import nvidia; print(list(nvidia.__path__)[0])')
LD_LIBRARY_PATH=$(find "$nvidia" -maxdepth 3 -type d -name lib | paste -sd:)${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export LD_LIBRARY_PATH
$PY -c 'import app.main, bench.service_throughput, bench.onnx_throughput; print("imports ok")'

step "onnxruntime's providers (the CUDA provider must really run)"
$PY - <<'EOF' | tee "$OUT/providers.txt"
import numpy as np
import onnxruntime as ort

from bench.onnx_throughput import cutouts, make_session

print("onnxruntime", ort.__version__, ort.__file__)
print("available:", ort.get_available_providers())
session = make_session(__import__("pathlib").Path("models/space/model.onnx"), "cuda", None)
print("session runs on:", session.get_providers())
out = session.run(None, {session.get_inputs()[0].name: cutouts(8, (1, 101, 101))})[0]
assert np.all(np.isfinite(out)), out
EOF

step "raw onnxruntime on CUDA"
$PY -m bench.onnx_throughput --model models/space --provider cuda --batch 1 8 32 64 256 \
  --seconds "$SECONDS_PER_LOAD" --json "$OUT/onnx_throughput-space-cuda.json"

step "the service on CUDA against raw onnxruntime (bench.service_throughput)"
$PY -m bench.service_throughput --device cuda --seconds "$SECONDS_PER_LOAD" \
  --json "$OUT/service_throughput-space-cuda.json" --log "$OUT/service.log"
echo; echo "done: $OUT"
