/* wire_crosscheck: the C half of the cross-language wire test
 * (test/wire/crosscheck.test.ts drives it).
 *
 * It links shim/marshal.c, shim/wire.c and shim/generated/craton_table.c
 * directly, not the shared library, and calls the generated entry points
 * through craton_function_list_3_0 exactly as a PKCS#11 consumer would, with
 * parameter structures declared here as the OASIS pkcs11t.h declares them
 * (so a layout slip in the shim's own header shows up as wrong values on the
 * TypeScript side). In place of shim/module.c it provides craton_call (encode
 * the request; in `decode` mode also decode the next reply from stdin),
 * craton_message_mechanism (a per-session record of C_Message*Init, as
 * module.c keeps), and the three functions the shim answers locally.
 *
 * Modes:
 *   abi              JSON: sizeof(CK_ULONG), sizeof(CK_ATTRIBUTE), parameter structure sizes.
 *   encode           request frames of the encode cases on stdout, each record
 *                    u32 name length, name, u32 frame length, frame (little-endian).
 *   decode-requests  the same records for the decode cases (so the TS side can
 *                    answer each request by its header).
 *   decode           reads reply frames (u32 length + frame, in call order)
 *                    from stdin, runs the decode cases with them, and prints
 *                    one JSON object per case: the CK_RV and what landed in
 *                    caller memory. Every caller buffer is pre-filled with 0xCC
 *                    and followed by 8 canary bytes of 0xA5.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "generated/craton_constants.h"
#include "marshal.h"

/* ------------------------------------------------- OASIS parameter layouts */
/* Declared as in OASIS PKCS#11 3.0 pkcs11t.h (field names and order). */

typedef CK_ULONG P11_MAC_GENERAL_PARAMS; /* typedef CK_ULONG CK_MAC_GENERAL_PARAMS */

typedef struct {
  CK_BYTE_PTR pIv;
  CK_ULONG ulIvLen;
  CK_ULONG ulIvBits;
  CK_BYTE_PTR pAAD;
  CK_ULONG ulAADLen;
  CK_ULONG ulTagBits;
} P11_GCM_PARAMS;

/* The 2.40 header's CK_GCM_PARAMS (no ulIvBits), which older consumers still compile against. */
typedef struct {
  CK_BYTE_PTR pIv;
  CK_ULONG ulIvLen;
  CK_BYTE_PTR pAAD;
  CK_ULONG ulAADLen;
  CK_ULONG ulTagBits;
} P11_GCM_PARAMS_240;

typedef struct {
  CK_ULONG ulDataLen;
  CK_BYTE_PTR pNonce;
  CK_ULONG ulNonceLen;
  CK_BYTE_PTR pAAD;
  CK_ULONG ulAADLen;
  CK_ULONG ulMACLen;
} P11_CCM_PARAMS;

typedef struct {
  CK_ULONG ulCounterBits;
  CK_BYTE cb[16];
} P11_AES_CTR_PARAMS;

typedef struct {
  CK_ULONG hashAlg;
  CK_ULONG mgf;
  CK_ULONG sLen;
} P11_RSA_PKCS_PSS_PARAMS;

typedef struct {
  CK_ULONG hashAlg;
  CK_ULONG mgf;
  CK_ULONG source;
  CK_VOID_PTR pSourceData;
  CK_ULONG ulSourceDataLen;
} P11_RSA_PKCS_OAEP_PARAMS;

typedef struct {
  CK_ULONG ulAESKeyBits;
  P11_RSA_PKCS_OAEP_PARAMS *pOAEPParams;
} P11_RSA_AES_KEY_WRAP_PARAMS;

typedef struct {
  CK_ULONG kdf;
  CK_ULONG ulSharedDataLen;
  CK_BYTE_PTR pSharedData;
  CK_ULONG ulPublicDataLen;
  CK_BYTE_PTR pPublicData;
} P11_ECDH1_DERIVE_PARAMS;

typedef struct {
  CK_BBOOL bExtract;
  CK_BBOOL bExpand;
  CK_ULONG prfHashMechanism;
  CK_ULONG ulSaltType;
  CK_BYTE_PTR pSalt;
  CK_ULONG ulSaltLen;
  CK_ULONG hSaltKey;
  CK_BYTE_PTR pInfo;
  CK_ULONG ulInfoLen;
} P11_HKDF_PARAMS;

typedef struct {
  CK_ULONG saltSource;
  CK_VOID_PTR pSaltSourceData;
  CK_ULONG ulSaltSourceDataLen;
  CK_ULONG iterations;
  CK_ULONG prf;
  CK_VOID_PTR pPrfData;
  CK_ULONG ulPrfDataLen;
  CK_UTF8CHAR_PTR pPassword;
  CK_ULONG ulPasswordLen;
} P11_PKCS5_PBKD2_PARAMS2;

typedef struct {
  CK_BBOOL phFlag;
  CK_ULONG ulContextDataLen;
  CK_BYTE_PTR pContextData;
} P11_EDDSA_PARAMS;

typedef struct {
  CK_BYTE_PTR pData;
  CK_ULONG ulLen;
} P11_KEY_DERIVATION_STRING_DATA;

typedef struct {
  CK_BYTE iv[16];
  CK_BYTE_PTR pData;
  CK_ULONG length;
} P11_AES_CBC_ENCRYPT_DATA_PARAMS;

typedef struct {
  CK_BYTE_PTR pIv;
  CK_ULONG ulIvLen;
  CK_ULONG ulIvFixedBits;
  CK_ULONG ivGenerator;
  CK_BYTE_PTR pTag;
  CK_ULONG ulTagBits;
} P11_GCM_MESSAGE_PARAMS;

typedef struct {
  CK_ULONG ulDataLen;
  CK_BYTE_PTR pNonce;
  CK_ULONG ulNonceLen;
  CK_ULONG ulNonceFixedBits;
  CK_ULONG nonceGenerator;
  CK_BYTE_PTR pMAC;
  CK_ULONG ulMACLen;
} P11_CCM_MESSAGE_PARAMS;

typedef struct {
  CK_BBOOL bLittleEndian;
  CK_ULONG ulWidthInBits;
} P11_SP800_108_COUNTER_FORMAT;

typedef struct {
  CK_ULONG dkmLengthMethod;
  CK_BBOOL bLittleEndian;
  CK_ULONG ulWidthInBits;
} P11_SP800_108_DKM_LENGTH_FORMAT;

typedef struct {
  CK_ULONG type;
  CK_VOID_PTR pValue;
  CK_ULONG ulValueLen;
} P11_PRF_DATA_PARAM;

typedef struct {
  CK_ATTRIBUTE_PTR pTemplate;
  CK_ULONG ulAttributeCount;
  CK_ULONG_PTR phKey;
} P11_DERIVED_KEY;

typedef struct {
  CK_ULONG prfType;
  CK_ULONG ulNumberOfDataParams;
  P11_PRF_DATA_PARAM *pDataParams;
  CK_ULONG ulAdditionalDerivedKeys;
  P11_DERIVED_KEY *pAdditionalDerivedKeys;
} P11_SP800_108_KDF_PARAMS;

typedef struct {
  CK_ULONG prfType;
  CK_ULONG ulNumberOfDataParams;
  P11_PRF_DATA_PARAM *pDataParams;
  CK_ULONG ulIVLen;
  CK_BYTE_PTR pIV;
  CK_ULONG ulAdditionalDerivedKeys;
  P11_DERIVED_KEY *pAdditionalDerivedKeys;
} P11_SP800_108_FEEDBACK_KDF_PARAMS;

