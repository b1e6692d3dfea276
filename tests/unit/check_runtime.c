/* check_runtime.c — the runtime: .npy files, dtype conversion, strided
 * views, the kernel cache (corruption, collisions, concurrent writers),
 * running kernels through lrc.h on the caller's tensors, and `lrc run`. */
#include "../test.h"
#include "runtime/rt.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char tmpdir[64];

static void setup(void) {
  strcpy(tmpdir, "/tmp/lrc-rt-XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void teardown(void) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
  if (system(cmd) != 0) {
  }
}

static const char *tpath(const char *name) {
  static char buf[4][256];
  static int k;
  k = (k + 1) % 4;
  snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
  return buf[k];
}

static void write_bytes(const char *path, const void *p, size_t n) {
  FILE *f = fopen(path, "wb");
  ck_assert_ptr_nonnull(f);
  ck_assert_uint_eq(fwrite(p, 1, n, f), n);
  fclose(f);
}

/* ---------------------------------------------------------------------- */
/* .npy                                                                    */

START_TEST(npy_round_trip) {
  static const lrc_dtype types[] = {LRC_F32, LRC_F64, LRC_F16, LRC_I32, LRC_I64};
  int64_t shapes[][3] = {{2, 3, 5}, {7, 1, 1}, {0, 4, 1}};
  int nds[] = {3, 1, 2};
  for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
    for (int si = 0; si < 3; si++) {
      lrc_tensor t;
      ck_assert_int_eq(lrc_tensor_alloc(&t, types[ti], nds[si], shapes[si], NULL), LRC_OK);
      for (int64_t i = 0; i < lrc_tensor_numel(&t); i++) rt_set(t.data, t.dtype, i, (double)(i % 17) - 8.5 * (types[ti] <= LRC_F16));
      lrc_error *err = NULL;
      ck_assert_int_eq(lrc_npy_write(tpath("a.npy"), &t, &err), LRC_OK);
      lrc_tensor r;
      ck_assert_int_eq(lrc_npy_read(tpath("a.npy"), &r, &err), LRC_OK);
      ck_assert_int_eq(r.dtype, t.dtype);
      ck_assert_int_eq(r.ndim, t.ndim);
      for (int d = 0; d < t.ndim; d++) ck_assert_int_eq(r.shape[d], t.shape[d]);
      for (int64_t i = 0; i < lrc_tensor_numel(&t); i++)
        ck_assert_double_eq(rt_get(r.data, r.dtype, i), rt_get(t.data, t.dtype, i));
      /* The data starts at a multiple of 64 bytes, as NumPy writes it. */
      struct stat st;
      stat(tpath("a.npy"), &st);
      ck_assert_int_eq((st.st_size - lrc_tensor_numel(&t) * (int64_t)rt_dtype_size(t.dtype)) % 64, 0);
      lrc_tensor_free(&t);
      lrc_tensor_free(&r);
    }
  }
}
END_TEST

START_TEST(npy_version2_and_scalar) {
  /* A 2.0 header (u32 length) for a 0-d float64. */
  const char dict[] = "{'descr': '<f8', 'fortran_order': False, 'shape': (), }";
  unsigned char buf[256] = {0x93, 'N', 'U', 'M', 'P', 'Y', 2, 0};
  size_t hl = sizeof dict - 1 + 1;
  buf[8] = (unsigned char)hl;
  memcpy(buf + 12, dict, sizeof dict - 1);
  buf[12 + sizeof dict - 1] = '\n';
  double v = 2.5;
  memcpy(buf + 12 + hl, &v, 8);
  write_bytes(tpath("v2.npy"), buf, 12 + hl + 8);
  lrc_tensor t;
  lrc_error *err = NULL;
  ck_assert_msg(lrc_npy_read(tpath("v2.npy"), &t, &err) == LRC_OK, "%s", lrc_error_message(err));
  ck_assert_int_eq(t.ndim, 0);
  ck_assert_double_eq(((double *)t.data)[0], 2.5);
  lrc_tensor_free(&t);
}
END_TEST

