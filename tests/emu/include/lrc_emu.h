/* lrc_emu.h — lrc's CUDA kernels run on the CPU, for the tests of machines
 * without a GPU.
 *
 * The emulated NVRTC (tests/emu/driver.c) compiles a kernel's CUDA source
 * as C++ with this header first: the CUDA qualifiers are erased, the
 * vector and 16-bit float types and intrinsics are defined here, and each
 * thread of a block runs as a fiber on one CPU thread. A fiber runs until
 * it reaches a barrier (__syncthreads) or a warp's collective (a shuffle,
 * ldmatrix, mma.sync), where it waits for the others: the last to arrive
 * at a collective computes it for every lane. Blocks run one after
 * another; in a block, a warp at a time runs as far as the next barrier,
 * its lanes in turn between collectives; first to last, or last to first
 * in every other block (a missing barrier shows in one order or the
 * other; LRC_EMU_RACE=1 runs every launch both ways and compares).
 * What the emulator checks that a GPU run would not show:
 *
 *   - shared memory starts each block as NaN (as float, bfloat16 and
 *     float16 alike), so a value read before it is written shows;
 *   - a write past the block's dynamic shared memory is caught;
 *   - cp.async copies land only at the cp.async.wait_group that waits
 *     for them (a read before the wait sees the old value), or, where the
 *     threads run last to first, at once (a copy into memory that other
 *     threads still read shows);
 *   - ldmatrix must read shared memory, at 16-byte aligned rows;
 *   - a barrier or collective that not every thread reaches, lanes at
 *     different collectives, threads at different __syncthreads() or
 *     lanes at different ldmatrix or mma.sync statements (PTX's .aligned:
 *     the same instruction in every lane), stop the launch with what each
 *     thread waits at and the line of the source it waits on (a GPU hangs
 *     or computes garbage).
 *
 * TF32 products use each operand's top 19 bits (the hardware ignores the
 * rest); products are summed in float64 and rounded once.
 */
#ifndef LRC_EMU_H
#define LRC_EMU_H

#include "lrc_emu_abi.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <type_traits>
#include <utility>
#if !defined(__x86_64__)
#include <ucontext.h>
#endif

#define __global__
#define __device__
#define __host__
#define __shared__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))
#define __restrict__ __restrict

/* ---------------------------------------------------------------------- */
/* Vector types                                                           */

struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned a = 1, unsigned b = 1, unsigned c = 1) : x(a), y(b), z(c) {}
};
struct __attribute__((aligned(8))) float2 { float x, y; };
struct __attribute__((aligned(16))) float4 { float x, y, z, w; };
struct __attribute__((aligned(8))) uint2 { unsigned x, y; };
struct __attribute__((aligned(16))) uint4 { unsigned x, y, z, w; };
struct __attribute__((aligned(8))) int2 { int x, y; };
struct __attribute__((aligned(16))) int4 { int x, y, z, w; };
static inline float2 make_float2(float x, float y) { return {x, y}; }
static inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
static inline uint2 make_uint2(unsigned x, unsigned y) { return {x, y}; }
static inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { return {x, y, z, w}; }
static inline int2 make_int2(int x, int y) { return {x, y}; }
static inline int4 make_int4(int x, int y, int z, int w) { return {x, y, z, w}; }

/* ---------------------------------------------------------------------- */
/* Bits, bfloat16, float16                                                 */

static inline unsigned __float_as_uint(float f) { unsigned u; memcpy(&u, &f, 4); return u; }
static inline float __uint_as_float(unsigned u) { float f; memcpy(&f, &u, 4); return f; }
static inline int __float_as_int(float f) { int u; memcpy(&u, &f, 4); return u; }
static inline float __int_as_float(int u) { float f; memcpy(&f, &u, 4); return f; }

static inline unsigned __byte_perm(unsigned x, unsigned y, unsigned s) {
  uint64_t v = (uint64_t)y << 32 | x;
  unsigned r = 0;
  for (int i = 0; i < 4; i++) r |= (unsigned)(v >> 8 * (s >> 4 * i & 7) & 0xff) << 8 * i;
  return r;
}

struct __nv_bfloat16 { unsigned short __x; };
struct __attribute__((aligned(4))) __nv_bfloat162 { __nv_bfloat16 x, y; };
struct __half { unsigned short __x; };
struct __attribute__((aligned(4))) __half2 { __half x, y; };

