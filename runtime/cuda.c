/* cuda.c — NVIDIA GPUs at run time.
 *
 * The CUDA driver API (libcuda) and NVRTC are loaded with dlopen when a
 * CUDA kernel is first asked for, so lrc builds and runs on machines with
 * neither. A kernel's CUDA source (backends/cuda, the kernel alone) is
 * compiled by NVRTC to a cubin for the device's architecture, kept in the
 * kernel cache, and loaded as a module in the caller's current context or
 * else device 0's primary context. A run either takes the caller's device
 * pointers as they are (launched asynchronously on the caller's stream) or
 * copies host tensors to the device and back.
 *
 * The driver's and NVRTC's types are declared here, not included, so that
 * building lrc needs no CUDA headers.
 */
#include "rt.h"
#include "../backends/c/backend.h"

#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef int CUresult;
typedef int CUdevice;
typedef unsigned long long CUdeviceptr;
typedef struct CUctx_st *CUcontext;
typedef struct CUmod_st *CUmodule;
typedef struct CUfunc_st *CUfunction;
typedef struct CUstream_st *CUstream;
typedef struct CUevent_st *CUevent;
typedef int nvrtcResult;
typedef struct _nvrtcProgram *nvrtcProgram;

enum {
  CU_ATTR_CC_MAJOR = 75,                /* CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR */
  CU_ATTR_CC_MINOR = 76,
  CU_ATTR_SMEM_OPTIN = 97,              /* ..._MAX_SHARED_MEMORY_PER_BLOCK_OPTIN */
  CU_ATTR_SMS = 16,                     /* ..._MULTIPROCESSOR_COUNT */
  CU_FUNC_MAX_DYN_SMEM = 8,             /* CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES */
  CU_MEMPOOL_RELEASE_THRESHOLD = 4,     /* CU_MEMPOOL_ATTR_RELEASE_THRESHOLD */
};

