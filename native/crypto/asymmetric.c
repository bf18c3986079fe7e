/*
 * asymmetric.c - asymmetric primitives for the PKCS#11 mechanisms (see
 * src/backends/asymmetric.ts for the contract).
 *
 * Keys: a napi external wrapping a craton_pkey (type-tagged with PKEY_TAG)
 * that holds one reference on an EVP_PKEY.  asymKeyFree() drops that
 * reference (idempotent), the finalizer drops it if JS never did and frees
 * the struct.  Every async job takes its own reference (EVP_PKEY_up_ref) on
 * the JS thread, so disposing a key while a job on it runs is safe.
 *
 * Jobs: every operation that touches key material (generation, import with
 * its validation, sign/verify, encrypt/decrypt, derive) is one asym_job run
 * by napi_create_async_work: the JS thread parses and copies the arguments,
 * the pool thread calls the library, and the completion callback turns the
 * result (or the error text rendered on the pool thread: the OpenSSL error
 * queue is per thread) into the promise's value.  Copies of inputs and
 * outputs are wiped when the job is freed.
 *
 * Library calls used are EVP_PKEY ones both OpenSSL 3 and AWS-LC offer
 * (EVP_PKEY_keygen, EVP_PKEY_sign/verify/verify_recover/encrypt/decrypt/
 * derive, EVP_DigestSign for EdDSA, raw public/private keys for the OKP
 * types, i2d_PUBKEY, ECDSA_SIG, BIGNUM and EC_GROUP/EC_POINT arithmetic).
 * The OpenSSL-3-only parts (building keys from components with
 * EVP_PKEY_fromdata, reading components with EVP_PKEY_get_bn_param & co.,
 * the EdDSA instance params) have CRATON_CRYPTO_LIB_AWSLC branches for the
 * static AWS-LC build: RSA_set0_* / EC_KEY, RSA_get0_* / EC_KEY_get0_*, and
 * ED25519ctx_* / ED25519ph_*.  AWS-LC has no Ed448 / X448 (those curves are
 * ALGORITHM_UNSUPPORTED there) and generates RSA keys only of a multiple of
 * 128 bits with a public exponent of at most 32 bits.
 */
#include "craton_crypto.h"

#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pthread.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/objects.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#if defined(CRATON_CRYPTO_LIB_AWSLC)
#include <openssl/curve25519.h>
#include <openssl/ec_key.h>
#include <openssl/mem.h>
#if !defined(OPENSSL_IS_AWSLC)
#error "CRATON_CRYPTO_LIB_AWSLC: the AWS-LC headers are not first on the include path"
#endif
#else
#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <openssl/params.h>
#endif

#define PKEY_MAGIC 0x43524b59u /* "CRKY" */

static const napi_type_tag PKEY_TAG = {0x5d17c3a94e2b8f06ULL,
                                       0xe08a6b1f3c94d275ULL};

#define RSA_MIN_GEN_BITS 1024
#define RSA_MIN_IMPORT_BITS 512
#define RSA_MAX_BITS 16384
#define RSA_MAX_PUBEXP_BYTES 8 /* generation: e <= 64 bits */
#define EDDSA_MAX_CONTEXT 255
#define ASYM_MAX_INPUT (64u * 1024u * 1024u) /* sanity bound on any byte input */

#if defined(CRATON_CRYPTO_LIB_AWSLC)
/*
 * AWS-LC: OpenSSL 1.1-style key access instead of the OpenSSL 3 parameter
 * API.  Reading BIGNUM components goes through awslc_get_bn_param() below,
 * keyed by the OpenSSL 3 parameter names so the callers stay the same (the
 * EC point: EC_KEY_get0_public_key in js_export); building keys from
 * components is rsa_from_components() / ec_from_components().
 */
#define EVP_PKEY_get_bits EVP_PKEY_bits
#define EVP_PKEY_get_size EVP_PKEY_size
#define EVP_MD_get_size(md) ((int)EVP_MD_size(md))
/* AWS-LC's BIGNUM code is constant-time where it matters and has no flags
 * (BN_FLG_CONSTTIME was removed on purpose; BN_set_flags does nothing). */
#define CRATON_BN_CONSTTIME(b) ((void)(b))
#define OSSL_PKEY_PARAM_RSA_N "n"
#define OSSL_PKEY_PARAM_RSA_E "e"
#define OSSL_PKEY_PARAM_RSA_D "d"
#define OSSL_PKEY_PARAM_RSA_FACTOR1 "rsa-factor1"
#define OSSL_PKEY_PARAM_RSA_FACTOR2 "rsa-factor2"
#define OSSL_PKEY_PARAM_RSA_EXPONENT1 "rsa-exponent1"
#define OSSL_PKEY_PARAM_RSA_EXPONENT2 "rsa-exponent2"
#define OSSL_PKEY_PARAM_RSA_COEFFICIENT1 "rsa-coefficient1"
#define OSSL_PKEY_PARAM_PRIV_KEY "priv"

/* A component of an RSA or EC key, borrowed (NULL if absent). */
static const BIGNUM *awslc_bn(EVP_PKEY *pk, const char *name) {
  if (EVP_PKEY_id(pk) == EVP_PKEY_EC) {
    const EC_KEY *ec = EVP_PKEY_get0_EC_KEY(pk);
    return ec != NULL && strcmp(name, OSSL_PKEY_PARAM_PRIV_KEY) == 0
               ? EC_KEY_get0_private_key(ec)
               : NULL;
  }
  const RSA *rsa = EVP_PKEY_get0_RSA(pk);
  if (rsa == NULL) return NULL;
  static const char *const names[] = {
      OSSL_PKEY_PARAM_RSA_N,         OSSL_PKEY_PARAM_RSA_E,
      OSSL_PKEY_PARAM_RSA_D,         OSSL_PKEY_PARAM_RSA_FACTOR1,
      OSSL_PKEY_PARAM_RSA_FACTOR2,   OSSL_PKEY_PARAM_RSA_EXPONENT1,
      OSSL_PKEY_PARAM_RSA_EXPONENT2, OSSL_PKEY_PARAM_RSA_COEFFICIENT1};
  const BIGNUM *(*const get[])(const RSA *) = {
      RSA_get0_n, RSA_get0_e,    RSA_get0_d,    RSA_get0_p,
      RSA_get0_q, RSA_get0_dmp1, RSA_get0_dmq1, RSA_get0_iqmp};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (strcmp(name, names[i]) == 0) return get[i](rsa);
  return NULL;
}

/* Same contract as EVP_PKEY_get_bn_param: *out is a copy to BN_clear_free. */
static int awslc_get_bn_param(EVP_PKEY *pk, const char *name, BIGNUM **out) {
  const BIGNUM *b = awslc_bn(pk, name);
  *out = b != NULL ? BN_dup(b) : NULL;
  return *out != NULL;
}
#define EVP_PKEY_get_bn_param awslc_get_bn_param
#else
#define CRATON_BN_CONSTTIME(b) BN_set_flags((b), BN_FLG_CONSTTIME)
#endif

/* ---- key types and curves ---------------------------------------------- */

typedef enum { KT_RSA = 1, KT_EC, KT_EDDSA, KT_XDH } key_type;

typedef struct {
  const char *name;
  key_type type;
  int nid;        /* curve NID (EC) or EVP_PKEY_* type (OKP) */
  int bits;       /* reported key size */
  size_t bytes;   /* EC: order/field bytes; OKP: raw key length */
  size_t sigbytes; /* raw signature length (0: no signatures) */
} curve_info;

static const curve_info CURVES[] = {
    {"P-256", KT_EC, NID_X9_62_prime256v1, 256, 32, 64},
    {"P-384", KT_EC, NID_secp384r1, 384, 48, 96},
    {"P-521", KT_EC, NID_secp521r1, 521, 66, 132},
    {"secp256k1", KT_EC, NID_secp256k1, 256, 32, 64},
    {"Ed25519", KT_EDDSA, EVP_PKEY_ED25519, 255, 32, 64},
#if !defined(CRATON_CRYPTO_LIB_AWSLC) /* AWS-LC has no Ed448 / X448 */
    {"Ed448", KT_EDDSA, EVP_PKEY_ED448, 448, 57, 114},
#endif
    {"X25519", KT_XDH, EVP_PKEY_X25519, 255, 32, 0},
#if !defined(CRATON_CRYPTO_LIB_AWSLC)
    {"X448", KT_XDH, EVP_PKEY_X448, 448, 56, 0},
#endif
};
#define N_CURVES (sizeof CURVES / sizeof CURVES[0])

static const char *key_type_name(key_type t) {
  switch (t) {
    case KT_RSA: return "rsa";
    case KT_EC: return "ec";
    case KT_EDDSA: return "eddsa";
    case KT_XDH: return "xdh";
  }
  return "?";
}

static bool parse_key_type(const char *s, key_type *out) {
  static const key_type all[] = {KT_RSA, KT_EC, KT_EDDSA, KT_XDH};
  for (size_t i = 0; i < 4; i++) {
    if (strcmp(s, key_type_name(all[i])) == 0) {
      *out = all[i];
      return true;
    }
  }
  return false;
}

typedef const EVP_MD *(*md_getter)(void);

static const struct {
  const char *name;
  md_getter get;
} DIGESTS[] = {
    {"sha1", EVP_sha1},         {"sha224", EVP_sha224},
    {"sha256", EVP_sha256},     {"sha384", EVP_sha384},
    {"sha512", EVP_sha512},     {"sha3-224", EVP_sha3_224},
    {"sha3-256", EVP_sha3_256}, {"sha3-384", EVP_sha3_384},
    {"sha3-512", EVP_sha3_512},
};

/* ---- key handles ------------------------------------------------------- */

typedef struct {
  uint32_t magic;
  EVP_PKEY *pkey; /* NULL once freed */
  key_type type;
  const curve_info *curve; /* NULL for RSA */
  int bits;
  size_t bytes;
  bool priv;
  /* ECDSA contexts initialised once and reused by the jobs that run inline,
   * all on the one JS thread (creating one costs OpenSSL 3 a fetch per call). */
  EVP_PKEY_CTX *ecdsa_sign_ctx;
  EVP_PKEY_CTX *ecdsa_verify_ctx;
} craton_pkey;

static void pkey_release(craton_pkey *k) {
  EVP_PKEY_CTX_free(k->ecdsa_sign_ctx);
  EVP_PKEY_CTX_free(k->ecdsa_verify_ctx);
  k->ecdsa_sign_ctx = k->ecdsa_verify_ctx = NULL;
  EVP_PKEY_free(k->pkey);
  k->pkey = NULL;
}

static void pkey_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  craton_pkey *k = (craton_pkey *)data;
  if (k == NULL) return;
  pkey_release(k);
  k->magic = 0;
  free(k);
}

/* Wrap pkey (ownership taken, freed on failure) in a new tagged external. */
static napi_value pkey_wrap(napi_env env, EVP_PKEY *pkey, key_type type,
                            const curve_info *curve, bool priv) {
  napi_value ext;
  craton_pkey *k = (craton_pkey *)calloc(1, sizeof *k);
  if (k == NULL) {
    EVP_PKEY_free(pkey);
    craton_throw(env, CRATON_E_LIBRARY, "out of memory");
    return NULL;
  }
  k->magic = PKEY_MAGIC;
  k->pkey = pkey;
  k->type = type;
  k->curve = curve;
  k->priv = priv;
  if (type == KT_RSA) {
    k->bits = EVP_PKEY_get_bits(pkey);
    k->bytes = (size_t)EVP_PKEY_get_size(pkey);
  } else {
    k->bits = curve->bits;
    k->bytes = curve->bytes;
  }
  if (napi_create_external(env, k, pkey_finalize, NULL, &ext) != napi_ok) {
    pkey_finalize(env, k, NULL);
    craton_throw(env, CRATON_E_LIBRARY, "cannot create key handle");
    return NULL;
  }
  if (napi_type_tag_object(env, ext, &PKEY_TAG) != napi_ok) {
    EVP_PKEY_free(k->pkey);
    k->pkey = NULL;
    craton_throw(env, CRATON_E_LIBRARY, "cannot type-tag key handle");
    return NULL;
  }
  return ext;
}

/* Any key handle (freed or not); throws ARGUMENT otherwise. */
static craton_pkey *pkey_unwrap_any(napi_env env, napi_value v) {
  craton_pkey *p = (craton_pkey *)craton_external_of(env, v, &PKEY_TAG);
  if (p == NULL || p->magic != PKEY_MAGIC) {
    craton_throw(env, CRATON_E_ARGUMENT, "not a key handle");
    return NULL;
  }
  return p;
}

/* A live key handle; throws STATE if freed. */
static craton_pkey *pkey_unwrap(napi_env env, napi_value v) {
  craton_pkey *k = pkey_unwrap_any(env, v);
  if (k == NULL) return NULL;
  if (k->pkey == NULL) {
    craton_throw(env, CRATON_E_STATE, "key has been disposed");
    return NULL;
  }
  return k;
}

/* ---- small N-API helpers ------------------------------------------------ */

static bool is_object(napi_env env, napi_value v) {
  napi_valuetype t;
  return napi_typeof(env, v, &t) == napi_ok && t == napi_object;
}

/* Property `name` of obj; *present false if missing, undefined or null. */
static bool get_prop(napi_env env, napi_value obj, const char *name,
                     napi_value *out, bool *present) {
  napi_valuetype t;
  if (napi_get_named_property(env, obj, name, out) != napi_ok ||
      napi_typeof(env, *out, &t) != napi_ok) {
    craton_throw(env, CRATON_E_ARGUMENT, "cannot read property %s", name);
    return false;
  }
  *present = !(t == napi_undefined || t == napi_null);
  return true;
}

