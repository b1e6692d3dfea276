/* gdn_baseline.c — a hand-written Gated DeltaNet forward loop in plain C,
 * the baseline `make bench` compares lrc's JIT kernel with. Built with
 * gcc -O3 -march=native. Same recurrence as bench/gated_deltanet.lr:
 *
 *   k = k / sqrt(|k|^2 + 1e-6);  q = q / sqrt(|q|^2 + 1e-6) * K^-0.5
 *   S = exp(g) S;  S = S + beta k (v - Sᵀk)ᵀ;  o = Sᵀ q
 *
 * Layout as lrc's: q, k [B, T, H, K], v, o [B, T, H, V], g, beta [B, T, H],
 * final state [B, H, K, V]. The decay is folded into the two passes over S
 * a careful programmer would write: one for Sᵀk, one for the update fused
 * with the readout.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { K = 128, V = 128 };

void gdn_baseline_range(const float *q, const float *k, const float *v, const float *g,
                        const float *beta, float *o, float *S_out, int64_t B, int64_t T,
                        int64_t H, int64_t lo, int64_t hi) {
  (void)B;
  float *S = aligned_alloc(64, sizeof(float) * K * V);
  float kn[K], qn[K], kS[V], u[V], acc[V];
  for (int64_t bh = lo; bh < hi; bh++) {
    int64_t b = bh / H, h = bh % H;
    memset(S, 0, sizeof(float) * K * V);
    for (int64_t t = 0; t < T; t++) {
      int64_t row = (b * T + t) * H + h;
      const float *qt = q + row * K, *kt = k + row * K, *vt = v + row * V;
      float kk = 0, qq = 0;
      for (int i = 0; i < K; i++) kk += kt[i] * kt[i], qq += qt[i] * qt[i];
      float rk = 1.0f / sqrtf(kk + 1e-6f), rq = 1.0f / sqrtf(qq + 1e-6f) / sqrtf((float)K);
      for (int i = 0; i < K; i++) kn[i] = kt[i] * rk, qn[i] = qt[i] * rq;
      float a = expf(g[row]), bt = beta[row];
      for (int j = 0; j < V; j++) kS[j] = 0;
      for (int i = 0; i < K; i++)
        for (int j = 0; j < V; j++) kS[j] += kn[i] * S[i * V + j];
      for (int j = 0; j < V; j++) u[j] = bt * (vt[j] - a * kS[j]), acc[j] = 0;
      for (int i = 0; i < K; i++)
        for (int j = 0; j < V; j++) {
          float s = a * S[i * V + j] + kn[i] * u[j];
          S[i * V + j] = s;
          acc[j] += qn[i] * s;
        }
      memcpy(o + row * V, acc, sizeof acc);
    }
    if (S_out) memcpy(S_out + bh * K * V, S, sizeof(float) * K * V);
  }
  free(S);
}
