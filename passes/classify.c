/* classify.c — linearity proof and transition classification.
 *
 * Requires a verified graph (fold and cse applied, not factor: the
 * classification reads the structure the source wrote). Produces, for each
 * state, whether its update is affine in the states and, if so, the class
 * of its transition (ALGORITHMS.md §1.2) with a readable formula; changes
 * nothing.
 *
 * Linearity: a node is affine in the states when it is a state, is free of
 * states, or combines affine nodes by +, -, negation, multiplication or
 * division by a state-free value, sums, and contractions with a state-free
 * operand. Anything else that touches a state (a function of it, a product
 * of two state-dependent values, a division by one) breaks linearity; the
 * first such node on the way to a state write is reported.
 *
 * Classification follows the chain of assignments to a state (the write
 * markers sema leaves): each assignment S_j = f(S_{j-1}) is expanded into
 * terms c ⊙ S_{j-1} (a decay: scalar, per key, per value or per element)
 * and x ⊙ Σ_R (y ⊙ S_{j-1}) (a rank-1 correction contracting dims R), plus
 * a state-free input. A correction with x and y along the same vector,
 * next to an identity, is a delta-rule (Householder) step I - beta k kᵀ.
 */
#include "passes.h"

#include <stdlib.h>
#include <string.h>

enum { MAXF = 12, MAXT = 8 };

/* A term of an affine expression in one variable X:
 *   sign * Π f  ⊙  X                       (contract == false)
 *   sign * Π f  ⊙  Σ_R (Π y ⊙ X)           (contract == true) */
typedef struct Term {
  int sign;
  int nf, f[MAXF];
  bool contract;
  DimSet R;
  int ny, y[MAXF];
} Term;

typedef struct Lin {
  bool ok;                 /* representable with at most MAXT terms */
  int nt;
  Term t[MAXT];
  bool has_input;          /* a state-free part */
  bool in_ok;              /* ... and it is the sum of the products `in` */
  int nin;
  Term in[MAXT];           /* state-free products sign * Π f (no X) */
} Lin;

typedef struct Cx {
  Arena *arena;
  const Graph *g;
  uint64_t *deps;          /* states each node depends on (first 64) */
  bool *affine;            /* affine in the states */
  int *origin;             /* first non-affine node behind this one */
  const char **why;        /* why origin[] is not affine */
  DimSet key;              /* the key dim of the state classified now */
  uint64_t coupled;        /* other states its update reads (expand) */
} Cx;

static const char *state_names(const Cx *c, uint64_t deps) {
  Buf b = {0};
  int n = 0;
  for (int i = 0; i < c->g->states.len && i < 64; i++)
    if (deps & (1ull << i)) buf_printf(&b, "%s'%s'", n++ ? ", " : "", c->g->states.data[i].name);
  const char *r = arena_strdup(c->arena, b.s ? b.s : "");
  buf_free(&b);
  return r;
}

/* Linearity of every node, forwards. */
static void linearity(Cx *c) {
  const Graph *g = c->g;
  for (int id = 0; id < g->nodes.len; id++) {
    const Node *n = &g->nodes.data[id];
    const OpInfo *oi = &ir_ops[n->op];
    uint64_t d = 0;
    bool aff = true;
    int org = -1;
    for (int k = 0; k < oi->nargs; k++) {
      d |= c->deps[n->args[k]];
      if (!c->affine[n->args[k]] && org < 0) {
        aff = false;
        org = c->origin[n->args[k]];
      }
    }
    if (n->op == OP_STATE) d = n->index < 64 ? 1ull << n->index : ~0ull;
    c->deps[id] = d;
    c->origin[id] = org;
    if (!aff || !d) {
      c->affine[id] = aff;
      continue;
    }
    uint64_t da = oi->nargs > 0 ? c->deps[n->args[0]] : 0;
    uint64_t db = oi->nargs > 1 ? c->deps[n->args[1]] : 0;
    const char *why = NULL;
    switch (n->op) {
    case OP_STATE: case OP_WRITE: case OP_NEG: case OP_ADD: case OP_SUB: case OP_SUM:
      break;
    case OP_MUL:
    case OP_DOT:
      if (da && db)
        why = arena_printf(c->arena, "it multiplies two values that depend on state %s",
                           state_names(c, da | db));
      break;
    case OP_DIV:
      if (db)
        why = arena_printf(c->arena, "it divides by a value that depends on state %s",
                           state_names(c, db));
      break;
    default:
      why = arena_printf(c->arena, "it applies %s to a value that depends on state %s",
                         oi->text, state_names(c, d));
      break;
    }
    c->affine[id] = why == NULL;
    if (why) {
      c->origin[id] = id;
      c->why[id] = why;
    }
  }
}

