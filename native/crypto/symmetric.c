/*
 * symmetric.c - symmetric primitives for the PKCS#11 mechanisms (see
 * src/backends/symmetric.ts for the contract).
 *
 *   cipher*   AES ECB, CBC, CBC with PKCS#7 padding, CTR (with a counter
 *             field of 1..128 bits that must never wrap), GCM and CCM, as
 *             streaming contexts with exact output-size queries
 *   aesKeyWrap / aesKeyUnwrap   RFC 3394 (KW) and RFC 5649 (KWP), one-shot
 *   mac*      HMAC (SHA-1/2/3) and AES-CMAC, streaming
 *   hkdf      RFC 5869 extract+expand, extract only, expand only
 *   pbkdf2    PKCS #5 PBKDF2-HMAC with any of the digests, on the libuv pool
 *
 * Handles are napi externals type-tagged per kind (CIPHER_TAG, MAC_TAG),
 * following digest.c: the struct is owned by the external and only released
 * by its finalizer; xxxFree() releases the native state early (idempotent),
 * after which the handle reports STATE.  Native state is released (and
 * buffered data wiped) as soon as a context finishes.
 *
 * Block modes do their own block buffering and padding (EVP padding is
 * always off), so output sizes are exact and do not depend on how a
 * particular libcrypto buffers.  GCM decryption and CCM buffer their input
 * and do all the work in final(), so no plaintext is released before the tag
 * has been verified.
 *
 * Library-specific calls (OpenSSL 3 only: EVP_MAC, EVP_KDF, the EVP wrap
 * ciphers) are confined to mac_*(), hkdf_*() and key_wrap(); the AWS-LC
 * build (CRATON_CRYPTO_LIB_AWSLC) uses HMAC_CTX/CMAC_CTX, HKDF /
 * HKDF_extract / HKDF_expand and AES_(un)wrap_key(_padded) there.
 */
#include "craton_crypto.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#if defined(CRATON_CRYPTO_LIB_AWSLC)
#include <openssl/aes.h>
#include <openssl/cmac.h>
#include <openssl/hkdf.h>
#include <openssl/hmac.h>
#if !defined(OPENSSL_IS_AWSLC)
#error "CRATON_CRYPTO_LIB_AWSLC: the AWS-LC headers are not first on the include path"
#endif
/* AWS-LC spells these the OpenSSL 1.1 way. */
#define EVP_MD_get_size(md) ((int)EVP_MD_size(md))
#define EVP_CTRL_CCM_SET_IVLEN EVP_CTRL_AEAD_SET_IVLEN
#define EVP_CTRL_CCM_SET_TAG EVP_CTRL_AEAD_SET_TAG
#define EVP_CTRL_CCM_GET_TAG EVP_CTRL_AEAD_GET_TAG
#define EVP_KDF_HKDF_MODE_EXTRACT_AND_EXPAND EVP_PKEY_HKDEF_MODE_EXTRACT_AND_EXPAND
#define EVP_KDF_HKDF_MODE_EXTRACT_ONLY EVP_PKEY_HKDEF_MODE_EXTRACT_ONLY
#define EVP_KDF_HKDF_MODE_EXPAND_ONLY EVP_PKEY_HKDEF_MODE_EXPAND_ONLY
#else
#include <openssl/core_names.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#endif

#define SYM_MAX_INPUT (64u * 1024u * 1024u) /* per call, and buffered total */
#define AES_BLOCK 16u
#define GCM_MAX_IV 256u
#define CTX_MAGIC 0x43524358u /* "CRCX" */
#define MAC_MAGIC 0x43524d43u /* "CRMC" */

static const napi_type_tag CIPHER_TAG = {0x5d0c7be2a1f34986ULL,
                                         0x9e27c4b0f81d3a65ULL};
static const napi_type_tag MAC_TAG = {0x2b91e6d4c3a05f78ULL,
                                      0xd6a8f1073e4c925bULL};

typedef enum { ST_ACTIVE = 0, ST_FINISHED = 1, ST_FREED = 2 } sym_state;

/* ---- small argument helpers ------------------------------------------ */

static bool get_bool(napi_env env, napi_value v, const char *name, bool *out) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_boolean ||
      napi_get_value_bool(env, v, out) != napi_ok) {
    craton_throw(env, CRATON_E_ARGUMENT, "%s must be a boolean", name);
    return false;
  }
  return true;
}

/* A name argument; an over-long string is an unknown name (ALGORITHM). */
static bool get_name(napi_env env, napi_value v, const char *what, char *buf,
                     size_t size) {
  napi_valuetype t;
  size_t needed = 0;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_string) {
    craton_throw(env, CRATON_E_ARGUMENT, "%s must be a string", what);
    return false;
  }
  if (napi_get_value_string_utf8(env, v, NULL, 0, &needed) != napi_ok) {
    craton_throw(env, CRATON_E_ARGUMENT, "%s: cannot read string", what);
    return false;
  }
  if (needed >= size) {
    craton_throw(env, CRATON_E_ALGORITHM, "unsupported %s", what);
    return false;
  }
  return craton_get_string(env, v, what, buf, size);
}

/* Bytes of at most SYM_MAX_INPUT. */
static bool get_input(napi_env env, napi_value v, const char *name,
                      const uint8_t **p, size_t *len) {
  if (!craton_get_bytes(env, v, name, p, len)) return false;
  if (*len > SYM_MAX_INPUT) {
    craton_throw(env, CRATON_E_ARGUMENT, "%s is longer than 64 MiB", name);
    return false;
  }
  return true;
}

static uint8_t *dup_bytes(const uint8_t *p, size_t len) {
  uint8_t *q = (uint8_t *)malloc(len ? len : 1);
  if (q != NULL && len) memcpy(q, p, len);
  return q;
}

static void wipe_free(uint8_t **p, size_t len) {
  if (*p != NULL) {
    craton_wipe(*p, len);
    free(*p);
    *p = NULL;
  }
}

/* ---- digests ----------------------------------------------------------- */

typedef struct {
  const char *name;
  const EVP_MD *(*get)(void);
  const char *ossl; /* OpenSSL 3 fetch name, for EVP_MAC / EVP_KDF params */
} sym_digest;

static const sym_digest DIGESTS[] = {
    {"sha1", EVP_sha1, "SHA1"},
    {"sha224", EVP_sha224, "SHA2-224"},
    {"sha256", EVP_sha256, "SHA2-256"},
    {"sha384", EVP_sha384, "SHA2-384"},
    {"sha512", EVP_sha512, "SHA2-512"},
    {"sha3-224", EVP_sha3_224, "SHA3-224"},
    {"sha3-256", EVP_sha3_256, "SHA3-256"},
    {"sha3-384", EVP_sha3_384, "SHA3-384"},
    {"sha3-512", EVP_sha3_512, "SHA3-512"},
};

static const sym_digest *get_digest(napi_env env, napi_value v,
                                    const EVP_MD **md) {
  char name[32];
  if (!get_name(env, v, "digest", name, sizeof name)) return NULL;
  for (size_t i = 0; i < sizeof DIGESTS / sizeof DIGESTS[0]; i++) {
    if (strcmp(name, DIGESTS[i].name) == 0) {
      *md = DIGESTS[i].get();
      if (*md == NULL) {
        craton_throw_openssl(env, CRATON_E_ALGORITHM, name);
        return NULL;
      }
      return &DIGESTS[i];
    }
  }
  craton_throw(env, CRATON_E_ALGORITHM, "unsupported digest '%s'", name);
  return NULL;
}

/* ---- ciphers ----------------------------------------------------------- */

typedef enum {
  M_ECB = 0,
  M_CBC,
  M_CBC_PAD,
  M_CTR,
  M_GCM,
  M_CCM,
  M_COUNT
} cipher_mode;

static const char *const MODE_NAMES[M_COUNT] = {"ecb", "cbc", "cbc-pad",
                                                "ctr", "gcm", "ccm"};

typedef const EVP_CIPHER *(*cipher_getter)(void);