/* Malformed files: each an error naming the file and what is wrong. */
START_TEST(npy_malformed) {
  static const struct {
    const char *dict;       /* NULL: raw bytes below */
    const char *raw;
    int version;
    int data_bytes;
    const char *want;
  } cases[] = {
      {NULL, "not a numpy file at all", 1, 0, "bad magic"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", NULL, 3, 8, "version 3.0"},
      {"{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }", NULL, 1, 8, "Fortran"},
      {"{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", NULL, 1, 8, "'>f4'"},
      {"{'descr': '|O', 'fortran_order': False, 'shape': (2,), }", NULL, 1, 8, "'|O'"},
      {"{'descr': '<u2', 'fortran_order': False, 'shape': (2,), }", NULL, 1, 4, "'<u2'"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", NULL, 1, 4, "truncated"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", NULL, 1, 12, "trailing"},
      {"{'descr': '<f4', 'fortran_order': False, }", NULL, 1, 8, "no 'shape'"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, x), }", NULL, 1, 8, "bad 'shape'"},
      {"{'fortran_order': False, 'shape': (2,), }", NULL, 1, 8, "no 'descr'"},
      {"[1, 2]", NULL, 1, 8, "malformed"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    unsigned char buf[512] = {0x93, 'N', 'U', 'M', 'P', 'Y', (unsigned char)cases[i].version, 0};
    size_t n;
    if (cases[i].raw) {
      n = strlen(cases[i].raw);
      memcpy(buf, cases[i].raw, n);
    } else {
      size_t dl = strlen(cases[i].dict) + 1;
      buf[8] = (unsigned char)dl;
      memcpy(buf + 10, cases[i].dict, dl - 1);
      buf[10 + dl - 1] = '\n';
      n = 10 + dl;
      memset(buf + n, 0, (size_t)cases[i].data_bytes);
      n += (size_t)cases[i].data_bytes;
    }
    write_bytes(tpath("bad.npy"), buf, n);
    lrc_tensor t;
    lrc_error *err = NULL;
    ck_assert_int_eq(lrc_npy_read(tpath("bad.npy"), &t, &err), LRC_ERR_IO);
    const char *msg = lrc_error_message(err);
    ck_assert_msg(strstr(msg, "bad.npy") && strstr(msg, cases[i].want),
                  "case %zu: message '%s' lacks '%s'", i, msg, cases[i].want);
    ck_assert_ptr_null(t.data);
    lrc_error_free(err);
  }
  /* A truncated header and a missing file. */
  unsigned char shortbuf[12] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 100, 0, '{', '\''};
  write_bytes(tpath("short.npy"), shortbuf, sizeof shortbuf);
  lrc_tensor t;
  lrc_error *err = NULL;
  ck_assert_int_eq(lrc_npy_read(tpath("short.npy"), &t, &err), LRC_ERR_IO);
  ck_assert_ptr_nonnull(strstr(lrc_error_message(err), "truncated"));
  lrc_error_free(err);
  ck_assert_int_eq(lrc_npy_read(tpath("missing.npy"), &t, &err), LRC_ERR_IO);
  ck_assert_ptr_nonnull(strstr(lrc_error_message(err), "No such file"));
  lrc_error_free(err);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Conversions and strided views                                           */

START_TEST(half_and_bfloat16) {
  static const struct {
    float f;
    uint16_t h;
  } halves[] = {{1.0f, 0x3C00}, {-2.0f, 0xC000}, {65504.0f, 0x7BFF}, {0.0f, 0x0000},
                {5.9604645e-08f, 0x0001}, {1e5f, 0x7C00}, {0.333333343f, 0x3555},
                {6.1035156e-05f, 0x0400}};
  for (size_t i = 0; i < sizeof halves / sizeof halves[0]; i++) {
    uint16_t h;
    rt_set(&h, LRC_F16, 0, halves[i].f);
    ck_assert_msg(h == halves[i].h, "half(%g) = 0x%04x, want 0x%04x", halves[i].f, h, halves[i].h);
    if (halves[i].f < 65520 && halves[i].f != 0)
      ck_assert_float_eq_tol((float)rt_get(&halves[i].h, LRC_F16, 0), halves[i].f,
                             fabsf(halves[i].f) * 1e-3f + 1e-30f);
  }
  uint16_t b;
  rt_set(&b, LRC_BF16, 0, 1.0);
  ck_assert_uint_eq(b, 0x3F80);
  rt_set(&b, LRC_BF16, 0, 1.00390625);   /* halfway: round to even */
  ck_assert_uint_eq(b, 0x3F80);
  rt_set(&b, LRC_BF16, 0, -3.5);
  ck_assert_uint_eq(b, 0xC060);
  ck_assert_double_eq(rt_get(&b, LRC_BF16, 0), -3.5);
  rt_set(&b, LRC_F16, 0, NAN);
  ck_assert(isnan(rt_get(&b, LRC_F16, 0)));
}
END_TEST

START_TEST(strided_pack_unpack) {
  /* A transposed 3x4 view of a 4x3 float64 array. */
  double base[12];
  for (int i = 0; i < 12; i++) base[i] = i;
  lrc_tensor t = {base, LRC_F64, 2, {3, 4}, {1, 3}};
  ck_assert(!rt_is_contiguous(&t));
  float packed[12];
  rt_pack(&t, packed, LRC_F32);
  for (int r = 0; r < 3; r++)
    for (int c = 0; c < 4; c++) ck_assert_float_eq(packed[r * 4 + c], (float)(c * 3 + r));
  for (int i = 0; i < 12; i++) packed[i] = -(float)i;
  rt_unpack(&t, packed, LRC_F32);
  for (int r = 0; r < 3; r++)
    for (int c = 0; c < 4; c++) ck_assert_double_eq(base[c * 3 + r], -(r * 4 + c));
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Kernel cache                                                            */

START_TEST(cache_round_trip_and_corruption) {
  const char *key = "key one", *payload = "object bytes";
  ck_assert_int_eq(rt_cache_put(tmpdir, key, strlen(key), payload, strlen(payload)), 0);
  void *p = NULL;
  size_t n = 0;
  ck_assert_int_eq(rt_cache_get(tmpdir, key, strlen(key), &p, &n), 0);
  ck_assert_uint_eq(n, strlen(payload));
  ck_assert_int_eq(memcmp(p, payload, n), 0);
  free(p);
  /* Another key misses. */
  ck_assert_int_eq(rt_cache_get(tmpdir, "key two", 7, &p, &n), -1);
  /* Flip one payload byte: the checksum catches it. */
  char cmd[512];
  snprintf(cmd, sizeof cmd, "ls %s/*.lrck", tmpdir);
  FILE *ls = popen(cmd, "r");
  char path[400] = "";
  ck_assert_ptr_nonnull(fgets(path, sizeof path, ls));
  pclose(ls);
  path[strcspn(path, "\n")] = '\0';
  FILE *f = fopen(path, "r+b");
  fseek(f, -3, SEEK_END);
  int c = fgetc(f);
  fseek(f, -3, SEEK_END);
  fputc(c ^ 0x55, f);
  fclose(f);
  ck_assert_int_eq(rt_cache_get(tmpdir, key, strlen(key), &p, &n), -1);
  /* Rewriting repairs it; then truncate it: a miss again. */
  ck_assert_int_eq(rt_cache_put(tmpdir, key, strlen(key), payload, strlen(payload)), 0);
  ck_assert_int_eq(rt_cache_get(tmpdir, key, strlen(key), &p, &n), 0);
  free(p);
  ck_assert_int_eq(truncate(path, 20), 0);
  ck_assert_int_eq(rt_cache_get(tmpdir, key, strlen(key), &p, &n), -1);
  /* An entry file holding a different key (as after a hash collision)
   * misses: copy the entry of "other" over the file of "key one". */
  ck_assert_int_eq(rt_cache_put(tmpdir, "other", 5, "zz", 2), 0);
  snprintf(cmd, sizeof cmd, "for f in %s/*.lrck; do [ \"$f\" = '%s' ] || cp \"$f\" '%s'; done",
           tmpdir, path, path);
  ck_assert_int_eq(system(cmd), 0);
  ck_assert_int_eq(rt_cache_get(tmpdir, "other", 5, &p, &n), 0);
  free(p);
  ck_assert_int_eq(rt_cache_get(tmpdir, key, strlen(key), &p, &n), -1);
}
END_TEST

/* Several processes filling and reading one entry at once never see a
 * partial entry, and leave no temporary files. */
START_TEST(cache_concurrent_writers) {
  enum { PROCS = 6, ROUNDS = 200 };
  static char payload[100000];
  for (size_t i = 0; i < sizeof payload; i++) payload[i] = (char)(i * 31 + 7);
  const char *key = "shared key";
  pid_t pids[PROCS];
  for (int p = 0; p < PROCS; p++) {
    pids[p] = fork();
    if (pids[p] == 0) {
      int bad = 0;
      for (int r = 0; r < ROUNDS; r++) {
        if ((r + p) % 2 == 0) rt_cache_put(tmpdir, key, strlen(key), payload, sizeof payload);
        void *q = NULL;
        size_t n = 0;
        if (rt_cache_get(tmpdir, key, strlen(key), &q, &n) == 0) {
          if (n != sizeof payload || memcmp(q, payload, n) != 0) bad++;
          free(q);
        }
      }
      _exit(bad ? 1 : 0);
    }
  }
  for (int p = 0; p < PROCS; p++) {
    int st;
    waitpid(pids[p], &st, 0);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "process %d read a bad entry", p);
  }
  void *q = NULL;
  size_t n = 0;
  ck_assert_int_eq(rt_cache_get(tmpdir, key, strlen(key), &q, &n), 0);
  ck_assert_int_eq(memcmp(q, payload, n), 0);
  free(q);
  char cmd[256];
  snprintf(cmd, sizeof cmd, "ls %s | grep -c tmp", tmpdir);
  FILE *ls = popen(cmd, "r");
  char out[32] = "";
  ck_assert_ptr_nonnull(fgets(out, sizeof out, ls));
  pclose(ls);
  ck_assert_str_eq(out, "0\n");
}
END_TEST

/* ---------------------------------------------------------------------- */
/* Kernels through the public API                                          */

static const char *gdn_src =
    "rnn gdn {\n dim K = 6, V = 5\n input q[K], k[K], v[V], g, beta\n state S[K, V]\n"
    " output o[V]\n k = l2norm(k)\n S = exp(g) * S\n S = S + beta * outer(k, v - k @ S)\n"
    " o = q @ S\n}\n";

static lrc_module *compile_src(const char *src, const char *cache, lrc_error **err) {
  lrc_options o;
  lrc_options_init(&o);
  o.filename = "gdn.lr";
  o.cache_dir = cache;
  o.no_cache = cache == NULL;
  return lrc_compile(NULL, src, &o, err);
}

static double urand(unsigned *s) {
  *s = *s * 1664525u + 1013904223u;
  return (double)(*s >> 8) / (double)(1u << 24);
}

/* Random tensors in any dtype; 'transposed' stores the last two dims
 * swapped in memory (a strided view). */
static lrc_tensor make(lrc_dtype dt, int nd, const int64_t *shape, unsigned *seed, bool transposed,
                       double lo, double hi) {
  lrc_tensor t;
  ck_assert_int_eq(lrc_tensor_alloc(&t, dt, nd, shape, NULL), LRC_OK);
  for (int64_t i = 0; i < lrc_tensor_numel(&t); i++) rt_set(t.data, dt, i, lo + (hi - lo) * urand(seed));
  if (transposed && nd >= 2) {
    int64_t st = 1;
    int64_t strides[LRC_MAX_NDIM];
    /* memory order: ..., d[nd-1], d[nd-2] */
    strides[nd - 2] = 1;
    strides[nd - 1] = shape[nd - 2];
    st = shape[nd - 2] * shape[nd - 1];
    for (int d = nd - 3; d >= 0; d--) {
      strides[d] = st;
      st *= shape[d];
    }
    for (int d = 0; d < nd; d++) t.strides[d] = strides[d];
  }
  return t;
}

static double rel_err(const lrc_tensor *a, const lrc_tensor *b) {
  lrc_tensor ca = *a, cb = *b;
  int64_t n = lrc_tensor_numel(a);
  double *x = malloc(sizeof(double) * (size_t)n), *y = malloc(sizeof(double) * (size_t)n);
  rt_pack(&ca, x, LRC_F64);
  rt_pack(&cb, y, LRC_F64);
  double num = 0, den = 0;
  for (int64_t i = 0; i < n; i++) num += (x[i] - y[i]) * (x[i] - y[i]), den += y[i] * y[i];
  free(x);
  free(y);
  return sqrt(num / (den ? den : 1));
}

/* One run in the given dtype and layout, against the reference. */
static void run_gdn(lrc_dtype dt, bool transposed, int nthreads, bool packed, double tol) {
  lrc_error *err = NULL;
  lrc_module *m = compile_src(gdn_src, tmpdir, &err);
  ck_assert_msg(m != NULL, "%s", lrc_error_message(err));
  lrc_kernel *k = lrc_kernel_get(m, NULL, &err);
  ck_assert_msg(k != NULL, "%s", lrc_error_message(err));
  int64_t B = packed ? 1 : 3, T = packed ? 20 : 9, H = 2, N = packed ? 3 : B;
  unsigned seed = 42;
  int64_t sq[] = {B, T, H, 6}, sv[] = {B, T, H, 5}, ss[] = {B, T, H}, sst[] = {N, H, 6, 5};
  lrc_tensor q = make(dt, 4, sq, &seed, transposed, -1, 1), kk = make(dt, 4, sq, &seed, transposed, -1, 1);
  lrc_tensor v = make(dt, 4, sv, &seed, transposed, -1, 1), g = make(dt, 3, ss, &seed, false, -0.5, 0);
  lrc_tensor beta = make(dt, 3, ss, &seed, false, 0, 1), s0 = make(dt, 4, sst, &seed, transposed, -1, 1);
  lrc_tensor o = make(dt, 4, sv, &seed, transposed, 0, 0), s1 = make(dt, 4, sst, &seed, transposed, 0, 0);
  lrc_tensor ro = make(LRC_F64, 4, sv, &seed, false, 0, 0), rs = make(LRC_F64, 4, sst, &seed, false, 0, 0);
  int64_t cuv[] = {0, 7, 8, 20};
  lrc_tensor cu = {cuv, LRC_I64, 1, {4}, {0}};
  lrc_binding ins[] = {{"q", q}, {"k", kk}, {"v", v}, {"g", g}, {"beta", beta}};
  lrc_binding outs[] = {{"o", o}}, routs[] = {{"o", ro}};
  lrc_binding sin_[] = {{"S", s0}}, sout[] = {{"S", s1}}, rsout[] = {{"S", rs}};
  lrc_args a;
  lrc_args_init(&a);
  a.inputs = ins, a.ninputs = 5, a.outputs = outs, a.noutputs = 1;
  a.state_in = sin_, a.nstate_in = 1, a.state_out = sout, a.nstate_out = 1;
  a.nthreads = nthreads;
  a.cu_seqlens = packed ? &cu : NULL;
  ck_assert_msg(lrc_kernel_run(k, &a, &err) == LRC_OK, "%s", lrc_error_message(err));
  lrc_args r = a;
  r.outputs = routs, r.state_out = rsout;
  ck_assert_msg(lrc_kernel_reference(k, &r, &err) == LRC_OK, "%s", lrc_error_message(err));
  double e1 = rel_err(&o, &ro), e2 = rel_err(&s1, &rs);
  ck_assert_msg(e1 <= tol && e2 <= tol, "dtype %s%s, %d threads%s: o %g, S %g", lrc_dtype_name(dt),
                transposed ? " transposed" : "", nthreads, packed ? ", packed" : "", e1, e2);
  lrc_tensor *all[] = {&q, &kk, &v, &g, &beta, &s0, &o, &s1, &ro, &rs};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) lrc_tensor_free(all[i]);
  lrc_module_free(m);
}

