/* Small helpers shared by the token-store stress programs in test/store:
 * loading the module by path (like a real consumer), the first slot with a
 * token, a deterministic value pattern, and attribute reads. Header-only. */
#ifndef CRATON_TEST_STORE_P11UTIL_H
#define CRATON_TEST_STORE_P11UTIL_H

#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cryptoki_abi.h"
#include "generated/craton_constants.h"
#include "generated/craton_table.h"

static CK_FUNCTION_LIST *F;

/* dlopen + C_GetFunctionList + C_Initialize(CKF_OS_LOCKING_OK); exits on failure. */
static void p11_load(const char *path) {
  void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    fprintf(stderr, "dlopen %s: %s\n", path, dlerror());
    exit(2);
  }
  CK_C_GetFunctionList gfl = (CK_C_GetFunctionList)dlsym(lib, "C_GetFunctionList");
  if (!gfl || gfl(&F) != CKR_OK) {
    fprintf(stderr, "C_GetFunctionList failed\n");
    exit(2);
  }
  CK_C_INITIALIZE_ARGS a;
  memset(&a, 0, sizeof a);
  a.flags = CKF_OS_LOCKING_OK;
  CK_RV rv = F->C_Initialize(&a);
  if (rv != CKR_OK) {
    fprintf(stderr, "C_Initialize -> 0x%lx\n", (unsigned long)rv);
    exit(2);
  }
}

/* The first slot with a token present. */
static CK_ULONG p11_slot(void) {
  CK_ULONG slots[16], n = 16;
  CK_RV rv = F->C_GetSlotList(1, slots, &n);
  if (rv != CKR_OK || n == 0) {
    fprintf(stderr, "C_GetSlotList -> 0x%lx, %lu slots\n", (unsigned long)rv, (unsigned long)n);
    exit(2);
  }
  return slots[0];
}

static CK_ULONG p11_session(CK_ULONG slot) {
  CK_ULONG h = 0;
  CK_RV rv = F->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &h);
  if (rv != CKR_OK) {
    fprintf(stderr, "C_OpenSession -> 0x%lx\n", (unsigned long)rv);
    exit(2);
  }
  return h;
}

/* The value of object (n, revision k): length and bytes both depend on n and k. */
__attribute__((unused)) static size_t pattern_len(unsigned long n, unsigned long k) { return 1 + (n * 37 + k * 101) % 3000; }
__attribute__((unused)) static void pattern_fill(unsigned long n, unsigned long k, unsigned char *out) {
  size_t len = pattern_len(n, k);
  for (size_t i = 0; i < len; i++) out[i] = (unsigned char)(n * 31 + k * 17 + i * 7 + (i >> 8));
}

/* One attribute into a malloc'd buffer (NUL-terminated for convenience); *len gets its length. */
__attribute__((unused)) static CK_RV p11_get(CK_ULONG h, CK_ULONG obj, CK_ULONG type, unsigned char **out, CK_ULONG *len) {
  CK_ATTRIBUTE a = {type, NULL, 0};
  *out = NULL;
  CK_RV rv = F->C_GetAttributeValue(h, obj, &a, 1);
  if (rv != CKR_OK) return rv;
  *out = malloc(a.ulValueLen + 1);
  a.pValue = *out;
  rv = F->C_GetAttributeValue(h, obj, &a, 1);
  if (rv != CKR_OK) {
    free(*out);
    *out = NULL;
    return rv;
  }
  (*out)[a.ulValueLen] = 0;
  *len = a.ulValueLen;
  return CKR_OK;
}

/* Every handle matching the template (up to max); returns the count or -(rv) on failure. */
static long p11_find(CK_ULONG h, CK_ATTRIBUTE *t, CK_ULONG nt, CK_ULONG *out, CK_ULONG max, CK_RV *rvOut) {
  CK_RV rv = F->C_FindObjectsInit(h, t, nt);
  if (rv != CKR_OK) {
    *rvOut = rv;
    return -1;
  }
  CK_ULONG total = 0;
  for (;;) {
    CK_ULONG got = 0;
    CK_ULONG want = max - total < 64 ? max - total : 64;
    if (want == 0) break;
    rv = F->C_FindObjects(h, out + total, want, &got);
    if (rv != CKR_OK) {
      *rvOut = rv;
      F->C_FindObjectsFinal(h);
      return -1;
    }
    total += got;
    if (got == 0) break;
  }
  rv = F->C_FindObjectsFinal(h);
  *rvOut = rv;
  return rv == CKR_OK ? (long)total : -1;
}

__attribute__((unused)) static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

#endif
