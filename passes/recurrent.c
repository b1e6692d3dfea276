/* recurrent.c — lower a step graph to the sequential (recurrent) kernel.
 *
 * The kernel is
 *
 *   parallel for bh in [0, N*H):            n = bh / H, h = bh % H
 *     load params of head h; load (or zero) the states of sequence n
 *     for t in [seq_start(n), seq_start(n+1)):
 *       load the token's inputs
 *       the step graph as loop nests over tiles
 *       store the token's outputs; commit the new states
 *     store the final states
 *
 * Fusion. Every node of the step graph is either *materialised* in a tile
 * (leaves, reductions, contractions, state and output values, elementwise
 * nodes that are expensive to recompute) or *inlined* into the element
 * expression of each nest that uses it. Consecutive nests over the same
 * dims are merged into one pass when that is safe (the later one reads no
 * reduction still being accumulated by the earlier one). A state's new
 * value is written in place when no later computation reads the old one.
 * For Gated DeltaNet this gives two passes over the K×V state per token:
 * one for kᵀS, one for the decayed update fused with the readout qᵀS.
 */
#include "passes.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct Lower {
  Arena *arena;
  const Graph *g;
  Kernel *k;
  bool *live;              /* node reaches a state write or an output */
  bool *mat;               /* node is materialised in a tile */
  int *tile;               /* node -> tile (materialised nodes), -1 otherwise */
  int *state_tile;         /* state slot -> its persistent tile */
  int *last_old_read;      /* state slot -> last node position reading the old value */
  KBlock *step;            /* statements of one token */
  bool *row;               /* node of the params alone: where materialised,
                              computed once per row before the time loop */
  KStmt *last_nest;        /* the nest new assignments may merge into */
  int last_nest_pos;       /* its index in step */
} Lower;

/* Cost of evaluating a node once, in rough flops; transcendental
 * functions count more. */
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
  OpClass c = ir_ops[n->op].cls;
  return c == K_UNARY || c == K_BINARY;
}

static DimSet space_of(const Node *n) { return n->dims | n->rdims; }

/* Decide which nodes get tiles. Users are visited before their operands
 * (reverse topological order), so each node knows the spaces of the nests
 * it would be evaluated in if inlined (its "sites"). An elementwise node is
 * inlined when it would be evaluated once per element of a single nest, or
 * when its expression tree is cheap enough to recompute wherever needed. */
