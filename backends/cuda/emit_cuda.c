/* emit_cuda.c — kernel IR to standalone CUDA: NAME.cu and NAME.h.
 *
 * The output needs no lrc header or library: `nvcc -arch=sm_90a -c NAME.cu`
 * (or sm_80). One thread block per (sequence, head) row of the kernel's
 * parallel loop; every statement is spread over the block's threads:
 *
 *   nest        one assignment at a time, threads over the points of its
 *               target tile, the reduced dims looped by each thread into a
 *               register (no atomics), a barrier before an assignment
 *               that depends on the ones since the last (sync_before);
 *   load/store  threads over the elements of a block of rows;
 *   cumsum      threads over the other dims, sequential along the dim;
 *   trisolve    threads over the columns of the right-hand side;
 *   scan        threads over the state's elements, sequential along the
 *               rows, the carry in a register (a log-step scan over the
 *               rows is a later step).
 *
 * Tiles live in shared memory when they fit (160 KiB, within both sm_80
 * and sm_90 limits); else the most used ones (accesses per element) there
 * and the rest in a global scratch block per row allocated by
 * the launcher on the caller's stream; tiles whose lifetimes are disjoint
 * share space (place_tiles). A nest that is a matrix product of two tiles
 * runs on the tensor cores (emit_mma_sync: mma.sync, a block of
 * accumulators a warp, the statement before and after it folded in where
 * they touch the product's tile alone).
 *
 *   extern "C" int NAME(device pointers..., B, T, H, N, cudaStream_t)
 *
 * returns the launch's cudaError_t (0: success).
 */
#include "../c/emit.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* Threads per block (unless a part of the phased form sets its own,
 * Emit.threads), and the shared memory a block may take. */
enum { THREADS = 512, SMEM_MAX = 160 * 1024, SMEM_PER_SM_MAX = 228 * 1024, SMALL_TILE = 128 };

/* The I/O element types (Emit.io: float, bfloat16, float16) and their
 * conversions from and to float, one value or a pair. */
static const char *const io_type[] = {"float", "__nv_bfloat16", "__half"};
static const char *const io_to_f[] = {"", "__bfloat162float", "__half2float"};
static const char *const io_from_f[] = {"", "__float2bfloat16", "__float2half"};
static const char *const io_pair[] = {"", "__nv_bfloat162", "__half2"};
static const char *const io_to_f2[] = {"", "__bfloat1622float2", "__half22float2"};
static const char *const io_from_f2[] = {"", "__floats2bfloat162_rn", "__floats2half2_rn"};

static void emit_block(Emit *e, const KBlock *b, int depth, bool outer);

/* Is the emit-time switch `name` set to `value` (LRC_CUDA_...=off: a change
 * turned off for A/B timing)? */
static bool env_is(const char *name, const char *value) {
  const char *v = getenv(name);
  return v && !strcmp(v, value);
}

static long env_long(const char *name, long dflt) {
  const char *env = getenv(name);
  return env && *env ? strtol(env, NULL, 10) : dflt;
}

/* "for (int VAR = FIRST; VAR < n; VAR += step)" without its body: the
 * points of a statement over the block's threads (step THREADS), its
 * warps (THREADS / 32) or a warp's lanes (32). The block has exactly
 * THREADS threads, so the trip count is known here: constant bounds (a
 * bound check only where step does not divide n), unrolled (fully up to 4
 * trips, else by 4: fully unrolled 32-trip loads of a state spilled
 * registers), so that the loads of several trips are in flight together.
 * With LRC_CUDA_UNROLL=off the generic strided loop (dyn the step in terms
 * of blockDim). */
static void put_strided(Emit *e, const char *var, const char *first, long n, long step,
                        const char *dyn) {
  if (env_is("LRC_CUDA_UNROLL", "off")) {
    buf_printf(e->out, "for (int %s = %s; %s < %ld; %s += %s) ", var, first, var, n, var, dyn);
    return;
  }
  long trips = (n + step - 1) / step;
  if (trips <= 1) {   /* one point per thread at most */
    if (n < step) buf_printf(e->out, "if ((%s) < %ld) ", first, n);
    buf_printf(e->out, "for (int %s = %s, %s_t = 0; %s_t < 1; %s_t++) ", var, first, var, var,
               var);
    return;
  }
  buf_printf(e->out, "_Pragma(\"unroll%s\") ", trips <= 4 ? "" : " 4");
  buf_printf(e->out, "for (int %s_t = 0, %s = %s; %s_t < %ld; %s_t++, %s += %ld) ", var, var, first,
             var, trips, var, var, step);
  if (n % step) buf_printf(e->out, "if (%s < %ld) ", var, n);
}

/* Does the source read the thread's index anew on each trip of a serial
 * loop (see tid_prelude)? Yes, for NVRTC and nvcc alike (nvcc's code does
 * not spill either way, but DeltaProduct's chunk kernel ran 1.1x faster
 * so); LRC_CUDA_FRESH_TID=off for threadIdx.x throughout. */
static bool fresh_tid(void) { return !env_is("LRC_CUDA_FRESH_TID", "off"); }

/* The thread's index in the block (TID), its warp (TID_WARP) or lane
 * (TID_LANE): lrc_tid where fresh_tid. */
enum { TID, TID_WARP, TID_LANE };
static const char *tid(int part) {
  static const char *const names[2][3] = {
      {"threadIdx.x", "threadIdx.x >> 5", "threadIdx.x & 31"},
      {"lrc_tid", "lrc_tid >> 5", "lrc_tid & 31"}};
  return names[fresh_tid()][part];
}


static long count_of(const Kernel *k, DimSet dims) {
  long n = 1;
  for (int d = 0; d < k->dims.len; d++)
    if (dims & (1u << d)) n *= k->dims.data[d].size;
  return n;
}

/* const i_DIM = (var / stride) % size for every dim of `dims` (layout
 * order, the last the fastest); the product of their sizes. */
static long decode(Emit *e, DimSet dims, const char *var, int depth) {
  const Kernel *k = e->k;
  long stride = 1;
  for (int o = k->dims.len - 1; o >= 0; o--) {
    int d = k->order[o];
    if (!(dims & (1u << d))) continue;
    em_ind(e, depth);
    buf_printf(e->out, "const int i_%s = (%s / %ld) %% %ld;\n", k->dims.data[d].name, var,
               stride, k->dims.data[d].size);
    stride *= k->dims.data[d].size;
  }
  return stride;
}

/* for (p = threadIdx.x; p < count(dims); p += blockDim.x), with i_DIM
 * for every dim of `dims` decoded from p (layout order). */
static void open_threads(Emit *e, DimSet dims, long extra, int depth) {
  em_ind(e, depth);
  put_strided(e, "lrc_p", tid(TID), extra * count_of(e->k, dims), e->threads, "blockDim.x");
  buf_puts(e->out, "{\n");
  long stride = decode(e, dims, "lrc_p", depth + 1);
  if (extra > 1) {
    em_ind(e, depth + 1);
    buf_printf(e->out, "const int lrc_r = lrc_p / %ld;\n", stride);
  }
}

static void close_threads(Emit *e, int depth) {
  em_ind(e, depth);
  buf_puts(e->out, "}\n");
}

/* Barriers by dependency. A statement's threads touch other threads'
 * elements in general (its mapping of points to threads differs from the
 * last one's), so a barrier must separate two statements where one
 * writes memory the other reads or writes (RAW, WAR, WAW), and is needed
 * nowhere else. e->pend holds what was read and written since the last
 * barrier; before each statement (each assignment of a nest), a barrier
 * if it conflicts with that. Two tiles conflict where their memory
 * overlaps (tiles may share space, see place_tiles); the caller's
 * buffers count as one (they might alias). Serial loops and branches
 * start and end with no access pending. LRC_CUDA_SYNC=all: a barrier
 * after every statement. */
static bool same_memory(const Emit *e, int t, int u) {
  int nt = e->k->tiles.len;
  if (t == u) return true;
  if (t == nt || u == nt || e->tile_smem[t] != e->tile_smem[u]) return false;
  return e->tile_off[t] < e->tile_off[u] + e->tile_len[u] &&
         e->tile_off[u] < e->tile_off[t] + e->tile_len[t];
}

static void flush(Emit *e, int depth) {
  int nt = e->k->tiles.len;
  bool any = false;
  for (int t = 0; t <= nt; t++) any |= e->pend[t] != 0;
  if (!any) return;
  em_ind(e, depth);
  buf_puts(e->out, "__syncthreads();\n");
  memset(e->pend, 0, (size_t)nt + 1);
  if (e->pfoot) memset(e->pfoot, 0, sizeof(uint64_t *) * (size_t)(nt + 1));
}

/* Before a statement that reads and writes `use` (per tile: 1, 2); pt
 * (or NULL): per tile, the point map of the statement's every access to
 * it (point_map), or 0. Accesses to one tile at the same points under the
 * same map are each thread's own element, with no barrier between them
 * (e->pend_map: the map of every access pending, or 0). */
static void sync_at(Emit *e, const unsigned char *use, const int *pt, int depth) {
  int nt = e->k->tiles.len;
  bool clash = false;
  for (int t = 0; t <= nt && !clash; t++) {
    if (!use[t]) continue;
    for (int u = 0; u <= nt && !clash; u++)
      clash = e->pend[u] && ((use[t] | e->pend[u]) & 2) && same_memory(e, t, u) &&
              !(t == u && pt && pt[t] && e->pend_map[t] == pt[t]);
  }
  if (clash || e->sync_all) flush(e, depth);
  for (int t = 0; t <= nt; t++) {
    if (!use[t]) continue;
    int map = pt ? pt[t] : 0;
    e->pend_map[t] = !e->pend[t] || e->pend_map[t] == map ? map : 0;
    e->pend[t] |= use[t];
    if (e->pfoot) e->pfoot[t] = NULL;   /* (any warp, any element) */
  }
}

static void sync_before(Emit *e, const unsigned char *use, int depth) {
  sync_at(e, use, NULL, depth);
}

/* A statement that thread 0 runs alone (one point: a scalar's nest, a
 * cumulative sum along a tile's only dim, a scalar's load or store, a
 * scalar's record store) touches every
 * tile it uses from thread 0: accesses under this map need no barrier
 * between them (a per-head parameter's load and the nests on it, a
 * chunk's decay sum and its cumulative sum). LRC_CUDA_SOLO_SYNC=off. */
enum { SOLO_MAP = -1 };

static int *solo_map(Emit *e, const unsigned char *use) {
  if (env_is("LRC_CUDA_SOLO_SYNC", "off")) return NULL;
  int nt = e->k->tiles.len;
  int *pt = arena_alloc(e->k->arena, sizeof(int) * (size_t)(nt + 1));
  for (int t = 0; t < nt; t++) pt[t] = use[t] ? SOLO_MAP : 0;
  return pt;
}

/* Does thread 0 alone run s (a transfer or cumulative sum; nests:
 * emit_nest)? */
static bool solo_stmt(const Emit *e, const KStmt *s) {
  const Kernel *k = e->k;
  if (s->kind == KS_CUMSUM) return !(k->tiles.data[s->tile].dims & ~(1u << s->dim));
  if (s->kind != KS_LOAD && s->kind != KS_STORE) return false;
  if (k->tiles.data[s->tile].dims || e->nsplit > 1) return false;
  /* (a record's load may come ahead or from elsewhere; its store not) */
  if (s->buf == PHASE_BUF) return s->kind == KS_STORE && !e->rec_async;
  return s->rowdim < 0;
}

/* The point map of a nest's assignment spread one point a thread over
 * its target's points (vec: four, emit_vec_nest) for the tiles it reads
 * or writes at the point alone: the tiles over the target's dims, read
 * without renaming. Two such accesses under one map touch each element
 * from the same thread. Per tile, or 0. LRC_CUDA_POINT_SYNC=off. */
static int *point_map(Emit *e, const KAssign *a, DimSet td, bool vec) {
  const Kernel *k = e->k;
  if (env_is("LRC_CUDA_POINT_SYNC", "off")) return NULL;
  int nt = k->tiles.len, map = (int)(td << 1 | vec) + 1;
  int *pt = arena_alloc(k->arena, sizeof(int) * (size_t)(nt + 1));
  bool *off = arena_alloc(k->arena, (size_t)nt + 1);
  int stack[64], n = 0;
  stack[n++] = a->expr;
  while (n) {
    const KExpr *ex = &k->exprs.data[stack[--n]];
    if (ex->kind == KE_READ) {
      if (ex->dim_a >= 0 || k->tiles.data[ex->tile].dims != td) off[ex->tile] = true;
      else pt[ex->tile] = map;
    } else if ((ex->kind == KE_UNARY || ex->kind == KE_BINARY) && n < 62) {
      stack[n++] = ex->a;
      if (ex->kind == KE_BINARY) stack[n++] = ex->b;
    } else if (ex->kind == KE_UNARY || ex->kind == KE_BINARY) {
      return NULL;   /* (deeper than the stack: no elision) */
    }
  }
  for (int t = 0; t < nt; t++)
    if (off[t]) pt[t] = 0;
  if (!off[a->tile]) pt[a->tile] = map;
  return pt;
}

static unsigned char *use_new(Emit *e) {
  return arena_alloc(e->k->arena, (size_t)e->k->tiles.len + 1);
}

/* A sum into a two-dim tile [I, J] (a matrix product, or any reduction):
 * each thread keeps a micro-tile of tm x tn outputs in registers, rows
 * I/tm apart and columns J/tn apart (a warp's threads take consecutive
 * columns), so that each operand read serves tn or tm multiply-adds once
 * the unrolled loops share it. Picks the largest micro-tile that leaves a
 * block's threads busy; false (the plain form) below that. */
static bool micro_tile(const Kernel *k, int threads, const KAssign *a, DimSet td, int *di, int *dj, int *tm,
                       int *tn) {
  if (a->acc != KACC_ADD || __builtin_popcount(td) != 2) return false;
  *di = *dj = -1;
  for (int o = 0; o < k->dims.len; o++) {
    int d = k->order[o];
    if (!(td & (1u << d))) continue;
    if (*di < 0) *di = d;
    else *dj = d;
  }
  long I = k->dims.data[*di].size, J = k->dims.data[*dj].size;
  static const int m[][2] = {{4, 4}, {2, 4}, {4, 2}, {2, 2}, {1, 2}, {2, 1}};
  for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
    if (I % m[i][0] || J % m[i][1] || I * J / (m[i][0] * m[i][1]) < threads) continue;
    *tm = m[i][0], *tn = m[i][1];
    return true;
  }
  return false;
}

/* The loops over the reduced dims; returns how many were opened (-1: one,
 * skewed, with a brace to close). With `skew`, a single reduced dim starts
 * at a different index in each lane of a warp (a sum's order does not
 * matter): the lanes then read different banks of shared memory where
 * they would all hit one (an operand whose contiguous dim is the reduced
 * one and whose other dim varies across lanes, as K in Q Kᵀ). Only then:
 * the skewed index costs integer work per step. */
/* A read's dims in the nest's terms (a renamed dim as the dim it is read
 * as) and the one its tile holds contiguously. */
static DimSet read_dims(const Kernel *k, const KExpr *ex, int *inner) {
  DimSet d = k->tiles.data[ex->tile].dims;
  *inner = kir_inner_dim(k, d);
  if (ex->dim_a >= 0 && (d & (1u << ex->dim_a))) {
    d = (d & ~(1u << ex->dim_a)) | (1u << ex->dim_b);
    if (*inner == ex->dim_a) *inner = ex->dim_b;
  }
  return d;
}

/* Does some tile read in expression x take reduced dim r contiguously
 * (contig) or not (!contig), and, with `with` non-zero, also a dim of
 * `with`? */
static bool some_read(const Kernel *k, int x, int r, bool contig, DimSet with) {
  const KExpr *ex = &k->exprs.data[x];
  if (ex->kind == KE_UNARY) return some_read(k, ex->a, r, contig, with);
  if (ex->kind == KE_BINARY)
    return some_read(k, ex->a, r, contig, with) || some_read(k, ex->b, r, contig, with);
  if (ex->kind != KE_READ) return false;
  int inner;
  DimSet d = read_dims(k, ex, &inner);
  return (d & (1u << r)) && (inner == r) == contig && (!with || (d & with));
}

static int open_reduction(Emit *e, DimSet red, int depth, bool skew) {
  const Kernel *k = e->k;
  int open = 0;
  for (int o = 0; o < k->dims.len; o++) {
    int d = k->order[o];
    if (!(red & (1u << d))) continue;
    const char *nm = k->dims.data[d].name;
    long n = k->dims.data[d].size;
    em_ind(e, depth + open++);
    if (skew && __builtin_popcount(red) == 1 && n > 1) {
      buf_printf(e->out, "for (int lrc_r = 0; lrc_r < %ld; lrc_r++) {\n", n);
      em_ind(e, depth + open);
      buf_printf(e->out, "const int i_%s = (lrc_r + (%s)) %% %ld;\n", nm, tid(TID_LANE), n);
      return -1;
    }
    buf_printf(e->out, "for (int i_%s = 0; i_%s < %ld; i_%s++)\n", nm, nm, n, nm);
  }
  return open;
}

/* "_Pragma("unroll") for (int VAR = 0; VAR < n; VAR++)" at depth, with
 * the body's brace where `brace`: the register-array loops that nvcc
 * unrolls into registers. */
static void put_unrolled(Emit *e, const char *var, long n, bool brace, int depth) {
  em_ind(e, depth);
  buf_printf(e->out, "_Pragma(\"unroll\") for (int %s = 0; %s < %ld; %s++)%s\n", var, var, n, var,
             brace ? " {" : "");
}

/* for u < tm, v < tn (unrolled) { i_I = ..., i_J = ...; BODY } */
static void open_micro(Emit *e, int di, int dj, int tm, int tn, long I, long J, int depth) {
  const DimTable *dt = &e->k->dims;
  put_unrolled(e, "lrc_u", tm, false, depth);
  put_unrolled(e, "lrc_v", tn, true, depth);
  em_ind(e, depth + 1);
  buf_printf(e->out, "const int i_%s = lrc_ib + lrc_u * %ld, i_%s = lrc_jb + lrc_v * %ld;\n",
             dt->data[di].name, I / tm, dt->data[dj].name, J / tn);
}

static void emit_micro(Emit *e, const KAssign *a, DimSet red, int di, int dj, int tm, int tn,
                       int depth) {
  const Kernel *k = e->k;
  long I = k->dims.data[di].size, J = k->dims.data[dj].size;
  em_ind(e, depth);
  put_strided(e, "lrc_p", tid(TID), I * J / (tm * tn), e->threads, "blockDim.x");
  buf_puts(e->out, "{\n");
  em_ind(e, depth + 1);
  buf_printf(e->out, "const int lrc_ib = lrc_p / %ld, lrc_jb = lrc_p %% %ld;\n", J / tn, J / tn);
  em_ind(e, depth + 1);
  buf_printf(e->out, "float lrc_a[%d][%d];\n", tm, tn);
  open_micro(e, di, dj, tm, tn, I, J, depth + 1);
  em_ind(e, depth + 2);
  buf_puts(e->out, "lrc_a[lrc_u][lrc_v] = ");
  em_put_elem(e, a->tile);
  buf_puts(e->out, ";\n");
  em_ind(e, depth + 1);
  buf_puts(e->out, "}\n");
  int r = kir_inner_dim(k, red);
  int open = open_reduction(e, red, depth + 1, some_read(k, a->expr, r, true, k->tiles.data[a->tile].dims)), skew = open < 0;
  if (skew) open = 1;
  open_micro(e, di, dj, tm, tn, I, J, depth + 1 + open);
  em_ind(e, depth + 2 + open);
  buf_puts(e->out, "lrc_a[lrc_u][lrc_v] += ");
  em_put_expr(e, a->expr);
  buf_puts(e->out, ";\n");
  em_ind(e, depth + 1 + open);
  buf_puts(e->out, "}\n");
  if (skew) {
    em_ind(e, depth + 1);
    buf_puts(e->out, "}\n");
  }
  open_micro(e, di, dj, tm, tn, I, J, depth + 1);
  em_ind(e, depth + 2);
  em_put_elem(e, a->tile);
  buf_puts(e->out, " = lrc_a[lrc_u][lrc_v];\n");
  em_ind(e, depth + 1);
  buf_puts(e->out, "}\n");
  close_threads(e, depth);
}

/* A sum or max into few points (a norm, a scalar, a row of C): a warp per
 * point, its lanes over the reduced elements, then a butterfly of warp
 * shuffles, so that the block's threads share the work that a thread per
 * point would do alone. The loop over points is uniform within a warp,
 * so every lane reaches the shuffles. */
/* (Only where the lanes read consecutive elements: x @ S over K with S's
 * rows 128 floats apart would put every lane in one bank.) Up to 4
 * points a warp (LRC_CUDA_WARP_POINTS): at 512 and 256 threads a [C]
 * target of C = 32 qualifies; at 128 it does not (the free part's
 * norms: a thread a row; not measured against 8 a warp yet). */
static bool warp_reduce(const Kernel *k, int threads, const KAssign *a, DimSet td, DimSet red) {
  long pts = env_long("LRC_CUDA_WARP_POINTS", 4);
  if (pts < 1) pts = 4;
  return a->acc != KACC_SET && count_of(k, td) <= threads / 32 * pts && count_of(k, red) >= 32 &&
         !some_read(k, a->expr, kir_inner_dim(k, red), false, 0);
}

static void emit_warp_reduce(Emit *e, const KAssign *a, DimSet td, DimSet red, int depth) {
  const Kernel *k = e->k;
  bool max = a->acc == KACC_MAX;
  em_ind(e, depth);
  put_strided(e, "lrc_w", tid(TID_WARP), count_of(k, td), e->threads / 32, "blockDim.x >> 5");
  buf_puts(e->out, "{\n");
  decode(e, td, "lrc_w", depth + 1);
  em_ind(e, depth + 1);
  buf_printf(e->out, "float lrc_acc = %s;\n", max ? "-INFINITY" : "0.0f");
  em_ind(e, depth + 1);
  put_strided(e, "lrc_q", tid(TID_LANE), count_of(k, red), 32, "32");
  buf_puts(e->out, "{\n");
  decode(e, red, "lrc_q", depth + 2);
  em_ind(e, depth + 2);
  buf_puts(e->out, max ? "lrc_acc = fmaxf(lrc_acc, " : "lrc_acc += ");
  em_put_expr(e, a->expr);
  buf_puts(e->out, max ? ");\n" : ";\n");
  em_ind(e, depth + 1);
  buf_puts(e->out, "}\n");
  em_ind(e, depth + 1);
  buf_printf(e->out,
             "for (int lrc_o = 16; lrc_o > 0; lrc_o >>= 1) lrc_acc = %s(lrc_acc, "
             "__shfl_xor_sync(0xffffffffu, lrc_acc, lrc_o));\n",
             max ? "fmaxf" : "lrc_add");
  em_ind(e, depth + 1);
  buf_printf(e->out, "if ((%s) == 0) ", tid(TID_LANE));
  em_put_elem(e, a->tile);
  buf_puts(e->out, max ? " = fmaxf(" : " += lrc_acc;\n");
  if (max) {
    em_put_elem(e, a->tile);
    buf_puts(e->out, ", lrc_acc);\n");
  }
  close_threads(e, depth);
}

/* A matrix product X[I, J] += Σ_r A[I, r] B[r, J] of two tile reads, in
 * any of the tiles' layouts, on the tensor cores. With float32 inputs each
 * operand is split into a TF32 part and the TF32 rounding of its rest
 * (three products: float32 accuracy, as 2e-4 needs; one TF32 product
 * gives about 1e-3); with bfloat16 or float16 inputs one product, well
 * within their own rounding. emit_mma is the WMMA form (a warp per 16 x
 * 16 block, LRC_CUDA_MMA=wmma), emit_mma_sync the default. */
typedef struct Mma {
  int ti, tj, r;           /* the target's dims and the reduced one */
  int ta, tb;              /* the operands' tiles (A over ti, B over tj) */
  bool a_row, b_row, x_row;   /* row-major: A's, B's, X's contiguous dim is r, tj, tj */
  long lda, ldb, ldx;
  int a_r, b_r;            /* the operands' own dims read as r (renamed reads) */
} Mma;

/* A product on the tensor cores with the statements folded into it
 * (emit_folded): the one before (its accumulators' start) and after (a
 * function of its elements), or NULL. */
typedef struct MmaPart {
  const KAssign *a;
  Mma m;
  const KStmt *pre, *post;
} MmaPart;

/* Floats between the rows of a 2-D tile (its rows padded or not). */
static long row_pitch(const Emit *e, int t) {
  if (e->tile_ld && e->tile_ld[t]) return e->tile_ld[t];
  return e->k->dims.data[kir_inner_dim(e->k, e->k->tiles.data[t].dims)].size;
}

/* Floats from a tile's first element to its last, padding included. */
static long tile_extent(const Emit *e, int t) {
  long n = kir_tile_count(e->k, t);
  if (e->tile_ld && e->tile_ld[t])
    n = n / e->k->dims.data[kir_inner_dim(e->k, e->k->tiles.data[t].dims)].size * e->tile_ld[t];
  return n;
}

/* The operand read x over {t, r} (t a target dim): its tile, whether its
 * contiguous dim is r, its leading dimension and its own dim for r. */
static bool mma_operand(const Emit *e, int x, int t, int r, int *tile, bool *r_inner, long *ld,
                        int *own_r) {
  const Kernel *k = e->k;
  const KExpr *ex = &k->exprs.data[x];
  if (ex->kind != KE_READ) return false;
  DimSet d = k->tiles.data[ex->tile].dims;
  if (__builtin_popcount(d) != 2) return false;
  int map[2], own[2], n = 0;
  for (int q = 0; q < k->dims.len; q++)
    if (d & (1u << q)) own[n] = q, map[n++] = ex->dim_a == q ? ex->dim_b : q;
  int ir = map[0] == r ? 0 : map[1] == r ? 1 : -1;
  if (ir < 0 || map[1 - ir] != t) return false;
  int inner = kir_inner_dim(k, d);
  *tile = ex->tile;
  *r_inner = inner == own[ir];
  *ld = row_pitch(e, ex->tile);
  *own_r = own[ir];
  return true;
}

/* (The fragments' leading dimensions must be multiples of 4 floats; the
 * pointers, 32-byte aligned, are as every offset used is a multiple of 8
 * rows or columns of a tile that starts 32-byte aligned.) */
static bool mma_form(const Emit *e, const KStmt *s, const KAssign *a, Mma *m) {
  const Kernel *k = e->k;
  DimSet td = k->tiles.data[a->tile].dims, red = s->space & ~td;
  const KExpr *ex = &k->exprs.data[a->expr];
  if (a->acc != KACC_ADD || __builtin_popcount(td) != 2 || __builtin_popcount(red) != 1 ||
      ex->kind != KE_BINARY || ex->op != OP_MUL)
    return false;
  m->r = kir_inner_dim(k, red);
  m->tj = kir_inner_dim(k, td);
  m->ti = kir_inner_dim(k, td & ~(1u << m->tj));
  long I = k->dims.data[m->ti].size, J = k->dims.data[m->tj].size, R = k->dims.data[m->r].size;
  if (I % 16 || J % 16 || R % 8) return false;
  m->x_row = true, m->ldx = row_pitch(e, a->tile);
  for (int sw = 0; sw < 2; sw++) {
    int xa = sw ? ex->b : ex->a, xb = sw ? ex->a : ex->b;
    bool b_rinner;
    if (mma_operand(e, xa, m->ti, m->r, &m->ta, &m->a_row, &m->lda, &m->a_r) &&
        mma_operand(e, xb, m->tj, m->r, &m->tb, &b_rinner, &m->ldb, &m->b_r)) {
      m->b_row = !b_rinner;
      return m->ta != a->tile && m->tb != a->tile && m->lda % 4 == 0 && m->ldb % 4 == 0 &&
             m->ldx % 4 == 0;
    }
  }
  return false;
}

static void emit_mma(Emit *e, const KAssign *a, const Mma *m, int depth) {
  const Kernel *k = e->k;
  long I = k->dims.data[m->ti].size, J = k->dims.data[m->tj].size, R = k->dims.data[m->r].size;
  Buf *o = e->out;
  em_ind(e, depth);
  put_strided(e, "lrc_w", tid(TID_WARP), (I / 16) * (J / 16), e->threads / 32, "blockDim.x >> 5");
  buf_puts(o, "{\n");
  em_ind(e, depth + 1);
  buf_printf(o, "const int lrc_i0 = (lrc_w / %ld) * 16, lrc_j0 = (lrc_w %% %ld) * 16;\n", J / 16,
             J / 16);
  em_ind(e, depth + 1);
  buf_puts(o, "wmma::fragment<wmma::accumulator, 16, 16, 8, float> lrc_c;\n");
  em_ind(e, depth + 1);
  buf_printf(o, "float *lrc_x = ");
  em_put_tile_name(e, a->tile);
  buf_printf(o, " + lrc_i0 * %ld + lrc_j0;\n", m->ldx);
  em_ind(e, depth + 1);
  buf_printf(o, "wmma::load_matrix_sync(lrc_c, lrc_x, %ld, wmma::mem_row_major);\n", m->ldx);
  em_ind(e, depth + 1);
  buf_printf(o, "for (int lrc_k = 0; lrc_k < %ld; lrc_k += 8) {\n", R);
  em_ind(e, depth + 2);
  buf_printf(o, "wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::%s> "
                "lrc_a, lrc_as;\n", m->a_row ? "row_major" : "col_major");
  em_ind(e, depth + 2);
  buf_printf(o, "wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::%s> "
                "lrc_b, lrc_bs;\n", m->b_row ? "row_major" : "col_major");
  em_ind(e, depth + 2);
  buf_puts(o, "wmma::load_matrix_sync(lrc_a, ");
  em_put_tile_name(e, m->ta);
  if (m->a_row) buf_printf(o, " + lrc_i0 * %ld + lrc_k, %ld);\n", m->lda, m->lda);
  else buf_printf(o, " + lrc_k * %ld + lrc_i0, %ld);\n", m->lda, m->lda);
  em_ind(e, depth + 2);
  buf_puts(o, "wmma::load_matrix_sync(lrc_b, ");
  em_put_tile_name(e, m->tb);
  if (m->b_row) buf_printf(o, " + lrc_k * %ld + lrc_j0, %ld);\n", m->ldb, m->ldb);
  else buf_printf(o, " + lrc_j0 * %ld + lrc_k, %ld);\n", m->ldb, m->ldb);
  em_ind(e, depth + 2);
  buf_puts(o, "lrc_tf32_split(lrc_a, lrc_as);\n");
  em_ind(e, depth + 2);
  buf_puts(o, "lrc_tf32_split(lrc_b, lrc_bs);\n");
  if (!e->io) {   /* float32 inputs: the correction terms too */
    em_ind(e, depth + 2);
    buf_puts(o, "wmma::mma_sync(lrc_c, lrc_as, lrc_b, lrc_c);\n");
    em_ind(e, depth + 2);
    buf_puts(o, "wmma::mma_sync(lrc_c, lrc_a, lrc_bs, lrc_c);\n");
  }
  em_ind(e, depth + 2);
  buf_puts(o, "wmma::mma_sync(lrc_c, lrc_a, lrc_b, lrc_c);\n");
  em_ind(e, depth + 1);
  buf_puts(o, "}\n");
  em_ind(e, depth + 1);
  buf_printf(o, "wmma::store_matrix_sync(lrc_x, lrc_c, %ld, wmma::mem_row_major);\n", m->ldx);
  close_threads(e, depth);
}

/* Do products x and y read the same A (B) fragments: the same tile, read
 * the same way? */
static bool same_a(const Mma *x, const Mma *y) {
  return x->ta == y->ta && x->a_row == y->a_row && x->lda == y->lda && x->a_r == y->a_r;
}
static bool same_b(const Mma *x, const Mma *y) {
  return x->tb == y->tb && x->b_row == y->b_row && x->ldb == y->ldb && x->b_r == y->b_r;
}

/* How a warp walks X in emit_mma_sync: blocks of mi x nj tiles of 16 x 8 (the
 * mma's own shape), as few rounds of blocks per warp as the block's warps
 * allow, then the work over as many warps as possible, then the fewest
 * operand loads per product; at most 8 tiles (32 accumulators) a warp.
 * np products side by side (a pair sharing an operand, MmaPart): np blocks
 * of accumulators a warp, the shared operand's fragments loaded once
 * (a_shared: A's, else B's). */
static void mma_blocking(long I, long J, int warps, int np, bool a_shared, int only_a, int *mi,
                         int *nj) {
  long ti = I / 16, tj = J / 8, best = -1;
  *mi = *nj = 1;
  for (int a = 1; a <= 8; a++)
    for (int b = 1; np * a * b <= 8; b++) {
      if (ti % a || tj % b || (only_a && a != only_a)) continue;
      long blocks = (ti / a) * (tj / b), rounds = (blocks + warps - 1) / warps;
      /* (rounds, tiles per warp, loads per k-step: 2 per A row, 1 per B column) */
      long loads = a_shared ? 2 * a + np * b : 2 * a * np + b;
      long cost = (rounds * 16 + np * a * b) * 64 + loads;
      if (best < 0 || cost < best) best = cost, *mi = a, *nj = b;
    }
}

/* The blocking of a product on the chain (the rest, or the fused
 * kernel's statements the rest would take) with LRC_CUDA_WARP_SYNC=on:
 * a chunk's rows (I = 32) whole a warp, so that the next product, which
 * reduces over them (r0 += A v0 after v0 = v - W S), reads only what its
 * own warp wrote (sync_mma: a __syncwarp, not a barrier). Else
 * mma_blocking's. */
static void product_blocking(const Emit *e, long I, long J, int np, bool a_shared, int *mi,
                             int *nj) {
  bool whole = e->warp_sync && (e->phase == PHASE_REST || e->in_rest) && I == 32;
  mma_blocking(I, J, e->threads / 32, np, a_shared, whole ? 2 : 0, mi, nj);
}

/* The operand element (row, k) of A or (k, col) of B at a fragment's
 * offsets, as an index from the warp's operand pointer. */
static long mma_at(bool k_inner, long ld, long other, long kk) {
  return k_inner ? other * ld + kk : kk * ld + other;
}

/* bf16 products (m16n8k16, where k steps by 16): twice TF32's rate, half
 * its k-steps and fragment conversions. Taken in the rest of the phased
 * form with bfloat16 I/O, whose operands are the records (rounded to
 * bfloat16 by the free part already), the state and the chain's v0
 * (rounded as FLA rounds h and v_new): measured 1.15x on the rest, the
 * error against the oracle 4.2e-3 -> 6.5e-3 at most (bf16 tests). The
 * same statements of the fused kernel (in_rest) alike: their operands
 * rounded where the phased form rounds them.
 * Elsewhere their operands are derived tiles (a normalised q, a decayed
 * k) rounded to 8 bits, and a sum that cancels (one token's q.k) then
 * misses 2e-2 (5.9e-2 seen on the H200): TF32 (11 bits) there.
 * LRC_CUDA_MMA=tf32: TF32 throughout; =bf16: bf16 throughout (fp16 I/O
 * too, rounding its operands to 8 bits). */
static bool mma_bf16(const Emit *e, const Mma *m) {
  if (!e->io || e->k->dims.data[m->r].size % 16 || env_is("LRC_CUDA_MMA", "tf32")) return false;
  return env_is("LRC_CUDA_MMA", "bf16") || (e->io == 1 && (e->phase == PHASE_REST || e->in_rest));
}

/* Loops over a warp's accumulator elements of emit_mma_sync (lrc_m,
 * lrc_n, lrc_h, lrc_e), the element's point as i_DIM of X's dims; the
 * body's opening brace at depth + 3 (the caller closes it). */
static void put_mma_points(Emit *e, const Mma *m, int mi, int nj, int depth) {
  Buf *o = e->out;
  put_unrolled(e, "lrc_m", mi, false, depth);
  put_unrolled(e, "lrc_n", nj, false, depth + 1);
  put_unrolled(e, "lrc_h", 2, false, depth + 2);
  put_unrolled(e, "lrc_e", 2, true, depth + 3);
  em_ind(e, depth + 4);
  buf_printf(o, "const int i_%s = lrc_i0 + lrc_g + lrc_m * 16 + lrc_h * 8, "
                "i_%s = lrc_j0 + 2 * lrc_q + lrc_n * 8 + lrc_e;\n",
             e->k->dims.data[m->ti].name, e->k->dims.data[m->tj].name);
}

