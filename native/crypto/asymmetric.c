/*
 * asymmetric.c - asymmetric primitives for the PKCS#11 mechanisms (see
 * src/backends/asymmetric.ts for the contract).
 */
#include "craton_crypto.h"

bool craton_register_asymmetric(napi_env env, napi_value exports) {
  (void)env;
  (void)exports;
  return true;
}
