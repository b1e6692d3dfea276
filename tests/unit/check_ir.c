/* check_ir.c — step-graph construction, shapes and the verifier; the
 * kernel IR's verifier. */
#include "../test.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static Arena arena;
static void setup(void) { arena_init(&arena); }
static void teardown(void) { arena_fini(&arena); }

static const Span nospan = {0};

/* A graph with dims K, V and one input q[K], one state S[K, V], one output
 * o[V]. */
static Graph *base(void) {
  Graph *g = ir_graph_new(&arena, "t", nospan);
  ck_assert_int_eq(ir_add_dim(g, "K", 4, nospan), 0);
  ck_assert_int_eq(ir_add_dim(g, "V", 3, nospan), 1);
  Slot q = {.kind = SLOT_INPUT, .name = "q", .ndims = 1, .dims = {0}, .dimset = 1, .value = -1};
  Slot w = {.kind = SLOT_PARAM, .name = "w", .ndims = 0, .value = -1};
  Slot s = {.kind = SLOT_STATE, .name = "S", .ndims = 2, .dims = {0, 1}, .dimset = 3, .value = -1};
  Slot o = {.kind = SLOT_OUTPUT, .name = "o", .ndims = 1, .dims = {1}, .dimset = 2, .value = -1};
  VEC_PUSH(&arena, g->inputs, q);
  VEC_PUSH(&arena, g->params, w);
  VEC_PUSH(&arena, g->states, s);
  VEC_PUSH(&arena, g->outputs, o);
  return g;
}

/* A well-formed graph on base(): S' = 2 * S + outer(exp(q), o'), o = q @ S'. */
typedef struct Ids {
  int q, w, S, c, e, m, r, d, wr, out;
} Ids;

static Graph *good(Ids *x) {
  Graph *g = base();
  x->q = ir_leaf(g, OP_INPUT, 0, 1, nospan);
  x->w = ir_leaf(g, OP_PARAM, 0, 0, nospan);
  x->S = ir_leaf(g, OP_STATE, 0, 3, nospan);
  x->c = ir_const(g, 2.0, nospan);
  x->e = ir_unary(g, OP_EXP, x->q, nospan);
  x->m = ir_binary(g, OP_MUL, x->c, x->S, nospan);
  x->r = ir_reduce(g, OP_SUM, x->m, 1, nospan);
  x->d = ir_dot(g, x->e, x->m, nospan);
  x->wr = ir_write(g, 0, x->m, nospan);
  x->out = ir_dot(g, x->q, x->wr, nospan);
  g->states.data[0].value = x->wr;
  g->outputs.data[0].value = x->out;
  return g;
}

