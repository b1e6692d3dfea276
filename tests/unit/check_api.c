/* check_api.c — lrc.h: compiling from strings and buffers, options,
 * error objects, NULL safety. */
#include "../test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *good = "rnn a {\n dim K = 4\n input q[K]\n output o[K]\n o = q * 2\n}\n";

/* Compile `src` with `o`; expect failure with code `code` and a message
 * equal to `msg` (or containing it when `exact` is false). */
static void compile_fails(const char *src, const lrc_options *o, lrc_status code,
                          const char *msg, bool exact) {
  lrc_error *err = (lrc_error *)0x1;   /* overwritten, never read */
  lrc_module *m = lrc_compile(NULL, src, o, &err);
  ck_assert_ptr_null(m);
  ck_assert_ptr_nonnull(err);
  ck_assert_msg(lrc_error_code(err) == code, "code %d, want %d: %s", lrc_error_code(err), code,
                lrc_error_message(err));
  if (exact) ck_assert_str_eq(lrc_error_message(err), msg);
  else ck_assert_msg(strstr(lrc_error_message(err), msg), "want '%s' in '%s'", msg,
                     lrc_error_message(err));
  lrc_error_free(err);
  /* The same without an error object: no crash, still NULL. */
  ck_assert_ptr_null(lrc_compile(NULL, src, o, NULL));
}

START_TEST(compile_and_query) {
  lrc_ctx *ctx = lrc_ctx_new();
  ck_assert_ptr_nonnull(ctx);
  lrc_error *err = (lrc_error *)0x1;
  lrc_module *m = lrc_compile(ctx, good, NULL, &err);
  ck_assert_ptr_nonnull(m);
  ck_assert_ptr_null(err);   /* cleared on success */
  ck_assert_int_eq(lrc_module_rnn_count(m), 1);
  ck_assert_str_eq(lrc_module_rnn_name(m, 0), "a");
  ck_assert_ptr_null(lrc_module_rnn_name(m, 1));
  ck_assert_ptr_null(lrc_module_rnn_name(m, -1));
  ck_assert_str_eq(lrc_module_warnings(m), "");
  lrc_module_free(m);
  lrc_ctx_free(ctx);
  /* The context is optional for compiling. */
  m = lrc_compile(NULL, good, NULL, NULL);
  ck_assert_ptr_nonnull(m);
  lrc_module_free(m);
}
END_TEST

START_TEST(version) {
  ck_assert_str_eq(lrc_version(), LRC_VERSION_STRING);
  char v[64];
  snprintf(v, sizeof v, "%d.%d.%d", LRC_VERSION_MAJOR, LRC_VERSION_MINOR, LRC_VERSION_PATCH);
  ck_assert_str_eq(lrc_version(), v);
}
END_TEST

START_TEST(several_rnns_and_modules) {
  lrc_ctx *ctx = lrc_ctx_new();
  lrc_error *err = NULL;
  const char *three = "rnn zeta {\n input x\n output y\n y = x\n}\n"
                      "rnn alpha {\n dim D\n input x[D]\n output y[D]\n y = 2 * x\n}\n"
                      "rnn mid {\n input x, u\n output y\n y = x\n}\n";
  lrc_module *m = lrc_compile(ctx, three, NULL, &err);
  ck_assert_ptr_nonnull(m);
  /* In source order, not sorted. */
  ck_assert_int_eq(lrc_module_rnn_count(m), 3);
  ck_assert_str_eq(lrc_module_rnn_name(m, 0), "zeta");
  ck_assert_str_eq(lrc_module_rnn_name(m, 1), "alpha");
  ck_assert_str_eq(lrc_module_rnn_name(m, 2), "mid");
  ck_assert_ptr_null(lrc_module_rnn_name(m, 3));
  /* Warnings of a successful compile are kept with the module. */
  ck_assert_str_eq(lrc_module_warnings(m),
                   "<string>:13:11: warning: input 'u' is never used\n"
                   "   13 |  input x, u\n"
                   "      |           ^\n");
  /* A second module from the same context is independent. */
  lrc_module *m2 = lrc_compile(ctx, good, NULL, &err);
  ck_assert_ptr_nonnull(m2);
  lrc_module_free(m);
  char *ir = lrc_emit(m2, "a", LRC_EMIT_IR, &err);
  ck_assert_ptr_nonnull(ir);
  ck_assert_ptr_nonnull(strstr(ir, "rnn a {"));
  lrc_free(ir);
  lrc_module_free(m2);
  lrc_ctx_free(ctx);
  /* An error in any block fails the whole compile. */
  compile_fails("rnn a {\n input x\n output y\n y = x\n}\nrnn b {\n input x\n output y\n y = w\n}\n",
                NULL, LRC_ERR_SOURCE, "<string>:9:6: error: unknown name 'w'", false);
}
END_TEST

