/* check_corpus.c — whole files through the lrc command.
 *
 *  - bad_file: every tests/bad/NAME.lr fails `lrc check` with exit status 1
 *    and exactly the errors stated in its comments, one per error:
 *        # expect: LINE:COL: error: MESSAGE
 *    (`warning:` and `note:` lines may be stated too; they must appear, but
 *    only errors are counted). A file that states nothing is a failure.
 *  - every examples/NAME.lr passes `lrc check`, and `lrc emit --emit=ir`
 *    prints exactly tests/golden/NAME.ir (tools/update-golden.sh rewrites
 *    them; review the diff); no golden file lacks its example;
 *  - the rnn examples of ../shared/DESIGN.md and of README.md pass
 *    `lrc check` as written;
 *  - hostile inputs, generated into a temporary directory (deep nesting,
 *    huge names and numbers, NUL bytes, invalid UTF-8, random bytes, inputs
 *    that blow up fn inlining): each ends in under 5 s with exit status 1, at
 *    least one located error and no internal error (nor sanitizer report).
 */
#include "../test.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---------------------------------------------------------------------- */
/* Helpers                                                                 */

typedef struct Files {
  char **v;
  int n;
} Files;

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The names in `dir` that end in `ext`, sorted. */
static Files list(const char *dir, const char *ext) {
  Files f = {0};
  DIR *d = opendir(dir);
  if (!d) return f;
  struct dirent *e;
  while ((e = readdir(d))) {
    size_t n = strlen(e->d_name), m = strlen(ext);
    if (n <= m || strcmp(e->d_name + n - m, ext) != 0) continue;
    f.v = realloc(f.v, sizeof(char *) * (size_t)(f.n + 1));
    f.v[f.n++] = strdup(e->d_name);
  }
  closedir(d);
  qsort(f.v, (size_t)f.n, sizeof(char *), cmp);
  return f;
}

static bool in_list(const Files *f, const char *name) {
  for (int i = 0; i < f->n; i++)
    if (strcmp(f->v[i], name) == 0) return true;
  return false;
}

static Files bad, examples, goldens;

/* A fresh directory under $TMPDIR (or /tmp) for generated files, so that
 * parallel runs of the suite do not share them. */
static char *make_tmpdir(void) {
  const char *base = getenv("TMPDIR");
  char path[512];
  snprintf(path, sizeof path, "%s/lrc-corpus-XXXXXX", base && *base ? base : "/tmp");
  char *d = mkdtemp(path);
  ck_assert_msg(d != NULL, "cannot create a temporary directory under %s",
                base && *base ? base : "/tmp");
  return strdup(d);
}

static void write_file(const char *path, const char *data, size_t n) {
  FILE *f = fopen(path, "wb");
  ck_assert_msg(f != NULL, "cannot write %s", path);
  ck_assert_msg(fwrite(data, 1, n, f) == n && fclose(f) == 0, "cannot write %s", path);
}

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* The next line of `*p` (without its '\n' or "\r\n") into line/len;
 * false at the end. */
static bool next_line(const char **p, const char **line, size_t *len) {
  if (!**p) return false;
  const char *s = *p, *e = strchr(s, '\n');
  size_t n = e ? (size_t)(e - s) : strlen(s);
  *p = s + n + (e ? 1 : 0);
  if (n > 0 && s[n - 1] == '\r') n--;
  *line = s;
  *len = n;
  return true;
}

/* If `line` is a diagnostic of `path` (`path:LINE:COL: KIND: ...`), the
 * kind ("error", "warning", "note"); else NULL. */
static const char *diag_kind(const char *line, size_t len, const char *path) {
  size_t pl = strlen(path);
  if (len <= pl || strncmp(line, path, pl) != 0 || line[pl] != ':') return NULL;
  int ln, col, used = 0;
  char tmp[64];
  size_t n = len - pl - 1 < sizeof tmp - 1 ? len - pl - 1 : sizeof tmp - 1;
  memcpy(tmp, line + pl + 1, n);
  tmp[n] = 0;
  if (sscanf(tmp, "%d:%d: %n", &ln, &col, &used) != 2 || used == 0) return NULL;
  static const char *kinds[] = {"error", "warning", "note"};
  for (int i = 0; i < 3; i++) {
    size_t k = strlen(kinds[i]);
    if (strncmp(tmp + used, kinds[i], k) == 0 && tmp[used + k] == ':') return kinds[i];
  }
  return NULL;
}