/* Expand node `id`, affine in the single variable `x` (a version of one
 * state), into terms. `fail` is set when the form is outside what the
 * terms can describe (nested contractions, another version of the state,
 * another state, too many terms). */
static Lin expand(Cx *c, int id, int x, uint64_t xstate, bool *fail) {
  const Graph *g = c->g;
  const Node *n = &g->nodes.data[id];
  Lin r = {.ok = true, .in_ok = true};
  if (id == x) {
    r.nt = 1;
    r.t[0] = (Term){.sign = 1};
    return r;
  }
  if (!c->deps[id]) {
    r.has_input = true;
    r.nin = 1;
    r.in[0] = (Term){.sign = 1, .nf = 1, .f = {id}};
    return r;
  }
  if (c->deps[id] & ~xstate) {
    *fail = true;   /* depends on another state: coupled */
    c->coupled |= c->deps[id] & ~xstate;
    return r;
  }
  if (n->op == OP_STATE || (n->op == OP_WRITE && (1ull << n->index) == xstate)) {
    *fail = true;   /* an older version of the state than x */
    return r;
  }
  Lin a, b;
  switch (n->op) {
  case OP_WRITE:
    return expand(c, n->args[0], x, xstate, fail);
  case OP_NEG:
    r = expand(c, n->args[0], x, xstate, fail);
    for (int i = 0; i < r.nt; i++) r.t[i].sign = -r.t[i].sign;
    for (int i = 0; i < r.nin; i++) r.in[i].sign = -r.in[i].sign;
    return r;
  case OP_ADD:
  case OP_SUB:
    a = expand(c, n->args[0], x, xstate, fail);
    b = expand(c, n->args[1], x, xstate, fail);
    if (a.nt + b.nt > MAXT) {
      *fail = true;
      return r;
    }
    r = a;
    r.has_input |= b.has_input;
    r.in_ok &= b.in_ok && a.nin + b.nin <= MAXT;
    for (int i = 0; i < b.nin && r.in_ok; i++) {
      r.in[r.nin] = b.in[i];
      if (n->op == OP_SUB) r.in[r.nin].sign = -r.in[r.nin].sign;
      r.nin++;
    }
    for (int i = 0; i < b.nt; i++) {
      r.t[r.nt] = b.t[i];
      if (n->op == OP_SUB) r.t[r.nt].sign = -r.t[r.nt].sign;
      r.nt++;
    }
    return r;
  case OP_MUL:
  case OP_DIV: {
    bool left = c->deps[n->args[0]] != 0;
    int other = n->args[left ? 1 : 0];
    r = expand(c, n->args[left ? 0 : 1], x, xstate, fail);
    /* A divisor is recorded as ~id: a factor 1/divisor. */
    for (int i = 0; i < r.nt; i++) {
      if (r.t[i].nf == MAXF) *fail = true;
      else r.t[i].f[r.t[i].nf++] = n->op == OP_DIV ? ~other : other;
    }
    for (int i = 0; i < r.nin; i++) {
      if (r.in[i].nf == MAXF) r.in_ok = false;
      else r.in[i].f[r.in[i].nf++] = n->op == OP_DIV ? ~other : other;
    }
    return r;
  }
  case OP_SUM:
  case OP_DOT: {
    bool left = n->op == OP_SUM || c->deps[n->args[0]] != 0;
    r = expand(c, n->args[left ? 0 : 1], x, xstate, fail);
    if (r.nin) r.in_ok = false;   /* a contraction of an input: not a product */
    for (int i = 0; i < r.nt; i++) {
      Term *t = &r.t[i];
      if (t->contract) {
        *fail = true;   /* a contraction of a contraction */
        continue;
      }
      /* Factors move inside the sum: Σ_R (f ⊙ [other] ⊙ X). */
      t->contract = true;
      t->R = n->rdims;
      t->ny = t->nf;
      memcpy(t->y, t->f, sizeof t->f);
      t->nf = 0;
      if (n->op == OP_DOT) {
        if (t->ny == MAXF) *fail = true;
        else t->y[t->ny++] = n->args[left ? 1 : 0];
      }
    }
    return r;
  }
  default:
    *fail = true;
    return r;
  }
}

/* Factor ids: ~id stands for 1/id. */
static int fid(int f) { return f < 0 ? ~f : f; }

