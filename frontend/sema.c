/* sema.c — from AST to step graph: names, fn inlining, named-dim shapes.
 *
 * Each rnn block is read top to bottom, exactly as its sequential
 * semantics say: a name's current value is the value of its last
 * assignment (for a state: the state as updated so far in this step; for an
 * input or param: the token's value until rebound). Expressions are
 * evaluated straight into step-graph nodes, so `fn` calls are inlined by
 * evaluating the body with its parameters bound to the argument values.
 *
 * Shape rules (DESIGN.md): elementwise operations broadcast by dim name
 * (the result has the union of the operands' dims); `a @ b` contracts the
 * dims the operands share; `outer` needs disjoint dims; reductions name
 * dims the operand has; a state or output is assigned a value with exactly
 * its declared dims.
 */
#include "frontend.h"

#include <stdio.h>
#include <string.h>

typedef enum { SYM_DIM, SYM_INPUT, SYM_PARAM, SYM_STATE, SYM_OUTPUT, SYM_LOCAL, SYM_FN } SymKind;

typedef struct Sym {
  const char *name;
  SymKind kind;
  int index;               /* dim id or slot index */
  int value;               /* current value id, -1 if none yet */
  Span span;               /* declaration (or first assignment) */
  const Stmt *fn;          /* SYM_FN */
  bool poisoned;           /* its declaration or definition had an error:
                              uses fail silently (no cascade of errors) */
} Sym;

/* Open-addressing hash table from names to symbols. */
typedef struct SymTab {
  Sym **slots;
  int cap, len;
} SymTab;

typedef struct Env {       /* fn parameters while inlining a body */
  const Stmt *fn;
  const int *args;         /* value of each parameter */
  Span call;               /* the call being inlined */
  struct Env *up;
} Env;

typedef struct Sema {
  Arena *arena;
  Diags *d;
  Graph *g;
  SymTab names;            /* the rnn's names */
  SymTab *file_fns;        /* file-level fns */
  DimBinding *binds;
  int nbinds;
  long steps;              /* evaluation steps, bounded (fn inlining blow-up) */
  const Expr *stmt_expr;   /* the right-hand side being evaluated */
  bool used_poisoned;      /* called a file-level fn whose definition had an
                              error (reported before this rnn): no graph */
  bool budget_reported;
  int depth;               /* eval recursion, bounded */
  bool depth_reported;
} Sema;

enum { MAX_STEPS = 4 * LRC_MAX_NODES, MAX_CALL_DEPTH = 256, MAX_EVAL_DEPTH = 4000 };

/* ---------------------------------------------------------------------- */
/* Symbol table                                                            */

static unsigned hash_str(const char *s) {
  unsigned h = 2166136261u;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
  return h;
}

static Sym *sym_find(const SymTab *t, const char *name) {
  if (!t->cap) return NULL;
  unsigned m = (unsigned)t->cap - 1;
  for (unsigned i = hash_str(name) & m;; i = (i + 1) & m) {
    Sym *s = t->slots[i];
    if (!s) return NULL;
    if (strcmp(s->name, name) == 0) return s;
  }
}

static void sym_insert(Arena *a, SymTab *t, Sym *s) {
  if (2 * (t->len + 1) > t->cap) {
    SymTab n = {arena_alloc(a, sizeof(Sym *) * (t->cap ? 2 * t->cap : 64)),
                t->cap ? 2 * t->cap : 64, 0};
    for (int i = 0; i < t->cap; i++)
      if (t->slots[i]) sym_insert(a, &n, t->slots[i]);
    *t = n;
  }
  unsigned m = (unsigned)t->cap - 1;
  unsigned i = hash_str(s->name) & m;
  while (t->slots[i]) i = (i + 1) & m;
  t->slots[i] = s;
  t->len++;
}

static const char *sym_kind_name(SymKind k) {
  static const char *names[] = {"dim", "input", "param", "state", "output", "local", "fn"};
  return names[k];
}

/* ---------------------------------------------------------------------- */
/* Built-in functions                                                      */

typedef enum {
  BI_UNARY,       /* elementwise, one operand: op */
  BI_BINARY,      /* elementwise, two operands: op */
  BI_OUTER,
  BI_SUM,
  BI_MEAN,
  BI_L2NORM,
  BI_SOFTMAX,
} BuiltinKind;

typedef struct Builtin {
  const char *name;
  BuiltinKind kind;
  OpKind op;
  const char *usage;
} Builtin;

