/* scan.c — lower to the chunked linear scan (ALGORITHMS.md §3.1).
 *
 * Requires the canonical graph (fold, cse, dce; not factor) of an rnn whose
 * every written state has the step form (classify.c, StepForm) with no
 * erase: h_t = a_t ⊙ h_{t−1} + b_t, the decay a_t a product of state-free
 * factors over some of the state's dims (none: scalar; the key dim:
 * diagonal; value dims; all: elementwise) and b_t a sum of state-free
 * products. Several assignments to a state in one step are composed there
 * (a = a2 a1, b = a2 b1 + b2). The outputs may be any function of the
 * states, before or after the token's update, or of any version between
 * two assignments. Produces one fused kernel:
 *
 *   one program per (sequence, head) row, the states in tiles S:
 *     per chunk of L <= C tokens:
 *       load the chunk's input rows as tiles [C, dims]
 *       the prologue (state-free nodes) over [C, ...]
 *       per state: A[C, decay dims] = a_t, X[C, state dims] = b_t
 *       scan X along C rows < L decay A from S (prior E):
 *         X[c] = A[c] X[c−1] + X[c], X[−1] = S, then S = X[L−1];
 *         E[c] = X[c−1], the state before token c, where something reads it
 *       the epilogue (state-dependent nodes) over [C, ...], reading the
 *       updated state from X and the previous one from E
 *       store the L output rows
 *
 * The scan runs only over the L present rows: rows past the end of a
 * sequence are never combined into the state, so they need no identity
 * elements (a = 1, b = 0), and zero-padded inputs cannot reach the state
 * as inf · 0 through a division. It is sequential along C in every
 * backend (vectorised, or spread over threads, across the state's
 * elements). Nodes are fused as in recurrent.c: an elementwise node used
 * once at its own shape, or cheap and not recomputed along an innermost
 * loop, is inlined into its users; everything else gets a tile.
 *
 * Returns NULL with *why when the rnn is outside that shape.
 */
#include "passes.h"

#include <math.h>
#include <stdlib.h>

typedef struct SState {
  const StepForm *form;    /* the update a ⊙ S + Σ b; NULL: never written */
  int write;               /* the state's final version (a WRITE node), -1 */
  bool before;             /* something reads the state before its update */
  int A, X, E;             /* tiles: decay (-1: a = 1), values [C, state
                              dims], values before each token (-1: none) */
} SState;

typedef struct Sc {
  Arena *arena;
  const Graph *g;
  Kernel *k;
  const char *why;
  int dc;                  /* the chunk's token dim C */
  uint64_t *dep;           /* states a node depends on */
  bool *pertoken;          /* depends on an input */
  bool *need;              /* a state-free node the kernel evaluates */
  bool *epi;               /* a state-dependent node an output needs */
  bool *final;             /* an output's value: stored from a tile */
  bool *inl;               /* evaluated inside its users' expressions */
  int *tile;               /* node -> tile, -1 */
  int *stile;              /* state -> its tile S */
  SState *st;
} Sc;

static bool fail(Sc *c, const char *why) {
  if (!c->why) c->why = why;
  return false;
}

static int fid(int f) { return f < 0 ? ~f : f; }

static bool scan_class(TransClass k) {
  return k == TC_UNWRITTEN || k == TC_IDENTITY || k == TC_SCALAR || k == TC_DIAG ||
         k == TC_DIAG_V || k == TC_ELEMENTWISE;
}

static void mark_need(Sc *c, int id) {
  if (c->need[id] || c->dep[id]) return;
  c->need[id] = true;
  const Node *n = &c->g->nodes.data[id];
  for (int a = 0; a < ir_ops[n->op].nargs; a++) mark_need(c, n->args[a]);
}

/* A node that stands for a tile of the scan: a state read (E, or S for a
 * state never written) or a state's final version (X). */
static bool mapped(const Sc *c, int id) {
  const Node *n = &c->g->nodes.data[id];
  return n->op == OP_STATE || (n->op == OP_WRITE && c->st[n->index].write == id);
}

/* Evaluated over the chunk's tokens: per token, or after the scan. */
static DimSet chunk_dims(const Sc *c, int id) {
  return c->pertoken[id] || c->epi[id] ? 1u << c->dc : 0;
}

