#!/bin/sh
# run.sh DIR — on a GPU machine: build and run every kernel prepared in DIR
# by tests/gpu/prepare.sh against the C reference (tests/gpu/check_cuda.py).
# Skips cleanly (exit 0) where there is no GPU.
set -eu
DIR=${1:-build/gpu}
if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
  echo "gpu: no CUDA device; skipped"
  exit 0
fi
nvidia-smi -L
python3 "$(dirname "$0")/check_cuda.py" "$DIR"
