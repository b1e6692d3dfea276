/* check_interp.c — the float64 reference interpreter against hand-computed
 * recurrences. Everything else is tested against this module, so these
 * tests compute their expectations independently, with plain loops. */
#include "../test.h"
#include "runtime/rt.h"

#include <math.h>
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

/* Deterministic pseudo-random numbers in [-1, 1). */
static double rnd(unsigned *s) {
  *s = *s * 1664525u + 1013904223u;
  return (double)(*s >> 8) / (double)(1u << 23) - 1.0;
}

static void run(const Graph *g, RtInterpArgs *a) {
  char *err = NULL;
  int rc = rt_interp(g, a, &err);
  ck_assert_msg(rc == 0, "rt_interp failed: %s", err ? err : "?");
  free(err);
}

/* s = s + x; y = s: running sums, restarted per batch, from an initial state. */
START_TEST(cumulative_sum) {
  Graph *g = graph("rnn cs {\n input x\n state s\n output y\n s = s + x\n y = s\n}\n");
  enum { B = 2, T = 5, H = 3 };
  double x[B * T * H], y[B * T * H], s0[B * H], s1[B * H];
  unsigned seed = 1;
  for (int i = 0; i < B * T * H; i++) x[i] = rnd(&seed);
  for (int i = 0; i < B * H; i++) s0[i] = rnd(&seed);
  const double *ins[] = {x}, *sin_[] = {s0};
  double *outs[] = {y}, *sout[] = {s1};
  RtInterpArgs a = {.B = B, .T = T, .H = H, .inputs = ins, .state_in = sin_,
                    .outputs = outs, .state_out = sout};
  run(g, &a);
  for (int b = 0; b < B; b++)
    for (int h = 0; h < H; h++) {
      double acc = s0[b * H + h];
      for (int t = 0; t < T; t++) {
        acc += x[(b * T + t) * H + h];
        ck_assert_double_eq_tol(y[(b * T + t) * H + h], acc, 1e-15);
      }
      ck_assert_double_eq_tol(s1[b * H + h], acc, 1e-15);
    }
}
END_TEST

/* Linear attention with a per-head decay param and the elu+1 feature map:
 * S = a_h S + phi(k) vᵀ, o = Sᵀ phi(q), checked against explicit loops. */
START_TEST(decayed_linear_attention) {
  Graph *g = graph(
      "rnn la {\n dim K = 3, V = 2\n input q[K], k[K], v[V]\n param a\n state S[K, V]\n"
      " output o[V]\n fn phi(x) = elu(x) + 1\n S = a * S + outer(phi(k), v)\n"
      " o = phi(q) @ S\n}\n");
  enum { B = 1, T = 4, H = 2, K = 3, V = 2 };
  double q[T * H * K], k[T * H * K], v[T * H * V], a[H] = {0.9, 0.5}, o[T * H * V];
  unsigned seed = 7;
  for (int i = 0; i < T * H * K; i++) q[i] = rnd(&seed), k[i] = rnd(&seed);
  for (int i = 0; i < T * H * V; i++) v[i] = rnd(&seed);
  const double *ins[] = {q, k, v}, *pars[] = {a};
  double *outs[] = {o};
  RtInterpArgs ar = {.B = B, .T = T, .H = H, .inputs = ins, .params = pars, .outputs = outs};
  run(g, &ar);
  for (int h = 0; h < H; h++) {
    double S[K][V] = {{0}};
    for (int t = 0; t < T; t++) {
      const double *qt = &q[(t * H + h) * K], *kt = &k[(t * H + h) * K];
      const double *vt = &v[(t * H + h) * V];
      for (int i = 0; i < K; i++)
        for (int j = 0; j < V; j++) {
          double pk = kt[i] > 0 ? kt[i] + 1 : exp(kt[i]);
          S[i][j] = a[h] * S[i][j] + pk * vt[j];
        }
      for (int j = 0; j < V; j++) {
        double acc = 0;
        for (int i = 0; i < K; i++) acc += (qt[i] > 0 ? qt[i] + 1 : exp(qt[i])) * S[i][j];
        ck_assert_double_eq_tol(o[(t * H + h) * V + j], acc, 1e-14);
      }
    }
  }
}
END_TEST

/* The delta rule with a state declared [V, K] (transposed layout): the
 * final state comes out in the declared order. */
START_TEST(delta_rule_transposed_state) {
  Graph *g = graph(
      "rnn dn {\n dim K = 2, V = 3\n input k[K], v[V], beta\n state S[V, K]\n output o[V]\n"
      " S = S + beta * outer(k, v - k @ S)\n o = k @ S\n}\n");
  enum { T = 6, K = 2, V = 3 };
  double k[T * K], v[T * V], beta[T], o[T * V], s0[V * K], s1[V * K];
  unsigned seed = 3;
  for (int i = 0; i < T * K; i++) k[i] = rnd(&seed);
  for (int i = 0; i < T * V; i++) v[i] = rnd(&seed);
  for (int i = 0; i < T; i++) beta[i] = 0.5 + 0.5 * rnd(&seed);
  for (int i = 0; i < V * K; i++) s0[i] = rnd(&seed);
  const double *ins[] = {k, v, beta}, *sin_[] = {s0};
  double *outs[] = {o}, *sout[] = {s1};
  RtInterpArgs a = {.B = 1, .T = T, .H = 1, .inputs = ins, .state_in = sin_, .outputs = outs,
                    .state_out = sout};
  run(g, &a);
  double S[K][V];
  for (int i = 0; i < K; i++)
    for (int j = 0; j < V; j++) S[i][j] = s0[j * K + i];
  for (int t = 0; t < T; t++) {
    const double *kt = &k[t * K], *vt = &v[t * V];
    double kS[V];
    for (int j = 0; j < V; j++) {
      kS[j] = 0;
      for (int i = 0; i < K; i++) kS[j] += kt[i] * S[i][j];
    }
    for (int i = 0; i < K; i++)
      for (int j = 0; j < V; j++) S[i][j] += beta[t] * kt[i] * (vt[j] - kS[j]);
    for (int j = 0; j < V; j++) {
      double acc = 0;
      for (int i = 0; i < K; i++) acc += kt[i] * S[i][j];
      ck_assert_double_eq_tol(o[t * V + j], acc, 1e-14);
    }
  }
  for (int i = 0; i < K; i++)
    for (int j = 0; j < V; j++) ck_assert_double_eq_tol(s1[j * K + i], S[i][j], 1e-14);
}
END_TEST

