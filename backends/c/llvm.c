/* llvm.c — kernel IR to LLVM IR through the LLVM C API, optimised with the
 * new pass manager for the host CPU, emitted as an object file.
 *
 * The generated function has the signature of the emitted C's NAME_range:
 *   i32 NAME_range(ptr noalias buf..., i64 B, i64 T, i64 H, i64 N, i64 lo, i64 hi)
 * Loops are built directly in SSA form (a phi per loop variable); tiles are
 * stack slots (or malloc'd blocks when large), each its own object so alias
 * analysis sees them apart. Floating-point additions and multiplications
 * carry the `reassoc` and `contract` flags so reductions vectorise and
 * multiply-adds fuse; everything else keeps IEEE semantics.
 */
#include "backend.h"

#include <llvm-c/Analysis.h>
#include <llvm-c/Core.h>
#include <llvm-c/Error.h>
#include <llvm-c/Target.h>
#include <llvm-c/TargetMachine.h>
#include <llvm-c/Transforms/PassBuilder.h>
#include <llvm/Config/llvm-config.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LLVM_VERSION_STRING_LRC LLVM_VERSION_STRING

enum {
  BIG_TILE_BYTES = 256 * 1024,   /* larger tiles come from malloc */
  STACK_BYTES = 1024 * 1024,     /* and so do tiles past this much stack */
};

typedef struct Gen {
  const Kernel *k;
  LLVMContextRef cx;
  LLVMModuleRef mod;
  LLVMBuilderRef b;
  LLVMValueRef fn;
  LLVMTypeRef f32, i64, i32, ptr, i1;
  LLVMValueRef *bufs;      /* function parameters */
  LLVMValueRef args[KA_COUNT];
  LLVMValueRef lo, hi;     /* rows of the outer parallel loop */
  LLVMValueRef *vars;      /* index variables in scope */
  LLVMValueRef *tiles;     /* tile base pointers */
  bool *tile_heap;
  LLVMValueRef point[LRC_MAX_DIMS];   /* loop indices of the current nest */
  LLVMBasicBlockRef fail;  /* out-of-memory exit */
  LLVMBasicBlockRef entry; /* for allocas */
} Gen;

static LLVMValueRef ci64(Gen *g, long v) { return LLVMConstInt(g->i64, (unsigned long long)v, 1); }
static LLVMValueRef cf32(Gen *g, double v) { return LLVMConstReal(g->f32, v); }

static void fmf(LLVMValueRef v) {
  if (LLVMIsAInstruction(v) && LLVMCanValueUseFastMathFlags(v))
    LLVMSetFastMathFlags(v, LLVMFastMathAllowReassoc | LLVMFastMathAllowContract);
}

/* Declare (once) and call a function of floats. */
static LLVMValueRef call_f(Gen *g, const char *name, int n, LLVMValueRef *args) {
  LLVMTypeRef params[2] = {g->f32, g->f32};
  LLVMTypeRef ft = LLVMFunctionType(g->f32, params, (unsigned)n, 0);
  LLVMValueRef f = LLVMGetNamedFunction(g->mod, name);
  if (!f) {
    f = LLVMAddFunction(g->mod, name, ft);
    if (strncmp(name, "llvm.", 5) != 0) {
      /* libm functions: no side effects we rely on. */
      unsigned kind = LLVMGetEnumAttributeKindForName("nounwind", 8);
      LLVMAddAttributeAtIndex(f, LLVMAttributeFunctionIndex, LLVMCreateEnumAttribute(g->cx, kind, 0));
    }
  }
  return LLVMBuildCall2(g->b, ft, f, args, (unsigned)n, "");
}

static LLVMValueRef call1(Gen *g, const char *name, LLVMValueRef x) { return call_f(g, name, 1, &x); }

/* ---------------------------------------------------------------------- */
/* Index expressions                                                       */

static LLVMValueRef gen_idx(Gen *g, int id) {
  const KIdx *x = &g->k->idx.data[id];
  switch (x->kind) {
  case KI_CONST: return ci64(g, x->c);
  case KI_VAR: LRC_ASSERT(g->vars[x->var]); return g->vars[x->var];
  case KI_ARG: return g->args[x->var];
  case KI_SEQLEN: {
    /* cu_seqlens ? cu_seqlens[a] : a * T, without a branch. */
    LLVMValueRef a = gen_idx(g, x->a);
    LLVMValueRef p = g->bufs[x->buf];
    LLVMValueRef isnull = LLVMBuildIsNull(g->b, p, "");
    LLVMBasicBlockRef cur = LLVMGetInsertBlock(g->b);
    LLVMBasicBlockRef ld = LLVMAppendBasicBlockInContext(g->cx, g->fn, "seqlen.load");
    LLVMBasicBlockRef join = LLVMAppendBasicBlockInContext(g->cx, g->fn, "seqlen.join");
    LLVMValueRef fixed = LLVMBuildMul(g->b, a, g->args[KA_T], "");
    LLVMBuildCondBr(g->b, isnull, join, ld);
    LLVMPositionBuilderAtEnd(g->b, ld);
    LLVMValueRef gep = LLVMBuildGEP2(g->b, g->i64, p, &a, 1, "");
    LLVMValueRef v = LLVMBuildLoad2(g->b, g->i64, gep, "");
    LLVMBuildBr(g->b, join);
    LLVMPositionBuilderAtEnd(g->b, join);
    LLVMValueRef phi = LLVMBuildPhi(g->b, g->i64, "seq");
    LLVMValueRef vals[2] = {fixed, v};
    LLVMBasicBlockRef bbs[2] = {cur, ld};
    LLVMAddIncoming(phi, vals, bbs, 2);
    return phi;
  }
  default: break;
  }
  LLVMValueRef a = gen_idx(g, x->a), c = gen_idx(g, x->b);
  switch (x->kind) {
  case KI_ADD: return LLVMBuildNSWAdd(g->b, a, c, "");
  case KI_SUB: return LLVMBuildNSWSub(g->b, a, c, "");
  case KI_MUL: return LLVMBuildNSWMul(g->b, a, c, "");
  case KI_DIV: return LLVMBuildSDiv(g->b, a, c, "");
  case KI_MOD: return LLVMBuildSRem(g->b, a, c, "");
  case KI_MIN: return LLVMBuildSelect(g->b, LLVMBuildICmp(g->b, LLVMIntSLT, a, c, ""), a, c, "");
  default: LRC_UNREACHABLE();
  }
}

/* ---------------------------------------------------------------------- */
/* Loops                                                                   */

typedef struct Loop {
  LLVMValueRef iv;
  LLVMBasicBlockRef header, body, exit;
  LLVMValueRef hi;
} Loop;

/* for (iv = lo; iv < hi; iv++): leaves the builder in the body. */
static Loop loop_begin(Gen *g, LLVMValueRef lo, LLVMValueRef hi, const char *name) {
  Loop L;
  LLVMBasicBlockRef pre = LLVMGetInsertBlock(g->b);
  L.header = LLVMAppendBasicBlockInContext(g->cx, g->fn, name);
  L.body = LLVMAppendBasicBlockInContext(g->cx, g->fn, "body");
  L.exit = LLVMAppendBasicBlockInContext(g->cx, g->fn, "exit");
  L.hi = hi;
  LLVMBuildBr(g->b, L.header);
  LLVMPositionBuilderAtEnd(g->b, L.header);
  L.iv = LLVMBuildPhi(g->b, g->i64, name);
  LLVMAddIncoming(L.iv, &lo, &pre, 1);
  LLVMValueRef c = LLVMBuildICmp(g->b, LLVMIntSLT, L.iv, hi, "");
  LLVMBuildCondBr(g->b, c, L.body, L.exit);
  LLVMPositionBuilderAtEnd(g->b, L.body);
  return L;
}

static void loop_end(Gen *g, Loop *L) {
  LLVMValueRef next = LLVMBuildNSWAdd(g->b, L->iv, ci64(g, 1), "");
  LLVMBasicBlockRef latch = LLVMGetInsertBlock(g->b);
  LLVMAddIncoming(L->iv, &next, &latch, 1);
  LLVMBuildBr(g->b, L->header);
  LLVMPositionBuilderAtEnd(g->b, L->exit);
}

/* ---------------------------------------------------------------------- */
/* Tiles and nests                                                         */

static LLVMValueRef elem_ptr_as(Gen *g, int tile, int from, int to);

/* Pointer to the element of `tile` at the current nest point. */
static LLVMValueRef elem_ptr(Gen *g, int tile) { return elem_ptr_as(g, tile, -1, -1); }

