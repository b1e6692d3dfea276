/* check_emit_c.c — the recurrent kernel as emitted C (built with cc) and
 * as LLVM-compiled JIT code, against the float64 oracle: every example and a set of variants, at
 * awkward sizes, with and without initial and final states, fixed length
 * and packed sequences. */
#include "../oracle.h"
#include "../test.h"
#include "backends/c/backend.h"
#include "passes/passes.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Variants beyond examples/: shapes of the language the lowering must get
 * right (transposed declarations, states read after being replaced, a
 * state swapped with another, non-affine updates, outputs that are the
 * old state, reductions, broadcasting). A delta rule's keys are
 * normalised and its beta in (0, 1): with raw keys its transitions
 * I - beta k kᵀ can have eigenvalues far outside [-1, 1], and over a
 * thousand steps float32 rounding alone then moves the state by more
 * than any tolerance (ALGORITHMS.md §5, delta rule conditioning). */
const char *const t_variants[] = {
    "rnn transposed {\n dim K, V\n input k[K], v[V], beta\n state S[V, K]\n output o[V]\n"
    " kn = l2norm(k)\n S = S + sigmoid(beta) * outer(kn, v - kn @ S)\n o = kn @ S\n}\n",
    "rnn swap {\n dim D\n input x[D]\n state a[D], b[D]\n output y[D]\n"
    " a = b\n b = a + x\n y = a * b\n}\n",
    "rnn old_state_out {\n dim D\n input x[D]\n state h[D]\n output y[D], z[D]\n"
    " y = h\n h = 0.5 * h + x\n z = h\n}\n",
    "rnn nonlinear {\n dim D, E\n input x[D]\n param w[D, E]\n state h[E]\n output y[E]\n"
    " h = tanh(h + x @ w)\n y = h * h\n}\n",
    "rnn normalised {\n dim K, V\n input q[K], k[K], v[V]\n state S[K, V], z[K]\n output o[V]\n"
    " fn phi(x) = softmax(x)\n S = S + outer(phi(k), v)\n z = z + phi(k)\n"
    " o = (phi(q) @ S) / (phi(q) @ z + 1e-6)\n}\n",
    "rnn vdecay {\n dim K, V\n input q[K], k[K], v[V], a[V]\n state S[K, V]\n output o[V]\n"
    " S = S * sigmoid(a) + outer(k, v)\n o = q @ S\n}\n",
    "rnn scalar_out {\n dim K\n input x[K]\n state s, m\n output y\n"
    " s = s + sum(x)\n m = max(m, 0.1 * s)\n y = s - m + K\n}\n",
    "rnn const_state {\n dim K\n input x[K]\n state c[K]\n output y[K]\n c = x\n y = c + 1\n}\n",
    /* no dims at all: every tile a scalar */
    "rnn no_dims {\n input x, a\n state h\n output y\n h = sigmoid(a) * h + x\n y = h * x\n}\n",
};

/* Variants that have a chunk form, none of them an example: the
 * derivation must get them from the algebra alone. */
