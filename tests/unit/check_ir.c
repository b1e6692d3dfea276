/* check_ir.c — step-graph construction, shapes and the verifier; the
 * kernel IR's verifier. */
#include "../test.h"

#include <string.h>

static Arena arena;
static void setup(void) { arena_init(&arena); }
static void teardown(void) { arena_fini(&arena); }

/* A graph with dims K, V and one input q[K], one state S[K, V]. */
static Graph *base(void) {
  Graph *g = ir_graph_new(&arena, "t", (Span){0});
  ir_add_dim(g, "K", 4, (Span){0});
  ir_add_dim(g, "V", 3, (Span){0});
  Slot q = {.kind = SLOT_INPUT, .name = "q", .ndims = 1, .dims = {0}, .dimset = 1, .value = -1};
  Slot s = {.kind = SLOT_STATE, .name = "S", .ndims = 2, .dims = {0, 1}, .dimset = 3, .value = -1};
  Slot o = {.kind = SLOT_OUTPUT, .name = "o", .ndims = 1, .dims = {1}, .dimset = 2, .value = -1};
  VEC_PUSH(&arena, g->inputs, q);
  VEC_PUSH(&arena, g->states, s);
  VEC_PUSH(&arena, g->outputs, o);
  return g;
}

START_TEST(constructors_and_shapes) {
  Graph *g = base();
  int q = ir_leaf(g, OP_INPUT, 0, 1, (Span){0});
  int S = ir_leaf(g, OP_STATE, 0, 3, (Span){0});
  int c = ir_const(g, 2.0, (Span){0});
  int e = ir_unary(g, OP_EXP, q, (Span){0});
  int m = ir_binary(g, OP_MUL, c, S, (Span){0});
  int r = ir_reduce(g, OP_SUM, m, 1, (Span){0});
  int d = ir_dot(g, q, S, (Span){0});
  ck_assert_uint_eq(g->nodes.data[e].dims, 1);
  ck_assert_uint_eq(g->nodes.data[m].dims, 3);
  ck_assert_uint_eq(g->nodes.data[r].dims, 2);
  ck_assert_uint_eq(g->nodes.data[d].dims, 2);
  ck_assert_uint_eq(g->nodes.data[d].rdims, 1);
  int w = ir_write(g, 0, m, (Span){0});
  g->states.data[0].value = w;
  g->outputs.data[0].value = d;
  ck_assert_ptr_null(ir_verify(g));
  ck_assert_str_eq(ir_dims_str(g, 3), "[K, V]");
  ck_assert_str_eq(ir_dims_str(g, 2), "[V]");
  ck_assert_str_eq(ir_dims_str(g, 0), "[]");
  ck_assert_int_eq(ir_dims_count(g, 3), 12);
  ck_assert_ptr_null(ir_unbound_dim(g));
}
END_TEST

START_TEST(verifier_rejects) {
  Graph *g = base();
  int q = ir_leaf(g, OP_INPUT, 0, 1, (Span){0});
  int S = ir_leaf(g, OP_STATE, 0, 3, (Span){0});
  int d = ir_dot(g, q, S, (Span){0});
  g->outputs.data[0].value = d;
  ck_assert_ptr_null(ir_verify(g));
  /* An operand after its user. */
  g->nodes.data[d].args[0] = d;
  ck_assert_ptr_nonnull(strstr(ir_verify(g), "operand not defined before use"));
  g->nodes.data[d].args[0] = q;
  /* A wrong shape. */
  g->nodes.data[d].dims = 3;
  ck_assert_ptr_nonnull(strstr(ir_verify(g), "bad contraction shape"));
  g->nodes.data[d].dims = 2;
  /* A bad slot. */
  g->nodes.data[q].index = 5;
  ck_assert_ptr_nonnull(strstr(ir_verify(g), "bad input slot"));
  g->nodes.data[q].index = 0;
  /* A state written with the wrong dims. */
  g->states.data[0].value = d;
  ck_assert_ptr_nonnull(strstr(ir_verify(g), "state S: written with the wrong shape"));
  g->states.data[0].value = -1;
  /* An output never written. */
  g->outputs.data[0].value = -1;
  ck_assert_ptr_nonnull(strstr(ir_verify(g), "output o: not written"));
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
  tcase_add_test(tc, verifier_rejects);
  tcase_add_test(tc, kernel_verifier);
  suite_add_tcase(s, tc);
  return s;
}