START_TEST(null_and_size_limits) {
  lrc_error *err = NULL;
  compile_fails(NULL, NULL, LRC_ERR_USAGE, "lrc_compile: source is NULL", true);
  ck_assert_ptr_null(lrc_compile_buffer(NULL, NULL, 5, NULL, &err));
  ck_assert_int_eq(lrc_error_code(err), LRC_ERR_USAGE);
  ck_assert_str_eq(lrc_error_message(err), "lrc_compile_buffer: source is NULL");
  lrc_error_free(err);
  /* NULL with length 0 is the empty source: no rnn in it. */
  ck_assert_ptr_null(lrc_compile_buffer(NULL, NULL, 0, NULL, &err));
  ck_assert_int_eq(lrc_error_code(err), LRC_ERR_SOURCE);
  ck_assert_ptr_nonnull(strstr(lrc_error_message(err), "error: no rnn block in this file"));
  lrc_error_free(err);
  ck_assert_ptr_null(lrc_compile(NULL, "", NULL, &err));
  ck_assert_int_eq(lrc_error_code(err), LRC_ERR_SOURCE);
  lrc_error_free(err);
  /* Over 64 MiB: rejected from the length alone, before a byte is read
   * (the buffer here is two bytes long). */
  size_t big = ((size_t)64 << 20) + 1;
  ck_assert_ptr_null(lrc_compile_buffer(NULL, "x", big, NULL, &err));
  ck_assert_int_eq(lrc_error_code(err), LRC_ERR_USAGE);
  ck_assert_str_eq(lrc_error_message(err), "source is 67108865 bytes; the limit is 64 MiB");
  lrc_error_free(err);
  ck_assert_ptr_null(lrc_compile_buffer(NULL, "x", SIZE_MAX, NULL, &err));
  ck_assert_int_eq(lrc_error_code(err), LRC_ERR_USAGE);
  lrc_error_free(err);
}
END_TEST

START_TEST(buffers_and_nul_bytes) {
  lrc_error *err = NULL;
  lrc_options o;
  lrc_options_init(&o);
  o.filename = "my.lr";
  /* Embedded NUL bytes only through the _buffer form: an error at the NUL. */
  static const char nul[] = "rnn a {\n input q\n output o\n o = q\n}\n\0garbage";
  lrc_module *m = lrc_compile_buffer(NULL, nul, sizeof nul - 1, &o, &err);
  ck_assert_ptr_null(m);
  ck_assert_int_eq(lrc_error_code(err), LRC_ERR_SOURCE);
  ck_assert_ptr_nonnull(
      strstr(lrc_error_message(err), "my.lr:6:1: error: NUL byte in source; a .lr file is text"));
  const char *file;
  int line, col;
  lrc_error_location(err, &file, &line, &col);
  ck_assert_str_eq(file, "my.lr");
  ck_assert_int_eq(line, 6);
  ck_assert_int_eq(col, 1);
  lrc_error_free(err);
  m = lrc_compile(NULL, nul, &o, &err);   /* stops at the NUL: valid */
  ck_assert_ptr_nonnull(m);
  lrc_module_free(m);
  /* A buffer is read for exactly `len` bytes: a prefix of a longer text. */
  const char *longer = "rnn a {\n input q\n output o\n o = q\n}\nTRAILING JUNK";
  m = lrc_compile_buffer(NULL, longer, strstr(longer, "TRAILING") - longer, &o, &err);
  ck_assert_msg(m != NULL, "%s", lrc_error_message(err));
  lrc_module_free(m);
  /* ...and not one byte less: cut inside the block, it is an error. */
  m = lrc_compile_buffer(NULL, longer, 30, &o, &err);
  ck_assert_ptr_null(m);
  ck_assert_int_eq(lrc_error_code(err), LRC_ERR_SOURCE);
  lrc_error_free(err);
  /* The module keeps its own copy of the source. */
  char *copy = strdup(good);
  m = lrc_compile(NULL, copy, NULL, &err);
  memset(copy, '#', strlen(copy));
  free(copy);
  char *ast = lrc_emit(m, NULL, LRC_EMIT_AST, &err);
  ck_assert_ptr_nonnull(strstr(ast, "(assign o (* q 2))"));
  lrc_free(ast);
  lrc_module_free(m);
}
END_TEST

