/*
 * util.c - argument checking, error reporting, wiping.
 */
#include "craton_crypto.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>

void craton_wipe(void *p, size_t len) {
  if (p != NULL && len > 0) OPENSSL_cleanse(p, len);
}

napi_value craton_undefined(napi_env env) {
  napi_value u = NULL;
  if (napi_get_undefined(env, &u) != napi_ok) return NULL;
  return u;
}

void craton_openssl_errors(char *buf, size_t buflen) {
  size_t used = 0;
  unsigned long e;
  int count = 0;
  if (buflen == 0) return;
  buf[0] = '\0';
  while ((e = ERR_get_error()) != 0) {
    char one[256];
    if (count++ >= 8) continue; /* keep draining, stop printing */
    ERR_error_string_n(e, one, sizeof one);
    int n = snprintf(buf + used, buflen - used, "%s%s", used ? "; " : "", one);
    if (n < 0) break;
    used += (size_t)n;
    if (used >= buflen) {
      used = buflen - 1;
    }
  }
  if (count == 0) snprintf(buf, buflen, "no OpenSSL error queued");
  ERR_clear_error();
}

static bool exception_pending(napi_env env) {
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) != napi_ok) return true;
  return pending;
}

void craton_throw(napi_env env, const char *code, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  ERR_clear_error();
  if (exception_pending(env)) return;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  /* napi_throw_error sets err.code = code. */
  napi_throw_error(env, code, msg);
}

void craton_throw_openssl(napi_env env, const char *code, const char *what) {
  char errs[768];
  craton_openssl_errors(errs, sizeof errs);
  if (exception_pending(env)) return;
  char msg[1024];
  snprintf(msg, sizeof msg, "%s: %s", what, errs);
  napi_throw_error(env, code ? code : CRATON_E_LIBRARY, msg);
}

napi_value craton_make_error(napi_env env, const char *code,
                             const char *msg) {
  napi_value jcode, jmsg, err;
  if (napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &jcode) != napi_ok)
    return NULL;
  if (napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &jmsg) != napi_ok)
    return NULL;
  if (napi_create_error(env, jcode, jmsg, &err) != napi_ok) return NULL;
  return err;
}

bool craton_get_args(napi_env env, napi_callback_info info, size_t n,
                     napi_value *argv) {
  size_t argc = n;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) {
    craton_throw(env, CRATON_E_ARGUMENT, "cannot read arguments");
    return false;
  }
  if (argc < n) {
    craton_throw(env, CRATON_E_ARGUMENT, "expected %zu argument(s), got %zu",
                 n, argc);
    return false;
  }
  return true;
}

static const uint8_t empty_bytes[1] = {0};

bool craton_get_bytes(napi_env env, napi_value v, const char *name,
                      const uint8_t **data, size_t *len) {
  bool is_ta = false;
  napi_typedarray_type type;
  size_t length = 0, offset = 0;
  void *ptr = NULL;
  napi_value ab = NULL;
  bool detached = false;

  if (napi_is_typedarray(env, v, &is_ta) != napi_ok || !is_ta) {
    craton_throw(env, CRATON_E_ARGUMENT, "%s must be a Uint8Array", name);
    return false;
  }
  if (napi_get_typedarray_info(env, v, &type, &length, &ptr, &ab, &offset) !=
      napi_ok) {
    craton_throw(env, CRATON_E_ARGUMENT, "%s: cannot read typed array", name);
    return false;
  }
  if (type != napi_uint8_array) {
    craton_throw(env, CRATON_E_ARGUMENT, "%s must be a Uint8Array", name);
    return false;
  }
  if (ab != NULL &&
      (napi_is_detached_arraybuffer(env, ab, &detached) != napi_ok ||
       detached)) {
    craton_throw(env, CRATON_E_ARGUMENT, "%s: buffer is detached", name);
    return false;
  }
  if (ptr == NULL && length != 0) {
    craton_throw(env, CRATON_E_ARGUMENT, "%s: no backing store", name);
    return false;
  }
  *data = (ptr != NULL) ? (const uint8_t *)ptr : empty_bytes;
  *len = length;
  return true;
}

bool craton_get_integer(napi_env env, napi_value v, const char *name,
                        int64_t min, int64_t max, int64_t *out) {
  napi_valuetype t;
  double d = 0;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_number ||
      napi_get_value_double(env, v, &d) != napi_ok) {
    craton_throw(env, CRATON_E_ARGUMENT, "%s must be a number", name);
    return false;
  }
  if (!isfinite(d) || d != floor(d) || d < (double)min || d > (double)max) {
    craton_throw(env, CRATON_E_ARGUMENT,
                 "%s must be an integer in [%lld, %lld]", name, (long long)min,
                 (long long)max);
    return false;
  }
  *out = (int64_t)d;
  return true;
}

bool craton_get_string(napi_env env, napi_value v, const char *name, char *buf,
                       size_t bufsize) {
  napi_valuetype t;
  size_t needed = 0;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_string) {
    craton_throw(env, CRATON_E_ARGUMENT, "%s must be a string", name);
    return false;
  }
  if (napi_get_value_string_utf8(env, v, NULL, 0, &needed) != napi_ok) {
    craton_throw(env, CRATON_E_ARGUMENT, "%s: cannot read string", name);
    return false;
  }
  if (needed >= bufsize) {
    craton_throw(env, CRATON_E_ARGUMENT, "%s is too long", name);
    return false;
  }
  if (napi_get_value_string_utf8(env, v, buf, bufsize, &needed) != napi_ok) {
    craton_throw(env, CRATON_E_ARGUMENT, "%s: cannot read string", name);
    return false;
  }
  return true;
}

napi_value craton_new_uint8array(napi_env env, size_t len, uint8_t **data) {
  napi_value ab, ta;
  void *p = NULL;
  if (napi_create_arraybuffer(env, len, &p, &ab) != napi_ok ||
      napi_create_typedarray(env, napi_uint8_array, len, ab, 0, &ta) !=
          napi_ok) {
    craton_throw(env, CRATON_E_LIBRARY, "cannot allocate a %zu-byte result",
                 len);
    return NULL;
  }
  if (p == NULL && len != 0) {
    craton_throw(env, CRATON_E_LIBRARY, "no backing store for the result");
    return NULL;
  }
  *data = (uint8_t *)p;
  return ta;
}

napi_value craton_uint8array_from(napi_env env, const uint8_t *src,
                                  size_t len) {
  uint8_t *dst = NULL;
  napi_value ta = craton_new_uint8array(env, len, &dst);
  if (ta == NULL) return NULL;
  if (len) memcpy(dst, src, len);
  return ta;
}

void *craton_external_of(napi_env env, napi_value v, const napi_type_tag *tag) {
  napi_valuetype t;
  bool tagged = false;
  void *p = NULL;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_external ||
      napi_check_object_type_tag(env, v, tag, &tagged) != napi_ok || !tagged ||
      napi_get_value_external(env, v, &p) != napi_ok)
    return NULL;
  return p;
}