START_TEST(constructors_and_shapes) {
  Ids x;
  Graph *g = good(&x);
  const Node *n = ir_node(g, x.q);
  ck_assert_int_eq(n->op, OP_INPUT);
  ck_assert_int_eq(n->index, 0);
  ck_assert_uint_eq(n->dims, 1);
  ck_assert_int_eq(n->args[0], -1);
  ck_assert_int_eq(n->dtype, DT_F32);
  n = ir_node(g, x.c);
  ck_assert_int_eq(n->op, OP_CONST);
  ck_assert(n->num == 2.0);
  ck_assert_uint_eq(n->dims, 0);
  /* Unary: the operand's shape. */
  n = ir_node(g, x.e);
  ck_assert_uint_eq(n->dims, 1);
  ck_assert_int_eq(n->args[0], x.q);
  /* Binary: the union of the operands' dims. */
  n = ir_node(g, x.m);
  ck_assert_uint_eq(n->dims, 3);
  ck_assert_int_eq(n->args[0], x.c);
  ck_assert_int_eq(n->args[1], x.S);
  ck_assert_uint_eq(ir_node(g, ir_binary(g, OP_ADD, x.q, x.e, nospan))->dims, 1);
  ck_assert_uint_eq(ir_node(g, ir_binary(g, OP_SUB, x.w, x.c, nospan))->dims, 0);
  /* Reduce: the operand's dims less the reduced ones. */
  n = ir_node(g, x.r);
  ck_assert_uint_eq(n->dims, 2);
  ck_assert_uint_eq(n->rdims, 1);
  ck_assert_uint_eq(ir_node(g, ir_reduce(g, OP_RMAX, x.m, 3, nospan))->dims, 0);
  /* Dot: every shared dim contracted. */
  n = ir_node(g, x.d);
  ck_assert_uint_eq(n->dims, 2);
  ck_assert_uint_eq(n->rdims, 1);
  n = ir_node(g, ir_dot(g, x.m, x.S, nospan));
  ck_assert_uint_eq(n->dims, 0);
  ck_assert_uint_eq(n->rdims, 3);
  /* Write: the value's shape, the slot in index. */
  n = ir_node(g, x.wr);
  ck_assert_int_eq(n->op, OP_WRITE);
  ck_assert_int_eq(n->index, 0);
  ck_assert_uint_eq(n->dims, 3);
  /* Dims and counts. */
  ck_assert_ptr_null(ir_verify(g));
  ck_assert_str_eq(ir_dims_str(g, 3), "[K, V]");
  ck_assert_str_eq(ir_dims_str(g, 2), "[V]");
  ck_assert_str_eq(ir_dims_str(g, 0), "[]");
  ck_assert_int_eq(ir_dims_count(g, 3), 12);
  ck_assert_int_eq(ir_dims_count(g, 0), 1);
  ck_assert_int_eq(ir_slot_count(g, &g->states.data[0]), 12);
  ck_assert_int_eq(ir_popcount(0x80000001u), 2);
  ck_assert_int_eq(ir_find_dim(g, "V"), 1);
  ck_assert_int_eq(ir_find_dim(g, "E"), -1);
  ck_assert_ptr_null(ir_unbound_dim(g));
  ir_add_dim(g, "E", 0, nospan);
  ck_assert_str_eq(ir_unbound_dim(g), "dim 'E' of rnn 't' has no size; pass --dim E=N");
  ck_assert_str_eq(ir_slot_kind_name(SLOT_PARAM), "param");
}
END_TEST

START_TEST(dims_in_declaration_order) {
  /* Shapes print in the rnn's declaration order, whatever the order of a
   * tensor's own declaration or of the operands. */
  Graph *g = ir_graph_new(&arena, "t", nospan);
  ir_add_dim(g, "V", 0, nospan);
  ir_add_dim(g, "K", 0, nospan);
  ir_add_dim(g, "A", 0, nospan);
  ck_assert_str_eq(ir_dims_str(g, 7), "[V, K, A]");
  ck_assert_str_eq(ir_dims_str(g, 6), "[K, A]");
  ck_assert_str_eq(ir_dims_str(g, 5), "[V, A]");
  /* Through sema: `dim V, K`, a tensor declared [K, V] prints as [V, K]. */
  char *d = NULL;
  g = t_graph(&arena, "rnn a {\n dim V, K\n input x[K, V], k[K], v[V]\n output o[K, V]\n"
                      " o = x + outer(k, v)\n}\n", &d);
  ck_assert_msg(g != NULL, "%s", d);
  free(d);
  ck_assert_str_eq(ir_dims_str(g, g->nodes.data[g->outputs.data[0].value].dims), "[V, K]");
  /* ...while the slot keeps its own order for the memory layout. */
  ck_assert_int_eq(g->inputs.data[0].dims[0], 1);
  ck_assert_int_eq(g->inputs.data[0].dims[1], 0);
  /* 32 dims: the last bit. */
  g = ir_graph_new(&arena, "t", nospan);
  for (int i = 0; i < 32; i++) ir_add_dim(g, arena_printf(&arena, "D%d", i), 1, nospan);
  ck_assert_str_eq(ir_dims_str(g, 0x80000001u), "[D0, D31]");
  ck_assert_ptr_null(ir_verify(g));
}
END_TEST

