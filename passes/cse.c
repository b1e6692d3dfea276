/* cse.c — common subexpression elimination by hash-consing.
 *
 * Requires a verified graph; produces a new verified graph in which no two
 * nodes have the same operation, attributes and operands: the first
 * occurrence stands for every copy (l2norm(k) written twice is computed
 * once; a fn inlined at two call sites with the same arguments too).
 * Constants are equal when their float64 values are bit-identical.
 */
#include "passes.h"

#include <string.h>

typedef struct Key {
  OpKind op;
  int args[2];
  int index;
  DimSet dims, rdims;
  uint64_t num;
} Key;

static Key key_of(const Node *n, const int *args) {
  Key k;
  memset(&k, 0, sizeof k);   /* padding too: keys are hashed as bytes */
  k.op = n->op;
  k.args[0] = args[0];
  k.args[1] = args[1];
  k.index = ir_ops[n->op].cls == K_LEAF || n->op == OP_WRITE ? n->index : 0;
  k.dims = n->dims;
  k.rdims = n->rdims;
  memcpy(&k.num, &n->num, sizeof k.num);
  if (n->op != OP_CONST) k.num = 0;
  return k;
}

static uint64_t hash_key(const Key *k) {
  const unsigned char *p = (const unsigned char *)k;
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < sizeof *k; i++) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

Graph *pass_cse(Arena *a, const Graph *in) {
  Graph *g = ir_graph_copy_slots(a, in);
  int nn = in->nodes.len;
  int *map = arena_alloc(a, sizeof(int) * (size_t)(nn + 1));
  int cap = 16;
  while (cap < 2 * nn) cap *= 2;
  int *table = arena_alloc(a, sizeof(int) * (size_t)cap);   /* new ids + 1, 0 empty */
  Key *keys = arena_alloc(a, sizeof(Key) * (size_t)(nn + 1)); /* by new id */
  for (int id = 0; id < nn; id++) {
    const Node *n = &in->nodes.data[id];
    int args[2] = {-1, -1};
    for (int k = 0; k < ir_ops[n->op].nargs; k++) args[k] = map[n->args[k]];
    Key k = key_of(n, args);
    unsigned m = (unsigned)cap - 1, i = (unsigned)hash_key(&k) & m;
    int found = -1;
    for (; table[i]; i = (i + 1) & m) {
      if (memcmp(&keys[table[i] - 1], &k, sizeof k) == 0) {
        found = table[i] - 1;
        break;
      }
    }
    if (found >= 0) {
      map[id] = found;
      continue;
    }
    int nid = ir_clone(g, n, args);
    LRC_ASSERT(nid < nn);
    keys[nid] = k;
    table[i] = nid + 1;
    map[id] = nid;
  }
  ir_finish_rewrite(g, in, map, "cse");
  return g;
}
