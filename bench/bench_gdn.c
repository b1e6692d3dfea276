/* bench_gdn.c — `make bench`: lrc's JIT kernel for Gated DeltaNet against
 * the hand-written C loop of gdn_baseline.c (gcc -O3 -march=native) on the
 * same inputs, B=2 H=4 T=4096 K=V=128 float32 by default, plus lrc's JIT
 * compile time cold and from the kernel cache. Medians of interleaved
 * repeats; ratios are taken within this run.
 *
 *   bench_gdn [T] [repeats]
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lrc.h"

void gdn_baseline_range(const float *q, const float *k, const float *v, const float *g,
                        const float *beta, float *o, float *S_out, int64_t B, int64_t T,
                        int64_t H, int64_t lo, int64_t hi);

enum { K = 128, V = 128 };

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp);
  return v[n / 2];
}

static unsigned long long rng = 88172645463325252ull;
static float uni(float lo, float hi) {
  rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
  return lo + (hi - lo) * (float)((rng >> 11) * (1.0 / 9007199254740992.0));
}

static char *read_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *s = malloc((size_t)n + 1);
  if (s && fread(s, 1, (size_t)n, f) != (size_t)n) n = 0;
  if (s) s[n] = '\0';
  fclose(f);
  return s;
}

static lrc_kernel *get(lrc_ctx *ctx, const char *src, const char *cache, lrc_module **mod) {
  lrc_dim dims[] = {{"K", K}, {"V", V}};
  lrc_options o;
  lrc_options_init(&o);
  o.filename = "bench/gated_deltanet.lr";
  o.dims = dims;
  o.ndims = 2;
  o.cache_dir = cache;
  o.no_cache = cache == NULL;
  lrc_error *err = NULL;
  *mod = lrc_compile(ctx, src, &o, &err);
  lrc_kernel *k = *mod ? lrc_kernel_get(*mod, NULL, &err) : NULL;
  if (!k) {
    fprintf(stderr, "bench: %s\n", lrc_error_message(err));
    exit(1);
  }
  return k;
}

typedef struct Base {
  const float *q, *k, *v, *g, *beta;
  float *o, *S;
  int64_t B, T, H, lo, hi;
} Base;

static void *base_job(void *p) {
  Base *b = p;
  gdn_baseline_range(b->q, b->k, b->v, b->g, b->beta, b->o, b->S, b->B, b->T, b->H, b->lo, b->hi);
  return NULL;
}

static void run_baseline(Base *all, int nt) {
  pthread_t th[64];
  Base parts[64];
  int64_t rows = all->B * all->H;
  for (int i = 0; i < nt; i++) {
    parts[i] = *all;
    parts[i].lo = rows * i / nt;
    parts[i].hi = rows * (i + 1) / nt;
    if (i) pthread_create(&th[i], NULL, base_job, &parts[i]);
  }
  base_job(&parts[0]);
  for (int i = 1; i < nt; i++) pthread_join(th[i], NULL);
}

int main(int argc, char **argv) {
  int64_t B = 2, H = 4, T = argc > 1 ? atol(argv[1]) : 4096;
  int reps = argc > 2 ? atoi(argv[2]) : 5;
  int cores = (int)sysconf(_SC_NPROCESSORS_ONLN);
  if (cores > 64) cores = 64;
  char *src = read_file("bench/gated_deltanet.lr");
  if (!src) {
    fprintf(stderr, "bench: run from the repository root\n");
    return 1;
  }
  lrc_ctx *ctx = lrc_ctx_new();

  /* Compile times: cold (no cache) and from a fresh cache directory. */
  char dir[] = "/tmp/lrc-bench-cache-XXXXXX";
  if (!mkdtemp(dir)) return 1;
  double cold[5], warm[5];
  for (int i = 0; i < 5; i++) {
    lrc_module *m;
    lrc_kernel *k = get(ctx, src, NULL, &m);
    cold[i] = lrc_kernel_compile_ms(k);
    lrc_module_free(m);
  }
  lrc_module *m0;
  get(ctx, src, dir, &m0);   /* fills the cache */
  lrc_module_free(m0);
  for (int i = 0; i < 5; i++) {
    lrc_module *m;
    lrc_kernel *k = get(ctx, src, dir, &m);
    if (!lrc_kernel_from_cache(k)) fprintf(stderr, "bench: expected a cache hit\n");
    warm[i] = lrc_kernel_compile_ms(k);
    lrc_module_free(m);
  }
  char cmd[256];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  if (system(cmd) != 0) fprintf(stderr, "bench: could not remove %s\n", dir);

  lrc_module *m;
  lrc_kernel *kern = get(ctx, src, NULL, &m);
  int64_t ntok = B * T * H;
  float *q = malloc(sizeof(float) * ntok * K), *k = malloc(sizeof(float) * ntok * K);
  float *v = malloc(sizeof(float) * ntok * V), *g = malloc(sizeof(float) * ntok);
  float *beta = malloc(sizeof(float) * ntok), *o1 = malloc(sizeof(float) * ntok * V);
  float *o2 = malloc(sizeof(float) * ntok * V);
  float *S1 = malloc(sizeof(float) * B * H * K * V), *S2 = malloc(sizeof(float) * B * H * K * V);
  for (int64_t i = 0; i < ntok * K; i++) q[i] = uni(-1, 1), k[i] = uni(-1, 1);
  for (int64_t i = 0; i < ntok * V; i++) v[i] = uni(-1, 1);
  for (int64_t i = 0; i < ntok; i++) g[i] = uni(-0.1f, 0), beta[i] = uni(0, 1);

  lrc_tensor tq = {q, LRC_F32, 4, {B, T, H, K}, {0}}, tk = {k, LRC_F32, 4, {B, T, H, K}, {0}};
  lrc_tensor tv = {v, LRC_F32, 4, {B, T, H, V}, {0}}, tg = {g, LRC_F32, 3, {B, T, H}, {0}};
  lrc_tensor tb = {beta, LRC_F32, 3, {B, T, H}, {0}}, to = {o1, LRC_F32, 4, {B, T, H, V}, {0}};
  lrc_tensor ts = {S1, LRC_F32, 4, {B, H, K, V}, {0}};
  lrc_binding ins[] = {{"q", tq}, {"k", tk}, {"v", tv}, {"g", tg}, {"beta", tb}};
  lrc_binding outs[] = {{"o", to}}, sout[] = {{"S", ts}};
  lrc_args a;
  lrc_args_init(&a);
  a.inputs = ins;
  a.ninputs = 5;
  a.outputs = outs;
  a.noutputs = 1;
  a.state_out = sout;
  a.nstate_out = 1;
  Base base = {q, k, v, g, beta, o2, S2, B, T, H, 0, 0};

  printf("Gated DeltaNet forward, recurrent, B=%lld H=%lld T=%lld K=V=%d, float32\n",
         (long long)B, (long long)H, (long long)T, K);
  printf("JIT compile: cold %.1f ms, from the kernel cache %.2f ms (medians of 5)\n",
         median(cold, 5), median(warm, 5));
  double flops = 7.0 * K * V * (double)ntok;   /* Sᵀk, decay + update, readout */
  int threads[2] = {1, cores};
  for (int ti = 0; ti < (cores > 1 ? 2 : 1); ti++) {
    int nt = threads[ti];
    a.nthreads = nt;
    double tj[64], tbl[64];
    lrc_error *err = NULL;
    for (int r = 0; r < reps + 1; r++) {   /* the first round warms up */
      double t0 = now_ms();
      if (lrc_kernel_run(kern, &a, &err) != LRC_OK) {
        fprintf(stderr, "bench: %s\n", lrc_error_message(err));
        return 1;
      }
      double t1 = now_ms();
      run_baseline(&base, nt);
      double t2 = now_ms();
      if (r) tj[r - 1] = t1 - t0, tbl[r - 1] = t2 - t1;
    }
    double num = 0, den = 0;
    for (int64_t i = 0; i < ntok * V; i++) num += (o1[i] - o2[i]) * (double)(o1[i] - o2[i]), den += (double)o2[i] * o2[i];
    double mj = median(tj, reps), mb = median(tbl, reps);
    printf("threads %2d: lrc JIT %8.2f ms (%5.1f GFLOP/s)   hand-written C %8.2f ms (%5.1f GFLOP/s)"
           "   JIT/C time %.2f   outputs differ by %.1e\n",
           nt, mj, flops / mj / 1e6, mb, flops / mb / 1e6, mj / mb, sqrt(num / den));
  }
  lrc_module_free(m);
  lrc_ctx_free(ctx);
  free(src), free(q), free(k), free(v), free(g), free(beta), free(o1), free(o2), free(S1), free(S2);
  return 0;
}