static bool analyse(Sc *c) {
  const Graph *g = c->g;
  int nn = g->nodes.len;
  if (g->states.len > 64) return fail(c, "more than 64 states");
  for (int id = 0; id < nn; id++) {
    const Node *n = &g->nodes.data[id];
    uint64_t d = 0;
    bool pt = n->op == OP_INPUT;
    for (int a = 0; a < ir_ops[n->op].nargs; a++) {
      d |= c->dep[n->args[a]];
      pt |= c->pertoken[n->args[a]];
    }
    if (n->op == OP_STATE) d = 1ull << n->index;
    c->dep[id] = d;
    c->pertoken[id] = pt;
    c->tile[id] = -1;
  }
  const Analysis *an = pass_classify(c->arena, g);
  for (int i = 0; i < g->states.len; i++) {
    const Slot *sl = &g->states.data[i];
    const StateInfo *si = &an->st[i];
    SState *ss = &c->st[i];
    ss->write = -1;
    ss->A = ss->X = ss->E = -1;
    if (si->cls == TC_UNWRITTEN) continue;
    if (!scan_class(si->cls))
      return fail(c, arena_printf(c->arena, "no scan form for state '%s' (%s transition: %s)",
                                  sl->name, pass_class_name(si->cls), si->transition));
    const StepForm *fm = si->form;
    int w = sl->value;
    uint64_t others = w >= 0 ? c->dep[w] & ~(1ull << i) : 0;
    for (int j = 0; others && j < g->states.len; j++)
      if (others & (1ull << j))
        return fail(c, arena_printf(c->arena,
                                    "the update of state '%s' reads state '%s' (coupled states "
                                    "have no scan form here)",
                                    sl->name, g->states.data[j].name));
    if (!fm || fm->erase || w < 0 || g->nodes.data[w].op != OP_WRITE)
      return fail(c, arena_printf(c->arena,
                                  "the update of state '%s' is not of the form α ⊙ %s + β with "
                                  "α a product of state-free factors and β state-free (a sum "
                                  "of decays, or a state replaced without reading it)",
                                  sl->name, sl->name));
    ss->form = fm;
    ss->write = w;
    for (int j = 0; j < fm->alpha.nf; j++) mark_need(c, fid(fm->alpha.f[j]));
    for (int s = 0; s < fm->nin; s++)
      for (int j = 0; j < fm->in[s].nf; j++) mark_need(c, fid(fm->in[s].f[j]));
  }
  /* Outputs: state-free parts, state reads, and the epilogue between. */
  bool *seen = arena_alloc(c->arena, (size_t)nn + 1);
  int *stack = malloc(sizeof(int) * (size_t)(2 * nn + 2));   /* an entry per edge */
  if (!stack) ir_internal_error(__FILE__, __LINE__, "out of memory");
  for (int o = 0; o < g->outputs.len; o++) {
    int sp = 0;
    stack[sp++] = g->outputs.data[o].value;
    c->final[g->outputs.data[o].value] = true;
    while (sp) {
      int id = stack[--sp];
      if (seen[id]) continue;
      seen[id] = true;
      const Node *n = &g->nodes.data[id];
      if (!c->dep[id]) {
        mark_need(c, id);
        continue;
      }
      if (n->op == OP_STATE) {
        if (c->st[n->index].write >= 0) c->st[n->index].before = true;
        continue;
      }
      if (mapped(c, id)) continue;
      c->epi[id] = true;   /* (an intermediate version: the value of its assignment) */
      for (int a = 0; a < ir_ops[n->op].nargs; a++)
        if (!seen[n->args[a]]) stack[sp++] = n->args[a];
    }
  }
  free(stack);
  return true;
}

/* ---------------------------------------------------------------------- */
/* Fusion                                                                  */

static int op_weight(OpKind op) {
  switch (op) {
  case OP_WRITE: return 0;
  case OP_ADD: case OP_SUB: case OP_MUL: case OP_NEG: case OP_MAX: case OP_MIN:
  case OP_ABS: case OP_RELU:
    return 1;
  case OP_DIV: return 4;
  default: return 10;
  }
}

static bool is_elementwise(const Node *n) {
  OpClass k = ir_ops[n->op].cls;
  return k == K_UNARY || k == K_BINARY;
}

enum { MAXS = 8 };

typedef struct Sites {
  int n;                   /* > MAXS: too many to track */
  DimSet s[MAXS];
} Sites;

