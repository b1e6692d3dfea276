/* emit_common.c — printers shared by the C and CUDA source emitters. */
#include "emit.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void em_ind(Emit *e, int depth) {
  for (int i = 0; i < depth; i++) buf_puts(e->out, "  ");
}

/* A C identifier from a DSL name (they are already [A-Za-z_][A-Za-z0-9_]*);
 * prefixed so it cannot collide with the generated locals. */
void em_put_buf_name(Emit *e, int b) { buf_printf(e->out, "a_%s", e->k->bufs.data[b].name); }
void em_put_tile_name(Emit *e, int t) { buf_printf(e->out, "x%d_%s", t, e->k->tiles.data[t].name); }

void em_put_float(Buf *out, double v) {
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

void em_put_idx(Emit *e, int id) {
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
    em_put_buf_name(e, x->buf);
    buf_puts(e->out, " ? ");
    em_put_buf_name(e, x->buf);
    buf_puts(e->out, "[");
    em_put_idx(e, x->a);
    buf_puts(e->out, "] : (");
    em_put_idx(e, x->a);
    buf_puts(e->out, ") * T)");
    return;
  case KI_MIN:
    buf_puts(e->out, "lrc_min64(");
    em_put_idx(e, x->a);
    buf_puts(e->out, ", ");
    em_put_idx(e, x->b);
    buf_puts(e->out, ")");
    return;
  default:
    buf_puts(e->out, "(");
    em_put_idx(e, x->a);
    buf_printf(e->out, " %s ", ops[x->kind]);
    em_put_idx(e, x->b);
    buf_puts(e->out, ")");
    return;
  }
}


/* Index of the current point of `space` in a tile of dims `td`. */
void em_put_elem(Emit *e, int tile) { em_put_elem_as(e, tile, -1, -1); }

/* The same with the tile's dim `from` indexed by the loop of dim `to`. */
void em_put_elem_as(Emit *e, int tile, int from, int to) {
  const DimTable *dt = &e->k->dims;
  DimSet td = e->k->tiles.data[tile].dims;
  em_put_tile_name(e, tile);
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
    if (!any && e->tile_ld && e->tile_ld[tile]) stride = e->tile_ld[tile];   /* padded rows */
    any = true;
  }
  buf_puts(e->out, any ? tmp.s : "0");
  buf_free(&tmp);
  buf_puts(e->out, "]");
}

void em_put_expr(Emit *e, int id) {
  const KExpr *x = &e->k->exprs.data[id];
  switch (x->kind) {
  case KE_CONST: em_put_float(e->out, x->num); return;
  case KE_READ:
    if (e->reg_name && x->tile == e->reg_tile && x->dim_a < 0) buf_puts(e->out, e->reg_name);
    else if (e->vec_reg && e->vec_reg[x->tile] && x->dim_a < 0)
      buf_printf(e->out, "%s[lrc_j]", e->vec_reg[x->tile]);
    else em_put_elem_as(e, x->tile, x->dim_a, x->dim_b);
    return;
  case KE_BELOW:
    buf_printf(e->out, "(i_%s < ", e->k->dims.data[x->dim_a].name);
    em_put_idx(e, x->a);
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
    em_put_expr(e, x->a);
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
      em_put_expr(e, x->a);
      buf_printf(e->out, " %s ", infix[x->op]);
      em_put_expr(e, x->b);
      buf_puts(e->out, ")");
    } else {
      LRC_ASSERT(fn[x->op]);
      buf_printf(e->out, "%s(", fn[x->op]);
      em_put_expr(e, x->a);
      buf_puts(e->out, ", ");
      em_put_expr(e, x->b);
      buf_puts(e->out, ")");
    }
    return;
  }
  }
}

const char *em_role_doc(KBufRole r) {
  switch (r) {
  case KB_INPUT: return "input, per token: [B, T, H";
  case KB_PARAM: return "param, per head: [H";
  case KB_STATE_IN: return "initial state or NULL for zeros: [N, H";
  case KB_STATE_OUT: return "final state or NULL if not wanted: [N, H";
  case KB_OUTPUT: return "output, per token: [B, T, H";
  default: return "";
  }
}


void em_put_if(Emit *e, const KStmt *s) {
  buf_puts(e->out, "if (");
  if (s->kind == KS_IF_NULL) {
    em_put_buf_name(e, s->buf);
    buf_puts(e->out, " == NULL) {\n");
  } else {
    em_put_tile_name(e, s->tile);
    buf_puts(e->out, "[0] < ");
    em_put_float(e->out, s->num);
    buf_puts(e->out, ") {\n");
  }
}

void em_put_arg_docs(Emit *e, const char *arguments) {
  const Kernel *k = e->k;
  const DimTable *dt = &k->dims;
  Buf *o = e->out;
  buf_puts(o, " * Dims:");
  for (int d = 0; d < dt->len; d++) buf_printf(o, " %s=%ld", dt->data[d].name, dt->data[d].size);
  buf_printf(o, ".\n * Arguments (%s):\n", arguments);
  for (int i = 0; i < k->bufs.len; i++) {
    const KBuf *b = &k->bufs.data[i];
    if (b->role == KB_SEQLENS) {
      buf_puts(o, " *   cu_seqlens  int64 [N+1] sequence offsets of a packed batch (B = 1), or\n"
                  " *               NULL: N = B sequences of T tokens each\n");
      continue;
    }
    const Slot *sl = kir_buf_slot(k, i);
    buf_printf(o, " *   %-10s  %s", b->name, em_role_doc(b->role));
    for (int j = 0; j < sl->ndims; j++) buf_printf(o, ", %s", dt->data[sl->dims[j]].name);
    buf_puts(o, "]\n");
  }
  buf_puts(o, " *   B, T, H     batch, tokens per sequence (total tokens if packed), heads\n"
              " *   N           number of sequences: B, or len(cu_seqlens) - 1 if packed\n");
}
