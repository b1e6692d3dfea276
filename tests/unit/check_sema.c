/* check_sema.c — semantic analysis: shapes by named dims, sequential
 * semantics, fn inlining, every error with its message and location, and
 * warnings that do not fail a compile. */
#include "../test.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static Arena arena;
static void setup(void) { arena_init(&arena); }
static void teardown(void) { arena_fini(&arena); }

static Graph *ok(const char *src) {
  char *d = NULL;
  Graph *g = t_graph(&arena, src, &d);
  ck_assert_msg(g != NULL, "did not compile:\n%s\n%s", src, d);
  free(d);
  return g;
}

/* "t.lr:" + `line` is a whole line of `text`. */
static bool has_line(const char *text, const char *line) {
  size_t n = strlen(line);
  for (const char *p = text; *p;) {
    const char *e = strchr(p, '\n');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    if (len == n + 5 && strncmp(p, "t.lr:", 5) == 0 && strncmp(p + 5, line, n) == 0) return true;
    if (!e) break;
    p = e + 1;
  }
  return false;
}

static int count(const char *text, const char *what) {
  int n = 0;
  for (const char *p = text; (p = strstr(p, what)); p++) n++;
  return n;
}

/* Compile `src` and expect it to fail with the diagnostics given (whole
 * lines without the "t.lr:" prefix, NULL-terminated): each must appear,
 * and there must be exactly as many errors as the list names. */
static void fails(const char *src, ...) {
  bool okk;
  char *d = t_compile(src, strlen(src), &okk);
  ck_assert_msg(!okk, "compiled, want failure:\n%s", src);
  int nerr = 0;
  va_list ap;
  va_start(ap, src);
  for (const char *w; (w = va_arg(ap, const char *));) {
    ck_assert_msg(has_line(d, w), "want the line\n  t.lr:%s\nin:\n%s", w, d);
    if (strstr(w, ": error: ")) nerr++;
  }
  va_end(ap);
  ck_assert_msg(count(d, ": error: ") == nerr, "want %d errors, got:\n%s", nerr, d);
  free(d);
}

static const Node *N(const Graph *g, int id) {
  ck_assert_msg(id >= 0 && id < g->nodes.len, "bad node id %d", id);
  return &g->nodes.data[id];
}

static int out_id(const Graph *g, const char *name) {
  for (int i = 0; i < g->outputs.len; i++)
    if (strcmp(g->outputs.data[i].name, name) == 0) return g->outputs.data[i].value;
  ck_abort_msg("no output %s", name);
  return -1;
}

static const Node *out(const Graph *g, const char *name) { return N(g, out_id(g, name)); }

static const char *shape(const Graph *g, const char *name) {
  return ir_dims_str(g, out(g, name)->dims);
}

static DimSet dimbit(const Graph *g, const char *name) {
  int d = ir_find_dim(g, name);
  ck_assert_int_ge(d, 0);
  return 1u << d;
}

/* ---------------------------------------------------------------------- */

START_TEST(broadcast_by_name) {
  Graph *g = ok("rnn s {\n dim K, V\n input a[K], b[V], g[K], c\n state S[K, V]\n"
                " output o1[K, V], o2[K, V], o3[K], o4[K, V], o5[V, K]\n"
                " o1 = a * b\n o2 = g * S\n o3 = c * a\n o4 = b + a - S / 2\n o5 = b * a\n}\n");
  ck_assert_str_eq(shape(g, "o1"), "[K, V]");
  ck_assert_int_eq(out(g, "o1")->op, OP_MUL);
  ck_assert_str_eq(shape(g, "o2"), "[K, V]");
  ck_assert_str_eq(shape(g, "o3"), "[K]");
  ck_assert_str_eq(shape(g, "o4"), "[K, V]");
  /* Dims are names, not positions: [V, K] is [K, V]. */
  ck_assert_str_eq(shape(g, "o5"), "[K, V]");
  ck_assert_uint_eq(out(g, "o5")->dims, dimbit(g, "K") | dimbit(g, "V"));
}
END_TEST

START_TEST(contraction) {
  Graph *g = ok("rnn s {\n dim K, V, E\n input q[K], w[K], M[K, V], P[V, K], N[V, E]\n"
                " state S[K, V]\n output o1[V], o2[V], o3, o4[K, E], o5\n"
                " o1 = q @ S\n o2 = S @ q\n o3 = M @ P\n o4 = M @ N\n o5 = q @ w\n}\n");
  DimSet K = dimbit(g, "K"), V = dimbit(g, "V");
  ck_assert_str_eq(shape(g, "o1"), "[V]");
  ck_assert_int_eq(out(g, "o1")->op, OP_DOT);
  ck_assert_uint_eq(out(g, "o1")->rdims, K);
  ck_assert_str_eq(shape(g, "o2"), "[V]");
  /* Two shared dims: both are contracted, the result is a scalar. */
  ck_assert_str_eq(shape(g, "o3"), "[]");
  ck_assert_uint_eq(out(g, "o3")->rdims, K | V);
  ck_assert_str_eq(shape(g, "o4"), "[K, E]");
  ck_assert_uint_eq(out(g, "o4")->rdims, V);
  ck_assert_str_eq(shape(g, "o5"), "[]");
  ck_assert_uint_eq(out(g, "o5")->rdims, K);
}
END_TEST

START_TEST(outer_and_left_to_right) {
  Graph *g = ok("rnn s {\n dim K, V, E\n input a[K], b[V], c, M[K, E], N[V, E]\n"
                " output o1[K, V], o2[K], o3[K, V], o4[K, V]\n"
                " o1 = outer(a, b)\n o2 = outer(a, c)\n o3 = M @ N\n o4 = a * b @ N @ N * 1\n}\n");
  ck_assert_str_eq(shape(g, "o1"), "[K, V]");
  ck_assert_int_eq(out(g, "o1")->op, OP_MUL);
  ck_assert_str_eq(shape(g, "o2"), "[K]");
  ck_assert_str_eq(shape(g, "o3"), "[K, V]");
  ck_assert_uint_eq(out(g, "o3")->rdims, dimbit(g, "E"));
  /* '*' and '@' are one precedence level, left to right:
   * ((((a * b) @ N) @ N) * 1): [K, V] @ [V, E] = [K, E]; @ [V, E] = [K, V]. */
  const Node *o4 = out(g, "o4");
  ck_assert_int_eq(o4->op, OP_MUL);
  ck_assert_int_eq(N(g, o4->args[0])->op, OP_DOT);
  ck_assert_str_eq(ir_dims_str(g, N(g, N(g, o4->args[0])->args[0])->dims), "[K, E]");
}
END_TEST

