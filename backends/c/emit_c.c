/* emit_c.c — kernel IR to standalone C99: NAME.c and NAME.h.
 *
 * The output needs no lrc header or library: `cc -O2 -std=c99 -c NAME.c`.
 * Each kernel becomes two entry points:
 *
 *   int NAME(args..., B, T, H, N)                     the whole problem
 *   int NAME_range(args..., B, T, H, N, lo, hi)       rows lo..hi-1 of the
 *                                                     parallel loop (for the
 *                                                     caller's own threads)
 *
 * Tiles live in one heap block per call (a state can be larger than a
 * stack); nests become plain loop nests with constant trip counts, the
 * innermost over the contiguous dim, so that the C compiler vectorises.
 */
#include "emit.h"

#include <stdio.h>

#include <math.h>
#include <string.h>

static void emit_nest(Emit *e, const KStmt *s, int depth) {
  const DimTable *dt = &e->k->dims;
  int open = 0;
  for (int o = 0; o < dt->len; o++) {
    int d = e->k->order[o];
    if (!(s->space & (1u << d))) continue;
    em_ind(e, depth + open);
    buf_printf(e->out, "for (int64_t i_%s = 0; i_%s < %ld; i_%s++) {\n", dt->data[d].name,
               dt->data[d].name, dt->data[d].size, dt->data[d].name);
    open++;
  }
  for (int j = 0; j < s->assigns.len; j++) {
    const KAssign *a = &s->assigns.data[j];
    em_ind(e, depth + open);
    em_put_elem(e, a->tile);
    if (a->acc == KACC_MAX) {
      buf_puts(e->out, " = fmaxf(");
      em_put_elem(e, a->tile);
      buf_puts(e->out, ", ");
      em_put_expr(e, a->expr);
      buf_puts(e->out, ");\n");
    } else {
      buf_puts(e->out, a->acc == KACC_ADD ? " += " : " = ");
      em_put_expr(e, a->expr);
      buf_puts(e->out, ";\n");
    }
  }
  while (open--) {
    em_ind(e, depth + open);
    buf_puts(e->out, "}\n");
  }
}

/* Copy between a tile (canonical dim order) and a buffer block (the
 * slot's declared order, contiguous). */
static void emit_transfer(Emit *e, const KStmt *s, int depth) {
  const Kernel *k = e->k;
  const DimTable *dt = &k->dims;
  const Slot *sl = kir_buf_slot(k, s->buf);
  bool load = s->kind == KS_LOAD;
  bool rows = s->rowdim >= 0;
  const char *r = rows ? dt->data[s->rowdim].name : NULL;
  em_ind(e, depth);
  buf_puts(e->out, "{\n");
  if (rows) {
    /* Rows of a chunk: the present ones come from (go to) the buffer,
     * the rest of the tile is zero. */
    em_ind(e, depth + 1);
    buf_puts(e->out, "const int64_t nrows = ");
    em_put_idx(e, s->rows);
    buf_puts(e->out, ", rstride = ");
    em_put_idx(e, s->rowstride);
    buf_puts(e->out, ";\n");
    em_ind(e, depth + 1);
    if (load)
      buf_printf(e->out, "for (int64_t i_%s = 0; i_%s < %ld; i_%s++) {\n", r, r,
                 dt->data[s->rowdim].size, r);
    else
      buf_printf(e->out, "for (int64_t i_%s = 0; i_%s < nrows; i_%s++) {\n", r, r, r);
    depth++;
  }
  em_ind(e, depth + 1);
  buf_printf(e->out, "%sfloat *restrict p = ", load ? "const " : "");
  em_put_buf_name(e, s->buf);
  buf_puts(e->out, " + ");
  em_put_idx(e, s->idx);
  if (rows) buf_printf(e->out, " + (i_%s < nrows ? i_%s : 0) * rstride", r, r);
  buf_puts(e->out, ";\n");
  /* Loops in the buffer's order; the tile is indexed canonically. */
  for (int i = 0; i < sl->ndims; i++) {
    const DimInfo *d = &dt->data[sl->dims[i]];
    em_ind(e, depth + 1 + i);
    buf_printf(e->out, "for (int64_t i_%s = 0; i_%s < %ld; i_%s++)\n", d->name, d->name,
               d->size, d->name);
  }
  em_ind(e, depth + 1 + sl->ndims);
  Buf off = {0};
  long st = 1;
  for (int i = sl->ndims - 1; i >= 0; i--) {
    const DimInfo *d = &dt->data[sl->dims[i]];
    buf_printf(&off, "%si_%s * %ld", off.len ? " + " : "", d->name, st);
    st *= d->size;
  }
  if (!off.len) buf_puts(&off, "0");
  if (load) {
    em_put_elem(e, s->tile);
    if (rows) buf_printf(e->out, " = i_%s < nrows ? p[%s] : 0.0f;\n", r, off.s);
    else buf_printf(e->out, " = p[%s];\n", off.s);
  } else {
    buf_printf(e->out, "p[%s] = ", off.s);
    em_put_elem(e, s->tile);
    buf_puts(e->out, ";\n");
  }
  buf_free(&off);
  if (rows) {
    depth--;
    em_ind(e, depth + 1);
    buf_puts(e->out, "}\n");
  }
  em_ind(e, depth);
  buf_puts(e->out, "}\n");
}

