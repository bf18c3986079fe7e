/* craton_message_test: the PKCS#11 3.0 message-based encryption functions
 * (C_MessageEncryptInit ... C_MessageDecryptFinal) with CKM_AES_GCM and
 * CKM_AES_CCM, called through the built module the way a C consumer calls
 * them (pkcs11js has no binding for them).
 *
 * Usage: craton_message_test <libcraton_hsm.so> key=HEX iv=HEX aad=HEX pt=HEX
 *          gcm_ct=HEX gcm_tag=HEX nonce=HEX ccm_ct=HEX ccm_mac=HEX
 * The vectors are Node's (test/shim/message.test.ts builds this program and
 * runs it once per transport). Besides checking them, the program prints every
 * ciphertext the module makes with an IV it generated, as
 *   vec gcm|ccm <iv> <aad> <plaintext> <ciphertext> <tag>
 * for that test to check against Node too. Output: "ok N - ..." / "FAIL N - ..."
 * per check, then "N passed, M failed"; the exit code is non-zero on failure.
 * Transport: CRATON_HSM_RUNTIME; configuration: CRATON_HSM_CONFIG. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cryptoki_abi.h"
#include "generated/craton_constants.h"
#include "generated/craton_table.h"
#include "tap.h"

/* ------------------------------------------------------- the module under test */

static CK_FUNCTION_LIST_3_0 *F;

/* --------------------------------------------------------------- vectors */

typedef struct {
  unsigned char b[256];
  CK_ULONG n;
} bytes;

static struct {
  bytes key, iv, aad, pt, gcm_ct, gcm_tag, nonce, ccm_ct, ccm_mac;
} V;

static void parse_arg(const char *arg) {
  static const struct {
    const char *name;
    bytes *into;
  } names[] = {{"key", &V.key},       {"iv", &V.iv},       {"aad", &V.aad},       {"pt", &V.pt},         {"gcm_ct", &V.gcm_ct},
               {"gcm_tag", &V.gcm_tag}, {"nonce", &V.nonce}, {"ccm_ct", &V.ccm_ct}, {"ccm_mac", &V.ccm_mac}};
  const char *eq = strchr(arg, '=');
  for (size_t i = 0; eq && i < sizeof names / sizeof names[0]; i++) {
    if (strlen(names[i].name) != (size_t)(eq - arg) || strncmp(arg, names[i].name, (size_t)(eq - arg)) != 0) continue;
    const char *hex = eq + 1;
    size_t len = strlen(hex) / 2;
    if (len > sizeof names[i].into->b) break;
    for (size_t j = 0; j < len; j++) {
      unsigned v;
      if (sscanf(hex + 2 * j, "%2x", &v) != 1) goto bad;
      names[i].into->b[j] = (unsigned char)v;
    }
    names[i].into->n = len;
    return;
  }
bad:
  fprintf(stderr, "bad argument: %s\n", arg);
  exit(2);
}

static void print_hex(const unsigned char *p, CK_ULONG n) {
  if (n == 0) printf("-");
  for (CK_ULONG i = 0; i < n; i++) printf("%02x", p[i]);
}

/* One ciphertext for the Node cross-check. */
static void vec(const char *mode, const unsigned char *iv, CK_ULONG ivlen, const unsigned char *ct, CK_ULONG ctlen,
                const unsigned char *tag, CK_ULONG taglen) {
  printf("vec %s ", mode);
  print_hex(iv, ivlen);
  printf(" ");
  print_hex(V.aad.b, V.aad.n);
  printf(" ");
  print_hex(V.pt.b, V.pt.n);
  printf(" ");
  print_hex(ct, ctlen);
  printf(" ");
  print_hex(tag, taglen);
  printf("\n");
}

static int all_bytes(const unsigned char *p, CK_ULONG n, unsigned char v) {
  for (CK_ULONG i = 0; i < n; i++)
    if (p[i] != v) return 0;
  return 1;
}

/* ------------------------------------------------------------- fixtures */

static const char SO_PIN[] = "12345678";
static const char USER_PIN[] = "1234";
static CK_ULONG g_slot;
static CK_ULONG g_key;         /* CKA_ENCRYPT and CKA_DECRYPT */
static CK_ULONG g_key_copy;    /* another object with the same value */
static CK_ULONG g_key_no_use;  /* neither */

static CK_ULONG open_session(void) {
  CK_ULONG h = 0;
  EXPECT_RV(F->C_OpenSession(g_slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &h), CKR_OK, "C_OpenSession");
  return h;
}

static CK_ULONG aes_key(CK_ULONG s, CK_BBOOL use) {
  CK_ULONG cls = CKO_SECRET_KEY, type = CKK_AES;
  CK_BBOOL no = 0;
  CK_ATTRIBUTE t[] = {
      {CKA_CLASS, &cls, sizeof cls},       {CKA_KEY_TYPE, &type, sizeof type}, {CKA_TOKEN, &no, sizeof no},
      {CKA_VALUE, V.key.b, V.key.n},       {CKA_ENCRYPT, &use, sizeof use},    {CKA_DECRYPT, &use, sizeof use},
  };
  CK_ULONG h = 0;
  EXPECT_RV(F->C_CreateObject(s, t, sizeof t / sizeof t[0], &h), CKR_OK, "C_CreateObject(AES key)");
  return h;
}

