/* oracle.c — running a compiled kernel against the float64 interpreter.
 *
 * A "case" draws fresh random inputs (float32 values, fed as float64 to
 * the oracle), runs the kernel and the interpreter on the same values and
 * compares every output and final state by relative L2 error.
 */
#include "oracle.h"

#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backends/c/backend.h"
#include "passes/passes.h"
#include "runtime/rt.h"

static double urand(unsigned long long *s) {
  *s = *s * 6364136223846793005ull + 1442695040888963407ull;
  return (double)(*s >> 11) / 9007199254740992.0;
}

/* Fresh inputs on every run: the base seed comes from LRC_TEST_SEED when
 * set (to replay a failure), else from the clock; failures print it. */
unsigned long long o_seed_base(void) {
  static unsigned long long base;
  static bool set;
  if (!set) {
    const char *env = getenv("LRC_TEST_SEED");
    base = env && *env ? strtoull(env, NULL, 10) : (unsigned long long)time(NULL) % 1000000;
    set = true;
  }
  return base;
}

/* Inputs whose meaning bounds their range: a per-head log decay must be
 * <= 0 (and a decay rate >= 0) or long sequences overflow; the examples
 * name them so. Everything else is uniform in the case's range. */
static void slot_range(const char *name, double *lo, double *hi) {
  static const struct {
    const char *name;
    double lo, hi;
  } ranges[] = {{"log_gamma", -1.0, -0.01}, {"slope", 0.01, 1.0}, {"lower", 0.0, 0.95}};
  for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++)
    if (strcmp(ranges[i].name, name) == 0) *lo = ranges[i].lo, *hi = ranges[i].hi;
}

void o_bind_small_dims(Graph *g) {
  static const long sizes[] = {5, 7, 3, 6, 4, 9, 2, 8};
  for (int d = 0; d < g->dims.len; d++)
    g->dims.data[d].size = sizes[d % (int)(sizeof sizes / sizeof sizes[0])];
}

void o_bind_wide_dims(Graph *g) {
  static const long sizes[] = {16, 24, 8, 40};
  for (int d = 0; d < g->dims.len; d++)
    g->dims.data[d].size = sizes[d % (int)(sizeof sizes / sizeof sizes[0])];
}

/* Build with the C compiler; returns the entry point or NULL (msg). */
static void *build_c(const Kernel *k, const char *dir, char *msg, size_t msglen, void **handle) {
  Buf c = {0};
  cg_emit_c(k, NULL, &c, NULL);
  char path[512], so[512], cmd[1400];
  snprintf(path, sizeof path, "%s/%s.c", dir, k->name);
  snprintf(so, sizeof so, "%s/%s.so", dir, k->name);
  FILE *f = fopen(path, "w");
  if (!f) {
    snprintf(msg, msglen, "cannot write %s", path);
    buf_free(&c);
    return NULL;
  }
  fputs(c.s, f);
  fclose(f);
  buf_free(&c);
  snprintf(cmd, sizeof cmd,
           "cc -O1 -std=c99 -Wall -Wextra -Werror -shared -fPIC -o %s %s 2>%s/cc.log", so, path,
           dir);
  if (system(cmd) != 0) {
    snprintf(msg, msglen, "cc failed on the emitted C (%s; log in %s/cc.log)", path, dir);
    return NULL;
  }
  *handle = dlopen(so, RTLD_NOW | RTLD_LOCAL);
  if (!*handle) {
    snprintf(msg, msglen, "dlopen: %s", dlerror());
    return NULL;
  }
  char sym[300];
  snprintf(sym, sizeof sym, "%s_range", k->name);
  void *fn = dlsym(*handle, sym);
  if (!fn) snprintf(msg, msglen, "dlsym %s: %s", sym, dlerror());
  return fn;
}

