/* check_cuda.c — CUDA kernels through the run-time JIT (runtime/cuda.c).
 *
 * Wherever NVRTC is installed: the source the JIT compiles, for every
 * example and variant and every algorithm that applies, compiles for
 * sm_80 and sm_90a-class devices. Without a GPU: asking for a CUDA kernel
 * is the error "no CUDA device" (exit 1 from lrc run), never a crash.
 * With a device (CK_RUN_CASE=device; a GPU, or the emulated one of
 * tests/emu where there is none): every example and variant x algorithm x
 * {float32, bfloat16} I/O against the float64 oracle at T = 1, 63, 65,
 * 300, with packed sequences and initial and final states (host tensors);
 * the examples' chunk kernels at K = V = 128 in each launch form and with
 * the switches off by default; runs on the caller's device pointers on a
 * stream; on the emulator, the examples' standalone .cu through their
 * launchers.
 */
#include "../oracle.h"
#include "../test.h"
#include "backends/c/backend.h"
#include "passes/passes.h"
#include "runtime/rt.h"

#include <dlfcn.h>
#include <ffi.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static Arena arena;
static lrc_ctx *ctx;
static void setup(void) {
  arena_init(&arena);
  ctx = lrc_ctx_new();
}
static void teardown(void) {
  lrc_ctx_free(ctx);
  arena_fini(&arena);
}

/* Sources: the examples (sorted), then t_variants, then t_chunk_variants. */
static char **example_files;
static int nexamples;

static int nsources(void) { return nexamples + t_nvariants + t_nchunk_variants; }

/* Source i's text (malloc'd) and a label. */
static char *source(int i, char *label, size_t len) {
  if (i < nexamples) {
    snprintf(label, len, "examples/%s", example_files[i]);
    return t_read(label, NULL);
  }
  i -= nexamples;
  if (i < t_nvariants) {
    snprintf(label, len, "variant %d", i);
    return strdup(t_variants[i]);
  }
  i -= t_nvariants;
  snprintf(label, len, "chunk variant %d", i);
  return strdup(t_chunk_variants[i]);
}

/* LRC_TEST_SHARD=k/n: this process takes sources k, k+n, ... only (and
 * the single tests in shard 0), so that tests/gpu/jit.sh can run n at
 * once on the GPU machine's cores. */
static bool in_shard(int i) {
  const char *env = getenv("LRC_TEST_SHARD");
  int k = 0, n = 1;
  if (env && sscanf(env, "%d/%d", &k, &n) == 2 && n > 0) return i % n == k;
  return true;
}

static const PlanAlgo algos[] = {PLAN_RECURRENT, PLAN_CHUNK, PLAN_SCAN};

/* The kernel of algorithm `algo` (NULL where it does not apply). */
static Kernel *kernel_for(Graph *g, PlanAlgo algo) {
  const char *why = NULL;
  Diags d;
  diag_init(&d, &arena);
  return pass_pipeline(&arena, g, algo, algo == PLAN_CHUNK ? 16 : 0, &d, &why);
}

static Graph *graph_of(const char *label, const char *src) {
  char *diags = NULL;
  Graph *g = t_graph(&arena, src, &diags);
  ck_assert_msg(g != NULL, "%s does not compile:\n%s", label, diags);
  free(diags);
  return g;
}

/* The products of a chunk kernel on the tensor cores: bf16 in the rest of
 * the phased form with bfloat16 I/O (its operands are bf16 records, the
 * state and v0) and in the same statements of the fused kernel, TF32
 * elsewhere (bf16 operands derived there miss 2e-2
 * where a sum cancels) and for float16 I/O; with the fill before and the
 * scaling after folded in (Gated DeltaNet's N = (k kᵀ) ⊙ decay: a product
 * into a zeroed tile, then scaled), fewer barriers than unfolded. */
static int count_of_text(const char *s, const char *what) {
  int n = 0;
  for (const char *p = s; (p = strstr(p, what)); p += strlen(what)) n++;
  return n;
}

/* The text of __global__ function NAME_part in cu (up to the next one). */
static char *part_text(const char *cu, const char *part) {
  char *s = strdup(strstr(cu, part)), *end = strstr(s + 1, "__global__");
  if (end) *end = 0;
  return s;
}

static char *cuda_text(Kernel *k, int io) {
  Buf cu = {0};
  CgCudaLaunch launch = {0};
  cg_emit_cuda_jit(k, io, &cu, &launch);
  for (int p = 0; p < 4; p++) buf_free(&launch.part[p].entry);
  return cu.s;
}

START_TEST(mma_products) {
  char *src = t_read("examples/gated_deltanet.lr", NULL);
  Graph *g = graph_of("examples/gated_deltanet.lr", src);   /* (src: the graph's text) */
  if (ir_unbound_dim(g)) o_bind_wide_dims(g);
  Kernel *k = kernel_for(g, PLAN_CHUNK);
  ck_assert_ptr_nonnull(k);
  char *bf = cuda_text(k, 1), *f16 = cuda_text(k, 2);
  char *whole = part_text(bf, "gated_deltanet_kernel("), *free_ = part_text(bf, "gated_deltanet_free(");
  char *rest = part_text(bf, "gated_deltanet_rest(");
  ck_assert_msg(count_of_text(whole, "lrc_mma_tf32(lrc_c") > 0 &&
                    count_of_text(free_, "lrc_mma_tf32(lrc_c") > 0,
                "no TF32 products in the fused kernel or the free part");
  ck_assert_msg(count_of_text(free_, "lrc_mma_bf16(lrc_c") == 0, "bf16 products in the free part");
  ck_assert_msg(count_of_text(rest, "lrc_mma_bf16(lrc_c") > 0 &&
                    count_of_text(rest, "lrc_mma_tf32(lrc_c") == 0,
                "the rest's products not all bf16 with bfloat16 I/O");
  /* the fused kernel: bf16 for the rest's statements alone */
  ck_assert_msg(count_of_text(whole, "lrc_mma_bf16(lrc_c") ==
                    count_of_text(rest, "lrc_mma_bf16(lrc_c"),
                "the fused kernel: %d bf16 products, the rest %d",
                count_of_text(whole, "lrc_mma_bf16(lrc_c"), count_of_text(rest, "lrc_mma_bf16(lrc_c"));
  ck_assert_msg(count_of_text(f16, "lrc_mma_bf16(lrc_c") == 0, "bf16 products for float16 I/O");
  setenv("LRC_CUDA_MMA", "tf32", 1);
  char *tf = cuda_text(k, 1);
  unsetenv("LRC_CUDA_MMA");
  ck_assert_msg(count_of_text(tf, "lrc_mma_bf16(lrc_c") == 0, "LRC_CUDA_MMA=tf32 ignored");
  free(f16), free(whole), free(free_), free(rest), free(tf);
  ck_assert_msg(count_of_text(bf, "lrc_c[lrc_m][lrc_n][lrc_h * 2 + lrc_e] = 0.0f") > 0,
                "no fill folded into a product");
  /* the scaling after: on each thread's accumulators, before the store */
  ck_assert_msg(count_of_text(bf, "lrc_c[lrc_m][lrc_n][lrc_h * 2 + lrc_e] = "
                                  "(lrc_c[lrc_m][lrc_n][lrc_h * 2 + lrc_e] * ") > 0,
                "no element-wise statement folded after a product");
  setenv("LRC_CUDA_FOLD", "off", 1);
  char *unfolded = cuda_text(k, 1);
  unsetenv("LRC_CUDA_FOLD");
  ck_assert_msg(count_of_text(bf, "__syncthreads") < count_of_text(unfolded, "__syncthreads"),
                "folding saved no barrier (%d, unfolded %d)", count_of_text(bf, "__syncthreads"),
                count_of_text(unfolded, "__syncthreads"));
  setenv("LRC_CUDA_MMA", "bf16", 1);
  char *b16 = cuda_text(k, 1), *f32 = cuda_text(k, 0);
  unsetenv("LRC_CUDA_MMA");
  ck_assert_msg(count_of_text(b16, "lrc_mma_bf16(lrc_c") > 0, "LRC_CUDA_MMA=bf16 ignored");
  ck_assert_msg(count_of_text(f32, "lrc_mma_bf16(lrc_c") == 0 &&
                    count_of_text(f32, "lrc_tf32_2(") > 0,
                "float32 inputs: split TF32 products whatever LRC_CUDA_MMA says");
  free(bf), free(unfolded), free(b16), free(f32), free(src);
}
END_TEST

/* The layout of a chunk kernel's shared memory, at the benchmark's dims
 * (K = V = 128, C = 32): the free part's threads and blocks per SM from
 * its shared memory (256 threads where three blocks fit, else 512; the
 * launch bounds give each block the registers of that many), tiles placed
 * in the order that takes least memory, the state's rows padded to 8 mod
 * 16 floats (it is a product's B operand over columns and accumulator),
 * records and buffers moved between registers and shared memory 16
 * bytes at a time, and the free part's element-wise nests four points a
 * thread. */
/* The chunk kernel of an example whose dims are K = 64, V = 64, at K = V
 * = 128 (the benchmark's size), C = 32; *src: its text (the caller frees). */
static Kernel *chunk_at_128_c(const char *path, int chunk, char **src) {
  char *d;
  *src = t_read(path, NULL), d = strstr(*src, "K = 64, V = 64");
  ck_assert_msg(d != NULL, "%s: dims not found", path);
  memcpy(d, "K=128, V=128  ", 14);
  Diags dg;
  diag_init(&dg, &arena);
  const char *why = NULL;
  Kernel *k = pass_pipeline(&arena, graph_of(path, *src), PLAN_CHUNK, chunk, &dg, &why);
  ck_assert_ptr_nonnull(k);
  return k;
}

static Kernel *chunk_at_128(const char *path, char **src) {
  return chunk_at_128_c(path, 32, src);
}

/* Gated DeltaNet's chunk kernel at K = V = 128 as users get it: without
 * the fills the tests put between the phased parts (LRC_PHASE_CHECK),
 * which add barriers of their own. */
static Kernel *gdn_at_128(char **src) {
  unsetenv("LRC_PHASE_CHECK");
  Kernel *k = chunk_at_128("examples/gated_deltanet.lr", src);
  setenv("LRC_PHASE_CHECK", "1", 1);
  return k;
}

/* cuda_text with the switch `name` set to `value` (then unset). */
static char *cuda_text_with(Kernel *k, int io, const char *name, const char *value) {
  setenv(name, value, 1);
  char *s = cuda_text(k, io);
  unsetenv(name);
  return s;
}

/* Products that share an operand run as one pass (mma_pair): Gated
 * DeltaNet's rest takes v0 += W S and r0 = q S together (S's fragments
 * loaded once, one barrier fewer at K = V = 128), its free part q K^T
 * and K K^T; the fused kernel, where pairs would put a tile off chip,
 * stays unpaired. */
START_TEST(mma_pairs) {
  char *src;
  Kernel *k = gdn_at_128(&src);
  char *on = cuda_text(k, 1), *off = cuda_text_with(k, 1, "LRC_CUDA_PAIR", "off");
  char *rest = part_text(on, "gated_deltanet_rest("), *rest0 = part_text(off, "gated_deltanet_rest(");
  /* the free part's pair in the list schedule's order (in the beam's it
   * would cost the fourth block an SM: unpaired) */
  char *lst = cuda_text_with(k, 1, "LRC_CUDA_PHASE_SCHED", "list");
  char *free_ = part_text(lst, "gated_deltanet_free("), *free1 = part_text(on, "gated_deltanet_free(");
  char *whole = part_text(on, "gated_deltanet_kernel("), *whole0 = part_text(off, "gated_deltanet_kernel(");
  /* the rest: two A operands, one B (the state) */
  ck_assert_msg(count_of_text(rest, "lrc_mma_bf16(lrc_c1[") == 1 &&
                    count_of_text(rest, " *lrc_pa1 = ") == 1 && count_of_text(rest, " *lrc_pb1 = ") == 0,
                "the rest's products on the state not paired by their B operand");
  /* the barrier the pair saves, with the records ahead as by shared
   * memory alone (by registers too, the unpaired rest's second buffers
   * take another barrier out of both) and no chained products (unpaired,
   * r0 = q S and r0 += A v0 chain, which saves one too) */
  setenv("LRC_CUDA_AHEAD_MORE", "off", 1), setenv("LRC_CUDA_ACC_CHAIN", "off", 1);
  char *on1 = cuda_text(k, 1), *off1 = cuda_text_with(k, 1, "LRC_CUDA_PAIR", "off");
  unsetenv("LRC_CUDA_AHEAD_MORE"), unsetenv("LRC_CUDA_ACC_CHAIN");
  char *rest1 = part_text(on1, "gated_deltanet_rest("), *rest01 = part_text(off1, "gated_deltanet_rest(");
  ck_assert_msg(count_of_text(rest1, "__syncthreads") + 1 == count_of_text(rest01, "__syncthreads"),
                "the rest's pair saved no barrier (%d, unpaired %d)",
                count_of_text(rest1, "__syncthreads"), count_of_text(rest01, "__syncthreads"));
  ck_assert_msg(count_of_text(rest, "__syncthreads") <= count_of_text(rest0, "__syncthreads"),
                "the rest's pair took a barrier more (%d, unpaired %d)",
                count_of_text(rest, "__syncthreads"), count_of_text(rest0, "__syncthreads"));
  free(on1), free(off1), free(rest1), free(rest01);
  ck_assert_msg(count_of_text(free_, "lrc_mma_tf32(lrc_c1[") >= 1, "no pair in the free part");
  ck_assert_msg(!strstr(free1, "lrc_c1[") && strstr(on, "__launch_bounds__(128, 4) gated_deltanet_free("),
                "the beam order's free part paired, or not on four blocks an SM");
  ck_assert_msg(count_of_text(off, "lrc_c1[") == 0, "LRC_CUDA_PAIR=off ignored");
  ck_assert_msg(count_of_text(whole, "= lrc_mem + ") == count_of_text(whole0, "= lrc_mem + "),
                "pairs moved a tile of the fused kernel off chip");
  free(on), free(off), free(lst), free(rest), free(rest0), free(free_), free(free1), free(whole),
      free(whole0), free(src);
}
END_TEST

/* Float fragments by ldmatrix and tiles stored as TF32 (frag_ldsm,
 * tf32_tiles): with bfloat16 I/O, Gated DeltaNet's free part loads its
 * row-major float operands by ldmatrix (q~ and K of the pair, T of T U
 * and T W; K^T's B), its solve stores T rounded to TF32 and T W reads T
 * and W's scaled keys raw (no conversion), and q~ and K, which their
 * records and the decayed keys read too, stored rounded by their folds:
 * no ldmatrix fragment converts; with LRC_CUDA_TF32_STORE=products q~
 * and K convert as they load; with float32 I/O the ldmatrix fragments
 * split, nothing stored rounded; LRC_CUDA_LDSM=off and
 * LRC_CUDA_TF32_STORE=off undo each. (tests/gpu/compile.sh compiles the
 * odd n-tile count's ldmatrix.x2.) */
START_TEST(tf32_fragments) {
  char *src;
  Kernel *k = gdn_at_128(&src);
  char *bf = cuda_text(k, 1), *f32 = cuda_text(k, 0);
  char *noldsm = cuda_text_with(k, 1, "LRC_CUDA_LDSM", "off");
  char *nostore = cuda_text_with(k, 1, "LRC_CUDA_TF32_STORE", "off");
  char *own = cuda_text_with(k, 1, "LRC_CUDA_TF32_STORE", "products");
  char *fsh = part_text(bf, "gated_deltanet_free("), *ff = part_text(f32, "gated_deltanet_free(");
  char *fb = part_text(own, "gated_deltanet_free(");
  char *fl = part_text(noldsm, "gated_deltanet_free("), *fs = part_text(nostore, "gated_deltanet_free(");
  /* (q~ K^T and K K^T unpaired in the beam order: K^T's B twice) */
  ck_assert_msg(count_of_text(fb, "lrc_ldsm4(lrc_a") == 4 &&
                    count_of_text(fb, "lrc_ldsm2(lrc_b") + count_of_text(fb, "lrc_ldsm4(lrc_b") == 2,
                "the free part's float fragments not loaded by ldmatrix");
  ck_assert_msg(count_of_text(fb, "= lrc_tf32r(lrc_x[") == 1 &&
                    count_of_text(fb, "lrc_o[lrc_j] = lrc_tf32r(") == 1,
                "T and the scaled keys not stored as TF32");
  ck_assert_msg(count_of_text(fb, "= __float_as_uint(lrc_p[") == 2,
                "the scaled keys' fragments not loaded raw");
  ck_assert_msg(count_of_text(fb, "lrc_tf32(__uint_as_float(") == 12,
                "the fragments of T converted, or those of q~ and K not");
  ck_assert_msg(count_of_text(fsh, "= lrc_tf32r(lrc_x[") == 1 &&
                    count_of_text(fsh, "lrc_o[lrc_j] = lrc_tf32r(") == 3 &&
                    count_of_text(fsh, ") * lrc_u[lrc_j]));") == 2 &&
                    !strstr(fsh, "lrc_tf32(__uint_as_float("),
                "q~ and K not stored rounded by their folds, or an ldmatrix fragment still "
                "converted");
  ck_assert_msg(count_of_text(ff, "lrc_ldsm4(lrc_a") == 4 &&
                    count_of_text(ff, "lrc_tf32_2(__uint_as_float(") == 20 && !strstr(ff, "lrc_tf32r("),
                "float32 I/O: the ldmatrix fragments not split, or a tile stored rounded");
  ck_assert_msg(!strstr(fl, "lrc_ldsm") && strstr(fl, "lrc_tf32r("), "LRC_CUDA_LDSM=off ignored");
  ck_assert_msg(!strstr(fs, "lrc_tf32r(") && !strstr(fs, "__float_as_uint(lrc_p[") &&
                    count_of_text(fs, "lrc_ldsm4(lrc_a") == 4,
                "LRC_CUDA_TF32_STORE=off ignored");
  free(bf), free(f32), free(noldsm), free(nostore), free(own), free(fb), free(ff), free(fl), free(fs),
      free(fsh), free(src);
  /* an odd count of n-tiles a warp (C = 96): the last B fragment by ldmatrix.x2 */
  k = chunk_at_128_c("examples/gated_deltanet.lr", 96, &src);
  bf = cuda_text(k, 1);
  ck_assert_msg(strstr(bf, "lrc_ldsm2(lrc_b[2], lrc_pb + "), "no float ldmatrix.x2 at C = 96");
  free(bf), free(src);
}
END_TEST

