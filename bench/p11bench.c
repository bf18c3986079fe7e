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
 * Crypto operations (one op = both calls where two are named): ecsign /
 * ecverify (C_SignInit+C_Sign / C_VerifyInit+C_Verify, CKM_ECDSA over a
 * 32-byte hash, P-256), rsasign / rsaverify (CKM_SHA256_RSA_PKCS over 64
 * bytes, RSA-2048), gcm1k / gcm1m (C_EncryptInit+C_Encrypt, CKM_AES_GCM with
 * AES-256, a fresh 12-byte IV per op, no AAD, 128-bit tag, over 1 KiB / 1 MiB),
 * digest1m (C_DigestInit+C_Digest, SHA-256 of 1 MiB), ecgen (C_GenerateKeyPair,
 * EC P-256) and aesgen (C_GenerateKey, AES-256), both as session objects that
 * are destroyed after the measurement, untimed. The run logs in as the user
 * once (PIN --pin) before the first of them. The keys are token objects
 * labelled bench-ec / bench-rsa / bench-aes made beforehand by --keygen
 * (default, --keys token), or session objects generated at start (--keys
 * session). Verify checks a signature made before the measurement. --split
 * times the two calls of a two-call op separately (JSON init_us / call_us,
 * mean microseconds per op; adds two clock reads per op).
 *
 *   p11bench MODULE.so [--label L] --keygen
 *
 * generates the token keys of the crypto operations (those not there yet).
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

/* CK_GCM_PARAMS as in the v2.40 headers (SoftHSMv2 2.6 and Craton: with ulIvBits). */
typedef struct {
  CK_BYTE *pIv;
  CK_ULONG ulIvLen, ulIvBits;
  CK_BYTE *pAAD;
  CK_ULONG ulAADLen, ulTagBits;
} CK_GCM_PARAMS;

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
#define CKR_USER_ALREADY_LOGGED_IN 0x100UL
#define CKU_USER 1UL
#define CKO_PUBLIC_KEY 0x2UL
#define CKO_PRIVATE_KEY 0x3UL
#define CKO_SECRET_KEY 0x4UL
#define CKK_RSA 0x0UL
#define CKK_EC 0x3UL
#define CKK_AES 0x1fUL
#define CKA_KEY_TYPE 0x100UL
#define CKA_SENSITIVE 0x103UL
#define CKA_ENCRYPT 0x104UL
#define CKA_DECRYPT 0x105UL
#define CKA_SIGN 0x108UL
#define CKA_VERIFY 0x10aUL
#define CKA_MODULUS_BITS 0x121UL
#define CKA_PUBLIC_EXPONENT 0x122UL
#define CKA_VALUE_LEN 0x161UL
#define CKA_EXTRACTABLE 0x162UL
#define CKA_EC_PARAMS 0x180UL
#define CKM_RSA_PKCS_KEY_PAIR_GEN 0x0UL
#define CKM_SHA256_RSA_PKCS 0x40UL
#define CKM_EC_KEY_PAIR_GEN 0x1040UL
#define CKM_ECDSA 0x1041UL
#define CKM_AES_KEY_GEN 0x1080UL
#define CKM_AES_GCM 0x1087UL
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
typedef CK_RV (*SignInit_t)(CK_SESSION_HANDLE, CK_MECHANISM *, CK_OBJECT_HANDLE);
typedef CK_RV (*Sign_t)(CK_SESSION_HANDLE, CK_BYTE *, CK_ULONG, CK_BYTE *, CK_ULONG *);
typedef CK_RV (*VerifyInit_t)(CK_SESSION_HANDLE, CK_MECHANISM *, CK_OBJECT_HANDLE);
typedef CK_RV (*Verify_t)(CK_SESSION_HANDLE, CK_BYTE *, CK_ULONG, CK_BYTE *, CK_ULONG);
typedef CK_RV (*EncryptInit_t)(CK_SESSION_HANDLE, CK_MECHANISM *, CK_OBJECT_HANDLE);
typedef CK_RV (*Encrypt_t)(CK_SESSION_HANDLE, CK_BYTE *, CK_ULONG, CK_BYTE *, CK_ULONG *);
typedef CK_RV (*GenerateKey_t)(CK_SESSION_HANDLE, CK_MECHANISM *, CK_ATTRIBUTE *, CK_ULONG, CK_OBJECT_HANDLE *);
typedef CK_RV (*GenerateKeyPair_t)(CK_SESSION_HANDLE, CK_MECHANISM *, CK_ATTRIBUTE *, CK_ULONG, CK_ATTRIBUTE *, CK_ULONG,
                                   CK_OBJECT_HANDLE *, CK_OBJECT_HANDLE *);

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
static int opt_keygen;              /* --keygen: generate the crypto token keys, then exit */
static int opt_session_keys;        /* --keys session: the crypto ops use session keys made at start */
static int opt_split;               /* --split: time the two calls of a two-call op separately */
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

