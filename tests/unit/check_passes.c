/* check_passes.c — the graph passes one by one (fold, cse, dce, factor),
 * the linearity proof and the classification of transitions, on the
 * examples and on variants written for these tests (none is in examples/:
 * the derivation must work from the algebra, not from names). */
#include "../test.h"
#include "passes/passes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static Arena arena;
static void setup(void) { arena_init(&arena); }
static void teardown(void) { arena_fini(&arena); }

static Graph *graph(const char *src) {
  char *diags = NULL;
  Graph *g = t_graph(&arena, src, &diags);
  ck_assert_msg(g != NULL, "did not compile:\n%s", diags);
  free(diags);
  return g;
}

static int count_op(const Graph *g, OpKind op) {
  int n = 0;
  for (int i = 0; i < g->nodes.len; i++) n += g->nodes.data[i].op == op;
  return n;
}

static char *print(const Graph *g) {
  Buf b = {0};
  ir_print(g, &b);
  return buf_take(&b);
}

START_TEST(fold_constants_and_identities) {
  Graph *g = graph("rnn f {\n dim K = 16\n input x[K], s\n output y[K], z\n"
                   " y = (x * 1 + 0) * (2 * 3) + K^-0.5 + -(-x)\n z = s / 1 - 0 + exp(0)\n}\n");
  Graph *f = pass_dce(&arena, pass_fold(&arena, g));
  char *text = print(f);
  /* 2 * 3 and 16^-0.5 are constants; x * 1, + 0, / 1, - 0 and the double
   * negation are gone; exp(0) is 1. */
  ck_assert_msg(strstr(text, "const 6"), "%s", text);
  ck_assert_msg(strstr(text, "const 0.25"), "%s", text);
  ck_assert_msg(!strstr(text, "const 0 ") && !strstr(text, "neg"), "%s", text);
  ck_assert_int_eq(count_op(f, OP_DIM), 0);
  ck_assert_int_eq(count_op(f, OP_EXP), 0);
  ck_assert_int_eq(count_op(f, OP_DIV), 0);
  ck_assert_ptr_null(ir_verify(f));
  free(text);
  /* x ^ 2, x ^ 0.5 and x ^ -0.5 become products and roots. */
  g = graph("rnn p {\n dim K = 4\n input x[K]\n output a[K], b[K], c[K]\n"
            " a = x ^ 2\n b = x ^ 0.5\n c = x ^ -0.5\n}\n");
  f = pass_dce(&arena, pass_fold(&arena, g));
  ck_assert_int_eq(count_op(f, OP_POW), 0);
  ck_assert_int_eq(count_op(f, OP_SQRT), 1);
  ck_assert_int_eq(count_op(f, OP_RSQRT), 1);
  /* A broadcast identity keeps its dims: s * 1 with 1 over nothing is s,
   * but 0 + x where only the constant is scalar is x. */
  g = graph("rnn b {\n dim K = 4\n input s, x[K]\n output y[K]\n"
            " y = (s * 1 + 0) + (0 + x) * 1 + sum(x * 1 - 0) / 1 + (s + 0) * (x - 0)\n}\n");
  f = pass_dce(&arena, pass_fold(&arena, g));
  ck_assert_ptr_null(ir_verify(f));
  ck_assert_int_eq(count_op(f, OP_CONST), 0);
  ck_assert_int_eq(count_op(f, OP_DIV), 0);
}
END_TEST

START_TEST(cse_merges_duplicates) {
  Graph *g = graph("rnn c {\n dim K = 8\n input q[K], k[K]\n output y\n"
                   " fn n(x) = l2norm(x)\n y = sum(n(q) * n(k)) + sum(n(q) * n(k))\n}\n");
  Graph *c = pass_dce(&arena, pass_cse(&arena, g));
  ck_assert_int_eq(count_op(c, OP_RSQRT), 2);   /* l2norm of q and of k, once each */
  ck_assert_int_eq(count_op(c, OP_SUM), 3);
  ck_assert_int_lt(c->nodes.len, g->nodes.len);
  ck_assert_ptr_null(ir_verify(c));
}
END_TEST

START_TEST(dce_removes_unused) {
  Graph *g = graph("rnn d {\n dim K = 8\n input x[K], unused[K]\n state s[K]\n output y[K]\n"
                   " t = exp(unused) * 3\n s = s + x\n y = s\n}\n");
  Graph *d = pass_dce(&arena, g);
  ck_assert_int_eq(count_op(d, OP_EXP), 0);
  ck_assert_int_eq(d->inputs.len, 2);   /* slots stay: the kernel still takes them */
  ck_assert_ptr_null(ir_verify(d));
}
END_TEST

/* factor: the decay leaves the contraction and the broadcast product is
 * grouped by dims. */