START_TEST(kernel_dtypes_layouts_threads) {
  run_gdn(LRC_F32, false, 0, false, 2e-6);
  run_gdn(LRC_F32, false, 1, true, 2e-6);
  run_gdn(LRC_F64, true, 3, false, 2e-6);
  run_gdn(LRC_F64, false, 64, true, 2e-6);
  /* bf16 and f16 outputs are rounded: their own precision bounds the error. */
  run_gdn(LRC_BF16, false, 2, false, 1e-2);
  run_gdn(LRC_F16, true, 2, true, 2e-3);
}
END_TEST

START_TEST(kernel_cache_hit) {
  lrc_error *err = NULL;
  lrc_module *m1 = compile_src(gdn_src, tmpdir, &err);
  lrc_kernel *k1 = lrc_kernel_get(m1, "gdn", &err);
  ck_assert_ptr_nonnull(k1);
  ck_assert(!lrc_kernel_from_cache(k1));
  lrc_module *m2 = compile_src(gdn_src, tmpdir, &err);
  lrc_kernel *k2 = lrc_kernel_get(m2, "gdn", &err);
  ck_assert_ptr_nonnull(k2);
  ck_assert(lrc_kernel_from_cache(k2));
  /* A different dim size is a different kernel. */
  lrc_dim d[] = {{"K", 7}};
  lrc_options o;
  lrc_options_init(&o);
  o.dims = d, o.ndims = 1, o.cache_dir = tmpdir;
  lrc_module *m3 = lrc_compile(NULL, gdn_src, &o, &err);
  lrc_kernel *k3 = lrc_kernel_get(m3, "gdn", &err);
  ck_assert(!lrc_kernel_from_cache(k3));
  ck_assert_str_eq(lrc_kernel_algorithm(k3), "recurrent");
  lrc_module_free(m1);
  lrc_module_free(m2);
  lrc_module_free(m3);
  /* Damage every entry: the next compile notices, rebuilds and works. */
  char cmd[300];
  snprintf(cmd, sizeof cmd, "for f in %s/*.lrck; do printf 'XXXX' | dd of=\"$f\" bs=1 seek=200 "
           "conv=notrunc 2>/dev/null; done", tmpdir);
  ck_assert_int_eq(system(cmd), 0);
  lrc_module *m4 = compile_src(gdn_src, tmpdir, &err);
  lrc_kernel *k4 = lrc_kernel_get(m4, "gdn", &err);
  ck_assert_msg(k4 != NULL, "%s", lrc_error_message(err));
  ck_assert(!lrc_kernel_from_cache(k4));
  lrc_module_free(m4);
  lrc_module *m5 = compile_src(gdn_src, tmpdir, &err);
  ck_assert(lrc_kernel_from_cache(lrc_kernel_get(m5, "gdn", &err)));
  lrc_module_free(m5);
}
END_TEST

