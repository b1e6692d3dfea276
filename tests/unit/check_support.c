/* check_support.c — the arena, Buf, diagnostics (collection and rendering,
 * source_locate, span_join) and the internal-error guard (ir/support.c,
 * ir/diag.c). Rendering is checked to the byte: the CLI prints it as is. */
#include "../test.h"

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------- */
/* Arena                                                                   */

static Arena arena;
static void setup(void) { arena_init(&arena); }
static void teardown(void) { arena_fini(&arena); }

static bool all_zero(const void *p, size_t n) {
  const unsigned char *s = p;
  for (size_t i = 0; i < n; i++)
    if (s[i]) return false;
  return true;
}

START_TEST(arena_alignment) {
  static const size_t sizes[] = {1, 2, 3, 7, 8, 15, 16, 17, 31, 33, 100, 1000, 4095, 0, 5};
  for (int round = 0; round < 50; round++)
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
      void *p = arena_alloc(&arena, sizes[i]);
      ck_assert_ptr_nonnull(p);
      ck_assert_msg((uintptr_t)p % 16 == 0, "arena_alloc(%zu) = %p is not 16-byte aligned",
                    sizes[i], p);
    }
  /* Allocations of 0 bytes are distinct valid pointers too. */
  void *a = arena_alloc(&arena, 0), *b = arena_alloc(&arena, 0);
  ck_assert_ptr_ne(a, b);
}
END_TEST

START_TEST(arena_zeroing) {
  /* Dirty the heap so that a reused chunk would show through. */
  for (int i = 0; i < 8; i++) {
    size_t n = 70000 + 1000 * (size_t)i;
    unsigned char *junk = malloc(n);
    memset(junk, 0xA5, n);
    free(junk);
  }
  for (int i = 0; i < 2000; i++) {
    size_t n = 1 + (size_t)(i * 37 % 700);
    unsigned char *p = arena_alloc(&arena, n);
    ck_assert_msg(all_zero(p, n), "allocation %d of %zu bytes is not zeroed", i, n);
    memset(p, 0xFF, n);   /* the next allocation must not see this */
  }
  unsigned char *big = arena_alloc(&arena, 300000);
  ck_assert(all_zero(big, 300000));
}
END_TEST

/* Allocations larger than a block get a block of their own; the memory of
 * every allocation is disjoint from every other. */
START_TEST(arena_large) {
  enum { N = 40 };
  static const size_t sizes[N] = {
      10, 1 << 20, 10, 32 * 1024 + 1, 64 * 1024, 64 * 1024 + 1, 3, 200000, 16, 48,
      65536 - 32, 65536 - 16, 65536, 1, 2, 3, 4, 5, 6, 7,
      5000, 5000, 5000, 5000, 5000, 5000, 5000, 5000, 5000, 5000,
      5000, 5000, 5000, 5000, 5000, 5000, 5000, 5000, 3 << 20, 9,
  };
  unsigned char *p[N];
  size_t total = 0;
  for (int i = 0; i < N; i++) {
    p[i] = arena_alloc(&arena, sizes[i]);
    ck_assert_msg((uintptr_t)p[i] % 16 == 0, "allocation %d not aligned", i);
    ck_assert_msg(all_zero(p[i], sizes[i]), "allocation %d not zeroed", i);
    memset(p[i], i + 1, sizes[i]);
    total += sizes[i];
  }
  for (int i = 0; i < N; i++)
    for (size_t k = 0; k < sizes[i]; k++)
      if (p[i][k] != (unsigned char)(i + 1))
        ck_abort_msg("allocation %d (%zu bytes) overwritten at byte %zu", i, sizes[i], k);
  ck_assert_uint_ge(arena.total, total);
  /* A small allocation after a large one still comes from a block with
   * room: it is near the previous small one, not in a fresh block. */
  Arena b;
  arena_init(&b);
  char *s1 = arena_alloc(&b, 16);
  (void)arena_alloc(&b, 1 << 20);
  char *s2 = arena_alloc(&b, 16);
  ck_assert_ptr_eq(s2, s1 + 16);
  arena_fini(&b);
  ck_assert_ptr_null(b.head);
  ck_assert_uint_eq(b.total, 0);
}
END_TEST

