/* graph.c — step-graph construction and the op table.
 *
 * Constructors compute each node's shape from the named-dim rules and
 * append it; they never fail on shapes (sema checks user-facing rules and
 * reports them with locations first), so a shape problem here is a bug.
 */
#include "ir.h"

#include <string.h>

const OpInfo ir_ops[OP_COUNT] = {
#define OP(name, text, nargs, kind) [OP_##name] = {text, nargs, kind},
#include "ops.def"
#undef OP
};

Graph *ir_graph_new(Arena *a, const char *name, Span sp) {
  Graph *g = arena_alloc(a, sizeof *g);
  g->arena = a;
  g->name = name;
  g->span = sp;
  return g;
}

Graph *ir_graph_copy_slots(Arena *a, const Graph *in) {
  Graph *g = ir_graph_new(a, in->name, in->span);
  for (int i = 0; i < in->dims.len; i++) VEC_PUSH(a, g->dims, in->dims.data[i]);
  for (int i = 0; i < in->inputs.len; i++) VEC_PUSH(a, g->inputs, in->inputs.data[i]);
  for (int i = 0; i < in->params.len; i++) VEC_PUSH(a, g->params, in->params.data[i]);
  for (int i = 0; i < in->states.len; i++) VEC_PUSH(a, g->states, in->states.data[i]);
  for (int i = 0; i < in->outputs.len; i++) VEC_PUSH(a, g->outputs, in->outputs.data[i]);
  for (int i = 0; i < g->states.len; i++) g->states.data[i].value = -1;
  for (int i = 0; i < g->outputs.len; i++) g->outputs.data[i].value = -1;
  return g;
}

void ir_finish_rewrite(Graph *g, const Graph *in, const int *map, const char *pass) {
  for (int i = 0; i < g->states.len; i++)
    if (in->states.data[i].value >= 0) g->states.data[i].value = map[in->states.data[i].value];
  for (int i = 0; i < g->outputs.len; i++)
    g->outputs.data[i].value = map[in->outputs.data[i].value];
  const char *bad = ir_verify(g);
  if (bad) ir_internal_error(__FILE__, __LINE__, "%s broke '%s': %s", pass, g->name, bad);
}

int ir_add_dim(Graph *g, const char *name, long size, Span sp) {
  LRC_ASSERT(g->dims.len < LRC_MAX_DIMS);
  DimInfo d = {name, size, sp};
  VEC_PUSH(g->arena, g->dims, d);
  return g->dims.len - 1;
}

int ir_find_dim(const Graph *g, const char *name) {
  for (int i = 0; i < g->dims.len; i++)
    if (strcmp(g->dims.data[i].name, name) == 0) return i;
  return -1;
}

int ir_popcount(DimSet s) { return __builtin_popcount(s); }

long ir_dims_count(const Graph *g, DimSet s) {
  long n = 1;
  for (int d = 0; d < g->dims.len; d++)
    if (s & (1u << d)) n *= g->dims.data[d].size;
  return n;
}

long ir_slot_count(const Graph *g, const Slot *sl) { return ir_dims_count(g, sl->dimset); }

const char *ir_unbound_dim(const Graph *g) {
  for (int d = 0; d < g->dims.len; d++)
    if (g->dims.data[d].size <= 0)
      return arena_printf(g->arena, "dim '%s' of rnn '%s' has no size; pass --dim %s=N",
                          g->dims.data[d].name, g->name, g->dims.data[d].name);
  return NULL;
}

static int push(Graph *g, Node n) {
  n.dtype = DT_F32;
  VEC_PUSH(g->arena, g->nodes, n);
  return g->nodes.len - 1;
}

static void check_arg(const Graph *g, int a) { LRC_ASSERT(a >= 0 && a < g->nodes.len); }

int ir_leaf(Graph *g, OpKind op, int index, DimSet dims, Span sp) {
  LRC_ASSERT(ir_ops[op].cls == K_LEAF);
  Node n = {.op = op, .dims = dims, .index = index, .args = {-1, -1}, .span = sp};
  return push(g, n);
}

