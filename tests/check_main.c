/* check_main.c — runs every Check suite. CK_RUN_SUITE / CK_RUN_CASE
 * select, CK_FORK=no runs in one process for debugging, LRC_TEST_JOBS=n
 * splits the suites over n processes. */
#include "test.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

const char *t_bin(void) {
  const char *b = getenv("LRC_BIN");
  return b && *b ? b : "build/lrc";
}

char *t_read(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  Buf b = {0};
  char tmp[65536];
  size_t n;
  while ((n = fread(tmp, 1, sizeof tmp, f)) > 0) buf_putn(&b, tmp, n);
  fclose(f);
  if (len) *len = b.len;
  return buf_take(&b);
}

char *t_compile(const char *src, size_t len, bool *ok) {
  lrc_ctx *ctx = lrc_ctx_new();
  lrc_options o;
  lrc_options_init(&o);
  o.filename = "t.lr";
  lrc_error *err = NULL;
  lrc_module *m = lrc_compile_buffer(ctx, src, len, &o, &err);
  char *r;
  *ok = m != NULL;
  if (m) r = strdup(lrc_module_warnings(m));
  else r = strdup(lrc_error_message(err));
  lrc_error_free(err);
  lrc_module_free(m);
  lrc_ctx_free(ctx);
  return r;
}

Program *t_parse(Arena *arena, Diags *d, Source *src, const char *text) {
  src->name = "t.lr";
  src->text = text;
  src->len = strlen(text);
  diag_init(d, arena);
  return ast_parse(arena, d, src);
}

Graph *t_graph(Arena *arena, const char *text, char **diags) {
  static Source src;
  Diags d;
  Program *p = t_parse(arena, &d, &src, text);
  Graph **gs = NULL;
  if (d.nerrors == 0) sema_run(arena, &d, p, NULL, 0, &gs);
  Buf b = {0};
  diag_render(&d, &b);
  if (diags) *diags = buf_take(&b);
  else buf_free(&b);
  if (d.nerrors || !gs || p->rnns.len != 1) return NULL;
  return gs[0];
}

