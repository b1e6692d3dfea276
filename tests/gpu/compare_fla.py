#!/usr/bin/env python3
"""compare_fla.py DIR[,DIR...] [only] [B,T,H,K,V...] — lrc's emitted CUDA
beside flash-linear-attention (FLA) on the same GPU, in one run: bfloat16
inputs and outputs, forward, at the issue's shape B,T,H,K,V = 8,4096,16,
128,128 and each one given (only the ones given after `only`); the ops
those of $LRC_FLA_OPS where it is set (FLA autotunes each op for tens of
seconds on a fresh machine, so a call of limited time picks). With
several DIRs (versions of lrc's kernels, say the defaults and a
candidate), each is timed in turn on the same inputs' shapes and printed
on a row of its own against the same FLA time.

DIR holds NAME_chunk_bf16.cu/.h and NAME_recurrent_bf16.cu/.h emitted by
tests/gpu/prepare_bench.sh (`lrc emit --emit=cuda --dtype=bf16` for
gated_deltanet, simple_gla, gla and deltanet at the dims of the
benchmark, and rwkv7 at K = V = 128: examples/rwkv7.lr, whose kernel
also computes the decay, the removal key and the key written from its
inputs, against FLA's chunk_rwkv7 given them). FLA is imported from
$FLA_PATH (a checkout of its sources, put there by whoever runs this; lrc
does not ship or build it); without it only lrc's figures print.

Per op: both median times (CUDA events, after warm-up and FLA's
autotuning), the ratio, TFLOP/s counted as the chunkwise algorithm's work
(ALGORITHMS.md §3.7 at C = 64, the same count for both) and GB/s of
inputs and outputs, against the ceilings measured in the same run (a
large bfloat16 matmul, a device-to-device copy). Then decode (T = 1,
B = 64, state in and out): lrc's recurrent kernel against FLA's
fused_recurrent kernels.
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
from check_cuda import build, parse_header, run, shape_of, RANGES  # noqa: E402


def timed(fn, reps=20):
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    times = []
    for _ in range(reps):
        s.record()
        fn()
        e.record()
        torch.cuda.synchronize()
        times.append(s.elapsed_time(e))
    times.sort()
    return times[len(times) // 2]


def ceilings():
    a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    ms = timed(lambda: a @ a, 10)
    tflops = 2 * 8192 ** 3 / (ms / 1e3) / 1e12
    x = torch.empty(256 * 1024 * 1024, dtype=torch.float32, device="cuda")
    y = torch.empty_like(x)
    ms = timed(lambda: y.copy_(x), 10)
    gbs = 2 * x.numel() * 4 / (ms / 1e3) / 1e9
    del a, x, y
    return tflops, gbs


def lrc_inputs(stem, B, T, H, init):
    dims, args, func = parse_header(stem + ".h")
    lib = build(stem + ".cu", stem + ".so", True)
    t, nbytes = {}, 0
    for a, role, shape in args:
        shp = shape_of(role, shape, dims, B, T, H, B)
        if role in ("input", "param"):
            lo, hi = RANGES.get(a, (-1.0, 1.0))
            t[a] = (torch.rand(shp, device="cuda") * (hi - lo) + lo).to(torch.bfloat16)
        elif role == "output":
            t[a] = torch.empty(shp, device="cuda", dtype=torch.bfloat16)
        elif role == "initial state" and init:
            t[a] = torch.rand(shp, device="cuda") * 0.1
        elif role == "final state" and init:
            t[a] = torch.empty(shp, device="cuda")
        else:
            continue
        if role in ("input", "output"):
            nbytes += t[a].numel() * t[a].element_size()
    stream = torch.cuda.current_stream().cuda_stream
    return (lambda: run(lib, func, args, t, B, T, H, B, None, stream)), nbytes


def flops_per_token(delta, K, V, C=64):
    if delta:
        return 6 * C * K + 4 * C * V + 6 * K * V + C * C / 3
    return 2 * C * (K + V) + 4 * K * V


def fla_chunk(op, B, T, H, K, V):
    """FLA's chunk kernel for op on random inputs of the same shapes."""
    r = lambda *s: torch.randn(*s, device="cuda", dtype=torch.bfloat16)
    q, k, v = r(B, T, H, K), r(B, T, H, K), r(B, T, H, V)
    if op in ("gated_deltanet", "deltanet"):
        k = torch.nn.functional.normalize(k.float(), dim=-1).to(torch.bfloat16)
        beta = torch.rand(B, T, H, device="cuda", dtype=torch.bfloat16)
    if op == "gated_deltanet":
        from fla.ops.gated_delta_rule import chunk_gated_delta_rule
        g = torch.nn.functional.logsigmoid(r(B, T, H).float())
        return lambda: chunk_gated_delta_rule(q, k, v, g, beta)
    if op == "deltanet":
        from fla.ops.delta_rule import chunk_delta_rule
        return lambda: chunk_delta_rule(q, k, v, beta)
    if op == "simple_gla":
        from fla.ops.simple_gla import chunk_simple_gla
        g = torch.nn.functional.logsigmoid(r(B, T, H).float())
        return lambda: chunk_simple_gla(q, k, v, g)
    if op == "gla":
        from fla.ops.gla import chunk_gla
        g = torch.nn.functional.logsigmoid(r(B, T, H, K).float())
        return lambda: chunk_gla(q, k, v, g)
    if op == "rwkv7":
        # (RWKV-7's ranges: log decays in (-e^-1/2, 0), a = -kappa, b = kappa lr)
        from fla.ops.rwkv7 import chunk_rwkv7
        w = (-0.6065 * torch.sigmoid(r(B, T, H, K).float())).to(torch.bfloat16)
        kap = torch.nn.functional.normalize(r(B, T, H, K).float(), dim=-1)
        a = (-kap).to(torch.bfloat16)
        b = (kap * torch.sigmoid(r(B, T, H, K).float())).to(torch.bfloat16)
        return lambda: chunk_rwkv7(q, w, k, v, a, b)
    raise ValueError(op)