/* The same with the tile's dim `from` indexed by the loop of dim `to`. */
static LLVMValueRef elem_ptr_as(Gen *g, int tile, int from, int to) {
  const DimTable *gr = &g->k->dims;
  DimSet td = g->k->tiles.data[tile].dims;
  LLVMValueRef off = ci64(g, 0);
  long stride = 1;
  for (int o = gr->len - 1; o >= 0; o--) {
    int d = g->k->order[o];
    if (!(td & (1u << d))) continue;
    LLVMValueRef iv = g->point[d == from ? to : d];
    LRC_ASSERT(iv);
    LLVMValueRef t = stride == 1 ? iv : LLVMBuildNSWMul(g->b, iv, ci64(g, stride), "");
    off = LLVMBuildNSWAdd(g->b, off, t, "");
    stride *= gr->data[d].size;
  }
  return LLVMBuildInBoundsGEP2(g->b, g->f32, g->tiles[tile], &off, 1, "");
}

static LLVMValueRef const_splat(LLVMValueRef c, unsigned w) {
  LLVMValueRef v[64];
  for (unsigned i = 0; i < w; i++) v[i] = c;
  return LLVMConstVector(v, w);
}

/* Call an intrinsic on vectors of type vt ("llvm.floor" -> llvm.floor.v8f32). */
static LLVMValueRef call_v(Gen *g, const char *base, int n, LLVMValueRef *args, LLVMTypeRef vt) {
  char name[64];
  snprintf(name, sizeof name, "%s.v%uf32", base, LLVMGetVectorSize(vt));
  LLVMTypeRef params[2] = {vt, vt};
  LLVMTypeRef ft = LLVMFunctionType(vt, params, (unsigned)n, 0);
  LLVMValueRef f = LLVMGetNamedFunction(g->mod, name);
  if (!f) f = LLVMAddFunction(g->mod, name, ft);
  return LLVMBuildCall2(g->b, ft, f, args, (unsigned)n, "");
}

/* A float (int32) constant of type t's shape: scalar, or splat over a
 * vector of floats. */
static LLVMValueRef fconst(Gen *g, LLVMTypeRef t, double v) {
  LLVMValueRef c = LLVMConstReal(g->f32, v);
  return LLVMGetTypeKind(t) == LLVMVectorTypeKind ? const_splat(c, LLVMGetVectorSize(t)) : c;
}

static LLVMValueRef iconst(Gen *g, LLVMTypeRef t, long v) {
  LLVMValueRef c = LLVMConstInt(g->i32, (unsigned long long)v, 1);
  return LLVMGetTypeKind(t) == LLVMVectorTypeKind ? const_splat(c, LLVMGetVectorSize(t)) : c;
}

/* exp(x) in arithmetic (no libm call), for float or a vector of floats, so
 * that loops holding it vectorise: x = n ln2 + r with |r| <= ln2/2 (ln2 in
 * two parts), e^r by a degree-7 polynomial (Cephes expf's coefficients),
 * 2^n applied in two halves so results down to the smallest denormals and
 * up to overflow come out right. Relative error about 2e-7; NaN stays NaN,
 * exp(-inf) = 0, exp(+inf) = inf. */
static LLVMValueRef gen_exp(Gen *g, LLVMValueRef x) {
  LLVMTypeRef t = LLVMTypeOf(x);
  bool vec = LLVMGetTypeKind(t) == LLVMVectorTypeKind;
  unsigned w = vec ? LLVMGetVectorSize(t) : 1;
  LLVMTypeRef it = vec ? LLVMVectorType(g->i32, w) : g->i32;
  LLVMBuilderRef b = g->b;
  /* Clamp (NaN compares false and passes through to the final select). */
  LLVMValueRef c = LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOLT, x, fconst(g, t, -104.0), ""), fconst(g, t, -104.0), x, "");
  c = LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOGT, c, fconst(g, t, 89.0), ""), fconst(g, t, 89.0), c, "");
  LLVMValueRef fl_args[1] = {LLVMBuildFAdd(b, LLVMBuildFMul(b, c, fconst(g, t, 1.44269504088896341), ""), fconst(g, t, 0.5), "")};
  LLVMValueRef n = vec ? call_v(g, "llvm.floor", 1, fl_args, t) : call1(g, "llvm.floor.f32", fl_args[0]);
  LLVMValueRef r = LLVMBuildFSub(b, c, LLVMBuildFMul(b, n, fconst(g, t, 0.693359375), ""), "");
  r = LLVMBuildFSub(b, r, LLVMBuildFMul(b, n, fconst(g, t, -2.12194440e-4), ""), "");
  static const double p[] = {1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3,
                             4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1};
  LLVMValueRef y = fconst(g, t, p[0]);
  for (int i = 1; i < 6; i++) y = LLVMBuildFAdd(b, LLVMBuildFMul(b, y, r, ""), fconst(g, t, p[i]), "");
  LLVMValueRef r2 = LLVMBuildFMul(b, r, r, "");
  y = LLVMBuildFAdd(b, LLVMBuildFAdd(b, LLVMBuildFMul(b, y, r2, ""), r, ""), fconst(g, t, 1.0), "");
  /* 2^n = 2^n1 2^n2 with n1 = n >> 1: both halves are normal floats. */
  LLVMValueRef ni = LLVMBuildFPToSI(b, n, it, "");
  LLVMValueRef n1 = LLVMBuildAShr(b, ni, iconst(g, t, 1), "");
  LLVMValueRef n2 = LLVMBuildSub(b, ni, n1, "");
  LLVMValueRef s1 = LLVMBuildBitCast(b, LLVMBuildShl(b, LLVMBuildAdd(b, n1, iconst(g, t, 127), ""), iconst(g, t, 23), ""), t, "");
  LLVMValueRef s2 = LLVMBuildBitCast(b, LLVMBuildShl(b, LLVMBuildAdd(b, n2, iconst(g, t, 127), ""), iconst(g, t, 23), ""), t, "");
  y = LLVMBuildFMul(b, LLVMBuildFMul(b, y, s1, ""), s2, "");
  return LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealUNO, x, x, ""), x, y, "");
#undef FC
#undef IC
}

/* log(x) in arithmetic, for float or a vector of floats (as gen_exp):
 * x = m 2^e with m in [sqrt(1/2), sqrt(2)), log(m) by Cephes logf's
 * polynomial in m - 1, plus e ln2 in two parts. Denormals are scaled up
 * first. log(0) = -inf, log(x < 0) = NaN, log(inf) = inf, NaN stays. */
static LLVMValueRef gen_log(Gen *g, LLVMValueRef x) {
  LLVMTypeRef t = LLVMTypeOf(x);
  bool vec = LLVMGetTypeKind(t) == LLVMVectorTypeKind;
  unsigned w = vec ? LLVMGetVectorSize(t) : 1;
  LLVMTypeRef it = vec ? LLVMVectorType(g->i32, w) : g->i32;
  LLVMBuilderRef b = g->b;
  LLVMValueRef den = LLVMBuildFCmp(b, LLVMRealOLT, x, fconst(g, t, 1.17549435e-38), "");
  LLVMValueRef xs = LLVMBuildSelect(b, den, LLVMBuildFMul(b, x, fconst(g, t, 8388608.0), ""), x, "");
  LLVMValueRef bits = LLVMBuildBitCast(b, xs, it, "");
  LLVMValueRef e = LLVMBuildSub(b, LLVMBuildAnd(b, LLVMBuildLShr(b, bits, iconst(g, t, 23), ""), iconst(g, t, 0xff), ""),
                                iconst(g, t, 126), "");
  e = LLVMBuildSelect(b, den, LLVMBuildSub(b, e, iconst(g, t, 23), ""), e, "");
  LLVMValueRef m = LLVMBuildBitCast(
      b, LLVMBuildOr(b, LLVMBuildAnd(b, bits, iconst(g, t, 0x807fffff), ""), iconst(g, t, 0x3f000000), ""), t, "");
  /* m in [0.5, 1): below sqrt(1/2) use 2m - 1 and e - 1, else m - 1. */
  LLVMValueRef lo = LLVMBuildFCmp(b, LLVMRealOLT, m, fconst(g, t, 0.707106781186547524), "");
  e = LLVMBuildSelect(b, lo, LLVMBuildSub(b, e, iconst(g, t, 1), ""), e, "");
  m = LLVMBuildFSub(b, LLVMBuildSelect(b, lo, LLVMBuildFAdd(b, m, m, ""), m, ""), fconst(g, t, 1.0), "");
  static const double p[] = {7.0376836292e-2, -1.1514610310e-1, 1.1676998740e-1,
                             -1.2420140846e-1, 1.4249322787e-1, -1.6668057665e-1,
                             2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1};
  LLVMValueRef y = fconst(g, t, p[0]);
  for (int i = 1; i < 9; i++) y = LLVMBuildFAdd(b, LLVMBuildFMul(b, y, m, ""), fconst(g, t, p[i]), "");
  LLVMValueRef z = LLVMBuildFMul(b, m, m, "");
  y = LLVMBuildFMul(b, LLVMBuildFMul(b, y, m, ""), z, "");
  LLVMValueRef ef = LLVMBuildSIToFP(b, e, t, "");
  y = LLVMBuildFAdd(b, y, LLVMBuildFMul(b, ef, fconst(g, t, -2.12194440e-4), ""), "");
  y = LLVMBuildFAdd(b, y, LLVMBuildFMul(b, z, fconst(g, t, -0.5), ""), "");
  y = LLVMBuildFAdd(b, LLVMBuildFAdd(b, m, y, ""), LLVMBuildFMul(b, ef, fconst(g, t, 0.693359375), ""), "");
  /* Special values. */
  y = LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOEQ, x, fconst(g, t, INFINITY), ""), x, y, "");
  y = LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOEQ, x, fconst(g, t, 0.0), ""), fconst(g, t, -INFINITY), y, "");
  y = LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealOLT, x, fconst(g, t, 0.0), ""), fconst(g, t, NAN), y, "");
  return LLVMBuildSelect(b, LLVMBuildFCmp(b, LLVMRealUNO, x, x, ""), x, y, "");
