/* interp.c — the float64 reference interpreter of the step graph.
 *
 * This is the oracle every derived algorithm is tested against, so it is
 * written for obviousness, not speed: for each sequence and head it walks
 * the tokens in order and evaluates every node of the step graph exactly as
 * the sequential semantics say, in float64, with no algebraic rewriting.
 * It runs any rnn, affine in its states or not.
 *
 * Values are dense arrays whose dims are in canonical order (increasing
 * dim id, the last fastest). Every operation is one loop nest over an
 * iteration space of dims, with per-operand strides (0 for a dim an
 * operand lacks: that is broadcasting by name). External tensors keep their
 * declared dim order and are permuted on the way in and out.
 */
#include "rt.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static long dims_count(const Graph *g, DimSet s) { return ir_dims_count(g, s); }

static void canon_strides(const Graph *g, DimSet s, long st[LRC_MAX_DIMS]) {
  long acc = 1;
  for (int d = g->dims.len - 1; d >= 0; d--) {
    st[d] = 0;
    if (s & (1u << d)) {
      st[d] = acc;
      acc *= g->dims.data[d].size;
    }
  }
}

/* An iteration space over the dims of `space` with up to three arrays
 * (0: the result, 1 and 2: operands), each with a stride per dim. */
typedef struct Nest {
  int n;                       /* dims in the space */
  long size[LRC_MAX_DIMS];
  long st[3][LRC_MAX_DIMS];
} Nest;

static void nest_init(Nest *ns, const Graph *g, DimSet space, const DimSet arr[3]) {
  long st[3][LRC_MAX_DIMS];
  for (int k = 0; k < 3; k++) canon_strides(g, arr[k], st[k]);
  ns->n = 0;
  for (int d = 0; d < g->dims.len; d++) {
    if (!(space & (1u << d))) continue;
    ns->size[ns->n] = g->dims.data[d].size;
    for (int k = 0; k < 3; k++) ns->st[k][ns->n] = (arr[k] & (1u << d)) ? st[k][d] : 0;
    ns->n++;
  }
}

typedef enum { AC_SET, AC_ADD, AC_MAX } Accum;

static double apply_unary(OpKind op, double x) {
  switch (op) {
  case OP_NEG: return -x;
  case OP_WRITE: return x;
  case OP_EXP: return exp(x);
  case OP_LOG: return log(x);
  case OP_SQRT: return sqrt(x);
  case OP_RSQRT: return 1.0 / sqrt(x);
  case OP_ABS: return fabs(x);
  case OP_SIGMOID: return x >= 0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x));
  case OP_LOGSIGMOID: return -(fmax(-x, 0.0) + log1p(exp(-fabs(x))));
  case OP_SOFTPLUS: return fmax(x, 0.0) + log1p(exp(-fabs(x)));
  case OP_SILU: return x * (x >= 0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x)));
  case OP_ELU: return x > 0 ? x : expm1(x);
  case OP_RELU: return x > 0 ? x : 0.0;
  case OP_TANH: return tanh(x);
  default: LRC_UNREACHABLE();
  }
}

static double apply_binary(OpKind op, double a, double b) {
  switch (op) {
  case OP_ADD: return a + b;
  case OP_SUB: return a - b;
  case OP_MUL:
  case OP_DOT: return a * b;
  case OP_DIV: return a / b;
  case OP_POW: return pow(a, b);
  case OP_MAX: return fmax(a, b);
  case OP_MIN: return fmin(a, b);
  default: LRC_UNREACHABLE();
  }
}

