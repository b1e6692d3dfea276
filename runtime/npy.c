/* npy.c — NumPy .npy files: version 1.0 and 2.0 headers, little-endian
 * <f4 <f8 <f2 <i4 <i8, C order. Anything else (big-endian, Fortran order,
 * object arrays, a truncated file, a malformed header) is an error that
 * names the file and what was expected.
 *
 * Format: "\x93NUMPY", major, minor, header length (u16 for 1.x, u32 for
 * 2.x, little-endian), then an ASCII Python dict literal
 * {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } padded with
 * spaces and a newline so that the data starts at a multiple of 64 bytes.
 */
#include "rt.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
  const char *descr;
  lrc_dtype dtype;
} descrs[] = {
    {"<f4", LRC_F32}, {"<f8", LRC_F64}, {"<f2", LRC_F16}, {"<i4", LRC_I32}, {"<i8", LRC_I64},
};

/* Find `'key':` in the header dict; returns the text after the colon. */
static const char *dict_value(const char *h, const char *key) {
  char pat[64];
  snprintf(pat, sizeof pat, "'%s'", key);
  const char *p = strstr(h, pat);
  if (!p) {
    snprintf(pat, sizeof pat, "\"%s\"", key);
    p = strstr(h, pat);
  }
  if (!p) return NULL;
  p += strlen(pat);
  while (isspace((unsigned char)*p)) p++;
  if (*p != ':') return NULL;
  p++;
  while (isspace((unsigned char)*p)) p++;
  return p;
}

static int parse_header(const char *path, const char *h, lrc_tensor *t, lrc_error **err) {
  if (h[0] != '{')
    return rt_error(err, LRC_ERR_IO, "%s: malformed .npy header (expected a dict)", path);
  const char *d = dict_value(h, "descr");
  if (!d || (*d != '\'' && *d != '"'))
    return rt_error(err, LRC_ERR_IO, "%s: .npy header has no 'descr'", path);
  char descr[32];
  size_t n = 0;
  char q = *d++;
  while (*d && *d != q && n < sizeof descr - 1) descr[n++] = *d++;
  descr[n] = '\0';
  int found = -1;
  for (size_t i = 0; i < sizeof descrs / sizeof descrs[0]; i++)
    if (strcmp(descrs[i].descr, descr) == 0) found = (int)i;
  if (found < 0)
    return rt_error(err, LRC_ERR_IO,
                    "%s: unsupported .npy dtype '%s'; expected one of <f4 <f8 <f2 <i4 <i8 "
                    "(little-endian)",
                    path, descr);
  const char *f = dict_value(h, "fortran_order");
  if (!f) return rt_error(err, LRC_ERR_IO, "%s: .npy header has no 'fortran_order'", path);
  if (strncmp(f, "True", 4) == 0)
    return rt_error(err, LRC_ERR_IO,
                    "%s: Fortran-ordered .npy arrays are not supported; save a C-ordered copy "
                    "(numpy.ascontiguousarray)",
                    path);
  if (strncmp(f, "False", 5) != 0)
    return rt_error(err, LRC_ERR_IO, "%s: bad 'fortran_order' in .npy header", path);
  const char *s = dict_value(h, "shape");
  if (!s || *s != '(') return rt_error(err, LRC_ERR_IO, "%s: .npy header has no 'shape'", path);
  s++;
  t->ndim = 0;
  for (;;) {
    while (isspace((unsigned char)*s)) s++;
    if (*s == ')') break;
    if (!isdigit((unsigned char)*s))
      return rt_error(err, LRC_ERR_IO, "%s: bad 'shape' in .npy header", path);
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno || v < 0 || v > (1LL << 40))
      return rt_error(err, LRC_ERR_IO, "%s: dimension out of range in .npy header", path);
    if (t->ndim == LRC_MAX_NDIM)
      return rt_error(err, LRC_ERR_IO, "%s: more than %d dims", path, LRC_MAX_NDIM);
    t->shape[t->ndim++] = v;
    s = end;
    while (isspace((unsigned char)*s)) s++;
    if (*s == ',') s++;
    else if (*s != ')') return rt_error(err, LRC_ERR_IO, "%s: bad 'shape' in .npy header", path);
  }
  t->dtype = descrs[found].dtype;
  return LRC_OK;
}

