/* common.c — argument parsing, file reading and error reporting shared by
 * the sub-commands. Messages go to stderr, prefixed "lrc <cmd>:". */
#include "cli.h"

#include <errno.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>
#include <sys/stat.h>

int cli_usage_error(const char *cmd, const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "lrc %s: ", cmd);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, "\n(see 'lrc %s --help')\n", cmd);
  return EXIT_USER;
}

/* "K=128,V=64" -> dims. */
static int parse_dims(Args *a, const char *spec) {
  const char *p = spec;
  if (!*p) return cli_usage_error(a->cmd, "--dim needs NAME=SIZE[,NAME=SIZE...]");
  while (*p) {
    const char *eq = strchr(p, '=');
    const char *comma = strchr(p, ',');
    if (!comma) comma = p + strlen(p);
    if (!eq || eq > comma || eq == p)
      return cli_usage_error(a->cmd, "bad --dim '%s': expected NAME=SIZE[,NAME=SIZE...]",
                             spec);
    char *end;
    errno = 0;
    long v = strtol(eq + 1, &end, 10);
    /* Digits only: strtol would also take blanks and a sign. */
    if (end != comma || end == eq + 1 || errno || v < 1 || v > 1000000000L ||
        !(eq[1] >= '0' && eq[1] <= '9'))
      return cli_usage_error(a->cmd,
                             "bad --dim '%.*s': the size must be a whole number from 1 to "
                             "1000000000",
                             (int)(comma - p), p);
    if (a->ndims == MAX_DIM_FLAGS)
      return cli_usage_error(a->cmd, "too many --dim bindings (at most %d)", MAX_DIM_FLAGS);
    char *name = malloc((size_t)(eq - p) + 1);
    if (!name) return cli_usage_error(a->cmd, "out of memory");
    memcpy(name, p, (size_t)(eq - p));
    name[eq - p] = '\0';
    for (int i = 0; i < a->ndims; i++)
      if (strcmp(a->dims[i].name, name) == 0) {
        int r = cli_usage_error(a->cmd, "--dim %s is given twice", name);
        free(name);
        return r;
      }
    a->dims[a->ndims++] = (lrc_dim){name, v};
    p = *comma ? comma + 1 : comma;
  }
  return 0;
}

/* NAME=PATH for --in and friends. */
static int add_file(Args *a, const char *flag, FileArg *v, int *n, const char *val) {
  const char *eq = strchr(val, '=');
  if (!eq || eq == val || !eq[1])
    return cli_usage_error(a->cmd, "bad --%s '%s': expected NAME=PATH.npy", flag, val);
  if (*n == MAX_FILES) return cli_usage_error(a->cmd, "too many --%s options", flag);
  for (int i = 0; i < *n; i++)
    if (strncmp(v[i].name, val, (size_t)(eq - val)) == 0 && v[i].name[eq - val] == '\0')
      return cli_usage_error(a->cmd, "--%s %.*s is given twice", flag, (int)(eq - val), val);
  char *name = strndup(val, (size_t)(eq - val));
  if (!name) return cli_usage_error(a->cmd, "out of memory");
  v[*n].name = name;
  v[*n].path = eq + 1;
  (*n)++;
  return 0;
}

