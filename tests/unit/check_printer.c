/* check_printer.c — the exact text of --emit=ir and --emit=ast, the shape
 * of --emit=dot, and --emit=kir. */
#include "../test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *emit_rnn(const char *src, const char *rnn, lrc_emit_kind kind, const lrc_dim *dims,
                      int ndims) {
  lrc_options o;
  lrc_options_init(&o);
  o.filename = "t.lr";
  o.dims = dims;
  o.ndims = ndims;
  lrc_error *err = NULL;
  lrc_module *m = lrc_compile(NULL, src, &o, &err);
  ck_assert_msg(m != NULL, "%s", lrc_error_message(err));
  char *s = lrc_emit(m, rnn, kind, &err);
  ck_assert_msg(s != NULL, "%s", lrc_error_message(err));
  lrc_module_free(m);
  return s;
}

static char *emit(const char *src, lrc_emit_kind kind, const lrc_dim *dims, int ndims) {
  return emit_rnn(src, NULL, kind, dims, ndims);
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
  /* Unbound: the dim without a size. */
  s = emit(src, LRC_EMIT_IR, NULL, 0);
  ck_assert_msg(strncmp(s, "rnn ema {\n  dim    D\n  input  x[D]\n", 34) == 0, "%s", s);
  free(s);
}
END_TEST

START_TEST(ir_text_contractions) {
  /* Contractions and reductions say what they are over; dims print in
   * declaration order (V before K here), tensors keep their own order in
   * the declarations; a default size shows, a binding overrides it. */
  const char *la = "fn phi(x) = relu(x)\n"
                   "rnn la {\n"
                   "  dim V = 4, K = 2\n"
                   "  input q[K], k[K], v[V]\n"
                   "  state S[K, V]\n"
                   "  output o[V], n\n"
                   "  S = S + outer(phi(k), v)\n"
                   "  o = phi(q) @ S\n"
                   "  n = sum(S) + K^-0.5\n"
                   "}\n";
  lrc_dim d[] = {{"K", 128}};
  char *s = emit(la, LRC_EMIT_IR, d, 1);
  const char *want =
      "rnn la {\n"
      "  dim    V=4, K=128\n"
      "  input  q[K], k[K], v[V]\n"
      "  state  S[K, V]\n"
      "  output o[V], n\n"
      "\n"
      "  %0 = state S                               : f32[V, K]\n"
      "  %1 = input k                               : f32[K]\n"
      "  %2 = relu %1                               : f32[K]\n"
      "  %3 = input v                               : f32[V]\n"
      "  %4 = mul %2, %3                            : f32[V, K]\n"
      "  %5 = add %0, %4                            : f32[V, K]\n"
      "  %6 = write S, %5                           : f32[V, K]\n"
      "  %7 = input q                               : f32[K]\n"
      "  %8 = relu %7                               : f32[K]\n"
      "  %9 = dot %8, %6 over [K]                   : f32[V]\n"
      "  %10 = sum %6 over [V, K]                   : f32[]\n"
      "  %11 = dim K                                : f32[]\n"
      "  %12 = const 0.5                            : f32[]\n"
      "  %13 = neg %12                              : f32[]\n"
      "  %14 = pow %11, %13                         : f32[]\n"
      "  %15 = add %10, %14                         : f32[]\n"
      "\n"
      "  state  S <- %6\n"
      "  output o <- %9\n"
      "  output n <- %15\n"
      "}\n";
  ck_assert_str_eq(s, want);
  free(s);
}
END_TEST

START_TEST(ir_several_rnns) {
  const char *two = "rnn a {\n input x\n output y\n y = x\n}\n"
                    "rnn b {\n input x\n state s\n output y\n y = -x\n}\n";
  char *s = emit(two, LRC_EMIT_IR, NULL, 0);
  const char *want = "rnn a {\n  input  x\n  output y\n\n"
                     "  %0 = input x                               : f32[]\n\n"
                     "  output y <- %0\n}\n"
                     "\n"
                     "rnn b {\n  input  x\n  state  s\n  output y\n\n"
                     "  %0 = input x                               : f32[]\n"
                     "  %1 = neg %0                                : f32[]\n\n"
                     "  state  s unchanged\n"
                     "  output y <- %1\n}\n";
  ck_assert_str_eq(s, want);
  free(s);
  /* One of them by name. */
  s = emit_rnn(two, "b", LRC_EMIT_IR, NULL, 0);
  ck_assert_str_eq(s, strstr(want, "rnn b {"));
  free(s);
}
END_TEST

