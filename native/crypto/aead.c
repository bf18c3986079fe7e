/*
 * aead.c - AES-256-GCM sealing and opening, and HKDF-SHA256, for the token
 * store's encryption at rest (small values, so they run on the JS thread).
 */
#include "craton_crypto.h"

#include <openssl/evp.h>
#if defined(CRATON_CRYPTO_LIB_AWSLC)
#include <openssl/hkdf.h>
#if !defined(OPENSSL_IS_AWSLC)
#error "CRATON_CRYPTO_LIB_AWSLC: the AWS-LC headers are not first on the include path"
#endif
#else
#include <openssl/core_names.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#endif
#include <string.h>

#define GCM_KEY 32u
#define GCM_NONCE 12u
#define GCM_TAG 16u
#define AEAD_MAX (64u * 1024u * 1024u)

typedef struct gcm_args {
  const uint8_t *key, *nonce, *aad, *in;
  size_t key_len, nonce_len, aad_len, in_len;
} gcm_args;

static bool get_gcm_args(napi_env env, napi_callback_info info, gcm_args *a) {
  napi_value argv[4];
  if (!craton_get_args(env, info, 4, argv) || !craton_get_bytes(env, argv[0], "key", &a->key, &a->key_len) ||
      !craton_get_bytes(env, argv[1], "nonce", &a->nonce, &a->nonce_len) ||
      !craton_get_bytes(env, argv[2], "aad", &a->aad, &a->aad_len) ||
      !craton_get_bytes(env, argv[3], "data", &a->in, &a->in_len))
    return false;
  if (a->key_len != GCM_KEY || a->nonce_len != GCM_NONCE || a->in_len > AEAD_MAX || a->aad_len > AEAD_MAX) {
    craton_throw(env, CRATON_E_ARGUMENT, "AES-256-GCM needs a 32-byte key, a 12-byte nonce and inputs up to 64 MiB");
    return false;
  }
  return true;
}

/* Runs one GCM pass; out receives in_len bytes. */
static bool gcm(const gcm_args *a, int encrypt, uint8_t *out, uint8_t *tag) {
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  int n = 0, ok = ctx != NULL &&
                  EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL, encrypt) == 1 &&
                  EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, (int)a->nonce_len, NULL) == 1 &&
                  EVP_CipherInit_ex(ctx, NULL, NULL, a->key, a->nonce, encrypt) == 1 &&
                  (a->aad_len == 0 || EVP_CipherUpdate(ctx, NULL, &n, a->aad, (int)a->aad_len) == 1) &&
                  (a->in_len == 0 || EVP_CipherUpdate(ctx, out, &n, a->in, (int)a->in_len) == 1);
  if (ok && !encrypt) ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, GCM_TAG, tag) == 1;
  if (ok) ok = EVP_CipherFinal_ex(ctx, out + n, &n) == 1;
  if (ok && encrypt) ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, GCM_TAG, tag) == 1;
  EVP_CIPHER_CTX_free(ctx);
  return ok;
}

/* aes256GcmSeal(key, nonce, aad, plaintext) -> ciphertext || 16-byte tag */
static napi_value js_seal(napi_env env, napi_callback_info info) {
  gcm_args a;
  uint8_t *out = NULL;
  if (!get_gcm_args(env, info, &a)) return NULL;
  napi_value result = craton_new_uint8array(env, a.in_len + GCM_TAG, &out);
  if (!result) return NULL;
  if (!gcm(&a, 1, out, out + a.in_len)) {
    craton_wipe(out, a.in_len + GCM_TAG);
    craton_throw_openssl(env, CRATON_E_LIBRARY, "AES-256-GCM seal");
    return NULL;
  }
  return result;
}

/* aes256GcmOpen(key, nonce, aad, ciphertext || tag) -> plaintext; a wrong tag throws code AUTH */
static napi_value js_open(napi_env env, napi_callback_info info) {
  gcm_args a;
  uint8_t *out = NULL, tag[GCM_TAG];
  if (!get_gcm_args(env, info, &a)) return NULL;
  if (a.in_len < GCM_TAG) {
    craton_throw(env, CRATON_E_AUTH, "AES-256-GCM input shorter than its tag");
    return NULL;
  }
  a.in_len -= GCM_TAG;
  memcpy(tag, a.in + a.in_len, GCM_TAG);
  napi_value result = craton_new_uint8array(env, a.in_len, &out);
  if (!result) return NULL;
  if (!gcm(&a, 0, out, tag)) {
    /* Release no plaintext of a forged or damaged message. */
    craton_wipe(out, a.in_len);
    craton_throw(env, CRATON_E_AUTH, "AES-256-GCM authentication failed");
    return NULL;
  }
  return result;
}

/* hkdfSha256(ikm, salt, info, length) -> Uint8Array (RFC 5869) */
static napi_value js_hkdf(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  const uint8_t *ikm, *salt, *inf;
  size_t ikm_len, salt_len, info_len;
  int64_t length = 0;
  uint8_t *out = NULL;
  if (!craton_get_args(env, info, 4, argv) || !craton_get_bytes(env, argv[0], "ikm", &ikm, &ikm_len) ||
      !craton_get_bytes(env, argv[1], "salt", &salt, &salt_len) ||
      !craton_get_bytes(env, argv[2], "info", &inf, &info_len) ||
      !craton_get_integer(env, argv[3], "length", 1, 255 * 32, &length))
    return NULL;
  napi_value result = craton_new_uint8array(env, (size_t)length, &out);
  if (!result) return NULL;
#if defined(CRATON_CRYPTO_LIB_AWSLC)
  int ok = HKDF(out, (size_t)length, EVP_sha256(), ikm, ikm_len, salt, salt_len, inf, info_len) == 1;
#else
  EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
  EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, ikm_len),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, salt_len),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)inf, info_len),
      OSSL_PARAM_construct_end(),
  };
  int ok = ctx != NULL && EVP_KDF_derive(ctx, out, (size_t)length, params) == 1;
  EVP_KDF_CTX_free(ctx);
  EVP_KDF_free(kdf);
#endif
  if (!ok) {
    craton_wipe(out, (size_t)length);
    craton_throw_openssl(env, CRATON_E_LIBRARY, "HKDF-SHA256");
    return NULL;
  }
  return result;
}

bool craton_register_aead(napi_env env, napi_value exports) {
  const napi_property_descriptor props[] = {
      {"aes256GcmSeal", NULL, js_seal, NULL, NULL, NULL, napi_enumerable, NULL},
      {"aes256GcmOpen", NULL, js_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"hkdfSha256", NULL, js_hkdf, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  return napi_define_properties(env, exports, 3, props) == napi_ok;
}
