/* rt.h — runtime internals: the objects behind the public handles. */
#ifndef LRC_RT_H
#define LRC_RT_H

#define LRC_BUILDING 1
#include "../include/lrc.h"
#include "../frontend/frontend.h"
#include "../ir/ir.h"

struct lrc_error {
  lrc_status code;
  char *message;
  char *file;
  int line, col;
};

struct lrc_ctx {
  int unused;              /* grows with the kernel cache and JIT (later) */
};

struct lrc_module {
  lrc_ctx *ctx;
  Arena arena;             /* AST, graphs, strings */
  Source src;              /* owns a copy of the text and the name */
  Diags diags;
  Program *prog;
  Graph **graphs;          /* one per rnn block */
  int ngraphs;
  char *warnings;          /* rendered warnings (malloc) */
};

/* Store a new error in *err (if err is not NULL). Returns `code`. */
lrc_status rt_error(lrc_error **err, lrc_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
