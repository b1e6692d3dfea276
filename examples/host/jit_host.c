/* jit_host.c — compile a recurrence from a string at run time with liblrc
 * and run it on this program's own buffers.
 *
 * The recurrence is a small gated linear attention (one scalar forget
 * gate per token). The program checks the kernel's output against a plain
 * C loop of the same recurrence and prints the largest difference.
 *
 *   cc -Iinclude examples/host/jit_host.c build/liblrc.a $(llvm-config-19 --ldflags --libs) \
 *      -lffi -ldl -lpthread -lm
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "lrc.h"

static const char *source =
    "rnn simple_gla {\n"
    "  dim K, V\n"
    "  input q[K], k[K], v[V], g      # g: log forget gate, <= 0\n"
    "  state S[K, V]\n"
    "  output o[V]\n"
    "  S = exp(g) * S + outer(k, v)\n"
    "  o = q @ S\n"
    "}\n";

enum { B = 2, T = 50, H = 3, K = 16, V = 8 };

int main(void) {
  lrc_ctx *ctx = lrc_ctx_new();
  lrc_dim dims[] = {{"K", K}, {"V", V}};
  lrc_options opts;
  lrc_options_init(&opts);
  opts.filename = "simple_gla.lr";
  opts.dims = dims;
  opts.ndims = 2;
  lrc_error *err = NULL;
  lrc_module *m = lrc_compile(ctx, source, &opts, &err);
  lrc_kernel *kern = m ? lrc_kernel_get(m, "simple_gla", &err) : NULL;
  if (!kern) {
    fprintf(stderr, "%s", lrc_error_message(err));
    return 1;
  }

  /* The caller's buffers, in lrc's layout: [B, T, H, dims]. */
  static float q[B][T][H][K], k[B][T][H][K], v[B][T][H][V], g[B][T][H], o[B][T][H][V];
  static float S[B][H][K][V];
  unsigned s = 1;
  for (int b = 0; b < B; b++)
    for (int t = 0; t < T; t++)
      for (int h = 0; h < H; h++) {
        for (int i = 0; i < K; i++) {
          q[b][t][h][i] = (float)((s = s * 1103515245u + 12345u) >> 16) / 65536.0f - 0.5f;
          k[b][t][h][i] = (float)((s = s * 1103515245u + 12345u) >> 16) / 65536.0f - 0.5f;
        }
        for (int j = 0; j < V; j++)
          v[b][t][h][j] = (float)((s = s * 1103515245u + 12345u) >> 16) / 65536.0f - 0.5f;
        g[b][t][h] = -0.1f * (float)((s = s * 1103515245u + 12345u) >> 16) / 65536.0f;
      }

  lrc_binding in[] = {
      {"q", {q, LRC_F32, 4, {B, T, H, K}, {0}}},
      {"k", {k, LRC_F32, 4, {B, T, H, K}, {0}}},
      {"v", {v, LRC_F32, 4, {B, T, H, V}, {0}}},
      {"g", {g, LRC_F32, 3, {B, T, H}, {0}}},
  };
  lrc_binding out[] = {{"o", {o, LRC_F32, 4, {B, T, H, V}, {0}}}};
  lrc_binding fin[] = {{"S", {S, LRC_F32, 4, {B, H, K, V}, {0}}}};
  lrc_args args;
  lrc_args_init(&args);
  args.inputs = in;
  args.ninputs = 4;
  args.outputs = out;
  args.noutputs = 1;
  args.state_out = fin;
  args.nstate_out = 1;
  if (lrc_kernel_run(kern, &args, &err) != LRC_OK) {
    fprintf(stderr, "%s\n", lrc_error_message(err));
    return 1;
  }

  /* The same recurrence, written out. */
  double worst = 0;
  for (int b = 0; b < B; b++)
    for (int h = 0; h < H; h++) {
      double St[K][V] = {{0}};
      for (int t = 0; t < T; t++) {
        double a = exp(g[b][t][h]);
        for (int i = 0; i < K; i++)
          for (int j = 0; j < V; j++) St[i][j] = a * St[i][j] + k[b][t][h][i] * v[b][t][h][j];
        for (int j = 0; j < V; j++) {
          double acc = 0;
          for (int i = 0; i < K; i++) acc += q[b][t][h][i] * St[i][j];
          worst = fmax(worst, fabs(acc - o[b][t][h][j]));
        }
      }
      for (int i = 0; i < K; i++)
        for (int j = 0; j < V; j++) worst = fmax(worst, fabs(St[i][j] - S[b][h][i][j]));
    }
  printf("jit_host: %s kernel (%s), compiled in %.1f ms; largest difference from the C loop: %.2e\n",
         "simple_gla", lrc_kernel_algorithm(kern), lrc_kernel_compile_ms(kern), worst);
  lrc_module_free(m);
  lrc_ctx_free(ctx);
  return worst < 1e-4 ? 0 : 1;
}
