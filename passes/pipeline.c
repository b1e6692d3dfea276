/* pipeline.c — the ordered list of passes from a checked step graph to a
 * kernel, in one place so the order reads in one screen. */
#include "passes.h"

#include <stdlib.h>
#include <string.h>

Graph *pass_canonicalize(Arena *a, const Graph *in) {
  Graph *g = pass_fold(a, in);               /* constants, dims, identities */
  g = pass_cse(a, g);                        /* one node per distinct value */
  g = pass_dce(a, g);                        /* what no write or output needs */
  return g;
}

Graph *pass_optimize(Arena *a, const Graph *in) {
  Graph *g = pass_factor(a, in);             /* products regrouped by dims */
  g = pass_fold(a, g);                       /* constants the regrouping met */
  g = pass_cse(a, g);
  g = pass_dce(a, g);
  return g;
}

Kernel *pass_pipeline(Arena *a, const Graph *g, PlanAlgo algo, int chunk, Diags *d,
                      const char **err) {
  *err = NULL;
  const char *unbound = ir_unbound_dim(g);
  if (unbound) {
    *err = unbound;
    return NULL;
  }
  Graph *c = pass_canonicalize(a, g);
  Analysis *an = pass_classify(a, c);        /* linearity, transition classes */
  Plan *p = pass_plan(a, c, an, algo, chunk, d);
  if (!p) return NULL;
  /* The yardstick of lrc bench: the chunkwise algorithm's work at its
   * chunk size, whatever the algorithm (the scan's chunk is another). */
  int C = p->chunk > 0 && p->algo != PLAN_SCAN ? p->chunk : pass_plan_chunk_size(c, an, NULL);
  Kernel *k = NULL;
  if (p->algo == PLAN_CHUNK) {
    const char *why = NULL;
    k = pass_lower_chunk(a, c, p->chunk, &why);
    /* auto falls back to recurrent where the lowering finds no form
     * (an output that is not a readout of the state, say). */
    if (!k && p->requested == PLAN_AUTO) p->algo = PLAN_RECURRENT;
    else if (!k) diag_error(d, (Span){0}, "--algo=chunk: %s; use --algo=recurrent", why);
  }
  if (p->algo == PLAN_CHUNK) {
    /* lowered above */
  } else if (p->algo == PLAN_SCAN) {
    const char *why = NULL;
    k = pass_lower_scan(a, c, p->chunk, &why);
    if (!k) diag_error(d, (Span){0}, "--algo=scan: %s; use --algo=recurrent", why);
  } else {
    Graph *o = pass_optimize(a, c);
    k = pass_lower_recurrent(a, o, o->name, err);
  }
  if (k && p->algo != PLAN_RECURRENT) pass_kir_fuse(k);   /* the recurrent lowering fuses */
  if (k && p->algo == PLAN_CHUNK) {
    /* The free statements first, for a GPU to run them over all chunks;
     * where that would change a value, the kernel stays as it is.
     * LRC_PHASE_CHECK=1 (the tests) fills what the free part does not
     * hand over with NaN before the rest runs. */
    const char *why = NULL, *chk = getenv("LRC_PHASE_CHECK");
    pass_chunk_phase_order(k, chk && strcmp(chk, "1") == 0, &why);
  }
  if (k) k->work_flops = pass_plan_flops(c, an, C);
  return k;
}
