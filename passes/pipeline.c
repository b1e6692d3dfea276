/* pipeline.c — the ordered list of passes from a checked step graph to a
 * kernel, in one place so the order reads in one screen. */
#include "passes.h"

Kernel *pass_pipeline(Arena *a, const Graph *g, const char **err) {
  const char *unbound = ir_unbound_dim(g);
  if (unbound) {
    *err = unbound;
    return NULL;
  }
  g = pass_factor(a, g);                     /* products regrouped by dims */
  return pass_lower_recurrent(a, g, g->name, err);
}