START_TEST(verifier_accepts) {
  Ids x;
  ck_assert_ptr_null(ir_verify(good(&x)));
  /* An empty graph with no outputs. */
  ck_assert_ptr_null(ir_verify(ir_graph_new(&arena, "e", nospan)));
  /* A state never written (value -1) is fine. */
  Graph *g = good(&x);
  g->states.data[0].value = -1;
  ck_assert_ptr_null(ir_verify(g));
  /* Every example's step graph. */
  static const char *ex[] = {"gla",   "gated_deltanet", "deltaproduct", "mamba2", "retnet",
                             "mlstm", "kda",            "hgrn2",        "rwkv6"};
  for (size_t i = 0; i < sizeof ex / sizeof ex[0]; i++) {
    char path[128];
    snprintf(path, sizeof path, "examples/%s.lr", ex[i]);
    char *src = t_read(path, NULL);
    ck_assert_msg(src != NULL, "cannot read %s", path);
    char *d = NULL;
    Graph *eg = t_graph(&arena, src, &d);
    ck_assert_msg(eg != NULL, "%s: %s", path, d);
    ck_assert_msg(ir_verify(eg) == NULL, "%s: %s", path, ir_verify(eg));
    free(d);
    free(src);
  }
}
END_TEST

/* ir_verify(g) names the problem `want`. */
#define REJECTS(g, want)                                                           \
  do {                                                                             \
    const char *why_ = ir_verify(g);                                               \
    ck_assert_msg(why_ && strstr(why_, want), "want '%s', got '%s'", want,         \
                  why_ ? why_ : "(accepted)");                                     \
  } while (0)

START_TEST(verifier_rejects_operands) {
  Ids x;
  Graph *g = good(&x);
  Node *d = &g->nodes.data[x.d];
  /* An operand after its user, the user itself, or no node at all. */
  d->args[1] = x.out;
  REJECTS(g, "operand not defined before use");
  d->args[1] = x.d;
  REJECTS(g, "operand not defined before use");
  d->args[1] = -1;
  REJECTS(g, "operand not defined before use");
  d->args[1] = x.m;
  ck_assert_ptr_null(ir_verify(g));
  /* The message names the node. */
  g->nodes.data[x.e].args[0] = x.e;
  ck_assert_str_eq(ir_verify(g), arena_printf(&arena, "%%%d (exp): operand not defined before use", x.e));
  g->nodes.data[x.e].args[0] = x.q;
  /* A bad op. */
  g->nodes.data[x.c].op = OP_COUNT;
  REJECTS(g, "bad op");
  g->nodes.data[x.c].op = OP_CONST;
  ck_assert_ptr_null(ir_verify(g));
}
END_TEST

START_TEST(verifier_rejects_shapes) {
  Ids x;
  Graph *g = good(&x);
  Node *nodes = g->nodes.data;
  nodes[x.d].dims = 3;
  REJECTS(g, "bad contraction shape");
  nodes[x.d].dims = 2;
  nodes[x.d].rdims = 3;
  REJECTS(g, "bad contraction shape");
  nodes[x.d].rdims = 1;
  nodes[x.e].dims = 3;
  REJECTS(g, "unary result shape differs from operand");
  nodes[x.e].dims = 1;
  nodes[x.m].dims = 1;
  REJECTS(g, "binary result shape is not the union");
  nodes[x.m].dims = 3;
  nodes[x.r].rdims = 0;
  REJECTS(g, "bad reduction shape");
  nodes[x.r].rdims = 1;
  nodes[x.r].dims = 3;
  REJECTS(g, "bad reduction shape");
  nodes[x.r].dims = 2;
  nodes[x.c].dims = 1;
  REJECTS(g, "constant with dims");
  nodes[x.c].dims = 0;
  nodes[x.c].dims = 4;   /* a dim the rnn does not have */
  REJECTS(g, "shape names an undeclared dim");
  nodes[x.c].dims = 0;
  /* A leaf whose shape is not its slot's. */
  nodes[x.q].dims = 3;
  REJECTS(g, "bad input slot or shape");
  nodes[x.q].dims = 1;
  ck_assert_ptr_null(ir_verify(g));
}
END_TEST

