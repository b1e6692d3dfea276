/* check_corpus.c — whole files through the lrc command:
 *  - tests/bad/NAME.lr must fail with exit status 1 and exactly the errors
 *    stated in its `# expect: LINE:COL: error: MESSAGE` comments;
 *  - every examples/NAME.lr passes `lrc check`, and `lrc emit --emit=ir`
 *    prints exactly tests/golden/NAME.ir (tools/update-golden.sh rewrites
 *    them; review the diff);
 *  - the four examples of ../shared/DESIGN.md pass `lrc check`;
 *  - hostile inputs (deep nesting, huge names, NUL bytes, invalid UTF-8,
 *    random bytes) end in under 5 s with exit 1 and a located error.
 */
#include "../test.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct Files {
  char **v;
  int n;
} Files;

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

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

static Files bad, examples;

/* Count the diagnostic lines `path:LINE:COL: error: ...` of `out` (not
 * the echoed source lines, which may quote an expect comment). */
static int count_errors(const char *out, const char *path) {
  int n = 0;
  size_t pl = strlen(path);
  for (const char *p = out; *p;) {
    const char *eol = strchr(p, '\n');
    size_t len = eol ? (size_t)(eol - p) : strlen(p);
    if (len > pl && strncmp(p, path, pl) == 0 && p[pl] == ':') {
      const char *e = strstr(p, ": error: ");
      if (e && e < p + len) n++;
    }
    p += len + (eol ? 1 : 0);
  }
  return n;
}

START_TEST(bad_file) {
  char path[512];
  snprintf(path, sizeof path, "tests/bad/%s", bad.v[_i]);
  size_t len;
  char *src = t_read(path, &len);
  ck_assert_msg(src != NULL, "cannot read %s", path);
  char *out = NULL;
  int rc = t_lrc(&out, "check %s", path);
  ck_assert_msg(rc == 1, "%s: exit status %d, want 1\n%s", path, rc, out);
  ck_assert_msg(!strstr(out, "internal error"), "%s: internal error\n%s", path, out);
  int want = 0;
  for (const char *p = src; (p = strstr(p, "# expect: ")); p++) {
    const char *e = p + strlen("# expect: ");
    const char *eol = strchr(e, '\n');
    size_t n = eol ? (size_t)(eol - e) : strlen(e);
    char line[1024];
    snprintf(line, sizeof line, "%s:%.*s", path, (int)n, e);
    ck_assert_msg(strstr(out, line), "%s: missing diagnostic\n  %s\ngot:\n%s", path, line, out);
    if (strstr(line, ": error: ")) want++;
  }
  ck_assert_msg(want > 0, "%s states no '# expect:' diagnostic", path);
  ck_assert_msg(count_errors(out, path) == want, "%s: %d errors, want %d\n%s", path,
                count_errors(out, path), want, out);
  free(out);
  free(src);
}
END_TEST

START_TEST(bad_corpus_size) {
  ck_assert_msg(bad.n >= 30, "tests/bad holds %d files; want at least 30", bad.n);
}
END_TEST

START_TEST(example_golden) {
  char path[512], golden[512];
  snprintf(path, sizeof path, "examples/%s", examples.v[_i]);
  snprintf(golden, sizeof golden, "tests/golden/%.*s.ir", (int)strlen(examples.v[_i]) - 3,
           examples.v[_i]);
  char *out = NULL;
  int rc = t_lrc(&out, "check %s", path);
  ck_assert_msg(rc == 0, "%s does not pass lrc check:\n%s", path, out);
  free(out);
  rc = t_lrc(&out, "emit %s --emit=ir", path);
  ck_assert_int_eq(rc, 0);
  char *want = t_read(golden, NULL);
  ck_assert_msg(want != NULL, "%s is missing: run tools/update-golden.sh", golden);
  if (strcmp(out, want) != 0) {
    /* Name the first line that differs. */
    int line = 1;
    const char *a = out, *b = want;
    while (*a && *a == *b) {
      if (*a == '\n') line++;
      a++, b++;
    }
    const char *ea = strchr(a, '\n'), *eb = strchr(b, '\n');
    ck_abort_msg("%s differs from %s at line %d:\n  got:  %.*s\n  want: %.*s\n"
                 "(tools/update-golden.sh rewrites the golden files)",
                 path, golden, line, ea ? (int)(ea - a) : (int)strlen(a), a,
                 eb ? (int)(eb - b) : (int)strlen(b), b);
  }
  free(want);
  free(out);
}
END_TEST

START_TEST(examples_count) {
  ck_assert_msg(examples.n >= 14, "examples/ holds %d variants; want at least 14", examples.n);
}
END_TEST

