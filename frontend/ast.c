/* ast.c — AST constructors (called from the parser), the parse driver and
 * the AST printer (--emit=ast).
 *
 * Constructors bound the nesting depth of expressions: beyond
 * LRC_MAX_DEPTH an error is reported once per statement and the operand is
 * returned instead, so later recursive walks never go deeper than that.
 */
#include "frontend.h"

#include <string.h>

#include "parser.h"
#define YYSTYPE LRC_YYSTYPE
#define YYLTYPE struct LrcLoc
#include "lexer.h"

static Expr *new_expr(struct LexState *ls, ExprKind k, Span sp) {
  Expr *e = arena_alloc(ls->arena, sizeof *e);
  e->kind = k;
  e->span = sp;
  e->depth = 1;
  return e;
}

/* True if an expression of depth `d` may be built; reports otherwise. */
static bool depth_ok(struct LexState *ls, Span sp, int d) {
  if (d <= LRC_MAX_DEPTH) return true;
  if (!ls->depth_reported)
    diag_error(ls->diags, sp, "expression nested too deeply (more than %d levels)",
               LRC_MAX_DEPTH);
  ls->depth_reported = true;
  return false;
}

Expr *ast_num(struct LexState *ls, Span sp, double v, const char *text) {
  Expr *e = new_expr(ls, EX_NUM, sp);
  e->num = v;
  e->text = text;
  return e;
}

Expr *ast_name(struct LexState *ls, Span sp, const char *name) {
  Expr *e = new_expr(ls, EX_NAME, sp);
  e->name = name;
  return e;
}

Expr *ast_unary(struct LexState *ls, Span sp, ExprKind k, Expr *a) {
  if (!depth_ok(ls, sp, a->depth + 1)) return a;
  Expr *e = new_expr(ls, k, sp);
  e->lhs = a;
  e->depth = a->depth + 1;
  return e;
}

Expr *ast_binary(struct LexState *ls, Span sp, ExprKind k, Expr *a, Expr *b) {
  int d = 1 + (a->depth > b->depth ? a->depth : b->depth);
  if (!depth_ok(ls, sp, d)) return a->depth >= b->depth ? a : b;
  Expr *e = new_expr(ls, k, sp);
  e->lhs = a;
  e->rhs = b;
  e->depth = d;
  return e;
}

Expr *ast_call(struct LexState *ls, Span sp, Span name_span, const char *name,
               ExprList args) {
  int d = 0;
  for (int i = 0; i < args.len; i++)
    if (args.data[i]->depth > d) d = args.data[i]->depth;
  if (!depth_ok(ls, sp, d + 1)) return args.data[0];
  Expr *e = new_expr(ls, EX_CALL, sp);
  e->name = name;
  e->name_span = name_span;
  e->args = args;
  e->depth = d + 1;
  return e;
}

Program *ast_parse(Arena *a, Diags *d, const Source *src) {
  Program *p = arena_alloc(a, sizeof *p);
  p->src = src;
  struct LexState ls = {.arena = a, .diags = d, .src = src, .prog = p, .line = 1, .col = 1};
  yyscan_t scanner;
  if (lrc_yylex_init_extra(&ls, &scanner) != 0)
    ir_internal_error(__FILE__, __LINE__, "cannot initialise the lexer");
  ls.scanner = scanner;
  /* NUL bytes: flex treats each as a possible end of its buffer and
   * re-scans, which is quadratic in long runs. Report each run (up to the
   * error limit) and lex a copy in which every NUL is a blank. */
  const char *text = src->text;
  if (src->len && memchr(src->text, '\0', src->len)) {
    char *copy = arena_alloc(a, src->len + 1);
    bool reporting = true;
    for (size_t i = 0; i < src->len; i++) {
      copy[i] = src->text[i] ? src->text[i] : ' ';
      if (src->text[i] || (i > 0 && !src->text[i - 1]) || !reporting) continue;
      Span sp = {src, (uint32_t)i, (uint32_t)i + 1, 0, 0};
      source_locate(src, sp.off, &sp.line, &sp.col);
      reporting = diag_error(d, sp, "NUL byte in source; a .lr file is text");
    }
    text = copy;
  }
  YY_BUFFER_STATE buf = lrc_yy_scan_bytes(text, (int)src->len, scanner);
  lrc_yyparse(scanner, &ls);
  lrc_yy_delete_buffer(buf, scanner);
  lrc_yylex_destroy(scanner);
  return p;
}

/* ---------------------------------------------------------------------- */
/* Printer: one S-expression per statement, expressions inline.           */

const char *ast_stmt_keyword(StmtKind k) {
  static const char *names[] = {"dim", "input", "param", "state", "output", "fn", "assign"};
  return names[k];
}

static void print_expr(const Expr *e, Buf *out) {
  static const char *ops[] = {
      [EX_ADD] = "+", [EX_SUB] = "-", [EX_MUL] = "*",
      [EX_DIV] = "/", [EX_MATMUL] = "@", [EX_POW] = "^",
  };
  switch (e->kind) {
  case EX_NUM:
    buf_puts(out, e->text);
    return;
  case EX_NAME:
    buf_puts(out, e->name);
    return;
  case EX_NEG:
    buf_puts(out, "(neg ");
    print_expr(e->lhs, out);
    buf_puts(out, ")");
    return;
  case EX_CALL:
    buf_printf(out, "(call %s", e->name);
    for (int i = 0; i < e->args.len; i++) {
      buf_puts(out, " ");
      print_expr(e->args.data[i], out);
    }
    buf_puts(out, ")");
    return;
  default:
    buf_printf(out, "(%s ", ops[e->kind]);
    print_expr(e->lhs, out);
    buf_puts(out, " ");
    print_expr(e->rhs, out);
    buf_puts(out, ")");
    return;
  }
}

static void print_stmt(const Stmt *s, const char *indent, Buf *out) {
  buf_printf(out, "%s(%s", indent, ast_stmt_keyword(s->kind));
  switch (s->kind) {
  case ST_FN:
    buf_printf(out, " %s (", s->name);
    for (int i = 0; i < s->params.len; i++)
      buf_printf(out, "%s%s", i ? " " : "", s->params.data[i]);
    buf_puts(out, ") ");
    print_expr(s->expr, out);
    break;
  case ST_ASSIGN:
    buf_printf(out, " %s ", s->name);
    print_expr(s->expr, out);
    break;
  default:
    for (int i = 0; i < s->decls.len; i++) {
      const Decl *d = &s->decls.data[i];
      buf_printf(out, " %s", d->name);
      if (s->kind == ST_DIM && d->size) buf_printf(out, "=%ld", d->size);
      if (d->ndims) {
        buf_puts(out, "[");
        for (int j = 0; j < d->ndims; j++) buf_printf(out, "%s%s", j ? " " : "", d->dims[j]);
        buf_puts(out, "]");
      }
    }
  }
  buf_printf(out, ")  ; %d:%d\n", s->span.line, s->span.col);
}

void ast_print(const Program *p, Buf *out) {
  buf_printf(out, "(file \"%s\"\n", p->src->name);
  for (int i = 0; i < p->fns.len; i++) print_stmt(p->fns.data[i], "  ", out);
  for (int i = 0; i < p->rnns.len; i++) {
    const Rnn *r = p->rnns.data[i];
    buf_printf(out, "  (rnn %s  ; %d:%d\n", r->name, r->span.line, r->span.col);
    for (int j = 0; j < r->stmts.len; j++) print_stmt(r->stmts.data[j], "    ", out);
    buf_puts(out, "  )\n");
  }
  buf_puts(out, ")\n");
}
