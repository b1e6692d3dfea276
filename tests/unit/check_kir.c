/* check_kir.c — kernel IR statements that the chunk and scan algorithms
 * build on (row loads and stores of a partial chunk, causal masks,
 * cumulative sums, triangular solves, linear scans), and the fusion of
 * element-wise nests, through both backends, against plain C. */
#include "../oracle.h"
#include "../test.h"
#include "backends/c/backend.h"
#include "passes/passes.h"
#include "runtime/rt.h"

#include <dlfcn.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static Arena arena;
static void setup(void) { arena_init(&arena); }
static void teardown(void) { arena_fini(&arena); }

enum { K = 3, C = 5 };

/* y = (I + N)^-1 cumsum(x) over the tokens of each sequence (at most C),
 * N[i][j] = 0.25 for j < i (a strictly lower mask times a constant), with
 * exclusive cumsum when `exclusive`. */
static Kernel *build(bool exclusive) {
  char *d = NULL;
  Graph *g = t_graph(&arena, "rnn t {\n dim K = 3\n input x[K]\n output y[K]\n y = x\n}\n", &d);
  ck_assert_msg(g != NULL, "%s", d);
  free(d);
  Kernel *k = kir_new(&arena, g, "kt", "test");
  int dc = kir_add_dim(k, "C", C, true), dc2 = kir_add_dim(k, "C2", C, true);
  int bx = kir_buf(k, "x", KB_INPUT, KT_F32, 0, false);
  int by = kir_buf(k, "y", KB_OUTPUT, KT_F32, 0, false);
  int bcu = kir_buf(k, "cu_seqlens", KB_SEQLENS, KT_I64, 0, true);
  DimSet dK = 1u << 0, dC = 1u << dc, dC2 = 1u << dc2;
  int X = kir_tile(k, "X", dK | dC), N = kir_tile(k, "N", dC | dC2);
  int vbh = kir_var(k, "bh"), vn = kir_var(k, "n"), vh = kir_var(k, "h");
  KStmt *par = kir_stmt(k, &k->body, KS_FOR);
  par->var = vbh, par->parallel = true, par->lo = kir_ic(k, 0);
  int iH = kir_iarg(k, KA_H);
  par->hi = kir_ibin(k, KI_MUL, kir_iarg(k, KA_NSEQ), iH);
  KStmt *s = kir_stmt(k, &par->body, KS_LET);
  s->var = vn, s->idx = kir_ibin(k, KI_DIV, kir_ivar(k, vbh), iH);
  s = kir_stmt(k, &par->body, KS_LET);
  s->var = vh, s->idx = kir_ibin(k, KI_MOD, kir_ivar(k, vbh), iH);
  int bos = kir_iseqlen(k, bcu, kir_ivar(k, vn));
  int eos = kir_iseqlen(k, bcu, kir_ibin(k, KI_ADD, kir_ivar(k, vn), kir_ic(k, 1)));
  int rows = kir_ibin(k, KI_SUB, eos, bos);
  int off = kir_ibin(k, KI_MUL, kir_ibin(k, KI_ADD, kir_ibin(k, KI_MUL, bos, iH), kir_ivar(k, vh)),
                     kir_ic(k, K));
  int stride = kir_ibin(k, KI_MUL, iH, kir_ic(k, K));
  KStmt *ld = kir_stmt(k, &par->body, KS_LOAD);
  ld->tile = X, ld->buf = bx, ld->idx = off, ld->rowdim = dc, ld->rows = rows, ld->rowstride = stride;
  KStmt *cs = kir_stmt(k, &par->body, KS_CUMSUM);
  cs->tile = X, cs->dim = dc, cs->exclusive = exclusive;
  KStmt *nest = kir_stmt(k, &par->body, KS_NEST);
  nest->space = dC | dC2;
  kir_assign(k, nest, N, KACC_SET, kir_ebinary(k, OP_MUL, kir_econst(k, 0.25), kir_emask(k, dc, dc2, true)));
  KStmt *ts = kir_stmt(k, &par->body, KS_TRISOLVE);
  ts->tile = X, ts->tile2 = N, ts->dim = dc, ts->dim2 = dc2;
  KStmt *st = kir_stmt(k, &par->body, KS_STORE);
  st->tile = X, st->buf = by, st->idx = off, st->rowdim = dc, st->rows = rows, st->rowstride = stride;
  const char *bad = kir_verify(k);
  ck_assert_msg(bad == NULL, "%s", bad);
  return k;
}

