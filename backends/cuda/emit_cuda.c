/* emit_cuda.c — kernel IR to standalone CUDA: NAME.cu and NAME.h.
 *
 * The output needs no lrc header or library: `nvcc -arch=sm_90a -c NAME.cu`
 * (or sm_80). One thread block per (sequence, head) row of the kernel's
 * parallel loop; every statement is spread over the block's threads:
 *
 *   nest        one assignment at a time, threads over the points of its
 *               target tile, the reduced dims looped by each thread into a
 *               register (no atomics), a barrier after each assignment;
 *   load/store  threads over the elements of a block of rows;
 *   cumsum      threads over the other dims, sequential along the dim;
 *   trisolve    threads over the columns of the right-hand side;
 *   scan        threads over the state's elements, sequential along the
 *               rows, the carry in a register (a log-step scan over the
 *               rows is a later step).
 *
 * Tiles live in shared memory when they fit (160 KiB, within both sm_80
 * and sm_90 limits), else in a global scratch block per row allocated by
 * the launcher on the caller's stream. This is the portable, correct
 * first form of every algorithm; tensor-core products are the next step.
 *
 *   extern "C" int NAME(device pointers..., B, T, H, N, cudaStream_t)
 *
 * returns the launch's cudaError_t (0: success).
 */
#include "../c/emit.h"

#include <string.h>

enum { THREADS = 256, SMEM_MAX = 160 * 1024 };

static void emit_block(Emit *e, const KBlock *b, int depth, bool outer);

/* for (p = threadIdx.x; p < count(dims); p += blockDim.x), with i_DIM
 * for every dim of `dims` decoded from p (layout order). */
static void open_threads(Emit *e, DimSet dims, long extra, int depth) {
  const Kernel *k = e->k;
  long total = extra;
  for (int d = 0; d < k->dims.len; d++)
    if (dims & (1u << d)) total *= k->dims.data[d].size;
  em_ind(e, depth);
  buf_printf(e->out, "for (int64_t lrc_p = threadIdx.x; lrc_p < %ld; lrc_p += blockDim.x) {\n",
             total);
  long stride = 1;
  for (int o = k->dims.len - 1; o >= 0; o--) {
    int d = k->order[o];
    if (!(dims & (1u << d))) continue;
    em_ind(e, depth + 1);
    buf_printf(e->out, "const int64_t i_%s = (lrc_p / %ld) %% %ld;\n", k->dims.data[d].name,
               stride, k->dims.data[d].size);
    stride *= k->dims.data[d].size;
  }
  if (extra > 1) {
    em_ind(e, depth + 1);
    buf_printf(e->out, "const int64_t lrc_r = lrc_p / %ld;\n", stride);
  }
}

static void close_threads(Emit *e, int depth) {
  em_ind(e, depth);
  buf_puts(e->out, "}\n");
  em_ind(e, depth);
  buf_puts(e->out, "__syncthreads();\n");
}

