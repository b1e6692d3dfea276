/* driver.c — an emulated CUDA device: the driver API and NVRTC entry
 * points that runtime/cuda.c loads with dlopen, over the host's memory
 * and CPU, so that the CUDA tests run where there is no GPU.
 *
 * Built as build/emu/libcuda.so.1 and build/emu/libnvrtc.so.13 (the same
 * library); LD_LIBRARY_PATH=build/emu and CUDA_HOME=tests/emu put them in
 * place of the real ones (tests/emu/run.sh). NVRTC's "cubin" is a shared
 * object: the kernel's CUDA source compiled by the host's C++ compiler
 * with tests/emu/include/lrc_emu.h, which runs each block's threads as
 * fibers. The device is "lrc emulator", sm_99 (no real architecture, so
 * that its modules never meet a real GPU's in a kernel cache).
 *
 * Device memory is the host's: each allocation ends at a page the process
 * may not touch, and starts as NaN, so that reading past the end faults
 * and reading what nothing wrote shows.
 */
#include "include/lrc_emu_abi.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

typedef int CUresult;
typedef unsigned long long CUdeviceptr;

enum {
  CUDA_SUCCESS = 0,
  CUDA_ERROR_INVALID_VALUE = 1,
  CUDA_ERROR_OUT_OF_MEMORY = 2,
  CUDA_ERROR_INVALID_IMAGE = 200,
  CUDA_ERROR_NOT_FOUND = 500,
  CUDA_ERROR_LAUNCH_FAILED = 719,
};

static char detail[2048];   /* the last launch failure, for cuGetErrorString */

/* ---------------------------------------------------------------------- */
/* Device and context                                                     */

EXPORT CUresult cuInit(unsigned flags) { return flags ? CUDA_ERROR_INVALID_VALUE : CUDA_SUCCESS; }

EXPORT CUresult cuGetErrorString(CUresult r, const char **s) {
  switch (r) {
  case CUDA_SUCCESS: *s = "no error"; break;
  case CUDA_ERROR_INVALID_VALUE: *s = "invalid argument"; break;
  case CUDA_ERROR_OUT_OF_MEMORY: *s = "out of memory"; break;
  case CUDA_ERROR_INVALID_IMAGE: *s = "device kernel image is invalid"; break;
  case CUDA_ERROR_NOT_FOUND: *s = "named symbol not found"; break;
  case CUDA_ERROR_LAUNCH_FAILED: *s = detail; break;
  default: *s = "unknown error"; return CUDA_ERROR_INVALID_VALUE;
  }
  return CUDA_SUCCESS;
}

