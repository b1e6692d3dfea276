/* check_cli.c — the lrc command: sub-commands, flags, exit statuses (0
 * success, 1 user error, 2 internal or not implemented), never a signal. */
#include "../test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void expect(const char *args, int rc, const char *want) {
  char *out = NULL;
  int got = t_lrc(&out, "%s", args);
  ck_assert_msg(got == rc, "lrc %s: exit status %d, want %d\n%s", args, got, rc, out);
  ck_assert_msg(got < 128, "lrc %s died by a signal", args);
  if (want) ck_assert_msg(strstr(out, want), "lrc %s: want '%s' in\n%s", args, want, out);
  free(out);
}

START_TEST(top_level) {
  expect("--help", 0, "usage: lrc COMMAND FILE.lr");
  expect("--version", 0, "lrc " LRC_VERSION_STRING);
  expect("", 1, "usage:");
  expect("frobnicate x.lr", 1, "unknown command 'frobnicate'");
  expect("check --help", 0, "usage: lrc check");
  expect("emit --help", 0, "KIND is one of");
  expect("run --help", 0, "usage: lrc run");
}
END_TEST

START_TEST(check_and_emit) {
  expect("check examples/gla.lr", 0, "examples/gla.lr: rnn gla: ok");
  expect("check tests/bad/sema_unknown_name.lr", 1, "error: unknown name 'querry'");
  expect("check /nonexistent/x.lr", 1, "cannot open '/nonexistent/x.lr': No such file");
  expect("check examples", 1, "'examples' is a directory");
  expect("check examples/gla.lr examples/kda.lr", 1, "more than one input file");
  expect("check examples/gla.lr --bogus", 1, "unknown option '--bogus'");
  expect("check examples/gla.lr --dim", 1, "option '--dim' needs a value");
  expect("check", 1, "no input file");
  expect("emit examples/gla.lr --emit=ir", 0, "rnn gla {");
  expect("emit examples/gla.lr --emit ast", 0, "(rnn gla");
  expect("emit examples/gla.lr --emit=dot", 0, "digraph \"gla\"");
  expect("emit examples/gla.lr --emit=plan", 0, "S: transition = diag(exp(g))");
  expect("emit examples/gla.lr --emit=kir --dim K=8,V=4", 0, "kernel gla (algo recurrent)");
  expect("emit examples/gla.lr --emit=llvm --dim K=8,V=4", 0, "define");
  expect("emit examples/gla.lr --emit=wat", 1, "unknown --emit kind 'wat'");
  expect("emit examples/gla.lr --emit=cuda", 2, "not implemented");
  expect("emit examples/gla.lr", 1, "missing --emit=KIND");
  expect("emit examples/gla.lr --emit=ir --rnn nope", 1, "no rnn named 'nope'");
  expect("run examples/gla.lr --target=cuda --dim K=8,V=4", 1, "not implemented");
  expect("bench examples/gla.lr", 2, "not yet implemented");
}
END_TEST

START_TEST(dims_flags) {
  expect("emit examples/gla.lr --emit=ir --dim K=128,V=64", 0, "dim    K=128, V=64");
  expect("emit examples/gla.lr --emit=ir --dim K=128 --dim V=64", 0, "dim    K=128, V=64");
  static const char *bad[] = {"K=0", "K=-1", "K=1.5", "K=", "=4", "K=99999999999", "K"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char args[128];
    snprintf(args, sizeof args, "check examples/gla.lr --dim %s", bad[i]);
    expect(args, 1, "--dim");
  }
  expect("check examples/gla.lr --dim K=2 --dim K=3", 1, "--dim K is given twice");
  expect("check examples/gla.lr --dim Q=2", 1, "no rnn in this file declares a dim 'Q'");
}
END_TEST

START_TEST(emit_files) {
  expect("emit examples/gla.lr --emit=ir -o build/cli-test.ir", 0, NULL);
  char *s = t_read("build/cli-test.ir", NULL);
  ck_assert_ptr_nonnull(s);
  ck_assert_ptr_nonnull(strstr(s, "rnn gla {"));
  free(s);
  remove("build/cli-test.ir");
  expect("emit examples/gla.lr --emit=c --dim K=8,V=4 -o build/cli-gla", 0, NULL);
  char *c = t_read("build/cli-gla.c", NULL), *h = t_read("build/cli-gla.h", NULL);
  ck_assert_ptr_nonnull(c);
  ck_assert_ptr_nonnull(h);
  ck_assert_ptr_nonnull(strstr(c, "#include \"cli-gla.h\""));
  free(c);
  free(h);
  ck_assert_int_eq(system("cc -O2 -std=c99 -Wall -Wextra -Werror -c build/cli-gla.c -o build/cli-gla.o"), 0);
  remove("build/cli-gla.c");
  remove("build/cli-gla.h");
  remove("build/cli-gla.o");
  expect("emit examples/gla.lr --emit=ir -o /nonexistent/dir/x", 1, "cannot write");
}
END_TEST

Suite *cli_suite(void) {
  Suite *s = suite_create("cli");
  TCase *tc = tcase_create("core");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, top_level);
  tcase_add_test(tc, check_and_emit);
  tcase_add_test(tc, dims_flags);
  tcase_add_test(tc, emit_files);
  suite_add_tcase(s, tc);
  return s;
}
