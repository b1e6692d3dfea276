#!/bin/sh
# prepare_bench.sh DIR — the kernels tests/gpu/compare_fla.py times: the
# bfloat16 chunk kernels of the four ops it sets beside FLA at K = V = 128
# (NAME_chunk_bf16) and K = V = 64 (NAME_k64_chunk_bf16), RWKV-7's at K = V
# = 128 (rwkv7_chunk_bf16), and the bfloat16
# recurrent kernels of the two decode ops (NAME_recurrent_bf16).
set -eu
LRC=${LRC:-build/lrc}
DIR=$1
mkdir -p "$DIR"
for op in gated_deltanet simple_gla gla deltanet; do
  "$LRC" emit examples/$op.lr --emit=cuda --algo=chunk --dtype=bf16 --dim K=128,V=128 \
    -o "$DIR/${op}_chunk_bf16"
  "$LRC" emit examples/$op.lr --emit=cuda --algo=chunk --dtype=bf16 --dim K=64,V=64 \
    -o "$DIR/${op}_k64_chunk_bf16"
done
# (RWKV-7 at K = V = 128 only: beside FLA's chunk_rwkv7)
"$LRC" emit examples/rwkv7.lr --emit=cuda --algo=chunk --dtype=bf16 --dim K=128,V=128 \
  -o "$DIR/rwkv7_chunk_bf16"
for op in gated_deltanet simple_gla; do
  "$LRC" emit examples/$op.lr --emit=cuda --algo=recurrent --dtype=bf16 --dim K=128,V=128 \
    -o "$DIR/${op}_recurrent_bf16"
done
