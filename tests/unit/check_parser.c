/* check_parser.c — the grammar (frontend/parser.y) and the AST it builds
 * (frontend/ast.c): precedence through the AST printer, calls, fn, dim and
 * tensor declarations, error messages and recovery, and the nesting limits. */
#include "../parse.h"
#include "../test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The S-expression of `x = EXPR` (malloc'd); the parse must succeed. */
static char *sexpr(const char *expr) {
  size_t n = strlen(expr) + 64;
  char *text = malloc(n);
  snprintf(text, n, "rnn r {\n  x = %s\n}\n", expr);
  Parse t;
  parse(&t, text);
  ck_assert_msg(t.d.nerrors == 0, "'%s' does not parse:\n%s", expr, t.diags);
  const char *b = strstr(t.ast, "(assign x ");
  ck_assert_ptr_nonnull(b);
  b += strlen("(assign x ");
  const char *e = strstr(b, ")  ; 2:3\n");
  ck_assert_ptr_nonnull(e);
  char *r = strndup(b, (size_t)(e - b));
  done(&t);
  free(text);
  return r;
}

/* ---------------------------------------------------------------------- */
/* Expressions                                                             */

START_TEST(precedence) {
  static const struct { const char *in, *out; } cases[] = {
      {"a + b * c", "(+ a (* b c))"},
      {"a * b + c", "(+ (* a b) c)"},
      {"a - b - c", "(- (- a b) c)"},                  /* left associative */
      {"a - b + c", "(+ (- a b) c)"},
      {"a / b / c", "(/ (/ a b) c)"},
      {"a @ b * c", "(* (@ a b) c)"},                  /* one level, left to right */
      {"a * b @ c", "(@ (* a b) c)"},
      {"a / b @ c * d", "(* (@ (/ a b) c) d)"},
      {"a + b @ c", "(+ a (@ b c))"},
      {"-x^2", "(neg (^ x 2))"},                       /* -(x^2) */
      {"2^-1", "(^ 2 (neg 1))"},
      {"2^3^2", "(^ 2 (^ 3 2))"},                      /* right associative */
      {"K^-0.5", "(^ K (neg 0.5))"},
      {"-2^-x^2", "(neg (^ 2 (neg (^ x 2))))"},
      {"a^b * c", "(* (^ a b) c)"},
      {"a * b^c", "(* a (^ b c))"},
      {"-a * b", "(* (neg a) b)"},
      {"a - -b", "(- a (neg b))"},
      {"--a", "(neg (neg a))"},
      {"(a + b) * c", "(* (+ a b) c)"},
      {"a * (b + c)", "(* a (+ b c))"},
      {"(a)", "a"},
      {"((((1))))", "1"},
      {"(-x)^2", "(^ (neg x) 2)"},
      {"q @ S * K^-0.5", "(* (@ q S) (^ K (neg 0.5)))"},
      {"S + beta * outer(k, v - k @ S)",
       "(+ S (* beta (call outer k (- v (@ k S)))))"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char *got = sexpr(cases[i].in);
    ck_assert_msg(strcmp(got, cases[i].out) == 0, "%s: got %s, expected %s", cases[i].in, got,
                  cases[i].out);
    free(got);
  }
}
END_TEST

START_TEST(expression_kinds_and_spans) {
  Parse t;
  parse(&t, "rnn r {\n  x = (a + b) * -c ^ 2\n}\n");
  NERRORS(&t, 0);
  const Expr *e = stmt(&t, 0)->expr;
  ck_assert_int_eq(e->kind, EX_MUL);
  ck_assert_int_eq(e->span.col, 7);
  ck_assert_uint_eq(e->span.end - e->span.off, strlen("(a + b) * -c ^ 2"));
  ck_assert_int_eq(e->lhs->kind, EX_ADD);
  /* A parenthesized expression's span includes the parentheses. */
  ck_assert_int_eq(e->lhs->span.col, 7);
  ck_assert_uint_eq(e->lhs->span.end - e->lhs->span.off, strlen("(a + b)"));
  ck_assert_int_eq(e->lhs->lhs->kind, EX_NAME);
  ck_assert_str_eq(e->lhs->lhs->name, "a");
  ck_assert_int_eq(e->rhs->kind, EX_NEG);
  ck_assert_int_eq(e->rhs->span.col, 17);
  ck_assert_int_eq(e->rhs->lhs->kind, EX_POW);
  ck_assert_int_eq(e->rhs->lhs->rhs->kind, EX_NUM);
  ck_assert_double_eq(e->rhs->lhs->rhs->num, 2);
  /* Depths: leaves 1, each operator one more. */
  ck_assert_int_eq(e->depth, 4);
  ck_assert_int_eq(e->lhs->depth, 2);
  done(&t);
}
END_TEST

START_TEST(calls) {
  char *s = sexpr("f() + g(1) + h(a, b + 1, k(c))");
  ck_assert_str_eq(s, "(+ (+ (call f) (call g 1)) (call h a (+ b 1) (call k c)))");
  free(s);
  Parse t;
  parse(&t, "rnn r {\n  x = f()\n  y = g(1)\n  z = max(a,\n          b, c)\n}\n");
  NERRORS(&t, 0);
  const Expr *f = stmt(&t, 0)->expr, *g = stmt(&t, 1)->expr, *m = stmt(&t, 2)->expr;
  ck_assert_int_eq(f->kind, EX_CALL);
  ck_assert_str_eq(f->name, "f");
  ck_assert_int_eq(f->args.len, 0);
  ck_assert_int_eq(g->args.len, 1);
  ck_assert_int_eq(g->args.data[0]->kind, EX_NUM);
  ck_assert_int_eq(m->args.len, 3);
  ck_assert_str_eq(m->args.data[2]->name, "c");
  ck_assert_int_eq(m->args.data[2]->span.line, 5);
  /* The call's span runs from the name to ')', the name span is the name. */
  ck_assert_int_eq(m->name_span.col, 7);
  ck_assert_uint_eq(m->name_span.end - m->name_span.off, 3);
  ck_assert_uint_eq(m->span.end - m->span.off, strlen("max(a,\n          b, c)"));
  done(&t);
  /* Errors in argument lists. */
  parse(&t, "rnn r {\n  x = f(1,)\n  y = f(,1)\n  z = f(1 2)\n  w = 1\n}\n");
  ck_assert_int_ge(t.d.nerrors, 3);
  ERROR_AT(&t, 0, 2, 11, "unexpected ')'; expected name, number, '(' or '-'");
  ERROR_AT(&t, 1, 3, 9, "unexpected ','; expected name, number, '(', ')' or '-'");
  AST_HAS(&t, "(assign w 1)");
  ck_assert_int_eq(nstmts(&t), 1);
  done(&t);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Statements                                                              */

START_TEST(fn_definitions) {
  Parse t;
  parse(&t, "fn phi(x) = elu(x) + 1\n"
            "fn zero() = 0\n"
            "rnn r {\n"
            "  fn lerp(a, b, w) = a + w * (b - a)\n"
            "  y = phi(lerp(1, 2, 0.5))\n"
            "}\n"
            "fn late(q) = q\n");
  NERRORS(&t, 0);
  ck_assert_int_eq(t.p->fns.len, 3);
  const Stmt *phi = t.p->fns.data[0];
  ck_assert_int_eq(phi->kind, ST_FN);
  ck_assert_str_eq(phi->name, "phi");
  ck_assert_int_eq(phi->params.len, 1);
  ck_assert_str_eq(phi->params.data[0], "x");
  ck_assert_int_eq(phi->param_spans.len, 1);
  ck_assert_int_eq(phi->param_spans.data[0].col, 8);
  ck_assert_int_eq(phi->name_span.col, 4);
  ck_assert_int_eq(t.p->fns.data[1]->params.len, 0);
  ck_assert_str_eq(t.p->fns.data[2]->name, "late");
  const Stmt *lerp = stmt(&t, 0);
  ck_assert_int_eq(lerp->kind, ST_FN);
  ck_assert_int_eq(lerp->params.len, 3);
  ck_assert_str_eq(lerp->params.data[2], "w");
  ck_assert_int_eq(lerp->param_spans.data[2].col, 17);
  ck_assert_int_eq(lerp->span.line, 4);
  ck_assert_int_eq(lerp->span.col, 3);
  ck_assert_str_eq(t.ast, "(file \"t.lr\"\n"
                          "  (fn phi (x) (+ (call elu x) 1))  ; 1:1\n"
                          "  (fn zero () 0)  ; 2:1\n"
                          "  (fn late (q) q)  ; 7:1\n"
                          "  (rnn r  ; 3:5\n"
                          "    (fn lerp (a b w) (+ a (* w (- b a))))  ; 4:3\n"
                          "    (assign y (call phi (call lerp 1 2 0.5)))  ; 5:3\n"
                          "  )\n"
                          ")\n");
  done(&t);
  /* Broken definitions: one error each, and the next one still parses. */
  parse(&t, "fn (x) = 1\nfn f(x, ) = 1\nfn g(x) 1\nfn h(x) =\nfn k(1) = 1\nfn ok(x) = x\n");
  NERRORS(&t, 5);
  ERROR_AT(&t, 0, 1, 4, "unexpected '('; expected name");
  ERROR_AT(&t, 1, 2, 9, "unexpected ')'; expected name");
  ERROR_AT(&t, 2, 3, 9, "unexpected number '1'; expected '='");
  ERROR_AT(&t, 3, 4, 10, "unexpected end of line; expected name, number, '(' or '-'");
  ERROR_AT(&t, 4, 5, 6, "unexpected number '1'; expected name or ')'");
  ck_assert_int_eq(t.p->fns.len, 1);
  ck_assert_str_eq(t.p->fns.data[0]->name, "ok");
  done(&t);
}
END_TEST

START_TEST(dim_defaults) {
  Parse t;
  parse(&t, "rnn r {\n  dim K = 64, V, W = 1000000000\n  dim D=1\n}\n");
  NERRORS(&t, 0);
  const Stmt *d = stmt(&t, 0);
  ck_assert_int_eq(d->kind, ST_DIM);
  ck_assert_int_eq(d->decls.len, 3);
  ck_assert_str_eq(d->decls.data[0].name, "K");
  ck_assert_int_eq(d->decls.data[0].size, 64);
  ck_assert_int_eq(d->decls.data[0].size_span.col, 11);
  ck_assert_int_eq(d->decls.data[1].size, 0);        /* no default */
  ck_assert_int_eq(d->decls.data[2].size, 1000000000);
  ck_assert_int_eq(stmt(&t, 1)->decls.data[0].size, 1);
  AST_HAS(&t, "(dim K=64 V W=1000000000)  ; 2:3");
  done(&t);
  /* A size is a whole number from 1 to 10^9, written as an integer. */
  parse(&t, "rnn r {\n"
            "  dim K = 0\n"
            "  dim K2 = 1.5\n"
            "  dim K3 = 1000000001\n"
            "  dim K4 = 1e3\n"
            "  dim K5 = -1\n"
            "  dim K6 = x\n"
            "  dim K7 = 8\n"
            "}\n");
  NERRORS(&t, 6);
  ERROR_AT(&t, 0, 2, 11,
           "size of dim 'K' must be a whole number from 1 to 1000000000, not '0'");
  ERROR_AT(&t, 1, 3, 12,
           "size of dim 'K2' must be a whole number from 1 to 1000000000, not '1.5'");
  ERROR_AT(&t, 2, 4, 12,
           "size of dim 'K3' must be a whole number from 1 to 1000000000, not '1000000001'");
  ERROR_AT(&t, 3, 5, 12,
           "size of dim 'K4' must be a whole number from 1 to 1000000000, not '1e3'");
  ERROR_AT(&t, 4, 6, 12, "unexpected '-'; expected number");
  ERROR_AT(&t, 5, 7, 12, "unexpected name 'x'; expected number");
  /* A dim with a bad size is still declared (without a default). */
  AST_HAS(&t, "(dim K)  ; 2:3");
  AST_HAS(&t, "(dim K7=8)  ; 8:3");
  done(&t);
}
END_TEST

START_TEST(declarations) {
  Parse t;
  parse(&t, "rnn r {\n"
            "  input  q[K], k[K], v[V]\n"
            "  input  g, beta\n"
            "  state  S[K, V]\n"
            "  param  w[\n    K ]\n"
            "  output o[V]\n"
            "}\n");
  NERRORS(&t, 0);
  ck_assert_int_eq(nstmts(&t), 5);
  const Stmt *in = stmt(&t, 0);
  ck_assert_int_eq(in->kind, ST_INPUT);
  ck_assert_int_eq(in->decls.len, 3);
  ck_assert_str_eq(in->decls.data[2].name, "v");
  ck_assert_int_eq(in->decls.data[2].ndims, 1);
  ck_assert_str_eq(in->decls.data[2].dims[0], "V");
  ck_assert_int_eq(in->decls.data[2].span.col, 22);
  ck_assert_int_eq(in->decls.data[2].dim_spans[0].col, 24);
  ck_assert_int_eq(stmt(&t, 1)->decls.data[1].ndims, 0);
  const Decl *S = &stmt(&t, 2)->decls.data[0];
  ck_assert_int_eq(stmt(&t, 2)->kind, ST_STATE);
  ck_assert_int_eq(S->ndims, 2);
  ck_assert_str_eq(S->dims[0], "K");
  ck_assert_str_eq(S->dims[1], "V");
  ck_assert(!S->too_many_dims);
  ck_assert_int_eq(stmt(&t, 3)->kind, ST_PARAM);
  ck_assert_int_eq(stmt(&t, 3)->decls.data[0].dim_spans[0].line, 6);
  ck_assert_int_eq(stmt(&t, 4)->kind, ST_OUTPUT);
  ck_assert_str_eq(t.ast, "(file \"t.lr\"\n"
                          "  (rnn r  ; 1:5\n"
                          "    (input q[K] k[K] v[V])  ; 2:3\n"
                          "    (input g beta)  ; 3:3\n"
                          "    (state S[K V])  ; 4:3\n"
                          "    (param w[K])  ; 5:3\n"
                          "    (output o[V])  ; 7:3\n"
                          "  )\n"
                          ")\n");
  done(&t);
  parse(&t, "rnn r {\n  input x[]\n  input y[K V]\n  input z[K,]\n  input , a\n"
            "  output o[V]\n}\n");
  NERRORS(&t, 4);
  ERROR_AT(&t, 0, 2, 11, "unexpected ']'; expected name");
  ERROR_AT(&t, 1, 3, 13, "unexpected name 'V'; expected ',' or ']'");
  ERROR_AT(&t, 2, 4, 13, "unexpected ']'; expected name");
  ERROR_AT(&t, 3, 5, 9, "unexpected ','; expected name");
  ck_assert_int_eq(nstmts(&t), 1);
  done(&t);
}
END_TEST

START_TEST(tensor_dims_limit) {
  Parse t;
  parse(&t, "rnn r {\n"
            "  input a[A, B, C, D, E, F, G, H]\n"
            "  input b[A, B, C, D, E, F, G, H, I]\n"
            "  input c[A, B, C, D, E, F, G, H, I, J, L], d[X]\n"
            "}\n");
  NERRORS(&t, 2);
  const Decl *a = &stmt(&t, 0)->decls.data[0];
  ck_assert_int_eq(a->ndims, LRC_MAX_TENSOR_DIMS);
  ck_assert(!a->too_many_dims);
  ck_assert_str_eq(a->dims[7], "H");
  /* One error per tensor, at the first dim too many. */
  ERROR_AT(&t, 0, 3, 35, "a tensor has at most 8 dims");
  ERROR_AT(&t, 1, 4, 35, "a tensor has at most 8 dims");
  const Decl *b = &stmt(&t, 1)->decls.data[0];
  ck_assert(b->too_many_dims);
  ck_assert_int_eq(b->ndims, LRC_MAX_TENSOR_DIMS);
  const Decl *c = &stmt(&t, 2)->decls.data[0];
  ck_assert(c->too_many_dims);
  ck_assert_int_eq(c->ndims, LRC_MAX_TENSOR_DIMS);
  /* The next declaration of the statement is fine. */
  const Decl *d = &stmt(&t, 2)->decls.data[1];
  ck_assert_str_eq(d->name, "d");
  ck_assert(!d->too_many_dims);
  ck_assert_int_eq(d->ndims, 1);
  done(&t);
}
END_TEST

START_TEST(whole_program) {
  Parse t;
  parse(&t, "# Gated DeltaNet\n"
            "rnn gated_deltanet {\n"
            "  dim    K, V\n"
            "  input  q[K], k[K], v[V]\n"
            "  input  g, beta\n"
            "  state  S[K, V]\n"
            "  output o[V]\n"
            "\n"
            "  k = l2norm(k)\n"
            "  q = l2norm(q) * K^-0.5\n"
            "  S = exp(g) * S\n"
            "  S = S + beta * outer(k, v - k @ S)\n"
            "  o = q @ S\n"
            "}\n");
  NERRORS(&t, 0);
  ck_assert_str_eq(t.ast,
                   "(file \"t.lr\"\n"
                   "  (rnn gated_deltanet  ; 2:5\n"
                   "    (dim K V)  ; 3:3\n"
                   "    (input q[K] k[K] v[V])  ; 4:3\n"
                   "    (input g beta)  ; 5:3\n"
                   "    (state S[K V])  ; 6:3\n"
                   "    (output o[V])  ; 7:3\n"
                   "    (assign k (call l2norm k))  ; 9:3\n"
                   "    (assign q (* (call l2norm q) (^ K (neg 0.5))))  ; 10:3\n"
                   "    (assign S (* (call exp g) S))  ; 11:3\n"
                   "    (assign S (+ S (* beta (call outer k (- v (@ k S))))))  ; 12:3\n"
                   "    (assign o (@ q S))  ; 13:3\n"
                   "  )\n"
                   ")\n");
  const Rnn *r = t.p->rnns.data[0];
  ck_assert_str_eq(r->name, "gated_deltanet");
  ck_assert_int_eq(r->span.col, 5);
  ck_assert_int_eq(r->block.line, 2);
  ck_assert_int_eq(r->block.col, 1);
  ck_assert_uint_eq(r->block.end, (uint32_t)t.src.len - 1);   /* through the '}' */
  done(&t);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Errors                                                                  */

START_TEST(recovery_three_errors) {
  Parse t;
  parse(&t, "rnn a {\n"
            "  dim K\n"
            "  input x[K] +\n"       /* 3 */
            "  output y[K]\n"
            "  z = * x\n"            /* 5 */
            "  y = x\n"
            "  w = (x))\n"           /* 7 */
            "  v = x\n"
            "}\n"
            "rnn b {\n"
            "  u = 1\n"
            "}\n");
  NERRORS(&t, 3);
  ck_assert_int_eq(t.d.v.len, 3);
  ERROR_AT(&t, 0, 3, 14, "unexpected '+'; expected end of line or ';'");
  ERROR_AT(&t, 1, 5, 7, "unexpected '*'; expected name, number, '(' or '-'");
  ERROR_AT(&t, 2, 7, 10, "unexpected ')'; expected end of line or ';'");
  /* Every good statement is there, in both blocks. */
  ck_assert_int_eq(t.p->rnns.len, 2);
  ck_assert_int_eq(nstmts(&t), 4);
  AST_HAS(&t, "(dim K)  ; 2:3");
  AST_HAS(&t, "(output y[K])  ; 4:3");
  AST_HAS(&t, "(assign y x)  ; 6:3");
  AST_HAS(&t, "(assign v x)  ; 8:3");
  AST_HAS(&t, "(assign u 1)  ; 11:3");
  done(&t);
}
END_TEST

START_TEST(recovery_error_limit) {
  /* 40 bad lines: 20 errors, the stop message, no crash. */
  Buf b = {0};
  buf_puts(&b, "rnn r {\n");
  for (int i = 0; i < 40; i++) buf_puts(&b, "  x = * 1\n");
  buf_puts(&b, "}\n");
  Parse t;
  parse(&t, b.s);
  NERRORS(&t, LRC_MAX_ERRORS);
  ck_assert(t.d.too_many);
  ck_assert_str_eq(t.d.v.data[t.d.v.len - 1].msg, "too many errors; stopping");
  ERROR_AT(&t, 19, 21, 7, "unexpected '*'; expected name, number, '(' or '-'");
  ck_assert_int_eq(t.p->rnns.len, 1);
  done(&t);
  buf_free(&b);
}
END_TEST

START_TEST(missing_close_brace) {
  Parse t;
  parse(&t, "rnn ok {\n  a = 1\n}\nrnn x {\n  dim K\n  y = 1\n");
  NERRORS(&t, 1);
  ck_assert_int_eq(t.d.v.len, 1);
  ERROR_AT(&t, 0, 6, 8, "unexpected end of file; an rnn block is missing its closing '}'");
  ck_assert_int_eq(t.p->rnns.len, 1);
  ck_assert_str_eq(t.p->rnns.data[0]->name, "ok");
  done(&t);
  /* Just the header. */
  parse(&t, "rnn x {");
  NERRORS(&t, 1);
  ERROR_AT(&t, 0, 1, 8, "unexpected end of file; an rnn block is missing its closing '}'");
  done(&t);
  /* The next block starts before this one ends. */
  parse(&t, "rnn a {\n  x = 1\nrnn b {\n  y = 2\n}\n");
  NERRORS(&t, 1);
  ERROR_AT(&t, 0, 3, 1, "unexpected 'rnn' inside an rnn block; is its closing '}' missing?");
  done(&t);
  /* A '}' too many. */
  parse(&t, "rnn a {\n  x = 1\n}\n}\nrnn b {\n  y = 2\n}\n");
  NERRORS(&t, 1);
  ERROR_AT(&t, 0, 4, 1, "unexpected '}'");
  ck_assert_int_eq(t.p->rnns.len, 2);
  done(&t);
}
END_TEST

START_TEST(statements_outside_rnn) {
  Parse t;
  parse(&t, "x = 1\ndim K\ninput a[K]\nparam p\nstate S\noutput o\n"
            "rnn r {\n  y = 2\n}\nfn f(x) = x\n");
  NERRORS(&t, 6);
  ck_assert_int_eq(t.d.v.len, 12);
  static const char *const msgs[] = {
      "assignment outside an rnn block",
      "'dim' declaration outside an rnn block",
      "'input' declaration outside an rnn block",
      "'param' declaration outside an rnn block",
      "'state' declaration outside an rnn block",
      "'output' declaration outside an rnn block",
  };
  for (int i = 0; i < 6; i++) {
    ERROR_AT(&t, 2 * i, i + 1, 1, msgs[i]);
    NOTE_AT(&t, 2 * i + 1, i + 1, 1, "statements go inside 'rnn NAME { ... }'");
  }
  /* The caret covers the statement. */
  ck_assert_msg(strstr(t.diags, "    3 | input a[K]\n      | ^~~~~~~~~~\n") != NULL, "%s",
                t.diags);
  /* What belongs at file level is kept. */
  ck_assert_int_eq(t.p->rnns.len, 1);
  ck_assert_int_eq(t.p->fns.len, 1);
  AST_HAS(&t, "(assign y 2)  ; 8:3");
  done(&t);
}
END_TEST

START_TEST(bad_rnn_header) {
  Parse t;
  parse(&t, "rnn 3 {\n  x = 1\n}\n"
            "rnn {\n  x = 1\n}\n"
            "rnn a b {\n  x = 1\n}\n"
            "rnn good {\n  y = 2\n}\n"
            "rnn(x) {\n}\n"
            "rnn");
  NERRORS(&t, 5);
  ck_assert_int_eq(t.d.v.len, 5);
  ERROR_AT(&t, 0, 1, 5, "unexpected number '3'; expected name");
  ERROR_AT(&t, 1, 4, 5, "unexpected '{'; expected name");
  ERROR_AT(&t, 2, 7, 7, "unexpected name 'b'; expected '{'");
  ERROR_AT(&t, 3, 13, 4, "unexpected '('; expected name");
  ERROR_AT(&t, 4, 15, 4, "unexpected end of file; expected name");
  /* Blocks with bad headers are dropped; errors in them are still found. */
  ck_assert_int_eq(t.p->rnns.len, 1);
  ck_assert_str_eq(t.p->rnns.data[0]->name, "good");
  done(&t);
  parse(&t, "rnn 3 {\n  a = 1\n  x = * 2\n}\n");
  NERRORS(&t, 2);
  ERROR_AT(&t, 1, 3, 7, "unexpected '*'; expected name, number, '(' or '-'");
  done(&t);
  parse(&t, "rnn r\n{\n}\n");
  NERRORS(&t, 1);
  ERROR_AT(&t, 0, 1, 6, "unexpected end of line; expected '{'");
  done(&t);
}
END_TEST

START_TEST(syntax_error_messages) {
  static const struct { const char *stmt; int col; const char *msg; } cases[] = {
      {"y x + 1", 5, "unexpected name 'x'; expected '='"},
      {"x = * 2", 7, "unexpected '*'; expected name, number, '(' or '-'"},
      {"x = 1 2", 9, "unexpected number '2'; expected end of line or ';'"},
      {"x = 1 +", 10, "unexpected end of line; expected name, number, '(' or '-'"},
      {"x == 1", 6, "unexpected '='; expected name, number, '(' or '-'"},
      {"x = a[1]", 8, "unexpected '['; expected end of line or ';'"},
      {"x = (1 +)", 11, "unexpected ')'; expected name, number, '(' or '-'"},
      {"x = f(a b)", 11, "unexpected name 'b'; expected ',' or ')'"},
      {"x = 1 rnn", 9, "unexpected 'rnn'; expected end of line or ';'"},
      {"= 1", 3, "unexpected '='"},
      {"* x", 3,
       "unexpected '*' at the start of a statement; to continue an expression on the next "
       "line, put it in parentheses"},
      {"x = 1 * }", 11, "unexpected '}'; expected name, number, '(' or '-'"},
      {"x = "
       "a_name_that_is_far_too_long_to_show_in_full_in_a_message b",
       5, NULL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char text[256];
    snprintf(text, sizeof text, "rnn r {\n  %s\n}\n", cases[i].stmt);
    Parse t;
    parse(&t, text);
    ck_assert_msg(t.d.nerrors >= 1, "'%s' parses", cases[i].stmt);
    if (cases[i].msg) ERROR_AT(&t, 0, 2, cases[i].col, cases[i].msg);
    done(&t);
  }
  /* A long name is cut at 40 characters. */
  Parse t;
  parse(&t, "rnn r {\n  x = a b_name_that_is_far_too_long_to_show_in_full_here\n}\n");
  NERRORS(&t, 1);
  ERROR_AT(&t, 0, 2, 9,
           "unexpected name 'b_name_that_is_far_too_long_to_show_in_f...'; expected end of line "
           "or ';'");
  done(&t);
  /* An unclosed '(' is pointed at. */
  parse(&t, "rnn r {\n  y = (x + 1\n}\n");
  NERRORS(&t, 1);
  ERROR_AT(&t, 0, 3, 1, "unexpected '}'; expected ')', '+' or '-'");
  NOTE_AT(&t, 1, 2, 7, "to match this '('");
  done(&t);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Nesting limits                                                          */

/* "rnn r {\n  x = " + pre * n + mid + post * n + "\n" + more + "}\n" */
static char *nested(const char *pre, int n, const char *mid, const char *post, const char *more) {
  Buf b = {0};
  buf_puts(&b, "rnn r {\n  x = ");
  for (int i = 0; i < n; i++) buf_puts(&b, pre);
  buf_puts(&b, mid);
  for (int i = 0; i < n; i++) buf_puts(&b, post);
  buf_puts(&b, "\n");
  buf_puts(&b, more);
  buf_puts(&b, "}\n");
  return buf_take(&b);
}

static int max_depth(const Expr *e) {
  int d = 0;
  if (e->lhs) d = max_depth(e->lhs);
  if (e->rhs) {
    int r = max_depth(e->rhs);
    if (r > d) d = r;
  }
  for (int i = 0; i < e->args.len; i++) {
    int r = max_depth(e->args.data[i]);
    if (r > d) d = r;
  }
  return d + 1;
}

START_TEST(nesting_at_limit) {
  /* LRC_MAX_DEPTH levels are fine: 999 minus signs on a number. */
  char *text = nested("-", LRC_MAX_DEPTH - 1, "1", "", "");
  Parse t;
  parse(&t, text);
  NERRORS(&t, 0);
  ck_assert_int_eq(stmt(&t, 0)->expr->depth, LRC_MAX_DEPTH);
  ck_assert_int_eq(max_depth(stmt(&t, 0)->expr), LRC_MAX_DEPTH);
  done(&t);
  free(text);
}
END_TEST

START_TEST(nesting_too_deep) {
  static const struct { const char *pre, *mid, *post; } shapes[] = {
      {"-", "1", ""},              /* unary */
      {"f(", "1", ")"},            /* calls */
      {"2^", "2", ""},             /* right-associative powers */
      {"g(1, ", "x", ")"},         /* calls with several arguments */
      {"(1 + ", "y", ")"},         /* parentheses around binary operators */
  };
  for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
    /* Reported once, and the next statement parses. */
    char *text = nested(shapes[i].pre, LRC_MAX_DEPTH + 500, shapes[i].mid, shapes[i].post,
                        "  z = 1\n");
    Parse t;
    parse(&t, text);
    ck_assert_msg(t.d.nerrors == 1, "shape %zu: %d errors", i, t.d.nerrors);
    ck_assert_msg(strcmp(t.d.v.data[0].msg,
                         "expression nested too deeply (more than 1000 levels)") == 0,
                  "shape %zu: %s", i, t.d.v.data[0].msg);
    ck_assert_int_eq(t.d.v.data[0].span.line, 2);
    /* The tree is cut at the limit, so later walks are bounded. */
    ck_assert_int_le(max_depth(stmt(&t, 0)->expr), LRC_MAX_DEPTH);
    AST_HAS(&t, "(assign z 1)");
    done(&t);
    free(text);
  }
  /* Once per statement. */
  char *one = nested("-", 1500, "1", "", "  y = ");
  Buf b = {0};
  buf_puts(&b, one);
  b.len -= 2;   /* drop "}\n" */
  for (int i = 0; i < 1500; i++) buf_puts(&b, "-");
  buf_puts(&b, "2\n}\n");
  Parse t;
  parse(&t, b.s);
  NERRORS(&t, 2);
  ERROR_AT(&t, 0, 2, 3 + 4 + 1500 - LRC_MAX_DEPTH,
           "expression nested too deeply (more than 1000 levels)");
  ck_assert_int_eq(t.d.v.data[1].span.line, 3);
  done(&t);
  buf_free(&b);
  free(one);
}
END_TEST

START_TEST(nesting_huge) {
  /* 100000 parentheses or minus signs: an error, no crash (the parser's
   * stack is bounded too). */
  static const struct { const char *pre, *mid, *post; } shapes[] = {
      {"(", "1", ")"}, {"-", "1", ""}, {"f(", "1", ")"}, {"(", "1", ""},
  };
  for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
    char *text = nested(shapes[i].pre, 100000, shapes[i].mid, shapes[i].post, "");
    Parse t;
    parse(&t, text);
    ck_assert_msg(t.d.nerrors >= 1, "shape %zu parses", i);
    ck_assert_msg(strstr(t.d.v.data[0].msg, "nested too deeply") != NULL, "shape %zu: %s", i,
                  t.d.v.data[0].msg);
    ck_assert_int_eq(t.d.v.data[0].span.line, 2);
    done(&t);
    free(text);
  }
}
END_TEST

Suite *parser_suite(void) {
  Suite *s = suite_create("parser");
  TCase *tc = tcase_create("expressions");
  tcase_add_test(tc, precedence);
  tcase_add_test(tc, expression_kinds_and_spans);
  tcase_add_test(tc, calls);
  suite_add_tcase(s, tc);

  tc = tcase_create("statements");
  tcase_add_test(tc, fn_definitions);
  tcase_add_test(tc, dim_defaults);
  tcase_add_test(tc, declarations);
  tcase_add_test(tc, tensor_dims_limit);
  tcase_add_test(tc, whole_program);
  suite_add_tcase(s, tc);

  tc = tcase_create("errors");
  tcase_add_test(tc, recovery_three_errors);
  tcase_add_test(tc, recovery_error_limit);
  tcase_add_test(tc, missing_close_brace);
  tcase_add_test(tc, statements_outside_rnn);
  tcase_add_test(tc, bad_rnn_header);
  tcase_add_test(tc, syntax_error_messages);
  suite_add_tcase(s, tc);

  tc = tcase_create("nesting");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, nesting_at_limit);
  tcase_add_test(tc, nesting_too_deep);
  tcase_add_test(tc, nesting_huge);
  suite_add_tcase(s, tc);
  return s;
}
