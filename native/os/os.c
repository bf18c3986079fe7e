/*
 * craton_os - the few operating-system services Node does not offer:
 *
 *   lockFile(fd)   blocks until this process holds the exclusive advisory
 *                  lock of the open file (flock; LockFileEx on Windows),
 *                  which serialises appends from several processes.
 *   unlockFile(fd) releases it.
 *   osEntropy(n)   n bytes (1..4096) straight from the kernel's generator
 *                  (getrandom; BCryptGenRandom on Windows), the entropy
 *                  input of the module's DRBG.
 *
 * Errors are thrown with .code = "EIO"-style names from errno.
 */
#define NAPI_VERSION 8
#include <node/node_api.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#ifdef _WIN32
#include <windows.h>
#include <bcrypt.h>
#include <io.h>
#else
#include <sys/file.h>
#include <sys/random.h>
#endif

#define ENTROPY_MAX 4096

static napi_value throw_errno(napi_env env, const char *what, int err) {
  char message[160];
  snprintf(message, sizeof message, "%s: %s", what, strerror(err));
  napi_throw_error(env, err == EINTR ? "EINTR" : "EIO", message);
  return NULL;
}

static bool int_arg(napi_env env, napi_callback_info info, int64_t min, int64_t max, int64_t *out) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      napi_get_value_int64(env, argv[0], out) != napi_ok || *out < min || *out > max) {
    napi_throw_type_error(env, "EINVAL", "expected an integer argument in range");
    return false;
  }
  return true;
}

static napi_value lock_file(napi_env env, napi_callback_info info) {
  int64_t fd;
  if (!int_arg(env, info, 0, INT32_MAX, &fd)) return NULL;
#ifdef _WIN32
  OVERLAPPED whole = {0};
  if (!LockFileEx((HANDLE)_get_osfhandle((int)fd), LOCKFILE_EXCLUSIVE_LOCK, 0, MAXDWORD, MAXDWORD, &whole))
    return throw_errno(env, "LockFileEx", EIO);
#else
  while (flock((int)fd, LOCK_EX) != 0) {
    if (errno != EINTR) return throw_errno(env, "flock", errno);
  }
#endif
  return NULL;
}

static napi_value unlock_file(napi_env env, napi_callback_info info) {
  int64_t fd;
  if (!int_arg(env, info, 0, INT32_MAX, &fd)) return NULL;
#ifdef _WIN32
  OVERLAPPED whole = {0};
  if (!UnlockFileEx((HANDLE)_get_osfhandle((int)fd), 0, MAXDWORD, MAXDWORD, &whole))
    return throw_errno(env, "UnlockFileEx", EIO);
#else
  if (flock((int)fd, LOCK_UN) != 0) return throw_errno(env, "flock", errno);
#endif
  return NULL;
}

static napi_value os_entropy(napi_env env, napi_callback_info info) {
  int64_t n;
  if (!int_arg(env, info, 1, ENTROPY_MAX, &n)) return NULL;
  void *data = NULL;
  napi_value buffer, out;
  if (napi_create_arraybuffer(env, (size_t)n, &data, &buffer) != napi_ok) return NULL;
#ifdef _WIN32
  if (!BCRYPT_SUCCESS(BCryptGenRandom(NULL, data, (ULONG)n, BCRYPT_USE_SYSTEM_PREFERRED_RNG)))
    return throw_errno(env, "BCryptGenRandom", EIO);
#else
  size_t have = 0;
  while (have < (size_t)n) {
    ssize_t got = getrandom((uint8_t *)data + have, (size_t)n - have, 0);
    if (got < 0) {
      if (errno == EINTR) continue;
      return throw_errno(env, "getrandom", errno);
    }
    have += (size_t)got;
  }
#endif
  if (napi_create_typedarray(env, napi_uint8_array, (size_t)n, buffer, 0, &out) != napi_ok) return NULL;
  return out;
}

static napi_value init(napi_env env, napi_value exports) {
  const napi_property_descriptor props[] = {
      {"lockFile", NULL, lock_file, NULL, NULL, NULL, napi_enumerable, NULL},
      {"unlockFile", NULL, unlock_file, NULL, NULL, NULL, napi_enumerable, NULL},
      {"osEntropy", NULL, os_entropy, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  return exports;
}

NAPI_MODULE_INIT() { return init(env, exports); }
