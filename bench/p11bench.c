/* p11bench: call-rate benchmark for any PKCS#11 module.
 *
 *   p11bench MODULE.so [--label L] [--init] [--so-pin P] [--pin P]
 *            [--seconds S] [--warmup S] [--threads 1,2] [--ops a,b,...] [--tag T]
 *
 * dlopens MODULE, calls C_GetFunctionList and C_Initialize (OS locking), finds
 * the token labelled L (default "bench"), and for every (operation, thread
 * count) runs the operation in a tight loop on that many pthreads for a fixed
 * time after a warm-up, printing one JSON line with the rate. --init first
 * initialises a token (C_InitToken on the first slot whose token is not
 * initialised, then C_InitPIN) and exits.
 *
 * Operations: getinfo (C_GetInfo), session (C_OpenSession+C_CloseSession),
 * random (C_GenerateRandom, 32 bytes), digest (C_DigestInit+C_Digest, SHA-256
 * of 64 bytes). Threads that need a session open their own beforehand.
 *
 * Exit status: 0 if every operation ran without a PKCS#11 error, 1 otherwise,
 * 2 for a setup failure. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------ PKCS#11 (v2.40 ABI) */

typedef unsigned char CK_BYTE;
typedef unsigned long CK_ULONG;
typedef CK_ULONG CK_RV, CK_FLAGS, CK_SLOT_ID, CK_SESSION_HANDLE;
typedef void *CK_VOID_PTR;

typedef struct { CK_BYTE major, minor; } CK_VERSION;

typedef struct {
  CK_VERSION cryptokiVersion;
  CK_BYTE manufacturerID[32];
  CK_FLAGS flags;
  CK_BYTE libraryDescription[32];
  CK_VERSION libraryVersion;
} CK_INFO;

typedef struct {
  CK_BYTE label[32], manufacturerID[32], model[16], serialNumber[16];
  CK_FLAGS flags;
  CK_ULONG ulMaxSessionCount, ulSessionCount, ulMaxRwSessionCount, ulRwSessionCount;
  CK_ULONG ulMaxPinLen, ulMinPinLen, ulTotalPublicMemory, ulFreePublicMemory;
  CK_ULONG ulTotalPrivateMemory, ulFreePrivateMemory;
  CK_VERSION hardwareVersion, firmwareVersion;
  CK_BYTE utcTime[16];
} CK_TOKEN_INFO;

typedef struct {
  CK_ULONG mechanism;
  CK_VOID_PTR pParameter;
  CK_ULONG ulParameterLen;
} CK_MECHANISM;

typedef struct {
  void *CreateMutex, *DestroyMutex, *LockMutex, *UnlockMutex;
  CK_FLAGS flags;
  CK_VOID_PTR pReserved;
} CK_C_INITIALIZE_ARGS;

#define CKR_OK 0x0UL
#define CKR_CRYPTOKI_ALREADY_INITIALIZED 0x191UL
#define CKF_OS_LOCKING_OK 0x2UL
#define CKF_RW_SESSION 0x2UL
#define CKF_SERIAL_SESSION 0x4UL
#define CKF_TOKEN_INITIALIZED 0x400UL
#define CKU_SO 0UL
#define CKM_SHA256 0x250UL

/* CK_FUNCTION_LIST: a version, then the 68 v2.40 entry points in this order. */
enum {
  F_Initialize, F_Finalize, F_GetInfo, F_GetFunctionList, F_GetSlotList, F_GetSlotInfo, F_GetTokenInfo,
  F_GetMechanismList, F_GetMechanismInfo, F_InitToken, F_InitPIN, F_SetPIN, F_OpenSession, F_CloseSession,
  F_CloseAllSessions, F_GetSessionInfo, F_GetOperationState, F_SetOperationState, F_Login, F_Logout,
  F_CreateObject, F_CopyObject, F_DestroyObject, F_GetObjectSize, F_GetAttributeValue, F_SetAttributeValue,
  F_FindObjectsInit, F_FindObjects, F_FindObjectsFinal, F_EncryptInit, F_Encrypt, F_EncryptUpdate,
  F_EncryptFinal, F_DecryptInit, F_Decrypt, F_DecryptUpdate, F_DecryptFinal, F_DigestInit, F_Digest,
  F_DigestUpdate, F_DigestKey, F_DigestFinal, F_SignInit, F_Sign, F_SignUpdate, F_SignFinal,
  F_SignRecoverInit, F_SignRecover, F_VerifyInit, F_Verify, F_VerifyUpdate, F_VerifyFinal,
  F_VerifyRecoverInit, F_VerifyRecover, F_DigestEncryptUpdate, F_DecryptDigestUpdate, F_SignEncryptUpdate,
  F_DecryptVerifyUpdate, F_GenerateKey, F_GenerateKeyPair, F_WrapKey, F_UnwrapKey, F_DeriveKey,
  F_SeedRandom, F_GenerateRandom, F_GetFunctionStatus, F_CancelFunction, F_WaitForSlotEvent,
  F_COUNT
};
typedef struct {
  CK_VERSION version;
  void *fn[F_COUNT];
} CK_FUNCTION_LIST;

