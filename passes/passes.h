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

/* Transition classes (ALGORITHMS.md §1.2). */
typedef enum {
  TC_UNWRITTEN,      /* the state is never assigned */
  TC_IDENTITY,       /* S + input (linear attention) */
  TC_SCALAR,         /* a S + input */
  TC_DIAG,           /* Diag(a) S, a on the key (first) dim */
  TC_DIAG_V,         /* S Diag(a), a on the other dims */
  TC_ELEMENTWISE,    /* a ⊙ S with a over every dim (Mamba), or a vector state */
  TC_DELTA,          /* one (I - beta k kᵀ) step, with decays */
  TC_DELTA_PRODUCT,  /* several delta steps per token (DeltaProduct) */
  TC_DPLR,           /* diagonal plus rank 1 */
  TC_DENSE,          /* affine, no structure found */
  TC_NONLINEAR,      /* not affine in the states */
} TransClass;

/* sign · Π f, where a factor ~id stands for 1/id (node ids). */
enum { FPROD_MAX = 16, FORM_MAXIN = 8, FORM_MAXERASE = 8 };
typedef struct FProd {
  int sign;
  int nf;
  int f[FPROD_MAX];
} FProd;

/* A state's whole per-token update in the form the chunk lowerings use:
 *
 *   S_t = α (I − β k kᵀ) S_{t−1} + Σ_s in_s       (without the erase: α S + Σ in)
 *
 * or, with one erase whose sides differ (k written, y read: diagonal plus
 * rank 1, RWKV-7's generalised delta rule), I − β k yᵀ, and where the
 * erase reads the state before the token's decay (read_before),
 *
 *   S_t = α S_{t−1} − β k (yᵀ S_{t−1}) + Σ_s in_s.
 *
 * α is a product of state-free scalars, or, without an erase, of values
 * over the key dim (Diag(α) S), over value dims (S Diag(α)) or over any
 * of the state's dims (α ⊙ S, an elementwise decay); β is a
 * product of state-free scalars, k a product of state-free
 * vectors over the key dim, each in_s a state-free product (an outer
 * product once its factors are grouped by dims). Decays after an input
 * are multiplied into it. Built from the chain of assignments, so
 * `S = exp(g) * S` then `S = S + beta * outer(k, v - k @ S)` gives
 * α = exp(g), β = beta, in = beta k v. */
typedef struct StepForm {
  FProd alpha;
  DimSet ddims;            /* the decay's dims: none (scalar), the key dim
                              (diagonal), or, with no erase, value dims or
                              any of the state's dims (elementwise) */
  bool erase;              /* nerase > 0 */
  int nerase;              /* erases per token: several for DeltaProduct,
                              S_t = α H_n ... H_1 S_{t-1} + ..., each
                              H_j = I − β_j k_j k_jᵀ followed by its inputs */
  FProd beta[FORM_MAXERASE], key[FORM_MAXERASE];
  FProd read;              /* one erase: its read side y where it is not k
                              (nf 0: y = k) */
  bool read_before;        /* one erase, reading S_{t-1} beside the decay α */
  int nin;
  FProd in[FORM_MAXIN];
  int in_step[FORM_MAXIN]; /* the erase an input follows (0 without erases) */
} StepForm;

typedef struct StateInfo {
  TransClass cls;
  const char *transition;  /* e.g. "(I - beta k kᵀ) * scalar(exp(g))" */
  int ndelta;              /* delta steps per token */
  int culprit;             /* TC_NONLINEAR: the node that breaks linearity */
  const char *why;         /* and why */
  const StepForm *form;    /* NULL when the update has no such form */
  int key;                 /* the key dim (the one x @ S contracts), -1: none */
} StateInfo;

typedef struct Analysis {
  int nstates;
  StateInfo *st;           /* one per state slot */
  bool affine;             /* every state write is affine */
} Analysis;

/* Linearity and classification of every state (classify.c). */
Analysis *pass_classify(Arena *a, const Graph *g);
const char *pass_class_name(TransClass k);
const char *pass_node_text(Arena *a, const Graph *g, int id);

/* Chunkwise lowering for scalar decay (chunk.c): the canonical graph of
 * an rnn whose states are updated as a S + Σ k vᵀ and read by the outputs
 * as x @ S. NULL with *why otherwise. chunk <= 0: 64. */
