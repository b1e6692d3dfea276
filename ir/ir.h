/* ir.h — the internal header shared by frontend/, ir/, passes/, backends/
 * and runtime/: support code (arena, growable arrays, source spans,
 * diagnostics, internal errors) and the step graph.
 *
 * The step graph is the SSA dataflow of one time step of one `rnn` block.
 * Values are referred to by small integer ids (indices into Graph.nodes), so
 * ids survive reallocation and index side tables. A value's shape is a set
 * of named dims (a bit mask over the rnn's dim table): named dims decide
 * broadcasting and contraction, and the in-memory order of a value's dims is
 * always the rnn's declaration order. External tensors keep the order their
 * declaration lists (Slot.dims) and are permuted at the boundary.
 */
#ifndef LRC_IR_H
#define LRC_IR_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------------- */
/* Limits                                                                  */

enum {
  LRC_MAX_DIMS = 32,        /* dims per rnn block (one bit each in a DimSet) */
  LRC_MAX_TENSOR_DIMS = 8,  /* dims of one declared tensor */
  LRC_MAX_IDENT = 255,      /* characters in an identifier */
  LRC_MAX_DEPTH = 1000,     /* nesting of expressions */
  LRC_MAX_ERRORS = 20,      /* errors reported before giving up */
  LRC_MAX_NODES = 1000000,  /* step-graph nodes after inlining */
};

/* ---------------------------------------------------------------------- */
/* Internal errors                                                          */

/* An internal error is a bug in lrc, never the user's fault. LRC_ASSERT
 * reports it with file and line and unwinds to the nearest ir_guard (the
 * API entry point), which turns it into an LRC_ERR_INTERNAL error object. */
typedef struct Guard {
  jmp_buf jb;
  char msg[512];
  struct Guard *prev;
} Guard;

void ir_guard_push(Guard *g);
void ir_guard_pop(Guard *g);
_Noreturn void ir_internal_error(const char *file, int line, const char *fmt, ...);