/* ------------------------------------------------------------------ harness */

enum { MODE_ENCODE, MODE_DECODE_REQUESTS, MODE_DECODE };
static int g_mode;
static const char *g_case = "";
static uint32_t g_next_request_id = 1;
static uint8_t *g_replies; /* decode mode: every reply frame read from stdin */
static size_t g_replies_len, g_replies_pos;
#define RV_NO_REPLY ((CK_RV)0xFFFFFFFFUL)

static void put_u32(uint32_t v) {
  uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
  fwrite(b, 1, 4, stdout);
}

static void emit_record(const char *name, const uint8_t *frame, size_t len) {
  put_u32((uint32_t)strlen(name));
  fwrite(name, 1, strlen(name), stdout);
  put_u32((uint32_t)len);
  if (len) fwrite(frame, 1, len, stdout);
}

static int next_reply(const uint8_t **frame, size_t *len) {
  if (g_replies_len - g_replies_pos < 4) return 0;
  const uint8_t *p = g_replies + g_replies_pos;
  uint32_t n = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
  if (g_replies_len - g_replies_pos - 4 < n) return 0;
  *frame = p + 4;
  *len = n;
  g_replies_pos += 4 + (size_t)n;
  return 1;
}

/* The message mechanism each session's C_Message*Init used, as module.c keeps it. */
static struct {
  CK_ULONG session;
  int op;
  CK_ULONG mechanism;
} g_msg[16];
static size_t g_msg_count;

int craton_message_mechanism(CK_ULONG session, int op, CK_ULONG *mechanism) {
  for (size_t i = 0; i < g_msg_count; i++) {
    if (g_msg[i].session == session && g_msg[i].op == op) {
      *mechanism = g_msg[i].mechanism;
      return 1;
    }
  }
  return 0;
}

static void remember_message_mechanism(CK_ULONG session, int op, CK_ULONG mechanism) {
  for (size_t i = 0; i < g_msg_count; i++) {
    if (g_msg[i].session == session && g_msg[i].op == op) {
      g_msg[i].mechanism = mechanism;
      return;
    }
  }
  if (g_msg_count < sizeof g_msg / sizeof g_msg[0]) {
    g_msg[g_msg_count].session = session;
    g_msg[g_msg_count].op = op;
    g_msg[g_msg_count].mechanism = mechanism;
    g_msg_count++;
  }
}

/* Every generated entry point lands here (module.c's role). */
CK_RV craton_call(const craton_function_desc *fn, void **argv, int iface) {
  craton_buf b;
  craton_buf_init(&b);
  uint32_t id = g_next_request_id++;
  CK_RV rv = craton_encode_request(&b, fn, argv, (uint8_t)iface, id);
  if (rv != CRATON_RV_OK) {
    fprintf(stderr, "wire_crosscheck: %s: craton_encode_request failed: 0x%lx\n", g_case, (unsigned long)rv);
    craton_buf_free(&b);
    if (g_mode != MODE_DECODE) emit_record(g_case, NULL, 0);
    return rv;
  }
  if (g_mode != MODE_DECODE) {
    emit_record(g_case, b.data, b.len);
  } else {
    const uint8_t *reply;
    size_t reply_len;
    if (!next_reply(&reply, &reply_len)) {
      fprintf(stderr, "wire_crosscheck: %s: no reply frame left on stdin\n", g_case);
      rv = RV_NO_REPLY;
    } else {
      rv = craton_decode_reply(reply, reply_len, fn, argv, id);
    }
  }
  craton_buf_free(&b);
  if (rv == CRATON_RV_OK && fn->msg_init >= 0) {
    const CK_MECHANISM *m = *(CK_MECHANISM **)argv[1];
    if (m) remember_message_mechanism(*(CK_ULONG *)argv[0], fn->msg_init, m->mechanism);
  }
  return rv;
}

/* Answered by module.c in the real library; never called here. */
CK_RV C_GetFunctionList(CK_FUNCTION_LIST **ppFunctionList) {
  if (!ppFunctionList) return CRATON_RV_ARGUMENTS_BAD;
  *ppFunctionList = (CK_FUNCTION_LIST *)&craton_function_list_2_40;
  return CRATON_RV_OK;
}
CK_RV C_GetInterfaceList(CK_INTERFACE_PTR pInterfacesList, CK_ULONG_PTR pulCount) {
  (void)pInterfacesList;
  (void)pulCount;
  return CRATON_RV_FUNCTION_NOT_SUPPORTED;
}
CK_RV C_GetInterface(CK_UTF8CHAR_PTR pInterfaceName, CK_VERSION_PTR pVersion, CK_INTERFACE_PTR *ppInterface,
                     CK_FLAGS flags) {
  (void)pInterfaceName;
  (void)pVersion;
  (void)ppInterface;
  (void)flags;
  return CRATON_RV_FUNCTION_NOT_SUPPORTED;
}

#define P11 (&craton_function_list_3_0)

/* Test data: byte i of pattern `seed` is ((seed << 4) ^ (i * 37 + 11)) & 0xff (mirrored in the TS test). */
static void pat(uint8_t *p, size_t n, unsigned seed) {
  for (size_t i = 0; i < n; i++) p[i] = (uint8_t)((seed << 4) ^ (i * 37 + 11));
}

/* ------------------------------------------------------------ encode cases */

static CK_RV dummy_mutex_fn(CK_VOID_PTR p) {
  (void)p;
  return CRATON_RV_OK;
}
static CK_RV dummy_create_mutex(CK_VOID_PTR *pp) {
  (void)pp;
  return CRATON_RV_OK;
}