/* The number of tiles a kernel's text keeps in bf16. */
static int bf16_tiles(const char *text) {
  return count_of_text(text, "__nv_bfloat16 *__restrict__ x") +
         count_of_text(text, "__nv_bfloat16 *x");
}

/* The rest's records in bf16 (half_tiles): with bfloat16 I/O, Gated
 * DeltaNet's rest keeps q, A, W, the decayed keys and U (v0, a product's
 * target too: half_targets) as bf16 tiles, loads them by ldmatrix (the
 * keys, read along their rows' dim, transposed) and stores them in the
 * products' k order; nowhere else, and not with LRC_CUDA_HALF=off. */
START_TEST(bf16_records) {
  char *src;
  Kernel *k = gdn_at_128(&src);
  char *bf = cuda_text(k, 1), *f16 = cuda_text(k, 2);
  char *off = cuda_text_with(k, 1, "LRC_CUDA_HALF", "off");
  char *wmma = cuda_text_with(k, 1, "LRC_CUDA_MMA", "wmma");   /* (its loads read floats) */
  char *rest = part_text(bf, "gated_deltanet_rest("), *free_ = part_text(bf, "gated_deltanet_free(");
  char *whole = part_text(bf, "gated_deltanet_kernel(");
  char *off_ahead = cuda_text_with(k, 1, "LRC_CUDA_AHEAD", "off");   /* (one buffer each) */
  char *rest0 = part_text(off_ahead, "gated_deltanet_rest(");
  ck_assert_msg(bf16_tiles(rest0) == 5, "the rest's five bf16 records not kept in bf16");
  ck_assert_msg(count_of_text(rest, "lrc_ldsm4(lrc_a") >= 3 &&
                    count_of_text(rest, "lrc_ldsm4t(lrc_a") == 1,
                "the records' fragments not loaded by ldmatrix (the keys transposed)");
  ck_assert_msg(count_of_text(free_, "= lrc_perm8(lrc_x)") == 3 && !strstr(rest0, "lrc_perm8("),
                "the records along k not stored in the products' k order by the free part");
  ck_assert_msg(count_of_text(rest0, "(i_C & 3) << 1 | (i_C >> 2 & 1)") == 2,
                "the keys' and U's rows not stored in the products' k order");
  ck_assert_msg(!bf16_tiles(free_) && !bf16_tiles(whole) && !bf16_tiles(off) && !bf16_tiles(f16) &&
                    !bf16_tiles(wmma) && !strstr(wmma, "= lrc_perm8("),
                "bf16 tiles outside the rest, with float16 I/O, LRC_CUDA_HALF=off or WMMA");
  free(bf), free(f16), free(off), free(wmma), free(rest), free(free_), free(whole), free(src);
  free(off_ahead), free(rest0);
}
END_TEST

/* The rest's records a chunk ahead (ahead_tiles): with bfloat16 I/O,
 * Gated DeltaNet's rest copies the next chunk's q, A, W, decayed keys,
 * U (into the bf16 v0: half_targets) and gate sums by cp.async into
 * second buffers while it works on this chunk, then waits for this
 * chunk's; the trip's parity picks the buffers. With v0 in float
 * (LRC_CUDA_HALF_TARGET=off) U's load stays synchronous (a conversion,
 * with its L2 prefetch), the copies issued after it. Nothing of it in the
 * free part or the fused kernel, nor with LRC_CUDA_AHEAD=off. On every
 * chunk example at K = V = 128 the buffers leave the rest as many blocks
 * an SM as without, up to two. */
START_TEST(records_ahead) {
  char *src;
  Kernel *k = gdn_at_128(&src);
  char *bf = cuda_text(k, 1), *off = cuda_text_with(k, 1, "LRC_CUDA_AHEAD", "off");
  char *rest = part_text(bf, "gated_deltanet_rest("), *rest0 = part_text(off, "gated_deltanet_rest(");
  char *free_ = part_text(bf, "gated_deltanet_free("), *whole = part_text(bf, "gated_deltanet_kernel(");
  ck_assert_msg(count_of_text(rest, " = v_c & 1 ? ") == 7 && count_of_text(rest, "_1 = ") == 7,
                "the seven records of the chunk not double-buffered");
  ck_assert_msg(count_of_text(rest, "lrc_cp16(") == 12 && count_of_text(rest, "lrc_cp4(") == 2 &&
                    !strstr(rest, "const uint4 lrc_x = *(const uint4 *)(lrc_rec") &&
                    !strstr(rest, "prefetch.global.L2"),
                "the records not copied by cp.async, for the first chunk and the next");
  ck_assert_msg(count_of_text(rest, "cp.async.commit_group") == 2 &&
                    count_of_text(rest, "cp.async.wait_group 1") == 1 &&
                    count_of_text(rest, "cp.async.wait_group 0") == 1,
                "the copies not committed and waited for");
  char *ft = cuda_text_with(k, 1, "LRC_CUDA_HALF_TARGET", "off");
  char *restf = part_text(ft, "gated_deltanet_rest(");
  const char *sync = strstr(restf, "const uint4 lrc_x = *(const uint4 *)(lrc_rec");
  const char *next = strstr(restf, "((v_c + 1) & 1) ?");
  ck_assert_msg(sync && next && sync < next &&
                    count_of_text(restf, "const uint4 lrc_x = *(const uint4 *)(lrc_rec") == 1 &&
                    count_of_text(restf, "prefetch.global.L2") == 1 &&
                    count_of_text(restf, " = v_c & 1 ? ") == 6,
                "v0 in float: U's load not the one synchronous load, before the next chunk's copies");
  free(ft), free(restf);
  ck_assert_msg(!strstr(rest0, "lrc_cp") && !strstr(rest0, "_1 = ") && !strstr(free_, "lrc_cp") &&
                    !strstr(whole, "lrc_cp"),
                "copies a chunk ahead outside the rest, or with LRC_CUDA_AHEAD=off");
  free(bf), free(off), free(rest), free(rest0), free(free_), free(whole), free(src);
  static const char *names[] = {"gated_deltanet", "deltanet", "gla", "simple_gla", "kda",
                                "deltaproduct"};
  int taken = 0;
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    char path[64];
    snprintf(path, sizeof path, "examples/%s.lr", names[i]);
    unsetenv("LRC_PHASE_CHECK");   /* (as users get it: gdn_at_128) */
    k = chunk_at_128(path, &src);
    setenv("LRC_PHASE_CHECK", "1", 1);
    Buf on = {0}, no = {0};
    CgCudaLaunch l = {0}, l0 = {0};
    cg_emit_cuda_jit(k, 1, &on, &l);
    setenv("LRC_CUDA_AHEAD", "off", 1);
    cg_emit_cuda_jit(k, 1, &no, &l0);
    unsetenv("LRC_CUDA_AHEAD");
    long fit = 228 * 1024 / (l.part[2].smem_bytes + 1024),
         fit0 = 228 * 1024 / (l0.part[2].smem_bytes + 1024);
    ck_assert_msg(fit >= (fit0 < 2 ? fit0 : 2), "%s: the rest %ld blocks an SM, %ld without", path,
                  fit, fit0);
    ck_assert_msg((l.part[2].smem_bytes > l0.part[2].smem_bytes) == (strstr(on.s, "lrc_cp16(x") != NULL),
                  "%s: the second buffers' memory and the copies disagree", path);
    taken += strstr(on.s, "lrc_cp16(x") != NULL;
    for (int p = 0; p < 4; p++) buf_free(&l.part[p].entry), buf_free(&l0.part[p].entry);
    buf_free(&on), buf_free(&no), free(src);
  }
  ck_assert_msg(taken >= 5, "records a chunk ahead in %d of the six examples", taken);
}
END_TEST

/* Barriers the free part does without: between element-wise statements
 * over the same points (each thread reads what it wrote itself: Gated
 * DeltaNet's gate g reads the mask of valid rows just written) and
 * between statements whose small tiles would only share a place. */
START_TEST(barriers_elided) {
  char *src;
  Kernel *k = gdn_at_128(&src);
  setenv("LRC_CUDA_PHASE_SCHED", "list", 1);   /* (the beam order puts a barrier between anyway) */
  char *on = cuda_text(k, 1), *nopt = cuda_text_with(k, 1, "LRC_CUDA_POINT_SYNC", "off");
  setenv("LRC_CUDA_SMALL", "share", 1);
  char *neither = cuda_text_with(k, 1, "LRC_CUDA_POINT_SYNC", "off");
  unsetenv("LRC_CUDA_SMALL");
  char *f = part_text(on, "gated_deltanet_free("), *f0 = part_text(nopt, "gated_deltanet_free(");
  char *f00 = part_text(neither, "gated_deltanet_free(");
  unsetenv("LRC_CUDA_PHASE_SCHED");
  int n = count_of_text(f, "__syncthreads"), n0 = count_of_text(f0, "__syncthreads"),
      n00 = count_of_text(f00, "__syncthreads");
  ck_assert_msg(n < n0 && n0 < n00, "free part's barriers: %d, no point sync %d, small shared %d",
                n, n0, n00);
  const char *valid = strstr(f, "= (i_C < v_L ? 1.0f : 0.0f);"), *g = strstr(f, "* x16_valid[i_C])");
  ck_assert_msg(valid && g && g > valid, "the valid rows' mask and the gate not found");
  char *between = strndup(valid, (size_t)(g - valid));
  ck_assert_msg(!strstr(between, "__syncthreads"), "a barrier between the mask and the gate");
  free(between), free(on), free(nopt), free(neither), free(f), free(f0), free(f00), free(src);
}
END_TEST

/* Statements thread 0 runs alone (a per-head parameter's load and the
 * nest on it, a chunk's running sum of its decays (by the first warp,
 * standing for thread 0), its total's record store) without barriers
 * between them: Gated DeltaNet's (K = V = 64) fused kernel, free part and
 * rest each have fewer than with LRC_CUDA_SOLO_SYNC=off, and between the
 * running sum and GL's record store only the one G's record (stored by
 * four threads) needs. */
START_TEST(solo_barriers) {
  char *src = t_read("examples/gated_deltanet.lr", NULL);
  unsetenv("LRC_PHASE_CHECK");   /* (as users get it) */
  Kernel *k = kernel_for(graph_of("examples/gated_deltanet.lr", src), PLAN_CHUNK);
  setenv("LRC_PHASE_CHECK", "1", 1);
  char *on = cuda_text(k, 1), *off = cuda_text_with(k, 1, "LRC_CUDA_SOLO_SYNC", "off");
  static const char *const parts[] = {"gated_deltanet_kernel(", "gated_deltanet_free(",
                                      "gated_deltanet_rest("};
  for (int i = 0; i < 3; i++) {
    char *a = part_text(on, parts[i]), *b = part_text(off, parts[i]);
    int n = count_of_text(a, "__syncthreads"), n0 = count_of_text(b, "__syncthreads");
    ck_assert_msg(n < n0, "%s: %d barriers, %d with LRC_CUDA_SOLO_SYNC=off", parts[i], n, n0);
    free(a), free(b);
  }
  char *f = part_text(on, "gated_deltanet_free(");
  /* (the running sum, GL its total, and GL's record store) */
  const char *cum = strstr(f, "x19_GL_S[0] = i_C >= 0"), *rec = strstr(f, "lrc_t = &x19_GL_S[0];");
  ck_assert_msg(cum && rec && rec > cum, "the decay's running sum and its total's record not found");
  char *between = strndup(cum, (size_t)(rec - cum));
  ck_assert_msg(count_of_text(between, "__syncthreads") <= 1,
                "barriers between the running sum and GL's record beside G's record's");
  free(between), free(f), free(on), free(off), free(src);
}
END_TEST

/* LRC_CUDA_WARP_SYNC=on: where each warp of a product reads only what
 * the same warp wrote since the last barrier (warp_feet), a __syncwarp
 * instead: Gated DeltaNet's (K = V = 64) rest between the readout's two
 * products (v0 = v - W S, then r0 += A v0: each warp its own columns of
 * v0, every row), and its fused kernel's chunk loop alike; at K = V =
 * 128 in both rests, their products on the chain blocked with the
 * chunk's 32 rows whole a warp (product_blocking); none by default. */
START_TEST(warp_sync) {
  setenv("LRC_CUDA_WARP_CUMSUM", "off", 1);   /* (its own __syncwarp()s: warp_cumsum) */
  char *src = t_read("examples/gated_deltanet.lr", NULL);
  unsetenv("LRC_PHASE_CHECK");
  Kernel *k = kernel_for(graph_of("examples/gated_deltanet.lr", src), PLAN_CHUNK);
  setenv("LRC_PHASE_CHECK", "1", 1);
  char *off = cuda_text(k, 1), *on = cuda_text_with(k, 1, "LRC_CUDA_WARP_SYNC", "on");
  ck_assert_msg(!strstr(off, "__syncwarp"), "a __syncwarp by default");
  static const char *const parts[] = {"gated_deltanet_kernel(", "gated_deltanet_rest("};
  for (int i = 0; i < 2; i++) {
    char *a = part_text(on, parts[i]), *b = part_text(off, parts[i]);
    ck_assert_int_eq(count_of_text(a, "__syncwarp();"), 1);
    ck_assert_int_eq(count_of_text(a, "__syncthreads();") + 1, count_of_text(b, "__syncthreads();"));
    free(a), free(b);
  }
  free(on), free(off), free(src);
  Kernel *k128 = gdn_at_128(&src);
  off = cuda_text(k128, 1), on = cuda_text_with(k128, 1, "LRC_CUDA_WARP_SYNC", "on");
  static const char *const rests[] = {"gated_deltanet_rest(", "gated_deltanet_rest_row("};
  for (int i = 0; i < 2; i++) {
    char *a = part_text(on, rests[i]), *b = part_text(off, rests[i]);
    ck_assert_int_eq(count_of_text(a, "__syncwarp();"), 1);
    ck_assert_int_eq(count_of_text(a, "__syncthreads();") + 1, count_of_text(b, "__syncthreads();"));
    /* (the chunk's 32 rows whole a warp: blocks of 32 rows) */
    ck_assert_msg(strstr(a, "lrc_i0 = (lrc_w / ") && strstr(a, ") * 32, lrc_j0"),
                  "%s: no block of 32 rows", rests[i]);
    free(a), free(b);
  }
  free(on), free(off), free(src);
  unsetenv("LRC_CUDA_WARP_CUMSUM");
}
END_TEST

/* A chunk's running sum of its scalar log decays by the first warp (a
 * shuffle scan between __syncwarp()s), its total the chunk's whole decay
 * GL read by thread 0 from the last row present (no fill and pass of
 * GL's own): Gated DeltaNet's free part; with LRC_CUDA_WARP_CUMSUM=off
 * thread 0's loop, GL after it, and no shuffle up nor __syncwarp. */
START_TEST(warp_cumsum) {
  char *src = t_read("examples/gated_deltanet.lr", NULL);
  unsetenv("LRC_PHASE_CHECK");
  Kernel *k = kernel_for(graph_of("examples/gated_deltanet.lr", src), PLAN_CHUNK);
  setenv("LRC_PHASE_CHECK", "1", 1);
  char *on = cuda_text(k, 1), *off = cuda_text_with(k, 1, "LRC_CUDA_WARP_CUMSUM", "off");
  char *a = part_text(on, "gated_deltanet_free("), *b = part_text(off, "gated_deltanet_free(");
  const char *scan = strstr(a, "__shfl_up_sync(0xffffffffu, lrc_x, lrc_o)");
  const char *gl = strstr(a, "const int i_C = (int)(v_L) - 1;");
  ck_assert_msg(scan && gl && gl > scan && count_of_text(a, "__syncwarp();") == 2 &&
                    strstr(gl, "x19_GL_S[0] = i_C >= 0 ? x18_G_S[i_C] : 0.0f;"),
                "the free part's running sum not a warp's scan with GL from its last row present");
  ck_assert_msg(!strstr(a, "x19_GL_S[lrc_p] = 0.0f"), "GL filled for a sum of its own");
  ck_assert_msg(!strstr(b, "__shfl_up_sync") && !strstr(b, "__syncwarp"), "a warp's scan with =off");
  const char *loop = strstr(b, "x18_G_S[i_C] = lrc_acc;"), *tot = strstr(b, "x19_GL_S[0] = lrc_acc;");
  ck_assert_msg(loop && tot && tot > loop, "thread 0's running sum, then GL, not found with =off");
  free(a), free(b), free(on), free(off), free(src);
}
END_TEST

