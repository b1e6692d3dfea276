/* cuda_runtime.h — the emulator's stand-in (lrc_emu_rt.h). */
#include "lrc_emu_rt.h"
