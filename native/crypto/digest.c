/*
 * digest.c - message digests over EVP_MD_CTX.
 *
 * A handle is a napi external wrapping a craton_digest, type-tagged with
 * DIGEST_TAG.  The EVP_MD_CTX is freed by digestFree() (idempotent) or, if
 * JS forgot, by the external's finalizer.  The struct itself is owned by the
 * external and only released by the finalizer, so a freed handle stays a
 * valid object that reports STATE instead of being a dangling pointer.
 */
#include "craton_crypto.h"

#include <string.h>
#include <stdlib.h>

#include <openssl/evp.h>

#define DIGEST_MAGIC 0x43524447u /* "CRDG" */

/* Random 128-bit tag, unique to this addon's digest handles. */
static const napi_type_tag DIGEST_TAG = {0x8a3c5e1f2b6d4790ULL,
                                         0xb41e93c7d25a68f1ULL};

typedef enum {
  DIGEST_ACTIVE = 0,
  DIGEST_FINISHED = 1,
  DIGEST_FREED = 2
} digest_state;

typedef struct {
  uint32_t magic;
  digest_state state;
  const EVP_MD *md;
  EVP_MD_CTX *ctx;
} craton_digest;

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

/* Resolve an algorithm name argument; throws on failure. */
static const EVP_MD *get_md(napi_env env, napi_value v) {
  char name[32];
  if (!craton_get_string(env, v, "algorithm", name, sizeof name)) {
    bool pending = false;
    napi_valuetype t;
    /* A too-long string is an unknown algorithm, not an argument error. */
    if (napi_typeof(env, v, &t) == napi_ok && t == napi_string &&
        napi_is_exception_pending(env, &pending) == napi_ok && pending) {
      napi_value ignored;
      napi_get_and_clear_last_exception(env, &ignored);
      craton_throw(env, CRATON_E_ALGORITHM, "unsupported digest algorithm");
    }
    return NULL;
  }
  for (size_t i = 0; i < sizeof DIGESTS / sizeof DIGESTS[0]; i++) {
    if (strcmp(name, DIGESTS[i].name) == 0) {
      const EVP_MD *md = DIGESTS[i].get();
      if (md == NULL) {
        craton_throw_openssl(env, CRATON_E_ALGORITHM, name);
        return NULL;
      }
      return md;
    }
  }
  craton_throw(env, CRATON_E_ALGORITHM, "unsupported digest algorithm '%s'",
               name);
  return NULL;
}

static void digest_release_ctx(craton_digest *d) {
  if (d->ctx != NULL) {
    EVP_MD_CTX_free(d->ctx); /* also cleanses the digest state */
    d->ctx = NULL;
  }
}

static void digest_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  craton_digest *d = (craton_digest *)data;
  if (d == NULL) return;
  digest_release_ctx(d);
  d->magic = 0;
  d->state = DIGEST_FREED;
  free(d);
}

/* Wrap a fresh context in a new tagged external.  Takes ownership of ctx
 * (frees it on failure).  Returns NULL with an exception pending on error. */
static napi_value digest_wrap(napi_env env, const EVP_MD *md, EVP_MD_CTX *ctx) {
  napi_value ext;
  craton_digest *d = (craton_digest *)calloc(1, sizeof *d);
  if (d == NULL) {
    EVP_MD_CTX_free(ctx);
    craton_throw(env, CRATON_E_LIBRARY, "out of memory");
    return NULL;
  }
  d->magic = DIGEST_MAGIC;
  d->state = DIGEST_ACTIVE;
  d->md = md;
  d->ctx = ctx;
  if (napi_create_external(env, d, digest_finalize, NULL, &ext) != napi_ok) {
    digest_finalize(env, d, NULL);
    craton_throw(env, CRATON_E_LIBRARY, "cannot create digest handle");
    return NULL;
  }
  /* From here the finalizer owns d. */
  if (napi_type_tag_object(env, ext, &DIGEST_TAG) != napi_ok) {
    digest_release_ctx(d);
    d->state = DIGEST_FREED;
    craton_throw(env, CRATON_E_LIBRARY, "cannot type-tag digest handle");
    return NULL;
  }
  return ext;
}

/* Unwrap a digest handle (any state); throws ARGUMENT if it is not one. */
static craton_digest *digest_unwrap(napi_env env, napi_value v) {
  craton_digest *p = (craton_digest *)craton_external_of(env, v, &DIGEST_TAG);
  if (p == NULL || p->magic != DIGEST_MAGIC) {
    craton_throw(env, CRATON_E_ARGUMENT, "not a digest handle");
    return NULL;
  }
  return p;
}

/* Unwrap and require an ACTIVE context; throws STATE otherwise. */
static craton_digest *digest_active(napi_env env, napi_value v) {
  craton_digest *d = digest_unwrap(env, v);
  if (d == NULL) return NULL;
  if (d->state != DIGEST_ACTIVE || d->ctx == NULL) {
    craton_throw(env, CRATON_E_STATE, "digest context is %s",
                 d->state == DIGEST_FINISHED ? "finished" : "freed");
    return NULL;
  }
  return d;
}

