/* check.c — `lrc check FILE.lr`: parse and type-check, print diagnostics.
 * Prints one summary line per rnn on success. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

static const char help[] =
    "usage: lrc check FILE.lr [--dim K=128,...] [--rnn NAME]\n"
    "\n"
    "Parse and type-check FILE.lr. Errors and warnings go to stderr as\n"
    "file:line:col: error: message, with the source line and a caret.\n"
    "Exit status 0 if the file is valid, 1 if it has errors.\n";

int cmd_check(int argc, char **argv) {
  for (int i = 2; i < argc; i++)   /* --help anywhere: lrc check F.lr --help */
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      fputs(help, stdout);
      return 0;
    }
  Args a = {.cmd = "check"};
  int code = cli_parse(&a, argc, argv, 2, "rnn dim");
  if (code) {
    cli_args_free(&a);
    return code;
  }
  lrc_ctx *ctx = lrc_ctx_new();
  lrc_module *m = ctx ? cli_compile(ctx, &a, &code) : NULL;
  if (m) {
    int n = lrc_module_rnn_count(m);
    bool found = !a.rnn;
    for (int i = 0; i < n; i++) {
      const char *name = lrc_module_rnn_name(m, i);
      if (a.rnn && strcmp(a.rnn, name) != 0) continue;
      found = true;
      printf("%s: rnn %s: ok\n", a.file, name);
    }
    if (!found) {
      fprintf(stderr, "lrc check: no rnn named '%s' in %s; it has: ", a.rnn, a.file);
      for (int i = 0; i < n; i++)
        fprintf(stderr, "%s%s", i ? ", " : "", lrc_module_rnn_name(m, i));
      fputs("\n", stderr);
      code = EXIT_USER;
    }
  } else if (!ctx) {
    fprintf(stderr, "lrc: out of memory\n");
    code = EXIT_INTERNAL;
  }
  lrc_module_free(m);
  lrc_ctx_free(ctx);
  cli_args_free(&a);
  return code;
}
