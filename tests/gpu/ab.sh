#!/bin/sh
# ab.sh OUT [B T H] — on a GPU machine: the versions prepared by
# tests/gpu/prepare_ab.sh under OUT built (nvcc, with line info for Nsight
# Compute), each part's own time (tests/gpu/parts.py), then the whole
# kernels' times twice (tests/gpu/time_cuda.py: noisy machines, compare
# within one run). Default shape: the B=8 T=4096 H=16. Skips
# cleanly (exit 0) where there is no GPU.
set -eu
OUT=$1
B=${2:-8} T=${3:-4096} H=${4:-16}
HERE=$(dirname "$0")
if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
  echo "gpu: no CUDA device; skipped"
  exit 0
fi
ls "$OUT"/*/*.cu | sed 's/\.cu$//' | xargs -P "$(nproc)" -I{} \
  nvcc -O3 -arch=sm_90a -lineinfo -Xcompiler -fPIC -shared {}.cu -o {}.so
dirs=$(ls -d "$OUT"/*/ | sed 's:/$::' | paste -sd, -)
names=$(ls "$OUT"/*/*_chunk.cu | xargs -n1 basename | sed 's/_chunk\.cu$//' | sort -u | paste -sd, -)
python3 "$HERE/parts.py" "$dirs" "$names" "$B" "$T" "$H"
for round in 1 2; do
  echo "round $round:"
  python3 "$HERE/time_cuda.py" "$dirs" "$names" "$B" "$T" "$H"
done
