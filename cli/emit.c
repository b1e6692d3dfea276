/* emit.c — `lrc emit FILE.lr --emit=KIND`: print one of the compiler's
 * forms to stdout, or to the file named by -o. */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const char help[] =
    "usage: lrc emit FILE.lr --emit=KIND [--rnn NAME] [--dim K=..,V=..] [-o OUT]\n"
    "\n"
    "KIND is one of:\n"
    "  ast    the parsed file as S-expressions\n"
    "  ir     the step graph: SSA values with named dims, one rnn after another\n"
    "  dot    the step graph for Graphviz (dot -Tsvg)\n"
    "  canon  the canonical step graph (constants folded, duplicates merged)\n"
    "  plan   per state: the transition class found and the algorithm chosen\n"
    "  kir    the kernel IR of the chosen algorithm (every dim needs a size)\n"
    "  c      standalone C99: with -o NAME, NAME.c and NAME.h (every dim needs a size)\n"
    "  llvm   the kernel's optimised LLVM IR for this CPU (every dim needs a size)\n"
    "  cuda   standalone CUDA: with -o NAME, NAME.cu and NAME.h (nvcc, sm_80 or sm_90a);\n"
    "         --dtype=f32|bf16|f16 sets the inputs' and outputs' type (states are f32)\n"
    "\n"
    "Options --algo=auto|recurrent|scan|chunk and --chunk=C choose the algorithm.\n";

static const struct {
  const char *name;
  lrc_emit_kind kind;
} kinds[] = {{"ast", LRC_EMIT_AST}, {"ir", LRC_EMIT_IR}, {"dot", LRC_EMIT_DOT},
                {"kir", LRC_EMIT_KIR}, {"llvm", LRC_EMIT_LLVM},
                {"plan", LRC_EMIT_PLAN}, {"canon", LRC_EMIT_CANON}};

/* --emit=c: NAME.c and NAME.h with -o NAME (a trailing .c is dropped);
 * without -o, the header then the source on stdout. --emit=cuda: the same
 * with NAME.cu. */
static int emit_c(lrc_module *m, const Args *a, bool cuda) {
  char base[4096];
  const char *out = a->out;
  const char *ext = cuda ? ".cu" : ".c";
  size_t n = out ? strlen(out) : 0, el = strlen(ext);
  if (n > el && strcmp(out + n - el, ext) == 0) n -= el;
  if (n >= sizeof base - 3) return cli_usage_error("emit", "-o name too long");
  if (out) memcpy(base, out, n);
  base[n] = '\0';
  const char *slash = strrchr(base, '/');
  char hname[4100];
  snprintf(hname, sizeof hname, "%s.h", slash ? slash + 1 : base);
  char *c = NULL, *h = NULL;
  lrc_error *err = NULL;
  lrc_dtype io = LRC_F32;
  if (a->dtype) cli_dtype("emit", a->dtype, &io);   /* checked by cmd_emit */
  lrc_status st = cuda ? lrc_emit_cuda(m, a->rnn, out ? hname : NULL, io, &c, &h, &err)
                       : lrc_emit_c(m, a->rnn, out ? hname : NULL, &c, &h, &err);
  if (st != LRC_OK) {
    int code = cli_report(err);
    lrc_error_free(err);
    return code;
  }
  int code = 0;
  if (!out) {
    fputs(h, stdout);
    fputs(c, stdout);
  } else {
    const char *parts[2][2] = {{".h", h}, {ext, c}};
    for (int i = 0; i < 2 && !code; i++) {
      char path[4100];
      snprintf(path, sizeof path, "%s%s", base, parts[i][0]);
      FILE *f = fopen(path, "wb");
      bool ok = f && fputs(parts[i][1], f) != EOF;
      if (f && fclose(f) != 0) ok = false;
      if (!ok) {
        fprintf(stderr, "lrc emit: cannot write '%s': %s\n", path, strerror(errno));
        code = EXIT_USER;
      }
    }
  }
  lrc_free(c);
  lrc_free(h);
  return code;
}

int cmd_emit(int argc, char **argv) {
  for (int i = 2; i < argc; i++)   /* --help anywhere: lrc emit F.lr --help */
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      fputs(help, stdout);
      return 0;
    }
  Args a = {.cmd = "emit"};
  int code = cli_parse(&a, argc, argv, 2, "rnn dim emit o algo chunk dtype");
  if (code) goto done;
  lrc_dtype io;
  if (a.dtype && cli_dtype("emit", a.dtype, &io)) {
    code = EXIT_USER;
    goto done;
  }
  if (a.dtype && (!a.emit || strcmp(a.emit, "cuda") != 0)) {
    code = cli_usage_error("emit", "--dtype applies to --emit=cuda only (the CPU kernels take any dtype at run time)");
    goto done;
  }
  if (!a.emit) {
    code = cli_usage_error("emit", "missing --emit=KIND (ast, ir, canon, plan, dot, kir, c, cuda or llvm)");
    goto done;
  }
  int k = -1;
  if (strcmp(a.emit, "c") == 0 || strcmp(a.emit, "cuda") == 0) {
    lrc_ctx *ctx = lrc_ctx_new();
    lrc_module *m = cli_compile(ctx, &a, &code);
    if (m) code = emit_c(m, &a, a.emit[1] == 'u');
    lrc_module_free(m);
    lrc_ctx_free(ctx);
    goto done;
  }
  for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
    if (strcmp(kinds[i].name, a.emit) == 0) k = (int)i;
  if (k < 0) {
    code = cli_usage_error("emit", "unknown --emit kind '%s'; expected ast, ir, canon, plan, dot, kir, c, cuda or llvm", a.emit);
    goto done;
  }
  lrc_ctx *ctx = lrc_ctx_new();
  lrc_module *m = cli_compile(ctx, &a, &code);
  if (m) {
    lrc_error *err = NULL;
    char *text = lrc_emit(m, a.rnn, kinds[k].kind, &err);
    if (!text) {
      code = cli_report(err);
      lrc_error_free(err);
    } else if (a.out) {
      FILE *f = fopen(a.out, "wb");
      if (!f || fputs(text, f) == EOF || fclose(f) != 0) {
        fprintf(stderr, "lrc emit: cannot write '%s': %s\n", a.out, strerror(errno));
        code = EXIT_USER;
      }
    } else {
      fputs(text, stdout);
    }
    lrc_free(text);
  }
  lrc_module_free(m);
  lrc_ctx_free(ctx);
done:
  cli_args_free(&a);
  return code;
}
