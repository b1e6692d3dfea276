#!/bin/sh
# run.sh DIR — on a GPU machine: build and run every kernel prepared in DIR
# by tests/gpu/prepare.sh against the C reference (tests/gpu/check_cuda.py),
# then compute-sanitizer's memcheck and racecheck on three chunk kernels
# (Gated DeltaNet, WY; simple GLA, records copied from the inputs; Mamba-2,
# every form) and an elementwise-state kernel (Mamba). Skips cleanly
# (exit 0) where there is no GPU.
set -eu
DIR=${1:-build/gpu}
HERE=$(dirname "$0")
if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
  echo "gpu: no CUDA device; skipped"
  exit 0
fi
nvidia-smi -L
# Build every kernel first, as many at once as there are cores.
ls "$DIR"/*.cu | sed 's/\.cu$//' | xargs -P "$(nproc)" -I{} \
  nvcc -O3 -arch=sm_90a -Xcompiler -fPIC -shared {}.cu -o {}.so
ls "$DIR"/*_ref.c | sed 's/\.c$//' | xargs -P "$(nproc)" -I{} \
  gcc -O2 -std=c99 -fPIC -shared {}.c -o {}.so -lm
python3 "$HERE/check_cuda.py" "$DIR"
SAN=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
if [ -x "$SAN" ]; then
  bad=0
  for tool in memcheck racecheck; do
    log=$(mktemp)
    LRC_GPU_ONLY="gated_deltanet simple_gla mamba mamba2" LRC_GPU_QUICK=1 \
      "$SAN" --tool $tool --error-exitcode 3 \
      python3 "$HERE/check_cuda.py" "$DIR" > "$log" 2>&1 || bad=1
    echo "compute-sanitizer --tool $tool:"
    grep -v "^ok " "$log" | tail -6
    rm -f "$log"
  done
  [ $bad -eq 0 ] || { echo "gpu: compute-sanitizer found errors"; exit 1; }
else
  echo "gpu: no compute-sanitizer; memcheck and racecheck skipped"
fi
