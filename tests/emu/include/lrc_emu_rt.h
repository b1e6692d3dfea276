/* lrc_emu_rt.h — the CUDA runtime calls of lrc's standalone launchers
 * (lrc emit --emit=cuda), on the emulator: device memory is the host's
 * (NaN at first), a launch `k<<<grid, block, smem, stream>>>(args)` (which
 * the emulated NVRTC rewrites as lrc_emu_launch_k(k, grid, block, smem,
 * stream, args)) runs at once, and its failure is the next
 * cudaGetLastError. LRC_EMU_SMS: the multiprocessor count (default 132).
 */
#ifndef LRC_EMU_RT_H
#define LRC_EMU_RT_H

#include "lrc_emu.h"

#include <tuple>

typedef enum cudaError {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorLaunchFailure = 719,
} cudaError_t;
typedef struct CUstream_st *cudaStream_t;
typedef struct CUmemPoolHandle_st *cudaMemPool_t;
enum cudaFuncAttribute { cudaFuncAttributeMaxDynamicSharedMemorySize = 8 };
enum cudaMemPoolAttr { cudaMemPoolAttrReleaseThreshold = 4 };
enum cudaDeviceAttr { cudaDevAttrMultiProcessorCount = 16 };

namespace lrc_emu {
static cudaError_t last_error;
struct FuncAttr {
  const void *f;
  int max_dyn;
};
static FuncAttr func_attrs[64];
static int nfunc_attrs;
static int max_dyn_of(const void *f) {
  for (int i = 0; i < nfunc_attrs; i++)
    if (func_attrs[i].f == f) return func_attrs[i].max_dyn;
  return 48 * 1024;
}
}   // namespace lrc_emu

static inline cudaError_t cudaGetDevice(int *d) { *d = 0; return cudaSuccess; }
static inline cudaError_t cudaDeviceGetAttribute(int *v, cudaDeviceAttr a, int d) {
  const char *sms = getenv("LRC_EMU_SMS");
  *v = a == cudaDevAttrMultiProcessorCount ? (sms && atoi(sms) > 0 ? atoi(sms) : 132) : 0;
  return d == 0 ? cudaSuccess : cudaErrorInvalidValue;
}
static inline cudaError_t cudaDeviceGetDefaultMemPool(cudaMemPool_t *p, int d) {
  *p = NULL;
  return d == 0 ? cudaSuccess : cudaErrorInvalidValue;
}
static inline cudaError_t cudaMemPoolSetAttribute(cudaMemPool_t, cudaMemPoolAttr, void *) {
  return cudaSuccess;
}
static inline cudaError_t cudaMallocAsync(void **p, size_t n, cudaStream_t) {
  size_t body = (n + 255) / 256 * 256;
  *p = aligned_alloc(256, body ? body : 256);
  if (!*p) return cudaErrorMemoryAllocation;
  for (size_t i = 0; i < body / 4; i++) ((uint32_t *)*p)[i] = lrc_emu::NAN_FILL;
  return cudaSuccess;
}
static inline cudaError_t cudaFreeAsync(void *p, cudaStream_t) {
  free(p);
  return cudaSuccess;
}
static inline cudaError_t cudaGetLastError() {
  cudaError_t e = lrc_emu::last_error;
  lrc_emu::last_error = cudaSuccess;
  return e;
}
template <typename F> static inline cudaError_t cudaFuncSetAttribute(F *f, cudaFuncAttribute a, int v) {
  if (a != cudaFuncAttributeMaxDynamicSharedMemorySize || v < 0 || v > LRC_EMU_SMEM_MAX)
    return cudaErrorInvalidValue;
  int i = 0;
  while (i < lrc_emu::nfunc_attrs && lrc_emu::func_attrs[i].f != (const void *)f) i++;
  if (i == 64) return cudaErrorInvalidValue;
  if (i == lrc_emu::nfunc_attrs) lrc_emu::nfunc_attrs++;
  lrc_emu::func_attrs[i] = {(const void *)f, v};
  return cudaSuccess;
}

template <typename... P, typename... A, size_t... I>
static inline void lrc_emu_launch_with(void (*k)(P...), const LrcEmuLaunch *l,
                                       std::index_sequence<I...>, A... a) {
  std::tuple<typename std::remove_cv<P>::type...> args(a...);
  void *params[sizeof...(P) + 1] = {&std::get<I>(args)...};
  if (lrc_emu::launch(l, k, params) != 0) {
    lrc_emu::last_error = cudaErrorLaunchFailure;
    if (getenv("LRC_EMU_VERBOSE")) fprintf(stderr, "lrc emulator: %s\n", l->err);
  }
}

template <typename... P, typename... A>
static inline void lrc_emu_launch_k(void (*k)(P...), dim3 g, dim3 b, size_t smem, cudaStream_t,
                                    A... a) {
  static_assert(sizeof...(P) == sizeof...(A), "a launch's arguments, one per parameter");
  static char err[1024];
  LrcEmuLaunch l = {{g.x, g.y, g.z}, {b.x, b.y, b.z}, (unsigned)smem, err, sizeof err, 0};
  if ((int)smem > lrc_emu::max_dyn_of((const void *)k) || !g.x || !g.y || !g.z ||
      (uint64_t)b.x * b.y * b.z > 1024) {
    lrc_emu::last_error = cudaErrorInvalidValue;
    return;
  }
  if (getenv("LRC_EMU_TRACE"))
    fprintf(stderr, "lrc emulator: standalone <<<(%u,%u,%u), (%u,%u,%u), %u>>>\n", g.x, g.y, g.z,
            b.x, b.y, b.z, (unsigned)smem);
  lrc_emu_launch_with(k, &l, std::index_sequence_for<P...>{}, a...);
}

/* -DLRC_EMU_FORMS: the launcher's form chosen at each call by the
 * environment's LRC_PHASED and LRC_ROW_REST (0 or 1), as -DLRC_PHASED and
 * -DLRC_ROW_REST would at compile time. */
#ifdef LRC_EMU_FORMS
static inline bool lrc_emu_flag(const char *name) {
  const char *v = getenv(name);
  return v && !strcmp(v, "1");
}
#define LRC_PHASED lrc_emu_flag("LRC_PHASED")
#define LRC_ROW_REST lrc_emu_flag("LRC_ROW_REST")
#endif

#endif