/* Text for a product of factors: their source names or expressions. */
static void put_node(const Cx *c, int id, Buf *b) {
  if (id < 0) {
    buf_puts(b, "1/");
    id = ~id;
  }
  const Node *n = &c->g->nodes.data[id];
  if (n->op == OP_CONST) {
    buf_printf(b, "%g", n->num);
    return;
  }
  const char *name = n->name;
  if (!name && (n->op == OP_INPUT)) name = c->g->inputs.data[n->index].name;
  if (!name && (n->op == OP_PARAM)) name = c->g->params.data[n->index].name;
  if (name) {
    buf_puts(b, name);
    return;
  }
  uint32_t len = n->span.end - n->span.off;
  if (n->span.src && len > 0 && len <= 40) {
    for (uint32_t i = 0; i < len; i++) {
      char ch = n->span.src->text[n->span.off + i];
      buf_putn(b, ch == '\n' || ch == '\t' ? " " : &ch, 1);
    }
  } else {
    buf_printf(b, "%%%d", id);
  }
}

static void put_product(const Cx *c, const int *f, int nf, DimSet only, bool match_dims, Buf *b) {
  int n = 0;
  for (int i = 0; i < nf; i++) {
    DimSet d = c->g->nodes.data[fid(f[i])].dims;
    if (match_dims && d != only) continue;
    if (n++) buf_puts(b, " ");
    put_node(c, f[i], b);
  }
  if (!n) buf_puts(b, "1");
}

static DimSet factor_dims(const Cx *c, const int *f, int nf) {
  DimSet d = 0;
  for (int i = 0; i < nf; i++) d |= c->g->nodes.data[fid(f[i])].dims;
  return d;
}

/* The non-scalar factors of a product, as a sorted set of node ids. */
static int vector_factors(const Cx *c, const int *f, int nf, int *out) {
  int n = 0;
  for (int i = 0; i < nf; i++)
    if (c->g->nodes.data[fid(f[i])].dims) out[n++] = f[i];
  for (int i = 1; i < n; i++)
    for (int j = i; j > 0 && out[j] < out[j - 1]; j--) {
      int t = out[j];
      out[j] = out[j - 1];
      out[j - 1] = t;
    }
  return n;
}

/* Takes factor f[i] apart where it is a product, a quotient or a negation
 * (k * beta, k / n, -beta: one node each): its operands go in its place
 * (a divisor as ~id), a negation into *sign. False where f[i] is none of
 * them or the list is full. */
static bool split_factor(const Cx *c, int *f, int *n, int i, int *sign) {
  if (f[i] < 0) return false;
  const Node *x = &c->g->nodes.data[f[i]];
  if (x->op == OP_NEG) {
    *sign = -*sign;
    f[i] = x->args[0];
    return true;
  }
  if ((x->op != OP_MUL && x->op != OP_DIV) || *n == MAXF) return false;
  f[(*n)++] = x->op == OP_DIV ? ~x->args[1] : x->args[1];
  f[i] = x->args[0];
  return true;
}

/* The factors f[0..*n) with products of scalars (a * beta) taken apart;
 * vectors stay whole (l2norm(k) is k times a scalar, and stays k). */
static void flat_scalars(const Cx *c, int *f, int *n, int *sign) {
  for (int i = 0; i < *n; i++)
    if (!c->g->nodes.data[fid(f[i])].dims && split_factor(c, f, n, i, sign)) i--;
}

static bool has_factor(const int *f, int n, int id) {
  for (int i = 0; i < n; i++)
    if (f[i] == id) return true;
  return false;
}

/* Whether node `id` is one of the factors of product `p` (through its
 * products, quotients and negations). */
static bool inside(const Cx *c, int p, int id) {
  if (p == id) return true;
  const Node *x = &c->g->nodes.data[p];
  if (x->op == OP_NEG) return inside(c, x->args[0], id);
  if (x->op == OP_MUL || x->op == OP_DIV)
    return inside(c, x->args[0], id) || (x->op == OP_MUL && inside(c, x->args[1], id));
  return false;
}

/* Whether factor i of f[0..n) should be taken apart to match the other
 * side o[0..no): a negation, or a vector the other side lacks and holds
 * no product of (there the other side's product is taken apart). */
static bool to_split(const Cx *c, const int *f, int i, const int *o, int no) {
  const Node *x = &c->g->nodes.data[fid(f[i])];
  if (x->op == OP_NEG) return true;
  if (!x->dims || f[i] < 0 || has_factor(o, no, f[i])) return false;
  for (int j = 0; j < no; j++)
    if (o[j] >= 0 && inside(c, o[j], f[i])) return false;
  return true;
}

