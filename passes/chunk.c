/* chunk.c — lower to the chunkwise algorithm, scalar decay (and none).
 *
 * Requires the canonical graph (fold, cse, dce; not factor) of an rnn
 * whose every state is updated once per token as S = a S + Σ k ⊗ v with a
 * scalar a (or a = 1), and whose outputs read the states only through
 * readouts x @ S of the updated state over its first (key) dim. Produces
 * the fused chunk kernel of ALGORITHMS.md §3.2 (one program per (sequence,
 * head) row walks its chunks with the state in tiles):
 *
 *   per chunk of L <= C tokens (rows beyond L are padding):
 *     the per-token prologue for C tokens at once
 *     G = cumsum(log a ⊙ valid), GL = sum(log a ⊙ valid)
 *     R = exp(G) ⊙ (x S) + Σ_s ((x k_sᵀ) ⊙ exp(min(G_i - G_j, 0)) ⊙ [i >= j]) v_s
 *     the epilogue from R, the outputs stored for the L present rows
 *     S = exp(GL) S + Σ_s Σ_j (k_s,j exp(GL - G_j)) ⊗ v_s,j
 *
 * Returns NULL with *why when the rnn is outside that shape. This is the
 * first chunk lowering: diagonal decay and the delta rule (WY) follow.
 */
#include "passes.h"

#include <math.h>
#include <string.h>

enum { MAXIN = 8, MAXRD = 32, MAXFAC = 32, LONG_CHUNK = 64 };

typedef struct CState {
  int write;               /* the WRITE node (the new value) */
  const StepForm *form;    /* S_t = α (I − β k kᵀ) S_{t−1} + Σ in_s */
  bool decay;              /* α is not 1 */
  DimSet ddims;            /* its dims: none, the key dim or value dims */
  int nin;                 /* input terms k_s ⊗ v_s (for the erase: k ⊗ u' first,
                              then the inputs along other keys) */
  bool other[FORM_MAXIN];  /* per input of the form: along another key than
                              the erase's (its own term) */
  int ktile[MAXIN], vtile[MAXIN];   /* k_s [C, K] (with sign, scalars and the
                                       valid mask) and v_s [C, vdims] (-1: 1) */
  int kdim;
  DimSet vdims;
  int G, GL;               /* tiles: cumulative and whole-chunk log decay */
  int Gabs;                /* per-key decay: max |G| over the chunk (scalar) */
  int Gx;                  /* exclusive cumulative log decay (readouts of the
                              state before the update), -1 if none */
  int R;                   /* the decay from each token to the chunk's end,
                              in logs, as suffix sums (long chunks), -1 if
                              none */
  bool before;             /* some output reads the state before its update */
  int nstep;               /* erases per token (a delta product: several) */
  int cj, cj2, cj3;        /* with several, the core's virtual dims of
                              nstep·C rows, row t·nstep + j for step j of
                              token t (ALGORITHMS.md §3.4) */
  int A;                   /* the readouts' [C, C2] tile on those dims */
} CState;

typedef struct Readout {
  int node;                /* the DOT node x @ S */
  int state;
  int x;                   /* the state-free operand */
  int tile;                /* R [C, vdims] */
  bool before;             /* reads the state before the token's update */
} Readout;

typedef struct Ch {
  Arena *arena;
  const Graph *g;
  Kernel *k;
  const char *why;
  uint64_t *dep;           /* states a node depends on */
  bool *pertoken;          /* depends on an input */
  bool *need;              /* a state-free node the kernel evaluates */
  bool *epi;               /* a state-dependent node of an output (not a readout) */
  int *tile;               /* node -> tile */
  int *readout_of;         /* node -> readout index or -1 */
  CState *st;
  Readout rd[MAXRD];
  int nrd;
  int dc, dc2, dc3;        /* the chunk dims the core works on now (C3: a
                              third index, for T) */
  int rc, rc2, rc3;        /* the token dims C, C2, C3 */
  struct {                 /* factors x ⊙ exp(±G) made so far (decayed) */
    const KBlock *b;
    int x, g, dc, tile;
    bool neg;
  } fac[MAXFAC];
  int nfac;
} Ch;

static bool fail(Ch *c, const char *why) {
  if (!c->why) c->why = why;
  return false;
}

/* Factors of a product through MUL nodes, and DIV nodes' dividends (the
 * divisor a factor ~id, its reciprocal); max + 1 where they pass max. */
static int factors(const Graph *g, int id, int *out, int n, int max) {
  const Node *x = &g->nodes.data[id];
  if (n > max) return n;
  if (x->op == OP_MUL) {
    n = factors(g, x->args[0], out, n, max);
    return factors(g, x->args[1], out, n, max);
  }
  if (x->op == OP_DIV) {
    n = factors(g, x->args[0], out, n, max);
    id = ~x->args[1];
  }
  if (n == max) return max + 1;
  out[n++] = id;
  return n;
}

/* The factors of an FProd, each flattened through MUL and DIV nodes (a
 * reciprocal ~id stays whole); max + 1 where they pass max (analyse
 * refuses those, so the lowering meets none). */
static int flat_factors(const Graph *g, const FProd *p, int *out, int max) {
  int n = 0;
  for (int i = 0; i < p->nf && n <= max; i++) {
    if (p->f[i] >= 0) n = factors(g, p->f[i], out, n, max);
    else if (n == max) n = max + 1;
    else out[n++] = p->f[i];
  }
  return n;
}

/* Input s of an erasing update without the factors of the key (as a
 * multiset): its value side and scalars, k u'ᵀ = in_s. -1 when the input
 * does not hold every factor of k, or holds another key-dim factor. */
static int strip_key(const Graph *g, const StepForm *fm, int s, DimSet kd, int *out, int max) {
  int nf = flat_factors(g, &fm->in[s], out, max), key[32];
  int nk = flat_factors(g, &fm->key[fm->in_step[s]], key, 32);
  if (nf > max || nk > 32) return -1;
  for (int j = 0; j < nk; j++) {
    int m = 0;
    while (m < nf && out[m] != key[j]) m++;
    if (m == nf) return -1;
    out[m] = out[--nf];
  }
  for (int m = 0; m < nf; m++)
    if (g->nodes.data[out[m] < 0 ? ~out[m] : out[m]].dims & kd) return -1;
  return nf;
}

static void mark_need(Ch *c, int id) {
  if (c->need[id] || c->dep[id]) return;
  c->need[id] = true;
  const Node *n = &c->g->nodes.data[id];
  for (int a = 0; a < ir_ops[n->op].nargs; a++) mark_need(c, n->args[a]);
}

/* p's factors into f[0..32), each marked needed; -1 (and the reason) where
 * there are more. */
static int need_factors(Ch *c, const FProd *p, int *f, const char *state) {
  int nf = flat_factors(c->g, p, f, 32);
  if (nf > 32) {
    fail(c, arena_printf(c->arena, "the update of state '%s' has a product of more than 32 "
                                   "factors; the chunk form takes up to 32",
                         state));
    return -1;
  }
  for (int j = 0; j < nf; j++) mark_need(c, f[j] < 0 ? ~f[j] : f[j]);
  return nf;
}

/* The element expression of node `id` (a needed state-free node, an
 * epilogue node or a readout) as read from a nest. */