START_TEST(reductions) {
  Graph *g = ok("rnn s {\n dim K, V\n input M[K, V], q[K]\n"
                " output o1[K], o2, o3, o4[V], o5, o6\n"
                " o1 = sum(M, V)\n o2 = sum(M, K, V)\n o3 = sum(M)\n o4 = mean(M, K)\n"
                " o5 = mean(M)\n o6 = sum(q)\n}\n");
  DimSet K = dimbit(g, "K"), V = dimbit(g, "V");
  const Node *n = out(g, "o1");
  ck_assert_int_eq(n->op, OP_SUM);
  ck_assert_uint_eq(n->rdims, V);
  ck_assert_str_eq(shape(g, "o1"), "[K]");
  ck_assert_uint_eq(out(g, "o2")->rdims, K | V);
  ck_assert_str_eq(shape(g, "o2"), "[]");
  /* With no dims named: over every dim. */
  ck_assert_int_eq(out(g, "o3")->op, OP_SUM);
  ck_assert_uint_eq(out(g, "o3")->rdims, K | V);
  /* mean = sum / size of each dim, the size as a dim node. */
  n = out(g, "o4");
  ck_assert_int_eq(n->op, OP_DIV);
  ck_assert_str_eq(shape(g, "o4"), "[V]");
  ck_assert_int_eq(N(g, n->args[1])->op, OP_DIM);
  ck_assert_int_eq(N(g, n->args[1])->index, ir_find_dim(g, "K"));
  ck_assert_int_eq(N(g, n->args[0])->op, OP_SUM);
  ck_assert_uint_eq(N(g, n->args[0])->rdims, K);
  /* mean over all dims: divided by K, then by V. */
  n = out(g, "o5");
  ck_assert_int_eq(n->op, OP_DIV);
  ck_assert_int_eq(N(g, n->args[1])->index, ir_find_dim(g, "V"));
  n = N(g, n->args[0]);
  ck_assert_int_eq(n->op, OP_DIV);
  ck_assert_int_eq(N(g, n->args[1])->index, ir_find_dim(g, "K"));
  ck_assert_uint_eq(N(g, n->args[0])->rdims, K | V);
  ck_assert_uint_eq(out(g, "o6")->rdims, K);
}
END_TEST

START_TEST(l2norm_expansion) {
  Graph *g = ok("rnn s {\n dim K, V\n input k[K], M[K, V]\n output o[K], p[K, V]\n"
                " o = l2norm(k)\n p = l2norm(M, K)\n}\n");
  /* x * rsqrt(sum(x * x) + 1e-6) */
  const Node *n = out(g, "o");
  int x = n->args[0];
  ck_assert_int_eq(n->op, OP_MUL);
  ck_assert_int_eq(N(g, x)->op, OP_INPUT);
  const Node *r = N(g, n->args[1]);
  ck_assert_int_eq(r->op, OP_RSQRT);
  const Node *add = N(g, r->args[0]);
  ck_assert_int_eq(add->op, OP_ADD);
  ck_assert_int_eq(N(g, add->args[1])->op, OP_CONST);
  ck_assert(fabs(N(g, add->args[1])->num - 1e-6) < 1e-12);
  const Node *sum = N(g, add->args[0]);
  ck_assert_int_eq(sum->op, OP_SUM);
  ck_assert_uint_eq(sum->rdims, dimbit(g, "K"));
  const Node *sq = N(g, sum->args[0]);
  ck_assert_int_eq(sq->op, OP_MUL);
  ck_assert_int_eq(sq->args[0], x);
  ck_assert_int_eq(sq->args[1], x);
  ck_assert_str_eq(shape(g, "o"), "[K]");
  /* Over a named dim of a 2-D value: the norm of each column. */
  n = out(g, "p");
  ck_assert_str_eq(shape(g, "p"), "[K, V]");
  sum = N(g, N(g, N(g, n->args[1])->args[0])->args[0]);
  ck_assert_int_eq(sum->op, OP_SUM);
  ck_assert_uint_eq(sum->rdims, dimbit(g, "K"));
  ck_assert_str_eq(ir_dims_str(g, sum->dims), "[V]");
}
END_TEST

START_TEST(softmax_expansion) {
  Graph *g = ok("rnn s {\n dim K, V\n input x[K], M[K, V]\n output o[K], p[K, V]\n"
                " o = softmax(x)\n p = softmax(M, V)\n}\n");
  /* e / sum(e) with e = exp(x - rmax(x)) */
  const Node *n = out(g, "o");
  ck_assert_int_eq(n->op, OP_DIV);
  const Node *e = N(g, n->args[0]), *z = N(g, n->args[1]);
  ck_assert_int_eq(e->op, OP_EXP);
  ck_assert_int_eq(z->op, OP_SUM);
  ck_assert_int_eq(z->args[0], n->args[0]);
  const Node *sub = N(g, e->args[0]);
  ck_assert_int_eq(sub->op, OP_SUB);
  ck_assert_int_eq(N(g, sub->args[0])->op, OP_INPUT);
  ck_assert_int_eq(N(g, sub->args[1])->op, OP_RMAX);
  ck_assert_uint_eq(N(g, sub->args[1])->rdims, dimbit(g, "K"));
  ck_assert_str_eq(shape(g, "o"), "[K]");
  n = out(g, "p");
  ck_assert_str_eq(shape(g, "p"), "[K, V]");
  ck_assert_uint_eq(N(g, n->args[1])->rdims, dimbit(g, "V"));
  ck_assert_str_eq(ir_dims_str(g, N(g, n->args[1])->dims), "[K]");
}
END_TEST

