/* cache.c — the on-disk kernel cache.
 *
 * An entry is one file named by a 128-bit hash of its key (the source
 * text, rnn name, dim sizes, options, target CPU and features, lrc
 * version). Its contents:
 *
 *   "LRCK" u32 format | u64 key length | key | u64 payload length |
 *   u64 payload checksum | payload (an object file)
 *
 * A reader checks the magic, the full key (so hash collisions cannot
 * return another kernel), the lengths and the checksum; anything wrong
 * means "not cached" and the entry is rebuilt. Writers write a temporary
 * file in the same directory and rename it into place, so concurrent
 * processes never see a partial entry (the last writer wins; all write the
 * same bytes).
 */
#include "rt.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { CACHE_FORMAT = 1 };

static uint64_t fnv1a(const void *p, size_t n, uint64_t h) {
  const unsigned char *s = p;
  for (size_t i = 0; i < n; i++) h = (h ^ s[i]) * 1099511628211ull;
  return h;
}

/* A second, independent 64-bit hash (multiply-xorshift over 8-byte words). */
static uint64_t mix64(const void *p, size_t n) {
  const unsigned char *s = p;
  uint64_t h = 0x9E3779B97F4A7C15ull ^ n;
  for (size_t i = 0; i < n; i++) {
    h ^= s[i];
    h *= 0xBF58476D1CE4E5B9ull;
    h ^= h >> 31;
  }
  return h;
}

uint64_t rt_checksum(const void *p, size_t n) { return fnv1a(p, n, 14695981039346656037ull); }

/* mkdir -p */
static int make_dirs(const char *path) {
  char tmp[4096];
  size_t n = strlen(path);
  if (n >= sizeof tmp) return -1;
  memcpy(tmp, path, n + 1);
  for (char *p = tmp + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
    *p = '/';
  }
  if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
  return 0;
}

char *rt_cache_dir(const char *configured) {
  const char *env = getenv("LRC_CACHE_DIR");
  Buf b = {0};
  if (configured && *configured) buf_puts(&b, configured);
  else if (env && *env) buf_puts(&b, env);
  else if ((env = getenv("XDG_CACHE_HOME")) && *env) buf_printf(&b, "%s/lrc", env);
  else if ((env = getenv("HOME")) && *env) buf_printf(&b, "%s/.cache/lrc", env);
  else buf_puts(&b, "/tmp/lrc-cache");
  return buf_take(&b);
}

static char *entry_path(const char *dir, const char *key, size_t keylen) {
  Buf b = {0};
  buf_printf(&b, "%s/%016llx%016llx.lrck", dir, (unsigned long long)fnv1a(key, keylen, 14695981039346656037ull),
             (unsigned long long)mix64(key, keylen));
  return buf_take(&b);
}

static bool read_all(FILE *f, void *p, size_t n) { return fread(p, 1, n, f) == n; }

int rt_cache_get(const char *dir, const char *key, size_t keylen, void **payload, size_t *len) {
  char *path = entry_path(dir, key, keylen);
  FILE *f = path ? fopen(path, "rb") : NULL;
  free(path);
  if (!f) return -1;
  char magic[4];
  uint32_t fmt;
  uint64_t klen, plen, sum;
  void *kbuf = NULL, *pbuf = NULL;
  int rc = -1;
  if (!read_all(f, magic, 4) || memcmp(magic, "LRCK", 4) != 0) goto done;
  if (!read_all(f, &fmt, 4) || fmt != CACHE_FORMAT) goto done;
  if (!read_all(f, &klen, 8) || klen != keylen) goto done;
  kbuf = malloc(keylen + 1);
  if (!kbuf || !read_all(f, kbuf, keylen) || memcmp(kbuf, key, keylen) != 0) goto done;
  if (!read_all(f, &plen, 8) || plen > (1ull << 31) || !read_all(f, &sum, 8)) goto done;
  pbuf = malloc(plen ? plen : 1);
  if (!pbuf || !read_all(f, pbuf, plen) || fgetc(f) != EOF) goto done;
  if (rt_checksum(pbuf, plen) != sum) goto done;
  *payload = pbuf;
  *len = plen;
  pbuf = NULL;
  rc = 0;
done:
  free(kbuf);
  free(pbuf);
  fclose(f);
  return rc;
}

int rt_cache_put(const char *dir, const char *key, size_t keylen, const void *payload, size_t len) {
  if (make_dirs(dir) != 0) return -1;
  char *path = entry_path(dir, key, keylen);
  if (!path) return -1;
  Buf tmpname = {0};
  buf_printf(&tmpname, "%s.tmp.XXXXXX", path);
  int fd = tmpname.s ? mkstemp(tmpname.s) : -1;
  int rc = -1;
  if (fd >= 0) {
    FILE *f = fdopen(fd, "wb");
    if (f) {
      uint32_t fmt = CACHE_FORMAT;
      uint64_t klen = keylen, plen = len, sum = rt_checksum(payload, len);
      bool ok = fwrite("LRCK", 1, 4, f) == 4 && fwrite(&fmt, 4, 1, f) == 1 &&
                fwrite(&klen, 8, 1, f) == 1 && fwrite(key, 1, keylen, f) == keylen &&
                fwrite(&plen, 8, 1, f) == 1 && fwrite(&sum, 8, 1, f) == 1 &&
                fwrite(payload, 1, len, f) == len;
      if (fclose(f) != 0) ok = false;
      if (ok && rename(tmpname.s, path) == 0) rc = 0;
    } else {
      close(fd);
    }
    if (rc != 0) unlink(tmpname.s);
  }
  buf_free(&tmpname);
  free(path);
  return rc;
}
