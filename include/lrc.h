/* lrc.h — the public C API of lrc, a compiler for linear recurrences.
 *
 * Compile a DSL source (one or more `rnn` blocks) into a module, inspect it
 * (AST, step-graph IR, Graphviz) and, in later versions, get kernels to run
 * on the caller's buffers.
 *
 * Conventions:
 * - Every name is prefixed lrc_ / LRC_. Handles are opaque.
 * - Functions that can fail return NULL or a non-zero lrc_status and, when
 *   `err` is not NULL, store a new error object in *err, which the caller
 *   frees with lrc_error_free (NULL is accepted). The library never prints
 *   and never exits.
 * - Thread safety: an lrc_ctx and the modules made from it are used by one
 *   thread at a time (lock if you share them); separate contexts are
 *   independent. There is no global mutable state.
 * - Strings returned as `char *` are malloc'd: free them with lrc_free.
 *   Strings returned as `const char *` belong to the object they came from.
 */
#ifndef LRC_H
#define LRC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(LRC_BUILDING) && defined(__GNUC__)
#define LRC_API __attribute__((visibility("default")))
#else
#define LRC_API
#endif

#define LRC_VERSION_MAJOR 0
#define LRC_VERSION_MINOR 1
#define LRC_VERSION_PATCH 0
#define LRC_VERSION_STRING "0.1.0"

typedef struct lrc_ctx lrc_ctx;
typedef struct lrc_module lrc_module;
typedef struct lrc_error lrc_error;

/* Status codes. Every code but LRC_ERR_INTERNAL is the caller's or the
 * user's to fix; LRC_ERR_INTERNAL is a bug in lrc. */
typedef enum lrc_status {
  LRC_OK = 0,
  LRC_ERR_SOURCE = 1,       /* the DSL source has errors (message: diagnostics) */
  LRC_ERR_USAGE = 2,        /* a bad argument or option (unknown rnn, bad dim) */
  LRC_ERR_IO = 3,           /* a file could not be read or written */
  LRC_ERR_UNSUPPORTED = 4,  /* valid request that this version cannot do */
  LRC_ERR_NOMEM = 5,        /* out of memory */
  LRC_ERR_INTERNAL = 100,   /* a bug in lrc; the message says where */
} lrc_status;

/* ---- errors ----------------------------------------------------------- */

LRC_API lrc_status lrc_error_code(const lrc_error *e);
/* The full message. For LRC_ERR_SOURCE: every diagnostic, rendered as
 * `file:line:col: error: message`, the source line and a caret. */
LRC_API const char *lrc_error_message(const lrc_error *e);
/* Location of the first error in source (file NULL and line 0 if none). */
LRC_API void lrc_error_location(const lrc_error *e, const char **file, int *line, int *col);
LRC_API void lrc_error_free(lrc_error *e);

/* ---- contexts ---------------------------------------------------------- */

LRC_API lrc_ctx *lrc_ctx_new(void);           /* NULL when out of memory */
LRC_API void lrc_ctx_free(lrc_ctx *ctx);      /* accepts NULL */
LRC_API const char *lrc_version(void);        /* LRC_VERSION_STRING */

/* ---- compiling --------------------------------------------------------- */

/* A size bound at compile time: `dim K` gets `size`. */
typedef struct lrc_dim {
  const char *name;
  long size;
} lrc_dim;

/* Options of lrc_compile. Initialise with lrc_options_init; `size` lets
 * the struct grow without breaking callers built against older headers. */
typedef enum lrc_algo {
  LRC_ALGO_AUTO = 0,        /* the planner's choice */
  LRC_ALGO_RECURRENT,       /* token by token; valid for every rnn */
  LRC_ALGO_SCAN,            /* associative scan (elementwise/diagonal states) */
  LRC_ALGO_CHUNK,           /* chunkwise parallel (matrix products) */
} lrc_algo;

typedef enum lrc_target {
  LRC_TARGET_CPU = 0,       /* LLVM JIT for the host CPU */
  LRC_TARGET_CUDA,          /* NVIDIA GPU: NVRTC and the driver, loaded at run time */
} lrc_target;

/* Element types of tensors (and of the emitted CUDA's I/O). */
typedef enum lrc_dtype {
  LRC_F32 = 0, LRC_F64, LRC_F16, LRC_BF16, LRC_I32, LRC_I64,
} lrc_dtype;

typedef struct lrc_options {
  size_t size;              /* sizeof(lrc_options) */
  const char *filename;     /* shown in diagnostics; NULL: "<string>" */
  const lrc_dim *dims;      /* dim sizes (override the source's defaults) */
  int ndims;
  lrc_algo algo;            /* algorithm for kernels (LRC_ALGO_AUTO) */
  int chunk;                /* chunk size for LRC_ALGO_CHUNK (0: planner) */
  lrc_target target;
  const char *cache_dir;    /* kernel cache; NULL: $LRC_CACHE_DIR, else
                               $XDG_CACHE_HOME/lrc, else ~/.cache/lrc */
  int no_cache;             /* non-zero: neither read nor write the cache */
  lrc_dtype io_dtype;       /* LRC_TARGET_CUDA: the dtype of inputs, params and
                               outputs on the device: LRC_F32 (default),
                               LRC_BF16 or LRC_F16; states stay float32 */
} lrc_options;