/* The driver entry points lrc uses, by their exported names. */
#define CU_FUNCS(X)                                                                       \
  X(cuInit, "cuInit", CUresult, (unsigned))                                               \
  X(cuGetErrorString, "cuGetErrorString", CUresult, (CUresult, const char **))            \
  X(cuDeviceGetCount, "cuDeviceGetCount", CUresult, (int *))                              \
  X(cuDeviceGet, "cuDeviceGet", CUresult, (CUdevice *, int))                              \
  X(cuDeviceGetName, "cuDeviceGetName", CUresult, (char *, int, CUdevice))                \
  X(cuDeviceGetAttribute, "cuDeviceGetAttribute", CUresult, (int *, int, CUdevice))       \
  X(cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain", CUresult, (CUcontext *, CUdevice)) \
  X(cuDevicePrimaryCtxRelease, "cuDevicePrimaryCtxRelease_v2", CUresult, (CUdevice))      \
  X(cuCtxGetCurrent, "cuCtxGetCurrent", CUresult, (CUcontext *))                          \
  X(cuCtxGetDevice, "cuCtxGetDevice", CUresult, (CUdevice *))                             \
  X(cuCtxPushCurrent, "cuCtxPushCurrent_v2", CUresult, (CUcontext))                       \
  X(cuCtxPopCurrent, "cuCtxPopCurrent_v2", CUresult, (CUcontext *))                       \
  X(cuCtxSynchronize, "cuCtxSynchronize", CUresult, (void))                               \
  X(cuModuleLoadData, "cuModuleLoadData", CUresult, (CUmodule *, const void *))           \
  X(cuModuleUnload, "cuModuleUnload", CUresult, (CUmodule))                               \
  X(cuModuleGetFunction, "cuModuleGetFunction", CUresult, (CUfunction *, CUmodule, const char *)) \
  X(cuFuncSetAttribute, "cuFuncSetAttribute", CUresult, (CUfunction, int, int))           \
  X(cuLaunchKernel, "cuLaunchKernel", CUresult,                                           \
    (CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,    \
     CUstream, void **, void **))                                                         \
  X(cuMemAlloc, "cuMemAlloc_v2", CUresult, (CUdeviceptr *, size_t))                       \
  X(cuMemFree, "cuMemFree_v2", CUresult, (CUdeviceptr))                                   \
  X(cuMemAllocAsync, "cuMemAllocAsync", CUresult, (CUdeviceptr *, size_t, CUstream))      \
  X(cuMemFreeAsync, "cuMemFreeAsync", CUresult, (CUdeviceptr, CUstream))                  \
  X(cuMemcpyHtoD, "cuMemcpyHtoD_v2", CUresult, (CUdeviceptr, const void *, size_t))       \
  X(cuMemcpyDtoH, "cuMemcpyDtoH_v2", CUresult, (void *, CUdeviceptr, size_t))             \
  X(cuMemcpyDtoD, "cuMemcpyDtoD_v2", CUresult, (CUdeviceptr, CUdeviceptr, size_t))        \
  X(cuMemcpyHtoDAsync, "cuMemcpyHtoDAsync_v2", CUresult,                                  \
    (CUdeviceptr, const void *, size_t, CUstream))                                        \
  X(cuMemsetD32, "cuMemsetD32_v2", CUresult, (CUdeviceptr, unsigned, size_t))             \
  X(cuEventCreate, "cuEventCreate", CUresult, (CUevent *, unsigned))                      \
  X(cuEventRecord, "cuEventRecord", CUresult, (CUevent, CUstream))                        \
  X(cuEventSynchronize, "cuEventSynchronize", CUresult, (CUevent))                        \
  X(cuEventDestroy, "cuEventDestroy_v2", CUresult, (CUevent))

#define NVRTC_FUNCS(X)                                                                    \
  X(nvrtcVersion, "nvrtcVersion", nvrtcResult, (int *, int *))                            \
  X(nvrtcGetErrorString, "nvrtcGetErrorString", const char *, (nvrtcResult))              \
  X(nvrtcCreateProgram, "nvrtcCreateProgram", nvrtcResult,                                \
    (nvrtcProgram *, const char *, const char *, int, const char *const *,                \
     const char *const *))                                                                \
  X(nvrtcCompileProgram, "nvrtcCompileProgram", nvrtcResult,                              \
    (nvrtcProgram, int, const char *const *))                                             \
  X(nvrtcGetProgramLogSize, "nvrtcGetProgramLogSize", nvrtcResult, (nvrtcProgram, size_t *)) \
  X(nvrtcGetProgramLog, "nvrtcGetProgramLog", nvrtcResult, (nvrtcProgram, char *))        \
  X(nvrtcGetCUBINSize, "nvrtcGetCUBINSize", nvrtcResult, (nvrtcProgram, size_t *))        \
  X(nvrtcGetCUBIN, "nvrtcGetCUBIN", nvrtcResult, (nvrtcProgram, char *))                  \
  X(nvrtcDestroyProgram, "nvrtcDestroyProgram", nvrtcResult, (nvrtcProgram *))

#define DECLARE(field, sym, ret, params) ret(*field) params;

struct RtCuda {
  void *lib;                   /* libcuda, or NULL */
  char *why;                   /* why the driver is unusable (malloc), or NULL */
  bool tried;
  CUdevice dev;
  CUcontext ctx;
  bool primary;                /* ctx is dev's retained primary context */
  int major, minor;            /* compute capability */
  int smem_optin;              /* shared memory per block, opted in */
  int sms;                     /* streaming multiprocessors */
  /* cuEventElapsedTime's name changed in CUDA 13 (_v2); either is fine. */
  CUresult (*cuEventElapsedTime)(float *, CUevent, CUevent);
  CU_FUNCS(DECLARE)
};

struct RtNvrtc {
  void *lib;
  char *why;
  bool tried;
  int major, minor;            /* NVRTC's version */
  char *include;               /* the CUDA headers' directory (mma.h, cuda_bf16.h) */
  NVRTC_FUNCS(DECLARE)
};

/* ---------------------------------------------------------------------- */
/* Loading                                                                 */

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...) {
  va_list ap;
  va_start(ap, f);
  int n = vsnprintf(NULL, 0, f, ap);
  va_end(ap);
  char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
  if (s) {
    va_start(ap, f);
    vsnprintf(s, (size_t)n + 1, f, ap);
    va_end(ap);
  }
  return s;
}

static void *open_first(const char *const *names, int n, Buf *tried) {
  for (int i = 0; i < n; i++) {
    if (!names[i]) continue;
    void *h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (h) return h;
    const char *e = dlerror();
    buf_printf(tried, "%s%s", tried->len ? "; " : "", e ? e : names[i]);
  }
  return NULL;
}

/* $CUDA_HOME, $CUDA_PATH, then /usr/local/cuda. */
static const char *toolkit_dir(int i) {
  const char *dirs[] = {getenv("CUDA_HOME"), getenv("CUDA_PATH"), "/usr/local/cuda"};
  return i < 3 && dirs[i] && *dirs[i] ? dirs[i] : NULL;
}

static const char *cu_err(const RtCuda *c, CUresult r) {
  const char *s = NULL;
  if (c->cuGetErrorString && c->cuGetErrorString(r, &s) == 0 && s) return s;
  return "unknown CUDA error";
}