static const Builtin builtins[] = {
    {"exp", BI_UNARY, OP_EXP, "exp(x)"},
    {"log", BI_UNARY, OP_LOG, "log(x)"},
    {"sqrt", BI_UNARY, OP_SQRT, "sqrt(x)"},
    {"rsqrt", BI_UNARY, OP_RSQRT, "rsqrt(x)"},
    {"abs", BI_UNARY, OP_ABS, "abs(x)"},
    {"sigmoid", BI_UNARY, OP_SIGMOID, "sigmoid(x)"},
    {"logsigmoid", BI_UNARY, OP_LOGSIGMOID, "logsigmoid(x)"},
    {"softplus", BI_UNARY, OP_SOFTPLUS, "softplus(x)"},
    {"silu", BI_UNARY, OP_SILU, "silu(x)"},
    {"elu", BI_UNARY, OP_ELU, "elu(x)"},
    {"relu", BI_UNARY, OP_RELU, "relu(x)"},
    {"tanh", BI_UNARY, OP_TANH, "tanh(x)"},
    {"max", BI_BINARY, OP_MAX, "max(a, b)"},
    {"min", BI_BINARY, OP_MIN, "min(a, b)"},
    {"outer", BI_OUTER, OP_MUL, "outer(a, b)"},
    {"sum", BI_SUM, OP_SUM, "sum(x) or sum(x, DIM, ...)"},
    {"mean", BI_MEAN, OP_SUM, "mean(x) or mean(x, DIM, ...)"},
    {"l2norm", BI_L2NORM, OP_SUM, "l2norm(x) or l2norm(x, DIM)"},
    {"softmax", BI_SOFTMAX, OP_SUM, "softmax(x) or softmax(x, DIM)"},
};

static const Builtin *find_builtin(const char *name) {
  for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++)
    if (strcmp(builtins[i].name, name) == 0) return &builtins[i];
  return NULL;
}

static bool is_keyword(const char *name) {
  static const char *kw[] = {"rnn", "dim", "input", "param", "state", "output", "fn"};
  for (size_t i = 0; i < sizeof kw / sizeof kw[0]; i++)
    if (strcmp(kw[i], name) == 0) return true;
  return false;
}

/* ---------------------------------------------------------------------- */
/* Helpers                                                                 */

static const char *dims_str(Sema *s, DimSet d) { return ir_dims_str(s->g, d); }

static const char *slot_dims_str(Sema *s, const Slot *sl) {
  Buf b = {0};
  buf_puts(&b, "[");
  for (int i = 0; i < sl->ndims; i++)
    buf_printf(&b, "%s%s", i ? ", " : "", s->g->dims.data[sl->dims[i]].name);
  buf_puts(&b, "]");
  const char *r = arena_strdup(s->arena, b.s);
  buf_free(&b);
  return r;
}

/* Edit distance for "did you mean" (small strings only). */
static int edit_distance(const char *a, const char *b) {
  size_t n = strlen(a), m = strlen(b);
  if (n > 32 || m > 32) return 99;
  int row[33];
  for (size_t j = 0; j <= m; j++) row[j] = (int)j;
  for (size_t i = 1; i <= n; i++) {
    int diag = row[0];
    row[0] = (int)i;
    for (size_t j = 1; j <= m; j++) {
      int up = row[j];
      int best = diag + (a[i - 1] != b[j - 1]);
      if (up + 1 < best) best = up + 1;
      if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
      row[j] = best;
      diag = up;
    }
  }
  return row[m];
}

/* Distance of a plausible typo of `b` (99 if `a` is not one): at most 1
 * edit for short names, 2 for longer ones, and never every character
 * (`r` is no typo of `q`). */
static int typo_distance(const char *a, const char *b) {
  int d = edit_distance(a, b);
  int n = (int)strlen(a), m = (int)strlen(b);
  return d <= (n <= 3 ? 1 : 2) && d < (n > m ? n : m) ? d : 99;
}

/* The closest name to `name` that could be meant: for a call, a fn or
 * built-in; for a value, a name the expression can see (inside a fn: its
 * parameters, dims and params). NULL if none is close. */
static const char *suggest(const Sema *s, const char *name, const Env *env, bool call) {
  const char *best = NULL;
  int bestd = 99;
  const SymTab *tabs[] = {&s->names, s->file_fns};
  for (int t = 0; t < 2; t++) {
    if (!tabs[t]) continue;
    for (int i = 0; i < tabs[t]->cap; i++) {
      const Sym *y = tabs[t]->slots[i];
      if (!y || (call != (y->kind == SYM_FN)) ||
          (!call && env && y->kind != SYM_DIM && y->kind != SYM_PARAM))
        continue;
      int d = typo_distance(name, y->name);
      if (d < bestd) bestd = d, best = y->name;
    }
  }
  if (!call && env)
    for (int i = 0; i < env->fn->params.len; i++) {
      int d = typo_distance(name, env->fn->params.data[i]);
      if (d < bestd) bestd = d, best = env->fn->params.data[i];
    }
  if (call)
    for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++) {
      int d = typo_distance(name, builtins[i].name);
      if (d < bestd) bestd = d, best = builtins[i].name;
    }
  return best;
}