static CK_ULONG setup(void) {
  section("set-up");
  EXPECT_RV(F->C_Initialize(NULL), CKR_OK, "C_Initialize");
  CK_ULONG slots[8], n = 8;
  EXPECT_RV(F->C_GetSlotList(1, slots, &n), CKR_OK, "C_GetSlotList");
  if (!check(n >= 1, "at least one slot")) exit(1);
  g_slot = slots[0];
  CK_UTF8CHAR label[32];
  memset(label, ' ', 32);
  memcpy(label, "message-test", 12);
  EXPECT_RV(F->C_InitToken(g_slot, (CK_BYTE_PTR)SO_PIN, strlen(SO_PIN), label), CKR_OK, "C_InitToken");
  CK_ULONG s = open_session();
  EXPECT_RV(F->C_Login(s, CKU_SO, (CK_BYTE_PTR)SO_PIN, strlen(SO_PIN)), CKR_OK, "C_Login(SO)");
  EXPECT_RV(F->C_InitPIN(s, (CK_BYTE_PTR)USER_PIN, strlen(USER_PIN)), CKR_OK, "C_InitPIN");
  EXPECT_RV(F->C_Logout(s), CKR_OK, "C_Logout");
  EXPECT_RV(F->C_Login(s, CKU_USER, (CK_BYTE_PTR)USER_PIN, strlen(USER_PIN)), CKR_OK, "C_Login(USER)");
  g_key = aes_key(s, 1);
  g_key_copy = aes_key(s, 1);
  g_key_no_use = aes_key(s, 0);
  return s;
}

static CK_MECHANISM GCM = {CKM_AES_GCM, NULL, 0};
static CK_MECHANISM CCM = {CKM_AES_CCM, NULL, 0};

static CK_GCM_MESSAGE_PARAMS gcm(unsigned char *iv, CK_ULONG ivlen, CK_ULONG fixed_bits, CK_ULONG generator, unsigned char *tag) {
  CK_GCM_MESSAGE_PARAMS p = {iv, ivlen, fixed_bits, generator, tag, 128};
  return p;
}

/* ------------------------------------------------------------- 1. basics */

static void test_mechanism_info(void) {
  section("mechanism info");
  CK_ULONG mechs[] = {CKM_AES_GCM, CKM_AES_CCM};
  for (int i = 0; i < 2; i++) {
    CK_MECHANISM_INFO info;
    EXPECT_RV(F->C_GetMechanismInfo(g_slot, mechs[i], &info), CKR_OK, "C_GetMechanismInfo");
    CK_ULONG want = CKF_ENCRYPT | CKF_DECRYPT | CKF_MESSAGE_ENCRYPT | CKF_MESSAGE_DECRYPT | CKF_MULTI_MESSAGE;
    check((info.flags & want) == want, "mechanism 0x%lx flags 0x%lx include message encrypt/decrypt and multi-message", mechs[i], info.flags);
  }
}

static void test_not_initialized(CK_ULONG s) {
  section("no process");
  unsigned char iv[12] = {0}, tag[16], out[64];
  CK_GCM_MESSAGE_PARAMS p = gcm(iv, 12, 0, CKG_NO_GENERATE, tag);
  CK_ULONG len = sizeof out;
  EXPECT_RV(F->C_EncryptMessage(s, &p, sizeof p, NULL, 0, V.pt.b, V.pt.n, out, &len), CKR_OPERATION_NOT_INITIALIZED, "C_EncryptMessage");
  EXPECT_RV(F->C_EncryptMessageBegin(s, &p, sizeof p, NULL, 0), CKR_OPERATION_NOT_INITIALIZED, "C_EncryptMessageBegin");
  EXPECT_RV(F->C_EncryptMessageNext(s, &p, sizeof p, V.pt.b, 1, out, &len, 0), CKR_OPERATION_NOT_INITIALIZED, "C_EncryptMessageNext");
  EXPECT_RV(F->C_MessageEncryptFinal(s), CKR_OPERATION_NOT_INITIALIZED, "C_MessageEncryptFinal");
  EXPECT_RV(F->C_DecryptMessage(s, &p, sizeof p, NULL, 0, V.pt.b, V.pt.n, out, &len), CKR_OPERATION_NOT_INITIALIZED, "C_DecryptMessage");
  EXPECT_RV(F->C_DecryptMessageBegin(s, &p, sizeof p, NULL, 0), CKR_OPERATION_NOT_INITIALIZED, "C_DecryptMessageBegin");
  EXPECT_RV(F->C_DecryptMessageNext(s, &p, sizeof p, V.pt.b, 1, out, &len, 0), CKR_OPERATION_NOT_INITIALIZED, "C_DecryptMessageNext");
  EXPECT_RV(F->C_MessageDecryptFinal(s), CKR_OPERATION_NOT_INITIALIZED, "C_MessageDecryptFinal");
}

static void test_init(CK_ULONG s) {
  section("init");
  CK_MECHANISM cbc = {CKM_AES_CBC, NULL, 0};
  EXPECT_RV(F->C_MessageEncryptInit(s, &cbc, g_key), CKR_MECHANISM_INVALID, "C_MessageEncryptInit(CKM_AES_CBC)");
  EXPECT_RV(F->C_MessageEncryptInit(s, &GCM, g_key_no_use), CKR_KEY_FUNCTION_NOT_PERMITTED, "C_MessageEncryptInit(key without CKA_ENCRYPT)");
  EXPECT_RV(F->C_MessageDecryptInit(s, &CCM, g_key_no_use), CKR_KEY_FUNCTION_NOT_PERMITTED, "C_MessageDecryptInit(key without CKA_DECRYPT)");
  /* The spec's own example passes a CK_GCM_MESSAGE_PARAMS to the init: it is not used. */
  unsigned char iv[12] = {0}, tag[16];
  CK_GCM_MESSAGE_PARAMS p = gcm(iv, 12, 0, CKG_NO_GENERATE, tag);
  CK_MECHANISM with_param = {CKM_AES_GCM, &p, sizeof p};
  EXPECT_RV(F->C_MessageEncryptInit(s, &with_param, g_key), CKR_OK, "C_MessageEncryptInit(GCM, with a parameter)");
  EXPECT_RV(F->C_MessageEncryptInit(s, &GCM, g_key), CKR_OPERATION_ACTIVE, "C_MessageEncryptInit again");
  CK_MECHANISM ecb = {CKM_AES_ECB, NULL, 0};
  EXPECT_RV(F->C_EncryptInit(s, &ecb, g_key), CKR_OPERATION_ACTIVE, "C_EncryptInit during message-based encryption");
  EXPECT_RV(F->C_MessageEncryptFinal(s), CKR_OK, "C_MessageEncryptFinal");
  EXPECT_RV(F->C_EncryptInit(s, &ecb, g_key), CKR_OK, "C_EncryptInit after C_MessageEncryptFinal");
  unsigned char block[16] = {0}, out[16];
  CK_ULONG len = sizeof out;
  EXPECT_RV(F->C_Encrypt(s, block, 16, out, &len), CKR_OK, "C_Encrypt");
  EXPECT_RV(F->C_MessageEncryptInit(s, &GCM, g_key), CKR_OK, "C_MessageEncryptInit(GCM) again");
  /* Final also ends a message in parts. */
  EXPECT_RV(F->C_EncryptMessageBegin(s, &p, sizeof p, NULL, 0), CKR_OK, "C_EncryptMessageBegin");
  EXPECT_RV(F->C_MessageEncryptFinal(s), CKR_OK, "C_MessageEncryptFinal with a message under way");
  len = sizeof out;
  EXPECT_RV(F->C_EncryptMessageNext(s, &p, sizeof p, block, 16, out, &len, CKF_END_OF_MESSAGE), CKR_OPERATION_NOT_INITIALIZED,
            "C_EncryptMessageNext after C_MessageEncryptFinal");
}