/* Does a float operand's fragments load by ldmatrix (tile t in shared
 * memory, its k's contiguous: the caller's check)? A 16 x 8 TF32 A
 * fragment is exactly four 8 x 8 b16 matrices of 8 rows of 4 floats
 * (rows g, g + 8 by k's q, q + 4), a B fragment two: one instruction
 * instead of four loads (two). LRC_CUDA_LDSM=off. */
static bool frag_ldsm(const Emit *e, int t) {
  return e->tile_smem && e->tile_smem[t] && !env_is("LRC_CUDA_LDSM", "off");
}

/* Are tile t's values stored as TF32 already (tf32_tiles)? Does
 * assignment a round them (a nest's SET; the solve rounds its own)? */
static bool tf32_stored(const Emit *e, int t) { return e->tile_tf32 && e->tile_tf32[t]; }
static bool tf32_rounds(const Emit *e, const KAssign *a) {
  return a->acc == KACC_SET && e->tile_tf32 && e->tile_tf32[a->tile] == 1;
}

/* One operand of emit_mma_sync as a warp loads its fragments: A (rows
 * i, four registers an m-tile of 16 rows) or B (columns j, two an n-tile
 * of 8 columns), from a float tile by scalar loads or by ldmatrix
 * (frag_ldsm), or from a bf16 tile (half_tiles) by ldmatrix. */
typedef struct Operand {
  bool b;                  /* B, else A */
  int tile;
  bool k_inner;            /* k contiguous along the tile's rows (A
                              row-major, B column-major) */
  long ld;
  bool half, ldsm;         /* a bf16 tile; floats by ldmatrix */
  int n;                   /* tiles a warp: mi (A) or nj (B) */
  const char *sfx;         /* the names' suffix: "" or "1" (mma_pair) */
  const char *name;        /* the tile's memory by this name (the state's
                              bf16 copy, state_regs), or NULL */
} Operand;

/* The operand's pointer lrc_pa or lrc_pb at the warp's (or, for
 * ldmatrix, the lane's) first element: for ldmatrix each lane points at
 * a row of one of four 8 x 8 blocks (lanes 8j..8j+7, block j); A's
 * blocks are a0..a3 (rows + 8 (j & 1), k + 8 (j >> 1)), B's the b0, b1
 * of two n-tiles (k + 8 (j & 1), n + 8 (j >> 1)); transposed where the
 * tile's rows run along k; floats 4 to a block's row, bf16 8. */
static void put_operand_ptr(Emit *e, const Operand *x, const char *lane, int depth) {
  Buf *o = e->out;
  em_ind(e, depth);
  buf_printf(o, "const %s *lrc_p%c%s = ", x->half ? "__nv_bfloat16" : "float", x->b ? 'b' : 'a',
             x->sfx);
  if (x->name) buf_puts(o, x->name);
  else em_put_tile_name(e, x->tile);
  const char *l = lane, *base = x->b ? "lrc_j0" : "lrc_i0";
  long ld = x->ld;
  if (!x->half && !x->ldsm && x->k_inner)
    buf_printf(o, " + (%s + lrc_g) * %ld + lrc_q;\n", base, ld);
  else if (!x->half && !x->ldsm)
    buf_printf(o, " + lrc_q * %ld + %s + lrc_g;\n", ld, base);
  else if (!x->b && x->k_inner)
    buf_printf(o, " + (lrc_i0 + (%s & 15)) * %ld + (%s >> 4) * %d;\n", l, ld, l, x->half ? 8 : 4);
  else if (!x->b)   /* (bf16 alone: floats load by ldmatrix only with k contiguous) */
    buf_printf(o, " + ((%s & 7) + (%s >> 4) * 8) * %ld + lrc_i0 + (%s >> 3 & 1) * 8;\n", l, l, ld, l);
  else if (x->k_inner)
    buf_printf(o, " + (lrc_j0 + (%s & 7) + (%s >> 4) * 8) * %ld + (%s >> 3 & 1) * %d;\n", l, l, ld,
               l, x->half ? 8 : 4);
  else
    buf_printf(o, " + ((%s & 7) + (%s >> 3 & 1) * 8) * %ld + lrc_j0 + (%s >> 4) * 8;\n", l, l, ld, l);
}

/* The TF32 conversion of an operand's registers loaded raw by ldmatrix:
 * into R and Rs (the rest's) where split, to TF32 otherwise. */
static void put_frag_tf32(Emit *e, const Operand *x, bool split, int depth) {
  const char *var = x->b ? "lrc_n" : "lrc_m", *reg = x->b ? "lrc_b" : "lrc_a";
  put_unrolled(e, var, x->n, true, depth);
  for (int r = 0; r < (x->b ? 2 : 4); r++) {
    em_ind(e, depth + 1);
    if (split)
      buf_printf(e->out, "%ss%s[%s][%d] = lrc_tf32_2(__uint_as_float(%s%s[%s][%d]), %s%s[%s][%d]);\n",
                 reg, x->sfx, var, r, reg, x->sfx, var, r, reg, x->sfx, var, r);
    else
      buf_printf(e->out, "%s%s[%s][%d] = lrc_tf32(__uint_as_float(%s%s[%s][%d]));\n", reg, x->sfx,
                 var, r, reg, x->sfx, var, r);
  }
  em_ind(e, depth);
  buf_puts(e->out, "}\n");
}

/* An operand's fragments for the k-step at lrc_k: A's rows g, g + 8 of
 * each m-tile, B's column g of each n-tile; bf16 pairs (bf), TF32 with
 * its rest's (split), TF32, or raw where the tile holds TF32 already. */
static void put_operand_loads(Emit *e, const Operand *x, bool bf, bool split, int depth) {
  Buf *o = e->out;
  char c = x->b ? 'b' : 'a';
  const char *var = x->b ? "lrc_n" : "lrc_m", *sfx = x->sfx;
  /* a tile's step (16 rows of A, 8 columns of B) and a k's */
  long step = (x->b ? 8 : 16) * (x->k_inner ? x->ld : 1), kstep = x->k_inner ? 1 : x->ld;
  const char *t = x->k_inner ? "" : "t";
  if (x->half || x->ldsm) {
    if (!x->b) {
      put_unrolled(e, "lrc_m", x->n, false, depth);
      em_ind(e, depth + 1);
      buf_printf(o, "lrc_ldsm4%s(lrc_a%s[lrc_m], lrc_a%s[lrc_m] + 2, lrc_pa%s + lrc_m * %ld + lrc_k * %ld);\n",
                 t, sfx, sfx, sfx, step, kstep);
    } else {   /* two n-tiles a load (the last alone where nj is odd) */
      if (x->n > 1) {
        em_ind(e, depth);
        buf_printf(o, "_Pragma(\"unroll\") for (int lrc_n = 0; lrc_n + 1 < %d; lrc_n += 2)\n", x->n);
        em_ind(e, depth + 1);
        buf_printf(o, "lrc_ldsm4%s(lrc_b%s[lrc_n], lrc_b%s[lrc_n + 1], lrc_pb%s + lrc_n * %ld + lrc_k * %ld);\n",
                   t, sfx, sfx, sfx, step, kstep);
      }
      if (x->n % 2) {
        em_ind(e, depth);
        buf_printf(o, "lrc_ldsm2%s(lrc_b%s[%d], lrc_pb%s + %ld + lrc_k * %ld);\n", t, sfx, x->n - 1,
                   sfx, (x->n - 1) * step, kstep);
      }
    }
    if (x->ldsm && (split || !tf32_stored(e, x->tile))) put_frag_tf32(e, x, split, depth);
    return;
  }
  bool raw = !bf && !split && tf32_stored(e, x->tile);
  put_unrolled(e, var, x->n, true, depth);
  em_ind(e, depth + 1);
  buf_printf(o, "const float *lrc_p = lrc_p%c%s + %s * %ld + lrc_k * %ld;\n", c, sfx, var, step, kstep);
  /* register r: A's row g + 8 (r & 1), k's q + 4 (r >> 1); B's k's q + 4 r
   * (+ 8 for bf16 pairs) */
  for (int r = 0; r < (x->b ? 2 : 4); r++) {
    long row = x->b ? 0 : 8 * (r & 1), kk = x->b ? r : r >> 1;
    em_ind(e, depth + 1);
    if (bf)
      buf_printf(o, "lrc_%c%s[%s][%d] = lrc_bf16x2(lrc_p[%ld], lrc_p[%ld]);\n", c, sfx, var, r,
                 mma_at(x->k_inner, x->ld, row, 8 * kk), mma_at(x->k_inner, x->ld, row, 8 * kk + 4));
    else if (split)
      buf_printf(o, "lrc_%cs%s[%s][%d] = lrc_tf32_2(lrc_p[%ld], lrc_%c%s[%s][%d]);\n", c, sfx, var,
                 r, mma_at(x->k_inner, x->ld, row, 4 * kk), c, sfx, var, r);
    else
      buf_printf(o, "lrc_%c%s[%s][%d] = %s(lrc_p[%ld]);\n", c, sfx, var, r,
                 raw ? "__float_as_uint" : "lrc_tf32", mma_at(x->k_inner, x->ld, row, 4 * kk));
  }
  em_ind(e, depth);
  buf_puts(o, "}\n");
}

/* Accumulators lrc_c<sfx> read from (written into) the float tile at
 * lrc_x<sfx>, rows ldx apart: a warp's block as emit_mma_sync lays it;
 * from (into) a bf16 tile (half: its rows in lrc_perm8's order, which
 * lrc_x's row then holds already: a block's rows are whole groups of 8). */
static void put_acc_floats(Emit *e, const char *sfx, long ldx, int mi, int nj, bool half,
                           bool write, int depth) {
  Buf *o = e->out;
  put_unrolled(e, "lrc_m", mi, false, depth);
  put_unrolled(e, "lrc_n", nj, true, depth + 1);
  for (int h = 0; h < 2; h++) {
    em_ind(e, depth + 2);
    if (half && write) {
      buf_printf(o, "*(__nv_bfloat162 *)(lrc_x%s + (lrc_m * 16 + %d) * %ld + lrc_n * 8) = "
                    "__floats2bfloat162_rn(lrc_c%s[lrc_m][lrc_n][%d], lrc_c%s[lrc_m][lrc_n][%d]);\n",
                 sfx, 8 * h, ldx, sfx, 2 * h, sfx, 2 * h + 1);
      continue;
    }
    if (half) {
      buf_printf(o, "const float2 lrc_v%d = __bfloat1622float2(*(const __nv_bfloat162 *)(lrc_x%s + "
                    "(lrc_m * 16 + %d) * %ld + lrc_n * 8));\n", h, sfx, 8 * h, ldx);
      em_ind(e, depth + 2);
      buf_printf(o, "lrc_c%s[lrc_m][lrc_n][%d] = lrc_v%d.x, lrc_c%s[lrc_m][lrc_n][%d] = lrc_v%d.y;\n",
                 sfx, 2 * h, h, sfx, 2 * h + 1, h);
      continue;
    }
    if (write) {
      buf_printf(o, "*(float2 *)(lrc_x%s + (lrc_m * 16 + %d) * %ld + lrc_n * 8) = "
                    "make_float2(lrc_c%s[lrc_m][lrc_n][%d], lrc_c%s[lrc_m][lrc_n][%d]);\n",
                 sfx, 8 * h, ldx, sfx, 2 * h, sfx, 2 * h + 1);
      continue;
    }
    buf_printf(o, "const float2 lrc_v%d = *(const float2 *)(lrc_x%s + (lrc_m * 16 + %d) * %ld + lrc_n * 8);\n",
               h, sfx, 8 * h, ldx);
    em_ind(e, depth + 2);
    buf_printf(o, "lrc_c%s[lrc_m][lrc_n][%d] = lrc_v%d.x, lrc_c%s[lrc_m][lrc_n][%d] = lrc_v%d.y;\n",
               sfx, 2 * h, h, sfx, 2 * h + 1, h);
  }
  em_ind(e, depth + 1);
  buf_puts(o, "}\n");
}

/* Is pt the update of the state kept in registers (state_regs), inside
 * the chunk loop? */
static bool state_update(const Emit *e, const MmaPart *pt) {
  return e->rs_live && e->reg_state == pt->a->tile + 1;
}

/* A product's accumulators lrc_c<sfx> (rows g and g + 8, columns 2q and
 * 2q + 1) from its target X, or from the statement before folded in: a
 * fill, or X = f(X) (for the state kept in registers, f of the registers;
 * without a statement before, they hold X already). */
static void put_acc_load(Emit *e, const MmaPart *pt, const char *sfx, int mi, int nj, int depth) {
  Buf *o = e->out;
  const KStmt *pre = pt->pre;
  if (pre) {
    put_mma_points(e, &pt->m, mi, nj, depth);
    em_ind(e, depth + 4);
    const char *reg = arena_printf(e->k->arena, "lrc_c%s[lrc_m][lrc_n][lrc_h * 2 + lrc_e]", sfx);
    buf_printf(o, "%s = ", reg);
    if (state_update(e, pt)) e->reg_name = reg, e->reg_tile = pt->a->tile;
    if (pre->kind == KS_FILL) em_put_float(o, pre->num);
    else em_put_expr(e, pre->assigns.data[0].expr);
    e->reg_name = NULL;
    buf_puts(o, ";\n");
    em_ind(e, depth + 3);
    buf_puts(o, "}\n");
    return;
  }
  if (!state_update(e, pt))
    put_acc_floats(e, sfx, pt->m.ldx, mi, nj, e->tile_half && e->tile_half[pt->a->tile], false,
                   depth);
}

/* The bf16 copy of the state kept in registers (lrc_Sh, state_regs) from
 * a warp's accumulators lrc_c: its rows (the products' k) permuted within
 * groups of 8 as the records beside it (lrc_perm8's order, put_half_store),
 * so that its B fragments load by ldmatrix and pair with theirs; pairs
 * of columns as one bf16x2. */
static void put_state_half(Emit *e, int mi, int nj, int depth) {
  Buf *o = e->out;
  em_ind(e, depth);
  buf_puts(o, "const int lrc_gp = (lrc_g & 3) << 1 | lrc_g >> 2;\n");
  put_unrolled(e, "lrc_m", mi, false, depth);
  put_unrolled(e, "lrc_n", nj, true, depth + 1);
  for (int h = 0; h < 2; h++) {
    em_ind(e, depth + 2);
    buf_printf(o, "*(__nv_bfloat162 *)(lrc_Sh + (lrc_i0 + lrc_m * 16 + %d + lrc_gp) * %ld + lrc_j0 + "
                  "2 * lrc_q + lrc_n * 8) = __floats2bfloat162_rn(lrc_c[lrc_m][lrc_n][%d], "
                  "lrc_c[lrc_m][lrc_n][%d]);\n",
               8 * h, e->rs_ld, 2 * h, 2 * h + 1);
  }
  em_ind(e, depth + 1);
  buf_puts(o, "}\n");
}

/* The statement after a product folded in (X = f(X)), on its
 * accumulators lrc_c<sfx>, where there is one. */
static void put_acc_post(Emit *e, const MmaPart *pt, const char *sfx, int mi, int nj, int depth) {
  Buf *o = e->out;
  if (!pt->post) return;
  put_mma_points(e, &pt->m, mi, nj, depth);
  em_ind(e, depth + 4);
  const char *reg = arena_printf(e->k->arena, "lrc_c%s[lrc_m][lrc_n][lrc_h * 2 + lrc_e]", sfx);
  buf_printf(o, "%s = ", reg);
  e->reg_name = reg, e->reg_tile = pt->a->tile;
  em_put_expr(e, pt->post->assigns.data[0].expr);
  e->reg_name = NULL;
  buf_puts(o, ";\n");
  em_ind(e, depth + 3);
  buf_puts(o, "}\n");
}

/* A product's accumulators into its target X, through the statement
 * after folded in (put_acc_post). */
static void put_acc_store(Emit *e, const MmaPart *pt, const char *sfx, int mi, int nj, int depth) {
  put_acc_post(e, pt, sfx, mi, nj, depth);
  if (state_update(e, pt)) {
    put_state_half(e, mi, nj, depth);
    return;
  }
  put_acc_floats(e, sfx, pt->m.ldx, mi, nj, e->tile_half && e->tile_half[pt->a->tile], true,
                 depth);
}

/* The blocks of mi x nj mma tiles (16 x 8 each) of an I x J target. */
static long warp_blocks(long I, long J, int mi, int nj) { return (I / 16 / mi) * (J / 8 / nj); }

/* Warp footprints (LRC_CUDA_WARP_SYNC=on). A product on the tensor cores
 * (emit_mma_sync) touches, from warp w, its blocks' rows of A (every
 * column of the reduced dim), their columns of B, and their rows and
 * columns of the target and of what the statements folded in read at its
 * points. Per tile, a bit per warp, read or written, and cell of 8 x 8
 * elements (8 along each dim of a vector): bits[(2 w + rw) words + i].
 * Where no other warp touches what one warp touched since the last
 * barrier, the warp's own order is all that is needed: a __syncwarp, not
 * a barrier (sync_mma). */
static int foot_cells(const Kernel *k, int t, int *d0, int *d1, long *n1) {
  DimSet d = k->tiles.data[t].dims;
  *d0 = *d1 = -1, *n1 = 1;
  long n = 1;
  for (int q = 0; q < k->dims.len; q++) {
    if (!(d & (1u << q))) continue;
    long c = (k->dims.data[q].size + 7) / 8;
    if (*d0 < 0) *d0 = q;
    else *d1 = q, *n1 = c;
    n *= c;
  }
  return __builtin_popcount(d) <= 2 && n <= 4096 ? (int)n : -1;
}

/* Warp w's cells of tile t where its own dim `rowd` takes the block's
 * rows (ti), `cold` its columns (tj), any other dim every cell; rw 0
 * read, 1 written. */
static void foot_mark(const Emit *e, uint64_t *bits, int t, int rowd, int cold, int rw, long I,
                      long J, int mi, int nj) {
  const Kernel *k = e->k;
  int d0, d1, nw = e->threads / 32;
  long n1, nbj = J / 8 / nj, nb = warp_blocks(I, J, mi, nj);
  int cells = foot_cells(k, t, &d0, &d1, &n1), words = (cells + 63) / 64;
  for (long b = 0; b < nb; b++) {
    int w = (int)(b % nw);
    long bi = b / nbj, bj = b % nbj;
    long lo[2], hi[2];
    int dd[2] = {d0, d1};
    for (int x = 0; x < 2; x++) {
      long c = dd[x] < 0 ? 1 : (k->dims.data[dd[x]].size + 7) / 8;
      lo[x] = 0, hi[x] = c;
      if (dd[x] >= 0 && dd[x] == rowd) lo[x] = bi * 2 * mi, hi[x] = (bi + 1) * 2 * mi;
      if (dd[x] >= 0 && dd[x] == cold) lo[x] = bj * nj, hi[x] = (bj + 1) * nj;
    }
    for (long c0 = lo[0]; c0 < hi[0]; c0++)
      for (long c1 = lo[1]; c1 < hi[1]; c1++) {
        long c = c0 * n1 + c1;
        bits[(2 * w + rw) * words + c / 64] |= 1ull << (c % 64);
      }
  }
}

/* Does expression x read a tile with its dims renamed? */
static bool reads_renamed(const Kernel *k, int x) {
  const KExpr *ex = &k->exprs.data[x];
  if (ex->kind == KE_READ) return ex->dim_a >= 0;
  if (ex->kind == KE_UNARY) return reads_renamed(k, ex->a);
  if (ex->kind == KE_BINARY) return reads_renamed(k, ex->a) || reads_renamed(k, ex->b);
  return false;
}

/* The footprints of products pt[0..np) and then (or NULL) on the tiles
 * in use (feet[t], zeroed; the accesses use[t] says), false where one
 * is not known (a tile over other dims, a renamed read folded in). */
static bool warp_feet(Emit *e, const MmaPart *pt, int np, const MmaPart *then,
                      const unsigned char *use, uint64_t **feet) {
  const Kernel *k = e->k;
  int nt = k->tiles.len, nw = e->threads / 32;
  const Mma *m0 = &pt[0].m;
  long I = k->dims.data[m0->ti].size, J = k->dims.data[m0->tj].size;
  int mi, nj;
  product_blocking(e, I, J, np, np > 1 && same_a(&pt[1].m, m0), &mi, &nj);
  if (use[nt] & 2) return false;   /* (a store to the caller's buffers) */
  const MmaPart *parts[3] = {&pt[0], np > 1 ? &pt[1] : then, np > 1 ? then : NULL};
  for (int t = 0; t < nt; t++) {
    feet[t] = NULL;
    if (!use[t]) continue;
    int d0, d1;
    long n1;
    int cells = foot_cells(k, t, &d0, &d1, &n1);
    if (cells < 0) return false;
    uint64_t *bits = arena_alloc(k->arena, sizeof(uint64_t) * 2 * (size_t)nw * (size_t)((cells + 63) / 64));
    bool known = false;
    for (int p = 0; p < 3; p++) {
      const MmaPart *q = parts[p];
      if (!q) continue;
      const Mma *m = &q->m;
      DimSet td = k->tiles.data[t].dims;
      if (t == m->ta) {   /* A: its own other dim over the block's rows */
        int own = -1;
        for (int d = 0; d < k->dims.len; d++)
          if ((td & (1u << d)) && d != m->a_r) own = d;
        foot_mark(e, bits, t, own, -1, 0, I, J, mi, nj), known = true;
      }
      if (t == m->tb) {
        int own = -1;
        for (int d = 0; d < k->dims.len; d++)
          if ((td & (1u << d)) && d != m->b_r) own = d;
        foot_mark(e, bits, t, -1, own, 0, I, J, mi, nj), known = true;
      }
      bool folded = false;
      for (int f = 0; f < 2; f++) {
        const KStmt *st = f ? q->post : q->pre;
        if (!st) continue;
        unsigned char *u = use_new(e);
        kir_use_stmt(k, st, u);
        if (!u[t]) continue;
        for (int j = 0; j < st->assigns.len; j++)
          if (reads_renamed(k, st->assigns.data[j].expr)) return false;
        if (td & ~((1u << m->ti) | (1u << m->tj))) return false;
        folded = true;
        if (u[t] & 1) foot_mark(e, bits, t, m->ti, m->tj, 0, I, J, mi, nj);
        if (u[t] & 2) foot_mark(e, bits, t, m->ti, m->tj, 1, I, J, mi, nj);
      }
      if (t == q->a->tile) {   /* the target: read (its start) and written */
        foot_mark(e, bits, t, m->ti, m->tj, 0, I, J, mi, nj);
        foot_mark(e, bits, t, m->ti, m->tj, 1, I, J, mi, nj), known = true;
      }
      known |= folded;
    }
    if (!known) return false;
    feet[t] = bits;
  }
  return true;
}

/* Do warp w's pending accesses (a) meet another warp's (or its own:
 * same) new ones (b) where one of the two writes? (Every pair of warps
 * is taken, so the reverse question has the same answer.) */
static void feet_meet(const uint64_t *a, const uint64_t *b, int nw, int words, bool *cross,
                      bool *same) {
  for (int w = 0; w < nw; w++)
    for (int v = 0; v < nw; v++)
      for (int i = 0; i < words; i++) {
        /* a written against b read or written, a read against b written */
        uint64_t x = a[(2 * w + 1) * words + i] & (b[(2 * v) * words + i] | b[(2 * v + 1) * words + i]);
        x |= a[(2 * w) * words + i] & b[(2 * v + 1) * words + i];
        if (!x) continue;
        if (w == v) *same = true;
        else *cross = true;
      }
}

/* sync_before for a product whose footprints are feet (warp_feet): a
 * barrier where another statement's accesses pending meet it, or another
 * warp's pending accesses do; else a __syncwarp where the warp's own do. */
static void sync_mma(Emit *e, const unsigned char *use, uint64_t **feet, int depth) {
  const Kernel *k = e->k;
  int nt = k->tiles.len, nw = e->threads / 32;
  bool clash = false, same = false;
  for (int t = 0; t <= nt && !clash; t++) {
    if (!use[t]) continue;
    for (int u = 0; u <= nt && !clash; u++) {
      if (!e->pend[u] || !((use[t] | e->pend[u]) & 2) || !same_memory(e, t, u)) continue;
      if (t != u || t == nt || !feet[t] || !e->pfoot[u]) {
        clash = true;
        break;
      }
      int d0, d1;
      long n1;
      int words = (foot_cells(k, t, &d0, &d1, &n1) + 63) / 64;
      feet_meet(e->pfoot[u], feet[t], nw, words, &clash, &same);
    }
  }
  if (clash || e->sync_all) {
    flush(e, depth);
  } else if (same) {
    em_ind(e, depth);
    buf_puts(e->out, "__syncwarp();\n");
  }
  for (int t = 0; t <= nt; t++) {
    if (!use[t]) continue;
    bool fresh = !e->pend[t];
    e->pend_map[t] = 0;
    e->pend[t] |= use[t];
    if (t == nt || !feet[t] || (!fresh && !e->pfoot[t])) {
      e->pfoot[t] = NULL;
      continue;
    }
    int d0, d1;
    long n1;
    size_t n = 2 * (size_t)nw * (size_t)((foot_cells(k, t, &d0, &d1, &n1) + 63) / 64);
    if (fresh) {
      e->pfoot[t] = arena_alloc(k->arena, sizeof(uint64_t) * n);
      memcpy(e->pfoot[t], feet[t], sizeof(uint64_t) * n);
    } else {
      for (size_t i = 0; i < n; i++) e->pfoot[t][i] |= feet[t][i];
    }
  }
}

/* The barrier before products pt[0..np) (and then) with `use`: by their
 * warp footprints where LRC_CUDA_WARP_SYNC=on and they are known. */
static void sync_products(Emit *e, const unsigned char *use, const MmaPart *pt, int np,
                          const MmaPart *then, int depth) {
  uint64_t **feet = NULL;
  if (e->warp_sync && !e->sync_all && e->pfoot) {
    feet = arena_alloc(e->k->arena, sizeof(uint64_t *) * (size_t)(e->k->tiles.len + 1));
    if (!warp_feet(e, pt, np, then, use, feet)) feet = NULL;
  }
  if (feet) sync_mma(e, use, feet, depth);
  else sync_before(e, use, depth);
}

/* The loop of emit_mma_sync over a warp's blocks of mi x nj mma tiles of
 * an I x J target (lrc_w_t its round), opened, with each block's first
 * row and column (lrc_i0, lrc_j0) and the lane's place in a tile (lrc_g,
 * lrc_q); put_state_regs walks the state's blocks by the same loop. */
static void put_warp_blocks(Emit *e, long I, long J, int mi, int nj, int depth) {
  Buf *o = e->out;
  long nbj = J / 8 / nj;
  em_ind(e, depth);
  put_strided(e, "lrc_w", tid(TID_WARP), warp_blocks(I, J, mi, nj), e->threads / 32, "blockDim.x >> 5");
  buf_puts(o, "{\n");
  em_ind(e, depth + 1);
  buf_printf(o, "const int lrc_i0 = (lrc_w / %ld) * %d, lrc_j0 = (lrc_w %% %ld) * %d;\n", nbj,
             16 * mi, nbj, 8 * nj);
  em_ind(e, depth + 1);
  buf_printf(o, "const int lrc_g = (%s) >> 2, lrc_q = (%s) & 3;\n", tid(TID_LANE), tid(TID_LANE));
}

/* The raw mma.sync form: TF32 m16n8k8 (three products of split operands
 * for float32 inputs) or bf16 m16n8k16 (mma_bf16); each
 * warp holds a block of accumulators and loads its operands' fragments
 * straight from the tiles (Operand), converting in registers. Within a
 * k-step the k's are permuted alike in A and B (thread q takes k = q +
 * 4m, not the fragment's 2q, 2q+1, ...: a sum is a sum), so that the
 * loads of a row-major operand from rows padded by 4 floats hit 32
 * banks. Two products that share an operand (mma_pair) run as one: each
 * warp the same block of both, the shared fragments loaded once. The
 * names of product p's registers end in p's suffix ("" or "1"). */
static void put_mma_pass(Emit *e, const MmaPart *pt, int np, const int *na, const int *nb, bool bf,
                         int mi, int nj, bool load, int depth);

static void emit_mma_sync(Emit *e, const MmaPart *pt, int np, const MmaPart *then, bool bf,
                          int depth) {
  const Kernel *k = e->k;
  const Mma *m0 = &pt[0].m;
  long I = k->dims.data[m0->ti].size, J = k->dims.data[m0->tj].size;
  int mi, nj;
  bool a_shared = np > 1 && same_a(&pt[1].m, m0);   /* (else B: mma_pair) */
  product_blocking(e, I, J, np, a_shared, &mi, &nj);
  /* product p's A and B: those of na[p], nb[p] */
  int na[2] = {0, a_shared ? 0 : 1}, nb[2] = {0, a_shared ? 1 : 0};
  static const char *const sfx[] = {"", "1"};
  Buf *o = e->out;
  put_warp_blocks(e, I, J, mi, nj, depth);
  for (int p = 0; p < np; p++) {
    em_ind(e, depth + 1);
    if (state_update(e, &pt[p]))   /* (np is 1: state_regs) */
      buf_printf(o, "float (&lrc_c)[%d][%d][4] = lrc_S[lrc_w_t];\n", mi, nj);
    else
      buf_printf(o, "float lrc_c%s[%d][%d][4];\n", sfx[p], mi, nj);
  }
  for (int p = 0; p < np; p++) {
    if (state_update(e, &pt[p])) continue;
    bool half = e->tile_half && e->tile_half[pt[p].a->tile];   /* (rows permuted: half_tiles) */
    em_ind(e, depth + 1);
    buf_printf(o, "%s *lrc_x%s = ", half ? "__nv_bfloat16" : "float", sfx[p]);
    em_put_tile_name(e, pt[p].a->tile);
    buf_printf(o, " + (lrc_i0 + %s) * %ld + lrc_j0 + 2 * lrc_q;\n",
               half ? "((lrc_g & 3) << 1 | lrc_g >> 2)" : "lrc_g", pt[p].m.ldx);
  }
  put_mma_pass(e, pt, np, na, nb, bf, mi, nj, true, depth + 1);
  if (then) {   /* (np is 1) the second product on the same accumulators */
    put_acc_post(e, &pt[0], "", mi, nj, depth + 1);
    em_ind(e, depth + 1);
    buf_puts(o, "{\n");
    put_mma_pass(e, then, 1, na, nb, bf, mi, nj, false, depth + 2);
    em_ind(e, depth + 1);
    buf_puts(o, "}\n");
    put_acc_store(e, then, "", mi, nj, depth + 1);
  } else {
    for (int p = 0; p < np; p++) put_acc_store(e, &pt[p], sfx[p], mi, nj, depth + 1);
  }
  close_threads(e, depth);
}

/* emit_mma_sync's pass over the reduced dim for products pt[0..np) (A
 * and B of product p those of na[p], nb[p]): the operands' pointers, the
 * accumulators' start where load (else they hold it), the k-steps. */
static void put_mma_pass(Emit *e, const MmaPart *pt, int np, const int *na, const int *nb, bool bf,
                         int mi, int nj, bool load, int depth) {
  const Kernel *k = e->k;
  const Mma *m0 = &pt[0].m;
  long R = k->dims.data[m0->r].size;
  int ks = bf ? 16 : 8;
  static const char *const sfx[] = {"", "1"};
  Buf *o = e->out;
  /* the operands loaded: product p's own A where na[p] == p, B alike */
  Operand oa[2], ob[2];
  int nopa = 0, nopb = 0;
  for (int p = 0; p < np; p++) {
    const Mma *m = &pt[p].m;
    bool ha = e->tile_half && e->tile_half[m->ta], hb = e->tile_half && e->tile_half[m->tb];
    if (na[p] == p)
      oa[nopa++] = (Operand){.b = false, .tile = m->ta, .k_inner = m->a_row, .ld = m->lda,
                             .half = ha, .ldsm = !bf && !ha && m->a_row && frag_ldsm(e, m->ta),
                             .n = mi, .sfx = sfx[p]};
    if (nb[p] == p && e->rs_live && e->reg_state == m->tb + 1)   /* its bf16 copy (state_regs) */
      ob[nopb++] = (Operand){.b = true, .tile = m->tb, .k_inner = false, .ld = e->rs_ld,
                             .half = true, .n = nj, .sfx = sfx[p], .name = "lrc_Sh"};
    else if (nb[p] == p)
      ob[nopb++] = (Operand){.b = true, .tile = m->tb, .k_inner = !m->b_row, .ld = m->ldb,
                             .half = hb, .ldsm = !bf && !hb && !m->b_row && frag_ldsm(e, m->tb),
                             .n = nj, .sfx = sfx[p]};
  }
  const char *lane = arena_printf(k->arena, "(%s)", tid(TID_LANE));
  for (int i = 0; i < nopa; i++) put_operand_ptr(e, &oa[i], lane, depth);
  for (int i = 0; i < nopb; i++) put_operand_ptr(e, &ob[i], lane, depth);
  for (int p = 0; load && p < np; p++) put_acc_load(e, &pt[p], sfx[p], mi, nj, depth);
  long trips = R / ks;
  em_ind(e, depth);
  buf_printf(o, "_Pragma(\"unroll%s\") for (int lrc_k = 0; lrc_k < %ld; lrc_k += %d) {\n",
             trips <= 8 ? "" : " 2", R, ks);
  bool split = !bf && !e->io;   /* float32: each operand a TF32 part and its rest's */
  em_ind(e, depth + 1);
  buf_puts(o, "unsigned ");
  for (int i = 0; i < nopa; i++) buf_printf(o, "%slrc_a%s[%d][4]", i ? ", " : "", oa[i].sfx, mi);
  for (int i = 0; i < nopb; i++) buf_printf(o, ", lrc_b%s[%d][2]", ob[i].sfx, nj);
  for (int i = 0; split && i < nopa; i++) buf_printf(o, ", lrc_as%s[%d][4]", oa[i].sfx, mi);
  for (int i = 0; split && i < nopb; i++) buf_printf(o, ", lrc_bs%s[%d][2]", ob[i].sfx, nj);
  buf_puts(o, ";\n");
  for (int i = 0; i < nopa; i++) put_operand_loads(e, &oa[i], bf, split, depth + 1);
  for (int i = 0; i < nopb; i++) put_operand_loads(e, &ob[i], bf, split, depth + 1);
  put_unrolled(e, "lrc_m", mi, false, depth + 1);
  put_unrolled(e, "lrc_n", nj, true, depth + 2);
  const char *mma = bf ? "lrc_mma_bf16" : "lrc_mma_tf32";
  for (int p = 0; p < np; p++) {
    const char *c = sfx[p], *ma = sfx[na[p]], *nb_ = sfx[nb[p]];
    if (split) {   /* the products of the rests first, then the big one */
      em_ind(e, depth + 3);
      buf_printf(o, "%s(lrc_c%s[lrc_m][lrc_n], lrc_as%s[lrc_m], lrc_b%s[lrc_n]);\n", mma, c, ma, nb_);
      em_ind(e, depth + 3);
      buf_printf(o, "%s(lrc_c%s[lrc_m][lrc_n], lrc_a%s[lrc_m], lrc_bs%s[lrc_n]);\n", mma, c, ma, nb_);
    }
    em_ind(e, depth + 3);
    buf_printf(o, "%s(lrc_c%s[lrc_m][lrc_n], lrc_a%s[lrc_m], lrc_b%s[lrc_n]);\n", mma, c, ma, nb_);
  }
  em_ind(e, depth + 2);
  buf_puts(o, "}\n");
  em_ind(e, depth);
  buf_puts(o, "}\n");
}

/* The unrolled loop over a thread's n consecutive points along dim dn
 * from lrc_d, its body's i_DN the point's own (shadowing the group's). */
static void put_point_loop(Emit *e, const char *dn, long n, int depth) {
  put_unrolled(e, "lrc_j", n, true, depth);
  em_ind(e, depth + 1);
  buf_printf(e->out, "const int i_%s = lrc_d + lrc_j;\n", dn);
  em_ind(e, depth + 1);
  buf_printf(e->out, "(void)i_%s;\n", dn);
}