/* Spend one evaluation step; false once the budget is gone (reported once). */
static bool spend(Sema *s, Span sp) {
  if (++s->steps <= MAX_STEPS && s->g->nodes.len < LRC_MAX_NODES) return true;
  /* Reported at the statement: the expression where the budget ran out
   * may be deep inside some fn, far from the call that blew up. */
  if (!s->budget_reported)
    diag_error(s->d, s->stmt_expr ? s->stmt_expr->span : sp,
               "this rnn expands to more than %d operations after inlining fns; "
               "simplify it or use fewer nested fn calls",
               LRC_MAX_NODES);
  s->budget_reported = true;
  return false;
}

/* ---------------------------------------------------------------------- */
/* Expressions                                                             */

static int eval(Sema *s, const Expr *e, const Env *env);

static int read_name(Sema *s, const Expr *e, const Env *env) {
  if (env) {
    for (int i = 0; i < env->fn->params.len; i++)
      if (strcmp(env->fn->params.data[i], e->name) == 0) return env->args[i];
  }
  Sym *y = sym_find(&s->names, e->name);
  if (env && (!y || (y->kind != SYM_DIM && y->kind != SYM_PARAM))) {
    if (y || sym_find(s->file_fns, e->name)) {
      diag_error(s->d, e->span,
                 "'%s' is not visible inside fn '%s'; a fn sees only its parameters, "
                 "dims and the rnn's params",
                 e->name, env->fn->name);
      diag_note(s->d, env->fn->name_span, "fn '%s' defined here", env->fn->name);
    } else {
      const char *hint = suggest(s, e->name, env, false);
      if (hint)
        diag_error(s->d, e->span, "unknown name '%s' in fn '%s'; did you mean '%s'?", e->name,
                   env->fn->name, hint);
      else
        diag_error(s->d, e->span, "unknown name '%s' in fn '%s'", e->name, env->fn->name);
    }
    return -1;
  }
  if (!y) {
    if (sym_find(s->file_fns, e->name) || find_builtin(e->name)) {
      diag_error(s->d, e->span, "'%s' is a function; call it with arguments", e->name);
      return -1;
    }
    const char *hint = suggest(s, e->name, env, false);
    if (hint)
      diag_error(s->d, e->span, "unknown name '%s'; did you mean '%s'?", e->name, hint);
    else
      diag_error(s->d, e->span, "unknown name '%s'", e->name);
    return -1;
  }
  if (y->poisoned) return -1;
  switch (y->kind) {
  case SYM_DIM:
    return ir_leaf(s->g, OP_DIM, y->index, 0, e->span);
  case SYM_FN:
    diag_error(s->d, e->span, "'%s' is a function; call it with arguments", e->name);
    return -1;
  case SYM_OUTPUT:
    if (y->value < 0) {
      diag_error(s->d, e->span, "output '%s' is read before it is written", e->name);
      diag_note(s->d, y->span, "'%s' declared here", e->name);
      return -1;
    }
    return y->value;
  case SYM_INPUT:
  case SYM_PARAM:
  case SYM_STATE: {
    if (env && y->kind == SYM_PARAM) {
      /* Inside a fn a param is its declared value, whatever the step has
       * rebound the name to: a fn depends on its arguments only. */
      Slot *sl = &s->g->params.data[y->index];
      sl->used = true;
      return ir_leaf(s->g, OP_PARAM, y->index, sl->dimset, e->span);
    }
    Slot *sl = y->kind == SYM_INPUT   ? &s->g->inputs.data[y->index]
               : y->kind == SYM_PARAM ? &s->g->params.data[y->index]
                                      : &s->g->states.data[y->index];
    sl->used = true;
    if (y->value < 0) {
      OpKind op = y->kind == SYM_INPUT ? OP_INPUT : y->kind == SYM_PARAM ? OP_PARAM : OP_STATE;
      y->value = ir_leaf(s->g, op, y->index, sl->dimset, y->span);
    }
    return y->value;
  }
  case SYM_LOCAL:
    return y->value;
  }
  LRC_UNREACHABLE();
}

/* The dims named by args[first..] of a reduction call; 0 on error. With no
 * names: every dim of `x` (or, if `one` is set, x's only dim). */