static bool allows(const char *allowed, const char *flag) {
  size_t n = strlen(flag);
  for (const char *p = allowed; (p = strstr(p, flag)); p += n)
    if ((p == allowed || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0')) return true;
  return false;
}

int cli_parse(Args *a, int argc, char **argv, int first, const char *allowed) {
  for (int i = first; i < argc; i++) {
    const char *arg = argv[i];
    if (arg[0] != '-' || arg[1] == '\0') {
      if (a->file) return cli_usage_error(a->cmd, "more than one input file ('%s' and '%s')",
                                          a->file, arg);
      a->file = arg;
      continue;
    }
    /* --name=value or --name value (-o value) */
    const char *name = arg + (arg[1] == '-' ? 2 : 1);
    const char *val = NULL;
    char key[32];
    const char *eq = strchr(name, '=');
    size_t klen = eq ? (size_t)(eq - name) : strlen(name);
    if (klen >= sizeof key || (arg[1] != '-' && strcmp(name, "o") != 0))
      return cli_usage_error(a->cmd, "unknown option '%s'", arg);
    memcpy(key, name, klen);
    key[klen] = '\0';
    if (!allows(allowed, key))
      return cli_usage_error(a->cmd, "unknown option '%s'", arg);
    if (strcmp(key, "no-cache") == 0 || strcmp(key, "json") == 0) {
      if (eq) return cli_usage_error(a->cmd, "option '--%s' takes no value", key);
      if (key[0] == 'n') a->no_cache = true;
      else a->json = true;
      continue;
    }
    if (eq) val = eq + 1;
    else if (i + 1 < argc) val = argv[++i];
    else return cli_usage_error(a->cmd, "option '%s' needs a value", arg);
    /* Options that take one value: a second one is a mistake, not an
     * override (--rnn a --rnn b would silently pick b). */
    static const struct {
      const char *key;
      size_t off;
    } single[] = {
        {"rnn", offsetof(Args, rnn)},       {"emit", offsetof(Args, emit)},
        {"o", offsetof(Args, out)},         {"target", offsetof(Args, target)},
        {"algo", offsetof(Args, algo)},     {"chunk", offsetof(Args, chunk)},
        {"shape", offsetof(Args, shape)},   {"seed", offsetof(Args, seed)},
        {"threads", offsetof(Args, threads)}, {"repeat", offsetof(Args, repeat)},
        {"cu-seqlens", offsetof(Args, cu_seqlens)}, {"dtype", offsetof(Args, dtype)},
    };
    const char **slot = NULL;
    for (size_t k = 0; k < sizeof single / sizeof single[0]; k++)
      if (strcmp(key, single[k].key) == 0) slot = (const char **)((char *)a + single[k].off);
    if (slot) {
      if (*slot)
        return cli_usage_error(a->cmd, "option '%s%s' is given twice", key[1] ? "--" : "-",
                               key);
      *slot = val;
      continue;
    }
    if (strcmp(key, "dim") == 0) {
      int r = parse_dims(a, val);
      if (r) return r;
    } else if (strcmp(key, "in") == 0 || strcmp(key, "out") == 0 ||
               strcmp(key, "state-in") == 0 || strcmp(key, "state-out") == 0) {
      FileArg *v = key[0] == 'i' ? a->in : key[0] == 'o' ? a->out_files
                   : key[6] == 'i' ? a->state_in : a->state_out;
      int *n = key[0] == 'i' ? &a->nin : key[0] == 'o' ? &a->nout
               : key[6] == 'i' ? &a->nstate_in : &a->nstate_out;
      int r = add_file(a, key, v, n, val);
      if (r) return r;
    } else {
      return cli_usage_error(a->cmd, "unknown option '%s'", arg);
    }
  }
  if (!a->file) return cli_usage_error(a->cmd, "no input file");
  return 0;
}

char *cli_read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "lrc: cannot open '%s': %s\n", path, strerror(errno));
    return NULL;
  }
  struct stat st;
  if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
    fprintf(stderr, "lrc: '%s' is a directory, not a .lr file\n", path);
    fclose(f);
    return NULL;
  }
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap);
  while (buf) {
    size_t got = fread(buf + n, 1, cap - n, f);
    n += got;
    if (got == 0) break;
    if (n == cap) {
      if (cap >= (64u << 20)) {
        fprintf(stderr, "lrc: '%s' is larger than 64 MiB; not a .lr file\n", path);
        free(buf);
        fclose(f);
        return NULL;
      }
      char *nb = realloc(buf, cap * 2);
      if (!nb) {
        free(buf);
        buf = NULL;
        break;
      }
      buf = nb;
      cap *= 2;
    }
  }
  if (!buf) {
    fprintf(stderr, "lrc: out of memory reading '%s'\n", path);
    fclose(f);
    return NULL;
  }
  if (ferror(f)) {
    fprintf(stderr, "lrc: cannot read '%s': %s\n", path, strerror(errno));
    free(buf);
    fclose(f);
    return NULL;
  }
  fclose(f);
  *len = n;
  return buf;
}

int cli_report(const lrc_error *e) {
  const char *msg = lrc_error_message(e);
  size_t n = strlen(msg);
  if (lrc_error_code(e) == LRC_ERR_SOURCE) fputs(msg, stderr);
  else fprintf(stderr, "lrc: %s%s", msg, n && msg[n - 1] == '\n' ? "" : "\n");
  return lrc_error_code(e) == LRC_ERR_INTERNAL ? EXIT_INTERNAL : EXIT_USER;
}

lrc_module *cli_compile(lrc_ctx *ctx, const Args *a, int *code) {
  size_t len;
  char *text = cli_read_file(a->file, &len);
  if (!text) {
    *code = EXIT_USER;
    return NULL;
  }
  lrc_options o;
  lrc_options_init(&o);
  o.filename = a->file;
  o.dims = a->dims;
  o.ndims = a->ndims;
  if ((*code = cli_options(a, &o)) != 0) {
    free(text);
    return NULL;
  }
  lrc_error *err = NULL;
  lrc_module *m = lrc_compile_buffer(ctx, text, len, &o, &err);
  free(text);
  if (!m) {
    *code = cli_report(err);
    lrc_error_free(err);
    return NULL;
  }
  fputs(lrc_module_warnings(m), stderr);
  *code = 0;
  return m;
}