/* Shape and binding errors name the tensor and what was expected. */
START_TEST(kernel_argument_errors) {
  lrc_error *err = NULL;
  lrc_module *m = compile_src(gdn_src, tmpdir, &err);
  lrc_kernel *k = lrc_kernel_get(m, NULL, &err);
  ck_assert_ptr_nonnull(k);
  float buf[4096] = {0};
  lrc_tensor q = {buf, LRC_F32, 4, {2, 3, 1, 6}, {0}}, badq = {buf, LRC_F32, 4, {2, 3, 1, 7}, {0}};
  lrc_tensor v = {buf, LRC_F32, 4, {2, 3, 1, 5}, {0}}, g = {buf, LRC_F32, 3, {2, 3, 1}, {0}};
  lrc_tensor o = {buf + 2048, LRC_F32, 4, {2, 3, 1, 5}, {0}};
  lrc_tensor s = {buf, LRC_F32, 4, {3, 1, 6, 5}, {0}};
  lrc_binding ins[] = {{"q", q}, {"k", q}, {"v", v}, {"g", g}, {"beta", g}};
  lrc_binding outs[] = {{"o", o}};
  struct {
    const char *name;
    const char *want;
  } cases[] = {
      {"wrong K", "input 'q' has shape [2, 3, 1, 7]; expected [B, T, H, K] = [2, 3, 1, 6]"},
      {"missing", "missing input 'beta'"},
      {"unknown", "rnn 'gdn' has no input or param named 'x' (it has: q, k, v, g, beta)"},
      {"twice", "'q' is given twice"},
      {"state", "initial state 'S' has shape [3, 1, 6, 5]; expected [B, H, K, V] = [2, 1, 6, 5]"},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    lrc_binding b[6];
    memcpy(b, ins, sizeof ins);
    int n = 5;
    lrc_binding sin_[1] = {{"S", s}};
    lrc_args a;
    lrc_args_init(&a);
    if (c == 0) b[0].tensor = badq;
    if (c == 1) n = 4;
    if (c == 2) b[4].name = "x";
    if (c == 3) b[1].name = "q";
    if (c == 4) a.state_in = sin_, a.nstate_in = 1;
    a.inputs = b, a.ninputs = n, a.outputs = outs, a.noutputs = 1;
    ck_assert_int_eq(lrc_kernel_run(k, &a, &err), LRC_ERR_USAGE);
    ck_assert_msg(strcmp(lrc_error_message(err), cases[c].want) == 0, "%s: got '%s'",
                  cases[c].name, lrc_error_message(err));
    lrc_error_free(err);
  }
  /* cu_seqlens checks. */
  lrc_tensor q1 = {buf, LRC_F32, 4, {1, 6, 1, 6}, {0}}, v1 = {buf, LRC_F32, 4, {1, 6, 1, 5}, {0}};
  lrc_tensor g1 = {buf, LRC_F32, 3, {1, 6, 1}, {0}}, o1 = {buf + 2048, LRC_F32, 4, {1, 6, 1, 5}, {0}};
  lrc_binding ins1[] = {{"q", q1}, {"k", q1}, {"v", v1}, {"g", g1}, {"beta", g1}};
  lrc_binding outs1[] = {{"o", o1}};
  struct {
    int64_t cu[4];
    int n;
    const char *want;
  } cus[] = {{{1, 3, 6}, 3, "cu_seqlens[0] is 1; it must be 0"},
             {{0, 4, 3, 6}, 4, "cu_seqlens decreases at index 2 (3 after 4)"},
             {{0, 2, 5}, 3, "cu_seqlens ends at 5 but the tensors hold T = 6 tokens"}};
  for (size_t c = 0; c < sizeof cus / sizeof cus[0]; c++) {
    lrc_tensor cu = {cus[c].cu, LRC_I64, 1, {cus[c].n}, {0}};
    lrc_args a;
    lrc_args_init(&a);
    a.inputs = ins1, a.ninputs = 5, a.outputs = outs1, a.noutputs = 1, a.cu_seqlens = &cu;
    ck_assert_int_eq(lrc_kernel_run(k, &a, &err), LRC_ERR_USAGE);
    ck_assert_str_eq(lrc_error_message(err), cus[c].want);
    lrc_error_free(err);
  }
  lrc_module_free(m);
}
END_TEST