/* ||x - ref|| / ||ref||, with ||ref|| taken as no less than an RMS of
 * 0.01 (the inputs are of order 1): an output that cancels to almost
 * nothing (one token's q.k across a few dims, say) is ill-conditioned,
 * and float32's rounding of its terms is a large part of it. Where the
 * case moves its inputs (OCase.unit; moved: the reference's output on
 * them), ||ref|| is taken as no less than ||moved - ref|| / (2 unit)
 * either, the output's condition number times ||ref|| / 2 (a kernel's
 * rounding of its intermediates to 16 bits moves an output about as far
 * as moving its inputs by that precision does: Mamba-2's y = (C.B dt +
 * D) x at T = 1, where C.B dt and D nearly cancel, errs up to 0.2 with
 * bfloat16 records), but that floor at most 10 times ||ref|| (or the
 * RMS floor): an ill-conditioned output is checked ten times more
 * loosely at most. Moved values that are not finite are left out. */
static double rel_l2(const float *x, const double *ref, const double *moved, const OCase *c, long n) {
  double num = 0, den = 0, mv = 0;
  for (long i = 0; i < n; i++) {
    double d = (double)x[i] - ref[i];
    if (isnan(x[i])) return INFINITY;
    num += d * d;
    den += ref[i] * ref[i];
    if (moved && isfinite(moved[i])) mv += (moved[i] - ref[i]) * (moved[i] - ref[i]);
  }
  if (den < 1e-4 * (double)n) den = 1e-4 * (double)n;
  if (moved) den = fmax(den, fmin(mv / (4 * c->unit * c->unit), 100 * den));
  if (den == 0) return sqrt(num);
  return sqrt(num / den);
}

/* The interpreter again (a's shapes and states) on the inputs and params
 * each moved by a relative c->unit at most, either sign, at random: the
 * outputs into mout, the final states into msout (where c asks for
 * them); 0, or -1 with *err. */
static int run_moved(const Graph *g, const OCase *c, const RtInterpArgs *a, double **mout,
                     double **msout, char **err) {
  int ni = g->inputs.len, np = g->params.len, no = g->outputs.len, ns = g->states.len;
  long rows = (long)c->B * c->T * c->H, srows = (long)a->nseq * c->H;   /* (per token; per sequence) */
  unsigned long long seed = (c->seed + o_seed_base()) * 2862933555777941757ull + 3037000493ull;
  double **in = calloc((size_t)ni + 1, sizeof(double *)), **par = calloc((size_t)np + 1, sizeof(double *));
  for (int i = 0; i < ni + np; i++) {
    long n = i < ni ? rows * ir_slot_count(g, &g->inputs.data[i])
                    : c->H * ir_slot_count(g, &g->params.data[i - ni]);
    const double *src = i < ni ? a->inputs[i] : a->params[i - ni];
    double *d = malloc(sizeof(double) * (size_t)(n ? n : 1));
    for (long j = 0; src && j < n; j++) d[j] = src[j] * (1 + c->unit * (2 * urand(&seed) - 1));
    if (i < ni) in[i] = src ? d : NULL;
    else par[i - ni] = src ? d : NULL;
    if (!src) free(d);
  }
  for (int i = 0; i < no + (c->final_state ? ns : 0); i++) {   /* (NaN: what nothing writes) */
    long n = i < no ? rows * ir_slot_count(g, &g->outputs.data[i])
                    : srows * ir_slot_count(g, &g->states.data[i - no]);
    double *d = malloc(sizeof(double) * (size_t)(n ? n : 1));
    for (long j = 0; j < n; j++) d[j] = NAN;
    if (i < no) mout[i] = d;
    else msout[i - no] = d;
  }
  RtInterpArgs m = *a;
  m.inputs = (const double *const *)in, m.params = (const double *const *)par;
  m.outputs = mout, m.state_out = c->final_state ? msout : NULL;
  int rc = rt_interp(g, &m, err);
  for (int i = 0; i < ni; i++) free(in[i]);
  for (int i = 0; i < np; i++) free(par[i]);
  free(in), free(par);
  return rc;
}

static int run_cpu(void *fn, int nb, void **ptrs, const long *count, const int64_t *ints,
                   char **err) {
  (void)count;
  return rt_call_kernel((void (*)(void))fn, nb, ptrs, 6, ints, err);
}