static bool prop_string(napi_env env, napi_value obj, const char *name,
                        char *buf, size_t bufsize, bool *present) {
  napi_value v;
  if (!get_prop(env, obj, name, &v, present)) return false;
  if (!*present) return true;
  return craton_get_string(env, v, name, buf, bufsize);
}

static bool prop_bool(napi_env env, napi_value obj, const char *name,
                      bool *out) {
  napi_value v;
  bool present;
  napi_valuetype t;
  *out = false;
  if (!get_prop(env, obj, name, &v, &present)) return false;
  if (!present) return true;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_boolean ||
      napi_get_value_bool(env, v, out) != napi_ok) {
    craton_throw(env, CRATON_E_ARGUMENT, "%s must be a boolean", name);
    return false;
  }
  return true;
}

static bool prop_integer(napi_env env, napi_value obj, const char *name,
                         int64_t min, int64_t max, int64_t *out,
                         bool *present) {
  napi_value v;
  if (!get_prop(env, obj, name, &v, present)) return false;
  if (!*present) return true;
  return craton_get_integer(env, v, name, min, max, out);
}

/* Digest by name; *md NULL if absent (throws if required). */
static bool prop_md(napi_env env, napi_value obj, const char *name,
                    bool required, const EVP_MD **md) {
  char s[32];
  bool present;
  napi_value v;
  napi_valuetype t;
  *md = NULL;
  if (!get_prop(env, obj, name, &v, &present)) return false;
  if (!present) {
    if (required) {
      craton_throw(env, CRATON_E_ARGUMENT, "%s is required", name);
      return false;
    }
    return true;
  }
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_string) {
    craton_throw(env, CRATON_E_ARGUMENT, "%s must be a string", name);
    return false;
  }
  size_t n = 0;
  if (napi_get_value_string_utf8(env, v, s, sizeof s, &n) != napi_ok) {
    craton_throw(env, CRATON_E_ARGUMENT, "cannot read %s", name);
    return false;
  }
  for (size_t i = 0; i < sizeof DIGESTS / sizeof DIGESTS[0]; i++) {
    if (n < sizeof s - 1 && strcmp(s, DIGESTS[i].name) == 0) {
      *md = DIGESTS[i].get();
      if (*md == NULL) {
        craton_throw_openssl(env, CRATON_E_ALGORITHM, s);
        return false;
      }
      return true;
    }
  }
  craton_throw(env, CRATON_E_ALGORITHM, "unsupported digest algorithm for %s",
               name);
  return false;
}

/* ---- jobs ---------------------------------------------------------------- */

typedef struct {
  uint8_t *p;
  size_t len;
  bool present;
} jbuf;

static bool jbuf_set(jbuf *b, const uint8_t *src, size_t len) {
  b->p = (uint8_t *)malloc(len ? len : 1);
  if (b->p == NULL) return false;
  if (len) memcpy(b->p, src, len);
  b->len = len;
  b->present = true;
  return true;
}

static void jbuf_clear(jbuf *b) {
  if (b->p != NULL) {
    craton_wipe(b->p, b->len);
    free(b->p);
  }
  b->p = NULL;
  b->len = 0;
  b->present = false;
}

/* Optional byte property copied into b (ARGUMENT if not a Uint8Array). */
static bool prop_bytes(napi_env env, napi_value obj, const char *name,
                       jbuf *b) {
  napi_value v;
  bool present;
  const uint8_t *d;
  size_t len;
  if (!get_prop(env, obj, name, &v, &present)) return false;
  if (!present) return true;
  if (!craton_get_bytes(env, v, name, &d, &len)) return false;
  if (len > ASYM_MAX_INPUT) {
    craton_throw(env, CRATON_E_ARGUMENT, "%s is too long", name);
    return false;
  }
  if (!jbuf_set(b, d, len)) {
    craton_throw(env, CRATON_E_LIBRARY, "out of memory");
    return false;
  }
  return true;
}

static bool arg_bytes(napi_env env, napi_value v, const char *name, jbuf *b) {
  const uint8_t *d;
  size_t len;
  if (!craton_get_bytes(env, v, name, &d, &len)) return false;
  if (len > ASYM_MAX_INPUT) {
    craton_throw(env, CRATON_E_ARGUMENT, "%s is too long", name);
    return false;
  }
  if (!jbuf_set(b, d, len)) {
    craton_throw(env, CRATON_E_LIBRARY, "out of memory");
    return false;
  }
  return true;
}

typedef enum {
  OP_GENERATE,
  OP_IMPORT,
  OP_SIGN,
  OP_VERIFY,
  OP_RECOVER,
  OP_ENCRYPT,
  OP_DECRYPT,
  OP_DERIVE
} op_kind;

typedef enum {
  SCHEME_RSA_PKCS1 = 1,
  SCHEME_RSA_PSS,
  SCHEME_RSA_X509,
  SCHEME_ECDSA,
  SCHEME_EDDSA
} sig_scheme;

typedef enum { PAD_PKCS1 = 1, PAD_OAEP, PAD_NONE } enc_padding;

enum { RSA_N, RSA_E, RSA_D, RSA_P, RSA_Q, RSA_DP, RSA_DQ, RSA_QINV, RSA_NCOMP };

static const char *const RSA_FIELDS[RSA_NCOMP] = {
    "modulus", "publicExponent", "privateExponent", "prime1",
    "prime2",  "exponent1",      "exponent2",       "coefficient"};

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  op_kind op;

  /* the key operated on (own reference) and what it is */
  EVP_PKEY *pkey;
  craton_pkey *owner;      /* its handle, read only when the job runs inline */
  EVP_PKEY_CTX *reuse_ctx; /* borrowed from owner, already initialised */
  key_type ktype;
  const curve_info *curve;
  size_t kbytes; /* craton_pkey.bytes */
  int kbits;

  /* sign / verify / recover */
  sig_scheme scheme;
  const EVP_MD *md;
  const EVP_MD *mgf1;
  int salt;
  bool prehashed;
  bool eddsa_ph;
  /* encrypt / decrypt */
  enc_padding padding;

  jbuf data;  /* message / plaintext / ciphertext / peer key */
  jbuf sig;   /* signature */
  jbuf extra; /* EdDSA context or OAEP label */

  /* generate / import */
  int gen_bits;
  jbuf comp[RSA_NCOMP]; /* RSA components; EC: [0] point, [1] private */

  /* results */
  EVP_PKEY *out_key;
  bool out_priv;
  uint8_t *out;
  size_t out_len;
  bool out_null; /* resolve null (verifyRecover of a bad signature) */
  bool verified;
  const char *err_code; /* NULL: success */
  char err[640];
} asym_job;

static void job_free(asym_job *j) {
  if (j == NULL) return;
  EVP_PKEY_free(j->pkey);
  EVP_PKEY_free(j->out_key);
  jbuf_clear(&j->data);
  jbuf_clear(&j->sig);
  jbuf_clear(&j->extra);
  for (int i = 0; i < RSA_NCOMP; i++) jbuf_clear(&j->comp[i]);
  if (j->out != NULL) {
    craton_wipe(j->out, j->out_len);
    free(j->out);
  }
  craton_wipe(j, sizeof *j);
  free(j);
}

static asym_job *job_new(napi_env env, op_kind op) {
  asym_job *j = (asym_job *)calloc(1, sizeof *j);
  if (j == NULL) craton_throw(env, CRATON_E_LIBRARY, "out of memory");
  else j->op = op;
  return j;
}

/* Attach the key (takes a reference). */
static bool job_set_key(napi_env env, asym_job *j, craton_pkey *k) {
  if (EVP_PKEY_up_ref(k->pkey) != 1) {
    craton_throw_openssl(env, CRATON_E_LIBRARY, "EVP_PKEY_up_ref");
    return false;
  }
  j->pkey = k->pkey;
  j->owner = k;
  j->ktype = k->type;
  j->curve = k->curve;
  j->kbytes = k->bytes;
  j->kbits = k->bits;
  return true;
}

/* Failure with the (drained) error queue appended. */
static void job_fail(asym_job *j, const char *code, const char *what) {
  char errs[512];
  craton_openssl_errors(errs, sizeof errs);
  snprintf(j->err, sizeof j->err, "%s: %s", what, errs);
  j->err_code = code;
}

/* Failure with a fixed message; the error queue is discarded. */
static void job_fail_msg(asym_job *j, const char *code, const char *msg) {
  ERR_clear_error();
  snprintf(j->err, sizeof j->err, "%s", msg);
  j->err_code = code;
}

static bool job_alloc_out(asym_job *j, size_t len) {
  j->out = (uint8_t *)malloc(len ? len : 1);
  if (j->out == NULL) {
    job_fail_msg(j, CRATON_E_LIBRARY, "out of memory");
    return false;
  }
  j->out_len = len;
  memset(j->out, 0, len ? len : 1);
  return true;
}

static atomic_int g_running = 0;
static atomic_int g_max_running = 0;

/* ---- BIGNUM / RSA helpers (both libraries) -------------------------------- */

/* Modulus of an RSA key, big-endian, k bytes. */
static bool rsa_modulus(EVP_PKEY *pkey, uint8_t *out, size_t k) {
  BIGNUM *n = NULL;
  /* AWS-LC: RSA_get0_n through awslc_get_bn_param(). */
  if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, &n) != 1) return false;
  bool ok = BN_bn2binpad(n, out, (int)k) == (int)k;
  BN_free(n);
  return ok;
}

/*
 * Left-pad data into a k-byte block and require it to be below the modulus
 * (raw RSA input).  Returns the block (malloc) or NULL with the job failed.
 */
static uint8_t *rsa_raw_block(asym_job *j, const uint8_t *data, size_t len) {
  size_t k = j->kbytes;
  if (len > k) {
    job_fail_msg(j, CRATON_E_ARGUMENT, "data is longer than the modulus");
    return NULL;
  }
  uint8_t *block = (uint8_t *)calloc(1, k);
  uint8_t *mod = (uint8_t *)malloc(k);
  if (block == NULL || mod == NULL) {
    free(block);
    free(mod);
    job_fail_msg(j, CRATON_E_LIBRARY, "out of memory");
    return NULL;
  }
  memcpy(block + (k - len), data, len);
  if (!rsa_modulus(j->pkey, mod, k)) {
    free(mod);
    craton_wipe(block, k);
    free(block);
    job_fail(j, CRATON_E_LIBRARY, "reading the modulus");
    return NULL;
  }
  int cmp = memcmp(block, mod, k);
  free(mod);
  if (cmp >= 0) {
    craton_wipe(block, k);
    free(block);
    job_fail_msg(j, CRATON_E_ARGUMENT, "data is not below the modulus");
    return NULL;
  }
  return block;
}

/* ---- generation ------------------------------------------------------- */

static void exec_generate(asym_job *j) {
  EVP_PKEY_CTX *ctx = NULL;
  EVP_PKEY *pk = NULL;
  BIGNUM *e = NULL;
  const char *what = "EVP_PKEY_keygen";

  if (j->ktype == KT_RSA) {
    ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_RSA, NULL);
    e = BN_bin2bn(j->comp[RSA_E].p, (int)j->comp[RSA_E].len, NULL);
    if (ctx == NULL || e == NULL || EVP_PKEY_keygen_init(ctx) <= 0 ||
        EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, j->gen_bits) <= 0 ||
#if defined(CRATON_CRYPTO_LIB_AWSLC)
        /* takes ownership of e on success */
        EVP_PKEY_CTX_set_rsa_keygen_pubexp(ctx, e) <= 0) {
#else
        EVP_PKEY_CTX_set1_rsa_keygen_pubexp(ctx, e) <= 0) {
#endif
      what = "RSA key generation setup";
      goto fail;
    }
#if defined(CRATON_CRYPTO_LIB_AWSLC)
    e = NULL;
#endif
  } else if (j->ktype == KT_EC) {
    ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_EC, NULL);
    if (ctx == NULL || EVP_PKEY_keygen_init(ctx) <= 0 ||
        EVP_PKEY_CTX_set_ec_paramgen_curve_nid(ctx, j->curve->nid) <= 0) {
      what = "EC key generation setup";
      goto fail;
    }
  } else {
    ctx = EVP_PKEY_CTX_new_id(j->curve->nid, NULL);
    if (ctx == NULL || EVP_PKEY_keygen_init(ctx) <= 0) {
      what = "key generation setup";
      goto fail;
    }
  }
  if (EVP_PKEY_keygen(ctx, &pk) <= 0 || pk == NULL) goto fail;
  if (j->ktype == KT_RSA && EVP_PKEY_get_bits(pk) != j->gen_bits) {
    EVP_PKEY_free(pk);
    job_fail_msg(j, CRATON_E_LIBRARY, "RSA key generation: wrong modulus size");
    EVP_PKEY_CTX_free(ctx);
    BN_free(e);
    return;
  }
  j->out_key = pk;
  j->out_priv = true;
  EVP_PKEY_CTX_free(ctx);
  BN_free(e);
  return;
fail:
  job_fail(j, CRATON_E_LIBRARY, what);
  EVP_PKEY_CTX_free(ctx);
  BN_free(e);
}

/* ---- import ------------------------------------------------------------ */

#if defined(CRATON_CRYPTO_LIB_AWSLC)
/* AWS-LC: no EVP_PKEY_fromdata; build an RSA / EC_KEY and assign it. */

