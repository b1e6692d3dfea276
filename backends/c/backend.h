/* backend.h — the CPU backend: kernel IR to C source (emit_c.c) and, later,
 * to LLVM IR compiled by ORC LLJIT. */
#ifndef LRC_BACKEND_C_H
#define LRC_BACKEND_C_H

#include "../../ir/ir.h"
#include "../../include/lrc.h"

#define LRC_VERSION_STRING_INTERNAL LRC_VERSION_STRING

/* Write the kernel as standalone C99 into c_out (and its header into
 * h_out, if not NULL). The source #includes `header_name` when given. */
void cg_emit_c(const Kernel *k, const char *header_name, Buf *c_out, Buf *h_out);

#endif