#undef FC
#undef IC
}

/* log(1 + x) for x >= 0 (the softplus and logsigmoid terms), accurate
 * for small x: u = 1 + x rounded, log(u) x / (u - 1) (Goldberg), x where
 * u rounds to 1. */
static LLVMValueRef gen_log1p(Gen *g, LLVMValueRef x) {
  LLVMTypeRef t = LLVMTypeOf(x);
  bool vec = LLVMGetTypeKind(t) == LLVMVectorTypeKind;
  unsigned w = vec ? LLVMGetVectorSize(t) : 1;
  LLVMValueRef one = vec ? const_splat(LLVMConstReal(g->f32, 1.0), w) : LLVMConstReal(g->f32, 1.0);
  LLVMValueRef u = LLVMBuildFAdd(g->b, x, one, "");
  LLVMValueRef d = LLVMBuildFSub(g->b, u, one, "");
  LLVMValueRef r = LLVMBuildFDiv(g->b, LLVMBuildFMul(g->b, gen_log(g, u), x, ""), d, "");
  return LLVMBuildSelect(g->b, LLVMBuildFCmp(g->b, LLVMRealOEQ, d, LLVMConstNull(t), ""), x, r, "");
}

static LLVMValueRef gen_unary(Gen *g, OpKind op, LLVMValueRef x) {
  LLVMValueRef one = cf32(g, 1.0), zero = cf32(g, 0.0);
  switch (op) {
  case OP_NEG: return LLVMBuildFNeg(g->b, x, "");
  case OP_EXP: return gen_exp(g, x);
  case OP_LOG: return gen_log(g, x);
  case OP_SQRT: return call1(g, "llvm.sqrt.f32", x);
  case OP_RSQRT: return LLVMBuildFDiv(g->b, one, call1(g, "llvm.sqrt.f32", x), "");
  case OP_ABS: return call1(g, "llvm.fabs.f32", x);
  case OP_TANH: return call1(g, "tanhf", x);
  case OP_RELU: {
    LLVMValueRef c = LLVMBuildFCmp(g->b, LLVMRealOGT, x, zero, "");
    return LLVMBuildSelect(g->b, c, x, zero, "");
  }
  case OP_ELU: {
    LLVMValueRef c = LLVMBuildFCmp(g->b, LLVMRealOGT, x, zero, "");
    return LLVMBuildSelect(g->b, c, x, call1(g, "expm1f", x), "");
  }
  case OP_SOFTPLUS:
  case OP_LOGSIGMOID: {
    /* softplus(x) = max(x, 0) + log1p(exp(-|x|)); logsigmoid(x) = -softplus(-x) */
    LLVMValueRef y = op == OP_LOGSIGMOID ? LLVMBuildFNeg(g->b, x, "") : x;
    LLVMValueRef args[2] = {y, zero};
    LLVMValueRef m = call_f(g, "llvm.maxnum.f32", 2, args);
    LLVMValueRef e = gen_exp(g, LLVMBuildFNeg(g->b, call1(g, "llvm.fabs.f32", y), ""));
    LLVMValueRef sp = LLVMBuildFAdd(g->b, m, gen_log1p(g, e), "");
    return op == OP_LOGSIGMOID ? LLVMBuildFNeg(g->b, sp, "") : sp;
  }
  case OP_SIGMOID:
  case OP_SILU: {
    /* e = exp(-|x|); sigmoid = x >= 0 ? 1/(1+e) : e/(1+e) */
    LLVMValueRef e = gen_exp(g, LLVMBuildFNeg(g->b, call1(g, "llvm.fabs.f32", x), ""));
    LLVMValueRef den = LLVMBuildFAdd(g->b, one, e, "");
    LLVMValueRef c = LLVMBuildFCmp(g->b, LLVMRealOGE, x, zero, "");
    LLVMValueRef num = LLVMBuildSelect(g->b, c, one, e, "");
    LLVMValueRef s = LLVMBuildFDiv(g->b, num, den, "");
    return op == OP_SILU ? LLVMBuildFMul(g->b, x, s, "") : s;
  }
  default: LRC_UNREACHABLE();
  }
}

static LLVMValueRef gen_expr(Gen *g, int id) {
  const KExpr *x = &g->k->exprs.data[id];
  switch (x->kind) {
  case KE_CONST: return cf32(g, x->num);
  case KE_READ:
    return LLVMBuildLoad2(g->b, g->f32, elem_ptr_as(g, x->tile, x->dim_a, x->dim_b), "");
  case KE_BELOW: {
    LLVMValueRef c = LLVMBuildICmp(g->b, LLVMIntSLT, g->point[x->dim_a], gen_idx(g, x->a), "");
    return LLVMBuildSelect(g->b, c, cf32(g, 1.0), cf32(g, 0.0), "");
  }
  case KE_MASK: {
    LLVMValueRef c = LLVMBuildICmp(g->b, x->strict ? LLVMIntSGT : LLVMIntSGE, g->point[x->dim_a],
                                   g->point[x->dim_b], "");
    return LLVMBuildSelect(g->b, c, cf32(g, 1.0), cf32(g, 0.0), "");
  }
  case KE_UNARY: return gen_unary(g, x->op, gen_expr(g, x->a));
  case KE_BINARY: {
    LLVMValueRef a = gen_expr(g, x->a), c = gen_expr(g, x->b);
    LLVMValueRef args[2] = {a, c};
    LLVMValueRef v;
    switch (x->op) {
    case OP_ADD: v = LLVMBuildFAdd(g->b, a, c, ""); break;
    case OP_SUB: v = LLVMBuildFSub(g->b, a, c, ""); break;
    case OP_MUL: v = LLVMBuildFMul(g->b, a, c, ""); break;
    case OP_DIV: return LLVMBuildFDiv(g->b, a, c, "");
    case OP_POW: return call_f(g, "llvm.pow.f32", 2, args);
    case OP_MAX: return call_f(g, "llvm.maxnum.f32", 2, args);
    case OP_MIN: return call_f(g, "llvm.minnum.f32", 2, args);
    default: LRC_UNREACHABLE();
    }
    fmf(v);
    return v;
  }
  }
  LRC_UNREACHABLE();
}

/* ---------------------------------------------------------------------- */
/* Register-blocked contraction nests                                      */
/*
 * A nest `T[out] += f(...)` that reduces over some dims is a (batched)
 * matrix product. The plain nest loads and stores T once per multiply-add;
 * here a block of accumulators stays in vector registers across the whole
 * reduction. Two shapes, chosen by where the data is contiguous:
 *
 *   axpy: lanes along T's innermost dim j (every read holding j has it
 *         innermost; the others are broadcast); MI rows of a second dim i
 *         times NJ vectors of j accumulate, T is loaded and stored once;
 *   dot:  lanes along a reduction dim r (innermost in every read holding
 *         it); MI x NJ outputs each accumulate a vector, summed across its
 *         lanes at the end.
 *
 * Any other nest, or one whose expression has no vector form, takes the
 * plain path (which LLVM's loop vectoriser still handles).
 */
enum { VW = 8, BLK_MI = 6, BLK_NJ = 2, BLK_DOT_NJ = 2 };