EXPORT CUresult cuDeviceGetCount(int *n) { *n = 1; return CUDA_SUCCESS; }
EXPORT CUresult cuDeviceGet(int *d, int i) { *d = i; return i == 0 ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE; }
EXPORT CUresult cuDeviceGetName(char *name, int len, int d) {
  snprintf(name, (size_t)len, "lrc emulator");
  return d == 0 ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

/* LRC_EMU_SMS: the multiprocessor count the launchers see (default 132). */
EXPORT CUresult cuDeviceGetAttribute(int *v, int attr, int d) {
  const char *sms = getenv("LRC_EMU_SMS");
  switch (attr) {
  case 75: *v = 9; break;                       /* compute capability */
  case 76: *v = 9; break;
  case 97: *v = LRC_EMU_SMEM_MAX; break;        /* shared memory, opted in */
  case 16: *v = sms && atoi(sms) > 0 ? atoi(sms) : 132; break;
  default: *v = 0; break;
  }
  return d == 0 ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

static int the_ctx;
static void *current;
EXPORT CUresult cuDevicePrimaryCtxRetain(void **c, int d) { *c = &the_ctx; return d ? CUDA_ERROR_INVALID_VALUE : 0; }
EXPORT CUresult cuDevicePrimaryCtxRelease_v2(int d) { return d ? CUDA_ERROR_INVALID_VALUE : 0; }
EXPORT CUresult cuCtxGetCurrent(void **c) { *c = current; return CUDA_SUCCESS; }
EXPORT CUresult cuCtxSetCurrent(void *c) { current = c; return CUDA_SUCCESS; }
EXPORT CUresult cuCtxGetDevice(int *d) { *d = 0; return CUDA_SUCCESS; }
EXPORT CUresult cuCtxPushCurrent_v2(void *c) { current = c; return CUDA_SUCCESS; }
EXPORT CUresult cuCtxPopCurrent_v2(void **c) { if (c) *c = current; return CUDA_SUCCESS; }
EXPORT CUresult cuCtxSynchronize(void) { return CUDA_SUCCESS; }
EXPORT CUresult cuStreamCreate(void **s, unsigned flags) {
  (void)flags;
  *s = malloc(1);
  return *s ? CUDA_SUCCESS : CUDA_ERROR_OUT_OF_MEMORY;
}
EXPORT CUresult cuStreamDestroy_v2(void *s) { free(s); return CUDA_SUCCESS; }
EXPORT CUresult cuStreamSynchronize(void *s) { (void)s; return CUDA_SUCCESS; }
EXPORT CUresult cuDeviceGetDefaultMemPool(void **p, int d) { *p = &the_ctx; return d ? CUDA_ERROR_INVALID_VALUE : 0; }
EXPORT CUresult cuMemPoolSetAttribute(void *p, int attr, void *v) { (void)p, (void)attr, (void)v; return 0; }

/* ---------------------------------------------------------------------- */
/* Memory                                                                 */

typedef struct Alloc {
  unsigned char *p, *map;
  size_t len;
} Alloc;
static Alloc *allocs;
static int nallocs, capallocs;

EXPORT CUresult cuMemAlloc_v2(CUdeviceptr *dp, size_t n) {
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  if (n > SIZE_MAX / 2) return CUDA_ERROR_OUT_OF_MEMORY;
  size_t body = (n + 255) / 256 * 256, len = (body + page - 1) / page * page + page;
  if (!body) body = 256, len = 2 * page;
  unsigned char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) return CUDA_ERROR_OUT_OF_MEMORY;
  mprotect(m + len - page, page, PROT_NONE);
  unsigned char *p = m + len - page - body;
  for (size_t i = 0; i < body / 4; i++) ((uint32_t *)p)[i] = 0x7fc07fc0u;
  if (nallocs == capallocs) {
    capallocs = capallocs ? 2 * capallocs : 64;
    Alloc *a = realloc(allocs, (size_t)capallocs * sizeof *a);
    if (!a) {
      munmap(m, len);
      return CUDA_ERROR_OUT_OF_MEMORY;
    }
    allocs = a;
  }
  allocs[nallocs++] = (Alloc){p, m, len};
  *dp = (CUdeviceptr)(uintptr_t)p;
  return CUDA_SUCCESS;
}

EXPORT CUresult cuMemFree_v2(CUdeviceptr dp) {
  for (int i = 0; i < nallocs; i++)
    if (allocs[i].p == (unsigned char *)(uintptr_t)dp) {
      munmap(allocs[i].map, allocs[i].len);
      allocs[i] = allocs[--nallocs];
      return CUDA_SUCCESS;
    }
  return CUDA_ERROR_INVALID_VALUE;
}

EXPORT CUresult cuMemAllocAsync(CUdeviceptr *dp, size_t n, void *s) { (void)s; return cuMemAlloc_v2(dp, n); }
EXPORT CUresult cuMemFreeAsync(CUdeviceptr dp, void *s) { (void)s; return cuMemFree_v2(dp); }
EXPORT CUresult cuMemcpyHtoD_v2(CUdeviceptr d, const void *s, size_t n) {
  memcpy((void *)(uintptr_t)d, s, n);
  return CUDA_SUCCESS;
}
EXPORT CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr d, const void *s, size_t n, void *st) {
  (void)st;
  return cuMemcpyHtoD_v2(d, s, n);
}
EXPORT CUresult cuMemcpyDtoH_v2(void *d, CUdeviceptr s, size_t n) {
  memcpy(d, (const void *)(uintptr_t)s, n);
  return CUDA_SUCCESS;
}
EXPORT CUresult cuMemcpyDtoD_v2(CUdeviceptr d, CUdeviceptr s, size_t n) {
  memmove((void *)(uintptr_t)d, (const void *)(uintptr_t)s, n);
  return CUDA_SUCCESS;
}
EXPORT CUresult cuMemsetD32_v2(CUdeviceptr d, unsigned v, size_t n) {
  for (size_t i = 0; i < n; i++) ((uint32_t *)(uintptr_t)d)[i] = v;
  return CUDA_SUCCESS;
}

