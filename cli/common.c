/* common.c — argument parsing, file reading and error reporting shared by
 * the sub-commands. Messages go to stderr, prefixed "lrc <cmd>:". */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
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
    if (end != comma || end == eq + 1 || errno || v < 1 || v > 1000000000L)
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
    if (eq) val = eq + 1;
    else if (i + 1 < argc) val = argv[++i];
    else return cli_usage_error(a->cmd, "option '%s' needs a value", arg);
    if (strcmp(key, "dim") == 0) {
      int r = parse_dims(a, val);
      if (r) return r;
    } else if (strcmp(key, "rnn") == 0) {
      a->rnn = val;
    } else if (strcmp(key, "emit") == 0) {
      a->emit = val;
    } else if (strcmp(key, "o") == 0) {
      a->out = val;
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
}