const char *const t_chunk_variants[] = {
    /* decay after the erase: the inputs decay too */
    "rnn decay_after {\n dim K, V\n input q[K], k[K], v[V], b, g\n state S[K, V]\n output o[V]\n"
    " kn = l2norm(k)\n S = S + sigmoid(b) * outer(kn, v - kn @ S)\n S = exp(-softplus(g)) * S\n"
    " o = q @ S\n}\n",
    /* the erase and the write as separate terms, a sigmoid gate, an output gate */
    "rnn split_terms {\n dim K, V\n input q[K], k[K], v[V], b, a, og[V]\n state S[K, V]\n output o[V]\n"
    " kn = l2norm(k)\n beta = 2 * sigmoid(b)\n S = sigmoid(a) * S\n"
    " S = S - beta * outer(kn, kn @ S) + beta * outer(kn, v)\n o = (q @ S) * sigmoid(og)\n}\n",
    /* a normaliser next to a delta rule */
    "rnn delta_norm {\n dim K, V\n input q[K], k[K], v[V], b\n state S[K, V], z[K]\n output o[V]\n"
    " kn = l2norm(k)\n S = S + sigmoid(b) * outer(kn, v - kn @ S)\n z = 0.9 * z + relu(k)\n"
    " o = (q @ S) / (abs(q @ z) + 1)\n}\n",
    /* a decay per value column (S Diag(a)), and a normaliser beside it */
    "rnn vdecay_chunk {\n dim K, V\n input q[K], k[K], v[V], a[V]\n state S[K, V], z[K]\n output o[V]\n"
    " S = S * sigmoid(a) + outer(k, v)\n z = z + k\n o = (q @ S) / (1 + abs(q @ z))\n}\n",
    /* a per-key decay from another parameterisation, times a scalar gate */
    "rnn gla_variant {\n dim K, V\n input q[K], k[K], v[V], gk[K], s\n state S[K, V]\n output o[V]\n"
    " S = exp(-softplus(gk)) * sigmoid(s) * S + outer(k, v)\n o = q @ S\n}\n",
    /* per-key decays strong enough that a chunk's cumulative decay leaves
     * e^±20: the exact elementwise intra-chunk form */
    "rnn gla_strong {\n dim K, V\n input q[K], k[K], v[V], gk[K]\n state S[K, V]\n output o[V]\n"
    " S = exp(-8 * softplus(gk)) * S + outer(k, v)\n o = q @ S\n}\n",
    /* KDA's order (per-key decay, then the erase) with decays strong enough
     * for the exact form, unnormalised keys and β up to 2 */
    "rnn kda_strong {\n dim K, V\n input q[K], k[K], v[V], f[K], b\n state S[K, V]\n output o[V]\n"
    " kn = l2norm(k)\n S = exp(-8 * softplus(f)) * S\n S = S + 2 * sigmoid(b) * outer(kn, v - kn @ S)\n"
    " o = q @ S\n}\n",
    /* readouts before and after the update in one rnn, scalar decay */
    "rnn before_after {\n dim K, V\n input q[K], k[K], v[V], a\n state S[K, V]\n output o[V], y[V]\n"
    " o = q @ S\n S = sigmoid(a) * S + outer(k, v)\n y = (2 * q) @ S + o\n}\n",
    /* a readout before a delta-rule update (WY values, a strict mask) */
    "rnn before_delta {\n dim K, V\n input q[K], k[K], v[V], b, g\n state S[K, V]\n output o[V]\n"
    " kn = l2norm(k)\n o = q @ S\n S = exp(-softplus(g)) * S\n"
    " S = S + sigmoid(b) * outer(kn, v - kn @ S)\n}\n",
    /* several input terms, a decay written as a product of two gates */
    "rnn two_inputs {\n dim K, V\n input q[K], k1[K], v1[V], k2[K], v2[V], g, h\n state S[K, V]\n"
    " output o[V]\n S = exp(g) * sigmoid(h) * S + outer(k1, v1) - 0.5 * outer(k2, v2)\n o = q @ S\n}\n",
    /* two delta updates per token with gates of different forms, no decay,
     * an output gate */
    "rnn dp_gates {\n dim K, V\n input q[K], k1[K], k2[K], v1[V], v2[V], b1, b2, og[V]\n"
    " state S[K, V]\n output o[V]\n k1n = l2norm(k1)\n k2n = l2norm(k2)\n"
    " S = S + sigmoid(b1) * outer(k1n, v1 - k1n @ S)\n"
    " S = S + 2 * sigmoid(b2) * outer(k2n, v2 - k2n @ S)\n o = (q @ S) * sigmoid(og)\n}\n",
    /* three per token after a sigmoid decay (a constant strength, a value
     * used twice), readouts before and after, a normaliser beside it */
    "rnn dp_three {\n dim K, V\n input q[K], k[K], k2[K], k3[K], v[V], w[V], b, a\n"
    " state S[K, V], z[K]\n output o[V], y[V]\n y = q @ S\n kn = l2norm(k)\n"
    " k2n = l2norm(k2)\n k3n = l2norm(k3)\n S = sigmoid(a) * S\n"
    " S = S + sigmoid(b) * outer(kn, v - kn @ S)\n S = S + 0.5 * outer(k2n, w - k2n @ S)\n"
    " S = S + sigmoid(-b) * outer(k3n, v - k3n @ S)\n z = 0.9 * z + relu(k)\n"
    " o = (q @ S) / (1 + abs(q @ z))\n}\n",
    /* Gated DeltaNet's decay and erase in one statement (the decay inside
     * the erase's k @ (a S)) */
    "rnn gdn_one {\n dim K, V\n input q[K], k[K], v[V], g, b\n state S[K, V]\n output o[V]\n"
    " kn = l2norm(k)\n a = exp(-softplus(g))\n S = a * S + sigmoid(b) * outer(kn, v - a * (kn @ S))\n"
    " o = q @ S\n}\n",
    /* the same with the decay's scalar on the erase's left, terms apart */
    "rnn gdn_terms {\n dim K, V\n input q[K], k[K], v[V], g, b\n state S[K, V]\n output o[V]\n"
    " kn = l2norm(k)\n a = sigmoid(g)\n beta = sigmoid(b)\n"
    " S = a * S - a * beta * outer(kn, kn @ S) + beta * outer(kn, v)\n o = q @ S\n}\n",
    /* a normaliser z[K] with a per-key decay of its own beside GLA's S
     * (a vector state's elementwise decay: the chunk form's V = 1) */
    "rnn gla_z {\n dim K, V\n input q[K], k[K], v[V], gk[K], gz[K]\n state S[K, V], z[K]\n"
    " output o[V]\n g = logsigmoid(gk) / 16\n S = exp(g) * S + outer(k, v)\n"
    " z = exp(-softplus(gz)) * z + relu(k)\n o = (q @ S) / (abs(q @ z) + 1)\n}\n",
    /* KDA's per-key decay inside the erase, one statement */
    "rnn kda_one {\n dim K, V\n input q[K], k[K], v[V], f[K], b\n state S[K, V]\n output o[V]\n"
    " kn = l2norm(k)\n d = exp(-softplus(f))\n S = d * S + sigmoid(b) * outer(kn, v - kn @ (d * S))\n"
    " o = q @ S\n}\n",
    /* spellings the derivation takes apart: a decay written as a quotient
     * inside the erase, beta on the key's side (S); KDA's decay on the
     * erase's key, (k * d) @ P; a readout through the decay, q @ (d * P);
     * a normaliser read as sum(q * z); Comba's alpha I - beta k kᵀ with a
     * scalar alpha (Q: alpha (I - (beta / alpha) k kᵀ)) */
    "rnn spellings {\n dim K, V\n input q[K], k[K], v[V], f[K], b, a\n"
    " state S[K, V], P[K, V], z[K], Q[K, V]\n output o[V]\n kn = l2norm(k)\n beta = sigmoid(b)\n"
    " d = exp(-softplus(f))\n"
    " e = exp(-softplus(a))\n"
    " S = e / exp(softplus(a)) * S + outer(kn * beta, v - kn @ (e / exp(softplus(a)) * S))\n"
    " P = d * P + beta * outer(kn, v - (kn * d) @ P)\n z = d * z + relu(k)\n"
    " Q = sigmoid(a) * Q - beta * outer(kn, kn @ Q) + beta * outer(kn, v)\n"
    " o = (q @ S + q @ (d * P)) / (1 + abs(sum(q * z))) + q @ Q\n}\n",
    /* a delta product with scalar decays between and after its erases (they
     * commute with them), the first erase written with -beta on the key
     * (S); with a per-key decay before its erases, strong enough for the
     * exact form (P) */
    "rnn dp_between {\n dim K, V\n input q[K], k1[K], k2[K], v1[V], v2[V], b1, b2, a, c, f[K]\n"
    " state S[K, V], P[K, V]\n output o[V]\n k1n = l2norm(k1)\n k2n = l2norm(k2)\n"
    " S = S + outer(-sigmoid(b1) * k1n, k1n @ S) + outer(k1n, sigmoid(b1) * v1)\n"
    " S = exp(-softplus(a)) * S\n S = S + sigmoid(b2) * outer(k2n, v2 - k2n @ S)\n"
    " S = sigmoid(c) * S\n P = exp(-8 * softplus(f)) * P\n"
    " P = P + sigmoid(b1) * outer(k1n, v1 - k1n @ P)\n P = P + sigmoid(b2) * outer(k2n, v2 - k2n @ P)\n"
    " o = q @ S + q @ P\n}\n",
    /* states declared [V, K], read and erased as S @ x: K is their key
     * (KDA's per-key decay written S * d, and a scalar decay) */
    "rnn transposed {\n dim K, V\n input q[K], k[K], v[V], b, a, f[K]\n state S[V, K], P[V, K]\n"
    " output o[V]\n kn = l2norm(k)\n S = S * exp(-softplus(f))\n"
    " S = S + sigmoid(b) * outer(v - S @ kn, kn)\n P = sigmoid(a) * P + outer(v, k)\n"
    " o = S @ q + P @ (q * 0.5)\n}\n",
    /* erases whose two sides differ (diagonal plus rank 1): after a scalar
     * decay, with inputs along the written side and along another key
     * (P); with no decay, beside a normaliser (Q) */
    "rnn dplr_two {\n dim K, V\n input q[K], k[K], v[V], a[K], b[K], w[V], g\n"
    " state P[K, V], Q[K, V], z[K]\n output o[V]\n an = l2norm(a)\n bn = an * sigmoid(b)\n"
    " P = sigmoid(g) * P\n P = P + outer(bn, (-an) @ P) + outer(k, v) + 0.5 * outer(bn, w)\n"
    " Q = Q - 0.5 * outer(l2norm(b), an @ Q) + outer(k, w)\n z = 0.9 * z + relu(k)\n"
    " o = q @ P + (q @ Q) / (1 + abs(q @ z))\n}\n",
    /* erases reading the state before a per-key decay beside them: one
     * sided, with decays strong enough for the exact form and an input
     * along another key (S); the decay on the written side (R) */
    "rnn erase_before {\n dim K, V\n input q[K], k[K], v[V], f[K], b, k2[K], v2[V], s\n"
    " state S[K, V], R[K, V]\n output o[V]\n kn = l2norm(k)\n beta = sigmoid(b)\n"
    " d = exp(-8 * softplus(f)) * sigmoid(s)\n"
    " S = d * S - beta * outer(kn, kn @ S) + beta * outer(kn, v) + outer(k2, v2)\n"
    " R = exp(-softplus(f)) * R - beta * outer(exp(-softplus(f)) * kn, kn @ R) + outer(kn, v2)\n"
    " o = q @ S + q @ R\n}\n",
    /* scalar decays of e^-300 a token and less (S with a delta rule, P
     * without): the chunk's whole decay must equal its running sum's last
     * row present bit for bit, partial chunks too */
    "rnn strong_scalar {\n dim K, V\n input q[K], k[K], v[V], g, b\n state S[K, V], P[K, V]\n"
    " output o[V]\n kn = l2norm(k)\n a = exp(-1000 * softplus(g))\n"
    " S = a * S + sigmoid(b) * outer(kn, v - kn @ (a * S))\n P = a * P + outer(k, v)\n"
    " o = q @ S + q @ P\n}\n",
};