static void run_encode_cases(void) {
  static uint8_t b1[64], b2[80], b3[64], b4[64], b5[64];
  CK_MECHANISM m;
  CK_ULONG handle = 0, out_len = 0;

  /* C_Initialize */
  g_case = "initialize";
  CK_C_INITIALIZE_ARGS ia = {dummy_create_mutex, dummy_mutex_fn, NULL, dummy_mutex_fn, CKF_OS_LOCKING_OK, NULL};
  P11->C_Initialize(&ia);
  g_case = "initialize_null";
  P11->C_Initialize(NULL);

  /* C_InitToken: exactly 32 label bytes, never what follows them */
  g_case = "init_token";
  uint8_t label[40];
  pat(label, 32, 1);
  memset(label + 32, 0xEE, 8);
  uint8_t pin[6] = {'1', '2', '3', '4', '5', '6'};
  P11->C_InitToken(3, pin, sizeof pin, label);

  /* CK_GCM_PARAMS */
  g_case = "gcm";
  pat(b1, 12, 2);
  pat(b2, 20, 3);
  P11_GCM_PARAMS gcm = {b1, 12, 96, b2, 20, 128};
  m = (CK_MECHANISM){CKM_AES_GCM, &gcm, sizeof gcm};
  P11->C_EncryptInit(0x11, &m, 0x22);

  /* CK_CCM_PARAMS */
  g_case = "ccm";
  pat(b1, 13, 4);
  pat(b2, 5, 5);
  P11_CCM_PARAMS ccm = {64, b1, 13, b2, 5, 16};
  m = (CK_MECHANISM){CKM_AES_CCM, &ccm, sizeof ccm};
  P11->C_DecryptInit(0x11, &m, 0x23);

  /* CK_AES_CTR_PARAMS */
  g_case = "ctr";
  P11_AES_CTR_PARAMS ctr = {32, {0}};
  pat(ctr.cb, 16, 6);
  m = (CK_MECHANISM){CKM_AES_CTR, &ctr, sizeof ctr};
  P11->C_EncryptInit(0x11, &m, 0x24);

  /* CK_RSA_PKCS_PSS_PARAMS */
  g_case = "pss";
  P11_RSA_PKCS_PSS_PARAMS pss = {CKM_SHA256, CKG_MGF1_SHA256, 32};
  m = (CK_MECHANISM){CKM_SHA256_RSA_PKCS_PSS, &pss, sizeof pss};
  P11->C_SignInit(0x11, &m, 0x25);

  /* CK_RSA_PKCS_OAEP_PARAMS with a label */
  g_case = "oaep";
  pat(b1, 9, 7);
  P11_RSA_PKCS_OAEP_PARAMS oaep = {CKM_SHA256, CKG_MGF1_SHA256, CKZ_DATA_SPECIFIED, b1, 9};
  m = (CK_MECHANISM){CKM_RSA_PKCS_OAEP, &oaep, sizeof oaep};
  P11->C_EncryptInit(0x11, &m, 0x26);

  /* CK_RSA_AES_KEY_WRAP_PARAMS, nested OAEP structure (C_WrapKey, length query) */
  g_case = "rsa_aes_key_wrap";
  pat(b2, 3, 8);
  P11_RSA_PKCS_OAEP_PARAMS inner_oaep = {CKM_SHA_1, CKG_MGF1_SHA1, CKZ_DATA_SPECIFIED, b2, 3};
  P11_RSA_AES_KEY_WRAP_PARAMS kw = {256, &inner_oaep};
  m = (CK_MECHANISM){CKM_RSA_AES_KEY_WRAP, &kw, sizeof kw};
  out_len = 0;
  P11->C_WrapKey(0x11, &m, 0x27, 0x28, NULL, &out_len);

  g_case = "rsa_aes_key_wrap_null_oaep";
  P11_RSA_AES_KEY_WRAP_PARAMS kw_null = {128, NULL};
  m = (CK_MECHANISM){CKM_RSA_AES_KEY_WRAP, &kw_null, sizeof kw_null};
  out_len = 512;
  P11->C_WrapKey(0x11, &m, 0x27, 0x28, b5, &out_len);

  /* CK_ECDH1_DERIVE_PARAMS via C_DeriveKey, with a template */
  g_case = "ecdh1_derive";
  pat(b1, 7, 9);
  pat(b2, 65, 10);
  P11_ECDH1_DERIVE_PARAMS ecdh = {CKD_SHA256_KDF, 7, b1, 65, b2};
  m = (CK_MECHANISM){CKM_ECDH1_DERIVE, &ecdh, sizeof ecdh};
  CK_ULONG cls_secret = CKO_SECRET_KEY, kt_aes = CKK_AES, len32 = 32;
  CK_BBOOL yes = 1, no = 0;
  CK_ATTRIBUTE derive_tpl[] = {
    {CKA_CLASS, &cls_secret, sizeof cls_secret},
    {CKA_KEY_TYPE, &kt_aes, sizeof kt_aes},
    {CKA_VALUE_LEN, &len32, sizeof len32},
    {CKA_SENSITIVE, &yes, sizeof yes},
  };
  P11->C_DeriveKey(0x11, &m, 0x29, derive_tpl, 4, &handle);

  /* CK_HKDF_PARAMS */
  g_case = "hkdf";
  pat(b1, 32, 11);
  pat(b2, 10, 12);
  P11_HKDF_PARAMS hkdf = {1, 1, CKM_SHA256, CKF_HKDF_SALT_DATA, b1, 32, 0, b2, 10};
  m = (CK_MECHANISM){CKM_HKDF_DERIVE, &hkdf, sizeof hkdf};
  P11->C_DeriveKey(0x11, &m, 0x2a, derive_tpl, 1, &handle);

  /* CK_PKCS5_PBKD2_PARAMS2 (C_GenerateKey) */
  g_case = "pbkdf2";
  pat(b1, 16, 13);
  uint8_t password[7] = {'h', 'u', 'n', 't', 'e', 'r', '2'};
  P11_PKCS5_PBKD2_PARAMS2 pbkdf2 = {CKZ_SALT_SPECIFIED, b1, 16, 600000, CKP_PKCS5_PBKD2_HMAC_SHA256, NULL, 0, password, 7};
  m = (CK_MECHANISM){CKM_PKCS5_PBKD2, &pbkdf2, sizeof pbkdf2};
  P11->C_GenerateKey(0x11, &m, derive_tpl, 2, &handle);

  /* CK_EDDSA_PARAMS */
  g_case = "eddsa";
  uint8_t ctx[5] = {'c', 't', 'x', '0', '1'};
  P11_EDDSA_PARAMS eddsa = {1, 5, ctx};
  m = (CK_MECHANISM){CKM_EDDSA, &eddsa, sizeof eddsa};
  P11->C_SignInit(0x11, &m, 0x2b);

  /* CK_KEY_DERIVATION_STRING_DATA */
  g_case = "key_derivation_string";
  pat(b1, 24, 14);
  P11_KEY_DERIVATION_STRING_DATA kds = {b1, 24};
  m = (CK_MECHANISM){CKM_CONCATENATE_DATA_AND_BASE, &kds, sizeof kds};
  P11->C_DeriveKey(0x11, &m, 0x2c, NULL, 0, &handle);

  /* CK_AES_CBC_ENCRYPT_DATA_PARAMS */
  g_case = "aes_cbc_encrypt_data";
  P11_AES_CBC_ENCRYPT_DATA_PARAMS cbcd;
  pat(cbcd.iv, 16, 15);
  pat(b1, 32, 16);
  cbcd.pData = b1;
  cbcd.length = 32;
  m = (CK_MECHANISM){CKM_AES_CBC_ENCRYPT_DATA, &cbcd, sizeof cbcd};
  P11->C_DeriveKey(0x11, &m, 0x2d, derive_tpl, 3, &handle);

  /* CK_MAC_GENERAL_PARAMS: a bare CK_ULONG */
  g_case = "mac_general";
  P11_MAC_GENERAL_PARAMS mac_len = 16;
  m = (CK_MECHANISM){CKM_SHA256_HMAC_GENERAL, &mac_len, sizeof mac_len};
  P11->C_SignInit(0x11, &m, 0x2e);

  /* CK_ULONG values that do not fit a double (LP64 only; on a 32-bit CK_ULONG these are 2^32-1) */
  g_case = "ulong_above_2_53";
  P11_MAC_GENERAL_PARAMS all_ones = (CK_ULONG)~(CK_ULONG)0;
  CK_ULONG two53_plus_1 = sizeof(CK_ULONG) >= 8 ? (CK_ULONG)((1ULL << 53) + 1) : (CK_ULONG)~(CK_ULONG)0;
  m = (CK_MECHANISM){CKM_SHA256_HMAC_GENERAL, &all_ones, sizeof all_ones};
  P11->C_SignInit(0x11, &m, two53_plus_1);

  /* A raw IV parameter */
  g_case = "raw_iv";
  pat(b1, 16, 17);
  m = (CK_MECHANISM){CKM_AES_CBC, b1, 16};
  P11->C_EncryptInit(0x11, &m, 0x2f);

  /* NULL parameters */
  g_case = "null_param";
  m = (CK_MECHANISM){CKM_SHA256, NULL, 0};
  P11->C_DigestInit(0x11, &m);
  g_case = "null_param_struct_mech";
  m = (CK_MECHANISM){CKM_AES_GCM, NULL, sizeof(P11_GCM_PARAMS)};
  P11->C_EncryptInit(0x11, &m, 0x30);

  /* Wrong-size parameters of structure mechanisms */
  g_case = "wrong_size_gcm_240";
  P11_GCM_PARAMS_240 gcm240 = {b1, 12, b2, 20, 128};
  m = (CK_MECHANISM){CKM_AES_GCM, &gcm240, sizeof gcm240};
  P11->C_EncryptInit(0x11, &m, 0x31);
  g_case = "wrong_size_mac_general";
  uint32_t mac_len32 = 16;
  m = (CK_MECHANISM){CKM_SHA256_HMAC_GENERAL, &mac_len32, sizeof mac_len32};
  P11->C_SignInit(0x11, &m, 0x32);
  g_case = "wrong_size_pss_long";
  CK_ULONG pss_long[4] = {CKM_SHA256, CKG_MGF1_SHA256, 32, 0};
  m = (CK_MECHANISM){CKM_RSA_PKCS_PSS, pss_long, sizeof pss_long};
  P11->C_SignInit(0x11, &m, 0x33);

  /* C_CreateObject: every attribute value kind */
  g_case = "create_object";
  CK_ULONG cls_data = CKO_SECRET_KEY, vendor_cls = CKO_VENDOR_DEFINED | 0x1234;
  uint8_t lbl[10] = {'c', 'r', 'o', 's', 's', 'c', 'h', 'e', 'c', 'k'};
  uint8_t inner_lbl[5] = {'i', 'n', 'n', 'e', 'r'};
  pat(b3, 32, 18);
  CK_ULONG mechs[3] = {CKM_AES_GCM, CKM_AES_CBC_PAD, CKM_AES_KEY_WRAP};
  CK_ULONG inner_mechs[1] = {CKM_AES_CTR};
  CK_ATTRIBUTE deep[] = {
    {CKA_ALLOWED_MECHANISMS, inner_mechs, sizeof inner_mechs},
  };
  CK_ATTRIBUTE wrap_tpl[] = {
    {CKA_CLASS, &cls_secret, sizeof cls_secret},
    {CKA_EXTRACTABLE, &no, sizeof no},
    {CKA_LABEL, inner_lbl, sizeof inner_lbl},
    {CKA_DERIVE_TEMPLATE, deep, sizeof deep},
  };
  CK_ATTRIBUTE tpl[] = {
    {CKA_CLASS, &cls_data, sizeof cls_data},
    {CKA_KEY_TYPE, &kt_aes, sizeof kt_aes},
    {CKA_TOKEN, &yes, sizeof yes},
    {CKA_LABEL, lbl, sizeof lbl},
    {CKA_VALUE, b3, 32},
    {CKA_WRAP_TEMPLATE, wrap_tpl, sizeof wrap_tpl},
    {CKA_ALLOWED_MECHANISMS, mechs, sizeof mechs},
    {CKA_ID, NULL, 0},
    {CKA_START_DATE, NULL, 8},
    {CKA_VALUE_LEN, &len32, 4},
    {CKA_CERTIFICATE_CATEGORY, &vendor_cls, sizeof vendor_cls},
    {CKA_SUBJECT, b3, 0},
  };
  P11->C_CreateObject(0x11, tpl, sizeof tpl / sizeof tpl[0], &handle);

  g_case = "create_object_malformed";
  CK_ATTRIBUTE bad_tpl[] = {
    {CKA_WRAP_TEMPLATE, wrap_tpl, sizeof(CK_ATTRIBUTE) + 1},
    {CKA_ALLOWED_MECHANISMS, mechs, sizeof(CK_ULONG) + 4},
    {CKA_CLASS, &cls_data, sizeof cls_data + 1},
    {CKA_ALLOWED_MECHANISMS, mechs, 0},
  };
  P11->C_CreateObject(0x11, bad_tpl, 4, &handle);

  /* C_GetAttributeValue: NULL buffers, sized buffers, a nested slot array */
  g_case = "get_attribute_value";
  CK_ULONG cls_buf = 0;
  CK_ATTRIBUTE unwrap_inner[2] = {
    {CKA_CLASS, &cls_buf, sizeof cls_buf},
    {CKA_LABEL, NULL, 0},
  };
  CK_ATTRIBUTE get_tpl[] = {
    {CKA_CLASS, &cls_buf, sizeof cls_buf},
    {CKA_LABEL, NULL, 0},
    {CKA_VALUE, b4, 32},
    {CKA_ALLOWED_MECHANISMS, NULL, 0},
    {CKA_UNWRAP_TEMPLATE, unwrap_inner, sizeof unwrap_inner},
    {CKA_WRAP_TEMPLATE, NULL, 0},
    {CKA_DERIVE_TEMPLATE, b4, sizeof(CK_ATTRIBUTE) + 1},
    {CKA_SENSITIVE, b4, 1},
  };
  P11->C_GetAttributeValue(0x11, 0x99, get_tpl, sizeof get_tpl / sizeof get_tpl[0]);

  /* The 3.0 message functions: the shim learns the structure from C_MessageEncryptInit */
  g_case = "message_encrypt_init";
  m = (CK_MECHANISM){CKM_AES_GCM, NULL, 0};
  P11->C_MessageEncryptInit(0x44, &m, 0x55);
  g_case = "encrypt_message";
  uint8_t msg_iv[12], tag[16], aad[8], pt[20];
  pat(msg_iv, 12, 19);
  memset(tag, 0, sizeof tag);
  pat(aad, 8, 20);
  pat(pt, 20, 21);
  P11_GCM_MESSAGE_PARAMS gmp = {msg_iv, 12, 32, CKG_GENERATE_COUNTER, tag, 128};
  out_len = 0;
  P11->C_EncryptMessage(0x44, &gmp, sizeof gmp, aad, sizeof aad, pt, sizeof pt, NULL, &out_len);

  g_case = "message_encrypt_init_ccm";
  m = (CK_MECHANISM){CKM_AES_CCM, NULL, 0};
  P11->C_MessageEncryptInit(0x45, &m, 0x56);
  g_case = "encrypt_message_ccm";
  uint8_t nonce[13], mac[16];
  pat(nonce, 13, 22);
  memset(mac, 0, sizeof mac);
  P11_CCM_MESSAGE_PARAMS cmp = {20, nonce, 13, 0, 0, mac, 16};
  out_len = 36;
  P11->C_EncryptMessage(0x45, &cmp, sizeof cmp, aad, sizeof aad, pt, sizeof pt, b5, &out_len);

  /* No C_MessageEncryptInit recorded for this session: the parameter travels as raw bytes. */
  g_case = "encrypt_message_unrecorded";
  P11->C_EncryptMessage(0x46, &gmp, sizeof gmp, NULL, 0, pt, sizeof pt, NULL, &out_len);

  /* CK_SP800_108_KDF_PARAMS: a structure array whose pValue pointees are chosen by
   * `type` (a structure, raw bytes, NULL, a wrong size), and CK_DERIVED_KEYs with
   * nested templates and phKey pointers (one NULL). */
  g_case = "sp800_counter";
  P11_SP800_108_COUNTER_FORMAT cf = {1, 24};
  P11_SP800_108_DKM_LENGTH_FORMAT dkf = {CK_SP800_108_DKM_LENGTH_SUM_OF_SEGMENTS, 0, 16};
  CK_ULONG other_key = 0x35;
  pat(b1, 5, 23);
  P11_PRF_DATA_PARAM dp[] = {
    {CK_SP800_108_ITERATION_VARIABLE, &cf, sizeof cf},
    {CK_SP800_108_BYTE_ARRAY, b1, 5},
    {CK_SP800_108_DKM_LENGTH, &dkf, sizeof dkf},
    {CK_SP800_108_KEY_HANDLE, &other_key, sizeof other_key},
    {CK_SP800_108_COUNTER, NULL, 0},
    {CK_SP800_108_DKM_LENGTH, &cf, sizeof cf},
  };
  CK_ULONG dk_h1 = 0, dk_h2 = 0;
  P11_DERIVED_KEY dk[] = {{derive_tpl, 3, &dk_h1}, {NULL, 0, &dk_h2}, {derive_tpl, 1, NULL}};
  P11_SP800_108_KDF_PARAMS kdf = {CKM_SHA256_HMAC, 6, dp, 3, dk};
  m = (CK_MECHANISM){CKM_SP800_108_COUNTER_KDF, &kdf, sizeof kdf};
  P11->C_DeriveKey(0x11, &m, 0x34, derive_tpl, 2, &handle);

  /* CK_SP800_108_FEEDBACK_KDF_PARAMS with an IV, and NULL arrays (one with a non-zero count, for the runtime to refuse). */
  g_case = "sp800_feedback";
  pat(b2, 16, 24);
  P11_SP800_108_FEEDBACK_KDF_PARAMS fb = {CKM_AES_CMAC, 2, NULL, 16, b2, 0, NULL};
  m = (CK_MECHANISM){CKM_SP800_108_FEEDBACK_KDF, &fb, sizeof fb};
  P11->C_DeriveKey(0x11, &m, 0x36, NULL, 0, &handle);

  /* A count no caller memory can hold: the shim refuses to encode it (CKR_ARGUMENTS_BAD, no frame). */
  g_case = "sp800_array_too_large";
  P11_SP800_108_KDF_PARAMS huge = {CKM_SHA256_HMAC, (CK_ULONG)~(CK_ULONG)0 / 2, dp, 0, NULL};
  m = (CK_MECHANISM){CKM_SP800_108_COUNTER_KDF, &huge, sizeof huge};
  P11->C_DeriveKey(0x11, &m, 0x37, NULL, 0, &handle);
}