/* Kernel k as emitted C (fns[0]) and as JIT code (fns[1]). */
static void build_both(const Kernel *k, void *fns[2], void **handle, void **jit) {
  char msg[512];
  fns[0] = o_build_c(k, msg, sizeof msg, handle);
  ck_assert_msg(fns[0] != NULL, "%s", msg);
  fns[1] = o_build_jit(k, msg, sizeof msg, jit);
  ck_assert_msg(fns[1] != NULL, "%s", msg);
}

static void expected(const float *x, float *y, const int64_t *cu, int nseq, int H, bool exclusive) {
  for (int n = 0; n < nseq; n++)
    for (int h = 0; h < H; h++) {
      int L = (int)(cu[n + 1] - cu[n]);
      double a[C][K] = {{0}};
      for (int d = 0; d < K; d++) {
        double acc = 0;
        for (int i = 0; i < C; i++) {
          double xi = i < L ? x[((cu[n] + i) * H + h) * K + d] : 0;
          if (exclusive) a[i][d] = acc, acc += xi;
          else acc += xi, a[i][d] = acc;
        }
      }
      for (int i = 1; i < C; i++)
        for (int j = 0; j < i; j++)
          for (int d = 0; d < K; d++) a[i][d] -= 0.25 * a[j][d];
      for (int i = 0; i < L; i++)
        for (int d = 0; d < K; d++) y[((cu[n] + i) * H + h) * K + d] = (float)a[i][d];
    }
}

static void run_both(bool exclusive) {
  Kernel *k = build(exclusive);
  void *handle = NULL, *jit = NULL, *fns[2];
  build_both(k, fns, &handle, &jit);
  enum { H = 2, TOT = 12, NSEQ = 4 };
  int64_t cu[NSEQ + 1] = {0, 5, 6, 9, 12};   /* a full chunk, 1, 3 and 3 rows */
  float x[TOT * H * K], y[TOT * H * K], want[TOT * H * K];
  for (int i = 0; i < TOT * H * K; i++) x[i] = (float)((i * 37) % 11) - 5.0f;
  expected(x, want, cu, NSEQ, H, exclusive);
  for (int f = 0; f < 2; f++) {
    for (int i = 0; i < TOT * H * K; i++) y[i] = NAN;
    void *ptrs[3] = {x, y, cu};
    int64_t ints[6] = {1, TOT, H, NSEQ, 0, NSEQ * H};
    char *err = NULL;
    ck_assert_int_eq(rt_call_kernel((void (*)(void))fns[f], 3, ptrs, 6, ints, &err), 0);
    for (int i = 0; i < TOT * H * K; i++)
      ck_assert_msg(fabsf(y[i] - want[i]) <= 1e-4f * (1 + fabsf(want[i])),
                    "%s%s: y[%d] = %g, want %g", f ? "JIT" : "emitted C",
                    exclusive ? " (exclusive)" : "", i, y[i], want[i]);
  }
  dlclose(handle);
  cg_jit_free(jit);
  Buf b = {0};
  kir_print(k, &b);
  ck_assert_msg(strstr(b.s, "load X = x[") && strstr(b.s, "rows C < ") &&
                strstr(b.s, "cumsum X along C") && strstr(b.s, "[C > C2]") &&
                strstr(b.s, "trisolve X = (I + N)^-1 X along C, C2"), "%s", b.s);
  buf_free(&b);
}

START_TEST(rows_mask_cumsum_trisolve) { run_both(false); }
END_TEST

START_TEST(exclusive_cumsum) { run_both(true); }
END_TEST

/* exp, log, softplus and logsigmoid, which the LLVM backend computes in
 * arithmetic (so that loops vectorise), against libm in double: across
 * the whole float range, denormals, zero, infinities and NaN, in the
 * scalar and the vector code paths (D = 1 and D = 64). */
