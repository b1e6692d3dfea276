/* check_scan.c — the chunked linear scan (--algo=scan, passes/scan.c)
 * against the float64 oracle: every example whose transitions allow it
 * and variants written for these tests (none is in examples/: the form
 * must come from the algebra), as emitted C and as JIT code, at T = 1,
 * C - 1, C, C + 1, 1000 and 100000, with and without initial and final
 * states, fixed length and packed sequences; and the plan's answers
 * (the chunk size, the refusals). */
#include "../oracle.h"
#include "../test.h"
#include "backends/c/backend.h"
#include "passes/passes.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static Arena arena;
static void setup(void) { arena_init(&arena); }
static void teardown(void) { arena_fini(&arena); }

/* Variants with a scan form, none of them an example. */
static const char *variants[] = {
    /* an elementwise decay from sigmoid (no exp anywhere), over a
     * param [D, N] times a per-token gate [D] */
    "rnn sig_decay {\n dim D, N\n input x[D], a[D], B[N], C[N]\n param w[D, N]\n state h[D, N]\n"
    " output y[D]\n h = sigmoid(w * a) * h + outer(x, B)\n y = h @ C\n}\n",
    /* a vector state with a normaliser beside it and an output gate */
    "rnn gated_norm {\n dim D\n input x[D], f[D], g[D]\n state h[D], n[D]\n output o[D]\n"
    " lam = sigmoid(f)\n h = lam * h + (1 - lam) * x\n n = lam * n + (1 - lam)\n"
    " o = silu(g) * h / (n + 0.001)\n}\n",
    /* three assignments in one step: a decay, an input, a decay of both */
    "rnn three_steps {\n dim D\n input x[D], a[D], b\n state h[D]\n output y[D]\n"
    " h = exp(-softplus(a)) * h\n h = h + x\n h = sigmoid(b) * h\n y = tanh(h)\n}\n",
    /* outputs of the state before the update, between two assignments and
     * after them */
    "rnn versions {\n dim D\n input x[D], a[D]\n state h[D]\n output p[D], m[D], q[D]\n"
    " p = h\n h = sigmoid(a) * h\n m = 2 * h + p\n h = h + x\n q = h - p\n}\n",
    /* a matrix state decayed per value, read through a non-linear output */
    "rnn vdecay_scan {\n dim K, V\n input q[K], k[K], v[V], a[V]\n state S[K, V]\n output o[V]\n"
    " S = S * exp(-softplus(a)) + outer(k, v)\n o = tanh(q @ S)\n}\n",
    /* a negative decay (no logarithm: no chunk form) and a decay per head,
     * beside an identity state */
    "rnn signs {\n dim D\n input x[D]\n param r\n state h[D], g[D], s[D]\n output y[D]\n"
    " h = -0.5 * h + x\n g = sigmoid(r) * g + x * x\n s = s + x\n y = h + g - 0.01 * s\n}\n",
    /* a decay over the key dim of a matrix state, several inputs, a
     * division by a per-token value */
    "rnn diag_inputs {\n dim K, V\n input q[K], k[K], v[V], u[V], g[K], z\n state S[K, V]\n"
    " output o[V]\n S = exp(-softplus(g)) * S + outer(k, v) - outer(k, u) / (1 + z * z)\n"
    " o = q @ S\n}\n",
    /* a state of three dims decayed over two of them, the key among them
     * (no chunk form: tested below) */
    "rnn three_dims {\n dim K, V, W\n input q[K], k[K], v[V], w[W], a[K, V]\n state S[K, V, W]\n"
    " output o[V, W]\n S = exp(-softplus(a)) * S + outer(outer(k, v), w)\n o = q @ S\n}\n",
};

/* T = 1, C - 1, C, C + 1 and 1000, packed sequences ending before, on and
 * after chunk boundaries; initial and final states on and off. */