START_TEST(dims_as_numbers) {
  Graph *g = ok("rnn s {\n dim K = 4, V\n input q[K]\n output o[K], p\n"
                " o = q * K^-0.5\n p = V\n}\n");
  const Node *n = out(g, "o");
  ck_assert_int_eq(n->op, OP_MUL);
  const Node *pw = N(g, n->args[1]);
  ck_assert_int_eq(pw->op, OP_POW);
  ck_assert_int_eq(N(g, pw->args[0])->op, OP_DIM);
  ck_assert_int_eq(N(g, pw->args[0])->index, ir_find_dim(g, "K"));
  ck_assert_uint_eq(N(g, pw->args[0])->dims, 0);   /* a number, not a tensor */
  ck_assert_int_eq(N(g, pw->args[1])->op, OP_NEG);
  ck_assert_int_eq(out(g, "p")->op, OP_DIM);
  ck_assert_int_eq(g->dims.data[0].size, 4);
  ck_assert_int_eq(g->dims.data[1].size, 0);   /* unbound: fine until a kernel */
  /* A dim in a fn body is its size too. */
  g = ok("fn scale(x) = x * K^-0.5\nrnn s {\n dim K\n input q[K]\n output o[K]\n o = scale(q)\n}\n");
  ck_assert_int_eq(N(g, N(g, out(g, "o")->args[1])->args[0])->op, OP_DIM);
}
END_TEST

START_TEST(sequential_semantics) {
  /* The second update reads the first; outputs read the state as of their
   * statement. */
  Graph *g = ok("rnn q {\n dim D\n input x[D]\n state s[D]\n output y[D], z[D]\n"
                " y = s\n s = 2 * s\n s = s + x\n z = s\n}\n");
  int sv = g->states.data[0].value;
  ck_assert_int_eq(N(g, sv)->op, OP_WRITE);
  const Node *add = N(g, N(g, sv)->args[0]);
  ck_assert_int_eq(add->op, OP_ADD);
  const Node *w1 = N(g, add->args[0]);
  ck_assert_int_eq(w1->op, OP_WRITE);   /* the first update */
  const Node *mul = N(g, w1->args[0]);
  ck_assert_int_eq(mul->op, OP_MUL);
  ck_assert_int_eq(N(g, mul->args[1])->op, OP_STATE);
  ck_assert_int_eq(out(g, "y")->op, OP_STATE);
  ck_assert_int_eq(out_id(g, "z"), sv);
  /* Exactly one read of the state before the step and two writes. */
  int reads = 0, writes = 0;
  for (int i = 0; i < g->nodes.len; i++) reads += g->nodes.data[i].op == OP_STATE,
                                         writes += g->nodes.data[i].op == OP_WRITE;
  ck_assert_int_eq(reads, 1);
  ck_assert_int_eq(writes, 2);

  /* Rebinding an input: later uses see the new value. */
  g = ok("rnn r {\n dim K, V\n input k[K], v[V]\n state S[K, V]\n output o[V]\n"
         " k = l2norm(k)\n S = S + outer(k, v)\n o = k @ S\n}\n");
  const Node *o = out(g, "o");
  ck_assert_int_eq(N(g, o->args[0])->op, OP_MUL);   /* the normalised k */
  const Node *outer = N(g, N(g, N(g, g->states.data[0].value)->args[0])->args[1]);
  ck_assert_int_eq(outer->op, OP_MUL);
  ck_assert_int_eq(outer->args[0], o->args[0]);
  ck_assert_int_eq(N(g, o->args[1])->op, OP_WRITE);

  /* A local may be reassigned; each use sees the value at that point. */
  g = ok("rnn l {\n input x\n output a, b\n t = x\n a = t\n t = t * 3\n b = t\n}\n");
  ck_assert_int_eq(out(g, "a")->op, OP_INPUT);
  ck_assert_int_eq(out(g, "b")->op, OP_MUL);

  /* Inside a fn a param is its declared value, whatever the step rebound
   * the name to: a fn depends on its arguments only. */
  g = ok("rnn p {\n input x\n param w\n output o, p\n fn f(y) = y * w\n w = w + 1\n"
         " o = f(x)\n p = w\n}\n");
  ck_assert_int_eq(N(g, out(g, "o")->args[1])->op, OP_PARAM);
  ck_assert_int_eq(out(g, "p")->op, OP_ADD);
}
END_TEST

START_TEST(fn_inlining) {
  /* File-level and rnn-level fns, a fn calling one defined further down,
   * a file-level fn calling an rnn-level one: inlined, no call nodes. */
  Graph *g = ok("fn phi(x) = elu(x) + 1\nrnn f {\n dim K\n input q[K]\n output o[K], p[K]\n"
                " fn twice(y) = phi(phi(y))\n o = twice(q) + later(q)\n fn later(z) = z * K\n"
                " p = sq(q)\n fn sq(x) = x * x\n}\n");
  const Node *o = out(g, "o");
  ck_assert_int_eq(o->op, OP_ADD);
  const Node *tw = N(g, o->args[0]);   /* phi(phi(q)) = elu(elu(q) + 1) + 1 */
  ck_assert_int_eq(tw->op, OP_ADD);
  ck_assert_int_eq(N(g, tw->args[0])->op, OP_ELU);
  ck_assert_int_eq(N(g, N(g, N(g, tw->args[0])->args[0])->args[0])->op, OP_ELU);
  ck_assert_int_eq(N(g, o->args[1])->op, OP_MUL);
  /* The argument is evaluated once and bound: x * x reads one value. */
  const Node *p = out(g, "p");
  ck_assert_int_eq(p->op, OP_MUL);
  ck_assert_int_eq(p->args[0], p->args[1]);
  /* A fn's parameter shadows a name of the rnn. */
  g = ok("rnn s {\n dim K\n input q[K], k[K]\n output o[K]\n fn f(q) = q * 2\n o = f(k)\n}\n");
  ck_assert_int_eq(N(g, out(g, "o")->args[0])->index, 1);   /* input k */
  /* A fn with no parameters and a fn using a dim name. */
  ok("rnn z {\n dim K\n input q[K]\n output o[K]\n fn one() = 1\n fn n(x) = x / K\n"
     " o = n(q) + one()\n}\n");
  /* A file-level fn is shared by every rnn. */
  const char *two = "fn f(x) = x + 1\nrnn a {\n input q\n output o\n o = f(q)\n}\n"
                    "rnn b {\n dim D\n input q[D]\n output o[D]\n o = f(q)\n}\n";
  bool okk;
  char *d = t_compile(two, strlen(two), &okk);
  ck_assert_msg(okk, "%s", d);
  free(d);
}
END_TEST