/* Checks that `s` looks like valid Graphviz: strings closed on their line,
 * braces balanced outside strings, one node statement per step-graph value
 * (n0..n<nvalues-1>) and `nedges` edges between declared nodes. */
static void check_dot(const char *s, int nvalues, int nedges) {
  int depth = 0, nodes = 0, edges = 0, lines = 0;
  bool *declared = calloc((size_t)nvalues + 1, 1);
  for (const char *p = s; *p;) {
    const char *e = strchr(p, '\n');
    ck_assert_msg(e != NULL, "last line not terminated:\n%s", s);
    bool in_str = false;
    for (const char *c = p; c < e; c++) {
      if (in_str && *c == '\\') {
        c++;
        continue;
      }
      if (*c == '"') in_str = !in_str;
      else if (!in_str && *c == '{') depth++;
      else if (!in_str && *c == '}') depth--;
      ck_assert_msg(depth >= 0, "'}' before its '{':\n%s", s);
    }
    ck_assert_msg(!in_str, "unterminated string in line '%.*s'", (int)(e - p), p);
    int a, b, n;
    if (sscanf(p, "  n%d -> n%d;%n", &a, &b, &n) == 2 && p + n == e) {
      ck_assert_msg(a >= 0 && a < b && b < nvalues && declared[a] && declared[b],
                    "edge n%d -> n%d", a, b);
      edges++;
    } else if (sscanf(p, "  n%d -> %*[a-z]_%d;%n", &a, &b, &n) == 2 && p + n == e) {
      ck_assert_msg(a >= 0 && a < nvalues && declared[a], "edge from n%d", a);
      edges++;
    } else if (sscanf(p, "  n%d [label=\"%%%d %n", &a, &b, &n) == 2) {
      ck_assert_int_eq(a, b);
      ck_assert_int_eq(a, nodes);
      ck_assert(e[-1] == ';' && e[-2] == ']');
      declared[a] = true;
      nodes++;
    }
    lines++;
    p = e + 1;
  }
  ck_assert_int_eq(depth, 0);
  ck_assert_int_eq(nodes, nvalues);
  ck_assert_int_eq(edges, nedges);
  free(declared);
}

START_TEST(dot_text) {
  char *s = emit("rnn q {\n input x\n output y\n y = x * 2\n}\n", LRC_EMIT_DOT, NULL, 0);
  ck_assert_msg(strncmp(s, "digraph \"q\" {\n", 14) == 0, "%s", s);
  /* input, const, mul; two operand edges and the output's. */
  check_dot(s, 3, 3);
  ck_assert_msg(strstr(s, "  n0 [label=\"%0 input x\\n[]\", shape=ellipse"), "%s", s);
  ck_assert_msg(strstr(s, "  n2 [label=\"%2 mul %0, %1\\n[]\", shape=box];\n"), "%s", s);
  ck_assert_msg(strstr(s, "  n2 -> output_0;\n"), "%s", s);
  ck_assert_msg(strstr(s, "  output_0 [label=\"output y\""), "%s", s);
  free(s);
  /* A state updated twice, one unchanged, a contraction: one node per
   * value, an edge per operand, one per written state and per output. */
  const char *dn = "rnn d {\n dim K, V\n input k[K], v[V], b\n state S[K, V], frozen\n"
                   " output o[V]\n S = S - b * outer(k, k @ S)\n S = S + outer(k, v)\n"
                   " o = k @ S + frozen\n}\n";
  s = emit(dn, LRC_EMIT_DOT, NULL, 0);
  Arena a;
  arena_init(&a);
  char *d = NULL;
  Graph *g = t_graph(&a, dn, &d);
  ck_assert_msg(g != NULL, "%s", d);
  free(d);
  int ops = 0;
  for (int i = 0; i < g->nodes.len; i++) ops += ir_ops[g->nodes.data[i].op].nargs;
  check_dot(s, g->nodes.len, ops + 1 + 1);
  ck_assert_msg(strstr(s, "over [K]\\n[V]\", shape=box"), "%s", s);
  ck_assert_ptr_null(strstr(s, "frozen (next)"));
  ck_assert_msg(strstr(s, "state_0 [label=\"state S (next)\""), "%s", s);
  arena_fini(&a);
  free(s);
  /* Several rnns: one digraph each. */
  s = emit("rnn a {\n input x\n output y\n y = x\n}\nrnn b {\n input x\n output y\n y = x\n}\n",
           LRC_EMIT_DOT, NULL, 0);
  ck_assert_msg(strstr(s, "digraph \"a\" {") && strstr(s, "}\n\ndigraph \"b\" {"), "%s", s);
  free(s);
}
END_TEST