START_TEST(verifier_rejects_slots) {
  Ids x;
  Graph *g = good(&x);
  Node *nodes = g->nodes.data;
  nodes[x.q].index = 5;
  REJECTS(g, "bad input slot");
  nodes[x.q].index = -1;
  REJECTS(g, "bad input slot");
  nodes[x.q].index = 0;
  nodes[x.w].index = 1;
  REJECTS(g, "bad param slot");
  nodes[x.w].index = 0;
  nodes[x.S].index = 1;
  REJECTS(g, "bad state slot");
  nodes[x.S].index = 0;
  nodes[x.wr].index = 2;
  REJECTS(g, "write of a bad state slot or shape");
  nodes[x.wr].index = 0;
  int dim = ir_leaf(g, OP_DIM, 7, 0, nospan);
  REJECTS(g, "bad dim");
  g->nodes.data[dim].index = 1;
  ck_assert_ptr_null(ir_verify(g));
  /* A state written with the wrong dims, through its value or its write. */
  g->states.data[0].value = x.d;
  REJECTS(g, "state S: written with the wrong shape");
  g->states.data[0].value = g->nodes.len;
  REJECTS(g, "state S: bad value");
  g->states.data[0].value = x.wr;
  int wbad = ir_write(g, 0, x.e, nospan);   /* [K] written to S[K, V] */
  REJECTS(g, arena_printf(&arena, "%%%d (write): write of a bad state slot or shape", wbad));
  g->nodes.len--;
  /* Outputs: not written, or written with the wrong shape. */
  g->outputs.data[0].value = -1;
  REJECTS(g, "output o: not written");
  g->outputs.data[0].value = x.r + 100;
  REJECTS(g, "output o: not written");
  g->outputs.data[0].value = x.e;
  REJECTS(g, "output o: written with the wrong shape");
  g->outputs.data[0].value = x.out;
  ck_assert_ptr_null(ir_verify(g));
  /* A slot naming a dim the rnn does not have, twice, or out of step with
   * its dim set: the printers would index the dim table with it. */
  g->inputs.data[0].dims[0] = 9;
  REJECTS(g, "input q: bad dims");
  g->inputs.data[0].dims[0] = 0;
  g->states.data[0].dims[1] = 0;
  REJECTS(g, "state S: bad dims");
  g->states.data[0].dims[1] = 1;
  g->outputs.data[0].dimset = 3;
  REJECTS(g, "output o: dims and dim set differ");
  g->outputs.data[0].dimset = 2;
  g->params.data[0].ndims = -1;
  REJECTS(g, "param w: bad dim count");
  g->params.data[0].ndims = 0;
  ck_assert_ptr_null(ir_verify(g));
}
END_TEST

/* Runs `f` under a guard; the internal error's message, or NULL. */
static const char *internal(void (*f)(Graph *), Graph *g) {
  static Guard gd;
  ir_guard_push(&gd);
  if (setjmp(gd.jb)) return gd.msg;   /* the guard is popped by the error */
  f(g);
  ir_guard_pop(&gd);
  return NULL;
}

static void dot_no_shared(Graph *g) { ir_dot(g, 0, 1, nospan); }   /* q[K] @ w[] */
static void reduce_missing(Graph *g) { ir_reduce(g, OP_SUM, 0, 2, nospan); }   /* q[K] over V */
static void operand_missing(Graph *g) { ir_unary(g, OP_EXP, 99, nospan); }
static void write_bad_slot(Graph *g) { ir_write(g, 3, 0, nospan); }
static void binary_not_binary(Graph *g) { ir_binary(g, OP_EXP, 0, 0, nospan); }

START_TEST(constructors_reject_bugs) {
  /* Shape rules are sema's to report; a constructor that sees a broken
   * one reports a bug (an internal error), never a bad graph. */
  Graph *g = base();
  ir_leaf(g, OP_INPUT, 0, 1, nospan);
  ir_leaf(g, OP_PARAM, 0, 0, nospan);
  void (*fs[])(Graph *) = {dot_no_shared, reduce_missing, operand_missing, write_bad_slot,
                           binary_not_binary};
  for (size_t i = 0; i < sizeof fs / sizeof fs[0]; i++) {
    const char *m = internal(fs[i], g);
    ck_assert_msg(m && strstr(m, "internal error at ir/graph.c:") &&
                      strstr(m, "(please report this as a bug)"),
                  "case %zu: %s", i, m ? m : "(no error)");
  }
  ck_assert_int_eq(g->nodes.len, 2);
}
END_TEST