/* Can tile t be read or written four points at a time along dim d (its
 * contiguous dim, rows a multiple of 4 floats; places are 32-byte
 * aligned)? */
static bool vec_tile(const Emit *e, int t, int d) {
  const Kernel *k = e->k;
  return kir_inner_dim(k, k->tiles.data[t].dims) == d && row_pitch(e, t) % 4 == 0;
}

/* The tiles expression x reads at the point along d, four at a time, as
 * vec[t] = 1. */
static void vec_reads(const Emit *e, int x, int d, unsigned char *vec) {
  const KExpr *ex = &e->k->exprs.data[x];
  switch (ex->kind) {
  case KE_READ:
    if (ex->dim_a < 0 && vec_tile(e, ex->tile, d)) vec[ex->tile] = 1;
    return;
  case KE_UNARY: vec_reads(e, ex->a, d, vec); return;
  case KE_BINARY:
    vec_reads(e, ex->a, d, vec);
    vec_reads(e, ex->b, d, vec);
    return;
  default: return;
  }
}

/* n floats (a whole tile, padding included, or a nest's points) by
 * float4 where every thread gets one at least (4), else by float (1). */
static long flat_width(const Emit *e, long n) {
  return !env_is("LRC_CUDA_VEC_NEST", "off") && n % 4 == 0 && n >= 4L * e->threads ? 4 : 1;
}

/* An element-wise nest four points a thread, consecutive along the
 * target's contiguous dim d: the tiles read along d (and the target) by
 * float4, the expression evaluated per point with i_d shadowed (masks and
 * other reads see the point's own index), one float4 store. Each point
 * was 5-8 instructions of index arithmetic and scalar accesses, and such
 * nests were half the free part's instructions (ncu, Gated DeltaNet).
 * Where every thread gets a group at least; LRC_CUDA_VEC_NEST=off. */
static bool vec_nest(const Emit *e, const KAssign *a, DimSet td) {
  const Kernel *k = e->k;
  int d = kir_inner_dim(k, td);
  return d >= 0 && k->dims.data[d].size % 4 == 0 && flat_width(e, count_of(k, td)) == 4 &&
         vec_tile(e, a->tile, d);
}

static void emit_vec_nest(Emit *e, const KAssign *a, DimSet td, int depth) {
  const Kernel *k = e->k;
  Buf *o = e->out;
  int d = kir_inner_dim(k, td), nt = k->tiles.len;
  const char *dn = k->dims.data[d].name;
  unsigned char *vec = use_new(e);
  vec_reads(e, a->expr, d, vec);
  if (a->acc != KACC_SET) vec[a->tile] = 1;
  em_ind(e, depth);
  put_strided(e, "lrc_p", tid(TID), count_of(k, td) / 4, e->threads, "blockDim.x");
  buf_puts(o, "{\n");
  decode(e, td, "(lrc_p * 4)", depth + 1);
  e->vec_reg = arena_alloc(k->arena, sizeof *e->vec_reg * (size_t)nt);
  for (int t = 0; t < nt; t++) {
    if (!vec[t]) continue;
    const char *nm = e->vec_reg[t] = arena_printf(k->arena, "lrc_r%d", t);
    em_ind(e, depth + 1);
    buf_printf(o, "float %s[4];\n", nm);
    em_ind(e, depth + 1);
    buf_printf(o, "*(float4 *)%s = *(const float4 *)&", nm);
    em_put_elem(e, t);
    buf_puts(o, ";\n");
  }
  em_ind(e, depth + 1);
  buf_printf(o, "float lrc_o[4];\n");
  em_ind(e, depth + 1);
  buf_printf(o, "const int lrc_d = i_%s;\n", dn);
  put_point_loop(e, dn, 4, depth + 1);
  em_ind(e, depth + 2);
  bool rnd = tf32_rounds(e, a);
  buf_puts(o, rnd ? "lrc_o[lrc_j] = lrc_tf32r(" : "lrc_o[lrc_j] = ");
  if (a->acc == KACC_MAX) buf_printf(o, "fmaxf(%s[lrc_j], ", e->vec_reg[a->tile]);
  else if (a->acc == KACC_ADD) buf_printf(o, "%s[lrc_j] + ", e->vec_reg[a->tile]);
  em_put_expr(e, a->expr);
  buf_puts(o, a->acc == KACC_MAX || rnd ? ");\n" : ";\n");
  em_ind(e, depth + 1);
  buf_puts(o, "}\n");
  e->vec_reg = NULL;
  em_ind(e, depth + 1);
  buf_puts(o, "*(float4 *)&");
  em_put_elem(e, a->tile);
  buf_puts(o, " = *(const float4 *)lrc_o;\n");
  close_threads(e, depth);
}

static void emit_nest(Emit *e, const KStmt *s, int depth) {
  const Kernel *k = e->k;
  for (int j = 0; j < s->assigns.len; j++) {
    const KAssign *a = &s->assigns.data[j];
    DimSet td = k->tiles.data[a->tile].dims, red = s->space & ~td;
    int di, dj, tm, tn;
    unsigned char *use = use_new(e);
    kir_use_assign(k, a, use);
    Mma m;
    bool mma = red && mma_form(e, s, a, &m), wr = red && !mma && warp_reduce(k, e->threads, a, td, red);
    bool micro = red && !mma && !wr && micro_tile(k, e->threads, a, td, &di, &dj, &tm, &tn);
    bool vec = !red && vec_nest(e, a, td);
    /* (the plain form of a scalar's nest: thread 0 alone) */
    bool solo = !mma && !wr && !micro && !vec && !td;
    if (mma && !env_is("LRC_CUDA_MMA", "wmma"))
      sync_products(e, use, &(MmaPart){a, m, NULL, NULL}, 1, NULL, depth);
    else
      sync_at(e, use,
              mma || wr || micro ? NULL : solo ? solo_map(e, use) : point_map(e, a, td, vec),
              depth);
    if (mma) {
      /* LRC_CUDA_MMA=wmma: the WMMA form (TF32, a 16 x 16 tile a warp) */
      if (env_is("LRC_CUDA_MMA", "wmma")) emit_mma(e, a, &m, depth);
      else emit_mma_sync(e, &(MmaPart){a, m, NULL, NULL}, 1, NULL, mma_bf16(e, &m), depth);
      continue;
    }
    if (wr) {
      emit_warp_reduce(e, a, td, red, depth);
      continue;
    }
    if (micro) {
      emit_micro(e, a, red, di, dj, tm, tn, depth);
      continue;
    }
    if (vec) {
      emit_vec_nest(e, a, td, depth);
      continue;
    }
    open_threads(e, td, 1, depth);
    if (!red) {
      em_ind(e, depth + 1);
      em_put_elem(e, a->tile);
      if (a->acc == KACC_SET) {
        bool rnd = tf32_rounds(e, a);
        buf_puts(e->out, rnd ? " = lrc_tf32r(" : " = ");
        em_put_expr(e, a->expr);
        if (rnd) buf_puts(e->out, ")");
      } else {
        buf_puts(e->out, a->acc == KACC_ADD ? " += " : " = fmaxf(");
        if (a->acc == KACC_MAX) {
          em_put_elem(e, a->tile);
          buf_puts(e->out, ", ");
        }
        em_put_expr(e, a->expr);
        if (a->acc == KACC_MAX) buf_puts(e->out, ")");
      }
      buf_puts(e->out, ";\n");
    } else {
      /* A reduction: this thread's target element, in a register. */
      em_ind(e, depth + 1);
      buf_puts(e->out, "float lrc_acc = ");
      em_put_elem(e, a->tile);
      buf_puts(e->out, ";\n");
      /* (KACC_SET keeps the last term: the plain order then.) */
      bool sk = a->acc != KACC_SET && some_read(k, a->expr, kir_inner_dim(k, red), true, td);
      int open = a->acc == KACC_SET ? 0 : open_reduction(e, red, depth + 1, sk), skew = open < 0;
      if (a->acc == KACC_SET)
        for (int o = 0; o < k->dims.len; o++) {
          int d = k->order[o];
          if (!(red & (1u << d))) continue;
          em_ind(e, depth + 1 + open++);
          buf_printf(e->out, "for (int i_%s = 0; i_%s < %ld; i_%s++)\n", k->dims.data[d].name,
                     k->dims.data[d].name, k->dims.data[d].size, k->dims.data[d].name);
        }
      if (skew) open = 1;
      em_ind(e, depth + 1 + open);
      if (a->acc == KACC_ADD) buf_puts(e->out, "lrc_acc += ");
      else if (a->acc == KACC_MAX) buf_puts(e->out, "lrc_acc = fmaxf(lrc_acc, ");
      else buf_puts(e->out, "lrc_acc = ");
      em_put_expr(e, a->expr);
      buf_puts(e->out, a->acc == KACC_MAX ? ");\n" : ";\n");
      if (skew) {
        em_ind(e, depth + 1);
        buf_puts(e->out, "}\n");
      }
      em_ind(e, depth + 1);
      em_put_elem(e, a->tile);
      buf_puts(e->out, " = lrc_acc;\n");
    }
    close_threads(e, depth);
  }
}

/* Buffer b's name in the source (in the arena). */
static const char *buf_name(Emit *e, int b) {
  Buf nm = {0};
  Emit sub = *e;
  sub.out = &nm;
  em_put_buf_name(&sub, b);
  const char *r = arena_strdup(e->k->arena, nm.s);
  buf_free(&nm);
  return r;
}

/* The element offset of the point i_DIM in a block laid out over dims[0..n)
 * (innermost first) at their full sizes, a split dim at this block's
 * slice; appended to off. */
static void put_offset(const Emit *e, const int *dims, int n, Buf *off) {
  const DimTable *dt = &e->k->dims;
  long fs = 1;
  for (int i = 0; i < n; i++) {
    int d = dims[i];
    buf_printf(off, "%s(i_%s", i ? " + " : "", dt->data[d].name);
    if (d == e->split_dim && e->nsplit > 1) buf_printf(off, " + lrc_split * %ld", dt->data[d].size);
    buf_printf(off, ") * %ld", fs);
    fs *= e->full[d];
  }
  if (!n) buf_puts(off, "0");
}

/* 16 bytes in lrc_x (uint4) to the floats at lrc_t (4 floats, or 8
 * values of I/O type io), and back. The floats move 16 bytes at a time
 * too (lrc_t is 16-byte aligned: places, padded rows and the vector's
 * start all are): a warp's scalar accesses 8 floats apart would hit the
 * same 4 banks 8 at a time. LRC_CUDA_VEC_SMEM=off: float by float.
 * Eight floats a thread (16-bit I/O) are two float4 accesses 32 bytes
 * apart across the lanes: the 8 lanes that share a wavefront would span
 * 256 bytes, two wavefronts each; lanes 4-7 of each 8 (lane & 4) take
 * their second half first, and the 8 then cover 128 bytes once.
 * Not in the rest of the phased form, whose one such transfer (the
 * outputs' store) measured 1-2% slower so (the selects; its shared
 * memory is not its limit), while the free parts, bound by shared
 * memory, ran 3-7% faster (H200, bf16, K = V = 128; docs/perf-cuda.md
 * v14). LRC_CUDA_LANE_HALVES=off: both halves in order everywhere. */
static bool lane_halves(const Emit *e) {
  return e->phase != PHASE_REST && !env_is("LRC_CUDA_LANE_HALVES", "off");
}

/* lrc_x's 16 bytes (4 floats, or 8 values of I/O type io) into the
 * floats dst[0..) (the line indented already). */
static void put_unpack_into(Emit *e, int io, const char *dst, int depth) {
  if (io == 0) {
    buf_printf(e->out,
               "%s[0] = __uint_as_float(lrc_x.x), %s[1] = __uint_as_float(lrc_x.y), "
               "%s[2] = __uint_as_float(lrc_x.z), %s[3] = __uint_as_float(lrc_x.w);\n",
               dst, dst, dst, dst);
    return;
  }
  buf_printf(e->out,
             "for (int lrc_j = 0; lrc_j < 4; lrc_j++) {\n%*s"
             "  const float2 lrc_f = %s(((const %s *)&lrc_x)[lrc_j]);\n%*s"
             "  %s[2 * lrc_j] = lrc_f.x, %s[2 * lrc_j + 1] = lrc_f.y;\n%*s}\n",
             2 * depth, "", io_to_f2[io], io_pair[io], 2 * depth, "", dst, dst, 2 * depth, "");
}

/* The 8 floats src[0..8) to lrc_t as two float4, by lane halves where
 * lane_halves (the line indented already). */
static void put_store8(Emit *e, const char *src, int depth) {
  if (!lane_halves(e)) {
    buf_printf(e->out,
               "*(float4 *)lrc_t = make_float4(%s[0], %s[1], %s[2], %s[3]);\n%*s"
               "*(float4 *)(lrc_t + 4) = make_float4(%s[4], %s[5], %s[6], %s[7]);\n",
               src, src, src, src, 2 * depth, "", src, src, src, src);
    return;
  }
  buf_printf(e->out,
             "const int lrc_hs = (%s) & 4;\n%*s"
             "const float4 lrc_ua = make_float4(%s[0], %s[1], %s[2], %s[3]), "
             "lrc_ub = make_float4(%s[4], %s[5], %s[6], %s[7]);\n%*s"
             "*(float4 *)(lrc_t + lrc_hs) = lrc_hs ? lrc_ub : lrc_ua;\n%*s"
             "*(float4 *)(lrc_t + (4 - lrc_hs)) = lrc_hs ? lrc_ua : lrc_ub;\n",
             tid(TID), 2 * depth, "", src, src, src, src, src, src, src, src, 2 * depth, "",
             2 * depth, "");
}

static void put_unpack(Emit *e, int io, int depth) {
  bool v4 = !env_is("LRC_CUDA_VEC_SMEM", "off");
  em_ind(e, depth);
  if (io == 0 && v4) {
    buf_puts(e->out, "*(float4 *)lrc_t = make_float4(__uint_as_float(lrc_x.x), "
                     "__uint_as_float(lrc_x.y), __uint_as_float(lrc_x.z), "
                     "__uint_as_float(lrc_x.w));\n");
    return;
  }
  if (io == 0 || !v4) {
    put_unpack_into(e, io, "lrc_t", depth);
    return;
  }
  buf_puts(e->out, "float lrc_u[8];\n");
  em_ind(e, depth);
  put_unpack_into(e, io, "lrc_u", depth);
  em_ind(e, depth);
  put_store8(e, "lrc_u", depth);
}

static void put_pack(Emit *e, int io, int depth) {   /* (the line indented already) */
  bool v4 = !env_is("LRC_CUDA_VEC_SMEM", "off");
  if (io == 0) {
    buf_puts(e->out, v4 ? "const float4 lrc_f = *(const float4 *)lrc_t;\n"
                          : "const float4 lrc_f = make_float4(lrc_t[0], lrc_t[1], lrc_t[2], lrc_t[3]);\n");
    em_ind(e, depth);
    buf_puts(e->out, "const uint4 lrc_x = make_uint4(__float_as_uint(lrc_f.x), __float_as_uint(lrc_f.y), "
                     "__float_as_uint(lrc_f.z), __float_as_uint(lrc_f.w));\n");
    return;
  }
  if (v4 && lane_halves(e)) {
    buf_printf(e->out, "const int lrc_hs = (%s) & 4;\n", tid(TID));
    em_ind(e, depth);
    buf_puts(e->out, "const float4 lrc_fa = *(const float4 *)(lrc_t + lrc_hs), "
                     "lrc_fb = *(const float4 *)(lrc_t + (4 - lrc_hs));\n");
    em_ind(e, depth);
    buf_puts(e->out, "const float4 lrc_f0 = lrc_hs ? lrc_fb : lrc_fa, lrc_f1 = lrc_hs ? lrc_fa : lrc_fb;\n");
  } else if (v4)
    buf_puts(e->out, "const float4 lrc_f0 = *(const float4 *)lrc_t, lrc_f1 = *(const float4 *)(lrc_t + 4);\n");
  else
    buf_puts(e->out, "const float4 lrc_f0 = make_float4(lrc_t[0], lrc_t[1], lrc_t[2], lrc_t[3]), "
                     "lrc_f1 = make_float4(lrc_t[4], lrc_t[5], lrc_t[6], lrc_t[7]);\n");
  em_ind(e, depth);
  buf_printf(e->out,
             "uint4 lrc_x;\n%*s"
             "((%s *)&lrc_x)[0] = %s(lrc_f0.x, lrc_f0.y), ((%s *)&lrc_x)[1] = %s(lrc_f0.z, lrc_f0.w);\n%*s"
             "((%s *)&lrc_x)[2] = %s(lrc_f1.x, lrc_f1.y), ((%s *)&lrc_x)[3] = %s(lrc_f1.z, lrc_f1.w);\n",
             2 * depth, "", io_pair[io], io_from_f2[io], io_pair[io], io_from_f2[io], 2 * depth, "",
             io_pair[io], io_from_f2[io], io_pair[io], io_from_f2[io]);
}

/* The loop of a transfer (emit_transfer), vw elements at a time along
 * the slot's last dim (1, or 16 bytes: 4 floats or 8 16-bit values). */
static void put_transfer_loop(Emit *e, const KStmt *s, long vw, int depth) {
  const Kernel *k = e->k;
  const DimTable *dt = &k->dims;
  const Slot *sl = kir_buf_slot(k, s->buf);
  bool load = s->kind == KS_LOAD, rows = s->rowdim >= 0;
  long nrow = rows ? dt->data[s->rowdim].size : 1, part = kir_slot_count(k, s->buf);
  em_ind(e, depth);
  put_strided(e, "lrc_v", tid(TID), nrow * part / vw, e->threads, "blockDim.x");
  buf_puts(e->out, "{\n");
  em_ind(e, depth + 1);
  buf_printf(e->out, "const int lrc_p = lrc_v * %ld, lrc_q = lrc_p %% %ld;\n", vw, part);
  long st = 1;
  int inner_first[LRC_MAX_DIMS], n = 0;
  for (int i = sl->ndims - 1; i >= 0; i--) {
    const DimInfo *d = &dt->data[sl->dims[i]];
    em_ind(e, depth + 1);
    buf_printf(e->out, "const int i_%s = (lrc_q / %ld) %% %ld;\n", d->name, st, d->size);
    st *= d->size;
    inner_first[n++] = sl->dims[i];
  }
  Buf off = {0};
  put_offset(e, inner_first, n, &off);
  em_ind(e, depth + 1);
  buf_printf(e->out, "const int64_t lrc_e = %s;\n", off.s);
  buf_free(&off);
  const char *row = rows ? dt->data[s->rowdim].name : NULL;
  if (rows) {
    em_ind(e, depth + 1);
    buf_printf(e->out, "const int i_%s = lrc_p / %ld;\n", row, part);
  }
  Buf o = {0};
  if (rows) buf_printf(&o, "lrc_base + i_%s * lrc_rstride + lrc_e", row);
  else buf_puts(&o, "lrc_base + lrc_e");
  /* Inputs, params and outputs in the I/O type; states always float. */
  KBufRole role = k->bufs.data[s->buf].role;
  int io = role == KB_STATE_IN || role == KB_STATE_OUT ? 0 : e->io;
  em_ind(e, depth + 1);
  buf_puts(e->out, "float *lrc_t = &");
  em_put_elem(e, s->tile);
  buf_puts(e->out, ";\n");
  em_ind(e, depth + 1);
  const char *nm = buf_name(e, s->buf);
  if (vw == 1) {
    if (load) {
      buf_puts(e->out, "*lrc_t = ");
      if (rows) buf_printf(e->out, "i_%s < lrc_nrows ? ", row);
      buf_printf(e->out, "%s(%s[%s])%s;\n", io_to_f[io], nm, o.s, rows ? " : 0.0f" : "");
    } else {
      if (rows) buf_printf(e->out, "if (i_%s < lrc_nrows) ", row);
      buf_printf(e->out, "%s[%s] = %s(*lrc_t);\n", nm, o.s, io_from_f[io]);
    }
  } else if (load) {
    /* Absent rows as zeros. */
    buf_printf(e->out, "uint4 lrc_x = make_uint4(0, 0, 0, 0);\n");
    em_ind(e, depth + 1);
    if (rows) buf_printf(e->out, "if (i_%s < lrc_nrows) ", row);
    buf_printf(e->out, "lrc_x = *(const uint4 *)(%s + %s);\n", nm, o.s);
    put_unpack(e, io, depth + 1);
  } else {
    put_pack(e, io, depth + 1);
    em_ind(e, depth + 1);
    if (rows) buf_printf(e->out, "if (i_%s < lrc_nrows) ", row);
    buf_printf(e->out, "*(uint4 *)(%s + %s) = lrc_x;\n", nm, o.s);
  }
  buf_free(&o);
  close_threads(e, depth);
}

/* A block of rows between a tile and a buffer (the slot's declared dim
 * order, contiguous); rows beyond `rows` load as zeros and are not
 * stored. 16 bytes at a time where the slot's last dim is the tile's
 * inner one and holds whole vectors, the rows and the block start on
 * 16 bytes (a check at run time: the caller's pointers may be views);
 * else element by element. */
static void emit_phase_transfer(Emit *e, const KStmt *s, int depth);
/* The rows present in a transfer of several rows and the stride between
 * them: lrc_nrows, lrc_rstride (times `scale`: bytes for a byte pointer). */
static void put_rows(Emit *e, const KStmt *s, int scale, int depth) {
  em_ind(e, depth);
  buf_puts(e->out, "const int64_t lrc_nrows = ");
  em_put_idx(e, s->rows);
  buf_puts(e->out, ", lrc_rstride = ");
  em_put_idx(e, s->rowstride);
  if (scale > 1) buf_printf(e->out, " * %d", scale);
  buf_puts(e->out, ";\n");
}

static void emit_transfer(Emit *e, const KStmt *s, int depth) {
  if (s->buf == PHASE_BUF) {
    emit_phase_transfer(e, s, depth);
    return;
  }
  const Kernel *k = e->k;
  const DimTable *dt = &k->dims;
  const Slot *sl = kir_buf_slot(k, s->buf);
  bool load = s->kind == KS_LOAD, rows = s->rowdim >= 0;
  em_ind(e, depth);
  buf_puts(e->out, "{\n");
  em_ind(e, depth + 1);
  buf_puts(e->out, "const int64_t lrc_base = ");
  em_put_idx(e, s->idx);
  buf_puts(e->out, ";\n");
  if (rows) {
    put_rows(e, s, 1, depth + 1);
  }
  bool sliced = false;
  for (int i = 0; i < sl->ndims; i++) sliced |= sl->dims[i] == e->split_dim && e->nsplit > 1;
  if (!load && e->nsplit > 1 && !sliced) {
    /* Every block of the row holds the same values: one stores them. */
    em_ind(e, depth + 1);
    buf_puts(e->out, "if (lrc_split == 0)\n");
  }
  KBufRole role = k->bufs.data[s->buf].role;
  int io = role == KB_STATE_IN || role == KB_STATE_OUT ? 0 : e->io;
  long vw = io ? 8 : 4;
  int last = sl->ndims ? sl->dims[sl->ndims - 1] : -1;
  bool vec = !env_is("LRC_CUDA_VECTOR", "off") && last >= 0 &&
             last == kir_inner_dim(k, k->tiles.data[s->tile].dims) &&
             dt->data[last].size % vw == 0 && e->full[last] % vw == 0;
  if (vec) {
    em_ind(e, depth + 1);
    buf_puts(e->out, "if (((uintptr_t)(");
    em_put_buf_name(e, s->buf);
    buf_puts(e->out, " + lrc_base) & 15) == 0");
    if (rows) buf_printf(e->out, " && lrc_rstride %% %ld == 0", vw);
    buf_puts(e->out, ") {\n");
    put_transfer_loop(e, s, vw, depth + 2);
    em_ind(e, depth + 1);
    buf_puts(e->out, "} else {\n");
    put_transfer_loop(e, s, 1, depth + 2);
    em_ind(e, depth + 1);
    buf_puts(e->out, "}\n");
  } else {
    put_transfer_loop(e, s, 1, depth + 1);
  }
  em_ind(e, depth);
  buf_puts(e->out, "}\n");
}

/* A tile to or from its place in the chunk's record of the phased form
 * (the tile's own layout, full size; a split tile's slice at its
 * columns). */
/* Is tile t a record that the rest's top-of-trip load reads from the
 * records (not a chunk ahead, not from the input)? */
static bool rec_prefetched(const Emit *e, int t) {
  return e->k->phase_at[t] >= 0 && !(e->tile_ahead && e->tile_ahead[t]) &&
         !(e->rec_src && e->rec_src[t]);
}

/* The rest's next chunk record, fetched into L2 while this chunk runs
 * (the loads of the crossing tiles at the top of each trip then wait on
 * L2, not on memory): every 128-byte line of each tile's place that
 * holds values. LRC_CUDA_PREFETCH=off to leave it out. */
static void put_prefetch(Emit *e, int depth) {
  const Kernel *k = e->k;
  bool any = false;
  for (int t = 0; t < k->tiles.len; t++) any |= rec_prefetched(e, t);
  if (!any) return;
  em_ind(e, depth);
  buf_printf(e->out, "if (v_%s + 1 < ", k->vars.data[e->grid_loop->var]);
  em_put_idx(e, e->grid_loop->hi);
  buf_puts(e->out, ") {\n");
  for (int t = 0; t < k->tiles.len; t++) {
    if (!rec_prefetched(e, t)) continue;
    int io = __builtin_popcount(k->tiles.data[t].dims) >= 2 ? e->io : 0;
    long count = 1;
    for (int d = 0; d < k->dims.len; d++)
      if (k->tiles.data[t].dims & (1u << d)) count *= e->full[d];
    long lines = (count * (io ? 2 : 4) + 127) / 128;
    em_ind(e, depth + 1);
    buf_puts(e->out, "{\n");
    em_ind(e, depth + 2);
    buf_puts(e->out, "const char *lrc_nx = (const char *)(lrc_phase + ");
    em_put_idx(e, k->phase_at[t]);
    buf_printf(e->out, " + H * %ld);\n", k->phase_rec);
    em_ind(e, depth + 2);
    put_strided(e, "lrc_l", tid(TID), lines, e->threads, "blockDim.x");
    buf_puts(e->out, "asm volatile(\"prefetch.global.L2 [%0];\" :: \"l\"(lrc_nx + lrc_l * 128));\n");
    em_ind(e, depth + 1);
    buf_puts(e->out, "}\n");
  }
  em_ind(e, depth);
  buf_puts(e->out, "}\n");
}

/* A record's 8 bf16 in lrc_x stored into its bf16 tile (half_tiles) at
 * the point decoded, in the products' k order: along the inner dim
 * permuted by lrc_perm8 (the free part stored the record so permuted:
 * rec_perm), or, where k is the row dim, row r at (r & ~7) + 2 (r & 3) +
 * (r & 4) / 4 (the same order). As a load a chunk ahead (rec_async), the
 * 16 bytes at `from` copied there by cp.async (where `pred` is false,
 * zeros). */
static void put_half_store(Emit *e, const KStmt *s, const char *from, const char *pred, int depth) {
  const Kernel *k = e->k;
  const DimTable *dt = &k->dims;
  DimSet td = k->tiles.data[s->tile].dims;
  int din = kir_inner_dim(k, td), dout = kir_inner_dim(k, td & ~(1u << din));
  const char *in = dt->data[din].name, *out = dt->data[dout].name;
  em_ind(e, depth);
  buf_puts(e->out, !e->rec_async ? "*(uint4 *)(" : pred ? "lrc_cp16z(" : "lrc_cp16(");
  em_put_tile_name(e, s->tile);
  if (e->tile_half[s->tile] - 1 == din)
    buf_printf(e->out, " + i_%s * %ld + i_%s", out, e->tile_ld[s->tile], in);
  else
    buf_printf(e->out, " + ((i_%s & ~7) | (i_%s & 3) << 1 | (i_%s >> 2 & 1)) * %ld + i_%s", out,
               out, out, e->tile_ld[s->tile], in);
  if (e->rec_async && pred) buf_printf(e->out, ", %s, %s);\n", from, pred);
  else if (e->rec_async) buf_printf(e->out, ", %s);\n", from);
  else buf_puts(e->out, ") = lrc_x;\n");
}

/* The bf16 tiles of the rest (half_tiles) whose products reduce over
 * their inner dim: their records are stored in lrc_perm8's order by the
 * free part, so that the rest's loads copy bytes (and may be cp.async). */
static unsigned char *rec_perms(const Emit *er) {
  const Kernel *k = er->k;
  if (!er->tile_half) return NULL;
  unsigned char *p = arena_alloc(k->arena, (size_t)k->tiles.len + 1);
  for (int t = 0; t < k->tiles.len; t++)
    p[t] = er->tile_half[t] && er->tile_half[t] - 1 == kir_inner_dim(k, k->tiles.data[t].dims);
  return p;
}

static void put_ahead(Emit *e, bool next, int depth);

/* The last load of a record in the rest's chunk loop. */
static const KStmt *last_rec_load(const Emit *e) {
  const KBlock *b = &e->grid_loop->body;
  for (int i = b->len - 1; i >= 0; i--)
    if (b->data[i]->kind == KS_LOAD && b->data[i]->buf == PHASE_BUF) return b->data[i];
  return NULL;
}

static void emit_stmt(Emit *e, const KStmt *s, int depth, bool outer);
static void put_state_regs(Emit *e, bool in, int depth);

/* The rest's load of a record that copies rows of the caller's input
 * (rec_sources): from the input, as the free part's load src did (rows
 * past the chunk's as zeros), into the record's bf16 tile in the
 * products' k order (put_half_store). A chunk ahead (rec_async 2) under
 * the chunk loop's lets for the next chunk (its loop variable shadowed).
 * 16 bytes at a time where the rows start on 16 bytes, by cp.async where
 * ahead; else (a check at run time: the caller's pointers may be views)
 * element by element, stored at once. */
static void put_sourced(Emit *e, const KStmt *s, const KStmt *src, int depth) {
  const Kernel *k = e->k;
  Buf *o = e->out;
  DimSet td = k->tiles.data[s->tile].dims;
  int col = kir_inner_dim(k, td & ~(1u << src->rowdim));
  const char *row = k->dims.data[src->rowdim].name;
  em_ind(e, depth);
  buf_puts(o, "{\n");
  int d = depth + 1;
  if (e->rec_async == 2) {
    const char *c = k->vars.data[e->grid_loop->var];
    em_ind(e, d);
    buf_printf(o, "const int64_t lrc_nc = v_%s + 1;\n", c);
    em_ind(e, d++);
    buf_puts(o, "{\n");
    em_ind(e, d);
    buf_printf(o, "const int64_t v_%s = lrc_nc;\n", c);
    const KBlock *b = &e->grid_loop->body;
    for (int i = 0; i < b->len && b->data[i]->kind == KS_LET; i++) emit_stmt(e, b->data[i], d, false);
  }
  em_ind(e, d);
  buf_printf(o, "const %s *lrc_src = %s + ", io_type[e->io], buf_name(e, src->buf));
  em_put_idx(e, src->idx);
  buf_puts(o, ";\n");
  put_rows(e, src, 1, d);
  em_ind(e, d);
  buf_puts(o, "const bool lrc_al = ((uintptr_t)lrc_src & 15) == 0 && lrc_rstride % 8 == 0;\n");
  em_ind(e, d);
  put_strided(e, "lrc_v", tid(TID), kir_tile_count(k, s->tile) / 8, e->threads, "blockDim.x");
  buf_puts(o, "{\n");
  em_ind(e, d + 1);
  buf_puts(o, "const int lrc_p = lrc_v * 8;\n");
  decode(e, td, "lrc_p", d + 1);
  Buf at = {0}, from = {0}, pred = {0};
  put_offset(e, &col, 1, &at);
  buf_printf(&at, " + i_%s * lrc_rstride", row);
  buf_printf(&pred, "i_%s < lrc_nrows", row);
  buf_printf(&from, "%s ? lrc_src + %s : lrc_src", pred.s, at.s);
  int async = e->rec_async;
  if (async) {
    em_ind(e, d + 1);
    buf_puts(o, "if (lrc_al) {\n");
    put_half_store(e, s, from.s, pred.s, d + 2);
    em_ind(e, d + 1);
    buf_puts(o, "} else {\n");
    e->rec_async = 0;
  }
  int d2 = d + 1 + (async != 0);
  em_ind(e, d2);
  buf_puts(o, "uint4 lrc_x = make_uint4(0, 0, 0, 0);\n");
  em_ind(e, d2);
  buf_printf(o, "if (%s) {\n", pred.s);
  if (!async) {   /* (else the rows are not aligned: cp.async above) */
    em_ind(e, d2 + 1);
    buf_printf(o, "if (lrc_al) lrc_x = *(const uint4 *)(lrc_src + %s);\n", at.s);
  }
  em_ind(e, d2 + 1);
  buf_printf(o, "%sfor (int lrc_j = 0; lrc_j < 8; lrc_j++) ((unsigned short *)&lrc_x)[lrc_j] = "
                "((const unsigned short *)lrc_src)[%s + lrc_j];\n", async ? "" : "else ", at.s);
  em_ind(e, d2);
  buf_puts(o, "}\n");
  put_half_store(e, s, NULL, NULL, d2);
  if (async) {
    e->rec_async = async;
    em_ind(e, d + 1);
    buf_puts(o, "}\n");
  }
  buf_free(&at), buf_free(&from), buf_free(&pred);
  close_threads(e, d);
  if (async == 2) {
    em_ind(e, --d);
    buf_puts(o, "}\n");
  }
  em_ind(e, depth);
  buf_puts(o, "}\n");
}

/* lrc_rec: the place of s's tile in this chunk's record (the next
 * chunk's where rec_async is 2), as values of I/O type io. */
static void put_rec_ptr(Emit *e, const KStmt *s, int io, int depth) {
  em_ind(e, depth);
  buf_printf(e->out, "%s *__restrict__ lrc_rec = (%s *)(lrc_phase + ", io_type[io], io_type[io]);
  em_put_idx(e, s->idx);
  if (e->rec_async == 2) buf_printf(e->out, " + H * %ld", e->k->phase_rec);   /* (the next chunk's) */
  buf_puts(e->out, ");\n");
}

/* The offset in a record of the point i_DIM of a tile over dims td (the
 * tile's own layout, full sizes), appended to off. */
static void rec_offset(const Emit *e, DimSet td, Buf *off) {
  const Kernel *k = e->k;
  int inner_first[LRC_MAX_DIMS], nd = 0;
  for (int o = k->dims.len - 1; o >= 0; o--)
    if (td & (1u << k->order[o])) inner_first[nd++] = k->order[o];
  put_offset(e, inner_first, nd, off);
}

