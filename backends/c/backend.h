/* backend.h — the CPU backend: kernel IR to C source (emit_c.c) and, later,
 * to LLVM IR compiled by ORC LLJIT. */
#ifndef LRC_BACKEND_C_H
#define LRC_BACKEND_C_H

#include "../../ir/ir.h"
#include "../../include/lrc.h"

#define LRC_VERSION_STRING_INTERNAL LRC_VERSION_STRING

/* Write the kernel as standalone C99 into c_out (and its header into
 * h_out, if not NULL). The source #includes `header_name` when given. */
void cg_emit_c(const Kernel *k, const char *header_name, Buf *c_out, Buf *h_out);

/* The same kernel as standalone CUDA (backends/cuda/emit_cuda.c): NAME.cu
 * with an extern "C" launcher taking device pointers and a stream, and
 * NAME.h declaring it. io: the element type of inputs, params and outputs
 * (0 float, 1 bfloat16, 2 float16); states and arithmetic are float. */
void cg_emit_cuda(const Kernel *k, const char *header_name, int io, Buf *cu_out, Buf *h_out);

/* The kernel alone as CUDA for NVRTC (no launcher, no host headers):
 * extern "C" __global__ functions taking the kernel's buffers (device
 * pointers, in kernel-IR order), B, T, H, N (int64) and a float scratch
 * pointer: part[0] the kernel (a block per (sequence, head) row, times
 * blocks_per_row); with `phased`, also the parts of its phased form
 * (Kernel.phase_loop), which take the chunk records as one more float
 * pointer (phase_rec floats per record and head, B·T/phase_chunk + N
 * records): part[1] the free part on a grid of (records, H) blocks, then
 * part[2] the rest on rows times its blocks_per_row. */
typedef struct CgCudaEntry {
  Buf entry;               /* the __global__ function's name */
  long smem_bytes;         /* dynamic shared memory per block */
  long scratch_floats;     /* global scratch per block (0: none) */
  int blocks_per_row;
  int threads;             /* per block */
} CgCudaEntry;
typedef struct CgCudaLaunch {
  CgCudaEntry part[4];     /* the kernel; the phased form's free part, its
                              rest, and its rest on one block a row (no
                              entry: none; cg_cuda_whole_rows) */
  bool phased;
  bool phase_pays;         /* the free part holds serial work (cg_cuda_phase_pays),
                              or the rest keeps its records in bf16 */
  long phase_rec;
  int phase_chunk;
} CgCudaLaunch;
/* Does the phased form pay for rows (sequence, head) rows of the kernel's
 * blocks_per_row blocks and `tokens` tokens in all (the launchers'
 * choice)? Only where its free part holds serial work (pays: see
 * cg_cuda_phase_pays); where the rows fill the GPU's SMs, or the
 * sequences are a few chunks long, the kernel alone does. */
enum { CG_PHASED_AUTO = 1, CG_PHASED_MAX_BLOCKS = 512, CG_PHASED_MIN_CHUNKS = 8 };
static inline bool cg_cuda_phased(bool pays, long long blocks, long long tokens, long long nseq,
                                  int chunk) {
  return CG_PHASED_AUTO && pays && blocks <= CG_PHASED_MAX_BLOCKS &&
         tokens >= (long long)CG_PHASED_MIN_CHUNKS * chunk * nseq;
}
bool cg_cuda_phase_pays(const Kernel *k);
/* Does the phased form's rest run on one block a row (part 3) rather than
 * on nsplit blocks a row, on a GPU of sms SMs (0: unknown)? Where the
 * split's blocks are more than the SMs: some would share an SM, and each
 * loads the row's records again. */
static inline bool cg_cuda_whole_rows(long long rows, int nsplit, int sms) {
  return sms > 0 && rows * nsplit > sms;
}
void cg_emit_cuda_jit(const Kernel *k, int io, Buf *out, CgCudaLaunch *launch);

/* Optimised LLVM IR of the kernel for the host CPU (malloc'd text), or
 * NULL with *err (malloc'd). */
char *cg_llvm_ir(const Kernel *k, char **err);

/* The kernel compiled to a host object file (malloc'd bytes). 0 or -1. */
int cg_llvm_object(const Kernel *k, void **obj, size_t *len, char **err);

/* "triple cpu features" of the host (malloc'd), for cache keys. */
char *cg_host_id(void);
/* Identifies this build of the code generator, for cache keys. */
const char *cg_build_id(void);

/* A JIT instance holding one loaded object. */
typedef struct CgJit CgJit;

/* Load an object and look up `symbol` (its entry point). */
CgJit *cg_jit_load(const void *obj, size_t len, const char *symbol, void (**fn)(void),
                   char **err);
void cg_jit_free(CgJit *j);

#endif
