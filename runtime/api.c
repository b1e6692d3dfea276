/* api.c — lrc.h: contexts, compiling modules, emitting their forms.
 *
 * Each entry point installs an ir_guard so that an internal error deep in
 * the compiler unwinds here and becomes an LRC_ERR_INTERNAL error object.
 */
#include "rt.h"
#include "../passes/passes.h"
#include "../backends/c/backend.h"

#include <stdlib.h>
#include <string.h>

lrc_ctx *lrc_ctx_new(void) { return calloc(1, sizeof(lrc_ctx)); }

void lrc_ctx_free(lrc_ctx *ctx) {
  if (!ctx) return;
  rt_cuda_free(ctx->cuda);
  rt_nvrtc_free(ctx->nvrtc);
  free(ctx);
}

const char *lrc_version(void) { return LRC_VERSION_STRING; }

void lrc_options_init(lrc_options *o) {
  if (!o) return;
  memset(o, 0, sizeof *o);
  o->size = sizeof *o;
}

void lrc_module_free(lrc_module *m) {
  if (!m) return;
  rt_kernels_free(m->kernels);
  free(m->warnings);
  arena_fini(&m->arena);
  free(m);
}

lrc_module *lrc_compile(lrc_ctx *ctx, const char *source, const lrc_options *opts,
                        lrc_error **err) {
  if (!source) {
    rt_error(err, LRC_ERR_USAGE, "lrc_compile: source is NULL");
    return NULL;
  }
  return lrc_compile_buffer(ctx, source, strlen(source), opts, err);
}

/* Check the caller's options; copy dim bindings into the arena. */
static bool read_options(lrc_module *m, const lrc_options *opts, DimBinding **binds,
                         int *nbinds, lrc_error **err) {
  *binds = NULL;
  *nbinds = 0;
  if (!opts) return true;
  if (opts->size < offsetof(lrc_options, ndims) + sizeof opts->ndims) {
    rt_error(err, LRC_ERR_USAGE, "lrc_options.size is %zu; call lrc_options_init first",
             opts->size);
    return false;
  }
  if (opts->ndims < 0) {
    rt_error(err, LRC_ERR_USAGE, "lrc_options: ndims is %d; it must not be negative",
             opts->ndims);
    return false;
  }
  if (opts->ndims > 0 && !opts->dims) {
    rt_error(err, LRC_ERR_USAGE, "lrc_options: %d dims but dims is NULL", opts->ndims);
    return false;
  }
  *binds = arena_alloc(&m->arena, sizeof(DimBinding) * (size_t)(opts->ndims + 1));
  for (int i = 0; i < opts->ndims; i++) {
    const lrc_dim *d = &opts->dims[i];
    if (!d->name || !d->name[0]) {
      rt_error(err, LRC_ERR_USAGE, "dim binding %d has no name", i + 1);
      return false;
    }
    if (d->size < 1 || d->size > 1000000000L) {
      rt_error(err, LRC_ERR_USAGE, "dim %s=%ld: a size must be from 1 to 1000000000", d->name,
               d->size);
      return false;
    }
    for (int j = 0; j < i; j++)
      if (strcmp(opts->dims[j].name, d->name) == 0) {
        rt_error(err, LRC_ERR_USAGE, "dim %s is given twice", d->name);
        return false;
      }
    (*binds)[i] = (DimBinding){arena_strdup(&m->arena, d->name), d->size, false};
  }
  *nbinds = opts->ndims;
  if (opts->size >= offsetof(lrc_options, no_cache) + sizeof opts->no_cache) {
    if ((unsigned)opts->algo > LRC_ALGO_CHUNK || (unsigned)opts->target > LRC_TARGET_CUDA ||
        opts->chunk < 0) {
      rt_error(err, LRC_ERR_USAGE, "lrc_options: bad algo, target or chunk");
      return false;
    }
    m->algo = opts->algo;
    m->chunk = opts->chunk;
    m->target = opts->target;
    m->cache_dir = opts->cache_dir ? arena_strdup(&m->arena, opts->cache_dir) : NULL;
    m->no_cache = opts->no_cache != 0;
  }
  if (opts->size >= offsetof(lrc_options, io_dtype) + sizeof opts->io_dtype) {
    if (opts->io_dtype != LRC_F32 && opts->io_dtype != LRC_BF16 && opts->io_dtype != LRC_F16) {
      rt_error(err, LRC_ERR_USAGE, "lrc_options: io_dtype must be LRC_F32, LRC_BF16 or LRC_F16");
      return false;
    }
    m->io_dtype = opts->io_dtype;
  }
  return true;
}