/* The phased form's rest on one block a row beside the rest on split
 * columns: emitted where the columns are split (K = V = 128, not 64), on
 * 256 threads where the chain holds the WY form's fourth product, 128
 * else; the launcher picks it where the split's blocks outnumber the
 * SMs (cg_cuda_whole_rows), -DLRC_ROW_REST decides instead;
 * LRC_CUDA_ROW=off leaves it out. */
START_TEST(rest_on_rows) {
  ck_assert(cg_cuda_whole_rows(128, 2, 132) && cg_cuda_whole_rows(67, 2, 132));
  ck_assert(!cg_cuda_whole_rows(66, 2, 132) && !cg_cuda_whole_rows(64, 2, 132));
  ck_assert_msg(!cg_cuda_whole_rows(1 << 20, 2, 0), "an unknown SM count took the whole rows");
  static const struct { const char *name; int threads; } ops[] = {
      {"gated_deltanet", 256}, {"deltanet", 256}, {"kda", 256}, {"gla", 128}, {"simple_gla", 128},
      {"retnet", 128}, {"mlstm", 256},   /* (mLSTM: its normaliser's sum off the tensor cores) */
      {"deltaproduct", 0}};   /* (0: none, its tiles would not fit on chip at C = 32) */
  for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
    char path[64], *src, want[128];
    snprintf(path, sizeof path, "examples/%s.lr", ops[i].name);
    Kernel *k = chunk_at_128(path, &src);
    Buf cu = {0}, off = {0};
    CgCudaLaunch l = {0}, l0 = {0};
    cg_emit_cuda_jit(k, 1, &cu, &l);
    setenv("LRC_CUDA_ROW", "off", 1);
    cg_emit_cuda_jit(k, 1, &off, &l0);
    unsetenv("LRC_CUDA_ROW");
    if (!ops[i].threads) {
      ck_assert_msg(!l.part[3].entry.s && !strcmp(cu.s, off.s), "%s: a whole row's rest", path);
      for (int p = 0; p < 4; p++) buf_free(&l.part[p].entry), buf_free(&l0.part[p].entry);
      buf_free(&cu), buf_free(&off), free(src);
      continue;
    }
    ck_assert_msg(l.part[2].blocks_per_row == 2 && l.part[3].blocks_per_row == 1 &&
                      l.part[3].threads == ops[i].threads,
                  "%s: rests of %d and %d blocks a row, the whole row's on %d threads", path,
                  l.part[2].blocks_per_row, l.part[3].blocks_per_row, l.part[3].threads);
    snprintf(want, sizeof want, "%s_rest_row", ops[i].name);
    ck_assert_msg(l.part[3].entry.s && !strcmp(l.part[3].entry.s, want), "%s: no entry %s", path, want);
    char *row = part_text(cu.s, l.part[3].entry.s), *rest = part_text(cu.s, l.part[2].entry.s);
    snprintf(want, sizeof want, "__launch_bounds__(%d", ops[i].threads);
    const char *at = strstr(cu.s, l.part[3].entry.s), *bound = strstr(cu.s, want);
    while (bound && strstr(bound + 1, want) && strstr(bound + 1, want) < at) bound = strstr(bound + 1, want);
    ck_assert_msg(bound && bound < at && !memchr(bound, '\n', (size_t)(at - bound)),
                  "%s: the whole row's rest not bounded to %d threads", path, ops[i].threads);
    /* the same records, at the same places */
    ck_assert_msg(count_of_text(row, "lrc_phase + ") == count_of_text(rest, "lrc_phase + "),
                  "%s: the rests load %d and %d records", path, count_of_text(row, "lrc_phase + "),
                  count_of_text(rest, "lrc_phase + "));
    ck_assert_msg(!l0.part[3].entry.s && !strstr(off.s, "_rest_row"),
                  "%s: a whole row's rest with LRC_CUDA_ROW=off", path);
    ck_assert_msg(l0.part[2].smem_bytes == l.part[2].smem_bytes, "%s: the split rest changed", path);
    free(row), free(rest);
    for (int p = 0; p < 4; p++) buf_free(&l.part[p].entry), buf_free(&l0.part[p].entry);
    buf_free(&cu), buf_free(&off), free(src);
  }
  /* the standalone launcher: the SM count read once, the choice, the
   * override, the split where the GPU cannot give the row its memory */
  char *src;
  Kernel *k = gdn_at_128(&src);
  Buf cu = {0}, h = {0};
  cg_emit_cuda(k, "gdn.h", 1, &cu, &h);
  ck_assert_msg(strstr(cu.s, "static int lrc_sm_count(void)") &&
                    strstr(cu.s, "cudaDevAttrMultiProcessorCount") &&
                    strstr(cu.s, "#ifdef LRC_ROW_REST\n    bool whole = LRC_ROW_REST;") &&
                    strstr(cu.s, "bool whole = sms > 0 && rows * 2 > sms;") &&
                    strstr(cu.s, "if (whole && cudaFuncSetAttribute(gated_deltanet_rest_row, "
                                 "cudaFuncAttributeMaxDynamicSharedMemorySize, ") &&
                    strstr(cu.s, "(void)cudaGetLastError();\n      whole = false;") &&
                    strstr(cu.s, "if (whole)\n        gated_deltanet_rest_row<<<(unsigned)rows, 256, ") &&
                    strstr(cu.s, "else\n        gated_deltanet_rest<<<(unsigned)(rows * 2), 128, "),
                "the launcher does not choose the rest by the SM count");
  buf_free(&cu), buf_free(&h), free(src);
  /* at the examples' own K = V = 64 the rest is one block a row already */
  src = t_read("examples/gated_deltanet.lr", NULL);
  k = kernel_for(graph_of("examples/gated_deltanet.lr", src), PLAN_CHUNK);
  CgCudaLaunch l = {0};
  cg_emit_cuda_jit(k, 1, &cu, &l);
  ck_assert_msg(l.part[2].blocks_per_row == 1 && !l.part[3].entry.s && !strstr(cu.s, "_rest_row"),
                "a second rest where the columns are not split");
  for (int p = 0; p < 4; p++) buf_free(&l.part[p].entry);
  buf_free(&cu), free(src);
}
END_TEST

/* Records that copy rows of the caller's input (rec_sources): simple
 * GLA's v is loaded by the rest from the input, a chunk ahead with rows
 * past the chunk's as zeros, and the free part neither loads v nor
 * stores its record; Gated DeltaNet's records are all computed; Mamba2's
 * C, whose products reduce along its inner dim, keeps its record (the
 * rest's bf16 tile wants it in lrc_perm8's order); LRC_CUDA_SOURCED=off. */
START_TEST(sourced_records) {
  char *src;
  Kernel *k = chunk_at_128("examples/simple_gla.lr", &src);
  char *on = cuda_text(k, 1), *off = cuda_text_with(k, 1, "LRC_CUDA_SOURCED", "off");
  char *f = part_text(on, "simple_gla_free("), *f0 = part_text(off, "simple_gla_free(");
  char *r = part_text(on, "simple_gla_rest("), *row = part_text(on, "simple_gla_rest_row(");
  ck_assert_msg(!strstr(f, "(a_v + lrc_base)") && !strstr(f, "a_v[") && strstr(f0, "(a_v + lrc_base)"),
                "the free part still loads v");
  ck_assert_msg(count_of_text(f, "*)(lrc_phase + ") + 1 == count_of_text(f0, "*)(lrc_phase + "),
                "the free part stores %d records, %d without sources", count_of_text(f, "*)(lrc_phase + "),
                count_of_text(f0, "*)(lrc_phase + "));
  for (int i = 0; i < 2; i++) {
    const char *rest = i ? row : r;
    ck_assert_msg(count_of_text(rest, "const __nv_bfloat16 *lrc_src = a_v + ") == 2 &&
                      count_of_text(rest, "lrc_cp16z(") == 2 &&
                      count_of_text(rest, "i_C < lrc_nrows);") == 2,
                  "%s: v not copied from the input a chunk ahead, rows past the chunk's zero",
                  i ? "the rest on whole rows" : "the rest");
    ck_assert_msg(strstr(rest, "const int64_t lrc_nc = v_c + 1;") &&
                      strstr(rest, "const int64_t v_c = lrc_nc;"),
                  "the next chunk's rows not under the next chunk's lets");
  }
  ck_assert_msg(!strstr(off, "lrc_src") && !strstr(off, "lrc_cp16z(x"), "LRC_CUDA_SOURCED=off ignored");
  free(on), free(off), free(f), free(f0), free(r), free(row), free(src);
  char *gdn = cuda_text(gdn_at_128(&src), 1);
  ck_assert_msg(!strstr(gdn, "lrc_src"), "a Gated DeltaNet record loaded from an input");
  free(gdn), free(src);
  src = t_read("examples/mamba2.lr", NULL);
  k = kernel_for(graph_of("examples/mamba2.lr", src), PLAN_CHUNK);
  char *m = cuda_text(k, 1);
  ck_assert_msg(strstr(m, "const __nv_bfloat16 *lrc_src = a_x + ") &&
                    !strstr(m, "const __nv_bfloat16 *lrc_src = a_C + "),
                "Mamba2: x's record not from the input, or C's (along its inner dim) from it");
  free(m), free(src);
}
END_TEST

/* The rest's state in the registers of its update across the chunk loop
 * (state_regs): loaded before the loop, its bf16 copy written by the
 * update and read by the products that read the state, the floats back
 * after the loop; no float access to the state inside it. Both rests of
 * Gated DeltaNet (the update after a gate, S = exp(GL) S + ...) and of
 * DeltaNet (none); not for float32 I/O (TF32 products), not where the
 * warps' rounds are not unrolled (LRC_CUDA_UNROLL=off: lrc_S's index
 * would not be a constant), not with LRC_CUDA_REG_STATE=off. */
START_TEST(state_in_registers) {
  static const char *const ops[] = {"gated_deltanet", "deltanet"};
  for (size_t i = 0; i < 2; i++) {
    char path[64], name[64], *src;
    snprintf(path, sizeof path, "examples/%s.lr", ops[i]);
    Kernel *k = chunk_at_128(path, &src);
    char *on = cuda_text(k, 1), *off = cuda_text_with(k, 1, "LRC_CUDA_REG_STATE", "off");
    for (int row = 0; row < 2; row++) {
      snprintf(name, sizeof name, "%s_rest%s(", ops[i], row ? "_row" : "");
      char *r = part_text(on, name), *r0 = part_text(off, name);
      const char *loop = strstr(r, "for (int64_t v_c"), *end = loop;
      for (const char *p = loop; p && (p = strstr(p + 1, "float (&lrc_c)"));) end = p;
      ck_assert_msg(loop && end > loop && strstr(r, "float lrc_S[") &&
                        strstr(r, "__nv_bfloat16 *const lrc_Sh = (__nv_bfloat16 *)x0_S;"),
                    "%s: the state not in registers", name);
      char *body = strndup(loop, (size_t)(end - loop));
      ck_assert_msg(!strstr(body, "x0_S"), "%s: the chunk loop reads or writes the state's floats", name);
      ck_assert_msg(count_of_text(body, "lrc_pb = lrc_Sh + ") >= 1 &&
                        count_of_text(body, "*(__nv_bfloat162 *)(lrc_Sh + ") == 2 &&
                        count_of_text(body, "float (&lrc_c)") == 1,
                    "%s: the bf16 copy not written by the update and read by the products", name);
      ck_assert_msg(!i == !!strstr(body, "* lrc_c[lrc_m][lrc_n][lrc_h * 2 + lrc_e]);"),
                    "%s: the gate not applied to the registers", name);
      ck_assert_msg(strstr(end, "float *lrc_x = x0_S + ") &&
                        strstr(end, "= make_float2(lrc_c[lrc_m][lrc_n][0], lrc_c[lrc_m][lrc_n][1]);"),
                    "%s: the floats not written back after the loop", name);
      ck_assert_msg(!strstr(r0, "lrc_S") && strstr(r0, "lrc_bf16x2(lrc_p[0], lrc_p["),
                    "%s: LRC_CUDA_REG_STATE=off ignored", name);
      free(body), free(r), free(r0);
    }
    char *f32 = cuda_text(k, 0), *unr = cuda_text_with(k, 1, "LRC_CUDA_UNROLL", "off");
    ck_assert_msg(!strstr(f32, "lrc_S"), "%s: the state in registers with float32 I/O", path);
    ck_assert_msg(!strstr(unr, "lrc_S"), "%s: the state in registers, its rounds not unrolled", path);
    free(f32), free(unr), free(on), free(off), free(src);
  }
}
END_TEST

/* Eight floats a thread to or from shared memory (16-bit I/O: the
 * inputs' loads, the records' and outputs' stores) as two float4
 * accesses, lanes 4-7 of each 8 taking their second half first, so that
 * the 8 lanes of a wavefront cover 128 bytes once; not in the phased
 * form's rest, not for float32 I/O (four a thread), not with
 * LRC_CUDA_LANE_HALVES=off. */
/* A product's target kept in bf16 (half_tiles' targets): the delta
 * rules' v0, loaded from the record U, then v0 += W S, read only by
 * bf16 products along its rows (A v0, the update's kdᵀ v0): its
 * accumulators start from the bf16 tile and go back into it, rows in
 * the products' k order; r0, which the output's store reads, stays
 * float; not where it would cost the records their second buffers
 * (ahead_rest); LRC_CUDA_HALF_TARGET=off. */
START_TEST(half_targets) {
  char *src;
  Kernel *k = gdn_at_128(&src);
  char *on = cuda_text(k, 1), *off = cuda_text_with(k, 1, "LRC_CUDA_HALF_TARGET", "off");
  for (int row = 0; row < 2; row++) {
    const char *name = row ? "gated_deltanet_rest_row(" : "gated_deltanet_rest(";
    char *r = part_text(on, name), *r0 = part_text(off, name);
    ck_assert_msg(strstr(r, "__nv_bfloat16 *lrc_x = x21_v0_0 + (lrc_i0 + ((lrc_g & 3) << 1 | lrc_g >> 2)) * ") &&
                      strstr(r, "= __bfloat1622float2(*(const __nv_bfloat162 *)(lrc_x + ") &&
                      strstr(r, "*(__nv_bfloat162 *)(lrc_x + (lrc_m * 16 + 8) * ") &&
                      strstr(r, "float *lrc_x1 = x15_r0 + "),
                  "%s v0 not a bf16 target, or r0 not float", name);
    ck_assert_msg(strstr(r0, "float *lrc_x = x21_v0_0 + (lrc_i0 + lrc_g) * ") &&
                      !strstr(r0, "__nv_bfloat16 *lrc_x = "),
                  "%s LRC_CUDA_HALF_TARGET=off ignored", name);
    free(r), free(r0);
  }
  free(on), free(off), free(src);
  /* DeltaNet's rest: on split columns (no second buffers either way) v0
   * in bf16; on one row its registers, one block an SM, count: v0 in
   * bf16 with every record a chunk ahead, W (which shares r0's memory
   * there) moved to buffers of its own, nothing left to load at the top
   * of the trip */
  unsetenv("LRC_PHASE_CHECK");   /* (as users get it: its poisoned tiles move the sizes) */
  k = chunk_at_128("examples/deltanet.lr", &src);
  setenv("LRC_PHASE_CHECK", "1", 1);
  on = cuda_text(k, 1);
  char *r = part_text(on, "deltanet_rest("), *row = part_text(on, "deltanet_rest_row(");
  ck_assert_msg(strstr(r, "__nv_bfloat16 *lrc_x = x"), "DeltaNet's split rest: v0 not in bf16");
  ck_assert_msg(strstr(row, "__nv_bfloat16 *lrc_x = x") && strstr(row, "_v0_0_1 = ") &&
                    strstr(row, "_W_S_1 = ") && !strstr(row, "float lrc_u[8];"),
                "DeltaNet's rest on one row: v0 not in bf16, or a record not a chunk ahead");
  /* LRC_CUDA_AHEAD_MORE=off: the blocks an SM by shared memory alone; in
   * bf16 v0 would let two share an SM, which the second buffers would
   * cost (ahead_rest): v0 in float, its records still ahead */
  char *more = cuda_text_with(k, 1, "LRC_CUDA_AHEAD_MORE", "off");
  char *mrow = part_text(more, "deltanet_rest_row(");
  ck_assert_msg(!strstr(mrow, "__nv_bfloat16 *lrc_x = x") && strstr(mrow, "_v0_0 + (lrc_i0 + lrc_g) * ") &&
                    strstr(mrow, "lrc_cp16("),
                "DeltaNet's rest on one row with LRC_CUDA_AHEAD_MORE=off: v0 in bf16, or its records "
                "not a chunk ahead");
  free(r), free(row), free(on), free(more), free(mrow), free(src);
}
END_TEST

