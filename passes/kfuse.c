/* kfuse.c — element-wise nests folded into the nests that read them.
 *
 * The chunk and scan lowerings give every prologue value a tile and a nest
 * of its own (t1 = q·q; t2 = Σ t1; t4 = t2 + ε; t5 = rsqrt(t4); ...). Each
 * nest is a pass over memory, and on the GPU a barrier. This pass works on
 * a kernel in place: a tile set by a nest `t = e` over exactly its dims,
 * written nowhere else and read only by nests later in the same block over
 * the same space (no renamed reads), is replaced in those readers by e,
 * and its nest goes. A tile set that way and read by nothing goes too.
 *
 * What keeps the value the same: no statement between the definition and
 * its last reader writes a tile e reads (the readers included), and no
 * variable is bound in between. What keeps the work the same: e is
 * inlined where it is evaluated once per point anyway (the same space),
 * and an expensive e (a transcendental, a division) only into one read.
 *
 * Then each nest's products are regrouped by their factors' dims (as
 * factor.c does for the step graph): a chain of multiplications is
 * rebuilt with the factors over fewer dims first, where that leaves fewer
 * multiplications over the product's whole space. The fused prologue
 * gives such chains: l2norm(q) K^-1/2 is (q s) c, one multiplication an
 * element more than q (s c), whose s c the backends compute once a row.
 * Products only (the same value up to rounding); LRC_KIR_REGROUP=off
 * keeps them as they are.
 */
#include "passes.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
  Kernel *k;
  int *nw, *nr;           /* per tile: statements writing it, reading it */
  unsigned char *use;     /* scratch: tiles.len + 1 */
} Fu;

static void count_block(Fu *f, const KBlock *b) {
  int nt = f->k->tiles.len;
  for (int i = 0; i < b->len; i++) {
    const KStmt *s = b->data[i];
    memset(f->use, 0, (size_t)nt + 1);
    kir_use_stmt(f->k, s, f->use);
    for (int t = 0; t < nt; t++) {
      if (f->use[t] & 1) f->nr[t]++;
      if (f->use[t] & 2) f->nw[t]++;
    }
    count_block(f, &s->body);
    count_block(f, &s->orelse);
  }
}

/* Does block b (its statements and theirs) write a tile marked in `reads`,
 * or bind a variable? */
static bool clobbers(Fu *f, const KStmt *s, const unsigned char *reads) {
  if (s->kind == KS_LET || s->kind == KS_FOR) return true;
  int nt = f->k->tiles.len;
  memset(f->use, 0, (size_t)nt + 1);
  kir_use_stmt(f->k, s, f->use);
  for (int t = 0; t < nt; t++)
    if ((f->use[t] & 2) && reads[t]) return true;
  for (int i = 0; i < s->body.len; i++)
    if (clobbers(f, s->body.data[i], reads)) return true;
  for (int i = 0; i < s->orelse.len; i++)
    if (clobbers(f, s->orelse.data[i], reads)) return true;
  return false;
}

/* Reads of tile t in expression x: how many, and whether any is renamed. */
static int reads_of(const Kernel *k, int x, int t, bool *renamed) {
  const KExpr *e = &k->exprs.data[x];
  switch (e->kind) {
  case KE_READ:
    if (e->tile != t) return 0;
    if (e->dim_a >= 0) *renamed = true;
    return 1;
  case KE_UNARY: return reads_of(k, e->a, t, renamed);
  case KE_BINARY: return reads_of(k, e->a, t, renamed) + reads_of(k, e->b, t, renamed);
  default: return 0;
  }
}

/* Rough cost of evaluating x once: 1 per arithmetic operation, more for a
 * division and a transcendental function. */
static int cost(const Kernel *k, int x) {
  const KExpr *e = &k->exprs.data[x];
  switch (e->kind) {
  case KE_UNARY: {
    int c = e->op == OP_NEG || e->op == OP_ABS || e->op == OP_RELU ? 1 : 10;
    return c + cost(k, e->a);
  }
  case KE_BINARY: return (e->op == OP_DIV ? 4 : 1) + cost(k, e->a) + cost(k, e->b);
  default: return 0;
  }
}

/* x with every read of tile t replaced by expression `with` (new nodes
 * only where something changed: expressions may be shared). */
static int subst(Kernel *k, int x, int t, int with) {
  KExpr e = k->exprs.data[x];
  switch (e.kind) {
  case KE_READ: return e.tile == t ? with : x;
  case KE_UNARY: {
    int a = subst(k, e.a, t, with);
    return a == e.a ? x : kir_eunary(k, e.op, a);
  }
  case KE_BINARY: {
    int a = subst(k, e.a, t, with), b = subst(k, e.b, t, with);
    return a == e.a && b == e.b ? x : kir_ebinary(k, e.op, a, b);
  }
  default: return x;
  }
}

