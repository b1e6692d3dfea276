/* kernel.c — lrc_kernel: compiling a module's rnn for the CPU or a CUDA
 * device (through the kernel cache), binding the caller's tensors by name,
 * running the kernel (on threads over the (sequence, head) rows, or on the
 * GPU through cuda.c), and the float64 reference on the same arguments.
 */
#include "rt.h"
#include "../backends/c/backend.h"
#include "../passes/passes.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct lrc_kernel {
  lrc_module *m;
  Graph *g;
  Kernel *kir;
  CgJit *jit;
  void (*fn)(void);
  RtGpuKernel *gpu;        /* LRC_TARGET_CUDA */
  const char *algo;
  double compile_ms;
  bool from_cache;
  lrc_kernel *next;
};

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

void lrc_args_init(lrc_args *a) {
  if (!a) return;
  memset(a, 0, sizeof *a);
  a->size = sizeof *a;
}

void rt_kernels_free(lrc_kernel *k) {
  while (k) {
    lrc_kernel *next = k->next;
    cg_jit_free(k->jit);
    rt_cuda_kernel_free(k->gpu);
    free(k);
    k = next;
  }
}

/* The cache key: everything the object code depends on. */
static char *cache_key(const lrc_kernel *k, const char *host) {
  Buf b = {0};
  buf_printf(&b, "lrc %s\nbuild %s\nhost %s\nrnn %s\nalgo %s\n", LRC_VERSION_STRING,
             cg_build_id(), host, k->g->name, k->algo);
  kir_print(k->kir, &b);
  buf_puts(&b, "source\n");
  buf_putn(&b, k->m->src.text, k->m->src.len);
  return buf_take(&b);
}

static int compile(lrc_kernel *k, lrc_error **err) {
  double t0 = now_ms();
  char *cerr = NULL;
  char *host = cg_host_id();
  char *key = host ? cache_key(k, host) : NULL;
  char *dir = k->m->no_cache ? NULL : rt_cache_dir(k->m->cache_dir);
  void *obj = NULL;
  size_t len = 0;
  int rc = LRC_OK;
  if (!key) {
    rc = rt_error(err, LRC_ERR_NOMEM, "out of memory");
    goto done;
  }
  if (dir && rt_cache_get(dir, key, strlen(key), &obj, &len) == 0) {
    k->from_cache = true;
  } else if (cg_llvm_object(k->kir, &obj, &len, &cerr) != 0) {
    rc = rt_error(err, LRC_ERR_INTERNAL, "LLVM could not compile rnn '%s': %s", k->g->name,
                  cerr ? cerr : "?");
    goto done;
  } else if (dir) {
    rt_cache_put(dir, key, strlen(key), obj, len);   /* best effort */
  }
  char sym[300];
  snprintf(sym, sizeof sym, "%s_range", k->kir->name);
  k->jit = cg_jit_load(obj, len, sym, &k->fn, &cerr);
  if (!k->jit)
    rc = rt_error(err, LRC_ERR_INTERNAL, "JIT could not load rnn '%s': %s", k->g->name,
                  cerr ? cerr : "?");
done:
  free(cerr);
  free(obj);
  free(key);
  free(host);
  free(dir);
  k->compile_ms = now_ms() - t0;
  return rc;
}