START_TEST(lane_halves) {
  char *src;
  Kernel *k = gdn_at_128(&src);
  char *on = cuda_text(k, 1), *off = cuda_text_with(k, 1, "LRC_CUDA_LANE_HALVES", "off"),
       *f32 = cuda_text(k, 0);
  char *f = part_text(on, "gated_deltanet_free(");
  ck_assert_msg(count_of_text(f, "*(float4 *)(lrc_t + lrc_hs) = lrc_hs ? lrc_ub : lrc_ua;") >= 3 &&
                    count_of_text(f, "*(float4 *)(lrc_t + (4 - lrc_hs)) = lrc_hs ? lrc_ua : lrc_ub;") >= 3,
                "the free part's input loads not by lane halves");
  ck_assert_msg(count_of_text(f, "lrc_fa = *(const float4 *)(lrc_t + lrc_hs), "
                                 "lrc_fb = *(const float4 *)(lrc_t + (4 - lrc_hs));") >= 3,
                "the free part's record stores not by lane halves (those not stored from the "
                "row fold's registers)");
  ck_assert_msg(strstr(on, "const int lrc_hs = (lrc_tid) & 4;") && !strstr(off, "lrc_hs") &&
                    !strstr(f32, "lrc_hs"),
                "lane halves with float32 I/O or LRC_CUDA_LANE_HALVES=off");
  char *r = part_text(on, "gated_deltanet_rest("), *row = part_text(on, "gated_deltanet_rest_row(");
  ck_assert_msg(!strstr(r, "lrc_hs") && !strstr(row, "lrc_hs"), "lane halves in the rest");
  free(on), free(off), free(f32), free(f), free(r), free(row), free(src);
}
END_TEST

/* The free part's loads of q and k with their
 * l2norm folded in (row_fold): each row's sum of squares from registers
 * by a butterfly over its lanes (16 with bf16 I/O at K = 128, 32 with
 * float32), the scaled rows stored once, q's record (further on in
 * the beam order) and kd = k dec's from the registers (no record stored
 * twice), and v's scaling by beta the same way without the
 * sum; the raw rows' sum over shared memory gone. LRC_CUDA_ROW_FOLD=off:
 * nothing folded. */
START_TEST(row_fold) {
  char *src;
  Kernel *k = gdn_at_128(&src);
  char *bf = cuda_text(k, 1), *f32 = cuda_text(k, 0);
  setenv("LRC_CUDA_ROW_FOLD", "off", 1);
  char *dflt = cuda_text(k, 1), *d32 = cuda_text(k, 0);
  unsetenv("LRC_CUDA_ROW_FOLD");
  char *f = part_text(bf, "gated_deltanet_free("), *f4 = part_text(f32, "gated_deltanet_free(");
  char *fd = part_text(dflt, "gated_deltanet_free("), *fd4 = part_text(d32, "gated_deltanet_free(");
  const char *b16 = "for (int lrc_o = 16; lrc_o > 0; lrc_o >>= 1)";
  const char *sq = "lrc_acc += (lrc_u[lrc_j] * lrc_u[lrc_j]);";
  const char *s = "const float lrc_s = lrc_rsqrt((lrc_acc + 1e-06f));";
  ck_assert_msg(count_of_text(f, sq) == 2 && count_of_text(f, s) == 2, "q's and k's norms not folded");
  ck_assert_msg(count_of_text(f, "for (int lrc_o = 8; lrc_o > 0; lrc_o >>= 1)") == 2 &&
                    count_of_text(f4, b16) == count_of_text(fd4, b16) + 2,
                "a row's sum not over its 16 (bf16) or 32 (float32) lanes");
  ck_assert_msg(count_of_text(f, "lrc_o[lrc_j] = lrc_tf32r(((0.0883883461f * lrc_s) * lrc_u[lrc_j]));") == 1,
                "q's scale not applied to the row's registers (once a row: pass_kir_fuse's regrouping)");
  ck_assert_msg(!strstr(f, "for (int lrc_r = 0; lrc_r < 128; lrc_r++)") &&
                    strstr(fd, "for (int lrc_r = 0; lrc_r < 128; lrc_r++)"),
                "the raw rows' sum over shared memory (expected only without the fold)");
  ck_assert_msg(count_of_text(f, "= __floats2bfloat162_rn(lrc_o[2 * lrc_j], lrc_o[2 * lrc_j + 1]);") == 1 &&
                    count_of_text(f, "lrc_o1[lrc_j] = (lrc_o[lrc_j] * x") == 1 &&
                    count_of_text(f, "= __floats2bfloat162_rn(lrc_o1[2 * lrc_j], lrc_o1[2 * lrc_j + 1]);") == 1,
                "q's record, and kd = k dec and its record, not stored from the fold's registers");
  ck_assert_msg(count_of_text(f, "*(uint4 *)(lrc_rec + ") == count_of_text(fd, "*(uint4 *)(lrc_rec + "),
                "records stored %d times, %d without the folds", count_of_text(f, "*(uint4 *)(lrc_rec + "),
                count_of_text(fd, "*(uint4 *)(lrc_rec + "));
  ck_assert_msg(count_of_text(f, "lrc_o[lrc_j] = 0.0f + ((x") == 1 && count_of_text(f, "if (lrc_al) {") == 3,
                "v beta not folded into v's load (after v's fill)");
  ck_assert_msg(!strstr(fd, "lrc_al") && !strstr(fd, sq), "a row folded with LRC_CUDA_ROW_FOLD=off");
  ck_assert_msg(count_of_text(f, "__syncthreads();") + 4 <= count_of_text(fd, "__syncthreads();"),
                "the fold left the free part's barriers (%d, unfolded %d)",
                count_of_text(f, "__syncthreads();"), count_of_text(fd, "__syncthreads();"));
  free(bf), free(f32), free(dflt), free(d32), free(f), free(f4), free(fd), free(fd4), free(src);
}
END_TEST

/* The row folds' 16-byte loads of q, k and v all issued at the free
 * part's chunk top, before any fold uses them (each trip of a fold
 * stores a record to global memory, which kept the compiler from hoisting
 * the next trip's load: each waited on DRAM); LRC_CUDA_FOLD_AHEAD=fold:
 * each fold's loads at the fold, all its trips first; =off: in the
 * trips. The same loads either way: one a trip of each fold. */
START_TEST(fold_ahead) {
  char *src;
  Kernel *k = gdn_at_128(&src);
  char *top = cuda_text(k, 1), *fold = cuda_text_with(k, 1, "LRC_CUDA_FOLD_AHEAD", "fold"),
       *off = cuda_text_with(k, 1, "LRC_CUDA_FOLD_AHEAD", "off");
  char *ft = part_text(top, "gated_deltanet_free("), *ff = part_text(fold, "gated_deltanet_free("),
       *fo = part_text(off, "gated_deltanet_free(");
  const char *load = "= *(const uint4 *)(a_";
  ck_assert_msg(count_of_text(ft, load) == 3 && count_of_text(ff, load) == 3 && count_of_text(fo, load) == 3,
                "a row fold's loads not one a trip (%d, %d, %d)", count_of_text(ft, load),
                count_of_text(ff, load), count_of_text(fo, load));
  /* at the top: three arrays, all filled before q's fold begins */
  const char *q = strstr(ft, "const uint4 lrc_x = lrc_xs");
  ck_assert_msg(count_of_text(ft, "[4] = {};") == 3 && q && count_of_text(ft, "lrc_xs[") == 0,
                "the folds' loads not at the free part's top");
  const char *first = strstr(ft, "[4] = {};"), *last = first;
  for (int n = 0; n < 3 && last; n++) last = strstr(last + 1, load);
  ck_assert_msg(last && last < q, "a fold's load after the first fold");
  char *before = strndup(first, (size_t)(last - first));
  ck_assert_msg(count_of_text(before, "__syncthreads") == 0, "a barrier between the folds' loads");
  ck_assert_msg(count_of_text(ff, "uint4 lrc_xs[4] = {};") == 3 &&
                    count_of_text(ff, "const uint4 lrc_x = lrc_xs[lrc_v_t];") == 3,
                "LRC_CUDA_FOLD_AHEAD=fold: a fold's trips not loaded first");
  ck_assert_msg(!strstr(fo, "lrc_xs"), "LRC_CUDA_FOLD_AHEAD=off ignored");
  /* f32 I/O at K = 128 (8 trips a fold): loads in the trips */
  char *f32 = cuda_text(k, 0), *f4 = part_text(f32, "gated_deltanet_free(");
  ck_assert_msg(!strstr(f4, "lrc_xs"), "8 trips' loads held in registers");
  free(top), free(fold), free(off), free(ft), free(ff), free(fo), free(before), free(f32), free(f4),
      free(src);
}
END_TEST

/* simple GLA's readout, r0 = (q S) e^G; r0 += A v0, as one pass on the
 * same accumulators (acc_chain): r0 neither stored nor read back between
 * the products, one barrier fewer in each rest; Gated DeltaNet's rest,
 * whose r0 = q S pairs with v0 = W S, unchanged. LRC_CUDA_ACC_CHAIN=off:
 * two passes. */
START_TEST(acc_chain) {
  char *src, *src2;
  Kernel *k = chunk_at_128("examples/simple_gla.lr", &src);
  char *on = cuda_text(k, 1), *off = cuda_text_with(k, 1, "LRC_CUDA_ACC_CHAIN", "off");
  const char *reload = "const float2 lrc_v0 = *(const float2 *)(lrc_x + ";
  static const char *const parts[] = {"simple_gla_rest(", "simple_gla_rest_row("};
  for (int i = 0; i < 2; i++) {
    char *r = part_text(on, parts[i]), *r0 = part_text(off, parts[i]);
    ck_assert_msg(count_of_text(r, "__syncthreads") + 1 == count_of_text(r0, "__syncthreads"),
                  "%s: the chain saved no barrier (%d, unchained %d)", parts[i],
                  count_of_text(r, "__syncthreads"), count_of_text(r0, "__syncthreads"));
    ck_assert_msg(count_of_text(r, reload) + 1 == count_of_text(r0, reload),
                  "%s: r0's accumulators read back between the products", parts[i]);
    ck_assert_msg(count_of_text(r, "lrc_mma_bf16(") == count_of_text(r0, "lrc_mma_bf16("),
                  "%s: products lost or added by the chain", parts[i]);
    free(r), free(r0);
  }
  Kernel *g = gdn_at_128(&src2);
  char *gon = cuda_text(g, 1), *goff = cuda_text_with(g, 1, "LRC_CUDA_ACC_CHAIN", "off");
  char *gr = part_text(gon, "gated_deltanet_rest_row("), *gr0 = part_text(goff, "gated_deltanet_rest_row(");
  ck_assert_str_eq(gr, gr0);
  free(on), free(off), free(gon), free(goff), free(gr), free(gr0), free(src), free(src2);
}
END_TEST

/* No barrier between the free part's stores of
 * its chunk records and its loads of the inputs (the records are not the
 * caller's buffers): Gated DeltaNet's free part at K = V = 128 loses
 * one, two without the row fold. LRC_CUDA_RECORD_SYNC=off: the records
 * count as the caller's buffers. */
START_TEST(record_sync) {
  char *src;
  Kernel *k = gdn_at_128(&src);
  char *on = cuda_text(k, 1), *off = cuda_text_with(k, 1, "LRC_CUDA_RECORD_SYNC", "off");
  char *f = part_text(on, "gated_deltanet_free("), *f0 = part_text(off, "gated_deltanet_free(");
  int n = count_of_text(f, "__syncthreads();"), n0 = count_of_text(f0, "__syncthreads();");
  ck_assert_msg(n + 1 <= n0, "barriers in the free part: %d, %d with the records as buffers", n, n0);
  /* without the row fold (which stores q's record from its registers),
   * two barriers */
  setenv("LRC_CUDA_ROW_FOLD", "off", 1);
  char *on1 = cuda_text(k, 1), *off1 = cuda_text_with(k, 1, "LRC_CUDA_RECORD_SYNC", "off");
  unsetenv("LRC_CUDA_ROW_FOLD");
  char *g = part_text(on1, "gated_deltanet_free("), *g0 = part_text(off1, "gated_deltanet_free(");
  n = count_of_text(g, "__syncthreads();"), n0 = count_of_text(g0, "__syncthreads();");
  ck_assert_msg(n + 2 <= n0, "barriers in the unfolded free part: %d, %d with the records as buffers",
                n, n0);
  free(on1), free(off1), free(g), free(g0);
  char *r = part_text(on, "gated_deltanet_rest("), *r0 = part_text(off, "gated_deltanet_rest(");
  ck_assert_str_eq(r, r0);
  free(on), free(off), free(f), free(f0), free(r), free(r0), free(src);
}
END_TEST

/* Gated DeltaNet's free part stores v0's record (v0 = U, read by
 * nothing else) from U, without the copy and its two barriers;
 * LRC_CUDA_REC_COPY=off: with them. */
START_TEST(rec_copy) {
  char *src;
  Kernel *k = gdn_at_128(&src);
  char *on = cuda_text(k, 1), *off = cuda_text_with(k, 1, "LRC_CUDA_REC_COPY", "off");
  char *f = part_text(on, "gated_deltanet_free("), *f0 = part_text(off, "gated_deltanet_free(");
  const char *copy = "*(float4 *)&x21_v0_0[i_V + i_C * 136] = *(const float4 *)lrc_o;";
  ck_assert_msg(count_of_text(f, copy) + 1 == count_of_text(f0, copy) &&
                    strstr(f, "float *lrc_t = &x26_U_S[i_V + i_C * 136];"),
                "v0's record not stored from U (or stored so with LRC_CUDA_REC_COPY=off)");
  int n = count_of_text(f, "__syncthreads();"), n0 = count_of_text(f0, "__syncthreads();");
  ck_assert_msg(n + 2 <= n0, "barriers in the free part: %d, %d with the copy", n, n0);
  free(on), free(off), free(f), free(f0), free(src);
}
END_TEST

/* The solve in two halves (emit_trisolve_blocked, LRC_CUDA_SOLVE=blocked,
 * off by default): Gated DeltaNet's free part solves rows 0-15 and
 * 16-31 of T a thread a column (16 registers, not 32), updates rows
 * 16-31 by N21 T1 on every thread between them (two barriers more), and
 * rounds T to TF32 at the end, the first half in place; float32 I/O
 * rounds nothing. */
START_TEST(solve_blocked) {
  char *src;
  Kernel *k = gdn_at_128(&src);
  char *dflt = cuda_text(k, 1), *on = cuda_text_with(k, 1, "LRC_CUDA_SOLVE", "blocked");
  char *on32 = cuda_text_with(k, 0, "LRC_CUDA_SOLVE", "blocked");
  char *f0 = part_text(dflt, "gated_deltanet_free("), *f = part_text(on, "gated_deltanet_free(");
  char *f4 = part_text(on32, "gated_deltanet_free(");
  ck_assert_msg(count_of_text(f0, "float lrc_x[32];") == 1 && !strstr(f0, "float lrc_x[16];"),
                "the default solve not one thread a column down 32 rows");
  ck_assert_msg(count_of_text(f, "float lrc_x[16];") == 2 && !strstr(f, "float lrc_x[32];") &&
                    count_of_text(f, "const int i_C = 16 + lrc_r;") == 1 &&
                    count_of_text(f, "const int i_C = 16 + lrc_i;") == 3,
                "the solve not in two halves of 16 rows with the update between");
  ck_assert_msg(count_of_text(f, "__syncthreads();") == count_of_text(f0, "__syncthreads();") + 2,
                "barriers: %d, %d by default", count_of_text(f, "__syncthreads();"),
                count_of_text(f0, "__syncthreads();"));
  ck_assert_msg(count_of_text(f, "= lrc_tf32r(lrc_x[lrc_i]);") == 1 &&
                    strstr(f, "for (int i_C = 0; i_C < 16; i_C++) x") && !strstr(f4, "lrc_tf32r("),
                "T not rounded to TF32 at the end (both halves), or rounded with float32 I/O");
  free(dflt), free(on), free(on32), free(f0), free(f), free(f4), free(src);
}
END_TEST

/* No memory for the tiles that row folds keep in registers
 * (fold_only_tiles; LRC_CUDA_FOLD_PLACE=off: the first placement), and
 * the free part's padding fitted to one more block (LRC_CUDA_PAD_FIT=on),
 * both in the list schedule's order (LRC_CUDA_PHASE_SCHED=list): Gated
 * DeltaNet's free part at K = V = 128 (bf16) declares no raw rows of q,
 * k, v, no decayed keys kd0 (stored from the fold's registers) and no
 * sums or scales of its norms (their fills gone), and takes less shared
 * memory; the rest and the fused kernel keep theirs where they have no
 * such fold. */
static void emit_with(Kernel *k, const char *const *env, Buf *cu, CgCudaLaunch *l) {
  for (int j = 0; env[j]; j += 2) setenv(env[j], env[j + 1], 1);
  cg_emit_cuda_jit(k, 1, cu, l);
  for (int j = 0; env[j]; j += 2) unsetenv(env[j]);
}