static DimSet reduce_dims(Sema *s, const Expr *call, int first, int x, bool one,
                          const Env *env) {
  DimSet have = s->g->nodes.data[x].dims, over = 0;
  const Expr *xe = call->args.data[0];
  if (call->args.len <= first) {
    if (have == 0) {
      diag_error(s->d, xe->span, "%s() of a scalar: the operand has no dims to reduce over",
                 call->name);
      return 0;
    }
    if (one && ir_popcount(have) > 1) {
      diag_error(s->d, call->span,
                 "%s() of a value of shape %s is ambiguous; name the dim, e.g. %s(x, %s)",
                 call->name, dims_str(s, have), call->name,
                 s->g->dims.data[__builtin_ctz(have)].name);
      return 0;
    }
    return have;
  }
  for (int i = first; i < call->args.len; i++) {
    const Expr *a = call->args.data[i];
    const Sym *y = a->kind == EX_NAME ? sym_find(&s->names, a->name) : NULL;
    bool shadowed = false;
    if (env && a->kind == EX_NAME)
      for (int j = 0; j < env->fn->params.len; j++)
        if (strcmp(env->fn->params.data[j], a->name) == 0) shadowed = true;
    if (!y || y->kind != SYM_DIM || shadowed) {
      diag_error(s->d, a->span, "argument %d of %s() must be a dim name", i + 1, call->name);
      return 0;
    }
    DimSet bit = 1u << y->index;
    if (!(have & bit)) {
      diag_error(s->d, a->span, "%s() over dim '%s', but the operand has shape %s",
                 call->name, y->name, dims_str(s, have));
      return 0;
    }
    if (over & bit) {
      diag_error(s->d, a->span, "dim '%s' named twice in %s()", y->name, call->name);
      return 0;
    }
    over |= bit;
  }
  if (one && ir_popcount(over) != 1) {
    diag_error(s->d, call->span, "%s() normalises over exactly one dim", call->name);
    return 0;
  }
  return over;
}

static int call_fn(Sema *s, const Expr *e, const Stmt *fn, const Env *env) {
  if (e->args.len != fn->params.len) {
    diag_error(s->d, e->span, "fn '%s' takes %d argument%s, but %d %s given", fn->name,
               fn->params.len, fn->params.len == 1 ? "" : "s", e->args.len,
               e->args.len == 1 ? "was" : "were");
    diag_note(s->d, fn->name_span, "fn '%s' defined here", fn->name);
    return -1;
  }
  int depth = 0;
  for (const Env *u = env; u; u = u->up) depth++;
  if (depth >= MAX_CALL_DEPTH) {
    diag_error(s->d, e->name_span, "fn calls nested more than %d deep", MAX_CALL_DEPTH);
    return -1;
  }
  for (const Env *u = env; u; u = u->up) {
    if (u->fn == fn) {
      diag_error(s->d, e->name_span, "fn '%s' calls itself; recursion is not allowed",
                 fn->name);
      for (const Env *v = env; v; v = v->up)
        diag_note(s->d, v->call, "fn '%s' called here", v->fn->name);
      return -1;
    }
  }
  int *args = arena_alloc(s->arena, sizeof(int) * (size_t)(e->args.len + 1));
  for (int i = 0; i < e->args.len; i++) {
    args[i] = eval(s, e->args.data[i], env);
    if (args[i] < 0) return -1;
  }
  Env inner = {fn, args, e->span, (Env *)env};
  return eval(s, fn->expr, &inner);
}

static const Sym *find_fn(Sema *s, const char *name) {
  const Sym *y = sym_find(&s->names, name);
  if (y && y->kind == SYM_FN) return y;
  return sym_find(s->file_fns, name);
}