/* A rank-1 term's two sides taken apart only as far as they differ: a
 * vector factor of one side that the other lacks is split where it is a
 * product, so outer(k * beta, v - k @ S) has k on both sides and beta
 * beside, while a k written l2norm(k) on both stays whole (and a scalar
 * beta2 = 2 * sigmoid(b2) stays beta2); negations go into the sign. */
static void match_sides(const Cx *c, Term *t) {
  for (bool changed = true; changed;) {
    changed = false;
    for (int i = 0; i < t->nf; i++)
      if (to_split(c, t->f, i, t->y, t->ny) && split_factor(c, t->f, &t->nf, i, &t->sign))
        changed = true, i--;
    for (int i = 0; i < t->ny; i++)
      if (to_split(c, t->y, i, t->f, t->nf) && split_factor(c, t->y, &t->ny, i, &t->sign))
        changed = true, i--;
  }
}

/* Classify one assignment S_j = f(S_{j-1}); appends its factor text. */
static TransClass classify_step(Cx *c, const Slot *sl, const Lin *l, Buf *text) {
  const Graph *g = c->g;
  DimSet key = c->key;
  int ndirect = 0, ncontract = 0;
  const Term *direct = NULL, *rank = NULL;
  Term flat;
  for (int i = 0; i < l->nt; i++) {
    if (l->t[i].contract) ncontract++, rank = &l->t[i];
    else ndirect++, direct = &l->t[i];
  }
  if (rank && ncontract == 1) {
    flat = *rank;
    match_sides(c, &flat);
    rank = &flat;
  }
  if (ncontract == 0) {
    if (ndirect == 0) {
      buf_puts(text, "0");
      return TC_SCALAR;
    }
    if (ndirect > 1) {
      buf_puts(text, "(sum of decays)");
      DimSet d = 0;
      for (int i = 0; i < l->nt; i++) d |= factor_dims(c, l->t[i].f, l->t[i].nf);
      return !d ? TC_SCALAR : d == key ? TC_DIAG : d == sl->dimset ? TC_ELEMENTWISE : TC_DIAG_V;
    }
    DimSet d = factor_dims(c, direct->f, direct->nf);
    if (direct->nf == 0 && direct->sign > 0) {
      buf_puts(text, "I");
      return TC_IDENTITY;
    }
    const char *kind = !d ? "scalar" : d == key && sl->ndims > 1 ? "diag" : d == sl->dimset ? (sl->ndims > 1 ? "elementwise" : "diag") : "diag_v";
    buf_printf(text, "%s(%s", kind, direct->sign < 0 ? "-" : "");
    put_product(c, direct->f, direct->nf, 0, false, text);
    buf_puts(text, ")");
    if (!d) return TC_SCALAR;
    if (sl->ndims == 1) return TC_ELEMENTWISE;
    return d == key ? TC_DIAG : d == sl->dimset ? TC_ELEMENTWISE : TC_DIAG_V;
  }
  /* Rank-1 corrections: x ⊙ Σ_R (y ⊙ S) with R the key dim. */
  if (ncontract == 1 && ndirect == 1 && rank->R == key && key) {
    int xv[MAXF], yv[MAXF];
    int nx = vector_factors(c, rank->f, rank->nf, xv), ny = vector_factors(c, rank->y, rank->ny, yv);
    bool same = nx == ny && nx > 0 && memcmp(xv, yv, sizeof(int) * (size_t)nx) == 0;
    bool direct_identity = direct->nf == 0 && direct->sign > 0;
    bool keyonly = factor_dims(c, rank->f, rank->nf) == key && factor_dims(c, rank->y, rank->ny) == key;
    if (same && direct_identity && keyonly) {
      /* I - beta k kᵀ: beta is the scalar factors of x and y together,
       * of either sign (I + beta k kᵀ is the same form, beta negated). */
      buf_puts(text, rank->sign < 0 ? "(I - " : "(I + ");
      int sc[2 * MAXF], ns = 0;
      for (int i = 0; i < rank->nf; i++)
        if (!g->nodes.data[fid(rank->f[i])].dims) sc[ns++] = rank->f[i];
      for (int i = 0; i < rank->ny; i++)
        if (!g->nodes.data[fid(rank->y[i])].dims) sc[ns++] = rank->y[i];
      if (ns) {
        put_product(c, sc, ns, 0, false, text);
        buf_puts(text, " ");
      }
      put_product(c, xv, nx, 0, false, text);
      buf_puts(text, " ");
      put_product(c, xv, nx, 0, false, text);
      buf_puts(text, "ᵀ)");
      return TC_DELTA;
    }
    if (keyonly) {
      buf_puts(text, "(");
      if (!direct_identity) {
        buf_printf(text, "%s(%s", factor_dims(c, direct->f, direct->nf) ? "diag" : "scalar",
                   direct->sign < 0 ? "-" : "");
        put_product(c, direct->f, direct->nf, 0, false, text);
        buf_puts(text, ")");
      } else {
        buf_puts(text, "I");
      }
      buf_printf(text, " %s ", rank->sign < 0 ? "-" : "+");
      put_product(c, rank->f, rank->nf, 0, false, text);
      buf_puts(text, " (");
      put_product(c, rank->y, rank->ny, 0, false, text);
      buf_puts(text, ")ᵀ)");
      return TC_DPLR;
    }
  }
  buf_puts(text, "dense");
  return TC_DENSE;
}