static int scan_cases(int C, OCase *cs) {
  int n = 0;
  cs[n++] = (OCase){.B = 2, .T = 1, .H = 2, .seed = 21, .init_state = true, .final_state = true};
  if (C > 1) cs[n++] = (OCase){.B = 2, .T = C - 1, .H = 2, .seed = 22, .final_state = true};
  cs[n++] = (OCase){.B = 1, .T = C, .H = 3, .seed = 23, .init_state = true, .final_state = true};
  cs[n++] = (OCase){.B = 2, .T = C + 1, .H = 1, .seed = 24, .init_state = true};
  cs[n++] = (OCase){.B = 2, .T = 1000, .H = 2, .seed = 25, .init_state = true, .final_state = true};
  cs[n++] = (OCase){.B = 1, .T = 5 * C + 5, .H = 2, .seed = 26, .init_state = true,
                    .final_state = true, .nseq = 4, .cu = {0, C, C + 1, 3 * C + 5, 5 * C + 5}};
  for (int i = 0; i < n; i++) cs[i].lo = -1, cs[i].hi = 1;
  return n;
}

static void check_cases(const char *label, const Graph *g, const Kernel *k, const OCase *cs,
                        int ncases) {
  char msg[512];
  void *handle = NULL, *jit = NULL;
  void *fns[2];
  fns[0] = o_build_c(k, msg, sizeof msg, &handle);
  ck_assert_msg(fns[0] != NULL, "%s: %s", label, msg);
  fns[1] = o_build_jit(k, msg, sizeof msg, &jit);
  ck_assert_msg(fns[1] != NULL, "%s: %s", label, msg);
  for (int target = 0; target < 2; target++)
    for (int i = 0; i < ncases; i++) {
      double err = o_run_case(g, k, fns[target], &cs[i], msg, sizeof msg);
      ck_assert_msg(err >= 0 && err <= 2e-4,
                    "%s [%s], case %d (B=%d T=%d H=%d%s%s, LRC_TEST_SEED=%llu): %s: "
                    "rel error %g",
                    label, target ? "JIT" : "emitted C", i, cs[i].B, cs[i].T, cs[i].H,
                    cs[i].init_state ? ", initial state" : "", cs[i].nseq ? ", packed" : "",
                    o_seed_base(), msg, err);
    }
  dlclose(handle);
  cg_jit_free(jit);
}

/* The scan kernels of g at each chunk size, small dims (5, 7, 3, ...) and
 * wide ones (multiples of the vector width). false when g has no scan
 * form (a delta rule); `must` makes that a failure. */
static bool check_graph(const char *label, Graph *g, bool must) {
  static const int sizes[2][3] = {{1, 3, 16}, {64, 16, 0}};
  for (int wide = 0; wide < 2; wide++) {
    if (wide) o_bind_wide_dims(g);
    else o_bind_small_dims(g);
    for (int i = 0; i < 3 && sizes[wide][i]; i++) {
      const char *why = NULL;
      Diags d;
      diag_init(&d, &arena);
      Kernel *k = pass_pipeline(&arena, g, PLAN_SCAN, sizes[wide][i], &d, &why);
      if (!k && !must) return false;
      Buf b = {0};
      diag_render(&d, &b);
      ck_assert_msg(k != NULL, "%s: no scan kernel: %s", label, why ? why : b.s);
      buf_free(&b);
      char want[32];
      snprintf(want, sizeof want, "scan(C=%d)", sizes[wide][i]);
      ck_assert_str_eq(k->algo, want);
      char lab[600];
      snprintf(lab, sizeof lab, "%s (%s dims, C=%d)", label, wide ? "wide" : "small",
               sizes[wide][i]);
      OCase cs[8];
      check_cases(lab, g, k, cs, scan_cases(sizes[wide][i], cs));
    }
  }
  return true;
}

START_TEST(variant_scan) {
  char *diags = NULL;
  Graph *g = t_graph(&arena, variants[_i], &diags);
  ck_assert_msg(g != NULL, "scan variant %d does not compile:\n%s", _i, diags);
  free(diags);
  char label[64];
  snprintf(label, sizeof label, "scan variant %d (%s)", _i, g->name);
  check_graph(label, g, true);
}
END_TEST

