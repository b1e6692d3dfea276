#!/bin/sh
# run.sh — the CUDA tests that need a device, on the emulated one
# (tests/emu/driver.c, include/lrc_emu.h): the cuda suite's "device" case
# (every example and variant x algorithm x dtype against the float64
# oracle; the examples' chunk kernels at K = V = 128 in each launch form
# and with the switches that are off by default; the examples' standalone
# .cu through their launchers; device pointers on a stream) in as many
# processes as there are cores, then `lrc run` and
# `lrc bench` with --target=cuda. For `make check` (B: the build
# directory, default build).
set -eu
B=${B:-build}
ROOT=$(pwd)
export LD_LIBRARY_PATH="$ROOT/$B/emu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export CUDA_HOME="$ROOT/tests/emu" LRC_EMU=1 LRC_EMU_VERBOSE=1
export LRC_BIN="$B/lrc" LRC_CACHE_DIR="$ROOT/$B/emu/cache"
n=$(nproc 2>/dev/null || echo 2)
echo "emu: the CUDA device tests on the emulated device, $n processes"
pids=""
k=0
while [ $k -lt "$n" ]; do
  CK_RUN_SUITE=cuda CK_RUN_CASE=device LRC_TEST_SHARD=$k/$n "./$B/check_lrc" \
    > "$B/emu/shard$k.log" 2>&1 &
  pids="$pids $!"
  k=$((k + 1))
done
fail=0
for p in $pids; do wait "$p" || fail=1; done
k=0
while [ $k -lt "$n" ]; do
  # the failures in full, else the summary line
  grep -v "^Running suite\|^cuda: " "$B/emu/shard$k.log" | tail -n 20
  k=$((k + 1))
done
for dt in f32 bf16; do
  out=$("./$B/lrc" run examples/gated_deltanet.lr --target=cuda --dtype=$dt \
        --shape B=2,T=100,H=2 --no-cache 2>&1) || { echo "$out"; fail=1; }
  echo "$out" | grep "result"
done
out=$("./$B/lrc" bench examples/simple_gla.lr --target=cuda --dtype=bf16 --shape B=1,T=64,H=2 \
      --repeat 2 --no-cache 2>&1) || { echo "$out"; fail=1; }
[ $fail -eq 0 ] && echo "emu: all passed" || echo "emu: FAILED"
exit $fail
