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
#include "backend.h"

#include <stdio.h>

#include <math.h>
#include <string.h>

typedef struct Emit {
  const Kernel *k;
  Buf *out;
  long *tile_off;          /* float offset of each tile in the scratch block */
  long scratch;            /* floats */
} Emit;

static void ind(Emit *e, int depth) {
  for (int i = 0; i < depth; i++) buf_puts(e->out, "  ");
}

/* A C identifier from a DSL name (they are already [A-Za-z_][A-Za-z0-9_]*);
 * prefixed so it cannot collide with the generated locals. */
static void put_buf_name(Emit *e, int b) { buf_printf(e->out, "a_%s", e->k->bufs.data[b].name); }
static void put_tile_name(Emit *e, int t) { buf_printf(e->out, "x%d_%s", t, e->k->tiles.data[t].name); }

static void put_float(Buf *out, double v) {
  if (isinf(v)) buf_puts(out, v < 0 ? "(-INFINITY)" : "INFINITY");
  else if (isnan(v)) buf_puts(out, "NAN");
  else {
    char tmp[64];
    snprintf(tmp, sizeof tmp, "%.9g", v);
    buf_puts(out, tmp);
    if (!strpbrk(tmp, ".eEn")) buf_puts(out, ".0");
    buf_puts(out, "f");
  }
}

static void put_idx(Emit *e, int id) {
  const KIdx *x = &e->k->idx.data[id];
  static const char *ops[] = {[KI_ADD] = "+", [KI_SUB] = "-", [KI_MUL] = "*",
                              [KI_DIV] = "/", [KI_MOD] = "%"};
  switch (x->kind) {
  case KI_CONST: buf_printf(e->out, "(int64_t)%ld", x->c); return;
  case KI_VAR: buf_printf(e->out, "v_%s", e->k->vars.data[x->var]); return;
  case KI_ARG: buf_printf(e->out, "%s", kir_arg_name((KArg)x->var)); return;
  case KI_SEQLEN:
    /* Offset of sequence a: cu_seqlens[a], or a*T for fixed length. */
    buf_puts(e->out, "(");
    put_buf_name(e, x->buf);
    buf_puts(e->out, " ? ");
    put_buf_name(e, x->buf);
    buf_puts(e->out, "[");
    put_idx(e, x->a);
    buf_puts(e->out, "] : (");
    put_idx(e, x->a);
    buf_puts(e->out, ") * T)");
    return;
  case KI_MIN:
    buf_puts(e->out, "lrc_min64(");
    put_idx(e, x->a);
    buf_puts(e->out, ", ");
    put_idx(e, x->b);
    buf_puts(e->out, ")");
    return;
  default:
    buf_puts(e->out, "(");
    put_idx(e, x->a);
    buf_printf(e->out, " %s ", ops[x->kind]);
    put_idx(e, x->b);
    buf_puts(e->out, ")");
    return;
  }
}

static void put_elem_as(Emit *e, int tile, int from, int to);

/* Index of the current point of `space` in a tile of dims `td`. */
static void put_elem(Emit *e, int tile) { put_elem_as(e, tile, -1, -1); }

/* The same with the tile's dim `from` indexed by the loop of dim `to`. */
static void put_elem_as(Emit *e, int tile, int from, int to) {
  const DimTable *dt = &e->k->dims;
  DimSet td = e->k->tiles.data[tile].dims;
  put_tile_name(e, tile);
  buf_puts(e->out, "[");
  long stride = 1;
  bool any = false;
  Buf tmp = {0};
  for (int o = dt->len - 1; o >= 0; o--) {
    int d = e->k->order[o];
    if (!(td & (1u << d))) continue;
    if (any) buf_puts(&tmp, " + ");
    const char *iv = dt->data[d == from ? to : d].name;
    if (stride == 1) buf_printf(&tmp, "i_%s", iv);
    else buf_printf(&tmp, "i_%s * %ld", iv, stride);
    stride *= dt->data[d].size;
    any = true;
  }
  buf_puts(e->out, any ? tmp.s : "0");
  buf_free(&tmp);
  buf_puts(e->out, "]");
}

