/* jit_source.c — print the CUDA source that the run-time JIT hands to
 * NVRTC for one example, algorithm and I/O dtype (the same kernel as
 * `lrc emit --emit=cuda` with those options). For tests/gpu/spills.sh.
 *
 *   jit_source FILE.lr recurrent|chunk|scan f32|bf16|f16 [K=128,V=128]
 */
#include "backends/c/backend.h"
#include "lrc.h"
#include "runtime/rt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  rewind(f);
  char *s = calloc(1, (size_t)n + 1);
  if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
    free(s);
    s = NULL;
  }
  fclose(f);
  return s;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: jit_source FILE.lr recurrent|chunk|scan f32|bf16|f16 [K=..,V=..]\n");
    return 2;
  }
  char *text = slurp(argv[1]);
  if (!text) {
    fprintf(stderr, "jit_source: cannot read %s\n", argv[1]);
    return 1;
  }
  lrc_options o;
  lrc_options_init(&o);
  o.algo = !strcmp(argv[2], "chunk") ? LRC_ALGO_CHUNK
           : !strcmp(argv[2], "scan") ? LRC_ALGO_SCAN
                                      : LRC_ALGO_RECURRENT;
  int io = !strcmp(argv[3], "bf16") ? 1 : !strcmp(argv[3], "f16") ? 2 : 0;
  lrc_dim dims[LRC_MAX_NDIM];
  char *spec = argc > 4 ? strdup(argv[4]) : NULL;
  int nd = 0;
  for (char *tok = spec ? strtok(spec, ",") : NULL; tok && nd < LRC_MAX_NDIM;
       tok = strtok(NULL, ",")) {
    char *eq = strchr(tok, '=');
    if (!eq) continue;
    *eq = '\0';
    dims[nd].name = tok;
    dims[nd].size = strtol(eq + 1, NULL, 10);
    nd++;
  }
  o.dims = dims;
  o.ndims = nd;
  lrc_ctx *ctx = lrc_ctx_new();
  lrc_error *err = NULL;
  lrc_module *m = lrc_compile(ctx, text, &o, &err);
  Kernel *k = NULL;
  if (m) {
    Graph *g = rt_find_graph(m, NULL, &err);
    if (g) k = rt_build_kernel(m, g, &err);
  }
  if (!k) {
    fprintf(stderr, "jit_source: %s\n", err ? lrc_error_message(err) : "no kernel");
    return 1;
  }
  Buf src = {0};
  CgCudaLaunch launch = {0};
  cg_emit_cuda_jit(k, io, &src, &launch);
  fwrite(src.s, 1, src.len, stdout);
  buf_free(&src);
  for (int p = 0; p < 4; p++) buf_free(&launch.part[p].entry);
  lrc_module_free(m);
  lrc_ctx_free(ctx);
  free(spec);
  free(text);
  return 0;
}