LRC_API void lrc_options_init(lrc_options *opts);

/* Parse and check `source` (NUL-terminated, or `len` bytes for the
 * _buffer form, which may contain any bytes). `opts` may be NULL. */
LRC_API lrc_module *lrc_compile(lrc_ctx *ctx, const char *source, const lrc_options *opts,
                                lrc_error **err);
LRC_API lrc_module *lrc_compile_buffer(lrc_ctx *ctx, const char *source, size_t len,
                                       const lrc_options *opts, lrc_error **err);
LRC_API void lrc_module_free(lrc_module *m);  /* accepts NULL */

/* Warnings of a successful compilation, rendered like errors ("" if none). */
LRC_API const char *lrc_module_warnings(const lrc_module *m);

/* The rnn blocks of a module, in source order. */
LRC_API int lrc_module_rnn_count(const lrc_module *m);
LRC_API const char *lrc_module_rnn_name(const lrc_module *m, int i);

/* ---- inspecting -------------------------------------------------------- */

typedef enum lrc_emit_kind {
  LRC_EMIT_AST,             /* the parsed file as S-expressions */
  LRC_EMIT_IR,              /* the step graph (SSA, named dims) */
  LRC_EMIT_DOT,             /* the step graph for Graphviz */
  LRC_EMIT_KIR,             /* the kernel IR of the recurrent algorithm (dims bound) */
  LRC_EMIT_LLVM,            /* its optimised LLVM IR for the host CPU (dims bound) */
  LRC_EMIT_PLAN,            /* per state: transition class and algorithm */
  LRC_EMIT_CANON,           /* the canonical step graph (folded, CSE'd, pruned) */
} lrc_emit_kind;

/* Text of the requested form for rnn `rnn` (NULL: every rnn of the
 * module; LRC_EMIT_AST always shows the whole file). */
LRC_API char *lrc_emit(lrc_module *m, const char *rnn, lrc_emit_kind kind, lrc_error **err);

/* Standalone C99 for rnn `rnn` (NULL: the module's only rnn) with the
 * recurrent algorithm: *c_source and *h_source receive NAME.c and NAME.h
 * (free with lrc_free); the source includes "header_name". Every dim must
 * have a size. The code needs no lrc header or library. */
LRC_API lrc_status lrc_emit_c(lrc_module *m, const char *rnn, const char *header_name,
                              char **c_source, char **h_source, lrc_error **err);
/* The same as standalone CUDA: NAME.cu with `extern "C" int NAME(device
 * pointers..., B, T, H, N, cudaStream_t)` and NAME.h; builds with nvcc for
 * sm_80 and sm_90a, needs no lrc header or library. Inputs, params and
 * outputs are io_dtype (LRC_F32, LRC_BF16 or LRC_F16); states and all
 * arithmetic are float32. */
LRC_API lrc_status lrc_emit_cuda(lrc_module *m, const char *rnn, const char *header_name,
                                 lrc_dtype io_dtype, char **cu_source, char **h_source,
                                 lrc_error **err);

/* ---- running ------------------------------------------------------------ */

typedef struct lrc_kernel lrc_kernel;

enum { LRC_MAX_NDIM = 12 };

/* A view of the caller's memory. Strides count elements; all-zero strides
 * mean C-contiguous. Tensors of another dtype or layout than the kernel's
 * are converted (copied) on the way in and out. */
typedef struct lrc_tensor {
  void *data;
  lrc_dtype dtype;
  int ndim;
  int64_t shape[LRC_MAX_NDIM];
  int64_t strides[LRC_MAX_NDIM];
} lrc_tensor;

typedef struct lrc_binding {
  const char *name;         /* a declared input, param, state or output */
  lrc_tensor tensor;
} lrc_binding;

/* Arguments of lrc_kernel_run. Layouts (DESIGN.md): inputs and outputs
 * [B, T, H, dims...]; params [H, dims...]; states [N, H, dims...] with
 * N = B, or the number of sequences with cu_seqlens (then B = 1 and T is
 * the total number of tokens). Every input, param and output must be
 * bound; states are optional (a missing initial state is zero; a missing
 * final state is not written). */
typedef struct lrc_args {
  size_t size;              /* sizeof(lrc_args) */
  const lrc_binding *inputs;      /* inputs and params, by name */
  int ninputs;
  const lrc_binding *outputs;
  int noutputs;
  const lrc_binding *state_in;
  int nstate_in;
  const lrc_binding *state_out;
  int nstate_out;
  const lrc_tensor *cu_seqlens;   /* int32 or int64 [N + 1], or NULL */
  int nthreads;             /* 0: one per core */
  /* CUDA kernels only. device = 0: the tensors are in host memory; they
   * are copied to the device (converted to the kernel's dtypes) and the
   * results back, and the call returns when they are. device != 0: every
   * tensor's data (cu_seqlens's too) is a device pointer of the kernel's
   * context (the caller's current one when the kernel was made, else
   * device 0's primary context), contiguous, in the kernel's I/O dtype
   * (lrc_options.io_dtype; states float32, cu_seqlens int32 or int64);
   * the kernel is launched on `stream` (a CUstream / cudaStream_t, NULL:
   * the default stream) and the call returns once it is launched. */
  int device;
  void *stream;
} lrc_args;