/* Running sum along a dim, for every other index of the tile. */
static void emit_cumsum(Emit *e, const KStmt *s, int depth) {
  const DimTable *dt = &e->k->dims;
  DimSet td = e->k->tiles.data[s->tile].dims;
  const char *c = dt->data[s->dim].name;
  em_ind(e, depth);
  buf_puts(e->out, "{\n");   /* a scope for acc */
  depth++;
  int open = 0;
  for (int o = 0; o < dt->len; o++) {
    int d = e->k->order[o];
    if (!(td & (1u << d)) || d == s->dim) continue;
    em_ind(e, depth + open++);
    buf_printf(e->out, "for (int64_t i_%s = 0; i_%s < %ld; i_%s++) {\n", dt->data[d].name,
               dt->data[d].name, dt->data[d].size, dt->data[d].name);
  }
  em_ind(e, depth + open);
  buf_puts(e->out, "float acc = 0.0f;\n");
  em_ind(e, depth + open);
  if (s->reverse)
    buf_printf(e->out, "for (int64_t i_%s = %ld; i_%s >= 0; i_%s--) {\n", c,
               dt->data[s->dim].size - 1, c, c);
  else
    buf_printf(e->out, "for (int64_t i_%s = 0; i_%s < %ld; i_%s++) {\n", c, c,
               dt->data[s->dim].size, c);
  em_ind(e, depth + open + 1);
  if (s->exclusive) {
    buf_puts(e->out, "float x = ");
    em_put_elem(e, s->tile);
    buf_puts(e->out, ";\n");
    em_ind(e, depth + open + 1);
    em_put_elem(e, s->tile);
    buf_puts(e->out, " = acc;\n");
    em_ind(e, depth + open + 1);
    buf_puts(e->out, "acc += x;\n");
  } else {
    buf_puts(e->out, "acc += ");
    em_put_elem(e, s->tile);
    buf_puts(e->out, ";\n");
    em_ind(e, depth + open + 1);
    em_put_elem(e, s->tile);
    buf_puts(e->out, " = acc;\n");
  }
  em_ind(e, depth + open);
  buf_puts(e->out, "}\n");
  if (s->tile2 >= 0) {   /* the whole sum */
    em_ind(e, depth + open);
    em_put_elem(e, s->tile2);
    buf_puts(e->out, " = acc;\n");
  }
  while (open--) {
    em_ind(e, depth + open);
    buf_puts(e->out, "}\n");
  }
  em_ind(e, depth - 1);
  buf_puts(e->out, "}\n");
}

