/*
 * kdf.c - PBKDF2-HMAC-SHA256 on the libuv thread pool.
 *
 * The JS thread only validates and copies the arguments; the derivation runs
 * in napi_async_execute_callback (a thread-pool thread).  The private copy of
 * the password is wiped right after use on that thread, the derived key
 * after it has been copied into the result.  The OpenSSL error queue is per
 * thread, so a failure is rendered to text on the worker and reported from
 * the completion callback.
 */
#include "craton_crypto.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  uint8_t *password;
  size_t password_len;
  uint8_t *salt;
  size_t salt_len;
  int iterations;
  size_t out_len;
  uint8_t *out;
  int ok;
  char error[512];
} pbkdf2_job;

static void job_free(pbkdf2_job *job) {
  if (job == NULL) return;
  if (job->password != NULL) {
    craton_wipe(job->password, job->password_len + 1);
    free(job->password);
  }
  if (job->salt != NULL) free(job->salt);
  if (job->out != NULL) {
    craton_wipe(job->out, job->out_len);
    free(job->out);
  }
  craton_wipe(job, sizeof *job);
  free(job);
}

static void pbkdf2_execute(napi_env env, void *data) {
  (void)env; /* must not touch JS here */
  pbkdf2_job *job = (pbkdf2_job *)data;
  job->ok = PKCS5_PBKDF2_HMAC((const char *)job->password,
                              (int)job->password_len, job->salt,
                              (int)job->salt_len, job->iterations,
                              EVP_sha256(), (int)job->out_len, job->out) == 1;
  craton_wipe(job->password, job->password_len + 1);
  if (!job->ok) {
    craton_openssl_errors(job->error, sizeof job->error);
  }
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
    uint8_t *dst = NULL;
    napi_value ab;
    void *p = NULL;
    if (napi_create_arraybuffer(env, job->out_len, &p, &ab) == napi_ok &&
        p != NULL &&
        napi_create_typedarray(env, napi_uint8_array, job->out_len, ab, 0,
                               &result) == napi_ok) {
      dst = (uint8_t *)p;
      memcpy(dst, job->out, job->out_len);
      resolve = true;
    } else {
      result = craton_make_error(env, CRATON_E_LIBRARY,
                                 "cannot allocate the pbkdf2 result");
    }
  }

  if (result == NULL) {
    /* Could not even build an error: reject with undefined. */
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
  job_free(job);
}

/* pbkdf2HmacSha256(password, salt, iterations, length) -> Promise<Uint8Array> */
static napi_value js_pbkdf2(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  const uint8_t *pw, *salt;
  size_t pwlen, saltlen;
  int64_t iterations, length;
  napi_value promise, name;

  if (!craton_get_args(env, info, 4, argv)) return NULL;
  if (!craton_get_bytes(env, argv[0], "password", &pw, &pwlen)) return NULL;
  if (!craton_get_bytes(env, argv[1], "salt", &salt, &saltlen)) return NULL;
  if (!craton_get_integer(env, argv[2], "iterations", 1,
                          CRATON_PBKDF2_MAX_ITER, &iterations))
    return NULL;
  if (!craton_get_integer(env, argv[3], "length", 1, CRATON_PBKDF2_MAX_OUT,
                          &length))
    return NULL;
  if (pwlen > INT_MAX || saltlen > INT_MAX) {
    craton_throw(env, CRATON_E_ARGUMENT, "password or salt too long");
    return NULL;
  }

  pbkdf2_job *job = (pbkdf2_job *)calloc(1, sizeof *job);
  if (job == NULL) {
    craton_throw(env, CRATON_E_LIBRARY, "out of memory");
    return NULL;
  }
  job->password_len = pwlen;
  job->salt_len = saltlen;
  job->iterations = (int)iterations;
  job->out_len = (size_t)length;
  job->password = (uint8_t *)malloc(pwlen + 1);
  job->salt = (uint8_t *)malloc(saltlen + 1);
  job->out = (uint8_t *)malloc(job->out_len);
  if (job->password == NULL || job->salt == NULL || job->out == NULL) {
    job_free(job);
    craton_throw(env, CRATON_E_LIBRARY, "out of memory");
    return NULL;
  }
  if (pwlen) memcpy(job->password, pw, pwlen);
  job->password[pwlen] = 0;
  if (saltlen) memcpy(job->salt, salt, saltlen);

  if (napi_create_string_utf8(env, "craton:pbkdf2", NAPI_AUTO_LENGTH, &name) !=
          napi_ok ||
      napi_create_promise(env, &job->deferred, &promise) != napi_ok) {
    job_free(job);
    craton_throw(env, CRATON_E_LIBRARY, "cannot create promise");
    return NULL;
  }
  if (napi_create_async_work(env, NULL, name, pbkdf2_execute, pbkdf2_complete,
                             job, &job->work) != napi_ok) {
    napi_value err = craton_make_error(env, CRATON_E_LIBRARY,
                                       "cannot create async work");
    napi_reject_deferred(env, job->deferred,
                         err ? err : craton_undefined(env));
    job_free(job);
    return promise;
  }
  if (napi_queue_async_work(env, job->work) != napi_ok) {
    napi_value err = craton_make_error(env, CRATON_E_LIBRARY,
                                       "cannot queue async work");
    napi_reject_deferred(env, job->deferred,
                         err ? err : craton_undefined(env));
    napi_delete_async_work(env, job->work);
    job_free(job);
    return promise;
  }
  return promise;
}

bool craton_register_kdf(napi_env env, napi_value exports) {
  const napi_property_descriptor props[] = {
      {"pbkdf2HmacSha256", NULL, js_pbkdf2, NULL, NULL, NULL, napi_enumerable,
       NULL},
  };
  return napi_define_properties(env, exports, 1, props) == napi_ok;
}