START_TEST(arena_realloc_copies) {
  int *v = NULL;
  int cap = 0;
  for (int n = 0; n < 5000; n++) {
    if (n == cap) {
      int ncap = cap ? 2 * cap : 4;
      v = arena_realloc(&arena, v, sizeof *v * (size_t)cap, sizeof *v * (size_t)ncap);
      for (int k = n; k < ncap; k++) ck_assert_int_eq(v[k], 0);   /* new part zeroed */
      cap = ncap;
    }
    v[n] = n * 7;
  }
  for (int n = 0; n < 5000; n++) ck_assert_int_eq(v[n], n * 7);
  /* Shrinking keeps the prefix. */
  char *s = arena_strdup(&arena, "abcdefgh");
  char *t = arena_realloc(&arena, s, 9, 4);
  ck_assert_ptr_ne(s, t);
  ck_assert_int_eq(memcmp(t, "abcd", 4), 0);
  /* NULL with size 0 is a fresh allocation. */
  char *u = arena_realloc(&arena, NULL, 0, 32);
  ck_assert(all_zero(u, 32));
  /* VEC_PUSH builds on it. */
  struct { long *data; int len, cap; } vec = {0};
  for (long i = 0; i < 1000; i++) VEC_PUSH(&arena, vec, i * i);
  ck_assert_int_eq(vec.len, 1000);
  ck_assert_int_ge(vec.cap, 1000);
  for (long i = 0; i < 1000; i++) ck_assert_int_eq(vec.data[i], i * i);
}
END_TEST

START_TEST(arena_strings) {
  char *s = arena_strndup(&arena, "hello, world", 5);
  ck_assert_str_eq(s, "hello");
  ck_assert_int_eq(s[5], '\0');
  ck_assert_str_eq(arena_strndup(&arena, "abc", 0), "");
  /* n bytes exactly, even past a NUL in the middle: the caller decides. */
  char *z = arena_strndup(&arena, "ab\0cd", 5);
  ck_assert_int_eq(memcmp(z, "ab\0cd", 6), 0);
  const char *lit = "a string";
  char *d = arena_strdup(&arena, lit);
  ck_assert_str_eq(d, lit);
  ck_assert_ptr_ne(d, lit);
  ck_assert_str_eq(arena_strdup(&arena, ""), "");
}
END_TEST

START_TEST(arena_printf_formats) {
  ck_assert_str_eq(arena_printf(&arena, "%s=%d [%5.2f] %c%%", "K", 128, 3.14159, 'x'),
                   "K=128 [ 3.14] x%");
  ck_assert_str_eq(arena_printf(&arena, "%s", ""), "");
  /* Longer than any fixed buffer. */
  char *big = malloc(100001);
  memset(big, 'q', 100000);
  big[100000] = '\0';
  char *r = arena_printf(&arena, "<%s>", big);
  ck_assert_uint_eq(strlen(r), 100002);
  ck_assert_int_eq(r[0], '<');
  ck_assert_int_eq(r[100001], '>');
  ck_assert_int_eq(r[50000], 'q');
  free(big);
}
END_TEST

/* A request that cannot be met (it overflows a size_t) is an internal
 * error ("out of memory"), never a short block. */
