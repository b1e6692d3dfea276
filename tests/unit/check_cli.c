/* check_cli.c — tests of the cli module. */
#include "../test.h"

START_TEST(placeholder) { ck_assert_int_eq(1, 1); }
END_TEST

Suite *cli_suite(void) {
  Suite *s = suite_create("cli");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, placeholder);
  suite_add_tcase(s, tc);
  return s;
}