static int expr_of(Ch *c, int id) {
  const Node *n = &c->g->nodes.data[id];
  Kernel *k = c->k;
  if (n->op == OP_CONST) return kir_econst(k, n->num);
  if (n->op == OP_DIM) return kir_econst(k, (double)c->g->dims.data[n->index].size);
  if (c->readout_of[id] >= 0) return kir_eread(k, c->rd[c->readout_of[id]].tile);
  LRC_ASSERT(c->tile[id] >= 0);
  return kir_eread(k, c->tile[id]);
}

/* A factor: node f, or 1/node for ~f (1/exp(x) as exp(-x), finite where
 * exp(x) is not: Comba's beta/alpha with alpha = exp(g), g < -88). */
static int factor_expr(Ch *c, int f) {
  if (f >= 0) return expr_of(c, f);
  const Node *n = &c->g->nodes.data[~f];
  if (n->op == OP_EXP && (c->tile[n->args[0]] >= 0 || c->g->nodes.data[n->args[0]].op == OP_CONST))
    return kir_eunary(c->k, OP_EXP, kir_eunary(c->k, OP_NEG, expr_of(c, n->args[0])));
  return kir_ebinary(c->k, OP_DIV, kir_econst(c->k, 1), expr_of(c, ~f));
}

/* The product of factors (sign times), restricted to those whose dims
 * satisfy `want` (0: scalars; else factors with dims inside want); -1 if
 * none and sign is 1. */
static int prod_expr(Ch *c, const int *f, int nf, int sign, DimSet want, bool scalars) {
  int e = sign == 1 ? -1 : kir_econst(c->k, sign);
  for (int j = 0; j < nf; j++) {
    DimSet d = c->g->nodes.data[f[j] < 0 ? ~f[j] : f[j]].dims;
    if (d ? !(want && !(d & ~want)) : !scalars) continue;
    int x = factor_expr(c, f[j]);
    e = e < 0 ? x : kir_ebinary(c->k, OP_MUL, e, x);
  }
  return e;
}

/* A nest computing node `id` into its tile (pertoken: over C too). */
static void emit_node(Ch *c, KBlock *b, int id) {
  const Node *n = &c->g->nodes.data[id];
  Kernel *k = c->k;
  DimSet extra = c->pertoken[id] ? 1u << c->dc : 0;
  const OpInfo *oi = &ir_ops[n->op];
  if (oi->cls == K_LEAF) return;
  int t = c->tile[id];
  if (oi->cls == K_REDUCE || oi->cls == K_CONTRACT) {
    KStmt *f = kir_stmt(k, b, KS_FILL);
    f->tile = t;
    f->num = n->op == OP_RMAX ? -INFINITY : 0.0;
  }
  KStmt *s = kir_stmt(k, b, KS_NEST);
  s->space = n->dims | n->rdims | extra;
  switch (oi->cls) {
  case K_UNARY:
    kir_assign(k, s, t, KACC_SET,
               n->op == OP_WRITE ? expr_of(c, n->args[0])
                                 : kir_eunary(k, n->op, expr_of(c, n->args[0])));
    break;
  case K_BINARY:
    kir_assign(k, s, t, KACC_SET,
               kir_ebinary(k, n->op, expr_of(c, n->args[0]), expr_of(c, n->args[1])));
    break;
  case K_REDUCE:
    kir_assign(k, s, t, n->op == OP_RMAX ? KACC_MAX : KACC_ADD, expr_of(c, n->args[0]));
    break;
  case K_CONTRACT:
    kir_assign(k, s, t, KACC_ADD,
               kir_ebinary(k, OP_MUL, expr_of(c, n->args[0]), expr_of(c, n->args[1])));
    break;
  default:
    break;
  }
}

/* Is node id > 0 for every input? (The chunk form takes the decay's log.) */
static bool positive(const Graph *g, int id, int depth) {
  const Node *n = &g->nodes.data[id];
  if (depth > 32) return false;
  switch (n->op) {
  case OP_EXP: case OP_SIGMOID: case OP_SOFTPLUS: case OP_DIM: return true;
  case OP_CONST: return n->num > 0;
  case OP_MUL: case OP_DIV: case OP_ADD: case OP_MIN:   /* 1 / (1 + exp(x)) */
    return positive(g, n->args[0], depth + 1) && positive(g, n->args[1], depth + 1);
  case OP_MAX: return positive(g, n->args[0], depth + 1) || positive(g, n->args[1], depth + 1);
  case OP_POW: case OP_RSQRT: return positive(g, n->args[0], depth + 1);
  default: return false;
  }
}

static KStmt *nest(Ch *c, KBlock *b, DimSet space, int tile, KAccum acc, int e) {
  KStmt *s = kir_stmt(c->k, b, KS_NEST);
  s->space = space;
  kir_assign(c->k, s, tile, acc, e);
  return s;
}

/* The dims the core of state cs works on: the tokens' C, C2, C3, or the
 * virtual ones of a delta product's steps. */
static void core_dims(Ch *c, const CState *cs) {
  if (cs->nstep > 1) c->dc = cs->cj, c->dc2 = cs->cj2, c->dc3 = cs->cj3;
  else c->dc = c->rc, c->dc2 = c->rc2, c->dc3 = c->rc3;
}

static void token_dims(Ch *c) { c->dc = c->rc, c->dc2 = c->rc2, c->dc3 = c->rc3; }

/* Rows of a token tile into phase p of a virtual one (gather: back). */
static void interleave(Ch *c, KBlock *b, int dst, int ddim, int src, int sdim, int p, int n) {
  KStmt *s = kir_stmt(c->k, b, KS_INTERLEAVE);
  s->tile = dst, s->dim = ddim, s->tile2 = src, s->dim2 = sdim, s->phase = p, s->nphase = n;
}

static void fill(Ch *c, KBlock *b, int tile, double v) {
  KStmt *s = kir_stmt(c->k, b, KS_FILL);
  s->tile = tile, s->num = v;
}

/* M_ij exp(G_i − G_j): the causal mask (strict: j < i) times the decay
 * from token j to token i. The exponent is masked before exp, so entries
 * above the diagonal are exp(0) · 0 = 0 whatever the decays (a growth
 * factor above 1 makes G_i − G_j positive there, and large). */
static int masked_decay_from(Ch *c, int Gq, int Gk, bool strict) {
  Kernel *k = c->k;
  int m = kir_emask(k, c->dc, c->dc2, strict);
  int diff = kir_ebinary(k, OP_SUB, kir_eread(k, Gq), kir_eread_as(k, Gk, c->dc, c->dc2));
  return kir_ebinary(k, OP_MUL, m, kir_eunary(k, OP_EXP, kir_ebinary(k, OP_MUL, diff, m)));
}

/* Input term t of state cs, k_t ⊗ v_t from the product `in`: its key
 * side (with its sign and scalars, masked by `valid`) and value side into
 * the term's tiles over the chunk's tokens. */
static void input_term(Ch *c, KBlock *body, CState *cs, int t, const FProd *in, int valid) {
  Kernel *k = c->k;
  DimSet dC = 1u << c->rc, kd = 1u << cs->kdim;
  int f[32];
  int nf = flat_factors(c->g, in, f, 32);
  int ke = prod_expr(c, f, nf, in->sign, kd, true);
  ke = ke < 0 ? kir_eread(k, valid) : kir_ebinary(k, OP_MUL, ke, kir_eread(k, valid));
  int ve = cs->vdims ? prod_expr(c, f, nf, 1, cs->vdims, false) : -1;
  nest(c, body, dC | kd, cs->ktile[t], KACC_SET, ke);
  if (cs->vtile[t] >= 0)
    nest(c, body, dC | cs->vdims, cs->vtile[t], KACC_SET, ve < 0 ? kir_econst(k, 1) : ve);
}

