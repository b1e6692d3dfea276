/* parser.y — grammar of the lrc DSL (bison, pure, with locations).
 *
 * A file holds rnn blocks and file-level fn definitions. Statements end at
 * a NEWLINE (or ';'); the lexer makes sure one precedes every '}' and the
 * end of input. Errors recover at statement boundaries (`error sep`), so
 * one run reports several independent mistakes. Precedence, low to high:
 * + - (left); * / @ (left, one level, as in NumPy); unary -; ^ (right,
 * tighter than a unary minus on its left, so -x^2 = -(x^2), K^-0.5 works).
 */
%define api.pure full
%define api.prefix {lrc_yy}
%define api.location.type {struct LrcLoc}
%define parse.error custom
%locations
%param {void *scanner}
%parse-param {struct LexState *ls}

%code requires {
#include "frontend.h"
}

%code provides {
int lrc_yylex(LRC_YYSTYPE *lval, struct LrcLoc *lloc, void *scanner);
}

%code {
#include <string.h>

#define YYLLOC_DEFAULT(Cur, Rhs, N)                                  \
  do {                                                               \
    if (N) {                                                         \
      (Cur).first_line = YYRHSLOC(Rhs, 1).first_line;                \
      (Cur).first_column = YYRHSLOC(Rhs, 1).first_column;            \
      (Cur).off = YYRHSLOC(Rhs, 1).off;                              \
      (Cur).last_line = YYRHSLOC(Rhs, N).last_line;                  \
      (Cur).last_column = YYRHSLOC(Rhs, N).last_column;              \
      (Cur).end = YYRHSLOC(Rhs, N).end;                              \
    } else {                                                         \
      (Cur).first_line = (Cur).last_line = YYRHSLOC(Rhs, 0).last_line; \
      (Cur).first_column = (Cur).last_column = YYRHSLOC(Rhs, 0).last_column; \
      (Cur).off = (Cur).end = YYRHSLOC(Rhs, 0).end;                  \
    }                                                                \
  } while (0)

#define SP(loc) lrc_span(ls, &(loc))

static void lrc_yyerror(struct LrcLoc *loc, void *scanner, struct LexState *ls,
                        const char *msg);
static Stmt *new_stmt(struct LexState *ls, StmtKind k, Span sp);
static void add_decl(struct LexState *ls, DeclList *l, Decl d);
static void top_stmt(struct LexState *ls, Stmt *s);
}

%union {
  const char *str;
  struct { const char *text; double value; bool is_int; } num;
  Expr *expr;
  ExprList exprs;
  Stmt *stmt;
  Rnn *rnn;
  Decl decl;
  DeclList decls;
  StmtList stmts;
}

%token RNN "'rnn'" DIM "'dim'" INPUT "'input'" PARAM "'param'" STATE "'state'"
%token OUTPUT "'output'" FN "'fn'"
%token <str> IDENT "name"
%token <num> NUMBER "number"
%token NEWLINE "end of line"
%token END 0 "end of file"

%type <expr> expr term unary power primary
%type <exprs> args
%type <stmt> stmt fndef params
%type <stmts> body
%type <rnn> rnn
%type <decl> decl dimdecl dimnames
%type <decls> decls dimdecls

%%

/* file = (rnn | fn | sep)* */
file
  : %empty
  | file sep
  | file rnn                  { if ($2) VEC_PUSH(ls->arena, ls->prog->rnns, $2); }
  | file stmt sep             { top_stmt(ls, $2); ls->depth_reported = false; }
  | file error sep            { yyerrok; ls->depth_reported = false; }
  ;

sep : NEWLINE | ';' ;

/* rnn = 'rnn' NAME '{' stmt* '}' */
rnn
  : RNN IDENT '{' body '}'    {
      $$ = arena_alloc(ls->arena, sizeof *$$);
      $$->name = $2;
      $$->span = SP(@2);
      $$->block = SP(@$);
      $$->stmts = $4;
    }
  | RNN error '{' body '}'    { $$ = NULL; yyerrok; }
  ;

body
  : %empty                    { $$ = (StmtList){0}; }
  | body sep                  { $$ = $1; }
  | body stmt sep             { $$ = $1; VEC_PUSH(ls->arena, $$, $2);
                                ls->depth_reported = false; }
  | body error sep            { $$ = $1; yyerrok; ls->depth_reported = false; }
  ;

stmt
  : DIM dimdecls              { $$ = new_stmt(ls, ST_DIM, SP(@$)); $$->decls = $2; }
  | INPUT decls               { $$ = new_stmt(ls, ST_INPUT, SP(@$)); $$->decls = $2; }
  | PARAM decls               { $$ = new_stmt(ls, ST_PARAM, SP(@$)); $$->decls = $2; }
  | STATE decls               { $$ = new_stmt(ls, ST_STATE, SP(@$)); $$->decls = $2; }
  | OUTPUT decls              { $$ = new_stmt(ls, ST_OUTPUT, SP(@$)); $$->decls = $2; }
  | fndef                     { $$ = $1; }
  | IDENT '=' expr            {
      $$ = new_stmt(ls, ST_ASSIGN, SP(@$));
      $$->name = $1;
      $$->name_span = SP(@1);
      $$->expr = $3;
    }
  ;