/* RSA key from c[] (n, e and, if priv, all of d, p, q, dP, dQ, qInv). */
static EVP_PKEY *rsa_from_components(BIGNUM *const c[RSA_NCOMP], bool priv) {
  BIGNUM *x[RSA_NCOMP] = {0};
  RSA *rsa = RSA_new();
  EVP_PKEY *pk = EVP_PKEY_new();
  bool ok = rsa != NULL && pk != NULL;
  int n = priv ? RSA_NCOMP : 2;
  for (int i = 0; ok && i < n; i++) ok = (x[i] = BN_dup(c[i])) != NULL;
  if (ok) {
    ok = RSA_set0_key(rsa, x[RSA_N], x[RSA_E], x[RSA_D]) == 1;
    if (ok) x[RSA_N] = x[RSA_E] = x[RSA_D] = NULL;
  }
  if (ok && priv) {
    ok = RSA_set0_factors(rsa, x[RSA_P], x[RSA_Q]) == 1;
    if (ok) x[RSA_P] = x[RSA_Q] = NULL;
    ok = ok &&
         RSA_set0_crt_params(rsa, x[RSA_DP], x[RSA_DQ], x[RSA_QINV]) == 1;
    if (ok) x[RSA_DP] = x[RSA_DQ] = x[RSA_QINV] = NULL;
  }
  if (ok) ok = EVP_PKEY_assign_RSA(pk, rsa) == 1;
  if (ok) rsa = NULL; /* owned by pk */
  for (int i = 0; i < RSA_NCOMP; i++) BN_clear_free(x[i]);
  RSA_free(rsa);
  if (!ok) {
    EVP_PKEY_free(pk);
    pk = NULL;
  }
  return pk;
}

/* EC key from a validated point and an optional private scalar. */
static EVP_PKEY *ec_from_components(const curve_info *curve,
                                    const EC_POINT *pub, const BIGNUM *d,
                                    const uint8_t *enc, size_t enclen) {
  (void)enc;
  (void)enclen;
  EC_KEY *ec = EC_KEY_new_by_curve_name(curve->nid);
  EVP_PKEY *pk = EVP_PKEY_new();
  bool ok = ec != NULL && pk != NULL && EC_KEY_set_public_key(ec, pub) == 1 &&
            (d == NULL || EC_KEY_set_private_key(ec, d) == 1) &&
            EVP_PKEY_assign_EC_KEY(pk, ec) == 1;
  if (ok) return pk;
  EC_KEY_free(ec);
  EVP_PKEY_free(pk);
  return NULL;
}
#else
/* Build a key from OSSL_PARAMs (OpenSSL 3 only). */
static EVP_PKEY *fromdata(const char *keytype, OSSL_PARAM_BLD *bld,
                          int selection) {
  OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
  EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, keytype, NULL);
  EVP_PKEY *pk = NULL;
  if (params == NULL || ctx == NULL || EVP_PKEY_fromdata_init(ctx) <= 0 ||
      EVP_PKEY_fromdata(ctx, &pk, selection, params) <= 0) {
    EVP_PKEY_free(pk);
    pk = NULL;
  }
  EVP_PKEY_CTX_free(ctx);
  OSSL_PARAM_free(params); /* private BNs were pushed: cleared on free */
  return pk;
}

/* RSA key from c[] (n, e and, if priv, all of d, p, q, dP, dQ, qInv). */
static EVP_PKEY *rsa_from_components(BIGNUM *const c[RSA_NCOMP], bool priv) {
  static const char *const names[RSA_NCOMP] = {
      OSSL_PKEY_PARAM_RSA_N,         OSSL_PKEY_PARAM_RSA_E,
      OSSL_PKEY_PARAM_RSA_D,         OSSL_PKEY_PARAM_RSA_FACTOR1,
      OSSL_PKEY_PARAM_RSA_FACTOR2,   OSSL_PKEY_PARAM_RSA_EXPONENT1,
      OSSL_PKEY_PARAM_RSA_EXPONENT2, OSSL_PKEY_PARAM_RSA_COEFFICIENT1};
  OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
  EVP_PKEY *pk = NULL;
  int n = priv ? RSA_NCOMP : 2;
  bool ok = bld != NULL;
  for (int i = 0; ok && i < n; i++)
    ok = OSSL_PARAM_BLD_push_BN(bld, names[i], c[i]) == 1;
  if (ok)
    pk = fromdata("RSA", bld, priv ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY);
  OSSL_PARAM_BLD_free(bld);
  return pk;
}

/* EC key from a validated point (enc: its uncompressed encoding) and an
 * optional private scalar. */
static EVP_PKEY *ec_from_components(const curve_info *curve,
                                    const EC_POINT *pub, const BIGNUM *d,
                                    const uint8_t *enc, size_t enclen) {
  (void)pub;
  OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
  EVP_PKEY *pk = NULL;
  if (bld != NULL &&
      OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
                                      OBJ_nid2sn(curve->nid), 0) &&
      OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, enc,
                                       enclen) &&
      (d == NULL || OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, d)))
    pk = fromdata("EC", bld, d != NULL ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY);
  OSSL_PARAM_BLD_free(bld);
  return pk;
}
#endif

/*
 * Recover p and q from n, e, d (the probabilistic method of NIST SP 800-56B
 * C.2 / Boneh): k = de - 1 = 2^s r; for bases g, g^r has a non-trivial
 * square root of 1 in its squaring chain with probability >= 1/2, and that
 * gives a factor.  Also a consistency check: if g^k != 1 the key is wrong.
 * Returns 1 found, 0 inconsistent, -1 library failure.
 */
static int rsa_recover_factors(const BIGNUM *n, const BIGNUM *e,
                               const BIGNUM *d, BIGNUM *p, BIGNUM *q,
                               BN_CTX *bn) {
  int rv = -1;
  BN_CTX_start(bn);
  BIGNUM *k = BN_CTX_get(bn), *r = BN_CTX_get(bn), *y = BN_CTX_get(bn),
         *x = BN_CTX_get(bn), *nm1 = BN_CTX_get(bn), *g = BN_CTX_get(bn),
         *rem = BN_CTX_get(bn);
  if (rem == NULL) goto done;
  if (!BN_mul(k, d, e, bn) || !BN_sub_word(k, 1)) goto done;
  if (BN_is_zero(k) || BN_is_odd(k)) {
    rv = 0;
    goto done;
  }
  int s = 0;
  if (!BN_copy(r, k)) goto done;
  while (!BN_is_odd(r)) {
    if (!BN_rshift1(r, r)) goto done;
    s++;
  }
  CRATON_BN_CONSTTIME(r);
  if (!BN_copy(nm1, n) || !BN_sub_word(nm1, 1)) goto done;
  for (BN_ULONG base = 2; base < 2 + 200; base++) {
    if (!BN_set_word(g, base)) goto done;
    if (!BN_mod_exp_mont_consttime(y, g, r, n, bn, NULL)) goto done;
    if (BN_is_one(y) || BN_cmp(y, nm1) == 0) continue; /* no information */
    for (int i = 1; i <= s; i++) {
      if (!BN_mod_sqr(x, y, n, bn)) goto done;
      if (BN_is_one(x)) {
        /* y is a non-trivial square root of 1: gcd(y - 1, n) is a factor. */
        if (!BN_sub_word(y, 1) || !BN_gcd(p, y, n, bn)) goto done;
        if (BN_is_one(p) || BN_cmp(p, n) >= 0) {
          rv = 0;
          goto done;
        }
        if (!BN_div(q, rem, n, p, bn)) goto done;
        rv = BN_is_zero(rem) ? 1 : 0;
        goto done;
      }
      if (BN_cmp(x, nm1) == 0) {
        if (i == s) { /* g^k = -1: de - 1 is not a multiple of lambda(n) */
          rv = 0;
          goto done;
        }
        goto next_base;
      }
      if (!BN_copy(y, x)) goto done;
    }
    rv = 0; /* g^k != 1 */
    goto done;
  next_base:;
  }
  rv = 0;
done:
  BN_CTX_end(bn);
  return rv;
}

static void exec_import_rsa(asym_job *j) {
  BIGNUM *c[RSA_NCOMP] = {0};
  BIGNUM *t = NULL, *pm1 = NULL, *qm1 = NULL, *t2 = NULL;
  BN_CTX *bn = BN_CTX_new();
  const char *bad = NULL;
  bool priv = j->comp[RSA_D].present;

  if (bn == NULL) goto libfail;
  for (int i = 0; i < RSA_NCOMP; i++) {
    if (!j->comp[i].present) continue;
    c[i] = BN_secure_new();
    if (c[i] == NULL) goto libfail;
    if (i >= RSA_D) CRATON_BN_CONSTTIME(c[i]);
    if (BN_bin2bn(j->comp[i].p, (int)j->comp[i].len, c[i]) == NULL)
      goto libfail;
  }
  const BIGNUM *n = c[RSA_N], *e = c[RSA_E];
  int nbits = BN_num_bits(n);
  if (nbits < RSA_MIN_IMPORT_BITS || nbits > RSA_MAX_BITS) {
    bad = "modulus size out of range";
    goto argfail;
  }
  if (!BN_is_odd(n)) {
    bad = "modulus is even";
    goto argfail;
  }
  if (!BN_is_odd(e) || BN_is_one(e) || BN_cmp(e, n) >= 0) {
    bad = "public exponent must be odd, > 1 and below the modulus";
    goto argfail;
  }
#if defined(CRATON_CRYPTO_LIB_AWSLC)
  if (BN_num_bits(e) > 33) { /* AWS-LC refuses such keys when used */
    bad = "AWS-LC takes RSA public exponents of at most 33 bits";
    goto argfail;
  }
#endif
  if (!priv) {
    for (int i = RSA_P; i < RSA_NCOMP; i++) {
      if (j->comp[i].present) {
        bad = "private components without privateExponent";
        goto argfail;
      }
    }
    j->out_key = rsa_from_components(c, false);
    if (j->out_key == NULL) goto libfail;
    goto done;
  }

  BIGNUM *d = c[RSA_D];
  if (BN_is_zero(d) || BN_cmp(d, n) >= 0) {
    bad = "private exponent out of range";
    goto argfail;
  }
  /* Primes: given, one derived from the other, or recovered from n, e, d. */
  if (c[RSA_P] == NULL && c[RSA_Q] == NULL) {
    if (c[RSA_DP] || c[RSA_DQ] || c[RSA_QINV]) {
      bad = "CRT values without the primes";
      goto argfail;
    }
    c[RSA_P] = BN_secure_new();
    c[RSA_Q] = BN_secure_new();
    if (c[RSA_P] == NULL || c[RSA_Q] == NULL) goto libfail;
    CRATON_BN_CONSTTIME(c[RSA_P]);
    CRATON_BN_CONSTTIME(c[RSA_Q]);
    int r = rsa_recover_factors(n, e, d, c[RSA_P], c[RSA_Q], bn);
    if (r < 0) goto libfail;
    if (r == 0) {
      bad = "inconsistent RSA key (n, e, d)";
      goto argfail;
    }
  } else if (c[RSA_P] == NULL || c[RSA_Q] == NULL) {
    int have = c[RSA_P] ? RSA_P : RSA_Q, other = have == RSA_P ? RSA_Q : RSA_P;
    c[other] = BN_secure_new();
    t = BN_new();
    if (c[other] == NULL || t == NULL) goto libfail;
    CRATON_BN_CONSTTIME(c[other]);
    if (BN_is_zero(c[have])) {
      bad = "inconsistent RSA key (prime)";
      goto argfail;
    }
    if (!BN_div(c[other], t, n, c[have], bn)) goto libfail;
    if (!BN_is_zero(t)) {
      bad = "inconsistent RSA key (prime does not divide the modulus)";
      goto argfail;
    }
  }
  BIGNUM *p = c[RSA_P], *q = c[RSA_Q];
  /* n = p q with 1 < p, q */
  if (t == NULL) t = BN_new();
  pm1 = BN_secure_new();
  qm1 = BN_secure_new();
  t2 = BN_secure_new();
  if (t == NULL || pm1 == NULL || qm1 == NULL || t2 == NULL) goto libfail;
  CRATON_BN_CONSTTIME(pm1);
  CRATON_BN_CONSTTIME(qm1);
  if (BN_cmp(p, BN_value_one()) <= 0 || BN_cmp(q, BN_value_one()) <= 0 ||
      !BN_is_odd(p) || !BN_is_odd(q)) {
    bad = "inconsistent RSA key (primes)";
    goto argfail;
  }
  if (!BN_mul(t, p, q, bn)) goto libfail;
  if (BN_cmp(t, n) != 0) {
    bad = "inconsistent RSA key (n != p q)";
    goto argfail;
  }
  if (!BN_sub(pm1, p, BN_value_one()) || !BN_sub(qm1, q, BN_value_one()))
    goto libfail;
  /* d e = 1 mod p-1 and mod q-1; dP = d mod p-1, dQ = d mod q-1 */
  for (int side = 0; side < 2; side++) {
    BIGNUM *m = side ? qm1 : pm1;
    int idx = side ? RSA_DQ : RSA_DP;
    if (!BN_mod(t2, d, m, bn)) goto libfail;
    if (c[idx] == NULL) {
      c[idx] = BN_secure_new();
      if (c[idx] == NULL || !BN_copy(c[idx], t2)) goto libfail;
      CRATON_BN_CONSTTIME(c[idx]);
    } else if (BN_cmp(c[idx], t2) != 0) {
      bad = "inconsistent RSA key (CRT exponent)";
      goto argfail;
    }
    if (!BN_mod_mul(t, t2, e, m, bn)) goto libfail;
    if (!BN_is_one(t)) {
      bad = "inconsistent RSA key (e d != 1)";
      goto argfail;
    }
  }
  /* qInv = q^-1 mod p */
  if (c[RSA_QINV] == NULL) {
    c[RSA_QINV] = BN_secure_new();
    if (c[RSA_QINV] == NULL) goto libfail;
    CRATON_BN_CONSTTIME(c[RSA_QINV]);
    if (BN_mod_inverse(c[RSA_QINV], q, p, bn) == NULL) {
      bad = "inconsistent RSA key (q not invertible mod p)";
      goto argfail;
    }
  } else {
    if (BN_cmp(c[RSA_QINV], p) >= 0 || !BN_mod_mul(t, c[RSA_QINV], q, p, bn))
      goto qinv_bad;
    if (!BN_is_one(t)) goto qinv_bad;
  }

  j->out_key = rsa_from_components(c, true);
  if (j->out_key == NULL) goto libfail;
  j->out_priv = true;
  goto done;

qinv_bad:
  ERR_clear_error();
  bad = "inconsistent RSA key (coefficient)";
argfail:
  job_fail_msg(j, CRATON_E_ARGUMENT, bad);
  goto done;
libfail:
  job_fail(j, CRATON_E_LIBRARY, "RSA key import");
done:
  for (int i = 0; i < RSA_NCOMP; i++) BN_clear_free(c[i]);
  BN_free(t);
  BN_clear_free(pm1);
  BN_clear_free(qm1);
  BN_clear_free(t2);
  BN_CTX_free(bn);
}

