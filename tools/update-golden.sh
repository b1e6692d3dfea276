#!/bin/sh
# update-golden.sh — rewrite tests/golden/NAME.ir from examples/NAME.lr with
# the built lrc (`lrc emit --emit=ir`), then show what changed. Review the
# diff before committing: a golden file is a promise about the output.
set -eu
cd "$(dirname "$0")/.."
lrc=${LRC_BIN:-build/lrc}
[ -x "$lrc" ] || { echo "update-golden: $lrc is missing; run make first" >&2; exit 1; }
mkdir -p tests/golden
for f in examples/*.lr; do
  name=$(basename "$f" .lr)
  "$lrc" emit "$f" --emit=ir > "tests/golden/$name.ir"
done
git diff --stat -- tests/golden || true