static void plan_fusion(Lower *L) {
  const Graph *g = L->g;
  int nn = g->nodes.len;
  enum { MAXS = 8 };
  bool *final = calloc((size_t)nn, 1);
  DimSet(*sites)[MAXS] = calloc((size_t)nn, sizeof *sites);
  int *nsites = calloc((size_t)nn, sizeof *nsites);
  int *uses = calloc((size_t)nn, sizeof *uses);
  int *weight = calloc((size_t)nn, sizeof *weight);
  if (!final || !sites || !nsites || !uses || !weight)
    ir_internal_error(__FILE__, __LINE__, "out of memory");
  for (int i = 0; i < g->states.len; i++)
    if (g->states.data[i].value >= 0) final[g->states.data[i].value] = true;
  for (int i = 0; i < g->outputs.len; i++) final[g->outputs.data[i].value] = true;
  /* Use counts and expression weights, forwards. */
  for (int id = 0; id < nn; id++) {
    const Node *n = &g->nodes.data[id];
    if (!L->live[id]) continue;
    for (int k = 0; k < ir_ops[n->op].nargs; k++) uses[n->args[k]]++;
  }
  /* Values of the params alone (row[]), and which of them a per-token
   * node reads (feeds_token[]). */
  bool *feeds_token = calloc((size_t)nn + 1, 1);
  if (!feeds_token) ir_internal_error(__FILE__, __LINE__, "out of memory");
  for (int id = 0; id < nn; id++) {
    const Node *n = &g->nodes.data[id];
    bool r = n->op == OP_PARAM || n->op == OP_CONST || n->op == OP_DIM;
    if (ir_ops[n->op].nargs) {
      r = n->op != OP_WRITE;
      for (int k = 0; k < ir_ops[n->op].nargs; k++) r = r && L->row[n->args[k]];
    }
    L->row[id] = r;
    if (!r && L->live[id])
      for (int k = 0; k < ir_ops[n->op].nargs; k++) feeds_token[n->args[k]] = true;
  }
  for (int id = 0; id < nn; id++) {
    const Node *n = &g->nodes.data[id];
    if (!is_elementwise(n)) continue;
    int w = op_weight(n->op);
    for (int k = 0; k < ir_ops[n->op].nargs; k++) {
      int a = n->args[k];
      /* A single-use operand of the same dims will be inlined here too. */
      const Node *an = &g->nodes.data[a];
      if (is_elementwise(an) && uses[a] == 1 && an->dims == n->dims) w += weight[a];
    }
    weight[id] = w > 1000 ? 1000 : w;
  }
  for (int id = nn - 1; id >= 0; id--) {
    const Node *n = &g->nodes.data[id];
    if (!L->live[id]) continue;
    bool m;
    if (n->op == OP_CONST || n->op == OP_DIM) m = final[id];
    else if (!is_elementwise(n) || final[id] || nsites[id] > MAXS) m = true;
    else {
      bool single = uses[id] == 1 && nsites[id] == 1 && sites[id][0] == n->dims;
      /* Recomputed along a site's innermost loop (it has that dim but not
       * all of the site's): a tile is cheaper than redoing it per element.
       * Without the innermost dim, the compiler hoists it out of that loop. */
      bool inner = false;
      for (int j = 0; j < nsites[id]; j++) {
        DimSet sp = sites[id][j];
        int hi = sp ? 31 - __builtin_clz(sp) : -1;
        if (sp != n->dims && hi >= 0 && (n->dims & (1u << hi))) inner = true;
      }
      m = !(single || (weight[id] <= 2 && !inner));
    }
    /* A costly value of the params alone over some dims (Mamba's
     * exp(A_log) [D, N]) that a per-token node uses: once per row. */
    if (L->row[id] && is_elementwise(n) && n->dims && weight[id] >= 4 && feeds_token[id]) m = true;
    L->mat[id] = m;
    /* Tell the operands where they would be evaluated. */
    const DimSet *from = m ? (DimSet[]){space_of(n)} : sites[id];
    int nfrom = m ? 1 : nsites[id];
    for (int k = 0; k < ir_ops[n->op].nargs; k++) {
      int a = n->args[k];
      if (nfrom > MAXS) {
        nsites[a] = MAXS + 1;
        continue;
      }
      for (int j = 0; j < nfrom; j++) {
        bool seen = false;
        for (int q = 0; q < nsites[a] && q < MAXS; q++) seen |= sites[a][q] == from[j];
        if (seen) continue;
        if (nsites[a] < MAXS) sites[a][nsites[a]] = from[j];
        nsites[a]++;
      }
    }
  }
  free(final);
  free(feeds_token);
  free(sites);
  free(nsites);
  free(uses);
  free(weight);
}

static void mark_live(Lower *L) {
  const Graph *g = L->g;
  for (int i = 0; i < g->states.len; i++)
    if (g->states.data[i].value >= 0) L->live[g->states.data[i].value] = true;
  for (int i = 0; i < g->outputs.len; i++) L->live[g->outputs.data[i].value] = true;
  for (int id = g->nodes.len - 1; id >= 0; id--) {
    if (!L->live[id]) continue;
    const Node *n = &g->nodes.data[id];
    for (int k = 0; k < ir_ops[n->op].nargs; k++) L->live[n->args[k]] = true;
  }
}