/* --------------------------------------------------------------- 2. GCM */

static void test_gcm_single(CK_ULONG s) {
  section("GCM single-part");
  unsigned char iv[12], tag[16], ct[256];
  memcpy(iv, V.iv.b, 12);
  memset(tag, 0xCC, sizeof tag);
  CK_GCM_MESSAGE_PARAMS p = gcm(iv, 12, 0, CKG_NO_GENERATE, tag);
  EXPECT_RV(F->C_MessageEncryptInit(s, &GCM, g_key), CKR_OK, "C_MessageEncryptInit");
  CK_ULONG len = 0;
  EXPECT_RV(F->C_EncryptMessage(s, &p, sizeof p, V.aad.b, V.aad.n, V.pt.b, V.pt.n, NULL, &len), CKR_OK, "length query");
  check(len == V.pt.n && all_bytes(tag, 16, 0xCC), "length query: %lu bytes, tag not written", len);
  len = V.pt.n - 1;
  EXPECT_RV(F->C_EncryptMessage(s, &p, sizeof p, V.aad.b, V.aad.n, V.pt.b, V.pt.n, ct, &len), CKR_BUFFER_TOO_SMALL, "too small a buffer");
  check(len == V.pt.n && all_bytes(tag, 16, 0xCC), "too small: %lu bytes needed, tag not written", len);
  len = sizeof ct;
  EXPECT_RV(F->C_EncryptMessage(s, &p, sizeof p, V.aad.b, V.aad.n, V.pt.b, V.pt.n, ct, &len), CKR_OK, "C_EncryptMessage");
  check(len == V.gcm_ct.n && memcmp(ct, V.gcm_ct.b, len) == 0, "ciphertext is Node's");
  check(memcmp(tag, V.gcm_tag.b, 16) == 0, "tag written into pTag is Node's");
  check(memcmp(iv, V.iv.b, 12) == 0, "a given IV is left alone");
  /* A 96-bit tag: pTag holds 12 bytes, no more is written. */
  unsigned char short_tag[16];
  memset(short_tag, 0xCC, sizeof short_tag);
  CK_GCM_MESSAGE_PARAMS p96 = {iv, 12, 0, CKG_NO_GENERATE, short_tag, 96};
  len = sizeof ct;
  EXPECT_RV(F->C_EncryptMessage(s, &p96, sizeof p96, V.aad.b, V.aad.n, V.pt.b, V.pt.n, ct, &len), CKR_OK, "C_EncryptMessage, 96-bit tag");
  check(memcmp(short_tag, V.gcm_tag.b, 12) == 0 && all_bytes(short_tag + 12, 4, 0xCC), "12 tag bytes written, the rest untouched");
  /* Bad parameters end nothing. */
  CK_GCM_MESSAGE_PARAMS no_tag = gcm(iv, 12, 0, CKG_NO_GENERATE, NULL);
  len = sizeof ct;
  EXPECT_RV(F->C_EncryptMessage(s, &no_tag, sizeof no_tag, NULL, 0, V.pt.b, V.pt.n, ct, &len), CKR_MECHANISM_PARAM_INVALID, "NULL pTag");
  len = sizeof ct;
  EXPECT_RV(F->C_EncryptMessage(s, &p, sizeof p - 1, NULL, 0, V.pt.b, V.pt.n, ct, &len), CKR_MECHANISM_PARAM_INVALID, "ulParameterLen wrong");
  EXPECT_RV(F->C_EncryptMessage(s, NULL, 0, NULL, 0, V.pt.b, V.pt.n, ct, &len), CKR_MECHANISM_PARAM_INVALID, "NULL pParameter");
  CK_GCM_MESSAGE_PARAMS tag_bits = {iv, 12, 0, CKG_NO_GENERATE, tag, 20};
  EXPECT_RV(F->C_EncryptMessage(s, &tag_bits, sizeof tag_bits, NULL, 0, V.pt.b, V.pt.n, ct, &len), CKR_MECHANISM_PARAM_INVALID, "ulTagBits 20");
  len = sizeof ct;
  EXPECT_RV(F->C_EncryptMessage(s, &p, sizeof p, NULL, 0, NULL, 5, ct, &len), CKR_ARGUMENTS_BAD, "NULL plaintext, length 5");
  EXPECT_RV(F->C_EncryptMessage(s, &p, sizeof p, NULL, 0, V.pt.b, V.pt.n, ct, NULL), CKR_ARGUMENTS_BAD, "NULL pulCiphertextLen");
  len = sizeof ct;
  EXPECT_RV(F->C_EncryptMessage(s, &p, sizeof p, V.aad.b, V.aad.n, V.pt.b, V.pt.n, ct, &len), CKR_OK, "the process goes on");
  EXPECT_RV(F->C_MessageEncryptFinal(s), CKR_OK, "C_MessageEncryptFinal");

  section("GCM single-part decryption");
  unsigned char out[256];
  memcpy(tag, V.gcm_tag.b, 16);
  EXPECT_RV(F->C_MessageDecryptInit(s, &GCM, g_key), CKR_OK, "C_MessageDecryptInit");
  len = 0;
  EXPECT_RV(F->C_DecryptMessage(s, &p, sizeof p, V.aad.b, V.aad.n, V.gcm_ct.b, V.gcm_ct.n, NULL, &len), CKR_OK, "length query");
  check(len == V.pt.n, "length query: %lu bytes", len);
  len = 3;
  EXPECT_RV(F->C_DecryptMessage(s, &p, sizeof p, V.aad.b, V.aad.n, V.gcm_ct.b, V.gcm_ct.n, out, &len), CKR_BUFFER_TOO_SMALL, "too small a buffer");
  memset(out, 0xCC, sizeof out);
  len = sizeof out;
  EXPECT_RV(F->C_DecryptMessage(s, &p, sizeof p, V.aad.b, V.aad.n, V.gcm_ct.b, V.gcm_ct.n, out, &len), CKR_OK, "C_DecryptMessage(Node's ciphertext)");
  check(len == V.pt.n && memcmp(out, V.pt.b, len) == 0, "plaintext recovered");
  tag[5] ^= 1;
  memset(out, 0xCC, sizeof out);
  len = sizeof out;
  EXPECT_RV(F->C_DecryptMessage(s, &p, sizeof p, V.aad.b, V.aad.n, V.gcm_ct.b, V.gcm_ct.n, out, &len), CKR_ENCRYPTED_DATA_INVALID, "a wrong tag");
  check(all_bytes(out, sizeof out, 0xCC) && len == sizeof out, "a wrong tag releases nothing");
  tag[5] ^= 1;
  len = sizeof out;
  EXPECT_RV(F->C_DecryptMessage(s, &p, sizeof p, V.aad.b, V.aad.n - 1, V.gcm_ct.b, V.gcm_ct.n, out, &len), CKR_ENCRYPTED_DATA_INVALID, "other AAD");
  /* Decryption takes the IV as given, whatever ivGenerator says. */
  CK_GCM_MESSAGE_PARAMS gen = gcm(iv, 12, 32, CKG_GENERATE, tag);
  len = sizeof out;
  EXPECT_RV(F->C_DecryptMessage(s, &gen, sizeof gen, V.aad.b, V.aad.n, V.gcm_ct.b, V.gcm_ct.n, out, &len), CKR_OK, "ivGenerator ignored");
  check(memcmp(iv, V.iv.b, 12) == 0 && len == V.pt.n && memcmp(out, V.pt.b, len) == 0, "IV untouched, plaintext recovered");
  CK_GCM_MESSAGE_PARAMS no_tag_d = gcm(iv, 12, 0, CKG_NO_GENERATE, NULL);
  EXPECT_RV(F->C_DecryptMessage(s, &no_tag_d, sizeof no_tag_d, NULL, 0, V.gcm_ct.b, V.gcm_ct.n, out, &len), CKR_MECHANISM_PARAM_INVALID, "NULL pTag");
  EXPECT_RV(F->C_MessageDecryptFinal(s), CKR_OK, "C_MessageDecryptFinal");
}

