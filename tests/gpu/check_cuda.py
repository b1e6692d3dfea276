#!/usr/bin/env python3
"""check_cuda.py — run lrc's emitted CUDA kernels on the GPU against the
emitted C recurrent kernel of the same rnn (itself checked against the
float64 reference interpreter by `make check`), on the same random inputs.

Usage: check_cuda.py DIR   (DIR made by tests/gpu/prepare.sh: per rnn NAME,
NAME_ref.c/.h and NAME_<algo>.cu/.h). Needs gcc, nvcc and PyTorch with CUDA.
Exit 0 when every kernel matches within 2e-4 (relative L2, float32)."""
import ctypes, glob, os, re, subprocess, sys

import torch

RANGES = {"log_gamma": (-1.0, -0.01), "slope": (0.01, 1.0), "lower": (0.0, 0.95)}


def parse_header(path):
    text = open(path).read()
    dims = dict((k, int(v)) for k, v in re.findall(r"(\w+)=(\d+)", text.split("Dims:")[1].split("\n")[0]))
    args = []
    for m in re.finditer(r"^ \*   (\w+)\s+(input|param|initial state|final state|output)[^\[]*\[([^\]]*)\]", text, re.M):
        name, role, shape = m.group(1), m.group(2), [s.strip() for s in m.group(3).split(",")]
        args.append((name, role, shape))
    func = re.search(r"^int (\w+)\(", text, re.M).group(1)
    return dims, args, func


LEAD = {"input": ("B", "T", "H"), "output": ("B", "T", "H"), "param": ("H",),
        "initial state": ("N", "H"), "final state": ("N", "H")}


def shape_of(role, shape, dims, B, T, H, N):
    # The leading dims by role (an rnn may have its own dims named B or N).
    env = dict(B=B, T=T, H=H, N=N)
    lead = LEAD[role]
    return [env[s] for s in lead] + [dims[s] for s in shape[len(lead):]]


def build(src, out, cuda):
    if os.path.exists(out) and os.path.getmtime(out) >= os.path.getmtime(src):
        return ctypes.CDLL(out)   # built already (run.sh builds in parallel)
    cmd = (["nvcc", "-O3", "-arch=sm_90a", "-Xcompiler", "-fPIC", "-shared", src, "-o", out] if cuda
           else ["gcc", "-O2", "-std=c99", "-fPIC", "-shared", src, "-o", out, "-lm"])
    subprocess.run(cmd, check=True)
    return ctypes.CDLL(out)


def run(lib, func, args, tensors, B, T, H, N, cu, stream):
    f = getattr(lib, func)
    argv = []
    for name, role, _ in args:
        t = tensors.get(name)
        argv.append(ctypes.c_void_p(t.data_ptr() if t is not None else 0))
    argv.append(ctypes.c_void_p(cu.data_ptr() if cu is not None else 0))
    argv += [ctypes.c_int64(x) for x in (B, T, H, N)]
    if stream is not None:
        argv.append(ctypes.c_void_p(stream))
    f.restype = ctypes.c_int
    rc = f(*argv)
    if rc != 0:
        raise RuntimeError(f"{func} returned {rc}")


def shifted(t):
    """t's values in a view one element past a fresh buffer's start: a
    pointer not 16-byte aligned, as a caller's view may be."""
    g = torch.empty(t.numel() + 1, dtype=t.dtype, device=t.device)
    v = g[1:].view(t.shape)
    v.copy_(t)
    return v


# The relative precision of a 16-bit I/O dtype: a kernel with such I/O
# keeps some intermediates (chunk records, operands of the tensor cores) in
# it too (tests/oracle.h's OCase.unit).
UNIT = {torch.float32: 0.0, torch.bfloat16: 2.0 ** -8, torch.float16: 2.0 ** -11}