/* ---------------------------------------------------------------------- */
/* Events: the host's clock                                               */

EXPORT CUresult cuEventCreate(void **e, unsigned flags) {
  (void)flags;
  *e = calloc(1, sizeof(struct timespec));
  return *e ? CUDA_SUCCESS : CUDA_ERROR_OUT_OF_MEMORY;
}
EXPORT CUresult cuEventRecord(void *e, void *s) {
  (void)s;
  clock_gettime(CLOCK_MONOTONIC, e);
  return CUDA_SUCCESS;
}
EXPORT CUresult cuEventSynchronize(void *e) { (void)e; return CUDA_SUCCESS; }
EXPORT CUresult cuEventDestroy_v2(void *e) { free(e); return CUDA_SUCCESS; }
EXPORT CUresult cuEventElapsedTime(float *ms, void *a, void *b) {
  const struct timespec *x = a, *y = b;
  *ms = (float)((double)(y->tv_sec - x->tv_sec) * 1e3 + (double)(y->tv_nsec - x->tv_nsec) * 1e-6);
  return CUDA_SUCCESS;
}

/* ---------------------------------------------------------------------- */
/* Modules and launches                                                   */

typedef struct Func {
  LrcEmuEntry entry;
  char name[256];
  int max_dyn;              /* dynamic shared memory allowed */
  struct Func *next;
} Func;

typedef struct Module {
  void *lib;
  Func *funcs;
} Module;

/* The image (a shared object) into a file, then dlopen. */
EXPORT CUresult cuModuleLoadData(Module **mod, const void *image) {
  const unsigned char *im = image;
  if (memcmp(im, "\177ELF", 4) != 0 || im[4] != 2) return CUDA_ERROR_INVALID_IMAGE;   /* (64-bit) */
  /* The length: the ELF header's section table ends the file. */
  uint64_t shoff;
  uint16_t shentsize, shnum;
  memcpy(&shoff, im + 0x28, 8);
  memcpy(&shentsize, im + 0x3a, 2);
  memcpy(&shnum, im + 0x3c, 2);
  size_t len = (size_t)(shoff + (uint64_t)shentsize * shnum);
  const char *tmp = getenv("TMPDIR");
  char path[4096];
  snprintf(path, sizeof path, "%s/lrc-emu-XXXXXX.so", tmp && *tmp ? tmp : "/tmp");
  int fd = mkstemps(path, 3);
  if (fd < 0) return CUDA_ERROR_OUT_OF_MEMORY;
  size_t done = 0;
  while (done < len) {
    ssize_t w = write(fd, im + done, len - done);
    if (w <= 0) break;
    done += (size_t)w;
  }
  close(fd);
  void *lib = done == len ? dlopen(path, RTLD_NOW | RTLD_LOCAL) : NULL;
  if (!lib) snprintf(detail, sizeof detail, "%s", dlerror());
  unlink(path);
  if (!lib) return CUDA_ERROR_INVALID_IMAGE;
  if (!(*mod = calloc(1, sizeof **mod))) {
    dlclose(lib);
    return CUDA_ERROR_OUT_OF_MEMORY;
  }
  (*mod)->lib = lib;
  return CUDA_SUCCESS;
}

EXPORT CUresult cuModuleUnload(Module *m) {
  for (Func *f = m->funcs, *next; f; f = next) {
    next = f->next;
    free(f);
  }
  dlclose(m->lib);
  free(m);
  return CUDA_SUCCESS;
}

EXPORT CUresult cuModuleGetFunction(Func **fn, Module *m, const char *name) {
  char sym[512];
  snprintf(sym, sizeof sym, "lrc_emu_entry_%s", name);
  LrcEmuEntry e = (LrcEmuEntry)dlsym(m->lib, sym);
  if (!e) return CUDA_ERROR_NOT_FOUND;
  Func *f = calloc(1, sizeof *f);
  if (!f) return CUDA_ERROR_OUT_OF_MEMORY;
  *f = (Func){.entry = e, .max_dyn = 48 * 1024, .next = m->funcs};
  snprintf(f->name, sizeof f->name, "%s", name);
  m->funcs = f;
  *fn = f;
  return CUDA_SUCCESS;
}

