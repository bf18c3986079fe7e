/*
 * symmetric.c - symmetric primitives for the PKCS#11 mechanisms (see
 * src/backends/symmetric.ts for the contract).
 */
#include "craton_crypto.h"

bool craton_register_symmetric(napi_env env, napi_value exports) {
  (void)env;
  (void)exports;
  return true;
}
