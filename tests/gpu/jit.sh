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
# The cuda suite in 8 shards at once (NVRTC's compiles dominate); the odd
# shards with the phased form of every chunk kernel whatever the size
# (LRC_CUDA_PHASED=on) and its rest's columns split in slices of 8 (the
# oracle's dims are 8 to 40: LRC_TEST_PHASE_SPLIT), 1 and 5 on the split
# columns, 3 and 7 on one block a row (LRC_CUDA_ROW=on); the even ones as
# the launcher chooses.
n=8
for s in $(seq 0 $((n - 1))); do
  phased=$([ $((s % 2)) -eq 1 ] && echo on || echo auto)
  row=$([ $((s % 4)) -eq 3 ] && echo on || echo auto)
  split=$([ $((s % 2)) -eq 1 ] && echo 8 || echo 64)
  LRC_CUDA_PHASED=$phased LRC_CUDA_ROW=$row LRC_TEST_PHASE_SPLIT=$split CK_RUN_SUITE=cuda \
    LRC_BIN=$LRC LRC_TEST_SHARD=$s/$n build/portable/check_lrc > build/jit-shard-$s.log 2>&1 &
done
fail=0
wait || true
for s in $(seq 0 $((n - 1))); do
  grep -q "^100%: Checks" build/jit-shard-$s.log || fail=1
  grep -v "^Running suite" build/jit-shard-$s.log | sed "s/^/shard $s: /"
done
[ $fail -eq 0 ] || { echo "gpu: the cuda suite failed"; exit 1; }
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