/* The erase of state i in WY/UT form (ALGORITHMS.md §3.3, §3.5). With
 * the erase I − β k yᵀ (y = k for the delta rule; RWKV-7's sides differ)
 * reading the state after the token's decay, inside a chunk
 * S_i = γ_i S + Σ_{j<=i} (γ_i/γ_j) (k_j u'_jᵀ + Σ_s k_s,j v_s,jᵀ), where
 * the new values u' solve
 *     (I + N) U' = W_in − Σ_s M_s V_s − Diag(β γ) Y S,
 *     N_ij = β_i (γ_i/γ_j) y_iᵀ k_j,  M_s,ij = β_i (γ_i/γ_j) y_iᵀ k_s,j  (j < i)
 * (W_in: the value sides of the inputs along k; s: the inputs along other
 * keys, terms of their own). Reading the state before the token's decay,
 * γ_i on the row side becomes γ_{i−1} (the exclusive decays). Forward
 * substitution gives T W_in' and −T Diag(βγ) Y; U' = T W_in' + (−T
 * Diag(βγ) Y) S. U' then plays the part of the values of the input term
 * k ⊗ u' in the decay chunk form. */
/* Erase e's key k_e (the side written), its read side y (tile yt, where
 * it has one of its own: else -1), strength β_e and values w_e (the value
 * sides of the inputs written with it) into tiles over the chunk's
 * tokens, masked by `valid`. */
static void erase_inputs(Ch *c, KBlock *body, int i, int e, int valid, int kt, int yt, int bt, int ut) {
  Kernel *k = c->k;
  const Graph *g = c->g;
  CState *cs = &c->st[i];
  const StepForm *fm = cs->form;
  DimSet dC = 1u << c->dc, kd = 1u << cs->kdim;
  int f[32];
  for (int side = 0; side < (yt >= 0 ? 2 : 1); side++) {   /* (k, then y) */
    int nf = flat_factors(g, side ? &fm->read : &fm->key[e], f, 32);
    nest(c, body, dC | kd, side ? yt : kt, KACC_SET,
         kir_ebinary(k, OP_MUL, prod_expr(c, f, nf, 1, kd, true), kir_eread(k, valid)));
  }
  int nf = flat_factors(g, &fm->beta[e], f, 32);
  int be = prod_expr(c, f, nf, fm->beta[e].sign, 0, true);
  nest(c, body, dC, bt, KACC_SET, be < 0 ? kir_eread(k, valid) : kir_ebinary(k, OP_MUL, be, kir_eread(k, valid)));
  /* W_in: Σ_s sign_s (scalars and value-side factors of input s). */
  KStmt *fl = kir_stmt(k, body, KS_FILL);
  fl->tile = ut, fl->num = 0;
  for (int s = 0; s < fm->nin; s++) {
    if (fm->in_step[s] != e || cs->other[s]) continue;
    nf = strip_key(g, fm, s, kd, f, 32);
    LRC_ASSERT(nf >= 0);
    int se = prod_expr(c, f, nf, fm->in[s].sign, 0, true);
    int ve = cs->vdims ? prod_expr(c, f, nf, 1, cs->vdims, false) : -1;
    int x = kir_eread(k, valid);
    if (se >= 0) x = kir_ebinary(k, OP_MUL, x, se);
    if (ve >= 0) x = kir_ebinary(k, OP_MUL, x, ve);
    nest(c, body, dC | cs->vdims, ut, KACC_ADD, x);
  }
}

/* x ⊙ exp(±g) over the current chunk dims and key dim kd, tile `name`,
 * made once in block b: the erase's pairs and Y share the factor y e^Gq
 * (N's, each M's, Y's), two readouts of one state their k e^-G. Made
 * before the branch that reads them (`if Gabs < 20`), not in it: where
 * the chunk's decays leave that range they are made and left unread
 * (exp(-G) may be inf there), a few exps a chunk. */
static int decayed(Ch *c, KBlock *b, int x, int g, bool neg, DimSet kd, const char *name) {
  Kernel *k = c->k;
  for (int i = 0; i < c->nfac; i++)
    if (c->fac[i].b == b && c->fac[i].x == x && c->fac[i].g == g && c->fac[i].neg == neg &&
        c->fac[i].dc == c->dc)
      return c->fac[i].tile;
  int t = kir_tile(k, name, (1u << c->dc) | kd);
  int ge = kir_eread(k, g);
  if (neg) ge = kir_eunary(k, OP_NEG, ge);
  nest(c, b, (1u << c->dc) | kd, t, KACC_SET, kir_ebinary(k, OP_MUL, kir_eread(k, x), kir_eunary(k, OP_EXP, ge)));
  if (c->nfac < MAXFAC) {
    c->fac[c->nfac].b = b, c->fac[c->nfac].x = x, c->fac[c->nfac].g = g;
    c->fac[c->nfac].dc = c->dc, c->fac[c->nfac].neg = neg, c->fac[c->nfac++].tile = t;
  }
  return t;
}

/* P = StrictLower(Diag(β) ((Y Xᵀ) ⊙ Γ)) over the current chunk dims, Γ_ij
 * = γ_i/γ_j with the row side's decays from Gq (G, or the exclusive Gx):
 * y_i (tile yt) against x_j (tile xt). A per-key decay goes inside the
 * product (its exponent depends on the contracted key), factorised while
 * the chunk's decays stay within e^±20 (as the readouts do; tiles named
 * `pn` and `mn` then), else exact. Without a decay, the entries on and
 * above the diagonal are left for the solve to ignore unless `masked`. */
static void erase_pairs(Ch *c, KBlock *body, const CState *cs, int P, int yt, int xt, int Gq, int bt,
                        bool masked, const char *pn, const char *mn) {
  Kernel *k = c->k;
  DimSet dC = 1u << c->dc, dC2 = 1u << c->dc2, kd = 1u << cs->kdim;
  KStmt *fl = kir_stmt(k, body, KS_FILL);
  fl->tile = P, fl->num = 0;
  int kk = kir_ebinary(k, OP_MUL, kir_eread(k, yt), kir_eread_as(k, xt, c->dc, c->dc2));
  if (cs->G >= 0 && cs->ddims == kd) {
    int kp = decayed(c, body, yt, Gq, false, kd, pn);
    int km = decayed(c, body, xt, cs->G, true, kd, mn);
    KStmt *br = kir_stmt(k, body, KS_IF_LESS);
    br->tile = cs->Gabs, br->num = 20;
    nest(c, &br->body, dC | dC2 | kd, P, KACC_ADD,
         kir_ebinary(k, OP_MUL, kir_eread(k, kp), kir_eread_as(k, km, c->dc, c->dc2)));
    nest(c, &br->body, dC | dC2, P, KACC_SET,
         kir_ebinary(k, OP_MUL, kir_eread(k, P),
                     kir_ebinary(k, OP_MUL, kir_eread(k, bt), kir_emask(k, c->dc, c->dc2, true))));
    nest(c, &br->orelse, dC | dC2 | kd, P, KACC_ADD,
         kir_ebinary(k, OP_MUL, kk, masked_decay_from(c, Gq, cs->G, true)));
    nest(c, &br->orelse, dC | dC2, P, KACC_SET, kir_ebinary(k, OP_MUL, kir_eread(k, P), kir_eread(k, bt)));
  } else {
    nest(c, body, dC | dC2 | kd, P, KACC_ADD, kk);
    int scale = kir_eread(k, bt);
    if (cs->G >= 0) scale = kir_ebinary(k, OP_MUL, scale, masked_decay_from(c, Gq, cs->G, true));
    else if (masked) scale = kir_ebinary(k, OP_MUL, scale, kir_emask(k, c->dc, c->dc2, true));
    nest(c, body, dC | dC2, P, KACC_SET, kir_ebinary(k, OP_MUL, kir_eread(k, P), scale));
  }
}