static int call_builtin(Sema *s, const Expr *e, const Builtin *b, const Env *env) {
  int nargs = e->args.len;
  bool reduce = b->kind == BI_SUM || b->kind == BI_MEAN || b->kind == BI_L2NORM ||
                b->kind == BI_SOFTMAX;
  int want = b->kind == BI_UNARY ? 1 : reduce ? -1 : 2;
  if ((want >= 0 && nargs != want) || (want < 0 && nargs < 1) ||
      ((b->kind == BI_L2NORM || b->kind == BI_SOFTMAX) && nargs > 2)) {
    diag_error(s->d, e->span, "wrong number of arguments to %s(): %d given; usage: %s",
               b->name, nargs, b->usage);
    return -1;
  }
  int x = eval(s, e->args.data[0], env);
  if (x < 0) return -1;
  Graph *g = s->g;
  switch (b->kind) {
  case BI_UNARY:
    return ir_unary(g, b->op, x, e->span);
  case BI_BINARY: {
    int y = eval(s, e->args.data[1], env);
    return y < 0 ? -1 : ir_binary(g, b->op, x, y, e->span);
  }
  case BI_OUTER: {
    int y = eval(s, e->args.data[1], env);
    if (y < 0) return -1;
    DimSet dx = g->nodes.data[x].dims, dy = g->nodes.data[y].dims;
    if (dx & dy) {
      diag_error(s->d, e->span,
                 "outer() needs operands with no dim in common, but they are %s and %s",
                 dims_str(s, dx), dims_str(s, dy));
      diag_note(s->d, e->span, "use '*' to multiply elementwise over the shared dims %s",
                dims_str(s, dx & dy));
      return -1;
    }
    return ir_binary(g, OP_MUL, x, y, e->span);
  }
  case BI_SUM:
  case BI_MEAN: {
    DimSet over = reduce_dims(s, e, 1, x, false, env);
    if (!over) return -1;
    int r = ir_reduce(g, OP_SUM, x, over, e->span);
    if (b->kind == BI_MEAN)
      for (int i = 0; i < g->dims.len; i++)
        if (over & (1u << i))
          r = ir_binary(g, OP_DIV, r, ir_leaf(g, OP_DIM, i, 0, e->span), e->span);
    return r;
  }
  case BI_L2NORM: {
    /* x / sqrt(sum(x^2) + 1e-6), written with rsqrt. */
    DimSet over = reduce_dims(s, e, 1, x, true, env);
    if (!over) return -1;
    int sq = ir_binary(g, OP_MUL, x, x, e->span);
    int ss = ir_reduce(g, OP_SUM, sq, over, e->span);
    int eps = ir_const(g, 1e-6, e->span);
    int r = ir_unary(g, OP_RSQRT, ir_binary(g, OP_ADD, ss, eps, e->span), e->span);
    return ir_binary(g, OP_MUL, x, r, e->span);
  }
  case BI_SOFTMAX: {
    DimSet over = reduce_dims(s, e, 1, x, true, env);
    if (!over) return -1;
    int m = ir_reduce(g, OP_RMAX, x, over, e->span);
    int ex = ir_unary(g, OP_EXP, ir_binary(g, OP_SUB, x, m, e->span), e->span);
    int z = ir_reduce(g, OP_SUM, ex, over, e->span);
    return ir_binary(g, OP_DIV, ex, z, e->span);
  }
  }
  LRC_UNREACHABLE();
}

static int eval_node(Sema *s, const Expr *e, const Env *env);

/* Evaluate with a bound on the recursion (expressions inside fns inside
 * fns): deep enough for any real program, far from the stack's end. */
static int eval(Sema *s, const Expr *e, const Env *env) {
  if (s->depth >= MAX_EVAL_DEPTH) {
    if (!s->depth_reported)
      diag_error(s->d, e->span, "expressions and fn calls nested more than %d deep",
                 MAX_EVAL_DEPTH);
    s->depth_reported = true;
    return -1;
  }
  s->depth++;
  int r = eval_node(s, e, env);
  s->depth--;
  return r;
}

static int eval_node(Sema *s, const Expr *e, const Env *env) {
  if (!spend(s, e->span)) return -1;
  Graph *g = s->g;
  switch (e->kind) {
  case EX_NUM:
    return ir_const(g, e->num, e->span);
  case EX_NAME:
    return read_name(s, e, env);
  case EX_NEG: {
    int a = eval(s, e->lhs, env);
    return a < 0 ? -1 : ir_unary(g, OP_NEG, a, e->span);
  }
  case EX_CALL: {
    const Sym *y = sym_find(&s->names, e->name);
    if (y && y->kind != SYM_FN) {
      diag_error(s->d, e->name_span, "'%s' is %s %s, not a function", e->name,
                 y->kind == SYM_INPUT || y->kind == SYM_OUTPUT ? "an" : "a",
                 sym_kind_name(y->kind));
      return -1;
    }
    const Sym *fn = find_fn(s, e->name);
    if (fn && fn->poisoned) {
      s->used_poisoned = true;
      return -1;
    }
    if (fn) return call_fn(s, e, fn->fn, env);
    const Builtin *b = find_builtin(e->name);
    if (b) return call_builtin(s, e, b, env);
    const char *hint = suggest(s, e->name, env, true);
    if (hint)
      diag_error(s->d, e->name_span, "unknown function '%s'; did you mean '%s'?", e->name,
                 hint);
    else
      diag_error(s->d, e->name_span, "unknown function '%s'", e->name);
    return -1;
  }
  default:
    break;
  }
  int a = eval(s, e->lhs, env);
  if (a < 0) return -1;
  int b = eval(s, e->rhs, env);
  if (b < 0) return -1;
  switch (e->kind) {
  case EX_ADD: return ir_binary(g, OP_ADD, a, b, e->span);
  case EX_SUB: return ir_binary(g, OP_SUB, a, b, e->span);
  case EX_MUL: return ir_binary(g, OP_MUL, a, b, e->span);
  case EX_DIV: return ir_binary(g, OP_DIV, a, b, e->span);
  case EX_POW: return ir_binary(g, OP_POW, a, b, e->span);
  case EX_MATMUL: {
    DimSet da = g->nodes.data[a].dims, db = g->nodes.data[b].dims;
    if (!(da & db)) {
      diag_error(s->d, e->span,
                 "'@' contracts the dims its operands share, but %s and %s share none",
                 dims_str(s, da), dims_str(s, db));
      diag_note(s->d, e->span, "for a product without contraction use outer(a, b) or '*'");
      return -1;
    }
    return ir_dot(g, a, b, e->span);
  }
  default:
    LRC_UNREACHABLE();
  }
}