START_TEST(copy_and_clone) {
  Ids x;
  Graph *g = good(&x);
  Graph *c = ir_graph_copy_slots(&arena, g);
  ck_assert_str_eq(c->name, "t");
  ck_assert_int_eq(c->dims.len, 2);
  ck_assert_int_eq(c->nodes.len, 0);
  ck_assert_int_eq(c->inputs.len, 1);
  ck_assert_int_eq(c->states.data[0].value, -1);
  ck_assert_int_eq(c->outputs.data[0].value, -1);
  ck_assert_int_eq(g->states.data[0].value, x.wr);   /* the original is untouched */
  /* Clone every node in order: the same graph again. */
  int *map = arena_alloc(&arena, sizeof(int) * (size_t)g->nodes.len);
  for (int i = 0; i < g->nodes.len; i++) {
    const Node *n = ir_node(g, i);
    int args[2] = {n->args[0] >= 0 ? map[n->args[0]] : -1, n->args[1] >= 0 ? map[n->args[1]] : -1};
    map[i] = ir_clone(c, n, args);
    const Node *m = ir_node(c, map[i]);
    ck_assert_int_eq(m->op, n->op);
    ck_assert_uint_eq(m->dims, n->dims);
    ck_assert_uint_eq(m->rdims, n->rdims);
  }
  ir_finish_rewrite(c, g, map, "test");
  ck_assert_int_eq(c->states.data[0].value, map[x.wr]);
  ck_assert_int_eq(c->outputs.data[0].value, map[x.out]);
  ck_assert_ptr_null(ir_verify(c));
  Buf a = {0}, b = {0};
  ir_print(g, &a);
  ir_print(c, &b);
  ck_assert_str_eq(a.s, b.s);
  buf_free(&a);
  buf_free(&b);
}
END_TEST

START_TEST(kernel_verifier) {
  Graph *g = base();
  Kernel *k = kir_new(&arena, g, "t", "recurrent");
  int t = kir_tile(k, "x", 3);
  int small = kir_tile(k, "y", 1);
  KStmt *s = kir_stmt(k, &k->body, KS_NEST);
  s->space = 3;
  kir_assign(k, s, t, KACC_SET, kir_econst(k, 1));
  ck_assert_ptr_null(kir_verify(k));
  /* A plain assignment to a tile smaller than the nest. */
  kir_assign(k, s, small, KACC_SET, kir_eread(k, t));
  ck_assert_ptr_nonnull(strstr(kir_verify(k), "plain assignment to a tile smaller"));
  s->assigns.data[1].acc = KACC_ADD;
  ck_assert_ptr_null(kir_verify(k));
  /* A variable used outside its loop. */
  int v = kir_var(k, "i");
  KStmt *let = kir_stmt(k, &k->body, KS_LET);
  let->var = kir_var(k, "j");
  let->idx = kir_ivar(k, v);
  ck_assert_ptr_nonnull(strstr(kir_verify(k), "outside its scope"));
}
END_TEST

Suite *ir_suite(void) {
  Suite *s = suite_create("ir");
  TCase *tc = tcase_create("core");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, constructors_and_shapes);
  tcase_add_test(tc, dims_in_declaration_order);
  tcase_add_test(tc, verifier_accepts);
  tcase_add_test(tc, verifier_rejects_operands);
  tcase_add_test(tc, verifier_rejects_shapes);
  tcase_add_test(tc, verifier_rejects_slots);
  tcase_add_test(tc, constructors_reject_bugs);
  tcase_add_test(tc, copy_and_clone);
  tcase_add_test(tc, kernel_verifier);
  suite_add_tcase(s, tc);
  return s;
}