/* X = (I + N)^-1 X by forward substitution: row i of X minus
 * sum_{j<i} N[i, j] X[j, ...], rows in order. The column dim of N indexes
 * X's rows through a second loop variable. */
static void emit_trisolve(Emit *e, const KStmt *s, int depth) {
  const DimTable *dt = &e->k->dims;
  DimSet xd = e->k->tiles.data[s->tile].dims;
  const char *ri = dt->data[s->dim].name, *ci = dt->data[s->dim2].name;
  long n = dt->data[s->dim].size;
  /* Strides of X: along the row dim, and the size of one row. */
  long rowlen = 1;
  for (int d = 0; d < dt->len; d++)
    if ((xd & (1u << d)) && d != s->dim) rowlen *= dt->data[d].size;
  long rstride = 1;
  for (int o = dt->len - 1; e->k->order[o] != s->dim; o--)
    if (xd & (1u << e->k->order[o])) rstride *= dt->data[e->k->order[o]].size;
  em_ind(e, depth);
  buf_printf(e->out, "for (int64_t i_%s = 1; i_%s < %ld; i_%s++)\n", ri, ri, n, ri);
  em_ind(e, depth + 1);
  buf_printf(e->out, "for (int64_t i_%s = 0; i_%s < i_%s; i_%s++) {\n", ci, ci, ri, ci);
  em_ind(e, depth + 2);
  buf_puts(e->out, "const float nij = ");
  em_put_elem(e, s->tile2);
  buf_puts(e->out, ";\n");
  /* Every other index of a row: a flat loop over the row's elements,
   * with the row dim's stride separating rows (the row dim is outermost
   * among X's dims or not: use explicit strides). */
  em_ind(e, depth + 2);
  buf_printf(e->out, "for (int64_t q = 0; q < %ld; q++) {\n", rowlen);
  em_ind(e, depth + 3);
  buf_printf(e->out, "const int64_t lo = q %% %ld, hi = q / %ld;\n", rstride, rstride);
  em_ind(e, depth + 3);
  em_put_tile_name(e, s->tile);
  buf_printf(e->out, "[hi * %ld + i_%s * %ld + lo] -= nij * ", rstride * n, ri, rstride);
  em_put_tile_name(e, s->tile);
  buf_printf(e->out, "[hi * %ld + i_%s * %ld + lo];\n", rstride * n, ci, rstride);
  em_ind(e, depth + 2);
  buf_puts(e->out, "}\n");
  em_ind(e, depth + 1);
  buf_puts(e->out, "}\n");
}

/* Rows between a per-token dim and a virtual one (KS_INTERLEAVE). */
static void emit_interleave(Emit *e, const KStmt *s, int depth) {
  const Kernel *k = e->k;
  const DimTable *dt = &k->dims;
  long a = dt->data[s->dim].size, b = dt->data[s->dim2].size;
  bool scatter = a > b || s->nphase == 1;
  const char *big = dt->data[scatter ? s->dim : s->dim2].name;
  const char *small = dt->data[scatter ? s->dim2 : s->dim].name;
  em_ind(e, depth);
  buf_printf(e->out, "for (int64_t i_%s = 0; i_%s < %ld; i_%s++) {\n", small, small,
             scatter ? b : a, small);
  em_ind(e, depth + 1);
  buf_printf(e->out, "const int64_t i_%s = i_%s * %d + %d;\n", big, small, s->nphase, s->phase);
  DimSet rest = k->tiles.data[s->tile].dims & ~(1u << s->dim);
  int open = 0;
  for (int o = 0; o < dt->len; o++) {
    int d = k->order[o];
    if (!(rest & (1u << d))) continue;
    em_ind(e, depth + 1 + open++);
    buf_printf(e->out, "for (int64_t i_%s = 0; i_%s < %ld; i_%s++)\n", dt->data[d].name,
               dt->data[d].name, dt->data[d].size, dt->data[d].name);
  }
  em_ind(e, depth + 1 + open);
  em_put_elem(e, s->tile);
  buf_puts(e->out, " = ");
  em_put_elem(e, s->tile2);
  buf_puts(e->out, ";\n");
  em_ind(e, depth);
  buf_puts(e->out, "}\n");
}

