/* plan.c — choose the algorithm for each state from its transition class.
 *
 * Requires the canonical graph and its classification. Auto picks the
 * recurrent algorithm; --algo=chunk gives the chunkwise one for the
 * classes that have it here (identity, scalar and diagonal decays, the
 * delta rule and the delta product in WY form); --algo=scan gives the
 * chunked linear scan for the classes whose transition is a decay of the
 * state (identity, scalar, diagonal, elementwise). Asking for a parallel
 * form (auto, scan, chunk)
 * of an update that is not linear in the states is an error located at
 * the expression that breaks linearity. --algo=recurrent runs any rnn.
 */
#include "passes.h"

#include <string.h>

static const char *algo_name(PlanAlgo a) {
  static const char *names[] = {"auto", "recurrent", "scan", "chunk"};
  return names[a];
}

/* The parallel form a class admits (ALGORITHMS.md §1.2), for the plan
 * text; where this version does not build it, the text says so. */
static const char *parallel_form(TransClass k) {
  switch (k) {
  case TC_UNWRITTEN: return "none needed";
  case TC_IDENTITY:
  case TC_SCALAR: return "chunk (matrix products) or scan";
  case TC_DIAG:
  case TC_DIAG_V: return "chunk with per-key decay or scan";
  case TC_ELEMENTWISE: return "scan";
  case TC_DELTA: return "chunk, WY/UT form";
  case TC_DELTA_PRODUCT: return "chunk, WY/UT form over interleaved tokens";
  case TC_DPLR: return "chunk, WY/UT form with the erase's two sides";
  case TC_DENSE: return "scan with dense products (not in this version: recurrent only)";
  case TC_NONLINEAR: return "none";
  }
  return "none";
}

/* Cost model, per token, in multiply-adds at the machine's peak rate.
 * Recurrent: about 2.5 (scalar decay) or 3.5 (delta rule: two passes)
 * multiply-adds per element of each K x V state, at about 50% or 34% of
 * peak (the state streams through L2 every token). Chunk of C tokens
 * (ALGORITHMS.md §3.7): intra-chunk products C(K+V) (delta: C(3K+2V))
 * plus the state's 2KV (delta: 3KV), as matrix products whose efficiency
 * 0.9 C/(C+12) grows with their reduction length C. Fitted on the 2-core
 * AVX2 machine of docs/perf-cpu.md, where it predicts the measured
 * chunk/recurrent ratios of simple GLA (1.33x) and Gated DeltaNet (1.67x)
 * within 10% and ranks C = 16, 32, 64 as measured. */
static void state_kv(const Graph *g, const Analysis *an, int i, double *K, double *V) {
  const Slot *sl = &g->states.data[i];
  int key = an->st[i].key;
  *K = key >= 0 ? (double)g->dims.data[key].size : 1;
  *V = 1;
  for (int d = 0; d < sl->ndims; d++)
    if (sl->dims[d] != key) *V *= (double)g->dims.data[sl->dims[d]].size;
}

/* Erase steps per token: several for a delta product, whose chunk form
 * runs on that many virtual rows per token (each costs as a token). */
static double steps(const Analysis *an, int i) {
  const StepForm *f = an->st[i].form;
  return f && f->nerase > 1 ? f->nerase : 1;
}

/* The classes whose chunk form is the WY one: the delta rule, the delta
 * product, and diagonal plus rank 1 (its erase's sides may differ). */
static bool is_delta(TransClass k) { return k == TC_DELTA || k == TC_DELTA_PRODUCT || k == TC_DPLR; }

/* Is state i's decay per key? A vector state's elementwise decay is its
 * per-key one too (a normaliser z[K] beside GLA's S, the case V = 1). */
static bool key_decay(const Graph *g, const Analysis *an, int i) {
  TransClass k = an->st[i].cls;
  return k == TC_DIAG || (k == TC_ELEMENTWISE && g->states.data[i].ndims == 1);
}

