#!/usr/bin/env python3
"""time_cuda.py DIR NAME B T H — median time (CUDA events) of every kernel
NAME_<algo>.cu prepared in DIR, on random inputs of that shape, with the
copy-bandwidth ceiling measured in the same run. DIR and NAME may be
comma-separated lists (every NAME in every DIR: versions side by side). Inputs, params and outputs
in the kernel's I/O type (float32, or bfloat16 or float16 as its header
says), states float32."""
import os, sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
from check_cuda import build, parse_header, run, shape_of, RANGES  # noqa: E402


def main():
    dirs, names = sys.argv[1].split(","), sys.argv[2].split(",")
    B, T, H = (int(x) for x in sys.argv[3:6])
    N = B
    # Copy ceiling: a 1 GiB device-to-device copy, bytes read + written.
    x = torch.empty(256 * 1024 * 1024, dtype=torch.float32, device="cuda")
    y = torch.empty_like(x)
    for _ in range(3):
        y.copy_(x)
    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    s.record()
    for _ in range(10):
        y.copy_(x)
    e.record()
    torch.cuda.synchronize()
    bw = 2 * x.numel() * 4 * 10 / (s.elapsed_time(e) / 1e3) / 1e9
    del x, y
    print(f"copy ceiling: {bw:.0f} GB/s")
    for name, d, algo in [(n, d, a) for n in names for d in dirs for a in ("recurrent", "chunk")]:
        stem = os.path.join(d, f"{name}_{algo}")
        if not os.path.exists(stem + ".cu"):
            continue
        dims, args, func = parse_header(stem + ".h")
        text = open(stem + ".h").read()
        io = (torch.bfloat16 if "outputs bfloat16" in text else
              torch.float16 if "outputs float16" in text else torch.float32)
        lib = build(stem + ".cu", stem + ".so", True)
        gpu, nbytes = {}, 0
        for a, role, shape in args:
            shp = shape_of(role, shape, dims, B, T, H, N)
            if role in ("input", "param"):
                lo, hi = RANGES.get(a, (-1.0, 1.0))
                gpu[a] = (torch.rand(shp, device="cuda") * (hi - lo) + lo).to(io)
            elif role == "output":
                gpu[a] = torch.empty(shp, device="cuda", dtype=io)
            else:
                continue
            nbytes += gpu[a].numel() * gpu[a].element_size()
        stream = torch.cuda.current_stream().cuda_stream
        for _ in range(3):
            run(lib, func, args, gpu, B, T, H, N, None, stream)
        times = []
        for _ in range(10):
            s.record()
            run(lib, func, args, gpu, B, T, H, N, None, stream)
            e.record()
            torch.cuda.synchronize()
            times.append(s.elapsed_time(e))
        times.sort()
        ms = times[len(times) // 2]
        print(f"{d}: {name} {algo} {str(io)[6:]}: B={B} T={T} H={H} {dims}: {ms:.3f} ms, "
              f"{nbytes / (ms / 1e3) / 1e9:.0f} GB/s of input+output ({100 * nbytes / (ms / 1e3) / 1e9 / bw:.1f}% of copy)")


if __name__ == "__main__":
    main()