/* ------------------------------------------------------------- crypto keys */

/* The crypto operations use one EC P-256 key pair, one RSA-2048 key pair and
 * one AES-256 key. With --keys token (the default) they are token objects
 * labelled bench-ec / bench-rsa / bench-aes, made once per token by --keygen
 * (run.mjs does that before the rounds) and looked up by label at start; with
 * --keys session they are session objects generated at start in a holder
 * session that stays open for the whole run. Either way the run logs in as
 * the user once (the login state is per token, so every worker session is a
 * user session) and the private and secret keys are CKA_PRIVATE and
 * CKA_SENSITIVE, as an HSM application would make them. */
static const CK_BYTE k_p256_oid[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
static const CK_BYTE k_f4[] = {1, 0, 1};
static const CK_ULONG k_rsa_bits = 2048, k_aes_len = 32;
static const CK_ULONG k_class_pub = CKO_PUBLIC_KEY, k_class_priv = CKO_PRIVATE_KEY, k_class_secret = CKO_SECRET_KEY;
static const CK_ULONG k_key_aes = CKK_AES;
static const char *const k_label_ec = "bench-ec", *const k_label_rsa = "bench-rsa", *const k_label_aes = "bench-aes";

static struct {
  CK_OBJECT_HANDLE ec_pub, ec_priv, rsa_pub, rsa_priv, aes;
} g_keys;
static CK_SESSION_HANDLE g_holder; /* logged in; holds the session keys */
static int g_crypto_ready;

#define COUNT(t) (sizeof t / sizeof t[0])

static CK_RV gen_key_pair(CK_SESSION_HANDLE s, int token, int rsa, const char *label, CK_OBJECT_HANDLE *pub,
                          CK_OBJECT_HANDLE *priv) {
  CK_BYTE *tok = token ? &k_true : &k_false;
  CK_ULONG ll = label ? strlen(label) : 0;
  CK_MECHANISM m = {rsa ? CKM_RSA_PKCS_KEY_PAIR_GEN : CKM_EC_KEY_PAIR_GEN, NULL, 0};
  CK_ATTRIBUTE pub_ec[] = {{CKA_TOKEN, tok, 1}, {CKA_VERIFY, &k_true, 1},
                           {CKA_EC_PARAMS, (void *)k_p256_oid, sizeof k_p256_oid}, {CKA_LABEL, (void *)label, ll}};
  CK_ATTRIBUTE pub_rsa[] = {{CKA_TOKEN, tok, 1}, {CKA_VERIFY, &k_true, 1},
                            {CKA_MODULUS_BITS, (void *)&k_rsa_bits, sizeof k_rsa_bits},
                            {CKA_PUBLIC_EXPONENT, (void *)k_f4, sizeof k_f4}, {CKA_LABEL, (void *)label, ll}};
  CK_ATTRIBUTE prv[] = {{CKA_TOKEN, tok, 1}, {CKA_PRIVATE, &k_true, 1}, {CKA_SENSITIVE, &k_true, 1},
                        {CKA_EXTRACTABLE, &k_false, 1}, {CKA_SIGN, &k_true, 1}, {CKA_LABEL, (void *)label, ll}};
  /* The label is the last attribute of each template: leave it out when there is none. */
  CK_ULONG npub = rsa ? COUNT(pub_rsa) : COUNT(pub_ec), nprv = COUNT(prv);
  if (!label) npub--, nprv--;
  return CALL(GenerateKeyPair, s, &m, rsa ? pub_rsa : pub_ec, npub, prv, nprv, pub, priv);
}

static CK_RV gen_aes_key(CK_SESSION_HANDLE s, int token, const char *label, CK_OBJECT_HANDLE *key) {
  CK_MECHANISM m = {CKM_AES_KEY_GEN, NULL, 0};
  CK_ATTRIBUTE t[] = {{CKA_CLASS, (void *)&k_class_secret, sizeof k_class_secret},
                      {CKA_KEY_TYPE, (void *)&k_key_aes, sizeof k_key_aes},
                      {CKA_TOKEN, token ? &k_true : &k_false, 1},
                      {CKA_VALUE_LEN, (void *)&k_aes_len, sizeof k_aes_len},
                      {CKA_PRIVATE, &k_true, 1},
                      {CKA_SENSITIVE, &k_true, 1},
                      {CKA_EXTRACTABLE, &k_false, 1},
                      {CKA_ENCRYPT, &k_true, 1},
                      {CKA_DECRYPT, &k_true, 1},
                      {CKA_LABEL, (void *)label, label ? strlen(label) : 0}};
  return CALL(GenerateKey, s, &m, t, COUNT(t) - (label ? 0 : 1), key);
}

/* Objects of this class and label on the token (up to 2 handles returned). */
static CK_ULONG find_keys(CK_SESSION_HANDLE s, CK_ULONG cls, const char *label, CK_OBJECT_HANDLE *out) {
  CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof cls}, {CKA_LABEL, (void *)label, strlen(label)}};
  CK_OBJECT_HANDLE hs[2];
  CK_ULONG n = 0;
  CK_RV rv = CALL(FindObjectsInit, s, t, 2);
  if (rv != CKR_OK) die("C_FindObjectsInit (keys)", rv);
  if ((rv = CALL(FindObjects, s, hs, 2, &n)) != CKR_OK) die("C_FindObjects (keys)", rv);
  if ((rv = CALL(FindObjectsFinal, s)) != CKR_OK) die("C_FindObjectsFinal (keys)", rv);
  if (n > 0 && out) *out = hs[0];
  return n;
}

