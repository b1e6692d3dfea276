/* emit.h — what the source emitters (C, CUDA) share: element, index and
 * expression printers over the kernel IR. Internal to backends/. */
#ifndef LRC_BACKEND_EMIT_H
#define LRC_BACKEND_EMIT_H

#include "backend.h"

typedef struct Emit {
  const Kernel *k;
  Buf *out;
  long *tile_off;          /* float offset of each tile in the scratch block
                              (CUDA: in shared memory or the global block) */
  long scratch;            /* floats */
  bool *tile_smem;         /* CUDA: the tile is in shared memory */
  long smem;               /* CUDA: floats of shared memory */
  bool cuda;               /* CUDA device code (prelude names differ) */
  bool jit;                /* CUDA: the kernel alone, for NVRTC */
  int io;                  /* CUDA: element type of inputs, params and
                              outputs: 0 float, 1 __nv_bfloat16, 2 __half */
  int split_dim;           /* CUDA: a dim split over nsplit blocks per row */
  int nsplit;              /* (1: none); k's dims hold the slice's size */
  const long *full;        /* CUDA: each dim's size before the split */
  long *tile_len;          /* CUDA: floats each tile occupies */
  unsigned char *pend;     /* CUDA: per tile, and for the buffers at index
                              tiles.len: 1 read, 2 written by some thread
                              since the last barrier */
  int *pend_map;           /* CUDA: per tile, the point map of every access
                              pending (sync_at), or 0 */
  bool sync_all;           /* CUDA: a barrier after every statement */
  bool warp_sync;          /* CUDA: LRC_CUDA_WARP_SYNC=on (sync_mma) */
  uint64_t **pfoot;        /* CUDA, warp_sync: per tile pending, the cells
                              each warp touched since the last barrier
                              (warp_feet), or NULL: any */
  long *tile_ld;           /* per tile: floats between the rows of a 2-D
                              tile, where its rows are padded (0: dense;
                              NULL: every tile dense) */
  int threads;             /* CUDA: per block */
  int phase;               /* CUDA: 0 the kernel whole, PHASE_FREE or
                              PHASE_REST of its phased form */
  const KStmt *grid_loop;  /* CUDA, PHASE_FREE: the chunk loop whose trips
                              are the grid's blocks; PHASE_REST: the chunk
                              loop */
  const KStmt *prefetch_at;   /* CUDA, PHASE_REST: the first load of a
                                 record (the next chunk's is prefetched
                                 there) */
  const KStmt *ahead_at;   /* CUDA, PHASE_REST: the first load of a
                              record, where the loads a chunk ahead
                              (tile_ahead) are issued */
  long *tile_ahead;        /* CUDA, PHASE_REST: per tile, the float offset
                              of its second buffer where its record is
                              loaded a chunk ahead, or 0; NULL: none */
  unsigned char *rec_perm; /* CUDA, PHASE_FREE: per tile, its record
                              stored in the order the rest's bf16 tile
                              keeps (lrc_perm8), or 0; NULL: none */
  const KStmt **rec_src;   /* CUDA, PHASE_REST: per tile, the free part's
                              load of the caller's input whose rows its
                              record copies (loaded from there instead:
                              rec_sources), or NULL; NULL: none */
  int rec_async;           /* CUDA: emitting a record's load as cp.async
                              (1 this chunk's, 2 the next one's), or 0 */
  const char *reg_name;    /* CUDA: reads of tile reg_tile at the point */
  int reg_tile;            /* are of this register instead (NULL: none) */
  bool in_rest;            /* CUDA, the fused kernel: emitting a statement
                              of the chunk loop that the phased form puts
                              in its rest */
  bool no_pair;            /* CUDA: no products paired (mma_pair) */
  bool no_pad8;            /* CUDA: rows padded by 4 floats only (pad_votes
                              not asked: place_tiles) */
  int *tile_half;          /* CUDA: per tile, 1 + the dim its products
                              reduce over where it is kept in bf16
                              (half_tiles; its rows tile_ld bf16 apart),
                              or 0; NULL: none */
  unsigned char *tile_tf32;   /* CUDA: per tile, its values stored rounded to
                                 TF32 (tf32_tiles: 1 by the nests that write
                                 it, 2 by its solve), or 0; NULL: none */
  const char **vec_reg;    /* CUDA: per tile, or NULL: reads of the tile at
                              the point are of lane lrc_j of this float[4]
                              register (NULL: of memory) */
  int reg_state;           /* CUDA, PHASE_REST: 1 + the state tile whose
                              values the chunk loop keeps in the update's
                              accumulators (state_regs), or 0 */
  int rs_mi, rs_nj;        /* (its update's block of mma tiles a warp, */
  long rs_ld;              /* and the bf16 copy's row pitch) */
  bool rs_live;            /* (emitting the chunk loop, where it is) */
  const KStmt *hoisted[16];   /* CUDA: statements emitted earlier, inside a */
  int nhoisted;               /* row fold (row_fold's sides), skipped */
  const char **fold_xs;    /* CUDA: per tile, or NULL: the array holding the
                              raw 16-byte loads of the row fold of load
                              fold_ld[tile], issued at the free part's
                              chunk top (put_fold_loads) */
  const KStmt **fold_ld;
  bool float_targets;      /* CUDA: no product's target in bf16 (half_tiles;
                              ahead_rest) */
  const bool *fold_only;   /* CUDA: per tile, its values only ever in the
                              registers of a row fold (fold_only_tiles:
                              no memory), or NULL */
} Emit;

/* The phased form's parts (emit_cuda.c), and its per-chunk records as
 * the buffer of loads and stores between them. */
enum { PHASE_FREE = 1, PHASE_REST = 2, PHASE_BUF = -2 };

void em_ind(Emit *e, int depth);
/* C identifiers for DSL names (already [A-Za-z_][A-Za-z0-9_]*), prefixed so
 * they cannot collide with generated locals. */
void em_put_buf_name(Emit *e, int b);
void em_put_tile_name(Emit *e, int t);
void em_put_float(Buf *out, double v);
void em_put_idx(Emit *e, int id);
/* tile[index of the current point]: loop variables i_DIM; with the tile's
 * dim `from` indexed by the loop of dim `to`. */
void em_put_elem(Emit *e, int tile);
void em_put_elem_as(Emit *e, int tile, int from, int to);
void em_put_expr(Emit *e, int id);
/* "if (COND) {" for KS_IF_NULL and KS_IF_LESS. */
void em_put_if(Emit *e, const KStmt *s);
/* The header comment's dims line and one line per argument. */
void em_put_arg_docs(Emit *e, const char *arguments);
const char *em_role_doc(KBufRole r);

#endif