/*
 * EC key from a point and/or a private scalar.  Used for imports and for
 * ECDH peers.  Returns the key or NULL with the job failed.
 */
static EVP_PKEY *ec_build(asym_job *j, const curve_info *curve,
                          const jbuf *point, const jbuf *privv) {
  EC_GROUP *group = EC_GROUP_new_by_curve_name(curve->nid);
  EC_POINT *pub = NULL, *given = NULL;
  BIGNUM *d = NULL;
  BN_CTX *bn = BN_CTX_new();
  uint8_t enc[1 + 2 * 66];
  size_t enclen = 0;
  EVP_PKEY *pk = NULL;
  const char *bad = NULL;

  if (group == NULL || bn == NULL) goto libfail;
  if (privv != NULL && privv->present) {
    if (privv->len == 0 || privv->len > curve->bytes) {
      bad = "EC private value has the wrong length";
      goto argfail;
    }
    d = BN_secure_new();
    if (d == NULL) goto libfail;
    CRATON_BN_CONSTTIME(d);
    if (BN_bin2bn(privv->p, (int)privv->len, d) == NULL) goto libfail;
    if (BN_is_zero(d) || BN_cmp(d, EC_GROUP_get0_order(group)) >= 0) {
      bad = "EC private value out of range";
      goto argfail;
    }
    pub = EC_POINT_new(group);
    if (pub == NULL || !EC_POINT_mul(group, pub, d, NULL, NULL, bn))
      goto libfail;
  }
  if (point != NULL && point->present) {
    given = EC_POINT_new(group);
    if (given == NULL) goto libfail;
    /* oct2point checks that the point is on the curve. */
    if (point->len == 0 ||
        !EC_POINT_oct2point(group, given, point->p, point->len, bn) ||
        EC_POINT_is_at_infinity(group, given)) {
      bad = "EC point is not a valid point of the curve";
      goto argfail;
    }
    if (pub != NULL) {
      int cmp = EC_POINT_cmp(group, pub, given, bn);
      if (cmp < 0) goto libfail;
      if (cmp != 0) {
        bad = "EC point does not match the private value";
        goto argfail;
      }
    } else {
      pub = given;
      given = NULL;
    }
  }
  if (pub == NULL) {
    bad = "EC key needs a point or a private value";
    goto argfail;
  }
  enclen = EC_POINT_point2oct(group, pub, POINT_CONVERSION_UNCOMPRESSED, enc,
                              sizeof enc, bn);
  if (enclen == 0) goto libfail;
  pk = ec_from_components(curve, pub, d, enc, enclen);
  if (pk == NULL) goto libfail;
  goto done;

argfail:
  job_fail_msg(j, CRATON_E_ARGUMENT, bad);
  goto done;
libfail:
  job_fail(j, CRATON_E_LIBRARY, "EC key import");
done:
  EC_POINT_free(pub);
  EC_POINT_free(given);
  BN_clear_free(d);
  BN_CTX_free(bn);
  EC_GROUP_free(group);
  return pk;
}

static void exec_import_okp(asym_job *j) {
  const jbuf *pubb = &j->comp[0], *privb = &j->comp[1];
  size_t rawlen = j->curve->bytes;
  EVP_PKEY *pk = NULL;
  if ((pubb->present && pubb->len != rawlen) ||
      (privb->present && privb->len != rawlen)) {
    job_fail_msg(j, CRATON_E_ARGUMENT, "raw key has the wrong length");
    return;
  }
  if (privb->present) {
    pk = EVP_PKEY_new_raw_private_key(j->curve->nid, NULL, privb->p,
                                      privb->len);
    if (pk == NULL) {
      job_fail(j, CRATON_E_LIBRARY, "EVP_PKEY_new_raw_private_key");
      return;
    }
    if (pubb->present) {
      uint8_t derived[64];
      size_t dlen = sizeof derived;
      if (EVP_PKEY_get_raw_public_key(pk, derived, &dlen) != 1) {
        EVP_PKEY_free(pk);
        job_fail(j, CRATON_E_LIBRARY, "EVP_PKEY_get_raw_public_key");
        return;
      }
      if (dlen != pubb->len || CRYPTO_memcmp(derived, pubb->p, dlen) != 0) {
        EVP_PKEY_free(pk);
        job_fail_msg(j, CRATON_E_ARGUMENT,
                     "public key does not match the private key");
        return;
      }
    }
    j->out_priv = true;
  } else if (pubb->present) {
    pk = EVP_PKEY_new_raw_public_key(j->curve->nid, NULL, pubb->p, pubb->len);
    if (pk == NULL) {
      job_fail(j, CRATON_E_ARGUMENT, "invalid public key");
      return;
    }
  } else {
    job_fail_msg(j, CRATON_E_ARGUMENT, "needs publicKey or privateKey");
    return;
  }
  j->out_key = pk;
}

static void exec_import(asym_job *j) {
  switch (j->ktype) {
    case KT_RSA:
      exec_import_rsa(j);
      break;
    case KT_EC:
      j->out_key = ec_build(j, j->curve, &j->comp[0], &j->comp[1]);
      j->out_priv = j->comp[1].present;
      break;
    default:
      exec_import_okp(j);
      break;
  }
}

/* ---- signatures ---------------------------------------------------------- */

/*
 * The bytes the signature primitive sees: the message hashed with j->md
 * (unless prehashed), checked against the digest length.  Returns false with
 * the job failed.
 */
static bool sig_input(asym_job *j, uint8_t *hash, const uint8_t **tbs,
                      size_t *tbslen) {
  *tbs = j->data.p;
  *tbslen = j->data.len;
  if (j->md == NULL) return true;
  size_t mdlen = (size_t)EVP_MD_get_size(j->md);
  if (j->prehashed) {
    if (j->data.len != mdlen) {
      job_fail_msg(j, CRATON_E_ARGUMENT,
                   "prehashed data does not have the digest's length");
      return false;
    }
    return true;
  }
  unsigned int hl = 0;
  if (EVP_Digest(j->data.p, j->data.len, hash, &hl, j->md, NULL) != 1) {
    job_fail(j, CRATON_E_LIBRARY, "EVP_Digest");
    return false;
  }
  *tbs = hash;
  *tbslen = hl;
  return true;
}

/* Padding and digests of an RSA / ECDSA EVP_PKEY_CTX. */
static bool sig_configure(asym_job *j, EVP_PKEY_CTX *ctx, size_t tbslen) {
  size_t k = j->kbytes;
  switch (j->scheme) {
    case SCHEME_RSA_PKCS1:
      if (j->md == NULL && tbslen + 11 > k) {
        job_fail_msg(j, CRATON_E_ARGUMENT, "data too long for PKCS#1 v1.5");
        return false;
      }
      if (EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) <= 0 ||
          (j->md != NULL && EVP_PKEY_CTX_set_signature_md(ctx, j->md) <= 0))
        goto lib;
      return true;
    case SCHEME_RSA_PSS: {
      size_t hlen = (size_t)EVP_MD_get_size(j->md);
      size_t emlen = ((size_t)j->kbits - 1 + 7) / 8;
      if (emlen < hlen + 2 || (size_t)j->salt > emlen - hlen - 2) {
        job_fail_msg(j, CRATON_E_ARGUMENT,
                     "salt length too large for the key and digest");
        return false;
      }
      if (EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING) <= 0 ||
          EVP_PKEY_CTX_set_signature_md(ctx, j->md) <= 0 ||
          EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, j->mgf1) <= 0 ||
          EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, j->salt) <= 0)
        goto lib;
      return true;
    }
    case SCHEME_RSA_X509:
      if (EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_NO_PADDING) <= 0) goto lib;
      return true;
    case SCHEME_ECDSA:
      return true; /* no md: any hash length, truncated by the library */
    default:
      break;
  }
  job_fail_msg(j, CRATON_E_ARGUMENT, "scheme does not fit the key");
  return false;
lib:
  job_fail(j, CRATON_E_LIBRARY, "signature setup");
  return false;
}

/*
 * EdDSA variant selection on the EVP_PKEY_CTX of EVP_DigestSign/VerifyInit:
 * OpenSSL >= 3.2 takes "instance" and "context-string"; 3.0 / 3.1 have no
 * settable parameters, so only pure Ed25519 / Ed448 with an empty context.
 * AWS-LC: ED25519ctx_sign / ED25519ph_sign (no Ed448 at all), see
 * eddsa_awslc_variant().
 */
#if defined(CRATON_CRYPTO_LIB_AWSLC)
/*
 * Ed25519ctx / Ed25519ph on AWS-LC (EVP_DigestSign does pure Ed25519 only):
 * ED25519ctx_* / ED25519ph_* over the raw key, whose 64-byte private form is
 * seed || public key.  Returns false for pure Ed25519 (the EVP path).
 */
static bool eddsa_awslc_variant(asym_job *j, bool signing) {
  bool ctx_given = j->extra.present && j->extra.len > 0;
  if (!j->eddsa_ph && !ctx_given) return false;
  const uint8_t *ctx = ctx_given ? j->extra.p : NULL;
  size_t ctx_len = ctx_given ? j->extra.len : 0;
  uint8_t priv[ED25519_PRIVATE_KEY_LEN], pub[ED25519_PUBLIC_KEY_LEN];
  size_t publen = sizeof pub, seedlen = ED25519_PRIVATE_KEY_SEED_LEN;
  if (EVP_PKEY_get_raw_public_key(j->pkey, pub, &publen) != 1 ||
      publen != sizeof pub) {
    job_fail(j, CRATON_E_LIBRARY, "EVP_PKEY_get_raw_public_key");
    return true;
  }
  if (signing) {
    if (EVP_PKEY_get_raw_private_key(j->pkey, priv, &seedlen) != 1 ||
        seedlen != ED25519_PRIVATE_KEY_SEED_LEN) {
      craton_wipe(priv, sizeof priv);
      job_fail(j, CRATON_E_LIBRARY, "EVP_PKEY_get_raw_private_key");
      return true;
    }
    memcpy(priv + ED25519_PRIVATE_KEY_SEED_LEN, pub, sizeof pub);
    if (job_alloc_out(j, ED25519_SIGNATURE_LEN)) {
      int ok = j->eddsa_ph ? ED25519ph_sign(j->out, j->data.p, j->data.len,
                                            priv, ctx, ctx_len)
                           : ED25519ctx_sign(j->out, j->data.p, j->data.len,
                                             priv, ctx, ctx_len);
      if (ok != 1) job_fail(j, CRATON_E_LIBRARY, "Ed25519 signing");
    }
    craton_wipe(priv, sizeof priv);
  } else {
    j->verified =
        j->sig.len == ED25519_SIGNATURE_LEN &&
        (j->eddsa_ph ? ED25519ph_verify(j->data.p, j->data.len, j->sig.p, pub,
                                        ctx, ctx_len)
                     : ED25519ctx_verify(j->data.p, j->data.len, j->sig.p,
                                         pub, ctx, ctx_len)) == 1;
    ERR_clear_error();
  }
  return true;
}
#else
static bool eddsa_configure(asym_job *j, EVP_PKEY_CTX *pctx) {
  bool ed448 = j->curve->nid == EVP_PKEY_ED448;
  bool ctx_given = j->extra.present && j->extra.len > 0;
  if (!j->eddsa_ph && !ctx_given) return true;
  const OSSL_PARAM *settable = EVP_PKEY_CTX_settable_params(pctx);
  if (settable == NULL || OSSL_PARAM_locate_const(settable, "instance") == NULL ||
      (ctx_given &&
       OSSL_PARAM_locate_const(settable, "context-string") == NULL)) {
    job_fail_msg(j, CRATON_E_ALGORITHM,
                 "this library supports only pure Ed25519 / Ed448 without a "
                 "context");
    return false;
  }
  const char *inst = ed448 ? (j->eddsa_ph ? "Ed448ph" : "Ed448")
                           : (j->eddsa_ph ? "Ed25519ph" : "Ed25519ctx");
  OSSL_PARAM params[3];
  int np = 0;
  params[np++] = OSSL_PARAM_construct_utf8_string("instance", (char *)inst, 0);
  if (ctx_given)
    params[np++] = OSSL_PARAM_construct_octet_string(
        "context-string", j->extra.p, j->extra.len);
  params[np] = OSSL_PARAM_construct_end();
  if (EVP_PKEY_CTX_set_params(pctx, params) <= 0) {
    job_fail(j, CRATON_E_LIBRARY, "EdDSA instance");
    return false;
  }
  return true;
}
#endif