typedef struct Blk {
  const KStmt *s;
  int vd;                  /* the lane dim */
  bool dot;                /* vd is reduced (lanes summed at the end) */
  int di, dj;              /* unrolled target dims, -1 if none (axpy: dj = vd) */
  int mi, mj;              /* unroll counts */
  DimSet red;              /* reduction dims */
  LLVMTypeRef vt;          /* <VW x float> */
} Blk;

/* The nest dims a read of `tile` (its dim `from` renamed to `to`) indexes,
 * and the one it holds contiguous. */
static DimSet read_dims(const Kernel *k, int tile, int from, int to, int *inner) {
  DimSet td = k->tiles.data[tile].dims, out = 0;
  *inner = -1;
  for (int o = k->dims.len - 1; o >= 0; o--) {
    int d = k->order[o];
    if (!(td & (1u << d))) continue;
    int nd = d == from ? to : d;
    if (*inner < 0) *inner = nd;
    out |= 1u << nd;
  }
  return out;
}

static bool expr_uses(const Kernel *k, int id, int dim) {
  const KExpr *x = &k->exprs.data[id];
  int inner;
  switch (x->kind) {
  case KE_CONST: return false;
  case KE_READ: return (read_dims(k, x->tile, x->dim_a, x->dim_b, &inner) >> dim) & 1;
  case KE_BELOW: return x->dim_a == dim;
  case KE_MASK: return x->dim_a == dim || x->dim_b == dim;
  case KE_UNARY: return expr_uses(k, x->a, dim);
  case KE_BINARY: return expr_uses(k, x->a, dim) || expr_uses(k, x->b, dim);
  }
  return true;
}

static bool expr_reads(const Kernel *k, int id, int tile) {
  const KExpr *x = &k->exprs.data[id];
  switch (x->kind) {
  case KE_READ: return x->tile == tile;
  case KE_UNARY: return expr_reads(k, x->a, tile);
  case KE_BINARY: return expr_reads(k, x->a, tile) || expr_reads(k, x->b, tile);
  default: return false;
  }
}

/* Can expression `id` be evaluated VW lanes at a time along `dim`? */
static bool vec_ok(const Kernel *k, int id, int dim) {
  const KExpr *x = &k->exprs.data[id];
  if (!expr_uses(k, id, dim)) return true;
  int inner;
  switch (x->kind) {
  case KE_CONST: case KE_BELOW: case KE_MASK: return true;
  case KE_READ: read_dims(k, x->tile, x->dim_a, x->dim_b, &inner); return inner == dim;
  case KE_UNARY:
    return (x->op == OP_NEG || x->op == OP_EXP || x->op == OP_LOG || x->op == OP_SQRT ||
            x->op == OP_ABS) && vec_ok(k, x->a, dim);
  case KE_BINARY:
    return (x->op == OP_ADD || x->op == OP_SUB || x->op == OP_MUL || x->op == OP_DIV ||
            x->op == OP_MAX || x->op == OP_MIN) && vec_ok(k, x->a, dim) && vec_ok(k, x->b, dim);
  }
  return false;
}

static LLVMValueRef splat(Gen *g, LLVMValueRef v, LLVMTypeRef vt) {
  LLVMValueRef u = LLVMGetUndef(vt);
  u = LLVMBuildInsertElement(g->b, u, v, LLVMConstInt(g->i32, 0, 0), "");
  return LLVMBuildShuffleVector(g->b, u, LLVMGetUndef(vt), LLVMConstNull(LLVMVectorType(g->i32, VW)), "");
}

/* Lane indices of dim `d` (point[d] + 0..VW-1 when d is the lane dim). */
static LLVMValueRef lanes(Gen *g, int d, int vd) {
  LLVMTypeRef it = LLVMVectorType(g->i64, VW);
  LLVMValueRef base = splat(g, g->point[d], it);
  if (d != vd) return base;
  LLVMValueRef iota[VW];
  for (int i = 0; i < VW; i++) iota[i] = ci64(g, i);
  return LLVMBuildAdd(g->b, base, LLVMConstVector(iota, VW), "");
}


/* Expression `id` at VW consecutive indices of dim vd (vec_ok holds). */
static LLVMValueRef gen_vexpr(Gen *g, int id, int vd, LLVMTypeRef vt) {
  const Kernel *k = g->k;
  const KExpr *x = &k->exprs.data[id];
  if (!expr_uses(k, id, vd)) return splat(g, gen_expr(g, id), vt);
  switch (x->kind) {
  case KE_READ: {
    LLVMValueRef v = LLVMBuildLoad2(g->b, vt, elem_ptr_as(g, x->tile, x->dim_a, x->dim_b), "");
    LLVMSetAlignment(v, 4);
    return v;
  }
  case KE_BELOW:
  case KE_MASK: {
    LLVMValueRef a = lanes(g, x->dim_a, vd);
    LLVMValueRef b = x->kind == KE_BELOW ? splat(g, gen_idx(g, x->a), LLVMVectorType(g->i64, VW))
                                         : lanes(g, x->dim_b, vd);
    LLVMIntPredicate p = x->kind == KE_BELOW ? LLVMIntSLT : x->strict ? LLVMIntSGT : LLVMIntSGE;
    return LLVMBuildSelect(g->b, LLVMBuildICmp(g->b, p, a, b, ""), splat(g, cf32(g, 1), vt),
                           splat(g, cf32(g, 0), vt), "");
  }
  case KE_UNARY: {
    LLVMValueRef a = gen_vexpr(g, x->a, vd, vt);
    switch (x->op) {
    case OP_NEG: return LLVMBuildFNeg(g->b, a, "");
    case OP_EXP: return gen_exp(g, a);
    case OP_LOG: return gen_log(g, a);
    case OP_SQRT: return call_v(g, "llvm.sqrt", 1, &a, vt);
    case OP_ABS: return call_v(g, "llvm.fabs", 1, &a, vt);
    default: LRC_UNREACHABLE();
    }
  }
  case KE_BINARY: {
    LLVMValueRef a[2] = {gen_vexpr(g, x->a, vd, vt), gen_vexpr(g, x->b, vd, vt)};
    LLVMValueRef v;
    switch (x->op) {
    case OP_ADD: v = LLVMBuildFAdd(g->b, a[0], a[1], ""); break;
    case OP_SUB: v = LLVMBuildFSub(g->b, a[0], a[1], ""); break;
    case OP_MUL: v = LLVMBuildFMul(g->b, a[0], a[1], ""); break;
    case OP_DIV: return LLVMBuildFDiv(g->b, a[0], a[1], "");
    case OP_MAX: return call_v(g, "llvm.maxnum", 2, a, vt);
    case OP_MIN: return call_v(g, "llvm.minnum", 2, a, vt);
    default: LRC_UNREACHABLE();
    }
    fmf(v);
    return v;
  }
  default: LRC_UNREACHABLE();
  }
}

static LLVMValueRef entry_alloca(Gen *g, LLVMTypeRef t) {
  LLVMBuilderRef ab = LLVMCreateBuilderInContext(g->cx);
  LLVMValueRef first = LLVMGetFirstInstruction(g->entry);
  if (first) LLVMPositionBuilderBefore(ab, first);
  else LLVMPositionBuilderAtEnd(ab, g->entry);
  LLVMValueRef a = LLVMBuildAlloca(ab, t, "acc");
  LLVMDisposeBuilder(ab);
  return a;
}