/* ------------------------------------------------------------ decode cases */

#define CANARY_LEN 8
#define FILL 0xCC
#define CANARY 0xA5

/* A caller buffer of n bytes filled with 0xCC, then 8 canary bytes. */
static void *guarded(size_t n) {
  uint8_t *p = malloc(n + CANARY_LEN);
  if (!p) abort();
  memset(p, FILL, n);
  memset(p + n, CANARY, CANARY_LEN);
  return p;
}

static int canary_ok(const void *p, size_t n) {
  const uint8_t *c = (const uint8_t *)p + n;
  for (size_t i = 0; i < CANARY_LEN; i++)
    if (c[i] != CANARY) return 0;
  return 1;
}

/* JSON goes to stdout in decode mode only (decode-requests writes frames there). */
#define J_ONLY_IN_DECODE \
  if (g_mode != MODE_DECODE) return
static void j_begin(const char *name, CK_RV rv) {
  J_ONLY_IN_DECODE;
  printf("{\"case\":\"%s\",\"rv\":\"%lu\"", name, (unsigned long)rv);
}
static void j_end(void) {
  J_ONLY_IN_DECODE;
  printf("}\n");
  fflush(stdout);
}
static void j_str(const char *key, const char *v) {
  J_ONLY_IN_DECODE;
  printf(",\"%s\":\"%s\"", key, v);
}
static void j_ulong(const char *key, CK_ULONG v) {
  J_ONLY_IN_DECODE;
  printf(",\"%s\":\"%lu\"", key, (unsigned long)v);
}
static void j_bool(const char *key, int v) {
  J_ONLY_IN_DECODE;
  printf(",\"%s\":%s", key, v ? "true" : "false");
}
static void j_hex(const char *key, const void *p, size_t n) {
  J_ONLY_IN_DECODE;
  printf(",\"%s\":\"", key);
  for (size_t i = 0; i < n; i++) printf("%02x", ((const uint8_t *)p)[i]);
  printf("\"");
}
/* A guarded buffer: its bytes and whether the canary after it survived. */
static void j_buf(const char *key, const void *p, size_t n) {
  char k[128];
  j_hex(key, p, n);
  snprintf(k, sizeof k, "%s.canary", key);
  j_bool(k, canary_ok(p, n));
}
/* One CK_ATTRIBUTE as the caller sees it afterwards. */
static void j_attr(const char *prefix, const CK_ATTRIBUTE *a, const void *orig_pvalue) {
  char k[128];
  snprintf(k, sizeof k, "%s.type", prefix);
  j_ulong(k, a->type);
  snprintf(k, sizeof k, "%s.len", prefix);
  j_ulong(k, a->ulValueLen);
  snprintf(k, sizeof k, "%s.pValue", prefix);
  j_str(k, a->pValue == NULL ? "null" : a->pValue == orig_pvalue ? "same" : "changed");
}