/* S = A[r] S + X[r]; X[r] = S for the rows r < rows of the scan dim, in
 * order; inside a row, plain loops over the other dims (independent
 * elements, the contiguous one innermost, for the C compiler to
 * vectorise). */
static void emit_scan(Emit *e, const KStmt *s, int depth) {
  const DimTable *dt = &e->k->dims;
  DimSet xd = e->k->tiles.data[s->tile].dims;
  const char *r = dt->data[s->dim].name;
  em_ind(e, depth);
  buf_puts(e->out, "{\n");
  em_ind(e, depth + 1);
  buf_puts(e->out, "const int64_t nrows = ");
  em_put_idx(e, s->rows);
  buf_puts(e->out, ";\n");
  em_ind(e, depth + 1);
  buf_printf(e->out, "for (int64_t i_%s = 0; i_%s < nrows; i_%s++) {\n", r, r, r);
  int open = 0;
  for (int o = 0; o < dt->len; o++) {
    int d = e->k->order[o];
    if (!(xd & (1u << d)) || d == s->dim) continue;
    em_ind(e, depth + 2 + open++);
    buf_printf(e->out, "for (int64_t i_%s = 0; i_%s < %ld; i_%s++) {\n", dt->data[d].name,
               dt->data[d].name, dt->data[d].size, dt->data[d].name);
  }
  int in = depth + 2 + open;
  if (s->prior >= 0) {
    em_ind(e, in);
    em_put_elem(e, s->prior);
    buf_puts(e->out, " = ");
    em_put_elem(e, s->carry);
    buf_puts(e->out, ";\n");
  }
  em_ind(e, in);
  buf_puts(e->out, "const float lrc_s = ");
  if (s->tile2 >= 0) {
    em_put_elem(e, s->tile2);
    buf_puts(e->out, " * ");
  }
  em_put_elem(e, s->carry);
  buf_puts(e->out, " + ");
  em_put_elem(e, s->tile);
  buf_puts(e->out, ";\n");
  em_ind(e, in);
  em_put_elem(e, s->carry);
  buf_puts(e->out, " = lrc_s;\n");
  em_ind(e, in);
  em_put_elem(e, s->tile);
  buf_puts(e->out, " = lrc_s;\n");
  while (open--) {
    em_ind(e, depth + 2 + open);
    buf_puts(e->out, "}\n");
  }
  em_ind(e, depth + 1);
  buf_puts(e->out, "}\n");
  em_ind(e, depth);
  buf_puts(e->out, "}\n");
}

static void emit_block(Emit *e, const KBlock *b, int depth, bool outer);

