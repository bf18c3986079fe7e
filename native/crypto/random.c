/*
 * random.c - RAND_bytes.
 */
#include "craton_crypto.h"

#include <openssl/rand.h>

/* randomBytes(n) -> Uint8Array, 0 <= n <= 1 MiB */
static napi_value js_random_bytes(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int64_t n = 0;
  uint8_t *buf = NULL;
  if (!craton_get_args(env, info, 1, argv)) return NULL;
  if (!craton_get_integer(env, argv[0], "length", 0, CRATON_RANDOM_MAX, &n))
    return NULL;
  napi_value out = craton_new_uint8array(env, (size_t)n, &buf);
  if (out == NULL) return NULL;
  if (n > 0 && RAND_bytes(buf, (int)n) != 1) {
    craton_wipe(buf, (size_t)n);
    craton_throw_openssl(env, CRATON_E_LIBRARY, "RAND_bytes");
    return NULL;
  }
  return out;
}

bool craton_register_random(napi_env env, napi_value exports) {
  const napi_property_descriptor props[] = {
      {"randomBytes", NULL, js_random_bytes, NULL, NULL, NULL,
       napi_enumerable, NULL},
  };
  return napi_define_properties(env, exports, 1, props) == napi_ok;
}