static void exec_eddsa(asym_job *j, bool signing) {
#if defined(CRATON_CRYPTO_LIB_AWSLC)
  if (eddsa_awslc_variant(j, signing)) return;
#endif
  EVP_MD_CTX *mctx = EVP_MD_CTX_new();
  EVP_PKEY_CTX *pctx = NULL;
  if (mctx == NULL) {
    job_fail(j, CRATON_E_LIBRARY, "EVP_MD_CTX_new");
    return;
  }
  int rc = signing ? EVP_DigestSignInit(mctx, &pctx, NULL, NULL, j->pkey)
                   : EVP_DigestVerifyInit(mctx, &pctx, NULL, NULL, j->pkey);
  if (rc != 1) {
    job_fail(j, CRATON_E_LIBRARY, "EdDSA init");
    goto done;
  }
#if !defined(CRATON_CRYPTO_LIB_AWSLC)
  if (!eddsa_configure(j, pctx)) goto done;
#else
  (void)pctx;
#endif
  if (signing) {
    size_t siglen = j->curve->sigbytes;
    if (!job_alloc_out(j, siglen)) goto done;
    if (EVP_DigestSign(mctx, j->out, &siglen, j->data.p, j->data.len) != 1) {
      job_fail(j, CRATON_E_LIBRARY, "EVP_DigestSign");
      goto done;
    }
    j->out_len = siglen;
  } else {
    j->verified = j->sig.len == j->curve->sigbytes &&
                  EVP_DigestVerify(mctx, j->sig.p, j->sig.len, j->data.p,
                                   j->data.len) == 1;
    ERR_clear_error();
  }
done:
  EVP_MD_CTX_free(mctx);
}

/* ECDSA DER (from the library) -> r || s, each kbytes. */
static bool ecdsa_der_to_raw(asym_job *j, const uint8_t *der, size_t derlen,
                             uint8_t *raw) {
  const unsigned char *pp = der;
  ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &pp, (long)derlen);
  const BIGNUM *r = NULL, *s = NULL;
  bool ok = false;
  if (sig != NULL) {
    ECDSA_SIG_get0(sig, &r, &s);
    ok = BN_bn2binpad(r, raw, (int)j->kbytes) == (int)j->kbytes &&
         BN_bn2binpad(s, raw + j->kbytes, (int)j->kbytes) == (int)j->kbytes;
  }
  ECDSA_SIG_free(sig);
  return ok;
}

/* r || s -> DER (OPENSSL_malloc'd), or 0 on failure. */
static int ecdsa_raw_to_der(const uint8_t *raw, size_t half, uint8_t **der) {
  ECDSA_SIG *sig = ECDSA_SIG_new();
  BIGNUM *r = BN_bin2bn(raw, (int)half, NULL);
  BIGNUM *s = BN_bin2bn(raw + half, (int)half, NULL);
  int len = 0;
  if (sig != NULL && r != NULL && s != NULL && ECDSA_SIG_set0(sig, r, s) == 1) {
    r = s = NULL; /* owned by sig */
    *der = NULL;
    len = i2d_ECDSA_SIG(sig, der);
    if (len < 0) len = 0;
  }
  BN_free(r);
  BN_free(s);
  ECDSA_SIG_free(sig);
  return len;
}

static void exec_sign(asym_job *j) {
  if (j->scheme == SCHEME_EDDSA) {
    exec_eddsa(j, true);
    return;
  }
  uint8_t hash[EVP_MAX_MD_SIZE];
  const uint8_t *tbs;
  size_t tbslen;
  uint8_t *block = NULL, *der = NULL;
  EVP_PKEY_CTX *ctx = NULL;
  size_t outlen = 0;

  if (!sig_input(j, hash, &tbs, &tbslen)) goto done;
  if (j->scheme == SCHEME_RSA_X509) {
    block = rsa_raw_block(j, tbs, tbslen);
    if (block == NULL) goto done;
    tbs = block;
    tbslen = j->kbytes;
  }
  ctx = j->reuse_ctx != NULL ? j->reuse_ctx : EVP_PKEY_CTX_new(j->pkey, NULL);
  if (ctx == NULL || (ctx != j->reuse_ctx && EVP_PKEY_sign_init(ctx) <= 0)) {
    job_fail(j, CRATON_E_LIBRARY, "EVP_PKEY_sign_init");
    goto done;
  }
  if (!sig_configure(j, ctx, tbslen)) goto done;
  if (EVP_PKEY_sign(ctx, NULL, &outlen, tbs, tbslen) <= 0) {
    job_fail(j, CRATON_E_LIBRARY, "EVP_PKEY_sign");
    goto done;
  }
  if (j->scheme == SCHEME_ECDSA) {
    der = (uint8_t *)malloc(outlen);
    if (der == NULL) {
      job_fail_msg(j, CRATON_E_LIBRARY, "out of memory");
      goto done;
    }
    if (EVP_PKEY_sign(ctx, der, &outlen, tbs, tbslen) <= 0) {
      job_fail(j, CRATON_E_LIBRARY, "EVP_PKEY_sign");
      goto done;
    }
    if (!job_alloc_out(j, 2 * j->kbytes)) goto done;
    if (!ecdsa_der_to_raw(j, der, outlen, j->out)) {
      job_fail(j, CRATON_E_LIBRARY, "ECDSA signature encoding");
      goto done;
    }
  } else {
    if (!job_alloc_out(j, outlen)) goto done;
    if (EVP_PKEY_sign(ctx, j->out, &outlen, tbs, tbslen) <= 0) {
      job_fail(j, CRATON_E_LIBRARY, "EVP_PKEY_sign");
      goto done;
    }
    j->out_len = outlen;
  }
done:
  if (block != NULL) {
    craton_wipe(block, j->kbytes);
    free(block);
  }
  free(der);
  if (ctx != j->reuse_ctx) EVP_PKEY_CTX_free(ctx);
  craton_wipe(hash, sizeof hash);
}

/* Raw RSA public operation (s^e mod n) into a fresh k-byte buffer. */
static uint8_t *rsa_public_raw(asym_job *j, const uint8_t *sig, size_t siglen) {
  EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(j->pkey, NULL);
  uint8_t *out = (uint8_t *)malloc(j->kbytes);
  size_t outlen = j->kbytes;
  bool ok = ctx != NULL && out != NULL && siglen == j->kbytes &&
            EVP_PKEY_verify_recover_init(ctx) > 0 &&
            EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_NO_PADDING) > 0 &&
            EVP_PKEY_verify_recover(ctx, out, &outlen, sig, siglen) > 0 &&
            outlen == j->kbytes;
  EVP_PKEY_CTX_free(ctx);
  ERR_clear_error();
  if (!ok) {
    free(out);
    return NULL;
  }
  return out;
}

static void exec_verify(asym_job *j) {
  if (j->scheme == SCHEME_EDDSA) {
    exec_eddsa(j, false);
    return;
  }
  uint8_t hash[EVP_MAX_MD_SIZE];
  const uint8_t *tbs;
  size_t tbslen;
  uint8_t *der = NULL;
  EVP_PKEY_CTX *ctx = NULL;
  j->verified = false;

  if (!sig_input(j, hash, &tbs, &tbslen)) goto done;
  if (j->scheme == SCHEME_RSA_X509) {
    if (tbslen > j->kbytes) goto done; /* cannot match */
    uint8_t *rec = rsa_public_raw(j, j->sig.p, j->sig.len);
    if (rec == NULL) goto done;
    size_t pad = j->kbytes - tbslen;
    uint8_t acc = 0;
    for (size_t i = 0; i < pad; i++) acc |= rec[i];
    j->verified = acc == 0 && CRYPTO_memcmp(rec + pad, tbs, tbslen) == 0;
    free(rec);
    goto done;
  }
  const uint8_t *sig = j->sig.p;
  size_t siglen = j->sig.len;
  if (j->scheme == SCHEME_ECDSA) {
    if (siglen != 2 * j->kbytes) goto done;
    int dl = ecdsa_raw_to_der(sig, j->kbytes, &der);
    if (dl <= 0) {
      job_fail(j, CRATON_E_LIBRARY, "ECDSA signature encoding");
      goto done;
    }
    sig = der;
    siglen = (size_t)dl;
  } else if (siglen != j->kbytes) {
    goto done;
  }
  ctx = j->reuse_ctx != NULL ? j->reuse_ctx : EVP_PKEY_CTX_new(j->pkey, NULL);
  if (ctx == NULL || (ctx != j->reuse_ctx && EVP_PKEY_verify_init(ctx) <= 0)) {
    job_fail(j, CRATON_E_LIBRARY, "EVP_PKEY_verify_init");
    goto done;
  }
  if (!sig_configure(j, ctx, tbslen)) {
    /* Data that cannot have been signed (too long) simply does not verify. */
    if (j->err_code != NULL && strcmp(j->err_code, CRATON_E_ARGUMENT) == 0 &&
        j->scheme == SCHEME_RSA_PKCS1)
      j->err_code = NULL;
    goto done;
  }
  j->verified = EVP_PKEY_verify(ctx, sig, siglen, tbs, tbslen) == 1;
done:
  ERR_clear_error();
  OPENSSL_free(der);
  if (ctx != j->reuse_ctx) EVP_PKEY_CTX_free(ctx);
}

static void exec_recover(asym_job *j) {
  j->out_null = true;
  if (j->sig.len != j->kbytes) return;
  if (j->scheme == SCHEME_RSA_X509) {
    uint8_t *rec = rsa_public_raw(j, j->sig.p, j->sig.len);
    if (rec == NULL) return;
    j->out = rec;
    j->out_len = j->kbytes;
    j->out_null = false;
    return;
  }
  EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(j->pkey, NULL);
  size_t outlen = j->kbytes;
  if (!job_alloc_out(j, j->kbytes)) goto done;
  if (ctx != NULL && EVP_PKEY_verify_recover_init(ctx) > 0 &&
      EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) > 0 &&
      EVP_PKEY_verify_recover(ctx, j->out, &outlen, j->sig.p, j->sig.len) > 0) {
    j->out_len = outlen;
    j->out_null = false;
  }
done:
  ERR_clear_error();
  EVP_PKEY_CTX_free(ctx);
}

/* ---- RSA encryption ------------------------------------------------------ */

static bool enc_configure(asym_job *j, EVP_PKEY_CTX *ctx) {
  int pad = j->padding == PAD_PKCS1  ? RSA_PKCS1_PADDING
            : j->padding == PAD_OAEP ? RSA_PKCS1_OAEP_PADDING
                                     : RSA_NO_PADDING;
  if (EVP_PKEY_CTX_set_rsa_padding(ctx, pad) <= 0) return false;
  if (j->padding != PAD_OAEP) return true;
  if (EVP_PKEY_CTX_set_rsa_oaep_md(ctx, j->md) <= 0 ||
      EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, j->mgf1) <= 0)
    return false;
  if (j->extra.present && j->extra.len > 0) {
    uint8_t *label = (uint8_t *)OPENSSL_malloc(j->extra.len);
    if (label == NULL) return false;
    memcpy(label, j->extra.p, j->extra.len);
    /* takes ownership of label */
    if (EVP_PKEY_CTX_set0_rsa_oaep_label(ctx, label, (int)j->extra.len) <= 0) {
      OPENSSL_free(label);
      return false;
    }
  }
  return true;
}

static void exec_encrypt(asym_job *j) {
  size_t k = j->kbytes, max;
  const uint8_t *in = j->data.p;
  size_t inlen = j->data.len;
  uint8_t *block = NULL;
  EVP_PKEY_CTX *ctx = NULL;
  size_t outlen = k;

  if (j->padding == PAD_PKCS1) {
    max = k >= 11 ? k - 11 : 0;
  } else if (j->padding == PAD_OAEP) {
    size_t h = (size_t)EVP_MD_get_size(j->md);
    max = k >= 2 * h + 2 ? k - 2 * h - 2 : 0;
  } else {
    max = k;
  }
  if (inlen > max) {
    job_fail_msg(j, CRATON_E_ARGUMENT, "data too long for the key and padding");
    return;
  }
  if (j->padding == PAD_NONE) {
    block = rsa_raw_block(j, in, inlen);
    if (block == NULL) return;
    in = block;
    inlen = k;
  }
  ctx = EVP_PKEY_CTX_new(j->pkey, NULL);
  if (ctx == NULL || EVP_PKEY_encrypt_init(ctx) <= 0 || !enc_configure(j, ctx)) {
    job_fail(j, CRATON_E_LIBRARY, "RSA encryption setup");
    goto done;
  }
  if (!job_alloc_out(j, k)) goto done;
  if (EVP_PKEY_encrypt(ctx, j->out, &outlen, in, inlen) <= 0) {
    job_fail(j, CRATON_E_LIBRARY, "EVP_PKEY_encrypt");
    goto done;
  }
  j->out_len = outlen;
done:
  if (block != NULL) {
    craton_wipe(block, k);
    free(block);
  }
  EVP_PKEY_CTX_free(ctx);
}

