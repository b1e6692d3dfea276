/* run.c — `lrc run` and `lrc bench`: not implemented in this version. */
#include "cli.h"

#include <stdio.h>

int cmd_run(int argc, char **argv) {
  (void)argc;
  (void)argv;
  fprintf(stderr, "lrc run: not yet implemented in this version\n");
  return EXIT_INTERNAL;
}

int cmd_bench(int argc, char **argv) {
  (void)argc;
  (void)argv;
  fprintf(stderr, "lrc bench: not yet implemented in this version\n");
  return EXIT_INTERNAL;
}