static void login_user(CK_SESSION_HANDLE s) {
  CK_RV rv = CALL(Login, s, CKU_USER, (CK_BYTE *)opt_pin, strlen(opt_pin));
  if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) die("C_Login(USER)", rv);
}

/* --keygen: makes the token keys (those not there yet), printing one JSON line. */
static int keygen_token(void) {
  CK_SESSION_HANDLE s;
  CK_RV rv = CALL(OpenSession, g_slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s);
  if (rv != CKR_OK) die("C_OpenSession", rv);
  login_user(s);
  double secs[3] = {0, 0, 0};
  int made = 0;
  for (int k = 0; k < 3; k++) {
    const char *label = k == 0 ? k_label_ec : k == 1 ? k_label_rsa : k_label_aes;
    if (find_keys(s, k == 2 ? CKO_SECRET_KEY : CKO_PRIVATE_KEY, label, NULL) > 0) continue;
    CK_OBJECT_HANDLE a, b;
    double t0 = now_s();
    rv = k == 2 ? gen_aes_key(s, 1, label, &a) : gen_key_pair(s, 1, k == 1, label, &a, &b);
    secs[k] = now_s() - t0;
    if (rv != CKR_OK) {
      fprintf(stderr, "p11bench: generating the %s token key failed: rv=0x%lx\n", label, rv);
      return 1;
    }
    made++;
  }
  CALL(Logout, s);
  CALL(CloseSession, s);
  printf("{\"tag\":\"%s\",\"op\":\"keygen\",\"token\":\"%s\",\"generated\":%d,\"ec_seconds\":%.4f,"
         "\"rsa_seconds\":%.4f,\"aes_seconds\":%.4f}\n",
         opt_tag, opt_label, made, secs[0], secs[1], secs[2]);
  fflush(stdout);
  return 0;
}