/* C_DeriveKey with CKM_SP800_108_COUNTER_KDF and two additional keys; the
 * second one's phKey is NULL when null_second. Reports the three handles. */
static void sp800_decode_case(const char *name, int null_second) {
  g_case = name;
  CK_ULONG *h0 = guarded(sizeof(CK_ULONG)), *h1 = guarded(sizeof(CK_ULONG)), *h2 = guarded(sizeof(CK_ULONG));
  P11_SP800_108_COUNTER_FORMAT cf = {0, 32};
  uint8_t lbl[8];
  pat(lbl, 8, 25);
  P11_PRF_DATA_PARAM dp[] = {{CK_SP800_108_ITERATION_VARIABLE, &cf, sizeof cf}, {CK_SP800_108_BYTE_ARRAY, lbl, 8}};
  P11_DERIVED_KEY dk[] = {{NULL, 0, h1}, {NULL, 0, null_second ? NULL : h2}};
  P11_SP800_108_KDF_PARAMS kdf = {CKM_SHA256_HMAC, 2, dp, 2, dk};
  CK_MECHANISM m = {CKM_SP800_108_COUNTER_KDF, &kdf, sizeof kdf};
  CK_RV rv = P11->C_DeriveKey(0x11, &m, 0x34, NULL, 0, h0);
  j_begin(g_case, rv);
  j_buf("h0", h0, sizeof(CK_ULONG));
  j_buf("h1", h1, sizeof(CK_ULONG));
  j_buf("h2", h2, sizeof(CK_ULONG));
  j_bool("unchanged", dk[0].phKey == h1 && dk[0].ulAttributeCount == 0 && kdf.pAdditionalDerivedKeys == dk && cf.ulWidthInBits == 32);
  j_end();
}

