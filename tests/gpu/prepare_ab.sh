#!/bin/sh
# prepare_ab.sh OUT VARIANT... — versions of the chunk kernels side by side,
# for tests/gpu/ab.sh to time on a GPU machine. Each VARIANT is NAME or
# NAME:SETTING,SETTING... where a setting is an emit-time switch
# (LRC_CUDA_VEC_NEST=off, LRC_CUDA_MMA=tf32, ...), `phased` or `fused`
# (that form whatever the launcher would choose), `chunk=C` (--chunk=C) or
# `row=0|1` (the phased form's rest on split columns, or on one block a
# row, whatever the SM count). OUT/NAME/OP_chunk.cu for every
# op of $OPS (default: the six the perf notes follow), bfloat16 I/O at
# K = V = 128 ($DIMS).
set -eu
LRC=${LRC:-build/lrc}
OPS=${OPS:-gated_deltanet simple_gla gla deltanet kda deltaproduct}
DIMS=${DIMS:-K=128,V=128}
OUT=$1; shift
for v in "$@"; do
  name=${v%%:*}
  settings=$([ "$name" = "$v" ] && echo "" || echo "${v#*:}" | tr ',' ' ')
  env=; phased=; chunk=; row=
  for s in $settings; do
    case $s in
    phased) phased=1 ;;
    fused) phased=0 ;;
    chunk=*) chunk="--chunk=${s#chunk=}" ;;
    row=*) row=${s#row=} ;;
    *=*) env="$env $s" ;;
    *) echo "prepare_ab: $v: '$s' is neither NAME=VALUE, chunk=C, row=0|1, 'phased' nor 'fused'" >&2; exit 1 ;;
    esac
  done
  d=$OUT/$name
  rm -rf "$d" && mkdir -p "$d"
  for op in $OPS; do
    env $env "$LRC" emit "examples/$op.lr" --emit=cuda --algo=chunk --dtype=bf16 --dim "$DIMS" \
      $chunk -o "$d/$op"
    { [ -n "$phased" ] && echo "#define LRC_PHASED $phased"
      [ -n "$row" ] && echo "#define LRC_ROW_REST $row"
      sed "s/#include \"$op.h\"/#include \"${op}_chunk.h\"/" "$d/$op.cu"; } > "$d/${op}_chunk.cu"
    mv "$d/$op.h" "$d/${op}_chunk.h"
    rm "$d/$op.cu"
  done
done