/* Element expression of node `id` as seen from a nest. */
static int expr_of(Lower *L, int id) {
  const Node *n = &L->g->nodes.data[id];
  Kernel *k = L->k;
  if (L->mat[id]) return kir_eread(k, L->tile[id]);
  switch (n->op) {
  case OP_CONST: return kir_econst(k, n->num);
  case OP_DIM: return kir_econst(k, (double)L->g->dims.data[n->index].size);
  default: break;
  }
  LRC_ASSERT(is_elementwise(n));
  if (n->op == OP_WRITE) return expr_of(L, n->args[0]);
  if (ir_ops[n->op].cls == K_UNARY) return kir_eunary(k, n->op, expr_of(L, n->args[0]));
  return kir_ebinary(k, n->op, expr_of(L, n->args[0]), expr_of(L, n->args[1]));
}

/* Does expression `e` read tile `t`? */
static bool expr_reads(const Kernel *k, int e, int t) {
  const KExpr *x = &k->exprs.data[e];
  switch (x->kind) {
  case KE_CONST:
  case KE_MASK:
  case KE_BELOW: return false;
  case KE_READ: return x->tile == t;
  case KE_UNARY: return expr_reads(k, x->a, t);
  case KE_BINARY: return expr_reads(k, x->a, t) || expr_reads(k, x->b, t);
  }
  return false;
}

/* Append `tile acc= expr` over `space`, merging into the previous nest
 * when it has the same space and the new expression reads none of its
 * partial reductions. Fill statements for accumulators go before the nest
 * they end up in. */
static void emit_assign(Lower *L, DimSet space, int tile, KAccum acc, int expr, double init) {
  Kernel *k = L->k;
  KStmt *nest = L->last_nest;
  if (nest && nest->space == space) {
    for (int j = 0; j < nest->assigns.len; j++) {
      const KAssign *a = &nest->assigns.data[j];
      if (a->acc != KACC_SET && expr_reads(k, expr, a->tile)) nest = NULL;
      if (nest && a->tile == tile) nest = NULL;
      if (!nest) break;
    }
  } else {
    nest = NULL;
  }
  if (acc != KACC_SET) {
    KStmt *f = kir_stmt(k, L->step, KS_FILL);
    f->tile = tile;
    f->num = init;
    if (nest) {
      /* Move the fill in front of the nest it merges into. */
      KBlock *b = L->step;
      memmove(&b->data[L->last_nest_pos + 1], &b->data[L->last_nest_pos],
              sizeof(KStmt *) * (size_t)(b->len - 1 - L->last_nest_pos));
      b->data[L->last_nest_pos] = f;
      L->last_nest_pos++;
    }
  }
  if (!nest) {
    nest = kir_stmt(k, L->step, KS_NEST);
    nest->space = space;
    L->last_nest = nest;
    L->last_nest_pos = L->step->len - 1;
  }
  kir_assign(k, nest, tile, acc, expr);
}

static const char *tile_name(Lower *L, int id) {
  const Graph *g = L->g;
  for (int i = 0; i < g->outputs.len; i++)
    if (g->outputs.data[i].value == id) return g->outputs.data[i].name;
  return arena_printf(L->arena, "t%d", id);
}

/* The statements computing materialised node id into its tile. */
static void emit_node(Lower *L, int id) {
  const Graph *g = L->g;
  Kernel *k = L->k;
  const Node *n = &g->nodes.data[id];
  switch (ir_ops[n->op].cls) {
  case K_LEAF:
    if (n->op == OP_CONST || n->op == OP_DIM)
      emit_assign(L, n->dims, L->tile[id], KACC_SET,
                  kir_econst(k, n->op == OP_CONST ? n->num
                                                  : (double)g->dims.data[n->index].size),
                  0);
    break;
  case K_UNARY:
  case K_BINARY: {
    int e = n->op == OP_WRITE ? expr_of(L, n->args[0])
            : ir_ops[n->op].cls == K_UNARY
                ? kir_eunary(k, n->op, expr_of(L, n->args[0]))
                : kir_ebinary(k, n->op, expr_of(L, n->args[0]), expr_of(L, n->args[1]));
    emit_assign(L, n->dims, L->tile[id], KACC_SET, e, 0);
    break;
  }
  case K_REDUCE:
    emit_assign(L, space_of(n), L->tile[id], n->op == OP_RMAX ? KACC_MAX : KACC_ADD,
                expr_of(L, n->args[0]), n->op == OP_RMAX ? -INFINITY : 0.0);
    break;
  case K_CONTRACT:
    emit_assign(L, space_of(n), L->tile[id], KACC_ADD,
                kir_ebinary(k, OP_MUL, expr_of(L, n->args[0]), expr_of(L, n->args[1])), 0);
    break;
  }
}