const int t_nvariants = (int)(sizeof t_variants / sizeof t_variants[0]);
const int t_nchunk_variants = (int)(sizeof t_chunk_variants / sizeof t_chunk_variants[0]);

static Arena arena;
static void setup(void) { arena_init(&arena); }
static void teardown(void) { arena_fini(&arena); }

static const OCase cases[] = {
    {.B = 1, .T = 1, .H = 1, .seed = 1, .lo = -1, .hi = 1},
    {.B = 3, .T = 7, .H = 2, .seed = 2, .lo = -1, .hi = 1, .final_state = true},
    {.B = 2, .T = 40, .H = 2, .seed = 3, .lo = -1, .hi = 1, .init_state = true, .final_state = true},
    {.B = 1, .T = 12, .H = 2, .seed = 4, .lo = -1, .hi = 1, .init_state = true,
     .final_state = true, .nseq = 3, .cu = {0, 1, 5, 12}},
    {.B = 3, .T = 1000, .H = 2, .seed = 5, .lo = -1, .hi = 1, .init_state = true,
     .final_state = true},
    {.B = 1, .T = 700, .H = 2, .seed = 6, .lo = -1, .hi = 1, .final_state = true, .nseq = 3,
     .cu = {0, 333, 334, 700}},
};

/* Chunk boundaries: T = 1, C - 1, C, C + 1 for C = 64, and packed
 * sequences that end on, before and after a boundary. */