static void test_gcm_parts(CK_ULONG s) {
  section("GCM in parts");
  unsigned char iv[12], tag[16], ct[256], part[256];
  memcpy(iv, V.iv.b, 12);
  memset(tag, 0xCC, sizeof tag);
  CK_GCM_MESSAGE_PARAMS p = gcm(iv, 12, 0, CKG_NO_GENERATE, tag);
  CK_ULONG first = 10, rest = V.pt.n - first, len;
  EXPECT_RV(F->C_MessageEncryptInit(s, &GCM, g_key), CKR_OK, "C_MessageEncryptInit");
  EXPECT_RV(F->C_EncryptMessageBegin(s, &p, sizeof p, V.aad.b, V.aad.n), CKR_OK, "C_EncryptMessageBegin");
  EXPECT_RV(F->C_EncryptMessageBegin(s, &p, sizeof p, V.aad.b, V.aad.n), CKR_OPERATION_ACTIVE, "C_EncryptMessageBegin again");
  len = sizeof ct;
  EXPECT_RV(F->C_EncryptMessage(s, &p, sizeof p, V.aad.b, V.aad.n, V.pt.b, V.pt.n, ct, &len), CKR_OPERATION_ACTIVE, "C_EncryptMessage amid a message");
  len = 0;
  EXPECT_RV(F->C_EncryptMessageNext(s, &p, sizeof p, V.pt.b, first, NULL, &len, 0), CKR_OK, "length query");
  check(len == first, "length query: %lu", len);
  len = first - 1;
  EXPECT_RV(F->C_EncryptMessageNext(s, &p, sizeof p, V.pt.b, first, part, &len, 0), CKR_BUFFER_TOO_SMALL, "too small a buffer");
  len = sizeof part;
  EXPECT_RV(F->C_EncryptMessageNext(s, &p, sizeof p, V.pt.b, first, part, &len, 0), CKR_OK, "C_EncryptMessageNext(first part)");
  memcpy(ct, part, len);
  CK_ULONG got = len;
  len = 0;
  EXPECT_RV(F->C_EncryptMessageNext(s, &p, sizeof p, V.pt.b + first, rest, NULL, &len, CKF_END_OF_MESSAGE), CKR_OK, "length query, last part");
  check(len == rest && all_bytes(tag, 16, 0xCC), "length query: %lu, no tag yet", len);
  len = sizeof part;
  EXPECT_RV(F->C_EncryptMessageNext(s, &p, sizeof p, V.pt.b + first, rest, part, &len, CKF_END_OF_MESSAGE), CKR_OK, "C_EncryptMessageNext(last part)");
  memcpy(ct + got, part, len);
  got += len;
  check(got == V.gcm_ct.n && memcmp(ct, V.gcm_ct.b, got) == 0, "ciphertext is Node's");
  check(memcmp(tag, V.gcm_tag.b, 16) == 0, "the last part writes Node's tag");
  len = sizeof part;
  EXPECT_RV(F->C_EncryptMessageNext(s, &p, sizeof p, V.pt.b, 1, part, &len, 0), CKR_OPERATION_NOT_INITIALIZED, "C_EncryptMessageNext after the end");
  EXPECT_RV(F->C_EncryptMessageBegin(s, &p, sizeof p, NULL, 0), CKR_OK, "C_EncryptMessageBegin");
  len = sizeof part;
  EXPECT_RV(F->C_EncryptMessageNext(s, &p, sizeof p, V.pt.b, 1, part, &len, 2), CKR_ARGUMENTS_BAD, "flags 2");
  EXPECT_RV(F->C_EncryptMessageNext(s, &p, sizeof p, V.pt.b, 1, part, &len, 0), CKR_OPERATION_NOT_INITIALIZED, "a failure ends the message");
  EXPECT_RV(F->C_EncryptMessageBegin(s, &p, sizeof p, NULL, 0), CKR_OK, "the process goes on");
  EXPECT_RV(F->C_MessageEncryptFinal(s), CKR_OK, "C_MessageEncryptFinal");

  section("GCM decryption in parts");
  memcpy(tag, V.gcm_tag.b, 16);
  unsigned char out[256];
  EXPECT_RV(F->C_MessageDecryptInit(s, &GCM, g_key), CKR_OK, "C_MessageDecryptInit");
  for (int wrong = 0; wrong < 2; wrong++) {
    tag[0] ^= (unsigned char)wrong;
    EXPECT_RV(F->C_DecryptMessageBegin(s, &p, sizeof p, V.aad.b, V.aad.n), CKR_OK, "C_DecryptMessageBegin");
    len = sizeof out;
    EXPECT_RV(F->C_DecryptMessageNext(s, &p, sizeof p, V.gcm_ct.b, first, out, &len, 0), CKR_OK, "C_DecryptMessageNext(first part)");
    check(len == 0, "nothing released before the tag is checked (%lu)", len);
    len = 0;
    EXPECT_RV(F->C_DecryptMessageNext(s, &p, sizeof p, V.gcm_ct.b + first, rest, NULL, &len, CKF_END_OF_MESSAGE), CKR_OK, "length query, last part");
    check(len == V.pt.n, "length query: the whole plaintext, %lu", len);
    memset(out, 0xCC, sizeof out);
    len = sizeof out;
    CK_RV rv = F->C_DecryptMessageNext(s, &p, sizeof p, V.gcm_ct.b + first, rest, out, &len, CKF_END_OF_MESSAGE);
    if (!wrong) {
      EXPECT_RV(rv, CKR_OK, "C_DecryptMessageNext(last part)");
      check(len == V.pt.n && memcmp(out, V.pt.b, len) == 0, "plaintext recovered");
    } else {
      EXPECT_RV(rv, CKR_ENCRYPTED_DATA_INVALID, "C_DecryptMessageNext(last part, wrong tag)");
      check(all_bytes(out, sizeof out, 0xCC), "a wrong tag releases nothing");
    }
    len = sizeof out;
    EXPECT_RV(F->C_DecryptMessageNext(s, &p, sizeof p, V.gcm_ct.b, 1, out, &len, 0), CKR_OPERATION_NOT_INITIALIZED, "the message is over");
  }
  EXPECT_RV(F->C_MessageDecryptFinal(s), CKR_OK, "C_MessageDecryptFinal");
}