/* The rest of the WY form on the current chunk dims (the tokens, or the
 * interleaved steps of a delta product): from k (kt), the read side y
 * (yt: kt where the sides agree), β (bt) and the values' inputs (ut) to
 * the new values U' in ut. */
static void wy_solve(Ch *c, KBlock *body, int i, int kt, int yt, int bt, int ut, int S) {
  Kernel *k = c->k;
  const Graph *g = c->g;
  CState *cs = &c->st[i];
  const char *nm = g->states.data[i].name;
  DimSet dC = 1u << c->dc, kd = 1u << cs->kdim;
  KStmt *fl;
  int Gq = cs->form->read_before ? cs->Gx : cs->G;
  /* N = StrictLower(Diag(β) (Y Kᵀ ⊙ Γ)); the solve reads only j < i. */
  int N = kir_tile(k, arena_printf(k->arena, "N_%s", nm), dC | (1u << c->dc2));
  const char *kpn = arena_printf(k->arena, "kp_%s", nm);   /* y e^Gq, Y's too */
  erase_pairs(c, body, cs, N, yt, kt, Gq, bt, false, kpn, arena_printf(k->arena, "km_%s", nm));
  /* W_in −= M_s V_s for the inputs along other keys. */
  for (int t = 1; t < cs->nin; t++) {
    int M = kir_tile(k, arena_printf(k->arena, "M%d_%s", t, nm), dC | (1u << c->dc2));
    erase_pairs(c, body, cs, M, yt, cs->ktile[t], Gq, bt, true, arena_printf(k->arena, "kp%d_%s", t, nm),
                arena_printf(k->arena, "km%d_%s", t, nm));
    int ve = cs->vtile[t] >= 0 ? kir_eread_as(k, cs->vtile[t], c->dc, c->dc2) : kir_econst(k, 1);
    nest(c, body, dC | (1u << c->dc2) | cs->vdims, ut, KACC_ADD,
         kir_ebinary(k, OP_MUL, kir_ebinary(k, OP_MUL, kir_econst(k, -1), kir_eread(k, M)), ve));
  }
  /* Y = −Diag(β γ) Y. */
  int Y = kir_tile(k, arena_printf(k->arena, "Y_%s", nm), dC | kd);
  int ye = kir_ebinary(k, OP_MUL, kir_econst(k, -1), kir_eread(k, bt));
  int yg = kir_eread(k, yt);
  if (cs->G >= 0 && cs->ddims == kd)   /* N's y e^Gq */
    yg = kir_eread(k, decayed(c, body, yt, Gq, false, kd, kpn));
  else if (cs->G >= 0)
    ye = kir_ebinary(k, OP_MUL, ye, kir_eunary(k, OP_EXP, kir_eread(k, Gq)));
  nest(c, body, dC | kd, Y, KACC_SET, kir_ebinary(k, OP_MUL, ye, yg));
  /* T = (I + N)⁻¹ by forward substitution on the identity (C³/6 work),
   * then T W_in and T Y as matrix products (the blocked kind), rather than
   * substituting through the [C, V] and [C, K] right-hand sides. */
  if (c->dc3 < 0) c->dc3 = c->rc3 = kir_add_dim(k, "C3", k->dims.data[c->dc].size, true);
  DimSet dC3 = 1u << c->dc3;
  int T = kir_tile(k, arena_printf(k->arena, "T_%s", nm), dC | dC3);
  nest(c, body, dC | dC3, T, KACC_SET,
       kir_ebinary(k, OP_SUB, kir_emask(k, c->dc, c->dc3, false), kir_emask(k, c->dc, c->dc3, true)));
  KStmt *ts = kir_stmt(k, body, KS_TRISOLVE);
  ts->tile = T, ts->tile2 = N, ts->dim = c->dc, ts->dim2 = c->dc2;
  int U = kir_tile(k, arena_printf(k->arena, "U_%s", nm), dC | cs->vdims);
  int W = kir_tile(k, arena_printf(k->arena, "W_%s", nm), dC | kd);
  int rhs[2] = {ut, Y}, out[2] = {U, W};
  for (int t = 0; t < 2; t++) {
    fl = kir_stmt(k, body, KS_FILL);
    fl->tile = out[t], fl->num = 0;
    DimSet d = k->tiles.data[out[t]].dims & ~dC;
    nest(c, body, dC | dC3 | d, out[t], KACC_ADD,
         kir_ebinary(k, OP_MUL, kir_eread(k, T), kir_eread_as(k, rhs[t], c->dc, c->dc3)));
  }
  /* U' = T W_in + (T Y) S, into the value tile. */
  nest(c, body, dC | cs->vdims, ut, KACC_SET, kir_eread(k, U));
  nest(c, body, dC | kd | cs->vdims, ut, KACC_ADD, kir_ebinary(k, OP_MUL, kir_eread(k, W), kir_eread(k, S)));
}

/* The erases of state i in WY/UT form (ALGORITHMS.md §3.3). A delta
 * product's steps are formed per token, then interleaved into the
 * virtual rows, where the solve runs as for one erase per token (§3.4). */
static void lower_wy(Ch *c, KBlock *body, int i, int valid, int S) {
  Kernel *k = c->k;
  CState *cs = &c->st[i];
  const char *nm = c->g->states.data[i].name;
  int bt = kir_tile(k, arena_printf(c->arena, "beta_%s", nm), 1u << cs->cj);
  int yt = cs->form->read.nf ? kir_tile(k, arena_printf(c->arena, "y_%s", nm), (1u << cs->cj) | (1u << cs->kdim)) : -1;
  if (cs->nstep == 1) {
    erase_inputs(c, body, i, 0, valid, cs->ktile[0], yt, bt, cs->vtile[0]);
  } else {
    DimSet dC = 1u << c->rc;
    int kt = kir_tile(k, arena_printf(c->arena, "kstep_%s", nm), dC | (1u << cs->kdim));
    int btt = kir_tile(k, arena_printf(c->arena, "bstep_%s", nm), dC);
    int ut = kir_tile(k, arena_printf(c->arena, "ustep_%s", nm), dC | cs->vdims);
    for (int e = 0; e < cs->nstep; e++) {
      erase_inputs(c, body, i, e, valid, kt, -1, btt, ut);
      interleave(c, body, cs->ktile[0], cs->cj, kt, c->rc, e, cs->nstep);
      interleave(c, body, bt, cs->cj, btt, c->rc, e, cs->nstep);
      interleave(c, body, cs->vtile[0], cs->cj, ut, c->rc, e, cs->nstep);
    }
  }
  core_dims(c, cs);
  wy_solve(c, body, i, cs->ktile[0], yt >= 0 ? yt : cs->ktile[0], bt, cs->vtile[0], S);
  token_dims(c);
}

