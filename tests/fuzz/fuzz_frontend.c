/* fuzz_frontend.c — libFuzzer target over the front end (make fuzz).
 *
 * Every input is compiled through the public API. The first byte picks a
 * mode: bit 0 binds dims through lrc_options (sizes from the next byte),
 * bit 1 also asks for the canonical graph and the plan. A compile that
 * succeeds must print as AST, IR and DOT; one that fails must fail as a
 * user error with a located diagnostic. An internal error, a crash, a hang
 * or a leak is a finding.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lrc.h"

static void check_emit(lrc_module *m, lrc_emit_kind kind) {
  lrc_error *err = NULL;
  char *s = lrc_emit(m, NULL, kind, &err);
  if (!s) {
    lrc_status st = lrc_error_code(err);
    if (st == LRC_ERR_INTERNAL || (kind <= LRC_EMIT_DOT)) {
      fprintf(stderr, "lrc_emit(%d) failed: %s\n", (int)kind, lrc_error_message(err));
      abort();
    }
  }
  lrc_free(s);
  lrc_error_free(err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  unsigned mode = size ? data[0] : 0;
  uint8_t sz = size > 1 ? data[1] : 0;
  const char *src = size > 2 ? (const char *)data + 2 : "";
  size_t len = size > 2 ? size - 2 : 0;
  lrc_ctx *ctx = lrc_ctx_new();
  lrc_options o;
  lrc_options_init(&o);
  o.filename = "t.lr";
  lrc_dim dims[] = {{"K", 1 + sz % 7}, {"V", 1 + sz % 5}, {"D", 2}};
  if (mode & 1) {
    o.dims = dims;
    o.ndims = 3;
  }
  lrc_error *err = NULL;
  lrc_module *m = lrc_compile_buffer(ctx, src, len, &o, &err);
  if (m) {
    check_emit(m, LRC_EMIT_AST);
    check_emit(m, LRC_EMIT_IR);
    check_emit(m, LRC_EMIT_DOT);
    if (mode & 2) {
      check_emit(m, LRC_EMIT_CANON);
      check_emit(m, LRC_EMIT_PLAN);
    }
  } else {
    const char *msg = lrc_error_message(err);
    lrc_status st = lrc_error_code(err);
    /* Dims bound in the options that the source lacks are a usage error
     * without a location; everything else is located in t.lr. */
    bool usage = st == LRC_ERR_SOURCE && strncmp(msg, "lrc: error: --dim", 17) == 0;
    if (st != LRC_ERR_SOURCE || (!usage && strncmp(msg, "t.lr:", 5) != 0)) {
      fprintf(stderr, "unexpected failure (code %d): %s\n", (int)st, msg);
      abort();
    }
  }
  lrc_module_free(m);
  lrc_error_free(err);
  lrc_ctx_free(ctx);
  return 0;
}