/* ---------------------------------------------------------------------- */
/* Statements                                                              */

/* Report a redefinition of `name` if it exists; true if the name is free. */
static bool name_free(Sema *s, const char *name, Span sp) {
  if (is_keyword(name)) {
    diag_error(s->d, sp, "'%s' is a keyword", name);
    return false;
  }
  const Sym *y = sym_find(&s->names, name);
  if (y) {
    diag_error(s->d, sp, "redefinition of '%s'", name);
    diag_note(s->d, y->span, "'%s' was declared here as %s %s", name,
              y->kind == SYM_INPUT || y->kind == SYM_OUTPUT ? "an" : "a",
              sym_kind_name(y->kind));
    return false;
  }
  if (find_builtin(name) && !sym_find(s->file_fns, name)) {
    diag_error(s->d, sp, "'%s' is a built-in function and cannot be redefined", name);
    return false;
  }
  return true;
}

static Sym *new_sym(Sema *s, const char *name, SymKind k, int index, Span sp) {
  Sym *y = arena_alloc(s->arena, sizeof *y);
  y->name = name;
  y->kind = k;
  y->index = index;
  y->value = -1;
  y->span = sp;
  sym_insert(s->arena, &s->names, y);
  return y;
}

static long bound_size(Sema *s, const Decl *d) {
  for (int i = 0; i < s->nbinds; i++) {
    if (strcmp(s->binds[i].name, d->name) == 0) {
      s->binds[i].used = true;
      return s->binds[i].size;
    }
  }
  return d->size;
}

static void declare_dims(Sema *s, const Stmt *st) {
  for (int i = 0; i < st->decls.len; i++) {
    const Decl *d = &st->decls.data[i];
    if (!name_free(s, d->name, d->span)) continue;
    if (s->g->dims.len == LRC_MAX_DIMS) {
      diag_error(s->d, d->span, "an rnn has at most %d dims", LRC_MAX_DIMS);
      return;
    }
    int id = ir_add_dim(s->g, d->name, bound_size(s, d), d->span);
    new_sym(s, d->name, SYM_DIM, id, d->span);
  }
}

static void declare_slots(Sema *s, const Stmt *st) {
  static const SymKind symk[] = {[ST_INPUT] = SYM_INPUT, [ST_PARAM] = SYM_PARAM,
                                 [ST_STATE] = SYM_STATE, [ST_OUTPUT] = SYM_OUTPUT};
  static const SlotKind slotk[] = {[ST_INPUT] = SLOT_INPUT, [ST_PARAM] = SLOT_PARAM,
                                   [ST_STATE] = SLOT_STATE, [ST_OUTPUT] = SLOT_OUTPUT};
  for (int i = 0; i < st->decls.len; i++) {
    const Decl *d = &st->decls.data[i];
    Slot sl = {.kind = slotk[st->kind], .name = d->name, .span = d->span, .value = -1};
    bool ok = true;
    for (int j = 0; j < d->ndims; j++) {
      const Sym *y = sym_find(&s->names, d->dims[j]);
      if (!y || y->kind != SYM_DIM) {
        if (y)
          diag_error(s->d, d->dim_spans[j], "'%s' is %s %s, not a dim", d->dims[j],
                     y->kind == SYM_INPUT || y->kind == SYM_OUTPUT ? "an" : "a",
                     sym_kind_name(y->kind));
        else
          diag_error(s->d, d->dim_spans[j], "unknown dim '%s'", d->dims[j]);
        if (!y) diag_note(s->d, d->dim_spans[j], "declare it first: dim %s", d->dims[j]);
        ok = false;
        continue;
      }
      DimSet bit = 1u << y->index;
      if (sl.dimset & bit) {
        diag_error(s->d, d->dim_spans[j], "dim '%s' appears twice in '%s'", d->dims[j],
                   d->name);
        diag_note(s->d, d->dim_spans[j],
                  "a tensor's dims must be distinct; declare a second dim of the same size "
                  "(dim %s2) for a square tensor",
                  d->dims[j]);
        ok = false;
        continue;
      }
      sl.dimset |= bit;
      sl.dims[sl.ndims++] = y->index;
    }
    if (!name_free(s, d->name, d->span)) continue;
    if (!ok) {
      new_sym(s, d->name, symk[st->kind], -1, d->span)->poisoned = true;
      continue;
    }
    Graph *g = s->g;
    int index;
    switch (sl.kind) {
    case SLOT_INPUT: VEC_PUSH(g->arena, g->inputs, sl); index = g->inputs.len - 1; break;
    case SLOT_PARAM: VEC_PUSH(g->arena, g->params, sl); index = g->params.len - 1; break;
    case SLOT_STATE: VEC_PUSH(g->arena, g->states, sl); index = g->states.len - 1; break;
    default: VEC_PUSH(g->arena, g->outputs, sl); index = g->outputs.len - 1; break;
    }
    new_sym(s, d->name, symk[st->kind], index, d->span);
  }
}

