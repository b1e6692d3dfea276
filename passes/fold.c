/* fold.c — constant folding and algebraic identities.
 *
 * Requires a verified graph; produces a new verified graph with the same
 * values where:
 *  - an operation on constants is a constant (evaluated in float64 and
 *    rounded to float32, as the kernels would see it), and a dim with a
 *    size is the constant size;
 *  - x + 0, 0 + x, x - 0, x * 1, 1 * x, x / 1, neg(neg(x)), x ^ 1 are x;
 *    x ^ 2 is x * x, x ^ 0.5 is sqrt(x), x ^ -0.5 is rsqrt(x);
 *  - 0 - x is neg(x).
 * An identity applies only when it keeps the result's dims (x * 1 with x a
 * scalar and 1 broadcast over [K] keeps the broadcast). Nodes made dead
 * stay in the graph for dce.c to remove.
 */
#include "passes.h"

#include <math.h>
#include <string.h>

typedef struct Fold {
  const Graph *in;
  Graph *out;
  int *map;
  bool *stateful;          /* out's nodes that depend on a state */
  int nknown;              /* ... for the first nknown */
  int cap;
} Fold;

/* Whether node `id` of the output graph depends on a state. */
static bool stateful(Fold *f, int id) {
  const Graph *g = f->out;
  if (g->nodes.len > f->cap) {
    int cap = 2 * g->nodes.len;
    bool *s = arena_alloc(g->arena, (size_t)cap);
    memcpy(s, f->stateful, (size_t)f->nknown);
    f->stateful = s, f->cap = cap;
  }
  for (; f->nknown < g->nodes.len; f->nknown++) {
    const Node *n = &g->nodes.data[f->nknown];
    bool d = n->op == OP_STATE;
    for (int k = 0; k < ir_ops[n->op].nargs; k++) d = d || f->stateful[n->args[k]];
    f->stateful[f->nknown] = d;
  }
  return f->stateful[id];
}

/* x @ (d * y) with x and d state-free and y not: (x * d) @ y where that
 * contracts the same dims (d over x's dims, say q @ (d * S) with d[K]),
 * repeatedly; so a readout through a decay is x' @ S, as the chunk form
 * reads it, and the product costs x's elements, not S's. -1 where none
 * applies. */
static int dot_through(Fold *f, int x, int m, Span sp) {
  Graph *g = f->out;
  bool moved = false;
  while (!stateful(f, x) && g->nodes.data[m].op == OP_MUL) {
    const Node *mn = &g->nodes.data[m];
    int d = mn->args[0], y = mn->args[1];
    if (stateful(f, d)) d = mn->args[1], y = mn->args[0];
    if (stateful(f, d) || !stateful(f, y)) break;
    DimSet dx = g->nodes.data[x].dims, dd = g->nodes.data[d].dims, dy = g->nodes.data[y].dims;
    if ((dx & (dd | dy)) != ((dx | dd) & dy)) break;
    x = ir_binary(g, OP_MUL, x, d, sp);
    m = y;
    moved = true;
  }
  return moved ? ir_dot(g, x, m, sp) : -1;
}

static bool is_const(const Graph *g, int id, double *v) {
  const Node *n = &g->nodes.data[id];
  if (n->op != OP_CONST) return false;
  if (v) *v = n->num;
  return true;
}

static bool const_eq(const Graph *g, int id, double v) {
  double c;
  return is_const(g, id, &c) && c == v;
}

/* The float64 value of an operation, rounded to float32. */
static double eval_unary(OpKind op, double x) {
  double r;
  switch (op) {
  case OP_NEG: r = -x; break;
  case OP_EXP: r = exp(x); break;
  case OP_LOG: r = log(x); break;
  case OP_SQRT: r = sqrt(x); break;
  case OP_RSQRT: r = 1 / sqrt(x); break;
  case OP_ABS: r = fabs(x); break;
  case OP_SIGMOID: r = 1 / (1 + exp(-x)); break;
  case OP_LOGSIGMOID: r = -(fmax(-x, 0) + log1p(exp(-fabs(x)))); break;
  case OP_SOFTPLUS: r = fmax(x, 0) + log1p(exp(-fabs(x))); break;
  case OP_SILU: r = x / (1 + exp(-x)); break;
  case OP_ELU: r = x > 0 ? x : expm1(x); break;
  case OP_RELU: r = x > 0 ? x : 0; break;
  case OP_TANH: r = tanh(x); break;
  default: LRC_UNREACHABLE();
  }
  return (float)r;
}