START_TEST(fn_errors) {
  fails("fn f(x) = x\nrnn a {\n input q\n output o\n o = f(q, q)\n}\n",
        "5:6: error: fn 'f' takes 1 argument, but 2 were given",
        "1:4: note: fn 'f' defined here", NULL);
  fails("rnn a {\n input q\n output o\n fn f(x, y) = x\n o = f(q)\n}\n",
        "5:6: error: fn 'f' takes 2 arguments, but 1 was given",
        "4:5: note: fn 'f' defined here", NULL);
  fails("rnn a {\n input q\n output o\n fn f(x) = x\n o = f()\n}\n",
        "5:6: error: fn 'f' takes 1 argument, but 0 were given",
        "4:5: note: fn 'f' defined here", NULL);
  /* Direct recursion, at file level and in an rnn. */
  fails("fn f(x) = f(x) + 1\nrnn a {\n input q\n output o\n o = f(q)\n}\n",
        "1:11: error: fn 'f' calls itself; recursion is not allowed",
        "5:6: note: fn 'f' called here", NULL);
  fails("rnn a {\n input q\n output o\n fn f(x) = f(x)\n o = f(q)\n}\n",
        "4:12: error: fn 'f' calls itself; recursion is not allowed",
        "5:6: note: fn 'f' called here", NULL);
  /* Mutual recursion: the notes show the chain of calls. */
  fails("fn f(x) = g(x)\nfn g(x) = f(x)\nrnn a {\n input q\n output o\n o = f(q)\n}\n",
        "2:11: error: fn 'f' calls itself; recursion is not allowed",
        "1:11: note: fn 'g' called here", "6:6: note: fn 'f' called here", NULL);
  fails("rnn a {\n input q\n output o\n fn f(x) = g(x) * 2\n fn g(x) = h(x)\n fn h(x) = f(x)\n"
        " o = f(q)\n}\n",
        "6:12: error: fn 'f' calls itself; recursion is not allowed",
        "5:12: note: fn 'h' called here", "4:12: note: fn 'g' called here",
        "7:6: note: fn 'f' called here", NULL);
  /* A fn body sees its parameters, dims and params; nothing else. */
  fails("rnn a {\n input q, w\n output o\n fn f(x) = x * w\n o = f(q)\n}\n",
        "4:16: error: 'w' is not visible inside fn 'f'; a fn sees only its parameters, dims "
        "and the rnn's params",
        "4:5: note: fn 'f' defined here", NULL);
  fails("rnn a {\n input q\n state s\n output o\n fn f(x) = x * s\n s = q\n o = f(q)\n}\n",
        "5:16: error: 's' is not visible inside fn 'f'; a fn sees only its parameters, dims "
        "and the rnn's params",
        "5:5: note: fn 'f' defined here", NULL);
  fails("rnn a {\n input q\n output o\n t = 1\n fn f(x) = x * t\n o = f(q)\n}\n",
        "5:16: error: 't' is not visible inside fn 'f'; a fn sees only its parameters, dims "
        "and the rnn's params",
        "5:5: note: fn 'f' defined here", NULL);
  fails("fn f(x) = x * w\nrnn a {\n input q, w\n output o\n o = f(q)\n}\n",
        "1:15: error: 'w' is not visible inside fn 'f'; a fn sees only its parameters, dims "
        "and the rnn's params",
        "1:4: note: fn 'f' defined here", NULL);
  fails("fn f(t) = t * zz\nrnn a {\n input q\n output o\n o = f(q)\n}\n",
        "1:15: error: unknown name 'zz' in fn 'f'", NULL);
  /* A typo of a parameter is suggested; a name the fn cannot see is not. */
  fails("rnn a {\n input q, xs\n output o\n fn f(x) = xx\n o = f(q)\n}\n",
        "4:12: error: unknown name 'xx' in fn 'f'; did you mean 'x'?", NULL);
  /* A param and a dim are visible. */
  ok("rnn p {\n dim K\n input q[K]\n param w[K]\n output o[K]\n fn f(x) = x * w / K\n o = f(q)\n}\n");
  /* A fn whose definition is broken is reported once, not at every call. */
  fails("fn f(x, x) = x\nrnn a {\n input q\n output o\n o = f(q, q)\n}\n",
        "1:9: error: parameter 'x' appears twice in fn 'f'", NULL);
  fails("rnn a {\n input q\n output o\n fn f(x, x) = x\n o = f(q, q)\n}\n",
        "4:10: error: parameter 'x' appears twice in fn 'f'", NULL);
  /* A fn is not a value; a value is not a fn. */
  fails("fn f(x) = x\nrnn a {\n input q\n output o\n o = f\n}\n",
        "5:6: error: 'f' is a function; call it with arguments", NULL);
  fails("rnn a {\n input q\n output o\n fn f(x) = x\n o = f + q\n}\n",
        "5:6: error: 'f' is a function; call it with arguments", NULL);
  fails("rnn a {\n dim K\n input q[K]\n output o[K]\n o = exp\n}\n",
        "5:6: error: 'exp' is a function; call it with arguments", NULL);
  fails("rnn a {\n dim K\n input q[K], w[K]\n output o[K]\n o = w(q)\n}\n",
        "5:6: error: 'w' is an input, not a function", NULL);
  fails("rnn a {\n dim K\n input q[K]\n output o[K]\n o = K(q)\n}\n",
        "5:6: error: 'K' is a dim, not a function", NULL);
  /* Unknown functions: a fn or built-in is suggested, never a value. */
  fails("rnn a {\n input q\n output o\n o = sigmod(q)\n}\n",
        "4:6: error: unknown function 'sigmod'; did you mean 'sigmoid'?", NULL);
  fails("fn phi(x) = elu(x) + 1\nrnn a {\n input q\n output o\n o = ph(q)\n}\n",
        "5:6: error: unknown function 'ph'; did you mean 'phi'?", NULL);
  fails("rnn a {\n input q\n output o\n o = f(q)\n}\n", "4:6: error: unknown function 'f'",
        NULL);
}
END_TEST

