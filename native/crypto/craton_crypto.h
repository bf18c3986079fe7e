/*
 * Craton HSM - libcrypto N-API addon (craton_crypto).
 *
 * Shared declarations for the per-concern translation units:
 *   init.c    module registration, libraryInfo()
 *   digest.c  EVP_MD_CTX handles and one-shot digests
 *   random.c  RAND_bytes
 *   aead.c    AES-256-GCM seal/open and HKDF-SHA256 (encryption at rest)
 *   symmetric.c  ciphers, MACs and KDFs for the mechanisms
 *   asymmetric.c key pairs (EVP_PKEY handles), signatures, RSA encryption, ECDH
 *   util.c    argument checking, errors (with the OpenSSL error queue), wiping
 *
 * C11, Node-API only (no node-addon-api, no V8/node internals) so that one
 * binary loads in every runtime that offers Node-API version 8 (Node >= 18,
 * including an embedded libnode).
 */
#ifndef CRATON_CRYPTO_H
#define CRATON_CRYPTO_H

#ifndef NAPI_VERSION
#define NAPI_VERSION 8
#endif

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Included as <node/node_api.h> on purpose: binding.gyp removes
 * <node_root_dir>/include/node from the include path, because that directory
 * also holds node's bundled OpenSSL headers (include/node/openssl/...), which
 * would otherwise shadow the headers of the libcrypto we actually link.
 */
#include <node/node_api.h>

/* Error codes carried as the `code` property of thrown Errors. */
#define CRATON_E_ALGORITHM "ALGORITHM_UNSUPPORTED"
#define CRATON_E_STATE "STATE"
#define CRATON_E_ARGUMENT "ARGUMENT"
#define CRATON_E_LIBRARY "LIBRARY"
#define CRATON_E_AUTH "AUTH" /* authenticated decryption failed */

/* Limits. */
#define CRATON_RANDOM_MAX (1024u * 1024u)     /* randomBytes(n): n <= 1 MiB */
#define CRATON_PBKDF2_MAX_OUT (64u * 1024u)   /* derived key length */
#define CRATON_PBKDF2_MAX_ITER 0x7fffffffLL   /* fits the int of the API */

/* ---- util.c ---------------------------------------------------------- */

/* Throw Error(message) with .code = code, unless an exception is pending.
 * Always clears the OpenSSL error queue of this thread. */
void craton_throw(napi_env env, const char *code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Throw a LIBRARY (or given code) error: "<what>: <OpenSSL error queue>". */
void craton_throw_openssl(napi_env env, const char *code, const char *what);

/* Render and drain this thread's OpenSSL error queue into buf. */
void craton_openssl_errors(char *buf, size_t buflen);

/* Create Error(message) with .code (for promise rejection). NULL on failure. */
napi_value craton_make_error(napi_env env, const char *code, const char *msg);

/* Fetch exactly `n` arguments (more are ignored); throws ARGUMENT if fewer. */
bool craton_get_args(napi_env env, napi_callback_info info, size_t n,
                     napi_value *argv);

/* A Uint8Array (Buffer included), not detached.  *data is never NULL. */
bool craton_get_bytes(napi_env env, napi_value v, const char *name,
                      const uint8_t **data, size_t *len);

/* An integral JS number in [min, max]. */
bool craton_get_integer(napi_env env, napi_value v, const char *name,
                        int64_t min, int64_t max, int64_t *out);

/* A JS string of at most bufsize-1 UTF-8 bytes, NUL terminated. */
bool craton_get_string(napi_env env, napi_value v, const char *name, char *buf,
                       size_t bufsize);

/* New Uint8Array of len bytes; *data points into its backing store. */
napi_value craton_new_uint8array(napi_env env, size_t len, uint8_t **data);

/* Same, initialised from src. */
napi_value craton_uint8array_from(napi_env env, const uint8_t *src, size_t len);

/* Zeroise memory in a way the compiler cannot elide (OPENSSL_cleanse). */
void craton_wipe(void *p, size_t len);

/* The native object behind an external carrying this type tag, or NULL if v
 * is anything else (no exception is thrown: the caller names what it wanted). */
void *craton_external_of(napi_env env, napi_value v, const napi_type_tag *tag);

/* napi_undefined (or NULL if even that failed). */
napi_value craton_undefined(napi_env env);

/* ---- registration (one per concern) ----------------------------------- */

bool craton_register_digest(napi_env env, napi_value exports);
bool craton_register_random(napi_env env, napi_value exports);
bool craton_register_aead(napi_env env, napi_value exports);
bool craton_register_symmetric(napi_env env, napi_value exports);
bool craton_register_asymmetric(napi_env env, napi_value exports);

#endif /* CRATON_CRYPTO_H */