/* [mode][0: AES-128, 1: AES-192, 2: AES-256]; CBC-PAD uses CBC. */
static const cipher_getter AES[M_COUNT][3] = {
    {EVP_aes_128_ecb, EVP_aes_192_ecb, EVP_aes_256_ecb},
    {EVP_aes_128_cbc, EVP_aes_192_cbc, EVP_aes_256_cbc},
    {EVP_aes_128_cbc, EVP_aes_192_cbc, EVP_aes_256_cbc},
    {EVP_aes_128_ctr, EVP_aes_192_ctr, EVP_aes_256_ctr},
    {EVP_aes_128_gcm, EVP_aes_192_gcm, EVP_aes_256_gcm},
    {EVP_aes_128_ccm, EVP_aes_192_ccm, EVP_aes_256_ccm},
};

static bool aes_key_ok(napi_env env, size_t len) {
  if (len != 16 && len != 24 && len != 32) {
    craton_throw(env, CRATON_E_ARGUMENT,
                 "an AES key is 16, 24 or 32 bytes, not %zu", len);
    return false;
  }
  return true;
}

typedef struct {
  uint32_t magic;
  sym_state state;
  cipher_mode mode;
  bool encrypt;
  EVP_CIPHER_CTX *ctx; /* all modes but CCM (which builds one in final) */
  /* ECB/CBC/CBC-PAD: bytes not yet given to EVP (CBC-PAD decryption always
   * holds back the last block, so pend_len can reach 16). */
  uint8_t pend[AES_BLOCK];
  size_t pend_len;
  /* CTR: bytes processed, and how many the counter field allows. */
  uint64_t ctr_done, ctr_limit;
  /* GCM/CCM */
  size_t tag_len;
  uint8_t *buf; /* GCM decryption: ciphertext||tag; CCM: all input */
  size_t buf_len, buf_cap;
  /* CCM only: everything is done in final(). */
  size_t data_len; /* plaintext length announced up front */
  uint8_t key[32];
  size_t key_len;
  uint8_t nonce[13];
  size_t nonce_len;
  uint8_t *aad;
  size_t aad_len;
} craton_cipher;

/* Release all native state and wipe all buffered data. */
static void cipher_release(craton_cipher *c) {
  if (c->ctx != NULL) {
    EVP_CIPHER_CTX_free(c->ctx); /* cleanses the key schedule */
    c->ctx = NULL;
  }
  wipe_free(&c->buf, c->buf_cap);
  c->buf_len = c->buf_cap = 0;
  wipe_free(&c->aad, c->aad_len);
  c->aad_len = 0;
  craton_wipe(c->key, sizeof c->key);
  craton_wipe(c->pend, sizeof c->pend);
  c->pend_len = 0;
}

static void cipher_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  craton_cipher *c = (craton_cipher *)data;
  if (c == NULL) return;
  cipher_release(c);
  c->magic = 0;
  c->state = ST_FREED;
  free(c);
}

static craton_cipher *cipher_unwrap(napi_env env, napi_value v) {
  craton_cipher *p = (craton_cipher *)craton_external_of(env, v, &CIPHER_TAG);
  if (p == NULL || p->magic != CTX_MAGIC) {
    craton_throw(env, CRATON_E_ARGUMENT, "not a cipher handle");
    return NULL;
  }
  return p;
}

static craton_cipher *cipher_active(napi_env env, napi_value v) {
  craton_cipher *c = cipher_unwrap(env, v);
  if (c == NULL) return NULL;
  if (c->state != ST_ACTIVE) {
    craton_throw(env, CRATON_E_STATE, "cipher context is %s",
                 c->state == ST_FINISHED ? "finished" : "freed");
    return NULL;
  }
  return c;
}

/* Finish: release the native state now; the handle then reports STATE. */
static void cipher_finish(craton_cipher *c) {
  cipher_release(c);
  c->state = ST_FINISHED;
}

/* Bytes of input the low `bits` bits of the counter block allow before the
 * counter would wrap (saturated at UINT64_MAX). */
static uint64_t ctr_limit_bytes(const uint8_t iv[16], unsigned bits) {
  uint64_t hi = 0, lo = 0, blocks;
  for (int i = 0; i < 8; i++) hi = (hi << 8) | iv[i];
  for (int i = 8; i < 16; i++) lo = (lo << 8) | iv[i];
  if (bits < 64) {
    uint64_t mask = (UINT64_C(1) << bits) - 1;
    blocks = (mask - (lo & mask)) + 1;
  } else {
    unsigned extra = bits - 64;
    bool hi_full = true;
    if (extra > 0) {
      uint64_t m = extra >= 64 ? UINT64_MAX : (UINT64_C(1) << extra) - 1;
      hi_full = (hi & m) == m;
    }
    /* 2^64 - lo blocks when the upper part is at its maximum, else >= 2^64 */
    blocks = (!hi_full || lo == 0) ? UINT64_MAX : (UINT64_MAX - lo) + 1;
  }
  return blocks > UINT64_MAX / AES_BLOCK ? UINT64_MAX : blocks * AES_BLOCK;
}

/* Output of update(n) now; throws ARGUMENT if update(n) would be refused. */
static bool cipher_update_size(napi_env env, const craton_cipher *c, size_t n,
                               size_t *out) {
  switch (c->mode) {
    case M_ECB:
    case M_CBC:
    case M_CBC_PAD: {
      size_t avail = c->pend_len + n, keep = avail % AES_BLOCK;
      if (c->mode == M_CBC_PAD && !c->encrypt && keep == 0 && avail > 0)
        keep = AES_BLOCK;
      *out = avail - keep;
      return true;
    }
    case M_CTR:
      if ((uint64_t)n > c->ctr_limit - c->ctr_done) {
        craton_throw(env, CRATON_E_ARGUMENT,
                     "CTR: the counter would wrap within %zu more bytes", n);
        return false;
      }
      *out = n;
      return true;
    case M_GCM:
      if (c->encrypt) {
        *out = n;
        return true;
      }
      if (n > SYM_MAX_INPUT + (size_t)c->tag_len - c->buf_len) {
        craton_throw(env, CRATON_E_ARGUMENT,
                     "GCM decryption buffers at most 64 MiB plus the tag");
        return false;
      }
      *out = 0;
      return true;
    case M_CCM: {
      size_t total = c->data_len + (c->encrypt ? 0 : c->tag_len);
      if (n > total - c->buf_len) {
        craton_throw(env, CRATON_E_ARGUMENT,
                     "CCM: more than the announced %zu bytes of %s", total,
                     c->encrypt ? "data" : "data and tag");
        return false;
      }
      *out = 0;
      return true;
    }
    default:
      break;
  }
  craton_throw(env, CRATON_E_LIBRARY, "bad cipher mode");
  return false;
}

/* Output of final() now (an upper bound for CBC-PAD decryption); throws
 * ARGUMENT if final() would refuse the data length. */
static bool cipher_final_size(napi_env env, const craton_cipher *c,
                              size_t *out) {
  switch (c->mode) {
    case M_ECB:
    case M_CBC:
      if (c->pend_len != 0) {
        craton_throw(env, CRATON_E_ARGUMENT,
                     "%s: the data length is not a multiple of 16 bytes",
                     MODE_NAMES[c->mode]);
        return false;
      }
      *out = 0;
      return true;
    case M_CBC_PAD:
      if (c->encrypt) {
        *out = AES_BLOCK;
        return true;
      }
      if (c->pend_len != AES_BLOCK) {
        craton_throw(env, CRATON_E_ARGUMENT,
                     "cbc-pad: the ciphertext length is not a positive "
                     "multiple of 16 bytes");
        return false;
      }
      *out = AES_BLOCK - 1;
      return true;
    case M_CTR:
      *out = 0;
      return true;
    case M_GCM:
      if (c->encrypt) {
        *out = c->tag_len;
        return true;
      }
      if (c->buf_len < c->tag_len) {
        craton_throw(env, CRATON_E_ARGUMENT,
                     "GCM: the input is shorter than the %zu-byte tag",
                     c->tag_len);
        return false;
      }
      *out = c->buf_len - c->tag_len;
      return true;
    case M_CCM: {
      size_t total = c->data_len + (c->encrypt ? 0 : c->tag_len);
      if (c->buf_len != total) {
        craton_throw(env, CRATON_E_ARGUMENT,
                     "CCM: got %zu bytes, %zu were announced", c->buf_len,
                     total);
        return false;
      }
      *out = c->encrypt ? c->data_len + c->tag_len : c->data_len;
      return true;
    }
    default:
      break;
  }
  craton_throw(env, CRATON_E_LIBRARY, "bad cipher mode");
  return false;
}