/* Packed variable-length batch: each sequence starts from its own initial
 * state and ends in its own final state. */
START_TEST(varlen_sequences) {
  Graph *g = graph("rnn ema {\n input x\n param a\n state s\n output y\n"
                   " s = a * s + (1 - a) * x\n y = s * s\n}\n");
  enum { H = 2, N = 3, TOT = 9 };
  long cu[N + 1] = {0, 1, 4, 9};
  double x[TOT * H], y[TOT * H], a[H] = {0.25, 0.75}, s0[N * H], s1[N * H];
  unsigned seed = 11;
  for (int i = 0; i < TOT * H; i++) x[i] = rnd(&seed);
  for (int i = 0; i < N * H; i++) s0[i] = rnd(&seed);
  const double *ins[] = {x}, *pars[] = {a}, *sin_[] = {s0};
  double *outs[] = {y}, *sout[] = {s1};
  RtInterpArgs ar = {.B = 1, .T = TOT, .H = H, .cu_seqlens = cu, .nseq = N, .inputs = ins,
                     .params = pars, .state_in = sin_, .outputs = outs, .state_out = sout};
  run(g, &ar);
  for (int n = 0; n < N; n++)
    for (int h = 0; h < H; h++) {
      double s = s0[n * H + h];
      for (long t = cu[n]; t < cu[n + 1]; t++) {
        s = a[h] * s + (1 - a[h]) * x[t * H + h];
        ck_assert_double_eq_tol(y[t * H + h], s * s, 1e-15);
      }
      ck_assert_double_eq_tol(s1[n * H + h], s, 1e-15);
    }
}
END_TEST

/* Built-ins with closed forms: l2norm, softmax, mean, max, sigmoid family. */
START_TEST(builtins_values) {
  Graph *g = graph(
      "rnn b {\n dim K = 4\n input x[K]\n output n[K], p[K], m, z[K]\n"
      " n = l2norm(x)\n p = softmax(x)\n m = mean(x) + max(sum(x), 0)\n"
      " z = sigmoid(x) + logsigmoid(x) + softplus(x) + silu(x) + relu(x) + tanh(x) + abs(x)\n}\n");
  double x[4] = {0.5, -1.25, 2.0, 0.125}, n[4], p[4], m[1], z[4];
  const double *ins[] = {x};
  double *outs[] = {n, p, m, z};
  RtInterpArgs a = {.B = 1, .T = 1, .H = 1, .inputs = ins, .outputs = outs};
  run(g, &a);
  double ss = 0, es = 0, sum = 0;
  for (int i = 0; i < 4; i++) ss += x[i] * x[i], es += exp(x[i]), sum += x[i];
  for (int i = 0; i < 4; i++) {
    ck_assert_double_eq_tol(n[i], x[i] / sqrt(ss + 1e-6), 1e-15);
    ck_assert_double_eq_tol(p[i], exp(x[i]) / es, 1e-15);
    double sg = 1 / (1 + exp(-x[i]));
    double want = sg + log(sg) + log(1 + exp(x[i])) + x[i] * sg + (x[i] > 0 ? x[i] : 0) +
                  tanh(x[i]) + fabs(x[i]);
    ck_assert_double_eq_tol(z[i], want, 1e-14);
  }
  ck_assert_double_eq_tol(m[0], sum / 4 + (sum > 0 ? sum : 0), 1e-15);
}
END_TEST

START_TEST(unbound_dim_is_an_error) {
  Graph *g = graph("rnn u {\n dim K\n input x[K]\n output y[K]\n y = x\n}\n");
  double x[1], y[1];
  const double *ins[] = {x};
  double *outs[] = {y};
  RtInterpArgs a = {.B = 1, .T = 1, .H = 1, .inputs = ins, .outputs = outs};
  char *err = NULL;
  ck_assert_int_eq(rt_interp(g, &a, &err), -1);
  ck_assert_ptr_nonnull(strstr(err, "dim 'K'"));
  ck_assert_ptr_nonnull(strstr(err, "--dim K=N"));
  free(err);
}
END_TEST

Suite *interp_suite(void) {
  Suite *s = suite_create("interp");
  TCase *tc = tcase_create("core");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, cumulative_sum);
  tcase_add_test(tc, decayed_linear_attention);
  tcase_add_test(tc, delta_rule_transposed_state);
  tcase_add_test(tc, varlen_sequences);
  tcase_add_test(tc, builtins_values);
  tcase_add_test(tc, unbound_dim_is_an_error);
  suite_add_tcase(s, tc);
  return s;
}
