/* factor.c — algebraic simplification of products and reductions.
 *
 * Requires a verified graph; produces a new verified graph computing the
 * same values (up to floating-point reassociation of products), with
 *
 *  - products flattened and regrouped by their dims: the factors over the
 *    same dims are multiplied together first, scalar factors go into the
 *    group of the outermost dims (lowest dim ids: the loop that is hoisted
 *    out of the inner loops), and groups are combined from the outermost
 *    to the innermost, so a broadcast product such as beta * k[K] * u[V]
 *    costs one multiplication per element of [K, V];
 *  - constant factors folded into one;
 *  - factors that do not depend on a reduction's dims moved out of it:
 *    sum(c * x, K) = c * sum(x, K) for c without K, and likewise for
 *    a @ b, which keeps its contraction form (so later passes still see a
 *    matrix product).
 *
 * Preserves slots and the meaning of every state write and output; breaks
 * nothing later passes rely on (node ids change; the result is a new graph).
 */
#include "passes.h"

#include <string.h>

enum { MAX_FACTORS = 32 };

typedef struct Factors {
  int id[MAX_FACTORS];
  int n;
  double coef;             /* product of the constant factors */
  bool overflow;           /* more factors than fit: do not regroup */
} Factors;

typedef struct Rw {
  const Graph *in;
  Graph *out;
  int *map;                /* old id -> new id */
} Rw;

static void push_factor(const Graph *g, Factors *f, int id) {
  const Node *n = &g->nodes.data[id];
  if (n->op == OP_CONST) {
    f->coef *= n->num;
    return;
  }
  if (f->n == MAX_FACTORS) {
    f->overflow = true;
    return;
  }
  f->id[f->n++] = id;
}

/* Collect the factors of new node `id` through MUL nodes (and outer
 * products, which are MULs). Negations become a -1 coefficient. */
static void collect(const Graph *g, Factors *f, int id, int depth) {
  const Node *n = &g->nodes.data[id];
  if (depth < 8 && n->op == OP_MUL) {
    collect(g, f, n->args[0], depth + 1);
    collect(g, f, n->args[1], depth + 1);
    return;
  }
  if (depth < 8 && n->op == OP_WRITE) {
    /* An identity: look through it to a product, but keep it as the factor
     * otherwise, so that readers of the state version still share it. */
    OpKind inner = g->nodes.data[n->args[0]].op;
    if (inner == OP_MUL || inner == OP_NEG || inner == OP_WRITE) {
      collect(g, f, n->args[0], depth + 1);
      return;
    }
  }
  if (depth < 8 && n->op == OP_NEG) {
    f->coef = -f->coef;
    collect(g, f, n->args[0], depth + 1);
    return;
  }
  push_factor(g, f, id);
}

static int highest_dim(DimSet s) { return s ? 31 - __builtin_clz(s) : -1; }

/* Order for combining groups: outermost dims first (lower highest dim),
 * then smaller sets. */
static bool group_before(DimSet a, DimSet b) {
  int ha = highest_dim(a), hb = highest_dim(b);
  if (ha != hb) return ha < hb;
  if (ir_popcount(a) != ir_popcount(b)) return ir_popcount(a) < ir_popcount(b);
  return a < b;
}

/* Build the product of the factors, grouped as described above. Returns a
 * new node id (a constant 1 if there are no factors). */
static int build_product(Graph *g, Factors *f, Span sp) {
  if (f->n == 0) return ir_const(g, f->coef, sp);
  /* Distinct dim sets, in combining order. */
  DimSet groups[MAX_FACTORS];
  int ng = 0;
  for (int i = 0; i < f->n; i++) {
    DimSet d = g->nodes.data[f->id[i]].dims;
    bool seen = false;
    for (int j = 0; j < ng; j++) seen |= groups[j] == d;
    if (!seen) groups[ng++] = d;
  }
  for (int i = 1; i < ng; i++)
    for (int j = i; j > 0 && group_before(groups[j], groups[j - 1]); j--) {
      DimSet t = groups[j];
      groups[j] = groups[j - 1];
      groups[j - 1] = t;
    }
  /* Scalars (dims 0) sort first, so they multiply into the outermost group. */
  int acc = f->coef != 1.0 ? ir_const(g, f->coef, sp) : -1;
  for (int gi = 0; gi < ng; gi++) {
    int part = -1;
    for (int i = 0; i < f->n; i++) {
      if (g->nodes.data[f->id[i]].dims != groups[gi]) continue;
      part = part < 0 ? f->id[i] : ir_binary(g, OP_MUL, part, f->id[i], sp);
    }
    acc = acc < 0 ? part : ir_binary(g, OP_MUL, acc, part, sp);
  }
  return acc;
}

