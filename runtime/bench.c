/* bench.c — the machine's own rate at the matrix products chunk kernels
 * are made of, for lrc bench's reference column.
 *
 * A kernel built directly in kernel IR: each (row) loads a 64x128 and a
 * 128x128 matrix into tiles and multiplies them `reps` times (the T
 * argument) into a 64x128 accumulator, which it stores at the end. It goes
 * through the same LLVM code generator and register blocking as the chunk
 * kernels, so the figure is what this machine and this code generator
 * reach on in-cache products of that size: the ceiling a chunk kernel
 * could approach if it did nothing but its matrix products.
 */
#include "rt.h"

#include "../backends/c/backend.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { MM_M = 64, MM_K = 128, MM_N = 128 };

typedef int (*MatmulFn)(float *, float *, float *, int64_t, int64_t, int64_t, int64_t, int64_t,
                        int64_t);

static void add_slot(Graph *g, SlotKind kind, const char *name, int d0, int d1) {
  Slot s = {.kind = kind, .name = name, .ndims = 2, .dims = {d0, d1},
            .dimset = (1u << d0) | (1u << d1), .value = -1};
  if (kind == SLOT_INPUT) VEC_PUSH(g->arena, g->inputs, s);
  else VEC_PUSH(g->arena, g->outputs, s);
}

static Kernel *matmul_kernel(Arena *a) {
  Graph *g = ir_graph_new(a, "lrc_matmul", (Span){0});
  int dm = ir_add_dim(g, "M", MM_M, (Span){0}), dk = ir_add_dim(g, "K", MM_K, (Span){0});
  int dn = ir_add_dim(g, "N", MM_N, (Span){0});
  add_slot(g, SLOT_INPUT, "a", dm, dk);
  add_slot(g, SLOT_INPUT, "b", dk, dn);
  add_slot(g, SLOT_OUTPUT, "c", dm, dn);
  Kernel *k = kir_new(a, g, "lrc_matmul", "matmul");
  int ba = kir_buf(k, "a", KB_INPUT, KT_F32, 0, false);
  int bb = kir_buf(k, "b", KB_INPUT, KT_F32, 1, false);
  int bc = kir_buf(k, "c", KB_OUTPUT, KT_F32, 0, false);
  int ta = kir_tile(k, "A", (1u << dm) | (1u << dk));
  int tb = kir_tile(k, "B", (1u << dk) | (1u << dn));
  int tc = kir_tile(k, "Cacc", (1u << dm) | (1u << dn));
  int vrow = kir_var(k, "row"), vrep = kir_var(k, "rep");
  KStmt *par = kir_stmt(k, &k->body, KS_FOR);
  par->var = vrow, par->parallel = true;
  par->lo = kir_ic(k, 0), par->hi = kir_iarg(k, KA_NSEQ);
  int row = kir_ivar(k, vrow);
  int bufs[2] = {ba, bb}, tiles[2] = {ta, tb};
  long counts[2] = {MM_M * MM_K, MM_K * MM_N};
  for (int i = 0; i < 2; i++) {
    KStmt *ld = kir_stmt(k, &par->body, KS_LOAD);
    ld->tile = tiles[i], ld->buf = bufs[i], ld->rowdim = -1;
    ld->idx = kir_ibin(k, KI_MUL, row, kir_ic(k, counts[i]));
  }
  KStmt *f = kir_stmt(k, &par->body, KS_FILL);
  f->tile = tc, f->num = 0;
  KStmt *rep = kir_stmt(k, &par->body, KS_FOR);
  rep->var = vrep, rep->lo = kir_ic(k, 0), rep->hi = kir_iarg(k, KA_T);
  KStmt *n = kir_stmt(k, &rep->body, KS_NEST);
  n->space = (1u << dm) | (1u << dk) | (1u << dn);
  kir_assign(k, n, tc, KACC_ADD, kir_ebinary(k, OP_MUL, kir_eread(k, ta), kir_eread(k, tb)));
  KStmt *st = kir_stmt(k, &par->body, KS_STORE);
  st->tile = tc, st->buf = bc, st->rowdim = -1;
  st->idx = kir_ibin(k, KI_MUL, row, kir_ic(k, MM_M * MM_N));
  const char *bad = kir_verify(k);
  if (bad) ir_internal_error(__FILE__, __LINE__, "matmul kernel: %s", bad);
  return k;
}

