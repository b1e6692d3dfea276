#!/usr/bin/env python3
"""parts.py DIRS NAMES B T H [once] — each __global__ function's own time
(the torch profiler, mean of 10 calls after 3 warm-up ones) in every
NAME_chunk.cu of every DIR (comma-separated lists): the free part and the
rest of a phased kernel apart. With `once`: one call each and no
profiler, for Nsight Compute to attach to."""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
from check_cuda import build, parse_header, run, shape_of, RANGES  # noqa: E402


def main():
    dirs, names = sys.argv[1].split(","), sys.argv[2].split(",")
    B, T, H = (int(x) for x in sys.argv[3:6])
    once = len(sys.argv) > 6 and sys.argv[6] == "once"
    for name in names:
        for d in dirs:
            stem = os.path.join(d, f"{name}_chunk")
            if not os.path.exists(stem + ".cu"):
                continue
            dims, args, func = parse_header(stem + ".h")
            lib = build(stem + ".cu", stem + ".so", True)
            gpu = {}
            for a, role, shape in args:
                shp = shape_of(role, shape, dims, B, T, H, B)
                if role in ("input", "param"):
                    lo, hi = RANGES.get(a, (-1.0, 1.0))
                    gpu[a] = (torch.rand(shp, device="cuda") * (hi - lo) + lo).to(torch.bfloat16)
                elif role == "output":
                    gpu[a] = torch.empty(shp, device="cuda", dtype=torch.bfloat16)
            st = torch.cuda.current_stream().cuda_stream
            if once:
                run(lib, func, args, gpu, B, T, H, B, None, st)
                torch.cuda.synchronize()
                continue
            for _ in range(3):
                run(lib, func, args, gpu, B, T, H, B, None, st)
            torch.cuda.synchronize()
            acts = [torch.profiler.ProfilerActivity.CUDA]
            with torch.profiler.profile(activities=acts) as p:
                for _ in range(10):
                    run(lib, func, args, gpu, B, T, H, B, None, st)
                torch.cuda.synchronize()
            tot = {}
            for ev in p.events():
                if ev.device_type == torch.autograd.DeviceType.CUDA:
                    k = ev.name.split("(")[0]
                    tot[k] = tot.get(k, 0) + ev.device_time_total
            print(f"{d} {name}: " + ", ".join(f"{k} {v / 10 / 1e3:.3f} ms"
                                              for k, v in sorted(tot.items())), flush=True)


if __name__ == "__main__":
    main()
