/* jit.c — load a compiled object into ORC LLJIT and find its entry point.
 *
 * Each loaded kernel owns one LLJIT instance; symbols the object needs
 * (libm, malloc) resolve against the running process.
 */
#include "backend.h"

#include <llvm-c/Core.h>
#include <llvm-c/Error.h>
#include <llvm-c/LLJIT.h>
#include <llvm-c/Orc.h>
#include <llvm-c/Target.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct CgJit {
  LLVMOrcLLJITRef jit;
};

static char *take_error(LLVMErrorRef e) {
  char *m = LLVMGetErrorMessage(e);
  char *r = strdup(m ? m : "unknown LLVM error");
  LLVMDisposeErrorMessage(m);
  return r;
}

CgJit *cg_jit_load(const void *obj, size_t len, const char *symbol, void (**fn)(void),
                   char **err) {
  static _Thread_local bool inited;
  if (!inited) {
    LLVMInitializeNativeTarget();
    LLVMInitializeNativeAsmPrinter();
    inited = true;
  }
  CgJit *j = calloc(1, sizeof *j);
  if (!j) {
    *err = strdup("out of memory");
    return NULL;
  }
  LLVMErrorRef e = LLVMOrcCreateLLJIT(&j->jit, NULL);
  if (e) {
    *err = take_error(e);
    free(j);
    return NULL;
  }
  LLVMOrcJITDylibRef jd = LLVMOrcLLJITGetMainJITDylib(j->jit);
  LLVMOrcDefinitionGeneratorRef gen = NULL;
  e = LLVMOrcCreateDynamicLibrarySearchGeneratorForProcess(
      &gen, LLVMOrcLLJITGetGlobalPrefix(j->jit), NULL, NULL);
  if (e) goto fail;
  LLVMOrcJITDylibAddGenerator(jd, gen);
  LLVMMemoryBufferRef mb =
      LLVMCreateMemoryBufferWithMemoryRangeCopy(obj, len, "lrc-kernel.o");
  e = LLVMOrcLLJITAddObjectFile(j->jit, jd, mb);   /* takes mb */
  if (e) goto fail;
  LLVMOrcExecutorAddress addr = 0;
  e = LLVMOrcLLJITLookup(j->jit, &addr, symbol);
  if (e) goto fail;
  *fn = (void (*)(void))(uintptr_t)addr;
  return j;
fail:
  *err = take_error(e);
  cg_jit_free(j);
  return NULL;
}

void cg_jit_free(CgJit *j) {
  if (!j) return;
  if (j->jit) {
    LLVMErrorRef e = LLVMOrcDisposeLLJIT(j->jit);
    if (e) LLVMConsumeError(e);
  }
  free(j);
}
