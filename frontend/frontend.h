/* frontend.h — the AST of a .lr file, the parser's and sema's entry points.
 *
 * The lexer (lexer.l, flex, reentrant) and the parser (parser.y, bison,
 * pure, with locations) build the AST in the compilation's arena; sema.c
 * resolves names, inlines `fn`, infers and checks named-dim shapes and
 * builds one step graph (ir/ir.h) per rnn block.
 */
#ifndef LRC_FRONTEND_H
#define LRC_FRONTEND_H

#include "../ir/ir.h"

typedef enum {
  EX_NUM,     /* num */
  EX_NAME,    /* name */
  EX_NEG,     /* lhs */
  EX_ADD,     /* lhs + rhs */
  EX_SUB,     /* lhs - rhs */
  EX_MUL,     /* lhs * rhs */
  EX_DIV,     /* lhs / rhs */
  EX_MATMUL,  /* lhs @ rhs */
  EX_POW,     /* lhs ^ rhs */
  EX_CALL,    /* name(args) */
} ExprKind;

typedef struct Expr Expr;
typedef struct ExprList {
  Expr **data;
  int len, cap;
} ExprList;

struct Expr {
  ExprKind kind;
  Span span;              /* the whole expression */
  Span name_span;         /* EX_CALL: the callee's name */
  int depth;              /* nesting depth, bounded by LRC_MAX_DEPTH */
  double num;             /* EX_NUM */
  const char *text;       /* EX_NUM: as written */
  const char *name;       /* EX_NAME, EX_CALL */
  Expr *lhs, *rhs;
  ExprList args;          /* EX_CALL */
};

/* One name of a dim/input/param/state/output statement. */
typedef struct Decl {
  const char *name;
  Span span;
  long size;              /* dim: the default size (0 if none) */
  Span size_span;
  int ndims;              /* tensors: named dims in brackets */
  const char *dims[LRC_MAX_TENSOR_DIMS];
  Span dim_spans[LRC_MAX_TENSOR_DIMS];
  bool too_many_dims;
} Decl;

typedef struct DeclList {
  Decl *data;
  int len, cap;
} DeclList;

typedef enum {
  ST_DIM, ST_INPUT, ST_PARAM, ST_STATE, ST_OUTPUT,  /* decls */
  ST_FN,                                            /* name, params, expr */
  ST_ASSIGN,                                        /* name, expr */
} StmtKind;

typedef struct Stmt {
  StmtKind kind;
  Span span;
  DeclList decls;
  const char *name;
  Span name_span;
  struct { const char **data; int len, cap; } params;
  struct { Span *data; int len, cap; } param_spans;
  Expr *expr;
} Stmt;

typedef struct StmtList {
  Stmt **data;
  int len, cap;
} StmtList;

typedef struct Rnn {
  const char *name;
  Span span;              /* the name */
  Span block;             /* the whole block */
  StmtList stmts;
} Rnn;

typedef struct Program {
  const Source *src;
  struct { Rnn **data; int len, cap; } rnns;
  StmtList fns;           /* file-level fn definitions */
} Program;

/* Token and rule locations (bison's YYLTYPE, with byte offsets). */
struct LrcLoc {
  int first_line, first_column, last_line, last_column;
  uint32_t off, end;
};

enum { LEX_MAX_OPEN = 64 };

/* Lexer and parser state, shared by lexer.l and parser.y. */
struct LexState {
  Arena *arena;
  Diags *diags;
  const Source *src;
  Program *prog;
  void *scanner;          /* the flex scanner */
  uint32_t off, prev_off; /* byte offset of the next token (and the last) */
  int line, col, prev_line, prev_col;
  int depth;              /* ( ) and [ ] nesting: newlines are blanks inside */
  struct LrcLoc open[LEX_MAX_OPEN];   /* where each open '(' or '[' is */
  int closed_depth;       /* depth a '}' forced back to 0 (for messages) */
  int last;               /* last token returned (0 at start) */
  bool rewind;            /* the last action pushed its text back */
  bool eof_newline;       /* the NEWLINE before end of input was sent */
  bool depth_reported;    /* "nested too deeply" said for this statement */
};

/* Span of a token location (lexer.l). */
Span lrc_span(struct LexState *ls, const struct LrcLoc *loc);

/* AST constructors used by the parser (ast.c). */
Expr *ast_num(struct LexState *ls, Span sp, double v, const char *text);
Expr *ast_name(struct LexState *ls, Span sp, const char *name);
Expr *ast_unary(struct LexState *ls, Span sp, ExprKind k, Expr *a);
Expr *ast_binary(struct LexState *ls, Span sp, ExprKind k, Expr *a, Expr *b);
Expr *ast_call(struct LexState *ls, Span sp, Span name_span, const char *name, ExprList args);

/* Parse `src` into a Program in `a`. Errors go to `d`; the result holds
 * whatever parsed (recovery happens at statement boundaries). */
Program *ast_parse(Arena *a, Diags *d, const Source *src);

/* Print the AST as indented S-expressions (--emit=ast). */
void ast_print(const Program *p, Buf *out);
const char *ast_stmt_keyword(StmtKind k);

/* Dim bindings from --dim K=128,V=64 (name/size pairs). */
typedef struct DimBinding {
  const char *name;
  long size;
  bool used;
} DimBinding;

/* Build the step graph of every rnn block. Returns the number built; on
 * errors (reported to `d`) some may be missing. `graphs` is allocated in
 * `a` with one entry per rnn (NULL where the block had errors). */
int sema_run(Arena *a, Diags *d, const Program *p, DimBinding *binds, int nbinds,
             Graph ***graphs);

#endif