static void run_decode_cases(void) {
  CK_MECHANISM m;
  CK_RV rv;
  uint8_t aad[8], pt[20];
  pat(aad, 8, 20);
  pat(pt, 20, 21);

  /* 1. C_MessageEncryptInit(CKM_AES_GCM) so session 0x44 takes CK_GCM_MESSAGE_PARAMS */
  g_case = "msg_init_gcm";
  m = (CK_MECHANISM){CKM_AES_GCM, NULL, 0};
  rv = P11->C_MessageEncryptInit(0x44, &m, 0x55);
  j_begin(g_case, rv);
  j_end();

  /* 2. Write-backs into pIv and pTag, plus the ciphertext */
  {
    g_case = "msg_gcm_writeback";
    uint8_t *iv = guarded(12), *tag = guarded(16), *ct = guarded(32);
    P11_GCM_MESSAGE_PARAMS p = {iv, 12, 0, CKG_GENERATE_RANDOM, tag, 128};
    CK_ULONG ct_len = 32;
    rv = P11->C_EncryptMessage(0x44, &p, sizeof p, aad, sizeof aad, pt, sizeof pt, ct, &ct_len);
    j_begin(g_case, rv);
    j_buf("iv", iv, 12);
    j_buf("tag", tag, 16);
    j_buf("ct", ct, 32);
    j_ulong("ctLen", ct_len);
    j_bool("pIvSame", p.pIv == iv);
    j_bool("pTagSame", p.pTag == tag);
    j_ulong("ulIvLen", p.ulIvLen);
    j_ulong("ulTagBits", p.ulTagBits);
    j_end();
  }

  /* 3. ulTagBits 96: the tag buffer holds 12 bytes */
  {
    g_case = "msg_gcm_tag96";
    uint8_t *iv = guarded(12), *tag = guarded(12), *ct = guarded(32);
    P11_GCM_MESSAGE_PARAMS p = {iv, 12, 0, CKG_GENERATE_RANDOM, tag, 96};
    CK_ULONG ct_len = 32;
    rv = P11->C_EncryptMessage(0x44, &p, sizeof p, aad, sizeof aad, pt, sizeof pt, ct, &ct_len);
    j_begin(g_case, rv);
    j_buf("iv", iv, 12);
    j_buf("tag", tag, 12);
    j_buf("ct", ct, 32);
    j_ulong("ctLen", ct_len);
    j_end();
  }

  /* 4. C_EncryptInit with CK_GCM_PARAMS: the module generated the IV */
  {
    g_case = "init_gcm_writeback";
    uint8_t *iv = guarded(12);
    P11_GCM_PARAMS g = {iv, 12, 96, aad, sizeof aad, 128};
    m = (CK_MECHANISM){CKM_AES_GCM, &g, sizeof g};
    rv = P11->C_EncryptInit(0x11, &m, 0x22);
    j_begin(g_case, rv);
    j_buf("iv", iv, 12);
    j_end();
  }

  /* 5-7. out_bytes: length only, data, too small */
  {
    g_case = "encrypt_length_only";
    CK_ULONG len = 0;
    rv = P11->C_Encrypt(0x11, pt, sizeof pt, NULL, &len);
    j_begin(g_case, rv);
    j_ulong("len", len);
    j_end();
  }
  {
    g_case = "encrypt_data";
    uint8_t *ct = guarded(32);
    CK_ULONG len = 32;
    rv = P11->C_Encrypt(0x11, pt, sizeof pt, ct, &len);
    j_begin(g_case, rv);
    j_buf("ct", ct, 32);
    j_ulong("len", len);
    j_end();
  }
  {
    g_case = "encrypt_too_small";
    uint8_t *ct = guarded(16);
    CK_ULONG len = 16;
    rv = P11->C_Encrypt(0x11, pt, sizeof pt, ct, &len);
    j_begin(g_case, rv);
    j_buf("ct", ct, 16);
    j_ulong("len", len);
    j_end();
  }

  /* 8. C_GetAttributeValue, every pValue NULL: lengths only, and an unavailable one */
  {
    g_case = "get_attrs_sizes";
    CK_ATTRIBUTE t[5] = {
      {CKA_CLASS, NULL, 0},
      {CKA_LABEL, NULL, 0},
      {CKA_ALLOWED_MECHANISMS, NULL, 0},
      {CKA_UNWRAP_TEMPLATE, NULL, 0},
      {CKA_PRIVATE_EXPONENT, NULL, 0},
    };
    rv = P11->C_GetAttributeValue(0x11, 0x99, t, 5);
    j_begin(g_case, rv);
    for (int i = 0; i < 5; i++) {
      char k[16];
      snprintf(k, sizeof k, "t%d", i);
      j_attr(k, &t[i], NULL);
    }
    j_end();
  }

  /* 9. Values of every kind, and the types + lengths of a nested template */
  {
    g_case = "get_attrs_values";
    CK_ULONG *cls = guarded(sizeof(CK_ULONG));
    uint8_t *lbl = guarded(16);
    CK_ULONG *mechs = guarded(4 * sizeof(CK_ULONG));
    CK_ATTRIBUTE *inner = guarded(3 * sizeof(CK_ATTRIBUTE));
    memset(inner, 0, 3 * sizeof(CK_ATTRIBUTE)); /* as a consumer allocates it: zeroed */
    uint8_t *sens = guarded(1);
    CK_ATTRIBUTE t[6] = {
      {CKA_CLASS, cls, sizeof(CK_ULONG)},
      {CKA_LABEL, lbl, 16},
      {CKA_ALLOWED_MECHANISMS, mechs, 4 * sizeof(CK_ULONG)},
      {CKA_UNWRAP_TEMPLATE, inner, 3 * sizeof(CK_ATTRIBUTE)},
      {CKA_SENSITIVE, sens, 1},
      {CKA_VALUE, NULL, 0},
    };
    rv = P11->C_GetAttributeValue(0x11, 0x99, t, 6);
    j_begin(g_case, rv);
    j_attr("t0", &t[0], cls);
    j_ulong("t0.value", *cls);
    j_buf("t0.bytes", cls, sizeof(CK_ULONG));
    j_attr("t1", &t[1], lbl);
    j_buf("t1.bytes", lbl, 16);
    j_attr("t2", &t[2], mechs);
    for (int i = 0; i < 4; i++) {
      char k[32];
      snprintf(k, sizeof k, "t2.value%d", i);
      j_ulong(k, mechs[i]);
    }
    j_bool("t2.bytes.canary", canary_ok(mechs, 4 * sizeof(CK_ULONG)));
    j_attr("t3", &t[3], inner);
    for (int i = 0; i < 3; i++) {
      char k[32];
      snprintf(k, sizeof k, "t3.inner%d", i);
      j_attr(k, &inner[i], NULL);
    }
    j_bool("t3.inner.canary", canary_ok(inner, 3 * sizeof(CK_ATTRIBUTE)));
    j_attr("t4", &t[4], sens);
    j_buf("t4.bytes", sens, 1);
    j_attr("t5", &t[5], NULL);
    j_end();
  }

  /* 10. Values written into the caller's inner buffers (third call of the nested-template dance) */
  {
    g_case = "get_attrs_nested_values";
    CK_ULONG *cls = guarded(sizeof(CK_ULONG));
    uint8_t *enc = guarded(1), *lbl = guarded(8);
    CK_ULONG *mechs = guarded(2 * sizeof(CK_ULONG));
    CK_ATTRIBUTE *inner = guarded(5 * sizeof(CK_ATTRIBUTE));
    inner[0] = (CK_ATTRIBUTE){CKA_CLASS, cls, sizeof(CK_ULONG)};
    inner[1] = (CK_ATTRIBUTE){CKA_ENCRYPT, enc, 1};
    inner[2] = (CK_ATTRIBUTE){CKA_LABEL, lbl, 8};
    inner[3] = (CK_ATTRIBUTE){CKA_ALLOWED_MECHANISMS, mechs, 2 * sizeof(CK_ULONG)};
    inner[4] = (CK_ATTRIBUTE){CKA_VALUE, NULL, 0};
    CK_ATTRIBUTE t[1] = {{CKA_UNWRAP_TEMPLATE, inner, 5 * sizeof(CK_ATTRIBUTE)}};
    rv = P11->C_GetAttributeValue(0x11, 0x99, t, 1);
    j_begin(g_case, rv);
    j_attr("t0", &t[0], inner);
    j_attr("i0", &inner[0], cls);
    j_ulong("i0.value", *cls);
    j_buf("i0.bytes", cls, sizeof(CK_ULONG));
    j_attr("i1", &inner[1], enc);
    j_buf("i1.bytes", enc, 1);
    j_attr("i2", &inner[2], lbl);
    j_buf("i2.bytes", lbl, 8);
    j_attr("i3", &inner[3], mechs);
    j_ulong("i3.value0", mechs[0]);
    j_buf("i3.bytes", mechs, 2 * sizeof(CK_ULONG));
    j_attr("i4", &inner[4], NULL);
    j_bool("inner.canary", canary_ok(inner, 5 * sizeof(CK_ATTRIBUTE)));
    j_end();
  }

  /* ---- replies the shim must refuse: CKR_DEVICE_ERROR, nothing written ---- */
  {
    g_case = "reject_out_bytes_overflow";
    uint8_t *ct = guarded(16);
    CK_ULONG len = 16;
    rv = P11->C_Encrypt(0x11, pt, sizeof pt, ct, &len);
    j_begin(g_case, rv);
    j_buf("ct", ct, 16);
    j_ulong("len", len);
    j_end();
  }
  {
    g_case = "reject_out_bytes_null_buffer";
    CK_ULONG len = 0;
    rv = P11->C_Encrypt(0x11, pt, sizeof pt, NULL, &len);
    j_begin(g_case, rv);
    j_ulong("len", len);
    j_end();
  }
  {
    g_case = "reject_writeback_overflow";
    uint8_t *iv = guarded(12), *tag = guarded(12);
    P11_GCM_MESSAGE_PARAMS p = {iv, 12, 0, CKG_GENERATE_RANDOM, tag, 96};
    CK_ULONG ct_len = 0;
    rv = P11->C_EncryptMessage(0x44, &p, sizeof p, aad, sizeof aad, pt, sizeof pt, NULL, &ct_len);
    j_begin(g_case, rv);
    j_buf("iv", iv, 12);
    j_buf("tag", tag, 12);
    j_ulong("ctLen", ct_len);
    j_end();
  }
  {
    g_case = "reject_writeback_not_inout";
    uint8_t *iv = guarded(12), *tag = guarded(16);
    P11_GCM_MESSAGE_PARAMS p = {iv, 12, 0, CKG_GENERATE_RANDOM, tag, 128};
    CK_ULONG ct_len = 0;
    rv = P11->C_EncryptMessage(0x44, &p, sizeof p, aad, sizeof aad, pt, sizeof pt, NULL, &ct_len);
    j_begin(g_case, rv);
    j_buf("iv", iv, 12);
    j_buf("tag", tag, 16);
    j_ulong("ulIvLen", p.ulIvLen);
    j_ulong("ctLen", ct_len);
    j_end();
  }
  {
    g_case = "reject_writeback_bad_index";
    uint8_t *iv = guarded(12), *tag = guarded(16);
    P11_GCM_MESSAGE_PARAMS p = {iv, 12, 0, CKG_GENERATE_RANDOM, tag, 128};
    CK_ULONG ct_len = 0;
    rv = P11->C_EncryptMessage(0x44, &p, sizeof p, aad, sizeof aad, pt, sizeof pt, NULL, &ct_len);
    j_begin(g_case, rv);
    j_buf("iv", iv, 12);
    j_buf("tag", tag, 16);
    j_end();
  }
  {
    g_case = "reject_slot_raw_overflow";
    uint8_t *lbl = guarded(4);
    CK_ATTRIBUTE t[1] = {{CKA_LABEL, lbl, 4}};
    rv = P11->C_GetAttributeValue(0x11, 0x99, t, 1);
    j_begin(g_case, rv);
    j_attr("t0", &t[0], lbl);
    j_buf("t0.bytes", lbl, 4);
    j_end();
  }
  {
    g_case = "reject_slot_ulong_small";
    uint8_t *cls = guarded(4);
    CK_ATTRIBUTE t[1] = {{CKA_CLASS, cls, 4}};
    rv = P11->C_GetAttributeValue(0x11, 0x99, t, 1);
    j_begin(g_case, rv);
    j_attr("t0", &t[0], cls);
    j_buf("t0.bytes", cls, 4);
    j_end();
  }
  {
    g_case = "reject_slot_mechs_overflow";
    CK_ULONG *mechs = guarded(sizeof(CK_ULONG));
    CK_ATTRIBUTE t[1] = {{CKA_ALLOWED_MECHANISMS, mechs, sizeof(CK_ULONG)}};
    rv = P11->C_GetAttributeValue(0x11, 0x99, t, 1);
    j_begin(g_case, rv);
    j_attr("t0", &t[0], mechs);
    j_buf("t0.bytes", mechs, sizeof(CK_ULONG));
    j_end();
  }
  {
    g_case = "reject_slot_value_into_null";
    CK_ATTRIBUTE t[1] = {{CKA_LABEL, NULL, 0}};
    rv = P11->C_GetAttributeValue(0x11, 0x99, t, 1);
    j_begin(g_case, rv);
    j_attr("t0", &t[0], NULL);
    j_end();
  }
  {
    g_case = "reject_nested_type_mismatch";
    uint8_t *lbl = guarded(8);
    CK_ATTRIBUTE *inner = guarded(sizeof(CK_ATTRIBUTE));
    inner[0] = (CK_ATTRIBUTE){CKA_LABEL, lbl, 8};
    CK_ATTRIBUTE t[1] = {{CKA_UNWRAP_TEMPLATE, inner, sizeof(CK_ATTRIBUTE)}};
    rv = P11->C_GetAttributeValue(0x11, 0x99, t, 1);
    j_begin(g_case, rv);
    j_attr("t0", &t[0], inner);
    j_attr("i0", &inner[0], lbl);
    j_buf("i0.bytes", lbl, 8);
    j_bool("inner.canary", canary_ok(inner, sizeof(CK_ATTRIBUTE)));
    j_end();
  }
  {
    g_case = "reject_nested_value_into_null";
    CK_ATTRIBUTE *inner = guarded(sizeof(CK_ATTRIBUTE));
    inner[0] = (CK_ATTRIBUTE){CKA_LABEL, NULL, 0};
    CK_ATTRIBUTE t[1] = {{CKA_UNWRAP_TEMPLATE, inner, sizeof(CK_ATTRIBUTE)}};
    rv = P11->C_GetAttributeValue(0x11, 0x99, t, 1);
    j_begin(g_case, rv);
    j_attr("t0", &t[0], inner);
    j_attr("i0", &inner[0], NULL);
    j_bool("inner.canary", canary_ok(inner, sizeof(CK_ATTRIBUTE)));
    j_end();
  }
  {
    g_case = "reject_nested_count_overflow";
    CK_ATTRIBUTE *inner = guarded(sizeof(CK_ATTRIBUTE));
    inner[0] = (CK_ATTRIBUTE){CKA_LABEL, NULL, 0};
    CK_ATTRIBUTE t[1] = {{CKA_UNWRAP_TEMPLATE, inner, sizeof(CK_ATTRIBUTE)}};
    rv = P11->C_GetAttributeValue(0x11, 0x99, t, 1);
    j_begin(g_case, rv);
    j_attr("t0", &t[0], inner);
    j_attr("i0", &inner[0], NULL);
    j_bool("inner.canary", canary_ok(inner, sizeof(CK_ATTRIBUTE)));
    j_end();
  }
  /* Two out-values, the second one bad: is the first still written? */
  {
    g_case = "reject_partial_slots";
    CK_ULONG *cls = guarded(sizeof(CK_ULONG));
    uint8_t *lbl = guarded(4);
    CK_ATTRIBUTE t[2] = {{CKA_CLASS, cls, sizeof(CK_ULONG)}, {CKA_LABEL, lbl, 4}};
    rv = P11->C_GetAttributeValue(0x11, 0x99, t, 2);
    j_begin(g_case, rv);
    j_attr("t0", &t[0], cls);
    j_buf("t0.bytes", cls, sizeof(CK_ULONG));
    j_attr("t1", &t[1], lbl);
    j_buf("t1.bytes", lbl, 4);
    j_end();
  }
  {
    g_case = "reject_partial_writeback_then_out";
    uint8_t *iv = guarded(12), *tag = guarded(16), *ct = guarded(16);
    P11_GCM_MESSAGE_PARAMS p = {iv, 12, 0, CKG_GENERATE_RANDOM, tag, 128};
    CK_ULONG ct_len = 16;
    rv = P11->C_EncryptMessage(0x44, &p, sizeof p, aad, sizeof aad, pt, sizeof pt, ct, &ct_len);
    j_begin(g_case, rv);
    j_buf("iv", iv, 12);
    j_buf("tag", tag, 16);
    j_buf("ct", ct, 16);
    j_ulong("ctLen", ct_len);
    j_end();
  }
  /* SP800-108: handles written back into CK_DERIVED_KEY.phKey, and replies the shim must refuse. */
  sp800_decode_case("sp800_handles", 0);
  sp800_decode_case("reject_handle_short", 0);
  sp800_decode_case("reject_handle_into_null", 1);
  sp800_decode_case("reject_handle_not_inout", 0);
  sp800_decode_case("reject_handle_then_bad_index", 0);
  /* Every reply frame was consumed. */
  g_case = "replies_consumed";
  j_begin(g_case, 0);
  j_ulong("left", (CK_ULONG)(g_replies_len - g_replies_pos));
  j_end();
}

