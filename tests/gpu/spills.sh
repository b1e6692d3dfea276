#!/bin/sh
# spills.sh — ptxas's register spills in every example's kernels (recurrent,
# chunk and scan where they apply; float32 and bfloat16 I/O; K=V=128 where
# the example has those dims), compiled for sm_90a both ways: the source
# of `lrc emit --emit=cuda` with nvcc, and the run-time JIT's source with
# NVRTC as runtime/cuda.c does. Prints a table of spill-store bytes and
# registers; fails if NVRTC's build of a kernel spills more than nvcc's.
# Needs the CUDA toolkit (nvcc, libnvrtc), no GPU. Run from the repository
# root after `make`.
set -u
LRC=${LRC:-build/lrc}
CUDA=${CUDA_HOME:-/usr/local/cuda}
NVCC=${NVCC:-$(command -v nvcc || echo "$CUDA/bin/nvcc")}
ARCH=${ARCH:-sm_90a}
OUT=${OUT:-build/spills}
HERE=$(dirname "$0")
if [ ! -x "$NVCC" ] || [ ! -e "$CUDA/lib64/libnvrtc.so" ]; then
  echo "spills: no nvcc or libnvrtc; skipped"
  exit 0
fi
rm -rf "$OUT" && mkdir -p "$OUT"
LLVM_CONFIG=${LLVM_CONFIG:-llvm-config-19}
${CC:-cc} -std=c17 -O1 -I. -Ifrontend -Ibuild/gen -Iinclude -D_GNU_SOURCE \
  "$HERE/jit_source.c" build/liblrc.a $($LLVM_CONFIG --ldflags --libs --system-libs) \
  -lffi -ldl -lpthread -lm -o "$OUT/jit_source" || exit 1
# The spill-store bytes and registers in a ptxas -v log: "BYTES REGS".
stat() { awk '{ for (i = 2; i < NF; i++) { if ($(i + 1) == "spill" && $(i + 2) ~ /^stores/) s += $(i - 1)
  if ($(i + 1) ~ /^registers/ && $(i - 1) == "Used") r = $i } } END { print s + 0, r + 0 }' "$1"; }
fail=0
printf '%-24s %-9s %-4s %14s %14s\n' kernel algo io "nvcc spill/reg" "nvrtc spill/reg"
for f in examples/*.lr; do
  name=$(basename "$f" .lr)
  for algo in recurrent chunk scan; do
    for io in f32 bf16; do
      base=$OUT/${name}_${algo}_$io
      dims=K=128,V=128
      "$LRC" emit "$f" --emit=cuda --algo=$algo --dtype=$io --dim $dims -o "$base" 2>/dev/null ||
        { dims=; "$LRC" emit "$f" --emit=cuda --algo=$algo --dtype=$io -o "$base" 2>/dev/null; } ||
        continue
      "$OUT/jit_source" "$f" $algo $io $dims > "${base}_jit.cu" || { fail=1; continue; }
      "$NVCC" -cubin -arch=$ARCH -Xptxas -v "$base.cu" -o "$base.cubin" > "$base.nvcc" 2>&1 ||
        { echo "spills: nvcc failed on $base.cu"; fail=1; continue; }
      python3 "$HERE/nvrtc_spills.py" "${base}_jit.cu" $ARCH > "$base.nvrtc" 2>&1 ||
        { echo "spills: NVRTC failed on ${base}_jit.cu"; cat "$base.nvrtc"; fail=1; continue; }
      set -- $(stat "$base.nvcc") $(stat "$base.nvrtc")
      flag=
      [ "$3" -gt "$1" ] && { flag=" <- NVRTC spills more"; fail=1; }
      printf '%-24s %-9s %-4s %9s/%-4s %9s/%-4s%s\n' $name $algo $io $1 $2 $3 $4 "$flag"
    done
  done
done
[ $fail -eq 0 ] && echo "spills: NVRTC spills no more than nvcc in any kernel"
exit $fail