RtCuda *rt_cuda_driver(lrc_ctx *ctx, lrc_error **err) {
  if (!ctx->cuda) ctx->cuda = calloc(1, sizeof(RtCuda));
  RtCuda *c = ctx->cuda;
  if (!c) {
    rt_error(err, LRC_ERR_NOMEM, "out of memory");
    return NULL;
  }
  if (!c->tried) {
    c->tried = true;
    const char *names[] = {"libcuda.so.1", "libcuda.so"};
    Buf tried = {0};
    c->lib = open_first(names, 2, &tried);
    if (!c->lib) {
      c->why = fmt("no CUDA device: the CUDA driver (libcuda.so.1) cannot be loaded (%s)",
                   tried.s ? tried.s : "?");
      buf_free(&tried);
      goto out;
    }
    buf_free(&tried);
#define LOAD(field, sym, ret, params)                                              \
  if (!(c->field = (ret(*) params)dlsym(c->lib, sym))) {                           \
    c->why = fmt("the CUDA driver lacks %s; it is older than lrc needs", sym); \
    goto out;                                                                      \
  }
    CU_FUNCS(LOAD)
#undef LOAD
    c->cuEventElapsedTime = (CUresult(*)(float *, CUevent, CUevent))dlsym(c->lib, "cuEventElapsedTime_v2");
    if (!c->cuEventElapsedTime)
      c->cuEventElapsedTime = (CUresult(*)(float *, CUevent, CUevent))dlsym(c->lib, "cuEventElapsedTime");
    CUresult r = c->cuInit(0);
    int n = 0;
    if (r == 0) r = c->cuDeviceGetCount(&n);
    if (r != 0) {
      c->why = fmt("no CUDA device: cuInit: %s", cu_err(c, r));
      goto out;
    }
    if (n < 1) {
      c->why = fmt("no CUDA device: the driver sees none");
      goto out;
    }
    /* The caller's current context if it has one (a framework's device),
     * else device 0's primary context. */
    CUcontext cur = NULL;
    if (c->cuCtxGetCurrent(&cur) == 0 && cur && c->cuCtxGetDevice(&c->dev) == 0) {
      c->ctx = cur;
    } else {
      r = c->cuDeviceGet(&c->dev, 0);
      if (r == 0) r = c->cuDevicePrimaryCtxRetain(&c->ctx, c->dev);
      if (r != 0) {
        c->why = fmt("CUDA device 0 cannot be used: %s", cu_err(c, r));
        goto out;
      }
      c->primary = true;
    }
    c->cuDeviceGetAttribute(&c->major, CU_ATTR_CC_MAJOR, c->dev);
    c->cuDeviceGetAttribute(&c->minor, CU_ATTR_CC_MINOR, c->dev);
    c->cuDeviceGetAttribute(&c->smem_optin, CU_ATTR_SMEM_OPTIN, c->dev);
    c->cuDeviceGetAttribute(&c->sms, CU_ATTR_SMS, c->dev);
    /* What the kernels free on their stream stays in the device's pool
     * for the next run (by default the pool returns it to the system
     * at each synchronisation: the phased form's chunk records, a GB at
     * the benchmark's size, cost a millisecond per run to get back). */
    typedef struct CUmemPool_st *CUmemoryPool;
    CUresult (*get_pool)(CUmemoryPool *, CUdevice) =
        (CUresult(*)(CUmemoryPool *, CUdevice))dlsym(c->lib, "cuDeviceGetDefaultMemPool");
    CUresult (*set_attr)(CUmemoryPool, int, void *) =
        (CUresult(*)(CUmemoryPool, int, void *))dlsym(c->lib, "cuMemPoolSetAttribute");
    CUmemoryPool pool;
    unsigned long long keep = ~0ull;
    if (get_pool && set_attr && get_pool(&pool, c->dev) == 0)
      set_attr(pool, CU_MEMPOOL_RELEASE_THRESHOLD, &keep);
  }
out:
  if (c->why) {
    rt_error(err, LRC_ERR_UNSUPPORTED, "%s", c->why);
    return NULL;
  }
  return c;
}

