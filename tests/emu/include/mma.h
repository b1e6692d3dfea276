/* mma.h — the emulator's stand-in (lrc_emu.h). */
#include "lrc_emu.h"