typedef CK_RV (*GetFunctionList_t)(CK_FUNCTION_LIST **);
typedef CK_RV (*Initialize_t)(CK_VOID_PTR);
typedef CK_RV (*Finalize_t)(CK_VOID_PTR);
typedef CK_RV (*GetInfo_t)(CK_INFO *);
typedef CK_RV (*GetSlotList_t)(CK_BYTE, CK_SLOT_ID *, CK_ULONG *);
typedef CK_RV (*GetTokenInfo_t)(CK_SLOT_ID, CK_TOKEN_INFO *);
typedef CK_RV (*InitToken_t)(CK_SLOT_ID, CK_BYTE *, CK_ULONG, CK_BYTE *);
typedef CK_RV (*InitPIN_t)(CK_SESSION_HANDLE, CK_BYTE *, CK_ULONG);
typedef CK_RV (*OpenSession_t)(CK_SLOT_ID, CK_FLAGS, CK_VOID_PTR, CK_VOID_PTR, CK_SESSION_HANDLE *);
typedef CK_RV (*CloseSession_t)(CK_SESSION_HANDLE);
typedef CK_RV (*Login_t)(CK_SESSION_HANDLE, CK_ULONG, CK_BYTE *, CK_ULONG);
typedef CK_RV (*Logout_t)(CK_SESSION_HANDLE);
typedef CK_RV (*DigestInit_t)(CK_SESSION_HANDLE, CK_MECHANISM *);
typedef CK_RV (*Digest_t)(CK_SESSION_HANDLE, CK_BYTE *, CK_ULONG, CK_BYTE *, CK_ULONG *);
typedef CK_RV (*GenerateRandom_t)(CK_SESSION_HANDLE, CK_BYTE *, CK_ULONG);

static CK_FUNCTION_LIST *P;
#define CALL(name, ...) (((name##_t)P->fn[F_##name])(__VA_ARGS__))

/* ------------------------------------------------------------------ options */