lrc_kernel *lrc_kernel_get(lrc_module *m, const char *rnn, lrc_error **err) {
  if (err) *err = NULL;
  if (!m) {
    rt_error(err, LRC_ERR_USAGE, "lrc_kernel_get: module is NULL");
    return NULL;
  }
  Graph *g = rt_find_graph(m, rnn, err);
  if (!g) return NULL;
  for (lrc_kernel *c = m->kernels; c; c = c->next)
    if (c->g == g) return c;
  if (m->target == LRC_TARGET_CUDA && !m->ctx) {
    rt_error(err, LRC_ERR_USAGE, "CUDA kernels need the module to be compiled with a context");
    return NULL;
  }
  lrc_kernel *volatile k = calloc(1, sizeof *k);
  if (!k) {
    rt_error(err, LRC_ERR_NOMEM, "out of memory");
    return NULL;
  }
  k->m = m;
  k->g = g;
  k->algo = "recurrent";
  Guard guard;
  ir_guard_push(&guard);
  if (setjmp(guard.jb)) {
    rt_error(err, LRC_ERR_INTERNAL, "%s", guard.msg);
    free(k);
    return NULL;
  }
  k->kir = rt_build_kernel(m, g, err);
  if (!k->kir) {
    ir_guard_pop(&guard);
    free(k);
    return NULL;
  }
  k->algo = k->kir->algo;
  int rc = LRC_OK;
  if (m->target == LRC_TARGET_CUDA) {
    double t0 = now_ms();
    bool cached = false;
    k->gpu = rt_cuda_load(m, k->kir, g->name, m->io_dtype, &cached, err);
    k->from_cache = cached;
    k->compile_ms = now_ms() - t0;
    if (!k->gpu) rc = err && *err ? (*err)->code : LRC_ERR_INTERNAL;
  } else {
    rc = compile(k, err);
  }
  ir_guard_pop(&guard);
  if (rc != LRC_OK) {
    rt_kernels_free(k);
    return NULL;
  }
  k->next = m->kernels;
  m->kernels = k;
  return k;
}

const char *lrc_kernel_algorithm(const lrc_kernel *k) { return k ? k->algo : ""; }
double lrc_kernel_flops_per_token(const lrc_kernel *k) { return k ? k->kir->work_flops : 0; }
double lrc_kernel_compile_ms(const lrc_kernel *k) { return k ? k->compile_ms : 0; }
int lrc_kernel_from_cache(const lrc_kernel *k) { return k && k->from_cache; }

static const Slot *slot_at(const Graph *g, int i) {
  if (i < g->inputs.len) return &g->inputs.data[i];
  i -= g->inputs.len;
  if (i < g->params.len) return &g->params.data[i];
  i -= g->params.len;
  if (i < g->states.len) return &g->states.data[i];
  i -= g->states.len;
  if (i < g->outputs.len) return &g->outputs.data[i];
  return NULL;
}

int lrc_kernel_slot_count(const lrc_kernel *k) {
  const Graph *g = k->g;
  return g->inputs.len + g->params.len + g->states.len + g->outputs.len;
}

int lrc_kernel_slot(const lrc_kernel *k, int i, lrc_slot_info *info) {
  const Slot *s = k && i >= 0 ? slot_at(k->g, i) : NULL;
  if (!s) return LRC_ERR_USAGE;
  static const lrc_slot_kind kinds[] = {LRC_INPUT, LRC_PARAM, LRC_STATE, LRC_OUTPUT};
  memset(info, 0, sizeof *info);
  info->name = s->name;
  info->kind = kinds[s->kind];
  info->ndims = s->ndims;
  for (int d = 0; d < s->ndims; d++) {
    info->dim_names[d] = k->g->dims.data[s->dims[d]].name;
    info->dim_sizes[d] = k->g->dims.data[s->dims[d]].size;
  }
  return LRC_OK;
}

/* ---------------------------------------------------------------------- */
/* Binding arguments                                                       */

typedef struct Bound {
  int64_t B, T, H, N;
  const lrc_tensor **slot;   /* per kernel slot (inputs, params, states in/out, outputs) */
  const lrc_tensor **state_out;
  int64_t *cu;               /* int64 copy of cu_seqlens, or NULL */
} Bound;

static int lrc_kernel_slot_count_g(const Graph *g) {
  return g->inputs.len + g->params.len + g->states.len + g->outputs.len;
}

static const char *kind_word(SlotKind k) { return ir_slot_kind_name(k); }

/* "[B, T, H, K] = [2, 64, 4, 128]" for a slot with its leading dims. */
static void expected_shape(const Graph *g, const Slot *s, const char *lead, const int64_t *lv,
                           int nl, Buf *b) {
  buf_printf(b, "[%s", lead);
  for (int d = 0; d < s->ndims; d++) buf_printf(b, ", %s", g->dims.data[s->dims[d]].name);
  buf_puts(b, "] = [");
  for (int i = 0; i < nl; i++) buf_printf(b, "%s%lld", i ? ", " : "", (long long)lv[i]);
  for (int d = 0; d < s->ndims; d++)
    buf_printf(b, ", %ld", g->dims.data[s->dims[d]].size);
  buf_puts(b, "]");
}