RtNvrtc *rt_nvrtc(lrc_ctx *ctx, lrc_error **err) {
  if (!ctx->nvrtc) ctx->nvrtc = calloc(1, sizeof(RtNvrtc));
  RtNvrtc *n = ctx->nvrtc;
  if (!n) {
    rt_error(err, LRC_ERR_NOMEM, "out of memory");
    return NULL;
  }
  if (!n->tried) {
    n->tried = true;
    char *paths[5] = {0};
    for (int i = 0; i < 3; i++)
      if (toolkit_dir(i)) paths[2 + i] = fmt("%s/lib64/libnvrtc.so", toolkit_dir(i));
    const char *names[] = {"libnvrtc.so.13", "libnvrtc.so.12", paths[2], paths[3], paths[4],
                           "libnvrtc.so"};
    Buf tried = {0};
    n->lib = open_first(names, 6, &tried);
    for (int i = 0; i < 5; i++) free(paths[i]);
    if (!n->lib) {
      n->why = fmt("NVRTC (libnvrtc.so.13) cannot be loaded, so CUDA kernels cannot be "
                   "compiled here: install the CUDA Toolkit or set CUDA_HOME (%s)",
                   tried.s ? tried.s : "?");
      buf_free(&tried);
      goto out;
    }
    buf_free(&tried);
#define LOAD(field, sym, ret, params)                                              \
  if (!(n->field = (ret(*) params)dlsym(n->lib, sym))) {                           \
    n->why = fmt("NVRTC lacks %s; it is older than lrc needs", sym);  \
    goto out;                                                                      \
  }
    NVRTC_FUNCS(LOAD)
#undef LOAD
    n->nvrtcVersion(&n->major, &n->minor);
    for (int i = 0; i < 3 && !n->include; i++) {
      if (!toolkit_dir(i)) continue;
      char *f = fmt("%s/include/mma.h", toolkit_dir(i));
      if (access(f, R_OK) == 0) n->include = fmt("-I%s/include", toolkit_dir(i));
      free(f);
    }
    if (!n->include)
      n->why = fmt("the CUDA Toolkit's headers (include/mma.h) are not in $CUDA_HOME, "
                   "$CUDA_PATH or /usr/local/cuda; NVRTC needs them");
  }
out:
  if (n->why) {
    rt_error(err, LRC_ERR_UNSUPPORTED, "%s", n->why);
    return NULL;
  }
  return n;
}

void rt_cuda_free(RtCuda *c) {
  if (!c) return;
  if (c->primary && c->cuDevicePrimaryCtxRelease) c->cuDevicePrimaryCtxRelease(c->dev);
  /* libcuda stays loaded: the modules of other contexts may still use it,
   * and unloading the driver is not supported. */
  free(c->why);
  free(c);
}

void rt_nvrtc_free(RtNvrtc *n) {
  if (!n) return;
  /* NVRTC stays loaded too: it keeps allocations (its C++ runtime's) for
   * the life of the process, and other contexts may use it. */
  free(n->why);
  free(n->include);
  free(n);
}

void rt_nvrtc_version(const RtNvrtc *n, int *major, int *minor) {
  *major = n->major;
  *minor = n->minor;
}

/* ---------------------------------------------------------------------- */
/* Compiling                                                               */

int rt_nvrtc_compile(RtNvrtc *n, const char *src, const char *name, int major, int minor,
                     void **cubin, size_t *len, lrc_error **err) {
  *cubin = NULL;
  *len = 0;
  nvrtcProgram p = NULL;
  nvrtcResult r = n->nvrtcCreateProgram(&p, src, name, 0, NULL, NULL);
  if (r != 0)
    return rt_error(err, LRC_ERR_INTERNAL, "NVRTC: %s", n->nvrtcGetErrorString(r));
  char arch[64];
  snprintf(arch, sizeof arch, "--gpu-architecture=sm_%d%d", major, minor);
  const char *opts[] = {arch, "-std=c++17", n->include};
  r = n->nvrtcCompileProgram(p, 3, opts);
  int rc = LRC_OK;
  if (r != 0) {
    size_t ls = 0;
    n->nvrtcGetProgramLogSize(p, &ls);
    char *log = malloc(ls + 1);
    if (log) {
      log[0] = '\0';
      n->nvrtcGetProgramLog(p, log);
      log[ls] = '\0';
    }
    rc = rt_error(err, LRC_ERR_INTERNAL, "NVRTC could not compile %s for sm_%d%d (%s):\n%s", name,
                  major, minor, n->nvrtcGetErrorString(r), log ? log : "");
    free(log);
  } else if ((r = n->nvrtcGetCUBINSize(p, len)) != 0 || !(*cubin = malloc(*len ? *len : 1)) ||
             (r = n->nvrtcGetCUBIN(p, *cubin)) != 0) {
    free(*cubin);
    *cubin = NULL;
    rc = rt_error(err, LRC_ERR_INTERNAL, "NVRTC: no cubin for %s: %s", name,
                  r ? n->nvrtcGetErrorString(r) : "out of memory");
  }
  n->nvrtcDestroyProgram(&p);
  return rc;
}

/* ---------------------------------------------------------------------- */
/* Kernels                                                                 */

struct RtGpuKernel {
  RtCuda *cu;
  CUmodule mod;
  CUfunction fn[4];        /* the kernel, the phased form's parts
                              (CgCudaLaunch's) */
  CgCudaLaunch launch;
  lrc_dtype io;
};

static int cu_check(RtCuda *c, CUresult r, const char *what, lrc_error **err) {
  if (r == 0) return LRC_OK;
  return rt_error(err, LRC_ERR_INTERNAL, "CUDA: %s failed: %s", what, cu_err(c, r));
}

static int io_code(lrc_dtype d) { return d == LRC_BF16 ? 1 : d == LRC_F16 ? 2 : 0; }

