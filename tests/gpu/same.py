#!/usr/bin/env python3
"""same.py DIR_A DIR_B NAMES — two versions of the same kernels (made by
tests/gpu/prepare_ab.sh: DIR/NAME_chunk.cu/.h, bfloat16 I/O) run on the
same random inputs at several shapes (the benchmark's; T not a multiple
of the chunk with initial states; packed sequences; T = 1), printing
max |a - b| / max |a| over the outputs and final states: 0 where a
change to the emitter must not change a bit (a switch's A/B)."""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
from check_cuda import RANGES, build, parse_header, run, shape_of  # noqa: E402

SHAPES = [(8, 4096, 16, None, False), (2, 999, 4, None, True),
          (1, 1333, 3, [0, 37, 500, 501, 1333], True), (3, 1, 2, None, True)]


def differ(stem_a, stem_b, B, T, H, cu, init):
    dims, args, func = parse_header(stem_a + ".h")
    libs = [build(s + ".cu", s + ".so", True) for s in (stem_a, stem_b)]
    N = len(cu) - 1 if cu is not None else B
    g = torch.Generator(device="cuda").manual_seed(1)
    ins, outs = {}, [{}, {}]
    for a, role, shape in args:
        shp = shape_of(role, shape, dims, B, T, H, N)
        if role in ("input", "param"):
            lo, hi = RANGES.get(a, (-1.0, 1.0))
            ins[a] = (torch.rand(shp, device="cuda", generator=g) * (hi - lo) + lo).to(torch.bfloat16)
        elif role == "initial state" and init:
            ins[a] = torch.rand(shp, device="cuda", generator=g) * 0.1
        elif role == "output" or (role == "final state" and init):
            dt = torch.bfloat16 if role == "output" else torch.float32
            for o in outs:
                o[a] = torch.full(shp, float("nan"), device="cuda", dtype=dt)
    cut = torch.tensor(cu, device="cuda", dtype=torch.int64) if cu is not None else None
    stream = torch.cuda.current_stream().cuda_stream
    for lib, o in zip(libs, outs):
        run(lib, func, args, {**ins, **o}, B, T, H, N, cut, stream)
    torch.cuda.synchronize()
    worst = 0.0
    for a in outs[0]:
        x, y = outs[0][a].float(), outs[1][a].float()
        d = ((x - y).abs().max() / x.abs().max()).item()
        worst = max(worst, d if d == d else float("inf"))
    return worst


def main():
    a, b = sys.argv[1], sys.argv[2]
    bad = 0
    for name in sys.argv[3].split(","):
        for B, T, H, cu, init in SHAPES:
            d = differ(os.path.join(a, name + "_chunk"), os.path.join(b, name + "_chunk"),
                       B, T, H, cu, init)
            bad += d != 0
            print(f"{name} B={B} T={T} H={H} cu={cu} init={init}: {d:.2e}", flush=True)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