/* Run the nest: out[i] (accum) f(a[i], b[i]); `nargs` operands. */
static void run_nest(const Nest *ns, OpKind op, int nargs, Accum ac, double *out,
                     const double *a, const double *b) {
  long idx[LRC_MAX_DIMS] = {0};
  long off[3] = {0, 0, 0};
  if (ns->n == 0) {          /* scalars */
    double v = nargs == 1 ? (op == OP_SUM || op == OP_RMAX ? a[0] : apply_unary(op, a[0]))
                          : apply_binary(op, a[0], b[0]);
    *out = ac == AC_ADD ? *out + v : ac == AC_MAX ? fmax(*out, v) : v;
    return;
  }
  int last = ns->n - 1;
  long inner = ns->size[last];
  for (;;) {
    double *o = out + off[0];
    const double *pa = a + off[1];
    const double *pb = b ? b + off[2] : NULL;
    long so = ns->st[0][last], sa = ns->st[1][last], sb = ns->st[2][last];
    for (long i = 0; i < inner; i++) {
      double v;
      if (nargs == 2) v = apply_binary(op, pa[i * sa], pb[i * sb]);
      else if (op == OP_SUM || op == OP_RMAX) v = pa[i * sa];
      else v = apply_unary(op, pa[i * sa]);
      double *po = &o[i * so];
      *po = ac == AC_ADD ? *po + v : ac == AC_MAX ? fmax(*po, v) : v;
    }
    /* Odometer over the outer dims. */
    int d = last - 1;
    for (; d >= 0; d--) {
      idx[d]++;
      for (int k = 0; k < 3; k++) off[k] += ns->st[k][d];
      if (idx[d] < ns->size[d]) break;
      for (int k = 0; k < 3; k++) off[k] -= ns->st[k][d] * ns->size[d];
      idx[d] = 0;
    }
    if (d < 0) return;
  }
}

/* Copy between an external tensor's block (declared dim order, contiguous)
 * and a canonical value. `to_ext` selects the direction. */
static void permute(const Graph *g, const Slot *sl, double *ext, double *canon, bool to_ext) {
  long cst[LRC_MAX_DIMS];
  canon_strides(g, sl->dimset, cst);
  Nest ns = {.n = sl->ndims};
  long est = 1;
  for (int i = sl->ndims - 1; i >= 0; i--) {
    int d = sl->dims[i];
    ns.size[i] = g->dims.data[d].size;
    ns.st[0][i] = est;
    ns.st[1][i] = cst[d];
    est *= ns.size[i];
  }
  if (sl->ndims == 0) {
    if (to_ext) ext[0] = canon[0];
    else canon[0] = ext[0];
    return;
  }
  long idx[LRC_MAX_TENSOR_DIMS] = {0};
  long oe = 0, oc = 0;
  for (;;) {
    if (to_ext) ext[oe] = canon[oc];
    else canon[oc] = ext[oe];
    int d = ns.n - 1;
    for (; d >= 0; d--) {
      idx[d]++;
      oe += ns.st[0][d];
      oc += ns.st[1][d];
      if (idx[d] < ns.size[d]) break;
      oe -= ns.st[0][d] * ns.size[d];
      oc -= ns.st[1][d] * ns.size[d];
      idx[d] = 0;
    }
    if (d < 0) return;
  }
}

/* Evaluate one step. vals[id] are the node buffers; states[i] the current
 * state i (read by OP_STATE, replaced by the written value afterwards). */
static void step(const Graph *g, double **vals, double **states, const RtInterpArgs *a,
                 long tok, int h, double **param_vals) {
  for (int id = 0; id < g->nodes.len; id++) {
    const Node *n = &g->nodes.data[id];
    double *out = vals[id];
    switch (n->op) {
    case OP_CONST: out[0] = n->num; continue;
    case OP_DIM: out[0] = (double)g->dims.data[n->index].size; continue;
    case OP_INPUT: {
      const Slot *sl = &g->inputs.data[n->index];
      long cnt = dims_count(g, sl->dimset);
      double *src = (double *)a->inputs[n->index] + (tok * a->H + h) * cnt;
      permute(g, sl, src, out, false);
      continue;
    }
    case OP_PARAM:
      memcpy(out, param_vals[n->index], sizeof(double) * (size_t)dims_count(g, n->dims));
      continue;
    case OP_STATE:
      memcpy(out, states[n->index], sizeof(double) * (size_t)dims_count(g, n->dims));
      continue;
    default: break;
    }
    const OpInfo *oi = &ir_ops[n->op];
    const double *pa = vals[n->args[0]];
    const double *pb = oi->nargs > 1 ? vals[n->args[1]] : NULL;
    DimSet arr[3] = {n->dims, g->nodes.data[n->args[0]].dims,
                     oi->nargs > 1 ? g->nodes.data[n->args[1]].dims : 0};
    Nest ns;
    long cnt = dims_count(g, n->dims);
    switch (oi->cls) {
    case K_UNARY:
    case K_BINARY:
      nest_init(&ns, g, n->dims, arr);
      run_nest(&ns, n->op, oi->nargs, AC_SET, out, pa, pb);
      break;
    case K_REDUCE:
      for (long i = 0; i < cnt; i++) out[i] = n->op == OP_RMAX ? -INFINITY : 0.0;
      nest_init(&ns, g, n->dims | n->rdims, arr);
      run_nest(&ns, n->op, 1, n->op == OP_RMAX ? AC_MAX : AC_ADD, out, pa, NULL);
      break;
    case K_CONTRACT:
      for (long i = 0; i < cnt; i++) out[i] = 0.0;
      nest_init(&ns, g, n->dims | n->rdims, arr);
      run_nest(&ns, OP_DOT, 2, AC_ADD, out, pa, pb);
      break;
    default:
      LRC_UNREACHABLE();
    }
  }
}

