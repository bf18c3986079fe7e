/* Embedded transport: the runtime runs on a thread of its own inside this
 * process, hosted by libcraton_embedder (C++, links libnode). The shim only
 * dlopens it, so libcraton_hsm.so itself never depends on libnode. */
#define _GNU_SOURCE
#include "transport.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int (*start_fn)(const char *script, char *err, size_t errlen);
typedef int (*call_fn)(const uint8_t *req, size_t len, uint8_t **reply, size_t *reply_len);
typedef void (*free_fn)(uint8_t *p);
typedef void (*stop_fn)(void);

typedef struct embedded_transport {
  craton_transport base;
  void *lib;
  call_fn call;
  free_fn release;
  stop_fn stop;
} embedded_transport;

static int embedded_call(craton_transport *base, const uint8_t *req, size_t req_len, uint8_t **reply,
                         size_t *reply_len) {
  embedded_transport *t = (embedded_transport *)base;
  uint8_t *r = NULL;
  size_t n = 0;
  if (t->call(req, req_len, &r, &n) != 0) return -1;
  /* Hand back memory the shim owns, so every transport frees replies the same way. */
  uint8_t *copy = malloc(n ? n : 1);
  if (copy && n) memcpy(copy, r, n);
  explicit_bzero(r, n);
  t->release(r);
  if (!copy) return -1;
  *reply = copy;
  *reply_len = n;
  return 0;
}

static void embedded_close(craton_transport *base) {
  embedded_transport *t = (embedded_transport *)base;
  t->stop();
  /* libnode cannot be unloaded and initialised again in one process: keep it mapped. */
  free(t);
}

static void embedded_abandon(craton_transport *base) {
  /* The runtime thread does not exist in a forked child; nothing to stop. */
  free(base);
}

craton_transport *craton_embedded_transport_open(const craton_paths *paths, char *err, size_t errlen) {
  /* Global, so that N-API addons the runtime loads find libnode's napi_* symbols. */
  void *lib = dlopen(paths->embedder_lib, RTLD_NOW | RTLD_GLOBAL);
  if (!lib) {
    snprintf(err, errlen, "%s", dlerror());
    return NULL;
  }
  start_fn start = (start_fn)dlsym(lib, "craton_embedder_start");
  embedded_transport *t = calloc(1, sizeof *t);
  if (!t) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  t->call = (call_fn)dlsym(lib, "craton_embedder_call");
  t->release = (free_fn)dlsym(lib, "craton_embedder_free");
  t->stop = (stop_fn)dlsym(lib, "craton_embedder_stop");
  if (!start || !t->call || !t->release || !t->stop) {
    snprintf(err, errlen, "%s lacks the embedder interface", paths->embedder_lib);
    free(t);
    return NULL;
  }
  if (start(paths->runtime_js, err, errlen) != 0) {
    free(t);
    return NULL;
  }
  t->lib = lib;
  t->base.name = "embedded";
  t->base.call = embedded_call;
  t->base.close = embedded_close;
  t->base.abandon = embedded_abandon;
  return &t->base;
}