typedef struct MmJob {
  MatmulFn fn;
  float *a, *b, *c;
  int64_t rows, reps, lo;
} MmJob;

static void *mm_run(void *p) {
  MmJob *j = p;
  j->fn(j->a, j->b, j->c, j->rows, j->reps, 1, j->rows, j->lo, j->lo + 1);
  return NULL;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Seconds for nt threads each doing `reps` products. */
static double mm_time(MatmulFn fn, float *a, float *b, float *c, int nt, int64_t reps) {
  MmJob jobs[256];
  pthread_t th[256];
  for (int i = 0; i < nt; i++) jobs[i] = (MmJob){fn, a, b, c, nt, reps, i};
  double t0 = now_s();
  int started = 1;
  for (int i = 1; i < nt; i++, started++)
    if (pthread_create(&th[i], NULL, mm_run, &jobs[i]) != 0) break;
  mm_run(&jobs[0]);
  for (int i = started; i < nt; i++) mm_run(&jobs[i]);
  for (int i = 1; i < started; i++) pthread_join(th[i], NULL);
  return now_s() - t0;
}

/* Compile the matmul kernel; NULL with *cerr on failure. */
static CgJit *mm_compile(void (**fn)(void), char **cerr) {
  Arena a;
  arena_init(&a);
  Guard guard;
  ir_guard_push(&guard);
  if (setjmp(guard.jb)) {
    arena_fini(&a);
    *cerr = strdup(guard.msg);
    return NULL;
  }
  Kernel *k = matmul_kernel(&a);
  void *obj = NULL;
  size_t len = 0;
  CgJit *jit = NULL;
  if (cg_llvm_object(k, &obj, &len, cerr) == 0) jit = cg_jit_load(obj, len, "lrc_matmul_range", fn, cerr);
  ir_guard_pop(&guard);
  free(obj);
  arena_fini(&a);
  return jit;
}

double lrc_matmul_gflops(int nthreads, double seconds, lrc_error **err) {
  if (err) *err = NULL;
  long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  int nt = nthreads > 0 ? nthreads : (int)(ncpu > 0 ? ncpu : 1);
  if (nt > 256) nt = 256;
  char *cerr = NULL;
  void (*fn)(void) = NULL;
  CgJit *jit = mm_compile(&fn, &cerr);
  if (!jit) {
    rt_error(err, LRC_ERR_INTERNAL, "cannot compile the matmul reference: %s", cerr ? cerr : "?");
    free(cerr);
    return -1;
  }
  float *ma = malloc(sizeof(float) * MM_M * MM_K * (size_t)nt);
  float *mb = malloc(sizeof(float) * MM_K * MM_N * (size_t)nt);
  float *mc = malloc(sizeof(float) * MM_M * MM_N * (size_t)nt);
  double rate = -1;
  if (!ma || !mb || !mc) {
    rt_error(err, LRC_ERR_NOMEM, "out of memory");
  } else {
    /* Small values that neither overflow nor go denormal over many reps. */
    for (long i = 0; i < (long)MM_M * MM_K * nt; i++) ma[i] = (float)((i % 7) - 3) * 1e-3f;
    for (long i = 0; i < (long)MM_K * MM_N * nt; i++) mb[i] = (float)((i % 5) - 2) * 1e-3f;
    MatmulFn f = (MatmulFn)fn;
    /* Calibrate the repetitions to about `seconds`, then take the best
     * of three timings. */
    int64_t reps = 4;
    double t = mm_time(f, ma, mb, mc, nt, reps);
    double want = seconds > 0 ? seconds / 3 : 0.05;
    while (t < want / 4 && reps < (1 << 24)) {
      reps *= 4;
      t = mm_time(f, ma, mb, mc, nt, reps);
    }
    double best = t;
    for (int i = 0; i < 2; i++) {
      double ti = mm_time(f, ma, mb, mc, nt, reps);
      if (ti < best) best = ti;
    }
    rate = 2.0 * MM_M * MM_K * MM_N * (double)reps * nt / best / 1e9;
  }
  free(ma);
  free(mb);
  free(mc);
  cg_jit_free(jit);
  return rate;
}
