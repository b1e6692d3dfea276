/* kir.c — kernel IR: constructors, printer (--emit=kir) and verifier.
 *
 * The printer shows a kernel as indented pseudo-code, one statement per
 * line, with index expressions and element expressions written inline, so
 * that a reader can follow what each loop does and which tiles it touches.
 */
#include "ir.h"

#include <string.h>

Kernel *kir_new(Arena *a, const Graph *g, const char *name, const char *algo) {
  Kernel *k = arena_alloc(a, sizeof *k);
  k->arena = a;
  k->g = g;
  k->name = arena_strdup(a, name);
  k->algo = algo;
  k->chunk_n = k->chunk_h = k->chunk_t0 = -1;
  for (int i = 0; i < g->dims.len; i++) {
    VEC_PUSH(a, k->dims, g->dims.data[i]);
    k->order[i] = i;
  }
  return k;
}

int kir_add_dim(Kernel *k, const char *name, long size, bool outer) {
  LRC_ASSERT(k->dims.len < LRC_MAX_DIMS);
  DimInfo d = {arena_strdup(k->arena, name), size, {0}};
  VEC_PUSH(k->arena, k->dims, d);
  int id = k->dims.len - 1, at = outer ? k->nouter++ : id;
  for (int i = id; i > at; i--) k->order[i] = k->order[i - 1];
  k->order[at] = id;
  return id;
}

int kir_inner_dim(const Kernel *k, DimSet s) {
  for (int o = k->dims.len - 1; o >= 0; o--)
    if (s & (1u << k->order[o])) return k->order[o];
  return -1;
}

const char *kir_dims_str(const Kernel *k, DimSet s) {
  Buf b = {0};
  buf_puts(&b, "[");
  bool first = true;
  for (int o = 0; o < k->dims.len; o++) {
    int i = k->order[o];
    if (!(s & (1u << i))) continue;
    buf_printf(&b, "%s%s", first ? "" : ", ", k->dims.data[i].name);
    first = false;
  }
  buf_puts(&b, "]");
  const char *r = arena_strdup(k->arena, b.s);
  buf_free(&b);
  return r;
}

int kir_buf(Kernel *k, const char *name, KBufRole role, KType t, int slot, bool nullable) {
  KBuf b = {arena_strdup(k->arena, name), role, t, slot, nullable};
  VEC_PUSH(k->arena, k->bufs, b);
  return k->bufs.len - 1;
}

int kir_tile(Kernel *k, const char *name, DimSet dims) {
  KTile t = {arena_strdup(k->arena, name), dims, KT_F32};
  VEC_PUSH(k->arena, k->tiles, t);
  return k->tiles.len - 1;
}

int kir_var(Kernel *k, const char *name) {
  VEC_PUSH(k->arena, k->vars, arena_strdup(k->arena, name));
  return k->vars.len - 1;
}

static int push_idx(Kernel *k, KIdx x) {
  VEC_PUSH(k->arena, k->idx, x);
  return k->idx.len - 1;
}

int kir_ic(Kernel *k, long c) { return push_idx(k, (KIdx){.kind = KI_CONST, .c = c}); }
int kir_ivar(Kernel *k, int var) { return push_idx(k, (KIdx){.kind = KI_VAR, .var = var}); }
int kir_iarg(Kernel *k, KArg a) { return push_idx(k, (KIdx){.kind = KI_ARG, .var = (int)a}); }

int kir_ibin(Kernel *k, KIdxKind op, int a, int b) {
  LRC_ASSERT(op >= KI_ADD && op <= KI_MIN);
  /* Fold the identities that lowering produces all the time. */
  const KIdx *x = &k->idx.data[a], *y = &k->idx.data[b];
  if (x->kind == KI_CONST && y->kind == KI_CONST) {
    long c = op == KI_ADD ? x->c + y->c : op == KI_SUB ? x->c - y->c : op == KI_MUL ? x->c * y->c
             : op == KI_DIV ? x->c / y->c : op == KI_MOD ? x->c % y->c
             : x->c < y->c ? x->c : y->c;
    return kir_ic(k, c);
  }
  if ((op == KI_ADD || op == KI_SUB) && y->kind == KI_CONST && y->c == 0) return a;
  if (op == KI_ADD && x->kind == KI_CONST && x->c == 0) return b;
  if ((op == KI_MUL || op == KI_DIV) && y->kind == KI_CONST && y->c == 1) return a;
  if (op == KI_MUL && x->kind == KI_CONST && x->c == 1) return b;
  return push_idx(k, (KIdx){.kind = op, .a = a, .b = b});
}