static void print_abi(void) {
  printf("{\"ulong\":%u,\"pointer\":%u,\"attribute\":%u,\"mechanism\":%u", (unsigned)sizeof(CK_ULONG),
         (unsigned)sizeof(void *), (unsigned)sizeof(CK_ATTRIBUTE), (unsigned)sizeof(CK_MECHANISM));
#define SZ(name, type) printf(",\"%s\":%u", name, (unsigned)sizeof(type))
  SZ("CK_MAC_GENERAL_PARAMS", P11_MAC_GENERAL_PARAMS);
  SZ("CK_GCM_PARAMS", P11_GCM_PARAMS);
  SZ("CK_GCM_PARAMS_240", P11_GCM_PARAMS_240);
  SZ("CK_CCM_PARAMS", P11_CCM_PARAMS);
  SZ("CK_AES_CTR_PARAMS", P11_AES_CTR_PARAMS);
  SZ("CK_RSA_PKCS_PSS_PARAMS", P11_RSA_PKCS_PSS_PARAMS);
  SZ("CK_RSA_PKCS_OAEP_PARAMS", P11_RSA_PKCS_OAEP_PARAMS);
  SZ("CK_RSA_AES_KEY_WRAP_PARAMS", P11_RSA_AES_KEY_WRAP_PARAMS);
  SZ("CK_ECDH1_DERIVE_PARAMS", P11_ECDH1_DERIVE_PARAMS);
  SZ("CK_HKDF_PARAMS", P11_HKDF_PARAMS);
  SZ("CK_PKCS5_PBKD2_PARAMS2", P11_PKCS5_PBKD2_PARAMS2);
  SZ("CK_EDDSA_PARAMS", P11_EDDSA_PARAMS);
  SZ("CK_KEY_DERIVATION_STRING_DATA", P11_KEY_DERIVATION_STRING_DATA);
  SZ("CK_AES_CBC_ENCRYPT_DATA_PARAMS", P11_AES_CBC_ENCRYPT_DATA_PARAMS);
  SZ("CK_GCM_MESSAGE_PARAMS", P11_GCM_MESSAGE_PARAMS);
  SZ("CK_CCM_MESSAGE_PARAMS", P11_CCM_MESSAGE_PARAMS);
  SZ("CK_SP800_108_COUNTER_FORMAT", P11_SP800_108_COUNTER_FORMAT);
  SZ("CK_SP800_108_DKM_LENGTH_FORMAT", P11_SP800_108_DKM_LENGTH_FORMAT);
  SZ("CK_SP800_108_KDF_PARAMS", P11_SP800_108_KDF_PARAMS);
  SZ("CK_SP800_108_FEEDBACK_KDF_PARAMS", P11_SP800_108_FEEDBACK_KDF_PARAMS);
#undef SZ
  printf("}\n");
}