/* l's decay term (c ⊙ X) and rank-1 term (a contraction), each NULL
 * where l has none; false where it has two of either. */
static bool one_each(const Lin *l, const Term **direct, const Term **rank) {
  *direct = *rank = NULL;
  for (int i = 0; i < l->nt; i++) {
    const Term **t = l->t[i].contract ? rank : direct;
    if (*t) return false;
    *t = &l->t[i];
  }
  return true;
}

/* Compose one assignment (expanded in the previous version) into the
 * state's step form; false when it does not fit (see StepForm). */
static bool form_step(const Cx *c, const Slot *sl, const Lin *l, StepForm *f) {
  DimSet key = c->key;
  const Term *direct, *rank;
  if (!one_each(l, &direct, &rank) || !direct || (l->has_input && !l->in_ok)) return false;
  Term flat;
  if (rank) {
    flat = *rank;
    match_sides(c, &flat);
    rank = &flat;
  }
  /* The decay: scalars, or over any of the state's dims (per key, per
   * value, or per element: the scan form takes them all; the chunk form
   * and an erase take the first two only, and check). */
  DimSet dd = 0;
  bool before = false;
  for (int i = 0; i < direct->nf; i++) dd |= c->g->nodes.data[fid(direct->f[i])].dims;
  if (dd & ~sl->dimset) return false;
  f->ddims |= dd;
  if (rank) {
    /* The erase: I − β k kᵀ next to an identity, before any input. */
    /* A per-key decay may come before the erase (KDA), not a per-value one. */
    /* Several erases (DeltaProduct): each after the inputs of the one
     * before, with scalar decays anywhere (scalars commute with the
     * erases: α is the token's whole decay, and each input takes the
     * decays after it) and a per-key decay before the first only. */
    /* A decay beside the erase in one assignment, the erase reading the
     * state before it (α S − β k (yᵀ S): RWKV-7's Diag(w) + a bᵀ): the
     * token's first and only erase, after no decay. */
    before = direct->nf > 0;
    if ((!f->erase && f->nin) || f->nerase == FORM_MAXERASE || direct->sign < 0 ||
        rank->R != key || !key || (f->ddims && f->ddims != key) ||
        (before && (f->erase || f->alpha.nf)))
      return false;
    int xv[MAXF], yv[MAXF];
    int nx = vector_factors(c, rank->f, rank->nf, xv), ny = vector_factors(c, rank->y, rank->ny, yv);
    bool same = nx == ny && memcmp(xv, yv, sizeof(int) * (size_t)nx) == 0;
    if (nx == 0 || ny == 0 || factor_dims(c, xv, nx) != key || factor_dims(c, yv, ny) != key)
      return false;
    for (int i = 0; i < nx + ny; i++)
      if (c->g->nodes.data[fid(i < nx ? xv[i] : yv[i - nx])].dims != key) return false;
    /* Sides that differ, or a read before the decay: one erase a token. */
    if (f->nerase && (!same || before || f->read.nf || f->read_before)) return false;
    FProd *beta = &f->beta[f->nerase], *fk = &f->key[f->nerase];
    f->nerase++;
    f->erase = true;
    f->read_before = before;
    if (!same) {
      f->read = (FProd){.sign = 1, .nf = ny};
      memcpy(f->read.f, yv, sizeof(int) * (size_t)ny);
    }
    *beta = (FProd){.sign = -rank->sign};
    for (int i = 0; i < rank->nf + rank->ny; i++) {
      int x = i < rank->nf ? rank->f[i] : rank->y[i - rank->nf];
      if (c->g->nodes.data[fid(x)].dims) continue;
      if (beta->nf == FPROD_MAX) return false;
      beta->f[beta->nf++] = x;
    }
    *fk = (FProd){.sign = 1, .nf = nx};
    memcpy(fk->f, xv, sizeof(int) * (size_t)nx);
  }
  if (f->erase && dd && !before) return false;   /* a diagonal decay after the erase */
  /* (a decay after a read-before erase would scale its β too) */
  if (f->read_before && !before && direct->nf) return false;
  /* Earlier inputs decay with this step; then this step's own inputs. */
  for (int s = -1; s < f->nin; s++) {
    FProd *p = s < 0 ? &f->alpha : &f->in[s];
    if (p->nf + direct->nf > FPROD_MAX) return false;
    memcpy(p->f + p->nf, direct->f, sizeof(int) * (size_t)direct->nf);
    p->nf += direct->nf;
    p->sign *= direct->sign;
  }
  for (int i = 0; i < l->nin; i++) {
    if (f->nin == FORM_MAXIN) return false;
    f->in_step[f->nin] = f->nerase ? f->nerase - 1 : 0;
    f->in[f->nin++] = (FProd){.sign = l->in[i].sign, .nf = l->in[i].nf};
    memcpy(f->in[f->nin - 1].f, l->in[i].f, sizeof(int) * (size_t)l->in[i].nf);
  }
  return true;
}