/* digestNew(alg) -> handle */
static napi_value js_digest_new(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!craton_get_args(env, info, 1, argv)) return NULL;
  const EVP_MD *md = get_md(env, argv[0]);
  if (md == NULL) return NULL;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  if (ctx == NULL) {
    craton_throw_openssl(env, CRATON_E_LIBRARY, "EVP_MD_CTX_new");
    return NULL;
  }
  if (EVP_DigestInit_ex(ctx, md, NULL) != 1) {
    EVP_MD_CTX_free(ctx);
    craton_throw_openssl(env, CRATON_E_LIBRARY, "EVP_DigestInit_ex");
    return NULL;
  }
  return digest_wrap(env, md, ctx);
}

/* digestUpdate(h, data) */
static napi_value js_digest_update(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  const uint8_t *data;
  size_t len;
  if (!craton_get_args(env, info, 2, argv)) return NULL;
  craton_digest *d = digest_active(env, argv[0]);
  if (d == NULL) return NULL;
  if (!craton_get_bytes(env, argv[1], "data", &data, &len)) return NULL;
  if (len > 0 && EVP_DigestUpdate(d->ctx, data, len) != 1) {
    craton_throw_openssl(env, CRATON_E_LIBRARY, "EVP_DigestUpdate");
    return NULL;
  }
  return craton_undefined(env);
}

/* digestFinal(h) -> Uint8Array; the context is unusable afterwards. */
static napi_value js_digest_final(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  if (!craton_get_args(env, info, 1, argv)) return NULL;
  craton_digest *d = digest_active(env, argv[0]);
  if (d == NULL) return NULL;
  int ok = EVP_DigestFinal_ex(d->ctx, md, &mdlen);
  d->state = DIGEST_FINISHED;
  if (ok != 1) {
    craton_throw_openssl(env, CRATON_E_LIBRARY, "EVP_DigestFinal_ex");
    return NULL;
  }
  napi_value out = craton_uint8array_from(env, md, mdlen);
  craton_wipe(md, sizeof md);
  return out;
}

/* digestCopy(h) -> new handle with a copy of the running state. */
static napi_value js_digest_copy(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!craton_get_args(env, info, 1, argv)) return NULL;
  craton_digest *d = digest_active(env, argv[0]);
  if (d == NULL) return NULL;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  if (ctx == NULL) {
    craton_throw_openssl(env, CRATON_E_LIBRARY, "EVP_MD_CTX_new");
    return NULL;
  }
  if (EVP_MD_CTX_copy_ex(ctx, d->ctx) != 1) {
    EVP_MD_CTX_free(ctx);
    craton_throw_openssl(env, CRATON_E_LIBRARY, "EVP_MD_CTX_copy_ex");
    return NULL;
  }
  return digest_wrap(env, d->md, ctx);
}

/* digestFree(h): idempotent. */
static napi_value js_digest_free(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!craton_get_args(env, info, 1, argv)) return NULL;
  craton_digest *d = digest_unwrap(env, argv[0]);
  if (d == NULL) return NULL;
  digest_release_ctx(d);
  d->state = DIGEST_FREED;
  return craton_undefined(env);
}

/* digestOneShot(alg, data) -> Uint8Array */
static napi_value js_digest_oneshot(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  const uint8_t *data;
  size_t len;
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  if (!craton_get_args(env, info, 2, argv)) return NULL;
  const EVP_MD *alg = get_md(env, argv[0]);
  if (alg == NULL) return NULL;
  if (!craton_get_bytes(env, argv[1], "data", &data, &len)) return NULL;
  if (EVP_Digest(data, len, md, &mdlen, alg, NULL) != 1) {
    craton_throw_openssl(env, CRATON_E_LIBRARY, "EVP_Digest");
    return NULL;
  }
  napi_value out = craton_uint8array_from(env, md, mdlen);
  craton_wipe(md, sizeof md);
  return out;
}

bool craton_register_digest(napi_env env, napi_value exports) {
  const napi_property_descriptor props[] = {
      {"digestNew", NULL, js_digest_new, NULL, NULL, NULL, napi_enumerable,
       NULL},
      {"digestUpdate", NULL, js_digest_update, NULL, NULL, NULL,
       napi_enumerable, NULL},
      {"digestFinal", NULL, js_digest_final, NULL, NULL, NULL, napi_enumerable,
       NULL},
      {"digestCopy", NULL, js_digest_copy, NULL, NULL, NULL, napi_enumerable,
       NULL},
      {"digestFree", NULL, js_digest_free, NULL, NULL, NULL, napi_enumerable,
       NULL},
      {"digestOneShot", NULL, js_digest_oneshot, NULL, NULL, NULL,
       napi_enumerable, NULL},
  };
  return napi_define_properties(env, exports, sizeof props / sizeof props[0],
                                props) == napi_ok;
}