/* ---------------------------------------------------------------------- */
/* lrc run                                                                 */

START_TEST(cli_run_random) {
  char *out = NULL;
  int rc = t_lrc(&out, "run examples/gated_deltanet.lr --dim K=16,V=8 --shape B=2,T=33,H=3 "
                       "--seed 7 --threads 2");
  ck_assert_msg(rc == 0, "rc %d:\n%s", rc, out);
  ck_assert_ptr_nonnull(strstr(out, "B=2 T=33 H=3"));
  ck_assert_ptr_nonnull(strstr(out, ": ok"));
  free(out);
  rc = t_lrc(&out, "run examples/mamba.lr --dim N=4,D=6 --shape T=1");
  ck_assert_msg(rc == 0, "rc %d:\n%s", rc, out);
  free(out);
  /* A state too large for the stack: the JIT kernel allocates its tiles. */
  FILE *f = fopen(tpath("big.lr"), "w");
  fputs("rnn big {\n dim K = 300, V = 300\n input k[K], v[V]\n state S[K, V]\n output o[V]\n"
        " S = 0.5 * S + outer(k, v)\n o = k @ S\n}\n", f);
  fclose(f);
  rc = t_lrc(&out, "run %s --shape B=1,T=9,H=2 --no-cache", tpath("big.lr"));
  ck_assert_msg(rc == 0 && strstr(out, ": ok"), "rc %d:\n%s", rc, out);
  free(out);
}
END_TEST