/* Append to c->buf, never leaving an unwiped copy behind on growth. */
static bool buf_append(craton_cipher *c, const uint8_t *p, size_t n) {
  if (n == 0) return true;
  size_t need = c->buf_len + n;
  if (need > c->buf_cap) {
    size_t cap;
    if (c->mode == M_CCM) {
      cap = c->data_len + (c->encrypt ? 0 : c->tag_len); /* exact, known */
    } else {
      size_t max = SYM_MAX_INPUT + AES_BLOCK; /* GCM: data and tag */
      cap = c->buf_cap ? c->buf_cap : 1024;
      while (cap < need) cap *= 2;
      if (cap > max) cap = max;
    }
    if (cap < need) cap = need;
    uint8_t *nb = (uint8_t *)malloc(cap);
    if (nb == NULL) return false;
    if (c->buf_len) memcpy(nb, c->buf, c->buf_len);
    wipe_free(&c->buf, c->buf_cap);
    c->buf = nb;
    c->buf_cap = cap;
  }
  memcpy(c->buf + c->buf_len, p, n);
  c->buf_len = need;
  return true;
}

/* One EVP_CipherUpdate that must produce exactly n bytes. */
static bool evp_exact(EVP_CIPHER_CTX *ctx, uint8_t *out, const uint8_t *in,
                      size_t n) {
  int l = 0;
  if (n == 0) return true;
  return EVP_CipherUpdate(ctx, out, &l, in, (int)n) == 1 && (size_t)l == n;
}

/* ECB/CBC/CBC-PAD update: only whole blocks reach EVP.  Writes `expect`
 * bytes (the value cipher_update_size() gave). */
static bool block_update(craton_cipher *c, const uint8_t *in, size_t n,
                         uint8_t *out, size_t expect) {
  size_t process = expect, w = 0;
  if (process > 0 && c->pend_len > 0) {
    uint8_t blk[AES_BLOCK];
    size_t take = AES_BLOCK - c->pend_len;
    memcpy(blk, c->pend, c->pend_len);
    memcpy(blk + c->pend_len, in, take);
    bool ok = evp_exact(c->ctx, out, blk, AES_BLOCK);
    craton_wipe(blk, sizeof blk);
    if (!ok) return false;
    in += take;
    n -= take;
    w = AES_BLOCK;
    c->pend_len = 0;
  }
  if (process > w) {
    size_t rest = process - w;
    if (!evp_exact(c->ctx, out + w, in, rest)) return false;
    in += rest;
    n -= rest;
  }
  /* what is left fits: pend_len + n == keep <= 16 */
  if (n > 0) memcpy(c->pend + c->pend_len, in, n);
  c->pend_len += n;
  return true;
}

/*
 * cipherNew(mode, encrypt, key, iv, aad, tagLength, counterBits, dataLength)
 *   ecb: iv ignored; cbc, cbc-pad: iv 16 bytes; ctr: iv = 16-byte counter
 *   block, counterBits 1..128; gcm: iv 1..256 bytes, aad, tagLength 4..16;
 *   ccm: iv = nonce 7..13 bytes, aad, tagLength 4..16 even, dataLength.
 *   Arguments a mode does not use are ignored (pass empty / 0).
 */
static napi_value js_cipher_new(napi_env env, napi_callback_info info) {
  napi_value argv[8], ext;
  char mode_name[16];
  bool encrypt = false;
  const uint8_t *key, *iv, *aad;
  size_t key_len, iv_len, aad_len;
  int64_t tag_len = 0, counter_bits = 0, data_len = 0;
  int mode = -1;

  if (!craton_get_args(env, info, 8, argv)) return NULL;
  if (!get_name(env, argv[0], "cipher mode", mode_name, sizeof mode_name))
    return NULL;
  for (int i = 0; i < M_COUNT; i++)
    if (strcmp(mode_name, MODE_NAMES[i]) == 0) mode = i;
  if (mode < 0) {
    craton_throw(env, CRATON_E_ALGORITHM, "unsupported AES mode '%s'",
                 mode_name);
    return NULL;
  }
  if (!get_bool(env, argv[1], "encrypt", &encrypt) ||
      !craton_get_bytes(env, argv[2], "key", &key, &key_len) ||
      !craton_get_bytes(env, argv[3], "iv", &iv, &iv_len) ||
      !get_input(env, argv[4], "aad", &aad, &aad_len) ||
      !craton_get_integer(env, argv[5], "tagLength", 0, 16, &tag_len) ||
      !craton_get_integer(env, argv[6], "counterBits", 0, 128,
                          &counter_bits) ||
      !craton_get_integer(env, argv[7], "dataLength", 0, SYM_MAX_INPUT,
                          &data_len))
    return NULL;
  if (!aes_key_ok(env, key_len)) return NULL;

  switch (mode) {
    case M_CBC:
    case M_CBC_PAD:
    case M_CTR:
      if (iv_len != AES_BLOCK) {
        craton_throw(env, CRATON_E_ARGUMENT, "%s needs a 16-byte %s",
                     MODE_NAMES[mode], mode == M_CTR ? "counter block" : "IV");
        return NULL;
      }
      if (mode == M_CTR && counter_bits < 1) {
        craton_throw(env, CRATON_E_ARGUMENT,
                     "ctr: counterBits must be in [1, 128]");
        return NULL;
      }
      break;
    case M_GCM:
      if (iv_len < 1 || iv_len > GCM_MAX_IV) {
        craton_throw(env, CRATON_E_ARGUMENT,
                     "gcm: the IV must be 1..256 bytes, not %zu", iv_len);
        return NULL;
      }
      if (tag_len < 4) {
        craton_throw(env, CRATON_E_ARGUMENT,
                     "gcm: tagLength must be in [4, 16]");
        return NULL;
      }
      break;
    case M_CCM: {
      if (iv_len < 7 || iv_len > 13) {
        craton_throw(env, CRATON_E_ARGUMENT,
                     "ccm: the nonce must be 7..13 bytes, not %zu", iv_len);
        return NULL;
      }
      if (tag_len < 4 || (tag_len & 1)) {
        craton_throw(env, CRATON_E_ARGUMENT,
                     "ccm: tagLength must be one of 4, 6, ..., 16");
        return NULL;
      }
      /* L = 15 - nonce length bytes encode the data length */
      size_t l_bytes = 15 - iv_len;
      if (l_bytes < 8 && (uint64_t)data_len >> (8 * l_bytes) != 0) {
        craton_throw(env, CRATON_E_ARGUMENT,
                     "ccm: a %zu-byte nonce allows at most %llu bytes of data",
                     iv_len,
                     (unsigned long long)((UINT64_C(1) << (8 * l_bytes)) - 1));
        return NULL;
      }
      break;
    }
    default:
      break;
  }

  craton_cipher *c = (craton_cipher *)calloc(1, sizeof *c);
  if (c == NULL) {
    craton_throw(env, CRATON_E_LIBRARY, "out of memory");
    return NULL;
  }
  c->magic = CTX_MAGIC;
  c->state = ST_ACTIVE;
  c->mode = (cipher_mode)mode;
  c->encrypt = encrypt;
  c->tag_len = (size_t)tag_len;

  const EVP_CIPHER *cipher = AES[mode][(key_len - 16) / 8]();
  const char *what = NULL; /* failing step, for the error */
  const char *code = CRATON_E_LIBRARY;
  if (cipher == NULL) {
    what = "AES cipher";
    code = CRATON_E_ALGORITHM;
  } else if (mode == M_CCM) {
    c->data_len = (size_t)data_len;
    memcpy(c->key, key, key_len);
    c->key_len = key_len;
    memcpy(c->nonce, iv, iv_len);
    c->nonce_len = iv_len;
    c->aad_len = aad_len;
    c->aad = dup_bytes(aad, aad_len);
    if (c->aad == NULL) what = "out of memory";
  } else if ((c->ctx = EVP_CIPHER_CTX_new()) == NULL) {
    what = "EVP_CIPHER_CTX_new";
  } else if (EVP_CipherInit_ex(c->ctx, cipher, NULL, NULL, NULL, encrypt) !=
             1) {
    what = "EVP_CipherInit_ex";
  } else if (mode == M_GCM &&
             EVP_CIPHER_CTX_ctrl(c->ctx, EVP_CTRL_GCM_SET_IVLEN, (int)iv_len,
                                 NULL) != 1) {
    /* OpenSSL 3 takes GCM IVs of at most 128 bytes. */
    what = "gcm: this libcrypto does not take an IV of that length";
    code = CRATON_E_ALGORITHM;
  } else if (EVP_CipherInit_ex(c->ctx, NULL, NULL, key,
                               mode == M_ECB ? NULL : iv, encrypt) != 1) {
    what = "EVP_CipherInit_ex (key)";
  } else if (EVP_CIPHER_CTX_set_padding(c->ctx, 0) != 1) {
    what = "EVP_CIPHER_CTX_set_padding";
  } else if (mode == M_GCM && aad_len > 0) {
    int l = 0;
    if (EVP_CipherUpdate(c->ctx, NULL, &l, aad, (int)aad_len) != 1)
      what = "gcm: AAD";
  }
  if (what == NULL && mode == M_CTR)
    c->ctr_limit = ctr_limit_bytes(iv, (unsigned)counter_bits);

  if (what != NULL) {
    cipher_finalize(env, c, NULL);
    if (strcmp(code, CRATON_E_LIBRARY) == 0)
      craton_throw_openssl(env, code, what);
    else
      craton_throw(env, code, "%s", what);
    return NULL;
  }

  if (napi_create_external(env, c, cipher_finalize, NULL, &ext) != napi_ok) {
    cipher_finalize(env, c, NULL);
    craton_throw(env, CRATON_E_LIBRARY, "cannot create cipher handle");
    return NULL;
  }
  if (napi_type_tag_object(env, ext, &CIPHER_TAG) != napi_ok) {
    cipher_finish(c);
    c->state = ST_FREED;
    craton_throw(env, CRATON_E_LIBRARY, "cannot type-tag cipher handle");
    return NULL;
  }
  return ext;
}

