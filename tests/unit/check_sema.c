/* check_sema.c — semantic analysis: shapes by named dims, sequential
 * semantics, fn inlining, every error with its message and location, and
 * warnings that do not fail a compile. */
#include "../test.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static Arena arena;
static void setup(void) { arena_init(&arena); }
static void teardown(void) { arena_fini(&arena); }

static Graph *ok(const char *src) {
  char *d = NULL;
  Graph *g = t_graph(&arena, src, &d);
  ck_assert_msg(g != NULL, "did not compile:\n%s", d);
  free(d);
  return g;
}

/* Compile and expect `want` (a substring: "LINE:COL: error: MSG") in the
 * diagnostics. */
static void fails(const char *src, const char *want) {
  bool okk;
  char *d = t_compile(src, strlen(src), &okk);
  ck_assert_msg(!okk, "compiled, want failure with %s", want);
  ck_assert_msg(strstr(d, want), "want '%s' in:\n%s", want, d);
  free(d);
}

static DimSet out_dims(const Graph *g, int i) { return g->nodes.data[g->outputs.data[i].value].dims; }

START_TEST(shapes) {
  Graph *g = ok("rnn s {\n dim K, V, E\n input a[K], b[V], M[K, V], N[V, E]\n"
                " output o1[K, V], o2[V], o3, o4[K, E], o5[K], o6, o7[V]\n"
                " o1 = a * b\n o2 = a @ M\n o3 = M @ M\n o4 = M @ N\n o5 = sum(M, V)\n"
                " o6 = sum(M)\n o7 = mean(M, K) * K\n}\n");
  DimSet K = 1, V = 2, E = 4;
  ck_assert_uint_eq(out_dims(g, 0), K | V);
  ck_assert_uint_eq(out_dims(g, 1), V);
  ck_assert_uint_eq(out_dims(g, 2), 0);
  ck_assert_uint_eq(out_dims(g, 3), K | E);
  ck_assert_uint_eq(out_dims(g, 4), K);
  ck_assert_uint_eq(out_dims(g, 5), 0);
  ck_assert_uint_eq(out_dims(g, 6), V);
  /* Declaration order of a state does not matter: dims are names. */
  ok("rnn t {\n dim K, V\n input k[K], v[V]\n state S[V, K]\n output o[V]\n"
     " S = S + outer(k, v)\n o = k @ S\n}\n");
}
END_TEST

START_TEST(sequential_semantics) {
  /* The second update reads the first; the output reads the new state. */
  Graph *g = ok("rnn q {\n dim D\n input x[D]\n state s[D]\n output y[D], z[D]\n"
                " y = s\n s = 2 * s\n s = s + x\n z = s\n}\n");
  int sv = g->states.data[0].value;
  ck_assert_int_eq(g->nodes.data[sv].op, OP_WRITE);
  const Node *add = &g->nodes.data[g->nodes.data[sv].args[0]];
  ck_assert_int_eq(add->op, OP_ADD);
  ck_assert_int_eq(g->nodes.data[add->args[0]].op, OP_WRITE);   /* the first update */
  ck_assert_int_eq(g->nodes.data[g->outputs.data[0].value].op, OP_STATE);
  ck_assert_int_eq(g->outputs.data[1].value, sv);
  /* Rebinding an input: later uses see the new value. */
  g = ok("rnn r {\n dim K\n input k[K]\n output o[K]\n k = l2norm(k)\n o = k\n}\n");
  ck_assert_int_eq(g->nodes.data[g->outputs.data[0].value].op, OP_MUL);
}
END_TEST