START_TEST(cli_run_npy) {
  /* Inputs written here, outputs read back and compared with the reference. */
  lrc_error *err = NULL;
  lrc_module *m = compile_src(gdn_src, tmpdir, &err);
  lrc_kernel *k = lrc_kernel_get(m, NULL, &err);
  unsigned seed = 5;
  int64_t sq[] = {2, 11, 2, 6}, sv[] = {2, 11, 2, 5}, ss[] = {2, 11, 2}, sst[] = {2, 2, 6, 5};
  lrc_tensor q = make(LRC_F32, 4, sq, &seed, false, -1, 1), kk = make(LRC_F64, 4, sq, &seed, false, -1, 1);
  lrc_tensor v = make(LRC_F16, 4, sv, &seed, false, -1, 1), g = make(LRC_F32, 3, ss, &seed, false, -0.5, 0);
  lrc_tensor beta = make(LRC_F32, 3, ss, &seed, false, 0, 1), s0 = make(LRC_F32, 4, sst, &seed, false, -1, 1);
  const char *names[] = {"q", "k", "v", "g", "beta"};
  lrc_tensor *ts[] = {&q, &kk, &v, &g, &beta};
  Buf cmd = {0};
  buf_printf(&cmd, "run %s/gdn.lr", tmpdir);
  for (int i = 0; i < 5; i++) {
    char file[64];
    snprintf(file, sizeof file, "%s.npy", names[i]);
    ck_assert_int_eq(lrc_npy_write(tpath(file), ts[i], &err), LRC_OK);
    buf_printf(&cmd, " --in %s=%s", names[i], tpath(file));
  }
  ck_assert_int_eq(lrc_npy_write(tpath("s0.npy"), &s0, &err), LRC_OK);
  buf_printf(&cmd, " --state-in S=%s --out o=%s --state-out S=%s", tpath("s0.npy"),
             tpath("o.npy"), tpath("s1.npy"));
  FILE *f = fopen(tpath("gdn.lr"), "w");
  fputs(gdn_src, f);
  fclose(f);
  char *out = NULL;
  int rc = t_lrc(&out, "%s", cmd.s);
  ck_assert_msg(rc == 0, "rc %d:\n%s", rc, out);
  free(out);
  lrc_tensor o, s1;
  ck_assert_int_eq(lrc_npy_read(tpath("o.npy"), &o, &err), LRC_OK);
  ck_assert_int_eq(lrc_npy_read(tpath("s1.npy"), &s1, &err), LRC_OK);
  lrc_tensor ro = make(LRC_F64, 4, sv, &seed, false, 0, 0), rs = make(LRC_F64, 4, sst, &seed, false, 0, 0);
  lrc_binding ins[] = {{"q", q}, {"k", kk}, {"v", v}, {"g", g}, {"beta", beta}};
  lrc_binding routs[] = {{"o", ro}}, sin_[] = {{"S", s0}}, rsout[] = {{"S", rs}};
  lrc_args a;
  lrc_args_init(&a);
  a.inputs = ins, a.ninputs = 5, a.outputs = routs, a.noutputs = 1;
  a.state_in = sin_, a.nstate_in = 1, a.state_out = rsout, a.nstate_out = 1;
  ck_assert_int_eq(lrc_kernel_reference(k, &a, &err), LRC_OK);
  ck_assert_double_le(rel_err(&o, &ro), 2e-6);
  ck_assert_double_le(rel_err(&s1, &rs), 2e-6);
  /* A malformed input file: exit 1, the file named. */
  write_bytes(tpath("q.npy"), "garbage", 7);
  rc = t_lrc(&out, "%s", cmd.s);
  ck_assert_int_eq(rc, 1);
  ck_assert_msg(strstr(out, "q.npy: not a .npy file"), "%s", out);
  free(out);
  /* A missing input. */
  rc = t_lrc(&out, "run %s/gdn.lr --in q=%s", tmpdir, tpath("s0.npy"));
  ck_assert_int_eq(rc, 1);
  free(out);
  buf_free(&cmd);
  lrc_tensor *all[] = {&q, &kk, &v, &g, &beta, &s0, &o, &s1, &ro, &rs};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) lrc_tensor_free(all[i]);
  lrc_module_free(m);
}
END_TEST