static void shape_str(const lrc_tensor *t, Buf *b) {
  buf_puts(b, "[");
  for (int i = 0; i < t->ndim; i++) buf_printf(b, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
  buf_puts(b, "]");
}

static int check_shape(const Graph *g, const Slot *s, const char *role, const lrc_tensor *t,
                       const char *lead, const int64_t *lv, int nl, lrc_error **err) {
  bool ok = t->ndim == nl + s->ndims && t->data != NULL;
  for (int i = 0; ok && i < nl; i++) ok = t->shape[i] == lv[i];
  for (int d = 0; ok && d < s->ndims; d++) ok = t->shape[nl + d] == g->dims.data[s->dims[d]].size;
  if (ok && rt_dtype_size(t->dtype) == 0) ok = false;
  if (ok) return LRC_OK;
  Buf b = {0};
  if (!t->data) buf_printf(&b, "%s '%s' has no data", role, s->name);
  else {
    buf_printf(&b, "%s '%s' has shape ", role, s->name);
    shape_str(t, &b);
    buf_puts(&b, "; expected ");
    expected_shape(g, s, lead, lv, nl, &b);
  }
  int rc = rt_error(err, LRC_ERR_USAGE, "%s", b.s ? b.s : "bad shape");
  buf_free(&b);
  return rc;
}

/* Find the slot named `name` among `kind` slots; -1 if none. */
static int find_slot(const Graph *g, SlotKind kind, const char *name) {
  for (int i = 0; i < lrc_kernel_slot_count_g(g); i++) {
    const Slot *s = slot_at(g, i);
    if (s->kind == kind && strcmp(s->name, name) == 0) return i;
  }
  return -1;
}

static void names_of(const Graph *g, SlotKind kind, SlotKind kind2, Buf *b) {
  bool first = true;
  for (int i = 0; i < lrc_kernel_slot_count_g(g); i++) {
    const Slot *s = slot_at(g, i);
    if (s->kind != kind && s->kind != kind2) continue;
    buf_printf(b, "%s%s", first ? "" : ", ", s->name);
    first = false;
  }
  if (first) buf_puts(b, "(none)");
}

static int bind(const lrc_kernel *k, const lrc_args *a, Bound *bd, lrc_error **err) {
  const Graph *g = k->g;
  int ns = lrc_kernel_slot_count_g(g);
  memset(bd, 0, sizeof *bd);
  if (!a || a->size < sizeof(lrc_args))
    return rt_error(err, LRC_ERR_USAGE, "lrc_args.size is wrong; call lrc_args_init first");
  bd->slot = calloc((size_t)ns + 1, sizeof *bd->slot);
  bd->state_out = calloc((size_t)g->states.len + 1, sizeof *bd->state_out);
  if (!bd->slot || !bd->state_out) return rt_error(err, LRC_ERR_NOMEM, "out of memory");
  /* Name lookups. */
  struct {
    const lrc_binding *v;
    int n;
    SlotKind k1, k2;
    const char *what;
  } groups[] = {
      {a->inputs, a->ninputs, SLOT_INPUT, SLOT_PARAM, "input or param"},
      {a->outputs, a->noutputs, SLOT_OUTPUT, SLOT_OUTPUT, "output"},
      {a->state_in, a->nstate_in, SLOT_STATE, SLOT_STATE, "state"},
      {a->state_out, a->nstate_out, SLOT_STATE, SLOT_STATE, "state"},
  };
  for (int gi = 0; gi < 4; gi++) {
    for (int i = 0; i < groups[gi].n; i++) {
      const lrc_binding *b = &groups[gi].v[i];
      int si = b->name ? find_slot(g, groups[gi].k1, b->name) : -1;
      if (si < 0 && b->name && groups[gi].k2 != groups[gi].k1)
        si = find_slot(g, groups[gi].k2, b->name);
      if (si < 0) {
        Buf nb = {0};
        names_of(g, groups[gi].k1, groups[gi].k2, &nb);
        int rc = rt_error(err, LRC_ERR_USAGE, "rnn '%s' has no %s named '%s' (it has: %s)",
                          g->name, groups[gi].what, b->name ? b->name : "(null)", nb.s);
        buf_free(&nb);
        return rc;
      }
      const lrc_tensor **dst = gi == 3 ? &bd->state_out[si - g->inputs.len - g->params.len]
                                       : &bd->slot[si];
      if (*dst)
        return rt_error(err, LRC_ERR_USAGE, "'%s' is given twice", b->name);
      *dst = &b->tensor;
    }
  }
  /* Every input, param and output is required. */
  for (int i = 0; i < ns; i++) {
    const Slot *s = slot_at(g, i);
    if (s->kind != SLOT_STATE && !bd->slot[i])
      return rt_error(err, LRC_ERR_USAGE, "missing %s '%s'", kind_word(s->kind), s->name);
  }
  /* B, T, H from the first per-token tensor; H from a param otherwise. */
  const lrc_tensor *first = NULL;
  for (int i = 0; i < ns && !first; i++)
    if (slot_at(g, i)->kind == SLOT_INPUT || slot_at(g, i)->kind == SLOT_OUTPUT) first = bd->slot[i];
  if (!first || first->ndim < 3)
    return rt_error(err, LRC_ERR_USAGE,
                    "cannot tell B, T, H: per-token tensors are [B, T, H, dims...]");
  bd->B = first->shape[0];
  bd->T = first->shape[1];
  bd->H = first->shape[2];
  if (bd->B < 1 || bd->T < 0 || bd->H < 1)
    return rt_error(err, LRC_ERR_USAGE, "B, T, H = %lld, %lld, %lld: B and H must be positive",
                    (long long)bd->B, (long long)bd->T, (long long)bd->H);
  bd->N = bd->B;
  if (a->cu_seqlens) {
    const lrc_tensor *c = a->cu_seqlens;
    if (c->ndim != 1 || c->shape[0] < 2 || (c->dtype != LRC_I32 && c->dtype != LRC_I64))
      return rt_error(err, LRC_ERR_USAGE,
                      "cu_seqlens must be a 1-D int32 or int64 tensor of N+1 offsets");
    if (bd->B != 1)
      return rt_error(err, LRC_ERR_USAGE, "with cu_seqlens, B must be 1 (packed sequences); "
                      "got B = %lld", (long long)bd->B);
    bd->N = c->shape[0] - 1;
    bd->cu = malloc(sizeof(int64_t) * (size_t)(bd->N + 1));
    if (!bd->cu) return rt_error(err, LRC_ERR_NOMEM, "out of memory");
    rt_pack(c, bd->cu, LRC_I64);
    if (bd->cu[0] != 0)
      return rt_error(err, LRC_ERR_USAGE, "cu_seqlens[0] is %lld; it must be 0",
                      (long long)bd->cu[0]);
    for (int64_t i = 1; i <= bd->N; i++)
      if (bd->cu[i] < bd->cu[i - 1])
        return rt_error(err, LRC_ERR_USAGE, "cu_seqlens decreases at index %lld (%lld after %lld)",
                        (long long)i, (long long)bd->cu[i], (long long)bd->cu[i - 1]);
    if (bd->cu[bd->N] != bd->T)
      return rt_error(err, LRC_ERR_USAGE,
                      "cu_seqlens ends at %lld but the tensors hold T = %lld tokens",
                      (long long)bd->cu[bd->N], (long long)bd->T);
  }
  int64_t tok[3] = {bd->B, bd->T, bd->H}, head[1] = {bd->H}, st[2] = {bd->N, bd->H};
  for (int i = 0; i < ns; i++) {
    const Slot *s = slot_at(g, i);
    int rc = LRC_OK;
    switch (s->kind) {
    case SLOT_INPUT:
    case SLOT_OUTPUT:
      rc = check_shape(g, s, kind_word(s->kind), bd->slot[i], "B, T, H", tok, 3, err);
      break;
    case SLOT_PARAM:
      rc = check_shape(g, s, "param", bd->slot[i], "H", head, 1, err);
      break;
    case SLOT_STATE: {
      int j = i - g->inputs.len - g->params.len;
      const char *lead = a->cu_seqlens ? "N, H" : "B, H";
      if (bd->slot[i]) rc = check_shape(g, s, "initial state", bd->slot[i], lead, st, 2, err);
      if (!rc && bd->state_out[j])
        rc = check_shape(g, s, "final state", bd->state_out[j], lead, st, 2, err);
      break;
    }
    }
    if (rc) return rc;
  }
  return LRC_OK;
}

static void unbind(Bound *bd) {
  free(bd->slot);
  free(bd->state_out);
  free(bd->cu);
}

/* ---------------------------------------------------------------------- */
/* Running                                                                 */

typedef struct Job {
  void (*fn)(void);
  int nptrs;
  void **ptrs;
  int64_t ints[6];
  int rc;
  char *err;
} Job;

static void *run_job(void *p) {
  Job *j = p;
  j->rc = rt_call_kernel(j->fn, j->nptrs, j->ptrs, 6, j->ints, &j->err);
  return NULL;
}

static int default_threads(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n < 1 ? 1 : n > 256 ? 256 : (int)n;
}

/* The caller's tensor of each kernel buffer (NULL: absent, or cu_seqlens). */
static const lrc_tensor **buffer_views(const lrc_kernel *k, const Bound *bd) {
  const Kernel *kir = k->kir;
  const Graph *g = k->g;
  const lrc_tensor **views = calloc((size_t)kir->bufs.len + 1, sizeof *views);
  for (int b = 0; views && b < kir->bufs.len; b++) {
    const KBuf *kb = &kir->bufs.data[b];
    switch (kb->role) {
    case KB_INPUT: views[b] = bd->slot[kb->slot]; break;
    case KB_PARAM: views[b] = bd->slot[g->inputs.len + kb->slot]; break;
    case KB_STATE_IN: views[b] = bd->slot[g->inputs.len + g->params.len + kb->slot]; break;
    case KB_STATE_OUT: views[b] = bd->state_out[kb->slot]; break;
    case KB_OUTPUT:
      views[b] = bd->slot[g->inputs.len + g->params.len + g->states.len + kb->slot];
      break;
    case KB_SEQLENS: break;
    }
  }
  return views;
}

/* A CUDA kernel's run (repeat timed runs with times). Device tensors are
 * bound like host ones, except that cu_seqlens is read from the device
 * first so that bind can check it. */
static int run_cuda(lrc_kernel *k, const lrc_args *a, int repeat, double *times,
                    lrc_error **err) {
  lrc_args copy;
  lrc_tensor cu = {0};
  if (a && a->size >= sizeof(lrc_args) && a->device && a->cu_seqlens) {
    const lrc_tensor *c = a->cu_seqlens;
    if (c->ndim != 1 || c->shape[0] < 2 || (c->dtype != LRC_I32 && c->dtype != LRC_I64) ||
        !rt_is_contiguous(c))
      return rt_error(err, LRC_ERR_USAGE,
                      "cu_seqlens must be a contiguous 1-D int32 or int64 tensor of N+1 offsets");
    int rc = lrc_tensor_alloc(&cu, c->dtype, 1, c->shape, err);
    if (!rc)
      rc = rt_cuda_to_host(k->m->ctx->cuda, cu.data, c->data,
                           rt_dtype_size(c->dtype) * (size_t)c->shape[0], err);
    if (rc) {
      lrc_tensor_free(&cu);
      return rc;
    }
    copy = *a;
    copy.cu_seqlens = &cu;
    a = &copy;
  }
  Bound bd;
  int rc = bind(k, a, &bd, err);
  const lrc_tensor **views = rc ? NULL : buffer_views(k, &bd);
  if (!rc && !views) rc = rt_error(err, LRC_ERR_NOMEM, "out of memory");
  if (!rc) {
    RtCudaRun r = {bd.B, bd.T, bd.H, bd.N, views, bd.cu, a->device != 0, a->stream};
    rc = rt_cuda_run(k->gpu, k->kir, &r, repeat, times, err);
  }
  free(views);
  unbind(&bd);
  lrc_tensor_free(&cu);
  return rc;
}

int lrc_kernel_run(lrc_kernel *k, const lrc_args *a, lrc_error **err) {
  if (err) *err = NULL;
  if (!k) return rt_error(err, LRC_ERR_USAGE, "lrc_kernel_run: kernel is NULL");
  if (k->gpu) return run_cuda(k, a, 1, NULL, err);
  Bound bd;
  int rc = bind(k, a, &bd, err);
  const Kernel *kir = k->kir;
  int nb = kir->bufs.len;
  void **ptrs = calloc((size_t)nb + 1, sizeof *ptrs);
  void **temps = calloc((size_t)nb + 1, sizeof *temps);   /* packed copies */
  const lrc_tensor **views = rc ? NULL : buffer_views(k, &bd);
  if (!rc && (!ptrs || !temps || !views)) rc = rt_error(err, LRC_ERR_NOMEM, "out of memory");
  for (int b = 0; !rc && b < nb; b++) {
    const KBuf *kb = &kir->bufs.data[b];
    const lrc_tensor *t = views[b];
    if (kb->role == KB_SEQLENS) ptrs[b] = bd.cu;
    if (!t) continue;
    if (t->dtype == LRC_F32 && rt_is_contiguous(t)) {
      ptrs[b] = t->data;
      continue;
    }
    int64_t n = lrc_tensor_numel(t);
    temps[b] = malloc(sizeof(float) * (size_t)(n ? n : 1));
    if (!temps[b]) {
      rc = rt_error(err, LRC_ERR_NOMEM, "out of memory converting '%s'", kb->name);
      break;
    }
    if (kb->role != KB_OUTPUT && kb->role != KB_STATE_OUT) rt_pack(t, temps[b], LRC_F32);
    ptrs[b] = temps[b];
  }
  if (!rc) {
    int64_t rows = bd.N * bd.H;
    int nt = a->nthreads > 0 ? a->nthreads : default_threads();
    if (nt > rows) nt = (int)(rows > 0 ? rows : 1);
    Job *jobs = calloc((size_t)nt, sizeof *jobs);
    pthread_t *th = calloc((size_t)nt, sizeof *th);
    if (!jobs || !th) {
      rc = rt_error(err, LRC_ERR_NOMEM, "out of memory");
    } else {
      for (int i = 0; i < nt; i++) {
        Job *j = &jobs[i];
        *j = (Job){k->fn, nb, ptrs, {bd.B, bd.T, bd.H, bd.N, rows * i / nt, rows * (i + 1) / nt},
                   0, NULL};
      }
      int started = 0;
      for (int i = 1; i < nt; i++) {
        if (pthread_create(&th[i], NULL, run_job, &jobs[i]) != 0) break;
        started = i;
      }
      /* Rows of threads that could not start run here. */
      run_job(&jobs[0]);
      for (int i = started + 1; i < nt; i++) run_job(&jobs[i]);
      for (int i = 1; i <= started; i++) pthread_join(th[i], NULL);
      for (int i = 0; i < nt && !rc; i++)
        if (jobs[i].rc)
          rc = rt_error(err, LRC_ERR_NOMEM, "kernel failed: %s", jobs[i].err ? jobs[i].err : "?");
      for (int i = 0; i < nt; i++) free(jobs[i].err);
    }
    free(jobs);
    free(th);
  }
  for (int b = 0; temps && b < nb; b++) {
    const KBuf *kb = &kir->bufs.data[b];
    if (!rc && temps[b] && (kb->role == KB_OUTPUT || kb->role == KB_STATE_OUT))
      rt_unpack(views[b], temps[b], LRC_F32);
    free(temps[b]);
  }
  free(ptrs);
  free(temps);
  free(views);
  unbind(&bd);
  return rc;
}

int lrc_kernel_time(lrc_kernel *k, const lrc_args *a, int repeat, double *times,
                    lrc_error **err) {
  if (err) *err = NULL;
  if (!k || !times || repeat < 1)
    return rt_error(err, LRC_ERR_USAGE, "lrc_kernel_time: needs a kernel, repeat >= 1 and times");
  if (k->gpu) return run_cuda(k, a, repeat, times, err);
  for (int i = 0; i < repeat; i++) {
    double t0 = now_ms();
    int rc = lrc_kernel_run(k, a, err);
    if (rc) return rc;
    times[i] = now_ms() - t0;
  }
  return LRC_OK;
}

double lrc_cuda_copy_gbps(lrc_ctx *ctx, double seconds, char *name, int len, lrc_error **err) {
  if (err) *err = NULL;
  if (!ctx) return rt_error(err, LRC_ERR_USAGE, "lrc_cuda_copy_gbps: ctx is NULL"), -1;
  RtCuda *c = rt_cuda_driver(ctx, err);
  if (!c) return -1;
  if (name && len > 0) {
    char dev[200];
    int major, minor;
    rt_cuda_device(c, dev, sizeof dev, &major, &minor);
    snprintf(name, (size_t)len, "%s (sm_%d%d)", dev, major, minor);
  }
  return rt_cuda_copy_gbps(ctx, seconds, err);
}

int lrc_kernel_reference_rows(lrc_kernel *k, const lrc_args *a, int64_t row_begin,
                              int64_t row_end, lrc_error **err) {
  if (err) *err = NULL;
  if (!k) return rt_error(err, LRC_ERR_USAGE, "lrc_kernel_reference: kernel is NULL");
  Bound bd;
  int rc = bind(k, a, &bd, err);
  const Graph *g = k->g;
  int ns = lrc_kernel_slot_count_g(g);
  double **d = calloc((size_t)ns + 1, sizeof *d);
  double **dout = calloc((size_t)g->states.len + 1, sizeof *dout);
  if (!rc && (!d || !dout)) rc = rt_error(err, LRC_ERR_NOMEM, "out of memory");
  for (int i = 0; !rc && i < ns; i++) {
    const lrc_tensor *t = bd.slot[i];
    if (!t) continue;
    int64_t n = lrc_tensor_numel(t);
    d[i] = malloc(sizeof(double) * (size_t)(n ? n : 1));
    if (!d[i]) rc = rt_error(err, LRC_ERR_NOMEM, "out of memory");
    else if (slot_at(g, i)->kind != SLOT_OUTPUT) rt_pack(t, d[i], LRC_F64);
    else rt_pack(t, d[i], LRC_F64);   /* rows not computed keep their values */
  }
  for (int i = 0; !rc && i < g->states.len; i++) {
    if (!bd.state_out[i]) continue;
    int64_t n = lrc_tensor_numel(bd.state_out[i]);
    dout[i] = malloc(sizeof(double) * (size_t)(n ? n : 1));
    if (!dout[i]) rc = rt_error(err, LRC_ERR_NOMEM, "out of memory");
    else rt_pack(bd.state_out[i], dout[i], LRC_F64);
  }
  if (!rc) {
    int ni = g->inputs.len, np = g->params.len, nst = g->states.len;
    long *cu = NULL;
    if (bd.cu) {
      cu = malloc(sizeof(long) * (size_t)(bd.N + 1));
      for (int64_t i = 0; cu && i <= bd.N; i++) cu[i] = (long)bd.cu[i];
    }
    RtInterpArgs ia = {.B = (int)bd.B, .T = (int)bd.T, .H = (int)bd.H, .cu_seqlens = cu,
                       .nseq = (int)bd.N, .inputs = (const double *const *)d,
                       .params = (const double *const *)(d + ni),
                       .state_in = (const double *const *)(d + ni + np),
                       .outputs = d + ni + np + nst, .state_out = dout,
                       .row_begin = row_begin, .row_end = row_end};
    char *ierr = NULL;
    if (bd.cu && !cu) rc = rt_error(err, LRC_ERR_NOMEM, "out of memory");
    else if (rt_interp(g, &ia, &ierr) != 0)
      rc = rt_error(err, LRC_ERR_USAGE, "%s", ierr ? ierr : "reference interpreter failed");
    free(ierr);
    free(cu);
    for (int i = 0; !rc && i < g->outputs.len; i++)
      rt_unpack(bd.slot[ni + np + nst + i], d[ni + np + nst + i], LRC_F64);
    for (int i = 0; !rc && i < nst; i++)
      if (bd.state_out[i]) rt_unpack(bd.state_out[i], dout[i], LRC_F64);
  }
  for (int i = 0; d && i < ns; i++) free(d[i]);
  for (int i = 0; dout && i < g->states.len; i++) free(dout[i]);
  free(d);
  free(dout);
  unbind(&bd);
  return rc;
}

int lrc_kernel_reference(lrc_kernel *k, const lrc_args *a, lrc_error **err) {
  return lrc_kernel_reference_rows(k, a, 0, 0, err);
}