EXPORT CUresult cuFuncSetAttribute(Func *f, int attr, int v) {
  if (attr != 8) return CUDA_ERROR_INVALID_VALUE;   /* MAX_DYNAMIC_SHARED_SIZE_BYTES */
  if (v < 0 || v > LRC_EMU_SMEM_MAX) return CUDA_ERROR_INVALID_VALUE;
  f->max_dyn = v;
  return CUDA_SUCCESS;
}

/* LRC_EMU_RACE=1: each launch twice, every block's threads first to last
 * and then last to first, from the same device memory; race-free code
 * leaves the same bytes either way. */
static int two_orders(Func *f, LrcEmuLaunch *l, void **params) {
  unsigned char **before = calloc((size_t)nallocs + 1, sizeof *before);
  unsigned char **first = calloc((size_t)nallocs + 1, sizeof *first);
  size_t *len = calloc((size_t)nallocs + 1, sizeof *len);
  int rc = before && first && len ? 0 : -1;
  for (int i = 0; !rc && i < nallocs; i++) {
    len[i] = (size_t)(allocs[i].map + allocs[i].len - (size_t)sysconf(_SC_PAGESIZE) - allocs[i].p);
    if (!(before[i] = malloc(len[i])) || !(first[i] = malloc(len[i]))) rc = -1;
    else memcpy(before[i], allocs[i].p, len[i]);
  }
  if (rc) snprintf(detail, sizeof detail, "out of memory for LRC_EMU_RACE");
  l->order = 1;
  if (!rc) rc = f->entry(l, params);
  for (int i = 0; !rc && i < nallocs; i++) {
    memcpy(first[i], allocs[i].p, len[i]);
    memcpy(allocs[i].p, before[i], len[i]);
  }
  l->order = 2;
  if (!rc) rc = f->entry(l, params);
  for (int i = 0; !rc && i < nallocs; i++)
    for (size_t j = 0; j < len[i]; j++)
      if (first[i][j] != allocs[i].p[j]) {
        snprintf(detail, sizeof detail,
                 "%s: results depend on the order its threads run in (a race): byte %zu of the "
                 "%zu-byte allocation at %p",
                 f->name, j, len[i], (void *)allocs[i].p);
        rc = -1;
        break;
      }
  for (int i = 0; i < nallocs && before && first; i++) free(before[i]), free(first[i]);
  free(before), free(first), free(len);
  return rc;
}

EXPORT CUresult cuLaunchKernel(Func *f, unsigned gx, unsigned gy, unsigned gz, unsigned bx,
                               unsigned by, unsigned bz, unsigned smem, void *stream,
                               void **params, void **extra) {
  (void)stream;
  if (extra || (int)smem > f->max_dyn || (uint64_t)bx * by * bz > 1024 || !gx || !gy || !gz ||
      gy > 65535 || gz > 65535)
    return CUDA_ERROR_INVALID_VALUE;
  /* LRC_EMU_ORDER=1 or 2: every block's threads first to last, or last
   * to first (two_orders' halves alone) */
  const char *ord = getenv("LRC_EMU_ORDER");
  LrcEmuLaunch l = {{gx, gy, gz}, {bx, by, bz}, smem, detail, sizeof detail,
                    ord && (atoi(ord) == 1 || atoi(ord) == 2) ? atoi(ord) : 0};
  if (getenv("LRC_EMU_TRACE"))
    fprintf(stderr, "lrc emulator: %s<<<(%u,%u,%u), (%u,%u,%u), %u>>>\n", f->name, gx, gy, gz, bx,
            by, bz, smem);
  const char *race = getenv("LRC_EMU_RACE");
  int rc = race && !strcmp(race, "1") ? two_orders(f, &l, params) : f->entry(&l, params);
  if (rc != 0) {
    if (getenv("LRC_EMU_VERBOSE")) fprintf(stderr, "lrc emulator: %s\n", detail);
    return CUDA_ERROR_LAUNCH_FAILED;
  }
  return CUDA_SUCCESS;
}

/* ---------------------------------------------------------------------- */
/* NVRTC                                                                  */

typedef struct Prog {
  char *src, *name, *log;
  int nh;
  char **headers, **hnames;   /* sources for #include "name" */
  unsigned char *bin;
  size_t binlen;
} Prog;

enum { NVRTC_SUCCESS = 0, NVRTC_ERROR_OUT_OF_MEMORY = 1, NVRTC_ERROR_INVALID_INPUT = 3,
       NVRTC_ERROR_COMPILATION = 6 };

