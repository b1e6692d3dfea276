/* pipeline.c — the ordered list of passes from a checked step graph to a
 * kernel, in one place so the order reads in one screen. */
#include "passes.h"

Graph *pass_canonicalize(Arena *a, const Graph *in) {
  Graph *g = pass_fold(a, in);               /* constants, dims, identities */
  g = pass_cse(a, g);                        /* one node per distinct value */
  g = pass_factor(a, g);                     /* products regrouped by dims */
  g = pass_fold(a, g);                       /* constants the regrouping met */
  g = pass_cse(a, g);
  g = pass_dce(a, g);                        /* what no write or output needs */
  return g;
}

Kernel *pass_pipeline(Arena *a, const Graph *g, const char **err) {
  const char *unbound = ir_unbound_dim(g);
  if (unbound) {
    *err = unbound;
    return NULL;
  }
  Graph *c = pass_canonicalize(a, g);
  return pass_lower_recurrent(a, c, c->name, err);
}