static double softplus_ref(double x) { return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)); }

START_TEST(math_functions) {
  static const char *src =
      "rnn f {\n dim D\n input x[D]\n output e[D], l[D], sp[D], ls[D]\n"
      " e = exp(x)\n l = log(x)\n sp = softplus(x)\n ls = logsigmoid(x)\n}\n";
  enum { N = 4096 };
  static float x[N], out[4][N];
  int n = 0;
  static const float special[] = {0.0f, -0.0f, 1.0f, -1.0f, 1e-45f, 1e-40f, 1.17549435e-38f,
                                  3.4e38f, -3.4e38f, 88.7f, 88.73f, 89.0f, -87.3f, -103.0f,
                                  -104.0f, -110.0f, 0.5f, 2.0f, 1e-7f, -1e-7f, 20.0f, -20.0f,
                                  INFINITY, -INFINITY, NAN};
  for (size_t i = 0; i < sizeof special / sizeof special[0]; i++) x[n++] = special[i];
  unsigned long long s = 12345;
  while (n < N) {   /* log-uniform magnitudes, both signs */
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    double u = (double)(s >> 11) / 9007199254740992.0;
    double mag = pow(10.0, -40 + 78 * u);
    x[n] = (float)((s >> 7) & 1 ? mag : -mag);
    if (n % 3 == 0) x[n] = (float)(200 * u - 100);   /* the range exp cares about */
    n++;
  }
  for (int d = 0; d < 2; d++) {
    long D = d ? 64 : 1;
    char *diags = NULL;
    Graph *g = t_graph(&arena, src, &diags);
    ck_assert_msg(g != NULL, "%s", diags);
    free(diags);
    g->dims.data[0].size = D;
    const char *why = NULL;
    Diags dg;
    diag_init(&dg, &arena);
    Kernel *k = pass_pipeline(&arena, g, PLAN_RECURRENT, 0, &dg, &why);
    ck_assert(k != NULL);
    char msg[512];
    void *jit = NULL;
    void *fn = o_build_jit(k, msg, sizeof msg, &jit);
    ck_assert_msg(fn != NULL, "%s", msg);
    void *ptrs[6] = {x, out[0], out[1], out[2], out[3], NULL};
    int64_t T = N / D;
    int64_t ints[6] = {1, T, 1, 1, 0, 1};
    char *err = NULL;
    ck_assert_int_eq(rt_call_kernel((void (*)(void))fn, 6, ptrs, 6, ints, &err), 0);
    cg_jit_free(jit);
    for (int i = 0; i < N; i++) {
      double xi = x[i];
      double want[4] = {exp(xi), log(xi), softplus_ref(xi), -softplus_ref(-xi)};
      static const char *names[4] = {"exp", "log", "softplus", "logsigmoid"};
      for (int f = 0; f < 4; f++) {
        double w = want[f], y = out[f][i];
        float wf = (float)w;
        bool ok;
        if (isnan(wf)) ok = isnan(y);
        else if (isinf(wf)) ok = y == wf;
        else ok = fabs(y - w) <= 4e-7 * fabs(w) + 1.5e-45;
        ck_assert_msg(ok, "D=%ld: %s(%.9g) = %.9g, want %.9g", D, names[f], xi, y, w);
      }
    }
  }
}
END_TEST

/* ---------------------------------------------------------------------- */
/* The scan statement                                                      */

enum { SK = 3, SM = 4, SC = 5 };

/* Over the chunks of SC rows of each sequence, with the state s[K, M]
 * carried from chunk to chunk (zero or loaded, stored at the end):
 *   scan X along C rows < L [decay A] from s prior E
 * with X the rows of x[K, M] and A those of a[K] (broadcast over M);
 * y = X (the state after each row) and p = E (before it; without E, X
 * again). A is loaded whether the scan reads it or not. */