/* One block: rows i0 .. i0+ni of di, lanes/columns j0 .. of dj. */
static void blk_body(Gen *g, const Blk *b, LLVMValueRef i0, int ni, LLVMValueRef j0, int nj) {
  const KAssign *as = &b->s->assigns.data[0];
  const DimTable *dt = &g->k->dims;
  LLVMValueRef acc[BLK_MI][BLK_NJ > BLK_DOT_NJ ? BLK_NJ : BLK_DOT_NJ];
  int jstep = b->dot ? 1 : VW;
#define AT(r, c)                                                                       \
  do {                                                                                 \
    if (b->di >= 0) g->point[b->di] = LLVMBuildNSWAdd(g->b, i0, ci64(g, r), "");       \
    if (b->dj >= 0) g->point[b->dj] = LLVMBuildNSWAdd(g->b, j0, ci64(g, (c) * jstep), ""); \
  } while (0)
  for (int r = 0; r < ni; r++)
    for (int c = 0; c < nj; c++) {
      acc[r][c] = entry_alloca(g, b->vt);
      LLVMValueRef init;
      if (b->dot) {
        init = LLVMConstNull(b->vt);
      } else {
        AT(r, c);
        init = LLVMBuildLoad2(g->b, b->vt, elem_ptr(g, as->tile), "");
        LLVMSetAlignment(init, 4);
      }
      LLVMBuildStore(g->b, init, acc[r][c]);
    }
  /* Reduction loops, the lane dim (dot form) innermost and VW at a time. */
  Loop loops[LRC_MAX_DIMS];
  int open = 0;
  for (int o = 0; o < dt->len; o++) {
    int d = g->k->order[o];
    if (!(b->red & (1u << d)) || (b->dot && d == b->vd)) continue;
    loops[open] = loop_begin(g, ci64(g, 0), ci64(g, dt->data[d].size), dt->data[d].name);
    g->point[d] = loops[open++].iv;
  }
  if (b->dot) {
    loops[open] = loop_begin(g, ci64(g, 0), ci64(g, dt->data[b->vd].size / VW), "lanes");
    g->point[b->vd] = LLVMBuildNSWMul(g->b, loops[open++].iv, ci64(g, VW), "");
  }
  for (int r = 0; r < ni; r++)
    for (int c = 0; c < nj; c++) {
      AT(r, c);
      LLVMValueRef v = gen_vexpr(g, as->expr, b->vd, b->vt);
      v = LLVMBuildFAdd(g->b, LLVMBuildLoad2(g->b, b->vt, acc[r][c], ""), v, "");
      fmf(v);
      LLVMBuildStore(g->b, v, acc[r][c]);
    }
  while (open--) loop_end(g, &loops[open]);
  for (int r = 0; r < ni; r++)
    for (int c = 0; c < nj; c++) {
      AT(r, c);
      LLVMValueRef v = LLVMBuildLoad2(g->b, b->vt, acc[r][c], "");
      LLVMValueRef p = elem_ptr(g, as->tile);
      if (b->dot) {
        LLVMTypeRef ft = LLVMFunctionType(g->f32, (LLVMTypeRef[]){g->f32, b->vt}, 2, 0);
        char name[64];
        snprintf(name, sizeof name, "llvm.vector.reduce.fadd.v%df32", VW);
        LLVMValueRef f = LLVMGetNamedFunction(g->mod, name);
        if (!f) f = LLVMAddFunction(g->mod, name, ft);
        LLVMValueRef args[2] = {LLVMBuildLoad2(g->b, g->f32, p, ""), v};
        v = LLVMBuildCall2(g->b, ft, f, args, 2, "");
        fmf(v);
        LLVMBuildStore(g->b, v, p);
      } else {
        LLVMValueRef st = LLVMBuildStore(g->b, v, p);
        LLVMSetAlignment(st, 4);
      }
    }
#undef AT
}

/* Blocks over dj (full ones in a loop, then the rest), for rows i0. */
static void blk_cols(Gen *g, const Blk *b, LLVMValueRef i0, int ni) {
  if (b->dj < 0) {
    blk_body(g, b, i0, ni, NULL, 1);
    return;
  }
  long n = g->k->dims.data[b->dj].size;
  long unit = b->dot ? 1 : VW;           /* indices per column of the block */
  long cols = n / unit, full = cols / b->mj, rest = cols % b->mj;
  if (full) {
    Loop L = loop_begin(g, ci64(g, 0), ci64(g, full), "blk.j");
    blk_body(g, b, i0, ni, LLVMBuildNSWMul(g->b, L.iv, ci64(g, b->mj * unit), ""), b->mj);
    loop_end(g, &L);
  }
  if (rest) blk_body(g, b, i0, ni, ci64(g, full * b->mj * unit), (int)rest);
}

static void blk_rows(Gen *g, const Blk *b) {
  if (b->di < 0) {
    blk_cols(g, b, NULL, 1);
    return;
  }
  long n = g->k->dims.data[b->di].size, full = n / b->mi, rest = n % b->mi;
  if (full) {
    Loop L = loop_begin(g, ci64(g, 0), ci64(g, full), "blk.i");
    blk_cols(g, b, LLVMBuildNSWMul(g->b, L.iv, ci64(g, b->mi), ""), b->mi);
    loop_end(g, &L);
  }
  if (rest) blk_cols(g, b, ci64(g, full * b->mi), (int)rest);
}

/* The blocked form of nest s, if it has one; false leaves it to gen_nest. */
static bool gen_nest_blocked(Gen *g, const KStmt *s) {
  const Kernel *k = g->k;
  if (s->assigns.len != 1) return false;
  const KAssign *as = &s->assigns.data[0];
  DimSet td = k->tiles.data[as->tile].dims;
  if (as->acc != KACC_ADD || (td & ~s->space) || !(s->space & ~td)) return false;
  if (expr_reads(k, as->expr, as->tile)) return false;   /* stale in registers */
  Blk b = {.s = s, .red = s->space & ~td, .vt = LLVMVectorType(g->f32, VW)};
  const DimTable *dt = &k->dims;
  int j = kir_inner_dim(k, td);
  if (j >= 0 && dt->data[j].size % VW == 0 && vec_ok(k, as->expr, j)) {
    b.vd = b.dj = j;
    b.di = kir_inner_dim(k, td & ~(1u << j));
    b.mj = dt->data[j].size % (VW * BLK_NJ) == 0 ? BLK_NJ : 1;
  } else {
    int r = kir_inner_dim(k, b.red);
    if (dt->data[r].size % VW != 0 || !vec_ok(k, as->expr, r)) return false;
    b.dot = true;
    b.vd = r;
    b.dj = kir_inner_dim(k, td);
    b.di = b.dj >= 0 ? kir_inner_dim(k, td & ~(1u << b.dj)) : -1;
    b.mj = BLK_DOT_NJ;
  }
  b.mi = BLK_MI;
  /* Target dims not in the block: plain loops outside it. */
  Loop loops[LRC_MAX_DIMS];
  int open = 0;
  for (int o = 0; o < dt->len; o++) {
    int d = g->k->order[o];
    if (!(td & (1u << d)) || d == b.di || d == b.dj) continue;
    loops[open] = loop_begin(g, ci64(g, 0), ci64(g, dt->data[d].size), dt->data[d].name);
    g->point[d] = loops[open++].iv;
  }
  blk_rows(g, &b);
  while (open--) loop_end(g, &loops[open]);
  for (int d = 0; d < dt->len; d++) g->point[d] = NULL;
  return true;
}

static void gen_nest(Gen *g, const KStmt *s) {
  if (gen_nest_blocked(g, s)) return;
  const DimTable *gr = &g->k->dims;
  Loop loops[LRC_MAX_DIMS];
  int open = 0;
  for (int o = 0; o < gr->len; o++) {
    int d = g->k->order[o];
    if (!(s->space & (1u << d))) continue;
    loops[open] = loop_begin(g, ci64(g, 0), ci64(g, gr->data[d].size), gr->data[d].name);
    g->point[d] = loops[open].iv;
    open++;
  }
  for (int j = 0; j < s->assigns.len; j++) {
    const KAssign *a = &s->assigns.data[j];
    LLVMValueRef v = gen_expr(g, a->expr);
    LLVMValueRef p = elem_ptr(g, a->tile);
    if (a->acc != KACC_SET) {
      LLVMValueRef old = LLVMBuildLoad2(g->b, g->f32, p, "");
      if (a->acc == KACC_ADD) {
        v = LLVMBuildFAdd(g->b, old, v, "");
        fmf(v);
      } else {
        LLVMValueRef args[2] = {old, v};
        v = call_f(g, "llvm.maxnum.f32", 2, args);
      }
    }
    LLVMBuildStore(g->b, v, p);
  }
  while (open--) loop_end(g, &loops[open]);
  for (int d = 0; d < gr->len; d++) g->point[d] = NULL;
}