static double eval_binary(OpKind op, double a, double b) {
  double r;
  switch (op) {
  case OP_ADD: r = a + b; break;
  case OP_SUB: r = a - b; break;
  case OP_MUL: r = a * b; break;
  case OP_DIV: r = a / b; break;
  case OP_POW: r = pow(a, b); break;
  case OP_MAX: r = fmax(a, b); break;
  case OP_MIN: r = fmin(a, b); break;
  default: LRC_UNREACHABLE();
  }
  return (float)r;
}

static int fold_node(Fold *f, int old) {
  const Node *n = &f->in->nodes.data[old];
  Graph *g = f->out;
  int args[2] = {-1, -1};
  for (int k = 0; k < ir_ops[n->op].nargs; k++) args[k] = f->map[n->args[k]];
  int a = args[0], b = args[1];
  double x, y;
  switch (n->op) {
  case OP_DIM:
    if (g->dims.data[n->index].size > 0)
      return ir_const(g, (double)g->dims.data[n->index].size, n->span);
    break;
  case OP_WRITE:
    break;
  default:
    if (ir_ops[n->op].cls == K_UNARY && is_const(g, a, &x) && isfinite(eval_unary(n->op, x)))
      return ir_const(g, eval_unary(n->op, x), n->span);
    if (ir_ops[n->op].cls == K_BINARY && is_const(g, a, &x) && is_const(g, b, &y) &&
        isfinite(eval_binary(n->op, x, y)))
      return ir_const(g, eval_binary(n->op, x, y), n->span);
    break;
  }
  DimSet da = a >= 0 ? g->nodes.data[a].dims : 0, db = b >= 0 ? g->nodes.data[b].dims : 0;
  DimSet dn = da | db;   /* the dims of a binary result */
  switch (n->op) {
  case OP_ADD:
    if (const_eq(g, b, 0) && da == dn) return a;
    if (const_eq(g, a, 0) && db == dn) return b;
    break;
  case OP_SUB:
    if (const_eq(g, b, 0) && da == dn) return a;
    if (const_eq(g, a, 0) && db == dn) return ir_unary(g, OP_NEG, b, n->span);
    break;
  case OP_MUL:
    if (const_eq(g, b, 1) && da == dn) return a;
    if (const_eq(g, a, 1) && db == dn) return b;
    if (const_eq(g, a, -1) && db == dn) return ir_unary(g, OP_NEG, b, n->span);
    if (const_eq(g, b, -1) && da == dn) return ir_unary(g, OP_NEG, a, n->span);
    break;
  case OP_DIV:
    if (const_eq(g, b, 1) && da == dn) return a;
    break;
  case OP_NEG:
    if (g->nodes.data[a].op == OP_NEG) return g->nodes.data[a].args[0];
    break;
  case OP_SUM: {
    /* sum(x * y) over exactly the dims x and y share, y depending on a
     * state: x @ y (a readout written sum(q * z)). */
    const Node *m = &g->nodes.data[a];
    if (m->op == OP_MUL && stateful(f, a) &&
        n->rdims == (g->nodes.data[m->args[0]].dims & g->nodes.data[m->args[1]].dims)) {
      int u = m->args[0], w = m->args[1];
      if (stateful(f, u)) u = m->args[1], w = m->args[0];
      int r = dot_through(f, u, w, n->span);
      return r >= 0 ? r : ir_dot(g, u, w, n->span);
    }
    break;
  }
  case OP_DOT: {
    int r = dot_through(f, a, b, n->span);
    if (r < 0) r = dot_through(f, b, a, n->span);
    if (r >= 0) return r;
    break;
  }
  case OP_POW:
    if (!is_const(g, b, &y) || db != 0) break;
    if (y == 1) return a;
    if (y == 2) return ir_binary(g, OP_MUL, a, a, n->span);
    if (y == 0.5) return ir_unary(g, OP_SQRT, a, n->span);
    if (y == -0.5) return ir_unary(g, OP_RSQRT, a, n->span);
    break;
  default:
    break;
  }
  return ir_clone(g, n, args);
}

Graph *pass_fold(Arena *a, const Graph *in) {
  Graph *g = ir_graph_copy_slots(a, in);
  Fold f = {.in = in, .out = g, .map = arena_alloc(a, sizeof(int) * (size_t)(in->nodes.len + 1)),
            .cap = in->nodes.len + 16};
  f.stateful = arena_alloc(a, (size_t)f.cap);
  for (int id = 0; id < in->nodes.len; id++) f.map[id] = fold_node(&f, id);
  ir_finish_rewrite(g, in, f.map, "fold");
  return g;
}