/* ------------------------------------------------------ 3. generated IVs */

static unsigned long long low64(const unsigned char *p) {
  unsigned long long v = 0;
  for (int i = 0; i < 8; i++) v = (v << 8) | p[i];
  return v;
}

/* One GCM message with the given parameter; prints it for Node. */
static CK_RV encrypt_gcm(CK_ULONG s, CK_GCM_MESSAGE_PARAMS *p) {
  unsigned char ct[256];
  CK_ULONG len = sizeof ct;
  CK_RV rv = F->C_EncryptMessage(s, p, sizeof *p, V.aad.b, V.aad.n, V.pt.b, V.pt.n, ct, &len);
  if (rv == CKR_OK) vec("gcm", p->pIv, p->ulIvLen, ct, len, p->pTag, p->ulTagBits / 8);
  return rv;
}

static const unsigned char FIXED[4] = {0xA1, 0xB2, 0xC3, 0xD4};

static void test_generated_ivs(CK_ULONG s) {
  section("generated IVs");
  unsigned char iv[16], tag[16], ct[256];
  CK_GCM_MESSAGE_PARAMS p = gcm(iv, 12, 32, CKG_GENERATE_COUNTER, tag);
  EXPECT_RV(F->C_MessageEncryptInit(s, &GCM, g_key), CKR_OK, "C_MessageEncryptInit");

  /* CKG_GENERATE_COUNTER: fixed bits, then the counter from zero. A length query uses none up. */
  memset(iv, 0xEE, sizeof iv);
  memcpy(iv, FIXED, 4);
  CK_ULONG len = 0;
  EXPECT_RV(F->C_EncryptMessage(s, &p, sizeof p, V.aad.b, V.aad.n, V.pt.b, V.pt.n, NULL, &len), CKR_OK, "length query");
  check(all_bytes(iv + 4, 8, 0xEE), "a length query writes no IV");
  for (unsigned long long want = 0; want < 2; want++) {
    memset(iv + 4, 0xEE, 8);
    EXPECT_RV(encrypt_gcm(s, &p), CKR_OK, "C_EncryptMessage(CKG_GENERATE_COUNTER, 32 fixed bits)");
    check(memcmp(iv, FIXED, 4) == 0 && low64(iv + 4) == want, "IV is the fixed part then counter %llu (got %llu)", want, low64(iv + 4));
  }
  memset(iv + 4, 0xEE, 8);
  memset(tag, 0xCC, sizeof tag);
  EXPECT_RV(F->C_EncryptMessageBegin(s, &p, sizeof p, V.aad.b, V.aad.n), CKR_OK, "C_EncryptMessageBegin(CKG_GENERATE_COUNTER)");
  check(memcmp(iv, FIXED, 4) == 0 && low64(iv + 4) == 2, "C_EncryptMessageBegin returns the IV (counter %llu)", low64(iv + 4));
  len = sizeof ct;
  EXPECT_RV(F->C_EncryptMessageNext(s, &p, sizeof p, V.pt.b, V.pt.n, ct, &len, CKF_END_OF_MESSAGE), CKR_OK, "C_EncryptMessageNext(end)");
  vec("gcm", iv, 12, ct, len, tag, 16);

  /* CKG_GENERATE: the same counter in the low 32 bits, random bits above. */
  unsigned char first[12];
  CK_GCM_MESSAGE_PARAMS g = gcm(iv, 12, 0, CKG_GENERATE, tag);
  for (unsigned want = 3; want < 5; want++) {
    EXPECT_RV(encrypt_gcm(s, &g), CKR_OK, "C_EncryptMessage(CKG_GENERATE)");
    unsigned got = (unsigned)iv[8] << 24 | (unsigned)iv[9] << 16 | (unsigned)iv[10] << 8 | iv[11];
    check(got == want, "CKG_GENERATE carries the key's counter, %u (got %u)", want, got);
    if (want == 3) memcpy(first, iv, 12);
  }
  check(memcmp(first, iv, 8) != 0, "CKG_GENERATE's upper bits are random");

  /* CKG_GENERATE_RANDOM: fixed bits kept, the rest random. */
  CK_GCM_MESSAGE_PARAMS r = gcm(iv, 12, 32, CKG_GENERATE_RANDOM, tag);
  memcpy(iv, FIXED, 4);
  EXPECT_RV(encrypt_gcm(s, &r), CKR_OK, "C_EncryptMessage(CKG_GENERATE_RANDOM, 32 fixed bits)");
  memcpy(first, iv, 12);
  EXPECT_RV(encrypt_gcm(s, &r), CKR_OK, "C_EncryptMessage(CKG_GENERATE_RANDOM) again");
  check(memcmp(iv, FIXED, 4) == 0 && memcmp(first, FIXED, 4) == 0 && memcmp(first + 4, iv + 4, 8) != 0, "random IVs keep the fixed part and differ");
  /* Fixed bits that are not whole bytes: the top 12 bits of a 16-byte IV. */
  CK_GCM_MESSAGE_PARAMS odd = gcm(iv, 16, 12, CKG_GENERATE_RANDOM, tag);
  memset(iv, 0xFF, 16);
  EXPECT_RV(encrypt_gcm(s, &odd), CKR_OK, "C_EncryptMessage(CKG_GENERATE_RANDOM, 12 fixed bits)");
  check(iv[0] == 0xFF && (iv[1] & 0xF0) == 0xF0, "the 12 fixed bits are kept (%02x %02x)", iv[0], iv[1]);

  CK_GCM_MESSAGE_PARAMS few = gcm(iv, 12, 40, CKG_GENERATE_RANDOM, tag);
  EXPECT_RV(encrypt_gcm(s, &few), CKR_MECHANISM_PARAM_INVALID, "CKG_GENERATE_RANDOM with 56 random bits");
  CK_GCM_MESSAGE_PARAMS over = gcm(iv, 12, 97, CKG_GENERATE_COUNTER, tag);
  EXPECT_RV(encrypt_gcm(s, &over), CKR_MECHANISM_PARAM_INVALID, "ulIvFixedBits beyond the IV");
  CK_GCM_MESSAGE_PARAMS counter_xor = gcm(iv, 12, 0, CKG_GENERATE_COUNTER_XOR, tag);
  EXPECT_RV(encrypt_gcm(s, &counter_xor), CKR_MECHANISM_PARAM_INVALID, "CKG_GENERATE_COUNTER_XOR");
  CK_GCM_MESSAGE_PARAMS no_iv = gcm(NULL, 12, 0, CKG_GENERATE, tag);
  EXPECT_RV(encrypt_gcm(s, &no_iv), CKR_MECHANISM_PARAM_INVALID, "NULL pIv");
  EXPECT_RV(F->C_MessageEncryptFinal(s), CKR_OK, "C_MessageEncryptFinal");
}

