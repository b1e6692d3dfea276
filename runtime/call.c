/* call.c — calling compiled kernels whose signature is known only at run
 * time, through libffi.
 *
 * Every kernel entry point has the shape
 *   int NAME_range(T1 *buf1, ..., Tn *bufn, int64_t s1, ..., int64_t sm)
 * (buffers in kernel order, then B, T, H, N, lo, hi), so one cif per
 * (n, m) pair describes it.
 */
#include "rt.h"

#include <ffi.h>
#include <stdlib.h>

int rt_call_kernel(void (*fn)(void), int nptrs, void *const *ptrs, int nints,
                   const int64_t *ints, char **err) {
  int n = nptrs + nints;
  ffi_type **types = malloc(sizeof(ffi_type *) * (size_t)(n + 1));
  void **values = malloc(sizeof(void *) * (size_t)(n + 1));
  if (!types || !values) {
    free(types);
    free(values);
    if (err) *err = strdup("out of memory");
    return -1;
  }
  for (int i = 0; i < nptrs; i++) {
    types[i] = &ffi_type_pointer;
    values[i] = (void *)&ptrs[i];
  }
  for (int i = 0; i < nints; i++) {
    types[nptrs + i] = &ffi_type_sint64;
    values[nptrs + i] = (void *)&ints[i];
  }
  ffi_cif cif;
  int rc = -1;
  if (ffi_prep_cif(&cif, FFI_DEFAULT_ABI, (unsigned)n, &ffi_type_sint, types) != FFI_OK) {
    if (err) *err = strdup("libffi could not describe the kernel's signature");
  } else {
    ffi_sarg result = 0;
    ffi_call(&cif, fn, &result, values);
    rc = (int)result;
    if (rc != 0 && err) *err = strdup("the kernel could not allocate its scratch memory");
  }
  free(types);
  free(values);
  return rc == 0 ? 0 : -1;
}