static const OCase chunk_cases[] = {
    {.B = 2, .T = 1, .H = 2, .seed = 11, .lo = -1, .hi = 1, .init_state = true, .final_state = true},
    {.B = 2, .T = 63, .H = 2, .seed = 12, .lo = -1, .hi = 1, .final_state = true},
    {.B = 1, .T = 64, .H = 3, .seed = 13, .lo = -1, .hi = 1, .init_state = true, .final_state = true},
    {.B = 2, .T = 65, .H = 1, .seed = 14, .lo = -1, .hi = 1, .init_state = true},
    {.B = 1, .T = 260, .H = 2, .seed = 15, .lo = -1, .hi = 1, .init_state = true,
     .final_state = true, .nseq = 4, .cu = {0, 64, 65, 193, 260}},
};

static void check_cases(const char *label, const Graph *g, const Kernel *k, const OCase *cs,
                        size_t n);

/* Both the kernel of the full pipeline and the one lowered straight from
 * the unsimplified graph, each as emitted C and as JIT code. */
static void check_kernel(const char *label, const Graph *g, const Kernel *k) {
  check_cases(label, g, k, cases, sizeof cases / sizeof cases[0]);
}

static void check_cases(const char *label, const Graph *g, const Kernel *k, const OCase *cs,
                        size_t ncases) {
  char msg[512];
  void *handle = NULL, *jit = NULL;
  void *fns[2];
  fns[0] = o_build_c(k, msg, sizeof msg, &handle);
  ck_assert_msg(fns[0] != NULL, "%s: %s", label, msg);
  fns[1] = o_build_jit(k, msg, sizeof msg, &jit);
  ck_assert_msg(fns[1] != NULL, "%s: %s", label, msg);
  for (int target = 0; target < 2; target++) {
    for (size_t i = 0; i < ncases; i++) {
      double err = o_run_case(g, k, fns[target], &cs[i], msg, sizeof msg);
      ck_assert_msg(err >= 0 && err <= 2e-4,
                    "%s [%s], case %zu (B=%d T=%d H=%d%s%s, LRC_TEST_SEED=%llu): %s: "
                    "rel error %g",
                    label,
                    target ? "JIT" : "emitted C", i, cs[i].B, cs[i].T, cs[i].H,
                    cs[i].init_state ? ", initial state" : "",
                    cs[i].nseq ? ", packed" : "", o_seed_base(), msg, err);
    }
  }
  dlclose(handle);
  cg_jit_free(jit);
}