RtGpuKernel *rt_cuda_load(lrc_module *m, const Kernel *kir, const char *rnn, lrc_dtype io,
                          bool *from_cache, lrc_error **err) {
  RtCuda *c = rt_cuda_driver(m->ctx, err);
  if (!c) return NULL;
  RtGpuKernel *g = calloc(1, sizeof *g);
  if (!g) {
    rt_error(err, LRC_ERR_NOMEM, "out of memory");
    return NULL;
  }
  g->cu = c;
  g->io = io;
  Buf src = {0};
  cg_emit_cuda_jit(kir, io_code(io), &src, &g->launch);
  void *cubin = NULL;
  size_t len = 0;
  char *dir = m->no_cache ? NULL : rt_cache_dir(m->cache_dir);
  Buf key = {0};
  RtNvrtc *n = NULL;
  int rc = LRC_OK;
  if (src.oom || !g->launch.part[0].entry.s) {
    rc = rt_error(err, LRC_ERR_NOMEM, "out of memory");
    goto done;
  }
  /* The key: the source, the device's architecture and the compiler. The
   * NVRTC version is known only once it is loaded, so a cached cubin is
   * found without loading it: the key names lrc's build instead, and a
   * new NVRTC under the same lrc build reuses the entries (a cubin for an
   * architecture does not depend on the compiler's version to run). */
  buf_printf(&key, "lrc %s\nbuild %s\ntarget cuda sm_%d%d\n", LRC_VERSION_STRING, cg_build_id(),
             c->major, c->minor);
  buf_putn(&key, src.s, src.len);
  if (dir && rt_cache_get(dir, key.s, key.len, &cubin, &len) == 0) {
    *from_cache = true;
  } else {
    n = rt_nvrtc(m->ctx, err);
    if (!n) {
      rc = LRC_ERR_UNSUPPORTED;
      goto done;
    }
    Buf name = {0};
    buf_printf(&name, "%s.cu", rnn);
    rc = rt_nvrtc_compile(n, src.s, name.s, c->major, c->minor, &cubin, &len, err);
    buf_free(&name);
    if (rc) goto done;
    if (dir) rt_cache_put(dir, key.s, key.len, cubin, len);   /* best effort */
  }
  CUcontext prev;
  if ((rc = cu_check(c, c->cuCtxPushCurrent(c->ctx), "cuCtxPushCurrent", err))) goto done;
  rc = cu_check(c, c->cuModuleLoadData(&g->mod, cubin), "loading the kernel's module", err);
  for (int i = 0; i < 4 && !rc; i++) {
    const CgCudaEntry *en = &g->launch.part[i];
    if (!en->entry.s) continue;
    rc = cu_check(c, c->cuModuleGetFunction(&g->fn[i], g->mod, en->entry.s),
                  "finding the kernel in its module", err);
    if (rc || en->smem_bytes <= 48 * 1024) continue;
    if (i == 3 && en->smem_bytes > c->smem_optin) {
      buf_free(&g->launch.part[3].entry);   /* (the rest on split columns serves) */
      continue;
    }
    if (en->smem_bytes > c->smem_optin)
      rc = rt_error(err, LRC_ERR_UNSUPPORTED,
                    "rnn '%s' needs %ld bytes of shared memory per block; this GPU (sm_%d%d) "
                    "allows %d", rnn, en->smem_bytes, c->major, c->minor, c->smem_optin);
    else
      rc = cu_check(c, c->cuFuncSetAttribute(g->fn[i], CU_FUNC_MAX_DYN_SMEM, (int)en->smem_bytes),
                    "allowing the kernel's shared memory", err);
  }
  c->cuCtxPopCurrent(&prev);
done:
  free(cubin);
  free(dir);
  buf_free(&key);
  buf_free(&src);
  if (rc) {
    rt_cuda_kernel_free(g);
    return NULL;
  }
  return g;
}

void rt_cuda_kernel_free(RtGpuKernel *g) {
  if (!g) return;
  if (g->mod) {
    CUcontext prev;
    if (g->cu->cuCtxPushCurrent(g->cu->ctx) == 0) {
      g->cu->cuModuleUnload(g->mod);
      g->cu->cuCtxPopCurrent(&prev);
    }
  }
  for (int i = 0; i < 4; i++) buf_free(&g->launch.part[i].entry);
  free(g);
}

/* The element type of kernel buffer b on the device. */
static lrc_dtype buf_dtype(const RtGpuKernel *g, const KBuf *b) {
  switch (b->role) {
  case KB_STATE_IN:
  case KB_STATE_OUT: return LRC_F32;
  case KB_SEQLENS: return LRC_I64;
  default: return g->io;
  }
}

/* Switch `name` (on or off) as set in the environment, else dflt. */
static bool env_on_off(const char *name, bool dflt) {
  const char *env = getenv(name);
  if (env && !strcmp(env, "on")) return true;
  if (env && !strcmp(env, "off")) return false;
  return dflt;
}

/* Does this run take the phased form? LRC_CUDA_PHASED=on or off decides;
 * else cg_cuda_phased. */