int ir_const(Graph *g, double v, Span sp) {
  Node n = {.op = OP_CONST, .num = v, .args = {-1, -1}, .span = sp};
  return push(g, n);
}

int ir_unary(Graph *g, OpKind op, int a, Span sp) {
  LRC_ASSERT(ir_ops[op].cls == K_UNARY && op != OP_WRITE);
  check_arg(g, a);
  Node n = {.op = op, .dims = g->nodes.data[a].dims, .args = {a, -1}, .span = sp};
  return push(g, n);
}

int ir_binary(Graph *g, OpKind op, int a, int b, Span sp) {
  LRC_ASSERT(ir_ops[op].cls == K_BINARY);
  check_arg(g, a);
  check_arg(g, b);
  Node n = {.op = op, .dims = g->nodes.data[a].dims | g->nodes.data[b].dims,
            .args = {a, b}, .span = sp};
  return push(g, n);
}

int ir_reduce(Graph *g, OpKind op, int a, DimSet over, Span sp) {
  LRC_ASSERT(ir_ops[op].cls == K_REDUCE);
  check_arg(g, a);
  DimSet d = g->nodes.data[a].dims;
  LRC_ASSERT((d & over) == over && over != 0);
  Node n = {.op = op, .dims = d & ~over, .rdims = over, .args = {a, -1}, .span = sp};
  return push(g, n);
}

int ir_dot(Graph *g, int a, int b, Span sp) {
  check_arg(g, a);
  check_arg(g, b);
  DimSet da = g->nodes.data[a].dims, db = g->nodes.data[b].dims;
  DimSet shared = da & db;
  LRC_ASSERT(shared != 0);
  Node n = {.op = OP_DOT, .dims = (da | db) & ~shared, .rdims = shared, .args = {a, b},
            .span = sp};
  return push(g, n);
}

int ir_write(Graph *g, int slot, int a, Span sp) {
  check_arg(g, a);
  LRC_ASSERT(slot >= 0 && slot < g->states.len);
  Node n = {.op = OP_WRITE, .dims = g->nodes.data[a].dims, .index = slot, .args = {a, -1},
            .span = sp};
  return push(g, n);
}

static int clone(Graph *g, const Node *n, const int *args);

int ir_clone(Graph *g, const Node *n, const int *args) {
  int id = clone(g, n, args);
  if (!g->nodes.data[id].name) g->nodes.data[id].name = n->name;
  return id;
}

static int clone(Graph *g, const Node *n, const int *args) {
  switch (ir_ops[n->op].cls) {
  case K_LEAF:
    if (n->op == OP_CONST) return ir_const(g, n->num, n->span);
    return ir_leaf(g, n->op, n->index, n->dims, n->span);
  case K_UNARY:
    if (n->op == OP_WRITE) return ir_write(g, n->index, args[0], n->span);
    return ir_unary(g, n->op, args[0], n->span);
  case K_BINARY: return ir_binary(g, n->op, args[0], args[1], n->span);
  case K_REDUCE: return ir_reduce(g, n->op, args[0], n->rdims, n->span);
  case K_CONTRACT: return ir_dot(g, args[0], args[1], n->span);
  }
  LRC_UNREACHABLE();
}

const char *ir_dims_str(const Graph *g, DimSet s) {
  Buf b = {0};
  buf_puts(&b, "[");
  bool first = true;
  for (int i = 0; i < g->dims.len; i++) {
    if (!(s & (1u << i))) continue;
    buf_printf(&b, "%s%s", first ? "" : ", ", g->dims.data[i].name);
    first = false;
  }
  buf_puts(&b, "]");
  const char *r = arena_strdup(g->arena, b.s ? b.s : "[]");
  buf_free(&b);
  return r;
}

const char *ir_slot_kind_name(SlotKind k) {
  static const char *names[] = {"input", "param", "state", "output"};
  return names[k];
}
