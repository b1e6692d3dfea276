/* run.c — `lrc run FILE.lr`: run a recurrence on the CPU or a CUDA GPU.
 *
 * Without --in: draws random inputs of --shape, runs the kernel, checks a
 * sample of (sequence, head) rows against the float64 reference and
 * prints the error and the time. With --in: reads every input and param
 * from .npy files, runs, and writes the outputs and final states named by
 * --out and --state-out.
 */
#include "cli.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char help[] =
    "usage: lrc run FILE.lr [--rnn NAME] [--dim K=..,V=..] [--target=cpu|cuda]\n"
    "               [--algo=auto|recurrent|scan|chunk] [--chunk=C]\n"
    "               [--in NAME=PATH.npy ...] [--out NAME=PATH.npy ...]\n"
    "               [--state-in NAME=PATH.npy ...] [--state-out NAME=PATH.npy ...]\n"
    "               [--cu-seqlens PATH.npy] [--shape B=..,T=..,H=..] [--seed N]\n"
    "               [--dtype=f32|bf16|f16] [--threads N] [--repeat N] [--no-cache]\n"
    "\n"
    "Without --in: random inputs of --shape (default B=2,T=256,H=4, uniform in\n"
    "[-1, 1) from --seed), a run, and a check of the first and last (sequence,\n"
    "head) rows against the float64 reference interpreter. Exit 2 if they differ\n"
    "by more than the tolerance, relative to the outputs' size or, where an output\n"
    "nearly cancels, to how far it moves when the inputs move by the kernel's\n"
    "precision.\n"
    "With --in: every input and param comes from a .npy file ([B, T, H, dims...],\n"
    "params [H, dims...], states [N, H, dims...]); outputs named by --out and\n"
    "final states named by --state-out are written as float32 .npy files.\n"
    "--target=cuda compiles the kernel with NVRTC and runs it on GPU 0 (host\n"
    "tensors are copied there and back); --dtype sets its inputs', params' and\n"
    "outputs' type on the device (states stay f32). With bf16 or f16 the random\n"
    "inputs lie on a grid the dtype holds exactly, so the reference sees the\n"
    "kernel's inputs; the tolerance is then 2e-2.\n";

/* The NaN pattern that marks reference elements not computed. */
#define RT_UNSET 0x7ff8dead0000beefull

static unsigned long long rng;
static double uniform(void) {
  rng = rng * 6364136223846793005ull + 1442695040888963407ull;
  return (double)(rng >> 11) / 9007199254740992.0;
}

typedef struct Slots {
  int n;
  lrc_slot_info *info;
} Slots;

/* Relative L2 error of `x` against `ref` over the elements where ref was
 * computed (not NaN). ||ref|| is taken as no less than an RMS of 0.01
 * (the random inputs are of order 1), and no less than ||moved - ref|| /
 * (2 unit), moved the reference on the inputs each moved by a relative
 * `unit` (the kernel's precision), that floor at most 10 ||ref||: an
 * output that nearly cancels (a normaliser's denominator near 0,
 * Mamba-2's C.B dt + D x at T = 1) is ill-conditioned, and the kernel's
 * rounding of its terms is a large part of it; against the condition,
 * that is no bug (tests/oracle.c's rel_l2 alike). */
static double rel_error(const lrc_tensor *x, const lrc_tensor *ref, const lrc_tensor *moved,
                        double unit, long *nonfinite) {
  const float *a = x->data;
  const double *r = ref->data, *m = moved ? moved->data : NULL;
  double num = 0, den = 0, mv = 0;
  long n = 0;
  for (int64_t i = 0; i < lrc_tensor_numel(x); i++) {
    if (isnan(r[i]) && ((const uint64_t *)ref->data)[i] == RT_UNSET) continue;
    if (!isfinite(r[i])) {
      (*nonfinite)++;
      continue;
    }
    double d = (double)a[i] - r[i];
    if (isnan(a[i])) return INFINITY;
    num += d * d;
    den += r[i] * r[i];
    if (m && isfinite(m[i])) mv += (m[i] - r[i]) * (m[i] - r[i]);
    n++;
  }
  if (den < 1e-4 * (double)n) den = 1e-4 * (double)n;
  if (m) den = fmax(den, fmin(mv / (4 * unit * unit), 100 * den));
  return den > 0 ? sqrt(num / den) : sqrt(num);
}

/* The reference's first and last of `rows` (sequence, head) rows into
 * fresh float64 tensors (out[j] for output j, st[j] for final state j, in
 * args' shapes, NaN elsewhere), on args' inputs, or on each input and
 * param moved by a relative `unit` at most (random signs) where unit > 0. */
