#!/bin/sh
# update-golden.sh — rewrite tests/golden/NAME.ir from examples/NAME.lr with
# the built lrc (`lrc emit examples/NAME.lr --emit=ir`), remove the golden
# files whose example is gone, then show what changed. Review the diff
# before committing: a golden file is a promise about the output.
#
#   tools/update-golden.sh            (LRC_BIN=path/to/lrc to use another build)
#
# An example that lrc rejects keeps its old golden file; the script reports
# it with its diagnostics and exits with status 1.
set -eu
cd "$(dirname "$0")/.."
lrc=${LRC_BIN:-build/lrc}
if [ ! -x "$lrc" ]; then
  echo "update-golden: $lrc is missing; run make first" >&2
  exit 1
fi
mkdir -p tests/golden
tmp=$(mktemp "${TMPDIR:-/tmp}/update-golden.XXXXXX")
trap 'rm -f "$tmp"' EXIT INT TERM
failed=0
found=0
for f in examples/*.lr; do
  [ -e "$f" ] || continue
  found=$((found + 1))
  name=$(basename "$f" .lr)
  if "$lrc" emit "$f" --emit=ir > "$tmp" 2> "$tmp.err"; then
    # Rewrite only what changed, so that timestamps stay put otherwise.
    cmp -s "$tmp" "tests/golden/$name.ir" 2>/dev/null || cp "$tmp" "tests/golden/$name.ir"
  else
    echo "update-golden: $f does not compile; tests/golden/$name.ir left as it was:" >&2
    cat "$tmp.err" >&2
    failed=1
  fi
  rm -f "$tmp.err"
done
[ "$found" -gt 0 ] || echo "update-golden: no examples/*.lr" >&2
for g in tests/golden/*.ir; do
  [ -e "$g" ] || continue
  name=$(basename "$g" .ir)
  if [ ! -e "examples/$name.lr" ]; then
    echo "update-golden: removing $g (examples/$name.lr is gone)"
    rm -f "$g"
  fi
done
if git rev-parse --git-dir > /dev/null 2>&1; then
  git diff --stat -- tests/golden
  # New golden files do not show in the diff.
  git status --short --untracked-files=all -- tests/golden | grep '^??' || true
fi
exit "$failed"