static void check_source(const char *label, const char *src) {
  char *diags = NULL;
  Graph *g = t_graph(&arena, src, &diags);
  ck_assert_msg(g != NULL, "%s does not compile:\n%s", label, diags);
  free(diags);
  o_bind_small_dims(g);
  const char *why = NULL;
  Diags d;
  diag_init(&d, &arena);
  Kernel *k = pass_pipeline(&arena, g, PLAN_RECURRENT, 0, &d, &why);
  ck_assert_msg(k != NULL, "%s: %s", label, why);
  check_kernel(label, g, k);
  k = pass_lower_recurrent(&arena, g, g->name, &why);
  ck_assert_msg(k != NULL, "%s: %s", label, why);
  char raw[300];
  snprintf(raw, sizeof raw, "%s (unsimplified)", label);
  check_kernel(raw, g, k);
}

START_TEST(variant) {
  char label[32];
  snprintf(label, sizeof label, "variant %d", _i);
  check_source(label, t_variants[_i]);
}
END_TEST

/* Every examples/NAME.lr (loop index into the sorted directory listing). */
static char **example_files;
static int nexamples;

START_TEST(example) {
  char path[512];
  snprintf(path, sizeof path, "examples/%s", example_files[_i]);
  char *src = t_read(path, NULL);
  ck_assert_msg(src != NULL, "cannot read %s", path);
  check_source(path, src);
  free(src);
}
END_TEST

/* Example _i's chunk kernels at each chunk size, with small dims (5, 7,
 * 3, ...) or wide ones (multiples of the vector width, so that the
 * register-blocked products run, full blocks and partial ones). An
 * example whose transition has no chunk form is skipped. */
/* examples/FILE's graph (path: its path; *src: its text, which the
 * graph's spans point into, for the caller to free). */
static Graph *example_graph(const char *file, char *path, size_t len, char **src) {
  snprintf(path, len, "examples/%s", file);
  *src = t_read(path, NULL);
  ck_assert_msg(*src != NULL, "cannot read %s", path);
  char *diags = NULL;
  Graph *g = t_graph(&arena, *src, &diags);
  ck_assert_msg(g != NULL, "%s", diags);
  free(diags);
  return g;
}

