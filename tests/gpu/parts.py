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
from compare_fla import lrc_inputs  # noqa: E402


def main():
    dirs, names = sys.argv[1].split(","), sys.argv[2].split(",")
    B, T, H = (int(x) for x in sys.argv[3:6])
    once = len(sys.argv) > 6 and sys.argv[6] == "once"
    for name in names:
        for d in dirs:
            stem = os.path.join(d, f"{name}_chunk")
            if not os.path.exists(stem + ".cu"):
                continue
            fn, _ = lrc_inputs(stem, B, T, H, False)
            if once:
                fn()
                torch.cuda.synchronize()
                continue
            for _ in range(3):
                fn()
            torch.cuda.synchronize()
            acts = [torch.profiler.ProfilerActivity.CUDA]
            with torch.profiler.profile(activities=acts) as p:
                for _ in range(10):
                    fn()
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