static Kernel *build_scan(bool decay, bool prior) {
  char *d = NULL;
  Graph *g = t_graph(&arena,
                     "rnn t {\n dim K = 3, M = 4\n input x[K, M], a[K]\n state s[K, M]\n"
                     " output y[K, M], p[K, M]\n p = s\n s = a * s + x\n y = s\n}\n",
                     &d);
  ck_assert_msg(g != NULL, "%s", d);
  free(d);
  Kernel *k = kir_new(&arena, g, "ks", "test");
  int dc = kir_add_dim(k, "C", SC, true);
  int bx = kir_buf(k, "x", KB_INPUT, KT_F32, 0, false);
  int ba = kir_buf(k, "a", KB_INPUT, KT_F32, 1, false);
  int by = kir_buf(k, "y", KB_OUTPUT, KT_F32, 0, false);
  int bp = kir_buf(k, "p", KB_OUTPUT, KT_F32, 1, false);
  int bsi = kir_buf(k, "s_in", KB_STATE_IN, KT_F32, 0, true);
  int bso = kir_buf(k, "s_out", KB_STATE_OUT, KT_F32, 0, true);
  int bcu = kir_buf(k, "cu_seqlens", KB_SEQLENS, KT_I64, 0, true);
  DimSet dK = 1u << 0, dM = 1u << 1, dC = 1u << dc;
  int X = kir_tile(k, "X", dC | dK | dM), A = kir_tile(k, "A", dC | dK);
  int S = kir_tile(k, "S", dK | dM), E = prior ? kir_tile(k, "E", dC | dK | dM) : -1;
  int vbh = kir_var(k, "bh"), vn = kir_var(k, "n"), vh = kir_var(k, "h"), vc = kir_var(k, "c");
  KStmt *par = kir_stmt(k, &k->body, KS_FOR);
  par->var = vbh, par->parallel = true, par->lo = kir_ic(k, 0);
  int iH = kir_iarg(k, KA_H);
  par->hi = kir_ibin(k, KI_MUL, kir_iarg(k, KA_NSEQ), iH);
  KStmt *s = kir_stmt(k, &par->body, KS_LET);
  s->var = vn, s->idx = kir_ibin(k, KI_DIV, kir_ivar(k, vbh), iH);
  s = kir_stmt(k, &par->body, KS_LET);
  s->var = vh, s->idx = kir_ibin(k, KI_MOD, kir_ivar(k, vbh), iH);
  int nh = kir_ibin(k, KI_ADD, kir_ibin(k, KI_MUL, kir_ivar(k, vn), iH), kir_ivar(k, vh));
  s = kir_stmt(k, &par->body, KS_IF_NULL);
  s->buf = bsi;
  KStmt *f = kir_stmt(k, &s->body, KS_FILL);
  f->tile = S, f->num = 0;
  KStmt *ld = kir_stmt(k, &s->orelse, KS_LOAD);
  ld->tile = S, ld->buf = bsi, ld->idx = kir_ibin(k, KI_MUL, nh, kir_ic(k, SK * SM));
  int bos = kir_iseqlen(k, bcu, kir_ivar(k, vn));
  int eos = kir_iseqlen(k, bcu, kir_ibin(k, KI_ADD, kir_ivar(k, vn), kir_ic(k, 1)));
  KStmt *loop = kir_stmt(k, &par->body, KS_FOR);
  loop->var = vc, loop->lo = kir_ic(k, 0);
  loop->hi = kir_ibin(k, KI_DIV, kir_ibin(k, KI_ADD, kir_ibin(k, KI_SUB, eos, bos), kir_ic(k, SC - 1)),
                      kir_ic(k, SC));
  int t0 = kir_ibin(k, KI_ADD, bos, kir_ibin(k, KI_MUL, kir_ivar(k, vc), kir_ic(k, SC)));
  int rows = kir_ibin(k, KI_MIN, kir_ic(k, SC), kir_ibin(k, KI_SUB, eos, t0));
  int row0 = kir_ibin(k, KI_ADD, kir_ibin(k, KI_MUL, t0, iH), kir_ivar(k, vh));
  int tiles[4] = {X, A, X, prior ? E : X}, bufs[4] = {bx, ba, by, bp};
  long cnt[4] = {SK * SM, SK, SK * SM, SK * SM};
  for (int i = 0; i < 4; i++) {
    if (i == 2) {
      KStmt *sc = kir_stmt(k, &loop->body, KS_SCAN);
      sc->tile = X, sc->tile2 = decay ? A : -1, sc->carry = S, sc->prior = prior ? E : -1;
      sc->dim = dc, sc->rows = rows;
    }
    s = kir_stmt(k, &loop->body, i < 2 ? KS_LOAD : KS_STORE);
    s->tile = tiles[i], s->buf = bufs[i], s->idx = kir_ibin(k, KI_MUL, row0, kir_ic(k, cnt[i]));
    s->rowdim = dc, s->rows = rows, s->rowstride = kir_ibin(k, KI_MUL, iH, kir_ic(k, cnt[i]));
  }
  s = kir_stmt(k, &par->body, KS_IF_NULL);
  s->buf = bso;
  KStmt *st = kir_stmt(k, &s->orelse, KS_STORE);
  st->tile = S, st->buf = bso, st->idx = kir_ibin(k, KI_MUL, nh, kir_ic(k, SK * SM));
  const char *bad = kir_verify(k);
  ck_assert_msg(bad == NULL, "%s", bad);
  return k;
}