static inline unsigned short lrc_emu_bf16_bits(float f) {   /* round to nearest even */
  unsigned u = __float_as_uint(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (unsigned short)(u >> 16 | 0x40);
  return (unsigned short)((u + 0x7fffu + (u >> 16 & 1)) >> 16);
}
static inline float __bfloat162float(__nv_bfloat16 h) { return __uint_as_float((unsigned)h.__x << 16); }
static inline __nv_bfloat16 __float2bfloat16(float f) { return {lrc_emu_bf16_bits(f)}; }
static inline __nv_bfloat16 __float2bfloat16_rn(float f) { return __float2bfloat16(f); }
static inline __nv_bfloat162 __floats2bfloat162_rn(float a, float b) {
  return {__float2bfloat16(a), __float2bfloat16(b)};
}
static inline float2 __bfloat1622float2(__nv_bfloat162 h) {
  return {__bfloat162float(h.x), __bfloat162float(h.y)};
}
static inline float __half2float(__half h) {
  _Float16 v;
  memcpy(&v, &h.__x, 2);
  return (float)v;
}
static inline __half __float2half(float f) {
  _Float16 v = (_Float16)f;
  __half h;
  memcpy(&h.__x, &v, 2);
  return h;
}
static inline __half __float2half_rn(float f) { return __float2half(f); }
static inline __half2 __floats2half2_rn(float a, float b) { return {__float2half(a), __float2half(b)}; }
static inline float2 __half22float2(__half2 h) { return {__half2float(h.x), __half2float(h.y)}; }

/* TF32 of x, rounded to nearest (cvt.rn.tf32.f32): 10 bits of mantissa,
 * the low 13 bits zero. */
static inline unsigned lrc_emu_tf32_bits(float x) {
  unsigned u = __float_as_uint(x);
  if ((u & 0x7f800000u) == 0x7f800000u) return (u & 0x7fffffffu) > 0x7f800000u ? 0x7fffffffu : u;
  return (u + 0xfffu + (u >> 13 & 1)) & 0xffffe000u;
}
namespace nvcuda {
namespace wmma {
static inline float __float_to_tf32(float x) { return __uint_as_float(lrc_emu_tf32_bits(x)); }
}
}

/* ---------------------------------------------------------------------- */
/* Fibers                                                                  */

namespace lrc_emu {

enum { RUN, AT_BARRIER, AT_WARP, DONE };
enum { OP_SHFL = 1, OP_LDSM, OP_MMA_BF16, OP_MMA_TF32, OP_SYNCWARP, OP_SHFL_UP };
static const char *const op_names[] = {"?", "a shuffle", "ldmatrix", "mma (bf16)", "mma (tf32)",
                                       "__syncwarp", "a shuffle up"};

struct Copy {
  unsigned char *dst;
  const unsigned char *src;   /* NULL: zeros */
  unsigned n, group;
};

struct Thread {
  void *sp;
  unsigned char *stack;
  dim3 idx;
  unsigned flat, lane, warp;
  int state, op;
  int site;                   /* the line of the barrier or collective being called */
  Copy *q;
  int nq, capq;
  unsigned open;              /* the cp.async group being filled */
#if !defined(__x86_64__)
  ucontext_t uc;
#endif
};

struct Warp {
  int op, site, arrived, lanes;
  unsigned char in[32][48], out[32][16];
};

enum { MAX_THREADS = 1024, STACK = 256 << 10, CANARY = 4096 };

struct State {
  Thread *cur;
  Thread *threads;            /* MAX_THREADS, with their stacks */
  int nthreads, live, at_barrier;
  Warp warps[MAX_THREADS / 32];
  dim3 block_idx, block_dim, grid_dim;
  unsigned smem_bytes;
  void *sched_sp;
#if !defined(__x86_64__)
  ucontext_t sched_uc;
#endif
  void (*body)(void *);
  void *ctx;
  char err[1024];
  bool failed;
  bool reverse;               /* this block's threads run last to first */
  bool eager;                 /* its cp.async copies land at once */
};
static State S;

}   // namespace lrc_emu

/* Every block's dynamic shared memory, with room for the canary past it. */
static __attribute__((aligned(4096))) float lrc_smem[(LRC_EMU_SMEM_MAX + lrc_emu::CANARY) / 4];

#define threadIdx (lrc_emu::S.cur->idx)
#define blockIdx (lrc_emu::S.block_idx)
#define blockDim (lrc_emu::S.block_dim)
#define gridDim (lrc_emu::S.grid_dim)

namespace lrc_emu {

static void fail(const char *f, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *f, ...) {
  if (S.failed) return;
  S.failed = true;
  va_list ap;
  va_start(ap, f);
  vsnprintf(S.err, sizeof S.err, f, ap);
  va_end(ap);
}

#if defined(__x86_64__)
/* Saves the callee-saved registers and the float control words on this
 * stack, *save = sp, sp = load, and restores them from there. */
extern "C" void lrc_emu_swap(void **save, void *load);
__asm__(".pushsection .text\n"
        ".p2align 4\n"
        ".hidden lrc_emu_swap\n"
        ".globl lrc_emu_swap\n"
        ".type lrc_emu_swap,@function\n"
        "lrc_emu_swap:\n"
        "  pushq %rbp\n  pushq %rbx\n  pushq %r12\n  pushq %r13\n  pushq %r14\n  pushq %r15\n"
        "  subq $8, %rsp\n  stmxcsr (%rsp)\n  fnstcw 4(%rsp)\n"
        "  movq %rsp, (%rdi)\n  movq %rsi, %rsp\n"
        "  ldmxcsr (%rsp)\n  fldcw 4(%rsp)\n  addq $8, %rsp\n"
        "  popq %r15\n  popq %r14\n  popq %r13\n  popq %r12\n  popq %rbx\n  popq %rbp\n"
        "  ret\n"
        ".size lrc_emu_swap, .-lrc_emu_swap\n"
        ".popsection\n");
#endif

static void yield() {
  Thread *t = S.cur;
#if defined(__x86_64__)
  lrc_emu_swap(&t->sp, S.sched_sp);
#else
  swapcontext(&t->uc, &S.sched_uc);
#endif
}

static void complete(Thread *t, unsigned below) {
  int k = 0;
  for (int i = 0; i < t->nq; i++) {
    Copy *c = &t->q[i];
    if (c->group >= below) {
      t->q[k++] = *c;
      continue;
    }
    if (c->src) memcpy(c->dst, c->src, c->n);
    else memset(c->dst, 0, c->n);
  }
  t->nq = k;
}

/* Threads waiting at __syncthreads() on different lines: how many at
 * each of the first two, and the first thread at each. */
static void check_sites() {
  int first = -1, other = -1, n1 = 0, n2 = 0;
  for (int i = 0; i < S.nthreads; i++) {
    const Thread *t = &S.threads[i];
    if (t->state != AT_BARRIER) continue;
    if (first < 0 || t->site == S.threads[first].site) first = first < 0 ? i : first, n1++;
    else if (other < 0 || t->site == S.threads[other].site) other = other < 0 ? i : other, n2++;
  }
  if (other >= 0)
    fail("threads of block (%u,%u,%u) meet at different __syncthreads(): %d at line %d "
         "(thread %d first), %d at line %d (thread %d first)",
         S.block_idx.x, S.block_idx.y, S.block_idx.z, n1, S.threads[first].site, first, n2,
         S.threads[other].site, other);
}

static void check_barrier() {
  if (S.at_barrier < S.live || S.live == 0) return;
  check_sites();
  for (int i = 0; i < S.nthreads; i++)
    if (S.threads[i].state == AT_BARRIER) S.threads[i].state = RUN;
  S.at_barrier = 0;
}

static void fiber_main() {
  Thread *t = S.cur;
  S.body(S.ctx);
  complete(t, ~0u);
  t->state = DONE;
  S.live--;
  Warp *w = &S.warps[t->warp];
  w->lanes--;
  if (w->arrived)
    fail("thread %u of block (%u,%u,%u) returned while its warp's other lanes wait at %s "
         "(line %d)",
         t->flat, S.block_idx.x, S.block_idx.y, S.block_idx.z, op_names[w->op], w->site);
  check_barrier();
  yield();
  abort();   /* never resumed */
}

#if defined(__x86_64__)
static void start(Thread *t) {
  /* The first swap into t "returns" into fiber_main with rsp = 8 mod 16,
   * as a call would leave it. */
  uint64_t *top = (uint64_t *)(t->stack + STACK);
  uint64_t *x = top - 2;
  x[1] = 0;
  x[0] = (uint64_t)(uintptr_t)&fiber_main;
  uint64_t *sp = x - 7;
  memset(sp, 0, 7 * sizeof *sp);
  unsigned csr[2] = {0x1f80u, 0x37fu};   /* MXCSR, x87 control word */
  memcpy(sp, csr, sizeof csr);
  t->sp = sp;
}
#else
static void start(Thread *t) {
  getcontext(&t->uc);
  t->uc.uc_stack.ss_sp = t->stack;
  t->uc.uc_stack.ss_size = STACK;
  t->uc.uc_link = NULL;
  makecontext(&t->uc, (void (*)())fiber_main, 0);
}
#endif

static const char *where(const Thread *t) {
  switch (t->state) {
  case AT_BARRIER: return "__syncthreads()";
  case AT_WARP: return op_names[t->op];
  case DONE: return "(returned)";
  default: return "(running)";
  }
}

static bool same_place(const Thread *a, const Thread *b) {
  return where(a) == where(b) &&
         (a->state != AT_BARRIER && a->state != AT_WARP || a->site == b->site);
}

/* A warp at a time: its lanes in turn until each waits at the block's
 * barrier (or has returned), then the next warp; so a warp runs all it
 * can between two barriers before the next starts, and reads another
 * warp's data before that warp writes it where a barrier is missing. */
static int run_block() {
  int nwarps = (S.nthreads + 31) / 32;
  for (;;) {
    bool ran = false, alive = false;
    for (int wi = 0; wi < nwarps && !S.failed; wi++) {
      int w = S.reverse ? nwarps - 1 - wi : wi;
      int lo = 32 * w, n = S.nthreads - lo < 32 ? S.nthreads - lo : 32;
      for (bool any = true; any && !S.failed;) {
        any = false;
        for (int j = 0; j < n && !S.failed; j++) {
          Thread *t = &S.threads[lo + (S.reverse ? n - 1 - j : j)];
          if (t->state != RUN) continue;
          any = ran = true;
          S.cur = t;
#if defined(__x86_64__)
          lrc_emu_swap(&S.sched_sp, t->sp);
#else
          swapcontext(&S.sched_uc, &t->uc);
#endif
        }
      }
      for (int j = 0; j < n; j++) alive |= S.threads[lo + j].state != DONE;
    }
    if (S.failed) return -1;
    if (!alive) return 0;
    if (!ran) {   /* where the threads wait: each place, how many, the first */
      int n = snprintf(S.err, sizeof S.err, "block (%u,%u,%u) hangs:", S.block_idx.x,
                       S.block_idx.y, S.block_idx.z);
      const Thread *seen[8];
      int nseen = 0;
      for (int i = 0; i < S.nthreads && nseen < 8; i++) {
        const Thread *t = &S.threads[i];
        bool known = false;
        for (int j = 0; j < nseen; j++) known |= same_place(seen[j], t);
        if (known) continue;
        seen[nseen++] = t;
        int count = 0;
        for (int j = i; j < S.nthreads; j++) count += same_place(&S.threads[j], t);
        char line[32] = "";
        if (t->state == AT_BARRIER || t->state == AT_WARP) snprintf(line, sizeof line, " (line %d)", t->site);
        n += snprintf(S.err + n, n < (int)sizeof S.err ? sizeof S.err - (size_t)n : 0,
                      "%s %d threads at %s%s (thread %d first)", nseen > 1 ? ";" : "", count,
                      where(t), line, i);
      }
      S.failed = true;
      return -1;
    }
  }
}

static bool setup() {
  if (S.threads) return true;
  S.threads = (Thread *)calloc(MAX_THREADS, sizeof(Thread));
  unsigned char *stacks = (unsigned char *)mmap(NULL, (size_t)MAX_THREADS * STACK,
                                                PROT_READ | PROT_WRITE,
                                                MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (!S.threads || stacks == MAP_FAILED) {
    free(S.threads);
    S.threads = NULL;
    if (stacks != MAP_FAILED) munmap(stacks, (size_t)MAX_THREADS * STACK);
    return false;
  }
  for (int i = 0; i < MAX_THREADS; i++) {
    S.threads[i].stack = stacks + (size_t)i * STACK;
    mprotect(S.threads[i].stack, 4096, PROT_NONE);   /* an overflow faults */
  }
  return true;
}

/* The stacks go with the module (dlclose), or a process that loads many
 * would run out of memory maps. */
__attribute__((destructor)) static void teardown() {
  if (!S.threads) return;
  for (int i = 0; i < MAX_THREADS; i++) free(S.threads[i].q);
  munmap(S.threads[0].stack, (size_t)MAX_THREADS * STACK);
  free(S.threads);
  S.threads = NULL;
}

static const uint32_t NAN_FILL = 0x7fc07fc0u;   /* NaN as float, bfloat16, float16 */

static int run_grid(const LrcEmuLaunch *l, void (*body)(void *), void *ctx) {
  unsigned n = l->block[0] * l->block[1] * l->block[2];
  if (!setup()) {
    snprintf(l->err, l->errlen, "out of memory for the emulator's threads");
    return -1;
  }
  if (n == 0 || n > MAX_THREADS || l->smem > LRC_EMU_SMEM_MAX) {
    snprintf(l->err, l->errlen, "bad launch: %u threads, %u bytes of shared memory", n, l->smem);
    return -1;
  }
  S.body = body;
  S.ctx = ctx;
  S.failed = false;
  S.err[0] = 0;
  S.block_dim = dim3(l->block[0], l->block[1], l->block[2]);
  S.grid_dim = dim3(l->grid[0], l->grid[1], l->grid[2]);
  S.smem_bytes = l->smem;
  S.nthreads = (int)n;
  uint32_t *sm = (uint32_t *)lrc_smem;
  for (unsigned z = 0; z < l->grid[2]; z++)
    for (unsigned y = 0; y < l->grid[1]; y++)
      for (unsigned x = 0; x < l->grid[0]; x++) {
        S.block_idx = dim3(x, y, z);
        S.reverse = S.eager = l->order == 0 ? (x + y + z) & 1 : l->order == 2;
        for (unsigned i = 0; i < (l->smem + CANARY) / 4; i++) sm[i] = NAN_FILL;
        S.live = (int)n;
        S.at_barrier = 0;
        for (unsigned w = 0; w < (n + 31) / 32; w++) {
          S.warps[w].arrived = 0;
          S.warps[w].lanes = (int)(n - 32 * w < 32 ? n - 32 * w : 32);
        }
        for (unsigned i = 0; i < n; i++) {
          Thread *t = &S.threads[i];
          t->idx = dim3(i % l->block[0], i / l->block[0] % l->block[1],
                        i / (l->block[0] * l->block[1]));
          t->flat = i;
          t->lane = i % 32;
          t->warp = i / 32;
          t->state = RUN;
          t->nq = 0;
          t->open = 0;
          start(t);
        }
        int rc = run_block();
        for (unsigned i = l->smem / 4; rc == 0 && i < (l->smem + CANARY) / 4; i++)
          if (sm[i] != NAN_FILL) {
            S.failed = true;
            snprintf(S.err, sizeof S.err,
                     "block (%u,%u,%u) wrote shared memory at byte %u, past its %u bytes", x, y, z,
                     4 * i, l->smem);
            rc = -1;
          }
        if (rc) {
          snprintf(l->err, l->errlen, "%s", S.err);
          return -1;
        }
      }
  return 0;
}

/* Kernel f over the launch's grid, its arguments read from params as
 * cuLaunchKernel's. */
template <typename... A> struct Call {
  void (*f)(A...);
  void **params;
  template <size_t... I> void go(std::index_sequence<I...>) {
    f(*(typename std::remove_cv<A>::type *)params[I]...);
  }
  static void run(void *p) { ((Call *)p)->go(std::index_sequence_for<A...>{}); }
};

template <typename... A> static int launch(const LrcEmuLaunch *l, void (*f)(A...), void **params) {
  Call<A...> c = {f, params};
  return run_grid(l, &Call<A...>::run, &c);
}

/* ---------------------------------------------------------------------- */
/* Warp collectives: every lane's input, the last to arrive computes      */

static void compute(Warp *w);

static void collective(int op, const void *in, size_t n, void *out, size_t on) {
  Thread *t = S.cur;
  Warp *w = &S.warps[t->warp];
  if (w->arrived == 0) w->op = op, w->site = t->site;
  else if (w->op != op)
    fail("lanes of warp %u of block (%u,%u,%u) at different collectives (%s at line %d, %s at "
         "line %d)", t->warp, S.block_idx.x, S.block_idx.y, S.block_idx.z, op_names[w->op],
         w->site, op_names[op], t->site);
  else if (w->site != t->site && (op == OP_LDSM || op == OP_MMA_BF16 || op == OP_MMA_TF32))
    fail("lanes of warp %u of block (%u,%u,%u) at %s on different lines (%d, %d): it must be "
         "the same instruction in every lane", t->warp, S.block_idx.x, S.block_idx.y,
         S.block_idx.z, op_names[op], w->site, t->site);
  if (w->lanes != 32)
    fail("%s in warp %u of block (%u,%u,%u) with %d of its 32 lanes", op_names[op], t->warp,
         S.block_idx.x, S.block_idx.y, S.block_idx.z, w->lanes);
  memcpy(w->in[t->lane], in, n);
  t->state = AT_WARP;
  t->op = op;
  if (++w->arrived == w->lanes && !S.failed) {
    compute(w);
    w->arrived = 0;
    for (int i = 0; i < 32; i++) S.threads[t->warp * 32 + i].state = RUN;
  }
  yield();
  memcpy(out, w->out[t->lane], on);
}

struct ShflIn { uint32_t v, mask; int lanes, width; };
struct LdsmIn { const unsigned char *p; int count, trans; };
struct MmaIn { uint32_t a[4], b[2]; float c[4]; };

static double bf16_lo(uint32_t u) { return __uint_as_float(u << 16); }
static double bf16_hi(uint32_t u) { return __uint_as_float(u & 0xffff0000u); }
static double tf32_of(uint32_t u) { return __uint_as_float(u & 0xffffe000u); }

static void compute(Warp *w) {
  switch (w->op) {
  case OP_SHFL:
  case OP_SHFL_UP:   /* (a source outside the lane's segment: its own value) */
    for (int l = 0; l < 32; l++) {
      ShflIn *s = (ShflIn *)w->in[l];
      if (s->mask != 0xffffffffu) fail("a shuffle with mask %#x (only full warps are emulated)", s->mask);
      int src = w->op == OP_SHFL_UP ? l - s->lanes : l ^ s->lanes;
      if (src < 0 || (src & ~(s->width - 1)) != (l & ~(s->width - 1))) src = l;
      memcpy(w->out[l], &((ShflIn *)w->in[src])->v, 4);
    }
    break;
  case OP_LDSM: {
    LdsmIn *s0 = (LdsmIn *)w->in[0];
    int count = s0->count, trans = s0->trans;
    const unsigned char *lo = (const unsigned char *)lrc_smem, *hi = lo + S.smem_bytes;
    for (int r = 0; r < 8 * count; r++) {
      const unsigned char *p = ((LdsmIn *)w->in[r])->p;
      if (p < lo || p + 16 > hi || ((uintptr_t)p & 15)) {
        fail("ldmatrix: lane %d's row at %p is %s", r, (const void *)p,
             ((uintptr_t)p & 15) ? "not 16-byte aligned" : "outside the block's shared memory");
        return;
      }
    }
    for (int l = 0; l < 32; l++) {
      uint32_t reg[4];
      int g = l >> 2, c = l & 3;
      for (int m = 0; m < count; m++) {
        uint16_t e0, e1;
        if (!trans) {
          const unsigned char *p = ((LdsmIn *)w->in[8 * m + g])->p + 4 * c;
          memcpy(&e0, p, 2);
          memcpy(&e1, p + 2, 2);
        } else {
          memcpy(&e0, ((LdsmIn *)w->in[8 * m + 2 * c])->p + 2 * g, 2);
          memcpy(&e1, ((LdsmIn *)w->in[8 * m + 2 * c + 1])->p + 2 * g, 2);
        }
        reg[m] = (uint32_t)e0 | (uint32_t)e1 << 16;
      }
      memcpy(w->out[l], reg, 4 * (size_t)count);
    }
    break;
  }
  case OP_MMA_BF16:
  case OP_MMA_TF32: {
    /* D = A B + C on 16 x 8 x K, by the fragments' layouts of PTX's
     * mma.m16n8k16 (bf16) and mma.m16n8k8 (tf32). */
    bool bf = w->op == OP_MMA_BF16;
    int K = bf ? 16 : 8;
    double A[16][16], Bm[16][8], C[16][8];
    for (int l = 0; l < 32; l++) {
      MmaIn *m = (MmaIn *)w->in[l];
      int g = l >> 2, c = l & 3;
      if (bf) {
        for (int i = 0; i < 4; i++) {
          int row = g + 8 * (i & 1), col = 2 * c + 8 * (i >> 1);
          A[row][col] = bf16_lo(m->a[i]);
          A[row][col + 1] = bf16_hi(m->a[i]);
        }
        for (int i = 0; i < 2; i++) {
          Bm[2 * c + 8 * i][g] = bf16_lo(m->b[i]);
          Bm[2 * c + 8 * i + 1][g] = bf16_hi(m->b[i]);
        }
      } else {
        for (int i = 0; i < 4; i++) A[g + 8 * (i & 1)][c + 4 * (i >> 1)] = tf32_of(m->a[i]);
        for (int i = 0; i < 2; i++) Bm[c + 4 * i][g] = tf32_of(m->b[i]);
      }
      for (int i = 0; i < 4; i++) C[g + 8 * (i >> 1)][2 * c + (i & 1)] = m->c[i];
    }
    for (int l = 0; l < 32; l++) {
      int g = l >> 2, c = l & 3;
      float d[4];
      for (int i = 0; i < 4; i++) {
        int row = g + 8 * (i >> 1), col = 2 * c + (i & 1);
        double s = C[row][col];
        for (int k = 0; k < K; k++) s += A[row][k] * Bm[k][col];
        d[i] = (float)s;
      }
      memcpy(w->out[l], d, sizeof d);
    }
    break;
  }
  }
}

}   // namespace lrc_emu

/* ---------------------------------------------------------------------- */
/* The intrinsics and lrc's PTX helpers                                    */

static inline void __syncthreads() {
  lrc_emu::Thread *t = lrc_emu::S.cur;
  t->state = lrc_emu::AT_BARRIER;
  lrc_emu::S.at_barrier++;
  lrc_emu::check_barrier();
  lrc_emu::yield();
}

static inline void __syncwarp(unsigned mask = 0xffffffffu) {
  lrc_emu::ShflIn in = {0, mask, 0, 32};
  if (mask != 0xffffffffu) lrc_emu::fail("__syncwarp with mask %#x (only full warps are emulated)", mask);
  lrc_emu::collective(lrc_emu::OP_SYNCWARP, &in, sizeof in, &in, 0);
}

template <typename T> static inline T __shfl_xor_sync(unsigned mask, T v, int lanes, int width = 32) {
  static_assert(sizeof(T) == 4, "32-bit shuffles only");
  lrc_emu::ShflIn in = {0, mask, lanes, width};
  memcpy(&in.v, &v, 4);
  T r;
  lrc_emu::collective(lrc_emu::OP_SHFL, &in, sizeof in, &r, 4);
  return r;
}

template <typename T> static inline T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width = 32) {
  static_assert(sizeof(T) == 4, "32-bit shuffles only");
  lrc_emu::ShflIn in = {0, mask, (int)delta, width};
  memcpy(&in.v, &v, 4);
  T r;
  lrc_emu::collective(lrc_emu::OP_SHFL_UP, &in, sizeof in, &r, 4);
  return r;
}

static inline size_t __cvta_generic_to_shared(const void *p) {
  return (size_t)((const unsigned char *)p - (const unsigned char *)lrc_smem);
}

static inline unsigned lrc_bf16x2(float lo, float hi) {
  return (unsigned)lrc_emu_bf16_bits(lo) | (unsigned)lrc_emu_bf16_bits(hi) << 16;
}
static inline unsigned lrc_tf32(float x) { return lrc_emu_tf32_bits(x); }

static inline void lrc_emu_mma(int op, float *c, const unsigned *a, const unsigned *b) {
  lrc_emu::MmaIn in;
  memcpy(in.a, a, sizeof in.a);
  memcpy(in.b, b, sizeof in.b);
  memcpy(in.c, c, sizeof in.c);
  lrc_emu::collective(op, &in, sizeof in, c, 4 * sizeof(float));
}
static inline void lrc_mma_bf16(float *c, const unsigned *a, const unsigned *b) {
  lrc_emu_mma(lrc_emu::OP_MMA_BF16, c, a, b);
}
static inline void lrc_mma_tf32(float *c, const unsigned *a, const unsigned *b) {
  lrc_emu_mma(lrc_emu::OP_MMA_TF32, c, a, b);
}

static inline void lrc_emu_ldsm(const void *p, int count, int trans, unsigned *r) {
  lrc_emu::LdsmIn in = {(const unsigned char *)p, count, trans};
  lrc_emu::collective(lrc_emu::OP_LDSM, &in, sizeof in, r, 4 * (size_t)count);
}
static inline void lrc_ldsm4(unsigned *a, unsigned *b, const __nv_bfloat16 *p) {
  unsigned r[4];
  lrc_emu_ldsm(p, 4, 0, r);
  a[0] = r[0], a[1] = r[1], b[0] = r[2], b[1] = r[3];
}
static inline void lrc_ldsm4t(unsigned *a, unsigned *b, const __nv_bfloat16 *p) {
  unsigned r[4];
  lrc_emu_ldsm(p, 4, 1, r);
  a[0] = r[0], a[1] = r[1], b[0] = r[2], b[1] = r[3];
}
static inline void lrc_ldsm2(unsigned *a, const __nv_bfloat16 *p) { lrc_emu_ldsm(p, 2, 0, a); }
static inline void lrc_ldsm2t(unsigned *a, const __nv_bfloat16 *p) { lrc_emu_ldsm(p, 2, 1, a); }
static inline void lrc_ldsm4(unsigned *a, unsigned *b, const float *p) {
  unsigned r[4];
  lrc_emu_ldsm(p, 4, 0, r);
  a[0] = r[0], a[1] = r[1], b[0] = r[2], b[1] = r[3];
}
static inline void lrc_ldsm2(unsigned *a, const float *p) { lrc_emu_ldsm(p, 2, 0, a); }

static inline void lrc_emu_cp(void *d, const void *s, unsigned n) {
  lrc_emu::Thread *t = lrc_emu::S.cur;
  const unsigned char *lo = (const unsigned char *)lrc_smem;
  if ((const unsigned char *)d < lo || (const unsigned char *)d + n > lo + lrc_emu::S.smem_bytes ||
      (uintptr_t)d % n || (uintptr_t)s % n) {
    lrc_emu::fail("cp.async of %u bytes from %p to %p: %s", n, s, d,
                  (uintptr_t)d % n || (uintptr_t)s % n ? "misaligned"
                                                      : "outside the block's shared memory");
    lrc_emu::yield();   /* (the launch stops: never resumed) */
    return;
  }
  if (lrc_emu::S.eager) {
    if (s) memcpy(d, s, n);
    else memset(d, 0, n);
    return;
  }
  if (t->nq == t->capq) {
    t->capq = t->capq ? 2 * t->capq : 64;
    t->q = (lrc_emu::Copy *)realloc(t->q, (size_t)t->capq * sizeof *t->q);
  }
  t->q[t->nq++] = {(unsigned char *)d, (const unsigned char *)s, n, t->open};
}
static inline void lrc_cp16(void *d, const void *s) { lrc_emu_cp(d, s, 16); }
static inline void lrc_cp16z(void *d, const void *s, bool p) { lrc_emu_cp(d, p ? s : NULL, 16); }
static inline void lrc_cp4(void *d, const void *s) { lrc_emu_cp(d, s, 4); }
static inline void lrc_emu_commit() { lrc_emu::S.cur->open++; }
/* cp.async.wait_group n: every group but the newest n committed lands. */
static inline void lrc_emu_wait(unsigned n) {
  lrc_emu::Thread *t = lrc_emu::S.cur;
  lrc_emu::complete(t, t->open >= n ? t->open - n : 0);
}
static inline unsigned lrc_tid_fresh(void) { return threadIdx.x; }

/* Each barrier and collective called with its line in the kernel's source
 * (the reports name it; threads must meet at the same __syncthreads(),
 * lanes at the same ldmatrix and mma). The names inside are not expanded
 * again. */
#define LRC_EMU_SITE lrc_emu::S.cur->site = __LINE__
#define __syncthreads() (LRC_EMU_SITE, __syncthreads())
#define __syncwarp(...) (LRC_EMU_SITE, __syncwarp(__VA_ARGS__))
#define __shfl_xor_sync(...) (LRC_EMU_SITE, __shfl_xor_sync(__VA_ARGS__))
#define __shfl_up_sync(...) (LRC_EMU_SITE, __shfl_up_sync(__VA_ARGS__))
#define lrc_mma_bf16(...) (LRC_EMU_SITE, lrc_mma_bf16(__VA_ARGS__))
#define lrc_mma_tf32(...) (LRC_EMU_SITE, lrc_mma_tf32(__VA_ARGS__))
#define lrc_ldsm4(...) (LRC_EMU_SITE, lrc_ldsm4(__VA_ARGS__))
#define lrc_ldsm4t(...) (LRC_EMU_SITE, lrc_ldsm4t(__VA_ARGS__))
#define lrc_ldsm2(...) (LRC_EMU_SITE, lrc_ldsm2(__VA_ARGS__))
#define lrc_ldsm2t(...) (LRC_EMU_SITE, lrc_ldsm2t(__VA_ARGS__))

#endif