/* g's chunk kernel at chunk size C, or NULL. */
static Kernel *chunk_kernel(Graph *g, int C) {
  const char *why = NULL;
  Diags d;
  diag_init(&d, &arena);
  return pass_pipeline(&arena, g, PLAN_CHUNK, C, &d, &why);
}

static void example_chunks(int i, bool wide, const int *sizes, int nsizes) {
  char path[512], *src;
  Graph *g = example_graph(example_files[i], path, sizeof path, &src);
  if (wide) o_bind_wide_dims(g);
  else o_bind_small_dims(g);
  for (int s = 0; s < nsizes; s++) {
    Kernel *k = chunk_kernel(g, sizes[s]);
    if (!k) break;
    char label[600];
    snprintf(label, sizeof label, "%s (%s dims, chunk C=%d)", path, wide ? "wide" : "small",
             sizes[s]);
    if (wide) check_cases(label, g, k, chunk_cases, sizeof chunk_cases / sizeof chunk_cases[0]);
    else check_kernel(label, g, k);
  }
  free(src);   /* the graph's spans point into it */
}

/* Chunk sizes that divide T, do not, and exceed it. */
START_TEST(example_chunk) {
  static const int sizes[] = {1, 3, 16};
  example_chunks(_i, false, sizes, 3);
}
END_TEST

/* C = 64 and 16 across chunk boundaries; C = 5 for odd block counts. */
START_TEST(example_chunk_wide) {
  static const int sizes[] = {64, 16, 5};
  example_chunks(_i, true, sizes, 3);
}
END_TEST

/* One long chunk (C = T = 2000) with a scalar or per-key decay, from an
 * initial state: |G| reaches the hundreds, and the weights exp(GL - G_j)
 * would leave the final state 1e-3 off (scalar decays) or 2e-5 (per-key);
 * the decays to the chunk's end are summed from the end there (chunk.c,
 * LONG_CHUNK). */
START_TEST(long_chunk) {
  static const struct {
    const char *file;
    int C;   /* (a delta product's two steps a token: 2C rows) */
  } runs[] = {{"gated_deltanet.lr", 2000}, {"simple_gla.lr", 2000}, {"mamba2.lr", 2000},
              {"gla.lr", 2000},            {"kda.lr", 2000},        {"deltaproduct.lr", 1000}};
  const int C = runs[_i].C;
  const OCase lc[] = {{.B = 1, .T = C, .H = 1, .seed = 31, .lo = -1, .hi = 1, .init_state = true,
                       .final_state = true}};
  char path[512], *src;
  Graph *g = example_graph(runs[_i].file, path, sizeof path, &src);
  o_bind_small_dims(g);
  Kernel *k = chunk_kernel(g, C);
  ck_assert_msg(k != NULL, "%s: no chunk kernel", path);
  char label[600];
  snprintf(label, sizeof label, "%s (chunk C=%d)", path, C);
  check_cases(label, g, k, lc, 1);
  free(src);
}
END_TEST

/* Scalar decays of e^-60 and less a token at C = 64, one chunk of
 * tokens, from an initial state: the weights to the chunk's end are sums
 * from the end (chunk.c's R tile); as exp(GL - G_j) they missed 1 by
 * |GL| 2^-24, the final states 1e-3 off. */
START_TEST(strong_scalar_decay) {
  char *diags = NULL;
  Graph *g = t_graph(&arena,
                     "rnn strong {\n dim K, V\n input q[K], k[K], v[V], g, b\n state S[K, V], P[K, V]\n"
                     " output o[V]\n kn = l2norm(k)\n a = exp(-200 * softplus(g))\n"
                     " S = a * S + sigmoid(b) * outer(kn, v - kn @ (a * S))\n P = a * P + outer(k, v)\n"
                     " o = q @ S + q @ P\n}\n",
                     &diags);
  ck_assert_msg(g != NULL, "%s", diags);
  free(diags);
  o_bind_small_dims(g);
  const OCase lc[] = {{.B = 2, .T = 64, .H = 1, .seed = 5, .lo = -1, .hi = 1, .init_state = true,
                       .final_state = true}};
  Kernel *k = chunk_kernel(g, 64);
  ck_assert(k != NULL);
  check_cases("strong scalar decay (C=64)", g, k, lc, 1);
}
END_TEST

