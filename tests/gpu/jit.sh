#!/bin/sh
# jit.sh [TARBALL] — on a GPU machine: lrc's run-time CUDA JIT from a
# portable build (`make portable` here, then carry build/portable.tar.xz):
# the cuda Check suite (every example and variant x algorithm x dtype
# against the float64 oracle through NVRTC and the driver, device
# pointers, timing), then `lrc run` and `lrc bench --target=cuda` at the
# benchmark's size. Skips cleanly (exit 0) where there is no GPU.
set -eu
TAR=${1:-build/portable.tar.xz}
if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
  echo "gpu: no CUDA device; skipped"
  exit 0
fi
nvidia-smi -L
mkdir -p build
tar -C build -xJf "$TAR"
LRC=build/portable/lrc
export LRC_CACHE_DIR=${LRC_CACHE_DIR:-$(mktemp -d)}
CK_RUN_SUITE=cuda LRC_BIN=$LRC build/portable/check_lrc
SHAPE=${SHAPE:-B=8,T=4096,H=16}
for ex in gated_deltanet simple_gla gla deltanet kda mamba2; do
  [ -f examples/$ex.lr ] || continue
  echo
  "$LRC" run examples/$ex.lr --target=cuda --dim K=128,V=128 --shape "$SHAPE" --dtype=bf16 \
    --repeat 10 2>/dev/null ||
    "$LRC" run examples/$ex.lr --target=cuda --shape "$SHAPE" --dtype=bf16 --repeat 10
done
for ex in gated_deltanet simple_gla; do
  echo
  "$LRC" bench examples/$ex.lr --target=cuda --dim K=128,V=128 --shape "$SHAPE" --dtype=bf16 \
    --repeat 20
done