int rt_interp(const Graph *g, const RtInterpArgs *a, char **err) {
  const char *unbound = ir_unbound_dim(g);
  if (unbound) {
    if (err) *err = strdup(unbound);
    return -1;
  }
  int nseq = a->cu_seqlens ? a->nseq : a->B;
  int nn = g->nodes.len;
  /* Buffers: one per node, the states, the params of one head. */
  double **vals = calloc((size_t)nn, sizeof *vals);
  double **states = calloc((size_t)g->states.len + 1, sizeof *states);
  double **pvals = calloc((size_t)g->params.len + 1, sizeof *pvals);
  bool ok = vals && states && pvals;
  for (int id = 0; ok && id < nn; id++)
    ok = (vals[id] = malloc(sizeof(double) * (size_t)dims_count(g, g->nodes.data[id].dims)));
  for (int i = 0; ok && i < g->states.len; i++)
    ok = (states[i] = malloc(sizeof(double) * (size_t)ir_slot_count(g, &g->states.data[i])));
  for (int i = 0; ok && i < g->params.len; i++)
    ok = (pvals[i] = malloc(sizeof(double) * (size_t)ir_slot_count(g, &g->params.data[i])));
  if (!ok) {
    if (err) *err = strdup("out of memory in the reference interpreter");
  } else {
    for (int sq = 0; sq < nseq; sq++) {
      long bos = a->cu_seqlens ? a->cu_seqlens[sq] : (long)sq * a->T;
      long eos = a->cu_seqlens ? a->cu_seqlens[sq + 1] : bos + a->T;
      for (int h = 0; h < a->H; h++) {
        long row = (long)sq * a->H + h;
        if (a->row_end > a->row_begin && (row < a->row_begin || row >= a->row_end)) continue;
        for (int i = 0; i < g->params.len; i++) {
          const Slot *sl = &g->params.data[i];
          long cnt = ir_slot_count(g, sl);
          permute(g, sl, (double *)a->params[i] + h * cnt, pvals[i], false);
        }
        for (int i = 0; i < g->states.len; i++) {
          const Slot *sl = &g->states.data[i];
          long cnt = ir_slot_count(g, sl);
          if (a->state_in && a->state_in[i])
            permute(g, sl, (double *)a->state_in[i] + ((long)sq * a->H + h) * cnt, states[i],
                    false);
          else
            memset(states[i], 0, sizeof(double) * (size_t)cnt);
        }
        for (long t = bos; t < eos; t++) {
          step(g, vals, states, a, t, h, pvals);
          for (int i = 0; i < g->states.len; i++) {
            const Slot *sl = &g->states.data[i];
            if (sl->value >= 0)
              memcpy(states[i], vals[sl->value], sizeof(double) * (size_t)ir_slot_count(g, sl));
          }
          for (int i = 0; i < g->outputs.len; i++) {
            const Slot *sl = &g->outputs.data[i];
            long cnt = ir_slot_count(g, sl);
            permute(g, sl, a->outputs[i] + (t * a->H + h) * cnt, vals[sl->value], true);
          }
        }
        for (int i = 0; a->state_out && i < g->states.len; i++) {
          const Slot *sl = &g->states.data[i];
          long cnt = ir_slot_count(g, sl);
          if (a->state_out[i])
            permute(g, sl, a->state_out[i] + ((long)sq * a->H + h) * cnt, states[i], true);
        }
      }
    }
  }
  for (int id = 0; vals && id < nn; id++) free(vals[id]);
  for (int i = 0; states && i < g->states.len; i++) free(states[i]);
  for (int i = 0; pvals && i < g->params.len; i++) free(pvals[i]);
  free(vals);
  free(states);
  free(pvals);
  return ok ? 0 : -1;
}