lrc_module *lrc_compile_buffer(lrc_ctx *ctx, const char *source, size_t len,
                               const lrc_options *opts, lrc_error **err) {
  if (err) *err = NULL;
  if (!source && len) {
    rt_error(err, LRC_ERR_USAGE, "lrc_compile_buffer: source is NULL");
    return NULL;
  }
  if (len > 64u << 20) {
    rt_error(err, LRC_ERR_USAGE, "source is %zu bytes; the limit is 64 MiB", len);
    return NULL;
  }
  lrc_module *m = calloc(1, sizeof *m);
  if (!m) {
    rt_error(err, LRC_ERR_NOMEM, "out of memory");
    return NULL;
  }
  m->ctx = ctx;
  arena_init(&m->arena);
  Guard guard;
  ir_guard_push(&guard);
  if (setjmp(guard.jb)) {
    rt_error(err, LRC_ERR_INTERNAL, "%s", guard.msg);
    lrc_module_free(m);
    return NULL;
  }
  const char *name = opts && opts->filename ? opts->filename : "<string>";
  m->src.name = arena_strdup(&m->arena, name);
  m->src.text = arena_strndup(&m->arena, source ? source : "", len);
  m->src.len = len;
  diag_init(&m->diags, &m->arena);

  DimBinding *binds;
  int nbinds;
  if (!read_options(m, opts, &binds, &nbinds, err)) goto fail;
  m->prog = ast_parse(&m->arena, &m->diags, &m->src);
  if (m->diags.nerrors == 0) {
    m->ngraphs = m->prog->rnns.len;
    sema_run(&m->arena, &m->diags, m->prog, binds, nbinds, &m->graphs);
  }
  if (m->diags.nerrors) {
    Buf b = {0};
    diag_render(&m->diags, &b);
    rt_error(err, LRC_ERR_SOURCE, "%s", b.s ? b.s : "");
    buf_free(&b);
    if (err && *err) {
      for (int i = 0; i < m->diags.v.len; i++) {
        const Diag *g = &m->diags.v.data[i];
        if (g->kind != DIAG_ERROR) continue;
        if (g->span.src) {
          (*err)->file = strdup(g->span.src->name);
          (*err)->line = g->span.line;
          (*err)->col = g->span.col;
        }
        break;
      }
    }
    goto fail;
  }
  Buf w = {0};
  diag_render(&m->diags, &w);
  m->warnings = buf_take(&w);
  ir_guard_pop(&guard);
  return m;

fail:
  ir_guard_pop(&guard);
  lrc_module_free(m);
  return NULL;
}

const char *lrc_module_warnings(const lrc_module *m) {
  return m && m->warnings ? m->warnings : "";
}

int lrc_module_rnn_count(const lrc_module *m) { return m ? m->ngraphs : 0; }

const char *lrc_module_rnn_name(const lrc_module *m, int i) {
  if (!m || i < 0 || i >= m->ngraphs) return NULL;
  return m->graphs[i]->name;
}

/* The graph named `rnn`, or an error listing the names there are. */
Graph *rt_find_graph(lrc_module *m, const char *rnn, lrc_error **err) {
  if (!rnn) {
    if (m->ngraphs == 1) return m->graphs[0];
    Buf b = {0};
    for (int i = 0; i < m->ngraphs; i++) buf_printf(&b, "%s%s", i ? ", " : "", m->graphs[i]->name);
    rt_error(err, LRC_ERR_USAGE, "%s has %d rnn blocks (%s); choose one with --rnn", m->src.name,
             m->ngraphs, b.s ? b.s : "");
    buf_free(&b);
    return NULL;
  }
  for (int i = 0; i < m->ngraphs; i++)
    if (strcmp(m->graphs[i]->name, rnn) == 0) return m->graphs[i];
  Buf b = {0};
  for (int i = 0; i < m->ngraphs; i++)
    buf_printf(&b, "%s%s", i ? ", " : "", m->graphs[i]->name);
  rt_error(err, LRC_ERR_USAGE, "no rnn named '%s' in %s; it has: %s", rnn, m->src.name,
           b.s ? b.s : "(none)");
  buf_free(&b);
  return NULL;
}

