/* verify.c — step-graph verifier.
 *
 * Checks what every pass may rely on: operands precede their users (the
 * node array is in topological order), arities match the op table, shapes
 * follow the named-dim rules, leaves name existing slots and dims, and
 * every written state and output has its declared dims. Returns the first
 * problem as text (a bug in lrc, not a user error).
 */
#include "ir.h"

static const char *fail(const Graph *g, int id, const char *what) {
  unsigned op = (unsigned)g->nodes.data[id].op;
  return arena_printf(g->arena, "%%%d (%s): %s", id, op < OP_COUNT ? ir_ops[op].text : "?",
                      what);
}

/* A slot's dims: ids of declared dims, each once, matching its dimset
 * (printers and kernels index the dim table with them). */
static const char *check_slot(const Graph *g, const Slot *s) {
  DimSet seen = 0;
  if (s->ndims < 0 || s->ndims > LRC_MAX_TENSOR_DIMS)
    return arena_printf(g->arena, "%s %s: bad dim count", ir_slot_kind_name(s->kind), s->name);
  for (int i = 0; i < s->ndims; i++) {
    int d = s->dims[i];
    if (d < 0 || d >= g->dims.len || (seen & (1u << d)))
      return arena_printf(g->arena, "%s %s: bad dims", ir_slot_kind_name(s->kind), s->name);
    seen |= 1u << d;
  }
  if (seen != s->dimset)
    return arena_printf(g->arena, "%s %s: dims and dim set differ", ir_slot_kind_name(s->kind),
                        s->name);
  return NULL;
}

const char *ir_verify(const Graph *g) {
  DimSet all = g->dims.len == 32 ? ~0u : (1u << g->dims.len) - 1;
  const Slot *lists[] = {g->inputs.data, g->params.data, g->states.data, g->outputs.data};
  int counts[] = {g->inputs.len, g->params.len, g->states.len, g->outputs.len};
  for (int l = 0; l < 4; l++)
    for (int i = 0; i < counts[l]; i++) {
      const char *bad = check_slot(g, &lists[l][i]);
      if (bad) return bad;
    }
  for (int id = 0; id < g->nodes.len; id++) {
    const Node *n = &g->nodes.data[id];
    if ((unsigned)n->op >= OP_COUNT) return fail(g, id, "bad op");
    const OpInfo *oi = &ir_ops[n->op];
    if (n->dims & ~all) return fail(g, id, "shape names an undeclared dim");
    for (int k = 0; k < oi->nargs; k++)
      if (n->args[k] < 0 || n->args[k] >= id) return fail(g, id, "operand not defined before use");
    DimSet a = oi->nargs > 0 ? g->nodes.data[n->args[0]].dims : 0;
    DimSet b = oi->nargs > 1 ? g->nodes.data[n->args[1]].dims : 0;
    switch (oi->cls) {
    case K_LEAF:
      switch (n->op) {
      case OP_CONST:
        if (n->dims) return fail(g, id, "constant with dims");
        break;
      case OP_DIM:
        if (n->index < 0 || n->index >= g->dims.len || n->dims) return fail(g, id, "bad dim");
        break;
      case OP_INPUT:
        if (n->index < 0 || n->index >= g->inputs.len ||
            n->dims != g->inputs.data[n->index].dimset)
          return fail(g, id, "bad input slot or shape");
        break;
      case OP_PARAM:
        if (n->index < 0 || n->index >= g->params.len ||
            n->dims != g->params.data[n->index].dimset)
          return fail(g, id, "bad param slot or shape");
        break;
      case OP_STATE:
        if (n->index < 0 || n->index >= g->states.len ||
            n->dims != g->states.data[n->index].dimset)
          return fail(g, id, "bad state slot or shape");
        break;
      default:
        return fail(g, id, "unknown leaf");
      }
      break;
    case K_UNARY:
      if (n->dims != a) return fail(g, id, "unary result shape differs from operand");
      if (n->op == OP_WRITE &&
          (n->index < 0 || n->index >= g->states.len || n->dims != g->states.data[n->index].dimset))
        return fail(g, id, "write of a bad state slot or shape");
      break;
    case K_BINARY:
      if (n->dims != (a | b)) return fail(g, id, "binary result shape is not the union");
      break;
    case K_REDUCE:
      if (!n->rdims || (a & n->rdims) != n->rdims || n->dims != (a & ~n->rdims))
        return fail(g, id, "bad reduction shape");
      break;
    case K_CONTRACT:
      if (!(a & b) || n->rdims != (a & b) || n->dims != ((a | b) & ~(a & b)))
        return fail(g, id, "bad contraction shape");
      break;
    }
  }
  for (int i = 0; i < g->states.len; i++) {
    const Slot *s = &g->states.data[i];
    if (s->value >= g->nodes.len) return arena_printf(g->arena, "state %s: bad value", s->name);
    if (s->value >= 0 && g->nodes.data[s->value].dims != s->dimset)
      return arena_printf(g->arena, "state %s: written with the wrong shape", s->name);
  }
  for (int i = 0; i < g->outputs.len; i++) {
    const Slot *s = &g->outputs.data[i];
    if (s->value < 0 || s->value >= g->nodes.len)
      return arena_printf(g->arena, "output %s: not written", s->name);
    if (g->nodes.data[s->value].dims != s->dimset)
      return arena_printf(g->arena, "output %s: written with the wrong shape", s->name);
  }
  return NULL;
}
