/* check_lexer.c — tokens of the DSL (frontend/lexer.l), seen through the
 * parser: numbers, names, comments, bad bytes, line ends, and the line and
 * column of every diagnostic (columns count characters). */
#include "../parse.h"
#include "../test.h"

#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------- */
/* Numbers                                                                 */

START_TEST(numbers) {
  Parse t;
  parse(&t, "rnn r {\n  a = 1\n  b = 1.5\n  c = .5\n  d = 1e-3\n  e = 1.e5\n  f = 2E+3\n"
            "  g = 0\n  h = 007\n  i = 12.\n  j = 3e0\n}\n");
  NERRORS(&t, 0);
  static const struct { const char *text; double v; } want[] = {
      {"1", 1}, {"1.5", 1.5}, {".5", .5}, {"1e-3", 1e-3}, {"1.e5", 1e5}, {"2E+3", 2000},
      {"0", 0}, {"007", 7}, {"12.", 12}, {"3e0", 3},
  };
  ck_assert_int_eq(nstmts(&t), 10);
  for (int i = 0; i < 10; i++) {
    const Expr *e = stmt(&t, i)->expr;
    ck_assert_int_eq(e->kind, EX_NUM);
    ck_assert_str_eq(e->text, want[i].text);          /* kept as written */
    ck_assert_double_eq(e->num, want[i].v);
  }
  AST_HAS(&t, "(assign e 1.e5)");
  /* A number is one token: its span covers it all. */
  const Expr *e = stmt(&t, 3)->expr;
  ck_assert_int_eq(e->span.line, 5);
  ck_assert_int_eq(e->span.col, 7);
  ck_assert_uint_eq(e->span.end - e->span.off, 4);
  done(&t);
}
END_TEST

START_TEST(malformed_numbers) {
  Parse t;
  parse(&t, "rnn r {\n  a = 1e\n  b = 1e+\n  c = 2x\n  d = 1e5x\n  e = 1.5E-\n  f = 3\n}\n");
  NERRORS(&t, 5);
  ERROR_AT(&t, 0, 2, 7, "malformed number '1e'");
  ERROR_AT(&t, 1, 3, 7, "malformed number '1e+'");
  ERROR_AT(&t, 2, 4, 7, "malformed number '2x'");
  ERROR_AT(&t, 3, 5, 7, "malformed number '1e5x'");
  ERROR_AT(&t, 4, 6, 7, "malformed number '1.5E-'");
  /* One error each: the statements still parse (with 0). */
  ck_assert_int_eq(nstmts(&t), 6);
  AST_HAS(&t, "(assign c 0)");
  AST_HAS(&t, "(assign f 3)");
  done(&t);
}
END_TEST

