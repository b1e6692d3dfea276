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
typedef struct lrc_options {
  size_t size;              /* sizeof(lrc_options) */
  const char *filename;     /* shown in diagnostics; NULL: "<string>" */
  const lrc_dim *dims;      /* dim sizes (override the source's defaults) */
  int ndims;
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

/* Frees strings returned by the library. Accepts NULL. */
LRC_API void lrc_free(void *p);

#ifdef __cplusplus
}
#endif

#endif