START_TEST(fn_inlining) {
  ok("fn phi(x) = elu(x) + 1\nrnn f {\n dim K\n input q[K]\n output o[K]\n"
     " fn twice(y) = phi(phi(y))\n o = twice(q) + later(q)\n fn later(z) = z * K\n}\n");
  fails("fn f(x) = x\nrnn a {\n input q\n output o\n o = f(q, q)\n}\n",
        "5:6: error: fn 'f' takes 1 argument, but 2 were given");
  fails("fn f(x) = g(x)\nfn g(x) = f(x)\nrnn a {\n input q\n output o\n o = f(q)\n}\n",
        "error: fn 'f' calls itself; recursion is not allowed");
  fails("rnn a {\n input q, w\n output o\n fn f(x) = x * w\n o = f(q)\n}\n",
        "4:16: error: 'w' is not visible inside fn 'f'");
  /* A fn may read the rnn's params (a learned feature map). */
  ok("rnn p {\n dim K\n input q[K]\n param w[K]\n output o[K]\n fn f(x) = x * w\n o = f(q)\n}\n");
}
END_TEST

START_TEST(fn_blowup_is_bounded) {
  Buf b = {0};
  buf_puts(&b, "fn h0(x) = x + x\n");
  for (int i = 1; i <= 40; i++) buf_printf(&b, "fn h%d(x) = h%d(h%d(x))\n", i, i - 1, i - 1);
  buf_puts(&b, "rnn a {\n input q\n output o\n o = h40(q)\n}\n");
  clock_t t0 = clock();
  fails(b.s, "error: this rnn expands to more than 1000000 operations");
  ck_assert_msg((double)(clock() - t0) / CLOCKS_PER_SEC < 2.0, "took too long");
  buf_free(&b);
}
END_TEST