START_TEST(fold_place) {
  char *src;
  Kernel *k = gdn_at_128(&src);
  Buf cu[4] = {0};
  CgCudaLaunch l[4] = {0};
  static const char *const env[4][7] = {
      {"LRC_CUDA_PHASE_SCHED", "list", "LRC_CUDA_FOLD_PLACE", "off", NULL},
      {"LRC_CUDA_PHASE_SCHED", "list", NULL},
      {"LRC_CUDA_PHASE_SCHED", "list", "LRC_CUDA_PAD_FIT", "on", NULL},
      {"LRC_CUDA_PHASE_SCHED", "list", "LRC_CUDA_FOLD_PLACE", "off", "LRC_CUDA_PAD_FIT", "on", NULL}};
  for (int i = 0; i < 4; i++) emit_with(k, env[i], &cu[i], &l[i]);
  char *f0 = part_text(cu[0].s, "gated_deltanet_free("), *f1 = part_text(cu[1].s, "gated_deltanet_free(");
  static const char *const gone[] = {"x29_kd0_0 = ", "x1_t0 = ", "x5_t9 = ", "x14_t29 = ",
                                     "x2_t2", "x3_t5", "x6_t11", "x7_t13"};
  for (size_t i = 0; i < sizeof gone / sizeof gone[0]; i++) {
    ck_assert_msg(strstr(f0, gone[i]), "%s not in the free part with LRC_CUDA_FOLD_PLACE=off", gone[i]);
    ck_assert_msg(!strstr(f1, gone[i]), "%s still in the free part with the fold placement", gone[i]);
  }
  ck_assert_msg(l[1].part[1].smem_bytes < l[0].part[1].smem_bytes && l[1].part[1].smem_bytes <= 57856,
                "the free part's shared memory: %ld bytes, %ld with LRC_CUDA_FOLD_PLACE=off",
                (long)l[1].part[1].smem_bytes, (long)l[0].part[1].smem_bytes);
  ck_assert_msg(count_of_text(f1, "if (lrc_al)") == count_of_text(f0, "if (lrc_al)"),
                "a row fold lost with the fold placement");
  /* LRC_CUDA_PAD_FIT=on: rows padded by 4 where that fits a fourth
   * block (with the fold placement: 56320 bytes, launch bound 4), and
   * not where it would not (without the fold placement) */
  ck_assert_msg(l[2].part[1].smem_bytes <= 228 * 1024 / 4 - 1024 &&
                    strstr(cu[2].s, "__launch_bounds__(128, 4) gated_deltanet_free(") &&
                    strstr(cu[1].s, "__launch_bounds__(128, 3) gated_deltanet_free("),
                "the free part not fitted to four blocks an SM (%ld bytes)", (long)l[2].part[1].smem_bytes);
  ck_assert_msg(!strcmp(cu[3].s, cu[0].s), "LRC_CUDA_PAD_FIT=on changed a placement it could not fit");
  for (int i = 0; i < 4; i++) {
    for (int p = 0; p < 4; p++) buf_free(&l[i].part[p].entry);
    buf_free(&cu[i]);
  }
  free(f0), free(f1), free(src);
}
END_TEST

/* The free part's order from the beam search (the default where it
 * takes less shared memory; LRC_CUDA_PHASE_SCHED=list: the list
 * schedule's): Gated DeltaNet's free part (bf16, K = V = 128) in less
 * shared memory than the list schedule's order leaves it (W = T Y
 * before U = T v0: 67072 -> 57856 bytes without the fold placement),
 * with the fold placement in four blocks an SM without padding; its
 * rest unchanged; DeltaNet's from three blocks to four; GLA's, which it
 * does not shrink, unchanged. */
START_TEST(phase_sched_beam) {
  char *src;
  Kernel *k = gdn_at_128(&src);
  CgCudaLaunch l[4] = {0};
  Buf cu[4] = {0};
  static const char *const env[4][5] = {
      {"LRC_CUDA_PHASE_SCHED", "list", "LRC_CUDA_FOLD_PLACE", "off", NULL},
      {"LRC_CUDA_FOLD_PLACE", "off", NULL},
      {"LRC_CUDA_PHASE_SCHED", "list", NULL},
      {NULL}};
  for (int i = 0; i < 4; i++) emit_with(k, env[i], &cu[i], &l[i]);
  long b0 = l[0].part[1].smem_bytes, b1 = l[1].part[1].smem_bytes, b3 = l[3].part[1].smem_bytes;
  ck_assert_msg(b1 <= 57856 && b1 < b0, "the free part in %ld bytes, %ld by the list schedule", b1, b0);
  ck_assert_msg(b3 <= 228 * 1024 / 4 - 1024 && b3 < l[2].part[1].smem_bytes &&
                    strstr(cu[3].s, "__launch_bounds__(128, 4) gated_deltanet_free("),
                "with the fold placement: %ld bytes, not four blocks an SM", b3);
  char *r0 = part_text(cu[0].s, "gated_deltanet_rest("), *r1 = part_text(cu[1].s, "gated_deltanet_rest(");
  ck_assert_msg(!strcmp(r0, r1), "the rest changed with the free part's order");
  free(r0), free(r1);
  for (int i = 0; i < 4; i++) {
    for (int p = 0; p < 4; p++) buf_free(&l[i].part[p].entry);
    buf_free(&cu[i]);
  }
  free(src);
  unsetenv("LRC_PHASE_CHECK");
  char *src2;
  Kernel *dn = chunk_at_128("examples/deltanet.lr", &src);
  Kernel *gla = chunk_at_128("examples/gla.lr", &src2);
  setenv("LRC_PHASE_CHECK", "1", 1);
  char *d0 = cuda_text_with(dn, 1, "LRC_CUDA_PHASE_SCHED", "list"), *d1 = cuda_text(dn, 1);
  ck_assert_msg(strstr(d0, "__launch_bounds__(128, 3) deltanet_free(") &&
                    strstr(d1, "__launch_bounds__(128, 4) deltanet_free("),
                "DeltaNet's free part not from three blocks an SM to four");
  char *g0 = cuda_text_with(gla, 1, "LRC_CUDA_PHASE_SCHED", "list"), *g1 = cuda_text(gla, 1);
  ck_assert_msg(!strcmp(g0, g1), "GLA's kernel changed without a gain");
  free(d0), free(d1), free(g0), free(g1), free(src), free(src2);
}
END_TEST

/* The row folds' sums first (LRC_CUDA_FOLD_SUMS=first, off by default):
 * Gated DeltaNet's free part (bf16, K = V = 128) adds up each of the
 * four trips' parts of q's and k's rows first, then runs the four trips'
 * butterflies together, then scales from the sums; by default each trip
 * its own butterfly. */
START_TEST(fold_sums) {
  char *src;
  Kernel *k = gdn_at_128(&src);
  char *dflt = cuda_text(k, 1), *on = cuda_text_with(k, 1, "LRC_CUDA_FOLD_SUMS", "first");
  char *f0 = part_text(dflt, "gated_deltanet_free("), *f = part_text(on, "gated_deltanet_free(");
  const char *own = "for (int lrc_o = 8; lrc_o > 0; lrc_o >>= 1) lrc_acc = lrc_add(lrc_acc, "
                    "__shfl_xor_sync(0xffffffffu, lrc_acc, lrc_o));";
  ck_assert_msg(count_of_text(f0, own) == 2 && !strstr(f0, "lrc_sums"), "the default folds changed");
  ck_assert_msg(!strstr(f, own) && count_of_text(f, "float lrc_sums[4] = {};") == 2 &&
                    count_of_text(f, "lrc_sums[lrc_v_t] = lrc_acc;") == 2 &&
                    count_of_text(f, "_Pragma(\"unroll\") for (int lrc_w = 0; lrc_w < 4; lrc_w++) "
                                     "lrc_sums[lrc_w] = lrc_add(lrc_sums[lrc_w], __shfl_xor_sync(") == 2 &&
                    count_of_text(f, "float lrc_acc = lrc_sums[lrc_v_t];") == 2,
                "q's and k's folds not summed first, their butterflies not together");
  free(dflt), free(on), free(f0), free(f), free(src);
}
END_TEST

START_TEST(smem_layout) {
  static const char *names[] = {"gated_deltanet", "deltanet", "gla", "kda"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    char path[64], *src;
    snprintf(path, sizeof path, "examples/%s.lr", names[i]);
    Kernel *k = chunk_at_128(path, &src);
    Buf cu = {0}, dense = {0};
    CgCudaLaunch l = {0}, ld = {0};
    cg_emit_cuda_jit(k, 1, &cu, &l);
    setenv("LRC_CUDA_PLACE", "dense", 1);
    cg_emit_cuda_jit(k, 1, &dense, &ld);
    unsetenv("LRC_CUDA_PLACE");
    long smem = l.part[1].smem_bytes, fit = 228 * 1024 / (smem + 1024);
    int threads = fit >= 3 ? 128 : 512;
    long blocks = fit < 2048 / threads ? fit : 2048 / threads;
    if (blocks > 65536 / (threads * 64)) blocks = 65536 / (threads * 64);
    ck_assert_msg(l.part[1].threads == threads, "%s: free part of %ld bytes on %d threads", path,
                  smem, l.part[1].threads);
    char want[128];
    snprintf(want, sizeof want, "__launch_bounds__(%d, %ld) %s_free(", threads, blocks, names[i]);
    ck_assert_msg(strstr(cu.s, want), "%s: no %s", path, want);
    for (int p = 0; p < 4; p++)
      ck_assert_msg(l.part[p].smem_bytes <= ld.part[p].smem_bytes,
                    "%s: part %d in %ld bytes, densest first %ld", path, p, l.part[p].smem_bytes,
                    ld.part[p].smem_bytes);
    if (i == 0)   /* the rest: 102048 bytes, 111264 densest first */
      ck_assert_msg(l.part[2].smem_bytes < ld.part[2].smem_bytes, "%s: rest in %ld bytes", path,
                    l.part[2].smem_bytes);
    snprintf(want, sizeof want, "%s_rest(", names[i]);
    const char *s = strstr(cu.s, want);
    s = s ? strstr(s, "x0_S[i_V + i_K * ") : NULL;
    ck_assert_msg(s && atoi(s + 17) % 16 == 8, "%s: the rest's state in rows of %d floats", path,
                  s ? atoi(s + 17) : -1);
    ck_assert_msg(count_of_text(cu.s, "lrc_t[2 * lrc_j]") == 0 &&
                      count_of_text(cu.s, "*(float4 *)lrc_t = ") > 0 &&
                      count_of_text(cu.s, "lrc_fb = *(const float4 *)(lrc_t + (4 - lrc_hs))") > 0,
                  "%s: shared memory moved float by float", path);
    /* element-wise nests of the free part four points a thread (float4) */
    snprintf(want, sizeof want, "%s_free(", names[i]);
    char *fr = part_text(cu.s, want);
    ck_assert_msg(count_of_text(fr, "lrc_o[lrc_j] = ") > 0 &&
                      count_of_text(fr, "*(float4 *)lrc_r") > 0,
                  "%s: the free part's element-wise nests point by point", path);
    if (i == 0) {
      /* the causal mask of A = (q kᵀ) ⊙ Γ, vectorised along C2: the mask
       * and the renamed read G[C2] see each point's own index */
      const char *v = strstr(fr, "const int i_C2 = lrc_d + lrc_j;");
      const char *end = v ? strchr(v, '}') : NULL;
      char *body = v && end ? strndup(v, (size_t)(end - v)) : NULL;
      ck_assert_msg(body && strstr(body, "(i_C >= i_C2 ? 1.0f : 0.0f)") &&
                        strstr(body, "_G_S[i_C2]") && strstr(body, "lrc_o[lrc_j] = "),
                    "%s: no vector nest with the mask at each point's index", path);
      free(body);
    }
    Buf scalar = {0};
    CgCudaLaunch ls = {0};
    setenv("LRC_CUDA_VEC_NEST", "off", 1);   /* (and the row fold's own point loop) */
    setenv("LRC_CUDA_ROW_FOLD", "off", 1);
    cg_emit_cuda_jit(k, 1, &scalar, &ls);
    unsetenv("LRC_CUDA_VEC_NEST"), unsetenv("LRC_CUDA_ROW_FOLD");
    ck_assert_msg(count_of_text(scalar.s, "lrc_o[lrc_j] = ") == 0, "LRC_CUDA_VEC_NEST=off ignored");
    for (int p = 0; p < 4; p++)
      buf_free(&l.part[p].entry), buf_free(&ld.part[p].entry), buf_free(&ls.part[p].entry);
    buf_free(&cu), buf_free(&dense), buf_free(&scalar), free(src), free(fr);
  }
}
END_TEST

/* The block holding the first KS_IF_LESS under b, and its index there. */
static KBlock *block_of_branch(KBlock *b, int *at) {
  for (int i = 0; i < b->len; i++) {
    KStmt *s = b->data[i];
    if (s->kind == KS_IF_LESS) return *at = i, b;
    KBlock *in = s->kind == KS_FOR || s->kind == KS_IF_NULL ? block_of_branch(&s->body, at) : NULL;
    if (!in && s->kind == KS_IF_NULL) in = block_of_branch(&s->orelse, at);
    if (in) return in;
  }
  return NULL;
}

/* A tile written whole in a branch and read only there lives only there
 * (emit_cuda.c exposed: a branch's writes kill for its own later reads).
 * RWKV-7's chunk kernel (bf16, K = V = 128, C = 16) with the factor k
 * e^-G that N's pairs read moved into their `if Gabs < 20` branch, as a
 * branch's temporary: the fused kernel and the free part in no more
 * shared memory than with the factor before the branch (159520 and
 * 75808 bytes; were the tile live across the whole chunk loop, 161568
 * and 83744). And the free part as the chunk pass makes it, the factors
 * before the branches and shared, in three blocks an SM (75808 bytes;
 * 118048 with each branch making its own, live across the loop: one
 * block). */
START_TEST(branch_temporaries) {
  char *src;
  unsetenv("LRC_PHASE_CHECK");
  Kernel *k = chunk_at_128_c("examples/rwkv7.lr", 16, &src);
  CgCudaLaunch l0 = {0}, l1 = {0};
  Buf cu0 = {0}, cu1 = {0};
  cg_emit_cuda_jit(k, 1, &cu0, &l0);
  int at = -1;
  KBlock *b = block_of_branch(&k->body, &at);
  ck_assert_ptr_nonnull(b);
  int from = -1;
  for (int i = 0; i < at; i++)
    if (b->data[i]->kind == KS_NEST && !strcmp(k->tiles.data[b->data[i]->assigns.data[0].tile].name, "km_S"))
      from = i;
  ck_assert_msg(from >= 0, "no km_S before the first branch");
  KStmt *fac = b->data[from], *br = b->data[at];
  memmove(&b->data[from], &b->data[from + 1], sizeof *b->data * (size_t)(b->len - from - 1));
  b->len--;
  /* the phased form counts the chunk loop's free statements */
  if (b == &k->phase_loop->body && from < k->phase_nfree) k->phase_nfree--;
  VEC_PUSH(&arena, br->body, fac);
  memmove(&br->body.data[1], &br->body.data[0], sizeof *br->body.data * (size_t)(br->body.len - 1));
  br->body.data[0] = fac;
  cg_emit_cuda_jit(k, 1, &cu1, &l1);
  setenv("LRC_PHASE_CHECK", "1", 1);
  for (int p = 0; p < 2; p++)
    ck_assert_msg(l1.part[p].smem_bytes <= l0.part[p].smem_bytes,
                  "%s in %ld bytes with the factor in the branch, %ld before it",
                  p ? "the free part" : "the fused kernel", l1.part[p].smem_bytes, l0.part[p].smem_bytes);
  ck_assert_msg(l0.part[1].smem_bytes <= 75808 && strstr(cu0.s, "__launch_bounds__(128, 3) rwkv7_free("),
                "the free part in %ld bytes, not three blocks an SM", l0.part[1].smem_bytes);
  for (int p = 0; p < 4; p++) buf_free(&l0.part[p].entry), buf_free(&l1.part[p].entry);
  buf_free(&cu0), buf_free(&cu1), free(src);
}
END_TEST

/* The launchers take the phased form only for a kernel whose free part
 * holds serial work (a WY solve, a per-column gate's cumulative sum); a
 * scalar gate's kernel runs fused at any size. */
START_TEST(phase_pays) {
  static const struct { const char *file; bool pays; } want[] = {
      {"examples/gated_deltanet.lr", true}, {"examples/deltanet.lr", true},
      {"examples/gla.lr", true},            {"examples/kda.lr", true},
      {"examples/simple_gla.lr", false},    {"examples/retnet.lr", false},
      {"examples/mamba2.lr", false},
  };
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    char *src = t_read(want[i].file, NULL);
    Kernel *k = kernel_for(graph_of(want[i].file, src), PLAN_CHUNK);
    ck_assert_msg(k && k->phase_loop, "%s: no phased form", want[i].file);
    ck_assert_msg(cg_cuda_phase_pays(k) == want[i].pays, "%s: phase_pays %d, expected %d",
                  want[i].file, cg_cuda_phase_pays(k), want[i].pays);
    free(src);
  }
  /* simple GLA: phased for bfloat16 I/O alone (its rest's records in bf16) */
  char *src = t_read("examples/simple_gla.lr", NULL);
  Kernel *k = kernel_for(graph_of("examples/simple_gla.lr", src), PLAN_CHUNK);
  for (int io = 0; io < 3; io++) {
    Buf cu = {0};
    CgCudaLaunch l = {0};
    cg_emit_cuda_jit(k, io, &cu, &l);
    ck_assert_msg(l.phase_pays == (io == 1), "simple GLA, I/O type %d: phase_pays %d", io,
                  l.phase_pays);
    for (int p = 0; p < 4; p++) buf_free(&l.part[p].entry);
    buf_free(&cu);
  }
  free(src);
  ck_assert(!cg_cuda_phased(false, 128, 8 * 4096, 8, 16));
  ck_assert(cg_cuda_phased(true, 128, 8 * 4096, 8, 16));
}
END_TEST