/* cipherUpdate(h, data) -> Uint8Array (exactly cipherUpdateSize(h, n)) */
static napi_value js_cipher_update(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  const uint8_t *in;
  size_t n, outlen = 0;
  uint8_t *out = NULL;
  bool ok = true;

  if (!craton_get_args(env, info, 2, argv)) return NULL;
  craton_cipher *c = cipher_active(env, argv[0]);
  if (c == NULL) return NULL;
  if (!get_input(env, argv[1], "data", &in, &n)) return NULL;
  if (!cipher_update_size(env, c, n, &outlen)) return NULL;
  napi_value result = craton_new_uint8array(env, outlen, &out);
  if (result == NULL) return NULL;

  switch (c->mode) {
    case M_ECB:
    case M_CBC:
    case M_CBC_PAD:
      ok = block_update(c, in, n, out, outlen);
      break;
    case M_CTR:
      ok = evp_exact(c->ctx, out, in, n);
      if (ok) c->ctr_done += n;
      break;
    case M_GCM:
      ok = c->encrypt ? evp_exact(c->ctx, out, in, n) : buf_append(c, in, n);
      break;
    case M_CCM:
      ok = buf_append(c, in, n);
      break;
    default:
      ok = false;
  }
  if (!ok) {
    craton_wipe(out, outlen);
    cipher_finish(c);
    craton_throw_openssl(env, CRATON_E_LIBRARY, "cipher update");
    return NULL;
  }
  return result;
}

/* GCM decryption / CCM in final(): writes the plaintext (decrypt) or
 * ciphertext||tag (CCM encrypt) to out; false with *auth set if the tag did
 * not verify. */
static bool aead_final(craton_cipher *c, uint8_t *out, bool *auth) {
  int l = 0;
  uint8_t dummy[AES_BLOCK];
  *auth = false;
  if (c->mode == M_GCM) { /* decryption (encryption streams) */
    size_t ct_len = c->buf_len - c->tag_len;
    if (!evp_exact(c->ctx, out, c->buf, ct_len)) return false;
    if (EVP_CIPHER_CTX_ctrl(c->ctx, EVP_CTRL_GCM_SET_TAG, (int)c->tag_len,
                            c->buf + ct_len) != 1)
      return false;
    if (EVP_CipherFinal_ex(c->ctx, dummy, &l) != 1 || l != 0) {
      *auth = true;
      return false;
    }
    return true;
  }

  /* CCM: one pass over the announced data */
  const EVP_CIPHER *cipher = AES[M_CCM][(c->key_len - 16) / 8]();
  const uint8_t *in = c->buf != NULL ? c->buf : dummy; /* never NULL */
  EVP_CIPHER_CTX *ctx = cipher ? EVP_CIPHER_CTX_new() : NULL;
  bool ok =
      ctx != NULL &&
      EVP_CipherInit_ex(ctx, cipher, NULL, NULL, NULL, c->encrypt) == 1 &&
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_CCM_SET_IVLEN, (int)c->nonce_len,
                          NULL) == 1 &&
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_CCM_SET_TAG, (int)c->tag_len,
                          c->encrypt ? NULL
                                     : (void *)(c->buf + c->data_len)) == 1 &&
      EVP_CipherInit_ex(ctx, NULL, NULL, c->key, c->nonce, c->encrypt) == 1 &&
      EVP_CipherUpdate(ctx, NULL, &l, NULL, (int)c->data_len) == 1 &&
      (c->aad_len == 0 ||
       EVP_CipherUpdate(ctx, NULL, &l, c->aad, (int)c->aad_len) == 1);
  if (ok) {
    /* CCM takes the data in exactly one call, even when it is empty; out
     * may be a zero-length array, so give EVP a real buffer then. */
    uint8_t *dst = c->data_len ? out : dummy;
    if (EVP_CipherUpdate(ctx, dst, &l, in, (int)c->data_len) != 1 ||
        (size_t)l != c->data_len) {
      ok = false;
      *auth = !c->encrypt;
    }
  }
  if (ok && c->encrypt)
    ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_CCM_GET_TAG, (int)c->tag_len,
                             out + c->data_len) == 1;
  EVP_CIPHER_CTX_free(ctx);
  craton_wipe(dummy, sizeof dummy);
  return ok;
}

/* cipherFinal(h) -> Uint8Array.  The context is finished afterwards, also
 * when this throws (ARGUMENT for a bad data length, AUTH for a tag or
 * padding that does not verify; nothing is released then). */
static napi_value js_cipher_final(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  size_t outlen = 0;
  uint8_t *out = NULL;
  bool ok = true, auth = false;
  int l = 0;
  const char *what = "cipher final";

  if (!craton_get_args(env, info, 1, argv)) return NULL;
  craton_cipher *c = cipher_active(env, argv[0]);
  if (c == NULL) return NULL;
  if (!cipher_final_size(env, c, &outlen)) {
    cipher_finish(c);
    return NULL;
  }

  if (c->mode == M_CBC_PAD && !c->encrypt) {
    /* Decrypt the held-back block and check its padding (constant time). */
    uint8_t blk[AES_BLOCK];
    napi_value result = NULL;
    if (!evp_exact(c->ctx, blk, c->pend, AES_BLOCK)) {
      cipher_finish(c);
      craton_throw_openssl(env, CRATON_E_LIBRARY, "cbc-pad final");
      return NULL;
    }
    unsigned p = blk[AES_BLOCK - 1], bad;
    bad = ((p - 1u) >> 31) | ((AES_BLOCK - p) >> 31); /* p not in 1..16 */
    for (unsigned i = 0; i < AES_BLOCK; i++) {
      unsigned in_pad = 0u - ((((AES_BLOCK - 1u) - i) - p) >> 31);
      bad |= in_pad & (blk[i] ^ p);
    }
    cipher_finish(c);
    if (bad != 0) {
      craton_wipe(blk, sizeof blk);
      craton_throw(env, CRATON_E_AUTH, "cbc-pad: bad padding");
      return NULL;
    }
    result = craton_uint8array_from(env, blk, AES_BLOCK - p);
    craton_wipe(blk, sizeof blk);
    return result;
  }

  napi_value result = craton_new_uint8array(env, outlen, &out);
  if (result == NULL) {
    cipher_finish(c);
    return NULL;
  }
  switch (c->mode) {
    case M_ECB:
    case M_CBC:
    case M_CTR:
      break; /* nothing pending (EVP holds nothing either) */
    case M_CBC_PAD: { /* encryption: pad the pending bytes to a block */
      uint8_t blk[AES_BLOCK];
      size_t r = c->pend_len;
      memcpy(blk, c->pend, r);
      memset(blk + r, (int)(AES_BLOCK - r), AES_BLOCK - r);
      ok = evp_exact(c->ctx, out, blk, AES_BLOCK);
      craton_wipe(blk, sizeof blk);
      break;
    }
    case M_GCM:
      if (c->encrypt) {
        uint8_t dummy[AES_BLOCK];
        ok = EVP_CipherFinal_ex(c->ctx, dummy, &l) == 1 && l == 0 &&
             EVP_CIPHER_CTX_ctrl(c->ctx, EVP_CTRL_GCM_GET_TAG,
                                 (int)c->tag_len, out) == 1;
        what = "gcm final";
      } else {
        ok = aead_final(c, out, &auth);
      }
      break;
    case M_CCM:
      ok = aead_final(c, out, &auth);
      what = "ccm";
      break;
    default:
      ok = false;
  }
  cipher_finish(c);
  if (!ok) {
    craton_wipe(out, outlen); /* release nothing */
    if (auth)
      craton_throw(env, CRATON_E_AUTH, "%s: authentication failed",
                   MODE_NAMES[c->mode]);
    else
      craton_throw_openssl(env, CRATON_E_LIBRARY, what);
    return NULL;
  }
  return result;
}