START_TEST(errors_and_locations) {
  lrc_error *err = NULL;
  lrc_options o;
  lrc_options_init(&o);
  o.filename = "my.lr";
  /* Several errors: all in the message, the first one's location. A
   * warning before them is not the "first error". */
  lrc_module *m = lrc_compile(NULL,
                              "rnn a {\n input q, unused\n output o\n o = q\n}\n"
                              "rnn b {\n input q\n output o\n o = r\n}\n"
                              "rnn c {\n input q\n output o\n o = s\n}\n",
                              &o, &err);
  ck_assert_ptr_null(m);
  ck_assert_int_eq(lrc_error_code(err), LRC_ERR_SOURCE);
  const char *msg = lrc_error_message(err);
  ck_assert_ptr_nonnull(strstr(msg, "my.lr:9:6: error: unknown name 'r'\n    9 |  o = r\n      |      ^\n"));
  ck_assert_ptr_nonnull(strstr(msg, "my.lr:14:6: error: unknown name 's'"));
  const char *file;
  int line, col;
  lrc_error_location(err, &file, &line, &col);
  ck_assert_str_eq(file, "my.lr");
  ck_assert_int_eq(line, 9);
  ck_assert_int_eq(col, 6);
  /* Any out-pointer may be NULL. */
  lrc_error_location(err, NULL, NULL, &col);
  ck_assert_int_eq(col, 6);
  lrc_error_free(err);
  /* A parse error has a location too. */
  ck_assert_ptr_null(lrc_compile(NULL, "rnn a {\n input q\n output o\n o = (q\n}\n", &o, &err));
  lrc_error_location(err, &file, &line, &col);
  ck_assert_str_eq(file, "my.lr");
  ck_assert_int_eq(line, 5);   /* at the '}' that ends the statement; a note at the '(' */
  ck_assert_int_eq(col, 1);
  ck_assert_ptr_nonnull(strstr(lrc_error_message(err), "my.lr:4:6: note: to match this '('"));
  lrc_error_free(err);
  /* The default file name. */
  ck_assert_ptr_null(lrc_compile(NULL, "rnn a {\n input q\n output o\n o = r\n}\n", NULL, &err));
  ck_assert_ptr_nonnull(strstr(lrc_error_message(err), "<string>:4:6: error: unknown name 'r'"));
  lrc_error_location(err, &file, &line, &col);
  ck_assert_str_eq(file, "<string>");
  lrc_error_free(err);
  /* A usage error has no location. */
  ck_assert_ptr_null(lrc_compile(NULL, NULL, NULL, &err));
  lrc_error_location(err, &file, &line, &col);
  ck_assert_ptr_null(file);
  ck_assert_int_eq(line, 0);
  ck_assert_int_eq(col, 0);
  lrc_error_free(err);
  /* Nor has a NULL error. */
  lrc_error_location(NULL, &file, &line, &col);
  ck_assert_ptr_null(file);
  ck_assert_int_eq(line, 0);
}
END_TEST