/* The counter belongs to the key value and the session: a new session starts at
 * zero; a copy of the key shares it; the narrowest counter field bounds it. */
static void test_counter_scope(void) {
  section("IV counter scope");
  CK_ULONG s = open_session();
  unsigned char iv[12], tag[16];
  CK_GCM_MESSAGE_PARAMS c = gcm(iv, 12, 0, CKG_GENERATE_COUNTER, tag);
  EXPECT_RV(F->C_MessageEncryptInit(s, &GCM, g_key_copy), CKR_OK, "C_MessageEncryptInit(a copy of the key), new session");
  EXPECT_RV(encrypt_gcm(s, &c), CKR_OK, "C_EncryptMessage(CKG_GENERATE_COUNTER)");
  check(all_bytes(iv, 12, 0), "a new session counts from zero");
  /* An 8-bit counter field: counters 1 to 255 are left. */
  CK_GCM_MESSAGE_PARAMS narrow = gcm(iv, 12, 88, CKG_GENERATE_COUNTER, tag);
  int made = 0, in_order = 1;
  CK_RV rv = CKR_OK;
  while (made < 300 && (rv = encrypt_gcm(s, &narrow)) == CKR_OK) {
    made++;
    in_order &= iv[11] == (unsigned char)made;
  }
  EXPECT_RV(rv, CKR_MECHANISM_PARAM_INVALID, "an exhausted counter");
  check(made == 255 && in_order, "255 more IVs from an 8-bit counter field, in order (%d)", made);
  EXPECT_RV(encrypt_gcm(s, &c), CKR_MECHANISM_PARAM_INVALID, "a wider counter field after a narrower one is used up");
  EXPECT_RV(F->C_MessageEncryptFinal(s), CKR_OK, "C_MessageEncryptFinal");
  EXPECT_RV(F->C_MessageEncryptInit(s, &GCM, g_key), CKR_OK, "C_MessageEncryptInit(the original key object)");
  EXPECT_RV(encrypt_gcm(s, &c), CKR_MECHANISM_PARAM_INVALID, "another object with the same value shares the counter");
  CK_GCM_MESSAGE_PARAMS r = gcm(iv, 12, 0, CKG_GENERATE_RANDOM, tag);
  EXPECT_RV(encrypt_gcm(s, &r), CKR_OK, "CKG_GENERATE_RANDOM needs no counter");
  memset(iv, 0x77, sizeof iv);
  CK_GCM_MESSAGE_PARAMS given = gcm(iv, 12, 0, CKG_NO_GENERATE, tag);
  EXPECT_RV(encrypt_gcm(s, &given), CKR_OK, "CKG_NO_GENERATE needs no counter");
  EXPECT_RV(F->C_MessageEncryptFinal(s), CKR_OK, "C_MessageEncryptFinal");
  EXPECT_RV(F->C_CloseSession(s), CKR_OK, "C_CloseSession");
}

