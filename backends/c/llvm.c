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
  for (int d = gr->len - 1; d >= 0; d--) {
    if (!(td & (1u << d))) continue;
    LLVMValueRef iv = g->point[d == from ? to : d];
    LRC_ASSERT(iv);
    LLVMValueRef t = stride == 1 ? iv : LLVMBuildNSWMul(g->b, iv, ci64(g, stride), "");
    off = LLVMBuildNSWAdd(g->b, off, t, "");
    stride *= gr->data[d].size;
  }
  return LLVMBuildInBoundsGEP2(g->b, g->f32, g->tiles[tile], &off, 1, "");
}

static LLVMValueRef gen_unary(Gen *g, OpKind op, LLVMValueRef x) {
  LLVMValueRef one = cf32(g, 1.0), zero = cf32(g, 0.0);
  switch (op) {
  case OP_NEG: return LLVMBuildFNeg(g->b, x, "");
  case OP_EXP: return call1(g, "llvm.exp.f32", x);
  case OP_LOG: return call1(g, "llvm.log.f32", x);
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
    LLVMValueRef e = call1(g, "llvm.exp.f32", LLVMBuildFNeg(g->b, call1(g, "llvm.fabs.f32", y), ""));
    LLVMValueRef sp = LLVMBuildFAdd(g->b, m, call1(g, "log1pf", e), "");
    return op == OP_LOGSIGMOID ? LLVMBuildFNeg(g->b, sp, "") : sp;
  }
  case OP_SIGMOID:
  case OP_SILU: {
    /* e = exp(-|x|); sigmoid = x >= 0 ? 1/(1+e) : e/(1+e) */
    LLVMValueRef e = call1(g, "llvm.exp.f32", LLVMBuildFNeg(g->b, call1(g, "llvm.fabs.f32", x), ""));
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

static void gen_nest(Gen *g, const KStmt *s) {
  const DimTable *gr = &g->k->dims;
  Loop loops[LRC_MAX_DIMS];
  int open = 0;
  for (int d = 0; d < gr->len; d++) {
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
  for (int d = 0; d < dt->len; d++) {
    if (!(td & (1u << d)) || d == s->dim) continue;
    loops[open] = loop_begin(g, ci64(g, 0), ci64(g, dt->data[d].size), dt->data[d].name);
    g->point[d] = loops[open++].iv;
  }
  Loop c = loop_begin(g, ci64(g, 1), ci64(g, n), "cumsum");
  g->point[s->dim] = LLVMBuildNSWSub(g->b, c.iv, ci64(g, 1), "");
  LLVMValueRef prev = LLVMBuildLoad2(g->b, g->f32, elem_ptr(g, s->tile), "");
  g->point[s->dim] = c.iv;
  LLVMValueRef p = elem_ptr(g, s->tile);
  LLVMBuildStore(g->b, LLVMBuildFAdd(g->b, LLVMBuildLoad2(g->b, g->f32, p, ""), prev, ""), p);
  loop_end(g, &c);
  if (s->exclusive) {
    Loop sh = loop_begin(g, ci64(g, 0), ci64(g, n - 1), "shift");
    LLVMValueRef i = LLVMBuildNSWSub(g->b, ci64(g, n - 1), sh.iv, "");
    g->point[s->dim] = LLVMBuildNSWSub(g->b, i, ci64(g, 1), "");
    LLVMValueRef v = LLVMBuildLoad2(g->b, g->f32, elem_ptr(g, s->tile), "");
    g->point[s->dim] = i;
    LLVMBuildStore(g->b, v, elem_ptr(g, s->tile));
    loop_end(g, &sh);
    g->point[s->dim] = ci64(g, 0);
    LLVMBuildStore(g->b, cf32(g, 0.0), elem_ptr(g, s->tile));
  }
  while (open--) loop_end(g, &loops[open]);
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
  for (int d = 0; d < dt->len; d++) {
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
  case KS_TRISOLVE:
    gen_trisolve(g, s);
    break;
  case KS_IF_NULL: {
    LLVMValueRef c = LLVMBuildIsNull(g->b, g->bufs[s->buf], "");
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