def case(ref, refname, kern, kname, hdr_args, dims, B, T, H, cu, init, gen, io=torch.float32,
         shift=False, seed=0):
    """io: the kernel's input/output dtype; the reference sees the same
    (rounded) inputs in float32, states are float32 on both sides. shift:
    the inputs and outputs on the device at unaligned addresses.

    The error: ||gpu - ref|| / ||ref||, with ||ref|| taken as no less
    than an RMS of 0.01, and with 16-bit I/O no less than what the output
    moves by when the reference's inputs move by the I/O dtype's precision
    u (a relative 2^-8 for bfloat16, random signs), over 2 u, that floor
    at most 10 ||ref|| (as tests/oracle.c's rel_l2): an output that
    cancels to almost nothing (Mamba-2's y = (C.B dt + D) x at T = 1,
    where C.B dt and D nearly cancel) is ill-conditioned at that
    precision, and a kernel's bfloat16 intermediates are as large a part
    of it as such a move of its inputs."""
    N = len(cu) - 1 if cu is not None else B
    cpu, gpu = {}, {}
    for name, role, shape in hdr_args:
        shp = shape_of(role, shape, dims, B, T, H, N)
        state = "state" in role
        if role in ("input", "param") or (role == "initial state" and init):
            lo, hi = RANGES.get(name, (-1.0, 1.0) if role != "initial state" else (0.0, 1.0))
            t = torch.rand(shp, generator=gen, dtype=torch.float32) * (hi - lo) + lo
            if not state:
                t = t.to(io).float()
        elif role in ("output", "final state"):
            t = torch.full(shp, float("nan"), dtype=torch.float32)
        else:
            continue
        cpu[name] = t
        gpu[name] = t.cuda() if state else t.to(io).cuda()
        if shift and not state:
            gpu[name] = shifted(gpu[name])
    cuc = torch.tensor(cu, dtype=torch.int64) if cu is not None else None
    # the reference again on inputs moved by the I/O dtype's rounding
    pgen = torch.Generator().manual_seed(seed)
    moved = {}
    for name, role, _ in hdr_args:
        t = cpu.get(name)
        if t is None:
            continue
        if role in ("input", "param"):
            r = torch.rand(t.shape, generator=pgen, dtype=torch.float32) * 2 - 1
            moved[name] = t * (1 + UNIT[io] * r)
        else:
            moved[name] = t.clone()
    run(ref, refname, hdr_args, cpu, B, T, H, N, cuc, None)
    if UNIT[io]:
        run(ref, refname, hdr_args, moved, B, T, H, N, cuc, None)
    stream = torch.cuda.current_stream().cuda_stream
    run(kern, kname, hdr_args, gpu, B, T, H, N, cuc.cuda() if cuc is not None else None, stream)
    torch.cuda.synchronize()
    worst = 0.0
    for name, role, _ in hdr_args:
        if role not in ("output", "final state"):
            continue
        a, b, m = gpu[name].cpu().double(), cpu[name].double(), moved[name].double()
        if not torch.isfinite(b).all() or (io == torch.float16 and b.abs().max() > 6e4):
            return None   # the recurrence overflows (or leaves float16's range) on these inputs
        den = max(b.norm().item(), 0.01 * b.numel() ** 0.5, 1e-30)
        if UNIT[io]:
            mv = torch.where(torch.isfinite(m), m - b, torch.zeros_like(m)).norm().item()
            den = max(den, min(mv / (2 * UNIT[io]), 10 * den))
        e = (a - b).norm().item() / den
        if not (e <= worst):
            worst = e
    return worst


def main():
    d = sys.argv[1]
    gen = torch.Generator().manual_seed(int(os.environ.get("LRC_TEST_SEED", "1")))
    failures, count = 0, 0
    only = os.environ.get("LRC_GPU_ONLY", "").split()
    quick = os.environ.get("LRC_GPU_QUICK") == "1"
    for refh in sorted(glob.glob(os.path.join(d, "*_ref.h"))):
        base = refh[:-len("_ref.h")]
        if only and os.path.basename(base) not in only:
            continue
        dims, args, refname = parse_header(refh)
        ref = build(base + "_ref.c", base + "_ref.so", False)
        for algo, suffix in [(a, s) for a in ("recurrent", "chunk", "scan")
                             for s in ("", "_bf16", "_f16", "_split", "_phased", "_bf16_phased",
                                       "_phased_row", "_bf16_phased_row", "_next", "_bf16_next")]:
            stem = f"{base}_{algo}{suffix}"
            io = {"": torch.float32, "_bf16": torch.bfloat16, "_f16": torch.float16,
                  "_split": torch.float32, "_phased": torch.float32,
                  "_bf16_phased": torch.bfloat16, "_phased_row": torch.float32,
                  "_bf16_phased_row": torch.bfloat16, "_next": torch.float32,
                  "_bf16_next": torch.bfloat16}[suffix]
            tol = 2e-2 if suffix.startswith(("_bf16", "_f16")) else 2e-4
            cu_h = stem + ".cu"
            if not os.path.exists(cu_h):
                continue
            kdims, kargs, kname = parse_header(stem + ".h")
            kern = build(cu_h, stem + ".so", True)
            cases = [(1, 1, 1, None, False), (2, 63, 2, None, True), (1, 64, 3, None, True),
                     (2, 65, 2, None, False), (1, 300, 2, [0, 64, 65, 193, 300], True),
                     (2, 1000, 2, None, True), (2, 130, 2, None, True, True)]
            if quick:   # under compute-sanitizer: few, small cases
                cases = [(1, 40, 2, None, True), (1, 70, 1, [0, 33, 70], True, True)]
            for B, T, H, cu, init, *shift in cases:
                shift = bool(shift and shift[0])
                err = case(ref, refname, kern, kname, kargs, dims, B, T, H, cu, init, gen, io, shift,
                           seed=count)
                count += 1
                ok = err is None or err <= tol
                tag = "overflow, skipped" if err is None else f"rel error {err:.2e}"
                label = (f"{os.path.basename(stem)} B={B} T={T} H={H}{' packed' if cu else ''}"
                         f"{' init' if init else ''}{' unaligned' if shift else ''}")
                print(f"{'ok  ' if ok else 'FAIL'} {label}: {tag}", flush=True)
                failures += not ok
    print(f"check_cuda: {count} cases, {failures} failures")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