/* --------------------------------------------------------------- 4. CCM */

static void test_ccm(void) {
  section("CCM");
  CK_ULONG s = open_session();
  unsigned char nonce[13], mac[16], ct[256], out[256];
  CK_ULONG maclen = V.ccm_mac.n, len;
  memcpy(nonce, V.nonce.b, V.nonce.n);
  memset(mac, 0xCC, sizeof mac);
  CK_CCM_MESSAGE_PARAMS p = {V.pt.n, nonce, V.nonce.n, 0, CKG_NO_GENERATE, mac, maclen};
  EXPECT_RV(F->C_MessageEncryptInit(s, &CCM, g_key), CKR_OK, "C_MessageEncryptInit(CCM)");
  len = 0;
  EXPECT_RV(F->C_EncryptMessage(s, &p, sizeof p, V.aad.b, V.aad.n, V.pt.b, V.pt.n, NULL, &len), CKR_OK, "length query");
  check(len == V.pt.n && all_bytes(mac, sizeof mac, 0xCC), "length query: %lu, no MAC written", len);
  len = sizeof ct;
  EXPECT_RV(F->C_EncryptMessage(s, &p, sizeof p, V.aad.b, V.aad.n, V.pt.b, V.pt.n, ct, &len), CKR_OK, "C_EncryptMessage");
  check(len == V.ccm_ct.n && memcmp(ct, V.ccm_ct.b, len) == 0, "ciphertext is Node's");
  check(memcmp(mac, V.ccm_mac.b, maclen) == 0 && all_bytes(mac + maclen, sizeof mac - maclen, 0xCC), "MAC written into pMAC is Node's");
  len = sizeof ct;
  EXPECT_RV(F->C_EncryptMessage(s, &p, sizeof p, V.aad.b, V.aad.n, V.pt.b, V.pt.n - 1, ct, &len), CKR_DATA_LEN_RANGE, "less data than ulDataLen");
  /* In parts: CCM releases everything at the end. */
  memset(mac, 0xCC, sizeof mac);
  EXPECT_RV(F->C_EncryptMessageBegin(s, &p, sizeof p, V.aad.b, V.aad.n), CKR_OK, "C_EncryptMessageBegin");
  len = sizeof ct;
  EXPECT_RV(F->C_EncryptMessageNext(s, &p, sizeof p, V.pt.b, 7, ct, &len, 0), CKR_OK, "C_EncryptMessageNext(first part)");
  check(len == 0, "CCM holds the first part back (%lu)", len);
  len = sizeof ct;
  EXPECT_RV(F->C_EncryptMessageNext(s, &p, sizeof p, V.pt.b + 7, V.pt.n - 7, ct, &len, CKF_END_OF_MESSAGE), CKR_OK, "C_EncryptMessageNext(end)");
  check(len == V.ccm_ct.n && memcmp(ct, V.ccm_ct.b, len) == 0 && memcmp(mac, V.ccm_mac.b, maclen) == 0, "parts give Node's ciphertext and MAC");
  EXPECT_RV(F->C_EncryptMessageBegin(s, &p, sizeof p, V.aad.b, V.aad.n), CKR_OK, "C_EncryptMessageBegin");
  len = sizeof ct;
  EXPECT_RV(F->C_EncryptMessageNext(s, &p, sizeof p, V.pt.b, V.pt.n + 1, ct, &len, 0), CKR_DATA_LEN_RANGE, "more data than ulDataLen");
  EXPECT_RV(F->C_EncryptMessageNext(s, &p, sizeof p, V.pt.b, 1, ct, &len, 0), CKR_OPERATION_NOT_INITIALIZED, "that ended the message");
  /* A generated nonce: 40 fixed bits of a 13-byte nonce, the counter from zero in this new session. */
  unsigned char nonce13[13];
  memset(nonce13, 0xEE, sizeof nonce13);
  memcpy(nonce13, "\x01\x02\x03\x04\x05", 5);
  CK_CCM_MESSAGE_PARAMS g = {V.pt.n, nonce13, 13, 40, CKG_GENERATE_COUNTER, mac, maclen};
  len = sizeof ct;
  EXPECT_RV(F->C_EncryptMessage(s, &g, sizeof g, V.aad.b, V.aad.n, V.pt.b, V.pt.n, ct, &len), CKR_OK, "C_EncryptMessage(CKG_GENERATE_COUNTER)");
  check(memcmp(nonce13, "\x01\x02\x03\x04\x05", 5) == 0 && all_bytes(nonce13 + 5, 8, 0), "nonce is the fixed part then counter 0");
  vec("ccm", nonce13, 13, ct, len, mac, maclen);
  len = sizeof ct;
  EXPECT_RV(F->C_EncryptMessage(s, &g, sizeof g, V.aad.b, V.aad.n, V.pt.b, V.pt.n, ct, &len), CKR_OK, "C_EncryptMessage(CKG_GENERATE_COUNTER) again");
  check(low64(nonce13 + 5) == 1, "then counter 1");
  vec("ccm", nonce13, 13, ct, len, mac, maclen);
  EXPECT_RV(F->C_MessageEncryptFinal(s), CKR_OK, "C_MessageEncryptFinal");

  section("CCM decryption");
  memcpy(mac, V.ccm_mac.b, maclen);
  EXPECT_RV(F->C_MessageDecryptInit(s, &CCM, g_key), CKR_OK, "C_MessageDecryptInit(CCM)");
  len = sizeof out;
  EXPECT_RV(F->C_DecryptMessage(s, &p, sizeof p, V.aad.b, V.aad.n, V.ccm_ct.b, V.ccm_ct.n, out, &len), CKR_OK, "C_DecryptMessage(Node's ciphertext)");
  check(len == V.pt.n && memcmp(out, V.pt.b, len) == 0, "plaintext recovered");
  EXPECT_RV(F->C_DecryptMessageBegin(s, &p, sizeof p, V.aad.b, V.aad.n), CKR_OK, "C_DecryptMessageBegin");
  len = sizeof out;
  EXPECT_RV(F->C_DecryptMessageNext(s, &p, sizeof p, V.ccm_ct.b, 20, out, &len, 0), CKR_OK, "C_DecryptMessageNext(first part)");
  check(len == 0, "nothing released before the MAC is checked");
  len = sizeof out;
  EXPECT_RV(F->C_DecryptMessageNext(s, &p, sizeof p, V.ccm_ct.b + 20, V.ccm_ct.n - 20, out, &len, CKF_END_OF_MESSAGE), CKR_OK, "C_DecryptMessageNext(end)");
  check(len == V.pt.n && memcmp(out, V.pt.b, len) == 0, "plaintext recovered from parts");
  mac[maclen - 1] ^= 0x80;
  memset(out, 0xCC, sizeof out);
  len = sizeof out;
  EXPECT_RV(F->C_DecryptMessage(s, &p, sizeof p, V.aad.b, V.aad.n, V.ccm_ct.b, V.ccm_ct.n, out, &len), CKR_ENCRYPTED_DATA_INVALID, "a wrong MAC");
  check(all_bytes(out, sizeof out, 0xCC), "a wrong MAC releases nothing");
  mac[maclen - 1] ^= 0x80;
  len = sizeof out;
  EXPECT_RV(F->C_DecryptMessage(s, &p, sizeof p, V.aad.b, V.aad.n, V.ccm_ct.b, V.ccm_ct.n - 1, out, &len), CKR_ENCRYPTED_DATA_LEN_RANGE,
            "ciphertext shorter than ulDataLen");
  EXPECT_RV(F->C_MessageDecryptFinal(s), CKR_OK, "C_MessageDecryptFinal");
  EXPECT_RV(F->C_CloseSession(s), CKR_OK, "C_CloseSession");
}