/* dimdecl = NAME ['=' INT] */
dimdecls
  : dimdecl                   { $$ = (DeclList){0}; add_decl(ls, &$$, $1); }
  | dimdecls ',' dimdecl      { $$ = $1; add_decl(ls, &$$, $3); }
  ;

dimdecl
  : IDENT                     { $$ = (Decl){.name = $1, .span = SP(@1)}; }
  | IDENT '=' NUMBER          {
      $$ = (Decl){.name = $1, .span = SP(@1), .size_span = SP(@3)};
      if (!$3.is_int || $3.value < 1 || $3.value > 1e9)
        diag_error(ls->diags, SP(@3),
                   "size of dim '%s' must be a whole number from 1 to 1000000000, not '%s'",
                   $1, $3.text);
      else
        $$.size = (long)$3.value;
    }
  ;

/* decl = NAME ['[' NAME {',' NAME} ']'] */
decls
  : decl                      { $$ = (DeclList){0}; add_decl(ls, &$$, $1); }
  | decls ',' decl            { $$ = $1; add_decl(ls, &$$, $3); }
  ;

decl
  : IDENT                     { $$ = (Decl){.name = $1, .span = SP(@1)}; }
  | IDENT '[' dimnames ']'    { $$ = $3; $$.name = $1; $$.span = SP(@1); }
  ;

dimnames
  : IDENT                     {
      $$ = (Decl){0};
      $$.dims[0] = $1;
      $$.dim_spans[0] = SP(@1);
      $$.ndims = 1;
    }
  | dimnames ',' IDENT        {
      $$ = $1;
      if ($$.ndims == LRC_MAX_TENSOR_DIMS) {
        if (!$$.too_many_dims)
          diag_error(ls->diags, SP(@3), "a tensor has at most %d dims",
                     LRC_MAX_TENSOR_DIMS);
        $$.too_many_dims = true;
      } else {
        $$.dims[$$.ndims] = $3;
        $$.dim_spans[$$.ndims++] = SP(@3);
      }
    }
  ;

/* fn = 'fn' NAME '(' [NAME {',' NAME}] ')' '=' expr */
fndef
  : FN IDENT '(' ')' '=' expr {
      $$ = new_stmt(ls, ST_FN, SP(@$));
      $$->name = $2;
      $$->name_span = SP(@2);
      $$->expr = $6;
    }
  | FN IDENT '(' params ')' '=' expr {
      $$ = $4;
      $$->span = SP(@$);
      $$->name = $2;
      $$->name_span = SP(@2);
      $$->expr = $7;
    }
  ;

params
  : IDENT                     {
      $$ = new_stmt(ls, ST_FN, SP(@1));
      VEC_PUSH(ls->arena, $$->params, $1);
      VEC_PUSH(ls->arena, $$->param_spans, SP(@1));
    }
  | params ',' IDENT          {
      $$ = $1;
      VEC_PUSH(ls->arena, $$->params, $3);
      VEC_PUSH(ls->arena, $$->param_spans, SP(@3));
    }
  ;

expr
  : term                      { $$ = $1; }
  | expr '+' term             { $$ = ast_binary(ls, SP(@$), EX_ADD, $1, $3); }
  | expr '-' term             { $$ = ast_binary(ls, SP(@$), EX_SUB, $1, $3); }
  ;

term
  : unary                     { $$ = $1; }
  | term '*' unary            { $$ = ast_binary(ls, SP(@$), EX_MUL, $1, $3); }
  | term '/' unary            { $$ = ast_binary(ls, SP(@$), EX_DIV, $1, $3); }
  | term '@' unary            { $$ = ast_binary(ls, SP(@$), EX_MATMUL, $1, $3); }
  ;

unary
  : power                     { $$ = $1; }
  | '-' unary                 { $$ = ast_unary(ls, SP(@$), EX_NEG, $2); }
  ;

power
  : primary                   { $$ = $1; }
  | primary '^' unary         { $$ = ast_binary(ls, SP(@$), EX_POW, $1, $3); }
  ;

primary
  : NUMBER                    { $$ = ast_num(ls, SP(@1), $1.value, $1.text); }
  | IDENT                     { $$ = ast_name(ls, SP(@1), $1); }
  | IDENT '(' ')'             { $$ = ast_call(ls, SP(@$), SP(@1), $1, (ExprList){0}); }
  | IDENT '(' args ')'        { $$ = ast_call(ls, SP(@$), SP(@1), $1, $3); }
  | '(' expr ')'              { $$ = $2; $$->span = SP(@$); }
  ;

args
  : expr                      { $$ = (ExprList){0}; VEC_PUSH(ls->arena, $$, $1); }
  | args ',' expr             { $$ = $1; VEC_PUSH(ls->arena, $$, $3); }
  ;

