/* support.c — arena allocation, string buffers and internal errors.
 *
 * The arena hands out zeroed, 16-byte aligned memory from large blocks and
 * frees everything at once (QBE's per-function pools, one per compilation
 * here). Allocation failure inside the compiler is reported as an internal
 * error through the guard stack rather than by returning NULL everywhere.
 */
#include "ir.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------- */
/* Guards: where internal errors unwind to.                                */

static _Thread_local Guard *guard_top;

void ir_guard_push(Guard *g) {
  g->msg[0] = '\0';
  g->prev = guard_top;
  guard_top = g;
}

void ir_guard_pop(Guard *g) {
  LRC_ASSERT(guard_top == g);
  guard_top = g->prev;
}

_Noreturn void ir_internal_error(const char *file, int line, const char *fmt, ...) {
  char detail[300];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(detail, sizeof detail, fmt, ap);
  va_end(ap);
  Guard *g = guard_top;
  if (!g) {
    fprintf(stderr, "lrc: internal error at %s:%d: %s\n", file, line, detail);
    abort();
  }
  snprintf(g->msg, sizeof g->msg,
           "internal error at %s:%d: %s (please report this as a bug)", file,
           line, detail);
  guard_top = g->prev;
  longjmp(g->jb, 1);
}

/* ---------------------------------------------------------------------- */
/* Arena                                                                   */

struct ArenaBlock {
  ArenaBlock *next;
  size_t used, cap;
  _Alignas(16) unsigned char mem[];
};

enum { BLOCK_SIZE = 64 * 1024 };

void arena_init(Arena *a) {
  a->head = NULL;
  a->total = 0;
}

void arena_fini(Arena *a) {
  ArenaBlock *b = a->head;
  while (b) {
    ArenaBlock *next = b->next;
    free(b);
    b = next;
  }
  a->head = NULL;
  a->total = 0;
}

void *arena_alloc(Arena *a, size_t n) {
  /* A size that would wrap around when rounded up or with the block
   * header is more than any allocation can give. */
  if (n > SIZE_MAX - 16 - sizeof(ArenaBlock))
    ir_internal_error(__FILE__, __LINE__, "out of memory (%zu bytes)", n);
  n = (n + 15) & ~(size_t)15;
  if (n == 0) n = 16;
  ArenaBlock *b = a->head;
  if (!b || b->cap - b->used < n) {
    size_t cap = n > BLOCK_SIZE / 2 ? n : BLOCK_SIZE;
    b = malloc(sizeof *b + cap);
    if (!b) ir_internal_error(__FILE__, __LINE__, "out of memory (%zu bytes)", n);
    b->cap = cap;
    b->used = 0;
    /* A large private block goes behind the current one so the current
     * block's free space is not wasted. */
    if (cap > BLOCK_SIZE && a->head) {
      b->next = a->head->next;
      a->head->next = b;
    } else {
      b->next = a->head;
      a->head = b;
    }
  }
  void *p = b->mem + b->used;
  b->used += n;
  a->total += n;
  memset(p, 0, n);
  return p;
}

void *arena_realloc(Arena *a, void *p, size_t old, size_t n) {
  void *q = arena_alloc(a, n);
  if (p && old) memcpy(q, p, old < n ? old : n);
  return q;
}

char *arena_strndup(Arena *a, const char *s, size_t n) {
  char *p = arena_alloc(a, n + 1);
  memcpy(p, s, n);
  p[n] = '\0';
  return p;
}

char *arena_strdup(Arena *a, const char *s) { return arena_strndup(a, s, strlen(s)); }

char *arena_printf(Arena *a, const char *fmt, ...) {
  va_list ap, ap2;
  va_start(ap, fmt);
  va_copy(ap2, ap);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  char *p = arena_alloc(a, (size_t)n + 1);
  vsnprintf(p, (size_t)n + 1, fmt, ap2);
  va_end(ap2);
  return p;
}

/* ---------------------------------------------------------------------- */
/* Buf                                                                     */

static bool buf_reserve(Buf *b, size_t extra) {
  if (b->oom) return false;
  if (b->len + extra + 1 <= b->cap) return true;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < b->len + extra + 1) cap *= 2;
  char *s = realloc(b->s, cap);
  if (!s) {
    b->oom = true;
    return false;
  }
  b->s = s;
  b->cap = cap;
  return true;
}

void buf_putn(Buf *b, const char *s, size_t n) {
  if (!buf_reserve(b, n)) return;
  memcpy(b->s + b->len, s, n);
  b->len += n;
  b->s[b->len] = '\0';
}

void buf_puts(Buf *b, const char *s) { buf_putn(b, s, strlen(s)); }

void buf_vprintf(Buf *b, const char *fmt, va_list ap) {
  va_list ap2;
  va_copy(ap2, ap);
  int n = vsnprintf(NULL, 0, fmt, ap);
  if (n > 0 && buf_reserve(b, (size_t)n)) {
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap2);
    b->len += (size_t)n;
  }
  va_end(ap2);
}

void buf_printf(Buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  buf_vprintf(b, fmt, ap);
  va_end(ap);
}

char *buf_take(Buf *b) {
  char *s = b->s;
  if (!s && !b->oom) s = calloc(1, 1);
  b->s = NULL;
  b->len = b->cap = 0;
  b->oom = false;
  return s;
}

void buf_free(Buf *b) {
  free(b->s);
  b->s = NULL;
  b->len = b->cap = 0;
  b->oom = false;
}
