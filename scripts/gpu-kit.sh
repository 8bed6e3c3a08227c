#!/usr/bin/env bash
# Prepare what the GPU benchmark needs on a lent device machine (no network there) in gpu-kit/
# (git-ignored): wheels of the service's dependencies that the machine's Python lacks, and the
# onnxruntime-gpu wheel cut into parts that fit the device tool's 64 MiB carry limit.
#
#   bash scripts/gpu-kit.sh            # here, with network: downloads about 280 MB into gpu-kit/
#
# The device machine's python3 is CPython 3.12 with PyTorch, the NVIDIA CUDA 13 / cuDNN 9 pip wheels,
# numpy, httpx, anyio, pillow, prometheus-client, uvloop, PyYAML, tqdm and the CPU build of
# onnxruntime (/work/.library/device/KINDS.md, "Python packages already there"); what it lacks is
# downloaded here for CPython 3.12 on manylinux x86_64, pinned to the versions this project is tested
# with. Then, on the device, one call per line that this script prints carries the parts (an ignored
# folder stays on the warm machine between calls), and the last call runs bench/gpu_bench.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

KIT=gpu-kit
PART_MIB=${PART_MIB:-48}  # the working tree (about 11 MB) travels too: 64 MiB in all per call
PY=${PY:-3.12}
ORT="onnxruntime-gpu==1.31.1"
# What the device's python3 lacks, at the versions of this project's environment; installed there
# with --no-deps, so the list is complete on purpose (bench/gpu_bench.sh checks the imports first).
WHEELS=(
  "fastapi==0.165.0" "starlette==1.10.0" "annotated-types==0.8.0" "typing-inspection==0.4.5"
  "pydantic==2.14.4" "pydantic-core==2.50.5" "pydantic-settings==2.16.3" "python-dotenv==1.2.4"
  "python-multipart==0.0.34" "uvicorn==0.54.0" "httptools==0.9.0" "opentelemetry-api==1.45.2"
  "astropy==8.0.2" "pyerfa==2.0.1.5" "astropy-iers-data==0.2026.11.2.0.34.55"
)

mkdir -p "$KIT/wheels" "$KIT/ort"
pip_download() {
  "${PYTHON:-python3}" -m pip download --quiet --no-deps --only-binary=:all: --python-version "$PY" \
    --implementation cp --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux_2_28_x86_64 --platform any "$@"
}
pip_download --dest "$KIT/wheels" "${WHEELS[@]}"
pip_download --dest "$KIT" "$ORT"
wheel=$(ls "$KIT"/onnxruntime_gpu-*.whl)
rm -f "$KIT"/ort/*
split --bytes="${PART_MIB}M" --numeric-suffixes=1 --suffix-length=2 "$wheel" "$KIT/ort/part-"
(cd "$KIT" && sha256sum "$(basename "$wheel")" > ort/SHA256SUMS && basename "$wheel" > ort/NAME)
rm "$wheel"
du -sh "$KIT/wheels" "$KIT/ort"

parts=("$KIT"/ort/part-*)
echo
echo "On the device (the run tool), one call per line; each call carries the paths in [...]:"
for ((k = 0; k < ${#parts[@]}; k++)); do
  carry="\"${parts[k]}\""
  if ((k == ${#parts[@]} - 1)); then
    carry="$carry, \"$KIT/wheels\", \"$KIT/ort/SHA256SUMS\", \"$KIT/ort/NAME\""
    echo "  carry [$carry]: bash bench/gpu_bench.sh   (timeout_s 420)"
  else
    echo "  carry [$carry]: ls -l $KIT/ort   (timeout_s 60)"
  fi
done