START_TEST(fn_blowup_is_bounded) {
  /* h40(q) would be 2^40 additions: reported at the statement, quickly. */
  Buf b = {0};
  buf_puts(&b, "fn h1(x) = x + x\n");
  for (int i = 2; i <= 40; i++) buf_printf(&b, "fn h%d(x) = h%d(h%d(x))\n", i, i - 1, i - 1);
  buf_puts(&b, "rnn a {\n input q\n output o\n o = h40(q)\n}\n");
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  fails(b.s,
        "44:6: error: this rnn expands to more than 1000000 operations after inlining fns; "
        "simplify it or use fewer nested fn calls",
        NULL);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double s = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
  ck_assert_msg(s < 2.0, "took %.2f s", s);
  buf_free(&b);
  /* The same in an rnn, with the fns defined inside it. */
  buf_puts(&b, "rnn a {\n input q\n output o\n fn h1(x) = x + x\n");
  for (int i = 2; i <= 40; i++) buf_printf(&b, " fn h%d(x) = h%d(x) * h%d(x)\n", i, i - 1, i - 1);
  buf_puts(&b, " o = h40(q)\n}\n");
  clock_gettime(CLOCK_MONOTONIC, &t0);
  fails(b.s,
        "44:6: error: this rnn expands to more than 1000000 operations after inlining fns; "
        "simplify it or use fewer nested fn calls",
        NULL);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  s = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
  ck_assert_msg(s < 2.0, "took %.2f s", s);
  buf_free(&b);
  /* Far under the budget it compiles: h16 is 2^15 additions of one input. */
  buf_puts(&b, "fn h1(x) = x + x\n");
  for (int i = 2; i <= 16; i++) buf_printf(&b, "fn h%d(x) = h%d(h%d(x))\n", i, i - 1, i - 1);
  buf_puts(&b, "rnn a {\n input q\n output o\n o = h16(q)\n}\n");
  Graph *g = ok(b.s);
  ck_assert_int_eq(g->nodes.len, 32769);
  buf_free(&b);
}
END_TEST

START_TEST(deep_nesting_is_bounded) {
  /* A chain of 300 fns each calling the next. */
  Buf b = {0};
  for (int i = 0; i < 300; i++) buf_printf(&b, "fn f%d(x) = f%d(x)\n", i, i + 1);
  buf_puts(&b, "fn f300(x) = x\nrnn a {\n input q\n output o\n o = f0(q)\n}\n");
  fails(b.s, "256:14: error: fn calls nested more than 256 deep", NULL);
  buf_free(&b);
  /* Ten fns of 400 nested negations each: 4000 levels of evaluation. */
  for (int i = 0; i < 10; i++) {
    buf_printf(&b, "fn f%d(x) = ", i);
    for (int j = 0; j < 400; j++) buf_puts(&b, "-(");
    buf_printf(&b, "f%d(x)", i + 1);
    for (int j = 0; j < 400; j++) buf_puts(&b, ")");
    buf_puts(&b, "\n");
  }
  buf_puts(&b, "fn f10(x) = x\nrnn a {\n input q\n output o\n o = f0(q)\n}\n");
  bool okk;
  char *d = t_compile(b.s, b.len, &okk);
  ck_assert(!okk);
  ck_assert_msg(strstr(d, ": error: expressions and fn calls nested more than 4000 deep"), "%s", d);
  ck_assert_int_eq(count(d, ": error: "), 1);
  free(d);
  buf_free(&b);
}
END_TEST

START_TEST(declaration_errors) {
  fails("rnn a {\n input q[K]\n output o\n o = 1\n}\n", "2:10: error: unknown dim 'K'",
        "2:10: note: declare it first: dim K", NULL);
  /* Declarations are read in order too: the dim must come first. */
  fails("rnn a {\n input q[K]\n dim K\n output o\n o = 1\n}\n", "2:10: error: unknown dim 'K'",
        NULL);
  fails("rnn a {\n input q, s\n output o\n o = 1\n input r[s]\n}\n",
        "5:10: error: 's' is an input, not a dim", NULL);
  fails("rnn a {\n dim K\n input q[K, K]\n output o\n o = 1\n}\n",
        "3:13: error: dim 'K' appears twice in 'q'",
        "3:13: note: a tensor's dims must be distinct; declare a second dim of the same size "
        "(dim K2) for a square tensor",
        NULL);
  fails("rnn a {\n dim K\n state S[K, K]\n output o\n o = 1\n}\n",
        "3:13: error: dim 'K' appears twice in 'S'",
        "3:13: note: a tensor's dims must be distinct; declare a second dim of the same size "
        "(dim K2) for a square tensor",
        NULL);
  /* Redefinitions, each with a note at the first definition. */
  fails("rnn a {\n input q\n input q\n output o\n o = q\n}\n", "3:8: error: redefinition of 'q'",
        "2:8: note: 'q' was declared here as an input", NULL);
  fails("rnn a {\n dim K\n dim K\n input q\n output o\n o = q\n}\n",
        "3:6: error: redefinition of 'K'", "2:6: note: 'K' was declared here as a dim", NULL);
  fails("rnn a {\n dim K\n input q\n state K\n output o\n o = q\n}\n",
        "4:8: error: redefinition of 'K'", "2:6: note: 'K' was declared here as a dim", NULL);
  fails("rnn a {\n input q\n output o\n t = q\n param t\n o = q\n}\n",
        "5:8: error: redefinition of 't'", "4:2: note: 't' was declared here as a local", NULL);
  fails("rnn a {\n input q\n output o\n fn f(x) = x\n fn f(y) = y\n o = q\n}\n",
        "5:5: error: redefinition of 'f'", "4:5: note: 'f' was declared here as a fn", NULL);
  fails("fn f(x) = x\nfn f(y) = y\nrnn a {\n input q\n output o\n o = f(q)\n}\n",
        "2:4: error: redefinition of 'f'", "1:4: note: 'f' was declared here as a fn", NULL);
  fails("fn f(x) = x\nrnn a {\n input q\n output o\n fn f(y) = y\n o = q\n}\n",
        "5:5: error: redefinition of 'f'", "1:4: note: 'f' was declared here as a fn", NULL);
  fails("rnn a {\n input q\n output o\n o = q\n}\nrnn a {\n input q\n output o\n o = q\n}\n",
        "6:5: error: redefinition of rnn 'a'", "1:5: note: first defined here", NULL);
  /* Built-ins cannot be redefined, as fn, dim or tensor. */
  fails("fn exp(x) = x\nrnn a {\n input q\n output o\n o = q\n}\n",
        "1:4: error: 'exp' is a built-in function and cannot be redefined", NULL);
  fails("rnn a {\n input q\n output o\n fn sum(x) = x\n o = q\n}\n",
        "4:5: error: 'sum' is a built-in function and cannot be redefined", NULL);
  fails("rnn a {\n dim exp\n input q\n output o\n o = q\n}\n",
        "2:6: error: 'exp' is a built-in function and cannot be redefined", NULL);
  fails("rnn a {\n input softmax\n output o\n o = 1\n}\n",
        "2:8: error: 'softmax' is a built-in function and cannot be redefined", NULL);
  /* Too many dims. */
  Buf b = {0};
  buf_puts(&b, "rnn a {\n dim D0");
  for (int i = 1; i < 33; i++) buf_printf(&b, ", D%d", i);
  buf_puts(&b, "\n input q\n output o\n o = q\n}\n");
  fails(b.s, "2:156: error: an rnn has at most 32 dims", NULL);
  buf_free(&b);
  /* 32 dims are fine. */
  buf_puts(&b, "rnn a {\n dim D0");
  for (int i = 1; i < 32; i++) buf_printf(&b, ", D%d", i);
  buf_puts(&b, "\n input q[D31, D0]\n output o[D0, D31]\n o = q\n}\n");
  Graph *g = ok(b.s);
  ck_assert_str_eq(shape(g, "o"), "[D0, D31]");
  buf_free(&b);
}
END_TEST

