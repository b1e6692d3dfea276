/* check_main.c — runs every Check suite. CK_RUN_SUITE / CK_RUN_CASE
 * select, CK_FORK=no runs in one process for debugging. */
#include "test.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

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

int main(void) {
  /* Every chunk kernel with the phased form's check: what its free part
   * does not hand over to the rest is NaN by the time the rest runs
   * (passes/phases.c), so a tile missing from the hand-over fails every
   * oracle test of that kernel. */
  setenv("LRC_PHASE_CHECK", "1", 0);
  Suite *suites[] = {
      support_suite(), lexer_suite(), parser_suite(), sema_suite(), ir_suite(),
      printer_suite(), api_suite(),   cli_suite(),    corpus_suite(), interp_suite(), emit_c_suite(), runtime_suite(), passes_suite(), kir_suite(), scan_suite(),
      cuda_suite(),
  };
  SRunner *sr = srunner_create(suites[0]);
  for (size_t i = 1; i < sizeof suites / sizeof suites[0]; i++) srunner_add_suite(sr, suites[i]);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