/* Takes factor f out of list[0..*n): where none is f, one that holds f
 * in its product (k * a * d holding d) is taken apart first; false where
 * none does. */
static bool take_factor(const Cx *c, int *list, int *n, int f, int *sign) {
  for (;;) {
    for (int j = 0; j < *n; j++)
      if (list[j] == f) {
        list[j] = list[--*n];
        return true;
      }
    int j = 0;
    while (j < *n && !(f >= 0 && list[j] >= 0 && inside(c, list[j], f))) j++;
    if (j == *n || !split_factor(c, list, n, j, sign)) return false;
  }
}

/* An assignment that decays and erases in one expression, as a
 * researcher may write Gated DeltaNet's step: S = a S + β k (v − a kᵀS)
 * expands to a ⊙ S − (β a) k Σ_K(k ⊙ S) + β k vᵀ, one term D ⊙ S and a
 * rank-1 term whose y (the side applied to S first) carries D's factors
 * again: a decay D then an erase I − β k kᵀ (scalar factors of D may sit
 * on either side; they commute; a scalar factor missing from both goes
 * into β as its reciprocal: Comba's α I − β k kᵀ is α (I − (β/α) k kᵀ),
 * and *beside says so: the step form then takes l whole, the erase
 * reading the state before the decay, with no reciprocal to overflow).
 * Splits l into parts[0], the decay, and
 * parts[1], the erase with l's inputs; returns 2, or 1 with parts[0] = l
 * where l is not such. */
static int split_decay(const Cx *c, const Lin *l, Lin *parts, bool *beside) {
  *beside = false;
  parts[0] = *l;
  DimSet key = c->key;
  const Term *direct, *rank;
  if (!one_each(l, &direct, &rank) || !direct || !rank || !direct->nf || direct->sign < 0 || !key || rank->R != key) return 1;
  Term r = *rank, d = *direct;
  match_sides(c, &r);
  for (int i = 0; i < d.nf; i++)   /* the decay in its factors: a * d is a and d */
    while (split_factor(c, d.f, &d.nf, i, &d.sign)) {}
  flat_scalars(c, r.f, &r.nf, &r.sign);
  flat_scalars(c, r.y, &r.ny, &r.sign);
  if (d.sign < 0) return 1;
  for (int i = 0; i < d.nf; i++) {
    int f = d.f[i];
    if (take_factor(c, r.y, &r.ny, f, &r.sign)) continue;
    if (c->g->nodes.data[fid(f)].dims) return 1;   /* (a per-key decay after the erase) */
    if (take_factor(c, r.f, &r.nf, f, &r.sign)) continue;
    /* A scalar the erase lacks: α I − β k kᵀ = α (I − (β/α) k kᵀ)
     * (Comba's form; α > 0 where the chunk form takes it). */
    if (r.nf == MAXF) return 1;
    r.f[r.nf++] = ~f;
    *beside = true;
  }
  parts[0] = (Lin){.ok = true, .nt = 1, .t = {d}, .in_ok = true};
  parts[1] = *l;
  parts[1].nt = 2;
  parts[1].t[0] = (Term){.sign = 1};
  parts[1].t[1] = r;
  return 2;
}