static void add_site(Sites *x, DimSet sp) {
  if (x->n > MAXS) return;
  for (int j = 0; j < x->n; j++)
    if (x->s[j] == sp) return;
  if (x->n < MAXS) x->s[x->n] = sp;
  x->n++;
}

/* The spaces of the A and X nests of state i. */
static DimSet decay_space(const Sc *c, const StepForm *fm) {
  DimSet d = 0;
  for (int j = 0; j < fm->alpha.nf; j++) {
    int id = fid(fm->alpha.f[j]);
    d |= c->g->nodes.data[id].dims | chunk_dims(c, id);
  }
  return d;
}

/* Decide which evaluated nodes are inlined (recurrent.c's rule, with the
 * chunk's token dim added to every per-token shape). Users are visited
 * before their operands, so a node knows the nests it would be evaluated
 * in if inlined (its sites): the A and X nests seed the factors' sites. */
static void plan_fusion(Sc *c) {
  const Graph *g = c->g;
  const Kernel *k = c->k;
  int nn = g->nodes.len;
  Sites *sites = calloc((size_t)nn + 1, sizeof *sites);
  int *uses = calloc((size_t)nn + 1, sizeof *uses);
  int *weight = calloc((size_t)nn + 1, sizeof *weight);
  if (!sites || !uses || !weight) ir_internal_error(__FILE__, __LINE__, "out of memory");
  for (int id = 0; id < nn; id++) {
    const Node *n = &g->nodes.data[id];
    if (!(c->need[id] || c->epi[id])) continue;
    for (int a = 0; a < ir_ops[n->op].nargs; a++) uses[n->args[a]]++;
  }
  for (int i = 0; i < g->states.len; i++) {
    const StepForm *fm = c->st[i].form;
    if (!fm) continue;
    DimSet as = decay_space(c, fm), xs = g->states.data[i].dimset | (1u << c->dc);
    for (int j = 0; j < fm->alpha.nf; j++) {
      uses[fid(fm->alpha.f[j])]++;
      add_site(&sites[fid(fm->alpha.f[j])], as);
    }
    for (int s = 0; s < fm->nin; s++)
      for (int j = 0; j < fm->in[s].nf; j++) {
        uses[fid(fm->in[s].f[j])]++;
        add_site(&sites[fid(fm->in[s].f[j])], xs);
      }
  }
  for (int id = 0; id < nn; id++) {
    const Node *n = &g->nodes.data[id];
    if (!is_elementwise(n)) continue;
    int w = op_weight(n->op);
    for (int a = 0; a < ir_ops[n->op].nargs; a++) {
      const Node *an = &g->nodes.data[n->args[a]];
      if (is_elementwise(an) && uses[n->args[a]] == 1 && an->dims == n->dims) w += weight[n->args[a]];
    }
    weight[id] = w > 1000 ? 1000 : w;
  }
  for (int id = nn - 1; id >= 0; id--) {
    const Node *n = &g->nodes.data[id];
    if (!(c->need[id] || c->epi[id]) || mapped(c, id)) continue;
    DimSet own = n->dims | chunk_dims(c, id);
    bool inl;
    if (n->op == OP_CONST || n->op == OP_DIM) inl = true;
    else if (!is_elementwise(n) || c->final[id] || sites[id].n > MAXS || sites[id].n == 0)
      inl = false;
    else {
      bool single = uses[id] == 1 && sites[id].n == 1 && sites[id].s[0] == own;
      /* Recomputed along a site's innermost loop (it has that dim but not
       * all of the site's): a tile is cheaper than redoing it per element. */
      bool inner = false;
      for (int j = 0; j < sites[id].n; j++) {
        int hi = kir_inner_dim(k, sites[id].s[j]);
        if (sites[id].s[j] != own && hi >= 0 && (own & (1u << hi))) inner = true;
      }
      inl = single || (weight[id] <= 2 && !inner);
    }
    c->inl[id] = inl;
    for (int a = 0; a < ir_ops[n->op].nargs; a++) {
      Sites *to = &sites[n->args[a]];
      if (!inl) {
        add_site(to, n->dims | n->rdims | chunk_dims(c, id));
      } else if (sites[id].n > MAXS) {
        to->n = MAXS + 1;
      } else {
        for (int j = 0; j < sites[id].n; j++) add_site(to, sites[id].s[j]);
      }
    }
  }
  free(sites);
  free(uses);
  free(weight);
}

