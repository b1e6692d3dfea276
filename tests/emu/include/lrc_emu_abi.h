/* lrc_emu_abi.h — what the emulated driver (tests/emu/driver.c, C) and an
 * emulated kernel module (lrc_emu.h, C++) pass each other: one launch. */
#ifndef LRC_EMU_ABI_H
#define LRC_EMU_ABI_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct LrcEmuLaunch {
  unsigned grid[3], block[3];
  unsigned smem;          /* dynamic shared memory, bytes */
  char *err;              /* out: why the launch failed */
  size_t errlen;
  int order;              /* each block's threads: 0 first to last in even
                             blocks, last to first in odd ones; 1 first to
                             last; 2 last to first (and cp.async copies
                             landing at once, not at their wait) */
} LrcEmuLaunch;

/* Each kernel NAME of a module has an entry lrc_emu_entry_NAME of this
 * type: params as cuLaunchKernel's (pointers to each argument's value).
 * 0, or -1 with l->err set. */
typedef int (*LrcEmuEntry)(const LrcEmuLaunch *l, void **params);

#define LRC_EMU_SMEM_MAX 232448   /* per block, opted in (an H100's) */

#ifdef __cplusplus
}
#endif

#endif