/* Every scan variant through both backends against the recurrence in
 * double: sequences of a full chunk, one row, two chunks (the carry), a
 * partial one; initial state or none. */
START_TEST(scan_statement) {
  enum { H = 2, NSEQ = 5, TOT = 20, NX = SK * SM };
  int64_t cu[NSEQ + 1] = {0, 5, 6, 9, 17, 20};
  static float x[TOT * H * NX], a[TOT * H * SK], s0[NSEQ * H * NX];
  static float y[TOT * H * NX], p[TOT * H * NX], s1[NSEQ * H * NX];
  static double wy[TOT * H * NX], wp[TOT * H * NX], ws[NSEQ * H * NX];
  for (int i = 0; i < TOT * H * NX; i++) x[i] = (float)((i * 37) % 11) / 4 - 1.25f;
  for (int i = 0; i < TOT * H * SK; i++) a[i] = (float)((i * 13) % 7) / 4 - 0.75f;
  for (int i = 0; i < NSEQ * H * NX; i++) s0[i] = (float)((i * 5) % 9) / 8;
  for (int v = 0; v < 8; v++) {
    bool decay = v & 1, prior = v & 2, init = v & 4;
    for (int n = 0; n < NSEQ; n++)
      for (int h = 0; h < H; h++)
        for (int e = 0; e < NX; e++) {
          double st = init ? s0[(n * H + h) * NX + e] : 0;
          for (int64_t t = cu[n]; t < cu[n + 1]; t++) {
            long r = t * H + h;
            wp[r * NX + e] = st;
            st = (decay ? a[r * SK + e / SM] : 1) * st + x[r * NX + e];
            wy[r * NX + e] = st;
          }
          ws[(n * H + h) * NX + e] = st;
        }
    Kernel *k = build_scan(decay, prior);
    void *handle = NULL, *jit = NULL, *fns[2];
    build_both(k, fns, &handle, &jit);
    for (int fi = 0; fi < 2; fi++) {
      for (int i = 0; i < TOT * H * NX; i++) y[i] = p[i] = NAN;
      for (int i = 0; i < NSEQ * H * NX; i++) s1[i] = NAN;
      void *ptrs[7] = {x, a, y, p, init ? s0 : NULL, s1, cu};
      int64_t ints[6] = {1, TOT, H, NSEQ, 0, NSEQ * H};
      char *err = NULL;
      ck_assert_int_eq(rt_call_kernel((void (*)(void))fns[fi], 7, ptrs, 6, ints, &err), 0);
      const char *what = fi ? "JIT" : "emitted C";
      for (int i = 0; i < TOT * H * NX; i++) {
        ck_assert_msg(fabs(y[i] - wy[i]) <= 1e-5 * (1 + fabs(wy[i])),
                      "%s, variant %d: y[%d] = %g, want %g", what, v, i, y[i], wy[i]);
        if (prior)
          ck_assert_msg(fabs(p[i] - wp[i]) <= 1e-5 * (1 + fabs(wp[i])),
                        "%s, variant %d: p[%d] = %g, want %g", what, v, i, p[i], wp[i]);
      }
      for (int i = 0; i < NSEQ * H * NX; i++)
        ck_assert_msg(fabs(s1[i] - ws[i]) <= 1e-5 * (1 + fabs(ws[i])),
                      "%s, variant %d: final s[%d] = %g, want %g", what, v, i, s1[i], ws[i]);
    }
    dlclose(handle);
    cg_jit_free(jit);
    Buf b = {0};
    kir_print(k, &b);
    ck_assert_msg(strstr(b.s, "scan X along C rows < min(5, ") &&
                      (!decay || strstr(b.s, " decay A from S")) &&
                      (!prior || strstr(b.s, "from S prior E")),
                  "%s", b.s);
    buf_free(&b);
  }
  /* The verifier: a carry with the scan dim, a prior of other dims. */
  Kernel *k = build_scan(true, true);
  KStmt *sc = NULL;
  KBlock *body = &k->body.data[0]->body;
  for (int i = 0; i < body->len; i++)
    if (body->data[i]->kind == KS_FOR)
      for (int j = 0; j < body->data[i]->body.len; j++)
        if (body->data[i]->body.data[j]->kind == KS_SCAN) sc = body->data[i]->body.data[j];
  ck_assert_ptr_nonnull(sc);
  int carry = sc->carry, prior = sc->prior;
  sc->carry = sc->prior;
  ck_assert_ptr_nonnull(strstr(kir_verify(k), "scan needs"));
  sc->carry = carry;
  sc->prior = sc->tile2;
  ck_assert_ptr_nonnull(strstr(kir_verify(k), "scan needs"));
  sc->prior = prior;
  ck_assert_ptr_null(kir_verify(k));
}
END_TEST