%%

static Stmt *new_stmt(struct LexState *ls, StmtKind k, Span sp) {
  Stmt *s = arena_alloc(ls->arena, sizeof *s);
  s->kind = k;
  s->span = sp;
  return s;
}

static void add_decl(struct LexState *ls, DeclList *l, Decl d) { VEC_PUSH(ls->arena, *l, d); }

/* A statement outside any rnn block: only fn definitions belong there. */
static void top_stmt(struct LexState *ls, Stmt *s) {
  if (s->kind == ST_FN) {
    VEC_PUSH(ls->arena, ls->prog->fns, s);
    return;
  }
  if (s->kind == ST_ASSIGN)
    diag_error(ls->diags, s->span, "assignment outside an rnn block");
  else
    diag_error(ls->diags, s->span, "'%s' declaration outside an rnn block",
               ast_stmt_keyword(s->kind));
  diag_note(ls->diags, s->span, "statements go inside 'rnn NAME { ... }'");
}

static void lrc_yyerror(struct LrcLoc *loc, void *scanner, struct LexState *ls,
                        const char *msg) {
  (void)scanner;
  if (strstr(msg, "exhausted"))
    diag_error(ls->diags, lrc_span(ls, loc),
               "expression nested too deeply (parser stack exhausted)");
  else
    diag_error(ls->diags, lrc_span(ls, loc), "%s", msg);
}

/* Token names for messages, without the quoting bison adds. */
static void put_symbol(Buf *b, yysymbol_kind_t k) {
  const char *s = yysymbol_name(k);
  size_t n = strlen(s);
  if (n >= 2 && s[0] == '"' && s[n - 1] == '"') buf_putn(b, s + 1, n - 2);
  else buf_puts(b, s);
}

static int yyreport_syntax_error(const yypcontext_t *ctx, void *scanner,
                                 struct LexState *ls) {
  (void)scanner;
  enum { MAXEXP = 5 };        /* longer lists of expected tokens are not shown */
  yysymbol_kind_t exp[YYNTOKENS];
  int n = yypcontext_expected_tokens(ctx, exp, YYNTOKENS);
  if (n < 0) n = 0;
  yysymbol_kind_t tok = yypcontext_token(ctx);
  Span sp = lrc_span(ls, yypcontext_location(ctx));
  Buf b = {0};
  buf_puts(&b, "unexpected ");
  if (tok == YYSYMBOL_IDENT || tok == YYSYMBOL_NUMBER) {
    put_symbol(&b, tok);
    uint32_t len = sp.end - sp.off;
    buf_printf(&b, " '%.*s%s'", len > 40 ? 40 : (int)len, sp.src->text + sp.off,
               len > 40 ? "..." : "");
  } else if (tok == YYSYMBOL_NEWLINE && sp.off < sp.src->len && sp.src->text[sp.off] == '}') {
    buf_puts(&b, "'}'");       /* the end of line the lexer puts before '}' */
  } else if (tok == YYSYMBOL_NEWLINE && ls->eof_newline) {
    buf_puts(&b, "end of file");   /* the end of line the lexer puts at the end */
  } else {
    put_symbol(&b, tok);
  }
  bool want_close = false, want_brace = false, want_stmt = false;
  for (int i = 0; i < n; i++) {
    want_close |= strcmp(yysymbol_name(exp[i]), "')'") == 0;
    want_brace |= strcmp(yysymbol_name(exp[i]), "'}'") == 0;
    want_stmt |= exp[i] == YYSYMBOL_DIM;
  }
  const char *tname = yysymbol_name(tok);
  bool binop = strlen(tname) == 3 && tname[0] == '\'' && strchr("+-*/@^", tname[1]);
  if (tok == YYSYMBOL_YYEOF && want_brace) {
    buf_puts(&b, "; an rnn block is missing its closing '}'");
  } else if (tok == YYSYMBOL_RNN && want_brace) {
    buf_puts(&b, " inside an rnn block; is its closing '}' missing?");
  } else if (binop && want_stmt) {
    buf_puts(&b, " at the start of a statement; to continue an expression on the next line, "
                 "put it in parentheses");
  } else if (n > 0 && n <= MAXEXP) {
    buf_puts(&b, "; expected ");
    for (int i = 0; i < n; i++) {
      if (i) buf_puts(&b, i == n - 1 ? " or " : ", ");
      put_symbol(&b, exp[i]);
    }
  }
  diag_error(ls->diags, sp, "%s", b.s ? b.s : "syntax error");
  buf_free(&b);
  /* An unclosed '(' explains most errors that expect ')'. */
  int open = ls->depth > 0 ? ls->depth : ls->closed_depth;
  if (want_close && open > 0 && open <= LEX_MAX_OPEN)
    diag_note(ls->diags, lrc_span(ls, &ls->open[open - 1]), "to match this '('");
  return 0;
}