int kir_iseqlen(Kernel *k, int buf, int a) {
  return push_idx(k, (KIdx){.kind = KI_SEQLEN, .a = a, .buf = buf});
}

static int push_expr(Kernel *k, KExpr e) {
  VEC_PUSH(k->arena, k->exprs, e);
  return k->exprs.len - 1;
}

int kir_econst(Kernel *k, double v) { return push_expr(k, (KExpr){.kind = KE_CONST, .num = v}); }
int kir_eread(Kernel *k, int tile) {
  return push_expr(k, (KExpr){.kind = KE_READ, .tile = tile, .dim_a = -1, .dim_b = -1});
}

int kir_eread_as(Kernel *k, int tile, int dim, int as_dim) {
  return push_expr(k, (KExpr){.kind = KE_READ, .tile = tile, .dim_a = dim, .dim_b = as_dim});
}

int kir_ebelow(Kernel *k, int dim, int idx) {
  return push_expr(k, (KExpr){.kind = KE_BELOW, .dim_a = dim, .a = idx});
}

int kir_eunary(Kernel *k, OpKind op, int a) {
  LRC_ASSERT(ir_ops[op].cls == K_UNARY);
  return push_expr(k, (KExpr){.kind = KE_UNARY, .op = op, .a = a});
}

int kir_ebinary(Kernel *k, OpKind op, int a, int b) {
  LRC_ASSERT(ir_ops[op].cls == K_BINARY);
  return push_expr(k, (KExpr){.kind = KE_BINARY, .op = op, .a = a, .b = b});
}

int kir_emask(Kernel *k, int dim_a, int dim_b, bool strict) {
  return push_expr(k, (KExpr){.kind = KE_MASK, .dim_a = dim_a, .dim_b = dim_b, .strict = strict});
}

KStmt *kir_stmt(Kernel *k, KBlock *into, KStmtKind kind) {
  KStmt *s = arena_alloc(k->arena, sizeof *s);
  s->kind = kind;
  s->var = s->lo = s->hi = s->idx = s->tile = s->tile2 = s->buf = -1;
  s->dim = s->dim2 = s->rowdim = s->rows = s->rowstride = -1;
  s->carry = s->prior = -1;
  VEC_PUSH(k->arena, *into, s);
  return s;
}

void kir_assign(Kernel *k, KStmt *nest, int tile, KAccum acc, int expr) {
  LRC_ASSERT(nest->kind == KS_NEST);
  KAssign a = {tile, acc, expr};
  VEC_PUSH(k->arena, nest->assigns, a);
}

const Slot *kir_buf_slot(const Kernel *k, int b) {
  const KBuf *kb = &k->bufs.data[b];
  switch (kb->role) {
  case KB_INPUT: return &k->g->inputs.data[kb->slot];
  case KB_PARAM: return &k->g->params.data[kb->slot];
  case KB_STATE_IN:
  case KB_STATE_OUT: return &k->g->states.data[kb->slot];
  case KB_OUTPUT: return &k->g->outputs.data[kb->slot];
  default: return NULL;
  }
}

long kir_slot_count(const Kernel *k, int b) {
  const Slot *sl = kir_buf_slot(k, b);
  long n = 1;
  for (int i = 0; i < sl->ndims; i++) n *= k->dims.data[sl->dims[i]].size;
  return n;
}

int kir_whole_write(const Kernel *k, const KStmt *s, int j) {
  switch (s->kind) {
  case KS_NEST: return s->assigns.data[j].acc == KACC_SET ? s->assigns.data[j].tile : -1;
  case KS_FILL:
  case KS_COPY: return s->tile;
  case KS_CUMSUM: return s->tile2;   /* (its total) */
  case KS_LOAD: {   /* rows beyond those present load as zeros */
    if (s->buf < 0) return s->tile;
    long n = (s->rowdim >= 0 ? k->dims.data[s->rowdim].size : 1) * kir_slot_count(k, s->buf);
    return n == kir_tile_count(k, s->tile) ? s->tile : -1;
  }
  default: return -1;
  }
}

