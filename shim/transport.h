/* A transport moves one request frame to the TypeScript runtime and brings
 * its reply back. Both transports carry the same frames. */
#ifndef CRATON_TRANSPORT_H
#define CRATON_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

typedef struct craton_transport craton_transport;

struct craton_transport {
  const char *name; /* "embedded" or "process" */
  /* Thread-safe. Returns 0 with a malloc'ed reply, or -1 if the runtime is gone. */
  int (*call)(craton_transport *t, const uint8_t *req, size_t req_len, uint8_t **reply, size_t *reply_len);
  /* Stops the runtime and frees the transport. No call may be in flight. */
  void (*close)(craton_transport *t);
  /* In a child after fork(): drop the parent's runtime without touching it. */
  void (*abandon)(craton_transport *t);
};

/* Where the runtime's files are: the bundle (runtime.js) and, beside the shim, the embedder. */
typedef struct craton_paths {
  char runtime_js[4096];
  char embedder_lib[4096];
  char module_path[4096];
} craton_paths;

/* Each returns NULL and fills err on failure. */
craton_transport *craton_process_transport_open(const craton_paths *paths, char *err, size_t errlen);
craton_transport *craton_embedded_transport_open(const craton_paths *paths, char *err, size_t errlen);

#endif