/* ---------------------------------------------------------------------- */
/* Kernel                                                                  */

/* The element expression of node `id` as read from a nest. */
static int expr_of(Sc *c, int id) {
  const Node *n = &c->g->nodes.data[id];
  Kernel *k = c->k;
  if (n->op == OP_CONST) return kir_econst(k, n->num);
  if (n->op == OP_DIM) return kir_econst(k, (double)c->g->dims.data[n->index].size);
  if (n->op == OP_STATE) {
    const SState *ss = &c->st[n->index];
    return kir_eread(k, ss->write >= 0 ? ss->E : c->stile[n->index]);
  }
  if (mapped(c, id)) return kir_eread(k, c->st[n->index].X);
  if (!c->inl[id]) {
    LRC_ASSERT(c->tile[id] >= 0);
    return kir_eread(k, c->tile[id]);
  }
  if (n->op == OP_WRITE) return expr_of(c, n->args[0]);
  if (ir_ops[n->op].cls == K_UNARY) return kir_eunary(k, n->op, expr_of(c, n->args[0]));
  return kir_ebinary(k, n->op, expr_of(c, n->args[0]), expr_of(c, n->args[1]));
}

/* A factor: node f, or 1/node for ~f. */
static int factor_expr(Sc *c, int f) {
  if (f >= 0) return expr_of(c, f);
  return kir_ebinary(c->k, OP_DIV, kir_econst(c->k, 1), expr_of(c, ~f));
}

/* sign · Π factors; -1 for an empty product with sign 1. */
static int prod_expr(Sc *c, const FProd *p) {
  int e = p->sign == 1 ? -1 : kir_econst(c->k, p->sign);
  for (int j = 0; j < p->nf; j++) {
    int x = factor_expr(c, p->f[j]);
    e = e < 0 ? x : kir_ebinary(c->k, OP_MUL, e, x);
  }
  return e;
}

static KStmt *nest(Sc *c, KBlock *b, DimSet space, int tile, KAccum acc, int e) {
  KStmt *s = kir_stmt(c->k, b, KS_NEST);
  s->space = space;
  kir_assign(c->k, s, tile, acc, e);
  return s;
}

/* A nest computing materialised node `id` into its tile. */
static void emit_node(Sc *c, KBlock *b, int id) {
  const Node *n = &c->g->nodes.data[id];
  Kernel *k = c->k;
  const OpInfo *oi = &ir_ops[n->op];
  int t = c->tile[id];
  DimSet space = n->dims | n->rdims | chunk_dims(c, id);
  switch (oi->cls) {
  case K_LEAF:
    return;
  case K_UNARY:
    nest(c, b, space, t, KACC_SET,
         n->op == OP_WRITE ? expr_of(c, n->args[0]) : kir_eunary(k, n->op, expr_of(c, n->args[0])));
    return;
  case K_BINARY:
    nest(c, b, space, t, KACC_SET,
         kir_ebinary(k, n->op, expr_of(c, n->args[0]), expr_of(c, n->args[1])));
    return;
  case K_REDUCE:
  case K_CONTRACT: {
    KStmt *f = kir_stmt(k, b, KS_FILL);
    f->tile = t;
    f->num = n->op == OP_RMAX ? -INFINITY : 0.0;
    int e = oi->cls == K_REDUCE
                ? expr_of(c, n->args[0])
                : kir_ebinary(k, OP_MUL, expr_of(c, n->args[0]), expr_of(c, n->args[1]));
    nest(c, b, space, t, n->op == OP_RMAX ? KACC_MAX : KACC_ADD, e);
    return;
  }
  }
}

/* The decay A of state i, a tile over its factors' dims with C if any is
 * per token (into `body`), else once per row (into `outer`, before the
 * chunk loop: a decay per head); none when a = 1. */
