/*
 * init.c - module registration and libraryInfo().
 *
 * libraryInfo() asks the libcrypto that is bound at run time (not the headers
 * we compiled against) who it is, and, where the platform has dladdr(), which
 * loaded object each key entry point was resolved to.  On Linux both builds
 * link a static libcrypto with hidden symbols, so every entry point is the
 * addon's own (`boundTo` is the addon); a dynamically linked build under a
 * `node` binary that exports its bundled OpenSSL could be satisfied by node's
 * copy instead: `boundTo` / `symbols` show that, and `consistent` is false if
 * the entry points come from more than one object (objects of one copy passed
 * to the other would be unsafe).
 */
#include "craton_crypto.h"

#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/opensslv.h>
#include <openssl/rand.h>

#if defined(__unix__) || defined(__APPLE__)
#include <dlfcn.h>
#include <limits.h>
#include <stdlib.h>
#define CRATON_HAVE_DLADDR 1
#endif
#if defined(__linux__) && defined(__GLIBC__)
#include <link.h>
#define CRATON_HAVE_DLADDR1 1
#endif

#if defined(CRATON_CRYPTO_LIB_AWSLC)
#define CRATON_CONFIGURED_LIB "awslc"
#else
#define CRATON_CONFIGURED_LIB "openssl"
#endif

typedef void (*any_fn)(void);

#define PATH_MAX_OR_4096 4096

static bool set_str(napi_env env, napi_value obj, const char *key,
                    const char *val) {
  napi_value v;
  if (val == NULL) {
    if (napi_get_null(env, &v) != napi_ok) return false;
  } else if (napi_create_string_utf8(env, val, NAPI_AUTO_LENGTH, &v) !=
             napi_ok) {
    return false;
  }
  return napi_set_named_property(env, obj, key, v) == napi_ok;
}

static bool set_num(napi_env env, napi_value obj, const char *key, double d) {
  napi_value v;
  return napi_create_double(env, d, &v) == napi_ok &&
         napi_set_named_property(env, obj, key, v) == napi_ok;
}

static bool set_bool(napi_env env, napi_value obj, const char *key, bool b) {
  napi_value v;
  return napi_get_boolean(env, b, &v) == napi_ok &&
         napi_set_named_property(env, obj, key, v) == napi_ok;
}

/*
 * Path of the loaded object that defines fn, or NULL if unknown.  glibc
 * reports the main program by its argv[0]-ish name ("node"), so the main
 * program is detected through its link_map (first in the chain, no
 * predecessor) and reported as the real path of the executable.
 */
static const char *object_of(any_fn fn, char *buf, size_t buflen,
                             bool *main_program) {
  *main_program = false;
#ifdef CRATON_HAVE_DLADDR
  Dl_info dli;
  memset(&dli, 0, sizeof dli);
#ifdef CRATON_HAVE_DLADDR1
  struct link_map *lm = NULL;
  if (dladdr1((void *)(uintptr_t)fn, &dli, (void **)&lm, RTLD_DL_LINKMAP) ==
      0)
    return NULL;
  if (lm != NULL && lm->l_prev == NULL) {
    char exe[PATH_MAX];
    *main_program = true;
    if (realpath("/proc/self/exe", exe) != NULL) {
      snprintf(buf, buflen, "%s", exe);
      return buf;
    }
  }
#else
  if (dladdr((void *)(uintptr_t)fn, &dli) == 0) return NULL;
#endif
  if (dli.dli_fname == NULL) return NULL;
  snprintf(buf, buflen, "%s", dli.dli_fname);
  return buf;
#else
  (void)fn;
  (void)buf;
  (void)buflen;
  return NULL;
#endif
}

