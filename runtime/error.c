/* error.c — lrc_error objects: a status code, a message and, for errors in
 * source, the location of the first one. */
#include "rt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

lrc_status rt_error(lrc_error **err, lrc_status code, const char *fmt, ...) {
  if (!err) return code;
  lrc_error *e = calloc(1, sizeof *e);
  if (!e) {
    *err = NULL;
    return code;
  }
  Buf b = {0};
  va_list ap;
  va_start(ap, fmt);
  buf_vprintf(&b, fmt, ap);
  va_end(ap);
  e->code = code;
  e->message = buf_take(&b);
  *err = e;
  return code;
}

lrc_status lrc_error_code(const lrc_error *e) { return e ? e->code : LRC_OK; }

const char *lrc_error_message(const lrc_error *e) {
  if (!e) return "";
  return e->message ? e->message : "out of memory";
}

void lrc_error_location(const lrc_error *e, const char **file, int *line, int *col) {
  if (file) *file = e ? e->file : NULL;
  if (line) *line = e ? e->line : 0;
  if (col) *col = e ? e->col : 0;
}

void lrc_error_free(lrc_error *e) {
  if (!e) return;
  free(e->message);
  free(e->file);
  free(e);
}

void lrc_free(void *p) { free(p); }