static const char *opt_module;
static const char *opt_label = "bench";
static const char *opt_so_pin = "12345678";
static const char *opt_pin = "1234";
static const char *opt_tag = "";
static double opt_seconds = 1.5, opt_warmup = 0.3;
static int opt_threads[8] = {1, 2};
static int opt_nthreads = 2;
static const char *opt_ops = "getinfo,session,random,digest";
static int opt_init;
static CK_SLOT_ID g_slot;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void sleep_s(double s) {
  struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

static void pad(CK_BYTE *dst, size_t n, const char *src) {
  memset(dst, ' ', n);
  memcpy(dst, src, strlen(src) < n ? strlen(src) : n);
}

static void die(const char *what, CK_RV rv) {
  fprintf(stderr, "p11bench: %s failed: rv=0x%lx\n", what, rv);
  exit(2);
}

/* ------------------------------------------------------------------- token */

static CK_ULONG slot_list(CK_SLOT_ID *slots, CK_ULONG max) {
  CK_ULONG n = max;
  CK_RV rv = CALL(GetSlotList, 1, slots, &n);
  if (rv != CKR_OK) die("C_GetSlotList", rv);
  return n;
}

static int find_token(CK_SLOT_ID *out) {
  CK_SLOT_ID slots[64];
  CK_ULONG n = slot_list(slots, 64);
  CK_BYTE want[32];
  pad(want, 32, opt_label);
  for (CK_ULONG i = 0; i < n; i++) {
    CK_TOKEN_INFO ti;
    if (CALL(GetTokenInfo, slots[i], &ti) != CKR_OK) continue;
    if ((ti.flags & CKF_TOKEN_INITIALIZED) && memcmp(ti.label, want, 32) == 0) {
      *out = slots[i];
      return 1;
    }
  }
  return 0;
}

static void init_token(void) {
  CK_SLOT_ID slots[64], slot = 0;
  if (find_token(&slot)) {
    fprintf(stderr, "p11bench: token \"%s\" already initialised in slot %lu\n", opt_label, slot);
    return;
  }
  CK_ULONG n = slot_list(slots, 64);
  int found = 0;
  for (CK_ULONG i = 0; i < n && !found; i++) {
    CK_TOKEN_INFO ti;
    if (CALL(GetTokenInfo, slots[i], &ti) == CKR_OK && !(ti.flags & CKF_TOKEN_INITIALIZED)) {
      slot = slots[i];
      found = 1;
    }
  }
  if (!found) {
    fprintf(stderr, "p11bench: no uninitialised token to initialise\n");
    exit(2);
  }
  CK_BYTE label[32];
  pad(label, 32, opt_label);
  CK_RV rv = CALL(InitToken, slot, (CK_BYTE *)opt_so_pin, strlen(opt_so_pin), label);
  if (rv != CKR_OK) die("C_InitToken", rv);
  CK_SESSION_HANDLE s;
  if ((rv = CALL(OpenSession, slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s)) != CKR_OK)
    die("C_OpenSession", rv);
  if ((rv = CALL(Login, s, CKU_SO, (CK_BYTE *)opt_so_pin, strlen(opt_so_pin))) != CKR_OK) die("C_Login(SO)", rv);
  if ((rv = CALL(InitPIN, s, (CK_BYTE *)opt_pin, strlen(opt_pin))) != CKR_OK) die("C_InitPIN", rv);
  CALL(Logout, s);
  CALL(CloseSession, s);
  fprintf(stderr, "p11bench: initialised token \"%s\" in slot %lu\n", opt_label, slot);
}

/* -------------------------------------------------------------- operations */

typedef struct worker {
  _Alignas(64) _Atomic unsigned long count;
  _Atomic unsigned long errors;
  _Atomic CK_RV first_error;
  int index;
  int op;
  CK_SESSION_HANDLE session;
  char pad[64];
} worker;

enum { OP_GETINFO, OP_SESSION, OP_RANDOM, OP_DIGEST, OP_COUNT };
static const char *const op_names[OP_COUNT] = {"getinfo", "session", "random", "digest"};
static const char *const op_calls[OP_COUNT] = {"C_GetInfo", "C_OpenSession+C_CloseSession",
                                              "C_GenerateRandom(32)", "C_DigestInit+C_Digest(SHA-256, 64 B)"};

static _Atomic int g_stop;
static _Atomic int g_go;

static CK_RV one_op(worker *w) {
  switch (w->op) {
    case OP_GETINFO: {
      CK_INFO info;
      return CALL(GetInfo, &info);
    }
    case OP_SESSION: {
      CK_SESSION_HANDLE s;
      CK_RV rv = CALL(OpenSession, g_slot, CKF_SERIAL_SESSION, NULL, NULL, &s);
      if (rv != CKR_OK) return rv;
      return CALL(CloseSession, s);
    }
    case OP_RANDOM: {
      CK_BYTE buf[32];
      return CALL(GenerateRandom, w->session, buf, sizeof buf);
    }
    case OP_DIGEST: {
      static const CK_BYTE data[64] = {1, 2, 3, 4, 5, 6, 7, 8};
      CK_BYTE out[32];
      CK_ULONG out_len = sizeof out;
      CK_MECHANISM m = {CKM_SHA256, NULL, 0};
      CK_RV rv = CALL(DigestInit, w->session, &m);
      if (rv != CKR_OK) return rv;
      return CALL(Digest, w->session, (CK_BYTE *)data, sizeof data, out, &out_len);
    }
  }
  return CKR_OK;
}

static void *worker_main(void *arg) {
  worker *w = arg;
  while (!atomic_load_explicit(&g_go, memory_order_acquire)) {
  }
  while (!atomic_load_explicit(&g_stop, memory_order_relaxed)) {
    CK_RV rv = one_op(w);
    if (rv != CKR_OK) {
      CK_RV zero = 0;
      atomic_compare_exchange_strong(&w->first_error, &zero, rv);
      atomic_fetch_add_explicit(&w->errors, 1, memory_order_relaxed);
      if (atomic_load_explicit(&w->errors, memory_order_relaxed) > 1000) break; /* no point hammering */
    }
    atomic_fetch_add_explicit(&w->count, 1, memory_order_relaxed);
  }
  return NULL;
}

static int run_one(int op, int nthreads) {
  worker *ws = aligned_alloc(64, sizeof(worker) * (size_t)nthreads);
  pthread_t *tids = calloc((size_t)nthreads, sizeof *tids);
  memset(ws, 0, sizeof(worker) * (size_t)nthreads);
  atomic_store(&g_stop, 0);
  atomic_store(&g_go, 0);
  for (int i = 0; i < nthreads; i++) {
    ws[i].index = i;
    ws[i].op = op;
    if (op == OP_RANDOM || op == OP_DIGEST) {
      CK_RV rv = CALL(OpenSession, g_slot, CKF_SERIAL_SESSION, NULL, NULL, &ws[i].session);
      if (rv != CKR_OK) die("C_OpenSession", rv);
    }
    pthread_create(&tids[i], NULL, worker_main, &ws[i]);
  }
  atomic_store_explicit(&g_go, 1, memory_order_release);
  sleep_s(opt_warmup);
  unsigned long before = 0, after = 0;
  double t0 = now_s();
  for (int i = 0; i < nthreads; i++) before += atomic_load(&ws[i].count);
  sleep_s(opt_seconds);
  for (int i = 0; i < nthreads; i++) after += atomic_load(&ws[i].count);
  double t1 = now_s();
  atomic_store(&g_stop, 1);
  unsigned long errors = 0;
  CK_RV first_error = 0;
  for (int i = 0; i < nthreads; i++) {
    pthread_join(tids[i], NULL);
    errors += ws[i].errors;
    if (!first_error) first_error = ws[i].first_error;
    if (ws[i].session) CALL(CloseSession, ws[i].session);
  }
  unsigned long ops = after - before;
  double secs = t1 - t0;
  printf("{\"tag\":\"%s\",\"op\":\"%s\",\"call\":\"%s\",\"threads\":%d,\"ops\":%lu,\"seconds\":%.4f,"
         "\"ops_per_s\":%.1f,\"errors\":%lu,\"first_error\":\"0x%lx\"}\n",
         opt_tag, op_names[op], op_calls[op], nthreads, ops, secs, (double)ops / secs, errors, first_error);
  fflush(stdout);
  free(ws);
  free(tids);
  return errors ? 1 : 0;
}

/* -------------------------------------------------------------------- main */

static void usage(void) {
  fprintf(stderr,
          "usage: p11bench MODULE.so [--init] [--label L] [--so-pin P] [--pin P] [--seconds S] [--warmup S]\n"
          "                [--threads 1,2] [--ops getinfo,session,random,digest] [--tag T]\n");
  exit(2);
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--init")) opt_init = 1;
    else if (!strcmp(a, "--label") && v) opt_label = argv[++i];
    else if (!strcmp(a, "--so-pin") && v) opt_so_pin = argv[++i];
    else if (!strcmp(a, "--pin") && v) opt_pin = argv[++i];
    else if (!strcmp(a, "--tag") && v) opt_tag = argv[++i];
    else if (!strcmp(a, "--seconds") && v) opt_seconds = atof(argv[++i]);
    else if (!strcmp(a, "--warmup") && v) opt_warmup = atof(argv[++i]);
    else if (!strcmp(a, "--ops") && v) opt_ops = argv[++i];
    else if (!strcmp(a, "--threads") && v) {
      opt_nthreads = 0;
      char *copy = strdup(argv[++i]), *save = NULL;
      for (char *t = strtok_r(copy, ",", &save); t && opt_nthreads < 8; t = strtok_r(NULL, ",", &save)) {
        int n = atoi(t);
        if (n < 1 || n > 256) usage();
        opt_threads[opt_nthreads++] = n;
      }
      free(copy);
    } else if (a[0] != '-' && !opt_module) opt_module = a;
    else usage();
  }
  if (!opt_module || opt_seconds <= 0) usage();

  void *lib = dlopen(opt_module, RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    fprintf(stderr, "p11bench: %s\n", dlerror());
    return 2;
  }
  GetFunctionList_t gfl = (GetFunctionList_t)dlsym(lib, "C_GetFunctionList");
  if (!gfl) {
    fprintf(stderr, "p11bench: %s has no C_GetFunctionList\n", opt_module);
    return 2;
  }
  CK_RV rv = gfl(&P);
  if (rv != CKR_OK || !P) die("C_GetFunctionList", rv);
  CK_C_INITIALIZE_ARGS args = {NULL, NULL, NULL, NULL, CKF_OS_LOCKING_OK, NULL};
  rv = CALL(Initialize, &args);
  if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) die("C_Initialize", rv);

  if (opt_init) {
    init_token();
    CALL(Finalize, NULL);
    return 0;
  }
  if (!find_token(&g_slot)) {
    fprintf(stderr, "p11bench: no initialised token labelled \"%s\" (run with --init first)\n", opt_label);
    return 2;
  }

  int failed = 0;
  char *ops = strdup(opt_ops), *save = NULL;
  for (char *name = strtok_r(ops, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
    int op = -1;
    for (int k = 0; k < OP_COUNT; k++)
      if (!strcmp(name, op_names[k])) op = k;
    if (op < 0) {
      fprintf(stderr, "p11bench: unknown operation %s\n", name);
      return 2;
    }
    for (int t = 0; t < opt_nthreads; t++) failed |= run_one(op, opt_threads[t]);
  }
  free(ops);
  rv = CALL(Finalize, NULL);
  if (rv != CKR_OK) {
    fprintf(stderr, "p11bench: C_Finalize failed: rv=0x%lx\n", rv);
    failed = 1;
  }
  return failed;
}