static const char *class_name(TransClass k) {
  static const char *names[] = {"unwritten", "identity", "scalar", "diagonal", "diagonal (value side)",
                                "elementwise", "delta rule", "delta product", "diagonal plus rank 1",
                                "dense", "not linear"};
  return names[k];
}

const char *pass_class_name(TransClass k) { return class_name(k); }

/* Rank classes so that a chain takes its most general step's class. */
static int rank_of(TransClass k) {
  switch (k) {
  case TC_UNWRITTEN: return 0;
  case TC_IDENTITY: return 1;
  case TC_SCALAR: return 2;
  case TC_DIAG: case TC_DIAG_V: return 3;
  case TC_ELEMENTWISE: return 4;
  case TC_DELTA: return 5;
  case TC_DELTA_PRODUCT: return 6;
  case TC_DPLR: return 7;
  case TC_DENSE: return 8;
  case TC_NONLINEAR: return 9;
  }
  return 9;
}

/* The dim state-free vectors contract state i along, over the nodes in
 * only[] (NULL: all): -1 where none does, -2 where they disagree. */
static int contracted_key(const Cx *c, int i, const bool *only) {
  const Graph *g = c->g;
  const Slot *sl = &g->states.data[i];
  int key = -1;
  for (int id = 0; id < g->nodes.len; id++) {
    const Node *n = &g->nodes.data[id];
    if (n->op != OP_DOT || (only && !only[id])) continue;
    int a = n->args[0], b = n->args[1];
    if (c->deps[a]) a = n->args[1], b = n->args[0];
    if (c->deps[a] || c->deps[b] != 1ull << i || g->nodes.data[b].dims != sl->dimset ||
        g->nodes.data[a].dims != n->rdims || __builtin_popcount(n->rdims) != 1)
      continue;
    int d = __builtin_ctz(n->rdims);
    if (key >= 0 && key != d) return -2;
    key = d;
  }
  return key;
}

/* The key dim of state i: the dim that state-free vectors contract it
 * along (k @ S, x @ S, sum(q * z)) where every such contraction agrees,
 * those of its own update (the erase's k @ S) first, else its first dim.
 * S[K, V] read as q @ S has K; S[V, K] erased as S @ k has K too, whatever
 * its readouts contract. */
static int state_key(const Cx *c, int i) {
  const Graph *g = c->g;
  const Slot *sl = &g->states.data[i];
  if (sl->ndims == 0) return -1;
  /* upd[]: the nodes its update is computed from (operands come first). */
  bool *upd = arena_alloc(c->arena, (size_t)g->nodes.len + 1);
  if (sl->value >= 0) upd[sl->value] = true;
  for (int id = sl->value; id >= 0; id--)
    if (upd[id])
      for (int a = 0; a < ir_ops[g->nodes.data[id].op].nargs; a++) upd[g->nodes.data[id].args[a]] = true;
  int key = contracted_key(c, i, upd);
  if (key == -2) return sl->dims[0];
  if (key >= 0) return key;
  key = contracted_key(c, i, NULL);
  return key >= 0 ? key : sl->dims[0];
}

