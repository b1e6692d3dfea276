/* dce.c — dead-code removal.
 *
 * Requires a verified graph; produces a new verified graph holding only the
 * nodes that some state write or output depends on, in the same order.
 * Slots stay (an unused input is still an argument of the kernel).
 */
#include "passes.h"

Graph *pass_dce(Arena *a, const Graph *in) {
  int nn = in->nodes.len;
  bool *live = arena_alloc(a, (size_t)nn + 1);
  for (int i = 0; i < in->states.len; i++)
    if (in->states.data[i].value >= 0) live[in->states.data[i].value] = true;
  for (int i = 0; i < in->outputs.len; i++) live[in->outputs.data[i].value] = true;
  for (int id = nn - 1; id >= 0; id--) {
    if (!live[id]) continue;
    const Node *n = &in->nodes.data[id];
    for (int k = 0; k < ir_ops[n->op].nargs; k++) live[n->args[k]] = true;
  }
  Graph *g = ir_graph_copy_slots(a, in);
  int *map = arena_alloc(a, sizeof(int) * (size_t)(nn + 1));
  for (int id = 0; id < nn; id++) {
    map[id] = -1;
    if (!live[id]) continue;
    const Node *n = &in->nodes.data[id];
    int args[2] = {-1, -1};
    for (int k = 0; k < ir_ops[n->op].nargs; k++) args[k] = map[n->args[k]];
    map[id] = ir_clone(g, n, args);
  }
  ir_finish_rewrite(g, in, map, "dce");
  return g;
}