/* The diagnostic lines (`path:...: KIND: ...` and `lrc: ...`) of `out`,
 * without the source excerpts: what a failure message shows. */
static char *diag_lines(const char *out, const char *path) {
  Buf b = {0};
  const char *p = out, *l;
  size_t n;
  while (next_line(&p, &l, &n))
    if (diag_kind(l, n, path) || strncmp(l, "lrc:", 4) == 0) buf_printf(&b, "  %.*s\n", (int)n, l);
  char *r = buf_take(&b);
  return r ? r : strdup("");
}

/* Something that must never be in lrc's output: an internal error, or a
 * sanitizer's report (under `make SAN=1 check`, where ASan exits with
 * status 1 like a user error). NULL if none. */
static const char *bug_report(const char *out) {
  static const char *marks[] = {"internal error", "AddressSanitizer", "LeakSanitizer",
                                "runtime error:"};
  for (size_t i = 0; i < sizeof marks / sizeof marks[0]; i++)
    if (strstr(out, marks[i])) return marks[i];
  return NULL;
}

/* ---------------------------------------------------------------------- */
/* tests/bad                                                               */

typedef struct Expect {
  char *text;      /* "path:LINE:COL: KIND: MESSAGE" */
  bool error;
  bool seen;
} Expect;

/* The `# expect:` lines of `src` (a file read from `path`). Fails the test
 * on one that is not `# expect: LINE:COL: KIND: MESSAGE`. */
static int read_expects(const char *path, const char *src, Expect **out) {
  Expect *v = NULL;
  int n = 0, lineno = 0;
  const char *p = src, *l;
  size_t len;
  while (next_line(&p, &l, &len)) {
    lineno++;
    char *line = strndup(l, len);
    char *e = strstr(line, "# expect: ");
    if (!e) {
      ck_assert_msg(!strstr(line, "# expect") && !strstr(line, "#expect"),
                    "%s:%d: write expectations as '# expect: LINE:COL: error: MESSAGE'",
                    path, lineno);
      free(line);
      continue;
    }
    e += strlen("# expect: ");
    int ln, col, used = 0;
    ck_assert_msg(sscanf(e, "%d:%d: %n", &ln, &col, &used) == 2 && used > 0 && ln > 0 && col > 0,
                  "%s:%d: malformed expectation '%s'; want 'LINE:COL: error: MESSAGE'", path,
                  lineno, e);
    const char *k = e + used;
    bool err = strncmp(k, "error: ", 7) == 0;
    ck_assert_msg(err || strncmp(k, "warning: ", 9) == 0 || strncmp(k, "note: ", 6) == 0,
                  "%s:%d: expectation '%s' names no kind (error:, warning: or note:)", path,
                  lineno, e);
    v = realloc(v, sizeof *v * (size_t)(n + 1));
    Buf b = {0};
    buf_printf(&b, "%s:%s", path, e);
    v[n++] = (Expect){buf_take(&b), err, false};
    free(line);
  }
  *out = v;
  return n;
}