START_TEST(statement_errors) {
  fails("rnn a {\n input query\n output o\n o = querry\n}\n",
        "4:6: error: unknown name 'querry'; did you mean 'query'?", NULL);
  fails("rnn a {\n dim K\n input q[K]\n output o[K]\n o = q * KK\n}\n",
        "5:10: error: unknown name 'KK'; did you mean 'K'?", NULL);
  /* No suggestion that changes every character. */
  fails("rnn a {\n input q\n output o\n o = r\n}\n", "4:6: error: unknown name 'r'", NULL);
  /* A name is unknown before its assignment: the step reads top to bottom. */
  fails("rnn a {\n input q\n output o\n o = t\n t = q\n}\n", "4:6: error: unknown name 't'",
        NULL);
  fails("rnn a {\n dim K, V\n input q[K], v[V]\n output o\n o = q @ v\n}\n",
        "5:6: error: '@' contracts the dims its operands share, but [K] and [V] share none",
        "5:6: note: for a product without contraction use outer(a, b) or '*'", NULL);
  fails("rnn a {\n dim K\n input q[K], c\n output o\n o = c @ q\n}\n",
        "5:6: error: '@' contracts the dims its operands share, but [] and [K] share none",
        "5:6: note: for a product without contraction use outer(a, b) or '*'", NULL);
  fails("rnn a {\n dim K\n input q[K]\n output o[K]\n o = outer(q, q)\n}\n",
        "5:6: error: outer() needs operands with no dim in common, but they are [K] and [K]",
        "5:6: note: use '*' to multiply elementwise over the shared dims [K]", NULL);
  /* Assigning a value of the wrong shape to a state or an output. */
  fails("rnn a {\n dim K, V\n input k[K], v[V]\n state S[K, V]\n output o[V]\n S = v\n o = v\n}\n",
        "6:6: error: cannot assign a value of shape [V] to state 'S' declared [K, V]",
        "4:8: note: 'S' declared here as [K, V]", NULL);
  fails("rnn a {\n dim K, V\n input k[K], v[V]\n state S[K, V]\n output o[V]\n"
        " S = S + outer(v, k) * k\n o = k\n}\n",
        "7:6: error: cannot assign a value of shape [K] to output 'o' declared [V]",
        "5:9: note: 'o' declared here as [V]", NULL);
  fails("rnn a {\n dim K\n input q[K]\n output o\n o = q\n}\n",
        "5:6: error: cannot assign a value of shape [K] to output 'o' declared []",
        "4:9: note: 'o' declared here as []", NULL);
  fails("rnn a {\n dim K\n input q\n state s[K]\n output o\n s = q\n o = q\n}\n",
        "6:6: error: cannot assign a value of shape [] to state 's' declared [K]",
        "4:8: note: 's' declared here as [K]", NULL);
  /* Outputs. */
  fails("rnn a {\n dim K\n input q[K]\n output o, p\n o = 1\n}\n",
        "4:12: error: output 'p' is never written", NULL);
  fails("rnn a {\n input q\n output o\n t = o\n o = q\n}\n",
        "4:6: error: output 'o' is read before it is written", "3:9: note: 'o' declared here",
        NULL);
  fails("rnn a {\n input q\n state s\n s = s + q\n}\n", "1:5: error: rnn 'a' has no output",
        NULL);
  /* Assigning to what is not a value. */
  fails("rnn a {\n dim K\n input q\n output o\n K = 2\n o = q\n}\n",
        "5:2: error: cannot assign to dim 'K'", "2:6: note: 'K' declared here", NULL);
  fails("rnn a {\n input q\n output o\n fn f(x) = x\n f = 2\n o = q\n}\n",
        "5:2: error: cannot assign to fn 'f'", "4:5: note: 'f' declared here", NULL);
  fails("rnn a {\n input q\n output o\n exp = 2\n o = q\n}\n",
        "4:2: error: cannot assign to 'exp': it names a function", NULL);
  fails("fn g(x) = x\nrnn a {\n input q\n output o\n g = 2\n o = q\n}\n",
        "5:2: error: cannot assign to 'g': it names a function", NULL);
  /* Reductions. */
  fails("rnn a {\n dim K, V\n input q[K]\n output o\n o = sum(q, V)\n}\n",
        "5:13: error: sum() over dim 'V', but the operand has shape [K]", NULL);
  fails("rnn a {\n dim K, V\n input q[K]\n output o\n o = mean(q, V)\n}\n",
        "5:14: error: mean() over dim 'V', but the operand has shape [K]", NULL);
  fails("rnn a {\n dim K\n input q[K]\n output o\n o = sum(q, 2)\n}\n",
        "5:13: error: argument 2 of sum() must be a dim name", NULL);
  fails("rnn a {\n dim K\n input q[K]\n output o\n o = sum(q, q)\n}\n",
        "5:13: error: argument 2 of sum() must be a dim name", NULL);
  fails("rnn a {\n dim K, V\n input q[K, V]\n output o\n o = sum(q, K, q)\n}\n",
        "5:16: error: argument 3 of sum() must be a dim name", NULL);
  fails("rnn a {\n dim K\n input q[K]\n output o\n o = sum(q, K, K)\n}\n",
        "5:16: error: dim 'K' named twice in sum()", NULL);
  fails("rnn a {\n input q\n output o\n o = sum(q)\n}\n",
        "4:10: error: sum() of a scalar: the operand has no dims to reduce over", NULL);
  fails("rnn a {\n dim K\n input q[K]\n output o[K]\n o = sum()\n}\n",
        "5:6: error: wrong number of arguments to sum(): 0 given; usage: sum(x) or sum(x, DIM, ...)",
        NULL);
  /* A fn parameter named like a dim is a value, not the dim. */
  fails("rnn a {\n dim K\n input q[K]\n output o\n fn f(K) = sum(K, K)\n o = f(q)\n}\n",
        "5:19: error: argument 2 of sum() must be a dim name", NULL);
  /* l2norm and softmax normalise over one dim. */
  fails("rnn a {\n dim K, V\n input q[K, V]\n output o[K, V]\n o = l2norm(q)\n}\n",
        "5:6: error: l2norm() of a value of shape [K, V] is ambiguous; name the dim, e.g. "
        "l2norm(x, K)",
        NULL);
  fails("rnn a {\n dim K, V\n input q[K, V]\n output o[K, V]\n o = softmax(q)\n}\n",
        "5:6: error: softmax() of a value of shape [K, V] is ambiguous; name the dim, e.g. "
        "softmax(x, K)",
        NULL);
  fails("rnn a {\n dim K, V\n input q[K, V]\n output o[K, V]\n o = l2norm(q, K, V)\n}\n",
        "5:6: error: wrong number of arguments to l2norm(): 3 given; usage: l2norm(x) or "
        "l2norm(x, DIM)",
        NULL);
  fails("rnn a {\n input q\n output o\n o = l2norm(q)\n}\n",
        "4:13: error: l2norm() of a scalar: the operand has no dims to reduce over", NULL);
  fails("rnn a {\n dim K\n input q[K]\n output o[K]\n o = exp(q, q)\n}\n",
        "5:6: error: wrong number of arguments to exp(): 2 given; usage: exp(x)", NULL);
  fails("rnn a {\n dim K\n input q[K]\n output o[K]\n o = max(q)\n}\n",
        "5:6: error: wrong number of arguments to max(): 1 given; usage: max(a, b)", NULL);
}
END_TEST

