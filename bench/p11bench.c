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
 * of 64 bytes), find1k / find10k (C_FindObjectsInit({CKA_CLASS=CKO_DATA,
 * CKA_LABEL}) + C_FindObjects + C_FindObjectsFinal on the token labelled
 * L-1k / L-10k, which must already hold its data objects; every search must
 * return exactly one object), create (C_CreateObject of a public token data
 * object with a 64-byte value; what was created is destroyed after the
 * measurement, untimed). Threads that need a session open their own
 * beforehand.
 *
 *   p11bench MODULE.so --label L --populate N [--populate-budget S]
 *
 * fills the token labelled L with data objects "obj-000000".."obj-<N-1>"
 * (public, four CKA_APPLICATION values, 16-128 byte values), starting after
 * the ones already there, stopping early after S seconds if given, and prints
 * one JSON line with the time taken.
 *
 * Exit status: 0 if every operation ran without a PKCS#11 error (and every
 * find returned exactly one object), 1 otherwise, 2 for a setup failure. */
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
typedef CK_ULONG CK_RV, CK_FLAGS, CK_SLOT_ID, CK_SESSION_HANDLE, CK_OBJECT_HANDLE, CK_ATTRIBUTE_TYPE;
typedef void *CK_VOID_PTR;

typedef struct {
  CK_ATTRIBUTE_TYPE type;
  CK_VOID_PTR pValue;
  CK_ULONG ulValueLen;
} CK_ATTRIBUTE;

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
#define CKO_DATA 0x0UL
#define CKA_CLASS 0x0UL
#define CKA_TOKEN 0x1UL
#define CKA_PRIVATE 0x2UL
#define CKA_LABEL 0x3UL
#define CKA_APPLICATION 0x10UL
#define CKA_VALUE 0x11UL
/* Not a PKCS#11 code: a find that did not return exactly one object. */
#define RV_WRONG_COUNT 0x8b000001UL

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
typedef CK_RV (*CreateObject_t)(CK_SESSION_HANDLE, CK_ATTRIBUTE *, CK_ULONG, CK_OBJECT_HANDLE *);
typedef CK_RV (*DestroyObject_t)(CK_SESSION_HANDLE, CK_OBJECT_HANDLE);
typedef CK_RV (*FindObjectsInit_t)(CK_SESSION_HANDLE, CK_ATTRIBUTE *, CK_ULONG);
typedef CK_RV (*FindObjects_t)(CK_SESSION_HANDLE, CK_OBJECT_HANDLE *, CK_ULONG, CK_ULONG *);
typedef CK_RV (*FindObjectsFinal_t)(CK_SESSION_HANDLE);

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
static long opt_populate = -1;      /* --populate N: fill the token with N data objects, then exit */
static double opt_populate_budget; /* --populate-budget S: stop populating after S seconds (0: no limit) */
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