static bool take_phased(const RtGpuKernel *g, const RtCudaRun *r) {
  if (!g->launch.phased) return false;
  bool pays = cg_cuda_phased(g->launch.phase_pays,
                             (long long)(r->N * r->H * g->launch.part[0].blocks_per_row),
                             (long long)(r->B * r->T), (long long)r->N, g->launch.phase_chunk);
  return env_on_off("LRC_CUDA_PHASED", pays);
}

static int launch(RtGpuKernel *g, const Kernel *kir, CUdeviceptr *ptrs, const RtCudaRun *r,
                  CUstream stream, lrc_error **err) {
  RtCuda *c = g->cu;
  int64_t rows = r->N * r->H;
  if (rows <= 0) return LRC_OK;
  bool phased = take_phased(g, r);
  int64_t slots = phased ? r->B * r->T / g->launch.phase_chunk + r->N : 0;
  /* The rest on one block a row: LRC_CUDA_ROW=on or off decides (where
   * the kernel has it), else cg_cuda_whole_rows. */
  int rest = 2;
  if (g->launch.part[3].entry.s &&
      env_on_off("LRC_CUDA_ROW", cg_cuda_whole_rows(rows, g->launch.part[2].blocks_per_row, c->sms)))
    rest = 3;
  /* (part, grid x, grid y) in order */
  int parts[2] = {phased ? 1 : 0, rest};
  int64_t gx[2] = {phased ? slots : rows * g->launch.part[0].blocks_per_row,
                   rows * g->launch.part[rest].blocks_per_row};
  int64_t gy[2] = {phased ? r->H : 1, 1};
  int nlaunch = phased ? 2 : 1;
  size_t scratch_bytes = 0;
  for (int i = 0; i < nlaunch; i++) {
    if (gx[i] > 0x7fffffff || gy[i] > 65535)
      return rt_error(err, LRC_ERR_USAGE, "N·H = %lld rows of %lld tokens are more than one launch can hold",
                      (long long)rows, (long long)(r->B * r->T));
    size_t b = sizeof(float) * (size_t)g->launch.part[parts[i]].scratch_floats * (size_t)(gx[i] * gy[i]);
    if (b > scratch_bytes) scratch_bytes = b;
  }
  CUdeviceptr scratch = 0, records = 0;
  int rc = LRC_OK;
  if (scratch_bytes &&
      (rc = cu_check(c, c->cuMemAllocAsync(&scratch, scratch_bytes, stream), "allocating scratch", err)))
    return rc;
  if (phased) {
    size_t bytes = sizeof(float) * (size_t)g->launch.phase_rec * (size_t)(slots * r->H);
    rc = cu_check(c, c->cuMemAllocAsync(&records, bytes ? bytes : 4, stream),
                  "allocating the chunk records", err);
  }
  int nb = kir->bufs.len;
  void **params = calloc((size_t)nb + 6, sizeof *params);
  int64_t dims[4] = {r->B, r->T, r->H, r->N};
  if (!rc && !params) rc = rt_error(err, LRC_ERR_NOMEM, "out of memory");
  if (!rc) {
    for (int b = 0; b < nb; b++) params[b] = &ptrs[b];
    for (int i = 0; i < 4; i++) params[nb + i] = &dims[i];
    params[nb + 4] = &scratch;
    params[nb + 5] = &records;
  }
  for (int i = 0; !rc && i < nlaunch; i++) {
    const CgCudaEntry *en = &g->launch.part[parts[i]];
    rc = cu_check(c, c->cuLaunchKernel(g->fn[parts[i]], (unsigned)gx[i], (unsigned)gy[i], 1,
                                       (unsigned)en->threads, 1, 1, (unsigned)en->smem_bytes,
                                       stream, params, NULL),
                  "launching the kernel", err);
  }
  if (scratch) c->cuMemFreeAsync(scratch, stream);
  if (records) c->cuMemFreeAsync(records, stream);
  free(params);
  return rc;
}

/* A run on the caller's device pointers: checked, then launched on the
 * caller's stream; returns once launched. */