void kir_use_expr(const Kernel *k, int x, unsigned char *use) {
  const KExpr *ex = &k->exprs.data[x];
  if (ex->kind == KE_READ) use[ex->tile] |= 1;
  if (ex->kind == KE_UNARY || ex->kind == KE_BINARY) kir_use_expr(k, ex->a, use);
  if (ex->kind == KE_BINARY) kir_use_expr(k, ex->b, use);
}

void kir_use_assign(const Kernel *k, const KAssign *a, unsigned char *use) {
  use[a->tile] |= a->acc == KACC_SET ? 2 : 3;
  kir_use_expr(k, a->expr, use);
}

void kir_use_stmt(const Kernel *k, const KStmt *s, unsigned char *use) {
  int nt = k->tiles.len;
  switch (s->kind) {
  case KS_NEST:
    for (int j = 0; j < s->assigns.len; j++) kir_use_assign(k, &s->assigns.data[j], use);
    break;
  case KS_LOAD: use[s->tile] |= 2, use[nt] |= 1; break;
  case KS_STORE: use[s->tile] |= 1, use[nt] |= 2; break;
  case KS_FILL: use[s->tile] |= 2; break;
  case KS_COPY: use[s->tile] |= 2, use[s->tile2] |= 1; break;
  case KS_INTERLEAVE: use[s->tile] |= 3, use[s->tile2] |= 1; break;
  case KS_CUMSUM:
    use[s->tile] |= 3;
    if (s->tile2 >= 0) use[s->tile2] |= 2;
    break;
  case KS_TRISOLVE: use[s->tile] |= 3, use[s->tile2] |= 1; break;
  case KS_SCAN:
    use[s->tile] |= 3, use[s->carry] |= 3;
    if (s->tile2 >= 0) use[s->tile2] |= 1;
    if (s->prior >= 0) use[s->prior] |= 2;
    break;
  case KS_IF_LESS: use[s->tile] |= 1; break;
  default: break;
  }
}

void kir_use_tree(const Kernel *k, const KStmt *s, unsigned char *use) {
  kir_use_stmt(k, s, use);
  const KBlock *blocks[2] = {&s->body, &s->orelse};
  int nt = k->tiles.len;
  for (int j = 0; j < 2; j++) {
    if (!blocks[j]->len) continue;
    unsigned char *w = arena_alloc(k->arena, (size_t)nt + 1);
    unsigned char *u = arena_alloc(k->arena, (size_t)nt + 1);
    for (int i = 0; i < blocks[j]->len; i++) {
      memset(u, 0, (size_t)nt + 1);
      kir_use_tree(k, blocks[j]->data[i], u);
      for (int t = 0; t <= nt; t++) {
        if ((u[t] & 1) && !w[t]) use[t] |= 1;
        if (u[t] & 2) w[t] = 1, use[t] |= 2;
      }
    }
  }
}

long kir_tile_count(const Kernel *k, int tile) {
  long n = 1;
  DimSet s = k->tiles.data[tile].dims;
  for (int d = 0; d < k->dims.len; d++)
    if (s & (1u << d)) n *= k->dims.data[d].size;
  return n;
}

const char *kir_arg_name(KArg a) {
  static const char *names[] = {"B", "T", "H", "N"};
  return names[a];
}

const char *kir_type_name(KType t) {
  static const char *names[] = {"f32", "f64", "bf16", "f16", "i32", "i64"};
  return names[t];
}

/* ---------------------------------------------------------------------- */
/* Printer                                                                 */