START_TEST(options_validation) {
  lrc_options o;
  lrc_options_init(&o);
  ck_assert_uint_eq(o.size, sizeof o);
  ck_assert_ptr_null(o.dims);
  ck_assert_int_eq(o.algo, LRC_ALGO_AUTO);
  /* The size field: 0 (memset, not initialised) and too small. */
  o.size = 0;
  compile_fails(good, &o, LRC_ERR_USAGE, "lrc_options.size is 0; call lrc_options_init first", true);
  o.size = 3;
  compile_fails(good, &o, LRC_ERR_USAGE, "lrc_options.size is 3; call lrc_options_init first", true);
  /* A caller built against an older, shorter struct (up to ndims). */
  lrc_dim k8[] = {{"K", 8}};
  lrc_options_init(&o);
  o.dims = k8;
  o.ndims = 1;
  o.algo = (lrc_algo)77;   /* past the old size: not read */
  o.size = offsetof(lrc_options, ndims) + sizeof o.ndims;
  lrc_error *err = NULL;
  lrc_module *m = lrc_compile(NULL, good, &o, &err);
  ck_assert_msg(m != NULL, "%s", lrc_error_message(err));
  char *ir = lrc_emit(m, NULL, LRC_EMIT_IR, &err);
  ck_assert_ptr_nonnull(strstr(ir, "dim    K=8\n"));
  lrc_free(ir);
  lrc_module_free(m);
  /* Dims: NULL array, negative count, bad sizes, no name, twice. */
  lrc_options_init(&o);
  o.ndims = 2;
  compile_fails(good, &o, LRC_ERR_USAGE, "lrc_options: 2 dims but dims is NULL", true);
  o.dims = k8;
  o.ndims = -1;
  compile_fails(good, &o, LRC_ERR_USAGE, "lrc_options: ndims is -1; it must not be negative", true);
  o.ndims = 1;
  static const long bad_sizes[] = {0, -1, -1000000000L, 1000000001L, 99999999999L};
  for (size_t i = 0; i < sizeof bad_sizes / sizeof bad_sizes[0]; i++) {
    lrc_dim d[] = {{"K", bad_sizes[i]}};
    o.dims = d;
    char want[128];
    snprintf(want, sizeof want, "dim K=%ld: a size must be from 1 to 1000000000", bad_sizes[i]);
    compile_fails(good, &o, LRC_ERR_USAGE, want, true);
  }
  lrc_dim edge[] = {{"K", 1000000000L}};
  o.dims = edge;
  m = lrc_compile(NULL, good, &o, &err);
  ck_assert_msg(m != NULL, "%s", lrc_error_message(err));
  lrc_module_free(m);
  lrc_dim noname[] = {{"K", 2}, {NULL, 3}};
  o.dims = noname;
  o.ndims = 2;
  compile_fails(good, &o, LRC_ERR_USAGE, "dim binding 2 has no name", true);
  noname[1].name = "";
  compile_fails(good, &o, LRC_ERR_USAGE, "dim binding 2 has no name", true);
  lrc_dim twice[] = {{"K", 2}, {"V", 1}, {"K", 3}};
  o.dims = twice;
  o.ndims = 3;
  compile_fails(good, &o, LRC_ERR_USAGE, "dim K is given twice", true);
  /* A dim no rnn declares. */
  lrc_dim unknown[] = {{"K", 2}, {"Z", 3}};
  o.dims = unknown;
  o.ndims = 2;
  compile_fails(good, &o, LRC_ERR_SOURCE, "--dim Z=3: no rnn in this file declares a dim 'Z'", false);
  /* algo, target, chunk. */
  lrc_options_init(&o);
  o.algo = (lrc_algo)9;
  compile_fails(good, &o, LRC_ERR_USAGE, "lrc_options: bad algo, target or chunk", true);
  lrc_options_init(&o);
  o.target = (lrc_target)5;
  compile_fails(good, &o, LRC_ERR_USAGE, "lrc_options: bad algo, target or chunk", true);
  lrc_options_init(&o);
  o.chunk = -4;
  compile_fails(good, &o, LRC_ERR_USAGE, "lrc_options: bad algo, target or chunk", true);
  /* The filename may be anything printable. */
  lrc_options_init(&o);
  o.filename = "dir with space/x.lr";
  compile_fails("rnn a {\n input q\n output o\n o = r\n}\n", &o, LRC_ERR_SOURCE,
                "dir with space/x.lr:4:6: error: unknown name 'r'", false);
}
END_TEST

