/* oracle.h — compare compiled kernels with the float64 interpreter. */
#ifndef LRC_TEST_ORACLE_H
#define LRC_TEST_ORACLE_H

#include <stdbool.h>
#include <stddef.h>

#include "ir/ir.h"

/* One comparison: shapes, optional packed sequences, state flags and the
 * range of the uniform random inputs. */
typedef struct OCase {
  int B, T, H;
  int nseq;                /* > 0: packed, B = 1, T = total, cu[0..nseq] */
  long cu[16];
  bool init_state, final_state;
  unsigned seed;
  double lo, hi;
  double grid;             /* > 0: inputs and params on multiples of 1/grid
                              (exact in a kernel's bfloat16 or float16) */
  double unit;             /* > 0: the kernel keeps intermediates to this
                              relative precision (2^-8 for bfloat16): errors
                              are relative to the output's change when the
                              inputs move by as much, over 2 unit, where
                              that is larger, up to 10 times the output
                              (rel_l2 in oracle.c; float32 kernels: 0, the
                              tests stay strict; lrc run: 2^-24) */
} OCase;

/* Runs a kernel on float32 host buffers (ptrs[b] for kernel buffer b,
 * count[b] elements; NULL where absent; cu_seqlens as int64) with
 * ints = {B, T, H, N, first row, end row}. 0 or -1 with *err (malloc'd). */
typedef int (*ORunner)(void *ctx, int nb, void **ptrs, const long *count, const int64_t *ints,
                       char **err);

/* The base of the input seeds (LRC_TEST_SEED, else the clock). */
unsigned long long o_seed_base(void);

/* Give every dim of g a small, distinct size (5, 7, 3, ...), so that a
 * mixed-up dim shows as a wrong result rather than passing by symmetry. */
void o_bind_small_dims(Graph *g);

/* Sizes that are multiples of the vector width (16, 24, 8, 40, ...), as
 * real models have: the register-blocked matrix-product code paths. */
void o_bind_wide_dims(Graph *g);

/* Emit C for k, build it with cc into a shared object, return its
 * NAME_range entry point (NULL: *msg says why). */
void *o_build_c(const Kernel *k, char *msg, size_t msglen, void **handle);

/* Compile k with LLVM and load it into the JIT; *jit receives the handle
 * to free with cg_jit_free (backends/c/backend.h). */
void *o_build_jit(const Kernel *k, char *msg, size_t msglen, void **jit);

/* Run kernel entry `fn` and the oracle on the same random inputs. Returns
 * the worst relative L2 error over outputs and final states (msg names
 * that tensor), or -1 when something failed (msg says what). */
double o_run_case(const Graph *g, const Kernel *k, void *fn, const OCase *c, char *msg,
                  size_t msglen);
/* The same through a runner (a GPU, say). */
double o_run_case_on(const Graph *g, const Kernel *k, ORunner run, void *ctx, const OCase *c,
                     char *msg, size_t msglen);

#endif