/* Before the first crypto operation: log in and get the keys. */
static void prepare_crypto(void) {
  if (g_crypto_ready) return;
  CK_RV rv = CALL(OpenSession, g_slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &g_holder);
  if (rv != CKR_OK) die("C_OpenSession (holder)", rv);
  login_user(g_holder);
  if (opt_session_keys) {
    if ((rv = gen_key_pair(g_holder, 0, 0, NULL, &g_keys.ec_pub, &g_keys.ec_priv)) != CKR_OK) die("EC P-256 key pair generation", rv);
    if ((rv = gen_key_pair(g_holder, 0, 1, NULL, &g_keys.rsa_pub, &g_keys.rsa_priv)) != CKR_OK) die("RSA-2048 key pair generation", rv);
    if ((rv = gen_aes_key(g_holder, 0, NULL, &g_keys.aes)) != CKR_OK) die("AES-256 key generation", rv);
  } else {
    struct { CK_ULONG cls; const char *label; CK_OBJECT_HANDLE *h; } want[] = {
        {CKO_PUBLIC_KEY, k_label_ec, &g_keys.ec_pub},   {CKO_PRIVATE_KEY, k_label_ec, &g_keys.ec_priv},
        {CKO_PUBLIC_KEY, k_label_rsa, &g_keys.rsa_pub}, {CKO_PRIVATE_KEY, k_label_rsa, &g_keys.rsa_priv},
        {CKO_SECRET_KEY, k_label_aes, &g_keys.aes}};
    for (size_t i = 0; i < COUNT(want); i++) {
      CK_ULONG n = find_keys(g_holder, want[i].cls, want[i].label, want[i].h);
      if (n != 1) {
        fprintf(stderr, "p11bench: token \"%s\" holds %lu objects of class %lu labelled %s, expected 1 (run --keygen first)\n",
                opt_label, n, want[i].cls, want[i].label);
        exit(2);
      }
    }
  }
  (void)k_class_pub, (void)k_class_priv;
  g_crypto_ready = 1;
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
  CK_OBJECT_HANDLE *created; /* create, ecgen, aesgen: handles to destroy afterwards */
  size_t ncreated, capcreated;
  CK_BYTE *in, *out;         /* crypto: input and output buffers */
  CK_ULONG in_len, out_cap;
  CK_BYTE sig[512];          /* verify: a signature made before the measurement */
  CK_ULONG sig_len;
  double t_init, t_call;     /* --split: seconds in the first and second call */
  unsigned long nsplit;
  char pad[64];
} worker;

enum {
  OP_GETINFO, OP_SESSION, OP_RANDOM, OP_DIGEST, OP_FIND1K, OP_FIND10K, OP_CREATE,
  OP_ECSIGN, OP_ECVERIFY, OP_RSASIGN, OP_RSAVERIFY, OP_GCM1K, OP_GCM1M, OP_DIGEST1M, OP_ECGEN, OP_AESGEN,
  OP_COUNT
};
static const char *const op_names[OP_COUNT] = {"getinfo", "session", "random", "digest", "find1k", "find10k", "create",
                                               "ecsign", "ecverify", "rsasign", "rsaverify", "gcm1k", "gcm1m",
                                               "digest1m", "ecgen", "aesgen"};
static const char *const op_calls[OP_COUNT] = {"C_GetInfo", "C_OpenSession+C_CloseSession",
                                              "C_GenerateRandom(32)", "C_DigestInit+C_Digest(SHA-256, 64 B)",
                                              "C_FindObjectsInit+C_FindObjects+C_FindObjectsFinal (class+label)",
                                              "C_FindObjectsInit+C_FindObjects+C_FindObjectsFinal (class+label)",
                                              "C_CreateObject (token data object, 64 B value)",
                                              "C_SignInit+C_Sign (CKM_ECDSA, P-256, 32 B hash)",
                                              "C_VerifyInit+C_Verify (CKM_ECDSA, P-256, 32 B hash)",
                                              "C_SignInit+C_Sign (CKM_SHA256_RSA_PKCS, RSA-2048, 64 B)",
                                              "C_VerifyInit+C_Verify (CKM_SHA256_RSA_PKCS, RSA-2048, 64 B)",
                                              "C_EncryptInit+C_Encrypt (CKM_AES_GCM, AES-256, 1 KiB)",
                                              "C_EncryptInit+C_Encrypt (CKM_AES_GCM, AES-256, 1 MiB)",
                                              "C_DigestInit+C_Digest (SHA-256, 1 MiB)",
                                              "C_GenerateKeyPair (EC P-256, session objects)",
                                              "C_GenerateKey (AES-256, session object)"};
static int op_is_crypto(int op) { return op >= OP_ECSIGN; }
static int op_is_keygen(int op) { return op == OP_ECGEN || op == OP_AESGEN; }
/* Input bytes per op of the operations that process data. */
static CK_ULONG op_input_bytes(int op) {
  switch (op) {
    case OP_DIGEST: return 64;
    case OP_ECSIGN: case OP_ECVERIFY: return 32;
    case OP_RSASIGN: case OP_RSAVERIFY: return 64;
    case OP_GCM1K: return 1024;
    case OP_GCM1M: case OP_DIGEST1M: return 1UL << 20;
  }
  return 0;
}
/* The find operations search the tokens labelled <label>-1k and <label>-10k. */
static const char *const find_suffix[OP_COUNT] = {[OP_FIND1K] = "-1k", [OP_FIND10K] = "-10k"};
static CK_SLOT_ID g_find_slot[OP_COUNT];
static unsigned long g_find_objects[OP_COUNT];
static _Atomic int g_wrong_count_reported;