LRC_API void lrc_args_init(lrc_args *a);

/* Compile rnn `rnn` (NULL: the module's only rnn) for the options given
 * to lrc_compile; uses the kernel cache. The kernel belongs to the module
 * and lives until lrc_module_free. A kernel may be run from several
 * threads at once. */
LRC_API lrc_kernel *lrc_kernel_get(lrc_module *m, const char *rnn, lrc_error **err);
LRC_API int lrc_kernel_run(lrc_kernel *k, const lrc_args *a, lrc_error **err);

/* Run k `repeat` times on the same arguments and store each run's time
 * in milliseconds in times[0..repeat). CPU kernels: each lrc_kernel_run,
 * timed on the host. CUDA kernels (host tensors only): the tensors are
 * copied to the device once, each run is timed on the device with
 * events, the results are copied back after the last. */
LRC_API int lrc_kernel_time(lrc_kernel *k, const lrc_args *a, int repeat, double *times,
                            lrc_error **err);

/* The float64 reference interpreter on the same arguments (any dtype;
 * results are converted to the output tensors' dtype). Slow; for tests. */
LRC_API int lrc_kernel_reference(lrc_kernel *k, const lrc_args *a, lrc_error **err);
/* The same for rows [row_begin, row_end) of the N*H (sequence, head) rows
 * only (row = n*H + h); other rows of the outputs are left as they are. */
LRC_API int lrc_kernel_reference_rows(lrc_kernel *k, const lrc_args *a, int64_t row_begin,
                                      int64_t row_end, lrc_error **err);

/* What a kernel expects, for callers that allocate tensors themselves. */
typedef enum lrc_slot_kind { LRC_INPUT, LRC_PARAM, LRC_STATE, LRC_OUTPUT } lrc_slot_kind;

typedef struct lrc_slot_info {
  const char *name;
  lrc_slot_kind kind;
  int ndims;                        /* declared dims (after B, T, H / H / N, H) */
  const char *dim_names[8];
  int64_t dim_sizes[8];
} lrc_slot_info;

LRC_API int lrc_kernel_slot_count(const lrc_kernel *k);
LRC_API int lrc_kernel_slot(const lrc_kernel *k, int i, lrc_slot_info *info);
/* "recurrent", "chunk(C=64, WY)", ... and compile statistics. */
LRC_API const char *lrc_kernel_algorithm(const lrc_kernel *k);
LRC_API double lrc_kernel_compile_ms(const lrc_kernel *k);
LRC_API int lrc_kernel_from_cache(const lrc_kernel *k);
/* FLOPs per token and head of the chunkwise algorithm (ALGORITHMS.md
 * §3.7, 2 per multiply-add): the common yardstick lrc bench divides by,
 * whatever algorithm k runs. */
LRC_API double lrc_kernel_flops_per_token(const lrc_kernel *k);

/* The rate of this machine at the small matrix products chunk kernels are
 * made of (64x128 times 128x128, float32, in cache), in GFLOP/s, with
 * nthreads threads (<= 0: one per core), measured for about `seconds`.
 * Negative on failure (*err says why). */
LRC_API double lrc_matmul_gflops(int nthreads, double seconds, lrc_error **err);

/* The CUDA device of ctx (the one its CUDA kernels use): its
 * device-to-device copy rate in GB/s (bytes read plus written, a 256 MiB
 * copy repeated for about `seconds`), the memory-bound ceiling of lrc
 * bench --target=cuda; and "NAME (sm_XY)" in name[0..len). Negative
 * with *err ("no CUDA device: ...") where there is none. */
LRC_API double lrc_cuda_copy_gbps(lrc_ctx *ctx, double seconds, char *name, int len,
                                  lrc_error **err);

/* ---- .npy files --------------------------------------------------------- */

/* Read a NumPy .npy file (v1/v2 header; <f4 <f8 <f2 <i4 <i8; C order)
 * into a new contiguous tensor (free with lrc_tensor_free). */
LRC_API int lrc_npy_read(const char *path, lrc_tensor *t, lrc_error **err);
LRC_API int lrc_npy_write(const char *path, const lrc_tensor *t, lrc_error **err);
/* Allocate a contiguous tensor (zeroed); free its data with lrc_tensor_free. */
LRC_API int lrc_tensor_alloc(lrc_tensor *t, lrc_dtype dtype, int ndim, const int64_t *shape,
                             lrc_error **err);
LRC_API void lrc_tensor_free(lrc_tensor *t);
LRC_API int64_t lrc_tensor_numel(const lrc_tensor *t);
LRC_API const char *lrc_dtype_name(lrc_dtype d);

/* Frees strings returned by the library. Accepts NULL. */
LRC_API void lrc_free(void *p);

#ifdef __cplusplus
}
#endif

#endif