int t_lrc(char **out, const char *fmt, ...) {
  Buf cmd = {0};
  buf_printf(&cmd, "%s ", t_bin());
  va_list ap;
  va_start(ap, fmt);
  buf_vprintf(&cmd, fmt, ap);
  va_end(ap);
  buf_puts(&cmd, " 2>&1");
  FILE *p = popen(cmd.s, "r");
  buf_free(&cmd);
  if (!p) return -1;
  Buf b = {0};
  char tmp[4096];
  size_t n;
  while ((n = fread(tmp, 1, sizeof tmp, p)) > 0) buf_putn(&b, tmp, n);
  int st = pclose(p);
  *out = buf_take(&b);
  if (WIFEXITED(st)) {
    int rc = WEXITSTATUS(st);
    /* /bin/sh reports a child killed by signal N as 128+N. */
    return rc;
  }
  return 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

static int cmp_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

int t_examples(char ***names) {
  static char **files;
  static int n = -1;
  if (n < 0) {
    n = 0;
    DIR *d = opendir("examples");
    struct dirent *e;
    while (d && (e = readdir(d))) {
      size_t len = strlen(e->d_name);
      if (len < 4 || strcmp(e->d_name + len - 3, ".lr") != 0) continue;
      files = realloc(files, sizeof(char *) * (size_t)(n + 1));
      files[n++] = strdup(e->d_name);
    }
    if (d) closedir(d);
    qsort(files, (size_t)n, sizeof(char *), cmp_names);
  }
  *names = files;
  return n;
}

/* Every suite, with its rough cost (seconds in a plain build) for
 * LRC_TEST_JOBS to balance the processes by. */
static const struct {
  Suite *(*make)(void);
  int cost;
} suite_defs[] = {
    {support_suite, 1}, {lexer_suite, 1},   {parser_suite, 1}, {sema_suite, 1},
    {ir_suite, 1},      {printer_suite, 1}, {api_suite, 2},    {cli_suite, 5},
    {corpus_suite, 5},  {interp_suite, 1},  {emit_c_suite, 170}, {runtime_suite, 3},
    {passes_suite, 9},  {kir_suite, 2},     {scan_suite, 36},  {cuda_suite, 172},
};
enum { NSUITES = sizeof suite_defs / sizeof suite_defs[0], MAXJOBS = 16 };

/* Runs the suites whose bit is set in `mask` in one runner; the number
 * of failed tests. */
static int run_suites(unsigned mask) {
  SRunner *sr = NULL;
  for (int i = 0; i < NSUITES; i++) {
    if (!(mask & (1u << i))) continue;
    Suite *su = suite_defs[i].make();
    if (sr) srunner_add_suite(sr, su);
    else sr = srunner_create(su);
  }
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed;
}

/* LRC_TEST_JOBS=n: the suites split over n processes, balanced by cost,
 * each writing to a file of its own; the logs are printed in turn, then
 * one summary line over all of them, as Check's. */
static int run_parallel(int jobs) {
  unsigned mask[MAXJOBS] = {0};
  int load[MAXJOBS] = {0};
  bool placed[NSUITES] = {0};
  for (int n = 0; n < NSUITES; n++) {
    int best = -1, j = 0;
    for (int i = 0; i < NSUITES; i++)
      if (!placed[i] && (best < 0 || suite_defs[i].cost > suite_defs[best].cost)) best = i;
    for (int q = 1; q < jobs; q++)
      if (load[q] < load[j]) j = q;
    placed[best] = true;
    mask[j] |= 1u << best;
    load[j] += suite_defs[best].cost;
  }
  char logs[MAXJOBS][64];
  pid_t pids[MAXJOBS];
  fflush(stdout);
  for (int j = 0; j < jobs; j++) {
    snprintf(logs[j], sizeof logs[j], "/tmp/lrc-check-%d-%d.log", (int)getpid(), j);
    pids[j] = fork();
    if (pids[j] < 0) {
      perror("check_lrc: fork");
      return EXIT_FAILURE;
    }
    if (pids[j] == 0) {
      if (!freopen(logs[j], "w", stdout) || dup2(fileno(stdout), 2) < 0) _exit(3);
      setvbuf(stdout, NULL, _IOLBF, 0);
      _exit(run_suites(mask[j]) ? 1 : 0);
    }
  }
  bool bad = false;
  long checks = 0, failures = 0, errors = 0;
  for (int j = 0; j < jobs; j++) {
    int st = 0;
    waitpid(pids[j], &st, 0);
    bad |= !WIFEXITED(st) || WEXITSTATUS(st) != 0;
    char *log = t_read(logs[j], NULL);
    const char *sum = NULL;
    for (const char *p = log; p && (p = strstr(p, "Checks: ")); p++) sum = p;
    long c = 0, f = 0, e = 0;
    if (!sum || sscanf(sum, "Checks: %ld, Failures: %ld, Errors: %ld", &c, &f, &e) != 3) {
      printf("check_lrc: process %d (of %d) left no summary (exit status %d)\n", j, jobs, st);
      bad = true;
    }
    checks += c, failures += f, errors += e;
    if (log) fputs(log, stdout);
    free(log);
    remove(logs[j]);
  }
  long passed = checks - failures - errors;
  printf("%ld%%: Checks: %ld, Failures: %ld, Errors: %ld (%d processes)\n",
         checks ? 100 * passed / checks : 0, checks, failures, errors, jobs);
  return bad || failures || errors ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* --dump-variants DIR: each test variant as DIR/vNN_NAME.lr (t_variants)
 * or DIR/cNN_NAME.lr (t_chunk_variants), for tests/gpu/compile.sh to
 * compile their emitted CUDA with nvcc. */
static int dump_variants(const char *dir) {
  for (int set = 0; set < 2; set++) {
    int n = set ? t_nchunk_variants : t_nvariants;
    for (int i = 0; i < n; i++) {
      const char *src = set ? t_chunk_variants[i] : t_variants[i];
      char name[64] = "rnn", path[600];
      sscanf(src, "rnn %63[A-Za-z0-9_]", name);
      snprintf(path, sizeof path, "%s/%c%02d_%s.lr", dir, set ? 'c' : 'v', i, name);
      FILE *f = fopen(path, "w");
      if (!f || fputs(src, f) < 0 || fclose(f) != 0) {
        fprintf(stderr, "check_lrc: cannot write %s\n", path);
        return EXIT_FAILURE;
      }
    }
  }
  return EXIT_SUCCESS;
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "--dump-variants") == 0) return dump_variants(argv[2]);
  /* Every chunk kernel with the phased form's check: what its free part
   * does not hand over to the rest is NaN by the time the rest runs
   * (passes/phases.c), so a tile missing from the hand-over fails every
   * oracle test of that kernel. */
  setenv("LRC_PHASE_CHECK", "1", 0);
  const char *j = getenv("LRC_TEST_JOBS");
  int jobs = j ? atoi(j) : 1;
  if (jobs > MAXJOBS) jobs = MAXJOBS;
  if (jobs > 1 && !getenv("CK_RUN_SUITE")) return run_parallel(jobs);
  return run_suites(~0u) ? EXIT_FAILURE : EXIT_SUCCESS;
}