/* ---------------------------------------------------------------------- */
/* NVRTC: the JIT's source compiles (no device needed)                      */

START_TEST(nvrtc_compiles) {
  if (!in_shard(_i)) return;
  /* Under the sanitizers (make SAN=1 check) NVRTC's own worker threads
   * can crash LeakSanitizer's tracer at exit; NVRTC is not ours to
   * sanitize, and the plain make check compiles every source. */
  const char *san = getenv("LRC_SAN");
  if (san && !strcmp(san, "1")) {
    if (_i == 0) printf("cuda: NVRTC compile checks skipped under the sanitizers\n");
    return;
  }
  lrc_error *err = NULL;
  RtNvrtc *n = rt_nvrtc(ctx, &err);
  if (!n) {
    if (_i == 0) printf("cuda: NVRTC not found; JIT compile checks skipped (%s)\n",
                        lrc_error_message(err));
    lrc_error_free(err);
    return;
  }
  char label[300];
  char *src = source(_i, label, sizeof label);
  ck_assert_msg(src != NULL, "cannot read %s", label);
  Graph *g = graph_of(label, src);
  if (ir_unbound_dim(g)) o_bind_wide_dims(g);
  int built = 0;
  for (int a = 0; a < 3; a++) {
    Kernel *k = kernel_for(g, algos[a]);
    if (!k) continue;
    /* float32 I/O everywhere, bfloat16 and float16 for the chunk form;
     * sm_80 and sm_90 in turn. */
    for (int io = 0; io < (algos[a] == PLAN_CHUNK ? 3 : 1); io++) {
      Buf cu = {0};
      CgCudaLaunch launch = {0};
      cg_emit_cuda_jit(k, io, &cu, &launch);
      ck_assert_int_eq(launch.part[0].threads > 0 && launch.part[0].blocks_per_row >= 1, 1);
      /* Every chunk kernel has the phased form too (passes/phases.c). */
      if (algos[a] == PLAN_CHUNK)
        ck_assert_msg(launch.phased && launch.phase_rec > 0 && launch.part[1].entry.s &&
                          launch.part[2].blocks_per_row >= 1,
                      "%s: no phased form", label);
      void *cubin = NULL;
      size_t len = 0;
      int major = (_i + a + io) % 2 ? 8 : 9;
      int rc = rt_nvrtc_compile(n, cu.s, "t.cu", major, 0, &cubin, &len, &err);
      ck_assert_msg(rc == LRC_OK, "%s, %s, io %d, sm_%d0: %s", label, k->algo, io, major,
                    lrc_error_message(err));
      ck_assert_msg(len > 1000 && memcmp(cubin, "\177ELF", 4) == 0, "%s: no cubin", label);
      free(cubin);
      buf_free(&cu);
      for (int p = 0; p < 4; p++) buf_free(&launch.part[p].entry);
      built++;
    }
  }
  ck_assert_msg(built > 0, "%s: no kernel at all", label);
  free(src);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Without a device                                                         */

static bool have_device(void) {
  lrc_error *err = NULL;
  lrc_ctx *c = lrc_ctx_new();
  bool ok = rt_cuda_driver(c, &err) != NULL;
  lrc_error_free(err);
  lrc_ctx_free(c);
  return ok;
}

START_TEST(no_device_is_an_error) {
  if (have_device() || !in_shard(0)) return;
  lrc_options o;
  lrc_options_init(&o);
  o.target = LRC_TARGET_CUDA;
  o.io_dtype = LRC_BF16;
  const char *src = "rnn ema {\n dim D = 8\n input x[D]\n state h[D]\n output y[D]\n"
                    " h = 0.9 * h + x\n y = h\n}\n";
  lrc_error *err = NULL;
  lrc_module *m = lrc_compile(ctx, src, &o, &err);
  ck_assert_ptr_nonnull(m);
  ck_assert_ptr_null(lrc_kernel_get(m, NULL, &err));
  ck_assert_int_eq(lrc_error_code(err), LRC_ERR_UNSUPPORTED);
  ck_assert_msg(strstr(lrc_error_message(err), "CUDA") != NULL, "%s", lrc_error_message(err));
  lrc_error_free(err);
  /* Asked again: the same answer (the driver is not tried twice). */
  ck_assert_ptr_null(lrc_kernel_get(m, NULL, &err));
  ck_assert_int_eq(lrc_error_code(err), LRC_ERR_UNSUPPORTED);
  lrc_error_free(err);
  char name[64];
  ck_assert(lrc_cuda_copy_gbps(ctx, 0.1, name, sizeof name, &err) < 0);
  ck_assert_int_eq(lrc_error_code(err), LRC_ERR_UNSUPPORTED);
  lrc_error_free(err);
  lrc_module_free(m);

  char *out = NULL;
  int rc = t_lrc(&out, "run examples/gated_deltanet.lr --target=cuda --dtype=bf16");
  ck_assert_msg(rc == 1 && strstr(out, "no CUDA device"), "exit %d: %s", rc, out);
  free(out);
  rc = t_lrc(&out, "bench examples/gated_deltanet.lr --target=cuda --repeat 1");
  ck_assert_msg(rc == 1 && strstr(out, "no CUDA device"), "exit %d: %s", rc, out);
  free(out);
}
END_TEST

/* Flags that are wrong whether or not there is a device. */
START_TEST(cuda_flags) {
  char *out = NULL;
  int rc = t_lrc(&out, "run examples/gated_deltanet.lr --dtype=bf16");
  ck_assert_msg(rc == 1 && strstr(out, "--dtype applies to --target=cuda"), "%d: %s", rc, out);
  free(out);
  rc = t_lrc(&out, "run examples/gated_deltanet.lr --target=cuda --dtype=f64");
  ck_assert_msg(rc == 1 && strstr(out, "bad --dtype 'f64'"), "%d: %s", rc, out);
  free(out);
  rc = t_lrc(&out, "bench examples/gated_deltanet.lr --target=gpu");
  ck_assert_msg(rc == 1 && strstr(out, "--target 'gpu'"), "%d: %s", rc, out);
  free(out);
  lrc_options o;
  lrc_options_init(&o);
  o.target = LRC_TARGET_CUDA;
  o.io_dtype = LRC_F64;
  lrc_error *err = NULL;
  ck_assert_ptr_null(lrc_compile(ctx, "rnn r {\n input x\n state h\n output y\n h = h + x\n"
                                      " y = h\n}\n", &o, &err));
  ck_assert_int_eq(lrc_error_code(err), LRC_ERR_USAGE);
  ck_assert_ptr_nonnull(strstr(lrc_error_message(err), "io_dtype"));
  lrc_error_free(err);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* On a GPU: against the oracle                                             */

typedef struct GpuRun {
  RtGpuKernel *g;
  const Kernel *k;
} GpuRun;

static int run_gpu(void *p, int nb, void **ptrs, const long *count, const int64_t *ints,
                   char **err) {
  GpuRun *gr = p;
  lrc_tensor *t = calloc((size_t)nb, sizeof *t);
  const lrc_tensor **views = calloc((size_t)nb, sizeof *views);
  const int64_t *cu = NULL;
  for (int b = 0; b < nb; b++) {
    if (gr->k->bufs.data[b].role == KB_SEQLENS) {
      if (count[b]) cu = ptrs[b];
      continue;
    }
    if (!ptrs[b]) continue;
    t[b] = (lrc_tensor){.data = ptrs[b], .dtype = LRC_F32, .ndim = 1, .shape = {count[b]}};
    views[b] = &t[b];
  }
  RtCudaRun r = {ints[0], ints[1], ints[2], ints[3], views, cu, false, NULL};
  lrc_error *e = NULL;
  int rc = rt_cuda_run(gr->g, gr->k, &r, 1, NULL, &e);
  if (rc) *err = strdup(lrc_error_message(e));
  lrc_error_free(e);
  free(t);
  free(views);
  return rc ? -1 : 0;
}

/* The relative precision of the intermediates a kernel of I/O io
 * (0 float32, 1 bfloat16, 2 float16) keeps in its I/O type (OCase.unit;
 * float32's are as the oracle's rounding: none). */
static double io_unit(int io) { return io == 1 ? 0x1p-8 : io == 2 ? 0x1p-11 : 0; }

/* Case c (its inputs on bfloat16's grid where io) through gr against
 * the oracle: the relative error (or -1, msg), *tol the tolerance. */
static double gpu_case(const Graph *g, const Kernel *k, GpuRun *gr, OCase *c, int io, char *msg,
                       size_t len, double *tol) {
  c->grid = io ? 128 : 0;
  c->unit = io_unit(io);
  *tol = io ? 2e-2 : 2e-4;
  return o_run_case_on(g, k, run_gpu, gr, c, msg, len);
}

static const OCase cases[] = {
    {.B = 2, .T = 1, .H = 2, .seed = 1, .lo = -1, .hi = 1, .final_state = true},
    {.B = 1, .T = 63, .H = 2, .seed = 2, .lo = -1, .hi = 1, .init_state = true},
    {.B = 2, .T = 65, .H = 1, .seed = 3, .lo = -1, .hi = 1, .init_state = true,
     .final_state = true},
    {.B = 1, .T = 300, .H = 2, .seed = 4, .lo = -1, .hi = 1, .final_state = true},
    {.B = 1, .T = 200, .H = 2, .nseq = 3, .cu = {0, 1, 64, 200}, .seed = 5, .lo = -1, .hi = 1,
     .init_state = true, .final_state = true},
};

/* A module of the CUDA target, without the kernel cache: the context and
 * options rt_cuda_load takes. */
static lrc_module *device_module(void) {
  lrc_options o;
  lrc_options_init(&o);
  o.no_cache = 1;
  o.target = LRC_TARGET_CUDA;
  lrc_error *err = NULL;
  lrc_module *m = lrc_compile(ctx, "rnn r {\n input x\n state h\n output y\n h = h + x\n"
                                   " y = h\n}\n", &o, &err);
  ck_assert_msg(m != NULL, "%s", lrc_error_message(err));
  return m;
}

/* Source i's graph for a test on a device (label: its name), or NULL
 * where this shard does not take it or there is no device (said once:
 * `what` skipped). */
static Graph *device_graph(int i, const char *what, char *label, size_t len, char **src) {
  if (!in_shard(i)) return NULL;
  if (!have_device()) {
    if (i == 0) printf("cuda: %s: no CUDA device\n", what);
    return NULL;
  }
  *src = source(i, label, len);
  ck_assert_msg(*src != NULL, "cannot read %s", label);
  return graph_of(label, *src);
}

START_TEST(gpu_oracle) {
  char label[300], *src;
  Graph *g = device_graph(_i, "skipped", label, sizeof label, &src);
  if (!g) return;
  lrc_error *err = NULL;
  lrc_module *m = device_module();
  /* Small dims (5, 7, 3, ...) for the generic paths in float32; wide ones
   * (multiples of 16) for the tensor-core paths in float32 and bfloat16. */
  for (int wide = 0; wide < 2; wide++) {
    if (wide) o_bind_wide_dims(g);
    else o_bind_small_dims(g);
    for (int a = 0; a < 3; a++) {
      Kernel *k = kernel_for(g, algos[a]);
      if (!k) continue;
      for (int io = 0; io < (wide ? 2 : 1); io++) {
        lrc_dtype dt = io ? LRC_BF16 : LRC_F32;
        bool cached = false;
        /* (the rest's columns split as tests/gpu/jit.sh asks, for the
         * oracle's narrow dims; the emitter's own tests keep the default) */
        const char *split = getenv("LRC_TEST_PHASE_SPLIT");
        if (split) setenv("LRC_CUDA_PHASE_SPLIT", split, 1);
        GpuRun gr = {rt_cuda_load(m, k, g->name, dt, &cached, &err), k};
        unsetenv("LRC_CUDA_PHASE_SPLIT");
        ck_assert_msg(gr.g != NULL, "%s, %s: %s", label, k->algo, lrc_error_message(err));
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
          OCase oc = cases[c];
          char msg[200];
          double tol, e = gpu_case(g, k, &gr, &oc, io, msg, sizeof msg, &tol);
          ck_assert_msg(e >= 0 && e <= tol,
                        "%s (%s dims), %s, %s I/O, case %zu (B=%d T=%d H=%d%s): %s: "
                        "relative error %.3g > %g (seed base %llu)",
                        label, wide ? "wide" : "small", k->algo, io ? "bf16" : "f32", c, oc.B,
                        oc.T, oc.H, oc.nseq ? ", packed" : "", msg, e, tol, o_seed_base());
        }
        rt_cuda_kernel_free(gr.g);
      }
    }
  }
  lrc_module_free(m);
  free(src);
}
END_TEST

/* The examples' chunk kernels as users get them (without the tests'
 * LRC_PHASE_CHECK fills) at their own sizes and at K = V = 128 (the
 * sizes the kernels are tuned for: row folds in several trips, rests on
 * 256 threads, the state in registers), float32 and bfloat16, in each
 * form the launch can take: the fused kernel, the phased form's rest on
 * split columns and on one block a row; then again with the switches
 * that are off by default, and with v20's defaults (the list schedule's
 * order, the first placement, TF32 stores for the products' tiles
 * only; bf16 at K = V = 128, where they were measured), each set where
 * it changes the kernel. */
static const char *const switch_sets[][4][2] = {
    {{"LRC_CUDA_SOLVE", "blocked"},
     {"LRC_CUDA_FOLD_SUMS", "first"},
     {"LRC_CUDA_PAD_FIT", "on"},
     {"LRC_CUDA_WARP_SYNC", "on"}},
    {{"LRC_CUDA_PHASE_SCHED", "list"}, {"LRC_CUDA_FOLD_PLACE", "off"}, {"LRC_CUDA_TF32_STORE", "products"}},
};
enum { NSETS = sizeof switch_sets / sizeof switch_sets[0] };

/* Switch set `set` (1..NSETS) on, or every set's switches off (0). */
static void set_switches(int set) {
  for (int j = 0; j < NSETS; j++)
    for (int i = 0; i < 4 && switch_sets[j][i][0]; i++) unsetenv(switch_sets[j][i][0]);
  for (int i = 0; set && i < 4 && switch_sets[set - 1][i][0]; i++)
    setenv(switch_sets[set - 1][i][0], switch_sets[set - 1][i][1], 1);
}

START_TEST(gpu_forms) {
  char label[300], *src;
  Graph *g = device_graph(_i, "forms skipped", label, sizeof label, &src);
  if (!g) return;
  lrc_error *err = NULL;
  lrc_module *m = device_module();
  static const OCase fcases[] = {
      {.B = 2, .T = 65, .H = 2, .seed = 11, .lo = -1, .hi = 1, .init_state = true,
       .final_state = true},
      {.B = 1, .T = 200, .H = 2, .nseq = 3, .cu = {0, 1, 64, 200}, .seed = 12, .lo = -1, .hi = 1,
       .init_state = true, .final_state = true},
  };
  /* LRC_CUDA_PHASED, LRC_CUDA_ROW at launch */
  static const char *const forms[][2] = {{"off", "off"}, {"on", "off"}, {"on", "on"}};
  int kd = ir_find_dim(g, "K"), vd = ir_find_dim(g, "V");
  setenv("LRC_EMU_RACE", "1", 1);   /* (on the emulator: every launch in two orders) */
  for (int size = 0; size < (kd >= 0 && vd >= 0 ? 2 : 1); size++) {
    if (size) g->dims.data[kd].size = g->dims.data[vd].size = 128;
    unsetenv("LRC_PHASE_CHECK");   /* (the kernels as users get them) */
    Kernel *k = kernel_for(g, PLAN_CHUNK);
    setenv("LRC_PHASE_CHECK", "1", 1);
    if (!k) break;
    for (int io = 0; io < 2; io++) {
      char *plain = cuda_text(k, io);
      for (int next = 0; next <= NSETS; next++) {
        if (next == 2 && (!size || !io)) continue;   /* (v20's defaults: bf16 at K = V = 128) */
        set_switches(next);
        char *text = next ? cuda_text(k, io) : NULL;
        bool same = text && !strcmp(text, plain);
        free(text);
        if (same) {
          set_switches(0);
          continue;
        }
        bool cached = false;
        GpuRun gr = {rt_cuda_load(m, k, g->name, io ? LRC_BF16 : LRC_F32, &cached, &err), k};
        set_switches(0);
        ck_assert_msg(gr.g != NULL, "%s, %s: %s", label, k->algo, lrc_error_message(err));
        for (size_t f = 0; f < sizeof forms / sizeof forms[0]; f++) {
          setenv("LRC_CUDA_PHASED", forms[f][0], 1);
          setenv("LRC_CUDA_ROW", forms[f][1], 1);
          for (size_t c = 0; c < sizeof fcases / sizeof fcases[0]; c++) {
            OCase oc = fcases[c];
            char msg[200];
            double tol, e = gpu_case(g, k, &gr, &oc, io, msg, sizeof msg, &tol);
            ck_assert_msg(e >= 0 && e <= tol,
                          "%s (K=%ld), %s I/O%s, phased %s, rest on rows %s, case %zu: %s: "
                          "relative error %.3g > %g (seed base %llu)",
                          label, kd >= 0 ? g->dims.data[kd].size : 0L, io ? "bf16" : "f32",
                          next == 1 ? ", the switches off by default on"
                          : next == 2 ? ", v20's defaults" : "", forms[f][0],
                          forms[f][1], c, msg, e, tol, o_seed_base());
          }
        }
        unsetenv("LRC_CUDA_PHASED");
        unsetenv("LRC_CUDA_ROW");
        rt_cuda_kernel_free(gr.g);
      }
      free(plain);
    }
  }
  unsetenv("LRC_EMU_RACE");
  lrc_module_free(m);
  free(src);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* On the emulated device: the standalone .cu and its launcher             */

/* The emulator's NVRTC where tests/emu/run.sh runs the tests (LRC_EMU=1;
 * a real NVRTC is not even loaded otherwise: under the sanitizers its
 * allocations would count as leaks), else NULL. */
static void *emu_nvrtc(void) {
  const char *emu = getenv("LRC_EMU");
  if (!emu || strcmp(emu, "1")) return NULL;
  void *h = dlopen("libnvrtc.so.13", RTLD_NOW | RTLD_LOCAL);
  if (h && !dlsym(h, "lrc_emu_version")) {
    dlclose(h);
    h = NULL;
  }
  return h;
}

/* `src` (with the header `hname` holding `hsrc`, unless NULL) built by the
 * emulator's NVRTC with -D`def` (unless NULL): the module's bytes, their
 * length in *len; `what` names it if the build fails. */
static char *emu_compile(void *nv, const char *src, const char *hname, const char *hsrc,
                         const char *def, size_t *len, const char *what) {
  typedef int (*Create)(void **, const char *, const char *, int, const char *const *,
                        const char *const *);
  typedef int (*Compile)(void *, int, const char *const *);
  typedef int (*Size)(void *, size_t *);
  typedef int (*Get)(void *, char *);
  typedef int (*Destroy)(void **);
  Create create = (Create)dlsym(nv, "nvrtcCreateProgram");
  Compile compile = (Compile)dlsym(nv, "nvrtcCompileProgram");
  Size logsize = (Size)dlsym(nv, "nvrtcGetProgramLogSize"), binsize = (Size)dlsym(nv, "nvrtcGetCUBINSize");
  Get getlog = (Get)dlsym(nv, "nvrtcGetProgramLog"), getbin = (Get)dlsym(nv, "nvrtcGetCUBIN");
  Destroy destroy = (Destroy)dlsym(nv, "nvrtcDestroyProgram");
  char inc[4200], defopt[300];
  const char *home = getenv("CUDA_HOME");
  snprintf(inc, sizeof inc, "-I%s/include", home ? home : "tests/emu");
  snprintf(defopt, sizeof defopt, "-D%s", def ? def : "LRC_EMU_PLAIN");
  const char *hdrs[] = {hsrc}, *hnames[] = {hname}, *opts[] = {inc, defopt};
  void *prog = NULL;
  ck_assert_int_eq(create(&prog, src, "k.cu", hsrc ? 1 : 0, hdrs, hnames), 0);
  if (compile(prog, 2, opts) != 0) {
    size_t n = 0;
    logsize(prog, &n);
    char *log = calloc(1, n + 1);
    getlog(prog, log);
    ck_abort_msg("%s: the emulator's NVRTC fails: %s", what, log);
  }
  ck_assert_int_eq(binsize(prog, len), 0);
  char *bin = malloc(*len);
  ck_assert_int_eq(getbin(prog, bin), 0);
  destroy(&prog);
  return bin;
}

/* `lrc emit --emit=cuda`'s NAME.cu and NAME.h for k built by the
 * emulator's NVRTC (with -D`def` unless NULL) and loaded; the launcher. */
static void *emu_build_standalone(void *nv, const Kernel *k, int io, const char *def, void **lib) {
  char hname[300], what[400];
  snprintf(hname, sizeof hname, "%s.h", k->name);
  snprintf(what, sizeof what, "%s, %s's standalone .cu", k->name, k->algo);
  Buf cu = {0}, h = {0};
  cg_emit_cuda(k, hname, io, &cu, &h);
  size_t len = 0;
  char *bin = emu_compile(nv, cu.s, hname, h.s, def, &len, what);
  char path[] = "/tmp/lrc-emu-standalone-XXXXXX";
  int fd = mkstemp(path);
  ck_assert_int_ge(fd, 0);
  ck_assert(write(fd, bin, len) == (ssize_t)len);
  close(fd);
  *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  ck_assert_msg(*lib != NULL, "%s", dlerror());
  unlink(path);
  free(bin);
  buf_free(&cu);
  buf_free(&h);
  void *fn = dlsym(*lib, k->name);
  ck_assert_msg(fn != NULL, "no launcher %s in the standalone .cu", k->name);
  return fn;
}

typedef struct Standalone {
  const Kernel *k;
  void *fn;
  lrc_dtype io;
} Standalone;

/* An ORunner: the launcher on copies of the buffers in the kernel's
 * dtypes, called as its header declares it. */
static int run_standalone(void *p, int nb, void **ptrs, const long *count, const int64_t *ints,
                          char **err) {
  Standalone *sa = p;
  void **dev = calloc((size_t)nb, sizeof *dev);
  ffi_type **types = calloc((size_t)nb + 5, sizeof *types);
  void **vals = calloc((size_t)nb + 5, sizeof *vals);
  void *stream = NULL;
  for (int b = 0; b < nb; b++) {
    const KBuf *kb = &sa->k->bufs.data[b];
    types[b] = &ffi_type_pointer;
    vals[b] = &dev[b];
    if (!ptrs[b] || (kb->role == KB_SEQLENS && !count[b])) continue;
    if (kb->role == KB_SEQLENS) {
      dev[b] = ptrs[b];
      continue;
    }
    lrc_dtype dt = kb->role == KB_STATE_IN || kb->role == KB_STATE_OUT ? LRC_F32 : sa->io;
    size_t bytes = (rt_dtype_size(dt) * (size_t)count[b] + 255) / 256 * 256;
    dev[b] = aligned_alloc(256, bytes ? bytes : 256);
    lrc_tensor t = {.data = ptrs[b], .dtype = LRC_F32, .ndim = 1, .shape = {count[b]}};
    if (kb->role == KB_OUTPUT || kb->role == KB_STATE_OUT) memset(dev[b], 0xff, bytes);
    else rt_pack(&t, dev[b], dt);
  }
  for (int i = 0; i < 4; i++) types[nb + i] = &ffi_type_sint64, vals[nb + i] = (void *)&ints[i];
  types[nb + 4] = &ffi_type_pointer, vals[nb + 4] = &stream;
  ffi_cif cif;
  ffi_sarg rc = -1;
  if (ffi_prep_cif(&cif, FFI_DEFAULT_ABI, (unsigned)nb + 5, &ffi_type_sint, types) == FFI_OK)
    ffi_call(&cif, (void (*)(void))sa->fn, &rc, vals);
  for (int b = 0; b < nb; b++) {
    const KBuf *kb = &sa->k->bufs.data[b];
    if (!dev[b] || kb->role == KB_SEQLENS) continue;
    if (rc == 0 && (kb->role == KB_OUTPUT || kb->role == KB_STATE_OUT)) {
      lrc_dtype dt = kb->role == KB_STATE_OUT ? LRC_F32 : sa->io;
      lrc_tensor t = {.data = ptrs[b], .dtype = LRC_F32, .ndim = 1, .shape = {count[b]}};
      rt_unpack(&t, dev[b], dt);
    }
    free(dev[b]);
  }
  free(dev);
  free(types);
  free(vals);
  if (rc != 0) {
    char m[80];
    snprintf(m, sizeof m, "the launcher returned %d", (int)rc);
    *err = strdup(m);
  }
  return rc == 0 ? 0 : -1;
}

/* The examples' standalone kernels (every algorithm, float32 and
 * bfloat16; float16 too for chunk kernels) through their launchers, at the
 * examples' own sizes: the launchers' own choice of form (fused at T = 1
 * and 65, phased at T = 1100), then for chunk kernels each form by
 * -DLRC_PHASED and -DLRC_ROW_REST (read at each call here: lrc_emu_rt.h's
 * LRC_EMU_FORMS). The errors of 16-bit I/O against the output's condition
 * (OCase.unit): at T = 1, B = H = 1, Mamba-2's y = (C.B dt + D) x cancels
 * now and then. */
START_TEST(emu_standalone) {
  if (!in_shard(_i)) return;
  void *nv = emu_nvrtc();
  if (!nv) {
    if (_i == 0) printf("cuda: standalone launchers: not on the emulator (tests/gpu/run.sh runs them on a GPU)\n");
    return;
  }
  char label[300];
  char *src = source(_i, label, sizeof label);
  ck_assert_msg(src != NULL, "cannot read %s", label);
  Graph *g = graph_of(label, src);
  static const OCase scases[] = {
      {.B = 1, .T = 1, .H = 1, .seed = 24, .lo = -1, .hi = 1, .final_state = true},
      {.B = 2, .T = 65, .H = 2, .seed = 21, .lo = -1, .hi = 1, .init_state = true,
       .final_state = true},
      {.B = 1, .T = 1100, .H = 2, .seed = 22, .lo = -1, .hi = 1, .final_state = true},
      {.B = 1, .T = 200, .H = 2, .nseq = 3, .cu = {0, 1, 64, 200}, .seed = 23, .lo = -1, .hi = 1,
       .init_state = true, .final_state = true},
  };
  static const char *const forms[][2] = {{"0", "0"}, {"1", "0"}, {"1", "1"}};
  for (int a = 0; a < 3; a++) {
    unsetenv("LRC_PHASE_CHECK");   /* (the kernels `lrc emit` writes) */
    Kernel *k = kernel_for(g, algos[a]);
    setenv("LRC_PHASE_CHECK", "1", 1);
    if (!k) continue;
    /* float32 and bfloat16; float16 for chunk kernels */
    for (int io = 0; io < (algos[a] == PLAN_CHUNK ? 3 : 2); io++) {
      for (int f = 0; f < (algos[a] == PLAN_CHUNK && io < 2 ? 2 : 1); f++) {
        void *lib = NULL;
        static const lrc_dtype dts[] = {LRC_F32, LRC_BF16, LRC_F16};
        Standalone sa = {k, emu_build_standalone(nv, k, io, f ? "LRC_EMU_FORMS" : NULL, &lib),
                         dts[io]};
        for (size_t form = 0; form < (f ? 3 : 1); form++) {
          if (f) setenv("LRC_PHASED", forms[form][0], 1), setenv("LRC_ROW_REST", forms[form][1], 1);
          for (size_t c = 0; c < sizeof scases / sizeof scases[0]; c++) {
            OCase oc = scases[c];
            double tol = io == 1 ? 2e-2 : io == 2 ? 1e-2 : 2e-4;
            oc.grid = io ? 128 : 0, oc.unit = io_unit(io);
            char msg[200];
            double e = o_run_case_on(g, k, run_standalone, &sa, &oc, msg, sizeof msg);
            ck_assert_msg(e >= 0 && e <= tol,
                          "%s, %s, standalone, %s I/O%s%s%s, case %zu: %s: relative error %.3g > "
                          "%g (seed base %llu)",
                          label, k->algo, lrc_dtype_name(dts[io]), f ? ", -DLRC_PHASED=" : "",
                          f ? forms[form][0] : "", f ? (form == 2 ? " -DLRC_ROW_REST=1" : "") : "",
                          c, msg, e, tol, o_seed_base());
          }
        }
        unsetenv("LRC_PHASED");
        unsetenv("LRC_ROW_REST");
        dlclose(lib);
      }
    }
  }
  dlclose(nv);
  free(src);
}
END_TEST

/* The emulator notices missing barriers: Gated DeltaNet's phased form
 * (bfloat16, K = V = 64) with each barrier of its two parts left out in
 * turn (LRC_EMU_DROP_BARRIER), each launch run in both orders of its
 * threads (LRC_EMU_RACE). Some barriers guard nothing a test sees (a
 * value written and read by one thread, a hazard another barrier covers
 * too); a third at least must show. */
START_TEST(emu_missing_barriers) {
  if (!in_shard(0)) return;
  void *nv = emu_nvrtc();
  if (!nv) return;
  dlclose(nv);
  char *src = t_read("examples/gated_deltanet.lr", NULL);
  ck_assert_ptr_nonnull(src);
  Graph *g = graph_of("examples/gated_deltanet.lr", src);
  unsetenv("LRC_PHASE_CHECK");   /* (the kernel as users get it) */
  Kernel *k = kernel_for(g, PLAN_CHUNK);
  setenv("LRC_PHASE_CHECK", "1", 1);
  ck_assert_ptr_nonnull(k);
  char *text = cuda_text(k, 1);
  const char *free_part = strstr(text, "_free(");
  ck_assert_ptr_nonnull(free_part);
  int first = count_of_text(text, "__syncthreads();") - count_of_text(free_part, "__syncthreads();");
  int total = count_of_text(text, "__syncthreads();");
  free(text);
  lrc_error *err = NULL;
  lrc_module *m = device_module();
  OCase oc = {.B = 1, .T = 200, .H = 2, .seed = 31, .lo = -1, .hi = 1, .init_state = true,
              .final_state = true, .grid = 128};
  setenv("LRC_CUDA_PHASED", "on", 1);
  setenv("LRC_EMU_RACE", "1", 1);
  char *verbose = getenv("LRC_EMU_VERBOSE") ? strdup(getenv("LRC_EMU_VERBOSE")) : NULL;
  unsetenv("LRC_EMU_VERBOSE");   /* (the failures here are the point) */
  int seen = 0;
  char missed[400] = "";
  for (int n = first + 1; n <= total; n++) {
    char num[16];
    snprintf(num, sizeof num, "%d", n);
    setenv("LRC_EMU_DROP_BARRIER", num, 1);
    bool cached = false;
    GpuRun gr = {rt_cuda_load(m, k, g->name, LRC_BF16, &cached, &err), k};
    ck_assert_msg(gr.g != NULL, "%s", lrc_error_message(err));
    char msg[200];
    double e = o_run_case_on(g, k, run_gpu, &gr, &oc, msg, sizeof msg);
    if (e < 0 || e > 2e-2) seen++;
    else snprintf(missed + strlen(missed), sizeof missed - strlen(missed), " %d", n - first);
    rt_cuda_kernel_free(gr.g);
  }
  unsetenv("LRC_EMU_DROP_BARRIER");
  unsetenv("LRC_EMU_RACE");
  unsetenv("LRC_CUDA_PHASED");
  if (verbose) setenv("LRC_EMU_VERBOSE", verbose, 1);
  free(verbose);
  printf("emu: %d of Gated DeltaNet's %d phased barriers left out show (not:%s)\n", seen,
         total - first, missed);
  ck_assert_msg(3 * seen >= total - first, "only %d of %d missing barriers show", seen,
                total - first);
  lrc_module_free(m);
  free(src);
}
END_TEST

/* The emulator's reports of kernels a GPU would hang on or run wrong:
 * each names what is wrong and the lines of the source; and a kernel whose
 * lanes shuffle on different lines (allowed since sm_70) runs. */
START_TEST(emu_reports) {
  if (!in_shard(1)) return;
  void *nv = emu_nvrtc();
  if (!nv) return;
  typedef int (*Load)(void **, const void *);
  typedef int (*GetFn)(void **, void *, const char *);
  typedef int (*Launch)(void *, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
                        unsigned, void *, void **, void **);
  typedef int (*Str)(int, const char **);
  typedef int (*Alloc)(unsigned long long *, size_t);
  typedef int (*Copy)(void *, unsigned long long, size_t);
  typedef int (*Free)(unsigned long long);
  typedef int (*Unload)(void *);
  Load load = (Load)dlsym(nv, "cuModuleLoadData");
  GetFn getfn = (GetFn)dlsym(nv, "cuModuleGetFunction");
  Launch launch = (Launch)dlsym(nv, "cuLaunchKernel");
  Str str = (Str)dlsym(nv, "cuGetErrorString");
  Alloc alloc = (Alloc)dlsym(nv, "cuMemAlloc_v2");
  Copy dtoh = (Copy)dlsym(nv, "cuMemcpyDtoH_v2");
  Free dfree = (Free)dlsym(nv, "cuMemFree_v2");
  Unload unload = (Unload)dlsym(nv, "cuModuleUnload");
  ck_assert(load && getfn && launch && str && alloc && dtoh && dfree && unload);
  /* (lines 1-3: a helper the emulator drops; 6-7: an asm statement it
   * replaces; the lines keep their numbers) */
  static const char head[] = "static __device__ inline void lrc_cp4(void *d, const void *s) {\n"
                             "  asm volatile(\"cp.async.ca.shared.global [%0], [%1], 4;\" :: \"r\"(0), \"l\"(s));\n"
                             "}\n"
                             "extern \"C\" __global__ void k(float *o) {\n"
                             "  float v = threadIdx.x;\n"
                             "  asm volatile(\"cp.async.commit_group;\"\n"
                             "               ::);\n";
  static const char tail[] = "  o[threadIdx.x] = v;\n}\n";
  static const struct {
    const char *body;         /* lines 8 and on */
    const char *want[3];      /* in the report; none: the launch runs */
  } broken[] = {
      {"  if (threadIdx.x < 64) __syncthreads();\n"
       "  else __syncthreads();\n",
       {"different __syncthreads(): 64 at line 8 (thread 0 first), 64 at line 9 (thread 64 first)"}},
      {"  if (threadIdx.x % 32 < 16) __syncthreads();\n"
       "  else v = __shfl_xor_sync(0xffffffffu, v, 1);\n",
       {"block (0,0,0) hangs: 64 threads at __syncthreads() (line 8) (thread 0 first)",
        "64 threads at a shuffle (line 9) (thread 16 first)"}},
      {"  if (threadIdx.x % 2) v = __shfl_xor_sync(0xffffffffu, v, 2);\n"
       "  else __syncwarp();\n",
       {"at different collectives", "__syncwarp at line 9", "a shuffle at line 8"}},
      {"  float c[4] = {0, 0, 0, 0};\n"
       "  unsigned a[4] = {0, 0, 0, 0}, b[2] = {0, 0};\n"
       "  if (threadIdx.x % 2) lrc_mma_bf16(c, a, b);\n"
       "  else lrc_mma_bf16(c, a, b);\n",
       {"mma (bf16) on different lines (11, 10)", "the same instruction in every lane"}},
      {"  for (int i = 0; i < 3; i++) __syncthreads();\n"
       "  if (threadIdx.x % 2) v += __shfl_xor_sync(0xffffffffu, v, 2);\n"
       "  else v -= __shfl_xor_sync(0xffffffffu, v, 2);\n",
       {NULL}},
  };
  char *verbose = getenv("LRC_EMU_VERBOSE") ? strdup(getenv("LRC_EMU_VERBOSE")) : NULL;
  unsetenv("LRC_EMU_VERBOSE");   /* (the failures here are the point) */
  unsetenv("LRC_EMU_ORDER");     /* (the reports name the first lane's line first) */
  unsigned long long out = 0;
  ck_assert_int_eq(alloc(&out, 128 * sizeof(float)), 0);
  for (size_t i = 0; i < sizeof broken / sizeof broken[0]; i++) {
    char src[1000];
    snprintf(src, sizeof src, "%s%s%s", head, broken[i].body, tail);
    size_t len = 0;
    char *bin = emu_compile(nv, src, NULL, NULL, NULL, &len, "a broken kernel");
    void *mod = NULL, *fn = NULL;
    ck_assert_int_eq(load(&mod, bin), 0);
    ck_assert_int_eq(getfn(&fn, mod, "k"), 0);
    void *params[] = {&out};
    int rc = launch(fn, 1, 1, 1, 128, 1, 1, 0, NULL, params, NULL);
    const char *why = "";
    if (rc) str(rc, &why);
    if (!broken[i].want[0]) {
      ck_assert_msg(rc == 0, "case %zu: %s", i, why);
      float o[128];
      ck_assert_int_eq(dtoh(o, out, sizeof o), 0);
      for (int t = 0; t < 128; t++) {   /* v +- v of the lane 2 away */
        float other = (float)(t ^ 2);
        ck_assert_float_eq(o[t], t % 2 ? t + other : t - other);
      }
    }
    for (int w = 0; w < 3 && broken[i].want[w]; w++)
      ck_assert_msg(rc != 0 && strstr(why, broken[i].want[w]),
                    "case %zu: the report \"%s\" lacks \"%s\"", i, why, broken[i].want[w]);
    unload(mod);
    free(bin);
  }
  dfree(out);
  dlclose(nv);
  if (verbose) setenv("LRC_EMU_VERBOSE", verbose, 1);
  free(verbose);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* On a GPU: the caller's device pointers, through the public API          */

typedef int CUresult;
typedef unsigned long long CUdeviceptr;
static struct {
  CUresult (*init)(unsigned);
  CUresult (*device_get)(int *, int);
  CUresult (*retain)(void **, int);
  CUresult (*set_current)(void *);
  CUresult (*alloc)(CUdeviceptr *, size_t);
  CUresult (*free)(CUdeviceptr);
  CUresult (*htod)(CUdeviceptr, const void *, size_t);
  CUresult (*dtoh)(void *, CUdeviceptr, size_t);
  CUresult (*stream_create)(void **, unsigned);
  CUresult (*stream_sync)(void *);
} cu;

/* The caller's side: its own driver handle and context, as a framework
 * would have. */
static bool load_driver(void) {
  void *h = dlopen("libcuda.so.1", RTLD_NOW);
  if (!h) return false;
  void *f[] = {dlsym(h, "cuInit"), dlsym(h, "cuDeviceGet"), dlsym(h, "cuDevicePrimaryCtxRetain"),
               dlsym(h, "cuCtxSetCurrent"), dlsym(h, "cuMemAlloc_v2"), dlsym(h, "cuMemFree_v2"),
               dlsym(h, "cuMemcpyHtoD_v2"), dlsym(h, "cuMemcpyDtoH_v2"),
               dlsym(h, "cuStreamCreate"), dlsym(h, "cuStreamSynchronize")};
  for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
    if (!f[i]) return false;
  memcpy(&cu, f, sizeof f);
  int dev;
  void *c;
  return cu.init(0) == 0 && cu.device_get(&dev, 0) == 0 && cu.retain(&c, dev) == 0 &&
         cu.set_current(c) == 0;
}

static CUdeviceptr upload(const lrc_tensor *t) {
  size_t bytes = (size_t)lrc_tensor_numel(t) * (t->dtype == LRC_F32 || t->dtype == LRC_I32 ? 4 : 8);
  CUdeviceptr p = 0;
  ck_assert_int_eq(cu.alloc(&p, bytes), 0);
  ck_assert_int_eq(cu.htod(p, t->data, bytes), 0);
  return p;
}

START_TEST(gpu_device_pointers) {
  if (!have_device() || !in_shard(0)) return;
  ck_assert_msg(load_driver(), "the driver loads for lrc but not for the test");
  lrc_options o;
  lrc_options_init(&o);
  o.no_cache = 1;
  o.target = LRC_TARGET_CUDA;
  o.algo = LRC_ALGO_CHUNK;
  lrc_dim dims[] = {{"K", 32}, {"V", 48}};
  o.dims = dims;
  o.ndims = 2;
  size_t len;
  char *src = t_read("examples/gated_deltanet.lr", &len);
  lrc_error *err = NULL;
  lrc_module *m = lrc_compile_buffer(ctx, src, len, &o, &err);
  ck_assert_ptr_nonnull(m);
  lrc_kernel *k = lrc_kernel_get(m, NULL, &err);
  ck_assert_msg(k != NULL, "%s", lrc_error_message(err));
  int ns = lrc_kernel_slot_count(k);
  /* Packed sequences of 1, 70 and 129 tokens, initial and final states. */
  int32_t cuv[] = {0, 1, 71, 200};
  const int64_t T = 200, H = 3, N = 3;
  lrc_tensor host_in[16], host_out[16], dev_out[16], sin[4], sout[4], dsout[4];
  lrc_binding bin[16], bout[16], dbin[16], dbout[16], bsin[4], bsout[4], dbsin[4], dbsout[4];
  CUdeviceptr dptr[40];
  int nin = 0, nout = 0, nst = 0, nd = 0;
  unsigned long long rng = o_seed_base() * 977 + 1;
  for (int s = 0; s < ns; s++) {
    lrc_slot_info si;
    lrc_kernel_slot(k, s, &si);
    int64_t shape[LRC_MAX_NDIM];
    int nl = si.kind == LRC_PARAM ? 1 : si.kind == LRC_STATE ? 2 : 3;
    int64_t lead[3] = {1, T, H};
    if (si.kind == LRC_PARAM) lead[0] = H;
    if (si.kind == LRC_STATE) lead[0] = N, lead[1] = H;
    for (int i = 0; i < nl; i++) shape[i] = lead[i];
    for (int d = 0; d < si.ndims; d++) shape[nl + d] = si.dim_sizes[d];
    lrc_tensor *t = si.kind == LRC_OUTPUT ? &host_out[nout]
                    : si.kind == LRC_STATE ? &sin[nst]
                                           : &host_in[nin];
    ck_assert_int_eq(lrc_tensor_alloc(t, LRC_F32, nl + si.ndims, shape, &err), 0);
    float *p = t->data;
    for (int64_t i = 0; i < lrc_tensor_numel(t); i++) {
      rng = rng * 6364136223846793005ull + 1442695040888963407ull;
      p[i] = (float)((double)(rng >> 11) / 9007199254740992.0) * 2 - 1;
    }
    lrc_tensor d = *t;
    if (si.kind == LRC_OUTPUT) {
      ck_assert_int_eq(lrc_tensor_alloc(&dev_out[nout], LRC_F32, t->ndim, t->shape, &err), 0);
      bout[nout] = (lrc_binding){si.name, *t};
      d.data = (void *)(uintptr_t)(dptr[nd++] = upload(t));
      dbout[nout++] = (lrc_binding){si.name, d};
    } else if (si.kind == LRC_STATE) {
      ck_assert_int_eq(lrc_tensor_alloc(&sout[nst], LRC_F32, t->ndim, t->shape, &err), 0);
      ck_assert_int_eq(lrc_tensor_alloc(&dsout[nst], LRC_F32, t->ndim, t->shape, &err), 0);
      bsin[nst] = (lrc_binding){si.name, *t};
      bsout[nst] = (lrc_binding){si.name, sout[nst]};
      d.data = (void *)(uintptr_t)(dptr[nd++] = upload(t));
      dbsin[nst] = (lrc_binding){si.name, d};
      d.data = (void *)(uintptr_t)(dptr[nd++] = upload(t));
      dbsout[nst++] = (lrc_binding){si.name, d};
    } else {
      bin[nin] = (lrc_binding){si.name, *t};
      d.data = (void *)(uintptr_t)(dptr[nd++] = upload(t));
      dbin[nin++] = (lrc_binding){si.name, d};
    }
  }
  lrc_tensor cut = {.data = cuv, .dtype = LRC_I32, .ndim = 1, .shape = {4}};
  lrc_tensor dcut = cut;
  dcut.data = (void *)(uintptr_t)(dptr[nd++] = upload(&cut));
  /* Host tensors. */
  lrc_args a;
  lrc_args_init(&a);
  a.inputs = bin, a.ninputs = nin, a.outputs = bout, a.noutputs = nout;
  a.state_in = bsin, a.nstate_in = nst, a.state_out = bsout, a.nstate_out = nst;
  a.cu_seqlens = &cut;
  ck_assert_msg(lrc_kernel_run(k, &a, &err) == 0, "%s", lrc_error_message(err));
  /* The same on device pointers, on a stream of the caller's. */
  void *stream = NULL;
  ck_assert_int_eq(cu.stream_create(&stream, 0), 0);
  lrc_args da = a;
  da.inputs = dbin, da.outputs = dbout, da.state_in = dbsin, da.state_out = dbsout;
  da.cu_seqlens = &dcut;
  da.device = 1;
  da.stream = stream;
  ck_assert_msg(lrc_kernel_run(k, &da, &err) == 0, "%s", lrc_error_message(err));
  ck_assert_int_eq(cu.stream_sync(stream), 0);
  for (int i = 0; i < nout; i++) {
    size_t bytes = (size_t)lrc_tensor_numel(&dev_out[i]) * 4;
    ck_assert_int_eq(cu.dtoh(dev_out[i].data, (CUdeviceptr)(uintptr_t)dbout[i].tensor.data, bytes), 0);
    ck_assert_msg(memcmp(dev_out[i].data, host_out[i].data, bytes) == 0,
                  "output %s differs between device pointers and host tensors", bout[i].name);
  }
  for (int i = 0; i < nst; i++) {
    size_t bytes = (size_t)lrc_tensor_numel(&dsout[i]) * 4;
    ck_assert_int_eq(cu.dtoh(dsout[i].data, (CUdeviceptr)(uintptr_t)dbsout[i].tensor.data, bytes), 0);
    ck_assert_msg(memcmp(dsout[i].data, sout[i].data, bytes) == 0, "final state differs");
  }
  /* And the host run against the reference. */
  lrc_tensor ref[16];
  lrc_binding bref[16];
  for (int i = 0; i < nout; i++) {
    ck_assert_int_eq(lrc_tensor_alloc(&ref[i], LRC_F64, host_out[i].ndim, host_out[i].shape, &err), 0);
    bref[i] = (lrc_binding){bout[i].name, ref[i]};
  }
  lrc_args ra = a;
  ra.outputs = bref;
  ra.state_out = NULL, ra.nstate_out = 0;
  ck_assert_int_eq(lrc_kernel_reference(k, &ra, &err), 0);
  for (int i = 0; i < nout; i++) {
    const float *x = host_out[i].data;
    const double *r = ref[i].data;
    double num = 0, den = 0;
    for (int64_t j = 0; j < lrc_tensor_numel(&ref[i]); j++)
      num += (x[j] - r[j]) * (x[j] - r[j]), den += r[j] * r[j];
    ck_assert_msg(sqrt(num / den) < 2e-4, "%s: relative error %g", bout[i].name, sqrt(num / den));
    lrc_tensor_free(&ref[i]);
  }
  /* A device tensor of the wrong dtype is named. */
  dbin[0].tensor.dtype = LRC_BF16;
  ck_assert_int_ne(lrc_kernel_run(k, &da, &err), 0);
  ck_assert_int_eq(lrc_error_code(err), LRC_ERR_USAGE);
  ck_assert_msg(strstr(lrc_error_message(err), "float32"), "%s", lrc_error_message(err));
  lrc_error_free(err);
  /* Timed runs. */
  double times[3];
  ck_assert_msg(lrc_kernel_time(k, &a, 3, times, &err) == 0, "%s", lrc_error_message(err));
  ck_assert(times[0] > 0 && times[2] > 0);
  char name[128];
  double gbps = lrc_cuda_copy_gbps(ctx, 0.05, name, sizeof name, &err);
  /* (a rate, not a speed check: the emulator on a loaded machine copies
   * at a few GB/s) */
  ck_assert_msg(gbps > 0 && isfinite(gbps), "copy rate %g: %s", gbps, err ? lrc_error_message(err) : "");
  printf("cuda: %s, device-to-device copy %.0f GB/s\n", name, gbps);
  for (int i = 0; i < nd; i++) cu.free(dptr[i]);
  for (int i = 0; i < nin; i++) lrc_tensor_free(&host_in[i]);
  for (int i = 0; i < nout; i++) lrc_tensor_free(&host_out[i]), lrc_tensor_free(&dev_out[i]);
  for (int i = 0; i < nst; i++)
    lrc_tensor_free(&sin[i]), lrc_tensor_free(&sout[i]), lrc_tensor_free(&dsout[i]);
  lrc_module_free(m);
  free(src);
}
END_TEST

Suite *cuda_suite(void) {
  if (!nexamples) nexamples = t_examples(&example_files);
  Suite *s = suite_create("cuda");
  TCase *tc = tcase_create("jit");
  tcase_set_timeout(tc, 600);
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_loop_test(tc, nvrtc_compiles, 0, nsources());
  tcase_add_test(tc, no_device_is_an_error);
  tcase_add_test(tc, cuda_flags);
  tcase_add_test(tc, phase_pays);
  tcase_add_test(tc, mma_products);
  tcase_add_test(tc, mma_pairs);
  tcase_add_test(tc, bf16_records);
  tcase_add_test(tc, records_ahead);
  tcase_add_test(tc, tf32_fragments);
  tcase_add_test(tc, barriers_elided);
  tcase_add_test(tc, solo_barriers);
  tcase_add_test(tc, warp_sync);
  tcase_add_test(tc, warp_cumsum);
  tcase_add_test(tc, smem_layout);
  tcase_add_test(tc, branch_temporaries);
  tcase_add_test(tc, solve_blocked);
  tcase_add_test(tc, fold_place);
  tcase_add_test(tc, phase_sched_beam);
  tcase_add_test(tc, fold_sums);
  tcase_add_test(tc, rest_on_rows);
  tcase_add_test(tc, sourced_records);
  tcase_add_test(tc, state_in_registers);
  tcase_add_test(tc, lane_halves);
  tcase_add_test(tc, row_fold);
  tcase_add_test(tc, fold_ahead);
  tcase_add_test(tc, acc_chain);
  tcase_add_test(tc, record_sync);
  tcase_add_test(tc, rec_copy);
  tcase_add_test(tc, half_targets);
  suite_add_tcase(s, tc);
  /* On a device (a GPU, or tests/emu's emulated one: CK_RUN_CASE=device) */
  tc = tcase_create("device");
  tcase_set_timeout(tc, 1800);
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_loop_test(tc, gpu_oracle, 0, nsources());
  tcase_add_loop_test(tc, gpu_forms, 0, nexamples);
  tcase_add_loop_test(tc, emu_standalone, 0, nexamples);
  tcase_add_test(tc, emu_missing_barriers);
  tcase_add_test(tc, emu_reports);
  tcase_add_test(tc, gpu_device_pointers);
  suite_add_tcase(s, tc);
  return s;
}