START_TEST(emit_errors) {
  lrc_error *err = NULL;
  lrc_module *m = lrc_compile(NULL,
                              "rnn a {\n input x\n output y\n y = x\n}\n"
                              "rnn b {\n dim D\n input x[D]\n output y[D]\n y = 2 * x\n}\n",
                              NULL, &err);
  ck_assert_ptr_nonnull(m);
  /* An unknown rnn: the message lists the names there are. */
  ck_assert_ptr_null(lrc_emit(m, "c", LRC_EMIT_IR, &err));
  ck_assert_int_eq(lrc_error_code(err), LRC_ERR_USAGE);
  ck_assert_str_eq(lrc_error_message(err), "no rnn named 'c' in <string>; it has: a, b");
  lrc_error_free(err);
  ck_assert_ptr_null(lrc_emit(m, "", LRC_EMIT_DOT, &err));
  ck_assert_str_eq(lrc_error_message(err), "no rnn named '' in <string>; it has: a, b");
  lrc_error_free(err);
  /* NULL: every rnn for the graph forms. */
  char *s = lrc_emit(m, NULL, LRC_EMIT_IR, &err);
  ck_assert_ptr_null(err);
  ck_assert_ptr_nonnull(strstr(s, "rnn a {"));
  ck_assert_ptr_nonnull(strstr(s, "rnn b {"));
  lrc_free(s);
  /* An unknown kind. */
  ck_assert_ptr_null(lrc_emit(m, NULL, (lrc_emit_kind)99, &err));
  ck_assert_int_eq(lrc_error_code(err), LRC_ERR_USAGE);
  ck_assert_str_eq(lrc_error_message(err), "lrc_emit: unknown kind 99");
  lrc_error_free(err);
  ck_assert_ptr_null(lrc_emit(m, NULL, (lrc_emit_kind)-1, &err));
  ck_assert_int_eq(lrc_error_code(err), LRC_ERR_USAGE);
  lrc_error_free(err);
  /* Kernel forms need sizes: b's D has none. */
  ck_assert_ptr_null(lrc_emit(m, "b", LRC_EMIT_KIR, &err));
  ck_assert_str_eq(lrc_error_message(err), "dim 'D' of rnn 'b' has no size; pass --dim D=N");
  lrc_error_free(err);
  /* The C form without a name when there are several rnns. */
  char *c = (char *)0x1, *h = (char *)0x1;
  ck_assert_int_eq(lrc_emit_c(m, NULL, NULL, &c, &h, &err), LRC_ERR_USAGE);
  ck_assert_ptr_null(c);
  ck_assert_ptr_null(h);
  ck_assert_str_eq(lrc_error_message(err), "<string> has 2 rnn blocks (a, b); choose one with --rnn");
  lrc_error_free(err);
  /* err may be NULL. */
  ck_assert_ptr_null(lrc_emit(m, "c", LRC_EMIT_IR, NULL));
  lrc_module_free(m);
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
  ck_assert_ptr_null(lrc_module_rnn_name(NULL, 0));
  ck_assert_str_eq(lrc_module_warnings(NULL), "");
  lrc_error *err = NULL;
  ck_assert_ptr_null(lrc_emit(NULL, NULL, LRC_EMIT_IR, &err));
  ck_assert_int_eq(lrc_error_code(err), LRC_ERR_USAGE);
  ck_assert_str_eq(lrc_error_message(err), "lrc_emit: module is NULL");
  lrc_error_free(err);
  ck_assert_ptr_null(lrc_emit(NULL, NULL, LRC_EMIT_IR, NULL));
  char *c = NULL, *h = NULL;
  ck_assert_int_eq(lrc_emit_c(NULL, NULL, NULL, &c, &h, &err), LRC_ERR_USAGE);
  lrc_error_free(err);
  lrc_module *m = lrc_compile(NULL, good, NULL, NULL);
  ck_assert_int_eq(lrc_emit_c(m, NULL, NULL, NULL, &h, &err), LRC_ERR_USAGE);
  lrc_error_free(err);
  lrc_module_free(m);
  ck_assert_ptr_null(lrc_kernel_get(NULL, NULL, &err));
  lrc_error_free(err);
  ck_assert_int_eq(lrc_kernel_run(NULL, NULL, &err), LRC_ERR_USAGE);
  lrc_error_free(err);
  lrc_options_init(NULL);
  lrc_args_init(NULL);
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
  ck_assert_str_eq(lrc_error_message(err), "no rnn named 'zz' in <string>; it has: a");
  lrc_error_free(err);
  lrc_module_free(m);
}
END_TEST

Suite *api_suite(void) {
  Suite *s = suite_create("api");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, compile_and_query);
  tcase_add_test(tc, version);
  tcase_add_test(tc, several_rnns_and_modules);
  tcase_add_test(tc, null_and_size_limits);
  tcase_add_test(tc, buffers_and_nul_bytes);
  tcase_add_test(tc, errors_and_locations);
  tcase_add_test(tc, options_validation);
  tcase_add_test(tc, emit_errors);
  tcase_add_test(tc, null_safety);
  tcase_add_test(tc, emit_c_api);
  suite_add_tcase(s, tc);
  return s;
}