/* A kernel over rows of one token (K values, x in and y out: buffer *by
 * at *off), its parallel loop's body with tile X loaded from x. */
static KStmt *row_kernel(Kernel *k, int X, int *by, int *off) {
  int bx = kir_buf(k, "x", KB_INPUT, KT_F32, 0, false);
  *by = kir_buf(k, "y", KB_OUTPUT, KT_F32, 0, false);
  int vbh = kir_var(k, "bh"), vn = kir_var(k, "n"), vh = kir_var(k, "h");
  int iH = kir_iarg(k, KA_H);
  KStmt *par = kir_stmt(k, &k->body, KS_FOR);
  par->var = vbh, par->parallel = true, par->lo = kir_ic(k, 0);
  par->hi = kir_ibin(k, KI_MUL, kir_iarg(k, KA_NSEQ), iH);
  KStmt *s = kir_stmt(k, &par->body, KS_LET);
  s->var = vn, s->idx = kir_ibin(k, KI_DIV, kir_ivar(k, vbh), iH);
  s = kir_stmt(k, &par->body, KS_LET);
  s->var = vh, s->idx = kir_ibin(k, KI_MOD, kir_ivar(k, vbh), iH);
  /* token 0 of sequence n: ((n T) H + h) K */
  int tok = kir_ibin(k, KI_MUL, kir_ivar(k, vn), kir_iarg(k, KA_T));
  *off = kir_ibin(k, KI_MUL, kir_ibin(k, KI_ADD, kir_ibin(k, KI_MUL, tok, iH), kir_ivar(k, vh)),
                  kir_ic(k, K));
  s = kir_stmt(k, &par->body, KS_LOAD);
  s->tile = X, s->buf = bx, s->idx = *off;
  return par;
}

/* The kernel's y = f(x) through both backends, against want(x). */
static void run_rows(Kernel *k, double (*want)(double)) {
  void *handle = NULL, *jit = NULL, *fns[2];
  build_both(k, fns, &handle, &jit);
  enum { H = 2, NSEQ = 3, NX = NSEQ * H * K };
  float x[NX], y[NX];
  for (int i = 0; i < NX; i++) x[i] = (float)((i * 7) % 5) * 0.25f - 0.5f;
  for (int f = 0; f < 2; f++) {
    for (int i = 0; i < NX; i++) y[i] = NAN;
    void *ptrs[2] = {x, y};
    int64_t ints[6] = {NSEQ, 1, H, NSEQ, 0, NSEQ * H};
    char *err = NULL;
    ck_assert_int_eq(rt_call_kernel((void (*)(void))fns[f], 2, ptrs, 6, ints, &err), 0);
    for (int i = 0; i < NX; i++) {
      double w = want(x[i]);
      ck_assert_msg(fabs(y[i] - w) <= 1e-5 * (1 + fabs(w)), "%s: y[%d] = %g, want %g",
                    f ? "JIT" : "emitted C", i, y[i], w);
    }
  }
  dlclose(handle);
  cg_jit_free(jit);
}