int pass_plan_chunk_size(const Graph *g, const Analysis *an, double *speedup) {
  static const int sizes[] = {16, 32, 64};
  double rec = 0, best = 0;
  int bestc = 64;
  for (int i = 0; i < g->states.len; i++) {
    double K, V;
    state_kv(g, an, i, &K, &V);
    rec += is_delta(an->st[i].cls) ? steps(an, i) * 3.5 * K * V / 0.34 : 2.5 * K * V / 0.5;
  }
  for (int s = 0; s < 3; s++) {
    double C = sizes[s], cost = 0;
    for (int i = 0; i < g->states.len; i++) {
      double K, V, n = steps(an, i), Cv = C * n;
      state_kv(g, an, i, &K, &V);
      bool delta = is_delta(an->st[i].cls);
      cost += n * (Cv * (delta ? 3 * K + 2 * V : K + V) + (delta ? 3 : 2) * K * V) /
              (0.9 * Cv / (Cv + 12));
      /* A per-value decay: C V exponentials per token inside the
       * intra-chunk product, about 16 multiply-adds each; a per-key one
       * factorises while the chunk's decays stay bounded (2 K
       * exponentials per token) and is modelled so. */
      if (key_decay(g, an, i)) cost += 16 * 2 * K;
      if (an->st[i].cls == TC_DIAG_V) cost += 16 * C * V;
      /* A per-key decay before an erase (KDA): its decays leave e^±20
       * within a chunk as soon as they are strong, and then every product
       * with the keys (K Kᵀ, the readouts) takes the exact elementwise
       * form, C K exponentials per token each: measured 0.4x the
       * recurrent speed at C = 32, K = V = 128. */
      if (delta && an->st[i].form && an->st[i].form->ddims) cost += 3 * 16 * C * K;
    }
    if (s == 0 || cost < best) best = cost, bestc = sizes[s];
  }
  if (speedup) *speedup = best > 0 ? rec / best : 0;
  return bestc;
}

double pass_plan_flops(const Graph *g, const Analysis *an, int C) {
  double f = 0, c = C;
  for (int i = 0; i < g->states.len; i++) {
    double K, V;
    state_kv(g, an, i, &K, &V);
    double n = steps(an, i), cv = c * n;
    if (is_delta(an->st[i].cls))
      f += n * (6 * cv * K + 4 * cv * V + 6 * K * V + cv * cv / 3);
    else
      f += 2 * c * (K + V) + 4 * K * V;
  }
  return f;
}

/* The scan's chunk size: a chunk's tiles of every state (X, and A or E
 * beside it) should stay in the L2 cache, about 256 KiB here; at most 64
 * tokens. The time hardly depends on it otherwise: Mamba and HGRN run
 * within the noise from C = 8 to 128 (docs/perf-cpu.md). */
int pass_plan_scan_chunk(const Graph *g) {
  long bytes = 0;
  for (int i = 0; i < g->states.len; i++) bytes += 4 * ir_slot_count(g, &g->states.data[i]);
  int C = 64;
  while (C > 1 && 2 * C * bytes > 256 * 1024) C /= 2;
  return C;
}

static bool is_scan_class(TransClass k) {
  return k == TC_UNWRITTEN || k == TC_IDENTITY || k == TC_SCALAR || k == TC_DIAG ||
         k == TC_DIAG_V || k == TC_ELEMENTWISE;
}

/* --algo=scan: every state's transition a decay of the state, and its
 * tiles of C tokens within PLAN_SCAN_TILE_MAX. */
static bool plan_scan(Plan *p, const Graph *g, const Analysis *an, Diags *d) {
  for (int i = 0; i < g->states.len; i++) {
    const StateInfo *si = &an->st[i];
    if (is_scan_class(si->cls)) continue;
    bool delta = is_delta(si->cls);
    diag_error(d, (Span){0},
               "no scan form for state '%s' (%s transition: %s): products of such "
               "transitions over several tokens are dense matrices, which a scan would carry; "
               "use %s",
               g->states.data[i].name, pass_class_name(si->cls), si->transition,
               delta ? "--algo=chunk or --algo=recurrent" : "--algo=recurrent");
    return false;
  }
  p->algo = PLAN_SCAN;
  if (p->chunk <= 0) p->chunk = pass_plan_scan_chunk(g);
  for (int i = 0; i < g->states.len; i++) {
    double bytes = (double)p->chunk * 4 * (double)ir_slot_count(g, &g->states.data[i]);
    if (bytes <= PLAN_SCAN_TILE_MAX) continue;
    diag_error(d, (Span){0},
               "--algo=scan: the tiles of state '%s' for a chunk of %d tokens would take "
               "%.1f MiB each, above the %d MiB limit; use a smaller --chunk, --algo=chunk or "
               "--algo=recurrent",
               g->states.data[i].name, p->chunk, bytes / (1 << 20), PLAN_SCAN_TILE_MAX >> 20);
    return false;
  }
  return true;
}

