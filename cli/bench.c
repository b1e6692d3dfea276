/* bench.c — `lrc bench FILE.lr`: every algorithm that applies, side by
 * side on the same random inputs.
 *
 * For each algorithm (recurrent, chunk, scan) it builds the kernel (or
 * reports why there is none), runs it --repeat times with the runs of the
 * algorithms interleaved (so that a noisy machine slows them alike), and
 * prints the median time, the speed-up over the recurrent kernel, the rate
 * in GFLOP/s counted on one yardstick for all of them (the chunkwise
 * algorithm's work, ALGORITHMS.md §3.7), that rate as a fraction of the
 * machine's own rate at the same small matrix products measured in the
 * same run, and the largest relative difference of the outputs from the
 * recurrent kernel's. --json prints the same as one JSON object.
 *
 * --target=cuda: the same on GPU 0, each run timed on the device (inputs
 * copied there once), rates against the device-to-device copy rate
 * measured in the same run (GB/s of inputs and outputs) instead of the
 * CPU's matrix-product rate.
 */
#include "cli.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char help[] =
    "usage: lrc bench FILE.lr [--rnn NAME] [--dim K=..,V=..] [--target=cpu|cuda]\n"
    "                 [--shape B=..,T=..,H=..] [--chunk=C] [--threads N] [--repeat N]\n"
    "                 [--dtype=f32|bf16|f16] [--seed N] [--json] [--no-cache]\n"
    "\n"
    "Runs every algorithm that applies to the rnn (recurrent, chunk, scan) on the\n"
    "same random inputs (default B=2,T=2048,H=4; --repeat 10) and prints, per\n"
    "algorithm: the median time, the speed-up over recurrent, GFLOP/s counted as\n"
    "the chunkwise algorithm's work (the same count for every algorithm), that\n"
    "rate as a share of this machine's rate at 64x128x128 float32 matrix products\n"
    "measured in the same run, and the largest relative difference of the outputs\n"
    "from the recurrent kernel's.\n"
    "--target=cuda: the same on GPU 0 (--dtype: the kernels' I/O type there), each\n"
    "run timed on the device, with GB/s of inputs and outputs against the\n"
    "device-to-device copy rate measured in the same run.\n";

enum { NALGO = 3 };
static const char *const algos[NALGO] = {"recurrent", "chunk", "scan"};

typedef struct Run {
  lrc_module *m;
  lrc_kernel *k;
  char *why;               /* no kernel: the reason */
  lrc_tensor *outs;        /* this algorithm's outputs */
  double *times;
  double median, diff;
} Run;

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* Relative L2 difference of every output of r from those of base. */
static double max_diff(const lrc_tensor *a, const lrc_tensor *b, int n) {
  double worst = 0;
  for (int i = 0; i < n; i++) {
    const float *x = a[i].data, *y = b[i].data;
    double num = 0, den = 0;
    for (int64_t j = 0; j < lrc_tensor_numel(&a[i]); j++) {
      double d = (double)x[j] - y[j];
      num += d * d;
      den += (double)y[j] * y[j];
    }
    double e = den > 0 ? sqrt(num / den) : sqrt(num);
    if (!(e <= worst)) worst = e;   /* NaN wins */
  }
  return worst;
}

/* A string as a JSON literal. */
static void json_str(const char *s) {
  putchar('"');
  for (; *s; s++) {
    if (*s == '"' || *s == '\\') printf("\\%c", *s);
    else if ((unsigned char)*s < 0x20) printf("\\u%04x", *s);
    else putchar(*s);
  }
  putchar('"');
}