static double fused_want(double x) { return 5.0 * x + exp(2.0 * x); }

/* pass_kir_fuse on a kernel that exercises its rules, per (sequence,
 * head) row of one token (K values):
 *   A = exp(X)        read twice by one nest: too dear to inline twice
 *   B = X * 2         read once: inlined into Z, and its tile dropped
 *   D = X + 1         read by nothing: dropped
 *   Z = B + A * A     inlined B; Z itself reads X, written before Y
 *   F = X * 3         read by Y after X changes: stays
 *   X = X + 1
 *   Y = Z + F         so y = 2x + exp(x)^2 + 3x
 * The result through both backends, and the printed kernel. */
START_TEST(fuse_elementwise) {
  char *d = NULL;
  Graph *g = t_graph(&arena, "rnn t {\n dim K = 3\n input x[K]\n output y[K]\n y = x\n}\n", &d);
  ck_assert_msg(g != NULL, "%s", d);
  free(d);
  Kernel *k = kir_new(&arena, g, "kf", "test");
  DimSet dK = 1u << 0;
  int X = kir_tile(k, "X", dK), A = kir_tile(k, "A", dK), B = kir_tile(k, "B", dK);
  int D = kir_tile(k, "D", dK), Z = kir_tile(k, "Z", dK), F = kir_tile(k, "F", dK);
  int Y = kir_tile(k, "Y", dK);
  int by, off;
  KStmt *par = row_kernel(k, X, &by, &off), *s;
#define NEST(t, e)                             \
  s = kir_stmt(k, &par->body, KS_NEST);        \
  s->space = dK;                               \
  kir_assign(k, s, t, KACC_SET, e)
  NEST(A, kir_eunary(k, OP_EXP, kir_eread(k, X)));
  NEST(B, kir_ebinary(k, OP_MUL, kir_eread(k, X), kir_econst(k, 2)));
  NEST(D, kir_ebinary(k, OP_ADD, kir_eread(k, X), kir_econst(k, 1)));
  NEST(Z, kir_ebinary(k, OP_ADD, kir_eread(k, B),
                      kir_ebinary(k, OP_MUL, kir_eread(k, A), kir_eread(k, A))));
  NEST(F, kir_ebinary(k, OP_MUL, kir_eread(k, X), kir_econst(k, 3)));
  NEST(X, kir_ebinary(k, OP_ADD, kir_eread(k, X), kir_econst(k, 1)));
  NEST(Y, kir_ebinary(k, OP_ADD, kir_eread(k, Z), kir_eread(k, F)));
#undef NEST
  s = kir_stmt(k, &par->body, KS_STORE);
  s->tile = Y, s->buf = by, s->idx = off;
  ck_assert_ptr_null(kir_verify(k));
  pass_kir_fuse(k);
  ck_assert_ptr_null(kir_verify(k));
  Buf b = {0};
  kir_print(k, &b);
  ck_assert_msg(k->tiles.len == 5 && !strstr(b.s, "B =") && !strstr(b.s, "D =") &&
                    strstr(b.s, "A = exp(X)") && strstr(b.s, "Z = ((X * 2) + (A * A))") &&
                    strstr(b.s, "F = (X * 3)") && strstr(b.s, "Y = (Z + F)"),
                "%d tiles:\n%s", k->tiles.len, b.s);
  buf_free(&b);
  run_rows(k, fused_want);
}
END_TEST

/* pass_kir_fuse's regrouping of products, with s a scalar tile (0.5):
 *   Y = (X s) 3 + exp((X s) 2) + (X X) s
 * the first two chains with s times the constant first (one
 * multiplication an element fewer each), the third as it is (as many
 * either way); LRC_KIR_REGROUP=off leaves them all. The value through
 * both backends: 1.5 x + exp(x) + 0.5 x^2. */