static int reference_into(lrc_kernel *k, const lrc_args *args, double unit, long rows,
                          lrc_tensor *out, lrc_tensor *st, lrc_error **err) {
  lrc_args ra = *args;
  lrc_binding *bo = calloc((size_t)args->noutputs + 1, sizeof *bo);
  lrc_binding *bs = calloc((size_t)args->nstate_out + 1, sizeof *bs);
  lrc_binding *bi = calloc((size_t)args->ninputs + 1, sizeof *bi);
  lrc_tensor *moved = calloc((size_t)args->ninputs + 1, sizeof *moved);
  int rc = 0;
  for (int j = 0; j < args->noutputs + args->nstate_out; j++) {
    bool isout = j < args->noutputs;
    const lrc_binding *b = isout ? &args->outputs[j] : &args->state_out[j - args->noutputs];
    lrc_tensor *t = isout ? &out[j] : &st[j - args->noutputs];
    lrc_tensor_alloc(t, LRC_F64, b->tensor.ndim, b->tensor.shape, NULL);
    for (int64_t i = 0; i < lrc_tensor_numel(t); i++) ((uint64_t *)t->data)[i] = RT_UNSET;
    if (isout) bo[j] = (lrc_binding){b->name, *t};
    else bs[j - args->noutputs] = (lrc_binding){b->name, *t};
  }
  ra.outputs = bo, ra.state_out = bs;
  if (unit > 0) {
    unsigned long long keep = rng;
    rng = 0x2545F4914F6CDD1Dull;
    for (int j = 0; j < args->ninputs; j++) {
      const lrc_tensor *t = &args->inputs[j].tensor;
      bi[j] = args->inputs[j];
      if (t->dtype != LRC_F32) continue;   /* (the random inputs are float32) */
      lrc_tensor_alloc(&moved[j], LRC_F64, t->ndim, t->shape, NULL);
      double *d = moved[j].data;
      for (int64_t i = 0; i < lrc_tensor_numel(t); i++)
        d[i] = ((const float *)t->data)[i] * (1 + unit * (2 * uniform() - 1));
      bi[j] = (lrc_binding){args->inputs[j].name, moved[j]};
    }
    rng = keep;
    ra.inputs = bi;
  }
  rc = lrc_kernel_reference_rows(k, &ra, 0, 1, err);
  if (!rc && rows > 1) rc = lrc_kernel_reference_rows(k, &ra, rows - 1, rows, err);
  for (int j = 0; j < args->ninputs; j++) lrc_tensor_free(&moved[j]);
  free(moved), free(bi), free(bo), free(bs);
  return rc;
}

