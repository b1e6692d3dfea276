/* main.c — the lrc command line: dispatch to a sub-command.
 *
 * Exit codes: 0 success, 1 user error (bad source, flags or files), 2
 * internal error. Built on the public API (include/lrc.h) only.
 */
#include "cli.h"

#include <stdio.h>
#include <string.h>

static const char usage[] =
    "usage: lrc COMMAND FILE.lr [options]\n"
    "\n"
    "commands:\n"
    "  check FILE.lr                 parse and type-check; print diagnostics\n"
    "  emit  FILE.lr --emit=KIND     print a compiler form: ast, ir, dot\n"
    "  run   FILE.lr                 run a recurrence (not in this version)\n"
    "  bench FILE.lr                 benchmark algorithms (not in this version)\n"
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
  if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
    fputs(usage, stdout);
    return 0;
  }
  if (strcmp(cmd, "--version") == 0) {
    printf("lrc %s\n", lrc_version());
    return 0;
  }
  if (strcmp(cmd, "check") == 0) return cmd_check(argc, argv);
  if (strcmp(cmd, "emit") == 0) return cmd_emit(argc, argv);
  if (strcmp(cmd, "run") == 0) return cmd_run(argc, argv);
  if (strcmp(cmd, "bench") == 0) return cmd_bench(argc, argv);
  fprintf(stderr, "lrc: unknown command '%s'\n\n%s", cmd, usage);
  return EXIT_USER;
}
