#!/bin/sh
# prepare.sh DIR [EXAMPLE...] — for each example (default: all), the emitted
# C recurrent kernel (the reference, NAME_ref.c/.h) and the emitted CUDA of
# every algorithm that applies (NAME_<algo>[_bf16|_f16|_split].cu/.h:
# float32, bfloat16 and float16 inputs and outputs, float32 with the
# state's columns split over blocks of 16, float32 and bfloat16 in the
# phased form: NAME_chunk[_bf16]_phased[_row], float32 and bfloat16 with
# the switches that are off by default until measured on: NAME_<algo>
# [_bf16]_next, where they change the code), at K=V=64 where the
# rnn has those dims (DIMS=K=128,V=128 for others), for tests/gpu/run.sh
# to carry to a GPU machine.
set -eu
LRC=${LRC:-build/lrc}
dims=${DIMS:+--dim=$DIMS}
DIR=$1; shift
mkdir -p "$DIR"
list=${*:-$(ls examples/*.lr | xargs -n1 basename | sed 's/\.lr$//')}
for name in $list; do
  f=examples/$name.lr
  "$LRC" emit "$f" --emit=c --algo=recurrent $dims -o "$DIR/${name}_ref"
  for algo in recurrent chunk scan; do
    "$LRC" emit "$f" --emit=cuda --algo=$algo $dims -o "$DIR/${name}_$algo" 2>/dev/null || continue
    for dt in bf16 f16; do
      "$LRC" emit "$f" --emit=cuda --algo=$algo --dtype=$dt $dims -o "$DIR/${name}_${algo}_$dt"
    done
    # The switches off by default (kept where they change the code).
    for v in "" _bf16; do
      dt=$([ -z "$v" ] && echo f32 || echo bf16)
      LRC_CUDA_SOLVE=blocked LRC_CUDA_FOLD_SUMS=first LRC_CUDA_PAD_FIT=on LRC_CUDA_WARP_SYNC=on \
        "$LRC" emit "$f" --emit=cuda --algo=$algo \
        --dtype=$dt $dims -o "$DIR/${name}_${algo}${v}_next"
      sed "s/\"${name}_${algo}${v}_next\.h\"/\"${name}_${algo}$v.h\"/" "$DIR/${name}_${algo}${v}_next.cu" |
        cmp -s - "$DIR/${name}_${algo}$v.cu" && rm -f "$DIR/${name}_${algo}${v}_next".*
    done
    # State columns split over blocks of 16 (kept where a dim was split).
    LRC_CUDA_SPLIT=16 "$LRC" emit "$f" --emit=cuda --algo=$algo $dims -o "$DIR/${name}_${algo}_split"
    grep -q "lrc_split \\* " "$DIR/${name}_${algo}_split.cu" || rm -f "$DIR/${name}_${algo}_split".*
    # The phased form (free part over all chunks, then the rest), taken
    # whatever the size (the launcher's own choice skips it on small ones):
    # its rest on state columns split in slices of 32 (NAME_phased), and
    # on one block a row (NAME_phased_row), whatever the SM count.
    for v in "" _bf16; do
      s="$DIR/${name}_${algo}$v"
      grep -q "_free(" "$s.cu" || continue
      dt=$([ -z "$v" ] && echo f32 || echo bf16)
      LRC_CUDA_PHASE_SPLIT=32 "$LRC" emit "$f" --emit=cuda --algo=$algo --dtype=$dt $dims -o "${s}_p"
      for row in 0 1; do
        out=${s}_phased$([ $row = 1 ] && echo _row || true)
        { echo "#define LRC_PHASED 1"; echo "#define LRC_ROW_REST $row"
          sed "s/#include \"$(basename "${s}_p").h\"/#include \"$(basename "$out").h\"/" "${s}_p.cu"; } > "$out.cu"
        cp "${s}_p.h" "$out.h"
      done
      rm "${s}_p".*
      # (without a rest on one block a row, NAME_phased alone)
      grep -q "_rest_row(" "${s}_phased.cu" || rm "${s}_phased_row".*
    done
  done
done