static int op_needs_session(int op) { return op != OP_GETINFO && op != OP_SESSION; }

static _Atomic int g_stop;
static _Atomic int g_go;

/* Keeps a handle to destroy after the measurement. */
static void keep_created(worker *w, CK_OBJECT_HANDLE h) {
  if (w->ncreated == w->capcreated) {
    w->capcreated = w->capcreated ? w->capcreated * 2 : 4096;
    w->created = realloc(w->created, w->capcreated * sizeof *w->created);
    if (!w->created) die("realloc", 0);
  }
  w->created[w->ncreated++] = h;
}

/* An op made of two calls (Init + the call); with --split each is timed. */
#define TWO_CALLS(init_expr, call_expr)                 \
  do {                                                  \
    if (!opt_split) {                                   \
      CK_RV rv_ = (init_expr);                          \
      if (rv_ != CKR_OK) return rv_;                    \
      return (call_expr);                               \
    }                                                   \
    double a_ = now_s();                                \
    CK_RV rv_ = (init_expr);                            \
    double b_ = now_s();                                \
    w->t_init += b_ - a_;                               \
    if (rv_ != CKR_OK) return rv_;                      \
    rv_ = (call_expr);                                  \
    w->t_call += now_s() - b_;                          \
    w->nsplit++;                                        \
    return rv_;                                         \
  } while (0)