START_TEST(factor_regroups_products) {
  Graph *g = graph("rnn gdn {\n dim K = 8, V = 4\n input k[K], v[V], g, beta\n state S[K, V]\n"
                   " output o[V]\n S = exp(g) * S\n S = S + beta * outer(k, v - k @ S)\n"
                   " o = k @ S\n}\n");
  Graph *o = pass_optimize(&arena, pass_canonicalize(&arena, g));
  ck_assert_ptr_null(ir_verify(o));
  /* k @ (exp(g) * S) became exp(g) * (k @ S): some dot reads S directly. */
  bool dot_of_state = false;
  for (int i = 0; i < o->nodes.len; i++) {
    const Node *n = &o->nodes.data[i];
    if (n->op == OP_DOT && o->nodes.data[n->args[1]].op == OP_STATE) dot_of_state = true;
  }
  ck_assert(dot_of_state);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Classification                                                          */

static const StateInfo *classify(const char *src, int state) {
  Graph *g = graph(src);
  Analysis *an = pass_classify(&arena, pass_canonicalize(&arena, g));
  ck_assert_int_gt(an->nstates, state);
  return &an->st[state];
}

static void expect_class(const char *src, int state, TransClass cls, const char *text) {
  const StateInfo *si = classify(src, state);
  ck_assert_msg(si->cls == cls, "class %s, want %s (transition %s)\n%s", pass_class_name(si->cls),
                pass_class_name(cls), si->transition, src);
  if (text) ck_assert_str_eq(si->transition, text);
}

START_TEST(classes_of_examples) {
  static const struct {
    const char *file;
    int state;
    TransClass cls;
    const char *text;
  } cases[] = {
      {"examples/linear_attention_elu.lr", 0, TC_IDENTITY, "I"},
      {"examples/retnet.lr", 0, TC_SCALAR, "scalar(exp(log_gamma))"},
      {"examples/mamba2.lr", 0, TC_SCALAR, NULL},
      {"examples/mamba.lr", 0, TC_ELEMENTWISE, NULL},
      {"examples/gla.lr", 0, TC_DIAG, "diag(exp(g))"},
      {"examples/deltanet.lr", 0, TC_DELTA, "(I - beta k kᵀ)"},
      {"examples/gated_deltanet.lr", 0, TC_DELTA, "(I - beta k kᵀ) * scalar(exp(g))"},
      {"examples/kda.lr", 0, TC_DELTA, "(I - beta k kᵀ) * diag(exp(g))"},
      {"examples/deltaproduct.lr", 0, TC_DELTA_PRODUCT,
       "(I - beta2 k2 k2ᵀ) * (I - beta1 k1 k1ᵀ) * scalar(exp(g))"},
      {"examples/mlstm.lr", 0, TC_SCALAR, "scalar(f)"},
      {"examples/mlstm.lr", 1, TC_SCALAR, "scalar(f)"},
      {"examples/hgrn.lr", 0, TC_ELEMENTWISE, NULL},
      {"examples/rwkv7.lr", 0, TC_DPLR, "(diag(d) - lr kap (kap)ᵀ)"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char *src = t_read(cases[i].file, NULL);
    ck_assert_msg(src != NULL, "cannot read %s", cases[i].file);
    expect_class(src, cases[i].state, cases[i].cls, cases[i].text);
    free(src);
  }
}
END_TEST

/* Variants nobody wrote an example for: other gate parameterisations,
 * decays on the value side, two delta updates with different gates, the
 * decay and the erase in one statement, a normaliser next to a delta rule,
 * an output gate. */
START_TEST(classes_of_new_variants) {
  expect_class("rnn v {\n dim K, V\n input k[K], v[V], a[V]\n state S[K, V]\n output o[V]\n"
               " S = S * exp(-softplus(a)) + outer(k, v)\n o = k @ S\n}\n",
               0, TC_DIAG_V, NULL);
  expect_class("rnn e {\n dim K, V\n input k[K], v[V], a[K, V]\n state S[K, V]\n output o[V]\n"
               " S = sigmoid(a) * S + outer(k, v)\n o = k @ S\n}\n",
               0, TC_ELEMENTWISE, NULL);
  expect_class("rnn two {\n dim K, V\n input k1[K], k2[K], v[V], b1, b2, g1, g2\n state S[K, V]\n"
               " output o[V]\n S = exp(g1) * S\n S = S + sigmoid(b1) * outer(k1, v - k1 @ S)\n"
               " S = exp(g2) * S\n S = S + sigmoid(b2) * outer(k2, v - k2 @ S)\n o = k1 @ S\n}\n",
               0, TC_DELTA_PRODUCT, NULL);
  /* Decay and erase in one statement: Diag(a) - beta k (a ⊙ k)ᵀ is
   * (I - beta k kᵀ) Diag(a), the decay first (KDA) */
  expect_class("rnn one {\n dim K, V\n input k[K], v[V], g[K], beta\n state S[K, V]\n output o[V]\n"
               " S = exp(g) * S + beta * outer(k, v - k @ (exp(g) * S))\n o = k @ S\n}\n",
               0, TC_DELTA, "(I - beta k kᵀ) * diag(exp(g))");
  /* a S - a beta k kᵀ S: a scalar decay on the erase's left (a * beta one
   * node) */
  expect_class("rnn one_s {\n dim K, V\n input k[K], v[V], g, beta\n state S[K, V]\n output o[V]\n"
               " a = sigmoid(g)\n S = a * S - a * beta * outer(k, k @ S) + beta * outer(k, v)\n"
               " o = k @ S\n}\n",
               0, TC_DELTA, "(I - beta k kᵀ) * scalar(a)");
  /* Comba's alpha I - beta k kᵀ, alpha a scalar apart from beta: alpha
   * (I - (beta / alpha) k kᵀ), a delta rule */
  expect_class("rnn comba {\n dim K, V\n input k[K], v[V], g, beta\n state S[K, V]\n output o[V]\n"
               " S = sigmoid(g) * S - beta * outer(k, k @ S) + beta * outer(k, v)\n o = k @ S\n}\n",
               0, TC_DELTA, "(I - beta 1/sigmoid(g) k kᵀ) * scalar(sigmoid(g))");
  /* a scalar times a per-key decay, written as one product on both sides
   * (the erase's k @ (a * d * S) is (k * (a * d)) @ S after the fold) */
  expect_class("rnn ad {\n dim K, V\n input k[K], v[V], f[K], x, beta\n state S[K, V]\n output o[V]\n"
               " a = sigmoid(x)\n d = exp(-softplus(f))\n"
               " S = a * d * S + beta * outer(k, v - k @ (a * d * S))\n o = k @ S\n}\n",
               0, TC_DELTA, "(I - beta k kᵀ) * diag(a d)");
  /* a negative constant in the erase's strength: S - (-0.5 beta) k (v -
   * kᵀS)ᵀ is I - 0.5 beta k kᵀ, printed with the constant's sign */
  expect_class("rnn neg {\n dim K, V\n input k[K], v[V], beta\n state S[K, V]\n output o[V]\n"
               " S = S - outer(-0.5 * beta * k, v - k @ S)\n o = k @ S\n}\n",
               0, TC_DELTA, "(I + -0.5 * beta k kᵀ)");
  /* the erase with a positive sign, I + beta k kᵀ: the same form */
  expect_class("rnn plus {\n dim K, V\n input k[K], v[V], beta\n state S[K, V]\n output o[V]\n"
               " S = S - beta * outer(k, v - k @ S)\n o = k @ S\n}\n",
               0, TC_DELTA, "(I + beta k kᵀ)");
  /* S[V, K] erased along K and read along V: its key is the erase's */
  expect_class("rnn vk {\n dim K, V\n input k[K], v[V], w[V], beta\n state S[V, K]\n output o[K]\n"
               " S = S + beta * outer(v - S @ k, k)\n o = w @ S\n}\n",
               0, TC_DELTA, "(I - beta k kᵀ)");
  /* a per-key decay on the erase's left is not (I - beta k kᵀ) D */
  expect_class("rnn left {\n dim K, V\n input k[K], v[V], g[K], beta\n state S[K, V]\n output o[V]\n"
               " S = exp(g) * S - beta * outer(exp(g) * k, k @ S)\n o = k @ S\n}\n",
               0, TC_DPLR, NULL);
  /* A normaliser beside a delta rule, and an output gate. */
  const char *nd = "rnn nd {\n dim K, V\n input q[K], k[K], v[V], beta, gate[V]\n"
                   " state S[K, V], z[K]\n output o[V]\n"
                   " S = S + beta * outer(k, v - k @ S)\n z = 0.9 * z + k\n"
                   " o = sigmoid(gate) * (q @ S) / (q @ z + 1)\n}\n";
  expect_class(nd, 0, TC_DELTA, "(I - beta k kᵀ)");
  expect_class(nd, 1, TC_SCALAR, "scalar(0.9)");
  /* Negative eigenvalues: beta in (0, 2) changes nothing structural. */
  expect_class("rnn ne {\n dim K, V\n input k[K], v[V], b\n state S[K, V]\n output o[V]\n"
               " S = S + 2 * sigmoid(b) * outer(l2norm(k), v - l2norm(k) @ S)\n o = k @ S\n}\n",
               0, TC_DELTA, NULL);
  /* A state that is replaced every step: transition zero. */
  expect_class("rnn r {\n dim K\n input x[K]\n state s[K]\n output y[K]\n y = s\n s = x\n}\n", 0,
               TC_SCALAR, "0");
  /* Coupled states: dense. */
  expect_class("rnn c {\n dim K\n input x[K]\n state a[K], b[K]\n output y[K]\n"
               " a = a + b\n b = b + x\n y = a\n}\n", 0, TC_DENSE, NULL);
}
END_TEST

/* Updates that are not affine are reported at the sub-expression that
 * breaks linearity, with why; --algo=recurrent runs them anyway. */
START_TEST(nonlinear_updates) {
  static const struct {
    const char *src;
    const char *text;
    const char *why;
  } cases[] = {
      {"rnn a {\n input x\n state h\n output y\n h = tanh(h + x)\n y = h\n}\n", "tanh(h + x)",
       "it applies tanh to a value that depends on state 'h'"},
      {"rnn b {\n input x\n state h\n output y\n h = h * h + x\n y = h\n}\n", "h * h",
       "it multiplies two values that depend on state 'h'"},
      {"rnn c {\n input x\n state h\n output y\n h = x / h\n y = h\n}\n", "x / h",
       "it divides by a value that depends on state 'h'"},
      {"rnn d {\n dim D\n input x[D]\n param w[D]\n state h[D]\n output y[D]\n"
       " gate = sigmoid(h @ w)\n h = gate * h + x\n y = h\n}\n",
       "sigmoid(h @ w)", "it applies sigmoid to a value that depends on state 'h'"},
      {"rnn e {\n dim D\n input x[D]\n state h[D]\n output y[D]\n h = softmax(h + x)\n y = h\n}\n",
       NULL, "depends on state 'h'"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    Graph *g = graph(cases[i].src);
    Graph *c = pass_canonicalize(&arena, g);
    Analysis *an = pass_classify(&arena, c);
    ck_assert(!an->affine);
    const StateInfo *si = &an->st[0];
    ck_assert_int_eq(si->cls, TC_NONLINEAR);
    if (cases[i].text) ck_assert_str_eq(pass_node_text(&arena, c, si->culprit), cases[i].text);
    ck_assert_msg(strstr(si->why, cases[i].why), "case %zu: %s", i, si->why);
    Diags d;
    diag_init(&d, &arena);
    ck_assert_ptr_null(pass_plan(&arena, c, an, PLAN_AUTO, 0, &d));
    ck_assert_int_ge(d.nerrors, 1);
    ck_assert_ptr_nonnull(pass_plan(&arena, c, an, PLAN_RECURRENT, 0, &d));
  }
  /* A delta product with a per-key decay between its erases is linear,
   * but outside the WY chunk form of this version: --algo=chunk says so. */
  Graph *dp = graph("rnn dp {\n dim K, V\n input q[K], k1[K], k2[K], v1[V], v2[V], b1, b2, a[K]\n"
                    " state S[K, V]\n output o[V]\n S = S + sigmoid(b1) * outer(k1, v1 - k1 @ S)\n"
                    " S = sigmoid(a) * S\n S = S + sigmoid(b2) * outer(k2, v2 - k2 @ S)\n"
                    " o = q @ S\n}\n");
  Graph *dpc = pass_canonicalize(&arena, dp);
  Analysis *dpa = pass_classify(&arena, dpc);
  ck_assert_int_eq(dpa->st[0].cls, TC_DELTA_PRODUCT);
  Diags dd;
  diag_init(&dd, &arena);
  ck_assert_ptr_null(pass_plan(&arena, dpc, dpa, PLAN_CHUNK, 0, &dd));
  ck_assert_int_eq(dd.nerrors, 1);
  ck_assert_msg(strstr(dd.v.data[0].msg, "a per-key decay after an erase"), "%s", dd.v.data[0].msg);
  ck_assert_ptr_nonnull(pass_plan(&arena, dpc, dpa, PLAN_RECURRENT, 0, &dd));
  /* auto falls back to recurrent, silently, where the chunk lowering
   * finds no form (an output that sums the state rather than reading it
   * out along the key). */
  Graph *fb = graph("rnn fb {\n dim K = 128, V = 128\n input q[K], k[K], v[V]\n state S[K, V]\n"
                    " output o[V], y[V]\n S = S + outer(k, v)\n o = q @ S\n y = sum(S, K)\n}\n");
  Diags fd;
  diag_init(&fd, &arena);
  const char *fwhy = NULL;
  Kernel *fk = pass_pipeline(&arena, fb, PLAN_AUTO, 0, &fd, &fwhy);
  ck_assert_msg(fk != NULL && fd.nerrors == 0, "%s", fwhy ? fwhy : "diagnostics");
  ck_assert_str_eq(fk->algo, "recurrent");
  ck_assert_ptr_null(pass_pipeline(&arena, fb, PLAN_CHUNK, 0, &fd, &fwhy));
  ck_assert_int_ge(fd.nerrors, 1);
  /* A product of more factors than the chunk form holds is refused by
   * name, not truncated (a decay of 34 factors). */
  Buf many = {0};
  buf_puts(&many, "rnn many {\n dim K, V\n input q[K], k[K], v[V], a\n state S[K, V]\n output o[V]\n S = ");
  for (int i = 0; i < 34; i++) buf_printf(&many, "exp(-sigmoid(a) / %d) * ", i + 1);
  buf_puts(&many, "S + outer(k, v)\n o = q @ S\n}\n");
  Graph *mg = graph(many.s);
  buf_free(&many);
  const char *mwhy = NULL;
  ck_assert_ptr_null(pass_lower_chunk(&arena, pass_canonicalize(&arena, mg), 16, &mwhy));
  ck_assert_msg(mwhy && strstr(mwhy, "more than 32 factors"), "%s", mwhy ? mwhy : "(none)");
  /* Diagonal plus rank 1 (RWKV-7): the erase's sides and where it reads
   * the state go into the step form, which the chunk lowering takes. */
  static const struct {
    const char *src;
    bool two_sided, before;
  } dplr[] = {
      /* the decay beside the erase, sides that differ */
      {"rnn d1 {\n dim K = 4, V = 3\n input q[K], k[K], v[V], w[K], a[K], b[K]\n state S[K, V]\n"
       " output o[V]\n S = exp(-exp(w)) * S + outer(b, a @ S) + outer(k, v)\n o = q @ S\n}\n",
       true, true},
      /* the decay first, then an erase with two sides */
      {"rnn d2 {\n dim K = 4, V = 3\n input q[K], k[K], v[V], g, a[K], b[K]\n state S[K, V]\n"
       " output o[V]\n S = sigmoid(g) * S\n S = S - outer(b, a @ S) + outer(k, v)\n o = q @ S\n}\n",
       true, false},
      /* one side, reading the state before a per-key decay */
      {"rnn d3 {\n dim K = 4, V = 3\n input q[K], k[K], v[V], f[K], b\n state S[K, V]\n output o[V]\n"
       " S = sigmoid(f) * S - sigmoid(b) * outer(k, k @ S) + outer(k, v)\n o = q @ S\n}\n",
       false, true},
  };
  for (size_t i = 0; i < sizeof dplr / sizeof dplr[0]; i++) {
    Graph *dg = pass_canonicalize(&arena, graph(dplr[i].src));
    const StateInfo *si = &pass_classify(&arena, dg)->st[0];
    ck_assert_msg(si->cls == TC_DPLR && si->form, "case %zu: %s", i, si->transition);
    ck_assert_int_eq(si->form->read.nf > 0, dplr[i].two_sided);
    ck_assert_int_eq(si->form->read_before, dplr[i].before);
    ck_assert_msg(pass_lower_chunk(&arena, dg, 16, &mwhy), "case %zu: %s", i, mwhy);
  }
  /* Comba's spelling followed by a second erase, or by a decay: the step
   * form takes the erase with β's reciprocal there (the read-before form
   * would leave the later assignment none). */
  static const char *const comba_then[] = {
      "rnn c1 {\n dim K = 4, V = 3\n input q[K], k1[K], k2[K], v1[V], v2[V], a, b1, b2\n"
      " state S[K, V]\n output o[V]\n"
      " S = sigmoid(a) * S - sigmoid(b1) * outer(k1, k1 @ S) + sigmoid(b1) * outer(k1, v1)\n"
      " S = S + sigmoid(b2) * outer(k2, v2 - k2 @ S)\n o = q @ S\n}\n",
      "rnn c2 {\n dim K = 4, V = 3\n input q[K], k[K], v[V], a, b, c\n state S[K, V]\n output o[V]\n"
      " S = sigmoid(a) * S - sigmoid(b) * outer(k, k @ S) + sigmoid(b) * outer(k, v)\n"
      " S = sigmoid(c) * S\n o = q @ S\n}\n",
  };
  for (size_t i = 0; i < 2; i++) {
    Graph *cg = pass_canonicalize(&arena, graph(comba_then[i]));
    const StateInfo *si = &pass_classify(&arena, cg)->st[0];
    ck_assert_msg(si->form && !si->form->read_before, "case %zu: %s", i, si->transition);
    ck_assert_msg(pass_lower_chunk(&arena, cg, 16, &mwhy), "case %zu: %s", i, mwhy);
  }
  /* Refused with a reason: a second erase after one with two sides, and
   * a decay after an erase that read the state before the decay beside
   * it (which would scale its strength too). */
  static const char *const no_form[] = {
      "rnn n1 {\n dim K, V\n input q[K], k[K], v[V], a[K], b[K]\n state S[K, V]\n output o[V]\n"
      " S = S + outer(b, a @ S)\n S = S + 0.5 * outer(k, v - k @ S)\n o = q @ S\n}\n",
      "rnn n2 {\n dim K, V\n input q[K], k[K], v[V], w[K], a[K], g\n state S[K, V]\n output o[V]\n"
      " S = exp(-exp(w)) * S - outer(a, a @ S) + outer(k, v)\n S = sigmoid(g) * S\n o = q @ S\n}\n",
  };
  for (size_t i = 0; i < sizeof no_form / sizeof no_form[0]; i++) {
    Graph *ng = pass_canonicalize(&arena, graph(no_form[i]));
    Analysis *na = pass_classify(&arena, ng);
    ck_assert_msg(!na->st[0].form, "case %zu: %s", i, na->st[0].transition);
    Diags nd;
    diag_init(&nd, &arena);
    ck_assert_ptr_null(pass_plan(&arena, ng, na, PLAN_CHUNK, 0, &nd));
    ck_assert_msg(nd.nerrors == 1 && strstr(nd.v.data[0].msg, "one erase a S + b (yᵀS) + k vᵀ"),
                  "case %zu: %s", i, nd.nerrors ? nd.v.data[0].msg : "(none)");
  }
  /* A state whose update reads another says which (a coupled block). */
  expect_class("rnn cpl {\n dim K, V\n input k[K], v[V], x\n state S[K, V], z[V]\n output o[V]\n"
               " S = S + outer(k, v)\n z = sigmoid(x) * z + k @ S\n o = z\n}\n",
               1, TC_DENSE, "dense (the update reads state 'S')");
  /* Decays known positive through sums, quotients and softplus: the chunk
   * form takes their logs (S / (1 + exp(x)), softplus(x) * sigmoid(y) ^ 2) */
  Graph *pg = graph("rnn pos {\n dim K = 4, V = 4\n input q[K], k[K], v[V], x, y\n state S[K, V]\n"
                    " output o[V]\n S = S / (1 + exp(x)) * softplus(y) * sigmoid(y) ^ 3\n"
                    " S = S + outer(k, v)\n o = q @ S\n}\n");
  ck_assert_ptr_nonnull(pass_lower_chunk(&arena, pass_canonicalize(&arena, pg), 16, &mwhy));
  /* A readout between two of a state's assignments is refused as such. */
  Graph *mid = graph("rnn mid {\n dim K, V\n input q[K], k1[K], k2[K], v[V], b\n state S[K, V]\n"
                     " output o[V]\n S = S + sigmoid(b) * outer(k1, v - k1 @ S)\n o = q @ S\n"
                     " S = S + sigmoid(b) * outer(k2, v - k2 @ S)\n}\n");
  ck_assert_ptr_null(pass_lower_chunk(&arena, pass_canonicalize(&arena, mid), 16, &mwhy));
  ck_assert_msg(mwhy && strstr(mwhy, "in the middle of its update"), "%s", mwhy ? mwhy : "(none)");
  /* Outputs may be anything: only state writes must be affine. */
  Graph *g = graph("rnn o {\n dim K, V\n input q[K], k[K], v[V]\n state S[K, V], n[K]\n"
                   " output h[V]\n S = S + outer(k, v)\n n = n + k\n"
                   " h = tanh(q @ S) / max(abs(q @ n), 1)\n}\n");
  ck_assert(pass_classify(&arena, pass_canonicalize(&arena, g))->affine);
}
END_TEST

/* lrc emit --emit=plan and the error for a parallel form of a non-linear
 * update, end to end. */
START_TEST(plan_cli) {
  char *out = NULL;
  int rc = t_lrc(&out, "emit examples/gated_deltanet.lr --emit=plan");
  ck_assert_int_eq(rc, 0);
  ck_assert_msg(strstr(out, "S: transition = (I - beta k kᵀ) * scalar(exp(g)); class = delta rule"),
                "%s", out);
  free(out);
  rc = t_lrc(&out, "emit examples/gated_deltanet.lr --emit=plan --algo=chunk --dim K=128,V=128");
  ck_assert_int_eq(rc, 0);
  ck_assert_msg(strstr(out, "algo = chunk(C=32, WY)"), "%s", out);
  free(out);
  /* The recurrent kernel computes Mamba's exp(A_log) [N, D], a value of
   * the params alone, once per row, before the time loop. */
  rc = t_lrc(&out, "emit examples/mamba.lr --emit=kir --algo=recurrent");
  ck_assert_int_eq(rc, 0);
  const char *ea = strstr(out, "= exp(A_log)"), *loop = strstr(out, "for t in");
  ck_assert_msg(ea && loop && ea < loop && !strstr(loop, "exp(A_log)"), "%s", out);
  free(out);
  /* auto: the chunk form where the model gives it a clear lead (the
   * delta rule at K = V = 128), recurrent where not (GLA's per-key
   * decays, KDA's per-key decay before the erase, small states). */
  static const struct {
    const char *args, *want;
  } autos[] = {
      {"gated_deltanet.lr --dim K=128,V=128", "algo = chunk(C=32) (asked: auto)"},
      {"simple_gla.lr --dim K=128,V=128", "algo = chunk(C=32) (asked: auto)"},
      {"gla.lr --dim K=128,V=128", "algo = recurrent (asked: auto)"},
      {"kda.lr --dim K=128,V=128", "algo = recurrent (asked: auto)"},
      {"gated_deltanet.lr --dim K=16,V=16", "algo = recurrent (asked: auto)"},
  };
  for (size_t i = 0; i < sizeof autos / sizeof autos[0]; i++) {
    char cmd[200];
    snprintf(cmd, sizeof cmd, "emit examples/%s --emit=plan", autos[i].args);
    rc = t_lrc(&out, cmd);
    ck_assert_msg(rc == 0 && strstr(out, autos[i].want), "%s: %s", cmd, out);
    free(out);
  }
  rc = t_lrc(&out, "emit examples/mamba.lr --emit=plan --algo=chunk");
  ck_assert_int_eq(rc, 1);
  ck_assert_msg(strstr(out, "--algo=chunk for state 'h' (elementwise transition: "
                            "elementwise(exp(-exp(A_log) * dt))) is not implemented in this "
                            "version"),
                "%s", out);
  free(out);
  rc = t_lrc(&out, "emit examples/retnet.lr --emit=plan --algo=chunk --chunk=32");
  ck_assert_int_eq(rc, 0);
  ck_assert_msg(strstr(out, "rnn retnet: algo = chunk(C=32)"), "%s", out);
  free(out);
  /* A decay that may be negative has no logarithm: no chunk form. */
  FILE *nf = fopen("build/negdecay-test.lr", "w");
  fputs("rnn n {\n dim K = 4, V = 3\n input k[K], v[V], q[K]\n state S[K, V]\n output o[V]\n"
        " S = -0.5 * S + outer(k, v)\n o = q @ S\n}\n", nf);
  fclose(nf);
  rc = t_lrc(&out, "run build/negdecay-test.lr --algo=chunk");
  ck_assert_int_eq(rc, 1);
  ck_assert_msg(strstr(out, "the decay of state 'S' is not known to be positive"), "%s", out);
  free(out);
  rc = t_lrc(&out, "run build/negdecay-test.lr --algo=recurrent --shape T=9");
  ck_assert_msg(rc == 0 && strstr(out, ": ok"), "%s", out);
  free(out);
  remove("build/negdecay-test.lr");
  /* A long sequence stays finite and accurate in chunk form (log-space
   * decays relative to each chunk's start). */
  rc = t_lrc(&out, "run examples/mamba2.lr --algo=chunk --chunk=64 --dim N=4,P=4 "
                   "--shape B=1,T=100000,H=1");
  ck_assert_msg(rc == 0 && strstr(out, ": ok"), "%s", out);
  free(out);
  /* ... and so do the delta rule (WY), per-key decays, KDA, a readout
   * before the update and the delta product. */
  static const char *long_t[] = {"gated_deltanet", "gla", "kda", "rwkv6", "deltanet_negeig",
                                 "deltaproduct"};
  for (size_t i = 0; i < sizeof long_t / sizeof long_t[0]; i++) {
    char cmd[300];
    snprintf(cmd, sizeof cmd, "run examples/%s.lr --algo=chunk --chunk=32 --dim K=8,V=8 "
             "--shape B=1,T=100000,H=1", long_t[i]);
    rc = t_lrc(&out, cmd);
    ck_assert_msg(rc == 0 && strstr(out, ": ok"), "%s: %s", long_t[i], out);
    free(out);
  }
  rc = t_lrc(&out, "emit examples/gated_deltanet.lr --emit=plan --algo=scan");
  ck_assert_int_eq(rc, 1);
  ck_assert_msg(strstr(out, "no scan form for state 'S' (delta rule transition"), "%s", out);
  free(out);
  FILE *f = fopen("build/nonlinear-test.lr", "w");
  fputs("rnn n {\n dim D = 3\n input x[D]\n state h[D]\n output y[D]\n h = tanh(h) + x\n y = h\n}\n", f);
  fclose(f);
  rc = t_lrc(&out, "run build/nonlinear-test.lr --shape T=5");
  ck_assert_int_eq(rc, 1);
  ck_assert_msg(strstr(out, "build/nonlinear-test.lr:6:6: error: the update of state 'h' is not "
                            "linear in the states: 'tanh(h)' is not"),
                "%s", out);
  ck_assert_msg(strstr(out, "--algo=recurrent runs it token by token"), "%s", out);
  free(out);
  rc = t_lrc(&out, "run build/nonlinear-test.lr --shape T=5 --algo=recurrent");
  ck_assert_msg(rc == 0 && strstr(out, ": ok"), "%s", out);
  free(out);
  remove("build/nonlinear-test.lr");
}
END_TEST

/* The chunk loop's statements by phase (phases.c), on every example with
 * a chunk form and the chunk variants: the state's writes are in the
 * chain, the output stores are readouts, nothing free reads the state,
 * and the boundaries of Gated DeltaNet are the ones its algebra has. */
static int tile_named(const Kernel *k, const char *name) {
  for (int t = 0; t < k->tiles.len; t++)
    if (!strcmp(k->tiles.data[t].name, name)) return t;
  return -1;
}

static void check_phases(const char *label, const Kernel *k) {
  ChunkPhases p;
  const char *why = NULL;
  ck_assert_msg(pass_chunk_phases(k, &p, &why), "%s: %s", label, why);
  ck_assert_msg(p.count[PH_FREE] > 0 && p.count[PH_CHAIN] > 0 && p.count[PH_READOUT] > 0 &&
                    p.versions >= 1,
                "%s: %d free, %d chain, %d readout, %d versions", label, p.count[PH_FREE],
                p.count[PH_CHAIN], p.count[PH_READOUT], p.versions);
  int nt = k->tiles.len;
  unsigned char *use = arena_alloc(&arena, (size_t)nt + 1);
  for (int i = 0; i < p.loop->len; i++) {
    const KStmt *st = p.loop->data[i];
    memset(use, 0, (size_t)nt + 1);
    kir_use_stmt(k, st, use);
    for (int t = 0; t < nt; t++) {
      bool carried = p.cross[t] & PH_CARRIED;
      ck_assert_msg(!(carried && (use[t] & 2)) || p.phase[i] == PH_CHAIN,
                    "%s: statement %d writes state %s outside the chain", label, i,
                    k->tiles.data[t].name);
      ck_assert_msg(!(carried && (use[t] & 1)) || p.phase[i] != PH_FREE,
                    "%s: free statement %d reads state %s", label, i, k->tiles.data[t].name);
    }
    if (st->kind == KS_STORE)
      ck_assert_msg(p.phase[i] == PH_READOUT, "%s: store %d in phase %d", label, i, p.phase[i]);
    /* The phased order: lets and free statements, then the rest (fills
     * of the readouts' accumulators go with them). */
    bool first = i < k->phase_nfree;
    ck_assert_msg(first ? st->kind == KS_LET || p.phase[i] == PH_FREE
                        : st->kind != KS_LET && (p.phase[i] != PH_FREE || st->kind == KS_FILL),
                  "%s: statement %d (phase %d) on the wrong side of the free part's %d", label, i,
                  p.phase[i], k->phase_nfree);
  }
  ck_assert_msg(k->phase_loop && &k->phase_loop->body == p.loop,
                "%s: no phased form", label);
  /* What crosses: written by the free part, read by the rest; never a
   * state. */
  long rec = 0;
  for (int t = 0; t < nt; t++) {
    if (k->phase_at[t] < 0) continue;
    rec += (kir_tile_count(k, t) + 7) & ~7L;
    ck_assert_msg(!(p.cross[t] & PH_CARRIED), "%s: state %s crosses", label, k->tiles.data[t].name);
  }
  ck_assert_int_eq(rec, k->phase_rec);
}

START_TEST(chunk_phases) {
  char **names;
  int n = t_examples(&names), checked = 0;
  for (int i = 0; i < n + t_nchunk_variants; i++) {
    char label[300];
    char *src;
    if (i < n) {
      snprintf(label, sizeof label, "examples/%s", names[i]);
      src = t_read(label, NULL);
    } else {
      snprintf(label, sizeof label, "chunk variant %d", i - n);
      src = strdup(t_chunk_variants[i - n]);
    }
    ck_assert_msg(src != NULL, "cannot read %s", label);
    char *diags = NULL;
    Graph *g = t_graph(&arena, src, &diags);
    ck_assert_msg(g != NULL, "%s: %s", label, diags);
    free(diags);
    Diags d;
    diag_init(&d, &arena);
    const char *why = NULL;
    Kernel *k = ir_unbound_dim(g) ? NULL : pass_pipeline(&arena, g, PLAN_CHUNK, 16, &d, &why);
    if (k) {
      check_phases(label, k);
      checked++;
    }
    /* The same three chain statements where the free part computes the
     * gated keys in branches (KDA's safe-gate test) or interleaves two
     * erases per token (DeltaProduct). */
    if (k && i < n && (!strcmp(names[i], "kda.lr") || !strcmp(names[i], "deltaproduct.lr"))) {
      ChunkPhases p;
      ck_assert(pass_chunk_phases(k, &p, &why));
      ck_assert_msg(p.count[PH_CHAIN] == 3, "%s: %d chain statements", label, p.count[PH_CHAIN]);
    }
    if (k && i < n && !strcmp(names[i], "gated_deltanet.lr")) {
      ChunkPhases p;
      ck_assert(pass_chunk_phases(k, &p, &why));
      /* chain: v0 += W S, S = e^GL S, S += (K e^(GL-G))ᵀ v0; readouts:
       * r0 = q̃ S, r0 *= e^G, r0 += A v0, the store of o. */
      ck_assert_int_eq(p.count[PH_CHAIN], 3);
      ck_assert_int_eq(p.count[PH_READOUT], 4);
      int S = tile_named(k, "S"), W = tile_named(k, "W_S"), kd = tile_named(k, "kd0_0");
      int A = tile_named(k, "A"), v = tile_named(k, "v0_0"), GL = tile_named(k, "GL_S");
      ck_assert(S >= 0 && W >= 0 && kd >= 0 && A >= 0 && v >= 0 && GL >= 0);
      ck_assert_int_eq(p.cross[S], PH_CARRIED);
      ck_assert_int_eq(p.cross[W], PH_FREE_CHAIN);
      ck_assert_int_eq(p.cross[kd], PH_FREE_CHAIN);
      ck_assert_int_eq(p.cross[GL], PH_FREE_CHAIN);
      ck_assert_int_eq(p.cross[A], PH_FREE_READOUT);
      ck_assert_int_eq(p.cross[v], PH_FREE_CHAIN | PH_CHAIN_READOUT);
      ck_assert_int_eq(p.versions, 1);   /* o reads the chunk-start state */
      /* Handed from the free part to the rest: q̃ (t8), A, the gate's
       * cumsum and total, v0 (= U), W and the decayed keys; not the state
       * nor r0 (zeroed by the rest). */
      int G = tile_named(k, "G_S"), r0 = tile_named(k, "r0"), qn = tile_named(k, "t8");
      int in[] = {qn, A, G, GL, v, W, kd};
      for (int j = 0; j < 7; j++) ck_assert_msg(k->phase_at[in[j]] >= 0, "tile %d", in[j]);
      ck_assert(k->phase_at[S] < 0 && k->phase_at[r0] < 0);
      int crossing = 0;
      for (int t = 0; t < k->tiles.len; t++) crossing += k->phase_at[t] >= 0;
      ck_assert_int_eq(crossing, 7);
    }
    free(src);
  }
  ck_assert_int_ge(checked, 15);
}
END_TEST

Suite *passes_suite(void) {
  Suite *s = suite_create("passes");
  TCase *tc = tcase_create("core");
  tcase_set_timeout(tc, 60);
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, fold_constants_and_identities);
  tcase_add_test(tc, cse_merges_duplicates);
  tcase_add_test(tc, dce_removes_unused);
  tcase_add_test(tc, factor_regroups_products);
  tcase_add_test(tc, classes_of_examples);
  tcase_add_test(tc, classes_of_new_variants);
  tcase_add_test(tc, nonlinear_updates);
  tcase_add_test(tc, plan_cli);
  tcase_add_test(tc, chunk_phases);
  suite_add_tcase(s, tc);
  return s;
}