static bool analyse(Ch *c) {
  const Graph *g = c->g;
  int nn = g->nodes.len;
  for (int id = 0; id < nn; id++) {
    const Node *n = &g->nodes.data[id];
    uint64_t d = 0;
    bool pt = n->op == OP_INPUT;
    for (int a = 0; a < ir_ops[n->op].nargs; a++) {
      d |= c->dep[n->args[a]];
      pt |= c->pertoken[n->args[a]];
    }
    if (n->op == OP_STATE) d = n->index < 64 ? 1ull << n->index : ~0ull;
    c->dep[id] = d;
    c->pertoken[id] = pt;
    c->readout_of[id] = -1;
    c->tile[id] = -1;
  }
  if (g->states.len == 0 || g->states.len > 64) return fail(c, "no state, or too many");
  const Analysis *an = pass_classify(c->arena, g);
  for (int i = 0; i < g->states.len; i++) {
    const Slot *sl = &g->states.data[i];
    CState *cs = &c->st[i];
    if (sl->ndims == 0)
      return fail(c, arena_printf(c->arena, "state '%s' is a scalar: the chunk form needs a key dim "
                                            "(a state S[K, ...])", sl->name));
    cs->kdim = an->st[i].key;
    cs->vdims = sl->dimset & ~(1u << cs->kdim);
    int w = sl->value;
    if (w < 0 || g->nodes.data[w].op != OP_WRITE) return fail(c, "a state is never written");
    cs->write = w;
    const StepForm *fm = an->st[i].form;
    if (!fm)
      return fail(c, arena_printf(c->arena,
                                  "the update of state '%s' is not of the form a (I - beta k kᵀ) "
                                  "S + k vᵀ with a scalar decay a",
                                  sl->name));
    cs->nstep = fm->nerase > 1 ? fm->nerase : 1;
    cs->form = fm;
    cs->decay = fm->alpha.nf > 0;
    cs->ddims = fm->ddims;
    DimSet kd = 1u << cs->kdim;
    if (fm->ddims && fm->ddims != kd && (fm->ddims & kd))
      return fail(c, arena_printf(c->arena,
                                  "the decay of state '%s' depends on its key dim and on other "
                                  "dims (an elementwise decay): the chunk form takes a decay "
                                  "per key or per value only; --algo=scan takes this one",
                                  sl->name));
    int f[32];
    for (int s = 0; s < fm->nin; s++) {
      int nf = need_factors(c, &fm->in[s], f, sl->name);
      if (nf < 0) return false;
      for (int j = 0; j < nf; j++) {
        DimSet d = g->nodes.data[f[j] < 0 ? ~f[j] : f[j]].dims;
        if (d && d != kd && (d & ~cs->vdims))
          return fail(c, "an input term is not an outer product k vᵀ");
      }
      if (fm->erase && strip_key(g, fm, s, kd, f, 32) < 0) {
        /* An input along another key than the erase's: a term of its own,
         * which the erase's solve sees (one erase a token). */
        if (fm->nerase > 1)
          return fail(c, arena_printf(c->arena,
                                      "state '%s': an input is not along its erase's key k (a "
                                      "delta product's WY form needs S + beta k (v - kᵀS)ᵀ "
                                      "at each step)",
                                      sl->name));
        cs->other[s] = true;
      }
    }
    for (int e = 0; e < fm->nerase; e++)
      if (need_factors(c, &fm->key[e], f, sl->name) < 0 || need_factors(c, &fm->beta[e], f, sl->name) < 0)
        return false;
    if (need_factors(c, &fm->read, f, sl->name) < 0) return false;
    int nf = need_factors(c, &fm->alpha, f, sl->name);
    if (nf < 0) return false;
    bool pos = fm->alpha.sign > 0;
    for (int j = 0; j < nf; j++) pos = pos && positive(g, f[j] < 0 ? ~f[j] : f[j], 0);
    if (!pos)
      return fail(c, arena_printf(c->arena,
                                  "the decay of state '%s' is not known to be positive (the "
                                  "chunk form works with its logarithm); write it as exp(...) "
                                  "or sigmoid(...)",
                                  sl->name));
    cs->nin = fm->nin;
    if (fm->erase) {
      cs->nin = 1;
      for (int s = 0; s < fm->nin; s++) cs->nin += cs->other[s];
    }
    if (cs->nin > MAXIN) return fail(c, "too many input terms for the chunk form");
  }
  /* Outputs: readouts x @ S_new and what is computed from them. */
  bool *seen = arena_alloc(c->arena, (size_t)nn + 1);
  for (int o = 0; o < g->outputs.len; o++) {
    int stack[4096], sp = 0;
    stack[sp++] = g->outputs.data[o].value;
    while (sp) {
      int id = stack[--sp];
      if (seen[id]) continue;
      seen[id] = true;
      const Node *n = &g->nodes.data[id];
      if (!c->dep[id]) {
        mark_need(c, id);
        continue;
      }
      if (n->op == OP_DOT) {
        int a = n->args[0], b = n->args[1];
        int sv = g->nodes.data[a].op == OP_WRITE ? a : b, x = sv == a ? b : a;
        const Node *w = &g->nodes.data[sv];
        if (w->op == OP_WRITE && c->st[w->index].write == sv && !c->dep[x] &&
            n->rdims == (1u << c->st[w->index].kdim) &&
            g->nodes.data[x].dims == (1u << c->st[w->index].kdim)) {
          if (c->nrd == MAXRD) return fail(c, "too many readouts");
          c->rd[c->nrd] = (Readout){id, w->index, x, -1, false};
          c->readout_of[id] = c->nrd++;
          mark_need(c, x);
          continue;
        }
      }
      if (n->op == OP_DOT) {
        /* x @ S_{t-1}: the state before this token's update (RWKV6). */
        int a = n->args[0], b = n->args[1];
        int sv = g->nodes.data[a].op == OP_STATE ? a : b, x = sv == a ? b : a;
        const Node *st = &g->nodes.data[sv];
        if (st->op == OP_STATE && !c->dep[x] && n->rdims == (1u << c->st[st->index].kdim) &&
            g->nodes.data[x].dims == (1u << c->st[st->index].kdim)) {
          if (c->nrd == MAXRD) return fail(c, "too many readouts");
          c->rd[c->nrd] = (Readout){id, st->index, x, -1, true};
          c->st[st->index].before = true;
          c->readout_of[id] = c->nrd++;
          mark_need(c, x);
          continue;
        }
      }
      if (n->op == OP_WRITE && c->st[n->index].write != id) {
        const Slot *sl = &g->states.data[n->index];
        return fail(c, arena_printf(c->arena,
                                    "an output reads state '%s' in the middle of its update "
                                    "(between two of its assignments); the chunk form reads a "
                                    "state before its update or after it",
                                    sl->name));
      }
      if (n->op == OP_STATE || n->op == OP_WRITE) {
        const Slot *sl = &g->states.data[n->index];
        return fail(c, arena_printf(c->arena,
                                    "an output reads state '%s'%s other than as x @ %s, x a vector "
                                    "over its key dim %s alone",
                                    sl->name, n->op == OP_STATE ? " before its update" : "", sl->name,
                                    g->dims.data[c->st[n->index].kdim].name));
      }
      c->epi[id] = true;
      for (int a = 0; a < ir_ops[n->op].nargs; a++) {
        if (sp + 2 >= 4096) return fail(c, "output expression too large");
        stack[sp++] = n->args[a];
      }
    }
  }
  return true;
}