START_TEST(file_level_errors) {
  fails("# nothing here\n", "1:1: error: no rnn block in this file",
        "1:1: note: a file holds one or more 'rnn NAME { ... }' blocks", NULL);
  fails("fn f(x) = x\n", "1:1: error: no rnn block in this file", NULL);
  /* Errors in one block do not hide those in the next, nor cascade. */
  fails("rnn a {\n input q\n output o\n o = q @ q\n}\nrnn b {\n input q\n output o\n o = r\n}\n",
        "4:6: error: '@' contracts the dims its operands share, but [] and [] share none",
        "9:6: error: unknown name 'r'", NULL);
  /* A local whose value had an error is not reported again. */
  fails("rnn a {\n input q\n output o\n t = zz\n o = t * t\n}\n",
        "4:6: error: unknown name 'zz'", NULL);
  /* An output whose value had an error is not also "never written". */
  fails("rnn a {\n input q\n output o\n o = zz\n}\n", "4:6: error: unknown name 'zz'", NULL);
  /* A tensor with a bad declaration is not reported again where used. */
  fails("rnn a {\n input q[K]\n output o\n o = q\n}\n", "2:10: error: unknown dim 'K'", NULL);
}
END_TEST

START_TEST(warnings_do_not_fail) {
  bool okk;
  const char *src = "rnn w {\n input x, unused\n param p\n state s, frozen\n output y\n"
                    " s = s + x\n y = s + frozen\n}\n";
  char *d = t_compile(src, strlen(src), &okk);
  ck_assert_msg(okk, "%s", d);
  ck_assert_msg(has_line(d, "2:11: warning: input 'unused' is never used"), "%s", d);
  ck_assert_msg(has_line(d, "3:8: warning: param 'p' is never used"), "%s", d);
  ck_assert_msg(has_line(d, "4:11: warning: state 'frozen' is never written; it keeps its "
                            "initial value"), "%s", d);
  ck_assert_int_eq(count(d, "warning:"), 3);
  ck_assert_int_eq(count(d, "error:"), 0);
  free(d);
  /* The graph is built: the unwritten state is unchanged. */
  Graph *g = ok(src);
  ck_assert_int_eq(g->states.data[1].value, -1);
  ck_assert_int_ge(g->states.data[0].value, 0);
  /* Clean programs have no warnings at all. */
  src = "rnn c {\n input x\n state s\n output y\n s = s + x\n y = s\n}\n";
  d = t_compile(src, strlen(src), &okk);
  ck_assert(okk);
  ck_assert_str_eq(d, "");
  free(d);
  /* Warnings come with errors too, but only for blocks without errors. */
  src = "rnn a {\n input x, u\n output y\n y = x\n}\nrnn b {\n input x\n output y\n y = zz\n}\n";
  d = t_compile(src, strlen(src), &okk);
  ck_assert(!okk);
  ck_assert_msg(strstr(d, "t.lr:2:11: warning: input 'u' is never used"), "%s", d);
  ck_assert_int_eq(count(d, "warning:"), 1);
  free(d);
}
END_TEST

static lrc_module *compile_dims(const char *src, const lrc_dim *dims, int n, lrc_error **err) {
  lrc_options o;
  lrc_options_init(&o);
  o.filename = "t.lr";
  o.dims = dims;
  o.ndims = n;
  return lrc_compile(NULL, src, &o, err);
}