int lrc_npy_read(const char *path, lrc_tensor *t, lrc_error **err) {
  memset(t, 0, sizeof *t);
  FILE *f = fopen(path, "rb");
  if (!f) return rt_error(err, LRC_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
  unsigned char pre[12];
  char *h = NULL;
  int rc = LRC_OK;
  size_t got = fread(pre, 1, 10, f);
  if (got < 10 || memcmp(pre, "\x93NUMPY", 6) != 0) {
    rc = rt_error(err, LRC_ERR_IO, "%s: not a .npy file (bad magic)", path);
    goto done;
  }
  unsigned major = pre[6];
  size_t hlen;
  if (major == 1) {
    hlen = pre[8] | (size_t)pre[9] << 8;
  } else if (major == 2) {
    if (fread(pre + 10, 1, 2, f) != 2) {
      rc = rt_error(err, LRC_ERR_IO, "%s: truncated .npy header", path);
      goto done;
    }
    hlen = pre[8] | (size_t)pre[9] << 8 | (size_t)pre[10] << 16 | (size_t)pre[11] << 24;
  } else {
    rc = rt_error(err, LRC_ERR_IO, "%s: .npy format version %u.%u; expected 1.0 or 2.0", path,
                  major, pre[7]);
    goto done;
  }
  if (hlen > (1u << 20)) {
    rc = rt_error(err, LRC_ERR_IO, "%s: .npy header of %zu bytes is implausible", path, hlen);
    goto done;
  }
  h = malloc(hlen + 1);
  if (!h || fread(h, 1, hlen, f) != hlen) {
    rc = rt_error(err, h ? LRC_ERR_IO : LRC_ERR_NOMEM, "%s: truncated .npy header", path);
    goto done;
  }
  h[hlen] = '\0';
  if (memchr(h, '\0', hlen)) {
    rc = rt_error(err, LRC_ERR_IO, "%s: malformed .npy header", path);
    goto done;
  }
  rc = parse_header(path, h, t, err);
  if (rc) goto done;
  int64_t n = lrc_tensor_numel(t);
  size_t bytes = (size_t)n * rt_dtype_size(t->dtype);
  t->data = malloc(bytes ? bytes : 1);
  if (!t->data) {
    rc = rt_error(err, LRC_ERR_NOMEM, "%s: out of memory for %lld elements", path, (long long)n);
    goto done;
  }
  if (fread(t->data, 1, bytes, f) != bytes) {
    rc = rt_error(err, LRC_ERR_IO, "%s: truncated .npy data (expected %zu bytes for shape %s)",
                  path, bytes, "given in its header");
    free(t->data);
    t->data = NULL;
    goto done;
  }
  if (fgetc(f) != EOF) {
    rc = rt_error(err, LRC_ERR_IO, "%s: trailing bytes after the .npy data", path);
    free(t->data);
    t->data = NULL;
  }
done:
  free(h);
  fclose(f);
  return rc;
}

int lrc_npy_write(const char *path, const lrc_tensor *t, lrc_error **err) {
  const char *descr = NULL;
  lrc_dtype dt = t->dtype;
  if (dt == LRC_BF16) dt = LRC_F32;            /* numpy has no bfloat16 */
  for (size_t i = 0; i < sizeof descrs / sizeof descrs[0]; i++)
    if (descrs[i].dtype == dt) descr = descrs[i].descr;
  if (!descr) return rt_error(err, LRC_ERR_USAGE, "cannot write dtype %s to .npy", lrc_dtype_name(dt));
  char shape[LRC_MAX_NDIM * 24 + 8] = "(";
  for (int i = 0; i < t->ndim; i++)
    snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "%lld,%s",
             (long long)t->shape[i], i + 1 < t->ndim ? " " : "");
  strcat(shape, ")");
  char dict[sizeof shape + 96];
  int dl = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }",
                    descr, shape);
  size_t total = 10 + (size_t)dl + 1;
  size_t pad = (64 - total % 64) % 64;
  size_t hlen = (size_t)dl + pad + 1;
  FILE *f = fopen(path, "wb");
  if (!f) return rt_error(err, LRC_ERR_IO, "cannot write '%s': %s", path, strerror(errno));
  unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hlen & 0xFF),
                           (unsigned char)(hlen >> 8)};
  bool ok = fwrite(pre, 1, 10, f) == 10 && fwrite(dict, 1, (size_t)dl, f) == (size_t)dl;
  for (size_t i = 0; ok && i < pad; i++) ok = fputc(' ', f) != EOF;
  ok = ok && fputc('\n', f) != EOF;
  int64_t n = lrc_tensor_numel(t);
  size_t es = rt_dtype_size(dt);
  void *tmp = malloc((size_t)(n ? n : 1) * es);
  if (!tmp) {
    fclose(f);
    return rt_error(err, LRC_ERR_NOMEM, "out of memory writing '%s'", path);
  }
  rt_pack(t, tmp, dt);
  ok = ok && fwrite(tmp, es, (size_t)n, f) == (size_t)n;
  free(tmp);
  if (fclose(f) != 0) ok = false;
  if (!ok) return rt_error(err, LRC_ERR_IO, "cannot write '%s': %s", path, strerror(errno));
  return LRC_OK;
}