int cmd_run(int argc, char **argv) {
  for (int i = 2; i < argc; i++)   /* --help anywhere: lrc run F.lr --help */
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      fputs(help, stdout);
      return 0;
    }
  Args a = {.cmd = "run"};
  int code = cli_parse(&a, argc, argv, 2,
                       "rnn dim target algo chunk in out state-in state-out cu-seqlens shape "
                       "seed threads repeat no-cache dtype");
  lrc_ctx *ctx = NULL;
  lrc_module *m = NULL;
  lrc_error *err = NULL;
  Slots sl = {0};
  lrc_tensor *tens = NULL, *refs = NULL, *sout = NULL, *srefs = NULL;
  lrc_tensor cu = {0};
  lrc_binding *bin = NULL, *bout = NULL, *bsin = NULL, *bsout = NULL;
  int cap = 0;
  if (code) goto done;
  long B = 2, T = 256, H = 4, seed = 1, threads = 0, repeat = 1;
  if (a.shape && (code = cli_parse_shape("run", a.shape, &B, &T, &H))) goto done;
  if (a.seed && (code = cli_parse_long("run", "--seed", a.seed, 0, 1L << 40, &seed))) goto done;
  if (a.threads && (code = cli_parse_long("run", "--threads", a.threads, 1, 1024, &threads))) goto done;
  if (a.repeat && (code = cli_parse_long("run", "--repeat", a.repeat, 1, 100000, &repeat))) goto done;
  bool files = a.nin > 0;
  bool cuda = a.target && strcmp(a.target, "cuda") == 0;
  lrc_dtype io = LRC_F32;
  if (a.dtype && cli_dtype("run", a.dtype, &io)) {
    code = EXIT_USER;
    goto done;
  }
  /* Random values on a grid of 2^-7 (bfloat16) or 2^-10 (float16) steps
   * are exact in the kernel's dtype. */
  double grid = io == LRC_BF16 ? 128 : io == LRC_F16 ? 1024 : 0;
  if (!files && (a.nout || a.nstate_in || a.cu_seqlens)) {
    code = cli_usage_error("run", "--out, --state-in and --cu-seqlens need inputs from --in");
    goto done;
  }
  ctx = lrc_ctx_new();
  m = cli_compile(ctx, &a, &code);
  if (!m) goto done;
  lrc_kernel *k = lrc_kernel_get(m, a.rnn, &err);
  if (!k) {
    code = cli_report(err);
    goto done;
  }
  sl.n = lrc_kernel_slot_count(k);
  /* (room for every --in and --state-in, named in the rnn or not: the
   * binding reports those it does not know) */
  cap = sl.n + a.nin + a.nstate_in;
  sl.info = calloc((size_t)sl.n, sizeof *sl.info);
  tens = calloc((size_t)cap, sizeof *tens);
  refs = calloc((size_t)cap, sizeof *refs);
  sout = calloc((size_t)cap, sizeof *sout);
  srefs = calloc((size_t)cap, sizeof *srefs);
  bin = calloc((size_t)cap, sizeof *bin);
  bout = calloc((size_t)cap, sizeof *bout);
  bsin = calloc((size_t)cap, sizeof *bsin);
  bsout = calloc((size_t)cap, sizeof *bsout);
  for (int i = 0; i < sl.n; i++) lrc_kernel_slot(k, i, &sl.info[i]);
  lrc_args args;
  lrc_args_init(&args);
  args.inputs = bin;
  args.outputs = bout;
  args.state_in = bsin;
  args.state_out = bsout;
  args.nthreads = (int)threads;
  long N = B;

  if (files) {
    /* Inputs, params, initial states and cu_seqlens from .npy files. */
    for (int i = 0; i < a.nin + a.nstate_in; i++) {
      bool in = i < a.nin;
      const char *name = in ? a.in[i].name : a.state_in[i - a.nin].name;
      bool found = false;
      for (int s = 0; s < sl.n && !found; s++)
        found = strcmp(sl.info[s].name, name) == 0 &&
                (in ? sl.info[s].kind == LRC_INPUT || sl.info[s].kind == LRC_PARAM
                    : sl.info[s].kind == LRC_STATE);
      if (!found) {
        char has[512] = "";
        for (int s = 0; s < sl.n; s++) {
          lrc_slot_kind kd = sl.info[s].kind;
          if (in ? kd != LRC_INPUT && kd != LRC_PARAM : kd != LRC_STATE) continue;
          size_t used = strlen(has);
          snprintf(has + used, sizeof has - used, "%s%s", used ? ", " : "", sl.info[s].name);
        }
        code = cli_usage_error("run", "%s %s: the rnn has no %s named '%s' (it has: %s)",
                               in ? "--in" : "--state-in", name, in ? "input or param" : "state",
                               name, *has ? has : "none");
        goto done;
      }
    }
    for (int i = 0; i < a.nin; i++) {
      if (lrc_npy_read(a.in[i].path, &tens[args.ninputs], &err) != LRC_OK) {
        code = cli_report(err);
        goto done;
      }
      bin[args.ninputs] = (lrc_binding){a.in[i].name, tens[args.ninputs]};
      args.ninputs++;
    }
    for (int i = 0; i < a.nstate_in; i++) {
      if (lrc_npy_read(a.state_in[i].path, &sout[i], &err) != LRC_OK) {
        code = cli_report(err);
        goto done;
      }
      bsin[args.nstate_in++] = (lrc_binding){a.state_in[i].name, sout[i]};
    }
    if (a.cu_seqlens) {
      if (lrc_npy_read(a.cu_seqlens, &cu, &err) != LRC_OK) {
        code = cli_report(err);
        goto done;
      }
      args.cu_seqlens = &cu;
      N = cu.ndim == 1 && cu.shape[0] > 0 ? cu.shape[0] - 1 : 0;
    }
    /* B, T, H from the first per-token input. */
    const lrc_tensor *first = NULL;
    for (int i = 0; i < args.ninputs && !first; i++)
      for (int s = 0; s < sl.n; s++)
        if (sl.info[s].kind == LRC_INPUT && strcmp(sl.info[s].name, bin[i].name) == 0)
          first = &bin[i].tensor;
    if (!first || first->ndim < 3) {
      code = cli_usage_error("run", "no per-token input among --in ([B, T, H, dims...])");
      goto done;
    }
    B = (long)first->shape[0];
    T = (long)first->shape[1];
    H = (long)first->shape[2];
    if (!a.cu_seqlens) N = B;
  } else {
    rng = (unsigned long long)seed * 0x9E3779B97F4A7C15ull + 1;
    for (int s = 0; s < sl.n; s++) {
      const lrc_slot_info *si = &sl.info[s];
      if (si->kind != LRC_INPUT && si->kind != LRC_PARAM) continue;
      int64_t lead[3] = {B, T, H}, hl[1] = {H};
      if ((code = cli_alloc_for(si, si->kind == LRC_INPUT ? lead : hl, si->kind == LRC_INPUT ? 3 : 1,
                            LRC_F32, &tens[s])))
        goto done;
      float *p = tens[s].data;
      for (int64_t i = 0; i < lrc_tensor_numel(&tens[s]); i++) {
        double x = 2 * uniform() - 1;
        p[i] = (float)(grid ? floor(x * grid) / grid : x);
      }
      bin[args.ninputs++] = (lrc_binding){si->name, tens[s]};
    }
  }
  /* Outputs (all of them) and final states. */
  bool all_states = !files;
  for (int s = 0; s < sl.n; s++) {
    const lrc_slot_info *si = &sl.info[s];
    int64_t lead[3] = {B, T, H}, st[2] = {N, H};
    if (si->kind == LRC_OUTPUT) {
      if ((code = cli_alloc_for(si, lead, 3, LRC_F32, &refs[s]))) goto done;
      bout[args.noutputs++] = (lrc_binding){si->name, refs[s]};
    } else if (si->kind == LRC_STATE) {
      bool want = all_states;
      for (int i = 0; i < a.nstate_out; i++) want |= strcmp(a.state_out[i].name, si->name) == 0;
      if (!want) continue;
      if ((code = cli_alloc_for(si, st, 2, LRC_F32, &srefs[s]))) goto done;
      bsout[args.nstate_out++] = (lrc_binding){si->name, srefs[s]};
    }
  }
  for (int i = 0; i < a.nout; i++) {
    bool found = false;
    for (int j = 0; j < args.noutputs; j++) found |= strcmp(bout[j].name, a.out_files[i].name) == 0;
    if (!found) {
      code = cli_usage_error("run", "--out %s: the rnn has no output named '%s'",
                             a.out_files[i].name, a.out_files[i].name);
      goto done;
    }
  }
  for (int i = 0; i < a.nstate_out; i++) {
    bool found = false;
    for (int j = 0; j < args.nstate_out; j++)
      found |= strcmp(bsout[j].name, a.state_out[i].name) == 0;
    if (!found) {
      code = cli_usage_error("run", "--state-out %s: the rnn has no state named '%s'",
                             a.state_out[i].name, a.state_out[i].name);
      goto done;
    }
  }

  /* Run (repeat times; report the median). */
  double *times = calloc((size_t)repeat, sizeof *times);
  if (cuda) {
    /* Device time of each run, the copies to and from the device once,
     * outside the timed runs. */
    if (lrc_kernel_time(k, &args, (int)repeat, times, &err) != LRC_OK) code = cli_report(err);
  }
  for (long r = 0; !cuda && r < repeat && !code; r++) {
    double t0 = cli_now_ms();
    if (lrc_kernel_run(k, &args, &err) != LRC_OK) code = cli_report(err);
    times[r] = cli_now_ms() - t0;
  }
  for (long i = 1; i < repeat; i++)
    for (long j = i; j > 0 && times[j - 1] > times[j]; j--) {
      double t = times[j];
      times[j] = times[j - 1];
      times[j - 1] = t;
    }
  double median = times[repeat / 2];
  free(times);
  if (code) goto done;

  if (files) {
    for (int i = 0; i < a.nout; i++)
      for (int j = 0; j < args.noutputs; j++)
        if (strcmp(bout[j].name, a.out_files[i].name) == 0 &&
            lrc_npy_write(a.out_files[i].path, &bout[j].tensor, &err) != LRC_OK) {
          code = cli_report(err);
          goto done;
        }
    for (int i = 0; i < a.nstate_out; i++)
      for (int j = 0; j < args.nstate_out; j++)
        if (strcmp(bsout[j].name, a.state_out[i].name) == 0 &&
            lrc_npy_write(a.state_out[i].path, &bsout[j].tensor, &err) != LRC_OK) {
          code = cli_report(err);
          goto done;
        }
    fprintf(stderr, "%s: %s, B=%ld T=%ld H=%ld: %.3f ms\n", a.rnn ? a.rnn : lrc_module_rnn_name(m, 0),
            lrc_kernel_algorithm(k), B, T, H, median);
    goto done;
  }

  /* Check rows 0 and N*H-1 against the reference (NaN marks rows it did
   * not compute), and against its change when the inputs move by the
   * kernel's precision (rel_error). */
  double unit = io == LRC_BF16 ? 0x1p-8 : io == LRC_F16 ? 0x1p-11 : 0x1p-24;
  lrc_tensor *rt = calloc((size_t)sl.n, sizeof *rt), *rst = calloc((size_t)sl.n, sizeof *rst);
  lrc_tensor *mt = calloc((size_t)sl.n, sizeof *mt), *mst = calloc((size_t)sl.n, sizeof *mst);
  long rows = N * H;
  double t0 = cli_now_ms();
  int rc = reference_into(k, &args, 0, rows, rt, rst, &err);
  double ref_ms = cli_now_ms() - t0;
  if (!rc) rc = reference_into(k, &args, unit, rows, mt, mst, &err);
  double worst = 0;
  long nonfinite = 0;
  char line[1024] = "";
  if (rc) {
    code = cli_report(err);
  } else {
    for (int j = 0; j < args.noutputs + args.nstate_out; j++) {
      bool isout = j < args.noutputs;
      const lrc_binding *b = isout ? &bout[j] : &bsout[j - args.noutputs];
      const lrc_tensor *r = isout ? &rt[j] : &rst[j - args.noutputs];
      const lrc_tensor *mr = isout ? &mt[j] : &mst[j - args.noutputs];
      double e = rel_error(&b->tensor, r, mr, unit, &nonfinite);
      if (!(e <= worst)) worst = isnan(e) ? INFINITY : e;
      size_t used = strlen(line);
      snprintf(line + used, sizeof line - used, "%s%s %.1e", j ? ", " : "", b->name, e);
    }
  }
  double tol = io != LRC_F32 ? 2e-2 : T > 4096 ? 1e-3 : 2e-4;
  if (!rc) {
    printf("%s: %s, B=%ld T=%ld H=%ld%s%s\n", a.rnn ? a.rnn : lrc_module_rnn_name(m, 0),
           lrc_kernel_algorithm(k), B, T, H, cuda ? ", CUDA, I/O " : "",
           cuda ? lrc_dtype_name(io) : "");
    printf("  compile  %8.1f ms%s\n", lrc_kernel_compile_ms(k),
           lrc_kernel_from_cache(k) ? " (from the kernel cache)" : "");
    printf("  run      %8.3f ms%s%s\n", median, cuda ? " on the device" : "",
           repeat > 1 ? " (median)" : "");
    printf("  check    %s against the float64 reference (%.0f ms): %s\n",
           rows > 1 ? "rows 0 and last" : "row 0", ref_ms, line);
    if (nonfinite) {
      printf("  result   the reference overflows (%ld values are not finite): the recurrence "
             "diverges on these random inputs, so nothing is compared\n", nonfinite);
      code = EXIT_USER;
    } else {
      printf("  result   max relative error %.2e, tolerance %.0e: %s\n", worst, tol,
             worst <= tol ? "ok" : "MISMATCH");
    }
    if (!nonfinite && !(worst <= tol)) {
      fprintf(stderr, "lrc run: internal error: the %s kernel differs from the reference "
                      "(relative error %.2e); please report this as a bug\n",
              lrc_kernel_algorithm(k), worst);
      code = EXIT_INTERNAL;
    }
  }
  for (int j = 0; j < sl.n; j++) {
    lrc_tensor_free(&rt[j]), lrc_tensor_free(&rst[j]);
    lrc_tensor_free(&mt[j]), lrc_tensor_free(&mst[j]);
  }
  free(rt), free(rst), free(mt), free(mst);

done:
  for (int i = 0; tens && i < cap; i++) {
    lrc_tensor_free(&tens[i]);
    lrc_tensor_free(&refs[i]);
    lrc_tensor_free(&sout[i]);
    lrc_tensor_free(&srefs[i]);
  }
  lrc_tensor_free(&cu);
  free(tens), free(refs), free(sout), free(srefs);
  free(bin), free(bout), free(bsin), free(bsout);
  free(sl.info);
  lrc_error_free(err);
  lrc_module_free(m);
  lrc_ctx_free(ctx);
  cli_args_free(&a);
  return code;
}