EXPORT int nvrtcVersion(int *major, int *minor) { *major = 13, *minor = 0; return NVRTC_SUCCESS; }
EXPORT const char *nvrtcGetErrorString(int r) {
  switch (r) {
  case NVRTC_SUCCESS: return "NVRTC_SUCCESS";
  case NVRTC_ERROR_OUT_OF_MEMORY: return "NVRTC_ERROR_OUT_OF_MEMORY";
  case NVRTC_ERROR_INVALID_INPUT: return "NVRTC_ERROR_INVALID_INPUT";
  case NVRTC_ERROR_COMPILATION: return "NVRTC_ERROR_COMPILATION";
  default: return "NVRTC_ERROR";
  }
}

/* A name for a file of the program's directory: no '/', no quote. */
static int plain_name(const char *s) {
  return s && *s && !strpbrk(s, "/'\"\\\n") && strcmp(s, ".") && strcmp(s, "..");
}

EXPORT int nvrtcCreateProgram(Prog **p, const char *src, const char *name, int nh,
                              const char *const *h, const char *const *hn) {
  if (!src || nh < 0 || (nh && (!h || !hn))) return NVRTC_ERROR_INVALID_INPUT;
  for (int i = 0; i < nh; i++)
    if (!h[i] || !plain_name(hn[i])) return NVRTC_ERROR_INVALID_INPUT;
  *p = calloc(1, sizeof **p);
  if (!*p) return NVRTC_ERROR_OUT_OF_MEMORY;
  (*p)->src = strdup(src);
  (*p)->name = strdup(plain_name(name) ? name : "kernel.cu");
  (*p)->nh = nh;
  (*p)->headers = calloc((size_t)nh + 1, sizeof(char *));
  (*p)->hnames = calloc((size_t)nh + 1, sizeof(char *));
  for (int i = 0; i < nh; i++) {
    (*p)->headers[i] = strdup(h[i]);
    (*p)->hnames[i] = strdup(hn[i]);
  }
  return NVRTC_SUCCESS;
}

EXPORT int nvrtcDestroyProgram(Prog **p) {
  if (*p) {
    for (int i = 0; i < (*p)->nh; i++) free((*p)->headers[i]), free((*p)->hnames[i]);
    free((*p)->headers), free((*p)->hnames);
    free((*p)->src), free((*p)->name), free((*p)->log), free((*p)->bin);
    free(*p);
    *p = NULL;
  }
  return NVRTC_SUCCESS;
}

/* Present only in the emulator's NVRTC: its version. */
EXPORT int lrc_emu_version(void) { return 1; }

typedef struct Out {
  char *s;
  size_t len, cap;
  int bad;
} Out;

static void put(Out *o, const char *s, size_t n) {
  if (o->len + n + 1 > o->cap) {
    size_t cap = 2 * (o->len + n + 1);
    char *t = realloc(o->s, cap);
    if (!t) {
      o->bad = 1;
      return;
    }
    o->s = t, o->cap = cap;
  }
  memcpy(o->s + o->len, s, n);
  o->len += n;
  o->s[o->len] = 0;
}
static void puts_(Out *o, const char *s) { put(o, s, strlen(s)); }

/* lrc's helpers written in PTX, which lrc_emu.h defines instead. */
static const char *const helpers[] = {"lrc_bf16x2", "lrc_tf32",   "lrc_mma_bf16", "lrc_mma_tf32",
                                      "lrc_ldsm4",  "lrc_ldsm4t", "lrc_ldsm2",    "lrc_ldsm2t",
                                      "lrc_cp16",   "lrc_cp16z",  "lrc_cp4",      "lrc_tid_fresh"};

