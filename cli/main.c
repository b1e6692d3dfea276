/* main.c — the lrc command line: dispatch to a sub-command.
 *
 * Exit codes: 0 success, 1 user error (bad source, flags or files), 2
 * internal error. Built on the public API (include/lrc.h) only.
 */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const char usage[] =
    "usage: lrc COMMAND FILE.lr [options]\n"
    "\n"
    "commands:\n"
    "  check FILE.lr                 parse and type-check; print diagnostics\n"
    "  emit  FILE.lr --emit=KIND     print a compiler form: ast, ir, canon, plan, dot,\n"
    "                                kir, c or llvm\n"
    "  run   FILE.lr                 run a recurrence on the CPU (random inputs checked\n"
    "                                against the reference, or .npy files)\n"
    "  bench FILE.lr                 every applicable algorithm side by side: median\n"
    "                                time, speed-up, GFLOP/s against a matmul reference\n"
    "\n"
    "common options:\n"
    "  --rnn NAME                    pick one rnn block of the file\n"
    "  --dim K=128,V=64              bind dim sizes (repeatable)\n"
    "\n"
    "  lrc COMMAND --help            options of one command\n"
    "  lrc --version                 version\n"
    "\n"
    "exit status: 0 success, 1 user error, 2 internal error\n";

int main(int argc, char **argv) {
  if (argc < 2) {
    fputs(usage, stderr);
    return EXIT_USER;
  }
  const char *cmd = argv[1];
  int code = 0;
  if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0)
    fputs(usage, stdout);
  else if (strcmp(cmd, "--version") == 0) printf("lrc %s\n", lrc_version());
  else if (strcmp(cmd, "check") == 0) code = cmd_check(argc, argv);
  else if (strcmp(cmd, "emit") == 0) code = cmd_emit(argc, argv);
  else if (strcmp(cmd, "run") == 0) code = cmd_run(argc, argv);
  else if (strcmp(cmd, "bench") == 0) code = cmd_bench(argc, argv);
  else {
    fprintf(stderr, "lrc: unknown command '%s'\n\n%s", cmd, usage);
    return EXIT_USER;
  }
  /* Output that did not reach stdout (a full disk) is a failure, not a
   * success with a truncated file. */
  if (fflush(stdout) != 0 || ferror(stdout)) {
    fprintf(stderr, "lrc: cannot write to standard output: %s\n", strerror(errno));
    return code ? code : EXIT_USER;
  }
  return code;
}