static int read_stdin(void) {
  size_t cap = 1 << 16;
  g_replies = malloc(cap);
  if (!g_replies) return -1;
  size_t n;
  while ((n = fread(g_replies + g_replies_len, 1, cap - g_replies_len, stdin)) > 0) {
    g_replies_len += n;
    if (g_replies_len == cap) {
      uint8_t *grown = realloc(g_replies, cap *= 2);
      if (!grown) return -1;
      g_replies = grown;
    }
  }
  return ferror(stdin) ? -1 : 0;
}

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "";
  if (strcmp(mode, "abi") == 0) {
    print_abi();
  } else if (strcmp(mode, "encode") == 0) {
    g_mode = MODE_ENCODE;
    run_encode_cases();
  } else if (strcmp(mode, "decode-requests") == 0) {
    g_mode = MODE_DECODE_REQUESTS;
    run_decode_cases();
  } else if (strcmp(mode, "decode") == 0) {
    g_mode = MODE_DECODE;
    if (read_stdin() != 0) {
      fprintf(stderr, "wire_crosscheck: cannot read stdin\n");
      return 2;
    }
    run_decode_cases();
  } else {
    fprintf(stderr, "usage: %s abi|encode|decode-requests|decode\n", argv[0]);
    return 2;
  }
  return fflush(stdout) == 0 ? 0 : 1;
}