static void print_idx(const Kernel *k, int id, Buf *out) {
  const KIdx *x = &k->idx.data[id];
  static const char *ops[] = {[KI_ADD] = "+", [KI_SUB] = "-", [KI_MUL] = "*",
                              [KI_DIV] = "/", [KI_MOD] = "%"};
  switch (x->kind) {
  case KI_CONST: buf_printf(out, "%ld", x->c); return;
  case KI_VAR: buf_puts(out, k->vars.data[x->var]); return;
  case KI_ARG: buf_puts(out, kir_arg_name((KArg)x->var)); return;
  case KI_SEQLEN:
    buf_printf(out, "%s[", k->bufs.data[x->buf].name);
    print_idx(k, x->a, out);
    buf_puts(out, "]");
    return;
  case KI_MIN:
    buf_puts(out, "min(");
    print_idx(k, x->a, out);
    buf_puts(out, ", ");
    print_idx(k, x->b, out);
    buf_puts(out, ")");
    return;
  default:
    buf_puts(out, "(");
    print_idx(k, x->a, out);
    buf_printf(out, " %s ", ops[x->kind]);
    print_idx(k, x->b, out);
    buf_puts(out, ")");
    return;
  }
}

static void print_expr(const Kernel *k, int id, Buf *out) {
  const KExpr *e = &k->exprs.data[id];
  switch (e->kind) {
  case KE_CONST: buf_printf(out, "%.9g", e->num); return;
  case KE_READ:
    buf_puts(out, k->tiles.data[e->tile].name);
    if (e->dim_a >= 0)
      buf_printf(out, "{%s:=%s}", k->dims.data[e->dim_a].name, k->dims.data[e->dim_b].name);
    return;
  case KE_BELOW:
    buf_printf(out, "[%s < ", k->dims.data[e->dim_a].name);
    print_idx(k, e->a, out);
    buf_puts(out, "]");
    return;
  case KE_MASK:
    buf_printf(out, "[%s %s %s]", k->dims.data[e->dim_a].name, e->strict ? ">" : ">=",
               k->dims.data[e->dim_b].name);
    return;
  case KE_UNARY:
    buf_printf(out, "%s(", ir_ops[e->op].text);
    print_expr(k, e->a, out);
    buf_puts(out, ")");
    return;
  case KE_BINARY: {
    static const char *sym[OP_COUNT] = {[OP_ADD] = "+", [OP_SUB] = "-", [OP_MUL] = "*",
                                        [OP_DIV] = "/", [OP_POW] = "^"};
    if (sym[e->op]) {
      buf_puts(out, "(");
      print_expr(k, e->a, out);
      buf_printf(out, " %s ", sym[e->op]);
      print_expr(k, e->b, out);
      buf_puts(out, ")");
    } else {
      buf_printf(out, "%s(", ir_ops[e->op].text);
      print_expr(k, e->a, out);
      buf_puts(out, ", ");
      print_expr(k, e->b, out);
      buf_puts(out, ")");
    }
    return;
  }
  }
}

static void print_rows(const Kernel *k, const KStmt *s, Buf *out) {
  if (s->rowdim < 0) return;
  buf_printf(out, " rows %s < ", k->dims.data[s->rowdim].name);
  print_idx(k, s->rows, out);
  buf_puts(out, " stride ");
  print_idx(k, s->rowstride, out);
}

static void indent(Buf *out, int depth) {
  for (int i = 0; i < depth; i++) buf_puts(out, "  ");
}