Analysis *pass_classify(Arena *a, const Graph *g) {
  int nn = g->nodes.len;
  Cx c = {a, g, arena_alloc(a, sizeof(uint64_t) * (size_t)(nn + 1)),
          arena_alloc(a, (size_t)nn + 1), arena_alloc(a, sizeof(int) * (size_t)(nn + 1)),
          arena_alloc(a, sizeof(char *) * (size_t)(nn + 1)), 0, 0};
  linearity(&c);
  Analysis *an = arena_alloc(a, sizeof *an);
  an->nstates = g->states.len;
  an->st = arena_alloc(a, sizeof(StateInfo) * (size_t)(g->states.len + 1));
  an->affine = true;
  for (int i = 0; i < g->states.len; i++) {
    StateInfo *si = &an->st[i];
    const Slot *sl = &g->states.data[i];
    si->culprit = -1;
    si->key = i < 64 ? state_key(&c, i) : sl->ndims ? sl->dims[0] : -1;
    c.coupled = 0;
    c.key = si->key >= 0 ? 1u << si->key : 0;
    int f = sl->value;
    if (f < 0) {
      si->cls = TC_UNWRITTEN;
      si->transition = "I (never written)";
      continue;
    }
    if (!c.affine[f]) {
      si->cls = TC_NONLINEAR;
      si->culprit = c.origin[f];
      si->why = c.why[si->culprit];
      si->transition = "not linear";
      an->affine = false;
      continue;
    }
    if (i >= 64) {
      si->cls = TC_DENSE;
      si->transition = "dense (too many states to analyse)";
      continue;
    }
    /* Walk the chain of versions back to the state read. */
    uint64_t me = 1ull << i;
    int steps[64], nsteps = 0;
    int v = f;
    bool fail = false;
    while (!fail && nsteps < 64 && g->nodes.data[v].op == OP_WRITE) {
      /* The previous version: the state read or write of this state that
       * the assignment's expression reaches first (the newest). */
      int prev = -1;
      for (int id = v - 1; id >= 0 && prev < 0; id--) {
        const Node *m = &g->nodes.data[id];
        if ((m->op == OP_STATE && m->index == i) || (m->op == OP_WRITE && m->index == i)) prev = id;
      }
      steps[nsteps++] = v;
      if (prev < 0) break;
      v = prev;
    }
    if (g->nodes.data[v].op == OP_WRITE) {
      /* The first write reads no version of the state: S = input. */
    }
    Buf text = {0};
    int worst = 0, ndelta = 0;
    TransClass cls = TC_IDENTITY;
    StepForm *form = arena_alloc(a, sizeof *form);
    bool form_ok = true, took_beside = false;
    /* (a second pass, without the read-before form of Comba's spelling,
     * where taking it left the later assignments no step form) */
    for (int pass = 0; pass < 2 && (!pass || (!form_ok && took_beside && !fail)); pass++) {
      buf_free(&text);
      worst = ndelta = 0, cls = TC_IDENTITY;
      *form = (StepForm){.alpha.sign = 1};
      form_ok = true;
      for (int s = nsteps - 1; s >= 0 && !fail; s--) {
        int w = steps[s];
        int prev = -1;
        for (int id = w - 1; id >= 0 && prev < 0; id--) {
          const Node *m = &g->nodes.data[id];
          if ((m->op == OP_STATE && m->index == i) || (m->op == OP_WRITE && m->index == i)) prev = id;
        }
        Lin l = prev < 0 ? (Lin){.ok = true, .has_input = true}
                         : expand(&c, g->nodes.data[w].args[0], prev, me, &fail);
        if (fail) break;
        Lin parts[2];
        bool beside = false;
        int np = prev < 0 ? (parts[0] = l, 1) : split_decay(&c, &l, parts, &beside);
        /* A decay missing from the erase's sides: the erase reads the state
         * before it, taken whole where the step form can (the first step),
         * else through β's reciprocal as classified. */
        StepForm before = *form;
        if (beside && !pass && form_ok && form_step(&c, sl, &l, form)) beside = took_beside = true;
        else if (beside) *form = before, beside = false;
        for (int p = 0; p < np; p++) {
          form_ok = form_ok && prev >= 0 && (beside || form_step(&c, sl, &parts[p], form));
          Buf part = {0};
          TransClass k = prev < 0 ? TC_SCALAR : classify_step(&c, sl, &parts[p], &part);
          if (prev < 0) buf_puts(&part, "0");
          if (k == TC_DELTA) ndelta++;
          if (k != TC_IDENTITY) {
            /* Matrix order: the last update multiplies from the left. */
            Buf nt = {0};
            buf_puts(&nt, part.s);
            if (text.len) {
              buf_puts(&nt, " * ");
              buf_puts(&nt, text.s);
            }
            buf_free(&text);
            text = nt;
          }
          buf_free(&part);
          if (rank_of(k) > worst) worst = rank_of(k), cls = k;
        }
      }
    }
    if (fail) {
      cls = TC_DENSE;
      buf_free(&text);
      buf_puts(&text, "dense");
      if (c.coupled)   /* (a block of several states' transition) */
        buf_printf(&text, " (the update reads state %s)", state_names(&c, c.coupled));
    }
    if (cls == TC_DELTA && ndelta > 1) cls = TC_DELTA_PRODUCT;
    si->cls = cls;
    si->ndelta = ndelta;
    si->form = form_ok && !fail && nsteps < 64 ? form : NULL;
    si->transition = arena_strdup(a, text.len ? text.s : "I");
    buf_free(&text);
  }
  return an;
}

/* The source text of a node (its expression as written), else its name. */
const char *pass_node_text(Arena *a, const Graph *g, int id) {
  const Node *n = &g->nodes.data[id];
  uint32_t len = n->span.end - n->span.off;
  if (n->span.src && len > 0 && len <= 60)
    return arena_strndup(a, n->span.src->text + n->span.off, len);
  Cx c = {.arena = a, .g = g};
  Buf b = {0};
  put_node(&c, id, &b);
  const char *r = arena_strdup(a, b.s ? b.s : "");
  buf_free(&b);
  return r;
}