static void emit_stmt(Emit *e, const KStmt *s, int depth, bool outer) {
  const Kernel *k = e->k;
  switch (s->kind) {
  case KS_FOR:
    em_ind(e, depth);
    if (s->parallel && outer) {
      /* The outermost parallel loop runs the caller's share [lo, hi). */
      buf_printf(e->out, "for (int64_t v_%s = lrc_lo; v_%s < lrc_hi; v_%s++) {\n",
                 k->vars.data[s->var], k->vars.data[s->var], k->vars.data[s->var]);
    } else {
      buf_printf(e->out, "for (int64_t v_%s = ", k->vars.data[s->var]);
      em_put_idx(e, s->lo);
      buf_printf(e->out, ", v_%s_end = ", k->vars.data[s->var]);
      em_put_idx(e, s->hi);
      buf_printf(e->out, "; v_%s < v_%s_end; v_%s++) {\n", k->vars.data[s->var],
                 k->vars.data[s->var], k->vars.data[s->var]);
    }
    emit_block(e, &s->body, depth + 1, false);
    em_ind(e, depth);
    buf_puts(e->out, "}\n");
    break;
  case KS_LET:
    em_ind(e, depth);
    buf_printf(e->out, "const int64_t v_%s = ", k->vars.data[s->var]);
    em_put_idx(e, s->idx);
    buf_puts(e->out, ";\n");
    break;
  case KS_NEST:
    emit_nest(e, s, depth);
    break;
  case KS_FILL:
    em_ind(e, depth);
    buf_printf(e->out, "for (int64_t i = 0; i < %ld; i++) ", kir_tile_count(k, s->tile));
    em_put_tile_name(e, s->tile);
    buf_puts(e->out, "[i] = ");
    em_put_float(e->out, s->num);
    buf_puts(e->out, ";\n");
    break;
  case KS_LOAD:
  case KS_STORE:
    emit_transfer(e, s, depth);
    break;
  case KS_COPY:
    em_ind(e, depth);
    buf_puts(e->out, "memcpy(");
    em_put_tile_name(e, s->tile);
    buf_puts(e->out, ", ");
    em_put_tile_name(e, s->tile2);
    buf_printf(e->out, ", sizeof(float) * %ld);\n", kir_tile_count(k, s->tile));
    break;
  case KS_CUMSUM:
    emit_cumsum(e, s, depth);
    break;
  case KS_INTERLEAVE:
    emit_interleave(e, s, depth);
    break;
  case KS_TRISOLVE:
    emit_trisolve(e, s, depth);
    break;
  case KS_SCAN:
    emit_scan(e, s, depth);
    break;
  case KS_IF_NULL:
  case KS_IF_LESS:
    em_ind(e, depth);
    em_put_if(e, s);
    emit_block(e, &s->body, depth + 1, false);
    if (s->orelse.len) {
      em_ind(e, depth);
      buf_puts(e->out, "} else {\n");
      emit_block(e, &s->orelse, depth + 1, false);
    }
    em_ind(e, depth);
    buf_puts(e->out, "}\n");
    break;
  }
}

static void emit_block(Emit *e, const KBlock *b, int depth, bool outer) {
  for (int i = 0; i < b->len; i++) emit_stmt(e, b->data[i], depth, outer);
}

/* Parameter list: buffers in kernel order, then the sizes. */
static void put_params(Emit *e, bool range, bool names) {
  const Kernel *k = e->k;
  for (int i = 0; i < k->bufs.len; i++) {
    const KBuf *b = &k->bufs.data[i];
    bool in = b->role == KB_INPUT || b->role == KB_PARAM || b->role == KB_STATE_IN ||
              b->role == KB_SEQLENS;
    buf_printf(e->out, "%s%s%s *", i ? ", " : "", in ? "const " : "",
               b->role == KB_SEQLENS ? "int64_t" : "float");
    if (names) em_put_buf_name(e, i);
  }
  buf_puts(e->out, names ? ", int64_t B, int64_t T, int64_t H, int64_t N"
                         : ", int64_t, int64_t, int64_t, int64_t");
  if (range) buf_puts(e->out, names ? ", int64_t lrc_lo, int64_t lrc_hi" : ", int64_t, int64_t");
}

static const char c_prelude[] =
    "#include <math.h>\n"
    "#include <stdint.h>\n"
    "#include <stdlib.h>\n"
    "#include <string.h>\n"
    "\n"
    "static inline int64_t lrc_min64(int64_t a, int64_t b) { return a < b ? a : b; }\n"
    "static inline float lrc_rsqrt(float x) { return 1.0f / sqrtf(x); }\n"
    "static inline float lrc_sigmoid(float x) {\n"
    "  return x >= 0.0f ? 1.0f / (1.0f + expf(-x)) : expf(x) / (1.0f + expf(x));\n"
    "}\n"
    "static inline float lrc_softplus(float x) { return fmaxf(x, 0.0f) + log1pf(expf(-fabsf(x))); }\n"
    "static inline float lrc_logsigmoid(float x) { return -lrc_softplus(-x); }\n"
    "static inline float lrc_silu(float x) { return x * lrc_sigmoid(x); }\n"
    "static inline float lrc_elu(float x) { return x > 0.0f ? x : expm1f(x); }\n"
    "static inline float lrc_relu(float x) { return x > 0.0f ? x : 0.0f; }\n";