static napi_value js_library_info(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value obj, syms;
  const char *version = OpenSSL_version(OPENSSL_VERSION);
  unsigned long num = OpenSSL_version_num();
  const char *name = "OpenSSL";
  if (version == NULL) version = "";
  if (strstr(version, "AWS-LC") != NULL)
    name = "AWS-LC";
  else if (strstr(version, "BoringSSL") != NULL)
    name = "BoringSSL";

  /* The entry points this addon relies on. */
  static const struct {
    const char *name;
    any_fn fn;
  } probes[] = {
      {"OpenSSL_version", (any_fn)OpenSSL_version},
      {"OpenSSL_version_num", (any_fn)OpenSSL_version_num},
      {"EVP_MD_CTX_new", (any_fn)EVP_MD_CTX_new},
      {"EVP_MD_CTX_free", (any_fn)EVP_MD_CTX_free},
      {"EVP_MD_CTX_copy_ex", (any_fn)EVP_MD_CTX_copy_ex},
      {"EVP_DigestInit_ex", (any_fn)EVP_DigestInit_ex},
      {"EVP_DigestUpdate", (any_fn)EVP_DigestUpdate},
      {"EVP_DigestFinal_ex", (any_fn)EVP_DigestFinal_ex},
      {"EVP_Digest", (any_fn)EVP_Digest},
      {"EVP_sha1", (any_fn)EVP_sha1},
      {"EVP_sha224", (any_fn)EVP_sha224},
      {"EVP_sha256", (any_fn)EVP_sha256},
      {"EVP_sha384", (any_fn)EVP_sha384},
      {"EVP_sha512", (any_fn)EVP_sha512},
      {"EVP_sha3_224", (any_fn)EVP_sha3_224},
      {"EVP_sha3_256", (any_fn)EVP_sha3_256},
      {"EVP_sha3_384", (any_fn)EVP_sha3_384},
      {"EVP_sha3_512", (any_fn)EVP_sha3_512},
      {"RAND_bytes", (any_fn)RAND_bytes},
      {"PKCS5_PBKDF2_HMAC", (any_fn)PKCS5_PBKDF2_HMAC},
      {"ERR_get_error", (any_fn)ERR_get_error},
      {"ERR_error_string_n", (any_fn)ERR_error_string_n},
      {"ERR_clear_error", (any_fn)ERR_clear_error},
      {"OPENSSL_cleanse", (any_fn)OPENSSL_cleanse},
  };

  if (napi_create_object(env, &obj) != napi_ok ||
      napi_create_object(env, &syms) != napi_ok)
    goto fail;
  if (!set_str(env, obj, "name", name) ||
      !set_str(env, obj, "version", version) ||
      !set_num(env, obj, "versionNumber", (double)num) ||
      !set_str(env, obj, "compiledVersion", OPENSSL_VERSION_TEXT) ||
      !set_num(env, obj, "compiledVersionNumber",
               (double)OPENSSL_VERSION_NUMBER) ||
      !set_str(env, obj, "configured", CRATON_CONFIGURED_LIB))
    goto fail;

  char first_buf[PATH_MAX_OR_4096];
  const char *first = NULL;
  bool first_main = false;
  bool consistent = true;
  for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++) {
    char buf[PATH_MAX_OR_4096];
    bool main_program = false;
    const char *where = object_of(probes[i].fn, buf, sizeof buf, &main_program);
    if (!set_str(env, syms, probes[i].name, where)) goto fail;
    if (i == 0) {
      if (where != NULL) {
        snprintf(first_buf, sizeof first_buf, "%s", where);
        first = first_buf;
      }
      first_main = main_program;
    } else if ((first == NULL) != (where == NULL) ||
               (first != NULL && where != NULL && strcmp(first, where) != 0)) {
      consistent = false;
    }
  }
  if (!set_str(env, obj, "boundTo", first) ||
      !set_bool(env, obj, "boundToMainProgram", first_main) ||
      !set_bool(env, obj, "consistent", consistent) ||
      napi_set_named_property(env, obj, "symbols", syms) != napi_ok)
    goto fail;
  return obj;

fail:
  craton_throw(env, CRATON_E_LIBRARY, "libraryInfo: cannot build result");
  return NULL;
}

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
#if defined(CRATON_CRYPTO_LIB_OPENSSL)
  /* Our OpenSSL is private to the addon: it must not read the host's
   * openssl.cnf, which could load engines built against another copy. */
  if (OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG, NULL) != 1) {
    craton_throw(env, CRATON_E_LIBRARY, "craton_crypto: OpenSSL initialisation failed");
    return NULL;
  }
#endif
  const napi_property_descriptor props[] = {
      {"libraryInfo", NULL, js_library_info, NULL, NULL, NULL,
       napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, 1, props) != napi_ok ||
      !craton_register_digest(env, exports) ||
      !craton_register_random(env, exports) ||
      !craton_register_aead(env, exports) ||
      !craton_register_symmetric(env, exports) ||
      !craton_register_asymmetric(env, exports)) {
    craton_throw(env, CRATON_E_LIBRARY, "craton_crypto: registration failed");
    return NULL;
  }
  return exports;
}