START_TEST(cli_run_errors) {
  static const struct {
    const char *args;
    int rc;
    const char *want;
  } cases[] = {
      {"run examples/gated_deltanet.lr --dim K=8,V=8 --shape B=0", 1, "bad --shape B"},
      {"run examples/gated_deltanet.lr --dim K=8,V=8 --shape X=3", 1, "bad --shape"},
      {"run examples/gated_deltanet.lr --dim K=8,V=8 --algo=fast", 1, "unknown --algo 'fast'"},
      {"run examples/gated_deltanet.lr --dim K=8,V=8 --target=tpu", 1, "unknown --target 'tpu'"},
      {"run examples/gated_deltanet.lr --dim K=8,V=8 --in q", 1, "expected NAME=PATH.npy"},
      {"run examples/gated_deltanet.lr --dim K=8,V=8 --out o=x.npy", 1, "need inputs from --in"},
      {"run examples/gated_deltanet.lr --dim K=8,V=8 --seed x", 1, "bad --seed"},
      {"run /nonexistent.lr", 1, "cannot open '/nonexistent.lr'"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char *out = NULL;
    int rc = t_lrc(&out, "%s", cases[i].args);
    ck_assert_msg(rc == cases[i].rc && strstr(out, cases[i].want), "lrc %s: rc %d\n%s",
                  cases[i].args, rc, out);
    free(out);
  }
}
END_TEST

Suite *runtime_suite(void) {
  Suite *s = suite_create("runtime");
  TCase *tc = tcase_create("core");
  tcase_set_timeout(tc, 120);
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, npy_round_trip);
  tcase_add_test(tc, npy_version2_and_scalar);
  tcase_add_test(tc, npy_malformed);
  tcase_add_test(tc, half_and_bfloat16);
  tcase_add_test(tc, strided_pack_unpack);
  tcase_add_test(tc, cache_round_trip_and_corruption);
  tcase_add_test(tc, cache_concurrent_writers);
  tcase_add_test(tc, kernel_dtypes_layouts_threads);
  tcase_add_test(tc, kernel_cache_hit);
  tcase_add_test(tc, kernel_argument_errors);
  tcase_add_test(tc, cli_run_random);
  tcase_add_test(tc, cli_run_npy);
  tcase_add_test(tc, cli_run_errors);
  suite_add_tcase(s, tc);
  return s;
}