/* Every examples/NAME.lr (loop index into the sorted listing). */
static char **example_files;
static int nexamples;

/* Each example whose classes allow a scan: mamba and HGRN (elementwise),
 * GLA, HGRN2, RWKV6 (diagonal), the scalar decays and linear attention.
 * The delta rules have none, and say so. */
START_TEST(example_scan) {
  char path[512];
  snprintf(path, sizeof path, "examples/%s", example_files[_i]);
  char *src = t_read(path, NULL);
  ck_assert_msg(src != NULL, "cannot read %s", path);
  char *diags = NULL;
  Graph *g = t_graph(&arena, src, &diags);
  ck_assert_msg(g != NULL, "%s", diags);
  free(diags);
  Analysis *an = pass_classify(&arena, pass_canonicalize(&arena, g));
  bool delta = false;
  for (int i = 0; i < an->nstates; i++)
    delta |= an->st[i].cls == TC_DELTA || an->st[i].cls == TC_DELTA_PRODUCT || an->st[i].cls == TC_DPLR;
  bool ok = check_graph(path, g, !delta);
  ck_assert_msg(ok == !delta, "%s: a scan form %s", path, ok ? "for a delta rule" : "missing");
  free(src);   /* the graph's spans point into it */
}
END_TEST

START_TEST(examples_with_scan) {
  static const char *want[] = {"gla", "hgrn", "hgrn2", "mamba", "mamba2", "retnet", "rwkv6"};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    char *out = NULL;
    int rc = t_lrc(&out, "emit examples/%s.lr --emit=plan --algo=scan", want[i]);
    ck_assert_msg(rc == 0 && strstr(out, "algo = scan(C="), "%s: %s", want[i], out);
    free(out);
  }
}
END_TEST

/* 100000 tokens through one row: the carry across 1563 chunks, against
 * the oracle in every output and the final state. */
START_TEST(long_sequences) {
  static const char *files[] = {"examples/mamba.lr", "examples/hgrn.lr"};
  for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
    char *src = t_read(files[f], NULL);
    ck_assert(src != NULL);
    char *diags = NULL;
    Graph *g = t_graph(&arena, src, &diags);
    ck_assert_msg(g != NULL, "%s", diags);
    free(diags);
    o_bind_small_dims(g);
    const char *why = NULL;
    Diags d;
    diag_init(&d, &arena);
    Kernel *k = pass_pipeline(&arena, g, PLAN_SCAN, 64, &d, &why);
    ck_assert_msg(k != NULL, "%s", files[f]);
    OCase cs[2] = {
        {.B = 1, .T = 100000, .H = 1, .seed = 31, .lo = -1, .hi = 1, .init_state = true,
         .final_state = true},
        {.B = 1, .T = 100003, .H = 2, .seed = 32, .lo = -1, .hi = 1, .final_state = true,
         .nseq = 3, .cu = {0, 50000, 50001, 100003}},
    };
    check_cases(files[f], g, k, cs, 2);
    free(src);
  }
}
END_TEST

/* lrc emit --emit=plan --algo=scan: the chunk size, given or chosen, and
 * the refusals with what to use instead. */