/* The DSL examples of DESIGN.md must keep compiling verbatim. */
START_TEST(design_examples) {
  char *design = t_read("../shared/DESIGN.md", NULL);
  if (!design) {
    fprintf(stderr, "design_examples: skipped: ../shared/DESIGN.md is not here\n");
    return;
  }
  int found = 0;
  for (const char *p = design; (p = strstr(p, "\nrnn ")); p++) {
    const char *end = strstr(p, "\n}\n");
    ck_assert_ptr_nonnull(end);
    char path[64];
    snprintf(path, sizeof path, "build/design-%d.lr", found);
    FILE *f = fopen(path, "w");
    fwrite(p + 1, 1, (size_t)(end + 3 - (p + 1)), f);
    fclose(f);
    char *out = NULL;
    int rc = t_lrc(&out, "check %s", path);
    ck_assert_msg(rc == 0, "DESIGN.md example %d does not pass lrc check:\n%s", found, out);
    free(out);
    remove(path);
    found++;
  }
  ck_assert_int_ge(found, 4);
  free(design);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Hostile inputs                                                          */

static unsigned long long rs = 12345;
static unsigned next_rand(void) {
  rs = rs * 6364136223846793005ull + 1442695040888963407ull;
  return (unsigned)(rs >> 33);
}

static void write_file(const char *path, const char *data, size_t n) {
  FILE *f = fopen(path, "wb");
  ck_assert_ptr_nonnull(f);
  fwrite(data, 1, n, f);
  fclose(f);
}

/* lrc check on `data`: under 5 s, exit 1, a located error, no internal
 * error. */
static void hostile(const char *label, const char *data, size_t n) {
  const char *path = "build/hostile.lr";
  write_file(path, data, n);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  char *out = NULL;
  int rc = t_lrc(&out, "check %s", path);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  ck_assert_msg(s < 5.0, "%s: took %.1f s", label, s);
  ck_assert_msg(rc == 1, "%s: exit status %d, want 1\n%.2000s", label, rc, out);
  ck_assert_msg(strstr(out, "build/hostile.lr:") && strstr(out, ": error: "),
                "%s: no located error\n%.2000s", label, out);
  ck_assert_msg(!strstr(out, "internal error"), "%s: internal error\n%.2000s", label, out);
  free(out);
  remove(path);
}

static char *repeat(const char *head, const char *unit, int times, const char *tail, size_t *n) {
  Buf b = {0};
  buf_puts(&b, head);
  for (int i = 0; i < times; i++) buf_puts(&b, unit);
  buf_puts(&b, tail);
  *n = b.len;
  return buf_take(&b);
}

START_TEST(hostile_inputs) {
  static const char head[] = "rnn a {\n dim K\n input q[K]\n output o[K]\n o = ";
  size_t n;
  char *s;
  /* 100000 nested parentheses. */
  Buf b = {0};
  buf_puts(&b, head);
  for (int i = 0; i < 100000; i++) buf_puts(&b, "(");
  buf_puts(&b, "q");
  for (int i = 0; i < 100000; i++) buf_puts(&b, ")");
  buf_puts(&b, "\n}\n");
  hostile("100000 nested parentheses", b.s, b.len);
  buf_free(&b);
  s = repeat(head, "q + ", 100000, "q\n}\n", &n);
  hostile("a 100000-term sum", s, n);
  free(s);
  s = repeat(head, "-", 100000, "q\n}\n", &n);
  hostile("100000 unary minus", s, n);
  free(s);
  s = repeat(head, "exp(", 100000, "q\n}\n", &n);
  hostile("100000 nested calls", s, n);
  free(s);
  s = repeat("rnn a {\n dim K\n input ", "x", 200000, "[K]\n output o[K]\n o = 1\n}\n", &n);
  hostile("a 200000-character identifier", s, n);
  free(s);
  static const char nul[] = "rnn a {\n dim K\n input q[K]\n\0 output o[K]\n o = q\n}\n";
  hostile("a NUL byte", nul, sizeof nul - 1);
  static const char utf[] = "rnn a {\n dim K\n input q[K]\n output o[K]\n o = q \xc3\x28 \xff\xfe\n}\n";
  hostile("invalid UTF-8", utf, sizeof utf - 1);
  hostile("an empty file", "", 0);
  hostile("only comments", "# nothing here\n# at all\n", 24);
  hostile("a lone brace", "}", 1);
  /* Random bytes and random printable text, several seeds. */
  char *buf = malloc(65536);
  for (int seed = 0; seed < 4; seed++) {
    rs = 1000 + (unsigned long long)seed;
    for (int i = 0; i < 65536; i++) buf[i] = (char)(next_rand() & 0xFF);
    hostile("64 KiB of random bytes", buf, 65536);
    for (int i = 0; i < 65536; i++) buf[i] = (char)(32 + next_rand() % 95);
    hostile("64 KiB of random printable text", buf, 65536);
  }
  /* Random tokens of the language: mostly syntax errors, never a crash. */
  static const char *toks[] = {"rnn", "dim", "input", "state", "output", "fn", "K", "V", "x",
                               "S", "=", "(", ")", "[", "]", "{", "}", ",", "@", "+", "*", "^",
                               "-", "1", "2.5", "\n", "exp", "sum", "outer"};
  for (int seed = 0; seed < 4; seed++) {
    rs = 77 + (unsigned long long)seed;
    Buf t = {0};
    buf_puts(&t, "}\n");   /* an error whatever follows */
    for (int i = 0; i < 5000; i++) {
      buf_puts(&t, toks[next_rand() % (sizeof toks / sizeof toks[0])]);
      buf_puts(&t, " ");
    }
    hostile("random tokens", t.s, t.len);
    buf_free(&t);
  }
  free(buf);
}
END_TEST

Suite *corpus_suite(void) {
  bad = list("tests/bad", ".lr");
  examples = list("examples", ".lr");
  Suite *s = suite_create("corpus");
  TCase *tc = tcase_create("files");
  tcase_set_timeout(tc, 120);
  tcase_add_loop_test(tc, bad_file, 0, bad.n);
  tcase_add_test(tc, bad_corpus_size);
  tcase_add_loop_test(tc, example_golden, 0, examples.n);
  tcase_add_test(tc, examples_count);
  tcase_add_test(tc, design_examples);
  tcase_add_test(tc, hostile_inputs);
  suite_add_tcase(s, tc);
  return s;
}