static void emit_decay(Sc *c, KBlock *b, int i, bool pertoken) {
  SState *ss = &c->st[i];
  const StepForm *fm = ss->form;
  if (!fm || (fm->alpha.nf == 0 && fm->alpha.sign == 1)) return;
  DimSet d = decay_space(c, fm);
  if (!(d & (1u << c->dc)) != !pertoken) return;
  int f = fm->alpha.nf == 1 ? fm->alpha.f[0] : -1;
  if (f >= 0 && fm->alpha.sign == 1 && c->tile[f] >= 0 && c->k->tiles.data[c->tile[f]].dims == d) {
    ss->A = c->tile[f];   /* a single factor in a tile of its own: read it */
    return;
  }
  ss->A = kir_tile(c->k, arena_printf(c->arena, "A_%s", c->g->states.data[i].name), d);
  if (fm->alpha.nf == 0) {
    KStmt *fl = kir_stmt(c->k, b, KS_FILL);
    fl->tile = ss->A, fl->num = fm->alpha.sign;
    return;
  }
  nest(c, b, d, ss->A, KACC_SET, prod_expr(c, &fm->alpha));
}

/* The values X = Σ_s in_s of state i, over [C, state dims]. */
static void emit_values(Sc *c, KBlock *body, int i) {
  SState *ss = &c->st[i];
  const StepForm *fm = ss->form;
  DimSet xs = c->g->states.data[i].dimset | (1u << c->dc);
  if (fm->nin == 0) {
    KStmt *f = kir_stmt(c->k, body, KS_FILL);
    f->tile = ss->X, f->num = 0;
    return;
  }
  KStmt *s = NULL;
  for (int t = 0; t < fm->nin; t++) {
    int e = prod_expr(c, &fm->in[t]);
    if (e < 0) e = kir_econst(c->k, 1);
    if (!s) s = nest(c, body, xs, ss->X, KACC_SET, e);
    else kir_assign(c->k, s, ss->X, KACC_ADD, e);
  }
}