static int run_device(RtGpuKernel *g, const Kernel *kir, const RtCudaRun *r, lrc_error **err) {
  RtCuda *c = g->cu;
  int nb = kir->bufs.len;
  CUdeviceptr *ptrs = calloc((size_t)nb + 1, sizeof *ptrs);
  CUdeviceptr cu = 0;
  CUstream stream = (CUstream)r->stream;
  int rc = ptrs ? LRC_OK : rt_error(err, LRC_ERR_NOMEM, "out of memory");
  for (int b = 0; !rc && b < nb; b++) {
    const KBuf *kb = &kir->bufs.data[b];
    const lrc_tensor *t = r->views[b];
    if (kb->role == KB_SEQLENS || !t) continue;
    lrc_dtype want = buf_dtype(g, kb);
    if (t->dtype != want)
      rc = rt_error(err, LRC_ERR_USAGE,
                    "'%s' is %s on the device; this kernel takes %s there (inputs, params and "
                    "outputs in the kernel's I/O dtype, states in float32)",
                    kb->name, lrc_dtype_name(t->dtype), lrc_dtype_name(want));
    else if (!rt_is_contiguous(t))
      rc = rt_error(err, LRC_ERR_USAGE, "'%s' is strided; device tensors must be contiguous",
                    kb->name);
    else ptrs[b] = (CUdeviceptr)(uintptr_t)t->data;
  }
  CUcontext prev;
  if (!rc) rc = cu_check(c, c->cuCtxPushCurrent(c->ctx), "cuCtxPushCurrent", err);
  else goto out;
  /* cu_seqlens as the kernel's int64, from the validated host copy. */
  if (!rc && r->cu) {
    size_t bytes = sizeof(int64_t) * (size_t)(r->N + 1);
    rc = cu_check(c, c->cuMemAllocAsync(&cu, bytes, stream), "allocating cu_seqlens", err);
    if (!rc) rc = cu_check(c, c->cuMemcpyHtoDAsync(cu, r->cu, bytes, stream), "copying cu_seqlens", err);
    for (int b = 0; b < nb; b++)
      if (kir->bufs.data[b].role == KB_SEQLENS) ptrs[b] = cu;
  }
  if (!rc) rc = launch(g, kir, ptrs, r, stream, err);
  if (cu) c->cuMemFreeAsync(cu, stream);
  c->cuCtxPopCurrent(&prev);
out:
  free(ptrs);
  return rc;
}

/* A run on host tensors: each copied to the device in the kernel's dtype,
 * the kernel run, outputs and final states copied back. With `times`, the
 * kernel runs `repeat` times between the copies, each run timed on the
 * device. */
static int run_host(RtGpuKernel *g, const Kernel *kir, const RtCudaRun *r, int repeat,
                    double *times, lrc_error **err) {
  RtCuda *c = g->cu;
  int nb = kir->bufs.len;
  CUdeviceptr *ptrs = calloc((size_t)nb + 1, sizeof *ptrs);
  void *host = NULL;
  CUevent ev[2] = {NULL, NULL};
  CUcontext prev;
  int rc = ptrs ? LRC_OK : rt_error(err, LRC_ERR_NOMEM, "out of memory");
  if (rc || (rc = cu_check(c, c->cuCtxPushCurrent(c->ctx), "cuCtxPushCurrent", err))) {
    free(ptrs);
    return rc;
  }
  for (int b = 0; !rc && b < nb; b++) {
    const KBuf *kb = &kir->bufs.data[b];
    const lrc_tensor *t = r->views[b];
    if (kb->role == KB_SEQLENS ? !r->cu : !t) continue;
    lrc_dtype dt = buf_dtype(g, kb);
    int64_t n = kb->role == KB_SEQLENS ? r->N + 1 : lrc_tensor_numel(t);
    size_t bytes = rt_dtype_size(dt) * (size_t)(n ? n : 1);
    if ((rc = cu_check(c, c->cuMemAlloc(&ptrs[b], bytes), "allocating device memory", err))) break;
    bool in = kb->role != KB_OUTPUT && kb->role != KB_STATE_OUT;
    if (!in) {   /* NaN, so that an element the kernel fails to write shows */
      rc = cu_check(c, c->cuMemsetD32(ptrs[b], 0x7fc00000u, bytes / 4), "cuMemsetD32", err);
      continue;
    }
    free(host);
    host = malloc(bytes);
    if (!host) {
      rc = rt_error(err, LRC_ERR_NOMEM, "out of memory copying '%s'", kb->name);
      break;
    }
    if (kb->role == KB_SEQLENS) memcpy(host, r->cu, bytes);
    else rt_pack(t, host, dt);
    rc = cu_check(c, c->cuMemcpyHtoD(ptrs[b], host, bytes), "copying to the device", err);
  }
  if (!rc && times) {
    rc = cu_check(c, c->cuEventCreate(&ev[0], 0), "cuEventCreate", err);
    if (!rc) rc = cu_check(c, c->cuEventCreate(&ev[1], 0), "cuEventCreate", err);
  }
  for (int i = 0; !rc && i < (times ? repeat : 1); i++) {
    if (times) c->cuEventRecord(ev[0], NULL);
    rc = launch(g, kir, ptrs, r, NULL, err);
    if (times && !rc) {
      c->cuEventRecord(ev[1], NULL);
      float ms = 0;
      rc = cu_check(c, c->cuEventSynchronize(ev[1]), "running the kernel", err);
      if (!rc && c->cuEventElapsedTime) c->cuEventElapsedTime(&ms, ev[0], ev[1]);
      times[i] = ms;
    }
  }
  if (!rc) rc = cu_check(c, c->cuCtxSynchronize(), "running the kernel", err);
  for (int b = 0; !rc && b < nb; b++) {
    const KBuf *kb = &kir->bufs.data[b];
    const lrc_tensor *t = r->views[b];
    if (!t || (kb->role != KB_OUTPUT && kb->role != KB_STATE_OUT)) continue;
    lrc_dtype dt = buf_dtype(g, kb);
    int64_t n = lrc_tensor_numel(t);
    size_t bytes = rt_dtype_size(dt) * (size_t)(n ? n : 1);
    free(host);
    host = malloc(bytes);
    if (!host) rc = rt_error(err, LRC_ERR_NOMEM, "out of memory copying '%s' back", kb->name);
    else rc = cu_check(c, c->cuMemcpyDtoH(host, ptrs[b], bytes), "copying from the device", err);
    if (!rc) rt_unpack(t, host, dt);
  }
  for (int i = 0; i < 2; i++)
    if (ev[i]) c->cuEventDestroy(ev[i]);
  for (int b = 0; b < nb; b++)
    if (ptrs[b]) c->cuMemFree(ptrs[b]);
  c->cuCtxPopCurrent(&prev);
  free(host);
  free(ptrs);
  return rc;
}

