/* check_cli.c — the lrc command: sub-commands, flags, exit statuses (0
 * success, 1 user error, 2 internal), never a signal. */
#include "../test.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void expect(const char *args, int rc, const char *want) {
  char *out = NULL;
  int got = t_lrc(&out, "%s", args);
  ck_assert_msg(got < 128, "lrc %s died by a signal (%d)\n%s", args, got, out);
  ck_assert_msg(got == rc, "lrc %s: exit status %d, want %d\n%s", args, got, rc, out);
  if (want) ck_assert_msg(strstr(out, want), "lrc %s: want '%s' in\n%s", args, want, out);
  free(out);
}

/* `lrc emit PATH --emit=plan` prints `plan`, and --algo=chunk runs PATH
 * (checked against the reference). */
static void plan_then_chunk(const char *path, const char *plan) {
  char args[1200];
  snprintf(args, sizeof args, "emit %s --emit=plan", path);
  expect(args, 0, plan);
  snprintf(args, sizeof args, "run %s --algo=chunk --chunk=3 --shape B=2,T=10,H=1", path);
  expect(args, 0, ": ok\n");
}

/* Run `lrc ARGS` with stdout and stderr apart: *out and *err (malloc'd).
 * Returns the exit status (128+N for a signal). */
static int run2(char **out, char **err, const char *fmt, ...) {
  char errpath[] = "/tmp/lrc-cli-err-XXXXXX";
  int fd = mkstemp(errpath);
  ck_assert_int_ge(fd, 0);
  close(fd);
  Buf cmd = {0};
  buf_printf(&cmd, "%s ", t_bin());
  va_list ap;
  va_start(ap, fmt);
  buf_vprintf(&cmd, fmt, ap);
  va_end(ap);
  buf_printf(&cmd, " 2>%s", errpath);
  FILE *p = popen(cmd.s, "r");
  ck_assert_ptr_nonnull(p);
  Buf b = {0};
  char tmp[4096];
  size_t n;
  while ((n = fread(tmp, 1, sizeof tmp, p)) > 0) buf_putn(&b, tmp, n);
  int st = pclose(p);
  buf_free(&cmd);
  *out = buf_take(&b);
  if (!*out) *out = strdup("");
  *err = t_read(errpath, NULL);
  if (!*err) *err = strdup("");
  unlink(errpath);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

/* A scratch directory for this test (removed by cleanup()). */
static char dir[64];

static void mkscratch(void) {
  snprintf(dir, sizeof dir, "/tmp/lrc-cli-XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void cleanup(void) {
  if (!dir[0]) return;
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  ck_assert_int_eq(system(cmd), 0);
  dir[0] = '\0';
}

/* Write `text` to DIR/name; returns the path (static buffer per call slot). */
static const char *put(const char *name, const char *text) {
  static char paths[8][128];
  static int next;
  char *path = paths[next++ % 8];
  snprintf(path, 128, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  ck_assert_ptr_nonnull(f);
  fputs(text, f);
  fclose(f);
  return path;
}

static const char *two_rnns = "rnn first {\n dim D\n input x[D]\n output y[D]\n y = x\n}\n"
                              "rnn second {\n dim K, V\n input k[K], v[V]\n state S[K, V]\n"
                              " output o[V]\n S = S + outer(k, v)\n o = k @ S\n}\n";

START_TEST(top_level) {
  expect("--help", 0, "usage: lrc COMMAND FILE.lr");
  expect("-h", 0, "usage: lrc COMMAND FILE.lr");
  expect("help", 0, "usage: lrc COMMAND FILE.lr");
  char *out, *err;
  ck_assert_int_eq(run2(&out, &err, "--version"), 0);
  ck_assert_str_eq(out, "lrc " LRC_VERSION_STRING "\n");
  ck_assert_str_eq(err, "");
  free(out);
  free(err);
  /* The usage names every command and what emit can print. */
  ck_assert_int_eq(run2(&out, &err, "--help"), 0);
  ck_assert_str_eq(err, "");
  static const char *words[] = {"check FILE.lr", "emit  FILE.lr --emit=KIND", "run   FILE.lr",
                                "bench FILE.lr", "--dim K=128,V=64", "--rnn NAME",
                                "canon", "plan", "llvm", "exit status: 0 success, 1 user error"};
  for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
    ck_assert_msg(strstr(out, words[i]), "want '%s' in\n%s", words[i], out);
  ck_assert_ptr_null(strstr(out, "run a recurrence (not in this version)"));
  free(out);
  free(err);
  /* No command: usage on stderr, exit 1. */
  ck_assert_int_eq(run2(&out, &err, "%s", ""), 1);
  ck_assert_str_eq(out, "");
  ck_assert_ptr_nonnull(strstr(err, "usage: lrc COMMAND FILE.lr"));
  free(out);
  free(err);
  expect("frobnicate x.lr", 1, "lrc: unknown command 'frobnicate'");
  expect("--frobnicate", 1, "lrc: unknown command '--frobnicate'");
  /* Each command's help, right after it or anywhere in its arguments. */
  expect("check --help", 0, "usage: lrc check");
  expect("check examples/gla.lr --help", 0, "usage: lrc check");
  expect("emit --help", 0, "KIND is one of");
  expect("emit examples/gla.lr --emit=ir -h", 0, "KIND is one of");
  expect("run --help", 0, "usage: lrc run");
  expect("run examples/gla.lr --help", 0, "usage: lrc run");
}
END_TEST

START_TEST(check_exit_codes) {
  mkscratch();
  char *out, *err;
  /* Valid: one line per rnn on stdout, nothing on stderr. */
  ck_assert_int_eq(run2(&out, &err, "check examples/gla.lr"), 0);
  ck_assert_str_eq(out, "examples/gla.lr: rnn gla: ok\n");
  ck_assert_str_eq(err, "");
  free(out);
  free(err);
  /* Errors: the diagnostics on stderr, nothing on stdout, exit 1. */
  const char *bad = put("bad.lr", "rnn a {\n input q\n output o\n o = r\n}\n");
  ck_assert_int_eq(run2(&out, &err, "check %s", bad), 1);
  ck_assert_str_eq(out, "");
  char want[256];
  snprintf(want, sizeof want, "%s:4:6: error: unknown name 'r'\n    4 |  o = r\n      |      ^\n", bad);
  ck_assert_str_eq(err, want);
  free(out);
  free(err);
  /* Warnings: printed on stderr, exit 0 and the ok line. */
  const char *warn = put("warn.lr", "rnn w {\n input x, unused\n state s\n output y\n y = x + s\n}\n");
  ck_assert_int_eq(run2(&out, &err, "check %s", warn), 0);
  snprintf(want, sizeof want, "%s: rnn w: ok\n", warn);
  ck_assert_str_eq(out, want);
  snprintf(want, sizeof want, "%s:2:11: warning: input 'unused' is never used\n", warn);
  ck_assert_msg(strstr(err, want), "%s", err);
  snprintf(want, sizeof want, "%s:3:8: warning: state 's' is never written", warn);
  ck_assert_msg(strstr(err, want), "%s", err);
  ck_assert_ptr_null(strstr(err, "error"));
  free(out);
  free(err);
  /* Several rnns: one line each, in order. */
  const char *two = put("two.lr", two_rnns);
  ck_assert_int_eq(run2(&out, &err, "check %s", two), 0);
  snprintf(want, sizeof want, "%s: rnn first: ok\n%s: rnn second: ok\n", two, two);
  ck_assert_str_eq(out, want);
  free(out);
  free(err);
  /* Every example checks. */
  expect("check examples/gated_deltanet.lr", 0, "rnn gated_deltanet: ok");
  expect("check examples/deltaproduct.lr", 0, "rnn deltaproduct: ok");
  expect("check examples/mamba2.lr", 0, "rnn mamba2: ok");
  expect("check tests/bad/sema_unknown_name.lr", 1, "error: unknown name 'querry'");
  /* Hostile input: empty, binary, NUL bytes. Exit 1, never a signal. */
  expect("check /dev/null", 1, "/dev/null:1:1: error: no rnn block in this file");
  FILE *f = fopen(put("binary.lr", ""), "wb");
  for (int i = 0; i < 4096; i++) fputc((i * 131 + 7) & 0xff, f);   /* every byte value */
  fclose(f);
  snprintf(want, sizeof want, "check %s/binary.lr", dir);
  expect(want, 1, "error:");
  f = fopen(put("nul.lr", ""), "wb");
  fwrite("rnn a {\0\0\0}\n", 1, 12, f);
  fclose(f);
  snprintf(want, sizeof want, "check %s/nul.lr", dir);
  expect(want, 1, "error: NUL byte in source; a .lr file is text");
  cleanup();
}
END_TEST

START_TEST(emit_kinds) {
  char *out, *err;
  ck_assert_int_eq(run2(&out, &err, "emit examples/gla.lr --emit=ir"), 0);
  ck_assert_msg(strncmp(out, "rnn gla {\n", 10) == 0, "%s", out);
  ck_assert_ptr_nonnull(strstr(out, "  state  S <- %"));
  ck_assert_str_eq(err, "");
  free(out);
  free(err);
  expect("emit examples/gla.lr --emit ir", 0, "rnn gla {");
  expect("emit --emit=ast examples/gla.lr", 0, "(file \"examples/gla.lr\"\n  (rnn gla");
  expect("emit examples/gla.lr --emit=dot", 0, "digraph \"gla\" {");
  expect("emit examples/gla.lr --emit=canon", 0, "rnn gla {");
  expect("emit examples/gla.lr --emit=plan", 0, "S: transition = diag(exp(g");
  expect("emit examples/gla.lr --emit=kir --dim K=8,V=4", 0, "kernel gla (algo recurrent)");
  expect("emit examples/gla.lr --emit=llvm --dim K=8,V=4", 0, "define");
  expect("emit examples/gla.lr --emit=c --dim K=8,V=4", 0, "int gla(");
  expect("emit examples/gla.lr --emit=cuda --dim K=8,V=4", 0, "extern \"C\" int gla(");
  expect("emit examples/gla.lr --emit=cuda --dim K=8,V=4 --algo=chunk --chunk=4", 0,
         "algorithm chunk(C=4), CUDA");
  expect("emit examples/gla.lr --emit=cuda --dtype=bf16 --dim K=8,V=4", 0,
         "const __nv_bfloat16 *a_q");
  expect("emit examples/gla.lr --emit=cuda --dtype=f16 --dim K=8,V=4", 0, "__float2half(");
  expect("emit examples/gla.lr --emit=cuda --dtype=f64 --dim K=8,V=4", 1,
         "bad --dtype 'f64': expected f32, bf16 or f16");
  expect("emit examples/gla.lr --emit=c --dtype=bf16 --dim K=8,V=4", 1,
         "--dtype applies to --emit=cuda only");
  /* Kinds that do not exist. */
  expect("emit examples/gla.lr --emit=wat", 1,
         "lrc emit: unknown --emit kind 'wat'; expected ast, ir, canon, plan, dot, kir, c, cuda or llvm");
  expect("emit examples/gla.lr --emit=IR", 1, "unknown --emit kind 'IR'");
  expect("emit examples/gla.lr --emit=", 1, "unknown --emit kind ''");
  expect("emit examples/gla.lr", 1, "lrc emit: missing --emit=KIND");
  /* The unknown kind is reported before the file is even read. */
  expect("emit /nonexistent.lr --emit=wat", 1, "unknown --emit kind 'wat'");
  /* Kernel forms need every dim's size. */
  const char *nodims = "rnn a {\n dim D\n input x[D]\n output y[D]\n y = x\n}\n";
  mkscratch();
  char args[256];
  snprintf(args, sizeof args, "emit %s --emit=kir", put("nodims.lr", nodims));
  expect(args, 1, "lrc: dim 'D' of rnn 'a' has no size; pass --dim D=N");
  /* -o NAME writes NAME.cu and NAME.h (a trailing .cu is dropped). */
  snprintf(args, sizeof args, "emit examples/retnet.lr --emit=cuda --dim K=8,V=4 -o %s/rk.cu", dir);
  expect(args, 0, "");
  char path[600];
  snprintf(path, sizeof path, "%s/rk.cu", dir);
  char *cu = t_read(path, NULL);
  ck_assert_msg(cu && strstr(cu, "#include \"rk.h\"") && strstr(cu, "__global__"), "%s", cu ? cu : "(none)");
  free(cu);
  snprintf(path, sizeof path, "%s/rk.h", dir);
  char *h = t_read(path, NULL);
  ck_assert_msg(h && strstr(h, "cudaStream_t stream);"), "%s", h ? h : "(none)");
  free(h);
  cleanup();
}
END_TEST

START_TEST(emit_files) {
  mkscratch();
  char args[512], path[256];
  /* -o FILE: the same text as on stdout, and nothing on stdout. */
  snprintf(path, sizeof path, "%s/gla.ir", dir);
  char *out, *err;
  ck_assert_int_eq(run2(&out, &err, "emit examples/gla.lr --emit=ir -o %s", path), 0);
  ck_assert_str_eq(out, "");
  ck_assert_str_eq(err, "");
  free(out);
  free(err);
  char *s = t_read(path, NULL);
  ck_assert_ptr_nonnull(s);
  ck_assert_int_eq(run2(&out, &err, "emit examples/gla.lr --emit=ir"), 0);
  ck_assert_str_eq(s, out);
  free(s);
  free(out);
  free(err);
  /* An existing file is replaced. */
  snprintf(args, sizeof args, "emit examples/gla.lr --emit=dot -o %s", path);
  expect(args, 0, NULL);
  s = t_read(path, NULL);
  ck_assert_msg(strncmp(s, "digraph \"gla\" {\n", 16) == 0, "%s", s);
  free(s);
  /* A compile error writes no file. */
  const char *bad = put("bad.lr", "rnn a {\n input q\n output o\n o = r\n}\n");
  snprintf(path, sizeof path, "%s/never.ir", dir);
  snprintf(args, sizeof args, "emit %s --emit=ir -o %s", bad, path);
  expect(args, 1, "unknown name 'r'");
  ck_assert_int_ne(access(path, F_OK), 0);
  /* --emit=c -o NAME: NAME.c and NAME.h; they compile on their own. */
  snprintf(args, sizeof args, "emit examples/gla.lr --emit=c --dim K=8,V=4 -o %s/cli-gla", dir);
  expect(args, 0, NULL);
  snprintf(path, sizeof path, "%s/cli-gla.c", dir);
  char *c = t_read(path, NULL);
  snprintf(path, sizeof path, "%s/cli-gla.h", dir);
  char *h = t_read(path, NULL);
  ck_assert_ptr_nonnull(c);
  ck_assert_ptr_nonnull(h);
  ck_assert_ptr_nonnull(strstr(c, "#include \"cli-gla.h\""));
  free(c);
  free(h);
  snprintf(args, sizeof args, "cc -O2 -std=c99 -Wall -Wextra -Werror -c %s/cli-gla.c -o %s/cli-gla.o",
           dir, dir);
  ck_assert_int_eq(system(args), 0);
  /* Unwritable places: exit 1 with the path and the reason. */
  expect("emit examples/gla.lr --emit=ir -o /nonexistent/dir/x", 1,
         "lrc emit: cannot write '/nonexistent/dir/x': No such file or directory");
  snprintf(args, sizeof args, "emit examples/gla.lr --emit=ir -o %s", dir);
  expect(args, 1, "cannot write");
  expect("emit examples/gla.lr --emit=c --dim K=8,V=4 -o /nonexistent/dir/x", 1,
         "cannot write '/nonexistent/dir/x.h'");
  /* A full disk on stdout is an error, not a silent truncation. */
  ck_assert_int_eq(run2(&out, &err, "emit examples/gla.lr --emit=ir >/dev/full"), 1);
  ck_assert_msg(strstr(err, "lrc: cannot write to standard output: No space left on device"), "%s",
                err);
  free(out);
  free(err);
  cleanup();
}
END_TEST

START_TEST(files_and_options) {
  expect("check", 1, "lrc check: no input file");
  expect("emit --emit=ir", 1, "lrc emit: no input file");
  /* A missing file: named, with the reason. */
  expect("check /nonexistent/x.lr", 1, "lrc: cannot open '/nonexistent/x.lr': No such file or directory");
  expect("emit /nonexistent/x.lr --emit=ir", 1, "cannot open '/nonexistent/x.lr'");
  expect("check examples", 1, "lrc: 'examples' is a directory, not a .lr file");
  if (geteuid() != 0) {   /* root reads anything */
    mkscratch();
    const char *p = put("secret.lr", "rnn a {\n input x\n output y\n y = x\n}\n");
    chmod(p, 0);
    char args[256];
    snprintf(args, sizeof args, "check %s", p);
    expect(args, 1, "Permission denied");
    cleanup();
  }
  expect("check examples/gla.lr examples/kda.lr", 1,
         "lrc check: more than one input file ('examples/gla.lr' and 'examples/kda.lr')");
  /* Unknown options, and options of another command. */
  expect("check examples/gla.lr --bogus", 1, "lrc check: unknown option '--bogus'");
  expect("check examples/gla.lr -x", 1, "unknown option '-x'");
  expect("check examples/gla.lr --emit=ir", 1, "unknown option '--emit=ir'");
  expect("check examples/gla.lr -o out", 1, "unknown option '-o'");
  expect("emit examples/gla.lr --emit=ir --seed=3", 1, "unknown option '--seed=3'");
  /* Options missing their value. */
  expect("check examples/gla.lr --dim", 1, "lrc check: option '--dim' needs a value");
  expect("check examples/gla.lr --rnn", 1, "option '--rnn' needs a value");
  expect("emit examples/gla.lr --emit", 1, "option '--emit' needs a value");
  expect("emit examples/gla.lr --emit=ir -o", 1, "option '-o' needs a value");
  /* A single-valued option given twice is a mistake, not an override. */
  expect("check examples/gla.lr --rnn gla --rnn gla", 1, "option '--rnn' is given twice");
  expect("emit examples/gla.lr --emit=ir --emit=ast", 1, "option '--emit' is given twice");
  expect("emit examples/gla.lr --emit=ir -o a -o b", 1, "option '-o' is given twice");
  /* A usage error points at the command's help. */
  expect("check examples/gla.lr --bogus", 1, "(see 'lrc check --help')");
}
END_TEST

START_TEST(dims_flags) {
  expect("emit examples/gla.lr --emit=ir --dim K=128,V=64", 0, "  dim    K=128, V=64\n");
  expect("emit examples/gla.lr --emit=ir --dim K=128 --dim V=64", 0, "  dim    K=128, V=64\n");
  expect("emit examples/gla.lr --emit=ir --dim=K=16", 0, "  dim    K=16, V=64\n");
  expect("emit examples/gla.lr --emit=ir --dim V=1,K=1000000000", 0, "  dim    K=1000000000, V=1\n");
  static const struct {
    const char *flag, *msg;
  } bad[] = {
      {"K=0", "bad --dim 'K=0': the size must be a whole number from 1 to 1000000000"},
      {"K=-1", "bad --dim 'K=-1': the size must be a whole number from 1 to 1000000000"},
      {"K=1.5", "bad --dim 'K=1.5': the size must be a whole number from 1 to 1000000000"},
      {"K=", "bad --dim 'K=': the size must be a whole number from 1 to 1000000000"},
      {"K=99999999999", "bad --dim 'K=99999999999': the size must be a whole number"},
      {"K=1000000001", "bad --dim 'K=1000000001': the size must be a whole number"},
      {"K=99999999999999999999999", "bad --dim 'K=99999999999999999999999': the size"},
      {"K=+4", "bad --dim 'K=+4': the size must be a whole number"},
      {"'K= 4'", "bad --dim 'K= 4': the size must be a whole number"},
      {"K=4x", "bad --dim 'K=4x': the size must be a whole number"},
      {"K=0x10", "bad --dim 'K=0x10': the size must be a whole number"},
      {"=4", "bad --dim '=4': expected NAME=SIZE[,NAME=SIZE...]"},
      {"K", "bad --dim 'K': expected NAME=SIZE[,NAME=SIZE...]"},
      {",", "bad --dim ',': expected NAME=SIZE[,NAME=SIZE...]"},
      {"K=4,,V=3", "bad --dim 'K=4,,V=3': expected NAME=SIZE[,NAME=SIZE...]"},
      {"K=4,V=0", "bad --dim 'V=0': the size must be a whole number"},
      {"''", "--dim needs NAME=SIZE[,NAME=SIZE...]"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char args[128];
    snprintf(args, sizeof args, "check examples/gla.lr --dim %s", bad[i].flag);
    expect(args, 1, bad[i].msg);
  }
  expect("check examples/gla.lr --dim K=2 --dim K=3", 1, "lrc check: --dim K is given twice");
  expect("check examples/gla.lr --dim K=2,V=2,K=2", 1, "--dim K is given twice");
  expect("check examples/gla.lr --dim Q=2", 1, "--dim Q=2: no rnn in this file declares a dim 'Q'");
  /* Dims bind in every command that compiles. */
  expect("check examples/gla.lr --dim K=3", 0, "rnn gla: ok");
}
END_TEST

START_TEST(rnn_selection) {
  mkscratch();
  const char *two = put("two.lr", two_rnns);
  char args[256];
  char *out, *err;
  /* check --rnn: only that block's line. */
  ck_assert_int_eq(run2(&out, &err, "check %s --rnn second", two), 0);
  char want[256];
  snprintf(want, sizeof want, "%s: rnn second: ok\n", two);
  ck_assert_str_eq(out, want);
  free(out);
  free(err);
  /* emit --rnn: only that graph; without it, every one. */
  ck_assert_int_eq(run2(&out, &err, "emit %s --emit=ir --rnn first", two), 0);
  ck_assert_msg(strncmp(out, "rnn first {", 11) == 0, "%s", out);
  ck_assert_ptr_null(strstr(out, "rnn second"));
  free(out);
  free(err);
  ck_assert_int_eq(run2(&out, &err, "emit %s --emit=ir", two), 0);
  ck_assert_ptr_nonnull(strstr(out, "rnn first {"));
  ck_assert_ptr_nonnull(strstr(out, "\nrnn second {"));
  free(out);
  free(err);
  /* Unknown --rnn: exit 1, and the names there are. */
  snprintf(args, sizeof args, "check %s --rnn third", two);
  snprintf(want, sizeof want, "lrc check: no rnn named 'third' in %s; it has: first, second", two);
  expect(args, 1, want);
  snprintf(args, sizeof args, "emit %s --emit=ir --rnn third", two);
  snprintf(want, sizeof want, "lrc: no rnn named 'third' in %s; it has: first, second", two);
  expect(args, 1, want);
  /* Forms of one kernel need a choice when there are several. */
  snprintf(args, sizeof args, "emit %s --emit=c --dim D=2,K=2,V=2", two);
  snprintf(want, sizeof want, "%s has 2 rnn blocks (first, second); choose one with --rnn", two);
  expect(args, 1, want);
  snprintf(args, sizeof args, "emit %s --emit=kir --rnn second --dim D=2,K=2,V=2", two);
  expect(args, 0, "kernel second");
  cleanup();
}
END_TEST

START_TEST(run_and_bench) {
  mkscratch();
  const char *two = put("two.lr", two_rnns);
  char *out, *err;
  /* run picks the rnn named by --rnn, and says which one ran. */
  ck_assert_int_eq(run2(&out, &err, "run %s --rnn second --dim K=3,V=2 --shape B=1,T=5,H=2 --no-cache",
                        two), 0);
  ck_assert_msg(strncmp(out, "second: recurrent, B=1 T=5 H=2\n", 31) == 0, "%s\n%s", out, err);
  ck_assert_msg(strstr(out, "result   max relative error"), "%s", out);
  ck_assert_msg(strstr(out, ": ok\n"), "%s", out);
  free(out);
  free(err);
  char args[256];
  snprintf(args, sizeof args, "run %s --dim D=2,K=3,V=2", two);
  expect(args, 1, "has 2 rnn blocks (first, second); choose one with --rnn");
  expect("run examples/gla.lr --target=cpu --dtype=f16 --dim K=8,V=4", 1,
         "--dtype applies to --target=cuda");
  expect("run examples/gla.lr --shape B=0", 1, "bad --shape B '0'");
  expect("run examples/gla.lr --emit=ir", 1, "unknown option '--emit=ir'");
  /* --in and --state-in names the rnn does not have, more of them than
   * it has slots */
  expect("run examples/gla.lr --in z1=a.npy --in z2=a.npy --in z3=a.npy --in z4=a.npy --in z5=a.npy "
         "--in z6=a.npy --in z7=a.npy --in z8=a.npy", 1,
         "--in z1: the rnn has no input or param named 'z1' (it has: q, k, v, gk)");
  expect("run examples/gla.lr --in q=a.npy --state-in z1=a.npy --state-in z2=a.npy --state-in z3=a.npy "
         "--state-in z4=a.npy --state-in z5=a.npy --state-in z6=a.npy --state-in z7=a.npy", 1,
         "--state-in z1: the rnn has no state named 'z1' (it has: S)");
  expect("run examples/gla.lr --in q=a.npy --in k=a.npy --in q=a.npy --in q=a.npy --in q=a.npy "
         "--in q=a.npy --in q=a.npy --in q=a.npy --in q=a.npy", 1, "--in q is given twice");
  /* An output that nearly cancels (a normaliser of signed terms: its
   * denominator near 0) is checked against its condition, not reported
   * as a bug (seed 1: 5e-4 relative, all of it float32's rounding) */
  const char *cancel = put("cancel.lr", "rnn cancel {\n dim K = 8, V = 4\n input q[K], k[K], v[V], c\n"
                                        " state S[K, V], z[K]\n output o[V]\n S = S + outer(k * c, v)\n"
                                        " z = z + k * c\n o = (q @ S) / (q @ z + 1e-6)\n}\n");
  ck_assert_int_eq(run2(&out, &err, "run %s --shape B=1,T=300,H=1 --seed 1 --no-cache", cancel), 0);
  ck_assert_msg(strstr(out, ": ok\n") && !*err, "%s\n%s", out, err);
  free(out);
  free(err);
  /* RWKV-7's diagonal plus rank 1, the erase reading the state before the
   * decay beside it: the plan names its form, and --algo=chunk runs it */
  const char *dplr = put("dplr.lr", "rnn dplr {\n dim K = 4, V = 4\n input r[K], k[K], v[V], w[K], a[K], b[K]\n"
                                    " state S[K, V]\n output o[V]\n"
                                    " S = exp(-exp(w)) * S + outer(-a, b @ S) + outer(k, v)\n o = r @ S\n}\n");
  plan_then_chunk(dplr, "class = diagonal plus rank 1; parallel form: chunk, WY/UT form with the "
                        "erase's two sides; algo = recurrent");
  /* Its per-key decays' factors made once a chunk, before the branch on
   * the chunk's decay range: y e^Gx for N, for M (the input along another
   * key) and for Y; the readouts' k e^-G of their own */
  ck_assert_int_eq(run2(&out, &err, "emit examples/rwkv7.lr --emit=kir --algo=chunk"), 0);
  int nkp = 0;
  for (const char *p = out; (p = strstr(p, "kp_S = (")); p++) nkp++;
  ck_assert_msg(nkp == 1 && !strstr(out, "kp1_S") && strstr(out, "Y_S = ((-1 * beta_S) * kp_S)") &&
                    strstr(out, "M1_S += (kp_S * km1_S{C:=C2})") && strstr(out, "ke0_0 = "),
                "RWKV-7's factors not shared (%d made y e^Gx)", nkp);
  const char *brk = strstr(out, "if Gabs_S < 20"), *kp = strstr(out, "kp_S = (");
  ck_assert_msg(brk && kp && kp < brk, "RWKV-7's factor y e^Gx made in the branch");
  free(out);
  free(err);
  /* A state declared [V, K] and erased along K: the plan names its key */
  const char *vk = put("vk.lr", "rnn vk {\n dim K = 4, V = 3\n input q[K], k[K], v[V], b\n"
                                " state S[V, K]\n output o[V]\n"
                                " S = S + sigmoid(b) * outer(v - S @ k, k)\n o = S @ q\n}\n");
  plan_then_chunk(vk, "class = delta rule; parallel form: chunk, WY/UT form; algo = recurrent; key dim K");
  /* Why a chunk form is refused names the state */
  const char *cnt = put("count.lr", "rnn count {\n dim K = 4, V = 4\n input q[K], k[K], v[V]\n"
                                    " state S[K, V], n\n output o[V]\n S = S + outer(k, v)\n n = n + 1\n"
                                    " o = (q @ S) / n\n}\n");
  snprintf(args, sizeof args, "run %s --algo=chunk", cnt);
  expect(args, 1, "--algo=chunk: state 'n' is a scalar: the chunk form needs a key dim");
  const char *s3 = put("s3.lr", "rnn s3 {\n dim K = 4, J = 2, V = 4\n input q[K], p[J], k[K], v[V]\n"
                                " state S[K, J, V]\n output o[V]\n S = S + outer(outer(k, p), v)\n"
                                " o = outer(q, p) @ S\n}\n");
  snprintf(args, sizeof args, "run %s --algo=chunk", s3);
  expect(args, 1, "an output reads state 'S' other than as x @ S, x a vector over its key dim K alone");
  expect("bench", 1, "lrc bench: no input file");
  expect("bench examples/gla.lr --algo=chunk", 1, "unknown option '--algo=chunk'");
  expect("bench examples/gla.lr --repeat 0", 1, "bad --repeat '0'");
  expect("bench examples/gla.lr --target=tpu", 1, "bad --target 'tpu'");
  /* Every algorithm side by side on the same inputs: the chunk kernel
   * agrees with the recurrent one; an algorithm that does not apply says
   * why. */
  ck_assert_int_eq(run2(&out, &err, "bench examples/retnet.lr --dim K=16,V=8 --shape B=1,T=70,H=2 "
                                    "--repeat 2 --threads 1 --json --no-cache"), 0);
  ck_assert_msg(strstr(out, "{\"rnn\": \"retnet\", \"target\": \"cpu\", \"B\": 1, \"T\": 70, \"H\": 2"),
                "%s", out);
  ck_assert_msg(strstr(out, "\"algo\": \"recurrent\", \"available\": true"), "%s", out);
  ck_assert_msg(strstr(out, "\"algo\": \"chunk(C=16)\", \"available\": true"), "%s", out);
  ck_assert_msg(strstr(out, "\"algo\": \"scan(C=64)\", \"available\": true"), "%s", out);
  static const char *algos[] = {"chunk(C=16)", "scan(C=64)"};
  for (int i = 0; i < 2; i++) {
    const char *d = strstr(out, algos[i]);
    d = d ? strstr(d, "\"max_rel_diff\": ") : NULL;
    ck_assert_msg(d && atof(d + 16) < 1e-4, "%s", out);
  }
  free(out);
  free(err);
  ck_assert_int_eq(run2(&out, &err, "bench examples/gated_deltanet.lr --dim K=8,V=8 --shape B=1,T=40,H=1 "
                                    "--repeat 1 --chunk 16 --no-cache"), 0);
  ck_assert_msg(strstr(out, "chunk(C=16, WY)"), "%s", out);
  ck_assert_msg(strstr(out, "matrix-product reference"), "%s", out);
  ck_assert_msg(strstr(out, "scan               not available: no scan form for state 'S'"), "%s", out);
  free(out);
  free(err);
  cleanup();
}
END_TEST

Suite *cli_suite(void) {
  Suite *s = suite_create("cli");
  TCase *tc = tcase_create("core");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, top_level);
  tcase_add_test(tc, check_exit_codes);
  tcase_add_test(tc, emit_kinds);
  tcase_add_test(tc, emit_files);
  tcase_add_test(tc, files_and_options);
  tcase_add_test(tc, dims_flags);
  tcase_add_test(tc, rnn_selection);
  tcase_add_test(tc, run_and_bench);
  suite_add_tcase(s, tc);
  return s;
}
