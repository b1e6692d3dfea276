/* check_printer.c — the exact text of --emit=ir, the shape of --emit=dot
 * and --emit=ast, and --emit=kir. */
#include "../test.h"

#include <stdlib.h>
#include <string.h>

static char *emit(const char *src, lrc_emit_kind kind, const lrc_dim *dims, int ndims) {
  lrc_options o;
  lrc_options_init(&o);
  o.filename = "t.lr";
  o.dims = dims;
  o.ndims = ndims;
  lrc_error *err = NULL;
  lrc_module *m = lrc_compile(NULL, src, &o, &err);
  ck_assert_msg(m != NULL, "%s", lrc_error_message(err));
  char *s = lrc_emit(m, NULL, kind, &err);
  ck_assert_msg(s != NULL, "%s", lrc_error_message(err));
  lrc_module_free(m);
  return s;
}

static const char *src = "rnn ema {\n  dim D\n  input x[D]\n  param a\n  state h[D], c\n"
                         "  output y[D]\n  h = a * h + (1 - a) * x\n  y = h\n}\n";

START_TEST(ir_text) {
  lrc_dim d[] = {{"D", 8}};
  char *s = emit(src, LRC_EMIT_IR, d, 1);
  const char *want =
      "rnn ema {\n"
      "  dim    D=8\n"
      "  input  x[D]\n"
      "  param  a\n"
      "  state  h[D], c\n"
      "  output y[D]\n"
      "\n"
      "  %0 = param a                               : f32[]\n"
      "  %1 = state h                               : f32[D]\n"
      "  %2 = mul %0, %1                            : f32[D]\n"
      "  %3 = const 1                               : f32[]\n"
      "  %4 = sub %3, %0                            : f32[]\n"
      "  %5 = input x                               : f32[D]\n"
      "  %6 = mul %4, %5                            : f32[D]\n"
      "  %7 = add %2, %6                            : f32[D]\n"
      "  %8 = write h, %7                           : f32[D]\n"
      "\n"
      "  state  h <- %8\n"
      "  state  c unchanged\n"
      "  output y <- %8\n"
      "}\n";
  ck_assert_str_eq(s, want);
  free(s);
}
END_TEST

START_TEST(dot_text) {
  char *s = emit("rnn q {\n input x\n output y\n y = x * 2\n}\n# \"quoted\"\n", LRC_EMIT_DOT, NULL, 0);
  ck_assert_ptr_nonnull(strstr(s, "digraph \"q\" {"));
  int open = 0, close = 0, nodes = 0, edges = 0;
  for (const char *p = s; *p; p++) open += *p == '{', close += *p == '}';
  for (const char *p = s; (p = strstr(p, "  n")); p++)
    if (strstr(p, "[label=") && strstr(p, "[label=") < strchr(p, '\n')) nodes++;
  for (const char *p = s; (p = strstr(p, " -> ")); p++) edges++;
  ck_assert_int_eq(open, close);
  ck_assert_int_eq(nodes, 3);   /* input, const, mul */
  ck_assert_int_eq(edges, 3);   /* two operands and the output */
  free(s);
}
END_TEST

START_TEST(ast_text) {
  char *s = emit("fn f(x) = -x^2\nrnn a {\n dim K = 3\n input q[K]\n output o[K]\n o = f(q) @ q * q\n}\n",
                 LRC_EMIT_AST, NULL, 0);
  ck_assert_msg(strstr(s, "(fn f (x) (neg (^ x 2)))"), "%s", s);
  ck_assert_msg(strstr(s, "(dim K=3)"), "%s", s);
  ck_assert_msg(strstr(s, "(assign o (* (@ (call f q) q) q))"), "%s", s);
  free(s);
}
END_TEST

START_TEST(kir_text) {
  lrc_dim d[] = {{"D", 8}};
  char *s = emit(src, LRC_EMIT_KIR, d, 1);
  ck_assert_msg(strstr(s, "kernel ema (algo recurrent)"), "%s", s);
  ck_assert_msg(strstr(s, "parallel for bh in [0, (N * H))"), "%s", s);
  ck_assert_msg(strstr(s, "for t in [cu_seqlens[n], cu_seqlens[(n + 1)])"), "%s", s);
  ck_assert_msg(strstr(s, "h = ((a * h) + ((1 - a) * x))"), "%s", s);
  free(s);
  /* Without a size for D: a usage error naming the dim. */
  lrc_error *err = NULL;
  lrc_module *m = lrc_compile(NULL, src, NULL, &err);
  ck_assert_ptr_null(lrc_emit(m, NULL, LRC_EMIT_KIR, &err));
  ck_assert_str_eq(lrc_error_message(err), "dim 'D' of rnn 'ema' has no size; pass --dim D=N");
  lrc_error_free(err);
  lrc_module_free(m);
}
END_TEST

Suite *printer_suite(void) {
  Suite *s = suite_create("printer");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, ir_text);
  tcase_add_test(tc, dot_text);
  tcase_add_test(tc, ast_text);
  tcase_add_test(tc, kir_text);
  suite_add_tcase(s, tc);
  return s;
}