static int find_token_labelled(const char *label, CK_SLOT_ID *out) {
  CK_SLOT_ID slots[64];
  CK_ULONG n = slot_list(slots, 64);
  CK_BYTE want[32];
  pad(want, 32, label);
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

static int find_token(CK_SLOT_ID *out) { return find_token_labelled(opt_label, out); }

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

/* ------------------------------------------------------- object population */

/* The population of a find token: data objects "obj-000000", "obj-000001", ...
 * (distinct labels), public token objects, spread over four CKA_APPLICATION
 * values, with CKA_VALUE of 16 to 128 bytes. Every one has CKA_CLASS=CKO_DATA,
 * so a search by class alone matches all of them; the label is what selects. */
static const CK_ULONG k_class_data = CKO_DATA;
static CK_BYTE k_true = 1, k_false = 0;

static void object_label(char *buf, size_t n, unsigned long i) { snprintf(buf, n, "obj-%06lu", i); }

static CK_RV create_population_object(CK_SESSION_HANDLE s, unsigned long i) {
  char label[32], app[8];
  CK_BYTE value[128];
  object_label(label, sizeof label, i);
  snprintf(app, sizeof app, "app-%c", 'a' + (int)(i % 4));
  CK_ULONG value_len = 16 + (i * 37) % 113;
  for (CK_ULONG k = 0; k < value_len; k++) value[k] = (CK_BYTE)(i * 131 + k);
  CK_ATTRIBUTE t[] = {
      {CKA_CLASS, (void *)&k_class_data, sizeof k_class_data},
      {CKA_TOKEN, &k_true, 1},
      {CKA_PRIVATE, &k_false, 1},
      {CKA_LABEL, label, strlen(label)},
      {CKA_APPLICATION, app, strlen(app)},
      {CKA_VALUE, value, value_len},
  };
  CK_OBJECT_HANDLE h;
  return CALL(CreateObject, s, t, sizeof t / sizeof t[0], &h);
}

/* Number of data objects on the token of this session (one full search). */
static unsigned long count_data_objects(CK_SESSION_HANDLE s) {
  CK_ATTRIBUTE t[] = {{CKA_CLASS, (void *)&k_class_data, sizeof k_class_data}};
  CK_RV rv = CALL(FindObjectsInit, s, t, 1);
  if (rv != CKR_OK) die("C_FindObjectsInit (counting)", rv);
  unsigned long total = 0;
  for (;;) {
    CK_OBJECT_HANDLE hs[1024];
    CK_ULONG n = 0;
    if ((rv = CALL(FindObjects, s, hs, 1024, &n)) != CKR_OK) die("C_FindObjects (counting)", rv);
    if (n == 0) break;
    total += n;
  }
  if ((rv = CALL(FindObjectsFinal, s)) != CKR_OK) die("C_FindObjectsFinal (counting)", rv);
  return total;
}

/* --populate N: adds objects until the token holds N (or the budget is spent),
 * printing one JSON line; assumes objects 0..count-1 are already there. */
static int populate(void) {
  CK_SESSION_HANDLE s;
  CK_RV rv = CALL(OpenSession, g_slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s);
  if (rv != CKR_OK) die("C_OpenSession", rv);
  unsigned long have = count_data_objects(s), start = have;
  double t0 = now_s(), t1 = t0;
  int capped = 0;
  while (have < (unsigned long)opt_populate) {
    if ((rv = create_population_object(s, have)) != CKR_OK) {
      fprintf(stderr, "p11bench: C_CreateObject of object %lu failed: rv=0x%lx\n", have, rv);
      return 1;
    }
    have++;
    if ((have & 63) == 0) {
      t1 = now_s();
      if (opt_populate_budget > 0 && t1 - t0 > opt_populate_budget && have < (unsigned long)opt_populate) {
        capped = 1;
        break;
      }
    }
  }
  t1 = now_s();
  /* Check that the token really holds what we think (and time one full scan). */
  double c0 = now_s();
  unsigned long counted = count_data_objects(s);
  double c1 = now_s();
  CALL(CloseSession, s);
  double secs = t1 - t0;
  printf("{\"tag\":\"%s\",\"op\":\"populate\",\"token\":\"%s\",\"objects\":%lu,\"created\":%lu,\"seconds\":%.4f,"
         "\"ops_per_s\":%.1f,\"capped\":%s,\"count_seconds\":%.4f}\n",
         opt_tag, opt_label, counted, have - start, secs, secs > 0 ? (double)(have - start) / secs : 0.0,
         capped ? "true" : "false", c1 - c0);
  fflush(stdout);
  if (counted != have) {
    fprintf(stderr, "p11bench: token \"%s\" holds %lu data objects, expected %lu\n", opt_label, counted, have);
    return 1;
  }
  return 0;
}

/* -------------------------------------------------------------- operations */

typedef struct worker {
  _Alignas(64) _Atomic unsigned long count;
  _Atomic unsigned long errors;
  _Atomic CK_RV first_error;
  int index;
  int op;
  CK_SLOT_ID slot;
  CK_SESSION_HANDLE session;
  unsigned long objects; /* find: the population size of the token */
  unsigned long iter;
  CK_OBJECT_HANDLE *created; /* create: handles to destroy afterwards */
  size_t ncreated, capcreated;
  char pad[64];
} worker;

enum { OP_GETINFO, OP_SESSION, OP_RANDOM, OP_DIGEST, OP_FIND1K, OP_FIND10K, OP_CREATE, OP_COUNT };
static const char *const op_names[OP_COUNT] = {"getinfo", "session", "random", "digest", "find1k", "find10k", "create"};
static const char *const op_calls[OP_COUNT] = {"C_GetInfo", "C_OpenSession+C_CloseSession",
                                              "C_GenerateRandom(32)", "C_DigestInit+C_Digest(SHA-256, 64 B)",
                                              "C_FindObjectsInit+C_FindObjects+C_FindObjectsFinal (class+label)",
                                              "C_FindObjectsInit+C_FindObjects+C_FindObjectsFinal (class+label)",
                                              "C_CreateObject (token data object, 64 B value)"};
/* The find operations search the tokens labelled <label>-1k and <label>-10k. */
static const char *const find_suffix[OP_COUNT] = {[OP_FIND1K] = "-1k", [OP_FIND10K] = "-10k"};
static CK_SLOT_ID g_find_slot[OP_COUNT];
static unsigned long g_find_objects[OP_COUNT];
static _Atomic int g_wrong_count_reported;

static int op_needs_session(int op) { return op != OP_GETINFO && op != OP_SESSION; }

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
    case OP_FIND1K:
    case OP_FIND10K: {
      /* A different label each time, spread over the whole population. */
      unsigned long i = (w->iter++ * 7919UL + (unsigned long)w->index * 104729UL) % w->objects;
      char label[32];
      object_label(label, sizeof label, i);
      CK_ATTRIBUTE t[] = {{CKA_CLASS, (void *)&k_class_data, sizeof k_class_data}, {CKA_LABEL, label, strlen(label)}};
      CK_OBJECT_HANDLE hs[2];
      CK_ULONG n = 0;
      CK_RV rv = CALL(FindObjectsInit, w->session, t, 2);
      if (rv != CKR_OK) return rv;
      rv = CALL(FindObjects, w->session, hs, 2, &n);
      CK_RV rv2 = CALL(FindObjectsFinal, w->session);
      if (rv != CKR_OK) return rv;
      if (rv2 != CKR_OK) return rv2;
      if (n != 1) {
        if (!atomic_exchange(&g_wrong_count_reported, 1))
          fprintf(stderr, "p11bench: FIND RETURNED THE WRONG NUMBER OF OBJECTS: label \"%s\" found %lu object(s), expected exactly 1\n",
                  label, n);
        return RV_WRONG_COUNT;
      }
      return CKR_OK;
    }
    case OP_CREATE: {
      static const CK_BYTE value[64] = {0x42, 1, 2, 3};
      char label[48];
      snprintf(label, sizeof label, "new-%s-%d-%lu", opt_tag, w->index, w->iter++);
      CK_ATTRIBUTE t[] = {
          {CKA_CLASS, (void *)&k_class_data, sizeof k_class_data},
          {CKA_TOKEN, &k_true, 1},
          {CKA_PRIVATE, &k_false, 1},
          {CKA_LABEL, label, strlen(label)},
          {CKA_APPLICATION, "p11bench", 8},
          {CKA_VALUE, (void *)value, sizeof value},
      };
      CK_OBJECT_HANDLE h;
      CK_RV rv = CALL(CreateObject, w->session, t, sizeof t / sizeof t[0], &h);
      if (rv != CKR_OK) return rv;
      if (w->ncreated == w->capcreated) {
        w->capcreated = w->capcreated ? w->capcreated * 2 : 4096;
        w->created = realloc(w->created, w->capcreated * sizeof *w->created);
        if (!w->created) die("realloc", 0);
      }
      w->created[w->ncreated++] = h;
      return CKR_OK;
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
    ws[i].slot = find_suffix[op] ? g_find_slot[op] : g_slot;
    ws[i].objects = g_find_objects[op];
    if (op_needs_session(op)) {
      CK_FLAGS flags = CKF_SERIAL_SESSION | (op == OP_CREATE ? CKF_RW_SESSION : 0);
      CK_RV rv = CALL(OpenSession, ws[i].slot, flags, NULL, NULL, &ws[i].session);
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
  }
  /* create: destroy what was created (warm-up included), untimed, so the
   * token does not grow from one measurement to the next. */
  unsigned long destroyed = 0, destroy_errors = 0;
  double d0 = now_s();
  for (int i = 0; i < nthreads; i++) {
    for (size_t k = 0; k < ws[i].ncreated; k++) {
      CK_RV rv = CALL(DestroyObject, ws[i].session, ws[i].created[k]);
      if (rv == CKR_OK) destroyed++;
      else if (destroy_errors++ == 0) fprintf(stderr, "p11bench: C_DestroyObject failed: rv=0x%lx\n", rv);
    }
    free(ws[i].created);
  }
  double d1 = now_s();
  for (int i = 0; i < nthreads; i++)
    if (ws[i].session) CALL(CloseSession, ws[i].session);
  unsigned long ops = after - before;
  double secs = t1 - t0;
  printf("{\"tag\":\"%s\",\"op\":\"%s\",\"call\":\"%s\",\"threads\":%d,\"ops\":%lu,\"seconds\":%.4f,"
         "\"ops_per_s\":%.1f,\"errors\":%lu,\"first_error\":\"0x%lx\"",
         opt_tag, op_names[op], op_calls[op], nthreads, ops, secs, (double)ops / secs, errors + destroy_errors,
         first_error);
  if (find_suffix[op]) printf(",\"objects\":%lu", g_find_objects[op]);
  if (op == OP_CREATE)
    printf(",\"destroyed\":%lu,\"destroy_seconds\":%.4f,\"destroy_errors\":%lu", destroyed, d1 - d0, destroy_errors);
  printf("}\n");
  fflush(stdout);
  free(ws);
  free(tids);
  return errors + destroy_errors ? 1 : 0;
}

/* The find tokens: where they are and how many data objects they hold. */
static void prepare_find(int op) {
  char label[64];
  snprintf(label, sizeof label, "%s%s", opt_label, find_suffix[op]);
  if (!find_token_labelled(label, &g_find_slot[op])) {
    fprintf(stderr, "p11bench: %s needs a token labelled \"%s\" (create it with --init --label %s, fill it with --populate N)\n",
            op_names[op], label, label);
    exit(2);
  }
  CK_SESSION_HANDLE s;
  CK_RV rv = CALL(OpenSession, g_find_slot[op], CKF_SERIAL_SESSION, NULL, NULL, &s);
  if (rv != CKR_OK) die("C_OpenSession", rv);
  g_find_objects[op] = count_data_objects(s);
  CALL(CloseSession, s);
  if (g_find_objects[op] == 0) {
    fprintf(stderr, "p11bench: token \"%s\" holds no data objects (fill it with --populate N)\n", label);
    exit(2);
  }
}

/* -------------------------------------------------------------------- main */

static void usage(void) {
  fprintf(stderr,
          "usage: p11bench MODULE.so [--init] [--label L] [--so-pin P] [--pin P] [--seconds S] [--warmup S]\n"
          "                [--threads 1,2] [--ops getinfo,session,random,digest,find1k,find10k,create] [--tag T]\n"
          "       p11bench MODULE.so --label L --populate N [--populate-budget S] [--tag T]\n");
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
    else if (!strcmp(a, "--populate") && v) opt_populate = atol(argv[++i]);
    else if (!strcmp(a, "--populate-budget") && v) opt_populate_budget = atof(argv[++i]);
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
  if (opt_populate >= 0) {
    int failed = populate();
    CALL(Finalize, NULL);
    return failed;
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
    if (find_suffix[op]) prepare_find(op);
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