static void exec_decrypt(asym_job *j) {
  size_t k = j->kbytes;
  const uint8_t *in = j->data.p;
  size_t inlen = j->data.len;
  uint8_t *block = NULL;
  EVP_PKEY_CTX *ctx = NULL;
  size_t outlen = k;

  if (j->padding == PAD_NONE) {
    block = rsa_raw_block(j, in, inlen);
    if (block == NULL) return;
    in = block;
    inlen = k;
  } else if (inlen != k) {
    job_fail_msg(j, CRATON_E_ARGUMENT, "ciphertext length is not the modulus length");
    return;
  }
  ctx = EVP_PKEY_CTX_new(j->pkey, NULL);
  if (ctx == NULL || EVP_PKEY_decrypt_init(ctx) <= 0 || !enc_configure(j, ctx)) {
    job_fail(j, CRATON_E_LIBRARY, "RSA decryption setup");
    goto done;
  }
  if (!job_alloc_out(j, k)) goto done;
  if (EVP_PKEY_decrypt(ctx, j->out, &outlen, in, inlen) <= 0) {
    if (j->padding == PAD_NONE) {
      job_fail(j, CRATON_E_LIBRARY, "EVP_PKEY_decrypt");
    } else {
      /* One message for every padding failure (no oracle in the text). */
      job_fail_msg(j, CRATON_E_AUTH, "decryption failed");
    }
    goto done;
  }
  if (outlen < j->out_len) craton_wipe(j->out + outlen, j->out_len - outlen);
  j->out_len = outlen;
done:
  if (block != NULL) {
    craton_wipe(block, k);
    free(block);
  }
  EVP_PKEY_CTX_free(ctx);
}

/* ---- key agreement ------------------------------------------------------- */

static void exec_derive(asym_job *j) {
  EVP_PKEY *peer = NULL;
  EVP_PKEY_CTX *ctx = NULL;
  size_t outlen = 0;
  if (j->ktype == KT_EC) {
    peer = ec_build(j, j->curve, &j->data, NULL);
    if (peer == NULL) return;
  } else {
    if (j->data.len != j->curve->bytes) {
      job_fail_msg(j, CRATON_E_ARGUMENT, "peer public key has the wrong length");
      return;
    }
    peer = EVP_PKEY_new_raw_public_key(j->curve->nid, NULL, j->data.p,
                                       j->data.len);
    if (peer == NULL) {
      job_fail(j, CRATON_E_ARGUMENT, "invalid peer public key");
      return;
    }
  }
  ctx = EVP_PKEY_CTX_new(j->pkey, NULL);
  if (ctx == NULL || EVP_PKEY_derive_init(ctx) <= 0) {
    job_fail(j, CRATON_E_LIBRARY, "EVP_PKEY_derive_init");
    goto done;
  }
  if (EVP_PKEY_derive_set_peer(ctx, peer) <= 0) {
    job_fail(j, CRATON_E_ARGUMENT, "peer public key rejected");
    goto done;
  }
  if (EVP_PKEY_derive(ctx, NULL, &outlen) <= 0 || !job_alloc_out(j, outlen)) {
    if (j->err_code == NULL) job_fail(j, CRATON_E_LIBRARY, "EVP_PKEY_derive");
    goto done;
  }
  if (EVP_PKEY_derive(ctx, j->out, &outlen) <= 0) {
    /* X25519 / X448: an all-zero secret (low-order peer point). */
    job_fail(j, j->ktype == KT_XDH ? CRATON_E_ARGUMENT : CRATON_E_LIBRARY,
             "key agreement failed");
    goto done;
  }
  j->out_len = outlen;
done:
  EVP_PKEY_CTX_free(ctx);
  EVP_PKEY_free(peer);
}

/* ---- job plumbing --------------------------------------------------------- */

static void job_execute(napi_env env, void *data) {
  (void)env; /* no JS here */
  asym_job *j = (asym_job *)data;
  int now = atomic_fetch_add(&g_running, 1) + 1;
  int prev = atomic_load(&g_max_running);
  while (now > prev &&
         !atomic_compare_exchange_weak(&g_max_running, &prev, now)) {
  }
  ERR_clear_error();
  switch (j->op) {
    case OP_GENERATE: exec_generate(j); break;
    case OP_IMPORT: exec_import(j); break;
    case OP_SIGN: exec_sign(j); break;
    case OP_VERIFY: exec_verify(j); break;
    case OP_RECOVER: exec_recover(j); break;
    case OP_ENCRYPT: exec_encrypt(j); break;
    case OP_DECRYPT: exec_decrypt(j); break;
    case OP_DERIVE: exec_derive(j); break;
  }
  ERR_clear_error();
  atomic_fetch_sub(&g_running, 1);
}

static void job_complete(napi_env env, napi_status status, void *data) {
  asym_job *j = (asym_job *)data;
  napi_value result = NULL;
  bool resolve = false;

  if (status == napi_cancelled) {
    result = craton_make_error(env, CRATON_E_STATE, "operation cancelled");
  } else if (status != napi_ok) {
    result = craton_make_error(env, CRATON_E_LIBRARY, "async work failed");
  } else if (j->err_code != NULL) {
    result = craton_make_error(env, j->err_code, j->err);
  } else {
    switch (j->op) {
      case OP_GENERATE:
      case OP_IMPORT: {
        EVP_PKEY *pk = j->out_key;
        j->out_key = NULL; /* pkey_wrap owns it now */
        result = pkey_wrap(env, pk, j->ktype, j->curve, j->out_priv);
        break;
      }
      case OP_VERIFY:
        if (napi_get_boolean(env, j->verified, &result) != napi_ok)
          result = NULL;
        break;
      case OP_RECOVER:
        if (j->out_null) {
          if (napi_get_null(env, &result) != napi_ok) result = NULL;
          break;
        }
        /* fall through */
      default:
        result = craton_uint8array_from(env, j->out, j->out_len);
        break;
    }
    if (result != NULL) {
      resolve = true;
    } else {
      napi_value ignored;
      bool pending = false;
      if (napi_is_exception_pending(env, &pending) == napi_ok && pending)
        napi_get_and_clear_last_exception(env, &ignored);
      result = craton_make_error(env, CRATON_E_LIBRARY,
                                 "cannot build the result");
    }
  }
  if (result == NULL) {
    result = craton_undefined(env);
    resolve = false;
  }
  if (result != NULL) {
    if (resolve)
      napi_resolve_deferred(env, j->deferred, result);
    else
      napi_reject_deferred(env, j->deferred, result);
  }
  if (j->work != NULL) napi_delete_async_work(env, j->work);
  job_free(j);
}

/* Largest RSA modulus whose public operation runs inline (~0.1 ms at 4096). */
#define INLINE_RSA_PUBLIC_BITS 4096
/* Largest message an inline signature or verification hashes. */
#define INLINE_MAX_DATA (64 * 1024)

/*
 * Whether a job is cheap enough to run on the calling (JS) thread: a hand-off
 * to the libuv pool and back costs about as much as an ECDSA signature, so
 * only RSA private operations, key generation, key import with its checks,
 * and large inputs go to the pool, where two callers get two cores.
 */
static bool job_runs_inline(const asym_job *j) {
  if (j->data.len > INLINE_MAX_DATA) return false;
  switch (j->op) {
    case OP_SIGN:
      return j->ktype != KT_RSA;
    case OP_VERIFY:
    case OP_RECOVER:
    case OP_ENCRYPT:
      return j->ktype != KT_RSA || j->kbits <= INLINE_RSA_PUBLIC_BITS;
    case OP_DERIVE:
      return true;
    default:
      return false;
  }
}

/* The key's cached ECDSA context for an inline sign or verify, made and
 * initialised on first use; NULL (a fresh context per job) otherwise. */
static EVP_PKEY_CTX *inline_ecdsa_ctx(asym_job *j) {
  if (j->owner == NULL || j->scheme != SCHEME_ECDSA || (j->op != OP_SIGN && j->op != OP_VERIFY)) return NULL;
  EVP_PKEY_CTX **slot = j->op == OP_SIGN ? &j->owner->ecdsa_sign_ctx : &j->owner->ecdsa_verify_ctx;
  if (*slot == NULL) {
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(j->pkey, NULL);
    int ok = ctx != NULL && (j->op == OP_SIGN ? EVP_PKEY_sign_init(ctx) : EVP_PKEY_verify_init(ctx)) > 0;
    if (ok) *slot = ctx;
    else EVP_PKEY_CTX_free(ctx);
    ERR_clear_error();
  }
  return *slot;
}

/* Queue the job; returns its promise (the job is owned by the work now, or
 * freed here on failure with NULL returned and an exception pending). */
static napi_value job_queue(napi_env env, asym_job *j, const char *name) {
  napi_value promise, jname;
  if (napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &jname) != napi_ok ||
      napi_create_promise(env, &j->deferred, &promise) != napi_ok) {
    job_free(j);
    craton_throw(env, CRATON_E_LIBRARY, "cannot create promise");
    return NULL;
  }
  if (job_runs_inline(j)) {
    /* The same steps the pool would take, settled before returning. */
    j->reuse_ctx = inline_ecdsa_ctx(j);
    job_execute(env, j);
    job_complete(env, napi_ok, j);
    return promise;
  }
  if (napi_create_async_work(env, NULL, jname, job_execute, job_complete, j,
                             &j->work) != napi_ok) {
    napi_value err = craton_make_error(env, CRATON_E_LIBRARY,
                                       "cannot create async work");
    napi_reject_deferred(env, j->deferred, err ? err : craton_undefined(env));
    job_free(j);
    return promise;
  }
  if (napi_queue_async_work(env, j->work) != napi_ok) {
    napi_value err = craton_make_error(env, CRATON_E_LIBRARY,
                                       "cannot queue async work");
    napi_reject_deferred(env, j->deferred, err ? err : craton_undefined(env));
    napi_delete_async_work(env, j->work);
    job_free(j);
    return promise;
  }
  return promise;
}

/* Curve by name, of the given key type; throws ALGORITHM_UNSUPPORTED. */
static const curve_info *prop_curve(napi_env env, napi_value obj,
                                    key_type type) {
  char s[32];
  bool present;
  if (!prop_string(env, obj, "curve", s, sizeof s, &present)) {
    bool pending = false;
    napi_value ignored;
    if (napi_is_exception_pending(env, &pending) == napi_ok && pending) {
      napi_get_and_clear_last_exception(env, &ignored);
    }
    craton_throw(env, CRATON_E_ALGORITHM, "unsupported curve");
    return NULL;
  }
  if (!present) {
    craton_throw(env, CRATON_E_ARGUMENT, "curve is required");
    return NULL;
  }
  for (size_t i = 0; i < N_CURVES; i++) {
    if (CURVES[i].type == type && strcmp(CURVES[i].name, s) == 0)
      return &CURVES[i];
  }
  craton_throw(env, CRATON_E_ALGORITHM, "unsupported curve '%s' for %s keys",
               s, key_type_name(type));
  return NULL;
}

static bool prop_key_type(napi_env env, napi_value obj, key_type *t) {
  char s[16];
  bool present;
  if (!is_object(env, obj)) {
    craton_throw(env, CRATON_E_ARGUMENT, "parameters must be an object");
    return false;
  }
  if (!prop_string(env, obj, "type", s, sizeof s, &present)) return false;
  if (!present || !parse_key_type(s, t)) {
    craton_throw(env, CRATON_E_ALGORITHM, "unsupported key type");
    return false;
  }
  return true;
}

/* ---- JS entry points ------------------------------------------------------ */

/* asymGenerateKey({type, bits?, publicExponent?, curve?}) -> Promise<handle> */
static napi_value js_generate(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  key_type type;
  if (!craton_get_args(env, info, 1, argv)) return NULL;
  if (!prop_key_type(env, argv[0], &type)) return NULL;
  asym_job *j = job_new(env, OP_GENERATE);
  if (j == NULL) return NULL;
  j->ktype = type;
  if (type == KT_RSA) {
    int64_t bits;
    bool present;
    if (!prop_integer(env, argv[0], "bits", RSA_MIN_GEN_BITS, RSA_MAX_BITS,
                      &bits, &present) ||
        !prop_bytes(env, argv[0], "publicExponent", &j->comp[RSA_E]))
      goto fail;
    if (!present || !j->comp[RSA_E].present) {
      craton_throw(env, CRATON_E_ARGUMENT,
                   "RSA generation needs bits and publicExponent");
      goto fail;
    }
    const jbuf *e = &j->comp[RSA_E];
    size_t off = 0;
    while (off < e->len && e->p[off] == 0) off++;
    if (e->len - off > RSA_MAX_PUBEXP_BYTES || e->len == off ||
        (e->p[e->len - 1] & 1) == 0 || (e->len - off == 1 && e->p[off] < 3)) {
      craton_throw(env, CRATON_E_ARGUMENT,
                   "publicExponent must be odd, >= 3 and at most 64 bits");
      goto fail;
    }
#if defined(CRATON_CRYPTO_LIB_AWSLC)
    /* AWS-LC rounds the size down to a multiple of 128 bits (silently) and
     * generates with exponents of at most 32 bits: refuse what it would not
     * give as asked. */
    if (bits % 128 != 0) {
      craton_throw(env, CRATON_E_ARGUMENT,
                   "AWS-LC generates RSA moduli of a multiple of 128 bits "
                   "only, not %lld",
                   (long long)bits);
      goto fail;
    }
    if (e->len - off > 4) {
      craton_throw(env, CRATON_E_ARGUMENT,
                   "AWS-LC generates RSA keys with a publicExponent of at "
                   "most 32 bits");
      goto fail;
    }
#endif
    j->gen_bits = (int)bits;
  } else {
    j->curve = prop_curve(env, argv[0], type);
    if (j->curve == NULL) goto fail;
  }
  return job_queue(env, j, "craton:asymGenerateKey");
fail:
  job_free(j);
  return NULL;
}