Kernel *pass_lower_scan(Arena *a, const Graph *g, int chunk, const char **why) {
  int nn = g->nodes.len;
  Sc S = {.arena = a, .g = g};
  Sc *c = &S;
  c->dep = arena_alloc(a, sizeof(uint64_t) * (size_t)(nn + 1));
  c->pertoken = arena_alloc(a, (size_t)nn + 1);
  c->need = arena_alloc(a, (size_t)nn + 1);
  c->epi = arena_alloc(a, (size_t)nn + 1);
  c->final = arena_alloc(a, (size_t)nn + 1);
  c->inl = arena_alloc(a, (size_t)nn + 1);
  c->tile = arena_alloc(a, sizeof(int) * (size_t)(nn + 1));
  c->stile = arena_alloc(a, sizeof(int) * (size_t)(g->states.len + 1));
  c->st = arena_alloc(a, sizeof(SState) * (size_t)(g->states.len + 1));
  if (!analyse(c)) {
    *why = c->why;
    return NULL;
  }
  int Cn = chunk > 0 ? chunk : 32;
  Kernel *k = kir_new(a, g, g->name, arena_printf(a, "scan(C=%d)", Cn));
  c->k = k;
  /* The token dim is C unless the rnn names a dim so (C_, C__, ...). */
  const char *cname = "C";
  while (ir_find_dim(g, cname) >= 0) cname = arena_printf(a, "%s_", cname);
  c->dc = kir_add_dim(k, cname, Cn, true);
  DimSet dC = 1u << c->dc;
  plan_fusion(c);

  /* Buffers, in the order of the recurrent kernel's arguments. */
  int *bin = arena_alloc(a, sizeof(int) * (size_t)(g->inputs.len + 1));
  int *bpar = arena_alloc(a, sizeof(int) * (size_t)(g->params.len + 1));
  int *bout = arena_alloc(a, sizeof(int) * (size_t)(g->outputs.len + 1));
  int *bsin = arena_alloc(a, sizeof(int) * (size_t)(g->states.len + 1));
  int *bsout = arena_alloc(a, sizeof(int) * (size_t)(g->states.len + 1));
  for (int i = 0; i < g->inputs.len; i++)
    bin[i] = kir_buf(k, g->inputs.data[i].name, KB_INPUT, KT_F32, i, false);
  for (int i = 0; i < g->params.len; i++)
    bpar[i] = kir_buf(k, g->params.data[i].name, KB_PARAM, KT_F32, i, false);
  for (int i = 0; i < g->outputs.len; i++)
    bout[i] = kir_buf(k, g->outputs.data[i].name, KB_OUTPUT, KT_F32, i, false);
  for (int i = 0; i < g->states.len; i++) {
    bsin[i] = kir_buf(k, arena_printf(a, "%s_in", g->states.data[i].name), KB_STATE_IN, KT_F32, i, true);
    bsout[i] = kir_buf(k, arena_printf(a, "%s_out", g->states.data[i].name), KB_STATE_OUT, KT_F32, i, true);
  }
  int bcu = kir_buf(k, "cu_seqlens", KB_SEQLENS, KT_I64, 0, true);

  /* Tiles: the states, their values (and values before each token), the
   * materialised nodes. */
  for (int i = 0; i < g->states.len; i++) {
    const Slot *sl = &g->states.data[i];
    SState *ss = &c->st[i];
    c->stile[i] = kir_tile(k, sl->name, sl->dimset);
    if (!ss->form) continue;
    ss->X = kir_tile(k, arena_printf(a, "X_%s", sl->name), sl->dimset | dC);
    if (ss->before) ss->E = kir_tile(k, arena_printf(a, "E_%s", sl->name), sl->dimset | dC);
  }
  for (int id = 0; id < nn; id++) {
    const Node *n = &g->nodes.data[id];
    if (!(c->need[id] || c->epi[id]) || c->inl[id] || mapped(c, id)) continue;
    const char *name = n->op == OP_INPUT   ? g->inputs.data[n->index].name
                       : n->op == OP_PARAM ? g->params.data[n->index].name
                                           : arena_printf(a, "t%d", id);
    c->tile[id] = kir_tile(k, name, n->dims | chunk_dims(c, id));
  }

  /* Loops: rows, then the chunks of each row's sequence. */
  int v_bh = kir_var(k, "bh"), v_n = kir_var(k, "n"), v_h = kir_var(k, "h");
  int v_c = kir_var(k, "c"), v_t0 = kir_var(k, "t0"), v_L = kir_var(k, "L");
  int v_bos = kir_var(k, "bos"), v_eos = kir_var(k, "eos");
  int iH = kir_iarg(k, KA_H);
  KStmt *par = kir_stmt(k, &k->body, KS_FOR);
  par->var = v_bh;
  par->parallel = true;
  par->lo = kir_ic(k, 0);
  par->hi = kir_ibin(k, KI_MUL, kir_iarg(k, KA_NSEQ), iH);
  KBlock *outer = &par->body;
  KStmt *s = kir_stmt(k, outer, KS_LET);
  s->var = v_n, s->idx = kir_ibin(k, KI_DIV, kir_ivar(k, v_bh), iH);
  s = kir_stmt(k, outer, KS_LET);
  s->var = v_h, s->idx = kir_ibin(k, KI_MOD, kir_ivar(k, v_bh), iH);
  int in = kir_ivar(k, v_n), ih = kir_ivar(k, v_h);
  s = kir_stmt(k, outer, KS_LET);
  s->var = v_bos, s->idx = kir_iseqlen(k, bcu, in);
  s = kir_stmt(k, outer, KS_LET);
  s->var = v_eos, s->idx = kir_iseqlen(k, bcu, kir_ibin(k, KI_ADD, in, kir_ic(k, 1)));
  int nh = kir_ibin(k, KI_ADD, kir_ibin(k, KI_MUL, in, iH), ih);
  for (int id = 0; id < nn; id++) {
    const Node *n = &g->nodes.data[id];
    if (c->tile[id] < 0 || n->op != OP_PARAM) continue;
    s = kir_stmt(k, outer, KS_LOAD);
    s->tile = c->tile[id], s->buf = bpar[n->index];
    s->idx = kir_ibin(k, KI_MUL, ih, kir_ic(k, ir_slot_count(g, &g->params.data[n->index])));
  }
  /* Param-only (not per-token) prologue nodes, once per row. */
  for (int id = 0; id < nn; id++)
    if (c->tile[id] >= 0 && !chunk_dims(c, id)) emit_node(c, outer, id);
  for (int i = 0; i < g->states.len; i++) {
    s = kir_stmt(k, outer, KS_IF_NULL);
    s->buf = bsin[i];
    KStmt *f = kir_stmt(k, &s->body, KS_FILL);
    f->tile = c->stile[i], f->num = 0;
    KStmt *ld = kir_stmt(k, &s->orelse, KS_LOAD);
    ld->tile = c->stile[i], ld->buf = bsin[i];
    ld->idx = kir_ibin(k, KI_MUL, nh, kir_ic(k, ir_slot_count(g, &g->states.data[i])));
  }
  for (int i = 0; i < g->states.len; i++) emit_decay(c, outer, i, false);
  int ibos = kir_ivar(k, v_bos), ieos = kir_ivar(k, v_eos);
  KStmt *loop = kir_stmt(k, outer, KS_FOR);
  loop->var = v_c;
  loop->lo = kir_ic(k, 0);
  loop->hi = kir_ibin(k, KI_DIV, kir_ibin(k, KI_ADD, kir_ibin(k, KI_SUB, ieos, ibos), kir_ic(k, Cn - 1)),
                      kir_ic(k, Cn));
  KBlock *body = &loop->body;
  s = kir_stmt(k, body, KS_LET);
  s->var = v_t0, s->idx = kir_ibin(k, KI_ADD, ibos, kir_ibin(k, KI_MUL, kir_ivar(k, v_c), kir_ic(k, Cn)));
  int it0 = kir_ivar(k, v_t0);
  s = kir_stmt(k, body, KS_LET);
  s->var = v_L, s->idx = kir_ibin(k, KI_MIN, kir_ic(k, Cn), kir_ibin(k, KI_SUB, ieos, it0));
  int iL = kir_ivar(k, v_L);
  int row0 = kir_ibin(k, KI_ADD, kir_ibin(k, KI_MUL, it0, iH), ih);
  for (int id = 0; id < nn; id++) {
    const Node *n = &g->nodes.data[id];
    if (c->tile[id] < 0 || n->op != OP_INPUT) continue;
    long cnt = ir_slot_count(g, &g->inputs.data[n->index]);
    s = kir_stmt(k, body, KS_LOAD);
    s->tile = c->tile[id], s->buf = bin[n->index];
    s->idx = kir_ibin(k, KI_MUL, row0, kir_ic(k, cnt));
    s->rowdim = c->dc, s->rows = iL, s->rowstride = kir_ibin(k, KI_MUL, iH, kir_ic(k, cnt));
  }
  for (int id = 0; id < nn; id++)
    if (c->tile[id] >= 0 && c->pertoken[id] && !c->epi[id]) emit_node(c, body, id);

  /* Per state: A and X, then the scan. */
  for (int i = 0; i < g->states.len; i++) {
    SState *ss = &c->st[i];
    if (!ss->form) continue;
    emit_decay(c, body, i, true);
    emit_values(c, body, i);
  }
  for (int i = 0; i < g->states.len; i++) {
    SState *ss = &c->st[i];
    if (!ss->form) continue;
    s = kir_stmt(k, body, KS_SCAN);
    s->tile = ss->X, s->tile2 = ss->A, s->carry = c->stile[i], s->prior = ss->E;
    s->dim = c->dc, s->rows = iL;
  }

  /* The epilogue, then the stores. */
  for (int id = 0; id < nn; id++)
    if (c->tile[id] >= 0 && c->epi[id]) emit_node(c, body, id);
  for (int o = 0; o < g->outputs.len; o++) {
    int v = g->outputs.data[o].value;
    const Node *n = &g->nodes.data[v];
    int t = n->op == OP_STATE ? (c->st[n->index].write >= 0 ? c->st[n->index].E : -1)
            : mapped(c, v)    ? c->st[n->index].X
                              : c->tile[v];
    if (t < 0 || !(k->tiles.data[t].dims & dC)) {
      *why = arena_printf(a, "output '%s' is not computed per token", g->outputs.data[o].name);
      return NULL;
    }
    long cnt = ir_slot_count(g, &g->outputs.data[o]);
    s = kir_stmt(k, body, KS_STORE);
    s->tile = t, s->buf = bout[o];
    s->idx = kir_ibin(k, KI_MUL, row0, kir_ic(k, cnt));
    s->rowdim = c->dc, s->rows = iL, s->rowstride = kir_ibin(k, KI_MUL, iH, kir_ic(k, cnt));
  }
  for (int i = 0; i < g->states.len; i++) {
    s = kir_stmt(k, outer, KS_IF_NULL);
    s->buf = bsout[i];
    KStmt *st = kir_stmt(k, &s->orelse, KS_STORE);
    st->buf = bsout[i], st->tile = c->stile[i];
    st->idx = kir_ibin(k, KI_MUL, nh, kir_ic(k, ir_slot_count(g, &g->states.data[i])));
  }
  const char *bad = kir_verify(k);
  if (bad) ir_internal_error(__FILE__, __LINE__, "scan kernel of '%s': %s", g->name, bad);
  return k;
}