static void emit_header(Emit *e, const char *guard) {
  const Kernel *k = e->k;
  const Graph *g = k->g;
  Buf *o = e->out;
  buf_printf(o, "/* %s.h — generated by lrc %s: rnn %s, algorithm %s.\n *\n", k->name,
             LRC_VERSION_STRING_INTERNAL, g->name, k->algo);
  em_put_arg_docs(e, "float32, row-major, contiguous");
  buf_puts(o, " * Returns 0, or 1 if scratch memory could not be allocated.\n"
              " * NAME_range runs rows [lo, hi) of the N*H (sequence, head) rows, so\n"
              " * that callers can split the work across their own threads.\n */\n");
  buf_printf(o, "#ifndef %s\n#define %s\n\n#include <stdint.h>\n\n", guard, guard);
  buf_puts(o, "#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n");
  buf_printf(o, "int %s(", k->name);
  put_params(e, false, true);
  buf_printf(o, ");\nint %s_range(", k->name);
  put_params(e, true, true);
  buf_puts(o, ");\n\n#ifdef __cplusplus\n}\n#endif\n\n#endif\n");
}

static void emit_source(Emit *e, const char *hname) {
  const Kernel *k = e->k;
  Buf *o = e->out;
  buf_printf(o, "/* %s.c — generated by lrc %s: rnn %s, algorithm %s. */\n", k->name,
             LRC_VERSION_STRING_INTERNAL, k->g->name, k->algo);
  if (hname) buf_printf(o, "#include \"%s\"\n", hname);
  buf_puts(o, c_prelude);
  buf_printf(o, "\nint %s_range(", k->name);
  put_params(e, true, true);
  buf_puts(o, ") {\n  (void)B;\n  (void)N;\n");
  buf_printf(o, "  float *lrc_mem = (float *)malloc(sizeof(float) * %ld);\n",
             e->scratch ? e->scratch : 1);
  buf_puts(o, "  if (!lrc_mem) return 1;\n");
  for (int t = 0; t < k->tiles.len; t++) {
    buf_puts(o, "  float *restrict ");
    em_put_tile_name(e, t);
    buf_printf(o, " = lrc_mem + %ld;\n", e->tile_off[t]);
  }
  /* In-place state updates read and write one tile; nothing else aliases. */
  emit_block(e, &k->body, 1, true);
  buf_puts(o, "  free(lrc_mem);\n  return 0;\n}\n\n");
  buf_printf(o, "int %s(", k->name);
  put_params(e, false, true);
  buf_printf(o, ") {\n  return %s_range(", k->name);
  for (int i = 0; i < k->bufs.len; i++) {
    buf_puts(o, i ? ", " : "");
    em_put_buf_name(e, i);
  }
  buf_puts(o, ", B, T, H, N, 0, N * H);\n}\n");
}

void cg_emit_c(const Kernel *k, const char *header_name, Buf *c_out, Buf *h_out) {
  Emit e = {.k = k};
  e.tile_off = arena_alloc(k->arena, sizeof(long) * (size_t)(k->tiles.len + 1));
  for (int t = 0; t < k->tiles.len; t++) {
    e.tile_off[t] = e.scratch;
    long n = kir_tile_count(k, t);
    e.scratch += (n + 15) & ~15L;   /* 64-byte aligned tiles */
  }
  if (h_out) {
    e.out = h_out;
    Buf guard = {0};
    buf_printf(&guard, "LRC_KERNEL_%s_H", k->name);
    for (char *p = guard.s; *p; p++)
      if (*p >= 'a' && *p <= 'z') *p = (char)(*p - 'a' + 'A');
    emit_header(&e, guard.s);
    buf_free(&guard);
  }
  e.out = c_out;
  emit_source(&e, header_name);
}