char *lrc_emit(lrc_module *m, const char *rnn, lrc_emit_kind kind, lrc_error **err) {
  if (err) *err = NULL;
  if (!m) {
    rt_error(err, LRC_ERR_USAGE, "lrc_emit: module is NULL");
    return NULL;
  }
  Guard guard;
  ir_guard_push(&guard);
  if (setjmp(guard.jb)) {
    rt_error(err, LRC_ERR_INTERNAL, "%s", guard.msg);
    return NULL;
  }
  Graph *only = NULL;
  if (rnn && !(only = rt_find_graph(m, rnn, err))) {
    ir_guard_pop(&guard);
    return NULL;
  }
  Buf out = {0};
  switch (kind) {
  case LRC_EMIT_AST:
    ast_print(m->prog, &out);
    break;
  case LRC_EMIT_IR:
  case LRC_EMIT_DOT:
    for (int i = 0; i < m->ngraphs; i++) {
      if (only && m->graphs[i] != only) continue;
      if (out.len) buf_puts(&out, "\n");
      if (kind == LRC_EMIT_IR) ir_print(m->graphs[i], &out);
      else ir_print_dot(m->graphs[i], &out);
    }
    break;
  case LRC_EMIT_CANON:
    for (int i = 0; i < m->ngraphs; i++) {
      if (only && m->graphs[i] != only) continue;
      if (out.len) buf_puts(&out, "\n");
      ir_print(pass_canonicalize(&m->arena, m->graphs[i]), &out);
    }
    break;
  case LRC_EMIT_PLAN:
    for (int i = 0; i < m->ngraphs; i++) {
      if (only && m->graphs[i] != only) continue;
      Graph *c = pass_canonicalize(&m->arena, m->graphs[i]);
      Diags d;
      diag_init(&d, &m->arena);
      Plan *p = pass_plan(&m->arena, c, pass_classify(&m->arena, c), (PlanAlgo)m->algo, m->chunk, &d);
      if (!p) {
        ir_guard_pop(&guard);
        buf_free(&out);
        rt_diag_error(err, &d);
        return NULL;
      }
      pass_plan_print(p, c, &out);
    }
    break;
  case LRC_EMIT_KIR:
  case LRC_EMIT_LLVM:
    for (int i = 0; i < m->ngraphs; i++) {
      if (only && m->graphs[i] != only) continue;
      Kernel *k = rt_build_kernel(m, m->graphs[i], err);
      if (!k) {
        ir_guard_pop(&guard);
        buf_free(&out);
        return NULL;
      }
      if (out.len) buf_puts(&out, "\n");
      if (kind == LRC_EMIT_KIR) {
        kir_print(k, &out);
        continue;
      }
      char *cerr = NULL;
      char *ir = cg_llvm_ir(k, &cerr);
      if (!ir) {
        ir_guard_pop(&guard);
        buf_free(&out);
        rt_error(err, LRC_ERR_INTERNAL, "LLVM: %s", cerr ? cerr : "?");
        free(cerr);
        return NULL;
      }
      buf_puts(&out, ir);
      free(ir);
    }
    break;
  default:
    ir_guard_pop(&guard);
    rt_error(err, LRC_ERR_USAGE, "lrc_emit: unknown kind %d", (int)kind);
    return NULL;
  }
  ir_guard_pop(&guard);
  if (out.oom) {
    buf_free(&out);
    rt_error(err, LRC_ERR_NOMEM, "out of memory");
    return NULL;
  }
  return buf_take(&out);
}

