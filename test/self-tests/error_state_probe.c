/*
 * Loads the module as a C consumer does and prints the CK_RV of each call of
 * a fixed sequence, one per line as "<call> 0x<rv>", so a test can see the
 * error state last: C_Initialize, C_GetInfo, C_GetSlotList, C_Finalize,
 * C_Initialize again, C_Finalize again.
 *   error_state_probe <libcraton_hsm.so>
 */
#include <dlfcn.h>
#include <stdio.h>

#include "cryptoki_abi.h"
#include "generated/craton_constants.h"
#include "generated/craton_table.h"

int main(int argc, char **argv) {
  if (argc != 2) return 2;
  void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  CK_C_GetInterface gi = lib ? (CK_C_GetInterface)dlsym(lib, "C_GetInterface") : NULL;
  CK_INTERFACE *iface = NULL;
  if (!gi || gi(NULL, NULL, &iface, 0) != CKR_OK || !iface) {
    printf("load failed: %s\n", lib ? "C_GetInterface" : dlerror());
    return 1;
  }
  CK_FUNCTION_LIST_3_0 *f = iface->pFunctionList;
  CK_INFO info;
  CK_ULONG slots = 0;
  printf("C_Initialize 0x%lx\n", (unsigned long)f->C_Initialize(NULL));
  printf("C_GetInfo 0x%lx\n", (unsigned long)f->C_GetInfo(&info));
  printf("C_GetSlotList 0x%lx\n", (unsigned long)f->C_GetSlotList(CK_FALSE, NULL, &slots));
  printf("C_Finalize 0x%lx\n", (unsigned long)f->C_Finalize(NULL));
  printf("C_Initialize 0x%lx\n", (unsigned long)f->C_Initialize(NULL));
  printf("C_Finalize 0x%lx\n", (unsigned long)f->C_Finalize(NULL));
  return 0;
}