START_TEST(number_range) {
  Parse t;
  parse(&t, "rnn r {\n"
            "  a = 1e39\n"
            "  b = 1e-50\n"
            "  c = 3.4e38\n"
            "  d = 3.4028235e38\n"      /* FLT_MAX as NumPy prints it: rounds to it */
            "  e = 3.4028236e38\n"      /* rounds to infinity */
            "  f = 1e-45\n"             /* rounds to the smallest subnormal */
            "  g = 7.0064923216240854e-46\n"   /* half of it: rounds to zero */
            "  h = 7.00649232162409e-46\n"     /* a little more: FLT_TRUE_MIN */
            "  i = 0.0e-99\n"           /* zero is no underflow */
            "  j = 1e400\n"
            "  k = 123456789012345678901234567890123456789012345678901234567890\n"
            "}\n");
  NERRORS(&t, 6);
  ERROR_AT(&t, 0, 2, 7, "number '1e39' is out of range for float32 (largest 3.40282e+38)");
  ERROR_AT(&t, 1, 3, 7, "number '1e-50' underflows to zero in float32 (smallest 1.4013e-45)");
  ERROR_AT(&t, 2, 6, 7, "number '3.4028236e38' is out of range for float32 (largest 3.40282e+38)");
  ERROR_AT(&t, 3, 8, 7,
           "number '7.0064923216240854e-46' underflows to zero in float32 (smallest 1.4013e-45)");
  ERROR_AT(&t, 4, 11, 7, "number '1e400' is out of range for float32 (largest 3.40282e+38)");
  /* A long literal is cut in the message. */
  ERROR_AT(&t, 5, 12, 7,
           "number '1234567890123456789012345678901234567890...' is out of range for float32 "
           "(largest 3.40282e+38)");
  ck_assert_double_eq(stmt(&t, 2)->expr->num, 3.4e38);
  ck_assert_double_eq((float)stmt(&t, 3)->expr->num, FLT_MAX);
  ck_assert_double_eq((float)stmt(&t, 5)->expr->num, FLT_TRUE_MIN);
  ck_assert_double_eq((float)stmt(&t, 7)->expr->num, FLT_TRUE_MIN);
  /* The value of a rejected number is 0, so nothing downstream sees inf. */
  ck_assert_double_eq(stmt(&t, 0)->expr->num, 0);
  ck_assert_double_eq(stmt(&t, 9)->expr->num, 0);
  ck_assert_int_eq(nstmts(&t), 11);
  done(&t);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Names and keywords                                                      */

START_TEST(names_and_keywords) {
  Parse t;
  parse(&t, "rnn r {\n"
            "  dim K, D2\n"
            "  input x_1[K], _y\n"
            "  param w\n"
            "  state S[K]\n"
            "  output o\n"
            "  fn f(a) = a\n"
            "  rnnx = dims + inputs\n"
            "  Dim = RNN + FN + _\n"
            "  o = x_1\n"
            "}\n");
  NERRORS(&t, 0);
  ck_assert_int_eq(nstmts(&t), 9);
  static const StmtKind kinds[] = {ST_DIM, ST_INPUT, ST_PARAM, ST_STATE, ST_OUTPUT, ST_FN,
                                   ST_ASSIGN, ST_ASSIGN, ST_ASSIGN};
  for (int i = 0; i < 9; i++) ck_assert_int_eq(stmt(&t, i)->kind, kinds[i]);
  ck_assert_str_eq(stmt(&t, 0)->decls.data[1].name, "D2");
  ck_assert_str_eq(stmt(&t, 1)->decls.data[0].name, "x_1");
  ck_assert_str_eq(stmt(&t, 1)->decls.data[1].name, "_y");
  /* Keywords are whole words and case-sensitive. */
  AST_HAS(&t, "(assign rnnx (+ dims inputs))");
  AST_HAS(&t, "(assign Dim (+ (+ RNN FN) _))");
  done(&t);
  /* A keyword cannot name a value. */
  parse(&t, "rnn r {\n  state = 1\n  y = 2\n}\n");
  NERRORS(&t, 1);
  ERROR_AT(&t, 0, 2, 9, "unexpected '='; expected name");
  AST_HAS(&t, "(assign y 2)");
  done(&t);
}
END_TEST

START_TEST(identifier_limit) {
  char a255[256], b256[257], text[1024];
  memset(a255, 'a', 255);
  a255[255] = '\0';
  memset(b256, 'b', 256);
  b256[256] = '\0';
  snprintf(text, sizeof text, "rnn r {\n  %s = 1\n  y = %s + 2\n  z = 3\n}\n", a255, b256);
  Parse t;
  parse(&t, text);
  NERRORS(&t, 1);
  ERROR_AT(&t, 0, 3, 7, "identifier is 256 characters long; the limit is 255");
  ck_assert_str_eq(stmt(&t, 0)->name, a255);
  /* The long name goes on as '_', so the statement still parses. */
  AST_HAS(&t, "(assign y (+ _ 2))");
  AST_HAS(&t, "(assign z 3)");
  /* The caret covers the whole name. */
  const Diag *g = &t.d.v.data[0];
  ck_assert_uint_eq(g->span.end - g->span.off, 256);
  done(&t);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Comments                                                                */

START_TEST(comments_utf8) {
  Parse t;
  parse(&t, "# Gated DeltaNet: S_t = a_t (I − β k kᵀ) S + β k vᵀ  😀\n"
            "rnn r {   # état ∑ λ\n"
            "  # a whole line\n"
            "  x = 1 # trailing, 中文\n"
            "  y = 2#no space\n"
            "}\n"
            "# last line without a newline: ü");
  NERRORS(&t, 0);
  ck_assert_int_eq(nstmts(&t), 2);
  AST_HAS(&t, "(assign x 1)  ; 4:3");
  AST_HAS(&t, "(assign y 2)  ; 5:3");
  done(&t);
}
END_TEST

START_TEST(comments_invalid_utf8) {
  Parse t;
  /* The column counts the characters before the bad byte: "  x = 1 # é" is
   * 11 characters, so 0xFF is in column 12. */
  parse(&t, "rnn r {\n  x = 1 # é\xff ok\n  y = 2\n}\n");
  NERRORS(&t, 1);
  ERROR_AT(&t, 0, 2, 12, "invalid UTF-8 byte 0xFF in comment");
  ck_assert_int_eq(nstmts(&t), 2);
  done(&t);
  /* One error per comment; overlong forms, surrogates, code points past
   * U+10FFFF and sequences cut by the end of the line are invalid. */
  parse(&t, "rnn r {\n"
            "  # \xc0\xaf overlong '/' \xff\n"
            "  # \xe0\x80\xaf overlong\n"
            "  # \xed\xa0\x80 surrogate\n"
            "  # \xf4\x90\x80\x80 past U+10FFFF\n"
            "  # cut \xe2\x82\n"
            "  # lone continuation \x80\n"
            "  # fine: \xf4\x8f\xbf\xbf \xef\xbf\xbd\n"
            "  x = 1\n"
            "}\n");
  NERRORS(&t, 6);
  ERROR_AT(&t, 0, 2, 5, "invalid UTF-8 byte 0xC0 in comment");
  ERROR_AT(&t, 1, 3, 5, "invalid UTF-8 byte 0xE0 in comment");
  ERROR_AT(&t, 2, 4, 5, "invalid UTF-8 byte 0xED in comment");
  ERROR_AT(&t, 3, 5, 5, "invalid UTF-8 byte 0xF4 in comment");
  ERROR_AT(&t, 4, 6, 9, "invalid UTF-8 byte 0xE2 in comment");
  ERROR_AT(&t, 5, 7, 23, "invalid UTF-8 byte 0x80 in comment");
  AST_HAS(&t, "(assign x 1)");
  done(&t);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Bad bytes                                                               */

START_TEST(nul_bytes) {
  static const char code[] = "rnn r {\n  x\0 = 1\n  y = 2 # a\0b\n  z = 3\0\0\0\n}\n";
  Parse t;
  parse_n(&t, code, sizeof code - 1);
  NERRORS(&t, 3);
  ERROR_AT(&t, 0, 2, 4, "NUL byte in source; a .lr file is text");
  ERROR_AT(&t, 1, 3, 12, "NUL byte in source; a .lr file is text");
  ERROR_AT(&t, 2, 4, 8, "NUL byte in source; a .lr file is text");   /* one per run */
  /* NULs are skipped: every statement parses. */
  ck_assert_int_eq(nstmts(&t), 3);
  AST_HAS(&t, "(assign x 1)");
  AST_HAS(&t, "(assign z 3)");
  /* The rendered line shows the NUL as '?'. */
  ck_assert_msg(strstr(t.diags, "    2 |   x? = 1\n      |    ^\n") != NULL, "%s", t.diags);
  done(&t);
  /* The input is its length, not up to the first NUL. */
  static const char tail[] = "\0rnn r {\n  x = 1\n}\n";
  parse_n(&t, tail, sizeof tail - 1);
  NERRORS(&t, 1);
  ERROR_AT(&t, 0, 1, 1, "NUL byte in source; a .lr file is text");
  ck_assert_int_eq(nstmts(&t), 1);
  done(&t);
}
END_TEST

START_TEST(non_ascii_in_code) {
  Parse t;
  /* Letters: the name is rejected once and parses on as '_'. */
  parse(&t, "rnn r {\n  y = β + 1\n  größe = 2\n  z = 3\n}\n");
  NERRORS(&t, 2);
  ERROR_AT(&t, 0, 2, 7,
           "name 'β' is not ASCII; names use the letters A-Z, a-z, digits and '_'");
  ERROR_AT(&t, 1, 3, 3,
           "name 'größe' is not ASCII; names use the letters A-Z, a-z, digits and '_'");
  AST_HAS(&t, "(assign y (+ _ 1))");
  AST_HAS(&t, "(assign z 3)");
  done(&t);
  /* Symbols are no letters: the message names the code point, and there
   * is one error for the statement. */
  parse(&t, "rnn r {\n  y = a − b\n  w = a×b\n  z = 3\n}\n");
  NERRORS(&t, 2);
  ERROR_AT(&t, 0, 2, 9, "unexpected character '−' (U+2212); names and operators are ASCII");
  ERROR_AT(&t, 1, 3, 8, "unexpected character '×' (U+00D7); names and operators are ASCII");
  AST_HAS(&t, "(assign z 3)");
  done(&t);
  /* Invisible spaces pasted into code are named, then skipped. */
  parse(&t, "rnn r {\n  y = a\xc2\xa0+ b\n  z\xe2\x80\x8b = 3\n}\n");
  NERRORS(&t, 2);
  ERROR_AT(&t, 0, 2, 8,
           "unexpected no-break space (U+00A0); the source must be ASCII outside comments");
  ERROR_AT(&t, 1, 3, 4,
           "unexpected invisible character (U+200B); the source must be ASCII outside comments");
  AST_HAS(&t, "(assign y (+ a b))");
  AST_HAS(&t, "(assign z 3)");
  done(&t);
  /* A name with a symbol in it: one error, at the symbol. */
  parse(&t, "rnn r {\n  y = βeta−1 + a\n  z = 3\n}\n");
  NERRORS(&t, 1);
  ERROR_AT(&t, 0, 2, 11, "unexpected character '−' (U+2212); names and operators are ASCII");
  AST_HAS(&t, "(assign z 3)");
  ck_assert_int_eq(nstmts(&t), 1);
  done(&t);
  /* Invisible characters after a name, before '}' and at the very end. */
  parse(&t, "rnn r {\n  y = ab\xc2\xa0\xe2\x80\x83+ 1\xc2\xa0}\xef\xbb\xbf");
  NERRORS(&t, 3);
  ERROR_AT(&t, 0, 2, 9,
           "unexpected no-break space (U+00A0); the source must be ASCII outside comments");
  ERROR_AT(&t, 1, 2, 14,
           "unexpected no-break space (U+00A0); the source must be ASCII outside comments");
  ERROR_AT(&t, 2, 2, 16,
           "unexpected byte order mark (U+FEFF); the source must be ASCII outside comments");
  AST_HAS(&t, "(assign y (+ ab 1))");
  done(&t);
  /* Invalid UTF-8 in code. */
  parse(&t, "rnn r {\n  y = x \xff\xfe\n  z = \xe0\x80\x80 1\n}\n");
  NERRORS(&t, 2);
  ERROR_AT(&t, 0, 2, 9, "invalid UTF-8 byte 0xFF in source");
  ERROR_AT(&t, 1, 3, 7, "invalid UTF-8 byte 0xE0 in source");
  AST_HAS(&t, "(assign y x)");
  AST_HAS(&t, "(assign z 1)");
  done(&t);
}
END_TEST

START_TEST(control_characters) {
  Parse t;
  parse(&t, "rnn r {\n  x = 1\x01\n  y = \x7f" "2\n  z = \x1b[0m3\n}\n");
  ck_assert_int_ge(t.d.nerrors, 3);
  ERROR_AT(&t, 0, 2, 8, "unexpected control character 0x01");
  ERROR_AT(&t, 1, 3, 7, "unexpected control character 0x7F");
  ERROR_AT(&t, 2, 4, 7, "unexpected control character 0x1B");
  AST_HAS(&t, "(assign x 1)");
  AST_HAS(&t, "(assign y 2)");
  done(&t);
  /* Form feed and vertical tab are blanks. */
  parse(&t, "rnn r {\f\n  x =\v1\f\n}\n");
  NERRORS(&t, 0);
  AST_HAS(&t, "(assign x 1)");
  done(&t);
  /* An ASCII character outside the language. */
  parse(&t, "rnn r {\n  x = 1 ! 2\n}\n");
  ck_assert_int_ge(t.d.nerrors, 1);
  ERROR_AT(&t, 0, 2, 9, "unexpected character '!'");
  done(&t);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Line ends and separators                                                */

START_TEST(crlf) {
  Parse t;
  parse(&t, "rnn r {\r\n  dim K\r\n  x = 1\r\n\r\n  y = (2 +\r\n 3)\r\n}\r\n");
  NERRORS(&t, 0);
  ck_assert_int_eq(nstmts(&t), 3);
  AST_HAS(&t, "(assign x 1)  ; 3:3");
  AST_HAS(&t, "(assign y (+ 2 3))  ; 5:3");
  done(&t);
  /* Errors in a CRLF file: right column, no '?' for the carriage return. */
  parse(&t, "rnn r {\r\n  x = 1e99\r\n}\r\n");
  NERRORS(&t, 1);
  ERROR_AT(&t, 0, 2, 7, "number '1e99' is out of range for float32 (largest 3.40282e+38)");
  ck_assert_msg(strstr(t.diags, "    2 |   x = 1e99\n      |       ^~~~\n") != NULL, "%s",
                t.diags);
  done(&t);
}
END_TEST

START_TEST(newlines_in_brackets) {
  Parse t;
  parse(&t, "rnn r {\n"
            "  input a[K,\n"
            "          V]\n"
            "  x = (1 +\n"
            "       2) * f(a,\n"
            "\n"
            "              b)\n"
            "  y = ((\n"
            "  3\n"
            "  ))\n"
            "  z = 4\n"
            "}\n");
  NERRORS(&t, 0);
  ck_assert_int_eq(nstmts(&t), 4);
  ck_assert_int_eq(stmt(&t, 0)->decls.data[0].ndims, 2);
  ck_assert_str_eq(stmt(&t, 0)->decls.data[0].dims[1], "V");
  AST_HAS(&t, "(assign x (* (+ 1 2) (call f a b)))  ; 4:3");
  AST_HAS(&t, "(assign y 3)  ; 8:3");
  AST_HAS(&t, "(assign z 4)  ; 11:3");
  done(&t);
  /* Outside brackets a newline ends the statement. */
  parse(&t, "rnn r {\n  x = 1\n  + 2\n}\n");
  NERRORS(&t, 1);
  ERROR_AT(&t, 0, 3, 3,
           "unexpected '+' at the start of a statement; to continue an expression on the next "
           "line, put it in parentheses");
  done(&t);
}
END_TEST

START_TEST(statement_ends) {
  Parse t;
  /* Right before '}', with or without blanks, and a one-line block. */
  parse(&t, "rnn r { x = 1 }\nrnn s {\n  y = f(2)}\nrnn u {}\nrnn v {\n}");
  NERRORS(&t, 0);
  ck_assert_int_eq(t.p->rnns.len, 4);
  AST_HAS(&t, "(rnn r  ; 1:5\n    (assign x 1)  ; 1:9\n  )");
  AST_HAS(&t, "(rnn s  ; 2:5\n    (assign y (call f 2))  ; 3:3\n  )");
  ck_assert_int_eq(t.p->rnns.data[2]->stmts.len, 0);
  done(&t);
  /* At the end of the file, without a newline. */
  parse(&t, "fn f(x) = x + 1");
  NERRORS(&t, 0);
  ck_assert_int_eq(t.p->fns.len, 1);
  AST_HAS(&t, "(fn f (x) (+ x 1))  ; 1:1");
  done(&t);
  parse(&t, "rnn r {\n  x = 1\n}   # done");
  NERRORS(&t, 0);
  AST_HAS(&t, "(assign x 1)");
  done(&t);
  /* An empty file, and one of blanks and comments. */
  parse(&t, "");
  NERRORS(&t, 0);
  ck_assert_str_eq(t.ast, "(file \"t.lr\"\n)\n");
  done(&t);
  parse(&t, "\n\n  # nothing\n\t\n");
  NERRORS(&t, 0);
  ck_assert_int_eq(t.p->rnns.len, 0);
  done(&t);
}
END_TEST

START_TEST(semicolons) {
  Parse t;
  parse(&t, "rnn r { dim K; input a[K]; x = 1;; y = 2 ; }\n;fn f() = 1;\n");
  NERRORS(&t, 0);
  ck_assert_int_eq(nstmts(&t), 4);
  AST_HAS(&t, "(dim K)  ; 1:9");
  AST_HAS(&t, "(input a[K])  ; 1:16");
  AST_HAS(&t, "(assign x 1)  ; 1:28");
  AST_HAS(&t, "(assign y 2)  ; 1:36");
  ck_assert_int_eq(t.p->fns.len, 1);
  done(&t);
  /* A ';' inside parentheses is no separator. */
  parse(&t, "rnn r {\n  x = (1; 2)\n  y = 3\n}\n");
  ck_assert_int_ge(t.d.nerrors, 1);
  ERROR_AT(&t, 0, 2, 9, "unexpected ';'; expected ')', '+' or '-'");
  AST_HAS(&t, "(assign y 3)");
  done(&t);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Locations                                                               */

START_TEST(columns_after_multibyte) {
  Parse t;
  /* A non-ASCII name is one error; what follows on the line is located in
   * characters: 'ß' is 2 bytes, '中' 3, '😀' 4, each one column. */
  parse(&t, "rnn r {\n  ß = 1e99\n  中😀 = 2 + 1e99\n}\n");
  NERRORS(&t, 4);
  ERROR_AT(&t, 1, 2, 7, "number '1e99' is out of range for float32 (largest 3.40282e+38)");
  ERROR_AT(&t, 3, 3, 12, "number '1e99' is out of range for float32 (largest 3.40282e+38)");
  /* And the caret is under it. */
  ck_assert_msg(strstr(t.diags, "    3 |   中😀 = 2 + 1e99\n      |            ^~~~\n") != NULL,
                "%s", t.diags);
  done(&t);
  /* Invalid bytes are one column each, as the renderer counts them: an
   * overlong 2-byte form is 2 columns, a truncated 3-byte one 2. */
  parse(&t, "rnn r {\n  x = 1 \xc0\x80 + 1e99\n  y = \xe2\x82 2 1e99\n}\n");
  ck_assert_int_ge(t.d.nerrors, 4);
  ck_assert_msg(strstr(t.diags, "t.lr:2:14: error: number '1e99'") != NULL, "%s", t.diags);
  ck_assert_msg(strstr(t.diags, "    2 |   x = 1 ?? + 1e99\n      |              ^~~~\n") != NULL,
                "%s", t.diags);
  ck_assert_msg(strstr(t.diags, "t.lr:3:12: error: number '1e99'") != NULL, "%s", t.diags);
  done(&t);
  /* Multi-byte characters in a comment do not move the next line. */
  parse(&t, "rnn r { # ∑∑∑∑∑∑\n  x = 1e99\n}\n");
  NERRORS(&t, 1);
  ERROR_AT(&t, 0, 2, 7, "number '1e99' is out of range for float32 (largest 3.40282e+38)");
  done(&t);
}
END_TEST

START_TEST(token_spans) {
  Parse t;
  parse(&t, "rnn r {\n  out = exp(-g) *\tS\n}\n");
  NERRORS(&t, 0);
  const Stmt *s = stmt(&t, 0);
  ck_assert_int_eq(s->span.line, 2);
  ck_assert_int_eq(s->span.col, 3);
  ck_assert_int_eq(s->name_span.col, 3);
  ck_assert_uint_eq(s->name_span.end - s->name_span.off, 3);
  const Expr *e = s->expr;
  ck_assert_int_eq(e->kind, EX_MUL);
  ck_assert_int_eq(e->span.col, 9);
  ck_assert_uint_eq(e->span.end - e->span.off, strlen("exp(-g) *\tS"));
  ck_assert_int_eq(e->lhs->kind, EX_CALL);
  ck_assert_int_eq(e->lhs->name_span.col, 9);
  ck_assert_uint_eq(e->lhs->span.end - e->lhs->span.off, strlen("exp(-g)"));
  ck_assert_int_eq(e->rhs->span.col, 19);    /* the tab is one column */
  done(&t);
}
END_TEST

START_TEST(end_of_file_location) {
  Parse t;
  /* "unexpected end of file" points just after the last thing in the
   * file, whether or not a newline or blanks follow. */
  static const char *const texts[] = {
      "rnn r {\n  x = 1", "rnn r {\n  x = 1\n", "rnn r {\n  x = 1  \n\n\t\n",
      "rnn r {\n  x = 1\r\n\r\n",
  };
  for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
    parse(&t, texts[i]);
    NERRORS(&t, 1);
    ERROR_AT(&t, 0, 2, 8, "unexpected end of file; an rnn block is missing its closing '}'");
    done(&t);
  }
  /* After a comment: the end of the comment. */
  parse(&t, "rnn r {\n  x = 1 # note\n");
  NERRORS(&t, 1);
  ERROR_AT(&t, 0, 2, 15, "unexpected end of file; an rnn block is missing its closing '}'");
  done(&t);
  /* In the middle of a statement, the end of line put there is the end of
   * the file too. */
  parse(&t, "rnn r {\n  x = 1 +");
  ck_assert_int_ge(t.d.nerrors, 1);
  ERROR_AT(&t, 0, 2, 10, "unexpected end of file; expected name, number, '(' or '-'");
  done(&t);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Scale: the lexer is linear in its input, bad input included            */

static void parse_big(Parse *t, const char *unit, int n, const char *before, const char *after) {
  Buf b = {0};
  buf_puts(&b, before);
  for (int i = 0; i < n; i++) buf_puts(&b, unit);
  buf_puts(&b, after);
  parse_n(t, b.s, b.len);   /* t->src.text is b.s: freed by done_big */
}

static void done_big(Parse *t) {
  char *text = (char *)t->src.text;
  done(t);
  free(text);
}

START_TEST(scale_bad_comments) {
  /* 100000 comments with a bad byte (one error each, up to the limit). */
  Parse t;
  parse_big(&t, "# \xff\n", 100000, "rnn r {\n", "  x = 1\n}\n");
  NERRORS(&t, LRC_MAX_ERRORS);
  ERROR_AT(&t, 0, 2, 3, "invalid UTF-8 byte 0xFF in comment");
  AST_HAS(&t, "(assign x 1)  ; 100002:3");
  done_big(&t);
}
END_TEST

START_TEST(scale_odd_names) {
  /* One line of 100000 names glued by symbols or invisible spaces. */
  Parse t;
  parse_big(&t, "a\xe2\x88\x92", 100000, "rnn r {\n  x = ", "\n  y = 2\n}\n");
  NERRORS(&t, 1);
  ERROR_AT(&t, 0, 2, 8, "unexpected character '−' (U+2212); names and operators are ASCII");
  AST_HAS(&t, "(assign y 2)");
  done_big(&t);
  parse_big(&t, "ab\xc2\xa0", 100000, "rnn r {\n  x = ", "\n  y = 2\n}\n");
  ck_assert_int_ge(t.d.nerrors, 1);
  AST_HAS(&t, "(assign y 2)");
  done_big(&t);
}
END_TEST

START_TEST(scale_long_program) {
  /* 100000 statements, and a line of 100000 terms. */
  Parse t;
  parse_big(&t, "  x = a * b + 1.5e-3\n", 100000, "rnn r {\n", "}\n");
  NERRORS(&t, 0);
  ck_assert_int_eq(nstmts(&t), 100000);
  done_big(&t);
  parse_big(&t, " + a", 100000, "rnn r {\n  x = 1", "\n}\n");
  NERRORS(&t, 1);   /* nested too deeply: a left-leaning tree 100000 deep */
  done_big(&t);
}
END_TEST

Suite *lexer_suite(void) {
  Suite *s = suite_create("lexer");
  TCase *tc = tcase_create("numbers");
  tcase_add_test(tc, numbers);
  tcase_add_test(tc, malformed_numbers);
  tcase_add_test(tc, number_range);
  suite_add_tcase(s, tc);

  tc = tcase_create("names");
  tcase_add_test(tc, names_and_keywords);
  tcase_add_test(tc, identifier_limit);
  suite_add_tcase(s, tc);

  tc = tcase_create("bytes");
  tcase_add_test(tc, comments_utf8);
  tcase_add_test(tc, comments_invalid_utf8);
  tcase_add_test(tc, nul_bytes);
  tcase_add_test(tc, non_ascii_in_code);
  tcase_add_test(tc, control_characters);
  suite_add_tcase(s, tc);

  tc = tcase_create("lines");
  tcase_add_test(tc, crlf);
  tcase_add_test(tc, newlines_in_brackets);
  tcase_add_test(tc, statement_ends);
  tcase_add_test(tc, semicolons);
  tcase_add_test(tc, columns_after_multibyte);
  tcase_add_test(tc, token_spans);
  tcase_add_test(tc, end_of_file_location);
  suite_add_tcase(s, tc);

  tc = tcase_create("scale");
  tcase_set_timeout(tc, 20);   /* a quadratic lexer takes minutes here */
  tcase_add_test(tc, scale_bad_comments);
  tcase_add_test(tc, scale_odd_names);
  tcase_add_test(tc, scale_long_program);
  suite_add_tcase(s, tc);
  return s;
}