START_TEST(errors) {
  static const struct {
    const char *src;
    const char *want;
  } cases[] = {
      {"rnn a {\n input query\n output o\n o = querry\n}\n",
       "4:6: error: unknown name 'querry'; did you mean 'query'?"},
      {"rnn a {\n input q[K]\n output o\n o = 1\n}\n", "2:10: error: unknown dim 'K'"},
      {"rnn a {\n dim K\n input q[K, K]\n output o\n o = 1\n}\n",
       "3:13: error: dim 'K' appears twice in 'q'"},
      {"rnn a {\n dim K, V\n input q[K], v[V]\n output o\n o = q @ v\n}\n",
       "5:6: error: '@' contracts the dims its operands share, but [K] and [V] share none"},
      {"rnn a {\n dim K, V\n input k[K], v[V]\n state S[K, V]\n output o[V]\n S = v\n o = v\n}\n",
       "6:6: error: cannot assign a value of shape [V] to state 'S' declared [K, V]"},
      {"rnn a {\n dim K\n input q[K]\n output o, p\n o = 1\n}\n",
       "4:12: error: output 'p' is never written"},
      {"rnn a {\n input q\n output o\n t = o\n o = q\n}\n",
       "4:6: error: output 'o' is read before it is written"},
      {"rnn a {\n input q\n state s\n s = s + q\n}\n", "1:5: error: rnn 'a' has no output"},
      {"rnn a {\n input q\n input q\n output o\n o = q\n}\n", "3:8: error: redefinition of 'q'"},
      {"rnn a {\n dim K\n input q\n output o\n K = 2\n o = q\n}\n",
       "5:2: error: cannot assign to dim 'K'"},
      {"fn exp(x) = x\nrnn a {\n input q\n output o\n o = q\n}\n",
       "1:4: error: 'exp' is a built-in function and cannot be redefined"},
      {"rnn a {\n dim K, V\n input q[K]\n output o\n o = sum(q, V)\n}\n",
       "5:13: error: sum() over dim 'V', but the operand has shape [K]"},
      {"rnn a {\n dim K\n input q[K]\n output o\n o = sum(q, 2)\n}\n",
       "5:13: error: argument 2 of sum() must be a dim name"},
      {"rnn a {\n dim K, V\n input q[K, V]\n output o[K, V]\n o = l2norm(q)\n}\n",
       "5:6: error: l2norm() of a value of shape [K, V] is ambiguous"},
      {"rnn a {\n dim K\n input q[K], w[K]\n output o[K]\n o = w(q)\n}\n",
       "5:6: error: 'w' is an input, not a function"},
      {"rnn a {\n dim K\n input q[K]\n output o[K]\n o = outer(q, q)\n}\n",
       "5:6: error: outer() needs operands with no dim in common"},
      {"rnn a {\n input q\n output o\n o = q\n}\nrnn a {\n input q\n output o\n o = q\n}\n",
       "6:5: error: redefinition of rnn 'a'"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) fails(cases[i].src, cases[i].want);
}
END_TEST

START_TEST(warnings_do_not_fail) {
  bool okk;
  const char *src = "rnn w {\n input x, unused\n param p\n state s, frozen\n output y\n"
                    " s = s + x\n y = s + frozen\n}\n";
  char *d = t_compile(src, strlen(src), &okk);
  ck_assert_msg(okk, "%s", d);
  ck_assert_ptr_nonnull(strstr(d, "warning: input 'unused' is never used"));
  ck_assert_ptr_nonnull(strstr(d, "warning: param 'p' is never used"));
  ck_assert_ptr_nonnull(strstr(d, "warning: state 'frozen' is never written"));
  free(d);
}
END_TEST

START_TEST(dim_bindings) {
  lrc_dim dims[] = {{"K", 32}};
  lrc_options o;
  lrc_options_init(&o);
  o.dims = dims;
  o.ndims = 1;
  lrc_error *err = NULL;
  lrc_module *m = lrc_compile(NULL, "rnn a {\n dim K = 8, V = 4\n input q[K]\n output o[K]\n o = q\n}\n",
                              &o, &err);
  ck_assert_ptr_nonnull(m);
  char *ir = lrc_emit(m, NULL, LRC_EMIT_IR, &err);
  ck_assert_msg(strstr(ir, "dim    K=32, V=4"), "%s", ir);
  lrc_free(ir);
  lrc_module_free(m);
  dims[0].name = "Q";
  m = lrc_compile(NULL, "rnn a {\n dim K\n input q[K]\n output o[K]\n o = q\n}\n", &o, &err);
  ck_assert_ptr_null(m);
  ck_assert_ptr_nonnull(strstr(lrc_error_message(err), "--dim Q=32: no rnn in this file declares"));
  lrc_error_free(err);
}
END_TEST

START_TEST(several_rnns) {
  lrc_error *err = NULL;
  lrc_module *m = lrc_compile(NULL, "rnn a {\n input x\n output y\n y = x\n}\n"
                                    "rnn b {\n dim D\n input x[D]\n output y[D]\n y = 2 * x\n}\n",
                              NULL, &err);
  ck_assert_ptr_nonnull(m);
  ck_assert_int_eq(lrc_module_rnn_count(m), 2);
  ck_assert_str_eq(lrc_module_rnn_name(m, 1), "b");
  char *ir = lrc_emit(m, "b", LRC_EMIT_IR, &err);
  ck_assert_ptr_nonnull(strstr(ir, "rnn b {"));
  ck_assert_ptr_null(strstr(ir, "rnn a {"));
  lrc_free(ir);
  ck_assert_ptr_null(lrc_emit(m, "c", LRC_EMIT_IR, &err));
  ck_assert_str_eq(lrc_error_message(err), "no rnn named 'c' in <string>; it has: a, b");
  lrc_error_free(err);
  lrc_module_free(m);
}
END_TEST

Suite *sema_suite(void) {
  Suite *s = suite_create("sema");
  TCase *tc = tcase_create("core");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, shapes);
  tcase_add_test(tc, sequential_semantics);
  tcase_add_test(tc, fn_inlining);
  tcase_add_test(tc, fn_blowup_is_bounded);
  tcase_add_test(tc, errors);
  tcase_add_test(tc, warnings_do_not_fail);
  tcase_add_test(tc, dim_bindings);
  tcase_add_test(tc, several_rnns);
  suite_add_tcase(s, tc);
  return s;
}