START_TEST(bad_file) {
  char path[512];
  snprintf(path, sizeof path, "tests/bad/%s", bad.v[_i]);
  char *src = t_read(path, NULL);
  ck_assert_msg(src != NULL, "cannot read %s", path);
  Expect *want = NULL;
  int nwant = read_expects(path, src, &want), nerr = 0;
  ck_assert_msg(nwant > 0, "%s states no '# expect: LINE:COL: error: MESSAGE' line", path);
  for (int i = 0; i < nwant; i++) nerr += want[i].error;
  ck_assert_msg(nerr > 0, "%s states no error, only warnings or notes", path);

  char *out = NULL;
  int rc = t_lrc(&out, "check %s", path);
  char *diags = diag_lines(out, path);
  ck_assert_msg(!bug_report(out), "%s: %s (exit %d)\n%s", path, bug_report(out), rc, out);
  ck_assert_msg(rc == 1, "%s: exit status %d, want 1%s\n%s", path, rc,
                rc > 128 ? " (killed by a signal)" : "", diags);

  /* Every expectation is a whole diagnostic line; every error line is an
   * expectation. */
  Buf unexpected = {0};
  int got_err = 0;
  const char *p = out, *l;
  size_t n;
  while (next_line(&p, &l, &n)) {
    const char *kind = diag_kind(l, n, path);
    if (!kind) continue;
    bool matched = false;
    for (int i = 0; i < nwant; i++) {
      if (!want[i].seen && strlen(want[i].text) == n && strncmp(want[i].text, l, n) == 0) {
        want[i].seen = matched = true;
        break;
      }
    }
    if (strcmp(kind, "error") == 0) {
      got_err++;
      if (!matched) buf_printf(&unexpected, "  %.*s\n", (int)n, l);
    }
  }
  for (int i = 0; i < nwant; i++)
    ck_assert_msg(want[i].seen, "%s: missing diagnostic\n  %s\ngot:\n%s", path, want[i].text,
                  diags);
  ck_assert_msg(got_err == nerr, "%s: %d errors, want %d; not stated:\n%s", path, got_err,
                nerr, unexpected.s ? unexpected.s : "  (none)\n");
  buf_free(&unexpected);
  for (int i = 0; i < nwant; i++) free(want[i].text);
  free(want);
  free(diags);
  free(out);
  free(src);
}
END_TEST