static int ident_char(char c) {
  return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* Is the line the start of a helper's definition: the name before its
 * first '(' one of helpers? */
static int is_helper(const char *line, size_t n) {
  if (n < 25 || strncmp(line, "static __device__ inline ", 25) != 0) return 0;
  const char *par = memchr(line, '(', n), *b = par;
  if (!par) return 0;
  while (b > line && ident_char(b[-1])) b--;
  for (size_t i = 0; i < sizeof helpers / sizeof helpers[0]; i++)
    if ((size_t)(par - b) == strlen(helpers[i]) && !strncmp(b, helpers[i], (size_t)(par - b)))
      return 1;
  return 0;
}

/* An asm statement at s ("asm(" or "asm volatile("): its replacement
 * into o, the length it spans through its ';' returned (0: unknown). */
static size_t asm_stmt(const char *s, Out *o, char *why, size_t whylen) {
  const char *p = strchr(s, '(');
  const char *lit = p + 1;
  if (*lit != '"') return 0;
  int depth = 0;
  int in_str = 0;
  for (; *p; p++) {
    if (in_str) {
      if (*p == '\\' && p[1]) p++;
      else if (*p == '"') in_str = 0;
      continue;
    }
    if (*p == '"') in_str = 1;
    else if (*p == '(') depth++;
    else if (*p == ')' && --depth == 0) break;
  }
  if (!*p) return 0;
  const char *end = p + 1;
  while (*end == ' ') end++;
  if (*end != ';') return 0;
  end++;
  unsigned n;
  char buf[64];
  if (!strncmp(lit, "\"cp.async.commit_group;", 23)) puts_(o, "lrc_emu_commit();");
  else if (sscanf(lit, "\"cp.async.wait_group %u;", &n) == 1) {
    snprintf(buf, sizeof buf, "lrc_emu_wait(%u);", n);
    puts_(o, buf);
  } else if (!strncmp(lit, "\"cp.async.wait_all;", 19)) {
    puts_(o, "lrc_emu_commit(); lrc_emu_wait(0);");   /* (commit_group, wait_group 0) */
  }
  else if (!strncmp(lit, "\"prefetch.", 10)) puts_(o, "(void)0;");
  else {
    const char *q = strchr(lit + 1, '"');
    snprintf(why, whylen, "the emulator has no instruction %.*s", (int)(q ? q - lit + 1 : 40), lit);
    return 0;
  }
  return (size_t)(end - s);
}

/* Newlines for those in s[0, n): what replaces a statement keeps the
 * source's line numbers. */
static void put_lines(Out *o, const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (s[i] == '\n') put(o, "\n", 1);
}

/* The CUDA source as C++ for lrc_emu.h, each kernel's entry appended; its
 * lines keep their numbers (the reports name them). */
static int transform(const char *src, const char *file, Out *o, char *why, size_t whylen) {
  /* 1. lines: the typedefs NVRTC needs and the host has, the helpers
   * (to the line that is "}" alone, unless their braces close on the
   * first line), each left as an empty line */
  static const char *const dropped[] = {"typedef long long int64_t;", "typedef int int32_t;",
                                        "typedef unsigned long long uintptr_t;"};
  Out lines = {0};
  int skipping = 0;
  for (const char *s = src; *s;) {
    const char *nl = strchr(s, '\n');
    size_t n = nl ? (size_t)(nl - s) : strlen(s);
    const char *next = nl ? nl + 1 : s + n;
    int drop = 0, depth = 0;
    for (size_t i = 0; i < sizeof dropped / sizeof dropped[0]; i++)
      if (n == strlen(dropped[i]) && !strncmp(s, dropped[i], n)) drop = 1;
    if (skipping) {
      if (n == 1 && s[0] == '}') skipping = 0;
      drop = 1;
    } else if (is_helper(s, n)) {
      for (size_t i = 0; i < n; i++) depth += s[i] == '{' ? 1 : s[i] == '}' ? -1 : 0;
      drop = 1;
      skipping = depth > 0 || !memchr(s, '{', n);
    }
    if (!drop) put(&lines, s, (size_t)(next - s));
    else put_lines(&lines, s, (size_t)(next - s));
    s = next;
  }
  if (lines.bad || !lines.s) {
    free(lines.s);
    return -1;
  }
  /* 2. the asm statements (over lines too) and launches, comments and
   * strings aside */
  puts_(o, "#include \"lrc_emu.h\"\n#line 1 \"");
  puts_(o, file);
  puts_(o, "\"\n");
  const char *p = lines.s, *from = p;
  while (*p) {
    if (p[0] == '/' && p[1] == '*') {
      const char *e = strstr(p + 2, "*/");
      p = e ? e + 2 : p + strlen(p);
    } else if (p[0] == '/' && p[1] == '/') {
      p += strcspn(p, "\n");
    } else if (*p == '"' || *p == '\'') {
      char q = *p;
      for (p++; *p && *p != q; p++)
        if (*p == '\\' && p[1]) p++;
      if (*p) p++;
    } else if (!strncmp(p, "<<<", 3)) {
      /* k<<<g, b, smem, stream>>>(args) as lrc_emu_launch_k(k, g, b, smem, stream, args) */
      const char *k = p, *r = strstr(p, ">>>(");
      while (k > from && ident_char(k[-1])) k--;
      if (!r || k == p) {
        snprintf(why, whylen, "the emulator cannot read the launch at: %.60s", k);
        free(lines.s);
        return -1;
      }
      put(o, from, (size_t)(k - from));
      puts_(o, "lrc_emu_launch_k(");
      put(o, k, (size_t)(p - k));
      puts_(o, ", ");
      put(o, p + 3, (size_t)(r - p - 3));
      puts_(o, r[4] == ')' ? "" : ", ");   /* (the launch's own newlines kept) */
      p = from = r + 4;
    } else if (!strncmp(p, "asm", 3) && (p == lines.s || !ident_char(p[-1])) && !ident_char(p[3])) {
      const char *b = p + 3;
      while (*b == ' ') b++;
      if (!strncmp(b, "volatile", 8)) b += 8;
      while (*b == ' ') b++;
      if (*b != '(') {
        p += 3;
        continue;
      }
      put(o, from, (size_t)(p - from));
      size_t k = asm_stmt(p, o, why, whylen);
      if (!k) {
        if (!*why) snprintf(why, whylen, "the emulator cannot read the asm at: %.60s", p);
        free(lines.s);
        return -1;
      }
      put_lines(o, p, k);
      p += k;
      from = p;
    } else {
      p++;
    }
  }
  put(o, from, (size_t)(p - from));
  free(lines.s);
  /* LRC_EMU_DROP_BARRIER=n: the n-th __syncthreads() of the source (from
   * 1) left out, to see that the tests notice */
  const char *drop = getenv("LRC_EMU_DROP_BARRIER");
  if (drop && atoi(drop) > 0) {
    char *b = o->s;
    for (int i = 1; (b = strstr(b, "__syncthreads();")); i++, b++)
      if (i == atoi(drop)) {
        memcpy(b, "(void)0;        ", 16);
        break;
      }
  }
  /* the entries */
  for (const char *g = o->s; (g = strstr(g, "__global__ void ")); g++) {
    const char *nm = g + 16;
    if (!strncmp(nm, "__launch_bounds__(", 18)) {
      nm = strchr(nm, ')');
      if (!nm) break;
      nm++;
      while (*nm == ' ') nm++;
    }
    const char *e = nm;
    while (ident_char(*e)) e++;
    if (*e != '(' || e == nm) continue;
    /* (one entry a kernel: a declaration before its definition) */
    char name[300];
    snprintf(name, sizeof name, "lrc_emu_entry_%.*s(", (int)(e - nm), nm);
    if (strstr(o->s, name)) continue;
    char line[600];
    snprintf(line, sizeof line,
             "\nextern \"C\" __attribute__((visibility(\"default\"))) int lrc_emu_entry_%.*s("
             "const LrcEmuLaunch *l, void **p) { return lrc_emu::launch(l, %.*s, p); }\n",
             (int)(e - nm), nm, (int)(e - nm), nm);
    size_t at = (size_t)(g - o->s);
    puts_(o, line);
    g = o->s + at;   /* (o->s may have moved) */
  }
  return o->bad ? -1 : 0;
}

static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  rewind(f);
  char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
  if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
    free(s);
    s = NULL;
  }
  if (s) s[n] = 0;
  if (len) *len = (size_t)n;
  fclose(f);
  return s;
}