/* asymImportKey(components) -> Promise<handle> */
static napi_value js_import(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  key_type type;
  if (!craton_get_args(env, info, 1, argv)) return NULL;
  if (!prop_key_type(env, argv[0], &type)) return NULL;
  asym_job *j = job_new(env, OP_IMPORT);
  if (j == NULL) return NULL;
  j->ktype = type;
  if (type == KT_RSA) {
    for (int i = 0; i < RSA_NCOMP; i++) {
      if (!prop_bytes(env, argv[0], RSA_FIELDS[i], &j->comp[i])) goto fail;
      if (j->comp[i].present && j->comp[i].len > RSA_MAX_BITS / 8 + 1) {
        craton_throw(env, CRATON_E_ARGUMENT, "%s is too long", RSA_FIELDS[i]);
        goto fail;
      }
    }
    if (!j->comp[RSA_N].present || !j->comp[RSA_E].present) {
      craton_throw(env, CRATON_E_ARGUMENT,
                   "RSA keys need modulus and publicExponent");
      goto fail;
    }
  } else {
    j->curve = prop_curve(env, argv[0], type);
    if (j->curve == NULL) goto fail;
    const char *pubname = type == KT_EC ? "point" : "publicKey";
    const char *privname = type == KT_EC ? "privateValue" : "privateKey";
    if (!prop_bytes(env, argv[0], pubname, &j->comp[0]) ||
        !prop_bytes(env, argv[0], privname, &j->comp[1]))
      goto fail;
    if (!j->comp[0].present && !j->comp[1].present) {
      craton_throw(env, CRATON_E_ARGUMENT, "needs %s or %s", pubname,
                   privname);
      goto fail;
    }
  }
  return job_queue(env, j, "craton:asymImportKey");
fail:
  job_free(j);
  return NULL;
}

/* Parse signature params for key k into j (JS thread). */
static bool parse_sig_params(napi_env env, napi_value obj,
                             const craton_pkey *k, asym_job *j,
                             bool recover) {
  char s[16];
  bool present;
  if (!is_object(env, obj)) {
    craton_throw(env, CRATON_E_ARGUMENT, "parameters must be an object");
    return false;
  }
  if (!prop_string(env, obj, "scheme", s, sizeof s, &present)) return false;
  if (!present) {
    craton_throw(env, CRATON_E_ARGUMENT, "scheme is required");
    return false;
  }
  key_type need;
  if (strcmp(s, "rsa-pkcs1") == 0) {
    j->scheme = SCHEME_RSA_PKCS1;
    need = KT_RSA;
  } else if (strcmp(s, "rsa-pss") == 0) {
    j->scheme = SCHEME_RSA_PSS;
    need = KT_RSA;
  } else if (strcmp(s, "rsa-x509") == 0) {
    j->scheme = SCHEME_RSA_X509;
    need = KT_RSA;
  } else if (strcmp(s, "ecdsa") == 0) {
    j->scheme = SCHEME_ECDSA;
    need = KT_EC;
  } else if (strcmp(s, "eddsa") == 0) {
    j->scheme = SCHEME_EDDSA;
    need = KT_EDDSA;
  } else {
    craton_throw(env, CRATON_E_ALGORITHM, "unsupported signature scheme");
    return false;
  }
  if (k->type != need) {
    craton_throw(env, CRATON_E_ARGUMENT, "%s needs a%s %s key, not %s", s,
                 need == KT_RSA || need == KT_EC || need == KT_EDDSA ? "n" : "",
                 key_type_name(need), key_type_name(k->type));
    return false;
  }
  if (recover && j->scheme != SCHEME_RSA_PKCS1 && j->scheme != SCHEME_RSA_X509) {
    craton_throw(env, CRATON_E_ARGUMENT,
                 "verifyRecover is only for rsa-pkcs1 and rsa-x509");
    return false;
  }
  switch (j->scheme) {
    case SCHEME_RSA_PKCS1:
    case SCHEME_ECDSA:
      if (!recover && (!prop_md(env, obj, "digest", false, &j->md) ||
                       !prop_bool(env, obj, "prehashed", &j->prehashed)))
        return false;
      break;
    case SCHEME_RSA_PSS: {
      int64_t salt;
      if (!prop_md(env, obj, "digest", true, &j->md) ||
          !prop_md(env, obj, "mgf1Digest", true, &j->mgf1) ||
          !prop_bool(env, obj, "prehashed", &j->prehashed) ||
          !prop_integer(env, obj, "saltLength", 0, RSA_MAX_BITS / 8, &salt,
                        &present))
        return false;
      if (!present) {
        craton_throw(env, CRATON_E_ARGUMENT, "saltLength is required");
        return false;
      }
      j->salt = (int)salt;
      break;
    }
    case SCHEME_EDDSA:
      if (!prop_bool(env, obj, "prehash", &j->eddsa_ph) ||
          !prop_bytes(env, obj, "context", &j->extra))
        return false;
      if (j->extra.len > EDDSA_MAX_CONTEXT) {
        craton_throw(env, CRATON_E_ARGUMENT, "EdDSA context longer than 255 bytes");
        return false;
      }
      break;
    default:
      break;
  }
  return true;
}

/* asymSign(h, params, data) -> Promise<Uint8Array> */
static napi_value js_sign(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!craton_get_args(env, info, 3, argv)) return NULL;
  craton_pkey *k = pkey_unwrap(env, argv[0]);
  if (k == NULL) return NULL;
  if (!k->priv) {
    craton_throw(env, CRATON_E_ARGUMENT, "signing needs a private key");
    return NULL;
  }
  asym_job *j = job_new(env, OP_SIGN);
  if (j == NULL) return NULL;
  if (!parse_sig_params(env, argv[1], k, j, false) ||
      !arg_bytes(env, argv[2], "data", &j->data) || !job_set_key(env, j, k)) {
    job_free(j);
    return NULL;
  }
  return job_queue(env, j, "craton:asymSign");
}

/* asymVerify(h, params, data, signature) -> Promise<boolean> */
static napi_value js_verify(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  if (!craton_get_args(env, info, 4, argv)) return NULL;
  craton_pkey *k = pkey_unwrap(env, argv[0]);
  if (k == NULL) return NULL;
  asym_job *j = job_new(env, OP_VERIFY);
  if (j == NULL) return NULL;
  if (!parse_sig_params(env, argv[1], k, j, false) ||
      !arg_bytes(env, argv[2], "data", &j->data) ||
      !arg_bytes(env, argv[3], "signature", &j->sig) ||
      !job_set_key(env, j, k)) {
    job_free(j);
    return NULL;
  }
  return job_queue(env, j, "craton:asymVerify");
}

/* asymVerifyRecover(h, params, signature) -> Promise<Uint8Array | null> */
static napi_value js_recover(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!craton_get_args(env, info, 3, argv)) return NULL;
  craton_pkey *k = pkey_unwrap(env, argv[0]);
  if (k == NULL) return NULL;
  asym_job *j = job_new(env, OP_RECOVER);
  if (j == NULL) return NULL;
  if (!parse_sig_params(env, argv[1], k, j, true) ||
      !arg_bytes(env, argv[2], "signature", &j->sig) ||
      !job_set_key(env, j, k)) {
    job_free(j);
    return NULL;
  }
  return job_queue(env, j, "craton:asymVerifyRecover");
}

static napi_value rsa_crypt(napi_env env, napi_callback_info info,
                            bool decrypt) {
  napi_value argv[3];
  char s[16];
  bool present;
  if (!craton_get_args(env, info, 3, argv)) return NULL;
  craton_pkey *k = pkey_unwrap(env, argv[0]);
  if (k == NULL) return NULL;
  if (k->type != KT_RSA) {
    craton_throw(env, CRATON_E_ARGUMENT, "RSA encryption needs an rsa key, not %s",
                 key_type_name(k->type));
    return NULL;
  }
  if (decrypt && !k->priv) {
    craton_throw(env, CRATON_E_ARGUMENT, "decryption needs a private key");
    return NULL;
  }
  if (!is_object(env, argv[1])) {
    craton_throw(env, CRATON_E_ARGUMENT, "parameters must be an object");
    return NULL;
  }
  asym_job *j = job_new(env, decrypt ? OP_DECRYPT : OP_ENCRYPT);
  if (j == NULL) return NULL;
  if (!prop_string(env, argv[1], "padding", s, sizeof s, &present)) goto fail;
  if (present && strcmp(s, "pkcs1") == 0) {
    j->padding = PAD_PKCS1;
  } else if (present && strcmp(s, "oaep") == 0) {
    j->padding = PAD_OAEP;
    if (!prop_md(env, argv[1], "digest", true, &j->md) ||
        !prop_md(env, argv[1], "mgf1Digest", true, &j->mgf1) ||
        !prop_bytes(env, argv[1], "label", &j->extra))
      goto fail;
    if (j->extra.len > INT_MAX) {
      craton_throw(env, CRATON_E_ARGUMENT, "label too long");
      goto fail;
    }
  } else if (present && strcmp(s, "none") == 0) {
    j->padding = PAD_NONE;
  } else {
    craton_throw(env, CRATON_E_ALGORITHM, "unsupported RSA padding");
    goto fail;
  }
  if (!arg_bytes(env, argv[2], "data", &j->data) || !job_set_key(env, j, k))
    goto fail;
  return job_queue(env, j, decrypt ? "craton:asymDecrypt" : "craton:asymEncrypt");
fail:
  job_free(j);
  return NULL;
}

static napi_value js_encrypt(napi_env env, napi_callback_info info) {
  return rsa_crypt(env, info, false);
}

static napi_value js_decrypt(napi_env env, napi_callback_info info) {
  return rsa_crypt(env, info, true);
}

/* asymDerive(h, peerPublic) -> Promise<Uint8Array> */
static napi_value js_derive(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!craton_get_args(env, info, 2, argv)) return NULL;
  craton_pkey *k = pkey_unwrap(env, argv[0]);
  if (k == NULL) return NULL;
  if (k->type != KT_EC && k->type != KT_XDH) {
    craton_throw(env, CRATON_E_ARGUMENT,
                 "key agreement needs an ec or xdh key, not %s",
                 key_type_name(k->type));
    return NULL;
  }
  if (!k->priv) {
    craton_throw(env, CRATON_E_ARGUMENT, "key agreement needs a private key");
    return NULL;
  }
  asym_job *j = job_new(env, OP_DERIVE);
  if (j == NULL) return NULL;
  if (!arg_bytes(env, argv[1], "peerPublic", &j->data) ||
      !job_set_key(env, j, k)) {
    job_free(j);
    return NULL;
  }
  return job_queue(env, j, "craton:asymDerive");
}

/* ---- synchronous: info, export, free ------------------------------------ */

static bool set_named(napi_env env, napi_value obj, const char *key,
                      napi_value v) {
  return v != NULL && napi_set_named_property(env, obj, key, v) == napi_ok;
}

static napi_value str_value(napi_env env, const char *s) {
  napi_value v;
  return napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &v) == napi_ok ? v
                                                                          : NULL;
}

/* asymKeyInfo(h) -> {type, curve, bits, byteLength, hasPrivate} */
static napi_value js_key_info(napi_env env, napi_callback_info info) {
  napi_value argv[1], obj, v;
  if (!craton_get_args(env, info, 1, argv)) return NULL;
  craton_pkey *k = pkey_unwrap(env, argv[0]);
  if (k == NULL) return NULL;
  if (napi_create_object(env, &obj) != napi_ok) goto fail;
  if (!set_named(env, obj, "type", str_value(env, key_type_name(k->type))))
    goto fail;
  if (k->curve != NULL) {
    v = str_value(env, k->curve->name);
  } else if (napi_get_null(env, &v) != napi_ok) {
    v = NULL;
  }
  if (!set_named(env, obj, "curve", v)) goto fail;
  if (napi_create_int32(env, k->bits, &v) != napi_ok ||
      !set_named(env, obj, "bits", v))
    goto fail;
  if (napi_create_int64(env, (int64_t)k->bytes, &v) != napi_ok ||
      !set_named(env, obj, "byteLength", v))
    goto fail;
  if (napi_get_boolean(env, k->priv, &v) != napi_ok ||
      !set_named(env, obj, "hasPrivate", v))
    goto fail;
  return obj;
fail:
  craton_throw(env, CRATON_E_LIBRARY, "cannot build key info");
  return NULL;
}

/* asymKeyFree(h): idempotent. */
static napi_value js_key_free(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!craton_get_args(env, info, 1, argv)) return NULL;
  craton_pkey *k = pkey_unwrap_any(env, argv[0]);
  if (k == NULL) return NULL;
  pkey_release(k);
  return craton_undefined(env);
}

/* An EC key's public point, uncompressed (0x04 || X || Y); 0 on failure. The
 * point is read as stored and rebuilt through the group only when the key
 * holds it compressed: making a group costs OpenSSL 3 tens of microseconds. */
static size_t ec_uncompressed_point(const craton_pkey *k, uint8_t *out, size_t cap) {
#if defined(CRATON_CRYPTO_LIB_AWSLC)
  const EC_KEY *eck = EVP_PKEY_get0_EC_KEY(k->pkey);
  const EC_POINT *kp = eck != NULL ? EC_KEY_get0_public_key(eck) : NULL;
  if (kp == NULL) return 0;
  return EC_POINT_point2oct(EC_KEY_get0_group(eck), kp, POINT_CONVERSION_UNCOMPRESSED, out, cap, NULL);
#else
  uint8_t enc[1 + 2 * 66];
  size_t enclen = 0, outlen = 0;
  if (EVP_PKEY_get_octet_string_param(k->pkey, OSSL_PKEY_PARAM_PUB_KEY, enc, sizeof enc, &enclen) != 1) return 0;
  if (enclen == 1 + 2 * k->curve->bytes && enc[0] == 0x04 && enclen <= cap) {
    memcpy(out, enc, enclen);
    return enclen;
  }
  EC_GROUP *group = EC_GROUP_new_by_curve_name(k->curve->nid);
  EC_POINT *pt = group ? EC_POINT_new(group) : NULL;
  if (pt != NULL && EC_POINT_oct2point(group, pt, enc, enclen, NULL) == 1)
    outlen = EC_POINT_point2oct(group, pt, POINT_CONVERSION_UNCOMPRESSED, out, cap, NULL);
  EC_POINT_free(pt);
  EC_GROUP_free(group);
  return outlen;
#endif
}

