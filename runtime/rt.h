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

struct lrc_ctx {
  int unused;              /* grows with the kernel cache and JIT (later) */
};

struct lrc_module {
  lrc_ctx *ctx;
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
} RtInterpArgs;

int rt_interp(const Graph *g, const RtInterpArgs *a, char **err);

/* Call a kernel entry point: `nptrs` pointer arguments then `nints`
 * int64 arguments; it returns int (0 = success). */
int rt_call_kernel(void (*fn)(void), int nptrs, void *const *ptrs, int nints,
                   const int64_t *ints, char **err);

/* Store a new error in *err (if err is not NULL). Returns `code`. */
lrc_status rt_error(lrc_error **err, lrc_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