Kernel *pass_lower_recurrent(Arena *a, const Graph *g, const char *name, const char **err) {
  const char *unbound = ir_unbound_dim(g);
  if (unbound) {
    *err = unbound;
    return NULL;
  }
  int nn = g->nodes.len;
  Lower L = {.arena = a, .g = g};
  L.k = kir_new(a, g, name, "recurrent");
  Kernel *k = L.k;
  L.live = arena_alloc(a, (size_t)nn + 1);
  L.mat = arena_alloc(a, (size_t)nn + 1);
  L.row = arena_alloc(a, (size_t)nn + 1);
  L.tile = arena_alloc(a, sizeof(int) * (size_t)(nn + 1));
  L.state_tile = arena_alloc(a, sizeof(int) * (size_t)(g->states.len + 1));
  L.last_old_read = arena_alloc(a, sizeof(int) * (size_t)(g->states.len + 1));
  for (int i = 0; i < nn; i++) L.tile[i] = -1;
  mark_live(&L);
  plan_fusion(&L);

  /* Buffers, in the order of the entry point's arguments. */
  int *bin = arena_alloc(a, sizeof(int) * (size_t)(g->inputs.len + 1));
  int *bpar = arena_alloc(a, sizeof(int) * (size_t)(g->params.len + 1));
  int *bsin = arena_alloc(a, sizeof(int) * (size_t)(g->states.len + 1));
  int *bsout = arena_alloc(a, sizeof(int) * (size_t)(g->states.len + 1));
  int *bout = arena_alloc(a, sizeof(int) * (size_t)(g->outputs.len + 1));
  for (int i = 0; i < g->inputs.len; i++)
    bin[i] = kir_buf(k, g->inputs.data[i].name, KB_INPUT, KT_F32, i, false);
  for (int i = 0; i < g->params.len; i++)
    bpar[i] = kir_buf(k, g->params.data[i].name, KB_PARAM, KT_F32, i, false);
  for (int i = 0; i < g->outputs.len; i++)
    bout[i] = kir_buf(k, g->outputs.data[i].name, KB_OUTPUT, KT_F32, i, false);
  for (int i = 0; i < g->states.len; i++) {
    bsin[i] = kir_buf(k, arena_printf(a, "%s_in", g->states.data[i].name), KB_STATE_IN, KT_F32,
                      i, true);
    bsout[i] = kir_buf(k, arena_printf(a, "%s_out", g->states.data[i].name), KB_STATE_OUT,
                       KT_F32, i, true);
  }
  int bcu = kir_buf(k, "cu_seqlens", KB_SEQLENS, KT_I64, 0, true);

  /* Tiles: inputs, params, states, then materialised nodes. */
  for (int i = 0; i < g->states.len; i++) L.state_tile[i] = kir_tile(k, g->states.data[i].name,
                                                                      g->states.data[i].dimset);
  for (int id = 0; id < nn; id++) {
    const Node *n = &g->nodes.data[id];
    if (!L.live[id] || !L.mat[id]) continue;
    switch (n->op) {
    case OP_INPUT: L.tile[id] = kir_tile(k, g->inputs.data[n->index].name, n->dims); break;
    case OP_PARAM: L.tile[id] = kir_tile(k, g->params.data[n->index].name, n->dims); break;
    case OP_STATE: L.tile[id] = L.state_tile[n->index]; break;
    default: L.tile[id] = -2; break;   /* decided below */
    }
  }

  /* Where is the old value of each state last read? A read happens at the
   * position of the materialised node whose nest evaluates it (inlined
   * readers count at their materialised consumers). Outputs that are the
   * old state itself read it at the very end. */
  for (int i = 0; i < g->states.len; i++) L.last_old_read[i] = -1;
  {
    /* reads[id]: set of states whose old value node `id` depends on
     * through inlined nodes only (bit per state, first 64 states). */
    uint64_t *reads = arena_alloc(a, sizeof(uint64_t) * (size_t)(nn + 1));
    for (int id = 0; id < nn; id++) {
      const Node *n = &g->nodes.data[id];
      if (!L.live[id]) continue;
      if (n->op == OP_STATE) {
        reads[id] = n->index < 64 ? 1ull << n->index : 0;
        if (n->index >= 64) L.last_old_read[n->index] = nn;   /* no in-place beyond 64 */
        continue;
      }
      uint64_t r = 0;
      for (int q = 0; q < ir_ops[n->op].nargs; q++) {
        int arg = n->args[q];
        const Node *an = &g->nodes.data[arg];
        if (!L.mat[arg] || an->op == OP_STATE) r |= reads[arg];
      }
      if (L.mat[id]) {
        for (int i = 0; i < g->states.len && i < 64; i++)
          if (r & (1ull << i)) L.last_old_read[i] = id;
        reads[id] = 0;
      } else {
        reads[id] = r;
      }
    }
    for (int i = 0; i < g->outputs.len; i++) {
      const Node *n = &g->nodes.data[g->outputs.data[i].value];
      if (n->op == OP_STATE) L.last_old_read[n->index] = nn;
    }
  }
  /* A state's new value goes straight into its tile when it is computed by
   * a plain (elementwise) nest at or after every read of the old value. */
  for (int id = 0; id < nn; id++) {
    if (L.tile[id] != -2) continue;
    const Node *n = &g->nodes.data[id];
    L.tile[id] = -1;
    if (is_elementwise(n) || n->op == OP_CONST || n->op == OP_DIM) {
      for (int i = 0; i < g->states.len; i++) {
        const Slot *s = &g->states.data[i];
        if (s->value == id && L.last_old_read[i] <= id && L.tile[id] < 0) {
          bool taken = false;   /* two states written with the same node */
          for (int j = 0; j < i; j++) taken |= g->states.data[j].value == id;
          if (!taken) L.tile[id] = L.state_tile[i];
        }
      }
    }
    if (L.tile[id] < 0) L.tile[id] = kir_tile(k, tile_name(&L, id), n->dims);
  }

  /* The kernel body. */
  int v_bh = kir_var(k, "bh"), v_n = kir_var(k, "n"), v_h = kir_var(k, "h");
  int v_t = kir_var(k, "t"), v_row = kir_var(k, "row");
  int iH = kir_iarg(k, KA_H);
  KStmt *par = kir_stmt(k, &k->body, KS_FOR);
  par->var = v_bh;
  par->parallel = true;
  par->lo = kir_ic(k, 0);
  par->hi = kir_ibin(k, KI_MUL, kir_iarg(k, KA_NSEQ), iH);
  KBlock *outer = &par->body;
  KStmt *s = kir_stmt(k, outer, KS_LET);
  s->var = v_n;
  s->idx = kir_ibin(k, KI_DIV, kir_ivar(k, v_bh), iH);
  s = kir_stmt(k, outer, KS_LET);
  s->var = v_h;
  s->idx = kir_ibin(k, KI_MOD, kir_ivar(k, v_bh), iH);

  int ih = kir_ivar(k, v_h), in = kir_ivar(k, v_n);
  int nh = kir_ibin(k, KI_ADD, kir_ibin(k, KI_MUL, in, iH), ih);
  for (int id = 0; id < nn; id++) {
    const Node *n = &g->nodes.data[id];
    if (!L.live[id] || n->op != OP_PARAM) continue;
    s = kir_stmt(k, outer, KS_LOAD);
    s->tile = L.tile[id];
    s->buf = bpar[n->index];
    s->idx = kir_ibin(k, KI_MUL, ih, kir_ic(k, ir_slot_count(g, &g->params.data[n->index])));
  }
  for (int i = 0; i < g->states.len; i++) {
    s = kir_stmt(k, outer, KS_IF_NULL);
    s->buf = bsin[i];
    KStmt *f = kir_stmt(k, &s->body, KS_FILL);
    f->tile = L.state_tile[i];
    f->num = 0;
    KStmt *ld = kir_stmt(k, &s->orelse, KS_LOAD);
    ld->tile = L.state_tile[i];
    ld->buf = bsin[i];
    ld->idx = kir_ibin(k, KI_MUL, nh, kir_ic(k, ir_slot_count(g, &g->states.data[i])));
  }
  /* Values of the params alone, once per row (their operands materialised
   * there too: every materialised param-only node goes here). */
  L.step = outer;
  for (int id = 0; id < nn; id++)
    if (L.live[id] && L.mat[id] && L.row[id]) emit_node(&L, id);
  L.last_nest = NULL;
  KStmt *loop = kir_stmt(k, outer, KS_FOR);
  loop->var = v_t;
  loop->lo = kir_iseqlen(k, bcu, in);
  loop->hi = kir_iseqlen(k, bcu, kir_ibin(k, KI_ADD, in, kir_ic(k, 1)));
  L.step = &loop->body;
  s = kir_stmt(k, L.step, KS_LET);
  s->var = v_row;
  s->idx = kir_ibin(k, KI_ADD, kir_ibin(k, KI_MUL, kir_ivar(k, v_t), iH), ih);
  int irow = kir_ivar(k, v_row);
  for (int id = 0; id < nn; id++) {
    const Node *n = &g->nodes.data[id];
    if (!L.live[id] || n->op != OP_INPUT) continue;
    s = kir_stmt(k, L.step, KS_LOAD);
    s->tile = L.tile[id];
    s->buf = bin[n->index];
    s->idx = kir_ibin(k, KI_MUL, irow, kir_ic(k, ir_slot_count(g, &g->inputs.data[n->index])));
  }
  for (int id = 0; id < nn; id++)
    if (L.live[id] && L.mat[id] && !L.row[id]) emit_node(&L, id);
  for (int i = 0; i < g->outputs.len; i++) {
    s = kir_stmt(k, L.step, KS_STORE);
    s->buf = bout[i];
    s->tile = L.tile[g->outputs.data[i].value];
    s->idx = kir_ibin(k, KI_MUL, irow, kir_ic(k, ir_slot_count(g, &g->outputs.data[i])));
  }
  /* Commit the states not written in place. A new value that is another
   * state's old value is copied aside first, so the copies cannot clobber
   * one another. */
  int *src = arena_alloc(a, sizeof(int) * (size_t)(g->states.len + 1));
  for (int i = 0; i < g->states.len; i++) {
    int v = g->states.data[i].value;
    src[i] = v < 0 ? -1 : L.tile[v];
    if (src[i] == L.state_tile[i]) src[i] = -1;
    if (src[i] >= 0 && g->nodes.data[v].op == OP_STATE) {
      int tmp = kir_tile(k, arena_printf(a, "%s_next", g->states.data[i].name),
                         g->states.data[i].dimset);
      s = kir_stmt(k, L.step, KS_COPY);
      s->tile = tmp;
      s->tile2 = src[i];
      src[i] = tmp;
    }
  }
  for (int i = 0; i < g->states.len; i++) {
    if (src[i] < 0) continue;
    s = kir_stmt(k, L.step, KS_COPY);
    s->tile = L.state_tile[i];
    s->tile2 = src[i];
  }
  for (int i = 0; i < g->states.len; i++) {
    s = kir_stmt(k, outer, KS_IF_NULL);
    s->buf = bsout[i];
    KStmt *st = kir_stmt(k, &s->orelse, KS_STORE);
    st->buf = bsout[i];
    st->tile = L.state_tile[i];
    st->idx = kir_ibin(k, KI_MUL, nh, kir_ic(k, ir_slot_count(g, &g->states.data[i])));
  }
  const char *bad = kir_verify(k);
  if (bad) ir_internal_error(__FILE__, __LINE__, "recurrent kernel of '%s': %s", g->name, bad);
  return k;
}