static void put_expr(Emit *e, int id) {
  const KExpr *x = &e->k->exprs.data[id];
  switch (x->kind) {
  case KE_CONST: put_float(e->out, x->num); return;
  case KE_READ: put_elem_as(e, x->tile, x->dim_a, x->dim_b); return;
  case KE_BELOW:
    buf_printf(e->out, "(i_%s < ", e->k->dims.data[x->dim_a].name);
    put_idx(e, x->a);
    buf_puts(e->out, " ? 1.0f : 0.0f)");
    return;
  case KE_MASK:
    buf_printf(e->out, "(i_%s %s i_%s ? 1.0f : 0.0f)", e->k->dims.data[x->dim_a].name,
               x->strict ? ">" : ">=", e->k->dims.data[x->dim_b].name);
    return;
  case KE_UNARY: {
    static const char *fn[OP_COUNT] = {
        [OP_NEG] = "-",           [OP_EXP] = "expf",       [OP_LOG] = "logf",
        [OP_SQRT] = "sqrtf",      [OP_RSQRT] = "lrc_rsqrt", [OP_ABS] = "fabsf",
        [OP_SIGMOID] = "lrc_sigmoid", [OP_LOGSIGMOID] = "lrc_logsigmoid",
        [OP_SOFTPLUS] = "lrc_softplus", [OP_SILU] = "lrc_silu", [OP_ELU] = "lrc_elu",
        [OP_RELU] = "lrc_relu",   [OP_TANH] = "tanhf",
    };
    LRC_ASSERT(fn[x->op]);
    buf_printf(e->out, "%s(", fn[x->op]);
    put_expr(e, x->a);
    buf_puts(e->out, ")");
    return;
  }
  case KE_BINARY: {
    static const char *infix[OP_COUNT] = {[OP_ADD] = "+", [OP_SUB] = "-", [OP_MUL] = "*",
                                          [OP_DIV] = "/"};
    static const char *fn[OP_COUNT] = {[OP_POW] = "powf", [OP_MAX] = "fmaxf",
                                       [OP_MIN] = "fminf"};
    if (infix[x->op]) {
      buf_puts(e->out, "(");
      put_expr(e, x->a);
      buf_printf(e->out, " %s ", infix[x->op]);
      put_expr(e, x->b);
      buf_puts(e->out, ")");
    } else {
      LRC_ASSERT(fn[x->op]);
      buf_printf(e->out, "%s(", fn[x->op]);
      put_expr(e, x->a);
      buf_puts(e->out, ", ");
      put_expr(e, x->b);
      buf_puts(e->out, ")");
    }
    return;
  }
  }
}

static void emit_nest(Emit *e, const KStmt *s, int depth) {
  const DimTable *dt = &e->k->dims;
  int open = 0;
  for (int o = 0; o < dt->len; o++) {
    int d = e->k->order[o];
    if (!(s->space & (1u << d))) continue;
    ind(e, depth + open);
    buf_printf(e->out, "for (int64_t i_%s = 0; i_%s < %ld; i_%s++) {\n", dt->data[d].name,
               dt->data[d].name, dt->data[d].size, dt->data[d].name);
    open++;
  }
  for (int j = 0; j < s->assigns.len; j++) {
    const KAssign *a = &s->assigns.data[j];
    ind(e, depth + open);
    put_elem(e, a->tile);
    if (a->acc == KACC_MAX) {
      buf_puts(e->out, " = fmaxf(");
      put_elem(e, a->tile);
      buf_puts(e->out, ", ");
      put_expr(e, a->expr);
      buf_puts(e->out, ");\n");
    } else {
      buf_puts(e->out, a->acc == KACC_ADD ? " += " : " = ");
      put_expr(e, a->expr);
      buf_puts(e->out, ";\n");
    }
  }
  while (open--) {
    ind(e, depth + open);
    buf_puts(e->out, "}\n");
  }
}

