/* tensor.c — tensor views: allocation, element conversion between dtypes
 * (IEEE half and bfloat16 included), strided gathers and scatters.
 *
 * Kernels take contiguous float32; a caller's tensor of another dtype or
 * with strides is packed into a temporary on the way in (rt_pack) and
 * unpacked on the way out (rt_unpack).
 */
#include "rt.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *lrc_dtype_name(lrc_dtype d) {
  static const char *names[] = {"float32", "float64", "float16", "bfloat16", "int32", "int64"};
  return (unsigned)d < sizeof names / sizeof names[0] ? names[d] : "unknown";
}

size_t rt_dtype_size(lrc_dtype d) {
  static const size_t sizes[] = {4, 8, 2, 2, 4, 8};
  return (unsigned)d < sizeof sizes / sizeof sizes[0] ? sizes[d] : 0;
}

int64_t lrc_tensor_numel(const lrc_tensor *t) {
  int64_t n = 1;
  for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
  return n;
}

int lrc_tensor_alloc(lrc_tensor *t, lrc_dtype dtype, int ndim, const int64_t *shape,
                     lrc_error **err) {
  memset(t, 0, sizeof *t);
  if (ndim < 0 || ndim > LRC_MAX_NDIM)
    return rt_error(err, LRC_ERR_USAGE, "a tensor has at most %d dims", LRC_MAX_NDIM);
  if (rt_dtype_size(dtype) == 0) return rt_error(err, LRC_ERR_USAGE, "unknown dtype %d", dtype);
  t->dtype = dtype;
  t->ndim = ndim;
  int64_t n = 1;
  for (int i = 0; i < ndim; i++) {
    if (shape[i] < 0 || (shape[i] && n > INT64_MAX / 16 / shape[i]))
      return rt_error(err, LRC_ERR_USAGE, "tensor shape too large");
    t->shape[i] = shape[i];
    n *= shape[i];
  }
  t->data = calloc((size_t)(n ? n : 1), rt_dtype_size(dtype));
  if (!t->data)
    return rt_error(err, LRC_ERR_NOMEM, "out of memory allocating %lld elements", (long long)n);
  return LRC_OK;
}

void lrc_tensor_free(lrc_tensor *t) {
  if (!t) return;
  free(t->data);
  t->data = NULL;
}

/* ---------------------------------------------------------------------- */
/* Element conversion                                                      */

static float half_to_float(uint16_t h) {
  uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1F, man = h & 0x3FF, bits;
  if (exp == 0) {
    if (man == 0) bits = sign;
    else {                                  /* subnormal: normalise */
      int e = -1;
      do {
        e++;
        man <<= 1;
      } while (!(man & 0x400));
      bits = sign | (uint32_t)(127 - 15 - e) << 23 | (man & 0x3FF) << 13;
    }
  } else if (exp == 31) {
    bits = sign | 0x7F800000u | man << 13;
  } else {
    bits = sign | (exp + 127 - 15) << 23 | man << 13;
  }
  float f;
  memcpy(&f, &bits, 4);
  return f;
}

static uint16_t float_to_half(float f) {
  uint32_t x;
  memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000;
  int32_t exp = (int32_t)((x >> 23) & 0xFF) - 127 + 15;
  uint32_t man = x & 0x7FFFFF;
  if (((x >> 23) & 0xFF) == 0xFF) return (uint16_t)(sign | 0x7C00 | (man ? 0x200 : 0));
  if (exp >= 31) return (uint16_t)(sign | 0x7C00);          /* overflow: inf */
  if (exp <= 0) {                                           /* subnormal or zero */
    if (exp < -10) return (uint16_t)sign;
    man |= 0x800000;
    uint32_t shift = (uint32_t)(14 - exp);
    uint32_t h = man >> shift, rem = man & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (h & 1))) h++;
    return (uint16_t)(sign | h);
  }
  uint32_t h = sign | (uint32_t)exp << 10 | man >> 13, rem = man & 0x1FFF;
  if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) h++;     /* round to nearest even */
  return (uint16_t)h;
}

static float bf16_to_float(uint16_t b) {
  uint32_t bits = (uint32_t)b << 16;
  float f;
  memcpy(&f, &bits, 4);
  return f;
}

static uint16_t float_to_bf16(float f) {
  uint32_t x;
  memcpy(&x, &f, 4);
  if ((x & 0x7F800000) == 0x7F800000 && (x & 0x7FFFFF)) return (uint16_t)((x >> 16) | 0x40);
  x += 0x7FFF + ((x >> 16) & 1);                            /* round to nearest even */
  return (uint16_t)(x >> 16);
}

double rt_get(const void *p, lrc_dtype d, int64_t i) {
  switch (d) {
  case LRC_F32: return ((const float *)p)[i];
  case LRC_F64: return ((const double *)p)[i];
  case LRC_F16: return half_to_float(((const uint16_t *)p)[i]);
  case LRC_BF16: return bf16_to_float(((const uint16_t *)p)[i]);
  case LRC_I32: return ((const int32_t *)p)[i];
  case LRC_I64: return (double)((const int64_t *)p)[i];
  }
  return NAN;
}

void rt_set(void *p, lrc_dtype d, int64_t i, double v) {
  switch (d) {
  case LRC_F32: ((float *)p)[i] = (float)v; return;
  case LRC_F64: ((double *)p)[i] = v; return;
  case LRC_F16: ((uint16_t *)p)[i] = float_to_half((float)v); return;
  case LRC_BF16: ((uint16_t *)p)[i] = float_to_bf16((float)v); return;
  case LRC_I32: ((int32_t *)p)[i] = (int32_t)v; return;
  case LRC_I64: ((int64_t *)p)[i] = (int64_t)v; return;
  }
}

bool rt_is_contiguous(const lrc_tensor *t) {
  int64_t st = 1;
  bool all_zero = true;
  for (int i = 0; i < t->ndim; i++) all_zero &= t->strides[i] == 0;
  if (all_zero) return true;
  for (int i = t->ndim - 1; i >= 0; i--) {
    if (t->shape[i] != 1 && t->strides[i] != st) return false;
    st *= t->shape[i];
  }
  return true;
}

/* Element offset of the i-th element (C order) of a strided tensor. */
static int64_t strided_offset(const lrc_tensor *t, int64_t i) {
  int64_t off = 0;
  for (int d = t->ndim - 1; d >= 0; d--) {
    int64_t n = t->shape[d];
    off += (i % n) * t->strides[d];
    i /= n;
  }
  return off;
}

/* Copy the tensor's elements in C order into `dst` of dtype `dt`. */
void rt_pack(const lrc_tensor *t, void *dst, lrc_dtype dt) {
  int64_t n = lrc_tensor_numel(t);
  bool contig = rt_is_contiguous(t);
  if (contig && t->dtype == dt) {
    memcpy(dst, t->data, (size_t)n * rt_dtype_size(dt));
    return;
  }
  for (int64_t i = 0; i < n; i++)
    rt_set(dst, dt, i, rt_get(t->data, t->dtype, contig ? i : strided_offset(t, i)));
}

/* The inverse: elements in C order from `src` of dtype `st` into t. */
void rt_unpack(const lrc_tensor *t, const void *src, lrc_dtype st) {
  int64_t n = lrc_tensor_numel(t);
  bool contig = rt_is_contiguous(t);
  if (contig && t->dtype == st) {
    memcpy(t->data, src, (size_t)n * rt_dtype_size(st));
    return;
  }
  for (int64_t i = 0; i < n; i++)
    rt_set(t->data, t->dtype, contig ? i : strided_offset(t, i), rt_get(src, st, i));
}