/* LRC_EMU_CXX: the C++ compiler (default c++); LRC_EMU_KEEP=1 keeps the
 * translated source (its directory is in the log). LRC_EMU_TRACE=1 prints
 * each launch, LRC_EMU_VERBOSE=1 each failure's cause, on stderr;
 * LRC_EMU_RACE=1 runs each launch in two orders (two_orders);
 * LRC_EMU_DROP_BARRIER=n leaves out a barrier (transform). */
EXPORT int nvrtcCompileProgram(Prog *p, int nopt, const char *const *opts) {
  free(p->log), free(p->bin);
  p->log = NULL, p->bin = NULL, p->binlen = 0;
  Out o = {0};
  char why[300] = "";
  if (transform(p->src, p->name, &o, why, sizeof why) != 0) {
    free(o.s);
    p->log = strdup(why[0] ? why : "out of memory");
    return NVRTC_ERROR_COMPILATION;
  }
  const char *tmp = getenv("TMPDIR");
  char dir[4096];
  snprintf(dir, sizeof dir, "%s/lrc-emu-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(dir)) {
    free(o.s);
    p->log = strdup(strerror(errno));
    return NVRTC_ERROR_COMPILATION;
  }
  char path[4200], so[4200], log[4200];
  snprintf(path, sizeof path, "%s/%s.cpp", dir, p->name);
  snprintf(so, sizeof so, "%s/k.so", dir);
  snprintf(log, sizeof log, "%s/log", dir);
  FILE *f = fopen(path, "w");
  if (f) {
    fwrite(o.s, 1, o.len, f);
    fclose(f);
  }
  free(o.s);
  for (int i = 0; i < p->nh; i++) {
    char hp[4400];
    snprintf(hp, sizeof hp, "%s/%s", dir, p->hnames[i]);
    if ((f = fopen(hp, "w"))) {
      fputs(p->headers[i], f);
      fclose(f);
    }
  }
  Out cmd = {0};
  const char *cxx = getenv("LRC_EMU_CXX");
  puts_(&cmd, cxx && *cxx ? cxx : "c++");
  puts_(&cmd, " -std=c++17 -O1 -fPIC -shared -fno-strict-aliasing -w");
#if defined(__x86_64__)
  puts_(&cmd, " -fcf-protection=none");   /* (the fibers' switch returns to another stack) */
#endif
  for (int i = 0; i < nopt; i++)
    if ((!strncmp(opts[i], "-I", 2) || !strncmp(opts[i], "-D", 2)) && !strchr(opts[i], '\'')) {
      puts_(&cmd, " '");
      puts_(&cmd, opts[i]);
      puts_(&cmd, "'");
    }
  char tail[13000];
  snprintf(tail, sizeof tail, " -o '%s' '%s' > '%s' 2>&1", so, path, log);
  puts_(&cmd, tail);
  int rc = cmd.bad ? -1 : system(cmd.s);
  free(cmd.s);
  int r = NVRTC_SUCCESS;
  if (rc != 0) {
    size_t n = 0;
    char *l = slurp(log, &n);
    Out m = {0};
    puts_(&m, "the emulator's C++ compiler failed on ");
    puts_(&m, path);
    puts_(&m, ":\n");
    if (l) put(&m, l, n > 8000 ? 8000 : n);
    free(l);
    p->log = m.s;
    r = NVRTC_ERROR_COMPILATION;
  } else if (!(p->bin = (unsigned char *)slurp(so, &p->binlen))) {
    p->log = strdup("the emulator's compiled module cannot be read");
    r = NVRTC_ERROR_COMPILATION;
  }
  const char *keep = getenv("LRC_EMU_KEEP");
  if (!(keep && !strcmp(keep, "1")) && r == NVRTC_SUCCESS) {
    unlink(path), unlink(so), unlink(log);
    for (int i = 0; i < p->nh; i++) {
      char hp[4400];
      snprintf(hp, sizeof hp, "%s/%s", dir, p->hnames[i]);
      unlink(hp);
    }
    rmdir(dir);
  } else {
    unlink(so);
  }
  return r;
}

EXPORT int nvrtcGetProgramLogSize(Prog *p, size_t *n) {
  *n = p->log ? strlen(p->log) + 1 : 1;
  return NVRTC_SUCCESS;
}
EXPORT int nvrtcGetProgramLog(Prog *p, char *s) {
  strcpy(s, p->log ? p->log : "");
  return NVRTC_SUCCESS;
}
EXPORT int nvrtcGetCUBINSize(Prog *p, size_t *n) {
  *n = p->binlen;
  return p->bin ? NVRTC_SUCCESS : NVRTC_ERROR_INVALID_INPUT;
}
EXPORT int nvrtcGetCUBIN(Prog *p, char *s) {
  if (!p->bin) return NVRTC_ERROR_INVALID_INPUT;
  memcpy(s, p->bin, p->binlen);
  return NVRTC_SUCCESS;
}