static void print_block(const Kernel *k, const KBlock *b, int depth, Buf *out) {
  static const char *acc[] = {"=", "+=", "max="};
  for (int i = 0; i < b->len; i++) {
    const KStmt *s = b->data[i];
    if (k->phase_loop && b == &k->phase_loop->body && i == k->phase_nfree) {
      /* The phased form's seam (passes/phases.c). */
      indent(out, depth);
      buf_printf(out, "// the chain and readouts; from the free part (%ld floats per chunk):",
                 k->phase_rec);
      for (int t = 0; t < k->tiles.len; t++)
        if (k->phase_at[t] >= 0) buf_printf(out, " %s", k->tiles.data[t].name);
      buf_puts(out, "\n");
    }
    indent(out, depth);
    switch (s->kind) {
    case KS_FOR:
      buf_printf(out, "%s %s in [", s->parallel ? "parallel for" : "for", k->vars.data[s->var]);
      print_idx(k, s->lo, out);
      buf_puts(out, ", ");
      print_idx(k, s->hi, out);
      buf_puts(out, ") {\n");
      print_block(k, &s->body, depth + 1, out);
      indent(out, depth);
      buf_puts(out, "}\n");
      break;
    case KS_LET:
      buf_printf(out, "let %s = ", k->vars.data[s->var]);
      print_idx(k, s->idx, out);
      buf_puts(out, "\n");
      break;
    case KS_NEST:
      buf_printf(out, "nest %s {\n", kir_dims_str(k, s->space));
      for (int j = 0; j < s->assigns.len; j++) {
        const KAssign *a = &s->assigns.data[j];
        indent(out, depth + 1);
        buf_printf(out, "%s %s ", k->tiles.data[a->tile].name, acc[a->acc]);
        print_expr(k, a->expr, out);
        buf_puts(out, "\n");
      }
      indent(out, depth);
      buf_puts(out, "}\n");
      break;
    case KS_FILL:
      buf_printf(out, "fill %s = %.9g\n", k->tiles.data[s->tile].name, s->num);
      break;
    case KS_LOAD:
      buf_printf(out, "load %s = %s[", k->tiles.data[s->tile].name, k->bufs.data[s->buf].name);
      print_idx(k, s->idx, out);
      buf_puts(out, "]");
      print_rows(k, s, out);
      buf_puts(out, "\n");
      break;
    case KS_STORE:
      buf_printf(out, "store %s[", k->bufs.data[s->buf].name);
      print_idx(k, s->idx, out);
      buf_puts(out, "]");
      print_rows(k, s, out);
      buf_printf(out, " = %s\n", k->tiles.data[s->tile].name);
      break;
    case KS_CUMSUM:
      buf_printf(out, "cumsum %s along %s%s%s", k->tiles.data[s->tile].name,
                 k->dims.data[s->dim].name, s->reverse ? " (reverse)" : "",
                 s->exclusive ? " (exclusive)" : "");
      if (s->tile2 >= 0) buf_printf(out, " (total %s)", k->tiles.data[s->tile2].name);
      buf_puts(out, "\n");
      break;
    case KS_INTERLEAVE:
      buf_printf(out, "interleave %s[%s] = %s[%s] phase %d of %d\n", k->tiles.data[s->tile].name,
                 k->dims.data[s->dim].name, k->tiles.data[s->tile2].name,
                 k->dims.data[s->dim2].name, s->phase, s->nphase);
      break;
    case KS_TRISOLVE:
      buf_printf(out, "trisolve %s = (I + %s)^-1 %s along %s, %s\n", k->tiles.data[s->tile].name,
                 k->tiles.data[s->tile2].name, k->tiles.data[s->tile].name,
                 k->dims.data[s->dim].name, k->dims.data[s->dim2].name);
      break;
    case KS_SCAN:
      buf_printf(out, "scan %s along %s rows < ", k->tiles.data[s->tile].name,
                 k->dims.data[s->dim].name);
      print_idx(k, s->rows, out);
      if (s->tile2 >= 0) buf_printf(out, " decay %s", k->tiles.data[s->tile2].name);
      buf_printf(out, " from %s", k->tiles.data[s->carry].name);
      if (s->prior >= 0) buf_printf(out, " prior %s", k->tiles.data[s->prior].name);
      buf_puts(out, "\n");
      break;
    case KS_COPY:
      buf_printf(out, "copy %s = %s\n", k->tiles.data[s->tile].name,
                 k->tiles.data[s->tile2].name);
      break;
    case KS_IF_NULL:
    case KS_IF_LESS:
      if (s->kind == KS_IF_NULL) buf_printf(out, "if %s == null {\n", k->bufs.data[s->buf].name);
      else buf_printf(out, "if %s < %g {\n", k->tiles.data[s->tile].name, s->num);
      print_block(k, &s->body, depth + 1, out);
      if (s->orelse.len) {
        indent(out, depth);
        buf_puts(out, "} else {\n");
        print_block(k, &s->orelse, depth + 1, out);
      }
      indent(out, depth);
      buf_puts(out, "}\n");
      break;
    }
  }
}