/* Copy between a tile and a buffer block (the slot's declared dim order). */
static void gen_transfer(Gen *g, const KStmt *s) {
  const Kernel *k = g->k;
  const Graph *sg = k->g;
  const DimTable *gr = &k->dims;
  const KBuf *kb = &k->bufs.data[s->buf];
  const Slot *sl = kb->role == KB_INPUT    ? &sg->inputs.data[kb->slot]
                   : kb->role == KB_PARAM  ? &sg->params.data[kb->slot]
                   : kb->role == KB_OUTPUT ? &sg->outputs.data[kb->slot]
                                           : &sg->states.data[kb->slot];
  LLVMValueRef base = gen_idx(g, s->idx);
  bool rows = s->rowdim >= 0, load = s->kind == KS_LOAD;
  Loop rl;
  LLVMValueRef nrows = NULL;
  if (rows) {
    /* Rows of a chunk: loads fill absent rows with zeros, stores skip them. */
    nrows = gen_idx(g, s->rows);
    LLVMValueRef stride = gen_idx(g, s->rowstride);
    rl = loop_begin(g, ci64(g, 0), load ? ci64(g, gr->data[s->rowdim].size) : nrows, "row");
    g->point[s->rowdim] = rl.iv;
    base = LLVMBuildNSWAdd(g->b, base, LLVMBuildNSWMul(g->b, rl.iv, stride, ""), "");
  }
  LLVMValueRef bp = LLVMBuildGEP2(g->b, g->f32, g->bufs[s->buf], &base, 1, "");
  Loop loops[LRC_MAX_TENSOR_DIMS];
  LLVMValueRef off = ci64(g, 0);
  long st[LRC_MAX_TENSOR_DIMS];
  long acc = 1;
  for (int i = sl->ndims - 1; i >= 0; i--) {
    st[i] = acc;
    acc *= gr->data[sl->dims[i]].size;
  }
  for (int i = 0; i < sl->ndims; i++) {
    int d = sl->dims[i];
    loops[i] = loop_begin(g, ci64(g, 0), ci64(g, gr->data[d].size), gr->data[d].name);
    g->point[d] = loops[i].iv;
  }
  for (int i = 0; i < sl->ndims; i++)
    off = LLVMBuildNSWAdd(g->b, off, LLVMBuildNSWMul(g->b, g->point[sl->dims[i]], ci64(g, st[i]), ""), "");
  LLVMValueRef ep = LLVMBuildGEP2(g->b, g->f32, bp, &off, 1, "");
  LLVMValueRef tp = elem_ptr(g, s->tile);
  if (load && rows) {
    LLVMValueRef present = LLVMBuildICmp(g->b, LLVMIntSLT, rl.iv, nrows, "");
    LLVMBasicBlockRef cur = LLVMGetInsertBlock(g->b);
    LLVMBasicBlockRef rd = LLVMAppendBasicBlockInContext(g->cx, g->fn, "row.read");
    LLVMBasicBlockRef join = LLVMAppendBasicBlockInContext(g->cx, g->fn, "row.join");
    LLVMBuildCondBr(g->b, present, rd, join);
    LLVMPositionBuilderAtEnd(g->b, rd);
    LLVMValueRef v = LLVMBuildLoad2(g->b, g->f32, ep, "");
    LLVMBuildBr(g->b, join);
    LLVMPositionBuilderAtEnd(g->b, join);
    LLVMValueRef phi = LLVMBuildPhi(g->b, g->f32, "");
    LLVMValueRef vals[2] = {cf32(g, 0.0), v};
    LLVMBasicBlockRef bbs[2] = {cur, rd};
    LLVMAddIncoming(phi, vals, bbs, 2);
    LLVMBuildStore(g->b, phi, tp);
  } else if (load) {
    LLVMBuildStore(g->b, LLVMBuildLoad2(g->b, g->f32, ep, ""), tp);
  } else {
    LLVMBuildStore(g->b, LLVMBuildLoad2(g->b, g->f32, tp, ""), ep);
  }
  for (int i = sl->ndims - 1; i >= 0; i--) loop_end(g, &loops[i]);
  if (rows) loop_end(g, &rl);
  for (int d = 0; d < gr->len; d++) g->point[d] = NULL;
}

/* Running sum along a dim, in place: x[c] += x[c-1] for c = 1.. (and for
 * the exclusive sum, then a shift by one with x[0] = 0). */
static void gen_cumsum(Gen *g, const KStmt *s) {
  const DimTable *dt = &g->k->dims;
  DimSet td = g->k->tiles.data[s->tile].dims;
  long n = dt->data[s->dim].size;
  Loop loops[LRC_MAX_DIMS];
  int open = 0;
  for (int o = 0; o < dt->len; o++) {
    int d = g->k->order[o];
    if (!(td & (1u << d)) || d == s->dim) continue;
    loops[open] = loop_begin(g, ci64(g, 0), ci64(g, dt->data[d].size), dt->data[d].name);
    g->point[d] = loops[open++].iv;
  }
  /* Row r of the walk: r, or n - 1 - r from the last row back. */
#define ROW(r) (s->reverse ? LLVMBuildNSWSub(g->b, ci64(g, n - 1), (r), "") : (r))
  Loop c = loop_begin(g, ci64(g, 1), ci64(g, n), "cumsum");
  g->point[s->dim] = ROW(LLVMBuildNSWSub(g->b, c.iv, ci64(g, 1), ""));
  LLVMValueRef prev = LLVMBuildLoad2(g->b, g->f32, elem_ptr(g, s->tile), "");
  g->point[s->dim] = ROW(c.iv);
  LLVMValueRef p = elem_ptr(g, s->tile);
  LLVMBuildStore(g->b, LLVMBuildFAdd(g->b, LLVMBuildLoad2(g->b, g->f32, p, ""), prev, ""), p);
  loop_end(g, &c);
  if (s->tile2 >= 0) {   /* the whole sum: the walk's last row */
    g->point[s->dim] = ROW(ci64(g, n - 1));
    LLVMValueRef t = LLVMBuildLoad2(g->b, g->f32, elem_ptr(g, s->tile), "");
    LLVMBuildStore(g->b, t, elem_ptr(g, s->tile2));
  }
  if (s->exclusive) {
    /* Each row takes the one before it in the walk, the walk's last first. */
    Loop sh = loop_begin(g, ci64(g, 0), ci64(g, n - 1), "shift");
    LLVMValueRef i = LLVMBuildNSWSub(g->b, ci64(g, n - 1), sh.iv, "");
    g->point[s->dim] = ROW(LLVMBuildNSWSub(g->b, i, ci64(g, 1), ""));
    LLVMValueRef v = LLVMBuildLoad2(g->b, g->f32, elem_ptr(g, s->tile), "");
    g->point[s->dim] = ROW(i);
    LLVMBuildStore(g->b, v, elem_ptr(g, s->tile));
    loop_end(g, &sh);
    g->point[s->dim] = ROW(ci64(g, 0));
    LLVMBuildStore(g->b, cf32(g, 0.0), elem_ptr(g, s->tile));
  }
#undef ROW
  while (open--) loop_end(g, &loops[open]);
  for (int d = 0; d < dt->len; d++) g->point[d] = NULL;
}

/* Rows between a per-token dim and a virtual one (KS_INTERLEAVE). */
static void gen_interleave(Gen *g, const KStmt *s) {
  const Kernel *k = g->k;
  const DimTable *dt = &k->dims;
  long a = dt->data[s->dim].size, b = dt->data[s->dim2].size;
  bool scatter = a > b || s->nphase == 1;
  Loop r = loop_begin(g, ci64(g, 0), ci64(g, scatter ? b : a), "rows");
  LLVMValueRef v = LLVMBuildNSWAdd(g->b, LLVMBuildNSWMul(g->b, r.iv, ci64(g, s->nphase), ""),
                                   ci64(g, s->phase), "");
  g->point[s->dim] = scatter ? v : r.iv;
  g->point[s->dim2] = scatter ? r.iv : v;
  Loop loops[LRC_MAX_DIMS];
  int open = 0;
  DimSet rest = k->tiles.data[s->tile].dims & ~(1u << s->dim);
  for (int o = 0; o < dt->len; o++) {
    int d = k->order[o];
    if (!(rest & (1u << d))) continue;
    loops[open] = loop_begin(g, ci64(g, 0), ci64(g, dt->data[d].size), dt->data[d].name);
    g->point[d] = loops[open++].iv;
  }
  LLVMBuildStore(g->b, LLVMBuildLoad2(g->b, g->f32, elem_ptr(g, s->tile2), ""), elem_ptr(g, s->tile));
  while (open--) loop_end(g, &loops[open]);
  loop_end(g, &r);
  for (int d = 0; d < dt->len; d++) g->point[d] = NULL;
}

/* X = (I + N)^-1 X by forward substitution along the row dim. */
static void gen_trisolve(Gen *g, const KStmt *s) {
  const DimTable *dt = &g->k->dims;
  DimSet xd = g->k->tiles.data[s->tile].dims;
  long n = dt->data[s->dim].size;
  Loop li = loop_begin(g, ci64(g, 1), ci64(g, n), "tri.i");
  Loop lj = loop_begin(g, ci64(g, 0), li.iv, "tri.j");
  g->point[s->dim] = li.iv;
  g->point[s->dim2] = lj.iv;
  LLVMValueRef nij = LLVMBuildLoad2(g->b, g->f32, elem_ptr(g, s->tile2), "nij");
  Loop loops[LRC_MAX_DIMS];
  int open = 0;
  for (int o = 0; o < dt->len; o++) {
    int d = g->k->order[o];
    if (!(xd & (1u << d)) || d == s->dim) continue;
    loops[open] = loop_begin(g, ci64(g, 0), ci64(g, dt->data[d].size), dt->data[d].name);
    g->point[d] = loops[open++].iv;
  }
  g->point[s->dim] = lj.iv;
  LLVMValueRef xj = LLVMBuildLoad2(g->b, g->f32, elem_ptr(g, s->tile), "");
  g->point[s->dim] = li.iv;
  LLVMValueRef pi = elem_ptr(g, s->tile);
  LLVMValueRef v = LLVMBuildFSub(g->b, LLVMBuildLoad2(g->b, g->f32, pi, ""),
                                 LLVMBuildFMul(g->b, nij, xj, ""), "");
  fmf(v);
  LLVMBuildStore(g->b, v, pi);
  while (open--) loop_end(g, &loops[open]);
  loop_end(g, &lj);
  loop_end(g, &li);
  for (int d = 0; d < dt->len; d++) g->point[d] = NULL;
}

