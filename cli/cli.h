/* cli.h — shared parts of the lrc command line (built on lrc.h alone). */
#ifndef LRC_CLI_H
#define LRC_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include "../include/lrc.h"

enum { EXIT_USER = 1, EXIT_INTERNAL = 2, MAX_DIM_FLAGS = 64, MAX_FILES = 64 };

/* NAME=PATH pairs of --in, --out, --state-in, --state-out. */
typedef struct FileArg {
  char *name;
  const char *path;
} FileArg;

/* Options common to the sub-commands. */
typedef struct Args {
  const char *cmd;          /* "check", "emit", ... */
  const char *file;         /* the .lr file */
  const char *rnn;          /* --rnn NAME */
  const char *emit;         /* --emit=KIND */
  const char *out;          /* -o OUT */
  lrc_dim dims[MAX_DIM_FLAGS];
  int ndims;
  /* run and bench */
  const char *target, *algo, *chunk, *shape, *seed, *threads, *repeat, *dtype;
  const char *cu_seqlens;
  bool no_cache, json;
  FileArg in[MAX_FILES], out_files[MAX_FILES], state_in[MAX_FILES], state_out[MAX_FILES];
  int nin, nout, nstate_in, nstate_out;
} Args;

/* Fill lrc_options from the parsed flags (algo, target, chunk, cache). */
int cli_options(const Args *a, lrc_options *o);

/* --dtype f32, bf16 or f16; else a usage error (EXIT_USER). */
int cli_dtype(const char *cmd, const char *s, lrc_dtype *d);

/* Report a usage error for the sub-command and return EXIT_USER. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Parse argv[first..] into `a`; unknown flags are errors. `allowed` lists
 * the flags the sub-command takes, e.g. "rnn dim emit o". Returns 0 or an
 * exit code (after printing the message). */
int cli_parse(Args *a, int argc, char **argv, int first, const char *allowed);

void cli_args_free(Args *a);

/* Read the whole file; NULL with a message printed on failure. */
char *cli_read_file(const char *path, size_t *len);

/* Compile a.file with a's options; prints diagnostics (errors or
 * warnings). Returns the module or NULL with *code set to the exit code. */
lrc_module *cli_compile(lrc_ctx *ctx, const Args *a, int *code);

/* Exit code for an error object (and print its message). */
int cli_report(const lrc_error *e);

/* Milliseconds of a monotonic clock. */
double cli_now_ms(void);
/* A whole number in [lo, hi] for option `flag`, or a usage error. */
int cli_parse_long(const char *cmd, const char *flag, const char *s, long lo, long hi, long *v);
/* --shape "B=2,T=64,H=4" (any subset). */
int cli_parse_shape(const char *cmd, const char *spec, long *B, long *T, long *H);
/* A tensor of dtype dt: lead dims `lead`, then the slot's dims. */
int cli_alloc_for(const lrc_slot_info *s, const int64_t *lead, int nl, lrc_dtype dt, lrc_tensor *t);

int cmd_check(int argc, char **argv);
int cmd_emit(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_bench(int argc, char **argv);

#endif