void kir_print(const Kernel *k, Buf *out) {
  static const char *roles[] = {"input", "param", "state_in", "state_out", "output", "seqlens"};
  buf_printf(out, "kernel %s (algo %s) {\n", k->name, k->algo);
  for (int i = 0; i < k->bufs.len; i++) {
    const KBuf *b = &k->bufs.data[i];
    buf_printf(out, "  buffer %-10s %-9s %s%s\n", b->name, roles[b->role], kir_type_name(b->type),
               b->nullable ? " nullable" : "");
  }
  for (int i = 0; i < k->tiles.len; i++) {
    const KTile *t = &k->tiles.data[i];
    buf_printf(out, "  tile   %-10s %s%s\n", t->name, kir_type_name(t->type),
               kir_dims_str(k, t->dims));
  }
  buf_puts(out, "\n");
  print_block(k, &k->body, 1, out);
  buf_puts(out, "}\n");
}

/* ---------------------------------------------------------------------- */
/* Verifier                                                                */

typedef struct VCtx {
  const Kernel *k;
  bool *defined;           /* variables in scope */
  const char *err;
} VCtx;

static bool vfail(VCtx *v, const char *msg) {
  if (!v->err) v->err = msg;
  return false;
}

static bool check_idx(VCtx *v, int id) {
  const Kernel *k = v->k;
  if (id < 0 || id >= k->idx.len) return vfail(v, "index expression out of range");
  const KIdx *x = &k->idx.data[id];
  switch (x->kind) {
  case KI_CONST: return true;
  case KI_VAR:
    if (x->var < 0 || x->var >= k->vars.len || !v->defined[x->var])
      return vfail(v, "index variable used outside its scope");
    return true;
  case KI_ARG: return x->var >= 0 && x->var < KA_COUNT ? true : vfail(v, "bad argument");
  case KI_SEQLEN:
    if (x->buf < 0 || x->buf >= k->bufs.len || k->bufs.data[x->buf].role != KB_SEQLENS)
      return vfail(v, "seqlen read from a buffer that is not cu_seqlens");
    return check_idx(v, x->a);
  default:
    if (x->a >= id || x->b >= id) return vfail(v, "index expression not in order");
    return check_idx(v, x->a) && check_idx(v, x->b);
  }
}

static bool check_expr(VCtx *v, int id, DimSet space) {
  const Kernel *k = v->k;
  if (id < 0 || id >= k->exprs.len) return vfail(v, "element expression out of range");
  const KExpr *e = &k->exprs.data[id];
  switch (e->kind) {
  case KE_CONST: return true;
  case KE_READ: {
    if (e->tile < 0 || e->tile >= k->tiles.len) return vfail(v, "read of an unknown tile");
    DimSet td = k->tiles.data[e->tile].dims;
    if (e->dim_a >= 0) {
      if (e->dim_a >= k->dims.len || e->dim_b < 0 || e->dim_b >= k->dims.len ||
          !(td & (1u << e->dim_a)) || k->dims.data[e->dim_a].size != k->dims.data[e->dim_b].size)
        return vfail(v, "a renamed read of a dim the tile lacks or of another size");
      td = (td & ~(1u << e->dim_a)) | (1u << e->dim_b);
    }
    if (td & ~space) return vfail(v, "a nest reads a tile with a dim outside its space");
    return true;
  }
  case KE_BELOW:
    if (e->dim_a < 0 || e->dim_a >= k->dims.len || !(space & (1u << e->dim_a)))
      return vfail(v, "a row test over a dim outside the nest");
    return check_idx(v, e->a);
  case KE_MASK:
    if (e->dim_a < 0 || e->dim_a >= k->dims.len || e->dim_b < 0 || e->dim_b >= k->dims.len ||
        !(space & (1u << e->dim_a)) || !(space & (1u << e->dim_b)))
      return vfail(v, "a mask over dims outside the nest");
    return true;
  case KE_UNARY: return check_expr(v, e->a, space);
  case KE_BINARY: return check_expr(v, e->a, space) && check_expr(v, e->b, space);
  }
  return vfail(v, "bad expression kind");
}