int rt_cuda_run(RtGpuKernel *g, const Kernel *kir, const RtCudaRun *r, int repeat, double *times,
                lrc_error **err) {
  if (r->device) {
    if (times)
      return rt_error(err, LRC_ERR_USAGE, "timing runs take host tensors, not device pointers");
    return run_device(g, kir, r, err);
  }
  return run_host(g, kir, r, repeat, times, err);
}

/* Device-to-device copy rate (bytes read plus written), GB/s. */
double rt_cuda_copy_gbps(lrc_ctx *ctx, double seconds, lrc_error **err) {
  RtCuda *c = rt_cuda_driver(ctx, err);
  if (!c) return -1;
  CUcontext prev;
  if (cu_check(c, c->cuCtxPushCurrent(c->ctx), "cuCtxPushCurrent", err)) return -1;
  size_t bytes = (size_t)256 << 20;
  CUdeviceptr a = 0, b = 0;
  CUevent ev[2] = {NULL, NULL};
  double best = -1;
  int rc = cu_check(c, c->cuMemAlloc(&a, bytes), "allocating device memory", err);
  if (!rc) rc = cu_check(c, c->cuMemAlloc(&b, bytes), "allocating device memory", err);
  if (!rc) rc = cu_check(c, c->cuMemsetD32(a, 0x3f800000u, bytes / 4), "cuMemsetD32", err);
  if (!rc) rc = cu_check(c, c->cuEventCreate(&ev[0], 0), "cuEventCreate", err);
  if (!rc) rc = cu_check(c, c->cuEventCreate(&ev[1], 0), "cuEventCreate", err);
  double spent = 0;
  for (int i = 0; !rc && (i < 4 || spent < seconds * 1e3) && i < 1000; i++) {
    c->cuEventRecord(ev[0], NULL);
    rc = cu_check(c, c->cuMemcpyDtoD(b, a, bytes), "cuMemcpyDtoD", err);
    c->cuEventRecord(ev[1], NULL);
    float ms = 0;
    if (!rc) rc = cu_check(c, c->cuEventSynchronize(ev[1]), "cuEventSynchronize", err);
    if (!rc && c->cuEventElapsedTime) c->cuEventElapsedTime(&ms, ev[0], ev[1]);
    spent += ms;
    double gbps = ms > 0 ? 2.0 * (double)bytes / (ms * 1e6) : -1;
    if (i > 0 && gbps > best) best = gbps;   /* the first run warms up */
  }
  for (int i = 0; i < 2; i++)
    if (ev[i]) c->cuEventDestroy(ev[i]);
  if (a) c->cuMemFree(a);
  if (b) c->cuMemFree(b);
  c->cuCtxPopCurrent(&prev);
  return rc ? -1 : best;
}

void rt_cuda_device(const RtCuda *c, char *name, int len, int *major, int *minor) {
  name[0] = '\0';
  if (c->cuDeviceGetName(name, len, c->dev) != 0) snprintf(name, (size_t)len, "CUDA device");
  *major = c->major;
  *minor = c->minor;
}

int rt_cuda_to_host(RtCuda *c, void *dst, const void *src, size_t bytes, lrc_error **err) {
  CUcontext prev;
  int rc = cu_check(c, c->cuCtxPushCurrent(c->ctx), "cuCtxPushCurrent", err);
  if (rc) return rc;
  rc = cu_check(c, c->cuMemcpyDtoH(dst, (CUdeviceptr)(uintptr_t)src, bytes),
                "reading a device tensor", err);
  c->cuCtxPopCurrent(&prev);
  return rc;
}
