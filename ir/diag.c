/* diag.c — diagnostics: collected into a Diags list by the library and
 * rendered on request as
 *
 *   file:line:col: error: message
 *       3 |   S = tanh(S)
 *         |       ^~~~~~~
 *
 * Nothing here prints or exits: the caller (cli/) decides what to do with
 * the text. Columns count characters; invalid UTF-8 bytes count as one
 * character each and are shown as '?', as are control characters.
 */
#include "ir.h"

#include <stdio.h>
#include <string.h>

void diag_init(Diags *d, Arena *a) {
  memset(d, 0, sizeof *d);
  d->arena = a;
}

static void add(Diags *d, DiagKind k, Span sp, const char *fmt, va_list ap) {
  Buf b = {0};
  buf_vprintf(&b, fmt, ap);
  Diag g = {k, sp, arena_strdup(d->arena, b.s ? b.s : "")};
  buf_free(&b);
  VEC_PUSH(d->arena, d->v, g);
}

bool diag_error(Diags *d, Span sp, const char *fmt, ...) {
  if (d->too_many) return false;
  if (d->nerrors == LRC_MAX_ERRORS) {
    d->too_many = true;
    Diag g = {DIAG_ERROR, {0}, arena_strdup(d->arena, "too many errors; stopping")};
    VEC_PUSH(d->arena, d->v, g);
    return false;
  }
  d->nseen++;
  va_list ap;
  va_start(ap, fmt);
  Buf b = {0};
  buf_vprintf(&b, fmt, ap);
  va_end(ap);
  /* The same error at the same place (a fn body inlined at several call
   * sites) is reported once. */
  for (int i = 0; i < d->v.len; i++) {
    const Diag *g = &d->v.data[i];
    if (g->kind == DIAG_ERROR && g->span.src == sp.src && g->span.off == sp.off &&
        g->span.end == sp.end && b.s && strcmp(g->msg, b.s) == 0) {
      buf_free(&b);
      d->skip_notes = true;
      return true;
    }
  }
  Diag g = {DIAG_ERROR, sp, arena_strdup(d->arena, b.s ? b.s : "")};
  buf_free(&b);
  VEC_PUSH(d->arena, d->v, g);
  d->skip_notes = false;
  d->nerrors++;
  return true;
}

void diag_warning(Diags *d, Span sp, const char *fmt, ...) {
  if (d->too_many) return;
  d->skip_notes = false;
  va_list ap;
  va_start(ap, fmt);
  add(d, DIAG_WARNING, sp, fmt, ap);
  va_end(ap);
}

void diag_note(Diags *d, Span sp, const char *fmt, ...) {
  /* A note belongs to the diagnostic before it; drop it if that one was. */
  if (d->too_many || d->v.len == 0 || d->skip_notes) return;
  va_list ap;
  va_start(ap, fmt);
  add(d, DIAG_NOTE, sp, fmt, ap);
  va_end(ap);
}

/* Length in bytes of the UTF-8 sequence at s[0..n), or 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n) {
  unsigned c = s[0];
  size_t len;
  unsigned min;
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) len = 2, min = 0x80;
  else if (c >= 0xE0 && c <= 0xEF) len = 3, min = 0x800;
  else if (c >= 0xF0 && c <= 0xF4) len = 4, min = 0x10000;
  else return 0;
  if (n < len) return 0;
  unsigned cp = c & (0x7F >> len);
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (s[i] & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

/* Advance one character from byte i (invalid bytes are one character). */
static size_t next_char(const Source *s, size_t i) {
  size_t n = utf8_len((const unsigned char *)s->text + i, s->len - i);
  return i + (n ? n : 1);
}

void source_locate(const Source *s, uint32_t off, int *line, int *col) {
  int ln = 1, cl = 1;
  size_t i = 0;
  while (i < off && i < s->len) {
    if (s->text[i] == '\n') {
      ln++;
      cl = 1;
      i++;
    } else {
      cl++;
      i = next_char(s, i);
    }
  }
  *line = ln;
  *col = cl;
}

Span span_join(Span a, Span b) {
  if (!a.src) return b;
  if (!b.src) return a;
  Span r = a.off <= b.off ? a : b;
  r.end = a.end > b.end ? a.end : b.end;
  return r;
}

enum { WINDOW = 160 };   /* characters of a long line shown around the span */

static void render_excerpt(const Span *sp, Buf *out) {
  const Source *s = sp->src;
  if (sp->off > s->len) return;
  size_t bol = sp->off;
  while (bol > 0 && s->text[bol - 1] != '\n') bol--;
  size_t eol = sp->off;
  while (eol < s->len && s->text[eol] != '\n') eol++;
  if (eol > bol && s->text[eol - 1] == '\r') eol--;   /* CRLF: not shown as '?' */
  size_t end = sp->end > eol ? eol : sp->end;
  if (end <= sp->off) end = sp->off;

  /* Characters of the line, with the span's first and last character. */
  int first = sp->col - 1, width = 0;
  for (size_t i = sp->off; i < end; i = next_char(s, i)) width++;
  if (width == 0) width = 1;
  int skip = first > WINDOW / 2 ? first - WINDOW / 2 : 0;

  Buf line = {0}, mark = {0};
  int c = 0, dcol = 0;   /* dcol: display column, for tabs (stops every 8) */
  if (skip) {
    buf_puts(&line, "...");
    buf_puts(&mark, "   ");
    dcol = 3;
  }
  size_t i = bol;
  for (; i < eol && c < skip + WINDOW; c++) {
    size_t n = utf8_len((const unsigned char *)s->text + i, s->len - i);
    unsigned char ch = (unsigned char)s->text[i];
    if (c >= skip) {
      const char *m = c < first ? " " : c == first ? "^" : c < first + width ? "~" : NULL;
      if (ch == '\t') {
        /* The text starts on a tab stop ("%5d | " is 8 wide): a tab before
         * the span is copied; one inside it is underlined to the stop. */
        int tw = 8 - dcol % 8;
        buf_putn(&line, "\t", 1);
        if (m && c < first) buf_puts(&mark, "\t");
        else if (m) {
          buf_puts(&mark, m);
          for (int k = 1; k < tw; k++) buf_puts(&mark, "~");
        }
        dcol += tw;
      } else {
        dcol++;
        if (n == 0 || (n == 1 && (ch < 0x20 || ch == 0x7F))) buf_putn(&line, "?", 1);
        else buf_putn(&line, s->text + i, n);
        if (m) buf_puts(&mark, m);
      }
    }
    i += n ? n : 1;
  }
  if (i < eol) buf_puts(&line, "...");   /* the line goes on past the window */
  if (c <= first && c >= skip) buf_puts(&mark, "^");   /* span at end of line */
  buf_printf(out, "%5d | %s\n      | %s\n", sp->line, line.s ? line.s : "",
             mark.s ? mark.s : "^");
  buf_free(&line);
  buf_free(&mark);
}

void diag_render_one(const Diag *g, Buf *out) {
  static const char *kinds[] = {"error", "warning", "note"};
  if (g->span.src)
    buf_printf(out, "%s:%d:%d: %s: %s\n", g->span.src->name, g->span.line, g->span.col,
               kinds[g->kind], g->msg);
  else
    buf_printf(out, "lrc: %s: %s\n", kinds[g->kind], g->msg);
  if (g->span.src) render_excerpt(&g->span, out);
}

void diag_render(const Diags *d, Buf *out) {
  for (int i = 0; i < d->v.len; i++) diag_render_one(&d->v.data[i], out);
}