/* Check a fn definition's own names; enter it in `tab`. */
static void declare_fn(Sema *s, SymTab *tab, const Stmt *st) {
  if (find_builtin(st->name)) {
    diag_error(s->d, st->name_span, "'%s' is a built-in function and cannot be redefined",
               st->name);
    return;
  }
  const Sym *prev = sym_find(tab, st->name);
  if (!prev && tab != s->file_fns) prev = sym_find(s->file_fns, st->name);
  if (prev) {
    diag_error(s->d, st->name_span, "redefinition of '%s'", st->name);
    diag_note(s->d, prev->span, "'%s' was declared here as %s %s", st->name,
              prev->kind == SYM_INPUT || prev->kind == SYM_OUTPUT ? "an" : "a",
              sym_kind_name(prev->kind));
    return;
  }
  /* A fn with a bad parameter list is still entered, poisoned: its calls
   * fail silently instead of reporting it unknown. */
  bool poisoned = false;
  SymTab seen = {0};   /* parameter names, hashed: a fn may have many */
  for (int i = 0; i < st->params.len && !poisoned; i++) {
    if (sym_find(&seen, st->params.data[i])) {
      diag_error(s->d, st->param_spans.data[i], "parameter '%s' appears twice in fn '%s'",
                 st->params.data[i], st->name);
      poisoned = true;
    }
    Sym *p = arena_alloc(s->arena, sizeof *p);
    p->name = st->params.data[i];
    sym_insert(s->arena, &seen, p);
  }
  Sym *y = arena_alloc(s->arena, sizeof *y);
  y->name = st->name;
  y->kind = SYM_FN;
  y->value = -1;
  y->span = st->name_span;
  y->fn = st;
  y->poisoned = poisoned;
  sym_insert(s->arena, tab, y);
}

static void assign(Sema *s, const Stmt *st) {
  Sym *y = sym_find(&s->names, st->name);
  if (y && (y->kind == SYM_DIM || y->kind == SYM_FN)) {
    diag_error(s->d, st->name_span, "cannot assign to %s '%s'", sym_kind_name(y->kind),
               st->name);
    diag_note(s->d, y->span, "'%s' declared here", st->name);
    return;
  }
  if (!y && (is_keyword(st->name) || find_builtin(st->name) || sym_find(s->file_fns, st->name))) {
    diag_error(s->d, st->name_span, "cannot assign to '%s': it names a function",
               st->name);
    return;
  }
  if (y && y->poisoned && y->kind != SYM_LOCAL) return;
  s->stmt_expr = st->expr;
  int v = eval(s, st->expr, NULL);
  s->stmt_expr = NULL;
  if (v < 0) {
    /* No "never written" or "unknown name" on top of this error. */
    if (!y) new_sym(s, st->name, SYM_LOCAL, -1, st->name_span)->poisoned = true;
    else if (y->kind == SYM_OUTPUT) s->g->outputs.data[y->index].value = -2;
    else if (y->kind == SYM_LOCAL) y->poisoned = true;
    return;
  }
  /* Remember the name for messages and plans (the first name wins). */
  Node *vn = &s->g->nodes.data[v];
  if (!vn->name && vn->op != OP_INPUT && vn->op != OP_PARAM && vn->op != OP_STATE)
    vn->name = st->name;
  if (!y) {
    y = new_sym(s, st->name, SYM_LOCAL, -1, st->name_span);
    y->value = v;
    return;
  }
  y->poisoned = false;
  if (y->kind == SYM_STATE || y->kind == SYM_OUTPUT) {
    Slot *sl = y->kind == SYM_STATE ? &s->g->states.data[y->index]
                                    : &s->g->outputs.data[y->index];
    DimSet have = s->g->nodes.data[v].dims;
    if (have != sl->dimset) {
      diag_error(s->d, st->expr->span,
                 "cannot assign a value of shape %s to %s '%s' declared %s",
                 dims_str(s, have), sym_kind_name(y->kind), st->name,
                 slot_dims_str(s, sl));
      diag_note(s->d, sl->span, "'%s' declared here as %s", st->name, slot_dims_str(s, sl));
      if (y->kind == SYM_OUTPUT) sl->value = -2;
      return;
    }
    /* Mark each version of a state: later passes see the chain of updates. */
    if (y->kind == SYM_STATE) v = ir_write(s->g, y->index, v, st->span);
    sl->value = v;
  }
  y->value = v;
}