static const CK_BYTE k_hash32[32] = {0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
                                     0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
static const CK_BYTE k_msg64[64] = {'p', '1', '1', 'b', 'e', 'n', 'c', 'h'};

/* The GCM parameter: a fresh 12-byte IV per op (thread index, counter), no AAD, 128-bit tag. */
static CK_GCM_PARAMS gcm_params(worker *w, CK_BYTE iv[12]) {
  unsigned long n = w->iter++;
  memset(iv, 0, 12);
  iv[0] = (CK_BYTE)w->index;
  for (int k = 0; k < 8; k++) iv[4 + k] = (CK_BYTE)(n >> (8 * k));
  CK_GCM_PARAMS p = {iv, 12, 96, NULL, 0, 128};
  return p;
}

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
      TWO_CALLS(CALL(DigestInit, w->session, &m), CALL(Digest, w->session, (CK_BYTE *)data, sizeof data, out, &out_len));
    }
    case OP_DIGEST1M: {
      CK_BYTE out[32];
      CK_ULONG out_len = sizeof out;
      CK_MECHANISM m = {CKM_SHA256, NULL, 0};
      TWO_CALLS(CALL(DigestInit, w->session, &m), CALL(Digest, w->session, w->in, w->in_len, out, &out_len));
    }
    case OP_ECSIGN:
    case OP_RSASIGN: {
      int rsa = w->op == OP_RSASIGN;
      CK_MECHANISM m = {rsa ? CKM_SHA256_RSA_PKCS : CKM_ECDSA, NULL, 0};
      CK_BYTE sig[512];
      CK_ULONG sig_len = sizeof sig;
      TWO_CALLS(CALL(SignInit, w->session, &m, rsa ? g_keys.rsa_priv : g_keys.ec_priv),
                CALL(Sign, w->session, rsa ? (CK_BYTE *)k_msg64 : (CK_BYTE *)k_hash32, rsa ? 64 : 32, sig, &sig_len));
    }
    case OP_ECVERIFY:
    case OP_RSAVERIFY: {
      int rsa = w->op == OP_RSAVERIFY;
      CK_MECHANISM m = {rsa ? CKM_SHA256_RSA_PKCS : CKM_ECDSA, NULL, 0};
      TWO_CALLS(CALL(VerifyInit, w->session, &m, rsa ? g_keys.rsa_pub : g_keys.ec_pub),
                CALL(Verify, w->session, rsa ? (CK_BYTE *)k_msg64 : (CK_BYTE *)k_hash32, rsa ? 64 : 32, w->sig, w->sig_len));
    }
    case OP_GCM1K:
    case OP_GCM1M: {
      CK_BYTE iv[12];
      CK_GCM_PARAMS p = gcm_params(w, iv);
      CK_MECHANISM m = {CKM_AES_GCM, &p, sizeof p};
      CK_ULONG out_len = w->out_cap;
      TWO_CALLS(CALL(EncryptInit, w->session, &m, g_keys.aes), CALL(Encrypt, w->session, w->in, w->in_len, w->out, &out_len));
    }
    case OP_ECGEN: {
      CK_OBJECT_HANDLE pub, priv;
      CK_RV rv = gen_key_pair(w->session, 0, 0, NULL, &pub, &priv);
      if (rv != CKR_OK) return rv;
      keep_created(w, pub);
      keep_created(w, priv);
      return CKR_OK;
    }
    case OP_AESGEN: {
      CK_OBJECT_HANDLE h;
      CK_RV rv = gen_aes_key(w->session, 0, NULL, &h);
      if (rv != CKR_OK) return rv;
      keep_created(w, h);
      return CKR_OK;
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
      keep_created(w, h);
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

/* Crypto: buffers, and for verify a signature to check (all untimed). */
static void prepare_worker(worker *w) {
  int op = w->op;
  if (op == OP_GCM1K || op == OP_GCM1M || op == OP_DIGEST1M) {
    w->in_len = op_input_bytes(op);
    w->out_cap = w->in_len + 16;
    w->in = malloc(w->in_len);
    w->out = malloc(w->out_cap);
    if (!w->in || !w->out) die("malloc", 0);
    for (CK_ULONG k = 0; k < w->in_len; k++) w->in[k] = (CK_BYTE)(k * 7 + (CK_ULONG)w->index);
  }
  if (op == OP_ECVERIFY || op == OP_RSAVERIFY) {
    int rsa = op == OP_RSAVERIFY;
    CK_MECHANISM m = {rsa ? CKM_SHA256_RSA_PKCS : CKM_ECDSA, NULL, 0};
    CK_RV rv = CALL(SignInit, w->session, &m, rsa ? g_keys.rsa_priv : g_keys.ec_priv);
    if (rv != CKR_OK) die("C_SignInit (signature to verify)", rv);
    w->sig_len = sizeof w->sig;
    rv = CALL(Sign, w->session, rsa ? (CK_BYTE *)k_msg64 : (CK_BYTE *)k_hash32, rsa ? 64 : 32, w->sig, &w->sig_len);
    if (rv != CKR_OK) die("C_Sign (signature to verify)", rv);
  }
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
      CK_FLAGS flags = CKF_SERIAL_SESSION | (op == OP_CREATE || op_is_keygen(op) ? CKF_RW_SESSION : 0);
      CK_RV rv = CALL(OpenSession, ws[i].slot, flags, NULL, NULL, &ws[i].session);
      if (rv != CKR_OK) die("C_OpenSession", rv);
    }
    if (op_is_crypto(op)) prepare_worker(&ws[i]);
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
  unsigned long errors = 0, nsplit = 0;
  CK_RV first_error = 0;
  double t_init = 0, t_call = 0;
  for (int i = 0; i < nthreads; i++) {
    pthread_join(tids[i], NULL);
    errors += ws[i].errors;
    if (!first_error) first_error = ws[i].first_error;
    t_init += ws[i].t_init, t_call += ws[i].t_call, nsplit += ws[i].nsplit;
    free(ws[i].in);
    free(ws[i].out);
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
  if (op_input_bytes(op)) printf(",\"bytes\":%lu", op_input_bytes(op));
  if (op_is_crypto(op) && !op_is_keygen(op) && op != OP_DIGEST1M)
    printf(",\"keys\":\"%s\"", opt_session_keys ? "session" : "token");
  if (nsplit) printf(",\"init_us\":%.3f,\"call_us\":%.3f", t_init / (double)nsplit * 1e6, t_call / (double)nsplit * 1e6);
  if (op == OP_CREATE || op_is_keygen(op))
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
          "                [--threads 1,2] [--ops OP,...] [--keys token|session] [--split] [--tag T]\n"
          "       (OP: getinfo,session,random,digest,find1k,find10k,create,ecsign,ecverify,rsasign,rsaverify,\n"
          "        gcm1k,gcm1m,digest1m,ecgen,aesgen)\n"
          "       p11bench MODULE.so --label L --keygen [--tag T]\n"
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
    else if (!strcmp(a, "--keygen")) opt_keygen = 1;
    else if (!strcmp(a, "--split")) opt_split = 1;
    else if (!strcmp(a, "--keys") && v) {
      const char *k = argv[++i];
      if (!strcmp(k, "session")) opt_session_keys = 1;
      else if (!strcmp(k, "token")) opt_session_keys = 0;
      else usage();
    }
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
  if (opt_keygen) {
    int failed = keygen_token();
    CALL(Finalize, NULL);
    return failed;
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
    if (op_is_crypto(op)) prepare_crypto();
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