/* cipherUpdateSize(h, n) -> number; throws what update would (no effect) */
static napi_value js_cipher_update_size(napi_env env, napi_callback_info info) {
  napi_value argv[2], r;
  int64_t n = 0;
  size_t out = 0;
  if (!craton_get_args(env, info, 2, argv)) return NULL;
  craton_cipher *c = cipher_active(env, argv[0]);
  if (c == NULL) return NULL;
  if (!craton_get_integer(env, argv[1], "length", 0, SYM_MAX_INPUT, &n))
    return NULL;
  if (!cipher_update_size(env, c, (size_t)n, &out)) return NULL;
  if (napi_create_int64(env, (int64_t)out, &r) != napi_ok) return NULL;
  return r;
}

/* cipherFinalSize(h, pending) -> number: output of update(pending bytes)
 * followed by final(), together; throws what those would for a bad length
 * (no effect on the context). */
static napi_value js_cipher_final_size(napi_env env, napi_callback_info info) {
  napi_value argv[2], r;
  int64_t n = 0;
  size_t up = 0, fin = 0;
  bool ok;
  if (!craton_get_args(env, info, 2, argv)) return NULL;
  craton_cipher *c = cipher_active(env, argv[0]);
  if (c == NULL) return NULL;
  if (!craton_get_integer(env, argv[1], "pending", 0, SYM_MAX_INPUT, &n))
    return NULL;
  if (!cipher_update_size(env, c, (size_t)n, &up)) return NULL;
  /* The length bookkeeping update(n) would do, on a copy. */
  craton_cipher t = *c;
  switch (t.mode) {
    case M_ECB:
    case M_CBC:
    case M_CBC_PAD:
      t.pend_len = t.pend_len + (size_t)n - up;
      break;
    case M_GCM:
    case M_CCM:
      if (!t.encrypt || t.mode == M_CCM) t.buf_len += (size_t)n;
      break;
    default:
      break;
  }
  ok = cipher_final_size(env, &t, &fin);
  craton_wipe(&t, sizeof t);
  if (!ok) return NULL;
  if (napi_create_int64(env, (int64_t)(up + fin), &r) != napi_ok) return NULL;
  return r;
}

/* cipherFree(h): idempotent */
static napi_value js_cipher_free(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!craton_get_args(env, info, 1, argv)) return NULL;
  craton_cipher *c = cipher_unwrap(env, argv[0]);
  if (c == NULL) return NULL;
  cipher_release(c);
  c->state = ST_FREED;
  return craton_undefined(env);
}

/* ---- AES key wrap (RFC 3394, RFC 5649) ------------------------------- */

#if defined(CRATON_CRYPTO_LIB_AWSLC)
/* AWS-LC has no EVP wrap ciphers for AES-128/192 (nor the padded ones):
 * AES_(un)wrap_key(_padded) over an AES_KEY.  Writes *l bytes to tmp
 * (cap bytes); *auth is set when unwrapping fails its integrity check. */
static bool awslc_key_wrap(bool wrap, bool padded, const uint8_t *key,
                           size_t key_len, const uint8_t *in, size_t n,
                           uint8_t *tmp, size_t cap, int *l, bool *auth) {
  AES_KEY ks;
  bool ok;
  *auth = false;
  if ((wrap ? AES_set_encrypt_key(key, (unsigned)(key_len * 8), &ks)
            : AES_set_decrypt_key(key, (unsigned)(key_len * 8), &ks)) != 0) {
    craton_wipe(&ks, sizeof ks);
    return false;
  }
  if (padded) {
    size_t out_len = 0;
    ok = (wrap ? AES_wrap_key_padded(&ks, tmp, &out_len, cap, in, n)
               : AES_unwrap_key_padded(&ks, tmp, &out_len, cap, in, n)) == 1;
    *l = ok ? (int)out_len : 0;
  } else {
    int r = wrap ? AES_wrap_key(&ks, NULL, tmp, in, n)
                 : AES_unwrap_key(&ks, NULL, tmp, in, n);
    ok = r >= 0 && (size_t)r <= cap;
    *l = ok ? r : 0;
  }
  /* The lengths were checked beforehand: an unwrap failure is integrity. */
  *auth = !ok && !wrap;
  craton_wipe(&ks, sizeof ks);
  return ok;
}
#else
static const cipher_getter WRAP[2][3] = {
    {EVP_aes_128_wrap, EVP_aes_192_wrap, EVP_aes_256_wrap},
    {EVP_aes_128_wrap_pad, EVP_aes_192_wrap_pad, EVP_aes_256_wrap_pad},
};
#endif

/* aesKeyWrap(key, data, padded) / aesKeyUnwrap(key, data, padded) */
static napi_value key_wrap(napi_env env, napi_callback_info info, bool wrap) {
  napi_value argv[3];
  const uint8_t *key, *in;
  size_t key_len, n, cap;
  bool padded = false;
  uint8_t *tmp;
  int l = 0;

  if (!craton_get_args(env, info, 3, argv) ||
      !craton_get_bytes(env, argv[0], "key", &key, &key_len) ||
      !get_input(env, argv[1], "data", &in, &n) ||
      !get_bool(env, argv[2], "padded", &padded))
    return NULL;
  if (!aes_key_ok(env, key_len)) return NULL;
  if (wrap && !padded && (n < 16 || n % 8 != 0)) {
    craton_throw(env, CRATON_E_ARGUMENT,
                 "AES key wrap: the data must be a multiple of 8 bytes, at "
                 "least 16");
    return NULL;
  }
  if (wrap && padded && n < 1) {
    craton_throw(env, CRATON_E_ARGUMENT,
                 "AES key wrap with padding: the data must not be empty");
    return NULL;
  }
  if (!wrap && (n % 8 != 0 || n < (padded ? 16u : 24u))) {
    craton_throw(env, CRATON_E_ARGUMENT,
                 "AES key unwrap: the wrapped data must be a multiple of 8 "
                 "bytes, at least %u",
                 padded ? 16u : 24u);
    return NULL;
  }
  cap = wrap ? ((n + 7) / 8) * 8 + 8 : n; /* output bound (+ EVP slack) */
  tmp = (uint8_t *)malloc(cap + 16);
  bool ok = false, fail_auth = false;
#if defined(CRATON_CRYPTO_LIB_AWSLC)
  if (tmp != NULL)
    ok = awslc_key_wrap(wrap, padded, key, key_len, in, n, tmp, cap, &l,
                        &fail_auth);
#else
  EVP_CIPHER_CTX *ctx = tmp ? EVP_CIPHER_CTX_new() : NULL;
  const EVP_CIPHER *cipher = WRAP[padded][(key_len - 16) / 8]();
  if (ctx != NULL && cipher != NULL) {
    EVP_CIPHER_CTX_set_flags(ctx, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
    ok = EVP_CipherInit_ex(ctx, cipher, NULL, key, NULL, wrap) == 1;
    if (ok) {
      ok = EVP_CipherUpdate(ctx, tmp, &l, in, (int)n) == 1 && l >= 0 &&
           (size_t)l <= cap;
      fail_auth = !ok && !wrap;
    }
  }
  EVP_CIPHER_CTX_free(ctx);
#endif
  napi_value result = NULL;
  if (ok) {
    result = craton_uint8array_from(env, tmp, (size_t)l);
  } else if (fail_auth) {
    craton_throw(env, CRATON_E_AUTH, "AES key unwrap: integrity check failed");
  } else {
    craton_throw_openssl(env, CRATON_E_LIBRARY,
                         wrap ? "AES key wrap" : "AES key unwrap");
  }
  if (tmp != NULL) {
    craton_wipe(tmp, cap + 16);
    free(tmp);
  }
  return result;
}

static napi_value js_key_wrap(napi_env env, napi_callback_info info) {
  return key_wrap(env, info, true);
}

static napi_value js_key_unwrap(napi_env env, napi_callback_info info) {
  return key_wrap(env, info, false);
}

/* ---- MACs -------------------------------------------------------------- */

typedef struct {
  uint32_t magic;
  sym_state state;
  size_t length;
#if defined(CRATON_CRYPTO_LIB_AWSLC)
  /* AWS-LC has no EVP_MAC: HMAC_CTX or CMAC_CTX; ctx is whichever is set. */
  HMAC_CTX *hctx;
  CMAC_CTX *cctx;
  void *ctx;
#else
  EVP_MAC_CTX *ctx;
#endif
} craton_mac;

static void mac_release(craton_mac *m) {
#if defined(CRATON_CRYPTO_LIB_AWSLC)
  HMAC_CTX_free(m->hctx); /* both cleanse the keyed state */
  CMAC_CTX_free(m->cctx);
  m->hctx = NULL;
  m->cctx = NULL;
  m->ctx = NULL;
#else
  if (m->ctx != NULL) {
    EVP_MAC_CTX_free(m->ctx); /* cleanses the keyed state */
    m->ctx = NULL;
  }
#endif
}

static void mac_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  craton_mac *m = (craton_mac *)data;
  if (m == NULL) return;
  mac_release(m);
  m->magic = 0;
  m->state = ST_FREED;
  free(m);
}