/* Split factors into those touching `over` and those that do not. */
static void split(const Graph *g, const Factors *f, DimSet over, Factors *dep, Factors *indep) {
  dep->n = indep->n = 0;
  dep->coef = 1.0;
  indep->coef = f->coef;
  dep->overflow = indep->overflow = false;
  for (int i = 0; i < f->n; i++) {
    Factors *to = (g->nodes.data[f->id[i]].dims & over) ? dep : indep;
    to->id[to->n++] = f->id[i];
  }
}

static int rewrite_node(Rw *r, int old) {
  const Node *n = &r->in->nodes.data[old];
  Graph *g = r->out;
  int a = ir_ops[n->op].nargs > 0 ? r->map[n->args[0]] : -1;
  int b = ir_ops[n->op].nargs > 1 ? r->map[n->args[1]] : -1;
  switch (n->op) {
  case OP_MUL:
  case OP_NEG: {
    Factors f = {.coef = 1.0};
    collect(g, &f, a, 1);
    if (n->op == OP_MUL) collect(g, &f, b, 1);
    else f.coef = -f.coef;
    if (f.overflow) break;
    return build_product(g, &f, n->span);
  }
  case OP_SUM: {
    Factors f = {.coef = 1.0}, dep, indep;
    collect(g, &f, a, 1);
    if (f.overflow) break;
    split(g, &f, n->rdims, &dep, &indep);
    if (indep.n == 0 && indep.coef == 1.0) break;
    if (dep.n == 0) break;   /* sum of a broadcast constant: keep as written */
    int inner = ir_reduce(g, OP_SUM, build_product(g, &dep, n->span), n->rdims, n->span);
    indep.id[indep.n++] = inner;
    return build_product(g, &indep, n->span);
  }
  case OP_DOT: {
    Factors fa = {.coef = 1.0}, fb = {.coef = 1.0}, da, ia, db, ib;
    collect(g, &fa, a, 1);
    collect(g, &fb, b, 1);
    if (fa.overflow || fb.overflow) break;
    split(g, &fa, n->rdims, &da, &ia);
    split(g, &fb, n->rdims, &db, &ib);
    if (ia.n + ib.n == 0 && ia.coef * ib.coef == 1.0) break;
    if (da.n == 0 || db.n == 0) break;
    int l = build_product(g, &da, n->span), rr = build_product(g, &db, n->span);
    if ((g->nodes.data[l].dims & g->nodes.data[rr].dims) != n->rdims) break;
    int inner = ir_dot(g, l, rr, n->span);
    Factors out = {.coef = ia.coef * ib.coef};
    for (int i = 0; i < ia.n; i++) out.id[out.n++] = ia.id[i];
    for (int i = 0; i < ib.n && out.n < MAX_FACTORS - 1; i++) out.id[out.n++] = ib.id[i];
    out.id[out.n++] = inner;
    return build_product(g, &out, n->span);
  }
  default:
    break;
  }
  /* Copy unchanged (with the new operands). */
  int args[2] = {a, b};
  return ir_clone(g, n, args);
}

Graph *pass_factor(Arena *a, const Graph *in) {
  Graph *g = ir_graph_copy_slots(a, in);
  Rw r = {in, g, arena_alloc(a, sizeof(int) * (size_t)(in->nodes.len + 1))};
  for (int id = 0; id < in->nodes.len; id++) r.map[id] = rewrite_node(&r, id);
  ir_finish_rewrite(g, in, r.map, "factor pass");
  return g;
}
