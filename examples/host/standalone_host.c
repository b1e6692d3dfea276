/* standalone_host.c — use a kernel written by `lrc emit --emit=c`, with no
 * lrc header or library: the build runs
 *
 *   lrc emit examples/host/ema.lr --emit=c -o build/ema
 *   cc -Ibuild examples/host/standalone_host.c build/ema.c -lm
 *
 * and this program calls the generated entry point on its buffers.
 */
#include <math.h>
#include <stdio.h>

#include "ema.h"

enum { B = 2, T = 10, H = 2, D = 4 };

int main(void) {
  static float x[B][T][H][D], a[H], y[B][T][H][D], h_out[B][H][D];
  for (int b = 0; b < B; b++)
    for (int t = 0; t < T; t++)
      for (int h = 0; h < H; h++)
        for (int d = 0; d < D; d++) x[b][t][h][d] = (float)(b + 1) * 0.1f * (float)(t - d);
  a[0] = 0.5f;
  a[1] = 0.9f;
  if (ema(&x[0][0][0][0], &a[0], &y[0][0][0][0], NULL, &h_out[0][0][0], NULL, B, T, H, B) != 0) {
    fprintf(stderr, "standalone_host: kernel failed\n");
    return 1;
  }
  double worst = 0;
  for (int b = 0; b < B; b++)
    for (int hh = 0; hh < H; hh++)
      for (int d = 0; d < D; d++) {
        double s = 0;
        for (int t = 0; t < T; t++) {
          s = a[hh] * s + (1 - a[hh]) * x[b][t][hh][d];
          worst = fmax(worst, fabs(s - y[b][t][hh][d]));
        }
        worst = fmax(worst, fabs(s - h_out[b][hh][d]));
      }
  printf("standalone_host: emitted C kernel 'ema'; largest difference from the C loop: %.2e\n",
         worst);
  return worst < 1e-5 ? 0 : 1;
}