Kernel *pass_lower_chunk(Arena *a, const Graph *g, int chunk, const char **why);

/* Chunked linear scan (scan.c): the canonical graph of an rnn whose
 * states are updated as a ⊙ S + b with state-free a and b (the classes
 * identity, scalar, diagonal and elementwise); outputs may be any
 * function of the states. NULL with *why otherwise. chunk <= 0: 32. */
Kernel *pass_lower_scan(Arena *a, const Graph *g, int chunk, const char **why);

/* Element-wise nests folded into the nests that read them, in place
 * (kfuse.c): fewer passes over the chunk's tiles. */
void pass_kir_fuse(Kernel *k);

/* The statements of a chunk kernel's chunk loop by their relation to the
 * carried state (phases.c; docs/design-cuda-phases.md). */
enum { PH_FREE, PH_CHAIN, PH_READOUT };
enum { PH_CARRIED = 1, PH_FREE_CHAIN = 2, PH_FREE_READOUT = 4, PH_CHAIN_READOUT = 8 };
typedef struct ChunkPhases {
  const KBlock *loop;      /* the chunk loop's body */
  unsigned char *phase;    /* per statement of loop: PH_FREE, PH_CHAIN, PH_READOUT */
  unsigned char *cross;    /* per tile: PH_CARRIED and the boundaries it crosses */
  int count[3];            /* statements per phase */
  int versions;            /* state versions the readouts read per chunk */
} ChunkPhases;
bool pass_chunk_phases(const Kernel *k, ChunkPhases *out, const char **why);
/* The chunk loop's body reordered as the phased form (lets, free
 * statements, then the chain and readouts) and the tiles crossing from
 * the free part recorded (Kernel.phase_*). With poison (tests), the free
 * part's other tiles are filled with NaN before the rest, as if it ran in
 * another kernel. false with *why (what the kernel computes unchanged) where the
 * reordering would change what a statement reads. */
bool pass_chunk_phase_order(Kernel *k, bool poison, const char **why);

/* Algorithms (the values of lrc_algo). */
typedef enum { PLAN_AUTO, PLAN_RECURRENT, PLAN_SCAN, PLAN_CHUNK } PlanAlgo;

typedef struct Plan {
  const Analysis *an;
  PlanAlgo requested, algo;
  int chunk;               /* the chunk size (given, or from the cost model) */
  double speedup;          /* modelled recurrent / chunk time per token (0: none) */
} Plan;

/* The cost model's chunk size for g on the CPU (16, 32 or 64) and the
 * modelled speed-up of the chunk form over the recurrent one. */
int pass_plan_chunk_size(const Graph *g, const Analysis *an, double *speedup);
/* --algo=auto takes the chunk form from this modelled speed-up on. */
#define PLAN_AUTO_CHUNK_GAIN 1.25
/* The scan's default chunk size for g, and the largest tile it allows
 * (bytes of C tokens of one state). */
enum { PLAN_SCAN_TILE_MAX = 4 << 20 };
int pass_plan_scan_chunk(const Graph *g);
/* FLOPs per token and head of the chunkwise algorithm at chunk size C
 * (ALGORITHMS.md §3.7; 2 per multiply-add). */
double pass_plan_flops(const Graph *g, const Analysis *an, int C);

/* Choose the algorithm (plan.c); NULL with errors in d when the request
 * cannot be met (a parallel form of a non-linear update). */
Plan *pass_plan(Arena *a, const Graph *g, const Analysis *an, PlanAlgo algo, int chunk, Diags *d);
void pass_plan_print(const Plan *p, const Graph *g, Buf *out);

/* Graph passes (pipeline.c): the canonical graph keeps the structure the
 * source wrote (fold, cse, dce); the optimised one is regrouped for code
 * generation (factor, then fold, cse, dce again). */
Graph *pass_canonicalize(Arena *a, const Graph *g);
Graph *pass_optimize(Arena *a, const Graph *g);

/* The whole pipeline from a checked step graph to a kernel (pipeline.c).
 * NULL for user errors: *err for a message without a location (an unbound
 * dim), or diagnostics in d (a non-linear update with a parallel algo). */
Kernel *pass_pipeline(Arena *a, const Graph *g, PlanAlgo algo, int chunk, Diags *d,
                      const char **err);

#endif