static bool check_buf_tile(VCtx *v, const KStmt *s) {
  const Kernel *k = v->k;
  if (s->buf < 0 || s->buf >= k->bufs.len) return vfail(v, "unknown buffer");
  if (s->tile < 0 || s->tile >= k->tiles.len) return vfail(v, "unknown tile");
  const KBuf *b = &k->bufs.data[s->buf];
  const Slot *sl = NULL;
  switch (b->role) {
  case KB_INPUT: sl = &k->g->inputs.data[b->slot]; break;
  case KB_PARAM: sl = &k->g->params.data[b->slot]; break;
  case KB_STATE_IN:
  case KB_STATE_OUT: sl = &k->g->states.data[b->slot]; break;
  case KB_OUTPUT: sl = &k->g->outputs.data[b->slot]; break;
  case KB_SEQLENS: return vfail(v, "tile load/store on cu_seqlens");
  }
  DimSet want = sl->dimset;
  if (s->rowdim >= 0) {
    if (s->rowdim >= k->dims.len || (sl->dimset & (1u << s->rowdim)))
      return vfail(v, "bad row dim for a load or store of rows");
    want |= 1u << s->rowdim;
    if (!check_idx(v, s->rows) || !check_idx(v, s->rowstride)) return false;
  }
  if (want != k->tiles.data[s->tile].dims)
    return vfail(v, "tile and buffer slot have different dims");
  bool reads = s->kind == KS_LOAD;
  if (reads && (b->role == KB_OUTPUT || b->role == KB_STATE_OUT))
    return vfail(v, "load from an output buffer");
  if (!reads && b->role != KB_OUTPUT && b->role != KB_STATE_OUT)
    return vfail(v, "store to an input buffer");
  return check_idx(v, s->idx);
}

