/* passes.h — the passes from step graph to kernel IR. Each pass is one
 * file with one entry point; the comment above each entry point says what
 * it requires and what it produces. */
#ifndef LRC_PASSES_H
#define LRC_PASSES_H

#include "../ir/ir.h"

/* Algebraic simplification of products and reductions (factor.c). */
Graph *pass_factor(Arena *a, const Graph *g);

/* Sequential (recurrent) lowering: one kernel that walks each sequence's
 * tokens in order, parallel over (sequence, head), with the states kept in
 * tiles for the whole sequence and every per-token computation fused into
 * the time loop. Valid for every rnn, affine in its states or not.
 * Requires: a verified graph with every dim bound. Produces a verified
 * kernel, or NULL with *err set (a user-facing message). */
Kernel *pass_lower_recurrent(Arena *a, const Graph *g, const char *name, const char **err);

/* The whole pipeline from a checked step graph to a kernel (pipeline.c).
 * NULL with *err for user errors (an unbound dim). */
Kernel *pass_pipeline(Arena *a, const Graph *g, const char **err);

#endif