static lrc_status emit_source(lrc_module *m, const char *rnn, const char *header_name,
                              char **c_source, char **h_source, bool cuda, int io,
                              lrc_error **err) {
  if (err) *err = NULL;
  if (c_source) *c_source = NULL;
  if (h_source) *h_source = NULL;
  if (!m || !c_source || !h_source)
    return rt_error(err, LRC_ERR_USAGE, "%s: module and outputs must not be NULL", cuda ? "lrc_emit_cuda" : "lrc_emit_c");
  Guard guard;
  ir_guard_push(&guard);
  if (setjmp(guard.jb)) return rt_error(err, LRC_ERR_INTERNAL, "%s", guard.msg);
  Graph *g = rt_find_graph(m, rnn, err);
  if (!g) {
    ir_guard_pop(&guard);
    return err && *err ? (*err)->code : LRC_ERR_USAGE;
  }
  Kernel *k = rt_build_kernel(m, g, err);
  if (!k) {
    ir_guard_pop(&guard);
    return lrc_error_code(err ? *err : NULL) ? lrc_error_code(*err) : LRC_ERR_USAGE;
  }
  Buf c = {0}, h = {0};
  if (cuda) cg_emit_cuda(k, header_name, io, &c, &h);
  else cg_emit_c(k, header_name, &c, &h);
  ir_guard_pop(&guard);
  if (c.oom || h.oom) {
    buf_free(&c);
    buf_free(&h);
    return rt_error(err, LRC_ERR_NOMEM, "out of memory");
  }
  *c_source = buf_take(&c);
  *h_source = buf_take(&h);
  return LRC_OK;
}

lrc_status lrc_emit_c(lrc_module *m, const char *rnn, const char *header_name, char **c_source,
                      char **h_source, lrc_error **err) {
  return emit_source(m, rnn, header_name, c_source, h_source, false, 0, err);
}

lrc_status lrc_emit_cuda(lrc_module *m, const char *rnn, const char *header_name,
                         lrc_dtype io_dtype, char **cu_source, char **h_source, lrc_error **err) {
  if (err) *err = NULL;
  int io = io_dtype == LRC_F32 ? 0 : io_dtype == LRC_BF16 ? 1 : io_dtype == LRC_F16 ? 2 : -1;
  if (io < 0)
    return rt_error(err, LRC_ERR_USAGE,
                    "lrc_emit_cuda: the input/output dtype must be LRC_F32, LRC_BF16 or LRC_F16");
  return emit_source(m, rnn, header_name, cu_source, h_source, true, io, err);
}

lrc_status rt_diag_error(lrc_error **err, const Diags *d) {
  Buf b = {0};
  diag_render(d, &b);
  lrc_status st = rt_error(err, LRC_ERR_SOURCE, "%s", b.s ? b.s : "");
  buf_free(&b);
  if (err && *err) {
    for (int i = 0; i < d->v.len; i++) {
      const Diag *g = &d->v.data[i];
      if (g->kind != DIAG_ERROR || !g->span.src) continue;
      (*err)->file = strdup(g->span.src->name);
      (*err)->line = g->span.line;
      (*err)->col = g->span.col;
      break;
    }
  }
  return st;
}

Kernel *rt_build_kernel(lrc_module *m, const Graph *g, lrc_error **err) {
  Diags d;
  diag_init(&d, &m->arena);
  const char *why = NULL;
  /* On a GPU the chunk form wins wherever it exists (one block per row
   * runs the token loop serially: the recurrent kernels measured 2.8x
   * (Gated DeltaNet) to 4x (simple GLA) slower at T = 4096,
   * docs/perf-cuda.md); decode-sized T wants --algo=recurrent. */
  if (m->target == LRC_TARGET_CUDA && m->algo == LRC_ALGO_AUTO) {
    Kernel *k = pass_pipeline(&m->arena, g, PLAN_CHUNK, m->chunk, &d, &why);
    if (k) return k;
    diag_init(&d, &m->arena);
    why = NULL;
  }
  Kernel *k = pass_pipeline(&m->arena, g, (PlanAlgo)m->algo, m->chunk, &d, &why);
  if (k) return k;
  if (why) rt_error(err, LRC_ERR_USAGE, "%s", why);
  else rt_diag_error(err, &d);
  return NULL;
}