static void remove_stmt(KBlock *b, int i) {
  memmove(&b->data[i], &b->data[i + 1], sizeof(KStmt *) * (size_t)(b->len - i - 1));
  b->len--;
}

/* Fold the definition at b->data[i] into its readers, if it may be.
 * Returns true if the statement went. */
static bool fold_def(Fu *f, KBlock *b, int i) {
  Kernel *k = f->k;
  KStmt *d = b->data[i];
  if (d->kind != KS_NEST || d->assigns.len != 1) return false;
  const KAssign *a = &d->assigns.data[0];
  int t = a->tile;
  if (a->acc != KACC_SET || k->tiles.data[t].dims != d->space || f->nw[t] != 1) return false;
  if (f->nr[t] == 0) return true;   /* read by nothing */
  int readers = 0, reads = 0, last = -1;
  for (int j = i + 1; j < b->len; j++) {
    const KStmt *r = b->data[j];
    if (r->kind != KS_NEST) continue;
    bool renamed = false;
    int n = 0;
    for (int q = 0; q < r->assigns.len; q++) n += reads_of(k, r->assigns.data[q].expr, t, &renamed);
    if (!n) continue;
    if (renamed || r->space != d->space) return false;
    readers++, reads += n, last = j;
  }
  if (readers != f->nr[t]) return false;   /* read elsewhere too */
  if (reads > 1 && cost(k, a->expr) > 2) return false;
  unsigned char *in = arena_alloc(k->arena, (size_t)k->tiles.len + 1);
  kir_use_expr(k, a->expr, in);
  for (int j = i + 1; j <= last; j++)
    if (clobbers(f, b->data[j], in)) return false;
  for (int j = i + 1; j <= last; j++) {
    KStmt *r = b->data[j];
    if (r->kind != KS_NEST) continue;
    for (int q = 0; q < r->assigns.len; q++)
      r->assigns.data[q].expr = subst(k, r->assigns.data[q].expr, t, a->expr);
  }
  return true;
}

/* One fold somewhere in b; false if none is left. */
static bool fuse_block(Fu *f, KBlock *b) {
  for (int i = 0; i < b->len; i++) {
    KStmt *s = b->data[i];
    if (fuse_block(f, &s->body) || fuse_block(f, &s->orelse)) return true;
    if (fold_def(f, b, i)) {
      remove_stmt(b, i--);
      return true;   /* counts are stale: start over */
    }
  }
  return false;
}

/* Tiles nothing uses any more leave the kernel (the backends declare
 * every tile): the live ones renumbered in order. */
static void remap_block(KBlock *b, const int *map) {
  for (int i = 0; i < b->len; i++) {
    KStmt *s = b->data[i];
    int *f[] = {&s->tile, &s->tile2, &s->carry, &s->prior};
    for (int j = 0; j < 4; j++)
      if (*f[j] >= 0) *f[j] = map[*f[j]];
    for (int j = 0; j < s->assigns.len; j++) s->assigns.data[j].tile = map[s->assigns.data[j].tile];
    remap_block(&s->body, map);
    remap_block(&s->orelse, map);
  }
}

static void drop_unused(Fu *f) {
  Kernel *k = f->k;
  int nt = k->tiles.len, live = 0;
  int *map = arena_alloc(k->arena, sizeof(int) * (size_t)(nt + 1));
  for (int t = 0; t < nt; t++) {
    map[t] = f->nw[t] || f->nr[t] ? live++ : -1;
    if (map[t] >= 0) k->tiles.data[map[t]] = k->tiles.data[t];
  }
  if (live == nt) return;
  k->tiles.len = live;
  remap_block(&k->body, map);
  for (int x = 0; x < k->exprs.len; x++)   /* unreachable reads of a dropped tile: -1 */
    if (k->exprs.data[x].kind == KE_READ) k->exprs.data[x].tile = map[k->exprs.data[x].tile];
}

/* ---------------------------------------------------------------------- */
/* Products regrouped by their factors' dims                              */

enum { MAX_CHAIN = 16 };

/* The nest dims expression x depends on. */
static DimSet expr_dims(const Kernel *k, int x) {
  const KExpr *e = &k->exprs.data[x];
  switch (e->kind) {
  case KE_CONST: return 0;
  case KE_READ: {
    DimSet d = k->tiles.data[e->tile].dims;
    return e->dim_a >= 0 ? (d & ~(1u << e->dim_a)) | 1u << e->dim_b : d;
  }
  case KE_UNARY: return expr_dims(k, e->a);
  case KE_BINARY: return expr_dims(k, e->a) | expr_dims(k, e->b);
  case KE_MASK: return 1u << e->dim_a | 1u << e->dim_b;
  case KE_BELOW: return 1u << e->dim_a;
  }
  return 0;
}