static void emit_phase_transfer(Emit *e, const KStmt *s, int depth) {
  const Kernel *k = e->k;
  const DimTable *dt = &k->dims;
  DimSet td = k->tiles.data[s->tile].dims;
  /* Matrices in the I/O type (the records' traffic is the phased form's
   * price), in the first half of their place; vectors and scalars (the
   * gates' running sums) in float32. */
  int io = __builtin_popcount(td) >= 2 ? e->io : 0;
  bool load = s->kind == KS_LOAD;
  if (!e->rec_async) {
    if (s == e->ahead_at && e->tile_ahead) put_ahead(e, false, depth);
    if (s == e->prefetch_at) put_prefetch(e, depth);
    if (load && e->tile_ahead && e->tile_ahead[s->tile]) {   /* (loaded by put_ahead) */
      if (s == last_rec_load(e)) put_ahead(e, true, depth);
      return;
    }
  }
  if (load && e->rec_src && e->rec_src[s->tile]) {
    put_sourced(e, s, e->rec_src[s->tile], depth);
    if (e->tile_ahead && !e->rec_async && s == last_rec_load(e)) put_ahead(e, true, depth);
    return;
  }
  /* 16 bytes at a time along the inner dim where it holds whole vectors
   * (places are 32-byte aligned): 8 elements of 16 bits or 4 floats,
   * contiguous in the record and in the tile's row. */
  int din = kir_inner_dim(k, td);
  long vw = io ? 8 : 4, n = kir_tile_count(k, s->tile);
  bool vec = din >= 0 && dt->data[din].size % vw == 0 && e->full[din] % vw == 0;
  if (!vec) vw = 1;
  em_ind(e, depth);
  buf_puts(e->out, "{\n");
  put_rec_ptr(e, s, io, depth + 1);
  em_ind(e, depth + 1);
  put_strided(e, "lrc_v", tid(TID), n / vw, e->threads, "blockDim.x");
  buf_puts(e->out, "{\n");
  em_ind(e, depth + 2);
  buf_printf(e->out, "const int lrc_p = lrc_v * %ld;\n", vw);
  decode(e, td, "lrc_p", depth + 2);
  Buf off = {0};
  rec_offset(e, td, &off);
  const char *at = off.s;
  if (e->tile_half && e->tile_half[s->tile]) {   /* (loads of 8 along the inner dim) */
    if (!e->rec_async) {
      em_ind(e, depth + 2);
      buf_printf(e->out, "const uint4 lrc_x = *(const uint4 *)(lrc_rec + %s);\n", at);
    }
    Buf from = {0};
    buf_printf(&from, "lrc_rec + %s", at);
    put_half_store(e, s, from.s, NULL, depth + 2);
    buf_free(&from);
  } else {
    em_ind(e, depth + 2);
    buf_puts(e->out, "float *lrc_t = &");
    em_put_elem(e, s->tile);
    buf_puts(e->out, ";\n");
    em_ind(e, depth + 2);
    if (e->rec_async) {   /* (float records only: ahead_tiles) */
      buf_printf(e->out, "lrc_cp%d(lrc_t, lrc_rec + %s);\n", vec ? 16 : 4, at);
    } else if (!vec) {
      if (load) buf_printf(e->out, "*lrc_t = %s(lrc_rec[%s]);\n", io_to_f[io], at);
      else buf_printf(e->out, "lrc_rec[%s] = %s(*lrc_t);\n", at, io_from_f[io]);
    } else if (load) {
      buf_printf(e->out, "const uint4 lrc_x = *(const uint4 *)(lrc_rec + %s);\n", at);
      put_unpack(e, io, depth + 2);
    } else {
      put_pack(e, io, depth + 2);
      em_ind(e, depth + 2);
      bool perm = e->rec_perm && e->rec_perm[s->tile];
      buf_printf(e->out, "*(uint4 *)(lrc_rec + %s) = %s;\n", at, perm ? "lrc_perm8(lrc_x)" : "lrc_x");
    }
  }
  buf_free(&off);
  close_threads(e, depth + 1);
  em_ind(e, depth);
  buf_puts(e->out, "}\n");
  if (e->tile_ahead && !e->rec_async && s == last_rec_load(e)) put_ahead(e, true, depth);
}

/* Tile t's name declared (with `qual`) as its buffer of the parity. */
static void put_ahead_buffer(Emit *e, int t, const char *qual, const char *parity, int depth) {
  em_ind(e, depth);
  buf_printf(e->out, "%s *%s ", e->tile_half && e->tile_half[t] ? "__nv_bfloat16" : "float", qual);
  em_put_tile_name(e, t);
  buf_printf(e->out, " = %s ? ", parity);
  em_put_tile_name(e, t);
  buf_puts(e->out, "_1 : ");
  em_put_tile_name(e, t);
  buf_puts(e->out, "_0;\n");
}

/* The loads a chunk ahead (ahead_tiles). At the first load of a record
 * in the rest's chunk loop, on the first trip: the first chunk's records
 * into the tiles' first buffers. After the last (the loads that stay
 * synchronous go first, not queued behind these), on every trip but the
 * last: the next chunk's into the buffers the next trip reads (the
 * other ones, which this trip does not read: the barrier before the
 * loads ends the last trip's reads of them); then the wait for this
 * chunk's, before the barrier that the loads' readers wait at anyway.
 * Each tile's name then stands for the buffer of this trip's parity. */
static void put_ahead_issue(Emit *e, int next, const char *parity, int depth) {
  Buf *o = e->out;
  const KBlock *b = &e->grid_loop->body;
  for (int i = 0; i < b->len; i++) {
    const KStmt *s = b->data[i];
    if (s->kind != KS_LOAD || s->buf != PHASE_BUF || !e->tile_ahead[s->tile]) continue;
    em_ind(e, depth);
    buf_puts(o, "{\n");
    put_ahead_buffer(e, s->tile, "const", parity, depth + 1);
    e->rec_async = next;
    emit_phase_transfer(e, s, depth + 1);
    e->rec_async = 0;
    em_ind(e, depth);
    buf_puts(o, "}\n");
  }
  em_ind(e, depth);
  buf_puts(o, "asm volatile(\"cp.async.commit_group;\" ::: \"memory\");\n");
}

static void put_ahead(Emit *e, bool next, int depth) {
  const Kernel *k = e->k;
  Buf *o = e->out;
  const char *c = k->vars.data[e->grid_loop->var];
  if (!next) {
    em_ind(e, depth);
    buf_printf(o, "if (v_%s == 0) {\n", c);
    put_ahead_issue(e, 1, "0", depth + 1);
    em_ind(e, depth);
    buf_printf(o, "}\n");
    return;
  }
  em_ind(e, depth);
  buf_printf(o, "if (v_%s + 1 < ", c);
  em_put_idx(e, e->grid_loop->hi);
  buf_puts(o, ") {\n");
  Buf par = {0};
  buf_printf(&par, "((v_%s + 1) & 1)", c);
  put_ahead_issue(e, 2, par.s, depth + 1);
  em_ind(e, depth + 1);
  buf_puts(o, "asm volatile(\"cp.async.wait_group 1;\" ::: \"memory\");\n");
  em_ind(e, depth);
  buf_puts(o, "} else {\n");
  em_ind(e, depth + 1);
  buf_puts(o, "asm volatile(\"cp.async.wait_group 0;\" ::: \"memory\");\n");
  em_ind(e, depth);
  buf_puts(o, "}\n");
  buf_free(&par);
  Buf cur = {0};
  buf_printf(&cur, "v_%s & 1", c);
  for (int t = 0; t < k->tiles.len; t++)
    if (e->tile_ahead[t]) put_ahead_buffer(e, t, "__restrict__", cur.s, depth);
  buf_free(&cur);
}

