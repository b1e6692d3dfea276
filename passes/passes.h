/* passes.h — the passes from step graph to kernel IR. Each pass is one
 * file with one entry point; the comment above each entry point says what
 * it requires and what it produces. */
#ifndef LRC_PASSES_H
#define LRC_PASSES_H

#include "../ir/ir.h"

/* Constant folding and algebraic identities (fold.c). */
Graph *pass_fold(Arena *a, const Graph *g);

/* Common subexpression elimination by hash-consing (cse.c). */
Graph *pass_cse(Arena *a, const Graph *g);

/* Dead-code removal (dce.c). */
Graph *pass_dce(Arena *a, const Graph *g);

/* Algebraic simplification of products and reductions (factor.c). */
Graph *pass_factor(Arena *a, const Graph *g);

/* Sequential (recurrent) lowering: one kernel that walks each sequence's
 * tokens in order, parallel over (sequence, head), with the states kept in
 * tiles for the whole sequence and every per-token computation fused into
 * the time loop. Valid for every rnn, affine in its states or not.
 * Requires: a verified graph with every dim bound. Produces a verified
 * kernel, or NULL with *err set (a user-facing message). */
Kernel *pass_lower_recurrent(Arena *a, const Graph *g, const char *name, const char **err);

/* The graph passes of the pipeline: the canonical step graph (pipeline.c). */
Graph *pass_canonicalize(Arena *a, const Graph *g);

/* The whole pipeline from a checked step graph to a kernel (pipeline.c).
 * NULL with *err for user errors (an unbound dim). */
Kernel *pass_pipeline(Arena *a, const Graph *g, const char **err);

#endif