Kernel *pass_lower_chunk(Arena *a, const Graph *g, int chunk, const char **why) {
  int nn = g->nodes.len;
  Ch C = {.arena = a, .g = g};
  Ch *c = &C;
  c->dep = arena_alloc(a, sizeof(uint64_t) * (size_t)(nn + 1));
  c->pertoken = arena_alloc(a, (size_t)nn + 1);
  c->need = arena_alloc(a, (size_t)nn + 1);
  c->epi = arena_alloc(a, (size_t)nn + 1);
  c->tile = arena_alloc(a, sizeof(int) * (size_t)(nn + 1));
  c->readout_of = arena_alloc(a, sizeof(int) * (size_t)(nn + 1));
  c->st = arena_alloc(a, sizeof(CState) * (size_t)(g->states.len + 1));
  if (!analyse(c)) {
    *why = c->why;
    return NULL;
  }
  Kernel *k = kir_new(a, g, g->name, "chunk");
  bool wy = false;
  for (int i = 0; i < g->states.len; i++) wy |= c->st[i].form->erase;
  k->algo = arena_printf(a, "chunk(C=%d%s)", chunk > 0 ? chunk : 64, wy ? ", WY" : "");
  c->k = k;
  int Cn = chunk > 0 ? chunk : 64;
  c->dc = kir_add_dim(k, "C", Cn, true);
  c->dc2 = kir_add_dim(k, "C2", Cn, true);
  c->dc3 = c->rc3 = -1;
  c->rc = c->dc, c->rc2 = c->dc2;
  DimSet dC = 1u << c->dc, dC2 = 1u << c->dc2;
  /* A delta product's core runs on virtual rows, shared by the states
   * with as many steps per token. */
  for (int i = 0; i < g->states.len; i++) {
    CState *cs = &c->st[i];
    cs->cj = c->rc, cs->cj2 = c->rc2, cs->cj3 = -1;
    if (cs->nstep == 1) continue;
    int j = 0;
    while (j < i && c->st[j].nstep != cs->nstep) j++;
    if (j < i) {
      cs->cj = c->st[j].cj, cs->cj2 = c->st[j].cj2, cs->cj3 = c->st[j].cj3;
      continue;
    }
    long rows = (long)Cn * cs->nstep;
    cs->cj = kir_add_dim(k, arena_printf(a, "CP%d", cs->nstep), rows, true);
    cs->cj2 = kir_add_dim(k, arena_printf(a, "CP%d_2", cs->nstep), rows, true);
    cs->cj3 = kir_add_dim(k, arena_printf(a, "CP%d_3", cs->nstep), rows, true);
  }

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

  /* Tiles. */
  int *stile = arena_alloc(a, sizeof(int) * (size_t)(g->states.len + 1));
  for (int i = 0; i < g->states.len; i++)
    stile[i] = kir_tile(k, g->states.data[i].name, g->states.data[i].dimset);
  for (int id = 0; id < nn; id++) {
    const Node *n = &g->nodes.data[id];
    if (!(c->need[id] || c->epi[id]) || n->op == OP_CONST || n->op == OP_DIM) continue;
    if (c->readout_of[id] >= 0) continue;
    DimSet d = n->dims | (c->pertoken[id] || c->epi[id] ? dC : 0);
    c->tile[id] = kir_tile(k, arena_printf(a, "t%d", id), d);
  }
  for (int r = 0; r < c->nrd; r++) {
    CState *cs = &c->st[c->rd[r].state];
    c->rd[r].tile = kir_tile(k, arena_printf(a, "r%d", r), dC | cs->vdims);
  }
  int valid = kir_tile(k, "valid", dC);
  int Amat = -1;
  for (int i = 0; i < g->states.len; i++)
    if (c->st[i].nstep == 1 && Amat < 0) Amat = kir_tile(k, "A", dC | dC2);
  for (int i = 0; i < g->states.len; i++) {
    CState *cs = &c->st[i];
    const char *nm = g->states.data[i].name;
    DimSet cC = 1u << cs->cj;
    cs->A = Amat;
    if (cs->nstep > 1) {
      int j = 0;
      while (j < i && c->st[j].nstep != cs->nstep) j++;
      cs->A = j < i ? c->st[j].A : kir_tile(k, arena_printf(a, "A%d", cs->nstep), cC | 1u << cs->cj2);
    }
    cs->G = cs->decay ? kir_tile(k, arena_printf(a, "G_%s", nm), cC | cs->ddims) : -1;
    cs->GL = cs->decay ? kir_tile(k, arena_printf(a, "GL_%s", nm), cs->ddims) : -1;
    cs->Gx = cs->decay && (cs->before || cs->form->read_before) ? kir_tile(k, arena_printf(a, "Gx_%s", nm), cC | cs->ddims) : -1;
    /* exp(GL - G_j) loses |G| 2^-24 to the subtraction for the tokens
     * before the last, which long chunks feel (|G| in the hundreds at C =
     * 2000); there the decays to the chunk's end are summed from the end
     * instead, in a tile like G's. The default sizes (C <= 64) keep the
     * difference, and G's tile's room (a per-key decay's [C, K] is 32 KB
     * of a GPU block's shared memory at C = 64, K = 128; a scalar's [C]
     * took Gated DeltaNet's free part past four blocks an SM): there GL
     * is G's last row, so the error of token j's weight, (C - 1 - j) |G|
     * 2^-24 at most, falls where the weight is small (C 2^-24 / e at
     * most, whatever the decays). */
    cs->R = cs->decay && k->dims.data[c->dc].size > LONG_CHUNK && cs->nin
                ? kir_tile(k, arena_printf(a, "R_%s", nm), cC | cs->ddims)
                : -1;
    for (int s = 0; s < cs->nin; s++) {
      cs->ktile[s] = kir_tile(k, arena_printf(a, "k%d_%d", i, s), cC | (1u << cs->kdim));
      cs->vtile[s] = cs->vdims || cs->form->erase
                         ? kir_tile(k, arena_printf(a, "v%d_%d", i, s), cC | cs->vdims)
                         : -1;
    }
  }

  /* Loops. */
  int v_bh = kir_var(k, "bh"), v_n = kir_var(k, "n"), v_h = kir_var(k, "h");
  int v_c = kir_var(k, "c"), v_t0 = kir_var(k, "t0"), v_L = kir_var(k, "L");
  int v_bos = kir_var(k, "bos"), v_eos = kir_var(k, "eos");
  k->chunk_n = v_n, k->chunk_h = v_h, k->chunk_t0 = v_t0;
  k->chunk_tokens = Cn;
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
    if (c->tile[id] >= 0 && !c->pertoken[id] && !c->epi[id]) emit_node(c, outer, id);
  for (int i = 0; i < g->states.len; i++) {
    s = kir_stmt(k, outer, KS_IF_NULL);
    s->buf = bsin[i];
    KStmt *f = kir_stmt(k, &s->body, KS_FILL);
    f->tile = stile[i], f->num = 0;
    KStmt *ld = kir_stmt(k, &s->orelse, KS_LOAD);
    ld->tile = stile[i], ld->buf = bsin[i];
    ld->idx = kir_ibin(k, KI_MUL, nh, kir_ic(k, ir_slot_count(g, &g->states.data[i])));
  }
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
  s = kir_stmt(k, body, KS_NEST);
  s->space = dC;
  kir_assign(k, s, valid, KACC_SET, kir_ebelow(k, c->dc, iL));
  for (int id = 0; id < nn; id++)
    if (c->tile[id] >= 0 && c->pertoken[id] && !c->epi[id]) emit_node(c, body, id);

  /* Per state: log decays, the masked k_s and v_s. */
  for (int i = 0; i < g->states.len; i++) {
    CState *cs = &c->st[i];
    const StepForm *fm = cs->form;
    int f[32];
    if (cs->decay) {
      /* log α = Σ log of its factors (exp(x) contributes x). */
      int nf = flat_factors(g, &fm->alpha, f, 32), lg = -1;
      for (int j = 0; j < nf; j++) {
        int id = f[j] < 0 ? ~f[j] : f[j];
        const Node *cn = &g->nodes.data[id];
        int e = cn->op == OP_EXP && (c->tile[cn->args[0]] >= 0 || g->nodes.data[cn->args[0]].op == OP_CONST)
                    ? expr_of(c, cn->args[0])
                    : kir_eunary(k, OP_LOG, expr_of(c, id));
        if (f[j] < 0) e = kir_eunary(k, OP_NEG, e);
        lg = lg < 0 ? e : kir_ebinary(k, OP_ADD, lg, e);
      }
      lg = kir_ebinary(k, OP_MUL, lg, kir_eread(k, valid));
      DimSet cC = 1u << cs->cj;
      if (cs->nstep > 1) {
        /* A delta product decays once per token, at its first step. */
        int lt = kir_tile(k, arena_printf(a, "lg_%s", g->states.data[i].name), dC | cs->ddims);
        nest(c, body, dC | cs->ddims, lt, KACC_SET, lg);
        fill(c, body, cs->G, 0);
        interleave(c, body, cs->G, cs->cj, lt, c->rc, 0, cs->nstep);
      } else {
        nest(c, body, dC | cs->ddims, cs->G, KACC_SET, lg);
      }
      if (cs->R >= 0) {
        nest(c, body, cC | cs->ddims, cs->R, KACC_SET, kir_eread(k, cs->G));
        s = kir_stmt(k, body, KS_CUMSUM);
        s->tile = cs->R, s->dim = cs->cj, s->reverse = s->exclusive = true;
      }
      if (cs->Gx >= 0) nest(c, body, cC | cs->ddims, cs->Gx, KACC_SET, kir_eread(k, cs->G));
      /* GL: the running sum's total, G's last row (the padding's log
       * decays are 0), not a sum of its own, so that the last token's
       * weight exp(GL - G) is 1 */
      s = kir_stmt(k, body, KS_CUMSUM);
      s->tile = cs->G, s->dim = cs->cj, s->tile2 = cs->GL;
      s->rows = cs->nstep > 1 ? kir_ibin(k, KI_MUL, iL, kir_ic(k, cs->nstep)) : iL;
      if (cs->Gx >= 0)   /* exclusive: the decays before each token */
        nest(c, body, cC | cs->ddims, cs->Gx, KACC_SET,
             kir_ebinary(k, OP_SUB, kir_eread(k, cs->G), kir_eread(k, cs->Gx)));
      if (cs->ddims == (1u << cs->kdim)) {
        cs->Gabs = kir_tile(k, arena_printf(a, "Gabs_%s", g->states.data[i].name), 0);
        KStmt *z = kir_stmt(k, body, KS_FILL);
        z->tile = cs->Gabs, z->num = 0;
        nest(c, body, cC | cs->ddims, cs->Gabs, KACC_MAX, kir_eunary(k, OP_ABS, kir_eread(k, cs->G)));
      }
    }
    if (fm->erase) {
      /* The inputs along other keys first: the erase's solve reads them. */
      for (int t = 1, j = 0; j < fm->nin; j++)
        if (cs->other[j]) input_term(c, body, cs, t++, &fm->in[j], valid);
      lower_wy(c, body, i, valid, stile[i]);
      continue;
    }
    for (int t = 0; t < cs->nin; t++) input_term(c, body, cs, t, &fm->in[t], valid);
  }
  /* Readouts: R = exp(G) (x S) + Σ_s ((x k_sᵀ) ⊙ decay ⊙ mask) v_s, the
   * decay inside the products where it depends on the key (ALGORITHMS.md
   * §3.2: exact per-key exponents, every one masked before exp). */
  /* The readouts' factors k e^-G of their own: sharing the erase's
   * would keep that tile live across the solve (RWKV-7's free part at K =
   * V = 128: 75808 -> 82208 bytes, three blocks an SM -> two). */
  c->nfac = 0;
  for (int r = 0; r < c->nrd; r++) {
    Readout *rd = &c->rd[r];
    CState *cs = &c->st[rd->state];
    DimSet kd = 1u << cs->kdim;
    bool keydecay = cs->G >= 0 && cs->ddims == kd, valdecay = cs->G >= 0 && cs->ddims && !keydecay;
    /* Readouts of the state before the update see the decays before each
     * token (Gx) and the inputs of earlier tokens only (a strict mask). */
    bool strict = rd->before;
    int Gq = rd->before ? cs->Gx : cs->G;
    int xe = expr_of(c, rd->x), rt = rd->tile, ph = rd->before ? 0 : cs->nstep - 1;
    if (cs->nstep > 1) {
      /* A delta product: the readout on the virtual rows, x at the
       * token's last step (its first for a readout before the update)
       * and zero at the others; the results gathered back. */
      int xt = c->tile[rd->x];
      if (!(k->tiles.data[xt].dims & dC)) {
        xt = kir_tile(k, arena_printf(a, "xt%d", r), dC | kd);
        nest(c, body, dC | kd, xt, KACC_SET, xe);
      }
      int xj = kir_tile(k, arena_printf(a, "xj%d", r), (1u << cs->cj) | kd);
      fill(c, body, xj, 0);
      interleave(c, body, xj, cs->cj, xt, c->rc, ph, cs->nstep);
      xe = kir_eread(k, xj);
      rt = kir_tile(k, arena_printf(a, "rj%d", r), (1u << cs->cj) | cs->vdims);
    }
    core_dims(c, cs);
    DimSet cC = 1u << c->dc, cC2 = 1u << c->dc2;
    int x0 = xe, At = cs->A;
    fill(c, body, rt, 0);
    if (keydecay) {
      /* x ⊙ exp(G) first: the product below is then a plain one. */
      int xq = kir_tile(k, arena_printf(a, "xq%d", r), cC | kd);
      s = kir_stmt(k, body, KS_NEST);
      s->space = cC | kd;
      kir_assign(k, s, xq, KACC_SET, kir_ebinary(k, OP_MUL, xe, kir_eunary(k, OP_EXP, kir_eread(k, Gq))));
      xe = kir_eread(k, xq);
    }
    s = kir_stmt(k, body, KS_NEST);
    s->space = cC | kd | cs->vdims;
    kir_assign(k, s, rt, KACC_ADD, kir_ebinary(k, OP_MUL, xe, kir_eread(k, stile[rd->state])));
    if (cs->G >= 0 && !keydecay) {
      s = kir_stmt(k, body, KS_NEST);
      s->space = cC | cs->vdims;
      kir_assign(k, s, rt, KACC_SET,
                 kir_ebinary(k, OP_MUL, kir_eread(k, rt),
                             kir_eunary(k, OP_EXP, kir_eread(k, Gq))));
    }
    for (int t = 0; t < cs->nin; t++) {
      fill(c, body, At, 0);
      int qk = kir_ebinary(k, OP_MUL, x0, kir_eread_as(k, cs->ktile[t], c->dc, c->dc2));
      if (keydecay) {
        /* Per-key decays: while the chunk's cumulative decays stay within
         * e^±20, factorise, P = (x e^G)(k e^-G)ᵀ ⊙ M (a plain product;
         * every factor and every unmasked product is in range, masked
         * ones at most e^40 |x||k|); else the exact elementwise form. */
        int ke = decayed(c, body, cs->ktile[t], cs->G, true, kd, arena_printf(a, "ke%d_%d", r, t));
        KStmt *br = kir_stmt(k, body, KS_IF_LESS);
        br->tile = cs->Gabs, br->num = 20;
        nest(c, &br->body, cC | cC2 | kd, At, KACC_ADD,
             kir_ebinary(k, OP_MUL, xe, kir_eread_as(k, ke, c->dc, c->dc2)));
        nest(c, &br->body, cC | cC2, At, KACC_SET,
             kir_ebinary(k, OP_MUL, kir_eread(k, At), kir_emask(k, c->dc, c->dc2, strict)));
        nest(c, &br->orelse, cC | cC2 | kd, At, KACC_ADD,
             kir_ebinary(k, OP_MUL, qk, masked_decay_from(c, Gq, cs->G, strict)));
      } else {
        nest(c, body, cC | cC2 | kd, At, KACC_ADD, qk);
      }
      if (!keydecay) {
        int m = cs->G >= 0 && !valdecay ? masked_decay_from(c, Gq, cs->G, strict)
                                        : kir_emask(k, c->dc, c->dc2, strict);
        s = kir_stmt(k, body, KS_NEST);
        s->space = cC | cC2;
        kir_assign(k, s, At, KACC_SET, kir_ebinary(k, OP_MUL, kir_eread(k, At), m));
      }
      s = kir_stmt(k, body, KS_NEST);
      s->space = cC | cC2 | cs->vdims;
      int ve = cs->vtile[t] >= 0 ? kir_eread_as(k, cs->vtile[t], c->dc, c->dc2) : kir_econst(k, 1);
      if (valdecay) ve = kir_ebinary(k, OP_MUL, ve, masked_decay_from(c, Gq, cs->G, strict));
      kir_assign(k, s, rt, KACC_ADD, kir_ebinary(k, OP_MUL, kir_eread(k, At), ve));
    }
    token_dims(c);
    if (cs->nstep > 1) interleave(c, body, rd->tile, c->rc, rt, cs->cj, ph, cs->nstep);
  }
  /* Epilogue nodes, then the stores. */
  for (int id = 0; id < nn; id++)
    if (c->epi[id]) emit_node(c, body, id);
  for (int o = 0; o < g->outputs.len; o++) {
    int v = g->outputs.data[o].value;
    int t = c->readout_of[v] >= 0 ? c->rd[c->readout_of[v]].tile : c->tile[v];
    if (t < 0 || !(k->tiles.data[t].dims & dC)) {
      *why = "an output is not computed per token";
      return NULL;
    }
    long cnt = ir_slot_count(g, &g->outputs.data[o]);
    s = kir_stmt(k, body, KS_STORE);
    s->tile = t, s->buf = bout[o];
    s->idx = kir_ibin(k, KI_MUL, row0, kir_ic(k, cnt));
    s->rowdim = c->dc, s->rows = iL, s->rowstride = kir_ibin(k, KI_MUL, iH, kir_ic(k, cnt));
  }
  /* State update: S = exp(GL) S + Σ_s Σ_j (k_s,j exp(GL - G_j)) ⊗ v_s,j. */
  for (int i = 0; i < g->states.len; i++) {
    CState *cs = &c->st[i];
    DimSet sd = g->states.data[i].dimset;
    core_dims(c, cs);
    DimSet cC = 1u << c->dc, cC2 = 1u << c->dc2;
    if (cs->G >= 0) {
      s = kir_stmt(k, body, KS_NEST);
      s->space = sd;
      kir_assign(k, s, stile[i], KACC_SET,
                 kir_ebinary(k, OP_MUL, kir_eunary(k, OP_EXP, kir_eread(k, cs->GL)),
                             kir_eread(k, stile[i])));
    }
    /* The decay from each token to the chunk's end, once per token (not
     * once per state element). */
    int dec = -1;
    bool valdecay = cs->ddims && cs->ddims != (1u << cs->kdim);
    if (cs->G >= 0 && cs->nin) {
      /* (from the suffix sums, in their own tile: no tile more) */
      dec = cs->R >= 0 ? cs->R : kir_tile(k, arena_printf(a, "dec_%s", g->states.data[i].name), cC | cs->ddims);
      s = kir_stmt(k, body, KS_NEST);
      s->space = cC | cs->ddims;
      kir_assign(k, s, dec, KACC_SET,
                 kir_eunary(k, OP_EXP, cs->R >= 0 ? kir_eread(k, cs->R)
                                                  : kir_ebinary(k, OP_SUB, kir_eread(k, cs->GL),
                                                                kir_eread(k, cs->G))));
    }
    for (int t = 0; t < cs->nin; t++) {
      int kt = cs->ktile[t], vt = cs->vtile[t];
      if (dec >= 0 && !valdecay) {
        /* k_s scaled by the decay first: the product below is then a
         * plain matrix product Kᵀ V. */
        kt = kir_tile(k, arena_printf(a, "kd%d_%d", i, t), cC | (1u << cs->kdim));
        s = kir_stmt(k, body, KS_NEST);
        s->space = cC | (1u << cs->kdim);
        kir_assign(k, s, kt, KACC_SET,
                   kir_ebinary(k, OP_MUL, kir_eread(k, cs->ktile[t]), kir_eread(k, dec)));
      } else if (dec >= 0) {
        /* A decay per value: scale v_s instead. */
        int nv = kir_tile(k, arena_printf(a, "vd%d_%d", i, t), cC | cs->vdims);
        s = kir_stmt(k, body, KS_NEST);
        s->space = cC | cs->vdims;
        kir_assign(k, s, nv, KACC_SET,
                   vt >= 0 ? kir_ebinary(k, OP_MUL, kir_eread(k, vt), kir_eread(k, dec)) : kir_eread(k, dec));
        vt = nv;
      }
      s = kir_stmt(k, body, KS_NEST);
      s->space = sd | cC2;
      int e = kir_eread_as(k, kt, c->dc, c->dc2);
      if (vt >= 0) e = kir_ebinary(k, OP_MUL, e, kir_eread_as(k, vt, c->dc, c->dc2));
      kir_assign(k, s, stile[i], KACC_ADD, e);
    }
    token_dims(c);
  }
  for (int i = 0; i < g->states.len; i++) {
    s = kir_stmt(k, outer, KS_IF_NULL);
    s->buf = bsout[i];
    KStmt *st = kir_stmt(k, &s->orelse, KS_STORE);
    st->buf = bsout[i], st->tile = stile[i];
    st->idx = kir_ibin(k, KI_MUL, nh, kir_ic(k, ir_slot_count(g, &g->states.data[i])));
  }
  const char *bad = kir_verify(k);
  if (bad) ir_internal_error(__FILE__, __LINE__, "chunk kernel of '%s': %s", g->name, bad);
  return k;
}