static double regroup_want(double x) { return 1.5 * x + exp(x) + 0.5 * x * x; }

static Kernel *regroup_kernel(Graph *g) {
  Kernel *k = kir_new(&arena, g, "rg", "test");
  int X = kir_tile(k, "X", 1u << 0), S = kir_tile(k, "s", 0), Y = kir_tile(k, "Y", 1u << 0);
  int by, off;
  KStmt *par = row_kernel(k, X, &by, &off);
  KStmt *s = kir_stmt(k, &par->body, KS_NEST);
  s->space = 0;
  kir_assign(k, s, S, KACC_SET, kir_econst(k, 0.5));
  s = kir_stmt(k, &par->body, KS_NEST);
  s->space = 1u << 0;
  int xs = kir_ebinary(k, OP_MUL, kir_eread(k, X), kir_eread(k, S));
  int a = kir_ebinary(k, OP_MUL, xs, kir_econst(k, 3));
  int e = kir_eunary(k, OP_EXP, kir_ebinary(k, OP_MUL, xs, kir_econst(k, 2)));
  int q = kir_ebinary(k, OP_MUL, kir_ebinary(k, OP_MUL, kir_eread(k, X), kir_eread(k, X)),
                      kir_eread(k, S));
  kir_assign(k, s, Y, KACC_SET, kir_ebinary(k, OP_ADD, kir_ebinary(k, OP_ADD, a, e), q));
  s = kir_stmt(k, &par->body, KS_STORE);
  s->tile = Y, s->buf = by, s->idx = off;
  ck_assert_ptr_null(kir_verify(k));
  return k;
}

START_TEST(regroup_products) {
  char *d = NULL;
  Graph *g = t_graph(&arena, "rnn t {\n dim K = 3\n input x[K]\n output y[K]\n y = x\n}\n", &d);
  ck_assert_msg(g != NULL, "%s", d);
  free(d);
  for (int off = 0; off < 2; off++) {
    Kernel *k = regroup_kernel(g);
    if (off) setenv("LRC_KIR_REGROUP", "off", 1);
    pass_kir_fuse(k);
    unsetenv("LRC_KIR_REGROUP");
    ck_assert_ptr_null(kir_verify(k));
    Buf b = {0};
    kir_print(k, &b);
    const char *want = off ? "Y = ((((X * s) * 3) + exp(((X * s) * 2))) + ((X * X) * s))"
                           : "Y = ((((s * 3) * X) + exp(((s * 2) * X))) + ((X * X) * s))";
    ck_assert_msg(strstr(b.s, want), "LRC_KIR_REGROUP=%s: no %s in\n%s", off ? "off" : "on", want,
                  b.s);
    buf_free(&b);
    run_rows(k, regroup_want);
  }
}
END_TEST

START_TEST(verifier) {
  Kernel *k = build(false);
  /* A trisolve whose N is not [row, col]. */
  KStmt *ts = NULL;
  KBlock *body = &k->body.data[0]->body;
  for (int i = 0; i < body->len; i++)
    if (body->data[i]->kind == KS_TRISOLVE) ts = body->data[i];
  ck_assert_ptr_nonnull(ts);
  int tmp = ts->dim2;
  ts->dim2 = 0;   /* K: wrong size and a dim of X */
  ck_assert_ptr_nonnull(strstr(kir_verify(k), "trisolve"));
  ts->dim2 = tmp;
  ck_assert_ptr_null(kir_verify(k));
}
END_TEST

Suite *kir_suite(void) {
  Suite *s = suite_create("kir");
  TCase *tc = tcase_create("core");
  tcase_set_timeout(tc, 60);
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, rows_mask_cumsum_trisolve);
  tcase_add_test(tc, exclusive_cumsum);
  tcase_add_test(tc, scan_statement);
  tcase_add_test(tc, verifier);
  tcase_add_test(tc, fuse_elementwise);
  tcase_add_test(tc, regroup_products);
  tcase_add_test(tc, math_functions);
  suite_add_tcase(s, tc);
  return s;
}