static Graph *build_rnn(Sema *s, const Rnn *r) {
  s->g = ir_graph_new(s->arena, r->name, r->span);
  s->names = (SymTab){0};
  s->steps = 0;
  s->budget_reported = false;
  s->depth_reported = false;
  s->used_poisoned = false;
  int errors0 = s->d->nseen;   /* (a repeat of an earlier rnn's error is one here too) */
  /* fns first, so a body may call one defined further down. */
  for (int i = 0; i < r->stmts.len; i++)
    if (r->stmts.data[i]->kind == ST_FN) declare_fn(s, &s->names, r->stmts.data[i]);
  for (int i = 0; i < r->stmts.len && !s->d->too_many; i++) {
    const Stmt *st = r->stmts.data[i];
    switch (st->kind) {
    case ST_DIM: declare_dims(s, st); break;
    case ST_INPUT:
    case ST_PARAM:
    case ST_STATE:
    case ST_OUTPUT: declare_slots(s, st); break;
    case ST_FN: break;
    case ST_ASSIGN: assign(s, st); break;
    }
  }
  Graph *g = s->g;
  for (int i = 0; i < g->outputs.len; i++) {
    const Slot *o = &g->outputs.data[i];
    if (o->value == -1)
      diag_error(s->d, o->span, "output '%s' is never written", o->name);
  }
  if (g->outputs.len == 0 && s->d->nseen == errors0)
    diag_error(s->d, r->span, "rnn '%s' has no output", r->name);
  /* Past the error limit errors are dropped: the graph may be incomplete. */
  if (s->d->nseen != errors0 || s->d->too_many || s->used_poisoned) return NULL;
  for (int i = 0; i < g->states.len; i++) {
    const Slot *st = &g->states.data[i];
    if (st->value < 0)
      diag_warning(s->d, st->span, "state '%s' is never written; it keeps its initial value",
                   st->name);
  }
  for (int i = 0; i < g->inputs.len; i++)
    if (!g->inputs.data[i].used)
      diag_warning(s->d, g->inputs.data[i].span, "input '%s' is never used",
                   g->inputs.data[i].name);
  for (int i = 0; i < g->params.len; i++)
    if (!g->params.data[i].used)
      diag_warning(s->d, g->params.data[i].span, "param '%s' is never used",
                   g->params.data[i].name);
  const char *bad = ir_verify(g);
  if (bad) ir_internal_error(__FILE__, __LINE__, "step graph of '%s': %s", g->name, bad);
  return g;
}

int sema_run(Arena *a, Diags *d, const Program *p, DimBinding *binds, int nbinds,
             Graph ***graphs) {
  Sema s = {.arena = a, .d = d, .binds = binds, .nbinds = nbinds};
  SymTab fns = {0};
  s.file_fns = &fns;
  for (int i = 0; i < p->fns.len; i++) {
    s.names = (SymTab){0};
    declare_fn(&s, &fns, p->fns.data[i]);
  }
  *graphs = arena_alloc(a, sizeof(Graph *) * (size_t)(p->rnns.len + 1));
  int built = 0;
  for (int i = 0; i < p->rnns.len && !d->too_many; i++) {
    const Rnn *r = p->rnns.data[i];
    for (int j = 0; j < i; j++) {
      if (strcmp(p->rnns.data[j]->name, r->name) == 0) {
        diag_error(d, r->span, "redefinition of rnn '%s'", r->name);
        diag_note(d, p->rnns.data[j]->span, "first defined here");
        break;
      }
    }
    (*graphs)[i] = build_rnn(&s, r);
    if ((*graphs)[i]) built++;
  }
  if (p->rnns.len == 0 && d->nerrors == 0) {
    Span sp = {p->src, 0, 0, 1, 1};
    diag_error(d, sp, "no rnn block in this file");
    diag_note(d, sp, "a file holds one or more 'rnn NAME { ... }' blocks");
  }
  for (int i = 0; i < nbinds; i++)
    if (!binds[i].used && d->nerrors == 0)
      diag_error(d, (Span){0}, "--dim %s=%ld: no rnn in this file declares a dim '%s'",
                 binds[i].name, binds[i].size, binds[i].name);
  return built;
}
