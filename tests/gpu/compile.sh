#!/bin/sh
# compile.sh — emit the CUDA of every example (recurrent, and chunk and scan
# where they apply), and of every test variant where CHECK names the test
# binary, and compile it with nvcc for sm_80 and sm_90a, warnings as
# errors. Skips cleanly (exit 0) without nvcc. Run by `make check`.
set -u
LRC=${LRC:-build/lrc}
NVCC=${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
if [ ! -x "$NVCC" ]; then
  echo "cuda-compile: no nvcc; skipped"
  exit 0
fi
OUT=${OUT:-build/cuda-compile}
rm -rf "$OUT" && mkdir -p "$OUT"
fail=0
n=0
for f in examples/*.lr; do
  name=$(basename "$f" .lr)
  for algo in recurrent chunk scan; do
    if ! "$LRC" emit "$f" --emit=cuda --algo=$algo -o "$OUT/${name}_$algo" 2>"$OUT/${name}_$algo.err"; then
      if [ $algo = recurrent ]; then
        echo "cuda-compile: lrc emit failed for $f ($algo):"; cat "$OUT/${name}_$algo.err"; fail=1
      fi
      continue
    fi
    echo "$OUT/${name}_$algo"
  done
done > "$OUT/list" || fail=1
# bfloat16 and float16 inputs and outputs, on three chunk kernels and a scan.
for pair in gated_deltanet:chunk gla:chunk mamba2:chunk mamba:scan; do
  name=${pair%:*} algo=${pair#*:}
  for dt in bf16 f16; do
    if "$LRC" emit examples/$name.lr --emit=cuda --algo=$algo --dtype=$dt -o "$OUT/${name}_$dt" \
        2>"$OUT/${name}_$dt.err"; then
      echo "$OUT/${name}_$dt" >> "$OUT/list"
    else
      echo "cuda-compile: lrc emit --dtype=$dt failed for $name:" >> "$OUT/list"
    fi
  done
done
# Columns split over several blocks per row (16 per block), on four of them.
for name in gated_deltanet simple_gla kda rwkv6; do
  for algo in recurrent chunk; do
    if LRC_CUDA_SPLIT=16 "$LRC" emit examples/$name.lr --emit=cuda --algo=$algo \
        -o "$OUT/${name}_${algo}_split" 2>"$OUT/${name}_split.err"; then
      echo "$OUT/${name}_${algo}_split" >> "$OUT/list"
    else
      echo "cuda-compile: lrc emit with LRC_CUDA_SPLIT=16 failed for $name ($algo):" >> "$OUT/list"
    fi
  done
done
# Odd counts of n-tiles a warp (ldmatrix.x2 of float and bf16 fragments):
# Gated DeltaNet's chunk kernel at K = V = 128, C = 96, bf16 and float32.
for dt in bf16 f32; do
  if "$LRC" emit examples/gated_deltanet.lr --emit=cuda --algo=chunk --chunk=96 --dim K=128,V=128 \
      --dtype=$dt -o "$OUT/gated_deltanet_c96_$dt" 2>"$OUT/gated_deltanet_c96.err"; then
    echo "$OUT/gated_deltanet_c96_$dt" >> "$OUT/list"
  else
    echo "cuda-compile: lrc emit --chunk=96 failed for gated_deltanet ($dt):" >> "$OUT/list"
  fi
done
# The benchmark's size (K = V = 128, bf16): the phased form's rest on split
# columns and on one block a row, chosen by the SM count at launch.
for name in gated_deltanet simple_gla; do
  if "$LRC" emit examples/$name.lr --emit=cuda --algo=chunk --dim K=128,V=128 --dtype=bf16 \
      -o "$OUT/${name}_k128_bf16" 2>"$OUT/${name}_k128.err" &&
      grep -q "${name}_rest_row<<<" "$OUT/${name}_k128_bf16.cu"; then
    echo "$OUT/${name}_k128_bf16" >> "$OUT/list"
  else
    echo "cuda-compile: no rest on one block a row for $name at K = V = 128:" >> "$OUT/list"
  fi
done
# The free part's norms folded into its input loads (row_fold): a row's
# lanes 16 (bf16, K = 128), 16 (float32, K = 64) and 8 (f16, K = 64).
for spec in gated_deltanet:bf16:128 gated_deltanet:f32:64 deltaproduct:f16:64; do
  name=${spec%%:*} rest=${spec#*:}
  dt=${rest%:*} kv=${rest#*:}
  if "$LRC" emit examples/$name.lr --emit=cuda --algo=chunk --dim K=$kv,V=$kv \
      --dtype=$dt -o "$OUT/${name}_rowfold_$dt" 2>"$OUT/${name}_rowfold.err" &&
      grep -q "if (lrc_al)" "$OUT/${name}_rowfold_$dt.cu"; then
    echo "$OUT/${name}_rowfold_$dt" >> "$OUT/list"
  else
    echo "cuda-compile: no row folded for $name ($dt, K = V = $kv):" >> "$OUT/list"
  fi
done
# Gated DeltaNet and DeltaNet with v15's steps switched off (v14's kernels:
# rows not folded, the records counted as the caller's buffers, v0's copy,
# DeltaNet's rest on one row with v0 in float).
for name in gated_deltanet deltanet; do
  if LRC_CUDA_AHEAD_MORE=off LRC_CUDA_ROW_FOLD=off LRC_CUDA_RECORD_SYNC=off LRC_CUDA_REC_COPY=off \
      "$LRC" emit examples/$name.lr --emit=cuda --algo=chunk --dim K=128,V=128 --dtype=bf16 \
      -o "$OUT/${name}_v14_bf16" 2>"$OUT/${name}_v14.err" &&
      ! grep -q "if (lrc_al)" "$OUT/${name}_v14_bf16.cu"; then
    echo "$OUT/${name}_v14_bf16" >> "$OUT/list"
  else
    echo "cuda-compile: $name with v15's switches off:" >> "$OUT/list"
  fi
done
# Gated DeltaNet with the switches that are off by default: the solve
# in two halves (LRC_CUDA_SOLVE=blocked), the folds' sums first
# (LRC_CUDA_FOLD_SUMS=first), the free part's rows padded to fit one more
# block (LRC_CUDA_PAD_FIT=on) and a __syncwarp where the chain's products
# need no more (LRC_CUDA_WARP_SYNC=on); with bf16 I/O its folds store q
# and k rounded to TF32 (by default). Then v20's defaults (the list
# schedule's order, the first placement, TF32 stores for the products'
# tiles only).
for dt in bf16 f32; do
  if LRC_CUDA_SOLVE=blocked LRC_CUDA_FOLD_SUMS=first LRC_CUDA_PAD_FIT=on LRC_CUDA_WARP_SYNC=on \
      "$LRC" emit examples/gated_deltanet.lr \
      --emit=cuda --algo=chunk --dim K=128,V=128 --dtype=$dt -o "$OUT/gated_deltanet_next_$dt" \
      2>"$OUT/gated_deltanet_next.err" && grep -q "float lrc_x\[16\];" "$OUT/gated_deltanet_next_$dt.cu" &&
      grep -q "__syncwarp();" "$OUT/gated_deltanet_next_$dt.cu" &&
      { [ $dt = f32 ] || grep -q "lrc_s) \* lrc_u\[lrc_j\]));" "$OUT/gated_deltanet_next_$dt.cu"; }; then
    echo "$OUT/gated_deltanet_next_$dt" >> "$OUT/list"
  else
    echo "cuda-compile: gated_deltanet ($dt) without a blocked solve, a __syncwarp or TF32 folds under the switches:" >> "$OUT/list"
  fi
done
if LRC_CUDA_PHASE_SCHED=list LRC_CUDA_FOLD_PLACE=off LRC_CUDA_TF32_STORE=products "$LRC" emit \
    examples/gated_deltanet.lr --emit=cuda --algo=chunk --dim K=128,V=128 --dtype=bf16 \
    -o "$OUT/gated_deltanet_v20_bf16" 2>"$OUT/gated_deltanet_v20.err" &&
    grep -q "lrc_tf32(__uint_as_float(" "$OUT/gated_deltanet_v20_bf16.cu"; then
  echo "$OUT/gated_deltanet_v20_bf16" >> "$OUT/list"
else
  echo "cuda-compile: gated_deltanet with v20's defaults (no fragment converted):" >> "$OUT/list"
fi
# Every test variant (CHECK: the test binary, which writes them out), its
# dims bound to 32 (the tensor-core paths): each algorithm that applies in
# float32, the chunk form in bfloat16 too.
if [ -n "${CHECK:-}" ]; then
  mkdir -p "$OUT/variants"
  if ! "$CHECK" --dump-variants "$OUT/variants"; then
    echo "cuda-compile: $CHECK --dump-variants failed" >> "$OUT/list"
  fi
  for f in "$OUT"/variants/*.lr; do
    [ -e "$f" ] || continue
    stem=${f%.lr}
    sed -E '/^ *dim /s/([A-Za-z_][A-Za-z0-9_]*)( *,| *$)/\1 = 32\2/g' "$f" > "$stem.sized.lr"
    nalgo=0
    for algo in recurrent chunk scan; do
      "$LRC" emit "$stem.sized.lr" --emit=cuda --algo=$algo -o "${stem}_$algo" 2>/dev/null || continue
      echo "${stem}_$algo" >> "$OUT/list"
      nalgo=$((nalgo + 1))
      if [ $algo = chunk ]; then
        if "$LRC" emit "$stem.sized.lr" --emit=cuda --algo=chunk --dtype=bf16 -o "${stem}_chunk_bf16" \
            2>"${stem}_bf16.err"; then
          echo "${stem}_chunk_bf16" >> "$OUT/list"
        else
          echo "cuda-compile: lrc emit --dtype=bf16 failed for variant $f:" >> "$OUT/list"
        fi
      fi
    done
    [ $nalgo -gt 0 ] || echo "cuda-compile: no CUDA emitted for variant $f:" >> "$OUT/list"
    case $f in
    */c[0-9]*) [ -e "${stem}_chunk.cu" ] || echo "cuda-compile: no chunk kernel for chunk variant $f" >> "$OUT/list" ;;
    esac
  done
fi
grep -v '^cuda-compile' "$OUT/list" > "$OUT/units"
grep '^cuda-compile' "$OUT/list" && fail=1
# Two compilers at a time: each unit for both architectures.
if ! xargs -P 2 -I{} sh -c "'$NVCC' -Werror all-warnings -gencode arch=compute_80,code=sm_80 \
      -gencode arch=compute_90a,code=sm_90a -c {}.cu -o {}.o > {}.log 2>&1 || \
      { echo 'cuda-compile: nvcc failed on {}.cu:'; cat {}.log; exit 255; }" < "$OUT/units"; then
  fail=1
fi
n=$(wc -l < "$OUT/units")
if [ $fail -ne 0 ]; then
  echo "cuda-compile: FAILED"
  exit 1
fi
echo "cuda-compile: $n kernels built with nvcc for sm_80 and sm_90a"