/* Has every state a chunk form here? If not, says why (d may be NULL). */
static bool chunk_form(const Graph *g, const Analysis *an, Diags *d) {
  for (int i = 0; i < g->states.len; i++) {
    TransClass k = an->st[i].cls;
    if (k != TC_IDENTITY && k != TC_SCALAR && k != TC_UNWRITTEN && !is_delta(k) &&
        !key_decay(g, an, i) && k != TC_DIAG_V) {
      if (d) diag_error(d, (Span){0},
                 "--algo=chunk for state '%s' (%s transition: %s) is not implemented in "
                 "this version; use --algo=recurrent",
                 g->states.data[i].name, pass_class_name(k), an->st[i].transition);
      return false;
    }
    if (is_delta(k) && !an->st[i].form) {
      if (d) diag_error(d, (Span){0},
                 "--algo=chunk for state '%s': its update is not of the form the WY chunk "
                 "form takes, a decay and then erases S + beta k (v - kᵀS)ᵀ, each "
                 "followed by its own inputs only, or one erase a S + b (yᵀS) + k vᵀ "
                 "(a per-value decay with an erase, a per-key decay after an erase, "
                 "several erases with two sides are not supported in this version: "
                 "scalar decays may come anywhere); use --algo=recurrent",
                 g->states.data[i].name);
      return false;
    }
  }
  return true;
}

Plan *pass_plan(Arena *a, const Graph *g, const Analysis *an, PlanAlgo algo, int chunk, Diags *d) {
  Plan *p = arena_alloc(a, sizeof *p);
  p->an = an;
  p->requested = algo;
  p->chunk = chunk;
  p->algo = PLAN_RECURRENT;
  if (algo == PLAN_RECURRENT) return p;
  bool ok = true;
  for (int i = 0; i < g->states.len; i++) {
    const StateInfo *si = &an->st[i];
    if (si->cls != TC_NONLINEAR) continue;
    ok = false;
    const Node *n = &g->nodes.data[si->culprit];
    const Slot *sl = &g->states.data[i];
    diag_error(d, n->span, "the update of state '%s' is not linear in the states: '%s' is not, "
               "because %s", sl->name, pass_node_text(a, g, si->culprit), si->why);
    const Node *w = sl->value >= 0 ? &g->nodes.data[sl->value] : NULL;
    if (w && w->op == OP_WRITE) diag_note(d, w->span, "state '%s' is assigned here", sl->name);
    diag_note(d, (Span){0},
              "no scan or chunkwise form exists for a recurrence that is not linear in its "
              "state; --algo=recurrent runs it token by token");
  }
  if (!ok) return NULL;
  if (algo == PLAN_SCAN) return plan_scan(p, g, an, d) ? p : NULL;
  if (algo == PLAN_CHUNK) {
    if (!chunk_form(g, an, d)) return NULL;
    p->algo = PLAN_CHUNK;
    int c = pass_plan_chunk_size(g, an, &p->speedup);
    if (p->chunk <= 0) p->chunk = c;
  } else if (algo == PLAN_AUTO && chunk_form(g, an, NULL)) {
    /* The chunk form where the model gives it a clear lead on long
     * sequences (decode-sized T wants --algo=recurrent) and the lowering
     * finds it (an output that is not a readout of the state has none). */
    double speedup;
    int c = pass_plan_chunk_size(g, an, &speedup);
    const char *why = NULL;
    if (speedup >= PLAN_AUTO_CHUNK_GAIN && pass_lower_chunk(a, g, chunk > 0 ? chunk : c, &why)) {
      p->algo = PLAN_CHUNK, p->speedup = speedup;
      if (p->chunk <= 0) p->chunk = c;
    }
  }
  return p;
}

void pass_plan_print(const Plan *p, const Graph *g, Buf *out) {
  buf_printf(out, "rnn %s: algo = %s", g->name, algo_name(p->algo));
  if (p->algo == PLAN_CHUNK || p->algo == PLAN_SCAN) buf_printf(out, "(C=%d)", p->chunk);
  if (p->requested != p->algo) buf_printf(out, " (asked: %s)", algo_name(p->requested));
  if (p->algo == PLAN_CHUNK && p->speedup > 0)
    buf_printf(out, "; modelled %.1fx the recurrent speed on long sequences", p->speedup);
  buf_puts(out, "\n");
  for (int i = 0; i < g->states.len; i++) {
    const StateInfo *si = &p->an->st[i];
    buf_printf(out, "  %s: transition = %s; class = %s; parallel form: %s%s; algo = %s",
               g->states.data[i].name, si->transition, pass_class_name(si->cls),
               parallel_form(si->cls),
               is_delta(si->cls) && !si->form ? " (not for this update in this version: recurrent only)" : "",
               algo_name(p->algo));
    if (p->algo == PLAN_CHUNK)
      buf_printf(out, "(C=%d%s)", p->chunk, is_delta(si->cls) ? ", WY" : "");
    if (p->algo == PLAN_SCAN) buf_printf(out, "(C=%d)", p->chunk);
    const Slot *sl = &g->states.data[i];
    if (sl->ndims > 1 && si->key >= 0 && si->key != sl->dims[0])
      buf_printf(out, "; key dim %s (the one x @ %s contracts)", g->dims.data[si->key].name, sl->name);
    buf_puts(out, "\n");
  }
}