/* The slot a buffer holds. */
static const Slot *buf_slot(const Kernel *k, int b) {
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

/* Copy between a tile (canonical dim order) and a buffer block (the
 * slot's declared order, contiguous). */
static void emit_transfer(Emit *e, const KStmt *s, int depth) {
  const Kernel *k = e->k;
  const DimTable *dt = &k->dims;
  const Slot *sl = buf_slot(k, s->buf);
  bool load = s->kind == KS_LOAD;
  bool rows = s->rowdim >= 0;
  const char *r = rows ? dt->data[s->rowdim].name : NULL;
  ind(e, depth);
  buf_puts(e->out, "{\n");
  if (rows) {
    /* Rows of a chunk: the present ones come from (go to) the buffer,
     * the rest of the tile is zero. */
    ind(e, depth + 1);
    buf_puts(e->out, "const int64_t nrows = ");
    put_idx(e, s->rows);
    buf_puts(e->out, ", rstride = ");
    put_idx(e, s->rowstride);
    buf_puts(e->out, ";\n");
    ind(e, depth + 1);
    if (load)
      buf_printf(e->out, "for (int64_t i_%s = 0; i_%s < %ld; i_%s++) {\n", r, r,
                 dt->data[s->rowdim].size, r);
    else
      buf_printf(e->out, "for (int64_t i_%s = 0; i_%s < nrows; i_%s++) {\n", r, r, r);
    depth++;
  }
  ind(e, depth + 1);
  buf_printf(e->out, "%sfloat *restrict p = ", load ? "const " : "");
  put_buf_name(e, s->buf);
  buf_puts(e->out, " + ");
  put_idx(e, s->idx);
  if (rows) buf_printf(e->out, " + (i_%s < nrows ? i_%s : 0) * rstride", r, r);
  buf_puts(e->out, ";\n");
  /* Loops in the buffer's order; the tile is indexed canonically. */
  for (int i = 0; i < sl->ndims; i++) {
    const DimInfo *d = &dt->data[sl->dims[i]];
    ind(e, depth + 1 + i);
    buf_printf(e->out, "for (int64_t i_%s = 0; i_%s < %ld; i_%s++)\n", d->name, d->name,
               d->size, d->name);
  }
  ind(e, depth + 1 + sl->ndims);
  Buf off = {0};
  long st = 1;
  for (int i = sl->ndims - 1; i >= 0; i--) {
    const DimInfo *d = &dt->data[sl->dims[i]];
    buf_printf(&off, "%si_%s * %ld", off.len ? " + " : "", d->name, st);
    st *= d->size;
  }
  if (!off.len) buf_puts(&off, "0");
  if (load) {
    put_elem(e, s->tile);
    if (rows) buf_printf(e->out, " = i_%s < nrows ? p[%s] : 0.0f;\n", r, off.s);
    else buf_printf(e->out, " = p[%s];\n", off.s);
  } else {
    buf_printf(e->out, "p[%s] = ", off.s);
    put_elem(e, s->tile);
    buf_puts(e->out, ";\n");
  }
  buf_free(&off);
  if (rows) {
    depth--;
    ind(e, depth + 1);
    buf_puts(e->out, "}\n");
  }
  ind(e, depth);
  buf_puts(e->out, "}\n");
}

/* Running sum along a dim, for every other index of the tile. */
static void emit_cumsum(Emit *e, const KStmt *s, int depth) {
  const DimTable *dt = &e->k->dims;
  DimSet td = e->k->tiles.data[s->tile].dims;
  const char *c = dt->data[s->dim].name;
  ind(e, depth);
  buf_puts(e->out, "{\n");   /* a scope for acc */
  depth++;
  int open = 0;
  for (int o = 0; o < dt->len; o++) {
    int d = e->k->order[o];
    if (!(td & (1u << d)) || d == s->dim) continue;
    ind(e, depth + open++);
    buf_printf(e->out, "for (int64_t i_%s = 0; i_%s < %ld; i_%s++) {\n", dt->data[d].name,
               dt->data[d].name, dt->data[d].size, dt->data[d].name);
  }
  ind(e, depth + open);
  buf_puts(e->out, "float acc = 0.0f;\n");
  ind(e, depth + open);
  buf_printf(e->out, "for (int64_t i_%s = 0; i_%s < %ld; i_%s++) {\n", c, c,
             dt->data[s->dim].size, c);
  ind(e, depth + open + 1);
  if (s->exclusive) {
    buf_puts(e->out, "float x = ");
    put_elem(e, s->tile);
    buf_puts(e->out, ";\n");
    ind(e, depth + open + 1);
    put_elem(e, s->tile);
    buf_puts(e->out, " = acc;\n");
    ind(e, depth + open + 1);
    buf_puts(e->out, "acc += x;\n");
  } else {
    buf_puts(e->out, "acc += ");
    put_elem(e, s->tile);
    buf_puts(e->out, ";\n");
    ind(e, depth + open + 1);
    put_elem(e, s->tile);
    buf_puts(e->out, " = acc;\n");
  }
  ind(e, depth + open);
  buf_puts(e->out, "}\n");
  while (open--) {
    ind(e, depth + open);
    buf_puts(e->out, "}\n");
  }
  ind(e, depth - 1);
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
  ind(e, depth);
  buf_printf(e->out, "for (int64_t i_%s = 1; i_%s < %ld; i_%s++)\n", ri, ri, n, ri);
  ind(e, depth + 1);
  buf_printf(e->out, "for (int64_t i_%s = 0; i_%s < i_%s; i_%s++) {\n", ci, ci, ri, ci);
  ind(e, depth + 2);
  buf_puts(e->out, "const float nij = ");
  put_elem(e, s->tile2);
  buf_puts(e->out, ";\n");
  /* Every other index of a row: a flat loop over the row's elements,
   * with the row dim's stride separating rows (the row dim is outermost
   * among X's dims or not: use explicit strides). */
  ind(e, depth + 2);
  buf_printf(e->out, "for (int64_t q = 0; q < %ld; q++) {\n", rowlen);
  ind(e, depth + 3);
  buf_printf(e->out, "const int64_t lo = q %% %ld, hi = q / %ld;\n", rstride, rstride);
  ind(e, depth + 3);
  put_tile_name(e, s->tile);
  buf_printf(e->out, "[hi * %ld + i_%s * %ld + lo] -= nij * ", rstride * n, ri, rstride);
  put_tile_name(e, s->tile);
  buf_printf(e->out, "[hi * %ld + i_%s * %ld + lo];\n", rstride * n, ci, rstride);
  ind(e, depth + 2);
  buf_puts(e->out, "}\n");
  ind(e, depth + 1);
  buf_puts(e->out, "}\n");
}

static void emit_block(Emit *e, const KBlock *b, int depth, bool outer);

static void emit_stmt(Emit *e, const KStmt *s, int depth, bool outer) {
  const Kernel *k = e->k;
  switch (s->kind) {
  case KS_FOR:
    ind(e, depth);
    if (s->parallel && outer) {
      /* The outermost parallel loop runs the caller's share [lo, hi). */
      buf_printf(e->out, "for (int64_t v_%s = lrc_lo; v_%s < lrc_hi; v_%s++) {\n",
                 k->vars.data[s->var], k->vars.data[s->var], k->vars.data[s->var]);
    } else {
      buf_printf(e->out, "for (int64_t v_%s = ", k->vars.data[s->var]);
      put_idx(e, s->lo);
      buf_printf(e->out, ", v_%s_end = ", k->vars.data[s->var]);
      put_idx(e, s->hi);
      buf_printf(e->out, "; v_%s < v_%s_end; v_%s++) {\n", k->vars.data[s->var],
                 k->vars.data[s->var], k->vars.data[s->var]);
    }
    emit_block(e, &s->body, depth + 1, false);
    ind(e, depth);
    buf_puts(e->out, "}\n");
    break;
  case KS_LET:
    ind(e, depth);
    buf_printf(e->out, "const int64_t v_%s = ", k->vars.data[s->var]);
    put_idx(e, s->idx);
    buf_puts(e->out, ";\n");
    break;
  case KS_NEST:
    emit_nest(e, s, depth);
    break;
  case KS_FILL:
    ind(e, depth);
    buf_printf(e->out, "for (int64_t i = 0; i < %ld; i++) ", kir_tile_count(k, s->tile));
    put_tile_name(e, s->tile);
    buf_puts(e->out, "[i] = ");
    put_float(e->out, s->num);
    buf_puts(e->out, ";\n");
    break;
  case KS_LOAD:
  case KS_STORE:
    emit_transfer(e, s, depth);
    break;
  case KS_COPY:
    ind(e, depth);
    buf_puts(e->out, "memcpy(");
    put_tile_name(e, s->tile);
    buf_puts(e->out, ", ");
    put_tile_name(e, s->tile2);
    buf_printf(e->out, ", sizeof(float) * %ld);\n", kir_tile_count(k, s->tile));
    break;
  case KS_CUMSUM:
    emit_cumsum(e, s, depth);
    break;
  case KS_TRISOLVE:
    emit_trisolve(e, s, depth);
    break;
  case KS_IF_NULL:
  case KS_IF_LESS:
    ind(e, depth);
    buf_puts(e->out, "if (");
    if (s->kind == KS_IF_NULL) {
      put_buf_name(e, s->buf);
      buf_puts(e->out, " == NULL) {\n");
    } else {
      put_tile_name(e, s->tile);
      buf_puts(e->out, "[0] < ");
      put_float(e->out, s->num);
      buf_puts(e->out, ") {\n");
    }
    emit_block(e, &s->body, depth + 1, false);
    if (s->orelse.len) {
      ind(e, depth);
      buf_puts(e->out, "} else {\n");
      emit_block(e, &s->orelse, depth + 1, false);
    }
    ind(e, depth);
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
    if (names) put_buf_name(e, i);
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

static const char *role_doc(KBufRole r) {
  switch (r) {
  case KB_INPUT: return "input, per token: [B, T, H";
  case KB_PARAM: return "param, per head: [H";
  case KB_STATE_IN: return "initial state or NULL for zeros: [N, H";
  case KB_STATE_OUT: return "final state or NULL if not wanted: [N, H";
  case KB_OUTPUT: return "output, per token: [B, T, H";
  default: return "";
  }
}

static void emit_header(Emit *e, const char *guard) {
  const Kernel *k = e->k;
  const Graph *g = k->g;
  const DimTable *dt = &k->dims;
  Buf *o = e->out;
  buf_printf(o, "/* %s.h — generated by lrc %s: rnn %s, algorithm %s.\n *\n", k->name,
             LRC_VERSION_STRING_INTERNAL, g->name, k->algo);
  buf_puts(o, " * Dims:");
  for (int d = 0; d < dt->len; d++)
    buf_printf(o, " %s=%ld", dt->data[d].name, dt->data[d].size);
  buf_puts(o, ".\n * Arguments (float32, row-major, contiguous):\n");
  for (int i = 0; i < k->bufs.len; i++) {
    const KBuf *b = &k->bufs.data[i];
    if (b->role == KB_SEQLENS) {
      buf_puts(o, " *   cu_seqlens  int64 [N+1] sequence offsets of a packed batch (B = 1), or\n"
                  " *               NULL: N = B sequences of T tokens each\n");
      continue;
    }
    const Slot *sl = buf_slot(k, i);
    buf_printf(o, " *   %-10s  %s", b->name, role_doc(b->role));
    for (int j = 0; j < sl->ndims; j++) buf_printf(o, ", %s", dt->data[sl->dims[j]].name);
    buf_puts(o, "]\n");
  }
  buf_puts(o, " *   B, T, H     batch, tokens per sequence (total tokens if packed), heads\n"
              " *   N           number of sequences: B, or len(cu_seqlens) - 1 if packed\n"
              " * Returns 0, or 1 if scratch memory could not be allocated.\n"
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
    put_tile_name(e, t);
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
    put_buf_name(e, i);
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