static void emit_nest(Emit *e, const KStmt *s, int depth) {
  const Kernel *k = e->k;
  for (int j = 0; j < s->assigns.len; j++) {
    const KAssign *a = &s->assigns.data[j];
    DimSet td = k->tiles.data[a->tile].dims, red = s->space & ~td;
    open_threads(e, td, 1, depth);
    if (!red) {
      em_ind(e, depth + 1);
      em_put_elem(e, a->tile);
      if (a->acc == KACC_SET) {
        buf_puts(e->out, " = ");
        em_put_expr(e, a->expr);
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
      int open = 0;
      for (int o = 0; o < k->dims.len; o++) {
        int d = k->order[o];
        if (!(red & (1u << d))) continue;
        em_ind(e, depth + 1 + open++);
        buf_printf(e->out, "for (int64_t i_%s = 0; i_%s < %ld; i_%s++)\n", k->dims.data[d].name,
                   k->dims.data[d].name, k->dims.data[d].size, k->dims.data[d].name);
      }
      em_ind(e, depth + 1 + open);
      if (a->acc == KACC_ADD) buf_puts(e->out, "lrc_acc += ");
      else if (a->acc == KACC_MAX) buf_puts(e->out, "lrc_acc = fmaxf(lrc_acc, ");
      else buf_puts(e->out, "lrc_acc = ");
      em_put_expr(e, a->expr);
      buf_puts(e->out, a->acc == KACC_MAX ? ");\n" : ";\n");
      em_ind(e, depth + 1);
      em_put_elem(e, a->tile);
      buf_puts(e->out, " = lrc_acc;\n");
    }
    close_threads(e, depth);
  }
}

/* A block of rows between a tile and a buffer (the slot's declared dim
 * order, contiguous); rows beyond `rows` load as zeros and are not
 * stored. */
static void emit_transfer(Emit *e, const KStmt *s, int depth) {
  const Kernel *k = e->k;
  const DimTable *dt = &k->dims;
  const Slot *sl = em_buf_slot(k, s->buf);
  bool load = s->kind == KS_LOAD, rows = s->rowdim >= 0;
  long cnt = ir_slot_count(k->g, sl);
  em_ind(e, depth);
  buf_puts(e->out, "{\n");
  em_ind(e, depth + 1);
  buf_puts(e->out, "const int64_t lrc_base = ");
  em_put_idx(e, s->idx);
  buf_puts(e->out, ";\n");
  if (rows) {
    em_ind(e, depth + 1);
    buf_puts(e->out, "const int64_t lrc_nrows = ");
    em_put_idx(e, s->rows);
    buf_puts(e->out, ", lrc_rstride = ");
    em_put_idx(e, s->rowstride);
    buf_puts(e->out, ";\n");
  }
  /* Threads over rows x the slot's elements; the element's dims decoded
   * in the slot's declared order. */
  long nrow = rows ? dt->data[s->rowdim].size : 1;
  em_ind(e, depth + 1);
  buf_printf(e->out, "for (int64_t lrc_p = threadIdx.x; lrc_p < %ld; lrc_p += blockDim.x) {\n",
             nrow * cnt);
  em_ind(e, depth + 2);
  buf_printf(e->out, "const int64_t lrc_e = lrc_p %% %ld;\n", cnt);
  long st = 1;
  for (int i = sl->ndims - 1; i >= 0; i--) {
    const DimInfo *d = &dt->data[sl->dims[i]];
    em_ind(e, depth + 2);
    buf_printf(e->out, "const int64_t i_%s = (lrc_e / %ld) %% %ld;\n", d->name, st, d->size);
    st *= d->size;
  }
  if (rows) {
    em_ind(e, depth + 2);
    buf_printf(e->out, "const int64_t i_%s = lrc_p / %ld;\n", dt->data[s->rowdim].name, cnt);
  }
  em_ind(e, depth + 2);
  Buf o = {0};
  if (rows) buf_printf(&o, "lrc_base + i_%s * lrc_rstride + lrc_e", dt->data[s->rowdim].name);
  else buf_puts(&o, "lrc_base + lrc_e");
  /* Inputs, params and outputs in the I/O type; states always float. */
  KBufRole role = k->bufs.data[s->buf].role;
  int io = role == KB_STATE_IN || role == KB_STATE_OUT ? 0 : e->io;
  static const char *to_f[] = {"", "__bfloat162float", "__half2float"};
  static const char *from_f[] = {"", "__float2bfloat16", "__float2half"};
  if (load) {
    em_put_elem(e, s->tile);
    buf_puts(e->out, " = ");
    if (rows) buf_printf(e->out, "i_%s < lrc_nrows ? ", dt->data[s->rowdim].name);
    buf_printf(e->out, "%s(", to_f[io]);
    em_put_buf_name(e, s->buf);
    buf_printf(e->out, "[%s])", o.s);
    buf_puts(e->out, rows ? " : 0.0f;\n" : ";\n");
  } else {
    if (rows) buf_printf(e->out, "if (i_%s < lrc_nrows) ", dt->data[s->rowdim].name);
    em_put_buf_name(e, s->buf);
    buf_printf(e->out, "[%s] = %s(", o.s, from_f[io]);
    em_put_elem(e, s->tile);
    buf_puts(e->out, ");\n");
  }
  buf_free(&o);
  close_threads(e, depth + 1);
  em_ind(e, depth);
  buf_puts(e->out, "}\n");
}

/* Running sum along a dim: threads over the other dims. */
static void emit_cumsum(Emit *e, const KStmt *s, int depth) {
  const Kernel *k = e->k;
  DimSet td = k->tiles.data[s->tile].dims;
  const char *c = k->dims.data[s->dim].name;
  open_threads(e, td & ~(1u << s->dim), 1, depth);
  em_ind(e, depth + 1);
  buf_puts(e->out, "float lrc_acc = 0.0f;\n");
  em_ind(e, depth + 1);
  buf_printf(e->out, "for (int64_t i_%s = 0; i_%s < %ld; i_%s++) {\n", c, c,
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
  close_threads(e, depth);
}

/* X = (I + N)^-1 X: threads over X's columns (its dims other than the
 * row dim), forward substitution down each column. */
static void emit_trisolve(Emit *e, const KStmt *s, int depth) {
  const Kernel *k = e->k;
  DimSet xd = k->tiles.data[s->tile].dims;
  const char *ri = k->dims.data[s->dim].name, *ci = k->dims.data[s->dim2].name;
  long n = k->dims.data[s->dim].size;
  open_threads(e, xd & ~(1u << s->dim), 1, depth);
  em_ind(e, depth + 1);
  buf_printf(e->out, "for (int64_t i_%s = 1; i_%s < %ld; i_%s++) {\n", ri, ri, n, ri);
  em_ind(e, depth + 2);
  buf_puts(e->out, "float lrc_acc = ");
  em_put_elem(e, s->tile);
  buf_puts(e->out, ";\n");
  em_ind(e, depth + 2);
  buf_printf(e->out, "for (int64_t i_%s = 0; i_%s < i_%s; i_%s++) {\n", ci, ci, ri, ci);
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

static void emit_stmt(Emit *e, const KStmt *s, int depth, bool outer) {
  const Kernel *k = e->k;
  switch (s->kind) {
  case KS_FOR:
    em_ind(e, depth);
    if (s->parallel && outer) {
      /* The rows of the parallel loop are the grid's blocks. */
      buf_printf(e->out, "{\n");
      em_ind(e, depth + 1);
      buf_printf(e->out, "const int64_t v_%s = blockIdx.x;\n", k->vars.data[s->var]);
    } else {
      buf_printf(e->out, "for (int64_t v_%s = ", k->vars.data[s->var]);
      em_put_idx(e, s->lo);
      buf_printf(e->out, "; v_%s < ", k->vars.data[s->var]);
      em_put_idx(e, s->hi);
      buf_printf(e->out, "; v_%s++) {\n", k->vars.data[s->var]);
    }
    emit_block(e, &s->body, depth + 1, false);
    em_ind(e, depth);
    buf_puts(e->out, "}\n");
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
  case KS_FILL:
    em_ind(e, depth);
    buf_printf(e->out, "for (int64_t lrc_p = threadIdx.x; lrc_p < %ld; lrc_p += blockDim.x) ",
               kir_tile_count(k, s->tile));
    em_put_tile_name(e, s->tile);
    buf_puts(e->out, "[lrc_p] = ");
    em_put_float(e->out, s->num);
    buf_puts(e->out, ";\n");
    em_ind(e, depth);
    buf_puts(e->out, "__syncthreads();\n");
    break;
  case KS_COPY:
    em_ind(e, depth);
    buf_printf(e->out, "for (int64_t lrc_p = threadIdx.x; lrc_p < %ld; lrc_p += blockDim.x) ",
               kir_tile_count(k, s->tile));
    em_put_tile_name(e, s->tile);
    buf_puts(e->out, "[lrc_p] = ");
    em_put_tile_name(e, s->tile2);
    buf_puts(e->out, "[lrc_p];\n");
    em_ind(e, depth);
    buf_puts(e->out, "__syncthreads();\n");
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
    buf_printf(e->out, "const int64_t i_%s = i_%s * %d + %d;\n", dt->data[big].name,
               dt->data[small].name, s->nphase, s->phase);
    em_ind(e, depth + 1);
    em_put_elem(e, s->tile);
    buf_puts(e->out, " = ");
    em_put_elem(e, s->tile2);
    buf_puts(e->out, ";\n");
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
     * written before the last barrier. */
    em_ind(e, depth);
    em_put_if(e, s);
    emit_block(e, &s->body, depth + 1, false);
    em_ind(e, depth);
    buf_puts(e->out, "} else {\n");
    emit_block(e, &s->orelse, depth + 1, false);
    em_ind(e, depth);
    buf_puts(e->out, "}\n");
    break;
  }
}

static void emit_block(Emit *e, const KBlock *b, int depth, bool outer) {
  for (int i = 0; i < b->len; i++) emit_stmt(e, b->data[i], depth, outer);
}

static void put_params(Emit *e, bool names) {
  const Kernel *k = e->k;
  for (int i = 0; i < k->bufs.len; i++) {
    const KBuf *b = &k->bufs.data[i];
    bool in = b->role == KB_INPUT || b->role == KB_PARAM || b->role == KB_STATE_IN ||
              b->role == KB_SEQLENS;
    static const char *io_types[] = {"float", "__nv_bfloat16", "__half"};
    bool state = b->role == KB_STATE_IN || b->role == KB_STATE_OUT;
    buf_printf(e->out, "%s%s%s *", i ? ", " : "", in ? "const " : "",
               b->role == KB_SEQLENS ? "int64_t" : state ? "float" : io_types[e->io]);
    if (names) em_put_buf_name(e, i);
  }
  buf_puts(e->out, names ? ", int64_t B, int64_t T, int64_t H, int64_t N"
                         : ", int64_t, int64_t, int64_t, int64_t");
}

static const char cuda_prelude[] =
    "#include <cuda_bf16.h>\n"
    "#include <cuda_fp16.h>\n"
    "#include <cuda_runtime.h>\n"
    "#include <stdint.h>\n"
    "\n"
    "#pragma nv_diag_suppress 177   /* helpers this kernel does not use */\n"
    "static __device__ inline int64_t lrc_min64(int64_t a, int64_t b) { return a < b ? a : b; }\n"
    "static __device__ inline float lrc_rsqrt(float x) { return 1.0f / sqrtf(x); }\n"
    "static __device__ inline float lrc_sigmoid(float x) {\n"
    "  return x >= 0.0f ? 1.0f / (1.0f + expf(-x)) : expf(x) / (1.0f + expf(x));\n"
    "}\n"
    "static __device__ inline float lrc_softplus(float x) {\n"
    "  return fmaxf(x, 0.0f) + log1pf(expf(-fabsf(x)));\n"
    "}\n"
    "static __device__ inline float lrc_logsigmoid(float x) { return -lrc_softplus(-x); }\n"
    "static __device__ inline float lrc_silu(float x) { return x * lrc_sigmoid(x); }\n"
    "static __device__ inline float lrc_elu(float x) { return x > 0.0f ? x : expm1f(x); }\n"
    "static __device__ inline float lrc_relu(float x) { return x > 0.0f ? x : 0.0f; }\n";

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
              " * asynchronously on the stream.\n */\n");
  buf_printf(o,
             "#ifndef %s\n#define %s\n\n#include <cuda_bf16.h>\n#include <cuda_fp16.h>\n"
             "#include <cuda_runtime.h>\n#include <stdint.h>\n\n",
             guard, guard);
  buf_puts(o, "#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n");
  buf_printf(o, "int %s(", k->name);
  put_params(e, true);
  buf_puts(o, ", cudaStream_t stream);\n\n#ifdef __cplusplus\n}\n#endif\n\n#endif\n");
}

static void emit_source(Emit *e, const char *hname) {
  const Kernel *k = e->k;
  Buf *o = e->out;
  bool shared = e->scratch * 4 <= SMEM_MAX;
  buf_printf(o, "/* %s.cu — generated by lrc %s: rnn %s, algorithm %s. */\n", k->name,
             LRC_VERSION_STRING_INTERNAL, k->g->name, k->algo);
  if (hname) buf_printf(o, "#include \"%s\"\n", hname);
  buf_puts(o, cuda_prelude);
  buf_printf(o, "\nstatic __global__ void __launch_bounds__(%d) %s_kernel(", THREADS, k->name);
  put_params(e, true);
  buf_puts(o, ", float *lrc_scratch) {\n  (void)B;\n  (void)N;\n  (void)lrc_scratch;\n");
  if (shared) {
    buf_puts(o, "  extern __shared__ float lrc_smem[];\n");
    buf_puts(o, "  float *lrc_mem = lrc_smem;\n");
  } else {
    buf_printf(o, "  float *lrc_mem = lrc_scratch + (int64_t)blockIdx.x * %ld;\n", e->scratch);
  }
  for (int t = 0; t < k->tiles.len; t++) {
    buf_puts(o, "  float *__restrict__ ");
    em_put_tile_name(e, t);
    buf_printf(o, " = lrc_mem + %ld;\n", e->tile_off[t]);
  }
  emit_block(e, &k->body, 1, true);
  buf_puts(o, "}\n\n");
  buf_printf(o, "extern \"C\" int %s(", k->name);
  put_params(e, true);
  buf_puts(o, ", cudaStream_t stream) {\n");
  buf_puts(o, "  const int64_t rows = N * H;\n  if (rows <= 0) return 0;\n");
  buf_puts(o, "  float *lrc_scratch = NULL;\n  size_t smem = 0;\n");
  if (shared) {
    buf_printf(o, "  smem = %ld;\n", e->scratch * 4);
    buf_printf(o,
               "  if (smem > 48 * 1024) {\n"
               "    cudaError_t e = cudaFuncSetAttribute(%s_kernel, "
               "cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);\n"
               "    if (e != cudaSuccess) return (int)e;\n  }\n",
               k->name);
  } else {
    buf_printf(o,
               "  cudaError_t e = cudaMallocAsync((void **)&lrc_scratch, sizeof(float) * %ldull * "
               "(size_t)rows, stream);\n  if (e != cudaSuccess) return (int)e;\n",
               e->scratch);
  }
  buf_printf(o, "  %s_kernel<<<(unsigned)rows, %d, smem, stream>>>(", k->name, THREADS);
  for (int i = 0; i < k->bufs.len; i++) {
    buf_puts(o, i ? ", " : "");
    em_put_buf_name(e, i);
  }
  buf_puts(o, ", B, T, H, N, lrc_scratch);\n");
  buf_puts(o, "  cudaError_t err = cudaGetLastError();\n");
  if (!shared) buf_puts(o, "  cudaFreeAsync(lrc_scratch, stream);\n");
  buf_puts(o, "  return (int)err;\n}\n");
}

void cg_emit_cuda(const Kernel *k, const char *header_name, int io, Buf *cu_out, Buf *h_out) {
  Emit e = {.k = k, .cuda = true, .io = io};
  e.tile_off = arena_alloc(k->arena, sizeof(long) * (size_t)(k->tiles.len + 1));
  for (int t = 0; t < k->tiles.len; t++) {
    e.tile_off[t] = e.scratch;
    e.scratch += (kir_tile_count(k, t) + 3) & ~3L;   /* 16-byte aligned tiles */
  }
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
  emit_source(&e, header_name);
}