START_TEST(dim_bindings) {
  lrc_dim dims[] = {{"K", 32}};
  lrc_error *err = NULL;
  /* A binding overrides the default; other defaults stay. */
  lrc_module *m = compile_dims("rnn a {\n dim K = 8, V = 4\n input q[K]\n output o[K]\n o = q\n}\n",
                               dims, 1, &err);
  ck_assert_msg(m != NULL, "%s", lrc_error_message(err));
  char *ir = lrc_emit(m, NULL, LRC_EMIT_IR, &err);
  ck_assert_msg(strstr(ir, "  dim    K=32, V=4\n"), "%s", ir);
  lrc_free(ir);
  lrc_module_free(m);
  /* Every rnn that declares the dim gets the size. */
  m = compile_dims("rnn a {\n dim K\n input q[K]\n output o[K]\n o = q\n}\n"
                   "rnn b {\n dim V, K = 2\n input q[K]\n output o[K]\n o = q\n}\n",
                   dims, 1, &err);
  ck_assert_ptr_nonnull(m);
  ir = lrc_emit(m, NULL, LRC_EMIT_IR, &err);
  ck_assert_msg(strstr(ir, "rnn a {\n  dim    K=32\n"), "%s", ir);
  ck_assert_msg(strstr(ir, "rnn b {\n  dim    V, K=32\n"), "%s", ir);
  lrc_free(ir);
  lrc_module_free(m);
  /* Binding a dim that no rnn declares is an error: a typo would
   * otherwise go unnoticed. */
  dims[0].name = "Q";
  m = compile_dims("rnn a {\n dim K\n input q[K]\n output o[K]\n o = q\n}\n", dims, 1, &err);
  ck_assert_ptr_null(m);
  ck_assert_str_eq(lrc_error_message(err),
                   "lrc: error: --dim Q=32: no rnn in this file declares a dim 'Q'\n");
  lrc_error_free(err);
  /* ...but not on top of errors in the source. */
  m = compile_dims("rnn a {\n input q\n output o\n o = r\n}\n", dims, 1, &err);
  ck_assert_ptr_null(m);
  ck_assert_ptr_null(strstr(lrc_error_message(err), "--dim"));
  lrc_error_free(err);
  /* A binding for a name that is not a dim (an input) is not a dim. */
  dims[0].name = "q";
  m = compile_dims("rnn a {\n dim K\n input q[K]\n output o[K]\n o = q\n}\n", dims, 1, &err);
  ck_assert_ptr_null(m);
  ck_assert_ptr_nonnull(strstr(lrc_error_message(err), "no rnn in this file declares a dim 'q'"));
  lrc_error_free(err);
  /* Through sema_run directly: the binding's `used` flag. */
  Diags d;
  Source src;
  Program *p = t_parse(&arena, &d, &src, "rnn a {\n dim K\n input q[K]\n output o[K]\n o = q\n}\n");
  DimBinding b[] = {{"K", 7, false}};
  Graph **gs = NULL;
  ck_assert_int_eq(sema_run(&arena, &d, p, b, 1, &gs), 1);
  ck_assert(b[0].used);
  ck_assert_int_eq(gs[0]->dims.data[0].size, 7);
}
END_TEST

START_TEST(several_rnns) {
  Diags d;
  Source src;
  const char *text = "rnn a {\n dim K\n input x[K]\n output y[K]\n y = x\n}\n"
                     "rnn b {\n dim D, K\n input x[D], z[K]\n state s[D]\n output y[D]\n"
                     " s = s + x\n y = 2 * s\n}\n"
                     "rnn c {\n input x\n output y\n y = nope\n}\n";
  Program *p = t_parse(&arena, &d, &src, text);
  ck_assert_int_eq(d.nerrors, 0);
  Graph **gs = NULL;
  /* Two graphs built; the block with an error has none. */
  ck_assert_int_eq(sema_run(&arena, &d, p, NULL, 0, &gs), 2);
  ck_assert_int_eq(d.nerrors, 1);
  ck_assert_ptr_nonnull(gs[0]);
  ck_assert_ptr_nonnull(gs[1]);
  ck_assert_ptr_null(gs[2]);
  ck_assert_str_eq(gs[0]->name, "a");
  ck_assert_str_eq(gs[1]->name, "b");
  /* Each graph has its own dims, slots and nodes: K is dim 0 of a and dim
   * 1 of b; names in one block do not leak into the next. */
  ck_assert_int_eq(gs[0]->dims.len, 1);
  ck_assert_int_eq(gs[1]->dims.len, 2);
  ck_assert_int_eq(ir_find_dim(gs[0], "K"), 0);
  ck_assert_int_eq(ir_find_dim(gs[1], "K"), 1);
  ck_assert_int_eq(gs[0]->states.len, 0);
  ck_assert_int_eq(gs[1]->states.len, 1);
  ck_assert_int_eq(gs[1]->inputs.len, 2);
  ck_assert_ptr_null(ir_verify(gs[0]));
  ck_assert_ptr_null(ir_verify(gs[1]));
  ck_assert_int_eq(gs[0]->nodes.len, 1);
  /* A name of block a is unknown in block b. */
  fails("rnn a {\n input x, w\n output y\n y = x * w\n}\nrnn b {\n input x\n output y\n y = x * w\n}\n",
        "9:10: error: unknown name 'w'", NULL);
}
END_TEST

Suite *sema_suite(void) {
  Suite *s = suite_create("sema");
  TCase *tc = tcase_create("core");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 30);
  tcase_add_test(tc, broadcast_by_name);
  tcase_add_test(tc, contraction);
  tcase_add_test(tc, outer_and_left_to_right);
  tcase_add_test(tc, reductions);
  tcase_add_test(tc, l2norm_expansion);
  tcase_add_test(tc, softmax_expansion);
  tcase_add_test(tc, dims_as_numbers);
  tcase_add_test(tc, sequential_semantics);
  tcase_add_test(tc, fn_inlining);
  tcase_add_test(tc, fn_errors);
  tcase_add_test(tc, fn_blowup_is_bounded);
  tcase_add_test(tc, deep_nesting_is_bounded);
  tcase_add_test(tc, declaration_errors);
  tcase_add_test(tc, statement_errors);
  tcase_add_test(tc, file_level_errors);
  tcase_add_test(tc, warnings_do_not_fail);
  tcase_add_test(tc, dim_bindings);
  tcase_add_test(tc, several_rnns);
  suite_add_tcase(s, tc);
  return s;
}