START_TEST(dot_escapes) {
  /* Names come from the parser (identifiers), but the printer must not
   * rely on it: quotes and backslashes in any name are escaped. */
  Arena a;
  arena_init(&a);
  Graph *g = ir_graph_new(&a, "a\"b\\c", (Span){0});
  Slot x = {.kind = SLOT_INPUT, .name = "x\"y", .value = -1};
  Slot st = {.kind = SLOT_STATE, .name = "s\"", .value = -1};
  Slot o = {.kind = SLOT_OUTPUT, .name = "o\\", .value = -1};
  VEC_PUSH(&a, g->inputs, x);
  VEC_PUSH(&a, g->states, st);
  VEC_PUSH(&a, g->outputs, o);
  int v = ir_leaf(g, OP_INPUT, 0, 0, (Span){0});
  g->states.data[0].value = ir_write(g, 0, v, (Span){0});
  g->outputs.data[0].value = v;
  ck_assert_ptr_null(ir_verify(g));
  Buf b = {0};
  ir_print_dot(g, &b);
  ck_assert_msg(strstr(b.s, "digraph \"a\\\"b\\\\c\" {\n"), "%s", b.s);
  ck_assert_msg(strstr(b.s, "[label=\"%0 input x\\\"y\\n[]\""), "%s", b.s);
  ck_assert_msg(strstr(b.s, "[label=\"%1 write s\\\", %0\\n[]\""), "%s", b.s);
  ck_assert_msg(strstr(b.s, "[label=\"state s\\\" (next)\""), "%s", b.s);
  ck_assert_msg(strstr(b.s, "[label=\"output o\\\\\""), "%s", b.s);
  check_dot(b.s, 2, 1 + 1 + 1);
  buf_free(&b);
  arena_fini(&a);
}
END_TEST

START_TEST(ast_text) {
  char *s = emit("fn f(x) = -x^2\n"
                 "rnn a {\n"
                 " dim K = 3, V\n"
                 " input q[K], v[V]; param w\n"
                 " state S[K, V]\n"
                 " output o[K]\n"
                 " fn g() = 1.50\n"
                 " S = S + outer(q, v)\n"
                 " o = f(q) @ q * q - w / 2 + sum(S, V) ^ -g()\n"
                 "}\n",
                 LRC_EMIT_AST, NULL, 0);
  const char *want =
      "(file \"t.lr\"\n"
      "  (fn f (x) (neg (^ x 2)))  ; 1:1\n"
      "  (rnn a  ; 2:5\n"
      "    (dim K=3 V)  ; 3:2\n"
      "    (input q[K] v[V])  ; 4:2\n"
      "    (param w)  ; 4:20\n"
      "    (state S[K V])  ; 5:2\n"
      "    (output o[K])  ; 6:2\n"
      "    (fn g () 1.50)  ; 7:2\n"
      "    (assign S (+ S (call outer q v)))  ; 8:2\n"
      "    (assign o (+ (- (* (@ (call f q) q) q) (/ w 2)) (^ (call sum S V) (neg (call g)))))  ; 9:2\n"
      "  )\n"
      ")\n";
  ck_assert_str_eq(s, want);
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
  ck_assert_int_eq(lrc_error_code(err), LRC_ERR_USAGE);
  ck_assert_str_eq(lrc_error_message(err), "dim 'D' of rnn 'ema' has no size; pass --dim D=N");
  lrc_error_free(err);
  lrc_module_free(m);
}
END_TEST

Suite *printer_suite(void) {
  Suite *s = suite_create("printer");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, ir_text);
  tcase_add_test(tc, ir_text_contractions);
  tcase_add_test(tc, ir_several_rnns);
  tcase_add_test(tc, dot_text);
  tcase_add_test(tc, dot_escapes);
  tcase_add_test(tc, ast_text);
  tcase_add_test(tc, kir_text);
  suite_add_tcase(s, tc);
  return s;
}