static craton_mac *mac_unwrap(napi_env env, napi_value v) {
  craton_mac *p = (craton_mac *)craton_external_of(env, v, &MAC_TAG);
  if (p == NULL || p->magic != MAC_MAGIC) {
    craton_throw(env, CRATON_E_ARGUMENT, "not a MAC handle");
    return NULL;
  }
  return p;
}

static craton_mac *mac_active(napi_env env, napi_value v) {
  craton_mac *m = mac_unwrap(env, v);
  if (m == NULL) return NULL;
  if (m->state != ST_ACTIVE || m->ctx == NULL) {
    craton_throw(env, CRATON_E_STATE, "MAC context is %s",
                 m->state == ST_FINISHED ? "finished" : "freed");
    return NULL;
  }
  return m;
}

/* macNew(kind: 'hmac' | 'cmac', digest: string (hmac; ignored for cmac), key)
 * -> handle */
static napi_value js_mac_new(napi_env env, napi_callback_info info) {
  napi_value argv[3], ext;
  char kind[8];
  const uint8_t *key;
  size_t key_len;
  const sym_digest *dg = NULL;
  const EVP_MD *md = NULL;
  bool hmac;

  if (!craton_get_args(env, info, 3, argv)) return NULL;
  if (!get_name(env, argv[0], "MAC algorithm", kind, sizeof kind)) return NULL;
  if (strcmp(kind, "hmac") == 0) {
    hmac = true;
  } else if (strcmp(kind, "cmac") == 0) {
    hmac = false;
  } else {
    craton_throw(env, CRATON_E_ALGORITHM, "unsupported MAC '%s'", kind);
    return NULL;
  }
  if (hmac && (dg = get_digest(env, argv[1], &md)) == NULL) return NULL;
  if (!get_input(env, argv[2], "key", &key, &key_len)) return NULL;
  if (!hmac && !aes_key_ok(env, key_len)) return NULL;

#if defined(CRATON_CRYPTO_LIB_AWSLC)
  static const uint8_t no_key[1] = {0};
  HMAC_CTX *hctx = NULL;
  CMAC_CTX *cctx = NULL;
  bool init_ok;
  if (hmac) {
    hctx = HMAC_CTX_new();
    init_ok = hctx != NULL &&
              HMAC_Init_ex(hctx, key_len ? key : no_key, key_len, md, NULL) == 1;
  } else {
    static const cipher_getter CBC[3] = {EVP_aes_128_cbc, EVP_aes_192_cbc,
                                         EVP_aes_256_cbc};
    cctx = CMAC_CTX_new();
    init_ok = cctx != NULL && CMAC_Init(cctx, key, key_len,
                                        CBC[(key_len - 16) / 8](), NULL) == 1;
  }
  if (!init_ok) {
    HMAC_CTX_free(hctx);
    CMAC_CTX_free(cctx);
    craton_throw_openssl(env, CRATON_E_LIBRARY, hmac ? "HMAC init" : "CMAC init");
    return NULL;
  }
#else
  OSSL_PARAM params[2];
  if (hmac) {
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                                 (char *)dg->ossl, 0);
  } else {
    static const char *const CBC[3] = {"AES-128-CBC", "AES-192-CBC",
                                       "AES-256-CBC"};
    params[0] = OSSL_PARAM_construct_utf8_string(
        OSSL_MAC_PARAM_CIPHER, (char *)CBC[(key_len - 16) / 8], 0);
  }
  params[1] = OSSL_PARAM_construct_end();

  EVP_MAC *mac = EVP_MAC_fetch(NULL, hmac ? "HMAC" : "CMAC", NULL);
  EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
  EVP_MAC_free(mac); /* the context keeps its own reference */
  /* Some libcrypto versions refuse a NULL/empty key pointer: give a real one. */
  static const uint8_t no_key[1] = {0};
  if (ctx == NULL ||
      EVP_MAC_init(ctx, key_len ? key : no_key, key_len, params) != 1) {
    EVP_MAC_CTX_free(ctx);
    craton_throw_openssl(env, CRATON_E_LIBRARY, hmac ? "HMAC init" : "CMAC init");
    return NULL;
  }
#endif

  craton_mac *m = (craton_mac *)calloc(1, sizeof *m);
  if (m == NULL) {
#if defined(CRATON_CRYPTO_LIB_AWSLC)
    HMAC_CTX_free(hctx);
    CMAC_CTX_free(cctx);
#else
    EVP_MAC_CTX_free(ctx);
#endif
    craton_throw(env, CRATON_E_LIBRARY, "out of memory");
    return NULL;
  }
  m->magic = MAC_MAGIC;
  m->state = ST_ACTIVE;
#if defined(CRATON_CRYPTO_LIB_AWSLC)
  m->hctx = hctx;
  m->cctx = cctx;
  m->ctx = hmac ? (void *)hctx : (void *)cctx;
#else
  m->ctx = ctx;
#endif
  m->length = hmac ? (size_t)EVP_MD_get_size(md) : AES_BLOCK;
  if (napi_create_external(env, m, mac_finalize, NULL, &ext) != napi_ok) {
    mac_finalize(env, m, NULL);
    craton_throw(env, CRATON_E_LIBRARY, "cannot create MAC handle");
    return NULL;
  }
  if (napi_type_tag_object(env, ext, &MAC_TAG) != napi_ok) {
    mac_release(m);
    m->state = ST_FREED;
    craton_throw(env, CRATON_E_LIBRARY, "cannot type-tag MAC handle");
    return NULL;
  }
  return ext;
}