double o_run_case(const Graph *g, const Kernel *k, void *fn, const OCase *c, char *msg,
                  size_t msglen) {
  return o_run_case_on(g, k, run_cpu, fn, c, msg, msglen);
}

double o_run_case_on(const Graph *g, const Kernel *k, ORunner run, void *ctx, const OCase *c,
                     char *msg, size_t msglen) {
  int nseq = c->nseq ? c->nseq : c->B;
  long ntok = (long)c->B * c->T;
  unsigned long long seed = (c->seed + o_seed_base()) * 2654435761ull + 12345;
  int nb = k->bufs.len;
  void **ptrs = calloc((size_t)nb, sizeof *ptrs);
  long *count = calloc((size_t)nb, sizeof *count);
  /* Oracle arrays by slot. */
  int ni = g->inputs.len, np = g->params.len, ns = g->states.len, no = g->outputs.len;
  double **din = calloc((size_t)ni + 1, sizeof(double *));
  double **dpar = calloc((size_t)np + 1, sizeof(double *));
  double **dsin = calloc((size_t)ns + 1, sizeof(double *));
  double **dsout = calloc((size_t)ns + 1, sizeof(double *));
  double **dout = calloc((size_t)no + 1, sizeof(double *));
  float **fout = calloc((size_t)no + 1, sizeof(float *));
  float **fsout = calloc((size_t)ns + 1, sizeof(float *));
  long *cu = NULL;
  int64_t *cu64 = NULL;
  if (c->nseq) {
    cu = calloc((size_t)nseq + 1, sizeof(long));
    cu64 = calloc((size_t)nseq + 1, sizeof(int64_t));
    for (int i = 0; i <= nseq; i++) cu[i] = cu64[i] = c->cu[i];
  }
  for (int b = 0; b < nb; b++) {
    const KBuf *kb = &k->bufs.data[b];
    const Slot *sl = NULL;
    long rows = 0;
    switch (kb->role) {
    case KB_INPUT: sl = &g->inputs.data[kb->slot]; rows = ntok * c->H; break;
    case KB_PARAM: sl = &g->params.data[kb->slot]; rows = c->H; break;
    case KB_OUTPUT: sl = &g->outputs.data[kb->slot]; rows = ntok * c->H; break;
    case KB_STATE_IN:
    case KB_STATE_OUT: sl = &g->states.data[kb->slot]; rows = (long)nseq * c->H; break;
    case KB_SEQLENS: ptrs[b] = cu64, count[b] = c->nseq ? nseq + 1 : 0; continue;
    }
    long n = rows * ir_slot_count(g, sl);
    count[b] = n;
    if (kb->role == KB_STATE_IN && !c->init_state) continue;
    if (kb->role == KB_STATE_OUT && !c->final_state) continue;
    float *f = malloc(sizeof(float) * (size_t)(n ? n : 1));
    double *d = malloc(sizeof(double) * (size_t)(n ? n : 1));
    bool fill = kb->role == KB_INPUT || kb->role == KB_PARAM || kb->role == KB_STATE_IN;
    double lo = c->lo, hi = c->hi;
    slot_range(sl->name, &lo, &hi);
    /* Initial states are non-negative: a normaliser state (the z of
     * linear attention) is a sum of positive features, and a random sign
     * would put its denominators near zero, where any float32 rounding is
     * a large relative error of an ill-conditioned result. */
    if (kb->role == KB_STATE_IN) lo = 0, hi = 1;
    for (long i = 0; i < n; i++) {
      f[i] = fill ? (float)(lo + (hi - lo) * urand(&seed)) : NAN;   /* poison */
      if (fill && c->grid > 0 && kb->role != KB_STATE_IN) f[i] = (float)(round(f[i] * c->grid) / c->grid);
      d[i] = f[i];
    }
    ptrs[b] = f;
    switch (kb->role) {
    case KB_INPUT: din[kb->slot] = d; break;
    case KB_PARAM: dpar[kb->slot] = d; break;
    case KB_STATE_IN: dsin[kb->slot] = d; break;
    case KB_STATE_OUT: dsout[kb->slot] = d; fsout[kb->slot] = f; break;
    case KB_OUTPUT: dout[kb->slot] = d; fout[kb->slot] = f; break;
    default: break;
    }
  }
  RtInterpArgs a = {.B = c->B, .T = c->T, .H = c->H, .cu_seqlens = cu, .nseq = nseq,
                    .inputs = (const double *const *)din, .params = (const double *const *)dpar,
                    .state_in = (const double *const *)dsin, .outputs = dout,
                    .state_out = c->final_state ? dsout : NULL};
  char *err = NULL;
  double worst = -1;
  double **mout = calloc((size_t)no + 1, sizeof(double *)), **msout = calloc((size_t)ns + 1, sizeof(double *));
  if (rt_interp(g, &a, &err) != 0) {
    snprintf(msg, msglen, "oracle failed: %s", err);
  } else if (c->unit > 0 && run_moved(g, c, &a, mout, msout, &err) != 0) {
    snprintf(msg, msglen, "oracle failed on the moved inputs: %s", err);
  } else {
    int64_t ints[6] = {c->B, c->T, c->H, nseq, 0, (int64_t)nseq * c->H};
    if (run(ctx, nb, ptrs, count, ints, &err) != 0) {
      snprintf(msg, msglen, "kernel failed: %s", err);
    } else {
      worst = 0;
      msg[0] = '\0';
      for (int i = 0; i < no; i++) {
        long n = ntok * c->H * ir_slot_count(g, &g->outputs.data[i]);
        double e = rel_l2(fout[i], dout[i], mout[i], c, n);
        if (e > worst) {
          worst = e;
          snprintf(msg, msglen, "output %s", g->outputs.data[i].name);
        }
      }
      for (int i = 0; c->final_state && i < ns; i++) {
        long n = (long)nseq * c->H * ir_slot_count(g, &g->states.data[i]);
        double e = rel_l2(fsout[i], dsout[i], msout[i], c, n);
        if (e > worst) {
          worst = e;
          snprintf(msg, msglen, "final state %s", g->states.data[i].name);
        }
      }
    }
  }
  free(err);
  for (int b = 0; b < nb; b++)
    if (k->bufs.data[b].role != KB_SEQLENS) free(ptrs[b]);
  for (int i = 0; i < ni; i++) free(din[i]);
  for (int i = 0; i < np; i++) free(dpar[i]);
  for (int i = 0; i < ns; i++) free(dsin[i]), free(dsout[i]);
  for (int i = 0; i < no; i++) free(dout[i]), free(mout[i]);
  for (int i = 0; i < ns; i++) free(msout[i]);
  free(din), free(dpar), free(dsin), free(dsout), free(dout), free(fout), free(fsout), free(mout),
      free(msout);
  free(ptrs), free(count), free(cu), free(cu64);
  return worst;
}

void *o_build_c(const Kernel *k, char *msg, size_t msglen, void **handle) {
  char dir[] = "/tmp/lrc-test-XXXXXX";
  if (!mkdtemp(dir)) {
    snprintf(msg, msglen, "mkdtemp failed");
    return NULL;
  }
  void *fn = build_c(k, dir, msg, msglen, handle);
  if (fn) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) { /* leftover temp files are harmless */
    }
  }
  return fn;
}

void *o_build_jit(const Kernel *k, char *msg, size_t msglen, void **jit) {
  void *obj = NULL;
  size_t len = 0;
  char *err = NULL;
  if (cg_llvm_object(k, &obj, &len, &err) != 0) {
    snprintf(msg, msglen, "LLVM: %s", err ? err : "?");
    free(err);
    return NULL;
  }
  char sym[300];
  snprintf(sym, sizeof sym, "%s_range", k->name);
  void (*fn)(void) = NULL;
  CgJit *j = cg_jit_load(obj, len, sym, &fn, &err);
  free(obj);
  if (!j) {
    snprintf(msg, msglen, "JIT: %s", err ? err : "?");
    free(err);
    return NULL;
  }
  *jit = j;
  return (void *)fn;
}