/* A line at the depth's indent (the caller's newline). */
static void put_line(Emit *e, int depth, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void put_line(Emit *e, int depth, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  em_ind(e, depth);
  buf_vprintf(e->out, fmt, ap);
  va_end(ap);
}

/* A running sum along a tile's only dim (a chunk's scalar log decays)
 * by the first warp: each lane sums m = ceil(n / 32) neighbouring rows
 * (from the last row back, where reverse), a warp scan of the lanes'
 * sums by shuffles (five steps), and each lane's rows from its offset;
 * 5 + 2m dependent steps where one thread took n. Between __syncwarp()s,
 * so that the warp stands for thread 0 (solo_stmt: the statements on
 * scalars around it run on thread 0 with no barrier between). In float,
 * summed in another order than the serial loop (within rounding of it).
 * LRC_CUDA_WARP_CUMSUM=off: thread 0 alone, row after row. */
static void emit_warp_cumsum(Emit *e, const KStmt *s, int depth) {
  const Kernel *k = e->k;
  Buf *o = e->out;
  const char *c = k->dims.data[s->dim].name;
  long n = k->dims.data[s->dim].size, m = (n + 31) / 32;
  const char *at = s->reverse ? arena_printf(k->arena, "%ld - 1 - (lrc_l * %ld + lrc_j)", n, m)
                               : arena_printf(k->arena, "lrc_l * %ld + lrc_j", m);
  put_line(e, depth, "if (%s < 32) {\n", tid(TID));
  put_line(e, depth + 1, "const int lrc_l = %s;\n", tid(TID));
  put_line(e, depth + 1, "float lrc_v[%ld], lrc_s = 0.0f;\n", m);
  put_line(e, depth + 1, "__syncwarp();\n");
  /* the lane's rows, and their sum */
  put_line(e, depth + 1, "#pragma unroll\n");
  put_line(e, depth + 1, "for (int lrc_j = 0; lrc_j < %ld; lrc_j++) {\n", m);
  put_line(e, depth + 2, "const int i_%s = %s;\n", c, at);
  put_line(e, depth + 2, "lrc_v[lrc_j] = lrc_l * %ld + lrc_j < %ld ? ", m, n);
  em_put_elem(e, s->tile);
  buf_puts(o, " : 0.0f;\n");
  put_line(e, depth + 2, "lrc_s += lrc_v[lrc_j];\n");
  put_line(e, depth + 1, "}\n");
  /* the sums of the lanes before: an inclusive scan, less the lane's own */
  put_line(e, depth + 1, "float lrc_x = lrc_s;\n");
  put_line(e, depth + 1, "#pragma unroll\n");
  put_line(e, depth + 1, "for (int lrc_o = 1; lrc_o < 32; lrc_o *= 2) {\n");
  put_line(e, depth + 2, "const float lrc_y = __shfl_up_sync(0xffffffffu, lrc_x, lrc_o);\n");
  put_line(e, depth + 2, "if (lrc_l >= lrc_o) lrc_x += lrc_y;\n");
  put_line(e, depth + 1, "}\n");
  put_line(e, depth + 1, "float lrc_acc = lrc_x - lrc_s;\n");
  /* the lane's rows from there */
  put_line(e, depth + 1, "#pragma unroll\n");
  put_line(e, depth + 1, "for (int lrc_j = 0; lrc_j < %ld; lrc_j++) {\n", m);
  put_line(e, depth + 2, "const int i_%s = %s;\n", c, at);
  put_line(e, depth + 2, "if (lrc_l * %ld + lrc_j < %ld) {\n", m, n);
  if (!s->exclusive) put_line(e, depth + 3, "lrc_acc += lrc_v[lrc_j];\n");
  em_ind(e, depth + 3);
  em_put_elem(e, s->tile);
  buf_puts(o, " = lrc_acc;\n");
  if (s->exclusive) put_line(e, depth + 3, "lrc_acc += lrc_v[lrc_j];\n");
  put_line(e, depth + 2, "}\n");
  put_line(e, depth + 1, "}\n");
  put_line(e, depth + 1, "__syncwarp();\n");
  if (s->tile2 >= 0) {
    /* The whole sum: the value of the last row present, bit for bit
     * (the lanes' sums are added in another order than a row's: the
     * last lane's total may differ from it by rounding, and the chunk
     * form needs exp(GL - G) to be 1 there), read after the warp's
     * writes by thread 0, whose statement this stands for. */
    put_line(e, depth + 1, "if (lrc_l == 0) {\n");
    put_line(e, depth + 2, "const int i_%s = (int)(", c);
    if (s->rows >= 0) em_put_idx(e, s->rows);
    else buf_printf(o, "%ld", n);
    buf_puts(o, ") - 1;\n");
    em_ind(e, depth + 2);
    em_put_elem(e, s->tile2);
    buf_printf(o, " = i_%s >= 0 ? ", c);
    em_put_elem(e, s->tile);
    buf_puts(o, " : 0.0f;\n");
    put_line(e, depth + 1, "}\n");
  }
  put_line(e, depth, "}\n");
}

/* Running sum along a dim: threads over the other dims. */
static void emit_cumsum(Emit *e, const KStmt *s, int depth) {
  const Kernel *k = e->k;
  DimSet td = k->tiles.data[s->tile].dims;
  const char *c = k->dims.data[s->dim].name;
  if (td == (1u << s->dim) && !env_is("LRC_CUDA_WARP_CUMSUM", "off") &&
      !(s->tile2 >= 0 && (s->reverse || s->exclusive))) {   /* (a total: forward, inclusive) */
    emit_warp_cumsum(e, s, depth);
    return;
  }
  open_threads(e, td & ~(1u << s->dim), 1, depth);
  em_ind(e, depth + 1);
  buf_puts(e->out, "float lrc_acc = 0.0f;\n");
  em_ind(e, depth + 1);
  if (s->reverse)
    buf_printf(e->out, "for (int i_%s = %ld; i_%s >= 0; i_%s--) {\n", c,
               k->dims.data[s->dim].size - 1, c, c);
  else
    buf_printf(e->out, "for (int i_%s = 0; i_%s < %ld; i_%s++) {\n", c, c,
               k->dims.data[s->dim].size, c);
  em_ind(e, depth + 2);
  if (s->exclusive) {
    buf_puts(e->out, "const float lrc_x = ");
    em_put_elem(e, s->tile);
    buf_puts(e->out, ";\n");
    em_ind(e, depth + 2);
    em_put_elem(e, s->tile);
    buf_puts(e->out, " = lrc_acc;\n");
    em_ind(e, depth + 2);
    buf_puts(e->out, "lrc_acc += lrc_x;\n");
  } else {
    buf_puts(e->out, "lrc_acc += ");
    em_put_elem(e, s->tile);
    buf_puts(e->out, ";\n");
    em_ind(e, depth + 2);
    em_put_elem(e, s->tile);
    buf_puts(e->out, " = lrc_acc;\n");
  }
  em_ind(e, depth + 1);
  buf_puts(e->out, "}\n");
  if (s->tile2 >= 0) {   /* the whole sum */
    em_ind(e, depth + 1);
    em_put_elem(e, s->tile2);
    buf_puts(e->out, " = lrc_acc;\n");
  }
  close_threads(e, depth);
}

/* Is the solve's row loop unrolled, and does it keep each thread's
 * column in registers (emit_trisolve)? */
static bool solve_unrolled(const Emit *e, const KStmt *s) {
  return e->k->dims.data[s->dim].size <= 32 && !env_is("LRC_CUDA_SOLVE", "off");
}
static bool solve_in_regs(const Emit *e, const KStmt *s) {
  return solve_unrolled(e, s) && !env_is("LRC_CUDA_SOLVE", "one");
}

/* Does the solve take the blocked form (emit_trisolve_blocked)? */
static bool solve_blocked(const Emit *e, const KStmt *s) {
  long n = e->k->dims.data[s->dim].size;
  return solve_in_regs(e, s) && env_is("LRC_CUDA_SOLVE", "blocked") && n % 2 == 0 && n >= 16;
}

/* Rows [r0, r0 + h) of the solve for each thread's column, N's block of
 * those rows and columns alone (the rows below r0 already applied): the
 * column in registers, each row's sum in four chains (emit_trisolve);
 * rows from `from` on stored back (rounded: rnd), and with `all` the
 * rows above r0 rounded in place too. */
static void put_solve_rows(Emit *e, const KStmt *s, long r0, long h, long from, bool rnd, bool all,
                           int depth) {
  const Kernel *k = e->k;
  DimSet xd = k->tiles.data[s->tile].dims;
  const char *ri = k->dims.data[s->dim].name, *ci = k->dims.data[s->dim2].name;
  open_threads(e, xd & ~(1u << s->dim), 1, depth);
  em_ind(e, depth + 1);
  buf_printf(e->out, "float lrc_x[%ld];\n", h);
  em_ind(e, depth + 1);
  buf_printf(e->out, "_Pragma(\"unroll\") for (int lrc_i = 0; lrc_i < %ld; lrc_i++) {\n", h);
  em_ind(e, depth + 2);
  buf_printf(e->out, "const int i_%s = %ld + lrc_i;\n", ri, r0);
  em_ind(e, depth + 2);
  buf_puts(e->out, "lrc_x[lrc_i] = ");
  em_put_elem(e, s->tile);
  buf_puts(e->out, ";\n");
  em_ind(e, depth + 1);
  buf_puts(e->out, "}\n");
  em_ind(e, depth + 1);
  buf_printf(e->out, "_Pragma(\"unroll\") for (int lrc_i = 1; lrc_i < %ld; lrc_i++) {\n", h);
  em_ind(e, depth + 2);
  buf_printf(e->out, "const int i_%s = %ld + lrc_i;\n", ri, r0);
  em_ind(e, depth + 2);
  buf_puts(e->out, "float lrc_a[4] = {lrc_x[lrc_i], 0.0f, 0.0f, 0.0f};\n");
  em_ind(e, depth + 2);
  buf_printf(e->out, "_Pragma(\"unroll\") for (int lrc_j = 0; lrc_j < lrc_i; lrc_j++) {\n");
  em_ind(e, depth + 3);
  buf_printf(e->out, "const int i_%s = %ld + lrc_j;\n", ci, r0);
  em_ind(e, depth + 3);
  buf_puts(e->out, "lrc_a[lrc_j & 3] -= ");
  em_put_elem(e, s->tile2);
  buf_puts(e->out, " * lrc_x[lrc_j];\n");
  em_ind(e, depth + 2);
  buf_puts(e->out, "}\n");
  em_ind(e, depth + 2);
  buf_puts(e->out, "lrc_x[lrc_i] = (lrc_a[0] + lrc_a[1]) + (lrc_a[2] + lrc_a[3]);\n");
  em_ind(e, depth + 1);
  buf_puts(e->out, "}\n");
  if (all && rnd) {
    em_ind(e, depth + 1);
    buf_printf(e->out, "_Pragma(\"unroll\") for (int i_%s = 0; i_%s < %ld; i_%s++) ", ri, ri, r0, ri);
    em_put_elem(e, s->tile);
    buf_puts(e->out, " = lrc_tf32r(");
    em_put_elem(e, s->tile);
    buf_puts(e->out, ");\n");
  }
  em_ind(e, depth + 1);
  buf_printf(e->out, "_Pragma(\"unroll\") for (int lrc_i = %ld; lrc_i < %ld; lrc_i++) {\n", from, h);
  em_ind(e, depth + 2);
  buf_printf(e->out, "const int i_%s = %ld + lrc_i;\n", ri, r0);
  em_ind(e, depth + 2);
  em_put_elem(e, s->tile);
  buf_puts(e->out, rnd ? " = lrc_tf32r(lrc_x[lrc_i]);\n" : " = lrc_x[lrc_i];\n");
  em_ind(e, depth + 1);
  buf_puts(e->out, "}\n");
  close_threads(e, depth);
}

/* The solve in two halves of h = n / 2 rows, X = [X1; X2], N = [N11 0;
 * N21 N22]: X1 = (I + N11)^-1 X1 (a thread a column, h rows); X2 -= N21
 * X1 over every thread (h rows times the columns, h terms each); X2 =
 * (I + N22)^-1 X2 (a thread a column). One thread a column down all n
 * rows took a chain of n (n - 1) / 2 multiply-adds (496 at n = 32: Gated
 * DeltaNet's free part, one warp of four, the others waiting at the next
 * barrier: 15% of its stall samples, docs/perf-cuda.md v18); here two of
 * h (h - 1) / 2 (120 each) and h on all the warps, with two barriers.
 * The same sums in another order. LRC_CUDA_SOLVE=blocked (off by
 * default until measured). */
static void emit_trisolve_blocked(Emit *e, const KStmt *s, int depth) {
  const Kernel *k = e->k;
  DimSet xd = k->tiles.data[s->tile].dims;
  const char *ri = k->dims.data[s->dim].name, *ci = k->dims.data[s->dim2].name;
  long h = k->dims.data[s->dim].size / 2;
  bool rnd = e->tile_tf32 && e->tile_tf32[s->tile] == 2;
  put_solve_rows(e, s, 0, h, 1, false, false, depth);
  em_ind(e, depth);
  buf_puts(e->out, "__syncthreads();\n");
  open_threads(e, xd & ~(1u << s->dim), h, depth);
  em_ind(e, depth + 1);
  buf_printf(e->out, "const int i_%s = %ld + lrc_r;\n", ri, h);
  em_ind(e, depth + 1);
  buf_puts(e->out, "float lrc_a[4] = {");
  em_put_elem(e, s->tile);
  buf_puts(e->out, ", 0.0f, 0.0f, 0.0f};\n");
  em_ind(e, depth + 1);
  buf_printf(e->out, "_Pragma(\"unroll\") for (int i_%s = 0; i_%s < %ld; i_%s++) lrc_a[i_%s & 3] -= ",
             ci, ci, h, ci, ci);
  em_put_elem(e, s->tile2);
  buf_puts(e->out, " * ");
  em_put_elem_as(e, s->tile, s->dim, s->dim2);
  buf_puts(e->out, ";\n");
  em_ind(e, depth + 1);
  em_put_elem(e, s->tile);
  buf_puts(e->out, " = (lrc_a[0] + lrc_a[1]) + (lrc_a[2] + lrc_a[3]);\n");
  close_threads(e, depth);
  em_ind(e, depth);
  buf_puts(e->out, "__syncthreads();\n");
  put_solve_rows(e, s, h, h, 0, rnd, true, depth);
}

/* X = (I + N)^-1 X: threads over X's columns (its dims other than the
 * row dim), forward substitution down each column. Up to 32 rows (the
 * WY and UT solves of a chunk) the row loop is unrolled, so that each
 * row's sum has a constant length, its loop unrolled by 4: the loads of
 * N and X then issue ahead of the dependent chain of multiply-adds.
 * LRC_CUDA_SOLVE=off: the plain loops. */
static void emit_trisolve(Emit *e, const KStmt *s, int depth) {
  const Kernel *k = e->k;
  DimSet xd = k->tiles.data[s->tile].dims;
  const char *ri = k->dims.data[s->dim].name, *ci = k->dims.data[s->dim2].name;
  long n = k->dims.data[s->dim].size;
  bool unroll = solve_unrolled(e, s);
  if (solve_blocked(e, s)) {
    emit_trisolve_blocked(e, s, depth);
    return;
  }
  if (solve_in_regs(e, s)) {
    /* The thread's column in registers (indices constant once unrolled)
     * and each row's sum in four independent chains: the steps wait on
     * FMAs, not on shared memory, and four at a time (H200, bf16, K = V
     * = 128: Gated DeltaNet, DeltaNet, DeltaProduct 4-5% faster whole);
     * every row rounded where the products read X as TF32 (tf32_tiles).
     * LRC_CUDA_SOLVE=one: one chain through shared memory. */
    bool rnd = e->tile_tf32 && e->tile_tf32[s->tile] == 2;
    put_solve_rows(e, s, 0, n, !rnd, rnd, false, depth);
    return;
  }
  open_threads(e, xd & ~(1u << s->dim), 1, depth);
  em_ind(e, depth + 1);
  buf_printf(e->out, "%sfor (int i_%s = 1; i_%s < %ld; i_%s++) {\n",
             unroll ? "_Pragma(\"unroll\") " : "", ri, ri, n, ri);
  em_ind(e, depth + 2);
  buf_puts(e->out, "float lrc_acc = ");
  em_put_elem(e, s->tile);
  buf_puts(e->out, ";\n");
  em_ind(e, depth + 2);
  buf_printf(e->out, "%sfor (int i_%s = 0; i_%s < i_%s; i_%s++) {\n",
             unroll ? "_Pragma(\"unroll 4\") " : "", ci, ci, ri, ci);
  /* X[j] is X's element at row j: the row dim indexed by the column loop. */
  em_ind(e, depth + 3);
  buf_puts(e->out, "lrc_acc -= ");
  em_put_elem(e, s->tile2);
  buf_puts(e->out, " * ");
  em_put_elem_as(e, s->tile, s->dim, s->dim2);
  buf_puts(e->out, ";\n");
  em_ind(e, depth + 2);
  buf_puts(e->out, "}\n");
  em_ind(e, depth + 2);
  em_put_elem(e, s->tile);
  buf_puts(e->out, " = lrc_acc;\n");
  em_ind(e, depth + 1);
  buf_puts(e->out, "}\n");
  close_threads(e, depth);
}

/* S = A[r] S + X[r]; X[r] = S for the rows r < rows: threads over X's
 * other dims, each walking the rows in order with S in a register. */
static void emit_scan(Emit *e, const KStmt *s, int depth) {
  const Kernel *k = e->k;
  DimSet xd = k->tiles.data[s->tile].dims;
  const char *r = k->dims.data[s->dim].name;
  open_threads(e, xd & ~(1u << s->dim), 1, depth);
  em_ind(e, depth + 1);
  buf_puts(e->out, "float lrc_acc = ");
  em_put_elem(e, s->carry);
  buf_puts(e->out, ";\n");
  em_ind(e, depth + 1);
  buf_puts(e->out, "const int64_t lrc_nrows = ");
  em_put_idx(e, s->rows);
  buf_puts(e->out, ";\n");
  em_ind(e, depth + 1);
  buf_printf(e->out, "for (int64_t i_%s = 0; i_%s < lrc_nrows; i_%s++) {\n", r, r, r);
  if (s->prior >= 0) {
    em_ind(e, depth + 2);
    em_put_elem(e, s->prior);
    buf_puts(e->out, " = lrc_acc;\n");
  }
  em_ind(e, depth + 2);
  buf_puts(e->out, "lrc_acc = ");
  if (s->tile2 >= 0) {
    em_put_elem(e, s->tile2);
    buf_puts(e->out, " * ");
  }
  buf_puts(e->out, "lrc_acc + ");
  em_put_elem(e, s->tile);
  buf_puts(e->out, ";\n");
  em_ind(e, depth + 2);
  em_put_elem(e, s->tile);
  buf_puts(e->out, " = lrc_acc;\n");
  em_ind(e, depth + 1);
  buf_puts(e->out, "}\n");
  em_ind(e, depth + 1);
  em_put_elem(e, s->carry);
  buf_puts(e->out, " = lrc_acc;\n");
  close_threads(e, depth);
}

/* One thread's element of s->tile set from the same element of s->tile2. */
static void put_elem_copy(Emit *e, const KStmt *s, int depth) {
  em_ind(e, depth);
  em_put_elem(e, s->tile);
  buf_puts(e->out, " = ");
  em_put_elem(e, s->tile2);
  buf_puts(e->out, ";\n");
}

/* The first token of sequence `n` (a C expression): cu_seqlens[n], or
 * n * T for fixed length (in the arena). */
static const char *seq_start(Emit *e, const char *n) {
  const Kernel *k = e->k;
  for (int b = 0; b < k->bufs.len; b++)
    if (k->bufs.data[b].role == KB_SEQLENS) {
      const char *nm = buf_name(e, b);
      return arena_printf(k->arena, "(%s ? %s[%s] : %s * T)", nm, nm, n, n);
    }
  return arena_printf(k->arena, "(%s * T)", n);
}

/* The free part's block: its chunk v_c of the sequence found by
 * bisection, then "if (v_c < count" (present) or "if (v_c >= count",
 * for the caller to close. */
static void put_block_chunk(Emit *e, const KStmt *g, bool present, int depth) {
  const char *c = e->k->vars.data[g->var];
  em_ind(e, depth);
  buf_printf(e->out, "const int64_t v_%s = lrc_g - (%s / %d + lrc_lo);\n", c,
             seq_start(e, "lrc_lo"), e->k->phase_chunk);
  em_ind(e, depth);
  buf_printf(e->out, "if (v_%s %s ", c, present ? "<" : ">=");
  em_put_idx(e, g->hi);
}

/* Is s the free part's store of a chunk record, which touches none of
 * the caller's buffers (the records are the launcher's own scratch, and
 * the free part writes them, each place once, and never reads them):
 * no barrier between it and the part's loads of the inputs, as
 * schedule_free takes it. Measured on the H200 with v15's other steps
 * (docs/perf-cuda.md v15). LRC_CUDA_RECORD_SYNC=off: the records count
 * as the caller's buffers. */
static bool records_apart(const Emit *e) {
  return e->phase == PHASE_FREE && !env_is("LRC_CUDA_RECORD_SYNC", "off");
}

static bool record_store(const Emit *e, const KStmt *s) {
  return s->kind == KS_STORE && s->buf == PHASE_BUF && records_apart(e);
}

static void emit_stmt(Emit *e, const KStmt *s, int depth, bool outer) {
  const Kernel *k = e->k;
  if (s->kind != KS_FOR && s->kind != KS_LET && s->kind != KS_NEST && s->kind != KS_IF_NULL &&
      s->kind != KS_IF_LESS) {
    unsigned char *use = use_new(e);
    kir_use_stmt(k, s, use);
    if (record_store(e, s)) use[k->tiles.len] = 0;
    sync_at(e, use, solo_stmt(e, s) ? solo_map(e, use) : NULL, depth);
  }
  bool regs = s->kind == KS_FOR && e->reg_state && s == e->grid_loop;
  switch (s->kind) {
  case KS_FOR:
    flush(e, depth);
    if (regs) put_state_regs(e, true, depth), e->rs_live = true;
    em_ind(e, depth);
    if (s->parallel && outer && e->phase == PHASE_FREE) {
      /* The free part: a block per chunk record (grid x) and head (grid
       * y); the record's sequence found by bisection (sequence n's
       * records start at bos / C + n). */
      buf_puts(e->out, "{\n");
      em_ind(e, depth + 1);
      buf_puts(e->out, "const int64_t lrc_g = blockIdx.x;\n");
      em_ind(e, depth + 1);
      buf_puts(e->out, "int64_t lrc_lo = 0, lrc_hi = N;\n");
      em_ind(e, depth + 1);
      buf_printf(e->out,
                 "while (lrc_hi - lrc_lo > 1) {\n"
                 "%*s  const int64_t lrc_m = (lrc_lo + lrc_hi) / 2;\n"
                 "%*s  if (%s / %d + lrc_m <= lrc_g) lrc_lo = lrc_m; else lrc_hi = lrc_m;\n"
                 "%*s}\n",
                 2 * (depth + 1), "", 2 * (depth + 1), "", seq_start(e, "lrc_m"), k->phase_chunk,
                 2 * (depth + 1), "");
      em_ind(e, depth + 1);
      buf_printf(e->out, "const int64_t v_%s = lrc_lo * H + blockIdx.y;\n", k->vars.data[s->var]);
      em_ind(e, depth + 1);
      buf_puts(e->out, "const int lrc_split = 0;\n");
      em_ind(e, depth + 1);
      buf_puts(e->out, "(void)lrc_split;\n");
    } else if (e->phase == PHASE_FREE && s == e->grid_loop) {
      /* This block's chunk of the sequence, if it has that many. */
      buf_puts(e->out, "{\n");
      put_block_chunk(e, s, false, depth + 1);
      buf_puts(e->out, ") return;\n");
    } else if (s->parallel && outer) {
      /* The rows of the parallel loop are the grid's blocks. */
      buf_printf(e->out, "{\n");
      em_ind(e, depth + 1);
      buf_printf(e->out, "const int64_t v_%s = blockIdx.x / %d, lrc_split = blockIdx.x %% %d;\n",
                 k->vars.data[s->var], e->nsplit, e->nsplit);
      em_ind(e, depth + 1);
      buf_puts(e->out, "(void)lrc_split;\n");
    } else {
      buf_printf(e->out, "for (int64_t v_%s = ", k->vars.data[s->var]);
      em_put_idx(e, s->lo);
      buf_printf(e->out, "; v_%s < ", k->vars.data[s->var]);
      em_put_idx(e, s->hi);
      buf_printf(e->out, "; v_%s++) {\n", k->vars.data[s->var]);
      if (fresh_tid()) {
        em_ind(e, depth + 1);
        buf_puts(e->out, "const unsigned lrc_tid = lrc_tid_fresh();\n");
      }
    }
    emit_block(e, &s->body, depth + 1, false);
    if (!(s->parallel && outer) && !(e->phase == PHASE_FREE && s == e->grid_loop))
      flush(e, depth + 1);   /* the next trip */
    em_ind(e, depth);
    buf_puts(e->out, "}\n");
    if (regs) e->rs_live = false, put_state_regs(e, false, depth);
    break;
  case KS_LET:
    em_ind(e, depth);
    buf_printf(e->out, "const int64_t v_%s = ", k->vars.data[s->var]);
    em_put_idx(e, s->idx);
    buf_puts(e->out, ";\n");
    break;
  case KS_NEST:
    emit_nest(e, s, depth);
    break;
  case KS_FILL: {   /* (a padded tile's padding too) */
    long n = tile_extent(e, s->tile), w = flat_width(e, n);
    em_ind(e, depth);
    put_strided(e, "lrc_p", tid(TID), n / w, e->threads, "blockDim.x");
    if (w == 4) buf_puts(e->out, "*(float4 *)&");
    em_put_tile_name(e, s->tile);
    buf_puts(e->out, w == 4 ? "[lrc_p * 4] = make_float4(" : "[lrc_p] = ");
    for (int i = 0; i < w; i++) {
      if (i) buf_puts(e->out, ", ");
      em_put_float(e->out, s->num);
    }
    buf_puts(e->out, w == 4 ? ");\n" : ";\n");
    break;
  }
  case KS_COPY:
    if (row_pitch(e, s->tile) != row_pitch(e, s->tile2)) {   /* one padded, the other not */
      open_threads(e, k->tiles.data[s->tile].dims, 1, depth);
      put_elem_copy(e, s, depth + 1);
      close_threads(e, depth);
      break;
    }
    long n = tile_extent(e, s->tile), w = flat_width(e, n);
    em_ind(e, depth);
    put_strided(e, "lrc_p", tid(TID), n / w, e->threads, "blockDim.x");
    const char *at = w == 4 ? "[lrc_p * 4]" : "[lrc_p]";
    if (w == 4) buf_puts(e->out, "*(float4 *)&");
    em_put_tile_name(e, s->tile);
    buf_printf(e->out, "%s = %s", at, w == 4 ? "*(const float4 *)&" : "");
    em_put_tile_name(e, s->tile2);
    buf_printf(e->out, "%s;\n", at);
    break;
  case KS_LOAD:
  case KS_STORE:
    emit_transfer(e, s, depth);
    break;
  case KS_CUMSUM:
    emit_cumsum(e, s, depth);
    break;
  case KS_INTERLEAVE: {
    /* Threads over the smaller row dim and the other dims. */
    const DimTable *dt = &k->dims;
    long a = dt->data[s->dim].size, b = dt->data[s->dim2].size;
    bool scatter = a > b || s->nphase == 1;
    int small = scatter ? s->dim2 : s->dim, big = scatter ? s->dim : s->dim2;
    DimSet rest = k->tiles.data[s->tile].dims & ~(1u << s->dim);
    open_threads(e, rest | (1u << small), 1, depth);
    em_ind(e, depth + 1);
    buf_printf(e->out, "const int i_%s = i_%s * %d + %d;\n", dt->data[big].name,
               dt->data[small].name, s->nphase, s->phase);
    put_elem_copy(e, s, depth + 1);
    close_threads(e, depth);
    break;
  }
  case KS_TRISOLVE:
    emit_trisolve(e, s, depth);
    break;
  case KS_SCAN:
    emit_scan(e, s, depth);
    break;
  case KS_IF_NULL:
  case KS_IF_LESS:
    /* Uniform across the block: a kernel argument, or a shared scalar
     * written before the last barrier (and read by every thread before a
     * branch may write it). */
    flush(e, depth);
    em_ind(e, depth);
    em_put_if(e, s);
    for (int br = 0; br < 2; br++) {
      if (s->kind == KS_IF_LESS) e->pend[s->tile] |= 1, e->pend_map[s->tile] = 0;
      emit_block(e, br ? &s->orelse : &s->body, depth + 1, false);
      flush(e, depth + 1);
      em_ind(e, depth);
      if (!br) buf_puts(e->out, "} else {\n");
    }
    buf_puts(e->out, "}\n");
    break;
  }
}

/* Does expression x read tile t only at the point (no renamed read)? */
static bool reads_at_point(const Kernel *k, int x, int t) {
  const KExpr *ex = &k->exprs.data[x];
  if (ex->kind == KE_READ) return ex->tile != t || ex->dim_a < 0;
  if (ex->kind == KE_UNARY) return reads_at_point(k, ex->a, t);
  if (ex->kind == KE_BINARY) return reads_at_point(k, ex->a, t) && reads_at_point(k, ex->b, t);
  return true;
}

/* Is s a statement on tile t alone that a product into t can take in:
 * X = f(X) over X's points, f reading X at the point only, or (before the
 * product) a fill of X? */
static bool foldable(const Kernel *k, const KStmt *s, int t, bool before) {
  if (s->kind == KS_FILL) return before && s->tile == t;
  if (s->kind != KS_NEST || s->assigns.len != 1) return false;
  const KAssign *a = &s->assigns.data[0];
  return a->tile == t && a->acc == KACC_SET && s->space == k->tiles.data[t].dims &&
         reads_at_point(k, a->expr, t);
}

/* A tensor-core product at b[i] or b[i + 1] with the statement before it
 * (its accumulators' start) and the one after (applied by each thread to
 * the elements it stored) folded in where they are foldable: one barrier
 * and one pass over X instead of three. The statements it takes (pre,
 * product, post), or 0 where none starts at b[i].
 * LRC_CUDA_FOLD=off: each statement on its own. */
static int product_at(Emit *e, const KBlock *b, int i, MmaPart *pt) {
  const Kernel *k = e->k;
  if (env_is("LRC_CUDA_MMA", "wmma")) return 0;
  bool fold = !env_is("LRC_CUDA_FOLD", "off");
  for (int p = 0; p < 2 && i + p < b->len; p++) {
    const KStmt *s = b->data[i + p];
    if (s->kind != KS_NEST || s->assigns.len != 1) continue;
    const KAssign *a = &s->assigns.data[0];
    if (!(s->space & ~k->tiles.data[a->tile].dims) || !mma_form(e, s, a, &pt->m)) continue;
    const KStmt *pre = p ? b->data[i] : NULL, *post = NULL;
    if (pre && (!fold || !foldable(k, pre, a->tile, true))) continue;
    if (fold && i + p + 1 < b->len && foldable(k, b->data[i + p + 1], a->tile, false))
      post = b->data[i + p + 1];
    pt->a = a, pt->pre = pre, pt->post = post;
    return p + 1 + (post != NULL);
  }
  return 0;
}

/* Two products from b[i] on, before b[end], that share an operand (the
 * same tile read the same way, the same sizes) and do not touch what the
 * other writes: run as one (emit_mma_sync), the shared operand's
 * fragments loaded once and one barrier before both instead of one each
 * (Gated DeltaNet's rest: v0 = W S and r0 = q S; its free part: q K^T
 * and K K^T, T U and T W). The statements taken, or 0. The tiles'
 * lifetimes take the pair as one statement, so that neither product's
 * target shares memory with the other's operands. LRC_CUDA_PAIR=off. */
static int mma_pair(Emit *e, const KBlock *b, int i, int end, MmaPart *pt) {
  const Kernel *k = e->k;
  if (e->no_pair) return 0;
  KBlock head = {b->data, end, end};
  int n1 = product_at(e, &head, i, &pt[0]), n2 = n1 ? product_at(e, &head, i + n1, &pt[1]) : 0;
  if (!n2) return 0;
  const Mma *x = &pt[0].m, *y = &pt[1].m;
  const DimTable *dt = &k->dims;
  if (dt->data[x->ti].size != dt->data[y->ti].size || dt->data[x->tj].size != dt->data[y->tj].size ||
      dt->data[x->r].size != dt->data[y->r].size || mma_bf16(e, x) != mma_bf16(e, y))
    return 0;
  if (!same_a(x, y) && !same_b(x, y)) return 0;
  unsigned char *u1 = use_new(e), *u2 = use_new(e);
  for (int j = i; j < i + n1; j++) kir_use_stmt(k, b->data[j], u1);
  for (int j = i + n1; j < i + n1 + n2; j++) kir_use_stmt(k, b->data[j], u2);
  for (int t = 0; t <= k->tiles.len; t++)
    if (((u1[t] & 2) && u2[t]) || ((u2[t] & 2) && u1[t])) return 0;
  return n1 + n2;
}

/* A product at b[i] (before end) that adds into the target of product p
 * just before it (X = ...; X += A B), with nothing folded before it, on
 * the same dims and form, reading neither X nor what p writes, and
 * neither of them the state kept in registers: run on p's accumulators
 * in the same pass (emit_mma_sync's then), each warp the same block of X
 * in both, so that X is neither stored, read back nor waited for between
 * them (simple GLA's and GLA's readouts, r0 = (q S) e^G; r0 += A v0: 32 KB
 * a chunk and a barrier). The statements taken, or 0. Where the lifetimes
 * see two statements, the second's operands are alive during the first
 * already (written before it), and its target is the first's; not
 * where the second pairs with the product after it (mma_pair), as the
 * lifetimes and state_regs group them. LRC_CUDA_ACC_CHAIN=off (or
 * LRC_CUDA_FOLD=off). */
static int acc_chain(Emit *e, const KBlock *b, int i, int end, const MmaPart *p, MmaPart *q) {
  if (i >= end || env_is("LRC_CUDA_ACC_CHAIN", "off") || env_is("LRC_CUDA_FOLD", "off") ||
      state_update(e, p))
    return 0;
  MmaPart pair[2];
  if (mma_pair(e, b, i, end, pair)) return 0;   /* (the lifetimes take that pair) */
  KBlock head = {b->data, end, end};
  int n = product_at(e, &head, i, q);
  if (!n || n != 1 + (q->post != NULL) || q->pre || state_update(e, q)) return 0;
  const Mma *x = &p->m, *y = &q->m;
  int t = p->a->tile;
  /* (the same target: the same dims, row pitch and blocking) */
  if (q->a->tile != t || q->a->acc != KACC_ADD || mma_bf16(e, x) != mma_bf16(e, y) || y->ta == t ||
      y->tb == t)
    return 0;
  return n;
}

/* Is b the fused kernel's chunk loop, whose statements from phase_nfree on
 * are those of the phased form's rest (in_rest, mma_bf16)? */
static bool chain_body(const Emit *e, const KBlock *b) {
  return !e->phase && e->k->phase_loop && b == &e->k->phase_loop->body;
}

/* Where a pair from b[i] must end (emit_block and lifetimes alike, so that
 * the placement sees every pair the emission makes): the fused kernel's
 * chunk loop pairs within one side of phase_nfree (the rest's side on
 * bf16 products, in_rest, set here), other blocks anywhere. */
static int pair_end(Emit *e, const KBlock *b, int i) {
  if (!chain_body(e, b)) return b->len;
  e->in_rest = i >= e->k->phase_nfree;
  return e->in_rest ? b->len : e->k->phase_nfree;
}

/* The statements at b[i] as one pass on the tensor cores where they
 * are a pair of products (mma_pair) or a product with others folded in
 * (product_at): the statements taken, or 0 (a product alone too: the
 * nest's own path emits it). */
static int emit_folded(Emit *e, const KBlock *b, int i, int end, int depth) {
  const Kernel *k = e->k;
  MmaPart pt[2];
  int np = 2, n = mma_pair(e, b, i, end, pt), n2 = 0;
  if (!n) {
    np = 1, n = product_at(e, b, i, &pt[0]);
    n2 = n ? acc_chain(e, b, i + n, end, &pt[0], &pt[1]) : 0;
    if (!n || (!pt[0].pre && !pt[0].post && !n2)) return 0;
  }
  unsigned char *use = use_new(e);
  for (int j = i; j < i + n + n2; j++) kir_use_stmt(k, b->data[j], use);
  if (n2) sync_products(e, use, &pt[0], 1, &pt[1], depth);
  else sync_products(e, use, pt, np, NULL, depth);
  emit_mma_sync(e, pt, np, n2 ? &pt[1] : NULL, mma_bf16(e, &pt[0].m), depth);
  return n + n2;
}

/* Is tile t read or written anywhere in b outside the statements skip[0..n)? */
static bool used_beyond(Emit *e, const KBlock *b, const KStmt *const *skip, int n, int t) {
  const Kernel *k = e->k;
  unsigned char *use = use_new(e);
  for (int i = 0; i < b->len; i++) {
    const KStmt *s = b->data[i];
    bool skipped = false;
    for (int j = 0; j < n; j++) skipped |= s == skip[j];
    if (skipped) continue;
    memset(use, 0, (size_t)k->tiles.len + 1);
    kir_use_stmt(k, s, use);
    if (use[t] || used_beyond(e, &s->body, skip, n, t) || used_beyond(e, &s->orelse, skip, n, t))
      return true;
  }
  return false;
}

/* Is tile t read or written anywhere in b outside statement `inside`? */
static bool used_outside(Emit *e, const KBlock *b, const KStmt *inside, int t) {
  return used_beyond(e, b, &inside, 1, t);
}

static bool input_rows(const Kernel *k, const KStmt *s, int t);

/* A nest of one assignment over `space` (acc: KACC_SET or
 * KACC_ADD): its assignment, or NULL. */
static const KAssign *sole_assign(const Kernel *k, const KStmt *s, DimSet space, int acc) {
  if (s->kind != KS_NEST || s->assigns.len != 1 || s->space != space) return NULL;
  const KAssign *a = &s->assigns.data[0];
  return (int)a->acc == acc ? a : NULL;
}

/* A row fold (row_fold): the fill of its sum's target (an index in the
 * block), whether the statement after it stores u's record (from the
 * fold's registers) or one further on does (later), and the later nests
 * (sides, indices) whose values the fold computes from its registers and
 * stores to their records (each such nest's store follows it). */
typedef struct RowFold {
  int red, scale, un;   /* b's indices: the row's sum, the per-row nest (-1:
                           none: an element-wise fold), u's nest */
  int fill;             /* the sum's fill (red) */
  bool add;             /* u += h(t) from a fill of u, whose value is base */
  double base;
  bool store;           /* u's record stored after u's nest */
  int later;            /* b's index of u's record store further on (-1: none) */
  int nside, side[2];
} RowFold;

/* Is s the store of tile t's chunk record? */
static bool rec_of(const KStmt *s, int t) {
  return s->kind == KS_STORE && s->buf == PHASE_BUF && s->tile == t;
}

/* Is tile t's record stored 16 bytes at a time (emit_phase_transfer's
 * vector form, a matrix in the I/O type)? */
static bool vec_record(const Emit *e, int t) {
  const Kernel *k = e->k;
  DimSet td = k->tiles.data[t].dims;
  int din = kir_inner_dim(k, td);
  long vw = e->io ? 8 : 4;
  return __builtin_popcount(td) >= 2 && din >= 0 && k->dims.data[din].size % vw == 0 &&
         e->full[din] % vw == 0 && !(e->tile_half && e->tile_half[t]);
}

/* The fill of tile x in b before b[i] with nothing touching x between:
 * its index, or -1. */
static int fill_before(Emit *e, const KBlock *b, int i, int x) {
  const Kernel *k = e->k;
  unsigned char *use = use_new(e);
  for (int j = i - 1; j >= 0; j--) {
    const KStmt *s = b->data[j];
    if (s->kind == KS_FILL && s->tile == x) return j;
    memset(use, 0, (size_t)k->tiles.len + 1);
    kir_use_tree(k, s, use);
    if (use[x]) return -1;
  }
  return -1;
}

/* An input's rows loaded with the statements that normalise or scale
 * them folded in (l2norm: r = Σ_D t², s = rsqrt(r + ε), u = t s): each thread loads
 * 16 bytes of a row into registers and adds up its part of the row's
 * sum, the row's lanes combine theirs by shuffles, and each thread
 * writes its elements of u. The raw rows never reach shared memory: of
 * five passes over them (the load's store, the sum's, the scale's read
 * and store, its reader's) one is left, with two barriers fewer. The
 * statements from b[i]:
 *   load t = rows of an input      t [R, D], D the input slot's one dim
 *   nest [R, D] { r += f(t) }      r [R], filled with a constant earlier
 *                                  in b, read nowhere else
 *   nest [R] { s = g(r) }          s [R], read nowhere but below
 *   nest [R, D] { u = h(t, s) }    t read nowhere else
 * with f, g, h reading t, r, s at the point only, h not reading r, and no
 * tile they read sharing memory with u; or without the sum and the
 * per-row nest, u = h(t) or u += h(t) from u's fill, the fill taken in
 * where it comes just before (simple GLA's k valid and q K^-1/2, Gated
 * DeltaNet's v beta valid). Where a row's lanes (D / 8 with
 * 16-bit I/O, D / 4 with float) are a power of two up to a warp and the
 * loop gives each warp's lanes whole rows. Per element the same
 * operations, the sum's terms in another order. In the free part, u's
 * chunk record where its store follows, or comes further on with
 * nothing between writing u (q's, in the beam order), and later nests
 * over u's points that only read u at the point and row vectors and are
 * only stored to records (Gated DeltaNet's kd = k dec), nothing between
 * writing what they read, are stored from the fold's registers too (the
 * sides and a store further on hoisted: emit_block skips them): of the
 * kd nest and its store, a read of k (16 KB), kd's store and read and
 * two barriers. The statements the fold takes from b[i] (the load to
 * u's nest, and u's store where it follows), where they are, the sides
 * and the store further on through *rf; 0 where the statements are not
 * such.
 * Measured on the H200 (docs/perf-cuda.md v15: DeltaProduct's free part
 * 2.24 -> 2.13 ms). LRC_CUDA_ROW_FOLD=off: not taken. */
static int row_fold(Emit *e, const KBlock *b, int i, RowFold *rf) {
  const Kernel *k = e->k;
  if (env_is("LRC_CUDA_ROW_FOLD", "off") || i + 1 >= b->len) return 0;
  const KStmt *ld = b->data[i];
  if (ld->kind != KS_LOAD || ld->buf < 0 || !input_rows(k, ld, ld->tile)) return 0;
  int t = ld->tile, R = ld->rowdim, D = kir_buf_slot(k, ld->buf)->dims[0], nt = k->tiles.len;
  DimSet td = k->tiles.data[t].dims, rd = 1u << R;
  long vw = e->io ? 8 : 4, nd = k->dims.data[D].size, lanes = nd / vw;
  long pts = k->dims.data[R].size * lanes;
  if (kir_inner_dim(k, td) != D || nd % vw || e->full[D] % vw || lanes > 32 ||
      (lanes & (lanes - 1)) || pts % 32 || (e->nsplit > 1 && e->split_dim == D))
    return 0;
  *rf = (RowFold){.red = -1, .scale = -1, .fill = -1, .later = -1};
  const KAssign *ar = sole_assign(k, b->data[i + 1], td, KACC_ADD), *as = NULL, *au;
  int r = -1, sc = -1, u, j = i + 1;
  if (ar && k->tiles.data[ar->tile].dims == rd) {   /* the row's sum, its per-row nest */
    if (i + 3 >= b->len || !(as = sole_assign(k, b->data[i + 2], rd, KACC_SET))) return 0;
    r = ar->tile, sc = as->tile;
    rf->red = i + 1, rf->scale = i + 2, j = i + 3;
    if (k->tiles.data[sc].dims != rd || r == t || sc == t || r == sc) return 0;
  }
  /* u's nest, a fill of u just before it taken in (each point of u is
   * written). */
  int ufill = -1;
  if (j < b->len && b->data[j]->kind == KS_FILL) ufill = j++;
  if (j >= b->len) return 0;
  if (!(au = sole_assign(k, b->data[j], td, KACC_SET)) && !(au = sole_assign(k, b->data[j], td, KACC_ADD)))
    return 0;
  u = au->tile;
  rf->un = j, rf->add = au->acc == KACC_ADD;
  if (ufill >= 0 && b->data[ufill]->tile != u) return 0;
  if (rf->add) {
    int f = ufill >= 0 ? ufill : fill_before(e, b, i, u);
    if (f < 0) return 0;
    rf->base = b->data[f]->num;
  }
  if (k->tiles.data[u].dims != td || u == t || u == r || u == sc) return 0;
  if (!e->tile_smem[u] || !vec_tile(e, u, D) || (e->tile_half && e->tile_half[u])) return 0;
  /* What each expression may read: f t; g r; h t, s; at the point. */
  unsigned char *uf = use_new(e), *ug = use_new(e), *uh = use_new(e);
  if (ar && r >= 0) kir_use_expr(k, ar->expr, uf);
  if (as) kir_use_expr(k, as->expr, ug);
  kir_use_expr(k, au->expr, uh);
  if (r >= 0 && (uf[r] || uf[sc] || uf[u] || ug[t] || ug[sc] || ug[u] || uh[r] ||
                 !reads_at_point(k, ar->expr, t) || !reads_at_point(k, as->expr, r) ||
                 !reads_at_point(k, au->expr, sc)))
    return 0;
  if (uh[u] || !reads_at_point(k, au->expr, t)) return 0;
  for (int x = 0; x < nt; x++)
    if ((uf[x] || ug[x] || uh[x]) && x != t && x != r && x != sc && same_memory(e, x, u)) return 0;
  if (r >= 0) {   /* r's fill: earlier in b, nothing touching r between */
    rf->fill = fill_before(e, b, i, r);
    const KStmt *skip_r[] = {rf->fill >= 0 ? b->data[rf->fill] : NULL, b->data[i + 1], b->data[i + 2]};
    const KStmt *skip_s[] = {b->data[i + 2], b->data[j]};
    if (rf->fill < 0 || used_beyond(e, &k->body, skip_r, 3, r) ||
        used_beyond(e, &k->body, skip_s, 2, sc))
      return 0;
  }
  const KStmt *skip_t[] = {ld, r >= 0 ? b->data[i + 1] : ld, b->data[j]};
  if (used_beyond(e, &k->body, skip_t, 3, t)) return 0;
  rf->store = j + 1 < b->len && rec_of(b->data[j + 1], u) && vec_record(e, u);
  /* The sides: later nests over u's points that read u at the point and
   * row vectors, whose value is only stored to a record, nothing between
   * writing what they read; and u's record store where it comes further
   * on, nothing between writing u (the free part's beam order puts
   * Gated DeltaNet's q record apart from q's fold). */
  bool written[64] = {0};
  unsigned char *w = use_new(e);
  int room = (int)(sizeof e->hoisted / sizeof e->hoisted[0]) - e->nhoisted;
  bool find = !rf->store && vec_record(e, u);
  for (int q = j + 1 + rf->store; q < b->len && nt <= 64 && !written[u]; q++) {
    const KStmt *s = b->data[q];
    if (find && rec_of(s, u) && room > 2 * rf->nside) {
      rf->later = q, find = false;
      continue;
    }
    bool more = q + 1 < b->len && rf->nside < 2 && 2 * (rf->nside + 1) + (rf->later >= 0) <= room;
    if (!more && !find) break;
    const KAssign *av = more ? sole_assign(k, s, td, KACC_SET) : NULL;
    int v = av ? av->tile : -1;
    bool side = av && k->tiles.data[v].dims == td && rec_of(b->data[q + 1], v) && vec_record(e, v) &&
                reads_at_point(k, av->expr, u);
    if (side) {
      memset(w, 0, (size_t)nt + 1);
      kir_use_expr(k, av->expr, w);
      for (int x = 0; x < nt && side; x++)
        side = !w[x] || x == u || ((k->tiles.data[x].dims & ~rd) == 0 && !written[x] && x != r &&
                                   x != sc && x != t);
      const KStmt *pair[] = {s, b->data[q + 1]};
      side = side && !used_beyond(e, &k->body, pair, 2, v);
    }
    if (side) {
      rf->side[rf->nside++] = q++;
      continue;
    }
    memset(w, 0, (size_t)nt + 1);
    kir_use_tree(k, s, w);
    for (int x = 0; x < nt; x++) written[x] |= (w[x] & 2) != 0;
  }
  return j - i + 1 + rf->store;
}

/* The values lrc_o (n floats of the I/O type's record, at the point
 * i_DIM of tile t's dims, the first of n along its inner dim) stored to
 * tile t's chunk record by the store s, 16 bytes (emit_phase_transfer's
 * layout and order). */
static void put_rec_regs(Emit *e, const KStmt *s, const char *vals, int depth) {
  const Kernel *k = e->k;
  Buf *o = e->out;
  int io = e->io;
  em_ind(e, depth);
  buf_puts(o, "{\n");
  put_rec_ptr(e, s, io, depth + 1);
  em_ind(e, depth + 1);
  if (io)
    buf_printf(o,
               "uint4 lrc_x;\n%*s"
               "_Pragma(\"unroll\") for (int lrc_j = 0; lrc_j < 4; lrc_j++) ((%s *)&lrc_x)[lrc_j] = "
               "%s(%s[2 * lrc_j], %s[2 * lrc_j + 1]);\n",
               2 * (depth + 1), "", io_pair[io], io_from_f2[io], vals, vals);
  else
    buf_printf(o,
               "const uint4 lrc_x = make_uint4(__float_as_uint(%s[0]), __float_as_uint(%s[1]), "
               "__float_as_uint(%s[2]), __float_as_uint(%s[3]));\n",
               vals, vals, vals, vals);
  Buf off = {0};
  rec_offset(e, k->tiles.data[s->tile].dims, &off);
  em_ind(e, depth + 1);
  bool perm = e->rec_perm && e->rec_perm[s->tile];
  buf_printf(o, "*(uint4 *)(lrc_rec + %s) = %s;\n", off.s, perm ? "lrc_perm8(lrc_x)" : "lrc_x");
  buf_free(&off);
  em_ind(e, depth);
  buf_puts(o, "}\n");
}

/* The fold's point: a trip's first element (lrc_p) of the row (i_R) and
 * its place along it (i_D), the element's offset in the input (lrc_e). */
static void fold_point(Emit *e, int D, int R, long vw, int depth) {
  const Kernel *k = e->k;
  long nd = k->dims.data[D].size;
  em_ind(e, depth);
  buf_printf(e->out, "const int lrc_p = lrc_v * %ld;\n", vw);
  em_ind(e, depth);
  buf_printf(e->out, "const int i_%s = lrc_p %% %ld, i_%s = lrc_p / %ld;\n", k->dims.data[D].name, nd,
             k->dims.data[R].name, nd);
  Buf off = {0};
  put_offset(e, &D, 1, &off);
  em_ind(e, depth);
  buf_printf(e->out, "const int64_t lrc_e = %s;\n", off.s);
  buf_free(&off);
}

/* The trips of a row fold's loop over the load ld's points (16 bytes
 * each), where the fold loads them all before it uses any (put_fold_load:
 * the loop's trips unrolled whole, so the loads of all are in flight at
 * once; the records' stores in its trips kept the compiler from hoisting
 * a trip's load above the previous trip's stores: each trip waited on
 * its load from DRAM, 27% of the free part's stall samples), else 0.
 * Measured on the H200 (bf16, K = V = 128, docs/perf-cuda.md v16): Gated
 * DeltaNet's free part 0.668 -> 0.567 ms, and 0.541 with the loads at
 * the chunk's top (put_fold_loads). LRC_CUDA_FOLD_AHEAD=off: 0. */
static long fold_trips(Emit *e, const KStmt *ld) {
  const Kernel *k = e->k;
  long vw = e->io ? 8 : 4, nd = k->dims.data[kir_buf_slot(k, ld->buf)->dims[0]].size;
  long trips = (k->dims.data[ld->rowdim].size * (nd / vw) + e->threads - 1) / e->threads;
  if (trips > 4 || env_is("LRC_CUDA_UNROLL", "off") || env_is("LRC_CUDA_FOLD_AHEAD", "off")) return 0;
  return trips;
}

/* The 16 bytes of a row fold's point (fold_point) of load ld into dst,
 * where the row is the input's (lrc_base, the rows' bounds in scope;
 * the line indented already). */
static void put_row_load(Emit *e, const KStmt *ld, const char *dst) {
  const char *rn = e->k->dims.data[ld->rowdim].name;
  buf_printf(e->out, "if (i_%s < lrc_nrows) %s = *(const uint4 *)(%s + lrc_base + i_%s * lrc_rstride + lrc_e);\n",
             rn, dst, buf_name(e, ld->buf), rn);
}

/* The loads of a row fold's points (load ld) into the array xs (uint4
 * [fold_trips]), 16 bytes a trip, where the rows are aligned (lrc_al;
 * lrc_base and the rows' bounds in scope), rows past the input's left 0. */
static void put_fold_load(Emit *e, const KStmt *ld, const char *xs, int depth) {
  const Kernel *k = e->k;
  Buf *o = e->out;
  int D = kir_buf_slot(k, ld->buf)->dims[0], R = ld->rowdim;
  long vw = e->io ? 8 : 4, npts = k->dims.data[R].size * (k->dims.data[D].size / vw);
  em_ind(e, depth);
  buf_puts(o, "if (lrc_al) ");
  put_strided(e, "lrc_v", tid(TID), npts, e->threads, "blockDim.x");
  buf_puts(o, "{\n");
  fold_point(e, D, R, vw, depth + 1);
  em_ind(e, depth + 1);
  put_row_load(e, ld, arena_printf(k->arena, "%s[lrc_v_t]", xs));
  em_ind(e, depth);
  buf_puts(o, "}\n");
}

/* The base, the rows' bounds and the alignment test (lrc_al) of a row
 * fold's load ld, in the scope being opened. */
static void put_fold_rows(Emit *e, const KStmt *ld, int depth) {
  long vw = e->io ? 8 : 4;
  em_ind(e, depth);
  buf_puts(e->out, "const int64_t lrc_base = ");
  em_put_idx(e, ld->idx);
  buf_puts(e->out, ";\n");
  put_rows(e, ld, 1, depth);
  em_ind(e, depth);
  buf_printf(e->out, "const bool lrc_al = ((uintptr_t)(%s + lrc_base) & 15) == 0 && lrc_rstride %% %ld == 0;\n",
             buf_name(e, ld->buf), vw);
}

/* The free part's row folds' loads issued at the chunk's top, before its
 * first statement: each fold's rows in an array of its own (lrc_xsT, T
 * the load's tile; e->fold_xs), so that the loads of q, k and v are in
 * flight together. The free part writes none of the caller's buffers,
 * so no barrier orders them. LRC_CUDA_FOLD_AHEAD=fold: each fold's
 * loads at the fold. */
static void put_fold_loads(Emit *e, const KBlock *b, int depth) {
  const Kernel *k = e->k;
  e->fold_xs = arena_alloc(k->arena, sizeof *e->fold_xs * (size_t)k->tiles.len);
  e->fold_ld = arena_alloc(k->arena, sizeof *e->fold_ld * (size_t)k->tiles.len);
  for (int i = 0; i < b->len; i++) {
    RowFold rf;
    long trips;
    const KStmt *ld = b->data[i];
    if (!row_fold(e, b, i, &rf) || !(trips = fold_trips(e, ld)) || e->fold_xs[ld->tile]) continue;
    const char *xs = arena_printf(k->arena, "lrc_xs%d", ld->tile);
    e->fold_xs[ld->tile] = xs, e->fold_ld[ld->tile] = ld;
    em_ind(e, depth);
    buf_printf(e->out, "uint4 %s[%ld] = {};\n", xs, trips);
    em_ind(e, depth);
    buf_puts(e->out, "{\n");
    put_fold_rows(e, ld, depth + 1);
    put_fold_load(e, ld, xs, depth + 1);
    em_ind(e, depth);
    buf_puts(e->out, "}\n");
  }
}

/* A row fold's point (fold_point) of load ld as floats lrc_u: from the
 * registers of its loads ahead (xs[lrc_v_t]) or by a 16-byte load where
 * the rows are aligned, element by element where not; reads of the raw
 * tile at the point then of lrc_u (e->vec_reg, reset by the caller),
 * and lrc_d the point's first index along the row. */
static void put_fold_u(Emit *e, const KStmt *ld, const char *xs, int depth) {
  const Kernel *k = e->k;
  Buf *o = e->out;
  int D = kir_buf_slot(k, ld->buf)->dims[0], R = ld->rowdim, io = e->io;
  long vw = io ? 8 : 4;
  const char *rn = k->dims.data[R].name;
  fold_point(e, D, R, vw, depth);
  em_ind(e, depth);
  buf_printf(o, "float lrc_u[%ld];\n", vw);
  em_ind(e, depth);
  buf_puts(o, "if (lrc_al) {\n");
  em_ind(e, depth + 1);
  if (xs) {
    buf_printf(o, "const uint4 lrc_x = %s[lrc_v_t];\n", xs);
  } else {
    buf_printf(o, "uint4 lrc_x = make_uint4(0, 0, 0, 0);\n");
    em_ind(e, depth + 1);
    put_row_load(e, ld, "lrc_x");
  }
  em_ind(e, depth + 1);
  put_unpack_into(e, io, "lrc_u", depth + 1);
  em_ind(e, depth);
  buf_puts(o, "} else {\n");
  em_ind(e, depth + 1);
  buf_printf(o,
             "_Pragma(\"unroll\") for (int lrc_j = 0; lrc_j < %ld; lrc_j++) lrc_u[lrc_j] = i_%s < lrc_nrows ? "
             "%s(%s[lrc_base + i_%s * lrc_rstride + lrc_e + lrc_j]) : 0.0f;\n",
             vw, rn, io_to_f[io], buf_name(e, ld->buf), rn);
  em_ind(e, depth);
  buf_puts(o, "}\n");
  e->vec_reg = arena_alloc(k->arena, sizeof *e->vec_reg * (size_t)k->tiles.len);
  e->vec_reg[ld->tile] = "lrc_u";
  em_ind(e, depth);
  buf_printf(o, "const int lrc_d = i_%s;\n", k->dims.data[D].name);
}

/* This thread's part of its row's sum (assignment ar, its points along
 * dim dn from lrc_d, the raw rows read from lrc_u: put_fold_u) into
 * lrc_acc. */
static void put_fold_sum(Emit *e, const char *dn, const KAssign *ar, int depth) {
  Buf *o = e->out;
  long vw = e->io ? 8 : 4;
  em_ind(e, depth);
  buf_puts(o, "float lrc_acc = 0.0f;\n");
  put_point_loop(e, dn, vw, depth);
  em_ind(e, depth + 1);
  buf_puts(o, "lrc_acc += ");
  em_put_expr(e, ar->expr);
  buf_puts(o, ";\n");
  em_ind(e, depth);
  buf_puts(o, "}\n");
}

/* Side q of row fold rf in b and its record's store, hoisted into the
 * fold (emit_block skips them); the side's nest. */
static const KStmt *hoist_side(Emit *e, const KBlock *b, const RowFold *rf, int q) {
  const KStmt *sd = b->data[rf->side[q]];
  e->hoisted[e->nhoisted++] = sd;
  e->hoisted[e->nhoisted++] = b->data[rf->side[q] + 1];
  return sd;
}

static void emit_row_fold(Emit *e, const KBlock *b, int i, const RowFold *rf, int depth) {
  const Kernel *k = e->k;
  Buf *o = e->out;
  const KStmt *ld = b->data[i];
  const KAssign *ar = rf->red >= 0 ? &b->data[rf->red]->assigns.data[0] : NULL;
  const KAssign *as = rf->red >= 0 ? &b->data[rf->scale]->assigns.data[0] : NULL;
  const KAssign *au = &b->data[rf->un]->assigns.data[0];
  int t = ld->tile, R = ld->rowdim, D = kir_buf_slot(k, ld->buf)->dims[0], nt = k->tiles.len;
  int io = e->io;
  long vw = io ? 8 : 4, nd = k->dims.data[D].size, lanes = nd / vw;
  const char *dn = k->dims.data[D].name;
  unsigned char *use = use_new(e);
  if (ar) kir_use_expr(k, ar->expr, use), kir_use_expr(k, as->expr, use);
  kir_use_expr(k, au->expr, use);
  for (int q = 0; q < rf->nside; q++)
    kir_use_expr(k, hoist_side(e, b, rf, q)->assigns.data[0].expr, use);
  use[t] = 0;
  if (ar) use[ar->tile] = use[as->tile] = 0;
  use[au->tile] = 2, use[nt] |= 1;
  if (rf->later >= 0) e->hoisted[e->nhoisted++] = b->data[rf->later];
  if ((rf->store || rf->later >= 0 || rf->nside) && !records_apart(e)) use[nt] |= 2;
  sync_before(e, use, depth);
  em_ind(e, depth);
  buf_puts(o, "{\n");
  put_fold_rows(e, ld, depth + 1);
  long npts = k->dims.data[R].size * lanes, trips = fold_trips(e, ld);
  const char *xs = e->fold_xs && e->fold_ld[t] == ld ? e->fold_xs[t] : NULL;
  if (!xs && trips > 1) {   /* every trip's 16 bytes in flight at once */
    xs = "lrc_xs";
    em_ind(e, depth + 1);
    buf_printf(o, "uint4 lrc_xs[%ld] = {};\n", trips);
    put_fold_load(e, ld, xs, depth + 1);
  }
  /* With LRC_CUDA_FOLD_SUMS=first, every trip's part of its row's sum
   * first, then the butterflies of all the trips together (their
   * shuffles in flight at once: one trip's waited on the last's, 4 x 4
   * dependent shuffles a fold at bf16 K = 128, the short-scoreboard
   * stalls of Gated DeltaNet's free part, docs/perf-cuda.md v18), then
   * the trips' scalings from the sums; the values loaded twice from the
   * registers of the loads ahead. The same sums. Off by default until
   * measured. */
  bool first = ar && xs && trips > 1 && env_is("LRC_CUDA_FOLD_SUMS", "first");
  int d2 = depth + 2;
  if (first) {
    em_ind(e, depth + 1);
    buf_printf(o, "float lrc_sums[%ld] = {};\n", trips);
    em_ind(e, depth + 1);
    put_strided(e, "lrc_v", tid(TID), npts, e->threads, "blockDim.x");
    buf_puts(o, "{\n");
    put_fold_u(e, ld, xs, d2);
    put_fold_sum(e, dn, ar, d2);
    em_ind(e, d2);
    buf_puts(o, "lrc_sums[lrc_v_t] = lrc_acc;\n");
    e->vec_reg = NULL;
    close_threads(e, depth + 1);
    em_ind(e, depth + 1);
    buf_printf(o,
               "for (int lrc_o = %ld; lrc_o > 0; lrc_o >>= 1)\n%*s_Pragma(\"unroll\") for (int lrc_w = 0; "
               "lrc_w < %ld; lrc_w++) lrc_sums[lrc_w] = lrc_add(lrc_sums[lrc_w], "
               "__shfl_xor_sync(0xffffffffu, lrc_sums[lrc_w], lrc_o));\n",
               lanes / 2, 2 * (depth + 2), "", trips);
  }
  em_ind(e, depth + 1);
  put_strided(e, "lrc_v", tid(TID), npts, e->threads, "blockDim.x");
  buf_puts(o, "{\n");
  put_fold_u(e, ld, xs, d2);
  if (ar) {
    if (first) {
      em_ind(e, d2);
      buf_puts(o, "float lrc_acc = lrc_sums[lrc_v_t];\n");
    } else {
      /* This thread's part of the row's sum, then the row's lanes'. */
      put_fold_sum(e, dn, ar, d2);
      em_ind(e, d2);
      buf_printf(o,
                 "for (int lrc_o = %ld; lrc_o > 0; lrc_o >>= 1) lrc_acc = lrc_add(lrc_acc, "
                 "__shfl_xor_sync(0xffffffffu, lrc_acc, lrc_o));\n",
                 lanes / 2);
    }
    double num = b->data[rf->fill]->num;
    if (num != 0) {
      em_ind(e, d2);
      buf_puts(o, "lrc_acc = lrc_add(");
      em_put_float(o, num);
      buf_puts(o, ", lrc_acc);\n");
    }
    em_ind(e, d2);
    buf_puts(o, "const float lrc_s = ");
    e->reg_name = "lrc_acc", e->reg_tile = ar->tile;
    em_put_expr(e, as->expr);
    buf_puts(o, ";\n");
    e->reg_name = "lrc_s", e->reg_tile = as->tile;
  }
  /* u's elements from the row's registers. */
  em_ind(e, d2);
  buf_printf(o, "float lrc_o[%ld];\n", vw);
  put_point_loop(e, dn, vw, d2);
  em_ind(e, d2 + 1);
  bool rnd = tf32_rounds(e, au);
  buf_puts(o, rnd ? "lrc_o[lrc_j] = lrc_tf32r(" : "lrc_o[lrc_j] = ");
  if (rf->add) {   /* (u's fill, then u += h) */
    em_put_float(o, rf->base);
    buf_puts(o, " + ");
  }
  em_put_expr(e, au->expr);
  buf_puts(o, rnd ? ");\n" : ";\n");
  em_ind(e, d2);
  buf_puts(o, "}\n");
  e->reg_name = NULL, e->vec_reg = NULL;
  em_ind(e, d2);
  buf_puts(o, "float *lrc_t = &");
  em_put_elem(e, au->tile);
  buf_puts(o, ";\n");
  em_ind(e, d2);
  if (vw == 4) buf_puts(o, "*(float4 *)lrc_t = *(const float4 *)lrc_o;\n");
  else put_store8(e, "lrc_o", d2);
  if (rf->store || rf->later >= 0)
    put_rec_regs(e, b->data[rf->store ? rf->un + 1 : rf->later], "lrc_o", d2);
  /* The sides from u's registers, each into its record. */
  for (int q = 0; q < rf->nside; q++) {
    const KAssign *av = &b->data[rf->side[q]]->assigns.data[0];
    e->vec_reg = arena_alloc(k->arena, sizeof *e->vec_reg * (size_t)nt);
    e->vec_reg[au->tile] = "lrc_o";
    const char *vals = arena_printf(k->arena, "lrc_o%d", q + 1);
    em_ind(e, d2);
    buf_printf(o, "float %s[%ld];\n", vals, vw);
    put_point_loop(e, dn, vw, d2);
    em_ind(e, d2 + 1);
    bool rv = tf32_rounds(e, av);
    buf_printf(o, rv ? "%s[lrc_j] = lrc_tf32r(" : "%s[lrc_j] = ", vals);
    em_put_expr(e, av->expr);
    buf_puts(o, rv ? ");\n" : ";\n");
    em_ind(e, d2);
    buf_puts(o, "}\n");
    e->vec_reg = NULL;
    put_rec_regs(e, b->data[rf->side[q] + 1], vals, d2);
  }
  close_threads(e, depth + 1);
  em_ind(e, depth);
  buf_puts(o, "}\n");
}

/* The rest's state in the registers of its update's accumulators across
 * the chunk loop, instead of floats in shared memory that every trip
 * reads and writes whole (the update's start and end) and that each
 * product reading the state converts to bf16 fragment by fragment: the
 * update keeps S (its warps' blocks, the same every trip) and writes a
 * bf16 copy (lrc_Sh, in S's own memory, unused in the loop) that the
 * products reading S load by ldmatrix; S's floats back in shared memory
 * after the loop. The same values either way: the products rounded S
 * to bf16 as they loaded it. Where: the rest with bf16 products
 * (bfloat16 I/O); a 2-D tile in shared memory whose one write in the
 * loop is a product (S += X Y, the statement before it folded in: S =
 * f(S), not a fill) not paired with another, its warps' blocks at most
 * 4 and alike in number; every other access to it in the loop a bf16
 * product reading it as B along its rows (q S, W S). The group of
 * statements that emit_block takes at each b[i] (pts, np: 0 for a
 * statement alone) as emit_folded finds them. LRC_CUDA_REG_STATE=off. */
static bool state_alone(Emit *e, const KBlock *b, MmaPart (*pts)[2], const int *np,
                        const int *take, int upd, int t) {
  const Kernel *k = e->k;
  for (int i = 0; i < b->len; i += take[i]) {
    if (i == upd) continue;
    if (!np[i]) {
      unsigned char *use = use_new(e);
      kir_use_tree(k, b->data[i], use);
      if (use[t]) return false;
    }
    for (int p = 0; p < np[i]; p++) {
      const MmaPart *q = &pts[i][p];
      unsigned char *use = use_new(e);
      if (q->pre) kir_use_stmt(k, q->pre, use);
      if (q->post) kir_use_stmt(k, q->post, use);
      if (use[t] || q->a->tile == t || q->m.ta == t ||
          (q->m.tb == t && !(mma_bf16(e, &q->m) && q->m.b_row)))
        return false;
    }
  }
  return true;
}

static int state_regs(Emit *e) {
  const Kernel *k = e->k;
  if (e->phase != PHASE_REST || e->io != 1 || !e->grid_loop || e->scratch ||
      env_is("LRC_CUDA_REG_STATE", "off") || env_is("LRC_CUDA_MMA", "wmma") ||
      env_is("LRC_CUDA_UNROLL", "off"))   /* (lrc_S's index is the warps' unrolled round) */
    return 0;
  const KBlock *b = &e->grid_loop->body;
  int n = b->len, warps = e->threads / 32;
  MmaPart (*pts)[2] = arena_alloc(k->arena, sizeof *pts * (size_t)(n + 1));
  int *np = arena_alloc(k->arena, sizeof(int) * (size_t)(n + 1));
  int *take = arena_alloc(k->arena, sizeof(int) * (size_t)(n + 1));
  for (int i = 0; i < n; i += take[i]) {
    np[i] = 2, take[i] = mma_pair(e, b, i, n, pts[i]);
    if (!take[i]) np[i] = 1, take[i] = product_at(e, b, i, pts[i]);
    if (!take[i]) np[i] = 0, take[i] = 1;
  }
  for (int i = 0; i < n; i += take[i]) {
    const MmaPart *u = &pts[i][0];
    if (np[i] != 1 || (u->pre && u->pre->kind == KS_FILL)) continue;
    int t = u->a->tile, mi, nj;
    long I = k->dims.data[u->m.ti].size, J = k->dims.data[u->m.tj].size;
    mma_blocking(I, J, warps, 1, false, 0, &mi, &nj);
    long blocks = warp_blocks(I, J, mi, nj);
    if (!e->tile_smem[t] || !mma_bf16(e, &u->m) || u->m.ta == t || u->m.tb == t ||
        blocks % warps || blocks / warps > 4 || !state_alone(e, b, pts, np, take, i, t))
      continue;
    e->rs_mi = mi, e->rs_nj = nj, e->rs_ld = J + 8;
    return t + 1;
  }
  return 0;
}

/* Before the chunk loop (in): the state's floats into the registers
 * lrc_S (a warp's blocks of the update, emit_mma_sync's layout), then
 * their bf16 copy over them (lrc_Sh); after it: the floats back. */
static void put_state_regs(Emit *e, bool in, int depth) {
  const Kernel *k = e->k;
  Buf *o = e->out;
  int t = e->reg_state - 1, mi = e->rs_mi, nj = e->rs_nj, warps = e->threads / 32;
  DimSet d = k->tiles.data[t].dims;
  int tj = kir_inner_dim(k, d), ti = kir_inner_dim(k, d & ~(1u << tj));
  long I = k->dims.data[ti].size, J = k->dims.data[tj].size;
  long blocks = warp_blocks(I, J, mi, nj), ldx = row_pitch(e, t);
  if (in) {
    em_ind(e, depth);
    buf_printf(o, "float lrc_S[%ld][%d][%d][4];\n", blocks / warps, mi, nj);
    em_ind(e, depth);
    buf_puts(o, "__nv_bfloat16 *const lrc_Sh = (__nv_bfloat16 *)");
    em_put_tile_name(e, t);
    buf_puts(o, ";\n");
  } else {   /* (the loop ends at a barrier already: one more, whatever its last statement) */
    em_ind(e, depth);
    buf_puts(o, "__syncthreads();\n");
  }
  for (int pass = 0; pass < (in ? 2 : 1); pass++) {
    put_warp_blocks(e, I, J, mi, nj, depth);
    em_ind(e, depth + 1);
    buf_printf(o, "float (&lrc_c)[%d][%d][4] = lrc_S[lrc_w_t];\n", mi, nj);
    if (pass) {
      put_state_half(e, mi, nj, depth + 1);
    } else {
      em_ind(e, depth + 1);
      buf_puts(o, "float *lrc_x = ");
      em_put_tile_name(e, t);
      buf_printf(o, " + (lrc_i0 + lrc_g) * %ld + lrc_j0 + 2 * lrc_q;\n", ldx);
      put_acc_floats(e, "", ldx, mi, nj, false, !in, depth + 1);
    }
    close_threads(e, depth);
    if (in) {
      em_ind(e, depth);
      buf_puts(o, "__syncthreads();\n");
    }
  }
  if (!in) e->pend[t] |= 2, e->pend_map[t] = 0;
}

/* The free part's input rows (every load from a caller's buffer in the
 * chunk's body) fetched into L2 before its first statement: the loads
 * the schedule places late (to keep few tiles live) then wait on L2, not
 * on memory. LRC_CUDA_IN_PREFETCH=off to leave it out. */
static void put_in_prefetch(Emit *e, const KBlock *b, int depth) {
  const Kernel *k = e->k;
  for (int i = 0; i < b->len; i++) {
    const KStmt *s = b->data[i];
    if (s->kind != KS_LOAD || s->buf == PHASE_BUF || s->rowdim < 0) continue;
    KBufRole role = k->bufs.data[s->buf].role;
    if (role != KB_INPUT) continue;
    long bytes = kir_slot_count(k, s->buf) * (e->io ? 2 : 4), lines = (bytes + 127) / 128;
    long nrow = k->dims.data[s->rowdim].size;
    em_ind(e, depth);
    buf_puts(e->out, "{\n");
    em_ind(e, depth + 1);
    buf_puts(e->out, "const char *lrc_in = (const char *)(");
    em_put_buf_name(e, s->buf);
    buf_puts(e->out, " + ");
    em_put_idx(e, s->idx);
    buf_puts(e->out, ");\n");
    put_rows(e, s, e->io ? 2 : 4, depth + 1);
    em_ind(e, depth + 1);
    put_strided(e, "lrc_l", tid(TID), nrow * lines, e->threads, "blockDim.x");
    buf_printf(e->out, "if (lrc_l / %ld < lrc_nrows) asm volatile(\"prefetch.global.L2 [%%0];\" :: "
               "\"l\"(lrc_in + lrc_l / %ld * lrc_rstride + lrc_l %% %ld * 128));\n", lines, lines, lines);
    em_ind(e, depth);
    buf_puts(e->out, "}\n");
  }
}

/* The same, issued before the row's own statements (the per-head
 * parameters' loads and the barrier after them): this block's chunk and
 * the chunk loop's lets found first. LRC_CUDA_IN_PREFETCH=early. */
static void put_in_prefetch_early(Emit *e, int depth) {
  const KStmt *g = e->grid_loop;
  em_ind(e, depth);
  buf_puts(e->out, "{\n");
  put_block_chunk(e, g, true, depth + 1);
  buf_puts(e->out, ") {\n");
  for (int i = 0; i < g->body.len && g->body.data[i]->kind == KS_LET; i++)
    emit_stmt(e, g->body.data[i], depth + 2, false);
  put_in_prefetch(e, &g->body, depth + 2);
  em_ind(e, depth + 1);
  buf_puts(e->out, "}\n");
  em_ind(e, depth);
  buf_puts(e->out, "}\n");
}

/* A copy X = Y (X's points, Y read at the point) whose only reader is the
 * store of X's chunk record just after it, in the free part (its chunk
 * loop runs once a block): the record stored from Y, the copy left out
 * (Gated DeltaNet's and DeltaNet's v0 = U: 34 KB a chunk and a barrier).
 * The store's index in b, or 0. LRC_CUDA_REC_COPY=off: not taken. */
static int rec_copy(Emit *e, const KBlock *b, int i) {
  const Kernel *k = e->k;
  if (env_is("LRC_CUDA_REC_COPY", "off") || e->phase != PHASE_FREE || !e->grid_loop ||
      b != &e->grid_loop->body || i + 1 >= b->len)
    return 0;
  const KStmt *s = b->data[i];
  if (s->kind != KS_NEST || s->assigns.len != 1) return 0;
  const KAssign *a = &s->assigns.data[0];
  int x = a->tile;
  DimSet td = k->tiles.data[x].dims;
  const KExpr *ex = &k->exprs.data[a->expr];
  if (a->acc != KACC_SET || s->space != td || ex->kind != KE_READ || ex->dim_a >= 0 ||
      ex->tile == x || k->tiles.data[ex->tile].dims != td || !rec_of(b->data[i + 1], x) ||
      (e->tile_half && (e->tile_half[x] || e->tile_half[ex->tile])))
    return 0;
  unsigned char *use = use_new(e);
  for (int j = i + 2; j < b->len; j++) {
    memset(use, 0, (size_t)k->tiles.len + 1);
    kir_use_tree(k, b->data[j], use);
    if (use[x]) return 0;
  }
  return used_outside(e, &k->body, e->grid_loop, x) ? 0 : i + 1;
}

/* The record store at b[st] of the copy before it (rec_copy), from the
 * copy's source. */
static void emit_rec_copy(Emit *e, const KBlock *b, int st, int depth) {
  const Kernel *k = e->k;
  const KStmt *cp = b->data[st - 1];
  int x = cp->assigns.data[0].tile, y = k->exprs.data[cp->assigns.data[0].expr].tile;
  KStmt from = *b->data[st];
  from.tile = y;
  unsigned char *perm = e->rec_perm;
  if (perm) {   /* (the record's order is x's) */
    e->rec_perm = arena_alloc(k->arena, (size_t)k->tiles.len + 1);
    memcpy(e->rec_perm, perm, (size_t)k->tiles.len + 1);
    e->rec_perm[y] = perm[x];
  }
  emit_stmt(e, &from, depth, false);
  e->rec_perm = perm;
}

static void emit_block(Emit *e, const KBlock *b, int depth, bool outer) {
  bool free = e->phase == PHASE_FREE && e->grid_loop;
  bool pf = free && b == &e->grid_loop->body && env_is("LRC_CUDA_IN_PREFETCH", "on");
  bool early = false;
  for (int i = 0; free && i < b->len; i++)
    early |= b->data[i] == e->grid_loop && env_is("LRC_CUDA_IN_PREFETCH", "early");
  bool fold_top = free && b == &e->grid_loop->body && !env_is("LRC_CUDA_FOLD_AHEAD", "fold");
  for (int i = 0; i < b->len; i++) {
    int end = pair_end(e, b, i);
    if (pf && b->data[i]->kind != KS_LET) put_in_prefetch(e, b, depth), pf = false;
    if (early && b->data[i]->kind != KS_LET) put_in_prefetch_early(e, depth), early = false;
    if (fold_top && b->data[i]->kind != KS_LET) put_fold_loads(e, b, depth), fold_top = false;
    bool hoisted = false;
    for (int h = 0; h < e->nhoisted; h++) hoisted |= e->hoisted[h] == b->data[i];
    if (hoisted) continue;   /* (emitted in a row fold) */
    if (b->data[i]->kind == KS_FILL && e->fold_only && e->fold_only[b->data[i]->tile])
      continue;   /* (a row fold's sum, in its registers) */
    RowFold rf;
    int n = emit_folded(e, b, i, end, depth), st;
    if (!n && (n = row_fold(e, b, i, &rf))) emit_row_fold(e, b, i, &rf, depth);
    if (!n && (st = rec_copy(e, b, i))) emit_rec_copy(e, b, st, depth), n = 2;
    if (n) i += n - 1;
    else emit_stmt(e, b->data[i], depth, outer);
  }
  if (chain_body(e, b)) e->in_rest = false;
}

static void put_params(Emit *e, bool names) {
  const Kernel *k = e->k;
  for (int i = 0; i < k->bufs.len; i++) {
    const KBuf *b = &k->bufs.data[i];
    bool in = b->role == KB_INPUT || b->role == KB_PARAM || b->role == KB_STATE_IN ||
              b->role == KB_SEQLENS;
    bool state = b->role == KB_STATE_IN || b->role == KB_STATE_OUT;
    buf_printf(e->out, "%s%s%s *", i ? ", " : "", in ? "const " : "",
               b->role == KB_SEQLENS ? "int64_t" : state ? "float" : io_type[e->io]);
    if (names) em_put_buf_name(e, i);
  }
  buf_puts(e->out, names ? ", int64_t B, int64_t T, int64_t H, int64_t N"
                         : ", int64_t, int64_t, int64_t, int64_t");
}

/* The standalone source's includes; NVRTC (the run-time JIT) has no
 * cuda_runtime.h or C library headers, so the JIT source declares what
 * they would have given. */
static const char cuda_includes[] =
    "#include <cuda_bf16.h>\n"
    "#include <cuda_fp16.h>\n"
    "#include <cuda_runtime.h>\n"
    "#include <mma.h>\n"
    "#include <stdint.h>\n";
static const char jit_includes[] =
    "typedef long long int64_t;\n"
    "typedef int int32_t;\n"
    "typedef unsigned long long uintptr_t;\n"
    "#ifndef NULL\n#define NULL 0\n#endif\n"
    "#ifndef INFINITY\n#define INFINITY __int_as_float(0x7f800000)\n#endif\n"
    "#ifndef NAN\n#define NAN __int_as_float(0x7fffffff)\n#endif\n"
    "#include <cuda_bf16.h>\n"
    "#include <cuda_fp16.h>\n"
    "#include <mma.h>\n";
static const char cuda_prelude[] =
    "using namespace nvcuda;\n"
    "\n"
    "#pragma nv_diag_suppress 177   /* helpers this kernel does not use */\n"
    "static __device__ inline int64_t lrc_min64(int64_t a, int64_t b) { return a < b ? a : b; }\n"
    "static __device__ inline float lrc_rsqrt(float x) { return 1.0f / sqrtf(x); }\n"
    "static __device__ inline float lrc_add(float a, float b) { return a + b; }\n"
    "/* x = its TF32 rounding, small = the TF32 rounding of the rest. */\n"
    "template <typename F> static __device__ inline void lrc_tf32_split(F &x, F &small) {\n"
    "  for (int t = 0; t < x.num_elements; t++) {\n"
    "    const float v = x.x[t], big = nvcuda::wmma::__float_to_tf32(v);\n"
    "    x.x[t] = big;\n"
    "    small.x[t] = nvcuda::wmma::__float_to_tf32(v - big);\n"
    "  }\n"
    "}\n"
    "/* mma.sync's operands: a pair of bf16 (lo in the low half), a TF32, a\n"
    " * TF32 and (returned) the TF32 of its rest; D = A B + C on 16 x 8 x 16\n"
    " * (bf16) or 16 x 8 x 8 (TF32), row-major A, column-major B. */\n"
    "static __device__ inline unsigned lrc_bf16x2(float lo, float hi) {\n"
    "  unsigned r;\n"
    "  asm(\"cvt.rn.bf16x2.f32 %0, %1, %2;\" : \"=r\"(r) : \"f\"(hi), \"f\"(lo));\n"
    "  return r;\n"
    "}\n"
    "/* (sm_90's cvt.rn is one instruction, F2FP; cvt.rna three) */\n"
    "static __device__ inline unsigned lrc_tf32(float x) {\n"
    "  unsigned r;\n"
    "#if __CUDA_ARCH__ >= 900\n"
    "  asm(\"cvt.rn.tf32.f32 %0, %1;\" : \"=r\"(r) : \"f\"(x));\n"
    "#else\n"
    "  asm(\"cvt.rna.tf32.f32 %0, %1;\" : \"=r\"(r) : \"f\"(x));\n"
    "#endif\n"
    "  return r;\n"
    "}\n"
    "static __device__ inline float lrc_tf32r(float x) { return __uint_as_float(lrc_tf32(x)); }\n"
    "static __device__ inline unsigned lrc_tf32_2(float x, unsigned &big) {\n"
    "  big = lrc_tf32(x);\n"
    "  return lrc_tf32(x - __uint_as_float(big));\n"
    "}\n"
    "static __device__ inline void lrc_mma_bf16(float *c, const unsigned *a, const unsigned *b) {\n"
    "  asm(\"mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, \"\n"
    "      \"{%8,%9}, {%0,%1,%2,%3};\"\n"
    "      : \"+f\"(c[0]), \"+f\"(c[1]), \"+f\"(c[2]), \"+f\"(c[3])\n"
    "      : \"r\"(a[0]), \"r\"(a[1]), \"r\"(a[2]), \"r\"(a[3]), \"r\"(b[0]), \"r\"(b[1]));\n"
    "}\n"
    "/* ldmatrix: four 8 x 8 bf16 matrices (two of a, two of b) or two, from the\n"
    " * rows the lanes point at (8 each), transposed or not. */\n"
    "static __device__ inline void lrc_ldsm4(unsigned *a, unsigned *b, const __nv_bfloat16 *p) {\n"
    "  asm volatile(\"ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\"\n"
    "               : \"=r\"(a[0]), \"=r\"(a[1]), \"=r\"(b[0]), \"=r\"(b[1])\n"
    "               : \"r\"((unsigned)__cvta_generic_to_shared(p)));\n"
    "}\n"
    "static __device__ inline void lrc_ldsm4t(unsigned *a, unsigned *b, const __nv_bfloat16 *p) {\n"
    "  asm volatile(\"ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\"\n"
    "               : \"=r\"(a[0]), \"=r\"(a[1]), \"=r\"(b[0]), \"=r\"(b[1])\n"
    "               : \"r\"((unsigned)__cvta_generic_to_shared(p)));\n"
    "}\n"
    "static __device__ inline void lrc_ldsm2(unsigned *a, const __nv_bfloat16 *p) {\n"
    "  asm volatile(\"ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0,%1}, [%2];\"\n"
    "               : \"=r\"(a[0]), \"=r\"(a[1]) : \"r\"((unsigned)__cvta_generic_to_shared(p)));\n"
    "}\n"
    "static __device__ inline void lrc_ldsm2t(unsigned *a, const __nv_bfloat16 *p) {\n"
    "  asm volatile(\"ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16 {%0,%1}, [%2];\"\n"
    "               : \"=r\"(a[0]), \"=r\"(a[1]) : \"r\"((unsigned)__cvta_generic_to_shared(p)));\n"
    "}\n"
    "/* The same of floats (as pairs of b16): 8 rows of 4 floats a matrix. */\n"
    "static __device__ inline void lrc_ldsm4(unsigned *a, unsigned *b, const float *p) {\n"
    "  asm volatile(\"ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\"\n"
    "               : \"=r\"(a[0]), \"=r\"(a[1]), \"=r\"(b[0]), \"=r\"(b[1])\n"
    "               : \"r\"((unsigned)__cvta_generic_to_shared(p)));\n"
    "}\n"
    "static __device__ inline void lrc_ldsm2(unsigned *a, const float *p) {\n"
    "  asm volatile(\"ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0,%1}, [%2];\"\n"
    "               : \"=r\"(a[0]), \"=r\"(a[1]) : \"r\"((unsigned)__cvta_generic_to_shared(p)));\n"
    "}\n"
    "/* 8 bf16 of a row, k = 0..7, in the order the products read k within\n"
    " * a k-step (0 4 1 5 2 6 3 7: emit_mma_sync's permutation). */\n"
    "static __device__ inline uint4 lrc_perm8(uint4 x) {\n"
    "  return make_uint4(__byte_perm(x.x, x.z, 0x5410), __byte_perm(x.x, x.z, 0x7632),\n"
    "                    __byte_perm(x.y, x.w, 0x5410), __byte_perm(x.y, x.w, 0x7632));\n"
    "}\n"
    "static __device__ inline void lrc_mma_tf32(float *c, const unsigned *a, const unsigned *b) {\n"
    "  asm(\"mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, \"\n"
    "      \"{%8,%9}, {%0,%1,%2,%3};\"\n"
    "      : \"+f\"(c[0]), \"+f\"(c[1]), \"+f\"(c[2]), \"+f\"(c[3])\n"
    "      : \"r\"(a[0]), \"r\"(a[1]), \"r\"(a[2]), \"r\"(a[3]), \"r\"(b[0]), \"r\"(b[1]));\n"
    "}\n"
    "static __device__ inline float lrc_sigmoid(float x) {\n"
    "  return x >= 0.0f ? 1.0f / (1.0f + expf(-x)) : expf(x) / (1.0f + expf(x));\n"
    "}\n"
    "static __device__ inline float lrc_softplus(float x) {\n"
    "  return fmaxf(x, 0.0f) + log1pf(expf(-fabsf(x)));\n"
    "}\n"
    "static __device__ inline float lrc_logsigmoid(float x) { return -lrc_softplus(-x); }\n"
    "static __device__ inline float lrc_silu(float x) { return x * lrc_sigmoid(x); }\n"
    "static __device__ inline float lrc_elu(float x) { return x > 0.0f ? x : expm1f(x); }\n"
    "static __device__ inline float lrc_relu(float x) { return x > 0.0f ? x : 0.0f; }\n"
    "/* Asynchronous copies into shared memory (sm_80 on): 16 bytes, 4 bytes. */\n"
    "static __device__ inline void lrc_cp16(void *d, const void *s) {\n"
    "  asm volatile(\"cp.async.cg.shared.global [%0], [%1], 16;\"\n"
    "               :: \"r\"((unsigned)__cvta_generic_to_shared(d)), \"l\"(s) : \"memory\");\n"
    "}\n"
    "static __device__ inline void lrc_cp16z(void *d, const void *s, bool p) {   /* (p: else zeros) */\n"
    "  asm volatile(\"cp.async.cg.shared.global [%0], [%1], 16, %2;\"\n"
    "               :: \"r\"((unsigned)__cvta_generic_to_shared(d)), \"l\"(s), \"r\"(p ? 16 : 0) : \"memory\");\n"
    "}\n"
    "static __device__ inline void lrc_cp4(void *d, const void *s) {\n"
    "  asm volatile(\"cp.async.ca.shared.global [%0], [%1], 4;\"\n"
    "               :: \"r\"((unsigned)__cvta_generic_to_shared(d)), \"l\"(s) : \"memory\");\n"
    "}\n";

/* The thread index, read anew on each trip of a serial loop (the chunk or
 * time loop): NVRTC, unlike nvcc, gives pointers into shared
 * memory 64 bits, and would hoist every thread's addresses into the
 * shared block out of the loop (they do not change from trip to trip),
 * two registers each: in KDA's chunk kernel that is more than the 128
 * registers that 512 threads allow, and ptxas spills. An index that may
 * change from trip to trip keeps them in the trip that uses them. */
static const char tid_prelude[] =
    "static __device__ inline unsigned lrc_tid_fresh(void) {\n"
    "  unsigned t;\n"
    "  asm volatile(\"mov.u32 %0, %%tid.x;\" : \"=r\"(t));\n"
    "  return t;\n"
    "}\n";

static void emit_header(Emit *e, const char *guard) {
  const Kernel *k = e->k;
  Buf *o = e->out;
  buf_printf(o, "/* %s.h — generated by lrc %s: rnn %s, algorithm %s, CUDA.\n *\n", k->name,
             LRC_VERSION_STRING_INTERNAL, k->g->name, k->algo);
  static const char *docs[] = {
      "device pointers, float32, row-major, contiguous",
      "device pointers, row-major, contiguous; inputs, params and outputs bfloat16, states float32",
      "device pointers, row-major, contiguous; inputs, params and outputs float16, states float32"};
  em_put_arg_docs(e, docs[e->io]);
  buf_puts(o, " *   stream      the CUDA stream to launch on\n"
              " * Returns the launch's cudaError_t (0: cudaSuccess); the kernel runs\n"
              " * asynchronously on the stream. Scratch comes from the device's default\n"
              " * memory pool (cudaMallocAsync on the stream); where the launcher takes\n"
              " * the phased form, it raises that pool's release threshold so that the\n"
              " * chunk records stay pooled between calls (-DLRC_PHASED=0 or 1 decides\n"
              " * the form at compile time).\n */\n");
  buf_printf(o,
             "#ifndef %s\n#define %s\n\n#include <cuda_bf16.h>\n#include <cuda_fp16.h>\n"
             "#include <cuda_runtime.h>\n#include <stdint.h>\n\n",
             guard, guard);
  buf_puts(o, "#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n");
  buf_printf(o, "int %s(", k->name);
  put_params(e, true);
  buf_puts(o, ", cudaStream_t stream);\n\n#ifdef __cplusplus\n}\n#endif\n\n#endif\n");
}

/* Accesses of each tile (elements read or written, a serial loop's body
 * counted 64 times): where shared memory pays most. */
static void count_accesses(const Kernel *k, const KBlock *b, double times, double *acc);

static void count_expr(const Kernel *k, int x, double n, double *acc) {
  const KExpr *ex = &k->exprs.data[x];
  if (ex->kind == KE_READ) acc[ex->tile] += n;
  if (ex->kind == KE_UNARY || ex->kind == KE_BINARY) count_expr(k, ex->a, n, acc);
  if (ex->kind == KE_BINARY) count_expr(k, ex->b, n, acc);
}

static void count_accesses(const Kernel *k, const KBlock *b, double times, double *acc) {
  for (int i = 0; i < b->len; i++) {
    const KStmt *s = b->data[i];
    switch (s->kind) {
    case KS_FOR: count_accesses(k, &s->body, s->parallel ? times : times * 64, acc); break;
    case KS_IF_NULL:
    case KS_IF_LESS:
      count_accesses(k, &s->body, times, acc);
      count_accesses(k, &s->orelse, times, acc);
      break;
    case KS_NEST: {
      double n = times;
      for (int d = 0; d < k->dims.len; d++)
        if (s->space & (1u << d)) n *= (double)k->dims.data[d].size;
      for (int j = 0; j < s->assigns.len; j++) {
        acc[s->assigns.data[j].tile] += n;
        count_expr(k, s->assigns.data[j].expr, n, acc);
      }
      break;
    }
    case KS_LET:
      break;
    default:
      if (s->tile >= 0 && s->tile < k->tiles.len) acc[s->tile] += times * (double)kir_tile_count(k, s->tile);
      if (s->kind != KS_LOAD && s->kind != KS_STORE && s->kind != KS_FILL && s->tile2 >= 0 &&
          s->tile2 < k->tiles.len)
        acc[s->tile2] += times * (double)kir_tile_count(k, s->tile2);
      break;
    }
  }
}

/* Lifetimes, for tiles to share memory. Statements are numbered in
 * program order (a nest as one); a tile lives from its first access to
 * its last, and through the whole of a serial loop where an iteration
 * may read it before writing all of it (a state, a tile carried to the
 * next chunk, one written before the loop and read in it). Only a full
 * write in the loop's own body (not under a branch or an inner loop)
 * counts as writing all of it. Tiles whose lifetimes are disjoint may
 * take the same memory. */
typedef struct Life {
  int *first, *last;       /* per tile: statement numbers (-1: unused) */
  int pos;                 /* the next statement's number */
} Life;

/* What statement s (assignment j of a nest) reads and writes. */
static void use_of(const Kernel *k, const KStmt *s, int j, unsigned char *use) {
  memset(use, 0, (size_t)k->tiles.len + 1);
  if (s->kind != KS_NEST) {
    kir_use_stmt(k, s, use);
    return;
  }
  kir_use_assign(k, &s->assigns.data[j], use);
}

static int nparts(const KStmt *s) { return s->kind == KS_NEST ? s->assigns.len : 1; }

/* Mark in `exp` the tiles that block b reads before writing them whole
 * (`killed`: written whole so far). A nested block (a branch, a loop's
 * body) may not run: its writes kill only for the reads after them in
 * it, so it starts from a copy of `killed` (a branch's temporaries, as
 * the per-key decays' factors under `if Gabs < 20`, then live only
 * within it, not across the whole loop). */
static void exposed(const Kernel *k, const KBlock *b, unsigned char *killed, unsigned char *exp,
                    unsigned char *use) {
  int nt = k->tiles.len;
  for (int i = 0; i < b->len; i++) {
    const KStmt *s = b->data[i];
    if (s->kind == KS_LET) continue;
    if (s->kind == KS_FOR || s->kind == KS_IF_NULL || s->kind == KS_IF_LESS) {
      if (s->kind == KS_IF_LESS && !killed[s->tile]) exp[s->tile] = 1;
      unsigned char *mine = arena_alloc(k->arena, (size_t)nt + 1);
      const KBlock *sub[2] = {&s->body, &s->orelse};
      for (int j = 0; j < 2; j++) {
        memcpy(mine, killed, (size_t)nt + 1);
        exposed(k, sub[j], mine, exp, use);
      }
      continue;
    }
    for (int j = 0; j < nparts(s); j++) {
      use_of(k, s, j, use);
      for (int t = 0; t < nt; t++)
        if ((use[t] & 1) && !killed[t]) exp[t] = 1;
      int w = kir_whole_write(k, s, j);
      if (w >= 0) killed[w] = 1;
    }
  }
}

static void life_at(Life *l, int t) {
  if (l->first[t] < 0) l->first[t] = l->pos;
  l->last[t] = l->pos;
}

/* Each tile's first and last statement (l->pos counts them) in the block;
 * a pair of products (mma_pair) one statement. */
static void lifetimes(Emit *e, const KBlock *b, Life *l, bool outer) {
  const Kernel *k = e->k;
  int nt = k->tiles.len;
  MmaPart pt[2];
  unsigned char *use = arena_alloc(k->arena, (size_t)nt + 1);
  for (int i = 0; i < b->len; i++) {
    const KStmt *s = b->data[i];
    int end = pair_end(e, b, i);
    switch (s->kind) {
    case KS_LET: break;
    case KS_FOR: {
      int lo = l->pos;
      lifetimes(e, &s->body, l, false);
      if (s->parallel && outer) break;   /* the grid's rows: no loop here */
      unsigned char *killed = arena_alloc(k->arena, (size_t)nt + 1);
      unsigned char *exp = arena_alloc(k->arena, (size_t)nt + 1);
      exposed(k, &s->body, killed, exp, use);
      for (int t = 0; t < nt; t++) {
        if (!exp[t]) continue;
        if (l->first[t] < 0 || l->first[t] > lo) l->first[t] = lo;
        if (l->last[t] < l->pos) l->last[t] = l->pos;
      }
      l->pos++;
      break;
    }
    case KS_IF_NULL:
    case KS_IF_LESS:
      if (s->kind == KS_IF_LESS) life_at(l, s->tile);
      l->pos++;
      lifetimes(e, &s->body, l, false);
      lifetimes(e, &s->orelse, l, false);
      break;
    default: {
      int n = mma_pair(e, b, i, end, pt);
      for (int q = i; q < i + (n ? n : 1); q++)
        for (int j = 0; j < nparts(b->data[q]); j++) {
          use_of(k, b->data[q], j, use);
          for (int t = 0; t < nt; t++)
            if (use[t]) life_at(l, t);
        }
      if (n) i += n - 1;
      l->pos++;
      break;
    }
    }
  }
  if (chain_body(e, b)) e->in_rest = false;
}

/* The lowest offset at which `len` floats of tile t overlap no placed
 * tile in the same memory whose lifetime meets t's. */
static long first_fit(const Emit *e, const Life *l, const bool *placed, int t, bool sh, long len) {
  const Kernel *k = e->k;
  long off = 0;
  for (bool moved = true; moved;) {
    moved = false;
    for (int u = 0; u < k->tiles.len; u++) {
      if (!placed[u] || e->tile_smem[u] != sh || l->last[u] < l->first[t] ||
          l->last[t] < l->first[u])
        continue;
      if (off < e->tile_off[u] + e->tile_len[u] && e->tile_off[u] < off + len) {
        off = e->tile_off[u] + e->tile_len[u];
        moved = true;
      }
    }
  }
  return off;
}

/* Votes for each tile's row padding from the products that read or
 * write it on the tensor cores. A warp's fragment loads read rows g =
 * 0..7 and columns q = 0..3 of a tile: at g * ld + q where the operand's
 * contiguous dim is the reduced one (conflict-free when ld is 4 mod 8),
 * at q * ld + g where it is the other (B over columns, a transposed A;
 * conflict-free when ld is 8 mod 16), and the accumulators at g * ld + 2q
 * in pairs (8 mod 16 too). vote[t] > 0: t wants the second. */
static void pad_votes(const Emit *e, const KBlock *b, int *vote) {
  for (int i = 0; i < b->len; i++) {
    const KStmt *s = b->data[i];
    pad_votes(e, &s->body, vote);
    pad_votes(e, &s->orelse, vote);
    if (s->kind != KS_NEST || s->assigns.len != 1) continue;
    const KAssign *a = &s->assigns.data[0];
    Mma m;
    if (!(s->space & ~e->k->tiles.data[a->tile].dims) || !mma_form(e, s, a, &m)) continue;
    vote[m.ta] += m.a_row ? -1 : 1;
    vote[m.tb] += m.b_row ? 1 : -1;
    vote[a->tile]++;
  }
}

/* Tiles in the order `by`, each at the lowest place free for its
 * lifetime: in shared memory (rows of 2-D tiles padded) while it fits
 * in SMEM_MAX, else in the global block per row. */
static void place_in_order(Emit *e, const Life *l, const int *by, const bool *unused,
                           const int *vote) {
  const Kernel *k = e->k;
  int n = k->tiles.len;
  bool *placed = arena_alloc(k->arena, (size_t)n + 1);
  memcpy(placed, unused, (size_t)n);
  bool pad = !env_is("LRC_CUDA_PAD", "off");
  e->smem = e->scratch = 0;
  for (int i = 0; i < n; i++) {
    int t = by[i];
    e->tile_ld[t] = 0;
    if (placed[t]) continue;
    long sz = (kir_tile_count(k, t) + 7) & ~7L;
    /* In shared memory, the rows of a 2-D tile padded: a warp reading
     * down a column (a tensor-core fragment, a row-major operand of a
     * sum) then spreads over the banks instead of hitting one. By 4
     * floats, or to 8 mod 16 where the products' fragments want that
     * (pad_votes). Still a multiple of 4 floats, as the fragments need. */
    DimSet td = k->tiles.data[t].dims;
    long inner = td ? k->dims.data[kir_inner_dim(k, td)].size : 1;   /* (a scalar tile: no dims) */
    if (pad && __builtin_popcount(td) == 2 && inner % 8 == 0)
      e->tile_ld[t] = vote[t] <= 0 ? inner + 4 : inner % 16 ? inner : inner + 8;
    long ssz = e->tile_ld[t] ? (tile_extent(e, t) + 7) & ~7L : sz;
    if (e->tile_half && e->tile_half[t]) {
      /* bf16 rows an odd number of 16 bytes apart: ldmatrix's eight
       * rows of a phase on distinct banks */
      e->tile_ld[t] = inner % 16 ? inner : inner + 8;
      ssz = (kir_tile_count(k, t) / inner * e->tile_ld[t] / 2 + 7) & ~7L;
    }
    long off = first_fit(e, l, placed, t, true, ssz);
    bool sh = (off + ssz) * 4 <= SMEM_MAX;
    if (sh) sz = ssz;
    else e->tile_ld[t] = 0, off = first_fit(e, l, placed, t, false, sz);
    e->tile_smem[t] = sh;
    e->tile_len[t] = sz;
    e->tile_off[t] = off;
    placed[t] = true;
    if (sh && e->smem < off + sz) e->smem = off + sz;
    if (!sh && e->scratch < off + sz) e->scratch = off + sz;
  }
}

/* The tiles in `by` in placement order o: 0 densest (accesses per
 * element), 1 longest lived, 2 largest first (insertion sort: few tiles). */
static void order_tiles(const Kernel *k, const Life *l, const double *acc, int o, int *by) {
  int n = k->tiles.len;
  for (int t = 0; t < n; t++) by[t] = t;
  for (int i = 1; i < n; i++)
    for (int j = i; j > 0; j--) {
      int a = by[j - 1], b = by[j];
      double ka = o == 1 ? l->last[a] - l->first[a] : o == 2 ? kir_tile_count(k, a)
                                                    : acc[a] / (double)kir_tile_count(k, a);
      double kb = o == 1 ? l->last[b] - l->first[b] : o == 2 ? kir_tile_count(k, b)
                                                    : acc[b] / (double)kir_tile_count(k, b);
      if (ka >= kb) break;
      by[j - 1] = b, by[j] = a;
    }
}

/* The tiles with the most accesses per element in shared memory, as many
 * as fit in SMEM_MAX, the rest in a global block per row (32-byte aligned
 * tiles, as the tensor-core loads need); in either, tiles whose
 * lifetimes are disjoint share space. First fit leaves holes that depend
 * on the order, so three are tried (densest first, longest lived first,
 * largest first) and the one taking least memory kept where all fit on
 * chip (Gated DeltaNet's rest at K = V = 128: 111 -> 102 KB).
 * LRC_CUDA_REUSE=off: every tile its own space. */
static void place_once(Emit *e) {
  const Kernel *k = e->k;
  int n = k->tiles.len;
  e->tile_off = arena_alloc(k->arena, sizeof(long) * (size_t)(n + 1));
  e->tile_smem = arena_alloc(k->arena, (size_t)n + 1);
  e->tile_len = arena_alloc(k->arena, sizeof(long) * (size_t)(n + 1));
  e->tile_ld = arena_alloc(k->arena, sizeof(long) * (size_t)(n + 1));
  e->pend = arena_alloc(k->arena, (size_t)n + 1);
  e->pend_map = arena_alloc(k->arena, sizeof(int) * (size_t)(n + 1));
  e->pfoot = arena_alloc(k->arena, sizeof(uint64_t *) * (size_t)(n + 1));
  e->sync_all = env_is("LRC_CUDA_SYNC", "all");
  e->warp_sync = env_is("LRC_CUDA_WARP_SYNC", "on");
  Life l = {arena_alloc(k->arena, sizeof(int) * (size_t)(n + 1)),
            arena_alloc(k->arena, sizeof(int) * (size_t)(n + 1)), 0};
  for (int t = 0; t < n; t++) l.first[t] = l.last[t] = -1;
  lifetimes(e, &k->body, &l, true);
  bool reuse = !env_is("LRC_CUDA_REUSE", "off");
  bool *unused = arena_alloc(k->arena, (size_t)n + 1);
  for (int t = 0; t < n; t++) {
    unused[t] = l.first[t] < 0 || (e->fold_only && e->fold_only[t]);   /* no space */
    /* Vectors and scalars (a [C] gate, a norm) each their own place: the
     * little memory they would share costs barriers between statements
     * that touch neither's values (a write-after-read of the place). */
    bool small = kir_tile_count(k, t) <= SMALL_TILE && !env_is("LRC_CUDA_SMALL", "share");
    if (!unused[t] && (!reuse || small)) l.first[t] = 0, l.last[t] = l.pos;
  }
  double *acc = arena_alloc(k->arena, sizeof(double) * (size_t)(n + 1));
  count_accesses(k, &k->body, 1, acc);
  int *vote = arena_alloc(k->arena, sizeof(int) * (size_t)(n + 1));
  memset(e->tile_ld, 0, sizeof(long) * (size_t)n);
  if (!e->no_pad8 && !env_is("LRC_CUDA_PAD8", "off")) pad_votes(e, &k->body, vote);
  int *by = arena_alloc(k->arena, sizeof(int) * (size_t)(n + 1));
  int best = 0, last = 0;
  long best_smem = 0;
  for (int o = 0; o < 3; o++) {
    order_tiles(k, &l, acc, o, by);
    place_in_order(e, &l, by, unused, vote);
    last = o;
    /* Where some tiles go to global memory, which go matters more than
     * how much: the densest stay on chip. */
    if (o == 0 && (e->scratch || env_is("LRC_CUDA_PLACE", "dense"))) break;
    if (o == 0 || (!e->scratch && e->smem < best_smem)) best = o, best_smem = e->smem;
  }
  if (best != last) {
    order_tiles(k, &l, acc, best, by);
    place_in_order(e, &l, by, unused, vote);
  }
}

/* half_tiles' walk: hk[t] as below, -1 where t cannot be kept in bf16;
 * loaded[t]: a record's load writes it. */
static void half_walk(Emit *e, const KBlock *b, int *hk, bool *loaded, bool *tgt) {
  const Kernel *k = e->k;
  const DimTable *dt = &k->dims;
  unsigned char *use = use_new(e);
  for (int i = 0; i < b->len; i++) {
    const KStmt *s = b->data[i];
    half_walk(e, &s->body, hk, loaded, tgt);
    half_walk(e, &s->orelse, hk, loaded, tgt);
    if (s->kind == KS_FOR || s->kind == KS_LET) continue;
    if (s->kind == KS_LOAD && s->buf == PHASE_BUF) {
      DimSet td = k->tiles.data[s->tile].dims;
      int din = kir_inner_dim(k, td);
      if (__builtin_popcount(td) != 2 || dt->data[din].size % 8 || e->full[din] % 8)
        hk[s->tile] = -1;
      loaded[s->tile] = true;
      continue;
    }
    const KAssign *a = s->kind == KS_NEST && s->assigns.len == 1 ? &s->assigns.data[0] : NULL;
    Mma m;
    if (a && (s->space & ~k->tiles.data[a->tile].dims) && mma_form(e, s, a, &m) &&
        mma_bf16(e, &m)) {
      if (tgt) tgt[a->tile] = true;
      else hk[a->tile] = -1;
      for (int o = 0; o < 2; o++) {
        int t = o ? m.tb : m.ta, r = (o ? m.b_r : m.a_r) + 1;
        if (hk[t] >= 0) hk[t] = hk[t] && hk[t] != r ? -1 : r;
      }
      continue;
    }
    memset(use, 0, (size_t)k->tiles.len + 1);
    kir_use_stmt(k, s, use);
    for (int t = 0; t < k->tiles.len; t++)
      if (use[t]) hk[t] = -1;
  }
}

/* The rest's tiles kept in shared memory as bf16 rather than float: the
 * records that the free part stores in bf16 (bfloat16 I/O) and that the
 * rest reads only as operands of bf16 products. Their fragments then
 * load by ldmatrix (one instruction for four 8 x 8 blocks instead of
 * eight loads and four conversions) from half the bytes, and their
 * transfer writes half the bytes and converts nothing. Each is stored
 * with the dim its products reduce over permuted within groups of 8 as
 * emit_mma_sync permutes k (lrc_perm8), so that its fragments pair with
 * those of the float operand beside it. LRC_CUDA_HALF=off. */
static int *half_tiles(Emit *e) {
  const Kernel *k = e->k;
  int n = k->tiles.len;
  if (e->phase != PHASE_REST || e->io != 1 || env_is("LRC_CUDA_HALF", "off") ||
      env_is("LRC_CUDA_MMA", "wmma"))   /* (WMMA's loads read float tiles) */
    return NULL;
  int *hk = arena_alloc(k->arena, sizeof(int) * (size_t)(n + 1));
  bool *loaded = arena_alloc(k->arena, (size_t)n + 1);
  bool *tgt = e->float_targets || env_is("LRC_CUDA_HALF_TARGET", "off")
                  ? NULL
                  : arena_alloc(k->arena, (size_t)n + 1);
  half_walk(e, &k->body, hk, loaded, tgt);
  bool any = false;
  for (int t = 0; t < n; t++) {
    if (hk[t] < 0 || !loaded[t]) hk[t] = 0;
    if (hk[t] > 0 && tgt && tgt[t]) {   /* (a product's target: 2-D, its rows permuted) */
      DimSet td = k->tiles.data[t].dims;
      if (hk[t] - 1 != kir_inner_dim(k, td & ~(1u << kir_inner_dim(k, td)))) hk[t] = 0;
    }
    any |= hk[t] > 0;
  }
  return any ? hk : NULL;
}

/* tf32_tiles' walk: st[t] |= 1 where a TF32 product reads tile t as an
 * operand, 32 where anything else reads it (a solve: 2), 2 where
 * anything writes it other than an element-wise nest (SET), a fill of a
 * TF32 value or a solve keeping its column in registers (then 4). A
 * solved tile's nests do not round (the solve reads their values): 8
 * where a product reads it before the solve, 16 where a nest writes it
 * after (in program order), either of which would hand a product
 * unrounded values. */
static void tf32_walk(Emit *e, const KBlock *b, unsigned char *st) {
  const Kernel *k = e->k;
  unsigned char *use = use_new(e);
  bool chain = chain_body(e, b);
  for (int i = 0; i < b->len; i++) {
    const KStmt *s = b->data[i];
    if (chain) e->in_rest = i >= k->phase_nfree;   /* (as pair_end: mma_bf16) */
    tf32_walk(e, &s->body, st);
    tf32_walk(e, &s->orelse, st);
    if (s->kind == KS_FOR || s->kind == KS_LET) continue;
    memset(use, 0, (size_t)k->tiles.len + 1);
    if (s->kind == KS_NEST) {
      for (int j = 0; j < s->assigns.len; j++) {
        const KAssign *a = &s->assigns.data[j];
        DimSet red = s->space & ~k->tiles.data[a->tile].dims;
        Mma m;
        if (red && mma_form(e, s, a, &m) && !mma_bf16(e, &m)) {
          st[m.ta] |= st[m.ta] & 4 ? 1 : 9, st[m.tb] |= st[m.tb] & 4 ? 1 : 9, st[a->tile] |= 2;
          continue;
        }
        kir_use_assign(k, a, use);
        if (red || a->acc != KACC_SET) st[a->tile] |= 2;
        if (st[a->tile] & 4) st[a->tile] |= 16;
      }
      for (int t = 0; t < k->tiles.len; t++)
        if (use[t] & 1) st[t] |= 32;
      continue;
    }
    if (s->kind == KS_FILL) {
      float f = (float)s->num;
      uint32_t u;
      memcpy(&u, &f, sizeof u);
      if (u & 0x1fff) st[s->tile] |= 2;
      continue;
    }
    if (s->kind == KS_TRISOLVE && solve_in_regs(e, s)) {
      st[s->tile] |= 4, st[s->tile2] |= 2;
      continue;
    }
    kir_use_stmt(k, s, use);
    for (int t = 0; t < k->tiles.len; t++)
      if (use[t]) st[t] |= use[t] & 2 || s->kind == KS_TRISOLVE ? 2 : 32;
  }
  if (chain) e->in_rest = false;
}

/* The tiles stored as TF32 values: those that TF32 products read (bf16
 * or fp16 I/O: not split) and that element-wise nests or a solve write;
 * the writer rounds (lrc_tf32, as the fragment's load did), once an
 * element, and the fragments load raw: by ldmatrix, no instruction but
 * the load. Each element was converted by every warp that loaded it
 * (3 instructions a conversion on sm_90; Gated DeltaNet's free part: a
 * third of its instructions were its products' loads and conversions,
 * ncu). The numbers are the same. Those that other statements read
 * too (nests, record stores, copies; not a solve) are rounded as well,
 * and the others then see the rounded values: 2^-11 relative, below the
 * 16-bit I/O's own rounding; Gated DeltaNet's normalised q and k (their
 * records and the decayed keys read them too), whose ten conversions a
 * k-step in the free part's first products go (H200: DeltaNet's free
 * part 4% faster, Gated DeltaNet's 1%; docs/perf-cuda.md v20).
 * LRC_CUDA_TF32_STORE=products: only the tiles that products alone
 * read; =off: none. */
static unsigned char *tf32_tiles(Emit *e) {
  const Kernel *k = e->k;
  int n = k->tiles.len;
  if (!e->io || env_is("LRC_CUDA_MMA", "wmma") || env_is("LRC_CUDA_TF32_STORE", "off"))
    return NULL;
  unsigned char *st = arena_alloc(k->arena, (size_t)n + 1);
  tf32_walk(e, &k->body, st);
  bool shared = !env_is("LRC_CUDA_TF32_STORE", "products"), any = false;
  for (int t = 0; t < n; t++) {
    st[t] = (st[t] & 3) != 1 || (!shared && st[t] & 32) || (st[t] & 4 && st[t] & 24) ? 0
            : st[t] & 4                                                            ? 2
                                                                                   : 1;
    any |= st[t] != 0;
  }
  return any ? st : NULL;
}

/* Blocks of e's shared memory that fit on one SM (H100, H200: 228 KB,
 * 1 KB of it reserved per block). */
static int blocks_by_smem(const Emit *e) {
  return SMEM_PER_SM_MAX / ((int)e->smem * 4 + 1024);
}

/* The placement with the products paired (mma_pair), unless that puts a
 * tile off chip or fewer blocks on an SM than without (the pairs' longer
 * lifetimes: Gated DeltaNet's fused kernel at K = V = 128 would move its
 * state off chip). The rest counts up to two blocks: its grid, rows
 * times column slices, gives most SMs two at most where the phased form
 * is taken (B H = 128 at the benchmark's size, 132 SMs). */
static void place_pairs(Emit *e) {
  e->no_pair = env_is("LRC_CUDA_PAIR", "off");
  place_once(e);
  if (e->no_pair) return;
  long scratch = e->scratch;
  int cap = e->phase == PHASE_REST ? 2 : 64, blocks = blocks_by_smem(e);
  e->no_pair = true;
  place_once(e);
  int unpaired = blocks_by_smem(e);
  if (e->scratch < scratch ||
      (e->scratch == scratch && (unpaired < cap ? unpaired : cap) > (blocks < cap ? blocks : cap)))
    return;
  e->no_pair = false;
  place_once(e);
}

/* The placement, the rest's records in bf16 (half_tiles) where they all
 * fit in shared memory (ldmatrix reads only there), else in float. */
static void place_all(Emit *e) {
  e->tile_half = half_tiles(e);
  place_pairs(e);
  for (int t = 0; e->tile_half && t < e->k->tiles.len; t++)
    if (e->tile_half[t] && e->tile_len[t] && !e->tile_smem[t]) {
      e->tile_half = NULL;
      place_pairs(e);
    }
}

/* fold_only_tiles' walk: the row folds as emit_block takes them (a
 * fold's sides hoisted, so that the next fold sees the room left). */
static void fold_walk(Emit *e, const KBlock *b, bool *f, bool *any) {
  for (int i = 0; i < b->len; i++) {
    const KStmt *s = b->data[i];
    fold_walk(e, &s->body, f, any);
    fold_walk(e, &s->orelse, f, any);
    RowFold rf;
    int n = row_fold(e, b, i, &rf);
    if (!n) continue;
    f[s->tile] = *any = true;   /* (the raw rows: in registers) */
    if (rf.red >= 0) {   /* (the row's sum and scale: in registers; the sum's fill not emitted) */
      f[b->data[rf.red]->assigns.data[0].tile] = true;
      f[b->data[rf.scale]->assigns.data[0].tile] = true;
    }
    for (int q = 0; q < rf.nside; q++)   /* (stored from registers) */
      f[hoist_side(e, b, &rf, q)->assigns.data[0].tile] = true;
    if (rf.later >= 0) e->hoisted[e->nhoisted++] = b->data[rf.later];
    i += n - 1;
  }
}

/* The tiles whose values never leave the registers of a row fold under
 * e's placement: each fold's raw rows (t), its row's sum and scale (r,
 * s; r's fill then dead), and its sides' values (only stored to their
 * records from the fold's registers); NULL: none. */
static bool *fold_only_tiles(Emit *e) {
  const Kernel *k = e->k;
  bool *f = arena_alloc(k->arena, (size_t)k->tiles.len + 1), any = false;
  e->nhoisted = 0;
  fold_walk(e, &k->body, f, &any);
  e->nhoisted = 0;
  return any ? f : NULL;
}

/* The tiles placed (place_pairs, with bf16 tiles where they stay on
 * chip), then placed again without the tiles that row folds keep in
 * registers (fold_only_tiles; emit_block skips the dead fills): Gated
 * DeltaNet's free part at K = V = 128 (bf16) 67072 -> 57856 bytes, its
 * raw rows of q, k, v and its decayed keys gone (with the beam order,
 * 57344: four blocks an SM). Where the second placement would lose a
 * fold (a fold's conditions read the placement) or take more memory,
 * the first stands. LRC_CUDA_FOLD_PLACE=off: the first. */
static void place_fold(Emit *e) {
  e->fold_only = NULL;
  place_all(e);
  if (env_is("LRC_CUDA_FOLD_PLACE", "off")) return;
  bool *f = fold_only_tiles(e);
  if (!f) return;
  long smem = e->smem, scratch = e->scratch;
  e->fold_only = f;
  place_all(e);
  bool *g = fold_only_tiles(e), keep = e->smem <= smem && e->scratch <= scratch;
  for (int t = 0; keep && t < e->k->tiles.len; t++) keep = !f[t] || (g && g[t]);
  if (!keep) {
    e->fold_only = NULL;
    place_all(e);
  }
}

/* The tiles placed: place_fold, then the free part's padding fitted. */
static void place_tiles(Emit *e) {
  e->no_pad8 = false;
  place_fold(e);
  /* With LRC_CUDA_PAD_FIT=on, the free part's rows padded by 4 floats
   * only where that lets one more block share an SM: the padding to 8
   * mod 16 (pad_votes) keeps the products' B fragments and accumulator
   * stores off each other's banks, and a fourth block of Gated
   * DeltaNet's free part (with the fold placement: 57856 -> 56320 bytes)
   * hides more of its latency than the two-way conflicts on three of its
   * tiles cost, or so the prediction goes (docs/perf-cuda.md v18). Off
   * by default until measured. */
  if (e->phase != PHASE_FREE || !env_is("LRC_CUDA_PAD_FIT", "on")) return;
  int blocks = blocks_by_smem(e);
  e->no_pad8 = true;
  place_fold(e);
  if (blocks_by_smem(e) > blocks && !e->scratch) return;
  e->no_pad8 = false;
  place_fold(e);
}

/* Does tile t share memory with another (then no __restrict__)? */
static bool shares(const Emit *e, int t) {
  for (int u = 0; u < e->k->tiles.len; u++)
    if (u != t && same_memory(e, t, u)) return true;
  return false;
}

/* One __global__ function: the kernel, or a part of its phased form
 * (which also takes the chunk records, lrc_phase). */
static void emit_function(Emit *e, const char *suffix) {
  const Kernel *k = e->k;
  Buf *o = e->out;
  bool shared = e->scratch == 0;
  /* A block whose shared memory is more than half of the most an SM has
   * (H100, H200) runs alone on its SM on any GPU. Told so, ptxas gives
   * it up to the 128 registers that 512 threads allow; left to guess,
   * NVRTC's ptxas sometimes aims at two blocks per SM (64 registers) and
   * spills (MLSTM's and RWKV-6's chunk kernels). LRC_CUDA_ONE_BLOCK=off
   * to leave it out. */
  bool alone = !env_is("LRC_CUDA_ONE_BLOCK", "off") && e->smem * 4 > SMEM_PER_SM_MAX / 2;
  /* The free part's many blocks: as many on an SM as its shared memory
   * allows (and at least 64 registers each), so that registers never
   * limit them further (without the bound, the solve's column in
   * registers left DeltaNet's and KDA's free parts fewer blocks per SM
   * and slower). LRC_CUDA_FREE_BLOCKS=off. */
  int blocks = alone ? 1 : 0;
  if (e->phase == PHASE_FREE && !alone && !env_is("LRC_CUDA_FREE_BLOCKS", "off")) {
    blocks = blocks_by_smem(e);
    if (blocks > 2048 / e->threads) blocks = 2048 / e->threads;
    if (blocks > 65536 / (e->threads * 64)) blocks = 65536 / (e->threads * 64);
  }
  buf_printf(o, "\n%s __global__ void __launch_bounds__(%d", e->jit ? "extern \"C\"" : "static",
             e->threads);
  if (blocks) buf_printf(o, ", %d", blocks);
  buf_printf(o, ") %s_%s(", k->name, suffix);
  put_params(e, true);
  buf_puts(o, ", float *lrc_scratch");
  if (e->phase) buf_puts(o, ", float *lrc_phase");
  buf_puts(o, ") {\n  (void)B;\n  (void)N;\n  (void)lrc_scratch;\n");
  if (fresh_tid()) buf_puts(o, "  const unsigned lrc_tid = threadIdx.x;\n");
  if (e->smem) buf_puts(o, "  extern __shared__ __align__(128) float lrc_smem[];\n");
  e->nhoisted = 0, e->fold_xs = NULL, e->fold_ld = NULL;
  if (!shared)
    buf_printf(o, "  float *lrc_mem = lrc_scratch + (int64_t)(blockIdx.y * gridDim.x + blockIdx.x) * %ld;\n",
               e->scratch);
  for (int t = 0; t < k->tiles.len; t++) {
    if (!e->tile_len[t]) continue;   /* not in this part */
    const char *ty = e->tile_half && e->tile_half[t] ? "__nv_bfloat16" : "float";
    for (int h = 0; h < (e->tile_ahead && e->tile_ahead[t] ? 2 : 1); h++) {
      long off = h ? e->tile_ahead[t] : e->tile_off[t];
      buf_printf(o, "  %s *%s", ty, shares(e, t) ? "" : "__restrict__ ");
      em_put_tile_name(e, t);
      if (e->tile_ahead && e->tile_ahead[t]) buf_printf(o, "_%d", h);   /* (put_ahead) */
      if (*ty == '_') buf_printf(o, " = (%s *)(lrc_smem + %ld);\n", ty, off);
      else buf_printf(o, " = %s + %ld;\n", e->tile_smem[t] ? "lrc_smem" : "lrc_mem", off);
    }
  }
  e->tile_tf32 = tf32_tiles(e);
  e->reg_state = state_regs(e);
  emit_block(e, &k->body, 1, true);
  buf_puts(o, "}\n");
}

/* The launcher's lines that let function `fn` have its shared memory. */
static void put_smem_attr(Emit *e, const char *fn) {
  if (e->smem * 4 <= 48 * 1024) return;
  buf_printf(e->out,
             "    if ((err = cudaFuncSetAttribute(%s_%s, cudaFuncAttributeMaxDynamicSharedMemorySize, "
             "%ld)) != cudaSuccess)\n      return (int)err;\n",
             e->k->name, fn, e->smem * 4);
}

static void put_launch(Emit *e, const char *fn, const char *grid, bool phase) {
  const Kernel *k = e->k;
  buf_printf(e->out, "    %s_%s<<<%s, %d, %ld, stream>>>(", k->name, fn, grid, e->threads, e->smem * 4);
  for (int i = 0; i < k->bufs.len; i++) {
    buf_puts(e->out, i ? ", " : "");
    em_put_buf_name(e, i);
  }
  buf_printf(e->out, ", B, T, H, N, lrc_scratch%s);\n", phase ? ", lrc_phase" : "");
}

/* Does statement list b (n statements of it) hold serial work: a
 * triangular solve, or a cumulative sum of more than one column? */
static bool serial_work(const Kernel *k, const KBlock *b, int n) {
  for (int i = 0; i < n && i < b->len; i++) {
    const KStmt *s = b->data[i];
    if (s->kind == KS_TRISOLVE) return true;
    if (s->kind == KS_CUMSUM && __builtin_popcount(k->tiles.data[s->tile].dims) > 1) return true;
    if (serial_work(k, &s->body, s->body.len) || serial_work(k, &s->orelse, s->orelse.len))
      return true;
  }
  return false;
}

/* Does the phased form pay, given the sizes that cg_cuda_phased weighs?
 * Where the free part holds serial work (the WY form's triangular solve,
 * a per-column gate's cumulative sum), which the fused kernel does chunk
 * after chunk while the phased one does it for all chunks at once. Where
 * it does not (a scalar gate: simple GLA, RetNet, Mamba2), the fused
 * kernel ran faster on the H200 in float (simple GLA 1.39 against 1.60
 * ms, see docs/perf-cuda.md v7); with bfloat16 I/O, phase_pays. */
bool cg_cuda_phase_pays(const Kernel *k) {
  const KStmt *loop = k->phase_loop;
  return loop && serial_work(k, &loop->body, k->phase_nfree);   /* (lets, then free) */
}

/* The same for the emitted parts: also where the rest keeps its records
 * in bf16 (bfloat16 I/O, half_tiles), which took simple GLA from 0.97 ms
 * fused to 0.82 phased (docs/perf-cuda.md v10). */
static bool phase_pays(const Kernel *k, const Emit *er) {
  return cg_cuda_phase_pays(k) || er->tile_half;
}

/* The source: the kernel, and with ef and er the two parts of its phased
 * form, then (not for the JIT) the launcher, which takes the phased form
 * where it pays (cg_cuda_phased; -DLRC_PHASED=0 or 1 decides instead). */
static void emit_source(Emit *e, Emit *ef, Emit *er, Emit *ew, const char *hname) {
  const Kernel *k = e->k;
  Buf *o = e->out;
  buf_printf(o, "/* %s.cu — generated by lrc %s: rnn %s, algorithm %s. */\n", k->name,
             LRC_VERSION_STRING_INTERNAL, k->g->name, k->algo);
  if (hname) buf_printf(o, "#include \"%s\"\n", hname);
  buf_puts(o, e->jit ? jit_includes : cuda_includes);
  buf_puts(o, cuda_prelude);
  if (fresh_tid()) buf_puts(o, tid_prelude);
  emit_function(e, "kernel");
  if (ef) {
    emit_function(ef, "free");
    emit_function(er, "rest");
    if (ew) emit_function(ew, "rest_row");
  }
  if (e->jit) return;   /* the runtime launches it (runtime/cuda.c) */
  buf_puts(o, "\n");
  if (ew)
    buf_puts(o, "/* The device's SM count (0: unknown), read once per device (the first 64). */\n"
                "static int lrc_sm_count(void) {\n"
                "  static int seen[64];\n"
                "  int dev, n = 0;\n"
                "  if (cudaGetDevice(&dev) != cudaSuccess) return 0;\n"
                "  if (dev < 64 && (n = __atomic_load_n(&seen[dev], __ATOMIC_RELAXED)) != 0) return n;\n"
                "  if (cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess)\n"
                "    return 0;\n"
                "  if (dev < 64) __atomic_store_n(&seen[dev], n, __ATOMIC_RELAXED);\n"
                "  return n;\n"
                "}\n\n");
  buf_printf(o, "extern \"C\" int %s(", k->name);
  put_params(e, true);
  buf_puts(o, ", cudaStream_t stream) {\n");
  buf_puts(o, "  const int64_t rows = N * H;\n  if (rows <= 0) return 0;\n"
              "  cudaError_t err = cudaSuccess;\n"
              "  float *lrc_scratch = NULL;\n");
  if (ef) {
    buf_puts(o, "#ifdef LRC_PHASED\n  const bool phased = LRC_PHASED;\n#else\n");
    if (CG_PHASED_AUTO && phase_pays(k, er))
      buf_printf(o, "  const bool phased = rows * %d <= %d && B * T >= %dll * %d * N;\n",
                 e->nsplit, CG_PHASED_MAX_BLOCKS, CG_PHASED_MIN_CHUNKS, k->phase_chunk);
    else
      buf_puts(o, "  const bool phased = false;   /* (-DLRC_PHASED=1 to take it) */\n");
    buf_puts(o, "#endif\n");
    buf_printf(o, "  if (phased) {\n    const int64_t slots = B * T / %d + N;\n    float *lrc_phase = NULL;\n",
               k->phase_chunk);
    put_smem_attr(ef, "free");
    put_smem_attr(er, "rest");
    if (ew) {
      /* (where the GPU cannot give the rest on one row its shared
       * memory, the rest on split columns serves) */
      buf_printf(o, "#ifdef LRC_ROW_REST\n    bool whole = LRC_ROW_REST;\n#else\n"
                    "    const int sms = lrc_sm_count();\n"
                    "    bool whole = sms > 0 && rows * %d > sms;   /* (cg_cuda_whole_rows) */\n"
                    "#endif\n", er->nsplit);
      if (ew->smem * 4 > 48 * 1024)
        buf_printf(o,
                   "    if (whole && cudaFuncSetAttribute(%s_rest_row, "
                   "cudaFuncAttributeMaxDynamicSharedMemorySize, %ld) != cudaSuccess) {\n"
                   "      (void)cudaGetLastError();\n      whole = false;\n    }\n",
                   k->name, ew->smem * 4);
    }
    buf_printf(o,
               "    size_t scratch = sizeof(float) * %ldull * (size_t)(slots * H);\n"
               "    if (scratch < sizeof(float) * %ldull * (size_t)(rows * %d))\n"
               "      scratch = sizeof(float) * %ldull * (size_t)(rows * %d);\n",
               ef->scratch, er->scratch, er->nsplit, er->scratch, er->nsplit);
    /* The records (a GB at B=8 T=4096 H=16 K=V=128) stay in the device's
     * pool once freed, or each call would get them anew from the
     * system; set once per device (the first 64; two threads racing
     * may both set it, which is harmless). */
    buf_puts(o, "    static uint64_t kept;   /* devices whose pool keeps its memory */\n"
                "    int dev;\n    cudaMemPool_t pool;\n"
                "    if (cudaGetDevice(&dev) == cudaSuccess &&\n"
                "        (dev >= 64 || !(__atomic_load_n(&kept, __ATOMIC_RELAXED) >> dev & 1)) &&\n"
                "        cudaDeviceGetDefaultMemPool(&pool, dev) == cudaSuccess) {\n"
                "      uint64_t keep = ~0ull;\n"
                "      if (cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep) == "
                "cudaSuccess && dev < 64)\n"
                "        __atomic_fetch_or(&kept, 1ull << dev, __ATOMIC_RELAXED);\n    }\n");
    buf_printf(o,
               "    if ((err = cudaMallocAsync((void **)&lrc_phase, sizeof(float) * %ldull * "
               "(size_t)(slots * H), stream)) != cudaSuccess)\n      return (int)err;\n",
               k->phase_rec);
    buf_puts(o, "    if (scratch && (err = cudaMallocAsync((void **)&lrc_scratch, scratch, stream)) != "
                "cudaSuccess) {\n      cudaFreeAsync(lrc_phase, stream);\n      return (int)err;\n    }\n");
    put_launch(ef, "free", "dim3((unsigned)slots, (unsigned)H)", true);
    buf_puts(o, ew ? "    if ((err = cudaGetLastError()) == cudaSuccess) {\n      if (whole)\n    "
                   : "    if ((err = cudaGetLastError()) == cudaSuccess)\n  ");
    if (ew) {
      put_launch(ew, "rest_row", "(unsigned)rows", true);
      buf_puts(o, "      else\n    ");
    }
    Buf g = {0};
    buf_printf(&g, "(unsigned)(rows * %d)", er->nsplit);
    put_launch(er, "rest", g.s, true);
    buf_free(&g);
    if (ew) buf_puts(o, "    }\n");
    buf_puts(o, "    if (err == cudaSuccess) err = cudaGetLastError();\n"
                "    cudaFreeAsync(lrc_phase, stream);\n"
                "    if (lrc_scratch) cudaFreeAsync(lrc_scratch, stream);\n"
                "    return (int)err;\n  }\n");
  }
  buf_puts(o, "  {\n");
  put_smem_attr(e, "kernel");
  if (e->scratch)
    buf_printf(o,
               "    if ((err = cudaMallocAsync((void **)&lrc_scratch, sizeof(float) * %ldull * "
               "(size_t)(rows * %d), stream)) != cudaSuccess)\n      return (int)err;\n",
               e->scratch, e->nsplit);
  Buf g = {0};
  buf_printf(&g, "(unsigned)(rows * %d)", e->nsplit);
  put_launch(e, "kernel", g.s, false);
  buf_free(&g);
  buf_puts(o, "    err = cudaGetLastError();\n");
  if (e->scratch) buf_puts(o, "    cudaFreeAsync(lrc_scratch, stream);\n");
  buf_puts(o, "    return (int)err;\n  }\n}\n");
}

/* May dim d be split across the blocks of a row (each block its slice)?
 * Only if no statement mixes its elements: no sum or maximum over it, no
 * running sum, solve or interleave along it, no read of a tile under
 * another dim's index and no mask on it (they see global indices). */
static bool expr_splittable(const Kernel *k, int x, int d) {
  const KExpr *ex = &k->exprs.data[x];
  switch (ex->kind) {
  case KE_READ: return ex->dim_a < 0 || (ex->dim_a != d && ex->dim_b != d);
  case KE_MASK: return ex->dim_a != d && ex->dim_b != d;
  case KE_BELOW: return ex->dim_a != d;
  case KE_UNARY: return expr_splittable(k, ex->a, d);
  case KE_BINARY: return expr_splittable(k, ex->a, d) && expr_splittable(k, ex->b, d);
  default: return true;
  }
}

static bool splittable(const Kernel *k, const KBlock *b, int d) {
  DimSet bit = 1u << d;
  for (int i = 0; i < b->len; i++) {
    const KStmt *s = b->data[i];
    switch (s->kind) {
    case KS_FOR:
    case KS_IF_NULL:
    case KS_IF_LESS:
      if (!splittable(k, &s->body, d) || !splittable(k, &s->orelse, d)) return false;
      break;
    case KS_NEST:
      for (int j = 0; j < s->assigns.len; j++) {
        const KAssign *a = &s->assigns.data[j];
        if (((s->space & bit) && !(k->tiles.data[a->tile].dims & bit)) ||
            !expr_splittable(k, a->expr, d))
          return false;
      }
      break;
    case KS_CUMSUM:
    case KS_TRISOLVE:
    case KS_INTERLEAVE:
      if (s->dim == d || s->dim2 == d || (s->tile2 >= 0 && (k->tiles.data[s->tile2].dims & bit) &&
                                          s->kind == KS_TRISOLVE))
        return false;
      break;
    default:
      break;
    }
  }
  return true;
}

/* Splitting a state's columns over several blocks per row multiplies the
 * blocks (B·H rows fill few of a GPU's SMs) and shrinks each block's tiles;
 * what does not depend on the split dim is computed in every block. The
 * largest splittable dim of a state, into slices of LRC_CUDA_SPLIT
 * columns; off by default: measured, it pays only where the split-off
 * work dominates (docs/perf-cuda.md). */
/* Threads per block from the environment: whole warps, at most 1024 (the
 * default otherwise). */
static int env_threads(const char *name, int dflt) {
  long n = env_long(name, dflt);
  return n >= 32 && n <= 1024 && n % 32 == 0 ? (int)n : dflt;
}

static const Kernel *split(const Kernel *k, Emit *e, long cols) {
  long *full = arena_alloc(k->arena, sizeof(long) * (size_t)(k->dims.len + 1));
  for (int d = 0; d < k->dims.len; d++) full[d] = k->dims.data[d].size;
  e->full = full, e->split_dim = -1, e->nsplit = 1;
  if (cols <= 0) return k;
  DimSet cand = 0;
  for (int i = 0; i < k->g->states.len; i++) cand |= k->g->states.data[i].dimset;
  int best = -1;
  for (int d = 0; d < k->g->dims.len && d < k->dims.len; d++) {
    long n = full[d];
    if (!(cand & (1u << d)) || n <= cols || n % cols || !splittable(k, &k->body, d)) continue;
    if (best < 0 || n > full[best]) best = d;
  }
  if (best < 0) return k;
  Kernel *kk = arena_alloc(k->arena, sizeof *kk);
  *kk = *k;
  kk->dims.data = arena_alloc(k->arena, sizeof(DimInfo) * (size_t)(k->dims.len + 1));
  memcpy(kk->dims.data, k->dims.data, sizeof(DimInfo) * (size_t)k->dims.len);
  kk->dims.data[best].size = cols;
  e->split_dim = best, e->nsplit = (int)(full[best] / cols);
  return kk;
}

static KStmt *stmt_shell(Arena *a, const KStmt *s) {
  KStmt *c = arena_alloc(a, sizeof *c);
  *c = *s;
  c->body = (KBlock){0};
  c->orelse = (KBlock){0};
  return c;
}

/* The free part's schedule (schedule_free): per statement, the tiles it
 * uses (1 read, 2 written) and which come after which. */
typedef struct Sched {
  const Kernel *k;
  int n, nt, fixed;
  unsigned char **use;
  unsigned char *dep;    /* dep[i * n + j]: j after i */
  long *size;            /* per tile, floats */
} Sched;

/* A partial order: what is done, what each tile holds, its reads left. */
typedef struct SchedState {
  long peak, now;        /* floats live: at most so far, after the last */
  int len;
  int *order, *npred, *reads;
  unsigned char *done, *live;
} SchedState;

/* false where memory ran out (what was allocated is freed by sched_free) */
static bool sched_alloc(const Sched *sc, SchedState *st) {
  st->order = calloc((size_t)sc->n, sizeof(int));
  st->npred = calloc((size_t)sc->n, sizeof(int));
  st->reads = calloc((size_t)sc->nt + 1, sizeof(int));
  st->done = calloc((size_t)sc->n, 1);
  st->live = calloc((size_t)sc->nt + 1, 1);
  return st->order && st->npred && st->reads && st->done && st->live;
}

static void sched_free(SchedState *st) {
  free(st->order), free(st->npred), free(st->reads), free(st->done), free(st->live);
}

static void sched_copy(const Sched *sc, SchedState *d, const SchedState *s) {
  d->peak = s->peak, d->now = s->now, d->len = s->len;
  memcpy(d->order, s->order, sizeof(int) * (size_t)sc->n);
  memcpy(d->npred, s->npred, sizeof(int) * (size_t)sc->n);
  memcpy(d->reads, s->reads, sizeof(int) * (size_t)(sc->nt + 1));
  memcpy(d->done, s->done, (size_t)sc->n);
  memcpy(d->live, s->live, (size_t)sc->nt + 1);
}

/* The start: the lets done, every tile's reads counted, the tiles read
 * before they are written (their values from the row's statements) live. */
static void sched_start(const Sched *sc, SchedState *st) {
  int n = sc->n, nt = sc->nt;
  memset(st->npred, 0, sizeof(int) * (size_t)n);
  memset(st->reads, 0, sizeof(int) * (size_t)(nt + 1));
  memset(st->done, 0, (size_t)n);
  memset(st->live, 0, (size_t)nt + 1);
  for (int j = sc->fixed; j < n; j++)
    for (int i = sc->fixed; i < j; i++) st->npred[j] += sc->dep[(size_t)i * n + j];
  for (int i = sc->fixed; i < n; i++)
    for (int t = 0; t < nt; t++) st->reads[t] += sc->use[i][t] & 1;
  for (int t = 0; t < nt; t++)
    for (int i = sc->fixed; i < n; i++) {
      if (sc->use[i][t] & 1) {
        st->live[t] = 1;
        break;
      }
      if (sc->use[i][t] & 2) break;
    }
  st->now = 0;
  for (int t = 0; t < nt; t++) st->now += st->live[t] ? sc->size[t] : 0;
  st->peak = st->now;
  for (int i = 0; i < sc->fixed; i++) st->order[i] = i, st->done[i] = 1;
  st->len = sc->fixed;
}

/* The live floats while statement j runs (what is live, and what it
 * writes that will be read), after it (what it read for the last time
 * gone) into *after. */
static long sched_during(const Sched *sc, const SchedState *st, int j, long *after) {
  long during = st->now, gone = 0;
  for (int t = 0; t < sc->nt; t++) {
    unsigned char u = sc->use[j][t];
    if ((u & 2) && !st->live[t] && st->reads[t] > (u & 1)) during += sc->size[t];
    if ((u & 1) && st->reads[t] == 1) gone += sc->size[t];
  }
  *after = during - gone;
  return during;
}

static void sched_take(const Sched *sc, SchedState *st, int j) {
  long after;
  long during = sched_during(sc, st, j, &after);
  if (during > st->peak) st->peak = during;
  st->now = after;
  st->order[st->len++] = j;
  st->done[j] = 1;
  for (int t = 0; t < sc->nt; t++) {
    if (sc->use[j][t] & 1) st->reads[t]--;
    if (sc->use[j][t] & 2) st->live[t] = 1;
    if (st->reads[t] == 0) st->live[t] = 0;
  }
  for (int i = sc->fixed; i < sc->n; i++)
    if (sc->dep[(size_t)j * sc->n + i]) st->npred[i]--;
}

/* The list schedule: at each step the ready statement that adds the
 * least live memory (the first of those that add as little). */
static void sched_greedy(const Sched *sc, SchedState *st) {
  sched_start(sc, st);
  while (st->len < sc->n) {
    int best = -1;
    long best_cost = 0;
    for (int j = sc->fixed; j < sc->n; j++) {
      if (st->done[j] || st->npred[j]) continue;
      long after;
      sched_during(sc, st, j, &after);
      if (best < 0 || after - st->now < best_cost) best = j, best_cost = after - st->now;
    }
    sched_take(sc, st, best);
  }
}

enum { BEAM = 24 };

static bool sched_better(const SchedState *a, const SchedState *b) {
  return a->peak != b->peak ? a->peak < b->peak : a->now < b->now;
}

/* A beam search over the orders: every partial order extended by each
 * ready statement, the BEAM best kept (by peak, then live memory now;
 * of those with the same statements done, the better), to the end: the
 * order with the lowest peak found, into *best; false where memory ran
 * out. */
static bool sched_beam(const Sched *sc, SchedState *best) {
  int n = sc->n, cap = BEAM * (n + 1);
  SchedState *cur = calloc(BEAM, sizeof *cur), *next = calloc((size_t)cap, sizeof *next);
  bool ok = cur && next;
  for (int i = 0; ok && i < BEAM; i++) ok = sched_alloc(sc, &cur[i]);
  for (int i = 0; ok && i < cap; i++) ok = sched_alloc(sc, &next[i]);
  if (!ok) {
    for (int i = 0; cur && i < BEAM; i++) sched_free(&cur[i]);
    for (int i = 0; next && i < cap; i++) sched_free(&next[i]);
    free(cur), free(next);
    return false;
  }
  int ncur = 1;
  sched_start(sc, &cur[0]);
  for (int step = sc->fixed; step < n; step++) {
    int nnext = 0;
    for (int c = 0; c < ncur; c++)
      for (int j = sc->fixed; j < n; j++) {
        if (cur[c].done[j] || cur[c].npred[j]) continue;
        SchedState *x = &next[nnext];
        sched_copy(sc, x, &cur[c]);
        sched_take(sc, x, j);
        int same = -1;
        for (int q = 0; q < nnext && same < 0; q++)
          if (!memcmp(next[q].done, x->done, (size_t)n)) same = q;
        if (same < 0) nnext++;
        else if (sched_better(x, &next[same])) sched_copy(sc, &next[same], x);
      }
    /* the BEAM best to the front (selection: few) */
    int keep = nnext < BEAM ? nnext : BEAM;
    for (int a = 0; a < keep; a++) {
      int m = a;
      for (int q = a + 1; q < nnext; q++)
        if (sched_better(&next[q], &next[m])) m = q;
      if (m != a) {
        SchedState t = next[a];
        next[a] = next[m], next[m] = t;
      }
      sched_copy(sc, &cur[a], &next[a]);
    }
    ncur = keep;
  }
  sched_copy(sc, best, &cur[0]);
  for (int i = 0; i < BEAM; i++) sched_free(&cur[i]);
  for (int i = 0; i < cap; i++) sched_free(&next[i]);
  free(cur), free(next);
  return true;
}

/* The free part's statements (after its `fixed` lets) reordered to keep
 * few tiles live at once, so that more blocks share an SM, over their
 * dependences (a statement after every earlier one it conflicts with on
 * a tile, or on the caller's buffers unless one of them is a store to
 * the chunk records): a list schedule taking at each step the ready
 * statement that adds the least live memory (what it writes that was
 * not live, less what it reads for the last time); with `beam`, where it
 * has a lower peak, the order a beam search finds (sched_beam: Gated
 * DeltaNet's W = T Y and its record before v's load and U = T v0, so
 * that T, Y, v0 and U are never live at once; phase_emits keeps it where
 * the placement takes less memory). Within one trip: the free part
 * carries nothing from chunk to chunk. */
static void schedule_free(const Kernel *k, KBlock *b, int fixed, bool beam) {
  Arena *a = k->arena;
  int n = b->len, nt = k->tiles.len;
  if (n - fixed < 2) return;
  Sched sc = {k, n, nt, fixed, arena_alloc(a, sizeof(unsigned char *) * (size_t)n),
              arena_alloc(a, (size_t)n * (size_t)n), arena_alloc(a, sizeof(long) * (size_t)(nt + 1))};
  for (int i = 0; i < n; i++) {
    sc.use[i] = arena_alloc(a, (size_t)nt + 1);
    kir_use_tree(k, b->data[i], sc.use[i]);
    if (b->data[i]->kind == KS_STORE && b->data[i]->buf == PHASE_BUF) sc.use[i][nt] = 0;
  }
  for (int t = 0; t < nt; t++) sc.size[t] = kir_tile_count(k, t);
  for (int j = fixed; j < n; j++)
    for (int i = fixed; i < j; i++)
      for (int t = 0; t <= nt; t++)
        if ((sc.use[i][t] & 2 && sc.use[j][t]) || (sc.use[i][t] & 1 && sc.use[j][t] & 2)) {
          sc.dep[(size_t)i * n + j] = 1;
          break;
        }
  SchedState g = {0}, bm = {0};
  if (!sched_alloc(&sc, &g)) {   /* (out of memory: the KIR's order) */
    sched_free(&g);
    return;
  }
  sched_greedy(&sc, &g);
  const SchedState *take = &g;
  if (beam && sched_alloc(&sc, &bm) && sched_beam(&sc, &bm) && bm.peak < g.peak) take = &bm;
  KStmt **out = arena_alloc(a, sizeof *out * (size_t)n);
  for (int i = 0; i < n; i++) out[i] = b->data[take->order[i]];
  memcpy(b->data, out, sizeof *out * (size_t)n);
  sched_free(&g);
  sched_free(&bm);
}

/* The two parts of k's phased form (Kernel.phase_loop) as kernels of their
 * own, sharing k's tiles, indices and expressions: the free part (the
 * row's statements before the chunk loop that it needs, its free
 * statements, the stores of the tiles that cross) with one block per
 * chunk; the rest (the row's statements, the chunk loop with the loads
 * of the crossing tiles, the chain and the readouts). false where k has
 * no phased form this backend can take. */
static bool phase_parts(const Kernel *k, bool beam, Kernel **pf, Kernel **pr, KStmt **grid,
                        const KStmt **rgrid, const KStmt **pre) {
  if (!k->phase_loop || env_is("LRC_CUDA_PHASED", "off") || k->body.len != 1) return false;
  const KStmt *par = k->body.data[0];
  if (par->kind != KS_FOR || !par->parallel) return false;
  int ci = -1;
  for (int i = 0; i < par->body.len; i++)
    if (par->body.data[i] == k->phase_loop) ci = i;
  if (ci < 0) return false;
  Arena *a = k->arena;
  const KBlock *lb = &k->phase_loop->body;
  int nt = k->tiles.len, nlets = 0, nfree = k->phase_nfree;
  while (nlets < lb->len && lb->data[nlets]->kind == KS_LET) nlets++;
  Kernel *f = arena_alloc(a, sizeof *f), *r = arena_alloc(a, sizeof *r);
  *f = *k, *r = *k;
  f->body = (KBlock){0}, r->body = (KBlock){0};
  KStmt *fpar = stmt_shell(a, par), *rpar = stmt_shell(a, par);
  VEC_PUSH(a, f->body, fpar);
  VEC_PUSH(a, r->body, rpar);
  /* The free part: what its statements read (back through the row's
   * statements below), and where each crossing tile is last written
   * (stored there, its space free for others from there). */
  unsigned char *live = arena_alloc(a, (size_t)nt + 1), *use = arena_alloc(a, (size_t)nt + 1);
  int *last = arena_alloc(a, sizeof(int) * (size_t)(nt + 1));
  for (int t = 0; t < nt; t++) last[t] = nlets - 1;
  for (int i = 0; i < nfree; i++) {
    memset(use, 0, (size_t)nt + 1);
    kir_use_tree(k, lb->data[i], use);
    for (int t = 0; t < nt; t++) {
      live[t] |= use[t] & 1;
      if ((use[t] & 2) && i >= nlets) last[t] = i;
    }
  }
  bool *keep = arena_alloc(a, (size_t)ci + 1);
  for (int i = ci - 1; i >= 0; i--) {
    const KStmt *s = par->body.data[i];
    memset(use, 0, (size_t)nt + 1);
    kir_use_tree(k, s, use);
    keep[i] = s->kind == KS_LET;
    for (int t = 0; t < nt; t++) keep[i] |= (use[t] & 2) && live[t];
    if (keep[i])
      for (int t = 0; t < nt; t++) live[t] |= use[t] & 1;
  }
  for (int i = 0; i < ci; i++)
    if (keep[i]) VEC_PUSH(a, fpar->body, par->body.data[i]);
  KStmt *floop = stmt_shell(a, k->phase_loop), *rloop = stmt_shell(a, k->phase_loop);
  VEC_PUSH(a, fpar->body, floop);
  for (int i = 0; i < nfree; i++) {
    VEC_PUSH(a, floop->body, lb->data[i]);
    for (int t = 0; t < nt; t++) {
      if (k->phase_at[t] < 0 || last[t] != i) continue;
      KStmt *st = kir_stmt(f, &floop->body, KS_STORE);
      st->tile = t, st->buf = PHASE_BUF, st->idx = k->phase_at[t];
    }
  }
  for (int i = 0; i < nlets; i++) VEC_PUSH(a, rloop->body, lb->data[i]);
  const KStmt *first = NULL;
  for (int t = 0; t < nt; t++) {
    if (k->phase_at[t] < 0) continue;
    KStmt *ld = kir_stmt(r, &rloop->body, KS_LOAD);
    ld->tile = t, ld->buf = PHASE_BUF, ld->idx = k->phase_at[t];
    if (!first) first = ld;
  }
  for (int i = nfree; i < lb->len; i++) VEC_PUSH(a, rloop->body, lb->data[i]);
  for (int i = 0; i < par->body.len; i++)
    VEC_PUSH(a, rpar->body, i == ci ? rloop : par->body.data[i]);
  if (!env_is("LRC_CUDA_PHASE_SCHED", "off")) schedule_free(f, &floop->body, nlets, beam);
  *pf = f, *pr = r, *grid = floop, *rgrid = rloop, *pre = first;
  return true;
}

/* Blocks an SM that the rest's registers allow where it keeps its state
 * in them (state_regs): the state's floats a thread and 96 more (ptxas,
 * the rests on one row at K = V = 128: 64 floats of state a thread on
 * 256 threads, Gated DeltaNet's 198 registers, DeltaNet's 138; simple
 * GLA's, 128 on 128, 214): one block of DeltaNet's an SM. Elsewhere no
 * bound (a large number). Counted by ahead_tiles (not with
 * LRC_CUDA_AHEAD_MORE=off). */
static int blocks_by_regs(Emit *e) {
  int t = !env_is("LRC_CUDA_AHEAD_MORE", "off") ? state_regs(e) - 1 : -1;
  if (t < 0) return 1 << 20;
  long regs = (count_of(e->k, e->k->tiles.data[t].dims) / e->threads + 96 + 7) & ~7L;
  long n = 65536 / (e->threads * regs);
  return n < 1 ? 1 : (int)n;
}

/* The rest's records loaded a chunk ahead: each tile that a record's
 * load fills by copying bytes (a bf16 tile of bf16 records, rec_perms;
 * a float tile of float records) gets a second buffer, and while the
 * chain works on one chunk, cp.async brings the next chunk's records
 * into the other (put_ahead): the chunk no longer starts by waiting on
 * its loads from L2. Tiles loaded with a conversion (a bf16 record into
 * a float tile), tiles that share memory with others or are used
 * outside the chunk loop keep their loads at the top of the trip (and
 * the prefetch into L2). Taken where the buffers leave the rest as
 * many blocks an SM as before by its shared memory, up to two (see
 * place_pairs). Measured on the H200 (simple GLA, bf16, K = V = 128:
 * the rest 0.437 -> 0.369 ms at T = 4096; docs/perf-cuda.md v12).
 * The blocks an SM are counted by registers too (blocks_by_regs), and
 * a tile that shares memory moves to two buffers of its own where the
 * shared memory allows (DeltaNet's rest on one row: v0 in bf16 with its
 * record ahead, and W, which shared r0's memory, too: 0.392 -> 0.351
 * ms, v15; LRC_CUDA_AHEAD_MORE=off: neither). LRC_CUDA_AHEAD=off: no
 * records ahead. */
static void ahead_tiles(Emit *e) {
  const Kernel *k = e->k;
  int n = k->tiles.len;
  e->tile_ahead = NULL;
  if (env_is("LRC_CUDA_AHEAD", "off") || e->scratch || !e->grid_loop) return;
  bool more = !env_is("LRC_CUDA_AHEAD_MORE", "off");
  long *at = arena_alloc(k->arena, sizeof(long) * (size_t)(n + 1)), *off = NULL;
  long old = e->smem, smem = e->smem, *old_off = e->tile_off;
  int regs = blocks_by_regs(e), before = blocks_by_smem(e);
  if (regs < before) before = regs;
  int cap = before < 2 ? before : 2;
  bool any = false;
  /* (pass 0: tiles alone in their memory; 1: the others moved, where the
   * shared memory allows; 2: those left alone by the moves) */
  for (int pass = 0; pass < (more ? 3 : 1); pass++)
    for (int t = 0; t < n; t++) {
      if (at[t] || k->phase_at[t] < 0 || !e->tile_len[t] || !e->tile_smem[t]) continue;
      if (shares(e, t) != (pass == 1)) continue;
      bool half = e->tile_half && e->tile_half[t];
      if (!half && __builtin_popcount(k->tiles.data[t].dims) >= 2 && e->io) continue;
      if (used_outside(e, &k->body, e->grid_loop, t)) continue;
      long b0 = (smem + 7) & ~7L, b1 = pass == 1 ? (b0 + e->tile_len[t] + 7) & ~7L : b0;
      long end = b1 + e->tile_len[t];
      if (pass == 1) {
        e->smem = end;
        bool fits = end * 4 <= SMEM_MAX && blocks_by_smem(e) >= cap;
        e->smem = old;
        if (!fits) continue;
        if (!off) {
          off = arena_alloc(k->arena, sizeof(long) * (size_t)(n + 1));
          memcpy(off, e->tile_off, sizeof(long) * (size_t)n);
          e->tile_off = off;
        }
        off[t] = b0;
      }
      at[t] = b1;
      smem = end;
      any = true;
    }
  e->smem = smem;
  if (!any || smem * 4 > SMEM_MAX || blocks_by_smem(e) < cap) {
    e->smem = old, e->tile_off = old_off;   /* (no tile moved either) */
    return;
  }
  e->tile_ahead = at;
}

/* The rest's records a chunk ahead (ahead_tiles), its tiles placed.
 * Where the products' bf16 targets (half_tiles: the delta rules' v0) left
 * it no second buffers and their float form has some, the float form:
 * DeltaNet's rest on one row, in 116 KB with v0 in bf16, fits two blocks
 * an SM by shared memory (not by its registers), which the buffers would
 * cost, and ran 0.390 -> 0.434 ms without them (H200, K = V = 128);
 * Gated DeltaNet's keeps both (0.413 -> 0.351). */
static void ahead_rest(Emit *e) {
  ahead_tiles(e);
  if (e->tile_ahead || !e->tile_half || e->float_targets) return;
  Emit f = *e;
  f.float_targets = true;
  place_tiles(&f);
  ahead_tiles(&f);
  if (f.tile_ahead) *e = f;
}

/* The statement of the free part's chunk loop b that writes tile t, if
 * only one does (-1 if none or several). */
static int sole_writer(const Kernel *k, const KBlock *b, int t, unsigned char *use) {
  int w = -1;
  for (int i = 0; i < b->len; i++) {
    memset(use, 0, (size_t)k->tiles.len + 1);
    kir_use_tree(k, b->data[i], use);
    if (!(use[t] & 2)) continue;
    if (w >= 0) return -1;
    w = i;
  }
  return w;
}

/* Is s a load of rows of a per-token input into tile t (its dims: the
 * rows' and the one dim of the input's slot)? */
static bool input_rows(const Kernel *k, const KStmt *s, int t) {
  if (s->kind != KS_LOAD || s->buf < 0 || k->bufs.data[s->buf].role != KB_INPUT || s->rowdim < 0)
    return false;
  const Slot *sl = kir_buf_slot(k, s->buf);
  DimSet td = k->tiles.data[t].dims;
  return sl && sl->ndims == 1 && td == ((1u << s->rowdim) | (1u << sl->dims[0]));
}

/* The records that copy the caller's input (bfloat16 I/O): a crossing
 * tile of the rest's bf16 tiles (half_tiles) that the free part only
 * loads from rows of a per-token input, or copies from a tile that it
 * only so loads (simple GLA's and GLA's v, RetNet's, Mamba2's x), where
 * the rest's products reduce over its rows. The rest loads those rows from the input itself (put_sourced), and the
 * free part neither stores the record nor, where nothing else needs
 * them, loads the rows (drop_sourced): at K = V = 128 a third of simple
 * GLA's record traffic. Per tile, the free part's load, or NULL; NULL
 * where none. LRC_CUDA_SOURCED=off. */
static const KStmt **rec_sources(const Emit *ef, const Emit *er) {
  const Kernel *k = ef->k;
  const KBlock *b = &ef->grid_loop->body;
  if (!er->tile_half || env_is("LRC_CUDA_SOURCED", "off")) return NULL;
  const KStmt **src = arena_alloc(k->arena, sizeof *src * (size_t)(k->tiles.len + 1));
  unsigned char *use = arena_alloc(k->arena, (size_t)k->tiles.len + 1);
  bool any = false;
  for (int t = 0; t < k->tiles.len; t++) {
    if (k->phase_at[t] < 0 || !er->tile_half[t]) continue;
    int w = sole_writer(k, b, t, use);
    if (w < 0) continue;
    const KStmt *s = b->data[w];
    if (s->kind == KS_NEST && s->assigns.len == 1 && s->assigns.data[0].acc == KACC_SET &&
        s->space == k->tiles.data[t].dims) {
      const KExpr *x = &k->exprs.data[s->assigns.data[0].expr];
      if (x->kind != KE_READ || x->dim_a >= 0 || k->tiles.data[x->tile].dims != k->tiles.data[t].dims)
        continue;
      int u = sole_writer(k, b, x->tile, use);
      if (u < 0 || u > w || !input_rows(k, b->data[u], x->tile)) continue;
      s = b->data[u];
    } else if (!input_rows(k, s, t)) {
      continue;
    }
    /* (only where the products reduce over the rows: the tile's rows are
     * placed by put_half_store, which cp.async can do; along the inner
     * dim the 8 values of 16 bytes would be permuted, as rec_perm stores
     * them and the input does not hold them) */
    if (er->tile_half[t] - 1 != s->rowdim) continue;
    src[t] = s;
    any = true;
  }
  return any ? src : NULL;
}

/* The free part without the stores of the records the rest loads from
 * the input (rec_sources), nor the statements that then compute nothing
 * used (the input's load and the copy, where nothing else reads them). */
static void drop_sourced(const Kernel *f, KStmt *floop, const KStmt **src) {
  KBlock *b = &floop->body;
  int nt = f->tiles.len, m = 0;
  unsigned char *live = arena_alloc(f->arena, (size_t)nt + 1), *use = arena_alloc(f->arena, (size_t)nt + 1);
  bool *keep = arena_alloc(f->arena, (size_t)b->len + 1);
  /* Statements may go only where all they write is a sourced tile or
   * the tile a sourced one copies (the rest of the free part as it was). */
  bool *cand = arena_alloc(f->arena, (size_t)nt + 1);
  for (int t = 0; t < nt; t++)
    if (src[t]) cand[t] = cand[src[t]->tile] = true;
  for (int i = b->len - 1; i >= 0; i--) {
    const KStmt *s = b->data[i];
    memset(use, 0, (size_t)nt + 1);
    kir_use_tree(f, s, use);
    if (s->kind == KS_STORE && s->buf == PHASE_BUF) {
      keep[i] = !src[s->tile];
    } else if (s->kind == KS_NEST || s->kind == KS_LOAD || s->kind == KS_COPY || s->kind == KS_FILL) {
      keep[i] = (use[nt] & 2) != 0;   /* (a write to the caller's buffers) */
      for (int t = 0; t < nt; t++) keep[i] |= (use[t] & 2) && (live[t] || !cand[t]);
    } else {
      keep[i] = true;
    }
    if (!keep[i]) continue;
    int whole = kir_whole_write(f, s, 0);
    for (int t = 0; t < nt; t++) {
      if ((use[t] & 2) && !(use[t] & 1) && whole == t) live[t] = 0;
      if (use[t] & 1) live[t] = 1;
    }
  }
  for (int i = 0; i < b->len; i++)
    if (keep[i]) b->data[m++] = b->data[i];
  b->len = m;
}

/* The products (on the tensor cores) and the other sums (a reduction
 * nest: a normaliser's q z over K) in b, added to *np and *ns. */
static void count_sums(const Emit *e, const KBlock *b, int *np, int *ns) {
  const Kernel *k = e->k;
  for (int i = 0; i < b->len; i++) {
    const KStmt *s = b->data[i];
    count_sums(e, &s->body, np, ns);
    count_sums(e, &s->orelse, np, ns);
    for (int j = 0; s->kind == KS_NEST && j < s->assigns.len; j++) {
      const KAssign *a = &s->assigns.data[j];
      Mma m;
      if (mma_form(e, s, a, &m)) ++*np;
      else if (s->space & ~k->tiles.data[a->tile].dims) ++*ns;
    }
  }
}

static bool same_perms(const unsigned char *a, const unsigned char *b, int n) {
  for (int t = 0; t < n; t++)
    if ((a && a[t]) != (b && b[t])) return false;
  return true;
}

/* The rest on one block a row, beside the rest whose state columns are
 * split (er): where the split's blocks, B H times its slices, are more
 * than the SMs, some SMs take two of them and the rows' records are
 * loaded once per slice; one block a row then ran faster (H200, bf16,
 * K = V = 128, B H = 128 on 132 SMs: rest ms 0.395 -> 0.359 simple
 * GLA, 0.382 -> 0.329 GLA on 128 threads, 0.523 -> 0.479 Gated
 * DeltaNet, 0.492 -> 0.464 DeltaNet on 256; docs/perf-cuda.md v12).
 * The launcher picks by the SM count (cg_cuda_whole_rows). 256 threads
 * where the chain holds more products than a state's readout, intra-
 * chunk term and update (the WY form's W S) or a sum off the tensor
 * cores (a normaliser's q z: 32 points, one thread each, over K; H200,
 * rests 0.805 -> 0.665 ms mLSTM, 0.730 -> 0.631 linear attention (elu);
 * simple GLA, RetNet, HGRN2 3-6% slower on 256: docs/perf-cuda.md v18),
 * else 128; LRC_CUDA_ROW_THREADS sets it, LRC_CUDA_ROW=off leaves the
 * form out.
 * Only where it reads the records in the order the free part stores
 * them for er (rec_perms) and keeps its tiles on chip. */
static bool row_emit(const Kernel *r, const Emit *er, const unsigned char *perm, Emit *ew) {
  if (er->nsplit <= 1 || er->scratch || env_is("LRC_CUDA_ROW", "off")) return false;
  *ew = *er;
  ew->smem = ew->scratch = 0;
  ew->tile_ahead = NULL;
  int np = 0, ns = 0;
  count_sums(er, &er->grid_loop->body, &np, &ns);
  ew->threads = env_threads("LRC_CUDA_ROW_THREADS", np > 3 || ns > 0 ? 256 : 128);
  ew->k = split(r, ew, 0);
  place_tiles(ew);
  ahead_rest(ew);
  for (int t = 0; er->rec_src && t < r->tiles.len; t++)
    if (er->rec_src[t] && !(ew->tile_half && ew->tile_half[t] == er->tile_half[t])) return false;
  return !ew->scratch && same_perms(rec_perms(ew), perm, r->tiles.len);
}

/* The parts of the phased form set up for emission: the rest's state
 * columns split over LRC_CUDA_PHASE_SPLIT-wide slices (64 unless set) on
 * LRC_CUDA_PHASE_THREADS threads (128), and the rest on one block a row
 * (ew, row_emit; ew->k NULL where there is none), the free part on
 * LRC_CUDA_FREE_THREADS (512): the best of those measured
 * (docs/perf-cuda.md, v6, v7 and v12). */
static bool phase_emits_by(const Kernel *k, const Emit *e, bool beam, Emit *ef, Emit *er, Emit *ew) {
  Kernel *f, *r;
  KStmt *grid;
  const KStmt *rgrid, *pre;
  if (!phase_parts(k, beam, &f, &r, &grid, &rgrid, &pre)) return false;
  *ef = *e, *er = *e;
  ef->phase = PHASE_FREE, er->phase = PHASE_REST;
  ef->smem = ef->scratch = er->smem = er->scratch = 0;
  ef->grid_loop = grid;
  er->grid_loop = rgrid;
  er->prefetch_at = env_is("LRC_CUDA_PREFETCH", "off") ? NULL : pre;
  er->threads = env_threads("LRC_CUDA_PHASE_THREADS", 128);
  ef->k = split(f, ef, 0);
  er->k = split(r, er, env_long("LRC_CUDA_PHASE_SPLIT", 64));
  place_tiles(er);
  er->rec_src = rec_sources(ef, er);
  if (er->rec_src) drop_sourced(f, grid, er->rec_src);
  place_tiles(ef);
  er->ahead_at = pre;
  ahead_rest(er);
  ef->rec_perm = rec_perms(er);
  if (!row_emit(r, er, ef->rec_perm, ew)) ew->k = NULL;
  /* The free part's blocks wait at barriers more than anything: where
   * its shared memory lets three or more blocks share an SM, blocks of
   * 128 threads (their waits overlap, and each barrier waits for fewer
   * warps, fewer of them idle in the solve's and the gates' 32-thread
   * steps), else two of 512 (H200, bf16, K = V = 128: Gated DeltaNet's
   * free part 1.49 -> 1.19 ms at 256, 0.78 -> 0.73 at 128; DeltaNet's
   * 1.33 -> 1.06 -> 0.72 -> 0.66; GLA, KDA and DeltaProduct, two blocks
   * either way, lose 3-6% at 256, 3-12% at 128). */
  int free_dflt = blocks_by_smem(ef) >= 3 ? 128 : THREADS;
  ef->threads = env_threads("LRC_CUDA_FREE_THREADS", free_dflt);
  return true;
}

/* The parts with the free part's statements in the beam search's order
 * where its tiles then take less shared memory than in the list
 * schedule's (schedule_free), else in the list schedule's: at K = V =
 * 128 (bf16, with the fold placement), Gated DeltaNet's 57856 bytes
 * (the list order's 67072: three blocks an SM) -> 57344 (four),
 * DeltaNet's 66560 -> 57344 (four), KDA's 81248 -> 72032 and
 * DeltaProduct's 88704 -> 75136 (three, on 128 threads), simple GLA's
 * 56352 -> 51232. Measured on the H200 (docs/perf-cuda.md v20, each
 * free part's time): DeltaProduct -28%, DeltaNet -7%, Gated DeltaNet
 * and simple GLA -3%; the beam order without the fold placement made
 * Gated DeltaNet's 8% slower (three blocks still, its loads later).
 * LRC_CUDA_PHASE_SCHED=list: the list schedule's order; =off: the
 * KIR's. */
static bool phase_emits(const Kernel *k, const Emit *e, Emit *ef, Emit *er, Emit *ew) {
  if (!phase_emits_by(k, e, false, ef, er, ew)) return false;
  Emit bf, br, bw;
  if (env_is("LRC_CUDA_PHASE_SCHED", "list") || env_is("LRC_CUDA_PHASE_SCHED", "off") ||
      !phase_emits_by(k, e, true, &bf, &br, &bw) ||
      bf.scratch > ef->scratch || (bf.scratch == ef->scratch && bf.smem >= ef->smem))
    return true;
  *ef = bf, *er = br, *ew = bw;
  return true;
}

void cg_emit_cuda(const Kernel *k, const char *header_name, int io, Buf *cu_out, Buf *h_out) {
  Emit e = {.k = k, .cuda = true, .io = io, .threads = THREADS};
  const Kernel *ks = split(k, &e, env_long("LRC_CUDA_SPLIT", 0));
  if (h_out) {
    e.out = h_out;
    Buf guard = {0};
    buf_printf(&guard, "LRC_CUDA_KERNEL_%s_H", k->name);
    for (char *p = guard.s; *p; p++)
      if (*p >= 'a' && *p <= 'z') *p = (char)(*p - 'a' + 'A');
    emit_header(&e, guard.s);
    buf_free(&guard);
  }
  e.out = cu_out;
  e.k = ks;
  place_tiles(&e);
  Emit ef, er, ew;
  bool phased = phase_emits(k, &e, &ef, &er, &ew);
  emit_source(&e, phased ? &ef : NULL, phased ? &er : NULL, phased && ew.k ? &ew : NULL,
              header_name);
}

void cg_emit_cuda_jit(const Kernel *k, int io, Buf *out, CgCudaLaunch *launch) {
  Emit e = {.k = k, .cuda = true, .jit = true, .io = io, .out = out, .threads = THREADS};
  e.k = split(k, &e, env_long("LRC_CUDA_SPLIT", 0));
  place_tiles(&e);
  Emit ef, er, ew;
  bool phased = phase_emits(k, &e, &ef, &er, &ew);
  Emit *parts[4] = {&e, phased ? &ef : NULL, phased ? &er : NULL, phased && ew.k ? &ew : NULL};
  emit_source(&e, parts[1], parts[2], parts[3], NULL);
  static const char *suffix[4] = {"kernel", "free", "rest", "rest_row"};
  for (int i = 0; i < 4; i++) {
    CgCudaEntry *en = &launch->part[i];
    if (!parts[i]) continue;
    buf_printf(&en->entry, "%s_%s", k->name, suffix[i]);
    en->smem_bytes = parts[i]->smem * 4;
    en->scratch_floats = parts[i]->scratch;
    en->blocks_per_row = parts[i]->nsplit;
    en->threads = parts[i]->threads;
  }
  launch->phased = phased;
  launch->phase_pays = phased && phase_pays(k, &er);
  launch->phase_rec = phased ? k->phase_rec : 0;
  launch->phase_chunk = phased ? k->phase_chunk : 0;
}