#define LRC_ASSERT(c)                                                     \
  do {                                                                    \
    if (!(c)) ir_internal_error(__FILE__, __LINE__, "assertion '%s' failed", #c); \
  } while (0)
#define LRC_UNREACHABLE() ir_internal_error(__FILE__, __LINE__, "unreachable")

/* ---------------------------------------------------------------------- */
/* Arena: every object of one compilation (AST, IR, strings) lives in one
 * arena and is freed with it; nothing is freed on its own.               */

typedef struct ArenaBlock ArenaBlock;
typedef struct Arena {
  ArenaBlock *head;
  size_t total;            /* bytes handed out, for limits and statistics */
} Arena;

void arena_init(Arena *a);
void arena_fini(Arena *a);
void *arena_alloc(Arena *a, size_t n);            /* zeroed, 16-byte aligned */
void *arena_realloc(Arena *a, void *p, size_t old, size_t n);
char *arena_strndup(Arena *a, const char *s, size_t n);
char *arena_strdup(Arena *a, const char *s);
char *arena_printf(Arena *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Growable array in an arena: `T *data; int len, cap;` fields. */
#define VEC_PUSH(arena, v, x)                                                   \
  do {                                                                          \
    if ((v).len == (v).cap) {                                                   \
      int ncap_ = (v).cap ? 2 * (v).cap : 8;                                    \
      (v).data = arena_realloc((arena), (v).data, sizeof *(v).data * (v).cap,   \
                               sizeof *(v).data * ncap_);                       \
      (v).cap = ncap_;                                                          \
    }                                                                           \
    (v).data[(v).len++] = (x);                                                  \
  } while (0)

/* Heap string builder (malloc), used for printers. */
typedef struct Buf {
  char *s;
  size_t len, cap;
  bool oom;                /* an allocation failed; s holds what fit */
} Buf;

void buf_printf(Buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vprintf(Buf *b, const char *fmt, va_list ap);
void buf_puts(Buf *b, const char *s);
void buf_putn(Buf *b, const char *s, size_t n);
char *buf_take(Buf *b);    /* the string (never NULL unless out of memory); resets b */
void buf_free(Buf *b);

/* ---------------------------------------------------------------------- */
/* Sources, spans and diagnostics                                          */

typedef struct Source {
  const char *name;        /* file name as given, or "<string>" */
  const char *text;        /* contents, not NUL-terminated in general */
  size_t len;
} Source;

/* A half-open byte range of one source, with 1-based line and column
 * (columns count characters, not bytes) of its first byte. */
typedef struct Span {
  const Source *src;
  uint32_t off, end;
  int line, col;
} Span;

typedef enum { DIAG_ERROR, DIAG_WARNING, DIAG_NOTE } DiagKind;

typedef struct Diag {
  DiagKind kind;
  Span span;               /* span.src == NULL: no location */
  char *msg;
} Diag;

typedef struct Diags {
  Arena *arena;
  struct { Diag *data; int len, cap; } v;
  int nerrors;
  int nseen;               /* errors met, repeats too (a repeat is one error
                              to the count, but still an error where it is) */
  bool too_many;           /* LRC_MAX_ERRORS reached; further errors dropped */
  bool skip_notes;         /* the last error was a repeat: drop its notes */
} Diags;

void diag_init(Diags *d, Arena *a);
/* Report. A note attaches to the diagnostic before it. Returns false once
 * the error limit is reached (callers may stop early). */
bool diag_error(Diags *d, Span sp, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void diag_warning(Diags *d, Span sp, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void diag_note(Diags *d, Span sp, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Render every diagnostic as `file:line:col: error: msg`, the source line
 * and a caret with tildes under the span. */
void diag_render(const Diags *d, Buf *out);
void diag_render_one(const Diag *g, Buf *out);

/* Line and column (1-based, characters) of a byte offset. */
void source_locate(const Source *s, uint32_t off, int *line, int *col);
Span span_join(Span a, Span b);

/* ---------------------------------------------------------------------- */
/* Step graph                                                              */

typedef uint32_t DimSet;   /* bit i: dim i of the rnn's dim table */

typedef enum {
#define OP(name, text, nargs, kind) OP_##name,
#include "ops.def"
#undef OP
  OP_COUNT
} OpKind;

typedef enum { K_LEAF, K_UNARY, K_BINARY, K_REDUCE, K_CONTRACT } OpClass;

typedef struct OpInfo {
  const char *text;
  int nargs;
  OpClass cls;
} OpInfo;

extern const OpInfo ir_ops[OP_COUNT];

typedef enum { DT_F32 } DType;

typedef struct Node {
  OpKind op;
  DType dtype;
  DimSet dims;             /* shape: the set of named dims of the value */
  DimSet rdims;            /* OP_SUM, OP_RMAX: reduced; OP_DOT: contracted */
  int args[2];             /* operand ids (ir_ops[op].nargs of them) */
  int index;               /* OP_DIM: dim id; OP_INPUT/PARAM/STATE/WRITE: slot */
  double num;              /* OP_CONST: value */
  Span span;               /* source expression the node came from */
  const char *name;        /* the name the source gave this value, if any */
} Node;

typedef struct DimInfo {
  const char *name;
  long size;               /* 0: not bound yet */
  Span span;
} DimInfo;

typedef enum { SLOT_INPUT, SLOT_PARAM, SLOT_STATE, SLOT_OUTPUT } SlotKind;

/* A declared tensor: input, param, state or output. */
typedef struct Slot {
  SlotKind kind;
  const char *name;
  int ndims;
  int dims[LRC_MAX_TENSOR_DIMS];  /* dim ids in declaration (memory) order */
  DimSet dimset;
  Span span;
  int value;               /* state: id of the value after the step (-1 if never
                              written); output: id of its value */
  bool used;               /* read somewhere (inputs, params, states) */
} Slot;

typedef struct DimTable {
  DimInfo *data;
  int len, cap;
} DimTable;

typedef struct Graph {
  const char *name;        /* the rnn's name */
  Span span;
  Arena *arena;
  DimTable dims;
  struct { Slot *data; int len, cap; } inputs, params, states, outputs;
  struct { Node *data; int len, cap; } nodes;   /* topological order */
} Graph;

Graph *ir_graph_new(Arena *a, const char *name, Span sp);
/* A new graph with the same name, dims and slots, no nodes, and slot
 * values reset to -1: the start of a pass that rewrites into a copy. */
Graph *ir_graph_copy_slots(Arena *a, const Graph *in);
int ir_add_dim(Graph *g, const char *name, long size, Span sp);
int ir_find_dim(const Graph *g, const char *name);

/* Node constructors. Shapes follow the named-dim rules: binary ops take the
 * union of their operands' dims, reductions remove the reduced dims, DOT
 * removes the contracted (shared) dims. */
int ir_leaf(Graph *g, OpKind op, int index, DimSet dims, Span sp);
int ir_const(Graph *g, double v, Span sp);
int ir_unary(Graph *g, OpKind op, int a, Span sp);
int ir_binary(Graph *g, OpKind op, int a, int b, Span sp);
int ir_reduce(Graph *g, OpKind op, int a, DimSet over, Span sp);
int ir_dot(Graph *g, int a, int b, Span sp);
/* Mark `a` as the value of state `slot` after an assignment (OP_WRITE). */
int ir_write(Graph *g, int slot, int a, Span sp);
/* End a rewrite of `in` into g: point g's state writes and outputs at
 * map[old id], then verify g (an internal error names `pass` if broken). */
void ir_finish_rewrite(Graph *g, const Graph *in, const int *map, const char *pass);
/* A copy of node n (of any graph) into g with operands `args`. */
int ir_clone(Graph *g, const Node *n, const int *args);

static inline const Node *ir_node(const Graph *g, int id) { return &g->nodes.data[id]; }
int ir_popcount(DimSet s);
/* Elements of a value of these dims / of a slot (dims must be bound). */
long ir_dims_count(const Graph *g, DimSet s);
long ir_slot_count(const Graph *g, const Slot *sl);
/* NULL if every dim of g has a size, else a message naming the first. */
const char *ir_unbound_dim(const Graph *g);

/* "[K, V]" in declaration order ("[]" for a scalar), in the arena. */
const char *ir_dims_str(const Graph *g, DimSet s);
const char *ir_slot_kind_name(SlotKind k);

/* Verifier: checks operand order, arities, shapes and slot references.
 * Returns NULL when the graph is well formed, else a message (arena). */
const char *ir_verify(const Graph *g);

/* Printers (ir/print.c). Stable, readable text; the golden files depend
 * on it. */
void ir_print(const Graph *g, Buf *out);
void ir_print_dot(const Graph *g, Buf *out);


/* ---------------------------------------------------------------------- */
/* Kernel IR                                                               */
/*
 * What a backend translates: one function per kernel, with buffers (the
 * caller's tensors), integer index expressions, loops marked parallel or
 * serial, tiles (small dense arrays named by dims, sizes known at compile
 * time) and statements on tiles. The workhorse statement is the *nest*: a
 * loop nest over a set of dims whose body is a list of assignments
 * `tile[point] (= | += | max=) expr`, where every tile read or written is
 * indexed by projecting the iteration point onto its dims (broadcasting by
 * name) — an elementwise chain, a reduction, a contraction (a matmul), or
 * several of these fused into one pass over the data. Loops of a nest run
 * in the kernel's layout order (`order`), the last innermost (the
 * contiguous dim of every tile), and within one point the assignments run
 * in order.
 */

typedef enum { KT_F32, KT_F64, KT_BF16, KT_F16, KT_I32, KT_I64 } KType;

typedef enum {
  KB_INPUT,      /* per token [B, T, H, dims] */
  KB_PARAM,      /* per head [H, dims] */
  KB_STATE_IN,   /* [N, H, dims], may be NULL at run time (zero state) */
  KB_STATE_OUT,  /* [N, H, dims], may be NULL (not wanted) */
  KB_OUTPUT,     /* per token [B, T, H, dims] */
  KB_SEQLENS,    /* int64 [N + 1] offsets, may be NULL (fixed length) */
} KBufRole;

typedef struct KBuf {
  const char *name;
  KBufRole role;
  KType type;
  int slot;                /* index into the graph's slots of that kind */
  bool nullable;
} KBuf;

/* Scalar kernel arguments. */
typedef enum { KA_B, KA_T, KA_H, KA_NSEQ, KA_COUNT } KArg;

/* Integer (int64) index expressions. */
typedef enum {
  KI_CONST,      /* c */
  KI_VAR,        /* loop or let variable `var` */
  KI_ARG,        /* scalar argument `var` (a KArg) */
  KI_ADD, KI_SUB, KI_MUL, KI_DIV, KI_MOD,   /* a op b (DIV, MOD: non-negative) */
  KI_MIN,        /* min(a, b) */
  KI_SEQLEN,     /* cu_seqlens[a] (buffer `buf`) */
} KIdxKind;

typedef struct KIdx {
  KIdxKind kind;
  long c;
  int var;
  int a, b;                /* operand ids */
  int buf;
} KIdx;

typedef struct KTile {
  const char *name;
  DimSet dims;             /* shape; sizes from the graph's dim table */
  KType type;
} KTile;

/* Element expressions of a nest body. */
typedef enum {
  KE_CONST,      /* num */
  KE_READ,       /* tile[point projected onto the tile's dims]; with dim_a >= 0
                    the tile's dim dim_a takes the index of the nest's dim_b
                    (a chunk tile over C read as if over C2) */
  KE_UNARY,      /* op a */
  KE_BINARY,     /* a op b */
  KE_MASK,       /* 1 if index(dim_a) >= index(dim_b) (> if strict), else 0:
                    the causal mask of a chunk */
  KE_BELOW,      /* 1 if index(dim_a) < the index expression a, else 0 (the
                    rows present in a partial chunk) */
} KExprKind;

typedef struct KExpr {
  KExprKind kind;
  OpKind op;
  int a, b;
  int tile;
  double num;
  int dim_a, dim_b;        /* KE_MASK, KE_BELOW, KE_READ (renaming) */
  bool strict;             /* KE_MASK */
} KExpr;

typedef enum { KACC_SET, KACC_ADD, KACC_MAX } KAccum;

typedef struct KAssign {
  int tile;
  KAccum acc;
  int expr;
} KAssign;

typedef struct KStmt KStmt;
typedef struct KBlock {
  KStmt **data;
  int len, cap;
} KBlock;

typedef enum {
  KS_FOR,        /* for var in [lo, hi) (parallel or serial) { body } */
  KS_LET,        /* var = idx */
  KS_NEST,       /* loop nest over `space`: assigns */
  KS_FILL,       /* tile[:] = num */
  KS_LOAD,       /* tile = buf[idx ...] (the slot's declared dim order, contiguous) */
  KS_STORE,      /* buf[idx ...] = tile */
  KS_COPY,       /* tile = tile2 (same dims) */
  KS_IF_NULL,    /* if buf is NULL { body } else { orelse } */
  KS_IF_LESS,    /* if tile (a scalar tile) < num { body } else { orelse } */
  KS_INTERLEAVE, /* rows between a per-token dim and a virtual one of nphase
                    times its size (several steps per token): with tile
                    rows over dim and tile2 rows over dim2, either
                    tile[r*nphase + phase] = tile2[r] (dim the larger) or
                    tile[r] = tile2[r*nphase + phase] (dim2 the larger);
                    other dims alike, other rows untouched */
  KS_CUMSUM,     /* tile: running sum along dim (inclusive, or exclusive;
                    reverse: from the last row back); tile2 (-1: none), over
                    the tile's other dims, receives the whole sum, equal to
                    the sum's value at row rows - 1 (rows: the rows before
                    the zeros of a partial chunk; -1: all) */
  KS_TRISOLVE,   /* tile (X, dims {dim} ∪ rest) = (I + tile2)⁻¹ X, where
                    tile2 (N, dims {dim, dim2}) is strictly lower triangular:
                    forward substitution along dim */
  KS_SCAN,       /* first-order linear recurrence along dim, in place, for
                    the rows r < rows (the rest untouched): S = A[r] S +
                    X[r]; X[r] = S. tile X, tile2 A (dims within X's; -1:
                    A = 1), carry S (X's dims but dim; holds the state
                    before the first row, then after the last), prior E
                    (-1: none; X's dims) receives S before each row */
} KStmtKind;

struct KStmt {
  KStmtKind kind;
  int var;                 /* FOR, LET */
  int lo, hi;              /* FOR: index expressions */
  bool parallel;           /* FOR */
  int idx;                 /* LET: value; LOAD/STORE: element offset of the block */
  int tile, tile2;         /* FILL/LOAD/STORE/COPY */
  int buf;                 /* LOAD/STORE/IF_NULL */
  double num;              /* FILL */
  int dim, dim2;           /* CUMSUM: dim; TRISOLVE: row dim, column dim */
  bool exclusive;          /* CUMSUM */
  bool reverse;            /* CUMSUM: from the last row back (suffix sums) */
  int phase, nphase;       /* INTERLEAVE */
  int rowdim;              /* LOAD/STORE of several rows (a chunk of tokens):
                              the tile's row dim, or -1 for one block */
  int rows, rowstride;     /* index expressions: rows present (the rest load
                              as zeros and are not stored), elements between
                              consecutive rows in the buffer; SCAN: rows */
  int carry, prior;        /* SCAN: the carry tile S, the tile E of the
                              values before each row (-1: none) */
  DimSet space;            /* NEST */
  struct { KAssign *data; int len, cap; } assigns;   /* NEST */
  KBlock body, orelse;
};

typedef struct Kernel {
  const char *name;
  const char *algo;        /* "recurrent", ... */
  const Graph *g;          /* slots */
  Arena *arena;
  DimTable dims;           /* the graph's dims, then the kernel's own (chunk
                              dims): tiles and nests use these ids */
  int order[LRC_MAX_DIMS]; /* dims in layout order, outermost first: the
                              loop order of nests, the innermost dim of a
                              tile is its contiguous one */
  int nouter;              /* kernel dims placed before the graph's */
  struct { KBuf *data; int len, cap; } bufs;
  struct { KTile *data; int len, cap; } tiles;
  struct { KIdx *data; int len, cap; } idx;
  struct { KExpr *data; int len, cap; } exprs;
  struct { const char **data; int len, cap; } vars;   /* variable names */
  KBlock body;
  /* The phased form (passes/phases.c, docs/design-cuda-phases.md): the
   * chunk loop's body holds first its lets and free statements
   * (phase_nfree of them: nothing of the state in their past), then the
   * chain and the readouts. The tiles with phase_at[t] >= 0 carry the
   * free part's values to the rest: a backend that runs the free part of
   * all chunks at once keeps them in a record of phase_rec floats per
   * chunk and head, tile t at element phase_at[t] (an index expression
   * over the loop's variables: ((t0 / C + n) * H + h) * phase_rec + its
   * offset, a multiple of 8; records of sequence n start at chunk
   * bos / C + n, so that
   * B·T/C + N records hold every chunk of a packed batch). phase_loop
   * NULL: no phased form. */
  const KStmt *phase_loop;
  /* The chunk lowering's loop variables (the sequence, the head, the
   * chunk's first token) and its tokens per chunk; -1 and 0 in a kernel
   * of another lowering. */
  int chunk_n, chunk_h, chunk_t0;
  long chunk_tokens;
  int phase_nfree;
  int *phase_at;           /* per tile: index expression, or -1 */
  long phase_rec;
  int phase_chunk;         /* C, tokens per chunk */
  double work_flops;       /* per token and head: the chunkwise algorithm's
                              work (ALGORITHMS.md §3.7), the yardstick of
                              lrc bench whatever this kernel's algorithm */
} Kernel;

Kernel *kir_new(Arena *a, const Graph *g, const char *name, const char *algo);
int kir_buf(Kernel *k, const char *name, KBufRole role, KType t, int slot, bool nullable);
int kir_tile(Kernel *k, const char *name, DimSet dims);
int kir_var(Kernel *k, const char *name);
int kir_ic(Kernel *k, long c);
int kir_ivar(Kernel *k, int var);
int kir_iarg(Kernel *k, KArg a);
int kir_ibin(Kernel *k, KIdxKind op, int a, int b);
int kir_iseqlen(Kernel *k, int buf, int a);
int kir_econst(Kernel *k, double v);
int kir_eread(Kernel *k, int tile);
int kir_eunary(Kernel *k, OpKind op, int a);
int kir_ebinary(Kernel *k, OpKind op, int a, int b);
int kir_emask(Kernel *k, int dim_a, int dim_b, bool strict);
int kir_eread_as(Kernel *k, int tile, int dim, int as_dim);
int kir_ebelow(Kernel *k, int dim, int idx);
KStmt *kir_stmt(Kernel *k, KBlock *into, KStmtKind kind);
void kir_assign(Kernel *k, KStmt *nest, int tile, KAccum acc, int expr);

long kir_tile_count(const Kernel *k, int tile);
/* The slot (its declared dims) that buffer b holds; NULL for the
 * kernel's own buffers (cu_seqlens). */
const Slot *kir_buf_slot(const Kernel *k, int b);
/* Elements of one row (token, head or sequence) of buffer b's slot at the
 * kernel's dim sizes (a dim split over blocks: the slice's; ir_slot_count
 * has the graph's). */
long kir_slot_count(const Kernel *k, int b);
/* The tile that part j of s (an assignment of a nest; 0 for other
 * statements) writes whole, every element, without reading it; -1 if
 * none. A load from a buffer of the backend's own (buf < 0: the phased
 * form's records) is whole. */
int kir_whole_write(const Kernel *k, const KStmt *s, int j);
/* What an expression or a statement reads (bit 1) and writes (bit 2), per
 * tile, and in use[tiles.len] the caller's buffers; a statement's own
 * blocks (loops, branches) are not included. */
void kir_use_expr(const Kernel *k, int x, unsigned char *use);
void kir_use_assign(const Kernel *k, const KAssign *a, unsigned char *use);
void kir_use_stmt(const Kernel *k, const KStmt *s, unsigned char *use);
/* The same with the statements of s's blocks (loops, branches): what
 * they read before writing it within s (bit 1), and write (bit 2). */
void kir_use_tree(const Kernel *k, const KStmt *s, unsigned char *use);
/* Add a dim of the kernel's own (e.g. a chunk of C tokens); its id. An
 * outer dim goes before the graph's dims in the layout (after earlier
 * outer ones): a chunk's token dim, so a tile [C, K] holds rows of tokens
 * like the caller's buffers. */
int kir_add_dim(Kernel *k, const char *name, long size, bool outer);
/* The innermost (last in layout order) dim of s, -1 if s is empty. */
int kir_inner_dim(const Kernel *k, DimSet s);
const char *kir_dims_str(const Kernel *k, DimSet s);
const char *kir_arg_name(KArg a);
const char *kir_type_name(KType t);

/* Printer (--emit=kir) and verifier (NULL when well formed). */
void kir_print(const Kernel *k, Buf *out);
const char *kir_verify(const Kernel *k);

#endif
