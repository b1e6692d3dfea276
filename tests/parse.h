/* parse.h — helpers of the lexer and parser suites: one parse of a text,
 * with its AST and diagnostics printed, and assertions on them. */
#ifndef LRC_TEST_PARSE_H
#define LRC_TEST_PARSE_H

#include "test.h"

#include <stdlib.h>
#include <string.h>

/* One parse: the program, its diagnostics and both printed. */
typedef struct Parse {
  Arena arena;
  Diags d;
  Source src;
  Program *p;
  char *ast;      /* ast_print */
  char *diags;    /* diag_render */
} Parse;

static inline void parse_finish(Parse *t) {
  Buf b = {0};
  ast_print(t->p, &b);
  t->ast = buf_take(&b);
  diag_render(&t->d, &b);
  t->diags = buf_take(&b);
}

static inline void parse(Parse *t, const char *text) {
  arena_init(&t->arena);
  t->p = t_parse(&t->arena, &t->d, &t->src, text);
  parse_finish(t);
}

/* The same for text with NUL bytes: `len` bytes. */
static inline void parse_n(Parse *t, const char *text, size_t len) {
  arena_init(&t->arena);
  t->src = (Source){"t.lr", text, len};
  diag_init(&t->d, &t->arena);
  t->p = ast_parse(&t->arena, &t->d, &t->src);
  parse_finish(t);
}

static inline void done(Parse *t) {
  free(t->ast);
  free(t->diags);
  arena_fini(&t->arena);
}

#define NERRORS(t, n)                                                                   \
  ck_assert_msg((t)->d.nerrors == (n), "expected %d errors, got %d:\n%s", (n),         \
                (t)->d.nerrors, (t)->diags)

/* Diagnostic i (notes count) is of kind k at line:col with message msg. */
#define DIAG_AT(t, i, k, ln, cl, message)                                               \
  do {                                                                                  \
    ck_assert_msg((i) < (t)->d.v.len, "no diagnostic %d:\n%s", (i), (t)->diags);        \
    const Diag *g_ = &(t)->d.v.data[i];                                                 \
    ck_assert_msg(g_->kind == (k) && g_->span.line == (ln) && g_->span.col == (cl) &&   \
                      strcmp(g_->msg, message) == 0,                                    \
                  "diagnostic %d: expected %d:%d: %s\ngot:\n%s", (i), (ln), (cl),       \
                  message, (t)->diags);                                                 \
  } while (0)
#define ERROR_AT(t, i, ln, cl, message) DIAG_AT(t, i, DIAG_ERROR, ln, cl, message)
#define NOTE_AT(t, i, ln, cl, message) DIAG_AT(t, i, DIAG_NOTE, ln, cl, message)

#define AST_HAS(t, s)                                                                  \
  ck_assert_msg(strstr((t)->ast, s) != NULL, "'%s' not in the AST:\n%s", s, (t)->ast)

/* The statements of the first rnn. */
static inline Stmt *stmt(Parse *t, int i) {
  ck_assert_msg(t->p->rnns.len >= 1, "no rnn parsed:\n%s", t->diags);
  const Rnn *r = t->p->rnns.data[0];
  ck_assert_msg(i < r->stmts.len, "no statement %d:\n%s\n%s", i, t->ast, t->diags);
  return r->stmts.data[i];
}

static inline int nstmts(Parse *t) { return t->p->rnns.len ? t->p->rnns.data[0]->stmts.len : -1; }

#endif