int main(int argc, char **argv) {
  if (argc < 11) {
    fprintf(stderr, "usage: %s <libcraton_hsm.so> key=HEX iv=HEX aad=HEX pt=HEX gcm_ct=HEX gcm_tag=HEX nonce=HEX ccm_ct=HEX ccm_mac=HEX\n", argv[0]);
    return 2;
  }
  for (int i = 2; i < argc; i++) parse_arg(argv[i]);
  if (V.iv.n != 12 || V.gcm_tag.n != 16 || V.nonce.n < 7 || V.nonce.n > 13 || V.pt.n < 30) {
    fprintf(stderr, "want a 12-byte IV, a 16-byte GCM tag, a 7- to 13-byte nonce and 30 bytes of plaintext or more\n");
    return 2;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  signal(SIGALRM, on_alarm);
  alarm(120);
  const char *rt = getenv("CRATON_HSM_RUNTIME");
  printf("# transport: %s\n", rt && *rt ? rt : "(auto)");
  void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  CK_C_GetInterface gi = lib ? (CK_C_GetInterface)dlsym(lib, "C_GetInterface") : NULL;
  CK_INTERFACE *iface = NULL;
  if (!gi || gi(NULL, NULL, &iface, 0) != CKR_OK || !iface) {
    printf("FAIL 1 - cannot load the 3.0 interface: %s\n0 passed, 1 failed\n", lib ? "C_GetInterface" : dlerror());
    return 1;
  }
  F = iface->pFunctionList;
  CK_ULONG s = setup();
  test_mechanism_info();
  test_not_initialized(s);
  test_init(s);
  test_gcm_single(s);
  test_gcm_parts(s);
  test_generated_ivs(s);
  test_counter_scope();
  test_ccm();
  section("teardown");
  EXPECT_RV(F->C_Finalize(NULL), CKR_OK, "C_Finalize");
  printf("%d passed, %d failed\n", g_passed, g_failed);
  return g_failed ? 1 : 0;
}
