#!/usr/bin/env python3
"""nvrtc_spills.py FILE.cu [sm_XY] — compile FILE with NVRTC as the run-time
JIT does (runtime/cuda.c: --gpu-architecture=sm_XY -std=c++17 -I<cuda>/include)
plus --ptxas-options=-v, and print ptxas's register and spill lines. For
tests/gpu/spills.sh; exit 1 if NVRTC fails."""
import ctypes
import os
import sys

cuda = os.environ.get("CUDA_HOME") or os.environ.get("CUDA_PATH") or "/usr/local/cuda"
lib = ctypes.CDLL(os.environ.get("NVRTC", os.path.join(cuda, "lib64", "libnvrtc.so")))
src = open(sys.argv[1], "rb").read()
arch = sys.argv[2] if len(sys.argv) > 2 else "sm_90a"
opts = [b"--gpu-architecture=" + arch.encode(), b"-std=c++17",
        b"-I" + os.path.join(cuda, "include").encode(), b"--ptxas-options=-v"]
prog = ctypes.c_void_p()
lib.nvrtcCreateProgram(ctypes.byref(prog), src, b"k.cu", 0, None, None)
rc = lib.nvrtcCompileProgram(prog, len(opts), (ctypes.c_char_p * len(opts))(*opts))
size = ctypes.c_size_t()
lib.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
log = ctypes.create_string_buffer(size.value + 1)
lib.nvrtcGetProgramLog(prog, log)
lib.nvrtcDestroyProgram(ctypes.byref(prog))
text = log.value.decode(errors="replace")
if rc != 0:
    sys.stdout.write(text)
    sys.exit(1)
for line in text.splitlines():
    if "spill" in line or "registers" in line:
        print(line)