void cli_args_free(Args *a) {
  for (int i = 0; i < a->ndims; i++) free((char *)a->dims[i].name);
  a->ndims = 0;
  FileArg *lists[] = {a->in, a->out_files, a->state_in, a->state_out};
  int *counts[] = {&a->nin, &a->nout, &a->nstate_in, &a->nstate_out};
  for (int l = 0; l < 4; l++) {
    for (int i = 0; i < *counts[l]; i++) free(lists[l][i].name);
    *counts[l] = 0;
  }
}

int cli_options(const Args *a, lrc_options *o) {
  if (a->algo) {
    static const char *names[] = {"auto", "recurrent", "scan", "chunk"};
    int k = -1;
    for (int i = 0; i < 4; i++)
      if (strcmp(names[i], a->algo) == 0) k = i;
    if (k < 0)
      return cli_usage_error(a->cmd, "unknown --algo '%s'; expected auto, recurrent, scan or chunk",
                             a->algo);
    o->algo = (lrc_algo)k;
  }
  if (a->target) {
    if (strcmp(a->target, "cpu") == 0) o->target = LRC_TARGET_CPU;
    else if (strcmp(a->target, "cuda") == 0) o->target = LRC_TARGET_CUDA;
    else return cli_usage_error(a->cmd, "unknown --target '%s'; expected cpu or cuda", a->target);
  }
  if (a->chunk) {
    char *end;
    long c = strtol(a->chunk, &end, 10);
    if (*end || end == a->chunk || c < 1 || c > 4096)
      return cli_usage_error(a->cmd, "bad --chunk '%s': expected a whole number from 1 to 4096",
                             a->chunk);
    o->chunk = (int)c;
  }
  if (a->dtype && strcmp(a->cmd, "emit") != 0) {
    lrc_dtype d;
    if (cli_dtype(a->cmd, a->dtype, &d)) return EXIT_USER;
    if (o->target != LRC_TARGET_CUDA)
      return cli_usage_error(a->cmd, "--dtype applies to --target=cuda (CPU kernels compute in "
                                     "float32 and take tensors of any dtype)");
    o->io_dtype = d;
  }
  o->no_cache = a->no_cache;
  return 0;
}

int cli_dtype(const char *cmd, const char *s, lrc_dtype *d) {
  if (strcmp(s, "f32") == 0) *d = LRC_F32;
  else if (strcmp(s, "bf16") == 0) *d = LRC_BF16;
  else if (strcmp(s, "f16") == 0) *d = LRC_F16;
  else return cli_usage_error(cmd, "bad --dtype '%s': expected f32, bf16 or f16", s);
  return 0;
}

double cli_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int cli_parse_long(const char *cmd, const char *flag, const char *s, long lo, long hi, long *v) {
  char *end;
  long x = strtol(s, &end, 10);
  if (!*s || *end || x < lo || x > hi)
    return cli_usage_error(cmd, "bad %s '%s': expected a whole number from %ld to %ld", flag, s,
                           lo, hi);
  *v = x;
  return 0;
}

/* "B=2,T=64,H=4" (any subset). */
int cli_parse_shape(const char *cmd, const char *spec, long *B, long *T, long *H) {
  const char *p = spec;
  while (*p) {
    char name = p[0];
    if (!(name == 'B' || name == 'T' || name == 'H') || p[1] != '=')
      return cli_usage_error(cmd, "bad --shape '%s': expected B=..,T=..,H=..", spec);
    const char *v = p + 2;
    const char *end = strchr(v, ',');
    size_t n = end ? (size_t)(end - v) : strlen(v);
    char tmp[32];
    if (n == 0 || n >= sizeof tmp) return cli_usage_error(cmd, "bad --shape '%s'", spec);
    memcpy(tmp, v, n);
    tmp[n] = '\0';
    long x;
    if (cli_parse_long(cmd, name == 'B' ? "--shape B" : name == 'T' ? "--shape T" : "--shape H", tmp,
                   name == 'T' ? 0 : 1, name == 'T' ? 100000000L : 65536, &x))
      return EXIT_USER;
    *(name == 'B' ? B : name == 'T' ? T : H) = x;
    p = end ? end + 1 : v + n;
  }
  return 0;
}

/* A float32 tensor of lead dims `lead` then the slot's dims. */
int cli_alloc_for(const lrc_slot_info *s, const int64_t *lead, int nl, lrc_dtype dt,
                     lrc_tensor *t) {
  int64_t shape[LRC_MAX_NDIM];
  for (int i = 0; i < nl; i++) shape[i] = lead[i];
  for (int d = 0; d < s->ndims; d++) shape[nl + d] = s->dim_sizes[d];
  lrc_error *err = NULL;
  if (lrc_tensor_alloc(t, dt, nl + s->ndims, shape, &err) != LRC_OK) {
    int c = cli_report(err);
    lrc_error_free(err);
    return c;
  }
  return 0;
}