/* S = A[r] S + X[r]; X[r] = S along the scan dim for rows r < rows (and
 * E[r] = S first). The row loop is outermost and the other dims are
 * plain loops inside it, the contiguous one innermost: every element of
 * a row is independent, so that loop vectorises; only the rows are
 * sequential. */
static void gen_scan(Gen *g, const KStmt *s) {
  const DimTable *dt = &g->k->dims;
  DimSet xd = g->k->tiles.data[s->tile].dims;
  Loop r = loop_begin(g, ci64(g, 0), gen_idx(g, s->rows), "scan");
  g->point[s->dim] = r.iv;
  Loop loops[LRC_MAX_DIMS];
  int open = 0;
  for (int o = 0; o < dt->len; o++) {
    int d = g->k->order[o];
    if (!(xd & (1u << d)) || d == s->dim) continue;
    loops[open] = loop_begin(g, ci64(g, 0), ci64(g, dt->data[d].size), dt->data[d].name);
    g->point[d] = loops[open++].iv;
  }
  LLVMValueRef sp = elem_ptr(g, s->carry), xp = elem_ptr(g, s->tile);
  LLVMValueRef prev = LLVMBuildLoad2(g->b, g->f32, sp, "");
  if (s->prior >= 0) LLVMBuildStore(g->b, prev, elem_ptr(g, s->prior));
  if (s->tile2 >= 0) {
    prev = LLVMBuildFMul(g->b, LLVMBuildLoad2(g->b, g->f32, elem_ptr(g, s->tile2), ""), prev, "");
    fmf(prev);
  }
  LLVMValueRef v = LLVMBuildFAdd(g->b, prev, LLVMBuildLoad2(g->b, g->f32, xp, ""), "");
  fmf(v);
  LLVMBuildStore(g->b, v, sp);
  LLVMBuildStore(g->b, v, xp);
  while (open--) loop_end(g, &loops[open]);
  loop_end(g, &r);
  for (int d = 0; d < dt->len; d++) g->point[d] = NULL;
}

static void gen_block(Gen *g, const KBlock *blk, bool outer);

static void gen_stmt(Gen *g, const KStmt *s, bool outer) {
  const Kernel *k = g->k;
  switch (s->kind) {
  case KS_FOR: {
    LLVMValueRef lo, hi;
    if (s->parallel && outer) {
      lo = g->lo;
      hi = g->hi;
    } else {
      lo = gen_idx(g, s->lo);
      hi = gen_idx(g, s->hi);
    }
    Loop L = loop_begin(g, lo, hi, k->vars.data[s->var]);
    g->vars[s->var] = L.iv;
    gen_block(g, &s->body, false);
    g->vars[s->var] = NULL;
    loop_end(g, &L);
    break;
  }
  case KS_LET:
    g->vars[s->var] = gen_idx(g, s->idx);
    break;
  case KS_NEST:
    gen_nest(g, s);
    break;
  case KS_FILL: {
    LLVMValueRef n = ci64(g, kir_tile_count(k, s->tile));
    Loop L = loop_begin(g, ci64(g, 0), n, "fill");
    LLVMValueRef p = LLVMBuildInBoundsGEP2(g->b, g->f32, g->tiles[s->tile], &L.iv, 1, "");
    LLVMBuildStore(g->b, cf32(g, s->num), p);
    loop_end(g, &L);
    break;
  }
  case KS_LOAD:
  case KS_STORE:
    gen_transfer(g, s);
    break;
  case KS_COPY: {
    long bytes = 4 * kir_tile_count(k, s->tile);
    LLVMBuildMemCpy(g->b, g->tiles[s->tile], 16, g->tiles[s->tile2], 16, ci64(g, bytes));
    break;
  }
  case KS_CUMSUM:
    gen_cumsum(g, s);
    break;
  case KS_INTERLEAVE:
    gen_interleave(g, s);
    break;
  case KS_TRISOLVE:
    gen_trisolve(g, s);
    break;
  case KS_SCAN:
    gen_scan(g, s);
    break;
  case KS_IF_NULL:
  case KS_IF_LESS: {
    LLVMValueRef c = s->kind == KS_IF_NULL
                         ? LLVMBuildIsNull(g->b, g->bufs[s->buf], "")
                         : LLVMBuildFCmp(g->b, LLVMRealOLT,
                                         LLVMBuildLoad2(g->b, g->f32, g->tiles[s->tile], ""),
                                         cf32(g, s->num), "");
    LLVMBasicBlockRef then = LLVMAppendBasicBlockInContext(g->cx, g->fn, "if.null");
    LLVMBasicBlockRef other = LLVMAppendBasicBlockInContext(g->cx, g->fn, "if.else");
    LLVMBasicBlockRef join = LLVMAppendBasicBlockInContext(g->cx, g->fn, "if.end");
    LLVMBuildCondBr(g->b, c, then, other);
    LLVMPositionBuilderAtEnd(g->b, then);
    gen_block(g, &s->body, false);
    LLVMBuildBr(g->b, join);
    LLVMPositionBuilderAtEnd(g->b, other);
    gen_block(g, &s->orelse, false);
    LLVMBuildBr(g->b, join);
    LLVMPositionBuilderAtEnd(g->b, join);
    break;
  }
  }
}

static void gen_block(Gen *g, const KBlock *blk, bool outer) {
  for (int i = 0; i < blk->len; i++) gen_stmt(g, blk->data[i], outer);
}