START_TEST(bad_corpus_size) {
  ck_assert_msg(bad.n >= 35, "tests/bad holds %d .lr files; want at least 35", bad.n);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* examples/ and tests/golden                                              */

START_TEST(example_checks) {
  char path[512];
  snprintf(path, sizeof path, "examples/%s", examples.v[_i]);
  char *out = NULL;
  int rc = t_lrc(&out, "check %s", path);
  ck_assert_msg(rc == 0, "%s does not pass lrc check (exit %d):\n%s", path, rc, out);
  ck_assert_msg(!bug_report(out), "%s: %s\n%s", path, bug_report(out), out);
  free(out);
}
END_TEST

START_TEST(example_golden) {
  const char *name = examples.v[_i];
  char path[512], golden[512];
  snprintf(path, sizeof path, "examples/%s", name);
  snprintf(golden, sizeof golden, "tests/golden/%.*s.ir", (int)strlen(name) - 3, name);
  char *want = t_read(golden, NULL);
  ck_assert_msg(want != NULL, "%s has no golden file %s: run tools/update-golden.sh", path,
                golden);
  char *out = NULL;
  int rc = t_lrc(&out, "emit %s --emit=ir", path);
  ck_assert_msg(rc == 0, "lrc emit %s --emit=ir: exit %d\n%s", path, rc, out);
  if (strcmp(out, want) != 0) {
    /* Name the first line that differs. */
    const char *a = out, *b = want, *la, *lb, *eo = "<end of output>", *ef = "<end of file>";
    size_t na, nb;
    int line = 0;
    for (;;) {
      line++;
      bool ha = next_line(&a, &la, &na), hb = next_line(&b, &lb, &nb);
      if (!ha || !hb || na != nb || memcmp(la, lb, na) != 0) {
        ck_abort_msg("lrc emit %s --emit=ir differs from %s at line %d:\n"
                     "  got:  %.*s\n  want: %.*s\n"
                     "(if the change is intended, run tools/update-golden.sh and review the diff)",
                     path, golden, line, ha ? (int)na : (int)strlen(eo), ha ? la : eo,
                     hb ? (int)nb : (int)strlen(ef), hb ? lb : ef);
      }
    }
  }
  free(want);
  free(out);
}
END_TEST

/* A golden file whose example is gone tests nothing. */
START_TEST(golden_has_example) {
  for (int i = 0; i < goldens.n; i++) {
    char lr[512];
    snprintf(lr, sizeof lr, "%.*s.lr", (int)strlen(goldens.v[i]) - 3, goldens.v[i]);
    ck_assert_msg(in_list(&examples, lr),
                  "tests/golden/%s has no examples/%s; remove it (tools/update-golden.sh does)",
                  goldens.v[i], lr);
  }
}
END_TEST

START_TEST(examples_count) {
  ck_assert_msg(examples.n >= 14, "examples/ holds %d variants; want at least 14", examples.n);
}
END_TEST

/* Does the line start an rnn block, "rnn NAME {"? */
static bool rnn_header(const char *l, size_t n) {
  size_t i = 4;
  if (n < 4 || strncmp(l, "rnn ", 4) != 0) return false;
  while (i < n && l[i] == ' ') i++;
  size_t name = i;
  while (i < n && (l[i] == '_' || (l[i] >= 'a' && l[i] <= 'z') || (l[i] >= 'A' && l[i] <= 'Z') ||
                   (i > name && l[i] >= '0' && l[i] <= '9')))
    i++;
  if (i == name) return false;
  while (i < n && l[i] == ' ') i++;
  return i < n && l[i] == '{';
}

/* Check every rnn block of the fenced code blocks of the Markdown file
 * `md` (from a line "rnn NAME {" to the next line starting with "}");
 * returns how many there were, or -1 if `md` cannot be read. */
static int check_markdown_examples(const char *md) {
  char *text = t_read(md, NULL);
  if (!text) return -1;
  char *dir = make_tmpdir();
  int found = 0;
  bool fence = false;
  Buf block = {0};
  bool in_block = false;
  int block_line = 0, lineno = 0;
  const char *p = text, *l;
  size_t n;
  while (next_line(&p, &l, &n)) {
    lineno++;
    if (n >= 3 && strncmp(l, "```", 3) == 0) {
      ck_assert_msg(!in_block, "%s:%d: code block ends inside an rnn block", md, lineno);
      fence = !fence;
      continue;
    }
    if (!fence) continue;
    if (!in_block && rnn_header(l, n)) {
      in_block = true;
      block_line = lineno;
    }
    if (!in_block) continue;
    buf_printf(&block, "%.*s\n", (int)n, l);
    if (n >= 1 && l[0] == '}') {
      char path[600];
      snprintf(path, sizeof path, "%s/example-%d.lr", dir, found);
      write_file(path, block.s, block.len);
      char *out = NULL;
      int rc = t_lrc(&out, "check %s", path);
      remove(path);
      ck_assert_msg(rc == 0, "the rnn example at %s:%d does not pass lrc check (exit %d):\n%s%s",
                    md, block_line, rc, block.s, out);
      free(out);
      buf_free(&block);
      in_block = false;
      found++;
    }
  }
  ck_assert_msg(!in_block, "%s:%d: rnn example without its closing '}'", md, block_line);
  rmdir(dir);
  free(dir);
  free(text);
  return found;
}

START_TEST(design_examples) {
  int found = check_markdown_examples("../shared/DESIGN.md");
  if (found < 0) {
    fprintf(stderr, "corpus: design_examples skipped: ../shared/DESIGN.md is not here\n");
    return;
  }
  ck_assert_msg(found >= 4, "../shared/DESIGN.md: %d rnn examples found, want 4", found);
}
END_TEST

START_TEST(readme_examples) {
  int found = check_markdown_examples("README.md");
  ck_assert_msg(found >= 1, "README.md: no rnn example found (%d)", found);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Hostile inputs                                                          */

static unsigned long long rs;
static unsigned next_rand(void) {
  rs = rs * 6364136223846793005ull + 1442695040888963407ull;
  return (unsigned)(rs >> 33);
}

static void repeat(Buf *b, const char *unit, int times) {
  size_t n = strlen(unit);
  for (int i = 0; i < times; i++) buf_putn(b, unit, n);
}

/* The start of a block whose statement `o = ` the generators complete. */
static const char head[] = "rnn a {\n dim K\n input q[K]\n output o[K]\n o = ";

static void g_parens(Buf *b, int s) {
  buf_puts(b, head);
  repeat(b, "(", 100000);
  buf_puts(b, "q");
  repeat(b, ")", 100000);
  buf_puts(b, "\n}\n");
}
static void g_sum(Buf *b, int s) {
  buf_puts(b, head);
  repeat(b, "q + ", 100000);
  buf_puts(b, "q\n}\n");
}
static void g_minus(Buf *b, int s) {
  buf_puts(b, head);
  repeat(b, "-", 100000);
  buf_puts(b, "q\n}\n");
}
static void g_calls(Buf *b, int s) {
  buf_puts(b, head);
  repeat(b, "exp(", 100000);
  buf_puts(b, "q");
  repeat(b, ")", 100000);
  buf_puts(b, "\n}\n");
}
static void g_pow(Buf *b, int s) {
  buf_puts(b, head);
  repeat(b, "q ^ ", 100000);
  buf_puts(b, "q\n}\n");
}
static void g_open_parens(Buf *b, int s) {
  buf_puts(b, head);
  repeat(b, "(", 100000);
  buf_puts(b, "q\n}\n");
}
static void g_open_brackets(Buf *b, int s) {
  buf_puts(b, "rnn a {\n dim K\n input q");
  repeat(b, "[", 100000);
  buf_puts(b, "\n output o[K]\n o = q\n}\n");
}
static void g_long_name(Buf *b, int s) {
  buf_puts(b, "rnn a {\n dim K\n input ");
  repeat(b, "x", 200000);
  buf_puts(b, "[K]\n output o[K]\n o = 1\n}\n");
}
static void g_long_number(Buf *b, int s) {
  buf_puts(b, head);
  repeat(b, "9", 200000);
  buf_puts(b, "\n}\n");
}
static void g_long_utf8_name(Buf *b, int s) {
  buf_puts(b, head);
  repeat(b, "\xc3\xa9", 100000);
  buf_puts(b, "\n}\n");
}
static void g_nul_code(Buf *b, int s) {
  buf_puts(b, head);
  buf_putn(b, "q\0 + q\n}\n", 9);
}
static void g_nul_comment(Buf *b, int s) {
  static const char text[] = "rnn a {  # \0\n dim K\n input q[K]\n output o[K]\n o = q  # \0\0\n}\n";
  buf_putn(b, text, sizeof text - 1);
}
static void g_nuls(Buf *b, int s) {
  for (int i = 0; i < 65536; i++) buf_putn(b, "", 1);
}
static void g_bad_utf8(Buf *b, int s) {
  buf_puts(b, head);
  buf_puts(b, "q \xc3\x28 \xff\xfe \xed\xa0\x80 \xf4\x90\x80\x80\n}\n");
}
static void g_bad_utf8_comment(Buf *b, int s) {
  buf_puts(b, "# \xc3\x28 \xff\n");
}
static void g_truncated_utf8(Buf *b, int s) {
  buf_puts(b, head);
  buf_puts(b, "q\n}\n\xe2\x88");
}
static void g_empty(Buf *b, int s) {}
static void g_comments(Buf *b, int s) { buf_puts(b, "# nothing here\n# at all\n"); }
static void g_blanks(Buf *b, int s) { repeat(b, " \t\r\n\f\v", 10000); }
static void g_brace(Buf *b, int s) { buf_puts(b, "}"); }
static void g_long_comment(Buf *b, int s) {
  buf_puts(b, "#");
  repeat(b, "\xce\xb2", 500000);
  buf_puts(b, "\n");
}
/* 100000 errors: reporting stops after 20, quickly. */
static void g_many_errors(Buf *b, int s) {
  buf_puts(b, "rnn a {\n dim K\n input q[K]\n output o[K]\n");
  repeat(b, " o = q $\n", 100000);
  buf_puts(b, "}\n");
}
/* The error limit reached exactly at the end of a block, then one more
 * error in the next block. */
static void g_error_limit_blocks(Buf *b, int s) {
  for (int i = 0; i < 21; i++) buf_printf(b, "rnn a%d { output o; o = zz }\n", i);
}
/* 100000 fns, each calling the one before: inlined, and an error at the
 * bottom. */
static void g_fn_chain(Buf *b, int s) {
  buf_puts(b, "fn f0(t) = t + zz\n");
  for (int i = 1; i < 100000; i++) buf_printf(b, "fn f%d(t) = f%d(t) + 1\n", i, i - 1);
  buf_puts(b, "rnn a {\n dim K\n input q[K]\n output o[K]\n o = f99999(q)\n}\n");
}
/* Inlining that doubles 40 times stops at the operation budget. */
static void g_fn_blowup(Buf *b, int s) {
  buf_puts(b, "fn f0(t) = t * t + 1\n");
  for (int i = 1; i <= 40; i++) buf_printf(b, "fn f%d(t) = f%d(t) + f%d(t + 1)\n", i, i - 1, i - 1);
  buf_puts(b, "rnn a {\n dim K\n input q[K]\n output o[K]\n o = f40(q)\n}\n");
}
static void g_many_params(Buf *b, int s) {
  buf_puts(b, "fn f(p0");
  for (int i = 1; i < 100000; i++) buf_printf(b, ", p%d", i);
  buf_puts(b, ") = p0\nrnn a {\n dim K\n input q[K]\n output o[K]\n o = f(q)\n}\n");
}
static void g_many_args(Buf *b, int s) {
  buf_puts(b, head);
  buf_puts(b, "max(q");
  repeat(b, ", q", 100000);
  buf_puts(b, ")\n}\n");
}
static void g_many_locals(Buf *b, int s) {
  buf_puts(b, "rnn a {\n dim K\n input q[K]\n output o[K]\n");
  for (int i = 0; i < 100000; i++) buf_printf(b, " t%d = q\n", i);
  buf_puts(b, " o = zz\n}\n");
}
static void g_many_dims(Buf *b, int s) {
  buf_puts(b, "rnn a {\n dim D0");
  for (int i = 1; i < 100000; i++) buf_printf(b, ", D%d", i);
  buf_puts(b, "\n input q[D0]\n output o[D0]\n o = q\n}\n");
}
static void g_random_bytes(Buf *b, int s) {
  rs = 1000 + (unsigned long long)s;
  for (int i = 0; i < 65536; i++) {
    char c = (char)(next_rand() & 0xFF);
    buf_putn(b, &c, 1);
  }
}
static void g_random_text(Buf *b, int s) {
  rs = 2000 + (unsigned long long)s;
  for (int i = 0; i < 65536; i++) {
    unsigned r = next_rand() % 100;
    char c = r < 95 ? (char)(32 + r) : '\n';
    buf_putn(b, &c, 1);
  }
}
/* Random tokens of the language: syntax errors, never a crash. The leading
 * '}' makes sure the file is not a valid program. */
static void g_random_tokens(Buf *b, int s) {
  static const char *toks[] = {"rnn", "dim", "input", "param", "state", "output", "fn", "K", "V",
                               "x", "S", "=", "(", ")", "[", "]", "{", "}", ",", ";", "@", "+",
                               "*", "/", "^", "-", "1", "2.5", "1e3", "\n", "exp", "sum",
                               "outer", "l2norm", "#c\n"};
  rs = 77 + (unsigned long long)s;
  buf_puts(b, "}\n");
  for (int i = 0; i < 20000; i++) {
    buf_puts(b, toks[next_rand() % (sizeof toks / sizeof toks[0])]);
    buf_puts(b, " ");
  }
}

typedef struct Hostile {
  const char *label;
  void (*gen)(Buf *, int);
  int seed;
} Hostile;

static const Hostile hostiles[] = {
    {"100000 nested parentheses", g_parens, 0},
    {"a 100000-term sum", g_sum, 0},
    {"a chain of 100000 unary minus", g_minus, 0},
    {"100000 nested calls", g_calls, 0},
    {"a chain of 100000 '^'", g_pow, 0},
    {"100000 unclosed '('", g_open_parens, 0},
    {"100000 unclosed '['", g_open_brackets, 0},
    {"a 200000-character identifier", g_long_name, 0},
    {"a 200000-digit number", g_long_number, 0},
    {"a name of 100000 non-ASCII letters", g_long_utf8_name, 0},
    {"a NUL byte in a statement", g_nul_code, 0},
    {"NUL bytes in comments", g_nul_comment, 0},
    {"64 KiB of NUL bytes", g_nuls, 0},
    {"invalid UTF-8 in a statement", g_bad_utf8, 0},
    {"invalid UTF-8 in a comment", g_bad_utf8_comment, 0},
    {"a truncated UTF-8 sequence at the end", g_truncated_utf8, 0},
    {"an empty file", g_empty, 0},
    {"a file of comments", g_comments, 0},
    {"a file of blanks", g_blanks, 0},
    {"a lone '}'", g_brace, 0},
    {"a comment of 500000 characters", g_long_comment, 0},
    {"100000 bad statements", g_many_errors, 0},
    {"the error limit reached at the end of a block", g_error_limit_blocks, 0},
    {"100000 fns, each calling the one before", g_fn_chain, 0},
    {"fn inlining that doubles 40 times", g_fn_blowup, 0},
    {"a fn of 100000 parameters", g_many_params, 0},
    {"a built-in call with 100001 arguments", g_many_args, 0},
    {"100000 locals, then an unknown name", g_many_locals, 0},
    {"100000 dims", g_many_dims, 0},
    {"64 KiB of random bytes (seed 0)", g_random_bytes, 0},
    {"64 KiB of random bytes (seed 1)", g_random_bytes, 1},
    {"64 KiB of random bytes (seed 2)", g_random_bytes, 2},
    {"64 KiB of random bytes (seed 3)", g_random_bytes, 3},
    {"64 KiB of random printable text (seed 0)", g_random_text, 0},
    {"64 KiB of random printable text (seed 1)", g_random_text, 1},
    {"64 KiB of random printable text (seed 2)", g_random_text, 2},
    {"64 KiB of random printable text (seed 3)", g_random_text, 3},
    {"20000 random tokens (seed 0)", g_random_tokens, 0},
    {"20000 random tokens (seed 1)", g_random_tokens, 1},
    {"20000 random tokens (seed 2)", g_random_tokens, 2},
    {"20000 random tokens (seed 3)", g_random_tokens, 3},
};
enum { NHOSTILE = sizeof hostiles / sizeof hostiles[0] };

/* lrc check on the generated input: under 5 s, exit 1, a located error,
 * no internal error. */
START_TEST(hostile_input) {
  const Hostile *h = &hostiles[_i];
  Buf b = {0};
  h->gen(&b, h->seed);
  char *dir = make_tmpdir();
  char path[600];
  snprintf(path, sizeof path, "%s/hostile.lr", dir);
  write_file(path, b.s ? b.s : "", b.len);
  buf_free(&b);
  double t0 = now();
  char *out = NULL;
  int rc = t_lrc(&out, "check %s", path);
  double s = now() - t0;
  remove(path);
  rmdir(dir);
  char *diags = diag_lines(out, path);
  ck_assert_msg(s < 5.0, "%s: lrc check took %.1f s; the limit is 5 s\n%.2000s", h->label, s,
                diags);
  ck_assert_msg(!bug_report(out), "%s: %s (exit %d)\n%.2000s", h->label, bug_report(out), rc,
                out);
  ck_assert_msg(rc == 1, "%s: exit status %d, want 1%s\n%.2000s", h->label, rc,
                rc > 128 ? " (killed by a signal)" : "", diags);
  bool located = false;
  const char *p = out, *l;
  size_t n;
  while (!located && next_line(&p, &l, &n)) {
    const char *k = diag_kind(l, n, path);
    located = k && strcmp(k, "error") == 0;
  }
  ck_assert_msg(located, "%s: no 'FILE:LINE:COL: error:' line\n%.2000s", h->label, out);
  free(diags);
  free(out);
  free(dir);
}
END_TEST

Suite *corpus_suite(void) {
  bad = list("tests/bad", ".lr");
  examples = list("examples", ".lr");
  goldens = list("tests/golden", ".ir");
  Suite *s = suite_create("corpus");

  TCase *tc = tcase_create("bad");
  tcase_set_timeout(tc, 60);
  tcase_add_loop_test(tc, bad_file, 0, bad.n);
  tcase_add_test(tc, bad_corpus_size);
  suite_add_tcase(s, tc);

  tc = tcase_create("examples");
  tcase_set_timeout(tc, 60);
  tcase_add_loop_test(tc, example_checks, 0, examples.n);
  tcase_add_loop_test(tc, example_golden, 0, examples.n);
  tcase_add_test(tc, golden_has_example);
  tcase_add_test(tc, examples_count);
  tcase_add_test(tc, design_examples);
  tcase_add_test(tc, readme_examples);
  suite_add_tcase(s, tc);

  tc = tcase_create("hostile");
  tcase_set_timeout(tc, 120);   /* the 5 s limit is measured by the test */
  tcase_add_loop_test(tc, hostile_input, 0, NHOSTILE);
  suite_add_tcase(s, tc);
  return s;
}
