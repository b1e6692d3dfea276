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
    "\n"
    "Later versions add plan, kir, c, cuda and llvm.\n";

static const struct {
  const char *name;
  lrc_emit_kind kind;
} kinds[] = {{"ast", LRC_EMIT_AST}, {"ir", LRC_EMIT_IR}, {"dot", LRC_EMIT_DOT}};

static const char *later[] = {"plan", "kir", "c", "cuda", "llvm"};

int cmd_emit(int argc, char **argv) {
  if (argc > 2 && (strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0)) {
    fputs(help, stdout);
    return 0;
  }
  Args a = {.cmd = "emit"};
  int code = cli_parse(&a, argc, argv, 2, "rnn dim emit o");
  if (code) goto done;
  if (!a.emit) {
    code = cli_usage_error("emit", "missing --emit=KIND (ast, ir or dot)");
    goto done;
  }
  int k = -1;
  for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
    if (strcmp(kinds[i].name, a.emit) == 0) k = (int)i;
  if (k < 0) {
    for (size_t i = 0; i < sizeof later / sizeof later[0]; i++)
      if (strcmp(later[i], a.emit) == 0) {
        fprintf(stderr, "lrc emit: --emit=%s is not implemented in this version\n", a.emit);
        code = EXIT_INTERNAL;
        goto done;
      }
    code = cli_usage_error("emit", "unknown --emit kind '%s'; expected ast, ir or dot", a.emit);
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
