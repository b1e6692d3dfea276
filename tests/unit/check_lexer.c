/* check_lexer.c — tests of the lexer module. */
#include "../test.h"

START_TEST(placeholder) { ck_assert_int_eq(1, 1); }
END_TEST

Suite *lexer_suite(void) {
  Suite *s = suite_create("lexer");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, placeholder);
  suite_add_tcase(s, tc);
  return s;
}
