/* print.c — step-graph printers: readable text (--emit=ir, the golden
 * files depend on it, keep it stable) and Graphviz (--emit=dot).
 */
#include "ir.h"

#include <string.h>

static void print_slot(const Graph *g, const Slot *s, Buf *out) {
  buf_puts(out, s->name);
  if (s->ndims) {
    buf_puts(out, "[");
    for (int i = 0; i < s->ndims; i++)
      buf_printf(out, "%s%s", i ? ", " : "", g->dims.data[s->dims[i]].name);
    buf_puts(out, "]");
  }
}

static void print_slots(const Graph *g, const char *kw, const Slot *v, int n, Buf *out) {
  if (!n) return;
  buf_printf(out, "  %-7s", kw);
  for (int i = 0; i < n; i++) {
    if (i) buf_puts(out, ", ");
    print_slot(g, &v[i], out);
  }
  buf_puts(out, "\n");
}

/* The operation part of a node: "mul %3, %4", "input q", "sum %2 over [K]". */
static void print_op(const Graph *g, const Node *n, Buf *out) {
  const OpInfo *oi = &ir_ops[n->op];
  buf_puts(out, oi->text);
  switch (n->op) {
  case OP_CONST: buf_printf(out, " %.9g", n->num); return;
  case OP_DIM: buf_printf(out, " %s", g->dims.data[n->index].name); return;
  case OP_INPUT: buf_printf(out, " %s", g->inputs.data[n->index].name); return;
  case OP_PARAM: buf_printf(out, " %s", g->params.data[n->index].name); return;
  case OP_STATE: buf_printf(out, " %s", g->states.data[n->index].name); return;
  case OP_WRITE:
    buf_printf(out, " %s, %%%d", g->states.data[n->index].name, n->args[0]);
    return;
  default: break;
  }
  for (int k = 0; k < oi->nargs; k++) buf_printf(out, "%s%%%d", k ? ", " : " ", n->args[k]);
  if (oi->cls == K_REDUCE || oi->cls == K_CONTRACT)
    buf_printf(out, " over %s", ir_dims_str(g, n->rdims));
}

void ir_print(const Graph *g, Buf *out) {
  buf_printf(out, "rnn %s {\n", g->name);
  if (g->dims.len) {
    buf_puts(out, "  dim    ");
    for (int i = 0; i < g->dims.len; i++) {
      buf_printf(out, "%s%s", i ? ", " : "", g->dims.data[i].name);
      if (g->dims.data[i].size) buf_printf(out, "=%ld", g->dims.data[i].size);
    }
    buf_puts(out, "\n");
  }
  print_slots(g, "input", g->inputs.data, g->inputs.len, out);
  print_slots(g, "param", g->params.data, g->params.len, out);
  print_slots(g, "state", g->states.data, g->states.len, out);
  print_slots(g, "output", g->outputs.data, g->outputs.len, out);
  buf_puts(out, "\n");
  for (int id = 0; id < g->nodes.len; id++) {
    const Node *n = &g->nodes.data[id];
    Buf line = {0};
    buf_printf(&line, "  %%%d = ", id);
    print_op(g, n, &line);
    buf_printf(out, "%-44s : f32%s\n", line.s ? line.s : "", ir_dims_str(g, n->dims));
    buf_free(&line);
  }
  buf_puts(out, "\n");
  for (int i = 0; i < g->states.len; i++) {
    const Slot *s = &g->states.data[i];
    if (s->value >= 0) buf_printf(out, "  state  %s <- %%%d\n", s->name, s->value);
    else buf_printf(out, "  state  %s unchanged\n", s->name);
  }
  for (int i = 0; i < g->outputs.len; i++)
    buf_printf(out, "  output %s <- %%%d\n", g->outputs.data[i].name, g->outputs.data[i].value);
  buf_puts(out, "}\n");
}

/* `s` with '"' and '\\' escaped, for inside a DOT string. */
static void dot_escape(const char *s, Buf *out) {
  for (const char *c = s ? s : ""; *c; c++) {
    if (*c == '"' || *c == '\\') buf_putn(out, "\\", 1);
    buf_putn(out, c, 1);
  }
}

/* Graphviz: leaves as ellipses (inputs, params, state reads), operations
 * as boxes, state writes and outputs as double octagons. */
void ir_print_dot(const Graph *g, Buf *out) {
  buf_puts(out, "digraph \"");
  dot_escape(g->name, out);
  buf_puts(out, "\" {\n  rankdir=TB;\n  node [fontname=\"monospace\"];\n");
  for (int id = 0; id < g->nodes.len; id++) {
    const Node *n = &g->nodes.data[id];
    Buf label = {0};
    print_op(g, n, &label);
    Buf esc = {0};
    dot_escape(label.s, &esc);
    const char *shape = ir_ops[n->op].cls == K_LEAF
                            ? (n->op == OP_CONST || n->op == OP_DIM ? "plaintext" : "ellipse")
                            : "box";
    const char *color = n->op == OP_STATE ? ", style=filled, fillcolor=\"#ffe9b3\""
                        : n->op == OP_INPUT || n->op == OP_PARAM
                            ? ", style=filled, fillcolor=\"#d6ecff\""
                            : "";
    buf_printf(out, "  n%d [label=\"%%%d %s\\n%s\", shape=%s%s];\n", id, id,
               esc.s ? esc.s : "", ir_dims_str(g, n->dims), shape, color);
    buf_free(&label);
    buf_free(&esc);
    for (int k = 0; k < ir_ops[n->op].nargs; k++)
      buf_printf(out, "  n%d -> n%d;\n", n->args[k], id);
  }
  for (int i = 0; i < g->states.len; i++) {
    const Slot *s = &g->states.data[i];
    if (s->value < 0) continue;
    buf_printf(out, "  state_%d [label=\"state ", i);
    dot_escape(s->name, out);
    buf_printf(out,
               " (next)\", shape=doubleoctagon, style=filled, fillcolor=\"#ffe9b3\"];\n"
               "  n%d -> state_%d;\n",
               s->value, i);
  }
  for (int i = 0; i < g->outputs.len; i++) {
    const Slot *s = &g->outputs.data[i];
    buf_printf(out, "  output_%d [label=\"output ", i);
    dot_escape(s->name, out);
    buf_printf(out,
               "\", shape=doubleoctagon, style=filled, fillcolor=\"#d9f2d9\"];\n"
               "  n%d -> output_%d;\n",
               s->value, i);
  }
  buf_puts(out, "}\n");
}