/* Build the module for kernel k in context cx. */
static LLVMModuleRef build_module(const Kernel *k, LLVMContextRef cx) {
  Gen G = {.k = k, .cx = cx};
  Gen *g = &G;
  g->mod = LLVMModuleCreateWithNameInContext(k->name, cx);
  g->b = LLVMCreateBuilderInContext(cx);
  g->f32 = LLVMFloatTypeInContext(cx);
  g->i64 = LLVMInt64TypeInContext(cx);
  g->i32 = LLVMInt32TypeInContext(cx);
  g->i1 = LLVMInt1TypeInContext(cx);
  g->ptr = LLVMPointerTypeInContext(cx, 0);
  int nb = k->bufs.len, np = nb + 6;
  LLVMTypeRef *params = calloc((size_t)np, sizeof *params);
  g->bufs = calloc((size_t)nb + 1, sizeof *g->bufs);
  g->vars = calloc((size_t)k->vars.len + 1, sizeof *g->vars);
  g->tiles = calloc((size_t)k->tiles.len + 1, sizeof *g->tiles);
  g->tile_heap = calloc((size_t)k->tiles.len + 1, sizeof *g->tile_heap);
  if (!params || !g->bufs || !g->vars || !g->tiles || !g->tile_heap)
    ir_internal_error(__FILE__, __LINE__, "out of memory");
  for (int i = 0; i < nb; i++) params[i] = g->ptr;
  for (int i = nb; i < np; i++) params[i] = g->i64;
  char fname[300];
  snprintf(fname, sizeof fname, "%s_range", k->name);
  g->fn = LLVMAddFunction(g->mod, fname, LLVMFunctionType(g->i32, params, (unsigned)np, 0));
  unsigned noalias = LLVMGetEnumAttributeKindForName("noalias", 7);
  unsigned nocapture = LLVMGetEnumAttributeKindForName("nocapture", 9);
  for (int i = 0; i < nb; i++) {
    g->bufs[i] = LLVMGetParam(g->fn, (unsigned)i);
    LLVMSetValueName2(g->bufs[i], k->bufs.data[i].name, strlen(k->bufs.data[i].name));
    LLVMAddAttributeAtIndex(g->fn, (unsigned)i + 1, LLVMCreateEnumAttribute(cx, noalias, 0));
    LLVMAddAttributeAtIndex(g->fn, (unsigned)i + 1, LLVMCreateEnumAttribute(cx, nocapture, 0));
  }
  for (int a = 0; a < KA_COUNT; a++) g->args[a] = LLVMGetParam(g->fn, (unsigned)(nb + a));
  g->lo = LLVMGetParam(g->fn, (unsigned)(nb + 4));
  g->hi = LLVMGetParam(g->fn, (unsigned)(nb + 5));

  LLVMBasicBlockRef entry = LLVMAppendBasicBlockInContext(cx, g->fn, "entry");
  g->entry = entry;
  LLVMPositionBuilderAtEnd(g->b, entry);
  /* Tiles: small ones on the stack (64-byte aligned), large ones on the heap. */
  LLVMTypeRef malloc_t = LLVMFunctionType(g->ptr, &g->i64, 1, 0);
  LLVMTypeRef free_t = LLVMFunctionType(LLVMVoidTypeInContext(cx), &g->ptr, 1, 0);
  LLVMValueRef fmalloc = NULL, ffree = NULL;
  bool any_heap = false;
  long stack = 0;   /* a thread's stack is a few MiB: keep well under one */
  for (int t = 0; t < k->tiles.len; t++) {
    long n = kir_tile_count(k, t);
    if (4 * n <= BIG_TILE_BYTES && stack + 4 * n <= STACK_BYTES) {
      stack += 4 * n;
      LLVMValueRef a = LLVMBuildArrayAlloca(g->b, g->f32, ci64(g, n), k->tiles.data[t].name);
      LLVMSetAlignment(a, 64);
      g->tiles[t] = a;
    } else {
      any_heap = g->tile_heap[t] = true;
    }
  }
  if (any_heap) {
    /* Allocate every large tile, then check them together: on failure all
     * are freed (free(NULL) is fine) and the kernel returns 1. */
    fmalloc = LLVMAddFunction(g->mod, "malloc", malloc_t);
    ffree = LLVMAddFunction(g->mod, "free", free_t);
    LLVMValueRef anynull = LLVMConstInt(g->i1, 0, 0);
    for (int t = 0; t < k->tiles.len; t++) {
      if (!g->tile_heap[t]) continue;
      LLVMValueRef sz = ci64(g, 4 * kir_tile_count(k, t));
      g->tiles[t] = LLVMBuildCall2(g->b, malloc_t, fmalloc, &sz, 1, k->tiles.data[t].name);
      anynull = LLVMBuildOr(g->b, anynull, LLVMBuildIsNull(g->b, g->tiles[t], ""), "");
    }
    LLVMBasicBlockRef fail = LLVMAppendBasicBlockInContext(cx, g->fn, "oom");
    LLVMBasicBlockRef ok = LLVMAppendBasicBlockInContext(cx, g->fn, "alloc.ok");
    LLVMBuildCondBr(g->b, anynull, fail, ok);
    LLVMPositionBuilderAtEnd(g->b, fail);
    for (int t = 0; t < k->tiles.len; t++)
      if (g->tile_heap[t]) LLVMBuildCall2(g->b, free_t, ffree, &g->tiles[t], 1, "");
    LLVMBuildRet(g->b, LLVMConstInt(g->i32, 1, 0));
    LLVMPositionBuilderAtEnd(g->b, ok);
  }
  gen_block(g, &k->body, true);
  for (int t = 0; t < k->tiles.len; t++)
    if (g->tile_heap[t]) LLVMBuildCall2(g->b, free_t, ffree, &g->tiles[t], 1, "");
  LLVMBuildRet(g->b, LLVMConstInt(g->i32, 0, 0));
  LLVMDisposeBuilder(g->b);
  free(params);
  free(g->bufs);
  free(g->vars);
  free(g->tiles);
  free(g->tile_heap);
  return g->mod;
}

/* ---------------------------------------------------------------------- */
/* Target machine and optimisation                                         */

static char *dup_llvm_message(char *m) {
  char *r = strdup(m ? m : "unknown LLVM error");
  LLVMDisposeMessage(m);
  return r;
}

static LLVMTargetMachineRef host_machine(char **err) {
  static _Thread_local bool inited;
  if (!inited) {
    LLVMInitializeNativeTarget();
    LLVMInitializeNativeAsmPrinter();
    inited = true;
  }
  char *triple = LLVMGetDefaultTargetTriple();
  LLVMTargetRef target;
  char *msg = NULL;
  if (LLVMGetTargetFromTriple(triple, &target, &msg)) {
    *err = dup_llvm_message(msg);
    LLVMDisposeMessage(triple);
    return NULL;
  }
  char *cpu = LLVMGetHostCPUName(), *features = LLVMGetHostCPUFeatures();
  LLVMTargetMachineRef tm = LLVMCreateTargetMachine(target, triple, cpu, features,
                                                    LLVMCodeGenLevelAggressive, LLVMRelocPIC,
                                                    LLVMCodeModelDefault);
  LLVMDisposeMessage(triple);
  LLVMDisposeMessage(cpu);
  LLVMDisposeMessage(features);
  if (!tm) *err = strdup("LLVM could not create a target machine for this CPU");
  return tm;
}

/* Optimise `mod` for `tm` (default<O3>). */
static bool optimise(LLVMModuleRef mod, LLVMTargetMachineRef tm, char **err) {
  char *triple = LLVMGetTargetMachineTriple(tm);
  LLVMSetTarget(mod, triple);
  LLVMDisposeMessage(triple);
  LLVMTargetDataRef td = LLVMCreateTargetDataLayout(tm);
  char *layout = LLVMCopyStringRepOfTargetData(td);
  LLVMSetDataLayout(mod, layout);
  LLVMDisposeMessage(layout);
  LLVMDisposeTargetData(td);
  char *msg = NULL;
  if (LLVMVerifyModule(mod, LLVMReturnStatusAction, &msg)) {
    *err = dup_llvm_message(msg);
    return false;
  }
  LLVMDisposeMessage(msg);
  LLVMPassBuilderOptionsRef po = LLVMCreatePassBuilderOptions();
  LLVMPassBuilderOptionsSetLoopVectorization(po, 1);
  LLVMPassBuilderOptionsSetSLPVectorization(po, 1);
  LLVMPassBuilderOptionsSetLoopUnrolling(po, 1);
  LLVMErrorRef e = LLVMRunPasses(mod, "default<O3>", tm, po);
  LLVMDisposePassBuilderOptions(po);
  if (e) {
    *err = dup_llvm_message(LLVMGetErrorMessage(e));
    return false;
  }
  return true;
}

char *cg_llvm_ir(const Kernel *k, char **err) {
  LLVMContextRef cx = LLVMContextCreate();
  LLVMModuleRef mod = build_module(k, cx);
  LLVMTargetMachineRef tm = host_machine(err);
  char *text = NULL;
  if (tm && optimise(mod, tm, err)) {
    char *s = LLVMPrintModuleToString(mod);
    text = strdup(s);
    LLVMDisposeMessage(s);
  }
  if (tm) LLVMDisposeTargetMachine(tm);
  LLVMDisposeModule(mod);
  LLVMContextDispose(cx);
  return text;
}

int cg_llvm_object(const Kernel *k, void **obj, size_t *len, char **err) {
  LLVMContextRef cx = LLVMContextCreate();
  LLVMModuleRef mod = build_module(k, cx);
  LLVMTargetMachineRef tm = host_machine(err);
  int rc = -1;
  if (tm && optimise(mod, tm, err)) {
    LLVMMemoryBufferRef mb = NULL;
    char *msg = NULL;
    if (LLVMTargetMachineEmitToMemoryBuffer(tm, mod, LLVMObjectFile, &msg, &mb)) {
      *err = dup_llvm_message(msg);
    } else {
      *len = LLVMGetBufferSize(mb);
      *obj = malloc(*len ? *len : 1);
      if (*obj) {
        memcpy(*obj, LLVMGetBufferStart(mb), *len);
        rc = 0;
      } else {
        *err = strdup("out of memory");
      }
      LLVMDisposeMemoryBuffer(mb);
    }
  }
  if (tm) LLVMDisposeTargetMachine(tm);
  LLVMDisposeModule(mod);
  LLVMContextDispose(cx);
  return rc;
}

char *cg_host_id(void) {
  char *triple = LLVMGetDefaultTargetTriple();
  char *cpu = LLVMGetHostCPUName(), *features = LLVMGetHostCPUFeatures();
  Buf b = {0};
  buf_printf(&b, "%s %s %s", triple, cpu, features);
  LLVMDisposeMessage(triple);
  LLVMDisposeMessage(cpu);
  LLVMDisposeMessage(features);
  return buf_take(&b);
}

const char *cg_build_id(void) { return "llvm " LLVM_VERSION_STRING_LRC " built " __DATE__ " " __TIME__; }