int cmd_bench(int argc, char **argv) {
  for (int i = 2; i < argc; i++)
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      fputs(help, stdout);
      return 0;
    }
  Args a = {.cmd = "bench"};
  int code = cli_parse(&a, argc, argv, 2,
                       "rnn dim target chunk shape seed threads repeat json no-cache dtype");
  lrc_ctx *ctx = NULL;
  Run runs[NALGO] = {{0}};
  lrc_tensor *ins = NULL;
  lrc_binding *bin = NULL, *bout = NULL;
  lrc_slot_info *info = NULL;
  int nslots = 0, nout = 0, nin = 0;
  if (code) goto done;
  long B = 2, T = 2048, H = 4, seed = 1, threads = 0, repeat = 10;
  if (a.shape && (code = cli_parse_shape("bench", a.shape, &B, &T, &H))) goto done;
  if (a.seed && (code = cli_parse_long("bench", "--seed", a.seed, 0, 1L << 40, &seed))) goto done;
  if (a.threads && (code = cli_parse_long("bench", "--threads", a.threads, 1, 1024, &threads)))
    goto done;
  if (a.repeat && (code = cli_parse_long("bench", "--repeat", a.repeat, 1, 100000, &repeat)))
    goto done;
  bool cuda = a.target && strcmp(a.target, "cuda") == 0;
  if (a.target && !cuda && strcmp(a.target, "cpu") != 0) {
    code = cli_usage_error("bench", "bad --target '%s': expected cpu or cuda", a.target);
    goto done;
  }
  lrc_dtype io = LRC_F32;
  if (a.dtype && cli_dtype("bench", a.dtype, &io)) {
    code = EXIT_USER;
    goto done;
  }
  ctx = lrc_ctx_new();
  for (int i = 0; i < NALGO; i++) {
    Args ai = a;
    ai.algo = algos[i];
    if (i == 0) ai.chunk = NULL;
    runs[i].m = cli_compile(ctx, &ai, &code);
    if (!runs[i].m) goto done;   /* a source error: the same for every algorithm */
    lrc_error *err = NULL;
    runs[i].k = lrc_kernel_get(runs[i].m, a.rnn, &err);
    if (!runs[i].k) {
      if (i == 0 || lrc_error_code(err) == LRC_ERR_USAGE) {
        code = cli_report(err);
        lrc_error_free(err);
        goto done;
      }
      const char *msg = lrc_error_message(err);
      if (strncmp(msg, "lrc: error: ", 12) == 0) msg += 12;
      const char *nl = strchr(msg, '\n');
      runs[i].why = nl ? strndup(msg, (size_t)(nl - msg)) : strdup(msg);
      lrc_error_free(err);
    }
  }

  /* Random inputs and params, uniform in [-1, 1), shared by all. */
  lrc_kernel *k0 = runs[0].k;
  nslots = lrc_kernel_slot_count(k0);
  info = calloc((size_t)nslots, sizeof *info);
  ins = calloc((size_t)nslots, sizeof *ins);
  bin = calloc((size_t)nslots, sizeof *bin);
  bout = calloc((size_t)nslots * NALGO, sizeof *bout);
  for (int i = 0; i < NALGO; i++) {
    runs[i].outs = calloc((size_t)nslots, sizeof *runs[i].outs);
    runs[i].times = calloc((size_t)repeat, sizeof(double));
  }
  unsigned long long rng = (unsigned long long)seed * 0x9E3779B97F4A7C15ull + 1;
  double io_bytes = 0;
  for (int s = 0; s < nslots; s++) {
    lrc_kernel_slot(k0, s, &info[s]);
    const lrc_slot_info *si = &info[s];
    int64_t lead[3] = {B, T, H}, hl[1] = {H};
    if (si->kind == LRC_INPUT || si->kind == LRC_PARAM) {
      bool tok = si->kind == LRC_INPUT;
      if ((code = cli_alloc_for(si, tok ? lead : hl, tok ? 3 : 1, LRC_F32, &ins[nin]))) goto done;
      float *p = ins[nin].data;
      for (int64_t e = 0; e < lrc_tensor_numel(&ins[nin]); e++) {
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        p[e] = (float)(2 * ((double)(rng >> 11) / 9007199254740992.0) - 1);
      }
      bin[nin] = (lrc_binding){si->name, ins[nin]};
      io_bytes += (double)lrc_tensor_numel(&ins[nin]) * (io == LRC_F32 ? 4 : 2);
      nin++;
    } else if (si->kind == LRC_OUTPUT) {
      for (int i = 0; i < NALGO; i++) {
        if ((code = cli_alloc_for(si, lead, 3, LRC_F32, &runs[i].outs[nout]))) goto done;
        bout[i * nslots + nout] = (lrc_binding){si->name, runs[i].outs[nout]};
      }
      io_bytes += (double)lrc_tensor_numel(&runs[0].outs[nout]) * (io == LRC_F32 ? 4 : 2);
      nout++;
    }
  }
  lrc_args args[NALGO];
  for (int i = 0; i < NALGO; i++) {
    lrc_args_init(&args[i]);
    args[i].inputs = bin;
    args[i].ninputs = nin;
    args[i].outputs = bout + i * nslots;
    args[i].noutputs = nout;
    args[i].nthreads = (int)threads;
  }

  /* GPU: a warm-up run, then the timed runs on the device, one algorithm
   * after the other (the device is not shared with the timer). */
  for (int i = 0; cuda && i < NALGO; i++) {
    lrc_error *err = NULL;
    if (!runs[i].k) continue;
    if (lrc_kernel_run(runs[i].k, &args[i], &err) != LRC_OK ||
        lrc_kernel_time(runs[i].k, &args[i], (int)repeat, runs[i].times, &err) != LRC_OK) {
      code = cli_report(err);
      lrc_error_free(err);
      goto done;
    }
  }
  /* CPU: one warm-up run each, then the timed runs, interleaved. */
  for (long r = -1; !cuda && r < repeat; r++)
    for (int i = 0; i < NALGO; i++) {
      if (!runs[i].k) continue;
      lrc_error *err = NULL;
      double t0 = cli_now_ms();
      if (lrc_kernel_run(runs[i].k, &args[i], &err) != LRC_OK) {
        code = cli_report(err);
        lrc_error_free(err);
        goto done;
      }
      if (r >= 0) runs[i].times[r] = cli_now_ms() - t0;
    }
  for (int i = 0; i < NALGO; i++) {
    if (!runs[i].k) continue;
    qsort(runs[i].times, (size_t)repeat, sizeof(double), cmp_double);
    runs[i].median = runs[i].times[repeat / 2];
    runs[i].diff = max_diff(runs[i].outs, runs[0].outs, nout);
  }
  lrc_error *err = NULL;
  char device[256] = "";
  double mm = cuda ? lrc_cuda_copy_gbps(ctx, 0.2, device, sizeof device, &err)
                   : lrc_matmul_gflops((int)threads, 0.3, &err);
  if (mm < 0) {
    code = cli_report(err);
    lrc_error_free(err);
    goto done;
  }
  double fpt = lrc_kernel_flops_per_token(runs[1].k ? runs[1].k : k0);
  double work = fpt * (double)B * (double)T * (double)H;
  const char *name = a.rnn ? a.rnn : lrc_module_rnn_name(runs[0].m, 0);
  int nthreads = threads > 0 ? (int)threads : 0;

  if (a.json) {
    printf("{\"rnn\": ");
    json_str(name);
    printf(", \"target\": \"%s\", \"B\": %ld, \"T\": %ld, \"H\": %ld, \"dtype\": \"%s\", ",
           cuda ? "cuda" : "cpu", B, T, H, lrc_dtype_name(io));
    if (cuda) {
      printf("\"device\": ");
      json_str(device);
      printf(", \"copy_gbps\": %.4g, \"io_bytes\": %.6g, ", mm, io_bytes);
    } else {
      printf("\"threads\": %d, \"matmul_gflops\": %.4g, ", nthreads, mm);
    }
    printf("\"repeat\": %ld, \"flops_per_token\": %.6g, \"results\": [", repeat, fpt);
    for (int i = 0; i < NALGO; i++) {
      printf("%s{\"algo\": ", i ? ", " : "");
      if (!runs[i].k) {
        json_str(algos[i]);
        printf(", \"available\": false, \"reason\": ");
        json_str(runs[i].why);
        printf("}");
        continue;
      }
      json_str(lrc_kernel_algorithm(runs[i].k));
      double gf = work / (runs[i].median * 1e6);
      printf(", \"available\": true, \"median_ms\": %.6g, \"speedup\": %.4g, \"gflops\": %.4g, ",
             runs[i].median, runs[0].median / runs[i].median, gf);
      if (cuda) {
        double gb = io_bytes / (runs[i].median * 1e6);
        printf("\"gbps\": %.4g, \"copy_fraction\": %.4g, ", gb, gb / mm);
      } else {
        printf("\"matmul_fraction\": %.4g, ", gf / mm);
      }
      printf("\"max_rel_diff\": %.3g}", runs[i].diff);
    }
    printf("]}\n");
    goto done;
  }
  if (cuda)
    printf("%s: B=%ld T=%ld H=%ld, %s I/O, %s, median of %ld runs\n", name, B, T, H,
           lrc_dtype_name(io), device, repeat);
  else
    printf("%s: B=%ld T=%ld H=%ld, float32, %s thread%s, median of %ld runs\n", name, B, T, H,
           nthreads ? a.threads : "all", nthreads == 1 ? "" : "s", repeat);
  printf("FLOPs counted as the chunkwise algorithm's work: %.1f KFLOP per token and head\n",
         fpt / 1e3);
  if (cuda)
    printf("device-to-device copy (bytes read + written): %.0f GB/s; inputs and outputs: %.1f MB"
           "\n\n", mm, io_bytes / 1e6);
  else
    printf("matrix-product reference (64x128 by 128x128, float32, in cache): %.1f GFLOP/s\n\n",
           mm);
  bool finite = true;
  for (int o = 0; o < nout && finite; o++) {
    const float *x = runs[0].outs[o].data;
    for (int64_t j = 0; j < lrc_tensor_numel(&runs[0].outs[o]) && finite; j++) finite = isfinite(x[j]);
  }
  if (!finite)
    printf("note: the outputs overflow on these uniform [-1, 1) inputs (a decay above 1?): the\n"
           "times stand, the differences between algorithms mean nothing\n\n");
  printf("  %-18s %10s %9s %9s %12s %13s\n", "algorithm", "median ms", "speed-up", "GFLOP/s",
         cuda ? "GB/s (copy)" : "of matmul", "max rel diff");
  for (int i = 0; i < NALGO; i++) {
    if (!runs[i].k) {
      printf("  %-18s not available: %s\n", algos[i], runs[i].why);
      continue;
    }
    double gf = work / (runs[i].median * 1e6), gb = io_bytes / (runs[i].median * 1e6);
    if (cuda)
      printf("  %-18s %10.3f %8.2fx %9.1f %6.0f (%2.0f%%) %13.1e\n", lrc_kernel_algorithm(runs[i].k),
             runs[i].median, runs[0].median / runs[i].median, gf, gb, 100 * gb / mm, runs[i].diff);
    else
      printf("  %-18s %10.3f %8.2fx %9.1f %11.0f%% %13.1e\n", lrc_kernel_algorithm(runs[i].k),
             runs[i].median, runs[0].median / runs[i].median, gf, 100 * gf / mm, runs[i].diff);
  }

done:
  for (int i = 0; i < NALGO; i++) {
    for (int o = 0; runs[i].outs && o < nout; o++) lrc_tensor_free(&runs[i].outs[o]);
    free(runs[i].outs);
    free(runs[i].times);
    free(runs[i].why);
    lrc_module_free(runs[i].m);
  }
  for (int i = 0; ins && i < nin; i++) lrc_tensor_free(&ins[i]);
  free(ins);
  free(bin);
  free(bout);
  free(info);
  lrc_ctx_free(ctx);
  cli_args_free(&a);
  return code;
}