/* macUpdate(h, data) */
static napi_value js_mac_update(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  const uint8_t *data;
  size_t len;
  if (!craton_get_args(env, info, 2, argv)) return NULL;
  craton_mac *m = mac_active(env, argv[0]);
  if (m == NULL) return NULL;
  if (!get_input(env, argv[1], "data", &data, &len)) return NULL;
#if defined(CRATON_CRYPTO_LIB_AWSLC)
  int upd = len == 0 ? 1
            : m->hctx != NULL ? HMAC_Update(m->hctx, data, len)
                              : CMAC_Update(m->cctx, data, len);
  if (upd != 1) {
#else
  if (len > 0 && EVP_MAC_update(m->ctx, data, len) != 1) {
#endif
    mac_release(m);
    m->state = ST_FINISHED;
    craton_throw_openssl(env, CRATON_E_LIBRARY, "EVP_MAC_update");
    return NULL;
  }
  return craton_undefined(env);
}

/* macFinal(h) -> Uint8Array of the full MAC; the context is finished. */
static napi_value js_mac_final(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  uint8_t out[EVP_MAX_MD_SIZE];
  size_t outlen = 0;
  if (!craton_get_args(env, info, 1, argv)) return NULL;
  craton_mac *m = mac_active(env, argv[0]);
  if (m == NULL) return NULL;
#if defined(CRATON_CRYPTO_LIB_AWSLC)
  int ok;
  if (m->hctx != NULL) {
    unsigned int hl = 0;
    ok = HMAC_Final(m->hctx, out, &hl);
    outlen = hl;
  } else {
    ok = CMAC_Final(m->cctx, out, &outlen);
  }
#else
  int ok = EVP_MAC_final(m->ctx, out, &outlen, sizeof out);
#endif
  mac_release(m);
  m->state = ST_FINISHED;
  if (ok != 1 || outlen != m->length) {
    craton_wipe(out, sizeof out);
    craton_throw_openssl(env, CRATON_E_LIBRARY, "EVP_MAC_final");
    return NULL;
  }
  napi_value result = craton_uint8array_from(env, out, outlen);
  craton_wipe(out, sizeof out);
  return result;
}

/* macFree(h): idempotent */
static napi_value js_mac_free(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!craton_get_args(env, info, 1, argv)) return NULL;
  craton_mac *m = mac_unwrap(env, argv[0]);
  if (m == NULL) return NULL;
  mac_release(m);
  m->state = ST_FREED;
  return craton_undefined(env);
}

/* ---- HKDF (RFC 5869) --------------------------------------------------- */

/* OpenSSL 3.0's HKDF keeps at most 1024 bytes of info; longer info is
 * expanded here over HMAC (RFC 5869 section 2.3). */
#define HKDF_EVP_MAX_INFO 1024u

#if defined(CRATON_CRYPTO_LIB_AWSLC)
/* AWS-LC has no EVP_KDF: HKDF / HKDF_extract / HKDF_expand (no info limit,
 * so hkdf_expand_hmac() is simply HKDF_expand). */
static bool hkdf_evp(int kmode, const sym_digest *dg, const uint8_t *key,
                     size_t key_len, const uint8_t *salt, size_t salt_len,
                     const uint8_t *inf, size_t info_len, uint8_t *out,
                     size_t len) {
  const EVP_MD *md = dg->get();
  if (kmode == EVP_KDF_HKDF_MODE_EXTRACT_ONLY) {
    size_t got = 0;
    return HKDF_extract(out, &got, md, key, key_len, salt, salt_len) == 1 &&
           got == len;
  }
  if (kmode == EVP_KDF_HKDF_MODE_EXPAND_ONLY)
    return HKDF_expand(out, len, md, key, key_len, inf, info_len) == 1;
  return HKDF(out, len, md, key, key_len, salt, salt_len, inf, info_len) == 1;
}

static bool hkdf_expand_hmac(const sym_digest *dg, size_t hlen,
                             const uint8_t *prk, size_t prk_len,
                             const uint8_t *inf, size_t info_len, uint8_t *out,
                             size_t len) {
  (void)hlen;
  return HKDF_expand(out, len, dg->get(), prk, prk_len, inf, info_len) == 1;
}
#else
static bool hkdf_evp(int kmode, const sym_digest *dg, const uint8_t *key,
                     size_t key_len, const uint8_t *salt, size_t salt_len,
                     const uint8_t *inf, size_t info_len, uint8_t *out,
                     size_t len) {
  OSSL_PARAM params[6];
  size_t np = 0;
  params[np++] = OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &kmode);
  params[np++] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
                                                  (char *)dg->ossl, 0);
  params[np++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
                                                   (void *)key, key_len);
  if (kmode != EVP_KDF_HKDF_MODE_EXPAND_ONLY)
    params[np++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
                                                     (void *)salt, salt_len);
  if (kmode != EVP_KDF_HKDF_MODE_EXTRACT_ONLY && info_len > 0)
    params[np++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
                                                     (void *)inf, info_len);
  params[np] = OSSL_PARAM_construct_end();

  EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
  EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
  bool ok = ctx != NULL && EVP_KDF_derive(ctx, out, len, params) == 1;
  EVP_KDF_CTX_free(ctx); /* cleanses its copies of key, salt and info */
  EVP_KDF_free(kdf);
  return ok;
}

static bool hkdf_expand_hmac(const sym_digest *dg, size_t hlen,
                             const uint8_t *prk, size_t prk_len,
                             const uint8_t *inf, size_t info_len, uint8_t *out,
                             size_t len) {
  static const uint8_t no_key[1] = {0};
  uint8_t t[EVP_MAX_MD_SIZE];
  size_t tlen = 0, done = 0;
  OSSL_PARAM params[2] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)dg->ossl,
                                       0),
      OSSL_PARAM_construct_end(),
  };
  EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
  EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
  EVP_MAC_free(mac);
  bool ok = ctx != NULL && hlen <= sizeof t;
  for (unsigned i = 1; ok && done < len; i++) {
    uint8_t counter = (uint8_t)i;
    size_t got = 0;
    ok = EVP_MAC_init(ctx, prk_len ? prk : no_key, prk_len, params) == 1 &&
         (tlen == 0 || EVP_MAC_update(ctx, t, tlen) == 1) &&
         EVP_MAC_update(ctx, inf, info_len) == 1 &&
         EVP_MAC_update(ctx, &counter, 1) == 1 &&
         EVP_MAC_final(ctx, t, &got, sizeof t) == 1 && got == hlen;
    if (ok) {
      size_t take = len - done < hlen ? len - done : hlen;
      memcpy(out + done, t, take);
      done += take;
      tlen = hlen;
    }
  }
  craton_wipe(t, sizeof t);
  EVP_MAC_CTX_free(ctx);
  return ok;
}
#endif

/*
 * hkdf(mode, digest, key, salt, info, length) -> Uint8Array
 *   mode 'extract-expand': key = IKM; 'extract': key = IKM, info ignored,
 *   length must be the digest length; 'expand': key = PRK, salt ignored.
 */
static napi_value js_hkdf(napi_env env, napi_callback_info info) {
  napi_value argv[6];
  char mode[16];
  const uint8_t *key, *salt, *inf;
  size_t key_len, salt_len, info_len;
  int64_t length = 0;
  const EVP_MD *md = NULL;
  int kmode;
  uint8_t *out = NULL;

  if (!craton_get_args(env, info, 6, argv)) return NULL;
  if (!get_name(env, argv[0], "HKDF mode", mode, sizeof mode)) return NULL;
  if (strcmp(mode, "extract-expand") == 0) {
    kmode = EVP_KDF_HKDF_MODE_EXTRACT_AND_EXPAND;
  } else if (strcmp(mode, "extract") == 0) {
    kmode = EVP_KDF_HKDF_MODE_EXTRACT_ONLY;
  } else if (strcmp(mode, "expand") == 0) {
    kmode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
  } else {
    craton_throw(env, CRATON_E_ALGORITHM, "unsupported HKDF mode '%s'", mode);
    return NULL;
  }
  const sym_digest *dg = get_digest(env, argv[1], &md);
  if (dg == NULL) return NULL;
  if (!get_input(env, argv[2], "key", &key, &key_len) ||
      !get_input(env, argv[3], "salt", &salt, &salt_len) ||
      !get_input(env, argv[4], "info", &inf, &info_len) ||
      !craton_get_integer(env, argv[5], "length", 1, 255 * 64, &length))
    return NULL;
  size_t hlen = (size_t)EVP_MD_get_size(md);
  if (kmode == EVP_KDF_HKDF_MODE_EXTRACT_ONLY && (size_t)length != hlen) {
    craton_throw(env, CRATON_E_ARGUMENT,
                 "HKDF extract gives exactly %zu bytes with %s", hlen,
                 dg->name);
    return NULL;
  }
  if ((size_t)length > 255 * hlen) {
    craton_throw(env, CRATON_E_ARGUMENT,
                 "HKDF expand gives at most %zu bytes with %s", 255 * hlen,
                 dg->name);
    return NULL;
  }
  napi_value result = craton_new_uint8array(env, (size_t)length, &out);
  if (result == NULL) return NULL;

  bool ok;
  if (kmode == EVP_KDF_HKDF_MODE_EXTRACT_ONLY || info_len <= HKDF_EVP_MAX_INFO) {
    ok = hkdf_evp(kmode, dg, key, key_len, salt, salt_len, inf, info_len, out,
                  (size_t)length);
  } else if (kmode == EVP_KDF_HKDF_MODE_EXPAND_ONLY) {
    ok = hkdf_expand_hmac(dg, hlen, key, key_len, inf, info_len, out,
                          (size_t)length);
  } else {
    uint8_t prk[EVP_MAX_MD_SIZE];
    ok = hkdf_evp(EVP_KDF_HKDF_MODE_EXTRACT_ONLY, dg, key, key_len, salt,
                  salt_len, NULL, 0, prk, hlen) &&
         hkdf_expand_hmac(dg, hlen, prk, hlen, inf, info_len, out,
                          (size_t)length);
    craton_wipe(prk, sizeof prk);
  }
  if (!ok) {
    craton_wipe(out, (size_t)length);
    craton_throw_openssl(env, CRATON_E_LIBRARY, "HKDF");
    return NULL;
  }
  return result;
}