static bool is_mul(const Kernel *k, int x) {
  return k->exprs.data[x].kind == KE_BINARY && k->exprs.data[x].op == OP_MUL;
}

/* The factors of the multiplication chain at x, left to right; false
 * where there are more than fit. */
static bool chain(const Kernel *k, int x, int *f, int *n) {
  if (!is_mul(k, x)) {
    if (*n == MAX_CHAIN) return false;
    f[(*n)++] = x;
    return true;
  }
  return chain(k, k->exprs.data[x].a, f, n) && chain(k, k->exprs.data[x].b, f, n);
}

/* The multiplications of the tree at x (a chain's) over all of `whole`. */
static int whole_muls(const Kernel *k, int x, DimSet whole) {
  if (!is_mul(k, x)) return 0;
  const KExpr *e = &k->exprs.data[x];
  return (expr_dims(k, x) == whole) + whole_muls(k, e->a, whole) + whole_muls(k, e->b, whole);
}

/* x with its chains regrouped (new expressions; those it shares are left
 * as they are). */
static int regroup(Kernel *k, int x) {
  KExpr e = k->exprs.data[x];
  if (e.kind == KE_UNARY) {
    int a = regroup(k, e.a);
    return a == e.a ? x : kir_eunary(k, e.op, a);
  }
  if (e.kind != KE_BINARY) return x;
  if (e.op != OP_MUL) {
    int a = regroup(k, e.a), b = regroup(k, e.b);
    return a == e.a && b == e.b ? x : kir_ebinary(k, e.op, a, b);
  }
  int f[MAX_CHAIN], n = 0;
  if (!chain(k, x, f, &n)) return x;
  bool changed = false;
  DimSet whole = 0, d[MAX_CHAIN];
  for (int i = 0; i < n; i++) {
    int r = regroup(k, f[i]);
    changed |= r != f[i];
    f[i] = r, d[i] = expr_dims(k, r), whole |= d[i];
  }
  /* Fewest dims first (insertion sort, stable: equal dims stay together
   * in their order). */
  for (int i = 1; i < n; i++)
    for (int j = i; j > 0; j--) {
      int pj = __builtin_popcount(d[j]), pi = __builtin_popcount(d[j - 1]);
      if (pi < pj || (pi == pj && d[j - 1] <= d[j])) break;
      int tf = f[j];
      DimSet td = d[j];
      f[j] = f[j - 1], d[j] = d[j - 1], f[j - 1] = tf, d[j - 1] = td;
    }
  int before = whole_muls(k, x, whole), after = 0;
  DimSet acc = d[0];
  for (int i = 1; i < n; i++) acc |= d[i], after += acc == whole;
  if (after >= before) {   /* no fewer: the chain as written (its factors regrouped) */
    if (!changed) return x;
    int a = regroup(k, e.a), b = regroup(k, e.b);
    return kir_ebinary(k, OP_MUL, a, b);
  }
  int p = f[0];
  for (int i = 1; i < n; i++) p = kir_ebinary(k, OP_MUL, p, f[i]);
  return p;
}

static void regroup_block(Kernel *k, KBlock *b) {
  for (int i = 0; i < b->len; i++) {
    KStmt *s = b->data[i];
    if (s->kind == KS_NEST)
      for (int q = 0; q < s->assigns.len; q++)
        s->assigns.data[q].expr = regroup(k, s->assigns.data[q].expr);
    regroup_block(k, &s->body);
    regroup_block(k, &s->orelse);
  }
}

void pass_kir_fuse(Kernel *k) {
  int nt = k->tiles.len;
  Fu f = {k, arena_alloc(k->arena, sizeof(int) * (size_t)(nt + 1)),
          arena_alloc(k->arena, sizeof(int) * (size_t)(nt + 1)),
          arena_alloc(k->arena, (size_t)nt + 1)};
  for (;;) {
    memset(f.nw, 0, sizeof(int) * (size_t)nt);
    memset(f.nr, 0, sizeof(int) * (size_t)nt);
    count_block(&f, &k->body);
    if (!fuse_block(&f, &k->body)) break;
  }
  drop_unused(&f);
  const char *rg = getenv("LRC_KIR_REGROUP");
  if (!rg || strcmp(rg, "off")) regroup_block(k, &k->body);
}