START_TEST(arena_huge_request) {
  Guard g;
  ir_guard_push(&g);
  if (setjmp(g.jb) == 0) {
    void *p = arena_alloc(&arena, SIZE_MAX - 3);
    ir_guard_pop(&g);
    ck_abort_msg("arena_alloc(SIZE_MAX - 3) returned %p", p);
  }
  ck_assert_msg(strstr(g.msg, "out of memory") != NULL, "message: %s", g.msg);
  ck_assert_msg(strstr(g.msg, "internal error") != NULL, "message: %s", g.msg);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Buf                                                                     */

START_TEST(buf_growth) {
  Buf b = {0};
  for (int i = 0; i < 100000; i++) buf_putn(&b, &"abcdefghij"[i % 10], 1);
  ck_assert_uint_eq(b.len, 100000);
  ck_assert_uint_gt(b.cap, b.len);
  ck_assert_int_eq(b.s[b.len], '\0');
  ck_assert_uint_eq(strlen(b.s), 100000);
  for (int i = 0; i < 100000; i++)
    if (b.s[i] != 'a' + i % 10) ck_abort_msg("byte %d is '%c'", i, b.s[i]);
  ck_assert(!b.oom);
  buf_free(&b);
  ck_assert_ptr_null(b.s);
  ck_assert_uint_eq(b.len, 0);
  ck_assert_uint_eq(b.cap, 0);
}
END_TEST

START_TEST(buf_printf_and_puts) {
  Buf b = {0};
  buf_puts(&b, "x");
  buf_printf(&b, "[%d|%s|%03x]", -42, "str", 255);
  buf_putn(&b, "abcdef", 3);
  buf_puts(&b, "");
  buf_printf(&b, "%s", "");
  ck_assert_str_eq(b.s, "x[-42|str|0ff]abc");
  ck_assert_uint_eq(b.len, strlen("x[-42|str|0ff]abc"));
  /* One printf larger than the initial capacity, then more after it. */
  buf_printf(&b, "%0*d", 1000, 7);
  buf_printf(&b, "%s", "!end");
  ck_assert_uint_eq(b.len, 17 + 1000 + 4);
  ck_assert_int_eq(b.s[17], '0');
  ck_assert_int_eq(b.s[17 + 999], '7');
  ck_assert_str_eq(b.s + 17 + 1000, "!end");
  /* putn copies bytes, NULs included. */
  Buf z = {0};
  buf_putn(&z, "a\0b", 3);
  ck_assert_uint_eq(z.len, 3);
  ck_assert_int_eq(memcmp(z.s, "a\0b", 4), 0);
  buf_free(&z);
  buf_free(&b);
}
END_TEST

START_TEST(buf_take_and_free) {
  Buf b = {0};
  /* An empty buffer still gives a string. */
  char *e = buf_take(&b);
  ck_assert_ptr_nonnull(e);
  ck_assert_str_eq(e, "");
  free(e);
  buf_printf(&b, "%s %d", "one", 1);
  char *s = buf_take(&b);
  ck_assert_str_eq(s, "one 1");
  ck_assert_ptr_null(b.s);
  ck_assert_uint_eq(b.len, 0);
  ck_assert_uint_eq(b.cap, 0);
  /* The buffer is reusable after take, and independent of the string. */
  buf_puts(&b, "two");
  ck_assert_str_eq(b.s, "two");
  ck_assert_str_eq(s, "one 1");
  free(s);
  buf_free(&b);
  buf_free(&b);   /* twice is harmless */
  Buf never = {0};
  buf_free(&never);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Diagnostics                                                             */

static Source src_of(const char *text) {
  return (Source){"t.lr", text, strlen(text)};
}

/* The span of bytes [off, end) of s, located like the lexer locates. */
static Span span_at(const Source *s, uint32_t off, uint32_t end) {
  Span sp = {s, off, end, 0, 0};
  source_locate(s, off, &sp.line, &sp.col);
  return sp;
}

/* The span of the first occurrence of `what` in s. */
static Span span_of(const Source *s, const char *what) {
  const char *p = strstr(s->text, what);
  ck_assert_msg(p != NULL, "'%s' not in the source", what);
  uint32_t off = (uint32_t)(p - s->text);
  return span_at(s, off, off + (uint32_t)strlen(what));
}

/* Render one error with message "msg" at sp. */
static char *render1(Span sp) {
  Arena a;
  arena_init(&a);
  Diags d;
  diag_init(&d, &a);
  diag_error(&d, sp, "msg");
  Buf b = {0};
  diag_render(&d, &b);
  arena_fini(&a);
  return buf_take(&b);
}

#define RENDERS(sp, expected)                                                       \
  do {                                                                              \
    char *got_ = render1(sp);                                                       \
    ck_assert_msg(strcmp(got_, expected) == 0, "rendered\n%s\nexpected\n%s", got_, \
                  expected);                                                        \
    free(got_);                                                                     \
  } while (0)

START_TEST(diag_span_in_middle) {
  Source s = src_of("rnn a {\n  y = foo + bar\n}\n");
  Span sp = span_of(&s, "foo");
  ck_assert_int_eq(sp.line, 2);
  ck_assert_int_eq(sp.col, 7);
  RENDERS(sp, "t.lr:2:7: error: msg\n"
              "    2 |   y = foo + bar\n"
              "      |       ^~~\n");
  /* A one-character span is a caret alone; a zero-width one too. */
  RENDERS(span_of(&s, "+"), "t.lr:2:11: error: msg\n"
                            "    2 |   y = foo + bar\n"
                            "      |           ^\n");
  RENDERS(span_at(&s, 14, 14), "t.lr:2:7: error: msg\n"
                               "    2 |   y = foo + bar\n"
                               "      |       ^\n");
  /* The first line and the first column. */
  RENDERS(span_of(&s, "rnn"), "t.lr:1:1: error: msg\n"
                              "    1 | rnn a {\n"
                              "      | ^~~\n");
}
END_TEST

START_TEST(diag_span_at_end_of_line) {
  Source s = src_of("rnn a {\n  y = x +\n}");
  /* The newline itself (what "unexpected end of line" points at). */
  const char *nl = strchr(strchr(s.text, '+'), '\n');
  Span sp = span_at(&s, (uint32_t)(nl - s.text), (uint32_t)(nl - s.text) + 1);
  ck_assert_int_eq(sp.col, 10);
  RENDERS(sp, "t.lr:2:10: error: msg\n"
              "    2 |   y = x +\n"
              "      |          ^\n");
  /* The very end of the input, on a line without a newline. */
  RENDERS(span_at(&s, (uint32_t)s.len, (uint32_t)s.len), "t.lr:3:2: error: msg\n"
                                                         "    3 | }\n"
                                                         "      |  ^\n");
  /* A span running over the end of its line is cut there. */
  Span two = span_at(&s, (uint32_t)(strchr(s.text, 'y') - s.text), (uint32_t)s.len);
  RENDERS(two, "t.lr:2:3: error: msg\n"
               "    2 |   y = x +\n"
               "      |   ^~~~~~~\n");
}
END_TEST

START_TEST(diag_crlf_line) {
  /* A CRLF file: the carriage return is not part of what is shown. */
  Source s = src_of("rnn a {\r\n  y = foo\r\n}\r\n");
  RENDERS(span_of(&s, "foo"), "t.lr:2:7: error: msg\n"
                              "    2 |   y = foo\n"
                              "      |       ^~~\n");
  /* The end of the line is just after the last character shown. */
  const char *cr = strchr(strchr(s.text, 'f'), '\r');
  RENDERS(span_at(&s, (uint32_t)(cr - s.text) + 1, (uint32_t)(cr - s.text) + 2),
          "t.lr:2:11: error: msg\n"
          "    2 |   y = foo\n"
          "      |          ^\n");
}
END_TEST

START_TEST(diag_tabs) {
  /* Tabs before the span are copied into the caret line, so the caret
   * lands under the span whatever the terminal's tab width. */
  Source s = src_of("rnn a {\n\ty =\tfoo + 1\n}\n");
  Span sp = span_of(&s, "foo");
  ck_assert_int_eq(sp.col, 6);   /* a tab is one column */
  RENDERS(sp, "t.lr:2:6: error: msg\n"
              "    2 | \ty =\tfoo + 1\n"
              "      | \t   \t^~~\n");
  /* A tab inside the span is underlined to the next tab stop (8 columns;
   * the source text starts on one), so what follows stays aligned. */
  Source s2 = src_of("ab\tcd\n");
  RENDERS(span_at(&s2, 1, 4), "t.lr:1:2: error: msg\n"
                              "    1 | ab\tcd\n"
                              "      |  ^" "~~~~~~" "~\n");
  RENDERS(span_at(&s2, 2, 4), "t.lr:1:3: error: msg\n"
                              "    1 | ab\tcd\n"
                              "      |   ^" "~~~~~" "~\n");
}
END_TEST

START_TEST(diag_utf8_before_span) {
  /* Columns count characters: 'é' (2 bytes), '→' (3), '😀' (4) are one
   * column each, and the caret line has one space per character. */
  Source s = src_of("# é\n  α = β→😀 + foo # ü\n");
  Span sp = span_of(&s, "foo");
  ck_assert_int_eq(sp.line, 2);
  ck_assert_int_eq(sp.col, 13);
  RENDERS(sp, "t.lr:2:13: error: msg\n"
              "    2 |   α = β→😀 + foo # ü\n"
              "      |             ^~~\n");
  /* A span over multi-byte characters has one mark per character. */
  RENDERS(span_of(&s, "β→😀"), "t.lr:2:7: error: msg\n"
                                "    2 |   α = β→😀 + foo # ü\n"
                                "      |       ^~~\n");
}
END_TEST

START_TEST(diag_invalid_bytes) {
  /* An invalid byte is one character, shown as '?', as are control
   * characters; overlong forms and surrogates are invalid too. */
  Source s = src_of("x = \xff\x01 + \xc0\x80\xed\xa0\x80 + foo\n");
  Span sp = span_of(&s, "foo");
  ck_assert_int_eq(sp.col, 18);
  RENDERS(sp, "t.lr:1:18: error: msg\n"
              "    1 | x = ?? + ????? + foo\n"
              "      |                  ^~~\n");
  /* A lone byte of a multi-byte character at the end of the input. */
  Source t = src_of("ab\xe2\x88");
  RENDERS(span_at(&t, 2, 4), "t.lr:1:3: error: msg\n"
                             "    1 | ab??\n"
                             "      |   ^~\n");
}
END_TEST

START_TEST(diag_long_line) {
  /* 300 characters: a window of 160 around the span, "..." for the rest. */
  char text[400];
  for (int i = 0; i < 300; i++) text[i] = (char)('a' + i % 26);
  text[300] = '\n';
  text[301] = '\0';
  memcpy(text + 199, "XYZ", 3);
  Source s = src_of(text);
  Span sp = span_of(&s, "XYZ");
  ck_assert_int_eq(sp.col, 200);
  char expect[1024], shown[200], marks[200];
  /* skip = 199 - 80 = 119 characters; show characters 119 .. 278. */
  memcpy(shown, text + 119, 160);
  shown[160] = '\0';
  memset(marks, ' ', 80);
  memcpy(marks + 80, "^~~", 4);
  snprintf(expect, sizeof expect, "t.lr:1:200: error: msg\n    1 | ...%s...\n      |    %s\n",
           shown, marks);
  RENDERS(sp, expect);
  /* Near the start: no "..." before, only after. */
  Span early = span_at(&s, 10, 12);
  memcpy(shown, text, 160);
  snprintf(expect, sizeof expect, "t.lr:1:11: error: msg\n    1 | %s...\n      |           ^~\n",
           shown);
  RENDERS(early, expect);
  /* Near the end: "..." before only. */
  Span late = span_at(&s, 298, 300);
  memcpy(shown, text + 218, 82);
  shown[82] = '\0';
  memset(marks, ' ', 80);
  memcpy(marks + 80, "^~", 3);
  snprintf(expect, sizeof expect, "t.lr:1:299: error: msg\n    1 | ...%s\n      |    %s\n", shown,
           marks);
  RENDERS(late, expect);
}
END_TEST

START_TEST(diag_line_of_window_width) {
  /* A line exactly as wide as the window is shown whole, without "...". */
  char text[200];
  memset(text, 'w', 160);
  text[160] = '\0';
  Source s = src_of(text);
  char expect[512];
  snprintf(expect, sizeof expect, "t.lr:1:1: error: msg\n    1 | %s\n      | ^\n", text);
  RENDERS(span_at(&s, 0, 1), expect);
  /* One more character and the end is cut. */
  text[160] = 'v';
  text[161] = '\0';
  Source s2 = src_of(text);
  text[160] = '\0';
  snprintf(expect, sizeof expect, "t.lr:1:1: error: msg\n    1 | %s...\n      | ^\n", text);
  RENDERS(span_at(&s2, 0, 1), expect);
}
END_TEST

START_TEST(diag_notes_and_kinds) {
  Arena a;
  arena_init(&a);
  Diags d;
  diag_init(&d, &a);
  Source s = src_of("rnn a {\n  state S[K, V]\n  S = v\n}\n");
  /* A note before any diagnostic has nothing to attach to. */
  diag_note(&d, span_of(&s, "rnn"), "dropped");
  ck_assert_int_eq(d.v.len, 0);
  ck_assert(diag_error(&d, span_of(&s, "S = v"), "cannot assign a value of shape [%s] to state '%s'",
                       "V", "S"));
  diag_note(&d, span_of(&s, "S[K, V]"), "'%s' declared here as [K, V]", "S");
  diag_warning(&d, span_of(&s, "v\n"), "a warning");
  diag_error(&d, (Span){0}, "no location");
  ck_assert_int_eq(d.nerrors, 2);
  ck_assert_int_eq(d.v.len, 4);
  ck_assert_int_eq(d.v.data[1].kind, DIAG_NOTE);
  ck_assert_int_eq(d.v.data[2].kind, DIAG_WARNING);
  Buf b = {0};
  diag_render(&d, &b);
  ck_assert_str_eq(b.s, "t.lr:3:3: error: cannot assign a value of shape [V] to state 'S'\n"
                        "    3 |   S = v\n"
                        "      |   ^~~~~\n"
                        "t.lr:2:9: note: 'S' declared here as [K, V]\n"
                        "    2 |   state S[K, V]\n"
                        "      |         ^~~~~~~\n"
                        "t.lr:3:7: warning: a warning\n"
                        "    3 |   S = v\n"
                        "      |       ^\n"
                        "lrc: error: no location\n");
  /* diag_render_one renders the one it is given. */
  Buf one = {0};
  diag_render_one(&d.v.data[3], &one);
  ck_assert_str_eq(one.s, "lrc: error: no location\n");
  buf_free(&one);
  buf_free(&b);
  arena_fini(&a);
}
END_TEST

START_TEST(diag_error_limit) {
  Arena a;
  arena_init(&a);
  Diags d;
  diag_init(&d, &a);
  Source s = src_of("x\n");
  Span sp = span_of(&s, "x");
  for (int i = 0; i < LRC_MAX_ERRORS; i++) {
    ck_assert_msg(diag_error(&d, sp, "error %d", i), "error %d refused", i);
    diag_note(&d, sp, "note %d", i);
  }
  ck_assert_int_eq(d.nerrors, LRC_MAX_ERRORS);
  ck_assert(!d.too_many);
  ck_assert_int_eq(d.v.len, 2 * LRC_MAX_ERRORS);
  /* The next one is replaced by the stop message; later ones, their notes
   * and warnings are dropped. */
  ck_assert(!diag_error(&d, sp, "error %d", LRC_MAX_ERRORS));
  ck_assert(d.too_many);
  diag_note(&d, sp, "late note");
  diag_warning(&d, sp, "late warning");
  for (int i = 0; i < 100; i++) ck_assert(!diag_error(&d, sp, "more"));
  ck_assert_int_eq(d.nerrors, LRC_MAX_ERRORS);
  ck_assert_int_eq(d.v.len, 2 * LRC_MAX_ERRORS + 1);
  const Diag *last = &d.v.data[d.v.len - 1];
  ck_assert_int_eq(last->kind, DIAG_ERROR);
  ck_assert_str_eq(last->msg, "too many errors; stopping");
  Buf b = {0};
  diag_render(&d, &b);
  const char *tail = "t.lr:1:1: error: error 19\n    1 | x\n      | ^\n"
                     "t.lr:1:1: note: note 19\n    1 | x\n      | ^\n"
                     "lrc: error: too many errors; stopping\n";
  ck_assert_uint_ge(b.len, strlen(tail));
  ck_assert_str_eq(b.s + b.len - strlen(tail), tail);
  ck_assert_ptr_null(strstr(b.s, "late"));
  ck_assert_ptr_null(strstr(b.s, "error 20"));
  buf_free(&b);
  arena_fini(&a);
}
END_TEST

START_TEST(diag_long_message) {
  /* Messages have no length limit of their own. */
  Arena a;
  arena_init(&a);
  Diags d;
  diag_init(&d, &a);
  char *big = malloc(5001);
  memset(big, 'm', 5000);
  big[5000] = '\0';
  diag_error(&d, (Span){0}, "%s|%d", big, 42);
  ck_assert_uint_eq(strlen(d.v.data[0].msg), 5003);
  ck_assert_str_eq(d.v.data[0].msg + 5000, "|42");
  free(big);
  arena_fini(&a);
}
END_TEST

START_TEST(locate) {
  const char text[] = "ab\n\ncé\xff" "d\n\xf0\x9f\x98\x80x";
  Source s = {"t.lr", text, sizeof text - 1};
  static const struct { uint32_t off; int line, col; } cases[] = {
      {0, 1, 1},  {1, 1, 2},  {2, 1, 3},    /* the newline ends line 1 */
      {3, 2, 1},  {4, 3, 1},  {5, 3, 2},    /* 'é' is two bytes, one column */
      {7, 3, 3},  {8, 3, 4},  {9, 3, 5},    /* 0xFF is one column; 'd'; '\n' */
      {10, 4, 1}, {14, 4, 2}, {15, 4, 3},   /* a 4-byte emoji; the end */
      {1000, 4, 3},                          /* past the end: the end */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int line = -1, col = -1;
    source_locate(&s, cases[i].off, &line, &col);
    ck_assert_msg(line == cases[i].line && col == cases[i].col,
                  "offset %u: got %d:%d, expected %d:%d", cases[i].off, line, col,
                  cases[i].line, cases[i].col);
  }
  Source empty = {"e.lr", "", 0};
  int line, col;
  source_locate(&empty, 0, &line, &col);
  ck_assert_int_eq(line, 1);
  ck_assert_int_eq(col, 1);
}
END_TEST

START_TEST(join) {
  Source s = src_of("alpha beta gamma\n");
  Span a = span_of(&s, "alpha"), b = span_of(&s, "beta"), g = span_of(&s, "gamma");
  Span r = span_join(a, g);
  ck_assert_uint_eq(r.off, 0);
  ck_assert_uint_eq(r.end, 16);
  ck_assert_int_eq(r.col, 1);
  ck_assert_ptr_eq(r.src, &s);
  /* Order does not matter: the result starts where the earlier one does. */
  r = span_join(g, b);
  ck_assert_uint_eq(r.off, 6);
  ck_assert_uint_eq(r.end, 16);
  ck_assert_int_eq(r.col, 7);
  /* Nested spans: the outer one. */
  Span whole = span_at(&s, 0, 16);
  r = span_join(b, whole);
  ck_assert_uint_eq(r.off, 0);
  ck_assert_uint_eq(r.end, 16);
  /* A span without a source is no span. */
  r = span_join((Span){0}, b);
  ck_assert_uint_eq(r.off, b.off);
  ck_assert_uint_eq(r.end, b.end);
  r = span_join(b, (Span){0});
  ck_assert_uint_eq(r.off, b.off);
  ck_assert_uint_eq(r.end, b.end);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Internal errors                                                         */

static void fails_an_assertion(int x) { LRC_ASSERT(x == 42); }

START_TEST(guard_catches_assert) {
  Guard g;
  ir_guard_push(&g);
  ck_assert_str_eq(g.msg, "");
  volatile int reached = 0;
  if (setjmp(g.jb) == 0) {
    fails_an_assertion(7);
    reached = 1;
    ir_guard_pop(&g);
  }
  ck_assert_int_eq(reached, 0);
  ck_assert_msg(strstr(g.msg, "internal error") != NULL, "message: %s", g.msg);
  ck_assert_msg(strstr(g.msg, "check_support.c") != NULL, "message: %s", g.msg);
  ck_assert_msg(strstr(g.msg, "x == 42") != NULL, "message: %s", g.msg);
  ck_assert_msg(strstr(g.msg, "please report") != NULL, "message: %s", g.msg);
}
END_TEST

START_TEST(guard_nesting) {
  /* An error unwinds to the innermost guard and pops it; the next one goes
   * to the outer guard. */
  Guard outer, inner;
  ir_guard_push(&outer);
  volatile int stage = 0;
  if (setjmp(outer.jb) == 0) {
    ir_guard_push(&inner);
    if (setjmp(inner.jb) == 0) {
      LRC_UNREACHABLE();
    }
    stage = 1;
    ck_assert_msg(strstr(inner.msg, "unreachable") != NULL, "inner: %s", inner.msg);
    ck_assert_str_eq(outer.msg, "");
    ir_internal_error("somewhere.c", 12, "value %d out of %s", 3, "bounds");
  }
  ck_assert_int_eq(stage, 1);
  ck_assert_str_eq(outer.msg,
                   "internal error at somewhere.c:12: value 3 out of bounds (please report this "
                   "as a bug)");
  /* A push and pop in order leave no guard behind: an unguarded internal
   * error aborts (Check reports the signal). */
  Guard g;
  ir_guard_push(&g);
  ir_guard_pop(&g);
}
END_TEST

START_TEST(guard_long_message) {
  /* A long detail is cut to fit, and the message stays NUL-terminated. */
  char big[2000];
  memset(big, 'd', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  Guard g;
  ir_guard_push(&g);
  if (setjmp(g.jb) == 0) ir_internal_error(__FILE__, __LINE__, "%s", big);
  ck_assert_uint_lt(strlen(g.msg), sizeof g.msg);
  ck_assert_msg(strncmp(g.msg, "internal error at ", 18) == 0, "message: %s", g.msg);
}
END_TEST

START_TEST(unguarded_error_aborts) {
  if (!freopen("/dev/null", "w", stderr)) ck_abort_msg("cannot silence stderr");
  LRC_ASSERT(1 + 1 == 3);
}
END_TEST

Suite *support_suite(void) {
  Suite *s = suite_create("support");
  TCase *tc = tcase_create("arena");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, arena_alignment);
  tcase_add_test(tc, arena_zeroing);
  tcase_add_test(tc, arena_large);
  tcase_add_test(tc, arena_realloc_copies);
  tcase_add_test(tc, arena_strings);
  tcase_add_test(tc, arena_printf_formats);
  tcase_add_test(tc, arena_huge_request);
  suite_add_tcase(s, tc);

  tc = tcase_create("buf");
  tcase_add_test(tc, buf_growth);
  tcase_add_test(tc, buf_printf_and_puts);
  tcase_add_test(tc, buf_take_and_free);
  suite_add_tcase(s, tc);

  tc = tcase_create("diag");
  tcase_add_test(tc, diag_span_in_middle);
  tcase_add_test(tc, diag_span_at_end_of_line);
  tcase_add_test(tc, diag_crlf_line);
  tcase_add_test(tc, diag_tabs);
  tcase_add_test(tc, diag_utf8_before_span);
  tcase_add_test(tc, diag_invalid_bytes);
  tcase_add_test(tc, diag_long_line);
  tcase_add_test(tc, diag_line_of_window_width);
  tcase_add_test(tc, diag_notes_and_kinds);
  tcase_add_test(tc, diag_error_limit);
  tcase_add_test(tc, diag_long_message);
  tcase_add_test(tc, locate);
  tcase_add_test(tc, join);
  suite_add_tcase(s, tc);

  tc = tcase_create("guard");
  tcase_add_test(tc, guard_catches_assert);
  tcase_add_test(tc, guard_nesting);
  tcase_add_test(tc, guard_long_message);
  /* Without fork the abort would end the whole run. */
  const char *fork = getenv("CK_FORK");
  if (!fork || strcmp(fork, "no") != 0)
    tcase_add_test_raise_signal(tc, unguarded_error_aborts, SIGABRT);
  suite_add_tcase(s, tc);
  return s;
}