static bool check_block(VCtx *v, const KBlock *b) {
  const Kernel *k = v->k;
  for (int i = 0; i < b->len; i++) {
    const KStmt *s = b->data[i];
    switch (s->kind) {
    case KS_FOR:
      if (!check_idx(v, s->lo) || !check_idx(v, s->hi)) return false;
      if (s->var < 0 || s->var >= k->vars.len || v->defined[s->var])
        return vfail(v, "loop variable redefined");
      v->defined[s->var] = true;
      if (!check_block(v, &s->body)) return false;
      v->defined[s->var] = false;
      break;
    case KS_LET:
      if (!check_idx(v, s->idx)) return false;
      if (s->var < 0 || s->var >= k->vars.len || v->defined[s->var])
        return vfail(v, "let variable redefined");
      v->defined[s->var] = true;   /* in scope to the end of the enclosing block */
      break;
    case KS_NEST:
      if (!s->assigns.len) return vfail(v, "empty nest");
      for (int j = 0; j < s->assigns.len; j++) {
        const KAssign *a = &s->assigns.data[j];
        if (a->tile < 0 || a->tile >= k->tiles.len) return vfail(v, "nest writes an unknown tile");
        DimSet td = k->tiles.data[a->tile].dims;
        if (td & ~s->space) return vfail(v, "nest target has a dim outside the space");
        if (a->acc == KACC_SET && td != s->space)
          return vfail(v, "plain assignment to a tile smaller than the nest (use += or max=)");
        if (!check_expr(v, a->expr, s->space)) return false;
      }
      break;
    case KS_FILL:
      if (s->tile < 0 || s->tile >= k->tiles.len) return vfail(v, "fill of an unknown tile");
      break;
    case KS_LOAD:
    case KS_STORE:
      if (!check_buf_tile(v, s)) return false;
      break;
    case KS_COPY:
      if (s->tile < 0 || s->tile >= k->tiles.len || s->tile2 < 0 || s->tile2 >= k->tiles.len ||
          k->tiles.data[s->tile].dims != k->tiles.data[s->tile2].dims)
        return vfail(v, "copy between tiles of different dims");
      break;
    case KS_CUMSUM:
      if (s->tile < 0 || s->tile >= k->tiles.len || s->dim < 0 || s->dim >= k->dims.len ||
          !(k->tiles.data[s->tile].dims & (1u << s->dim)))
        return vfail(v, "cumsum along a dim the tile lacks");
      if (s->tile2 >= 0 && (s->tile2 >= k->tiles.len ||
                            k->tiles.data[s->tile2].dims != (k->tiles.data[s->tile].dims & ~(1u << s->dim))))
        return vfail(v, "cumsum's total over other dims than the tile's others");
      break;
    case KS_INTERLEAVE: {
      if (s->tile < 0 || s->tile >= k->tiles.len || s->tile2 < 0 || s->tile2 >= k->tiles.len ||
          s->dim < 0 || s->dim2 < 0 || s->dim >= k->dims.len || s->dim2 >= k->dims.len ||
          s->nphase < 1 || s->phase < 0 || s->phase >= s->nphase)
        return vfail(v, "bad interleave");
      DimSet x = k->tiles.data[s->tile].dims, y = k->tiles.data[s->tile2].dims;
      long na = k->dims.data[s->dim].size, nb = k->dims.data[s->dim2].size;
      if (!(x & (1u << s->dim)) || !(y & (1u << s->dim2)) ||
          (x & ~(1u << s->dim)) != (y & ~(1u << s->dim2)) ||
          (na != nb * s->nphase && nb != na * s->nphase))
        return vfail(v, "interleave needs row dims of n and n*nphase and the same other dims");
      break;
    }
    case KS_TRISOLVE: {
      if (s->tile < 0 || s->tile >= k->tiles.len || s->tile2 < 0 || s->tile2 >= k->tiles.len ||
          s->dim < 0 || s->dim2 < 0 || s->dim >= k->dims.len || s->dim2 >= k->dims.len)
        return vfail(v, "bad trisolve");
      DimSet x = k->tiles.data[s->tile].dims, n = k->tiles.data[s->tile2].dims;
      if (n != ((1u << s->dim) | (1u << s->dim2)) || !(x & (1u << s->dim)) ||
          (x & (1u << s->dim2)) || k->dims.data[s->dim].size != k->dims.data[s->dim2].size)
        return vfail(v, "trisolve needs N[row, col] and X[row, ...] with equal row and col sizes");
      break;
    }
    case KS_SCAN: {
      if (s->tile < 0 || s->tile >= k->tiles.len || s->dim < 0 || s->dim >= k->dims.len ||
          s->carry < 0 || s->carry >= k->tiles.len || s->tile2 >= k->tiles.len ||
          s->prior >= k->tiles.len)
        return vfail(v, "bad scan");
      DimSet x = k->tiles.data[s->tile].dims, d = 1u << s->dim;
      if (!(x & d) || k->tiles.data[s->carry].dims != (x & ~d) ||
          (s->tile2 >= 0 && (k->tiles.data[s->tile2].dims & ~x)) ||
          (s->prior >= 0 && k->tiles.data[s->prior].dims != x) || s->carry == s->tile ||
          s->tile2 == s->tile || s->tile2 == s->carry || s->prior == s->tile ||
          s->prior == s->carry)
        return vfail(v, "scan needs X[dim, ...], a decay within X's dims, a carry over X's "
                        "other dims and a prior like X, all distinct");
      if (!check_idx(v, s->rows)) return false;
      break;
    }
    case KS_IF_NULL:
      if (s->buf < 0 || s->buf >= k->bufs.len || !k->bufs.data[s->buf].nullable)
        return vfail(v, "null test on a buffer that cannot be null");
      if (!check_block(v, &s->body) || !check_block(v, &s->orelse)) return false;
      break;
    case KS_IF_LESS:
      if (s->tile < 0 || s->tile >= k->tiles.len || k->tiles.data[s->tile].dims)
        return vfail(v, "a test on a tile that is not a scalar");
      if (!check_block(v, &s->body) || !check_block(v, &s->orelse)) return false;
      break;
    }
  }
  /* Variables introduced by LET go out of scope with their block. */
  for (int i = 0; i < b->len; i++)
    if (b->data[i]->kind == KS_LET) v->defined[b->data[i]->var] = false;
  return true;
}

const char *kir_verify(const Kernel *k) {
  VCtx v = {k, arena_alloc(k->arena, (size_t)k->vars.len + 1), NULL};
  for (int d = 0; d < k->dims.len; d++)
    if (k->dims.data[d].size <= 0) return "kernel over an unbound dim";
  check_block(&v, &k->body);
  return v.err;
}