/* Comba's alpha I - beta k kᵀ with a decay that wipes the state every
 * token (alpha < e^-31): the erase reads the state before the decay, so
 * nothing divides by alpha (beta / alpha overflowed to inf before). */
START_TEST(comba_strong) {
  char *diags = NULL;
  Graph *g = t_graph(&arena,
                     "rnn comba {\n dim K, V\n input q[K], k[K], v[V], g, b\n state S[K, V]\n"
                     " output o[V]\n kn = l2norm(k)\n beta = sigmoid(b)\n"
                     " S = exp(-100 * softplus(g)) * S - beta * outer(kn, kn @ S) + beta * outer(kn, v)\n"
                     " o = q @ S\n}\n",
                     &diags);
  ck_assert_msg(g != NULL, "%s", diags);
  free(diags);
  o_bind_small_dims(g);
  static const int sizes[] = {1, 16};
  for (int i = 0; i < 2; i++) {
    Kernel *k = chunk_kernel(g, sizes[i]);
    ck_assert(k != NULL);
    check_kernel(sizes[i] == 1 ? "comba (C=1)" : "comba (C=16)", g, k);
  }
}
END_TEST

/* Each chunk variant: small dims at C = 1, 3, 16; wide dims at C = 64
 * and 16 across chunk boundaries (under the sanitizers, LRC_SAN=1, C = 3
 * and the wide dims' 16 left to the plain run: the sanitizers look for
 * memory errors, which the other sizes meet as well). */
START_TEST(variant_chunk) {
  char *diags = NULL;
  Graph *g = t_graph(&arena, t_chunk_variants[_i], &diags);
  ck_assert_msg(g != NULL, "chunk variant %d does not compile:\n%s", _i, diags);
  free(diags);
  for (int wide = 0; wide < 2; wide++) {
    if (wide) o_bind_wide_dims(g);
    else o_bind_small_dims(g);
    static const int sizes[2][3] = {{1, 3, 16}, {64, 16, 0}}, san_sizes[2][3] = {{1, 16, 0}, {64, 0, 0}};
    const char *san = getenv("LRC_SAN");
    const int(*sz)[3] = san && !strcmp(san, "1") ? san_sizes : sizes;
    for (int i = 0; i < 3 && sz[wide][i]; i++) {
      const char *why = NULL;
      Diags d;
      diag_init(&d, &arena);
      Kernel *k = pass_pipeline(&arena, g, PLAN_CHUNK, sz[wide][i], &d, &why);
      ck_assert_msg(k != NULL, "chunk variant %d: no chunk kernel: %s", _i,
                    why ? why : d.nerrors ? "diagnostics" : "?");
      ck_assert_msg(strncmp(k->algo, "chunk(C=", 8) == 0, "%s", k->algo);
      char label[100];
      snprintf(label, sizeof label, "chunk variant %d (%s dims, C=%d)", _i,
               wide ? "wide" : "small", sz[wide][i]);
      if (wide) check_cases(label, g, k, chunk_cases, sizeof chunk_cases / sizeof chunk_cases[0]);
      else check_kernel(label, g, k);
    }
  }
}
END_TEST

START_TEST(examples_exist) {
  ck_assert_msg(nexamples >= 14, "expected at least 14 examples, found %d", nexamples);
}
END_TEST

Suite *emit_c_suite(void) {
  nexamples = t_examples(&example_files);
  Suite *s = suite_create("emit_c");
  TCase *tc = tcase_create("oracle");
  tcase_set_timeout(tc, 120);
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_loop_test(tc, variant, 0, t_nvariants);
  tcase_add_loop_test(tc, example, 0, nexamples);
  tcase_add_loop_test(tc, example_chunk, 0, nexamples);
  tcase_add_loop_test(tc, example_chunk_wide, 0, nexamples);
  tcase_add_loop_test(tc, variant_chunk, 0, t_nchunk_variants);
  tcase_add_loop_test(tc, long_chunk, 0, 6);
  tcase_add_test(tc, comba_strong);
  tcase_add_test(tc, strong_scalar_decay);
  tcase_add_test(tc, examples_exist);
  suite_add_tcase(s, tc);
  return s;
}