/* The public key bytes an SPKI of this curve ends with: the uncompressed EC
 * point, or the raw Edwards / Montgomery key. */
static size_t curve_public_bytes(const craton_pkey *k, uint8_t *out, size_t cap) {
  if (k->type == KT_EC) return ec_uncompressed_point(k, out, cap);
  size_t len = cap;
  return EVP_PKEY_get_raw_public_key(k->pkey, out, &len) == 1 ? len : 0;
}

/* Per curve, the SPKI bytes before the public key: the same for every key of
 * the curve, learnt from the library's own encoding of the first key seen
 * (OpenSSL 3's encoder costs ~100 us a call). */
static struct {
  uint8_t bytes[32];
  size_t len;
  bool known;
} g_spki_prefix[N_CURVES];
static pthread_mutex_t g_spki_lock = PTHREAD_MUTEX_INITIALIZER;

/* asymPublicKeyInfo(h) -> SPKI DER */
static napi_value js_spki(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!craton_get_args(env, info, 1, argv)) return NULL;
  craton_pkey *k = pkey_unwrap(env, argv[0]);
  if (k == NULL) return NULL;
  uint8_t pub[1 + 2 * 66], spki[32 + sizeof pub];
  size_t publen = k->curve != NULL ? curve_public_bytes(k, pub, sizeof pub) : 0;
  size_t idx = k->curve != NULL ? (size_t)(k->curve - CURVES) : 0;
  if (publen != 0) {
    pthread_mutex_lock(&g_spki_lock);
    bool known = g_spki_prefix[idx].known;
    size_t plen = g_spki_prefix[idx].len;
    if (known) memcpy(spki, g_spki_prefix[idx].bytes, plen);
    pthread_mutex_unlock(&g_spki_lock);
    if (known) {
      memcpy(spki + plen, pub, publen);
      return craton_uint8array_from(env, spki, plen + publen);
    }
  }
  unsigned char *der = NULL;
  int len = i2d_PUBKEY(k->pkey, &der);
  if (len <= 0) {
    craton_throw_openssl(env, CRATON_E_LIBRARY, "i2d_PUBKEY");
    return NULL;
  }
  size_t plen = (size_t)len - publen;
  if (publen != 0 && (size_t)len > publen && plen <= sizeof g_spki_prefix[idx].bytes &&
      memcmp(der + plen, pub, publen) == 0) {
    pthread_mutex_lock(&g_spki_lock);
    memcpy(g_spki_prefix[idx].bytes, der, plen);
    g_spki_prefix[idx].len = plen;
    g_spki_prefix[idx].known = true;
    pthread_mutex_unlock(&g_spki_lock);
  }
  napi_value out = craton_uint8array_from(env, der, (size_t)len);
  OPENSSL_free(der);
  return out;
}

/* asymPrivateKeyInfo(h) -> PKCS#8 DER */
static napi_value js_pkcs8(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!craton_get_args(env, info, 1, argv)) return NULL;
  craton_pkey *k = pkey_unwrap(env, argv[0]);
  if (k == NULL) return NULL;
  if (!k->priv) {
    craton_throw(env, CRATON_E_ARGUMENT, "not a private key");
    return NULL;
  }
  PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(k->pkey);
  unsigned char *der = NULL;
  int len = p8 != NULL ? i2d_PKCS8_PRIV_KEY_INFO(p8, &der) : 0;
  PKCS8_PRIV_KEY_INFO_free(p8);
  if (len <= 0) {
    craton_throw_openssl(env, CRATON_E_LIBRARY, "PKCS#8 encoding");
    return NULL;
  }
  napi_value out = craton_uint8array_from(env, der, (size_t)len);
  OPENSSL_clear_free(der, (size_t)len);
  return out;
}

/* The curve of an EC key, as a NID (NID_undef if unknown). */
static int ec_curve_nid(EVP_PKEY *pk) {
#if defined(CRATON_CRYPTO_LIB_AWSLC)
  const EC_KEY *ec = EVP_PKEY_get0_EC_KEY(pk);
  return ec != NULL ? EC_GROUP_get_curve_name(EC_KEY_get0_group(ec)) : NID_undef;
#else
  char name[80];
  size_t len = 0;
  if (EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME, name, sizeof name, &len) != 1) return NID_undef;
  return OBJ_sn2nid(name);
#endif
}

/* asymParsePrivateKeyInfo(der) -> handle of the private key a PKCS#8
 * PrivateKeyInfo holds, unchecked: callers re-import its components. */
static napi_value js_parse_pkcs8(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  const uint8_t *der;
  size_t len;
  if (!craton_get_args(env, info, 1, argv)) return NULL;
  if (!craton_get_bytes(env, argv[0], "der", &der, &len)) return NULL;
  if (len > ASYM_MAX_INPUT) {
    craton_throw(env, CRATON_E_ARGUMENT, "der is too long");
    return NULL;
  }
  const unsigned char *p = der;
  EVP_PKEY *pk = d2i_AutoPrivateKey(NULL, &p, (long)len);
  ERR_clear_error();
  if (pk == NULL || p != der + len) {
    EVP_PKEY_free(pk);
    craton_throw(env, CRATON_E_ARGUMENT, "not a PKCS#8 private key of a supported type");
    return NULL;
  }
  int id = EVP_PKEY_id(pk);
  if (id == EVP_PKEY_RSA) return pkey_wrap(env, pk, KT_RSA, NULL, true);
  int nid = id == EVP_PKEY_EC ? ec_curve_nid(pk) : id;
  for (size_t i = 0; i < N_CURVES; i++) {
    if (CURVES[i].nid == nid && (CURVES[i].type == KT_EC) == (id == EVP_PKEY_EC))
      return pkey_wrap(env, pk, CURVES[i].type, &CURVES[i], true);
  }
  EVP_PKEY_free(pk);
  craton_throw(env, CRATON_E_ALGORITHM, "unsupported key type or curve in PKCS#8");
  return NULL;
}

/* asymPublicKey(h) -> a handle for the public half. It shares the native key
 * (one more reference) but is marked public, and every private use of a
 * public handle is refused above (sign, decrypt, derive, private export). A
 * DER round trip would cost OpenSSL 3 a decoder run, hundreds of microseconds. */
static napi_value js_public_only(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!craton_get_args(env, info, 1, argv)) return NULL;
  craton_pkey *k = pkey_unwrap(env, argv[0]);
  if (k == NULL) return NULL;
  if (EVP_PKEY_up_ref(k->pkey) != 1) {
    craton_throw_openssl(env, CRATON_E_LIBRARY, "EVP_PKEY_up_ref");
    return NULL;
  }
  return pkey_wrap(env, k->pkey, k->type, k->curve, false);
}

/* BIGNUM param as minimal big-endian bytes (at least 1) or padded to `pad`. */
static napi_value bn_param_value(napi_env env, EVP_PKEY *pk, const char *param,
                                 size_t pad) {
  BIGNUM *b = NULL;
  /* AWS-LC: RSA_get0_* / EC_KEY_get0_private_key via awslc_get_bn_param(). */
  if (EVP_PKEY_get_bn_param(pk, param, &b) != 1 || b == NULL) {
    craton_throw_openssl(env, CRATON_E_LIBRARY, param);
    return NULL;
  }
  size_t n = pad ? pad : (size_t)BN_num_bytes(b);
  if (n == 0) n = 1;
  uint8_t *dst = NULL;
  napi_value out = craton_new_uint8array(env, n, &dst);
  if (out != NULL && BN_bn2binpad(b, dst, (int)n) != (int)n) {
    craton_throw(env, CRATON_E_LIBRARY, "%s does not fit", param);
    out = NULL;
  }
  BN_clear_free(b);
  return out;
}

/* asymExport(h, includePrivate) -> components */
static napi_value js_export(napi_env env, napi_callback_info info) {
  napi_value argv[2], obj;
  bool with_priv = false;
  if (!craton_get_args(env, info, 2, argv)) return NULL;
  craton_pkey *k = pkey_unwrap(env, argv[0]);
  if (k == NULL) return NULL;
  if (napi_get_value_bool(env, argv[1], &with_priv) != napi_ok) {
    craton_throw(env, CRATON_E_ARGUMENT, "includePrivate must be a boolean");
    return NULL;
  }
  if (with_priv && !k->priv) {
    craton_throw(env, CRATON_E_ARGUMENT, "not a private key");
    return NULL;
  }
  if (napi_create_object(env, &obj) != napi_ok ||
      !set_named(env, obj, "type", str_value(env, key_type_name(k->type)))) {
    craton_throw(env, CRATON_E_LIBRARY, "cannot build the result");
    return NULL;
  }
  if (k->curve != NULL &&
      !set_named(env, obj, "curve", str_value(env, k->curve->name))) {
    craton_throw(env, CRATON_E_LIBRARY, "cannot build the result");
    return NULL;
  }
  if (k->type == KT_RSA) {
    static const char *const params[RSA_NCOMP] = {
        OSSL_PKEY_PARAM_RSA_N,         OSSL_PKEY_PARAM_RSA_E,
        OSSL_PKEY_PARAM_RSA_D,         OSSL_PKEY_PARAM_RSA_FACTOR1,
        OSSL_PKEY_PARAM_RSA_FACTOR2,   OSSL_PKEY_PARAM_RSA_EXPONENT1,
        OSSL_PKEY_PARAM_RSA_EXPONENT2, OSSL_PKEY_PARAM_RSA_COEFFICIENT1};
    int n = with_priv ? RSA_NCOMP : 2;
    for (int i = 0; i < n; i++) {
      napi_value v = bn_param_value(env, k->pkey, params[i], 0);
      if (v == NULL) return NULL;
      if (!set_named(env, obj, RSA_FIELDS[i], v)) goto fail;
    }
  } else if (k->type == KT_EC) {
    uint8_t out[1 + 2 * 66];
    size_t outlen = ec_uncompressed_point(k, out, sizeof out);
    if (outlen == 0) {
      craton_throw_openssl(env, CRATON_E_LIBRARY, "reading the EC point");
      return NULL;
    }
    if (!set_named(env, obj, "point", craton_uint8array_from(env, out, outlen)))
      goto fail;
    if (with_priv) {
      napi_value v = bn_param_value(env, k->pkey, OSSL_PKEY_PARAM_PRIV_KEY,
                                    k->curve->bytes);
      if (v == NULL) return NULL;
      if (!set_named(env, obj, "privateValue", v)) goto fail;
    }
  } else {
    uint8_t raw[64];
    size_t len = sizeof raw;
    if (EVP_PKEY_get_raw_public_key(k->pkey, raw, &len) != 1) {
      craton_throw_openssl(env, CRATON_E_LIBRARY, "EVP_PKEY_get_raw_public_key");
      return NULL;
    }
    if (!set_named(env, obj, "publicKey", craton_uint8array_from(env, raw, len)))
      goto fail;
    if (with_priv) {
      len = sizeof raw;
      if (EVP_PKEY_get_raw_private_key(k->pkey, raw, &len) != 1) {
        craton_wipe(raw, sizeof raw);
        craton_throw_openssl(env, CRATON_E_LIBRARY,
                             "EVP_PKEY_get_raw_private_key");
        return NULL;
      }
      napi_value v = craton_uint8array_from(env, raw, len);
      craton_wipe(raw, sizeof raw);
      if (!set_named(env, obj, "privateKey", v)) goto fail;
    }
  }
  return obj;
fail:
  craton_throw(env, CRATON_E_LIBRARY, "cannot build the result");
  return NULL;
}

/* asymStats(reset) -> {running, maxRunning} */
static napi_value js_stats(napi_env env, napi_callback_info info) {
  napi_value argv[1], obj, v;
  bool reset = false;
  size_t argc = 1;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok)
    return NULL;
  if (argc >= 1) napi_get_value_bool(env, argv[0], &reset);
  int running = atomic_load(&g_running);
  int max = atomic_load(&g_max_running);
  if (reset) atomic_store(&g_max_running, running);
  if (napi_create_object(env, &obj) != napi_ok ||
      napi_create_int32(env, running, &v) != napi_ok ||
      !set_named(env, obj, "running", v) ||
      napi_create_int32(env, max, &v) != napi_ok ||
      !set_named(env, obj, "maxRunning", v)) {
    craton_throw(env, CRATON_E_LIBRARY, "cannot build the result");
    return NULL;
  }
  return obj;
}

#define FN(name, fn) \
  { name, NULL, fn, NULL, NULL, NULL, napi_enumerable, NULL }

bool craton_register_asymmetric(napi_env env, napi_value exports) {
  const napi_property_descriptor props[] = {
      FN("asymGenerateKey", js_generate),
      FN("asymImportKey", js_import),
      FN("asymKeyInfo", js_key_info),
      FN("asymKeyFree", js_key_free),
      FN("asymPublicKey", js_public_only),
      FN("asymExport", js_export),
      FN("asymPublicKeyInfo", js_spki),
      FN("asymPrivateKeyInfo", js_pkcs8),
      FN("asymParsePrivateKeyInfo", js_parse_pkcs8),
      FN("asymSign", js_sign),
      FN("asymVerify", js_verify),
      FN("asymVerifyRecover", js_recover),
      FN("asymEncrypt", js_encrypt),
      FN("asymDecrypt", js_decrypt),
      FN("asymDerive", js_derive),
      FN("asymStats", js_stats),
  };
  return napi_define_properties(env, exports, sizeof props / sizeof props[0],
                                props) == napi_ok;
}
