/* check_api.c — lrc.h: compiling from strings and buffers, options,
 * error objects, NULL safety. */
#include "../test.h"

#include <stdlib.h>
#include <string.h>

static const char *good = "rnn a {\n dim K = 4\n input q[K]\n output o[K]\n o = q * 2\n}\n";

START_TEST(compile_and_query) {
  lrc_ctx *ctx = lrc_ctx_new();
  lrc_error *err = NULL;
  lrc_module *m = lrc_compile(ctx, good, NULL, &err);
  ck_assert_ptr_nonnull(m);
  ck_assert_ptr_null(err);
  ck_assert_int_eq(lrc_module_rnn_count(m), 1);
  ck_assert_str_eq(lrc_module_rnn_name(m, 0), "a");
  ck_assert_ptr_null(lrc_module_rnn_name(m, 1));
  ck_assert_str_eq(lrc_module_warnings(m), "");
  ck_assert_str_eq(lrc_version(), LRC_VERSION_STRING);
  lrc_module_free(m);
  lrc_ctx_free(ctx);
  /* The context is optional for compiling. */
  m = lrc_compile(NULL, good, NULL, NULL);
  ck_assert_ptr_nonnull(m);
  lrc_module_free(m);
}
END_TEST

START_TEST(errors_and_locations) {
  lrc_error *err = NULL;
  lrc_options o;
  lrc_options_init(&o);
  o.filename = "my.lr";
  lrc_module *m = lrc_compile(NULL, "rnn a {\n input q\n output o\n o = r\n}\n", &o, &err);
  ck_assert_ptr_null(m);
  ck_assert_int_eq(lrc_error_code(err), LRC_ERR_SOURCE);
  ck_assert_ptr_nonnull(strstr(lrc_error_message(err), "my.lr:4:6: error: unknown name 'r'"));
  const char *file;
  int line, col;
  lrc_error_location(err, &file, &line, &col);
  ck_assert_str_eq(file, "my.lr");
  ck_assert_int_eq(line, 4);
  ck_assert_int_eq(col, 6);
  lrc_error_free(err);
  /* Embedded NUL bytes only through the _buffer form. */
  static const char nul[] = "rnn a {\n input q\n output o\n o = q\n}\n\0garbage";
  m = lrc_compile_buffer(NULL, nul, sizeof nul - 1, &o, &err);
  ck_assert_ptr_null(m);
  ck_assert_ptr_nonnull(strstr(lrc_error_message(err), "NUL byte"));
  lrc_error_free(err);
  m = lrc_compile(NULL, nul, &o, &err);   /* stops at the NUL: valid */
  ck_assert_ptr_nonnull(m);
  lrc_module_free(m);
  ck_assert_ptr_null(lrc_compile(NULL, NULL, NULL, &err));
  ck_assert_int_eq(lrc_error_code(err), LRC_ERR_USAGE);
  lrc_error_free(err);
  ck_assert_ptr_null(lrc_compile_buffer(NULL, "x", (size_t)65 << 20, NULL, &err));
  ck_assert_ptr_nonnull(strstr(lrc_error_message(err), "the limit is 64 MiB"));
  lrc_error_free(err);
}
END_TEST

START_TEST(options_validation) {
  lrc_error *err = NULL;
  lrc_options o;
  lrc_options_init(&o);
  o.size = 3;
  ck_assert_ptr_null(lrc_compile(NULL, good, &o, &err));
  ck_assert_ptr_nonnull(strstr(lrc_error_message(err), "call lrc_options_init first"));
  lrc_error_free(err);
  lrc_options_init(&o);
  o.ndims = 2;
  ck_assert_ptr_null(lrc_compile(NULL, good, &o, &err));
  ck_assert_ptr_nonnull(strstr(lrc_error_message(err), "dims is NULL"));
  lrc_error_free(err);
  lrc_dim bad[] = {{"K", 0}};
  o.dims = bad;
  o.ndims = 1;
  ck_assert_ptr_null(lrc_compile(NULL, good, &o, &err));
  ck_assert_str_eq(lrc_error_message(err), "dim K=0: a size must be from 1 to 1000000000");
  lrc_error_free(err);
  lrc_dim twice[] = {{"K", 2}, {"K", 3}};
  o.dims = twice;
  o.ndims = 2;
  ck_assert_ptr_null(lrc_compile(NULL, good, &o, &err));
  ck_assert_str_eq(lrc_error_message(err), "dim K is given twice");
  lrc_error_free(err);
  lrc_options_init(&o);
  o.algo = (lrc_algo)9;
  ck_assert_ptr_null(lrc_compile(NULL, good, &o, &err));
  ck_assert_ptr_nonnull(strstr(lrc_error_message(err), "bad algo"));
  lrc_error_free(err);
}
END_TEST

START_TEST(null_safety) {
  lrc_error_free(NULL);
  lrc_module_free(NULL);
  lrc_ctx_free(NULL);
  lrc_free(NULL);
  lrc_tensor_free(NULL);
  ck_assert_int_eq(lrc_error_code(NULL), LRC_OK);
  ck_assert_str_eq(lrc_error_message(NULL), "");
  ck_assert_int_eq(lrc_module_rnn_count(NULL), 0);
  lrc_error *err = NULL;
  ck_assert_ptr_null(lrc_emit(NULL, NULL, LRC_EMIT_IR, &err));
  ck_assert_int_eq(lrc_error_code(err), LRC_ERR_USAGE);
  lrc_error_free(err);
  ck_assert_ptr_null(lrc_kernel_get(NULL, NULL, &err));
  lrc_error_free(err);
  ck_assert_int_eq(lrc_kernel_run(NULL, NULL, &err), LRC_ERR_USAGE);
  lrc_error_free(err);
}
END_TEST

START_TEST(emit_c_api) {
  lrc_error *err = NULL;
  lrc_module *m = lrc_compile(NULL, good, NULL, &err);
  char *c = NULL, *h = NULL;
  ck_assert_int_eq(lrc_emit_c(m, NULL, "a.h", &c, &h, &err), LRC_OK);
  ck_assert_ptr_nonnull(strstr(c, "#include \"a.h\""));
  ck_assert_ptr_nonnull(strstr(h, "int a(const float *a_q, float *a_o"));
  ck_assert_ptr_nonnull(strstr(h, "int a_range("));
  lrc_free(c);
  lrc_free(h);
  ck_assert_int_eq(lrc_emit_c(m, "zz", NULL, &c, &h, &err), LRC_ERR_USAGE);
  lrc_error_free(err);
  lrc_module_free(m);
}
END_TEST

Suite *api_suite(void) {
  Suite *s = suite_create("api");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, compile_and_query);
  tcase_add_test(tc, errors_and_locations);
  tcase_add_test(tc, options_validation);
  tcase_add_test(tc, null_safety);
  tcase_add_test(tc, emit_c_api);
  suite_add_tcase(s, tc);
  return s;
}