def fla_decode(op, B, H, K, V):
    r = lambda *s: torch.randn(*s, device="cuda", dtype=torch.bfloat16)
    q, k, v = r(B, 1, H, K), r(B, 1, H, K), r(B, 1, H, V)
    h0 = torch.randn(B, H, K, V, device="cuda") * 0.1
    beta = torch.rand(B, 1, H, device="cuda", dtype=torch.bfloat16)
    g = torch.nn.functional.logsigmoid(r(B, 1, H).float())
    if op == "gated_deltanet":
        from fla.ops.gated_delta_rule import fused_recurrent_gated_delta_rule
        return lambda: fused_recurrent_gated_delta_rule(q, k, v, g, beta, initial_state=h0,
                                                        output_final_state=True)
    if op == "simple_gla":
        from fla.ops.simple_gla import fused_recurrent_simple_gla
        return lambda: fused_recurrent_simple_gla(q, k, v, g, initial_state=h0,
                                                  output_final_state=True)
    raise ValueError(op)


def main():
    dirs = sys.argv[1].split(",")
    args = sys.argv[2:]
    only = bool(args) and args[0] == "only"
    shapes = ([] if only else [(8, 4096, 16, 128, 128)]) + [
        tuple(int(x) for x in s.split(",")) for s in args[only:]]
    ops_only = os.environ.get("LRC_FLA_OPS", "").split()
    fla_path = os.environ.get("FLA_PATH")
    have_fla = False
    if fla_path:
        sys.path.insert(0, fla_path)
        try:
            import fla  # noqa: F401
            have_fla = True
        except Exception as exc:   # report, and go on with lrc alone
            print(f"FLA not importable from {fla_path}: {exc}")
    tflops, gbs = ceilings()
    print(f"ceilings: bf16 matmul {tflops:.0f} TFLOP/s, copy {gbs:.0f} GB/s")
    print(f"{'op':16} {'B,T,H,K,V':20} {'lrc ms':>8} {'FLA ms':>8} {'lrc/FLA':>8} "
          f"{'lrc TF/s':>9} {'lrc GB/s':>9} {'FLA TF/s':>9} {'FLA GB/s':>9}")
    ops = [("gated_deltanet", True), ("simple_gla", False), ("gla", False), ("deltanet", True),
           ("rwkv7", True)]
    for B, T, H, K, V in shapes:
        suffix = "" if (K, V) == (128, 128) else f"_k{K}"
        for op, delta in ops:
            if ops_only and op not in ops_only:
                continue
            stems = [os.path.join(d, f"{op}{suffix}_chunk_bf16") for d in dirs]
            if not any(os.path.exists(st + ".cu") for st in stems):
                continue
            work = flops_per_token(delta, K, V) * B * T * H
            fms = None
            if have_fla:
                try:
                    fms = timed(fla_chunk(op, B, T, H, K, V))
                except Exception as exc:
                    print(f"FLA {op}: {exc}")
            for d, stem in zip(dirs, stems):
                if not os.path.exists(stem + ".cu"):
                    continue
                fn, nbytes = lrc_inputs(stem, B, T, H, False)
                ms = timed(fn)
                fcol = (f"{fms:8.3f} {ms / fms:8.2f}" if fms else f"{'-':>8} {'-':>8}")
                ftail = (f"{work / (fms / 1e3) / 1e12:9.1f} {nbytes / (fms / 1e3) / 1e9:9.0f}"
                         if fms else "")
                tag = "" if len(dirs) == 1 else f" [{os.path.basename(d.rstrip('/'))}]"
                print(f"{op + tag:16} {f'{B},{T},{H},{K},{V}':20} {ms:8.3f} {fcol} "
                      f"{work / (ms / 1e3) / 1e12:9.1f} {nbytes / (ms / 1e3) / 1e9:9.0f} {ftail}",
                      flush=True)
    print("decode (T = 1, B = 64, H = 16, K = V = 128, state in and out):")
    for op in ("gated_deltanet", "simple_gla"):
        stem = os.path.join(dirs[0], f"{op}_recurrent_bf16")
        if not os.path.exists(stem + ".cu"):
            continue
        fn, _ = lrc_inputs(stem, 64, 1, 16, True)
        ms = timed(fn, 50)
        fms = None
        if have_fla:
            try:
                fms = timed(fla_decode(op, 64, 16, 128, 128), 50)
            except Exception as exc:
                print(f"FLA {op} decode: {exc}")
        state = 2 * 64 * 16 * 128 * 128 * 4   # read and written, float32
        print(f"  {op:16} lrc {ms * 1e3:8.1f} us ({state / (ms / 1e3) / 1e9:5.0f} GB/s of state)"
              + (f", FLA {fms * 1e3:8.1f} us, lrc/FLA {ms / fms:.2f}" if fms else ""), flush=True)


if __name__ == "__main__":
    main()
