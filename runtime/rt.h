/* rt.h — runtime internals: the objects behind the public handles. */
#ifndef LRC_RT_H
#define LRC_RT_H

#define LRC_BUILDING 1
#include "../include/lrc.h"
#include "../frontend/frontend.h"
#include "../ir/ir.h"

#include <stdint.h>
#include <string.h>

struct lrc_error {
  lrc_status code;
  char *message;
  char *file;
  int line, col;
};

typedef struct RtCuda RtCuda;     /* the CUDA driver, loaded (cuda.c) */
typedef struct RtNvrtc RtNvrtc;   /* NVRTC, loaded */
typedef struct RtGpuKernel RtGpuKernel;

struct lrc_ctx {
  RtCuda *cuda;            /* loaded on first use; NULL until then */
  RtNvrtc *nvrtc;
};

struct lrc_module {
  lrc_ctx *ctx;
  lrc_algo algo;           /* options for kernels */
  int chunk;
  lrc_target target;
  lrc_dtype io_dtype;      /* CUDA: inputs, params and outputs on the device */
  char *cache_dir;         /* in the arena; NULL: default */
  bool no_cache;
  lrc_kernel *kernels;     /* compiled so far (kernel.c) */
  Arena arena;             /* AST, graphs, strings */
  Source src;              /* owns a copy of the text and the name */
  Diags diags;
  Program *prog;
  Graph **graphs;          /* one per rnn block */
  int ngraphs;
  char *warnings;          /* rendered warnings (malloc) */
};

/* Arguments of the float64 reference interpreter. Per-token tensors are
 * [B, T, H, dims...] (dims in each slot's declared order); with cu_seqlens
 * (int64, nseq + 1 offsets) B is 1 and states are [nseq, H, dims...]. A
 * NULL state_in entry means a zero initial state; a NULL state_out entry
 * (or array) means the final state is not wanted. */
typedef struct RtInterpArgs {
  int B, T, H;
  const long *cu_seqlens;
  int nseq;
  const double *const *inputs;
  const double *const *params;
  const double *const *state_in;
  double **outputs;
  double **state_out;
  long row_begin, row_end;   /* only rows (n*H + h) in [begin, end); 0, 0: all */
} RtInterpArgs;

int rt_interp(const Graph *g, const RtInterpArgs *a, char **err);

/* Call a kernel entry point: `nptrs` pointer arguments then `nints`
 * int64 arguments; it returns int (0 = success). */
int rt_call_kernel(void (*fn)(void), int nptrs, void *const *ptrs, int nints,
                   const int64_t *ints, char **err);

/* The module's graph named `rnn`; NULL: its only one. NULL + error. */
Graph *rt_find_graph(lrc_module *m, const char *rnn, lrc_error **err);
void rt_kernels_free(lrc_kernel *k);

/* tensor.c */
size_t rt_dtype_size(lrc_dtype d);
double rt_get(const void *p, lrc_dtype d, int64_t i);
void rt_set(void *p, lrc_dtype d, int64_t i, double v);
bool rt_is_contiguous(const lrc_tensor *t);
void rt_pack(const lrc_tensor *t, void *dst, lrc_dtype dt);
void rt_unpack(const lrc_tensor *t, const void *src, lrc_dtype st);

/* cache.c: entries keyed by the full key text; 0 on success. */
char *rt_cache_dir(const char *configured);
int rt_cache_get(const char *dir, const char *key, size_t keylen, void **payload, size_t *len);
int rt_cache_put(const char *dir, const char *key, size_t keylen, const void *payload, size_t len);
uint64_t rt_checksum(const void *p, size_t n);

/* Build the kernel of graph g with the module's options (lowering
 * pipeline); NULL with an error (LRC_ERR_SOURCE with located diagnostics
 * for a non-linear update under a parallel algorithm). */
struct Kernel *rt_build_kernel(lrc_module *m, const Graph *g, lrc_error **err);
/* An LRC_ERR_SOURCE error holding the rendered diagnostics. */
lrc_status rt_diag_error(lrc_error **err, const Diags *d);

/* cuda.c: the driver with a device ready, or NULL and LRC_ERR_UNSUPPORTED
 * ("no CUDA device: ..."); NVRTC, or NULL and why. Loaded once per ctx. */
RtCuda *rt_cuda_driver(lrc_ctx *ctx, lrc_error **err);
RtNvrtc *rt_nvrtc(lrc_ctx *ctx, lrc_error **err);
void rt_cuda_free(RtCuda *c);
void rt_nvrtc_free(RtNvrtc *n);
void rt_nvrtc_version(const RtNvrtc *n, int *major, int *minor);
void rt_cuda_device(const RtCuda *c, char *name, int len, int *major, int *minor);
/* CUDA source to a cubin for sm_<major><minor> (malloc'd). */
int rt_nvrtc_compile(RtNvrtc *n, const char *src, const char *name, int major, int minor,
                     void **cubin, size_t *len, lrc_error **err);
/* Compile (or find in the cache) and load the kernel for the module's
 * device; io: the dtype of inputs, params and outputs there. */
RtGpuKernel *rt_cuda_load(lrc_module *m, const struct Kernel *kir, const char *rnn,
                          lrc_dtype io, bool *from_cache, lrc_error **err);
void rt_cuda_kernel_free(RtGpuKernel *g);
typedef struct RtCudaRun {
  int64_t B, T, H, N;
  const lrc_tensor *const *views;   /* per kernel buffer (NULL: absent) */
  const int64_t *cu;                /* cu_seqlens, validated, on the host; or NULL */
  bool device;                      /* views hold device pointers */
  void *stream;                     /* CUstream for device runs */
} RtCudaRun;
/* Run once (times NULL), or `repeat` times with each run's device time in
 * times[] (host tensors only, copied once). */
int rt_cuda_run(RtGpuKernel *g, const struct Kernel *kir, const RtCudaRun *r, int repeat,
                double *times, lrc_error **err);
int rt_cuda_to_host(RtCuda *c, void *dst, const void *src, size_t bytes, lrc_error **err);
double rt_cuda_copy_gbps(lrc_ctx *ctx, double seconds, lrc_error **err);

/* Store a new error in *err (if err is not NULL). Returns `code`. */
lrc_status rt_error(lrc_error **err, lrc_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