START_TEST(plan_scan) {
  char *out = NULL;
  int rc = t_lrc(&out, "emit examples/mamba.lr --emit=plan --algo=scan");
  ck_assert_msg(rc == 0 && strstr(out, "rnn mamba: algo = scan(C=32)") &&
                    strstr(out, "class = elementwise; parallel form: scan; algo = scan(C=32)"),
                "%s", out);
  free(out);
  rc = t_lrc(&out, "emit examples/hgrn.lr --emit=plan --algo=scan --chunk=16");
  ck_assert_msg(rc == 0 && strstr(out, "rnn hgrn: algo = scan(C=16)"), "%s", out);
  free(out);
  /* A K x V state gets a shorter chunk, so that its tiles stay in cache. */
  rc = t_lrc(&out, "emit examples/gla.lr --emit=plan --algo=scan --dim K=128,V=128");
  ck_assert_msg(rc == 0 && strstr(out, "rnn gla: algo = scan(C=2)"), "%s", out);
  free(out);
  rc = t_lrc(&out, "emit examples/gla.lr --emit=plan --algo=scan --dim K=128,V=128 --chunk=128");
  ck_assert_int_eq(rc, 1);
  ck_assert_msg(strstr(out, "--algo=scan: the tiles of state 'S' for a chunk of 128 tokens would "
                            "take 8.0 MiB each, above the 4 MiB limit"),
                "%s", out);
  free(out);
  rc = t_lrc(&out, "emit examples/gated_deltanet.lr --emit=plan --algo=scan");
  ck_assert_int_eq(rc, 1);
  ck_assert_msg(strstr(out, "no scan form for state 'S' (delta rule transition: (I - beta k kᵀ) "
                            "* scalar(exp(g)))") &&
                    strstr(out, "use --algo=chunk or --algo=recurrent"),
                "%s", out);
  free(out);
  rc = t_lrc(&out, "run examples/mamba.lr --algo=scan --shape B=1,T=77,H=2");
  ck_assert_msg(rc == 0 && strstr(out, "mamba: scan(C=32)") && strstr(out, ": ok"), "%s", out);
  free(out);
  /* A sum of two decays has no single product a: no scan form yet. */
  FILE *f = fopen("build/sumdecay-test.lr", "w");
  fputs("rnn s {\n dim D = 4\n input x[D], a[D], b[D]\n state h[D]\n output y[D]\n"
        " h = a * h + b * h + x\n y = h\n}\n", f);
  fclose(f);
  rc = t_lrc(&out, "run build/sumdecay-test.lr --algo=scan");
  ck_assert_int_eq(rc, 1);
  ck_assert_msg(strstr(out, "--algo=scan: the update of state 'h' is not of the form α ⊙ h + β"),
                "%s", out);
  free(out);
  remove("build/sumdecay-test.lr");
  /* Coupled states (one read by the other's update). */
  f = fopen("build/coupled-test.lr", "w");
  fputs("rnn s {\n dim D = 4\n input x[D]\n state a[D], b[D]\n output y[D]\n"
        " a = b\n b = a + x\n y = a * b\n}\n", f);
  fclose(f);
  rc = t_lrc(&out, "run build/coupled-test.lr --algo=scan");
  ck_assert_int_eq(rc, 1);
  ck_assert_msg(strstr(out, "the update of state 'a' reads state 'b'"), "%s", out);
  free(out);
  remove("build/coupled-test.lr");
  /* A decay over the key dim and another: scan yes, chunk no. */
  f = fopen("build/kvw-test.lr", "w");
  fputs(variants[7], f);
  fclose(f);
  rc = t_lrc(&out, "run build/kvw-test.lr --algo=scan --dim K=4,V=3,W=2 --shape B=1,T=40,H=1");
  ck_assert_msg(rc == 0 && strstr(out, ": ok"), "%s", out);
  free(out);
  rc = t_lrc(&out, "run build/kvw-test.lr --algo=chunk --dim K=4,V=3,W=2");
  ck_assert_int_eq(rc, 1);
  ck_assert_msg(strstr(out, "the decay of state 'S' depends on its key dim and on other dims"),
                "%s", out);
  free(out);
  remove("build/kvw-test.lr");
}
END_TEST

Suite *scan_suite(void) {
  nexamples = t_examples(&example_files);
  Suite *s = suite_create("scan");
  TCase *tc = tcase_create("oracle");
  tcase_set_timeout(tc, 120);
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_loop_test(tc, variant_scan, 0, (int)(sizeof variants / sizeof variants[0]));
  tcase_add_loop_test(tc, example_scan, 0, nexamples);
  tcase_add_test(tc, examples_with_scan);
  tcase_add_test(tc, long_sequences);
  tcase_add_test(tc, plan_scan);
  suite_add_tcase(s, tc);
  return s;
}