/* ---- PBKDF2 on the libuv pool ----------------------------------------- */

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  const EVP_MD *md;
  uint8_t *password;
  size_t password_len;
  uint8_t *salt;
  size_t salt_len;
  int iterations;
  uint8_t *out;
  size_t out_len;
  int ok;
  char error[512];
} pbkdf2_job;

static void pbkdf2_job_free(pbkdf2_job *job) {
  if (job == NULL) return;
  wipe_free(&job->password, job->password_len + 1);
  wipe_free(&job->salt, job->salt_len + 1);
  wipe_free(&job->out, job->out_len);
  craton_wipe(job, sizeof *job);
  free(job);
}

static void pbkdf2_execute(napi_env env, void *data) {
  (void)env; /* no JS here */
  pbkdf2_job *job = (pbkdf2_job *)data;
  job->ok = PKCS5_PBKDF2_HMAC((const char *)job->password,
                              (int)job->password_len, job->salt,
                              (int)job->salt_len, job->iterations, job->md,
                              (int)job->out_len, job->out) == 1;
  craton_wipe(job->password, job->password_len + 1);
  if (!job->ok) craton_openssl_errors(job->error, sizeof job->error);
}

static void pbkdf2_complete(napi_env env, napi_status status, void *data) {
  pbkdf2_job *job = (pbkdf2_job *)data;
  napi_value result = NULL;
  bool resolve = false;
  if (status == napi_cancelled) {
    result = craton_make_error(env, CRATON_E_STATE, "pbkdf2 cancelled");
  } else if (status != napi_ok || !job->ok) {
    char msg[640];
    snprintf(msg, sizeof msg, "PKCS5_PBKDF2_HMAC: %s",
             job->ok ? "async work failed" : job->error);
    result = craton_make_error(env, CRATON_E_LIBRARY, msg);
  } else {
    napi_value ab;
    void *p = NULL;
    if (napi_create_arraybuffer(env, job->out_len, &p, &ab) == napi_ok &&
        p != NULL &&
        napi_create_typedarray(env, napi_uint8_array, job->out_len, ab, 0,
                               &result) == napi_ok) {
      memcpy(p, job->out, job->out_len);
      resolve = true;
    } else {
      result = craton_make_error(env, CRATON_E_LIBRARY,
                                 "cannot allocate the pbkdf2 result");
    }
  }
  if (result == NULL) {
    result = craton_undefined(env);
    resolve = false;
  }
  if (result != NULL) {
    if (resolve)
      napi_resolve_deferred(env, job->deferred, result);
    else
      napi_reject_deferred(env, job->deferred, result);
  }
  napi_delete_async_work(env, job->work);
  pbkdf2_job_free(job);
}

/* pbkdf2(digest, password, salt, iterations, length) -> Promise<Uint8Array> */
static napi_value js_pbkdf2(napi_env env, napi_callback_info info) {
  napi_value argv[5], promise, name;
  const uint8_t *pw, *salt;
  size_t pwlen, saltlen;
  int64_t iterations, length;
  const EVP_MD *md = NULL;

  if (!craton_get_args(env, info, 5, argv)) return NULL;
  if (get_digest(env, argv[0], &md) == NULL) return NULL;
  if (!get_input(env, argv[1], "password", &pw, &pwlen) ||
      !get_input(env, argv[2], "salt", &salt, &saltlen) ||
      !craton_get_integer(env, argv[3], "iterations", 1,
                          CRATON_PBKDF2_MAX_ITER, &iterations) ||
      !craton_get_integer(env, argv[4], "length", 1, CRATON_PBKDF2_MAX_OUT,
                          &length))
    return NULL;

  pbkdf2_job *job = (pbkdf2_job *)calloc(1, sizeof *job);
  if (job == NULL) {
    craton_throw(env, CRATON_E_LIBRARY, "out of memory");
    return NULL;
  }
  job->md = md;
  job->password_len = pwlen;
  job->salt_len = saltlen;
  job->iterations = (int)iterations;
  job->out_len = (size_t)length;
  job->password = (uint8_t *)malloc(pwlen + 1);
  job->salt = (uint8_t *)malloc(saltlen + 1);
  job->out = (uint8_t *)malloc(job->out_len);
  if (job->password == NULL || job->salt == NULL || job->out == NULL) {
    pbkdf2_job_free(job);
    craton_throw(env, CRATON_E_LIBRARY, "out of memory");
    return NULL;
  }
  if (pwlen) memcpy(job->password, pw, pwlen);
  job->password[pwlen] = 0;
  if (saltlen) memcpy(job->salt, salt, saltlen);

  if (napi_create_string_utf8(env, "craton:pbkdf2", NAPI_AUTO_LENGTH, &name) !=
          napi_ok ||
      napi_create_promise(env, &job->deferred, &promise) != napi_ok) {
    pbkdf2_job_free(job);
    craton_throw(env, CRATON_E_LIBRARY, "cannot create promise");
    return NULL;
  }
  if (napi_create_async_work(env, NULL, name, pbkdf2_execute, pbkdf2_complete,
                             job, &job->work) != napi_ok) {
    napi_value err =
        craton_make_error(env, CRATON_E_LIBRARY, "cannot create async work");
    napi_reject_deferred(env, job->deferred, err ? err : craton_undefined(env));
    pbkdf2_job_free(job);
    return promise;
  }
  if (napi_queue_async_work(env, job->work) != napi_ok) {
    napi_value err =
        craton_make_error(env, CRATON_E_LIBRARY, "cannot queue async work");
    napi_reject_deferred(env, job->deferred, err ? err : craton_undefined(env));
    napi_delete_async_work(env, job->work);
    pbkdf2_job_free(job);
    return promise;
  }
  return promise;
}

/* ---- registration ------------------------------------------------------ */

#define FN(name, fn) {name, NULL, fn, NULL, NULL, NULL, napi_enumerable, NULL}

bool craton_register_symmetric(napi_env env, napi_value exports) {
  const napi_property_descriptor props[] = {
      FN("cipherNew", js_cipher_new),
      FN("cipherUpdate", js_cipher_update),
      FN("cipherFinal", js_cipher_final),
      FN("cipherUpdateSize", js_cipher_update_size),
      FN("cipherFinalSize", js_cipher_final_size),
      FN("cipherFree", js_cipher_free),
      FN("aesKeyWrap", js_key_wrap),
      FN("aesKeyUnwrap", js_key_unwrap),
      FN("macNew", js_mac_new),
      FN("macUpdate", js_mac_update),
      FN("macFinal", js_mac_final),
      FN("macFree", js_mac_free),
      FN("hkdf", js_hkdf),
      FN("pbkdf2", js_pbkdf2),
  };
  return napi_define_properties(env, exports, sizeof props / sizeof props[0],
                                props) == napi_ok;
}
